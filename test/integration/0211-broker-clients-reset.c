/* mqbroker's client management over the wire, with fake consumers (remoting clients with a
 * request handler): heartbeats into one group, GET_CONSUMER_LIST_BY_GROUP,
 * NOTIFY_CONSUMER_IDS_CHANGED on join / UNREGISTER_CLIENT / connection close, %RETRY%<group>
 * in the NameServer route, GET_CONSUMER_CONNECTION_LIST, INVOKE_BROKER_TO_RESET_OFFSET
 * (RESET_CONSUMER_CLIENT_OFFSET to every consumer, map body for Java, list body for C++, and
 * the stored offsets moved), CONSUMER_NOT_ONLINE, LOCK/UNLOCK_BATCH_MQ, CHECK_CLIENT_CONFIG,
 * and expiry of a silent consumer under a shortened channelExpiredTimeout. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/fjson.h"
#include "common/msg.h"
#include "common/util.h"
#include "remoting/client.h"
#include "test/integration/harness.h"

#define TOPIC "ResetT"
#define GROUP "cgReset"
#define EXPIRY_MS 3000

/* A fake consumer: its own remoting client (one connection to the broker) and the requests
 * the broker sent it. */
typedef struct {
    const char *id;
    int language;
    rmq_rem_client_t *cl;
    pthread_mutex_t mu;
    int notifies; /* NOTIFY_CONSUMER_IDS_CHANGED for GROUP */
    int resets;   /* RESET_CONSUMER_CLIENT_OFFSET */
    char reset_body[2048];
    char reset_ts[32];
    atomic_bool keepalive; /* heartbeat from the keep-alive thread */
} fake_t;

static rmq_proc_t ns, br;
static rmq_rem_client_t *tool;
static fake_t c1 = {.id = "127.0.0.1@fake1", .language = RMQ_LANG_JAVA};
static fake_t c2 = {.id = "127.0.0.1@fake2", .language = RMQ_LANG_CPP};
static fake_t c3 = {.id = "127.0.0.1@fake3", .language = RMQ_LANG_GO};
static pthread_t ka_thread;
static atomic_bool ka_stop;
static int64_t ts_between; /* a time between the two batches */

static rmq_rem_cmd_t *on_request(rmq_rem_conn_t *conn, rmq_rem_cmd_t *req, void *arg) {
    fake_t *f = arg;
    pthread_mutex_lock(&f->mu);
    if (req->code == RMQ_REQ_NOTIFY_CONSUMER_IDS_CHANGED) {
        const char *g = rmq_rem_cmd_get(req, "consumerGroup");
        if (g && strcmp(g, GROUP) == 0) f->notifies++;
    } else if (req->code == RMQ_REQ_RESET_CONSUMER_CLIENT_OFFSET) {
        f->resets++;
        size_t n = RMQ_MIN(req->body_len, sizeof f->reset_body - 1);
        memcpy(f->reset_body, req->body, n);
        f->reset_body[n] = 0;
        const char *ts = rmq_rem_cmd_get(req, "timestamp");
        rmq_strlcpy(f->reset_ts, ts ? ts : "", sizeof f->reset_ts);
    }
    pthread_mutex_unlock(&f->mu);
    rmq_rem_cmd_destroy(req);
    return NULL;
}

static int get_count(fake_t *f, int *field) {
    pthread_mutex_lock(&f->mu);
    int v = *field;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* Wait until *field of f exceeds before; false after 5 s. */
static bool wait_more(fake_t *f, int *field, int before) {
    for (int i = 0; i < 500; i++) {
        if (get_count(f, field) > before) return true;
        rmq_sleep_ms(10);
    }
    return false;
}

static rmq_rem_cmd_t *call_on(rmq_rem_client_t *cl, rmq_rem_cmd_t *req) {
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, br.addr, req, 5000, &resp), RMQ_OK);
    assert_non_null(resp);
    return resp;
}

static rmq_rem_cmd_t *call(rmq_rem_cmd_t *req) {
    return call_on(tool, req);
}

static char *body_str(const rmq_rem_cmd_t *r) {
    char *s = malloc(r->body_len + 1);
    if (r->body_len) memcpy(s, r->body, r->body_len);
    s[r->body_len] = 0;
    return s;
}

