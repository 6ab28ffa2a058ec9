/* 0202: kill -9 under SYNC_FLUSH.
 *
 * 4 producer threads send synchronously to a SYNC_FLUSH broker and record every acknowledged
 * (queueId, queueOffset, body). The broker is killed with SIGKILL while they run, restarted on
 * the same store, and every acknowledged message must be there with the same body at the same
 * queue offset; queue offsets are dense (no duplicates, no holes). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicCrash"
#define NQ 4
#define NTHREADS 4
#define MAXPER 200000

typedef struct {
    int qid;
    int64_t off;
    int seq;
} ack_t;

typedef struct {
    int t;
    ack_t *acks;
    int n;
} prod_t;

static const char *addr;
static volatile int stop_flag;

static void body_of(int t, int seq, char *out, size_t n) {
    snprintf(out, n, "crash-%d-%d-%0*d", t, seq, 20 + seq % 50, seq);
}

static void *producer(void *arg) {
    prod_t *p = arg;
    rmq_rem_client_cfg_t cfg = {.name = "crash"};
    rmq_rem_client_t *cl = NULL;
    if (rmq_rem_client_new(NULL, &cfg, &cl) != RMQ_OK) return NULL;
    for (int seq = 0; !stop_flag && p->n < MAXPER; seq++) {
        char body[128], props[256];
        body_of(p->t, seq, body, sizeof body);
        bt_props(props, sizeof props, NULL, NULL, NULL);
        int qid = (p->t + seq) % NQ;
        rmq_rem_cmd_t *req = bt_send_req(TOPIC, qid, body, strlen(body), props);
        rmq_rem_cmd_t *resp = NULL;
        if (rmq_rem_client_invoke_sync(cl, addr, req, 5000, &resp) != RMQ_OK) break;
        int64_t q, off;
        if (resp->code == 0 && rmq_rem_cmd_get_i64(resp, "queueId", &q) == RMQ_OK &&
            rmq_rem_cmd_get_i64(resp, "queueOffset", &off) == RMQ_OK) {
            p->acks[p->n++] = (ack_t){(int)q, off, seq};
        }
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
    return NULL;
}

static void test_crash(void **state) {
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, "flushDiskType=SYNC_FLUSH\n"), 0);
    addr = br.addr;
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);
    rmq_rem_client_destroy(cl);

    prod_t prods[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        prods[t] = (prod_t){t, malloc(sizeof(ack_t) * MAXPER), 0};
        pthread_create(&th[t], NULL, producer, &prods[t]);
    }
    /* Let some messages through, then kill mid-stream. */
    for (int i = 0; i < 300; i++) {
        int n = 0;
        for (int t = 0; t < NTHREADS; t++) n += __atomic_load_n(&prods[t].n, __ATOMIC_RELAXED);
        if (n >= 2000) break;
        rmq_sleep_ms(10);
    }
    rmq_proc_stop(&br, SIGKILL);
    stop_flag = 1;
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    int total = 0;
    for (int t = 0; t < NTHREADS; t++) total += prods[t].n;
    fprintf(stderr, "acknowledged before the kill: %d\n", total);
    assert_true(total > 0);

    assert_int_equal(rmq_start_broker(&br, ns.addr, "flushDiskType=SYNC_FLUSH\n"), 0);
    cl = bt_client();
    /* Read each queue completely: offset -> (thread, seq) from the body. */
    int64_t maxq[NQ];
    int *who[NQ];
    for (int q = 0; q < NQ; q++)
        who[q] = bt_read_queue_ts(cl, br.addr, "cg_crash", TOPIC, q, "crash", body_of, &maxq[q]);
    /* Every acknowledged message is at its acknowledged offset. */
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < prods[t].n; i++) {
            ack_t a = prods[t].acks[i];
            assert_true(a.qid >= 0 && a.qid < NQ);
            assert_true(a.off < maxq[a.qid]);
            assert_int_equal(who[a.qid][2 * a.off], t);
            assert_int_equal(who[a.qid][2 * a.off + 1], a.seq);
        }
        free(prods[t].acks);
    }
    for (int q = 0; q < NQ; q++) free(who[q]);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
