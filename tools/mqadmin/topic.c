/* mqadmin topic commands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus. */
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

/* ---- topic commands ------------------------------------------------------------------- */

/* Broker name of a master address, from the cluster table ("" if unknown). */
static void broker_name_of(json_t *ci, const char *addr, char *out, size_t n) {
    out[0] = 0;
    const char *bn;
    json_t *bd;
    json_object_foreach(json_object_get(ci, "brokerAddrTable"), bn, bd) {
        const char *k;
        json_t *a;
        json_object_foreach(json_object_get(bd, "brokerAddrs"), k,
                            a) if (strcmp(json_string_value(a), addr) == 0)
            snprintf(out, n, "%s", bn);
    }
}

/* -o true: the topic's "broker:writeQueues;..." in the NameServer KV namespace
 * ORDER_TOPIC_CONFIG, merged with what is there when only some brokers were given (-b), and
 * written to every NameServer of -n as the Java tool does. */
static int put_order_conf(ctx_t *c, const char *topic, json_t *addrs, int wq) {
    json_t *ci = adm_cluster_info(c);
    if (!ci) return 1;
    char conf[2048] = "";
    const char *gkv[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", topic, NULL};
    char *js = NULL;
    if (rmq_admin_call_namesrv(c->admin, RMQ_REQ_GET_KV_CONFIG, gkv, NULL, &js) == RMQ_OK) {
        json_t *o = adm_parse_json(js);
        snprintf(conf, sizeof conf, "%s", adm_jstr(o, "value"));
        json_decref(o);
    }
    free(js);
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a) {
        char bn[128];
        broker_name_of(ci, json_string_value(a), bn, sizeof bn);
        if (!bn[0]) continue;
        /* drop an old entry of this broker, then append the new one */
        char merged[2048] = "", *save = NULL;
        for (char *t = strtok_r(conf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            size_t bl = strlen(bn);
            if (strncmp(t, bn, bl) == 0 && t[bl] == ':') continue;
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
        json_decref(adm_broker_call(c, t, RMQ_REQ_PUT_KV_CONFIG, pkv, NULL, "", &e));
        if (e != RMQ_OK)
            rc = adm_fail("order config of %s on NameServer %s: %s", topic, t, adm_why(c, e));
    }
    free(list);
    if (rc == 0 && !c->json) printf("set cluster orderConf. isOrder=true, orderConf=[%s]\n", conf);
    return rc;
}

int adm_cmd_update_topic(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL);
    int r, w, p;
    if (adm_opt_int(c, 'r', 8, &r) || adm_opt_int(c, 'w', 8, &w) || adm_opt_int(c, 'p', 6, &p))
        return 1;
    bool order = adm_opt_true(c, 'o', NULL);
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    json_t *done = json_array();
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        rmq_err_t e =
            adm_put_topic(c, json_string_value(a), topic, r, w, p, 0, NULL, order, "update topic");
        if (e != RMQ_OK) {
            rc = adm_fail("create topic %s on %s failed: %s", topic, json_string_value(a),
                          adm_why(c, e));
            break;
        }
        json_array_append(done, a);
        if (!c->json) printf("create topic to %s success.\n", json_string_value(a));
    }
    if (rc == 0 && order) rc = put_order_conf(c, topic, done, w);
    if (rc == 0) {
        if (c->json) {
            json_t *o =
                json_pack("{s:O,s:{s:s,s:i,s:i,s:i,s:s,s:i,s:b}}", "brokers", done, "topicConfig",
                          "topicName", topic, "readQueueNums", r, "writeQueueNums", w, "perm", p,
                          "topicFilterType", "SINGLE_TAG", "topicSysFlag", 0, "order", order);
            adm_print_json(o);
            json_decref(o);
        } else {
            printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, "
                   "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=%s]\n",
                   topic, r, w, adm_perm_str(p), order ? "true" : "false");
        }
    }
    json_decref(done);
    json_decref(targets);
    return rc;
}

