/* What a push consumer tells about itself when a broker asks on an admin's behalf
 * (ClientRemotingProcessor in the Java client): GET_CONSUMER_RUNNING_INFO (307) answered with a
 * ConsumerRunningInfo (protocol.md 5.16) built from the live process queues and per-topic
 * counters, and CONSUME_MESSAGE_DIRECTLY (309), which runs the listener on one message the
 * broker attached and answers a ConsumeMessageDirectlyResult. Both run on a service thread.
 *
 * Counters (ConsumerStatsManager's pullRT/pullTPS/consumeRT/consumeOKTPS/consumeFailedTPS)
 * are plain atomics bumped on the pull callback and around each listener call; rates are taken
 * over a window between two snapshots: the answer uses [base, now] and, once the newer snapshot
 * is 30 s old, base moves up to it, so a window spans 30 to 60 s while someone asks regularly
 * (Java samples each second and reports the last minute). consumeFailedMsgs counts failures
 * since start (Java: in the last hour). The JSON is written as fastjson writes it: keys sorted,
 * MessageQueue objects as mqTable keys, null fields left out. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/push_consumer.h"
#include "common/fjson.h"
#include "common/msg.h"
#include "common/util.h"

#define WINDOW_MS 30000

/* ---- counters ------------------------------------------------------------------------- */

/* Millisecond counters around every listener call read the coarse clocks (~4 ns instead of
 * ~30 ns here; a tick-sized step is counted with the probability of crossing it, so sums stay
 * unbiased). */
static uint64_t coarse_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t coarse_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rmq_cstats_t *stats_of(rmq_push_consumer_t *c, const char *topic) {
    if (!c->stats) return NULL;
    for (int i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].sub.topic, topic) == 0) return &c->stats[i];
    return NULL;
}

rmq_consume_status_t rmq_pc_call_listener(rmq_push_consumer_t *c, rmq_pq_t *pq, const rmq_mq_t *mq,
                                          rmq_msg_t *const *msgs, size_t n) {
    uint64_t t0 = coarse_mono_ms();
    rmq_consume_status_t st = c->cb(c, mq, msgs, n, c->cb_op);
    uint64_t rt = coarse_mono_ms() - t0;
    rmq_cstats_t *s = stats_of(c, pq ? pq->mq.topic : mq->topic);
    if (s) {
        atomic_fetch_add(&s->consume_calls, 1);
        atomic_fetch_add(&s->consume_rt_ms, rt);
        if (st == RMQ_CONSUME_SUCCESS)
            atomic_fetch_add(&s->consumed_ok, n);
        else
            atomic_fetch_add(&s->consumed_failed, n);
    }
    if (pq) atomic_store(&pq->last_consume_ts, coarse_now_ms());
    return st;
}

void rmq_pc_note_pull(rmq_push_consumer_t *c, rmq_pq_t *pq, size_t n) {
    atomic_store(&pq->last_pull_ts, rmq_now_ms());
    rmq_cstats_t *s = stats_of(c, pq->mq.topic);
    if (!s) return;
    atomic_fetch_add(&s->pulls, 1);
    atomic_fetch_add(&s->pull_rt_ms, rmq_mono_ms() - pq->pull_t0);
    atomic_fetch_add(&s->pulled_msgs, n);
}

static void snap(const rmq_cstats_t *s, uint64_t now, rmq_cstats_snap_t *o) {
    o->ts_ms = now;
    o->pulls = atomic_load(&s->pulls);
    o->pull_rt_ms = atomic_load(&s->pull_rt_ms);
    o->pulled_msgs = atomic_load(&s->pulled_msgs);
    o->consume_calls = atomic_load(&s->consume_calls);
    o->consume_rt_ms = atomic_load(&s->consume_rt_ms);
    o->consumed_ok = atomic_load(&s->consumed_ok);
    o->consumed_failed = atomic_load(&s->consumed_failed);
}

rmq_err_t rmq_pc_stats_init(rmq_push_consumer_t *c) {
    int n = c->nsubs ? c->nsubs : 1;
    c->stats = calloc((size_t)n, sizeof *c->stats);
    c->snap_base = calloc((size_t)n, sizeof *c->snap_base);
    c->snap_mid = calloc((size_t)n, sizeof *c->snap_mid);
    if (!c->stats || !c->snap_base || !c->snap_mid) {
        rmq_pc_stats_fini(c);
        return RMQ_ERR__NOMEM;
    }
    uint64_t now = rmq_mono_ms();
    for (int i = 0; i < c->nsubs; i++) c->snap_base[i].ts_ms = c->snap_mid[i].ts_ms = now;
    c->start_ts = rmq_now_ms();
    return RMQ_OK;
}

