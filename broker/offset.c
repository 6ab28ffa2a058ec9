/* Consumer offsets (broker.md 3): topic@group -> {queueId -> next offset to consume}, kept in
 * memory on the loop, persisted to config/consumerOffset.json (store.md 8.4, fastjson layout
 * with bare queue-id keys) when changed, by broker.c's timer every flushConsumerOffsetInterval
 * and at close.
 *
 * Handlers: QUERY/UPDATE_CONSUMER_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_MAX/MIN_OFFSET,
 * GET_EARLIEST_MSG_STORETIME, GET_ALL_CONSUMER_OFFSET and INVOKE_BROKER_TO_RESET_OFFSET, which
 * (unlike 4.x, like 5.x's useServerSideResetOffset) also stores the new offsets itself before
 * telling the online consumers with RESET_CONSUMER_CLIENT_OFFSET. */
#include "broker/offset.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/clients.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

typedef struct {
    int qid;
    int64_t off;
} qoff_t;

/* One topic@group: queue offsets sorted by queue id. */
typedef struct {
    char *topic;
    char *group;
    qoff_t *q;
    size_t n, cap;
    /* consume rate from commits: messages committed in the current and previous minute */
    int64_t win_start_ms, win_count, prev_count;
} tg_t;

/* Writes the file for the table and for a background write in flight, which may outlive the
 * table (the broker closes while it runs): referenced by both. A write happens under mu and
 * only with an encoding newer than the last one written, so a late background write never
 * replaces what a later synchronous one (shutdown, admin) wrote. */
typedef struct {
    pthread_mutex_t mu;
    uint64_t written; /* guarded by mu: change count of the last good write */
    _Atomic int refs;
    _Atomic bool failed; /* a background write failed: the next tick writes again */
    bool inflight;       /* loop only: a background write is queued or running */
} writer_t;

struct rmq_broker_offsets_s {
    rmq_map_t map;               /* "topic@group" -> tg_t */
    const rmq_broker_env_t *env; /* borrowed; NULL for a bare table */
    uint64_t changes; /* bumped on every set; persisted_changes tells if a write is due */
    uint64_t persisted_changes;
    writer_t *wr; /* referenced; NULL for a bare table */
};

static void writer_unref(writer_t *wr) {
    if (!wr || atomic_fetch_sub(&wr->refs, 1) != 1) return;
    pthread_mutex_destroy(&wr->mu);
    free(wr);
}

/* ---- table ------------------------------------------------------------------------- */

static void tg_free(void *p) {
    tg_t *tg = p;
    if (!tg) return;
    free(tg->topic);
    free(tg->group);
    free(tg->q);
    free(tg);
}

rmq_broker_offsets_t *rmq_broker_offsets_new(void) {
    rmq_broker_offsets_t *t = calloc(1, sizeof *t);
    if (t) rmq_map_init(&t->map);
    return t;
}

void rmq_broker_offsets_free(rmq_broker_offsets_t *t) {
    if (!t) return;
    writer_unref(t->wr);
    rmq_map_fini(&t->map, tg_free);
    free(t);
}

static tg_t *tg_find(rmq_broker_offsets_t *t, const char *group, const char *topic, bool create) {
    char key[600];
    snprintf(key, sizeof key, "%s@%s", topic, group);
    tg_t *tg = rmq_map_get(&t->map, key);
    if (tg || !create) return tg;
    tg = calloc(1, sizeof *tg);
    if (!tg) return NULL;
    tg->topic = strdup(topic);
    tg->group = strdup(group);
    if (!tg->topic || !tg->group || rmq_map_put(&t->map, key, tg, NULL) != RMQ_OK) {
        tg_free(tg);
        return NULL;
    }
    return tg;
}

/* Index of qid in tg->q, or -(insertion point) - 1. */
static ssize_t tg_search(const tg_t *tg, int qid) {
    size_t lo = 0, hi = tg->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tg->q[mid].qid == qid) return (ssize_t)mid;
        if (tg->q[mid].qid < qid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(ssize_t)lo - 1;
}

