/* librmq: the C SDK for rmq and Apache RocketMQ.
 *
 * Conventions:
 *  - Every call that can fail returns rmq_err_t (rmq_strerror names it); constructors return
 *    NULL and fill an error buffer.
 *  - Configuration is string properties with RocketMQ's key names (rmq_conf_set); a producer or
 *    consumer constructor takes the conf (on success only).
 *  - Every callback receives the void * given when it was registered. User code never runs on
 *    the SDK's I/O thread: send callbacks run on a callback thread, listeners on the consume
 *    pool (or one thread per queue for orderly listeners).
 *  - No global state: every object hangs off its client instance. Thread-safe unless noted.
 *  - The SDK never prints; it logs through rmq_conf_set_log_cb only. */
#ifndef RMQ_H
#define RMQ_H

#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RMQ_VERSION_STR "0.1.0"

typedef struct rmq_conf_s rmq_conf_t;
typedef struct rmq_msg_s rmq_msg_t;
typedef struct rmq_producer_s rmq_producer_t;
typedef struct rmq_admin_s rmq_admin_t;
typedef struct rmq_push_consumer_s rmq_push_consumer_t;
typedef struct rmq_pull_consumer_s rmq_pull_consumer_t;

/* A message queue: topic, broker name, queue id. */
typedef struct {
    char topic[128];
    char broker[64];
    int queue_id;
} rmq_mq_t;

/* ---- configuration ------------------------------------------------------------------ */

/* Keys (RocketMQ's names): namesrvAddr ("h:p;h:p"), groupName / producerGroup /
 * consumerGroup, instanceName, sendMsgTimeout (3000), retryTimesWhenSendFailed (2),
 * retryTimesWhenSendAsyncFailed (2), compressMsgBodyOverHowmuch (4096), maxMessageSize
 * (4194304), sendLatencyFaultEnable (false), messageModel (CLUSTERING|BROADCASTING),
 * consumeFromWhere (CONSUME_FROM_LAST_OFFSET|CONSUME_FROM_FIRST_OFFSET|CONSUME_FROM_TIMESTAMP),
 * consumeTimestamp (yyyyMMddHHmmss or ms), consumeThreadMin / consumeThreadMax (20),
 * pullBatchSize (32), consumeMessageBatchMaxSize (1), pullThresholdForQueue (1000),
 * pullThresholdSizeForQueue (100 MiB), maxReconsumeTimes (16), persistConsumerOffsetInterval
 * (5000), pollNameServerInterval (30000), heartbeatBrokerInterval (30000),
 * offsetStoreDir (broadcast offsets), logLevel (ERROR|WARN|INFO|DEBUG).
 * Also: compressLevel (5), defaultTopicQueueNums (4), createTopicKey (TBW102),
 * suspendCurrentQueueTimeMillis (1000), pullTimeDelayMillsWhenException (1000),
 * rebalanceInterval (20000), mqClientApiTimeout (3000), serializeType (JSON|ROCKETMQ: header
 * encoding of sends and pulls; ROCKETMQ's binary header is cheaper and every broker reads it).
 * ACL 1.0: accessKey / secretKey (and securityToken) sign every request as RocketMQ's
 * AclClientRPCHook (the instance's first conf decides, so give each account its instanceName).
 * Unknown keys: RMQ_CONF_UNKNOWN; bad values: RMQ_CONF_INVALID with the reason in err. */
typedef enum { RMQ_CONF_UNKNOWN = -2, RMQ_CONF_INVALID = -1, RMQ_CONF_OK = 0 } rmq_conf_res_t;
RMQ_API rmq_conf_t *rmq_conf_new(void);
RMQ_API rmq_conf_t *rmq_conf_dup(const rmq_conf_t *c);
RMQ_API rmq_conf_res_t rmq_conf_set(rmq_conf_t *c, const char *k, const char *v, char *err,
                                    size_t n);
