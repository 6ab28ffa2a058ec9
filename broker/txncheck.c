/* Transaction check-back (broker.md 8.4, 8.5), after RocketMQ 4.9's
 * TransactionalMessageServiceImpl.check: half messages live in RMQ_SYS_TRANS_HALF_TOPIC (send.c),
 * END_TRANSACTION resolves one by writing an op message whose body is the half's queue offset
 * into RMQ_SYS_TRANS_OP_HALF_TOPIC (txn.c). Here a timer walks each half queue from the system
 * group CID_RMQ_SYS_TRANS's offset against the op queue read from that group's op offset:
 *   - resolved halves (an op names them) are skipped;
 *   - a half checked transactionCheckMax times, or older than fileReservedTime, is copied into
 *     TRANS_CHECK_MAX_TIME_TOPIC and dropped (a WARN names it);
 *   - one stored after the run began, or younger than its immunity (transactionTimeOut, or
 *     CHECK_IMMUNITY_TIME_IN_SECONDS), ends the walk; with the property set the young half is
 *     forwarded as a copy carrying TRAN_PREPARED_QUEUE_OFFSET instead;
 *   - otherwise it is re-put at the end of the half queue with TRANSACTION_CHECK_TIMES + 1 and
 *     CHECK_TRANSACTION_STATE goes oneway, for the copy, to one live producer of its PGROUP;
 *   - unlike RocketMQ, a copy is not checked again until transactionTimeOut after its check
 *     went out (its store time), so a producer answering slowly is not asked twice.
 * The group's two offsets then move to the first unprocessed half and past the contiguous run
 * of consumed ops, and consumerOffset.json is written at once, before the checks leave the
 * loop: a broker killed with -9 restarts from there (a copy re-put just before the kill may be
 * checked once more, as in RocketMQ; never a half lost).
 *
 * Loop thread only. A run is cut in slices of at most SLICE_MSGS records or SLICE_MS ms; the
 * next slice is a zero timer, so requests are served between slices. */
#include "broker/txncheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/send.h"
#include "broker/topic.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

#define CHECK_GROUP "CID_RMQ_SYS_TRANS" /* MixAll.CID_SYS_RMQ_TRANS */
#define TOPIC_CHECK_MAX "TRANS_CHECK_MAX_TIME_TOPIC"
#define OP_BATCH 32    /* op messages per read (RocketMQ's PULL_MSG_RETRY_NUMBER batch) */
#define SLICE_MSGS 256 /* half records per slice */
#define SLICE_MS 20    /* and wall time per slice */
#define OPS_PER_SLICE 4096

struct rmq_broker_txn_check_s {
    const rmq_broker_env_t *env;   /* borrowed */
    rmq_broker_offsets_t *offsets; /* borrowed */
    rmq_broker_topics_t *topics;   /* borrowed */
    rmq_broker_clients_t *clients; /* borrowed */
    uv_timer_t timer;
    bool closing;
    int64_t run_start; /* wall ms the current run began; 0 between runs */
    /* per-slice scratch */
    rmq_map_t remove; /* half queue offset (decimal) -> op queue offset */
    int64_t *done;    /* consumed op offsets */
    size_t ndone, cap;
    int ops_read;
    /* per-run figures for the log */
    uint64_t checked, no_producer, discarded;
};

/* ---- pure parts ---------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int64_t rmq_broker_txn_next_op_offset(int64_t op_off, int64_t *done, size_t n) {
    if (n) qsort(done, n, sizeof *done, cmp_i64);
    for (size_t i = 0; i < n; i++) {
        if (done[i] < op_off) continue;
        if (done[i] != op_off) break;
        op_off++;
    }
    return op_off;
}

int64_t rmq_broker_txn_immunity_ms(const char *v, int64_t def_ms) {
    int64_t s;
    if (!v || rmq_parse_i64(v, &s) != 0 || s == -1 || s < 0 || s > INT64_MAX / 1000) return def_ms;
    return s * 1000;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void done_add(rmq_broker_txn_check_t *t, int64_t op) {
    if (t->ndone == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        int64_t *d = realloc(t->done, cap * sizeof *d);
        if (!d) return; /* the op offset then stays behind: re-read next slice */
        t->done = d;
        t->cap = cap;
    }
    t->done[t->ndone++] = op;
}

