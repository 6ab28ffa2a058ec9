/* Admin and query requests: QUERY_MESSAGE (index by key), VIEW_MESSAGE_BY_ID,
 * GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS, GET_BROKER_CONFIG,
 * QUERY_TOPIC_CONSUME_BY_WHO.
 *
 * Put TPS for the runtime info comes from a 1 s sampler of the store's put counter kept here
 * (RocketMQ's StoreStatsService samples the same way). broker.c opens it and closes it at
 * shutdown; its timer is unref'd. */
#include "broker/admin.h"

#include "broker/brokercfg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/clients.h"
#include "broker/ha.h"
#include "broker/offset.h"
#include "broker/slave.h"
#include "broker/timer.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/util.h"

#define SAMPLES 601 /* 600 s of 1 s samples + the current one */

typedef struct rmq_broker_stats_s {
    uv_timer_t timer; /* first member: the close callback frees the struct through it */
    const rmq_broker_env_t *env;
    uint64_t put[SAMPLES];
    int64_t at_ms[SAMPLES];
    size_t head, n; /* ring: newest at head - 1 */
    int day;        /* local day number of the last sample */
    uint64_t today_morning, yesterday_morning;
} sampler_t;

static int local_day(int64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_year * 400 + tm.tm_yday;
}

static void on_sample(uv_timer_t *t) {
    sampler_t *sp = (sampler_t *)t;
    if (!sp->env->store) return;
    rmq_store_stats_t st;
    rmq_store_get_stats(sp->env->store, &st);
    int64_t now = rmq_now_ms();
    sp->put[sp->head] = st.put_count;
    sp->at_ms[sp->head] = now;
    sp->head = (sp->head + 1) % SAMPLES;
    if (sp->n < SAMPLES) sp->n++;
    int day = local_day(now);
    if (day != sp->day) {
        sp->yesterday_morning = sp->today_morning;
        sp->today_morning = st.put_count;
        sp->day = day;
    }
}

/* Average puts per second over the last `secs` seconds of samples. */
static double put_tps(const sampler_t *sp, uint64_t now_count, int64_t now_ms, int secs) {
    if (!sp || sp->n == 0) return 0.0;
    size_t back = RMQ_MIN((size_t)secs, sp->n - 1);
    size_t i = (sp->head + SAMPLES - 1 - back) % SAMPLES;
    int64_t dt = now_ms - sp->at_ms[i];
    if (dt <= 0) return 0.0;
    return (double)(now_count - sp->put[i]) * 1000.0 / (double)dt;
}

#define NEED(call)                                                                                 \
    do {                                                                                           \
        rmq_rem_cmd_t *err_ = (call);                                                              \
        if (err_) return err_;                                                                     \
    } while (0)

/* ---- QUERY_MESSAGE / VIEW_MESSAGE_BY_ID --------------------------------------------- */

