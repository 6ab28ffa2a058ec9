/* 0205: delayed-message delivery (broker.md 7, ScheduleMessageService).
 *
 * With short levels (messageDelayLevel=1s 2s 4s 5s 6s): messages sent with DELAY=1 and DELAY=2
 * are not in their topic at first, then arrive once each on their original queue with body,
 * KEYS and UNIQ_KEY kept and the schedule properties still on them (RocketMQ keeps DELAY,
 * REAL_TOPIC and REAL_QID in the stored string, 7.5), stored at least one delay after they were
 * born. A SIGTERM restart keeps delayOffset.json: the delivered ones are not delivered again,
 * the pending ones (a DELAY=5 message and a CONSUMER_SEND_MSG_BACK with delayLevel 0, i.e.
 * level 3) arrive after the restart, the send-back in %RETRY%<group> with RETRY_TOPIC and
 * reconsumeTimes 1. GET_ALL_DELAY_OFFSET (45) returns the offset table. Offsets beyond their
 * queue in delayOffset.json are clamped at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicDelay"
#define TOPIC_B "TopicDelayB"
#define GROUP "cg_delay"
#define LEVELS "messageDelayLevel=1s 2s 4s 5s 6s\n"

static rmq_proc_t br;
static rmq_rem_client_t *cl;

/* Long-poll (topic, qid) at off for up to wait_ms; 0 and *rec set (valid while *resp lives) when
 * a record came, else the response code. */
static int pull_one(const char *topic, int qid, int64_t off, int wait_ms, rmq_rem_cmd_t **resp,
                    rmq_msg_rec_t *rec) {
    *resp =
        bt_call(cl, br.addr, bt_pull_req(GROUP, topic, qid, off, 32, BT_PULL_SUSPEND, wait_ms, "*"),
                wait_ms + BT_TIMEOUT);
    int code = (*resp)->code;
    if (code == 0) {
        assert_true(rmq_msg_rec_decode((*resp)->body, (*resp)->body_len, true, rec) > 0);
        assert_true(rec->queue_offset == off);
    }
    return code;
}

