/* mqconsole's /api/ calls. Each handler runs under console_t.mu and answers a JSON value, or
 * NULL after con_fail (status + text: 400 bad input, 404 not found, 502 the cluster failed).
 * The cluster logic is mqadmin's (tools/mqadmin, as a library): the same requests, the same
 * merging of answers, so the page shows what `mqadmin ... --json` prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/msg.h"
#include "rmq/rmq_codes.h"
#include "tools/mqconsole/console.h"

#define MAX_TIME_RANGE_MSGS 256 /* messages by topic + time range (the dashboard caps too) */
#define MAX_KEY_MSGS 64

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *why(console_t *k) {
    const char *f = adm_last_failure();
    if (f && *f) return f;
    const char *s = rmq_admin_last_error(k->c.admin);
    return s && *s ? s : "the cluster did not answer";
}

/* Required string argument; NULL after con_fail. */
static const char *need(con_req_t *r, const char *name, char *buf, size_t n) {
    const char *v = con_arg(r, name, buf, n);
    if (!v || !*v) con_fail(r, 400, "missing argument \"%s\"", name);
    return v && *v ? v : NULL;
}

/* Integer argument with a default and bounds; false after con_fail. */
static bool int_arg(con_req_t *r, const char *name, long long dflt, long long lo, long long hi,
                    long long *out) {
    char buf[32];
    const char *v = con_arg(r, name, buf, sizeof buf);
    *out = dflt;
    if (!v || !*v) return true;
    char *e;
    long long x = strtoll(v, &e, 10);
    if (*e || x < lo || x > hi) {
        con_fail(r, 400, "argument \"%s\" must be a number in %lld..%lld, got \"%s\"", name, lo, hi,
                 v);
        return false;
    }
    *out = x;
    return true;
}

/* RocketMQ's topic / group name rule: [%|a-zA-Z0-9_-]{1,127}. */
static bool valid_resource(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 127) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '%' || *s == '|'))
            return false;
    return true;
}

static bool check_name(con_req_t *r, const char *what, const char *s) {
    if (valid_resource(s)) return true;
    con_fail(r, 400, "bad %s name \"%.140s\": 1..127 of letters, digits, _ - %% |", what, s);
    return false;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A time argument: now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS; dflt when absent. */
static bool time_arg(con_req_t *r, const char *name, int64_t dflt, int64_t *out) {
    char buf[40];
    const char *v = con_arg(r, name, buf, sizeof buf);
    *out = dflt;
    if (!v || !*v) return true;
    int64_t t = rmq_tool_parse_time(v, now_ms());
    if (t < 0) {
        con_fail(r, 400, "bad time \"%s\" for \"%s\": now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS",
                 v, name);
        return false;
    }
    *out = t;
    return true;
}

/* A topic's broker masters, or a 404 / 502. */
static char **topic_brokers(console_t *k, con_req_t *r, const char *topic, char ***names) {
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(k->c.admin, topic, &addrs, names);
    if (e == RMQ_OK) return addrs;
    con_fail(r, e == RMQ_ERR_TOPIC_NOT_EXIST || e == RMQ_ERR__NO_ROUTE ? 404 : 502, "topic %s: %s",
             topic,
             e == RMQ_ERR_TOPIC_NOT_EXIST || e == RMQ_ERR__NO_ROUTE ? "no route (does it exist?)"
                                                                    : why(k));
    return NULL;
}

static void strv_free(char **v) {
    for (char **p = v; p && *p; p++) free(*p);
    free(v);
}

/* ---- cluster ------------------------------------------------------------------------------- */

static json_t *api_cluster(console_t *k, con_req_t *r) {
    json_t *rows = adm_cluster_rows(&k->c);
    if (!rows) return con_fail(r, 502, "%s", why(k)); /* "cluster info: ..." */
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_object_set_new(
        row, "role", json_string(adm_jint(row, "brokerId") == 0 ? "MASTER" : "SLAVE"));
    return json_pack("{s:s,s:o}", "namesrv", k->c.ns, "brokers", rows);
}

/* ---- topics -------------------------------------------------------------------------------- */

static const char *topic_kind(const char *t, json_t *ci) {
    if (!strncmp(t, "%RETRY%", 7)) return "RETRY";
    if (!strncmp(t, "%DLQ%", 5)) return "DLQ";
    size_t n = strlen(t);
    if (n > 12 && !strcmp(t + n - 12, "_REPLY_TOPIC")) return "SYSTEM";
    if (!strcmp(t, "TBW102") || !strcmp(t, "BenchmarkTest") || !strcmp(t, "SCHEDULE_TOPIC_XXXX") ||
        !strcmp(t, "SELF_TEST_TOPIC") || !strcmp(t, "OFFSET_MOVED_EVENT") ||
        !strcmp(t, "RMQ_SYS_TRANS_HALF_TOPIC") || !strcmp(t, "RMQ_SYS_TRANS_OP_HALF_TOPIC") ||
        !strncmp(t, "rmq_sys_", 8) || !strncmp(t, "RMQ_SYS_", 8) ||
        json_object_get(json_object_get(ci, "clusterAddrTable"), t) ||
        json_object_get(json_object_get(ci, "brokerAddrTable"), t))
        return "SYSTEM";
    return "NORMAL";
}

static json_t *api_topics(console_t *k, con_req_t *r) {
    json_t *list = adm_topic_list(&k->c);
    if (!list) return con_fail(r, 502, "%s", why(k)); /* "topic list: ..." */
    json_t *ci = adm_cluster_info(&k->c);
    size_t n;
    json_t *tmp = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) json_object_set(tmp, json_string_value(t), json_true());
    const char **keys = adm_sorted_keys(tmp, &n);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(
            out, json_pack("{s:s,s:s}", "topic", keys[i], "kind", topic_kind(keys[i], ci)));
    free(keys);
    json_decref(tmp);
    json_decref(ci);
    json_decref(list);
    return json_pack("{s:o}", "topics", out);
}