/* HEART_BEAT as the Java push consumer sends it (names), or ordinals for the C++ fake. */
static int heartbeat_rc(fake_t *f, const char *group) {
    char body[1024];
    if (f->language == RMQ_LANG_CPP)
        snprintf(body, sizeof body,
                 "{\"clientID\":\"%s\",\"consumerDataSet\":[{\"consumeFromWhere\":0,"
                 "\"consumeType\":1,\"groupName\":\"%s\",\"messageModel\":1,"
                 "\"subscriptionDataSet\":[{\"subString\":\"*\",\"subVersion\":\"1700000000000\","
                 "\"topic\":\"%s\"}]}]}",
                 f->id, group, TOPIC);
    else
        snprintf(body, sizeof body,
                 "{\"clientID\":\"%s\",\"consumerDataSet\":[{\"consumeFromWhere\":"
                 "\"CONSUME_FROM_LAST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\","
                 "\"groupName\":\"%s\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{"
                 "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\","
                 "\"subString\":\"*\",\"subVersion\":1700000000000,\"tagsSet\":[],\"topic\":"
                 "\"%s\"}],\"unitMode\":false}],\"producerDataSet\":[{\"groupName\":"
                 "\"CLIENT_INNER_PRODUCER\"}]}",
                 f->id, group, TOPIC);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_HEART_BEAT);
    req->language = f->language;
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    rmq_rem_cmd_t *resp = NULL;
    if (rmq_rem_client_invoke_sync(f->cl, br.addr, req, 5000, &resp) != RMQ_OK) return -1;
    int rc = resp->code;
    rmq_rem_cmd_destroy(resp);
    return rc;
}

static void heartbeat(fake_t *f, const char *group) {
    assert_int_equal(heartbeat_rc(f, group), RMQ_OK);
}

static void *keepalive_main(void *arg) {
    while (!atomic_load(&ka_stop)) {
        fake_t *all[] = {&c1, &c2, &c3};
        for (int i = 0; i < 3; i++)
            if (atomic_load(&all[i]->keepalive)) heartbeat_rc(all[i], GROUP);
        rmq_sleep_ms(500);
    }
    return NULL;
}

/* The consumer ids of GROUP, sorted into one string "a,b"; "" with *code on error. */
static char *consumer_list(const char *group, int *code) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_LIST_BY_GROUP);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_t *resp = call(req);
    *code = resp->code;
    char *out = calloc(1, 1024);
    if (resp->code == RMQ_OK) {
        json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
        assert_non_null(j);
        json_t *l = json_object_get(j, "consumerIdList");
        size_t n = json_array_size(l);
        const char *ids[8];
        for (size_t i = 0; i < n && i < 8; i++) ids[i] = json_string_value(json_array_get(l, i));
        for (size_t i = 0; i < n && i < 8; i++) /* tiny sort */
            for (size_t k = i + 1; k < n && k < 8; k++)
                if (strcmp(ids[k], ids[i]) < 0) {
                    const char *t = ids[i];
                    ids[i] = ids[k];
                    ids[k] = t;
                }
        for (size_t i = 0; i < n && i < 8; i++) {
            if (i) strcat(out, ",");
            strcat(out, ids[i]);
        }
        json_decref(j);
    }
    rmq_rem_cmd_destroy(resp);
    return out;
}

static void expect_members(const char *want) {
    int code;
    char *got = consumer_list(GROUP, &code);
    assert_int_equal(code, RMQ_OK);
    assert_string_equal(got, want);
    free(got);
}

static void send_msg(int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "pg-reset");
    rmq_rem_cmd_set(req, "b", TOPIC);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set_i64(req, "d", 4);
    rmq_rem_cmd_set_i64(req, "e", qid);
    rmq_rem_cmd_set_i64(req, "f", 0);
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set_i64(req, "h", 0);
    rmq_rem_cmd_set(req, "i", "TAGS\001t\002WAIT\001true");
    rmq_rem_cmd_set_bool(req, "m", false);
    rmq_rem_cmd_set_body_copy(req, "payload", 7);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
}

static int64_t max_offset(int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = call(req);
    int64_t off = -1;
    rmq_rem_cmd_get_i64(resp, "offset", &off);
    rmq_rem_cmd_destroy(resp);
    return off;
}

static void update_offset(const char *group, int qid, int64_t off) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_set_i64(req, "commitOffset", off);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
}

