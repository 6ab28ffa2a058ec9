/* 0224: a slave that starts late catches up on all history and resumes after kill -9
 * (broker.md 9.2).
 *
 * The master holds 200,000 messages before the slave starts; haNewSlaveFromMinOffset=true makes
 * the new slave (it reports 0) start at the master's min offset instead of its last segment
 * (§9.2's default gives only the last segment). The slave replicates through the fault proxy;
 * once it has part of the history the link is stalled and the slave is killed with SIGKILL,
 * mid-transfer. Restarted on the same store it resumes from its own max offset: in the end its
 * queues equal the master's (dense: no gap, no duplicate) and, after a clean stop, its CommitLog
 * files are byte-identical to the master's. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"
#include "test/fault/fault_proxy.h"

#define TOPIC "TopicHaLate"
#define NQ 4
#define NTHREADS 4
#define TOTAL 200000

static const char *master_addr;
static _Atomic int failed_sends;

static void *producer(void *arg) {
    int t = (int)(intptr_t)arg;
    rmq_rem_client_cfg_t cfg = {.name = "ha-late"};
    rmq_rem_client_t *cl = NULL;
    if (rmq_rem_client_new(NULL, &cfg, &cl) != RMQ_OK) return NULL;
    for (int seq = 0; seq < TOTAL / NTHREADS; seq++) {
        char body[64];
        int n = snprintf(body, sizeof body, "late-%d-%d", t, seq);
        rmq_rem_cmd_t *req = bt_send_req(TOPIC, (t + seq) % NQ, body, (size_t)n, NULL);
        rmq_rem_cmd_t *resp = NULL;
        if (rmq_rem_client_invoke_sync(cl, master_addr, req, 10000, &resp) != RMQ_OK) {
            failed_sends++;
            break;
        }
        if (resp->code != 0) failed_sends++;
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
    return NULL;
}

static void test_late_slave(void **state) {
    (void)state;
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(
        rmq_start_broker(&m, ns.addr, "brokerRole=ASYNC_MASTER\nhaNewSlaveFromMinOffset=true\n"),
        0);
    master_addr = m.addr;
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, m.addr, TOPIC, NQ, 6);
    int64_t t0 = rmq_now_ms();
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t);
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    assert_int_equal(failed_sends, 0);
    int64_t end = bt_runtime_i64(cl, m.addr, "commitLogMaxOffset", -1);
    fprintf(stderr, "%d messages, %" PRId64 " bytes in %" PRId64 " ms\n", TOTAL, end,
            rmq_now_ms() - t0);

    rmq_fault_proxy_t *fp = rmq_fp_start(0, m.port + 1);
    assert_non_null(fp);
    char extra[256], conf[512];
    snprintf(extra, sizeof extra,
             "haMasterAddress=127.0.0.1:%d\nhaReconnectInterval=300\nhaSendHeartbeatInterval=200\n",
             rmq_fp_port(fp));
    bt_slave_conf(conf, sizeof conf, &m, extra);
    assert_int_equal(rmq_start_broker(&s, ns.addr, conf), 0);
    /* part of the history in, then the link stalls and the slave dies mid-transfer */
    int64_t got = 0;
    for (int i = 0; i < 20000 && got <= 0; i++) {
        got = bt_runtime_i64(cl, s.addr, "haSlaveMaxOffset", 0);
        if (got <= 0) rmq_sleep_ms(1);
    }
    rmq_fp_set(fp, RMQ_FP_STALL, 0);
    got = bt_runtime_i64(cl, s.addr, "haSlaveMaxOffset", 0);
    fprintf(stderr, "slave killed at %" PRId64 " of %" PRId64 " bytes\n", got, end);
    assert_true(got > 0);
    assert_true(got < end);
    rmq_proc_stop(&s, SIGKILL);
    rmq_fp_set(fp, RMQ_FP_RESET, 0);
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    t0 = rmq_now_ms();
    assert_int_equal(rmq_start_broker(&s, ns.addr, conf), 0);
    bt_create_topic(cl, s.addr, TOPIC, NQ, 6);
    assert_int_equal(bt_wait_caught_up(cl, m.addr, s.addr, 40000), end);
    fprintf(stderr, "caught up after the restart in %" PRId64 " ms\n", rmq_now_ms() - t0);
    int64_t total = 0;
    for (int q = 0; q < NQ; q++) {
        int64_t nm = 0, nsl = 0;
        char *dm = bt_queue_dump(cl, m.addr, TOPIC, q, &nm);
        char *ds = bt_queue_dump(cl, s.addr, TOPIC, q, &nsl);
        assert_int_equal(nm, nsl);
        assert_string_equal(dm, ds);
        total += nm;
        free(dm);
        free(ds);
    }
    assert_int_equal(total, TOTAL);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&m);
    bt_stop_clean(&s);
    rmq_fp_stop(fp);
    bt_same_commitlogs(m.dir, s.dir, 2);
    assert_int_equal(rmq_proc_log_errors(&m), 0);
    assert_int_equal(rmq_proc_log_errors(&s), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_late_slave)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