/* Brokers to act on: "broker" (an address) wins over "cluster"; with neither, the only
 * cluster there is. */
static json_t *target_brokers(console_t *k, con_req_t *r) {
    char b1[32], b2[32];
    const char *b = con_arg(r, "broker", b1, sizeof b1), *cl = con_arg(r, "cluster", b2, sizeof b2);
    if (b && *b) return json_pack("[s]", b);
    json_t *ci = adm_cluster_info(&k->c);
    if (!ci) return con_fail(r, 502, "%s", why(k)); /* "cluster info: ..." */
    json_t *cat = json_object_get(ci, "clusterAddrTable");
    if (!cl || !*cl) {
        if (json_object_size(cat) != 1) {
            json_decref(ci);
            return con_fail(r, 400, "say which \"cluster\" (the NameServer knows %zu)",
                            json_object_size(cat));
        }
        const char *only;
        json_t *v;
        json_object_foreach(cat, only, v) cl = only;
    }
    json_t *out = adm_masters_in(ci, cl);
    if (!out) {
        json_t *e = con_fail(r, 404, "cluster %s does not exist", cl); /* cl may be ci's */
        json_decref(ci);
        return e;
    }
    json_decref(ci);
    if (json_array_size(out) == 0) {
        json_decref(out);
        return con_fail(r, 502, "cluster has no master broker online");
    }
    return out;
}

static json_t *api_topic_create(console_t *k, con_req_t *r) {
    char tb[160];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic || !check_name(r, "topic", topic)) return NULL;
    long long rq, wq, perm;
    if (!int_arg(r, "readQueueNums", 8, 1, 1024, &rq) ||
        !int_arg(r, "writeQueueNums", 8, 1, 1024, &wq) || !int_arg(r, "perm", 6, 0, 7, &perm))
        return NULL;
    json_t *targets = target_brokers(k, r);
    if (!targets) return NULL;
    size_t i;
    json_t *a;
    json_array_foreach(targets, i, a) {
        rmq_err_t e = adm_put_topic(&k->c, json_string_value(a), topic, rq, wq, (int)perm, 0, NULL,
                                    false, "update topic");
        if (e != RMQ_OK) {
            json_t *x =
                con_fail(r, 502, "create topic %s on %s: %s", topic, json_string_value(a), why(k));
            json_decref(targets);
            return x;
        }
    }
    return json_pack("{s:s,s:o,s:I,s:I,s:I}", "topic", topic, "brokers", targets, "readQueueNums",
                     (json_int_t)rq, "writeQueueNums", (json_int_t)wq, "perm", (json_int_t)perm);
}

