/* librmq against real mqnamesrv + mqbroker: the push consumer keeps speculative pulls in flight
 * ahead of the next one while a concurrently consumed queue has a backlog (client/push_consumer.c,
 * "Pipelined pulls"). Checked here, with one consume thread so that listener calls run in the
 * order pull results were applied: every queue's offsets reach the listener strictly increasing,
 * without a gap and without a duplicate, and the committed offsets add up to what was consumed,
 *  - on a backlog of small messages with a large one now and then: the broker's byte limit
 *    (maxTransferBytesOnMessageInMemory, lowered here) cuts those batches short, so the
 *    speculative pulls sent ahead of them start at the wrong offsets and must be dropped;
 *  - with a tag subscription over runs of another tag (the broker skips entries, so results
 *    end where the guess did not);
 *  - while a second consumer joins the group mid-drain (queues move, stale pulls of dropped
 *    queues must be ignored): nothing is lost and neither consumer sees a queue go backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdk_util.h"

#define BROKER_CONF "maxTransferBytesOnMessageInMemory=16384\n"
#define NMSG 6000
#define NQ 64

static int setup(void **st) {
    return su_start(BROKER_CONF);
}
static int teardown(void **st) {
    su_stop();
    return 0;
}

/* What one consumer saw: per queue the next offset expected (-1 before the first). */
typedef struct {
    pthread_mutex_t mu;
    int64_t next[NQ];
    int64_t count[NQ];
    int gaps, dups, backwards, other_tag;
    atomic_int total;
    int *seen; /* deliveries per id (shared by the consumers of a test) */
    int delay_us;
} pp_t;

static void pp_init(pp_t *p, int *seen) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    for (int q = 0; q < NQ; q++) p->next[q] = -1;
    p->seen = seen;
}

static int body_id(const rmq_msg_t *m) {
    size_t l;
    const char *b = rmq_msg_body(m, &l);
    if (!b || l < 4 || strncmp(b, "id:", 3) != 0) return -1;
    int id = 0;
    for (size_t i = 3; i < l && b[i] >= '0' && b[i] <= '9'; i++) id = id * 10 + (b[i] - '0');
    return id < NMSG ? id : -1;
}

static rmq_consume_status_t pp_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                        rmq_msg_t *const *msgs, size_t n, void *op) {
    pp_t *p = op;
    if (strncmp(mq->topic, "%RETRY%", 7) == 0) return RMQ_CONSUME_SUCCESS;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        int q = rmq_msg_queue_id(msgs[i]);
        int64_t off = rmq_msg_queue_offset(msgs[i]);
        const char *tags = rmq_msg_tags(msgs[i]);
        if (tags && strcmp(tags, "B") == 0) p->other_tag++;
        if (q < 0 || q >= NQ) continue;
        if (p->next[q] >= 0) {
            if (off < p->next[q]) {
                if (off == p->next[q] - 1)
                    p->dups++;
                else
                    p->backwards++;
            } else if (off > p->next[q] && !tags) {
                p->gaps++; /* untagged topic: every offset is for us */
            }
        }
        if (off >= p->next[q]) p->next[q] = off + 1;
        p->count[q]++;
        int id = body_id(msgs[i]);
        if (id >= 0) __atomic_fetch_add(&p->seen[id], 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->total, (int)n);
    if (p->delay_us) usleep((useconds_t)p->delay_us);
    return RMQ_CONSUME_SUCCESS;
}

/* NMSG messages; every 97th carries 12 KiB of incompressible padding; tag: NULL, or "A" with
 * runs of "B" (ids whose hundreds digit is 3 or 7). */
static void send_backlog(const char *topic, bool tagged) {
    rmq_conf_t *c = su_conf("pg_pipe");
    char err[256];
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    assert_non_null(p);
    static char body[12400];
    uint32_t x = 12345;
    for (int i = 0; i < NMSG; i++) {
        int len = snprintf(body, sizeof body, "id:%d;", i);
        if (i % 97 == 5) {
            for (int k = len; k < 12288; k++) {
                x = x * 1103515245u + 12345u;
                body[k] = (char)(x >> 16);
            }
            len = 12288;
        }
        const char *tag = NULL;
        if (tagged) tag = ((i / 100) % 10 == 3 || (i / 100) % 10 == 7) ? "B" : "A";
        rmq_msg_t *m = rmq_msg_new(topic, tag, NULL, body, (size_t)len, RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
        rmq_msg_destroy(m);
    }
    rmq_producer_destroy(p);
}

static rmq_push_consumer_t *pp_consumer(const char *group, const char *topic, const char *tags,
                                        pp_t *p) {
    const char *kv[] = {"consumeThreadMin",
                        "1",
                        "consumeThreadMax",
                        "1",
                        "consumeMessageBatchMaxSize",
                        "32",
                        "persistConsumerOffsetInterval",
                        "500",
                        NULL};
    return su_consumer_fn(group, topic, tags, RMQ_LISTEN_CONCURRENTLY, pp_listener, p, kv);
}

static bool wait_ids(const int *seen, int want, const bool *skip, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    int missing = 0;
    while (rmq_mono_ms() < end) {
        missing = 0;
        for (int i = 0; i < NMSG; i++)
            if (!(skip && skip[i]) && __atomic_load_n(&seen[i], __ATOMIC_RELAXED) < want) missing++;
        if (missing == 0) return true;
        rmq_sleep_ms(100);
    }
    fprintf(stderr, "%d ids missing\n", missing);
    return false;
}

/* The group's committed offsets of topic, summed over its queues. */
static int64_t committed_sum(const char *group, const char *topic) {
    char err[256];
    rmq_pull_consumer_t *pc = rmq_pull_consumer_new(su_conf(group), err, sizeof err);
    assert_non_null(pc);
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    assert_int_equal(rmq_fetch_queues(pc, topic, &mqs, &n), RMQ_OK);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t off = -1;
        assert_int_equal(rmq_fetch_offset(pc, &mqs[i], &off), RMQ_OK);
        sum += off;
    }
    free(mqs);
    rmq_pull_consumer_destroy(pc);
    return sum;
}

