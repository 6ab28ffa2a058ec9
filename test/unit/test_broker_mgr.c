/* Unit tests for the broker managers' formats: consumerOffset.json, subscriptionGroup.json,
 * HeartbeatData parsing (Java names, C++ ordinals, Go "UNKNOWN"), ResetOffsetBody encodings
 * and the fastjson normalizer they all rely on. No broker is started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/subgroup.h"
#include "common/fjson.h"
#include "common/util.h"

static char *buf_str(rmq_buf_t *b) {
    rmq_buf_append_u8(b, 0);
    size_t n;
    return (char *)rmq_buf_detach(b, &n);
}

static void test_normalize(void **st) {
    (void)st;
    const char *in = "{\"a\":{0:250, 1:-3},\"s\":\"{0:1}\",\"m\":{{\"brokerName\":\"b\","
                     "\"queueId\":2,\"topic\":\"T\"}:7},\"l\":[1,{2:3}]}";
    char err[128];
    json_t *j = rmq_fjson_parse(in, strlen(in), err, sizeof err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "a"), "0")), 250);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "a"), "1")), -3);
    /* braces inside strings are untouched */
    assert_string_equal(json_string_value(json_object_get(j, "s")), "{0:1}");
    json_t *m = json_object_get(j, "m");
    assert_int_equal(json_object_size(m), 1);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        char topic[64], broker[64];
        int qid;
        assert_true(rmq_fj_mq_from_key(k, topic, sizeof topic, broker, sizeof broker, &qid));
        assert_string_equal(topic, "T");
        assert_string_equal(broker, "b");
        assert_int_equal(qid, 2);
        assert_int_equal(json_integer_value(v), 7);
    }
    json_t *l = json_object_get(j, "l");
    assert_int_equal(json_integer_value(json_array_get(l, 0)), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "2")), 3);
    json_decref(j);
    /* already-valid JSON passes through */
    j = rmq_fjson_parse("{\"0\":1}", 7, err, sizeof err);
    assert_non_null(j);
    json_decref(j);
    assert_null(rmq_fjson_parse("{\"a\":", 5, err, sizeof err));
}

static void test_offsets_file(void **st) {
    (void)st;
    rmq_broker_offsets_t *t = rmq_broker_offsets_new();
    rmq_broker_offsets_tset(t, "group_a", "TopicTest", 1, 249);
    rmq_broker_offsets_tset(t, "group_a", "TopicTest", 0, 250);
    char *text = rmq_broker_offsets_encode(t, true);
    /* store.md 8.4 layout: tab indent, bare queue-id keys sorted, fastjson's odd breaks */
    assert_string_equal(text, "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@group_a\":{0:250,1:249\n"
                              "\t\t}\n\t}\n}");
    free(text);
    text = rmq_broker_offsets_encode(t, false);
    assert_string_equal(text, "{\"offsetTable\":{\"TopicTest@group_a\":{0:250,1:249}}}");
    free(text);
    assert_int_equal(rmq_broker_offsets_tget(t, "group_a", "TopicTest", 2), -1);
    assert_int_equal(rmq_broker_offsets_tget(t, "group_b", "TopicTest", 0), -1);
    rmq_broker_offsets_free(t);

    /* the example of store.md 8.4, plus a 5.x dataVersion and an unknown field */
    const char *file = "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@group_a\":{0:250,1:249,2:251,"
                       "3:250\n\t\t},\n\t\t\"%RETRY%group_a@group_a\":{0:0\n\t\t}\n\t},"
                       "\"dataVersion\":{\"counter\":1,\"timestamp\":2},\"x\":[]\n}";
    t = rmq_broker_offsets_new();
    assert_int_equal(rmq_broker_offsets_decode(t, file, strlen(file)), RMQ_OK);
    assert_int_equal(rmq_broker_offsets_tget(t, "group_a", "TopicTest", 2), 251);
    assert_int_equal(rmq_broker_offsets_tget(t, "group_a", "TopicTest", 3), 250);
    assert_int_equal(rmq_broker_offsets_tget(t, "group_a", "%RETRY%group_a", 0), 0);
    /* round trip */
    text = rmq_broker_offsets_encode(t, true);
    rmq_broker_offsets_t *t2 = rmq_broker_offsets_new();
    assert_int_equal(rmq_broker_offsets_decode(t2, text, strlen(text)), RMQ_OK);
    assert_int_equal(rmq_broker_offsets_tget(t2, "group_a", "TopicTest", 0), 250);
    assert_int_equal(rmq_broker_offsets_tget(t2, "group_a", "TopicTest", 1), 249);
    free(text);
    rmq_broker_offsets_free(t2);
    rmq_broker_offsets_free(t);

    t = rmq_broker_offsets_new();
    assert_int_equal(rmq_broker_offsets_decode(t, "{\"offsetTable\":{", 16), RMQ_ERR__CORRUPT);
    rmq_broker_offsets_free(t);
}