static json_t *api_topic_delete(console_t *k, con_req_t *r) {
    char tb[160];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic || !check_name(r, "topic", topic)) return NULL;
    json_t *targets = target_brokers(k, r);
    if (!targets) return NULL;
    const char *kv[] = {"topic", topic, NULL};
    size_t i;
    json_t *a;
    json_array_foreach(targets, i, a) {
        rmq_err_t e;
        json_decref(adm_broker_call(&k->c, json_string_value(a), RMQ_REQ_DELETE_TOPIC_IN_BROKER, kv,
                                    NULL, "delete topic", &e));
        if (e != RMQ_OK) {
            json_t *x =
                con_fail(r, 502, "delete topic %s on %s: %s", topic, json_string_value(a), why(k));
            json_decref(targets);
            return x;
        }
    }
    /* every NameServer of -n, as mqadmin deleteTopic does */
    char *list = strdup(k->c.ns), *save = NULL;
    for (char *t = strtok_r(list, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        rmq_err_t e;
        json_decref(adm_broker_call(&k->c, t, RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            json_t *x =
                con_fail(r, 502, "delete topic %s from NameServer %s: %s", topic, t, why(k));
            free(list);
            json_decref(targets);
            return x;
        }
    }
    free(list);
    return json_pack("{s:s,s:o}", "deleted", topic, "brokers", targets);
}

static json_t *api_topic_route(console_t *k, con_req_t *r) {
    char tb[160];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic) return NULL;
    json_t *route = adm_route_of(&k->c, topic);
    if (!route) return con_fail(r, 404, "topic %s: %s", topic, why(k));
    return route;
}

static json_t *api_topic_status(console_t *k, con_req_t *r) {
    char tb[160];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic) return NULL;
    json_t *route = adm_route_of(&k->c, topic);
    if (!route) return con_fail(r, 404, "topic %s: %s", topic, why(k));
    json_t *queues = json_array();
    const char *kv[] = {"topic", topic, NULL};
    int64_t total = 0;
    size_t i;
    json_t *bd;
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *addr = adm_bd_master(bd);
        rmq_err_t e;
        json_t *st = addr ? adm_broker_call(&k->c, addr, RMQ_REQ_GET_TOPIC_STATS_INFO, kv, NULL,
                                            "topic stats", &e)
                          : NULL;
        if (!st) {
            json_decref(route);
            json_decref(queues);
            return con_fail(r, 502, "topic stats of %s on %s: %s", topic, addr ? addr : "?",
                            why(k));
        }
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(st, "offsetTable"), key, v) {
            rmq_mq_t mq;
            if (!adm_mq_parse(key, &mq)) continue;
            int64_t mn = adm_jint(v, "minOffset"), mx = adm_jint(v, "maxOffset");
            total += mx - mn;
            json_array_append_new(queues,
                                  json_pack("{s:s,s:i,s:I,s:I,s:I}", "brokerName", mq.broker,
                                            "queueId", mq.queue_id, "minOffset", (json_int_t)mn,
                                            "maxOffset", (json_int_t)mx, "lastUpdateTimestamp",
                                            (json_int_t)adm_jint(v, "lastUpdateTimestamp")));
        }
        json_decref(st);
    }
    json_decref(route);
    con_series_watch(k, topic);
    return json_pack("{s:s,s:o,s:I}", "topic", topic, "queues", queues, "messages",
                     (json_int_t)total);
}

/* ---- consumer groups ------------------------------------------------------------------------ */

static json_t *api_groups(console_t *k, con_req_t *r) {
    json_t *rows = adm_group_rows(&k->c);
    if (!rows) return con_fail(r, 502, "group list: %s", why(k));
    return json_pack("{s:o}", "groups", rows);
}

