/* mqadmin: RocketMQ's admin CLI on librmq's admin API. Subcommands, flags and the printed
 * column layouts follow Apache RocketMQ 4.9.8 (operations.md 3) because operators' scripts
 * parse them; every listing also takes --json.
 *
 * Errors: one line on stderr ("mqadmin <cmd>: <what>") and exit status 1. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/admin_internal.h"
#include "common/log.h"
#include "rmq/rmq_codes.h"
#include "rmq/rmq.h"
#include "tools/msgrec.h"
#include "tools/tool_util.h"

#define TOOLS_GROUP "TOOLS_CONSUMER"

typedef struct cmd_s cmd_t;
typedef struct {
    const cmd_t *cmd;
    rmq_tool_args_t args;
    rmq_admin_t *admin;
    bool json;
    const char *ns;
} ctx_t;

struct cmd_s {
    const char *name;
    const char *desc;
    int (*run)(ctx_t *c);
    rmq_tool_opt_t opts[RMQ_TOOL_MAX_OPTS - 3]; /* plus -n, -h, --json */
};

static const char *g_cmd = "mqadmin";

/* One line on stderr; returns the exit status. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++) /* keep it to one line whatever a remark holds */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "mqadmin %s: %s\n", g_cmd, line);
    return 1;
}

/* Error text for e from the last admin call. */
static const char *why(ctx_t *c, rmq_err_t e) {
    const char *s = rmq_admin_last_error(c->admin);
    return s && *s ? s : rmq_strerror(e);
}

/* ---- option access ------------------------------------------------------------------- */

static int nopts_of(const cmd_t *cmd) {
    int n = 0;
    while (n < RMQ_TOOL_MAX_OPTS - 3 && (cmd->opts[n].s || cmd->opts[n].l))
        n++;
    return n;
}

/* Full option table of a command: its own plus the common ones. */
static int full_opts(const cmd_t *cmd, rmq_tool_opt_t *out) {
    int n = nopts_of(cmd);
    memcpy(out, cmd->opts, (size_t)n * sizeof *out);
    out[n++] = (rmq_tool_opt_t){'n', "namesrvAddr", true, false,
                                "Name server address list, eg: 192.168.0.1:9876;192.168.0.2:9876"};
    out[n++] = (rmq_tool_opt_t){'h', "help", false, false, "Print help"};
    out[n++] = (rmq_tool_opt_t){0, "json", false, false, "Print JSON instead of columns"};
    return n;
}

static const char *opt(ctx_t *c, char s, const char *l) {
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = full_opts(c->cmd, all);
    return rmq_tool_get(all, n, &c->args, s, l);
}

static bool opt_true(ctx_t *c, char s, const char *l) {
    const char *v = opt(c, s, l);
    return v && strcasecmp(v, "true") == 0;
}

/* *out is always set (dflt on error too), so no caller reads an unset int. */
static int opt_int(ctx_t *c, char s, int dflt, int *out) {
    const char *v = opt(c, s, NULL);
    *out = dflt;
    if (!v)
        return 0;
    char *e;
    long x = strtol(v, &e, 10);
    if (*e || e == v)
        return fail("option -%c needs a number, got \"%s\"", s, v);
    *out = (int)x;
    return 0;
}

/* ---- JSON helpers -------------------------------------------------------------------- */

static json_t *parse_json(const char *s) {
    json_error_t je;
    return s ? json_loads(s, JSON_DECODE_ANY, &je) : NULL;
}

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
}

static const char *jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static double jreal(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v))
        return strtod(json_string_value(v), NULL);
    return 0;
}

/* A MessageQueue map key (its JSON text, after rmq_json_fix). */
static bool mq_parse(const char *key, rmq_mq_t *mq) {
    json_t *o = parse_json(key);
    bool ok = json_is_object(o);
    if (ok) {
        memset(mq, 0, sizeof *mq);
        snprintf(mq->topic, sizeof mq->topic, "%s", jstr(o, "topic"));
        snprintf(mq->broker, sizeof mq->broker, "%s", jstr(o, "brokerName"));
        mq->queue_id = (int)jint(o, "queueId");
    }
    json_decref(o);
    return ok;
}

static int mq_cmp(const rmq_mq_t *a, const rmq_mq_t *b) {
    int r = strcmp(a->topic, b->topic);
    if (r)
        return r;
    r = strcmp(a->broker, b->broker);
    if (r)
        return r;
    return a->queue_id - b->queue_id;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- calls --------------------------------------------------------------------------- */

/* NameServer call returning parsed JSON (NULL after printing the error). */
static json_t *ns_call(ctx_t *c, int code, const char *const *kv, const char *what) {
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_namesrv(c->admin, code, kv, NULL, &js);
    if (e != RMQ_OK) {
        fail("%s: %s", what, why(c, e));
        return NULL;
    }
    json_t *j = parse_json(js);
    free(js);
    if (!j)
        fail("%s: malformed answer", what);
    return j;
}

static json_t *broker_call(ctx_t *c, const char *addr, int code, const char *const *kv,
                           const char *body, const char *what, rmq_err_t *err) {
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_broker(c->admin, addr, code, kv, body, &js);
    if (err)
        *err = e;
    if (e != RMQ_OK) {
        if (!err)
            fail("%s (broker %s): %s", what, addr, why(c, e));
        return NULL;
    }
    json_t *j = parse_json(js);
    free(js);
    if (!j && !err)
        fail("%s (broker %s): malformed answer", what, addr);
    return j;
}

static json_t *route_of(ctx_t *c, const char *topic) {
    const char *kv[] = {"topic", topic, NULL};
    return ns_call(c, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, "topic route");
}

/* Master address of a BrokerData, or any address. */
static const char *bd_master(json_t *bd) {
    json_t *ad = json_object_get(bd, "brokerAddrs");
    json_t *m = json_object_get(ad, "0");
    if (json_is_string(m))
        return json_string_value(m);
    const char *k;
    json_t *v;
    json_object_foreach(ad, k, v) return json_string_value(v);
    return NULL;
}

static json_t *cluster_info(ctx_t *c) {
    return ns_call(c, RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, "cluster info");
}

/* Masters of every broker of cluster (array of strings; NULL after an error). */
static json_t *cluster_masters(ctx_t *c, const char *cluster) {
    json_t *ci = cluster_info(c);
    if (!ci)
        return NULL;
    json_t *names = json_object_get(json_object_get(ci, "clusterAddrTable"), cluster);
    if (!json_is_array(names)) {
        json_decref(ci);
        fail("cluster %s does not exist", cluster);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *bd = json_object_get(json_object_get(ci, "brokerAddrTable"),
                                     json_string_value(n));
        const char *m = json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"),
                                                          "0"));
        if (m)
            json_array_append_new(out, json_string(m));
    }
    json_decref(ci);
    return out;
}

/* Brokers to act on: -b addr wins over -c cluster (RocketMQ's rule). */
static json_t *target_brokers(ctx_t *c) {
    const char *b = opt(c, 'b', NULL), *cl = opt(c, 'c', NULL);
    if (b) {
        json_t *a = json_array();
        json_array_append_new(a, json_string(b));
        return a;
    }
    if (cl)
        return cluster_masters(c, cl);
    fail("one of -b brokerAddr or -c clusterName is required");
    return NULL;
}

static const char *perm_str(int perm) {
    static char s[4];
    s[0] = (perm & 4) ? 'R' : '-';
    s[1] = (perm & 2) ? 'W' : '-';
    s[2] = (perm & 1) ? 'X' : '-';
    s[3] = 0;
    return s;
}

/* ---- topic commands ------------------------------------------------------------------- */

/* Broker name of a master address, from the cluster table ("" if unknown). */
static void broker_name_of(json_t *ci, const char *addr, char *out, size_t n) {
    out[0] = 0;
    const char *bn;
    json_t *bd;
    json_object_foreach(json_object_get(ci, "brokerAddrTable"), bn, bd) {
        const char *k;
        json_t *a;
        json_object_foreach(json_object_get(bd, "brokerAddrs"), k, a) if (
            strcmp(json_string_value(a), addr) == 0) snprintf(out, n, "%s", bn);
    }
}

/* -o true: the topic's "broker:writeQueues;..." in the NameServer KV namespace
 * ORDER_TOPIC_CONFIG, merged with what is there when only some brokers were given (-b), and
 * written to every NameServer of -n as the Java tool does. */