/* Does the record carry key among its KEYS (space-separated) or as its UNIQ_KEY? */
static bool rec_has_key(const rmq_msg_rec_t *r, const char *topic, const char *key) {
    if ((size_t)r->topic_len != strlen(topic) || memcmp(r->topic, topic, r->topic_len) != 0)
        return false;
    size_t kl = strlen(key), vl;
    const char *v = rmq_msg_prop_get(r->props, (size_t)r->props_len, RMQ_PROP_UNIQ_KEY, &vl);
    if (v && vl == kl && memcmp(v, key, kl) == 0) return true;
    v = rmq_msg_prop_get(r->props, (size_t)r->props_len, RMQ_PROP_KEYS, &vl);
    while (v && vl) {
        const char *sp = memchr(v, ' ', vl);
        size_t n = sp ? (size_t)(sp - v) : vl;
        if (n == kl && memcmp(v, key, kl) == 0) return true;
        if (!sp) break;
        vl -= n + 1;
        v = sp + 1;
    }
    return false;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_query_message) {
    const char *topic, *key;
    int32_t max_num;
    int64_t begin, end;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_str(req, "key", &key));
    NEED(rmq_broker_need_i32(req, "maxNum", &max_num));
    NEED(rmq_broker_need_i64(req, "beginTimestamp", &begin));
    NEED(rmq_broker_need_i64(req, "endTimestamp", &end));
    const char *uniq = rmq_rem_cmd_get(req, "_UNIQUE_KEY_QUERY");
    if (uniq && strcmp(uniq, "true") == 0) max_num = b->env.cfg->store.default_query_max_num;
    if (max_num <= 0) max_num = b->env.cfg->store.default_query_max_num;

    int64_t *offs = NULL;
    size_t n = 0;
    int64_t last_update = 0;
    rmq_err_t e = rmq_store_query_by_key(b->env.store, topic, key, max_num, begin, end, &offs, &n,
                                         &last_update);
    if (e != RMQ_OK && e != RMQ_ERR__NOT_FOUND) {
        free(offs);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "index query failed: %s", rmq_strerror(e));
    }
    rmq_store_stats_t st;
    rmq_store_get_stats(b->env.store, &st);
    rmq_buf_t body;
    rmq_buf_init(&body);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *rec = NULL;
        size_t len = 0;
        if (rmq_store_read_at(b->env.store, offs[i], &rec, &len) != RMQ_OK) continue;
        rmq_msg_rec_t r;
        /* the index is a hash: drop other keys that collide, as the clients would */
        if (rmq_msg_rec_decode(rec, len, false, &r) > 0 && rec_has_key(&r, topic, key)) {
            rmq_buf_append(&body, rec, len);
            found++;
        }
        free(rec);
    }
    free(offs);
    rmq_rem_cmd_t *resp;
    if (found == 0) {
        rmq_buf_fini(&body);
        resp = rmq_broker_err(req, RMQ_ERR_QUERY_NOT_FOUND,
                              "can not find message, maybe time range not correct");
    } else {
        resp = rmq_broker_ok_body(req, &body);
    }
    if (resp) {
        rmq_rem_cmd_set_i64(resp, "indexLastUpdateTimestamp", last_update);
        rmq_rem_cmd_set_i64(resp, "indexLastUpdatePhyoffset", st.dispatched_offset);
    }
    return resp;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_view_by_id) {
    int64_t off;
    NEED(rmq_broker_need_i64(req, "offset", &off));
    uint8_t *rec = NULL;
    size_t len = 0;
    if (off < 0 || rmq_store_read_at(b->env.store, off, &rec, &len) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "can not find message by the offset, %" PRId64, off);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (!resp) {
        free(rec);
        return NULL;
    }
    rmq_rem_cmd_set_body(resp, rec, len);
    return resp;
}

/* ---- runtime info / config ---------------------------------------------------------- */

