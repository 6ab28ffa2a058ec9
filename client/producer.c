/* Producer: sync / async / oneway / orderly / batch sends, queue choice with latency fault
 * tolerance and retries on another broker, transactions.
 *
 * A send is encoded once on the caller's thread (properties string, compressed body, V2
 * header); async sends hand the request to the remoting loop and complete on the instance's
 * callback thread, which drains completions in batches. A retry re-encodes only the header. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/instance.h"
#include "client/request.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"

#define MOD "producer"

struct rmq_producer_s {
    rmq_conf_t *conf;
    rmq_instance_t *in;
    const rmq_logger_t *log; /* the instance's: this object's lines go to its conf's sink */
    rmq_member_t member;
    char group[256];
    int send_timeout, retries, retries_async, compress_over, compress_level, queue_nums;
    size_t max_size;
    bool fault_enable, binary;
    rmq_fault_t fault;
    _Atomic uint32_t rr;
    rmq_txn_cb check;
    void *check_op;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* async sends not yet completed; changed without mu (two lock round trips per message
     * otherwise), mu/cv only for destroy waiting for zero */
    _Atomic int outstanding;
    /* async records for reuse (see async_get): pool under pool_mu for senders, returned
     * pushed by the callback thread without a lock and taken whole when pool runs dry */
    pthread_mutex_t pool_mu;
    struct async_s *pool;
    struct async_s *_Atomic returned;
    _Atomic int pooled;
    /* request-reply: topics whose brokers had our heartbeat before the first request (mu) */
    char (*req_topics)[128];
    int nreq_topics;
};

/* One encoded send: everything needed to (re)build the request. */
typedef struct {
    char *props;   /* owned */
    uint8_t *body; /* owned (compressed, a batch), or the message's own when body_borrowed */
    size_t body_len;
    bool body_borrowed; /* the caller's message body: valid for the call only */
    int sysflag;
    int flag;
    int reconsume, max_reconsume;
    bool has_reconsume, batch;
    bool reply; /* MSG_TYPE=reply: sent with SEND_REPLY_MESSAGE_V2 */
    int64_t born_ts;
    char topic[128];
    char uniq[33];
} enc_t;

static void enc_fini(enc_t *e) {
    free(e->props);
    if (!e->body_borrowed) free(e->body);
}

static bool is_retry_topic(const char *t) {
    return strncmp(t, RMQ_RETRY_PREFIX, strlen(RMQ_RETRY_PREFIX)) == 0;
}

/* Validate and encode m. txn adds TRAN_MSG / PGROUP and the PREPARED bit. */
static rmq_err_t encode_msg(rmq_producer_t *p, const rmq_msg_t *m, bool txn, enc_t *out) {
    memset(out, 0, sizeof(*out));
    if (!m || !m->topic || !*m->topic || strlen(m->topic) >= sizeof(out->topic))
        return RMQ_ERR__INVALID_ARG;
    if (m->body_len == 0) return RMQ_ERR__BAD_MSG; /* Java: "the message body length is zero" */
    if (m->body_len > p->max_size) {
        RMQ_ILOG_WARN(p->log, MOD, "message body %zu > maxMessageSize %zu", m->body_len,
                      p->max_size);
        return RMQ_ERR__MSG_TOO_BIG;
    }
    rmq_msg_t *mm = (rmq_msg_t *)m; /* the id is set on the caller's message, as Java does */
    const char *uk = rmq_msg_property(m, RMQ_PROP_UNIQ_KEY);
    if (!uk) {
        rmq_uniq_next(rmq_instance_uniq(p->in), out->uniq);
        if (rmq_msg_prop_set(mm, RMQ_PROP_UNIQ_KEY, out->uniq)) return RMQ_ERR__NOMEM;
    } else {
        rmq_strlcpy(out->uniq, uk, sizeof(out->uniq));
    }
    rmq_strlcpy(out->topic, m->topic, sizeof(out->topic));
    out->flag = m->flag;
    out->born_ts = rmq_now_ms();
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_err_t e = RMQ_OK;
    bool retry = is_retry_topic(m->topic);
    bool has_wait = false;
    for (size_t i = 0; i < m->nprops && !e; i++) {
        const char *k = m->props[i].key;
        if (retry && strcmp(k, RMQ_PROP_RECONSUME_TIME) == 0) {
            out->reconsume = atoi(m->props[i].val);
            out->has_reconsume = true;
            continue;
        }
        if (retry && strcmp(k, RMQ_PROP_MAX_RECONSUME_TIMES) == 0) {
            out->max_reconsume = atoi(m->props[i].val);
            out->has_reconsume = true;
            continue;
        }
        if (txn && (strcmp(k, RMQ_PROP_TRAN_MSG) == 0 || strcmp(k, RMQ_PROP_PGROUP) == 0)) continue;
        if (strcmp(k, RMQ_PROP_WAIT) == 0) has_wait = true;
        if (strcmp(k, RMQ_PROP_MSG_TYPE) == 0 &&
            strcmp(m->props[i].val, RMQ_REPLY_MESSAGE_FLAG) == 0)
            out->reply = true;
        e = rmq_msg_prop_append(&b, k, m->props[i].val);
    }
    if (!e && !has_wait) e = rmq_msg_prop_append(&b, RMQ_PROP_WAIT, "true");
    if (!e && txn) e = rmq_msg_prop_append(&b, RMQ_PROP_TRAN_MSG, "true");
    if (!e && txn) e = rmq_msg_prop_append(&b, RMQ_PROP_PGROUP, p->group);
    if (!e && b.len && b.data[b.len - 1] == RMQ_PROP_SEP) b.len--; /* 4.9.1+ form */
    if (!e) e = rmq_buf_append_u8(&b, 0);
    if (e) {
        rmq_buf_fini(&b);
        return RMQ_ERR__NOMEM;
    }
    if (b.len - 1 > 32767) {
        rmq_buf_fini(&b);
        return RMQ_ERR__BAD_MSG;
    }
    out->props = (char *)rmq_buf_detach(&b, NULL);
    if (txn) out->sysflag |= RMQ_SYSFLAG_TXN_PREPARED;
    /* Below compressMsgBodyOverHowmuch the body goes as the caller's bytes: every send copies
     * it before returning (remoting encodes the frame in the caller's thread, an async send
     * keeps its own copy for retries), so it is not copied here first. */
    if (p->compress_over <= 0 || m->body_len < (size_t)p->compress_over) {
        out->body = (uint8_t *)m->body;
        out->body_len = m->body_len;
        out->body_borrowed = true;
    } else if (rmq_body_encode(m->body, m->body_len, p->compress_over, p->compress_level,
                               &out->body, &out->body_len, &out->sysflag)) {
        enc_fini(out);
        return RMQ_ERR__NOMEM;
    }
    return RMQ_OK;
}

