/* Pure pieces of mqadmin / mqbench: option parsing, RocketMQ time formats, the latency
 * histogram, and the admin API's fastjson fix-up (librmq's rmq_json_fix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "client/admin_internal.h"
#include "common/buf.h"
#include "common/msg.h"
#include "rmq/rmq.h"
#include "tools/msgrec.h"
#include "tools/tool_util.h"

static const rmq_tool_opt_t opts[] = {
    {'n', "namesrvAddr", true, false, "ns"},  {'t', "topic", true, true, "topic"},
    {'r', "readQueueNums", true, false, "r"}, {'m', "moreStats", false, false, "switch"},
    {0, "json", false, false, "json"},
};
#define NO ((int)(sizeof opts / sizeof opts[0]))

static void test_opts_forms(void **st) {
    (void)st;
    char *argv[] = {"-n", "h:1", "--topic", "T", "-r8", "-m", "--json", "pos"};
    rmq_tool_args_t a;
    char err[128];
    assert_int_equal(rmq_tool_parse(opts, NO, 8, argv, &a, err, sizeof err), 0);
    assert_string_equal(rmq_tool_get(opts, NO, &a, 'n', NULL), "h:1");
    assert_string_equal(rmq_tool_get(opts, NO, &a, 't', NULL), "T");
    assert_string_equal(rmq_tool_get(opts, NO, &a, 'r', NULL), "8");
    assert_string_equal(rmq_tool_get(opts, NO, &a, 'm', NULL), "true");
    assert_string_equal(rmq_tool_get(opts, NO, &a, 0, "json"), "true");
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "pos");

    char *argv2[] = {"--namesrvAddr=x:2", "-t", "U"};
    assert_int_equal(rmq_tool_parse(opts, NO, 3, argv2, &a, err, sizeof err), 0);
    assert_string_equal(rmq_tool_get(opts, NO, &a, 'n', NULL), "x:2");
    assert_null(rmq_tool_get(opts, NO, &a, 'm', NULL));
}

static void test_opts_errors(void **st) {
    (void)st;
    rmq_tool_args_t a;
    char err[128];
    char *unknown[] = {"-t", "T", "-z", "1"};
    assert_int_equal(rmq_tool_parse(opts, NO, 4, unknown, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "-z"));
    assert_null(strchr(err, '\n'));
    char *missing_val[] = {"-t"};
    assert_int_equal(rmq_tool_parse(opts, NO, 1, missing_val, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing value"));
    char *missing_req[] = {"-n", "h:1"};
    assert_int_equal(rmq_tool_parse(opts, NO, 2, missing_req, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "-t"));
    char *bad_long[] = {"-t", "T", "--nope"};
    assert_int_equal(rmq_tool_parse(opts, NO, 3, bad_long, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--nope"));
}

static void test_time(void **st) {
    (void)st;
    assert_int_equal(rmq_tool_parse_time("now", 1234), 1234);
    assert_int_equal(rmq_tool_parse_time("1700000000123", 0), 1700000000123LL);
    assert_int_equal(rmq_tool_parse_time("bogus", 0), -2);
    assert_int_equal(rmq_tool_parse_time("2024-13-01#00:00:00:000", 0), -2);
    assert_int_equal(rmq_tool_parse_time("", 0), -2);
    /* the RocketMQ form is local time; round-trip through the formatter */
    int64_t ms = rmq_tool_parse_time("2024-03-05#06:07:08:009", 0);
    assert_true(ms > 0);
    assert_int_equal(ms % 1000, 9);
    char out[40];
    rmq_tool_fmt_time(ms, out, sizeof out);
    assert_string_equal(out, "2024-03-05 06:07:08,009");
}

static void test_hist(void **st) {
    (void)st;
    rmq_hist_t h;
    rmq_hist_init(&h);
    assert_true(rmq_hist_quantile(&h, 0.5) == 0);
    for (uint64_t v = 1; v <= 100000; v++) rmq_hist_add(&h, v);
    assert_int_equal(h.n, 100000);
    assert_int_equal(h.max, 100000);
    double p50 = rmq_hist_quantile(&h, 0.5), p99 = rmq_hist_quantile(&h, 0.99);
    assert_true(p50 > 50000 * 0.98 && p50 < 50000 * 1.02);
    assert_true(p99 > 99000 * 0.98 && p99 < 99000 * 1.02);
    assert_true(rmq_hist_quantile(&h, 1.0) <= 100000);
    double mean = rmq_hist_mean(&h);
    assert_true(mean > 50000 && mean < 50001);
    /* small values are exact */
    rmq_hist_t s;
    rmq_hist_init(&s);
    for (int i = 0; i < 99; i++) rmq_hist_add(&s, 10);
    rmq_hist_add(&s, 5000000);
    assert_true(rmq_hist_quantile(&s, 0.5) == 10);
    assert_true(rmq_hist_quantile(&s, 0.999) > 4900000);
    /* merge */
    rmq_hist_merge(&h, &s);
    assert_int_equal(h.n, 100100);
    assert_int_equal(h.max, 5000000);
    /* huge values clamp into the last bucket without overflow */
    rmq_hist_add(&h, UINT64_MAX / 2);
    assert_true(rmq_hist_quantile(&h, 1.0) > 0);
}

