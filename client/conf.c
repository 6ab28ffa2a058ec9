/* rmq_conf_t: string properties with RocketMQ's key names, validated per key from one table.
 * Unknown keys are refused with RMQ_CONF_UNKNOWN (the SDK has no use for a key it does not
 * know, unlike the servers' conf files, which skip them). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/internal.h"
#include "common/log.h"
#include "common/util.h"

typedef enum { K_STR, K_INT, K_BOOL, K_ENUM, K_ADDRS, K_GROUP, K_TS, K_LOGLVL } ktype_t;

typedef struct {
    const char *key;
    ktype_t type;
    const char *dflt;
    int64_t min, max;
    const char *const *choices; /* K_ENUM, NULL-terminated */
} kdef_t;

static const char *const models[] = {"CLUSTERING", "BROADCASTING", NULL};
static const char *const sertypes[] = {"JSON", "ROCKETMQ", NULL};
static const char *const wheres[] = {"CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_FIRST_OFFSET",
                                     "CONSUME_FROM_TIMESTAMP", NULL};

static const kdef_t keys[] = {
    {"namesrvAddr", K_ADDRS, NULL, 0, 0, NULL},
    {"groupName", K_GROUP, NULL, 0, 0, NULL},
    {"producerGroup", K_GROUP, NULL, 0, 0, NULL},
    {"consumerGroup", K_GROUP, NULL, 0, 0, NULL},
    {"instanceName", K_STR, "DEFAULT", 0, 0, NULL},
    {"sendMsgTimeout", K_INT, "3000", 1, 3600000, NULL},
    {"retryTimesWhenSendFailed", K_INT, "2", 0, 64, NULL},
    {"retryTimesWhenSendAsyncFailed", K_INT, "2", 0, 64, NULL},
    {"compressMsgBodyOverHowmuch", K_INT, "4096", 0, INT32_MAX, NULL},
    {"compressLevel", K_INT, "5", 0, 9, NULL},
    {"maxMessageSize", K_INT, "4194304", 1, 1073741824, NULL},
    {"sendLatencyFaultEnable", K_BOOL, "false", 0, 0, NULL},
    {"defaultTopicQueueNums", K_INT, "4", 1, 1024, NULL},
    {"createTopicKey", K_STR, RMQ_DEFAULT_TOPIC, 0, 0, NULL},
    {"messageModel", K_ENUM, "CLUSTERING", 0, 0, models},
    {"consumeFromWhere", K_ENUM, "CONSUME_FROM_LAST_OFFSET", 0, 0, wheres},
    {"consumeTimestamp", K_TS, NULL, 0, 0, NULL},
    {"consumeThreadMin", K_INT, "20", 1, 1000, NULL},
    {"consumeThreadMax", K_INT, "20", 1, 1000, NULL},
    {"pullBatchSize", K_INT, "32", 1, 1024, NULL},
    {"consumeMessageBatchMaxSize", K_INT, "1", 1, 1024, NULL},
    {"pullThresholdForQueue", K_INT, "1000", 1, 65535, NULL},
    {"pullThresholdSizeForQueue", K_INT, "100", 1, 1024, NULL}, /* MiB, as Java */
    {"maxReconsumeTimes", K_INT, "16", -1, 10000, NULL},
    {"suspendCurrentQueueTimeMillis", K_INT, "1000", 10, 30000, NULL},
    {"pullTimeDelayMillsWhenException", K_INT, "1000", 0, 60000, NULL},
    {"persistConsumerOffsetInterval", K_INT, "5000", 100, 3600000, NULL},
    {"pollNameServerInterval", K_INT, "30000", 100, 3600000, NULL},
    {"heartbeatBrokerInterval", K_INT, "30000", 100, 3600000, NULL},
    {"rebalanceInterval", K_INT, "20000", 100, 3600000, NULL},
    {"mqClientApiTimeout", K_INT, "3000", 1, 3600000, NULL},
    {"offsetStoreDir", K_STR, NULL, 0, 0, NULL},
    {"logLevel", K_LOGLVL, "WARN", 0, 0, NULL},
    /* header encoding of sends and pulls (Java: rocketmq.serialize.type); ROCKETMQ's binary
     * header is about twice as cheap to encode and decode; every RocketMQ broker reads both */
    {"serializeType", K_ENUM, "JSON", 0, 0, sertypes},
    /* TLS (remoting/tls.h): useTLS as RocketMQ's ClientConfig, the rest TlsSystemConfig's */
    {"useTLS", K_BOOL, "false", 0, 0, NULL},
    {"tls.client.authServer", K_BOOL, "false", 0, 0, NULL},
    {"tls.client.certPath", K_STR, NULL, 0, 0, NULL},
    {"tls.client.keyPath", K_STR, NULL, 0, 0, NULL},
    {"tls.client.keyPassword", K_STR, NULL, 0, 0, NULL},
    {"tls.client.trustCertPath", K_STR, NULL, 0, 0, NULL},
    {"tls.test.mode.enable", K_BOOL, "false", 0, 0, NULL},
    {"tls.handshake.timeout", K_INT, "10000", 100, 600000, NULL},
    {"tls.config.file", K_STR, NULL, 0, 0, NULL},
    /* ACL 1.0 credentials (AclClientRPCHook): every request signed when both are set */
    {"accessKey", K_STR, NULL, 0, 0, NULL},
    {"secretKey", K_STR, NULL, 0, 0, NULL},
    {"securityToken", K_STR, NULL, 0, 0, NULL},
};

