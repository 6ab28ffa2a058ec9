/* Delivery of delayed messages (RocketMQ's ScheduleMessageService, broker.md 7): the send path
 * parks a message with DELAY=L in SCHEDULE_TOPIC_XXXX queue L-1 (REAL_TOPIC/REAL_QID keep its
 * destination); here one timer per level walks that queue from the level's offset and re-puts
 * every due message under its real topic and queue. Offsets live in delayOffset.json
 * (store.md 8.5), written every flushDelayOffsetInterval (10 s) and at close.
 *
 * Loop thread only. The re-put does not wait for flush (done = NULL), as RocketMQ's does not, so
 * a run never blocks; a failed re-put keeps the level's offset and is retried 100 ms later. */
#include "broker/schedule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/send.h"
#include "broker/util.h"
#include "common/buf.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/util.h"

#define SCHED_FIRST_MS 1000  /* timers start 1 s after the service (RocketMQ's FIRST_DELAY_TIME) */
#define SCHED_IDLE_MS 100    /* nothing due / queue empty / put failed: look again */
#define SCHED_FLUSH_MS 10000 /* flushDelayOffsetInterval */
#define SCHED_READ_BATCH 32  /* records per store read */
#define SCHED_RUN_MAX 1024   /* records per run before yielding the loop */

typedef struct {
    uv_timer_t timer;
    struct rmq_broker_schedule_s *s;
    int level;    /* 1-based */
    bool failing; /* last re-put failed: warn once per failure streak */
} sched_level_t;

struct rmq_broker_schedule_s {
    const rmq_broker_env_t *env; /* borrowed */
    const bool *stopping;        /* borrowed: the broker is shutting down */
    int n;                       /* levels */
    int64_t *delay_ms;           /* n */
    int64_t *offs;               /* n: next queue offset to examine per level */
    sched_level_t *lv;           /* n */
    uv_timer_t flush_timer;
    bool running; /* timers started (masters) */
    bool closing;
    uint64_t changes, persisted_changes;
    int open_handles; /* handles whose close callback is pending */
};

/* ---- pure parts (unit-tested) ------------------------------------------------------------- */

int rmq_broker_delay_parse(const char *spec, int64_t **ms) {
    *ms = NULL;
    if (!spec) return -1;
    int cap = 0, n = 0;
    int64_t *out = NULL;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        int64_t v = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            if (v > INT64_MAX / 10 - 10) goto bad;
            v = v * 10 + (*p++ - '0');
        }
        if (p == start) goto bad;
        int64_t unit;
        switch (*p) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default: goto bad;
        }
        p++;
        if (*p && *p != ' ' && *p != '\t') goto bad;
        if (v <= 0 || v > INT64_MAX / unit) goto bad;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            int64_t *t = realloc(out, (size_t)cap * sizeof *t);
            if (!t) goto bad;
            out = t;
        }
        out[n++] = v * unit;
    }
    if (n == 0) goto bad;
    *ms = out;
    return n;
bad:
    free(out);
    return -1;
}

char *rmq_broker_delay_offsets_encode(const int64_t *offs, int n, bool pretty) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_append_str(&b, pretty ? "{\n\t\"offsetTable\":{" : "{\"offsetTable\":{");
    for (int i = 0; i < n; i++) rmq_buf_appendf(&b, "%s%d:%" PRId64, i ? "," : "", i + 1, offs[i]);
    rmq_buf_append_str(&b, pretty ? "\n\t}\n}" : "}}");
    rmq_buf_append_u8(&b, 0);
    size_t len;
    return (char *)rmq_buf_detach(&b, &len);
}

rmq_err_t rmq_broker_delay_offsets_decode(const char *text, size_t len, int64_t *offs, int n) {
    char err[160];
    json_t *root = rmq_fjson_parse(text, len, err, sizeof err);
    if (!root || !json_is_object(root)) {
        RMQ_LOG_WARN("schedule", "delayOffset.json: %s", root ? "not an object" : err);
        json_decref(root);
        return RMQ_ERR__CORRUPT;
    }
    json_t *tbl = json_object_get(root, "offsetTable");
    if (tbl && !json_is_object(tbl)) {
        json_decref(root);
        return RMQ_ERR__CORRUPT;
    }
    const char *key;
    json_t *v;
    json_object_foreach(tbl, key, v) {
        int64_t lvl, off;
        if (rmq_parse_i64(key, &lvl) != 0 || lvl < 1) continue;
        if (lvl > n) {
            RMQ_LOG_WARN("schedule",
                         "delayOffset.json: level %" PRId64
                         " is beyond messageDelayLevel's %d levels; ignored",
                         lvl, n);
            continue;
        }
        if (json_is_integer(v))
            off = json_integer_value(v);
        else if (!json_is_string(v) || rmq_parse_i64(json_string_value(v), &off) != 0)
            continue;
        offs[lvl - 1] = off < 0 ? 0 : off;
    }
    json_decref(root);
    return RMQ_OK;
}

