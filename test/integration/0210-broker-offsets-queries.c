/* mqbroker's offset and query requests over the wire: QUERY_MESSAGE by key and by unique key,
 * VIEW_MESSAGE_BY_ID with the send response's offset id, GET_MAX/MIN_OFFSET,
 * GET_EARLIEST_MSG_STORETIME, SEARCH_OFFSET_BY_TIMESTAMP between two batches,
 * UPDATE/QUERY_CONSUMER_OFFSET and their persistence across a SIGTERM restart
 * (consumerOffset.json), GET_CONSUME_STATS / GET_TOPIC_STATS_INFO against the offsets,
 * GET_BROKER_RUNTIME_INFO keys, GET_BROKER_CONFIG, QUERY_TOPIC_CONSUME_BY_WHO, bad headers. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fjson.h"
#include "common/msg.h"
#include "common/util.h"
#include "remoting/client.h"
#include "test/integration/harness.h"

#define TOPIC "OffQ"
#define NQ 4

static rmq_proc_t ns, br;
static rmq_rem_client_t *cl;
static int64_t t_start;
static bool keep_dirs; /* a failure worth a look: leave the directories */

static rmq_rem_cmd_t *call(rmq_rem_cmd_t *req) {
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, br.addr, req, 5000, &resp), RMQ_OK);
    assert_non_null(resp);
    return resp;
}

static char *body_str(const rmq_rem_cmd_t *r) {
    char *s = malloc(r->body_len + 1);
    if (r->body_len) memcpy(s, r->body, r->body_len);
    s[r->body_len] = 0;
    return s;
}

static void create_topic(const char *topic, int n) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_AND_CREATE_TOPIC);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set(req, "defaultTopic", "TBW102");
    rmq_rem_cmd_set_i64(req, "readQueueNums", n);
    rmq_rem_cmd_set_i64(req, "writeQueueNums", n);
    rmq_rem_cmd_set_i64(req, "perm", 6);
    rmq_rem_cmd_set(req, "topicFilterType", "SINGLE_TAG");
    rmq_rem_cmd_set_i64(req, "topicSysFlag", 0);
    rmq_rem_cmd_set_bool(req, "order", false);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
}

/* SEND_MESSAGE_V2 of one message; returns the offset msg id in msgid (57 bytes). */
static int64_t send_msg(const char *topic, int qid, const char *key, const char *uniq,
                        const char *body, char *msgid) {
    rmq_buf_t p;
    rmq_buf_init(&p);
    if (key) rmq_msg_prop_append(&p, RMQ_PROP_KEYS, key);
    rmq_msg_prop_append(&p, RMQ_PROP_TAGS, "TagA");
    if (uniq) rmq_msg_prop_append(&p, RMQ_PROP_UNIQ_KEY, uniq);
    rmq_msg_prop_append(&p, RMQ_PROP_WAIT, "true");
    rmq_buf_append_u8(&p, 0);
    char *props = (char *)p.data;
    props[strlen(props) - 1] = 0; /* trim the last separator, as 4.9.1+ Java does */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "pg-test");
    rmq_rem_cmd_set(req, "b", topic);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set_i64(req, "d", 4);
    rmq_rem_cmd_set_i64(req, "e", qid);
    rmq_rem_cmd_set_i64(req, "f", 0);
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set_i64(req, "h", 0);
    rmq_rem_cmd_set(req, "i", props);
    rmq_rem_cmd_set_i64(req, "j", 0);
    rmq_rem_cmd_set_bool(req, "k", false);
    rmq_rem_cmd_set_bool(req, "m", false);
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    rmq_buf_fini(&p);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    const char *id = rmq_rem_cmd_get(resp, "msgId");
    assert_non_null(id);
    if (msgid) rmq_strlcpy(msgid, id, 57);
    int64_t qoff = -1;
    assert_int_equal(rmq_rem_cmd_get_i64(resp, "queueOffset", &qoff), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    return qoff;
}

/* A request with topic/queueId (and one more i64 field); returns the i64 response field. */
static int64_t query_i64(int code, const char *topic, int qid, const char *k, int64_t v,
                         const char *out_key) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    if (k) rmq_rem_cmd_set_i64(req, k, v);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    int64_t out = -2;
    assert_int_equal(rmq_rem_cmd_get_i64(resp, out_key, &out), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    return out;
}

