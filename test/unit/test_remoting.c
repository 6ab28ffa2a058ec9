/* Unit tests for remoting/: golden frames from protocol.md, decoder edge cases, and a loopback
 * server + client exercising requests, responses, oneway, timeouts, server-initiated requests,
 * connection loss, reconnect, bad frames and zero-copy bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "remoting/client.h"
#include "remoting/frame.h"
#include "remoting/internal.h"
#include "remoting/server.h"

/* ------------------------------------------------------------------ codec helpers */

/* Frame = be32 total | be32 (type<<24|hlen) | header | body. */
static size_t mk_frame(uint8_t *out, int type, const void *hdr, size_t hlen, const void *body,
                       size_t blen) {
    rmq_put_be32(out, (uint32_t)(4 + hlen + blen));
    rmq_put_be32(out + 4, ((uint32_t)type << 24) | (uint32_t)hlen);
    memcpy(out + 8, hdr, hlen);
    if (blen) memcpy(out + 8 + hlen, body, blen);
    return 8 + hlen + blen;
}

static rmq_rem_cmd_t *decode_json_hdr(const char *json) {
    uint8_t f[4096];
    size_t n = mk_frame(f, 0, json, strlen(json), NULL, 0);
    rmq_rem_cmd_t *c = NULL;
    char err[128];
    ssize_t r = rmq_rem_frame_decode(f, n, RMQ_REM_FRAME_MAX_DEFAULT, &c, err, sizeof err);
    if (r < 0) return NULL;
    assert_int_equal(r, (ssize_t)n);
    return c;
}

static const char GOLDEN_JSON[] =
    "{\"code\":105,\"extFields\":{\"topic\":\"TopicTest\"},\"flag\":0,\"language\":\"JAVA\","
    "\"opaque\":0,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}";

static const uint8_t GOLDEN_BIN[] = {
    0x00, 0x00, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x00, 0x69, 0x00, 0x01, 0x99,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x14, 0x00, 0x05, 0x74, 0x6f, 0x70, 0x69, 0x63, 0x00, 0x00, 0x00,
    0x09, 0x54, 0x6f, 0x70, 0x69, 0x63, 0x54, 0x65, 0x73, 0x74,
};

/* ------------------------------------------------------------------ codec tests */

static void test_golden_json_encode(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    c->opaque = 0;
    c->language = RMQ_LANG_JAVA;
    assert_int_equal(rmq_rem_cmd_set(c, "topic", "TopicTest"), RMQ_OK);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    assert_int_equal(strlen(GOLDEN_JSON), 131);
    assert_int_equal(b.len, 139);
    static const uint8_t pre[8] = {0, 0, 0, 0x87, 0, 0, 0, 0x83};
    assert_memory_equal(b.data, pre, 8);
    assert_memory_equal(b.data + 8, GOLDEN_JSON, 131);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);

    /* one-letter keys (written without the escaper) and ones that need it, mixed */
    c = rmq_rem_cmd_new_request(310);
    c->opaque = 7;
    c->version = 433;
    c->language = RMQ_LANG_CPP;
    assert_int_equal(rmq_rem_cmd_set(c, "a", "g\"1"), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_set(c, "\"", "q"), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_set(c, "\\", "s"), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_set(c, "\001", "c"), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_set(c, "\xc3\xa9", "u"), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_set(c, "zz", "2"), RMQ_OK);
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    static const char want[] =
        "{\"code\":310,\"extFields\":{\"a\":\"g\\\"1\",\"\\\"\":\"q\",\"\\\\\":\"s\","
        "\"\\u0001\":\"c\",\"\xc3\xa9\":\"u\",\"zz\":\"2\"},\"flag\":0,\"language\":\"CPP\","
        "\"opaque\":7,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":433}";
    assert_int_equal(b.len, 8 + sizeof want - 1);
    assert_memory_equal(b.data + 8, want, sizeof want - 1);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);
}

static void test_golden_json_decode(void **st) {
    (void)st;
    uint8_t f[256];
    size_t n = mk_frame(f, 0, GOLDEN_JSON, strlen(GOLDEN_JSON), NULL, 0);
    assert_int_equal(n, 139);
    assert_int_equal(rmq_get_be32(f), 135);
    rmq_rem_cmd_t *c;
    char err[128];
    assert_int_equal(rmq_rem_frame_decode(f, n, RMQ_REM_FRAME_MAX_DEFAULT, &c, err, sizeof err),
                     139);
    assert_int_equal(c->code, 105);
    assert_int_equal(c->opaque, 0);
    assert_int_equal(c->flag, 0);
    assert_int_equal(c->version, 409);
    assert_int_equal(c->language, RMQ_LANG_JAVA);
    assert_int_equal(c->serialize_type, RMQ_REM_SER_JSON);
    assert_null(c->remark);
    assert_null(c->body);
    assert_string_equal(rmq_rem_cmd_get(c, "topic"), "TopicTest");
    assert_int_equal(c->next, 1);
    rmq_rem_cmd_destroy(c);
}

static void test_golden_binary(void **st) {
    (void)st;
    rmq_rem_cmd_t *c;
    char err[128];
    assert_int_equal(rmq_rem_frame_decode(GOLDEN_BIN, sizeof GOLDEN_BIN, RMQ_REM_FRAME_MAX_DEFAULT,
                                          &c, err, sizeof err),
                     (ssize_t)sizeof GOLDEN_BIN);
    assert_int_equal(c->serialize_type, RMQ_REM_SER_ROCKETMQ);
    assert_int_equal(c->code, 105);
    assert_int_equal(c->language, RMQ_LANG_JAVA);
    assert_int_equal(c->version, 409);
    assert_int_equal(c->opaque, 0);
    assert_int_equal(c->flag, 0);
    assert_null(c->remark);
    assert_string_equal(rmq_rem_cmd_get(c, "topic"), "TopicTest");
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    assert_int_equal(b.len, sizeof GOLDEN_BIN);
    assert_memory_equal(b.data, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);

    /* Built from scratch too. */
    c = rmq_rem_cmd_new_request(105);
    c->opaque = 0;
    c->language = RMQ_LANG_JAVA;
    c->serialize_type = RMQ_REM_SER_ROCKETMQ;
    rmq_rem_cmd_set(c, "topic", "TopicTest");
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    assert_int_equal(b.len, sizeof GOLDEN_BIN);
    assert_memory_equal(b.data, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);
}

static void test_binary_remark_body_roundtrip(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(310);
    c->serialize_type = RMQ_REM_SER_ROCKETMQ;
    rmq_rem_cmd_set_remarkf(c, "hello %d", 7);
    rmq_rem_cmd_set(c, "a", "1");
    rmq_rem_cmd_set(c, "b", "");
    rmq_rem_cmd_set_body_copy(c, "BODY", 4);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    rmq_rem_cmd_t *d;
    char err[128];
    assert_int_equal(rmq_rem_frame_decode(b.data, b.len, 0, &d, err, sizeof err), (ssize_t)b.len);
    assert_int_equal(d->code, 310);
    assert_int_equal(d->opaque, c->opaque);
    assert_string_equal(d->remark, "hello 7");
    assert_string_equal(rmq_rem_cmd_get(d, "a"), "1");
    assert_string_equal(rmq_rem_cmd_get(d, "b"), "");
    assert_int_equal(d->body_len, 4);
    assert_memory_equal(d->body, "BODY", 4);
    rmq_rem_cmd_destroy(d);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);
}

/* Append one binary ext field: key length (2), key, value length (4), value. */
static void bin_field(rmq_buf_t *b, const char *k, size_t kl, const char *v, size_t vl) {
    assert_int_equal(rmq_buf_append_be16(b, (uint16_t)kl), RMQ_OK);
    assert_int_equal(rmq_buf_append(b, k, kl), RMQ_OK);
    assert_int_equal(rmq_buf_append_be32(b, (uint32_t)vl), RMQ_OK);
    assert_int_equal(rmq_buf_append(b, v, vl), RMQ_OK);
}

/* Binary ext fields as Java's HashMap would hold them: a repeated key keeps its last value (in
 * the first one's place here), a value ends at a NUL, an empty key is dropped; past the 64
 * fields whose hashes are kept, repeats are still found. All in the command's one block. */
static void test_binary_fields(void **st) {
    (void)st;
    rmq_buf_t ext, b;
    rmq_buf_init(&ext);
    bin_field(&ext, "topic", 5, "T1", 2);
    bin_field(&ext, "a", 1, "x\0y", 3);
    bin_field(&ext, "", 0, "dropped", 7);
    bin_field(&ext, "topic", 5, "T2", 2);
    char k[16], v[16];
    for (int i = 0; i < 70; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        bin_field(&ext, k, strlen(k), v, strlen(v));
    }
    bin_field(&ext, "k67", 3, "again67", 7); /* a field past the 64 hashed ones */
    bin_field(&ext, "k3", 2, "again3", 6);
    bin_field(&ext, "a", 1, "last", 4);
    rmq_buf_init(&b);
    uint8_t fix[21] = {0, 10, RMQ_LANG_GO, 1, 0x99, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0};
    rmq_put_be32(fix + 17, (uint32_t)ext.len);
    assert_int_equal(rmq_buf_append_be32(&b, (uint32_t)(4 + sizeof fix + ext.len)), RMQ_OK);
    assert_int_equal(rmq_buf_append_be32(&b, 1u << 24 | (uint32_t)(sizeof fix + ext.len)), RMQ_OK);
    assert_int_equal(rmq_buf_append(&b, fix, sizeof fix), RMQ_OK);
    assert_int_equal(rmq_buf_append(&b, ext.data, ext.len), RMQ_OK);
    rmq_rem_cmd_t *c;
    char err[128];
    assert_int_equal(rmq_rem_frame_decode(b.data, b.len, 0, &c, err, sizeof err), (ssize_t)b.len);
    assert_int_equal(c->code, 10);
    assert_int_equal(c->language, RMQ_LANG_GO);
    assert_int_equal(c->version, 0x199);
    assert_int_equal(c->opaque, 9);
    assert_int_equal(c->next, 2 + 70);
    assert_string_equal(c->ext[0].key, "topic");
    assert_string_equal(c->ext[0].val, "T2");
    assert_string_equal(c->ext[1].key, "a");
    assert_string_equal(c->ext[1].val, "last");
    assert_string_equal(rmq_rem_cmd_get(c, "k3"), "again3");
    assert_string_equal(rmq_rem_cmd_get(c, "k67"), "again67");
    assert_string_equal(rmq_rem_cmd_get(c, "k69"), "v69");
    assert_null(rmq_rem_cmd_get(c, ""));
    for (size_t i = 0; i < c->next; i++) {
        assert_true(rmq_rem_cmd_in_blk_(c, c->ext[i].key));
        assert_true(rmq_rem_cmd_in_blk_(c, c->ext[i].val));
    }
    /* a value set later lives on its own and is freed with the command */
    assert_int_equal(rmq_rem_cmd_set(c, "k1", "a longer value than before"), RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(c, "k1"), "a longer value than before");
    /* encoded again (past the 32 fields whose lengths the encoder keeps) and decoded: the same */
    rmq_buf_t re;
    rmq_buf_init(&re);
    assert_int_equal(rmq_rem_frame_encode(c, &re), RMQ_OK);
    rmq_rem_cmd_t *d;
    assert_int_equal(rmq_rem_frame_decode(re.data, re.len, 0, &d, err, sizeof err),
                     (ssize_t)re.len);
    assert_int_equal(d->next, c->next);
    for (size_t i = 0; i < c->next; i++) {
        assert_string_equal(d->ext[i].key, c->ext[i].key);
        assert_string_equal(d->ext[i].val, c->ext[i].val);
    }
    rmq_rem_cmd_destroy(d);
    rmq_buf_fini(&re);
    rmq_rem_cmd_destroy(c);
    /* no fields at all */
    uint8_t bare[8 + 21] = {0, 0, 0, 25, 1, 0, 0, 21, 0, 11};
    assert_int_equal(rmq_rem_frame_decode(bare, sizeof bare, 0, &c, err, sizeof err),
                     (ssize_t)sizeof bare);
    assert_int_equal(c->code, 11);
    assert_int_equal(c->next, 0);
    assert_false(c->has_ext);
    rmq_rem_cmd_destroy(c);
    rmq_buf_fini(&b);
    rmq_buf_fini(&ext);
}