static void test_json_fix(void **st) {
    (void)st;
    const char *route = "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.0.0.1:10911\",1:\"10.0.0.2:"
                        "10911\"},\"brokerName\":\"b\"}]}";
    char *s = rmq_json_fix(route, strlen(route));
    assert_non_null(s);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    assert_non_null(j);
    json_t *ad =
        json_object_get(json_array_get(json_object_get(j, "brokerDatas"), 0), "brokerAddrs");
    assert_string_equal(json_string_value(json_object_get(ad, "1")), "10.0.0.2:10911");
    json_decref(j);
    free(s);

    const char *stats = "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:"
                        "{\"maxOffset\":5},{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}:"
                        "{\"maxOffset\":7}}}";
    s = rmq_json_fix(stats, strlen(stats));
    assert_non_null(s);
    j = json_loads(s, 0, &je);
    assert_non_null(j);
    json_t *tab = json_object_get(j, "offsetTable");
    assert_int_equal(json_object_size(tab), 2);
    const char *key;
    json_t *v;
    int seen = 0;
    json_object_foreach(tab, key, v) {
        json_t *mq = json_loads(key, 0, &je);
        assert_non_null(mq);
        int q = (int)json_integer_value(json_object_get(mq, "queueId"));
        assert_int_equal(json_integer_value(json_object_get(v, "maxOffset")), q ? 7 : 5);
        seen |= 1 << q;
        json_decref(mq);
    }
    assert_int_equal(seen, 3);
    json_decref(j);
    free(s);

    /* strings holding braces, colons and escapes stay untouched */
    const char *tricky = "{\"a\":\"{x}:{1:2}\\\"\",\"b\":[{\"c\":1},2]}";
    s = rmq_json_fix(tricky, strlen(tricky));
    assert_string_equal(s, tricky);
    free(s);
    /* unbalanced input is refused */
    assert_null(rmq_json_fix("{\"a\":[1,2}", 10));
}

/* Two records encoded with the store's codec decode into mqadmin's view, offset ids as the
 * store would name them. */
