/* mqadmin groups, perms, NameServer KV/config (issue 13, part B) against two real NameServers
 * and a broker registered with both:
 * - every command name of RocketMQ 4.9.8's MQAdminStartup list answers `-h` with its usage
 *   (exit 0) or, for the few rmq does not offer, a one-line reason (exit 1), never "unknown";
 * - wipeWritePerm / addWritePerm change the topic's perm on BOTH NameServers;
 * - updateKvConfig / deleteKvConfig / updateOrderConf reach both NameServers;
 * - getNamesrvConfig / updateNamesrvConfig round trip a live key, refuse a path key;
 * - updateTopicPerm changes the broker's perm (seen in the route); topicClusterList;
 * - cloneGroupOffset copies offsets on the broker; skipAccumulatedMessage moves a group that
 *   never committed to the max offset; deleteSubGroup -r drops the group and its offsets. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "client/admin_internal.h"
#include "rmq/rmq.h"
#include "rmq/rmq_codes.h"
#include "test/integration/harness.h"
#include "test/integration/mqadmin_util.h"

static rmq_proc_t ns1, ns2, br;
static char tmpdir[256], mqadmin[512], nss[200], bname[128], cluster[128];
static rmq_admin_t *adm;

/* mqadmin <fmt> -n 'ns1;ns2' must exit 1; returns its stderr. */
static char *fails(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fails(const char *fmt, ...) {
    char full[2400], *out, *err;
    va_list ap;
    va_start(ap, fmt);
    int rc = mqa_vrun_on(nss, full, sizeof full, &out, &err, fmt, ap);
    va_end(ap);
    if (rc != 1) fprintf(stderr, "mqadmin %s -> rc %d (want 1): %s\n", full, rc, out);
    assert_int_equal(rc, 1);
    free(out);
    return err;
}

/* Raw request to addr; the answer's code, *val the ext field key (new string) when asked. */
static int raw(const char *addr, int code, const char *const *kv, const char *key, char **val) {
    rmq_admin_resp_t *r = NULL;
    assert_int_equal(rmq_admin_invoke(adm, addr, code, kv, NULL, 0, 0, &r), RMQ_OK);
    int rc = r->code;
    if (val) {
        const char *v = rmq_admin_resp_get(r, key);
        *val = v ? strdup(v) : NULL;
    }
    rmq_admin_resp_destroy(r);
    return rc;
}

/* group's committed offset of topic:qid in the broker's table, -1 when it has none (the
 * QUERY_CONSUMER_OFFSET answer would say 0 for a queue whose min offset is 0). */
static int64_t group_offset(const char *group, const char *topic, int qid) {
    char *js = NULL, key[300], q[16];
    assert_int_equal(
        rmq_admin_call_broker(adm, br.addr, RMQ_REQ_GET_ALL_CONSUMER_OFFSET, NULL, NULL, &js),
        RMQ_OK);
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    free(js);
    snprintf(key, sizeof key, "%s@%s", topic, group);
    snprintf(q, sizeof q, "%d", qid);
    json_t *v = json_object_get(json_object_get(json_object_get(j, "offsetTable"), key), q);
    int64_t off = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return off;
}

/* perm of topic's queue data in NameServer nsaddr's route, -1 when absent. */
static int route_perm(const char *nsaddr, const char *topic) {
    char args[512], *out, *err;
    snprintf(args, sizeof args, "topicRoute -t %s -n %s", topic, nsaddr);
    int rc = mqa_run(&out, &err, args);
    int perm = -1;
    if (rc == 0) {
        json_error_t je;
        json_t *j = json_loads(out, 0, &je);
        json_t *qd = json_array_get(json_object_get(j, "queueDatas"), 0);
        if (qd) perm = (int)json_integer_value(json_object_get(qd, "perm"));
        json_decref(j);
    }
    free(out);
    free(err);
    return perm;
}

/* Wait (generously) until both NameServers route topic with perm want. */
static void wait_perm(const char *topic, int want) {
    int p1 = -1, p2 = -1;
    for (int i = 0; i < 150; i++) {
        p1 = route_perm(ns1.addr, topic);
        p2 = route_perm(ns2.addr, topic);
        if (p1 == want && p2 == want) return;
        rmq_sleep_ms(200);
    }
    fprintf(stderr, "topic %s perm on the NameServers: %d, %d (want %d)\n", topic, p1, p2, want);
    fail();
}

static int setup(void **st) {
    assert_int_equal(rmq_mkdtemp("rmq-0304", tmpdir, sizeof tmpdir), 0);
    rmq_bin_path("mqadmin", mqadmin, sizeof mqadmin);
    mqa_bin = mqadmin;
    mqa_tmp = tmpdir;
    mqa_ns = nss;
    assert_int_equal(rmq_start_namesrv(&ns1, NULL), 0);
    assert_int_equal(rmq_start_namesrv(&ns2, NULL), 0);
    snprintf(nss, sizeof nss, "%s;%s", ns1.addr, ns2.addr);
    assert_int_equal(rmq_start_broker(&br, nss, NULL), 0);
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", ns1.addr, err, sizeof err), RMQ_CONF_OK);
    adm = rmq_admin_new(c, err, sizeof err);
    assert_non_null(adm);
    /* topics on the broker, routed by both NameServers */
    free(mqa_ok("updateTopic -b %s -t GrpT1 -r 2 -w 2", br.addr));
    free(mqa_ok("updateTopic -b %s -t GrpT2 -r 2 -w 2", br.addr));
    wait_perm("GrpT1", 6);
    wait_perm("GrpT2", 6);
    char *out = mqa_ok("topicRoute -t GrpT1");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    snprintf(bname, sizeof bname, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(j, "brokerDatas"), 0),
                                               "brokerName")));
    json_decref(j);
    free(out);
    assert_true(bname[0]);
    out = mqa_ok("topicClusterList -t GrpT1");
    size_t n = strcspn(out, "\n");
    assert_true(n > 0 && n < sizeof cluster);
    memcpy(cluster, out, n);
    free(out);
    return 0;
}