static rmq_send_hdr_t send_hdr(rmq_producer_t *p, const enc_t *e, const rmq_mq_t *mq) {
    return (rmq_send_hdr_t){
        .group = p->group,
        .topic = e->topic,
        .default_topic = RMQ_DEFAULT_TOPIC,
        .props = e->props,
        .broker = mq->broker,
        .default_queues = p->queue_nums,
        .queue_id = mq->queue_id,
        .sysflag = e->sysflag,
        .flag = e->flag,
        .reconsume_times = e->reconsume,
        .max_reconsume_times = e->max_reconsume,
        .born_ts = e->born_ts,
        .batch = e->batch,
        .has_reconsume = e->has_reconsume,
        .binary_header = p->binary,
    };
}

static rmq_rem_cmd_t *build_request(rmq_producer_t *p, const enc_t *e, const rmq_mq_t *mq) {
    rmq_send_hdr_t h = send_hdr(p, e, mq);
    rmq_rem_cmd_t *c = rmq_send_request(&h);
    if (!c) return NULL;
    if (e->reply) c->code = RMQ_REQ_SEND_REPLY_MESSAGE_V2; /* as MQClientAPIImpl */
    /* borrowed: the invoke calls copy a borrowed body before they return */
    rmq_rem_cmd_set_body_ref(c, e->body, e->body_len);
    return c;
}

/* Pick a queue of topic (excluding last_broker) and resolve its master address. now:
 * rmq_mono_ms() (the latency fault selector's clock). */
static rmq_err_t pick(rmq_producer_t *p, const char *topic, const char *last_broker, rmq_mq_t *mq,
                      char *addr, size_t addrsz, uint64_t now) {
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(p->in, topic, false, true, &ti);
    if (e) {
        RMQ_ILOG_WARN(p->log, MOD,
                      "no route for topic %s: %s (create it: mqadmin updateTopic -t %s)", topic,
                      rmq_strerror(e), topic);
        return e;
    }
    if (ti->npub == 0) {
        rmq_topic_info_release(ti);
        RMQ_ILOG_WARN(p->log, MOD, "no route for topic %s: no writable queue", topic);
        return RMQ_ERR__NO_ROUTE;
    }
    int i = rmq_select_queue(ti->pub, ti->npub, &p->rr, last_broker,
                             p->fault_enable ? &p->fault : NULL, (int64_t)now);
    *mq = ti->pub[i];
    const char *a = rmq_route_master(ti->route, mq->broker);
    if (!a) {
        RMQ_ILOG_WARN(p->log, MOD, "no route for topic %s: broker %s has no master now", topic,
                      mq->broker);
        e = RMQ_ERR__NO_ROUTE;
    } else {
        rmq_strlcpy(addr, a, addrsz);
    }
    rmq_topic_info_release(ti);
    return e;
}

static void note_latency(rmq_producer_t *p, const char *broker, uint64_t t0, bool failed) {
    if (!p->fault_enable) return;
    uint64_t now = rmq_mono_ms();
    rmq_fault_update(&p->fault, broker, (int64_t)(now - t0), failed, (int64_t)now);
}

/* Synchronous send of an encoded message with retries; fixed_mq pins the queue (no retry on
 * another broker). */
