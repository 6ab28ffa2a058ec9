/* mqadmin statistics and housekeeping: statsAll, brokerConsumeStats, queryCq,
 * producerConnection, getConsumerConfig, allocateMQ, cleanExpiredCQ, cleanUnusedTopic,
 * deleteExpiredCommitLog (RocketMQ 4.9.8's StatsAllSubCommand, BrokerConsumeStatsSubCommad,
 * QueryConsumeQueueCommand, ProducerConnectionSubCommand, GetConsumerConfigSubCommand,
 * AllocateMQSubCommand, CleanExpiredCQSubCommand, CleanUnusedTopicCommand,
 * DeleteExpiredCommitLogSubCommand): same options and column layouts, plus --json. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

/* ---- statsAll --------------------------------------------------------------------------- */

/* statsMinute.tps and the 24 h sum (day, else hour, else minute: compute24HourSum) of one
 * VIEW_BROKER_STATS_DATA; false when the broker has no such counter. */
static bool view_stats(ctx_t *c, const char *addr, const char *name, const char *key, double *tps,
                       long long *day) {
    const char *kv[] = {"statsName", name, "statsKey", key, NULL};
    rmq_err_t e;
    json_t *bsd = adm_broker_call(c, addr, RMQ_REQ_VIEW_BROKER_STATS_DATA, kv, NULL, "", &e);
    if (!bsd) return false;
    *tps += adm_jreal(json_object_get(bsd, "statsMinute"), "tps");
    static const char *const wins[] = {"statsDay", "statsHour", "statsMinute"};
    for (int i = 0; i < 3; i++) {
        long long s = (long long)adm_jint(json_object_get(bsd, wins[i]), "sum");
        if (s) {
            *day += s;
            break;
        }
    }
    json_decref(bsd);
    return true;
}

static void stats_topic(ctx_t *c, const char *topic, bool active, json_t *rows) {
    json_t *route = adm_route_of(c, topic);
    if (!route) return;
    json_t *masters = json_array();
    size_t i;
    json_t *bd;
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *m = json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"), "0"));
        if (m) json_array_append_new(masters, json_string(m));
    }
    json_decref(route);
    double in_tps = 0;
    long long in_day = 0;
    json_t *a;
    json_array_foreach(masters, i, a)
        view_stats(c, json_string_value(a), "TOPIC_PUT_NUMS", topic, &in_tps, &in_day);
    json_t *groups = NULL;
    if (json_array_size(masters)) {
        const char *kv[] = {"topic", topic, NULL};
        rmq_err_t e;
        json_t *gl = adm_broker_call(c, json_string_value(json_array_get(masters, 0)),
                                     RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO, kv, NULL, "", &e);
        groups = json_incref(json_object_get(gl, "groupList"));
        json_decref(gl);
    }
    if (json_array_size(groups) == 0) {
        if (!active || in_day > 0) {
            if (rows)
                json_array_append_new(rows,
                                      json_pack("{s:s,s:s,s:i,s:f,s:n,s:I,s:s}", "topic", topic,
                                                "consumerGroup", "", "accumulation", 0, "inTps",
                                                in_tps, "outTps", "inMsg24Hour", (json_int_t)in_day,
                                                "outMsg24Hour", "NO_CONSUMER"));
            else
                printf("%-64s  %-64s %12d %11.2f %11s %14lld %14s\n", topic, "", 0, in_tps, "",
                       in_day, "NO_CONSUMER");
        }
    } else {
        size_t ng;
        json_t *g;
        json_array_foreach(groups, ng, g) {
            const char *group = json_string_value(g);
            char key[600];
            snprintf(key, sizeof key, "%s@%s", topic, group);
            double out_tps = 0;
            long long out_day = 0, acc = 0;
            json_array_foreach(masters, i, a) {
                const char *addr = json_string_value(a);
                view_stats(c, addr, "GROUP_GET_NUMS", key, &out_tps, &out_day);
                const char *kv[] = {"consumerGroup", group, "topic", topic, NULL};
                rmq_err_t e;
                json_t *cs = adm_broker_call(c, addr, RMQ_REQ_GET_CONSUME_STATS, kv, NULL, "", &e);
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(cs, "offsetTable"), k, v) acc +=
                    adm_jint(v, "brokerOffset") - adm_jint(v, "consumerOffset");
                json_decref(cs);
            }
            if (acc < 0) acc = 0;
            if (active && in_day <= 0 && out_day <= 0) continue;
            if (rows)
                json_array_append_new(rows, json_pack("{s:s,s:s,s:I,s:f,s:f,s:I,s:I}", "topic",
                                                      topic, "consumerGroup", group, "accumulation",
                                                      (json_int_t)acc, "inTps", in_tps, "outTps",
                                                      out_tps, "inMsg24Hour", (json_int_t)in_day,
                                                      "outMsg24Hour", (json_int_t)out_day));
            else
                printf("%-64s  %-64s %12lld %11.2f %11.2f %14lld %14lld\n", topic, group, acc,
                       in_tps, out_tps, in_day, out_day);
        }
    }
    json_decref(groups);
    json_decref(masters);
}

