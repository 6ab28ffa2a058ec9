/* Consumer offsets (broker.md 3): topic@group -> {queueId -> next offset to consume}, persisted
 * to config/consumerOffset.json, and the offset handlers. Loop thread only. */
#ifndef RMQ_BROKER_OFFSET_H
#define RMQ_BROKER_OFFSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "common/buf.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Load consumerOffset.json; env is borrowed for the table's life. */
rmq_err_t rmq_broker_offsets_open(const rmq_broker_env_t *env, rmq_broker_offsets_t **out);
void rmq_broker_offsets_persist(rmq_broker_offsets_t *t); /* now, on the loop (shutdown, admin) */
/* The timer's: encoded now, written on libuv's thread pool (skipped while one is in flight). */
void rmq_broker_offsets_persist_bg(rmq_broker_offsets_t *t);
void rmq_broker_offsets_close(rmq_broker_offsets_t *t); /* persists; NULL is a no-op */
/* -1 when the group has no offset for the queue. */
int64_t rmq_broker_offset_get(rmq_broker_offsets_t *t, const char *group, const char *topic,
                              int qid);
/* A consumer's commit: stores it and feeds the group's consume rate. */
void rmq_broker_offset_set(rmq_broker_offsets_t *t, const char *group, const char *topic, int qid,
                           int64_t offset);
/* Slave metadata sync (broker.md 9.4): merge the master's GET_ALL_CONSUMER_OFFSET answer
 * (overwrite per key) and persist. */
rmq_err_t rmq_broker_offsets_sync(rmq_broker_offsets_t *t, const void *body, size_t len);
/* Does group have any offset for topic? */
bool rmq_broker_offsets_has(rmq_broker_offsets_t *t, const char *group, const char *topic);
/* Messages per second the group consumed of topic, from its offset commits (last minute). */
double rmq_broker_offsets_tps(rmq_broker_offsets_t *t, const char *group, const char *topic);
/* Drop every offset of group (DELETE_SUBSCRIPTIONGROUP removeOffset). */
void rmq_broker_offsets_remove_group(rmq_broker_offsets_t *t, const char *group);
/* Drop every group's offsets of topic (DELETE_TOPIC_IN_BROKER, ConsumerOffsetManager
 * cleanOffsetByTopic); returns how many topic@group entries went. */
size_t rmq_broker_offsets_remove_topic(rmq_broker_offsets_t *t, const char *topic);
/* Iterate the (topic, group) pairs with offsets: fn gets the queue ids and offsets. */
void rmq_broker_offsets_each(rmq_broker_offsets_t *t,
                             void (*fn)(const char *topic, const char *group, const int *qids,
                                        const int64_t *offs, size_t n, void *arg),
                             void *arg);

/* ---- the bare table, for tests: no file, no rate ------------------------------------- */
rmq_broker_offsets_t *rmq_broker_offsets_new(void);
void rmq_broker_offsets_free(rmq_broker_offsets_t *t);
void rmq_broker_offsets_tset(rmq_broker_offsets_t *t, const char *group, const char *topic, int qid,
                             int64_t off);
int64_t rmq_broker_offsets_tget(rmq_broker_offsets_t *t, const char *group, const char *topic,
                                int qid);
/* ConsumerOffsetSerializeWrapper text (fastjson: bare queue-id keys); pretty = file layout. */
char *rmq_broker_offsets_encode(rmq_broker_offsets_t *t, bool pretty);
/* Merge entries from consumerOffset.json text; RMQ_ERR__CORRUPT when unparsable. */
rmq_err_t rmq_broker_offsets_decode(rmq_broker_offsets_t *t, const char *text, size_t len);
/* ResetOffsetBody (map with MessageQueue keys) or ResetOffsetBodyForC (list) for n queues. */
void rmq_broker_reset_body(rmq_buf_t *b, bool for_c, const char *topic, const char *broker,
                           const int *qids, const int64_t *offs, size_t n);

/* Handlers (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_query);        /* QUERY_CONSUMER_OFFSET */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_update);       /* UPDATE_CONSUMER_OFFSET */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_search_by_ts); /* SEARCH_OFFSET_BY_TIMESTAMP */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_max);          /* GET_MAX_OFFSET */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_min);          /* GET_MIN_OFFSET */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_earliest);     /* GET_EARLIEST_MSG_STORETIME */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_all);          /* GET_ALL_CONSUMER_OFFSET */
RMQ_BROKER_HANDLER(rmq_broker_offset_on_reset);        /* INVOKE_BROKER_TO_RESET_OFFSET */

#endif
