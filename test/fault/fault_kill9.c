/* fault-kill9: kill -9 loops under both flush modes, checked by an independent reader.
 *
 * Four producer threads send synchronously over raw frames (no SDK retries that could hide or
 * duplicate anything) and log every acknowledged (queueId, queueOffset, thread, seq). The broker
 * is SIGKILLed at a random moment 20 times per flush mode and restarted on the same store and
 * port while the producers keep going. Afterwards each queue is read from offset 0 with plain
 * PULL_MESSAGE requests and checked on its own terms: offsets dense (no hole, no duplicate
 * offset), every body well-formed, no (thread, seq) stored twice; then every acknowledged send
 * must be at its acknowledged offset with its body.
 *
 * SYNC_FLUSH promises every acknowledged message; ASYNC_FLUSH promises them too when only the
 * process dies (the page cache survives a kill -9), so both modes must show 0 lost. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/integration/broker_util.h"

#define TOPIC "TopicKill9"
#define NQ 4
#define NTHREADS 4
#define MAXPER 400000
#define KILLS 20

typedef struct {
    int qid;
    int64_t off;
    int seq;
} ack_t;

typedef struct {
    int t;
    const char *addr;
    ack_t *acks;
    int n; /* written by the thread; read with atomics */
    int failed;
    volatile int *stop;
} prod_t;

static void body_of(int t, int seq, char *out, size_t n) {
    snprintf(out, n, "k9-%d-%d-%0*d", t, seq, 10 + seq % 40, seq);
}

static void *producer(void *arg) {
    prod_t *p = arg;
    rmq_rem_client_t *cl = bt_client();
    for (int seq = 0; !*p->stop && p->n < MAXPER; seq++) {
        char body[128], props[256];
        body_of(p->t, seq, body, sizeof body);
        bt_props(props, sizeof props, NULL, NULL, NULL);
        int qid = (p->t + seq) % NQ;
        rmq_rem_cmd_t *req = bt_send_req(TOPIC, qid, body, strlen(body), props);
        rmq_rem_cmd_t *resp = NULL;
        int64_t q, off;
        if (rmq_rem_client_invoke_sync(cl, p->addr, req, 3000, &resp) == RMQ_OK &&
            resp->code == 0 && rmq_rem_cmd_get_i64(resp, "queueId", &q) == RMQ_OK &&
            rmq_rem_cmd_get_i64(resp, "queueOffset", &off) == RMQ_OK) {
            p->acks[p->n] = (ack_t){(int)q, off, seq};
            __atomic_store_n(&p->n, p->n + 1, __ATOMIC_RELEASE);
        } else {
            p->failed++;
            rmq_sleep_ms(5); /* the broker is down or restarting */
        }
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
    return NULL;
}

static int acked(prod_t *prods) {
    int n = 0;
    for (int t = 0; t < NTHREADS; t++) n += __atomic_load_n(&prods[t].n, __ATOMIC_ACQUIRE);
    return n;
}

static void kill_loop(const char *flush) {
    char extra[128];
    snprintf(extra, sizeof extra, "flushDiskType=%s\n", flush);
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);
    rmq_rem_client_destroy(cl);

    volatile int stop = 0;
    prod_t prods[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        prods[t] = (prod_t){t, br.addr, malloc(sizeof(ack_t) * MAXPER), 0, 0, &stop};
        assert_non_null(prods[t].acks);
        pthread_create(&th[t], NULL, producer, &prods[t]);
    }
    unsigned seed = (unsigned)rmq_now_ms();
    fprintf(stderr, "%s: seed %u\n", flush, seed);
    for (int k = 0; k < KILLS; k++) {
        /* Let at least a few hundred sends through since the restart, then kill at a random
         * moment within the next 0-400 ms. */
        int base = acked(prods);
        for (int i = 0; i < 1000 && acked(prods) < base + 300; i++) rmq_sleep_ms(5);
        rmq_sleep_ms((int)(rand_r(&seed) % 400));
        assert_true(rmq_proc_stop(&br, SIGKILL) != -1);
        assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
    }
    int base = acked(prods);
    for (int i = 0; i < 1000 && acked(prods) < base + 300; i++) rmq_sleep_ms(5);
    stop = 1;
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    int total = acked(prods), failed = 0;
    for (int t = 0; t < NTHREADS; t++) failed += prods[t].failed;

    /* The independent read: each queue from 0, with nothing but PULL_MESSAGE. */
    cl = bt_client();
    int *who[NQ];
    int64_t maxq[NQ], stored = 0, dup_msgs = 0;
    char *seen = calloc((size_t)NTHREADS * MAXPER, 1); /* (t, seq) stored already */
    assert_non_null(seen);
    for (int q = 0; q < NQ; q++) {
        who[q] = bt_read_queue_ts(cl, br.addr, "cg_k9", TOPIC, q, "k9", body_of, &maxq[q]);
        for (int64_t off = 0; off < maxq[q]; off++) {
            int t = who[q][2 * off], sq = who[q][2 * off + 1];
            assert_true(t >= 0 && t < NTHREADS && sq >= 0 && sq < MAXPER);
            if (seen[(size_t)t * MAXPER + (size_t)sq]++) dup_msgs++;
            stored++;
        }
    }
    int lost = 0;
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < prods[t].n; i++) {
            ack_t a = prods[t].acks[i];
            bool ok = a.qid >= 0 && a.qid < NQ && a.off >= 0 && a.off < maxq[a.qid] &&
                      who[a.qid][2 * a.off] == t && who[a.qid][2 * a.off + 1] == a.seq;
            if (!ok) lost++;
        }
        free(prods[t].acks);
    }
    fprintf(stderr,
            "%s: %d kills, %d acknowledged, %d failed sends while down, %" PRId64
            " stored, acknowledged-but-missing %d, duplicates %" PRId64 "\n",
            flush, KILLS, total, failed, stored, lost, dup_msgs);
    for (int q = 0; q < NQ; q++) free(who[q]);
    free(seen);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    assert_int_equal(lost, 0);
    assert_int_equal(dup_msgs, 0); /* raw sends are never retried, so nothing may repeat */
    assert_true(total > KILLS * 300);
}

static void test_sync_flush(void **st) {
    kill_loop("SYNC_FLUSH");
}
static void test_async_flush(void **st) {
    kill_loop("ASYNC_FLUSH");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sync_flush),
                                       cmocka_unit_test(test_async_flush)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