static rmq_err_t send_enc_sync(rmq_producer_t *p, const enc_t *enc, const rmq_mq_t *fixed_mq,
                               rmq_send_result_t *r, char *broker_addr, size_t ba_sz) {
    int attempts = fixed_mq ? 1 : 1 + p->retries;
    char last[64] = "";
    rmq_err_t e = RMQ_ERR__NO_ROUTE;
    uint64_t deadline = rmq_mono_ms() + (uint64_t)p->send_timeout;
    for (int a = 0; a < attempts; a++) {
        rmq_mq_t mq;
        char addr[64];
        if (fixed_mq) {
            mq = *fixed_mq;
            e = rmq_instance_broker_addr(p->in, mq.broker, addr, sizeof addr);
            if (e) {
                rmq_topic_info_t *ti = NULL;
                if (rmq_instance_route(p->in, mq.topic, false, true, &ti) == RMQ_OK) {
                    rmq_topic_info_release(ti);
                    e = rmq_instance_broker_addr(p->in, mq.broker, addr, sizeof addr);
                }
                if (e) {
                    RMQ_ILOG_WARN(p->log, MOD, "no route for topic %s: no master of broker %s",
                                  mq.topic, mq.broker);
                    return RMQ_ERR__NO_ROUTE;
                }
            }
        } else {
            e = pick(p, enc->topic, last[0] ? last : NULL, &mq, addr, sizeof addr, rmq_mono_ms());
            if (e) return e;
        }
        uint64_t now = rmq_mono_ms();
        if (now >= deadline) return RMQ_ERR__TIMEOUT;
        rmq_rem_cmd_t *req = build_request(p, enc, &mq);
        if (!req) return RMQ_ERR__NOMEM;
        rmq_rem_cmd_t *resp = NULL;
        e = rmq_instance_invoke_sync(p->in, addr, req, (int)(deadline - now), &resp);
        if (e == RMQ_OK) {
            e = rmq_send_response(resp, &mq, r);
            rmq_rem_cmd_destroy(resp);
        }
        note_latency(p, mq.broker, now, e != RMQ_OK);
        if (e == RMQ_OK) {
            if (r) rmq_strlcpy(r->msg_id, enc->uniq, sizeof(r->msg_id));
            if (broker_addr) rmq_strlcpy(broker_addr, addr, ba_sz);
            return RMQ_OK;
        }
        RMQ_ILOG_WARN(p->log, MOD, "send %s to %s (%s:%d) failed: %s%s", enc->topic, addr,
                      mq.broker, mq.queue_id, rmq_strerror(e),
                      a + 1 < attempts && rmq_send_retryable(e) ? ", retrying" : "");
        if (!rmq_send_retryable(e)) return e;
        rmq_strlcpy(last, mq.broker, sizeof last);
        if (e == RMQ_ERR_TOPIC_NOT_EXIST || e == RMQ_ERR__CONN) {
            rmq_topic_info_t *ti = NULL; /* the route may have changed */
            if (rmq_instance_route(p->in, enc->topic, true, true, &ti) == RMQ_OK)
                rmq_topic_info_release(ti);
        }
    }
    return e;
}

rmq_err_t rmq_send_sync(rmq_producer_t *p, const rmq_msg_t *m, rmq_send_result_t *r) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_msg(p, m, false, &enc);
    if (e) return e;
    e = send_enc_sync(p, &enc, NULL, r, NULL, 0);
    enc_fini(&enc);
    return e;
}

rmq_err_t rmq_send_to_queue(rmq_producer_t *p, const rmq_msg_t *m, const rmq_mq_t *mq,
                            rmq_send_result_t *r) {
    if (!p || !mq || !m || strcmp(mq->topic, m->topic) != 0) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_msg(p, m, false, &enc);
    if (e) return e;
    e = send_enc_sync(p, &enc, mq, r, NULL, 0);
    enc_fini(&enc);
    return e;
}

int rmq_selector_hash(const rmq_mq_t *mqs, int n, const rmq_msg_t *m, void *arg) {
    if (n <= 0) return 0;
    const char *key = arg;
    int32_t h = key ? rmq_java_hash(key, strlen(key)) : 0;
    int64_t v = (int64_t)h % n;
    return (int)(v < 0 ? -v : v);
}

