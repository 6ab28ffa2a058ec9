/* mqadmin's statistics and housekeeping requests and the message counters behind statsAll.
 *
 * Counters: one entry per topic (puts) and per "topic@group" (gets), each with three rings of
 * time slots: 10 s slots for the minute, 1 min slots for the hour, 1 h slots for the day. A
 * bump writes the current slot of each ring (a slot whose index is stale is reset first); a view
 * sums the slots inside the window, the current partial slot included, so "the last minute" is
 * 50 to 60 s and its TPS is the sum over the time the window covers (RocketMQ's StatsItem keeps
 * 10 s snapshots the same way). Everything runs on the loop thread: no locks, no clock reads
 * (the caller passes uv_now). */
#include "broker/admin_stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

/* ---- counters ---------------------------------------------------------------------------- */

typedef struct {
    int64_t idx; /* slot number (time / granularity) the counts belong to */
    uint64_t n, bytes;
} slot_t;

#define MIN_SLOTS 7 /* 10 s */
#define HOUR_SLOTS 61
#define DAY_SLOTS 25

typedef struct {
    int64_t first_ms; /* first count: windows never reach back before it */
    slot_t m[MIN_SLOTS], h[HOUR_SLOTS], d[DAY_SLOTS];
} entry_t;

struct rmq_broker_bstats_s {
    rmq_map_t put; /* topic -> entry_t * */
    rmq_map_t get; /* "topic@group" -> entry_t * */
};

static const struct {
    size_t nslots;
    int64_t gran_ms;
    int64_t span; /* slots in the window, the current one included */
} wins[3] = {
    {MIN_SLOTS, 10000, 6},
    {HOUR_SLOTS, 60000, 60},
    {DAY_SLOTS, 3600000, 24},
};

static slot_t *ring_of(entry_t *e, int w) {
    return w == 0 ? e->m : w == 1 ? e->h : e->d;
}

rmq_broker_bstats_t *rmq_broker_bstats_new(void) {
    rmq_broker_bstats_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    rmq_map_init(&s->put);
    rmq_map_init(&s->get);
    return s;
}

void rmq_broker_bstats_destroy(rmq_broker_bstats_t *s) {
    if (!s) return;
    rmq_map_fini(&s->put, free);
    rmq_map_fini(&s->get, free);
    free(s);
}

static void bump(rmq_map_t *m, const char *key, size_t klen, uint64_t n, uint64_t bytes,
                 int64_t now_ms) {
    bool created;
    rmq_map_ent_t *ent = rmq_map_upsert(m, key, klen, &created);
    if (!ent) return;
    entry_t *e = ent->v.ptr;
    if (!e) {
        if (!(e = calloc(1, sizeof *e))) {
            rmq_map_remove(m, ent);
            return;
        }
        for (int w = 0; w < 3; w++)
            for (size_t i = 0; i < wins[w].nslots; i++) ring_of(e, w)[i].idx = -1;
        e->first_ms = now_ms;
        ent->v.ptr = e;
    }
    for (int w = 0; w < 3; w++) {
        int64_t idx = now_ms / wins[w].gran_ms;
        slot_t *sl = &ring_of(e, w)[idx % (int64_t)wins[w].nslots];
        if (sl->idx != idx) *sl = (slot_t){idx, 0, 0};
        sl->n += n;
        sl->bytes += bytes;
    }
}

void rmq_broker_bstats_on_put(rmq_broker_bstats_t *s, const char *topic, uint64_t n, uint64_t bytes,
                              int64_t now_ms) {
    if (s && topic) bump(&s->put, topic, strlen(topic), n, bytes, now_ms);
}

void rmq_broker_bstats_on_get(rmq_broker_bstats_t *s, const char *group, const char *topic,
                              uint64_t n, uint64_t bytes, int64_t now_ms) {
    if (!s || !group || !topic) return;
    char key[600];
    size_t tl = strlen(topic), gl = strlen(group);
    if (tl + gl + 2 > sizeof key) return;
    memcpy(key, topic, tl);
    key[tl] = '@';
    memcpy(key + tl + 1, group, gl + 1);
    bump(&s->get, key, tl + 1 + gl, n, bytes, now_ms);
}

