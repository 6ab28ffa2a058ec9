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
 * Held pulls are kept per queue: a map from "topic\001qid" to the list of its pulls, so a notify
 * looks at one queue only. The parked-pull counter the reput thread reads lives with the broker
 * (it outlives this service); pull.c re-runs a pull through the rerun callback given at open.
 * Loop thread only, except rmq_broker_hold_any (atomic). */
#include "broker/hold.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

typedef struct held_s {
    struct held_s *next;
    rmq_rem_conn_t *conn; /* referenced */
    rmq_rem_cmd_t *req;   /* referenced */
    int32_t qid;
    int64_t offset;
    int64_t seen_max;  /* max offset already announced by notifies that did not match */
    uint64_t deadline; /* monotonic ms */
    int64_t *codes;    /* owned; NULL = all */
    size_t ncodes;
    char topic[];
} held_t;

struct rmq_broker_hold_s {
    uv_timer_t timer;            /* first: the close callback frees the struct through it */
    const rmq_broker_env_t *env; /* borrowed */
    _Atomic int *count;          /* borrowed: pulls parked */
    rmq_broker_hold_rerun_fn rerun;
    void *rerun_arg;
    rmq_map_t queues; /* "topic\001qid" -> held_t list (empty lists stay) */
    uint64_t last_scan;
    bool closed;
};

/* The map key of a queue; returns its length. */
static size_t queue_key(char *out, size_t n, const char *topic, int32_t qid) {
    int len = snprintf(out, n, "%s\001%" PRId32, topic, qid);
    return len < 0 ? 0 : RMQ_MIN((size_t)len, n - 1);
}

static void held_free(held_t *x) {
    rmq_rem_conn_unref(x->conn);
    rmq_rem_cmd_destroy(x->req);
    free(x->codes);
    free(x);
}

