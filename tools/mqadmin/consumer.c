/* mqadmin consumer-group commands: consumerProgress, consumerConnection, resetOffsetByTime,
 * updateSubGroup. */
#include <errno.h>
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

/* ---- consumer / group ------------------------------------------------------------------ */

static const char *version_desc(int v) {
    static char buf[32];
    if (v == 409) return "V4_9_8";
    snprintf(buf, sizeof buf, "V%d", v);
    return buf;
}

/* Masters of every broker the NameServer knows (new strv, NULL-terminated; NULL on error). */
static char **all_masters(ctx_t *c) {
    json_t *ci = adm_cluster_info(c);
    if (!ci) return NULL;
    json_t *tab = json_object_get(ci, "brokerAddrTable");
    char **out = calloc(json_object_size(tab) + 1, sizeof *out);
    size_t n = 0;
    const char *k;
    json_t *bd;
    json_object_foreach(tab, k, bd) {
        const char *m = adm_bd_master(bd);
        if (out && m) out[n++] = strdup(m);
    }
    json_decref(ci);
    return out;
}

/* Merged ConsumeStats of group over the brokers of %RETRY%group (or topic's when given); a
 * group no consumer ever started has no retry topic yet (its offsets may come from
 * resetOffsetByTime): then every broker is asked. */
json_t *adm_consume_stats(ctx_t *c, const char *group, const char *topic, double *tps,
                          rmq_err_t *err) {
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    char **addrs = NULL;
    *tps = 0;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic ? topic : retry, &addrs, NULL);
    if (e == RMQ_ERR_TOPIC_NOT_EXIST && !topic) {
        if (!(addrs = all_masters(c))) {
            *err = RMQ_ERR__FAIL;
            return NULL;
        }
        e = RMQ_OK;
    }
    if (e != RMQ_OK) {
        *err = e;
        return NULL;
    }
    const char *kv[] = {"consumerGroup", group, topic ? "topic" : NULL, topic, NULL};
    json_t *all = json_object();
    for (char **p = addrs; *p; p++) {
        json_t *cs = adm_broker_call(c, *p, RMQ_REQ_GET_CONSUME_STATS, kv, NULL, "", &e);
        if (!cs) continue;
        *tps += adm_jreal(cs, "consumeTps");
        json_object_update(all, json_object_get(cs, "offsetTable"));
        json_decref(cs);
    }
    for (char **p = addrs; *p; p++) free(*p);
    free(addrs);
    *err = RMQ_OK;
    return all;
}

json_t *adm_consumer_conn(ctx_t *c, const char *group, rmq_err_t *err) {
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
        cc = adm_broker_call(c, *p, RMQ_REQ_GET_CONSUMER_CONNECTION_LIST, kv, NULL, "", &e);
    for (char **p = addrs; *p; p++) free(*p);
    free(addrs);
    *err = e;
    return cc;
}

/* "topic\001broker\001qid" -> client IP (the client id up to '@') of every queue the group's
 * online clients hold, from their running info; NULL when none answered. */
static json_t *queue_owners(ctx_t *c, const char *group) {
    rmq_err_t e;
    json_t *cc = adm_consumer_conn(c, group, &e);
    if (!cc) return NULL;
    json_t *own = json_object();
    size_t i;
    json_t *cn;
    json_array_foreach(json_object_get(cc, "connectionSet"), i, cn) {
        const char *id = adm_jstr(cn, "clientId");
        json_t *info = adm_running_info(c, group, id, false, &e);
        if (!info) continue;
        char ip[256];
        snprintf(ip, sizeof ip, "%s", id);
        char *at = strchr(ip, '@');
        if (at) *at = 0;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(info, "mqTable"), k, v) {
            rmq_mq_t mq;
            if (!adm_mq_parse(k, &mq)) continue;
            char key[400];
            snprintf(key, sizeof key, "%s\001%s\001%d", mq.topic, mq.broker, mq.queue_id);
            json_object_set_new(own, key, json_string(ip));
        }
        json_decref(info);
    }
    json_decref(cc);
    return own;
}

static const char *owner_of(json_t *owners, const rmq_mq_t *mq) {
    char key[400];
    snprintf(key, sizeof key, "%s\001%s\001%d", mq->topic, mq->broker, mq->queue_id);
    const char *ip = json_string_value(json_object_get(owners, key));
    return ip ? ip : "NA";
}

