/* Request-reply and the SDK's answers to broker-initiated requests, against real mqnamesrv +
 * mqbroker: rmq_request (sync and async) answered by a consumer's rmq_reply; a request nobody
 * answers times out; a reply to a requester that is gone is refused cleanly; GET_CONSUMER_
 * RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY sent to the broker as an admin would are forwarded
 * to the consumer and answered from its live state; and raw frames as the Java 4.9.8 client
 * sends SEND_REPLY_MESSAGE_V2 and expects PUSH_REPLY_MESSAGE_TO_CLIENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/fjson.h"
#include "remoting/client.h"
#include "sdk_util.h"

static int setup(void **st) {
    (void)st;
    return su_start(NULL);
}
static int teardown(void **st) {
    (void)st;
    su_stop();
    return 0;
}

/* ---- the replying consumer ---------------------------------------------------------------- */

typedef struct {
    rmq_producer_t *replier;
    pthread_mutex_t mu;
    int handled;
    int late_done;      /* late requests answered (after the requester gave up or left) */
    rmq_err_t late_err; /* rmq_reply's result for the last late one */
    int late_delay_ms;
} rep_t;

static rmq_consume_status_t rep_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                         rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    rep_t *r = op;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = rmq_msg_body(msgs[i], &l);
        char out[256];
        int ol = snprintf(out, sizeof out, "re:%.*s", (int)(l < 200 ? l : 200), b);
        bool late = rmq_msg_property(msgs[i], "late") != NULL;
        if (late) rmq_sleep_ms(r->late_delay_ms);
        rmq_err_t e = rmq_reply(r->replier, msgs[i], out, (size_t)ol, NULL);
        pthread_mutex_lock(&r->mu);
        r->handled++;
        if (late) {
            r->late_done++;
            r->late_err = e;
        }
        pthread_mutex_unlock(&r->mu);
    }
    return RMQ_CONSUME_SUCCESS;
}

static rep_t rep;
static rmq_push_consumer_t *rep_consumer;

static rmq_producer_t *producer_inst(const char *group, const char *instance) {
    rmq_conf_t *c = su_conf(group);
    if (instance) su_set(c, "instanceName", instance);
    char err[256];
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    if (!p) fprintf(stderr, "producer: %s\n", err);
    return p;
}

