/* mqadmin message commands: queryMsgById / ByKey / ByUniqueKey / ByOffset, sendMessage,
 * consumeMessage. */
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
    if (!f) return "";
    fwrite(m->body, 1, m->body_len, f);
    fclose(f);
    return out;
}

void adm_track_consumers(ctx_t *c, const rmq_tool_msg_t *m, json_t *jout) {
    char **addrs = NULL, **names = NULL;
    json_t *tracks = json_array();
    if (rmq_admin_topic_brokers(c->admin, m->topic, &addrs, &names) == RMQ_OK && addrs[0]) {
        const char *kv[] = {"topic", m->topic, NULL};
        rmq_err_t e;
        json_t *gl =
            adm_broker_call(c, addrs[0], RMQ_REQ_QUERY_TOPIC_CONSUME_BY_WHO, kv, NULL, "", &e);
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(gl, "groupList"), i, g) {
            const char *group = json_string_value(g);
            const char *type = "UNKNOWN";
            char desc[256] = "";
            const char *ckv[] = {"consumerGroup", group, NULL};
            json_t *cc = NULL;
            for (char **p = addrs; *p && !cc; p++)
                cc =
                    adm_broker_call(c, *p, RMQ_REQ_GET_CONSUMER_CONNECTION_LIST, ckv, NULL, "", &e);
            if (!cc) {
                type = "NOT_ONLINE";
                snprintf(desc, sizeof desc, "CODE:%d DESC:the consumer group[%s] not online",
                         (int)e, group);
            } else {
                const char *skv[] = {"consumerGroup", group, "topic", m->topic, NULL};
                type = "NOT_CONSUME_YET";
                for (char **p = addrs; *p; p++) {
                    json_t *cs =
                        adm_broker_call(c, *p, RMQ_REQ_GET_CONSUME_STATS, skv, NULL, "", &e);
                    const char *key;
                    json_t *v;
                    json_object_foreach(json_object_get(cs, "offsetTable"), key, v) {
                        rmq_mq_t mq;
                        if (adm_mq_parse(key, &mq) && mq.queue_id == m->queue_id &&
                            strcmp(mq.topic, m->topic) == 0 &&
                            adm_jint(v, "consumerOffset") > m->queue_offset)
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
    for (char **p = addrs; p && *p; p++) free(*p);
    free(addrs);
    for (char **p = names; p && *p; p++) free(*p);
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
            adm_jstr(t, "consumerGroup"), adm_jstr(t, "trackType"), adm_jstr(t, "exceptionDesc"));
    }
    json_decref(tracks);
}

json_t *adm_msg_json(const rmq_tool_msg_t *m) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:i,s:I,s:I,s:s,s:s,s:i,s:s,s:s%}",
                     "offsetMsgId", m->offset_id, "msgId", m->uniq, "topic", m->topic, "tags",
                     m->tags, "keys", m->keys, "queueId", m->queue_id, "queueOffset",
                     (json_int_t)m->queue_offset, "commitLogOffset", (json_int_t)m->phys_offset,
                     "reconsumeTimes", m->reconsume_times, "bornTimestamp", (json_int_t)m->born_ts,
                     "storeTimestamp", (json_int_t)m->store_ts, "bornHost", m->born_host,
                     "storeHost", m->store_host, "sysFlag", m->sysflag, "properties", m->props,
                     "body", (const char *)m->body, m->body_len);
}

