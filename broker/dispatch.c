/* The request table and the dispatcher (dispatch.h).
 *
 * The server calls on_request with the slot registered for the code, so a request costs no
 * lookup: the slot knows its route and its counters. No allocation, and one clock read per
 * request (vDSO CLOCK_MONOTONIC through rmq_mono_us) plus one per connection and loop turn:
 * requests of one connection handled back to back in a turn (one read's frames) chain, each
 * timed from the end of the one before, so its figure also holds the decode of its frame and
 * the queueing of the previous response. rmq_broker_dispatch_turn breaks the chain before the
 * loop sleeps. */
#include "broker/dispatch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/admin.h"
#include "broker/admin_stats.h"

#include "broker/admin_acl.h"
#include "broker/admin_group.h"
#include "broker/brokercfg.h"
#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/pull.h"
#include "broker/reply.h"
#include "broker/schedule.h"
#include "broker/send.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "broker/txn.h"
#include "broker/util.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/acl.h"

enum {
    ANY = RMQ_BROKER_PERM_ANY,
    PUB = RMQ_BROKER_PERM_TOPIC_PUB,
    SUB = RMQ_BROKER_PERM_TOPIC_SUB,
    GSUB = RMQ_BROKER_PERM_GROUP_SUB,
    ADMIN = RMQ_BROKER_PERM_ADMIN,
};