static void start_replier(void) {
    if (rep_consumer) return;
    memset(&rep, 0, sizeof rep);
    pthread_mutex_init(&rep.mu, NULL);
    rep.late_delay_ms = 2500;
    rep.replier = su_producer("pg_replier");
    assert_non_null(rep.replier);
    rmq_conf_t *c = su_conf("cg_rr");
    su_set(c, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET");
    char err[256];
    rep_consumer = rmq_push_consumer_new(c, err, sizeof err);
    assert_non_null(rep_consumer);
    assert_int_equal(rmq_push_consumer_subscribe(rep_consumer, "RRTopic", "*"), RMQ_OK);
    assert_int_equal(
        rmq_push_consumer_set_listener(rep_consumer, RMQ_LISTEN_CONCURRENTLY, rep_listener, &rep),
        RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(rep_consumer), RMQ_OK);
    /* wait until the consumer owns the queues (it starts at the last offset) */
    uint64_t end = rmq_mono_ms() + 30000;
    while (su_assigned(rep_consumer) < 4 && rmq_mono_ms() < end) rmq_sleep_ms(100);
    assert_true(su_assigned(rep_consumer) >= 4);
    rmq_sleep_ms(1000); /* the first pulls settle the start offsets */
}

static rmq_msg_t *request_msg(const char *body) {
    rmq_msg_t *m = rmq_msg_new("RRTopic", "req", NULL, (void *)body, strlen(body), RMQ_MSG_F_COPY);
    assert_non_null(m);
    return m;
}

static void body_is(const rmq_msg_t *m, const char *want) {
    size_t l;
    const char *b = rmq_msg_body(m, &l);
    assert_int_equal(l, strlen(want));
    assert_memory_equal(b, want, l);
}

/* The topic must exist before the first request: create it by a plain send. */
static void ensure_topic(rmq_producer_t *p, const char *topic) {
    rmq_msg_t *m = rmq_msg_new(topic, "warm", NULL, "warm", 4, RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    rmq_msg_destroy(m);
}

static void test_request_sync(void **st) {
    (void)st;
    rmq_producer_t *p = producer_inst("pg_req", "requester1");
    assert_non_null(p);
    ensure_topic(p, "RRTopic");
    start_replier();
    for (int i = 0; i < 5; i++) {
        char body[32], want[40];
        snprintf(body, sizeof body, "ping-%d", i);
        snprintf(want, sizeof want, "re:%s", body);
        rmq_msg_t *m = request_msg(body);
        rmq_msg_t *reply = NULL;
        rmq_err_t e = rmq_request(p, m, 15000, &reply);
        assert_int_equal(e, RMQ_OK);
        assert_non_null(reply);
        body_is(reply, want);
        /* the reply carries the request's correlation id and names us */
        const char *cid = rmq_msg_property(m, "CORRELATION_ID");
        assert_non_null(cid);
        assert_string_equal(rmq_msg_property(reply, "CORRELATION_ID"), cid);
        assert_string_equal(rmq_msg_property(reply, "MSG_TYPE"), "reply");
        assert_non_null(rmq_msg_property(reply, "PUSH_REPLY_TIME"));
        assert_non_null(rmq_msg_property(reply, "ARRIVE_TIME"));
        assert_non_null(rmq_msg_property(m, "REPLY_TO_CLIENT"));
        assert_string_equal(rmq_msg_property(m, "TTL"), "15000");
        rmq_msg_destroy(reply);
        rmq_msg_destroy(m);
    }
    rmq_producer_destroy(p);
}

typedef struct {
    pthread_mutex_t mu;
    int ok, timeouts, other;
    int bad_body;
} acb_t;

static void on_reply(rmq_producer_t *p, rmq_err_t e, rmq_msg_t *reply, void *op) {
    (void)p;
    acb_t *a = op;
    pthread_mutex_lock(&a->mu);
    if (e == RMQ_OK) {
        size_t l;
        const char *b = rmq_msg_body(reply, &l);
        if (l < 8 || strncmp(b, "re:async", 8) != 0) a->bad_body++;
        a->ok++;
    } else if (e == RMQ_ERR__TIMEOUT) {
        a->timeouts++;
    } else {
        a->other++;
    }
    pthread_mutex_unlock(&a->mu);
    rmq_msg_destroy(reply);
}

static int acb_total(acb_t *a) {
    pthread_mutex_lock(&a->mu);
    int t = a->ok + a->timeouts + a->other;
    pthread_mutex_unlock(&a->mu);
    return t;
}

static void test_request_async(void **st) {
    (void)st;
    start_replier();
    rmq_producer_t *p = producer_inst("pg_req_async", "requester2");
    assert_non_null(p);
    acb_t a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "async-%d", i);
        rmq_msg_t *m = request_msg(body);
        assert_int_equal(rmq_request_async(p, m, 20000, on_reply, &a), RMQ_OK);
        rmq_msg_destroy(m);
    }
    uint64_t end = rmq_mono_ms() + 60000;
    while (acb_total(&a) < N && rmq_mono_ms() < end) rmq_sleep_ms(50);
    assert_int_equal(a.ok, N);
    assert_int_equal(a.bad_body, 0);
    assert_int_equal(a.timeouts + a.other, 0);
    rmq_producer_destroy(p);
}

static void test_request_timeout(void **st) {
    (void)st;
    rmq_producer_t *p = producer_inst("pg_req_to", "requester3");
    assert_non_null(p);
    ensure_topic(p, "RRNobody"); /* stored, but nobody consumes it */
    rmq_msg_t *m = rmq_msg_new("RRNobody", NULL, NULL, "x", 1, RMQ_MSG_F_COPY);
    rmq_msg_t *reply = (rmq_msg_t *)1;
    assert_int_equal(rmq_request(p, m, 1500, &reply), RMQ_ERR__TIMEOUT);
    assert_null(reply);
    /* async: the callback reports the timeout once; destroy then finds nothing pending */
    acb_t a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(rmq_request_async(p, m, 1500, on_reply, &a), RMQ_OK);
    uint64_t end = rmq_mono_ms() + 30000;
    while (acb_total(&a) < 1 && rmq_mono_ms() < end) rmq_sleep_ms(50);
    assert_int_equal(a.timeouts, 1);
    assert_int_equal(a.ok + a.other, 0);
    rmq_msg_destroy(m);
    rmq_producer_destroy(p);
    assert_int_equal(acb_total(&a), 1);
}