/* queryMsgById's label/value block (QueryMsgByIdSubCommand#printMsg). */
static void print_msg(ctx_t *c, const rmq_tool_msg_t *m) {
    char path[600], bt[40], st[40];
    body_path(m, m->offset_id, path, sizeof path);
    if (c->json) {
        json_t *o = adm_msg_json(m);
        json_object_set_new(o, "bodyPath", json_string(path));
        adm_track_consumers(c, m, o);
        adm_print_json(o);
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
    adm_track_consumers(c, m, NULL);
}

/* Raw message request decoded into records; prints nothing. */
static rmq_err_t fetch_msgs(ctx_t *c, const char *addr, int code, const char *const *kv,
                            rmq_tool_msg_t **v, size_t *n) {
    *v = NULL;
    *n = 0;
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK) return e;
    e = (rmq_err_t)r->code;
    if (e == RMQ_OK && (!r->body || rmq_tool_msgs_decode(r->body, r->body_len, v, n) != 0))
        e = RMQ_ERR__BAD_FRAME;
    rmq_admin_resp_destroy(r);
    return e;
}

/* QUERY_MESSAGE by unique key id in topic to the broker at addr (up to 32 messages). */
static rmq_err_t fetch_by_uniq(ctx_t *c, const char *addr, const char *topic, const char *id,
                               rmq_tool_msg_t **v, size_t *n) {
    /* clang-format off */
    const char *kv[] = {"topic", topic, "key", id, "maxNum", "32", "beginTimestamp", "0",
                        "endTimestamp", "9223372036854775807", "_UNIQUE_KEY_QUERY", "true",
                        NULL};
    /* clang-format on */
    return fetch_msgs(c, addr, RMQ_REQ_QUERY_MESSAGE, kv, v, n);
}

static int offset_id_addr(const char *id, char *addr, size_t n, char *off, size_t offn) {
    size_t len = strlen(id);
    if (len != 32 && len != 56) return -1;
    uint8_t raw[28];
    for (size_t i = 0; i < len / 2; i++) {
        unsigned x;
        if (sscanf(id + 2 * i, "%2x", &x) != 1) return -1;
        raw[i] = (uint8_t)x;
    }
    size_t ipl = len / 2 - 12;
    uint32_t port = (uint32_t)raw[ipl] << 24 | (uint32_t)raw[ipl + 1] << 16 |
                    (uint32_t)raw[ipl + 2] << 8 | raw[ipl + 3];
    uint64_t po = 0;
    for (int i = 0; i < 8; i++) po = po << 8 | raw[ipl + 4 + i];
    if (ipl != 4) return -1; /* IPv6 store hosts: not printed by this tool */
    /* a client UNIQ_KEY has the same length; its pid and hash bytes stand where an offset id
     * has the port, so a "port" outside 1..65535 says this is not an offset id */
    if (port == 0 || port > 65535) return -1;
    snprintf(addr, n, "%u.%u.%u.%u:%u", raw[0], raw[1], raw[2], raw[3], port);
    snprintf(off, offn, "%llu", (unsigned long long)po);
    return 0;
}

rmq_err_t adm_find_msg_by_id(ctx_t *c, const char *id, const char *topic, rmq_tool_msg_t **vp,
                             size_t *np) {
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
            for (char **p = addrs; *p && n == 0; p++) {
                rmq_tool_msgs_free(v, n);
                e = fetch_by_uniq(c, *p, topic, id, &v, &n);
            }
            for (char **p = addrs; *p; p++) free(*p);
            free(addrs);
        }
    }
    if ((e != RMQ_OK || n == 0) && !topic) {
        /* a UNIQ_KEY without -t: its index entry is per topic, so ask every topic's brokers
         * (the NameServer's topic list) until one has it */
        rmq_tool_msgs_free(v, n);
        v = NULL;
        n = 0;
        e = RMQ_ERR_QUERY_NOT_FOUND;
        json_t *tl = adm_ns_call(c, RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL, "topic list");
        if (!tl) return RMQ_ERR__FAIL;
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(tl, "topicList"), i, t) {
            const char *name = json_string_value(t);
            char **addrs = NULL;
            if (n || !name || rmq_admin_topic_brokers(c->admin, name, &addrs, NULL) != RMQ_OK)
                continue;
            for (char **p = addrs; *p && n == 0; p++) {
                rmq_tool_msgs_free(v, n);
                v = NULL;
                if (fetch_by_uniq(c, *p, name, id, &v, &n) == RMQ_OK && n) e = RMQ_OK;
            }
            for (char **p = addrs; *p; p++) free(*p);
            free(addrs);
        }
        json_decref(tl);
    }
    if (e == RMQ_OK && n == 0) e = RMQ_ERR_QUERY_NOT_FOUND;
    if (e != RMQ_OK) {
        rmq_tool_msgs_free(v, n);
        v = NULL;
        n = 0;
    }
    *vp = v;
    *np = n;
    return e;
}

