/* Transactions, the producer's half (broker.md 8.2, 8.3): END_TRANSACTION (37) commits a half
 * message to its real topic or rolls it back, and records either outcome with an op message in
 * RMQ_SYS_TRANS_OP_HALF_TOPIC. Half messages themselves are stored by send.c; the check-back
 * service (8.4, CHECK_TRANSACTION_STATE to producers) is txncheck.c. A commit of a transaction
 * already committed through another checked copy of its half only writes the op message.
 *
 * Loop thread only. The commit's store put does not wait for a SYNC_FLUSH group commit: every
 * client sends END_TRANSACTION oneway, so nobody would read the wait's outcome. */
#include "broker/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/send.h"
#include "broker/util.h"
#include "common/log.h"
#include "common/util.h"

#define TXN_COMMIT 8
#define TXN_ROLLBACK 12
#define RECENT_MS 600000 /* late commits remembered in memory */
#define RECENT_MAX 100000

static bool recent_expired(rmq_map_ent_t *e, void *arg) {
    return e->v.i64 < *(const int64_t *)arg;
}

/* Remember a late commit of uniq (see already_committed). */
static void remember_commit(rmq_broker_ctx_t *b, const rmq_msg_rec_t *half) {
    int64_t now = rmq_now_ms();
    if (now - half->born_ts <= b->env.cfg->transaction_timeout) return;
    char uniq[128];
    if (!rmq_msg_prop_copy(half->props, (size_t)half->props_len, RMQ_PROP_UNIQ_KEY, uniq,
                           sizeof uniq) ||
        !uniq[0])
        return;
    if (b->txn_recent.count >= RECENT_MAX) {
        int64_t cut = now - RECENT_MS;
        rmq_map_each(&b->txn_recent, recent_expired, &cut);
        if (b->txn_recent.count >= RECENT_MAX) rmq_map_clear(&b->txn_recent, NULL);
    }
    rmq_map_ent_t *e = rmq_map_upsert(&b->txn_recent, uniq, strlen(uniq), &(bool){0});
    if (e) e->v.i64 = now;
}

/* A fresh UNIQ_KEY (protocol.md 6.9 layout: ip | pid | random | ms | counter), upper-case hex. */
static void new_uniq_key(rmq_broker_ctx_t *b, char out[33]) {
    if (!b->uniq_salt) b->uniq_salt = rmq_broker_rand(b) | 1;
    const rmq_msg_host_t *h = &b->env.store_host;
    uint8_t raw[16];
    memcpy(raw, h->ip_len == 4 ? h->ip : h->ip + 12, 4);
    rmq_put_be16(raw + 4, (uint16_t)getpid());
    rmq_put_be32(raw + 6, b->uniq_salt);
    rmq_put_be32(raw + 10, (uint32_t)(rmq_now_ms() - b->env.start_ms));
    rmq_put_be16(raw + 14, ++b->uniq_counter);
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = 0;
}

/* The op message that marks half queue offset `half_qoff` of queue `qid` resolved (8.3). */
static rmq_err_t put_op(rmq_broker_ctx_t *b, int32_t qid, int64_t half_qoff) {
    char body[32], uniq[33];
    snprintf(body, sizeof body, "%" PRId64, half_qoff);
    new_uniq_key(b, uniq);
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    rmq_msg_prop_append(&pb, RMQ_PROP_TAGS, "d");
    rmq_msg_prop_append(&pb, RMQ_PROP_UNIQ_KEY, uniq);
    rmq_msg_prop_append(&pb, RMQ_PROP_WAIT, "false");
    if (pb.len) pb.len--; /* no trailing separator (4.9.1+) */
    rmq_err_t e = rmq_broker_put_local(&b->env, RMQ_TOPIC_TRANS_OP_HALF, qid, body, &pb);
    rmq_buf_fini(&pb);
    return e;
}

/* Was the transaction of half (its UNIQ_KEY) committed to real_topic already, through another
 * copy of the half? The check-back re-puts a half as a copy per check, and a producer that
 * answers a check late, or ends its transaction itself after being checked, commits two copies
 * of one transaction (RocketMQ then delivers it twice). Only halves older than
 * transactionTimeOut can have been checked, so fresh commits skip the lookup. Late commits of
 * the last RECENT_MS are remembered in memory (the index lags the commit by a few ms); older
 * ones, and those before a restart, are found in the index. */
static bool already_committed(rmq_broker_ctx_t *b, const rmq_msg_rec_t *half,
                              const char *real_topic) {
    if (rmq_now_ms() - half->born_ts <= b->env.cfg->transaction_timeout) return false;
    char uniq[128];
    if (!rmq_msg_prop_copy(half->props, (size_t)half->props_len, RMQ_PROP_UNIQ_KEY, uniq,
                           sizeof uniq) ||
        !uniq[0])
        return false;
    if (rmq_map_find(&b->txn_recent, uniq, strlen(uniq))) return true; /* not indexed yet */
    int64_t *offs = NULL, last = 0;
    size_t n = 0;
    if (rmq_store_query_by_key(b->env.store, real_topic, uniq, 64, half->born_ts - 60000, INT64_MAX,
                               &offs, &n, &last) != RMQ_OK)
        return false;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        uint8_t *raw = NULL;
        size_t len = 0;
        rmq_msg_rec_t r;
        char u[128];
        if (rmq_store_read_at(b->env.store, offs[i], &raw, &len) == RMQ_OK &&
            rmq_msg_rec_decode(raw, len, false, &r) > 0 &&
            (r.sysflag & RMQ_SYSFLAG_TXN_MASK) == RMQ_SYSFLAG_TXN_COMMIT &&
            (size_t)r.topic_len == strlen(real_topic) &&
            !memcmp(r.topic, real_topic, (size_t)r.topic_len) &&
            rmq_msg_prop_copy(r.props, (size_t)r.props_len, RMQ_PROP_UNIQ_KEY, u, sizeof u) &&
            !strcmp(u, uniq))
            found = true;
        free(raw);
    }
    free(offs);
    return found;
}

