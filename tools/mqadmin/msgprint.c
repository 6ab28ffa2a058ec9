/* mqadmin message printing and send probes: printMsg, printMsgByQueue (PrintMessageSubCommand,
 * PrintMessageByQueueCommand), sendMsgStatus, checkMsgSendRT, clusterRT (SendMsgStatusCommand,
 * CheckMsgSendRTCommand, CLusterSendMsgRTCommand of RocketMQ 4.9.8).
 *
 * The printers pull with raw PULL_MESSAGE requests (group TOOLS_CONSUMER, no offset commit)
 * between the queue's min and max offsets, or the offsets SEARCH_OFFSET_BY_TIMESTAMP gives for
 * -b / -e. A message prints as 4.9.8's "MSGID: <id> MessageExt [...] BODY: <body>"; the
 * MessageExt part carries the fields the stored record has (its body as a byte count, not
 * Java's list of byte values). Bodies print as their bytes: UTF-8 is the only charset. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"
#include "tools/msgrec.h"

/* ---- queue offsets and pulls ---------------------------------------------------------- */

/* GET_MIN_OFFSET / GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP (ts) of one queue; -1 on error
 * (printed). */
static int64_t queue_offset(ctx_t *c, const char *addr, int code, const rmq_mq_t *mq, int64_t ts) {
    char qs[16], tss[24];
    snprintf(qs, sizeof qs, "%d", mq->queue_id);
    snprintf(tss, sizeof tss, "%lld", (long long)ts);
    const char *kv[] = {"topic", mq->topic, "queueId", qs, "timestamp", tss, NULL};
    if (code != RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP) kv[4] = NULL;
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, kv, NULL, 0, 0, &r);
    int64_t off = -1;
    if (e == RMQ_OK && r->code == 0 && rmq_admin_resp_get(r, "offset"))
        off = strtoll(rmq_admin_resp_get(r, "offset"), NULL, 10);
    else
        adm_fail("offset of %s:%s:%d at %s: %s", mq->topic, mq->broker, mq->queue_id, addr,
                 e != RMQ_OK ? rmq_strerror(e)
                 : r->remark ? r->remark
                             : rmq_strerror(r->code));
    rmq_admin_resp_destroy(r);
    return off;
}

/* One PULL_MESSAGE of up to 32 records from offset with a TAG expression; the response code
 * (RMQ_OK = FOUND). *v new (rmq_tool_msgs_free). */
static rmq_err_t pull_sub(ctx_t *c, const char *addr, const rmq_mq_t *mq, const char *sub,
                          int64_t offset, rmq_tool_msg_t **v, size_t *n, int64_t *next) {
    char qs[16], os[24];
    snprintf(qs, sizeof qs, "%d", mq->queue_id);
    snprintf(os, sizeof os, "%lld", (long long)offset);
    /* clang-format off */
    const char *kv[] = {"consumerGroup", TOOLS_GROUP, "topic", mq->topic, "queueId", qs,
                        "queueOffset", os, "maxMsgNums", "32", "sysFlag", "4", "commitOffset", "0",
                        "suspendTimeoutMillis", "0", "subscription", sub, "subVersion", "0",
                        "expressionType", "TAG", NULL};
    /* clang-format on */
    rmq_admin_resp_t *r = NULL;
    *v = NULL;
    *n = 0;
    *next = offset;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, RMQ_REQ_PULL_MESSAGE, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK) return e;
    e = (rmq_err_t)r->code;
    const char *nb = rmq_admin_resp_get(r, "nextBeginOffset");
    if (nb) *next = strtoll(nb, NULL, 10);
    if (e == RMQ_OK && r->body && rmq_tool_msgs_decode(r->body, r->body_len, v, n) != 0)
        e = RMQ_ERR__BAD_FRAME;
    rmq_admin_resp_destroy(r);
    return e;
}