static void test_cpp_ons_scalars(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = decode_json_hdr(
        "{\"code\":10,\"extFields\":{\"queueId\":3,\"d\":4,\"e\":0,\"big\":1234567890123,"
        "\"neg\":-5,\"unitMode\":true,\"batch\":false,\"x\":null,\"r\":1.5,\"s\":\"str\","
        "\"Signature\":\"\",\"AccessKey\":\"\",\"ONSChannelKey\":\"\"},"
        "\"flag\":0,\"language\":\"CPP\",\"opaque\":5,\"remark\":\"\","
        "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":333}");
    assert_non_null(c);
    assert_int_equal(c->language, RMQ_LANG_CPP);
    assert_int_equal(c->version, 333);
    assert_string_equal(c->remark, "");
    assert_string_equal(rmq_rem_cmd_get(c, "queueId"), "3");
    assert_string_equal(rmq_rem_cmd_get(c, "e"), "0");
    assert_string_equal(rmq_rem_cmd_get(c, "big"), "1234567890123");
    assert_string_equal(rmq_rem_cmd_get(c, "neg"), "-5");
    assert_string_equal(rmq_rem_cmd_get(c, "unitMode"), "true");
    assert_string_equal(rmq_rem_cmd_get(c, "batch"), "false");
    assert_string_equal(rmq_rem_cmd_get(c, "r"), "1.5");
    assert_string_equal(rmq_rem_cmd_get(c, "s"), "str");
    assert_string_equal(rmq_rem_cmd_get(c, "Signature"), "");
    assert_null(rmq_rem_cmd_get(c, "x"));
    int32_t q;
    int64_t big;
    bool um;
    assert_int_equal(rmq_rem_cmd_get_i32(c, "queueId", &q), RMQ_OK);
    assert_int_equal(q, 3);
    assert_int_equal(rmq_rem_cmd_get_i64(c, "big", &big), RMQ_OK);
    assert_true(big == 1234567890123LL);
    assert_int_equal(rmq_rem_cmd_get_i32(c, "big", &q), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_rem_cmd_get_bool(c, "unitMode", &um), RMQ_OK);
    assert_true(um);
    assert_int_equal(rmq_rem_cmd_get_i64(c, "s", &big), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_rem_cmd_get_i64(c, "nope", &big), RMQ_ERR__NOT_FOUND);
    rmq_rem_cmd_destroy(c);

    /* ali-ons: no serializeTypeCurrentRPC, no remark, numbers for header values. */
    c = decode_json_hdr("{\"code\":11,\"language\":\"JAVA\",\"version\":121,\"opaque\":42,"
                        "\"flag\":0,\"extFields\":{\"queueOffset\":100,\"sysFlag\":2}}");
    assert_non_null(c);
    assert_int_equal(c->opaque, 42);
    assert_null(c->remark);
    assert_string_equal(rmq_rem_cmd_get(c, "queueOffset"), "100");
    rmq_rem_cmd_destroy(c);
}

static void test_go_style(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = decode_json_hdr("{\"code\":34,\"language\":\"GO\",\"version\":317,"
                                       "\"opaque\":1,\"flag\":0,\"remark\":\"\",\"extFields\":{}}");
    assert_non_null(c);
    assert_int_equal(c->language, RMQ_LANG_GO);
    assert_true(c->has_ext);
    assert_int_equal(c->next, 0);
    assert_string_equal(c->remark, "");
    /* Re-encoded: empty extFields and empty remark survive, keys in fastjson order. */
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode_header(c, &b), RMQ_OK);
    const char *want = "{\"code\":34,\"extFields\":{},\"flag\":0,\"language\":\"GO\",\"opaque\":1,"
                       "\"remark\":\"\",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":317}";
    assert_int_equal(b.len - 8, strlen(want));
    assert_memory_equal(b.data + 8, want, strlen(want));
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);

    /* Unknown language name and missing fields. */
    c = decode_json_hdr("{\"code\":1,\"language\":\"COBOL\"}");
    assert_non_null(c);
    assert_int_equal(c->language, RMQ_LANG_OTHER);
    assert_int_equal(c->opaque, 0);
    assert_false(c->has_ext);
    rmq_rem_cmd_destroy(c);
    c = decode_json_hdr("{}");
    assert_non_null(c);
    assert_int_equal(c->code, 0);
    rmq_rem_cmd_destroy(c);
}

static void test_escapes(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = decode_json_hdr(
        "{\"code\":310,\"extFields\":{\"i\":\"a\\u0001b\\u0002\",\"smile\":\"\\ud83d\\ude00\","
        "\"q\":\"\\\"\\\\\\/\\n\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,"
        "\"remark\":\"caf\\u00e9\",\"version\":409}");
    assert_non_null(c);
    assert_string_equal(rmq_rem_cmd_get(c, "i"), "a\x01"
                                                 "b\x02");
    assert_string_equal(rmq_rem_cmd_get(c, "smile"), "\xf0\x9f\x98\x80");
    assert_string_equal(rmq_rem_cmd_get(c, "q"), "\"\\/\n");
    assert_string_equal(c->remark, "caf\xc3\xa9");
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode_header(c, &b), RMQ_OK);
    const char *want = "{\"code\":310,\"extFields\":{\"i\":\"a\\u0001b\\u0002\",\"smile\":\""
                       "\xf0\x9f\x98\x80\",\"q\":\"\\\"\\\\/\\n\"},\"flag\":0,"
                       "\"language\":\"JAVA\",\"opaque\":1,\"remark\":\"caf\xc3\xa9\","
                       "\"serializeTypeCurrentRPC\":\"JSON\","
                       "\"version\":409}";
    assert_int_equal(b.len - 8, strlen(want));
    assert_memory_equal(b.data + 8, want, strlen(want));
    /* And it reads back the same. */
    rmq_rem_cmd_t *d;
    char err[64];
    assert_true(rmq_rem_frame_decode(b.data, b.len, 0, &d, err, sizeof err) > 0);
    assert_string_equal(rmq_rem_cmd_get(d, "i"), "a\x01"
                                                 "b\x02");
    assert_string_equal(rmq_rem_cmd_get(d, "smile"), "\xf0\x9f\x98\x80");
    rmq_rem_cmd_destroy(d);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);
}

static void test_truncated_bytewise(void **st) {
    (void)st;
    uint8_t f[512];
    size_t n = mk_frame(f, 0, GOLDEN_JSON, strlen(GOLDEN_JSON), "xyz", 3);
    memcpy(f + n, GOLDEN_BIN, sizeof GOLDEN_BIN); /* a second frame right behind */
    size_t total = n + sizeof GOLDEN_BIN;
    rmq_rem_cmd_t *c;
    char err[128];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rmq_rem_frame_decode(f, i, 0, &c, err, sizeof err), 0);
    assert_int_equal(rmq_rem_frame_decode(f, total, 0, &c, err, sizeof err), (ssize_t)n);
    assert_int_equal(c->body_len, 3);
    assert_memory_equal(c->body, "xyz", 3);
    rmq_rem_cmd_destroy(c);
    for (size_t i = n; i < total; i++)
        assert_int_equal(rmq_rem_frame_decode(f + n, i - n, 0, &c, err, sizeof err), 0);
    assert_int_equal(rmq_rem_frame_decode(f + n, total - n, 0, &c, err, sizeof err),
                     (ssize_t)sizeof GOLDEN_BIN);
    assert_int_equal(c->code, 105);
    rmq_rem_cmd_destroy(c);
}

