/* mqadmin group and topic-permission commands (RocketMQ 4.9.8): deleteSubGroup,
 * updateTopicPerm, topicClusterList, cloneGroupOffset, skipAccumulatedMessage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

/* ---- deleteSubGroup ------------------------------------------------------------------------ */

/* -c only, as 4.9.8: drop %RETRY%G and %DLQ%G from the cluster's brokers and every NameServer
 * of -n. A failure is reported on stderr; the group itself is already gone. */
static void delete_group_topic(ctx_t *c, json_t *masters, const char *cluster, const char *topic) {
    const char *kv[] = {"topic", topic, NULL};
    size_t i;
    json_t *a;
    json_array_foreach(masters, i, a) {
        rmq_err_t e;
        json_decref(adm_broker_call(c, json_string_value(a), RMQ_REQ_DELETE_TOPIC_IN_BROKER, kv,
                                    NULL, "", &e));
        if (e != RMQ_OK) {
            adm_fail("delete topic %s on %s: %s", topic, json_string_value(a), adm_why(c, e));
            return;
        }
    }
    if (!c->json) printf("delete topic [%s] from cluster [%s] success.\n", topic, cluster);
    char *list = strdup(c->ns), *save = NULL;
    for (char *t = list ? strtok_r(list, ";", &save) : NULL; t; t = strtok_r(NULL, ";", &save)) {
        rmq_err_t e;
        json_decref(adm_broker_call(c, t, RMQ_REQ_DELETE_TOPIC_IN_NAMESRV, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            adm_fail("delete topic %s from NameServer %s: %s", topic, t, adm_why(c, e));
            free(list);
            return;
        }
    }
    free(list);
    if (!c->json) printf("delete topic [%s] from NameServer success.\n", topic);
}

int adm_cmd_delete_sub_group(ctx_t *c) {
    const char *g = adm_opt(c, 'g', NULL), *b = adm_opt(c, 'b', NULL), *cl = adm_opt(c, 'c', NULL);
    bool remove_offset = adm_opt_true(c, 'r', NULL);
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    const char *kv[] = {"groupName", g, "removeOffset", remove_offset ? "true" : "false", NULL};
    json_t *done = json_array();
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        const char *addr = json_string_value(a);
        rmq_err_t e;
        json_decref(adm_broker_call(c, addr, RMQ_REQ_DELETE_SUBSCRIPTIONGROUP, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            rc = adm_fail("delete subscription group %s on %s: %s", g, addr, adm_why(c, e));
            continue;
        }
        json_array_append(done, a);
        if (c->json) continue;
        if (b)
            printf("delete subscription group [%s] from broker [%s] success.\n", g, addr);
        else
            printf("delete subscription group [%s] from broker [%s] in cluster [%s] success.\n", g,
                   addr, cl);
    }
    if (!b && rc == 0) {
        char t[512];
        snprintf(t, sizeof t, "%%RETRY%%%s", g);
        delete_group_topic(c, targets, cl, t);
        snprintf(t, sizeof t, "%%DLQ%%%s", g);
        delete_group_topic(c, targets, cl, t);
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:b,s:O}", "groupName", g, "removeOffset", remove_offset,
                              "brokers", done);
        adm_print_json(o);
        json_decref(o);
    }
    json_decref(done);
    json_decref(targets);
    return rc;
}

/* ---- updateTopicPerm ---------------------------------------------------------------------- */

/* The topic's TopicConfig on broker addr (new JSON object) or NULL after printing why. */
static json_t *broker_topic_config(ctx_t *c, const char *addr, const char *topic) {
    json_t *all =
        adm_broker_call(c, addr, RMQ_REQ_GET_ALL_TOPIC_CONFIG, NULL, NULL, "topic config", NULL);
    if (!all) return NULL;
    json_t *tc = json_object_get(json_object_get(all, "topicConfigTable"), topic);
    if (json_is_object(tc)) {
        json_incref(tc);
    } else {
        adm_fail("topic %s does not exist on broker %s", topic, addr);
        tc = NULL;
    }
    json_decref(all);
    return tc;
}

