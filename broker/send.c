/* The send path (broker.md 1, 6): SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE
 * (320), CONSUMER_SEND_MSG_BACK (36), and the re-put used by delay, retry, DLQ and transactions.
 *
 * Processing order is RocketMQ's (broker.md 1.2): permission, topic name, lookup/auto-create,
 * topic write perm (rmq addition: RocketMQ relies on routes), queue id, %RETRY% -> %DLQ%, sysflag,
 * properties (CLUSTER added, WAIT kept only for the flush decision), then a half message
 * (TRAN_MSG) or a delayed one (DELAY) is redirected to its system topic with REAL_TOPIC/REAL_QID
 * and stored; everything else is stored as is.
 *
 * Under SYNC_FLUSH the reply waits for the group commit without blocking the loop: the store's
 * completion runs on the flush thread, which posts the reply back to the loop (mailbox); the
 * connection is referenced until then. On a SYNC_MASTER the reply also waits for a slave's ack
 * of the record's end offset (broker.md 9.3, broker/ha), completed on the loop the same way;
 * when both are needed the reply goes when both are in. ASYNC_FLUSH on an ASYNC_MASTER, and
 * WAIT=false, reply at once. */
#include "broker/send.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/admin_stats.h"
#include "broker/ha.h"
#include "broker/metrics.h"
#include "broker/subgroup.h"
#include "broker/timer_intake.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/frame.h"

#define MAX_PROPS_LEN 32767

/* ---- header parsing ------------------------------------------------------------------------ */

typedef struct {
    const char *v1, *v2;
} field_name_t;

static const field_name_t F_GROUP = {"producerGroup", "a"}, F_TOPIC = {"topic", "b"},
                          F_DEFTOPIC = {"defaultTopic", "c"},
                          F_DEFQ = {"defaultTopicQueueNums", "d"}, F_QID = {"queueId", "e"},
                          F_SYSFLAG = {"sysFlag", "f"}, F_BORN = {"bornTimestamp", "g"},
                          F_FLAG = {"flag", "h"}, F_PROPS = {"properties", "i"},
                          F_RECONSUME = {"reconsumeTimes", "j"}, F_UNIT = {"unitMode", "k"},
                          F_MAXRECONSUME = {"maxReconsumeTimes", "l"}, F_BATCH = {"batch", "m"};

static const char *fname(const field_name_t *f, bool v2) {
    return v2 ? f->v2 : f->v1;
}

/* The send header's fields in one pass over the ext fields (a lookup per field scanned them
 * all with strcmp ~26 times per message). Slots follow the V2 letters a..m; like
 * rmq_rem_cmd_get, the first occurrence of a key wins. */
enum {
    S_GROUP,
    S_TOPIC,
    S_DEFTOPIC,
    S_DEFQ,
    S_QID,
    S_SYSFLAG,
    S_BORN,
    S_FLAG,
    S_PROPS,
    S_RECONSUME,
    S_UNIT,
    S_MAXRECONSUME,
    S_BATCH,
    S_COUNT
};
static const field_name_t *const k_slots[S_COUNT] = {
    &F_GROUP, &F_TOPIC, &F_DEFTOPIC,  &F_DEFQ, &F_QID,          &F_SYSFLAG, &F_BORN,
    &F_FLAG,  &F_PROPS, &F_RECONSUME, &F_UNIT, &F_MAXRECONSUME, &F_BATCH,
};

static int slot_of(const char *k, bool v2) {
    if (v2) return k[0] >= 'a' && k[0] <= 'm' && k[1] == 0 ? k[0] - 'a' : -1;
    for (int i = 0; i < S_COUNT; i++)
        if (k[0] == k_slots[i]->v1[0] && strcmp(k, k_slots[i]->v1) == 0) return i;
    return -1;
}

static bool need_str(const char *val, const field_name_t *f, bool v2, const char **out, char *err,
                     size_t errlen) {
    *out = val;
    if (*out) return true;
    snprintf(err, errlen, "the custom field <%s> (%s) is null", fname(f, v2), f->v1);
    return false;
}

static bool get_int(const char *val, const field_name_t *f, bool v2, bool required, int64_t def,
                    int64_t *out, char *err, size_t errlen) {
    if (val && rmq_parse_java_long(val, out) == 0) return true;
    if (!val && !required) {
        *out = def;
        return true;
    }
    snprintf(err, errlen,
             !val ? "the custom field <%s> (%s) is null"
                  : "the custom field <%s> (%s) is not a number",
             fname(f, v2), f->v1);
    return false;
}

/* Java's Boolean.parseBoolean: "true" in any case is true, anything else (the C++ client's "0",
 * absent) false; never an error. */
static bool get_bool(const char *val, bool *out) {
    *out = val && !strcasecmp(val, "true");
    return true;
}

rmq_err_t rmq_broker_send_hdr_parse(const rmq_rem_cmd_t *req, bool v2, rmq_broker_send_hdr_t *h,
                                    char *err, size_t errlen) {
    memset(h, 0, sizeof *h);
    const char *val[S_COUNT] = {0};
    for (size_t i = 0; i < req->next; i++) {
        int sl = slot_of(req->ext[i].key, v2);
        if (sl >= 0 && !val[sl]) val[sl] = req->ext[i].val;
    }
    int64_t v;
    if (!need_str(val[S_GROUP], &F_GROUP, v2, &h->producer_group, err, errlen) ||
        !need_str(val[S_TOPIC], &F_TOPIC, v2, &h->topic, err, errlen) ||
        !need_str(val[S_DEFTOPIC], &F_DEFTOPIC, v2, &h->default_topic, err, errlen))
        return RMQ_ERR_SYSTEM_ERROR;
#define INT_FIELD(sl, f, req_, def, dst, lo, hi)                                                   \
    do {                                                                                           \
        if (!get_int(val[sl], &f, v2, req_, def, &v, err, errlen)) return RMQ_ERR_SYSTEM_ERROR;    \
        if (v < (lo) || v > (hi)) {                                                                \
            snprintf(err, errlen, "the custom field <%s> (%s) is out of range", fname(&f, v2),     \
                     f.v1);                                                                        \
            return RMQ_ERR_SYSTEM_ERROR;                                                           \
        }                                                                                          \
        dst = v;                                                                                   \
    } while (0)
    INT_FIELD(S_DEFQ, F_DEFQ, true, 0, h->default_topic_queue_nums, INT32_MIN, INT32_MAX);
    INT_FIELD(S_QID, F_QID, true, 0, h->queue_id, INT32_MIN, INT32_MAX);
    INT_FIELD(S_SYSFLAG, F_SYSFLAG, true, 0, h->sys_flag, INT32_MIN, INT32_MAX);
    INT_FIELD(S_BORN, F_BORN, true, 0, h->born_timestamp, INT64_MIN, INT64_MAX);
    INT_FIELD(S_FLAG, F_FLAG, true, 0, h->flag, INT32_MIN, INT32_MAX);
    INT_FIELD(S_RECONSUME, F_RECONSUME, false, 0, h->reconsume_times, INT32_MIN, INT32_MAX);
    INT_FIELD(S_MAXRECONSUME, F_MAXRECONSUME, false, -1, h->max_reconsume_times, INT32_MIN,
              INT32_MAX);
#undef INT_FIELD
    h->properties = val[S_PROPS];
    if (!get_bool(val[S_UNIT], &h->unit_mode) || !get_bool(val[S_BATCH], &h->batch)) {
        snprintf(err, errlen, "the custom field <%s>/<%s> is not a boolean", fname(&F_UNIT, v2),
                 fname(&F_BATCH, v2));
        return RMQ_ERR_SYSTEM_ERROR;
    }
    return RMQ_OK;
}