static const kdef_t *find_key(const char *k) {
    for (size_t i = 0; i < RMQ_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].key, k) == 0) return &keys[i];
    return NULL;
}

rmq_conf_t *rmq_conf_new(void) {
    return calloc(1, sizeof(rmq_conf_t));
}

rmq_conf_t *rmq_conf_dup(const rmq_conf_t *c) {
    rmq_conf_t *d = rmq_conf_new();
    if (!d) return NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (rmq_conf_set(d, c->kv[i].key, c->kv[i].val, NULL, 0) != RMQ_CONF_OK) {
            rmq_conf_destroy(d);
            return NULL;
        }
    }
    d->log_cb = c->log_cb;
    d->log_op = c->log_op;
    d->txn_check = c->txn_check;
    d->txn_check_op = c->txn_check_op;
    return d;
}

static rmq_conf_res_t bad(char *err, size_t n, const char *fmt, const char *k, const char *v) {
    if (err && n) snprintf(err, n, fmt, k, v);
    return RMQ_CONF_INVALID;
}

int64_t rmq_conf_parse_ts(const char *s) {
    size_t l = strlen(s);
    int64_t v;
    if (l == 14) {
        struct tm tm = {0};
        for (size_t i = 0; i < 14; i++)
            if (!isdigit((unsigned char)s[i])) return -1;
        if (sscanf(s, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec) != 6)
            return -1;
        if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
            tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
            return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        return t < 0 ? -1 : (int64_t)t * 1000;
    }
    if (rmq_parse_i64(s, &v) != 0 || v < 0) return -1;
    return v;
}

static bool valid_addrs(const char *v) {
    /* "host:port;host:port" with non-empty host and a 1..65535 port each */
    if (!*v) return false;
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == 0) {
            if (!end) break;
            p = end + 1; /* tolerate "a;;b" and a trailing ';' */
            continue;
        }
        char item[256];
        if (l >= sizeof(item)) return false;
        memcpy(item, p, l);
        item[l] = 0;
        char *colon = strrchr(item, ':');
        if (!colon || colon == item) return false;
        int64_t port;
        if (rmq_parse_i64(colon + 1, &port) != 0 || port < 1 || port > 65535) return false;
        if (!end) break;
        p = end + 1;
    }
    return true;
}

