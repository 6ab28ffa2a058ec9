/* mqbench: producer / consumer benchmarks with RocketMQ's benchmark flags (operations.md 8),
 * plus `rtt`, the raw request/response rate of one connection, to compare against, and `e2e`,
 * send -> listener latency at a fixed rate (OpenMessaging Benchmark style).
 *
 * Output: one "Current Time: ..." line a second and one "[Complete] ..." line at the end with
 * percentiles from per-thread log-bucket histograms. Exit 0 on a clean run (no failures and,
 * with -q, every message done). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "client/admin_internal.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/client.h"
#include "remoting/cmd.h"
#include "remoting/tls.h"
#include "rmq/rmq.h"
#include "rmq/rmq_codes.h"
#include "tools/tool_util.h"

/* ---- common ----------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *mode, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *mode, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mqbench %s: %s\n", mode, line);
    return 1;
}

static volatile sig_atomic_t g_stop;
static void on_sig(int s) {
    (void)s;
    g_stop = 1;
}

/* Per-thread histograms, registered on first use and merged at the end. */
typedef struct hnode_s {
    rmq_hist_t h;
    struct hnode_s *next;
} hnode_t;
static pthread_mutex_t g_hmu = PTHREAD_MUTEX_INITIALIZER;
static hnode_t *g_hists;
static __thread hnode_t *tl_hist;

static void hist_record(uint64_t v) {
    if (!tl_hist) {
        hnode_t *n = malloc(sizeof *n);
        if (!n) return;
        rmq_hist_init(&n->h);
        pthread_mutex_lock(&g_hmu);
        n->next = g_hists;
        g_hists = n;
        pthread_mutex_unlock(&g_hmu);
        tl_hist = n;
    }
    rmq_hist_add(&tl_hist->h, v);
}

/* Merged view; taken after the workers stopped (or racy but harmless for a snapshot). */
static void hist_merged(rmq_hist_t *out) {
    rmq_hist_init(out);
    pthread_mutex_lock(&g_hmu);
    for (hnode_t *n = g_hists; n; n = n->next) rmq_hist_merge(out, &n->h);
    pthread_mutex_unlock(&g_hmu);
}

