/* 0221: SYNC_MASTER statuses (broker.md 9.3) with the link between master and slave broken by
 * the fault proxy.
 *
 * 1. No slave: a send answers SLAVE_NOT_AVAILABLE (11) at once and the message is stored on the
 *    master.
 * 2. The slave replicates through the proxy (haMasterAddress = the proxy); sends answer SEND_OK.
 * 3. The proxy stalls the link: each send answers FLUSH_SLAVE_TIMEOUT (12) after slaveTimeout
 *    (1000 ms here) plus a small margin.
 * 4. The link passes again: sends answer SEND_OK again, and the slave's queues equal the
 *    master's, offset by offset: nothing lost, nothing duplicated.
 * And with SYNC_FLUSH too: single and batch sends answer SEND_OK, then SLAVE_NOT_AVAILABLE once
 * the slave is gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"
#include "test/fault/fault_proxy.h"

#define TOPIC "TopicHaStall"
#define NQ 2
#define SLAVE_TIMEOUT 1000

static int seq;

static int send_one(rmq_rem_client_t *cl, const char *addr, int64_t *elapsed_ms) {
    char body[64], props[256];
    snprintf(body, sizeof body, "stall-%06d", seq);
    bt_props(props, sizeof props, NULL, NULL, NULL);
    int64_t t0 = rmq_now_ms();
    rmq_rem_cmd_t *r = bt_send(cl, addr, TOPIC, seq % NQ, body, strlen(body), props);
    if (elapsed_ms) *elapsed_ms = rmq_now_ms() - t0;
    seq++;
    int code = r->code;
    if (code == 0 || code == RMQ_ERR_SLAVE_NOT_AVAILABLE || code == RMQ_ERR_FLUSH_SLAVE_TIMEOUT)
        assert_true(bt_i64(r, "queueOffset") >= 0); /* stored in every case */
    rmq_rem_cmd_destroy(r);
    return code;
}