static int put_order_conf(ctx_t *c, const char *topic, json_t *addrs, int wq) {
    json_t *ci = cluster_info(c);
    if (!ci)
        return 1;
    char conf[2048] = "";
    const char *gkv[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", topic, NULL};
    char *js = NULL;
    if (rmq_admin_call_namesrv(c->admin, RMQ_REQ_GET_KV_CONFIG, gkv, NULL, &js) == RMQ_OK) {
        json_t *o = parse_json(js);
        snprintf(conf, sizeof conf, "%s", jstr(o, "value"));
        json_decref(o);
    }
    free(js);
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a) {
        char bn[128];
        broker_name_of(ci, json_string_value(a), bn, sizeof bn);
        if (!bn[0])
            continue;
        /* drop an old entry of this broker, then append the new one */
        char merged[2048] = "", *save = NULL;
        for (char *t = strtok_r(conf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            size_t bl = strlen(bn);
            if (strncmp(t, bn, bl) == 0 && t[bl] == ':')
                continue;
            snprintf(merged + strlen(merged), sizeof merged - strlen(merged), "%s%s",
                     merged[0] ? ";" : "", t);
        }
        snprintf(merged + strlen(merged), sizeof merged - strlen(merged), "%s%s:%d",
                 merged[0] ? ";" : "", bn, wq);
        snprintf(conf, sizeof conf, "%s", merged);
    }
    json_decref(ci);
    const char *pkv[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", topic, "value", conf, NULL};
    char *list = strdup(c->ns);
    char *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(list, ";", &save); t && rc == 0; t = strtok_r(NULL, ";", &save)) {
        rmq_err_t e;
        json_decref(broker_call(c, t, RMQ_REQ_PUT_KV_CONFIG, pkv, NULL, "", &e));
        if (e != RMQ_OK)
            rc = fail("order config of %s on NameServer %s: %s", topic, t, why(c, e));
    }
    free(list);
    if (rc == 0 && !c->json)
        printf("set cluster orderConf. isOrder=true, orderConf=[%s]\n", conf);
    return rc;
}

static int cmd_update_topic(ctx_t *c) {
    const char *topic = opt(c, 't', NULL);
    int r, w, p;
    if (opt_int(c, 'r', 8, &r) || opt_int(c, 'w', 8, &w) || opt_int(c, 'p', 6, &p))
        return 1;
    bool order = opt_true(c, 'o', NULL);
    json_t *targets = target_brokers(c);
    if (!targets)
        return 1;
    char rs[16], ws[16], ps[16];
    snprintf(rs, sizeof rs, "%d", r);
    snprintf(ws, sizeof ws, "%d", w);
    snprintf(ps, sizeof ps, "%d", p);
    const char *kv[] = {"topic", topic, "defaultTopic", "TBW102", "readQueueNums", rs,
                        "writeQueueNums", ws, "perm", ps, "topicFilterType", "SINGLE_TAG",
                        "topicSysFlag", "0", "order", order ? "true" : "false", NULL};
    json_t *done = json_array();
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        rmq_err_t e;
        json_t *j = broker_call(c, json_string_value(a), RMQ_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                                NULL, "update topic", &e);
        json_decref(j);
        if (e != RMQ_OK) {
            rc = fail("create topic %s on %s failed: %s", topic, json_string_value(a),
                      why(c, e));
            break;
        }
        json_array_append(done, a);
        if (!c->json)
            printf("create topic to %s success.\n", json_string_value(a));
    }
    if (rc == 0 && order)
        rc = put_order_conf(c, topic, done, w);
    if (rc == 0) {
        if (c->json) {
            json_t *o = json_pack("{s:O,s:{s:s,s:i,s:i,s:i,s:s,s:i,s:b}}", "brokers", done,
                                  "topicConfig", "topicName", topic, "readQueueNums", r,
                                  "writeQueueNums", w, "perm", p, "topicFilterType",
                                  "SINGLE_TAG", "topicSysFlag", 0, "order", order);
            print_json(o);
            json_decref(o);
        } else {
            printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, "
                   "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=%s]\n",
                   topic, r, w, perm_str(p), order ? "true" : "false");
        }
    }
    json_decref(done);
    json_decref(targets);
    return rc;
}

static int cmd_delete_topic(ctx_t *c) {
    const char *topic = opt(c, 't', NULL), *cl = opt(c, 'c', NULL);
    json_t *masters = cluster_masters(c, cl);
    if (!masters)
        return 1;
    const char *kv[] = {"topic", topic, NULL};
    size_t i;
    json_t *a;
    json_array_foreach(masters, i, a) {
        rmq_err_t e;
        json_decref(broker_call(c, json_string_value(a), RMQ_REQ_DELETE_TOPIC_IN_BROKER, kv,
                                NULL, "delete topic", &e));
        if (e != RMQ_OK) {
            json_decref(masters);
            return fail("delete topic %s on %s failed: %s", topic, json_string_value(a),
                        why(c, e));
        }
    }
    json_decref(masters);
    printf("delete topic [%s] from cluster [%s] success.\n", topic, cl);
    /* every NameServer of -n, as the Java tool does */
    char *list = strdup(c->ns);
    char *save = NULL;
    for (char *t = strtok_r(list, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        rmq_err_t e;
        json_decref(broker_call(c, t, RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            free(list);
            return fail("delete topic %s from NameServer %s failed: %s", topic, t, why(c, e));
        }
    }
    free(list);
    printf("delete topic [%s] from NameServer success.\n", topic);
    return 0;
}

static json_t *topic_list(ctx_t *c) {
    json_t *tl = ns_call(c, RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL, "topic list");
    if (!tl)
        return NULL;
    json_t *arr = json_object_get(tl, "topicList");
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) if (json_is_string(t)) json_array_append(out, t);
    json_decref(tl);
    return out;
}

static int cmd_topic_list(ctx_t *c) {
    json_t *topics = topic_list(c);
    if (!topics)
        return 1;
    size_t i;
    json_t *t;
    if (!opt(c, 'c', NULL)) {
        if (c->json) {
            json_t *o = json_pack("{s:O}", "topicList", topics);
            print_json(o);
            json_decref(o);
        } else {
            json_array_foreach(topics, i, t) printf("%s\n", json_string_value(t));
        }
        json_decref(topics);
        return 0;
    }
    json_t *rows = json_array();
    if (!c->json)
        printf("%-20s  %-48s  %-48s\n", "#Cluster Name", "#Topic", "#Consumer Group");
    json_array_foreach(topics, i, t) {
        const char *name = json_string_value(t);
        if (strncmp(name, "%RETRY%", 7) == 0 || strncmp(name, "%DLQ%", 5) == 0)
            continue;
        const char *kv[] = {"topic", name, NULL};
        char *js = NULL;
        if (rmq_admin_call_namesrv(c->admin, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, NULL, &js))
            continue; /* topics without a route (cluster / broker names) are skipped */
        json_t *route = parse_json(js);
        free(js);
        json_t *bd = json_array_get(json_object_get(route, "brokerDatas"), 0);
        const char *cluster = jstr(bd, "cluster");
        const char *addr = bd_master(bd);
        json_t *groups = NULL;
        if (addr) {
            rmq_err_t e;
            json_t *gl = broker_call(c, addr, RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO, kv, NULL, "",
                                     &e);
            groups = json_incref(json_object_get(gl, "groupList"));
            json_decref(gl);
        }
        if (json_array_size(groups) == 0) {
            json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "clusterName", cluster,
                                                  "topic", name, "consumerGroup", ""));
        } else {
            size_t k;
            json_t *g;
            json_array_foreach(groups, k, g) json_array_append_new(
                rows, json_pack("{s:s,s:s,s:s}", "clusterName", cluster, "topic", name,
                                "consumerGroup", json_string_value(g)));
        }
        json_decref(groups);
        json_decref(route);
    }
    if (c->json) {
        print_json(rows);
    } else {
        json_t *r;
        json_array_foreach(rows, i, r) printf("%-20s  %-48s  %-48s\n", jstr(r, "clusterName"),
                                               jstr(r, "topic"), jstr(r, "consumerGroup"));
    }
    json_decref(rows);
    json_decref(topics);
    return 0;
}

static int cmd_topic_route(ctx_t *c) {
    json_t *route = route_of(c, opt(c, 't', NULL));
    if (!route)
        return 1;
    if (!opt(c, 'l', NULL) || c->json) {
        print_json(route);
        json_decref(route);
        return 0;
    }
    printf("%-45s %-32s %-50s %-10s %-11s %-5s\n", "#ClusterName", "#BrokerName",
           "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm");
    int tr = 0, tw = 0;
    size_t i;
    json_t *bd;
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *bn = jstr(bd, "brokerName");
        json_t *qd = NULL, *q;
        size_t k;
        json_array_foreach(json_object_get(route, "queueDatas"), k, q) if (
            strcmp(jstr(q, "brokerName"), bn) == 0) qd = q;
        char *addrs = json_dumps(json_object_get(bd, "brokerAddrs"), JSON_COMPACT);
        int r = (int)jint(qd, "readQueueNums"), w = (int)jint(qd, "writeQueueNums");
        tr += r;
        tw += w;
        printf("%-45s %-32s %-50s %-10d %-11d %-5d\n", jstr(bd, "cluster"), bn,
               addrs ? addrs : "", r, w, (int)jint(qd, "perm"));
        free(addrs);
    }
    printf("\n%-45s %-32s %-50s %-10d %-11d %-5s\n", "Total:", "", "", tr, tw, "");
    json_decref(route);
    return 0;
}

typedef struct {
    rmq_mq_t mq;
    int64_t a, b, ts;
} qrow_t;

static int qrow_cmp(const void *x, const void *y) {
    return mq_cmp(&((const qrow_t *)x)->mq, &((const qrow_t *)y)->mq);
}