int adm_cmd_consumer_progress(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL);
    if (group) {
        double tps;
        rmq_err_t e;
        json_t *tab = adm_consume_stats(c, group, NULL, &tps, &e);
        if (!tab) return adm_fail("consumer group %s: %s", group, adm_why(c, e));
        if (json_object_size(tab) == 0) {
            json_decref(tab);
            return adm_fail("consumer group %s: CONSUMER_NOT_ONLINE: no broker holds offsets of "
                            "it yet (start a consumer, or place it with resetOffsetByTime -g %s "
                            "-t <topic> -s now)",
                            group, group);
        }
        size_t n = json_object_size(tab), i = 0;
        adm_qrow_t *rows = calloc(n, sizeof *rows);
        const char *key;
        json_t *v;
        json_object_foreach(tab, key, v) {
            if (!adm_mq_parse(key, &rows[i].mq)) continue;
            rows[i].a = adm_jint(v, "brokerOffset");
            rows[i].b = adm_jint(v, "consumerOffset");
            rows[i].ts = adm_jint(v, "lastTimestamp");
            i++;
        }
        n = i;
        qsort(rows, n, sizeof *rows, adm_qrow_cmp);
        long long diff_total = 0;
        json_t *arr = c->json ? json_array() : NULL;
        /* -s true adds the client IP column: each online client's running info says which
         * queues it holds (getMqAllocationsResult); "NA" for a queue nobody holds */
        bool ip = adm_opt_true(c, 's', NULL);
        json_t *owners = ip ? queue_owners(c, group) : NULL;
        if (!arr && ip)
            printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Broker Name",
                   "#QID", "#Broker Offset", "#Consumer Offset", "#Client IP", "#Diff",
                   "#LastTime");
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
                                   "brokerName", rows[i].mq.broker, "queueId", rows[i].mq.queue_id,
                                   "brokerOffset", (json_int_t)rows[i].a, "consumerOffset",
                                   (json_int_t)rows[i].b, "diff", (json_int_t)diff, "lastTimestamp",
                                   (json_int_t)rows[i].ts));
            else if (ip)
                printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20s  %-20lld  %s\n",
                       rows[i].mq.topic, rows[i].mq.broker, rows[i].mq.queue_id,
                       (long long)rows[i].a, (long long)rows[i].b, owner_of(owners, &rows[i].mq),
                       diff, lt);
            else
                printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", rows[i].mq.topic,
                       rows[i].mq.broker, rows[i].mq.queue_id, (long long)rows[i].a,
                       (long long)rows[i].b, diff, lt);
        }
        if (arr) {
            json_t *o = json_pack("{s:s,s:o,s:f,s:I}", "group", group, "queues", arr, "consumeTps",
                                  tps, "diffTotal", (json_int_t)diff_total);
            adm_print_json(o);
            json_decref(o);
        } else {
            printf("\n");
            printf("Consume TPS: %.2f\n", tps);
            printf("Diff Total: %lld\n", diff_total);
        }
        free(rows);
        json_decref(tab);
        json_decref(owners);
        return 0;
    }
    json_t *arr = adm_group_rows(c);
    if (!arr) return 1;
    if (c->json) {
        adm_print_json(arr);
        json_decref(arr);
        return 0;
    }
    printf("%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version", "#Type",
           "#Model", "#TPS", "#Diff Total");
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
        printf("%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %lld\n", adm_jstr(r, "group"),
               (int)adm_jint(r, "count"), adm_jstr(r, "version"), adm_jstr(r, "consumeType"),
               adm_jstr(r, "messageModel"), (int)adm_jint(r, "consumeTps"),
               (long long)adm_jint(r, "diffTotal"));
    json_decref(arr);
    return 0;
}

/* consumerProgress's group list: one row per group with a %RETRY% topic, sorted. */
json_t *adm_group_rows(ctx_t *c) {
    json_t *topics = adm_topic_list(c);
    if (!topics) return NULL;
    json_t *arr = json_array();
    size_t n = json_array_size(topics), ng = 0;
    const char **groups = calloc(n + 1, sizeof *groups);
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(topics, i));
        if (strncmp(t, "%RETRY%", 7) == 0) groups[ng++] = t + 7;
    }
    qsort(groups, ng, sizeof *groups, adm_str_cmp);
    for (size_t i = 0; i < ng; i++) {
        double tps = 0;
        rmq_err_t e;
        json_t *tab = adm_consume_stats(c, groups[i], NULL, &tps, &e);
        long long diff = 0;
        const char *key;
        json_t *v;
        json_object_foreach(tab, key, v) diff +=
            adm_jint(v, "brokerOffset") - adm_jint(v, "consumerOffset");
        json_decref(tab);
        json_t *cc = adm_consumer_conn(c, groups[i], &e);
        json_t *conns = json_object_get(cc, "connectionSet");
        int count = (int)json_array_size(conns), minv = 0;
        size_t k;
        json_t *cn;
        json_array_foreach(conns, k, cn) {
            int ver = (int)adm_jint(cn, "version");
            if (k == 0 || ver < minv) minv = ver;
        }
        const char *ct = adm_jstr(cc, "consumeType");
        const char *type = count ? (strcmp(ct, "CONSUME_ACTIVELY") == 0 ? "PULL" : "PUSH") : "";
        const char *model = count && strcmp(type, "PUSH") == 0 ? adm_jstr(cc, "messageModel") : "";
        const char *ver = count ? version_desc(minv) : "OFFLINE";
        json_array_append_new(arr, json_pack("{s:s,s:i,s:s,s:s,s:s,s:i,s:I}", "group", groups[i],
                                             "count", count, "version", ver, "consumeType", type,
                                             "messageModel", model, "consumeTps", (int)tps,
                                             "diffTotal", (json_int_t)diff));
        json_decref(cc);
    }
    free(groups);
    json_decref(topics);
    return arr;
}