int adm_cmd_query_msg_by_id(ctx_t *c) {
    const char *id = adm_opt(c, 'i', NULL), *topic = adm_opt(c, 't', NULL);
    if (adm_opt(c, 'g', NULL) && adm_opt(c, 'd', NULL)) return adm_consume_directly(c, id);
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = adm_find_msg_by_id(c, id, topic, &v, &n);
    if (e == RMQ_ERR__FAIL) return 1; /* the topic list failed; adm_ns_call said why */
    if (e != RMQ_OK || n == 0) {
        rmq_tool_msgs_free(v, n);
        return adm_fail("no message with id %s: %s", id,
                        e == RMQ_OK || e == RMQ_ERR_QUERY_NOT_FOUND
                            ? "not found (neither a stored offset id nor a unique key of any topic)"
                            : rmq_strerror(e));
    }
    print_msg(c, &v[0]);
    rmq_tool_msgs_free(v, n);
    return 0;
}

int adm_cmd_query_msg_by_unique_key(ctx_t *c) {
    const char *id = adm_opt(c, 'i', NULL), *topic = adm_opt(c, 't', NULL);
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL);
    if (e != RMQ_OK) return adm_fail("topic %s: %s", topic, adm_why(c, e));
    rmq_tool_msg_t *found = NULL;
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    for (char **p = addrs; *p && !found; p++) {
        e = fetch_by_uniq(c, *p, topic, id, &v, &n);
        for (size_t i = 0; e == RMQ_OK && i < n && !found; i++)
            if (strcmp(v[i].uniq, id) == 0 && strcmp(v[i].topic, topic) == 0) found = &v[i];
        if (!found) {
            rmq_tool_msgs_free(v, n);
            v = NULL;
            n = 0;
        }
    }
    for (char **p = addrs; *p; p++) free(*p);
    free(addrs);
    if (!found) return adm_fail("no message with unique key %s in topic %s", id, topic);
    print_msg(c, found);
    rmq_tool_msgs_free(v, n);
    return 0;
}

int adm_cmd_query_msg_by_key(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *key = adm_opt(c, 'k', NULL);
    const char *bs = adm_opt(c, 'b', NULL), *es = adm_opt(c, 'e', NULL);
    int64_t begin = 0, end = INT64_MAX;
    if (bs && (begin = rmq_tool_parse_time(bs, time(NULL) * 1000LL)) < 0)
        return adm_fail("bad begin timestamp %s", bs);
    if (es && (end = rmq_tool_parse_time(es, time(NULL) * 1000LL)) < 0)
        return adm_fail("bad end timestamp %s", es);
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_query_by_key(c->admin, topic, key, 64, begin, end, &msgs, &n);
    if (e != RMQ_OK && e != RMQ_ERR_QUERY_NOT_FOUND) return adm_fail("%s", adm_why(c, e));
    json_t *arr = c->json ? json_array() : NULL;
    if (!c->json) printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
    for (size_t i = 0; i < n && i < 64; i++) {
        const char *id = rmq_msg_id(msgs[i]);
        if (arr)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "msgId", id ? id : "", "queueId",
                                                 rmq_msg_queue_id(msgs[i]), "queueOffset",
                                                 (json_int_t)rmq_msg_queue_offset(msgs[i])));
        else
            printf("%-50s %4d %40lld\n", id ? id : "", rmq_msg_queue_id(msgs[i]),
                   (long long)rmq_msg_queue_offset(msgs[i]));
    }
    if (arr) {
        adm_print_json(arr);
        json_decref(arr);
    }
    if (msgs) rmq_msgs_destroy(msgs, n);
    return 0;
}

