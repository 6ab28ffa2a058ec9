/* Consume service of the push consumer (ConsumeMessageConcurrentlyService /
 * ConsumeMessageOrderlyService): the consume pool, listener calls in batches (concurrently) or
 * one queue at a time under its broker lock (orderly), and send-back to the retry topic on
 * RECONSUME_LATER (re-sent as a new message when the broker refuses). See push_consumer.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/push_consumer.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"

/* ---- pool -------------------------------------------------------------------------- */

/* The pool. Java's ThreadPoolExecutor wakes a thread for every task it queues; here, on a host
 * with few CPUs, that put 20 threads in turn on the CPUs the client's loop and the broker need,
 * for listener calls of a few microseconds each (issue 15). So the pool keeps about as many
 * threads running as there are CPUs besides the loop's (pool_active): a thread that finishes a
 * task takes the next without sleeping, and the queue wakes an idle thread (the most recently
 * idle: its cache is warm) only while fewer than pool_active run. That must not cap concurrency
 * when listeners block or run long: one idle thread, the watcher, looks at the queue every
 * POOL_TICK_MS while tasks wait, and whenever the head has waited POOL_AGE_US it takes it
 * itself, and the next idle thread becomes the watcher: one thread more per POOL_AGE_US while
 * the queue stands still, up to consumeThreadMin, as many as the tasks keep busy. */
#define POOL_AGE_US 2000
#define POOL_TICK_MS 1

int rmq_pc_pool_active(int nthreads) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int a = ncpu > 2 ? (int)ncpu - 1 : 1; /* one CPU for the client's loop (and the broker) */
    return RMQ_MIN(a, nthreads > 0 ? nthreads : 1);
}

/* pool_mu held, a task queued: the thread to wake for it, or NULL. An idle one (counted as
 * running from now on: it will take a task, or go idle again) while fewer than pool_active
 * run; else the watcher, once, if it does not yet time the queue. */
static rmq_pool_thr_t *pool_pick(rmq_push_consumer_t *c) {
    rmq_pool_thr_t *w = NULL;
    if (c->pool_running < c->pool_active) {
        if ((w = c->pool_idle))
            c->pool_idle = w->next_idle;
        else if ((w = c->pool_watcher))
            c->pool_watcher = NULL;
        if (w) {
            w->go = true;
            c->pool_running++;
        }
    } else if (c->pool_watcher && !c->pool_watch_timed) {
        c->pool_watch_timed = true;
        w = c->pool_watcher;
    }
    return w;
}

/* Queue the tasks head..tail (each counted in its pq->tasks already) and wake a thread if one
 * is wanted (pool_pick). After the pool stopped (destroy), release them instead: nobody would
 * run them. */
static void pool_queue(rmq_push_consumer_t *c, rmq_consume_task_t *head, rmq_consume_task_t *tail) {
    uint64_t now = rmq_mono_us();
    for (rmq_consume_task_t *t = head; t; t = t->next) t->queued_us = now;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_stop) {
        pthread_mutex_unlock(&c->pool_mu);
        for (rmq_consume_task_t *t = head, *nx; t; t = nx) {
            nx = t->next;
            rmq_pc_task_release(t);
        }
        return;
    }
    tail->next = NULL;
    if (c->q_tail)
        c->q_tail->next = head;
    else
        c->q_head = head;
    c->q_tail = tail;
    rmq_pool_thr_t *w = pool_pick(c);
    pthread_mutex_unlock(&c->pool_mu);
    /* after the unlock: the woken thread does not block on pool_mu still held here; one per
     * hand-off: a woken thread that sees more queued wakes the next itself (pool_main) */
    if (w) rmq_wake_signal(&w->wake);
}

/* pool_mu held (released while asleep): me found the queue empty and stops counting as
 * running. True once it is to take a task (counted as running again), false on pool_stop. */
static bool pool_idle_wait(rmq_push_consumer_t *c, rmq_pool_thr_t *me) {
    c->pool_running--;
    me->go = false;
    if (!c->pool_watcher) {
        c->pool_watcher = me;
        c->pool_watch_timed = false;
    } else {
        me->next_idle = c->pool_idle;
        c->pool_idle = me;
    }
    for (;;) {
        if (me->go) return true; /* pool_pick took me off the stack (or the watch) */
        if (c->pool_stop) return false;
        if (c->pool_watcher != me) {
            pthread_mutex_unlock(&c->pool_mu);
            rmq_wake_wait(&me->wake);
            pthread_mutex_lock(&c->pool_mu);
            continue; /* given a task, made the watcher, stopped, or a stale signal */
        }
        rmq_consume_task_t *h = c->q_head;
        if (h && rmq_mono_us() - h->queued_us >= POOL_AGE_US) {
            /* the running threads have not taken it: blocked or long listeners; one more, and
             * the next idle thread watches */
            rmq_pool_thr_t *nw = c->pool_idle;
            if (nw) c->pool_idle = nw->next_idle;
            c->pool_watcher = nw;
            c->pool_watch_timed = false;
            c->pool_running++;
            if (nw) {
                pthread_mutex_unlock(&c->pool_mu);
                rmq_wake_signal(&nw->wake);
                pthread_mutex_lock(&c->pool_mu);
            }
            return true;
        }
        c->pool_watch_timed = h != NULL;
        pthread_mutex_unlock(&c->pool_mu);
        if (h)
            rmq_wake_wait_ms(&me->wake, POOL_TICK_MS);
        else
            rmq_wake_wait(&me->wake);
        pthread_mutex_lock(&c->pool_mu);
    }
}