/* ---- batch body ---------------------------------------------------------------------------- */

rmq_err_t rmq_broker_batch_decode(const uint8_t *body, size_t len, rmq_broker_batch_item_t **items,
                                  size_t *n, char *err, size_t errlen) {
    *items = NULL;
    *n = 0;
    size_t cap = 0, cnt = 0, pos = 0;
    rmq_broker_batch_item_t *arr = NULL;
    if (!body || len == 0) {
        snprintf(err, errlen, "the batch body is empty");
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    while (pos < len) {
        if (len - pos < 20 + 2) {
            snprintf(err, errlen, "batch message %zu truncated at byte %zu", cnt, pos);
            goto bad;
        }
        const uint8_t *p = body + pos;
        uint32_t total = rmq_get_be32(p);
        uint32_t blen = rmq_get_be32(p + 16);
        if (total < 22 || total > len - pos || blen > total - 22) {
            snprintf(err, errlen, "batch message %zu has a bad size (total %u, body %u)", cnt,
                     total, blen);
            goto bad;
        }
        uint16_t plen = rmq_get_be16(p + 20 + blen);
        if ((size_t)20 + blen + 2 + plen != total) {
            snprintf(err, errlen, "batch message %zu: sizes do not add up (total %u)", cnt, total);
            goto bad;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            rmq_broker_batch_item_t *na = realloc(arr, cap * sizeof *na);
            if (!na) {
                free(arr);
                return RMQ_ERR__NOMEM;
            }
            arr = na;
        }
        arr[cnt].flag = (int32_t)rmq_get_be32(p + 12);
        arr[cnt].body = p + 20;
        arr[cnt].body_len = blen;
        arr[cnt].props = (const char *)p + 20 + blen + 2;
        arr[cnt].props_len = plen;
        cnt++;
        pos += total;
    }
    *items = arr;
    *n = cnt;
    return RMQ_OK;
bad:
    free(arr);
    return RMQ_ERR_MESSAGE_ILLEGAL;
}

/* ---- properties ---------------------------------------------------------------------------- */

static void props_add(rmq_buf_t *out, const char *k, const char *v) {
    if (!v || !*v) return;
    if (out->len) rmq_buf_append_u8(out, RMQ_PROP_SEP);
    rmq_buf_append_str(out, k);
    rmq_buf_append_u8(out, RMQ_PROP_NAME_SEP);
    rmq_buf_append_str(out, v);
}

static void props_add_i64(rmq_buf_t *out, const char *k, int64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, v);
    props_add(out, k, s);
}

/* The DELAY level of props clamped to the configured levels; 0 when none. */
static int delay_level(rmq_broker_ctx_t *b, const char *props, size_t len) {
    char v[32];
    int64_t lvl;
    if (!props || !rmq_msg_prop_copy(props, len, RMQ_PROP_DELAY, v, sizeof v)) return 0;
    if (rmq_parse_i64(v, &lvl) != 0 || lvl <= 0) return 0;
    int max = rmq_broker_delay_levels(b->env.cfg->message_delay_level);
    return lvl > max ? max : (int)lvl;
}

/* ---- replies ------------------------------------------------------------------------------- */

/* The reply's fields (MSG_REGION and TRACE_ON first, as set_region puts them), pointing into
 * this struct or the configuration. */
typedef struct {
    rmq_rem_field_t kv[6];
    size_t n;
    uint32_t trusted; /* bit i: kv[i] made here, no byte JSON escapes (not scanned) */
    char id[64], qid[24], qoff[24], uniq[128];
    char *ids; /* a batch's ids, malloc'd (NULL otherwise) */
} reply_fields_t;

static void reply_fields(rmq_broker_ctx_t *b, reply_fields_t *f, const rmq_store_put_result_t *r,
                         const int64_t *offsets, int32_t qid, const char *props, size_t plen) {
    const char *msg_id = f->id;
    f->ids = NULL;
    if (offsets && r->count > 1) {
        size_t n = (size_t)r->count;
        f->ids = malloc(n * 57 + 1);
        if (f->ids) {
            size_t pos = 0;
            for (size_t i = 0; i < n; i++) {
                if (i) f->ids[pos++] = ',';
                rmq_msg_offset_id_encode(f->ids + pos, &b->env.store_host, offsets[i]);
                pos += strlen(f->ids + pos);
            }
            f->ids[pos] = 0;
        }
        msg_id = f->ids;
    } else {
        rmq_msg_offset_id_encode(f->id, &b->env.store_host, r->phys_offset);
    }
    size_t n = 0;
    const char *region = b->env.cfg->region_id ? b->env.cfg->region_id : "";
    /* literal keys; made here, so no byte JSON escapes: the flag, ids in hex, numbers (the
     * region is configured and UNIQ_KEY comes from the client: those are checked) */
    f->kv[n++] = (rmq_rem_field_t){RMQ_PROP_MSG_REGION, (char *)region};
    f->trusted = 1u << n;
    f->kv[n++] = (rmq_rem_field_t){RMQ_PROP_TRACE_ON, b->env.cfg->trace_on ? "true" : "false"};
    if (msg_id) {
        f->trusted |= 1u << n;
        f->kv[n++] = (rmq_rem_field_t){"msgId", (char *)msg_id};
    }
    f->trusted |= 3u << n;
    f->kv[n++] = (rmq_rem_field_t){"queueId", (char *)rmq_i64_str(qid, f->qid)};
    f->kv[n++] = (rmq_rem_field_t){"queueOffset", (char *)rmq_i64_str(r->queue_offset, f->qoff)};
    if (props && rmq_msg_prop_copy(props, plen, RMQ_PROP_UNIQ_KEY, f->uniq, sizeof f->uniq))
        f->kv[n++] = (rmq_rem_field_t){"transactionId", f->uniq};
    f->n = n;
}

/* A reply due now written straight to its connection, in the request's header encoding (no
 * command to build, encode and free): true when done, or nothing is due (one-way); false: send
 * a command. */
