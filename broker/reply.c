/* Broker -> client calls for another client (reply.h).
 *
 * Request-reply (RocketMQ 4.6+, ReplyMessageProcessor): the replier sends the reply with
 * SEND_REPLY_MESSAGE(_V2), a send header whose properties carry REPLY_TO_CLIENT (the
 * requester's client id) and CORRELATION_ID. We find the requester's live channel among the
 * clients that heartbeated here and push the message to it (PUSH_REPLY_MESSAGE_TO_CLIENT, a
 * ReplyMessageRequestHeader: the send header's fields plus bornHost, storeHost and
 * storeTimestamp, with PUSH_REPLY_TIME added to the properties). The replier's answer waits for
 * the requester's: SUCCESS (msgId "0", queueOffset 0, as RocketMQ) once it acknowledged, and
 * SYSTEM_ERROR naming the reason when the requester is gone or failed. With
 * storeReplyMessageEnable (RocketMQ's default, true) a pushed reply is then stored through the
 * ordinary send path, whose answer (real msgId and offset) is the replier's. Unlike RocketMQ a
 * reply that could not be pushed is not stored: nobody is left to read it.
 *
 * Admin forwards (callConsumer): GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY name a
 * consumer group and clientId; the request goes on that consumer's connection with the same
 * extFields (309 also gets brokerName and the stored message as body) and the client's answer
 * (code, remark, body) is relayed. Not online -> SYSTEM_ERROR; no answer within 10 s ->
 * CONSUME_MSG_TIMEOUT, as RocketMQ. */
#include "broker/reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients.h"
#include "broker/send.h"
#include "broker/util.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"

#define MOD "reply"
#define CALL_CLIENT_TIMEOUT_MS 10000 /* Broker2Client.callClient */

/* An answer that waits for a client: the asking connection and request, referenced. */
typedef struct {
    rmq_broker_ctx_t *b;
    rmq_rem_conn_t *c;
    rmq_rem_cmd_t *req;
    char who[600]; /* for remarks and logs */
} pending_t;

static pending_t *pending_new(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    pending_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->b = b;
    p->c = c;
    p->req = rmq_rem_cmd_ref(req);
    rmq_rem_conn_ref(c);
    return p;
}

static void pending_free(pending_t *p) {
    rmq_rem_cmd_destroy(p->req);
    rmq_rem_conn_unref(p->c);
    free(p);
}

static void pending_answer(pending_t *p, rmq_rem_cmd_t *resp) {
    if (resp && !rmq_rem_cmd_is_oneway(p->req) && !rmq_rem_conn_is_closed(p->c))
        rmq_rem_conn_send(p->c, resp);
    else
        rmq_rem_cmd_destroy(resp);
}

static void set_region(rmq_broker_ctx_t *b, rmq_rem_cmd_t *resp) {
    rmq_rem_cmd_set(resp, RMQ_PROP_MSG_REGION, b->env.cfg->region_id ? b->env.cfg->region_id : "");
    rmq_rem_cmd_set(resp, RMQ_PROP_TRACE_ON, b->env.cfg->trace_on ? "true" : "false");
}

/* ---- request-reply ----------------------------------------------------------------------- */

static void on_push_done(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    pending_t *p = arg;
    rmq_broker_ctx_t *b = p->b;
    rmq_rem_cmd_t *out = NULL;
    int code = err ? -1 : resp->code;
    if (code != 0) {
        RMQ_LOG_WARN(MOD, "push reply message to <%s> failed: %s", p->who,
                     err ? rmq_strerror(err)
                         : (resp->remark ? resp->remark : "the requester refused it"));
        out = rmq_rem_cmd_new_response(p->req, RMQ_ERR_SYSTEM_ERROR, NULL);
        if (out) {
            rmq_rem_cmd_set_remarkf(out, "push reply message to %s fail.", p->who);
            set_region(b, out);
        }
    } else if (b->env.cfg->store_reply_message_enable && !b->shutting_down) {
        /* stored as a send; that path answers (now, or after the flush) */
        int code0 = p->req->code;
        p->req->code =
            code0 == RMQ_REQ_SEND_REPLY_MESSAGE_V2 ? RMQ_REQ_SEND_MESSAGE_V2 : RMQ_REQ_SEND_MESSAGE;
        out = rmq_broker_send_on_send(b, p->c, p->req);
        p->req->code = code0;
    } else {
        out = rmq_rem_cmd_new_response(p->req, RMQ_OK, NULL);
        if (out) {
            int64_t qid = 0;
            const char *q = rmq_rem_cmd_get(
                p->req, p->req->code == RMQ_REQ_SEND_REPLY_MESSAGE_V2 ? "e" : "queueId");
            if (q) rmq_parse_java_long(q, &qid);
            rmq_rem_cmd_set(out, "msgId", "0");
            rmq_rem_cmd_set_i64(out, "queueId", qid < 0 ? 0 : qid);
            rmq_rem_cmd_set_i64(out, "queueOffset", 0);
            set_region(b, out);
        }
    }
    rmq_rem_cmd_destroy(resp);
    pending_answer(p, out);
    pending_free(p);
}