static int64_t prop_i64(const rmq_msg_rec_t *r, const char *k, int64_t def) {
    char v[32];
    int64_t x;
    if (!rmq_msg_prop_copy(r->props, (size_t)r->props_len, k, v, sizeof v) ||
        rmq_parse_i64(v, &x) != 0)
        return def;
    return x;
}

/* Read the next OP_BATCH op messages of queue qid from *op_next into the remove map / done
 * list. Returns how many were read; *last_born = the newest one's born time. */
static int fill_ops(rmq_broker_txn_check_t *t, int32_t qid, int64_t *op_next, int64_t half_off,
                    int64_t *last_born) {
    rmq_store_t *st = t->env->store;
    if (t->ops_read >= OPS_PER_SLICE) return 0;
    for (int tries = 0; tries < 4; tries++) {
        rmq_store_get_t *g = NULL;
        if (rmq_store_get(st, RMQ_TOPIC_TRANS_OP_HALF, qid, *op_next, OP_BATCH, 0, NULL, &g) !=
                RMQ_OK ||
            !g)
            return 0;
        if (g->status != RMQ_GET_FOUND || g->count == 0) {
            int64_t max = rmq_store_max_offset(st, RMQ_TOPIC_TRANS_OP_HALF, qid);
            bool moved = g->next_begin_offset > *op_next && g->next_begin_offset <= max;
            if (moved) *op_next = g->next_begin_offset; /* a hole: skip it */
            rmq_store_get_release(g);
            if (moved) continue;
            return 0;
        }
        int n = (int)g->count;
        for (size_t i = 0; i < g->count; i++) {
            int64_t qoff = g->queue_offsets[i];
            rmq_msg_rec_t rec;
            char body[32];
            int64_t half;
            if (rmq_msg_rec_decode(g->iov[i].iov_base, g->iov[i].iov_len, false, &rec) <= 0 ||
                rec.body_len <= 0 || rec.body_len >= (int32_t)sizeof body) {
                done_add(t, qoff);
                continue;
            }
            memcpy(body, rec.body, (size_t)rec.body_len);
            body[rec.body_len] = 0;
            *last_born = rec.born_ts;
            if (rmq_parse_i64(body, &half) != 0) {
                RMQ_LOG_WARN("txn", "op message at %d:%" PRId64 " has body '%s'; ignored", qid,
                             qoff, body);
                done_add(t, qoff);
            } else if (half < half_off) {
                done_add(t, qoff);
            } else {
                char key[24];
                snprintf(key, sizeof key, "%" PRId64, half);
                rmq_map_ent_t *e = rmq_map_upsert(&t->remove, key, strlen(key), &(bool){0});
                if (e) e->v.i64 = qoff;
            }
        }
        *op_next = g->queue_offsets[g->count - 1] + 1;
        t->ops_read += n;
        rmq_store_get_release(g);
        return n;
    }
    return 0;
}

/* Properties of r with key k set to v (no trailing separator). */
static void props_with(rmq_buf_t *pb, const rmq_msg_rec_t *r, const char *k, const char *v) {
    const char *const drop[] = {k, NULL};
    rmq_msg_prop_filter_keys(pb, r->props, (size_t)r->props_len, drop);
    if (pb->len) rmq_buf_append_u8(pb, RMQ_PROP_SEP);
    rmq_msg_prop_append(pb, k, v);
    if (pb->len) pb->len--;
}