static void atomic_max(_Atomic uint64_t *m, uint64_t v) {
    uint64_t cur = atomic_load_explicit(m, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static const rmq_tool_opt_t k_opts[] = {
    {'n', "namesrvAddr", true, false, "NameServer list h:p;h:p (default $NAMESRV_ADDR)"},
    {'t', "topic", true, false, "topic (BenchmarkTest)"},
    {'w', "threadCount", true, false, "threads (producer 64, consumer 20)"},
    {'s', "messageSize", true, false, "body size in bytes (1024)"},
    {'q', "messageQuantity", true, false, "total messages (0 = until --seconds or Ctrl-C)"},
    {'y', "asyncEnable", false, false, "async sends"},
    {0, "window", true, false, "outstanding async sends (256)"},
    {'b', "batchSize", true, false, "producer: messages per batch; consumer: per listener call"},
    {'k', "keyEnable", false, false, "set a key on every message"},
    {'l', "latencyFaultEnable", false, false,
     "producer: sendLatencyFaultEnable=true (avoid a broker that failed or is slow)"},
    {0, "seconds", true, false, "run time in seconds"},
    {'g', "group", true, false, "consumer group (benchmark_consumer_<random>)"},
    {0, "from", true, false, "consumer start for a new group: first (default), last, TIMESTAMP_MS"},
    {0, "broker", true, false, "rtt: broker address (default: the master of the topic)"},
    {0, "propMod", true, false, "producer: property n = sequence mod this on every message"},
    {0, "sql", true, false, "consumer: SQL92 subscription (broker needs enablePropertyFilter)"},
    {0, "rate", true, false, "e2e: messages per second, sent on a clock schedule (1000)"},
    {0, "warmup", true, false, "e2e: seconds at the rate before measuring (1)"},
    {0, "ak", true, false, "ACL accessKey (default: $ROCKETMQ_HOME/conf/tools.yml)"},
    {0, "sk", true, false, "ACL secretKey (with -ak)"},
    {'h', "help", false, false, "help"},
};
#define NOPTS ((int)(sizeof k_opts / sizeof k_opts[0]))

typedef struct {
    const char *ns, *topic, *group, *from, *broker, *sql;
    int threads, size, batch, window, seconds, prop_mod, rate, warmup;
    long long total;
    bool async, keys, fault;
} bench_cfg_t;

/* ---- producer --------------------------------------------------------------------------- */

static struct {
    bench_cfg_t *cfg;
    rmq_producer_t *p;
    uint8_t *body;
    _Atomic long long claimed;           /* messages handed to a sender */
    _Atomic unsigned long long prop_seq; /* --propMod: global message number */
    _Atomic uint64_t ok, send_failed, resp_failed;
    _Atomic uint64_t rt_sum_ns, rt_n; /* since the last report line */
    _Atomic uint64_t rt_max_ns;       /* since the last report line */
    _Atomic uint64_t rt_max_all_ns;
    /* async window: at most cfg->window sends outstanding. A sender that finds it full sleeps
     * until an eighth of it has completed: one wake-up per window/8 completions instead of a
     * semaphore post (and futex wake) per completion, which cost the client more than the
     * send itself. */
    _Atomic int outstanding;
    _Atomic int waiting;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
} P;

static int window_low(void) {
    return P.cfg->window - (P.cfg->window + 7) / 8;
}

static void window_acquire(void) {
    for (;;) {
        int cur = atomic_load(&P.outstanding);
        if (cur < P.cfg->window) {
            if (atomic_compare_exchange_weak(&P.outstanding, &cur, cur + 1)) return;
            continue;
        }
        pthread_mutex_lock(&P.wmu);
        atomic_fetch_add(&P.waiting, 1);
        while (atomic_load(&P.outstanding) > window_low()) pthread_cond_wait(&P.wcv, &P.wmu);
        atomic_fetch_sub(&P.waiting, 1);
        pthread_mutex_unlock(&P.wmu);
    }
}

static void window_release(void) {
    /* seq_cst decrement then load of waiting, against the waiter's increment then load of
     * outstanding: one of the two always sees the other, so no wake-up is lost */
    int now = atomic_fetch_sub(&P.outstanding, 1) - 1;
    if (now <= window_low() && atomic_load(&P.waiting) > 0) {
        pthread_mutex_lock(&P.wmu);
        pthread_cond_broadcast(&P.wcv);
        pthread_mutex_unlock(&P.wmu);
    }
}

/* Claim up to want messages; 0 when the total is reached or the run is stopping. */
static int claim(int want) {
    if (g_stop) return 0;
    if (P.cfg->total <= 0) return want;
    long long got = atomic_fetch_add(&P.claimed, want);
    if (got >= P.cfg->total) return 0;
    return got + want > P.cfg->total ? (int)(P.cfg->total - got) : want;
}

static void record_send(rmq_err_t e, uint64_t dt_ns, int nmsgs) {
    if (e == RMQ_OK) {
        atomic_fetch_add_explicit(&P.ok, (uint64_t)nmsgs, memory_order_relaxed);
        hist_record(dt_ns);
        atomic_fetch_add_explicit(&P.rt_sum_ns, dt_ns, memory_order_relaxed);
        atomic_fetch_add_explicit(&P.rt_n, 1, memory_order_relaxed);
        atomic_max(&P.rt_max_ns, dt_ns);
        atomic_max(&P.rt_max_all_ns, dt_ns);
    } else if ((int)e > 0) {
        atomic_fetch_add_explicit(&P.resp_failed, (uint64_t)nmsgs, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&P.send_failed, (uint64_t)nmsgs, memory_order_relaxed);
    }
}

/* An async send's start time and message count travel in its callback's op pointer:
 * microseconds since the run started (44 bits, 203 days) above a 20-bit count (batches are
 * at most 1,048,575 messages), so the benchmark adds no allocation of its own per send. */
#define OP_N_BITS 20
static uint64_t g_op_base_ns;

static void *op_pack(uint64_t t0_ns, int n) {
    return (void *)(uintptr_t)((((t0_ns - g_op_base_ns) / 1000) << OP_N_BITS) | (uint64_t)n);
}

static void on_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    (void)p;
    (void)r;
    uint64_t v = (uint64_t)(uintptr_t)op;
    uint64_t t0 = g_op_base_ns + (v >> OP_N_BITS) * 1000;
    uint64_t now = now_ns();
    record_send(e, now > t0 ? now - t0 : 0, (int)(v & ((1u << OP_N_BITS) - 1)));
    window_release();
}

static rmq_msg_t *make_msg(int tid, uint64_t seq) {
    char key[64];
    if (P.cfg->keys) snprintf(key, sizeof key, "bench_%d_%llu", tid, (unsigned long long)seq);
    rmq_msg_t *m =
        rmq_msg_new(P.cfg->topic, NULL, P.cfg->keys ? key : NULL, P.body, (size_t)P.cfg->size, 0);
    if (m && P.cfg->prop_mod > 0) {
        char v[24];
        unsigned long long g = atomic_fetch_add(&P.prop_seq, 1);
        snprintf(v, sizeof v, "%llu", g % (unsigned long long)P.cfg->prop_mod);
        rmq_msg_set_property(m, "n", v);
    }
    return m;
}

static void *producer_thread(void *arg) {
    int tid = (int)(intptr_t)arg;
    int batch = P.cfg->batch > 1 ? P.cfg->batch : 1;
    rmq_msg_t **msgs = calloc((size_t)batch, sizeof *msgs);
    uint64_t seq = 0;
    for (;;) {
        int n = claim(batch);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) msgs[i] = make_msg(tid, seq++);
        if (P.cfg->async) {
            window_acquire();
            void *op = op_pack(now_ns(), n);
            rmq_err_t e = P.cfg->batch > 1 ? rmq_send_batch_async(P.p, msgs, (size_t)n, on_sent, op)
                                           : rmq_send_async(P.p, msgs[0], on_sent, op);
            if (e != RMQ_OK) { /* not submitted: the callback will not run */
                record_send(e, 0, n);
                window_release();
            }
        } else {
            rmq_send_result_t r;
            uint64_t t0 = now_ns();
            rmq_err_t e = P.cfg->batch > 1 ? rmq_send_batch(P.p, msgs, (size_t)n, &r)
                                           : rmq_send_sync(P.p, msgs[0], &r);
            record_send(e, now_ns() - t0, n);
        }
        for (int i = 0; i < n; i++) rmq_msg_destroy(msgs[i]);
    }
    free(msgs);
    return NULL;
}

static void fmt_now(char *out, size_t n) {
    rmq_tool_fmt_time(wall_ms(), out, n);
}