void rmq_broker_offsets_tset(rmq_broker_offsets_t *t, const char *group, const char *topic, int qid,
                             int64_t off) {
    tg_t *tg = tg_find(t, group, topic, true);
    if (!tg) {
        RMQ_LOG_ERROR("offset", "out of memory storing offset %s@%s:%d", topic, group, qid);
        return;
    }
    ssize_t i = tg_search(tg, qid);
    if (i >= 0) {
        tg->q[i].off = off;
    } else {
        size_t at = (size_t)(-i - 1);
        if (tg->n == tg->cap) {
            size_t cap = tg->cap ? tg->cap * 2 : 8;
            qoff_t *q = realloc(tg->q, cap * sizeof *q);
            if (!q) {
                RMQ_LOG_ERROR("offset", "out of memory storing offset %s@%s:%d", topic, group, qid);
                return;
            }
            tg->q = q;
            tg->cap = cap;
        }
        memmove(&tg->q[at + 1], &tg->q[at], (tg->n - at) * sizeof *tg->q);
        tg->q[at].qid = qid;
        tg->q[at].off = off;
        tg->n++;
    }
    t->changes++;
}

int64_t rmq_broker_offsets_tget(rmq_broker_offsets_t *t, const char *group, const char *topic,
                                int qid) {
    tg_t *tg = tg_find(t, group, topic, false);
    if (!tg) return -1;
    ssize_t i = tg_search(tg, qid);
    return i >= 0 ? tg->q[i].off : -1;
}

typedef struct {
    rmq_buf_t *b;
    bool pretty;
    bool first;
} enc_ctx_t;

static bool enc_one(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    enc_ctx_t *c = arg;
    tg_t *tg = v;
    if (!c->first) rmq_buf_append_u8(c->b, ',');
    c->first = false;
    if (c->pretty) rmq_buf_append_str(c->b, "\n\t\t");
    rmq_json_put_str(c->b, ent->key);
    rmq_buf_append_str(c->b, ":{");
    for (size_t i = 0; i < tg->n; i++)
        rmq_buf_appendf(c->b, "%s%d:%" PRId64, i ? "," : "", tg->q[i].qid, tg->q[i].off);
    rmq_buf_append_str(c->b, c->pretty ? "\n\t\t}" : "}");
    return false;
}

char *rmq_broker_offsets_encode(rmq_broker_offsets_t *t, bool pretty) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_append_str(&b, pretty ? "{\n\t\"offsetTable\":{" : "{\"offsetTable\":{");
    enc_ctx_t c = {&b, pretty, true};
    rmq_map_each(&t->map, enc_one, &c);
    rmq_buf_append_str(&b, pretty ? "\n\t}\n}" : "}}");
    rmq_buf_append_u8(&b, 0);
    size_t n;
    return (char *)rmq_buf_detach(&b, &n);
}

rmq_err_t rmq_broker_offsets_decode(rmq_broker_offsets_t *t, const char *text, size_t len) {
    char err[160];
    json_t *root = rmq_fjson_parse(text, len, err, sizeof err);
    if (!root) {
        RMQ_LOG_WARN("offset", "consumerOffset.json: %s", err);
        return RMQ_ERR__CORRUPT;
    }
    json_t *tbl = json_object_get(root, "offsetTable");
    if (!json_is_object(tbl)) {
        json_decref(root);
        return json_is_object(root) ? RMQ_OK : RMQ_ERR__CORRUPT;
    }
    const char *key;
    json_t *m;
    json_object_foreach(tbl, key, m) {
        const char *at = strchr(key, '@');
        if (!at || !json_is_object(m)) {
            RMQ_LOG_WARN("offset", "consumerOffset.json: skipping entry %s", key);
            continue;
        }
        char topic[512];
        size_t tl = (size_t)(at - key);
        if (tl >= sizeof topic) continue;
        memcpy(topic, key, tl);
        topic[tl] = 0;
        const char *qk;
        json_t *ov;
        json_object_foreach(m, qk, ov) {
            int64_t qid;
            if (rmq_parse_i64(qk, &qid) != 0 || qid < 0 || qid > INT32_MAX) continue;
            int64_t off;
            if (json_is_integer(ov))
                off = json_integer_value(ov);
            else if (!json_is_string(ov) || rmq_parse_i64(json_string_value(ov), &off) != 0)
                continue;
            rmq_broker_offsets_tset(t, at + 1, topic, (int)qid, off);
        }
    }
    json_decref(root);
    return RMQ_OK;
}