static void test_subgroup_json(void **st) {
    (void)st;
    rmq_subgroup_t g;
    rmq_broker_subgroup_defaults(&g, "group_a");
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_broker_subgroup_to_json(&b, &g);
    char *s = buf_str(&b);
    /* store.md 8.6 defaults, fastjson key order */
    assert_string_equal(s, "{\"brokerId\":0,\"consumeBroadcastEnable\":true,\"consumeEnable\":true,"
                           "\"consumeFromMinEnable\":true,\"groupName\":\"group_a\","
                           "\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":16,"
                           "\"retryQueueNums\":1,\"whichBrokerWhenConsumeSlowly\":1}");
    free(s);
    /* missing keys keep defaults; unknown 5.x keys ignored; numbers as strings accepted */
    json_t *o = json_loads("{\"groupName\":\"g2\",\"retryQueueNums\":\"3\",\"consumeEnable\":false,"
                           "\"groupRetryPolicy\":{\"type\":\"CUSTOMIZED\"}}",
                           0, NULL);
    assert_non_null(o);
    assert_int_equal(rmq_broker_subgroup_from_json(o, &g), RMQ_OK);
    assert_string_equal(g.group_name, "g2");
    assert_int_equal(g.retry_queue_nums, 3);
    assert_false(g.consume_enable);
    assert_true(g.consume_broadcast_enable);
    assert_int_equal(g.retry_max_times, 16);
    json_decref(o);
    o = json_loads("{\"retryQueueNums\":1}", 0, NULL);
    assert_int_not_equal(rmq_broker_subgroup_from_json(o, &g), RMQ_OK);
    json_decref(o);
}

static void test_heartbeat_java(void **st) {
    (void)st;
    const char *body =
        "{\"clientID\":\"192.168.0.20@4711#2734510929382749\",\"consumerDataSet\":[{"
        "\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\","
        "\"groupName\":\"cg1\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{"
        "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\","
        "\"subVersion\":1700000000000,\"tagsSet\":[],\"topic\":\"TopicTest\"},{"
        "\"classFilterMode\":false,\"codeSet\":[2598919,2598920],\"expressionType\":\"TAG\","
        "\"subString\":\"TagA || TagB\",\"subVersion\":1700000000001,\"tagsSet\":[\"TagA\","
        "\"TagB\"],\"topic\":\"%RETRY%cg1\"}],\"unitMode\":false}],\"producerDataSet\":[{"
        "\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}";
    rmq_broker_heartbeat_t hb;
    char err[128];
    assert_int_equal(rmq_broker_heartbeat_parse(body, strlen(body), &hb, err, sizeof err), RMQ_OK);
    assert_string_equal(hb.client_id, "192.168.0.20@4711#2734510929382749");
    assert_int_equal(hb.nproducers, 1);
    assert_string_equal(hb.producers[0], "CLIENT_INNER_PRODUCER");
    assert_int_equal(hb.nconsumers, 1);
    rmq_broker_consumer_data_t *c = &hb.consumers[0];
    assert_string_equal(c->group, "cg1");
    assert_int_equal(c->consume_type, 1);
    assert_int_equal(c->message_model, 1);
    assert_int_equal(c->consume_from_where, 0);
    assert_int_equal(c->nsubs, 2);
    assert_string_equal(c->subs[0].s.topic, "TopicTest");
    assert_string_equal(c->subs[0].s.sub_string, "*");
    assert_int_equal(c->subs[0].s.ncodes, 0);
    assert_true(c->subs[0].s.sub_version == 1700000000000LL);
    assert_int_equal(c->subs[1].s.ncodes, 2);
    assert_true(c->subs[1].s.codes[0] == 2598919);
    assert_true(c->subs[1].s.codes[1] == 2598920);
    assert_string_equal(c->subs[1].tags[1], "TagB");
    assert_string_equal(c->subs[1].s.expression_type, "TAG");

    /* SubscriptionData written back as fastjson does */
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_broker_sub_to_json(&b, &c->subs[1]);
    char *s = buf_str(&b);
    assert_string_equal(s, "{\"classFilterMode\":false,\"codeSet\":[2598919,2598920],"
                           "\"expressionType\":\"TAG\",\"subString\":\"TagA || TagB\","
                           "\"subVersion\":1700000000001,\"tagsSet\":[\"TagA\",\"TagB\"],"
                           "\"topic\":\"%RETRY%cg1\"}");
    free(s);
    rmq_broker_heartbeat_free(&hb);
}