static int run_producer(bench_cfg_t *cfg) {
    P.cfg = cfg;
    P.body = malloc((size_t)cfg->size + 1);
    for (int i = 0; i < cfg->size; i++) P.body[i] = (uint8_t)('a' + i % 26);
    pthread_mutex_init(&P.wmu, NULL);
    pthread_cond_init(&P.wcv, NULL);
    rmq_conf_t *conf = rmq_tool_conf_new(cfg->ns);
    char err[256];
    rmq_conf_set(conf, "producerGroup", "benchmark_producer", err, sizeof err);
    rmq_conf_set(conf, "compressMsgBodyOverHowmuch", "1000000000", err, sizeof err);
    if (cfg->fault) rmq_conf_set(conf, "sendLatencyFaultEnable", "true", err, sizeof err);
    P.p = rmq_producer_new(conf, err, sizeof err);
    if (!P.p) {
        rmq_conf_destroy(conf);
        return fail("producer", "cannot start the producer: %s", err);
    }
    printf("topic: %s threadCount: %d messageSize: %d keyEnable: %s async: %s window: %d "
           "batchSize: %d messageQuantity: %lld seconds: %d\n",
           cfg->topic, cfg->threads, cfg->size, cfg->keys ? "true" : "false",
           cfg->async ? "true" : "false", cfg->window, cfg->batch, cfg->total, cfg->seconds);
    fflush(stdout);
    pthread_t *th = calloc((size_t)cfg->threads, sizeof *th);
    uint64_t t0 = now_ns();
    g_op_base_ns = t0;
    for (int i = 0; i < cfg->threads; i++)
        pthread_create(&th[i], NULL, producer_thread, (void *)(intptr_t)i);
    uint64_t last_ok = 0, last_t = t0;
    /* report once a second until every sender is done */
    for (;;) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        uint64_t t = now_ns();
        if (cfg->seconds > 0 && t - t0 >= (uint64_t)cfg->seconds * 1000000000ULL) g_stop = 1;
        bool done = g_stop || (cfg->total > 0 && atomic_load(&P.claimed) >= cfg->total);
        if (t - last_t >= 1000000000ULL) {
            uint64_t ok = atomic_load(&P.ok);
            uint64_t n = atomic_exchange(&P.rt_n, 0), sum = atomic_exchange(&P.rt_sum_ns, 0);
            uint64_t mx = atomic_exchange(&P.rt_max_ns, 0);
            char now[40];
            fmt_now(now, sizeof now);
            printf("Current Time: %s | Send TPS: %llu | Max RT(ms): %llu | Average RT(ms): %7.3f "
                   "| Send Failed: %llu | Response Failed: %llu\n",
                   now, (unsigned long long)((ok - last_ok) * 1000000000ULL / (t - last_t)),
                   (unsigned long long)(mx / 1000000), n ? (double)sum / (double)n / 1e6 : 0.0,
                   (unsigned long long)atomic_load(&P.send_failed),
                   (unsigned long long)atomic_load(&P.resp_failed));
            fflush(stdout);
            last_ok = ok;
            last_t = t;
        }
        if (done) break;
    }
    for (int i = 0; i < cfg->threads; i++) pthread_join(th[i], NULL);
    /* async: wait for the window to drain; a callback that never comes is reported as a
     * failed send after 30 s rather than hanging the run */
    if (cfg->async) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 30;
        pthread_mutex_lock(&P.wmu);
        atomic_fetch_add(&P.waiting, 1);
        int rc = 0;
        while (atomic_load(&P.outstanding) > 0 && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&P.wcv, &P.wmu, &dl);
        atomic_fetch_sub(&P.waiting, 1);
        pthread_mutex_unlock(&P.wmu);
        int left = atomic_load(&P.outstanding);
        if (left > 0) {
            atomic_fetch_add(&P.send_failed, (uint64_t)left);
            fprintf(stderr, "mqbench producer: %d async sends got no callback in 30 s\n", left);
        }
    }
    uint64_t t1 = now_ns();
    rmq_producer_destroy(P.p);
    rmq_hist_t h;
    hist_merged(&h);
    uint64_t ok = atomic_load(&P.ok), sf = atomic_load(&P.send_failed),
             rf = atomic_load(&P.resp_failed);
    double secs = (double)(t1 - t0) / 1e9;
    printf("[Complete] Send Total: %llu | Send TPS: %.0f | Max RT(ms): %llu | Average RT(ms): "
           "%.3f | p50(ms): %.3f | p99(ms): %.3f | p999(ms): %.3f | Send Failed: %llu | "
           "Response Failed: %llu\n",
           (unsigned long long)ok, secs > 0 ? (double)ok / secs : 0.0,
           (unsigned long long)((atomic_load(&P.rt_max_all_ns) + 999999) / 1000000),
           rmq_hist_mean(&h) / 1e6, rmq_hist_quantile(&h, 0.50) / 1e6,
           rmq_hist_quantile(&h, 0.99) / 1e6, rmq_hist_quantile(&h, 0.999) / 1e6,
           (unsigned long long)sf, (unsigned long long)rf);
    fflush(stdout);
    free(th);
    free(P.body);
    bool clean = sf == 0 && rf == 0 && (cfg->total <= 0 || (long long)ok >= cfg->total);
    return clean ? 0 : 1;
}

/* ---- consumer --------------------------------------------------------------------------- */

static struct {
    bench_cfg_t *cfg;
    _Atomic uint64_t n;
    _Atomic uint64_t b2c_sum, s2c_sum, n_iv; /* since the last report line, ms */
    _Atomic uint64_t b2c_max, s2c_max;
    _Atomic uint64_t first_ns, last_ns;
    _Atomic bool done;
} C;

static rmq_consume_status_t on_msgs(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                    rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    (void)op;
    int64_t now = wall_ms();
    uint64_t bs = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t b2c = now - rmq_msg_born_ts(msgs[i]);
        int64_t s2c = now - rmq_msg_store_ts(msgs[i]);
        if (b2c < 0) b2c = 0;
        if (s2c < 0) s2c = 0;
        hist_record((uint64_t)b2c * 1000); /* us */
        bs += (uint64_t)b2c;
        ss += (uint64_t)s2c;
        atomic_max(&C.b2c_max, (uint64_t)b2c);
        atomic_max(&C.s2c_max, (uint64_t)s2c);
    }
    uint64_t t = now_ns();
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&C.first_ns, &zero, t);
    atomic_fetch_add(&C.b2c_sum, bs);
    atomic_fetch_add(&C.s2c_sum, ss);
    atomic_fetch_add(&C.n_iv, n);
    uint64_t total = atomic_fetch_add(&C.n, n) + n;
    atomic_max(&C.last_ns, t);
    if (C.cfg->total > 0 && total >= (uint64_t)C.cfg->total) atomic_store(&C.done, true);
    return RMQ_CONSUME_SUCCESS;
}

