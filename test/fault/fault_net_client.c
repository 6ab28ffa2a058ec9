/* fault-net-client: a librmq producer and pull consumer talk to the broker through the fault
 * proxy while it delays, stalls, black-holes, resets and corrupts the traffic.
 *
 * Routing through the proxy: the broker registers with its own NameServer; the clients use a
 * second NameServer where the test registers the same topic under a broker whose address is the
 * proxy's (so every client byte to the broker crosses the proxy; NameServer lookups do not).
 *
 * Checked:
 *   - no hang: every send returns within sendMsgTimeout (1 s) + 5 s, every pull within its long
 *     poll (300 ms) + mqClientApiTimeout (1 s) + 5 s, whatever the fault
 *   - no acknowledged loss: every SEND_OK is later consumed (found by body, or at its queue and
 *     offset when corruption altered the body in flight) by a consumer reading every queue from
 *     0 after the faults (the one reading during them may skip messages: see verify_pass)
 *   - clean recovery: after the faults the last sends all succeed and the consumer drains the
 *     queues to their end
 *   - the broker stays up, with no ERROR line and no sanitizer report in its log. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rmq/rmq.h"
#include "test/fault/fault_proxy.h"
#include "test/integration/broker_util.h"

#define TOPIC "TopicNetFault"
#define NQ 4
#define MAXMSG 200000
#define SEND_TIMEOUT 1000
#define API_TIMEOUT 1000
#define POLL_MS 300
#define MARGIN 5000

static rmq_proc_t ns_br, ns_cl, br;
static rmq_fault_proxy_t *fp;
static rmq_rem_client_t *cl;

typedef struct {
    int qid;
    int64_t off;
} ack_t;

static ack_t acks[MAXMSG]; /* by seq; qid -1 = not acknowledged */
static _Atomic int next_seq;
static _Atomic int stop_producer, stop_consumer;
static _Atomic int phase_no;
#define NPHASES 9
static const char *const phase_names[NPHASES] = {"pass",  "delay", "stall",   "pass2", "blackhole",
                                                 "pass3", "reset", "corrupt", "final"};
static _Atomic int ok_in[NPHASES], fail_in[NPHASES], pull_ok_in[NPHASES], pull_fail_in[NPHASES];
static _Atomic int64_t max_send_ms, max_pull_ms;
static _Atomic unsigned last_results; /* bit i: the i-th latest send succeeded (newest in bit 0) */

/* What the consumer saw: per seq, and per queue which offsets. */
static _Atomic unsigned char seen_seq[MAXMSG];
#define MAXOFF 100000
static _Atomic unsigned char seen_off[NQ][MAXOFF];
static _Atomic int64_t cons_next[NQ];
/* The same after the faults, from a second consumer reading every queue from 0 (no thread). */
static unsigned char seen2_seq[MAXMSG];
static unsigned char seen2_off[NQ][MAXOFF];

static void amax(_Atomic int64_t *m, int64_t v) {
    int64_t cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static void conf_set(rmq_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rmq_conf_set(c, k, v, err, sizeof err) != RMQ_CONF_OK) fail_msg("conf %s: %s", k, err);
}

static rmq_conf_t *conf(const char *group) {
    rmq_conf_t *c = rmq_conf_new();
    conf_set(c, "namesrvAddr", ns_cl.addr);
    conf_set(c, "groupName", group);
    conf_set(c, "sendMsgTimeout", "1000");
    conf_set(c, "mqClientApiTimeout", "1000");
    conf_set(c, "pollNameServerInterval", "1000");
    conf_set(c, "heartbeatBrokerInterval", "2000");
    conf_set(c, "logLevel", "ERROR");
    return c;
}