static json_t *api_group(console_t *k, con_req_t *r) {
    char gb[160];
    const char *group = need(r, "group", gb, sizeof gb);
    if (!group || !check_name(r, "group", group)) return NULL;
    double tps = 0;
    rmq_err_t e;
    json_t *tab = adm_consume_stats(&k->c, group, NULL, &tps, &e);
    if (!tab) return con_fail(r, 502, "consume stats of %s: %s", group, why(k));
    json_t *queues = json_array();
    int64_t diff_total = 0;
    const char *key;
    json_t *v;
    json_object_foreach(tab, key, v) {
        rmq_mq_t mq;
        if (!adm_mq_parse(key, &mq)) continue;
        int64_t bo = adm_jint(v, "brokerOffset"), co = adm_jint(v, "consumerOffset");
        diff_total += bo - co;
        json_array_append_new(
            queues, json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I}", "topic", mq.topic, "brokerName",
                              mq.broker, "queueId", mq.queue_id, "brokerOffset", (json_int_t)bo,
                              "consumerOffset", (json_int_t)co, "lag", (json_int_t)(bo - co),
                              "lastTimestamp", (json_int_t)adm_jint(v, "lastTimestamp")));
    }
    json_decref(tab);
    con_series_watch_group(k, group);
    json_t *cc = adm_consumer_conn(&k->c, group, &e);
    json_t *out = json_pack("{s:s,s:o,s:f,s:I,s:b}", "group", group, "queues", queues, "consumeTps",
                            tps, "diffTotal", (json_int_t)diff_total, "online", cc != NULL);
    json_t *conns = json_incref(json_object_get(cc, "connectionSet"));
    json_object_set_new(out, "connections", conns ? conns : json_array());
    json_t *subs = json_array();
    json_object_foreach(json_object_get(cc, "subscriptionTable"), key, v) json_array_append_new(
        subs, json_pack("{s:s,s:s}", "topic", key, "subExpression", adm_jstr(v, "subString")));
    json_object_set_new(out, "subscriptions", subs);
    json_object_set_new(out, "consumeType", json_string(adm_jstr(cc, "consumeType")));
    json_object_set_new(out, "messageModel", json_string(adm_jstr(cc, "messageModel")));
    json_object_set_new(out, "consumeFromWhere", json_string(adm_jstr(cc, "consumeFromWhere")));
    json_decref(cc);
    return out;
}

static json_t *api_reset_offset(console_t *k, con_req_t *r) {
    char gb[160], tb[160], fb[8];
    const char *group = need(r, "group", gb, sizeof gb);
    if (!group || !check_name(r, "group", group)) return NULL;
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic || !check_name(r, "topic", topic)) return NULL;
    int64_t ts;
    char sb[40];
    if (!con_arg(r, "timestamp", sb, sizeof sb))
        return con_fail(r, 400,
                        "missing argument \"timestamp\" (now, ms or yyyy-MM-dd#HH:mm:ss:SSS)");
    if (!time_arg(r, "timestamp", 0, &ts)) return NULL;
    const char *fs = con_arg(r, "force", fb, sizeof fb);
    bool force = !fs || strcasecmp(fs, "false") != 0;
    rmq_mq_offset_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_admin_reset_offset(k->c.admin, group, topic, ts, force, &v, &n);
    if (e != RMQ_OK)
        return con_fail(r, e == RMQ_ERR_TOPIC_NOT_EXIST ? 404 : 502,
                        "reset offset of group %s on topic %s: %s", group, topic, why(k));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s,s:i,s:I}", "brokerName", v[i].mq.broker, "queueId",
                                        v[i].mq.queue_id, "offset", (json_int_t)v[i].offset));
    free(v);
    return json_pack("{s:s,s:s,s:b,s:I,s:o}", "group", group, "topic", topic, "force", force,
                     "timestamp", (json_int_t)ts, "offsets", arr);
}