static void wait_max_offset(const char *topic, int qid, int64_t want) {
    for (int i = 0; i < 500; i++) {
        if (query_i64(RMQ_REQ_GET_MAX_OFFSET, topic, qid, NULL, 0, "offset") >= want) return;
        rmq_sleep_ms(10);
    }
    fail_msg("max offset of %s:%d never reached %lld", topic, qid, (long long)want);
}

/* QUERY_MESSAGE; returns the response (caller destroys). */
static rmq_rem_cmd_t *query_msg(const char *key, bool unique) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_MESSAGE);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "key", key);
    rmq_rem_cmd_set_i64(req, "maxNum", 32);
    rmq_rem_cmd_set_i64(req, "beginTimestamp", t_start - 1000);
    rmq_rem_cmd_set_i64(req, "endTimestamp", rmq_now_ms() + 10000);
    rmq_rem_cmd_set(req, "_UNIQUE_KEY_QUERY", unique ? "true" : "false");
    return call(req);
}

static int group_setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns, NULL)) return -1;
    if (rmq_start_broker(&br, ns.addr, "flushConsumerOffsetInterval=1000\n")) return -1;
    rmq_rem_client_cfg_t cfg = {.name = "t0210"};
    if (rmq_rem_client_new(NULL, &cfg, &cl)) return -1;
    t_start = rmq_now_ms();
    return 0;
}

static int group_teardown(void **state) {
    rmq_rem_client_destroy(cl);
    int errs = br.pid ? rmq_proc_log_errors(&br) : 0;
    if (br.pid) rmq_proc_stop(&br, SIGTERM);
    if (ns.pid) rmq_proc_stop(&ns, SIGTERM);
    if (errs == 0 && !keep_dirs) {
        rmq_rm_rf(br.dir);
        rmq_rm_rf(ns.dir);
    } else {
        fprintf(stderr, "broker log with ERROR lines kept in %s\n", br.dir);
    }
    return errs == 0 ? 0 : -1;
}

static void test_query_by_key_and_id(void **st) {
    create_topic(TOPIC, NQ);
    char ids[5][64], uniq[5][40];
    for (int i = 0; i < 5; i++) {
        snprintf(uniq[i], sizeof uniq[i], "UNIQ%028d", i);
        char body[64];
        snprintf(body, sizeof body, "alpha body %d", i);
        send_msg(TOPIC, i % NQ, "k-alpha other", uniq[i], body, ids[i]);
    }
    for (int i = 0; i < 3; i++) send_msg(TOPIC, i % NQ, "k-beta", NULL, "beta", NULL);

    /* the index is built by the dispatcher: wait until the key is found */
    rmq_rem_cmd_t *resp = NULL;
    for (int i = 0; i < 300; i++) {
        resp = query_msg("k-alpha", false);
        if (resp->code == RMQ_OK) {
            size_t n = 0;
            for (size_t off = 0; off < resp->body_len; n++) {
                rmq_msg_rec_t r;
                int64_t sz = rmq_msg_rec_decode(resp->body + off, resp->body_len - off, true, &r);
                if (sz <= 0) break;
                off += (size_t)sz;
            }
            if (n == 5) break;
        }
        rmq_rem_cmd_destroy(resp);
        resp = NULL;
        rmq_sleep_ms(20);
    }
    assert_non_null(resp);
    assert_non_null(rmq_rem_cmd_get(resp, "indexLastUpdateTimestamp"));
    assert_non_null(rmq_rem_cmd_get(resp, "indexLastUpdatePhyoffset"));
    size_t n = 0;
    for (size_t off = 0; off < resp->body_len; n++) {
        rmq_msg_rec_t r;
        int64_t sz = rmq_msg_rec_decode(resp->body + off, resp->body_len - off, true, &r);
        assert_true(sz > 0);
        char keys[64];
        assert_true(
            rmq_msg_prop_copy(r.props, (size_t)r.props_len, RMQ_PROP_KEYS, keys, sizeof keys));
        assert_string_equal(keys, "k-alpha other");
        assert_int_equal(r.topic_len, strlen(TOPIC));
        assert_memory_equal(r.topic, TOPIC, r.topic_len);
        off += (size_t)sz;
    }
    assert_int_equal(n, 5);
    rmq_rem_cmd_destroy(resp);

    /* the second key of a message is indexed too; an unknown key is QUERY_NOT_FOUND */
    resp = query_msg("other", false);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    resp = query_msg("k-gamma", false);
    assert_int_equal(resp->code, RMQ_ERR_QUERY_NOT_FOUND);
    rmq_rem_cmd_destroy(resp);

    /* by unique key */
    resp = query_msg(uniq[3], true);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_msg_rec_t r;
    int64_t sz = rmq_msg_rec_decode(resp->body, resp->body_len, true, &r);
    assert_int_equal(sz, (int64_t)resp->body_len);
    char u[64];
    assert_true(rmq_msg_prop_copy(r.props, (size_t)r.props_len, RMQ_PROP_UNIQ_KEY, u, sizeof u));
    assert_string_equal(u, uniq[3]);
    assert_int_equal(r.body_len, strlen("alpha body 3"));
    assert_memory_equal(r.body, "alpha body 3", r.body_len);
    rmq_rem_cmd_destroy(resp);

    /* VIEW_MESSAGE_BY_ID with the offset id of the send response */
    rmq_msg_host_t host;
    int64_t phys = -1;
    assert_int_equal(rmq_msg_offset_id_parse(ids[2], &host, &phys), RMQ_OK);
    assert_int_equal(host.port, br.port);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_VIEW_MESSAGE_BY_ID);
    rmq_rem_cmd_set_i64(req, "offset", phys);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    sz = rmq_msg_rec_decode(resp->body, resp->body_len, true, &r);
    assert_int_equal(sz, (int64_t)resp->body_len);
    assert_int_equal(r.phys_offset, phys);
    assert_int_equal(r.body_len, strlen("alpha body 2"));
    assert_memory_equal(r.body, "alpha body 2", r.body_len);
    rmq_rem_cmd_destroy(resp);
    /* an offset with no record, and a missing header */
    req = rmq_rem_cmd_new_request(RMQ_REQ_VIEW_MESSAGE_BY_ID);
    rmq_rem_cmd_set_i64(req, "offset", phys + 3);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    rmq_rem_cmd_destroy(resp);
    req = rmq_rem_cmd_new_request(RMQ_REQ_VIEW_MESSAGE_BY_ID);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(resp->remark);
    assert_non_null(strstr(resp->remark, "offset"));
    rmq_rem_cmd_destroy(resp);
}