bool rmq_broker_bstats_view(const rmq_broker_bstats_t *s, const char *name, const char *key,
                            int64_t now_ms, rmq_broker_bstats_win_t out[3]) {
    if (!s || !name || !key) return false;
    const rmq_map_t *m;
    bool size;
    if (!strcmp(name, "TOPIC_PUT_NUMS") || !strcmp(name, "TOPIC_PUT_SIZE"))
        m = &s->put;
    else if (!strcmp(name, "GROUP_GET_NUMS") || !strcmp(name, "GROUP_GET_SIZE"))
        m = &s->get;
    else
        return false;
    size = strstr(name, "_SIZE") != NULL;
    entry_t *e = rmq_map_get(m, key);
    if (!e) return false;
    for (int w = 0; w < 3; w++) {
        int64_t cur = now_ms / wins[w].gran_ms, lo = cur - wins[w].span + 1;
        uint64_t sum = 0;
        const slot_t *r = ring_of(e, w);
        for (size_t i = 0; i < wins[w].nslots; i++)
            if (r[i].idx >= lo && r[i].idx <= cur) sum += size ? r[i].bytes : r[i].n;
        int64_t from = RMQ_MAX(lo * wins[w].gran_ms, e->first_ms);
        int64_t span_ms = RMQ_MAX(now_ms - from, 1000);
        out[w].sum = sum;
        out[w].tps = (double)sum * 1000.0 / (double)span_ms;
    }
    return true;
}

#define NEED(call)                                                                                 \
    do {                                                                                           \
        rmq_rem_cmd_t *err_ = (call);                                                              \
        if (err_) return err_;                                                                     \
    } while (0)

RMQ_BROKER_HANDLER(rmq_broker_admin_on_view_stats) {
    const char *name, *key;
    NEED(rmq_broker_need_str(req, "statsName", &name));
    NEED(rmq_broker_need_str(req, "statsKey", &key));
    rmq_broker_bstats_win_t w[3];
    if (!rmq_broker_bstats_view(b->bstats, name, key, (int64_t)uv_now(b->env.loop), w))
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "The stats <%s> <%s> not exist", name,
                              key);
    rmq_buf_t body;
    rmq_buf_init(&body);
    static const char *const names[3] = {"statsMinute", "statsHour", "statsDay"};
    rmq_buf_append_u8(&body, '{');
    for (int i = 0; i < 3; i++)
        rmq_buf_appendf(&body, "%s\"%s\":{\"avgpt\":0.0,\"sum\":%" PRIu64 ",\"tps\":%.4f}",
                        i ? "," : "", names[i], w[i].sum, w[i].tps);
    rmq_buf_append_u8(&body, '}');
    return rmq_broker_ok_body(req, &body);
}

/* ---- GET_BROKER_CONSUME_STATS ------------------------------------------------------------ */

typedef struct {
    char *group, *topic;
} pair_t;

typedef struct {
    pair_t *v;
    size_t n, cap;
} pairs_t;

static void collect_pair(const char *topic, const char *group, const int *qids, const int64_t *offs,
                         size_t n, void *arg) {
    (void)qids;
    (void)offs;
    (void)n;
    pairs_t *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pair_t *nv = realloc(p->v, cap * sizeof *nv);
        if (!nv) return;
        p->v = nv;
        p->cap = cap;
    }
    pair_t *x = &p->v[p->n];
    x->group = strdup(group);
    x->topic = strdup(topic);
    if (x->group && x->topic)
        p->n++;
    else {
        free(x->group);
        free(x->topic);
    }
}

static int pair_cmp(const void *a, const void *b) {
    const pair_t *x = a, *y = b;
    int r = strcmp(x->group, y->group);
    return r ? r : strcmp(x->topic, y->topic);
}