/* Value of k or NULL (borrowed). */
RMQ_API const char *rmq_conf_get(const rmq_conf_t *c, const char *k);
/* Log sink of the producer / consumer / admin made from c (lvl 0 ERROR .. 3 DEBUG, filtered by
 * logLevel): it gets that object's lines only, never another's (objects with different sinks
 * do not share a client instance). cb runs on any SDK thread, one call at a time. Without a
 * callback the object is silent. */
RMQ_API void rmq_conf_set_log_cb(rmq_conf_t *c, void (*cb)(int lvl, const char *ln, void *op),
                                 void *op);
RMQ_API void rmq_conf_destroy(rmq_conf_t *c);

/* ---- messages ----------------------------------------------------------------------- */

#define RMQ_MSG_F_COPY 0x1 /* SDK copies body */
#define RMQ_MSG_F_FREE 0x2 /* SDK free()s body when the message is destroyed */
/* New message; tags and keys may be NULL; keys are space-separated. Without a flag the body is
 * borrowed and must outlive the message (the SDK never writes to it). RMQ_MSG_F_FREE hands over
 * a malloc()ed body the SDK later free()s: the parameter is const only so that string literals
 * and const buffers pass without a cast from C and C++; a malloc()ed pointer converts itself. */
RMQ_API rmq_msg_t *rmq_msg_new(const char *topic, const char *tags, const char *keys,
                               const void *body, size_t len, int flags);
RMQ_API rmq_err_t rmq_msg_set_property(rmq_msg_t *m, const char *k, const char *v);
/* Property value or NULL (borrowed, valid while m lives). */
RMQ_API const char *rmq_msg_property(const rmq_msg_t *m, const char *k);
RMQ_API rmq_err_t rmq_msg_set_delay_level(rmq_msg_t *m, int level);           /* 1..18 */
RMQ_API rmq_err_t rmq_msg_set_deliver_time(rmq_msg_t *m, int64_t deliver_ms); /* 5.x timers */
/* Unique id (UNIQ_KEY) for received messages and after a send; offset id for received. */
RMQ_API const char *rmq_msg_id(const rmq_msg_t *m);
RMQ_API const char *rmq_msg_offset_id(const rmq_msg_t *m);
RMQ_API const char *rmq_msg_topic(const rmq_msg_t *m);
RMQ_API const char *rmq_msg_tags(const rmq_msg_t *m);
RMQ_API const char *rmq_msg_keys(const rmq_msg_t *m);
RMQ_API const void *rmq_msg_body(const rmq_msg_t *m, size_t *len);
/* Received messages only (else -1 / 0). */
RMQ_API int64_t rmq_msg_queue_offset(const rmq_msg_t *m);
RMQ_API int rmq_msg_queue_id(const rmq_msg_t *m);
RMQ_API int64_t rmq_msg_born_ts(const rmq_msg_t *m);
RMQ_API int64_t rmq_msg_store_ts(const rmq_msg_t *m);
RMQ_API int rmq_msg_reconsume_times(const rmq_msg_t *m);
RMQ_API int64_t rmq_msg_commitlog_offset(const rmq_msg_t *m);
/* A received message (pulled, queried) shares one block with the other messages of its batch,
 * its body a slice of the batch's response: the body and every string stay valid until that
 * message is destroyed; messages of a batch may be destroyed in any order, on any thread; the
 * block goes with the last one (so keeping one message keeps its batch's memory). */
RMQ_API void rmq_msg_destroy(rmq_msg_t *m);
/* For arrays the SDK returns (and frees the array too). */
RMQ_API void rmq_msgs_destroy(rmq_msg_t **msgs, size_t n);

/* ---- producer ----------------------------------------------------------------------- */

typedef enum {
    RMQ_SEND_OK,
    RMQ_SEND_FLUSH_DISK_TIMEOUT,
    RMQ_SEND_FLUSH_SLAVE_TIMEOUT,
    RMQ_SEND_SLAVE_NOT_AVAILABLE
} rmq_send_status_t;
typedef struct {
    rmq_send_status_t status;
    char msg_id[64];        /* UNIQ_KEY */
    char offset_msg_id[64]; /* broker's offset id (first of a batch) */
    rmq_mq_t mq;
    int64_t offset; /* queue offset */
    char txn_id[64];
} rmq_send_result_t;