static int teardown(void **st) {
    rmq_admin_destroy(adm);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns1, SIGTERM);
    rmq_proc_stop(&ns2, SIGTERM);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns1.dir);
    rmq_rm_rf(ns2.dir);
    rmq_rm_rf(tmpdir);
    return 0;
}

/* RocketMQ 4.9.8's MQAdminStartup registers these 56. */
static const char *const java_cmds[] = {
    "updateTopic",
    "deleteTopic",
    "updateSubGroup",
    "deleteSubGroup",
    "updateBrokerConfig",
    "updateTopicPerm",
    "topicRoute",
    "topicStatus",
    "topicClusterList",
    "brokerStatus",
    "queryMsgById",
    "queryMsgByKey",
    "queryMsgByUniqueKey",
    "queryMsgByOffset",
    "queryMsgTraceById",
    "printMsg",
    "printMsgByQueue",
    "sendMsgStatus",
    "brokerConsumeStats",
    "producerConnection",
    "consumerConnection",
    "consumerProgress",
    "consumerStatus",
    "cloneGroupOffset",
    "producer",
    "clusterList",
    "topicList",
    "updateKvConfig",
    "deleteKvConfig",
    "wipeWritePerm",
    "addWritePerm",
    "resetOffsetByTime",
    "skipAccumulatedMessage",
    "updateOrderConf",
    "cleanExpiredCQ",
    "deleteExpiredCommitLog",
    "cleanUnusedTopic",
    "startMonitoring",
    "statsAll",
    "allocateMQ",
    "checkMsgSendRT",
    "clusterRT",
    "getNamesrvConfig",
    "updateNamesrvConfig",
    "getBrokerConfig",
    "getConsumerConfig",
    "queryCq",
    "sendMessage",
    "consumeMessage",
    "updateAclConfig",
    "deleteAclConfig",
    "clusterAclConfigVersion",
    "updateGlobalWhiteAddr",
    "exportMetadata",
    "exportConfigs",
    "exportMetrics",
};

