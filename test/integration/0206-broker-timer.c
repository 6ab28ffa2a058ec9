/* 0206: 5.x timer messages (broker.md 7.6, broker/timer.c) with raw SEND_MESSAGE_V2 frames whose
 * properties are set as a Java 5.x producer sets them (TIMER_DELAY_SEC, TIMER_DELAY_MS,
 * TIMER_DELIVER_MS), timerPrecisionMs=100, timerMaxDelaySec=60.
 *
 * Each timer message reaches its real topic and queue once, not before its due time and within
 * a generous tolerance, with body, UNIQ_KEY and TIMER_OUT_MS kept and REAL_TOPIC / REAL_QID gone;
 * an already-due one and a normal one are there at once; beyond timerMaxDelaySec and
 * unparsable values are refused with MESSAGE_ILLEGAL naming the limit. Pending timers survive
 * kill -9 and a clean restart (delivered once, not early); GET_BROKER_RUNTIME_INFO counts them in
 * timerBacklog. With timerWheelEnable=false a timer message is refused (SYSTEM_ERROR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicTimer"
#define GROUP "cg_timer"
#define CONF "timerPrecisionMs=100\ntimerMaxDelaySec=60\n"
#define TOLERANCE_MS 3000 /* functional bound on a loaded machine; bench-timer.sh measures */

static rmq_proc_t br, ns;
static rmq_rem_client_t *cl;

typedef struct {
    char uniq[64];
    int64_t due;
} sent_t;

static rmq_rem_cmd_t *send_props(int qid, const char *body, const char *extra, char *uniq) {
    char props[512];
    bt_props(props, sizeof props, NULL, "TT", extra);
    if (uniq) assert_true(rmq_msg_prop_copy(props, strlen(props), "UNIQ_KEY", uniq, 64));
    return bt_send(cl, br.addr, TOPIC, qid, body, strlen(body), props);
}

/* A timer message with property key=value due at due; must be accepted. */
static sent_t send_timer(int qid, const char *body, const char *key, int64_t value, int64_t due) {
    char extra[128];
    snprintf(extra, sizeof extra, "\002%s\001%" PRId64, key, value);
    sent_t s = {.due = due};
    rmq_rem_cmd_t *r = send_props(qid, body, extra, s.uniq);
    if (r->code != 0) fprintf(stderr, "send %s: %d %s\n", body, r->code, r->remark);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    return s;
}

static int64_t max_offset(int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    int64_t v = bt_i64(r, "offset");
    rmq_rem_cmd_destroy(r);
    return v;
}

/* Wait for the message at (qid, off) and check it against s. */
static void expect(int qid, int64_t off, const sent_t *s, const char *body) {
    rmq_rem_cmd_t *r =
        bt_call(cl, br.addr, bt_pull_req(GROUP, TOPIC, qid, off, 1, BT_PULL_SUSPEND, 20000, "*"),
                20000 + BT_TIMEOUT);
    if (r->code != 0) fprintf(stderr, "%s not at %d@%" PRId64 " (%d)\n", body, qid, off, r->code);
    assert_int_equal(r->code, 0);
    int64_t got = rmq_now_ms();
    rmq_msg_rec_t rec;
    assert_true(rmq_msg_rec_decode(r->body, r->body_len, true, &rec) > 0);
    assert_int_equal(rec.body_len, (int)strlen(body));
    assert_memory_equal(rec.body, body, strlen(body));
    assert_int_equal(rec.queue_id, qid);
    char v[128];
    assert_true(bt_prop(&rec, "UNIQ_KEY", v, sizeof v));
    assert_string_equal(v, s->uniq);
    assert_false(bt_prop(&rec, "REAL_TOPIC", v, sizeof v));
    assert_false(bt_prop(&rec, "REAL_QID", v, sizeof v));
    if (s->due > 0) {
        assert_true(bt_prop(&rec, "TIMER_OUT_MS", v, sizeof v));
        assert_true(bt_prop(&rec, "TIMER_DEQUEUE_MS", v, sizeof v));
        /* never early; late only within the functional tolerance */
        if (rec.store_ts < s->due || rec.store_ts > s->due + TOLERANCE_MS)
            fprintf(stderr, "%s stored at due%+" PRId64 " ms\n", body, rec.store_ts - s->due);
        assert_true(rec.store_ts >= s->due);
        assert_true(rec.store_ts <= s->due + TOLERANCE_MS);
        assert_true(got >= s->due);
    }
    rmq_rem_cmd_destroy(r);
}

static int64_t runtime_key(const char *key) {
    rmq_rem_cmd_t *r =
        bt_call(cl, br.addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_RUNTIME_INFO), BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    char *text = strndup((const char *)r->body, r->body_len), pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *p = strstr(text, pat);
    if (!p) fprintf(stderr, "runtime info has no %s: %s\n", key, text);
    assert_non_null(p);
    int64_t v = strtoll(p + strlen(pat), NULL, 10);
    free(text);
    rmq_rem_cmd_destroy(r);
    return v;
}

