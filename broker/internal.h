/* Broker-internal helpers shared by broker.c, send.c, pull.c, hold.c and topic.c, and the pure
 * functions the unit tests exercise (header parsing, batch decoding, subscriptions). Not part of
 * the contract with the other broker files (that is broker.h). */
#ifndef RMQ_BROKER_INTERNAL_H
#define RMQ_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"

/* ---- send header (SendMessageRequestHeader, V1 names or V2 one-letter aliases) ------------- */
typedef struct {
    const char *producer_group;   /* borrowed from the request */
    const char *topic;
    const char *default_topic;
    int32_t default_topic_queue_nums;
    int32_t queue_id;
    int32_t sys_flag;
    int64_t born_timestamp;
    int32_t flag;
    const char *properties;       /* NULL when absent */
    int32_t reconsume_times;
    bool unit_mode;
    int32_t max_reconsume_times;  /* -1 when absent */
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

/* Tag expression ("TagA || TagB", "*", "" or NULL) to Java hash codes. *codes new (free()) and
 * *n; all-pass gives NULL/0. */
rmq_err_t rmq_broker_sub_parse(const char *expr, int64_t **codes, size_t *n);

/* Delay levels: number of levels in a messageDelayLevel string ("1s 5s ... 2h"); -1 when
 * malformed. */
int rmq_broker_delay_levels(const char *spec);

/* messageDelayLevel to per-level delays in ms: *ms new array (free()) of the returned count,
 * level L at index L-1; -1 (and *ms NULL) when malformed: empty, a number without a unit
 * s/m/h/d, a zero or overflowing delay. */
int rmq_broker_delay_parse(const char *spec, int64_t **ms);
/* delayOffset.json text {"offsetTable":{1:o1,2:o2,...}} for levels 1..n (store.md 8.5), keys
 * unquoted as fastjson writes them; pretty for the file. New string (free()). */
char *rmq_broker_delay_offsets_encode(const int64_t *offs, int n, bool pretty);
/* Read such text into offs[0..n) (level L at L-1); levels absent stay as they are, levels
 * beyond n and non-numeric entries are skipped. RMQ_OK or RMQ_ERR__CORRUPT. */
rmq_err_t rmq_broker_delay_offsets_decode(const char *text, size_t len, int64_t *offs, int n);

/* Is topic one producers may not send to (broker.md: SCHEDULE_TOPIC_XXXX, the transaction
 * topics, TRANS_CHECK_MAX_TIME_TOPIC, SELF_TEST_TOPIC, OFFSET_MOVED_EVENT)? */
bool rmq_broker_topic_send_forbidden(const char *topic);
/* TopicValidator.isSystemTopic (refused by UPDATE_AND_CREATE_TOPIC). */
bool rmq_broker_topic_is_system(const rmq_broker_t *b, const char *topic);

/* REGISTER_BROKER's reply body, the NameServer's ORDER_TOPIC_CONFIG KV table
 * {"table":{topic:"brokerA:4;..."}}: topics listed become order topics, others stop being. */
void rmq_broker_topics_update_order(rmq_broker_t *b, const void *body, size_t len);

/* ---- pull / hold -------------------------------------------------------------------------- */
/* Run a pull. Returns the response to send now, or NULL when the request was parked (then req
 * was taken by the hold service); otherwise req stays the caller's. */
rmq_rem_cmd_t *rmq_broker_pull_process(rmq_broker_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                                       bool allow_suspend);
/* Park a pull: takes req, refs c. Answered by re-running it without suspension when a matching
 * message arrives, the hold time passes, or the hold service closes. */
void rmq_broker_hold_park(rmq_broker_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                          const char *topic, int32_t qid, int64_t offset, int64_t hold_ms,
                          const int64_t *codes, size_t ncodes);
/* Any pull parked? Any thread (the reput thread skips the wake-up post when none). */
bool rmq_broker_hold_any(rmq_broker_t *b);

/* txn.c: END_TRANSACTION (37). */
void rmq_broker_txn_register(rmq_broker_t *b);

/* ---- broker.c ----------------------------------------------------------------------------- */
/* Defaults plus what RocketMQ derives from the machine: brokerName = host name, brokerIP1 = first
 * non-loopback IPv4, namesrvAddr = $NAMESRV_ADDR (so -p prints them). */
void rmq_broker_cfg_init(rmq_broker_cfg_t *cfg);
/* After parsing: brokerIP2, haListenPort = listenPort + 1, brokerId rules, ~ expansion, checks.
 * RMQ_ERR__CONFIG with the key named in err. */
rmq_err_t rmq_broker_cfg_finish(rmq_broker_cfg_t *cfg, char *err, size_t errlen);
/* Run the broker until SIGTERM/SIGINT; takes cfg's strings. Returns the exit status. */
int rmq_broker_run(rmq_broker_cfg_t *cfg);
/* The peer of c as a stored host (IPv4 when the peer is IPv4 or IPv4-mapped). */
void rmq_broker_peer_host(rmq_rem_conn_t *c, rmq_msg_host_t *h);
/* A SYNC_FLUSH put whose completion will come from the flush thread: counted so that shutdown
 * waits for them. */
void rmq_broker_inflight_add(rmq_broker_t *b, int delta);
/* Loop thread? */
bool rmq_broker_on_loop(const rmq_broker_t *b);
/* Broker-wide random number for queue choice. */
uint32_t rmq_broker_rand(void);

#endif