static void test_every_498_command_answers(void **st) {
    size_t n = sizeof java_cmds / sizeof java_cmds[0];
    assert_int_equal(n, 56);
    for (size_t i = 0; i < n; i++) {
        char args[128], *out, *err;
        snprintf(args, sizeof args, "%s -h", java_cmds[i]);
        int rc = mqa_run(&out, &err, args);
        char usage[160], reason[160];
        snprintf(usage, sizeof usage, "usage: mqadmin %s", java_cmds[i]);
        snprintf(reason, sizeof reason, "mqadmin %s: not available in rmq", java_cmds[i]);
        bool answered =
            (rc == 0 && strstr(out, usage)) || (rc == 1 && !strncmp(err, reason, strlen(reason)) &&
                                                strchr(err, '\n') == err + strlen(err) - 1);
        if (!answered) fprintf(stderr, "%s -> rc %d\n%s%s", java_cmds[i], rc, out, err);
        assert_true(answered);
        assert_null(strstr(err, "unknown command"));
        free(out);
        free(err);
    }
}

static void test_write_perm_on_every_namesrv(void **st) {
    char *out = mqa_ok("wipeWritePerm -b %s", bname);
    char line[512];
    snprintf(line, sizeof line, "wipe write perm of broker[%s] in name server[%s] OK, ", bname,
             ns1.addr);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "wipe write perm of broker[%s] in name server[%s] OK, ", bname,
             ns2.addr);
    assert_non_null(strstr(out, line));
    free(out);
    /* read right away: the broker's next registration (30 s) gives its own perm back */
    assert_int_equal(route_perm(ns1.addr, "GrpT1"), 4);
    assert_int_equal(route_perm(ns2.addr, "GrpT1"), 4);
    out = mqa_ok("addWritePerm -b %s --json", bname);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_int_equal(json_array_size(json_object_get(j, "nameServers")), 2);
    json_decref(j);
    free(out);
    assert_int_equal(route_perm(ns1.addr, "GrpT1"), 6);
    assert_int_equal(route_perm(ns2.addr, "GrpT1"), 6);
}

