/* NameServer request processor and life cycle (see namesrv.h).
 *
 * Handlers follow RocketMQ 4.9's DefaultRequestProcessor: same codes, headers, bodies and
 * remarks. A request missing a required header field or carrying a body that does not parse
 * gets SYSTEM_ERROR with a remark naming the field; the connection stays open. Codes without
 * a handler get REQUEST_CODE_NOT_SUPPORTED from the remoting server (RocketMQ 4.9's NameServer
 * does not answer them at all). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/prom.h"
#include "common/util.h"
#include "namesrv/metrics.h"
#include "namesrv/namesrv.h"
#include "remoting/acl.h"
#include "remoting/server.h"

#define MOD "namesrv"

/* Not in rmq/rmq_codes.h (NameServer-only codes). */
#define REQ_GET_SYSTEM_TOPIC_LIST_FROM_NS 304
#define REQ_GET_NAMESRV_CONFIG 319
#define REQ_UPDATE_NAMESRV_CONFIG 318
#define REQ_REGISTER_TOPIC_IN_NAMESRV 217
#define REQ_GET_UNIT_TOPIC_LIST 311
#define REQ_GET_HAS_UNIT_SUB_TOPIC_LIST 312
#define REQ_GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST 313

const char *const rmq_ns_log_levels[] = {"ERROR", "WARN", "INFO", "DEBUG", "OFF", NULL};
static const char *const metrics_types[] = {"DISABLE", "OTLP_GRPC", "PROM", "LOG", NULL};
#define METRICS_PROM 2

const rmq_kv_def_t rmq_ns_cfg_defs[] = {
    RMQ_KV_INT("listenPort", rmq_ns_cfg_t, listen_port, 9876, 1, 65535,
               "TCP port brokers and clients connect to"),
    RMQ_KV_STR("bindAddress", rmq_ns_cfg_t, bind_address, "0.0.0.0", "listen address"),
    RMQ_KV_STR("rocketmqHome", rmq_ns_cfg_t, rocketmq_home, NULL,
               "installation directory (default $ROCKETMQ_HOME; informational)"),
    RMQ_KV_STR("kvConfigPath", rmq_ns_cfg_t, kv_config_path, "~/namesrv/kvConfig.json",
               "KV config file (ORDER_TOPIC_CONFIG etc.), RocketMQ's JSON layout"),
    RMQ_KV_ENUM("logLevel", rmq_ns_cfg_t, log_level, 2, rmq_ns_log_levels,
                "ERROR|WARN|INFO|DEBUG|OFF"),
    RMQ_KV_STR("logFile", rmq_ns_cfg_t, log_file, NULL,
               "log file, appended (empty: stderr; when set: the file only); SIGHUP reopens it"),
    RMQ_KV_I64("logFileMaxSize", rmq_ns_cfg_t, log_file_max_size, 104857600, 4096, INT64_C(1) << 40,
               "rotate logFile when a line would take it past this many bytes"),
    RMQ_KV_INT("logFileMaxCount", rmq_ns_cfg_t, log_file_max_count, 10, 0, 1000,
               "rotated files kept as logFile.1 .. logFile.N (0: never rotate)"),
    RMQ_KV_BOOL("logRollDaily", rmq_ns_cfg_t, log_roll_daily, true,
                "also rotate at the first line of each new local day"),
    {"brokerChannelExpiredTime", "brokerExpiredMs", RMQ_KV_T_I64,
     offsetof(rmq_ns_cfg_t, broker_expired_ms), 120000, NULL, 100, INT64_C(86400000), NULL,
     "ms without registration before a broker is removed (RocketMQ: fixed 120 s)"},
    RMQ_KV_I64("scanNotActiveBrokerInterval", rmq_ns_cfg_t, scan_interval_ms, 10000, 50, 3600000,
               "ms between scans for expired brokers (RocketMQ 4.9: fixed 10 s)"),
    RMQ_KV_INT("serverChannelMaxIdleTimeSeconds", rmq_ns_cfg_t, server_channel_max_idle_s, 120, 0,
               86400, "close connections idle this long (0: never)"),
    RMQ_KV_BOOL("orderMessageEnable", rmq_ns_cfg_t, order_message_enable, false,
                "return orderTopicConf (KV namespace ORDER_TOPIC_CONFIG) in routes"),
    RMQ_KV_INT("frameMaxLength", rmq_ns_cfg_t, frame_max_length, 16777216, 1024, 1073741824,
               "largest accepted frame in bytes (RocketMQ: 16 MiB)"),
    RMQ_KV_ENUM("metricsExporterType", rmq_ns_cfg_t, metrics_exporter_type, 0, metrics_types,
                "PROM serves Prometheus text on metricsPromExporterPort; DISABLE (default) off"),
    RMQ_KV_STR("metricsPromExporterHost", rmq_ns_cfg_t, metrics_prom_host, NULL,
               "address /metrics listens on (default bindAddress)"),
    RMQ_KV_INT("metricsPromExporterPort", rmq_ns_cfg_t, metrics_prom_port, 5558, 0, 65535,
               "HTTP port of /metrics and /healthz"),
    RMQ_KV_STR("metricsLabel", rmq_ns_cfg_t, metrics_label, NULL,
               "extra labels on every sample, k1:v1,k2:v2"),
    RMQ_REM_TLS_KV_DEFS(rmq_ns_cfg_t, tls),
    RMQ_KV_BOOL("aclEnable", rmq_ns_cfg_t, acl_enable, false,
                "check broker registrations and admin writes against plain_acl.yml"),
    RMQ_KV_STR("rocketmq.acl.plain.file", rmq_ns_cfg_t, acl_file, NULL,
               "ACL file, relative to rocketmqHome (default conf/plain_acl.yml)"),
};
const size_t rmq_ns_cfg_ndefs = RMQ_ARRAY_LEN(rmq_ns_cfg_defs);