static void kv(rmq_buf_t *b, bool *first, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void kv(rmq_buf_t *b, bool *first, const char *k, const char *fmt, ...) {
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    if (!*first) rmq_buf_append_u8(b, ',');
    *first = false;
    rmq_json_put_str(b, k);
    rmq_buf_append_u8(b, ':');
    rmq_json_put_str(b, v);
}

/* Replication figures (broker.md 9), named after 5.x's HARuntimeInfo fields with a "ha" or
 * "slaveN" prefix so each is one flat key of the runtime-info table:
 *   master: haConnectionCount, masterCommitLogMaxOffset, push2SlaveMaxOffset, haTransferredBytes,
 *           and per connected slave N (0-based) slaveNAddr, slaveNAckOffset,
 *           slaveNFallBehindBytes, slaveNFallBehindMs, slaveNTransferFromWhere;
 *   slave:  haMasterAddr, haSlaveActivated, haSlaveMaxOffset (its replication offset),
 *           haBytesReceived, haReconnects, and from the last metadata sync round (<= 10 s old)
 *           haMasterMaxOffset, haMasterMaxOffsetTimestamp, haSlaveFallBehindBytes. */
static void ha_runtime_info(rmq_broker_ctx_t *b, rmq_buf_t *body, bool *f) {
    kv(body, f, "brokerRole", "%s", rmq_broker_role_names[b->env.cfg->broker_role]);
    if (!b->ha) return;
    rmq_ha_stats_t hs;
    rmq_ha_get_stats(b->ha, &hs);
    if (hs.role == RMQ_HA_MASTER) {
        kv(body, f, "haConnectionCount", "%d", hs.connections);
        kv(body, f, "masterCommitLogMaxOffset", "%" PRId64, hs.master_max_offset);
        kv(body, f, "push2SlaveMaxOffset", "%" PRId64, hs.acked_max_offset);
        kv(body, f, "haTransferredBytes", "%" PRIu64, hs.bytes_sent);
        for (size_t i = 0; i < hs.nslaves; i++) {
            const rmq_ha_slave_info_t *si = &hs.slaves[i];
            char k[64];
            snprintf(k, sizeof k, "slave%zuAddr", i);
            kv(body, f, k, "%s", si->addr);
            snprintf(k, sizeof k, "slave%zuAckOffset", i);
            kv(body, f, k, "%" PRId64, si->ack_offset);
            snprintf(k, sizeof k, "slave%zuFallBehindBytes", i);
            kv(body, f, k, "%" PRId64, si->behind_bytes);
            snprintf(k, sizeof k, "slave%zuFallBehindMs", i);
            kv(body, f, k, "%" PRId64, si->behind_ms);
            snprintf(k, sizeof k, "slave%zuTransferFromWhere", i);
            kv(body, f, k, "%" PRId64, si->next_offset);
        }
    } else {
        kv(body, f, "haMasterAddr", "%s", hs.master_addr);
        kv(body, f, "haSlaveActivated", "%s", hs.connected ? "true" : "false");
        kv(body, f, "haSlaveMaxOffset", "%" PRId64, hs.repl_offset);
        int64_t at = 0, mmax = rmq_broker_slave_master_max(b->slave_sync, &at);
        if (mmax >= 0) {
            kv(body, f, "haMasterMaxOffset", "%" PRId64, mmax);
            kv(body, f, "haMasterMaxOffsetTimestamp", "%" PRId64, at);
            kv(body, f, "haSlaveFallBehindBytes", "%" PRId64, RMQ_MAX(0, mmax - hs.repl_offset));
        }
        kv(body, f, "haBytesReceived", "%" PRIu64, hs.bytes_received);
        kv(body, f, "haReconnects", "%" PRIu64, hs.reconnects);
    }
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_runtime_info) {
    rmq_store_stats_t st;
    rmq_store_get_stats(b->env.store, &st);
    int64_t now = rmq_now_ms();
    double t10 = put_tps(b->stats, st.put_count, now, 10),
           t60 = put_tps(b->stats, st.put_count, now, 60),
           t600 = put_tps(b->stats, st.put_count, now, 600);
    int64_t up = (now - b->env.start_ms) / 1000;
    rmq_buf_t body;
    rmq_buf_init(&body);
    bool f = true;
    rmq_buf_append_str(&body, "{\"table\":{");
    kv(&body, &f, "brokerVersionDesc", "V4_9_8");
    kv(&body, &f, "brokerVersion", "%d", RMQ_REM_VERSION);
    kv(&body, &f, "bootTimestamp", "%" PRId64, b->env.start_ms);
    kv(&body, &f, "runtime",
       "[ %" PRId64 " days, %" PRId64 " hours, %" PRId64 " minutes, %" PRId64 " seconds ]",
       up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
    kv(&body, &f, "msgPutTotalTodayNow", "%" PRIu64, st.put_count);
    kv(&body, &f, "msgPutTotalTodayMorning", "%" PRIu64, b->stats ? b->stats->today_morning : 0);
    kv(&body, &f, "msgPutTotalYesterdayMorning", "%" PRIu64,
       b->stats ? b->stats->yesterday_morning : 0);
    /* gets are not counted by the store: report zeros rather than invent figures */
    kv(&body, &f, "msgGetTotalTodayNow", "0");
    kv(&body, &f, "msgGetTotalTodayMorning", "0");
    kv(&body, &f, "msgGetTotalYesterdayMorning", "0");
    kv(&body, &f, "putTps", "%.1f %.1f %.1f", t10, t60, t600);
    kv(&body, &f, "getTransferedTps", "0.0 0.0 0.0");
    kv(&body, &f, "getFoundTps", "0.0 0.0 0.0");
    kv(&body, &f, "getMissTps", "0.0 0.0 0.0");
    kv(&body, &f, "getTotalTps", "0.0 0.0 0.0");
    kv(&body, &f, "putMessageTimesTotal", "%" PRIu64, st.put_count);
    kv(&body, &f, "putMessageSizeTotal", "%" PRIu64, st.put_bytes);
    kv(&body, &f, "putMessageFailedTimes", "%" PRIu64, st.put_fail_count);
    kv(&body, &f, "putMessageAverageSize", "%.1f",
       st.put_count ? (double)st.put_bytes / (double)st.put_count : 0.0);
    kv(&body, &f, "commitLogMinOffset", "%" PRId64, st.commitlog_min_offset);
    kv(&body, &f, "commitLogMaxOffset", "%" PRId64, st.commitlog_max_offset);
    kv(&body, &f, "commitLogDiskRatio", "%f", st.disk_used_ratio);
    kv(&body, &f, "remainHowManyDataToFlush", "%" PRId64,
       RMQ_MAX(0, st.commitlog_max_offset - st.flushed_offset));
    kv(&body, &f, "dispatchBehindBytes", "%" PRId64,
       RMQ_MAX(0, st.commitlog_max_offset - st.dispatched_offset));
    kv(&body, &f, "earliestMessageTimeStamp", "%" PRId64, st.earliest_msg_time);
    /* rmq only: damaged ranges found by recovery or the scrub, never served (issue 12) */
    kv(&body, &f, "storeQuarantinedRanges", "%" PRIu64, st.quarantined_ranges);
    kv(&body, &f, "storeQuarantinedBytes", "%" PRIu64, st.quarantined_bytes);
    kv(&body, &f, "storeQuarantineHits", "%" PRIu64, st.quarantine_hits);
    kv(&body, &f, "storeScrubbedBytes", "%" PRIu64, st.scrubbed_bytes);
    kv(&body, &f, "storeScrubPasses", "%" PRIu64, st.scrub_passes);
    kv(&body, &f, "pageCacheLockTimeMills", "0");
    kv(&body, &f, "sendThreadPoolQueueSize", "0");
    kv(&body, &f, "sendThreadPoolQueueCapacity", "10000");
    kv(&body, &f, "sendThreadPoolQueueHeadWaitTimeMills", "0");
    kv(&body, &f, "pullThreadPoolQueueSize", "0");
    kv(&body, &f, "pullThreadPoolQueueCapacity", "100000");
    kv(&body, &f, "pullThreadPoolQueueHeadWaitTimeMills", "0");
    kv(&body, &f, "queryThreadPoolQueueSize", "0");
    kv(&body, &f, "queryThreadPoolQueueCapacity", "20000");
    kv(&body, &f, "startAcceptSendRequestTimeStamp", "0");
    kv(&body, &f, "commitLogSegments", "%d", st.commitlog_segments);
    kv(&body, &f, "storeWritable", "%s", st.writable ? "true" : "false");
    ha_runtime_info(b, &body, &f);
    /* 5.x timer wheel (broker/timer): RocketMQ 5's keys, then rmq's pending count */
    rmq_broker_timer_stats_t ts;
    rmq_broker_timer_stats(b->timer, &ts);
    kv(&body, &f, "timerReadBehind", "%" PRId64, ts.read_behind_s);
    kv(&body, &f, "timerOffsetBehind", "%" PRId64, ts.offset_behind);
    kv(&body, &f, "timerCongestNum", "0");
    kv(&body, &f, "timerBacklog", "%" PRId64, ts.backlog);
    kv(&body, &f, "timerEnqueueOffset", "%" PRId64, ts.enq_offset);
    rmq_buf_append_str(&body, "}}");
    return rmq_broker_ok_body(req, &body);
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_broker_config) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    rmq_broker_cfg_print_public(b->env.cfg, f); /* never secretKey or passwords */
    fclose(f);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (!resp) {
        free(text);
        return NULL;
    }
    char ver[96];
    snprintf(ver, sizeof ver, "{\"counter\":0,\"timestamp\":%" PRId64 "}", b->env.start_ms);
    rmq_rem_cmd_set(resp, "version", ver);
    rmq_rem_cmd_set_body(resp, text, len);
    return resp;
}

/* ---- topic and consume stats -------------------------------------------------------- */

RMQ_BROKER_HANDLER(rmq_broker_admin_on_topic_stats) {
    const char *topic;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    const rmq_topic_cfg_t *tc = rmq_broker_topic_get(b->topics, topic);
    if (!tc) return rmq_broker_err(req, RMQ_ERR_TOPIC_NOT_EXIST, "topic[%s] not exist", topic);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"offsetTable\":{");
    for (int q = 0; q < tc->write_queue_nums; q++) {
        int64_t mn = RMQ_MAX(0, rmq_store_min_offset(b->env.store, topic, q));
        int64_t mx = RMQ_MAX(0, rmq_store_max_offset(b->env.store, topic, q));
        int64_t last = mx > 0 ? rmq_store_msg_store_time(b->env.store, topic, q, mx - 1) : 0;
        if (q) rmq_buf_append_u8(&body, ',');
        rmq_fj_mq(&body, b->env.cfg->broker_name, q, topic);
        rmq_buf_appendf(&body,
                        ":{\"lastUpdateTimestamp\":%" PRId64 ",\"maxOffset\":%" PRId64
                        ",\"minOffset\":%" PRId64 "}",
                        RMQ_MAX(0, last), mx, mn);
    }
    rmq_buf_append_str(&body, "}}");
    return rmq_broker_ok_body(req, &body);
}

