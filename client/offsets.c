/* Requests shared by the push and pull consumers: PULL_MESSAGE and its response, offset
 * queries and commits, the group's consumer list. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/consumer.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"

rmq_rem_cmd_t *rmq_pull_request(const rmq_pull_req_t *r) {
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_PULL_MESSAGE);
    if (!c) return NULL;
    c->language = RMQ_LANG_CPP;
    if (r->binary_header) c->serialize_type = RMQ_REM_SER_ROCKETMQ;
    rmq_err_t e = rmq_rem_cmd_set(c, "consumerGroup", r->group);
    if (!e) e = rmq_rem_cmd_set(c, "topic", r->mq->topic);
    if (!e) e = rmq_rem_cmd_set_i64(c, "queueId", r->mq->queue_id);
    if (!e) e = rmq_rem_cmd_set_i64(c, "queueOffset", r->offset);
    if (!e) e = rmq_rem_cmd_set_i64(c, "maxMsgNums", r->max_msgs);
    if (!e) e = rmq_rem_cmd_set_i64(c, "sysFlag", r->sysflag);
    if (!e) e = rmq_rem_cmd_set_i64(c, "commitOffset", r->commit_offset);
    if (!e) e = rmq_rem_cmd_set_i64(c, "suspendTimeoutMillis", r->suspend_ms);
    if (!e && r->subscription) e = rmq_rem_cmd_set(c, "subscription", r->subscription);
    if (!e) e = rmq_rem_cmd_set_i64(c, "subVersion", r->sub_version);
    if (!e)
        e = rmq_rem_cmd_set(c, "expressionType", r->expression_type ? r->expression_type : "TAG");
    if (!e) e = rmq_rem_cmd_set(c, "bname", r->mq->broker);
    if (e) {
        rmq_rem_cmd_destroy(c);
        return NULL;
    }
    return c;
}

rmq_err_t rmq_pull_response(rmq_rem_cmd_t *resp, bool defer, rmq_pull_result_t *res,
                            int64_t *suggest) {
    memset(res, 0, sizeof(*res));
    if (suggest) {
        *suggest = 0;
        rmq_rem_cmd_get_i64(resp, "suggestWhichBrokerId", suggest);
    }
    switch (resp->code) {
    case RMQ_OK: res->status = RMQ_PULL_FOUND; break;
    case RMQ_ERR_PULL_NOT_FOUND: res->status = RMQ_PULL_NO_NEW_MSG; break;
    case RMQ_ERR_PULL_RETRY_IMMEDIATELY: res->status = RMQ_PULL_NO_MATCHED_MSG; break;
    case RMQ_ERR_PULL_OFFSET_MOVED: res->status = RMQ_PULL_OFFSET_ILLEGAL; break;
    default: return (rmq_err_t)resp->code;
    }
    if (rmq_rem_cmd_get_i64(resp, "nextBeginOffset", &res->next_offset) ||
        rmq_rem_cmd_get_i64(resp, "minOffset", &res->min_offset) ||
        rmq_rem_cmd_get_i64(resp, "maxOffset", &res->max_offset))
        return RMQ_ERR__BAD_MSG;
    if (res->status == RMQ_PULL_FOUND && resp->body && resp->body_len) {
        char mn[24], mx[24];
        rmq_i64_str(res->min_offset, mn);
        rmq_i64_str(res->max_offset, mx);
        /* set while decoding, inside each message's block (no per-message mallocs) */
        const rmq_kv_t extra[2] = {{(char *)RMQ_PROP_MIN_OFFSET, mn},
                                   {(char *)RMQ_PROP_MAX_OFFSET, mx}};
        /* the messages' bodies point into the response's body, taken from resp */
        uint8_t *body = resp->body;
        size_t body_len = resp->body_len;
        resp->body = NULL;
        resp->body_len = 0;
        rmq_err_t e = defer
                          ? rmq_msgs_decode_deferred(body, body_len, extra, 2, &res->msgs, &res->n)
                          : rmq_msgs_decode_owned(body, body_len, extra, 2, &res->msgs, &res->n);
        if (e) return e;
    } else if (res->status == RMQ_PULL_FOUND) {
        res->status = RMQ_PULL_NO_MATCHED_MSG;
    }
    return RMQ_OK;
}

/* The address of broker id (only_this as rmq_instance_find_broker), refreshing mq's route
 * once when the cache has none. */
static rmq_err_t find_addr(rmq_instance_t *in, const rmq_mq_t *mq, int64_t id, bool only_this,
                           bool refresh, char *addr, size_t n, int64_t *got) {
    if (rmq_instance_find_broker(in, mq->broker, id, only_this, addr, n, got) == RMQ_OK)
        return RMQ_OK;
    if (!refresh) return RMQ_ERR__NO_ROUTE;
    rmq_topic_info_t *ti = NULL;
    rmq_err_t e = rmq_instance_route(in, mq->topic, true, false, &ti);
    if (e) return e;
    rmq_topic_info_release(ti);
    return rmq_instance_find_broker(in, mq->broker, id, only_this, addr, n, got);
}

rmq_err_t rmq_consumer_broker_addr(rmq_instance_t *in, const rmq_mq_t *mq, char *addr, size_t n) {
    return find_addr(in, mq, 0, true, true, addr, n, NULL);
}

