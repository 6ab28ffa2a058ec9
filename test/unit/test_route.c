/* NameServer route tables, bodies and KV config, without sockets: connections are fake
 * pointers and the clock is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/util.h"
#include "namesrv/kvconfig.h"
#include "namesrv/route.h"

/* The register body example of protocol.md 5.3. */
static const char *SPEC_BODY =
    "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":{\"counter\":7,"
    "\"timestamp\":1700000000123},\"topicConfigTable\":{\"TopicTest\":{\"order\":false,\"perm\":6,"
    "\"readQueueNums\":4,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"TopicTest\","
    "\"topicSysFlag\":0,\"writeQueueNums\":4},\"TBW102\":{\"order\":false,\"perm\":7,"
    "\"readQueueNums\":8,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"TBW102\","
    "\"topicSysFlag\":0,\"writeQueueNums\":8},\"%RETRY%cg1\":{\"order\":false,\"perm\":6,"
    "\"readQueueNums\":1,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"%RETRY%cg1\","
    "\"topicSysFlag\":0,\"writeQueueNums\":1}}}}";

/* The route examples of protocol.md 5.1, byte for byte. */
static const char *SPEC_ROUTE_OLD =
    "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"192.168.0.10:10911\",1:\"192.168.0.11:10911\"},"
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],\"filterServerTable\":{},"
    "\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,"
    "\"topicSysFlag\":0,\"writeQueueNums\":4}]}";
static const char *SPEC_ROUTE_STD =
    "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"192.168.0.10:10911\",\"1\":\"192.168.0.11:10911\"}"
    ","
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],\"filterServerTable\":{},"
    "\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,"
    "\"topicSysFlag\":0,\"writeQueueNums\":4}]}";
/* protocol.md 5.4 */
static const char *SPEC_CLUSTER =
    "{\"brokerAddrTable\":{\"broker-a\":{\"brokerAddrs\":{0:\"192.168.0.10:10911\"},"
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}},\"clusterAddrTable\":{"
    "\"DefaultCluster\":[\"broker-a\"]}}";

static int CONN_A, CONN_B, CONN_C; /* fake connections: only their addresses matter */

static char *buf_str(rmq_buf_t *b) {
    rmq_buf_append_u8(b, 0);
    return (char *)b->data;
}

static void decode_ok(const char *json, rmq_ns_reg_body_t *body) {
    char err[256] = "";
    rmq_err_t e = rmq_ns_reg_body_decode(json, strlen(json), false, body, err, sizeof err);
    if (e) fail_msg("decode: %s", err);
}

static void reg(rmq_ns_route_t *r, const char *cluster, const char *name, const char *addr,
                int64_t id, const char *body_json, void *conn, uint64_t now,
                rmq_ns_reg_result_t *res) {
    rmq_ns_reg_body_t body;
    decode_ok(body_json, &body);
    char ha[128];
    snprintf(ha, sizeof ha, "%s-ha", addr);
    rmq_ns_reg_t rg = {.cluster = cluster,
                       .broker_name = name,
                       .broker_addr = addr,
                       .ha_addr = ha,
                       .broker_id = id,
                       .body = &body,
                       .conn = conn};
    rmq_ns_reg_result_t tmp;
    assert_int_equal(rmq_ns_route_register(r, &rg, now, res ? res : &tmp), RMQ_OK);
    rmq_ns_reg_body_fini(&body);
}

/* A body with one topic (name, queues, perm) at data version counter. */
static char *body1(const char *topic, int queues, int perm, int counter) {
    static char s[1024];
    snprintf(s, sizeof s,
             "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":"
             "{\"counter\":%d,\"timestamp\":1700000000000},\"topicConfigTable\":{\"%s\":"
             "{\"perm\":%d,\"readQueueNums\":%d,\"topicName\":\"%s\",\"writeQueueNums\":%d}}}}",
             counter, topic, perm, queues, topic, queues);
    return s;
}

static char *route(rmq_ns_route_t *r, const char *topic, bool std, rmq_buf_t *b) {
    rmq_buf_reset(b);
    if (rmq_ns_route_topic_json(r, topic, std, NULL, b) != RMQ_OK) return NULL;
    return buf_str(b);
}

