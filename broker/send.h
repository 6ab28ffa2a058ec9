/* The send path (broker.md 1, 6): SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE
 * (320), CONSUMER_SEND_MSG_BACK (36), the re-put used by delay, retry, DLQ and transactions, and
 * the pure parsers the unit tests exercise. Loop thread only. */
#ifndef RMQ_BROKER_SEND_H
#define RMQ_BROKER_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "common/buf.h"
#include "common/msg.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"
#include "store/store.h"

/* ---- send header (SendMessageRequestHeader, V1 names or V2 one-letter aliases) ------------- */
typedef struct {
    const char *producer_group; /* borrowed from the request */
    const char *topic;
    const char *default_topic;
    int32_t default_topic_queue_nums;
    int32_t queue_id;
    int32_t sys_flag;
    int64_t born_timestamp;
    int32_t flag;
    const char *properties; /* NULL when absent */
    int32_t reconsume_times;
    bool unit_mode;
    int32_t max_reconsume_times; /* -1 when absent */
    bool batch;
} rmq_broker_send_hdr_t;

/* Parse req's ext fields (V2 when v2, else V1 names). RMQ_OK, or RMQ_ERR_SYSTEM_ERROR with the
 * missing or malformed field named in err (what the remark says). Pointers borrow from req. */
rmq_err_t rmq_broker_send_hdr_parse(const rmq_rem_cmd_t *req, bool v2, rmq_broker_send_hdr_t *h,
                                    char *err, size_t errlen);

/* One message of a SEND_BATCH_MESSAGE body (protocol.md 6.6); pointers into the body. */
typedef struct {
    int32_t flag;
    const uint8_t *body;
    size_t body_len;
    const char *props;
    size_t props_len;
} rmq_broker_batch_item_t;

/* Decode a batch body into *items (new array, free()) and *n. RMQ_OK or RMQ_ERR_MESSAGE_ILLEGAL
 * with the reason in err. An empty body is illegal. */
rmq_err_t rmq_broker_batch_decode(const uint8_t *body, size_t len, rmq_broker_batch_item_t **items,
                                  size_t *n, char *err, size_t errlen);

/* Re-put path for delay/retry/DLQ/transactions: append a decoded stored record (rec) under
 * another topic/queue keeping its identity (UNIQ_KEY, body, flags, born info), with props
 * replaced by new_props. done as rmq_store_put. */
rmq_err_t rmq_broker_reput(const rmq_broker_env_t *env, const rmq_msg_rec_t *rec, const char *topic,
                           int32_t qid, const char *new_props, size_t new_props_len,
                           int32_t reconsume_times, rmq_store_put_result_t *r,
                           rmq_store_put_cb done, void *arg);

/* A message the broker writes itself (OFFSET_MOVED_EVENT, transaction op messages): born and
 * stored here, flag 0, no flush wait. Borrows everything. */
rmq_err_t rmq_broker_put_local(const rmq_broker_env_t *env, const char *topic, int32_t qid,
                               const char *body, const rmq_buf_t *props);

/* Handlers (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_send_on_send);      /* SEND_MESSAGE, _V2, SEND_BATCH_MESSAGE */
RMQ_BROKER_HANDLER(rmq_broker_send_on_send_back); /* CONSUMER_SEND_MSG_BACK */

#endif
