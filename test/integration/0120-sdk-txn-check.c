/* Transaction check-back end to end (broker.md 8.4, 8.5) with librmq against a real NameServer
 * and broker, intervals shortened (transactionCheckInterval=500, transactionTimeOut=1000). Every
 * local transaction answers UNKNOWN; then the broker's CHECK_TRANSACTION_STATE decides:
 *   id 0: UNKNOWN on the first check, COMMIT on the second -> delivered exactly once;
 *   id 1: ROLLBACK on check -> never delivered;
 *   id 2 (sent after the restarts): always UNKNOWN -> checked transactionCheckMax (15) times, then
 * found in TRANS_CHECK_MAX_TIME_TOPIC and never delivered; id 3: UNKNOWN until its
 * TRANSACTION_CHECK_TIMES reaches 6, while the broker is restarted with SIGTERM and then killed
 * with -9: the check count keeps rising (no run from the start of the half queue), then COMMIT ->
 * delivered exactly once; id 10: sent by a child process killed -9 inside its local transaction; a
 * second producer of the same group answers the check with COMMIT -> delivered exactly once. */
#include <sys/wait.h>
#include <unistd.h>

#include "sdk_util.h"

#define TOPIC "TxnCheckTopic"
#define GROUP "PG_TXN_A"
#define KGROUP "PG_TXN_K"
#define BULK0 100 /* ids of the bulk */
#define BULKN 700 /* more than a check slice (256 records) walks at once */
#define BEXTRA "transactionCheckInterval=500\ntransactionTimeOut=1000\n"

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

typedef struct {
    pthread_mutex_t mu;
    int checks[16];
    int times[16][64]; /* TRANSACTION_CHECK_TIMES seen per check */
    int bulk_checks;
} checks_t;

static checks_t ck = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int msg_id(const rmq_msg_t *m) {
    const char *k = rmq_msg_keys(m);
    return k && k[0] == 'k' ? atoi(k + 1) : -1;
}

static rmq_txn_state_t exec_unknown(rmq_producer_t *p, const rmq_msg_t *m, void *op) {
    (void)p, (void)m, (void)op;
    return RMQ_TXN_UNKNOWN;
}

static rmq_txn_state_t on_check(rmq_producer_t *p, const rmq_msg_t *m, void *op) {
    (void)p, (void)op;
    int id = msg_id(m);
    const char *tv = rmq_msg_property(m, "TRANSACTION_CHECK_TIMES");
    int times = tv ? atoi(tv) : -1;
    if (id >= BULK0) { /* the bulk: committed on the first check */
        pthread_mutex_lock(&ck.mu);
        ck.bulk_checks++;
        pthread_mutex_unlock(&ck.mu);
        return RMQ_TXN_COMMIT;
    }
    if (id < 0 || id >= 16) return RMQ_TXN_UNKNOWN;
    pthread_mutex_lock(&ck.mu);
    int n = ck.checks[id]++;
    if (n < 64) ck.times[id][n] = times;
    pthread_mutex_unlock(&ck.mu);
    switch (id) {
    case 0: return n == 0 ? RMQ_TXN_UNKNOWN : RMQ_TXN_COMMIT;
    case 1: return RMQ_TXN_ROLLBACK;
    case 3: return times >= 6 ? RMQ_TXN_COMMIT : RMQ_TXN_UNKNOWN;
    case 10: return RMQ_TXN_COMMIT;
    default: return RMQ_TXN_UNKNOWN;
    }
}

static int checks_of(int id) {
    pthread_mutex_lock(&ck.mu);
    int n = ck.checks[id];
    pthread_mutex_unlock(&ck.mu);
    return n;
}

static int last_times(int id) {
    pthread_mutex_lock(&ck.mu);
    int n = ck.checks[id];
    int t = n > 0 && n <= 64 ? ck.times[id][n - 1] : 0;
    pthread_mutex_unlock(&ck.mu);
    return t;
}

static bool wait_for(bool (*pred)(void), int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    while (rmq_mono_ms() < end) {
        if (pred()) return true;
        rmq_sleep_ms(100);
    }
    return pred();
}

static rmq_producer_t *txn_producer(const char *group) {
    rmq_conf_t *c = su_conf(group);
    rmq_conf_set_txn_check_cb(c, on_check, NULL);
    char err[256];
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    if (!p) fprintf(stderr, "producer: %s\n", err);
    return p;
}