static const char *pull_status(rmq_err_t e) {
    switch ((int)e) {
    case RMQ_OK: return "FOUND";
    case RMQ_ERR_PULL_NOT_FOUND: return "NO_NEW_MSG";
    case RMQ_ERR_PULL_RETRY_IMMEDIATELY: return "NO_MATCHED_MSG";
    case RMQ_ERR_PULL_OFFSET_MOVED: return "OFFSET_ILLEGAL";
    default: return NULL;
    }
}

static void mq_str(const rmq_mq_t *mq, char *out, size_t n) {
    snprintf(out, n, "MessageQueue [topic=%s, brokerName=%s, queueId=%d]", mq->topic, mq->broker,
             mq->queue_id);
}

/* 4.9.8's printMessage line. */
static void print_one(const rmq_tool_msg_t *m, const char *broker, bool body) {
    printf("MSGID: %s MessageExt [brokerName=%s, queueId=%d, queueOffset=%lld, sysFlag=%d, "
           "bornTimestamp=%lld, bornHost=/%s, storeTimestamp=%lld, storeHost=/%s, msgId=%s, "
           "commitLogOffset=%lld, reconsumeTimes=%d, toString()=Message{topic='%s', flag=%d, "
           "properties=%s, body=[%zu bytes]}] BODY: ",
           *m->uniq ? m->uniq : m->offset_id, broker, m->queue_id, (long long)m->queue_offset,
           m->sysflag, (long long)m->born_ts, m->born_host, (long long)m->store_ts, m->store_host,
           m->offset_id, (long long)m->phys_offset, m->reconsume_times, m->topic, m->flag, m->props,
           m->body_len);
    if (body)
        fwrite(m->body, 1, m->body_len, stdout);
    else
        fputs("NOT PRINT BODY", stdout);
    putchar('\n');
}

static json_t *msg_obj(const rmq_tool_msg_t *m, const char *broker, bool body) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:s,s:s}", "msgId",
                          *m->uniq ? m->uniq : m->offset_id, "offsetMsgId", m->offset_id, "topic",
                          m->topic, "brokerName", broker, "tags", m->tags, "keys", m->keys,
                          "queueId", m->queue_id, "queueOffset", (json_int_t)m->queue_offset,
                          "commitLogOffset", (json_int_t)m->phys_offset, "bornTimestamp",
                          (json_int_t)m->born_ts, "storeTimestamp", (json_int_t)m->store_ts,
                          "bornHost", m->born_host, "properties", m->props);
    if (o && body) json_object_set_new(o, "body", json_stringn((const char *)m->body, m->body_len));
    return o;
}

/* Options shared by both printers. */
typedef struct {
    const char *sub;
    bool body, print, tags; /* print bodies; print messages at all; count tags */
    bool has_b, has_e;
    int64_t b, e;
} popt_t;

static int parse_popts(ctx_t *c, popt_t *o) {
    const char *cs = adm_opt(c, 'c', NULL);
    if (cs && strcasecmp(cs, "UTF-8") && strcasecmp(cs, "UTF8"))
        return adm_fail("charset %s: mqadmin prints bodies as their bytes (UTF-8 only)", cs);
    o->sub = adm_opt(c, 's', NULL);
    if (!o->sub || !*o->sub) o->sub = "*";
    const char *bs = adm_opt(c, 'b', NULL), *es = adm_opt(c, 'e', NULL);
    int64_t now = (int64_t)time(NULL) * 1000;
    if ((o->has_b = bs != NULL) && (o->b = rmq_tool_parse_time(bs, now)) < 0)
        return adm_fail("bad begin timestamp %s (milliseconds or yyyy-MM-dd#HH:mm:ss:SSS)", bs);
    if ((o->has_e = es != NULL) && (o->e = rmq_tool_parse_time(es, now)) < 0)
        return adm_fail("bad end timestamp %s (milliseconds or yyyy-MM-dd#HH:mm:ss:SSS)", es);
    return 0;
}

typedef struct {
    char tag[256];
    long long n;
} tagcount_t;

static int tag_cmp(const void *a, const void *b) {
    const tagcount_t *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->tag, y->tag);
}