static void test_bad_frames(void **st) {
    (void)st;
    rmq_rem_cmd_t *c = (rmq_rem_cmd_t *)1;
    char err[128] = "";
    /* Oversized prefix refused on its 4 bytes alone. */
    uint8_t big[4] = {0x01, 0x00, 0x00, 0x00};
    assert_int_equal(rmq_rem_frame_decode(big, 4, RMQ_REM_FRAME_MAX_DEFAULT, &c, err, sizeof err),
                     RMQ_ERR__BAD_FRAME);
    assert_null(c);
    assert_true(strlen(err) > 0);
    /* The exact cap: total+4 == max is fine, one more is not. */
    uint8_t edge[4];
    rmq_put_be32(edge, 1000 - 4);
    assert_int_equal(rmq_rem_frame_decode(edge, 4, 1000, &c, err, sizeof err), 0);
    rmq_put_be32(edge, 1000 - 3);
    assert_int_equal(rmq_rem_frame_decode(edge, 4, 1000, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
    /* Header length beyond the frame. */
    uint8_t f[64] = {0, 0, 0, 8, 0, 0, 0, 0x10, '{', '}', 0, 0};
    assert_int_equal(rmq_rem_frame_decode(f, 12, 0, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
    /* Frame too short to hold the header word. */
    uint8_t s3[8] = {0, 0, 0, 3, 0, 0, 0};
    assert_int_equal(rmq_rem_frame_decode(s3, 7, 0, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
    /* Garbage and non-object JSON. */
    const char *bad[] = {"{abc", "[1,2]", "\"x\"", "", "{\"code\":1", "nul"};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(bad); i++) {
        size_t n = mk_frame(f, 0, bad[i], strlen(bad[i]), NULL, 0);
        assert_int_equal(rmq_rem_frame_decode(f, n, 0, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
        assert_null(c);
    }
    /* Unknown serialize type. */
    size_t n = mk_frame(f, 2, "{}", 2, NULL, 0);
    assert_int_equal(rmq_rem_frame_decode(f, n, 0, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
    /* Binary header with lengths past its end. */
    uint8_t bin[64];
    memcpy(bin, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_put_be32(bin + 8 + 13, 1000); /* remark length */
    assert_int_equal(rmq_rem_frame_decode(bin, sizeof GOLDEN_BIN, 0, &c, err, sizeof err),
                     RMQ_ERR__BAD_FRAME);
    memcpy(bin, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_put_be32(bin + 8 + 17, 21); /* ext length one past */
    assert_int_equal(rmq_rem_frame_decode(bin, sizeof GOLDEN_BIN, 0, &c, err, sizeof err),
                     RMQ_ERR__BAD_FRAME);
    memcpy(bin, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_put_be16(bin + 8 + 21, 200); /* key length past the ext area */
    assert_int_equal(rmq_rem_frame_decode(bin, sizeof GOLDEN_BIN, 0, &c, err, sizeof err),
                     RMQ_ERR__BAD_FRAME);
    memcpy(bin, GOLDEN_BIN, sizeof GOLDEN_BIN);
    rmq_put_be32(bin + 8 + 28, 0x80000000u); /* negative value length */
    assert_int_equal(rmq_rem_frame_decode(bin, sizeof GOLDEN_BIN, 0, &c, err, sizeof err),
                     RMQ_ERR__BAD_FRAME);
    n = mk_frame(f, 1, GOLDEN_BIN + 8, 20, NULL, 0); /* shorter than the fixed 21 bytes */
    assert_int_equal(rmq_rem_frame_decode(f, n, 0, &c, err, sizeof err), RMQ_ERR__BAD_FRAME);
}

static void test_cmd_api(void **st) {
    (void)st;
    rmq_rem_cmd_t *a = rmq_rem_cmd_new_request(10);
    rmq_rem_cmd_t *b = rmq_rem_cmd_new_request(10);
    assert_int_equal(b->opaque, a->opaque + 1);
    assert_int_equal(a->language, RMQ_LANG_OTHER);
    assert_int_equal(a->version, RMQ_REM_VERSION);
    assert_int_equal(a->flag, 0);
    rmq_rem_cmd_set_i64(a, "n", -42);
    rmq_rem_cmd_set_bool(a, "t", true);
    rmq_rem_cmd_set(a, "n", "43"); /* replace keeps one entry */
    assert_int_equal(a->next, 2);
    assert_string_equal(rmq_rem_cmd_get(a, "n"), "43");
    assert_string_equal(rmq_rem_cmd_get(a, "t"), "true");
    a->serialize_type = RMQ_REM_SER_ROCKETMQ;
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(a, RMQ_ERR_SYSTEM_ERROR, "boom");
    assert_int_equal(r->opaque, a->opaque);
    assert_int_equal(r->flag, RMQ_REM_FLAG_RESPONSE);
    assert_int_equal(r->language, RMQ_LANG_JAVA);
    assert_int_equal(r->serialize_type, RMQ_REM_SER_ROCKETMQ);
    assert_string_equal(r->remark, "boom");
    assert_true(rmq_rem_cmd_is_response(r));
    rmq_rem_cmd_set_remarkf(r, NULL);
    assert_null(r->remark);
    assert_int_equal(rmq_rem_language_code("GO"), RMQ_LANG_GO);
    assert_string_equal(rmq_rem_language_name(RMQ_LANG_RUST), "RUST");
    assert_string_equal(rmq_rem_language_name(99), "OTHER");
    rmq_rem_cmd_destroy(a);
    rmq_rem_cmd_destroy(b);
    rmq_rem_cmd_destroy(r);
    rmq_rem_cmd_destroy(NULL);
}

/* The allocation-free JSON path must take the headers peers send and agree with jansson. */
static void test_fast_json_matches_jansson(void **st) {
    (void)st;
    const char *take[] = {
        GOLDEN_JSON,
        "{\"code\":0,\"extFields\":{\"MSG_REGION\":\"DefaultRegion\",\"TRACE_ON\":\"true\","
        "\"msgId\":\"C0A8000A00002A9F0000000000000000\",\"queueId\":\"1\",\"queueOffset\":\"0\"},"
        "\"flag\":1,\"language\":\"JAVA\",\"opaque\":9,\"serializeTypeCurrentRPC\":\"JSON\","
        "\"version\":409}",
        "{\"code\":34,\"language\":\"GO\",\"version\":317,\"opaque\":1,\"flag\":0,\"remark\":\"\","
        "\"extFields\":{}}",
        "{ \"code\" : 10 , \"extFields\" : { \"queueId\" : 3 , \"b\" : false , \"n\" : -7 } ,"
        "\"language\":\"CPP\",\"opaque\":-2147483648,\"remark\":null}\n",
        "{\"code\":310,\"extFields\":{\"i\":\"a\\u0001b\\u0002\",\"s\":\"\\ud83d\\ude00\","
        "\"u\":\"caf\xc3\xa9 \\u00e9\\t\"},\"flag\":0,\"opaque\":1}",
        "{}",
    };
    for (size_t i = 0; i < RMQ_ARRAY_LEN(take); i++) {
        rmq_rem_cmd_t *f = calloc(1, sizeof *f), *j = calloc(1, sizeof *j);
        char err[128];
        const uint8_t *h = (const uint8_t *)take[i];
        assert_int_equal(rmq_rem_decode_json_fast_(h, strlen(take[i]), f), 1);
        assert_int_equal(rmq_rem_decode_json_slow_(h, strlen(take[i]), j, err, sizeof err), 0);
        assert_int_equal(f->code, j->code);
        assert_int_equal(f->opaque, j->opaque);
        assert_int_equal(f->flag, j->flag);
        assert_int_equal(f->version, j->version);
        assert_int_equal(f->language, j->language);
        assert_true((f->remark == NULL) == (j->remark == NULL));
        if (f->remark) assert_string_equal(f->remark, j->remark);
        assert_int_equal(f->has_ext, j->has_ext);
        assert_int_equal(f->next, j->next);
        for (size_t k = 0; k < f->next; k++) {
            assert_string_equal(f->ext[k].key, j->ext[k].key);
            assert_string_equal(f->ext[k].val, j->ext[k].val);
        }
        rmq_rem_cmd_destroy(f);
        rmq_rem_cmd_destroy(j);
    }
    /* Left to jansson: reals, nulls in extFields, nested values, unknown keys, \u0000, dups. */
    const char *leave[] = {
        "{\"code\":1.5}",
        "{\"extFields\":{\"a\":null}}",
        "{\"extFields\":{\"a\":[1]}}",
        "{\"foo\":1}",
        "{\"remark\":\"a\\u0000b\"}",
        "{\"extFields\":{\"a\":\"1\",\"a\":\"2\"}}",
        "{\"code\":1,\"code\":2}",
        "{\"code\":-0}",
        "{\"code\":1234567890123456789}",
        "{\"remark\":\"\\ud800\"}",
        "{\"remark\":\"\xff\"}",
        "{\"code\":1}x",
        "[1]",
    };
    for (size_t i = 0; i < RMQ_ARRAY_LEN(leave); i++) {
        rmq_rem_cmd_t *f = calloc(1, sizeof *f);
        const uint8_t *h = (const uint8_t *)leave[i];
        assert_int_equal(rmq_rem_decode_json_fast_(h, strlen(leave[i]), f), 0);
        rmq_rem_cmd_destroy(f);
    }
    /* Through the public decoder the fallback still gives the lenient answer. */
    rmq_rem_cmd_t *c = decode_json_hdr("{\"code\":12,\"extFields\":{\"a\":null,\"b\":2.25,"
                                       "\"c\":{\"x\":1}},\"opaque\":\"77\"}");
    assert_non_null(c);
    assert_int_equal(c->code, 12);
    assert_int_equal(c->opaque, 77);
    assert_null(rmq_rem_cmd_get(c, "a"));
    assert_string_equal(rmq_rem_cmd_get(c, "b"), "2.25");
    assert_string_equal(rmq_rem_cmd_get(c, "c"), "{\"x\":1}");
    rmq_rem_cmd_set(c, "b", "replaced");
    rmq_rem_cmd_set(c, "b", "again");
    assert_string_equal(rmq_rem_cmd_get(c, "b"), "again");
    rmq_rem_cmd_destroy(c);
}

/* The fast parser copies plain bytes 8 at a time: a special byte at every position of a
 * word, near the end of the header and next to another must still decode as jansson does. */
static void test_fast_json_words(void **st) {
    (void)st;
    const char *special[] = {"\\\"",     "\\\\",           "\\u0001", "\\u0002\\u0001",
                             "\xc3\xa9", "\\ud83d\\ude00", "\\/",     "\xe2\x82\xac",
                             "\\n"};
    char val[128], hdr[256];
    for (size_t s = 0; s < RMQ_ARRAY_LEN(special); s++) {
        for (size_t pre = 0; pre < 19; pre++) {
            for (size_t post = 0; post < 11; post += 5) {
                size_t n = 0;
                for (size_t i = 0; i < pre; i++) val[n++] = (char)('a' + i % 26);
                n += (size_t)sprintf(val + n, "%s", special[s]);
                for (size_t i = 0; i < post; i++) val[n++] = (char)('A' + i);
                val[n] = 0;
                int hl =
                    snprintf(hdr, sizeof hdr, "{\"code\":310,\"extFields\":{\"i\":\"%s\"}}", val);
                rmq_rem_cmd_t *f = calloc(1, sizeof *f), *j = calloc(1, sizeof *j);
                char err[128];
                assert_int_equal(rmq_rem_decode_json_fast_((const uint8_t *)hdr, (size_t)hl, f), 1);
                assert_int_equal(
                    rmq_rem_decode_json_slow_((const uint8_t *)hdr, (size_t)hl, j, err, sizeof err),
                    0);
                assert_int_equal(f->next, 1);
                assert_string_equal(f->ext[0].val, j->ext[0].val);
                rmq_rem_cmd_destroy(f);
                rmq_rem_cmd_destroy(j);
            }
        }
    }
    /* raw control bytes, invalid UTF-8 and an unterminated string anywhere in a word: the fast
     * parser gives up (jansson refuses them, or decides) */
    const char *bad[] = {"\x01", "\x1f", "\xff", "\xc3(", "\t"};
    for (size_t s = 0; s < RMQ_ARRAY_LEN(bad); s++) {
        for (size_t pre = 0; pre < 17; pre++) {
            int hl = snprintf(hdr, sizeof hdr,
                              "{\"code\":310,\"extFields\":{\"i\":\"%.*s%sxyzxyzxyz\"}}", (int)pre,
                              "abcdefghijklmnopqrstuvwxyz", bad[s]);
            rmq_rem_cmd_t *f = calloc(1, sizeof *f);
            assert_int_equal(rmq_rem_decode_json_fast_((const uint8_t *)hdr, (size_t)hl, f), 0);
            rmq_rem_cmd_destroy(f);
            /* and the same string cut before its closing quote */
            rmq_rem_cmd_t *g = calloc(1, sizeof *g);
            const char *cut = "{\"code\":310,\"extFields\":{\"i\":\"abcdefghijklmnopqrstu";
            assert_int_equal(rmq_rem_decode_json_fast_((const uint8_t *)cut, strlen(cut) - pre, g),
                             0);
            rmq_rem_cmd_destroy(g);
        }
    }
}

/* The broker's flat SEND_OK writers give the bytes the command encoder gives, or 0. */
static void test_write_json_response(void **st) {
    (void)st;
    rmq_rem_field_t ok[] = {
        {"MSG_REGION", "DefaultRegion"},
        {"TRACE_ON", "true"},
        {"msgId", "7F00000100002A9F0000000012345678"},
        {"queueId", "3"},
        {"queueOffset", "123456789012"},
        {"transactionId", "caf\xc3\xa9-7F000001 {x}:'/"},
        {"empty", ""},
    };
    struct {
        int code;
        int32_t opaque;
        size_t n;
    } cases[] = {{0, 7, 7}, {0, -2147483647 - 1, 5}, {0, 2147483647, 1}, {0, 0, 0}, {-3, 42, 6}};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(cases); i++) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(310);
        req->opaque = cases[i].opaque;
        rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, cases[i].code, NULL);
        if (cases[i].n) assert_int_equal(rmq_rem_cmd_add_fields(resp, ok, cases[i].n), RMQ_OK);
        rmq_buf_t b;
        rmq_buf_init(&b);
        assert_int_equal(rmq_rem_frame_encode_header(resp, &b), RMQ_OK);
        uint8_t out[1024];
        size_t n = rmq_rem_frame_write_json_response(cases[i].code, cases[i].opaque, ok, cases[i].n,
                                                     0, out, sizeof out);
        assert_int_equal(n, b.len);
        assert_memory_equal(out, b.data, n);
        /* too small a buffer: 0, nothing promised */
        assert_int_equal(rmq_rem_frame_write_json_response(cases[i].code, cases[i].opaque, ok,
                                                           cases[i].n, 0, out, n - 1),
                         0);
        /* the same response to a binary request: the binary writer, any byte */
        rmq_buf_reset(&b);
        resp->serialize_type = RMQ_REM_SER_ROCKETMQ;
        assert_int_equal(rmq_rem_frame_encode_header(resp, &b), RMQ_OK);
        n = rmq_rem_frame_write_binary_response(cases[i].code, cases[i].opaque, ok, cases[i].n, out,
                                                sizeof out);
        assert_int_equal(n, b.len);
        assert_memory_equal(out, b.data, n);
        assert_int_equal(rmq_rem_frame_write_binary_response(cases[i].code, cases[i].opaque, ok,
                                                             cases[i].n, out, n - 1),
                         0);
        rmq_buf_fini(&b);
        rmq_rem_cmd_destroy(resp);
        rmq_rem_cmd_destroy(req);
    }
    /* a byte JSON escapes, in a value or a key: 0 (the caller encodes a command instead) */
    const char *esc[] = {"\"", "\\", "\n", "\x01", "\x1f"};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(esc); i++) {
        for (int pre = 0; pre < 18; pre++) { /* at every place of an 8-byte word */
            char t[64];
            snprintf(t, sizeof t, "%.*s%s\xc3\xa9xyz", pre, "0123456789ABCDEFGHIJ", esc[i]);
            uint8_t out[256];
            rmq_rem_field_t v[] = {{"msgId", t}};
            assert_int_equal(rmq_rem_frame_write_json_response(0, 1, v, 1, 0, out, sizeof out), 0);
            rmq_rem_field_t k[] = {{t, "x"}};
            assert_int_equal(rmq_rem_frame_write_json_response(0, 1, k, 1, 0, out, sizeof out), 0);
            /* trusted fields are not scanned; an untrusted one beside them still is */
            rmq_rem_field_t two[] = {{"queueId", "3"}, {"transactionId", t}};
            assert_int_equal(rmq_rem_frame_write_json_response(0, 1, two, 2, 1u, out, sizeof out),
                             0);
            assert_true(rmq_rem_frame_write_json_response(0, 1, two, 2, 3u, out, sizeof out) > 0);
        }
    }
}

static void count_release(void *arg) {
    (*(int *)arg)++;
}

static void test_iov_release_on_destroy(void **st) {
    (void)st;
    int n = 0;
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(11);
    uv_buf_t iov[2] = {uv_buf_init("ab", 2), uv_buf_init("cde", 3)};
    assert_int_equal(rmq_rem_cmd_set_body_iov(c, iov, 2, count_release, &n), RMQ_OK);
    assert_int_equal(rmq_rem_cmd_body_len(c), 5);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    assert_memory_equal(b.data + b.len - 5, "abcde", 5);
    assert_int_equal(rmq_get_be32(b.data), b.len - 4);
    rmq_buf_fini(&b);
    assert_int_equal(n, 0);
    rmq_rem_cmd_destroy(c);
    assert_int_equal(n, 1);
}

/* ------------------------------------------------------------------ loopback server */

enum {
    H_ECHO = 900,
    H_SILENT,
    H_LATER,
    H_ASK,
    H_ZC,
    H_CLOSE,
    H_ONEWAY,
    H_ZC_CLOSE,
    H_NOTIFY,
    H_NAP,
    H_SEQ,
    H_HI = 2000,
    C_PING = 950,
    C_NOTIFY = 951
};

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    rmq_rem_server_t *srv;
    pthread_t thr;
    int port;
    char addr[32];
    atomic_int oneway_count, release_count, opened, closed;
    pthread_mutex_t mu;
    pthread_t later[16];
    int nlater;
    char seq[64][16]; /* H_SEQ requests' "k", in arrival order (under mu) */
    int nseq;
} srv_env_t;

static srv_env_t E;

static rmq_rem_cmd_t *h_echo(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    const char *k = rmq_rem_cmd_get(req, "k");
    if (k) rmq_rem_cmd_set(r, "echo", k);
    if (req->body) {
        rmq_rem_cmd_set_body(r, req->body, req->body_len);
        req->body = NULL;
        req->body_len = 0;
    }
    rmq_rem_cmd_destroy(req);
    return r;
}

static rmq_rem_cmd_t *h_silent(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_cmd_destroy(req);
    return NULL;
}

typedef struct {
    rmq_rem_conn_t *conn;
    rmq_rem_cmd_t *req;
} later_t;

static void *later_thread(void *arg) {
    later_t *l = arg;
    usleep(30 * 1000);
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(l->req, RMQ_OK, NULL);
    rmq_rem_cmd_set(r, "later", "1");
    rmq_rem_conn_post(l->conn, r);
    rmq_rem_conn_unref(l->conn);
    rmq_rem_cmd_destroy(l->req);
    free(l);
    return NULL;
}

static rmq_rem_cmd_t *h_later(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    later_t *l = malloc(sizeof *l);
    l->conn = c;
    l->req = req;
    rmq_rem_conn_ref(c);
    pthread_mutex_lock(&E.mu);
    assert_true(E.nlater < 16);
    pthread_create(&E.later[E.nlater++], NULL, later_thread, l);
    pthread_mutex_unlock(&E.mu);
    return NULL;
}

static void on_ask_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    later_t *l = arg;
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(l->req, err ? RMQ_ERR_SYSTEM_ERROR : RMQ_OK, NULL);
    const char *pong = resp ? rmq_rem_cmd_get(resp, "pong") : NULL;
    if (pong) rmq_rem_cmd_set(r, "answer", pong);
    if (resp) rmq_rem_cmd_set_i64(r, "peerCode", resp->code);
    rmq_rem_conn_send(l->conn, r);
    rmq_rem_conn_unref(l->conn);
    rmq_rem_cmd_destroy(l->req);
    rmq_rem_cmd_destroy(resp);
    free(l);
}

static rmq_rem_cmd_t *h_ask(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    later_t *l = malloc(sizeof *l);
    l->conn = c;
    l->req = req;
    rmq_rem_conn_ref(c);
    rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(C_PING);
    rmq_rem_cmd_set(q, "ping", "1");
    assert_int_equal(rmq_rem_conn_request(c, q, 3000, on_ask_resp, l), RMQ_OK);
    return NULL;
}

/* Oneway request to the client over its own connection (NOTIFY_CONSUMER_IDS_CHANGED style). */
static rmq_rem_cmd_t *h_notify(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_cmd_t *n = rmq_rem_cmd_new_request(C_NOTIFY);
    assert_int_equal(rmq_rem_conn_request(c, n, 3000, NULL, NULL), RMQ_OK);
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_destroy(req);
    return r;
}

static const char ZC_DATA[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void zc_release(void *arg) {
    atomic_fetch_add(&E.release_count, 1);
}

static rmq_rem_cmd_t *h_zc(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    uv_buf_t iov[3] = {uv_buf_init((char *)ZC_DATA, 10), uv_buf_init((char *)ZC_DATA + 10, 16),
                       uv_buf_init((char *)ZC_DATA + 26, 10)};
    rmq_rem_cmd_set_body_iov(r, iov, 3, zc_release, NULL);
    rmq_rem_cmd_destroy(req);
    return r;
}

/* 8 MiB zero-copy reply, then close at once: the queued write is cancelled or completes, and
 * either way the slices are released exactly once. */
static uint8_t *big_zc;
enum { BIG_ZC = 8 << 20 };
static rmq_rem_cmd_t *h_zc_close(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    uv_buf_t iov[2] = {uv_buf_init((char *)big_zc, BIG_ZC / 2),
                       uv_buf_init((char *)big_zc + BIG_ZC / 2, BIG_ZC / 2)};
    rmq_rem_cmd_set_body_iov(r, iov, 2, zc_release, NULL);
    rmq_rem_conn_send(c, r);
    assert_true(rmq_rem_conn_pending_bytes(c) > 0);
    rmq_rem_conn_close(c);
    rmq_rem_cmd_destroy(req);
    return NULL;
}

/* Holds the server's loop (no reads meanwhile), then answers. */
static rmq_rem_cmd_t *h_nap(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    usleep(300 * 1000);
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_destroy(req);
    return r;
}

/* Records the request's "k" in arrival order, then echoes it. */
static rmq_rem_cmd_t *h_seq(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    const char *k = rmq_rem_cmd_get(req, "k");
    pthread_mutex_lock(&E.mu);
    if (E.nseq < 64) rmq_strlcpy(E.seq[E.nseq++], k ? k : "", sizeof E.seq[0]);
    pthread_mutex_unlock(&E.mu);
    return h_echo(c, req, arg);
}

static rmq_rem_cmd_t *h_close(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    rmq_rem_conn_close(c);
    assert_true(rmq_rem_conn_is_closed(c));
    rmq_rem_cmd_destroy(req);
    return NULL;
}

static rmq_rem_cmd_t *h_oneway(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    atomic_fetch_add(&E.oneway_count, 1);
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, "must be dropped");
    rmq_rem_cmd_destroy(req);
    return r;
}

static void on_open(rmq_rem_conn_t *c, void *arg) {
    assert_true(strncmp(rmq_rem_conn_peer(c), "127.0.0.1:", 10) == 0);
    uint32_t ip;
    uint16_t port;
    assert_true(rmq_rem_conn_local_v4(c, &ip, &port));
    assert_int_equal(ip, htonl(0x7f000001));
    assert_int_equal(port, E.port);
    atomic_fetch_add(&E.opened, 1);
}

static void on_close(rmq_rem_conn_t *c, void *arg) {
    atomic_fetch_add(&E.closed, 1);
}

static void on_srv_closed(void *arg) {
    uv_close((uv_handle_t *)&E.stop, NULL);
}

static void on_stop(uv_async_t *h) {
    rmq_rem_server_close(E.srv, on_srv_closed, NULL);
}

static void *srv_thread(void *arg) {
    uv_run(&E.loop, UV_RUN_DEFAULT);
    return NULL;
}

static int srv_setup(void **st) {
    memset(&E, 0, sizeof E);
    pthread_mutex_init(&E.mu, NULL);
    assert_int_equal(uv_loop_init(&E.loop), 0);
    assert_int_equal(uv_async_init(&E.loop, &E.stop, on_stop), 0);
    rmq_rem_server_cfg_t cfg = {.host = "127.0.0.1", .port = 0, .name = "test-srv"};
    assert_int_equal(rmq_rem_server_new(&E.loop, &cfg, &E.srv), RMQ_OK);
    rmq_rem_server_register(E.srv, H_ECHO, h_echo, NULL);
    rmq_rem_server_register(E.srv, H_HI, h_echo, NULL);
    rmq_rem_server_register(E.srv, H_SILENT, h_silent, NULL);
    rmq_rem_server_register(E.srv, H_LATER, h_later, NULL);
    rmq_rem_server_register(E.srv, H_ASK, h_ask, NULL);
    rmq_rem_server_register(E.srv, H_ZC, h_zc, NULL);
    rmq_rem_server_register(E.srv, H_CLOSE, h_close, NULL);
    rmq_rem_server_register(E.srv, H_ONEWAY, h_oneway, NULL);
    rmq_rem_server_register(E.srv, H_ZC_CLOSE, h_zc_close, NULL);
    rmq_rem_server_register(E.srv, H_NOTIFY, h_notify, NULL);
    rmq_rem_server_register(E.srv, H_NAP, h_nap, NULL);
    rmq_rem_server_register(E.srv, H_SEQ, h_seq, NULL);
    rmq_rem_server_on_open(E.srv, on_open, NULL);
    rmq_rem_server_on_close(E.srv, on_close, NULL);
    assert_int_equal(rmq_rem_server_start(E.srv), RMQ_OK);
    E.port = rmq_rem_server_port(E.srv);
    assert_true(E.port > 0);
    snprintf(E.addr, sizeof E.addr, "127.0.0.1:%d", E.port);
    pthread_create(&E.thr, NULL, srv_thread, NULL);
    return 0;
}

static int srv_teardown(void **st) {
    uv_async_send(&E.stop);
    pthread_join(E.thr, NULL);
    for (int i = 0; i < E.nlater; i++) pthread_join(E.later[i], NULL);
    /* Later threads may have posted to the closed server: their frames were dropped. */
    assert_int_equal(uv_loop_close(&E.loop), 0);
    assert_int_equal(atomic_load(&E.opened), atomic_load(&E.closed));
    pthread_mutex_destroy(&E.mu);
    return 0;
}

static rmq_rem_client_t *new_client(void) {
    rmq_rem_client_cfg_t cfg = {.name = "test-cli", .connect_timeout_ms = 2000};
    rmq_rem_client_t *cl;
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    return cl;
}

static rmq_rem_cmd_t *echo_req(const char *k) {
    rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(H_ECHO);
    rmq_rem_cmd_set(q, "k", k);
    return q;
}

/* ------------------------------------------------------------------ loopback tests */

static void test_rt_sync(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    rmq_rem_cmd_t *q = echo_req("hello");
    int32_t opaque = q->opaque;
    rmq_rem_cmd_set_body_copy(q, "payload", 7);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, q, 3000, &resp), RMQ_OK);
    assert_int_equal(resp->code, RMQ_OK);
    assert_int_equal(resp->opaque, opaque);
    assert_true(rmq_rem_cmd_is_response(resp));
    assert_int_equal(resp->language, RMQ_LANG_JAVA);
    assert_string_equal(rmq_rem_cmd_get(resp, "echo"), "hello");
    assert_int_equal(resp->body_len, 7);
    assert_memory_equal(resp->body, "payload", 7);
    rmq_rem_cmd_destroy(resp);

    /* Code above the flat table, binary header answered in kind, a 1 MiB body. */
    q = rmq_rem_cmd_new_request(H_HI);
    q->serialize_type = RMQ_REM_SER_ROCKETMQ;
    rmq_rem_cmd_set(q, "k", "bin");
    size_t big = 1 << 20;
    uint8_t *body = malloc(big);
    for (size_t i = 0; i < big; i++) body[i] = (uint8_t)(i * 7);
    rmq_rem_cmd_set_body_copy(q, body, big);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, q, 5000, &resp), RMQ_OK);
    assert_int_equal(resp->serialize_type, RMQ_REM_SER_ROCKETMQ);
    assert_string_equal(rmq_rem_cmd_get(resp, "echo"), "bin");
    assert_int_equal(resp->body_len, big);
    assert_memory_equal(resp->body, body, big);
    free(body);
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, total;
    rmq_err_t last_err;
} waiter_t;

static void waiter_init(waiter_t *w, int total) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->total = total;
}

/* One answer came (callback thread). */
static void waiter_done(waiter_t *w, bool ok, rmq_err_t err) {
    pthread_mutex_lock(&w->mu);
    w->done++;
    w->ok += ok;
    w->last_err = err;
    if (w->done == w->total) pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(waiter_t *w) {
    pthread_mutex_lock(&w->mu);
    while (w->done < w->total) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

typedef struct {
    waiter_t *w;
    int idx;
} async_arg_t;

static void on_async_echo(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    async_arg_t *a = arg;
    char want[16];
    snprintf(want, sizeof want, "%d", a->idx);
    bool ok = err == RMQ_OK && resp && resp->code == 0 && rmq_rem_cmd_get(resp, "echo") &&
              strcmp(rmq_rem_cmd_get(resp, "echo"), want) == 0;
    rmq_rem_cmd_destroy(resp);
    waiter_done(a->w, ok, err);
}

static void test_rt_async_many(void **st) {
    rmq_rem_client_t *cl = new_client();
    enum { N = 3000 };
    static async_arg_t args[N];
    waiter_t w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        args[i] = (async_arg_t){&w, i};
        assert_int_equal(
            rmq_rem_client_invoke_async(cl, E.addr, echo_req(k), 10000, on_async_echo, &args[i]),
            RMQ_OK);
    }
    waiter_wait(&w);
    assert_int_equal(w.ok, N);
    rmq_rem_client_destroy(cl);
}

/* Big response bodies back to back on one connection: a read ends inside a frame's header,
 * inside its body (the rest is read straight into the body buffer) or between frames; every
 * body must come back whole and in place. */
typedef struct {
    waiter_t *w;
    int idx;
    size_t len;
} big_arg_t;

static uint8_t big_byte(int idx, size_t j) {
    return (uint8_t)(j * 31 + (size_t)idx * 7 + (j >> 8));
}

static void on_big_echo(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    big_arg_t *a = arg;
    bool ok = err == RMQ_OK && resp && resp->code == 0 && resp->body_len == a->len;
    for (size_t j = 0; ok && j < a->len; j++) ok = resp->body[j] == big_byte(a->idx, j);
    rmq_rem_cmd_destroy(resp);
    waiter_done(a->w, ok, err);
}

static void test_rt_big_bodies_many(void **st) {
    rmq_rem_client_t *cl = new_client();
    enum { N = 96 };
    static big_arg_t args[N];
    waiter_t w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        /* 1 KiB to ~105 KiB: below and above the direct-read threshold */
        size_t len = 1024 + (size_t)i * 1097;
        uint8_t *b = malloc(len);
        assert_non_null(b);
        for (size_t j = 0; j < len; j++) b[j] = big_byte(i, j);
        rmq_rem_cmd_t *q = echo_req("big");
        rmq_rem_cmd_set_body_copy(q, b, len);
        free(b);
        args[i] = (big_arg_t){&w, i, len};
        assert_int_equal(rmq_rem_client_invoke_async(cl, E.addr, q, 10000, on_big_echo, &args[i]),
                         RMQ_OK);
    }
    waiter_wait(&w);
    assert_int_equal(w.ok, N);
    rmq_rem_client_destroy(cl);
}

static void test_rt_oneway_and_unknown(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    assert_int_equal(rmq_rem_client_invoke_oneway(cl, E.addr, rmq_rem_cmd_new_request(H_ONEWAY)),
                     RMQ_OK);
    /* Same connection, handled in order: once the echo is back the oneway has run. */
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("x"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(atomic_load(&E.oneway_count), 1);

    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(777), 3000, &resp), RMQ_OK);
    assert_int_equal(resp->code, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED);
    assert_string_equal(resp->remark, " request type 777 not supported");
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static void test_rt_timeout(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp = (rmq_rem_cmd_t *)1;
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_SILENT), 200, &resp),
        RMQ_ERR__TIMEOUT);
    assert_null(resp);
    /* The connection is still fine afterwards. */
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("after"), 3000, &resp),
                     RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static atomic_int notified;

