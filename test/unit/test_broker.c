/* Unit tests of the broker core's pure functions: SEND header V1/V2 mapping and validation,
 * batch body decoding, topic name rules, tag subscriptions, delay level strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/cfg.h"
#include "broker/pull.h"
#include "broker/send.h"
#include "broker/topic.h"
#include "common/util.h"

static rmq_rem_cmd_t *v2_req(void) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(r, "a", "pg");
    rmq_rem_cmd_set(r, "b", "TopicA");
    rmq_rem_cmd_set(r, "c", "TBW102");
    rmq_rem_cmd_set(r, "d", "4");
    rmq_rem_cmd_set(r, "e", "3");
    rmq_rem_cmd_set(r, "f", "0");
    rmq_rem_cmd_set(r, "g", "1700000000123");
    rmq_rem_cmd_set(r, "h", "0");
    rmq_rem_cmd_set(r, "i", "TAGS\001t1\002WAIT\001true");
    rmq_rem_cmd_set(r, "j", "0");
    rmq_rem_cmd_set(r, "k", "false");
    rmq_rem_cmd_set(r, "m", "false");
    return r;
}

static void test_send_hdr_v2(void **state) {
    rmq_rem_cmd_t *r = v2_req();
    rmq_broker_send_hdr_t h;
    char err[256];
    assert_int_equal(rmq_broker_send_hdr_parse(r, true, &h, err, sizeof err), RMQ_OK);
    assert_string_equal(h.producer_group, "pg");
    assert_string_equal(h.topic, "TopicA");
    assert_string_equal(h.default_topic, "TBW102");
    assert_int_equal(h.default_topic_queue_nums, 4);
    assert_int_equal(h.queue_id, 3);
    assert_true(h.born_timestamp == 1700000000123LL);
    assert_int_equal(h.max_reconsume_times, -1); /* "l" absent */
    assert_false(h.batch);
    assert_non_null(strstr(h.properties, "TAGS"));
    /* A V2 request parsed with V1 names misses producerGroup. */
    assert_int_equal(rmq_broker_send_hdr_parse(r, false, &h, err, sizeof err),
                     RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(err, "producerGroup"));
    rmq_rem_cmd_destroy(r);
}

static void test_send_hdr_v1_and_errors(void **state) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE);
    rmq_rem_cmd_set(r, "producerGroup", "pg");
    rmq_rem_cmd_set(r, "topic", "T");
    rmq_rem_cmd_set(r, "defaultTopic", "TBW102");
    rmq_rem_cmd_set(r, "defaultTopicQueueNums", "4");
    rmq_rem_cmd_set(r, "queueId", "-1");
    rmq_rem_cmd_set(r, "sysFlag", "1");
    rmq_rem_cmd_set(r, "bornTimestamp", "5");
    rmq_rem_cmd_set(r, "flag", "7");
    rmq_rem_cmd_set(r, "maxReconsumeTimes", "3");
    rmq_rem_cmd_set(r, "batch", "true");
    rmq_broker_send_hdr_t h;
    char err[256];
    assert_int_equal(rmq_broker_send_hdr_parse(r, false, &h, err, sizeof err), RMQ_OK);
    assert_int_equal(h.queue_id, -1);
    assert_int_equal(h.sys_flag, 1);
    assert_int_equal(h.flag, 7);
    assert_int_equal(h.max_reconsume_times, 3);
    assert_true(h.batch);
    assert_null(h.properties);
    /* booleans as Java's parseBoolean: the C++ client's "0" is false, not an error */
    rmq_rem_cmd_set(r, "unitMode", "0");
    rmq_rem_cmd_set(r, "batch", "TRUE");
    assert_int_equal(rmq_broker_send_hdr_parse(r, false, &h, err, sizeof err), RMQ_OK);
    assert_false(h.unit_mode);
    assert_true(h.batch);
    rmq_rem_cmd_set(r, "flag", "x7");
    assert_int_equal(rmq_broker_send_hdr_parse(r, false, &h, err, sizeof err),
                     RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(err, "<flag>"));
    assert_non_null(strstr(err, "not a number"));
    rmq_rem_cmd_set(r, "queueId", "99999999999");
    assert_int_equal(rmq_broker_send_hdr_parse(r, false, &h, err, sizeof err),
                     RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(err, "queueId"));
    rmq_rem_cmd_destroy(r);

    r = v2_req();
    rmq_rem_cmd_t *r2 = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    for (size_t i = 0; i < r->next; i++)
        if (strcmp(r->ext[i].key, "b")) rmq_rem_cmd_set(r2, r->ext[i].key, r->ext[i].val);
    assert_int_equal(rmq_broker_send_hdr_parse(r2, true, &h, err, sizeof err),
                     RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(err, "<b>"));
    assert_non_null(strstr(err, "topic"));
    rmq_rem_cmd_destroy(r);
    rmq_rem_cmd_destroy(r2);
}

static size_t put_item(uint8_t *p, int32_t flag, const char *body, const char *props) {
    size_t bl = strlen(body), pl = strlen(props), total = 20 + bl + 2 + pl;
    rmq_put_be32(p, (uint32_t)total);
    rmq_put_be32(p + 4, 0);
    rmq_put_be32(p + 8, 0);
    rmq_put_be32(p + 12, (uint32_t)flag);
    rmq_put_be32(p + 16, (uint32_t)bl);
    memcpy(p + 20, body, bl);
    rmq_put_be16(p + 20 + bl, (uint16_t)pl);
    memcpy(p + 22 + bl, props, pl);
    return total;
}

