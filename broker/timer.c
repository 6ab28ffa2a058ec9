/* 5.x timer messages (broker.md 7.6; RocketMQ 5's TimerMessageStore, our own shape).
 *
 * Intake (send.c via rmq_broker_timer_intake, timer_intake.c): the due time from TIMER_DELAY_SEC,
 * else TIMER_DELAY_MS, else TIMER_DELIVER_MS; due in the future -> rounded down to timerPrecisionMs
 * (an exact multiple one precision earlier) into TIMER_OUT_MS and the message goes to
 * rmq_sys_wheel_timer queue 0, answered like any send (after the flush under SYNC_FLUSH).
 *
 * Enqueue (every 10 ms): read the timer queue from the checkpoint's offset and append a unit per
 * message to the wheel (store/timer.h): slot = TIMER_OUT_MS, exact due = TIMER_DELIVER_MS, or
 * the record's store time + the relative delay (never before the due time the sender was
 * promised: the store time is later than the intake clock), clamped into the slot.
 *
 * Delivery: slot S holds dues in (S, S + precision]. When the clock reaches S the slot's chain
 * is read into a buffer sorted by exact due (one slot's worth of small entries: memory follows
 * the messages due in one precision, never the pending total), and each message is re-put to
 * its real topic when its own due time passes, so lateness is the loop's, not the precision's.
 * Progress (slot, delivered-up-to-ms) is written to the mmap'd checkpoint after each batch:
 * kill -9 redelivers at most the batch being re-put. A message enqueued after its slot was read
 * (the enqueue ran late) joins the loaded buffer if still ahead of the delivered position, else
 * the next slot not yet read: never lost, never early.
 *
 * Re-put as RocketMQ's convertMessage: REAL_TOPIC / REAL_QID removed, TIMER_ENQUEUE_MS and
 * TIMER_DEQUEUE_MS added, every other property (UNIQ_KEY, so the consumer's message id, and
 * TIMER_OUT_MS, which keeps a re-send from being parked again) kept. */
#include "broker/timer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/send.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "store/timer.h"

#define ENQ_POLL_MS 10
#define ENQ_RUN_MAX 8192     /* records per enqueue run before yielding */
#define DEQ_RUN_MAX 8192     /* deliveries per run before yielding */
#define DEQ_SLOTS_MAX 100000 /* empty slots skipped per run (catching up after downtime) */
#define RETRY_MS 100
#define WHEEL_DAYS_SLOTS (2 * 7 * 86400) /* RocketMQ's wheel: 2 x 7 days of 1 s slots */

typedef struct {
    int64_t due, pos, offset_py, write_ms;
} due_t;

struct rmq_broker_timer_s {
    const rmq_broker_env_t *env; /* borrowed */
    const bool *stopping;        /* borrowed */
    rmq_store_timer_t *st;
    int64_t p;       /* precision */
    int64_t max_ms;  /* timerMaxDelaySec in ms */
    int64_t read_ms; /* slot being delivered or next to read */
    int64_t delivered_ms;
    bool loaded; /* buf holds read_ms's slot */
    due_t *buf;
    size_t n, i, cap;
    bool failing;
    uint64_t enqueued, delivered;
    uv_timer_t enq_timer, deq_timer, flush_timer;
    uv_work_t flush_work; /* the msync, on libuv's thread pool: it can block for long */
    rmq_store_timer_sync_t sync;
    bool flushing;
    int open_handles; /* handles and the flush work whose callbacks are pending */
    bool closing;
};

/* A property as a Java long: false when present but not a number. */
static bool prop_i64(const char *props, size_t len, const char *key, bool *present, int64_t *v) {
    char s[40];
    *present = props && rmq_msg_prop_copy(props, len, key, s, sizeof s);
    return !*present || rmq_parse_java_long(s, v) == 0;
}

/* ---- enqueue: timer queue -> wheel ---------------------------------------------------------- */

static void arm_deq(rmq_broker_timer_t *t, int64_t ms);