static int late_done(void) {
    pthread_mutex_lock(&rep.mu);
    int n = rep.late_done;
    pthread_mutex_unlock(&rep.mu);
    return n;
}

/* A reply that comes after the requester timed out is pushed, not matched, dropped; one that
 * comes after the requester left is refused by the broker (its channel is gone). */
static void test_reply_to_gone(void **st) {
    (void)st;
    start_replier();
    rmq_producer_t *p = producer_inst("pg_req_gone", "requester4");
    assert_non_null(p);
    rmq_msg_t *m = request_msg("late-1");
    rmq_msg_set_property(m, "late", "1");
    rmq_msg_t *reply = NULL;
    int before = late_done();
    assert_int_equal(rmq_request(p, m, 800, &reply), RMQ_ERR__TIMEOUT);
    uint64_t end = rmq_mono_ms() + 30000;
    while (late_done() == before && rmq_mono_ms() < end) rmq_sleep_ms(50);
    assert_int_equal(late_done(), before + 1);
    assert_int_equal(rep.late_err, RMQ_OK); /* requester still connected: pushed, then dropped */
    rmq_msg_destroy(m);

    m = request_msg("late-2");
    rmq_msg_set_property(m, "late", "1");
    acb_t a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(rmq_request_async(p, m, 500, on_reply, &a), RMQ_OK);
    rmq_msg_destroy(m);
    rmq_producer_destroy(p); /* waits for the timeout callback; the instance goes away */
    assert_int_equal(a.timeouts, 1);
    end = rmq_mono_ms() + 30000;
    while (late_done() == before + 1 && rmq_mono_ms() < end) rmq_sleep_ms(50);
    assert_int_equal(late_done(), before + 2);
    assert_int_equal(rep.late_err, RMQ_ERR_SYSTEM_ERROR); /* channel not found */
    /* the broker keeps serving: a new request is answered */
    p = producer_inst("pg_req_gone", "requester5");
    m = request_msg("after");
    assert_int_equal(rmq_request(p, m, 15000, &reply), RMQ_OK);
    body_is(reply, "re:after");
    rmq_msg_destroy(reply);
    rmq_msg_destroy(m);
    rmq_producer_destroy(p);
}

/* ---- admin calls through the broker ------------------------------------------------------ */

static rmq_rem_client_t *admin_client(void) {
    rmq_rem_client_t *cl = NULL;
    rmq_rem_client_cfg_t cfg = {.name = "test-admin"};
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    return cl;
}

static rmq_rem_cmd_t *call(rmq_rem_client_t *cl, rmq_rem_cmd_t *req) {
    req->language = RMQ_LANG_JAVA;
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, su_broker.addr, req, 15000, &resp), RMQ_OK);
    return resp;
}

static json_t *body_json(const rmq_rem_cmd_t *resp) {
    char err[256];
    json_t *j = rmq_fjson_parse((const char *)resp->body, resp->body_len, err, sizeof err);
    if (!j) fprintf(stderr, "body: %s: %.*s\n", err, (int)resp->body_len, resp->body);
    assert_non_null(j);
    return j;
}

/* The group's first client id, from GET_CONSUMER_LIST_BY_GROUP. */
static void client_id_of(rmq_rem_client_t *cl, const char *group, char *out, size_t n) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_LIST_BY_GROUP);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_t *resp = call(cl, req);
    assert_int_equal(resp->code, 0);
    json_t *j = body_json(resp);
    const char *id = json_string_value(json_array_get(json_object_get(j, "consumerIdList"), 0));
    assert_non_null(id);
    snprintf(out, n, "%s", id);
    json_decref(j);
    rmq_rem_cmd_destroy(resp);
}