static bool reply_flat(rmq_rem_conn_t *c, const rmq_rem_cmd_t *req, const reply_fields_t *f) {
    if (!c) return false;
    if (rmq_rem_cmd_is_oneway(req)) return true;
    uint8_t frame[1024];
    size_t len = req->serialize_type == RMQ_REM_SER_ROCKETMQ
                     ? rmq_rem_frame_write_binary_response(RMQ_OK, req->opaque, f->kv, f->n, frame,
                                                           sizeof frame)
                     : rmq_rem_frame_write_json_response(RMQ_OK, req->opaque, f->kv, f->n,
                                                         f->trusted, frame, sizeof frame);
    if (!len) return false;
    rmq_rem_conn_send_bytes(c, frame, len);
    return true;
}

static void set_region(rmq_broker_ctx_t *b, rmq_rem_cmd_t *resp) {
    rmq_rem_cmd_set(resp, RMQ_PROP_MSG_REGION, b->env.cfg->region_id ? b->env.cfg->region_id : "");
    rmq_rem_cmd_set(resp, RMQ_PROP_TRACE_ON, b->env.cfg->trace_on ? "true" : "false");
}

static rmq_rem_cmd_t *send_err(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, int code,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static rmq_rem_cmd_t *send_err(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, int code,
                               const char *fmt, ...) {
    char remark[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof remark, fmt, ap);
    va_end(ap);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, code, remark);
    if (resp) set_region(b, resp);
    return resp;
}

/* Map a synchronous put failure to the wire. */
static rmq_rem_cmd_t *put_failed(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, rmq_err_t err,
                                 const char *topic) {
    switch (err) {
    case RMQ_ERR_MESSAGE_ILLEGAL:
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "the message is illegal, maybe msg body or properties length not matched "
                        "(maxMessageSize=%d, properties <= %d)",
                        b->env.cfg->store.max_message_size, MAX_PROPS_LEN);
    case RMQ_ERR_SERVICE_NOT_AVAILABLE: {
        /* the store says why (the disk path and its ratio, or the free space left) */
        char why[256];
        rmq_store_unwritable_reason(b->env.store, why, sizeof why);
        return send_err(b, req, RMQ_ERR_SERVICE_NOT_AVAILABLE, "service not available now: %s",
                        why[0] ? why : "the store refused the put");
    }
    case RMQ_ERR__BUSY:
    case RMQ_ERR_SYSTEM_BUSY:
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR,
                        "[PC_SYNCHRONIZED]broker busy, start flow control for a while");
    default:
        RMQ_LOG_WARN("send", "put to %s failed: %s", topic, rmq_strerror(err));
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "store put failed: %s", rmq_strerror(err));
    }
}

/* A reply waiting for the SYNC_FLUSH group commit, the SYNC_MASTER replication ack, or both.
 * Every part completes on the loop; the reply goes out when pending drops to 0. */
typedef struct {
    rmq_broker_ctx_t *b;
    rmq_rem_conn_t *conn;
    rmq_rem_cmd_t *resp;
    rmq_err_t flush_err, repl_err;
    int pending; /* parts not yet complete, plus one while put_and_reply runs; loop */
} send_ctx_t;

/* The reply's status: a non-OK replication status wins over a non-OK flush one (broker.md 9.3
 * step 4); the message is stored either way. */
static void send_status(send_ctx_t *x) {
    const rmq_broker_cfg_t *cfg = x->b->env.cfg;
    if (x->repl_err == RMQ_ERR_SLAVE_NOT_AVAILABLE) {
        x->resp->code = RMQ_ERR_SLAVE_NOT_AVAILABLE;
        rmq_rem_cmd_set_remarkf(x->resp,
                                "slave not available: no slave connected or it lags "
                                "haSlaveFallbehindMax or more (message stored on the master)");
    } else if (x->repl_err != RMQ_OK) {
        x->resp->code = RMQ_ERR_FLUSH_SLAVE_TIMEOUT;
        rmq_rem_cmd_set_remarkf(x->resp, "flush slave timeout (slaveTimeout=%d ms)",
                                cfg->ha.slave_timeout);
    } else if (x->flush_err != RMQ_OK) {
        x->resp->code = x->flush_err == RMQ_ERR_FLUSH_DISK_TIMEOUT ? RMQ_ERR_FLUSH_DISK_TIMEOUT
                                                                   : RMQ_ERR_SYSTEM_ERROR;
        if (x->flush_err == RMQ_ERR_FLUSH_DISK_TIMEOUT)
            rmq_rem_cmd_set_remarkf(x->resp, "flush disk timeout (syncFlushTimeout=%d ms)",
                                    cfg->store.sync_flush_timeout);
    }
}

/* One part done (loop): the last one sends the reply. */
static void send_part_done(send_ctx_t *x) {
    if (--x->pending > 0) return;
    send_status(x);
    if (!rmq_rem_conn_is_closed(x->conn))
        rmq_rem_conn_send(x->conn, x->resp);
    else
        rmq_rem_cmd_destroy(x->resp);
    rmq_rem_conn_unref(x->conn);
    rmq_broker_inflight_add(x->b, -1);
    free(x);
}

static void flush_done_on_loop(void *arg) {
    send_part_done(arg);
}

/* Store completion: flush thread under SYNC_FLUSH (post to the loop), or inline on the loop. */
static void on_put_done(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    (void)r;
    send_ctx_t *x = arg;
    x->flush_err = err;
    if (rmq_broker_on_loop(x->b)) {
        x->pending--; /* ran inside the put, on the loop */
        return;
    }
    if (!rmq_broker_run_on_loop(x->b, flush_done_on_loop, x))
        RMQ_LOG_WARN("send", "a SYNC_FLUSH reply was lost: the broker is shutting down");
}

/* SYNC_MASTER completion, on the loop (broker.c's HA deliver hook posts it there). */
static void on_repl_done(rmq_err_t st, void *arg) {
    send_ctx_t *x = arg;
    x->repl_err = st;
    send_part_done(x);
}

/* Put m (n messages when batch) and produce the reply: now, or NULL when it will come later
 * (SYNC_FLUSH group commit, SYNC_MASTER replication ack) or was written already (reply_flat).
 * resp is taken; NULL: made here if needed. The ASYNC_MASTER + ASYNC_FLUSH path allocates
 * nothing here but a batch's offsets. */