void rmq_pc_stats_fini(rmq_push_consumer_t *c) {
    free(c->stats);
    free(c->snap_base);
    free(c->snap_mid);
    c->stats = NULL;
    c->snap_base = c->snap_mid = NULL;
}

static double ratio(uint64_t a, uint64_t b) {
    return b ? (double)a / (double)b : 0.0;
}

/* ConsumeStatus of subs[i] over the window (stats_mu held). */
static void put_status(rmq_push_consumer_t *c, int i, uint64_t now, rmq_buf_t *b) {
    rmq_cstats_snap_t cur, *base = &c->snap_base[i];
    snap(&c->stats[i], now, &cur);
    double secs = (double)(now - base->ts_ms) / 1000.0;
    if (secs < 0.001) secs = 0.001;
    rmq_buf_appendf(
        b,
        "{\"consumeFailedMsgs\":%" PRIu64 ",\"consumeFailedTPS\":%.4f,"
        "\"consumeOKTPS\":%.4f,\"consumeRT\":%.4f,\"pullRT\":%.4f,\"pullTPS\":%.4f}",
        cur.consumed_failed, (double)(cur.consumed_failed - base->consumed_failed) / secs,
        (double)(cur.consumed_ok - base->consumed_ok) / secs,
        ratio(cur.consume_rt_ms - base->consume_rt_ms, cur.consume_calls - base->consume_calls),
        ratio(cur.pull_rt_ms - base->pull_rt_ms, cur.pulls - base->pulls),
        (double)(cur.pulled_msgs - base->pulled_msgs) / secs);
    if (now - c->snap_mid[i].ts_ms >= WINDOW_MS) {
        *base = c->snap_mid[i];
        c->snap_mid[i] = cur;
    }
}

/* ---- GET_CONSUMER_RUNNING_INFO ---------------------------------------------------------- */

static void put_kv(rmq_buf_t *b, bool *first, const char *k, const char *v) {
    if (!*first) rmq_buf_append_u8(b, ',');
    *first = false;
    rmq_json_put_str(b, k);
    rmq_buf_append_u8(b, ':');
    rmq_json_put_str(b, v ? v : "");
}

static void put_props(rmq_push_consumer_t *c, rmq_buf_t *b) {
    static const char *const conf_keys[] = {"consumerGroup",
                                            "messageModel",
                                            "consumeFromWhere",
                                            "consumeTimestamp",
                                            "consumeThreadMin",
                                            "consumeThreadMax",
                                            "pullBatchSize",
                                            "pullInterval",
                                            "consumeMessageBatchMaxSize",
                                            "maxReconsumeTimes",
                                            "pullThresholdForQueue",
                                            "pullThresholdSizeForQueue",
                                            "suspendCurrentQueueTimeMillis",
                                            "instanceName",
                                            "unitMode",
                                            NULL};
    bool first = true;
    char v[64];
    rmq_buf_append_u8(b, '{');
    for (const char *const *k = conf_keys; *k; k++) {
        const char *val = rmq_conf_str(c->conf, *k);
        if (!val && strcmp(*k, "consumerGroup") == 0) val = c->group;
        if (val) put_kv(b, &first, *k, val);
    }
    const char *ns = rmq_conf_str(c->conf, "namesrvAddr");
    if (ns) put_kv(b, &first, "namesrvAddr", ns);
    put_kv(b, &first, "PROP_NAMESERVER_ADDR", ns);
    put_kv(b, &first, "PROP_CONSUME_TYPE", "CONSUME_PASSIVELY");
    put_kv(b, &first, "PROP_CONSUMEORDERLY", c->mode == RMQ_LISTEN_ORDERLY ? "true" : "false");
    snprintf(v, sizeof v, "%d", c->nthreads);
    put_kv(b, &first, "PROP_THREADPOOL_CORE_SIZE", v);
    put_kv(b, &first, "PROP_CLIENT_VERSION", "V4_9_8");
    snprintf(v, sizeof v, "%" PRId64, c->start_ts);
    put_kv(b, &first, "PROP_CONSUMER_START_TIMESTAMP", v);
    rmq_buf_append_u8(b, '}');
}

