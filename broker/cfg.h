/* The broker's configuration: broker.conf keys with RocketMQ's names and defaults, the table
 * that parses and prints them, and the constants every broker file shares (roles, permission
 * bits, system topic names). The bottom of broker/ but for ha.h (whose HA keys it embeds; ha
 * includes nothing of broker/).
 *
 * The config is parsed once in main() and read-only afterwards (STYLE.md 2, State). */
#ifndef RMQ_BROKER_CFG_H
#define RMQ_BROKER_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ha.h"
#include "common/kvconf.h"
#include "remoting/tls.h"
#include "store/store.h"

typedef enum {
    RMQ_ROLE_ASYNC_MASTER = 0,
    RMQ_ROLE_SYNC_MASTER = 1,
    RMQ_ROLE_SLAVE = 2
} rmq_broker_role_t;

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
    char *broker_cluster_name;               /* brokerClusterName, DefaultCluster */
    char *broker_name;                       /* brokerName, hostname-ish default "broker-a" */
    int64_t broker_id;                       /* brokerId, 0 = master */
    char *namesrv_addr;                      /* namesrvAddr "h:p;h:p" */
    int listen_port;                         /* listenPort, 10911 */
    char *bind_address;                      /* bindAddress, 0.0.0.0 (main, fast, HA ports) */
    char *broker_ip1;                        /* brokerIP1, first non-loopback IPv4 if unset */
    char *broker_ip2;                        /* brokerIP2 (HA), = brokerIP1 if unset */
    int broker_role;                         /* brokerRole ASYNC_MASTER|SYNC_MASTER|SLAVE */
    int broker_permission;                   /* brokerPermission, 6 */
    bool auto_create_topic_enable;           /* autoCreateTopicEnable, true */
    int default_topic_queue_nums;            /* defaultTopicQueueNums, 8 */
    bool auto_create_subscription_group;     /* autoCreateSubscriptionGroup, true */
    char *region_id;                         /* regionId, DefaultRegion */
    bool trace_on;                           /* traceOn, true */
    bool long_polling_enable;                /* longPollingEnable, true */
    bool enable_property_filter;             /* enablePropertyFilter, false */
    int short_polling_time_mills;            /* shortPollingTimeMills, 1000 */
    int register_name_server_period;         /* registerNameServerPeriod, 30000 */
    int register_broker_timeout_mills;       /* registerBrokerTimeoutMills, 6000 */
    int flush_consumer_offset_interval;      /* flushConsumerOffsetInterval, 5000 */
    int client_channel_expired_ms;           /* channelExpiredTimeout 120000 (RocketMQ hardcodes) */
    int server_channel_max_idle_seconds;     /* serverChannelMaxIdleTimeSeconds, 120 */
    int max_frame_length;                    /* frameMaxLength, 16777216 */
    bool reject_transaction_message;         /* rejectTransactionMessage, false */
    int transaction_check_interval;          /* transactionCheckInterval ms, 60000 */
    int transaction_timeout;                 /* transactionTimeOut ms, 6000 */
    int transaction_check_max;               /* transactionCheckMax, 15 */
    bool notify_consumer_ids_changed_enable; /* notifyConsumerIdsChangedEnable, true */
    bool store_reply_message_enable;         /* storeReplyMessageEnable, true */
    bool offset_check_in_slave;              /* offsetCheckInSlave, false */
    bool slave_read_enable;                  /* slaveReadEnable, false (broker.md 2.7) */
    char *message_delay_level;               /* messageDelayLevel "1s 5s 10s 30s 1m ... 2h" */
    int max_topic_length;                    /* topic name limit, 127 */
    char *log_file;            /* logFile, <storePathRootDir>/logs/broker.log if unset */
    char *log_level;           /* logLevel, INFO */
    int64_t log_file_max_size; /* logFileMaxSize, 128 MiB: rotate past it */
    int log_file_max_count;    /* logFileMaxCount, 20 rotated files kept (0: no rotation) */
    bool log_roll_daily;       /* logRollDaily, true: rotate at the first line of a new day */
    int metrics_exporter_type; /* metricsExporterType DISABLE|PROM (metrics.h) */
    char *metrics_prom_host;   /* metricsPromExporterHost, brokerIP1 if unset */
    int metrics_prom_port;     /* metricsPromExporterPort, 5557 */
    char *metrics_label;       /* metricsLabel "k:v,k:v" added to every sample */
    rmq_store_cfg_t store;     /* MessageStoreConfig keys, see store.h */
    rmq_ha_cfg_t ha;           /* HA keys (haListenPort = listenPort + 1, slaveTimeout...), ha.h */
    rmq_rem_tls_cfg_t tls;     /* tls.* keys (remoting/tls.h): every listener, outbound with
                                  tls.enable; tls.config.file read by rmq_broker_cfg_finish */
    bool acl_enable;           /* aclEnable, false: check every request against plain_acl.yml */
    char *rocketmq_home;       /* rocketmqHome, $ROCKETMQ_HOME: <home>/conf/plain_acl.yml */
    char *acl_file;            /* rocketmq.acl.plain.file, conf/plain_acl.yml (under home) */
    char *access_key;          /* accessKey / secretKey: sign the broker's own requests */
    char *secret_key;          /*   (NameServer registration, a slave's sync from its master) */
    bool timer_wheel_enable;   /* timerWheelEnable, true (5.x timers, broker/timer) */
    int timer_max_delay_sec;   /* timerMaxDelaySec, 259200 (3 days) */
    int timer_precision_ms;    /* timerPrecisionMs, 1000 */
    int timer_flush_interval_ms;    /* timerFlushIntervalMs, 1000 */
    int mapped_file_size_timer_log; /* mappedFileSizeTimerLog, 100 MiB */
} rmq_broker_cfg_t;