static json_t *api_running_info(console_t *k, con_req_t *r) {
    char gb[160], cb[300];
    const char *group = need(r, "group", gb, sizeof gb);
    if (!group) return NULL;
    const char *cid = need(r, "clientId", cb, sizeof cb);
    if (!cid) return NULL;
    rmq_err_t e;
    json_t *info = adm_running_info(&k->c, group, cid, false, &e);
    if (!info) return con_fail(r, 502, "running info of %s in %s: %s", cid, group, why(k));
    return info;
}

/* ---- messages ------------------------------------------------------------------------------- */

static const char *nz(const char *s) {
    return s ? s : "";
}

static json_t *msg_row(const rmq_msg_t *m) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:I}", "msgId", nz(rmq_msg_id(m)),
                     "offsetMsgId", nz(rmq_msg_offset_id(m)), "topic", nz(rmq_msg_topic(m)), "tags",
                     nz(rmq_msg_tags(m)), "keys", nz(rmq_msg_keys(m)), "queueId",
                     rmq_msg_queue_id(m), "queueOffset", (json_int_t)rmq_msg_queue_offset(m),
                     "bornTimestamp", (json_int_t)rmq_msg_born_ts(m), "storeTimestamp",
                     (json_int_t)rmq_msg_store_ts(m));
}

static json_t *rec_row(const rmq_tool_msg_t *m) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:I}", "msgId", m->uniq, "offsetMsgId",
                     m->offset_id, "topic", m->topic, "tags", m->tags, "keys", m->keys, "queueId",
                     m->queue_id, "queueOffset", (json_int_t)m->queue_offset, "bornTimestamp",
                     (json_int_t)m->born_ts, "storeTimestamp", (json_int_t)m->store_ts);
}

static json_t *api_msgs_by_key(console_t *k, con_req_t *r) {
    char tb[160], kb[32];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic) return NULL;
    const char *key = need(r, "key", kb, sizeof kb);
    if (!key) return NULL;
    int64_t begin, end;
    if (!time_arg(r, "begin", 0, &begin) || !time_arg(r, "end", INT64_MAX, &end)) return NULL;
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_query_by_key(k->c.admin, topic, key, MAX_KEY_MSGS, begin, end, &msgs, &n);
    if (e != RMQ_OK && e != RMQ_ERR_QUERY_NOT_FOUND)
        return con_fail(r, e == RMQ_ERR_TOPIC_NOT_EXIST ? 404 : 502, "query %s by key %s: %s",
                        topic, key, why(k));
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < MAX_KEY_MSGS; i++) json_array_append_new(arr, msg_row(msgs[i]));
    if (msgs) rmq_msgs_destroy(msgs, n);
    return json_pack("{s:o,s:i}", "messages", arr, "max", MAX_KEY_MSGS);
}

/* Offset of topic:qid at ts on addr (SEARCH_OFFSET_BY_TIMESTAMP), -1 on failure. */
static int64_t search_offset(console_t *k, const char *addr, const char *topic, int qid,
                             int64_t ts) {
    char qs[16], tss[24];
    snprintf(qs, sizeof qs, "%d", qid);
    snprintf(tss, sizeof tss, "%lld", (long long)ts);
    const char *kv[] = {"topic", topic, "queueId", qs, "timestamp", tss, NULL};
    rmq_admin_resp_t *resp = NULL;
    int64_t off = -1;
    if (rmq_admin_invoke(k->c.admin, addr, RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, kv, NULL, 0, 0,
                         &resp) == RMQ_OK &&
        resp->code == 0 && rmq_admin_resp_get(resp, "offset"))
        off = strtoll(rmq_admin_resp_get(resp, "offset"), NULL, 10);
    rmq_admin_resp_destroy(resp);
    return off;
}

/* Messages of topic stored in [begin, end]: per queue, the offsets at begin and end by time,
 * then pulls between them (no commit), up to MAX_TIME_RANGE_MSGS in all. */