/* SubscriptionData as fastjson writes it (keys sorted). */
static void put_sub(const rmq_sub_t *s, rmq_buf_t *b) {
    rmq_buf_append_str(b, "{\"classFilterMode\":false,\"codeSet\":[");
    for (int i = 0; i < s->ntags; i++) rmq_buf_appendf(b, "%s%" PRId32, i ? "," : "", s->codes[i]);
    rmq_buf_append_str(b, "],\"expressionType\":\"TAG\",\"subString\":");
    rmq_json_put_str(b, s->expr);
    rmq_buf_appendf(b, ",\"subVersion\":%" PRId64 ",\"tagsSet\":[", s->version);
    for (int i = 0; i < s->ntags; i++) {
        if (i) rmq_buf_append_u8(b, ',');
        rmq_json_put_str(b, s->tags[i]);
    }
    rmq_buf_append_str(b, "],\"topic\":");
    rmq_json_put_str(b, s->topic);
    rmq_buf_append_u8(b, '}');
}

/* TreeSet<SubscriptionData> order: topic + "@" + subString. */
static int sub_cmp(const void *a, const void *b) {
    const rmq_sub_t *x = *(const rmq_sub_t *const *)a, *y = *(const rmq_sub_t *const *)b;
    char kx[700], ky[700];
    snprintf(kx, sizeof kx, "%s@%s", x->topic, x->expr);
    snprintf(ky, sizeof ky, "%s@%s", y->topic, y->expr);
    return strcmp(kx, ky);
}

typedef struct {
    rmq_mq_t mq;
    int64_t commit, min_off, max_off, count, bytes, lock_ts, last_pull, last_consume;
    bool locked, dropped;
} pqi_t;

static int pqi_cmp(const void *a, const void *b) {
    return rmq_mq_cmp(&((const pqi_t *)a)->mq, &((const pqi_t *)b)->mq);
}