rmq_err_t rmq_send_orderly(rmq_producer_t *p, const rmq_msg_t *m, rmq_selector_cb sel, void *arg,
                           rmq_send_result_t *r) {
    if (!p || !m || !sel) return RMQ_ERR__INVALID_ARG;
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(p->in, m->topic, false, true, &ti);
    if (e) return e;
    if (ti->npub == 0) {
        rmq_topic_info_release(ti);
        return RMQ_ERR__NO_ROUTE;
    }
    int i = sel(ti->pub, ti->npub, m, arg);
    if (i < 0 || i >= ti->npub) {
        rmq_topic_info_release(ti);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_mq_t mq = ti->pub[i];
    rmq_topic_info_release(ti);
    return rmq_send_to_queue(p, m, &mq, r);
}

/* ---- async ------------------------------------------------------------------------- */

/* One async send: the encoded properties and body in data[], the request frame as sent, and
 * remoting's record of it in call, so the send path allocates nothing of its own in the steady
 * state. The callback thread is done with it after the caller's callback; it goes back to
 * the producer's pool, because every free there was a free into the sender's malloc arena
 * under that arena's lock, contended by the sender's own allocations (perf, issue 15: malloc
 * and its lock wake-ups were the largest cost of an async producer after system calls). */
typedef struct async_s {
    rmq_rem_call_t call;
    struct async_s *pool_next;
    rmq_buf_t frame; /* kept with the record when it is reused */
    size_t cap;      /* bytes of data[]: POOL_DATA for a pooled record */
    rmq_producer_t *p;
    enc_t enc; /* props and body point into data[] (never enc_fini) */
    rmq_send_cb cb;
    void *op;
    int attempts_left;
    rmq_mq_t mq;
    uint64_t t0, deadline;
    rmq_err_t err;
    rmq_send_result_t res;
    rmq_cb_node_t node; /* completion on the callback thread, no allocation */
    char data[];
} async_t;

static void outstanding_done(rmq_producer_t *p) {
    int cur = atomic_load(&p->outstanding);
    while (cur > 1)
        if (atomic_compare_exchange_weak(&p->outstanding, &cur, cur - 1)) return;
    /* Possibly the last: step to zero under mu, so a waiting destroy cannot see zero and free
     * p before this thread is done with it. */
    pthread_mutex_lock(&p->mu);
    if (atomic_fetch_sub(&p->outstanding, 1) == 1) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

#define POOL_DATA 512 /* the properties of a pooled record */
#define POOL_MAX 512  /* records kept: ~1.8 MB at most with 1 KiB bodies */
#define FRAME_KEEP (8 * 1024)

static async_t *async_get(rmq_producer_t *p, size_t need) {
    async_t *a = NULL;
    if (need <= POOL_DATA) {
        pthread_mutex_lock(&p->pool_mu);
        if (!p->pool) p->pool = atomic_exchange(&p->returned, NULL);
        a = p->pool;
        if (a) p->pool = a->pool_next;
        pthread_mutex_unlock(&p->pool_mu);
        if (a) atomic_fetch_sub_explicit(&p->pooled, 1, memory_order_relaxed);
    }
    if (!a) {
        size_t cap = need <= POOL_DATA ? POOL_DATA : need;
        a = malloc(sizeof(*a) + cap);
        if (!a) return NULL;
        rmq_buf_init(&a->frame);
        a->cap = cap;
    }
    /* No memset of the ~1.2 KB record (its lines were last written by the callback thread):
     * send_async_enc and async_issue set every field a send reads, remoting fills call, a
     * response fills res, async_finish sets err and node. */
    a->frame.len = a->frame.rpos = 0;
    return a;
}

/* Any thread; the callback thread returns records without a lock. */
static void async_put(rmq_producer_t *p, async_t *a) {
    if (a->frame.cap > FRAME_KEEP) rmq_buf_fini(&a->frame);
    if (a->cap != POOL_DATA ||
        atomic_fetch_add_explicit(&p->pooled, 1, memory_order_relaxed) >= POOL_MAX) {
        if (a->cap == POOL_DATA) atomic_fetch_sub_explicit(&p->pooled, 1, memory_order_relaxed);
        rmq_buf_fini(&a->frame);
        free(a);
        return;
    }
    /* a push-only stack (taken whole with an exchange): no ABA */
    a->pool_next = atomic_load_explicit(&p->returned, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&p->returned, &a->pool_next, a,
                                                  memory_order_release, memory_order_relaxed)) {
    }
}

static void pool_free(async_t *a) {
    while (a) {
        async_t *nx = a->pool_next;
        rmq_buf_fini(&a->frame);
        free(a);
        a = nx;
    }
}

static void async_done_cb(void *arg) { /* callback thread */
    async_t *a = arg;
    rmq_producer_t *p = a->p;
    if (a->cb) a->cb(p, a->err, a->err ? NULL : &a->res, a->op);
    async_put(p, a);
    outstanding_done(p);
}

/* from_read: on the loop thread, for a response read from the connection (its iteration ends
 * by waking the callback thread); otherwise (a timeout, a dropped connection, the client
 * shutting down, a failed retry) the callback thread is woken now. */
static void async_finish(async_t *a, rmq_err_t e, bool from_read) {
    a->err = e;
    a->node.fn = async_done_cb;
    a->node.arg = a;
    a->node.heap = false;
    if (from_read)
        rmq_instance_post_node_loop(a->p->in, &a->node);
    else
        rmq_instance_post_node(a->p->in, &a->node);
}

static rmq_err_t async_issue(async_t *a, const char *last_broker, uint64_t now, bool alone);

static void on_async_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) { /* loop thread */
    async_t *a = arg;
    rmq_producer_t *p = a->p;
    rmq_err_t e = err;
    if (e == RMQ_OK) e = rmq_send_response(resp, &a->mq, &a->res);
    rmq_rem_cmd_destroy(resp);
    note_latency(p, a->mq.broker, a->t0, e != RMQ_OK);
    if (e == RMQ_OK) {
        rmq_strlcpy(a->res.msg_id, a->enc.uniq, sizeof(a->res.msg_id));
        async_finish(a, RMQ_OK, true);
        return;
    }
    /* as RocketMQ 4.9's async path: only a failed or timed-out request is retried (on another
     * broker), never a broker's error answer; here within what is left of sendMsgTimeout */
    bool transport = err == RMQ_ERR__CONN || err == RMQ_ERR__TIMEOUT;
    uint64_t now = transport ? rmq_mono_ms() : 0;
    if (transport && a->attempts_left > 0 && now < a->deadline) {
        RMQ_ILOG_WARN(p->log, MOD, "async send %s to %s failed: %s, retrying", a->enc.topic,
                      a->mq.broker, rmq_strerror(e));
        a->attempts_left--;
        char last[64];
        rmq_strlcpy(last, a->mq.broker, sizeof last);
        /* route look-ups here only read the cache (the topic was routed before) */
        if (async_issue(a, last, now, false) == RMQ_OK) return;
    }
    async_finish(a, e, err == RMQ_OK);
}

/* now: rmq_mono_ms(), read once per send (a clock read costs ~0.5 % of an async send). alone:
 * the producer has no other async send under way, so an idle connection takes the frame from
 * this thread (rmq_rem_client_invoke_frame's direct: at a low rate, no hop through the loop). */