rmq_err_t rmq_broker_offsets_sync(rmq_broker_offsets_t *t, const void *body, size_t len) {
    rmq_err_t e = rmq_broker_offsets_decode(t, body, len);
    if (e != RMQ_OK) return e;
    t->changes++;
    rmq_broker_offsets_persist(t);
    return RMQ_OK;
}

bool rmq_broker_offsets_has(rmq_broker_offsets_t *t, const char *group, const char *topic) {
    tg_t *tg = t ? tg_find(t, group, topic, false) : NULL;
    return tg && tg->n > 0;
}

typedef struct {
    const char *group;
} rmg_ctx_t;

static bool rm_group(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    tg_t *tg = v;
    if (strcmp(tg->group, ((rmg_ctx_t *)arg)->group) != 0) return false;
    tg_free(tg);
    return true;
}

void rmq_broker_offsets_remove_group(rmq_broker_offsets_t *t, const char *group) {
    if (!t) return;
    rmg_ctx_t c = {group};
    rmq_map_each(&t->map, rm_group, &c);
    t->changes++;
}

typedef struct {
    const char *topic;
    size_t removed;
} rmt_ctx_t;

static bool rm_topic(rmq_map_ent_t *ent, void *arg) {
    tg_t *tg = ent->v.ptr;
    rmt_ctx_t *c = arg;
    if (strcmp(tg->topic, c->topic) != 0) return false;
    tg_free(tg);
    c->removed++;
    return true;
}

size_t rmq_broker_offsets_remove_topic(rmq_broker_offsets_t *t, const char *topic) {
    if (!t) return 0;
    rmt_ctx_t c = {topic, 0};
    rmq_map_each(&t->map, rm_topic, &c);
    if (c.removed) t->changes++;
    return c.removed;
}

typedef struct {
    void (*fn)(const char *, const char *, const int *, const int64_t *, size_t, void *);
    void *arg;
} each_ctx_t;

static bool each_one(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    each_ctx_t *c = arg;
    tg_t *tg = v;
    int qids[1024];
    int64_t offs[1024];
    size_t n = RMQ_MIN(tg->n, RMQ_ARRAY_LEN(qids));
    for (size_t i = 0; i < n; i++) {
        qids[i] = tg->q[i].qid;
        offs[i] = tg->q[i].off;
    }
    c->fn(tg->topic, tg->group, qids, offs, n, c->arg);
    return false;
}

void rmq_broker_offsets_each(rmq_broker_offsets_t *t,
                             void (*fn)(const char *topic, const char *group, const int *qids,
                                        const int64_t *offs, size_t n, void *arg),
                             void *arg) {
    if (!t) return;
    each_ctx_t c = {fn, arg};
    rmq_map_each(&t->map, each_one, &c);
}

void rmq_broker_reset_body(rmq_buf_t *b, bool for_c, const char *topic, const char *broker,
                           const int *qids, const int64_t *offs, size_t n) {
    rmq_buf_append_str(b, for_c ? "{\"offsetTable\":[" : "{\"offsetTable\":{");
    for (size_t i = 0; i < n; i++) {
        if (i) rmq_buf_append_u8(b, ',');
        if (for_c) {
            /* MessageQueueForC: brokerName, offset, queueId, topic */
            rmq_buf_append_str(b, "{\"brokerName\":");
            rmq_json_put_str(b, broker);
            rmq_buf_appendf(b, ",\"offset\":%" PRId64 ",\"queueId\":%d,\"topic\":", offs[i],
                            qids[i]);
            rmq_json_put_str(b, topic);
            rmq_buf_append_u8(b, '}');
        } else {
            rmq_fj_mq(b, broker, qids[i], topic);
            rmq_buf_appendf(b, ":%" PRId64, offs[i]);
        }
    }
    rmq_buf_append_str(b, for_c ? "]}" : "}}");
}

