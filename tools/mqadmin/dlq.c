/* Dead letters (broker.md 6): queryDlqMsg lists the messages of a consumer group's %DLQ%<group>
 * topic, resendDlqMsg sends them (all, or one by -i msgId) back to the topic they first failed
 * in: the RETRY_TOPIC property the broker set at the first send-back (an operator's fix-and-
 * replay, as the RocketMQ dashboard's "resend" and RocketMQ 5 tools do). Both read the DLQ
 * with librmq's pull consumer (group TOOLS_CONSUMER, committing nothing); a resent message is
 * a new message with the original's body, tags and keys and ORIGIN_MESSAGE_ID = the DLQ
 * message's id, so it can be traced; the DLQ copy stays where it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/mqadmin/mqadmin.h"

#define DLQ_PREFIX "%DLQ%"

typedef struct {
    ctx_t *c;
    const char *only_id; /* -i: msgId (UNIQ_KEY) or offsetMsgId; NULL = all */
    int max;
    int seen, matched, resent, failed;
    rmq_producer_t *p; /* resendDlqMsg */
    json_t *arr;       /* --json */
} dlq_walk_t;

static const char *nz(const char *s) {
    return s ? s : "";
}

/* The topic a dead letter came from (RETRY_TOPIC; ORIGIN for clients that set it). */
static const char *origin_topic(const rmq_msg_t *m) {
    const char *t = rmq_msg_property(m, "RETRY_TOPIC");
    return t && *t ? t : rmq_msg_property(m, "ORIGIN_TOPIC");
}

static void resend_one(dlq_walk_t *w, const rmq_msg_t *m) {
    const char *topic = origin_topic(m);
    if (!topic || !*topic || !strncmp(topic, "%RETRY%", 7)) {
        fprintf(stderr, "mqadmin resendDlqMsg: %s has no original topic; skipped\n", rmq_msg_id(m));
        w->failed++;
        return;
    }
    size_t len = 0;
    const void *body = rmq_msg_body(m, &len);
    rmq_msg_t *nm =
        rmq_msg_new(topic, rmq_msg_tags(m), rmq_msg_keys(m), (void *)body, len, RMQ_MSG_F_COPY);
    if (!nm) {
        w->failed++;
        return;
    }
    rmq_msg_set_property(nm, "ORIGIN_MESSAGE_ID", rmq_msg_id(m));
    rmq_send_result_t r;
    memset(&r, 0, sizeof r);
    rmq_err_t e = rmq_send_sync(w->p, nm, &r);
    rmq_msg_destroy(nm);
    if (e != RMQ_OK) {
        fprintf(stderr, "mqadmin resendDlqMsg: %s to %s: %s\n", rmq_msg_id(m), topic,
                rmq_strerror(e));
        w->failed++;
        return;
    }
    w->resent++;
    if (w->arr)
        json_array_append_new(w->arr, json_pack("{s:s,s:s,s:s}", "dlqMsgId", rmq_msg_id(m), "topic",
                                                topic, "msgId", r.msg_id));
    else
        printf("%-32s  %-24s  %s\n", rmq_msg_id(m), topic, r.msg_id);
}

static void list_one(dlq_walk_t *w, const rmq_msg_t *m) {
    size_t len = 0;
    const char *body = rmq_msg_body(m, &len);
    if (w->arr) {
        json_array_append_new(
            w->arr,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s%}", "msgId", nz(rmq_msg_id(m)),
                      "offsetMsgId", nz(rmq_msg_offset_id(m)), "originTopic", nz(origin_topic(m)),
                      "tags", nz(rmq_msg_tags(m)), "keys", nz(rmq_msg_keys(m)), "reconsumeTimes",
                      rmq_msg_reconsume_times(m), "storeTimestamp", (json_int_t)rmq_msg_store_ts(m),
                      "body", body ? body : "", body ? len : 0));
        return;
    }
    printf("%-32s  %-32s  %-24s  %-10s  %-16s  %-3d  %.*s\n", nz(rmq_msg_id(m)),
           nz(rmq_msg_offset_id(m)), nz(origin_topic(m)), nz(rmq_msg_tags(m)), nz(rmq_msg_keys(m)),
           rmq_msg_reconsume_times(m), (int)(len > 64 ? 64 : len), body ? body : "");
}

