/* Unit tests for common/: utilities, buffers, config parser, mailbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fjson.h"
#include "common/kvconf.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/util.h"

static void test_java_hash(void **st) {
    (void)st;
    /* Values from java.lang.String.hashCode. */
    assert_int_equal(rmq_java_hash("", 0), 0);
    assert_int_equal(rmq_java_hash("TagA", 4), 2598919);
    assert_int_equal(rmq_java_hash("hello world", 11), 1794106052);
    /* U+00E9 (2 bytes UTF-8) is one code unit 0xE9; U+1F600 is a surrogate pair. */
    assert_int_equal(rmq_java_hash("\xc3\xa9", 2), 0xE9);
    assert_int_equal(rmq_java_hash("\xf0\x9f\x98\x80", 4), 31 * 0xD83D + 0xDE00);
}

static void test_crc32(void **st) {
    (void)st;
    assert_int_equal(rmq_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(rmq_crc32(0, "", 0), 0);
}

static void test_be(void **st) {
    (void)st;
    uint8_t b[8];
    rmq_put_be32(b, 0xDAA320A7u);
    assert_int_equal(b[0], 0xDA);
    assert_int_equal(rmq_get_be32(b), 0xDAA320A7u);
    rmq_put_be64(b, 0x0102030405060708ull);
    assert_true(rmq_get_be64(b) == 0x0102030405060708ull);
    assert_int_equal(b[7], 8);
}

static void test_buf(void **st) {
    (void)st;
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (int i = 0; i < 1000; i++) assert_int_equal(rmq_buf_append_be32(&b, (uint32_t)i), 0);
    assert_int_equal(b.len, 4000);
    rmq_buf_consume(&b, 3996);
    assert_int_equal(rmq_get_be32(rmq_buf_rptr(&b)), 999);
    assert_int_equal(rmq_buf_appendf(&b, "x=%d", 42), 0);
    assert_int_equal(rmq_buf_unread(&b), 8);
    size_t n;
    uint8_t *d = rmq_buf_detach(&b, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(d + 4, "x=42", 4);
    free(d);
    assert_null(b.data);
}

typedef struct {
    int port;
    int64_t size;
    bool flag;
    char *name;
    int mode;
} cfg_t;
static const char *const modes[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};
static const rmq_kv_def_t defs[] = {
    RMQ_KV_INT("listenPort", cfg_t, port, 9876, 1, 65535, "port"),
    RMQ_KV_I64_ALIAS("mappedFileSizeCommitLog", "mapedFileSizeCommitLog", cfg_t, size, 1073741824,
                     4096, 1LL << 40, "size"),
    RMQ_KV_BOOL("autoCreateTopicEnable", cfg_t, flag, 1, "flag"),
    RMQ_KV_STR("brokerName", cfg_t, name, "broker-a", "name"),
    RMQ_KV_ENUM("flushDiskType", cfg_t, mode, 0, modes, "mode"),
};
#define NDEFS RMQ_ARRAY_LEN(defs)

static void test_kvconf(void **st) {
    (void)st;
    cfg_t c;
    char err[256];
    assert_int_equal(rmq_kv_defaults(defs, NDEFS, &c), 0);
    assert_int_equal(c.port, 9876);
    assert_true(c.size == 1073741824);
    assert_true(c.flag);
    assert_string_equal(c.name, "broker-a");
    const char *text = "# comment\n\n  listenPort = 10911  \nmapedFileSizeCommitLog=8192\r\n"
                       "autoCreateTopicEnable=false\nbrokerName=b1\nflushDiskType=SYNC_FLUSH\n"
                       "someFutureKey=1\n";
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, text, "t.conf", err, sizeof err), 0);
    assert_int_equal(c.port, 10911);
    assert_true(c.size == 8192);
    assert_false(c.flag);
    assert_string_equal(c.name, "b1");
    assert_int_equal(c.mode, 1);
    /* bad values name the file, line and key */
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, "\nlistenPort=abc\n", "b.conf", err,
                                      sizeof err), RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "b.conf:2"));
    assert_non_null(strstr(err, "listenPort"));
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, "listenPort=70000\n", "c.conf", err,
                                      sizeof err), RMQ_ERR__CONFIG);
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, "flushDiskType=FAST\n", "d.conf", err,
                                      sizeof err), RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "SYNC_FLUSH"));
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, "autoCreateTopicEnable=yes\n", "e.conf",
                                      err, sizeof err), RMQ_ERR__CONFIG);
    assert_int_equal(rmq_kv_load_text(defs, NDEFS, &c, "justakey\n", "f.conf", err, sizeof err),
                     RMQ_ERR__CONFIG);
    assert_int_equal(rmq_kv_load_file(defs, NDEFS, &c, "/nonexistent/x.conf", err, sizeof err),
                     RMQ_ERR__IO);
    /* print shows the effective values */
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    rmq_kv_print(defs, NDEFS, &c, f);
    fclose(f);
    assert_non_null(strstr(out, "listenPort=10911\n"));
    assert_non_null(strstr(out, "flushDiskType=SYNC_FLUSH\n"));
    free(out);
    rmq_kv_free(defs, NDEFS, &c);
}