int adm_cmd_stats_all(ctx_t *c) {
    json_t *topics = adm_topic_list(c);
    if (!topics) return 1;
    bool active = adm_opt(c, 'a', NULL) != NULL;
    const char *only = adm_opt(c, 't', NULL);
    json_t *rows = c->json ? json_array() : NULL;
    if (!rows)
        printf("%-64s  %-64s %12s %11s %11s %14s %14s\n", "#Topic", "#Consumer Group",
               "#Accumulation", "#InTPS", "#OutTPS", "#InMsg24Hour", "#OutMsg24Hour");
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t) {
        const char *topic = json_string_value(t);
        if (!strncmp(topic, "%RETRY%", 7) || !strncmp(topic, "%DLQ%", 5)) continue;
        if (only && *only && strcmp(topic, only)) continue;
        stats_topic(c, topic, active, rows);
    }
    if (rows) adm_print_json(rows);
    json_decref(rows);
    json_decref(topics);
    return 0;
}

/* ---- brokerConsumeStats ------------------------------------------------------------------ */

/* Raw call with a timeout; parsed body or NULL after an error line. */
static json_t *call_timeout(ctx_t *c, const char *addr, int code, const char *const *kv,
                            int timeout_ms, const char *what) {
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, kv, NULL, 0, timeout_ms, &r);
    if (e != RMQ_OK) {
        adm_fail("%s (broker %s): %s", what, addr, rmq_strerror(e));
        return NULL;
    }
    json_t *j = NULL;
    if (r->code != 0) {
        adm_fail("%s (broker %s): %s", what, addr, r->remark ? r->remark : rmq_strerror(r->code));
    } else {
        char *fixed = r->body ? rmq_json_fix((const char *)r->body, r->body_len) : NULL;
        j = adm_parse_json(fixed);
        free(fixed);
        if (!j) adm_fail("%s (broker %s): malformed answer", what, addr);
    }
    rmq_admin_resp_destroy(r);
    return j;
}

int adm_cmd_broker_consume_stats(ctx_t *c) {
    const char *addr = adm_opt(c, 'b', NULL), *os = adm_opt(c, 'o', NULL);
    const char *ts = adm_opt(c, 't', NULL), *ls = adm_opt(c, 'l', NULL);
    long long timeout = ts ? strtoll(ts, NULL, 10) : 50000, level = ls ? strtoll(ls, NULL, 10) : 0;
    if (timeout <= 0) return adm_fail("bad timeoutMillis %s", ts);
    bool order = os && strcasecmp(os, "true") == 0;
    const char *kv[] = {"isOrder", order ? "true" : "false", NULL};
    json_t *csl = call_timeout(c, addr, RMQ_REQ_GET_BROKER_CONSUME_STATS, kv,
                               timeout > 600000 ? 600000 : (int)timeout, "broker consume stats");
    if (!csl) return 1;
    if (c->json) {
        adm_print_json(csl);
        json_decref(csl);
        return 0;
    }
    printf("%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Group",
           "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(csl, "consumeStatsList"), i, m) {
        const char *group;
        json_t *list;
        json_object_foreach(m, group, list) {
            size_t k;
            json_t *cs;
            json_array_foreach(list, k, cs) {
                json_t *tab = json_object_get(cs, "offsetTable");
                size_t n = json_object_size(tab), j = 0;
                adm_qrow_t *rows = calloc(n + 1, sizeof *rows);
                const char *key;
                json_t *v;
                json_object_foreach(tab, key, v) {
                    if (!rows || !adm_mq_parse(key, &rows[j].mq)) continue;
                    rows[j].a = adm_jint(v, "brokerOffset");
                    rows[j].b = adm_jint(v, "consumerOffset");
                    rows[j].ts = adm_jint(v, "lastTimestamp");
                    j++;
                }
                if (rows) qsort(rows, j, sizeof *rows, adm_qrow_cmp);
                for (size_t q = 0; q < j; q++) {
                    long long diff = (long long)(rows[q].a - rows[q].b);
                    if (diff < level || rows[q].ts <= 0) continue;
                    char lt[40];
                    rmq_tool_fmt_time(rows[q].ts, lt, sizeof lt);
                    lt[19] = 0;
                    printf("%-64s  %-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n",
                           rows[q].mq.topic, group, rows[q].mq.broker, rows[q].mq.queue_id,
                           (long long)rows[q].a, (long long)rows[q].b, diff, lt);
                }
                free(rows);
            }
        }
    }
    printf("\nDiff Total: %lld\n", (long long)adm_jint(csl, "totalDiff"));
    json_decref(csl);
    return 0;
}

