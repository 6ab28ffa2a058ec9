/* mqadmin's statistics and housekeeping requests (operations.md 3): VIEW_BROKER_STATS_DATA
 * (statsAll), GET_BROKER_CONSUME_STATS (brokerConsumeStats), QUERY_CONSUME_QUEUE (queryCq),
 * CLEAN_EXPIRED_CONSUMEQUEUE, CLEAN_UNUSED_TOPIC, DELETE_EXPIRED_COMMITLOG; and the per-topic /
 * per-group message counters VIEW_BROKER_STATS_DATA reads (RocketMQ's BrokerStatsManager
 * TOPIC_PUT_NUMS, GROUP_GET_NUMS, ...). Loop thread. */
#ifndef RMQ_BROKER_ADMIN_STATS_H
#define RMQ_BROKER_ADMIN_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Counters: a map lookup and three slot bumps per send or pull with messages. now_ms is any
 * millisecond clock (the loop's uv_now). */
rmq_broker_bstats_t *rmq_broker_bstats_new(void);
void rmq_broker_bstats_destroy(rmq_broker_bstats_t *s); /* NULL is a no-op */
void rmq_broker_bstats_on_put(rmq_broker_bstats_t *s, const char *topic, uint64_t n, uint64_t bytes,
                              int64_t now_ms);
void rmq_broker_bstats_on_get(rmq_broker_bstats_t *s, const char *group, const char *topic,
                              uint64_t n, uint64_t bytes, int64_t now_ms);

/* One window of BrokerStatsData: messages (or bytes) counted and their rate. */
typedef struct {
    uint64_t sum;
    double tps;
} rmq_broker_bstats_win_t;

/* statsName TOPIC_PUT_NUMS / TOPIC_PUT_SIZE (key topic), GROUP_GET_NUMS / GROUP_GET_SIZE (key
 * "topic@group"): the last minute, hour and day at now_ms into out[0..2]. False when the name
 * is not one of those or nothing was counted under key. */
bool rmq_broker_bstats_view(const rmq_broker_bstats_t *s, const char *name, const char *key,
                            int64_t now_ms, rmq_broker_bstats_win_t out[3]);

/* Handlers (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_view_stats);           /* VIEW_BROKER_STATS_DATA */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_broker_consume_stats); /* GET_BROKER_CONSUME_STATS */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_query_cq);             /* QUERY_CONSUME_QUEUE */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_clean_expired_cq);     /* CLEAN_EXPIRED_CONSUMEQUEUE */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_clean_unused_topic);   /* CLEAN_UNUSED_TOPIC */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_delete_expired_cl);    /* DELETE_EXPIRED_COMMITLOG */

#endif
