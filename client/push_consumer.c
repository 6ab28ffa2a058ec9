/* Push consumer: rebalance (AllocateMessageQueueAveragely), long-polling pulls per assigned
 * queue, a consume pool for concurrent listeners, per-queue serial consumption with broker
 * locks for orderly listeners, send-back on RECONSUME_LATER, offset commits.
 *
 * Threads: pulls are issued from service threads or straight from the loop thread's pull
 * callback (which only decodes and queues); listeners run on the consumer's own pool; rebalance,
 * offset persistence, lock renewal and delayed pulls run on the instance's service threads.
 *
 * Lifetime: a process queue (pq) lives until the consumer is freed (dropped ones wait in the
 * graveyard list, their messages freed once no consume task uses them). The consumer is
 * reference-counted: one reference for the owner and one per pull in flight, so a long poll
 * that returns after destroy finds valid memory, sees `stopping` and lets go. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/consumer.h"
#include "common/msg.h"
#include "common/log.h"
#include "common/util.h"

#define MOD "consumer"
#define PULL_SUSPEND_MS 15000
#define PULL_TIMEOUT_MS 30000
#define FLOW_DELAY_MS 50
#define LOCK_LIFE_MS 30000

typedef struct {
    int64_t off;
    rmq_msg_t *m;
    bool done;
    bool handed; /* orderly: given to the listener at least once and not yet done */
} entry_t;

typedef struct pq_s {
    rmq_mq_t mq;
    struct rmq_push_consumer_s *c;
    pthread_mutex_t mu;
    entry_t *ring; /* in-flight messages in offset order (a deque) */
    size_t head, count, cap;
    size_t bytes;
    int64_t next_pull;  /* offset of the next pull */
    int64_t commit;     /* smallest unconsumed offset (what we commit); -1 unknown */
    int64_t committed;  /* last value sent */
    bool dropped;
    bool flow_wait;     /* pulling paused by flow control; whoever clears it pulls next */
    int tasks;          /* consume tasks referencing this pq */
    /* orderly */
    bool locked;
    uint64_t lock_ts;
    bool consuming;
    int later_rounds;
    struct pq_s *next;
} pq_t;

typedef struct task_s {
    struct task_s *next;
    pq_t *pq;
    rmq_msg_t **msgs; /* concurrent: the batch; orderly: NULL */
    size_t n;
} task_t;

typedef struct {
    rmq_sub_t sub;
    bool retry; /* the automatic %RETRY%group subscription */
} csub_t;

struct rmq_push_consumer_s {
    rmq_conf_t *conf;
    rmq_instance_t *in;
    const rmq_logger_t *log; /* the instance's: this object's lines go to its conf's sink */
    rmq_member_t member;
    char group[256];
    char retry_topic[300];
    bool broadcast, binary;
    const char *from_where;
    int64_t from_ts;
    int batch_max, pull_batch, max_reconsume, suspend_ms, pull_delay_exc;
    int64_t thr_count, thr_bytes;
    rmq_listen_mode_t mode;
    rmq_listener_cb cb;
    void *cb_op;
    csub_t *subs;
    int nsubs;
    bool started;
    _Atomic bool stopping;
    _Atomic int refs;

    pthread_mutex_t mu;   /* pqs, graveyard */
    pq_t *pqs, *grave;
    pthread_mutex_t rb_mu; /* one rebalance at a time */

    /* consume pool */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    task_t *q_head, *q_tail;
    bool pool_stop;
    pthread_t *threads;
    int nthreads;

    char offset_file[1024];
};

static void consumer_unref(rmq_push_consumer_t *c);
static void issue_pull(pq_t *pq);

/* ---- process queue ----------------------------------------------------------------- */

static pq_t *pq_new(rmq_push_consumer_t *c, const rmq_mq_t *mq, int64_t off) {
    pq_t *pq = calloc(1, sizeof(*pq));
    if (!pq) return NULL;
    pq->mq = *mq;
    pq->c = c;
    pthread_mutex_init(&pq->mu, NULL);
    pq->next_pull = off;
    pq->commit = off;
    pq->committed = -1;
    return pq;
}

static void pq_free_msgs(pq_t *pq) { /* pq->mu held or pq private */
    for (size_t i = 0; i < pq->count; i++) rmq_msg_destroy(pq->ring[(pq->head + i) % pq->cap].m);
    pq->count = 0;
    pq->head = 0;
    pq->bytes = 0;
}

static void pq_free(pq_t *pq) {
    pq_free_msgs(pq);
    free(pq->ring);
    pthread_mutex_destroy(&pq->mu);
    free(pq);
}

static entry_t *pq_at(pq_t *pq, size_t i) { return &pq->ring[(pq->head + i) % pq->cap]; }

static bool pq_push(pq_t *pq, rmq_msg_t *m) { /* mu held */
    if (pq->count == pq->cap) {
        size_t nc = pq->cap ? pq->cap * 2 : 64;
        entry_t *nr = malloc(nc * sizeof(*nr));
        if (!nr) return false;
        for (size_t i = 0; i < pq->count; i++) nr[i] = *pq_at(pq, i);
        free(pq->ring);
        pq->ring = nr;
        pq->cap = nc;
        pq->head = 0;
    }
    entry_t *e = pq_at(pq, pq->count++);
    e->off = m->queue_offset;
    e->m = m;
    e->done = false;
    e->handed = false;
    pq->bytes += m->body_len;
    return true;
}

/* Pop finished entries from the front and recompute the commit offset. mu held. */
static void pq_advance(pq_t *pq) {
    while (pq->count > 0 && pq_at(pq, 0)->done) {
        entry_t *e = pq_at(pq, 0);
        pq->bytes -= e->m->body_len;
        rmq_msg_destroy(e->m);
        pq->head = (pq->head + 1) % pq->cap;
        pq->count--;
    }
    pq->commit = pq->count > 0 ? pq_at(pq, 0)->off : pq->next_pull;
}

static void pq_mark_done(pq_t *pq, rmq_msg_t *const *msgs, size_t n) { /* mu held */
    for (size_t k = 0; k < n; k++) {
        /* binary search by offset: entries are in increasing offset order */
        size_t lo = 0, hi = pq->count;
        int64_t off = msgs[k]->queue_offset;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pq_at(pq, mid)->off < off) lo = mid + 1;
            else hi = mid;
        }
        if (lo < pq->count && pq_at(pq, lo)->m == msgs[k]) pq_at(pq, lo)->done = true;
    }
    pq_advance(pq);
}

/* After consumption (mu held): true when pulling was paused by flow control and the queue has
 * drained to half its thresholds, so the caller issues the pull now instead of letting it wait
 * out the rest of FLOW_DELAY_MS (a fast listener would otherwise idle on the timer). Clearing
 * flow_wait makes the caller the one that pulls; the pending timer then does nothing. */