/* ---- queryCq ----------------------------------------------------------------------------- */

int adm_cmd_query_cq(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *addr = adm_opt(c, 'b', NULL);
    const char *group = adm_opt(c, 'g', NULL), *is = adm_opt(c, 'i', NULL);
    int qid, count;
    if (adm_opt_int(c, 'q', 0, &qid) || adm_opt_int(c, 'c', 10, &count)) return 1;
    char *end;
    long long index = strtoll(is, &end, 10);
    if (*end || end == is) return adm_fail("option -i needs a number, got \"%s\"", is);
    char abuf[256];
    if (!addr || !*addr) {
        json_t *route = adm_route_of(c, topic);
        if (!route) return 1;
        const char *m = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(route, "brokerDatas"), 0),
                            "brokerAddrs"),
            "0"));
        snprintf(abuf, sizeof abuf, "%s", m ? m : "");
        json_decref(route);
        if (!*abuf) return adm_fail("No topic route data!");
        addr = abuf;
    }
    char qs[16], ix[24], cs[16];
    snprintf(qs, sizeof qs, "%d", qid);
    snprintf(ix, sizeof ix, "%lld", index);
    snprintf(cs, sizeof cs, "%d", count);
    const char *kv[] = {"topic", topic, "queueId",       qs,    "index", ix,
                        "count", cs,    "consumerGroup", group, NULL};
    rmq_err_t e;
    json_t *body = adm_broker_call(c, addr, RMQ_REQ_QUERY_CONSUME_QUEUE, kv, NULL, "", &e);
    if (!body)
        return adm_fail("query consume queue %d@%s (broker %s): %s", qid, topic, addr,
                        adm_why(c, e));
    if (c->json) {
        adm_print_json(body);
        json_decref(body);
        return 0;
    }
    json_t *sd = json_object_get(body, "subscriptionData");
    if (sd) {
        char *s = json_dumps(sd, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        printf("Subscription data: \n%s\n", s ? s : "");
        free(s);
        printf("======================================\n");
    }
    if (json_object_get(body, "filterData")) {
        printf("Filter data: \n%s\n", adm_jstr(body, "filterData"));
        printf("======================================\n");
    }
    printf("Queue data: \nmax: %lld, min: %lld\n", (long long)adm_jint(body, "maxQueueIndex"),
           (long long)adm_jint(body, "minQueueIndex"));
    printf("======================================\n");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(body, "queueData"), i, q) {
        printf("idx: %lld\n", index + (long long)i);
        printf("ConsumeQueueData{physicOffset=%lld, physicSize=%lld, tagsCode=%lld, "
               "extendDataJson='null', bitMap='null', eval=%s, msg='null'}\n",
               (long long)adm_jint(q, "physicOffset"), (long long)adm_jint(q, "physicSize"),
               (long long)adm_jint(q, "tagsCode"),
               json_is_true(json_object_get(q, "eval")) ? "true" : "false");
        printf("======================================\n");
    }
    json_decref(body);
    return 0;
}

/* ---- producerConnection ------------------------------------------------------------------ */

static const char *lang_of(json_t *cn) {
    json_t *l = json_object_get(cn, "language");
    if (json_is_string(l)) return json_string_value(l);
    static const char *const names[] = {"JAVA",   "CPP",  "DOTNET", "PYTHON", "DELPHI",
                                        "ERLANG", "RUBY", "OTHER",  "HTTP",   "GO"};
    int i = (int)json_integer_value(l);
    return i >= 0 && i < 10 ? names[i] : "OTHER";
}

