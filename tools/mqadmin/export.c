/* mqadmin exportMetadata and exportConfigs (RocketMQ 4.9.8's tools/command/export): JSON files
 * for migrations and capacity reviews, written under -f (default /tmp/rocketmq/export).
 * exportMetadata: the user topics and subscription groups of one broker (-b, with -t or -g) or
 * of a cluster's masters merged (-c: queue counts summed per name, as the Java tool does);
 * exportConfigs: the cluster's scale and a few key settings of each master. --json also prints
 * the document on stdout. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

#define DEFAULT_EXPORT_DIR "/tmp/rocketmq/export"

/* mkdir -p dir; 0 or -1. */
static int mkdirs(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write doc pretty to dir/name, print the success line (or doc with --json); exit status. */
static int write_doc(ctx_t *c, const char *dir, const char *name, json_t *doc) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mkdirs(dir) != 0) return adm_fail("cannot create directory %s: %s", dir, strerror(errno));
    if (json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        return adm_fail("cannot write %s", path);
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "path", path, "content", doc);
        adm_print_json(o);
        json_decref(o);
    } else {
        printf("export %s success\n", path);
    }
    return 0;
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- exportMetadata ----------------------------------------------------------------------- */

/* RocketMQ's system topics (TopicValidator) and the names brokers and clusters register. */
static bool system_topic(const char *t, json_t *ci) {
    static const char *const sys[] = {"TBW102",
                                      "SCHEDULE_TOPIC_XXXX",
                                      "BenchmarkTest",
                                      "RMQ_SYS_TRANS_HALF_TOPIC",
                                      "RMQ_SYS_TRACE_TOPIC",
                                      "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                                      "TRANS_CHECK_MAX_TIME_TOPIC",
                                      "SELF_TEST_TOPIC",
                                      "OFFSET_MOVED_EVENT",
                                      NULL};
    for (size_t i = 0; sys[i]; i++)
        if (!strcmp(sys[i], t)) return true;
    if (!strncmp(t, "rmq_sys_", 8) || !strncmp(t, "RMQ_SYS_", 8)) return true;
    return json_object_get(json_object_get(ci, "clusterAddrTable"), t) ||
           json_object_get(json_object_get(ci, "brokerAddrTable"), t);
}

/* MixAll.isSysConsumerGroup and the tools' own groups. */
static bool system_group(const char *g) {
    static const char *const sys[] = {"TOOLS_CONSUMER",
                                      "FILTERSRV_CONSUMER",
                                      "__MONITOR_CONSUMER",
                                      "CLIENT_INNER_PRODUCER",
                                      "SELF_TEST_P_GROUP",
                                      "SELF_TEST_C_GROUP",
                                      "CID_ONS-HTTP-PROXY",
                                      "CID_ONSAPI_PERMISSION",
                                      "CID_ONSAPI_OWNER",
                                      "CID_ONSAPI_PULL",
                                      NULL};
    for (size_t i = 0; sys[i]; i++)
        if (!strcmp(sys[i], g)) return true;
    return !strncmp(g, "CID_RMQ_SYS_", 12);
}

static bool special_topic(const char *t) {
    return !strncmp(t, "%RETRY%", 7) || !strncmp(t, "%DLQ%", 5);
}

/* Add addr's user topics and groups into topics / groups (summing counts of names seen). */
static int collect(ctx_t *c, json_t *ci, const char *addr, bool special, json_t *topics,
                   json_t *groups) {
    json_t *tw =
        adm_broker_call(c, addr, RMQ_REQ_GET_ALL_TOPIC_CONFIG, NULL, NULL, "topic configs", NULL);
    if (!tw) return 1;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(tw, "topicConfigTable"), k, v) {
        if (system_topic(k, ci) || (!special && special_topic(k))) continue;
        json_t *seen = json_object_get(topics, k);
        json_t *copy = json_deep_copy(v);
        if (seen) {
            json_object_set_new(
                copy, "readQueueNums",
                json_integer(adm_jint(seen, "readQueueNums") + adm_jint(v, "readQueueNums")));
            json_object_set_new(
                copy, "writeQueueNums",
                json_integer(adm_jint(seen, "writeQueueNums") + adm_jint(v, "writeQueueNums")));
        }
        json_object_set_new(topics, k, copy);
    }
    json_decref(tw);
    json_t *gw = adm_broker_call(c, addr, RMQ_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, NULL,
                                 "subscription groups", NULL);
    if (!gw) return 1;
    json_object_foreach(json_object_get(gw, "subscriptionGroupTable"), k, v) {
        if (system_group(k)) continue;
        json_t *seen = json_object_get(groups, k);
        json_t *copy = json_deep_copy(v);
        if (seen)
            json_object_set_new(
                copy, "retryQueueNums",
                json_integer(adm_jint(seen, "retryQueueNums") + adm_jint(v, "retryQueueNums")));
        json_object_set_new(groups, k, copy);
    }
    json_decref(gw);
    return 0;
}

