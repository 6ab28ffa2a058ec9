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
 * that returns after destroy finds valid memory, sees `stopping` and lets go.
 *
 * This file is the core (process queues, pulls, offsets, the public API); rebalance.c and
 * consume_service.c hold the rest, push_consumer.h what they share. */
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

static void consumer_unref(rmq_push_consumer_t *c);
static void on_pull(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg);

/* ---- process queue ----------------------------------------------------------------- */

rmq_pq_t *rmq_pc_pq_new(rmq_push_consumer_t *c, const rmq_mq_t *mq, int64_t off) {
    rmq_pq_t *pq = calloc(1, sizeof(*pq));
    if (!pq) return NULL;
    pq->mq = *mq;
    pq->c = c;
    pthread_mutex_init(&pq->mu, NULL);
    pq->next_pull = off;
    pq->commit = off;
    pq->committed = -1;
    return pq;
}

void rmq_pc_pq_free_msgs(rmq_pq_t *pq) { /* pq->mu held or pq private */
    for (size_t i = 0; i < pq->count; i++) rmq_msg_destroy(pq->ring[(pq->head + i) % pq->cap].m);
    pq->count = 0;
    pq->head = 0;
    pq->bytes = 0;
}

static void pq_free(rmq_pq_t *pq) {
    for (int i = 0; i < RMQ_PULL_DEPTH; i++) rmq_rem_cmd_destroy(pq->slot[i].resp);
    rmq_pc_pq_free_msgs(pq);
    free(pq->ring);
    pthread_mutex_destroy(&pq->mu);
    free(pq);
}

static bool pq_push(rmq_pq_t *pq, rmq_msg_t *m) { /* mu held */
    if (pq->count == pq->cap) {
        size_t nc = pq->cap ? pq->cap * 2 : 64;
        rmq_pq_entry_t *nr = malloc(nc * sizeof(*nr));
        if (!nr) return false;
        for (size_t i = 0; i < pq->count; i++) nr[i] = *rmq_pc_pq_at(pq, i);
        free(pq->ring);
        pq->ring = nr;
        pq->cap = nc;
        pq->head = 0;
    }
    rmq_pq_entry_t *e = rmq_pc_pq_at(pq, pq->count++);
    e->off = m->queue_offset;
    e->m = m;
    e->done = false;
    e->handed = false;
    pq->bytes += m->body_len;
    return true;
}

/* Pop finished entries from the front and recompute the commit offset. mu held. */
static void pq_advance(rmq_pq_t *pq) {
    while (pq->count > 0 && rmq_pc_pq_at(pq, 0)->done) {
        rmq_pq_entry_t *e = rmq_pc_pq_at(pq, 0);
        pq->bytes -= e->m->body_len;
        rmq_msg_destroy(e->m);
        pq->head = (pq->head + 1) % pq->cap;
        pq->count--;
    }
    pq->commit = pq->count > 0 ? rmq_pc_pq_at(pq, 0)->off : pq->next_pull;
}

void rmq_pc_pq_mark_done(rmq_pq_t *pq, rmq_msg_t *const *msgs, size_t n) { /* mu held */
    for (size_t k = 0; k < n; k++) {
        /* binary search by offset: entries are in increasing offset order */
        size_t lo = 0, hi = pq->count;
        int64_t off = msgs[k]->queue_offset;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (rmq_pc_pq_at(pq, mid)->off < off)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < pq->count && rmq_pc_pq_at(pq, lo)->m == msgs[k]) rmq_pc_pq_at(pq, lo)->done = true;
    }
    pq_advance(pq);
}

/* After consumption (mu held): true when pulling was paused by flow control and the queue has
 * drained to half its thresholds, so the caller issues the pull now instead of letting it wait
 * out the rest of FLOW_DELAY_MS (a fast listener would otherwise idle on the timer). Clearing
 * flow_wait makes the caller the one that pulls; the pending timer then does nothing. */
bool rmq_pc_pq_flow_resume(rmq_pq_t *pq) {
    rmq_push_consumer_t *c = pq->c;
    if (!pq->flow_wait || pq->dropped) return false;
    if ((int64_t)pq->count > c->thr_count / 2 || (int64_t)pq->bytes > c->thr_bytes / 2)
        return false;
    pq->flow_wait = false;
    return true;
}

