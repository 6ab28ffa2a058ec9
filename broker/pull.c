/* The pull path (broker.md 2): PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361).
 *
 * Checks in RocketMQ's order (2.2), the read from the store, the status mapping (2.4), the
 * commit-offset side effect on first processing, and parking for long polling (2.5, hold.c).
 * A FOUND reply's body is the stored records written straight from the mapped CommitLog
 * segments: the store's get result is released by the frame's write completion. */
#include "broker/pull.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/admin_stats.h"
#include "broker/clients.h"
#include "broker/hold.h"
#include "broker/metrics.h"
#include "broker/offset.h"
#include "broker/send.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/log.h"
#include "common/util.h"

#define PULL_FLAG_COMMIT_OFFSET 0x1
#define PULL_FLAG_SUSPEND 0x2
#define PULL_FLAG_SUBSCRIPTION 0x4

rmq_err_t rmq_broker_sub_parse(const char *expr, int64_t **codes, size_t *n) {
    *codes = NULL;
    *n = 0;
    if (!expr) return RMQ_OK;
    const char *p = expr;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || !strcmp(p, "*")) return RMQ_OK;
    size_t cap = 4, cnt = 0;
    int64_t *arr = malloc(cap * sizeof *arr);
    if (!arr) return RMQ_ERR__NOMEM;
    const char *s = expr;
    for (;;) {
        const char *e = strstr(s, "||");
        const char *end = e ? e : s + strlen(s);
        const char *a = s, *z = end;
        while (a < z && (*a == ' ' || *a == '\t')) a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) z--;
        if (z > a) {
            if (cnt == cap) {
                cap *= 2;
                int64_t *na = realloc(arr, cap * sizeof *na);
                if (!na) {
                    free(arr);
                    return RMQ_ERR__NOMEM;
                }
                arr = na;
            }
            arr[cnt++] = (int64_t)rmq_java_hash(a, (size_t)(z - a));
        }
        if (!e) break;
        s = e + 2;
    }
    if (cnt == 0) {
        free(arr);
        return RMQ_ERR_SUBSCRIPTION_PARSE_FAILED;
    }
    *codes = arr;
    *n = cnt;
    return RMQ_OK;
}

typedef struct {
    const char *group, *topic;
    int32_t qid, max_msgs, sys_flag;
    int64_t offset, commit_offset, suspend_ms, sub_version;
} pull_hdr_t;

static rmq_rem_cmd_t *parse(const rmq_rem_cmd_t *req, pull_hdr_t *h) {
    static const char *const s_names[] = {"consumerGroup", "topic"};
    const char **s_out[] = {&h->group, &h->topic};
    for (size_t i = 0; i < 2; i++) {
        *s_out[i] = rmq_rem_cmd_get(req, s_names[i]);
        if (!*s_out[i])
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is null",
                                  s_names[i]);
    }
    static const char *const i_names[] = {"queueId", "maxMsgNums", "sysFlag"};
    int32_t *i_out[] = {&h->qid, &h->max_msgs, &h->sys_flag};
    for (size_t i = 0; i < 3; i++) {
        rmq_err_t e = rmq_rem_cmd_get_i32(req, i_names[i], i_out[i]);
        if (e != RMQ_OK)
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is %s",
                                  i_names[i], e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    }
    static const char *const l_names[] = {"queueOffset", "commitOffset", "suspendTimeoutMillis",
                                          "subVersion"};
    int64_t *l_out[] = {&h->offset, &h->commit_offset, &h->suspend_ms, &h->sub_version};
    for (size_t i = 0; i < 4; i++) {
        rmq_err_t e = rmq_rem_cmd_get_i64(req, l_names[i], l_out[i]);
        if (e != RMQ_OK)
            return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is %s",
                                  l_names[i], e == RMQ_ERR__NOT_FOUND ? "null" : "not a number");
    }
    return NULL;
}

static rmq_rem_cmd_t *pull_resp(const rmq_rem_cmd_t *req, int code, const char *remark,
                                int64_t next, int64_t min, int64_t max, int64_t suggest) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, code, remark);
    if (!r) return NULL;
    rmq_rem_cmd_set_i64(r, "nextBeginOffset", next);
    rmq_rem_cmd_set_i64(r, "minOffset", min);
    rmq_rem_cmd_set_i64(r, "maxOffset", max);
    rmq_rem_cmd_set_i64(r, "suggestWhichBrokerId", suggest);
    return r;
}