struct rmq_ns_s {
    uv_loop_t *loop;
    const rmq_ns_cfg_t *cfg;
    rmq_rem_server_t *server;
    rmq_ns_route_t *route;
    rmq_ns_kv_t *kv;
    uv_timer_t scan_timer;
    bool timer_inited;
    bool started;       /* listening: only then is the KV config ours to write at shutdown */
    bool stopping;      /* shutdown began: closing connections no longer edits the routes */
    int pending_closes; /* handles (timer, server) not yet closed during shutdown */
    void (*done)(void *arg);
    void *done_arg;
    /* metrics: per-code counters parallel to requests[] (loop only) and the endpoint */
    uint64_t *req_count, *req_errors;
    int *req_codes;
    rmq_httpd_t *httpd;
    rmq_buf_t metrics_base;
    rmq_acl_watch_t *acl; /* aclEnable=true: plain_acl.yml in force */
};

/* ---------- request helpers ---------- */

/* Handlers borrow the request (the dispatcher frees it) and return the response. */
typedef rmq_rem_cmd_t *(*handler_fn)(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req);

static rmq_rem_cmd_t *respond(const rmq_rem_cmd_t *req, int code, const char *remark) {
    return rmq_rem_cmd_new_response(req, code, remark);
}

/* A header field the dispatcher has checked: present, or a number when present. */
static const char *field(const rmq_rem_cmd_t *req, const char *key) {
    return rmq_rem_cmd_get(req, key);
}

static int64_t num_field(const rmq_rem_cmd_t *req, const char *key, int64_t def) {
    int64_t v;
    return rmq_rem_cmd_get_i64(req, key, &v) == RMQ_OK ? v : def;
}

/* Java decodes Boolean header fields with Boolean.parseBoolean: anything but "true" is false. */
static bool opt_bool(const rmq_rem_cmd_t *req, const char *key, bool def) {
    const char *s = rmq_rem_cmd_get(req, key);
    return s ? !strcasecmp(s, "true") : def;
}

static rmq_rem_cmd_t *bad_request(rmq_rem_conn_t *conn, const rmq_rem_cmd_t *req,
                                  const char *remark) {
    RMQ_LOG_WARN(MOD, "request code %d from %s refused: %s", req->code,
                 conn ? rmq_rem_conn_peer(conn) : "?", remark);
    return respond(req, RMQ_ERR_SYSTEM_ERROR, remark);
}

static void set_body_buf(rmq_rem_cmd_t *resp, rmq_buf_t *b) {
    size_t len;
    uint8_t *data = rmq_buf_detach(b, &len);
    if (data) rmq_rem_cmd_set_body(resp, data, len);
}

static rmq_rem_cmd_t *ok_with_body(const rmq_rem_cmd_t *req, rmq_buf_t *b) {
    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (resp) set_body_buf(resp, b);
    rmq_buf_fini(b);
    return resp;
}

/* ---------- broker requests ---------- */

/* Who sends req over conn, for rmq_ns_may_change: with the NameServer ACL on, a request signed
 * by an admin account may replace or remove another connection's registration (an operator
 * retiring a dead broker); without ACL nobody is admin. */
static rmq_ns_who_t who_of(rmq_ns_t *ns, rmq_rem_conn_t *conn, const rmq_rem_cmd_t *req) {
    rmq_ns_who_t w = {.conn = conn, .peer = conn ? rmq_rem_conn_peer(conn) : NULL};
    if (ns->acl && conn) {
        char ip[64];
        rmq_acl_peer_ip(rmq_rem_conn_peer(conn), ip, sizeof ip);
        rmq_acl_verdict_t v;
        rmq_acl_check(rmq_acl_watch_get(ns->acl), req, ip, RMQ_ACL_NEED_ADMIN, NULL, 0, &v);
        w.admin = v.ok;
    }
    return w;
}

