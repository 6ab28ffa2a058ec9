/* ACL 1.0 end to end (issue 11): signatures against vectors computed by the openssl CLI; every
 * code of the broker's request table x {no credentials, bad signature, wrong secret, an account
 * without the permission, the right account} against a real broker with aclEnable=true, and the
 * NameServer's protected and open codes against a real NameServer with aclEnable=true; the
 * broker registering with its own account; plain_acl.yml reloaded (old account refused, new
 * accepted, a broken file keeps the last good one); librmq producer and pull consumer with and
 * without accessKey/secretKey; updateBrokerConfig / getBrokerConfig through mqadmin (allowed key
 * applied, persisted and kept across a restart; forbidden keys refused even for an admin; no
 * secret shown; conf/tools.yml credentials). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/dispatch.h"
#include "remoting/acl.h"
#include "rmq/rmq.h"
#include "test/integration/broker_util.h"

#define TOPIC "aclTopic"
#define GROUP "aclGroup"
#define USER_AK "userAcct01"
#define USER_SK "userSecret01"
#define NOPERM_AK "noPermAcct1"
#define NOPERM_SK "noPermSecret1"
#define ADMIN_AK "adminAcct01"
#define ADMIN_SK "adminSecret01"
#define BROKER_AK "brokerAcct1"
#define BROKER_SK "brokerSecret1"

static rmq_proc_t ns, br;
static char home[256], acl_path[400];
static rmq_rem_client_t *cl;

static const char *acl_yml = "globalWhiteRemoteAddresses:\n"
                             "  - 10.250.250.*\n"
                             "accounts:\n"
                             "  - accessKey: " USER_AK "\n"
                             "    secretKey: " USER_SK "\n"
                             "    whiteRemoteAddress:\n"
                             "    admin: false\n"
                             "    defaultTopicPerm: DENY\n"
                             "    defaultGroupPerm: DENY\n"
                             "    topicPerms:\n"
                             "      - " TOPIC "=PUB|SUB\n"
                             "    groupPerms:\n"
                             "      - " GROUP "=SUB\n"
                             "  - accessKey: " NOPERM_AK "\n"
                             "    secretKey: " NOPERM_SK "\n"
                             "    defaultTopicPerm: DENY\n"
                             "    defaultGroupPerm: DENY\n"
                             "  - accessKey: " ADMIN_AK "\n"
                             "    secretKey: " ADMIN_SK "\n"
                             "    admin: true\n"
                             "  - accessKey: " BROKER_AK "\n"
                             "    secretKey: " BROKER_SK "\n"
                             "    broker: true\n";

static void write_text(const char *path, const char *text) {
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static int setup(void **state) {
    (void)state;
    assert_int_equal(rmq_mkdtemp("rmq-acl-home", home, sizeof home), 0);
    char d[400];
    snprintf(d, sizeof d, "%s/conf", home);
    mkdir(d, 0755);
    snprintf(acl_path, sizeof acl_path, "%s/conf/plain_acl.yml", home);
    write_text(acl_path, acl_yml);
    char extra[1024];
    snprintf(extra, sizeof extra, "aclEnable=true\nrocketmqHome=%s\n", home);
    assert_int_equal(rmq_start_namesrv(&ns, extra), 0);
    snprintf(extra, sizeof extra,
             "aclEnable=true\nrocketmqHome=%s\naccessKey=" BROKER_AK "\nsecretKey=" BROKER_SK "\n",
             home);
    assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
    cl = bt_client();
    /* the topic, created by the admin account */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_AND_CREATE_TOPIC);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "defaultTopic", "TBW102");
    rmq_rem_cmd_set(req, "readQueueNums", "2");
    rmq_rem_cmd_set(req, "writeQueueNums", "2");
    rmq_rem_cmd_set(req, "perm", "6");
    rmq_rem_cmd_set(req, "topicFilterType", "SINGLE_TAG");
    rmq_rem_cmd_set(req, "topicSysFlag", "0");
    rmq_rem_cmd_set(req, "order", "false");
    rmq_acl_sign(req, ADMIN_AK, ADMIN_SK, NULL);
    rmq_rem_cmd_t *resp = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    rmq_rem_cmd_destroy(resp);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rmq_rem_client_destroy(cl);
    rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    rmq_rm_rf(home);
    return 0;
}

/* ---- signature vectors: openssl over the concatenation ---------------------------------- */

/* Base64(HMAC-SHA1(key, data)) by the openssl CLI. */
static void openssl_sig(const char *key, const void *data, size_t len, char *out, size_t n) {
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/sigdata", home);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha1 -hmac '%s' -binary '%s' | base64", key, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, (int)n, p));
    pclose(p);
    out[strcspn(out, "\n")] = 0;
}