static rmq_rem_cmd_t *put_and_reply(rmq_broker_ctx_t *b, rmq_rem_conn_t *c,
                                    const rmq_rem_cmd_t *req, rmq_rem_cmd_t *resp,
                                    const rmq_store_msg_t *m, size_t n, bool wait,
                                    int32_t reply_qid, const char *uniq_props, size_t uniq_plen) {
    const rmq_broker_cfg_t *cfg = b->env.cfg;
    bool sync_flush = cfg->store.flush_disk_type == RMQ_FLUSH_SYNC && wait;
    bool sync_repl = cfg->broker_role == RMQ_ROLE_SYNC_MASTER && wait;
    if (!resp && (sync_flush || sync_repl) && !(resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL)))
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    send_ctx_t *x = sync_flush || sync_repl ? calloc(1, sizeof *x) : NULL;
    if ((sync_flush || sync_repl) && !x) {
        rmq_rem_cmd_destroy(resp);
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    if (x) {
        x->b = b;
        x->conn = c;
        x->resp = resp;
        x->pending = 1 + (sync_flush ? 1 : 0);
    }
    rmq_store_put_cb done = sync_flush ? on_put_done : NULL;
    rmq_store_put_result_t r = {0};
    int64_t *offsets = n > 1 ? calloc(n, sizeof *offsets) : NULL;
    rmq_err_t err = n > 1 ? rmq_store_put_batch(b->env.store, m, n, &r, offsets, done, x)
                          : rmq_store_put(b->env.store, m, &r, done, x);
    if (err != RMQ_OK) {
        free(offsets);
        free(x);
        rmq_rem_cmd_destroy(resp);
        return put_failed(b, req, err, m->topic);
    }
    if (n > 1 && r.count == 0) r.count = (int32_t)n;
    reply_fields_t f;
    reply_fields(b, &f, &r, offsets, reply_qid, n == 1 ? uniq_props : NULL, uniq_plen);
    free(offsets);
    if (!x && reply_flat(c, req, &f)) {
        free(f.ids);
        rmq_rem_cmd_destroy(resp);
        return NULL;
    }
    if (!resp) resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (resp) rmq_rem_cmd_add_fields(resp, f.kv, f.n); /* one allocation for all */
    free(f.ids);
    if (!x) return resp;
    if (sync_repl) {
        /* end of the record(s): a batch is one contiguous run */
        x->pending++;
        rmq_err_t e = rmq_ha_wait_ack(b->ha, r.phys_offset + r.wrote_bytes, on_repl_done, x);
        if (e != RMQ_OK) { /* SLAVE_NOT_AVAILABLE (or out of memory): no callback comes */
            x->pending--;
            x->repl_err = RMQ_ERR_SLAVE_NOT_AVAILABLE;
        }
    }
    if (--x->pending == 0) { /* everything completed inside the put */
        send_status(x);
        free(x);
        return resp;
    }
    rmq_rem_conn_ref(c);
    rmq_broker_inflight_add(b, 1);
    return NULL; /* send_part_done replies */
}

/* ---- SEND_MESSAGE / V2 / BATCH ------------------------------------------------------------- */

/* One send through its steps: parse and check the request, resolve (or auto-create) the topic
 * and the queue, redirect a %RETRY% past its limit to the DLQ, build the properties, then store
 * one message (maybe redirected to the half or schedule topic) or a batch and reply. Every
 * pointer borrows from the request or the topic table: the body is never copied here. */
typedef struct {
    rmq_broker_ctx_t *b;
    rmq_rem_conn_t *c;
    const rmq_rem_cmd_t *req;
    rmq_broker_send_hdr_t h;
    const rmq_topic_cfg_t *tc;
    const char *topic; /* where the message is stored: h.topic or the DLQ */
    int32_t qid;
    bool is_retry, to_dlq, wait;
    const char *props; /* the request's properties (NULL when absent) */
    size_t plen;
    size_t count;   /* messages handed to the store (metrics) */
    uint64_t bytes; /* their body bytes */
    char dlq[300];
} send_t;

/* Header, broker state, topic name (broker.md 1.2 steps 1-3). */
static rmq_rem_cmd_t *send_check(send_t *s) {
    rmq_broker_ctx_t *b = s->b;
    const rmq_rem_cmd_t *req = s->req;
    const rmq_broker_cfg_t *cfg = b->env.cfg;
    char err[512];
    bool v2 = req->code == RMQ_REQ_SEND_MESSAGE_V2 || req->code == RMQ_REQ_SEND_BATCH_MESSAGE;
    if (rmq_broker_send_hdr_parse(req, v2, &s->h, err, sizeof err) != RMQ_OK)
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "%s", err);
    if (req->code == RMQ_REQ_SEND_BATCH_MESSAGE) s->h.batch = true;
    const char *topic = s->topic = s->h.topic;
    if (b->shutting_down)
        return send_err(b, req, RMQ_ERR_SERVICE_NOT_AVAILABLE, "the broker is shutting down");
    if (cfg->broker_role == RMQ_ROLE_SLAVE)
        return send_err(b, req, RMQ_ERR_SERVICE_NOT_AVAILABLE,
                        "the broker is a slave, sending message is forbidden");
    s->tc = rmq_broker_topic_get(b->topics, topic);
    if (!(cfg->broker_permission & RMQ_PERM_WRITE) && s->tc && s->tc->order)
        return send_err(b, req, RMQ_ERR_NO_PERMISSION,
                        "the broker[%s] sending message is forbidden", cfg->broker_ip1);
    const char *why = rmq_broker_topic_invalid(cfg, topic);
    if (why) return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "%s topic[%.200s]", why, topic);
    if (rmq_broker_topic_send_forbidden(topic))
        return send_err(b, req, RMQ_ERR_NO_PERMISSION, "Sending message to topic[%s] is forbidden.",
                        topic);
    return NULL;
}

/* Lookup or auto-create (broker.md 1.3), write permission, queue id. */
static rmq_rem_cmd_t *send_resolve(send_t *s) {
    rmq_broker_ctx_t *b = s->b;
    const char *topic = s->topic;
    s->is_retry = !strncmp(topic, RMQ_RETRY_PREFIX, strlen(RMQ_RETRY_PREFIX));
    const rmq_topic_cfg_t *tc = s->tc;
    if (!tc) {
        int sysflag = s->h.unit_mode ? 1 : 0;
        tc = rmq_broker_topic_create_on_send(b->topics, topic, s->h.default_topic,
                                             s->h.default_topic_queue_nums, sysflag);
        if (!tc && s->is_retry)
            tc = rmq_broker_topic_create_sys(b->topics, topic, 1, RMQ_PERM_READ | RMQ_PERM_WRITE);
        if (!tc)
            return send_err(b, s->req, RMQ_ERR_TOPIC_NOT_EXIST,
                            "topic[%s] not exist, apply first please!", topic);
        s->tc = tc;
    }
    if (!(tc->perm & RMQ_PERM_WRITE))
        return send_err(b, s->req, RMQ_ERR_NO_PERMISSION,
                        "the topic[%s] sending message is forbidden (perm %d)", topic, tc->perm);
    int idmax = RMQ_MAX(tc->write_queue_nums, tc->read_queue_nums);
    s->qid = s->h.queue_id;
    if (s->qid >= idmax)
        return send_err(b, s->req, RMQ_ERR_SYSTEM_ERROR,
                        "request queueId[%d] is illegal, topic %s has %d queues, producer: %s",
                        s->qid, topic, idmax, rmq_rem_conn_peer(s->c));
    if (s->qid < 0) {
        if (tc->write_queue_nums <= 0)
            return send_err(b, s->req, RMQ_ERR_SYSTEM_ERROR, "topic %s has no writable queue",
                            topic);
        s->qid = (int32_t)((rmq_broker_rand(b) % 99999999u) % (uint32_t)tc->write_queue_nums);
    }
    return NULL;
}