static int64_t query_offset(const char *group, int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    int64_t off = -1;
    assert_int_equal(rmq_rem_cmd_get_i64(resp, "offset", &off), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    return off;
}

static int fake_new(fake_t *f) {
    pthread_mutex_init(&f->mu, NULL);
    rmq_rem_client_cfg_t cfg = {.name = f->id};
    if (rmq_rem_client_new(NULL, &cfg, &f->cl)) return -1;
    rmq_rem_client_set_handler(f->cl, on_request, f);
    return 0;
}

static int group_setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns, NULL)) return -1;
    char extra[128];
    snprintf(extra, sizeof extra, "channelExpiredTimeout=%d\n", EXPIRY_MS);
    if (rmq_start_broker(&br, ns.addr, extra)) return -1;
    rmq_rem_client_cfg_t cfg = {.name = "t0211"};
    if (rmq_rem_client_new(NULL, &cfg, &tool)) return -1;
    if (fake_new(&c1) || fake_new(&c2) || fake_new(&c3)) return -1;
    if (pthread_create(&ka_thread, NULL, keepalive_main, NULL)) return -1;
    return 0;
}

static int group_teardown(void **state) {
    atomic_store(&ka_stop, true);
    pthread_join(ka_thread, NULL);
    rmq_rem_client_destroy(c1.cl);
    rmq_rem_client_destroy(c2.cl);
    rmq_rem_client_destroy(c3.cl);
    rmq_rem_client_destroy(tool);
    int errs = rmq_proc_log_errors(&br);
    int status = rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    /* a clean SIGTERM exit; sanitizer reports (leaks at exit) make it non-zero */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "broker exit status %#x, log %s\n", status, br.log);
        errs++;
    }
    if (errs == 0) {
        rmq_rm_rf(br.dir);
        rmq_rm_rf(ns.dir);
    } else {
        fprintf(stderr, "broker log with ERROR lines kept in %s\n", br.dir);
    }
    return errs == 0 ? 0 : -1;
}

static void test_membership_and_notify(void **st) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_AND_CREATE_TOPIC);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "defaultTopic", "TBW102");
    rmq_rem_cmd_set_i64(req, "readQueueNums", 2);
    rmq_rem_cmd_set_i64(req, "writeQueueNums", 2);
    rmq_rem_cmd_set_i64(req, "perm", 6);
    rmq_rem_cmd_set(req, "topicFilterType", "SINGLE_TAG");
    rmq_rem_cmd_set_bool(req, "order", false);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);

    int code;
    char *l = consumer_list(GROUP, &code);
    assert_int_equal(code, RMQ_ERR_SYSTEM_ERROR); /* no consumer yet */
    free(l);

    heartbeat(&c1, GROUP);
    atomic_store(&c1.keepalive, true);
    expect_members(c1.id);
    int n1 = get_count(&c1, &c1.notifies);

    /* the second joins: the first is told */
    heartbeat(&c2, GROUP);
    atomic_store(&c2.keepalive, true);
    assert_true(wait_more(&c1, &c1.notifies, n1));
    expect_members("127.0.0.1@fake1,127.0.0.1@fake2");

    /* a repeated heartbeat with the same subscription notifies nobody */
    n1 = get_count(&c1, &c1.notifies);
    int n2 = get_count(&c2, &c2.notifies);
    heartbeat(&c1, GROUP);
    heartbeat(&c2, GROUP);
    rmq_sleep_ms(300);
    assert_int_equal(get_count(&c1, &c1.notifies), n1);
    assert_int_equal(get_count(&c2, &c2.notifies), n2);

    /* %RETRY%<group> reaches the NameServer route */
    int rcode = -1;
    for (int i = 0; i < 300 && rcode != RMQ_OK; i++) {
        req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
        rmq_rem_cmd_set(req, "topic", "%RETRY%" GROUP);
        resp = NULL;
        assert_int_equal(rmq_rem_client_invoke_sync(tool, ns.addr, req, 3000, &resp), RMQ_OK);
        rcode = resp->code;
        rmq_rem_cmd_destroy(resp);
        if (rcode != RMQ_OK) rmq_sleep_ms(20);
    }
    assert_int_equal(rcode, RMQ_OK);

    /* GET_CONSUMER_CONNECTION_LIST shows both with language and version */
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_CONNECTION_LIST);
    rmq_rem_cmd_set(req, "consumerGroup", GROUP);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    assert_non_null(j);
    json_t *set = json_object_get(j, "connectionSet");
    assert_int_equal(json_array_size(set), 2);
    bool saw_java = false, saw_cpp = false;
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_array_get(set, i);
        const char *id = json_string_value(json_object_get(c, "clientId"));
        const char *lang = json_string_value(json_object_get(c, "language"));
        assert_non_null(id);
        assert_non_null(lang);
        assert_int_equal(json_integer_value(json_object_get(c, "version")), RMQ_REM_VERSION);
        assert_non_null(json_string_value(json_object_get(c, "clientAddr")));
        if (strcmp(id, c1.id) == 0 && strcmp(lang, "JAVA") == 0) saw_java = true;
        if (strcmp(id, c2.id) == 0 && strcmp(lang, "CPP") == 0) saw_cpp = true;
    }
    assert_true(saw_java && saw_cpp);
    assert_string_equal(json_string_value(json_object_get(j, "messageModel")), "CLUSTERING");
    assert_string_equal(json_string_value(json_object_get(j, "consumeType")), "CONSUME_PASSIVELY");
    assert_non_null(json_object_get(json_object_get(j, "subscriptionTable"), TOPIC));
    json_decref(j);
    rmq_rem_cmd_destroy(resp);
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_CONNECTION_LIST);
    rmq_rem_cmd_set(req, "consumerGroup", "nobody");
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_CONSUMER_NOT_ONLINE);
    rmq_rem_cmd_destroy(resp);
    /* the producer group of the Java heartbeat */
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_PRODUCER_CONNECTION_LIST);
    rmq_rem_cmd_set(req, "producerGroup", "CLIENT_INNER_PRODUCER");
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char *s = body_str(resp);
    assert_non_null(strstr(s, c1.id));
    free(s);
    rmq_rem_cmd_destroy(resp);
}