int adm_cmd_producer_connection(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL), *topic = adm_opt(c, 't', NULL);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL);
    if (e != RMQ_OK) return adm_fail("topic %s: %s", topic, adm_why(c, e));
    const char *kv[] = {"producerGroup", group, NULL};
    json_t *pc = NULL;
    for (char **p = addrs; *p && !pc; p++)
        pc = adm_broker_call(c, *p, RMQ_REQ_GET_PRODUCER_CONNECTION_LIST, kv, NULL, "", &e);
    for (char **p = addrs; *p; p++) free(*p);
    free(addrs);
    if (!pc) return adm_fail("producer group %s: %s", group, adm_why(c, e));
    if (c->json) {
        adm_print_json(pc);
        json_decref(pc);
        return 0;
    }
    size_t i;
    json_t *cn;
    json_array_foreach(json_object_get(pc, "connectionSet"), i, cn) {
        int v = (int)adm_jint(cn, "version");
        char ver[32];
        if (v == 409)
            snprintf(ver, sizeof ver, "V4_9_8");
        else
            snprintf(ver, sizeof ver, "V%d", v);
        printf("%04zu  %-32s %-22s %-8s %s\n", i + 1, adm_jstr(cn, "clientId"),
               adm_jstr(cn, "clientAddr"), lang_of(cn), ver);
    }
    json_decref(pc);
    return 0;
}

/* ---- getConsumerConfig ------------------------------------------------------------------- */

int adm_cmd_get_consumer_config(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL);
    json_t *ci = adm_cluster_info(c);
    if (!ci) return 1;
    static const char *const fields[] = {"groupName",
                                         "consumeEnable",
                                         "consumeFromMinEnable",
                                         "consumeBroadcastEnable",
                                         "retryQueueNums",
                                         "retryMaxTimes",
                                         "brokerId",
                                         "whichBrokerWhenConsumeSlowly",
                                         "notifyConsumerIdsChangedEnable"};
    json_t *out = c->json ? json_array() : NULL;
    json_t *clusters = json_object_get(ci, "clusterAddrTable");
    size_t nb;
    const char **brokers = adm_sorted_keys(json_object_get(ci, "brokerAddrTable"), &nb);
    int rc = 0;
    for (size_t i = 0; i < nb; i++) {
        json_t *bd = json_object_get(json_object_get(ci, "brokerAddrTable"), brokers[i]);
        const char *addr = adm_bd_master(bd);
        if (!addr) continue;
        const char *cluster = "", *cn;
        json_t *names;
        json_object_foreach(clusters, cn, names) {
            size_t k;
            json_t *n;
            json_array_foreach(names, k, n) if (!strcmp(json_string_value(n), brokers[i])) cluster =
                cn;
        }
        rmq_err_t e;
        json_t *all =
            adm_broker_call(c, addr, RMQ_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, NULL, "", &e);
        if (!all) {
            rc = adm_fail("subscription groups of broker %s (%s): %s", brokers[i], addr,
                          adm_why(c, e));
            continue;
        }
        json_t *g = json_object_get(json_object_get(all, "subscriptionGroupTable"), group);
        if (g && out) {
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:O}", "clusterName", cluster,
                                                 "brokerName", brokers[i], "brokerAddr", addr,
                                                 "subscriptionGroupConfig", g));
        } else if (g) {
            printf("=============================%s:%s=============================\n", cluster,
                   brokers[i]);
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                json_t *v = json_object_get(g, fields[f]);
                char num[32] = "";
                const char *s =
                    json_is_string(v)  ? json_string_value(v)
                    : json_is_true(v)  ? "true"
                    : json_is_false(v) ? "false"
                    : json_is_integer(v)
                        ? (snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), num)
                        : "";
                printf("%-40s=  %s\n", fields[f], s);
            }
        }
        json_decref(all);
    }
    if (out) adm_print_json(out);
    json_decref(out);
    free(brokers);
    json_decref(ci);
    return rc;
}

/* ---- allocateMQ -------------------------------------------------------------------------- */