static void test_running_info(void **st) {
    (void)st;
    start_replier();
    rmq_rem_client_t *cl = admin_client();
    char cid[256];
    client_id_of(cl, "cg_rr", cid, sizeof cid);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_RUNNING_INFO);
    rmq_rem_cmd_set(req, "consumerGroup", "cg_rr");
    rmq_rem_cmd_set(req, "clientId", cid);
    rmq_rem_cmd_set(req, "jstackEnable", "false");
    rmq_rem_cmd_t *resp = call(cl, req);
    assert_int_equal(resp->code, 0);
    json_t *j = body_json(resp);
    json_t *props = json_object_get(j, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "PROP_CONSUMEORDERLY")), "false");
    assert_string_equal(json_string_value(json_object_get(props, "PROP_CONSUME_TYPE")),
                        "CONSUME_PASSIVELY");
    assert_string_equal(json_string_value(json_object_get(props, "messageModel")), "CLUSTERING");
    assert_non_null(json_object_get(props, "PROP_CONSUMER_START_TIMESTAMP"));
    assert_non_null(json_object_get(props, "PROP_CLIENT_VERSION"));
    /* the subscriptions: RRTopic and the group's retry topic */
    json_t *subs = json_object_get(j, "subscriptionSet");
    bool has_topic = false, has_retry = false;
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s) {
        const char *t = json_string_value(json_object_get(s, "topic"));
        if (t && !strcmp(t, "RRTopic")) has_topic = true;
        if (t && !strcmp(t, "%RETRY%cg_rr")) has_retry = true;
        assert_string_equal(json_string_value(json_object_get(s, "subString")), "*");
    }
    assert_true(has_topic && has_retry);
    /* the queue table: RRTopic's 4 queues with their committed offsets; the consumer answered
     * requests, so the offsets sum to at least the requests it handled */
    json_t *mqt = json_object_get(j, "mqTable");
    const char *key;
    json_t *pq;
    int rr_queues = 0;
    long long sum = 0;
    json_object_foreach(mqt, key, pq) {
        char topic[128], broker[64];
        int qid;
        assert_true(rmq_fj_mq_from_key(key, topic, sizeof topic, broker, sizeof broker, &qid));
        if (strcmp(topic, "RRTopic") != 0) continue;
        rr_queues++;
        sum += json_integer_value(json_object_get(pq, "commitOffset"));
        assert_false(json_is_true(json_object_get(pq, "droped")));
        assert_true(json_integer_value(json_object_get(pq, "lastPullTimestamp")) > 0);
        assert_non_null(json_object_get(pq, "cachedMsgCount"));
    }
    assert_int_equal(rr_queues, 4);
    pthread_mutex_lock(&rep.mu);
    int handled = rep.handled;
    pthread_mutex_unlock(&rep.mu);
    assert_true(handled > 0);
    assert_true(sum >= handled);
    json_t *status = json_object_get(json_object_get(j, "statusTable"), "RRTopic");
    assert_non_null(status);
    assert_true(json_number_value(json_object_get(status, "pullRT")) >= 0);
    assert_non_null(json_object_get(status, "consumeOKTPS"));
    json_decref(j);
    rmq_rem_cmd_destroy(resp);

    /* a client id that is not online: SYSTEM_ERROR naming it */
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_CONSUMER_RUNNING_INFO);
    rmq_rem_cmd_set(req, "consumerGroup", "cg_rr");
    rmq_rem_cmd_set(req, "clientId", "10.0.0.1@nobody");
    resp = call(cl, req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(resp->remark, "not online"));
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static atomic_int direct_seen;

static rmq_consume_status_t dir_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                         rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)mq;
    (void)op;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = rmq_msg_body(msgs[i], &l);
        if (l == 6 && !memcmp(b, "direct", 6)) atomic_fetch_add(&direct_seen, 1);
    }
    return RMQ_CONSUME_SUCCESS;
}