static int cmd_topic_status(ctx_t *c) {
    const char *topic = opt(c, 't', NULL);
    json_t *route = route_of(c, topic);
    if (!route)
        return 1;
    qrow_t *rows = NULL;
    size_t n = 0, cap = 0, i;
    json_t *bd;
    int rc = 0;
    const char *kv[] = {"topic", topic, NULL};
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *addr = bd_master(bd);
        if (!addr)
            continue;
        json_t *st = broker_call(c, addr, RMQ_REQ_GET_TOPIC_STATS_INFO, kv, NULL,
                                 "topic stats", NULL);
        if (!st) {
            rc = 1;
            break;
        }
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(st, "offsetTable"), key, v) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                rows = realloc(rows, cap * sizeof *rows);
            }
            if (!mq_parse(key, &rows[n].mq))
                continue;
            rows[n].a = jint(v, "minOffset");
            rows[n].b = jint(v, "maxOffset");
            rows[n].ts = jint(v, "lastUpdateTimestamp");
            n++;
        }
        json_decref(st);
    }
    json_decref(route);
    if (rc) {
        free(rows);
        return rc;
    }
    qsort(rows, n, sizeof *rows, qrow_cmp);
    if (c->json) {
        json_t *arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "topic", rows[i].mq.topic,
                               "brokerName", rows[i].mq.broker, "queueId", rows[i].mq.queue_id,
                               "minOffset", (json_int_t)rows[i].a, "maxOffset",
                               (json_int_t)rows[i].b, "lastUpdateTimestamp",
                               (json_int_t)rows[i].ts));
        print_json(arr);
        json_decref(arr);
    } else {
        printf("%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset",
               "#Max Offset", "#Last Updated");
        for (i = 0; i < n; i++) {
            char ts[40] = "";
            if (rows[i].ts > 0)
                rmq_tool_fmt_time(rows[i].ts, ts, sizeof ts);
            printf("%-32s  %-4d  %-20lld  %-20lld    %s\n", rows[i].mq.broker,
                   rows[i].mq.queue_id, (long long)rows[i].a, (long long)rows[i].b, ts);
        }
    }
    free(rows);
    return 0;
}

/* ---- cluster / broker -------------------------------------------------------------------- */

static json_t *runtime_info(ctx_t *c, const char *addr, rmq_err_t *e) {
    json_t *kv = broker_call(c, addr, RMQ_REQ_GET_BROKER_RUNTIME_INFO, NULL, NULL,
                             "broker runtime info", e);
    json_t *t = json_incref(json_object_get(kv, "table"));
    json_decref(kv);
    return t;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double first_num(const char *s) { return s && *s ? strtod(s, NULL) : 0; }

static int cluster_once(ctx_t *c, bool more) {
    json_t *ci = cluster_info(c);
    if (!ci)
        return 1;
    json_t *cat = json_object_get(ci, "clusterAddrTable");
    json_t *bat = json_object_get(ci, "brokerAddrTable");
    /* sorted cluster names, as Java's TreeSet */
    size_t ncl = json_object_size(cat), k = 0;
    const char **cls = calloc(ncl + 1, sizeof *cls);
    const char *key;
    json_t *v;
    json_object_foreach(cat, key, v) cls[k++] = key;
    qsort(cls, ncl, sizeof *cls, str_cmp);
    json_t *rows = json_array();
    if (!c->json) {
        if (more)
            printf("%-16s  %-32s %14s %14s %14s %14s\n", "#Cluster Name", "#Broker Name",
                   "#InTotalYest", "#OutTotalYest", "#InTotalToday", "#OutTotalToday");
        else
            printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", "#Cluster Name",
                   "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)",
                   "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE");
    }
    for (size_t ic = 0; ic < ncl; ic++) {
        json_t *names = json_object_get(cat, cls[ic]);
        size_t nb = json_array_size(names);
        const char **bns = calloc(nb + 1, sizeof *bns);
        for (size_t i = 0; i < nb; i++)
            bns[i] = json_string_value(json_array_get(names, i));
        qsort(bns, nb, sizeof *bns, str_cmp);
        for (size_t ib = 0; ib < nb; ib++) {
            if (!bns[ib])
                continue;
            json_t *ads = json_object_get(json_object_get(bat, bns[ib]), "brokerAddrs");
            /* ids in numeric order */
            long ids[64];
            size_t nid = 0;
            json_object_foreach(ads, key, v) if (nid < 64) ids[nid++] = strtol(key, NULL, 10);
            for (size_t x = 1; x < nid; x++)
                for (size_t y = x; y > 0 && ids[y - 1] > ids[y]; y--) {
                    long t = ids[y];
                    ids[y] = ids[y - 1];
                    ids[y - 1] = t;
                }
            for (size_t x = 0; x < nid; x++) {
                char idk[24];
                snprintf(idk, sizeof idk, "%ld", ids[x]);
                const char *addr = json_string_value(json_object_get(ads, idk));
                if (!addr)
                    continue;
                rmq_err_t e;
                json_t *t = runtime_info(c, addr, &e);
                if (!t)
                    t = json_object(); /* unreachable broker: empty cells, like Java */
                double in = first_num(jstr(t, "putTps")),
                       out = first_num(jstr(t, "getTransferedTps"));
                int64_t earliest = jint(t, "earliestMessageTimeStamp");
                /* as Java: any present value counts, even 0 */
                double hour = *jstr(t, "earliestMessageTimeStamp")
                                  ? (double)(wall_ms() - earliest) / 1000.0 / 3600.0
                                  : 0;
                double space = jreal(t, "commitLogDiskRatio");
                int64_t iy = jint(t, "msgPutTotalTodayMorning") -
                             jint(t, "msgPutTotalYesterdayMorning");
                int64_t oy = jint(t, "msgGetTotalTodayMorning") -
                             jint(t, "msgGetTotalYesterdayMorning");
                int64_t it = jint(t, "msgPutTotalTodayNow") - jint(t, "msgPutTotalTodayMorning");
                int64_t ot = jint(t, "msgGetTotalTodayNow") - jint(t, "msgGetTotalTodayMorning");
                json_t *row = json_pack(
                    "{s:s,s:s,s:i,s:s,s:s,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:I}",
                    "clusterName", cls[ic], "brokerName", bns[ib], "brokerId", (int)ids[x],
                    "addr", addr, "version", jstr(t, "brokerVersionDesc"), "inTps", in,
                    "outTps", out, "sendThreadPoolQueueSize",
                    jstr(t, "sendThreadPoolQueueSize"), "sendThreadPoolQueueHeadWaitTimeMills",
                    jstr(t, "sendThreadPoolQueueHeadWaitTimeMills"), "pullThreadPoolQueueSize",
                    jstr(t, "pullThreadPoolQueueSize"), "pullThreadPoolQueueHeadWaitTimeMills",
                    jstr(t, "pullThreadPoolQueueHeadWaitTimeMills"), "pageCacheLockTimeMills",
                    jstr(t, "pageCacheLockTimeMills"), "hour", hour, "commitLogDiskRatio",
                    space, "inTotalYest", (json_int_t)iy, "outTotalYest", (json_int_t)oy,
                    "inTotalToday", (json_int_t)it, "outTotalToday", (json_int_t)ot);
                json_array_append_new(rows, row);
                if (!c->json) {
                    if (more) {
                        printf("%-16s  %-32s %14lld %14lld %14lld %14lld\n", cls[ic],
                                   bns[ib], (long long)iy, (long long)oy, (long long)it,
                                   (long long)ot);
                    } else {
                        char ins[64], outs[64], hs[32], sp[32], bid[24];
                        snprintf(ins, sizeof ins, "%9.2f(%s,%sms)", in,
                                 jstr(t, "sendThreadPoolQueueSize"),
                                 jstr(t, "sendThreadPoolQueueHeadWaitTimeMills"));
                        snprintf(outs, sizeof outs, "%9.2f(%s,%sms)", out,
                                 jstr(t, "pullThreadPoolQueueSize"),
                                 jstr(t, "pullThreadPoolQueueHeadWaitTimeMills"));
                        snprintf(hs, sizeof hs, "%2.2f", hour);
                        snprintf(sp, sizeof sp, "%.4f", space);
                        snprintf(bid, sizeof bid, "%ld", ids[x]);
                        printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n",
                               cls[ic], bns[ib], bid, addr, jstr(t, "brokerVersionDesc"), ins,
                               outs, jstr(t, "pageCacheLockTimeMills"), hs, sp);
                    }
                }
                json_decref(t);
            }
        }
        free(bns);
    }
    if (c->json)
        print_json(rows);
    json_decref(rows);
    free(cls);
    json_decref(ci);
    return 0;
}

static int cmd_cluster_list(ctx_t *c) {
    int interval;
    if (opt_int(c, 'i', 0, &interval))
        return 1;
    bool more = opt(c, 'm', NULL) != NULL;
    for (;;) {
        int rc = cluster_once(c, more);
        if (rc || interval <= 0)
            return rc;
        fflush(stdout);
        sleep((unsigned)interval);
    }
}

