/* The broker's configuration table (broker.conf keys, RocketMQ's names and defaults), the
 * defaults RocketMQ derives from the machine, and the checks after parsing. */
#include "broker/cfg.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

const char *const rmq_broker_role_names[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE", NULL};
const char *const rmq_broker_metrics_types[] = {"DISABLE", "OTLP_GRPC", "PROM", "LOG", NULL};

#define C rmq_broker_cfg_t
const rmq_kv_def_t rmq_broker_cfg_defs[] = {
    RMQ_KV_STR("brokerClusterName", C, broker_cluster_name, "DefaultCluster", "cluster name"),
    RMQ_KV_STR("brokerName", C, broker_name, NULL, "broker set name (default: host name)"),
    RMQ_KV_I64("brokerId", C, broker_id, 0, 0, 1LL << 40, "0 = master, > 0 = slave"),
    RMQ_KV_STR("namesrvAddr", C, namesrv_addr, NULL, "NameServers, host:port;host:port"),
    RMQ_KV_INT("listenPort", C, listen_port, 10911, 1, 65535, "remoting port"),
    /* RocketMQ 5's NettyServerConfig.bindAddress; its fast port copies that config, so one key
     * serves both; the HA port follows it unless haListenHost is set */
    RMQ_KV_STR("bindAddress", C, bind_address, "0.0.0.0",
               "local address the remoting (listenPort), fast (listenPort - 2) and HA ports bind"),
    RMQ_KV_STR("brokerIP1", C, broker_ip1, NULL,
               "advertised address and store host (default: first non-loopback IPv4)"),
    RMQ_KV_STR("brokerIP2", C, broker_ip2, NULL, "HA address advertised to slaves (= brokerIP1)"),
    RMQ_KV_ENUM("brokerRole", C, broker_role, 0, rmq_broker_role_names,
                "ASYNC_MASTER, SYNC_MASTER or SLAVE"),
    RMQ_KV_INT("brokerPermission", C, broker_permission, 6, 0, 7,
               "6 rw, 4 read-only, 2 write-only"),
    RMQ_KV_BOOL("autoCreateTopicEnable", C, auto_create_topic_enable, 1,
                "create TBW102 and topics on first send"),
    RMQ_KV_INT("defaultTopicQueueNums", C, default_topic_queue_nums, 8, 1, 1024,
               "queues of TBW102"),
    RMQ_KV_BOOL("autoCreateSubscriptionGroup", C, auto_create_subscription_group, 1,
                "create unknown consumer groups on first use"),
    RMQ_KV_STR("regionId", C, region_id, "DefaultRegion", "echoed as MSG_REGION in send replies"),
    RMQ_KV_BOOL("traceOn", C, trace_on, 1, "echoed as TRACE_ON in send replies"),
    RMQ_KV_BOOL("longPollingEnable", C, long_polling_enable, 1,
                "hold pulls up to suspendTimeoutMillis"),
    RMQ_KV_INT("shortPollingTimeMills", C, short_polling_time_mills, 1000, 1, 3600000,
               "hold time when long polling is off, ms"),
    RMQ_KV_INT("registerNameServerPeriod", C, register_name_server_period, 30000, 1000, 3600000,
               "NameServer registration period, ms (clamped to 10-60 s)"),
    RMQ_KV_INT("registerBrokerTimeoutMills", C, register_broker_timeout_mills, 6000, 100, 3600000,
               "registration request timeout, ms"),
    RMQ_KV_INT("flushConsumerOffsetInterval", C, flush_consumer_offset_interval, 5000, 100, 3600000,
               "consumerOffset.json persist interval, ms"),
    RMQ_KV_INT("channelExpiredTimeout", C, client_channel_expired_ms, 120000, 1000, 86400000,
               "close client channels silent this long, ms"),
    RMQ_KV_INT("serverChannelMaxIdleTimeSeconds", C, server_channel_max_idle_seconds, 120, 0, 86400,
               "close idle connections after this many seconds (0 never)"),
    RMQ_KV_INT("frameMaxLength", C, max_frame_length, 16777216, 1024, 1 << 30,
               "largest remoting frame accepted, bytes"),
    RMQ_KV_BOOL("rejectTransactionMessage", C, reject_transaction_message, 0,
                "refuse transactional (half) messages"),
    RMQ_KV_BOOL("storeReplyMessageEnable", C, store_reply_message_enable, 1,
                "also store request-reply replies in <cluster>_REPLY_TOPIC"),
    RMQ_KV_INT("transactionCheckInterval", C, transaction_check_interval, 60000, 100, 86400000,
               "ms between transaction check-back runs"),
    RMQ_KV_INT("transactionTimeOut", C, transaction_timeout, 6000, 0, 86400000,
               "ms a half message waits before its first check-back"),
    RMQ_KV_INT("transactionCheckMax", C, transaction_check_max, 15, 1, 100000,
               "check-backs before a half message goes to TRANS_CHECK_MAX_TIME_TOPIC"),
    RMQ_KV_BOOL("notifyConsumerIdsChangedEnable", C, notify_consumer_ids_changed_enable, 1,
                "tell consumers when their group changes"),
    RMQ_KV_BOOL("offsetCheckInSlave", C, offset_check_in_slave, 0,
                "correct pull offsets on a slave too"),
    RMQ_KV_BOOL("slaveReadEnable", C, slave_read_enable, 0,
                "let consumers read from a slave when the master's backlog leaves memory"),
    RMQ_KV_BOOL("enablePropertyFilter", C, enable_property_filter, 0,
                "serve SQL92 property-filter subscriptions"),
    RMQ_KV_STR("messageDelayLevel", C, message_delay_level,
               "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", "delay levels"),
    RMQ_KV_INT("maxTopicLength", C, max_topic_length, 127, 1, 127, "longest topic name"),
    RMQ_KV_BOOL("timerWheelEnable", C, timer_wheel_enable, 1,
                "honour TIMER_DELIVER_MS / TIMER_DELAY_SEC / TIMER_DELAY_MS (else refuse them)"),
    RMQ_KV_INT("timerMaxDelaySec", C, timer_max_delay_sec, 259200, 1, 30 * 86400,
               "longest timer delay accepted, seconds"),
    RMQ_KV_INT("timerPrecisionMs", C, timer_precision_ms, 1000, 10, 60000,
               "timer wheel slot width, ms"),
    RMQ_KV_INT("timerFlushIntervalMs", C, timer_flush_interval_ms, 1000, 10, 3600000,
               "msync of the timer files, ms"),
    RMQ_KV_INT("mappedFileSizeTimerLog", C, mapped_file_size_timer_log, 104857600, 4096, 1 << 30,
               "timer log segment size, bytes"),
    RMQ_KV_STR("logFile", C, log_file, NULL,
               "log file (then stderr is not written); SIGHUP reopens it"),
    RMQ_KV_STR("logLevel", C, log_level, "INFO", "ERROR, WARN, INFO or DEBUG"),
    RMQ_KV_I64("logFileMaxSize", C, log_file_max_size, 134217728, 4096, INT64_C(1) << 40,
               "rotate logFile when a line would take it past this many bytes"),
    RMQ_KV_INT("logFileMaxCount", C, log_file_max_count, 20, 0, 1000,
               "rotated files kept as logFile.1 .. logFile.N (0: never rotate)"),
    RMQ_KV_BOOL("logRollDaily", C, log_roll_daily, 1,
                "also rotate at the first line of each new local day"),
    RMQ_KV_ENUM("metricsExporterType", C, metrics_exporter_type, 0, rmq_broker_metrics_types,
                "PROM serves Prometheus text on metricsPromExporterPort; DISABLE (default) off"),
    RMQ_KV_STR("metricsPromExporterHost", C, metrics_prom_host, NULL,
               "address /metrics listens on (default brokerIP1)"),
    RMQ_KV_INT("metricsPromExporterPort", C, metrics_prom_port, 5557, 0, 65535,
               "HTTP port of /metrics and /healthz"),
    RMQ_KV_STR("metricsLabel", C, metrics_label, NULL, "extra labels on every sample, k1:v1,k2:v2"),
    RMQ_KV_BOOL("aclEnable", C, acl_enable, 0, "check requests against plain_acl.yml (ACL 1.0)"),
    RMQ_KV_STR("rocketmqHome", C, rocketmq_home, NULL,
               "home of conf/plain_acl.yml (default $ROCKETMQ_HOME)"),
    RMQ_KV_STR("rocketmq.acl.plain.file", C, acl_file, NULL,
               "ACL file, relative to rocketmqHome (default conf/plain_acl.yml)"),
    RMQ_KV_STR("accessKey", C, access_key, NULL, "ACL account the broker signs its requests with"),
    RMQ_KV_STR("secretKey", C, secret_key, NULL, "secret of accessKey (never shown remotely)"),
    RMQ_STORE_CFG_KV(C, store),
    RMQ_HA_CFG_KV(C, ha),
    RMQ_REM_TLS_KV_DEFS(C, tls),
};
#undef C
const size_t rmq_broker_cfg_ndefs = RMQ_ARRAY_LEN(rmq_broker_cfg_defs);

/* The first non-loopback IPv4 not in 127.0/192.168, else the last IPv4 seen (RocketMQ's rule). */
static void default_ip(char *out, size_t n) {
    rmq_strlcpy(out, "127.0.0.1", n);
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) != 0) return;
    char last[INET_ADDRSTRLEN] = "";
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof s);
        if (strncmp(s, "127.0", 5) && strncmp(s, "192.168", 7)) {
            rmq_strlcpy(out, s, n);
            freeifaddrs(ifs);
            return;
        }
        rmq_strlcpy(last, s, sizeof last);
    }
    if (last[0]) rmq_strlcpy(out, last, n);
    freeifaddrs(ifs);
}

