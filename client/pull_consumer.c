/* Pull consumer: the application chooses queues and offsets; every call is a blocking request
 * on the shared client instance. Registered as a CONSUME_ACTIVELY group in heartbeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/consumer.h"
#include "common/log.h"
#include "common/util.h"

struct rmq_pull_consumer_s {
    rmq_conf_t *conf;
    rmq_instance_t *in;
    rmq_member_t member;
    char group[256];
    rmq_pull_nodes_t nodes; /* broker id to pull each queue from (suggestWhichBrokerId) */
};

static void heartbeat_data(void *owner, json_t *arr) {
    rmq_pull_consumer_t *c = owner;
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:[],s:b}", "consumeFromWhere",
                                         "CONSUME_FROM_LAST_OFFSET", "consumeType",
                                         "CONSUME_ACTIVELY", "groupName", c->group, "messageModel",
                                         "CLUSTERING", "subscriptionDataSet", "unitMode", 0));
}

rmq_pull_consumer_t *rmq_pull_consumer_new(rmq_conf_t *conf, char *err, size_t n) {
    const char *g = rmq_conf_member_group(conf, "consumerGroup", false, err, n);
    if (!g) return NULL;
    rmq_pull_consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    rmq_strlcpy(c->group, g, sizeof(c->group));
    rmq_strlcpy(c->member.group, g, sizeof(c->member.group));
    c->member.consumer = true;
    c->member.owner = c;
    c->member.heartbeat_data = heartbeat_data;
    c->in = rmq_instance_get(conf, &c->member, err, n);
    if (!c->in) {
        free(c);
        return NULL;
    }
    rmq_pull_nodes_init(&c->nodes);
    c->conf = conf;
    return c;
}

rmq_err_t rmq_fetch_queues(rmq_pull_consumer_t *c, const char *topic, rmq_mq_t **mqs, size_t *n) {
    if (!c || !topic || !mqs || !n) return RMQ_ERR__INVALID_ARG;
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(c->in, topic, true, false, &ti);
    if (e) {
        RMQ_ILOG_WARN(rmq_instance_log(c->in), "pull", "no route for topic %s: %s", topic,
                      rmq_strerror(e));
        return e;
    }
    rmq_mq_t *arr = malloc((size_t)(ti->nsub ? ti->nsub : 1) * sizeof(*arr));
    if (!arr) {
        rmq_topic_info_release(ti);
        return RMQ_ERR__NOMEM;
    }
    memcpy(arr, ti->sub, (size_t)ti->nsub * sizeof(*arr));
    *n = (size_t)ti->nsub;
    *mqs = arr;
    rmq_topic_info_release(ti);
    return RMQ_OK;
}