static void test_offsets_by_time(void **st) {
    /* queue 3 gets batch 1, then (after a pause) batch 2 */
    int64_t base = query_i64(RMQ_REQ_GET_MAX_OFFSET, TOPIC, 3, NULL, 0, "offset");
    for (int i = 0; i < 3; i++) send_msg(TOPIC, 3, "b1", NULL, "batch1", NULL);
    wait_max_offset(TOPIC, 3, base + 3);
    rmq_sleep_ms(600);
    int64_t t = rmq_now_ms();
    rmq_sleep_ms(3); /* batch 2 strictly after t: equal times would match any of its entries */
    int64_t first2 = send_msg(TOPIC, 3, "b2", NULL, "batch2", NULL);
    for (int i = 0; i < 2; i++) send_msg(TOPIC, 3, "b2", NULL, "batch2", NULL);
    assert_int_equal(first2, base + 3);
    wait_max_offset(TOPIC, 3, base + 6);

    assert_int_equal(
        query_i64(RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, TOPIC, 3, "timestamp", t, "offset"), first2);
    assert_int_equal(query_i64(RMQ_REQ_GET_MAX_OFFSET, TOPIC, 3, NULL, 0, "offset"), base + 6);
    assert_int_equal(query_i64(RMQ_REQ_GET_MIN_OFFSET, TOPIC, 3, NULL, 0, "offset"), 0);
    int64_t earliest =
        query_i64(RMQ_REQ_GET_EARLIEST_MSG_STORETIME, TOPIC, 3, NULL, 0, "timestamp");
    assert_true(earliest >= t_start - 1000 && earliest <= t);
    /* unknown queue: 0 */
    assert_int_equal(query_i64(RMQ_REQ_GET_MAX_OFFSET, TOPIC, 9, NULL, 0, "offset"), 0);
    /* non-numeric queueId is named in the error */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "queueId", "x1");
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(resp->remark, "queueId"));
    rmq_rem_cmd_destroy(resp);
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

/* QUERY_CONSUMER_OFFSET: the offset, or -(code) on an error code. */
static int64_t query_offset(const char *group, int qid, const char *zero_if_not_found) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    if (zero_if_not_found) rmq_rem_cmd_set(req, "setZeroIfNotFound", zero_if_not_found);
    rmq_rem_cmd_t *resp = call(req);
    int64_t off = -resp->code;
    if (resp->code == RMQ_OK) assert_int_equal(rmq_rem_cmd_get_i64(resp, "offset", &off), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    return off;
}