static void test_consume_directly(void **st) {
    (void)st;
    rmq_producer_t *p = su_producer("pg_dir");
    assert_non_null(p);
    rmq_msg_t *m = rmq_msg_new("DirTopic", NULL, NULL, "direct", 6, RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    rmq_msg_destroy(m);
    rmq_push_consumer_t *pc = su_consumer_fn("cg_dir", "DirTopic", "*", RMQ_LISTEN_CONCURRENTLY,
                                             dir_listener, NULL, NULL);
    assert_non_null(pc);
    uint64_t end = rmq_mono_ms() + 30000;
    while (atomic_load(&direct_seen) < 1 && rmq_mono_ms() < end) rmq_sleep_ms(50);
    assert_int_equal(atomic_load(&direct_seen), 1);

    rmq_rem_client_t *cl = admin_client();
    char cid[256];
    client_id_of(cl, "cg_dir", cid, sizeof cid);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_CONSUME_MESSAGE_DIRECTLY);
    rmq_rem_cmd_set(req, "consumerGroup", "cg_dir");
    rmq_rem_cmd_set(req, "clientId", cid);
    rmq_rem_cmd_set(req, "msgId", r.offset_msg_id);
    rmq_rem_cmd_t *resp = call(cl, req);
    assert_int_equal(resp->code, 0);
    json_t *j = body_json(resp);
    assert_string_equal(json_string_value(json_object_get(j, "consumeResult")), "CR_SUCCESS");
    assert_false(json_is_true(json_object_get(j, "order")));
    assert_true(json_is_true(json_object_get(j, "autoCommit")));
    json_decref(j);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(atomic_load(&direct_seen), 2); /* the listener ran on it once more */

    /* an unknown message id: a clear error, nothing consumed */
    req = rmq_rem_cmd_new_request(RMQ_REQ_CONSUME_MESSAGE_DIRECTLY);
    rmq_rem_cmd_set(req, "consumerGroup", "cg_dir");
    rmq_rem_cmd_set(req, "clientId", cid);
    rmq_rem_cmd_set(req, "msgId", "7F00000100002A9F0000000FFFFFFFF0");
    resp = call(cl, req);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(atomic_load(&direct_seen), 2);
    rmq_rem_client_destroy(cl);
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
}

/* ---- raw frames as the Java 4.9.8 client ---------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    rmq_rem_cmd_t *push; /* the PUSH_REPLY_MESSAGE_TO_CLIENT received */
} raw_t;

static rmq_rem_cmd_t *raw_handler(rmq_rem_conn_t *conn, rmq_rem_cmd_t *req, void *arg) {
    (void)conn;
    raw_t *r = arg;
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    pthread_mutex_lock(&r->mu);
    if (req->code == RMQ_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT && !r->push)
        r->push = req;
    else
        rmq_rem_cmd_destroy(req);
    pthread_mutex_unlock(&r->mu);
    return resp;
}

static rmq_rem_cmd_t *java_reply_v2(const char *props, const char *body) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_REPLY_MESSAGE_V2);
    req->language = RMQ_LANG_JAVA;
    req->version = 409;
    rmq_rem_cmd_set(req, "a", "pg_java_replier");
    rmq_rem_cmd_set(req, "b", "TestCluster_REPLY_TOPIC");
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "0");
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", props);
    rmq_rem_cmd_set(req, "j", "0");
    rmq_rem_cmd_set(req, "k", "false");
    rmq_rem_cmd_set(req, "m", "false");
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    return req;
}