static int print_kv_table(ctx_t *c, const char *addr, bool prefix, json_t *jout) {
    rmq_err_t e;
    json_t *t = runtime_info(c, addr, &e);
    if (!t)
        return fail("broker %s: %s", addr, why(c, e));
    size_t n = json_object_size(t), k = 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    const char *key;
    json_t *v;
    json_object_foreach(t, key, v) keys[k++] = key;
    qsort(keys, n, sizeof *keys, str_cmp);
    if (jout)
        json_object_set(jout, addr, t);
    else
        for (size_t i = 0; i < n; i++) {
            if (prefix)
                printf("%-24s %-32s: %s\n", addr, keys[i], jstr(t, keys[i]));
            else
                printf("%-32s: %s\n", keys[i], jstr(t, keys[i]));
        }
    free(keys);
    json_decref(t);
    return 0;
}

static int cmd_broker_status(ctx_t *c) {
    const char *b = opt(c, 'b', NULL);
    json_t *targets = target_brokers(c);
    if (!targets)
        return 1;
    json_t *jout = c->json ? json_object() : NULL;
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        if ((rc = print_kv_table(c, json_string_value(a), b == NULL, jout)))
            break;
    }
    if (jout && rc == 0)
        print_json(b ? json_object_get(jout, b) : jout);
    json_decref(jout);
    json_decref(targets);
    return rc;
}

/* ---- messages ------------------------------------------------------------------------ */

/* Queue the body to a file as the Java tool does (/tmp/rocketmq/msgbodys/<id>). */
static const char *body_path(const rmq_tool_msg_t *m, const char *id, char *out, size_t n) {
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rocketmq", tmp && *tmp ? tmp : "/tmp");
    mkdir(dir, 0755);
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/msgbodys");
    mkdir(dir, 0755);
    snprintf(out, n, "%s/%s", dir, id);
    FILE *f = fopen(out, "wb");
    if (!f)
        return "";
    fwrite(m->body, 1, m->body_len, f);
    fclose(f);
    return out;
}

static void track_consumers(ctx_t *c, const rmq_tool_msg_t *m, json_t *jout) {
    char **addrs = NULL, **names = NULL;
    json_t *tracks = json_array();
    if (rmq_admin_topic_brokers(c->admin, m->topic, &addrs, &names) == RMQ_OK && addrs[0]) {
        const char *kv[] = {"topic", m->topic, NULL};
        rmq_err_t e;
        json_t *gl = broker_call(c, addrs[0], RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO, kv, NULL, "",
                                 &e);
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(gl, "groupList"), i, g) {
            const char *group = json_string_value(g);
            const char *type = "UNKNOWN";
            char desc[256] = "";
            const char *ckv[] = {"consumerGroup", group, NULL};
            json_t *cc = NULL;
            for (char **p = addrs; *p && !cc; p++)
                cc = broker_call(c, *p, RMQ_REQ_GET_CONSUMER_CONNECTION_LIST, ckv, NULL, "",
                                 &e);
            if (!cc) {
                type = "NOT_ONLINE";
                snprintf(desc, sizeof desc, "CODE:%d DESC:the consumer group[%s] not online",
                         (int)e, group);
            } else {
                const char *skv[] = {"consumerGroup", group, "topic", m->topic, NULL};
                type = "NOT_CONSUME_YET";
                for (char **p = addrs; *p; p++) {
                    json_t *cs = broker_call(c, *p, RMQ_REQ_GET_CONSUME_STATS, skv, NULL, "",
                                             &e);
                    const char *key;
                    json_t *v;
                    json_object_foreach(json_object_get(cs, "offsetTable"), key, v) {
                        rmq_mq_t mq;
                        if (mq_parse(key, &mq) && mq.queue_id == m->queue_id &&
                            strcmp(mq.topic, m->topic) == 0 &&
                            jint(v, "consumerOffset") > m->queue_offset)
                            type = "CONSUMED";
                    }
                    json_decref(cs);
                }
            }
            json_decref(cc);
            json_array_append_new(tracks, json_pack("{s:s,s:s,s:s}", "consumerGroup", group,
                                                    "trackType", type, "exceptionDesc", desc));
        }
        json_decref(gl);
    }
    for (char **p = addrs; p && *p; p++)
        free(*p);
    free(addrs);
    for (char **p = names; p && *p; p++)
        free(*p);
    free(names);
    if (jout) {
        json_object_set_new(jout, "tracks", tracks);
        return;
    }
    if (json_array_size(tracks) == 0) {
        printf("\n\nWARN: No Consumer\n");
    } else {
        printf("\n\n");
        size_t i;
        json_t *t;
        json_array_foreach(tracks, i, t) printf(
            "MessageTrack [consumerGroup=%s, trackType=%s, exceptionDesc=%s]\n",
            jstr(t, "consumerGroup"), jstr(t, "trackType"), jstr(t, "exceptionDesc"));
    }
    json_decref(tracks);
}

static json_t *msg_json(const rmq_tool_msg_t *m) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:i,s:I,s:I,s:s,s:s,s:i,s:s,s:s%}",
                     "offsetMsgId", m->offset_id, "msgId", m->uniq, "topic", m->topic, "tags",
                     m->tags, "keys", m->keys, "queueId", m->queue_id, "queueOffset",
                     (json_int_t)m->queue_offset, "commitLogOffset", (json_int_t)m->phys_offset,
                     "reconsumeTimes", m->reconsume_times, "bornTimestamp",
                     (json_int_t)m->born_ts, "storeTimestamp", (json_int_t)m->store_ts,
                     "bornHost", m->born_host, "storeHost", m->store_host, "sysFlag",
                     m->sysflag, "properties", m->props, "body", (const char *)m->body,
                     m->body_len);
}

/* queryMsgById's label/value block (QueryMsgByIdSubCommand#printMsg). */
static void print_msg(ctx_t *c, const rmq_tool_msg_t *m) {
    char path[600], bt[40], st[40];
    body_path(m, m->offset_id, path, sizeof path);
    if (c->json) {
        json_t *o = msg_json(m);
        json_object_set_new(o, "bodyPath", json_string(path));
        track_consumers(c, m, o);
        print_json(o);
        json_decref(o);
        return;
    }
    rmq_tool_fmt_time(m->born_ts, bt, sizeof bt);
    rmq_tool_fmt_time(m->store_ts, st, sizeof st);
    printf("%-20s %s\n", "OffsetID:", m->offset_id);
    printf("%-20s %s\n", "Topic:", m->topic);
    printf("%-20s [%s]\n", "Tags:", *m->tags ? m->tags : "null");
    printf("%-20s [%s]\n", "Keys:", *m->keys ? m->keys : "null");
    printf("%-20s %d\n", "Queue ID:", m->queue_id);
    printf("%-20s %lld\n", "Queue Offset:", (long long)m->queue_offset);
    printf("%-20s %lld\n", "CommitLog Offset:", (long long)m->phys_offset);
    printf("%-20s %d\n", "Reconsume Times:", m->reconsume_times);
    printf("%-20s %s\n", "Born Timestamp:", bt);
    printf("%-20s %s\n", "Store Timestamp:", st);
    printf("%-20s %s\n", "Born Host:", m->born_host);
    printf("%-20s %s\n", "Store Host:", m->store_host);
    printf("%-20s %d\n", "System Flag:", m->sysflag);
    printf("%-20s %s\n", "Properties:", m->props);
    printf("%-20s %s\n", "Message Body Path:", path);
    track_consumers(c, m, NULL);
}

/* Raw message request decoded into records; prints nothing. */
static rmq_err_t fetch_msgs(ctx_t *c, const char *addr, int code, const char *const *kv,
                            rmq_tool_msg_t **v, size_t *n) {
    *v = NULL;
    *n = 0;
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK)
        return e;
    e = (rmq_err_t)r->code;
    if (e == RMQ_OK && (!r->body || rmq_tool_msgs_decode(r->body, r->body_len, v, n) != 0))
        e = RMQ_ERR__BAD_FRAME;
    rmq_admin_resp_destroy(r);
    return e;
}

static int offset_id_addr(const char *id, char *addr, size_t n, char *off, size_t offn) {
    size_t len = strlen(id);
    if (len != 32 && len != 56)
        return -1;
    uint8_t raw[28];
    for (size_t i = 0; i < len / 2; i++) {
        unsigned x;
        if (sscanf(id + 2 * i, "%2x", &x) != 1)
            return -1;
        raw[i] = (uint8_t)x;
    }
    size_t ipl = len / 2 - 12;
    uint32_t port = (uint32_t)raw[ipl] << 24 | (uint32_t)raw[ipl + 1] << 16 |
                    (uint32_t)raw[ipl + 2] << 8 | raw[ipl + 3];
    uint64_t po = 0;
    for (int i = 0; i < 8; i++)
        po = po << 8 | raw[ipl + 4 + i];
    if (ipl != 4)
        return -1; /* IPv6 store hosts: not printed by this tool */
    snprintf(addr, n, "%u.%u.%u.%u:%u", raw[0], raw[1], raw[2], raw[3], port);
    snprintf(off, offn, "%llu", (unsigned long long)po);
    return 0;
}

