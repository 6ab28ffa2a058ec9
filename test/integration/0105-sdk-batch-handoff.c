/* librmq against real mqnamesrv + mqbroker: the push consumer hands a whole pull result of a
 * queue to one pool thread, which calls the listener consumeMessageBatchMaxSize messages at a
 * time. Checked here: each call holds at most that many messages of one queue in offset order
 * (and several when the backlog allows it); a RECONSUME_LATER applies to its own call only
 * (batch size 1: only the refused message comes back; batch size 4: the whole call comes back,
 * as Java's ackIndex = -1 for RECONSUME_LATER), nothing else is redelivered; and a consumer
 * destroyed in the middle of a pull result loses nothing: a second consumer of the group gets
 * every message the first did not consume; slow listener calls of different queues run side by
 * side (the pool passes its one wake-up in flight on, it does not serialise them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdk_util.h"

/* Short delay levels so that a RECONSUME_LATER retry comes back in about 2 s. */
#define BROKER_CONF "messageDelayLevel=1s 1s 2s 2s 3s 3s 4s 4s 5s\n"
#define NMSG 200
#define REFUSED 37 /* the id whose first delivery the listener refuses */

static int setup(void **st) {
    return su_start(BROKER_CONF);
}
static int teardown(void **st) {
    su_stop();
    return 0;
}

typedef struct {
    pthread_mutex_t mu;
    int first[NMSG], again[NMSG]; /* deliveries with reconsumeTimes 0 / > 0 */
    bool in_refused_call[NMSG];   /* ids of the listener call that was refused */
    int refused_calls;
    size_t max_n, calls;
    int errors;          /* a call over the batch size, mixing queues or out of order */
    int delay_ms;        /* per call, for the mid-batch destroy */
    atomic_int consumed; /* messages acknowledged (first deliveries) */
    size_t batch;
} bh_t;

static rmq_consume_status_t bh_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                        rmq_msg_t *const *msgs, size_t n, void *op) {
    bh_t *b = op;
    if (b->delay_ms) rmq_sleep_ms((uint64_t)b->delay_ms);
    bool refuse = false;
    pthread_mutex_lock(&b->mu);
    b->calls++;
    if (n > b->max_n) b->max_n = n;
    if (n == 0 || n > b->batch) b->errors++;
    for (size_t i = 0; i < n; i++) {
        if (rmq_msg_queue_id(msgs[i]) != mq->queue_id) b->errors++;
        if (i && rmq_msg_queue_offset(msgs[i]) <= rmq_msg_queue_offset(msgs[i - 1])) b->errors++;
        int id = su_body_id(msgs[i]);
        if (id == REFUSED && rmq_msg_reconsume_times(msgs[i]) == 0 && b->refused_calls == 0)
            refuse = true;
    }
    if (refuse) {
        b->refused_calls++;
        for (size_t i = 0; i < n; i++) {
            int id = su_body_id(msgs[i]);
            if (id >= 0 && id < NMSG) b->in_refused_call[id] = true;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            int id = su_body_id(msgs[i]);
            if (id < 0 || id >= NMSG) continue;
            if (rmq_msg_reconsume_times(msgs[i]) == 0)
                b->first[id]++;
            else
                b->again[id]++;
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (!refuse) atomic_fetch_add(&b->consumed, (int)n);
    return refuse ? RMQ_CONSUME_LATER : RMQ_CONSUME_SUCCESS;
}

static rmq_push_consumer_t *bh_consumer(const char *group, const char *topic, bh_t *b,
                                        const char *batch, const char *threads) {
    rmq_conf_t *c = su_conf(group);
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    su_set(c, "consumeMessageBatchMaxSize", batch);
    su_set(c, "consumeThreadMax", threads);
    su_set(c, "consumeThreadMin", threads);
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    if (!pc) {
        fprintf(stderr, "consumer: %s\n", err);
        return NULL;
    }
    if (rmq_push_consumer_subscribe(pc, topic, "*") ||
        rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, bh_listener, b) ||
        rmq_push_consumer_start(pc)) {
        rmq_push_consumer_destroy(pc);
        return NULL;
    }
    return pc;
}

static void send_all(const char *topic) {
    rmq_producer_t *p = su_producer("pg_batch");
    assert_non_null(p);
    for (int i = 0; i < NMSG; i++) assert_int_equal(su_send_id(p, topic, i, NULL), RMQ_OK);
    rmq_producer_destroy(p);
}

static bool wait_done(bh_t *b, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&b->mu);
        int missing = 0;
        for (int i = 0; i < NMSG; i++)
            if (b->first[i] + b->again[i] == 0) missing++;
        pthread_mutex_unlock(&b->mu);
        if (missing == 0) return true;
        rmq_sleep_ms(100);
    }
    return false;
}