void rmq_broker_cfg_init(rmq_broker_cfg_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    rmq_kv_defaults(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg);
    char err[256], host[256] = "broker-a";
    if (gethostname(host, sizeof host) != 0 || !host[0]) rmq_strlcpy(host, "broker-a", sizeof host);
    host[sizeof host - 1] = 0;
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerName", host, err, sizeof err);
    char ip[64];
    default_ip(ip, sizeof ip);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerIP1", ip, err, sizeof err);
    const char *ns = getenv("NAMESRV_ADDR");
    if (ns && *ns)
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "namesrvAddr", ns, err,
                   sizeof err);
}

rmq_err_t rmq_broker_cfg_finish(rmq_broker_cfg_t *cfg, char *err, size_t errlen) {
    char e[256];
    if (rmq_rem_tls_cfg_load_file(&cfg->tls, err, errlen)) return RMQ_ERR__CONFIG;
    if (!cfg->broker_ip2 || !*cfg->broker_ip2)
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerIP2", cfg->broker_ip1, e,
                   sizeof e);
    if (!cfg->ha.ha_listen_host || !*cfg->ha.ha_listen_host)
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "haListenHost",
                   cfg->bind_address && *cfg->bind_address ? cfg->bind_address : "0.0.0.0", e,
                   sizeof e);
    /* 4.9.x overwrites the configured value (broker.md 9.1) */
    if (cfg->ha.ha_listen_port != 10912 && cfg->ha.ha_listen_port != cfg->listen_port + 1)
        RMQ_LOG_WARN("broker", "haListenPort=%d ignored: the HA port is listenPort + 1 = %d",
                     cfg->ha.ha_listen_port, cfg->listen_port + 1);
    cfg->ha.ha_listen_port = cfg->listen_port + 1;
    if (cfg->listen_port + 1 > 65535) {
        snprintf(err, errlen, "listenPort: %d leaves no HA port (haListenPort = listenPort + 1)",
                 cfg->listen_port);
        return RMQ_ERR__CONFIG;
    }
    if (cfg->broker_role == RMQ_ROLE_SLAVE) {
        if (cfg->broker_id <= 0) {
            snprintf(err, errlen,
                     "brokerId: brokerRole=SLAVE needs brokerId > 0 (got %" PRId64
                     "); brokerId=0 is the master of the set",
                     cfg->broker_id);
            return RMQ_ERR__CONFIG;
        }
    } else if (cfg->broker_id != 0) {
        RMQ_LOG_WARN("broker", "brokerId=%" PRId64 " forced to 0: brokerRole=%s is a master",
                     cfg->broker_id, rmq_broker_role_names[cfg->broker_role]);
        cfg->broker_id = 0;
    }
    if (rmq_broker_delay_levels(cfg->message_delay_level) <= 0) {
        snprintf(err, errlen, "messageDelayLevel: malformed '%s'",
                 cfg->message_delay_level ? cfg->message_delay_level : "");
        return RMQ_ERR__CONFIG;
    }
    char *root = rmq_expand_home(cfg->store.store_path_root_dir ? cfg->store.store_path_root_dir
                                                                : "~/store");
    if (!root) return RMQ_ERR__NOMEM;
    free(cfg->store.store_path_root_dir);
    cfg->store.store_path_root_dir = root;
    if (cfg->store.store_path_commitlog && *cfg->store.store_path_commitlog) {
        char *cl = rmq_expand_home(cfg->store.store_path_commitlog);
        if (!cl) return RMQ_ERR__NOMEM;
        free(cfg->store.store_path_commitlog);
        cfg->store.store_path_commitlog = cl;
    }
    int lvl = rmq_log_level_parse(cfg->log_level ? cfg->log_level : "INFO");
    if (lvl == -2) {
        snprintf(err, errlen, "logLevel: unknown level '%s'", cfg->log_level);
        return RMQ_ERR__CONFIG;
    }
    return RMQ_OK;
}

