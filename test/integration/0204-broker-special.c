/* 0204: the send path's special cases, checked on the stored records.
 *
 * Batch send (one record per item, comma-joined ids, item + batch properties), a delayed
 * message parked in SCHEDULE_TOPIC_XXXX queue level-1 with REAL_TOPIC/REAL_QID (levels clamped),
 * a transaction half message in RMQ_SYS_TRANS_HALF_TOPIC, CONSUMER_SEND_MSG_BACK to the retry
 * topic through the schedule topic (delay 3 + reconsumeTimes) and to the DLQ after
 * maxReconsumeTimes or with a negative delay level, and direct %RETRY% sends past the limit;
 * END_TRANSACTION commit and rollback (delivery of the delayed messages: 0205). The broker
 * registers with both of its NameServers and unregisters from both when stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicSpecial"
#define GROUP "cg_sp"

static rmq_proc_t br;
static rmq_rem_client_t *cl;

/* Long-poll queue (topic, qid) at offset; *rec is the first record, valid while the returned
 * response lives. */
static rmq_rem_cmd_t *pull_at(const char *topic, int qid, int64_t off, rmq_msg_rec_t *rec) {
    rmq_rem_cmd_t *r =
        bt_call(cl, br.addr, bt_pull_req(GROUP, topic, qid, off, 32, BT_PULL_SUSPEND, 3000, "*"),
                BT_TIMEOUT);
    if (r->code != 0)
        fprintf(stderr, "pull %s:%d@%" PRId64 ": %d %s\n", topic, qid, off, r->code,
                r->remark ? r->remark : "");
    assert_int_equal(r->code, 0);
    assert_true(rmq_msg_rec_decode(r->body, r->body_len, true, rec) > 0);
    assert_true(rec->queue_offset == off);
    return r;
}

static void assert_prop(const rmq_msg_rec_t *r, const char *k, const char *want) {
    char v[256];
    bool has = bt_prop(r, k, v, sizeof v);
    if (!want) {
        assert_false(has);
        return;
    }
    if (!has) fprintf(stderr, "property %s missing\n", k);
    assert_true(has);
    assert_string_equal(v, want);
}

static rmq_rem_cmd_t *send_back(int64_t phys, int delay, int max_reconsume) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CONSUMER_SEND_MSG_BACK);
    rmq_rem_cmd_set_i64(req, "offset", phys);
    rmq_rem_cmd_set(req, "group", GROUP);
    rmq_rem_cmd_set_i64(req, "delayLevel", delay);
    rmq_rem_cmd_set(req, "originTopic", TOPIC);
    rmq_rem_cmd_set(req, "unitMode", "false");
    rmq_rem_cmd_set_i64(req, "maxReconsumeTimes", max_reconsume);
    return bt_call(cl, br.addr, req, BT_TIMEOUT);
}

static rmq_rem_cmd_t *end_txn(const char *group, int64_t qoff, int64_t phys, int action) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_END_TRANSACTION);
    rmq_rem_cmd_set(req, "producerGroup", group);
    rmq_rem_cmd_set_i64(req, "tranStateTableOffset", qoff);
    rmq_rem_cmd_set_i64(req, "commitLogOffset", phys);
    rmq_rem_cmd_set_i64(req, "commitOrRollback", action);
    rmq_rem_cmd_set(req, "fromTransactionCheck", "false");
    rmq_rem_cmd_set(req, "msgId", "X");
    return bt_call(cl, br.addr, req, BT_TIMEOUT);
}

static int route_code(const char *ns, const char *topic) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_t *r = bt_call(cl, ns, req, BT_TIMEOUT);
    int code = r->code;
    rmq_rem_cmd_destroy(r);
    return code;
}