static void test_msgrec(void **st) {
    (void)st;
    rmq_buf_t props;
    rmq_buf_init(&props);
    rmq_msg_prop_append(&props, "KEYS", "k1 k2");
    rmq_msg_prop_append(&props, "TAGS", "TagA");
    rmq_msg_prop_append(&props, "UNIQ_KEY", "ABCDEF");
    uint8_t *all = NULL;
    size_t total = 0;
    for (int i = 0; i < 2; i++) {
        rmq_msg_rec_t r;
        memset(&r, 0, sizeof r);
        r.queue_id = 3;
        r.queue_offset = 10 + i;
        r.phys_offset = 4096 * i;
        r.born_ts = 1700000000000LL;
        r.store_ts = 1700000000001LL;
        r.born_host.ip_len = 4;
        memcpy(r.born_host.ip, (uint8_t[]){10, 0, 0, 1}, 4);
        r.born_host.port = 5555;
        r.store_host.ip_len = 4;
        memcpy(r.store_host.ip, (uint8_t[]){127, 0, 0, 1}, 4);
        r.store_host.port = 10911;
        r.body = (const uint8_t *)"hello";
        r.body_len = 5;
        r.topic = "TopicT";
        r.topic_len = 6;
        r.props = (const char *)props.data;
        r.props_len = (int32_t)props.len - 1; /* 4.9.1 form: no trailing separator */
        size_t sz = rmq_msg_rec_size(5, 6, (size_t)r.props_len, false, false);
        all = realloc(all, total + sz);
        rmq_msg_rec_encode(all + total, &r, true);
        total += sz;
    }
    rmq_tool_msg_t *v = NULL;
    size_t n = 0;
    assert_int_equal(rmq_tool_msgs_decode(all, total, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[1].topic, "TopicT");
    assert_string_equal(v[1].tags, "TagA");
    assert_string_equal(v[1].keys, "k1 k2");
    assert_string_equal(v[1].uniq, "ABCDEF");
    assert_string_equal(v[1].props, "{KEYS=k1 k2, TAGS=TagA, UNIQ_KEY=ABCDEF}");
    assert_int_equal(v[1].body_len, 5);
    assert_memory_equal(v[1].body, "hello", 5);
    assert_int_equal(v[1].queue_offset, 11);
    assert_string_equal(v[1].born_host, "10.0.0.1:5555");
    assert_string_equal(v[1].store_host, "127.0.0.1:10911");
    char want[64];
    rmq_msg_host_t h = {.ip = {127, 0, 0, 1}, .ip_len = 4, .port = 10911};
    rmq_msg_offset_id_encode(want, &h, 4096);
    assert_string_equal(v[1].offset_id, want);
    assert_string_equal(v[1].offset_id, "7F00000100002A9F0000000000001000");
    rmq_tool_msgs_free(v, n);
    /* a truncated body is refused */
    assert_int_equal(rmq_tool_msgs_decode(all, total - 3, &v, &n), -1);
    free(all);
    rmq_buf_fini(&props);
}

static const char *jget(void *tab, const char *k) {
    return json_string_value(json_object_get((json_t *)tab, k));
}

/* clusterList -r: a slave's lag from its own runtime table and its master's (two slaves on one
 * host: the connection whose ack is nearest the slave's own offset is its). */
static void test_slave_repl(void **st) {
    (void)st;
    json_t *s = json_pack("{s:s,s:s}", "haSlaveMaxOffset", "1000", "commitLogMaxOffset", "999");
    json_t *m =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "masterCommitLogMaxOffset", "5000",
                  "slave0Addr", "10.0.0.9:40000", "slave0AckOffset", "1000", "slave0FallBehindMs",
                  "77", "slave1Addr", "10.0.0.2:40001", "slave1AckOffset", "4000",
                  "slave1FallBehindMs", "5", "slave2Addr", "10.0.0.2:40002");
    json_object_set_new(m, "slave2AckOffset", json_string("1100"));
    json_object_set_new(m, "slave2FallBehindMs", json_string("1234"));
    rmq_tool_repl_t r;
    rmq_tool_slave_repl(jget, s, m, "10.0.0.2:10911", &r);
    assert_int_equal(r.slave_offset, 1000);
    assert_int_equal(r.master_offset, 5000);
    assert_int_equal(r.behind_bytes, 4000);
    assert_int_equal(r.behind_ms, 1234); /* slave2: same host, ack 1100 nearest 1000 */
    /* master unreachable: only the slave's own offset is known... */
    rmq_tool_slave_repl(jget, s, NULL, "10.0.0.2:10911", &r);
    assert_int_equal(r.slave_offset, 1000);
    assert_int_equal(r.master_offset, -1);
    assert_int_equal(r.behind_bytes, -1);
    assert_int_equal(r.behind_ms, -1);
    /* ...and what the slave last learned of its master's max offset */
    json_object_set_new(s, "haMasterMaxOffset", json_string("1500"));
    rmq_tool_slave_repl(jget, s, NULL, "10.0.0.2:10911", &r);
    assert_int_equal(r.master_offset, 1500);
    assert_int_equal(r.behind_bytes, 500);
    assert_int_equal(r.behind_ms, -1);
    json_object_set_new(s, "haMasterMaxOffset", json_string("0")); /* not learned */
    rmq_tool_slave_repl(jget, s, NULL, "10.0.0.2:10911", &r);
    assert_int_equal(r.master_offset, -1);
    assert_int_equal(r.behind_bytes, -1);
    /* a slave without HA keys (older broker): commitLogMaxOffset; ahead of the master: 0 */
    json_object_del(s, "haSlaveMaxOffset");
    json_object_set_new(m, "masterCommitLogMaxOffset", json_string("900"));
    rmq_tool_slave_repl(jget, s, m, "10.0.0.7:10911", &r);
    assert_int_equal(r.slave_offset, 999);
    assert_int_equal(r.behind_bytes, 0);
    assert_int_equal(r.behind_ms, -1); /* no connection from that host */
    json_decref(s);
    json_decref(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_forms),  cmocka_unit_test(test_slave_repl),
        cmocka_unit_test(test_opts_errors), cmocka_unit_test(test_time),
        cmocka_unit_test(test_hist),        cmocka_unit_test(test_json_fix),
        cmocka_unit_test(test_msgrec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