#define R(code, fn, perm)                                                                          \
    { RMQ_REQ_##code, #code, fn, perm, NULL, NULL, false }
/* with the header fields naming the topic and the group (dispatch.h) */
#define RA(code, fn, perm, tf, gf)                                                                 \
    { RMQ_REQ_##code, #code, fn, perm, tf, gf, false }
#define RB(code, fn, perm)                                                                         \
    { RMQ_REQ_##code, #code, fn, perm, NULL, NULL, true }
static const rmq_broker_route_t routes[] = {
    /* producers */
    RA(SEND_MESSAGE, rmq_broker_send_on_send, PUB, "topic", NULL),
    RA(SEND_MESSAGE_V2, rmq_broker_send_on_send, PUB, "b", NULL),
    RA(SEND_BATCH_MESSAGE, rmq_broker_send_on_send, PUB, "b", NULL),
    R(END_TRANSACTION, rmq_broker_txn_on_end, PUB),
    RA(SEND_REPLY_MESSAGE, rmq_broker_reply_on_send_reply, PUB, "topic", NULL),
    RA(SEND_REPLY_MESSAGE_V2, rmq_broker_reply_on_send_reply, PUB, "b", NULL),
    /* consumers */
    RA(PULL_MESSAGE, rmq_broker_pull_on_pull, SUB | GSUB, "topic", "consumerGroup"),
    RA(LITE_PULL_MESSAGE, rmq_broker_pull_on_pull, SUB | GSUB, "topic", "consumerGroup"),
    RA(CONSUMER_SEND_MSG_BACK, rmq_broker_send_on_send_back, GSUB, NULL, "group"),
    RA(QUERY_CONSUMER_OFFSET, rmq_broker_offset_on_query, SUB | GSUB, "topic", "consumerGroup"),
    RA(UPDATE_CONSUMER_OFFSET, rmq_broker_offset_on_update, SUB | GSUB, "topic", "consumerGroup"),
    RA(SEARCH_OFFSET_BY_TIMESTAMP, rmq_broker_offset_on_search_by_ts, SUB, "topic", NULL),
    RA(GET_MAX_OFFSET, rmq_broker_offset_on_max, SUB, "topic", NULL),
    RA(GET_MIN_OFFSET, rmq_broker_offset_on_min, SUB, "topic", NULL),
    RA(GET_EARLIEST_MSG_STORETIME, rmq_broker_offset_on_earliest, SUB, "topic", NULL),
    RA(GET_CONSUMER_LIST_BY_GROUP, rmq_broker_clients_on_consumer_list, GSUB, NULL,
       "consumerGroup"),
    RB(LOCK_BATCH_MQ, rmq_broker_clients_on_lock, SUB | GSUB),
    RB(UNLOCK_BATCH_MQ, rmq_broker_clients_on_unlock, SUB | GSUB),
    RB(CHECK_CLIENT_CONFIG, rmq_broker_clients_on_check_config, GSUB),
    /* both: heartbeats carry producer groups (no check) and consumer groups + subscriptions */
    RB(HEART_BEAT, rmq_broker_clients_on_heartbeat, SUB | GSUB),
    RA(UNREGISTER_CLIENT, rmq_broker_clients_on_unregister, GSUB, NULL, "consumerGroup"),
    /* queries: the topic of the message */
    RA(QUERY_MESSAGE, rmq_broker_admin_on_query_message, SUB, "topic", NULL),
    R(VIEW_MESSAGE_BY_ID, rmq_broker_admin_on_view_by_id, SUB),
    /* operators */
    R(UPDATE_AND_CREATE_TOPIC, rmq_broker_topic_on_update, ADMIN),
    R(GET_ALL_TOPIC_CONFIG, rmq_broker_topic_on_get_all, ADMIN),
    R(DELETE_TOPIC_IN_BROKER, rmq_broker_admin_on_delete_topic, ADMIN),
    R(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, rmq_broker_subgroup_on_update, ADMIN),
    R(GET_ALL_SUBSCRIPTIONGROUP_CONFIG, rmq_broker_subgroup_on_get_all, ADMIN),
    R(DELETE_SUBSCRIPTIONGROUP, rmq_broker_subgroup_on_delete, ADMIN),
    RA(CLONE_GROUP_OFFSET, rmq_broker_admin_on_clone_group_offset, ADMIN, "topic", "destGroup"),
    R(UPDATE_AND_CREATE_ACL_CONFIG, rmq_broker_acl_on_update, ADMIN),
    R(DELETE_ACL_CONFIG, rmq_broker_acl_on_delete, ADMIN),
    R(UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, rmq_broker_acl_on_update_white, ADMIN),
    R(GET_BROKER_CLUSTER_ACL_INFO, rmq_broker_acl_on_version, ADMIN),
    R(GET_ALL_CONSUMER_OFFSET, rmq_broker_offset_on_all, ADMIN),
    R(INVOKE_BROKER_TO_RESET_OFFSET, rmq_broker_offset_on_reset, ADMIN),
    R(GET_ALL_DELAY_OFFSET, rmq_broker_schedule_on_get_all, ADMIN),
    R(GET_CONSUMER_CONNECTION_LIST, rmq_broker_clients_on_consumer_conns, ADMIN),
    R(GET_PRODUCER_CONNECTION_LIST, rmq_broker_clients_on_producer_conns, ADMIN),
    R(GET_BROKER_RUNTIME_INFO, rmq_broker_admin_on_runtime_info, ADMIN),
    R(GET_BROKER_CONFIG, rmq_broker_admin_on_broker_config, ADMIN),
    R(UPDATE_BROKER_CONFIG, rmq_broker_cfg_on_update, ADMIN),
    R(GET_TOPIC_STATS_INFO, rmq_broker_admin_on_topic_stats, ADMIN),
    R(GET_CONSUME_STATS, rmq_broker_admin_on_consume_stats, ADMIN),
    R(QUERY_TOPIC_CONSUME_BY_WHO, rmq_broker_admin_on_consume_by_who, ADMIN),
    R(GET_CONSUMER_RUNNING_INFO, rmq_broker_reply_on_running_info, ADMIN),
    R(CONSUME_MESSAGE_DIRECTLY, rmq_broker_reply_on_consume_directly, ADMIN),
    /* mqadmin statistics and housekeeping (admin_stats.c) */
    R(VIEW_BROKER_STATS_DATA, rmq_broker_admin_on_view_stats, ADMIN),
    R(GET_BROKER_CONSUME_STATS, rmq_broker_admin_on_broker_consume_stats, ADMIN),
    R(QUERY_CONSUME_QUEUE, rmq_broker_admin_on_query_cq, ADMIN),
    R(CLEAN_EXPIRED_CONSUMEQUEUE, rmq_broker_admin_on_clean_expired_cq, ADMIN),
    R(CLEAN_UNUSED_TOPIC, rmq_broker_admin_on_clean_unused_topic, ADMIN),
    R(DELETE_EXPIRED_COMMITLOG, rmq_broker_admin_on_delete_expired_cl, ADMIN),
};
#undef R
#undef RA
#undef RB
#define NROUTES (sizeof routes / sizeof routes[0])

typedef struct {
    rmq_broker_dispatch_t *d;
    const rmq_broker_route_t *r;
    rmq_broker_code_stats_t st;
} slot_t;

struct rmq_broker_dispatch_s {
    rmq_broker_ctx_t *ctx;
    slot_t slots[NROUTES]; /* routes[i] <-> slots[i] */
    /* the connection of the last request run this turn (compared, never used; NULL: none)
     * and the clock when it ended */
    const rmq_rem_conn_t *last_conn;
    uint64_t last_end_us;
};

void rmq_broker_dispatch_turn(rmq_broker_dispatch_t *d) {
    if (d) d->last_conn = NULL;
}

const rmq_broker_route_t *rmq_broker_route_find(int code) {
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].code == code) return &routes[i];
    return NULL;
}

rmq_broker_dispatch_t *rmq_broker_dispatch_new(rmq_broker_ctx_t *ctx) {
    rmq_broker_dispatch_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->ctx = ctx;
    for (size_t i = 0; i < NROUTES; i++) {
        d->slots[i].d = d;
        d->slots[i].r = &routes[i];
    }
    return d;
}

void rmq_broker_dispatch_destroy(rmq_broker_dispatch_t *d) {
    free(d);
}

static unsigned log2_bucket(uint64_t us) {
    unsigned i = 0;
    while (i < RMQ_BROKER_LAT_BUCKETS - 1 && us >= (1ull << i)) i++;
    return i;
}

/* ---- ACL (aclEnable=true) -------------------------------------------------------------- */

#define MAX_RES 64

typedef struct {
    rmq_acl_res_t res[MAX_RES];
    size_t n;
    json_t *body; /* keeps body strings alive */
} res_list_t;

static void add_res(res_list_t *l, const char *name, bool group, int perm) {
    if (!name || l->n == MAX_RES) return;
    const char *g = group ? NULL : rmq_acl_retry_group(name);
    l->res[l->n++] = (rmq_acl_res_t){g ? g : name, group || g, g ? RMQ_ACL_SUB : perm};
}

/* Topic and group resources a body names (HeartbeatData, LockBatchRequestBody,
 * CheckClientRequestBody); false when the body is not the JSON expected. */
static bool body_res(const rmq_broker_route_t *r, const rmq_rem_cmd_t *req, res_list_t *l) {
    json_error_t je;
    if (!req->body || !req->body_len) return true;
    l->body = json_loadb((const char *)req->body, req->body_len, 0, &je);
    if (!json_is_object(l->body)) return false;
    json_t *o = l->body;
    size_t i, j;
    json_t *v, *w;
    if (r->code == RMQ_REQ_HEART_BEAT) {
        json_array_foreach(json_object_get(o, "consumerDataSet"), i, v) {
            add_res(l, json_string_value(json_object_get(v, "groupName")), true, RMQ_ACL_SUB);
            json_array_foreach(json_object_get(v, "subscriptionDataSet"), j, w)
                add_res(l, json_string_value(json_object_get(w, "topic")), false, RMQ_ACL_SUB);
        }
    } else if (r->code == RMQ_REQ_CHECK_CLIENT_CONFIG) {
        add_res(l, json_string_value(json_object_get(o, "group")), true, RMQ_ACL_SUB);
        add_res(l,
                json_string_value(json_object_get(json_object_get(o, "subscriptionData"), "topic")),
                false, RMQ_ACL_SUB);
    } else { /* LOCK / UNLOCK_BATCH_MQ */
        add_res(l, json_string_value(json_object_get(o, "consumerGroup")), true, RMQ_ACL_SUB);
        json_array_foreach(json_object_get(o, "mqSet"), i, v)
            add_res(l, json_string_value(json_object_get(v, "topic")), false, RMQ_ACL_SUB);
    }
    return true;
}

/* NULL when req may run, else the NO_PERMISSION answer (or a dummy for a oneway). */
static rmq_rem_cmd_t *acl_refusal(slot_t *s, rmq_rem_conn_t *c, rmq_rem_cmd_t *req, bool *refused) {
    const rmq_broker_route_t *r = s->r;
    const rmq_acl_t *acl = rmq_acl_watch_get(s->d->ctx->acl);
    res_list_t l = {.n = 0};
    unsigned need = (r->perm & RMQ_BROKER_PERM_ADMIN) ? RMQ_ACL_NEED_ADMIN : 0;
    rmq_acl_verdict_t v;
    char ip[64];
    rmq_acl_peer_ip(c ? rmq_rem_conn_peer(c) : "", ip, sizeof ip);
    bool parsed = true;
    if (r->body) {
        parsed = body_res(r, req, &l);
    } else {
        if (r->perm & (RMQ_BROKER_PERM_TOPIC_PUB | RMQ_BROKER_PERM_TOPIC_SUB)) {
            const char *t = r->topic_f ? rmq_rem_cmd_get(req, r->topic_f) : NULL;
            if (!t && r->topic_f && !strcmp(r->topic_f, "b")) t = rmq_rem_cmd_get(req, "topic");
            add_res(&l, t, false,
                    (r->perm & RMQ_BROKER_PERM_TOPIC_PUB) ? RMQ_ACL_PUB : RMQ_ACL_SUB);
        }
        if ((r->perm & RMQ_BROKER_PERM_GROUP_SUB) && r->group_f)
            add_res(&l, rmq_rem_cmd_get(req, r->group_f), true, RMQ_ACL_SUB);
    }
    rmq_acl_check(acl, req, ip, need, l.res, l.n, &v);
    json_decref(l.body);
    if (v.ok && !parsed) {
        v.ok = false;
        snprintf(v.why, sizeof v.why, "body of %s is not the JSON expected", r->name);
    }
    *refused = !v.ok;
    if (v.ok) return NULL;
    RMQ_LOG_WARN("acl", "refused %s (code %d) from %s accessKey=%s: %s", r->name, r->code,
                 c ? rmq_rem_conn_peer(c) : "-", v.access_key[0] ? v.access_key : "(none)", v.why);
    if (rmq_rem_cmd_is_oneway(req)) return NULL;
    return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION, "%s", v.why);
}