/* Visit every message of %DLQ%<group> (up to w->max); 0 or the exit status. */
static int walk(dlq_walk_t *w, const char *group, void (*fn)(dlq_walk_t *, const rmq_msg_t *)) {
    char topic[300];
    snprintf(topic, sizeof topic, "%s%s", DLQ_PREFIX, group);
    rmq_conf_t *conf = rmq_tool_conf_new(w->c->ns);
    char err[256];
    if (!conf) return adm_fail("bad NameServer address");
    rmq_conf_set(conf, "consumerGroup", TOOLS_GROUP, err, sizeof err);
    rmq_pull_consumer_t *pc = rmq_pull_consumer_new(conf, err, sizeof err);
    if (!pc) {
        rmq_conf_destroy(conf);
        return adm_fail("cannot start a consumer: %s", err);
    }
    rmq_mq_t *mqs = NULL;
    size_t nq = 0;
    rmq_err_t e = rmq_fetch_queues(pc, topic, &mqs, &nq);
    if (e != RMQ_OK) {
        rmq_pull_consumer_destroy(pc);
        return adm_fail("group %s has no dead letters (%s: %s)", group, topic, rmq_strerror(e));
    }
    int rc = 0;
    for (size_t q = 0; q < nq && w->seen < w->max; q++) {
        int64_t off = 0;
        for (int guard = 0; w->seen < w->max && guard < 1000000; guard++) {
            rmq_pull_result_t *r = NULL;
            e = rmq_pull(pc, &mqs[q], "*", off, 32, 0, &r);
            if (e != RMQ_OK) {
                rc = adm_fail("pull %s@%s:%d: %s", topic, mqs[q].broker, mqs[q].queue_id,
                              rmq_strerror(e));
                break;
            }
            if (r->status == RMQ_PULL_OFFSET_ILLEGAL && r->next_offset != off) {
                off = r->next_offset;
                rmq_pull_result_destroy(r);
                continue;
            }
            if (r->status != RMQ_PULL_FOUND || r->n == 0) {
                rmq_pull_result_destroy(r);
                break;
            }
            for (size_t i = 0; i < r->n && w->seen < w->max; i++) {
                const rmq_msg_t *m = r->msgs[i];
                w->seen++;
                if (w->only_id && strcmp(w->only_id, nz(rmq_msg_id(m))) &&
                    strcmp(w->only_id, nz(rmq_msg_offset_id(m))))
                    continue;
                w->matched++;
                fn(w, m);
            }
            off = r->next_offset > off ? r->next_offset : off + (int64_t)r->n;
            rmq_pull_result_destroy(r);
        }
    }
    free(mqs);
    rmq_pull_consumer_destroy(pc);
    return rc;
}

int adm_cmd_query_dlq_msg(ctx_t *c) {
    dlq_walk_t w = {.c = c, .only_id = adm_opt(c, 'i', NULL)};
    if (adm_opt_int(c, 'c', 1000, &w.max)) return 1;
    const char *group = adm_opt(c, 'g', NULL);
    w.arr = c->json ? json_array() : NULL;
    if (!w.arr)
        printf("%-32s  %-32s  %-24s  %-10s  %-16s  %-3s  %s\n", "#MsgId", "#OffsetMsgId",
               "#OriginTopic", "#Tags", "#Keys", "#RT", "#Body");
    int rc = walk(&w, group, list_one);
    if (w.arr) {
        if (!rc) adm_print_json(w.arr);
        json_decref(w.arr);
    }
    if (!rc && w.only_id && !w.matched)
        return adm_fail("no message %s in %s%s", w.only_id, DLQ_PREFIX, group);
    return rc;
}

int adm_cmd_resend_dlq_msg(ctx_t *c) {
    dlq_walk_t w = {.c = c, .only_id = adm_opt(c, 'i', NULL)};
    if (adm_opt_int(c, 'c', 1000, &w.max)) return 1;
    const char *group = adm_opt(c, 'g', NULL);
    rmq_conf_t *conf = rmq_tool_conf_new(c->ns);
    char err[256];
    if (!conf) return adm_fail("bad NameServer address");
    rmq_conf_set(conf, "producerGroup", "TOOLS_PRODUCER", err, sizeof err);
    w.p = rmq_producer_new(conf, err, sizeof err);
    if (!w.p) {
        rmq_conf_destroy(conf);
        return adm_fail("cannot start a producer: %s", err);
    }
    w.arr = c->json ? json_array() : NULL;
    if (!w.arr) printf("%-32s  %-24s  %s\n", "#DlqMsgId", "#Topic", "#NewMsgId");
    int rc = walk(&w, group, resend_one);
    rmq_producer_destroy(w.p);
    if (w.arr) {
        if (!rc) adm_print_json(w.arr);
        json_decref(w.arr);
    }
    if (rc) return rc;
    if (w.only_id && !w.matched)
        return adm_fail("no message %s in %s%s", w.only_id, DLQ_PREFIX, group);
    if (!w.arr) printf("resent %d of %d message(s)\n", w.resent, w.matched);
    return w.failed ? 1 : 0;
}

/* The console's entry: list (resend false) or resend the dead letters of group into arr (rows
 * as --json prints them). 0, or 1 with the reason in adm_last_failure(). */
int adm_dlq_json(ctx_t *c, const char *group, const char *only_id, int max, bool resend,
                 json_t *arr, int *matched, int *failed) {
    dlq_walk_t w = {.c = c, .only_id = only_id, .max = max, .arr = arr};
    if (resend) {
        rmq_conf_t *conf = rmq_tool_conf_new(c->ns);
        char err[256];
        if (!conf) return adm_fail("bad NameServer address");
        rmq_conf_set(conf, "producerGroup", "TOOLS_PRODUCER", err, sizeof err);
        if (!(w.p = rmq_producer_new(conf, err, sizeof err))) {
            rmq_conf_destroy(conf);
            return adm_fail("cannot start a producer: %s", err);
        }
    }
    int rc = walk(&w, group, resend ? resend_one : list_one);
    if (w.p) rmq_producer_destroy(w.p);
    *matched = w.matched;
    *failed = w.failed;
    if (!rc && only_id && !w.matched)
        return adm_fail("no message %s in %s%s", only_id, DLQ_PREFIX, group);
    return rc;
}