/* ---- delivery ------------------------------------------------------------------------------ */

static void on_level_timer(uv_timer_t *t);

static void rearm(sched_level_t *l, int64_t ms) {
    if (l->s->closing) return;
    if (ms < 0) ms = 0;
    uv_timer_start(&l->timer, on_level_timer, (uint64_t)ms, 0);
}

/* Outcome of one record. */
typedef enum { REC_DONE, REC_NOT_DUE, REC_RETRY } rec_result_t;

static rec_result_t deliver_one(rmq_broker_schedule_t *s, sched_level_t *l, int64_t qoff,
                                const rmq_msg_rec_t *rec, int64_t now, int64_t *wait_ms) {
    int level = l->level;
    int64_t delay = s->delay_ms[level - 1];
    /* tagsCode of the entry: store timestamp + the level's delay (store.md 3.2). A time further
     * away than one delay means the clock moved back: deliver now. */
    int64_t deliver = rec->store_ts + delay;
    if (deliver > now + delay) deliver = now;
    if (deliver > now) {
        *wait_ms = deliver - now;
        return REC_NOT_DUE;
    }
    char real_topic[256], qv[32];
    int64_t real_qid;
    size_t pl = (size_t)rec->props_len;
    if (!rmq_msg_prop_copy(rec->props, pl, RMQ_PROP_REAL_TOPIC, real_topic, sizeof real_topic) ||
        !*real_topic || !rmq_msg_prop_copy(rec->props, pl, RMQ_PROP_REAL_QID, qv, sizeof qv) ||
        rmq_parse_i64(qv, &real_qid) != 0 || real_qid < 0 || real_qid > INT32_MAX) {
        RMQ_LOG_WARN("schedule",
                     "level %d offset %" PRId64 ": no valid REAL_TOPIC/REAL_QID; "
                     "skipped",
                     level, qoff);
        return REC_DONE;
    }
    if (!strcmp(real_topic, RMQ_TOPIC_TRANS_HALF)) {
        /* RocketMQ drops these too (a half message must never become visible by delay). */
        RMQ_LOG_WARN("schedule", "level %d offset %" PRId64 ": delayed message for %s dropped",
                     level, qoff, real_topic);
        return REC_DONE;
    }
    /* The stored properties string verbatim, DELAY / REAL_TOPIC / REAL_QID included, as
     * RocketMQ's messageTimeup builds it (broker.md 7.3, 7.5). rmq_broker_reput goes straight
     * to the store, so DELAY does not send the message back to the schedule topic. */
    rmq_store_put_result_t r;
    rmq_err_t e = rmq_broker_reput(s->env, rec, real_topic, (int32_t)real_qid, rec->props, pl,
                                   rec->reconsume_times, &r, NULL, NULL);
    if (e != RMQ_OK) {
        if (!l->failing)
            RMQ_LOG_WARN("schedule",
                         "level %d offset %" PRId64 ": re-put to %s:%" PRId64
                         " failed (%s); retrying every %d ms",
                         level, qoff, real_topic, real_qid, rmq_strerror(e), SCHED_IDLE_MS);
        l->failing = true;
        *wait_ms = SCHED_IDLE_MS;
        return REC_RETRY;
    }
    if (l->failing) RMQ_LOG_INFO("schedule", "level %d: re-put works again", level);
    l->failing = false;
    return REC_DONE;
}