/* Run one request of slot s; takes req (the handler borrows it). */
static rmq_rem_cmd_t *run_slot(slot_t *s, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    rmq_broker_dispatch_t *d = s->d;
    uint64_t t0 = c && c == d->last_conn ? d->last_end_us : rmq_mono_us();
    d->last_conn = NULL; /* a request run from inside this one reads its own start */
    rmq_rem_cmd_t *resp = NULL;
    bool refused = false;
    if (s->d->ctx->acl) resp = acl_refusal(s, c, req, &refused);
    if (!refused) resp = s->r->fn(s->d->ctx, c, req);
    rmq_rem_cmd_destroy(req); /* a handler that keeps req holds its own reference */
    uint64_t t1 = rmq_mono_us();
    d->last_conn = c;
    d->last_end_us = t1;
    uint64_t us = t1 - t0;
    rmq_broker_code_stats_t *st = &s->st;
    st->requests++;
    if (resp && resp->code != 0) st->errors++;
    st->lat_total_us += us;
    if (us > st->lat_max_us) st->lat_max_us = us;
    st->lat_log2[log2_bucket(us)]++;
    return resp;
}

static rmq_rem_cmd_t *on_request(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    return run_slot(arg, c, req);
}

void rmq_broker_dispatch_attach(rmq_broker_dispatch_t *d, rmq_rem_server_t *s) {
    /* every handler borrows its request and takes a reference to keep it (ctx.h), so a send's
     * body can go from the read buffer straight into the CommitLog */
    rmq_rem_server_borrow_bodies(s, true);
    for (size_t i = 0; i < NROUTES; i++)
        rmq_rem_server_register(s, routes[i].code, on_request, &d->slots[i]);
}

rmq_rem_cmd_t *rmq_broker_dispatch_run(rmq_broker_dispatch_t *d, rmq_rem_conn_t *c,
                                       rmq_rem_cmd_t *req) {
    const rmq_broker_route_t *r = rmq_broker_route_find(req->code);
    if (r) return run_slot(&d->slots[r - routes], c, req);
    /* what the remoting server answers for a code nobody registered */
    rmq_rem_cmd_t *resp = NULL;
    if (!rmq_rem_cmd_is_oneway(req)) {
        resp = rmq_rem_cmd_new_response(req, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED, NULL);
        if (resp) rmq_rem_cmd_set_remarkf(resp, " request type %d not supported", req->code);
    }
    rmq_rem_cmd_destroy(req);
    return resp;
}

void rmq_broker_dispatch_each(const rmq_broker_dispatch_t *d,
                              void (*fn)(const rmq_broker_route_t *r,
                                         const rmq_broker_code_stats_t *st, void *arg),
                              void *arg) {
    for (size_t i = 0; i < NROUTES; i++) fn(&routes[i], &d->slots[i].st, arg);
}