/* Print (or add to jq) one queue's messages between its offsets; counts tags into tc. verbose:
 * printMsg's per-queue lines. 0, or 1 after an error line. */
static int print_queue(ctx_t *c, const char *addr, const rmq_mq_t *mq, const popt_t *o,
                       bool verbose, json_t *jq, tagcount_t **tc, size_t *ntc) {
    int64_t mn = queue_offset(c, addr, RMQ_REQ_GET_MIN_OFFSET, mq, 0);
    int64_t mx = queue_offset(c, addr, RMQ_REQ_GET_MAX_OFFSET, mq, 0);
    if (mn < 0 || mx < 0) return 1;
    if (o->has_b && (mn = queue_offset(c, addr, RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, mq, o->b)) < 0)
        return 1;
    if (o->has_e && (mx = queue_offset(c, addr, RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, mq, o->e)) < 0)
        return 1;
    char mqs[400];
    mq_str(mq, mqs, sizeof mqs);
    json_t *msgs = json_array();
    if (jq) {
        json_object_set_new(jq, "minOffset", json_integer(mn));
        json_object_set_new(jq, "maxOffset", json_integer(mx));
    } else if (verbose) {
        printf("minOffset=%lld, maxOffset=%lld, %s\n", (long long)mn, (long long)mx, mqs);
    }
    int rc = 0;
    for (int64_t off = mn; off < mx;) {
        rmq_tool_msg_t *v;
        size_t n;
        int64_t next;
        rmq_err_t e = pull_sub(c, addr, mq, o->sub, off, &v, &n, &next);
        const char *st = pull_status(e);
        if (!st) {
            rc = adm_fail("pull %s offset %lld: %s", mqs, (long long)off, rmq_strerror(e));
            break;
        }
        off = next;
        for (size_t i = 0; i < n; i++) {
            if (o->tags && *v[i].tags) {
                size_t k = 0;
                while (k < *ntc && strcmp((*tc)[k].tag, v[i].tags)) k++;
                if (k == *ntc) {
                    tagcount_t *nt = realloc(*tc, (*ntc + 1) * sizeof *nt);
                    if (nt) {
                        *tc = nt;
                        snprintf(nt[k].tag, sizeof nt[k].tag, "%s", v[i].tags);
                        nt[k].n = 0;
                        (*ntc)++;
                    }
                }
                if (k < *ntc) (*tc)[k].n++;
            }
            if (!o->print) continue;
            if (jq)
                json_array_append_new(msgs, msg_obj(&v[i], mq->broker, o->body));
            else
                print_one(&v[i], mq->broker, o->body);
        }
        rmq_tool_msgs_free(v, n);
        if (e == RMQ_OK) continue;
        if (e == RMQ_ERR_PULL_RETRY_IMMEDIATELY) { /* NO_MATCHED_MSG: go on from next */
            if (verbose && !jq)
                printf("%s no matched msg. status=%s, offset=%lld\n", mqs, st, (long long)off);
            continue;
        }
        if (verbose && !jq)
            printf("%s print msg finished. status=%s, offset=%lld\n", mqs, st, (long long)off);
        break;
    }
    if (jq)
        json_object_set_new(jq, "messages", msgs);
    else
        json_decref(msgs);
    return rc;
}