static bool pq_flow_resume(pq_t *pq) {
    rmq_push_consumer_t *c = pq->c;
    if (!pq->flow_wait || pq->dropped) return false;
    if ((int64_t)pq->count > c->thr_count / 2 || (int64_t)pq->bytes > c->thr_bytes / 2)
        return false;
    pq->flow_wait = false;
    return true;
}

/* ---- pool -------------------------------------------------------------------------- */

static void pool_submit(rmq_push_consumer_t *c, task_t *t) {
    pthread_mutex_lock(&t->pq->mu);
    t->pq->tasks++;
    pthread_mutex_unlock(&t->pq->mu);
    pthread_mutex_lock(&c->pool_mu);
    t->next = NULL;
    if (c->q_tail) c->q_tail->next = t;
    else c->q_head = t;
    c->q_tail = t;
    pthread_cond_signal(&c->pool_cv);
    pthread_mutex_unlock(&c->pool_mu);
}

static void task_release(task_t *t) {
    pq_t *pq = t->pq;
    pthread_mutex_lock(&pq->mu);
    if (--pq->tasks == 0 && pq->dropped) pq_free_msgs(pq);
    pthread_mutex_unlock(&pq->mu);
    free(t->msgs);
    free(t);
}

/* ---- send back (RECONSUME_LATER) ---------------------------------------------------- */

/* Re-send m to %RETRY%group ourselves (the fallback when CONSUMER_SEND_MSG_BACK fails, and
 * the orderly path once maxReconsumeTimes is reached). */
static rmq_err_t resend_to_retry(rmq_push_consumer_t *c, const rmq_msg_t *m, int delay) {
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(c->in, c->retry_topic, false, true, &ti);
    if (e) return e;
    if (ti->npub == 0) {
        rmq_topic_info_release(ti);
        return RMQ_ERR__NO_ROUTE;
    }
    rmq_mq_t mq = ti->pub[(size_t)rmq_mono_us() % (size_t)ti->npub];
    const char *a = rmq_route_master(ti->route, mq.broker);
    char addr[64];
    rmq_strlcpy(addr, a ? a : "", sizeof addr);
    rmq_topic_info_release(ti);
    if (!addr[0]) return RMQ_ERR__NO_ROUTE;
    rmq_buf_t b;
    rmq_buf_init(&b);
    const char *orig = rmq_msg_property(m, RMQ_PROP_RETRY_TOPIC);
    const char *origin_id = rmq_msg_property(m, RMQ_PROP_ORIGIN_MESSAGE_ID);
    char uniq[33], dl[16];
    rmq_uniq_next(rmq_instance_uniq(c->in), uniq);
    snprintf(dl, sizeof dl, "%d", delay);
    for (size_t i = 0; i < m->nprops; i++) {
        const char *k = m->props[i].key;
        if (!strcmp(k, RMQ_PROP_RETRY_TOPIC) || !strcmp(k, RMQ_PROP_ORIGIN_MESSAGE_ID) ||
            !strcmp(k, RMQ_PROP_DELAY) || !strcmp(k, RMQ_PROP_RECONSUME_TIME) ||
            !strcmp(k, RMQ_PROP_MAX_RECONSUME_TIMES) || !strcmp(k, RMQ_PROP_TRAN_MSG) ||
            !strcmp(k, RMQ_PROP_MIN_OFFSET) || !strcmp(k, RMQ_PROP_MAX_OFFSET) ||
            !strcmp(k, RMQ_PROP_UNIQ_KEY))
            continue;
        rmq_msg_prop_append(&b, k, m->props[i].val);
    }
    rmq_msg_prop_append(&b, RMQ_PROP_RETRY_TOPIC, orig ? orig : m->topic);
    rmq_msg_prop_append(&b, RMQ_PROP_ORIGIN_MESSAGE_ID,
                        origin_id ? origin_id : rmq_msg_id(m) ? rmq_msg_id(m) : uniq);
    rmq_msg_prop_append(&b, RMQ_PROP_UNIQ_KEY, uniq);
    if (delay > 0) rmq_msg_prop_append(&b, RMQ_PROP_DELAY, dl);
    if (b.len && b.data[b.len - 1] == RMQ_PROP_SEP) b.len--;
    rmq_buf_append_u8(&b, 0);
    rmq_send_hdr_t h = {
        .group = c->group, .topic = c->retry_topic, .default_topic = RMQ_DEFAULT_TOPIC,
        .props = (const char *)b.data, .broker = mq.broker, .default_queues = 4,
        .queue_id = mq.queue_id, .sysflag = 0, .flag = m->flag,
        .reconsume_times = m->reconsume_times + 1,
        .max_reconsume_times = c->max_reconsume < 0 ? 16 : c->max_reconsume,
        .born_ts = rmq_now_ms(), .has_reconsume = true,
    };
    rmq_rem_cmd_t *req = rmq_send_request(&h);
    rmq_buf_fini(&b);
    if (!req) return RMQ_ERR__NOMEM;
    if (rmq_rem_cmd_set_body_copy(req, m->body, m->body_len)) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    rmq_rem_cmd_t *resp = NULL;
    e = rmq_instance_invoke_sync(c->in, addr, req, 3000, &resp);
    if (!e) {
        e = rmq_send_response(resp, &mq, NULL);
        rmq_rem_cmd_destroy(resp);
    }
    return e;
}

static rmq_err_t send_back(rmq_push_consumer_t *c, const rmq_mq_t *mq, const rmq_msg_t *m) {
    char addr[64];
    rmq_err_t e = rmq_consumer_broker_addr(c->in, mq, addr, sizeof addr);
    if (!e) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CONSUMER_SEND_MSG_BACK);
        if (!req) return RMQ_ERR__NOMEM;
        req->language = RMQ_LANG_CPP;
        const char *orig = rmq_msg_property(m, RMQ_PROP_RETRY_TOPIC);
        e = rmq_rem_cmd_set_i64(req, "offset", m->commitlog_offset);
        if (!e) e = rmq_rem_cmd_set(req, "group", c->group);
        if (!e) e = rmq_rem_cmd_set_i64(req, "delayLevel", 0);
        if (!e && rmq_msg_id(m)) e = rmq_rem_cmd_set(req, "originMsgId", rmq_msg_id(m));
        if (!e) e = rmq_rem_cmd_set(req, "originTopic", orig ? orig : m->topic);
        if (!e) e = rmq_rem_cmd_set_bool(req, "unitMode", false);
        if (!e)
            e = rmq_rem_cmd_set_i64(req, "maxReconsumeTimes",
                                    c->max_reconsume < 0 ? 16 : c->max_reconsume);
        if (!e) e = rmq_rem_cmd_set(req, "bname", mq->broker);
        if (e) {
            rmq_rem_cmd_destroy(req);
            return e;
        }
        rmq_rem_cmd_t *resp = NULL;
        e = rmq_instance_invoke_sync(c->in, addr, req, 3000, &resp);
        if (!e) {
            e = (rmq_err_t)resp->code;
            rmq_rem_cmd_destroy(resp);
        }
    }
    if (e == RMQ_OK) return RMQ_OK;
    RMQ_ILOG_WARN(c->log, MOD, "send-back of %s failed (%s): re-sending to %s", rmq_msg_id(m),
                  rmq_strerror(e), c->retry_topic);
    return resend_to_retry(c, m, 3 + m->reconsume_times);
}