static void check_stats(void) {
    int64_t max[NQ];
    for (int q = 0; q < NQ; q++)
        max[q] = query_i64(RMQ_REQ_GET_MAX_OFFSET, TOPIC, q, NULL, 0, "offset");
    /* GET_TOPIC_STATS_INFO */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_TOPIC_STATS_INFO);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char err[128];
    json_t *j = rmq_fjson_parse((const char *)resp->body, resp->body_len, err, sizeof err);
    assert_non_null(j);
    json_t *tbl = json_object_get(j, "offsetTable");
    assert_int_equal(json_object_size(tbl), NQ);
    const char *k;
    json_t *v;
    json_object_foreach(tbl, k, v) {
        char topic[64], broker[64];
        int q;
        assert_true(rmq_fj_mq_from_key(k, topic, sizeof topic, broker, sizeof broker, &q));
        assert_string_equal(topic, TOPIC);
        assert_true(q >= 0 && q < NQ);
        assert_int_equal(json_integer_value(json_object_get(v, "maxOffset")), max[q]);
        assert_int_equal(json_integer_value(json_object_get(v, "minOffset")), 0);
        int64_t last = json_integer_value(json_object_get(v, "lastUpdateTimestamp"));
        assert_true(last >= t_start - 1000);
    }
    json_decref(j);
    rmq_rem_cmd_destroy(resp);
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_TOPIC_STATS_INFO);
    rmq_rem_cmd_set(req, "topic", "NoSuchTopic");
    resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_TOPIC_NOT_EXIST);
    rmq_rem_cmd_destroy(resp);

    /* GET_CONSUME_STATS: every queue of the group's topic, with its offsets */
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUME_STATS);
    rmq_rem_cmd_set(req, "consumerGroup", "g-off");
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    j = rmq_fjson_parse((const char *)resp->body, resp->body_len, err, sizeof err);
    assert_non_null(j);
    assert_non_null(json_object_get(j, "consumeTps"));
    tbl = json_object_get(j, "offsetTable");
    assert_int_equal(json_object_size(tbl), NQ);
    json_object_foreach(tbl, k, v) {
        char topic[64], broker[64];
        int q;
        assert_true(rmq_fj_mq_from_key(k, topic, sizeof topic, broker, sizeof broker, &q));
        assert_string_equal(topic, TOPIC);
        assert_int_equal(json_integer_value(json_object_get(v, "brokerOffset")), max[q]);
        assert_int_equal(json_integer_value(json_object_get(v, "consumerOffset")), q + 1);
        /* store time of message consumerOffset - 1, 0 when there is none */
        int64_t last = json_integer_value(json_object_get(v, "lastTimestamp"));
        if (q + 1 <= max[q])
            assert_true(last >= t_start - 1000);
        else
            assert_int_equal(last, 0);
    }
    json_decref(j);
    rmq_rem_cmd_destroy(resp);

    /* QUERY_TOPIC_CONSUME_BY_WHO names the group */
    req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char *s = body_str(resp);
    assert_non_null(strstr(s, "\"g-off\""));
    free(s);
    rmq_rem_cmd_destroy(resp);
}

static void test_consumer_offsets(void **st) {
    for (int q = 0; q < NQ; q++) update_offset("g-off", q, q + 1);
    for (int q = 0; q < NQ; q++) assert_int_equal(query_offset("g-off", q, NULL), q + 1);
    /* smaller commits are accepted */
    update_offset("g-off", 0, 0);
    assert_int_equal(query_offset("g-off", 0, NULL), 0);
    update_offset("g-off", 0, 1);
    /* 60 messages committed within a minute: consumeTps about 1 */
    update_offset("g-off", 0, 61);
    rmq_rem_cmd_t *sreq = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUME_STATS);
    rmq_rem_cmd_set(sreq, "consumerGroup", "g-off");
    rmq_rem_cmd_set(sreq, "topic", TOPIC);
    rmq_rem_cmd_t *sresp = call(sreq);
    assert_int_equal(sresp->code, RMQ_OK);
    char serr[128];
    json_t *sj = rmq_fjson_parse((const char *)sresp->body, sresp->body_len, serr, sizeof serr);
    assert_non_null(sj);
    double tps = json_number_value(json_object_get(sj, "consumeTps"));
    assert_true(tps > 0.5 && tps < 2.0);
    json_decref(sj);
    rmq_rem_cmd_destroy(sresp);
    update_offset("g-off", 0, 1);
    /* no offset on a young queue: 0 (message 0 still in memory); 5.x flag: not found */
    assert_int_equal(query_offset("g-new", 1, NULL), 0);
    assert_int_equal(query_offset("g-new", 1, "false"), -RMQ_ERR_QUERY_NOT_FOUND);
    /* missing field */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", 0);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(resp->remark, "consumerGroup"));
    rmq_rem_cmd_destroy(resp);

    /* GET_ALL_CONSUMER_OFFSET (fastjson bare keys) */
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ALL_CONSUMER_OFFSET);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char *s = body_str(resp);
    assert_non_null(strstr(s, "\"" TOPIC "@g-off\":{0:1,1:2,2:3,3:4}"));
    free(s);
    rmq_rem_cmd_destroy(resp);

    check_stats();
}