static void on_level_timer(uv_timer_t *t) {
    sched_level_t *l = t->data;
    rmq_broker_schedule_t *s = l->s;
    const rmq_broker_env_t *env = s->env;
    if (s->closing || *s->stopping || !env->store) return;
    int32_t qid = l->level - 1;
    int64_t *off = &s->offs[qid];
    int handled = 0;
    for (;;) {
        int64_t min = rmq_store_min_offset(env->store, RMQ_TOPIC_SCHEDULE, qid);
        int64_t max = rmq_store_max_offset(env->store, RMQ_TOPIC_SCHEDULE, qid);
        /* Out of range (queue removed or files lost): clamp, as RocketMQ's correctDelayOffset. */
        if (*off < min || *off > max) {
            RMQ_LOG_WARN("schedule",
                         "level %d offset %" PRId64 " outside [%" PRId64 ", %" PRId64
                         "]; corrected",
                         l->level, *off, min, max);
            *off = *off < min ? min : max;
            s->changes++;
        }
        if (*off >= max || handled >= SCHED_RUN_MAX) break;
        rmq_store_get_t *g = NULL;
        if (rmq_store_get(env->store, RMQ_TOPIC_SCHEDULE, qid, *off, SCHED_READ_BATCH, 0, NULL,
                          &g) != RMQ_OK ||
            !g)
            break;
        if (g->status != RMQ_GET_FOUND || g->count == 0) {
            /* A hole (entry whose record was removed): the store says where to go on. */
            bool moved = g->next_begin_offset > *off && g->next_begin_offset <= max;
            if (moved) {
                *off = g->next_begin_offset;
                s->changes++;
            }
            rmq_store_get_release(g);
            if (moved) continue;
            break;
        }
        int64_t now = rmq_now_ms();
        for (size_t i = 0; i < g->count; i++) {
            int64_t qoff = g->queue_offsets[i];
            rmq_msg_rec_t rec;
            if (rmq_msg_rec_decode(g->iov[i].iov_base, g->iov[i].iov_len, false, &rec) <= 0) {
                RMQ_LOG_WARN("schedule",
                             "level %d offset %" PRId64 ": undecodable record; "
                             "skipped",
                             l->level, qoff);
                *off = qoff + 1;
                s->changes++;
                continue;
            }
            int64_t wait = 0;
            rec_result_t res = deliver_one(s, l, qoff, &rec, now, &wait);
            if (res != REC_DONE) {
                rmq_store_get_release(g);
                rearm(l, wait);
                return;
            }
            *off = qoff + 1;
            s->changes++;
            handled++;
        }
        rmq_store_get_release(g);
    }
    /* Caught up (or yielding after a long run): look again soon for new entries. */
    rearm(l, handled >= SCHED_RUN_MAX ? 0 : SCHED_IDLE_MS);
}

/* ---- persistence ---------------------------------------------------------------------------- */

static void offsets_path(const rmq_broker_env_t *env, char *out, size_t n) {
    snprintf(out, n, "%s/delayOffset.json", env->config_dir);
}

static void persist(rmq_broker_schedule_t *s, bool force) {
    if (!force && s->changes == s->persisted_changes) return;
    char *text = rmq_broker_delay_offsets_encode(s->offs, s->n, true);
    if (!text) {
        RMQ_LOG_ERROR("schedule", "out of memory persisting delay offsets");
        return;
    }
    char path[600];
    offsets_path(s->env, path, sizeof path);
    rmq_err_t e = rmq_store_cfgfile_write(path, text, strlen(text));
    free(text);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("schedule", "cannot write %s: %s", path, rmq_strerror(e));
        return;
    }
    s->persisted_changes = s->changes;
}

static void on_flush_timer(uv_timer_t *t) {
    persist(t->data, false);
}

int64_t rmq_broker_schedule_backlog(rmq_broker_schedule_t *s) {
    if (!s) return 0;
    int64_t n = 0;
    for (int i = 0; i < s->n; i++) {
        int64_t max = rmq_store_max_offset(s->env->store, RMQ_TOPIC_SCHEDULE, i);
        if (max > s->offs[i]) n += max - s->offs[i];
    }
    return n;
}

void rmq_broker_schedule_persist(rmq_broker_schedule_t *s) {
    if (s) persist(s, false);
}

static rmq_err_t decode_file(const char *text, size_t len, void *arg) {
    rmq_broker_schedule_t *s = arg;
    return rmq_broker_delay_offsets_decode(text, len, s->offs, s->n);
}