static void test_special(void **state) {
    rmq_proc_t ns, ns2;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_start_namesrv(&ns2, NULL), 0);
    char both[160];
    snprintf(both, sizeof both, "%s;%s", ns.addr, ns2.addr);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, both, NULL), 0);
    cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, 2, 6);
    rmq_msg_rec_t rec;
    char props[512], sid[64];

    /* Batch of 3 to queue 1. */
    uint8_t body[512];
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        char b[16], p[64];
        snprintf(b, sizeof b, "batch-%d", i);
        snprintf(p, sizeof p, "UNIQ_KEY\001U%d\002TAGS\001TB", i);
        size_t bl = strlen(b), pl = strlen(p), total = 20 + bl + 2 + pl;
        rmq_put_be32(body + len, (uint32_t)total);
        rmq_put_be32(body + len + 4, 0);
        rmq_put_be32(body + len + 8, 0);
        rmq_put_be32(body + len + 12, (uint32_t)(10 + i));
        rmq_put_be32(body + len + 16, (uint32_t)bl);
        memcpy(body + len + 20, b, bl);
        rmq_put_be16(body + len + 20 + bl, (uint16_t)pl);
        memcpy(body + len + 22 + bl, p, pl);
        len += total;
    }
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_BATCH_MESSAGE);
    rmq_rem_cmd_set(req, "a", "pg");
    rmq_rem_cmd_set(req, "b", TOPIC);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "1");
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", "WAIT\001true");
    rmq_rem_cmd_set(req, "m", "true");
    rmq_rem_cmd_set_body_copy(req, body, len);
    rmq_rem_cmd_t *r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    const char *ids = rmq_rem_cmd_get(r, "msgId");
    assert_non_null(ids);
    assert_int_equal(strlen(ids), 32 * 3 + 2);
    assert_true(bt_i64(r, "queueOffset") == 0);
    assert_true(bt_i64(r, "queueId") == 1);
    rmq_rem_cmd_destroy(r);
    for (int i = 0; i < 3; i++) {
        r = pull_at(TOPIC, 1, i, &rec);
        char want[16];
        snprintf(want, sizeof want, "batch-%d", i);
        assert_int_equal(rec.body_len, (int)strlen(want));
        assert_memory_equal(rec.body, want, strlen(want));
        assert_int_equal(rec.flag, 10 + i);
        snprintf(want, sizeof want, "U%d", i);
        assert_prop(&rec, "UNIQ_KEY", want);
        assert_prop(&rec, "TAGS", "TB");
        assert_prop(&rec, "CLUSTER", "TestCluster");
        assert_prop(&rec, "WAIT", NULL);
        rmq_rem_cmd_destroy(r);
    }

    /* Delayed: level 2 parks in SCHEDULE_TOPIC_XXXX queue 1; level 99 is clamped to 18. */
    bt_props(props, sizeof props, "kd", "TD", "\002DELAY\0012");
    r = bt_send(cl, br.addr, TOPIC, 0, "delayed", 7, props);
    assert_int_equal(r->code, 0);
    assert_true(bt_i64(r, "queueId") == 0); /* the requested queue, not the schedule queue */
    int64_t soff = bt_i64(r, "queueOffset");
    rmq_rem_cmd_destroy(r);
    r = pull_at("SCHEDULE_TOPIC_XXXX", 1, soff, &rec);
    assert_prop(&rec, "REAL_TOPIC", TOPIC);
    assert_prop(&rec, "REAL_QID", "0");
    assert_prop(&rec, "DELAY", "2");
    assert_memory_equal(rec.body, "delayed", 7);
    rmq_rem_cmd_destroy(r);
    bt_props(props, sizeof props, NULL, NULL, "\002DELAY\00199");
    r = bt_send(cl, br.addr, TOPIC, 1, "late", 4, props);
    assert_int_equal(r->code, 0);
    soff = bt_i64(r, "queueOffset");
    rmq_rem_cmd_destroy(r);
    r = pull_at("SCHEDULE_TOPIC_XXXX", 17, soff, &rec);
    assert_prop(&rec, "REAL_QID", "1");
    assert_prop(&rec, "DELAY", "18");
    rmq_rem_cmd_destroy(r);

    /* Transaction half message: stored in the half topic, transaction bits reset. */
    bt_props(props, sizeof props, NULL, NULL, "\002TRAN_MSG\001true\002PGROUP\001pg");
    req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "pg");
    rmq_rem_cmd_set(req, "b", TOPIC);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "1");
    rmq_rem_cmd_set(req, "f", "4"); /* PREPARED */
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", props);
    rmq_rem_cmd_set_body_copy(req, "half", 4);
    r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    assert_non_null(rmq_rem_cmd_get(r, "transactionId"));
    rmq_strlcpy(sid, rmq_rem_cmd_get(r, "msgId"), sizeof sid);
    int64_t half_qoff = bt_i64(r, "queueOffset");
    rmq_rem_cmd_destroy(r);
    rmq_msg_host_t host;
    int64_t phys;
    assert_int_equal(rmq_msg_offset_id_parse(sid, &host, &phys), RMQ_OK);
    req = rmq_rem_cmd_new_request(RMQ_REQ_VIEW_MESSAGE_BY_ID);
    rmq_rem_cmd_set_i64(req, "offset", phys);
    r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    assert_true(rmq_msg_rec_decode(r->body, r->body_len, true, &rec) > 0);
    assert_int_equal(rec.topic_len, (int)strlen("RMQ_SYS_TRANS_HALF_TOPIC"));
    assert_memory_equal(rec.topic, "RMQ_SYS_TRANS_HALF_TOPIC", rec.topic_len);
    assert_int_equal(rec.queue_id, 0);
    assert_int_equal(rec.sysflag & 0xC, 0);
    assert_prop(&rec, "REAL_TOPIC", TOPIC);
    assert_prop(&rec, "REAL_QID", "1");
    rmq_rem_cmd_destroy(r);

    /* END_TRANSACTION: a wrong group is refused; commit puts the message in its real topic and
     * queue (the half's properties verbatim, COMMIT bits, prepared offset = the half's). */
    r = end_txn("wrong_pg", half_qoff, phys, 8);
    assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(r->remark, "producer group"));
    rmq_rem_cmd_destroy(r);
    r = end_txn("pg", half_qoff, phys, 8);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = pull_at(TOPIC, 1, 3, &rec); /* after the batch's 0..2 */
    assert_memory_equal(rec.body, "half", 4);
    assert_int_equal(rec.sysflag & 0xC, 0x8);
    assert_true(rec.prepared_txn_offset == phys);
    assert_prop(&rec, "TRAN_MSG", "true");
    assert_prop(&rec, "REAL_TOPIC", TOPIC);
    rmq_rem_cmd_destroy(r);
    /* A second half rolled back never reaches the topic: the next message there is a plain one. */
    req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "pg");
    rmq_rem_cmd_set(req, "b", TOPIC);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "1");
    rmq_rem_cmd_set(req, "f", "4");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", props);
    rmq_rem_cmd_set_body_copy(req, "half2", 5);
    r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    int64_t half2_qoff = bt_i64(r, "queueOffset");
    assert_int_equal(rmq_msg_offset_id_parse(rmq_rem_cmd_get(r, "msgId"), &host, &phys), RMQ_OK);
    rmq_rem_cmd_destroy(r);
    r = end_txn("pg", half2_qoff, phys, 12);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = bt_send(cl, br.addr, TOPIC, 1, "plain", 5, NULL);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = pull_at(TOPIC, 1, 4, &rec);
    assert_memory_equal(rec.body, "plain", 5);
    rmq_rem_cmd_destroy(r);

    /* CONSUMER_SEND_MSG_BACK: to %RETRY% via the schedule topic with level 3 + reconsumeTimes. */
    bt_props(props, sizeof props, "korig", "TO", NULL);
    r = bt_send(cl, br.addr, TOPIC, 0, "original", 8, props);
    assert_int_equal(r->code, 0);
    int64_t ooff = bt_i64(r, "queueOffset");
    rmq_strlcpy(sid, rmq_rem_cmd_get(r, "msgId"), sizeof sid);
    rmq_rem_cmd_destroy(r);
    r = pull_at(TOPIC, 0, ooff, &rec);
    int64_t ophys = rec.phys_offset;
    rmq_rem_cmd_destroy(r);
    r = send_back(ophys, 0, 16);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = pull_at("SCHEDULE_TOPIC_XXXX", 2, 0, &rec); /* level 3 */
    assert_prop(&rec, "REAL_TOPIC", "%RETRY%" GROUP);
    assert_prop(&rec, "RETRY_TOPIC", TOPIC);
    assert_prop(&rec, "DELAY", "3");
    assert_prop(&rec, "ORIGIN_MESSAGE_ID", sid);
    assert_prop(&rec, "KEYS", "korig");
    assert_int_equal(rec.reconsume_times, 1);
    assert_memory_equal(rec.body, "original", 8);
    rmq_rem_cmd_destroy(r);
    /* maxReconsumeTimes reached, or a negative delay level: the DLQ, no delay. */
    r = send_back(ophys, 0, 0);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = send_back(ophys, -1, 16);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    for (int i = 0; i < 2; i++) {
        r = pull_at("%DLQ%" GROUP, 0, i, &rec);
        assert_prop(&rec, "DELAY", NULL);
        assert_prop(&rec, "RETRY_TOPIC", TOPIC);
        assert_int_equal(rec.reconsume_times, 1);
        rmq_rem_cmd_destroy(r);
    }
    /* Direct sends to %RETRY%: over the limit -> DLQ queue 0. */
    req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "pg");
    rmq_rem_cmd_set(req, "b", "%RETRY%" GROUP);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "0");
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", "RETRY_TOPIC\001" TOPIC "\002DELAY\0015");
    rmq_rem_cmd_set(req, "j", "16");
    rmq_rem_cmd_set(req, "l", "16");
    rmq_rem_cmd_set_body_copy(req, "to-dlq", 6);
    r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    r = pull_at("%DLQ%" GROUP, 0, 2, &rec);
    assert_memory_equal(rec.body, "to-dlq", 6);
    assert_prop(&rec, "DELAY", NULL);
    assert_int_equal(rec.reconsume_times, 16);
    rmq_rem_cmd_destroy(r);

    /* Registered with both NameServers (the topic creation re-registered at once). */
    assert_int_equal(route_code(ns.addr, TOPIC), 0);
    assert_int_equal(route_code(ns2.addr, TOPIC), 0);
    assert_int_equal(route_code(ns2.addr, "TBW102"), 0);
    assert_int_equal(route_code(ns2.addr, "%DLQ%" GROUP), 0);
    /* The fast ("VIP") port, listenPort - 2, serves the same codes (unless it was taken). */
    char fast[64];
    snprintf(fast, sizeof fast, "127.0.0.1:%d", br.port - 2);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -q 'fast port .* unavailable' %s", br.log);
    if (system(cmd) != 0) {
        bt_props(props, sizeof props, "kf", "TF", NULL);
        r = bt_send(cl, fast, TOPIC, 0, "via-fast-port", 13, props);
        assert_int_equal(r->code, 0);
        int64_t foff = bt_i64(r, "queueOffset");
        rmq_rem_cmd_destroy(r);
        r = pull_at(TOPIC, 0, foff, &rec);
        assert_memory_equal(rec.body, "via-fast-port", 13);
        rmq_rem_cmd_destroy(r);
        rmq_rem_client_close_addr(cl, fast);
    }

    /* An ORDER_TOPIC_CONFIG entry on a NameServer makes the topic an order topic on the broker
     * at its next registration (here triggered by a topic update). */
    rmq_rem_cmd_t *kv = rmq_rem_cmd_new_request(RMQ_REQ_PUT_KV_CONFIG);
    rmq_rem_cmd_set(kv, "namespace", "ORDER_TOPIC_CONFIG");
    rmq_rem_cmd_set(kv, "key", TOPIC);
    rmq_rem_cmd_set(kv, "value", "broker-x:2");
    r = bt_call(cl, ns.addr, kv, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    bt_create_topic(cl, br.addr, "TopicOther", 1, 6);
    bool order = false;
    for (int i = 0; i < 100 && !order; i++) {
        r = bt_call(cl, br.addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_ALL_TOPIC_CONFIG), BT_TIMEOUT);
        assert_int_equal(r->code, 0);
        char *text = strndup((const char *)r->body, r->body_len);
        char *p = strstr(text, "\"" TOPIC "\":{");
        assert_non_null(p);
        char *e = strchr(p, '}');
        *e = 0;
        order = strstr(p, "\"order\":true") != NULL;
        free(text);
        rmq_rem_cmd_destroy(r);
        if (!order) rmq_sleep_ms(20);
    }
    assert_true(order);

    bt_stop_clean(&br);
    /* UNREGISTER_BROKER removed this (only) broker and so its topics from both. */
    assert_int_equal(route_code(ns.addr, TOPIC), RMQ_ERR_TOPIC_NOT_EXIST);
    assert_int_equal(route_code(ns2.addr, TOPIC), RMQ_ERR_TOPIC_NOT_EXIST);
    rmq_rem_client_destroy(cl);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_proc_stop(&ns2, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    rmq_rm_rf(ns2.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_special)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