static void test_raw_java_frames(void **st) {
    (void)st;
    raw_t r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* the requester: a Java-like client that heartbeats as a producer */
    rmq_rem_client_t *req_cl = admin_client();
    rmq_rem_client_set_handler(req_cl, raw_handler, &r);
    rmq_rem_cmd_t *hb = rmq_rem_cmd_new_request(RMQ_REQ_HEART_BEAT);
    const char *hbb = "{\"clientID\":\"127.0.0.1@javareq\",\"consumerDataSet\":[],"
                      "\"producerDataSet\":[{\"groupName\":\"pg_java_req\"}]}";
    rmq_rem_cmd_set_body_copy(hb, hbb, strlen(hbb));
    rmq_rem_cmd_t *resp = call(req_cl, hb);
    assert_int_equal(resp->code, 0);
    rmq_rem_cmd_destroy(resp);

    /* the replier: SEND_REPLY_MESSAGE_V2 exactly as MQClientAPIImpl builds it */
    rmq_rem_client_t *rep_cl = admin_client();
    const char props[] = "CORRELATION_ID\0011234-abcd\002REPLY_TO_CLIENT\001127.0.0.1@javareq"
                         "\002TTL\0013000\002MSG_TYPE\001reply\002CLUSTER\001TestCluster";
    resp = call(rep_cl, java_reply_v2(props, "java-reply"));
    assert_int_equal(resp->code, 0);
    /* stored too (storeReplyMessageEnable=true): a real offset message id */
    assert_non_null(rmq_rem_cmd_get(resp, "msgId"));
    assert_string_not_equal(rmq_rem_cmd_get(resp, "msgId"), "0");
    assert_non_null(rmq_rem_cmd_get(resp, "queueOffset"));
    rmq_rem_cmd_destroy(resp);

    pthread_mutex_lock(&r.mu);
    rmq_rem_cmd_t *push = r.push;
    pthread_mutex_unlock(&r.mu);
    assert_non_null(push); /* pushed before the replier's answer */
    /* ReplyMessageRequestHeader as the Java client decodes it */
    static const char *const need[] = {"producerGroup",
                                       "topic",
                                       "defaultTopic",
                                       "defaultTopicQueueNums",
                                       "queueId",
                                       "sysFlag",
                                       "bornTimestamp",
                                       "flag",
                                       "properties",
                                       "reconsumeTimes",
                                       "unitMode",
                                       "bornHost",
                                       "storeHost",
                                       "storeTimestamp",
                                       NULL};
    for (const char *const *k = need; *k; k++) {
        if (!rmq_rem_cmd_get(push, *k)) fprintf(stderr, "missing %s\n", *k);
        assert_non_null(rmq_rem_cmd_get(push, *k));
    }
    assert_string_equal(rmq_rem_cmd_get(push, "topic"), "TestCluster_REPLY_TOPIC");
    assert_string_equal(rmq_rem_cmd_get(push, "producerGroup"), "pg_java_replier");
    const char *pp = rmq_rem_cmd_get(push, "properties");
    assert_non_null(strstr(pp, "CORRELATION_ID\0011234-abcd"));
    assert_non_null(strstr(pp, "PUSH_REPLY_TIME\001"));
    assert_non_null(strchr(rmq_rem_cmd_get(push, "storeHost"), ':'));
    int64_t v;
    assert_int_equal(rmq_rem_cmd_get_i64(push, "storeTimestamp", &v), RMQ_OK);
    assert_true(v > 0);
    assert_int_equal(push->body_len, 10);
    assert_memory_equal(push->body, "java-reply", 10);
    rmq_rem_cmd_destroy(push);

    /* to a client id nobody has: SYSTEM_ERROR naming it, the broker keeps serving */
    const char props2[] = "CORRELATION_ID\001x\002REPLY_TO_CLIENT\0011.2.3.4@gone\002MSG_TYPE\001"
                          "reply\002CLUSTER\001TestCluster";
    resp = call(rep_cl, java_reply_v2(props2, "lost"));
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(resp->remark, "1.2.3.4@gone"));
    rmq_rem_cmd_destroy(resp);
    /* without REPLY_TO_CLIENT */
    resp = call(rep_cl, java_reply_v2("MSG_TYPE\001reply", "lost"));
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(resp->remark, "REPLY_TO_CLIENT"));
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(rep_cl);
    rmq_rem_client_destroy(req_cl);
}

/* ---- mqadmin --------------------------------------------------------------------------- */