/* ---- listeners --------------------------------------------------------------------- */

static void run_concurrent(rmq_push_consumer_t *c, task_t *t) {
    pq_t *pq = t->pq;
    bool dropped;
    pthread_mutex_lock(&pq->mu);
    dropped = pq->dropped;
    pthread_mutex_unlock(&pq->mu);
    if (dropped || atomic_load(&c->stopping)) return;
    rmq_mq_t mq = pq->mq;
    rmq_consume_status_t st = c->cb(c, &mq, t->msgs, t->n, c->cb_op);
    if (st != RMQ_CONSUME_SUCCESS && !c->broadcast) {
        for (size_t i = 0; i < t->n; i++) {
            if (send_back(c, &pq->mq, t->msgs[i]) != RMQ_OK) {
                /* keep it in flight and consume it again here later (Java: 5 s) */
                RMQ_ILOG_WARN(c->log, MOD, "message %s kept for a local retry",
                              rmq_msg_id(t->msgs[i]));
                task_t *again = calloc(1, sizeof(*again));
                rmq_msg_t **one = malloc(sizeof(*one));
                if (again && one) {
                    one[0] = t->msgs[i];
                    again->pq = pq;
                    again->msgs = one;
                    again->n = 1;
                    pthread_mutex_lock(&pq->mu);
                    pq->tasks++;
                    pthread_mutex_unlock(&pq->mu);
                    /* crude delay: the pool is the only place tasks run */
                    usleep(100000);
                    pthread_mutex_lock(&c->pool_mu);
                    again->next = NULL;
                    if (c->q_tail) c->q_tail->next = again;
                    else c->q_head = again;
                    c->q_tail = again;
                    pthread_cond_signal(&c->pool_cv);
                    pthread_mutex_unlock(&c->pool_mu);
                    t->msgs[i] = NULL;
                    continue;
                }
                free(again);
                free(one);
            }
        }
    }
    /* compact out messages kept for retry */
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->msgs[i]) t->msgs[k++] = t->msgs[i];
    pthread_mutex_lock(&pq->mu);
    if (!pq->dropped) pq_mark_done(pq, t->msgs, k);
    bool resume = pq_flow_resume(pq);
    pthread_mutex_unlock(&pq->mu);
    if (resume) issue_pull(pq); /* pq lives: this task still counts in pq->tasks */
}

static void resubmit_orderly(void *arg);

/* One orderly round for pq: consume in offset order until empty or LATER. */
static void run_orderly(rmq_push_consumer_t *c, pq_t *pq) {
    for (;;) {
        if (atomic_load(&c->stopping)) break;
        pthread_mutex_lock(&pq->mu);
        if (pq->dropped) {
            pq->consuming = false;
            pthread_mutex_unlock(&pq->mu);
            return;
        }
        bool lock_ok = c->broadcast || (pq->locked && rmq_mono_ms() - pq->lock_ts < LOCK_LIFE_MS);
        if (!lock_ok) {
            pthread_mutex_unlock(&pq->mu);
            /* wait for the lock renewal (rebalance) and try again */
            if (rmq_instance_schedule(c->in, 1000, resubmit_orderly, pq, c) != RMQ_OK) break;
            return;
        }
        size_t n = 0;
        rmq_msg_t *batch[1024];
        for (size_t i = 0; i < pq->count && n < (size_t)c->batch_max; i++) {
            entry_t *e = pq_at(pq, i);
            if (e->done) continue;
            e->handed = true;
            batch[n++] = e->m;
        }
        if (n == 0) {
            pq->consuming = false;
            pthread_mutex_unlock(&pq->mu);
            return;
        }
        pthread_mutex_unlock(&pq->mu);
        rmq_mq_t mq = pq->mq;
        rmq_consume_status_t st = c->cb(c, &mq, batch, n, c->cb_op);
        if (st == RMQ_CONSUME_SUCCESS) {
            pthread_mutex_lock(&pq->mu);
            pq->later_rounds = 0;
            pq_mark_done(pq, batch, n);
            bool resume = pq_flow_resume(pq);
            pthread_mutex_unlock(&pq->mu);
            if (resume) issue_pull(pq);
            continue;
        }
        /* LATER: retry the same messages after suspendCurrentQueueTimeMillis, unless they hit
         * maxReconsumeTimes: then they go to the retry topic (-> DLQ) and the queue moves on */
        bool give_up = false;
        for (size_t i = 0; i < n; i++) {
            batch[i]->reconsume_times++;
            if (c->max_reconsume >= 0 && batch[i]->reconsume_times >= c->max_reconsume)
                give_up = true;
        }
        if (give_up) {
            bool ok = true;
            for (size_t i = 0; i < n && ok; i++)
                ok = resend_to_retry(c, batch[i], 0) == RMQ_OK;
            if (ok) {
                pthread_mutex_lock(&pq->mu);
                pq_mark_done(pq, batch, n);
                pthread_mutex_unlock(&pq->mu);
                continue;
            }
        }
        if (rmq_instance_schedule(c->in, c->suspend_ms, resubmit_orderly, pq, c) != RMQ_OK) break;
        return;
    }
    pthread_mutex_lock(&pq->mu);
    pq->consuming = false;
    pthread_mutex_unlock(&pq->mu);
}

static void resubmit_orderly(void *arg) { /* service thread */
    pq_t *pq = arg;
    task_t *t = calloc(1, sizeof(*t));
    if (!t) return;
    t->pq = pq;
    pool_submit(pq->c, t);
}

static void *pool_main(void *arg) {
    rmq_push_consumer_t *c = arg;
    pthread_setname_np(pthread_self(), "rmq-consume");
    pthread_mutex_lock(&c->pool_mu);
    for (;;) {
        while (!c->q_head && !c->pool_stop) pthread_cond_wait(&c->pool_cv, &c->pool_mu);
        if (c->pool_stop) break;
        task_t *t = c->q_head;
        c->q_head = t->next;
        if (!c->q_head) c->q_tail = NULL;
        pthread_mutex_unlock(&c->pool_mu);
        if (t->msgs) run_concurrent(c, t);
        else run_orderly(c, t->pq);
        task_release(t);
        pthread_mutex_lock(&c->pool_mu);
    }
    pthread_mutex_unlock(&c->pool_mu);
    return NULL;
}