static int run_consumer(bench_cfg_t *cfg) {
    C.cfg = cfg;
    rmq_conf_t *conf = rmq_tool_conf_new(cfg->ns);
    char err[256], buf[32], group[128];
    if (cfg->group)
        snprintf(group, sizeof group, "%s", cfg->group);
    else
        snprintf(group, sizeof group, "benchmark_consumer_%ld", (long)(wall_ms() % 100000000));
    rmq_conf_set(conf, "consumerGroup", group, err, sizeof err);
    const char *from = cfg->from ? cfg->from : "first";
    if (strcmp(from, "first") == 0) {
        rmq_conf_set(conf, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET", err, sizeof err);
    } else if (strcmp(from, "last") == 0) {
        rmq_conf_set(conf, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET", err, sizeof err);
    } else {
        rmq_conf_set(conf, "consumeFromWhere", "CONSUME_FROM_TIMESTAMP", err, sizeof err);
        if (rmq_conf_set(conf, "consumeTimestamp", from, err, sizeof err) != RMQ_CONF_OK) {
            rmq_conf_destroy(conf);
            return fail("consumer", "bad --from %s (first, last or a timestamp in ms)", from);
        }
    }
    snprintf(buf, sizeof buf, "%d", cfg->threads);
    rmq_conf_set(conf, "consumeThreadMin", buf, err, sizeof err);
    rmq_conf_set(conf, "consumeThreadMax", buf, err, sizeof err);
    snprintf(buf, sizeof buf, "%d", cfg->batch > 0 ? cfg->batch : 1);
    rmq_conf_set(conf, "consumeMessageBatchMaxSize", buf, err, sizeof err);
    rmq_push_consumer_t *pc = rmq_push_consumer_new(conf, err, sizeof err);
    if (!pc) {
        rmq_conf_destroy(conf);
        return fail("consumer", "cannot create the consumer: %s", err);
    }
    rmq_err_t e = cfg->sql ? rmq_push_consumer_subscribe_sql(pc, cfg->topic, cfg->sql)
                           : rmq_push_consumer_subscribe(pc, cfg->topic, "*");
    if (e == RMQ_OK) e = rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, on_msgs, NULL);
    if (e == RMQ_OK) e = rmq_push_consumer_start(pc);
    if (e != RMQ_OK) {
        rmq_push_consumer_destroy(pc);
        return fail("consumer", "cannot start the consumer: %s", rmq_strerror(e));
    }
    printf("topic: %s group: %s threadCount: %d batchSize: %d from: %s messageQuantity: %lld "
           "seconds: %d\n",
           cfg->topic, group, cfg->threads, cfg->batch > 0 ? cfg->batch : 1, from, cfg->total,
           cfg->seconds);
    fflush(stdout);
    uint64_t t0 = now_ns(), last_t = t0, last_n = 0;
    for (;;) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        uint64_t t = now_ns();
        if (cfg->seconds > 0 && t - t0 >= (uint64_t)cfg->seconds * 1000000000ULL) g_stop = 1;
        bool done = g_stop || atomic_load(&C.done);
        if (t - last_t >= 1000000000ULL || done) {
            uint64_t n = atomic_load(&C.n);
            uint64_t niv = atomic_exchange(&C.n_iv, 0);
            uint64_t bs = atomic_exchange(&C.b2c_sum, 0), ss = atomic_exchange(&C.s2c_sum, 0);
            printf("Current Time: %lld | Consume TPS: %llu | FAIL: 0 | AVG(B2C) RT(ms): %.3f | "
                   "AVG(S2C) RT(ms): %.3f | MAX(B2C) RT(ms): %llu | MAX(S2C) RT(ms): %llu\n",
                   (long long)wall_ms(),
                   (unsigned long long)((n - last_n) * 1000000000ULL / (t - last_t + 1)),
                   niv ? (double)bs / (double)niv : 0.0, niv ? (double)ss / (double)niv : 0.0,
                   (unsigned long long)atomic_exchange(&C.b2c_max, 0),
                   (unsigned long long)atomic_exchange(&C.s2c_max, 0));
            fflush(stdout);
            last_n = n;
            last_t = t;
        }
        if (done) break;
    }
    uint64_t n = atomic_load(&C.n);
    uint64_t first = atomic_load(&C.first_ns), last = atomic_load(&C.last_ns);
    rmq_push_consumer_destroy(pc);
    rmq_hist_t h;
    hist_merged(&h);
    /* drain rate: first message to last, so start-up and rebalance time do not count */
    double secs = last > first ? (double)(last - first) / 1e9 : 0;
    printf("[Complete] Consume Total: %llu | Consume TPS: %.0f | Average B2C RT(ms): %.1f | "
           "p99 B2C RT(ms): %.1f\n",
           (unsigned long long)n, secs > 0 ? (double)n / secs : 0.0, rmq_hist_mean(&h) / 1e3,
           rmq_hist_quantile(&h, 0.99) / 1e3);
    fflush(stdout);
    return (cfg->total <= 0 || n >= (uint64_t)cfg->total) ? 0 : 1;
}

/* ---- rtt -------------------------------------------------------------------------------- */