int adm_cmd_delete_topic(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *cl = adm_opt(c, 'c', NULL);
    json_t *masters = adm_cluster_masters(c, cl);
    if (!masters) return 1;
    const char *kv[] = {"topic", topic, NULL};
    size_t i;
    json_t *a;
    json_array_foreach(masters, i, a) {
        rmq_err_t e;
        json_decref(adm_broker_call(c, json_string_value(a), RMQ_REQ_DELETE_TOPIC_IN_BROKER, kv,
                                    NULL, "delete topic", &e));
        if (e != RMQ_OK) {
            json_decref(masters);
            return adm_fail("delete topic %s on %s failed: %s", topic, json_string_value(a),
                            adm_why(c, e));
        }
    }
    json_decref(masters);
    printf("delete topic [%s] from cluster [%s] success.\n", topic, cl);
    /* every NameServer of -n, as the Java tool does */
    char *list = strdup(c->ns);
    char *save = NULL;
    for (char *t = strtok_r(list, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        rmq_err_t e;
        json_decref(adm_broker_call(c, t, RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            free(list);
            return adm_fail("delete topic %s from NameServer %s failed: %s", topic, t,
                            adm_why(c, e));
        }
    }
    free(list);
    printf("delete topic [%s] from NameServer success.\n", topic);
    return 0;
}

json_t *adm_topic_list(ctx_t *c) {
    json_t *tl = adm_ns_call(c, RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL, "topic list");
    if (!tl) return NULL;
    json_t *arr = json_object_get(tl, "topicList");
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) if (json_is_string(t)) json_array_append(out, t);
    json_decref(tl);
    return out;
}

int adm_cmd_topic_list(ctx_t *c) {
    json_t *topics = adm_topic_list(c);
    if (!topics) return 1;
    size_t i;
    json_t *t;
    if (!adm_opt(c, 'c', NULL)) {
        if (c->json) {
            json_t *o = json_pack("{s:O}", "topicList", topics);
            adm_print_json(o);
            json_decref(o);
        } else {
            json_array_foreach(topics, i, t) printf("%s\n", json_string_value(t));
        }
        json_decref(topics);
        return 0;
    }
    json_t *rows = json_array();
    if (!c->json) printf("%-20s  %-48s  %-48s\n", "#Cluster Name", "#Topic", "#Consumer Group");
    json_array_foreach(topics, i, t) {
        const char *name = json_string_value(t);
        if (strncmp(name, "%RETRY%", 7) == 0 || strncmp(name, "%DLQ%", 5) == 0) continue;
        const char *kv[] = {"topic", name, NULL};
        char *js = NULL;
        if (rmq_admin_call_namesrv(c->admin, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, NULL, &js))
            continue; /* topics without a route (cluster / broker names) are skipped */
        json_t *route = adm_parse_json(js);
        free(js);
        json_t *bd = json_array_get(json_object_get(route, "brokerDatas"), 0);
        const char *cluster = adm_jstr(bd, "cluster");
        const char *addr = adm_bd_master(bd);
        json_t *groups = NULL;
        if (addr) {
            rmq_err_t e;
            json_t *gl =
                adm_broker_call(c, addr, RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO, kv, NULL, "", &e);
            groups = json_incref(json_object_get(gl, "groupList"));
            json_decref(gl);
        }
        if (json_array_size(groups) == 0) {
            json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "clusterName", cluster, "topic",
                                                  name, "consumerGroup", ""));
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
        adm_print_json(rows);
    } else {
        json_t *r;
        json_array_foreach(rows, i, r) printf("%-20s  %-48s  %-48s\n", adm_jstr(r, "clusterName"),
                                              adm_jstr(r, "topic"), adm_jstr(r, "consumerGroup"));
    }
    json_decref(rows);
    json_decref(topics);
    return 0;
}

int adm_cmd_topic_route(ctx_t *c) {
    json_t *route = adm_route_of(c, adm_opt(c, 't', NULL));
    if (!route) return 1;
    if (!adm_opt(c, 'l', NULL) || c->json) {
        adm_print_json(route);
        json_decref(route);
        return 0;
    }
    printf("%-45s %-32s %-50s %-10s %-11s %-5s\n", "#ClusterName", "#BrokerName", "#BrokerAddrs",
           "#ReadQueue", "#WriteQueue", "#Perm");
    int tr = 0, tw = 0;
    size_t i;
    json_t *bd;
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *bn = adm_jstr(bd, "brokerName");
        json_t *qd = NULL, *q;
        size_t k;
        json_array_foreach(json_object_get(route, "queueDatas"), k,
                           q) if (strcmp(adm_jstr(q, "brokerName"), bn) == 0) qd = q;
        char *addrs = json_dumps(json_object_get(bd, "brokerAddrs"), JSON_COMPACT);
        int r = (int)adm_jint(qd, "readQueueNums"), w = (int)adm_jint(qd, "writeQueueNums");
        tr += r;
        tw += w;
        printf("%-45s %-32s %-50s %-10d %-11d %-5d\n", adm_jstr(bd, "cluster"), bn,
               addrs ? addrs : "", r, w, (int)adm_jint(qd, "perm"));
        free(addrs);
    }
    printf("\n%-45s %-32s %-50s %-10d %-11d %-5s\n", "Total:", "", "", tr, tw, "");
    json_decref(route);
    return 0;
}

int adm_cmd_topic_status(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL);
    json_t *route = adm_route_of(c, topic);
    if (!route) return 1;
    adm_qrow_t *rows = NULL;
    size_t n = 0, cap = 0, i;
    json_t *bd;
    int rc = 0;
    const char *kv[] = {"topic", topic, NULL};
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *addr = adm_bd_master(bd);
        if (!addr) continue;
        json_t *st =
            adm_broker_call(c, addr, RMQ_REQ_GET_TOPIC_STATS_INFO, kv, NULL, "topic stats", NULL);
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
            if (!adm_mq_parse(key, &rows[n].mq)) continue;
            rows[n].a = adm_jint(v, "minOffset");
            rows[n].b = adm_jint(v, "maxOffset");
            rows[n].ts = adm_jint(v, "lastUpdateTimestamp");
            n++;
        }
        json_decref(st);
    }
    json_decref(route);
    if (rc) {
        free(rows);
        return rc;
    }
    qsort(rows, n, sizeof *rows, adm_qrow_cmp);
    if (c->json) {
        json_t *arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "topic", rows[i].mq.topic, "brokerName",
                               rows[i].mq.broker, "queueId", rows[i].mq.queue_id, "minOffset",
                               (json_int_t)rows[i].a, "maxOffset", (json_int_t)rows[i].b,
                               "lastUpdateTimestamp", (json_int_t)rows[i].ts));
        adm_print_json(arr);
        json_decref(arr);
    } else {
        printf("%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset",
               "#Max Offset", "#Last Updated");
        for (i = 0; i < n; i++) {
            char ts[40] = "";
            if (rows[i].ts > 0) rmq_tool_fmt_time(rows[i].ts, ts, sizeof ts);
            printf("%-32s  %-4d  %-20lld  %-20lld    %s\n", rows[i].mq.broker, rows[i].mq.queue_id,
                   (long long)rows[i].a, (long long)rows[i].b, ts);
        }
    }
    free(rows);
    return 0;
}