/* Parse a ResetOffsetBody (map or list form) into offs[2]; returns entries found. */
static int parse_reset(const char *body, int64_t offs[2]) {
    char err[128];
    json_t *j = rmq_fjson_parse(body, strlen(body), err, sizeof err);
    if (!j) return -1;
    json_t *t = json_object_get(j, "offsetTable");
    int n = 0;
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            int q = (int)json_integer_value(json_object_get(e, "queueId"));
            assert_string_equal(json_string_value(json_object_get(e, "topic")), TOPIC);
            if (q >= 0 && q < 2) offs[q] = json_integer_value(json_object_get(e, "offset"));
            n++;
        }
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(t, k, v) {
            char topic[64], broker[64];
            int q;
            assert_true(rmq_fj_mq_from_key(k, topic, sizeof topic, broker, sizeof broker, &q));
            assert_string_equal(topic, TOPIC);
            if (q >= 0 && q < 2) offs[q] = json_integer_value(v);
            n++;
        }
    }
    json_decref(j);
    return n;
}

static void test_reset_offset(void **st) {
    /* batch 1: 4 per queue; pause; batch 2: 4 per queue */
    for (int i = 0; i < 4; i++) {
        send_msg(0);
        send_msg(1);
    }
    for (int i = 0; i < 500 && (max_offset(0) < 4 || max_offset(1) < 4); i++) rmq_sleep_ms(10);
    rmq_sleep_ms(500);
    ts_between = rmq_now_ms();
    rmq_sleep_ms(5);
    for (int i = 0; i < 4; i++) {
        send_msg(0);
        send_msg(1);
    }
    for (int i = 0; i < 500 && (max_offset(0) < 8 || max_offset(1) < 8); i++) rmq_sleep_ms(10);
    assert_int_equal(max_offset(0), 8);
    update_offset(GROUP, 0, 8);
    update_offset(GROUP, 1, 7);

    int r1 = get_count(&c1, &c1.resets), r2 = get_count(&c2, &c2.resets);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "group", GROUP);
    rmq_rem_cmd_set_i64(req, "timestamp", ts_between);
    rmq_rem_cmd_set_bool(req, "isForce", true);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char *s = body_str(resp);
    int64_t offs[2] = {-1, -1};
    assert_int_equal(parse_reset(s, offs), 2);
    assert_int_equal(offs[0], 4);
    assert_int_equal(offs[1], 4);
    free(s);
    rmq_rem_cmd_destroy(resp);

    /* both consumers are told, each in its own body form */
    assert_true(wait_more(&c1, &c1.resets, r1));
    assert_true(wait_more(&c2, &c2.resets, r2));
    pthread_mutex_lock(&c1.mu);
    assert_non_null(strstr(c1.reset_body, "\"offsetTable\":{{"));
    offs[0] = offs[1] = -1;
    assert_int_equal(parse_reset(c1.reset_body, offs), 2);
    char want_ts[32];
    snprintf(want_ts, sizeof want_ts, "%lld", (long long)ts_between);
    assert_string_equal(c1.reset_ts, want_ts);
    pthread_mutex_unlock(&c1.mu);
    assert_int_equal(offs[0], 4);
    assert_int_equal(offs[1], 4);
    pthread_mutex_lock(&c2.mu);
    assert_non_null(strstr(c2.reset_body, "\"offsetTable\":[{"));
    offs[0] = offs[1] = -1;
    assert_int_equal(parse_reset(c2.reset_body, offs), 2);
    pthread_mutex_unlock(&c2.mu);
    assert_int_equal(offs[0], 4);
    assert_int_equal(offs[1], 4);

    /* the group re-reads: the broker stored the reset offsets */
    assert_int_equal(query_offset(GROUP, 0), 4);
    assert_int_equal(query_offset(GROUP, 1), 4);

    /* not forced: only moves back (queue 1 at 3 stays) */
    update_offset(GROUP, 1, 3);
    req = rmq_rem_cmd_new_request(RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "group", GROUP);
    rmq_rem_cmd_set_i64(req, "timestamp", -1); /* to the max offset */
    rmq_rem_cmd_set_bool(req, "isForce", false);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(query_offset(GROUP, 0), 4);
    assert_int_equal(query_offset(GROUP, 1), 3);

    /* a group with offsets but nobody online */
    update_offset("cgOffline", 0, 8);
    update_offset("cgOffline", 1, 8);
    req = rmq_rem_cmd_new_request(RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "group", "cgOffline");
    rmq_rem_cmd_set_i64(req, "timestamp", ts_between);
    rmq_rem_cmd_set_bool(req, "isForce", true);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_CONSUMER_NOT_ONLINE);
    rmq_rem_cmd_destroy(resp);
    /* unknown topic */
    req = rmq_rem_cmd_new_request(RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET);
    rmq_rem_cmd_set(req, "topic", "NoSuchTopic");
    rmq_rem_cmd_set(req, "group", GROUP);
    rmq_rem_cmd_set_i64(req, "timestamp", ts_between);
    rmq_rem_cmd_set_bool(req, "isForce", true);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    rmq_rem_cmd_destroy(resp);
}