static json_t *api_msgs_by_time(console_t *k, con_req_t *r) {
    char tb[160];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic) return NULL;
    int64_t now = now_ms(), begin, end;
    if (!time_arg(r, "begin", now - 3600 * 1000, &begin) || !time_arg(r, "end", now, &end))
        return NULL;
    if (end < begin) return con_fail(r, 400, "\"end\" is before \"begin\"");
    char **names = NULL;
    char **addrs = topic_brokers(k, r, topic, &names);
    if (!addrs) return NULL;
    json_t *route = adm_route_of(&k->c, topic);
    json_t *arr = json_array();
    bool truncated = false;
    for (size_t b = 0; addrs[b] && !truncated; b++) {
        int nq = 0;
        size_t i;
        json_t *q;
        json_array_foreach(json_object_get(route, "queueDatas"), i,
                           q) if (!strcmp(adm_jstr(q, "brokerName"), names[b])) nq =
            (int)adm_jint(q, "readQueueNums");
        for (int qid = 0; qid < nq && !truncated; qid++) {
            int64_t off = search_offset(k, addrs[b], topic, qid, begin);
            int64_t stop = search_offset(k, addrs[b], topic, qid, end);
            if (off < 0 || stop < 0) continue;
            for (int guard = 0; off <= stop && guard < 1000; guard++) {
                rmq_tool_msg_t *v = NULL;
                size_t n = 0;
                int64_t next = off;
                rmq_err_t e =
                    adm_pull_raw(&k->c, addrs[b], TOOLS_GROUP, topic, qid, off, 32, &v, &n, &next);
                if (e != RMQ_OK || n == 0) {
                    rmq_tool_msgs_free(v, n);
                    break;
                }
                bool past = false;
                for (size_t m = 0; m < n; m++) {
                    if (v[m].store_ts > end) past = true;
                    if (v[m].store_ts < begin || v[m].store_ts > end) continue;
                    if (json_array_size(arr) >= MAX_TIME_RANGE_MSGS) {
                        truncated = true;
                        break;
                    }
                    json_t *row = rec_row(&v[m]);
                    json_object_set_new(row, "brokerName", json_string(names[b]));
                    json_array_append_new(arr, row);
                }
                off = next > off ? next : off + (int64_t)n;
                rmq_tool_msgs_free(v, n);
                if (past || truncated) break;
            }
        }
    }
    json_decref(route);
    strv_free(addrs);
    strv_free(names);
    return json_pack("{s:o,s:b,s:i,s:I,s:I}", "messages", arr, "truncated", truncated, "max",
                     MAX_TIME_RANGE_MSGS, "begin", (json_int_t)begin, "end", (json_int_t)end);
}