static void task_count(rmq_consume_task_t *t) {
    pthread_mutex_lock(&t->pq->mu);
    t->pq->tasks++;
    pthread_mutex_unlock(&t->pq->mu);
}

static void pool_submit(rmq_push_consumer_t *c, rmq_consume_task_t *t) {
    task_count(t);
    pool_queue(c, t, t);
}

/* The end of the loop iteration that dispatched c->lp_head..: one lock of pool_mu and at most
 * one wake-up for all of them. Handing each pull result over as it was applied (several per
 * iteration since pulls are pipelined) woke a thread at the first, which then contended for
 * pool_mu with the loop's next hand-offs: the slow runs of the 32-per-call drain had twice the
 * futex calls and context switches per message (issue 15). */
static void pool_flush(void *arg) { /* loop thread */
    rmq_push_consumer_t *c = arg;
    rmq_consume_task_t *head = c->lp_head, *tail = c->lp_tail;
    c->lp_head = c->lp_tail = NULL;
    c->lp_queued = false;
    if (head) pool_queue(c, head, tail);
    rmq_pc_unref(c);
}

void rmq_pc_task_release(rmq_consume_task_t *t) {
    rmq_pq_t *pq = t->pq;
    pthread_mutex_lock(&pq->mu);
    if (--pq->tasks == 0 && pq->dropped) rmq_pc_pq_free_msgs(pq);
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
                        origin_id       ? origin_id
                        : rmq_msg_id(m) ? rmq_msg_id(m)
                                        : uniq);
    rmq_msg_prop_append(&b, RMQ_PROP_UNIQ_KEY, uniq);
    if (delay > 0) rmq_msg_prop_append(&b, RMQ_PROP_DELAY, dl);
    if (b.len && b.data[b.len - 1] == RMQ_PROP_SEP) b.len--;
    rmq_buf_append_u8(&b, 0);
    rmq_send_hdr_t h = {
        .group = c->group,
        .topic = c->retry_topic,
        .default_topic = RMQ_DEFAULT_TOPIC,
        .props = (const char *)b.data,
        .broker = mq.broker,
        .default_queues = 4,
        .queue_id = mq.queue_id,
        .sysflag = 0,
        .flag = m->flag,
        .reconsume_times = m->reconsume_times + 1,
        .max_reconsume_times = c->max_reconsume < 0 ? 16 : c->max_reconsume,
        .born_ts = rmq_now_ms(),
        .has_reconsume = true,
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

/* Send back the messages of one failed listener call; a message whose send-back fails stays
 * in flight and is handed to the pool again on its own (Java: consumed again here in 5 s), its
 * slot in msgs set to NULL so the caller does not mark it done. */
static void send_back_failed(rmq_push_consumer_t *c, rmq_pq_t *pq, rmq_msg_t **msgs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (send_back(c, &pq->mq, msgs[i]) == RMQ_OK) continue;
        RMQ_ILOG_WARN(c->log, MOD, "message %s kept for a local retry", rmq_msg_id(msgs[i]));
        rmq_consume_task_t *again = calloc(1, sizeof(*again));
        rmq_msg_t **one = malloc(sizeof(*one));
        if (!again || !one) {
            free(again);
            free(one);
            continue; /* marked done: as before, a send-back that cannot even be queued */
        }
        one[0] = msgs[i];
        again->pq = pq;
        again->msgs = one;
        again->n = 1;
        usleep(100000); /* crude delay: the pool is the only place tasks run */
        pool_submit(c, again);
        msgs[i] = NULL;
    }
}

/* One task is one pull result of one queue (a single hand-off to the pool): the listener is
 * called on consumeMessageBatchMaxSize messages at a time, and each call's status applies to
 * its messages alone, as one ConsumeRequest of Java's ConsumeMessageConcurrentlyService:
 * SUCCESS marks them consumed; LATER sends each of them back (Java's ackIndex is -1 for
 * RECONSUME_LATER: the whole call is retried) and marks them consumed once sent back. The
 * queue's commit offset moves after every call, so a consumer killed mid-task is redelivered
 * only what was not yet acknowledged. */
