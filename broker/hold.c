/* Held pulls for long polling (broker.md 2.5, RocketMQ's PullRequestHoldService).
 *
 * A pull that finds nothing new and may suspend is parked here with its connection referenced.
 * It is re-run without suspension (so it answers at once) when:
 *   - a message for its queue is dispatched and matches its tag codes (notify, from the reput
 *     thread's arrive callback via the mailbox), or
 *   - its hold time has passed (a 100 ms tick), or
 *   - the queue's max offset has moved past what notifies told it (checked every 5 s, or every
 *     shortPollingTimeMills when long polling is off: a safety net like RocketMQ's hold service,
 *     but a message the pull's filter already rejected does not wake it again), or
 *   - the broker shuts down (hold_close).
 * Parking never blocks the connection: the remoting layer goes on with its next request.
 * Loop thread only, except rmq_broker_hold_any (atomic). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"
#include "common/log.h"
#include "common/util.h"

#define NBUCKETS 1024

/* Parked pulls, read by the reput thread (rmq_broker_hold_any) without touching the hold struct,
 * which the loop frees at shutdown. One broker per process. */
static _Atomic int held_count;

typedef struct held_s {
    struct held_s *next;
    rmq_rem_conn_t *conn; /* referenced */
    rmq_rem_cmd_t *req;   /* owned */
    int32_t qid;
    int64_t offset;
    int64_t seen_max;     /* max offset already announced by notifies that did not match */
    uint64_t deadline;    /* monotonic ms */
    int64_t *codes;       /* owned; NULL = all */
    size_t ncodes;
    char topic[];
} held_t;

struct rmq_broker_hold_s {
    held_t *buckets[NBUCKETS];
    uv_timer_t timer;
    uint64_t last_scan;
    bool closed;
};