static void test_sync_master_stall(void **state) {
    (void)state;
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    char mconf[256];
    snprintf(mconf, sizeof mconf, "brokerRole=SYNC_MASTER\nslaveTimeout=%d\n", SLAVE_TIMEOUT);
    assert_int_equal(rmq_start_broker(&m, ns.addr, mconf), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, m.addr, TOPIC, NQ, 6);

    /* 1. no slave */
    int64_t ms;
    assert_int_equal(send_one(cl, m.addr, &ms), RMQ_ERR_SLAVE_NOT_AVAILABLE);
    assert_true(ms < 1000);
    /* stored: the ConsumeQueue shows it once the reput thread has dispatched it */
    for (int i = 0; i < 100 && bt_max_offset(cl, m.addr, TOPIC, 0) != 1; i++) rmq_sleep_ms(20);
    assert_int_equal(bt_max_offset(cl, m.addr, TOPIC, 0), 1);

    /* 2. a slave behind the proxy */
    rmq_fault_proxy_t *fp = rmq_fp_start(0, m.port + 1);
    assert_non_null(fp);
    char extra[256], sconf[512];
    snprintf(extra, sizeof extra, "haMasterAddress=127.0.0.1:%d\nhaReconnectInterval=500\n",
             rmq_fp_port(fp));
    bt_slave_conf(sconf, sizeof sconf, &m, extra);
    assert_int_equal(rmq_start_broker(&s, ns.addr, sconf), 0);
    bt_create_topic(cl, s.addr, TOPIC, NQ, 6);
    assert_true(bt_wait_slaves(cl, m.addr, 1, 20000));
    for (int i = 0; i < 50; i++) assert_int_equal(send_one(cl, m.addr, NULL), 0);

    /* 3. stalled link */
    rmq_fp_set(fp, RMQ_FP_STALL, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send_one(cl, m.addr, &ms), RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
        fprintf(stderr, "FLUSH_SLAVE_TIMEOUT after %" PRId64 " ms\n", ms);
        assert_true(ms >= SLAVE_TIMEOUT - 50);
        assert_true(ms <= SLAVE_TIMEOUT + 1000);
    }

    /* 4. the link returns */
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    int ok = 0;
    for (int i = 0; i < 5 && !ok; i++) ok = send_one(cl, m.addr, NULL) == 0;
    assert_true(ok);
    for (int i = 0; i < 50; i++) assert_int_equal(send_one(cl, m.addr, NULL), 0);

    assert_true(bt_wait_caught_up(cl, m.addr, s.addr, 20000) > 0);
    int64_t total = 0;
    for (int q = 0; q < NQ; q++) {
        int64_t nm = 0, ns_ = 0;
        char *dm = bt_queue_dump(cl, m.addr, TOPIC, q, &nm);
        char *ds = bt_queue_dump(cl, s.addr, TOPIC, q, &ns_);
        assert_int_equal(nm, bt_max_offset(cl, m.addr, TOPIC, q));
        assert_int_equal(nm, ns_);
        assert_string_equal(dm, ds);
        total += nm;
        free(dm);
        free(ds);
    }
    assert_int_equal(total, seq);
    fprintf(stderr, "%d messages, master and slave queues identical\n", seq);

    rmq_rem_client_destroy(cl);
    bt_stop_clean(&s);
    bt_stop_clean(&m);
    rmq_fp_stop(fp);
    assert_int_equal(rmq_proc_log_errors(&m), 0);
    assert_int_equal(rmq_proc_log_errors(&s), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(ns.dir);
}

/* SEND_BATCH_MESSAGE of n bodies "batch-<i>" to queue 0; returns the response code. */
static int send_batch(rmq_rem_client_t *cl, const char *addr, int n) {
    uint8_t body[4096];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        char b[32];
        int bl = snprintf(b, sizeof b, "batch-%d", i);
        uint32_t total = 20 + (uint32_t)bl + 2;
        rmq_put_be32(body + len, total);
        rmq_put_be32(body + len + 4, 0);
        rmq_put_be32(body + len + 8, 0);
        rmq_put_be32(body + len + 12, 0);
        rmq_put_be32(body + len + 16, (uint32_t)bl);
        memcpy(body + len + 20, b, (size_t)bl);
        rmq_put_be16(body + len + 20 + bl, 0);
        len += total;
    }
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_BATCH_MESSAGE);
    rmq_rem_cmd_set(req, "a", "pg");
    rmq_rem_cmd_set(req, "b", TOPIC);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "0");
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "m", "true");
    rmq_rem_cmd_set_body_copy(req, body, len);
    rmq_rem_cmd_t *r = bt_call(cl, addr, req, BT_TIMEOUT);
    int code = r->code;
    rmq_rem_cmd_destroy(r);
    return code;
}

/* SYNC_MASTER with SYNC_FLUSH: single and batch sends wait for both and answer SEND_OK; with
 * the slave killed they answer SLAVE_NOT_AVAILABLE (replication wins over flush). */
static void test_sync_master_sync_flush(void **state) {
    (void)state;
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(
        rmq_start_broker(&m, ns.addr, "brokerRole=SYNC_MASTER\nflushDiskType=SYNC_FLUSH\n"), 0);
    char extra[128], sconf[512];
    snprintf(extra, sizeof extra, "haMasterAddress=127.0.0.1:%d\n", m.port + 1);
    bt_slave_conf(sconf, sizeof sconf, &m, extra);
    assert_int_equal(rmq_start_broker(&s, ns.addr, sconf), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, m.addr, TOPIC, NQ, 6);
    assert_true(bt_wait_slaves(cl, m.addr, 1, 20000));
    for (int i = 0; i < 200; i++) assert_int_equal(send_one(cl, m.addr, NULL), 0);
    for (int i = 0; i < 20; i++) assert_int_equal(send_batch(cl, m.addr, 16), 0);
    rmq_proc_stop(&s, SIGKILL);
    for (int i = 0; i < 100 && bt_runtime_i64(cl, m.addr, "haConnectionCount", -1) != 0; i++)
        rmq_sleep_ms(50);
    assert_int_equal(send_one(cl, m.addr, NULL), RMQ_ERR_SLAVE_NOT_AVAILABLE);
    assert_int_equal(send_batch(cl, m.addr, 4), RMQ_ERR_SLAVE_NOT_AVAILABLE);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&m);
    assert_int_equal(rmq_proc_log_errors(&m), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sync_master_stall),
                                       cmocka_unit_test(test_sync_master_sync_flush)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
