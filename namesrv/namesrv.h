/* The NameServer: configuration, the remoting server, the request processor (RocketMQ's
 * DefaultRequestProcessor), the inactive-broker scan and the KV config, all on one libuv loop.
 *
 * Everything, the route tables included, is touched only by that loop's thread, so there is
 * no locking anywhere in the NameServer. Several NameServers share nothing: brokers register
 * with each of them. */
#ifndef RMQ_NS_NAMESRV_H
#define RMQ_NS_NAMESRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/kvconf.h"
#include "namesrv/kvconfig.h"
#include "namesrv/route.h"
#include "remoting/tls.h"
#include "rmq/rmq_err.h"

typedef struct {
    int listen_port;               /* listenPort, 9876 */
    char *bind_address;            /* bindAddress, 0.0.0.0 */
    char *rocketmq_home;           /* rocketmqHome, $ROCKETMQ_HOME (informational) */
    char *kv_config_path;          /* kvConfigPath, ~/namesrv/kvConfig.json */
    int log_level;                 /* logLevel: index into rmq_ns_log_levels, INFO */
    char *log_file;                /* logFile, none (stderr only) */
    int64_t log_file_max_size;     /* logFileMaxSize, 100 MiB: rotate past it */
    int log_file_max_count;        /* logFileMaxCount, 10 rotated files kept (0: never) */
    bool log_roll_daily;           /* logRollDaily, true */
    int64_t broker_expired_ms;     /* brokerChannelExpiredTime, 120000 */
    int64_t scan_interval_ms;      /* scanNotActiveBrokerInterval, 10000 */
    int server_channel_max_idle_s; /* serverChannelMaxIdleTimeSeconds, 120 */
    bool order_message_enable;     /* orderMessageEnable, false */
    int frame_max_length;          /* frameMaxLength, 16777216 */
    int metrics_exporter_type;     /* metricsExporterType DISABLE|PROM (as the broker's) */
    char *metrics_prom_host;       /* metricsPromExporterHost, bindAddress if unset */
    int metrics_prom_port;         /* metricsPromExporterPort, 5558 (a broker has 5557) */
    char *metrics_label;           /* metricsLabel "k:v,k:v" */
    rmq_rem_tls_cfg_t tls;         /* tls.* keys (remoting/tls.h) */
    bool acl_enable;               /* aclEnable, false: NameServer ACL (processor.c) */
    char *acl_file;                /* rocketmq.acl.plain.file, conf/plain_acl.yml under home */
} rmq_ns_cfg_t;

/* The config table (for rmq_kv_main_args / rmq_kv_defaults / rmq_kv_free). */
extern const rmq_kv_def_t rmq_ns_cfg_defs[];
extern const size_t rmq_ns_cfg_ndefs;
/* ENUM names of logLevel, NULL-terminated; index order matches rmq_log_lvl_t from ERROR. */
extern const char *const rmq_ns_log_levels[];

typedef struct rmq_ns_s rmq_ns_t;

/* Create on loop: opens (loads) the KV config; cfg is borrowed for the NameServer's life.
 * RMQ_ERR__CORRUPT / RMQ_ERR__IO when the KV file cannot be loaded (logged). */
rmq_err_t rmq_ns_new(uv_loop_t *loop, const rmq_ns_cfg_t *cfg, rmq_ns_t **out);
/* Listen and start the scan timer. RMQ_ERR__IO when the port is taken (logged). */
rmq_err_t rmq_ns_start(rmq_ns_t *ns);
/* Port actually bound (after start). */
int rmq_ns_port(const rmq_ns_t *ns);
/* Port of /metrics (0 when metrics are off). */
int rmq_ns_metrics_port(const rmq_ns_t *ns);
/* The route tables (tests, diagnostics). */
rmq_ns_route_t *rmq_ns_get_route(rmq_ns_t *ns);
/* Persist the KV config, stop the timer and the server; ns is freed and done(arg) runs once
 * every handle has closed. Loop thread; done may be NULL. */
void rmq_ns_shutdown(rmq_ns_t *ns, void (*done)(void *arg), void *arg);

#endif