static rmq_err_t async_issue(async_t *a, const char *last_broker, uint64_t now, bool alone) {
    char addr[64];
    rmq_err_t e = pick(a->p, a->enc.topic, last_broker, &a->mq, addr, sizeof addr, now);
    if (e) return e;
    /* Encoded here into the record, which lives until the callback: remoting keeps no copy,
     * and the body's one copy is the frame's (enc.body points there afterwards). A retry
     * runs from that callback, when remoting is done with the previous frame, but its body is
     * read from that frame, so it encodes into a new buffer. No command is built: the header
     * is written from a field array on the stack (rmq_send_head). */
    rmq_send_hdr_t h = send_hdr(a->p, &a->enc, &a->mq);
    rmq_send_head_t sh;
    rmq_send_head(&h, &sh);
    sh.head.opaque = rmq_rem_next_opaque();
    if (a->enc.reply) sh.head.code = RMQ_REQ_SEND_REPLY_MESSAGE_V2; /* as MQClientAPIImpl */
    rmq_rem_client_t *rem = rmq_instance_rem(a->p->in);
    bool retry =
        a->frame.data && a->enc.body >= a->frame.data && a->enc.body < a->frame.data + a->frame.len;
    rmq_buf_t b = a->frame; /* reused: its capacity stays with the pooled record */
    b.len = b.rpos = 0;
    if (retry) rmq_buf_init(&b);
    e = rmq_rem_client_encode_head(rem, &sh.head, a->enc.body, a->enc.body_len, &b);
    int32_t opaque = sh.head.opaque;
    if (e) {
        if (retry)
            rmq_buf_fini(&b);
        else
            a->frame = b; /* the encode may have moved the buffer before it failed */
        return e;
    }
    if (retry) rmq_buf_fini(&a->frame);
    a->frame = b;
    a->enc.body = a->frame.data + a->frame.len - a->enc.body_len;
    a->enc.body_borrowed = true;
    a->t0 = now;
    uint64_t left = a->deadline > now ? a->deadline - now : 1;
    return rmq_rem_client_invoke_frame(rem, addr, &a->call, a->frame.data, a->frame.len, opaque,
                                       (int)left, on_async_resp, a, alone);
}

static rmq_err_t send_async_enc(rmq_producer_t *p, enc_t *enc, rmq_send_cb cb, void *op) {
    size_t pl = strlen(enc->props) + 1;
    async_t *a = async_get(p, pl);
    if (!a) {
        enc_fini(enc);
        return RMQ_ERR__NOMEM;
    }
    a->p = p;
    a->enc = *enc; /* body still the caller's (or enc's): async_issue copies it into the frame */
    a->enc.props = memcpy(a->data, enc->props, pl);
    a->cb = cb;
    a->op = op;
    a->attempts_left = p->retries_async;
    uint64_t now = rmq_mono_ms();
    a->deadline = now + (uint64_t)p->send_timeout;
    bool alone = atomic_fetch_add(&p->outstanding, 1) == 0;
    rmq_err_t e = async_issue(a, NULL, now, alone);
    enc_fini(enc); /* on this thread, where it was allocated; a no longer points into it */
    if (e) {       /* not issued: no callback (libuv rule: a failed call never fires it) */
        async_put(p, a);
        outstanding_done(p);
    }
    return e;
}

rmq_err_t rmq_send_async(rmq_producer_t *p, const rmq_msg_t *m, rmq_send_cb cb, void *op) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_msg(p, m, false, &enc);
    if (e) return e;
    return send_async_enc(p, &enc, cb, op);
}

rmq_err_t rmq_send_oneway(rmq_producer_t *p, const rmq_msg_t *m) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_msg(p, m, false, &enc);
    if (e) return e;
    rmq_mq_t mq;
    char addr[64];
    e = pick(p, enc.topic, NULL, &mq, addr, sizeof addr, rmq_mono_ms());
    if (!e) {
        rmq_rem_cmd_t *req = build_request(p, &enc, &mq);
        if (!req)
            e = RMQ_ERR__NOMEM;
        else
            e = rmq_instance_invoke_oneway(p->in, addr, req);
    }
    enc_fini(&enc);
    return e;
}

/* ---- batch ------------------------------------------------------------------------- */

static rmq_err_t encode_batch(rmq_producer_t *p, rmq_msg_t *const *msgs, size_t n, enc_t *out) {
    memset(out, 0, sizeof(*out));
    if (!msgs || n == 0) return RMQ_ERR__INVALID_ARG;
    const char *topic = msgs[0] ? msgs[0]->topic : NULL;
    if (!topic || strlen(topic) >= sizeof(out->topic) || is_retry_topic(topic))
        return RMQ_ERR__INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i] || strcmp(msgs[i]->topic, topic) != 0) return RMQ_ERR__INVALID_ARG;
        if (rmq_msg_property(msgs[i], RMQ_PROP_DELAY)) return RMQ_ERR__INVALID_ARG;
        if (msgs[i]->body_len == 0) return RMQ_ERR__BAD_MSG;
        if (!rmq_msg_property(msgs[i], RMQ_PROP_UNIQ_KEY)) {
            char id[33];
            rmq_uniq_next(rmq_instance_uniq(p->in), id);
            if (rmq_msg_prop_set(msgs[i], RMQ_PROP_UNIQ_KEY, id)) return RMQ_ERR__NOMEM;
        }
    }
    rmq_strlcpy(out->uniq, rmq_msg_property(msgs[0], RMQ_PROP_UNIQ_KEY), sizeof(out->uniq));
    rmq_strlcpy(out->topic, topic, sizeof(out->topic));
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_err_t e = rmq_batch_encode(msgs, n, &b);
    if (e) {
        rmq_buf_fini(&b);
        return e;
    }
    if (b.len > p->max_size) {
        rmq_buf_fini(&b);
        return RMQ_ERR__MSG_TOO_BIG;
    }
    out->body = rmq_buf_detach(&b, &out->body_len);
    out->props = strdup("WAIT\001true");
    out->batch = true;
    out->born_ts = rmq_now_ms();
    if (!out->props) {
        enc_fini(out);
        return RMQ_ERR__NOMEM;
    }
    return RMQ_OK;
}