/* One ConsumeStats of group on topic into body; adds its lag to *diff. False when skipped. */
static bool consume_stats(rmq_broker_ctx_t *b, const char *group, const char *topic, bool order,
                          rmq_buf_t *body, bool first, int64_t *diff) {
    const rmq_topic_cfg_t *tc = rmq_broker_topic_get(b->topics, topic);
    if (!tc) {
        RMQ_LOG_WARN("admin", "broker consume stats: topic %s of group %s not found", topic, group);
        return false;
    }
    if (order && !tc->order) return false;
    /* an online group that no longer subscribes to the topic is skipped (RocketMQ) */
    if (!rmq_broker_clients_subscription(b->clients, group, topic)) {
        rmq_rem_conn_t **conns = NULL;
        int *l = NULL, *v = NULL;
        size_t online = rmq_broker_clients_group_conns(b->clients, group, &conns, &l, &v);
        free(conns);
        free(l);
        free(v);
        if (online > 0) return false;
    }
    rmq_broker_bstats_win_t w[3] = {{0, 0}};
    char key[600];
    snprintf(key, sizeof key, "%s@%s", topic, group);
    rmq_broker_bstats_view(b->bstats, "GROUP_GET_NUMS", key, (int64_t)uv_now(b->env.loop), w);
    rmq_buf_appendf(body, "%s{\"consumeTps\":%.4f,\"offsetTable\":{", first ? "" : ",", w[0].tps);
    for (int q = 0; q < tc->write_queue_nums; q++) {
        int64_t bo = RMQ_MAX(0, rmq_store_max_offset(b->env.store, topic, q));
        int64_t co = RMQ_MAX(0, rmq_broker_offset_get(b->offsets, group, topic, q));
        int64_t last = co > 0 ? rmq_store_msg_store_time(b->env.store, topic, q, co - 1) : 0;
        if (q) rmq_buf_append_u8(body, ',');
        rmq_fj_mq(body, b->env.cfg->broker_name, q, topic);
        rmq_buf_appendf(body,
                        ":{\"brokerOffset\":%" PRId64 ",\"consumerOffset\":%" PRId64
                        ",\"lastTimestamp\":%" PRId64 "}",
                        bo, co, RMQ_MAX(0, last));
        *diff += bo - co;
    }
    rmq_buf_append_str(body, "}}");
    return true;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_broker_consume_stats) {
    bool order = false;
    NEED(rmq_broker_opt_bool(req, "isOrder", &order));
    pairs_t p = {0};
    rmq_broker_offsets_each(b->offsets, collect_pair, &p);
    if (p.n) qsort(p.v, p.n, sizeof *p.v, pair_cmp);
    rmq_buf_t body;
    rmq_buf_init(&body);
    int64_t diff = 0;
    rmq_buf_append_str(&body, "{\"brokerAddr\":");
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", b->env.cfg->broker_ip1 ? b->env.cfg->broker_ip1 : "",
             b->env.cfg->listen_port);
    rmq_json_put_str(&body, addr);
    rmq_buf_append_str(&body, ",\"consumeStatsList\":[");
    for (size_t i = 0; i < p.n;) {
        size_t j = i;
        if (i) rmq_buf_append_u8(&body, ',');
        rmq_buf_append_u8(&body, '{');
        rmq_json_put_str(&body, p.v[i].group);
        rmq_buf_append_str(&body, ":[");
        bool first = true;
        for (; j < p.n && !strcmp(p.v[j].group, p.v[i].group); j++)
            if (consume_stats(b, p.v[j].group, p.v[j].topic, order, &body, first, &diff))
                first = false;
        rmq_buf_append_str(&body, "]}");
        i = j;
    }
    rmq_buf_appendf(&body, "],\"totalDiff\":%" PRId64 "}", diff);
    for (size_t i = 0; i < p.n; i++) {
        free(p.v[i].group);
        free(p.v[i].topic);
    }
    free(p.v);
    return rmq_broker_ok_body(req, &body);
}

/* ---- QUERY_CONSUME_QUEUE ----------------------------------------------------------------- */