/* Copy a half message that will never be resolved into TRANS_CHECK_MAX_TIME_TOPIC. */
static bool discard(rmq_broker_txn_check_t *t, const rmq_msg_rec_t *r, int64_t qoff, int times) {
    if (!rmq_broker_topic_create_sys(t->topics, TOPIC_CHECK_MAX, 1, RMQ_PERM_READ | RMQ_PERM_WRITE))
        return false;
    rmq_store_put_result_t res;
    rmq_err_t e = rmq_broker_reput(t->env, r, TOPIC_CHECK_MAX, 0, r->props, (size_t)r->props_len,
                                   r->reconsume_times, &res, NULL, NULL);
    if (e != RMQ_OK) {
        RMQ_LOG_WARN("txn", "half %" PRId64 ": cannot move it to %s: %s", qoff, TOPIC_CHECK_MAX,
                     rmq_strerror(e));
        return false;
    }
    char uniq[128] = "", pgroup[256] = "";
    rmq_msg_prop_copy(r->props, (size_t)r->props_len, RMQ_PROP_UNIQ_KEY, uniq, sizeof uniq);
    rmq_msg_prop_copy(r->props, (size_t)r->props_len, RMQ_PROP_PGROUP, pgroup, sizeof pgroup);
    RMQ_LOG_WARN("txn",
                 "half message %s of producer group %s (half offset %" PRId64
                 ") checked %d times without an answer: moved to %s",
                 uniq, pgroup, qoff, times, TOPIC_CHECK_MAX);
    t->discarded++;
    return true;
}

/* CHECK_TRANSACTION_STATE for the copy c (its topic and queue restored) to a producer. */
static void send_check(rmq_broker_txn_check_t *t, const rmq_msg_rec_t *c) {
    char pgroup[256] = "", uniq[128] = "", real_topic[256] = "", qv[32] = "";
    size_t pl = (size_t)c->props_len;
    rmq_msg_prop_copy(c->props, pl, RMQ_PROP_PGROUP, pgroup, sizeof pgroup);
    rmq_msg_prop_copy(c->props, pl, RMQ_PROP_UNIQ_KEY, uniq, sizeof uniq);
    rmq_msg_prop_copy(c->props, pl, RMQ_PROP_REAL_TOPIC, real_topic, sizeof real_topic);
    rmq_msg_prop_copy(c->props, pl, RMQ_PROP_REAL_QID, qv, sizeof qv);
    int64_t real_qid = 0;
    if (rmq_parse_i64(qv, &real_qid) != 0 || real_qid < 0 || real_qid > INT32_MAX) real_qid = 0;
    rmq_rem_conn_t *conn = rmq_broker_clients_pick_producer(t->clients, pgroup);
    if (!conn) {
        t->no_producer++;
        RMQ_LOG_DEBUG("txn", "no producer of group %s online to check %s", pgroup, uniq);
        return;
    }
    rmq_msg_rec_t m = *c;
    if (real_topic[0]) {
        m.topic = real_topic;
        m.topic_len = (int32_t)strlen(real_topic);
    }
    m.queue_id = (int32_t)real_qid;
    size_t sz = rmq_msg_rec_size((size_t)m.body_len, (size_t)m.topic_len, (size_t)m.props_len,
                                 m.born_host.ip_len == 16, m.store_host.ip_len == 16);
    uint8_t *body = malloc(sz);
    rmq_rem_cmd_t *req = body ? rmq_rem_cmd_new_request(RMQ_REQ_CHECK_TRANSACTION_STATE) : NULL;
    if (!req) {
        free(body);
        return;
    }
    rmq_msg_rec_encode(body, &m, true);
    char offid[64];
    rmq_msg_offset_id_encode(offid, &c->store_host, c->phys_offset);
    req->language = RMQ_LANG_JAVA;
    req->flag |= RMQ_REM_FLAG_ONEWAY;
    rmq_err_t e = rmq_rem_cmd_set_i64(req, "tranStateTableOffset", c->queue_offset);
    if (!e) e = rmq_rem_cmd_set_i64(req, "commitLogOffset", c->phys_offset);
    if (!e) e = rmq_rem_cmd_set(req, "offsetMsgId", offid);
    if (!e && uniq[0]) e = rmq_rem_cmd_set(req, "msgId", uniq);
    if (!e && uniq[0]) e = rmq_rem_cmd_set(req, "transactionId", uniq);
    if (e) {
        free(body);
        rmq_rem_cmd_destroy(req);
        return;
    }
    rmq_rem_cmd_set_body(req, body, sz);
    e = rmq_rem_conn_request(conn, req, 3000, NULL, NULL);
    if (e != RMQ_OK) {
        RMQ_LOG_WARN("txn", "cannot send the check of %s to %s: %s", uniq, rmq_rem_conn_peer(conn),
                     rmq_strerror(e));
        return;
    }
    t->checked++;
    RMQ_LOG_DEBUG("txn", "checking %s (group %s) with %s", uniq, pgroup, rmq_rem_conn_peer(conn));
}