static rmq_rem_cmd_t *cli_handler(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    if (req->code == C_NOTIFY) {
        assert_true(rmq_rem_cmd_is_oneway(req));
        atomic_fetch_add(&notified, 1);
        /* A reply to a oneway request is dropped by the dispatcher. */
        rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
        rmq_rem_cmd_destroy(req);
        return r;
    }
    assert_int_equal(req->code, C_PING);
    assert_string_equal(rmq_rem_cmd_get(req, "ping"), "1");
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_set(r, "pong", "42");
    rmq_rem_cmd_destroy(req);
    return r;
}

static void test_rt_server_initiated(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_client_set_handler(cl, cli_handler, NULL);
    rmq_rem_cmd_t *resp;
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_ASK), 3000, &resp),
        RMQ_OK);
    assert_int_equal(resp->code, RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(resp, "answer"), "42");
    rmq_rem_cmd_destroy(resp);

    /* Oneway from the server: handled once, and the connection keeps working. */
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_NOTIFY), 3000, &resp),
        RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    for (int i = 0; i < 500 && atomic_load(&notified) == 0; i++) usleep(10 * 1000);
    assert_int_equal(atomic_load(&notified), 1);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("z"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);

    /* A client without a handler answers REQUEST_CODE_NOT_SUPPORTED. */
    cl = new_client();
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_ASK), 3000, &resp),
        RMQ_OK);
    assert_null(rmq_rem_cmd_get(resp, "answer"));
    assert_string_equal(rmq_rem_cmd_get(resp, "peerCode"), "3");
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static void test_rt_answer_later(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_LATER), 3000, &resp),
            RMQ_OK);
        assert_string_equal(rmq_rem_cmd_get(resp, "later"), "1");
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
}

