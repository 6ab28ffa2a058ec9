/* Admin and query requests: QUERY_MESSAGE (index by key), VIEW_MESSAGE_BY_ID,
 * GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS, GET_BROKER_CONFIG,
 * QUERY_TOPIC_CONSUME_BY_WHO, and the put-TPS sampler the runtime info reports. Loop thread. */
#ifndef RMQ_BROKER_ADMIN_H
#define RMQ_BROKER_ADMIN_H

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Start the 1 s put-count sampler on env's loop (unref'd: it keeps nothing alive). NULL *out
 * (a warning, no TPS in runtime info) when memory runs out. env is borrowed. */
void rmq_broker_stats_open(const rmq_broker_env_t *env, rmq_broker_stats_t **out);
/* Stop it; memory goes with the timer's close callback. NULL is a no-op. */
void rmq_broker_stats_close(rmq_broker_stats_t *sp);

/* Handlers (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_query_message);  /* QUERY_MESSAGE */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_view_by_id);     /* VIEW_MESSAGE_BY_ID */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_runtime_info);   /* GET_BROKER_RUNTIME_INFO */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_broker_config);  /* GET_BROKER_CONFIG */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_topic_stats);    /* GET_TOPIC_STATS_INFO */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_consume_stats);  /* GET_CONSUME_STATS */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_consume_by_who); /* QUERY_TOPIC_CONSUME_BY_WHO */

/* DELETE_TOPIC_IN_BROKER: topic.c's delete plus the topic's consumer offsets (dispatch.c). */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_delete_topic);

#endif