static void run_concurrent(rmq_push_consumer_t *c, rmq_consume_task_t *t) {
    rmq_pq_t *pq = t->pq;
    size_t bmax = c->batch_max > 0 ? (size_t)c->batch_max : 1;
    pthread_mutex_lock(&pq->mu);
    bool dropped = pq->dropped;
    pthread_mutex_unlock(&pq->mu);
    for (size_t i = 0; i < t->n; i += bmax) {
        if (dropped || atomic_load(&c->stopping)) return; /* the rest stays unacknowledged */
        rmq_msg_t **msgs = t->msgs + i;
        size_t n = RMQ_MIN(bmax, t->n - i);
        for (size_t j = 0; j < n; j++) rmq_msg_unpack(msgs[j]); /* left by the loop thread */
        rmq_mq_t mq = pq->mq;
        rmq_consume_status_t st = rmq_pc_call_listener(c, pq, &mq, msgs, n);
        if (st != RMQ_CONSUME_SUCCESS && !c->broadcast) send_back_failed(c, pq, msgs, n);
        size_t k = 0; /* compact out messages kept for a local retry */
        for (size_t j = 0; j < n; j++)
            if (msgs[j]) msgs[k++] = msgs[j];
        pthread_mutex_lock(&pq->mu); /* one lock per call: marks, flow check, next drop check */
        dropped = pq->dropped;
        if (!dropped) rmq_pc_pq_mark_done(pq, msgs, k);
        bool resume = rmq_pc_pq_flow_resume(pq);
        pthread_mutex_unlock(&pq->mu);
        if (resume) rmq_pc_issue_pull(pq); /* pq lives: this task still counts in pq->tasks */
    }
}

static void resubmit_orderly(void *arg);

/* One orderly round for pq: consume in offset order until empty or LATER. */
static void run_orderly(rmq_push_consumer_t *c, rmq_pq_t *pq) {
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
            rmq_pq_entry_t *e = rmq_pc_pq_at(pq, i);
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
        rmq_consume_status_t st = rmq_pc_call_listener(c, pq, &mq, batch, n);
        if (st == RMQ_CONSUME_SUCCESS) {
            pthread_mutex_lock(&pq->mu);
            pq->later_rounds = 0;
            rmq_pc_pq_mark_done(pq, batch, n);
            bool resume = rmq_pc_pq_flow_resume(pq);
            pthread_mutex_unlock(&pq->mu);
            if (resume) rmq_pc_issue_pull(pq);
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
            for (size_t i = 0; i < n && ok; i++) ok = resend_to_retry(c, batch[i], 0) == RMQ_OK;
            if (ok) {
                pthread_mutex_lock(&pq->mu);
                rmq_pc_pq_mark_done(pq, batch, n);
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
    rmq_pq_t *pq = arg;
    rmq_consume_task_t *t = calloc(1, sizeof(*t));
    if (!t) return;
    t->pq = pq;
    pool_submit(pq->c, t);
}

void *rmq_pc_pool_main(void *arg) {
    rmq_pool_thr_t *me = arg;
    rmq_push_consumer_t *c = me->c;
    pthread_setname_np(pthread_self(), "rmq-consume");
    pthread_mutex_lock(&c->pool_mu);
    for (;;) { /* counted in pool_running here */
        if (c->pool_stop) break;
        rmq_consume_task_t *t = c->q_head;
        if (!t) {
            if (!pool_idle_wait(c, me)) break;
            continue;
        }
        c->q_head = t->next;
        if (!c->q_head) c->q_tail = NULL;
        /* more queued behind this task: pass a wake-up on (see pool_queue) */
        rmq_pool_thr_t *w = c->q_head ? pool_pick(c) : NULL;
        pthread_mutex_unlock(&c->pool_mu);
        if (w) rmq_wake_signal(&w->wake);
        if (t->msgs)
            run_concurrent(c, t);
        else
            run_orderly(c, t->pq);
        rmq_pc_task_release(t);
        pthread_mutex_lock(&c->pool_mu);
    }
    pthread_mutex_unlock(&c->pool_mu);
    return NULL;
}

/* Hand new messages of pq to the pool: one task for the whole pull result. */
void rmq_pc_dispatch(rmq_push_consumer_t *c, rmq_pq_t *pq, rmq_msg_t **msgs, size_t n) {
    if (c->mode == RMQ_LISTEN_ORDERLY) {
        free(msgs); /* the messages are in pq; orderly rounds read them from there */
        pthread_mutex_lock(&pq->mu);
        bool start = !pq->consuming;
        pq->consuming = true;
        pthread_mutex_unlock(&pq->mu);
        if (start) {
            rmq_consume_task_t *t = calloc(1, sizeof(*t));
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
    rmq_consume_task_t *t = calloc(1, sizeof(*t));
    if (!t) {
        free(msgs);
        return; /* stays in flight; the offset will not pass it (redelivered later) */
    }
    t->pq = pq;
    t->msgs = msgs;
    t->n = n;
    task_count(t); /* now: a rebalance may drop pq before the iteration ends */
    t->next = NULL;
    if (c->lp_tail)
        c->lp_tail->next = t;
    else
        c->lp_head = t;
    c->lp_tail = t;
    if (!c->lp_queued) { /* the first of this iteration: hand them over at its end */
        c->lp_queued = true;
        atomic_fetch_add(&c->refs, 1);
        c->lp_node = (rmq_cb_node_t){.fn = pool_flush, .arg = c};
        rmq_instance_at_iteration_end(c->in, &c->lp_node);
    }
}