static int cmd_query_msg_by_id(ctx_t *c) {
    const char *id = opt(c, 'i', NULL), *topic = opt(c, 't', NULL);
    char addr[64], off[32];
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = RMQ_ERR_QUERY_NOT_FOUND;
    if (offset_id_addr(id, addr, sizeof addr, off, sizeof off) == 0) {
        const char *kv[] = {"offset", off, NULL};
        e = fetch_msgs(c, addr, RMQ_REQ_VIEW_MESSAGE_BY_ID, kv, &v, &n);
    }
    if ((e != RMQ_OK || n == 0) && topic) { /* a unique key given where an offset id was wanted */
        char **addrs = NULL;
        if (rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL) == RMQ_OK) {
            const char *kv[] = {"topic", topic, "key", id, "maxNum", "32", "beginTimestamp", "0",
                                "endTimestamp", "9223372036854775807", "_UNIQUE_KEY_QUERY",
                                "true", NULL};
            for (char **p = addrs; *p && n == 0; p++) {
                rmq_tool_msgs_free(v, n);
                e = fetch_msgs(c, *p, RMQ_REQ_QUERY_MESSAGE, kv, &v, &n);
            }
            for (char **p = addrs; *p; p++)
                free(*p);
            free(addrs);
        }
    }
    if (e != RMQ_OK || n == 0) {
        rmq_tool_msgs_free(v, n);
        return fail("no message with id %s: %s", id,
                    e == RMQ_OK ? "not found" : rmq_strerror(e));
    }
    print_msg(c, &v[0]);
    rmq_tool_msgs_free(v, n);
    return 0;
}

static int cmd_query_msg_by_unique_key(ctx_t *c) {
    const char *id = opt(c, 'i', NULL), *topic = opt(c, 't', NULL);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL);
    if (e != RMQ_OK)
        return fail("topic %s: %s", topic, why(c, e));
    const char *kv[] = {"topic", topic, "key", id, "maxNum", "32", "beginTimestamp", "0",
                        "endTimestamp", "9223372036854775807", "_UNIQUE_KEY_QUERY", "true",
                        NULL};
    rmq_tool_msg_t *found = NULL;
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    for (char **p = addrs; *p && !found; p++) {
        e = fetch_msgs(c, *p, RMQ_REQ_QUERY_MESSAGE, kv, &v, &n);
        for (size_t i = 0; e == RMQ_OK && i < n && !found; i++)
            if (strcmp(v[i].uniq, id) == 0 && strcmp(v[i].topic, topic) == 0)
                found = &v[i];
        if (!found) {
            rmq_tool_msgs_free(v, n);
            v = NULL;
            n = 0;
        }
    }
    for (char **p = addrs; *p; p++)
        free(*p);
    free(addrs);
    if (!found)
        return fail("no message with unique key %s in topic %s", id, topic);
    print_msg(c, found);
    rmq_tool_msgs_free(v, n);
    return 0;
}

static int cmd_query_msg_by_key(ctx_t *c) {
    const char *topic = opt(c, 't', NULL), *key = opt(c, 'k', NULL);
    const char *bs = opt(c, 'b', NULL), *es = opt(c, 'e', NULL);
    int64_t begin = 0, end = INT64_MAX;
    if (bs && (begin = rmq_tool_parse_time(bs, time(NULL) * 1000LL)) < 0)
        return fail("bad begin timestamp %s", bs);
    if (es && (end = rmq_tool_parse_time(es, time(NULL) * 1000LL)) < 0)
        return fail("bad end timestamp %s", es);
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_query_by_key(c->admin, topic, key, 64, begin, end, &msgs, &n);
    if (e != RMQ_OK && e != RMQ_ERR_QUERY_NOT_FOUND)
        return fail("%s", why(c, e));
    json_t *arr = c->json ? json_array() : NULL;
    if (!c->json)
        printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
    for (size_t i = 0; i < n && i < 64; i++) {
        const char *id = rmq_msg_id(msgs[i]);
        if (arr)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "msgId", id ? id : "",
                                                 "queueId", rmq_msg_queue_id(msgs[i]),
                                                 "queueOffset",
                                                 (json_int_t)rmq_msg_queue_offset(msgs[i])));
        else
            printf("%-50s %4d %40lld\n", id ? id : "", rmq_msg_queue_id(msgs[i]),
                   (long long)rmq_msg_queue_offset(msgs[i]));
    }
    if (arr) {
        print_json(arr);
        json_decref(arr);
    }
    if (msgs)
        rmq_msgs_destroy(msgs, n);
    return 0;
}

/* Address of broker name bn in topic's route (master first). */
static int broker_addr_of(ctx_t *c, const char *topic, const char *bn, char *out, size_t n) {
    char **addrs = NULL, **names = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, &names);
    if (e != RMQ_OK)
        return fail("topic %s: %s", topic, why(c, e));
    int rc = -1;
    for (size_t i = 0; addrs[i]; i++) {
        if (rc && strcmp(names[i], bn) == 0) {
            snprintf(out, n, "%s", addrs[i]);
            rc = 0;
        }
        free(addrs[i]);
        free(names[i]);
    }
    free(addrs);
    free(names);
    return rc ? fail("broker %s is not in the route of topic %s", bn, topic) : 0;
}

static rmq_err_t pull_raw(ctx_t *c, const char *addr, const char *group, const char *topic,
                          int qid, int64_t offset, int max, rmq_tool_msg_t **v, size_t *n,
                          int64_t *next) {
    char qs[16], os[24], ms[16];
    snprintf(qs, sizeof qs, "%d", qid);
    snprintf(os, sizeof os, "%lld", (long long)offset);
    snprintf(ms, sizeof ms, "%d", max);
    const char *kv[] = {"consumerGroup", group, "topic", topic, "queueId", qs, "queueOffset",
                        os, "maxMsgNums", ms, "sysFlag", "4", "commitOffset", "0",
                        "suspendTimeoutMillis", "0", "subscription", "*", "subVersion", "0",
                        "expressionType", "TAG", NULL};
    rmq_admin_resp_t *r = NULL;
    *v = NULL;
    *n = 0;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, RMQ_REQ_PULL_MESSAGE, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK)
        return e;
    e = (rmq_err_t)r->code;
    const char *nb = rmq_admin_resp_get(r, "nextBeginOffset");
    *next = nb ? strtoll(nb, NULL, 10) : offset;
    if (e == RMQ_OK && r->body && rmq_tool_msgs_decode(r->body, r->body_len, v, n) != 0)
        e = RMQ_ERR__BAD_FRAME;
    rmq_admin_resp_destroy(r);
    return e;
}

static int cmd_query_msg_by_offset(ctx_t *c) {
    const char *topic = opt(c, 't', NULL), *bn = opt(c, 'b', NULL);
    int qid;
    const char *os = opt(c, 'o', NULL);
    char *end;
    long long off = strtoll(os, &end, 10);
    if (*end || off < 0)
        return fail("bad offset %s", os);
    if (opt_int(c, 'i', 0, &qid))
        return 1;
    char addr[128];
    if (broker_addr_of(c, topic, bn, addr, sizeof addr))
        return 1;
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    int64_t next;
    rmq_err_t e = pull_raw(c, addr, TOOLS_GROUP, topic, qid, off, 1, &v, &n, &next);
    if (e != RMQ_OK || n == 0) {
        rmq_tool_msgs_free(v, n);
        return fail("no message at %s:%d offset %lld: %s", bn, qid, off,
                    e == RMQ_OK ? "not found" : rmq_strerror(e));
    }
    print_msg(c, &v[0]);
    rmq_tool_msgs_free(v, n);
    return 0;
}

static int cmd_send_message(ctx_t *c) {
    const char *topic = opt(c, 't', NULL), *body = opt(c, 'p', NULL);
    const char *keys = opt(c, 'k', NULL), *tags = opt(c, 'c', NULL);
    const char *bn = opt(c, 'b', NULL), *qs = opt(c, 'i', NULL);
    rmq_conf_t *conf = rmq_tool_conf_new(c->ns);
    char err[256];
    rmq_conf_set(conf, "producerGroup", "TOOLS_PRODUCER", err, sizeof err);
    rmq_conf_set(conf, "retryTimesWhenSendFailed", "0", err, sizeof err);
    rmq_producer_t *p = rmq_producer_new(conf, err, sizeof err);
    if (!p) {
        rmq_conf_destroy(conf);
        return fail("cannot start a producer: %s", err);
    }
    rmq_msg_t *m = rmq_msg_new(topic, tags, keys, (void *)body, strlen(body), RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    memset(&r, 0, sizeof r);
    rmq_err_t e;
    if (bn) {
        rmq_mq_t mq = {0};
        snprintf(mq.topic, sizeof mq.topic, "%s", topic);
        snprintf(mq.broker, sizeof mq.broker, "%s", bn);
        mq.queue_id = qs ? atoi(qs) : 0;
        e = rmq_send_to_queue(p, m, &mq, &r);
    } else {
        e = rmq_send_sync(p, m, &r);
    }
    rmq_msg_destroy(m);
    rmq_producer_destroy(p);
    if (e != RMQ_OK)
        return fail("send to topic %s failed: %s", topic, rmq_strerror(e));
    static const char *st[] = {"SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT",
                               "SLAVE_NOT_AVAILABLE"};
    const char *status = (unsigned)r.status < 4 ? st[r.status] : "UNKNOWN";
    if (c->json) {
        json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s,s:I}", "brokerName", r.mq.broker, "queueId",
                              r.mq.queue_id, "sendStatus", status, "msgId", r.msg_id,
                              "offsetMsgId", r.offset_msg_id, "queueOffset",
                              (json_int_t)r.offset);
        print_json(o);
        json_decref(o);
    } else {
        printf("%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId");
        printf("%-32s  %-4d  %-20s    %s\n", r.mq.broker, r.mq.queue_id, status, r.msg_id);
    }
    return 0;
}

