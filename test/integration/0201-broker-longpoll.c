/* 0201: long polling.
 *
 * A pull with the SUSPEND flag on an empty queue is parked; while it is held, other requests on
 * the same connection are answered; a message sent afterwards wakes it and it returns that
 * message well before its suspend timeout (ordering checked, not exact times). A second held
 * pull with a 1 s suspend timeout returns PULL_NOT_FOUND with all four offset fields. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicLP"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rmq_err_t err;
    rmq_rem_cmd_t *resp;
    uint64_t at_ms;
} waiter_t;

static void on_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->resp = resp;
    w->at_ms = rmq_mono_ms();
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static bool is_done(waiter_t *w) {
    pthread_mutex_lock(&w->mu);
    bool d = w->done;
    pthread_mutex_unlock(&w->mu);
    return d;
}

static void wait_done(waiter_t *w, int max_ms) {
    for (int i = 0; i < max_ms / 10 && !is_done(w); i++) rmq_sleep_ms(10);
    assert_true(is_done(w));
    assert_int_equal(w->err, RMQ_OK);
    assert_non_null(w->resp);
}

static void waiter_init(waiter_t *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static int64_t max_offset(rmq_rem_client_t *cl, const char *addr, const char *topic, int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = bt_call(cl, addr, req, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    int64_t off = bt_i64(resp, "offset");
    rmq_rem_cmd_destroy(resp);
    return off;
}

static void test_longpoll(void **state) {
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    rmq_rem_client_t *cl = bt_client();   /* one connection: the held pull and the others */
    rmq_rem_client_t *prod = bt_client(); /* the producer's own connection */
    bt_create_topic(cl, br.addr, TOPIC, 2, 6);

    /* 1. Park a pull on the empty queue 0 (suspend 15 s, as the Java push consumer). */
    waiter_t w1;
    waiter_init(&w1);
    rmq_rem_cmd_t *req = bt_pull_req("cg_lp", TOPIC, 0, 0, 32, BT_PULL_SUSPEND, 15000, "*");
    assert_int_equal(rmq_rem_client_invoke_async(cl, br.addr, req, 30000, on_resp, &w1), RMQ_OK);
    rmq_sleep_ms(300);
    assert_false(is_done(&w1)); /* parked, not answered */

    /* 2. While it is held, the same connection is served. */
    uint64_t t0 = rmq_mono_ms();
    for (int i = 0; i < 5; i++) assert_true(max_offset(cl, br.addr, TOPIC, 0) == 0);
    rmq_rem_cmd_t *r = bt_pull(cl, br.addr, "cg_lp", TOPIC, 1, 0, 32, "*"); /* no suspend */
    assert_int_equal(r->code, RMQ_ERR_PULL_NOT_FOUND);
    rmq_rem_cmd_destroy(r);
    assert_false(is_done(&w1));
    assert_true(rmq_mono_ms() - t0 < 5000);

    /* 3. A message for queue 0 wakes it. */
    char props[256];
    bt_props(props, sizeof props, "k1", "TagA", NULL);
    uint64_t sent_at = rmq_mono_ms();
    r = bt_send(prod, br.addr, TOPIC, 0, "wake-up", 7, props);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    wait_done(&w1, 12000);
    assert_true(w1.at_ms >= sent_at);
    assert_true(w1.at_ms - sent_at < 10000); /* well before the 15 s suspend timeout */
    assert_int_equal(w1.resp->code, 0);
    assert_true(bt_i64(w1.resp, "nextBeginOffset") == 1);
    assert_true(bt_i64(w1.resp, "maxOffset") == 1);
    rmq_msg_rec_t rec;
    assert_true(rmq_msg_rec_decode(w1.resp->body, w1.resp->body_len, true, &rec) > 0);
    assert_int_equal(rec.body_len, 7);
    assert_memory_equal(rec.body, "wake-up", 7);
    rmq_rem_cmd_destroy(w1.resp);

    /* 4. Nothing arrives: a 1 s hold ends with PULL_NOT_FOUND and the four offsets. */
    waiter_t w2;
    waiter_init(&w2);
    req = bt_pull_req("cg_lp", TOPIC, 0, 1, 32, BT_PULL_SUSPEND, 1000, "*");
    uint64_t asked = rmq_mono_ms();
    assert_int_equal(rmq_rem_client_invoke_async(cl, br.addr, req, 30000, on_resp, &w2), RMQ_OK);
    wait_done(&w2, 12000);
    assert_true(w2.at_ms - asked < 10000);
    assert_int_equal(w2.resp->code, RMQ_ERR_PULL_NOT_FOUND);
    assert_true(bt_i64(w2.resp, "nextBeginOffset") == 1);
    assert_true(bt_i64(w2.resp, "minOffset") == 0);
    assert_true(bt_i64(w2.resp, "maxOffset") == 1);
    assert_true(bt_i64(w2.resp, "suggestWhichBrokerId") == 0);
    rmq_rem_cmd_destroy(w2.resp);

    /* 5. A held pull filtered on TagB is not woken by a TagA message, but by a TagB one. */
    waiter_t w3;
    waiter_init(&w3);
    req = bt_pull_req("cg_lp", TOPIC, 1, 0, 32, BT_PULL_SUSPEND, 15000, "TagB");
    assert_int_equal(rmq_rem_client_invoke_async(cl, br.addr, req, 30000, on_resp, &w3), RMQ_OK);
    rmq_sleep_ms(200);
    bt_props(props, sizeof props, "k2", "TagA", NULL);
    r = bt_send(prod, br.addr, TOPIC, 1, "not-me", 6, props);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    rmq_sleep_ms(500);
    assert_false(is_done(&w3));
    bt_props(props, sizeof props, "k3", "TagB", NULL);
    sent_at = rmq_mono_ms();
    r = bt_send(prod, br.addr, TOPIC, 1, "me", 2, props);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    wait_done(&w3, 12000);
    assert_true(w3.at_ms - sent_at < 10000);
    assert_int_equal(w3.resp->code, 0);
    size_t pos = 0;
    int n = 0;
    while (pos < w3.resp->body_len) { /* only the TagB message passes the hash filter */
        int64_t k = rmq_msg_rec_decode(w3.resp->body + pos, w3.resp->body_len - pos, true, &rec);
        assert_true(k > 0);
        pos += (size_t)k;
        n++;
        assert_int_equal(rec.body_len, 2);
    }
    assert_int_equal(n, 1);
    rmq_rem_cmd_destroy(w3.resp);

    /* 6. A pull held at shutdown is answered, and the broker exits 0. */
    waiter_t w4;
    waiter_init(&w4);
    req = bt_pull_req("cg_lp", TOPIC, 0, 1, 32, BT_PULL_SUSPEND, 15000, "*");
    assert_int_equal(rmq_rem_client_invoke_async(cl, br.addr, req, 30000, on_resp, &w4), RMQ_OK);
    rmq_sleep_ms(200);
    assert_false(is_done(&w4));
    bt_stop_clean(&br);
    for (int i = 0; i < 500 && !is_done(&w4); i++) rmq_sleep_ms(10);
    assert_true(is_done(&w4));
    if (w4.err == RMQ_OK) {
        assert_int_equal(w4.resp->code, RMQ_ERR_PULL_NOT_FOUND);
        rmq_rem_cmd_destroy(w4.resp);
    }

    rmq_rem_client_destroy(cl);
    rmq_rem_client_destroy(prod);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_longpoll)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
