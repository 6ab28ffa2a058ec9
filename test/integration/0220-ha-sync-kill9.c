/* 0220: SYNC_MASTER keeps every acknowledged message when the master is lost (broker.md 9.3).
 *
 * A SYNC_MASTER (ASYNC_FLUSH) and its slave; 4 producer threads send 50,000 messages with sync
 * sends over raw frames and record every SEND_OK (queueId, queueOffset, body). The master is
 * killed with SIGKILL; then every queue is read from the slave: each acknowledged message must
 * be there at its acknowledged offset with its body, and the slave's queues are dense. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicHaSync"
#define NQ 4
#define NTHREADS 4
#define TOTAL 50000
#define PER (TOTAL / NTHREADS)

typedef struct {
    int qid;
    int64_t off;
    int seq;
} ack_t;

typedef struct {
    int t;
    ack_t *acks;
    int n, other; /* SEND_OK count; replies with another status */
} prod_t;

static const char *master_addr;

static void body_of(int t, int seq, char *out, size_t n) {
    snprintf(out, n, "ha-%d-%d-%0*d", t, seq, 10 + seq % 40, seq);
}

static void *producer(void *arg) {
    prod_t *p = arg;
    rmq_rem_client_cfg_t cfg = {.name = "ha-prod"};
    rmq_rem_client_t *cl = NULL;
    if (rmq_rem_client_new(NULL, &cfg, &cl) != RMQ_OK) return NULL;
    for (int seq = 0; seq < PER; seq++) {
        char body[128], props[256];
        body_of(p->t, seq, body, sizeof body);
        bt_props(props, sizeof props, NULL, NULL, NULL);
        int qid = (p->t + seq) % NQ;
        rmq_rem_cmd_t *req = bt_send_req(TOPIC, qid, body, strlen(body), props);
        rmq_rem_cmd_t *resp = NULL;
        if (rmq_rem_client_invoke_sync(cl, master_addr, req, 10000, &resp) != RMQ_OK) break;
        int64_t q, off;
        if (resp->code == 0 && rmq_rem_cmd_get_i64(resp, "queueId", &q) == RMQ_OK &&
            rmq_rem_cmd_get_i64(resp, "queueOffset", &off) == RMQ_OK)
            p->acks[p->n++] = (ack_t){(int)q, off, seq};
        else
            p->other++;
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
    return NULL;
}

static void test_sync_master_kill9(void **state) {
    (void)state;
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(rmq_start_broker(&m, ns.addr, "brokerRole=SYNC_MASTER\n"), 0);
    char conf[512];
    bt_slave_conf(conf, sizeof conf, &m, NULL); /* learns its master from the NameServer */
    assert_int_equal(rmq_start_broker(&s, ns.addr, conf), 0);
    master_addr = m.addr;
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, m.addr, TOPIC, NQ, 6);
    bt_create_topic(cl, s.addr, TOPIC, NQ, 6);
    assert_true(bt_wait_slaves(cl, m.addr, 1, 20000));

    prod_t prods[NTHREADS];
    pthread_t th[NTHREADS];
    int64_t t0 = rmq_now_ms();
    for (int t = 0; t < NTHREADS; t++) {
        prods[t] = (prod_t){t, malloc(sizeof(ack_t) * PER), 0, 0};
        pthread_create(&th[t], NULL, producer, &prods[t]);
    }
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    int total = 0, other = 0;
    for (int t = 0; t < NTHREADS; t++) {
        total += prods[t].n;
        other += prods[t].other;
    }
    fprintf(stderr, "SEND_OK %d, other statuses %d, in %" PRId64 " ms\n", total, other,
            rmq_now_ms() - t0);
    assert_true(total > TOTAL * 9 / 10); /* the slave was there: nearly all must be SEND_OK */
    rmq_proc_stop(&m, SIGKILL);

    int64_t maxq[NQ];
    int *who[NQ];
    for (int q = 0; q < NQ; q++)
        who[q] = bt_read_queue_ts(cl, s.addr, "cg_ha", TOPIC, q, "ha", body_of, &maxq[q]);
    int checked = 0;
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < prods[t].n; i++) {
            ack_t a = prods[t].acks[i];
            assert_true(a.qid >= 0 && a.qid < NQ);
            if (a.off >= maxq[a.qid])
                fprintf(stderr, "acknowledged %d/%d at %d:%" PRId64 " missing on the slave\n", t,
                        a.seq, a.qid, a.off);
            assert_true(a.off < maxq[a.qid]);
            assert_int_equal(who[a.qid][2 * a.off], t);
            assert_int_equal(who[a.qid][2 * a.off + 1], a.seq);
            checked++;
        }
        free(prods[t].acks);
    }
    fprintf(stderr, "all %d acknowledged messages found on the slave\n", checked);
    for (int q = 0; q < NQ; q++) free(who[q]);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&s);
    assert_int_equal(rmq_proc_log_errors(&s), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sync_master_kill9)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