static atomic_int cli_closed;
static void on_cli_close(const char *addr, void *arg) {
    assert_string_equal(addr, E.addr);
    atomic_fetch_add(&cli_closed, 1);
}

static void test_rt_close_and_reconnect(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_client_on_close(cl, on_cli_close, NULL);
    rmq_rem_cmd_t *resp;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("a"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_CLOSE), 5000, &resp),
        RMQ_ERR__CONN);
    assert_int_equal(atomic_load(&cli_closed), 1);
    /* Next request opens a new connection. */
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("b"), 3000, &resp), RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(resp, "echo"), "b");
    rmq_rem_cmd_destroy(resp);
    /* Explicit close of the address, then reconnect again. */
    rmq_rem_client_close_addr(cl, E.addr);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("c"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    assert_int_equal(atomic_load(&cli_closed), 2);
    rmq_rem_client_destroy(cl);
}

static void test_rt_zero_copy(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    int before = atomic_load(&E.release_count);
    assert_int_equal(
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_ZC), 3000, &resp), RMQ_OK);
    assert_int_equal(resp->body_len, 36);
    assert_memory_equal(resp->body, ZC_DATA, 36);
    rmq_rem_cmd_destroy(resp);
    for (int i = 0; i < 500 && atomic_load(&E.release_count) == before; i++) usleep(10 * 1000);
    assert_int_equal(atomic_load(&E.release_count), before + 1);
    rmq_rem_client_destroy(cl);
}

static void test_rt_close_with_pending_write(void **st) {
    big_zc = calloc(1, BIG_ZC);
    rmq_rem_client_cfg_t cfg = {.name = "test-cli", .max_frame = 64 << 20};
    rmq_rem_client_t *cl;
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    rmq_rem_cmd_t *resp = NULL;
    int before = atomic_load(&E.release_count);
    rmq_err_t e =
        rmq_rem_client_invoke_sync(cl, E.addr, rmq_rem_cmd_new_request(H_ZC_CLOSE), 5000, &resp);
    /* Usually cut off (CONN); on a fast box the whole reply may make it out first. */
    assert_true(e == RMQ_ERR__CONN || (e == RMQ_OK && resp->body_len == BIG_ZC));
    rmq_rem_cmd_destroy(resp);
    for (int i = 0; i < 500 && atomic_load(&E.release_count) == before; i++) usleep(10 * 1000);
    assert_int_equal(atomic_load(&E.release_count), before + 1);
    rmq_rem_client_destroy(cl);
    free(big_zc);
}

typedef struct {
    rmq_rem_client_t *cl;
    waiter_t *w;
    async_arg_t *args;
    int from, n;
} invoker_t;

static void *invoker_thread(void *arg) {
    invoker_t *iv = arg;
    for (int i = iv->from; i < iv->from + iv->n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        iv->args[i] = (async_arg_t){iv->w, i};
        rmq_err_t e = rmq_rem_client_invoke_async(iv->cl, E.addr, echo_req(k), 10000, on_async_echo,
                                                  &iv->args[i]);
        if (e) on_async_echo(e, NULL, &iv->args[i]);
    }
    return NULL;
}