/* Re-run the pull without suspension and answer it. */
static void answer(rmq_broker_hold_t *hs, held_t *x) {
    if (!rmq_rem_conn_is_closed(x->conn)) {
        rmq_rem_cmd_t *resp = hs->rerun(hs->rerun_arg, x->conn, x->req);
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

/* Detach and answer every pull of the queue's list for which pred holds. */
typedef bool (*pred_fn)(rmq_broker_hold_t *hs, held_t *x, void *arg);

static void sweep_queue(rmq_broker_hold_t *hs, rmq_map_ent_t *q, pred_fn pred, void *arg) {
    held_t *ready = NULL, **tail = &ready;
    held_t *head = q->v.ptr, **pp = &head;
    while (*pp) {
        held_t *x = *pp;
        if (pred(hs, x, arg)) {
            *pp = x->next;
            x->next = NULL;
            *tail = x;
            tail = &x->next;
            atomic_fetch_sub(hs->count, 1);
        } else {
            pp = &x->next;
        }
    }
    q->v.ptr = head;
    /* Answer after unlinking: a re-run pull never parks again, but keep the list consistent. */
    while (ready) {
        held_t *n = ready->next;
        answer(hs, ready);
        ready = n;
    }
}

typedef struct {
    int64_t max_offset, tags_code;
    bool have_code;
} notify_t;

static bool pred_notify(rmq_broker_hold_t *hs, held_t *x, void *arg) {
    notify_t *n = arg;
    if (rmq_rem_conn_is_closed(x->conn)) return true;
    int64_t max = n->max_offset;
    if (max <= x->offset) max = rmq_store_max_offset(hs->env->store, x->topic, x->qid);
    if (max > x->offset && matches(x, n->tags_code, n->have_code)) return true;
    if (max > x->seen_max) x->seen_max = max; /* filtered out: not news for the 5 s scan */
    return rmq_mono_ms() >= x->deadline;
}

void rmq_broker_hold_notify(rmq_broker_hold_t *hs, const char *topic, int qid, int64_t max_offset,
                            int64_t tags_code) {
    if (!hs || atomic_load(hs->count) == 0) return;
    char key[300];
    rmq_map_ent_t *q = rmq_map_find(&hs->queues, key, queue_key(key, sizeof key, topic, qid));
    if (!q || !q->v.ptr) return;
    notify_t n = {max_offset, tags_code, true};
    sweep_queue(hs, q, pred_notify, &n);
}

typedef struct {
    uint64_t now;
    bool check_offsets;
} tick_t;

static bool pred_tick(rmq_broker_hold_t *hs, held_t *x, void *arg) {
    tick_t *t = arg;
    if (rmq_rem_conn_is_closed(x->conn) || t->now >= x->deadline) return true;
    /* The safety net only for messages no notify has told this pull about (a missed wake-up);
     * a message its filter already rejected does not wake it again. */
    return t->check_offsets && rmq_store_max_offset(hs->env->store, x->topic, x->qid) > x->seen_max;
}

/* Sweep every queue's list (a re-run pull never parks again, so the map does not change). */
static void sweep_all(rmq_broker_hold_t *hs, pred_fn pred, void *arg) {
    size_t bi;
    for (rmq_map_ent_t *q = rmq_map_first(&hs->queues, &bi); q && atomic_load(hs->count) > 0;
         q = rmq_map_next(&hs->queues, &bi, q))
        if (q->v.ptr) sweep_queue(hs, q, pred, arg);
}

static void on_tick(uv_timer_t *timer) {
    rmq_broker_hold_t *hs = timer->data;
    if (atomic_load(hs->count) == 0) return;
    tick_t t = {rmq_mono_ms(), false};
    const rmq_broker_cfg_t *cfg = hs->env->cfg;
    uint64_t every = cfg->long_polling_enable ? 5000 : (uint64_t)cfg->short_polling_time_mills;
    if (t.now - hs->last_scan >= every) {
        t.check_offsets = true;
        hs->last_scan = t.now;
    }
    sweep_all(hs, pred_tick, &t);
}

void rmq_broker_hold_park(rmq_broker_hold_t *hs, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                          const char *topic, int32_t qid, int64_t offset, int64_t hold_ms,
                          const int64_t *codes, size_t ncodes) {
    size_t tl = strlen(topic);
    char key[300];
    rmq_map_ent_t *q = NULL;
    held_t *x = NULL;
    if (hs && !hs->closed) {
        q = rmq_map_upsert(&hs->queues, key, queue_key(key, sizeof key, topic, qid), NULL);
        x = q ? calloc(1, sizeof *x + tl + 1) : NULL;
    }
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
    if (!x) {
        /* Cannot park: answer now (PULL_NOT_FOUND), which the client simply repeats. */
        rmq_rem_cmd_t *resp = hs ? hs->rerun(hs->rerun_arg, c, req) : NULL;
        if (resp) rmq_rem_conn_send(c, resp);
        return;
    }
    rmq_rem_conn_ref(c);
    x->conn = c;
    x->req = rmq_rem_cmd_ref(req);
    x->qid = qid;
    x->offset = offset;
    x->seen_max = offset;
    if (hold_ms < 0) hold_ms = 0;
    x->deadline = rmq_mono_ms() + (uint64_t)hold_ms;
    memcpy(x->topic, topic, tl + 1);
    x->next = q->v.ptr;
    q->v.ptr = x;
    atomic_fetch_add(hs->count, 1);
    /* Pairs with the fence in the arrive callback: either the reput thread sees count > 0 and
     * posts a wake-up, or we see its ConsumeQueue entry here. */
    atomic_thread_fence(memory_order_seq_cst);
    if (rmq_store_max_offset(hs->env->store, topic, qid) > offset) {
        notify_t n = {0, 0, false};
        sweep_queue(hs, q, pred_notify, &n);
    }
}

rmq_err_t rmq_broker_hold_open(const rmq_broker_env_t *env, _Atomic int *count,
                               rmq_broker_hold_rerun_fn rerun, void *arg, rmq_broker_hold_t **out) {
    rmq_broker_hold_t *hs = calloc(1, sizeof *hs);
    if (!hs) return RMQ_ERR__NOMEM;
    if (uv_timer_init(env->loop, &hs->timer) != 0) {
        free(hs);
        return RMQ_ERR__FAIL;
    }
    hs->env = env;
    hs->count = count;
    hs->rerun = rerun;
    hs->rerun_arg = arg;
    rmq_map_init(&hs->queues);
    hs->timer.data = hs;
    hs->last_scan = rmq_mono_ms();
    uv_timer_start(&hs->timer, on_tick, 100, 100);
    *out = hs;
    return RMQ_OK;
}

static void on_timer_closed(uv_handle_t *h) {
    free(h); /* the timer is the first member */
}

static bool pred_all(rmq_broker_hold_t *hs, held_t *x, void *arg) {
    return true;
}

void rmq_broker_hold_close(rmq_broker_hold_t *hs) {
    if (!hs || hs->closed) return;
    hs->closed = true;
    sweep_all(hs, pred_all, NULL);
    rmq_map_fini(&hs->queues, NULL); /* every list is empty now */
    uv_timer_stop(&hs->timer);
    uv_close((uv_handle_t *)&hs->timer, on_timer_closed);
}