/* OFFSET_MOVED_EVENT (broker.md 2.4): only tooling reads it, so a failure is just logged. */
static void offset_moved_event(rmq_broker_ctx_t *b, const pull_hdr_t *h, int64_t offset_new) {
    json_t *mq = json_pack("{s:s,s:i,s:s}", "brokerName", b->env.cfg->broker_name, "queueId",
                           (json_int_t)h->qid, "topic", h->topic);
    json_t *ev =
        json_pack("{s:s,s:o,s:I,s:I}", "consumerGroup", h->group, "messageQueue", mq, "offsetNew",
                  (json_int_t)offset_new, "offsetRequest", (json_int_t)h->offset);
    char *body = ev ? json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ev);
    if (!body) return;
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    rmq_msg_prop_append(&pb, RMQ_PROP_TAGS, h->group);
    rmq_msg_prop_append(&pb, RMQ_PROP_KEYS, h->group);
    if (pb.len) pb.len--; /* no trailing separator (4.9.1+) */
    rmq_err_t err = rmq_broker_put_local(&b->env, RMQ_TOPIC_OFFSET_MOVED, 0, body, &pb);
    if (err != RMQ_OK)
        RMQ_LOG_DEBUG("pull", "offset moved event not stored: %s", rmq_strerror(err));
    rmq_buf_fini(&pb);
    free(body);
}

static bool match_sql(void *arg, const uint8_t *rec, size_t len) {
    return rmq_broker_sql_match_record(arg, rec, len);
}

/* A non-TAG subscription needs enablePropertyFilter and a known type that compiled (err: the
 * reason it did not). NULL when it may go on, else the error response. */
static rmq_rem_cmd_t *sql_check(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, const pull_hdr_t *h,
                                const char *et, const char *sub, const char *err) {
    if (!b->env.cfg->enable_property_filter)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "The broker does not support consumer to filter message by %s: "
                              "enablePropertyFilter=false on this broker",
                              et);
    if (strcmp(et, "SQL92") != 0)
        return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                              "unsupported expression type %s, group: %s", et, h->group);
    if (err)
        return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                              "parse the consumer's subscription[%.200s] failed, group: %s: %s",
                              sub ? sub : "", h->group, err);
    return NULL;
}

static void release_get(void *arg) {
    rmq_store_get_release(arg);
}

