/* librmq against a scripted peer: a tiny server from remoting/server.h in this process that
 * plays NameServer and broker at once (routes point back at itself). It checks what the SDK
 * puts on the wire for sends (V2 header, UNIQ_KEY, compression, batch, retries on another
 * broker) and the transaction client side: half message, END_TRANSACTION after the local
 * callback, and the answer to a CHECK_TRANSACTION_STATE the peer sends on the producer's
 * connection. A second listener plays broker-a's slave (issue 9): pulls follow the broker's
 * suggestWhichBrokerId, go to the slave while the route lists no master and back to the master
 * when it does; offsets are committed to whichever is there; sends skip the masterless set. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/msg.h"
#include "common/util.h"
#include "remoting/server.h"
#include "rmq/rmq.h"

#define MAX_REC 64

typedef struct {
    int code;
    char a[64], b[128], e[16], f[16], i[512], m[16], n[64];
    char producer_group[64], tso[32], clo[32], cor[8], from_check[8], msg_id[64], txn_id[64];
    char sys_flag[16], queue_id[16];
    int node; /* 0: the peer's main listener (master), 1: the slave listener */
    size_t body_len;
    uint8_t body[16384];
} rec_t;

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    rmq_rem_server_t *srv;
    int port;
    char addr[64];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rec_t recs[MAX_REC];
    int nrec;
    int fail_sends;           /* answer this many sends with SYSTEM_BUSY first */
    char fail_broker[64];     /* ... only for this broker name ("" = any) */
    rmq_rem_conn_t *producer; /* from the first heartbeat (ref held) */
    int64_t next_offset;
    bool two_brokers;
    bool closed;
    /* broker-a's slave (issue 9) */
    rmq_rem_server_t *srv2;
    char addr2[64];
    int ha_route; /* 0: as two_brokers says; HA_BOTH: broker-a master + slave, broker-b master;
                     HA_GONE: broker-a slave only, broker-b master */
    int64_t suggest[2]; /* suggestWhichBrokerId answered by master / slave */
} peer_t;
enum { HA_BOTH = 1, HA_GONE = 2 };

static peer_t P;

static void record_at(rmq_rem_cmd_t *req, int node) {
    pthread_mutex_lock(&P.mu);
    if (P.nrec < MAX_REC) {
        rec_t *r = &P.recs[P.nrec++];
        memset(r, 0, sizeof *r);
        r->code = req->code;
        r->node = node;
        const char *v;
#define CP(f, k)                                                                                   \
    if ((v = rmq_rem_cmd_get(req, k))) rmq_strlcpy(r->f, v, sizeof r->f)
        CP(a, "a");
        CP(b, "b");
        CP(e, "e");
        CP(f, "f");
        CP(i, "i");
        CP(m, "m");
        CP(n, "n");
        CP(producer_group, "producerGroup");
        CP(tso, "tranStateTableOffset");
        CP(clo, "commitLogOffset");
        CP(cor, "commitOrRollback");
        CP(from_check, "fromTransactionCheck");
        CP(msg_id, "msgId");
        CP(txn_id, "transactionId");
        CP(sys_flag, "sysFlag");
        CP(queue_id, "queueId");
#undef CP
        r->body_len = RMQ_MIN(req->body_len, sizeof r->body);
        if (req->body) memcpy(r->body, req->body, r->body_len);
    }
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
}

static void record(rmq_rem_cmd_t *req) {
    record_at(req, 0);
}