int rmq_broker_delay_levels(const char *spec) {
    if (!spec) return -1;
    int n = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *s = p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == s) return -1;
        if (*p != 's' && *p != 'm' && *p != 'h' && *p != 'd') return -1;
        p++;
        if (*p && *p != ' ') return -1;
        n++;
    }
    return n;
}

/* ---- run-time changes (UPDATE_BROKER_CONFIG) ---------------------------------------------- */

/* Each is read where it is used (the loop) or handed to the store (rmq_store_set_tunables), so
 * a change takes effect at once; everything naming a path, port, role, address, identity or
 * security setting stays out. */
static const char *const runtime_keys[] = {
    "brokerPermission",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "longPollingEnable",
    "shortPollingTimeMills",
    "slaveReadEnable",
    "rejectTransactionMessage",
    "notifyConsumerIdsChangedEnable",
    "traceOn",
    "logLevel",
    "fileReservedTime",
    "deleteWhen",
    "diskMaxUsedSpaceRatio",
    "flushIntervalCommitLog",
    NULL,
};

bool rmq_broker_cfg_runtime_key(const char *key) {
    for (int i = 0; runtime_keys[i]; i++)
        if (!strcmp(runtime_keys[i], key)) return true;
    return false;
}

static bool has_ci(const char *s, const char *sub) {
    size_t n = strlen(sub);
    for (; *s; s++)
        if (!strncasecmp(s, sub, n)) return true;
    return false;
}