rmq_err_t rmq_send_batch(rmq_producer_t *p, rmq_msg_t *const *msgs, size_t n,
                         rmq_send_result_t *r) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_batch(p, msgs, n, &enc);
    if (e) return e;
    e = send_enc_sync(p, &enc, NULL, r, NULL, 0);
    enc_fini(&enc);
    return e;
}

rmq_err_t rmq_send_batch_async(rmq_producer_t *p, rmq_msg_t *const *msgs, size_t n, rmq_send_cb cb,
                               void *op) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    enc_t enc;
    rmq_err_t e = encode_batch(p, msgs, n, &enc);
    if (e) return e;
    return send_async_enc(p, &enc, cb, op);
}

/* ---- transactions ---------------------------------------------------------------------- */

static rmq_err_t end_txn(rmq_producer_t *p, const char *addr, const rmq_send_result_t *r,
                         rmq_txn_state_t st, const char *remark) {
    rmq_msg_host_t host;
    int64_t clog = 0;
    if (rmq_msg_offset_id_parse(r->offset_msg_id, &host, &clog) != RMQ_OK) clog = 0;
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_END_TRANSACTION);
    if (!req) return RMQ_ERR__NOMEM;
    req->language = RMQ_LANG_CPP;
    int cor = st == RMQ_TXN_COMMIT ? 8 : st == RMQ_TXN_ROLLBACK ? 12 : 0;
    rmq_err_t e = rmq_rem_cmd_set(req, "producerGroup", p->group);
    if (!e) e = rmq_rem_cmd_set_i64(req, "tranStateTableOffset", r->offset);
    if (!e) e = rmq_rem_cmd_set_i64(req, "commitLogOffset", clog);
    if (!e) e = rmq_rem_cmd_set_i64(req, "commitOrRollback", cor);
    if (!e) e = rmq_rem_cmd_set_bool(req, "fromTransactionCheck", false);
    if (!e) e = rmq_rem_cmd_set(req, "msgId", r->msg_id);
    if (!e) e = rmq_rem_cmd_set(req, "transactionId", r->txn_id[0] ? r->txn_id : r->msg_id);
    if (!e) e = rmq_rem_cmd_set(req, "bname", r->mq.broker);
    if (!e && remark) rmq_rem_cmd_set_remarkf(req, "%s", remark);
    if (e) {
        rmq_rem_cmd_destroy(req);
        return e;
    }
    return rmq_instance_invoke_oneway(p->in, addr, req);
}

rmq_err_t rmq_send_in_txn(rmq_producer_t *p, const rmq_msg_t *m, rmq_txn_cb exec, void *arg,
                          rmq_send_result_t *r) {
    if (!p || !m || !exec) return RMQ_ERR__INVALID_ARG;
    if (rmq_msg_property(m, RMQ_PROP_DELAY)) return RMQ_ERR__INVALID_ARG; /* as Java */
    enc_t enc;
    rmq_err_t e = encode_msg(p, m, true, &enc);
    if (e) return e;
    rmq_send_result_t res;
    memset(&res, 0, sizeof res);
    char addr[64] = "";
    e = send_enc_sync(p, &enc, NULL, &res, addr, sizeof addr);
    enc_fini(&enc);
    if (e) return e;
    rmq_txn_state_t st = RMQ_TXN_ROLLBACK;
    if (res.status == RMQ_SEND_OK) {
        /* the local transaction sees the message as sent (TRAN_MSG / PGROUP like Java) */
        rmq_msg_t *mm = (rmq_msg_t *)m;
        rmq_msg_prop_set(mm, RMQ_PROP_TRAN_MSG, "true");
        rmq_msg_prop_set(mm, RMQ_PROP_PGROUP, p->group);
        if (res.txn_id[0] == 0) rmq_strlcpy(res.txn_id, res.msg_id, sizeof res.txn_id);
        st = exec(p, m, arg);
    }
    rmq_err_t ee = end_txn(p, addr, &res, st, NULL);
    if (ee) RMQ_ILOG_WARN(p->log, MOD, "END_TRANSACTION for %s: %s", res.msg_id, rmq_strerror(ee));
    if (r) *r = res;
    return RMQ_OK;
}

static rmq_txn_state_t member_check(void *owner, const rmq_msg_t *half) {
    rmq_producer_t *p = owner;
    return p->check ? p->check(p, half, p->check_op) : RMQ_TXN_UNKNOWN;
}

/* ---- request-reply (DefaultMQProducerImpl#request, RocketMQ 4.6+) ------------------------ */

/* prepareSendRequest: CORRELATION_ID, REPLY_TO_CLIENT and TTL on the caller's message; the
 * first request to a topic makes sure its brokers know this client (route, then a heartbeat)
 * so that the reply can be pushed back on our connection. */