static void test_body_decode(void **state) {
    rmq_ns_reg_body_t body;
    decode_ok(SPEC_BODY, &body);
    assert_int_equal(body.dv.counter, 7);
    assert_int_equal(body.dv.timestamp, 1700000000123LL);
    assert_false(body.dv.has_state_version);
    assert_int_equal(body.ntopics, 3);
    int found = 0;
    for (size_t i = 0; i < body.ntopics; i++) {
        if (!strcmp(body.topics[i].name, "TBW102")) {
            assert_int_equal(body.topics[i].perm, 7);
            assert_int_equal(body.topics[i].read_queue_nums, 8);
            assert_int_equal(body.topics[i].write_queue_nums, 8);
            found++;
        }
    }
    assert_int_equal(found, 1);
    rmq_ns_reg_body_fini(&body);

    /* lenient: numbers as strings, unquoted integer keys elsewhere, a bare wrapper, the old
     * topicSynFlag spelling, defaults for missing fields */
    decode_ok("{\"dataVersion\":{\"counter\":\"3\",\"timestamp\":5},\"x\":{1:\"a\"},"
              "\"topicConfigTable\":{\"T\":{\"readQueueNums\":\"2\",\"topicSynFlag\":1}}}",
              &body);
    assert_int_equal(body.dv.counter, 3);
    assert_int_equal(body.ntopics, 1);
    assert_string_equal(body.topics[0].name, "T");
    assert_int_equal(body.topics[0].read_queue_nums, 2);
    assert_int_equal(body.topics[0].write_queue_nums, 16);
    assert_int_equal(body.topics[0].perm, 6);
    assert_int_equal(body.topics[0].topic_sys_flag, 1);
    rmq_ns_reg_body_fini(&body);

    /* malformed: the error names the field */
    char err[256] = "";
    const char *bad = "{\"topicConfigSerializeWrapper\":{\"topicConfigTable\":{\"T\":"
                      "{\"readQueueNums\":\"x\"}}}}";
    assert_int_not_equal(rmq_ns_reg_body_decode(bad, strlen(bad), false, &body, err, sizeof err),
                         RMQ_OK);
    assert_non_null(strstr(err, "readQueueNums"));
    rmq_ns_reg_body_fini(&body);
    assert_int_not_equal(rmq_ns_reg_body_decode("{nope", 5, false, &body, err, sizeof err), RMQ_OK);
    assert_non_null(strstr(err, "JSON"));
    rmq_ns_reg_body_fini(&body);
    /* empty body: empty registration */
    assert_int_equal(rmq_ns_reg_body_decode(NULL, 0, false, &body, err, sizeof err), RMQ_OK);
    assert_int_equal(body.ntopics, 0);
    rmq_ns_reg_body_fini(&body);
}

static void put_chunk(rmq_buf_t *b, const char *s) {
    rmq_buf_append_be32(b, (uint32_t)strlen(s));
    rmq_buf_append_str(b, s);
}

static void test_body_compressed(void **state) {
    rmq_buf_t plain;
    rmq_buf_init(&plain);
    put_chunk(&plain, "{\"counter\":9,\"timestamp\":1700000000999}");
    rmq_buf_append_be32(&plain, 2);
    put_chunk(&plain, "TopicA 4 4 6 SINGLE_TAG");
    put_chunk(&plain, "TopicB 2 3 4 MULTI_TAG {\"message.type\":\"NORMAL\"}");
    put_chunk(&plain, "[\"10.0.0.1:1234\"]");
    uLongf zl = compressBound(plain.len);
    uint8_t *z = malloc(zl);
    assert_int_equal(compress2(z, &zl, plain.data, plain.len, 9), Z_OK);

    rmq_ns_reg_body_t body;
    char err[256] = "";
    rmq_err_t e = rmq_ns_reg_body_decode(z, zl, true, &body, err, sizeof err);
    if (e) fail_msg("compressed: %s", err);
    assert_int_equal(body.dv.counter, 9);
    assert_int_equal(body.ntopics, 2);
    assert_string_equal(body.topics[1].name, "TopicB");
    assert_int_equal(body.topics[1].read_queue_nums, 2);
    assert_int_equal(body.topics[1].write_queue_nums, 3);
    assert_int_equal(body.topics[1].perm, 4);
    assert_int_equal(body.nfilter, 1);
    assert_string_equal(body.filter_servers[0], "10.0.0.1:1234");
    rmq_ns_reg_body_fini(&body);

    /* truncated stream and a plaintext cut short are refused with a reason */
    assert_int_not_equal(rmq_ns_reg_body_decode(z, zl / 2, true, &body, err, sizeof err), RMQ_OK);
    rmq_ns_reg_body_fini(&body);
    zl = compressBound(plain.len);
    assert_int_equal(compress2(z, &zl, plain.data, 30, 9), Z_OK);
    assert_int_not_equal(rmq_ns_reg_body_decode(z, zl, true, &body, err, sizeof err), RMQ_OK);
    assert_non_null(strstr(err, "truncated"));
    rmq_ns_reg_body_fini(&body);
    free(z);
    rmq_buf_fini(&plain);
}

/* Untrusted input: truncations and byte flips of a real body, plain and compressed, never
 * crash (run under ASan/UBSan in CI) and either decode or give a reason. Fixed seed. */