static int cmd_consume_message(ctx_t *c) {
    const char *topic = opt(c, 't', NULL), *bn = opt(c, 'b', NULL);
    const char *group = opt(c, 'g', NULL);
    int qid_filter, count;
    if (opt_int(c, 'i', -1, &qid_filter) || opt_int(c, 'c', 128, &count))
        return 1;
    const char *os = opt(c, 'o', NULL);
    int64_t from = os ? strtoll(os, NULL, 10) : -1;
    char **addrs = NULL, **names = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, &names);
    if (e != RMQ_OK)
        return fail("topic %s: %s", topic, why(c, e));
    json_t *route = route_of(c, topic);
    json_t *arr = c->json ? json_array() : NULL;
    int got = 0, rc = 0;
    for (size_t b = 0; addrs[b] && got < count; b++) {
        if (bn && strcmp(bn, names[b]) != 0)
            continue;
        int nq = 0;
        size_t k;
        json_t *q;
        json_array_foreach(json_object_get(route, "queueDatas"), k, q) if (
            strcmp(jstr(q, "brokerName"), names[b]) == 0) nq = (int)jint(q, "readQueueNums");
        for (int qid = 0; qid < nq && got < count; qid++) {
            if (qid_filter >= 0 && qid != qid_filter)
                continue;
            int64_t off = from;
            if (off < 0) { /* from the queue's min offset */
                char qs[16];
                snprintf(qs, sizeof qs, "%d", qid);
                const char *kv[] = {"topic", topic, "queueId", qs, NULL};
                rmq_admin_resp_t *r = NULL;
                off = 0;
                if (rmq_admin_invoke(c->admin, addrs[b], RMQ_REQ_GET_MIN_OFFSET, kv, NULL, 0, 0,
                                     &r) == RMQ_OK &&
                    r->code == 0 && rmq_admin_resp_get(r, "offset"))
                    off = strtoll(rmq_admin_resp_get(r, "offset"), NULL, 10);
                rmq_admin_resp_destroy(r);
            }
            while (got < count) {
                rmq_tool_msg_t *v = NULL;
                size_t n = 0;
                int64_t next = off;
                int want = count - got < 32 ? count - got : 32;
                e = pull_raw(c, addrs[b], group ? group : TOOLS_GROUP, topic, qid, off, want, &v,
                             &n, &next);
                if (e == RMQ_ERR_PULL_OFFSET_MOVED && next != off) {
                    off = next;
                    continue;
                }
                if (e != RMQ_OK || n == 0) {
                    rmq_tool_msgs_free(v, n);
                    if (e != RMQ_OK && e != RMQ_ERR_PULL_NOT_FOUND &&
                        e != RMQ_ERR_PULL_RETRY_IMMEDIATELY && e != RMQ_ERR_PULL_OFFSET_MOVED) {
                        rc = fail("pull %s:%d: %s", names[b], qid, rmq_strerror(e));
                        goto out;
                    }
                    break;
                }
                for (size_t i = 0; i < n && got < count; i++, got++) {
                    rmq_tool_msg_t *m = &v[i];
                    if (arr)
                        json_array_append_new(arr, msg_json(m));
                    else
                        printf("MSGID: %s Topic: %s BrokerName: %s QueueId: %d QueueOffset: "
                               "%lld Tags: %s Keys: %s BornTimestamp: %lld StoreTimestamp: "
                               "%lld BODY: %.*s\n",
                               m->uniq, m->topic, names[b], m->queue_id,
                               (long long)m->queue_offset, m->tags, m->keys,
                               (long long)m->born_ts, (long long)m->store_ts,
                               (int)m->body_len, (const char *)m->body);
                }
                off = next > off ? next : off + (int64_t)n;
                rmq_tool_msgs_free(v, n);
            }
        }
    }
    if (arr)
        print_json(arr);
    else
        printf("Consume ok, %d message(s)\n", got);
out:
    json_decref(arr);
    json_decref(route);
    for (size_t b = 0; addrs[b]; b++) {
        free(addrs[b]);
        free(names[b]);
    }
    free(addrs);
    free(names);
    return rc;
}

/* ---- consumer / group ------------------------------------------------------------------ */

static const char *version_desc(int v) {
    static char buf[32];
    if (v == 409)
        return "V4_9_8";
    snprintf(buf, sizeof buf, "V%d", v);
    return buf;
}

/* Merged ConsumeStats of group over the brokers of %RETRY%group (or topic's when given). */
static json_t *consume_stats(ctx_t *c, const char *group, const char *topic, double *tps,
                             rmq_err_t *err) {
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    char **addrs = NULL;
    *tps = 0;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic ? topic : retry, &addrs, NULL);
    if (e != RMQ_OK) {
        *err = e;
        return NULL;
    }
    const char *kv[] = {"consumerGroup", group, topic ? "topic" : NULL, topic, NULL};
    json_t *all = json_object();
    for (char **p = addrs; *p; p++) {
        json_t *cs = broker_call(c, *p, RMQ_REQ_GET_CONSUME_STATS, kv, NULL, "", &e);
        if (!cs)
            continue;
        *tps += jreal(cs, "consumeTps");
        json_object_update(all, json_object_get(cs, "offsetTable"));
        json_decref(cs);
    }
    for (char **p = addrs; *p; p++)
        free(*p);
    free(addrs);
    *err = RMQ_OK;
    return all;
}

static json_t *consumer_conn(ctx_t *c, const char *group, rmq_err_t *err) {
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, retry, &addrs, NULL);
    if (e != RMQ_OK) {
        *err = e;
        return NULL;
    }
    const char *kv[] = {"consumerGroup", group, NULL};
    json_t *cc = NULL;
    for (char **p = addrs; *p && !cc; p++)
        cc = broker_call(c, *p, RMQ_REQ_GET_CONSUMER_CONNECTION_LIST, kv, NULL, "", &e);
    for (char **p = addrs; *p; p++)
        free(*p);
    free(addrs);
    *err = e;
    return cc;
}