/* ---- broker-facing API ------------------------------------------------------------- */

static void offsets_path(const rmq_broker_env_t *env, char *out, size_t n) {
    snprintf(out, n, "%s/consumerOffset.json", env->config_dir);
}

static rmq_err_t decode_file(const char *text, size_t len, void *t) {
    return rmq_broker_offsets_decode(t, text, len);
}

rmq_err_t rmq_broker_offsets_open(const rmq_broker_env_t *env, rmq_broker_offsets_t **out) {
    rmq_broker_offsets_t *t = rmq_broker_offsets_new();
    if (!t) return RMQ_ERR__NOMEM;
    t->env = env;
    t->wr = calloc(1, sizeof *t->wr);
    if (!t->wr) {
        rmq_broker_offsets_free(t);
        return RMQ_ERR__NOMEM;
    }
    pthread_mutex_init(&t->wr->mu, NULL);
    atomic_init(&t->wr->refs, 1);
    char path[600];
    offsets_path(env, path, sizeof path);
    rmq_broker_load_config("offset", path, "starting with no consumer offsets", decode_file, t);
    RMQ_LOG_INFO("offset", "loaded %zu topic@group offset tables from %s", t->map.count, path);
    t->persisted_changes = t->changes;
    *out = t;
    return RMQ_OK;
}

/* Any thread: write text as the encoding of change count seq unless a newer one was written. */
static rmq_err_t write_if_newer(writer_t *wr, const char *path, const char *text, uint64_t seq) {
    rmq_err_t e = RMQ_OK;
    pthread_mutex_lock(&wr->mu);
    if (seq > wr->written || wr->written == 0) {
        e = rmq_store_cfgfile_write(path, text, strlen(text));
        if (e == RMQ_OK) wr->written = seq;
    }
    pthread_mutex_unlock(&wr->mu);
    return e;
}

void rmq_broker_offsets_persist(rmq_broker_offsets_t *t) {
    if (!t || !t->env || !t->wr) return;
    if (t->changes == t->persisted_changes && !atomic_load(&t->wr->failed)) return;
    char *text = rmq_broker_offsets_encode(t, true);
    if (!text) {
        RMQ_LOG_ERROR("offset", "out of memory persisting consumer offsets");
        return;
    }
    char path[600];
    offsets_path(t->env, path, sizeof path);
    rmq_err_t e = write_if_newer(t->wr, path, text, t->changes);
    free(text);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("offset", "cannot write %s: %s", path, rmq_strerror(e));
        return;
    }
    atomic_store(&t->wr->failed, false);
    t->persisted_changes = t->changes;
}

typedef struct {
    uv_work_t work;
    writer_t *wr; /* referenced */
    char *text;   /* owned */
    uint64_t seq;
    char path[600];
} persist_job_t;

static void persist_work(uv_work_t *w) {
    persist_job_t *j = w->data;
    rmq_err_t e = write_if_newer(j->wr, j->path, j->text, j->seq);
    if (e != RMQ_OK) {
        atomic_store(&j->wr->failed, true);
        RMQ_LOG_ERROR("offset", "cannot write %s: %s (retried at the next tick)", j->path,
                      rmq_strerror(e));
    }
}

static void persist_done(uv_work_t *w, int status) {
    (void)status;
    persist_job_t *j = w->data;
    j->wr->inflight = false;
    writer_unref(j->wr);
    free(j->text);
    free(j);
}