static rmq_rem_cmd_t *on_route(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    const char *topic = rmq_rem_cmd_get(req, "topic");
    char body[1024];
    pthread_mutex_lock(&P.mu);
    int ha = P.ha_route;
    pthread_mutex_unlock(&P.mu);
    char a_addrs[160];
    if (ha == HA_BOTH)
        snprintf(a_addrs, sizeof a_addrs, "0:\"%s\",1:\"%s\"", P.addr, P.addr2);
    else
        snprintf(a_addrs, sizeof a_addrs, "1:\"%s\"", P.addr2);
    if (ha)
        snprintf(body, sizeof body,
                 "{\"brokerDatas\":[{\"brokerAddrs\":{%s},\"brokerName\":\"broker-a\","
                 "\"cluster\":\"C\"},{\"brokerAddrs\":{0:\"%s\"},\"brokerName\":\"broker-b\","
                 "\"cluster\":\"C\"}],\"filterServerTable\":{},\"queueDatas\":["
                 "{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":2,\"topicSysFlag\":0,"
                 "\"writeQueueNums\":2},{\"brokerName\":\"broker-b\",\"perm\":6,"
                 "\"readQueueNums\":2,\"topicSysFlag\":0,\"writeQueueNums\":2}]}",
                 a_addrs, P.addr);
    else if (P.two_brokers)
        snprintf(body, sizeof body,
                 "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"%s\"},\"brokerName\":\"broker-a\","
                 "\"cluster\":\"C\"},{\"brokerAddrs\":{0:\"%s\"},\"brokerName\":\"broker-b\","
                 "\"cluster\":\"C\"}],\"filterServerTable\":{},\"queueDatas\":["
                 "{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":2,\"topicSynFlag\":0,"
                 "\"writeQueueNums\":2},{\"brokerName\":\"broker-b\",\"perm\":6,"
                 "\"readQueueNums\":2,\"topicSynFlag\":0,\"writeQueueNums\":2}]}",
                 P.addr, P.addr);
    else
        snprintf(body, sizeof body,
                 "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"%s\"},\"brokerName\":\"broker-a\","
                 "\"cluster\":\"C\"}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":"
                 "\"broker-a\",\"perm\":%d,\"readQueueNums\":4,\"topicSysFlag\":0,"
                 "\"writeQueueNums\":4}]}",
                 P.addr, topic && !strcmp(topic, "TBW102") ? 7 : 6);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_set_body_copy(resp, body, strlen(body));
    rmq_rem_cmd_destroy(req);
    return resp;
}

static rmq_rem_cmd_t *on_send(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    record(req);
    const char *bn = rmq_rem_cmd_get(req, "n");
    pthread_mutex_lock(&P.mu);
    bool fail = P.fail_sends > 0 && (!P.fail_broker[0] || (bn && !strcmp(bn, P.fail_broker)));
    if (fail) P.fail_sends--;
    int64_t off = P.next_offset++;
    pthread_mutex_unlock(&P.mu);
    rmq_rem_cmd_t *resp;
    if (fail) {
        resp = rmq_rem_cmd_new_response(req, RMQ_ERR_SYSTEM_BUSY, "busy");
    } else {
        resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
        char id[64];
        rmq_msg_host_t h = {.ip = {127, 0, 0, 1}, .ip_len = 4, .port = P.port};
        rmq_msg_offset_id_encode(id, &h, 1000 + off * 100);
        rmq_rem_cmd_set(resp, "msgId", id);
        const char *q = rmq_rem_cmd_get(req, "e");
        rmq_rem_cmd_set(resp, "queueId", q ? q : "0");
        rmq_rem_cmd_set_i64(resp, "queueOffset", off);
        rmq_rem_cmd_set(resp, "MSG_REGION", "DefaultRegion");
        rmq_rem_cmd_set(resp, "TRACE_ON", "true");
    }
    rmq_rem_cmd_destroy(req);
    return resp;
}

static rmq_rem_cmd_t *on_heartbeat(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    pthread_mutex_lock(&P.mu);
    if (!P.producer) {
        rmq_rem_conn_ref(c);
        P.producer = c;
    }
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_destroy(req);
    return resp;
}