static void test_heartbeat_cpp_go(void **st) {
    (void)st;
    /* C++: ordinals, string subVersion, no expressionType/tagsSet/codeSet, no producer set */
    const char *cpp = "{\"clientID\":\"10.0.0.1@99\",\"consumerDataSet\":[{\"consumeFromWhere\":4,"
                      "\"consumeType\":1,\"groupName\":\"cg1\",\"messageModel\":0,"
                      "\"subscriptionDataSet\":[{\"subString\":\"TagA||  ||TagA\","
                      "\"subVersion\":\"1700000000000\",\"topic\":\"TopicTest\"}]}]}";
    rmq_broker_heartbeat_t hb;
    char err[128];
    assert_int_equal(rmq_broker_heartbeat_parse(cpp, strlen(cpp), &hb, err, sizeof err), RMQ_OK);
    assert_int_equal(hb.nproducers, 0);
    assert_int_equal(hb.nconsumers, 1);
    rmq_broker_consumer_data_t *c = &hb.consumers[0];
    assert_int_equal(c->consume_type, 1);
    assert_int_equal(c->message_model, 0);
    assert_int_equal(c->consume_from_where, 4);
    assert_true(c->subs[0].s.sub_version == 1700000000000LL);
    assert_string_equal(c->subs[0].s.expression_type, "TAG");
    assert_int_equal(c->subs[0].ntags, 1); /* trimmed, empties and duplicates dropped */
    assert_true(c->subs[0].s.codes[0] == 2598919);
    rmq_broker_heartbeat_free(&hb);

    /* Go: names, "UNKNOWN" consumeFromWhere, ordinal as a numeric string */
    const char *go = "{\"clientID\":\"g@1\",\"consumerDataSet\":[{\"consumeFromWhere\":\"UNKNOWN\","
                     "\"consumeType\":\"CONSUME_ACTIVELY\",\"groupName\":\"cg2\","
                     "\"messageModel\":\"0\",\"subscriptionDataSet\":[{\"expressionType\":"
                     "\"SQL92\",\"subString\":\"a > 1\",\"subVersion\":5,\"topic\":\"T\"}]}],"
                     "\"producerDataSet\":[]}";
    assert_int_equal(rmq_broker_heartbeat_parse(go, strlen(go), &hb, err, sizeof err), RMQ_OK);
    c = &hb.consumers[0];
    assert_int_equal(c->consume_type, 0);
    assert_int_equal(c->message_model, 0);
    assert_int_equal(c->consume_from_where, -1);
    assert_string_equal(c->subs[0].s.expression_type, "SQL92");
    assert_int_equal(c->subs[0].s.ncodes, 0);
    assert_false(hb.without_sub);
    rmq_broker_heartbeat_free(&hb);

    /* 5.x heartbeat V2 without subscriptions */
    const char *v2 = "{\"clientID\":\"j@5\",\"consumerDataSet\":[{\"groupName\":\"cg3\"}],"
                     "\"heartbeatFingerprint\":123,\"withoutSub\":true}";
    assert_int_equal(rmq_broker_heartbeat_parse(v2, strlen(v2), &hb, err, sizeof err), RMQ_OK);
    assert_true(hb.without_sub);
    assert_int_equal(hb.consumers[0].nsubs, 0);
    rmq_broker_heartbeat_free(&hb);

    /* errors: no clientID, bad JSON, bad tag expression */
    assert_int_not_equal(rmq_broker_heartbeat_parse("{}", 2, &hb, err, sizeof err), RMQ_OK);
    assert_non_null(strstr(err, "clientID"));
    assert_int_not_equal(rmq_broker_heartbeat_parse("{\"clientID\":", 12, &hb, err, sizeof err),
                         RMQ_OK);
    const char *bad = "{\"clientID\":\"x\",\"consumerDataSet\":[{\"groupName\":\"g\","
                      "\"subscriptionDataSet\":[{\"topic\":\"T\",\"subString\":\"||\"}]}]}";
    assert_int_not_equal(rmq_broker_heartbeat_parse(bad, strlen(bad), &hb, err, sizeof err),
                         RMQ_OK);
}

static void test_reset_bodies(void **st) {
    (void)st;
    int qids[] = {0, 1};
    int64_t offs[] = {100, 97};
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_broker_reset_body(&b, false, "TopicTest", "broker-a", qids, offs, 2);
    char *s = buf_str(&b);
    /* protocol.md 5.13, byte for byte */
    assert_string_equal(s, "{\"offsetTable\":{{\"brokerName\":\"broker-a\",\"queueId\":0,"
                           "\"topic\":\"TopicTest\"}:100,{\"brokerName\":\"broker-a\","
                           "\"queueId\":1,\"topic\":\"TopicTest\"}:97}}");
    char err[128];
    json_t *j = rmq_fjson_parse(s, strlen(s), err, sizeof err);
    assert_non_null(j);
    assert_int_equal(json_object_size(json_object_get(j, "offsetTable")), 2);
    json_decref(j);
    free(s);
    rmq_buf_init(&b);
    rmq_broker_reset_body(&b, true, "TopicTest", "broker-a", qids, offs, 2);
    s = buf_str(&b);
    assert_string_equal(s, "{\"offsetTable\":[{\"brokerName\":\"broker-a\",\"offset\":100,"
                           "\"queueId\":0,\"topic\":\"TopicTest\"},{\"brokerName\":\"broker-a\","
                           "\"offset\":97,\"queueId\":1,\"topic\":\"TopicTest\"}]}");
    j = json_loads(s, 0, NULL); /* the C form is plain JSON */
    assert_non_null(j);
    json_decref(j);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),        cmocka_unit_test(test_offsets_file),
        cmocka_unit_test(test_subgroup_json),    cmocka_unit_test(test_heartbeat_java),
        cmocka_unit_test(test_heartbeat_cpp_go), cmocka_unit_test(test_reset_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