/* Several threads share one client. */
static void test_rt_concurrent_invokers(void **st) {
    rmq_rem_client_t *cl = new_client();
    enum { T = 4, PER = 500 };
    static async_arg_t args[T * PER];
    waiter_t w;
    waiter_init(&w, T * PER);
    pthread_t th[T];
    invoker_t iv[T];
    for (int t = 0; t < T; t++) {
        iv[t] = (invoker_t){cl, &w, args, t * PER, PER};
        pthread_create(&th[t], NULL, invoker_thread, &iv[t]);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    waiter_wait(&w);
    assert_int_equal(w.ok, T * PER);
    rmq_rem_client_destroy(cl);
}

/* ---- sync invokes written from the caller's thread (remoting/conn.c, direct writes) */

static rmq_rem_cmd_t *seq_req(const char *k) {
    rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(H_SEQ);
    rmq_rem_cmd_set(q, "k", k);
    return q;
}

/* The position of k among the H_SEQ requests the server saw, or -1. */
static int seq_pos(const char *k) {
    pthread_mutex_lock(&E.mu);
    int at = -1;
    for (int i = 0; i < E.nseq && at < 0; i++)
        if (strcmp(E.seq[i], k) == 0) at = i;
    pthread_mutex_unlock(&E.mu);
    return at;
}

static bool wait_seq(const char *k) {
    for (int i = 0; i < 500; i++) {
        if (seq_pos(k) >= 0) return true;
        usleep(10 * 1000);
    }
    return false;
}

/* An async callback that holds the client's loop until released: while it runs, nothing the
 * loop would do (mailbox, writes) happens. */
static atomic_int loop_held, loop_release;
static void on_hold_loop(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    rmq_rem_cmd_destroy(resp);
    atomic_store(&loop_held, 1);
    for (int i = 0; i < 1000 && !atomic_load(&loop_release); i++) usleep(10 * 1000);
    atomic_store(&loop_held, 0);
}

static void hold_loop(rmq_rem_client_t *cl) {
    atomic_store(&loop_release, 0);
    assert_int_equal(
        rmq_rem_client_invoke_async(cl, E.addr, echo_req("hold"), 3000, on_hold_loop, NULL),
        RMQ_OK);
    for (int i = 0; i < 500 && !atomic_load(&loop_held); i++) usleep(10 * 1000);
    assert_int_equal(atomic_load(&loop_held), 1);
}

typedef struct {
    rmq_rem_client_t *cl;
    const char *k;
    size_t body; /* 0: none */
    rmq_err_t err;
    bool ok;
} sync_job_t;

static void *sync_job(void *arg) {
    sync_job_t *j = arg;
    rmq_rem_cmd_t *q = seq_req(j->k), *resp = NULL;
    uint8_t *b = NULL;
    if (j->body) {
        b = malloc(j->body);
        for (size_t i = 0; i < j->body; i++) b[i] = (uint8_t)(i * 7 + 3);
        rmq_rem_cmd_set_body_copy(q, b, j->body);
    }
    j->err = rmq_rem_client_invoke_sync(j->cl, E.addr, q, 5000, &resp);
    j->ok = j->err == RMQ_OK && resp && rmq_rem_cmd_get(resp, "echo") &&
            strcmp(rmq_rem_cmd_get(resp, "echo"), j->k) == 0 && resp->body_len == j->body &&
            (!j->body || memcmp(resp->body, b, j->body) == 0);
    rmq_rem_cmd_destroy(resp);
    free(b);
    return NULL;
}

static void *release_later(void *arg) {
    usleep(200 * 1000);
    atomic_store(&loop_release, 1);
    return NULL;
}

/* A sync invoke on an open, idle connection leaves from the calling thread: the server gets it
 * while the client's loop is held in a callback, and the answer arrives once the loop runs. */
static void test_rt_sync_direct(void **st) {
    rmq_rem_client_t *cl = new_client();
    sync_job_t warm = {cl, "warm", 0, 0, false};
    sync_job(&warm);
    assert_true(warm.ok);
    hold_loop(cl);
    sync_job_t j = {cl, "direct", 100, 0, false};
    pthread_t th;
    pthread_create(&th, NULL, sync_job, &j);
    assert_true(wait_seq("direct")); /* written without the loop */
    assert_int_equal(atomic_load(&loop_held), 1);
    atomic_store(&loop_release, 1);
    pthread_join(th, NULL);
    assert_true(j.ok);
    rmq_rem_client_destroy(cl);
}

/* What the caller posted before (an async invoke still in the mailbox) goes out first: the sync
 * invoke after it waits behind it instead of writing directly. */
static void test_rt_sync_direct_order(void **st) {
    rmq_rem_client_t *cl = new_client();
    sync_job_t warm = {cl, "warm", 0, 0, false};
    sync_job(&warm);
    assert_true(warm.ok);
    hold_loop(cl);
    waiter_t w;
    waiter_init(&w, 1);
    async_arg_t a = {&w, 0};
    rmq_rem_cmd_t *first = seq_req("0"); /* on_async_echo wants echo == idx */
    assert_int_equal(rmq_rem_client_invoke_async(cl, E.addr, first, 5000, on_async_echo, &a),
                     RMQ_OK);
    pthread_t rel;
    pthread_create(&rel, NULL, release_later, NULL);
    sync_job_t j = {cl, "second", 0, 0, false};
    sync_job(&j); /* this thread, right after its async invoke */
    pthread_join(rel, NULL);
    waiter_wait(&w);
    assert_int_equal(w.ok, 1);
    assert_true(j.ok);
    assert_true(seq_pos("0") >= 0);
    assert_true(seq_pos("0") < seq_pos("second"));
    /* and closing the address before a sync invoke means a new connection for it */
    int opened = atomic_load(&E.opened);
    rmq_rem_client_close_addr(cl, E.addr);
    sync_job_t k = {cl, "third", 0, 0, false};
    sync_job(&k);
    assert_true(k.ok);
    assert_int_equal(atomic_load(&E.opened), opened + 1);
    rmq_rem_client_destroy(cl);
}

typedef struct {
    rmq_rem_client_t *cl;
    atomic_int *stop;
    int sent, ok;
} pacer_t;

/* Async requests one at a time, each waited for, until stopped: their frames land right behind
 * whatever a direct write left to the loop. */
static void *pace_async(void *arg) {
    pacer_t *pc = arg;
    while (!atomic_load(pc->stop)) {
        waiter_t w;
        waiter_init(&w, 1);
        async_arg_t a = {&w, pc->sent};
        char k[16];
        snprintf(k, sizeof k, "%d", pc->sent++);
        rmq_err_t e =
            rmq_rem_client_invoke_async(pc->cl, E.addr, echo_req(k), 5000, on_async_echo, &a);
        if (e) on_async_echo(e, NULL, &a);
        waiter_wait(&w);
        pc->ok += w.ok;
        usleep(300);
    }
    return NULL;
}

/* A direct write the socket takes only part of (forced: rmq_rem_direct_max_) leaves the rest to
 * the loop, ahead of anything else: every frame arrives whole, with async requests from another
 * thread mixed in. */
static void test_rt_sync_direct_partial(void **st) {
    rmq_rem_client_t *cl = new_client();
    sync_job_t warm = {cl, "warm", 0, 0, false};
    sync_job(&warm);
    assert_true(warm.ok);
    rmq_rem_direct_max_ = 37;
    atomic_int stop = 0;
    pacer_t pc = {cl, &stop, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, pace_async, &pc);
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%d", i);
        sync_job_t j = {cl, k, (size_t)(i % 3 == 0 ? 0 : 50 * i), 0, false};
        sync_job(&j);
        assert_true(j.ok);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    assert_true(pc.sent > 0);
    assert_int_equal(pc.ok, pc.sent);
    rmq_rem_direct_max_ = 0;
    rmq_rem_client_destroy(cl);
}

typedef struct {
    rmq_rem_client_t *cl;
    int ok, conn, other;
    atomic_int *stop;
} churn_t;

static void *churn_sync(void *arg) {
    churn_t *ch = arg;
    while (!atomic_load(ch->stop)) {
        rmq_rem_cmd_t *resp = NULL;
        rmq_err_t e = rmq_rem_client_invoke_sync(ch->cl, E.addr, echo_req("x"), 5000, &resp);
        if (e == RMQ_OK && resp && rmq_rem_cmd_get(resp, "echo") &&
            strcmp(rmq_rem_cmd_get(resp, "echo"), "x") == 0)
            ch->ok++;
        else if (e == RMQ_ERR__CONN)
            ch->conn++;
        else
            ch->other++;
        rmq_rem_cmd_destroy(resp);
    }
    return NULL;
}

/* Sync invokes from several threads while the address is closed again and again: each ends with
 * its answer or a connection error, none hangs, and (ASan) no record outlives its connection. */
static void test_rt_sync_direct_close_churn(void **st) {
    rmq_rem_client_t *cl = new_client();
    atomic_int stop = 0;
    enum { T = 3 };
    churn_t ch[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        ch[t] = (churn_t){cl, 0, 0, 0, &stop};
        pthread_create(&th[t], NULL, churn_sync, &ch[t]);
    }
    for (int i = 0; i < 50; i++) {
        usleep(5 * 1000);
        rmq_rem_client_close_addr(cl, E.addr);
    }
    atomic_store(&stop, 1);
    int ok = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(ch[t].other, 0);
        ok += ch[t].ok;
    }
    assert_true(ok > 0);
    sync_job_t j = {cl, "after", 0, 0, false};
    sync_job(&j);
    assert_true(j.ok);
    rmq_rem_client_destroy(cl);
}

/* A raw blocking socket to the server, with a receive timeout. */
static int raw_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)E.port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send_cmd(int fd, rmq_rem_cmd_t *c) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(c, &b), RMQ_OK);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    rmq_buf_fini(&b);
    rmq_rem_cmd_destroy(c);
}

static rmq_rem_cmd_t *raw_read_cmd(int fd) {
    uint8_t buf[8192];
    size_t have = 0;
    for (;;) {
        rmq_rem_cmd_t *c;
        char err[128];
        ssize_t r = rmq_rem_frame_decode(buf, have, 0, &c, err, sizeof err);
        if (r > 0) return c;
        assert_int_equal(r, 0);
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) return NULL;
        have += (size_t)n;
    }
}

static void test_rt_raw_oneway_unknown(void **st) {
    int fd = raw_connect();
    rmq_rem_cmd_t *ow = rmq_rem_cmd_new_request(778);
    ow->flag = RMQ_REM_FLAG_ONEWAY;
    raw_send_cmd(fd, ow);
    rmq_rem_cmd_t *ow2 = rmq_rem_cmd_new_request(H_ONEWAY);
    ow2->flag = RMQ_REM_FLAG_ONEWAY;
    raw_send_cmd(fd, ow2);
    rmq_rem_cmd_t *q = echo_req("raw");
    int32_t opaque = q->opaque;
    raw_send_cmd(fd, q);
    rmq_rem_cmd_t *r = raw_read_cmd(fd);
    assert_non_null(r);
    /* The first thing back is the echo: neither oneway was answered. */
    assert_int_equal(r->opaque, opaque);
    assert_int_equal(r->code, 0);
    rmq_rem_cmd_destroy(r);
    close(fd);
}