/* Re-put r at the end of its half queue with property k = v; *copy gets the copy's record as
 * stored (props pointing into pb, which the caller frees). */
static bool put_back(rmq_broker_txn_check_t *t, const rmq_msg_rec_t *r, const char *k,
                     const char *v, rmq_buf_t *pb, rmq_msg_rec_t *copy) {
    props_with(pb, r, k, v);
    rmq_store_put_result_t res;
    rmq_err_t e =
        rmq_broker_reput(t->env, r, RMQ_TOPIC_TRANS_HALF, r->queue_id, (const char *)pb->data,
                         pb->len, r->reconsume_times, &res, NULL, NULL);
    if (e != RMQ_OK) {
        RMQ_LOG_WARN("txn", "half %" PRId64 ": re-put failed (%s); tried again next run",
                     r->queue_offset, rmq_strerror(e));
        return false;
    }
    *copy = *r;
    copy->props = (const char *)pb->data;
    copy->props_len = (int32_t)pb->len;
    copy->queue_offset = res.queue_offset;
    copy->phys_offset = res.phys_offset;
    copy->store_ts = res.store_ts;
    copy->store_host = t->env->store_host;
    return true;
}

/* ---- the walk ------------------------------------------------------------------------------ */

typedef enum { WALK_DONE, WALK_MORE } walk_t;

