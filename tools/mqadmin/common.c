/* mqadmin helpers shared by every command family: errors, option access, JSON, and the
 * NameServer / broker calls through the admin API. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"
#include "tools/msgrec.h"

const char *adm_cmd_name = "mqadmin";
bool adm_quiet;
static __thread char last_failure[1024];

const char *adm_last_failure(void) {
    return last_failure;
}

void adm_clear_failure(void) {
    last_failure[0] = 0;
}

/* One line on stderr; returns the exit status. */
int adm_fail(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++) /* keep it to one line whatever a remark holds */
        if (*p == '\n' || *p == '\r') *p = ' ';
    memcpy(last_failure, line, sizeof last_failure);
    if (!adm_quiet) fprintf(stderr, "mqadmin %s: %s\n", adm_cmd_name, line);
    return 1;
}

/* Error text for e from the last admin call. */
const char *adm_why(ctx_t *c, rmq_err_t e) {
    const char *s = rmq_admin_last_error(c->admin);
    return s && *s ? s : rmq_strerror(e);
}

/* ---- option access ------------------------------------------------------------------- */

static int nopts_of(const cmd_t *cmd) {
    int n = 0;
    while (n < RMQ_TOOL_MAX_OPTS - 5 && (cmd->opts[n].s || cmd->opts[n].l)) n++;
    return n;
}

/* Full option table of a command: its own plus the common ones. */
int adm_full_opts(const cmd_t *cmd, rmq_tool_opt_t *out) {
    int n = nopts_of(cmd);
    memcpy(out, cmd->opts, (size_t)n * sizeof *out);
    out[n++] = (rmq_tool_opt_t){'n', "namesrvAddr", true, false,
                                "Name server address list, eg: 192.168.0.1:9876;192.168.0.2:9876"};
    out[n++] = (rmq_tool_opt_t){'h', "help", false, false, "Print help"};
    out[n++] = (rmq_tool_opt_t){0, "json", false, false, "Print JSON instead of columns"};
    out[n++] = (rmq_tool_opt_t){0, "ak", true, false,
                                "ACL accessKey (default: $ROCKETMQ_HOME/conf/tools.yml)"};
    out[n++] = (rmq_tool_opt_t){0, "sk", true, false, "ACL secretKey (with -ak)"};
    return n;
}

const char *adm_opt(ctx_t *c, char s, const char *l) {
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = adm_full_opts(c->cmd, all);
    return rmq_tool_get(all, n, &c->args, s, l);
}

bool adm_opt_true(ctx_t *c, char s, const char *l) {
    const char *v = adm_opt(c, s, l);
    return v && strcasecmp(v, "true") == 0;
}

/* *out is always set (dflt on error too), so no caller reads an unset int. */
int adm_opt_int(ctx_t *c, char s, int dflt, int *out) {
    const char *v = adm_opt(c, s, NULL);
    *out = dflt;
    if (!v) return 0;
    char *e;
    long x = strtol(v, &e, 10);
    if (*e || e == v) return adm_fail("option -%c needs a number, got \"%s\"", s, v);
    *out = (int)x;
    return 0;
}

/* ---- JSON helpers -------------------------------------------------------------------- */

json_t *adm_parse_json(const char *s) {
    json_error_t je;
    return s ? json_loads(s, JSON_DECODE_ANY, &je) : NULL;
}

void adm_print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
}

const char *adm_jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int64_t adm_jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

double adm_jreal(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (json_is_number(v)) return json_number_value(v);
    if (json_is_string(v)) return strtod(json_string_value(v), NULL);
    return 0;
}

/* A MessageQueue map key (its JSON text, after rmq_json_fix). */
bool adm_mq_parse(const char *key, rmq_mq_t *mq) {
    json_t *o = adm_parse_json(key);
    bool ok = json_is_object(o);
    if (ok) {
        memset(mq, 0, sizeof *mq);
        snprintf(mq->topic, sizeof mq->topic, "%s", adm_jstr(o, "topic"));
        snprintf(mq->broker, sizeof mq->broker, "%s", adm_jstr(o, "brokerName"));
        mq->queue_id = (int)adm_jint(o, "queueId");
    }
    json_decref(o);
    return ok;
}

int adm_mq_cmp(const rmq_mq_t *a, const rmq_mq_t *b) {
    int r = strcmp(a->topic, b->topic);
    if (r) return r;
    r = strcmp(a->broker, b->broker);
    if (r) return r;
    return a->queue_id - b->queue_id;
}

const char **adm_sorted_keys(json_t *o, size_t *n) {
    size_t k = 0;
    const char **keys = calloc(json_object_size(o) + 1, sizeof *keys);
    const char *key;
    json_t *v;
    if (keys) {
        json_object_foreach(o, key, v) keys[k++] = key;
        qsort(keys, k, sizeof *keys, adm_str_cmp);
    }
    *n = k;
    return keys;
}

json_t *adm_props_json(const void *body, size_t len) {
    char *text = calloc(1, len + 1);
    json_t *props = text ? json_object() : NULL;
    if (!props) {
        free(text);
        return NULL;
    }
    if (len) memcpy(text, body, len);
    for (char *save, *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(ln, '=');
        if (!eq || ln[0] == '#') continue;
        *eq = 0;
        json_object_set_new(props, ln, json_string(eq + 1));
    }
    free(text);
    return props;
}