/* Exact due time of a parked record (see the top of the file); out_ms its slot. */
static int64_t exact_due(const rmq_broker_timer_t *t, const rmq_msg_rec_t *rec, int64_t out_ms) {
    const char *pr = rec->props;
    size_t pl = (size_t)rec->props_len;
    bool has;
    int64_t v = 0, due = out_ms + t->p;
    if (prop_i64(pr, pl, RMQ_PROP_TIMER_DELAY_SEC, &has, &v) && has && v < INT64_MAX / 1000)
        due = rec->store_ts + v * 1000;
    else if (prop_i64(pr, pl, RMQ_PROP_TIMER_DELAY_MS, &has, &v) && has)
        due = rec->store_ts + v;
    else if (prop_i64(pr, pl, RMQ_PROP_TIMER_DELIVER_MS, &has, &v) && has)
        due = v;
    if (due <= out_ms) due = out_ms + 1;
    if (due > out_ms + t->p) due = out_ms + t->p;
    return due;
}

static void buf_insert(rmq_broker_timer_t *t, const due_t *d) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        due_t *nb = realloc(t->buf, nc * sizeof *nb);
        if (!nb) {
            /* it is in the log: a reload after restart delivers it; say so */
            RMQ_LOG_ERROR("timer", "out of memory: a late timer message waits for a restart");
            return;
        }
        t->buf = nb;
        t->cap = nc;
    }
    size_t k = t->n;
    while (k > t->i && t->buf[k - 1].due > d->due) k--;
    memmove(t->buf + k + 1, t->buf + k, (t->n - k) * sizeof *t->buf);
    t->buf[k] = *d;
    t->n++;
}

/* One parked record at queue offset qoff. False: stop and retry later (the wheel refused). */
static bool enqueue_one(rmq_broker_timer_t *t, int64_t qoff, const rmq_msg_rec_t *rec) {
    char v[40];
    int64_t out_ms;
    size_t pl = (size_t)rec->props_len;
    if (!rmq_msg_prop_copy(rec->props, pl, RMQ_PROP_TIMER_OUT_MS, v, sizeof v) ||
        rmq_parse_i64(v, &out_ms) != 0) {
        RMQ_LOG_WARN("timer", "%s offset %" PRId64 ": no valid %s; skipped", RMQ_TOPIC_TIMER, qoff,
                     RMQ_PROP_TIMER_OUT_MS);
        rmq_store_timer_set_enq_offset(t->st, qoff + 1);
        return true;
    }
    out_ms = out_ms / t->p * t->p;
    char topic[256] = "";
    rmq_msg_prop_copy(rec->props, pl, RMQ_PROP_REAL_TOPIC, topic, sizeof topic);
    rmq_store_timer_unit_t u = {.due_ms = exact_due(t, rec, out_ms),
                                .offset_py = rec->phys_offset,
                                .size_py = rec->total_size,
                                .topic_hash = rmq_java_hash(topic, strlen(topic)),
                                .queue_offset = qoff};
    int64_t slot = out_ms,
            first_open = t->loaded || t->delivered_ms > 0 ? t->read_ms + t->p : t->read_ms;
    bool into_buf = false;
    if (slot < first_open) { /* its slot was read already */
        if (t->loaded && u.due_ms > t->delivered_ms) {
            slot = t->read_ms;
            into_buf = true;
        } else {
            slot = first_open;
        }
    }
    rmq_err_t e = rmq_store_timer_append(t->st, slot, &u);
    if (e != RMQ_OK) {
        RMQ_LOG_WARN("timer", "timer log append failed (%s); retrying", rmq_strerror(e));
        return false;
    }
    if (into_buf) {
        due_t d = {.due = u.due_ms, .pos = u.pos, .offset_py = u.offset_py, .write_ms = u.write_ms};
        buf_insert(t, &d);
        arm_deq(t, 0);
    }
    t->enqueued++;
    return true;
}