static rmq_err_t send_txn(rmq_producer_t *p, int id, rmq_txn_cb exec) {
    char body[32], key[32];
    snprintf(body, sizeof body, "id:%d", id);
    snprintf(key, sizeof key, "k%d", id);
    rmq_msg_t *m = rmq_msg_new(TOPIC, "t", key, body, strlen(body), RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    rmq_err_t e = rmq_send_in_txn(p, m, exec, NULL, &r);
    rmq_msg_destroy(m);
    return e;
}

/* ---- the child producer, killed inside its local transaction ------------------------------ */

static int child_fd = -1;

static rmq_txn_state_t exec_and_hang(rmq_producer_t *p, const rmq_msg_t *m, void *op) {
    (void)p, (void)m, (void)op;
    if (write(child_fd, "R", 1) != 1) _exit(3);
    for (;;) pause(); /* killed here, between the half message and END_TRANSACTION */
    return RMQ_TXN_UNKNOWN;
}

static int child_main(const char *ns, int fd) {
    rmq_strlcpy(su_ns.addr, ns, sizeof su_ns.addr);
    child_fd = fd;
    rmq_producer_t *p = su_producer(KGROUP);
    if (!p) return 2;
    send_txn(p, 10, exec_and_hang);
    return 4;
}

static pid_t spawn_child(int *rfd) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char fdv[16];
        snprintf(fdv, sizeof fdv, "%d", fds[1]);
        execl("/proc/self/exe", "0120-sdk-txn-check", "child", su_ns.addr, fdv, (char *)NULL);
        _exit(5);
    }
    close(fds[1]);
    *rfd = fds[0];
    return pid;
}

/* ---- predicates ---------------------------------------------------------------------------- */

static su_counter_t cnt;

static int delivered(int id) {
    pthread_mutex_lock(&cnt.mu);
    int n = cnt.count[id];
    pthread_mutex_unlock(&cnt.mu);
    return n;
}

static bool id3_twice(void) {
    return last_times(3) >= 2;
}
static bool id3_four(void) {
    return last_times(3) >= 4;
}
static bool id3_done(void) {
    return delivered(3) >= 1;
}
static bool bulk_done(void) {
    for (int i = 0; i < BULKN; i++)
        if (delivered(BULK0 + i) < 1) return false;
    return true;
}
static bool all_resolved(void) {
    return delivered(0) >= 1 && delivered(3) >= 1 && delivered(10) >= 1 && checks_of(1) >= 1 &&
           checks_of(2) >= 15;
}