/* ---- pulling ------------------------------------------------------------------------ */

static const rmq_csub_t *find_sub(rmq_push_consumer_t *c, const char *topic) {
    for (int i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].sub.topic, topic) == 0) return &c->subs[i];
    return NULL;
}

/* A delayed pull holds a consumer reference (it may be queued when destroy runs). */
static void pull_later_task(void *arg) {
    rmq_pq_t *pq = arg;
    rmq_push_consumer_t *c = pq->c;
    rmq_pc_issue_pull(pq);
    consumer_unref(c);
}

static void pull_later_drop(void *arg) {
    consumer_unref(((rmq_pq_t *)arg)->c);
}

/* The flow-control timer: pulls only if consumption has not resumed pulling already. */
static void pull_flow_task(void *arg) {
    rmq_pq_t *pq = arg;
    rmq_push_consumer_t *c = pq->c;
    pthread_mutex_lock(&pq->mu);
    bool mine = pq->flow_wait;
    pq->flow_wait = false;
    pthread_mutex_unlock(&pq->mu);
    if (mine) rmq_pc_issue_pull(pq);
    consumer_unref(c);
}

static void pull_later(rmq_pq_t *pq, int64_t ms) {
    rmq_push_consumer_t *c = pq->c;
    if (atomic_load(&c->stopping)) return;
    atomic_fetch_add(&c->refs, 1);
    if (rmq_instance_schedule_ex(c->in, ms, pull_later_task, pull_later_drop, pq, c) != RMQ_OK)
        atomic_fetch_sub(&c->refs, 1);
}