static rmq_err_t files_open(rmq_broker_timer_t *t);

static void on_enq_timer(uv_timer_t *h) {
    rmq_broker_timer_t *t = h->data;
    rmq_store_t *store = t->env->store;
    if (t->closing || *t->stopping) return;
    if (!t->st) {
        if (rmq_store_max_offset(store, RMQ_TOPIC_TIMER, 0) <= 0) return;
        rmq_err_t e = files_open(t);
        if (e != RMQ_OK) {
            if (!t->failing)
                RMQ_LOG_ERROR("timer", "cannot open the timer wheel (%s); timer messages wait",
                              rmq_strerror(e));
            t->failing = true;
            return;
        }
        t->failing = false;
    }
    int handled = 0;
    rmq_store_timer_progress_t pr;
    rmq_store_timer_progress(t->st, &pr);
    int64_t off = pr.enq_offset;
    while (handled < ENQ_RUN_MAX) {
        int64_t min = rmq_store_min_offset(store, RMQ_TOPIC_TIMER, 0);
        int64_t max = rmq_store_max_offset(store, RMQ_TOPIC_TIMER, 0);
        if (off < min) {
            RMQ_LOG_WARN("timer",
                         "timer queue offset %" PRId64 " below its min %" PRId64 "; corrected", off,
                         min);
            off = min;
            rmq_store_timer_set_enq_offset(t->st, off);
        }
        if (off >= max) break;
        rmq_store_get_t *g = NULL;
        if (rmq_store_get(store, RMQ_TOPIC_TIMER, 0, off, 32, 0, NULL, &g) != RMQ_OK || !g) break;
        if (g->status != RMQ_GET_FOUND || g->count == 0) {
            bool moved = g->next_begin_offset > off && g->next_begin_offset <= max;
            if (moved) {
                off = g->next_begin_offset;
                rmq_store_timer_set_enq_offset(t->st, off);
            }
            rmq_store_get_release(g);
            if (moved) continue;
            break;
        }
        bool stop = false;
        for (size_t k = 0; k < g->count && !stop; k++) {
            int64_t q = g->queue_offsets[k];
            rmq_msg_rec_t rec;
            if (rmq_msg_rec_decode(g->iov[k].iov_base, g->iov[k].iov_len, false, &rec) <= 0) {
                RMQ_LOG_WARN("timer", "%s offset %" PRId64 ": undecodable; skipped",
                             RMQ_TOPIC_TIMER, q);
                rmq_store_timer_set_enq_offset(t->st, q + 1);
            } else if (!enqueue_one(t, q, &rec)) {
                stop = true;
                break;
            }
            off = q + 1;
            handled++;
        }
        rmq_store_get_release(g);
        if (stop) break;
    }
    if (handled >= ENQ_RUN_MAX) uv_timer_start(&t->enq_timer, on_enq_timer, 0, ENQ_POLL_MS);
}

/* ---- delivery ------------------------------------------------------------------------------ */

static void on_deq_timer(uv_timer_t *h);

static void arm_deq(rmq_broker_timer_t *t, int64_t ms) {
    if (t->closing) return;
    if (ms < 0) ms = 0;
    uv_timer_start(&t->deq_timer, on_deq_timer, (uint64_t)ms, 0);
}

typedef enum { DEL_DONE, DEL_RETRY } del_t;