static void test_kv_and_order_conf(void **st) {
    char *out = mqa_ok("updateKvConfig -s AdmB -k color -v blue");
    assert_non_null(strstr(out, "create or update kv config to namespace success."));
    free(out);
    const char *kv[] = {"namespace", "AdmB", "key", "color", NULL};
    char *v = NULL;
    assert_int_equal(raw(ns1.addr, RMQ_REQ_GET_KV_CONFIG, kv, "value", &v), RMQ_OK);
    assert_string_equal(v, "blue");
    free(v);
    assert_int_equal(raw(ns2.addr, RMQ_REQ_GET_KV_CONFIG, kv, "value", &v), RMQ_OK);
    assert_string_equal(v, "blue");
    free(v);
    free(mqa_ok("deleteKvConfig -s AdmB -k color"));
    assert_int_equal(raw(ns1.addr, RMQ_REQ_GET_KV_CONFIG, kv, NULL, NULL), RMQ_ERR_QUERY_NOT_FOUND);
    assert_int_equal(raw(ns2.addr, RMQ_REQ_GET_KV_CONFIG, kv, NULL, NULL), RMQ_ERR_QUERY_NOT_FOUND);

    out = mqa_ok("updateOrderConf -t GrpT1 -m put -v '%s:2'", bname);
    assert_non_null(strstr(out, "update orderConf success. topic=[GrpT1]"));
    free(out);
    const char *okv[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", "GrpT1", NULL};
    char want[256];
    snprintf(want, sizeof want, "%s:2", bname);
    assert_int_equal(raw(ns2.addr, RMQ_REQ_GET_KV_CONFIG, okv, "value", &v), RMQ_OK);
    assert_string_equal(v, want);
    free(v);
    out = mqa_ok("updateOrderConf -t GrpT1 -m get");
    snprintf(want, sizeof want, "get orderConf success. topic=[GrpT1], orderConf=[%s:2]", bname);
    assert_non_null(strstr(out, want));
    free(out);
    free(mqa_ok("updateOrderConf -t GrpT1 -m delete"));
    assert_int_equal(raw(ns1.addr, RMQ_REQ_GET_KV_CONFIG, okv, NULL, NULL),
                     RMQ_ERR_QUERY_NOT_FOUND);
    assert_int_equal(raw(ns2.addr, RMQ_REQ_GET_KV_CONFIG, okv, NULL, NULL),
                     RMQ_ERR_QUERY_NOT_FOUND);
    char *err = fails("updateOrderConf -t GrpT1 -m put");
    assert_non_null(strstr(err, "-v"));
    free(err);
}

static void test_namesrv_config(void **st) {
    char *out = mqa_ok("getNamesrvConfig");
    char banner[160];
    snprintf(banner, sizeof banner, "============%s============", ns1.addr);
    assert_non_null(strstr(out, banner));
    snprintf(banner, sizeof banner, "============%s============", ns2.addr);
    assert_non_null(strstr(out, banner));
    assert_non_null(strstr(out, "orderMessageEnable                                =  false"));
    free(out);
    out = mqa_ok("updateNamesrvConfig -k orderMessageEnable -v true");
    assert_non_null(strstr(out, "update name server config success!"));
    free(out);
    out = mqa_ok("getNamesrvConfig --json");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, ns1.addr), "orderMessageEnable")),
        "true");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, ns2.addr), "orderMessageEnable")),
        "true");
    const char *kvpath =
        json_string_value(json_object_get(json_object_get(j, ns1.addr), "kvConfigPath"));
    assert_non_null(kvpath);
    char *kvpath_before = strdup(kvpath);
    json_decref(j);
    free(out);
    /* the CVE-2023-37582 shape: a path key is refused and nothing changes */
    char *err = fails("updateNamesrvConfig -k kvConfigPath -v %s/evil.json", tmpdir);
    assert_non_null(strstr(err, "kvConfigPath cannot be changed on a running NameServer"));
    free(err);
    err = fails("updateNamesrvConfig -k scanNotActiveBrokerInterval -v banana");
    assert_non_null(strstr(err, "scanNotActiveBrokerInterval"));
    free(err);
    out = mqa_ok("getNamesrvConfig --json");
    j = json_loads(out, 0, &je);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, ns1.addr), "kvConfigPath")),
        kvpath_before);
    json_decref(j);
    free(out);
    free(kvpath_before);
    free(mqa_ok("updateNamesrvConfig -k orderMessageEnable -v false"));
}

static void test_topic_perm_and_clusters(void **st) {
    char *out = mqa_ok("updateTopicPerm -b %s -t GrpT2 -p 4", br.addr);
    char line[256];
    snprintf(line, sizeof line, "update topic perm from 6 to 4 in %s success.", br.addr);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "perm=R--"));
    free(out);
    wait_perm("GrpT2", 4);
    out = mqa_ok("updateTopicPerm -b %s -t GrpT2 -p 4", br.addr);
    assert_non_null(strstr(out, "new perm equals to the old one!"));
    free(out);
    free(mqa_ok("updateTopicPerm -c %s -t GrpT2 -p 6", cluster));
    wait_perm("GrpT2", 6);
    char *err = fails("updateTopicPerm -b %s -t NoSuchTopicB -p 4", br.addr);
    assert_non_null(strstr(err, "does not exist"));
    free(err);
    out = mqa_ok("topicClusterList -t GrpT1 --json");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_int_equal(json_array_size(json_object_get(j, "clusters")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "clusters"), 0)),
                        cluster);
    json_decref(j);
    free(out);
}