/* Read queues of topic with their master addresses (new arrays; NULL after an error line). */
static rmq_mq_t *topic_queues(ctx_t *c, const char *topic, char ***addrs_out, size_t *n) {
    char **addrs = NULL, **names = NULL;
    *n = 0;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, &names);
    if (e != RMQ_OK) {
        adm_fail("topic %s: %s", topic, adm_why(c, e));
        return NULL;
    }
    json_t *route = adm_route_of(c, topic);
    size_t cap = 0;
    rmq_mq_t *mqs = NULL;
    char **qaddr = NULL;
    for (size_t b = 0; addrs[b]; b++) {
        size_t k;
        json_t *q;
        json_array_foreach(json_object_get(route, "queueDatas"), k, q) {
            if (strcmp(adm_jstr(q, "brokerName"), names[b]) != 0) continue;
            int nq = (int)adm_jint(q, "readQueueNums");
            for (int i = 0; i < nq; i++) {
                if (*n == cap) {
                    cap = cap ? cap * 2 : 16;
                    rmq_mq_t *nm = realloc(mqs, cap * sizeof *nm);
                    char **na = realloc(qaddr, cap * sizeof *na);
                    if (nm) mqs = nm;
                    if (na) qaddr = na;
                    if (!nm || !na) goto out;
                }
                memset(&mqs[*n], 0, sizeof mqs[*n]);
                snprintf(mqs[*n].topic, sizeof mqs[*n].topic, "%s", topic);
                snprintf(mqs[*n].broker, sizeof mqs[*n].broker, "%s", names[b]);
                mqs[*n].queue_id = i;
                qaddr[*n] = strdup(addrs[b]);
                (*n)++;
            }
        }
    }
out:
    json_decref(route);
    for (size_t b = 0; addrs[b]; b++) {
        free(addrs[b]);
        free(names[b]);
    }
    free(addrs);
    free(names);
    *addrs_out = qaddr;
    if (!mqs) mqs = calloc(1, sizeof *mqs);
    return mqs;
}

int adm_cmd_print_msg(ctx_t *c) {
    popt_t o = {0};
    if (parse_popts(c, &o)) return 1;
    const char *d = adm_opt(c, 'd', NULL);
    o.body = !d || strcasecmp(d, "true") == 0;
    o.print = true;
    const char *topic = adm_opt(c, 't', NULL);
    char **addrs = NULL;
    size_t n = 0;
    rmq_mq_t *mqs = topic_queues(c, topic, &addrs, &n);
    if (!mqs) return 1;
    json_t *arr = c->json ? json_array() : NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *jq = NULL;
        if (arr) {
            jq = json_pack("{s:s,s:s,s:i}", "topic", mqs[i].topic, "brokerName", mqs[i].broker,
                           "queueId", mqs[i].queue_id);
            json_array_append_new(arr, jq);
        }
        rc = print_queue(c, addrs[i], &mqs[i], &o, true, jq, NULL, NULL);
        if (!arr) printf("--------------------------------------------------------\n");
    }
    if (arr && rc == 0) adm_print_json(arr);
    json_decref(arr);
    for (size_t i = 0; i < n; i++) free(addrs[i]);
    free(addrs);
    free(mqs);
    return rc;
}

int adm_cmd_print_msg_by_queue(ctx_t *c) {
    popt_t o = {0};
    if (parse_popts(c, &o)) return 1;
    o.print = adm_opt_true(c, 'p', NULL);
    o.body = adm_opt_true(c, 'd', NULL);
    o.tags = adm_opt_true(c, 'f', NULL);
    rmq_mq_t mq = {0};
    snprintf(mq.topic, sizeof mq.topic, "%s", adm_opt(c, 't', NULL));
    snprintf(mq.broker, sizeof mq.broker, "%s", adm_opt(c, 'a', NULL));
    if (adm_opt_int(c, 'i', 0, &mq.queue_id)) return 1;
    char **addrs = NULL;
    size_t n = 0;
    rmq_mq_t *mqs = topic_queues(c, mq.topic, &addrs, &n);
    if (!mqs) return 1;
    const char *addr = NULL;
    for (size_t i = 0; i < n && !addr; i++)
        if (!strcmp(mqs[i].broker, mq.broker) && mqs[i].queue_id == mq.queue_id) addr = addrs[i];
    int rc;
    tagcount_t *tc = NULL;
    size_t ntc = 0;
    json_t *jq = c->json ? json_pack("{s:s,s:s,s:i}", "topic", mq.topic, "brokerName", mq.broker,
                                     "queueId", mq.queue_id)
                         : NULL;
    if (!addr) {
        rc = adm_fail("topic %s has no queue %d on broker %s", mq.topic, mq.queue_id, mq.broker);
    } else if ((rc = print_queue(c, addr, &mq, &o, false, jq, &tc, &ntc)) == 0 && o.tags) {
        qsort(tc, ntc, sizeof *tc, tag_cmp);
        json_t *jt = json_array();
        for (size_t i = 0; i < ntc; i++) {
            if (jq)
                json_array_append_new(
                    jt, json_pack("{s:s,s:I}", "tag", tc[i].tag, "count", (json_int_t)tc[i].n));
            else
                printf("Tag: %-30s Count: %lld\n", tc[i].tag, tc[i].n);
        }
        if (jq)
            json_object_set_new(jq, "tags", jt);
        else
            json_decref(jt);
    }
    if (jq && rc == 0) adm_print_json(jq);
    json_decref(jq);
    free(tc);
    for (size_t i = 0; i < n; i++) free(addrs[i]);
    free(addrs);
    free(mqs);
    return rc;
}