/* Hand new messages of pq to the pool. */
static void dispatch(rmq_push_consumer_t *c, pq_t *pq, rmq_msg_t **msgs, size_t n) {
    if (c->mode == RMQ_LISTEN_ORDERLY) {
        pthread_mutex_lock(&pq->mu);
        bool start = !pq->consuming;
        pq->consuming = true;
        pthread_mutex_unlock(&pq->mu);
        if (start) {
            task_t *t = calloc(1, sizeof(*t));
            if (t) {
                t->pq = pq;
                pool_submit(c, t);
            } else {
                pthread_mutex_lock(&pq->mu);
                pq->consuming = false;
                pthread_mutex_unlock(&pq->mu);
            }
        }
        return;
    }
    for (size_t i = 0; i < n; i += (size_t)c->batch_max) {
        size_t k = RMQ_MIN((size_t)c->batch_max, n - i);
        task_t *t = calloc(1, sizeof(*t));
        rmq_msg_t **arr = malloc(k * sizeof(*arr));
        if (!t || !arr) {
            free(t);
            free(arr);
            continue; /* stays in flight; the offset will not pass it (redelivered later) */
        }
        memcpy(arr, msgs + i, k * sizeof(*arr));
        t->pq = pq;
        t->msgs = arr;
        t->n = k;
        pool_submit(c, t);
    }
}

/* ---- pulling ------------------------------------------------------------------------ */

static const csub_t *find_sub(rmq_push_consumer_t *c, const char *topic) {
    for (int i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].sub.topic, topic) == 0) return &c->subs[i];
    return NULL;
}

/* A delayed pull holds a consumer reference (it may be queued when destroy runs). */
static void pull_later_task(void *arg) {
    pq_t *pq = arg;
    rmq_push_consumer_t *c = pq->c;
    issue_pull(pq);
    consumer_unref(c);
}

static void pull_later_drop(void *arg) { consumer_unref(((pq_t *)arg)->c); }

/* The flow-control timer: pulls only if consumption has not resumed pulling already. */
static void pull_flow_task(void *arg) {
    pq_t *pq = arg;
    rmq_push_consumer_t *c = pq->c;
    pthread_mutex_lock(&pq->mu);
    bool mine = pq->flow_wait;
    pq->flow_wait = false;
    pthread_mutex_unlock(&pq->mu);
    if (mine) issue_pull(pq);
    consumer_unref(c);
}

static void pull_later(pq_t *pq, int64_t ms) {
    rmq_push_consumer_t *c = pq->c;
    if (atomic_load(&c->stopping)) return;
    atomic_fetch_add(&c->refs, 1);
    if (rmq_instance_schedule_ex(c->in, ms, pull_later_task, pull_later_drop, pq, c) != RMQ_OK)
        atomic_fetch_sub(&c->refs, 1);
}

/* Replace pq by a fresh one at offset (reset / offset moved): drop in-flight messages. */
static void restart_queue(rmq_push_consumer_t *c, pq_t *pq, int64_t off, bool commit_now) {
    pq_t *np = pq_new(c, &pq->mq, off);
    pthread_mutex_lock(&c->mu);
    pthread_mutex_lock(&pq->mu);
    bool was_dropped = pq->dropped;
    pq->dropped = true;
    if (pq->tasks == 0) pq_free_msgs(pq);
    if (np) {
        np->locked = pq->locked;
        np->lock_ts = pq->lock_ts;
    }
    pthread_mutex_unlock(&pq->mu);
    if (!was_dropped) {
        for (pq_t **pp = &c->pqs; *pp; pp = &(*pp)->next) {
            if (*pp == pq) {
                *pp = pq->next;
                break;
            }
        }
        pq->next = c->grave;
        c->grave = pq;
        if (np) {
            np->next = c->pqs;
            c->pqs = np;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (was_dropped || !np) {
        if (np) pq_free(np);
        return;
    }
    if (commit_now && !c->broadcast) {
        rmq_update_offset(c->in, c->group, &np->mq, off, true);
        np->committed = off;
    }
    pull_later(np, 0);
}

typedef struct {
    pq_t *pq;
} pull_ctx_t;

static void on_pull(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) { /* loop thread */
    pq_t *pq = arg;
    rmq_push_consumer_t *c = pq->c;
    if (atomic_load(&c->stopping) || err == RMQ_ERR__CLOSED) {
        rmq_rem_cmd_destroy(resp);
        consumer_unref(c);
        return;
    }
    pthread_mutex_lock(&pq->mu);
    bool dropped = pq->dropped;
    pthread_mutex_unlock(&pq->mu);
    if (dropped) {
        rmq_rem_cmd_destroy(resp);
        consumer_unref(c);
        return;
    }
    rmq_pull_result_t res;
    rmq_err_t e = err;
    if (!e) e = rmq_pull_response(resp, &pq->mq, &res);
    rmq_rem_cmd_destroy(resp);
    if (e) {
        RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d: %s", pq->mq.topic, pq->mq.broker,
                      pq->mq.queue_id, rmq_strerror(e));
        pull_later(pq, e == RMQ_ERR_FLOW_CONTROL ? 20 : c->pull_delay_exc);
        consumer_unref(c);
        return;
    }
    switch (res.status) {
    case RMQ_PULL_FOUND: {
        const csub_t *s = find_sub(c, pq->mq.topic);
        size_t k = 0;
        bool retry_topic = strcmp(pq->mq.topic, c->retry_topic) == 0;
        pthread_mutex_lock(&pq->mu);
        for (size_t i = 0; i < res.n; i++) {
            rmq_msg_t *m = res.msgs[i];
            if (s && !rmq_sub_match(&s->sub, rmq_msg_tags(m))) {
                rmq_msg_destroy(m);
                continue;
            }
            if (retry_topic) { /* show the original topic to the listener */
                const char *rt = rmq_msg_property(m, RMQ_PROP_RETRY_TOPIC);
                if (rt) {
                    char *nt = strdup(rt);
                    if (nt) {
                        rmq_msg_free_part(m, m->topic);
                        m->topic = nt;
                    }
                }
            }
            if (!pq_push(pq, m)) {
                rmq_msg_destroy(m);
                continue;
            }
            res.msgs[k++] = m;
        }
        pq->next_pull = res.next_offset;
        if (pq->count == 0) pq->commit = pq->next_pull;
        pq->tasks++; /* keeps the messages alive until dispatched (a reset may drop pq) */
        pthread_mutex_unlock(&pq->mu);
        if (k) dispatch(c, pq, res.msgs, k);
        free(res.msgs);
        pthread_mutex_lock(&pq->mu);
        if (--pq->tasks == 0 && pq->dropped) pq_free_msgs(pq);
        pthread_mutex_unlock(&pq->mu);
        issue_pull(pq);
        break;
    }
    case RMQ_PULL_NO_NEW_MSG:
    case RMQ_PULL_NO_MATCHED_MSG:
        pthread_mutex_lock(&pq->mu);
        pq->next_pull = res.next_offset;
        if (pq->count == 0) pq->commit = pq->next_pull;
        pthread_mutex_unlock(&pq->mu);
        issue_pull(pq);
        break;
    case RMQ_PULL_OFFSET_ILLEGAL:
        RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d offset %" PRId64 " moved to %" PRId64,
                      pq->mq.topic, pq->mq.broker, pq->mq.queue_id, pq->next_pull, res.next_offset);
        restart_queue(c, pq, res.next_offset, true);
        break;
    }
    consumer_unref(c);
}