static void test_body_garbage(void **state) {
    size_t n = strlen(SPEC_BODY);
    uint8_t *m = malloc(n);
    uint32_t seed = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, SPEC_BODY, n);
        size_t len = n;
        seed = seed * 1103515245u + 12345u;
        if (iter % 3 == 0) len = seed % n;
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % n] = (uint8_t)(seed >> 24);
        }
        rmq_ns_reg_body_t body;
        char err[256] = "";
        bool compressed = iter % 5 == 0;
        rmq_err_t e = rmq_ns_reg_body_decode(m, len, compressed, &body, err, sizeof err);
        if (e) assert_true(err[0] != 0);
        rmq_ns_reg_body_fini(&body);
        rmq_ns_dv_t dv;
        (void)rmq_ns_dv_decode(m, len, &dv, err, sizeof err);
    }
    free(m);
}

/* The spec's route examples, byte for byte, from a master and a slave of broker-a. */
static void test_route_json_exact(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "DefaultCluster", "broker-a", "192.168.0.10:10911", 0, body1("TopicTest", 4, 6, 1),
        &CONN_A, 1000, NULL);
    reg(r, "DefaultCluster", "broker-a", "192.168.0.11:10911", 1, body1("TopicTest", 4, 6, 1),
        &CONN_B, 1000, NULL);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_string_equal(route(r, "TopicTest", false, &b), SPEC_ROUTE_OLD);
    assert_string_equal(route(r, "TopicTest", true, &b), SPEC_ROUTE_STD);
    assert_null(route(r, "Nope", false, &b));
    assert_int_equal(rmq_ns_route_topic_json(r, "Nope", true, NULL, &b), RMQ_ERR_TOPIC_NOT_EXIST);

    /* orderTopicConf goes between filterServerTable and queueDatas */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_ns_route_topic_json(r, "TopicTest", false, "broker-a:4", &b), RMQ_OK);
    assert_non_null(strstr(buf_str(&b), "\"filterServerTable\":{},\"orderTopicConf\":"
                                        "\"broker-a:4\",\"queueDatas\":["));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static void test_cluster_json_exact(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "DefaultCluster", "broker-a", "192.168.0.10:10911", 0, SPEC_BODY, &CONN_A, 1000, NULL);
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_cluster_json(r, &b);
    assert_string_equal(buf_str(&b), SPEC_CLUSTER);
    rmq_buf_reset(&b);
    rmq_ns_route_topics_json(r, NULL, &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[\"%RETRY%cg1\",\"TBW102\",\"TopicTest\"]}");
    rmq_buf_reset(&b);
    rmq_ns_route_topics_json(r, "NoCluster", &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[]}");
    rmq_buf_reset(&b);
    rmq_ns_route_system_topics_json(r, &b);
    assert_string_equal(buf_str(&b), "{\"brokerAddr\":\"192.168.0.10:10911\",\"topicList\":"
                                     "[\"DefaultCluster\",\"broker-a\"]}");
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static void test_register_versions(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    rmq_ns_reg_result_t res;
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T", 4, 6, 1), &CONN_A, 1000, &res);
    assert_true(res.first);
    rmq_ns_topic_cfg_t q;
    assert_true(rmq_ns_route_queue_data(r, "T", "b1", &q));
    assert_int_equal(q.write_queue_nums, 4);

    /* same data version: the body is not looked at (RocketMQ trusts the version) */
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T", 8, 6, 1), &CONN_A, 2000, &res);
    assert_false(res.first);
    assert_true(rmq_ns_route_queue_data(r, "T", "b1", &q));
    assert_int_equal(q.write_queue_nums, 4);

    /* new data version: queue data updated */
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T", 8, 4, 2), &CONN_A, 3000, &res);
    assert_true(rmq_ns_route_queue_data(r, "T", "b1", &q));
    assert_int_equal(q.write_queue_nums, 8);
    assert_int_equal(q.read_queue_nums, 8);
    assert_int_equal(q.perm, 4);

    /* QUERY_DATA_VERSION helpers */
    rmq_ns_dv_t dv = {.timestamp = 1700000000000, .counter = 2};
    assert_false(rmq_ns_route_dv_changed(r, "10.0.0.1:10911", &dv));
    dv.counter = 3;
    assert_true(rmq_ns_route_dv_changed(r, "10.0.0.1:10911", &dv));
    assert_true(rmq_ns_route_dv_changed(r, "10.9.9.9:1", &dv));
    assert_true(rmq_ns_route_dv_get(r, "10.0.0.1:10911", &dv));
    assert_int_equal(dv.counter, 2);
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_dv_encode(&dv, &b);
    assert_string_equal(buf_str(&b), "{\"counter\":2,\"timestamp\":1700000000000}");
    rmq_buf_fini(&b);
    char err[128];
    const char *dvj = "{\"counter\":5,\"stateVersion\":1,\"timestamp\":6}";
    assert_int_equal(rmq_ns_dv_decode(dvj, strlen(dvj), &dv, err, sizeof err), RMQ_OK);
    assert_int_equal(dv.counter, 5);
    assert_true(dv.has_state_version);
    rmq_ns_route_destroy(r);
}

/* Incremental registrations carry only one topic: merged, never replacing the table. */
static void test_topic_merge(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C", "b1", "10.0.0.1:10911", 0, SPEC_BODY, &CONN_A, 1000, NULL);
    assert_int_equal(rmq_ns_route_topic_count(r), 3);
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("NewTopic", 2, 6, 8), &CONN_A, 2000, NULL);
    assert_int_equal(rmq_ns_route_topic_count(r), 4);
    assert_true(rmq_ns_route_has_topic(r, "TopicTest"));
    assert_true(rmq_ns_route_has_topic(r, "TBW102"));
    assert_true(rmq_ns_route_has_topic(r, "NewTopic"));
    /* a second broker adds its queue data beside the first one's */
    reg(r, "C", "b2", "10.0.0.2:10911", 0, body1("TopicTest", 2, 6, 1), &CONN_B, 2000, NULL);
    rmq_buf_t b;
    rmq_buf_init(&b);
    const char *s = route(r, "TopicTest", false, &b);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"queueDatas\":[{\"brokerName\":\"b1\",\"perm\":6,"
                              "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4},"
                              "{\"brokerName\":\"b2\",\"perm\":6,\"readQueueNums\":2,"));
    assert_non_null(strstr(s, "{0:\"10.0.0.1:10911\"},\"brokerName\":\"b1\""));
    assert_non_null(strstr(s, "{0:\"10.0.0.2:10911\"},\"brokerName\":\"b2\""));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static void test_master_slave(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    rmq_ns_reg_result_t res;
    /* slave first: master unknown, nothing to report; slave bodies carry no queue data */
    reg(r, "C", "b1", "10.0.0.2:10911", 1, body1("T", 4, 6, 1), &CONN_B, 1000, &res);
    assert_string_equal(res.master_addr, "");
    assert_false(rmq_ns_route_has_topic(r, "T"));
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T", 4, 6, 1), &CONN_A, 1000, &res);
    assert_string_equal(res.master_addr, "");
    reg(r, "C", "b1", "10.0.0.2:10911", 1, body1("T", 4, 6, 1), &CONN_B, 2000, &res);
    assert_string_equal(res.master_addr, "10.0.0.1:10911");
    assert_string_equal(res.ha_addr, "10.0.0.1:10911-ha");
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_non_null(
        strstr(route(r, "T", false, &b), "{0:\"10.0.0.1:10911\",1:\"10.0.0.2:10911\"}"));
    /* the slave cannot take id 0 while the master is live over another connection */
    rmq_ns_reg_body_t body;
    decode_ok(body1("T", 4, 6, 1), &body);
    rmq_ns_reg_t rg = {.cluster = "C",
                       .broker_name = "b1",
                       .broker_addr = "10.0.0.2:10911",
                       .ha_addr = "",
                       .broker_id = 0,
                       .body = &body,
                       .conn = &CONN_B};
    assert_int_equal(rmq_ns_route_register(r, &rg, 2500, &res), RMQ_ERR_NO_PERMISSION);
    rmq_ns_reg_body_fini(&body);
    /* the master dies; the slave is promoted: same address re-registers as id 0, one entry
     * per address */
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_A, "10.0.0.1:55554"), 1);
    reg(r, "C", "b1", "10.0.0.2:10911", 0, body1("T", 4, 6, 1), &CONN_B, 3000, &res);
    assert_non_null(strstr(route(r, "T", false, &b), "{0:\"10.0.0.2:10911\"}"));
    /* the old master comes back as a slave; the new master goes: the topic stays routed with
     * the remaining member */
    reg(r, "C", "b1", "10.0.0.1:10911", 1, body1("T", 4, 6, 1), &CONN_A, 3000, &res);
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_B, "10.0.0.2:55555"), 1);
    assert_non_null(strstr(route(r, "T", false, &b), "{1:\"10.0.0.1:10911\"}"));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static void test_conn_close(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T1", 4, 6, 1), &CONN_A, 1000, NULL);
    reg(r, "C", "b2", "10.0.0.2:10911", 0, body1("T2", 4, 6, 1), &CONN_B, 1000, NULL);
    reg(r, "C", "b2", "10.0.0.2:10911", 0, body1("T1", 4, 6, 2), &CONN_B, 1000, NULL);
    /* a client connection closing touches nothing */
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_C, "127.0.0.1:40000"), 0);
    assert_int_equal(rmq_ns_route_live_count(r), 2);
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_B, "10.0.0.2:40001"), 1);
    assert_int_equal(rmq_ns_route_live_count(r), 1);
    assert_false(rmq_ns_route_has_topic(r, "T2"));
    rmq_buf_t b;
    rmq_buf_init(&b);
    const char *s = route(r, "T1", false, &b);
    assert_non_null(s);
    assert_null(strstr(s, "b2"));
    rmq_buf_reset(&b);
    rmq_ns_route_cluster_json(r, &b);
    assert_null(strstr(buf_str(&b), "b2"));
    /* the last broker of the cluster goes: the cluster goes too */
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_A, "10.0.0.1:40002"), 1);
    rmq_buf_reset(&b);
    rmq_ns_route_cluster_json(r, &b);
    assert_string_equal(buf_str(&b), "{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");
    assert_int_equal(rmq_ns_route_topic_count(r), 0);
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static int closed_count;
static void *closed_conn;
static void on_close(void *conn, void *arg) {
    closed_count++;
    closed_conn = conn;
}