/* Replace pq by a fresh one at offset (reset / offset moved): drop in-flight messages. */
void rmq_pc_restart_queue(rmq_push_consumer_t *c, rmq_pq_t *pq, int64_t off, bool commit_now) {
    rmq_pq_t *np = rmq_pc_pq_new(c, &pq->mq, off);
    pthread_mutex_lock(&c->mu);
    pthread_mutex_lock(&pq->mu);
    bool was_dropped = pq->dropped;
    pq->dropped = true;
    if (pq->tasks == 0) rmq_pc_pq_free_msgs(pq);
    if (np) {
        np->locked = pq->locked;
        np->lock_ts = pq->lock_ts;
    }
    pthread_mutex_unlock(&pq->mu);
    if (!was_dropped) {
        for (rmq_pq_t **pp = &c->pqs; *pp; pp = &(*pp)->next) {
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

/* Pipelined pulls. Apache RocketMQ's push consumer keeps one pull per queue in flight and
 * issues the next one from the pull callback; with a backlog, a queue then sits idle for a
 * whole round trip after every 32 messages (8 queues: 256 messages per round trip), and every
 * loop iteration of client and broker carries at most one result per queue. A concurrently
 * consumed queue whose last result was a full, dense batch (32 messages over 32 entries, more
 * behind it per the result's maxOffset) also gets speculative pulls, up to RMQ_PULL_DEPTH in
 * flight, each at the offset the pull before it is expected to end at. Results are applied
 * strictly in issue order; a speculative pull whose offset turns out not to be where the
 * previous result ended (filtered entries, a batch cut short by the broker's byte limit, an
 * error) is dropped unread when its turn comes, and the queue pulls again from its true
 * position, so no message is skipped or delivered twice. A speculative pull never asks the
 * broker to hold it (no suspend flag), carries no commit offset, and is only sent while the
 * queue's messages plus those in flight stay under pullThresholdForQueue and its bytes under
 * half of pullThresholdSizeForQueue; orderly queues keep one pull. */

/* Whether res, the result of a pull at off (raw: as the broker answered, before tag
 * filtering), makes a speculative pull at spec worth sending. mu held. */
static bool spec_ok(const rmq_pq_t *pq, int64_t off, const rmq_pull_result_t *res, int64_t spec) {
    const rmq_push_consumer_t *c = pq->c;
    int64_t batch = c->pull_batch;
    return c->mode == RMQ_LISTEN_CONCURRENTLY && pq->inflight < RMQ_PULL_DEPTH &&
           res->status == RMQ_PULL_FOUND && (int64_t)res->n == batch &&
           res->next_offset - off == batch && spec < res->max_offset &&
           (int64_t)pq->count + (pq->inflight + 1) * batch <= c->thr_count &&
           (int64_t)pq->bytes * 2 <= c->thr_bytes;
}

/* Take a slot for a pull of pq at off (mu held); NULL when all are busy. */
static rmq_pull_slot_t *slot_take(rmq_pq_t *pq, int64_t off, bool spec, const char *addr) {
    if (pq->inflight >= RMQ_PULL_DEPTH) return NULL;
    rmq_pull_slot_t *sl = &pq->slot[pq->seq_issue % RMQ_PULL_DEPTH];
    if (sl->busy) return NULL;
    sl->pq = pq;
    sl->seq = pq->seq_issue++;
    sl->off = off;
    sl->t0 = rmq_mono_ms();
    sl->busy = true;
    sl->arrived = false;
    sl->spec = spec;
    sl->err = RMQ_OK;
    sl->resp = NULL;
    rmq_strlcpy(sl->addr, addr, sizeof sl->addr);
    pq->inflight++;
    return sl;
}

/* Give back the slot of a pull that could not be sent (mu held). It was the last one taken:
 * pulls are issued by one party at a time (the chain's holder). */
static void slot_undo(rmq_pq_t *pq, rmq_pull_slot_t *sl) {
    if (sl->seq + 1 == pq->seq_issue) {
        pq->seq_issue--;
        sl->busy = false;
        pq->inflight--;
    } else { /* not expected; let it be dropped as stale in its turn */
        sl->off = -1;
        sl->err = RMQ_ERR__FAIL;
        sl->arrived = true;
    }
}

/* Send a pull of pq at off. spec: speculative (see above). Returns false when it could not be
 * sent (no slot, no route, no memory); a normal pull then retries later. */
static bool pull_send(rmq_pq_t *pq, int64_t off, int64_t commit, bool spec) {
    rmq_push_consumer_t *c = pq->c;
    const rmq_csub_t *s = find_sub(c, pq->mq.topic);
    char addr[64];
    bool slave = false; /* cache only: this may run on the loop thread */
    if (rmq_consumer_pull_addr(c->in, &c->nodes, &pq->mq, false, addr, sizeof addr, &slave) !=
        RMQ_OK) {
        if (!spec) pull_later(pq, c->pull_delay_exc);
        return false;
    }
    /* SQL92 goes as Java's push consumer sends it: no expression in the pull, so the broker
     * uses the one it compiled from our heartbeat */
    bool sql = s && s->sub.sql;
    int sysflag = (spec ? 0 : RMQ_PULL_F_SUSPEND) | (sql ? 0 : RMQ_PULL_F_SUBSCRIPTION);
    /* a slave ignores the flag: that offset goes by UPDATE_CONSUMER_OFFSET (persist) */
    if (!spec && !c->broadcast && commit > 0 && !slave) sysflag |= RMQ_PULL_F_COMMIT_OFFSET;
    rmq_pull_req_t r = {
        .group = c->group,
        .mq = &pq->mq,
        .offset = off,
        .commit_offset = (c->broadcast || spec) ? 0 : commit,
        .sub_version = s ? s->sub.version : 0,
        .max_msgs = c->pull_batch,
        .sysflag = sysflag,
        .suspend_ms = PULL_SUSPEND_MS,
        .subscription = sql ? NULL
                        : s ? s->sub.expr
                            : "*",
        .expression_type = sql ? "SQL92" : "TAG",
        .binary_header = c->binary,
    };
    rmq_rem_cmd_t *req = rmq_pull_request(&r);
    if (!req) {
        if (!spec) pull_later(pq, c->pull_delay_exc);
        return false;
    }
    pthread_mutex_lock(&pq->mu);
    rmq_pull_slot_t *sl = slot_take(pq, off, spec, addr);
    if (sl && !c->broadcast && (sysflag & RMQ_PULL_F_COMMIT_OFFSET)) pq->committed = commit;
    pthread_mutex_unlock(&pq->mu);
    if (!sl) {
        rmq_rem_cmd_destroy(req);
        if (!spec) {
            RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d: %d pulls already in flight", pq->mq.topic,
                          pq->mq.broker, pq->mq.queue_id, RMQ_PULL_DEPTH);
            pull_later(pq, c->pull_delay_exc);
        }
        return false;
    }
    atomic_fetch_add(&c->refs, 1);
    if (rmq_instance_invoke_async(c->in, addr, req, PULL_TIMEOUT_MS, on_pull, sl) != RMQ_OK) {
        pthread_mutex_lock(&pq->mu);
        slot_undo(pq, sl);
        pthread_mutex_unlock(&pq->mu);
        atomic_fetch_sub(&c->refs, 1);
        if (!spec) pull_later(pq, c->pull_delay_exc);
        return false;
    }
    return true;
}

/* After a FOUND or empty result at off was applied (loop thread): keep the queue pulling. The
 * pull after it may be in flight already (a speculative one that guessed right); otherwise the
 * normal pull goes out now. Then speculative ones ahead of the chain while the backlog and the
 * thresholds allow, up to RMQ_PULL_DEPTH in flight. */
static void pull_next(rmq_pq_t *pq, int64_t off, const rmq_pull_result_t *res) {
    int64_t batch = pq->c->pull_batch;
    pthread_mutex_lock(&pq->mu);
    bool valid = false;
    int64_t tail = pq->next_pull; /* where the valid chain in flight ends */
    for (uint64_t q = pq->seq_apply; q < pq->seq_issue; q++) {
        const rmq_pull_slot_t *sl = &pq->slot[q % RMQ_PULL_DEPTH];
        if (sl->busy && sl->off == tail) {
            valid = true;
            tail += batch;
        }
    }
    if (!valid) tail += batch; /* the normal pull issued below */
    pthread_mutex_unlock(&pq->mu);
    if (!valid && !rmq_pc_issue_pull(pq)) return; /* stale or none ahead: pull from next_pull */
    while (!atomic_load(&pq->c->stopping)) {
        pthread_mutex_lock(&pq->mu);
        bool more = !pq->dropped && spec_ok(pq, off, res, tail);
        pthread_mutex_unlock(&pq->mu);
        if (!more || !pull_send(pq, tail, 0, true)) break;
        tail += batch;
    }
}

/* Apply one answered pull of pq, in issue order (loop thread). sl is a copy of its slot. */
static void pull_apply(rmq_pq_t *pq, const rmq_pull_slot_t *sl) {
    rmq_push_consumer_t *c = pq->c;
    rmq_rem_cmd_t *resp = sl->resp;
    rmq_err_t err = sl->err;
    if (atomic_load(&c->stopping) || err == RMQ_ERR__CLOSED) {
        rmq_rem_cmd_destroy(resp);
        return;
    }
    pthread_mutex_lock(&pq->mu);
    bool dropped = pq->dropped;
    bool stale = sl->off != pq->next_pull;
    pthread_mutex_unlock(&pq->mu);
    if (dropped || stale) { /* stale: a speculative pull that guessed wrong; the chain goes on */
        rmq_rem_cmd_destroy(resp);
        return;
    }
    rmq_pull_result_t res;
    rmq_err_t e = err;
    int64_t suggest = 0;
    const rmq_csub_t *s = find_sub(c, pq->mq.topic);
    bool tag_filter = s && !s->sub.all && !s->sub.sql;
    bool retry_topic = strcmp(pq->mq.topic, c->retry_topic) == 0;
    /* topic and properties are copied by the consume pool (rmq_msg_unpack before the
     * listener), unless this thread needs them: tags to filter, the original topic of a retry
     * message, or an orderly queue (its rounds read the messages from pq) */
    bool defer = c->mode == RMQ_LISTEN_CONCURRENTLY && !tag_filter && !retry_topic;
    if (!e) e = rmq_pull_response(resp, defer, &res, &suggest);
    if (e && resp && resp->remark && e == (rmq_err_t)resp->code) /* the broker's reason too */
        RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d: %s: %s", pq->mq.topic, pq->mq.broker,
                      pq->mq.queue_id, rmq_strerror(e), resp->remark);
    else if (e)
        RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d: %s", pq->mq.topic, pq->mq.broker,
                      pq->mq.queue_id, rmq_strerror(e));
    rmq_rem_cmd_destroy(resp);
    pq->pull_t0 = sl->t0;
    if (!e) rmq_pull_nodes_set(&c->nodes, &pq->mq, suggest);
    if (!e) rmq_pc_note_pull(c, pq, res.status == RMQ_PULL_FOUND ? res.n : 0);
    if (e) {
        if (e == RMQ_ERR__TIMEOUT || e == RMQ_ERR__CONN) rmq_instance_addr_failed(c->in, sl->addr);
        pull_later(pq, e == RMQ_ERR_FLOW_CONTROL ? 20 : c->pull_delay_exc);
        return;
    }
    switch (res.status) {
    case RMQ_PULL_FOUND: {
        size_t k = 0;
        pthread_mutex_lock(&pq->mu);
        for (size_t i = 0; i < res.n; i++) {
            rmq_msg_t *m = res.msgs[i];
            /* TAGS looked up only when the subscription names tags */
            if (tag_filter && !rmq_sub_match(&s->sub, rmq_msg_tags(m))) {
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
        if (k)
            rmq_pc_dispatch(c, pq, res.msgs, k); /* takes the array */
        else
            free(res.msgs);
        pthread_mutex_lock(&pq->mu);
        if (--pq->tasks == 0 && pq->dropped) rmq_pc_pq_free_msgs(pq);
        pthread_mutex_unlock(&pq->mu);
        res.msgs = NULL;
        pull_next(pq, sl->off, &res);
        break;
    }
    case RMQ_PULL_NO_NEW_MSG:
    case RMQ_PULL_NO_MATCHED_MSG:
        pthread_mutex_lock(&pq->mu);
        pq->next_pull = res.next_offset;
        if (pq->count == 0) pq->commit = pq->next_pull;
        pthread_mutex_unlock(&pq->mu);
        pull_next(pq, sl->off, &res);
        break;
    case RMQ_PULL_OFFSET_ILLEGAL:
        RMQ_ILOG_WARN(c->log, MOD, "pull %s@%s:%d offset %" PRId64 " moved to %" PRId64,
                      pq->mq.topic, pq->mq.broker, pq->mq.queue_id, pq->next_pull, res.next_offset);
        rmq_pc_restart_queue(c, pq, res.next_offset, true);
        break;
    }
}

/* A pull answered (loop thread): keep it in its slot until every earlier pull of the queue
 * has been applied, then apply what is ready, in order. Each pull holds a consumer reference,
 * let go once it has been applied. */
static void on_pull(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    rmq_pull_slot_t *arrived = arg;
    rmq_pq_t *pq = arrived->pq;
    rmq_push_consumer_t *c = pq->c;
    int done = 0;
    pthread_mutex_lock(&pq->mu);
    arrived->resp = resp;
    arrived->err = err;
    arrived->arrived = true;
    for (;;) {
        rmq_pull_slot_t *h = &pq->slot[pq->seq_apply % RMQ_PULL_DEPTH];
        if (!h->busy || !h->arrived || h->seq != pq->seq_apply) break;
        rmq_pull_slot_t sl = *h;
        h->busy = false;
        h->arrived = false;
        h->resp = NULL;
        pq->seq_apply++;
        pq->inflight--;
        pthread_mutex_unlock(&pq->mu);
        pull_apply(pq, &sl);
        done++;
        pthread_mutex_lock(&pq->mu);
    }
    pthread_mutex_unlock(&pq->mu);
    while (done-- > 0) consumer_unref(c);
}

bool rmq_pc_issue_pull(rmq_pq_t *pq) {
    rmq_push_consumer_t *c = pq->c;
    if (atomic_load(&c->stopping)) return false;
    pthread_mutex_lock(&pq->mu);
    bool dropped = pq->dropped;
    size_t cnt = pq->count, bytes = pq->bytes;
    int64_t off = pq->next_pull, commit = pq->commit;
    bool flow = !dropped && ((int64_t)cnt > c->thr_count || (int64_t)bytes > c->thr_bytes);
    if (flow) pq->flow_wait = true;
    pthread_mutex_unlock(&pq->mu);
    if (dropped) return false;
    if (flow) { /* flow control: retry in FLOW_DELAY_MS, or sooner once consumption drains */
        atomic_fetch_add(&c->refs, 1);
        if (rmq_instance_schedule_ex(c->in, FLOW_DELAY_MS, pull_flow_task, pull_later_drop, pq,
                                     c) != RMQ_OK)
            atomic_fetch_sub(&c->refs, 1);
        return false;
    }
    return pull_send(pq, off, commit, false);
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
    for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next) {
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
int64_t rmq_pc_start_offset(rmq_push_consumer_t *c, const rmq_mq_t *mq) {
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
        if (retry)
            e = rmq_max_offset(c->in, mq, &off);
        else
            e = rmq_search_offset(c->in, mq, c->from_ts, &off);
        return e ? -1 : off;
    }
    if (retry) return 0;
    e = rmq_max_offset(c->in, mq, &off);
    return e ? -1 : off;
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
        json_array_append_new(subs, json_pack("{s:b,s:o,s:s,s:s,s:I,s:o,s:s}", "classFilterMode", 0,
                                              "codeSet", codes, "expressionType",
                                              s->sql ? "SQL92" : "TAG", "subString", s->expr,
                                              "subVersion", (json_int_t)s->version, "tagsSet", tags,
                                              "topic", s->topic));
    }
    json_array_append_new(arr,
                          json_pack("{s:s,s:s,s:s,s:s,s:o,s:b}", "consumeFromWhere", c->from_where,
                                    "consumeType", "CONSUME_PASSIVELY", "groupName", c->group,
                                    "messageModel", c->broadcast ? "BROADCASTING" : "CLUSTERING",
                                    "subscriptionDataSet", subs, "unitMode", 0));
}

/* ---- public API --------------------------------------------------------------------- */

rmq_push_consumer_t *rmq_push_consumer_new(rmq_conf_t *conf, char *err, size_t n) {
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
    rmq_pull_nodes_init(&c->nodes);
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_mutex_init(&c->stats_mu, NULL);
    return c;
}

/* Add or replace the subscription of s's topic; takes s. */
static rmq_err_t add_sub(rmq_push_consumer_t *c, rmq_csub_t s) {
    const char *topic = s.sub.topic;
    for (int i = 0; i < c->nsubs; i++) {
        if (strcmp(c->subs[i].sub.topic, topic) == 0) { /* replace */
            rmq_sub_fini(&c->subs[i].sub);
            c->subs[i] = s;
            return RMQ_OK;
        }
    }
    rmq_csub_t *ns = realloc(c->subs, (size_t)(c->nsubs + 1) * sizeof(*ns));
    if (!ns) {
        rmq_sub_fini(&s.sub);
        return RMQ_ERR__NOMEM;
    }
    c->subs = ns;
    c->subs[c->nsubs++] = s;
    return RMQ_OK;
}

rmq_err_t rmq_push_consumer_subscribe(rmq_push_consumer_t *c, const char *topic, const char *tags) {
    if (!c || !topic) return RMQ_ERR__INVALID_ARG;
    if (c->started) return RMQ_ERR__STATE;
    rmq_csub_t s = {0};
    rmq_err_t e = rmq_sub_parse(topic, tags, &s.sub);
    return e ? e : add_sub(c, s);
}

rmq_err_t rmq_push_consumer_subscribe_sql(rmq_push_consumer_t *c, const char *topic,
                                          const char *expr) {
    if (!c || !topic || !expr) return RMQ_ERR__INVALID_ARG;
    if (c->started) return RMQ_ERR__STATE;
    rmq_csub_t s = {0};
    rmq_err_t e = rmq_sub_parse_sql(topic, expr, &s.sub);
    return e ? e : add_sub(c, s);
}

/* CHECK_CLIENT_CONFIG (46) for an SQL92 subscription to every broker of its topic, as the Java
 * consumer does at start: the broker compiles it. The first refusal is returned and logged
 * with the broker's reason. */
static rmq_err_t check_sql(rmq_push_consumer_t *c, const rmq_sub_t *s) {
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(c->in, s->topic, false, false, &ti);
    if (e) return RMQ_OK; /* no route yet: nothing to ask; pulls will tell */
    for (int i = 0; i < ti->nsub && !e; i++) {
        bool seen = false;
        for (int k = 0; k < i && !seen; k++) seen = !strcmp(ti->sub[k].broker, ti->sub[i].broker);
        char addr[64];
        if (seen || rmq_consumer_broker_addr(c->in, &ti->sub[i], addr, sizeof addr)) continue;
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CHECK_CLIENT_CONFIG);
        json_t *body =
            json_pack("{s:s,s:s,s:{s:b,s:[],s:s,s:s,s:I,s:[],s:s}}", "clientId",
                      rmq_instance_client_id(c->in), "group", c->group, "subscriptionData",
                      "classFilterMode", 0, "codeSet", "expressionType", "SQL92", "subString",
                      s->expr, "subVersion", (json_int_t)s->version, "tagsSet", "topic", s->topic);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!req || !text) {
            free(text);
            rmq_rem_cmd_destroy(req);
            e = RMQ_ERR__NOMEM;
            break;
        }
        rmq_rem_cmd_set_body(req, text, strlen(text));
        rmq_rem_cmd_t *resp = NULL;
        e = rmq_instance_invoke_sync(c->in, addr, req, 0, &resp);
        if (!e && resp->code != RMQ_OK) {
            e = (rmq_err_t)resp->code;
            RMQ_ILOG_ERROR(c->log, MOD,
                           "consumer %s: broker %s refuses SQL92 filter on %s [%s]: %s", c->group,
                           ti->sub[i].broker, s->topic, s->expr,
                           resp->remark ? resp->remark : rmq_strerror(e));
        } else if (e) {
            RMQ_ILOG_WARN(c->log, MOD, "consumer %s: CHECK_CLIENT_CONFIG to %s: %s", c->group, addr,
                          rmq_strerror(e));
            e = RMQ_OK; /* unreachable now: pulls will tell */
        }
        rmq_rem_cmd_destroy(resp);
    }
    rmq_topic_info_release(ti);
    return e;
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
    c->member.rebalance = rmq_pc_rebalance;
    c->member.persist = persist;
    c->member.reset_offset = rmq_pc_reset_offset;
    c->member.running_info = rmq_pc_running_info;
    c->member.consume_direct = rmq_pc_consume_direct;
    if (rmq_pc_stats_init(c)) return RMQ_ERR__NOMEM;
    char err[256];
    c->in = rmq_instance_get(c->conf, &c->member, err, sizeof err);
    if (c->in) c->log = rmq_instance_log(c->in);
    if (!c->in) {
        rmq_logger_t lg = rmq_conf_logger(c->conf); /* no instance to log through */
        RMQ_ILOG_WARN(&lg, MOD, "consumer %s: %s", c->group, err);
        return RMQ_ERR__CONFIG;
    }
    for (int i = 0; i < c->nsubs; i++) {
        rmq_err_t e = c->subs[i].sub.sql ? check_sql(c, &c->subs[i].sub) : RMQ_OK;
        if (e) {
            rmq_instance_release(c->in, &c->member);
            c->in = NULL;
            return e;
        }
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
    c->pool_thr = calloc((size_t)c->nthreads, sizeof(*c->pool_thr));
    c->pool_active = rmq_pc_pool_active(c->nthreads);
    int started = 0;
    for (; c->pool_thr && started < c->nthreads; started++) {
        rmq_pool_thr_t *th = &c->pool_thr[started];
        th->c = c;
        rmq_wake_init(&th->wake);
        pthread_mutex_lock(&c->pool_mu);
        c->pool_running++; /* until it finds the queue empty */
        pthread_mutex_unlock(&c->pool_mu);
        if (pthread_create(&th->tid, NULL, rmq_pc_pool_main, th)) {
            pthread_mutex_lock(&c->pool_mu);
            c->pool_running--;
            pthread_mutex_unlock(&c->pool_mu);
            rmq_wake_fini(&th->wake);
            break;
        }
    }
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
        if (e == RMQ_OK)
            rmq_topic_info_release(ti);
        else if (!c->subs[i].retry)
            RMQ_ILOG_WARN(c->log, MOD, "route of %s: %s", c->subs[i].sub.topic, rmq_strerror(e));
    }
    c->started = true;
    rmq_instance_heartbeat_sync(c->in);
    rmq_instance_schedule(c->in, 0, rmq_pc_rebalance_task, c, c);
    return RMQ_OK;
}