/* PULL_MESSAGE on either listener: nothing new, with that node's suggestWhichBrokerId. */
static rmq_rem_cmd_t *on_pull(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    int node = arg ? 1 : 0;
    record_at(req, node);
    int64_t off = 0;
    rmq_rem_cmd_get_i64(req, "queueOffset", &off);
    pthread_mutex_lock(&P.mu);
    int64_t suggest = P.suggest[node];
    pthread_mutex_unlock(&P.mu);
    rmq_rem_cmd_t *resp =
        rmq_rem_cmd_new_response(req, RMQ_ERR_PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE");
    rmq_rem_cmd_set_i64(resp, "nextBeginOffset", off);
    rmq_rem_cmd_set_i64(resp, "minOffset", 0);
    rmq_rem_cmd_set_i64(resp, "maxOffset", off);
    rmq_rem_cmd_set_i64(resp, "suggestWhichBrokerId", suggest);
    rmq_rem_cmd_destroy(req);
    return resp;
}

/* UPDATE_CONSUMER_OFFSET / QUERY_CONSUMER_OFFSET on either listener. */
static rmq_rem_cmd_t *on_offset(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    record_at(req, arg ? 1 : 0);
    rmq_rem_cmd_t *resp = NULL;
    if (!rmq_rem_cmd_is_oneway(req)) {
        resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
        if (req->code == RMQ_REQ_QUERY_CONSUMER_OFFSET) rmq_rem_cmd_set_i64(resp, "offset", 0);
    }
    rmq_rem_cmd_destroy(req);
    return resp;
}

static rmq_rem_cmd_t *on_record_oneway(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    record(req);
    rmq_rem_cmd_t *resp =
        rmq_rem_cmd_is_oneway(req) ? NULL : rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_destroy(req);
    return resp;
}

static void on_stop(uv_async_t *h) {
    if (P.producer) {
        rmq_rem_conn_unref(P.producer);
        P.producer = NULL;
    }
    rmq_rem_server_close(P.srv, NULL, NULL);
    if (P.srv2) rmq_rem_server_close(P.srv2, NULL, NULL);
    uv_close((uv_handle_t *)&P.stop, NULL);
}

static void *peer_main(void *arg) {
    uv_run(&P.loop, UV_RUN_DEFAULT);
    return NULL;
}

static int peer_start(bool two_brokers) {
    memset(&P, 0, sizeof P);
    P.two_brokers = two_brokers;
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.cv, NULL);
    uv_loop_init(&P.loop);
    uv_async_init(&P.loop, &P.stop, on_stop);
    rmq_rem_server_cfg_t cfg = {.host = "127.0.0.1", .port = 0, .name = "peer"};
    if (rmq_rem_server_new(&P.loop, &cfg, &P.srv)) return -1;
    rmq_rem_server_register(P.srv, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, on_route, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_SEND_MESSAGE_V2, on_send, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_SEND_MESSAGE, on_send, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_SEND_BATCH_MESSAGE, on_send, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_HEART_BEAT, on_heartbeat, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_END_TRANSACTION, on_record_oneway, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_UNREGISTER_CLIENT, on_record_oneway, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_PULL_MESSAGE, on_pull, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_UPDATE_CONSUMER_OFFSET, on_offset, NULL);
    rmq_rem_server_register(P.srv, RMQ_REQ_QUERY_CONSUMER_OFFSET, on_offset, NULL);
    if (rmq_rem_server_start(P.srv)) return -1;
    P.port = rmq_rem_server_port(P.srv);
    snprintf(P.addr, sizeof P.addr, "127.0.0.1:%d", P.port);
    /* broker-a's slave: serves reads and offsets only */
    rmq_rem_server_cfg_t cfg2 = {.host = "127.0.0.1", .port = 0, .name = "peer-slave"};
    if (rmq_rem_server_new(&P.loop, &cfg2, &P.srv2)) return -1;
    rmq_rem_server_register(P.srv2, RMQ_REQ_HEART_BEAT, on_heartbeat, NULL);
    rmq_rem_server_register(P.srv2, RMQ_REQ_UNREGISTER_CLIENT, on_record_oneway, NULL);
    rmq_rem_server_register(P.srv2, RMQ_REQ_PULL_MESSAGE, on_pull, (void *)1);
    rmq_rem_server_register(P.srv2, RMQ_REQ_UPDATE_CONSUMER_OFFSET, on_offset, (void *)1);
    rmq_rem_server_register(P.srv2, RMQ_REQ_QUERY_CONSUMER_OFFSET, on_offset, (void *)1);
    if (rmq_rem_server_start(P.srv2)) return -1;
    snprintf(P.addr2, sizeof P.addr2, "127.0.0.1:%d", rmq_rem_server_port(P.srv2));
    return pthread_create(&P.th, NULL, peer_main, NULL);
}

static void peer_stop(void) {
    uv_async_send(&P.stop);
    pthread_join(P.th, NULL);
    uv_loop_close(&P.loop);
    pthread_mutex_destroy(&P.mu);
    pthread_cond_destroy(&P.cv);
}

/* Wait until a record with code has been seen (the n-th one, 1-based); its index or -1. */
static int wait_rec(int code, int nth, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        int seen = 0;
        for (int i = 0; i < P.nrec; i++)
            if (P.recs[i].code == code && ++seen == nth) {
                pthread_mutex_unlock(&P.mu);
                return i;
            }
        if (rmq_mono_ms() >= end) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&P.cv, &P.mu, &ts);
    }
    pthread_mutex_unlock(&P.mu);
    return -1;
}

