/* 0104: librmq's rmq_msg_set_deliver_time (TIMER_DELIVER_MS) against a real broker with
 * timerPrecisionMs=100: a push consumer gets every timer message once, never before its
 * deliver time, with its msg id (UNIQ_KEY) as sent; normal messages sent alongside come at
 * once. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sdk_util.h"

#define TOPIC "TopicSdkTimer"
#define N 40
#define NORMAL 10

typedef struct {
    pthread_mutex_t mu;
    int count[N + NORMAL];
    int64_t got_ms[N + NORMAL];
    int64_t store_ms[N + NORMAL];
    char id[N + NORMAL][64];
} rx_t;

static rx_t rx;
static int64_t due[N];
static char sent_id[N + NORMAL][64];

static rmq_consume_status_t on_msgs(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                    rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    (void)op;
    int64_t now = rmq_now_ms();
    pthread_mutex_lock(&rx.mu);
    for (size_t i = 0; i < n; i++) {
        int id = su_body_id(msgs[i]);
        if (id < 0 || id >= N + NORMAL) continue;
        if (rx.count[id]++ == 0) {
            rx.got_ms[id] = now;
            rx.store_ms[id] = rmq_msg_store_ts(msgs[i]);
            rmq_strlcpy(rx.id[id], rmq_msg_id(msgs[i]), sizeof rx.id[id]);
        }
    }
    pthread_mutex_unlock(&rx.mu);
    return RMQ_CONSUME_SUCCESS;
}

static int received(void) {
    pthread_mutex_lock(&rx.mu);
    int k = 0;
    for (int i = 0; i < N + NORMAL; i++) k += rx.count[i] > 0;
    pthread_mutex_unlock(&rx.mu);
    return k;
}

static void test_sdk_timer(void **state) {
    (void)state;
    pthread_mutex_init(&rx.mu, NULL);
    assert_int_equal(su_start("timerPrecisionMs=100\n"), 0);
    rmq_producer_t *p = su_producer("pg_timer");
    assert_non_null(p);
    /* the topic exists before the consumer looks it up */
    rmq_err_t e = RMQ_ERR__NO_ROUTE; /* until the broker's first registration is in */
    for (int k = 0; k < 200 && e == RMQ_ERR__NO_ROUTE; k++) {
        e = su_send_id(p, TOPIC, N, NULL);
        if (e == RMQ_ERR__NO_ROUTE) rmq_sleep_ms(100);
    }
    assert_int_equal(e, RMQ_OK);
    rmq_strlcpy(sent_id[N], "", 1);

    rmq_conf_t *c = su_conf("cg_sdk_timer");
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe(pc, TOPIC, "*"), RMQ_OK);
    assert_int_equal(rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, on_msgs, NULL),
                     RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(pc), RMQ_OK);

    int64_t now = rmq_now_ms();
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "id:%d", i);
        rmq_msg_t *m = rmq_msg_new(TOPIC, "T", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        due[i] = now + 2000 + i * 37;
        assert_int_equal(rmq_msg_set_deliver_time(m, due[i]), RMQ_OK);
        rmq_send_result_t r;
        assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
        assert_int_equal(r.status, RMQ_SEND_OK);
        rmq_strlcpy(sent_id[i], rmq_msg_id(m), sizeof sent_id[i]);
        rmq_msg_destroy(m);
    }
    for (int i = N + 1; i < N + NORMAL; i++)
        assert_int_equal(su_send_id(p, TOPIC, i, NULL), RMQ_OK);

    uint64_t end = rmq_mono_ms() + 60000;
    while (received() < N + NORMAL && rmq_mono_ms() < end) rmq_sleep_ms(100);
    rmq_sleep_ms(1000); /* room for a duplicate to show */
    pthread_mutex_lock(&rx.mu);
    for (int i = 0; i < N + NORMAL; i++) {
        if (rx.count[i] != 1) fprintf(stderr, "id %d received %d times\n", i, rx.count[i]);
        assert_int_equal(rx.count[i], 1);
    }
    for (int i = 0; i < N; i++) {
        if (rx.got_ms[i] < due[i])
            fprintf(stderr, "id %d early by %" PRId64 " ms\n", i, due[i] - rx.got_ms[i]);
        assert_true(rx.got_ms[i] >= due[i]);
        if (sent_id[i][0]) assert_string_equal(rx.id[i], sent_id[i]);
    }
    /* in the topic: timer ones stored at their time, the normal ones at once (the consumer's
     * own start may take longer than the delay on a loaded machine) */
    for (int i = 0; i < N; i++) assert_true(rx.store_ms[i] >= due[i]);
    for (int i = N + 1; i < N + NORMAL; i++) assert_true(rx.store_ms[i] < due[0]);
    pthread_mutex_unlock(&rx.mu);
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
    assert_int_equal(rmq_proc_log_errors(&su_broker), 0);
    su_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sdk_timer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