/* One pull with sub (taken: finished here). */
static rmq_err_t pull_sub(rmq_pull_consumer_t *c, const rmq_mq_t *mq, rmq_sub_t sub, int64_t offset,
                          int max_msgs, int timeout_ms, rmq_pull_result_t **out) {
    rmq_err_t e;
    char addr[64]; /* the broker's suggestion, a slave while the master is gone: per call */
    e = rmq_consumer_pull_addr(c->in, &c->nodes, mq, true, addr, sizeof addr, NULL);
    if (e) {
        rmq_sub_fini(&sub);
        return e;
    }
    int sysflag = RMQ_PULL_F_SUBSCRIPTION | (timeout_ms > 0 ? RMQ_PULL_F_SUSPEND : 0);
    rmq_pull_req_t r = {
        .group = c->group,
        .mq = mq,
        .offset = offset,
        .commit_offset = 0,
        .sub_version = sub.version,
        .max_msgs = max_msgs,
        .sysflag = sysflag,
        .suspend_ms = timeout_ms > 0 ? timeout_ms : 0,
        .subscription = sub.expr,
        .expression_type = sub.sql ? "SQL92" : "TAG",
        .binary_header = strcmp(rmq_conf_str(c->conf, "serializeType"), "ROCKETMQ") == 0,
    };
    rmq_rem_cmd_t *req = rmq_pull_request(&r);
    if (!req) {
        rmq_sub_fini(&sub);
        return RMQ_ERR__NOMEM;
    }
    rmq_rem_cmd_t *resp = NULL;
    int api = (int)rmq_conf_i64(rmq_instance_conf(c->in), "mqClientApiTimeout");
    e = rmq_instance_invoke_sync(c->in, addr, req, timeout_ms > 0 ? timeout_ms + api : api, &resp);
    rmq_pull_result_t *res = NULL;
    int64_t suggest = 0;
    if (!e) {
        res = calloc(1, sizeof(*res));
        if (!res)
            e = RMQ_ERR__NOMEM;
        else
            e = rmq_pull_response(resp, false, res, &suggest);
        if (e && sub.sql)
            RMQ_ILOG_WARN(rmq_instance_log(c->in), "pull", "SQL92 pull of %s from %s: %s: %s",
                          mq->topic, addr, rmq_strerror(e), resp->remark ? resp->remark : "");
        rmq_rem_cmd_destroy(resp);
        if (!e) rmq_pull_nodes_set(&c->nodes, mq, suggest);
    }
    if (!e && res->n) { /* the broker filters by tag hash; re-check the tag strings */
        size_t k = 0;
        for (size_t i = 0; i < res->n; i++) {
            if (rmq_sub_match(&sub, rmq_msg_tags(res->msgs[i])))
                res->msgs[k++] = res->msgs[i];
            else
                rmq_msg_destroy(res->msgs[i]);
        }
        res->n = k;
    }
    rmq_sub_fini(&sub);
    if (e) {
        rmq_pull_result_destroy(res);
        return e;
    }
    *out = res;
    return RMQ_OK;
}

rmq_err_t rmq_pull(rmq_pull_consumer_t *c, const rmq_mq_t *mq, const char *tags, int64_t offset,
                   int max_msgs, int timeout_ms, rmq_pull_result_t **out) {
    if (!c || !mq || !out || offset < 0 || max_msgs <= 0) return RMQ_ERR__INVALID_ARG;
    rmq_sub_t sub;
    rmq_err_t e = rmq_sub_parse(mq->topic, tags, &sub);
    return e ? e : pull_sub(c, mq, sub, offset, max_msgs, timeout_ms, out);
}

rmq_err_t rmq_pull_sql(rmq_pull_consumer_t *c, const rmq_mq_t *mq, const char *expr, int64_t offset,
                       int max_msgs, int timeout_ms, rmq_pull_result_t **out) {
    if (!c || !mq || !out || offset < 0 || max_msgs <= 0) return RMQ_ERR__INVALID_ARG;
    rmq_sub_t sub;
    rmq_err_t e = rmq_sub_parse_sql(mq->topic, expr, &sub);
    return e ? e : pull_sub(c, mq, sub, offset, max_msgs, timeout_ms, out);
}

rmq_err_t rmq_commit_offset(rmq_pull_consumer_t *c, const rmq_mq_t *mq, int64_t offset) {
    if (!c || !mq || offset < 0) return RMQ_ERR__INVALID_ARG;
    return rmq_update_offset(c->in, c->group, mq, offset, false);
}

rmq_err_t rmq_fetch_offset(rmq_pull_consumer_t *c, const rmq_mq_t *mq, int64_t *offset) {
    if (!c || !mq || !offset) return RMQ_ERR__INVALID_ARG;
    return rmq_query_offset(c->in, c->group, mq, offset);
}

void rmq_pull_result_destroy(rmq_pull_result_t *r) {
    if (!r) return;
    rmq_msgs_destroy(r->msgs, r->n);
    free(r);
}

void rmq_pull_consumer_destroy(rmq_pull_consumer_t *c) {
    if (!c) return;
    rmq_instance_release(c->in, &c->member);
    rmq_pull_nodes_fini(&c->nodes);
    rmq_conf_destroy(c->conf);
    free(c);
}