void rmq_broker_offsets_persist_bg(rmq_broker_offsets_t *t) {
    if (!t || !t->env || !t->wr || !t->env->loop) return;
    writer_t *wr = t->wr;
    if (wr->inflight) return; /* the next tick writes what changed meanwhile */
    if (t->changes == t->persisted_changes && !atomic_load(&wr->failed)) return;
    persist_job_t *j = calloc(1, sizeof *j);
    char *text = j ? rmq_broker_offsets_encode(t, true) : NULL;
    if (!text) {
        free(j);
        RMQ_LOG_ERROR("offset", "out of memory persisting consumer offsets");
        return;
    }
    j->text = text;
    j->seq = t->changes;
    j->wr = wr;
    offsets_path(t->env, j->path, sizeof j->path);
    j->work.data = j;
    atomic_fetch_add(&wr->refs, 1);
    atomic_store(&wr->failed, false);
    if (uv_queue_work(t->env->loop, &j->work, persist_work, persist_done) != 0) {
        atomic_fetch_sub(&wr->refs, 1);
        free(j->text);
        free(j);
        rmq_broker_offsets_persist(t); /* no thread pool: here then */
        return;
    }
    wr->inflight = true;
    t->persisted_changes = j->seq;
}

void rmq_broker_offsets_close(rmq_broker_offsets_t *t) {
    if (!t) return;
    t->changes++; /* always write at shutdown */
    rmq_broker_offsets_persist(t);
    rmq_broker_offsets_free(t);
}

int64_t rmq_broker_offset_get(rmq_broker_offsets_t *t, const char *group, const char *topic,
                              int qid) {
    return t ? rmq_broker_offsets_tget(t, group, topic, qid) : -1;
}

void rmq_broker_offset_set(rmq_broker_offsets_t *t, const char *group, const char *topic, int qid,
                           int64_t offset) {
    if (!t) return;
    int64_t old = rmq_broker_offsets_tget(t, group, topic, qid);
    if (old > offset && old >= 0)
        RMQ_LOG_DEBUG("offset", "%s@%s:%d committed %" PRId64 " < %" PRId64, topic, group, qid,
                      offset, old);
    rmq_broker_offsets_tset(t, group, topic, qid, offset);
    if (old >= 0 && offset > old) {
        tg_t *tg = tg_find(t, group, topic, false);
        int64_t now = rmq_now_ms();
        if (tg && now - tg->win_start_ms >= 60000) {
            tg->prev_count = now - tg->win_start_ms < 120000 ? tg->win_count : 0;
            tg->win_start_ms = now;
            tg->win_count = 0;
        }
        if (tg) tg->win_count += offset - old;
    }
}

double rmq_broker_offsets_tps(rmq_broker_offsets_t *t, const char *group, const char *topic) {
    tg_t *tg = t ? tg_find(t, group, topic, false) : NULL;
    if (!tg) return 0.0;
    int64_t el = rmq_now_ms() - tg->win_start_ms;
    if (el >= 120000) return 0.0;
    if (el >= 60000) return (double)tg->win_count * (1.0 - (double)(el - 60000) / 60000.0) / 60.0;
    /* the previous minute's weight fades as the current one fills */
    return ((double)tg->win_count + (double)tg->prev_count * (1.0 - (double)el / 60000.0)) / 60.0;
}

/* ---- handlers ---------------------------------------------------------------------- */

#define NEED(call)                                                                                 \
    do {                                                                                           \
        rmq_rem_cmd_t *err_ = (call);                                                              \
        if (err_) return err_;                                                                     \
    } while (0)

static rmq_rem_cmd_t *ok_with(const rmq_rem_cmd_t *req, const char *k, int64_t v) {
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (resp) rmq_rem_cmd_set_i64(resp, k, v);
    return resp;
}