extern const rmq_kv_def_t rmq_broker_cfg_defs[];
extern const size_t rmq_broker_cfg_ndefs;

extern const char *const rmq_broker_role_names[]; /* ASYNC_MASTER, SYNC_MASTER, SLAVE */
/* DISABLE, OTLP_GRPC, PROM, LOG: RocketMQ 5's exporter types; rmq serves PROM only */
extern const char *const rmq_broker_metrics_types[];
enum {
    RMQ_METRICS_DISABLE = 0,
    RMQ_METRICS_OTLP_GRPC = 1,
    RMQ_METRICS_PROM = 2,
    RMQ_METRICS_LOG = 3
};

/* Defaults plus what RocketMQ derives from the machine: brokerName = host name, brokerIP1 = first
 * non-loopback IPv4, namesrvAddr = $NAMESRV_ADDR (so -p prints them). */
void rmq_broker_cfg_init(rmq_broker_cfg_t *cfg);
/* After parsing: brokerIP2, haListenPort = listenPort + 1, brokerId rules (a master's forced to 0
 * with a WARN; a SLAVE needs > 0), ~ expansion, checks.
 * RMQ_ERR__CONFIG with the key named in err. */
rmq_err_t rmq_broker_cfg_finish(rmq_broker_cfg_t *cfg, char *err, size_t errlen);

/* UPDATE_BROKER_CONFIG's allow-list: keys safe to change at run time (each applied live). */
bool rmq_broker_cfg_runtime_key(const char *key);
/* Keys GET_BROKER_CONFIG never returns (secretKey, passwords, ...). */
bool rmq_broker_cfg_secret_key(const char *key);
/* Where accepted runtime changes persist: <storePathRootDir>/config/broker_runtime.properties
 * (a side file read after broker.conf; only allow-listed keys are taken from it). */
void rmq_broker_cfg_runtime_path(const rmq_broker_cfg_t *cfg, char *out, size_t n);
/* Apply the side file (if any) to cfg; call after broker.conf and before
 * rmq_broker_cfg_finish. A key off the allow-list there is skipped with a WARN. */
rmq_err_t rmq_broker_cfg_load_runtime(rmq_broker_cfg_t *cfg, char *err, size_t errlen);

/* Delay levels: number of levels in a messageDelayLevel string ("1s 5s ... 2h"); -1 when
 * malformed. */
int rmq_broker_delay_levels(const char *spec);

#endif