/* Address of broker name bn in topic's route (master first). */
static int broker_addr_of(ctx_t *c, const char *topic, const char *bn, char *out, size_t n) {
    char **addrs = NULL, **names = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, &names);
    if (e != RMQ_OK) return adm_fail("topic %s: %s", topic, adm_why(c, e));
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
    return rc ? adm_fail("broker %s is not in the route of topic %s", bn, topic) : 0;
}

rmq_err_t adm_pull_raw(ctx_t *c, const char *addr, const char *group, const char *topic, int qid,
                       int64_t offset, int max, rmq_tool_msg_t **v, size_t *n, int64_t *next) {
    char qs[16], os[24], ms[16];
    snprintf(qs, sizeof qs, "%d", qid);
    snprintf(os, sizeof os, "%lld", (long long)offset);
    snprintf(ms, sizeof ms, "%d", max);
    /* clang-format off */
    const char *kv[] = {"consumerGroup", group, "topic", topic, "queueId", qs, "queueOffset",
                        os, "maxMsgNums", ms, "sysFlag", "4", "commitOffset", "0",
                        "suspendTimeoutMillis", "0", "subscription", "*", "subVersion", "0",
                        "expressionType", "TAG", NULL};
    /* clang-format on */
    rmq_admin_resp_t *r = NULL;
    *v = NULL;
    *n = 0;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, RMQ_REQ_PULL_MESSAGE, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK) return e;
    e = (rmq_err_t)r->code;
    const char *nb = rmq_admin_resp_get(r, "nextBeginOffset");
    *next = nb ? strtoll(nb, NULL, 10) : offset;
    if (e == RMQ_OK && r->body && rmq_tool_msgs_decode(r->body, r->body_len, v, n) != 0)
        e = RMQ_ERR__BAD_FRAME;
    rmq_admin_resp_destroy(r);
    return e;
}

int adm_cmd_query_msg_by_offset(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *bn = adm_opt(c, 'b', NULL);
    int qid;
    const char *os = adm_opt(c, 'o', NULL);
    char *end;
    long long off = strtoll(os, &end, 10);
    if (*end || off < 0) return adm_fail("bad offset %s", os);
    if (adm_opt_int(c, 'i', 0, &qid)) return 1;
    char addr[128];
    if (broker_addr_of(c, topic, bn, addr, sizeof addr)) return 1;
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    int64_t next;
    rmq_err_t e = adm_pull_raw(c, addr, TOOLS_GROUP, topic, qid, off, 1, &v, &n, &next);
    if (e != RMQ_OK || n == 0) {
        rmq_tool_msgs_free(v, n);
        return adm_fail("no message at %s:%d offset %lld: %s", bn, qid, off,
                        e == RMQ_OK ? "not found" : rmq_strerror(e));
    }
    print_msg(c, &v[0]);
    rmq_tool_msgs_free(v, n);
    return 0;
}