/* LOCK_BATCH_MQ / UNLOCK_BATCH_MQ by client id; returns the granted queue ids as a bitmask. */
static int lock(int code, const char *client, int mask) {
    char body[1024];
    int n = snprintf(body, sizeof body, "{\"clientId\":\"%s\",\"consumerGroup\":\"%s\",\"mqSet\":[",
                     client, GROUP);
    bool first = true;
    for (int q = 0; q < 2; q++)
        if (mask & (1 << q)) {
            n += snprintf(body + n, sizeof body - n,
                          "%s{\"brokerName\":\"b\",\"queueId\":%d,\"topic\":\"%s\"}",
                          first ? "" : ",", q, TOPIC);
            first = false;
        }
    snprintf(body + n, sizeof body - n, "]}");
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    int got = 0;
    if (code == RMQ_REQ_LOCK_BATCH_MQ) {
        json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
        assert_non_null(j);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, "lockOKMQSet"), i, e) {
            got |= 1 << json_integer_value(json_object_get(e, "queueId"));
        }
        json_decref(j);
    }
    rmq_rem_cmd_destroy(resp);
    return got;
}

static void test_locks(void **st) {
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c1.id, 1), 1);
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c1.id, 1), 1); /* re-lock refreshes */
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c2.id, 3), 2); /* only queue 1 */
    lock(RMQ_REQ_UNLOCK_BATCH_MQ, c2.id, 1);                    /* not c2's: stays */
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c2.id, 1), 0);
    lock(RMQ_REQ_UNLOCK_BATCH_MQ, c1.id, 1);
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c2.id, 1), 1);
    assert_int_equal(lock(RMQ_REQ_LOCK_BATCH_MQ, c1.id, 3), 0);

    /* CHECK_CLIENT_CONFIG: TAG fine, SQL92 not supported here */
    const char *tag = "{\"clientId\":\"x\",\"group\":\"g\",\"subscriptionData\":{"
                      "\"expressionType\":\"TAG\",\"subString\":\"a||b\",\"topic\":\"T\"}}";
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CHECK_CLIENT_CONFIG);
    rmq_rem_cmd_set_body_copy(req, tag, strlen(tag));
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    const char *sql = "{\"clientId\":\"x\",\"group\":\"g\",\"subscriptionData\":{"
                      "\"expressionType\":\"SQL92\",\"subString\":\"a > 1\",\"topic\":\"T\"}}";
    req = rmq_rem_cmd_new_request(RMQ_REQ_CHECK_CLIENT_CONFIG);
    rmq_rem_cmd_set_body_copy(req, sql, strlen(sql));
    resp = call(req);
    assert_int_not_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);

    /* malformed bodies and headers get an error and the broker serves on */
    struct {
        int code;
        const char *body;
    } bad[] = {
        {RMQ_REQ_HEART_BEAT, "{\"consumerDataSet\":"},
        {RMQ_REQ_HEART_BEAT, NULL},
        {RMQ_REQ_HEART_BEAT, "[1,2]"},
        {RMQ_REQ_HEART_BEAT, "{\"clientID\":\"x\",\"consumerDataSet\":[{\"consumeType\":1}]}"},
        {RMQ_REQ_LOCK_BATCH_MQ, "[]"},
        {RMQ_REQ_LOCK_BATCH_MQ, NULL},
        {RMQ_REQ_UNLOCK_BATCH_MQ, "{\"clientId\":1}"},
        {RMQ_REQ_CHECK_CLIENT_CONFIG, "{{{"},
        {RMQ_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, "{\"retryQueueNums\":1}"},
        {RMQ_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL},
        {RMQ_REQ_GET_CONSUME_STATS, NULL},
        {RMQ_REQ_GET_CONSUMER_LIST_BY_GROUP, NULL},
        {RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET, NULL},
        {RMQ_REQ_QUERY_MESSAGE, NULL},
        {RMQ_REQ_UNREGISTER_CLIENT, NULL},
        {RMQ_REQ_DELETE_SUBSCRIPTIONGROUP, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req = rmq_rem_cmd_new_request(bad[i].code);
        if (bad[i].body) rmq_rem_cmd_set_body_copy(req, bad[i].body, strlen(bad[i].body));
        resp = call(req);
        if (resp->code == RMQ_OK) fail_msg("bad request %zu (code %d) accepted", i, bad[i].code);
        assert_non_null(resp->remark);
        rmq_rem_cmd_destroy(resp);
    }
    expect_members("127.0.0.1@fake1,127.0.0.1@fake2");
}