static const char *prop(const char *props, const char *k, char *out, size_t n) {
    return rmq_msg_prop_copy(props, strlen(props), k, out, n) ? out : NULL;
}

static rmq_conf_t *conf_for(const char *group) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", P.addr, err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "producerGroup", group, err, sizeof err), RMQ_CONF_OK);
    return c;
}

/* ---- sends -------------------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
} acb_t;

static void on_async(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    acb_t *a = op;
    pthread_mutex_lock(&a->mu);
    a->done++;
    if (e == RMQ_OK && r && strlen(r->msg_id) == 32) a->ok++;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void test_sends_on_the_wire(void **st) {
    assert_int_equal(peer_start(false), 0);
    char err[256];
    rmq_producer_t *p = rmq_producer_new(conf_for("pg1"), err, sizeof err);
    assert_non_null(p);

    /* sync: V2 header, tags / keys / user property / UNIQ_KEY / WAIT in the properties */
    rmq_msg_t *m = rmq_msg_new("TopicTest", "TagA", "k1 k2", "hello", 5, 0);
    rmq_msg_set_property(m, "color", "red");
    rmq_send_result_t r;
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    assert_int_equal(r.status, RMQ_SEND_OK);
    assert_int_equal(strlen(r.msg_id), 32);
    assert_string_equal(r.msg_id, rmq_msg_id(m));
    assert_string_equal(r.mq.topic, "TopicTest");
    assert_string_equal(r.mq.broker, "broker-a");
    assert_int_equal(strlen(r.offset_msg_id), 32);
    int i = wait_rec(RMQ_REQ_SEND_MESSAGE_V2, 1, 5000);
    assert_true(i >= 0);
    rec_t *rc = &P.recs[i];
    assert_string_equal(rc->a, "pg1");
    assert_string_equal(rc->b, "TopicTest");
    assert_string_equal(rc->f, "0");
    assert_string_equal(rc->m, "false");
    assert_string_equal(rc->n, "broker-a");
    char v[128];
    assert_string_equal(prop(rc->i, "TAGS", v, sizeof v), "TagA");
    assert_string_equal(prop(rc->i, "KEYS", v, sizeof v), "k1 k2");
    assert_string_equal(prop(rc->i, "color", v, sizeof v), "red");
    assert_string_equal(prop(rc->i, "WAIT", v, sizeof v), "true");
    assert_string_equal(prop(rc->i, "UNIQ_KEY", v, sizeof v), r.msg_id);
    assert_int_equal(rc->body_len, 5);
    assert_memory_equal(rc->body, "hello", 5);
    rmq_msg_destroy(m);

    /* a big body goes compressed with sysflag bit 0 */
    size_t big = 8192;
    char *bb = malloc(big);
    for (size_t k = 0; k < big; k++) bb[k] = (char)('a' + k % 7);
    m = rmq_msg_new("TopicTest", NULL, NULL, bb, big, RMQ_MSG_F_FREE);
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    i = wait_rec(RMQ_REQ_SEND_MESSAGE_V2, 2, 5000);
    rc = &P.recs[i];
    assert_string_equal(rc->f, "1");
    assert_true(rc->body_len < big);
    uint8_t *inf = NULL;
    size_t il = 0;
    assert_int_equal(rmq_msg_inflate(rc->body, rc->body_len, 1 << 20, &inf, &il), RMQ_OK);
    assert_int_equal(il, big);
    assert_memory_equal(inf, bb, big);
    free(inf);
    rmq_msg_destroy(m);

    /* async and oneway */
    acb_t a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    for (int k = 0; k < 50; k++) {
        m = rmq_msg_new("TopicTest", NULL, NULL, "x", 1, 0);
        assert_int_equal(rmq_send_async(p, m, on_async, &a), RMQ_OK);
        rmq_msg_destroy(m); /* borrowed only during the call */
    }
    m = rmq_msg_new("TopicTest", NULL, NULL, "one", 3, 0);
    assert_int_equal(rmq_send_oneway(p, m), RMQ_OK);
    rmq_msg_destroy(m);
    pthread_mutex_lock(&a.mu);
    while (a.done < 50) pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.ok, 50);
    assert_true(wait_rec(RMQ_REQ_SEND_MESSAGE_V2, 53, 5000) >= 0);

    /* batch: one request, code 320, m=true, every inner message has its own UNIQ_KEY */
    rmq_msg_t *msgs[3];
    for (int k = 0; k < 3; k++) msgs[k] = rmq_msg_new("TopicTest", "t", NULL, "bb", 2, 0);
    assert_int_equal(rmq_send_batch(p, msgs, 3, &r), RMQ_OK);
    i = wait_rec(RMQ_REQ_SEND_BATCH_MESSAGE, 1, 5000);
    assert_true(i >= 0);
    rc = &P.recs[i];
    assert_string_equal(rc->m, "true");
    size_t pos = 0;
    int inner = 0;
    while (pos + 4 <= rc->body_len) {
        uint32_t tot = rmq_get_be32(rc->body + pos);
        assert_true(tot >= 22 && pos + tot <= rc->body_len);
        uint32_t bl = rmq_get_be32(rc->body + pos + 16);
        uint16_t pl = rmq_get_be16(rc->body + pos + 20 + bl);
        char props[256];
        memcpy(props, rc->body + pos + 22 + bl, pl);
        props[pl] = 0;
        assert_string_equal(prop(props, "UNIQ_KEY", v, sizeof v), rmq_msg_id(msgs[inner]));
        pos += tot;
        inner++;
    }
    assert_int_equal(inner, 3);
    for (int k = 0; k < 3; k++) rmq_msg_destroy(msgs[k]);

    /* orderly: the hash selector always picks the same queue for one key */
    char q1[16] = "";
    for (int k = 0; k < 3; k++) {
        m = rmq_msg_new("TopicTest", NULL, NULL, "o", 1, 0);
        assert_int_equal(rmq_send_orderly(p, m, rmq_selector_hash, "order-key-7", &r), RMQ_OK);
        assert_int_equal(r.mq.queue_id, 533983498 % 4);
        rmq_msg_destroy(m);
        i = wait_rec(RMQ_REQ_SEND_MESSAGE_V2, 54 + k, 5000);
        if (!q1[0]) rmq_strlcpy(q1, P.recs[i].e, sizeof q1);
        assert_string_equal(P.recs[i].e, q1);
    }
    rmq_producer_destroy(p);
    /* shutdown unregisters the producer group */
    assert_true(wait_rec(RMQ_REQ_UNREGISTER_CLIENT, 1, 5000) >= 0);
    peer_stop();
}