int adm_cmd_send_message(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *body = adm_opt(c, 'p', NULL);
    const char *keys = adm_opt(c, 'k', NULL), *tags = adm_opt(c, 'c', NULL);
    const char *bn = adm_opt(c, 'b', NULL), *qs = adm_opt(c, 'i', NULL);
    rmq_conf_t *conf = rmq_tool_conf_new(c->ns);
    char err[256];
    rmq_conf_set(conf, "producerGroup", "TOOLS_PRODUCER", err, sizeof err);
    rmq_conf_set(conf, "retryTimesWhenSendFailed", "0", err, sizeof err);
    rmq_producer_t *p = rmq_producer_new(conf, err, sizeof err);
    if (!p) {
        rmq_conf_destroy(conf);
        return adm_fail("cannot start a producer: %s", err);
    }
    rmq_msg_t *m = rmq_msg_new(topic, tags, keys, body, strlen(body), RMQ_MSG_F_COPY);
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
    if (e != RMQ_OK) return adm_fail("send to topic %s failed: %s", topic, rmq_strerror(e));
    static const char *st[] = {"SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT",
                               "SLAVE_NOT_AVAILABLE"};
    const char *status = (unsigned)r.status < 4 ? st[r.status] : "UNKNOWN";
    if (c->json) {
        json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s,s:I}", "brokerName", r.mq.broker, "queueId",
                              r.mq.queue_id, "sendStatus", status, "msgId", r.msg_id, "offsetMsgId",
                              r.offset_msg_id, "queueOffset", (json_int_t)r.offset);
        adm_print_json(o);
        json_decref(o);
    } else {
        printf("%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId");
        printf("%-32s  %-4d  %-20s    %s\n", r.mq.broker, r.mq.queue_id, status, r.msg_id);
    }
    return 0;
}

int adm_cmd_consume_message(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL), *bn = adm_opt(c, 'b', NULL);
    const char *group = adm_opt(c, 'g', NULL);
    int qid_filter, count;
    if (adm_opt_int(c, 'i', -1, &qid_filter) || adm_opt_int(c, 'c', 128, &count)) return 1;
    const char *os = adm_opt(c, 'o', NULL);
    int64_t from = os ? strtoll(os, NULL, 10) : -1;
    char **addrs = NULL, **names = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, &names);
    if (e != RMQ_OK) return adm_fail("topic %s: %s", topic, adm_why(c, e));
    json_t *route = adm_route_of(c, topic);
    json_t *arr = c->json ? json_array() : NULL;
    int got = 0, rc = 0;
    for (size_t b = 0; addrs[b] && got < count; b++) {
        if (bn && strcmp(bn, names[b]) != 0) continue;
        int nq = 0;
        size_t k;
        json_t *q;
        json_array_foreach(json_object_get(route, "queueDatas"), k,
                           q) if (strcmp(adm_jstr(q, "brokerName"), names[b]) == 0) nq =
            (int)adm_jint(q, "readQueueNums");
        for (int qid = 0; qid < nq && got < count; qid++) {
            if (qid_filter >= 0 && qid != qid_filter) continue;
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
                e = adm_pull_raw(c, addrs[b], group ? group : TOOLS_GROUP, topic, qid, off, want,
                                 &v, &n, &next);
                if (e == RMQ_ERR_PULL_OFFSET_MOVED && next != off) {
                    off = next;
                    continue;
                }
                if (e != RMQ_OK || n == 0) {
                    rmq_tool_msgs_free(v, n);
                    if (e != RMQ_OK && e != RMQ_ERR_PULL_NOT_FOUND &&
                        e != RMQ_ERR_PULL_RETRY_IMMEDIATELY && e != RMQ_ERR_PULL_OFFSET_MOVED) {
                        rc = adm_fail("pull %s:%d: %s", names[b], qid, rmq_strerror(e));
                        goto out;
                    }
                    break;
                }
                for (size_t i = 0; i < n && got < count; i++, got++) {
                    rmq_tool_msg_t *m = &v[i];
                    if (arr)
                        json_array_append_new(arr, adm_msg_json(m));
                    else
                        printf("MSGID: %s Topic: %s BrokerName: %s QueueId: %d QueueOffset: "
                               "%lld Tags: %s Keys: %s BornTimestamp: %lld StoreTimestamp: "
                               "%lld BODY: %.*s\n",
                               m->uniq, m->topic, names[b], m->queue_id, (long long)m->queue_offset,
                               m->tags, m->keys, (long long)m->born_ts, (long long)m->store_ts,
                               (int)m->body_len, (const char *)m->body);
                }
                off = next > off ? next : off + (int64_t)n;
                rmq_tool_msgs_free(v, n);
            }
        }
    }
    if (arr)
        adm_print_json(arr);
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