static rmq_rem_cmd_t *on_register_broker(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    const char *name = field(req, "brokerName"), *addr = field(req, "brokerAddr");
    const char *cluster = field(req, "clusterName");
    int64_t id = num_field(req, "brokerId", 0);
    int64_t crc = num_field(req, "bodyCrc32", 0);
    if (crc != 0) {
        /* UtilAll.crc32: java.util.zip.CRC32 of the raw body masked to a positive int */
        uint32_t have = rmq_crc32(0, req->body, req->body_len) & 0x7FFFFFFFu;
        if (have != (uint32_t)crc) {
            RMQ_LOG_WARN(MOD,
                         "receive registerBroker request,crc32 not match, broker %s %s, "
                         "header %" PRId64 " body %u",
                         name, addr, crc, have);
            return respond(req, RMQ_ERR_SYSTEM_ERROR, "crc32 not match");
        }
    }
    rmq_ns_reg_body_t body;
    char err[256] = "", remark[512];
    rmq_err_t e = rmq_ns_reg_body_decode(
        req->body, req->body_len, opt_bool(req, "compressed", false), &body, err, sizeof err);
    if (e) {
        rmq_ns_reg_body_fini(&body);
        snprintf(remark, sizeof remark, "bad RegisterBrokerBody: %s", err);
        return bad_request(conn, req, remark);
    }
    if (!req->body_len) body.dv.timestamp = rmq_now_ms(); /* Java: a fresh DataVersion */

    rmq_ns_reg_t reg = {.cluster = cluster,
                        .broker_name = name,
                        .broker_addr = addr,
                        .ha_addr = field(req, "haServerAddr"),
                        .broker_id = id,
                        .body = &body,
                        .conn = conn,
                        .timeout_ms = num_field(req, "heartbeatTimeoutMillis", 0)};
    rmq_ns_who_t who = who_of(ns, conn, req);
    reg.peer = who.peer;
    reg.admin = who.admin;
    rmq_ns_reg_result_t res;
    e = rmq_ns_route_register(ns->route, &reg, rmq_mono_ms(), &res);
    rmq_ns_reg_body_fini(&body);
    RMQ_LOG_DEBUG(MOD, "register broker %s %s id %" PRId64 " cluster %s: %s", name, addr, id,
                  cluster, rmq_strerror(e));
    if (e == RMQ_ERR_NO_PERMISSION) return respond(req, RMQ_ERR_NO_PERMISSION, res.why);
    if (e) return respond(req, RMQ_ERR_SYSTEM_ERROR, "register broker failed: out of memory");

    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (!resp) return NULL;
    if (res.ha_addr[0]) rmq_rem_cmd_set(resp, "haServerAddr", res.ha_addr);
    if (res.master_addr[0]) rmq_rem_cmd_set(resp, "masterAddr", res.master_addr);
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_ns_kv_table_json(ns->kv, RMQ_NS_KV_ORDER_TOPIC_CONFIG, &b) == RMQ_OK)
        set_body_buf(resp, &b);
    rmq_buf_fini(&b);
    return resp;
}

static rmq_rem_cmd_t *on_unregister_broker(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_ns_who_t who = who_of(ns, conn, req);
    char why[384];
    if (rmq_ns_route_unregister(ns->route, field(req, "clusterName"), field(req, "brokerAddr"),
                                field(req, "brokerName"), num_field(req, "brokerId", 0), &who, why,
                                sizeof why))
        return respond(req, RMQ_ERR_NO_PERMISSION, why);
    return respond(req, RMQ_OK, NULL);
}

static rmq_rem_cmd_t *on_query_data_version(rmq_ns_t *ns, rmq_rem_conn_t *conn,
                                            rmq_rem_cmd_t *req) {
    const char *addr = field(req, "brokerAddr");
    rmq_ns_dv_t dv;
    char err[200], remark[512];
    if (rmq_ns_dv_decode(req->body, req->body_len, &dv, err, sizeof err)) {
        snprintf(remark, sizeof remark, "bad DataVersion body: %s", err);
        return bad_request(conn, req, remark);
    }
    bool changed = rmq_ns_route_dv_changed(ns->route, addr, &dv);
    if (!changed) rmq_ns_route_touch(ns->route, addr, rmq_mono_ms());
    rmq_ns_dv_t stored;
    bool have = rmq_ns_route_dv_get(ns->route, addr, &stored);
    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (!resp) return NULL;
    rmq_rem_cmd_set_bool(resp, "changed", changed);
    if (have) {
        rmq_buf_t b;
        rmq_buf_init(&b);
        rmq_ns_dv_encode(&stored, &b);
        set_body_buf(resp, &b);
        rmq_buf_fini(&b);
    }
    return resp;
}

/* ---------- route queries ---------- */

