/* librmq against real mqnamesrv + mqbroker: the consume pool keeps only about as many threads
 * running as there are CPUs while tasks are short, and adds threads when the queue's head waits
 * (consume_service.c). Checked here: two listener calls that block for seconds do not hold up
 * the other queued tasks (everything else is consumed while they block, whatever the CPU
 * count); many short tasks (small pulls) with listener calls of mixed length on 20 threads are
 * each consumed exactly once, none lost or stalled in a hand-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdk_util.h"

#define NMSG 3000
#define NBLOCK 2       /* listener calls that block */
#define BLOCK_MS 5000  /* each */
#define PULL_BATCH "8" /* small pulls: many tasks */
#define MAX_PER_TASK 8

static int setup(void **st) {
    return su_start(NULL);
}
static int teardown(void **st) {
    su_stop();
    return 0;
}

typedef struct {
    pthread_mutex_t mu;
    int count[NMSG];
    int bad;            /* ids out of range or redelivered */
    int blocked;        /* calls that blocked so far */
    int at_unblock;     /* messages consumed when the first blocked call returned, -1 not yet */
    atomic_int running; /* listener calls in progress */
    int max_running;
    unsigned calls;
    bool mixed; /* short test: every 40th call sleeps 1-3 ms */
} pb_t;

static void pb_init(pb_t *b) {
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->at_unblock = -1;
}

static int pb_total(pb_t *b) { /* mu held */
    int n = 0;
    for (int i = 0; i < NMSG; i++) n += b->count[i];
    return n;
}

static rmq_consume_status_t pb_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                        rmq_msg_t *const *msgs, size_t n, void *op) {
    pb_t *b = op;
    int now = atomic_fetch_add(&b->running, 1) + 1;
    pthread_mutex_lock(&b->mu);
    if (now > b->max_running) b->max_running = now;
    unsigned call = b->calls++;
    bool block = !b->mixed && b->blocked < NBLOCK && call % 97 == 5;
    if (block) b->blocked++;
    pthread_mutex_unlock(&b->mu);
    if (block) {
        rmq_sleep_ms(BLOCK_MS);
        pthread_mutex_lock(&b->mu);
        if (b->at_unblock < 0) b->at_unblock = pb_total(b);
        pthread_mutex_unlock(&b->mu);
    } else if (b->mixed && call % 40 == 7) {
        rmq_sleep_ms(1 + call % 3);
    }
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < n; i++) {
        int id = su_body_id(msgs[i]);
        if (id < 0 || id >= NMSG || rmq_msg_reconsume_times(msgs[i]) != 0)
            b->bad++;
        else
            b->count[id]++;
    }
    pthread_mutex_unlock(&b->mu);
    atomic_fetch_sub(&b->running, 1);
    return RMQ_CONSUME_SUCCESS;
}

static void send_all(const char *topic) {
    rmq_producer_t *p = su_producer("pg_pool");
    assert_non_null(p);
    for (int i = 0; i < NMSG; i++) assert_int_equal(su_send_id(p, topic, i, NULL), RMQ_OK);
    rmq_producer_destroy(p);
}

/* Wait until every id was consumed; the number missing at the end. */
static int wait_all(pb_t *b, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    int missing = NMSG;
    while (rmq_mono_ms() < end) {
        missing = 0;
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < NMSG; i++)
            if (b->count[i] == 0) missing++;
        pthread_mutex_unlock(&b->mu);
        if (missing == 0) break;
        rmq_sleep_ms(50);
    }
    return missing;
}

static void check_once(pb_t *b, int missing) {
    int dup = 0;
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < NMSG; i++)
        if (b->count[i] > 1) dup++;
    fprintf(stderr, "%u calls, at most %d at once, missing %d, twice %d, bad %d\n", b->calls,
            b->max_running, missing, dup, b->bad);
    pthread_mutex_unlock(&b->mu);
    assert_int_equal(missing, 0);
    assert_int_equal(dup, 0);
    assert_int_equal(b->bad, 0);
}

/* Two listener calls block for 5 s each on a pool of 4 threads: while they block, the other
 * threads consume everything but the messages of the two blocked tasks. */
static void test_blocked_listeners_do_not_stall(void **st) {
    send_all("SdkPoolBlock"); /* all before the consumer starts: a backlog on every queue */
    static pb_t b;
    pb_init(&b);
    const char *kv[] = {"consumeThreadMin",
                        "4",
                        "consumeThreadMax",
                        "4",
                        "pullBatchSize",
                        PULL_BATCH,
                        "pullThresholdForQueue",
                        "10000",
                        NULL};
    rmq_push_consumer_t *pc = su_consumer_fn("cg_poolblock", "SdkPoolBlock", "*",
                                             RMQ_LISTEN_CONCURRENTLY, pb_listener, &b, kv);
    assert_non_null(pc);
    int missing = wait_all(&b, 60000);
    rmq_sleep_ms(1000); /* a redelivery would show up now */
    rmq_push_consumer_destroy(pc);
    pthread_mutex_lock(&b.mu);
    fprintf(stderr, "blocked %d calls; consumed %d of %d when the first returned\n", b.blocked,
            b.at_unblock, NMSG);
    assert_int_equal(b.blocked, NBLOCK);
    /* the blocked calls' own tasks (a pull result each) wait for them; nothing else did */
    assert_true(b.at_unblock >= NMSG - NBLOCK * MAX_PER_TASK);
    assert_true(b.max_running >= NBLOCK + 1);
    pthread_mutex_unlock(&b.mu);
    check_once(&b, missing);
}

/* Many short tasks (8-message pulls) on 20 threads, some listener calls a few ms long so that
 * the pool grows and shrinks: every message once, none lost in a hand-off. */
static void test_short_tasks_exactly_once(void **st) {
    send_all("SdkPoolShort");
    static pb_t b;
    pb_init(&b);
    b.mixed = true;
    const char *kv[] = {"consumeThreadMin", "20", "consumeThreadMax", "20", "pullBatchSize",
                        PULL_BATCH,         NULL};
    rmq_push_consumer_t *pc = su_consumer_fn("cg_poolshort", "SdkPoolShort", "*",
                                             RMQ_LISTEN_CONCURRENTLY, pb_listener, &b, kv);
    assert_non_null(pc);
    int missing = wait_all(&b, 60000);
    rmq_sleep_ms(1000);
    rmq_push_consumer_destroy(pc);
    check_once(&b, missing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_listeners_do_not_stall),
        cmocka_unit_test(test_short_tasks_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