static rmq_rem_cmd_t *handle_end(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, const rmq_rem_cmd_t *req) {
    if (b->env.cfg->broker_role == RMQ_ROLE_SLAVE)
        return rmq_broker_err(req, RMQ_ERR_SLAVE_NOT_AVAILABLE,
                              "Can't process the transaction on a slave broker");
    const char *group = rmq_rem_cmd_get(req, "producerGroup");
    if (!group)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "the custom field <producerGroup> is null");
    static const char *const l_names[] = {"tranStateTableOffset", "commitLogOffset"};
    int64_t vals[2];
    for (int i = 0; i < 2; i++) {
        rmq_err_t e = rmq_rem_cmd_get_i64(req, l_names[i], &vals[i]);
        if (e != RMQ_OK)
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is %s",
                                  l_names[i], e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    }
    int32_t action;
    rmq_err_t e = rmq_rem_cmd_get_i32(req, "commitOrRollback", &action);
    if (e != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "the custom field <commitOrRollback> is %s",
                              e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    if (action != TXN_COMMIT && action != TXN_ROLLBACK) return NULL; /* UNKNOWN: no action */
    int64_t table_off = vals[0], phys = vals[1];

    uint8_t *raw = NULL;
    size_t rawlen = 0;
    rmq_msg_rec_t half;
    if (rmq_store_read_at(b->env.store, phys, &raw, &rawlen) != RMQ_OK ||
        rmq_msg_rec_decode(raw, rawlen, false, &half) <= 0) {
        free(raw);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "Find prepared transaction message failed (offset %" PRId64 ")",
                              phys);
    }
    rmq_rem_cmd_t *resp = NULL;
    char pgroup[256] = "", real_topic[256] = "", real_qid[32] = "";
    rmq_msg_prop_copy(half.props, (size_t)half.props_len, RMQ_PROP_PGROUP, pgroup, sizeof pgroup);
    int64_t qid = -1;
    if (strcmp(pgroup, group)) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "The producer group wrong");
    } else if (half.queue_offset != table_off) {
        resp =
            rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "The transaction state table offset wrong");
    } else if (half.phys_offset != phys) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "The commit log offset wrong");
    } else if (action == TXN_COMMIT &&
               (!rmq_msg_prop_copy(half.props, (size_t)half.props_len, RMQ_PROP_REAL_TOPIC,
                                   real_topic, sizeof real_topic) ||
                !rmq_msg_prop_copy(half.props, (size_t)half.props_len, RMQ_PROP_REAL_QID, real_qid,
                                   sizeof real_qid) ||
                rmq_parse_i64(real_qid, &qid) != 0 || qid < 0 || qid > INT32_MAX)) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "the half message has no REAL_TOPIC/REAL_QID");
    }
    if (resp) {
        free(raw);
        return resp;
    }
    if (action == TXN_COMMIT && already_committed(b, &half, real_topic)) {
        RMQ_LOG_INFO("txn",
                     "half %" PRId64 " of group %s: its transaction was committed already "
                     "(another checked copy); resolved without a second commit",
                     half.queue_offset, group);
        action = TXN_ROLLBACK; /* only the op message below */
    }
    if (action == TXN_COMMIT) {
        /* The real message keeps the half's properties string verbatim (broker.md 8.2). */
        rmq_msg_rec_t m = half;
        m.sysflag = (half.sysflag & ~RMQ_SYSFLAG_TXN_MASK) | RMQ_SYSFLAG_TXN_COMMIT;
        m.prepared_txn_offset = half.phys_offset;
        rmq_store_put_result_t r;
        e = rmq_broker_reput(&b->env, &m, real_topic, (int32_t)qid, half.props,
                             (size_t)half.props_len, half.reconsume_times, &r, NULL, NULL);
        if (e != RMQ_OK) {
            free(raw);
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "commit failed: %s", rmq_strerror(e));
        }
        remember_commit(b, &half);
    }
    e = put_op(b, half.queue_id, half.queue_offset);
    if (e != RMQ_OK)
        RMQ_LOG_WARN("txn",
                     "op message for half %" PRId64 " not stored: %s (it may be checked "
                     "again)",
                     half.queue_offset, rmq_strerror(e));
    RMQ_LOG_DEBUG("txn", "%s half %" PRId64 " of group %s from %s",
                  action == TXN_COMMIT ? "committed" : "resolved without commit", half.queue_offset,
                  group, rmq_rem_conn_peer(c));
    free(raw);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_txn_on_end) {
    rmq_rem_cmd_t *resp = handle_end(b, c, req);
    if (resp && resp->code != RMQ_OK)
        RMQ_LOG_DEBUG("txn", "END_TRANSACTION from %s refused: %s", rmq_rem_conn_peer(c),
                      resp->remark ? resp->remark : "");
    return resp;
}