static void test_expiry(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T1", 4, 6, 1), &CONN_A, 1000, NULL);
    reg(r, "C", "b2", "10.0.0.2:10911", 0, body1("T2", 4, 6, 1), &CONN_B, 1000, NULL);
    assert_int_equal(rmq_ns_route_scan(r, 121000, 120000, on_close, NULL), 0);
    /* b2 keeps registering; b1 stays silent */
    reg(r, "C", "b2", "10.0.0.2:10911", 0, body1("T2", 4, 6, 1), &CONN_B, 100000, NULL);
    /* QUERY_DATA_VERSION refreshes liveness too */
    assert_true(rmq_ns_route_touch(r, "10.0.0.2:10911", 110000));
    assert_int_equal(rmq_ns_route_scan(r, 121001, 120000, on_close, NULL), 1);
    assert_int_equal(closed_count, 1);
    assert_ptr_equal(closed_conn, &CONN_A);
    assert_false(rmq_ns_route_has_topic(r, "T1"));
    assert_true(rmq_ns_route_has_topic(r, "T2"));
    /* the closed connection's callback afterwards finds nothing more to remove */
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_A, "10.0.0.1:50000"), 0);
    assert_int_equal(rmq_ns_route_scan(r, 230001, 120000, on_close, NULL), 1);
    assert_int_equal(rmq_ns_route_live_count(r), 0);

    /* a 5.x broker's own heartbeatTimeoutMillis wins over the default */
    rmq_ns_reg_t rg = {.cluster = "C",
                       .broker_name = "b5",
                       .broker_addr = "10.0.0.5:1",
                       .ha_addr = "",
                       .broker_id = 0,
                       .conn = &CONN_C,
                       .timeout_ms = 5000};
    rmq_ns_reg_result_t res;
    assert_int_equal(rmq_ns_route_register(r, &rg, 300000, &res), RMQ_OK);
    assert_int_equal(rmq_ns_route_scan(r, 304000, 120000, on_close, NULL), 0);
    assert_int_equal(rmq_ns_route_scan(r, 305001, 120000, on_close, NULL), 1);
    rmq_ns_route_destroy(r);
}

