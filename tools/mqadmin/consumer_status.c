/* mqadmin commands that ask a running consumer through a broker (RocketMQ 4.9.8
 * ConsumerStatusSubCommand, QueryMsgByIdSubCommand -g -d, ConsumerProgressSubCommand -s):
 * GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) go to a broker, which
 * forwards them to the client by clientId (broker/reply.c). Output layouts are Java's
 * ConsumerRunningInfo.formatString and ConsumeMessageDirectlyResult.toString. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/msg.h"
#include "common/util.h"
#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

/* A broker of the group (its %RETRY% topic's first master), as DefaultMQAdminExtImpl does;
 * consumerStatus -b names one. */
static rmq_err_t group_broker(ctx_t *c, const char *group, char *addr, size_t n) {
    const char *b =
        c->cmd && strcmp(c->cmd->name, "consumerStatus") == 0 ? adm_opt(c, 'b', NULL) : NULL;
    if (b) { /* consumerStatus -b: ask this broker */
        snprintf(addr, n, "%s", b);
        return RMQ_OK;
    }
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, retry, &addrs, NULL);
    if (e != RMQ_OK) return e;
    e = addrs[0] ? RMQ_OK : RMQ_ERR__NO_ROUTE;
    if (addrs[0]) snprintf(addr, n, "%s", addrs[0]);
    for (char **p = addrs; *p; p++) free(*p);
    free(addrs);
    return e;
}

json_t *adm_running_info(ctx_t *c, const char *group, const char *client_id, bool jstack,
                         rmq_err_t *err) {
    char addr[128];
    rmq_err_t e = group_broker(c, group, addr, sizeof addr);
    if (e) {
        *err = e;
        return NULL;
    }
    const char *kv[] = {"consumerGroup",           group, "clientId", client_id, "jstackEnable",
                        jstack ? "true" : "false", NULL};
    return adm_broker_call(c, addr, RMQ_REQ_GET_CONSUMER_RUNNING_INFO, kv, NULL, "running info",
                           err);
}

/* UtilAll.timeMillisToHumanString: yyyyMMddHHmmssSSS, local time. */
static void human_ms(int64_t ms, char *out, size_t n) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    snprintf(out, n, "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

typedef struct {
    rmq_mq_t mq;
    json_t *pq;
} mqrow_t;

static int mqrow_cmp(const void *a, const void *b) {
    return adm_mq_cmp(&((const mqrow_t *)a)->mq, &((const mqrow_t *)b)->mq);
}

/* mqTable rows sorted as Java's TreeMap<MessageQueue, ...>; new array (free()). */
static mqrow_t *mq_rows(json_t *info, size_t *n) {
    json_t *t = json_object_get(info, "mqTable");
    *n = 0;
    mqrow_t *rows = calloc(json_object_size(t) + 1, sizeof *rows);
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v) {
        if (!adm_mq_parse(k, &rows[*n].mq)) continue;
        rows[*n].pq = v;
        (*n)++;
    }
    qsort(rows, *n, sizeof *rows, mqrow_cmp);
    return rows;
}

static bool jbool(json_t *o, const char *k) {
    return json_is_true(json_object_get(o, k));
}

