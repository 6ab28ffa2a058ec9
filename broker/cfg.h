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
    bool offset_check_in_slave;              /* offsetCheckInSlave, false */
    bool slave_read_enable;                  /* slaveReadEnable, false (broker.md 2.7) */
    char *message_delay_level;               /* messageDelayLevel "1s 5s 10s 30s 1m ... 2h" */
    int max_topic_length;                    /* topic name limit, 127 */
    char *log_file;        /* logFile, <storePathRootDir>/logs/broker.log if unset */
    char *log_level;       /* logLevel, INFO */
    rmq_store_cfg_t store; /* MessageStoreConfig keys, see store.h */
    rmq_ha_cfg_t ha;       /* HA keys (haListenPort = listenPort + 1, slaveTimeout...), ha.h */
} rmq_broker_cfg_t;

extern const rmq_kv_def_t rmq_broker_cfg_defs[];
extern const size_t rmq_broker_cfg_ndefs;

extern const char *const rmq_broker_role_names[]; /* ASYNC_MASTER, SYNC_MASTER, SLAVE */

/* Defaults plus what RocketMQ derives from the machine: brokerName = host name, brokerIP1 = first
 * non-loopback IPv4, namesrvAddr = $NAMESRV_ADDR (so -p prints them). */
void rmq_broker_cfg_init(rmq_broker_cfg_t *cfg);
/* After parsing: brokerIP2, haListenPort = listenPort + 1, brokerId rules (a master's forced to 0
 * with a WARN; a SLAVE needs > 0), ~ expansion, checks.
 * RMQ_ERR__CONFIG with the key named in err. */
rmq_err_t rmq_broker_cfg_finish(rmq_broker_cfg_t *cfg, char *err, size_t errlen);

/* Delay levels: number of levels in a messageDelayLevel string ("1s 5s ... 2h"); -1 when
 * malformed. */
int rmq_broker_delay_levels(const char *spec);

#endif
