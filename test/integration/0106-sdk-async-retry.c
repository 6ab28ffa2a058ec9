/* librmq against two real brokers: an async send whose broker is gone is retried on the other
 * one (retryTimesWhenSendAsyncFailed), and the message stored there is byte for byte the one
 * sent. The async path encodes each request once into its record and keeps the body only
 * inside that frame, so a retry re-encodes from the previous frame: this checks that path
 * with plain bodies and with bodies over compressMsgBodyOverHowmuch (compressed once, sent
 * compressed twice, read back inflated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_util.h"
#include "sdk_util.h"

#define TOPIC "AsyncRetryTopic"
#define NQ 4
#define NMSG 40

static rmq_proc_t other; /* the broker that is killed */

static int setup(void **st) {
    if (su_start(NULL)) return -1;
    memset(&other, 0, sizeof other);
    /* a name of another length: a retry's header differs in size from the first one's */
    return rmq_start_broker(&other, su_ns.addr, "brokerName=b\n");
}

static int teardown(void **st) {
    if (other.pid) rmq_proc_stop(&other, SIGTERM);
    if (other.dir[0]) rmq_rm_rf(other.dir);
    su_stop();
    return 0;
}

static atomic_int retries;
static void count_retries(int lvl, const char *ln, void *op) {
    if (strstr(ln, "retrying")) atomic_fetch_add(&retries, 1);
    if (lvl <= 1 && !strstr(ln, "retrying")) fprintf(stderr, "[sdk] %s\n", ln);
}

typedef struct {
    _Atomic int done;
    rmq_err_t err;
    rmq_send_result_t r;
} out_t;

static void on_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    out_t *o = op;
    o->err = e;
    if (r) o->r = *r;
    atomic_store(&o->done, 1);
}

/* Body i: its id, then a pattern; every other one is large enough to be compressed. */
static size_t make_body(int i, uint8_t *b, size_t cap) {
    size_t n = i % 2 ? 6000 : 1100;
    assert_true(n <= cap);
    int h = snprintf((char *)b, cap, "id:%d:", i);
    for (size_t k = (size_t)h; k < n; k++) b[k] = (uint8_t)('a' + (k * 7 + (size_t)i) % 26);
    return n;
}

static void test_async_retry(void **st) {
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, su_broker.addr, TOPIC, NQ, 6);
    bt_create_topic(cl, other.addr, TOPIC, NQ, 6);
    rmq_rem_client_destroy(cl);

    rmq_conf_t *conf = su_conf("asyncRetryPG");
    rmq_conf_set_log_cb(conf, count_retries, NULL);
    su_set(conf, "retryTimesWhenSendAsyncFailed", "2");
    char err[256];
    rmq_producer_t *p = rmq_producer_new(conf, err, sizeof err);
    assert_non_null(p);

    /* until the route has both brokers and each took a message */
    char name_a[64] = "", name_b[64] = "";
    uint8_t body[8192];
    for (int i = 0; i < 600 && !(name_a[0] && name_b[0]); i++) {
        size_t n = make_body(0, body, sizeof body);
        rmq_msg_t *m = rmq_msg_new(TOPIC, NULL, NULL, body, n, 0);
        rmq_send_result_t r;
        if (rmq_send_sync(p, m, &r) == RMQ_OK) {
            char *dst = strcmp(r.mq.broker, name_a) == 0 || !name_a[0] ? name_a : name_b;
            snprintf(dst, 64, "%s", r.mq.broker);
        } else {
            rmq_sleep_ms(50);
        }
        rmq_msg_destroy(m);
    }
    assert_true(name_a[0] && name_b[0]);
    /* which name is the broker that stays */
    char stays[64];
    snprintf(stays, sizeof stays, "broker-%d", su_broker.port);
    assert_true(strcmp(name_a, stays) == 0 || strcmp(name_b, stays) == 0);

    assert_true(rmq_proc_stop(&other, SIGKILL) != -1);

    static out_t outs[NMSG];
    static uint8_t bodies[NMSG][8192];
    size_t lens[NMSG];
    for (int i = 0; i < NMSG; i++) {
        lens[i] = make_body(i, bodies[i], sizeof bodies[i]);
        rmq_msg_t *m = rmq_msg_new(TOPIC, "t", NULL, bodies[i], lens[i], 0);
        atomic_init(&outs[i].done, 0);
        assert_int_equal(rmq_send_async(p, m, on_sent, &outs[i]), RMQ_OK);
        rmq_msg_destroy(m); /* the async record keeps what it needs */
    }
    for (int i = 0; i < NMSG; i++) {
        for (int w = 0; w < 3000 && !atomic_load(&outs[i].done); w++) rmq_sleep_ms(10);
        assert_true(atomic_load(&outs[i].done));
        assert_int_equal(outs[i].err, RMQ_OK);
        assert_string_equal(outs[i].r.mq.broker, stays);
    }
    /* round robin over both brokers' queues: some sends went to the dead one first */
    fprintf(stderr, "%d of %d async sends were retried\n", atomic_load(&retries), NMSG);
    assert_true(atomic_load(&retries) >= 1);
    rmq_producer_destroy(p);

    rmq_pull_consumer_t *c = rmq_pull_consumer_new(su_conf("asyncRetryCG"), err, sizeof err);
    assert_non_null(c);
    for (int i = 0; i < NMSG; i++) {
        rmq_pull_result_t *pr = NULL;
        assert_int_equal(rmq_pull(c, &outs[i].r.mq, "*", outs[i].r.offset, 1, 5000, &pr), RMQ_OK);
        assert_int_equal(pr->status, RMQ_PULL_FOUND);
        size_t len;
        const void *b = rmq_msg_body(pr->msgs[0], &len);
        assert_int_equal(len, lens[i]);
        assert_memory_equal(b, bodies[i], lens[i]);
        rmq_pull_result_destroy(pr);
    }
    rmq_pull_consumer_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_async_retry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
