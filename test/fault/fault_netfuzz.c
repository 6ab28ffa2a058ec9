/* fault-netfuzz: build/bin/netfuzz writes mutated remoting frames at both a NameServer and a
 * broker (32 connections, 20 s; RMQ_NETFUZZ_SECONDS for a longer run) while a legitimate librmq
 * producer sends to its own topic. Afterwards: both servers alive and answering (netfuzz exits
 * 0), the producer's success rate 100 %, every acknowledged message readable at its queue, no
 * ERROR line and no sanitizer report in either log. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "rmq/rmq.h"
#include "test/integration/broker_util.h"

#define TOPIC "LegitTopic"
#define NQ 4
#define MAXMSG 1000000

static rmq_proc_t ns, br, fz;
static rmq_rem_client_t *cl;
static _Atomic int stop;
static int sent_ok, sent_fail;
static unsigned char *acked; /* by seq */

static void *producer(void *arg) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    rmq_conf_set(c, "namesrvAddr", ns.addr, err, sizeof err);
    rmq_conf_set(c, "groupName", "legit_pg", err, sizeof err);
    rmq_conf_set(c, "sendMsgTimeout", "10000", err, sizeof err);
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    if (!p) {
        fprintf(stderr, "producer: %s\n", err);
        sent_fail = -1;
        return NULL;
    }
    for (int seq = 0; !atomic_load(&stop) && seq < MAXMSG; seq++) {
        char body[64];
        snprintf(body, sizeof body, "legit-%d", seq);
        rmq_msg_t *m = rmq_msg_new(TOPIC, "t", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        rmq_err_t e = rmq_send_sync(p, m, &r);
        rmq_msg_destroy(m);
        if (e == RMQ_OK && r.status == RMQ_SEND_OK) {
            acked[seq] = 1;
            sent_ok++;
        } else {
            if (sent_fail < 10) fprintf(stderr, "legit send %d: %s\n", seq, rmq_strerror(e));
            sent_fail++;
        }
    }
    rmq_producer_destroy(p);
    return NULL;
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

static bool routed(void) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_t *resp = bt_call(cl, ns.addr, req, BT_TIMEOUT);
    bool ok = resp->code == 0;
    rmq_rem_cmd_destroy(resp);
    return ok;
}

static void test_netfuzz(void **state) {
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);
    for (int i = 0; i < 200 && !routed(); i++) rmq_sleep_ms(100);
    assert_true(routed());

    const char *secs = getenv("RMQ_NETFUZZ_SECONDS");
    char bin[512], seconds[16];
    snprintf(seconds, sizeof seconds, "%d", secs && atoi(secs) > 0 ? atoi(secs) : 20);
    rmq_bin_path("netfuzz", bin, sizeof bin);
    memset(&fz, 0, sizeof fz);
    snprintf(fz.log, sizeof fz.log, "%s/netfuzz.log", br.dir);
    char *argv[] = {bin, "--seconds", seconds, "--conns", "32", ns.addr, br.addr, NULL};

    pthread_t tp;
    assert_int_equal(pthread_create(&tp, NULL, producer, NULL), 0);
    assert_int_equal(rmq_spawn(&fz, bin, argv), 0);
    int st = 0;
    assert_int_equal(waitpid(fz.pid, &st, 0), fz.pid);
    fz.pid = 0;
    atomic_store(&stop, 1);
    pthread_join(tp, NULL);

    FILE *f = fopen(fz.log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) printf("%s", line);
    if (f) fclose(f);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* both servers answered after the run */
    assert_int_equal(kill(ns.pid, 0), 0);
    assert_int_equal(kill(br.pid, 0), 0);

    printf("fault-netfuzz: legitimate producer %d acknowledged, %d failed\n", sent_ok, sent_fail);
    assert_int_equal(sent_fail, 0);
    assert_true(sent_ok > 0);

    /* every acknowledged message readable */
    int found = 0;
    unsigned char *seen = calloc(MAXMSG, 1);
    for (int q = 0; q < NQ; q++) {
        int64_t n = 0;
        char *dump = bt_queue_dump(cl, br.addr, TOPIC, q, &n);
        for (char *p = dump; p && (p = strstr(p, "legit-")); p++) {
            int seq = atoi(p + 6);
            if (seq >= 0 && seq < MAXMSG && acked[seq] && !seen[seq]) {
                seen[seq] = 1;
                found++;
            }
        }
        free(dump);
    }
    free(seen);
    assert_int_equal(found, sent_ok);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    acked = calloc(MAXMSG, 1);
    if (rmq_start_namesrv(&ns, NULL)) return -1;
    if (rmq_start_broker(&br, ns.addr, NULL)) return -1;
    cl = bt_client();
    return 0;
}

static int teardown(void **state) {
    rmq_rem_client_destroy(cl);
    int errs = rmq_proc_log_errors(&ns) + rmq_proc_log_errors(&br);
    bool san = log_has(br.log, "runtime error") || log_has(br.log, "AddressSanitizer") ||
               log_has(ns.log, "runtime error") || log_has(ns.log, "AddressSanitizer");
    int st_b = rmq_proc_stop(&br, SIGTERM), st_n = rmq_proc_stop(&ns, SIGTERM);
    free(acked);
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_netfuzz)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