static rmq_err_t prepare_request(rmq_producer_t *p, const rmq_msg_t *m, int timeout_ms,
                                 char corr[33]) {
    if (!m || !m->topic || !*m->topic || timeout_ms <= 0) return RMQ_ERR__INVALID_ARG;
    rmq_msg_t *mm = (rmq_msg_t *)m; /* the properties go on the caller's message, as Java */
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", timeout_ms);
    rmq_uniq_next(rmq_instance_uniq(p->in), corr);
    if (rmq_msg_prop_set(mm, RMQ_PROP_CORRELATION_ID, corr) ||
        rmq_msg_prop_set(mm, RMQ_PROP_REPLY_TO_CLIENT, rmq_instance_client_id(p->in)) ||
        rmq_msg_prop_set(mm, RMQ_PROP_MESSAGE_TTL, ttl))
        return RMQ_ERR__NOMEM;
    pthread_mutex_lock(&p->mu);
    bool known = false;
    for (int i = 0; i < p->nreq_topics && !known; i++)
        known = strcmp(p->req_topics[i], m->topic) == 0;
    pthread_mutex_unlock(&p->mu);
    if (known) return RMQ_OK;
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(p->in, m->topic, false, true, &ti);
    if (e) return e;
    rmq_topic_info_release(ti);
    rmq_instance_heartbeat_sync(p->in);
    pthread_mutex_lock(&p->mu);
    void *nt = p->nreq_topics < 64
                   ? realloc(p->req_topics, (size_t)(p->nreq_topics + 1) * sizeof(*p->req_topics))
                   : NULL;
    if (nt) {
        p->req_topics = nt;
        rmq_strlcpy(p->req_topics[p->nreq_topics++], m->topic, sizeof(*p->req_topics));
    }
    pthread_mutex_unlock(&p->mu);
    return RMQ_OK;
}

rmq_err_t rmq_request(rmq_producer_t *p, const rmq_msg_t *m, int timeout_ms, rmq_msg_t **reply) {
    if (!p || !reply) return RMQ_ERR__INVALID_ARG;
    *reply = NULL;
    uint64_t deadline = rmq_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    char corr[33];
    rmq_err_t e = prepare_request(p, m, timeout_ms, corr);
    if (e) return e;
    rmq_reqtab_t *t = rmq_instance_reqtab(p->in);
    rmq_reqent_t ent;
    memset(&ent, 0, sizeof ent);
    rmq_strlcpy(ent.corr, corr, sizeof ent.corr);
    rmq_reqtab_add(t, &ent);
    e = rmq_send_sync(p, m, NULL);
    if (e && rmq_reqtab_remove(t, &ent)) return e; /* never sent: nothing will answer */
    rmq_reqtab_wait(t, &ent, deadline);
    if (ent.err == RMQ_ERR__TIMEOUT)
        RMQ_ILOG_WARN(p->log, MOD, "request %s to %s: no reply within %d ms", corr, m->topic,
                      timeout_ms);
    *reply = ent.reply;
    return ent.err;
}

/* One async request: the table entry first, completed on the callback thread. */
typedef struct {
    rmq_reqent_t ent;
    rmq_producer_t *p;
    rmq_request_cb cb;
    void *op;
    rmq_cb_node_t node;
} areq_t;

typedef struct {
    rmq_reqtab_t *t;
    char corr[64];
} areq_timer_t;

static void areq_done_cb(void *arg) { /* callback thread */
    areq_t *a = arg;
    rmq_producer_t *p = a->p;
    if (a->cb)
        a->cb(p, a->ent.err, a->ent.reply, a->op);
    else
        rmq_msg_destroy(a->ent.reply);
    free(a);
    outstanding_done(p);
}

static void areq_complete(rmq_reqent_t *e) { /* whoever removed it from the table */
    areq_t *a = (areq_t *)e;
    a->node.fn = areq_done_cb;
    a->node.arg = a;
    a->node.heap = false;
    rmq_instance_post_node(a->p->in, &a->node);
}

static void areq_timeout(void *arg) { /* service thread */
    areq_timer_t *tm = arg;
    rmq_reqtab_complete(tm->t, tm->corr, NULL, RMQ_ERR__TIMEOUT);
    free(tm);
}

static void areq_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    (void)p;
    (void)r;
    areq_timer_t *tm = op;
    if (e) rmq_reqtab_complete(tm->t, tm->corr, NULL, e); /* the request failed: done now */
    free(tm);
}

rmq_err_t rmq_request_async(rmq_producer_t *p, const rmq_msg_t *m, int timeout_ms,
                            rmq_request_cb cb, void *op) {
    if (!p) return RMQ_ERR__INVALID_ARG;
    char corr[33];
    rmq_err_t e = prepare_request(p, m, timeout_ms, corr);
    if (e) return e;
    rmq_reqtab_t *t = rmq_instance_reqtab(p->in);
    areq_t *a = calloc(1, sizeof *a);
    areq_timer_t *tm = calloc(1, sizeof *tm), *sent = calloc(1, sizeof *sent);
    if (!a || !tm || !sent) {
        free(a);
        free(tm);
        free(sent);
        return RMQ_ERR__NOMEM;
    }
    rmq_strlcpy(a->ent.corr, corr, sizeof a->ent.corr);
    a->ent.complete = areq_complete;
    a->p = p;
    a->cb = cb;
    a->op = op;
    tm->t = sent->t = t;
    rmq_strlcpy(tm->corr, corr, sizeof tm->corr);
    rmq_strlcpy(sent->corr, corr, sizeof sent->corr);
    atomic_fetch_add(&p->outstanding, 1); /* until the callback ran */
    rmq_reqtab_add(t, &a->ent);
    e = rmq_send_async(p, m, areq_sent, sent);
    if (e) {
        free(sent);
        free(tm);
        if (rmq_reqtab_remove(t, &a->ent)) { /* no callback for a failed call */
            free(a);
            outstanding_done(p);
            return e;
        }
        return RMQ_OK; /* a reply already came (and is being delivered) */
    }
    if (rmq_instance_schedule_ex(p->in, timeout_ms, areq_timeout, free, tm, NULL) != RMQ_OK) {
        free(tm); /* instance stopping: its table completes what is left */
    }
    return RMQ_OK;
}