/* Run a pull; borrows req. Returns the response, or NULL when it was parked. */
static rmq_rem_cmd_t *process(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                              bool allow_suspend) {
    pull_hdr_t h;
    rmq_rem_cmd_t *resp = parse(req, &h);
    if (resp) return resp;
    if (!(b->env.cfg->broker_permission & RMQ_PERM_READ))
        return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION,
                              "the broker[%s] pulling message is forbidden",
                              b->env.cfg->broker_ip1);
    const rmq_subgroup_t *sg = rmq_broker_subgroup_find_or_create(b->subgroups, h.group);
    if (!sg)
        return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_GROUP_NOT_EXIST,
                              "subscription group [%s] does not exist", h.group);
    if (!sg->consume_enable)
        return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION, "subscription group no permission, %s",
                              h.group);
    const rmq_topic_cfg_t *tc = rmq_broker_topic_get(b->topics, h.topic);
    if (!tc)
        return rmq_broker_err(req, RMQ_ERR_TOPIC_NOT_EXIST,
                              "topic[%s] not exist, apply first please!", h.topic);
    if (!(tc->perm & RMQ_PERM_READ))
        return rmq_broker_err(req, RMQ_ERR_NO_PERMISSION,
                              "the topic[%s] pulling message is forbidden", h.topic);
    if (h.qid < 0 || h.qid >= tc->read_queue_nums)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] "
                              "consumer:[%s]",
                              h.qid, h.topic, tc->read_queue_nums, rmq_rem_conn_peer(c));

    /* Subscription: from the request, or the one the group registered by heartbeat. */
    int64_t *codes = NULL;
    size_t ncodes = 0;
    const int64_t *fcodes = NULL;
    size_t nf = 0;
    const rmq_broker_sql_t *sql = NULL;
    rmq_broker_sql_t *own_sql = NULL; /* compiled for this request */
    if (h.sys_flag & PULL_FLAG_SUBSCRIPTION) {
        const char *et = rmq_rem_cmd_get(req, "expressionType");
        const char *sub = rmq_rem_cmd_get(req, "subscription");
        if (et && *et && strcmp(et, "TAG")) {
            resp = sql_check(b, req, &h, et, sub, NULL);
            if (resp) return resp;
            char err[300];
            rmq_err_t e = rmq_broker_sql_compile(sub ? sub : "", sub ? strlen(sub) : 0, &own_sql,
                                                 err, sizeof err);
            if (e != RMQ_OK)
                return rmq_broker_err(req,
                                      e == RMQ_ERR__NOMEM ? RMQ_ERR_SYSTEM_ERROR
                                                          : RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                                      "parse the consumer's subscription[%.200s] failed, group: "
                                      "%s: %s",
                                      sub ? sub : "", h.group, err);
            sql = own_sql;
        }
        rmq_err_t e = own_sql ? RMQ_OK : rmq_broker_sub_parse(sub, &codes, &ncodes);
        if (e != RMQ_OK)
            return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                                  "parse the consumer's subscription[%s] failed, group: %s",
                                  sub ? sub : "", h.group);
        fcodes = codes;
        nf = ncodes;
    } else {
        const rmq_subscription_t *s = rmq_broker_clients_subscription(b->clients, h.group, h.topic);
        if (!s)
            return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_NOT_EXIST,
                                  "the consumer's subscription not exist, group: %s topic: %s",
                                  h.group, h.topic);
        if (s->sub_version < h.sub_version)
            return rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_NOT_LATEST,
                                  "the consumer's subscription not latest, group: %s", h.group);
        if (s->expression_type[0] && strcmp(s->expression_type, "TAG")) {
            resp = sql_check(b, req, &h, s->expression_type, s->sub_string, s->sql_err);
            if (resp) return resp;
            if (!s->sql)
                return rmq_broker_err(req, RMQ_ERR_FILTER_DATA_NOT_EXIST,
                                      "The broker's consumer filter data is not exist!");
            sql = s->sql;
        }
        fcodes = s->codes;
        nf = s->ncodes;
    }

    /* SQL92: each candidate's properties are read from its CommitLog record (the ConsumeQueue
     * tag hash says nothing about them); held pulls wake on any new message and re-evaluate. */
    rmq_store_filter_t filter = {.codes = fcodes,
                                 .ncodes = nf,
                                 .match_record = sql ? match_sql : NULL,
                                 .match_arg = (void *)sql};
    rmq_store_get_t *g = NULL;
    int max_msgs = h.max_msgs > 0 ? h.max_msgs : 1;
    rmq_err_t e = rmq_store_get(b->env.store, h.topic, h.qid, h.offset, max_msgs, 0, &filter, &g);
    if (e != RMQ_OK || !g) {
        free(codes);
        rmq_broker_sql_destroy(own_sql);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "store getMessage failed: %s",
                              rmq_strerror(e));
    }
    bool master = b->env.cfg->broker_role != RMQ_ROLE_SLAVE;
    int code;
    switch (g->status) {
    case RMQ_GET_FOUND: code = RMQ_OK; break;
    case RMQ_GET_MESSAGE_WAS_REMOVING:
    case RMQ_GET_NO_MATCHED_MESSAGE: code = RMQ_ERR_PULL_RETRY_IMMEDIATELY; break;
    case RMQ_GET_NO_MATCHED_LOGIC_QUEUE:
    case RMQ_GET_NO_MESSAGE_IN_QUEUE:
        code = h.offset != 0 ? RMQ_ERR_PULL_OFFSET_MOVED : RMQ_ERR_PULL_NOT_FOUND;
        break;
    case RMQ_GET_OFFSET_OVERFLOW_BADLY:
    case RMQ_GET_OFFSET_TOO_SMALL: code = RMQ_ERR_PULL_OFFSET_MOVED; break;
    default: code = RMQ_ERR_PULL_NOT_FOUND; break; /* OFFSET_FOUND_NULL, OVERFLOW_ONE */
    }
    int64_t next = g->next_begin_offset, suggest = 0;
    /* broker.md 2.7: with slaveReadEnable a backlog that left memory sends the group to
     * whichBrokerWhenConsumeSlowly, otherwise to its brokerId; without it, the master. */
    if (b->env.cfg->slave_read_enable)
        suggest = g->suggest_slave ? sg->which_broker_when_consume_slowly : sg->broker_id;
    if (code == RMQ_ERR_PULL_OFFSET_MOVED && !master && !b->env.cfg->offset_check_in_slave) {
        code = RMQ_ERR_PULL_RETRY_IMMEDIATELY;
        next = h.offset;
        suggest = sg->broker_id;
    }
    resp = NULL;
    /* Park for long polling; with no hold service (shut down) answer now. */
    if (code == RMQ_ERR_PULL_NOT_FOUND && allow_suspend && (h.sys_flag & PULL_FLAG_SUSPEND) &&
        b->hold) {
        int64_t hold =
            b->env.cfg->long_polling_enable ? h.suspend_ms : b->env.cfg->short_polling_time_mills;
        rmq_broker_hold_park(b->hold, c, req, h.topic, h.qid, h.offset, hold, fcodes, nf);
        rmq_store_get_release(g);
    } else {
        resp = pull_resp(req, code, rmq_get_status_name(g->status), next, g->min_offset,
                         g->max_offset, suggest);
        if (code == RMQ_OK && resp && g->count > 0) {
            if (b->metrics || b->bstats) {
                uint64_t bytes = 0;
                for (size_t i = 0; i < g->count; i++) bytes += g->iov[i].iov_len;
                if (b->metrics)
                    rmq_broker_metrics_on_pull(b->metrics, h.group, h.topic, h.qid, g->count, bytes,
                                               next);
                rmq_broker_bstats_on_get(b->bstats, h.group, h.topic, g->count, bytes,
                                         (int64_t)uv_now(b->env.loop));
            }
            uv_buf_t stack[64];
            uv_buf_t *bufs = g->count <= 64 ? stack : malloc(g->count * sizeof *bufs);
            if (bufs) {
                for (size_t i = 0; i < g->count; i++)
                    bufs[i] = uv_buf_init(g->iov[i].iov_base, (unsigned int)g->iov[i].iov_len);
                if (rmq_rem_cmd_set_body_iov(resp, bufs, g->count, release_get, g) == RMQ_OK)
                    g = NULL; /* released once written */
                if (bufs != stack) free(bufs);
            }
            if (g) { /* could not attach: do not answer FOUND without a body */
                rmq_rem_cmd_destroy(resp);
                resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
            }
        }
        if (code == RMQ_ERR_PULL_OFFSET_MOVED) {
            RMQ_LOG_INFO("pull",
                         "offset moved: group %s topic %s queue %d requested %" PRId64
                         " next %" PRId64 " (min %" PRId64 " max %" PRId64 ") from %s",
                         h.group, h.topic, h.qid, h.offset, next, g ? g->min_offset : -1,
                         g ? g->max_offset : -1, rmq_rem_conn_peer(c));
            offset_moved_event(b, &h, next);
        }
        if (g) rmq_store_get_release(g);
    }
    /* Commit the consumer's offset on first processing only, on a master. */
    if (allow_suspend && (h.sys_flag & PULL_FLAG_COMMIT_OFFSET) && master)
        rmq_broker_offset_set(b->offsets, h.group, h.topic, h.qid, h.commit_offset);
    free(codes);
    rmq_broker_sql_destroy(own_sql);
    return resp;
}

RMQ_BROKER_HANDLER(rmq_broker_pull_on_pull) {
    if (b->shutting_down)
        return rmq_broker_err(req, RMQ_ERR_SERVICE_NOT_AVAILABLE, "the broker is shutting down");
    return process(b, c, req, true);
}

rmq_rem_cmd_t *rmq_broker_pull_rerun(void *arg, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    return process(arg, c, req, false);
}