static void test_admin_views(void **st) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_RUNTIME_INFO);
    rmq_rem_cmd_t *resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    assert_non_null(j);
    json_t *t = json_object_get(j, "table");
    const char *keys[] = {"msgPutTotalTodayNow",
                          "msgPutTotalTodayMorning",
                          "msgPutTotalYesterdayMorning",
                          "msgGetTotalTodayNow",
                          "msgGetTotalTodayMorning",
                          "msgGetTotalYesterdayMorning",
                          "putTps",
                          "getTransferedTps",
                          "commitLogMaxOffset",
                          "commitLogMinOffset",
                          "commitLogDiskRatio",
                          "earliestMessageTimeStamp",
                          "brokerVersionDesc",
                          "sendThreadPoolQueueSize",
                          "pullThreadPoolQueueSize",
                          "sendThreadPoolQueueHeadWaitTimeMills",
                          "pullThreadPoolQueueHeadWaitTimeMills",
                          "pageCacheLockTimeMills",
                          "bootTimestamp",
                          "runtime",
                          "dispatchBehindBytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(t, keys[i]);
        if (!json_is_string(v)) fail_msg("runtime info lacks %s", keys[i]);
    }
    int64_t puts = 0, maxoff = 0;
    assert_int_equal(
        rmq_parse_i64(json_string_value(json_object_get(t, "msgPutTotalTodayNow")), &puts), 0);
    assert_true(puts >= 14);
    assert_int_equal(
        rmq_parse_i64(json_string_value(json_object_get(t, "commitLogMaxOffset")), &maxoff), 0);
    assert_true(maxoff > 14 * 100);
    assert_non_null(strchr(json_string_value(json_object_get(t, "putTps")), ' '));
    json_decref(j);
    rmq_rem_cmd_destroy(resp);

    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CONFIG);
    resp = call(req);
    assert_int_equal(resp->code, RMQ_OK);
    char *s = body_str(resp);
    char want[64];
    snprintf(want, sizeof want, "listenPort=%d", br.port);
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "brokerName="));
    free(s);
    rmq_rem_cmd_destroy(resp);
}

/* true once the broker's periodic write (on its thread pool, every flushConsumerOffsetInterval)
 * has put g-off's offsets into consumerOffset.json, before any shutdown write */
static bool offsets_file_has_group(void) {
    char path[600], text[8192];
    snprintf(path, sizeof path, "%s/store/config/consumerOffset.json", br.dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, "@g-off\"") != NULL;
}

static void test_restart_keeps_offsets(void **st) {
    uint64_t t0 = rmq_now_ms();
    while (!offsets_file_has_group() && rmq_now_ms() - t0 < 30000) usleep(100000);
    assert_true(offsets_file_has_group());
    int status = rmq_proc_stop(&br, SIGTERM);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "broker exit status %#x; log %s\n", status, br.log);
        keep_dirs = true;
        fail();
    }
    char path[600];
    snprintf(path, sizeof path, "%s/store/config/consumerOffset.json", br.dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(rmq_start_broker(&br, ns.addr, "flushConsumerOffsetInterval=1000\n"), 0);
    for (int q = 0; q < NQ; q++) assert_int_equal(query_offset("g-off", q, NULL), q + 1);
    check_stats();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_by_key_and_id),   cmocka_unit_test(test_offsets_by_time),
        cmocka_unit_test(test_consumer_offsets),      cmocka_unit_test(test_admin_views),
        cmocka_unit_test(test_restart_keeps_offsets),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