static void issue_pull(pq_t *pq) {
    rmq_push_consumer_t *c = pq->c;
    if (atomic_load(&c->stopping)) return;
    pthread_mutex_lock(&pq->mu);
    bool dropped = pq->dropped;
    size_t cnt = pq->count, bytes = pq->bytes;
    int64_t off = pq->next_pull, commit = pq->commit;
    bool flow = !dropped && ((int64_t)cnt > c->thr_count || (int64_t)bytes > c->thr_bytes);
    if (flow) pq->flow_wait = true;
    pthread_mutex_unlock(&pq->mu);
    if (dropped) return;
    if (flow) { /* flow control: retry in FLOW_DELAY_MS, or sooner once consumption drains */
        atomic_fetch_add(&c->refs, 1);
        if (rmq_instance_schedule_ex(c->in, FLOW_DELAY_MS, pull_flow_task, pull_later_drop, pq,
                                     c) != RMQ_OK)
            atomic_fetch_sub(&c->refs, 1);
        return;
    }
    const csub_t *s = find_sub(c, pq->mq.topic);
    char addr[64];
    if (rmq_instance_broker_addr(c->in, pq->mq.broker, addr, sizeof addr) != RMQ_OK) {
        pull_later(pq, c->pull_delay_exc);
        return;
    }
    int sysflag = RMQ_PULL_F_SUSPEND | RMQ_PULL_F_SUBSCRIPTION;
    if (!c->broadcast && commit > 0) sysflag |= RMQ_PULL_F_COMMIT_OFFSET;
    rmq_pull_req_t r = {
        .group = c->group, .mq = &pq->mq, .offset = off, .commit_offset = c->broadcast ? 0 : commit,
        .sub_version = s ? s->sub.version : 0, .max_msgs = c->pull_batch, .sysflag = sysflag,
        .suspend_ms = PULL_SUSPEND_MS, .subscription = s ? s->sub.expr : "*",
        .binary_header = c->binary,
    };
    rmq_rem_cmd_t *req = rmq_pull_request(&r);
    if (!req) {
        pull_later(pq, c->pull_delay_exc);
        return;
    }
    if (!c->broadcast && (sysflag & RMQ_PULL_F_COMMIT_OFFSET)) pq->committed = commit;
    atomic_fetch_add(&c->refs, 1);
    if (rmq_instance_invoke_async(c->in, addr, req, PULL_TIMEOUT_MS, on_pull, pq) != RMQ_OK) {
        atomic_fetch_sub(&c->refs, 1);
        pull_later(pq, c->pull_delay_exc);
    }
}

/* ---- offsets ------------------------------------------------------------------------- */

static int64_t local_offset(rmq_push_consumer_t *c, const rmq_mq_t *mq) {
    json_error_t je;
    json_t *root = json_load_file(c->offset_file, 0, &je);
    if (!root) return -1;
    char key[256];
    snprintf(key, sizeof key, "%s|%s|%d", mq->topic, mq->broker, mq->queue_id);
    json_t *v = json_object_get(json_object_get(root, "offsetTable"), key);
    int64_t off = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(root);
    return off;
}

static int mkdirs(const char *path) {
    char tmp[1024];
    rmq_strlcpy(tmp, path, sizeof tmp);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    return 0;
}