rmq_err_t rmq_push_consumer_assigned(rmq_push_consumer_t *c, rmq_mq_t **mqs, size_t *n) {
    if (!c || !mqs || !n) return RMQ_ERR__INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    size_t cnt = 0;
    for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next) cnt++;
    rmq_mq_t *arr = malloc((cnt ? cnt : 1) * sizeof(*arr));
    size_t k = 0;
    if (arr)
        for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next) arr[k++] = pq->mq;
    pthread_mutex_unlock(&c->mu);
    if (!arr) return RMQ_ERR__NOMEM;
    if (k > 1) qsort(arr, k, sizeof(*arr), rmq_mq_cmp);
    *mqs = arr;
    *n = k;
    return RMQ_OK;
}

static void consumer_free(rmq_push_consumer_t *c) {
    for (rmq_pq_t *pq = c->pqs, *nx; pq; pq = nx) {
        nx = pq->next;
        pq_free(pq);
    }
    for (rmq_pq_t *pq = c->grave, *nx; pq; pq = nx) {
        nx = pq->next;
        pq_free(pq);
    }
    rmq_pc_stats_fini(c);
    pthread_mutex_destroy(&c->stats_mu);
    for (int i = 0; i < c->nsubs; i++) rmq_sub_fini(&c->subs[i].sub);
    free(c->subs);
    for (int i = 0; c->pool_thr && i < c->nthreads; i++) rmq_wake_fini(&c->pool_thr[i].wake);
    free(c->pool_thr);
    rmq_conf_destroy(c->conf);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->rb_mu);
    rmq_pull_nodes_fini(&c->nodes);
    pthread_mutex_destroy(&c->pool_mu);
    free(c);
}