/* One slice of the walk of half queue qid for the run that began at start. */
static walk_t walk_queue(rmq_broker_txn_check_t *t, int32_t qid, int64_t start, int *budget,
                         uint64_t slice_end) {
    const rmq_broker_cfg_t *cfg = t->env->cfg;
    rmq_store_t *st = t->env->store;
    int64_t half_off = rmq_broker_offset_get(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_HALF, qid);
    int64_t op_off = rmq_broker_offset_get(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_OP_HALF, qid);
    int64_t hmin = rmq_store_min_offset(st, RMQ_TOPIC_TRANS_HALF, qid);
    if (half_off < hmin) half_off = hmin;
    int64_t omin = rmq_store_min_offset(st, RMQ_TOPIC_TRANS_OP_HALF, qid);
    if (op_off < omin) op_off = omin;
    rmq_map_clear(&t->remove, NULL);
    t->ndone = 0;
    t->ops_read = 0;
    int64_t op_next = op_off, last_born = 0;
    int got = fill_ops(t, qid, &op_next, half_off, &last_born);
    int64_t timeout = cfg->transaction_timeout;
    int64_t max_times = cfg->transaction_check_max;
    int64_t reserved_ms = (int64_t)cfg->store.file_reserved_time * 3600 * 1000;
    int64_t i = half_off;
    walk_t res = WALK_MORE;
    for (;;) {
        if (*budget <= 0 || rmq_mono_ms() >= slice_end) break;
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, i);
        rmq_map_ent_t *ent = rmq_map_find(&t->remove, key, strlen(key));
        if (ent) {
            done_add(t, ent->v.i64);
            rmq_map_remove(&t->remove, ent);
            i++;
            continue;
        }
        int64_t max = rmq_store_max_offset(st, RMQ_TOPIC_TRANS_HALF, qid);
        if (i >= max) {
            res = WALK_DONE;
            break;
        }
        rmq_store_get_t *g = NULL;
        if (rmq_store_get(st, RMQ_TOPIC_TRANS_HALF, qid, i, 1, 0, NULL, &g) != RMQ_OK || !g) {
            res = WALK_DONE;
            break;
        }
        rmq_msg_rec_t rec;
        if (g->status != RMQ_GET_FOUND || g->count == 0) {
            bool moved = g->next_begin_offset > i && g->next_begin_offset <= max;
            if (moved) i = g->next_begin_offset;
            rmq_store_get_release(g);
            if (moved) continue;
            res = WALK_DONE;
            break;
        }
        if (rmq_msg_rec_decode(g->iov[0].iov_base, g->iov[0].iov_len, false, &rec) <= 0) {
            RMQ_LOG_WARN("txn", "half %d:%" PRId64 " undecodable; skipped", qid, i);
            rmq_store_get_release(g);
            i++;
            continue;
        }
        (*budget)--;
        rec.queue_offset = i;
        int64_t now = rmq_now_ms();
        int64_t times = prop_i64(&rec, RMQ_PROP_TRANSACTION_CHECK_TIMES, 0);
        if (times >= max_times || (reserved_ms > 0 && now - rec.born_ts > reserved_ms)) {
            bool ok = discard(t, &rec, i, (int)times);
            rmq_store_get_release(g);
            if (!ok) break;
            i++;
            continue;
        }
        if (rec.store_ts >= start) {
            rmq_store_get_release(g);
            res = WALK_DONE;
            break;
        }
        if (times > 0 && now - rec.store_ts >= 0 && now - rec.store_ts < timeout) {
            /* A copy whose check went out less than transactionTimeOut ago: its producer may
             * still be answering. RocketMQ checks it again at the next run, which commits a
             * transaction twice when the answers cross; later records are younger still. */
            rmq_store_get_release(g);
            res = WALK_DONE;
            break;
        }
        int64_t age = now - rec.born_ts;
        char imm[32];
        bool has_imm = rmq_msg_prop_copy(rec.props, (size_t)rec.props_len,
                                         RMQ_PROP_CHECK_IMMUNITY_TIME, imm, sizeof imm);
        int64_t immunity = rmq_broker_txn_immunity_ms(has_imm ? imm : NULL, timeout);
        if (has_imm) {
            if (age < immunity) {
                /* Young with its own immunity: forward it unless its original is resolved. */
                int64_t orig = prop_i64(&rec, RMQ_PROP_TRAN_PREPARED_QUEUE_OFFSET, -1);
                char ok[24];
                snprintf(ok, sizeof ok, "%" PRId64, orig);
                rmq_map_ent_t *oe = orig >= 0 ? rmq_map_find(&t->remove, ok, strlen(ok)) : NULL;
                bool fine = true;
                if (oe) {
                    done_add(t, oe->v.i64);
                    rmq_map_remove(&t->remove, oe);
                } else {
                    char v[24];
                    snprintf(v, sizeof v, "%" PRId64, orig >= 0 ? orig : i);
                    rmq_buf_t pb;
                    rmq_buf_init(&pb);
                    rmq_msg_rec_t copy;
                    fine = put_back(t, &rec, RMQ_PROP_TRAN_PREPARED_QUEUE_OFFSET, v, &pb, &copy);
                    rmq_buf_fini(&pb);
                }
                rmq_store_get_release(g);
                if (!fine) break;
                i++;
                continue;
            }
        } else if (age >= 0 && age < immunity) {
            rmq_store_get_release(g);
            res = WALK_DONE;
            break;
        }
        bool need =
            (got == 0 && age >= immunity) || (got > 0 && last_born - start > timeout) || age <= -1;
        if (!need) {
            rmq_store_get_release(g);
            got = fill_ops(t, qid, &op_next, half_off, &last_born);
            if (got == 0 && t->ops_read >= OPS_PER_SLICE) break; /* next slice goes on */
            continue;                                            /* re-evaluate i */
        }
        char v[24];
        snprintf(v, sizeof v, "%" PRId64, times + 1);
        rmq_buf_t pb;
        rmq_buf_init(&pb);
        rmq_msg_rec_t copy;
        bool fine = put_back(t, &rec, RMQ_PROP_TRANSACTION_CHECK_TIMES, v, &pb, &copy);
        if (fine) send_check(t, &copy);
        rmq_buf_fini(&pb);
        rmq_store_get_release(g);
        if (!fine) break;
        i++;
    }
    /* Progress, persisted before any check just queued reaches its producer. */
    int64_t new_op = rmq_broker_txn_next_op_offset(op_off, t->done, t->ndone);
    bool moved = false;
    if (i != rmq_broker_offset_get(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_HALF, qid)) {
        rmq_broker_offset_set(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_HALF, qid, i);
        moved = true;
    }
    if (new_op != rmq_broker_offset_get(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_OP_HALF, qid)) {
        rmq_broker_offset_set(t->offsets, CHECK_GROUP, RMQ_TOPIC_TRANS_OP_HALF, qid, new_op);
        moved = true;
    }
    if (moved) rmq_broker_offsets_persist(t->offsets);
    return res;
}