static void run_drain(const char *topic, const char *group, bool tagged) {
    send_backlog(topic, tagged);
    static int seen[NMSG];
    static bool skip[NMSG];
    memset(seen, 0, sizeof seen);
    int want = 0;
    for (int i = 0; i < NMSG; i++) {
        skip[i] = tagged && ((i / 100) % 10 == 3 || (i / 100) % 10 == 7);
        if (!skip[i]) want++;
    }
    static pp_t p;
    pp_init(&p, seen);
    rmq_push_consumer_t *pc = pp_consumer(group, topic, tagged ? "A" : "*", &p);
    assert_non_null(pc);
    assert_true(wait_ids(seen, 1, skip, 60000));
    rmq_sleep_ms(1000);            /* a duplicate would show up now */
    rmq_push_consumer_destroy(pc); /* commits the final offsets */
    int nq = 0;
    for (int q = 0; q < NQ; q++) nq += p.count[q] > 0;
    fprintf(stderr, "%s: %d delivered of %d over %d queues; gaps %d dups %d backwards %d\n", topic,
            atomic_load(&p.total), want, nq, p.gaps, p.dups, p.backwards);
    assert_int_equal(p.gaps + p.dups + p.backwards + p.other_tag, 0);
    assert_true(nq >= 2);
    for (int i = 0; i < NMSG; i++) assert_int_equal(seen[i], skip[i] ? 0 : 1);
    assert_int_equal(atomic_load(&p.total), want);
    /* every queue committed to its end: the sum of committed offsets is the whole topic */
    assert_int_equal(committed_sum(group, topic), NMSG);
}

static void test_drain_short_batches(void **st) {
    run_drain("SdkPipe", "cg_pipe", false);
}

static void test_drain_tag_runs(void **st) {
    run_drain("SdkPipeTag", "cg_pipetag", true);
}

/* A second consumer joins mid-drain: the queues it takes stop at the first (their pulls in
 * flight are dropped as stale), nothing is lost, and neither sees a queue go backwards. */
static void test_rebalance_mid_drain(void **st) {
    send_backlog("SdkPipeRb", false);
    static int seen[NMSG];
    memset(seen, 0, sizeof seen);
    static pp_t p1, p2;
    pp_init(&p1, seen);
    pp_init(&p2, seen);
    p1.delay_us = p2.delay_us = 15000; /* ~2k msgs/s per consumer: the join finds a backlog */
    rmq_push_consumer_t *c1 = pp_consumer("cg_piperb", "SdkPipeRb", "*", &p1);
    assert_non_null(c1);
    uint64_t end = rmq_mono_ms() + 30000;
    while (atomic_load(&p1.total) < 300 && rmq_mono_ms() < end) rmq_sleep_ms(5);
    rmq_push_consumer_t *c2 = pp_consumer("cg_piperb", "SdkPipeRb", "*", &p2);
    assert_non_null(c2);
    assert_true(wait_ids(seen, 1, NULL, 90000));
    rmq_sleep_ms(1000);
    rmq_push_consumer_destroy(c2);
    rmq_push_consumer_destroy(c1);
    int dup_ids = 0;
    for (int i = 0; i < NMSG; i++) dup_ids += seen[i] > 1;
    fprintf(stderr,
            "rebalance: first %d, second %d, ids twice %d (moved queues' uncommitted tail); "
            "dups %d/%d backwards %d/%d gaps %d/%d\n",
            atomic_load(&p1.total), atomic_load(&p2.total), dup_ids, p1.dups, p2.dups, p1.backwards,
            p2.backwards, p1.gaps, p2.gaps);
    assert_true(atomic_load(&p1.total) < NMSG); /* the second one took part */
    assert_true(atomic_load(&p2.total) > 0);
    assert_int_equal(p1.dups + p2.dups + p1.backwards + p2.backwards, 0);
    assert_int_equal(p1.gaps + p2.gaps, 0);
    assert_int_equal(committed_sum("cg_piperb", "SdkPipeRb"), NMSG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain_short_batches),
        cmocka_unit_test(test_drain_tag_runs),
        cmocka_unit_test(test_rebalance_mid_drain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