static void test_main_args(void **st) {
    (void)st;
    cfg_t c;
    rmq_kv_defaults(defs, NDEFS, &c);
    char path[] = "/tmp/rmq-kv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "listenPort=1234\nbrokerName=fromfile\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *argv[] = {"prog", "-c", path, "-n", "ns1:9876;ns2:9876", "-D", "listenPort=4321", NULL};
    assert_int_equal(rmq_kv_main_args(7, argv, "prog", defs, NDEFS, &c, "brokerName"), 0);
    assert_int_equal(c.port, 4321);
    assert_string_equal(c.name, "ns1:9876;ns2:9876");
    char *bad[] = {"prog", "--bogus", NULL};
    assert_int_equal(rmq_kv_main_args(2, bad, "prog", defs, NDEFS, &c, NULL), -1);
    unlink(path);
    rmq_kv_free(defs, NDEFS, &c);
}

typedef struct {
    rmq_mbox_node_t node;
    int v;
} item_t;
typedef struct {
    rmq_mailbox_t mb;
    int sum, count;
} mb_ctx_t;

static void on_item(rmq_mbox_node_t *n, void *arg) {
    mb_ctx_t *c = arg;
    item_t *it = (item_t *)n;
    c->sum += it->v;
    c->count++;
    free(it);
    if (c->count == 2000) rmq_mailbox_close(&c->mb, NULL);
}

static void *poster(void *arg) {
    mb_ctx_t *c = arg;
    for (int i = 0; i < 1000; i++) {
        item_t *it = malloc(sizeof *it);
        it->v = 1;
        assert_true(rmq_mailbox_post(&c->mb, &it->node));
    }
    return NULL;
}

static void test_mailbox(void **st) {
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mb_ctx_t c = {0};
    assert_int_equal(rmq_mailbox_init(&c.mb, &loop, on_item, &c), 0);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, poster, &c);
    pthread_create(&t2, NULL, poster, &c);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(c.sum, 2000);
    item_t late;
    assert_false(rmq_mailbox_post(&c.mb, &late.node));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int count_lines;
static void log_cb(int lvl, const char *line, void *op) {
    (void)lvl; (void)op;
    assert_non_null(strstr(line, "[test] n=7"));
    count_lines++;
}

static void test_log(void **st) {
    (void)st;
    rmq_log_set_cb(log_cb, NULL, RMQ_LOG_LVL_INFO);
    RMQ_LOG_INFO("test", "n=%d", 7);
    RMQ_LOG_DEBUG("test", "n=%d", 8); /* filtered */
    unsigned long before = rmq_log_error_count();
    RMQ_LOG_ERROR("test", "n=%d", 7);
    assert_int_equal(count_lines, 2);
    assert_int_equal(rmq_log_error_count(), before + 1);
    assert_int_equal(rmq_log_level_parse("warn"), RMQ_LOG_LVL_WARN);
    assert_int_equal(rmq_log_level_parse("nope"), -2);
    rmq_log_close();
}

static void test_fjson(void **st) {
    (void)st;
    const char *cases[][2] = {
        {"{0:\"a\",1:\"b\"}", "{\"0\":\"a\",\"1\":\"b\"}"},
        {"{ 12 : \"x\" , -3:1}", "{ \"12\" : \"x\" , \"-3\":1}"},
        {"{\"k\":\"{0:1}\",\"a\":[0,1,2]}", "{\"k\":\"{0:1}\",\"a\":[0,1,2]}"},
        {"{\"s\":\"q\\\"{1:2}\"}", "{\"s\":\"q\\\"{1:2}\"}"},
        {"{\"a\":{7:{8:9}}}", "{\"a\":{\"7\":{\"8\":9}}}"},
        /* a MessageQueue object as a map key (ConsumeStats, ResetOffsetBody) */
        {"{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:5}",
         "{\"{\\\"brokerName\\\":\\\"b\\\",\\\"queueId\\\":0,\\\"topic\\\":\\\"T\\\"}\":5}"},
    };
    for (size_t i = 0; i < RMQ_ARRAY_LEN(cases); i++) {
        char *o = rmq_fjson_normalize(cases[i][0], strlen(cases[i][0]));
        assert_non_null(o);
        assert_string_equal(o, cases[i][1]);
        free(o);
    }
    assert_null(rmq_fjson_normalize("{\"a\":[1,2}", 10));
    char err[128];
    json_t *j = rmq_fjson_parse("{0:{\"x\":1}}", 12, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "0"), "x")), 1);
    json_decref(j);
    assert_null(rmq_fjson_parse("{\"a\":", 5, err, sizeof err));
    assert_true(strlen(err) > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_hash), cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_be),        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_kvconf),    cmocka_unit_test(test_main_args),
        cmocka_unit_test(test_mailbox),   cmocka_unit_test(test_log),
        cmocka_unit_test(test_fjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
