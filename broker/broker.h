/* The broker: owns the store, the remoting server and the managers (topics, offsets,
 * subscription groups, clients, held pulls), registers with the NameServers.
 *
 * Threading (DESIGN.md): one libuv loop ("the loop", the main thread) runs the server, every
 * request handler, every manager and every timer (NameServer registration every 30 s, offset
 * persistence every 5 s, client expiry, hold scans). The managers are therefore single-threaded
 * and take no locks. Store threads reach the loop only through rmq_broker_run_on_loop (mailbox):
 * the reput thread's arrive callback (wakes held pulls) and the flush thread's SYNC_FLUSH
 * completions (send the reply). The outbound remoting client (NameServers, calls to clients)
 * runs on the same loop. */
#ifndef RMQ_BROKER_H
#define RMQ_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/kvconf.h"
#include "common/mailbox.h"
#include "common/msg.h"
#include "remoting/client.h"
#include "remoting/server.h"
#include "store/store.h"

typedef enum { RMQ_ROLE_ASYNC_MASTER = 0, RMQ_ROLE_SYNC_MASTER = 1, RMQ_ROLE_SLAVE = 2 } rmq_broker_role_t;

/* perm bits (PermName) */
#define RMQ_PERM_PRIORITY 0x8
#define RMQ_PERM_READ 0x4
#define RMQ_PERM_WRITE 0x2
#define RMQ_PERM_INHERIT 0x1

#define RMQ_TOPIC_DEFAULT "TBW102"
#define RMQ_TOPIC_SCHEDULE "SCHEDULE_TOPIC_XXXX"
#define RMQ_TOPIC_OFFSET_MOVED "OFFSET_MOVED_EVENT"
#define RMQ_TOPIC_TRANS_HALF "RMQ_SYS_TRANS_HALF_TOPIC"
#define RMQ_TOPIC_TRANS_OP_HALF "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define RMQ_RETRY_PREFIX "%RETRY%"
#define RMQ_DLQ_PREFIX "%DLQ%"

/* broker.conf keys with RocketMQ's names and defaults (conf/broker.conf documents each). */
typedef struct {
    char *broker_cluster_name;        /* brokerClusterName, DefaultCluster */
    char *broker_name;                /* brokerName, hostname-ish default "broker-a" */
    int64_t broker_id;                /* brokerId, 0 = master */
    char *namesrv_addr;               /* namesrvAddr "h:p;h:p" */
    int listen_port;                  /* listenPort, 10911 */
    char *broker_ip1;                 /* brokerIP1, first non-loopback IPv4 if unset */
    char *broker_ip2;                 /* brokerIP2 (HA), = brokerIP1 if unset */
    int ha_listen_port;               /* haListenPort, listenPort + 1 */
    int broker_role;                  /* brokerRole ASYNC_MASTER|SYNC_MASTER|SLAVE */
    int broker_permission;            /* brokerPermission, 6 */
    bool auto_create_topic_enable;    /* autoCreateTopicEnable, true */
    int default_topic_queue_nums;     /* defaultTopicQueueNums, 8 */
    bool auto_create_subscription_group; /* autoCreateSubscriptionGroup, true */
    char *region_id;                  /* regionId, DefaultRegion */
    bool trace_on;                    /* traceOn, true */
    bool long_polling_enable;         /* longPollingEnable, true */
    int short_polling_time_mills;     /* shortPollingTimeMills, 1000 */
    int register_name_server_period;  /* registerNameServerPeriod, 30000 */
    int register_broker_timeout_mills;/* registerBrokerTimeoutMills, 6000 */
    int flush_consumer_offset_interval; /* flushConsumerOffsetInterval, 5000 */
    int client_channel_expired_ms;    /* channelExpiredTimeout 120000 (RocketMQ hardcodes) */
    int server_channel_max_idle_seconds; /* serverChannelMaxIdleTimeSeconds, 120 */
    int max_frame_length;             /* frameMaxLength, 16777216 */
    bool reject_transaction_message;  /* rejectTransactionMessage, false */
    bool notify_consumer_ids_changed_enable; /* notifyConsumerIdsChangedEnable, true */
    bool offset_check_in_slave;       /* offsetCheckInSlave, false */
    char *message_delay_level;        /* messageDelayLevel "1s 5s 10s 30s 1m ... 2h" */
    int max_topic_length;             /* topic name limit, 127 */
    char *log_file;                   /* logFile, <storePathRootDir>/logs/broker.log if unset */
    char *log_level;                  /* logLevel, INFO */
    rmq_store_cfg_t store;            /* MessageStoreConfig keys, see store.h */
} rmq_broker_cfg_t;

extern const rmq_kv_def_t rmq_broker_cfg_defs[];
extern const size_t rmq_broker_cfg_ndefs;