/* Master address of topic's first broker (via the admin API). */
static int find_broker(bench_cfg_t *cfg, char *out, size_t n) {
    rmq_conf_t *conf = rmq_tool_conf_new(cfg->ns);
    char err[256];
    rmq_admin_t *a = rmq_admin_new(conf, err, sizeof err);
    if (!a) {
        rmq_conf_destroy(conf);
        return fail("rtt", "%s", err);
    }
    char **addrs = NULL, **names = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(a, cfg->topic, &addrs, &names);
    int rc = 0;
    if (e != RMQ_OK)
        rc = fail("rtt", "no broker for topic %s: %s (give --broker)", cfg->topic,
                  rmq_admin_last_error(a));
    else
        snprintf(out, n, "%s", addrs[0]);
    for (char **p = addrs; p && *p; p++) free(*p);
    for (char **p = names; p && *p; p++) free(*p);
    free(addrs);
    free(names);
    rmq_admin_destroy(a);
    return rc;
}

static int run_rtt(bench_cfg_t *cfg) {
    char addr[128];
    if (cfg->broker)
        snprintf(addr, sizeof addr, "%s", cfg->broker);
    else if (find_broker(cfg, addr, sizeof addr))
        return 1;
    rmq_rem_client_t *cl = NULL;
    rmq_rem_tls_cfg_t tls;
    char terr[256];
    if (rmq_tool_tls_cfg(&tls, terr, sizeof terr)) {
        rmq_rem_tls_cfg_free(&tls);
        return fail("rtt", "%s", terr);
    }
    rmq_rem_client_cfg_t ccfg = {.name = "mqbench-rtt",
                                 .connect_timeout_ms = 3000,
                                 .tls = &tls,
                                 .access_key = rmq_tool_access_key(),
                                 .secret_key = rmq_tool_secret_key()};
    rmq_err_t ce = rmq_rem_client_new(NULL, &ccfg, &cl);
    rmq_rem_tls_cfg_free(&tls);
    if (ce != RMQ_OK) return fail("rtt", "cannot start the remoting client (TLS settings?)");
    int seconds = cfg->seconds > 0 ? cfg->seconds : (cfg->total > 0 ? 0 : 5);
    printf("rtt: broker %s request GET_MAX_OFFSET(30) sync on one connection, %s\n", addr,
           seconds ? "timed" : "counted");
    fflush(stdout);
    uint64_t t0 = now_ns(), last_t = t0, n = 0, last_n = 0, failed = 0, maxns = 0;
    uint64_t ivmax = 0, ivsum = 0;
    rmq_hist_t h;
    rmq_hist_init(&h);
    for (;;) {
        if (g_stop) break;
        if (cfg->total > 0 && (long long)n >= cfg->total) break;
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
        rmq_rem_cmd_set(req, "topic", cfg->topic);
        rmq_rem_cmd_set(req, "queueId", "0");
        rmq_rem_cmd_t *resp = NULL;
        uint64_t s = now_ns();
        rmq_err_t e = rmq_rem_client_invoke_sync(cl, addr, req, 3000, &resp);
        uint64_t t = now_ns(), dt = t - s;
        rmq_rem_cmd_destroy(resp);
        if (e != RMQ_OK) {
            if (++failed > 10) {
                rmq_rem_client_destroy(cl);
                return fail("rtt", "broker %s: %s", addr, rmq_strerror(e));
            }
            continue;
        }
        n++;
        rmq_hist_add(&h, dt);
        if (dt > maxns) maxns = dt;
        if (dt > ivmax) ivmax = dt;
        ivsum += dt;
        if (t - last_t >= 1000000000ULL) {
            char now[40];
            fmt_now(now, sizeof now);
            printf("Current Time: %s | RTT TPS: %llu | Max RT(ms): %.3f | Average RT(ms): %7.3f\n",
                   now, (unsigned long long)((n - last_n) * 1000000000ULL / (t - last_t)),
                   (double)ivmax / 1e6, (double)ivsum / (double)(n - last_n) / 1e6);
            fflush(stdout);
            last_n = n;
            last_t = t;
            ivmax = ivsum = 0;
        }
        if (seconds && t - t0 >= (uint64_t)seconds * 1000000000ULL) break;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    rmq_rem_client_destroy(cl);
    printf("[Complete] RTT Total: %llu | RTT TPS: %.0f | Max RT(ms): %.3f | Average RT(ms): %.3f | "
           "p50(ms): %.3f | p99(ms): %.3f | p999(ms): %.3f | Failed: %llu\n",
           (unsigned long long)n, secs > 0 ? (double)n / secs : 0.0, (double)maxns / 1e6,
           rmq_hist_mean(&h) / 1e6, rmq_hist_quantile(&h, 0.5) / 1e6,
           rmq_hist_quantile(&h, 0.99) / 1e6, rmq_hist_quantile(&h, 0.999) / 1e6,
           (unsigned long long)failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* ---- e2e -------------------------------------------------------------------------------- */

/* End to end at a fixed rate, as OpenMessaging Benchmark measures it: one sender thread sends
 * message i at t0 + i / rate by the clock (async, so a slow reply does not shift the schedule;
 * a sender that falls behind catches up at once and the lag is reported), a push consumer in
 * the same process records now - send time in its listener. Every message carries its send
 * time (CLOCK_MONOTONIC ns, valid because both ends are this process), its number and this
 * run's id as properties; messages of other runs on the topic are ignored. Before the measured
 * part, probes go out every 50 ms until the consumer gets one (it has its queues), then
 * --warmup seconds at the rate that are not recorded. */
#define E2E_RUN "e2eRun"
#define E2E_TS "e2eNs"
#define E2E_SEQ "e2eSeq"

static struct {
    bench_cfg_t *cfg;
    char run_id[32];
    long long n;           /* measured messages: rate * seconds */
    _Atomic uint8_t *seen; /* per measured message: received at least once */
    _Atomic uint64_t got, dups, probes, other;
    _Atomic uint64_t send_failed; /* async callbacks with an error */
    _Atomic uint64_t first_rx_ns, last_rx_ns;
    _Atomic int outstanding;
} E;

static rmq_consume_status_t on_e2e(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                   rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    (void)op;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = now_ns();
        const char *run = rmq_msg_property(msgs[i], E2E_RUN);
        const char *ts = rmq_msg_property(msgs[i], E2E_TS);
        const char *seq = rmq_msg_property(msgs[i], E2E_SEQ);
        if (!run || strcmp(run, E.run_id) || !ts || !seq) {
            atomic_fetch_add(&E.other, 1);
            continue;
        }
        long long s = strtoll(seq, NULL, 10);
        if (s < 0) { /* probe or warm-up */
            atomic_fetch_add(&E.probes, 1);
            continue;
        }
        if (s >= E.n) {
            atomic_fetch_add(&E.other, 1);
            continue;
        }
        if (atomic_exchange(&E.seen[s], 1)) {
            atomic_fetch_add(&E.dups, 1);
            continue;
        }
        uint64_t sent = strtoull(ts, NULL, 10);
        hist_record(t > sent ? t - sent : 0);
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&E.first_rx_ns, &zero, t);
        atomic_max(&E.last_rx_ns, t);
        atomic_fetch_add(&E.got, 1);
    }
    return RMQ_CONSUME_SUCCESS;
}

static void on_e2e_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    (void)p;
    (void)r;
    (void)op;
    if (e != RMQ_OK) atomic_fetch_add(&E.send_failed, 1);
    atomic_fetch_sub(&E.outstanding, 1);
}