/* Sends borrow m (serialised before return); a send sets m's UNIQ_KEY when it has none.
 * rmq_send_async: cb runs once on the SDK's callback thread, unless the call itself returns an
 * error (then cb is never called). Failed sends are retried on another broker
 * (retryTimesWhenSendFailed / retryTimesWhenSendAsyncFailed) within sendMsgTimeout. */
typedef void (*rmq_send_cb)(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op);
/* Pick a queue for m among n writable queues; return an index in [0, n). */
typedef int (*rmq_selector_cb)(const rmq_mq_t *mqs, int n, const rmq_msg_t *m, void *arg);

RMQ_API rmq_producer_t *rmq_producer_new(rmq_conf_t *c, char *err, size_t n); /* takes c, starts */
RMQ_API rmq_err_t rmq_send_sync(rmq_producer_t *p, const rmq_msg_t *m, rmq_send_result_t *r);
RMQ_API rmq_err_t rmq_send_async(rmq_producer_t *p, const rmq_msg_t *m, rmq_send_cb cb, void *op);
RMQ_API rmq_err_t rmq_send_oneway(rmq_producer_t *p, const rmq_msg_t *m);
RMQ_API rmq_err_t rmq_send_orderly(rmq_producer_t *p, const rmq_msg_t *m, rmq_selector_cb sel,
                                   void *arg, rmq_send_result_t *r);
/* Hash selector for rmq_send_orderly: arg is a NUL-terminated sharding key. */
RMQ_API int rmq_selector_hash(const rmq_mq_t *mqs, int n, const rmq_msg_t *m, void *arg);
/* Send to one queue chosen by the caller. */
RMQ_API rmq_err_t rmq_send_to_queue(rmq_producer_t *p, const rmq_msg_t *m, const rmq_mq_t *mq,
                                    rmq_send_result_t *r);
/* Batch: all messages share one topic; sent to one queue in one request. */
RMQ_API rmq_err_t rmq_send_batch(rmq_producer_t *p, rmq_msg_t *const *msgs, size_t n,
                                 rmq_send_result_t *r);
RMQ_API rmq_err_t rmq_send_batch_async(rmq_producer_t *p, rmq_msg_t *const *msgs, size_t n,
                                       rmq_send_cb cb, void *op);
RMQ_API void rmq_producer_destroy(rmq_producer_t *p); /* flushes, waits for callbacks */

/* Request-reply (RocketMQ 4.6+ DefaultMQProducer#request). The request is sent like any
 * message with CORRELATION_ID, REPLY_TO_CLIENT (this client's id) and TTL set on m (the caller's
 * message, as Java does); a consumer answers with rmq_reply and the broker pushes the reply
 * back to this client. rmq_request waits up to timeout_ms: *reply new (rmq_msg_destroy), or
 * RMQ_ERR__TIMEOUT when no reply came (nothing is left behind). rmq_request_async: cb runs once
 * on the SDK's callback thread with the reply (taken: rmq_msg_destroy it) or the error
 * (RMQ_ERR__TIMEOUT, or the send's), unless the call itself returns an error.
 * rmq_producer_destroy waits for outstanding async requests. A reply whose requester is gone
 * (or timed out) is logged and dropped. */
typedef void (*rmq_request_cb)(rmq_producer_t *p, rmq_err_t e, rmq_msg_t *reply, void *op);
RMQ_API rmq_err_t rmq_request(rmq_producer_t *p, const rmq_msg_t *m, int timeout_ms,
                              rmq_msg_t **reply);
RMQ_API rmq_err_t rmq_request_async(rmq_producer_t *p, const rmq_msg_t *m, int timeout_ms,
                                    rmq_request_cb cb, void *op);
/* Answer a received request (MessageUtil.createReplyMessage): body (copied) goes to
 * <CLUSTER>_REPLY_TOPIC with the request's CORRELATION_ID, REPLY_TO_CLIENT and TTL, sent with
 * SEND_REPLY_MESSAGE_V2. RMQ_OK once the broker pushed it to the requester (r may be NULL);
 * RMQ_ERR_SYSTEM_ERROR when the requester is no longer connected; RMQ_ERR__INVALID_ARG when
 * request is not a request-reply message. Any producer of the process may reply. */