static rmq_rem_cmd_t *on_get_route(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    const char *topic = field(req, "topic");
    const char *order = ns->cfg->order_message_enable
                            ? rmq_ns_kv_get(ns->kv, RMQ_NS_KV_ORDER_TOPIC_CONFIG, topic)
                            : NULL;
    rmq_buf_t b;
    rmq_buf_init(&b);
    bool standard =
        req->version >= RMQ_NS_VERSION_STD_JSON || opt_bool(req, "acceptStandardJsonOnly", false);
    if (rmq_ns_route_topic_json(ns->route, topic, standard, order, &b) != RMQ_OK) {
        rmq_buf_fini(&b);
        char remark[512];
        snprintf(remark, sizeof remark,
                 "No topic route info in name server for the topic: %s\n"
                 "See http://rocketmq.apache.org/docs/faq/ for further details.",
                 topic);
        return respond(req, RMQ_ERR_TOPIC_NOT_EXIST, remark);
    }
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *on_cluster_info(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_cluster_json(ns->route, &b);
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *on_all_topics(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_topics_json(ns->route, NULL, &b);
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *on_topics_by_cluster(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_topics_json(ns->route, field(req, "cluster"), &b);
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *on_system_topics(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_system_topics_json(ns->route, &b);
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *unit_topics(rmq_ns_t *ns, const rmq_rem_cmd_t *req, rmq_ns_unit_query_t q) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_unit_topics_json(ns->route, q, &b);
    return ok_with_body(req, &b);
}

static rmq_rem_cmd_t *on_unit_topics(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    return unit_topics(ns, req, RMQ_NS_UNIT_TOPICS);
}

static rmq_rem_cmd_t *on_unit_sub_topics(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    return unit_topics(ns, req, RMQ_NS_HAS_UNIT_SUB_TOPICS);
}

static rmq_rem_cmd_t *on_unit_sub_ununit_topics(rmq_ns_t *ns, rmq_rem_conn_t *conn,
                                                rmq_rem_cmd_t *req) {
    return unit_topics(ns, req, RMQ_NS_UNIT_SUB_NOT_UNIT_TOPICS);
}

static rmq_rem_cmd_t *on_delete_topic(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_ns_route_delete_topic(ns->route, field(req, "topic"), field(req, "clusterName"));
    return respond(req, RMQ_OK, NULL);
}

/* REGISTER_TOPIC_IN_NAMESRV (5.x brokers with enableSingleTopicRegister): body TopicRouteData
 * holding only queueDatas. */
static rmq_rem_cmd_t *on_register_topic(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_ns_reg_body_t qds;
    char err[256] = "", remark[512];
    if (rmq_ns_queue_datas_decode(req->body, req->body_len, &qds, err, sizeof err)) {
        snprintf(remark, sizeof remark, "bad TopicRouteData body: %s", err);
        return bad_request(conn, req, remark);
    }
    /* RocketMQ answers SUCCESS even when it ignored the request for an unknown broker */
    rmq_ns_route_register_topic(ns->route, field(req, "topic"), qds.topics, qds.ntopics);
    rmq_ns_reg_body_fini(&qds);
    return respond(req, RMQ_OK, NULL);
}

static rmq_rem_cmd_t *write_perm(rmq_ns_t *ns, const rmq_rem_cmd_t *req, bool on) {
    int n = rmq_ns_route_set_write_perm(ns->route, field(req, "brokerName"), on);
    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (resp) rmq_rem_cmd_set_i64(resp, on ? "addTopicCount" : "wipeTopicCount", n);
    return resp;
}

static rmq_rem_cmd_t *on_wipe_write_perm(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    return write_perm(ns, req, false);
}

static rmq_rem_cmd_t *on_add_write_perm(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    return write_perm(ns, req, true);
}

/* ---------- KV config ---------- */

#define KV_NOT_PERSISTED "KV config changed in memory but not persisted, see the NameServer log"

static rmq_rem_cmd_t *on_put_kv(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    if (rmq_ns_kv_put(ns->kv, field(req, "namespace"), field(req, "key"), field(req, "value")))
        return respond(req, RMQ_ERR_SYSTEM_ERROR, KV_NOT_PERSISTED);
    return respond(req, RMQ_OK, NULL);
}

static rmq_rem_cmd_t *on_get_kv(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    const char *space = field(req, "namespace"), *key = field(req, "key");
    const char *v = rmq_ns_kv_get(ns->kv, space, key);
    if (!v) {
        char remark[512];
        snprintf(remark, sizeof remark, "No config item, Namespace: %s Key: %s", space, key);
        return respond(req, RMQ_ERR_QUERY_NOT_FOUND, remark);
    }
    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (resp) rmq_rem_cmd_set(resp, "value", v);
    return resp;
}

static rmq_rem_cmd_t *on_delete_kv(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    rmq_err_t e = rmq_ns_kv_delete(ns->kv, field(req, "namespace"), field(req, "key"));
    if (e && e != RMQ_ERR__NOT_FOUND) return respond(req, RMQ_ERR_SYSTEM_ERROR, KV_NOT_PERSISTED);
    return respond(req, RMQ_OK, NULL);
}

static rmq_rem_cmd_t *on_kvlist(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    const char *space = field(req, "namespace");
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_ns_kv_table_json(ns->kv, space, &b) != RMQ_OK) {
        rmq_buf_fini(&b);
        char remark[512];
        snprintf(remark, sizeof remark, "No config item, Namespace: %s", space);
        return respond(req, RMQ_ERR_QUERY_NOT_FOUND, remark);
    }
    return ok_with_body(req, &b);
}

/* GET_NAMESRV_CONFIG: the effective configuration as Java Properties text (key=value lines). */
static rmq_rem_cmd_t *on_get_config(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return respond(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    rmq_kv_print(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, ns->cfg, f);
    fclose(f);
    rmq_rem_cmd_t *resp = respond(req, RMQ_OK, NULL);
    if (resp && text)
        rmq_rem_cmd_set_body(resp, text, len);
    else
        free(text);
    return resp;
}

/* UPDATE_NAMESRV_CONFIG: Properties text; only keys the running NameServer reads live are
 * taken (an allow-list, never a path: letting a remote caller repoint kvConfigPath or a config
 * path was CVE-2023-37582). All keys or none: the first refused key or bad value is the
 * remark. Applied in memory; the config file is not rewritten, a restart goes back to it. */
static void on_scan(uv_timer_t *t);

static const char *const live_keys[] = {"orderMessageEnable", "brokerChannelExpiredTime",
                                        "scanNotActiveBrokerInterval", "logLevel", NULL};

static bool is_live_key(const char *k) {
    for (size_t i = 0; live_keys[i]; i++)
        if (!strcmp(live_keys[i], k)) return true;
    return false;
}

static rmq_rem_cmd_t *on_update_config(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req) {
    char *text = calloc(1, req->body_len + 1), remark[512] = "";
    if (!text) return respond(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    if (req->body_len) memcpy(text, req->body, req->body_len);
    /* cfg is main()'s object, borrowed by ns; only the scalar live keys change, on the loop
     * thread that is the only reader, so a shallow copy validates them all first */
    rmq_ns_cfg_t tmp = *ns->cfg;
    int n = 0;
    char *save = NULL;
    for (char *ln = strtok_r(text, "\r\n", &save); ln && !remark[0];
         ln = strtok_r(NULL, "\r\n", &save)) {
        while (*ln == ' ' || *ln == '\t') ln++;
        if (!*ln || *ln == '#' || *ln == '!') continue;
        char *eq = strchr(ln, '=');
        if (!eq) {
            snprintf(remark, sizeof remark, "not key=value: %.100s", ln);
            break;
        }
        *eq = 0;
        char *k = ln, *v = eq + 1, *e = eq;
        while (e > k && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (!is_live_key(k)) {
            snprintf(remark, sizeof remark,
                     "%.100s cannot be changed on a running NameServer (paths never are); "
                     "allowed: orderMessageEnable, brokerChannelExpiredTime, "
                     "scanNotActiveBrokerInterval, logLevel",
                     k);
            break;
        }
        char err[256];
        if (rmq_kv_set(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &tmp, k, v, err, sizeof err) != RMQ_OK)
            snprintf(remark, sizeof remark, "%.100s: %.300s", k, err);
        n++;
    }
    free(text);
    if (!remark[0] && n == 0) snprintf(remark, sizeof remark, "no key=value in the request body");
    if (remark[0]) return bad_request(conn, req, remark);
    rmq_ns_cfg_t *live = (rmq_ns_cfg_t *)ns->cfg;
    bool rescan = live->scan_interval_ms != tmp.scan_interval_ms;
    live->order_message_enable = tmp.order_message_enable;
    live->broker_expired_ms = tmp.broker_expired_ms;
    live->scan_interval_ms = tmp.scan_interval_ms;
    if (live->log_level != tmp.log_level) {
        live->log_level = tmp.log_level;
        rmq_log_set_level(tmp.log_level == 4 ? RMQ_LOG_LVL_OFF : (rmq_log_lvl_t)tmp.log_level);
    }
    if (rescan && ns->timer_inited && !ns->stopping) {
        uint64_t iv = (uint64_t)live->scan_interval_ms;
        uv_timer_start(&ns->scan_timer, on_scan, iv, iv);
    }
    RMQ_LOG_INFO(MOD, "config updated by %s (%d key%s, in memory)", rmq_rem_conn_peer(conn), n,
                 n == 1 ? "" : "s");
    return respond(req, RMQ_OK, NULL);
}

/* ---------- the request table ---------- */

#define MAX_FIELDS 8

/* Each served code with its handler and the header fields it needs, checked in order before
 * the handler runs: "key" must be present, "#key" present and a number, "?#key" a number when
 * present. The first problem is answered with SYSTEM_ERROR and a remark naming the field
 * (Java: checkFields, or a NumberFormatException while decoding the header). */
static const struct {
    int code;
    handler_fn fn;
    const char *fields[MAX_FIELDS];
} requests[] = {
    {RMQ_REQ_REGISTER_BROKER,
     on_register_broker,
     {"brokerName", "brokerAddr", "clusterName", "haServerAddr", "#brokerId", "?#bodyCrc32",
      "?#heartbeatTimeoutMillis"}},
    {RMQ_REQ_UNREGISTER_BROKER,
     on_unregister_broker,
     {"brokerName", "brokerAddr", "clusterName", "#brokerId"}},
    {RMQ_REQ_QUERY_DATA_VERSION,
     on_query_data_version,
     {"brokerName", "brokerAddr", "clusterName", "#brokerId"}},
    {RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, on_get_route, {"topic"}},
    {RMQ_REQ_GET_BROKER_CLUSTER_INFO, on_cluster_info, {NULL}},
    {RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, on_all_topics, {NULL}},
    {RMQ_REQ_GET_TOPICS_BY_CLUSTER, on_topics_by_cluster, {"cluster"}},
    {REQ_GET_SYSTEM_TOPIC_LIST_FROM_NS, on_system_topics, {NULL}},
    {REQ_GET_UNIT_TOPIC_LIST, on_unit_topics, {NULL}},
    {REQ_GET_HAS_UNIT_SUB_TOPIC_LIST, on_unit_sub_topics, {NULL}},
    {REQ_GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST, on_unit_sub_ununit_topics, {NULL}},
    {RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, on_delete_topic, {"topic"}},
    {REQ_REGISTER_TOPIC_IN_NAMESRV, on_register_topic, {"topic"}},
    {RMQ_REQ_WIPE_WRITE_PERM_OF_BROKER, on_wipe_write_perm, {"brokerName"}},
    {RMQ_REQ_ADD_WRITE_PERM_OF_BROKER, on_add_write_perm, {"brokerName"}},
    {RMQ_REQ_PUT_KV_CONFIG, on_put_kv, {"namespace", "key", "value"}},
    {RMQ_REQ_GET_KV_CONFIG, on_get_kv, {"namespace", "key"}},
    {RMQ_REQ_DELETE_KV_CONFIG, on_delete_kv, {"namespace", "key"}},
    {RMQ_REQ_GET_KVLIST_BY_NAMESPACE, on_kvlist, {"namespace"}},
    {REQ_GET_NAMESRV_CONFIG, on_get_config, {NULL}},
    {REQ_UPDATE_NAMESRV_CONFIG, on_update_config, {NULL}},
};

static bool check_fields(const rmq_rem_cmd_t *req, const char *const *fields, char *remark,
                         size_t rlen) {
    for (size_t i = 0; i < MAX_FIELDS && fields[i]; i++) {
        const char *key = fields[i];
        bool opt = *key == '?';
        key += opt;
        bool num = *key == '#';
        key += num;
        int64_t v;
        if (!rmq_rem_cmd_get(req, key)) {
            if (opt) continue;
            snprintf(remark, rlen, "the custom field <%s> is null", key);
            return false;
        }
        if (num && rmq_rem_cmd_get_i64(req, key, &v) != RMQ_OK) {
            snprintf(remark, rlen, "the custom field <%s> is not a number", key);
            return false;
        }
    }
    return true;
}

/* NameServer ACL (beyond RocketMQ 4.9): what a code needs from the caller's account, -1 when
 * it stays open to anyone (route and KV reads). Brokers' own traffic needs a broker account
 * (broker: true, or admin); writes operators make need an admin account. */
static int acl_need(int code) {
    switch (code) {
    case RMQ_REQ_REGISTER_BROKER:
    case RMQ_REQ_UNREGISTER_BROKER:
    case RMQ_REQ_QUERY_DATA_VERSION: /* refreshes a broker's liveness */
    case REQ_REGISTER_TOPIC_IN_NAMESRV: return RMQ_ACL_NEED_BROKER;
    case RMQ_REQ_DELETE_TOPIC_IN_NAMESRV:
    case RMQ_REQ_WIPE_WRITE_PERM_OF_BROKER:
    case RMQ_REQ_ADD_WRITE_PERM_OF_BROKER:
    case RMQ_REQ_PUT_KV_CONFIG:
    case RMQ_REQ_DELETE_KV_CONFIG:
    case REQ_GET_NAMESRV_CONFIG:
    case REQ_UPDATE_NAMESRV_CONFIG: return RMQ_ACL_NEED_ADMIN;
    default: return -1;
    }
}

/* NULL when req may run (or ACL is off), else the NO_PERMISSION answer. */
static rmq_rem_cmd_t *acl_refusal(rmq_ns_t *ns, rmq_rem_conn_t *conn, rmq_rem_cmd_t *req,
                                  bool *refused) {
    int need = acl_need(req->code);
    *refused = false;
    if (!ns->acl || need < 0) return NULL;
    char ip[64];
    rmq_acl_peer_ip(rmq_rem_conn_peer(conn), ip, sizeof ip);
    rmq_acl_verdict_t v;
    rmq_acl_check(rmq_acl_watch_get(ns->acl), req, ip, (unsigned)need, NULL, 0, &v);
    if (v.ok) return NULL;
    *refused = true;
    RMQ_LOG_WARN("acl", "refused code %d from %s accessKey=%s: %s", req->code,
                 rmq_rem_conn_peer(conn), v.access_key[0] ? v.access_key : "(none)", v.why);
    return rmq_rem_cmd_is_oneway(req) ? NULL : respond(req, RMQ_ERR_NO_PERMISSION, v.why);
}

/* The one entry point of every served code: owns req, checks its header, runs its handler. */
static rmq_rem_cmd_t *on_request(rmq_rem_conn_t *conn, rmq_rem_cmd_t *req, void *arg) {
    rmq_ns_t *ns = arg;
    size_t i = 0;
    while (i < RMQ_ARRAY_LEN(requests) && requests[i].code != req->code) i++;
    rmq_rem_cmd_t *resp;
    char remark[256];
    bool refused = false;
    rmq_rem_cmd_t *denied = acl_refusal(ns, conn, req, &refused);
    if (refused)
        resp = denied;
    else if (i == RMQ_ARRAY_LEN(requests)) /* not registered, so not reached */
        resp = respond(req, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED, "request code not supported");
    else if (!check_fields(req, requests[i].fields, remark, sizeof remark))
        resp = bad_request(conn, req, remark);
    else
        resp = requests[i].fn(ns, conn, req);
    if (i < RMQ_ARRAY_LEN(requests)) {
        ns->req_count[i]++;
        if (resp && resp->code != RMQ_OK) ns->req_errors[i]++;
    }
    rmq_rem_cmd_destroy(req);
    return resp;
}

/* ---------- connections and housekeeping ---------- */

static void on_conn_close(rmq_rem_conn_t *c, void *arg) {
    rmq_ns_t *ns = arg;
    if (ns->stopping) return; /* the tables go with the process; spare the log the cleanup */
    rmq_ns_route_conn_closed(ns->route, c, rmq_rem_conn_peer(c));
}

static void close_expired_conn(void *conn, void *arg) {
    rmq_rem_conn_close(conn);
}

static void on_scan(uv_timer_t *t) {
    rmq_ns_t *ns = t->data;
    rmq_ns_route_scan(ns->route, rmq_mono_ms(), (uint64_t)ns->cfg->broker_expired_ms,
                      close_expired_conn, ns);
}

/* ---------- metrics ---------- */

static void render_metrics(rmq_buf_t *out, void *arg) {
    rmq_ns_t *ns = arg;
    rmq_ns_metrics_src_t src = {.codes = ns->req_codes,
                                .requests = ns->req_count,
                                .errors = ns->req_errors,
                                .n = RMQ_ARRAY_LEN(requests),
                                .connections = rmq_rem_server_conn_count(ns->server)};
    rmq_ns_metrics_render(out, (const char *)ns->metrics_base.data, ns->route, &src);
}

static rmq_err_t start_metrics(rmq_ns_t *ns) {
    const rmq_ns_cfg_t *cfg = ns->cfg;
    if (cfg->metrics_exporter_type == 0) return RMQ_OK;
    if (cfg->metrics_exporter_type != METRICS_PROM) {
        RMQ_LOG_ERROR(MOD, "metricsExporterType=%s is not served by rmq (PROM or DISABLE)",
                      metrics_types[cfg->metrics_exporter_type]);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_prom_label_t l[] = {{"node_type", "namesrv"}};
    rmq_prom_base(&ns->metrics_base, l, 1);
    if (rmq_prom_base_parse(&ns->metrics_base, cfg->metrics_label) != 0) {
        RMQ_LOG_ERROR(MOD, "metricsLabel=%s: expected name:value,name:value", cfg->metrics_label);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_buf_append_u8(&ns->metrics_base, 0); /* a C string; len stays the text */
    ns->metrics_base.len--;
    const char *host = cfg->metrics_prom_host && *cfg->metrics_prom_host ? cfg->metrics_prom_host
                                                                         : cfg->bind_address;
    char err[160];
    rmq_err_t e = rmq_httpd_start(ns->loop, host, cfg->metrics_prom_port, render_metrics, ns,
                                  &ns->httpd, err, sizeof err);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR(MOD, "metrics endpoint: %s", err);
        return e;
    }
    RMQ_LOG_INFO(MOD, "Prometheus metrics on http://%s:%d/metrics", host,
                 rmq_httpd_port(ns->httpd));
    return RMQ_OK;
}

static void free_metrics(rmq_ns_t *ns) {
    free(ns->req_count);
    free(ns->req_errors);
    free(ns->req_codes);
    rmq_buf_fini(&ns->metrics_base);
}

int rmq_ns_metrics_port(const rmq_ns_t *ns) {
    return rmq_httpd_port(ns->httpd);
}

rmq_err_t rmq_ns_new(uv_loop_t *loop, const rmq_ns_cfg_t *cfg, rmq_ns_t **out) {
    *out = NULL;
    rmq_ns_t *ns = calloc(1, sizeof *ns);
    if (!ns) return RMQ_ERR__NOMEM;
    ns->loop = loop;
    ns->cfg = cfg;
    rmq_buf_init(&ns->metrics_base);
    rmq_err_t e = RMQ_ERR__NOMEM;
    size_t nreq = RMQ_ARRAY_LEN(requests);
    ns->req_count = calloc(nreq, sizeof *ns->req_count);
    ns->req_errors = calloc(nreq, sizeof *ns->req_errors);
    ns->req_codes = calloc(nreq, sizeof *ns->req_codes);
    if (!ns->req_count || !ns->req_errors || !ns->req_codes) goto fail;
    for (size_t i = 0; i < nreq; i++) ns->req_codes[i] = requests[i].code;
    if (!(ns->route = rmq_ns_route_new())) goto fail;
    if ((e = rmq_ns_kv_open(cfg->kv_config_path, &ns->kv))) goto fail;
    rmq_rem_server_cfg_t scfg = {
        .host = cfg->bind_address,
        .port = cfg->listen_port,
        .max_frame = (size_t)cfg->frame_max_length,
        .idle_ms = cfg->server_channel_max_idle_s * 1000,
        .name = "namesrv",
        .tls = &cfg->tls,
    };
    if (cfg->acl_enable) {
        char path[4096], why[512];
        rmq_acl_file_path(cfg->rocketmq_home, cfg->acl_file, path, sizeof path);
        if ((e = rmq_acl_watch_start(loop, path, 2000, &ns->acl, why, sizeof why))) {
            RMQ_LOG_ERROR(MOD, "aclEnable=true but the ACL file cannot be used: %s", why);
            goto fail;
        }
    }
    if ((e = rmq_rem_server_new(loop, &scfg, &ns->server))) goto fail;
    for (size_t i = 0; i < RMQ_ARRAY_LEN(requests); i++)
        rmq_rem_server_register(ns->server, requests[i].code, on_request, ns);
    rmq_rem_server_on_close(ns->server, on_conn_close, ns);
    *out = ns;
    return RMQ_OK;
fail:
    rmq_acl_watch_stop(ns->acl);
    rmq_ns_kv_close(ns->kv);
    rmq_ns_route_destroy(ns->route);
    free_metrics(ns);
    free(ns);
    return e;
}

rmq_err_t rmq_ns_start(rmq_ns_t *ns) {
    rmq_err_t e = rmq_rem_server_start(ns->server);
    if (e) return e;
    if ((e = start_metrics(ns)) != RMQ_OK) return e;
    ns->started = true;
    uv_timer_init(ns->loop, &ns->scan_timer);
    ns->scan_timer.data = ns;
    ns->timer_inited = true;
    uint64_t iv = (uint64_t)ns->cfg->scan_interval_ms;
    uv_timer_start(&ns->scan_timer, on_scan, iv, iv);
    RMQ_LOG_INFO(MOD, "The Name Server boot success. serializeType=JSON, listening on %s:%d",
                 ns->cfg->bind_address, rmq_rem_server_port(ns->server));
    return RMQ_OK;
}

int rmq_ns_port(const rmq_ns_t *ns) {
    return rmq_rem_server_port(ns->server);
}

rmq_ns_route_t *rmq_ns_get_route(rmq_ns_t *ns) {
    return ns->route;
}

static void finish(rmq_ns_t *ns) {
    if (--ns->pending_closes > 0) return;
    void (*done)(void *) = ns->done;
    void *arg = ns->done_arg;
    rmq_ns_kv_close(ns->kv);
    rmq_ns_route_destroy(ns->route);
    free_metrics(ns);
    free(ns);
    if (done) done(arg);
}

static void on_timer_closed(uv_handle_t *h) {
    finish(h->data);
}
static void on_server_closed(void *arg) {
    finish(arg);
}

void rmq_ns_shutdown(rmq_ns_t *ns, void (*done)(void *arg), void *arg) {
    ns->done = done;
    ns->done_arg = arg;
    ns->stopping = true;
    rmq_httpd_stop(ns->httpd); /* the route tables go with ns */
    ns->httpd = NULL;
    rmq_acl_watch_stop(ns->acl);
    ns->acl = NULL;
    /* A NameServer that never started (port taken) may share the default kvConfigPath with
     * the one that holds the port: leave the file alone. */
    if (ns->started && rmq_ns_kv_persist(ns->kv) == RMQ_OK)
        RMQ_LOG_INFO(MOD, "KV config persisted to %s", ns->cfg->kv_config_path);
    ns->pending_closes = 1 + (ns->timer_inited ? 1 : 0);
    if (ns->timer_inited) {
        uv_timer_stop(&ns->scan_timer);
        uv_close((uv_handle_t *)&ns->scan_timer, on_timer_closed);
    }
    rmq_rem_server_close(ns->server, on_server_closed, ns);
}