static void run_later(const char *topic, const char *group, size_t batch) {
    send_all(topic); /* all before the consumer starts: pulls return many at once */
    static bh_t b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mu, NULL);
    b.batch = batch;
    char bs[8];
    snprintf(bs, sizeof bs, "%zu", batch);
    rmq_push_consumer_t *pc = bh_consumer(group, topic, &b, bs, "4");
    assert_non_null(pc);
    assert_true(wait_done(&b, 30000));
    rmq_sleep_ms(2500); /* a wrong redelivery would show up now */
    rmq_push_consumer_destroy(pc);
    pthread_mutex_lock(&b.mu);
    fprintf(stderr, "batch %zu: %zu calls, largest %zu\n", batch, b.calls, b.max_n);
    assert_int_equal(b.errors, 0);
    assert_int_equal(b.refused_calls, 1);
    assert_true(b.max_n <= batch);
    if (batch > 1) assert_true(b.max_n > 1); /* the backlog was handed over in batches */
    size_t nref = 0;
    for (int i = 0; i < NMSG; i++) {
        if (b.in_refused_call[i]) {
            nref++;
            /* refused: never acknowledged the first time, back once from the retry topic */
            assert_int_equal(b.first[i], 0);
            assert_int_equal(b.again[i], 1);
        } else {
            assert_int_equal(b.first[i], 1);
            assert_int_equal(b.again[i], 0);
        }
    }
    assert_true(b.in_refused_call[REFUSED]);
    if (batch == 1) assert_int_equal(nref, 1); /* only the refused message is retried */
    assert_true(nref >= 1 && nref <= batch);
    pthread_mutex_unlock(&b.mu);
}

static void test_later_batch1(void **st) {
    run_later("SdkBatch1", "cg_batch1", 1);
}

static void test_later_batch4(void **st) {
    run_later("SdkBatch4", "cg_batch4", 4);
}

/* A consumer destroyed while its pool threads are in the middle of pull results, then a second
 * consumer of the same group: every message reaches one of them. */
static void test_destroy_mid_batch(void **st) {
    send_all("SdkBatchKill");
    static bh_t b1, b2;
    memset(&b1, 0, sizeof b1);
    memset(&b2, 0, sizeof b2);
    pthread_mutex_init(&b1.mu, NULL);
    pthread_mutex_init(&b2.mu, NULL);
    b1.batch = b2.batch = 1;
    b1.delay_ms = 20; /* slow: ~50 a second per thread, so the destroy finds work left */
    b2.first[REFUSED] = b2.again[REFUSED] = 0;
    b1.refused_calls = b2.refused_calls = 1; /* refuse nothing */
    rmq_push_consumer_t *c1 = bh_consumer("cg_batchkill", "SdkBatchKill", &b1, "1", "2");
    assert_non_null(c1);
    uint64_t end = rmq_mono_ms() + 30000;
    while (atomic_load(&b1.consumed) < 20 && rmq_mono_ms() < end) rmq_sleep_ms(5);
    assert_true(atomic_load(&b1.consumed) >= 20);
    rmq_push_consumer_destroy(c1); /* commits only past what was consumed */
    int got1 = atomic_load(&b1.consumed);
    assert_true(got1 < NMSG); /* destroyed mid-way, or the test proves nothing */
    rmq_push_consumer_t *c2 = bh_consumer("cg_batchkill", "SdkBatchKill", &b2, "1", "4");
    assert_non_null(c2);
    end = rmq_mono_ms() + 30000;
    int missing = NMSG;
    while (rmq_mono_ms() < end) {
        missing = 0;
        pthread_mutex_lock(&b2.mu);
        for (int i = 0; i < NMSG; i++)
            if (b1.first[i] == 0 && b2.first[i] == 0) missing++;
        pthread_mutex_unlock(&b2.mu);
        if (missing == 0) break;
        rmq_sleep_ms(100);
    }
    rmq_sleep_ms(500);
    rmq_push_consumer_destroy(c2);
    int dup = 0;
    for (int i = 0; i < NMSG; i++)
        if (b1.first[i] && b2.first[i]) dup++;
    fprintf(stderr, "destroy mid-batch: first consumer %d, second %d, both %d, missing %d\n", got1,
            atomic_load(&b2.consumed), dup, missing);
    assert_int_equal(missing, 0);
    assert_int_equal(b1.errors + b2.errors, 0);
}

/* Pull results of several queues queued while the pool threads sleep: each gets a thread of
 * its own (the pool passes one wake-up on from thread to thread), so slow listener calls run
 * side by side, never one after the other behind a busy thread. */
static atomic_int par_now, par_max, par_calls;

static rmq_consume_status_t par_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                         rmq_msg_t *const *msgs, size_t n, void *op) {
    int now = atomic_fetch_add(&par_now, 1) + 1;
    int m = atomic_load(&par_max);
    while (now > m && !atomic_compare_exchange_weak(&par_max, &m, now)) {
    }
    rmq_sleep_ms(200);
    atomic_fetch_sub(&par_now, 1);
    atomic_fetch_add(&par_calls, 1);
    return RMQ_CONSUME_SUCCESS;
}

static void test_slow_listeners_side_by_side(void **st) {
    send_all("SdkBatchPar"); /* spread over the topic's queues */
    const char *kv[] = {"consumeThreadMin", "4", "consumeThreadMax", "4", NULL};
    rmq_push_consumer_t *pc = su_consumer_fn("cg_batchpar", "SdkBatchPar", "*",
                                             RMQ_LISTEN_CONCURRENTLY, par_listener, NULL, kv);
    assert_non_null(pc);
    uint64_t end = rmq_mono_ms() + 30000;
    while (atomic_load(&par_calls) < 12 && rmq_mono_ms() < end) rmq_sleep_ms(20);
    rmq_push_consumer_destroy(pc);
    fprintf(stderr, "slow listeners: %d calls, at most %d at once\n", atomic_load(&par_calls),
            atomic_load(&par_max));
    assert_true(atomic_load(&par_calls) >= 12);
    assert_true(atomic_load(&par_max) >= 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_later_batch1),
        cmocka_unit_test(test_later_batch4),
        cmocka_unit_test(test_destroy_mid_batch),
        cmocka_unit_test(test_slow_listeners_side_by_side),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