RMQ_API rmq_err_t rmq_reply(rmq_producer_t *p, const rmq_msg_t *request, const void *body,
                            size_t len, rmq_send_result_t *r);

/* Transactions */
typedef enum { RMQ_TXN_COMMIT, RMQ_TXN_ROLLBACK, RMQ_TXN_UNKNOWN } rmq_txn_state_t;
typedef rmq_txn_state_t (*rmq_txn_cb)(rmq_producer_t *p, const rmq_msg_t *half, void *op);
/* The check-back callback the broker's CHECK_TRANSACTION_STATE calls; set before
 * rmq_producer_new. */
RMQ_API void rmq_conf_set_txn_check_cb(rmq_conf_t *c, rmq_txn_cb check, void *op);
RMQ_API rmq_err_t rmq_send_in_txn(rmq_producer_t *p, const rmq_msg_t *m, rmq_txn_cb exec, void *arg,
                                  rmq_send_result_t *r);

/* ---- push consumer ------------------------------------------------------------------ */

typedef enum { RMQ_CONSUME_SUCCESS, RMQ_CONSUME_LATER } rmq_consume_status_t;
typedef enum { RMQ_LISTEN_CONCURRENTLY, RMQ_LISTEN_ORDERLY } rmq_listen_mode_t;
typedef rmq_consume_status_t (*rmq_listener_cb)(rmq_push_consumer_t *c, const rmq_mq_t *mq,
                                                rmq_msg_t *const *msgs, size_t n, void *op);
/* Takes c (on success). */
RMQ_API rmq_push_consumer_t *rmq_push_consumer_new(rmq_conf_t *c, char *err, size_t n);
/* tags: "*" or "a || b". Before start. */
RMQ_API rmq_err_t rmq_push_consumer_subscribe(rmq_push_consumer_t *c, const char *topic,
                                              const char *tags);
/* An SQL92 property filter instead of tags, e.g. "color = 'red' AND price > 10"; the broker
 * evaluates it (it needs enablePropertyFilter=true). Before start; start fails with the
 * broker's answer (SUBSCRIPTION_PARSE_FAILED for a bad expression, logged with its position
 * and reason; SYSTEM_ERROR when the broker's filter is off). */
RMQ_API rmq_err_t rmq_push_consumer_subscribe_sql(rmq_push_consumer_t *c, const char *topic,
                                                  const char *expr);
RMQ_API rmq_err_t rmq_push_consumer_set_listener(rmq_push_consumer_t *c, rmq_listen_mode_t mode,
                                                 rmq_listener_cb cb, void *op);
RMQ_API rmq_err_t rmq_push_consumer_start(rmq_push_consumer_t *c);
/* Queues currently assigned to this consumer; *mqs new (free()). */
RMQ_API rmq_err_t rmq_push_consumer_assigned(rmq_push_consumer_t *c, rmq_mq_t **mqs, size_t *n);
/* Stops pulling, waits for running listeners, commits offsets, unregisters, frees. */
RMQ_API void rmq_push_consumer_destroy(rmq_push_consumer_t *c);

/* ---- pull consumer ------------------------------------------------------------------ */

typedef enum {
    RMQ_PULL_FOUND,
    RMQ_PULL_NO_NEW_MSG,
    RMQ_PULL_NO_MATCHED_MSG,
    RMQ_PULL_OFFSET_ILLEGAL
} rmq_pull_status_t;
typedef struct {
    rmq_pull_status_t status;
    int64_t next_offset, min_offset, max_offset;
    rmq_msg_t **msgs;
    size_t n;
} rmq_pull_result_t; /* owns msgs */
/* Takes c (on success). */
RMQ_API rmq_pull_consumer_t *rmq_pull_consumer_new(rmq_conf_t *c, char *err, size_t n);
RMQ_API rmq_err_t rmq_fetch_queues(rmq_pull_consumer_t *c, const char *topic, rmq_mq_t **mqs,
                                   size_t *n); /* free(*mqs) */