static bool code_matches(const rmq_subscription_t *sub, int64_t code) {
    if (!sub->codes || sub->ncodes == 0) return true;
    for (size_t i = 0; i < sub->ncodes; i++)
        if (sub->codes[i] == code) return true;
    return false;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_query_cq) {
    const char *topic;
    int32_t qid;
    int64_t index, count = 10;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_i32(req, "queueId", &qid));
    NEED(rmq_broker_need_i64(req, "index", &index));
    NEED(rmq_broker_opt_i64(req, "count", &count));
    const char *group = rmq_rem_cmd_get(req, "consumerGroup");
    int32_t *ids = NULL;
    size_t nids = 0;
    bool known = false;
    rmq_store_topic_queues(b->env.store, topic, &ids, &nids);
    for (size_t i = 0; i < nids; i++) known = known || ids[i] == qid;
    free(ids);
    if (!known) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%d@%s is not exist!", qid, topic);
    int64_t mn = rmq_store_min_offset(b->env.store, topic, qid);
    int64_t mx = rmq_store_max_offset(b->env.store, topic, qid);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_u8(&body, '{');
    const rmq_subscription_t *sub = NULL;
    if (group && *group) {
        sub = rmq_broker_clients_subscription(b->clients, group, topic);
        if (!sub) {
            char why[600];
            snprintf(why, sizeof why, "%s@%s is not online!", group, topic);
            rmq_buf_append_str(&body, "\"filterData\":");
            rmq_json_put_str(&body, why);
            rmq_buf_append_u8(&body, ',');
        } else {
            rmq_buf_append_str(&body, "\"subscriptionData\":{\"topic\":");
            rmq_json_put_str(&body, sub->topic);
            rmq_buf_append_str(&body, ",\"subString\":");
            rmq_json_put_str(&body, sub->sub_string);
            rmq_buf_append_str(&body, ",\"expressionType\":");
            rmq_json_put_str(&body, sub->expression_type[0] ? sub->expression_type : "TAG");
            rmq_buf_appendf(&body, ",\"subVersion\":%" PRId64 ",\"codeSet\":[", sub->sub_version);
            for (size_t i = 0; i < sub->ncodes; i++)
                rmq_buf_appendf(&body, "%s%" PRId64, i ? "," : "", sub->codes[i]);
            rmq_buf_append_str(&body, "]},");
        }
    }
    rmq_buf_appendf(&body, "\"maxQueueIndex\":%" PRId64 ",\"minQueueIndex\":%" PRId64, mx, mn);
    if (index < mn || index >= mx) {
        rmq_buf_append_u8(&body, '}');
        rmq_rem_cmd_t *resp = rmq_broker_ok_body(req, &body);
        if (resp)
            rmq_rem_cmd_set_remarkf(resp, "Index %" PRId64 " of %d@%s is not exist!", index, qid,
                                    topic);
        return resp;
    }
    rmq_buf_append_str(&body, ",\"queueData\":[");
    count = RMQ_MIN(RMQ_MAX(count, 0), 1000);
    for (int64_t i = 0; i < count && index + i < mx; i++) {
        int64_t phys, tags;
        int32_t size;
        if (rmq_store_cq_entry(b->env.store, topic, qid, index + i, &phys, &size, &tags) != RMQ_OK)
            break;
        rmq_buf_appendf(&body,
                        "%s{\"physicOffset\":%" PRId64 ",\"physicSize\":%d,\"tagsCode\":%" PRId64
                        ",\"eval\":%s}",
                        i ? "," : "", phys, size, tags,
                        sub && code_matches(sub, tags) ? "true" : "false");
    }
    rmq_buf_append_str(&body, "]}");
    return rmq_broker_ok_body(req, &body);
}

/* ---- housekeeping ------------------------------------------------------------------------ */

static rmq_rem_cmd_t *ok_remark(const rmq_rem_cmd_t *req, const char *fmt, int n) {
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (resp) rmq_rem_cmd_set_remarkf(resp, fmt, n);
    return resp;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_clean_expired_cq) {
    (void)c;
    int n = rmq_store_clean_expired_cqs(b->env.store);
    RMQ_LOG_INFO("admin", "cleanExpiredCQ: %d ConsumeQueue(s) removed", n);
    return ok_remark(req, "%d expired ConsumeQueue(s) removed", n);
}

/* System topics the broker writes without a topic config of their own. */
static bool system_topic(const char *t) {
    return !strcmp(t, "SCHEDULE_TOPIC_XXXX") || !strncmp(t, "RMQ_SYS_", 8) ||
           !strncmp(t, "rmq_sys_", 8);
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_clean_unused_topic) {
    (void)c;
    char **names = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_store_topics(b->env.store, &names, &n);
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        if (e == RMQ_OK && !system_topic(names[i]) && !rmq_broker_topic_get(b->topics, names[i]) &&
            rmq_store_delete_topic(b->env.store, names[i]) == RMQ_OK) {
            RMQ_LOG_INFO("admin", "cleanUnusedTopic: ConsumeQueues of %s (no topic config) removed",
                         names[i]);
            removed++;
        }
        free(names[i]);
    }
    free(names);
    if (e != RMQ_OK) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", rmq_strerror(e));
    return ok_remark(req, "ConsumeQueues of %d unused topic(s) removed", removed);
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_delete_expired_cl) {
    (void)c;
    rmq_store_clean_expired_commitlog(b->env.store);
    RMQ_LOG_INFO("admin", "deleteExpiredCommitLog: retention pass requested");
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (resp)
        rmq_rem_cmd_set_remarkf(resp, "%s",
                                "retention pass requested: CommitLog segments older than "
                                "fileReservedTime are deleted in the background");
    return resp;
}