int adm_cmd_consumer_connection(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL);
    rmq_err_t e;
    json_t *cc = adm_consumer_conn(c, group, &e);
    if (!cc) return adm_fail("consumer group %s: %s", group, adm_why(c, e));
    if (c->json) {
        adm_print_json(cc);
        json_decref(cc);
        return 0;
    }
    printf("%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    size_t i;
    json_t *cn;
    json_array_foreach(json_object_get(cc, "connectionSet"), i, cn)
        printf("%-36s %-22s %-10s %s\n", adm_jstr(cn, "clientId"), adm_jstr(cn, "clientAddr"),
               json_is_string(json_object_get(cn, "language")) ? adm_jstr(cn, "language") : "OTHER",
               version_desc((int)adm_jint(cn, "version")));
    printf("\n%-64s %s\n", "#Topic", "#SubExpression");
    const char *key;
    json_t *sd;
    json_object_foreach(json_object_get(cc, "subscriptionTable"), key, sd)
        printf("%-64s %s\n", key, adm_jstr(sd, "subString"));
    printf("\n");
    printf("ConsumeType: %s\n", adm_jstr(cc, "consumeType"));
    printf("MessageModel: %s\n", adm_jstr(cc, "messageModel"));
    printf("ConsumeFromWhere: %s\n", adm_jstr(cc, "consumeFromWhere"));
    json_decref(cc);
    return 0;
}

int adm_cmd_reset_offset(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL), *topic = adm_opt(c, 't', NULL),
               *ts = adm_opt(c, 's', NULL);
    const char *fs = adm_opt(c, 'f', NULL);
    bool force = !fs || strcasecmp(fs, "true") == 0;
    int64_t ms = rmq_tool_parse_time(ts, time(NULL) * 1000LL);
    if (ms < 0)
        return adm_fail("bad timestamp %s (now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS)", ts);
    rmq_mq_offset_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_admin_reset_offset(c->admin, group, topic, ms, force, &v, &n);
    if (e != RMQ_OK)
        return adm_fail("reset offset of group %s on topic %s: %s", group, topic, adm_why(c, e));
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "brokerName", v[i].mq.broker,
                                                 "queueId", v[i].mq.queue_id, "offset",
                                                 (json_int_t)v[i].offset));
        json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:o}", "group", group, "topic", topic, "force",
                              force, "timestamp", (json_int_t)ms, "offsets", arr);
        adm_print_json(o);
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

int adm_cmd_update_sub_group(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL);
    int q, r, bid, w;
    if (adm_opt_int(c, 'q', 1, &q) || adm_opt_int(c, 'r', 16, &r) || adm_opt_int(c, 'i', 0, &bid) ||
        adm_opt_int(c, 'w', 1, &w))
        return 1;
#define BOOL_OPT(ch) (adm_opt(c, ch, NULL) ? strcasecmp(adm_opt(c, ch, NULL), "false") != 0 : true)
    bool s = BOOL_OPT('s'), m = BOOL_OPT('m'), d = BOOL_OPT('d'), a = BOOL_OPT('a');
#undef BOOL_OPT
    json_t *cfg = json_pack("{s:s,s:b,s:b,s:b,s:i,s:i,s:i,s:i,s:b}", "groupName", group,
                            "consumeEnable", s, "consumeFromMinEnable", m, "consumeBroadcastEnable",
                            d, "retryQueueNums", q, "retryMaxTimes", r, "brokerId", bid,
                            "whichBrokerWhenConsumeSlowly", w, "notifyConsumerIdsChangedEnable", a);
    char *body = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *targets = adm_target_brokers(c);
    int rc = targets ? 0 : 1;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        rmq_err_t e;
        json_decref(adm_broker_call(c, json_string_value(t),
                                    RMQ_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, body, "",
                                    &e));
        if (e != RMQ_OK) {
            rc = adm_fail("create subscription group %s on %s: %s", group, json_string_value(t),
                          adm_why(c, e));
            break;
        }
        if (!c->json) printf("create subscription group to %s success.\n", json_string_value(t));
    }
    if (rc == 0) {
        if (c->json)
            adm_print_json(cfg);
        else
            printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, "
                   "consumeFromMinEnable=%s, consumeBroadcastEnable=%s, retryQueueNums=%d, "
                   "retryMaxTimes=%d, brokerId=%d, whichBrokerWhenConsumeSlowly=%d, "
                   "notifyConsumerIdsChangedEnable=%s]\n",
                   group, s ? "true" : "false", m ? "true" : "false", d ? "true" : "false", q, r,
                   bid, w, a ? "true" : "false");
    }
    free(body);
    json_decref(cfg);
    json_decref(targets);
    return rc;
}