static void sleep_until(uint64_t t_ns) {
    struct timespec ts = {(time_t)(t_ns / 1000000000ULL), (long)(t_ns % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop) {
    }
}

/* Send one message numbered seq (< 0: not measured) stamped with the time of the call; false
 * when it was not submitted. Waits while the window is full (counted as lag by the caller). */
static bool e2e_send(rmq_producer_t *p, const uint8_t *body, long long seq) {
    while (atomic_load(&E.outstanding) >= E.cfg->window && !g_stop) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    rmq_msg_t *m = rmq_msg_new(E.cfg->topic, NULL, NULL, body, (size_t)E.cfg->size, 0);
    if (!m) return false;
    char v[32];
    rmq_msg_set_property(m, E2E_RUN, E.run_id);
    snprintf(v, sizeof v, "%lld", seq);
    rmq_msg_set_property(m, E2E_SEQ, v);
    atomic_fetch_add(&E.outstanding, 1);
    snprintf(v, sizeof v, "%llu", (unsigned long long)now_ns());
    rmq_msg_set_property(m, E2E_TS, v);
    rmq_err_t e = rmq_send_async(p, m, on_e2e_sent, NULL);
    rmq_msg_destroy(m);
    if (e != RMQ_OK) {
        atomic_fetch_sub(&E.outstanding, 1);
        return false;
    }
    return true;
}

static int run_e2e(bench_cfg_t *cfg) {
    E.cfg = cfg;
    if (cfg->seconds <= 0) cfg->seconds = 10;
    E.n = (long long)cfg->rate * cfg->seconds;
    E.seen = calloc((size_t)E.n, sizeof *E.seen);
    uint8_t *body = malloc((size_t)cfg->size);
    if (!E.seen || !body) {
        free(body);
        return fail("e2e", "out of memory for %lld messages", E.n);
    }
    for (int i = 0; i < cfg->size; i++) body[i] = (uint8_t)('a' + i % 26);
    snprintf(E.run_id, sizeof E.run_id, "%ld-%lld", (long)getpid(), (long long)wall_ms());
#ifdef __linux__
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* 50 us default slack would blur the schedule */
#endif
    int rc = 1;
    rmq_producer_t *p = NULL;
    rmq_push_consumer_t *pc = NULL;
    char err[256], buf[64], group[128];
    /* consumer: from a second before now, so nothing of this run can be skipped however late
     * the rebalance comes; older messages are ignored by run id */
    rmq_conf_t *cc = rmq_tool_conf_new(cfg->ns);
    if (cfg->group)
        snprintf(group, sizeof group, "%s", cfg->group);
    else
        snprintf(group, sizeof group, "benchmark_e2e_%ld", (long)(wall_ms() % 100000000));
    rmq_conf_set(cc, "consumerGroup", group, err, sizeof err);
    rmq_conf_set(cc, "consumeFromWhere", "CONSUME_FROM_TIMESTAMP", err, sizeof err);
    snprintf(buf, sizeof buf, "%lld", (long long)wall_ms() - 1000);
    rmq_conf_set(cc, "consumeTimestamp", buf, err, sizeof err);
    snprintf(buf, sizeof buf, "%d", cfg->threads);
    rmq_conf_set(cc, "consumeThreadMin", buf, err, sizeof err);
    rmq_conf_set(cc, "consumeThreadMax", buf, err, sizeof err);
    snprintf(buf, sizeof buf, "%d", cfg->batch > 0 ? cfg->batch : 1);
    rmq_conf_set(cc, "consumeMessageBatchMaxSize", buf, err, sizeof err);
    pc = rmq_push_consumer_new(cc, err, sizeof err);
    if (!pc) {
        rmq_conf_destroy(cc);
        fail("e2e", "cannot create the consumer: %s", err);
        goto out;
    }
    rmq_err_t e = rmq_push_consumer_subscribe(pc, cfg->topic, "*");
    if (e == RMQ_OK) e = rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, on_e2e, NULL);
    if (e == RMQ_OK) e = rmq_push_consumer_start(pc);
    if (e != RMQ_OK) {
        fail("e2e", "cannot start the consumer: %s", rmq_strerror(e));
        goto out;
    }
    rmq_conf_t *pcf = rmq_tool_conf_new(cfg->ns);
    rmq_conf_set(pcf, "producerGroup", "benchmark_e2e_producer", err, sizeof err);
    rmq_conf_set(pcf, "compressMsgBodyOverHowmuch", "1000000000", err, sizeof err);
    p = rmq_producer_new(pcf, err, sizeof err);
    if (!p) {
        rmq_conf_destroy(pcf);
        fail("e2e", "cannot start the producer: %s", err);
        goto out;
    }
    printf("topic: %s group: %s rate: %d msgs/s seconds: %d warmup: %d messageSize: %d "
           "consumer threads: %d batchSize: %d window: %d\n",
           cfg->topic, group, cfg->rate, cfg->seconds, cfg->warmup, cfg->size, cfg->threads,
           cfg->batch > 0 ? cfg->batch : 1, cfg->window);
    fflush(stdout);
    /* probes until the consumer has its queues (60 s at most) */
    uint64_t pt0 = now_ns();
    while (atomic_load(&E.probes) == 0 && !g_stop) {
        if (now_ns() - pt0 > 60000000000ULL) {
            fail("e2e", "the consumer received nothing in 60 s (topic %s routable?)", cfg->topic);
            goto out;
        }
        e2e_send(p, body, -1);
        sleep_until(now_ns() + 50000000ULL);
    }
    uint64_t period = 1000000000ULL / (uint64_t)cfg->rate;
    long long nwarm = (long long)cfg->rate * cfg->warmup;
    uint64_t t0 = now_ns() + 1000000; /* first send in 1 ms */
    for (long long i = 0; i < nwarm && !g_stop; i++) {
        sleep_until(t0 + (uint64_t)((double)i * 1e9 / (double)cfg->rate));
        e2e_send(p, body, -1);
    }
    /* the measured part */
    t0 = now_ns() + 1000000;
    uint64_t max_lag = 0, last_print = t0;
    long long sent = 0, last_sent = 0, not_sent = 0;
    uint64_t last_got = 0;
    for (long long i = 0; i < E.n && !g_stop; i++) {
        uint64_t due = t0 + (uint64_t)((double)i * 1e9 / (double)cfg->rate);
        uint64_t t = now_ns();
        if (t < due)
            sleep_until(due);
        else if (t - due > max_lag)
            max_lag = t - due;
        if (e2e_send(p, body, i))
            sent++;
        else
            not_sent++;
        t = now_ns();
        if (t - last_print >= 1000000000ULL) {
            uint64_t got = atomic_load(&E.got);
            char now[40];
            fmt_now(now, sizeof now);
            printf("Current Time: %s | Pub rate: %.0f | Cons rate: %.0f | Send Failed: %llu\n", now,
                   (double)(sent - last_sent) * 1e9 / (double)(t - last_print),
                   (double)(got - last_got) * 1e9 / (double)(t - last_print),
                   (unsigned long long)(atomic_load(&E.send_failed) + (uint64_t)not_sent));
            fflush(stdout);
            last_print = t;
            last_sent = sent;
            last_got = got;
        }
    }
    uint64_t t_last_send = now_ns();
    /* wait for what was sent (30 s at most after the last send callback) */
    uint64_t w0 = now_ns();
    while (!g_stop && now_ns() - w0 < 30000000000ULL &&
           (atomic_load(&E.outstanding) > 0 ||
            atomic_load(&E.got) + atomic_load(&E.send_failed) < (uint64_t)sent)) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    rmq_producer_destroy(p);
    p = NULL;
    rmq_push_consumer_destroy(pc);
    pc = NULL;
    rmq_hist_t h;
    hist_merged(&h);
    uint64_t got = atomic_load(&E.got), cbf = atomic_load(&E.send_failed);
    uint64_t sf = cbf + (uint64_t)not_sent;
    /* rates over the span of n messages: first to last plus one period */
    double pub_secs = (double)(t_last_send - t0 + period) / 1e9;
    uint64_t f = atomic_load(&E.first_rx_ns), l = atomic_load(&E.last_rx_ns);
    double cons_secs = l > f ? (double)(l - f + period) / 1e9 : 0;
    long long lost = (long long)sent - (long long)cbf - (long long)got;
    printf("[Complete] E2E Total: %llu | Target Rate: %d | Pub rate: %.0f | Cons rate: %.0f | "
           "p50(ms): %.3f | p99(ms): %.3f | p999(ms): %.3f | Max(ms): %.3f | Avg(ms): %.3f | "
           "Max send lag(ms): %.3f | Send Failed: %llu | Missing: %lld | Duplicates: %llu\n",
           (unsigned long long)got, cfg->rate, pub_secs > 0 ? (double)sent / pub_secs : 0.0,
           cons_secs > 0 ? (double)got / cons_secs : 0.0, rmq_hist_quantile(&h, 0.50) / 1e6,
           rmq_hist_quantile(&h, 0.99) / 1e6, rmq_hist_quantile(&h, 0.999) / 1e6,
           (double)h.max / 1e6, rmq_hist_mean(&h) / 1e6, (double)max_lag / 1e6,
           (unsigned long long)sf, lost > 0 ? lost : 0, (unsigned long long)atomic_load(&E.dups));
    fflush(stdout);
    rc = (sf == 0 && got == (uint64_t)E.n) ? 0 : 1;
out:
    if (p) rmq_producer_destroy(p);
    if (pc) rmq_push_consumer_destroy(pc);
    free(body);
    free(E.seen);
    return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f, "usage: mqbench producer|consumer|rtt|e2e [options]\n");
    for (int i = 0; i < NOPTS; i++) {
        char left[48];
        if (k_opts[i].s)
            snprintf(left, sizeof left, " -%c,--%s%s", k_opts[i].s, k_opts[i].l,
                     k_opts[i].has_arg ? " <arg>" : "");
        else
            snprintf(left, sizeof left, "    --%s%s", k_opts[i].l,
                     k_opts[i].has_arg ? " <arg>" : "");
        fprintf(f, "%-32s %s\n", left, k_opts[i].desc);
    }
    fprintf(f, "%-32s %s\n", "    --tls", "connect with TLS (useTLS=true)");
    fprintf(f, "%-32s %s\n", " -D key=value",
            "useTLS, tls.enable, a tls.* key (tls.config.file...) or serializeType "
            "(JSON, ROCKETMQ: the binary header)");
}