/* timeout_ms > 0 holds the pull on the broker (long poll) until a message arrives. */
RMQ_API rmq_err_t rmq_pull(rmq_pull_consumer_t *c, const rmq_mq_t *mq, const char *tags,
                           int64_t offset, int max_msgs, int timeout_ms, rmq_pull_result_t **out);
/* rmq_pull with an SQL92 property filter evaluated by the broker (enablePropertyFilter=true);
 * RMQ_ERR_SUBSCRIPTION_PARSE_FAILED for a bad expression, RMQ_ERR_SYSTEM_ERROR when the
 * broker's filter is off (the broker's reason is logged). */
RMQ_API rmq_err_t rmq_pull_sql(rmq_pull_consumer_t *c, const rmq_mq_t *mq, const char *expr,
                               int64_t offset, int max_msgs, int timeout_ms,
                               rmq_pull_result_t **out);
RMQ_API rmq_err_t rmq_commit_offset(rmq_pull_consumer_t *c, const rmq_mq_t *mq, int64_t offset);
/* The group's committed offset, or RMQ_ERR_QUERY_NOT_FOUND. */
RMQ_API rmq_err_t rmq_fetch_offset(rmq_pull_consumer_t *c, const rmq_mq_t *mq, int64_t *offset);
RMQ_API void rmq_pull_result_destroy(rmq_pull_result_t *r);
RMQ_API void rmq_pull_consumer_destroy(rmq_pull_consumer_t *c);

/* ---- admin -------------------------------------------------------------------------- */

RMQ_API rmq_admin_t *rmq_admin_new(rmq_conf_t *c, char *err, size_t n); /* takes c */
RMQ_API void rmq_admin_destroy(rmq_admin_t *a);
RMQ_API rmq_err_t rmq_query_by_key(rmq_admin_t *a, const char *topic, const char *key, int max_msgs,
                                   int64_t begin_ms, int64_t end_ms, rmq_msg_t ***msgs, size_t *n);
/* By offset id (32/56 hex) or, failing that, by unique key (the id a send returns) in topic;
 * with topic NULL a unique key is looked for in every topic the NameServer knows (slower).
 * *msg new. */
RMQ_API rmq_err_t rmq_query_by_id(rmq_admin_t *a, const char *topic, const char *id,
                                  rmq_msg_t **msg);
RMQ_API rmq_err_t rmq_reset_offset_by_time(rmq_admin_t *a, const char *group, const char *topic,
                                           int64_t ts_ms);
/* Text of the last failure of the last call made on a (on any thread): "CODE: remark" from the
 * server or the transport error; "" when none. Borrowed until the next call on a. Calls on one
 * admin from several threads may overwrite each other's text: use one admin per thread when
 * the text matters. */
RMQ_API const char *rmq_admin_last_error(rmq_admin_t *a);

/* One queue and an offset (reset results). */
typedef struct {
    rmq_mq_t mq;
    int64_t offset;
} rmq_mq_offset_t;
/* Reset group's offsets of topic to ts_ms (-1 = the max offset) on every broker of the topic:
 * INVOKE_BROKER_TO_RESET_OFFSET, and on CONSUMER_NOT_ONLINE the tool's fallback (consume stats,
 * search offset by time, update consumer offset). force = 0 only moves offsets back.
 * *out new (free(), may be NULL when n is 0); out may be NULL. */
RMQ_API rmq_err_t rmq_admin_reset_offset(rmq_admin_t *a, const char *group, const char *topic,
                                         int64_t ts_ms, int force, rmq_mq_offset_t **out,
                                         size_t *n);
/* All messages found under a unique key (UNIQ_KEY) in topic. */
RMQ_API rmq_err_t rmq_query_by_unique_key(rmq_admin_t *a, const char *topic, const char *uniq_key,
                                          rmq_msg_t ***msgs, size_t *n);
#ifdef __cplusplus
}
#endif
#endif