static void print_topic_config(json_t *tc, const char *topic, int perm) {
    json_t *o = json_object_get(tc, "order");
    printf("TopicConfig [topicName=%s, readQueueNums=%lld, writeQueueNums=%lld, perm=%s, "
           "topicFilterType=%s, topicSysFlag=%lld, order=%s].\n",
           topic, (long long)adm_jint(tc, "readQueueNums"),
           (long long)adm_jint(tc, "writeQueueNums"), adm_perm_str(perm),
           *adm_jstr(tc, "topicFilterType") ? adm_jstr(tc, "topicFilterType") : "SINGLE_TAG",
           (long long)adm_jint(tc, "topicSysFlag"), json_is_true(o) ? "true" : "false");
}

int adm_cmd_update_topic_perm(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *b = adm_opt(c, 'b', NULL);
    int perm;
    if (adm_opt_int(c, 'p', 6, &perm)) return 1;
    if (perm != 2 && perm != 4 && perm != 6)
        return adm_fail("perm must be 2 (W), 4 (R) or 6 (RW), not %d", perm);
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    json_t *out = json_array();
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        const char *addr = json_string_value(a);
        json_t *tc = broker_topic_config(c, addr, topic);
        if (!tc) {
            rc = 1;
            continue;
        }
        int old = (int)adm_jint(tc, "perm");
        if (b && old == perm) {
            if (!c->json) printf("new perm equals to the old one!\n");
            json_array_append_new(out, json_pack("{s:s,s:i,s:i,s:b}", "brokerAddr", addr, "oldPerm",
                                                 old, "perm", perm, "changed", 0));
            json_decref(tc);
            continue;
        }
        const char *tft = *adm_jstr(tc, "topicFilterType") ? adm_jstr(tc, "topicFilterType") : NULL;
        rmq_err_t e = adm_put_topic(
            c, addr, topic, adm_jint(tc, "readQueueNums"), adm_jint(tc, "writeQueueNums"), perm,
            adm_jint(tc, "topicSysFlag"), tft, json_is_true(json_object_get(tc, "order")), "");
        if (e != RMQ_OK) {
            rc = adm_fail("update perm of topic %s on %s: %s", topic, addr, adm_why(c, e));
        } else if (c->json) {
            json_array_append_new(out, json_pack("{s:s,s:i,s:i,s:b}", "brokerAddr", addr, "oldPerm",
                                                 old, "perm", perm, "changed", 1));
        } else {
            printf("update topic perm from %d to %d in %s success.\n", old, perm, addr);
            if (b) print_topic_config(tc, topic, perm);
        }
        json_decref(tc);
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "topic", topic, "brokers", out);
        adm_print_json(o);
        json_decref(o);
    }
    json_decref(out);
    json_decref(targets);
    return rc;
}

/* ---- topicClusterList --------------------------------------------------------------------- */

int adm_cmd_topic_cluster_list(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL);
    json_t *route = adm_route_of(c, topic);
    if (!route) return 1;
    json_t *ci = adm_cluster_info(c);
    if (!ci) {
        json_decref(route);
        return 1;
    }
    json_t *clusters = json_array();
    const char *cname;
    json_t *names;
    json_object_foreach(json_object_get(ci, "clusterAddrTable"), cname, names) {
        bool holds = false;
        size_t i, j;
        json_t *bd, *n;
        json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
            json_array_foreach(names, j, n) {
                if (json_is_string(n) && !strcmp(json_string_value(n), adm_jstr(bd, "brokerName")))
                    holds = true;
            }
        }
        if (holds) json_array_append_new(clusters, json_string(cname));
    }
    size_t n = json_array_size(clusters);
    const char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = json_string_value(json_array_get(clusters, i));
    if (v) qsort(v, n, sizeof *v, adm_str_cmp);
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; v && i < n; i++) json_array_append_new(arr, json_string(v[i]));
        json_t *o = json_pack("{s:s,s:o}", "topic", topic, "clusters", arr);
        adm_print_json(o);
        json_decref(o);
    } else {
        for (size_t i = 0; v && i < n; i++) printf("%s\n", v[i]);
    }
    free(v);
    json_decref(clusters);
    json_decref(ci);
    json_decref(route);
    return 0;
}