static int cmd_consumer_progress(ctx_t *c) {
    const char *group = opt(c, 'g', NULL);
    if (group) {
        double tps;
        rmq_err_t e;
        json_t *tab = consume_stats(c, group, NULL, &tps, &e);
        if (!tab)
            return fail("consumer group %s: %s", group, why(c, e));
        if (json_object_size(tab) == 0) {
            json_decref(tab);
            return fail("consumer group %s: CONSUMER_NOT_ONLINE (no offsets)", group);
        }
        size_t n = json_object_size(tab), i = 0;
        qrow_t *rows = calloc(n, sizeof *rows);
        const char *key;
        json_t *v;
        json_object_foreach(tab, key, v) {
            if (!mq_parse(key, &rows[i].mq))
                continue;
            rows[i].a = jint(v, "brokerOffset");
            rows[i].b = jint(v, "consumerOffset");
            rows[i].ts = jint(v, "lastTimestamp");
            i++;
        }
        n = i;
        qsort(rows, n, sizeof *rows, qrow_cmp);
        long long diff_total = 0;
        json_t *arr = c->json ? json_array() : NULL;
        /* -s true adds the client IP column; this tool does not ask clients for their
         * running info, so it prints Java's "NA" for an unknown owner */
        bool ip = opt_true(c, 's', NULL);
        if (!arr && ip)
            printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %-20s  %s\n", "#Topic",
                   "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Client IP",
                   "#Diff", "#LastTime");
        else if (!arr)
            printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Broker Name",
                   "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
        for (i = 0; i < n; i++) {
            long long diff = (long long)(rows[i].a - rows[i].b);
            diff_total += diff;
            char lt[40];
            rmq_tool_fmt_time(rows[i].ts, lt, sizeof lt); /* Java formats even 0 */
            lt[19] = 0;                                   /* yyyy-MM-dd HH:mm:ss */
            if (arr)
                json_array_append_new(
                    arr, json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I}", "topic", rows[i].mq.topic,
                                   "brokerName", rows[i].mq.broker, "queueId",
                                   rows[i].mq.queue_id, "brokerOffset", (json_int_t)rows[i].a,
                                   "consumerOffset", (json_int_t)rows[i].b, "diff",
                                   (json_int_t)diff, "lastTimestamp", (json_int_t)rows[i].ts));
            else if (ip)
                printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20s  %-20lld  %s\n",
                       rows[i].mq.topic, rows[i].mq.broker, rows[i].mq.queue_id,
                       (long long)rows[i].a, (long long)rows[i].b, "NA", diff, lt);
            else
                printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", rows[i].mq.topic,
                       rows[i].mq.broker, rows[i].mq.queue_id, (long long)rows[i].a,
                       (long long)rows[i].b, diff, lt);
        }
        if (arr) {
            json_t *o = json_pack("{s:s,s:o,s:f,s:I}", "group", group, "queues", arr,
                                  "consumeTps", tps, "diffTotal", (json_int_t)diff_total);
            print_json(o);
            json_decref(o);
        } else {
            printf("\n");
            printf("Consume TPS: %.2f\n", tps);
            printf("Diff Total: %lld\n", diff_total);
        }
        free(rows);
        json_decref(tab);
        return 0;
    }
    json_t *topics = topic_list(c);
    if (!topics)
        return 1;
    json_t *arr = c->json ? json_array() : NULL;
    if (!arr)
        printf("%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version",
               "#Type", "#Model", "#TPS", "#Diff Total");
    size_t n = json_array_size(topics), ng = 0;
    const char **groups = calloc(n + 1, sizeof *groups);
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(topics, i));
        if (strncmp(t, "%RETRY%", 7) == 0)
            groups[ng++] = t + 7;
    }
    qsort(groups, ng, sizeof *groups, str_cmp);
    for (size_t i = 0; i < ng; i++) {
        double tps = 0;
        rmq_err_t e;
        json_t *tab = consume_stats(c, groups[i], NULL, &tps, &e);
        long long diff = 0;
        const char *key;
        json_t *v;
        json_object_foreach(tab, key, v) diff += jint(v, "brokerOffset") - jint(v, "consumerOffset");
        json_decref(tab);
        json_t *cc = consumer_conn(c, groups[i], &e);
        json_t *conns = json_object_get(cc, "connectionSet");
        int count = (int)json_array_size(conns), minv = 0;
        size_t k;
        json_t *cn;
        json_array_foreach(conns, k, cn) {
            int ver = (int)jint(cn, "version");
            if (k == 0 || ver < minv)
                minv = ver;
        }
        const char *ct = jstr(cc, "consumeType");
        const char *type = count ? (strcmp(ct, "CONSUME_ACTIVELY") == 0 ? "PULL" : "PUSH") : "";
        const char *model = count && strcmp(type, "PUSH") == 0 ? jstr(cc, "messageModel") : "";
        const char *ver = count ? version_desc(minv) : "OFFLINE";
        if (arr)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:s,s:s,s:s,s:i,s:I}", "group",
                                                 groups[i], "count", count, "version", ver,
                                                 "consumeType", type, "messageModel", model,
                                                 "consumeTps", (int)tps, "diffTotal",
                                                 (json_int_t)diff));
        else
            printf("%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %lld\n", groups[i], count, ver, type,
                   model, (int)tps, diff);
        json_decref(cc);
    }
    if (arr) {
        print_json(arr);
        json_decref(arr);
    }
    free(groups);
    json_decref(topics);
    return 0;
}

static int cmd_consumer_connection(ctx_t *c) {
    const char *group = opt(c, 'g', NULL);
    rmq_err_t e;
    json_t *cc = consumer_conn(c, group, &e);
    if (!cc)
        return fail("consumer group %s: %s", group, why(c, e));
    if (c->json) {
        print_json(cc);
        json_decref(cc);
        return 0;
    }
    printf("%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    size_t i;
    json_t *cn;
    json_array_foreach(json_object_get(cc, "connectionSet"), i, cn) printf(
        "%-36s %-22s %-10s %s\n", jstr(cn, "clientId"), jstr(cn, "clientAddr"),
        json_is_string(json_object_get(cn, "language")) ? jstr(cn, "language") : "OTHER",
        version_desc((int)jint(cn, "version")));
    printf("\n%-64s %s\n", "#Topic", "#SubExpression");
    const char *key;
    json_t *sd;
    json_object_foreach(json_object_get(cc, "subscriptionTable"), key, sd)
        printf("%-64s %s\n", key, jstr(sd, "subString"));
    printf("\n");
    printf("ConsumeType: %s\n", jstr(cc, "consumeType"));
    printf("MessageModel: %s\n", jstr(cc, "messageModel"));
    printf("ConsumeFromWhere: %s\n", jstr(cc, "consumeFromWhere"));
    json_decref(cc);
    return 0;
}

static int cmd_reset_offset(ctx_t *c) {
    const char *group = opt(c, 'g', NULL), *topic = opt(c, 't', NULL), *ts = opt(c, 's', NULL);
    const char *fs = opt(c, 'f', NULL);
    bool force = !fs || strcasecmp(fs, "true") == 0;
    int64_t ms = rmq_tool_parse_time(ts, time(NULL) * 1000LL);
    if (ms < 0)
        return fail("bad timestamp %s (now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS)", ts);
    rmq_mq_offset_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_admin_reset_offset(c->admin, group, topic, ms, force, &v, &n);
    if (e != RMQ_OK)
        return fail("reset offset of group %s on topic %s: %s", group, topic, why(c, e));
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "brokerName", v[i].mq.broker,
                                                 "queueId", v[i].mq.queue_id, "offset",
                                                 (json_int_t)v[i].offset));
        json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:o}", "group", group, "topic", topic, "force",
                              force, "timestamp", (json_int_t)ms, "offsets", arr);
        print_json(o);
        json_decref(o);
    } else {
        printf("rollback consumer offset by specified group[%s], topic[%s], force[%s], "
               "timestamp(string)[%s], timestamp(long)[%lld]\n",
               group, topic, force ? "true" : "false", ts, (long long)ms);
        printf("%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset");
        for (size_t i = 0; i < n; i++)
            printf("%-40s  %-40d  %-40lld\n", v[i].mq.broker, v[i].mq.queue_id,
                   (long long)v[i].offset);
    }
    free(v);
    return 0;
}

static int cmd_update_sub_group(ctx_t *c) {
    const char *group = opt(c, 'g', NULL);
    int q, r, bid, w;
    if (opt_int(c, 'q', 1, &q) || opt_int(c, 'r', 16, &r) || opt_int(c, 'i', 0, &bid) ||
        opt_int(c, 'w', 1, &w))
        return 1;
#define BOOL_OPT(ch) (opt(c, ch, NULL) ? strcasecmp(opt(c, ch, NULL), "false") != 0 : true)
    bool s = BOOL_OPT('s'), m = BOOL_OPT('m'), d = BOOL_OPT('d'), a = BOOL_OPT('a');
#undef BOOL_OPT
    json_t *cfg = json_pack("{s:s,s:b,s:b,s:b,s:i,s:i,s:i,s:i,s:b}", "groupName", group,
                            "consumeEnable", s, "consumeFromMinEnable", m,
                            "consumeBroadcastEnable", d, "retryQueueNums", q, "retryMaxTimes",
                            r, "brokerId", bid, "whichBrokerWhenConsumeSlowly", w,
                            "notifyConsumerIdsChangedEnable", a);
    char *body = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *targets = target_brokers(c);
    int rc = targets ? 0 : 1;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        rmq_err_t e;
        json_decref(broker_call(c, json_string_value(t),
                                RMQ_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, body, "", &e));
        if (e != RMQ_OK) {
            rc = fail("create subscription group %s on %s: %s", group, json_string_value(t),
                      why(c, e));
            break;
        }
        if (!c->json)
            printf("create subscription group to %s success.\n", json_string_value(t));
    }
    if (rc == 0) {
        if (c->json)
            print_json(cfg);
        else
            printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, "
                   "consumeFromMinEnable=%s, consumeBroadcastEnable=%s, retryQueueNums=%d, "
                   "retryMaxTimes=%d, brokerId=%d, whichBrokerWhenConsumeSlowly=%d, "
                   "notifyConsumerIdsChangedEnable=%s]\n",
                   group, s ? "true" : "false", m ? "true" : "false", d ? "true" : "false", q,
                   r, bid, w, a ? "true" : "false");
    }
    free(body);
    json_decref(cfg);
    json_decref(targets);
    return rc;
}

/* ---- command table ---------------------------------------------------------------------- */