/* Is a message with key k2 in TRANS_CHECK_MAX_TIME_TOPIC? */
static bool in_check_max_topic(void) {
    rmq_conf_t *c = su_conf("CID_TXN_TEST_PULL");
    char err[256];
    rmq_pull_consumer_t *pc = rmq_pull_consumer_new(c, err, sizeof err);
    if (!pc) return false;
    bool found = false;
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    if (rmq_fetch_queues(pc, "TRANS_CHECK_MAX_TIME_TOPIC", &mqs, &n) == RMQ_OK) {
        for (size_t q = 0; q < n && !found; q++) {
            rmq_pull_result_t *r = NULL;
            if (rmq_pull(pc, &mqs[q], "*", 0, 32, 3000, &r) != RMQ_OK || !r) continue;
            for (size_t i = 0; i < r->n; i++)
                if (msg_id(r->msgs[i]) == 2) {
                    found = true;
                    const char *tv = rmq_msg_property(r->msgs[i], "TRANSACTION_CHECK_TIMES");
                    CHECK(tv && atoi(tv) == 15, "TRANSACTION_CHECK_TIMES %s in the max topic",
                          tv ? tv : "(none)");
                }
            rmq_pull_result_destroy(r);
        }
        free(mqs);
    }
    rmq_pull_consumer_destroy(pc);
    return found;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "child")) return child_main(argv[2], atoi(argv[3]));
    setvbuf(stdout, NULL, _IONBF, 0);
    /* the child producer is started before any SDK thread exists here */
    /* a port whose HA neighbour (listenPort + 1) no client connection takes: restarted below */
    memset(&su_ns, 0, sizeof su_ns);
    memset(&su_broker, 0, sizeof su_broker);
    if (rmq_start_namesrv(&su_ns, NULL) != 0 || rmq_broker_prepare(&su_broker) != 0 ||
        rmq_start_broker(&su_broker, su_ns.addr, BEXTRA) != 0) {
        fprintf(stderr, "cannot start servers\n");
        return 1;
    }
    int rfd = -1;
    pid_t child = spawn_child(&rfd);
    CHECK(child > 0, "fork");
    char ch = 0;
    CHECK(child > 0 && read(rfd, &ch, 1) == 1 && ch == 'R', "child producer sent no half");
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        close(rfd);
    }

    su_counter_init(&cnt);
    rmq_producer_t *p = txn_producer(GROUP);
    rmq_producer_t *pk = txn_producer(KGROUP); /* the second producer of the killed one's group */
    CHECK(p && pk, "producers");
    if (!p || !pk) goto out;
    for (int id = 0; id < 4; id++)
        if (id != 2) CHECK(send_txn(p, id, exec_unknown) == RMQ_OK, "send in txn id %d", id);
    rmq_push_consumer_t *pc =
        su_consumer("CG_TXN_CHECK", TOPIC, "*", RMQ_LISTEN_CONCURRENTLY, &cnt, NULL);
    CHECK(pc != NULL, "consumer");

    /* restarts while id 3 is between checks */
    CHECK(wait_for(id3_twice, 60000), "id 3 not checked twice (checks %d)", checks_of(3));
    rmq_proc_stop(&su_broker, SIGTERM);
    CHECK(rmq_start_broker(&su_broker, su_ns.addr, BEXTRA) == 0, "broker restart");
    CHECK(wait_for(id3_four, 60000), "id 3 not checked 4 times (checks %d)", checks_of(3));
    rmq_proc_stop(&su_broker, SIGKILL);
    CHECK(rmq_start_broker(&su_broker, su_ns.addr, BEXTRA) == 0, "broker restart after kill -9");

    /* id 2 after the restarts: checks made while no producer was online would count too */
    CHECK(wait_for(id3_done, 60000), "id 3 not delivered after the restarts");
    CHECK(send_txn(p, 2, exec_unknown) == RMQ_OK, "send in txn id 2");
    CHECK(wait_for(all_resolved, 120000),
          "not resolved: delivered 0:%d 3:%d 10:%d checks 1:%d 2:%d", delivered(0), delivered(3),
          delivered(10), checks_of(1), checks_of(2));
    /* the bulk: several slices of one run, each message checked and committed once */
    for (int i = 0; i < BULKN; i++)
        CHECK(send_txn(p, BULK0 + i, exec_unknown) == RMQ_OK, "send bulk %d", i);
    CHECK(wait_for(bulk_done, 120000), "bulk not delivered: %d checks", ck.bulk_checks);
    rmq_sleep_ms(3000); /* a few more runs: nothing more may come */
    for (int i = 0; i < BULKN; i++)
        if (delivered(BULK0 + i) != 1) {
            CHECK(false, "bulk id %d delivered %d times", BULK0 + i, delivered(BULK0 + i));
            break;
        }
    pthread_mutex_lock(&ck.mu);
    /* each was checked; one whose answer took longer than transactionTimeOut (a loaded
     * machine) is checked again, and must still be committed once (asserted above) */
    CHECK(ck.bulk_checks >= BULKN, "%d checks for %d bulk halves", ck.bulk_checks, BULKN);
    pthread_mutex_unlock(&ck.mu);
    CHECK(delivered(0) == 1, "id 0 delivered %d times", delivered(0));
    CHECK(delivered(1) == 0, "id 1 (rolled back) delivered %d times", delivered(1));
    CHECK(delivered(2) == 0, "id 2 (never resolved) delivered %d times", delivered(2));
    CHECK(delivered(3) == 1, "id 3 delivered %d times", delivered(3));
    CHECK(delivered(10) == 1, "id 10 (killed producer) delivered %d times", delivered(10));
    CHECK(checks_of(0) >= 2, "id 0 checked %d times", checks_of(0)); /* more if slow */
    CHECK(checks_of(1) >= 1, "id 1 checked %d times", checks_of(1));
    CHECK(checks_of(2) == 15, "id 2 checked %d times (transactionCheckMax 15)", checks_of(2));
    /* check counts as the producer saw them: first check 1, never back (no restart storm) */
    pthread_mutex_lock(&ck.mu);
    for (int id = 0; id < 4; id++) {
        int n = ck.checks[id] < 64 ? ck.checks[id] : 64;
        CHECK(n == 0 || ck.times[id][0] == 1, "id %d first check carried %d", id, ck.times[id][0]);
        for (int k = 1; k < n; k++)
            CHECK(ck.times[id][k] >= ck.times[id][k - 1] && ck.times[id][k] >= 2,
                  "id %d check %d carried TRANSACTION_CHECK_TIMES %d after %d", id, k,
                  ck.times[id][k], ck.times[id][k - 1]);
    }
    pthread_mutex_unlock(&ck.mu);
    CHECK(in_check_max_topic(), "id 2 not found in TRANS_CHECK_MAX_TIME_TOPIC");
    CHECK(rmq_proc_log_errors(&su_broker) == 0, "ERROR lines in the broker log");
    if (pc) rmq_push_consumer_destroy(pc);
out:
    if (failures && su_broker.log[0]) { /* keep the broker's log for the reader */
        char cmd[700];
        snprintf(cmd, sizeof cmd, "cp %s /tmp/0120-broker.log", su_broker.log);
        if (system(cmd) != 0) fprintf(stderr, "cannot keep %s\n", su_broker.log);
    }
    if (p) rmq_producer_destroy(p);
    if (pk) rmq_producer_destroy(pk);
    su_stop();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
