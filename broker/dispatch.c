/* The request table and the dispatcher (dispatch.h).
 *
 * The server calls on_request with the slot registered for the code, so a request costs no
 * lookup: the slot knows its route and its counters. Two clock reads per request (vDSO
 * CLOCK_MONOTONIC through rmq_mono_us), no allocation. */
#include "broker/dispatch.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/admin.h"
#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/pull.h"
#include "broker/schedule.h"
#include "broker/send.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "broker/txn.h"
#include "common/util.h"

enum {
    ANY = RMQ_BROKER_PERM_ANY,
    PUB = RMQ_BROKER_PERM_TOPIC_PUB,
    SUB = RMQ_BROKER_PERM_TOPIC_SUB,
    GSUB = RMQ_BROKER_PERM_GROUP_SUB,
    ADMIN = RMQ_BROKER_PERM_ADMIN,
};

#define R(code, fn, perm)                                                                          \
    { RMQ_REQ_##code, #code, fn, perm }
static const rmq_broker_route_t routes[] = {
    /* producers */
    R(SEND_MESSAGE, rmq_broker_send_on_send, PUB),
    R(SEND_MESSAGE_V2, rmq_broker_send_on_send, PUB),
    R(SEND_BATCH_MESSAGE, rmq_broker_send_on_send, PUB),
    R(END_TRANSACTION, rmq_broker_txn_on_end, PUB),
    /* consumers */
    R(PULL_MESSAGE, rmq_broker_pull_on_pull, SUB | GSUB),
    R(LITE_PULL_MESSAGE, rmq_broker_pull_on_pull, SUB | GSUB),
    R(CONSUMER_SEND_MSG_BACK, rmq_broker_send_on_send_back, GSUB),
    R(QUERY_CONSUMER_OFFSET, rmq_broker_offset_on_query, SUB | GSUB),
    R(UPDATE_CONSUMER_OFFSET, rmq_broker_offset_on_update, SUB | GSUB),
    R(SEARCH_OFFSET_BY_TIMESTAMP, rmq_broker_offset_on_search_by_ts, SUB),
    R(GET_MAX_OFFSET, rmq_broker_offset_on_max, SUB),
    R(GET_MIN_OFFSET, rmq_broker_offset_on_min, SUB),
    R(GET_EARLIEST_MSG_STORETIME, rmq_broker_offset_on_earliest, SUB),
    R(GET_CONSUMER_LIST_BY_GROUP, rmq_broker_clients_on_consumer_list, GSUB),
    R(LOCK_BATCH_MQ, rmq_broker_clients_on_lock, SUB | GSUB),
    R(UNLOCK_BATCH_MQ, rmq_broker_clients_on_unlock, SUB | GSUB),
    R(CHECK_CLIENT_CONFIG, rmq_broker_clients_on_check_config, GSUB),
    /* both: heartbeats carry producer groups (no check) and consumer groups + subscriptions */
    R(HEART_BEAT, rmq_broker_clients_on_heartbeat, SUB | GSUB),
    R(UNREGISTER_CLIENT, rmq_broker_clients_on_unregister, GSUB),
    /* queries: the topic of the message */
    R(QUERY_MESSAGE, rmq_broker_admin_on_query_message, SUB),
    R(VIEW_MESSAGE_BY_ID, rmq_broker_admin_on_view_by_id, SUB),
    /* operators */
    R(UPDATE_AND_CREATE_TOPIC, rmq_broker_topic_on_update, ADMIN),
    R(GET_ALL_TOPIC_CONFIG, rmq_broker_topic_on_get_all, ADMIN),
    R(DELETE_TOPIC_IN_BROKER, rmq_broker_admin_on_delete_topic, ADMIN),
    R(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, rmq_broker_subgroup_on_update, ADMIN),
    R(GET_ALL_SUBSCRIPTIONGROUP_CONFIG, rmq_broker_subgroup_on_get_all, ADMIN),
    R(DELETE_SUBSCRIPTIONGROUP, rmq_broker_subgroup_on_delete, ADMIN),
    R(GET_ALL_CONSUMER_OFFSET, rmq_broker_offset_on_all, ADMIN),
    R(INVOKE_BROKER_TO_RESET_OFFSET, rmq_broker_offset_on_reset, ADMIN),
    R(GET_ALL_DELAY_OFFSET, rmq_broker_schedule_on_get_all, ADMIN),
    R(GET_CONSUMER_CONNECTION_LIST, rmq_broker_clients_on_consumer_conns, ADMIN),
    R(GET_PRODUCER_CONNECTION_LIST, rmq_broker_clients_on_producer_conns, ADMIN),
    R(GET_BROKER_RUNTIME_INFO, rmq_broker_admin_on_runtime_info, ADMIN),
    R(GET_BROKER_CONFIG, rmq_broker_admin_on_broker_config, ADMIN),
    R(GET_TOPIC_STATS_INFO, rmq_broker_admin_on_topic_stats, ADMIN),
    R(GET_CONSUME_STATS, rmq_broker_admin_on_consume_stats, ADMIN),
    R(QUERY_TOPIC_CONSUME_BY_WHO, rmq_broker_admin_on_consume_by_who, ADMIN),
};
#undef R
#define NROUTES (sizeof routes / sizeof routes[0])

typedef struct {
    rmq_broker_dispatch_t *d;
    const rmq_broker_route_t *r;
    rmq_broker_code_stats_t st;
} slot_t;

struct rmq_broker_dispatch_s {
    rmq_broker_ctx_t *ctx;
    slot_t slots[NROUTES]; /* routes[i] <-> slots[i] */
};

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

/* Run one request of slot s; takes req (the handler borrows it). */
static rmq_rem_cmd_t *run_slot(slot_t *s, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    uint64_t t0 = rmq_mono_us();
    rmq_rem_cmd_t *resp = s->r->fn(s->d->ctx, c, req);
    rmq_rem_cmd_destroy(req); /* a handler that keeps req holds its own reference */
    uint64_t us = rmq_mono_us() - t0;
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