#define O(s, l, arg, req, d) {s, l, arg, req, d}
static const cmd_t cmds[] = {
    {"updateTopic", "Update or create topic", cmd_update_topic,
     {O('b', "brokerAddr", 1, 0, "create topic to which broker"),
      O('c', "clusterName", 1, 0, "create topic to which cluster"),
      O('t', "topic", 1, 1, "topic name"), O('r', "readQueueNums", 1, 0, "set read queue nums"),
      O('w', "writeQueueNums", 1, 0, "set write queue nums"),
      O('p', "perm", 1, 0, "set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]"),
      O('o', "order", 1, 0, "set topic's order(true|false)"),
      O('u', "unit", 1, 0, "is unit topic (true|false)"),
      O('s', "hasUnitSub", 1, 0, "has unit sub (true|false)")}},
    {"deleteTopic", "Delete topic from broker and NameServer.", cmd_delete_topic,
     {O('t', "topic", 1, 1, "topic name"),
      O('c', "clusterName", 1, 1, "delete topic from which cluster")}},
    {"topicList", "Fetch all topic list from name server", cmd_topic_list,
     {O('c', "clusterModel", 0, 0, "clusterModel")}},
    {"topicRoute", "Examine topic route info", cmd_topic_route,
     {O('t', "topic", 1, 1, "topic name"), O('l', "list", 0, 0, "Use list format to print data")}},
    {"topicStatus", "Examine topic Status info", cmd_topic_status,
     {O('t', "topic", 1, 1, "topic name"), O('c', "cluster", 1, 0, "cluster name or lmq parent topic")}},
    {"clusterList", "List all of clusters", cmd_cluster_list,
     {O('m', "moreStats", 0, 0, "Print more stats"),
      O('i', "interval", 1, 0, "specify intervals numbers, it is in seconds")}},
    {"brokerStatus", "Fetch broker runtime status data", cmd_broker_status,
     {O('b', "brokerAddr", 1, 0, "Broker address"), O('c', "clusterName", 1, 0, "which cluster")}},
    {"queryMsgById", "Query Message by Id", cmd_query_msg_by_id,
     {O('i', "msgId", 1, 1, "Message Id"), O('t', "topic", 1, 0, "topic name (unique key fallback)"),
      O('g', "consumerGroup", 1, 0, "consumer group name"),
      O('d', "clientId", 1, 0, "The consumer's client id")}},
    {"queryMsgByKey", "Query Message by Key", cmd_query_msg_by_key,
     {O('t', "topic", 1, 1, "topic name"), O('k', "msgKey", 1, 1, "Message Key"),
      O('b', "beginTimestamp", 1, 0, "Begin timestamp(ms). default:0"),
      O('e', "endTimestamp", 1, 0, "End timestamp(ms). default:Long.MAX_VALUE"),
      O('c', "maxNum", 1, 0, "The maximum number of messages returned by the query")}},
    {"queryMsgByOffset", "Query Message by offset", cmd_query_msg_by_offset,
     {O('t', "topic", 1, 1, "topic name"), O('b', "brokerName", 1, 1, "Broker Name"),
      O('i', "queueId", 1, 1, "Queue Id"), O('o', "offset", 1, 1, "Queue Offset")}},
    {"queryMsgByUniqueKey", "Query Message by Unique key", cmd_query_msg_by_unique_key,
     {O('i', "msgId", 1, 1, "Message Id"), O('t', "topic", 1, 1, "The topic of msg"),
      O('g', "consumerGroup", 1, 0, "consumer group name"),
      O('d', "clientId", 1, 0, "The consumer's client id"),
      O('a', "showAll", 0, 0, "Print all message, the limit is 32")}},
    {"consumerProgress", "Query consumers's progress, speed", cmd_consumer_progress,
     {O('g', "groupName", 1, 0, "consumer group name"),
      O('s', "showClientIP", 1, 0, "Show Client IP per Queue")}},
    {"consumerConnection", "Query consumer's socket connection, client version and subscription",
     cmd_consumer_connection, {O('g', "consumerGroup", 1, 1, "consumer group name")}},
    {"resetOffsetByTime", "Reset consumer offset by timestamp(without client restart).",
     cmd_reset_offset,
     {O('g', "group", 1, 1, "set the consumer group"), O('t', "topic", 1, 1, "set the topic"),
      O('s', "timestamp", 1, 1,
        "set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('f', "force", 1, 0, "set the force rollback by timestamp switch[true|false]"),
      O('c', "cplus", 0, 0, "reset c++ client offset")}},
    {"updateSubGroup", "Update or create subscription group", cmd_update_sub_group,
     {O('b', "brokerAddr", 1, 0, "create subscription group to which broker"),
      O('c', "clusterName", 1, 0, "create subscription group to which cluster"),
      O('g', "groupName", 1, 1, "consumer group name"),
      O('s', "consumeEnable", 1, 0, "consume enable"),
      O('m', "consumeFromMinEnable", 1, 0, "from min offset"),
      O('d', "consumeBroadcastEnable", 1, 0, "broadcast"),
      O('q', "retryQueueNums", 1, 0, "retry queue nums"),
      O('r', "retryMaxTimes", 1, 0, "retry max times"),
      O('i', "brokerId", 1, 0, "consumer from which broker id"),
      O('w', "whichBrokerWhenConsumeSlowly", 1, 0, "which broker id when consume slowly"),
      O('a', "notifyConsumerIdsChanged", 1, 0, "notify consumerId changed")}},
    {"sendMessage", "Send a message", cmd_send_message,
     {O('t', "topic", 1, 1, "Topic name"), O('p', "body", 1, 1, "UTF-8 string format of the message body"),
      O('k', "key", 1, 0, "Message keys"), O('c', "tags", 1, 0, "Message tags"),
      O('b', "broker", 1, 0, "Send message to target broker"),
      O('i', "qid", 1, 0, "Send message to target queue")}},
    {"consumeMessage", "Consume message", cmd_consume_message,
     {O('t', "topic", 1, 1, "Topic name"), O('b', "brokerName", 1, 0, "Broker name"),
      O('i', "queueId", 1, 0, "Queue Id"), O('o', "offset", 1, 0, "Queue Offset"),
      O('g', "consumerGroup", 1, 0, "Consumer group name"),
      O('s', "beginTimestamp", 1, 0, "Begin timestamp"), O('e', "endTimestamp", 1, 0, "End timestamp"),
      O('c', "MessageNumber", 1, 0, "Number of message to be consumed")}},
};
#undef O
#define NCMDS ((int)(sizeof cmds / sizeof cmds[0]))

static void print_usage(FILE *f) {
    fprintf(f, "The most commonly used mqadmin commands are:\n");
    for (int i = 0; i < NCMDS; i++)
        fprintf(f, "   %-20s %s\n", cmds[i].name, cmds[i].desc);
    fprintf(f, "\nSee 'mqadmin help <command>' for more information on a specific command.\n");
}

static void print_cmd_help(const cmd_t *cmd) {
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = full_opts(cmd, all);
    printf("usage: mqadmin %s", cmd->name);
    for (int i = 0; i < n; i++) {
        if (all[i].s)
            printf(" %s-%c%s%s", all[i].required ? "" : "[", all[i].s,
                   all[i].has_arg ? " <arg>" : "", all[i].required ? "" : "]");
        else
            printf(" [--%s]", all[i].l);
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        char left[64];
        if (all[i].s)
            snprintf(left, sizeof left, " -%c,--%s%s", all[i].s, all[i].l ? all[i].l : "",
                     all[i].has_arg ? " <arg>" : "");
        else
            snprintf(left, sizeof left, "    --%s", all[i].l);
        printf("%-36s %s\n", left, all[i].desc);
    }
}

static const cmd_t *find_cmd(const char *name) {
    for (int i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

int main(int argc, char **argv) {
    /* The library logs through common/log; a CLI keeps stderr for its one error line unless
     * RMQ_LOG_LEVEL asks for more. */
    const char *ll = getenv("RMQ_LOG_LEVEL");
    int lvl = ll ? rmq_log_level_parse(ll) : RMQ_LOG_LVL_OFF;
    rmq_log_open(NULL, lvl >= -1 ? (rmq_log_lvl_t)lvl : RMQ_LOG_LVL_OFF, lvl >= 0);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return 0;
        }
        const cmd_t *cmd = find_cmd(argv[2]);
        if (!cmd)
            return fail("unknown command %s (see mqadmin help)", argv[2]);
        print_cmd_help(cmd);
        return 0;
    }
    const cmd_t *cmd = find_cmd(argv[1]);
    if (!cmd) {
        g_cmd = argv[1];
        fprintf(stderr, "mqadmin: unknown command %s (run mqadmin for the list)\n", argv[1]);
        return 1;
    }
    g_cmd = cmd->name;
    ctx_t c = {.cmd = cmd};
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = full_opts(cmd, all);
    char err[256];
    if (rmq_tool_parse(all, n, argc - 2, argv + 2, &c.args, err, sizeof err) != 0)
        return fail("%s (see mqadmin help %s)", err, cmd->name);
    if (c.args.npos > 0)
        return fail("unexpected argument %s (see mqadmin help %s)", c.args.pos[0], cmd->name);
    if (rmq_tool_get(all, n, &c.args, 0, "help")) {
        print_cmd_help(cmd);
        return 0;
    }
    c.json = rmq_tool_get(all, n, &c.args, 0, "json") != NULL;
    c.ns = rmq_tool_get(all, n, &c.args, 0, "namesrvAddr");
    if (!c.ns)
        c.ns = getenv("NAMESRV_ADDR");
    if (!c.ns || !*c.ns)
        return fail("no NameServer: give -n host:port or set NAMESRV_ADDR");
    rmq_conf_t *conf = rmq_tool_conf_new(c.ns);
    if (!conf)
        return fail("bad NameServer address %s", c.ns);
    c.admin = rmq_admin_new(conf, err, sizeof err);
    if (!c.admin) {
        rmq_conf_destroy(conf);
        return fail("%s", err);
    }
    int rc = cmd->run(&c);
    fflush(stdout);
    rmq_admin_destroy(c.admin);
    return rc;
}