/* ---- send probes ---------------------------------------------------------------------- */

static const char *send_status(rmq_send_status_t s) {
    static const char *st[] = {"SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT",
                               "SLAVE_NOT_AVAILABLE"};
    return (unsigned)s < 4 ? st[s] : "UNKNOWN";
}

static rmq_producer_t *probe_producer(ctx_t *c, const char *group) {
    rmq_conf_t *conf = rmq_tool_conf_new(c->ns);
    char err[256], g[64];
    if (!group) {
        snprintf(g, sizeof g, "%lld", (long long)rmq_now_ms());
        group = g;
    }
    rmq_conf_set(conf, "producerGroup", group, err, sizeof err);
    rmq_conf_set(conf, "retryTimesWhenSendFailed", "0", err, sizeof err);
    rmq_producer_t *p = rmq_producer_new(conf, err, sizeof err);
    if (!p) {
        rmq_conf_destroy(conf);
        adm_fail("cannot start a producer: %s", err);
    }
    return p;
}

/* A body of size bytes ('a'), or built from "hello jodie" like SendMsgStatusCommand. */
static char *probe_body(long size, bool jodie, size_t *len) {
    if (size < 0) size = 0;
    size_t n = (size_t)size;
    if (jodie) n = ((n + 10) / 11) * 11;
    char *b = malloc(n + 1);
    if (!b) return NULL;
    for (size_t i = 0; i < n; i++) b[i] = jodie ? "hello jodie"[i % 11] : 'a';
    b[n] = 0;
    *len = n;
    return b;
}

/* The route of a probe topic, or a clear line saying it does not exist. */
static bool probe_topic_exists(ctx_t *c, const char *topic, const char *what) {
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(c->admin, topic, &addrs, NULL);
    for (char **p = addrs; p && *p; p++) free(*p);
    free(addrs);
    if (e == RMQ_OK) return true;
    adm_fail("%s: topic %s does not exist (%s); create it with updateTopic -t %s", what, topic,
             adm_why(c, e), topic);
    return false;
}

