/* timer_bench: 5.x timer message figures for scripts/bench-timer.sh (issue 10).
 *
 *   timer_bench -n NAMESRV -t TOPIC latency N WINDOW_MS LEAD_MS
 *       sends N messages (async, librmq) whose deliver times (rmq_msg_set_deliver_time) spread
 *       evenly over WINDOW_MS starting LEAD_MS after the start, so N / WINDOW_MS * 1000 are due
 *       each second; a push consumer records, per message, receive time - deliver time and
 *       store time - deliver time; prints count, early, duplicates and p50 / p99 / max.
 *   timer_bench -n NAMESRV -t TOPIC park N DELAY_S
 *       sends N messages due DELAY_S seconds later as fast as the broker takes them (for the
 *       RSS with N pending); prints the send rate.
 *
 * A benchmark, not a test: it asserts nothing, exits 1 only when it could not run. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "rmq/rmq.h"

static const char *ns = "127.0.0.1:9876", *topic = "TimerBench";
static _Atomic int64_t inflight, send_errors;

static int64_t *late_rx, *late_store; /* indexed by message id */
static _Atomic int *seen;
static _Atomic int64_t received, early, dups;
static int64_t total;

static void on_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    (void)p;
    (void)r;
    (void)op;
    if (e != RMQ_OK) atomic_fetch_add(&send_errors, 1);
    atomic_fetch_sub(&inflight, 1);
}

static rmq_consume_status_t on_msgs(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                    rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    (void)op;
    int64_t now = rmq_now_ms();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = rmq_msg_body(msgs[i], &len);
        char tmp[64];
        if (!b || len >= sizeof tmp) continue;
        memcpy(tmp, b, len);
        tmp[len] = 0;
        int64_t id, due;
        if (sscanf(tmp, "%" SCNd64 ":%" SCNd64, &id, &due) != 2 || id < 0 || id >= total) continue;
        if (atomic_fetch_add(&seen[id], 1) > 0) {
            atomic_fetch_add(&dups, 1);
            continue;
        }
        late_rx[id] = now - due;
        late_store[id] = rmq_msg_store_ts(msgs[i]) - due;
        if (now < due) atomic_fetch_add(&early, 1);
        atomic_fetch_add(&received, 1);
    }
    return RMQ_CONSUME_SUCCESS;
}

static rmq_conf_t *conf(const char *group) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    if (rmq_conf_set(c, "namesrvAddr", ns, err, sizeof err) != RMQ_CONF_OK ||
        rmq_conf_set(c, "groupName", group, err, sizeof err) != RMQ_CONF_OK) {
        fprintf(stderr, "conf: %s\n", err);
        exit(1);
    }
    return c;
}

/* Send n messages, the i-th due at due(i); bounded in flight. */
static void send_all(rmq_producer_t *p, int64_t n, int64_t t0, int64_t lead, int64_t window) {
    for (int64_t i = 0; i < n; i++) {
        while (atomic_load(&inflight) >= 4000) usleep(200);
        int64_t due = t0 + lead + (window * i) / n;
        char body[64];
        int len = snprintf(body, sizeof body, "%" PRId64 ":%" PRId64, i, due);
        rmq_msg_t *m = rmq_msg_new(topic, "TB", NULL, body, (size_t)len, RMQ_MSG_F_COPY);
        rmq_msg_set_deliver_time(m, due);
        atomic_fetch_add(&inflight, 1);
        if (rmq_send_async(p, m, on_sent, NULL) != RMQ_OK) {
            atomic_fetch_sub(&inflight, 1);
            atomic_fetch_add(&send_errors, 1);
        }
        rmq_msg_destroy(m);
    }
    while (atomic_load(&inflight) > 0) usleep(1000);
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, int64_t n) {
    int64_t *s = malloc((size_t)n * sizeof *s), k = 0;
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&seen[i])) s[k++] = v[i];
    qsort(s, (size_t)k, sizeof *s, cmp64);
    if (k)
        printf("%s_ms p50=%" PRId64 " p99=%" PRId64 " max=%" PRId64 " min=%" PRId64 "\n", what,
               s[k / 2], s[(k * 99) / 100], s[k - 1], s[0]);
    free(s);
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "n:t:")) != -1) {
        if (o == 'n')
            ns = optarg;
        else if (o == 't')
            topic = optarg;
        else
            return 1;
    }
    if (argc - optind < 3) {
        fprintf(stderr, "usage: timer_bench [-n ns] [-t topic] latency N WINDOW_MS LEAD_MS | "
                        "park N DELAY_S\n");
        return 1;
    }
    const char *mode = argv[optind];
    total = atoll(argv[optind + 1]);
    char err[256];
    rmq_producer_t *p = rmq_producer_new(conf("pg_timer_bench"), err, sizeof err);
    if (!p) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    if (!strcmp(mode, "park")) {
        int64_t delay = atoll(argv[optind + 2]) * 1000, t0 = rmq_now_ms();
        send_all(p, total, t0, delay, 1000);
        double secs = (double)(rmq_now_ms() - t0) / 1000.0;
        printf("parked=%" PRId64 " errors=%" PRId64 " seconds=%.1f rate=%.0f/s\n", total,
               atomic_load(&send_errors), secs, (double)total / secs);
        rmq_producer_destroy(p);
        return 0;
    }
    if (argc - optind < 4) return 1;
    int64_t window = atoll(argv[optind + 2]), lead = atoll(argv[optind + 3]);
    late_rx = calloc((size_t)total, sizeof *late_rx);
    late_store = calloc((size_t)total, sizeof *late_store);
    seen = calloc((size_t)total, sizeof *seen);
    rmq_conf_t *c = conf("cg_timer_bench");
    rmq_conf_set(c, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET", err, sizeof err);
    rmq_conf_set(c, "consumeMessageBatchMaxSize", "32", err, sizeof err);
    rmq_conf_set(c, "pullBatchSize", "64", err, sizeof err);
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    if (!pc || rmq_push_consumer_subscribe(pc, topic, "*") ||
        rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, on_msgs, NULL) ||
        rmq_push_consumer_start(pc)) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    sleep(3); /* rebalance */
    int64_t t0 = rmq_now_ms();
    send_all(p, total, t0, lead, window);
    int64_t sent_at = rmq_now_ms() - t0;
    if (sent_at > lead)
        fprintf(stderr,
                "warning: sending took %" PRId64 " ms, longer than the lead %" PRId64
                " ms: the first deliver times had passed when sent\n",
                sent_at, lead);
    int64_t end = t0 + lead + window + 30000;
    while (atomic_load(&received) < total && rmq_now_ms() < end) usleep(100000);
    sleep(1);
    printf("sent=%" PRId64 " send_errors=%" PRId64 " send_ms=%" PRId64 " due_per_s=%.0f\n", total,
           atomic_load(&send_errors), sent_at, (double)total * 1000.0 / (double)window);
    printf("received=%" PRId64 " early=%" PRId64 " duplicates=%" PRId64 "\n",
           atomic_load(&received), atomic_load(&early), atomic_load(&dups));
    report("lateness_at_consumer", late_rx, total);
    report("lateness_in_store", late_store, total);
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
    return 0;
}
