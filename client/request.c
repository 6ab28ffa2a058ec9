/* The table of requests waiting for their reply, and the PUSH_REPLY_MESSAGE_TO_CLIENT decoder
 * (request.h). One mutex guards the list and is the sync waiters' condition mutex: a waiter
 * and the completer agree under it on who removed the entry. The list is short (requests in
 * flight), so a linear scan is enough. */
#include "client/request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/msg.h"
#include "common/util.h"

struct rmq_reqtab_s {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* sync waiters (CLOCK_MONOTONIC) */
    rmq_reqent_t *head;
    int n;
};

rmq_reqtab_t *rmq_reqtab_new(void) {
    rmq_reqtab_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    return t;
}

/* mu held: unlink e if present. */
static bool unlink_ent(rmq_reqtab_t *t, rmq_reqent_t *e) {
    for (rmq_reqent_t **pp = &t->head; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            e->next = NULL;
            t->n--;
            return true;
        }
    }
    return false;
}

void rmq_reqtab_destroy(rmq_reqtab_t *t) {
    if (!t) return;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        rmq_reqent_t *e = t->head;
        if (e) unlink_ent(t, e);
        pthread_mutex_unlock(&t->mu);
        if (!e) break;
        e->err = RMQ_ERR__CLOSED;
        e->done = true;
        if (e->complete) e->complete(e);
    }
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

void rmq_reqtab_add(rmq_reqtab_t *t, rmq_reqent_t *e) {
    pthread_mutex_lock(&t->mu);
    e->next = t->head;
    t->head = e;
    t->n++;
    pthread_mutex_unlock(&t->mu);
}

bool rmq_reqtab_complete(rmq_reqtab_t *t, const char *corr, rmq_msg_t *reply, rmq_err_t err) {
    pthread_mutex_lock(&t->mu);
    rmq_reqent_t *e = t->head;
    while (e && strcmp(e->corr, corr) != 0) e = e->next;
    if (!e) {
        pthread_mutex_unlock(&t->mu);
        rmq_msg_destroy(reply);
        return false;
    }
    unlink_ent(t, e);
    e->reply = reply;
    e->err = err;
    e->done = true;
    bool async = e->complete != NULL;
    if (!async) pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (async) e->complete(e);
    return true;
}

bool rmq_reqtab_remove(rmq_reqtab_t *t, rmq_reqent_t *e) {
    pthread_mutex_lock(&t->mu);
    bool was = unlink_ent(t, e);
    pthread_mutex_unlock(&t->mu);
    return was;
}

void rmq_reqtab_wait(rmq_reqtab_t *t, rmq_reqent_t *e, uint64_t deadline_ms) {
    pthread_mutex_lock(&t->mu);
    while (!e->done) {
        uint64_t now = rmq_mono_ms();
        if (now >= deadline_ms) {
            unlink_ent(t, e);
            e->err = RMQ_ERR__TIMEOUT;
            e->done = true;
            break;
        }
        struct timespec ts = rmq_deadline_ts(CLOCK_MONOTONIC, deadline_ms - now);
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
}

int rmq_reqtab_count(rmq_reqtab_t *t) {
    pthread_mutex_lock(&t->mu);
    int n = t->n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* ---- PUSH_REPLY_MESSAGE_TO_CLIENT ------------------------------------------------------- */

typedef struct {
    rmq_msg_t *m;
    rmq_err_t e;
} props_ctx_t;

static bool set_prop(const char *k, size_t kl, const char *v, size_t vl, void *arg) {
    props_ctx_t *pc = arg;
    char *ks = strndup(k, kl), *vs = strndup(v, vl);
    if (!ks || !vs || rmq_msg_prop_set(pc->m, ks, vs)) pc->e = RMQ_ERR__NOMEM;
    free(ks);
    free(vs);
    return pc->e == RMQ_OK;
}

static int64_t field_i64(const rmq_rem_cmd_t *req, const char *k, int64_t dflt) {
    int64_t v;
    return rmq_rem_cmd_get_i64(req, k, &v) == RMQ_OK ? v : dflt;
}

rmq_err_t rmq_reply_push_decode(const rmq_rem_cmd_t *req, rmq_msg_t **out) {
    *out = NULL;
    const char *topic = rmq_rem_cmd_get(req, "topic");
    if (!topic || !*topic) return RMQ_ERR__BAD_MSG;
    int sysflag = (int)field_i64(req, "sysFlag", 0);
    const uint8_t *body = req->body;
    size_t blen = req->body_len;
    uint8_t *plain = NULL;
    if ((sysflag & RMQ_SYSFLAG_COMPRESSED) && blen) {
        size_t ol = 0;
        if (rmq_msg_inflate(body, blen, 64u << 20, &plain, &ol) == RMQ_OK) {
            body = plain;
            blen = ol;
        }
    }
    rmq_msg_t *m = rmq_msg_new(topic, NULL, NULL, (void *)body, blen, RMQ_MSG_F_COPY);
    free(plain);
    if (!m) return RMQ_ERR__NOMEM;
    m->received = true;
    m->queue_id = (int32_t)field_i64(req, "queueId", -1);
    m->flag = (int32_t)field_i64(req, "flag", 0);
    m->sysflag = sysflag & ~RMQ_SYSFLAG_COMPRESSED;
    m->born_ts = field_i64(req, "bornTimestamp", 0);
    m->store_ts = field_i64(req, "storeTimestamp", 0);
    m->reconsume_times = (int32_t)field_i64(req, "reconsumeTimes", 0);
    const char *props = rmq_rem_cmd_get(req, "properties");
    props_ctx_t pc = {m, RMQ_OK};
    if (props) rmq_msg_prop_each(props, strlen(props), set_prop, &pc);
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, rmq_now_ms());
    if (!pc.e) pc.e = rmq_msg_prop_set(m, RMQ_PROP_REPLY_ARRIVE_TIME, now);
    if (pc.e) {
        rmq_msg_destroy(m);
        return pc.e;
    }
    *out = m;
    return RMQ_OK;
}