static void test_signature_vectors(void **state) {
    (void)state;
    /* a send as a Java client signs it: extra keys (OnsChannel as ali-ons adds), AccessKey,
     * upper before lower case (TreeMap order), the body last */
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(c, "b", TOPIC);
    rmq_rem_cmd_set(c, "a", "PG");
    rmq_rem_cmd_set(c, "OnsChannel", "ALIYUN");
    rmq_rem_cmd_set(c, "e", "0");
    rmq_rem_cmd_set_body_copy(c, "hello\0world", 11);
    assert_int_equal(rmq_acl_sign(c, "AK123456", "SK-secret", NULL), RMQ_OK);
    /* sorted keys: AccessKey OnsChannel a b e -> values + body */
    static const char content[] = "AK123456ALIYUNPG" TOPIC "0hello\0world";
    char want[64];
    openssl_sig("SK-secret", content, sizeof content - 1, want, sizeof want);
    assert_string_equal(rmq_rem_cmd_get(c, RMQ_ACL_SIGNATURE), want);
    /* a re-sign after a value change differs and matches openssl again */
    char again[RMQ_ACL_SIG_LEN];
    assert_int_equal(rmq_acl_signature(c, "SK-secret", true, again), RMQ_OK);
    assert_string_equal(again, want);
    rmq_rem_cmd_destroy(c);

    /* SecurityToken and _UNIQUE_KEY_QUERY: the client signs it, a Java server leaves it out */
    c = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_MESSAGE);
    rmq_rem_cmd_set(c, "topic", "T");
    rmq_rem_cmd_set(c, RMQ_ACL_UNIQ_QUERY, "true");
    assert_int_equal(rmq_acl_sign(c, "AK123456", "k2k2k2k2", "tok"), RMQ_OK);
    static const char with_uniq[] = "AK123456toktrueT"; /* AccessKey SecurityToken _U.. topic */
    static const char without_uniq[] = "AK123456tokT";
    openssl_sig("k2k2k2k2", with_uniq, sizeof with_uniq - 1, want, sizeof want);
    assert_string_equal(rmq_rem_cmd_get(c, RMQ_ACL_SIGNATURE), want);
    assert_int_equal(rmq_acl_signature(c, "k2k2k2k2", true, again), RMQ_OK);
    openssl_sig("k2k2k2k2", without_uniq, sizeof without_uniq - 1, want, sizeof want);
    assert_string_equal(again, want);
    rmq_rem_cmd_destroy(c);

    /* no fields but the credentials, no body */
    c = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CLUSTER_INFO);
    assert_int_equal(rmq_acl_sign(c, "AK123456", "SK-secret", NULL), RMQ_OK);
    openssl_sig("SK-secret", "AK123456", 8, want, sizeof want);
    assert_string_equal(rmq_rem_cmd_get(c, RMQ_ACL_SIGNATURE), want);
    rmq_rem_cmd_destroy(c);

    /* address patterns */
    assert_int_equal(rmq_acl_addr_match("10.1.2.*", "10.1.2.200"), 1);
    assert_int_equal(rmq_acl_addr_match("10.1.2.*", "10.1.3.1"), 0);
    assert_int_equal(rmq_acl_addr_match("10.1.2.{1,5}", "10.1.2.5"), 1);
    assert_int_equal(rmq_acl_addr_match("10.1.2.{1,5}", "10.1.2.4"), 0);
    assert_int_equal(rmq_acl_addr_match("10.1.2.1-100", "10.1.2.100"), 1);
    assert_int_equal(rmq_acl_addr_match("10.1.2.1-100", "10.1.2.101"), 0);
    assert_int_equal(rmq_acl_addr_match("10.1.*.*", "10.1.9.9"), 1);
    assert_int_equal(rmq_acl_addr_match("*", "1.2.3.4"), 1);
    assert_int_equal(rmq_acl_addr_match("1.2.3.4,5.6.7.8", "5.6.7.8"), 1);
    assert_int_equal(rmq_acl_addr_match("::1", "0:0:0:0:0:0:0:1"), 1);
    assert_int_equal(rmq_acl_addr_match("", "1.2.3.4"), 0);
    assert_int_equal(rmq_acl_addr_match("10.1.2.300", "1.2.3.4"), -1);
    assert_int_equal(rmq_acl_addr_match("10.1.2.5-1", "1.2.3.4"), -1);
}

/* ---- the broker matrix ------------------------------------------------------------------- */

typedef enum { M_NONE, M_BADSIG, M_WRONGSECRET, M_NOPERM, M_RIGHT, M_COUNT } mode_t_;
static const char *const mode_names[] = {"no credentials", "bad signature", "wrong secret",
                                         "account without the permission", "right account"};

/* A request for code as a client would send it (resources: aclTopic / aclGroup; operators'
 * codes on scratch names so the right account's run changes nothing the test relies on). */