static void *producer(void *arg) {
    char err[256];
    rmq_producer_t *p = rmq_producer_new(conf("net_fault_pg"), err, sizeof err);
    if (!p) {
        fprintf(stderr, "producer: %s\n", err);
        return NULL;
    }
    while (!atomic_load(&stop_producer)) {
        int seq = atomic_fetch_add(&next_seq, 1);
        if (seq >= MAXMSG) break;
        char body[128];
        snprintf(body, sizeof body, "net-%d-%0*d", seq, 8 + seq % 64, seq % 100000000);
        rmq_msg_t *m = rmq_msg_new(TOPIC, "t", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        int ph = atomic_load(&phase_no);
        uint64_t t0 = rmq_mono_ms();
        rmq_err_t e = rmq_send_sync(p, m, &r);
        amax(&max_send_ms, (int64_t)(rmq_mono_ms() - t0));
        rmq_msg_destroy(m);
        bool ok = e == RMQ_OK && r.status == RMQ_SEND_OK;
        if (ok) {
            acks[seq].qid = r.mq.queue_id;
            acks[seq].off = r.offset;
            atomic_fetch_add(&ok_in[ph], 1);
        } else {
            atomic_fetch_add(&fail_in[ph], 1);
            rmq_sleep_ms(20);
        }
        atomic_store(&last_results, (atomic_load(&last_results) << 1) | (ok ? 1u : 0u));
    }
    rmq_producer_destroy(p);
    return NULL;
}

/* "net-<seq>-..." -> seq, or -1. */
static int seq_of(const void *body, size_t len) {
    char s[128];
    if (len < 5 || len >= sizeof s) return -1;
    memcpy(s, body, len);
    s[len] = '\0';
    int seq;
    char tail;
    if (sscanf(s, "net-%d-%c", &seq, &tail) != 2 || seq < 0 || seq >= MAXMSG) return -1;
    return seq;
}

static void *consumer(void *arg) {
    char err[256];
    rmq_pull_consumer_t *c = rmq_pull_consumer_new(conf("net_fault_cg"), err, sizeof err);
    if (!c) {
        fprintf(stderr, "consumer: %s\n", err);
        return NULL;
    }
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    while (!atomic_load(&stop_consumer) && (rmq_fetch_queues(c, TOPIC, &mqs, &n) || n != NQ)) {
        free(mqs);
        mqs = NULL;
        rmq_sleep_ms(200);
    }
    while (!atomic_load(&stop_consumer)) {
        for (size_t i = 0; i < n; i++) {
            int q = mqs[i].queue_id;
            rmq_pull_result_t *r = NULL;
            int ph = atomic_load(&phase_no);
            uint64_t t0 = rmq_mono_ms();
            rmq_err_t e = rmq_pull(c, &mqs[i], "*", cons_next[q], 32, POLL_MS, &r);
            amax(&max_pull_ms, (int64_t)(rmq_mono_ms() - t0));
            if (e != RMQ_OK) {
                atomic_fetch_add(&pull_fail_in[ph], 1);
                continue;
            }
            atomic_fetch_add(&pull_ok_in[ph], 1);
            for (size_t k = 0; k < r->n; k++) {
                size_t len;
                const void *b = rmq_msg_body(r->msgs[k], &len);
                int seq = seq_of(b, len);
                if (seq >= 0) atomic_store(&seen_seq[seq], 1);
                int64_t off = rmq_msg_queue_offset(r->msgs[k]);
                int mq = rmq_msg_queue_id(r->msgs[k]);
                if (mq >= 0 && mq < NQ && off >= 0 && off < MAXOFF)
                    atomic_store(&seen_off[mq][off], 1);
            }
            if (r->status == RMQ_PULL_FOUND || r->status == RMQ_PULL_NO_NEW_MSG ||
                r->status == RMQ_PULL_OFFSET_ILLEGAL)
                if (r->next_offset > cons_next[q]) cons_next[q] = r->next_offset;
            rmq_pull_result_destroy(r);
        }
    }
    free(mqs);
    rmq_pull_consumer_destroy(c);
    return NULL;
}

/* After the faults: a new pull consumer reads every queue from 0 to ends[] through the healed
 * proxy. The consumer that ran during the faults may have skipped messages without any loss:
 * a corrupted subscription in its own pull request filters out what the broker scans, and the
 * broker then rightly moves its next offset past them. */
static void verify_pass(const int64_t *ends) {
    char err[256];
    rmq_pull_consumer_t *c = rmq_pull_consumer_new(conf("net_fault_verify"), err, sizeof err);
    if (!c) fail_msg("verify consumer: %s", err);
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    for (int i = 0; i < 100 && (rmq_fetch_queues(c, TOPIC, &mqs, &n) || n != NQ); i++) {
        free(mqs);
        mqs = NULL;
        rmq_sleep_ms(100);
    }
    assert_int_equal(n, NQ);
    for (size_t i = 0; i < n; i++) {
        int q = mqs[i].queue_id;
        int64_t off = 0;
        for (int errors = 0; off < ends[q] && errors < 100;) {
            rmq_pull_result_t *r = NULL;
            if (rmq_pull(c, &mqs[i], "*", off, 32, 0, &r) != RMQ_OK) {
                errors++;
                rmq_sleep_ms(50);
                continue;
            }
            for (size_t k = 0; k < r->n; k++) {
                size_t len;
                const void *b = rmq_msg_body(r->msgs[k], &len);
                int seq = seq_of(b, len);
                if (seq >= 0) seen2_seq[seq] = 1;
                int64_t mo = rmq_msg_queue_offset(r->msgs[k]);
                if (mo >= 0 && mo < MAXOFF) seen2_off[q][mo] = 1;
            }
            if (r->next_offset > off)
                off = r->next_offset;
            else
                errors++;
            rmq_pull_result_destroy(r);
        }
        if (off < ends[q])
            fail_msg("verify: queue %d read to %" PRId64 " of %" PRId64, q, off, ends[q]);
    }
    free(mqs);
    rmq_pull_consumer_destroy(c);
}

/* Register TOPIC on the clients' NameServer under a broker whose address is the proxy's. */
static void register_proxy_route(void) {
    char addr[64], body[1024];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rmq_fp_port(fp));
    snprintf(body, sizeof body,
             "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":"
             "{\"counter\":1,\"timestamp\":1700000000000},\"topicConfigTable\":{\"%s\":"
             "{\"perm\":6,\"readQueueNums\":%d,\"topicName\":\"%s\",\"writeQueueNums\":%d}}}}",
             TOPIC, NQ, TOPIC, NQ);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-via-proxy");
    rmq_rem_cmd_set(req, "brokerAddr", addr);
    rmq_rem_cmd_set(req, "clusterName", "NetFaultCluster");
    rmq_rem_cmd_set(req, "haServerAddr", addr);
    rmq_rem_cmd_set_i64(req, "brokerId", 0);
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    rmq_rem_cmd_t *resp = bt_call(cl, ns_cl.addr, req, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    rmq_rem_cmd_destroy(resp);
}

static void run_phase(int no, rmq_fp_mode_t mode, int arg, int ms) {
    register_proxy_route(); /* keeps the fake registration fresh */
    atomic_store(&phase_no, no);
    rmq_fp_set(fp, mode, arg);
    rmq_sleep_ms(ms);
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

static void test_client_faults(void **state) {
    for (int i = 0; i < MAXMSG; i++) acks[i].qid = -1;
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);
    register_proxy_route();
    pthread_t tp, tc;
    assert_int_equal(pthread_create(&tc, NULL, consumer, NULL), 0);
    assert_int_equal(pthread_create(&tp, NULL, producer, NULL), 0);

    run_phase(0, RMQ_FP_PASS, 0, 3000);
    run_phase(1, RMQ_FP_DELAY, 300, 3000);
    run_phase(2, RMQ_FP_STALL, 0, 4000);
    run_phase(3, RMQ_FP_PASS, 0, 3000);
    run_phase(4, RMQ_FP_BLACKHOLE, 0, 4000);
    run_phase(5, RMQ_FP_PASS, 0, 3000);
    run_phase(6, RMQ_FP_RESET, 0, 3000); /* resets what is open, then passes new connections */
    run_phase(7, RMQ_FP_CORRUPT, 4000, 4000);
    run_phase(8, RMQ_FP_PASS, 0, 5000);
    atomic_store(&stop_producer, 1);
    pthread_join(tp, NULL);

    /* the consumer drains every queue to its end through the healed proxy */
    int64_t ends[NQ];
    for (int q = 0; q < NQ; q++) ends[q] = bt_max_offset(cl, br.addr, TOPIC, q);
    uint64_t t0 = rmq_mono_ms();
    bool drained = false;
    while (!drained && rmq_mono_ms() - t0 < 60000) {
        drained = true;
        for (int q = 0; q < NQ; q++) drained = drained && cons_next[q] >= ends[q];
        if (!drained) rmq_sleep_ms(100);
    }
    atomic_store(&stop_consumer, 1);
    pthread_join(tc, NULL);
    for (int i = 0; i < NPHASES; i++)
        printf("fault-net-client: %-9s sends ok %5d failed %4d | pulls ok %5d failed %4d\n",
               phase_names[i], atomic_load(&ok_in[i]), atomic_load(&fail_in[i]),
               atomic_load(&pull_ok_in[i]), atomic_load(&pull_fail_in[i]));
    for (int q = 0; q < NQ; q++)
        if (atomic_load(&cons_next[q]) < ends[q])
            fprintf(stderr, "queue %d consumed to %" PRId64 " of %" PRId64 "\n", q,
                    atomic_load(&cons_next[q]), ends[q]);
    assert_true(drained);

    verify_pass(ends);

    int acked = 0, lost = 0, body_changed = 0, skipped = 0, total = atomic_load(&next_seq);
    if (total > MAXMSG) total = MAXMSG;
    for (int s = 0; s < total; s++) {
        if (acks[s].qid < 0) continue;
        acked++;
        bool at_off = acks[s].qid < NQ && acks[s].off >= 0 && acks[s].off < MAXOFF;
        if (!atomic_load(&seen_seq[s]) &&
            !(at_off && atomic_load(&seen_off[acks[s].qid][acks[s].off])))
            skipped++; /* not delivered during the faults */
        if (seen2_seq[s]) continue;
        if (at_off && seen2_off[acks[s].qid][acks[s].off]) {
            body_changed++; /* consumed at its offset; corruption altered the body in flight */
            continue;
        }
        if (lost < 10)
            fprintf(stderr, "lost: seq %d at %d:%" PRId64 "\n", s, acks[s].qid, acks[s].off);
        lost++;
    }
    printf("fault-net-client: %d acknowledged, %d lost, %d consumed with a body altered in "
           "flight, %d skipped by the consumer during the faults; longest send %" PRId64
           " ms (limit %d), longest pull %" PRId64 " ms (limit %d)\n",
           acked, lost, body_changed, skipped, atomic_load(&max_send_ms), SEND_TIMEOUT + MARGIN,
           atomic_load(&max_pull_ms), POLL_MS + API_TIMEOUT + MARGIN);
    assert_int_equal(lost, 0);
    assert_true(acked > 0);
    assert_true(atomic_load(&max_send_ms) <= SEND_TIMEOUT + MARGIN);
    assert_true(atomic_load(&max_pull_ms) <= POLL_MS + API_TIMEOUT + MARGIN);
    /* the faults bit: the stall and the black-hole failed sends; healthy phases did not */
    assert_true(atomic_load(&fail_in[2]) > 0);
    assert_true(atomic_load(&fail_in[4]) > 0);
    assert_true(atomic_load(&ok_in[0]) > 0 && atomic_load(&ok_in[3]) > 0 &&
                atomic_load(&ok_in[5]) > 0 && atomic_load(&ok_in[8]) > 0);
    /* recovered: the last 16 sends all succeeded */
    assert_int_equal(atomic_load(&last_results) & 0xFFFFu, 0xFFFFu);
    assert_int_equal(kill(br.pid, 0), 0);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns_br, NULL) || rmq_start_namesrv(&ns_cl, NULL)) return -1;
    if (rmq_start_broker(&br, ns_br.addr, "autoCreateTopicEnable=false\n")) return -1;
    if (!(fp = rmq_fp_start(0, br.port))) return -1;
    cl = bt_client();
    return 0;
}

static int teardown(void **state) {
    rmq_rem_client_destroy(cl);
    rmq_fp_stop(fp);
    int errs = rmq_proc_log_errors(&br) + rmq_proc_log_errors(&ns_br) + rmq_proc_log_errors(&ns_cl);
    bool san = log_has(br.log, "runtime error") || log_has(br.log, "AddressSanitizer");
    int st = rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns_br, SIGTERM);
    rmq_proc_stop(&ns_cl, SIGTERM);
    if (errs || san || st != 0) {
        fprintf(stderr, "ERROR lines %d, sanitizer %d, broker exit %d; log %s\n", errs, san, st,
                br.log);
        return -1;
    }
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns_br.dir);
    rmq_rm_rf(ns_cl.dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_client_faults)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