typedef struct rmq_broker_topics_s rmq_broker_topics_t;
typedef struct rmq_broker_offsets_s rmq_broker_offsets_t;
typedef struct rmq_broker_subgroups_s rmq_broker_subgroups_t;
typedef struct rmq_broker_clients_s rmq_broker_clients_t;
typedef struct rmq_broker_hold_s rmq_broker_hold_t;
typedef struct rmq_broker_schedule_s rmq_broker_schedule_t;

typedef struct rmq_broker_s {
    rmq_broker_cfg_t cfg;             /* read-only after start */
    uv_loop_t *loop;
    rmq_rem_server_t *server;
    rmq_rem_client_t *client;         /* NameServers; on the loop */
    rmq_store_t *store;
    rmq_mailbox_t mailbox;            /* store threads -> loop */
    rmq_broker_topics_t *topics;
    rmq_broker_offsets_t *offsets;
    rmq_broker_subgroups_t *subgroups;
    rmq_broker_clients_t *clients;
    rmq_broker_hold_t *hold;
    rmq_msg_host_t store_host;        /* brokerIP1:listenPort */
    char addr[64];                    /* "brokerIP1:listenPort" */
    char ha_addr[64];                 /* "brokerIP2:haListenPort" */
    char config_dir[512];             /* <storePathRootDir>/config */
    int64_t start_ms;
    bool shutting_down;
    rmq_broker_schedule_t *schedule;  /* delayed-message delivery (schedule.c) */
    struct rmq_broker_sampler_s *sampler; /* put-TPS sampler for runtime info (admin.c) */
} rmq_broker_t;

/* Run fn(arg) on the broker loop (any thread). False when shutting down. */
bool rmq_broker_run_on_loop(rmq_broker_t *b, void (*fn)(void *arg), void *arg);
/* Register with every NameServer now (oneway=false waits for nothing: async either way). */
void rmq_broker_register_all(rmq_broker_t *b);

/* ---- topics (broker/topic.c) ------------------------------------------------------ */
typedef struct {
    char name[256];
    int read_queue_nums;
    int write_queue_nums;
    int perm;
    int topic_filter_type;            /* 0 SINGLE_TAG, 1 MULTI_TAG */
    int topic_sys_flag;
    bool order;
} rmq_topic_cfg_t;

rmq_err_t rmq_broker_topics_open(rmq_broker_t *b);   /* load topics.json, create system topics */
void rmq_broker_topics_close(rmq_broker_t *b);
/* Borrowed pointer valid until the next topic change on the loop; NULL if absent. */
const rmq_topic_cfg_t *rmq_broker_topic_get(rmq_broker_t *b, const char *topic);
/* Create or update; persists, bumps the data version, registers with NameServers. */
rmq_err_t rmq_broker_topic_put(rmq_broker_t *b, const rmq_topic_cfg_t *tc);
rmq_err_t rmq_broker_topic_delete(rmq_broker_t *b, const char *topic);
/* Send-path auto-creation from the default topic (broker.md 1.3); NULL when not allowed. */
const rmq_topic_cfg_t *rmq_broker_topic_create_on_send(rmq_broker_t *b, const char *topic,
                                                       const char *default_topic, int queue_nums,
                                                       int topic_sys_flag);
/* %RETRY%group / %DLQ%group creation with n queues and perm (broker.md 1.3, 6.1). */
const rmq_topic_cfg_t *rmq_broker_topic_create_sys(rmq_broker_t *b, const char *topic, int n,
                                                   int perm);
/* TopicConfigSerializeWrapper JSON {topicConfigTable:{...}, dataVersion:{...}}; new string. */
char *rmq_broker_topics_wrapper_json(rmq_broker_t *b);
/* Iterate topics on the loop. */
void rmq_broker_topics_each(rmq_broker_t *b, void (*fn)(const rmq_topic_cfg_t *tc, void *arg),
                            void *arg);
/* Topic name validity (broker.md 1.2 step 3): NULL when valid, else a reason. */
const char *rmq_broker_topic_invalid(const rmq_broker_t *b, const char *topic);

/* ---- consumer offsets (broker/offset.c) ------------------------------------------- */
rmq_err_t rmq_broker_offsets_open(rmq_broker_t *b);  /* load consumerOffset.json */
void rmq_broker_offsets_persist(rmq_broker_t *b);    /* every 5 s and at shutdown */
void rmq_broker_offsets_close(rmq_broker_t *b);
/* -1 when the group has no offset for the queue. */
int64_t rmq_broker_offset_get(rmq_broker_t *b, const char *group, const char *topic, int qid);
void rmq_broker_offset_set(rmq_broker_t *b, const char *group, const char *topic, int qid,
                           int64_t offset);