rmq_err_t rmq_pc_running_info(void *owner, bool jstack, rmq_buf_t *b) {
    rmq_push_consumer_t *c = owner;
    /* process queues, copied under the locks */
    pthread_mutex_lock(&c->mu);
    size_t n = 0;
    for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next) n++;
    pqi_t *qs = calloc(n ? n : 1, sizeof *qs);
    if (!qs) {
        pthread_mutex_unlock(&c->mu);
        return RMQ_ERR__NOMEM;
    }
    size_t k = 0;
    uint64_t mono = rmq_mono_ms();
    int64_t wall = rmq_now_ms();
    for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next, k++) {
        pqi_t *q = &qs[k];
        pthread_mutex_lock(&pq->mu);
        q->mq = pq->mq;
        q->commit = pq->commit;
        q->count = (int64_t)pq->count;
        q->bytes = (int64_t)pq->bytes;
        if (pq->count) {
            q->min_off = rmq_pc_pq_at(pq, 0)->off;
            q->max_off = rmq_pc_pq_at(pq, pq->count - 1)->off;
        }
        q->locked = pq->locked;
        q->lock_ts = pq->lock_ts ? wall - (int64_t)(mono - pq->lock_ts) : 0;
        q->dropped = pq->dropped;
        pthread_mutex_unlock(&pq->mu);
        q->last_pull = atomic_load(&pq->last_pull_ts);
        q->last_consume = atomic_load(&pq->last_consume_ts);
    }
    pthread_mutex_unlock(&c->mu);
    qsort(qs, n, sizeof *qs, pqi_cmp);

    rmq_buf_append_u8(b, '{');
    if (jstack) {
        char js[256];
        snprintf(js, sizeof js,
                 "librmq (C): %d consume threads, %zu process queues; no JVM thread dump",
                 c->nthreads, n);
        rmq_buf_append_str(b, "\"jstack\":");
        rmq_json_put_str(b, js);
        rmq_buf_append_u8(b, ',');
    }
    rmq_buf_append_str(b, "\"mqTable\":{");
    for (size_t i = 0; i < n; i++) {
        pqi_t *q = &qs[i];
        if (i) rmq_buf_append_u8(b, ',');
        rmq_fj_mq(b, q->mq.broker, q->mq.queue_id, q->mq.topic);
        rmq_buf_appendf(b,
                        ":{\"cachedMsgCount\":%" PRId64 ",\"cachedMsgMaxOffset\":%" PRId64
                        ",\"cachedMsgMinOffset\":%" PRId64 ",\"cachedMsgSizeInMiB\":%" PRId64
                        ",\"commitOffset\":%" PRId64
                        ",\"droped\":%s,\"lastConsumeTimestamp\":%" PRId64
                        ",\"lastLockTimestamp\":%" PRId64 ",\"lastPullTimestamp\":%" PRId64
                        ",\"locked\":%s,\"transactionMsgCount\":0,\"transactionMsgMaxOffset\":0,"
                        "\"transactionMsgMinOffset\":0,\"tryUnlockTimes\":0}",
                        q->count, q->max_off, q->min_off, q->bytes / (1024 * 1024), q->commit,
                        q->dropped ? "true" : "false", q->last_consume, q->lock_ts, q->last_pull,
                        q->locked ? "true" : "false");
    }
    free(qs);
    rmq_buf_append_str(b, "},\"properties\":");
    put_props(c, b);
    /* statusTable: one entry per subscribed topic (TreeMap order) */
    rmq_buf_append_str(b, ",\"statusTable\":{");
    int *order = calloc((size_t)(c->nsubs ? c->nsubs : 1), sizeof *order);
    const rmq_sub_t **subs = calloc((size_t)(c->nsubs ? c->nsubs : 1), sizeof *subs);
    if (!order || !subs) {
        free(order);
        free(subs);
        return RMQ_ERR__NOMEM;
    }
    for (int i = 0; i < c->nsubs; i++) order[i] = i;
    for (int i = 1; i < c->nsubs; i++) /* few topics: insertion sort by name */
        for (int j = i;
             j > 0 && strcmp(c->subs[order[j - 1]].sub.topic, c->subs[order[j]].sub.topic) > 0;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    pthread_mutex_lock(&c->stats_mu);
    for (int i = 0; i < c->nsubs && c->stats; i++) {
        if (i) rmq_buf_append_u8(b, ',');
        rmq_json_put_str(b, c->subs[order[i]].sub.topic);
        rmq_buf_append_u8(b, ':');
        put_status(c, order[i], mono, b);
    }
    pthread_mutex_unlock(&c->stats_mu);
    rmq_buf_append_str(b, "},\"subscriptionSet\":[");
    for (int i = 0; i < c->nsubs; i++) subs[i] = &c->subs[i].sub;
    qsort(subs, (size_t)c->nsubs, sizeof *subs, sub_cmp);
    for (int i = 0; i < c->nsubs; i++) {
        if (i) rmq_buf_append_u8(b, ',');
        put_sub(subs[i], b);
    }
    rmq_buf_append_str(b, "]}");
    free(order);
    free(subs);
    return b->data ? RMQ_OK : RMQ_ERR__NOMEM;
}

/* ---- CONSUME_MESSAGE_DIRECTLY ----------------------------------------------------------- */

rmq_err_t rmq_pc_consume_direct(void *owner, rmq_msg_t *m, const char *broker, rmq_buf_t *b) {
    rmq_push_consumer_t *c = owner;
    const char *rt = rmq_msg_property(m, RMQ_PROP_RETRY_TOPIC); /* resetRetryAndNamespace */
    if (rt && strcmp(m->topic, c->retry_topic) == 0) {
        char *nt = strdup(rt);
        if (nt) {
            rmq_msg_free_part(m, m->topic);
            m->topic = nt;
        }
    }
    rmq_mq_t mq;
    memset(&mq, 0, sizeof mq);
    rmq_strlcpy(mq.topic, m->topic, sizeof mq.topic);
    rmq_strlcpy(mq.broker, broker, sizeof mq.broker);
    mq.queue_id = m->queue_id;
    uint64_t t0 = rmq_mono_ms();
    rmq_consume_status_t st = rmq_pc_call_listener(c, NULL, &mq, &m, 1);
    uint64_t spent = rmq_mono_ms() - t0;
    rmq_buf_appendf(b,
                    "{\"autoCommit\":true,\"consumeResult\":\"%s\",\"order\":%s,"
                    "\"spentTimeMills\":%" PRIu64 "}",
                    st == RMQ_CONSUME_SUCCESS ? "CR_SUCCESS" : "CR_LATER",
                    c->mode == RMQ_LISTEN_ORDERLY ? "true" : "false", spent);
    return b->data ? RMQ_OK : RMQ_ERR__NOMEM;
}