static const char *const drop_push_time[] = {RMQ_PROP_PUSH_REPLY_TIME, NULL};

RMQ_BROKER_HANDLER(rmq_broker_reply_on_send_reply) {
    bool v2 = req->code == RMQ_REQ_SEND_REPLY_MESSAGE_V2;
    rmq_broker_send_hdr_t h;
    char err[512];
    if (rmq_broker_send_hdr_parse(req, v2, &h, err, sizeof err) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", err);
    if (b->shutting_down)
        return rmq_broker_err(req, RMQ_ERR_SERVICE_NOT_AVAILABLE, "the broker is shutting down");
    int max_size = b->env.cfg->store.max_message_size;
    if (req->body_len > (size_t)max_size)
        return rmq_broker_err(req, RMQ_ERR_MESSAGE_ILLEGAL,
                              "the message body size %zu is over the limit maxMessageSize=%d",
                              req->body_len, max_size);
    const char *props = h.properties ? h.properties : "";
    size_t plen = strlen(props);
    char to[256] = "";
    if (!rmq_msg_prop_copy(props, plen, RMQ_PROP_REPLY_TO_CLIENT, to, sizeof to) || !to[0]) {
        RMQ_LOG_WARN(MOD, "REPLY_TO_CLIENT is null, can not reply message (from %s)",
                     rmq_rem_conn_peer(c));
        rmq_rem_cmd_t *r = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                                          "reply message properties[REPLY_TO_CLIENT] is null");
        if (r) set_region(b, r);
        return r;
    }
    rmq_rem_conn_t *target = rmq_broker_clients_find_client(b->clients, NULL, to, NULL);
    if (!target) {
        RMQ_LOG_WARN(MOD, "push reply message fail, channel of <%s> not found", to);
        rmq_rem_cmd_t *r = rmq_broker_err(
            req, RMQ_ERR_SYSTEM_ERROR, "push reply message fail, channel of <%s> not found.", to);
        if (r) set_region(b, r);
        return r;
    }

    rmq_rem_cmd_t *push = rmq_rem_cmd_new_request(RMQ_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT);
    pending_t *p = pending_new(b, c, req);
    rmq_buf_t pb;
    rmq_buf_init(&pb);
    rmq_msg_prop_filter_keys(&pb, props, plen, drop_push_time);
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, rmq_now_ms());
    if (pb.len) rmq_buf_append_u8(&pb, RMQ_PROP_SEP);
    rmq_buf_append(&pb, RMQ_PROP_PUSH_REPLY_TIME, strlen(RMQ_PROP_PUSH_REPLY_TIME));
    rmq_buf_append_u8(&pb, RMQ_PROP_NAME_SEP);
    rmq_buf_append(&pb, now, strlen(now));
    rmq_buf_append_u8(&pb, 0);
    char store_host[300];
    snprintf(store_host, sizeof store_host, "%s:%d", b->env.cfg->broker_ip1,
             b->env.cfg->listen_port);
    rmq_err_t e = push && p && pb.data ? RMQ_OK : RMQ_ERR__NOMEM;
    if (!e) {
        push->language = RMQ_LANG_JAVA;
        e = rmq_rem_cmd_set(push, "producerGroup", h.producer_group);
        if (!e) e = rmq_rem_cmd_set(push, "topic", h.topic);
        if (!e) e = rmq_rem_cmd_set(push, "defaultTopic", h.default_topic);
        if (!e) e = rmq_rem_cmd_set_i64(push, "defaultTopicQueueNums", h.default_topic_queue_nums);
        if (!e) e = rmq_rem_cmd_set_i64(push, "queueId", h.queue_id);
        if (!e) e = rmq_rem_cmd_set_i64(push, "sysFlag", h.sys_flag);
        if (!e) e = rmq_rem_cmd_set_i64(push, "bornTimestamp", h.born_timestamp);
        if (!e) e = rmq_rem_cmd_set_i64(push, "flag", h.flag);
        if (!e) e = rmq_rem_cmd_set(push, "properties", (const char *)pb.data);
        if (!e) e = rmq_rem_cmd_set_i64(push, "reconsumeTimes", h.reconsume_times);
        if (!e) e = rmq_rem_cmd_set_bool(push, "unitMode", h.unit_mode);
        if (!e) e = rmq_rem_cmd_set(push, "bornHost", rmq_rem_conn_peer(c));
        if (!e) e = rmq_rem_cmd_set(push, "storeHost", store_host);
        if (!e) e = rmq_rem_cmd_set_i64(push, "storeTimestamp", rmq_now_ms());
        if (!e && req->body_len) e = rmq_rem_cmd_set_body_copy(push, req->body, req->body_len);
    }
    rmq_buf_fini(&pb);
    if (e) {
        rmq_rem_cmd_destroy(push);
        if (p) pending_free(p);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    rmq_strlcpy(p->who, to, sizeof p->who);
    e = rmq_rem_conn_request(target, push, CALL_CLIENT_TIMEOUT_MS, on_push_done, p);
    if (e) { /* the callback did not run */
        pending_free(p);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "push reply message to %s fail.", to);
    }
    return NULL;
}