static void test_group_offsets(void **st) {
    for (int i = 0; i < 3; i++) free(mqa_ok("sendMessage -t GrpT1 -p m%d -b %s -i 0", i, bname));
    const char *kv[] = {"consumerGroup", "GrpSrc", "topic", "GrpT1", "queueId", "0",
                        "commitOffset",  "2",      NULL};
    assert_int_equal(raw(br.addr, RMQ_REQ_UPDATE_CONSUMER_OFFSET, kv, NULL, NULL), RMQ_OK);
    assert_int_equal(group_offset("GrpDst", "GrpT1", 0), -1);
    char *out = mqa_ok("cloneGroupOffset -s GrpSrc -d GrpDst -t GrpT1");
    assert_non_null(
        strstr(out, "clone group offset success. srcGroup[GrpSrc], destGroup=[GrpDst]"));
    free(out);
    assert_int_equal(group_offset("GrpDst", "GrpT1", 0), 2);

    /* a group that never committed: straight to the max offset (3 messages on queue 0) */
    out = mqa_ok("skipAccumulatedMessage -g GrpSkip -t GrpT1");
    assert_non_null(strstr(out, "#brokerName"));
    free(out);
    assert_int_equal(group_offset("GrpSkip", "GrpT1", 0), 3);
    /* a group behind: also to the max */
    out = mqa_ok("skipAccumulatedMessage -g GrpSrc -t GrpT1 --json");
    free(out);
    assert_int_equal(group_offset("GrpSrc", "GrpT1", 0), 3);

    /* deleteSubGroup -r true: the group's config and its offsets go */
    free(mqa_ok("updateSubGroup -b %s -g GrpDst", br.addr));
    out = mqa_ok("deleteSubGroup -b %s -g GrpDst -r true", br.addr);
    assert_non_null(strstr(out, "delete subscription group [GrpDst] from broker"));
    free(out);
    assert_int_equal(group_offset("GrpDst", "GrpT1", 0), -1);
    rmq_admin_resp_t *r = NULL;
    assert_int_equal(rmq_admin_invoke(adm, br.addr, RMQ_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL,
                                      NULL, 0, 0, &r),
                     RMQ_OK);
    assert_int_equal(r->code, RMQ_OK);
    char *body = strndup((const char *)r->body, r->body_len);
    assert_null(strstr(body, "\"GrpDst\""));
    free(body);
    rmq_admin_resp_destroy(r);
    /* without -r the offsets stay */
    out = mqa_ok("deleteSubGroup -b %s -g GrpSkip", br.addr);
    free(out);
    assert_int_equal(group_offset("GrpSkip", "GrpT1", 0), 3);
}

static void test_export(void **st) {
    free(mqa_ok("updateSubGroup -b %s -g GrpExport -q 3", br.addr));
    char *out = mqa_ok("exportMetadata -c %s -f %s/exp", cluster, tmpdir);
    char path[400];
    snprintf(path, sizeof path, "%s/exp/metadata.json", tmpdir);
    assert_non_null(strstr(out, path));
    free(out);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    json_t *tt = json_object_get(j, "topicConfigTable");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(tt, "GrpT1"), "writeQueueNums")), 2);
    assert_null(json_object_get(tt, "TBW102")); /* system topics stay out */
    json_t *gt = json_object_get(j, "subscriptionGroupTable");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(gt, "GrpExport"), "retryQueueNums")), 3);
    assert_null(json_object_get(gt, "TOOLS_CONSUMER"));
    assert_true(json_integer_value(json_object_get(j, "exportTime")) > 0);
    json_decref(j);

    out = mqa_ok("exportMetadata -b %s -t -f %s/exp", br.addr, tmpdir);
    free(out);
    snprintf(path, sizeof path, "%s/exp/topic.json", tmpdir);
    j = json_load_file(path, 0, &je);
    assert_non_null(json_object_get(json_object_get(j, "topicConfigTable"), "GrpT2"));
    assert_null(json_object_get(j, "subscriptionGroupTable"));
    json_decref(j);

    out = mqa_ok("exportConfigs -c %s -f %s/exp --json", cluster, tmpdir);
    j = json_loads(out, 0, &je);
    free(out);
    json_t *scale = json_object_get(json_object_get(j, "content"), "clusterScale");
    assert_int_equal(json_integer_value(json_object_get(scale, "namesrvSize")), 2);
    assert_int_equal(json_integer_value(json_object_get(scale, "masterBrokerSize")), 1);
    json_t *bc = json_object_get(json_object_get(j, "content"), "brokerConfigs");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(bc, bname), "brokerName")), bname);
    json_decref(j);
    snprintf(path, sizeof path, "%s/exp/configs.json", tmpdir);
    j = json_load_file(path, 0, &je);
    assert_non_null(json_object_get(j, "brokerConfigs"));
    json_decref(j);
}