/* Run mqadmin with args (and -n); stdout into a new string, exit status in *rc. */
static char *mqadmin(int *rc, const char *fmt, ...) {
    char bin[512], args[1024], cmd[2048];
    rmq_bin_path("mqadmin", bin, sizeof bin);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s -n %s 2>&1", su_broker.dir, bin, args, su_ns.addr);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 >= cap) out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    *rc = pclose(f);
    if (getenv("RMQ_TEST_VERBOSE")) fprintf(stderr, "$ mqadmin %s\n%s\n", args, out);
    return out;
}

static void test_mqadmin(void **st) {
    (void)st;
    start_replier();
    rmq_rem_client_t *cl = admin_client();
    char cid[256];
    client_id_of(cl, "cg_rr", cid, sizeof cid);
    rmq_rem_client_destroy(cl);
    int rc;
    /* one client: its formatted running info */
    char *out = mqadmin(&rc, "consumerStatus -g cg_rr -i %s", cid);
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "#Consumer Properties#"));
    assert_non_null(strstr(out, "PROP_CONSUMEORDERLY"));
    assert_non_null(strstr(out, "Topic: RRTopic"));
    assert_non_null(strstr(out, "#Consumer MQ Detail#"));
    assert_non_null(strstr(out, "ProcessQueueInfo [commitOffset="));
    assert_non_null(strstr(out, "#Consumer RT&TPS#"));
    free(out);
    /* the group: a table of clients and files written with each one's info */
    out = mqadmin(&rc, "consumerStatus -g cg_rr");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "#ConsumerRunningInfoFile"));
    assert_non_null(strstr(out, cid));
    assert_non_null(strstr(out, "Same subscription in the same group of consumer"));
    free(out);
    /* consumerProgress -s true: the client's IP owns the queues, no "NA" */
    out = mqadmin(&rc, "consumerProgress -g cg_rr -s true");
    assert_int_equal(rc, 0);
    char ip[256];
    snprintf(ip, sizeof ip, "%s", cid);
    *strchr(ip, '@') = 0;
    assert_non_null(strstr(out, "#Client IP"));
    assert_non_null(strstr(out, ip));
    assert_null(strstr(out, " NA "));
    free(out);
    /* unknown client: a clear error, non-zero exit */
    out = mqadmin(&rc, "consumerStatus -g cg_rr -i 10.9.9.9@nobody");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "not online"));
    free(out);
}

static void test_mqadmin_consume_directly(void **st) {
    (void)st;
    rmq_producer_t *p = su_producer("pg_dir2");
    rmq_msg_t *m = rmq_msg_new("DirTopic", NULL, NULL, "direct", 6, RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    rmq_msg_destroy(m);
    rmq_conf_t *c = su_conf("cg_dir2");
    su_set(c, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET");
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe(pc, "DirTopic", "*"), RMQ_OK);
    assert_int_equal(
        rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, dir_listener, NULL), RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(pc), RMQ_OK);
    rmq_rem_client_t *cl = admin_client();
    char cid[256];
    client_id_of(cl, "cg_dir2", cid, sizeof cid);
    rmq_rem_client_destroy(cl);
    int before = atomic_load(&direct_seen), rc;
    char *out = mqadmin(&rc, "queryMsgById -i %s -g cg_dir2 -d %s", r.offset_msg_id, cid);
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "ConsumeMessageDirectlyResult [order=false, autoCommit=true, "
                                "consumeResult=CR_SUCCESS, remark=null, spentTimeMills="));
    free(out);
    assert_int_equal(atomic_load(&direct_seen), before + 1);
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
}

static void test_shutdown_replier(void **st) {
    (void)st;
    if (rep_consumer) rmq_push_consumer_destroy(rep_consumer);
    rep_consumer = NULL;
    if (rep.replier) rmq_producer_destroy(rep.replier);
    rep.replier = NULL;
    assert_int_equal(rmq_proc_log_errors(&su_broker), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_sync),
        cmocka_unit_test(test_request_async),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_reply_to_gone),
        cmocka_unit_test(test_running_info),
        cmocka_unit_test(test_consume_directly),
        cmocka_unit_test(test_raw_java_frames),
        cmocka_unit_test(test_mqadmin),
        cmocka_unit_test(test_mqadmin_consume_directly),
        cmocka_unit_test(test_shutdown_replier),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