/* Sizes, then a %RETRY% send past maxReconsumeTimes goes to the DLQ (broker.md 6.3). */
static rmq_rem_cmd_t *send_limits_and_dlq(send_t *s) {
    rmq_broker_ctx_t *b = s->b;
    const rmq_rem_cmd_t *req = s->req;
    int max_size = b->env.cfg->store.max_message_size;
    if (req->body_len > (size_t)max_size)
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "the message body size %zu is over the limit maxMessageSize=%d",
                        req->body_len, max_size);
    s->props = s->h.properties;
    s->plen = s->props ? strlen(s->props) : 0;
    if (s->plen > MAX_PROPS_LEN)
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "the properties length %zu is over the limit %d", s->plen, MAX_PROPS_LEN);
    if (!s->is_retry) return NULL;
    const char *group = s->topic + strlen(RMQ_RETRY_PREFIX);
    const rmq_subgroup_t *sg = rmq_broker_subgroup_find_or_create(b->subgroups, group);
    if (!sg)
        return send_err(b, req, RMQ_ERR_SUBSCRIPTION_GROUP_NOT_EXIST,
                        "subscription group not exist, %s", group);
    int max = s->h.max_reconsume_times >= 0 && req->version >= 121 ? s->h.max_reconsume_times
                                                                   : sg->retry_max_times;
    if (s->h.reconsume_times >= max) {
        snprintf(s->dlq, sizeof s->dlq, "%s%s", RMQ_DLQ_PREFIX, group);
        if (!rmq_broker_topic_create_sys(b->topics, s->dlq, 1, RMQ_PERM_READ | RMQ_PERM_WRITE))
            return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "topic[%s] not exist", s->dlq);
        s->topic = s->dlq;
        s->qid = 0;
        s->to_dlq = true;
    }
    return NULL;
}

static const char *const drop_wait[] = {RMQ_PROP_WAIT, NULL};

/* SEND_BATCH_MESSAGE: one topic and queue, no delay, not transactional, no retry topic (1.7).
 * m is the template every message copies (flags, hosts, times); pb the batch-level
 * properties. resp is taken. */
static rmq_rem_cmd_t *send_batch(send_t *s, const rmq_store_msg_t *m, const rmq_buf_t *pb,
                                 rmq_rem_cmd_t *resp) {
    rmq_broker_ctx_t *b = s->b;
    const rmq_rem_cmd_t *req = s->req;
    char err[512];
    if (s->is_retry || delay_level(b, s->props, s->plen) > 0 ||
        (s->props && rmq_msg_prop_get(s->props, s->plen, RMQ_PROP_TRAN_MSG, &(size_t){0})) ||
        (s->props &&
         (rmq_msg_prop_get(s->props, s->plen, RMQ_PROP_TIMER_DELIVER_MS, &(size_t){0}) ||
          rmq_msg_prop_get(s->props, s->plen, RMQ_PROP_TIMER_DELAY_SEC, &(size_t){0}) ||
          rmq_msg_prop_get(s->props, s->plen, RMQ_PROP_TIMER_DELAY_MS, &(size_t){0})))) {
        rmq_rem_cmd_destroy(resp);
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "batch messages may not be delayed (DELAY or TIMER_*), transactional or "
                        "sent to a retry topic");
    }
    rmq_broker_batch_item_t *items;
    size_t n;
    rmq_err_t e = rmq_broker_batch_decode(req->body, req->body_len, &items, &n, err, sizeof err);
    if (e != RMQ_OK) {
        rmq_rem_cmd_destroy(resp);
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL, "%s", err);
    }
    rmq_store_msg_t *ms = calloc(n, sizeof *ms);
    rmq_buf_t *ps = calloc(n, sizeof *ps);
    if (!ms || !ps) {
        free(items);
        free(ms);
        free(ps);
        rmq_rem_cmd_destroy(resp);
        return send_err(b, req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        /* item properties + separator + batch-level properties */
        rmq_buf_init(&ps[i]);
        rmq_msg_prop_filter_keys(&ps[i], items[i].props, items[i].props_len, drop_wait);
        if (pb->len) {
            if (ps[i].len) rmq_buf_append_u8(&ps[i], RMQ_PROP_SEP);
            rmq_buf_append(&ps[i], pb->data, pb->len);
        }
        if (ps[i].len > MAX_PROPS_LEN) bad = true;
        ms[i] = *m;
        ms[i].topic = s->topic;
        ms[i].topic_len = strlen(s->topic);
        ms[i].queue_id = s->qid;
        ms[i].flag = items[i].flag;
        ms[i].body = items[i].body;
        ms[i].body_len = items[i].body_len;
        ms[i].props = (const char *)ps[i].data;
        ms[i].props_len = ps[i].len;
    }
    rmq_rem_cmd_t *out;
    if (bad) {
        out = send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                       "a batch message's properties exceed %d bytes", MAX_PROPS_LEN);
        rmq_rem_cmd_destroy(resp);
    } else {
        s->count = n;
        for (size_t i = 0; i < n; i++) s->bytes += items[i].body_len;
        out = put_and_reply(b, s->c, req, resp, ms, n, s->wait, s->qid, NULL, 0);
    }
    for (size_t i = 0; i < n; i++) rmq_buf_fini(&ps[i]);
    free(ps);
    free(ms);
    free(items);
    return out;
}

/* One message: a half message goes to the half topic (broker.md 8.1), a delayed one to
 * SCHEDULE_TOPIC_XXXX queue level-1 (7.2), with REAL_TOPIC/REAL_QID; the reply names the
 * requested queue. m is filled in; pb (the properties) may be replaced. resp is taken. */