static void test_rt_bad_frame_isolated(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("1"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    const uint8_t garbage[][12] = {
        {0, 0, 0, 8, 0, 0, 0, 0x10, '{', '}', 0, 0},      /* header past frame */
        {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, /* oversized */
        {0, 0, 0, 8, 0, 0, 0, 4, 'n', 'o', 'p', 'e'},     /* not JSON */
    };
    for (size_t i = 0; i < RMQ_ARRAY_LEN(garbage); i++) {
        int fd = raw_connect();
        assert_int_equal(write(fd, garbage[i], 12), 12);
        char b;
        assert_int_equal(read(fd, &b, 1), 0); /* closed by the server */
        close(fd);
    }
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("2"), 3000, &resp), RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(resp, "echo"), "2");
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static void on_closed_cb(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    *(rmq_err_t *)arg = err;
    rmq_rem_cmd_destroy(resp);
}

static void test_rt_destroy_pending(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_err_t got[3] = {1, 1, 1};
    for (int i = 0; i < 3; i++)
        assert_int_equal(rmq_rem_client_invoke_async(cl, E.addr, rmq_rem_cmd_new_request(H_SILENT),
                                                     60000, on_closed_cb, &got[i]),
                         RMQ_OK);
    rmq_rem_client_destroy(cl);
    for (int i = 0; i < 3; i++) assert_int_equal(got[i], RMQ_ERR__CLOSED);
}

/* Requests encoded by the caller into its own storage (the async producer's path): answered
 * in order of opaque, timed out, and failed at destroy, with nothing freed by remoting (ASan
 * reports a free of these static records). */
static rmq_err_t frame_err[4];
static void on_frame_cb(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    rmq_err_t *out = arg;
    *out = err == RMQ_OK && (!resp || resp->code != 0) ? RMQ_ERR__BAD_FRAME : err;
    rmq_rem_cmd_destroy(resp);
}

static void test_rt_invoke_frame(void **st) {
    rmq_rem_client_t *cl = new_client();
    enum { N = 2000 };
    static rmq_rem_call_t calls[N];
    static rmq_buf_t frames[N];
    static async_arg_t args[N];
    waiter_t w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        rmq_rem_cmd_t *q = echo_req(k);
        char body[64];
        rmq_rem_cmd_set_body_ref(q, body, (size_t)snprintf(body, sizeof body, "b%d", i));
        rmq_buf_init(&frames[i]);
        assert_int_equal(rmq_rem_client_encode(cl, q, &frames[i]), RMQ_OK);
        int32_t opaque = q->opaque;
        rmq_rem_cmd_destroy(q); /* the frame holds everything, the borrowed body included */
        args[i] = (async_arg_t){&w, i};
        assert_int_equal(rmq_rem_client_invoke_frame(cl, E.addr, &calls[i], frames[i].data,
                                                     frames[i].len, opaque, 10000, on_async_echo,
                                                     &args[i], i % 2 == 0),
                         RMQ_OK);
    }
    waiter_wait(&w);
    assert_int_equal(w.ok, N);
    for (int i = 0; i < N; i++) rmq_buf_fini(&frames[i]);

    /* a timeout, then two left pending when the client goes */
    static rmq_rem_call_t more[3];
    rmq_buf_t f[3];
    int32_t op[3];
    for (int i = 0; i < 3; i++) {
        rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(H_SILENT);
        rmq_buf_init(&f[i]);
        assert_int_equal(rmq_rem_client_encode(cl, q, &f[i]), RMQ_OK);
        op[i] = q->opaque;
        rmq_rem_cmd_destroy(q);
        frame_err[i] = 1;
    }
    assert_int_equal(rmq_rem_client_invoke_frame(cl, E.addr, &more[0], f[0].data, f[0].len, op[0],
                                                 200, on_frame_cb, &frame_err[0], false),
                     RMQ_OK);
    for (int i = 0; i < 300 && frame_err[0] == 1; i++) usleep(10 * 1000);
    assert_int_equal(frame_err[0], RMQ_ERR__TIMEOUT);
    for (int i = 1; i < 3; i++)
        assert_int_equal(rmq_rem_client_invoke_frame(cl, E.addr, &more[i], f[i].data, f[i].len,
                                                     op[i], 60000, on_frame_cb, &frame_err[i],
                                                     true),
                         RMQ_OK);
    rmq_rem_client_destroy(cl);
    assert_int_equal(frame_err[1], RMQ_ERR__CLOSED);
    assert_int_equal(frame_err[2], RMQ_ERR__CLOSED);
    for (int i = 0; i < 3; i++) rmq_buf_fini(&f[i]);
    /* bad arguments are refused before anything is queued */
    cl = new_client();
    assert_int_equal(rmq_rem_client_invoke_frame(cl, E.addr, &more[0], NULL, 0, 1, 100, on_frame_cb,
                                                 &frame_err[3], true),
                     RMQ_ERR__INVALID_ARG);
    rmq_rem_client_destroy(cl);
}

/* Frames of 256 KiB mixed with small ones sent while the server's loop naps: the socket fills
 * and takes part of a flush, the rest of the borrowed frames is copied from the right offsets
 * (a wrong skip would corrupt the echoes). */
static uint8_t big_body_byte(int i, size_t off) {
    return (uint8_t)(i * 31 + off * 7 + off / 4093);
}

static void on_big_frame_echo(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    async_arg_t *a = arg;
    size_t want = a->idx % 3 == 0 ? 256 * 1024 : (size_t)(a->idx % 100);
    bool ok = err == RMQ_OK && resp && resp->code == 0 && resp->body_len == want;
    for (size_t o = 0; ok && o < want; o++) ok = resp->body[o] == big_body_byte(a->idx, o);
    rmq_rem_cmd_destroy(resp);
    waiter_done(a->w, ok, err);
}

static void on_nap(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    async_arg_t *a = arg;
    bool ok = err == RMQ_OK && resp && resp->code == 0;
    rmq_rem_cmd_destroy(resp);
    waiter_done(a->w, ok, err);
}

static void test_rt_invoke_frame_partial(void **st) {
    rmq_rem_client_t *cl = new_client();
    enum { N = 96 };
    static rmq_rem_call_t calls[N];
    static rmq_buf_t frames[N];
    static async_arg_t args[N];
    uint8_t *body = malloc(256 * 1024);
    assert_non_null(body);
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, E.addr, echo_req("up"), 5000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    static async_arg_t nap_arg;
    waiter_t nw;
    waiter_init(&nw, 1);
    nap_arg = (async_arg_t){&nw, 0};
    assert_int_equal(rmq_rem_client_invoke_async(cl, E.addr, rmq_rem_cmd_new_request(H_NAP), 20000,
                                                 on_nap, &nap_arg),
                     RMQ_OK);
    usleep(50 * 1000); /* the server is napping now */
    waiter_t w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        size_t len = i % 3 == 0 ? 256 * 1024 : (size_t)(i % 100);
        for (size_t o = 0; o < len; o++) body[o] = big_body_byte(i, o);
        rmq_rem_cmd_t *q = echo_req("x");
        rmq_rem_cmd_set_body_ref(q, body, len);
        rmq_buf_init(&frames[i]);
        assert_int_equal(rmq_rem_client_encode(cl, q, &frames[i]), RMQ_OK);
        int32_t opaque = q->opaque;
        rmq_rem_cmd_destroy(q);
        args[i] = (async_arg_t){&w, i};
        assert_int_equal(rmq_rem_client_invoke_frame(cl, E.addr, &calls[i], frames[i].data,
                                                     frames[i].len, opaque, 20000,
                                                     on_big_frame_echo, &args[i], true),
                         RMQ_OK);
    }
    waiter_wait(&w);
    waiter_wait(&nw);
    assert_int_equal(nw.ok, 1);
    assert_int_equal(w.ok, N);
    for (int i = 0; i < N; i++) rmq_buf_fini(&frames[i]);
    free(body);
    rmq_rem_client_destroy(cl);
}

/* Requests made from the loop's own callbacks (each answer sends the next): they go to the
 * open connection at once, and every one is answered in order. */
typedef struct {
    rmq_rem_client_t *cl;
    waiter_t *w;
    int next, n;
} chain_t;

static void on_chain(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    chain_t *ch = arg;
    char want[16];
    snprintf(want, sizeof want, "%d", ch->next);
    bool ok = err == RMQ_OK && resp && rmq_rem_cmd_get(resp, "echo") &&
              strcmp(rmq_rem_cmd_get(resp, "echo"), want) == 0;
    rmq_rem_cmd_destroy(resp);
    if (ok && ++ch->next < ch->n) {
        snprintf(want, sizeof want, "%d", ch->next);
        if (rmq_rem_client_invoke_async(ch->cl, E.addr, echo_req(want), 5000, on_chain, ch) ==
            RMQ_OK)
            return;
    }
    waiter_done(ch->w, ok && ch->next == ch->n, err);
}

static void test_rt_invoke_from_loop(void **st) {
    rmq_rem_client_t *cl = new_client();
    waiter_t w;
    waiter_init(&w, 1);
    static chain_t ch;
    ch = (chain_t){cl, &w, 0, 2000};
    assert_int_equal(rmq_rem_client_invoke_async(cl, E.addr, echo_req("0"), 5000, on_chain, &ch),
                     RMQ_OK);
    waiter_wait(&w);
    assert_int_equal(w.ok, 1);
    assert_int_equal(ch.next, 2000);
    rmq_rem_client_destroy(cl);
}

static void test_rt_connect_fail(void **st) {
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp;
    /* A port nobody listens on: take one from a socket we close again. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000001);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(rmq_rem_client_invoke_sync(cl, addr, echo_req("x"), 3000, &resp),
                     RMQ_ERR__CONN);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, "nonsense", echo_req("x"), 3000, &resp),
                     RMQ_ERR__INVALID_ARG);
    /* A name that needs resolving. */
    snprintf(addr, sizeof addr, "localhost:%d", E.port);
    assert_int_equal(rmq_rem_client_invoke_sync(cl, addr, echo_req("n"), 3000, &resp), RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

/* idle_ms closes a silent connection; the server's own loop on this thread. */
static int idle_closed;
static void on_idle_close(rmq_rem_conn_t *c, void *arg) {
    idle_closed++;
}
static void on_idle_srv_closed(void *arg) {
    *(int *)arg = 1;
}

static void test_idle_close(void **st) {
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    rmq_rem_server_t *s;
    rmq_rem_server_cfg_t cfg = {.host = "127.0.0.1", .idle_ms = 200, .name = "idle-srv"};
    assert_int_equal(rmq_rem_server_new(&loop, &cfg, &s), RMQ_OK);
    rmq_rem_server_on_close(s, on_idle_close, NULL);
    assert_int_equal(rmq_rem_server_start(s), RMQ_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)rmq_rem_server_port(s))};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    uint64_t t0 = rmq_mono_ms();
    while (idle_closed == 0 && rmq_mono_ms() - t0 < 10000) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(idle_closed, 1);
    assert_int_equal(rmq_rem_server_conn_count(s), 0);
    char b;
    assert_int_equal(read(fd, &b, 1), 0);
    close(fd);
    /* A second listener on the same port is refused with an error, not a crash. */
    rmq_rem_server_t *s2;
    rmq_rem_server_cfg_t cfg2 = {.host = "127.0.0.1", .port = rmq_rem_server_port(s)};
    assert_int_equal(rmq_rem_server_new(&loop, &cfg2, &s2), RMQ_OK);
    assert_int_equal(rmq_rem_server_start(s2), RMQ_ERR__IO);
    int done = 0, done2 = 0;
    rmq_rem_server_close(s2, on_idle_srv_closed, &done2);
    rmq_rem_server_close(s, on_idle_srv_closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    assert_int_equal(done2, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A listener whose accept queue is full drops SYNs, so connecting hangs until the client's
 * connect timeout closes it and the request fails with RMQ_ERR__CONN. */
static void test_connect_timeout(void **st) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 0), 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(50 * 1000);
    rmq_rem_client_cfg_t cfg = {.name = "test-cto", .connect_timeout_ms = 300};
    rmq_rem_client_t *cl;
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    rmq_rem_cmd_t *resp;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, addr, echo_req("x"), 20000, &resp),
                     RMQ_ERR__CONN);
    rmq_rem_client_destroy(cl);
    for (int i = 0; i < 4; i++) close(fill[i]);
    close(l);
}