/* Message at queue offset 0 swapped out of memory? (checkInDiskByConsumeOffset) */
static bool first_msg_in_disk(rmq_broker_ctx_t *b, const char *topic, int qid) {
    rmq_store_get_t *g = NULL;
    if (rmq_store_get(b->env.store, topic, qid, 0, 1, 0, NULL, &g) != RMQ_OK || !g) return false;
    bool in_disk = false;
    if (g->status == RMQ_GET_FOUND && g->count > 0) {
        rmq_msg_rec_t rec;
        if (rmq_msg_rec_decode(g->iov[0].iov_base, g->iov[0].iov_len, false, &rec) > 0) {
            long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
            double ram = pages > 0 && psz > 0 ? (double)pages * (double)psz : 8e9;
            double window = ram * b->env.cfg->store.access_message_in_memory_max_ratio / 100.0;
            in_disk =
                (double)(rmq_store_commitlog_max_offset(b->env.store) - rec.phys_offset) > window;
        }
    }
    rmq_store_get_release(g);
    return in_disk;
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_query) {
    const char *group, *topic;
    int32_t qid;
    bool zero_if_not_found = true;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_i32(req, "queueId", &qid));
    NEED(rmq_broker_opt_bool(req, "setZeroIfNotFound", &zero_if_not_found));
    int64_t off = rmq_broker_offset_get(b->offsets, group, topic, qid);
    if (off >= 0) return ok_with(req, "offset", off);
    if (!zero_if_not_found)
        return rmq_broker_err(req, RMQ_ERR_QUERY_NOT_FOUND,
                              "Not found, do not set to zero, maybe this group boot first");
    /* a young queue whose first message is still in memory starts at 0 (broker.md 3.2 r. 3) */
    if (rmq_store_min_offset(b->env.store, topic, qid) <= 0 && !first_msg_in_disk(b, topic, qid))
        return ok_with(req, "offset", 0);
    return rmq_broker_err(req, RMQ_ERR_QUERY_NOT_FOUND,
                          "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_update) {
    const char *group, *topic;
    int32_t qid;
    int64_t off;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_i32(req, "queueId", &qid));
    NEED(rmq_broker_need_i64(req, "commitOffset", &off));
    if (qid < 0) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "queueId %d is negative", qid);
    rmq_broker_offset_set(b->offsets, group, topic, qid, off);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_search_by_ts) {
    const char *topic;
    int32_t qid;
    int64_t ts;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_i32(req, "queueId", &qid));
    NEED(rmq_broker_need_i64(req, "timestamp", &ts));
    return ok_with(req, "offset", rmq_store_offset_by_time(b->env.store, topic, qid, ts));
}

/* GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME: {topic, queueId} -> one value of
 * the queue from the store, returned as ext field key. */
static rmq_rem_cmd_t *queue_value(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, const char *key,
                                  int64_t (*get)(rmq_store_t *s, const char *topic, int32_t qid)) {
    const char *topic;
    int32_t qid;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_i32(req, "queueId", &qid));
    return ok_with(req, key, get(b->env.store, topic, qid));
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_max) {
    return queue_value(b, req, "offset", rmq_store_max_offset);
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_min) {
    return queue_value(b, req, "offset", rmq_store_min_offset);
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_earliest) {
    return queue_value(b, req, "timestamp", rmq_store_earliest_time);
}

RMQ_BROKER_HANDLER(rmq_broker_offset_on_all) {
    if (!b->offsets) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "offsets not loaded");
    return rmq_broker_ok_text(req, rmq_broker_offsets_encode(b->offsets, false), "out of memory");
}

/* V3_0_7_SNAPSHOT: older clients do not understand RESET_CONSUMER_CLIENT_OFFSET */
#define VERSION_V3_0_7_SNAPSHOT 28