/* ---- subscription groups (broker/subgroup.c) -------------------------------------- */
typedef struct {
    char group_name[256];
    bool consume_enable, consume_from_min_enable, consume_broadcast_enable;
    int retry_queue_nums, retry_max_times;
    int64_t broker_id, which_broker_when_consume_slowly;
    bool notify_consumer_ids_changed_enable;
} rmq_subgroup_t;
rmq_err_t rmq_broker_subgroups_open(rmq_broker_t *b);
void rmq_broker_subgroups_close(rmq_broker_t *b);
/* Find, or auto-create when autoCreateSubscriptionGroup; NULL otherwise. */
const rmq_subgroup_t *rmq_broker_subgroup_find_or_create(rmq_broker_t *b, const char *group);

/* ---- clients (broker/clients.c): heartbeats, channels, subscriptions ---------------- */
typedef struct {
    char topic[256];
    char sub_string[512];
    int64_t *codes;                   /* tag hash codes; NULL/0 = all ("*") */
    size_t ncodes;
    int64_t sub_version;
    char expression_type[16];         /* TAG | SQL92 */
} rmq_subscription_t;
rmq_err_t rmq_broker_clients_open(rmq_broker_t *b);
void rmq_broker_clients_close(rmq_broker_t *b);
/* The group's subscription for topic from heartbeats; NULL if none. Borrowed (loop). */
const rmq_subscription_t *rmq_broker_clients_subscription(rmq_broker_t *b, const char *group,
                                                          const char *topic);
/* A live producer connection of group (transaction check-back), NULL if none. */
rmq_rem_conn_t *rmq_broker_clients_pick_producer(rmq_broker_t *b, const char *group);
/* Connection-close hook: broker.c's server on_close callback must call this for every closed
 * connection, so its producer/consumer channels leave their groups at once (consumers of the
 * group are notified). Loop thread. */
void rmq_broker_clients_on_conn_close(rmq_broker_t *b, rmq_rem_conn_t *c);

/* ---- held pulls (broker/hold.c) ----------------------------------------------------- */
rmq_err_t rmq_broker_hold_open(rmq_broker_t *b);
void rmq_broker_hold_close(rmq_broker_t *b);  /* answers every held pull */
/* Wake held pulls of (topic, qid) now that max_offset is available (loop). */
void rmq_broker_hold_notify(rmq_broker_t *b, const char *topic, int qid, int64_t max_offset,
                            int64_t tags_code);

/* ---- delayed messages (broker/schedule.c, broker.md 7) -------------------------------- */
/* Load delayOffset.json and, on a master, start one delivery timer per messageDelayLevel level
 * (first run 1 s later) plus the 10 s persistence timer. */
rmq_err_t rmq_broker_schedule_open(rmq_broker_t *b);
/* Write delayOffset.json now if an offset moved since the last write. */
void rmq_broker_schedule_persist(rmq_broker_t *b);
/* Stop delivering, write delayOffset.json, close the timers (memory freed by their close
 * callbacks). Call before the store closes. */
void rmq_broker_schedule_close(rmq_broker_t *b);
/* GET_ALL_DELAY_OFFSET (45). */
void rmq_broker_schedule_register(rmq_broker_t *b);

/* ---- request handlers: each file registers its codes ------------------------------- */
void rmq_broker_send_register(rmq_broker_t *b);    /* send.c: 10, 310, 320, 36 */
void rmq_broker_pull_register(rmq_broker_t *b);    /* pull.c: 11, 361 */
void rmq_broker_topic_register(rmq_broker_t *b);   /* topic.c: 17, 21, 215 */
void rmq_broker_clients_register(rmq_broker_t *b); /* clients.c: 34, 35, 38, 41, 42, 46, 203, 204 */
void rmq_broker_offset_register(rmq_broker_t *b);  /* offset.c: 14, 15, 29, 30, 31, 32, 43, 222 */
void rmq_broker_admin_register(rmq_broker_t *b);   /* admin.c: 12, 33, 28, 200, 201, 202, 208, 26 ... */

/* Re-put path for delay/retry/DLQ/transactions: append a decoded stored record (rec) under
 * another topic/queue keeping its identity (UNIQ_KEY, body, flags, born info), with props
 * replaced by new_props. done as rmq_store_put. (send.c) */
rmq_err_t rmq_broker_reput(rmq_broker_t *b, const rmq_msg_rec_t *rec, const char *topic,
                           int32_t qid, const char *new_props, size_t new_props_len,
                           int32_t reconsume_times, rmq_store_put_result_t *r,
                           rmq_store_put_cb done, void *arg);

/* Error response helper: code + remark (printf). */
rmq_rem_cmd_t *rmq_broker_err(const rmq_rem_cmd_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