/* ConsumerRunningInfo.formatString (4.9.8). */
static void format_info(FILE *f, json_t *info) {
    fprintf(f, "#Consumer Properties#\n");
    json_t *props = json_object_get(info, "properties");
    size_t n;
    const char **keys = adm_sorted_keys(props, &n);
    for (size_t i = 0; i < n; i++) fprintf(f, "%-40s: %s\n", keys[i], adm_jstr(props, keys[i]));
    free(keys);
    fprintf(f, "\n\n#Consumer Subscription#\n");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(info, "subscriptionSet"), i, s) fprintf(
        f, "%03zu Topic: %-40s ClassFilter: %-8s SubExpression: %s\n", i + 1, adm_jstr(s, "topic"),
        jbool(s, "classFilterMode") ? "true" : "false", adm_jstr(s, "subString"));
    size_t nr;
    mqrow_t *rows = mq_rows(info, &nr);
    fprintf(f, "\n\n#Consumer Offset#\n");
    fprintf(f, "%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID", "#Consumer Offset");
    for (i = 0; i < nr; i++)
        fprintf(f, "%-32s  %-32s  %-4d  %-20" PRId64 "\n", rows[i].mq.topic, rows[i].mq.broker,
                rows[i].mq.queue_id, adm_jint(rows[i].pq, "commitOffset"));
    fprintf(f, "\n\n#Consumer MQ Detail#\n");
    fprintf(f, "%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID",
            "#ProcessQueueInfo");
    for (i = 0; i < nr; i++) {
        json_t *q = rows[i].pq;
        char lk[64], lp[64], lc[64];
        human_ms(adm_jint(q, "lastLockTimestamp"), lk, sizeof lk);
        human_ms(adm_jint(q, "lastPullTimestamp"), lp, sizeof lp);
        human_ms(adm_jint(q, "lastConsumeTimestamp"), lc, sizeof lc);
        fprintf(f,
                "%-64s  %-32s  %-4d  ProcessQueueInfo [commitOffset=%" PRId64
                ", cachedMsgMinOffset=%" PRId64 ", cachedMsgMaxOffset=%" PRId64
                ", cachedMsgCount=%" PRId64 ", cachedMsgSizeInMiB=%" PRId64
                ", transactionMsgMinOffset=%" PRId64 ", transactionMsgMaxOffset=%" PRId64
                ", transactionMsgCount=%" PRId64 ", locked=%s, tryUnlockTimes=%" PRId64
                ", lastLockTimestamp=%s, droped=%s, lastPullTimestamp=%s, "
                "lastConsumeTimestamp=%s]\n",
                rows[i].mq.topic, rows[i].mq.broker, rows[i].mq.queue_id,
                adm_jint(q, "commitOffset"), adm_jint(q, "cachedMsgMinOffset"),
                adm_jint(q, "cachedMsgMaxOffset"), adm_jint(q, "cachedMsgCount"),
                adm_jint(q, "cachedMsgSizeInMiB"), adm_jint(q, "transactionMsgMinOffset"),
                adm_jint(q, "transactionMsgMaxOffset"), adm_jint(q, "transactionMsgCount"),
                jbool(q, "locked") ? "true" : "false", adm_jint(q, "tryUnlockTimes"), lk,
                jbool(q, "droped") ? "true" : "false", lp, lc);
    }
    free(rows);
    fprintf(f, "\n\n#Consumer RT&TPS#\n");
    fprintf(f, "%-64s  %14s %14s %14s %14s %18s %25s\n", "#Topic", "#Pull RT", "#Pull TPS",
            "#Consume RT", "#ConsumeOK TPS", "#ConsumeFailed TPS", "#ConsumeFailedMsgsInHour");
    json_t *st = json_object_get(info, "statusTable");
    keys = adm_sorted_keys(st, &n);
    for (i = 0; i < n; i++) {
        json_t *v = json_object_get(st, keys[i]);
        fprintf(f, "%-32s  %14.2f %14.2f %14.2f %14.2f %18.2f %25" PRId64 "\n", keys[i],
                adm_jreal(v, "pullRT"), adm_jreal(v, "pullTPS"), adm_jreal(v, "consumeRT"),
                adm_jreal(v, "consumeOKTPS"), adm_jreal(v, "consumeFailedTPS"),
                adm_jint(v, "consumeFailedMsgs"));
    }
    free(keys);
    const char *js = json_string_value(json_object_get(info, "jstack"));
    if (js) fprintf(f, "\n\n#Consumer jstack#\n%s", js);
}

/* Two subscription sets alike (analyzeSubscription: topic and expression of each). */
static bool same_subs(json_t *a, json_t *b) {
    if (json_array_size(a) != json_array_size(b)) return false;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        if (strcmp(adm_jstr(x, "topic"), adm_jstr(y, "topic")) != 0 ||
            strcmp(adm_jstr(x, "subString"), adm_jstr(y, "subString")) != 0)
            return false;
    }
    return true;
}