rmq_err_t rmq_reply(rmq_producer_t *p, const rmq_msg_t *request, const void *body, size_t len,
                    rmq_send_result_t *r) {
    if (!p || !request || (len && !body)) return RMQ_ERR__INVALID_ARG;
    const char *cluster = rmq_msg_property(request, RMQ_PROP_CLUSTER);
    const char *to = rmq_msg_property(request, RMQ_PROP_REPLY_TO_CLIENT);
    const char *corr = rmq_msg_property(request, RMQ_PROP_CORRELATION_ID);
    const char *ttl = rmq_msg_property(request, RMQ_PROP_MESSAGE_TTL);
    if (!cluster || !to || !corr) {
        RMQ_ILOG_WARN(p->log, MOD, "create reply message fail: the request has no %s property",
                      !cluster ? RMQ_PROP_CLUSTER
                      : !to    ? RMQ_PROP_REPLY_TO_CLIENT
                               : RMQ_PROP_CORRELATION_ID);
        return RMQ_ERR__INVALID_ARG;
    }
    char topic[300];
    snprintf(topic, sizeof topic, "%s%s", cluster, RMQ_REPLY_TOPIC_SUFFIX);
    rmq_msg_t *m = rmq_msg_new(topic, NULL, NULL, (void *)body, len, RMQ_MSG_F_COPY);
    if (!m) return RMQ_ERR__NOMEM;
    rmq_err_t e = rmq_msg_prop_set(m, RMQ_PROP_MSG_TYPE, RMQ_REPLY_MESSAGE_FLAG);
    if (!e) e = rmq_msg_prop_set(m, RMQ_PROP_CORRELATION_ID, corr);
    if (!e) e = rmq_msg_prop_set(m, RMQ_PROP_REPLY_TO_CLIENT, to);
    if (!e && ttl) e = rmq_msg_prop_set(m, RMQ_PROP_MESSAGE_TTL, ttl);
    if (!e) e = rmq_send_sync(p, m, r);
    rmq_msg_destroy(m);
    return e;
}

/* ---- lifetime ------------------------------------------------------------------------ */

rmq_producer_t *rmq_producer_new(rmq_conf_t *c, char *err, size_t n) {
    const char *g = rmq_conf_member_group(c, "producerGroup", false, err, n);
    if (!g) return NULL;
    rmq_producer_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    rmq_strlcpy(p->group, g, sizeof(p->group));
    p->send_timeout = (int)rmq_conf_i64(c, "sendMsgTimeout");
    p->retries = (int)rmq_conf_i64(c, "retryTimesWhenSendFailed");
    p->retries_async = (int)rmq_conf_i64(c, "retryTimesWhenSendAsyncFailed");
    p->compress_over = (int)rmq_conf_i64(c, "compressMsgBodyOverHowmuch");
    p->compress_level = (int)rmq_conf_i64(c, "compressLevel");
    p->queue_nums = (int)rmq_conf_i64(c, "defaultTopicQueueNums");
    p->max_size = (size_t)rmq_conf_i64(c, "maxMessageSize");
    p->fault_enable = rmq_conf_bool(c, "sendLatencyFaultEnable");
    p->binary = strcmp(rmq_conf_str(c, "serializeType"), "ROCKETMQ") == 0;
    p->check = c->txn_check;
    p->check_op = c->txn_check_op;
    rmq_fault_init(&p->fault);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_init(&p->pool_mu, NULL);
    rmq_strlcpy(p->member.group, p->group, sizeof(p->member.group));
    p->member.consumer = false;
    p->member.owner = p;
    p->member.txn_check = member_check;
    p->in = rmq_instance_get(c, &p->member, err, n);
    if (p->in) p->log = rmq_instance_log(p->in);
    if (!p->in) {
        pthread_mutex_destroy(&p->pool_mu);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->fault.mu);
        free(p);
        return NULL;
    }
    p->conf = c;
    /* prime the default topic route like Java's first route poll */
    rmq_topic_info_t *ti = NULL;
    if (rmq_instance_route(p->in, RMQ_DEFAULT_TOPIC, false, false, &ti) == RMQ_OK)
        rmq_topic_info_release(ti);
    rmq_instance_heartbeat_soon(p->in);
    return p;
}

void rmq_producer_destroy(rmq_producer_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->outstanding) > 0) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    rmq_instance_release(p->in, &p->member);
    rmq_conf_destroy(p->conf);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->fault.mu);
    pool_free(p->pool);
    pool_free(atomic_load(&p->returned));
    pthread_mutex_destroy(&p->pool_mu);
    free(p->req_topics);
    free(p);
}