RMQ_BROKER_HANDLER(rmq_broker_offset_on_reset) {
    const char *topic, *group;
    int64_t ts;
    bool force = false;
    int64_t only_qid = -1;
    NEED(rmq_broker_need_str(req, "topic", &topic));
    NEED(rmq_broker_need_str(req, "group", &group));
    NEED(rmq_broker_need_i64(req, "timestamp", &ts));
    NEED(rmq_broker_opt_bool(req, "isForce", &force));
    NEED(rmq_broker_opt_i64(req, "queueId", &only_qid));
    const rmq_topic_cfg_t *tc = rmq_broker_topic_get(b->topics, topic);
    if (!tc)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "[reset-offset] reset offset failed, no topic in this broker. "
                              "topic=%s",
                              topic);
    int n = tc->write_queue_nums;
    if (n <= 0) n = 0;
    int *qids = calloc((size_t)n + 1, sizeof *qids);
    int64_t *offs = calloc((size_t)n + 1, sizeof *offs);
    if (!qids || !offs) {
        free(qids);
        free(offs);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    /* A queue the group never committed (a new group, or a partial assignment) gets the
     * target, as 5.x's server-side reset: an operator can place a group before its first
     * start. (RocketMQ 4.x's broker refused a group without offsets, "THe consumer group <g>
     * not exist"; the SDK's admin falls back to its own reset on that answer.) */
    size_t k = 0;
    for (int q = 0; q < n; q++) {
        if (only_qid >= 0 && q != only_qid) continue;
        int64_t cur = rmq_broker_offset_get(b->offsets, group, topic, q);
        int64_t target = ts == -1 ? rmq_store_max_offset(b->env.store, topic, q)
                                  : rmq_store_offset_by_time(b->env.store, topic, q, ts);
        if (target < 0) target = 0;
        qids[k] = q;
        /* a non-forced reset only moves back */
        offs[k] = (force || cur < 0 || target < cur) ? target : cur;
        k++;
    }

    rmq_rem_conn_t **conns = NULL;
    int *langs = NULL, *versions = NULL;
    size_t nconn = rmq_broker_clients_group_conns(b->clients, group, &conns, &langs, &versions);
    if (nconn == 0) {
        free(qids);
        free(offs);
        free(conns);
        free(langs);
        free(versions);
        return rmq_broker_err(req, RMQ_ERR_CONSUMER_NOT_ONLINE,
                              "Consumer not online, so can not reset offset, Group: %s Topic: %s "
                              "Timestamp: %" PRId64,
                              group, topic, ts);
    }
    /* store them here too (5.x server-side reset), so a restarted or lagging consumer that
     * asks QUERY_CONSUMER_OFFSET gets the reset position */
    for (size_t i = 0; i < k; i++)
        rmq_broker_offsets_tset(b->offsets, group, topic, qids[i], offs[i]);

    rmq_buf_t map_body, c_body;
    rmq_buf_init(&map_body);
    rmq_buf_init(&c_body);
    rmq_broker_reset_body(&map_body, false, topic, b->env.cfg->broker_name, qids, offs, k);
    rmq_broker_reset_body(&c_body, true, topic, b->env.cfg->broker_name, qids, offs, k);
    for (size_t i = 0; i < nconn; i++) {
        if (versions[i] < VERSION_V3_0_7_SNAPSHOT) {
            RMQ_LOG_WARN("offset", "reset %s@%s: client %s version %d too old, not told", topic,
                         group, rmq_rem_conn_peer(conns[i]), versions[i]);
            continue;
        }
        rmq_rem_cmd_t *r = rmq_rem_cmd_new_request(RMQ_REQ_RESET_CONSUMER_CLIENT_OFFSET);
        if (!r) break;
        r->language = RMQ_LANG_JAVA;
        r->flag |= RMQ_REM_FLAG_ONEWAY;
        rmq_rem_cmd_set(r, "topic", topic);
        rmq_rem_cmd_set(r, "group", group);
        rmq_rem_cmd_set_i64(r, "timestamp", ts);
        rmq_rem_cmd_set_bool(r, "isForce", false);
        rmq_buf_t *body = langs[i] == RMQ_LANG_CPP ? &c_body : &map_body;
        rmq_rem_cmd_set_body_copy(r, body->data, body->len);
        rmq_err_t e = rmq_rem_conn_request(conns[i], r, 3000, NULL, NULL);
        if (e != RMQ_OK)
            RMQ_LOG_WARN("offset", "reset %s@%s: cannot tell %s: %s", topic, group,
                         rmq_rem_conn_peer(conns[i]), rmq_strerror(e));
        else
            RMQ_LOG_INFO("offset", "reset %s@%s to %" PRId64 ": told %s", topic, group, ts,
                         rmq_rem_conn_peer(conns[i]));
    }
    free(conns);
    free(langs);
    free(versions);
    free(qids);
    free(offs);
    rmq_rem_cmd_t *resp;
    if (req->language == RMQ_LANG_CPP) {
        resp = rmq_broker_ok_body(req, &c_body);
        rmq_buf_fini(&map_body);
    } else {
        resp = rmq_broker_ok_body(req, &map_body);
        rmq_buf_fini(&c_body);
    }
    return resp;
}