static rmq_rem_cmd_t *build(const rmq_broker_route_t *r) {
    bool admin = r->perm & RMQ_BROKER_PERM_ADMIN;
    const char *topic = admin ? "scratchTopic" : TOPIC;
    const char *group = admin ? "scratchGroup" : GROUP;
    rmq_rem_cmd_t *c;
    if (r->code == RMQ_REQ_SEND_MESSAGE || r->code == RMQ_REQ_SEND_MESSAGE_V2 ||
        r->code == RMQ_REQ_SEND_BATCH_MESSAGE) {
        char props[256];
        bt_props(props, sizeof props, NULL, NULL, NULL);
        if (r->code != RMQ_REQ_SEND_MESSAGE) {
            c = bt_send_req(TOPIC, 0, "m", 1, props);
            c->code = r->code;
            return c;
        }
        c = rmq_rem_cmd_new_request(r->code);
        const char *v1[][2] = {
            {"producerGroup", "PG"},        {"topic", TOPIC},      {"defaultTopic", "TBW102"},
            {"defaultTopicQueueNums", "4"}, {"queueId", "0"},      {"sysFlag", "0"},
            {"bornTimestamp", "1"},         {"flag", "0"},         {"properties", props},
            {"reconsumeTimes", "0"},        {"unitMode", "false"}, {"batch", "false"}};
        for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++)
            rmq_rem_cmd_set(c, v1[i][0], v1[i][1]);
        rmq_rem_cmd_set_body_copy(c, "m", 1);
        return c;
    }
    c = rmq_rem_cmd_new_request(r->code);
    const char *kv[][2] = {
        {"topic", topic},
        {"consumerGroup", group},
        {"group", group},
        {"queueId", "0"},
        {"queueOffset", "0"},
        {"maxMsgNums", "1"},
        {"sysFlag", "0"},
        {"commitOffset", "0"},
        {"suspendTimeoutMillis", "0"},
        {"subscription", "*"},
        {"subVersion", "0"},
        {"offset", "0"},
        {"timestamp", "0"},
        {"key", "k"},
        {"maxNum", "1"},
        {"beginTimestamp", "0"},
        {"endTimestamp", "1"},
        {"clientID", "c1"},
        {"producerGroup", "PG"},
        {"tranStateTableOffset", "0"},
        {"commitLogOffset", "0"},
        {"commitOrRollback", "0"},
        {"delayLevel", "0"},
        {"originTopic", topic},
        {"isForce", "false"},
        {"defaultTopic", "TBW102"},
        {"readQueueNums", "1"},
        {"writeQueueNums", "1"},
        {"perm", "6"},
        {"topicFilterType", "SINGLE_TAG"},
        {"order", "false"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) rmq_rem_cmd_set(c, kv[i][0], kv[i][1]);
    char body[512] = "";
    switch (r->code) {
    case RMQ_REQ_HEART_BEAT:
        snprintf(body, sizeof body,
                 "{\"clientID\":\"c1\",\"producerDataSet\":[],\"consumerDataSet\":[{\"groupName\":"
                 "\"%s\",\"consumeType\":\"CONSUME_PASSIVELY\",\"messageModel\":\"CLUSTERING\","
                 "\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"subscriptionDataSet\":[{"
                 "\"topic\":\"%s\",\"subString\":\"*\",\"tagsSet\":[],\"codeSet\":[],"
                 "\"subVersion\":0}],\"unitMode\":false}]}",
                 GROUP, TOPIC);
        break;
    case RMQ_REQ_LOCK_BATCH_MQ:
    case RMQ_REQ_UNLOCK_BATCH_MQ:
        snprintf(body, sizeof body,
                 "{\"consumerGroup\":\"%s\",\"clientId\":\"c1\",\"mqSet\":[{\"topic\":\"%s\","
                 "\"brokerName\":\"x\",\"queueId\":0}]}",
                 GROUP, TOPIC);
        break;
    case RMQ_REQ_CHECK_CLIENT_CONFIG:
        snprintf(body, sizeof body,
                 "{\"clientId\":\"c1\",\"group\":\"%s\",\"subscriptionData\":{\"topic\":\"%s\","
                 "\"subString\":\"*\",\"expressionType\":\"TAG\"}}",
                 GROUP, TOPIC);
        break;
    case RMQ_REQ_UPDATE_BROKER_CONFIG: snprintf(body, sizeof body, "traceOn=true\n"); break;
    case RMQ_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP:
        snprintf(body, sizeof body, "{\"groupName\":\"scratchGroup\"}");
        break;
    default: break;
    }
    if (body[0]) rmq_rem_cmd_set_body_copy(c, body, strlen(body));
    return c;
}