int adm_cmd_export_metadata(ctx_t *c) {
    const char *b = adm_opt(c, 'b', NULL), *cl = adm_opt(c, 'c', NULL);
    const char *dir = adm_opt(c, 'f', NULL);
    if (!dir) dir = DEFAULT_EXPORT_DIR;
    bool only_t = adm_opt(c, 't', NULL) != NULL, only_g = adm_opt(c, 'g', NULL) != NULL;
    bool special = adm_opt(c, 's', NULL) != NULL;
    if (!b && !cl) return adm_fail("one of -b brokerAddr or -c clusterName is required");
    if (b && !only_t && !only_g) return adm_fail("with -b give -t (topics) or -g (groups)");
    json_t *ci = adm_cluster_info(c);
    if (!ci) return 1;
    json_t *targets = adm_target_brokers(c);
    int rc = targets ? 0 : 1;
    json_t *topics = json_object(), *groups = json_object();
    size_t i;
    json_t *a;
    json_array_foreach(targets, i, a) {
        if (rc == 0) rc = collect(c, ci, json_string_value(a), special, topics, groups);
    }
    if (rc == 0) {
        json_t *doc = json_object();
        const char *name = "metadata.json";
        if (only_t) {
            json_object_set(doc, "topicConfigTable", topics);
            name = "topic.json";
        } else if (only_g) {
            json_object_set(doc, "subscriptionGroupTable", groups);
            name = "subscriptionGroup.json";
        } else {
            json_object_set(doc, "topicConfigTable", topics);
            json_object_set(doc, "subscriptionGroupTable", groups);
        }
        json_object_set_new(doc, "exportTime", json_integer(now_ms()));
        rc = write_doc(c, dir, name, doc);
        json_decref(doc);
    }
    json_decref(topics);
    json_decref(groups);
    json_decref(targets);
    json_decref(ci);
    return rc;
}

/* ---- exportConfigs ------------------------------------------------------------------------ */

/* Properties text of addr's GET_BROKER_CONFIG as a JSON object, NULL after printing why. */
static json_t *broker_props(ctx_t *c, const char *addr) {
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, RMQ_REQ_GET_BROKER_CONFIG, NULL, NULL, 0, 0, &r);
    if (e != RMQ_OK) {
        adm_fail("broker %s: %s", addr, adm_why(c, e));
        return NULL;
    }
    if (r->code != RMQ_OK) {
        adm_fail("broker %s: CODE: %d DESC: %s", addr, r->code, r->remark ? r->remark : "");
        rmq_admin_resp_destroy(r);
        return NULL;
    }
    json_t *props = adm_props_json(r->body, r->body_len);
    rmq_admin_resp_destroy(r);
    if (!props) adm_fail("out of memory");
    return props;
}

int adm_cmd_export_configs(ctx_t *c) {
    static const char *const keys[] = {"brokerClusterName",
                                       "brokerId",
                                       "brokerName",
                                       "brokerRole",
                                       "fileReservedTime",
                                       "filterServerNums",
                                       "flushDiskType",
                                       "maxMessageSize",
                                       "messageDelayLevel",
                                       "msgTraceTopicName",
                                       "slaveReadEnable",
                                       "traceOn",
                                       "traceTopicEnable",
                                       "useTLS",
                                       "autoCreateTopicEnable",
                                       "autoCreateSubscriptionGroup",
                                       NULL};
    const char *cl = adm_opt(c, 'c', NULL), *dir = adm_opt(c, 'f', NULL);
    if (!dir) dir = DEFAULT_EXPORT_DIR;
    json_t *ci = adm_cluster_info(c);
    if (!ci) return 1;
    json_t *names = json_object_get(json_object_get(ci, "clusterAddrTable"), cl);
    if (!json_is_array(names)) {
        json_decref(ci);
        return adm_fail("cluster %s does not exist", cl);
    }
    int masters = 0, slaves = 0, rc = 0;
    json_t *configs = json_object();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *bd = json_object_get(json_object_get(ci, "brokerAddrTable"), json_string_value(n));
        json_t *addrs = json_object_get(bd, "brokerAddrs");
        slaves += (int)json_object_size(addrs) - (json_object_get(addrs, "0") ? 1 : 0);
        const char *m = json_string_value(json_object_get(addrs, "0"));
        if (!m || rc) continue;
        masters++;
        json_t *props = broker_props(c, m);
        if (!props) {
            rc = 1;
            continue;
        }
        json_t *pick = json_object();
        for (size_t k = 0; keys[k]; k++) {
            json_t *v = json_object_get(props, keys[k]);
            if (v) json_object_set(pick, keys[k], v);
        }
        json_object_set_new(configs, json_string_value(n), pick);
        json_decref(props);
    }
    json_decref(ci);
    if (rc == 0) {
        json_t *nss = json_array();
        char *list = strdup(c->ns), *save = NULL;
        for (char *t = list ? strtok_r(list, ";", &save) : NULL; t; t = strtok_r(NULL, ";", &save))
            json_array_append_new(nss, json_string(t));
        free(list);
        json_t *doc = json_pack("{s:O,s:{s:I,s:i,s:i}}", "brokerConfigs", configs, "clusterScale",
                                "namesrvSize", (json_int_t)json_array_size(nss), "masterBrokerSize",
                                masters, "slaveBrokerSize", slaves);
        json_decref(nss);
        rc = write_doc(c, dir, "configs.json", doc);
        json_decref(doc);
    }
    json_decref(configs);
    return rc;
}