int adm_cmd_send_msg_status(ctx_t *c) {
    const char *bn = adm_opt(c, 'b', NULL);
    int size, count;
    if (adm_opt_int(c, 's', 128, &size) || adm_opt_int(c, 'c', 50, &count)) return 1;
    /* the probe goes to the topic named after the broker, which every rmq broker creates */
    if (!probe_topic_exists(c, bn, "sendMsgStatus")) return 1;
    rmq_producer_t *p = probe_producer(c, "PID_SMSC");
    if (!p) return 1;
    size_t wl = 0, bl = 0;
    char *warm = probe_body(16, true, &wl), *body = probe_body(size, true, &bl);
    rmq_send_result_t r;
    rmq_msg_t *m = rmq_msg_new(bn, NULL, NULL, warm, wl, RMQ_MSG_F_COPY);
    rmq_err_t e = rmq_send_sync(p, m, &r);
    rmq_msg_destroy(m);
    json_t *arr = c->json ? json_array() : NULL;
    int rc = 0;
    if (e != RMQ_OK) rc = adm_fail("send to topic %s failed: %s", bn, rmq_strerror(e));
    for (int i = 0; i < count && rc == 0; i++) {
        m = rmq_msg_new(bn, NULL, NULL, body, bl, RMQ_MSG_F_COPY);
        uint64_t t0 = rmq_mono_ms();
        e = rmq_send_sync(p, m, &r);
        long long rt = (long long)(rmq_mono_ms() - t0);
        rmq_msg_destroy(m);
        if (e != RMQ_OK) {
            rc = adm_fail("send to topic %s failed: %s", bn, rmq_strerror(e));
            break;
        }
        if (arr)
            json_array_append_new(
                arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:I}", "rt", (json_int_t)rt, "sendStatus",
                               send_status(r.status), "msgId", r.msg_id, "offsetMsgId",
                               r.offset_msg_id, "brokerName", r.mq.broker, "queueId", r.mq.queue_id,
                               "queueOffset", (json_int_t)r.offset));
        else
            printf("rt=%lldms, SendResult=SendResult [sendStatus=%s, msgId=%s, offsetMsgId=%s, "
                   "messageQueue=MessageQueue [topic=%s, brokerName=%s, queueId=%d], "
                   "queueOffset=%lld]\n",
                   rt, send_status(r.status), r.msg_id, r.offset_msg_id, r.mq.topic, r.mq.broker,
                   r.mq.queue_id, (long long)r.offset);
    }
    if (arr && rc == 0) adm_print_json(arr);
    json_decref(arr);
    free(warm);
    free(body);
    rmq_producer_destroy(p);
    return rc;
}

static int select_by_index(const rmq_mq_t *mqs, int n, const rmq_msg_t *m, void *arg) {
    (void)mqs;
    (void)m;
    return n > 0 ? *(int *)arg % n : 0;
}

int adm_cmd_check_msg_send_rt(ctx_t *c) {
    const char *topic = adm_opt(c, 't', NULL);
    int amount, size;
    if (adm_opt_int(c, 'a', 100, &amount) || adm_opt_int(c, 's', 128, &size)) return 1;
    if (amount < 1) return adm_fail("amount must be at least 1");
    if (!probe_topic_exists(c, topic, "checkMsgSendRT")) return 1;
    rmq_producer_t *p = probe_producer(c, NULL);
    if (!p) return 1;
    size_t bl = 0;
    char *body = probe_body(size, false, &bl);
    json_t *arr = c->json ? json_array() : NULL;
    if (!arr) printf("%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#RT");
    uint64_t total = 0;
    for (int i = 0; i < amount; i++) {
        rmq_msg_t *m = rmq_msg_new(topic, NULL, NULL, body, bl, RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        memset(&r, 0, sizeof r);
        uint64_t t0 = rmq_mono_ms();
        rmq_err_t e = rmq_send_orderly(p, m, select_by_index, &i, &r);
        uint64_t rt = rmq_mono_ms() - t0;
        rmq_msg_destroy(m);
        if (i) total += rt; /* the first send warms the route up, as in 4.9.8 */
        if (arr)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:b,s:I}", "brokerName", r.mq.broker,
                                                 "queueId", r.mq.queue_id, "sendSuccess",
                                                 e == RMQ_OK, "rt", (json_int_t)rt));
        else
            printf("%-32s  %-4d  %-20s    %llu\n", r.mq.broker, r.mq.queue_id,
                   e == RMQ_OK ? "true" : "false", (unsigned long long)rt);
    }
    double avg = amount > 1 ? (double)total / (amount - 1) : 0.0;
    if (arr) {
        json_t *o = json_pack("{s:o,s:f}", "sends", arr, "avgRT", avg);
        adm_print_json(o);
        json_decref(o);
    } else {
        printf("Avg RT: %.2f\n", avg);
    }
    free(body);
    rmq_producer_destroy(p);
    return 0;
}