static del_t deliver_one(rmq_broker_timer_t *t, const due_t *d, int64_t now) {
    uint8_t *raw = NULL;
    size_t len = 0;
    rmq_err_t e = rmq_store_read_at(t->env->store, d->offset_py, &raw, &len);
    rmq_msg_rec_t rec;
    if (e != RMQ_OK || rmq_msg_rec_decode(raw, len, false, &rec) <= 0) {
        RMQ_LOG_WARN("timer",
                     "timer message at CommitLog offset %" PRId64 " is gone (%s); not "
                     "delivered",
                     d->offset_py, e != RMQ_OK ? rmq_strerror(e) : "undecodable");
        free(raw);
        return DEL_DONE;
    }
    char topic[256], qv[32];
    int64_t qid;
    size_t pl = (size_t)rec.props_len;
    if (!rmq_msg_prop_copy(rec.props, pl, RMQ_PROP_REAL_TOPIC, topic, sizeof topic) || !*topic ||
        !rmq_msg_prop_copy(rec.props, pl, RMQ_PROP_REAL_QID, qv, sizeof qv) ||
        rmq_parse_i64(qv, &qid) != 0 || qid < 0 || qid > INT32_MAX) {
        RMQ_LOG_WARN("timer", "timer message at %" PRId64 ": no valid REAL_TOPIC/REAL_QID; dropped",
                     d->offset_py);
        free(raw);
        return DEL_DONE;
    }
    static const char *const drop[] = {RMQ_PROP_REAL_TOPIC, RMQ_PROP_REAL_QID,
                                       RMQ_PROP_TIMER_ENQUEUE_MS, RMQ_PROP_TIMER_DEQUEUE_MS, NULL};
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    rmq_msg_prop_filter_keys(&pb, rec.props, pl, drop);
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, d->write_ms);
    if (pb.len) rmq_buf_append_u8(&pb, RMQ_PROP_SEP);
    rmq_msg_prop_append(&pb, RMQ_PROP_TIMER_ENQUEUE_MS, num);
    snprintf(num, sizeof num, "%" PRId64, now);
    rmq_msg_prop_append(&pb, RMQ_PROP_TIMER_DEQUEUE_MS, num);
    if (pb.len && pb.data[pb.len - 1] == RMQ_PROP_SEP) pb.len--;
    rmq_store_put_result_t r;
    e = rmq_broker_reput(t->env, &rec, topic, (int32_t)qid, (const char *)pb.data, pb.len,
                         rec.reconsume_times, &r, NULL, NULL);
    rmq_buf_fini(&pb);
    free(raw);
    if (e != RMQ_OK) {
        if (!t->failing)
            RMQ_LOG_WARN("timer", "re-put to %s:%" PRId64 " failed (%s); retrying every %d ms",
                         topic, qid, rmq_strerror(e), RETRY_MS);
        t->failing = true;
        return DEL_RETRY;
    }
    if (t->failing) RMQ_LOG_INFO("timer", "re-put works again");
    t->failing = false;
    return DEL_DONE;
}

static int cmp_due(const void *a, const void *b) {
    const due_t *x = a, *y = b;
    if (x->due != y->due) return x->due < y->due ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Read read_ms's slot into buf (units at or before delivered_ms were delivered before a
 * restart). */
static void load_slot(rmq_broker_timer_t *t) {
    t->n = t->i = 0;
    rmq_store_timer_slot_t s;
    if (rmq_store_timer_slot(t->st, t->read_ms, &s)) {
        for (int64_t pos = s.last_pos; pos >= 0;) {
            rmq_store_timer_unit_t u;
            if (rmq_store_timer_unit(t->st, pos, &u) != RMQ_OK) {
                RMQ_LOG_WARN("timer",
                             "slot %" PRId64 ": unit at %" PRId64 " unreadable; the "
                             "rest of the slot's chain is skipped",
                             t->read_ms, pos);
                break;
            }
            pos = u.prev_pos;
            if (u.due_ms <= t->delivered_ms) continue;
            if (t->n == t->cap) {
                size_t nc = t->cap ? t->cap * 2 : 1024;
                due_t *nb = realloc(t->buf, nc * sizeof *nb);
                if (!nb) {
                    RMQ_LOG_ERROR("timer", "out of memory loading slot %" PRId64, t->read_ms);
                    break;
                }
                t->buf = nb;
                t->cap = nc;
            }
            t->buf[t->n++] = (due_t){u.due_ms, u.pos, u.offset_py, u.write_ms};
        }
    }
    if (t->n > 1) qsort(t->buf, t->n, sizeof *t->buf, cmp_due);
    t->loaded = true;
}