static rmq_rem_cmd_t *send_one(send_t *s, rmq_store_msg_t *m, rmq_buf_t *pb, rmq_rem_cmd_t *resp) {
    rmq_broker_ctx_t *b = s->b;
    const rmq_rem_cmd_t *req = s->req;
    const char *topic = s->topic;
    int32_t qid = s->qid, reply_qid = s->qid;
    char tranv[16] = "";
    bool half = s->props &&
                rmq_msg_prop_copy(s->props, s->plen, RMQ_PROP_TRAN_MSG, tranv, sizeof tranv) &&
                !strcasecmp(tranv, "true");
    int txn = m->sysflag & RMQ_SYSFLAG_TXN_MASK;
    int lvl = s->to_dlq ? 0 : delay_level(b, s->props, s->plen);
    /* 5.x timer properties (broker.md 7.6, broker/timer): a DELAY level wins and drops them;
     * else a future due time parks the message in the timer topic. */
    int64_t timer_out = -1;
    if (!half && !s->to_dlq && (txn == RMQ_SYSFLAG_TXN_NOT || txn == RMQ_SYSFLAG_TXN_COMMIT)) {
        static const char *const timer_props[] = {
            RMQ_PROP_TIMER_DELIVER_MS, RMQ_PROP_TIMER_DELAY_SEC, RMQ_PROP_TIMER_DELAY_MS, NULL};
        if (lvl > 0) {
            rmq_buf_t nb;
            rmq_buf_init(&nb);
            rmq_msg_prop_filter_keys(&nb, (const char *)pb->data, pb->len, timer_props);
            rmq_buf_fini(pb);
            *pb = nb;
        } else {
            char terr[400];
            rmq_err_t te = rmq_broker_timer_intake(b->env.cfg, (const char *)pb->data, pb->len,
                                                   rmq_now_ms(), &timer_out, terr, sizeof terr);
            if (te != RMQ_OK) {
                rmq_rem_cmd_destroy(resp);
                return send_err(b, req, te, "%s", terr);
            }
        }
    }
    if (half) {
        if (b->env.cfg->reject_transaction_message) {
            rmq_rem_cmd_destroy(resp);
            return send_err(b, req, RMQ_ERR_NO_PERMISSION,
                            "the broker[%s] sending transaction message is forbidden "
                            "(rejectTransactionMessage=true)",
                            b->env.cfg->broker_ip1);
        }
        props_add(pb, RMQ_PROP_REAL_TOPIC, topic);
        props_add_i64(pb, RMQ_PROP_REAL_QID, qid);
        m->sysflag = (m->sysflag & ~RMQ_SYSFLAG_TXN_MASK) | RMQ_SYSFLAG_TXN_NOT;
        topic = RMQ_TOPIC_TRANS_HALF;
        qid = 0;
    } else if (lvl > 0 && (txn == RMQ_SYSFLAG_TXN_NOT || txn == RMQ_SYSFLAG_TXN_COMMIT)) {
        static const char *const drop_real[] = {RMQ_PROP_REAL_TOPIC, RMQ_PROP_REAL_QID,
                                                RMQ_PROP_DELAY, NULL};
        rmq_buf_t nb;
        rmq_buf_init(&nb);
        rmq_msg_prop_filter_keys(&nb, (const char *)pb->data, pb->len, drop_real);
        props_add_i64(&nb, RMQ_PROP_DELAY, lvl);
        props_add(&nb, RMQ_PROP_REAL_TOPIC, topic);
        props_add_i64(&nb, RMQ_PROP_REAL_QID, qid);
        rmq_buf_fini(pb);
        *pb = nb;
        topic = RMQ_TOPIC_SCHEDULE;
        qid = lvl - 1;
    } else if (timer_out >= 0) {
        static const char *const drop_real[] = {RMQ_PROP_REAL_TOPIC, RMQ_PROP_REAL_QID,
                                                RMQ_PROP_TIMER_OUT_MS, NULL};
        rmq_buf_t nb;
        rmq_buf_init(&nb);
        rmq_msg_prop_filter_keys(&nb, (const char *)pb->data, pb->len, drop_real);
        props_add_i64(&nb, RMQ_PROP_TIMER_OUT_MS, timer_out);
        props_add(&nb, RMQ_PROP_REAL_TOPIC, topic);
        props_add_i64(&nb, RMQ_PROP_REAL_QID, qid);
        rmq_buf_fini(pb);
        *pb = nb;
        topic = RMQ_TOPIC_TIMER;
        qid = 0;
    }
    if (pb->len > MAX_PROPS_LEN) {
        rmq_rem_cmd_destroy(resp);
        return send_err(b, req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "the properties length %zu is over the limit %d", s->plen, MAX_PROPS_LEN);
    }
    m->topic = topic;
    m->topic_len = strlen(topic);
    m->queue_id = qid;
    m->body = req->body;
    m->body_len = req->body_len;
    m->props = (const char *)pb->data;
    m->props_len = pb->len;
    s->count = 1;
    s->bytes = req->body_len;
    return put_and_reply(b, s->c, req, resp, m, 1, s->wait, reply_qid, s->props, s->plen);
}

/* The common send's properties in one pass: when every pair is well formed ("k\001v" pairs joined
 * by single \002, as a 4.9.1+ client writes them), none asks for a redirection (TRAN_MSG,
 * DELAY, TIMER_*) and WAIT appears at most once, the stored properties are the sender's bytes
 * with the WAIT pair cut out and CLUSTER appended (what the filter below would build, byte for
 * byte), handed to the store in pieces: no second copy. False: take the general path. */
typedef struct {
    size_t cut_at, cut_len; /* the WAIT pair and one separator beside it; 0 length: none */
    bool wait;              /* WAIT is not "false" */
} plain_props_t;

static bool key_is(const char *k, size_t kl, const char *lit) {
    return kl == strlen(lit) && memcmp(k, lit, kl) == 0;
}

static bool plain_props(const char *props, size_t len, plain_props_t *pp) {
    *pp = (plain_props_t){.wait = true};
    if (!props || !len) return true;
    bool seen_wait = false;
    size_t i = 0;
    for (;;) {
        const char *pair = props + i;
        const char *end = memchr(pair, RMQ_PROP_SEP, len - i);
        size_t pl = end ? (size_t)(end - pair) : len - i;
        const char *sep = memchr(pair, RMQ_PROP_NAME_SEP, pl);
        if (!sep || sep == pair || sep + 1 == pair + pl) return false; /* the filter drops it */
        size_t kl = (size_t)(sep - pair);
        if (key_is(pair, kl, RMQ_PROP_TRAN_MSG) || key_is(pair, kl, RMQ_PROP_DELAY) ||
            (kl >= 6 && memcmp(pair, "TIMER_", 6) == 0))
            return false;
        if (key_is(pair, kl, RMQ_PROP_WAIT)) {
            if (seen_wait) return false;
            seen_wait = true;
            pp->wait = !(pl - kl - 1 == 5 && memcmp(sep + 1, "false", 5) == 0);
            if (end) { /* the pair and the separator after it */
                pp->cut_at = i;
                pp->cut_len = pl + 1;
            } else { /* the last pair: the separator before it, if any */
                pp->cut_at = i ? i - 1 : 0;
                pp->cut_len = len - pp->cut_at;
            }
        }
        if (!end) return true;
        i += pl + 1;
        if (i >= len) return false; /* a trailing separator: the filter drops it */
    }
}