typedef struct {
    const char *group;
    char **topics;
    size_t n, cap;
} topics_ctx_t;

static void collect_topic(const char *topic, const char *group, const int *qids,
                          const int64_t *offs, size_t n, void *arg) {
    topics_ctx_t *t = arg;
    if (strcmp(group, t->group) != 0) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **nt = realloc(t->topics, cap * sizeof *nt);
        if (!nt) return;
        t->topics = nt;
        t->cap = cap;
    }
    t->topics[t->n] = strdup(topic);
    if (t->topics[t->n]) t->n++;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_consume_stats) {
    const char *group;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    const char *only = rmq_rem_cmd_get(req, "topic");
    topics_ctx_t t = {.group = group};
    if (only && *only) {
        t.topics = malloc(sizeof *t.topics);
        if (t.topics && (t.topics[0] = strdup(only))) t.n = 1;
    } else {
        rmq_broker_offsets_each(b->offsets, collect_topic, &t);
    }
    rmq_buf_t body;
    rmq_buf_init(&body);
    double tps = 0.0;
    for (size_t i = 0; i < t.n; i++) tps += rmq_broker_offsets_tps(b->offsets, group, t.topics[i]);
    rmq_buf_appendf(&body, "{\"consumeTps\":%.4f,\"offsetTable\":{", tps);
    bool first = true;
    for (size_t i = 0; i < t.n; i++) {
        const char *topic = t.topics[i];
        const rmq_topic_cfg_t *tc = rmq_broker_topic_get(b->topics, topic);
        if (!tc) {
            RMQ_LOG_WARN("admin", "consume stats of %s: topic %s not found", group, topic);
            continue;
        }
        /* an online group that does not subscribe to the topic is skipped (RocketMQ) */
        if (!rmq_broker_clients_subscription(b->clients, group, topic)) {
            rmq_rem_conn_t **conns = NULL;
            int *l = NULL, *v = NULL;
            size_t online = rmq_broker_clients_group_conns(b->clients, group, &conns, &l, &v);
            free(conns);
            free(l);
            free(v);
            if (online > 0 && !(only && *only)) continue;
        }
        for (int q = 0; q < tc->read_queue_nums; q++) {
            int64_t bo = RMQ_MAX(0, rmq_store_max_offset(b->env.store, topic, q));
            int64_t co = RMQ_MAX(0, rmq_broker_offset_get(b->offsets, group, topic, q));
            int64_t last = co > 0 ? rmq_store_msg_store_time(b->env.store, topic, q, co - 1) : 0;
            if (!first) rmq_buf_append_u8(&body, ',');
            first = false;
            rmq_fj_mq(&body, b->env.cfg->broker_name, q, topic);
            rmq_buf_appendf(&body,
                            ":{\"brokerOffset\":%" PRId64 ",\"consumerOffset\":%" PRId64
                            ",\"lastTimestamp\":%" PRId64 "}",
                            bo, co, RMQ_MAX(0, last));
        }
    }
    rmq_buf_append_str(&body, "}}");
    for (size_t i = 0; i < t.n; i++) free(t.topics[i]);
    free(t.topics);
    return rmq_broker_ok_body(req, &body);
}