static void on_timer(uv_timer_t *h);

/* One slice of the current run (a new run when none is going). */
static void run_slice(rmq_broker_txn_check_t *t) {
    if (!t->run_start) {
        t->run_start = rmq_now_ms();
        t->checked = t->no_producer = t->discarded = 0;
        /* RocketMQ creates the half topic's config when it first lists its queues. */
        if (rmq_store_max_offset(t->env->store, RMQ_TOPIC_TRANS_HALF, 0) > 0)
            rmq_broker_topic_create_sys(t->topics, RMQ_TOPIC_TRANS_HALF, 1,
                                        RMQ_PERM_READ | RMQ_PERM_WRITE);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    walk_t all = WALK_DONE;
    int budget = SLICE_MSGS;
    uint64_t slice_end = rmq_mono_ms() + SLICE_MS;
    if (rmq_store_topic_queues(t->env->store, RMQ_TOPIC_TRANS_HALF, &ids, &n) == RMQ_OK) {
        for (size_t q = 0; q < n; q++) {
            if (walk_queue(t, ids[q], t->run_start, &budget, slice_end) == WALK_MORE)
                all = WALK_MORE;
            if (budget <= 0 || rmq_mono_ms() >= slice_end) break;
        }
    }
    free(ids);
    if (all == WALK_MORE && rmq_now_ms() - t->run_start < 60000) {
        uv_timer_start(&t->timer, on_timer, 0, 0); /* yield to the loop, then go on */
        return;
    }
    if (t->checked || t->no_producer || t->discarded)
        RMQ_LOG_INFO("txn",
                     "check run: %" PRIu64 " checks sent, %" PRIu64 " without a producer online, "
                     "%" PRIu64 " moved to %s",
                     t->checked, t->no_producer, t->discarded, TOPIC_CHECK_MAX);
    t->run_start = 0;
    uv_timer_start(&t->timer, on_timer, (uint64_t)t->env->cfg->transaction_check_interval, 0);
}

static void on_timer(uv_timer_t *h) {
    rmq_broker_txn_check_t *t = h->data;
    if (t->closing || !t->env->store) return;
    run_slice(t);
}

rmq_err_t rmq_broker_txn_check_start(const rmq_broker_env_t *env, rmq_broker_offsets_t *offsets,
                                     rmq_broker_topics_t *topics, rmq_broker_clients_t *clients,
                                     rmq_broker_txn_check_t **out) {
    rmq_broker_txn_check_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR__NOMEM;
    t->env = env;
    t->offsets = offsets;
    t->topics = topics;
    t->clients = clients;
    rmq_map_init(&t->remove);
    uv_timer_init(env->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, (uint64_t)env->cfg->transaction_check_interval, 0);
    RMQ_LOG_INFO("txn",
                 "transaction check every %d ms (transactionTimeOut %d ms, "
                 "transactionCheckMax %d)",
                 env->cfg->transaction_check_interval, env->cfg->transaction_timeout,
                 env->cfg->transaction_check_max);
    *out = t;
    return RMQ_OK;
}

static void on_closed(uv_handle_t *h) {
    rmq_broker_txn_check_t *t = h->data;
    rmq_map_fini(&t->remove, NULL);
    free(t->done);
    free(t);
}

void rmq_broker_txn_check_shutdown(rmq_broker_txn_check_t *t) {
    if (!t) return;
    t->closing = true;
    uv_close((uv_handle_t *)&t->timer, on_closed);
}