/* ---- admin forwards (callConsumer) -------------------------------------------------------- */

static void on_consumer_answer(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    pending_t *p = arg;
    rmq_rem_cmd_t *out;
    if (err == RMQ_ERR__TIMEOUT) {
        out = rmq_rem_cmd_new_response(p->req, RMQ_ERR_CONSUME_MSG_TIMEOUT, NULL);
        if (out) rmq_rem_cmd_set_remarkf(out, "consumer %s Timeout: %s", p->who, rmq_strerror(err));
    } else if (err) {
        out = rmq_rem_cmd_new_response(p->req, RMQ_ERR_SYSTEM_ERROR, NULL);
        if (out)
            rmq_rem_cmd_set_remarkf(out, "invoke consumer %s Exception: %s", p->who,
                                    rmq_strerror(err));
    } else {
        out = rmq_rem_cmd_new_response(p->req, resp->code, resp->remark);
        if (out && resp->body) {
            rmq_rem_cmd_set_body(out, resp->body, resp->body_len);
            resp->body = NULL;
            resp->body_len = 0;
        }
    }
    rmq_rem_cmd_destroy(resp);
    pending_answer(p, out);
    pending_free(p);
}

/* Forward req (code, its extFields plus extra_k=extra_v when set, body) to the consumer
 * clientId of group; the answer is relayed later. Takes body (malloc'd, may be NULL). */
static rmq_rem_cmd_t *call_consumer(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                                    const char *group, const char *client_id, const char *extra_k,
                                    const char *extra_v, uint8_t *body, size_t body_len) {
    rmq_rem_conn_t *target = rmq_broker_clients_find_client(b->clients, group, client_id, NULL);
    if (!target) {
        free(body);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "The Consumer <%s> <%s> not online", group,
                              client_id);
    }
    rmq_rem_cmd_t *fwd = rmq_rem_cmd_new_request(req->code);
    pending_t *p = pending_new(b, c, req);
    rmq_err_t e = fwd && p ? RMQ_OK : RMQ_ERR__NOMEM;
    if (!e) {
        fwd->language = RMQ_LANG_JAVA;
        for (size_t i = 0; !e && i < req->next; i++)
            if (!extra_k || strcmp(req->ext[i].key, extra_k) != 0)
                e = rmq_rem_cmd_set(fwd, req->ext[i].key, req->ext[i].val);
        if (!e && extra_k) e = rmq_rem_cmd_set(fwd, extra_k, extra_v);
    }
    if (e) {
        free(body);
        rmq_rem_cmd_destroy(fwd);
        if (p) pending_free(p);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    if (body) rmq_rem_cmd_set_body(fwd, body, body_len);
    snprintf(p->who, sizeof p->who, "<%s> <%s>", group, client_id);
    e = rmq_rem_conn_request(target, fwd, CALL_CLIENT_TIMEOUT_MS, on_consumer_answer, p);
    if (e) {
        pending_free(p);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "invoke consumer <%s> <%s> Exception: %s",
                              group, client_id, rmq_strerror(e));
    }
    return NULL;
}

#define NEED(call)                                                                                 \
    do {                                                                                           \
        rmq_rem_cmd_t *err_ = (call);                                                              \
        if (err_) return err_;                                                                     \
    } while (0)

RMQ_BROKER_HANDLER(rmq_broker_reply_on_running_info) {
    const char *group, *client_id;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    NEED(rmq_broker_need_str(req, "clientId", &client_id));
    return call_consumer(b, c, req, group, client_id, NULL, NULL, NULL, 0);
}

RMQ_BROKER_HANDLER(rmq_broker_reply_on_consume_directly) {
    const char *group, *client_id, *msg_id;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    NEED(rmq_broker_need_str(req, "clientId", &client_id));
    NEED(rmq_broker_need_str(req, "msgId", &msg_id));
    rmq_msg_host_t host;
    int64_t off = -1;
    uint8_t *rec = NULL;
    size_t len = 0;
    if (rmq_msg_offset_id_parse(msg_id, &host, &off) != RMQ_OK || off < 0 ||
        rmq_store_read_at(b->env.store, off, &rec, &len) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "can not find message by the msgId %s",
                              msg_id);
    return call_consumer(b, c, req, group, client_id, "brokerName", b->env.cfg->broker_name, rec,
                         len);
}