static void test_retry_on_another_broker(void **st) {
    assert_int_equal(peer_start(true), 0);
    char err[256];
    rmq_conf_t *c = conf_for("pg2");
    assert_int_equal(rmq_conf_set(c, "sendLatencyFaultEnable", "true", err, sizeof err),
                     RMQ_CONF_OK);
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    assert_non_null(p);
    pthread_mutex_lock(&P.mu);
    P.fail_sends = 1;
    rmq_strlcpy(P.fail_broker, "broker-a", sizeof P.fail_broker);
    pthread_mutex_unlock(&P.mu);
    /* whichever broker the first try picks, a SYSTEM_BUSY from broker-a is retried on b */
    for (int k = 0; k < 4; k++) {
        rmq_msg_t *m = rmq_msg_new("T2", NULL, NULL, "r", 1, 0);
        rmq_send_result_t r;
        assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
        rmq_msg_destroy(m);
    }
    int i = -1, first_fail = -1;
    for (int k = 1; (i = wait_rec(RMQ_REQ_SEND_MESSAGE_V2, k, 200)) >= 0; k++)
        if (first_fail < 0 && !strcmp(P.recs[i].n, "broker-a")) {
            first_fail = i;
            break;
        }
    assert_true(first_fail >= 0);
    /* the next request after the failed one went to broker-b with the same UNIQ_KEY */
    rec_t *f = &P.recs[first_fail], *n = &P.recs[first_fail + 1];
    assert_string_equal(n->n, "broker-b");
    char u1[64], u2[64];
    assert_string_equal(prop(f->i, "UNIQ_KEY", u1, sizeof u1),
                        prop(n->i, "UNIQ_KEY", u2, sizeof u2));
    /* with fault tolerance on, broker-a is avoided afterwards */
    int total = 0;
    for (int k = 1; wait_rec(RMQ_REQ_SEND_MESSAGE_V2, k, 100) >= 0; k++) total = k;
    for (int k = first_fail + 2; k < total; k++) assert_string_equal(P.recs[k].n, "broker-b");
    rmq_producer_destroy(p);
    peer_stop();
}