rmq_err_t rmq_consumer_admin_addr(rmq_instance_t *in, const rmq_mq_t *mq, char *addr, size_t n) {
    return find_addr(in, mq, 0, false, true, addr, n, NULL);
}

rmq_err_t rmq_consumer_pull_addr(rmq_instance_t *in, rmq_pull_nodes_t *nodes, const rmq_mq_t *mq,
                                 bool refresh, char *addr, size_t n, bool *slave) {
    int64_t got = 0;
    rmq_err_t e = find_addr(in, mq, rmq_pull_nodes_get(nodes, mq), false, refresh, addr, n, &got);
    if (!e && slave) *slave = got != 0;
    return e;
}

/* An offset request for mq (consumerGroup when group, k = v when k); *out new. */
static rmq_err_t offset_req(int code, const char *group, const rmq_mq_t *mq, const char *k,
                            int64_t v, rmq_rem_cmd_t **out) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    if (!req) return RMQ_ERR__NOMEM;
    req->language = RMQ_LANG_CPP;
    rmq_err_t e = RMQ_OK;
    if (group) e = rmq_rem_cmd_set(req, "consumerGroup", group);
    if (!e) e = rmq_rem_cmd_set(req, "topic", mq->topic);
    if (!e) e = rmq_rem_cmd_set_i64(req, "queueId", mq->queue_id);
    if (!e && k) e = rmq_rem_cmd_set_i64(req, k, v);
    if (!e) e = rmq_rem_cmd_set(req, "bname", mq->broker);
    /* 5.x: answer QUERY_NOT_FOUND rather than 0 for a group without an offset, so that
     * consumeFromWhere decides (4.x brokers ignore the field and may answer 0) */
    if (!e && code == RMQ_REQ_QUERY_CONSUMER_OFFSET)
        e = rmq_rem_cmd_set_bool(req, "setZeroIfNotFound", false);
    if (e) {
        rmq_rem_cmd_destroy(req);
        return e;
    }
    *out = req;
    return RMQ_OK;
}

static rmq_err_t offset_call(rmq_instance_t *in, int code, const char *group, const rmq_mq_t *mq,
                             const char *k, int64_t v, int64_t *off) {
    char addr[64];
    rmq_rem_cmd_t *req = NULL;
    rmq_err_t e = rmq_consumer_admin_addr(in, mq, addr, sizeof addr);
    if (!e) e = offset_req(code, group, mq, k, v, &req);
    if (e) return e;
    rmq_rem_cmd_t *resp = NULL;
    e = rmq_instance_invoke_sync(in, addr, req, 0, &resp);
    if (e) return e;
    e = (rmq_err_t)resp->code;
    if (!e && off && rmq_rem_cmd_get_i64(resp, "offset", off)) e = RMQ_ERR__BAD_MSG;
    rmq_rem_cmd_destroy(resp);
    return e;
}

rmq_err_t rmq_query_offset(rmq_instance_t *in, const char *group, const rmq_mq_t *mq,
                           int64_t *off) {
    return offset_call(in, RMQ_REQ_QUERY_CONSUMER_OFFSET, group, mq, NULL, 0, off);
}

rmq_err_t rmq_update_offset(rmq_instance_t *in, const char *group, const rmq_mq_t *mq, int64_t off,
                            bool oneway) {
    if (!oneway)
        return offset_call(in, RMQ_REQ_UPDATE_CONSUMER_OFFSET, group, mq, "commitOffset", off,
                           NULL);
    char addr[64];
    rmq_rem_cmd_t *req = NULL;
    rmq_err_t e = rmq_consumer_admin_addr(in, mq, addr, sizeof addr);
    if (!e) e = offset_req(RMQ_REQ_UPDATE_CONSUMER_OFFSET, group, mq, "commitOffset", off, &req);
    if (e) return e;
    return rmq_instance_invoke_oneway(in, addr, req);
}

rmq_err_t rmq_max_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t *off) {
    return offset_call(in, RMQ_REQ_GET_MAX_OFFSET, NULL, mq, NULL, 0, off);
}

rmq_err_t rmq_min_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t *off) {
    return offset_call(in, RMQ_REQ_GET_MIN_OFFSET, NULL, mq, NULL, 0, off);
}

rmq_err_t rmq_search_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t ts, int64_t *off) {
    return offset_call(in, RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, NULL, mq, "timestamp", ts, off);
}

rmq_err_t rmq_consumer_ids(rmq_instance_t *in, const char *addr, const char *group, char ***ids,
                           int *n) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_LIST_BY_GROUP);
    if (!req) return RMQ_ERR__NOMEM;
    req->language = RMQ_LANG_CPP;
    if (rmq_rem_cmd_set(req, "consumerGroup", group)) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    json_t *root = NULL;
    rmq_err_t e = rmq_instance_invoke_json(in, addr, req, 0, &root);
    if (e) return e;
    if (!root) return RMQ_ERR__BAD_MSG;
    json_t *arr = json_object_get(root, "consumerIdList");
    size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
    char **out = calloc(cnt ? cnt : 1, sizeof(char *));
    int k = 0;
    if (!out) e = RMQ_ERR__NOMEM;
    for (size_t i = 0; out && i < cnt; i++) {
        json_t *v = json_array_get(arr, i);
        if (json_is_string(v) && (out[k] = strdup(json_string_value(v)))) k++;
    }
    json_decref(root);
    if (e) return e;
    *ids = out;
    *n = k;
    return RMQ_OK;
}