/* A peer that accepts and never sends a byte: once a request times out with nothing received,
 * the client closes the connection (so the next request reconnects) instead of keeping it. */
static void test_mute_peer_closed(void **st) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 4), 0);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    rmq_rem_client_t *cl = new_client();
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, addr, echo_req("x"), 300, &resp),
                     RMQ_ERR__TIMEOUT);
    int fd = accept(l, NULL, NULL);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf, 0)) > 0) {
    } /* the request's bytes, then the close */
    assert_int_equal(r, 0);
    close(fd);
    rmq_rem_client_destroy(cl);
    close(l);
}

/* Client on a loop the caller runs (the broker's service loop). */

/* ------------------------------------------------------------- borrowed request bodies */

/* A request's body is a slice of the buffer it was decoded from; a response's never is; owning
 * it copies it out so the buffer can change. */
static void test_borrow_decode(void **st) {
    rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(310);
    rmq_rem_cmd_set(q, "b", "T");
    rmq_rem_cmd_set_body_copy(q, "hello body", 10);
    rmq_rem_cmd_t *p = rmq_rem_cmd_new_response(q, RMQ_OK, NULL);
    rmq_rem_cmd_set_body_copy(p, "response", 8);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_rem_frame_encode(q, &b), RMQ_OK);
    size_t qlen = b.len;
    assert_int_equal(rmq_rem_frame_encode(p, &b), RMQ_OK);
    char err[160];
    rmq_rem_cmd_t *d, *e;
    assert_int_equal(rmq_rem_frame_decode_ex(b.data, b.len, 0, true, &d, err, sizeof err),
                     (ssize_t)qlen);
    assert_true(d->body_borrowed);
    assert_ptr_equal(d->body, b.data + qlen - 10);
    assert_memory_equal(d->body, "hello body", 10);
    assert_int_equal(
        rmq_rem_frame_decode_ex(b.data + qlen, b.len - qlen, 0, true, &e, err, sizeof err),
        (ssize_t)(b.len - qlen));
    assert_false(e->body_borrowed);
    assert_true(e->body < b.data || e->body >= b.data + b.len);
    assert_memory_equal(e->body, "response", 8);
    assert_int_equal(rmq_rem_cmd_own_body(d), RMQ_OK);
    assert_false(d->body_borrowed);
    memset(b.data, 'x', b.len); /* the read buffer moves on */
    assert_int_equal(d->body_len, 10);
    assert_memory_equal(d->body, "hello body", 10);
    /* a plain decode never borrows */
    rmq_rem_cmd_t *f;
    rmq_buf_reset(&b);
    assert_int_equal(rmq_rem_frame_encode(q, &b), RMQ_OK);
    assert_int_equal(rmq_rem_frame_decode(b.data, b.len, 0, &f, err, sizeof err), (ssize_t)b.len);
    assert_false(f->body_borrowed);
    rmq_rem_cmd_destroy(f);
    rmq_rem_cmd_destroy(d);
    rmq_rem_cmd_destroy(e);
    rmq_rem_cmd_destroy(p);
    rmq_rem_cmd_destroy(q);
    rmq_buf_fini(&b);
}

/* A borrowing server: H_KEEP keeps its request (a reference) and is answered, with its body,
 * when the next H_ECHO arrives, after that frame has been read over the same buffer bytes. */
enum { BODY_N = 1000 };
static struct {
    uv_loop_t loop;
    uv_async_t stop;
    rmq_rem_server_t *srv;
    rmq_rem_conn_t *kept_conn;
    rmq_rem_cmd_t *kept;
    atomic_int got_keep;
    char addr[64];
} B;

static rmq_rem_cmd_t *b_keep(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    B.kept = rmq_rem_cmd_ref(req);
    B.kept_conn = c;
    rmq_rem_conn_ref(c);
    rmq_rem_cmd_destroy(req); /* the dispatcher's reference, as broker/dispatch.c drops it */
    atomic_store(&B.got_keep, 1);
    return NULL;
}

static rmq_rem_cmd_t *b_echo(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {
    if (B.kept) {
        rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(B.kept, RMQ_OK, NULL);
        rmq_rem_cmd_set_body_copy(r, B.kept->body, B.kept->body_len);
        rmq_rem_conn_send(B.kept_conn, r);
        rmq_rem_conn_unref(B.kept_conn);
        rmq_rem_cmd_destroy(B.kept);
        B.kept = NULL;
    }
    assert_true(req->body_borrowed); /* not kept: no copy */
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    rmq_rem_cmd_set_body_copy(r, req->body, req->body_len);
    rmq_rem_cmd_destroy(req);
    return r;
}

static void b_closed(void *arg) {
    uv_close((uv_handle_t *)&B.stop, NULL);
}
static void b_on_stop(uv_async_t *h) {
    rmq_rem_server_close(B.srv, b_closed, NULL);
}
static void *b_thread(void *arg) {
    uv_run(&B.loop, UV_RUN_DEFAULT);
    return NULL;
}

static rmq_rem_resp_cb b_keep_cb;
static atomic_int b_keep_done;
static char b_keep_body[BODY_N];
static void on_keep_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    if (!err && resp->body_len == BODY_N) memcpy(b_keep_body, resp->body, BODY_N);
    rmq_rem_cmd_destroy(resp);
    atomic_store(&b_keep_done, err ? -1 : 1);
}

static void test_rt_borrow_kept(void **st) {
    memset(&B, 0, sizeof B);
    assert_int_equal(uv_loop_init(&B.loop), 0);
    assert_int_equal(uv_async_init(&B.loop, &B.stop, b_on_stop), 0);
    rmq_rem_server_cfg_t cfg = {.host = "127.0.0.1", .port = 0, .name = "borrow-srv"};
    assert_int_equal(rmq_rem_server_new(&B.loop, &cfg, &B.srv), RMQ_OK);
    rmq_rem_server_borrow_bodies(B.srv, true);
    rmq_rem_server_register(B.srv, H_ECHO, b_echo, NULL);
    rmq_rem_server_register(B.srv, H_LATER, b_keep, NULL);
    assert_int_equal(rmq_rem_server_start(B.srv), RMQ_OK);
    snprintf(B.addr, sizeof B.addr, "127.0.0.1:%d", rmq_rem_server_port(B.srv));
    pthread_t thr;
    pthread_create(&thr, NULL, b_thread, NULL);
    b_keep_cb = on_keep_resp;
    rmq_rem_client_t *cl = new_client();
    char a[BODY_N], bb[BODY_N];
    memset(a, 'A', sizeof a);
    memset(bb, 'B', sizeof bb);
    for (int round = 0; round < 3; round++) {
        atomic_store(&b_keep_done, 0);
        atomic_store(&B.got_keep, 0);
        rmq_rem_cmd_t *k = rmq_rem_cmd_new_request(H_LATER);
        rmq_rem_cmd_set_body_copy(k, a, sizeof a);
        assert_int_equal(rmq_rem_client_invoke_async(cl, B.addr, k, 5000, b_keep_cb, NULL), RMQ_OK);
        for (int i = 0; i < 500 && !atomic_load(&B.got_keep); i++) usleep(10 * 1000);
        assert_int_equal(atomic_load(&B.got_keep), 1);
        rmq_rem_cmd_t *q = rmq_rem_cmd_new_request(H_ECHO), *resp;
        rmq_rem_cmd_set_body_copy(q, bb, sizeof bb);
        assert_int_equal(rmq_rem_client_invoke_sync(cl, B.addr, q, 5000, &resp), RMQ_OK);
        assert_int_equal(resp->body_len, BODY_N);
        assert_memory_equal(resp->body, bb, BODY_N);
        rmq_rem_cmd_destroy(resp);
        for (int i = 0; i < 500 && !atomic_load(&b_keep_done); i++) usleep(10 * 1000);
        assert_int_equal(atomic_load(&b_keep_done), 1);
        assert_memory_equal(b_keep_body, a, BODY_N); /* its own bytes, not the next frame's */
    }
    rmq_rem_client_destroy(cl);
    uv_async_send(&B.stop);
    pthread_join(thr, NULL);
    assert_int_equal(uv_loop_close(&B.loop), 0);
}

static void test_rt_caller_loop(void **st) {
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    rmq_rem_client_t *cl;
    assert_int_equal(rmq_rem_client_new(&loop, NULL, &cl), RMQ_OK);
    assert_ptr_equal(rmq_rem_client_loop(cl), &loop);
    enum { N = 50 };
    async_arg_t args[N];
    waiter_t w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        args[i] = (async_arg_t){&w, i};
        assert_int_equal(
            rmq_rem_client_invoke_async(cl, E.addr, echo_req(k), 5000, on_async_echo, &args[i]),
            RMQ_OK);
    }
    while (w.done < N) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(w.ok, N);
    rmq_err_t pend = 1;
    rmq_rem_client_invoke_async(cl, E.addr, rmq_rem_cmd_new_request(H_SILENT), 60000, on_closed_cb,
                                &pend);
    uv_run(&loop, UV_RUN_NOWAIT);
    rmq_rem_client_destroy(cl);
    assert_int_equal(pend, RMQ_ERR__CLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

int main(void) {
    rmq_log_open(NULL, RMQ_LOG_LVL_WARN, true);
    signal(SIGPIPE, SIG_IGN); /* as mqbroker and mqnamesrv do: the server thread writes to
                                 clients that tests drop */
    const struct CMUnitTest codec[] = {
        cmocka_unit_test(test_golden_json_encode),
        cmocka_unit_test(test_mute_peer_closed),
        cmocka_unit_test(test_golden_json_decode),
        cmocka_unit_test(test_golden_binary),
        cmocka_unit_test(test_binary_remark_body_roundtrip),
        cmocka_unit_test(test_binary_fields),
        cmocka_unit_test(test_cpp_ons_scalars),
        cmocka_unit_test(test_go_style),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_truncated_bytewise),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_cmd_api),
        cmocka_unit_test(test_iov_release_on_destroy),
        cmocka_unit_test(test_borrow_decode),
        cmocka_unit_test(test_rt_borrow_kept),
        cmocka_unit_test(test_fast_json_matches_jansson),
        cmocka_unit_test(test_fast_json_words),
        cmocka_unit_test(test_write_json_response),
        cmocka_unit_test(test_idle_close),
        cmocka_unit_test(test_connect_timeout),
    };
    const struct CMUnitTest loopback[] = {
        cmocka_unit_test_setup_teardown(test_rt_sync, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_big_bodies_many, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_async_many, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_oneway_and_unknown, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_timeout, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_server_initiated, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_answer_later, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_close_and_reconnect, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_zero_copy, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_raw_oneway_unknown, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_bad_frame_isolated, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_destroy_pending, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_invoke_frame, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_invoke_frame_partial, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_invoke_from_loop, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_connect_fail, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_caller_loop, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_close_with_pending_write, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_concurrent_invokers, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_sync_direct, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_sync_direct_order, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_sync_direct_partial, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_rt_sync_direct_close_churn, srv_setup, srv_teardown),
    };
    int fails = cmocka_run_group_tests_name("remoting codec", codec, NULL, NULL);
    fails += cmocka_run_group_tests_name("remoting loopback", loopback, NULL, NULL);
    return fails ? 1 : 0;
}
