/* Rebalance of the push consumer (RebalancePushImpl): allocation of each subscribed topic's
 * queues among the group's consumers (AllocateMessageQueueAveragely), the process-queue table
 * (queues added at their start offset, dropped ones sent to the graveyard), orderly queue locks
 * (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) and offset resets from the broker. See push_consumer.h. */
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

/* ---- orderly locks ------------------------------------------------------------------- */

static json_t *mq_json(const rmq_mq_t *mq) {
    return json_pack("{s:s,s:i,s:s}", "brokerName", mq->broker, "queueId", mq->queue_id, "topic",
                     mq->topic);
}

/* LOCK_BATCH_MQ (lock true) or UNLOCK_BATCH_MQ for mqs of one broker; for a lock, locked[i]
 * says which ones the broker granted. */
rmq_err_t rmq_pc_lock_batch(rmq_push_consumer_t *c, const rmq_mq_t *mqs, int n, bool lock,
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
    json_t *root = NULL;
    e = rmq_instance_invoke_json(c->in, addr, req, 0, &root);
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
        if (rmq_pc_lock_batch(c, mqs + i, j - i, true, locked + i) != RMQ_OK)
            RMQ_ILOG_WARN(c->log, MOD, "LOCK_BATCH_MQ on %s failed", mqs[i].broker);
        i = j;
    }
}

/* ---- rebalance ---------------------------------------------------------------------- */

static void drop_pq(rmq_push_consumer_t *c, rmq_pq_t *pq) { /* c->mu held; pq unlinked by caller */
    pthread_mutex_lock(&pq->mu);
    pq->dropped = true;
    int64_t off = pq->commit;
    if (pq->tasks == 0) rmq_pc_pq_free_msgs(pq);
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
        /* master first; a slave answers too (consumers heartbeat every address of a set) */
        const char *a = rmq_route_any_addr(ti->route, ti->route->q[i].broker);
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
    for (rmq_pq_t **pp = &c->pqs; *pp;) {
        rmq_pq_t *pq = *pp;
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
    for (int i = 0; i < nunlock; i++) rmq_pc_lock_batch(c, &unlock[i], 1, false, NULL);
    free(unlock);
    /* added queues (and lock renewal for orderly) */
    bool *locked = NULL;
    if (c->mode == RMQ_LISTEN_ORDERLY && !c->broadcast && nmine > 0) {
        locked = calloc((size_t)nmine, sizeof(bool));
        if (locked) lock_all(c, mine, nmine, locked);
    }
    for (int i = 0; i < nmine; i++) {
        rmq_pq_t *cur = NULL;
        pthread_mutex_lock(&c->mu);
        for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next)
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
        int64_t off = rmq_pc_start_offset(c, &mine[i]);
        if (off < 0) continue;
        rmq_pq_t *pq = rmq_pc_pq_new(c, &mine[i], off);
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
        rmq_pc_issue_pull(pq);
    }
    free(locked);
    free(mine);
    free(all);
    return changed;
}

void rmq_pc_rebalance(void *owner) {
    rmq_push_consumer_t *c = owner;
    if (atomic_load(&c->stopping) || !c->started) return;
    pthread_mutex_lock(&c->rb_mu);
    bool changed = false;
    for (int i = 0; i < c->nsubs && !atomic_load(&c->stopping); i++)
        changed |= rebalance_topic(c, c->subs[i].sub.topic);
    pthread_mutex_unlock(&c->rb_mu);
    if (changed) rmq_instance_heartbeat_soon(c->in);
}

void rmq_pc_rebalance_task(void *arg) {
    rmq_pc_rebalance(arg);
}

void rmq_pc_reset_offset(void *owner, const char *topic, const rmq_mq_t *mqs, const int64_t *offs,
                         int n) {
    rmq_push_consumer_t *c = owner;
    if (atomic_load(&c->stopping)) return;
    for (int i = 0; i < n; i++) {
        if (strcmp(mqs[i].topic, topic) != 0) continue;
        rmq_pq_t *target = NULL;
        pthread_mutex_lock(&c->mu);
        for (rmq_pq_t *pq = c->pqs; pq; pq = pq->next)
            if (rmq_mq_eq(&pq->mq, &mqs[i])) target = pq;
        pthread_mutex_unlock(&c->mu);
        if (target)
            rmq_pc_restart_queue(c, target, offs[i], true);
        else if (!c->broadcast)
            rmq_update_offset(c->in, c->group, &mqs[i], offs[i], true);
    }
}