static void test_register_topic(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C", "b1", "10.0.0.1:10911", 0, body1("T", 4, 6, 1), &CONN_A, 1000, NULL);
    const char *body = "{\"queueDatas\":[{\"brokerName\":\"b1\",\"perm\":6,"
                       "\"readQueueNums\":2,\"topicSysFlag\":0,\"writeQueueNums\":3}]}";
    rmq_ns_reg_body_t q;
    char err[128];
    assert_int_equal(rmq_ns_queue_datas_decode(body, strlen(body), &q, err, sizeof err), RMQ_OK);
    assert_int_equal(q.ntopics, 1);
    assert_int_equal(rmq_ns_route_register_topic(r, "Single", q.topics, q.ntopics), RMQ_OK);
    rmq_ns_topic_cfg_t c;
    assert_true(rmq_ns_route_queue_data(r, "Single", "b1", &c));
    assert_int_equal(c.read_queue_nums, 2);
    assert_int_equal(c.write_queue_nums, 3);
    rmq_ns_reg_body_fini(&q);
    /* an unknown broker: nothing registered */
    body = "{\"queueDatas\":[{\"brokerName\":\"zz\",\"perm\":6,\"readQueueNums\":1,"
           "\"writeQueueNums\":1}]}";
    assert_int_equal(rmq_ns_queue_datas_decode(body, strlen(body), &q, err, sizeof err), RMQ_OK);
    assert_int_equal(rmq_ns_route_register_topic(r, "Other", q.topics, q.ntopics),
                     RMQ_ERR__NOT_FOUND);
    assert_false(rmq_ns_route_has_topic(r, "Other"));
    rmq_ns_reg_body_fini(&q);
    assert_int_not_equal(rmq_ns_queue_datas_decode("{}", 2, &q, err, sizeof err), RMQ_OK);
    rmq_ns_reg_body_fini(&q);
    rmq_ns_route_destroy(r);
}