/* Java Map.toString "{k=v, k2=v2}" -> object (a value holding ", " is cut there). */
static json_t *props_object(const char *s) {
    json_t *o = json_object();
    size_t len = strlen(s);
    if (len < 2 || s[0] != '{') return o;
    char *d = strndup(s + 1, len - 2);
    char *save = NULL;
    for (char *t = strtok_r(d, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        char *eq = strchr(t, '=');
        if (!eq) continue;
        *eq = 0;
        json_object_set_new(o, t, json_string(eq + 1));
    }
    free(d);
    return o;
}

static char *b64(const uint8_t *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static json_t *api_message(console_t *k, con_req_t *r) {
    char ib[32], tb[160];
    const char *id = need(r, "id", ib, sizeof ib);
    if (!id) return NULL;
    const char *topic = con_arg(r, "topic", tb, sizeof tb);
    if (topic && !*topic) topic = NULL;
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = adm_find_msg_by_id(&k->c, id, topic, &v, &n);
    if (e != RMQ_OK || n == 0) {
        rmq_tool_msgs_free(v, n);
        return con_fail(r, e == RMQ_ERR__FAIL ? 502 : 404, "no message with id %s%s%s: %s", id,
                        topic ? " in topic " : "", topic ? topic : "",
                        e == RMQ_ERR__FAIL ? why(k)
                                           : "neither a stored offset id nor a unique key");
    }
    const rmq_tool_msg_t *m = &v[0];
    json_t *o = rec_row(m);
    json_object_set_new(o, "commitLogOffset", json_integer(m->phys_offset));
    json_object_set_new(o, "reconsumeTimes", json_integer(m->reconsume_times));
    json_object_set_new(o, "sysFlag", json_integer(m->sysflag));
    json_object_set_new(o, "bornHost", json_string(m->born_host));
    json_object_set_new(o, "storeHost", json_string(m->store_host));
    json_object_set_new(o, "properties", props_object(m->props));
    json_object_set_new(o, "bodyLength", json_integer((json_int_t)m->body_len));
    /* text when the body is UTF-8 (jansson refuses anything else), always base64 and hex */
    json_t *text = json_stringn((const char *)m->body, m->body_len);
    json_object_set_new(o, "bodyText", text ? text : json_null());
    char *b = b64(m->body, m->body_len);
    json_object_set_new(o, "bodyBase64", json_string(b ? b : ""));
    free(b);
    size_t hn = m->body_len > 65536 ? 65536 : m->body_len;
    char *hex = malloc(hn * 2 + 1);
    if (hex) {
        for (size_t i = 0; i < hn; i++) snprintf(hex + 2 * i, 3, "%02x", m->body[i]);
        hex[2 * hn] = 0;
        json_object_set_new(o, "bodyHex", json_string(hex));
        free(hex);
    }
    adm_track_consumers(&k->c, m, o); /* o.tracks: which groups consumed it */
    rmq_tool_msgs_free(v, n);
    return o;
}

/* CONSUME_MESSAGE_DIRECTLY: a group's client (clientId, else its first online one) consumes
 * the message by its offset id through the broker that stored it. */
static json_t *api_message_resend(console_t *k, con_req_t *r) {
    char ib[32], gb[160], cb[300];
    const char *id = need(r, "id", ib, sizeof ib);
    if (!id) return NULL;
    const char *group = need(r, "group", gb, sizeof gb);
    if (!group || !check_name(r, "group", group)) return NULL;
    const char *cid = con_arg(r, "clientId", cb, sizeof cb);
    rmq_msg_host_t host;
    int64_t off;
    if (rmq_msg_offset_id_parse(id, &host, &off) != RMQ_OK || host.ip_len != 4)
        return con_fail(r, 400, "%s is not an offset message id (offsetMsgId)", id);
    char addr[64], first[300] = "";
    snprintf(addr, sizeof addr, "%u.%u.%u.%u:%u", host.ip[0], host.ip[1], host.ip[2], host.ip[3],
             (unsigned)host.port);
    if (!cid || !*cid) {
        rmq_err_t e;
        json_t *cc = adm_consumer_conn(&k->c, group, &e);
        json_t *c0 = json_array_get(json_object_get(cc, "connectionSet"), 0);
        snprintf(first, sizeof first, "%s", adm_jstr(c0, "clientId"));
        json_decref(cc);
        if (!first[0]) return con_fail(r, 409, "consumer group %s has no online client", group);
        cid = first;
    }
    const char *kv[] = {"consumerGroup", group, "clientId", cid, "msgId", id, NULL};
    rmq_err_t e;
    json_t *res =
        adm_broker_call(&k->c, addr, RMQ_REQ_CONSUME_MESSAGE_DIRECTLY, kv, NULL, "consume", &e);
    if (!res) return con_fail(r, 502, "consume %s directly on %s: %s", id, cid, why(k));
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:O}", "msgId", id, "group", group, "clientId", cid, "result", res);
    json_decref(res);
    return out;
}

/* ---- dead letters ------------------------------------------------------------------------- */

static json_t *dlq(console_t *k, con_req_t *r, bool resend) {
    char gb[160], ib[32];
    const char *group = need(r, "group", gb, sizeof gb);
    if (!group || !check_name(r, "group", group)) return NULL;
    const char *only = con_arg(r, "id", ib, sizeof ib);
    if (only && !*only) only = NULL;
    long long max;
    if (!int_arg(r, "max", resend ? 1000 : 200, 1, 10000, &max)) return NULL;
    json_t *arr = json_array();
    int matched = 0, failed = 0;
    if (adm_dlq_json(&k->c, group, only, (int)max, resend, arr, &matched, &failed) != 0) {
        json_decref(arr);
        return con_fail(r, 404, "%s", adm_last_failure());
    }
    if (resend)
        return json_pack("{s:s,s:o,s:i,s:i}", "group", group, "resent", arr, "matched", matched,
                         "failed", failed);
    return json_pack("{s:s,s:o}", "group", group, "messages", arr);
}

static json_t *api_dlq(console_t *k, con_req_t *r) {
    return dlq(k, r, false);
}

static json_t *api_dlq_resend(console_t *k, con_req_t *r) {
    return dlq(k, r, true);
}

/* ---- send a test message ------------------------------------------------------------------ */

static json_t *api_send(console_t *k, con_req_t *r) {
    char tb[160], b1[32], b2[32], b3[32];
    const char *topic = need(r, "topic", tb, sizeof tb);
    if (!topic || !check_name(r, "topic", topic)) return NULL;
    const char *body = need(r, "body", b1, sizeof b1);
    if (!body) return NULL;
    const char *tags = con_arg(r, "tags", b2, sizeof b2), *keys = con_arg(r, "keys", b3, sizeof b3);
    rmq_conf_t *conf = rmq_tool_conf_new(k->c.ns);
    char err[256];
    if (!conf) return con_fail(r, 500, "bad NameServer address");
    rmq_conf_set(conf, "producerGroup", "TOOLS_PRODUCER", err, sizeof err);
    rmq_conf_set(conf, "retryTimesWhenSendFailed", "0", err, sizeof err);
    rmq_producer_t *p = rmq_producer_new(conf, err, sizeof err);
    if (!p) {
        rmq_conf_destroy(conf);
        return con_fail(r, 502, "cannot start a producer: %s", err);
    }
    rmq_msg_t *m = rmq_msg_new(topic, tags && *tags ? tags : NULL, keys && *keys ? keys : NULL,
                               body, strlen(body), RMQ_MSG_F_COPY);
    rmq_send_result_t res;
    memset(&res, 0, sizeof res);
    rmq_err_t e = m ? rmq_send_sync(p, m, &res) : RMQ_ERR__FAIL;
    rmq_msg_destroy(m);
    rmq_producer_destroy(p);
    if (e != RMQ_OK)
        return con_fail(r, e == RMQ_ERR_TOPIC_NOT_EXIST || e == RMQ_ERR__NO_ROUTE ? 404 : 502,
                        "send to topic %s: %s", topic, rmq_strerror(e));
    static const char *st[] = {"SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT",
                               "SLAVE_NOT_AVAILABLE"};
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:I}", "sendStatus",
                     (unsigned)res.status < 4 ? st[res.status] : "UNKNOWN", "msgId", res.msg_id,
                     "offsetMsgId", res.offset_msg_id, "brokerName", res.mq.broker, "queueId",
                     res.mq.queue_id, "queueOffset", (json_int_t)res.offset);
}