/* One clusterRT round over the brokers of the selected clusters. */
static int cluster_rt_round(ctx_t *c, rmq_producer_t *p, json_t *ci, const char *only, int amount,
                            const char *body, size_t bl, bool tlog, const char *room, json_t *arr) {
    json_t *tab = json_object_get(ci, "clusterAddrTable");
    if (only && !json_object_get(tab, only)) {
        printf("cluster [%s] not exist", only);
        return 1;
    }
    size_t nc;
    const char **clusters = adm_sorted_keys(tab, &nc);
    for (size_t k = 0; k < nc; k++) {
        if (only && strcmp(clusters[k], only)) continue;
        size_t i;
        json_t *bnj;
        json_array_foreach(json_object_get(tab, clusters[k]), i, bnj) {
            const char *bn = json_string_value(bnj);
            int ok = 0, fail = 0;
            uint64_t elapsed = 0;
            for (int j = 0; j < amount; j++) {
                rmq_msg_t *m = rmq_msg_new(bn, NULL, NULL, body, bl, RMQ_MSG_F_COPY);
                rmq_send_result_t r;
                uint64_t t0 = rmq_mono_ms();
                if (rmq_send_sync(p, m, &r) == RMQ_OK)
                    ok++;
                else
                    fail++;
                if (j) elapsed += rmq_mono_ms() - t0;
                rmq_msg_destroy(m);
            }
            double rt = amount > 1 ? (double)elapsed / (amount - 1) : 0.0;
            if (arr) {
                json_array_append_new(arr, json_pack("{s:s,s:s,s:f,s:i,s:i}", "cluster",
                                                     clusters[k], "brokerName", bn, "rt", rt,
                                                     "successCount", ok, "failCount", fail));
            } else if (tlog) {
                char now[40];
                time_t t = time(NULL) + 8 * 3600; /* 4.9.8 prints GMT+8 */
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S", &tm);
                printf("%s|%s|%s|%s|%.0f\n", now, room, clusters[k], bn, rt);
            } else {
                char rts[32];
                snprintf(rts, sizeof rts, "%.2f", rt);
                printf("%-24s  %-24s  %-8s  %-16d  %-16d\n", clusters[k], bn, rts, ok, fail);
            }
        }
    }
    free(clusters);
    return 0;
}

int adm_cmd_cluster_rt(ctx_t *c) {
    int amount, size, interval;
    if (adm_opt_int(c, 'a', 100, &amount) || adm_opt_int(c, 's', 128, &size) ||
        adm_opt_int(c, 'i', 10, &interval))
        return 1;
    const char *only = adm_opt(c, 'c', NULL), *room = adm_opt(c, 'm', NULL);
    if (!room) room = "noname";
    bool tlog = adm_opt_true(c, 'p', NULL);
    /* 4.9.8 loops forever; RMQ_CLUSTERRT_ROUNDS=n stops after n rounds (scripts, tests) */
    const char *rs = getenv("RMQ_CLUSTERRT_ROUNDS");
    long rounds = rs ? strtol(rs, NULL, 10) : -1;
    json_t *ci = adm_cluster_info(c);
    if (!ci) return 1;
    rmq_producer_t *p = probe_producer(c, NULL);
    if (!p) {
        json_decref(ci);
        return 1;
    }
    size_t bl = 0;
    char *body = probe_body(size, false, &bl);
    if (!tlog && !c->json)
        printf("%-24s  %-24s  %-4s  %-8s  %-8s\n", "#Cluster Name", "#Broker Name", "#RT",
               "#successCount", "#failCount");
    int rc = 0;
    for (long r = 0; rounds < 0 || r < rounds; r++) {
        json_t *arr = c->json ? json_array() : NULL;
        rc = cluster_rt_round(c, p, ci, only, amount, body, bl, tlog, room, arr);
        if (arr && rc == 0) adm_print_json(arr);
        json_decref(arr);
        fflush(stdout);
        if (rc || (rounds >= 0 && r + 1 >= rounds)) break;
        sleep((unsigned)(interval > 0 ? interval : 1));
    }
    free(body);
    rmq_producer_destroy(p);
    json_decref(ci);
    return rc;
}