int adm_cmd_consumer_status(ctx_t *c) {
    const char *group = adm_opt(c, 'g', NULL), *cid = adm_opt(c, 'i', NULL);
    bool jstack = adm_opt(c, 's', NULL) != NULL;
    rmq_err_t e;
    if (cid) {
        json_t *info = adm_running_info(c, group, cid, jstack, &e);
        if (!info) return adm_fail("consumer %s of %s: %s", cid, group, adm_why(c, e));
        if (c->json)
            adm_print_json(info);
        else
            format_info(stdout, info);
        json_decref(info);
        return 0;
    }
    json_t *cc = adm_consumer_conn(c, group, &e);
    if (!cc) return adm_fail("consumer group %s: %s", group, adm_why(c, e));
    int64_t now = rmq_now_ms();
    char dir[64];
    snprintf(dir, sizeof dir, "%" PRId64, now);
    if (!c->json)
        printf("%-10s %-40s %-20s %s\n", "#Index", "#ClientId", "#Version",
               "#ConsumerRunningInfoFile");
    json_t *all = json_object(); /* clientId -> info */
    size_t i;
    json_t *cn;
    int idx = 1;
    json_array_foreach(json_object_get(cc, "connectionSet"), i, cn) {
        const char *id = adm_jstr(cn, "clientId");
        json_t *info = adm_running_info(c, group, id, jstack, &e);
        if (!info) {
            fprintf(stderr, "%s: %s\n", id, adm_why(c, e));
            continue;
        }
        if (!c->json) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, id);
            mkdir(dir, 0755);
            FILE *f = fopen(path, "w");
            if (f) {
                format_info(f, info);
                fclose(f);
            }
            int v = (int)adm_jint(cn, "version");
            char ver[32];
            if (v == 409)
                snprintf(ver, sizeof ver, "V4_9_8");
            else
                snprintf(ver, sizeof ver, "V%d", v);
            printf("%-10d %-40s %-20s %s\n", idx++, id, ver, f ? path : "(not written)");
        }
        json_object_set_new(all, id, info);
    }
    if (c->json) {
        adm_print_json(all);
    } else if (json_object_size(all)) {
        size_t n;
        const char **ids = adm_sorted_keys(all, &n);
        bool same = true;
        for (size_t k = 1; k < n; k++)
            same =
                same && same_subs(json_object_get(json_object_get(all, ids[0]), "subscriptionSet"),
                                  json_object_get(json_object_get(all, ids[k]), "subscriptionSet"));
        if (same) {
            printf("\n\nSame subscription in the same group of consumer");
            printf("\n\nRebalance %s\n", "OK");
            for (size_t k = 0; k < n; k++) {
                json_t *info = json_object_get(all, ids[k]);
                json_t *props = json_object_get(info, "properties");
                bool orderly = strcmp(adm_jstr(props, "PROP_CONSUMEORDERLY"), "true") == 0;
                size_t nr;
                mqrow_t *rows = mq_rows(info, &nr);
                for (size_t r = 0; r < nr; r++) {
                    json_t *q = rows[r].pq;
                    char mq[400];
                    snprintf(mq, sizeof mq, "MessageQueue [topic=%s, brokerName=%s, queueId=%d]",
                             rows[r].mq.topic, rows[r].mq.broker, rows[r].mq.queue_id);
                    if (orderly && !jbool(q, "locked"))
                        printf("%s %s can't lock for a while, %" PRId64 "ms\n", ids[k], mq,
                               now - adm_jint(q, "lastLockTimestamp"));
                    int64_t diff = now - adm_jint(q, "lastConsumeTimestamp");
                    if (!orderly && diff > 60000 && adm_jint(q, "cachedMsgCount") > 0)
                        printf("%s %s can't consume for a while, maybe blocked, %" PRId64 "ms\n",
                               ids[k], mq, diff);
                }
                free(rows);
            }
        } else {
            printf("\n\nWARN: Different subscription in the same group of consumer!!!");
        }
        free(ids);
    }
    json_decref(all);
    json_decref(cc);
    return 0;
}

/* queryMsgById -i id -g group -d clientId: CONSUME_MESSAGE_DIRECTLY on the message's broker. */
int adm_consume_directly(ctx_t *c, const char *ids) {
    const char *group = adm_opt(c, 'g', NULL), *cid = adm_opt(c, 'd', NULL);
    char *dup = strdup(ids), *save = NULL;
    int rc = 0;
    for (char *id = strtok_r(dup, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        while (*id == ' ') id++;
        if (!*id) continue;
        rmq_msg_host_t host;
        int64_t off;
        if (rmq_msg_offset_id_parse(id, &host, &off) != RMQ_OK || host.ip_len != 4) {
            rc = adm_fail("%s is not an offset message id", id);
            continue;
        }
        char addr[64];
        snprintf(addr, sizeof addr, "%u.%u.%u.%u:%u", host.ip[0], host.ip[1], host.ip[2],
                 host.ip[3], (unsigned)host.port);
        const char *kv[] = {"consumerGroup", group, "clientId", cid, "msgId", id, NULL};
        rmq_err_t e;
        json_t *r =
            adm_broker_call(c, addr, RMQ_REQ_CONSUME_MESSAGE_DIRECTLY, kv, NULL, "consume", &e);
        if (!r) {
            rc = adm_fail("consume %s directly on %s: %s", id, cid, adm_why(c, e));
            continue;
        }
        if (c->json) {
            adm_print_json(r);
        } else {
            const char *remark = json_string_value(json_object_get(r, "remark"));
            printf("ConsumeMessageDirectlyResult [order=%s, autoCommit=%s, consumeResult=%s, "
                   "remark=%s, spentTimeMills=%" PRId64 "]",
                   jbool(r, "order") ? "true" : "false", jbool(r, "autoCommit") ? "true" : "false",
                   adm_jstr(r, "consumeResult"), remark ? remark : "null",
                   adm_jint(r, "spentTimeMills"));
        }
        json_decref(r);
    }
    free(dup);
    return rc;
}