/* Nothing at (topic, qid, off) right now (a non-suspended pull). */
static void assert_empty(const char *topic, int qid, int64_t off) {
    rmq_rem_cmd_t *r = bt_pull(cl, br.addr, GROUP, topic, qid, off, 32, "*");
    if (r->code == 0) fprintf(stderr, "unexpected message in %s:%d@%" PRId64 "\n", topic, qid, off);
    assert_int_not_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
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

typedef struct {
    char uniq[64];
    int64_t born;
} sent_t;

static sent_t send_delayed(const char *topic, int qid, const char *body, const char *keys,
                           int level) {
    char props[512], extra[32];
    snprintf(extra, sizeof extra, "\002DELAY\001%d", level);
    bt_props(props, sizeof props, keys, "TD", extra);
    sent_t s;
    s.born = rmq_now_ms();
    rmq_rem_cmd_t *r = bt_send(cl, br.addr, topic, qid, body, strlen(body), props);
    assert_int_equal(r->code, 0);
    assert_true(rmq_msg_prop_copy(props, strlen(props), "UNIQ_KEY", s.uniq, sizeof s.uniq));
    rmq_rem_cmd_destroy(r);
    return s;
}

/* Wait for the delayed message at (topic, qid, off) and check it. */
static void expect_delivered(const char *topic, int qid, int64_t off, const sent_t *s,
                             const char *body, const char *keys, int level, int64_t delay_ms) {
    rmq_rem_cmd_t *r;
    rmq_msg_rec_t rec;
    int code = pull_one(topic, qid, off, 15000, &r, &rec);
    if (code != 0) fprintf(stderr, "%s:%d@%" PRId64 " not delivered (%d)\n", topic, qid, off, code);
    assert_int_equal(code, 0);
    assert_int_equal(rec.topic_len, (int)strlen(topic));
    assert_memory_equal(rec.topic, topic, strlen(topic));
    assert_int_equal(rec.queue_id, qid);
    assert_int_equal(rec.body_len, (int)strlen(body));
    assert_memory_equal(rec.body, body, strlen(body));
    assert_prop(&rec, "UNIQ_KEY", s->uniq);
    assert_prop(&rec, "KEYS", keys);
    assert_prop(&rec, "TAGS", "TD");
    char lv[16], q[16];
    snprintf(lv, sizeof lv, "%d", level);
    snprintf(q, sizeof q, "%d", qid);
    /* RocketMQ's stored string: the schedule properties stay (broker.md 7.3, 7.5). */
    assert_prop(&rec, "DELAY", lv);
    assert_prop(&rec, "REAL_TOPIC", topic);
    assert_prop(&rec, "REAL_QID", q);
    assert_true(rec.born_ts >= s->born && rec.born_ts < s->born + 5000); /* born kept */
    /* Not before its time: re-stored at least one delay after it was first stored. */
    assert_true(rec.store_ts >= s->born + delay_ms);
    assert_int_equal(rec.reconsume_times, 0);
    rmq_rem_cmd_destroy(r);
}

static int64_t max_offset(const char *topic, int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    int64_t v = bt_i64(r, "offset");
    rmq_rem_cmd_destroy(r);
    return v;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_delay(void **state) {
    rmq_proc_t ns;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, LEVELS), 0);
    cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, 2, 6);
    bt_create_topic(cl, br.addr, TOPIC_B, 1, 6);

    /* The send-back's original, consumed "normally" first. */
    char props[512];
    bt_props(props, sizeof props, "korig", "TO", NULL);
    rmq_rem_cmd_t *r = bt_send(cl, br.addr, TOPIC_B, 0, "original", 8, props);
    assert_int_equal(r->code, 0);
    char orig_id[64];
    rmq_strlcpy(orig_id, rmq_rem_cmd_get(r, "msgId"), sizeof orig_id);
    rmq_rem_cmd_destroy(r);
    rmq_msg_rec_t rec;
    assert_int_equal(pull_one(TOPIC_B, 0, 0, 3000, &r, &rec), 0);
    int64_t ophys = rec.phys_offset;
    rmq_rem_cmd_destroy(r);

    sent_t a = send_delayed(TOPIC, 1, "delayed-1s", "ka", 1);
    sent_t b = send_delayed(TOPIC, 0, "delayed-2s", "kb", 2);
    sent_t c = send_delayed(TOPIC, 0, "delayed-6s", "kc", 5);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CONSUMER_SEND_MSG_BACK);
    rmq_rem_cmd_set_i64(req, "offset", ophys);
    rmq_rem_cmd_set(req, "group", GROUP);
    rmq_rem_cmd_set_i64(req, "delayLevel", 0);
    rmq_rem_cmd_set(req, "originMsgId", orig_id);
    rmq_rem_cmd_set(req, "originTopic", TOPIC_B);
    rmq_rem_cmd_set(req, "unitMode", "false");
    rmq_rem_cmd_set_i64(req, "maxReconsumeTimes", 16);
    int64_t back_ms = rmq_now_ms();
    r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);

    /* Not in the real topic yet (the shortest delay is 1 s, the first run 1 s after start). */
    assert_empty(TOPIC, 0, 0);
    assert_empty(TOPIC, 1, 0);
    assert_empty("%RETRY%" GROUP, 0, 0);

    expect_delivered(TOPIC, 1, 0, &a, "delayed-1s", "ka", 1, 1000);
    expect_delivered(TOPIC, 0, 0, &b, "delayed-2s", "kb", 2, 2000);

    /* GET_ALL_DELAY_OFFSET: levels 1 and 2 have moved past their message. */
    r = bt_call(cl, br.addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_ALL_DELAY_OFFSET), BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    char *text = strndup((const char *)r->body, r->body_len);
    assert_non_null(strstr(text, "\"offsetTable\":{1:1,2:1,"));
    free(text);
    rmq_rem_cmd_destroy(r);

    /* Restart before the DELAY=5 message (6 s) is due. */
    bt_stop_clean(&br);
    rmq_rem_client_close_addr(cl, br.addr);
    char path[600];
    snprintf(path, sizeof path, "%s/store/config/delayOffset.json", br.dir);
    text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"offsetTable\":{1:1,2:1,"));
    free(text);
    assert_int_equal(rmq_start_broker(&br, ns.addr, LEVELS), 0);

    expect_delivered(TOPIC, 0, 1, &c, "delayed-6s", "kc", 5, 6000);
    /* The send-back: %RETRY%<group>, RETRY_TOPIC = its topic, reconsumeTimes 1, after level 3. */
    assert_int_equal(pull_one("%RETRY%" GROUP, 0, 0, 15000, &r, &rec), 0);
    assert_memory_equal(rec.body, "original", 8);
    assert_prop(&rec, "RETRY_TOPIC", TOPIC_B);
    assert_prop(&rec, "KEYS", "korig");
    assert_prop(&rec, "ORIGIN_MESSAGE_ID", orig_id);
    assert_prop(&rec, "DELAY", "3");
    assert_int_equal(rec.reconsume_times, 1);
    assert_true(rec.store_ts >= back_ms + 4000);
    rmq_rem_cmd_destroy(r);

    /* Exactly once each, also across the restart: let every level run a few more times. */
    rmq_sleep_ms(500);
    assert_true(max_offset(TOPIC, 0) == 2);
    assert_true(max_offset(TOPIC, 1) == 1);
    assert_true(max_offset("%RETRY%" GROUP, 0) == 1);
    assert_empty(TOPIC, 0, 2);
    assert_empty(TOPIC, 1, 1);

    bt_stop_clean(&br);
    rmq_rem_client_close_addr(cl, br.addr);
    text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"offsetTable\":{1:1,2:1,3:1,4:0,5:1"));
    free(text);

    /* Offsets past the end of their schedule queue (a foreign or stale file) are clamped at
     * load, not trusted: level 1 back to 1, and nothing is delivered again. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"offsetTable\":{\"1\":999,2:1,3:1,5:1,9:4}}", f);
    fclose(f);
    assert_int_equal(rmq_start_broker(&br, ns.addr, LEVELS), 0);
    rmq_sleep_ms(1500); /* past the first run of every level */
    assert_true(max_offset(TOPIC, 0) == 2);
    assert_true(max_offset(TOPIC, 1) == 1);
    bt_stop_clean(&br);
    rmq_rem_client_close_addr(cl, br.addr);
    text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"offsetTable\":{1:1,2:1,3:1,4:0,5:1\n"));
    free(text);
    rmq_rem_client_destroy(cl);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_delay)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