void adm_print_props(json_t *props) {
    size_t n;
    const char **keys = adm_sorted_keys(props, &n);
    for (size_t i = 0; i < n; i++)
        printf("%-50s=  %s\n", keys[i], json_string_value(json_object_get(props, keys[i])));
    free(keys);
}

int adm_str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- calls --------------------------------------------------------------------------- */

/* NameServer call returning parsed JSON (NULL after printing the error). */
json_t *adm_ns_call(ctx_t *c, int code, const char *const *kv, const char *what) {
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_namesrv(c->admin, code, kv, NULL, &js);
    if (e != RMQ_OK) {
        adm_fail("%s: %s", what, adm_why(c, e));
        return NULL;
    }
    json_t *j = adm_parse_json(js);
    free(js);
    if (!j) adm_fail("%s: malformed answer", what);
    return j;
}

json_t *adm_broker_call(ctx_t *c, const char *addr, int code, const char *const *kv,
                        const char *body, const char *what, rmq_err_t *err) {
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_broker(c->admin, addr, code, kv, body, &js);
    if (err) *err = e;
    if (e != RMQ_OK) {
        if (!err) adm_fail("%s (broker %s): %s", what, addr, adm_why(c, e));
        return NULL;
    }
    json_t *j = adm_parse_json(js);
    free(js);
    if (!j && !err) adm_fail("%s (broker %s): malformed answer", what, addr);
    return j;
}

json_t *adm_route_of(ctx_t *c, const char *topic) {
    const char *kv[] = {"topic", topic, NULL};
    return adm_ns_call(c, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, "topic route");
}

/* Master address of a BrokerData, or any address. */
const char *adm_bd_master(json_t *bd) {
    json_t *ad = json_object_get(bd, "brokerAddrs");
    json_t *m = json_object_get(ad, "0");
    if (json_is_string(m)) return json_string_value(m);
    const char *k;
    json_t *v;
    json_object_foreach(ad, k, v) return json_string_value(v);
    return NULL;
}

json_t *adm_cluster_info(ctx_t *c) {
    return adm_ns_call(c, RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, "cluster info");
}

rmq_err_t adm_put_topic(ctx_t *c, const char *addr, const char *topic, int64_t rq, int64_t wq,
                        int perm, int64_t sysflag, const char *filter, bool order,
                        const char *what) {
    char rs[24], ws[24], ps[16], ss[24];
    snprintf(rs, sizeof rs, "%" PRId64, rq);
    snprintf(ws, sizeof ws, "%" PRId64, wq);
    snprintf(ps, sizeof ps, "%d", perm);
    snprintf(ss, sizeof ss, "%" PRId64, sysflag);
    /* clang-format off */
    const char *kv[] = {"topic", topic, "defaultTopic", "TBW102", "readQueueNums", rs,
                        "writeQueueNums", ws, "perm", ps,
                        "topicFilterType", filter ? filter : "SINGLE_TAG",
                        "topicSysFlag", ss, "order", order ? "true" : "false", NULL};
    /* clang-format on */
    rmq_err_t e;
    json_decref(adm_broker_call(c, addr, RMQ_REQ_UPDATE_AND_CREATE_TOPIC, kv, NULL, what, &e));
    return e;
}

json_t *adm_masters_in(json_t *ci, const char *cluster) {
    json_t *names = json_object_get(json_object_get(ci, "clusterAddrTable"), cluster);
    if (!json_is_array(names)) return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *bd = json_object_get(json_object_get(ci, "brokerAddrTable"), json_string_value(n));
        const char *m = json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"), "0"));
        if (m) json_array_append_new(out, json_string(m));
    }
    return out;
}

/* Masters of every broker of cluster (array of strings; NULL after an error). */
json_t *adm_cluster_masters(ctx_t *c, const char *cluster) {
    json_t *ci = adm_cluster_info(c);
    if (!ci) return NULL;
    json_t *out = adm_masters_in(ci, cluster);
    json_decref(ci);
    if (!out) adm_fail("cluster %s does not exist", cluster);
    return out;
}

/* Brokers to act on: -b addr wins over -c cluster (RocketMQ's rule). */
json_t *adm_target_brokers(ctx_t *c) {
    const char *b = adm_opt(c, 'b', NULL), *cl = adm_opt(c, 'c', NULL);
    if (b) {
        json_t *a = json_array();
        json_array_append_new(a, json_string(b));
        return a;
    }
    if (cl) return adm_cluster_masters(c, cl);
    adm_fail("one of -b brokerAddr or -c clusterName is required");
    return NULL;
}

const char *adm_perm_str(int perm) {
    static char s[4];
    s[0] = (perm & 4) ? 'R' : '-';
    s[1] = (perm & 2) ? 'W' : '-';
    s[2] = (perm & 1) ? 'X' : '-';
    s[3] = 0;
    return s;
}

/* Queue rows sort by queue (topic status, consumer progress). */
int adm_qrow_cmp(const void *x, const void *y) {
    return adm_mq_cmp(&((const adm_qrow_t *)x)->mq, &((const adm_qrow_t *)y)->mq);
}