/* ---- transactions ------------------------------------------------------------------------ */

static int exec_calls, check_calls;
static char exec_uniq[64];

static rmq_txn_state_t exec_cb(rmq_producer_t *p, const rmq_msg_t *half, void *op) {
    exec_calls++;
    rmq_strlcpy(exec_uniq, rmq_msg_id(half), sizeof exec_uniq);
    return (rmq_txn_state_t)(intptr_t)op;
}

static rmq_txn_state_t check_cb(rmq_producer_t *p, const rmq_msg_t *half, void *op) {
    __atomic_add_fetch(&check_calls, 1, __ATOMIC_SEQ_CST);
    assert_string_equal(rmq_msg_topic(half), "TxnTopic");
    const char *who = rmq_msg_property(half, "who");
    return who && !strcmp(who, "commit-me") ? RMQ_TXN_COMMIT : RMQ_TXN_ROLLBACK;
}

typedef struct {
    rmq_rem_cmd_t *cmd;
} post_t;

static void do_post(void *arg) {
    post_t *pp = arg;
    rmq_rem_conn_request(P.producer, pp->cmd, 0, NULL, NULL); /* oneway from the broker */
    free(pp);
}

static void send_check(const char *uniq, const char *who, int64_t tso, int64_t clo) {
    char props[256];
    snprintf(props, sizeof props,
             "UNIQ_KEY\001%s\002PGROUP\001txg\002TRAN_MSG\001true\002who\001%s", uniq, who);
    rmq_msg_rec_t r = {0};
    r.queue_offset = tso;
    r.phys_offset = clo;
    r.sysflag = RMQ_SYSFLAG_TXN_PREPARED;
    r.born_host.ip_len = 4;
    r.store_host.ip_len = 4;
    r.body = (const uint8_t *)"half";
    r.body_len = 4;
    r.topic = "TxnTopic";
    r.topic_len = 8;
    r.props = props;
    r.props_len = (int32_t)strlen(props);
    size_t rs = rmq_msg_rec_size(4, 8, strlen(props), false, false);
    uint8_t *rec = malloc(rs);
    rmq_msg_rec_encode(rec, &r, true);
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_CHECK_TRANSACTION_STATE);
    c->flag |= RMQ_REM_FLAG_ONEWAY;
    rmq_rem_cmd_set_i64(c, "tranStateTableOffset", tso);
    rmq_rem_cmd_set_i64(c, "commitLogOffset", clo);
    rmq_rem_cmd_set(c, "msgId", uniq);
    rmq_rem_cmd_set(c, "transactionId", uniq);
    rmq_rem_cmd_set_body(c, rec, rs);
    post_t *pp = malloc(sizeof *pp);
    pp->cmd = c;
    assert_true(rmq_rem_conn_run_on_loop(P.producer, do_post, pp));
}