static void test_batch_decode(void **state) {
    uint8_t buf[512];
    size_t len = put_item(buf, 1, "hello", "UNIQ_KEY\001A");
    len += put_item(buf + len, 2, "", "");
    len += put_item(buf + len, 3, "world!", "KEYS\001k\002TAGS\001t");
    rmq_broker_batch_item_t *items;
    size_t n;
    char err[256];
    assert_int_equal(rmq_broker_batch_decode(buf, len, &items, &n, err, sizeof err), RMQ_OK);
    assert_int_equal(n, 3);
    assert_int_equal(items[0].flag, 1);
    assert_int_equal(items[0].body_len, 5);
    assert_memory_equal(items[0].body, "hello", 5);
    assert_int_equal(items[0].props_len, 10);
    assert_int_equal(items[1].body_len, 0);
    assert_int_equal(items[1].props_len, 0);
    assert_int_equal(items[2].flag, 3);
    assert_int_equal(items[2].props_len, 13);
    assert_memory_equal(items[2].props, "KEYS\001k\002TAGS\001t", 13);
    free(items);
    /* truncated, inconsistent sizes, empty */
    assert_int_equal(rmq_broker_batch_decode(buf, len - 1, &items, &n, err, sizeof err),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    rmq_put_be32(buf + 16, 4); /* body length no longer adds up */
    assert_int_equal(rmq_broker_batch_decode(buf, len, &items, &n, err, sizeof err),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    rmq_put_be32(buf, 0xFFFFFFF0u);
    assert_int_equal(rmq_broker_batch_decode(buf, len, &items, &n, err, sizeof err),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    assert_int_equal(rmq_broker_batch_decode(buf, 0, &items, &n, err, sizeof err),
                     RMQ_ERR_MESSAGE_ILLEGAL);
}

static void test_topic_rules(void **state) {
    rmq_broker_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_topic_length = 127;
    assert_null(rmq_broker_topic_invalid(&cfg, "TopicTest"));
    assert_null(rmq_broker_topic_invalid(&cfg, "%RETRY%cg_1-a|b"));
    assert_non_null(rmq_broker_topic_invalid(&cfg, ""));
    assert_non_null(rmq_broker_topic_invalid(&cfg, NULL));
    assert_non_null(rmq_broker_topic_invalid(&cfg, "bad topic"));
    assert_non_null(rmq_broker_topic_invalid(&cfg, "bad/topic"));
    assert_non_null(rmq_broker_topic_invalid(&cfg, "t\xc3\xa9"));
    char longt[200];
    memset(longt, 'a', 127);
    longt[127] = 0;
    assert_null(rmq_broker_topic_invalid(&cfg, longt));
    longt[127] = 'a';
    longt[128] = 0;
    assert_non_null(strstr(rmq_broker_topic_invalid(&cfg, longt), "longer"));
    assert_true(rmq_broker_topic_send_forbidden("SCHEDULE_TOPIC_XXXX"));
    assert_true(rmq_broker_topic_send_forbidden("RMQ_SYS_TRANS_HALF_TOPIC"));
    assert_true(rmq_broker_topic_send_forbidden("OFFSET_MOVED_EVENT"));
    assert_false(rmq_broker_topic_send_forbidden("TBW102"));
    assert_false(rmq_broker_topic_send_forbidden("%RETRY%g"));
    assert_true(rmq_broker_topic_is_system("TBW102"));
    assert_true(rmq_broker_topic_is_system("rmq_sys_wheel_timer"));
    assert_false(rmq_broker_topic_is_system("TopicTest"));
}

static void test_sub_parse(void **state) {
    int64_t *codes;
    size_t n;
    assert_int_equal(rmq_broker_sub_parse(NULL, &codes, &n), RMQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rmq_broker_sub_parse("*", &codes, &n), RMQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rmq_broker_sub_parse("", &codes, &n), RMQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rmq_broker_sub_parse("TagA || TagB ||  ||TagC", &codes, &n), RMQ_OK);
    assert_int_equal(n, 3);
    assert_true(codes[0] == 2598919); /* "TagA".hashCode() */
    assert_true(codes[1] == 2598920);
    assert_true(codes[2] == 2598921);
    free(codes);
    assert_int_equal(rmq_broker_sub_parse(" || ", &codes, &n), RMQ_ERR_SUBSCRIPTION_PARSE_FAILED);
}

static void test_delay_levels(void **state) {
    assert_int_equal(rmq_broker_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m "
                                             "1h 2h"),
                     18);
    assert_int_equal(rmq_broker_delay_levels("1s"), 1);
    assert_int_equal(rmq_broker_delay_levels("1x"), -1);
    assert_int_equal(rmq_broker_delay_levels("s"), -1);
    assert_int_equal(rmq_broker_delay_levels("10ss"), -1);
    assert_int_equal(rmq_broker_delay_levels(NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_hdr_v2),  cmocka_unit_test(test_send_hdr_v1_and_errors),
        cmocka_unit_test(test_batch_decode), cmocka_unit_test(test_topic_rules),
        cmocka_unit_test(test_sub_parse),    cmocka_unit_test(test_delay_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