int adm_cmd_allocate_mq(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *ips = adm_opt(c, 'i', NULL);
    json_t *route = adm_route_of(c, topic);
    if (!route) return 1;
    size_t nq = 0, cap = 0, i;
    rmq_mq_t *mqs = NULL;
    json_t *q;
    json_array_foreach(json_object_get(route, "queueDatas"), i, q) {
        if (!(adm_jint(q, "perm") & 4)) continue; /* readable queues, as the subscribe info */
        for (int k = 0; k < (int)adm_jint(q, "readQueueNums"); k++) {
            if (nq == cap) {
                cap = cap ? cap * 2 : 16;
                rmq_mq_t *n = realloc(mqs, cap * sizeof *n);
                if (!n) break;
                mqs = n;
            }
            memset(&mqs[nq], 0, sizeof mqs[nq]);
            snprintf(mqs[nq].topic, sizeof mqs[nq].topic, "%s", topic);
            snprintf(mqs[nq].broker, sizeof mqs[nq].broker, "%s", adm_jstr(q, "brokerName"));
            mqs[nq++].queue_id = k;
        }
    }
    json_decref(route);
    for (size_t a = 0; a + 1 < nq; a++) /* a stable order: broker, then queue */
        for (size_t b = a + 1; b < nq; b++)
            if (adm_mq_cmp(&mqs[b], &mqs[a]) < 0) {
                rmq_mq_t t = mqs[a];
                mqs[a] = mqs[b];
                mqs[b] = t;
            }
    char *list = strdup(ips);
    json_t *cids = json_array();
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        json_array_append_new(cids, json_string(tok));
    free(list);
    size_t ncid = json_array_size(cids);
    json_t *result = json_object();
    json_t *cid;
    json_array_foreach(cids, i, cid) { /* AllocateMessageQueueAveragely */
        size_t mod = ncid ? nq % ncid : 0;
        size_t avg = nq <= ncid ? 1 : (mod > 0 && i < mod ? nq / ncid + 1 : nq / ncid);
        size_t start = (mod > 0 && i < mod) ? i * avg : i * avg + mod;
        size_t range = start < nq ? (avg < nq - start ? avg : nq - start) : 0;
        json_t *arr = json_array();
        for (size_t k = 0; k < range; k++) {
            const rmq_mq_t *m = &mqs[(start + k) % nq];
            json_array_append_new(arr, json_pack("{s:s,s:i,s:s}", "brokerName", m->broker,
                                                 "queueId", m->queue_id, "topic", m->topic));
        }
        json_object_set_new(result, json_string_value(cid), arr);
    }
    json_t *rr = json_pack("{s:o}", "result", result);
    char *s = json_dumps(rr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (c->json)
        adm_print_json(rr);
    else
        printf("%s\n", s ? s : "");
    free(s);
    json_decref(rr);
    json_decref(cids);
    free(mqs);
    return 0;
}

/* ---- housekeeping ------------------------------------------------------------------------ */

/* Send code to -b broker or every master of -c cluster; "success" when every one said so (as
 * RocketMQ prints it), then each broker's remark of what it did. */
static int housekeeping(ctx_t *c, int code, const char *what) {
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    bool all_ok = json_array_size(targets) > 0;
    json_t *res = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        const char *addr = json_string_value(t);
        rmq_admin_resp_t *r = NULL;
        rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, NULL, NULL, 0, 0, &r);
        bool ok = e == RMQ_OK && r->code == 0;
        const char *why = e != RMQ_OK    ? rmq_strerror(e)
                          : r->remark    ? r->remark
                          : r->code != 0 ? rmq_strerror(r->code)
                                         : "";
        json_array_append_new(
            res, json_pack("{s:s,s:b,s:s}", "brokerAddr", addr, "result", ok, "remark", why));
        all_ok = all_ok && ok;
        rmq_admin_resp_destroy(r);
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:b,s:o}", "command", what, "result", all_ok, "brokers", res);
        adm_print_json(o);
        json_decref(o);
    } else {
        printf("%s\n", all_ok ? "success" : "false");
        json_array_foreach(res, i, t) printf(
            "%s: %s%s\n", adm_jstr(t, "brokerAddr"),
            json_is_true(json_object_get(t, "result")) ? "" : "FAILED ", adm_jstr(t, "remark"));
        json_decref(res);
    }
    json_decref(targets);
    return all_ok ? 0 : 1;
}

int adm_cmd_clean_expired_cq(ctx_t *c) {
    return housekeeping(c, RMQ_REQ_CLEAN_EXPIRED_CONSUMEQUEUE, "cleanExpiredCQ");
}

int adm_cmd_clean_unused_topic(ctx_t *c) {
    return housekeeping(c, RMQ_REQ_CLEAN_UNUSED_TOPIC, "cleanUnusedTopic");
}

int adm_cmd_delete_expired_commitlog(ctx_t *c) {
    return housekeeping(c, RMQ_REQ_DELETE_EXPIRED_COMMITLOG, "deleteExpiredCommitLog");
}