static bool valid_group(const char *v) {
    size_t l = strlen(v);
    if (l == 0 || l > 255) return false;
    for (size_t i = 0; i < l; i++) {
        char c = v[i];
        if (!(isalnum((unsigned char)c) || c == '%' || c == '|' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

rmq_conf_res_t rmq_conf_set(rmq_conf_t *c, const char *k, const char *v, char *err, size_t n) {
    if (err && n) err[0] = 0;
    if (!c || !k) return bad(err, n, "%s%s: no conf or key", "", "");
    const kdef_t *d = find_key(k);
    if (!d) {
        if (err && n) snprintf(err, n, "unknown configuration key \"%s\"", k);
        return RMQ_CONF_UNKNOWN;
    }
    if (!v) return bad(err, n, "%s: value is NULL%s", k, "");
    int64_t x;
    switch (d->type) {
    case K_INT:
        if (rmq_parse_i64(v, &x) != 0) return bad(err, n, "%s: \"%s\" is not an integer", k, v);
        if (x < d->min || x > d->max) {
            if (err && n)
                snprintf(err, n, "%s: %s out of range [%lld, %lld]", k, v, (long long)d->min,
                         (long long)d->max);
            return RMQ_CONF_INVALID;
        }
        break;
    case K_BOOL:
        if (strcasecmp(v, "true") && strcasecmp(v, "false"))
            return bad(err, n, "%s: \"%s\" is not true/false", k, v);
        break;
    case K_ENUM: {
        bool ok = false;
        for (const char *const *ch = d->choices; *ch; ch++)
            if (strcmp(*ch, v) == 0) ok = true;
        if (!ok) return bad(err, n, "%s: unknown value \"%s\"", k, v);
        break;
    }
    case K_ADDRS:
        if (!valid_addrs(v)) return bad(err, n, "%s: \"%s\" is not host:port[;host:port]", k, v);
        break;
    case K_GROUP:
        if (!valid_group(v))
            return bad(err, n, "%s: \"%s\" must be 1-255 chars of [A-Za-z0-9%%|_-]", k, v);
        break;
    case K_TS:
        if (rmq_conf_parse_ts(v) < 0)
            return bad(err, n, "%s: \"%s\" is not yyyyMMddHHmmss or ms", k, v);
        break;
    case K_LOGLVL:
        if (rmq_log_level_parse(v) < -1)
            return bad(err, n, "%s: \"%s\" is not ERROR|WARN|INFO|DEBUG|OFF", k, v);
        break;
    case K_STR:
        if (!*v && strcmp(k, "offsetStoreDir") != 0) return bad(err, n, "%s: empty%s", k, "");
        break;
    }
    char *val = strdup(v);
    if (!val) return bad(err, n, "%s: out of memory%s", k, "");
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->kv[i].key, k) == 0) {
            free(c->kv[i].val);
            c->kv[i].val = val;
            return RMQ_CONF_OK;
        }
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        rmq_kv_t *nk = realloc(c->kv, nc * sizeof(*nk));
        if (!nk) {
            free(val);
            return bad(err, n, "%s: out of memory%s", k, "");
        }
        c->kv = nk;
        c->cap = nc;
    }
    c->kv[c->n].key = strdup(k);
    if (!c->kv[c->n].key) {
        free(val);
        return bad(err, n, "%s: out of memory%s", k, "");
    }
    c->kv[c->n++].val = val;
    return RMQ_CONF_OK;
}

const char *rmq_conf_get(const rmq_conf_t *c, const char *k) {
    if (!c || !k) return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->kv[i].key, k) == 0) return c->kv[i].val;
    return NULL;
}

const char *rmq_conf_str(const rmq_conf_t *c, const char *k) {
    const char *v = rmq_conf_get(c, k);
    if (v) return v;
    const kdef_t *d = find_key(k);
    return d ? d->dflt : NULL;
}

int64_t rmq_conf_i64(const rmq_conf_t *c, const char *k) {
    const char *v = rmq_conf_str(c, k);
    int64_t x = 0;
    if (v) rmq_parse_i64(v, &x);
    return x;
}

bool rmq_conf_bool(const rmq_conf_t *c, const char *k) {
    const char *v = rmq_conf_str(c, k);
    return v && strcasecmp(v, "true") == 0;
}

const char *rmq_conf_group(const rmq_conf_t *c, const char *dflt) {
    const char *g = rmq_conf_get(c, "groupName");
    if (!g) g = rmq_conf_get(c, "producerGroup");
    if (!g) g = rmq_conf_get(c, "consumerGroup");
    return g ? g : dflt;
}

const char *rmq_conf_member_group(const rmq_conf_t *c, const char *role, bool need_ns, char *err,
                                  size_t n) {
    if (err && n) err[0] = 0;
    if (!c) {
        snprintf(err, n, "no configuration");
        return NULL;
    }
    const char *g = rmq_conf_group(c, NULL);
    if (!g) {
        snprintf(err, n, "%s (or groupName) is not set", role);
        return NULL;
    }
    if (need_ns && !rmq_conf_str(c, "namesrvAddr") && !getenv("NAMESRV_ADDR")) {
        snprintf(err, n, "namesrvAddr is not set");
        return NULL;
    }
    return g;
}

void rmq_conf_set_log_cb(rmq_conf_t *c, void (*cb)(int lvl, const char *ln, void *op), void *op) {
    c->log_cb = cb;
    c->log_op = op;
}

rmq_logger_t rmq_conf_logger(const rmq_conf_t *c) {
    rmq_logger_t lg = {.level = RMQ_LOG_LVL_OFF}; /* no callback: the SDK stays silent */
    if (!c || !c->log_cb) return lg;
    int lvl = rmq_log_level_parse(rmq_conf_str(c, "logLevel"));
    lg.level = lvl < -1 ? RMQ_LOG_LVL_WARN : (rmq_log_lvl_t)lvl;
    lg.cb = c->log_cb;
    lg.opaque = c->log_op;
    return lg;
}

void rmq_conf_set_txn_check_cb(rmq_conf_t *c, rmq_txn_cb check, void *op) {
    c->txn_check = check;
    c->txn_check_op = op;
}

void rmq_conf_destroy(rmq_conf_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->kv[i].key);
        free(c->kv[i].val);
    }
    free(c->kv);
    free(c);
}