bool rmq_broker_cfg_secret_key(const char *key) {
    return has_ci(key, "secret") || has_ci(key, "password") || has_ci(key, "token");
}

void rmq_broker_cfg_runtime_path(const rmq_broker_cfg_t *cfg, char *out, size_t n) {
    char *root = rmq_expand_home(cfg->store.store_path_root_dir ? cfg->store.store_path_root_dir
                                                                : "~/store");
    snprintf(out, n, "%s/config/broker_runtime.properties", root ? root : ".");
    free(root);
}

rmq_err_t rmq_broker_cfg_load_runtime(rmq_broker_cfg_t *cfg, char *err, size_t errlen) {
    char path[4096];
    rmq_broker_cfg_runtime_path(cfg, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return RMQ_OK;
    char line[4096];
    int ln = 0;
    rmq_err_t rc = RMQ_OK;
    while (rc == RMQ_OK && fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq) continue;
        *eq = 0;
        if (!rmq_broker_cfg_runtime_key(line)) {
            RMQ_LOG_WARN("broker", "%s:%d: %s cannot be set here, skipped", path, ln, line);
            continue;
        }
        char e[256];
        if (rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, line, eq + 1, e, sizeof e) !=
            RMQ_OK) {
            snprintf(err, errlen, "%s:%d: %s", path, ln, e);
            rc = RMQ_ERR__CONFIG;
        } else {
            RMQ_LOG_INFO("broker", "%s: %s=%s (changed at run time)", path, line, eq + 1);
        }
    }
    fclose(f);
    return rc;
}