static int int_opt(const rmq_tool_args_t *a, char s, const char *l, long long dflt, long long lo,
                   long long *out, const char *mode) {
    const char *v = rmq_tool_get(k_opts, NOPTS, a, s, l);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *e;
    long long x = strtoll(v, &e, 10);
    if (*e || e == v || x < lo) {
        if (s) return fail(mode, "option -%c needs a number >= %lld, got \"%s\"", s, lo, v);
        return fail(mode, "option --%s needs a number >= %lld, got \"%s\"", l, lo, v);
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv) {
    const char *ll = getenv("RMQ_LOG_LEVEL");
    int lvl = ll ? rmq_log_level_parse(ll) : RMQ_LOG_LVL_ERROR;
    rmq_log_open(NULL, lvl >= -1 ? (rmq_log_lvl_t)lvl : RMQ_LOG_LVL_ERROR, lvl >= 0);
    if (argc > 1 && rmq_is_version_arg(argv[1], 1)) {
        rmq_print_version("mqbench");
        return 0;
    }
    char terr[256];
    if ((argc = rmq_tool_take_tls_args(argc, argv, terr, sizeof terr)) < 0) {
        fprintf(stderr, "mqbench: %s\n", terr);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "producer") && strcmp(mode, "consumer") && strcmp(mode, "rtt") &&
        strcmp(mode, "e2e"))
        return fail(mode, "unknown mode (producer, consumer, rtt or e2e)");
    rmq_tool_args_t a;
    char err[256];
    if (rmq_tool_parse(k_opts, NOPTS, argc - 2, argv + 2, &a, err, sizeof err))
        return fail(mode, "%s", err);
    if (a.npos) return fail(mode, "unexpected argument %s", a.pos[0]);
    if (rmq_tool_get(k_opts, NOPTS, &a, 'h', NULL)) {
        usage(stdout);
        return 0;
    }
    if (rmq_tool_creds_init(rmq_tool_get(k_opts, NOPTS, &a, 0, "ak"),
                            rmq_tool_get(k_opts, NOPTS, &a, 0, "sk"), err, sizeof err))
        return fail(mode, "%s", err);
    bench_cfg_t cfg = {0};
    bool cons = strcmp(mode, "consumer") == 0, e2e = strcmp(mode, "e2e") == 0;
    long long v;
    if (int_opt(&a, 'w', NULL, cons || e2e ? 20 : 64, 1, &v, mode)) return 1;
    cfg.threads = (int)v;
    if (int_opt(&a, 's', NULL, 1024, 1, &v, mode)) return 1;
    cfg.size = (int)v;
    if (int_opt(&a, 'q', NULL, 0, 0, &v, mode)) return 1;
    cfg.total = v;
    if (int_opt(&a, 'b', NULL, 1, 1, &v, mode)) return 1;
    if (v >= 1 << OP_N_BITS) return fail(mode, "option -b: at most %d", (1 << OP_N_BITS) - 1);
    cfg.batch = (int)v;
    if (int_opt(&a, 0, "window", 256, 1, &v, mode)) return 1;
    cfg.window = (int)v;
    if (int_opt(&a, 0, "seconds", 0, 0, &v, mode)) return 1;
    cfg.seconds = (int)v;
    if (int_opt(&a, 0, "propMod", 0, 0, &v, mode)) return 1;
    cfg.prop_mod = (int)v;
    if (int_opt(&a, 0, "rate", 1000, 1, &v, mode)) return 1;
    if (v > 10000000) return fail(mode, "--rate %lld is above 10000000", v);
    cfg.rate = (int)v;
    if (int_opt(&a, 0, "warmup", 1, 0, &v, mode)) return 1;
    cfg.warmup = (int)v;
    cfg.sql = rmq_tool_get(k_opts, NOPTS, &a, 0, "sql");
    cfg.async = rmq_tool_get(k_opts, NOPTS, &a, 'y', NULL) != NULL;
    cfg.keys = rmq_tool_get(k_opts, NOPTS, &a, 'k', NULL) != NULL;
    cfg.fault = rmq_tool_get(k_opts, NOPTS, &a, 'l', NULL) != NULL;
    cfg.topic = rmq_tool_get(k_opts, NOPTS, &a, 't', NULL);
    if (!cfg.topic) cfg.topic = "BenchmarkTest";
    cfg.group = rmq_tool_get(k_opts, NOPTS, &a, 'g', NULL);
    cfg.from = rmq_tool_get(k_opts, NOPTS, &a, 0, "from");
    cfg.broker = rmq_tool_get(k_opts, NOPTS, &a, 0, "broker");
    cfg.ns = rmq_tool_get(k_opts, NOPTS, &a, 'n', NULL);
    if (!cfg.ns) cfg.ns = getenv("NAMESRV_ADDR");
    if ((!cfg.ns || !*cfg.ns) && !(strcmp(mode, "rtt") == 0 && cfg.broker))
        return fail(mode, "no NameServer: give -n host:port or set NAMESRV_ADDR");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(mode, "producer") == 0) return run_producer(&cfg);
    if (cons) return run_consumer(&cfg);
    if (e2e) return run_e2e(&cfg);
    return run_rtt(&cfg);
}