static void consumer_unref(rmq_push_consumer_t *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) consumer_free(c);
}

void rmq_pc_unref(rmq_push_consumer_t *c) {
    consumer_unref(c);
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
        pthread_mutex_unlock(&c->pool_mu);
        for (int i = 0; i < c->nthreads; i++) rmq_wake_signal(&c->pool_thr[i].wake);
        for (int i = 0; i < c->nthreads; i++) pthread_join(c->pool_thr[i].tid, NULL);
        for (rmq_consume_task_t *t = c->q_head, *nx; t; t = nx) {
            nx = t->next;
            rmq_pc_task_release(t);
        }
        c->q_head = c->q_tail = NULL;
        rmq_instance_cancel(c->in, c); /* tasks scheduled by the last listeners */
        /* final offsets, synchronously; release orderly locks */
        if (c->broadcast) {
            persist(c);
        } else {
            pthread_mutex_lock(&c->mu);
            for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next) {
                pthread_mutex_lock(&pq->mu);
                int64_t off = pq->commit;
                pthread_mutex_unlock(&pq->mu);
                if (off >= 0) rmq_update_offset(c->in, c->group, &pq->mq, off, false);
                if (c->mode == RMQ_LISTEN_ORDERLY) rmq_pc_lock_batch(c, &pq->mq, 1, false, NULL);
            }
            pthread_mutex_unlock(&c->mu);
        }
        /* c->in stays set: a pull callback racing with us may still read it; the instance
         * outlives every callback of its loop */
        rmq_instance_release(c->in, &c->member);
    }
    consumer_unref(c);
}