static void test_unregister_delete_perm(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C1", "b1", "10.0.0.1:10911", 0, SPEC_BODY, &CONN_A, 1000, NULL);
    reg(r, "C2", "b2", "10.0.0.2:10911", 0, body1("TopicTest", 2, 6, 1), &CONN_B, 1000, NULL);
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_ns_route_topics_json(r, "C2", &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[\"TopicTest\"]}");

    assert_int_equal(rmq_ns_route_set_write_perm(r, "b1", false), 3);
    rmq_ns_topic_cfg_t q;
    assert_true(rmq_ns_route_queue_data(r, "TBW102", "b1", &q));
    assert_int_equal(q.perm, 5);
    assert_int_equal(rmq_ns_route_set_write_perm(r, "b1", true), 3);
    assert_true(rmq_ns_route_queue_data(r, "TBW102", "b1", &q));
    assert_int_equal(q.perm, 6);

    /* delete in one cluster only, then entirely */
    assert_true(rmq_ns_route_delete_topic(r, "TopicTest", "C2"));
    assert_false(rmq_ns_route_queue_data(r, "TopicTest", "b2", &q));
    assert_true(rmq_ns_route_queue_data(r, "TopicTest", "b1", &q));
    assert_true(rmq_ns_route_delete_topic(r, "TBW102", NULL));
    assert_false(rmq_ns_route_has_topic(r, "TBW102"));
    assert_false(rmq_ns_route_delete_topic(r, "TBW102", NULL));

    /* unregister with a wrong id leaves the address; the right one removes the broker */
    rmq_ns_route_unregister(r, "C1", "10.0.0.1:10911", "b1", 1, NULL, NULL, 0);
    assert_true(rmq_ns_route_has_topic(r, "TopicTest"));
    rmq_ns_route_unregister(r, "C1", "10.0.0.1:10911", "b1", 0, NULL, NULL, 0);
    assert_false(rmq_ns_route_has_topic(r, "TopicTest"));
    assert_false(rmq_ns_route_has_topic(r, "%RETRY%cg1"));
    rmq_buf_reset(&b);
    rmq_ns_route_cluster_json(r, &b);
    assert_null(strstr(buf_str(&b), "C1"));
    assert_non_null(strstr((char *)b.data, "\"C2\":[\"b2\"]"));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

/* Filter servers appear under their broker address; non-ASCII names are escaped only in the
 * standard style; DataVersion-less empty registrations still make the broker live. */
static void test_route_json_details(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    reg(r, "C", "b\xc3\xa9", "10.0.0.1:10911", 0,
        "{\"filterServerList\":[\"10.0.0.1:2000\"],\"topicConfigSerializeWrapper\":{"
        "\"dataVersion\":{\"counter\":1,\"timestamp\":2},\"topicConfigTable\":{\"T\":{}}}}",
        &CONN_A, 1000, NULL);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_string_equal(
        route(r, "T", false, &b),
        "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.0.0.1:10911\"},\"brokerName\":"
        "\"b\xc3\xa9\",\"cluster\":\"C\"}],\"filterServerTable\":{\"10.0.0.1:10911\":"
        "[\"10.0.0.1:2000\"]},\"queueDatas\":[{\"brokerName\":\"b\xc3\xa9\",\"perm\":6,"
        "\"readQueueNums\":16,\"topicSysFlag\":0,\"writeQueueNums\":16}]}");
    assert_non_null(strstr(route(r, "T", true, &b), "\"brokerName\":\"b\\u00E9\""));
    /* unit topic lists select by topicSysFlag */
    reg(r, "C", "u", "10.0.0.7:1", 0,
        "{\"topicConfigSerializeWrapper\":{\"dataVersion\":{\"counter\":1},\"topicConfigTable\":"
        "{\"U\":{\"topicSysFlag\":1},\"US\":{\"topicSysFlag\":3},\"S\":{\"topicSysFlag\":2}}}}",
        &CONN_B, 1000, NULL);
    rmq_buf_reset(&b);
    rmq_ns_route_unit_topics_json(r, RMQ_NS_UNIT_TOPICS, &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[\"U\",\"US\"]}");
    rmq_buf_reset(&b);
    rmq_ns_route_unit_topics_json(r, RMQ_NS_HAS_UNIT_SUB_TOPICS, &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[\"S\",\"US\"]}");
    rmq_buf_reset(&b);
    rmq_ns_route_unit_topics_json(r, RMQ_NS_UNIT_SUB_NOT_UNIT_TOPICS, &b);
    assert_string_equal(buf_str(&b), "{\"topicList\":[\"S\"]}");
    rmq_ns_route_conn_closed(r, &CONN_B, NULL);
    /* a later registration without filter servers clears them */
    reg(r, "C", "b\xc3\xa9", "10.0.0.1:10911", 0, body1("T", 16, 6, 1), &CONN_A, 2000, NULL);
    assert_non_null(strstr(route(r, "T", false, &b), "\"filterServerTable\":{}"));
    /* an empty body registers the broker with no topics */
    rmq_ns_reg_t rg = {.cluster = "C",
                       .broker_name = "e",
                       .broker_addr = "10.0.0.9:1",
                       .ha_addr = "",
                       .broker_id = 0,
                       .body = NULL,
                       .conn = &CONN_C};
    rmq_ns_reg_result_t res;
    assert_int_equal(rmq_ns_route_register(r, &rg, 3000, &res), RMQ_OK);
    assert_true(res.first);
    assert_int_equal(rmq_ns_route_live_count(r), 2);
    rmq_buf_reset(&b);
    rmq_ns_route_cluster_json(r, &b);
    assert_non_null(strstr(buf_str(&b), "\"C\":[\"b\xc3\xa9\",\"e\"]"));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

static void test_kv_persist(void **state) {
    char dir[] = "/tmp/rmq-test-kv.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/sub/kvConfig.json", dir);
    rmq_ns_kv_t *kv;
    assert_int_equal(rmq_ns_kv_open(path, &kv), RMQ_OK);
    assert_int_equal(rmq_ns_kv_put(kv, RMQ_NS_KV_ORDER_TOPIC_CONFIG, "TopicA", "b1:4;b2:4"),
                     RMQ_OK);
    assert_int_equal(rmq_ns_kv_put(kv, "ns2", "k", "v\"q"), RMQ_OK);
    assert_int_equal(rmq_ns_kv_put(kv, "ns2", "gone", "x"), RMQ_OK);
    assert_int_equal(rmq_ns_kv_delete(kv, "ns2", "gone"), RMQ_OK);
    assert_int_equal(rmq_ns_kv_delete(kv, "ns2", "gone"), RMQ_ERR__NOT_FOUND);
    rmq_ns_kv_close(kv);

    /* RocketMQ's layout */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[512] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_string_equal(text, "{\"configTable\":{\"ORDER_TOPIC_CONFIG\":{\"TopicA\":\"b1:4;b2:4\"},"
                              "\"ns2\":{\"k\":\"v\\\"q\"}}}");

    assert_int_equal(rmq_ns_kv_open(path, &kv), RMQ_OK);
    assert_string_equal(rmq_ns_kv_get(kv, RMQ_NS_KV_ORDER_TOPIC_CONFIG, "TopicA"), "b1:4;b2:4");
    assert_string_equal(rmq_ns_kv_get(kv, "ns2", "k"), "v\"q");
    assert_null(rmq_ns_kv_get(kv, "ns2", "gone"));
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_ns_kv_table_json(kv, RMQ_NS_KV_ORDER_TOPIC_CONFIG, &b), RMQ_OK);
    assert_string_equal(buf_str(&b), "{\"table\":{\"TopicA\":\"b1:4;b2:4\"}}");
    assert_int_equal(rmq_ns_kv_table_json(kv, "none", &b), RMQ_ERR__NOT_FOUND);
    rmq_buf_fini(&b);
    rmq_ns_kv_close(kv);

    /* a corrupt file is refused, not silently emptied */
    f = fopen(path, "w");
    fputs("{\"configTable\":[", f);
    fclose(f);
    assert_int_equal(rmq_ns_kv_open(path, &kv), RMQ_ERR__CORRUPT);
    unlink(path);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    rmdir(sub);
    rmdir(dir);
}

/* A registration from conn with remote address peer; returns the route's answer. */
static rmq_err_t reg_from(rmq_ns_route_t *r, const char *name, const char *addr, int64_t id,
                          void *conn, const char *peer, uint64_t now, rmq_ns_reg_result_t *res) {
    rmq_ns_reg_body_t body;
    decode_ok(body1("T", 4, 6, 1), &body);
    rmq_ns_reg_t rg = {.cluster = "C",
                       .broker_name = name,
                       .broker_addr = addr,
                       .ha_addr = "",
                       .broker_id = id,
                       .body = &body,
                       .conn = conn,
                       .peer = peer};
    rmq_err_t e = rmq_ns_route_register(r, &rg, now, res);
    rmq_ns_reg_body_fini(&body);
    return e;
}

/* A live registration is changed only by its own connection or host until it goes. */
static void test_registration_owner(void **state) {
    rmq_ns_route_t *r = rmq_ns_route_new();
    rmq_ns_reg_result_t res;
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(reg_from(r, "b1", "10.0.0.1:10911", 0, &CONN_A, "10.0.0.1:40000", 1000, &res),
                     RMQ_OK);
    /* another host claims (C, b1, 0) with its own address: refused, route unchanged */
    assert_int_equal(reg_from(r, "b1", "10.0.0.9:10911", 0, &CONN_B, "10.0.0.9:40001", 2000, &res),
                     RMQ_ERR_NO_PERMISSION);
    assert_non_null(strstr(res.why, "10.0.0.1:10911"));
    assert_non_null(strstr(route(r, "T", false, &b), "{0:\"10.0.0.1:10911\"}"));
    assert_int_equal(rmq_ns_route_live_count(r), 1);
    /* ... or claims the live address itself from another host: refused too */
    assert_int_equal(reg_from(r, "b1", "10.0.0.1:10911", 0, &CONN_B, "10.0.0.9:40001", 2000, &res),
                     RMQ_ERR_NO_PERMISSION);
    /* an anonymous unregister from another host: refused, broker still routed */
    rmq_ns_who_t stranger = {.conn = &CONN_B, .peer = "10.0.0.9:40001"};
    char why[384];
    assert_int_equal(
        rmq_ns_route_unregister(r, "C", "10.0.0.1:10911", "b1", 0, &stranger, why, sizeof why),
        RMQ_ERR_NO_PERMISSION);
    assert_non_null(strstr(why, "unregister refused"));
    assert_true(rmq_ns_route_has_topic(r, "T"));
    /* the same host over a new connection (a broker restarting): allowed at once */
    assert_int_equal(reg_from(r, "b1", "10.0.0.1:10911", 0, &CONN_C, "10.0.0.1:40002", 3000, &res),
                     RMQ_OK);
    /* the old connection closing no longer takes the registration with it */
    assert_int_equal(rmq_ns_route_conn_closed(r, &CONN_A, "10.0.0.1:40000"), 0);
    assert_true(rmq_ns_route_has_topic(r, "T"));
    /* an admin-signed request (ACL) may change it */
    rmq_ns_who_t admin = {.conn = &CONN_B, .peer = "10.0.0.9:40001", .admin = true};
    assert_true(rmq_ns_may_change(&admin, &CONN_C, "10.0.0.1"));
    assert_false(rmq_ns_may_change(&stranger, &CONN_C, "10.0.0.1"));
    /* its own connection unregisters it; then another host may take the name */
    rmq_ns_who_t owner = {.conn = &CONN_C, .peer = "10.0.0.1:40002"};
    assert_int_equal(rmq_ns_route_unregister(r, "C", "10.0.0.1:10911", "b1", 0, &owner, NULL, 0),
                     RMQ_OK);
    assert_false(rmq_ns_route_has_topic(r, "T"));
    assert_int_equal(reg_from(r, "b1", "10.0.0.9:10911", 0, &CONN_B, "10.0.0.9:40001", 4000, &res),
                     RMQ_OK);
    assert_non_null(strstr(route(r, "T", false, &b), "{0:\"10.0.0.9:10911\"}"));
    /* once the holder expires (120 s silent), the name is free for another host */
    assert_int_equal(reg_from(r, "b1", "10.0.0.1:10911", 0, &CONN_A, "10.0.0.1:40003", 5000, &res),
                     RMQ_ERR_NO_PERMISSION);
    assert_int_equal(rmq_ns_route_scan(r, 124001, 120000, NULL, NULL), 1);
    assert_int_equal(
        reg_from(r, "b1", "10.0.0.1:10911", 0, &CONN_A, "10.0.0.1:40003", 125000, &res), RMQ_OK);
    /* a slave (another id) from another host is a different registration */
    assert_int_equal(
        reg_from(r, "b1", "10.0.0.2:10911", 1, &CONN_B, "10.0.0.2:40004", 125000, &res), RMQ_OK);
    assert_non_null(
        strstr(route(r, "T", false, &b), "{0:\"10.0.0.1:10911\",1:\"10.0.0.2:10911\"}"));
    rmq_buf_fini(&b);
    rmq_ns_route_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_decode),        cmocka_unit_test(test_body_compressed),
        cmocka_unit_test(test_body_garbage),       cmocka_unit_test(test_route_json_exact),
        cmocka_unit_test(test_cluster_json_exact), cmocka_unit_test(test_register_versions),
        cmocka_unit_test(test_topic_merge),        cmocka_unit_test(test_master_slave),
        cmocka_unit_test(test_conn_close),         cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_register_topic),     cmocka_unit_test(test_unregister_delete_perm),
        cmocka_unit_test(test_route_json_details), cmocka_unit_test(test_kv_persist),
        cmocka_unit_test(test_registration_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