/* Store one message whose properties plain_props accepted: pieces of the request's bytes plus
 * CLUSTER (the caller checked the cluster name is short). resp is taken. */
static rmq_rem_cmd_t *send_plain(send_t *s, rmq_store_msg_t *m, const plain_props_t *pp,
                                 rmq_rem_cmd_t *resp) {
    rmq_broker_ctx_t *b = s->b;
    const char *cluster = b->env.cfg->broker_cluster_name;
    size_t kept = s->plen - pp->cut_len;
    char cp[300];
    size_t cl = 0;
    if (cluster && *cluster) { /* "[\002]CLUSTER\001name": the caller checked it fits */
        size_t nl = strlen(cluster);
        if (kept) cp[cl++] = RMQ_PROP_SEP;
        memcpy(cp + cl, RMQ_PROP_CLUSTER, sizeof RMQ_PROP_CLUSTER - 1);
        cl += sizeof RMQ_PROP_CLUSTER - 1;
        cp[cl++] = RMQ_PROP_NAME_SEP;
        memcpy(cp + cl, cluster, nl);
        cl += nl;
    }
    if (kept + cl > MAX_PROPS_LEN) {
        rmq_rem_cmd_destroy(resp);
        return send_err(b, s->req, RMQ_ERR_MESSAGE_ILLEGAL,
                        "the properties length %zu is over the limit %d", kept + cl, MAX_PROPS_LEN);
    }
    m->topic = s->topic;
    m->topic_len = strlen(s->topic);
    m->queue_id = s->qid;
    m->body = s->req->body;
    m->body_len = s->req->body_len;
    m->props = s->props;
    m->props_len = pp->cut_at;
    m->props_more[0] = s->props ? s->props + pp->cut_at + pp->cut_len : NULL;
    m->props_more_len[0] = s->plen - pp->cut_at - pp->cut_len;
    m->props_more[1] = cp;
    m->props_more_len[1] = cl;
    s->count = 1;
    s->bytes = s->req->body_len;
    return put_and_reply(b, s->c, s->req, resp, m, 1, s->wait, s->qid, s->props, s->plen);
}

static rmq_rem_cmd_t *handle_send(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    send_t s = {.b = b, .c = c, .req = req};
    rmq_rem_cmd_t *out;
    if ((out = send_check(&s)) || (out = send_resolve(&s)) || (out = send_limits_and_dlq(&s)))
        return out;

    /* Properties: drop WAIT (kept for the flush decision), add CLUSTER; the common case
     * without a copy (plain_props). */
    plain_props_t pp;
    const char *cluster = b->env.cfg->broker_cluster_name;
    bool plain = !s.h.batch && !s.to_dlq && (!cluster || strlen(cluster) < 200) &&
                 plain_props(s.props, s.plen, &pp);
    char waitv[16] = "";
    if (plain)
        s.wait = pp.wait;
    else
        s.wait =
            !(s.props && rmq_msg_prop_copy(s.props, s.plen, RMQ_PROP_WAIT, waitv, sizeof waitv) &&
              !strcmp(waitv, "false"));
    static const char *const drop_wait_delay[] = {RMQ_PROP_WAIT, RMQ_PROP_DELAY, NULL};
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    if (!plain) {
        rmq_msg_prop_filter_keys(&pb, s.props, s.plen, s.to_dlq ? drop_wait_delay : drop_wait);
        props_add(&pb, RMQ_PROP_CLUSTER, b->env.cfg->broker_cluster_name);
    }

    rmq_store_msg_t m = {0};
    m.flag = s.h.flag;
    m.sysflag = s.h.sys_flag;
    if (s.tc->topic_filter_type == 1) m.sysflag |= RMQ_SYSFLAG_MULTI_TAGS;
    m.born_ts = s.h.born_timestamp;
    rmq_broker_peer_host(c, &m.born_host);
    m.store_host = b->env.store_host;
    m.reconsume_times = s.h.reconsume_times;
    /* MSG_REGION and TRACE_ON are added with the reply's other fields (reply_fields); the
     * common send's reply is built by put_and_reply only if it cannot be written flat */
    rmq_rem_cmd_t *resp = NULL;
    if (!plain && !(resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL))) {
        rmq_buf_fini(&pb);
        return NULL;
    }
    out = plain       ? send_plain(&s, &m, &pp, resp)
          : s.h.batch ? send_batch(&s, &m, &pb, resp)
                      : send_one(&s, &m, &pb, resp);
    rmq_buf_fini(&pb);
    /* stored: answered later (flush or slave wait) or now with a status that follows a put */
    if (b->metrics && s.count &&
        (!out || out->code == RMQ_OK || out->code == RMQ_ERR_FLUSH_DISK_TIMEOUT ||
         out->code == RMQ_ERR_FLUSH_SLAVE_TIMEOUT || out->code == RMQ_ERR_SLAVE_NOT_AVAILABLE))
        rmq_broker_metrics_on_put(b->metrics, s.h.topic, s.props, s.plen, s.count, s.bytes);
    if (b->bstats && s.count &&
        (!out || out->code == RMQ_OK || out->code == RMQ_ERR_FLUSH_DISK_TIMEOUT ||
         out->code == RMQ_ERR_FLUSH_SLAVE_TIMEOUT || out->code == RMQ_ERR_SLAVE_NOT_AVAILABLE))
        rmq_broker_bstats_on_put(b->bstats, s.h.topic, s.count, s.bytes,
                                 (int64_t)uv_now(b->env.loop));
    return out;
}

RMQ_BROKER_HANDLER(rmq_broker_send_on_send) {
    rmq_rem_cmd_t *resp = handle_send(b, c, req);
    if (resp && resp->code != RMQ_OK && resp->code != RMQ_ERR_FLUSH_DISK_TIMEOUT)
        RMQ_LOG_DEBUG("send", "send from %s refused: %d %s", rmq_rem_conn_peer(c), resp->code,
                      resp->remark ? resp->remark : "");
    return resp;
}

/* ---- re-put (delay, retry, DLQ, transactions) ---------------------------------------------- */

rmq_err_t rmq_broker_reput(const rmq_broker_env_t *env, const rmq_msg_rec_t *rec, const char *topic,
                           int32_t qid, const char *new_props, size_t new_props_len,
                           int32_t reconsume_times, rmq_store_put_result_t *r,
                           rmq_store_put_cb done, void *arg) {
    rmq_store_msg_t m = {0};
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.queue_id = qid;
    m.flag = rec->flag;
    m.body = rec->body;
    m.body_len = (size_t)rec->body_len;
    m.props = new_props;
    m.props_len = new_props_len;
    m.sysflag = rec->sysflag & ~(RMQ_SYSFLAG_BORNHOST_V6 | RMQ_SYSFLAG_STOREHOST_V6);
    m.born_ts = rec->born_ts;
    m.born_host = rec->born_host;
    m.store_host = env->store_host;
    m.reconsume_times = reconsume_times;
    m.prepared_txn_offset = rec->prepared_txn_offset;
    return rmq_store_put(env->store, &m, r, done, arg);
}