static void persist(void *owner) {
    rmq_push_consumer_t *c = owner;
    json_t *tab = c->broadcast ? json_object() : NULL;
    pthread_mutex_lock(&c->mu);
    for (pq_t *pq = c->pqs; pq; pq = pq->next) {
        pthread_mutex_lock(&pq->mu);
        int64_t off = pq->commit;
        bool changed = off >= 0 && off != pq->committed;
        if (changed) pq->committed = off;
        pthread_mutex_unlock(&pq->mu);
        if (off < 0) continue;
        if (c->broadcast) {
            char key[256];
            snprintf(key, sizeof key, "%s|%s|%d", pq->mq.topic, pq->mq.broker, pq->mq.queue_id);
            json_object_set_new(tab, key, json_integer(off));
        } else if (changed) {
            rmq_update_offset(c->in, c->group, &pq->mq, off, true);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (tab) {
        /* merge over what the file has (queues no longer assigned keep their offsets) */
        json_error_t je;
        json_t *root = json_load_file(c->offset_file, 0, &je);
        if (!root) root = json_pack("{s:{}}", "offsetTable");
        json_t *old = json_object_get(root, "offsetTable");
        if (!json_is_object(old)) {
            old = json_object();
            json_object_set_new(root, "offsetTable", old);
        }
        json_object_update(old, tab);
        json_decref(tab);
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", c->offset_file);
        mkdirs(c->offset_file);
        if (json_dump_file(root, tmp, JSON_COMPACT) == 0) {
            if (rename(tmp, c->offset_file) != 0)
                RMQ_ILOG_WARN(c->log, MOD, "offset file %s: %s", c->offset_file, strerror(errno));
        } else {
            RMQ_ILOG_WARN(c->log, MOD, "cannot write offset file %s", tmp);
        }
        json_decref(root);
    }
}

/* Where to start a newly assigned queue (protocol.md 7.7). -1: try again later. */
static int64_t start_offset(rmq_push_consumer_t *c, const rmq_mq_t *mq) {
    int64_t off = -1;
    rmq_err_t e;
    if (c->broadcast) {
        off = local_offset(c, mq);
        if (off >= 0) return off;
        e = RMQ_ERR_QUERY_NOT_FOUND;
    } else {
        e = rmq_query_offset(c->in, c->group, mq, &off);
        if (e == RMQ_OK && off >= 0) return off;
    }
    if (e != RMQ_ERR_QUERY_NOT_FOUND && e != RMQ_OK) {
        RMQ_ILOG_WARN(c->log, MOD, "offset of %s:%d: %s", mq->topic, mq->queue_id, rmq_strerror(e));
        return -1;
    }
    bool retry = strcmp(mq->topic, c->retry_topic) == 0;
    if (strcmp(c->from_where, "CONSUME_FROM_FIRST_OFFSET") == 0) return 0;
    if (strcmp(c->from_where, "CONSUME_FROM_TIMESTAMP") == 0) {
        if (retry) e = rmq_max_offset(c->in, mq, &off);
        else e = rmq_search_offset(c->in, mq, c->from_ts, &off);
        return e ? -1 : off;
    }
    if (retry) return 0;
    e = rmq_max_offset(c->in, mq, &off);
    return e ? -1 : off;
}

/* ---- orderly locks ------------------------------------------------------------------- */

static json_t *mq_json(const rmq_mq_t *mq) {
    return json_pack("{s:s,s:i,s:s}", "brokerName", mq->broker, "queueId", mq->queue_id, "topic",
                     mq->topic);
}

/* LOCK_BATCH_MQ (lock true) or UNLOCK_BATCH_MQ for mqs of one broker; for a lock, locked[i]
 * says which ones the broker granted. */
static rmq_err_t lock_batch(rmq_push_consumer_t *c, const rmq_mq_t *mqs, int n, bool lock,
                            bool *locked) {
    if (n == 0) return RMQ_OK;
    char addr[64];
    rmq_err_t e = rmq_consumer_broker_addr(c->in, &mqs[0], addr, sizeof addr);
    if (e) return e;
    json_t *set = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(set, mq_json(&mqs[i]));
    json_t *body = json_pack("{s:s,s:s,s:o}", "consumerGroup", c->group, "clientId",
                             rmq_instance_client_id(c->in), "mqSet", set);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    rmq_rem_cmd_t *req =
        s ? rmq_rem_cmd_new_request(lock ? RMQ_REQ_LOCK_BATCH_MQ : RMQ_REQ_UNLOCK_BATCH_MQ) : NULL;
    if (!req) {
        free(s);
        return RMQ_ERR__NOMEM;
    }
    req->language = RMQ_LANG_CPP;
    rmq_rem_cmd_set_body(req, s, strlen(s));
    if (!lock) return rmq_instance_invoke_oneway(c->in, addr, req);
    rmq_rem_cmd_t *resp = NULL;
    e = rmq_instance_invoke_sync(c->in, addr, req, 0, &resp);
    if (e) return e;
    e = (rmq_err_t)resp->code;
    json_t *root = NULL;
    if (!e) {
        json_error_t je;
        root = resp->body ? json_loadb((const char *)resp->body, resp->body_len, 0, &je) : NULL;
    }
    rmq_rem_cmd_destroy(resp);
    if (e) return e;
    for (int i = 0; i < n; i++) locked[i] = false;
    json_t *ok = json_object_get(root, "lockOKMQSet");
    size_t k;
    json_t *v;
    json_array_foreach(ok, k, v) {
        const char *t = json_string_value(json_object_get(v, "topic"));
        const char *b = json_string_value(json_object_get(v, "brokerName"));
        json_t *q = json_object_get(v, "queueId");
        if (!t || !b || !json_is_integer(q)) continue;
        for (int i = 0; i < n; i++)
            if (!strcmp(mqs[i].topic, t) && !strcmp(mqs[i].broker, b) &&
                mqs[i].queue_id == (int)json_integer_value(q))
                locked[i] = true;
    }
    json_decref(root);
    return RMQ_OK;
}

/* Lock mqs broker by broker; locked[i] result. */
static void lock_all(rmq_push_consumer_t *c, rmq_mq_t *mqs, int n, bool *locked) {
    for (int i = 0; i < n; i++) locked[i] = false;
    int i = 0;
    while (i < n) {
        int j = i;
        while (j < n && strcmp(mqs[j].broker, mqs[i].broker) == 0) j++;
        if (lock_batch(c, mqs + i, j - i, true, locked + i) != RMQ_OK)
            RMQ_ILOG_WARN(c->log, MOD, "LOCK_BATCH_MQ on %s failed", mqs[i].broker);
        i = j;
    }
}

/* ---- rebalance ---------------------------------------------------------------------- */

static void drop_pq(rmq_push_consumer_t *c, pq_t *pq) { /* c->mu held; pq unlinked by caller */
    pthread_mutex_lock(&pq->mu);
    pq->dropped = true;
    int64_t off = pq->commit;
    if (pq->tasks == 0) pq_free_msgs(pq);
    pthread_mutex_unlock(&pq->mu);
    if (!c->broadcast && off >= 0) rmq_update_offset(c->in, c->group, &pq->mq, off, true);
    pq->next = c->grave;
    c->grave = pq;
}

static bool rebalance_topic(rmq_push_consumer_t *c, const char *topic) {
    rmq_topic_info_t *ti = NULL;
    if (rmq_instance_route(c->in, topic, false, false, &ti) != RMQ_OK) return false;
    rmq_mq_t *all = NULL, *mine = NULL;
    int nall = ti->nsub, nmine = 0;
    bool changed = false;
    if (nall > 0) {
        all = malloc((size_t)nall * sizeof(*all));
        if (all) memcpy(all, ti->sub, (size_t)nall * sizeof(*all));
    }
    /* the group's member list from any broker of the topic that answers (a dead one is
     * skipped), as the Java client asks a random one */
    char addrs[8][64];
    int naddr = 0;
    for (int i = 0; i < ti->route->nq && naddr < 8; i++) {
        const char *a = rmq_route_master(ti->route, ti->route->q[i].broker);
        if (a) rmq_strlcpy(addrs[naddr++], a, sizeof addrs[0]);
    }
    rmq_topic_info_release(ti);
    if (!all) return false;
    if (c->broadcast) {
        mine = all;
        nmine = nall;
        all = NULL;
    } else {
        char **ids = NULL;
        int nids = 0;
        rmq_err_t e = RMQ_ERR__NO_ROUTE;
        int start = (int)(rmq_mono_ms() % 8);
        for (int i = 0; i < naddr && e != RMQ_OK; i++)
            e = rmq_consumer_ids(c->in, addrs[(start + i) % naddr], c->group, &ids, &nids);
        if (e != RMQ_OK) {
            free(all);
            return false; /* keep the current assignment */
        }
        rmq_allocate_avg(all, nall, ids, nids, rmq_instance_client_id(c->in), &mine, &nmine);
        for (int i = 0; i < nids; i++) free(ids[i]);
        free(ids);
    }
    /* removed queues */
    rmq_mq_t *unlock = NULL;
    int nunlock = 0;
    pthread_mutex_lock(&c->mu);
    for (pq_t **pp = &c->pqs; *pp;) {
        pq_t *pq = *pp;
        bool keep = strcmp(pq->mq.topic, topic) != 0;
        for (int i = 0; !keep && i < nmine; i++)
            if (rmq_mq_eq(&pq->mq, &mine[i])) keep = true;
        if (keep) {
            pp = &pq->next;
            continue;
        }
        *pp = pq->next;
        if (c->mode == RMQ_LISTEN_ORDERLY && !c->broadcast) {
            rmq_mq_t *nu = realloc(unlock, (size_t)(nunlock + 1) * sizeof(*nu));
            if (nu) {
                unlock = nu;
                unlock[nunlock++] = pq->mq;
            }
        }
        RMQ_ILOG_INFO(c->log, MOD, "%s: queue %s@%s:%d removed", c->group, pq->mq.topic,
                      pq->mq.broker, pq->mq.queue_id);
        drop_pq(c, pq);
        changed = true;
    }
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < nunlock; i++) lock_batch(c, &unlock[i], 1, false, NULL);
    free(unlock);
    /* added queues (and lock renewal for orderly) */
    bool *locked = NULL;
    if (c->mode == RMQ_LISTEN_ORDERLY && !c->broadcast && nmine > 0) {
        locked = calloc((size_t)nmine, sizeof(bool));
        if (locked) lock_all(c, mine, nmine, locked);
    }
    for (int i = 0; i < nmine; i++) {
        pq_t *cur = NULL;
        pthread_mutex_lock(&c->mu);
        for (pq_t *pq = c->pqs; pq; pq = pq->next)
            if (rmq_mq_eq(&pq->mq, &mine[i])) cur = pq;
        if (cur && locked) {
            pthread_mutex_lock(&cur->mu);
            cur->locked = locked[i];
            if (locked[i]) cur->lock_ts = rmq_mono_ms();
            pthread_mutex_unlock(&cur->mu);
        }
        pthread_mutex_unlock(&c->mu);
        if (cur) continue;
        if (c->mode == RMQ_LISTEN_ORDERLY && !c->broadcast && (!locked || !locked[i]))
            continue; /* not ours yet: the next rebalance tries again */
        int64_t off = start_offset(c, &mine[i]);
        if (off < 0) continue;
        pq_t *pq = pq_new(c, &mine[i], off);
        if (!pq) continue;
        if (locked) {
            pq->locked = true;
            pq->lock_ts = rmq_mono_ms();
        }
        pthread_mutex_lock(&c->mu);
        pq->next = c->pqs;
        c->pqs = pq;
        pthread_mutex_unlock(&c->mu);
        RMQ_ILOG_INFO(c->log, MOD, "%s: queue %s@%s:%d added at offset %" PRId64, c->group,
                      pq->mq.topic, pq->mq.broker, pq->mq.queue_id, off);
        changed = true;
        issue_pull(pq);
    }
    free(locked);
    free(mine);
    free(all);
    return changed;
}

static void rebalance(void *owner) {
    rmq_push_consumer_t *c = owner;
    if (atomic_load(&c->stopping) || !c->started) return;
    pthread_mutex_lock(&c->rb_mu);
    bool changed = false;
    for (int i = 0; i < c->nsubs && !atomic_load(&c->stopping); i++)
        changed |= rebalance_topic(c, c->subs[i].sub.topic);
    pthread_mutex_unlock(&c->rb_mu);
    if (changed) rmq_instance_heartbeat_soon(c->in);
}

static void rebalance_task(void *arg) { rebalance(arg); }

static void reset_offset(void *owner, const char *topic, const rmq_mq_t *mqs, const int64_t *offs,
                         int n) {
    rmq_push_consumer_t *c = owner;
    if (atomic_load(&c->stopping)) return;
    for (int i = 0; i < n; i++) {
        if (strcmp(mqs[i].topic, topic) != 0) continue;
        pq_t *target = NULL;
        pthread_mutex_lock(&c->mu);
        for (pq_t *pq = c->pqs; pq; pq = pq->next)
            if (rmq_mq_eq(&pq->mq, &mqs[i])) target = pq;
        pthread_mutex_unlock(&c->mu);
        if (target) restart_queue(c, target, offs[i], true);
        else if (!c->broadcast) rmq_update_offset(c->in, c->group, &mqs[i], offs[i], true);
    }
}

static void heartbeat_data(void *owner, json_t *arr) {
    rmq_push_consumer_t *c = owner;
    json_t *subs = json_array();
    for (int i = 0; i < c->nsubs; i++) {
        const rmq_sub_t *s = &c->subs[i].sub;
        json_t *tags = json_array(), *codes = json_array();
        for (int k = 0; k < s->ntags; k++) {
            json_array_append_new(tags, json_string(s->tags[k]));
            json_array_append_new(codes, json_integer(s->codes[k]));
        }
        json_array_append_new(
            subs, json_pack("{s:b,s:o,s:s,s:s,s:I,s:o,s:s}", "classFilterMode", 0, "codeSet",
                            codes, "expressionType", "TAG", "subString", s->expr, "subVersion",
                            (json_int_t)s->version, "tagsSet", tags, "topic", s->topic));
    }
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:s,s:s,s:o,s:b}", "consumeFromWhere", c->from_where,
                       "consumeType", "CONSUME_PASSIVELY", "groupName", c->group, "messageModel",
                       c->broadcast ? "BROADCASTING" : "CLUSTERING", "subscriptionDataSet",
                       subs, "unitMode", 0));
}

