/* Subscription groups (broker.md 4.4): group -> SubscriptionGroupConfig, persisted to
 * config/subscriptionGroup.json, auto-created on first use when allowed, and the group admin
 * handlers. Loop thread only. */
#ifndef RMQ_BROKER_SUBGROUP_H
#define RMQ_BROKER_SUBGROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "common/buf.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

typedef struct {
    char group_name[256];
    bool consume_enable, consume_from_min_enable, consume_broadcast_enable;
    int retry_queue_nums, retry_max_times;
    int64_t broker_id, which_broker_when_consume_slowly;
    bool notify_consumer_ids_changed_enable;
} rmq_subgroup_t;

/* Load subscriptionGroup.json and add the built-in groups. drop_offsets(group, arg) runs for
 * DELETE_SUBSCRIPTIONGROUP with removeOffset (broker.c points it at the offsets table); env is
 * borrowed for the table's life. */
rmq_err_t rmq_broker_subgroups_open(const rmq_broker_env_t *env,
                                    void (*drop_offsets)(const char *group, void *arg), void *arg,
                                    rmq_broker_subgroups_t **out);
void rmq_broker_subgroups_close(rmq_broker_subgroups_t *t); /* NULL is a no-op */
/* Slave metadata sync (broker.md 9.4): body is the master's GET_ALL_SUBSCRIPTIONGROUP_CONFIG
 * answer; when its dataVersion differs from ours the table is replaced and persisted. */
rmq_err_t rmq_broker_subgroups_sync(rmq_broker_subgroups_t *t, const void *body, size_t len);
/* NULL when the group is not configured (no auto-create). Borrowed (loop). */
/* Subscription groups in the table (metrics). */
size_t rmq_broker_subgroups_count(const rmq_broker_subgroups_t *t);
const rmq_subgroup_t *rmq_broker_subgroup_find(rmq_broker_subgroups_t *t, const char *group);
/* Find, or auto-create when autoCreateSubscriptionGroup; NULL otherwise. */
const rmq_subgroup_t *rmq_broker_subgroup_find_or_create(rmq_broker_subgroups_t *t,
                                                         const char *group);

void rmq_broker_subgroup_defaults(rmq_subgroup_t *g, const char *name);
/* SubscriptionGroupConfig from JSON (missing keys keep the defaults). */
rmq_err_t rmq_broker_subgroup_from_json(json_t *o, rmq_subgroup_t *g);
void rmq_broker_subgroup_to_json(rmq_buf_t *b, const rmq_subgroup_t *g);

/* Handlers (dispatch.c): UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
 * DELETE_SUBSCRIPTIONGROUP. Each borrows req and returns the response. */
RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_update);
RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_get_all);
RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_delete);

#endif
