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
#include "common/map.h"
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
    assert_int_equal(
        rmq_kv_load_text(defs, NDEFS, &c, "\nlistenPort=abc\n", "b.conf", err, sizeof err),
        RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "b.conf:2"));
    assert_non_null(strstr(err, "listenPort"));
    assert_int_equal(
        rmq_kv_load_text(defs, NDEFS, &c, "listenPort=70000\n", "c.conf", err, sizeof err),
        RMQ_ERR__CONFIG);
    assert_int_equal(
        rmq_kv_load_text(defs, NDEFS, &c, "flushDiskType=FAST\n", "d.conf", err, sizeof err),
        RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "SYNC_FLUSH"));
    assert_int_equal(
        rmq_kv_load_text(defs, NDEFS, &c, "autoCreateTopicEnable=yes\n", "e.conf", err, sizeof err),
        RMQ_ERR__CONFIG);
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
    (void)lvl;
    (void)op;
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
    /* objects as keys inside objects as keys: each level escapes the one inside again (the
     * output doubles per level), so past a few levels the text is refused, not expanded */
    char nest[256] = "", tail[256] = "";
    for (int d = 0; d < 30; d++) {
        strcat(nest, "{");
        strcat(tail, ":1}");
    }
    strcat(nest, "{\"k\":1}");
    strcat(nest, tail);
    assert_null(rmq_fjson_normalize(nest, strlen(nest)));
    char *two = rmq_fjson_normalize("{{{\"a\":1}:2}:3}", 15); /* two levels: still read */
    assert_non_null(two);
    free(two);
    char err[128];
    json_t *j = rmq_fjson_parse("{0:{\"x\":1}}", 12, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "0"), "x")), 1);
    json_decref(j);
    assert_null(rmq_fjson_parse("{\"a\":", 5, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(rmq_fjson_parse("{\"a\":1}\0{}", 10, err, sizeof err)); /* NUL inside */
    assert_non_null(strstr(err, "JSON"));

    /* strict readers: absent/null -> def, numbers as strings, wrong type -> -1 */
    j = rmq_fjson_parse("{\"i\":\"4\",\"n\":null,\"b\":true,\"s\":\"x\",\"big\":3000000000}", 52,
                        err, sizeof err);
    assert_non_null(j);
    int64_t v;
    int iv;
    const char *s;
    assert_int_equal(rmq_fj_read_i64(j, "i", 9, &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(rmq_fj_read_i64(j, "n", 9, &v), 0);
    assert_int_equal(v, 9);
    assert_int_equal(rmq_fj_read_i64(j, "nope", 9, &v), 0);
    assert_int_equal(v, 9);
    assert_int_equal(rmq_fj_read_i64(j, "b", 9, &v), -1);
    assert_int_equal(rmq_fj_read_i64(j, "s", 9, &v), -1);
    assert_int_equal(v, 9);
    assert_int_equal(rmq_fj_get_i64(j, "s", 9), 9);
    assert_int_equal(rmq_fj_get_i64(j, "i", 9), 4);
    assert_int_equal(rmq_fj_read_int(j, "big", 1, &iv), -1);
    assert_int_equal(iv, 1);
    assert_int_equal(rmq_fj_read_int(j, "i", 1, &iv), 0);
    assert_int_equal(iv, 4);
    assert_int_equal(rmq_fj_read_str(j, "s", "d", &s), 0);
    assert_string_equal(s, "x");
    assert_int_equal(rmq_fj_read_str(j, "n", "d", &s), 0);
    assert_string_equal(s, "d");
    assert_int_equal(rmq_fj_read_str(j, "i", "d", &s), 0);
    assert_int_equal(rmq_fj_read_str(j, "big", "d", &s), -1);
    assert_string_equal(s, "d");
    json_decref(j);
}

static bool drop_odd(rmq_map_ent_t *e, void *arg) {
    (*(int *)arg)++;
    return e->v.i64 % 2 == 1;
}

static void test_map(void **st) {
    (void)st;
    rmq_map_t m;
    rmq_map_init(&m);
    assert_null(rmq_map_get(&m, "absent"));
    assert_null(rmq_map_first(&m, &(size_t){0}));
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(rmq_map_put(&m, k, (void *)(intptr_t)(i + 1), NULL), RMQ_OK);
    }
    assert_int_equal(m.count, 1000);
    assert_int_equal((intptr_t)rmq_map_get(&m, "k500"), 501);
    void *old;
    assert_int_equal(rmq_map_put(&m, "k500", (void *)(intptr_t)7, &old), RMQ_OK);
    assert_int_equal((intptr_t)old, 501);
    assert_int_equal(m.count, 1000);
    assert_true(rmq_map_has(&m, "k500"));
    assert_int_equal((intptr_t)rmq_map_del(&m, "k500"), 7);
    assert_false(rmq_map_has(&m, "k500"));
    assert_null(rmq_map_del(&m, "k500"));
    assert_int_equal(m.count, 999);

    /* entries stay put across growth: a kept pointer still holds its key and value */
    rmq_map_t q;
    rmq_map_init(&q);
    bool created;
    rmq_map_ent_t *e = rmq_map_upsert(&q, "T-0\0x", 5, &created); /* binary key */
    assert_non_null(e);
    assert_true(created);
    e->v.i64 = 42;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "T-%d", i);
        assert_non_null(rmq_map_upsert(&q, k, strlen(k), NULL));
    }
    assert_ptr_equal(rmq_map_find(&q, "T-0\0x", 5), e);
    assert_int_equal(e->v.i64, 42);
    assert_ptr_equal(rmq_map_upsert(&q, "T-0\0x", 5, &created), e);
    assert_false(created);
    assert_int_equal(q.count, 201);

    /* iteration sees each entry once; each() removes what fn says */
    size_t bi, seen = 0;
    for (rmq_map_ent_t *x = rmq_map_first(&q, &bi); x; x = rmq_map_next(&q, &bi, x)) seen++;
    assert_int_equal(seen, 201);
    for (rmq_map_ent_t *x = rmq_map_first(&q, &bi); x; x = rmq_map_next(&q, &bi, x))
        x->v.i64 = x->klen; /* "T-1" 3 (odd), "T-10" 4 (even), "T-100" 5 (odd) */
    e->v.i64 = 0;           /* the binary key stays */
    int visits = 0;
    rmq_map_each(&q, drop_odd, &visits);
    assert_int_equal(visits, 201);
    assert_int_equal(q.count, 1 + 90); /* the 5-byte key, "T-10".."T-99" */
    rmq_map_remove(&q, rmq_map_find(&q, "T-0\0x", 5));
    assert_int_equal(q.count, 90);

    /* sorted by key bytes */
    rmq_map_ent_t **v = rmq_map_sorted(&q);
    assert_non_null(v);
    for (size_t i = 1; i < q.count; i++) assert_true(strcmp(v[i - 1]->key, v[i]->key) < 0);
    assert_string_equal(v[0]->key, "T-10");
    free(v);
    rmq_map_clear(&q, NULL);
    assert_int_equal(q.count, 0);
    assert_null(rmq_map_get(&q, "T-10"));
    assert_non_null(rmq_map_upsert(&q, "again", 5, NULL));
    rmq_map_fini(&q, NULL);

    /* fini frees pointer values through free_val */
    rmq_map_put(&m, "owned", strdup("value"), NULL);
    free(rmq_map_del(&m, "owned"));
    rmq_map_put(&m, "owned", strdup("value"), NULL);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        rmq_map_del(&m, k);
    }
    assert_int_equal(m.count, 1);
    rmq_map_fini(&m, free);
    assert_int_equal(m.count, 0);
}