/* ---- ACL 1.0 writes on a broker with aclEnable=true (its own NameServer) ------------------ */

#define ADM "-ak rmqadmin1 -sk rmqadmin1sk"

/* mqadmin args -n addr; the exit status, stderr into *err (new) when err. */
static int run_on(const char *nsaddr, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run_on(const char *nsaddr, char **err, const char *fmt, ...) {
    char full[2400], *out, *e;
    va_list ap;
    va_start(ap, fmt);
    int rc = mqa_vrun_on(nsaddr, full, sizeof full, &out, &e, fmt, ap);
    va_end(ap);
    free(out);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

/* sendMessage to AclT with creds ("" for none) until it succeeds (want 0) or is refused. */
static int send_as(const char *nsaddr, const char *creds) {
    int rc = 1;
    for (int i = 0; i < 50; i++) {
        char *err;
        rc = run_on(nsaddr, &err, "sendMessage -t AclT -p hi %s", creds);
        bool refused = strstr(err, "No permission") || strstr(err, "NO_PERMISSION") ||
                       strstr(err, "CODE: 16") || strstr(err, "permission") ||
                       strstr(err, "refused");
        free(err);
        if (rc == 0 || refused) return rc;
        rmq_sleep_ms(200); /* route not there yet */
    }
    return rc;
}

static void test_acl_commands(void **st) {
    rmq_proc_t ns3 = {0}, bra = {0};
    char home[300], path[400], *err;
    assert_int_equal(rmq_mkdtemp("rmq-0304-acl", home, sizeof home), 0);
    snprintf(path, sizeof path, "%s/conf", home);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/conf/plain_acl.yml", home);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# test accounts\nglobalWhiteRemoteAddresses: []\naccounts:\n"
          "  - accessKey: rmqadmin1\n    secretKey: rmqadmin1sk\n    admin: true\n",
          f);
    fclose(f);
    char extra[600];
    snprintf(extra, sizeof extra, "aclEnable=true\nrocketmqHome=%s\n", home);
    assert_int_equal(rmq_start_namesrv(&ns3, extra), 0);
    snprintf(extra, sizeof extra,
             "aclEnable=true\nrocketmqHome=%s\nbrokerName=acl-b\naccessKey=rmqadmin1\n"
             "secretKey=rmqadmin1sk\n",
             home);
    assert_int_equal(rmq_start_broker(&bra, ns3.addr, extra), 0);
    assert_int_equal(run_on(ns3.addr, NULL, "updateTopic -b %s -t AclT " ADM, bra.addr), 0);

    /* unknown user refused; created by the admin, it can send */
    assert_int_not_equal(send_as(ns3.addr, "-ak newuser01 -sk newuser01sk"), 0);
    assert_int_equal(run_on(ns3.addr, NULL,
                            "updateAclConfig -b %s -a newuser01 -s newuser01sk -i PUB -u SUB "
                            "-t AclT=PUB " ADM,
                            bra.addr),
                     0);
    assert_int_equal(send_as(ns3.addr, "-ak newuser01 -sk newuser01sk"), 0);
    /* a non-admin account cannot write the ACL */
    assert_int_equal(run_on(ns3.addr, &err,
                            "updateAclConfig -b %s -a newuser02 -s newuser02sk "
                            "-ak newuser01 -sk newuser01sk",
                            bra.addr),
                     1);
    free(err);
    /* deleted: refused again */
    assert_int_equal(run_on(ns3.addr, NULL, "deleteAclConfig -b %s -a newuser01 " ADM, bra.addr),
                     0);
    assert_int_not_equal(send_as(ns3.addr, "-ak newuser01 -sk newuser01sk"), 0);
    assert_int_equal(run_on(ns3.addr, &err, "deleteAclConfig -b %s -a newuser01 " ADM, bra.addr),
                     1);
    assert_non_null(strstr(err, "no account with accessKey newuser01"));
    free(err);
    /* NameServer ACL on: its config update needs an admin account */
    assert_int_equal(run_on(ns3.addr, &err, "updateNamesrvConfig -k orderMessageEnable -v true"),
                     1);
    assert_non_null(strstr(err, "CODE: 16")); /* NO_PERMISSION */
    free(err);
    assert_int_equal(
        run_on(ns3.addr, NULL, "updateNamesrvConfig -k orderMessageEnable -v true " ADM), 0);
    /* global white list: unsigned requests from 127.0.0.1 pass */
    assert_int_not_equal(send_as(ns3.addr, ""), 0);
    assert_int_equal(
        run_on(ns3.addr, NULL, "updateGlobalWhiteAddr -b %s -g 127.0.0.1 " ADM, bra.addr), 0);
    assert_int_equal(send_as(ns3.addr, ""), 0);
    /* the file still loads (the broker logged no error) and kept the admin */
    f = fopen(path, "r");
    assert_non_null(f);
    char text[4096];
    text[fread(text, 1, sizeof text - 1, f)] = 0;
    fclose(f);
    assert_non_null(strstr(text, "rmqadmin1"));
    assert_null(strstr(text, "newuser01"));
    assert_int_equal(rmq_proc_log_errors(&bra), 0);
    /* three rewrites, three reloads: the DataVersion counter */
    char args[600], *out;
    snprintf(args, sizeof args, "clusterAclConfigVersion -b %s --json " ADM " -n %s", bra.addr,
             ns3.addr);
    assert_int_equal(mqa_run(&out, &err, args), 0);
    free(err);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    free(out);
    assert_int_equal(json_array_size(j), 1);
    json_t *row = json_array_get(j, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "counter")), 3);
    assert_string_equal(json_string_value(json_object_get(row, "aclFilePath")), path);
    assert_string_equal(json_string_value(json_object_get(row, "brokerName")), "acl-b");
    json_decref(j);
    /* ACL off: said so, nothing done */
    assert_int_equal(
        run_on(nss, &err, "updateAclConfig -b %s -a newuser03 -s newuser03sk", br.addr), 1);
    assert_non_null(strstr(err, "ACL is off"));
    free(err);
    assert_int_equal(run_on(nss, &err, "clusterAclConfigVersion -b %s", br.addr), 1);
    assert_non_null(strstr(err, "ACL is off"));
    free(err);
    rmq_proc_stop(&bra, SIGTERM);
    rmq_proc_stop(&ns3, SIGTERM);
    rmq_rm_rf(bra.dir);
    rmq_rm_rf(ns3.dir);
    rmq_rm_rf(home);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_498_command_answers),
        cmocka_unit_test(test_write_perm_on_every_namesrv),
        cmocka_unit_test(test_kv_and_order_conf),
        cmocka_unit_test(test_namesrv_config),
        cmocka_unit_test(test_topic_perm_and_clusters),
        cmocka_unit_test(test_group_offsets),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_acl_commands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