rmq_err_t rmq_broker_schedule_open(const rmq_broker_env_t *env, const bool *stopping,
                                   rmq_broker_schedule_t **out) {
    rmq_broker_schedule_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ERR__NOMEM;
    s->env = env;
    s->stopping = stopping;
    s->n = rmq_broker_delay_parse(env->cfg->message_delay_level, &s->delay_ms);
    if (s->n <= 0) {
        /* rmq_broker_cfg_finish refuses such a config; stay defensive. */
        RMQ_LOG_ERROR("schedule", "messageDelayLevel malformed: '%s'",
                      env->cfg->message_delay_level ? env->cfg->message_delay_level : "");
        free(s);
        return RMQ_ERR__CONFIG;
    }
    s->offs = calloc((size_t)s->n, sizeof *s->offs);
    s->lv = calloc((size_t)s->n, sizeof *s->lv);
    if (!s->offs || !s->lv) {
        free(s->offs);
        free(s->lv);
        free(s->delay_ms);
        free(s);
        return RMQ_ERR__NOMEM;
    }
    char path[600];
    offsets_path(env, path, sizeof path);
    rmq_broker_load_config("schedule", path, "delivering from the start of each level", decode_file,
                           s);
    /* Clamp into each schedule queue's range now (RocketMQ's correctDelayOffset at load). */
    for (int i = 0; i < s->n; i++) {
        int64_t min = rmq_store_min_offset(env->store, RMQ_TOPIC_SCHEDULE, i);
        int64_t max = rmq_store_max_offset(env->store, RMQ_TOPIC_SCHEDULE, i);
        int64_t o = s->offs[i] < min ? min : s->offs[i] > max ? max : s->offs[i];
        if (o != s->offs[i]) {
            RMQ_LOG_WARN("schedule", "level %d offset %" PRId64 " corrected to %" PRId64, i + 1,
                         s->offs[i], o);
            s->offs[i] = o;
            s->changes++;
        }
    }
    *out = s;
    uv_timer_init(env->loop, &s->flush_timer);
    s->flush_timer.data = s;
    s->open_handles = 1;
    uv_timer_start(&s->flush_timer, on_flush_timer, SCHED_FLUSH_MS, SCHED_FLUSH_MS);
    for (int i = 0; i < s->n; i++) {
        sched_level_t *l = &s->lv[i];
        l->s = s;
        l->level = i + 1;
        uv_timer_init(env->loop, &l->timer);
        l->timer.data = l;
        s->open_handles++;
    }
    /* A slave only keeps the file (its master delivers and ships delayOffset.json). */
    if (env->cfg->broker_role != RMQ_ROLE_SLAVE) {
        s->running = true;
        for (int i = 0; i < s->n; i++) rearm(&s->lv[i], SCHED_FIRST_MS);
    }
    RMQ_LOG_INFO("schedule", "%d delay levels (%s), %s", s->n, env->cfg->message_delay_level,
                 s->running ? "delivering" : "not delivering (slave)");
    return RMQ_OK;
}

rmq_err_t rmq_broker_schedule_sync(rmq_broker_schedule_t *s, const void *body, size_t len) {
    rmq_err_t e = rmq_broker_delay_offsets_decode(body, len, s->offs, s->n);
    if (e != RMQ_OK) return e;
    char path[600];
    offsets_path(s->env, path, sizeof path);
    e = rmq_store_cfgfile_write(path, body, len);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("schedule", "cannot write %s: %s", path, rmq_strerror(e));
        return e;
    }
    s->persisted_changes = s->changes;
    return RMQ_OK;
}

/* Every handle's data is the service once closing (set by rmq_broker_schedule_close). */
static void on_handle_closed(uv_handle_t *h) {
    rmq_broker_schedule_t *s = h->data;
    if (--s->open_handles > 0) return;
    free(s->offs);
    free(s->lv);
    free(s->delay_ms);
    free(s);
}

void rmq_broker_schedule_close(rmq_broker_schedule_t *s) {
    if (!s) return;
    s->closing = true;
    persist(s, true);
    uv_close((uv_handle_t *)&s->flush_timer, on_handle_closed);
    for (int i = 0; i < s->n; i++) {
        s->lv[i].timer.data = s;
        uv_close((uv_handle_t *)&s->lv[i].timer, on_handle_closed);
    }
}

/* ---- GET_ALL_DELAY_OFFSET (45): the delayOffset.json content, for slaves and tools ---------- */

RMQ_BROKER_HANDLER(rmq_broker_schedule_on_get_all) {
    rmq_broker_schedule_t *s = b->schedule;
    char *text = s ? rmq_broker_delay_offsets_encode(s->offs, s->n, false) : NULL;
    return rmq_broker_ok_text(req, text, "No delay offset in this broker");
}