/* ---- cloneGroupOffset --------------------------------------------------------------------- */

/* CLONE_GROUP_OFFSET on the master of every broker holding topic: each broker copies its own
 * offsets of srcGroup to destGroup (4.9.8's tool did it from the client with consume stats and
 * offset updates; the broker request does the same in one step per broker). */
int adm_cmd_clone_group_offset(ctx_t *c) {
    const char *src = adm_opt(c, 's', NULL), *dst = adm_opt(c, 'd', NULL),
               *topic = adm_opt(c, 't', NULL);
    bool offline = adm_opt_true(c, 'o', NULL);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL);
    if (e != RMQ_OK) return adm_fail("route of topic %s: %s", topic, adm_why(c, e));
    const char *kv[] = {"srcGroup", src,   "destGroup", dst,
                        "topic",    topic, "offline",   offline ? "true" : "false",
                        NULL};
    int rc = 0;
    json_t *done = json_array();
    for (char **p = addrs; *p; p++) {
        if (rc == 0) {
            json_decref(adm_broker_call(c, *p, RMQ_REQ_CLONE_GROUP_OFFSET, kv, NULL, "", &e));
            if (e != RMQ_OK)
                rc = adm_fail("clone group offset on %s: %s", *p, adm_why(c, e));
            else
                json_array_append_new(done, json_string(*p));
        }
        free(*p);
    }
    free(addrs);
    if (rc == 0) {
        if (c->json) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:O}", "srcGroup", src, "destGroup", dst,
                                  "topic", topic, "offline", offline, "brokers", done);
            adm_print_json(o);
            json_decref(o);
        } else {
            printf("clone group offset success. srcGroup[%s], destGroup=[%s], topic[%s]\n", src,
                   dst, topic);
        }
    }
    json_decref(done);
    return rc;
}

/* ---- skipAccumulatedMessage --------------------------------------------------------------- */

/* resetOffsetByTime with timestamp -1: every queue of the topic to its max offset, the group
 * online or not (and with no committed offset yet: the offline path writes them). */
int adm_cmd_skip_accumulated(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL), *topic = adm_opt(c, 't', NULL);
    const char *fs = adm_opt(c, 'f', NULL);
    bool force = !fs || strcasecmp(fs, "true") == 0;
    rmq_mq_offset_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_admin_reset_offset(c->admin, group, topic, -1, force, &v, &n);
    if (e != RMQ_OK)
        return adm_fail("skip accumulated messages of group %s on topic %s: %s", group, topic,
                        adm_why(c, e));
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "brokerName", v[i].mq.broker,
                                                 "queueId", v[i].mq.queue_id, "offset",
                                                 (json_int_t)v[i].offset));
        json_t *o = json_pack("{s:s,s:s,s:b,s:o}", "group", group, "topic", topic, "force", force,
                              "offsets", arr);
        adm_print_json(o);
        json_decref(o);
    } else {
        printf("%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset");
        for (size_t i = 0; i < n; i++)
            printf("%-40s  %-40d  %-40lld\n", v[i].mq.broker, v[i].mq.queue_id,
                   (long long)v[i].offset);
    }
    free(v);
    return 0;
}

/* ---- the rest of 4.9.8's list -------------------------------------------------------------- */

int adm_cmd_unavailable(ctx_t *c) {
    return adm_fail("%s", c->cmd->desc);
}