static void on_deq_timer(uv_timer_t *h) {
    rmq_broker_timer_t *t = h->data;
    if (t->closing || *t->stopping || !t->st) return;
    int delivered = 0, slots = 0;
    for (;;) {
        int64_t now = rmq_now_ms();
        if (t->loaded) {
            int64_t batch = 0, last = t->delivered_ms;
            while (t->i < t->n && t->buf[t->i].due <= now && delivered < DEQ_RUN_MAX) {
                if (deliver_one(t, &t->buf[t->i], now) == DEL_RETRY) break;
                last = RMQ_MAX(last, t->buf[t->i].due);
                t->i++;
                batch++;
                delivered++;
            }
            if (batch) {
                t->delivered_ms = last;
                t->delivered += (uint64_t)batch;
                rmq_store_timer_set_delivered(t->st, t->read_ms, last, batch);
            }
            if (t->failing) return arm_deq(t, RETRY_MS);
            if (delivered >= DEQ_RUN_MAX) return arm_deq(t, 0);
            if (t->i < t->n) return arm_deq(t, t->buf[t->i].due - now);
            if (now < t->read_ms + t->p) return arm_deq(t, t->read_ms + t->p - now);
            t->loaded = false;
            t->read_ms += t->p;
            t->delivered_ms = 0;
            t->n = t->i = 0;
            rmq_store_timer_set_delivered(t->st, t->read_ms, 0, 0);
            continue;
        }
        if (now < t->read_ms) return arm_deq(t, t->read_ms - now);
        if (++slots > DEQ_SLOTS_MAX) return arm_deq(t, 0);
        load_slot(t);
    }
}

/* ---- flush, open, close --------------------------------------------------------------------- */

static void free_timer(rmq_broker_timer_t *t) {
    if (--t->open_handles > 0) return;
    rmq_store_timer_close(t->st);
    free(t->buf);
    free(t);
}

static void flush_work(uv_work_t *w) {
    rmq_broker_timer_t *t = w->data;
    rmq_store_timer_sync_run(&t->sync);
}

static void flush_done(uv_work_t *w, int status) {
    (void)status;
    rmq_broker_timer_t *t = w->data;
    t->flushing = false;
    /* log segments whose units were all written long enough ago are all delivered; not while
     * a sync may touch their mappings */
    if (!t->closing) rmq_store_timer_clean(t->st, t->read_ms - t->max_ms - 2 * t->p);
    free_timer(t);
}

static void on_flush_timer(uv_timer_t *h) {
    rmq_broker_timer_t *t = h->data;
    if (t->closing || !t->st || t->flushing) return;
    rmq_store_timer_sync_prepare(t->st, &t->sync);
    t->flush_work.data = t;
    if (uv_queue_work(t->env->loop, &t->flush_work, flush_work, flush_done) != 0) {
        rmq_store_timer_sync_run(&t->sync); /* no thread pool: here then */
        return;
    }
    t->flushing = true;
    t->open_handles++;
}

static void on_handle_closed(uv_handle_t *h) {
    free_timer(h->data);
}