typedef struct {
    const char *topic;
    char (*groups)[256];
    size_t n, cap;
} groups_ctx_t;

static void add_group(groups_ctx_t *g, const char *name) {
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->groups[i], name) == 0) return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        char(*ng)[256] = realloc(g->groups, cap * sizeof *ng);
        if (!ng) return;
        g->groups = ng;
        g->cap = cap;
    }
    rmq_strlcpy(g->groups[g->n++], name, sizeof g->groups[0]);
}

static void group_online(const char *group, void *arg) {
    add_group(arg, group);
}

static void group_with_offsets(const char *topic, const char *group, const int *qids,
                               const int64_t *offs, size_t n, void *arg) {
    groups_ctx_t *g = arg;
    if (strcmp(topic, g->topic) == 0) add_group(g, group);
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_consume_by_who) {
    const char *topic;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    groups_ctx_t g = {.topic = topic};
    rmq_broker_clients_groups_of_topic(b->clients, topic, group_online, &g);
    rmq_broker_offsets_each(b->offsets, group_with_offsets, &g);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"groupList\":[");
    for (size_t i = 0; i < g.n; i++) {
        if (i) rmq_buf_append_u8(&body, ',');
        rmq_json_put_str(&body, g.groups[i]);
    }
    rmq_buf_append_str(&body, "]}");
    free(g.groups);
    return rmq_broker_ok_body(req, &body);
}