rmq_err_t rmq_broker_put_local(const rmq_broker_env_t *env, const char *topic, int32_t qid,
                               const char *body, const rmq_buf_t *props) {
    rmq_store_msg_t m = {0};
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.queue_id = qid;
    m.body = body;
    m.body_len = strlen(body);
    m.props = (const char *)props->data;
    m.props_len = props->len;
    m.born_ts = rmq_now_ms();
    m.born_host = env->store_host;
    m.store_host = env->store_host;
    rmq_store_put_result_t r;
    return rmq_store_put(env->store, &m, &r, NULL, NULL);
}

/* ---- CONSUMER_SEND_MSG_BACK (broker.md 6.2) ------------------------------------------------ */

static rmq_rem_cmd_t *handle_send_back(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    int64_t offset;
    int32_t delay, maxr = -1;
    const char *group = rmq_rem_cmd_get(req, "group");
    rmq_err_t e;
    if (!group)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <group> is null");
    if ((e = rmq_rem_cmd_get_i64(req, "offset", &offset)) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <offset> is %s",
                              e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    if ((e = rmq_rem_cmd_get_i32(req, "delayLevel", &delay)) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <delayLevel> is %s",
                              e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    if (rmq_rem_cmd_get_i32(req, "maxReconsumeTimes", &maxr) == RMQ_ERR__INVALID_ARG)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "the custom field <maxReconsumeTimes> is not a number");

    const rmq_subgroup_t *sg = rmq_broker_subgroup_find_or_create(b->subgroups, group);
    if (!sg)
        return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_GROUP_NOT_EXIST,
                              "subscription group not exist, %s", group);
    if (!(b->env.cfg->broker_permission & RMQ_PERM_WRITE))
        return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION,
                              "the broker[%s] sending message is forbidden",
                              b->env.cfg->broker_ip1);
    /* RocketMQ's slave store refuses the put: SERVICE_NOT_AVAILABLE (broker.md 9.1) */
    if (b->env.cfg->broker_role == RMQ_ROLE_SLAVE)
        return rmq_broker_err(req, RMQ_ERR_SERVICE_NOT_AVAILABLE,
                              "the broker is a slave, sending message back is forbidden");
    if (sg->retry_queue_nums <= 0) return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);

    char retry[300];
    snprintf(retry, sizeof retry, "%s%s", RMQ_RETRY_PREFIX, group);
    int32_t qid = (int32_t)(rmq_broker_rand(b) % (uint32_t)sg->retry_queue_nums);
    const rmq_topic_cfg_t *tc = rmq_broker_topic_create_sys(b->topics, retry, sg->retry_queue_nums,
                                                            RMQ_PERM_READ | RMQ_PERM_WRITE);
    if (!tc) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "topic[%s] not exist", retry);
    if (!(tc->perm & RMQ_PERM_WRITE))
        return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION,
                              "the topic[%s] sending message is forbidden", retry);

    uint8_t *raw = NULL;
    size_t rawlen = 0;
    rmq_msg_rec_t rec;
    if (rmq_store_read_at(b->env.store, offset, &raw, &rawlen) != RMQ_OK ||
        rmq_msg_rec_decode(raw, rawlen, false, &rec) <= 0) {
        free(raw);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "look message by offset failed, %" PRId64,
                              offset);
    }
    int max = maxr >= 0 && req->version >= 121 ? maxr : sg->retry_max_times;
    const char *topic = retry;
    char dlq[300];
    int lvl = 0;
    if (rec.reconsume_times >= max || delay < 0) {
        snprintf(dlq, sizeof dlq, "%s%s", RMQ_DLQ_PREFIX, group);
        if (!rmq_broker_topic_create_sys(b->topics, dlq, 1, RMQ_PERM_READ | RMQ_PERM_WRITE)) {
            free(raw);
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "topic[%s] not exist", dlq);
        }
        topic = dlq;
        qid = 0;
        RMQ_LOG_INFO("send", "message at %" PRId64 " of group %s goes to %s after %d attempts",
                     offset, group, dlq, rec.reconsume_times);
    } else {
        lvl = delay > 0 ? delay : 3 + rec.reconsume_times;
        int maxl = rmq_broker_delay_levels(b->env.cfg->message_delay_level);
        if (lvl > maxl) lvl = maxl;
    }

    /* Properties: RETRY_TOPIC (first time), ORIGIN_MESSAGE_ID, WAIT=false, DELAY and, when
     * delayed, REAL_TOPIC / REAL_QID for the schedule topic. */
    static const char *const drop[] = {RMQ_PROP_WAIT,
                                       RMQ_PROP_DELAY,
                                       RMQ_PROP_REAL_TOPIC,
                                       RMQ_PROP_REAL_QID,
                                       RMQ_PROP_ORIGIN_MESSAGE_ID,
                                       NULL};
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    rmq_msg_prop_filter_keys(&pb, rec.props, (size_t)rec.props_len, drop);
    if (!rmq_msg_prop_get(rec.props, (size_t)rec.props_len, RMQ_PROP_RETRY_TOPIC, &(size_t){0})) {
        char t[256];
        size_t tl = RMQ_MIN((size_t)rec.topic_len, sizeof t - 1);
        memcpy(t, rec.topic, tl);
        t[tl] = 0;
        props_add(&pb, RMQ_PROP_RETRY_TOPIC, t);
    }
    char origin[128];
    if (!rmq_msg_prop_copy(rec.props, (size_t)rec.props_len, RMQ_PROP_ORIGIN_MESSAGE_ID, origin,
                           sizeof origin) ||
        !origin[0])
        rmq_msg_offset_id_encode(origin, &rec.store_host, rec.phys_offset);
    props_add(&pb, RMQ_PROP_ORIGIN_MESSAGE_ID, origin);
    props_add(&pb, RMQ_PROP_WAIT, "false");
    if (lvl > 0) {
        props_add_i64(&pb, RMQ_PROP_DELAY, lvl);
        props_add(&pb, RMQ_PROP_REAL_TOPIC, topic);
        props_add_i64(&pb, RMQ_PROP_REAL_QID, qid);
        topic = RMQ_TOPIC_SCHEDULE;
        qid = lvl - 1;
    }
    rmq_store_put_result_t r;
    e = rmq_broker_reput(&b->env, &rec, topic, qid, (const char *)pb.data, pb.len,
                         rec.reconsume_times + 1, &r, NULL, NULL);
    rmq_buf_fini(&pb);
    free(raw);
    if (e != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "send back failed: %s", rmq_strerror(e));
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_send_on_send_back) {
    return handle_send_back(b, c, req);
}