static void test_transactions(void **st) {
    assert_int_equal(peer_start(false), 0);
    char err[256];
    rmq_conf_t *c = conf_for("txg");
    rmq_conf_set_txn_check_cb(c, check_cb, NULL);
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    assert_non_null(p);

    /* commit: half message flagged, then END_TRANSACTION 8 with the send's offsets */
    rmq_msg_t *m = rmq_msg_new("TxnTopic", "t", NULL, "pay", 3, 0);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_in_txn(p, m, exec_cb, (void *)(intptr_t)RMQ_TXN_COMMIT, &r), RMQ_OK);
    assert_int_equal(exec_calls, 1);
    assert_string_equal(exec_uniq, r.msg_id);
    int i = wait_rec(RMQ_REQ_SEND_MESSAGE_V2, 1, 5000);
    assert_true(i >= 0);
    char v[128];
    assert_string_equal(P.recs[i].f, "4"); /* TRANSACTION_PREPARED */
    assert_string_equal(prop(P.recs[i].i, "TRAN_MSG", v, sizeof v), "true");
    assert_string_equal(prop(P.recs[i].i, "PGROUP", v, sizeof v), "txg");
    i = wait_rec(RMQ_REQ_END_TRANSACTION, 1, 5000);
    assert_true(i >= 0);
    rec_t *e = &P.recs[i];
    assert_string_equal(e->producer_group, "txg");
    assert_string_equal(e->cor, "8");
    assert_string_equal(e->from_check, "false");
    assert_string_equal(e->msg_id, r.msg_id);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)r.offset);
    assert_string_equal(e->tso, num);
    assert_string_equal(e->clo, "1000"); /* decoded from the offset msg id */
    rmq_msg_destroy(m);

    /* rollback and unknown */
    m = rmq_msg_new("TxnTopic", NULL, NULL, "pay", 3, 0);
    assert_int_equal(rmq_send_in_txn(p, m, exec_cb, (void *)(intptr_t)RMQ_TXN_ROLLBACK, &r),
                     RMQ_OK);
    i = wait_rec(RMQ_REQ_END_TRANSACTION, 2, 5000);
    assert_string_equal(P.recs[i].cor, "12");
    rmq_msg_destroy(m);
    m = rmq_msg_new("TxnTopic", NULL, NULL, "pay", 3, 0);
    assert_int_equal(rmq_send_in_txn(p, m, exec_cb, (void *)(intptr_t)RMQ_TXN_UNKNOWN, &r), RMQ_OK);
    i = wait_rec(RMQ_REQ_END_TRANSACTION, 3, 5000);
    assert_string_equal(P.recs[i].cor, "0");
    rmq_msg_destroy(m);

    /* check-back: the peer asks on the producer's connection; the answer comes back with
     * fromTransactionCheck=true and the offsets / ids of the request */
    pthread_mutex_lock(&P.mu);
    while (!P.producer) pthread_cond_wait(&P.cv, &P.mu);
    pthread_mutex_unlock(&P.mu);
    send_check("AAAABBBBCCCCDDDDEEEEFFFF00001111", "commit-me", 77, 123456);
    i = wait_rec(RMQ_REQ_END_TRANSACTION, 4, 10000);
    assert_true(i >= 0);
    e = &P.recs[i];
    assert_string_equal(e->from_check, "true");
    assert_string_equal(e->cor, "8");
    assert_string_equal(e->tso, "77");
    assert_string_equal(e->clo, "123456");
    assert_string_equal(e->msg_id, "AAAABBBBCCCCDDDDEEEEFFFF00001111");
    assert_string_equal(e->producer_group, "txg");
    send_check("AAAABBBBCCCCDDDDEEEEFFFF00002222", "roll-me", 78, 223456);
    i = wait_rec(RMQ_REQ_END_TRANSACTION, 5, 10000);
    assert_true(i >= 0);
    assert_string_equal(P.recs[i].cor, "12");
    assert_int_equal(__atomic_load_n(&check_calls, __ATOMIC_SEQ_CST), 2);
    rmq_producer_destroy(p);
    peer_stop();
}

/* ---- master / slave (issue 9) ---------------------------------------------------------- */

static void set_ha(int route, int64_t master_suggests, int64_t slave_suggests) {
    pthread_mutex_lock(&P.mu);
    P.ha_route = route;
    P.suggest[0] = master_suggests;
    P.suggest[1] = slave_suggests;
    pthread_mutex_unlock(&P.mu);
}

/* One pull of mq through c; the node that served it (0 master, 1 slave). */
static int pull_node(rmq_pull_consumer_t *c, const rmq_mq_t *mq) {
    pthread_mutex_lock(&P.mu);
    int before = P.nrec;
    pthread_mutex_unlock(&P.mu);
    rmq_pull_result_t *r = NULL;
    assert_int_equal(rmq_pull(c, mq, "*", 0, 8, 0, &r), RMQ_OK);
    assert_int_equal(r->status, RMQ_PULL_NO_NEW_MSG);
    rmq_pull_result_destroy(r);
    int node = -1;
    pthread_mutex_lock(&P.mu);
    for (int i = before; i < P.nrec; i++)
        if (P.recs[i].code == RMQ_REQ_PULL_MESSAGE) node = P.recs[i].node;
    pthread_mutex_unlock(&P.mu);
    return node;
}

static int nrec_now(void) {
    pthread_mutex_lock(&P.mu);
    int n = P.nrec;
    pthread_mutex_unlock(&P.mu);
    return n;
}