static void on_sampler_closed(uv_handle_t *h) {
    free(h); /* the timer is the first member */
}

void rmq_broker_stats_close(rmq_broker_stats_t *sp) {
    if (!sp) return;
    uv_timer_stop(&sp->timer);
    uv_close((uv_handle_t *)&sp->timer, on_sampler_closed);
}

void rmq_broker_stats_open(const rmq_broker_env_t *env, rmq_broker_stats_t **out) {
    *out = NULL;
    sampler_t *sp = calloc(1, sizeof *sp);
    if (!sp) {
        RMQ_LOG_WARN("admin", "out of memory: no put TPS in runtime info");
        return;
    }
    sp->env = env;
    sp->day = local_day(rmq_now_ms());
    uv_timer_init(env->loop, &sp->timer);
    uv_timer_start(&sp->timer, on_sample, 0, 1000);
    uv_unref((uv_handle_t *)&sp->timer);
    *out = sp;
}

/* DELETE_TOPIC_IN_BROKER (215): the topic and its queues (topic.c), then every group's consumer
 * offsets of it (RocketMQ's cleanOffsetByTopic). %RETRY%<group> and %DLQ%<group> stay: they
 * belong to groups, not to the topic, as in RocketMQ. */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_delete_topic) {
    rmq_rem_cmd_t *resp = rmq_broker_topic_on_delete(b, c, req);
    const char *topic = rmq_rem_cmd_get(req, "topic");
    if (!resp || resp->code != RMQ_OK || !topic) return resp;
    size_t n = rmq_broker_offsets_remove_topic(b->offsets, topic);
    if (n) {
        rmq_broker_offsets_persist(b->offsets);
        RMQ_LOG_INFO("admin", "DELETE_TOPIC_IN_BROKER %s: offsets of %zu group(s) removed", topic,
                     n);
    }
    return resp;
}