static void restart(int sig, const char *extra) {
    if (sig == SIGTERM)
        bt_stop_clean(&br);
    else
        rmq_proc_stop(&br, sig);
    rmq_rem_client_close_addr(cl, br.addr);
    assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
}

static void test_timer(void **state) {
    (void)state;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, CONF), 0);
    cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, 2, 6);

    int64_t now = rmq_now_ms();
    sent_t a = send_timer(1, "sec-2", "TIMER_DELAY_SEC", 2, now + 2000);
    sent_t b = send_timer(0, "at-1500", "TIMER_DELIVER_MS", now + 1500, now + 1500);
    sent_t c = send_timer(0, "ms-2500", "TIMER_DELAY_MS", 2500, now + 2500);
    sent_t g = send_timer(1, "sec-9", "TIMER_DELAY_SEC", 9, now + 9000);
    sent_t h = send_timer(1, "sec-4", "TIMER_DELAY_SEC", 4, now + 4000);
    sent_t d = send_timer(1, "past", "TIMER_DELIVER_MS", now - 1000, 0); /* due: at once */
    sent_t n = {0};
    rmq_rem_cmd_t *r = send_props(0, "normal", NULL, n.uniq);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    /* refused: beyond the limit (remark names it), unparsable */
    r = send_props(0, "too-far", "\002TIMER_DELAY_SEC\00161", NULL);
    assert_int_equal(r->code, RMQ_ERR_MESSAGE_ILLEGAL);
    assert_non_null(r->remark);
    assert_non_null(strstr(r->remark, "timerMaxDelaySec=60"));
    rmq_rem_cmd_destroy(r);
    r = send_props(0, "junk", "\002TIMER_DELIVER_MS\001soon", NULL);
    assert_int_equal(r->code, RMQ_ERR_MESSAGE_ILLEGAL);
    rmq_rem_cmd_destroy(r);

    /* the normal and the already-due ones are there at once, nothing else yet */
    expect(0, 0, &n, "normal");
    expect(1, 0, &d, "past");
    assert_int_equal(max_offset(0), 1);
    assert_int_equal(max_offset(1), 1);
    int64_t pending = runtime_key("timerBacklog");
    assert_true(pending >= 1 && pending <= 5);

    expect(0, 1, &b, "at-1500");
    expect(1, 1, &a, "sec-2");
    expect(0, 2, &c, "ms-2500");
    assert_int_equal(runtime_key("timerBacklog"), 2); /* g and h */

    /* kill -9 with h (4 s) and g (9 s) pending: both arrive once, in time, after the restart */
    restart(SIGKILL, CONF);
    expect(1, 2, &h, "sec-4");
    bt_stop_clean(&br);
    rmq_rem_client_close_addr(cl, br.addr);
    assert_int_equal(rmq_start_broker(&br, ns.addr, CONF), 0);
    expect(1, 3, &g, "sec-9");
    rmq_sleep_ms(500);
    assert_int_equal(max_offset(0), 3); /* normal, at-1500, ms-2500: each once */
    assert_int_equal(max_offset(1), 4); /* past, sec-2, sec-4, sec-9 */
    assert_int_equal(runtime_key("timerBacklog"), 0);

    /* a kill -9 right after accepting a burst: all of it delivered, none early, none lost */
    now = rmq_now_ms();
    sent_t burst[50];
    for (int i = 0; i < 50; i++) {
        char body[32];
        snprintf(body, sizeof body, "burst-%d", i);
        burst[i] =
            send_timer(0, body, "TIMER_DELIVER_MS", now + 1500 + i * 20, now + 1500 + i * 20);
    }
    restart(SIGKILL, CONF);
    for (int i = 0; i < 50; i++) {
        char body[32];
        snprintf(body, sizeof body, "burst-%d", i);
        expect(0, 3 + i, &burst[i], body);
    }
    rmq_sleep_ms(500);
    int64_t m0 = max_offset(0);
    if (m0 != 53) fprintf(stderr, "queue 0 holds %" PRId64 " (53 expected)\n", m0);
    assert_int_equal(m0, 53);

    /* timerWheelEnable=false: refused, as RocketMQ 5 does */
    restart(SIGTERM, CONF "timerWheelEnable=false\n");
    r = send_props(0, "off", "\002TIMER_DELAY_SEC\0012", NULL);
    assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(r->remark, "timerWheelEnable"));
    rmq_rem_cmd_destroy(r);
    bt_stop_clean(&br);

    rmq_rem_client_destroy(cl);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_timer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