/* The node of the last record with code, -1 when none since index from. */
static int last_node(int code, int from) {
    int node = -1;
    pthread_mutex_lock(&P.mu);
    for (int i = from; i < P.nrec; i++)
        if (P.recs[i].code == code) node = P.recs[i].node;
    pthread_mutex_unlock(&P.mu);
    return node;
}

static void test_master_slave_reads(void **st) {
    assert_int_equal(peer_start(true), 0);
    set_ha(HA_BOTH, 1, 1);
    char err[256];
    rmq_conf_t *cc = rmq_conf_new();
    assert_int_equal(rmq_conf_set(cc, "namesrvAddr", P.addr, err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(cc, "consumerGroup", "cg_ha", err, sizeof err), RMQ_CONF_OK);
    rmq_pull_consumer_t *c = rmq_pull_consumer_new(cc, err, sizeof err);
    assert_non_null(c);
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    assert_int_equal(rmq_fetch_queues(c, "T3", &mqs, &n), RMQ_OK);
    assert_int_equal(n, 4);
    rmq_mq_t q0 = mqs[0], q1 = mqs[1]; /* broker-a 0 and 1 */
    assert_string_equal(q0.broker, "broker-a");
    assert_string_equal(q1.broker, "broker-a");
    free(mqs);

    /* the master's suggestion sends the next pull of that queue (only) to slave 1 */
    assert_int_equal(pull_node(c, &q0), 0);
    assert_int_equal(pull_node(c, &q0), 1);
    assert_int_equal(pull_node(c, &q0), 1);
    set_ha(HA_BOTH, 1, 0); /* the slave sends it back */
    assert_int_equal(pull_node(c, &q0), 1);
    assert_int_equal(pull_node(c, &q0), 0);
    /* offsets: the master while it is there */
    int from = nrec_now();
    assert_int_equal(rmq_commit_offset(c, &q0, 5), RMQ_OK);
    assert_int_equal(last_node(RMQ_REQ_UPDATE_CONSUMER_OFFSET, from), 0);

    /* master gone from the route: reads and offsets go to the slave; sends skip broker-a */
    set_ha(HA_GONE, 0, 0);
    assert_int_equal(rmq_fetch_queues(c, "T3", &mqs, &n), RMQ_OK); /* refreshes the route */
    assert_int_equal(n, 4);
    free(mqs);
    assert_int_equal(pull_node(c, &q1), 1);
    assert_int_equal(pull_node(c, &q0), 1);
    from = nrec_now();
    assert_int_equal(rmq_commit_offset(c, &q1, 7), RMQ_OK);
    assert_int_equal(last_node(RMQ_REQ_UPDATE_CONSUMER_OFFSET, from), 1);
    int64_t off = -1;
    from = nrec_now();
    assert_int_equal(rmq_fetch_offset(c, &q1, &off), RMQ_OK);
    assert_int_equal(last_node(RMQ_REQ_QUERY_CONSUMER_OFFSET, from), 1);
    rmq_producer_t *p = rmq_producer_new(conf_for("pg_ha"), err, sizeof err);
    assert_non_null(p);
    from = nrec_now();
    for (int k = 0; k < 6; k++) {
        rmq_msg_t *m = rmq_msg_new("T3", NULL, NULL, "x", 1, 0);
        rmq_send_result_t r;
        assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
        assert_string_equal(r.mq.broker, "broker-b");
        rmq_msg_destroy(m);
    }
    int sends = 0;
    pthread_mutex_lock(&P.mu);
    for (int i = from; i < P.nrec; i++)
        if (P.recs[i].code == RMQ_REQ_SEND_MESSAGE_V2) {
            sends++;
            assert_string_equal(P.recs[i].n, "broker-b");
            assert_int_equal(P.recs[i].node, 0);
        }
    pthread_mutex_unlock(&P.mu);
    assert_int_equal(sends, 6);
    rmq_producer_destroy(p);

    /* the master is back in the route: reads return to it */
    set_ha(HA_BOTH, 0, 0);
    assert_int_equal(rmq_fetch_queues(c, "T3", &mqs, &n), RMQ_OK);
    free(mqs);
    assert_int_equal(pull_node(c, &q1), 0);
    assert_int_equal(pull_node(c, &q0), 0);
    rmq_pull_consumer_destroy(c);
    peer_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sends_on_the_wire),
        cmocka_unit_test(test_retry_on_another_broker),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_master_slave_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