/* Open the wheel files and start delivering from the checkpoint. */
static rmq_err_t files_open(rmq_broker_timer_t *t) {
    const rmq_broker_cfg_t *cfg = t->env->cfg;
    /* twice the longest delay in slots, at least RocketMQ's 2 x 7 days of 1 s slots (its file) */
    int64_t need = 2 * ((t->max_ms + t->p - 1) / t->p) + 2;
    rmq_store_timer_cfg_t sc = {.root = cfg->store.store_path_root_dir,
                                .precision_ms = cfg->timer_precision_ms,
                                .slots = RMQ_MAX(need, (int64_t)WHEEL_DAYS_SLOTS),
                                .log_seg_size = cfg->mapped_file_size_timer_log};
    rmq_err_t e = rmq_store_timer_open(&sc, &t->st);
    if (e != RMQ_OK) return e;
    rmq_store_timer_progress_t pr;
    rmq_store_timer_progress(t->st, &pr);
    t->read_ms = pr.read_ms / t->p * t->p;
    t->delivered_ms = pr.delivered_ms;
    uv_timer_start(&t->flush_timer, on_flush_timer, (uint64_t)cfg->timer_flush_interval_ms,
                   (uint64_t)cfg->timer_flush_interval_ms);
    arm_deq(t, 0);
    RMQ_LOG_INFO("timer",
                 "timer wheel: precision %" PRId64 " ms, max delay %d s, %" PRId64
                 " slots; %" PRId64 " pending, delivering from %" PRId64 " (%" PRId64
                 " ms behind), next timer queue offset %" PRId64,
                 t->p, cfg->timer_max_delay_sec, sc.slots, pr.appended_total - pr.delivered_total,
                 t->read_ms, RMQ_MAX(0, rmq_now_ms() - t->read_ms), pr.enq_offset);
    return RMQ_OK;
}

rmq_err_t rmq_broker_timer_open(const rmq_broker_env_t *env, const bool *stopping,
                                rmq_broker_timer_t **out) {
    *out = NULL;
    const rmq_broker_cfg_t *cfg = env->cfg;
    if (!cfg->timer_wheel_enable || cfg->broker_role == RMQ_ROLE_SLAVE) return RMQ_OK;
    rmq_broker_timer_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR__NOMEM;
    t->env = env;
    t->stopping = stopping;
    t->p = cfg->timer_precision_ms;
    t->max_ms = (int64_t)cfg->timer_max_delay_sec * 1000;
    uv_timer_init(env->loop, &t->enq_timer);
    uv_timer_init(env->loop, &t->deq_timer);
    uv_timer_init(env->loop, &t->flush_timer);
    t->enq_timer.data = t->deq_timer.data = t->flush_timer.data = t;
    t->open_handles = 3;
    /* The files (a wheel of tens of MB, reserved) are made with the first timer message; a
     * broker that has them, or parked messages, opens them now so a mismatch stops the start. */
    char ck[700];
    snprintf(ck, sizeof ck, "%s/config/timercheck", cfg->store.store_path_root_dir);
    rmq_err_t e = RMQ_OK;
    if (access(ck, F_OK) == 0 || rmq_store_max_offset(env->store, RMQ_TOPIC_TIMER, 0) > 0)
        e = files_open(t);
    if (e != RMQ_OK) {
        rmq_broker_timer_close(t); /* freed by the handles' close callbacks */
        return e;
    }
    *out = t;
    uv_timer_start(&t->enq_timer, on_enq_timer, 0, ENQ_POLL_MS);
    return RMQ_OK;
}

void rmq_broker_timer_close(rmq_broker_timer_t *t) {
    if (!t) return;
    t->closing = true;
    if (t->st) rmq_store_timer_flush(t->st);
    uv_close((uv_handle_t *)&t->enq_timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->deq_timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->flush_timer, on_handle_closed);
}

void rmq_broker_timer_stats(rmq_broker_timer_t *t, rmq_broker_timer_stats_t *st) {
    memset(st, 0, sizeof *st);
    if (!t) return;
    if (!t->st) {
        st->offset_behind = rmq_store_max_offset(t->env->store, RMQ_TOPIC_TIMER, 0);
        return;
    }
    rmq_store_timer_progress_t pr;
    rmq_store_timer_progress(t->st, &pr);
    st->backlog = RMQ_MAX(0, pr.appended_total - pr.delivered_total);
    st->read_behind_s = RMQ_MAX(0, rmq_now_ms() - t->read_ms) / 1000;
    st->enq_offset = pr.enq_offset;
    st->offset_behind =
        RMQ_MAX(0, rmq_store_max_offset(t->env->store, RMQ_TOPIC_TIMER, 0) - pr.enq_offset);
    st->enqueued = t->enqueued;
    st->delivered = t->delivered;
}
