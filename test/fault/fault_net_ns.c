/* fault-net-namesrv: the broker's registration path through the fault proxy (broker ->
 * proxy -> NameServer). The broker registers every 10 s (registerNameServerPeriod's floor, as in
 * RocketMQ) and the NameServer runs with a 15 s brokerChannelExpiredTime instead of 120 s, so a
 * whole expiry fits in the test while a healthy broker is never dropped.
 *
 *   stall         the broker keeps serving sends (over its own port, not through the proxy);
 *                 the NameServer drops it after the expiry; once healed it is listed again
 *   reset         every registration connection is reset: the NameServer drops the broker at
 *                 once (connection closed) and the next registration brings it back
 *   refuse (1 s)  registrations fail to connect; listed again after the heal
 *
 * Afterwards the broker is alive, every acknowledged send is readable, and neither process logged
 * an ERROR or a sanitizer report. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/fault/fault_proxy.h"
#include "test/integration/broker_util.h"

#define TOPIC "TopicNetNs"
#define NQ 2

static rmq_proc_t ns, br;
static rmq_fault_proxy_t *fp;
static rmq_rem_client_t *cl;

/* Whether the NameServer lists br's address in its cluster info. */
static bool listed(void) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CLUSTER_INFO);
    rmq_rem_cmd_t *resp = NULL;
    bool found = false;
    if (rmq_rem_client_invoke_sync(cl, ns.addr, req, 3000, &resp) == RMQ_OK && resp->code == 0 &&
        resp->body_len) {
        char *s = strndup((const char *)resp->body, resp->body_len);
        found = s && strstr(s, br.addr) != NULL;
        free(s);
    }
    rmq_rem_cmd_destroy(resp);
    return found;
}

/* Wait until listed() == want; the time it took in ms, or -1 after timeout_ms. */
static int wait_listed(bool want, int timeout_ms) {
    uint64_t t0 = rmq_mono_ms();
    while (rmq_mono_ms() - t0 < (uint64_t)timeout_ms) {
        if (listed() == want) return (int)(rmq_mono_ms() - t0);
        rmq_sleep_ms(100);
    }
    return -1;
}

static int sent_ok, sent_fail;

/* n sends straight to the broker; each must be acknowledged. */
static void send_some(int n) {
    for (int i = 0; i < n; i++) {
        char body[64], props[256];
        snprintf(body, sizeof body, "netns-%d", sent_ok + sent_fail);
        bt_props(props, sizeof props, NULL, NULL, NULL);
        rmq_rem_cmd_t *resp =
            bt_call(cl, br.addr, bt_send_req(TOPIC, i % NQ, body, strlen(body), props), BT_TIMEOUT);
        if (resp->code == 0)
            sent_ok++;
        else
            sent_fail++;
        rmq_rem_cmd_destroy(resp);
    }
}

static bool log_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void phase(const char *name, rmq_fp_mode_t mode, int hold_ms, bool expect_drop) {
    rmq_fp_set(fp, mode, 0);
    int dropped = -1;
    if (expect_drop) {
        dropped = wait_listed(false, 40000);
        if (dropped < 0) fail_msg("%s: the NameServer still lists the broker after 40 s", name);
    }
    uint64_t t0 = rmq_mono_ms();
    send_some(20); /* the broker keeps serving whatever its registration does */
    int64_t left = hold_ms - (int64_t)(rmq_mono_ms() - t0);
    if (left > 0) rmq_sleep_ms((int)left);
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    int back = wait_listed(true, 30000);
    if (back < 0) fail_msg("%s: the broker was not listed again 30 s after the heal", name);
    printf("fault-net-namesrv: %-10s dropped after %5d ms, listed again %5d ms after the heal\n",
           name, dropped, back);
    assert_int_equal(kill(br.pid, 0), 0);
}

static void test_registration_faults(void **state) {
    assert_true(wait_listed(true, 20000) >= 0);
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);
    send_some(20);
    /* a healthy broker stays listed across two registration periods */
    for (int i = 0; i < 16; i++) { /* past the 15 s expiry */
        assert_true(listed());
        rmq_sleep_ms(1000);
    }
    /* stalled past the expiry: dropped, then back */
    phase("stall", RMQ_FP_STALL, 0, true);
    phase("reset", RMQ_FP_RESET, 0, true);
    phase("refuse", RMQ_FP_REFUSE, 1000, true);
    send_some(20);
    assert_int_equal(sent_fail, 0);

    /* every acknowledged send readable */
    int64_t total = 0;
    for (int q = 0; q < NQ; q++) {
        int64_t n = 0;
        free(bt_queue_dump(cl, br.addr, TOPIC, q, &n));
        total += n;
    }
    assert_int_equal(total, sent_ok);
    rmq_fp_stats_t st;
    rmq_fp_stats(fp, &st);
    printf("fault-net-namesrv: %d sends acknowledged and read back; %llu registration "
           "connections through the proxy\n",
           sent_ok, (unsigned long long)st.accepted);
    assert_true(st.accepted >= 3); /* reset and refuse forced new connections */
    assert_true(log_has(ns.log, "expired"));
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns, "brokerChannelExpiredTime=15000\nscanNotActiveBrokerInterval=200\n"))
        return -1;
    if (!(fp = rmq_fp_start(0, ns.port))) return -1;
    char nsaddr[64], extra[256];
    snprintf(nsaddr, sizeof nsaddr, "127.0.0.1:%d", rmq_fp_port(fp));
    snprintf(extra, sizeof extra,
             "registerNameServerPeriod=10000\nregisterBrokerTimeoutMills=2000\n");
    if (rmq_start_broker(&br, nsaddr, extra)) return -1;
    cl = bt_client();
    return 0;
}

static int teardown(void **state) {
    rmq_rem_client_destroy(cl);
    rmq_fp_stop(fp);
    int errs = rmq_proc_log_errors(&ns) + rmq_proc_log_errors(&br);
    bool san = log_has(br.log, "runtime error") || log_has(br.log, "AddressSanitizer") ||
               log_has(ns.log, "runtime error") || log_has(ns.log, "AddressSanitizer");
    int st_b = rmq_proc_stop(&br, SIGTERM), st_n = rmq_proc_stop(&ns, SIGTERM);
    if (errs || san || st_b != 0 || st_n != 0) {
        fprintf(stderr, "ERROR lines %d, sanitizer %d, exit %d/%d; logs %s %s\n", errs, san, st_b,
                st_n, br.log, ns.log);
        return -1;
    }
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_registration_faults)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