/* ---- charts --------------------------------------------------------------------------------- */

static json_t *api_series(console_t *k, con_req_t *r) {
    (void)r;
    return json_pack("{s:i,s:o}", "intervalMs", k->sample_ms, "points", con_series_json(k));
}

const con_route_t con_api_routes[] = {
    {"cluster", false, api_cluster},
    {"topics", false, api_topics},
    {"topic/create", true, api_topic_create},
    {"topic/delete", true, api_topic_delete},
    {"topic/route", false, api_topic_route},
    {"topic/status", false, api_topic_status},
    {"groups", false, api_groups},
    {"group", false, api_group},
    {"group/reset-offset", true, api_reset_offset},
    {"group/running-info", false, api_running_info},
    {"messages/by-key", false, api_msgs_by_key},
    {"messages/by-time", false, api_msgs_by_time},
    {"message", false, api_message},
    {"message/resend", true, api_message_resend},
    {"dlq", false, api_dlq},
    {"dlq/resend", true, api_dlq_resend},
    {"send", true, api_send},
    {"series", false, api_series},
    {NULL, false, NULL},
};

const con_route_t *con_api_route(const char *path) {
    for (const con_route_t *r = con_api_routes; r->path; r++)
        if (!strcmp(r->path, path)) return r;
    return NULL;
}