static uint32_t key_hash(const char *topic, int32_t qid) {
    uint32_t h = 2166136261u;
    for (const char *p = topic; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return (h ^ (uint32_t)qid) * 16777619u;
}

bool rmq_broker_hold_any(rmq_broker_t *b) {
    return atomic_load(&held_count) > 0;
}

static void held_free(held_t *x) {
    rmq_rem_conn_unref(x->conn);
    rmq_rem_cmd_destroy(x->req);
    free(x->codes);
    free(x);
}

/* Re-run the pull without suspension and answer it. */
static void answer(rmq_broker_t *b, held_t *x) {
    if (!rmq_rem_conn_is_closed(x->conn)) {
        rmq_rem_cmd_t *resp = rmq_broker_pull_process(b, x->conn, x->req, false);
        if (resp) rmq_rem_conn_send(x->conn, resp);
    }
    held_free(x);
}

static bool matches(const held_t *x, int64_t tags_code, bool have_code) {
    if (!have_code || !x->codes || x->ncodes == 0) return true;
    int32_t code = (int32_t)tags_code;
    for (size_t i = 0; i < x->ncodes; i++)
        if ((int32_t)x->codes[i] == code) return true;
    return false;
}

/* Detach and answer every entry of bucket i for which pred holds. */
typedef bool (*pred_fn)(rmq_broker_t *b, held_t *x, void *arg);

static void sweep_bucket(rmq_broker_t *b, size_t i, pred_fn pred, void *arg) {
    rmq_broker_hold_t *hs = b->hold;
    held_t *ready = NULL, **tail = &ready;
    held_t **pp = &hs->buckets[i];
    while (*pp) {
        held_t *x = *pp;
        if (pred(b, x, arg)) {
            *pp = x->next;
            x->next = NULL;
            *tail = x;
            tail = &x->next;
            atomic_fetch_sub(&held_count, 1);
        } else {
            pp = &x->next;
        }
    }
    /* Answer after unlinking: a re-run pull never parks again, but keep the list consistent. */
    while (ready) {
        held_t *n = ready->next;
        answer(b, ready);
        ready = n;
    }
}

typedef struct {
    const char *topic;
    int32_t qid;
    int64_t max_offset, tags_code;
    bool have_code;
} notify_t;

static bool pred_notify(rmq_broker_t *b, held_t *x, void *arg) {
    notify_t *n = arg;
    if (x->qid != n->qid || strcmp(x->topic, n->topic)) return false;
    if (rmq_rem_conn_is_closed(x->conn)) return true;
    int64_t max = n->max_offset;
    if (max <= x->offset) max = rmq_store_max_offset(b->store, x->topic, x->qid);
    if (max > x->offset && matches(x, n->tags_code, n->have_code)) return true;
    if (max > x->seen_max) x->seen_max = max; /* filtered out: not news for the 5 s scan */
    return rmq_mono_ms() >= x->deadline;
}

void rmq_broker_hold_notify(rmq_broker_t *b, const char *topic, int qid, int64_t max_offset,
                            int64_t tags_code) {
    rmq_broker_hold_t *hs = b->hold;
    if (!hs || atomic_load(&held_count) == 0) return;
    notify_t n = {topic, qid, max_offset, tags_code, true};
    sweep_bucket(b, key_hash(topic, qid) & (NBUCKETS - 1), pred_notify, &n);
}

typedef struct {
    uint64_t now;
    bool check_offsets;
} tick_t;

static bool pred_tick(rmq_broker_t *b, held_t *x, void *arg) {
    tick_t *t = arg;
    if (rmq_rem_conn_is_closed(x->conn) || t->now >= x->deadline) return true;
    /* The safety net only for messages no notify has told this pull about (a missed wake-up);
     * a message its filter already rejected does not wake it again. */
    return t->check_offsets && rmq_store_max_offset(b->store, x->topic, x->qid) > x->seen_max;
}

static void on_tick(uv_timer_t *timer) {
    rmq_broker_t *b = timer->data;
    rmq_broker_hold_t *hs = b->hold;
    if (atomic_load(&held_count) == 0) return;
    tick_t t = {rmq_mono_ms(), false};
    uint64_t every = b->cfg.long_polling_enable ? 5000 : (uint64_t)b->cfg.short_polling_time_mills;
    if (t.now - hs->last_scan >= every) {
        t.check_offsets = true;
        hs->last_scan = t.now;
    }
    for (size_t i = 0; i < NBUCKETS && atomic_load(&held_count) > 0; i++)
        if (hs->buckets[i]) sweep_bucket(b, i, pred_tick, &t);
}

void rmq_broker_hold_park(rmq_broker_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                          const char *topic, int32_t qid, int64_t offset, int64_t hold_ms,
                          const int64_t *codes, size_t ncodes) {
    rmq_broker_hold_t *hs = b->hold;
    size_t tl = strlen(topic);
    held_t *x = calloc(1, sizeof *x + tl + 1);
    if (x && ncodes) {
        x->codes = malloc(ncodes * sizeof *codes);
        if (!x->codes) {
            free(x);
            x = NULL;
        } else {
            memcpy(x->codes, codes, ncodes * sizeof *codes);
            x->ncodes = ncodes;
        }
    }
    if (!x || !hs || hs->closed) {
        /* Cannot park: answer now (PULL_NOT_FOUND), which the client simply repeats. */
        rmq_rem_cmd_t *resp = rmq_broker_pull_process(b, c, req, false);
        if (resp) rmq_rem_conn_send(c, resp);
        rmq_rem_cmd_destroy(req);
        if (x) {
            free(x->codes);
            free(x);
        }
        return;
    }
    rmq_rem_conn_ref(c);
    x->conn = c;
    x->req = req;
    x->qid = qid;
    x->offset = offset;
    x->seen_max = offset;
    if (hold_ms < 0) hold_ms = 0;
    x->deadline = rmq_mono_ms() + (uint64_t)hold_ms;
    memcpy(x->topic, topic, tl + 1);
    size_t i = key_hash(topic, qid) & (NBUCKETS - 1);
    x->next = hs->buckets[i];
    hs->buckets[i] = x;
    atomic_fetch_add(&held_count, 1);
    /* Pairs with the fence in the arrive callback: either the reput thread sees count > 0 and
     * posts a wake-up, or we see its ConsumeQueue entry here. */
    atomic_thread_fence(memory_order_seq_cst);
    if (rmq_store_max_offset(b->store, topic, qid) > offset) {
        notify_t n = {x->topic, qid, 0, 0, false};
        sweep_bucket(b, i, pred_notify, &n);
    }
}

rmq_err_t rmq_broker_hold_open(rmq_broker_t *b) {
    rmq_broker_hold_t *hs = calloc(1, sizeof *hs);
    if (!hs) return RMQ_ERR__NOMEM;
    if (uv_timer_init(b->loop, &hs->timer) != 0) {
        free(hs);
        return RMQ_ERR__FAIL;
    }
    hs->timer.data = b;
    hs->last_scan = rmq_mono_ms();
    uv_timer_start(&hs->timer, on_tick, 100, 100);
    b->hold = hs;
    return RMQ_OK;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static bool pred_all(rmq_broker_t *b, held_t *x, void *arg) { return true; }

void rmq_broker_hold_close(rmq_broker_t *b) {
    rmq_broker_hold_t *hs = b->hold;
    if (!hs || hs->closed) return;
    hs->closed = true;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (hs->buckets[i]) sweep_bucket(b, i, pred_all, NULL);
    uv_timer_stop(&hs->timer);
    hs->timer.data = hs;
    uv_close((uv_handle_t *)&hs->timer, on_timer_closed);
    b->hold = NULL;
}