/* ---- public API --------------------------------------------------------------------- */

rmq_push_consumer_t *rmq_push_consumer_new(rmq_conf_t *conf, char *err, size_t n) {
    char dummy[8];
    if (!err || !n) {
        err = dummy;
        n = sizeof dummy;
    }
    err[0] = 0;
    const char *g = rmq_conf_member_group(conf, "consumerGroup", true, err, n);
    if (!g) return NULL;
    rmq_push_consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    rmq_strlcpy(c->group, g, sizeof(c->group));
    snprintf(c->retry_topic, sizeof c->retry_topic, "%s%s", RMQ_RETRY_PREFIX, g);
    c->conf = conf;
    c->broadcast = strcmp(rmq_conf_str(conf, "messageModel"), "BROADCASTING") == 0;
    c->binary = strcmp(rmq_conf_str(conf, "serializeType"), "ROCKETMQ") == 0;
    c->from_where = rmq_conf_str(conf, "consumeFromWhere");
    const char *ts = rmq_conf_str(conf, "consumeTimestamp");
    c->from_ts = ts ? rmq_conf_parse_ts(ts) : rmq_now_ms() - 30 * 60 * 1000;
    c->batch_max = (int)rmq_conf_i64(conf, "consumeMessageBatchMaxSize");
    c->pull_batch = (int)rmq_conf_i64(conf, "pullBatchSize");
    c->max_reconsume = (int)rmq_conf_i64(conf, "maxReconsumeTimes");
    c->suspend_ms = (int)rmq_conf_i64(conf, "suspendCurrentQueueTimeMillis");
    c->pull_delay_exc = (int)rmq_conf_i64(conf, "pullTimeDelayMillsWhenException");
    c->thr_count = rmq_conf_i64(conf, "pullThresholdForQueue");
    c->thr_bytes = rmq_conf_i64(conf, "pullThresholdSizeForQueue") * 1024 * 1024;
    c->nthreads = (int)rmq_conf_i64(conf, "consumeThreadMin");
    atomic_init(&c->refs, 1);
    atomic_init(&c->stopping, false);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->rb_mu, NULL);
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_cond_init(&c->pool_cv, NULL);
    return c;
}

rmq_err_t rmq_push_consumer_subscribe(rmq_push_consumer_t *c, const char *topic,
                                      const char *tags) {
    if (!c || !topic) return RMQ_ERR__INVALID_ARG;
    if (c->started) return RMQ_ERR__STATE;
    csub_t s = {0};
    rmq_err_t e = rmq_sub_parse(topic, tags, &s.sub);
    if (e) return e;
    for (int i = 0; i < c->nsubs; i++) {
        if (strcmp(c->subs[i].sub.topic, topic) == 0) { /* replace */
            rmq_sub_fini(&c->subs[i].sub);
            c->subs[i] = s;
            return RMQ_OK;
        }
    }
    csub_t *ns = realloc(c->subs, (size_t)(c->nsubs + 1) * sizeof(*ns));
    if (!ns) {
        rmq_sub_fini(&s.sub);
        return RMQ_ERR__NOMEM;
    }
    c->subs = ns;
    c->subs[c->nsubs++] = s;
    return RMQ_OK;
}