static void test_leave_and_expire(void **st) {
    /* UNREGISTER_CLIENT: the remaining member is told */
    atomic_store(&c2.keepalive, false);
    rmq_sleep_ms(600); /* let an in-flight keep-alive heartbeat of c2 finish */
    int n1 = get_count(&c1, &c1.notifies);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UNREGISTER_CLIENT);
    rmq_rem_cmd_set(req, "clientID", c2.id);
    rmq_rem_cmd_set(req, "consumerGroup", GROUP);
    rmq_rem_cmd_t *resp = call_on(c2.cl, req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    assert_true(wait_more(&c1, &c1.notifies, n1));
    expect_members(c1.id);

    /* joins again, then its connection closes: told again */
    n1 = get_count(&c1, &c1.notifies);
    heartbeat(&c2, GROUP);
    assert_true(wait_more(&c1, &c1.notifies, n1));
    expect_members("127.0.0.1@fake1,127.0.0.1@fake2");
    n1 = get_count(&c1, &c1.notifies);
    rmq_rem_client_close_addr(c2.cl, br.addr);
    assert_true(wait_more(&c1, &c1.notifies, n1));
    expect_members(c1.id);

    /* a consumer that heartbeats once and then stays silent is dropped after the expiry,
     * while c1 (kept alive) stays */
    n1 = get_count(&c1, &c1.notifies);
    heartbeat(&c3, GROUP);
    assert_true(wait_more(&c1, &c1.notifies, n1));
    expect_members("127.0.0.1@fake1,127.0.0.1@fake3");
    n1 = get_count(&c1, &c1.notifies);
    bool dropped = false;
    for (int i = 0; i < (EXPIRY_MS * 3) / 100 && !dropped; i++) {
        rmq_sleep_ms(100);
        int code;
        char *l = consumer_list(GROUP, &code);
        dropped = code == RMQ_OK && strcmp(l, c1.id) == 0;
        free(l);
    }
    assert_true(dropped);
    assert_true(wait_more(&c1, &c1.notifies, n1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership_and_notify),
        cmocka_unit_test(test_reset_offset),
        cmocka_unit_test(test_locks),
        cmocka_unit_test(test_leave_and_expire),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