/* Codes whose requests name no topic or group: the signature is checked, no resource is. */
static bool no_resource(const rmq_broker_route_t *r) {
    return r->code == RMQ_REQ_END_TRANSACTION || r->code == RMQ_REQ_VIEW_MESSAGE_BY_ID;
}

static int run_mode(const rmq_broker_route_t *r, mode_t_ m, char *remark, size_t n) {
    rmq_rem_cmd_t *c = build(r);
    bool admin = r->perm & RMQ_BROKER_PERM_ADMIN;
    const char *ak = admin ? ADMIN_AK : USER_AK, *sk = admin ? ADMIN_SK : USER_SK;
    switch (m) {
    case M_NONE: break;
    case M_BADSIG:
        rmq_acl_sign(c, ak, sk, NULL);
        rmq_rem_cmd_set(c, RMQ_ACL_SIGNATURE, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        break;
    case M_WRONGSECRET: rmq_acl_sign(c, ak, "notTheSecret", NULL); break;
    case M_NOPERM: /* an operator code with a plain account; the others with no permissions */
        if (admin)
            rmq_acl_sign(c, USER_AK, USER_SK, NULL);
        else
            rmq_acl_sign(c, NOPERM_AK, NOPERM_SK, NULL);
        break;
    default: rmq_acl_sign(c, ak, sk, NULL);
    }
    if (getenv("ACL_TEST_VERBOSE")) fprintf(stderr, "%s / %s\n", r->name, mode_names[m]);
    if (r->code == RMQ_REQ_END_TRANSACTION && (m == M_RIGHT || m == M_NOPERM)) {
        /* passes the ACL; the handler answers nothing (Java sends it oneway) */
        assert_int_equal(rmq_rem_client_invoke_oneway(cl, br.addr, c), RMQ_OK);
        remark[0] = 0;
        return 0;
    }
    rmq_rem_cmd_t *resp = bt_call(cl, br.addr, c, BT_TIMEOUT);
    int code = resp->code;
    snprintf(remark, n, "%s", resp->remark ? resp->remark : "");
    rmq_rem_cmd_destroy(resp);
    return code;
}

static void test_broker_matrix(void **state) {
    (void)state;
    int rows = 0, refused = 0, passed = 0;
    for (int code = 0; code < 1000; code++) {
        const rmq_broker_route_t *r = rmq_broker_route_find(code);
        if (!r) continue;
        rows++;
        for (int m = 0; m < M_COUNT; m++) {
            char remark[512];
            int got = run_mode(r, (mode_t_)m, remark, sizeof remark);
            bool want_refused = m != M_RIGHT && !(m == M_NOPERM && no_resource(r));
            if (want_refused != (got == RMQ_ERR_NO_PERMISSION))
                fail_msg("%s (%d) with %s: answer %d (%s), expected %s", r->name, code,
                         mode_names[m], got, remark,
                         want_refused ? "NO_PERMISSION" : "not refused");
            if (want_refused) {
                refused++;
                /* the remark names what was missing */
                const char *w = m == M_NONE                              ? "AccessKey"
                                : m == M_BADSIG || m == M_WRONGSECRET    ? "signature"
                                : (r->perm & RMQ_BROKER_PERM_ADMIN) != 0 ? "admin"
                                                                         : "permission";
                if (!strstr(remark, w))
                    fail_msg("%s with %s: remark '%s' lacks '%s'", r->name, mode_names[m], remark,
                             w);
            } else {
                passed++;
            }
        }
    }
    fprintf(stderr, "broker matrix: %d codes x %d modes: %d refused, %d let through\n", rows,
            M_COUNT, refused, passed);
    assert_true(rows >= 38);
    /* every refusal is logged with the caller and the account */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -c 'refused .* accessKey=" NOPERM_AK "' %s", br.log);
    FILE *p = popen(cmd, "r");
    int n = 0;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    assert_true(n > 0);
}

/* A topic resource through a retry topic: %RETRY%aclGroup is group aclGroup (SUB). */
static void test_retry_topic_is_group(void **state) {
    (void)state;
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(c, "topic", "%RETRY%" GROUP);
    rmq_rem_cmd_set(c, "queueId", "0");
    rmq_acl_sign(c, USER_AK, USER_SK, NULL);
    rmq_rem_cmd_t *resp = bt_call(cl, br.addr, c, BT_TIMEOUT);
    assert_int_not_equal(resp->code, RMQ_ERR_NO_PERMISSION);
    rmq_rem_cmd_destroy(resp);
    c = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(c, "topic", "%RETRY%otherGroup");
    rmq_rem_cmd_set(c, "queueId", "0");
    rmq_acl_sign(c, USER_AK, USER_SK, NULL);
    resp = bt_call(cl, br.addr, c, BT_TIMEOUT);
    assert_int_equal(resp->code, RMQ_ERR_NO_PERMISSION);
    assert_non_null(strstr(resp->remark, "group otherGroup"));
    rmq_rem_cmd_destroy(resp);
}

/* ---- the NameServer ---------------------------------------------------------------------- */

static void test_namesrv_matrix(void **state) {
    (void)state;
    static const struct {
        int code;
        int need; /* 0 open, 1 broker account, 2 admin account */
        const char *kv[12];
    } cases[] = {
        {RMQ_REQ_REGISTER_BROKER,
         1,
         {"brokerName", "fakeB", "brokerAddr", "127.0.0.1:1", "clusterName", "FakeC",
          "haServerAddr", "127.0.0.1:2", "brokerId", "0", NULL}},
        {RMQ_REQ_UNREGISTER_BROKER,
         1,
         {"brokerName", "fakeB", "brokerAddr", "127.0.0.1:1", "clusterName", "FakeC", "brokerId",
          "0", NULL}},
        {RMQ_REQ_QUERY_DATA_VERSION,
         1,
         {"brokerName", "fakeB", "brokerAddr", "127.0.0.1:1", "clusterName", "FakeC", "brokerId",
          "0", NULL}},
        {217 /* REGISTER_TOPIC_IN_NAMESRV */, 1, {"topic", "scratchTopic", NULL}},
        {RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, 2, {"topic", "scratchTopic", NULL}},
        {RMQ_REQ_WIPE_WRITE_PERM_OF_BROKER, 2, {"brokerName", "noSuchBroker", NULL}},
        {RMQ_REQ_ADD_WRITE_PERM_OF_BROKER, 2, {"brokerName", "noSuchBroker", NULL}},
        {RMQ_REQ_PUT_KV_CONFIG, 2, {"namespace", "NS", "key", "k", "value", "v", NULL}},
        {RMQ_REQ_DELETE_KV_CONFIG, 2, {"namespace", "NS", "key", "k", NULL}},
        {319 /* GET_NAMESRV_CONFIG */, 2, {NULL}},
        {RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, 0, {"topic", TOPIC, NULL}},
        {RMQ_REQ_GET_BROKER_CLUSTER_INFO, 0, {NULL}},
        {RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0, {NULL}},
        {RMQ_REQ_GET_KV_CONFIG, 0, {"namespace", "NS", "key", "k", NULL}},
        {RMQ_REQ_GET_KVLIST_BY_NAMESPACE, 0, {"namespace", "NS", NULL}},
        {RMQ_REQ_GET_TOPICS_BY_CLUSTER, 0, {"cluster", "TestCluster", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int m = 0; m < M_COUNT; m++) {
            rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(cases[i].code);
            for (int k = 0; cases[i].kv[k]; k += 2)
                rmq_rem_cmd_set(c, cases[i].kv[k], cases[i].kv[k + 1]);
            if (cases[i].code == RMQ_REQ_REGISTER_BROKER) {
                const char *b = "{\"topicConfigSerializeWrapper\":{\"topicConfigTable\":{},"
                                "\"dataVersion\":{\"counter\":1,\"timestamp\":1}},"
                                "\"filterServerList\":[]}";
                rmq_rem_cmd_set_body_copy(c, b, strlen(b));
            }
            const char *ak = cases[i].need == 2 ? ADMIN_AK : BROKER_AK;
            const char *sk = cases[i].need == 2 ? ADMIN_SK : BROKER_SK;
            if (m == M_BADSIG) {
                rmq_acl_sign(c, ak, sk, NULL);
                rmq_rem_cmd_set(c, RMQ_ACL_SIGNATURE, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            } else if (m == M_WRONGSECRET) {
                rmq_acl_sign(c, ak, "notTheSecret", NULL);
            } else if (m == M_NOPERM) {
                /* a valid plain account: neither admin nor broker; for admin codes, the broker
                 * account (which may register but not administer) */
                if (cases[i].need == 2)
                    rmq_acl_sign(c, BROKER_AK, BROKER_SK, NULL);
                else
                    rmq_acl_sign(c, USER_AK, USER_SK, NULL);
            } else if (m == M_RIGHT) {
                rmq_acl_sign(c, ak, sk, NULL);
            }
            rmq_rem_cmd_t *resp = bt_call(cl, ns.addr, c, BT_TIMEOUT);
            bool want_refused = cases[i].need && m != M_RIGHT;
            if (want_refused != (resp->code == RMQ_ERR_NO_PERMISSION))
                fail_msg("NameServer code %d with %s: answer %d (%s)", cases[i].code, mode_names[m],
                         resp->code, resp->remark ? resp->remark : "");
            rmq_rem_cmd_destroy(resp);
        }
    }
    /* the broker registered with its own (broker: true) account */
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CLUSTER_INFO);
    rmq_rem_cmd_t *resp = bt_call(cl, ns.addr, c, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    assert_non_null(memmem(resp->body, resp->body_len, br.addr, strlen(br.addr)));
    rmq_rem_cmd_destroy(resp);
}

/* ---- librmq ------------------------------------------------------------------------------ */

static rmq_conf_t *sdk_conf(const char *group_key, const char *group, bool creds) {
    rmq_conf_t *conf = rmq_conf_new();
    char err[256];
    assert_int_equal(rmq_conf_set(conf, "namesrvAddr", ns.addr, err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(conf, group_key, group, err, sizeof err), RMQ_CONF_OK);
    rmq_conf_set(conf, "instanceName", creds ? "withCreds" : "noCreds", err, sizeof err);
    rmq_conf_set(conf, "sendMsgTimeout", "5000", err, sizeof err);
    rmq_conf_set(conf, "retryTimesWhenSendFailed", "0", err, sizeof err);
    if (creds) {
        assert_int_equal(rmq_conf_set(conf, "accessKey", USER_AK, err, sizeof err), RMQ_CONF_OK);
        assert_int_equal(rmq_conf_set(conf, "secretKey", USER_SK, err, sizeof err), RMQ_CONF_OK);
    }
    return conf;
}

/* An async send's outcome, polled by the test thread. */
typedef struct {
    _Atomic int done;
    rmq_err_t err;
    rmq_send_result_t r;
} async_out_t;

static void on_async(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    (void)p;
    async_out_t *o = op;
    o->err = e;
    if (r) o->r = *r;
    atomic_store(&o->done, 1);
}

static rmq_err_t send_async_wait(rmq_producer_t *p, rmq_msg_t *m, rmq_send_result_t *r) {
    async_out_t o = {0};
    rmq_err_t e = rmq_send_async(p, m, on_async, &o);
    if (e) return e;
    for (int i = 0; i < 1000 && !atomic_load(&o.done); i++) usleep(10 * 1000);
    assert_true(atomic_load(&o.done));
    *r = o.r;
    return o.err;
}

static void test_sdk(void **state) {
    (void)state;
    char err[256];
    /* with credentials: sent and read back */
    rmq_producer_t *p = rmq_producer_new(sdk_conf("producerGroup", "aclPG", true), err, sizeof err);
    assert_non_null(p);
    rmq_msg_t *m = rmq_msg_new(TOPIC, "tagA", "key1", "signed body", 11, RMQ_MSG_F_COPY);
    rmq_send_result_t r, ra;
    /* async sends are encoded (and signed) on the caller's thread: the same account */
    assert_int_equal(send_async_wait(p, m, &ra), RMQ_OK);
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    rmq_producer_destroy(p);
    rmq_pull_consumer_t *c =
        rmq_pull_consumer_new(sdk_conf("consumerGroup", GROUP, true), err, sizeof err);
    assert_non_null(c);
    rmq_pull_result_t *pr = NULL;
    assert_int_equal(rmq_pull(c, &r.mq, "*", r.offset, 8, 5000, &pr), RMQ_OK);
    assert_int_equal(pr->status, RMQ_PULL_FOUND);
    size_t len;
    const void *b = rmq_msg_body(pr->msgs[0], &len);
    assert_int_equal(len, 11);
    assert_memory_equal(b, "signed body", 11);
    rmq_pull_result_destroy(pr);
    pr = NULL; /* and the async one */
    assert_int_equal(rmq_pull(c, &ra.mq, "*", ra.offset, 1, 5000, &pr), RMQ_OK);
    assert_int_equal(pr->status, RMQ_PULL_FOUND);
    b = rmq_msg_body(pr->msgs[0], &len);
    assert_int_equal(len, 11);
    assert_memory_equal(b, "signed body", 11);
    rmq_pull_result_destroy(pr);
    assert_int_equal(rmq_commit_offset(c, &r.mq, r.offset + 1), RMQ_OK);
    rmq_pull_consumer_destroy(c);

    /* without: refused */
    p = rmq_producer_new(sdk_conf("producerGroup", "aclPG2", false), err, sizeof err);
    assert_non_null(p);
    rmq_err_t e = rmq_send_sync(p, m, &r);
    assert_int_equal(e, RMQ_ERR_NO_PERMISSION);
    assert_int_equal(send_async_wait(p, m, &ra), RMQ_ERR_NO_PERMISSION);
    rmq_producer_destroy(p);
    c = rmq_pull_consumer_new(sdk_conf("consumerGroup", GROUP, false), err, sizeof err);
    assert_non_null(c);
    pr = NULL;
    e = rmq_pull(c, &r.mq, "*", 0, 8, 5000, &pr);
    assert_int_equal(e, RMQ_ERR_NO_PERMISSION);
    rmq_pull_result_destroy(pr);
    rmq_pull_consumer_destroy(c);
    rmq_msg_destroy(m);
}

/* ---- mqadmin updateBrokerConfig / getBrokerConfig ------------------------------------------ */

static int run(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t n, const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2100];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_broker_config(void **state) {
    (void)state;
    char mq[512], out[65536];
    rmq_bin_path("mqadmin", mq, sizeof mq);
    const char *A = "-ak " ADMIN_AK " -sk " ADMIN_SK;
    /* without credentials / with a plain account: refused */
    assert_int_not_equal(
        run(out, sizeof out, "%s getBrokerConfig -n '%s' -b %s", mq, ns.addr, br.addr), 0);
    assert_non_null(strstr(out, "CODE: 16"));
    assert_int_not_equal(
        run(out, sizeof out,
            "%s updateBrokerConfig -n '%s' -b %s -k fileReservedTime -v 7 -ak " USER_AK
            " -sk " USER_SK,
            mq, ns.addr, br.addr),
        0);
    assert_non_null(strstr(out, "admin"));
    /* allowed key: applied, persisted */
    assert_int_equal(run(out, sizeof out,
                         "%s updateBrokerConfig -n '%s' -b %s -k fileReservedTime -v 7 %s", mq,
                         ns.addr, br.addr, A),
                     0);
    assert_non_null(strstr(out, "update broker config success"));
    assert_int_equal(run(out, sizeof out,
                         "%s updateBrokerConfig -n '%s' -c TestCluster -k brokerPermission -v 4 %s",
                         mq, ns.addr, A),
                     0);
    assert_int_equal(
        run(out, sizeof out, "%s getBrokerConfig -n '%s' -b %s %s", mq, ns.addr, br.addr, A), 0);
    assert_non_null(strstr(out, "fileReservedTime                                  =  7\n"));
    assert_non_null(strstr(out, "brokerPermission                                  =  4\n"));
    /* secrets never shown: the broker's own secretKey is set */
    assert_null(strstr(out, "secretKey"));
    assert_null(strstr(out, BROKER_SK));
    assert_non_null(strstr(out, "accessKey"));
    char side[600];
    snprintf(side, sizeof side, "cat %s/store/config/broker_runtime.properties", br.dir);
    assert_int_equal(run(out, sizeof out, "%s", side), 0);
    assert_non_null(strstr(out, "fileReservedTime=7\n"));
    assert_non_null(strstr(out, "brokerPermission=4\n"));
    /* forbidden keys: refused for the admin account, nothing written */
    static const char *const forbidden[] = {
        "storePathRootDir", "listenPort",   "brokerRole", "namesrvAddr", "brokerIP1",
        "aclEnable",        "rocketmqHome", "secretKey",  "logFile",     "storePathCommitLog"};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        assert_int_not_equal(run(out, sizeof out,
                                 "%s updateBrokerConfig -n '%s' -b %s -k %s -v /tmp/evil %s", mq,
                                 ns.addr, br.addr, forbidden[i], A),
                             0);
        if (!strstr(out, "cannot be changed remotely")) fail_msg("%s: %s", forbidden[i], out);
    }
    assert_int_equal(run(out, sizeof out, "%s", side), 0);
    assert_null(strstr(out, "/tmp/evil"));
    /* a bad value: refused with the reason */
    assert_int_not_equal(run(out, sizeof out,
                             "%s updateBrokerConfig -n '%s' -b %s -k fileReservedTime -v abc %s",
                             mq, ns.addr, br.addr, A),
                         0);
    assert_non_null(strstr(out, "fileReservedTime"));
    /* credentials from $ROCKETMQ_HOME/conf/tools.yml */
    char tools[600];
    snprintf(tools, sizeof tools, "%s/conf/tools.yml", home);
    write_text(tools, "accessKey: " ADMIN_AK "\nsecretKey: " ADMIN_SK "\n");
    assert_int_equal(run(out, sizeof out, "ROCKETMQ_HOME=%s %s getBrokerConfig -n '%s' -b %s", home,
                         mq, ns.addr, br.addr),
                     0);
    assert_non_null(strstr(out, "fileReservedTime"));
    unlink(tools);
    /* survives a restart (the side file is read after broker.conf) */
    assert_int_equal(rmq_proc_stop(&br, SIGTERM), 0);
    char extra[1024];
    snprintf(extra, sizeof extra,
             "aclEnable=true\nrocketmqHome=%s\naccessKey=" BROKER_AK "\nsecretKey=" BROKER_SK "\n",
             home);
    assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
    assert_int_equal(
        run(out, sizeof out, "%s getBrokerConfig -n '%s' -b %s %s", mq, ns.addr, br.addr, A), 0);
    assert_non_null(strstr(out, "fileReservedTime                                  =  7\n"));
    assert_non_null(strstr(out, "brokerPermission                                  =  4\n"));
    /* back to read-write for the tests after this one */
    assert_int_equal(run(out, sizeof out,
                         "%s updateBrokerConfig -n '%s' -b %s -k brokerPermission -v 6 %s", mq,
                         ns.addr, br.addr, A),
                     0);
}

/* Without ACL the allow-list holds all the same: no credentials needed, forbidden keys refused. */
static void test_broker_config_acl_off(void **state) {
    (void)state;
    rmq_proc_t plain;
    assert_int_equal(rmq_broker_prepare(&plain), 0); /* a port whose HA port is free too */
    assert_int_equal(rmq_start_broker(&plain, ns.addr,
                                      "brokerClusterName=PlainCluster\naccessKey=" BROKER_AK
                                      "\nsecretKey=" BROKER_SK "\n"),
                     0);
    char mq[512], out[8192];
    rmq_bin_path("mqadmin", mq, sizeof mq);
    assert_int_not_equal(run(out, sizeof out,
                             "%s updateBrokerConfig -n '%s' -b %s -k storePathCommitLog -v /tmp/x",
                             mq, ns.addr, plain.addr),
                         0);
    assert_non_null(strstr(out, "cannot be changed remotely"));
    assert_int_equal(run(out, sizeof out,
                         "%s updateBrokerConfig -n '%s' -b %s -k diskMaxUsedSpaceRatio -v 80", mq,
                         ns.addr, plain.addr),
                     0);
    assert_int_equal(
        run(out, sizeof out, "%s getBrokerConfig -n '%s' -b %s", mq, ns.addr, plain.addr), 0);
    assert_non_null(strstr(out, "diskMaxUsedSpaceRatio                             =  80\n"));
    assert_non_null(strstr(out, "storePathCommitLog"));
    assert_null(strstr(out, "/tmp/x"));
    rmq_proc_stop(&plain, SIGTERM);
    if (rmq_proc_log_errors(&plain)) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "grep ERROR %s >&2", plain.log);
        if (system(cmd)) fail();
        fail();
    }
    rmq_rm_rf(plain.dir);
}

/* ---- reload ------------------------------------------------------------------------------ */

static int probe(const char *ak, const char *sk) {
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(c, "topic", TOPIC);
    rmq_rem_cmd_set(c, "queueId", "0");
    rmq_acl_sign(c, ak, sk, NULL);
    rmq_rem_cmd_t *resp = bt_call(cl, br.addr, c, BT_TIMEOUT);
    int code = resp->code;
    rmq_rem_cmd_destroy(resp);
    return code;
}

static void test_reload(void **state) {
    (void)state;
    assert_int_equal(probe(USER_AK, USER_SK), 0);
    /* the account renamed: old refused, new accepted within a few polls */
    char *text = strdup(acl_yml);
    char *p;
    while ((p = strstr(text, "userAcct01"))) memcpy(p, "userAcct02", 10);
    while ((p = strstr(text, "userSecret01"))) memcpy(p, "userSecret02", 12);
    write_text(acl_path, text);
    free(text);
    int waited = 0;
    while (probe(USER_AK, USER_SK) != RMQ_ERR_NO_PERMISSION && waited < 20000) {
        rmq_sleep_ms(200);
        waited += 200;
    }
    assert_int_equal(probe(USER_AK, USER_SK), RMQ_ERR_NO_PERMISSION);
    assert_int_equal(probe("userAcct02", "userSecret02"), 0);
    /* a broken file keeps the last good accounts, with an ERROR line */
    write_text(acl_path, "accounts:\n  - accessKey: [broken\n");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -c 'ERROR.*keeping the last good' %s", br.log);
    int n = 0;
    for (waited = 0; waited < 20000 && n == 0; waited += 200) {
        rmq_sleep_ms(200);
        FILE *f = popen(cmd, "r");
        if (fscanf(f, "%d", &n) != 1) n = 0;
        pclose(f);
    }
    assert_true(n >= 1);
    assert_int_equal(probe("userAcct02", "userSecret02"), 0);
    assert_int_equal(probe(USER_AK, USER_SK), RMQ_ERR_NO_PERMISSION);
    /* a short secret is refused like RocketMQ's loader does: still the last good accounts */
    write_text(acl_path, "accounts:\n  - accessKey: shortOne1\n    secretKey: abc\n");
    rmq_sleep_ms(3000);
    assert_int_equal(probe("userAcct02", "userSecret02"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vectors),
        cmocka_unit_test(test_broker_matrix),
        cmocka_unit_test(test_retry_topic_is_group),
        cmocka_unit_test(test_namesrv_matrix),
        cmocka_unit_test(test_sdk),
        cmocka_unit_test(test_broker_config),
        cmocka_unit_test(test_broker_config_acl_off),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