rmq_err_t rmq_push_consumer_set_listener(rmq_push_consumer_t *c, rmq_listen_mode_t mode,
                                         rmq_listener_cb cb, void *op) {
    if (!c || !cb) return RMQ_ERR__INVALID_ARG;
    if (c->started) return RMQ_ERR__STATE;
    c->mode = mode;
    c->cb = cb;
    c->cb_op = op;
    return RMQ_OK;
}

rmq_err_t rmq_push_consumer_start(rmq_push_consumer_t *c) {
    if (!c) return RMQ_ERR__INVALID_ARG;
    if (c->started) return RMQ_ERR__STATE;
    if (!c->cb || c->nsubs == 0) return RMQ_ERR__STATE;
    if (!c->broadcast && !find_sub(c, c->retry_topic)) {
        rmq_err_t e = rmq_push_consumer_subscribe(c, c->retry_topic, "*");
        if (e) return e;
        c->subs[c->nsubs - 1].retry = true;
    }
    rmq_strlcpy(c->member.group, c->group, sizeof(c->member.group));
    c->member.consumer = true;
    c->member.owner = c;
    c->member.heartbeat_data = heartbeat_data;
    c->member.rebalance = rebalance;
    c->member.persist = persist;
    c->member.reset_offset = reset_offset;
    char err[256];
    c->in = rmq_instance_get(c->conf, &c->member, err, sizeof err);
    if (c->in) c->log = rmq_instance_log(c->in);
    if (!c->in) {
        rmq_logger_t lg = rmq_conf_logger(c->conf); /* no instance to log through */
        RMQ_ILOG_WARN(&lg, MOD, "consumer %s: %s", c->group, err);
        return RMQ_ERR__CONFIG;
    }
    if (c->broadcast) {
        const char *dir = rmq_conf_str(c->conf, "offsetStoreDir");
        char home[512];
        if (!dir || !*dir) {
            const char *h = getenv("HOME");
            snprintf(home, sizeof home, "%s/.rocketmq_offsets", h ? h : "/tmp");
            dir = home;
        }
        snprintf(c->offset_file, sizeof c->offset_file, "%s/%s/%s/offsets.json", dir,
                 rmq_instance_client_id(c->in), c->group);
    }
    c->threads = calloc((size_t)c->nthreads, sizeof(pthread_t));
    int started = 0;
    for (; c->threads && started < c->nthreads; started++)
        if (pthread_create(&c->threads[started], NULL, pool_main, c)) break;
    c->nthreads = started;
    if (started == 0) {
        rmq_instance_release(c->in, &c->member);
        c->in = NULL;
        return RMQ_ERR__FAIL;
    }
    /* routes of every subscribed topic, then a heartbeat the brokers have before we ask for the
     * group's members */
    for (int i = 0; i < c->nsubs; i++) {
        rmq_topic_info_t *ti = NULL;
        rmq_err_t e = rmq_instance_route(c->in, c->subs[i].sub.topic, false, false, &ti);
        if (e == RMQ_OK) rmq_topic_info_release(ti);
        else if (!c->subs[i].retry)
            RMQ_ILOG_WARN(c->log, MOD, "route of %s: %s", c->subs[i].sub.topic, rmq_strerror(e));
    }
    c->started = true;
    rmq_instance_heartbeat_sync(c->in);
    rmq_instance_schedule(c->in, 0, rebalance_task, c, c);
    return RMQ_OK;
}

rmq_err_t rmq_push_consumer_assigned(rmq_push_consumer_t *c, rmq_mq_t **mqs, size_t *n) {
    if (!c || !mqs || !n) return RMQ_ERR__INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    size_t cnt = 0;
    for (pq_t *pq = c->pqs; pq; pq = pq->next) cnt++;
    rmq_mq_t *arr = malloc((cnt ? cnt : 1) * sizeof(*arr));
    size_t k = 0;
    if (arr)
        for (pq_t *pq = c->pqs; pq; pq = pq->next) arr[k++] = pq->mq;
    pthread_mutex_unlock(&c->mu);
    if (!arr) return RMQ_ERR__NOMEM;
    if (k > 1) qsort(arr, k, sizeof(*arr), rmq_mq_cmp);
    *mqs = arr;
    *n = k;
    return RMQ_OK;
}

static void consumer_free(rmq_push_consumer_t *c) {
    for (pq_t *pq = c->pqs, *nx; pq; pq = nx) {
        nx = pq->next;
        pq_free(pq);
    }
    for (pq_t *pq = c->grave, *nx; pq; pq = nx) {
        nx = pq->next;
        pq_free(pq);
    }
    for (int i = 0; i < c->nsubs; i++) rmq_sub_fini(&c->subs[i].sub);
    free(c->subs);
    free(c->threads);
    rmq_conf_destroy(c->conf);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->rb_mu);
    pthread_mutex_destroy(&c->pool_mu);
    pthread_cond_destroy(&c->pool_cv);
    free(c);
}

static void consumer_unref(rmq_push_consumer_t *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) consumer_free(c);
}

void rmq_push_consumer_destroy(rmq_push_consumer_t *c) {
    if (!c) return;
    if (c->in) {
        pthread_mutex_lock(&c->rb_mu);
        atomic_store(&c->stopping, true);
        pthread_mutex_unlock(&c->rb_mu);
        rmq_instance_cancel(c->in, c);
        /* wait for running listeners; queued tasks are dropped (their messages come again) */
        pthread_mutex_lock(&c->pool_mu);
        c->pool_stop = true;
        pthread_cond_broadcast(&c->pool_cv);
        pthread_mutex_unlock(&c->pool_mu);
        for (int i = 0; i < c->nthreads; i++) pthread_join(c->threads[i], NULL);
        for (task_t *t = c->q_head, *nx; t; t = nx) {
            nx = t->next;
            task_release(t);
        }
        c->q_head = c->q_tail = NULL;
        rmq_instance_cancel(c->in, c); /* tasks scheduled by the last listeners */
        /* final offsets, synchronously; release orderly locks */
        if (c->broadcast) {
            persist(c);
        } else {
            pthread_mutex_lock(&c->mu);
            for (pq_t *pq = c->pqs; pq; pq = pq->next) {
                pthread_mutex_lock(&pq->mu);
                int64_t off = pq->commit;
                pthread_mutex_unlock(&pq->mu);
                if (off >= 0) rmq_update_offset(c->in, c->group, &pq->mq, off, false);
                if (c->mode == RMQ_LISTEN_ORDERLY) lock_batch(c, &pq->mq, 1, false, NULL);
            }
            pthread_mutex_unlock(&c->mu);
        }
        /* c->in stays set: a pull callback racing with us may still read it; the instance
         * outlives every callback of its loop */
        rmq_instance_release(c->in, &c->member);
    }
    consumer_unref(c);
}