static void test_java_long(void **st) {
    (void)st;
    int64_t v = 5;
    assert_int_equal(rmq_parse_java_long("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rmq_parse_java_long("+17", &v), 0);
    assert_int_equal(v, 17);
    assert_int_equal(rmq_parse_java_long("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(rmq_parse_java_long("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    v = 5;
    assert_int_equal(rmq_parse_java_long("9223372036854775808", &v), -1);
    assert_int_equal(rmq_parse_java_long("", &v), -1);
    assert_int_equal(rmq_parse_java_long("-", &v), -1);
    assert_int_equal(rmq_parse_java_long(" 1", &v), -1); /* strtoll would take it; Java not */
    assert_int_equal(rmq_parse_java_long("1 ", &v), -1);
    assert_int_equal(rmq_parse_java_long("0x10", &v), -1);
    assert_int_equal(v, 5);
    assert_true(rmq_hash("", 0) == 14695981039346656037ULL);
    assert_true(rmq_hash("a", 1) == 0xaf63dc4c8601ec8cULL); /* FNV-1a 64 test vector */
    char dec[21];
    assert_string_equal(rmq_i64_str(0, dec), "0");
    assert_string_equal(rmq_i64_str(-7, dec), "-7");
    assert_string_equal(rmq_i64_str(1700000000000LL, dec), "1700000000000");
    assert_string_equal(rmq_i64_str(INT64_MAX, dec), "9223372036854775807");
    assert_string_equal(rmq_i64_str(INT64_MIN, dec), "-9223372036854775808");
    assert_int_equal(rmq_i64_dec(-12, dec) - dec, 3);
}

static void test_json_put_str(void **st) {
    (void)st;
    rmq_buf_t b;
    rmq_buf_init(&b);
    const char in[] = "a\"b\\c\b\f\n\r\t\x01 \xc3\xa9 \xf0\x9f\x98\x80";
    assert_int_equal(rmq_json_put_strn(&b, in, sizeof in - 1, false), RMQ_OK);
    const char raw[] = "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001 \xc3\xa9 \xf0\x9f\x98\x80\"";
    assert_int_equal(b.len, sizeof raw - 1);
    assert_memory_equal(b.data, raw, b.len);
    rmq_buf_reset(&b);
    assert_int_equal(rmq_json_put_strn(&b, in, sizeof in - 1, true), RMQ_OK);
    const char ascii[] = "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001 \\u00E9 \\uD83D\\uDE00\"";
    assert_int_equal(b.len, sizeof ascii - 1);
    assert_memory_equal(b.data, ascii, b.len);
    /* a truncated sequence at the end reads as U+FFFD, never past the input */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_json_put_strn(&b, "\xe2\x82", 2, true), RMQ_OK);
    assert_int_equal(b.len, 14);
    assert_memory_equal(b.data, "\"\\uFFFD\\uFFFD\"", 14);
    rmq_buf_reset(&b);
    assert_int_equal(rmq_json_put_str(&b, NULL), RMQ_OK);
    assert_memory_equal(b.data, "\"\"", 2);
    /* one special byte at every position of a 24-byte run of plain ones: the 8-at-a-time copy
     * stops exactly before it (and 0x7f, ' ', UTF-8 stay as they are) */
    static const struct {
        const char *in, *out;
    } sp[] = {{"\"", "\\\""},      {"\\", "\\\\"},   {"\n", "\\n"}, {"\x01", "\\u0001"},
              {"\x1f", "\\u001f"}, {"\x7f", "\x7f"}, {" ", " "},    {"\xc3\xa9", "\xc3\xa9"}};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
        for (size_t pos = 0; pos <= 22; pos++) {
            char in2[40], want[64];
            size_t il = strlen(sp[k].in);
            memset(in2, 'x', sizeof in2);
            memcpy(in2 + pos, sp[k].in, il);
            size_t n = 24 > pos + il ? 24 : pos + il;
            int wl = snprintf(want, sizeof want, "\"%.*s%s%.*s\"", (int)pos, in2, sp[k].out,
                              (int)(n - pos - il), in2 + pos + il);
            rmq_buf_reset(&b);
            assert_int_equal(rmq_json_put_strn(&b, in2, n, false), RMQ_OK);
            assert_int_equal(b.len, (size_t)wl);
            assert_memory_equal(b.data, want, (size_t)wl);
        }
    }
    rmq_buf_fini(&b);
}

/* Size rotation: path, path.1 .. path.keep, the oldest dropped, every kept line whole and in
 * order across the files, each file within the limit. */
static void test_log_rotation(void **state) {
    char dir[] = "/tmp/rmq-logrot.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], p[160];
    snprintf(path, sizeof path, "%s/broker.log", dir);
    assert_int_equal(rmq_log_open(path, RMQ_LOG_LVL_INFO, false), 0);
    rmq_log_set_rotation(2000, 3, false);
    for (int i = 0; i < 200; i++) RMQ_LOG_INFO("t", "line %04d of the rotation test", i);
    rmq_log_set_rotation(0, 0, false);
    rmq_log_close();
    int last = -1, files = 0;
    for (int k = 3; k >= 0; k--) { /* oldest first */
        if (k)
            snprintf(p, sizeof p, "%s.%d", path, k);
        else
            snprintf(p, sizeof p, "%s", path);
        FILE *f = fopen(p, "r");
        assert_non_null(f);
        files++;
        fseek(f, 0, SEEK_END);
        assert_true(ftell(f) <= 2000);
        rewind(f);
        char line[256];
        while (fgets(line, sizeof line, f)) {
            const char *m = strstr(line, "line ");
            if (!m) {
                assert_non_null(strstr(line, "log rotated (size)"));
                continue;
            }
            int n = atoi(m + 5);
            if (last >= 0) assert_int_equal(n, last + 1); /* no line lost between files */
            last = n;
        }
        fclose(f);
        unlink(p);
    }
    assert_int_equal(files, 4);
    assert_int_equal(last, 199);
    snprintf(p, sizeof p, "%s.4", path);
    assert_int_equal(access(p, F_OK), -1); /* keep 3: nothing beyond .3 */
    rmdir(dir);
}

/* Deadlines: normalised, and ms from now on the clock asked for. */
static void test_deadline_ts(void **st) {
    (void)st;
    for (uint64_t ms = 0; ms < 3000; ms += 37) {
        struct timespec now, d = rmq_deadline_ts(CLOCK_MONOTONIC, ms);
        clock_gettime(CLOCK_MONOTONIC, &now);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        int64_t ahead =
            ((int64_t)d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
        assert_true(ahead <= (int64_t)ms && ahead >= (int64_t)ms - 50);
    }
    struct timespec now, d = rmq_deadline_ts(CLOCK_REALTIME, 1500);
    clock_gettime(CLOCK_REALTIME, &now);
    assert_true(d.tv_sec - now.tv_sec >= 1 && d.tv_sec - now.tv_sec <= 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_ts), cmocka_unit_test(test_java_hash),
        cmocka_unit_test(test_crc32),       cmocka_unit_test(test_be),
        cmocka_unit_test(test_buf),         cmocka_unit_test(test_kvconf),
        cmocka_unit_test(test_main_args),   cmocka_unit_test(test_mailbox),
        cmocka_unit_test(test_log),         cmocka_unit_test(test_log_rotation),
        cmocka_unit_test(test_fjson),       cmocka_unit_test(test_map),
        cmocka_unit_test(test_java_long),   cmocka_unit_test(test_json_put_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
