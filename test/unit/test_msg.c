/* Unit tests for common/msg.c: the stored record against golden bytes laid out by hand from the
 * table in store.md 2.1, properties, offset ids, tag hash, zlib. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/util.h"

/* Append helpers that build golden bytes field by field, independent of the encoder. */
typedef struct {
    uint8_t b[512];
    size_t n;
} gold_t;
static void g32(gold_t *g, uint32_t v) {
    rmq_put_be32(g->b + g->n, v);
    g->n += 4;
}
static void g64(gold_t *g, uint64_t v) {
    rmq_put_be64(g->b + g->n, v);
    g->n += 8;
}
static void gbytes(gold_t *g, const void *p, size_t n) {
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void g8(gold_t *g, uint8_t v) {
    g->b[g->n++] = v;
}
static void g16(gold_t *g, uint16_t v) {
    rmq_put_be16(g->b + g->n, v);
    g->n += 2;
}

static rmq_msg_host_t host4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int port) {
    rmq_msg_host_t h;
    memset(&h, 0, sizeof(h));
    h.ip[0] = a;
    h.ip[1] = b;
    h.ip[2] = c;
    h.ip[3] = d;
    h.ip_len = 4;
    h.port = port;
    return h;
}

static const char BODY[] = "Hello RocketMQ";
static const char TOPIC[] = "TopicTest";
static const char PROPS[] = "TAGS\001TagA\002KEYS\001k1 k2";

static rmq_msg_rec_t sample(bool bv6, bool sv6) {
    rmq_msg_rec_t r;
    memset(&r, 0, sizeof(r));
    r.queue_id = 3;
    r.flag = 0x11;
    r.queue_offset = 7;
    r.phys_offset = 0x1234;
    r.sysflag = RMQ_SYSFLAG_COMPRESSED | (bv6 ? 0 : RMQ_SYSFLAG_BORNHOST_V6); /* V6 recomputed */
    r.born_ts = 1704422400000LL;
    r.born_host = host4(10, 0, 0, 1, 50000);
    if (bv6) {
        memset(r.born_host.ip, 0, 16);
        r.born_host.ip[15] = 1; /* ::1 */
        r.born_host.ip_len = 16;
    }
    r.store_ts = 1704422400123LL;
    r.store_host = host4(192, 168, 0, 10, 10911);
    if (sv6) {
        for (int i = 0; i < 16; i++) r.store_host.ip[i] = (uint8_t)(0xF0 + i);
        r.store_host.ip_len = 16;
    }
    r.reconsume_times = 2;
    r.prepared_txn_offset = 99;
    r.body = (const uint8_t *)BODY;
    r.body_len = (int32_t)strlen(BODY);
    r.topic = TOPIC;
    r.topic_len = (int32_t)strlen(TOPIC);
    r.props = PROPS;
    r.props_len = (int32_t)strlen(PROPS);
    return r;
}

static void gold_record(gold_t *g, bool bv6, bool sv6) {
    size_t bl = strlen(BODY), tl = strlen(TOPIC), pl = strlen(PROPS);
    size_t total = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + (bv6 ? 20 : 8) + 8 + (sv6 ? 20 : 8) + 4 + 8 +
                   4 + bl + 1 + tl + 2 + pl;
    g->n = 0;
    g32(g, (uint32_t)total);
    g32(g, 0xDAA320A7u);
    g32(g, rmq_crc32(0, BODY, bl) & 0x7FFFFFFF);
    g32(g, 3);
    g32(g, 0x11);
    g64(g, 7);
    g64(g, 0x1234);
    g32(g, 0x1u | (bv6 ? 0x10u : 0) | (sv6 ? 0x20u : 0));
    g64(g, 1704422400000ULL);
    if (bv6) {
        uint8_t ip[16] = {0};
        ip[15] = 1;
        gbytes(g, ip, 16);
    } else {
        gbytes(g, (uint8_t[]){10, 0, 0, 1}, 4);
    }
    g32(g, 50000);
    g64(g, 1704422400123ULL);
    if (sv6) {
        uint8_t ip[16];
        for (int i = 0; i < 16; i++) ip[i] = (uint8_t)(0xF0 + i);
        gbytes(g, ip, 16);
    } else {
        gbytes(g, (uint8_t[]){192, 168, 0, 10}, 4);
    }
    g32(g, 10911);
    g32(g, 2);
    g64(g, 99);
    g32(g, (uint32_t)bl);
    gbytes(g, BODY, bl);
    g8(g, (uint8_t)tl);
    gbytes(g, TOPIC, tl);
    g16(g, (uint16_t)pl);
    gbytes(g, PROPS, pl);
    assert_int_equal(g->n, total);
}

static void check_encode(bool bv6, bool sv6) {
    gold_t g;
    gold_record(&g, bv6, sv6);
    rmq_msg_rec_t r = sample(bv6, sv6);
    size_t sz =
        rmq_msg_rec_size((size_t)r.body_len, (size_t)r.topic_len, (size_t)r.props_len, bv6, sv6);
    assert_int_equal(sz, g.n);
    uint8_t *buf = malloc(sz);
    rmq_msg_rec_encode(buf, &r, true);
    assert_memory_equal(buf, g.b, sz);

    rmq_msg_rec_t d;
    assert_int_equal(rmq_msg_rec_decode(buf, sz, true, &d), (int64_t)sz);
    assert_int_equal(d.queue_id, 3);
    assert_int_equal(d.flag, 0x11);
    assert_int_equal(d.queue_offset, 7);
    assert_int_equal(d.phys_offset, 0x1234);
    assert_int_equal(d.born_ts, 1704422400000LL);
    assert_int_equal(d.store_ts, 1704422400123LL);
    assert_int_equal(d.born_host.ip_len, bv6 ? 16 : 4);
    assert_int_equal(d.store_host.ip_len, sv6 ? 16 : 4);
    assert_int_equal(d.store_host.port, 10911);
    assert_int_equal(d.reconsume_times, 2);
    assert_int_equal(d.prepared_txn_offset, 99);
    assert_int_equal(d.body_len, (int)strlen(BODY));
    assert_memory_equal(d.body, BODY, strlen(BODY));
    assert_int_equal(d.topic_len, (int)strlen(TOPIC));
    assert_memory_equal(d.topic, TOPIC, strlen(TOPIC));
    assert_int_equal(d.props_len, (int)strlen(PROPS));

    /* Patch moves queue offset, phys offset and the store timestamp (whose position depends on
     * the born host length). */
    rmq_msg_rec_patch(buf, 42, 1LL << 33, 5555);
    assert_int_equal(rmq_get_be64(buf + 20), 42);
    assert_int_equal(rmq_get_be64(buf + 28), 1LL << 33);
    assert_int_equal(rmq_get_be64(buf + (bv6 ? 68 : 56)), 5555);
    assert_int_equal(rmq_msg_rec_decode(buf, sz, true, &d), (int64_t)sz);
    assert_int_equal(d.store_ts, 5555);
    assert_int_equal(d.born_ts, 1704422400000LL);

    /* CRC: a flipped body byte fails only when checked. */
    buf[sz - 2 - strlen(PROPS) - 1 - strlen(TOPIC) - 1] ^= 0x40;
    assert_true(rmq_msg_rec_decode(buf, sz, true, &d) < 0);
    assert_int_equal(rmq_msg_rec_decode(buf, sz, false, &d), (int64_t)sz);
    /* Truncated input, and a length that does not match the formula. */
    assert_true(rmq_msg_rec_decode(buf, sz - 1, false, &d) < 0);
    rmq_put_be32(buf, (uint32_t)sz - 1);
    assert_true(rmq_msg_rec_decode(buf, sz, false, &d) < 0);
    free(buf);
}

static void test_encode_v4v4(void **st) {
    (void)st;
    check_encode(false, false);
}
static void test_encode_v6(void **st) {
    (void)st;
    check_encode(true, true);
    check_encode(true, false);
    check_encode(false, true);
}

static void test_sizes(void **st) {
    (void)st;
    assert_int_equal(rmq_msg_rec_size(0, 0, 0, false, false), 91);
    assert_int_equal(rmq_msg_rec_size(0, 0, 0, true, true), 115);
    assert_int_equal(rmq_msg_rec_size(10, 9, 5, false, false), 115);
}

static void test_decode_v2_and_blank(void **st) {
    (void)st;
    /* A v2 record: same as v1 but 2-byte topic length and magic 0xDAA320AB. */
    gold_t g;
    gold_record(&g, false, false);
    size_t bl = strlen(BODY), tl = strlen(TOPIC), pl = strlen(PROPS);
    uint8_t v2[512];
    size_t topic_at = 84 + 4 + bl;
    memcpy(v2, g.b, topic_at);
    rmq_put_be32(v2, (uint32_t)(g.n + 1));
    rmq_put_be32(v2 + 4, 0xDAA320ABu);
    rmq_put_be16(v2 + topic_at, (uint16_t)tl);
    memcpy(v2 + topic_at + 2, TOPIC, tl);
    rmq_put_be16(v2 + topic_at + 2 + tl, (uint16_t)pl);
    memcpy(v2 + topic_at + 4 + tl, PROPS, pl);
    rmq_msg_rec_t d;
    assert_int_equal(rmq_msg_rec_decode(v2, g.n + 1, true, &d), (int64_t)g.n + 1);
    assert_int_equal(d.magic, RMQ_MSG_MAGIC_V2);
    assert_int_equal(d.topic_len, (int)tl);
    assert_memory_equal(d.topic, TOPIC, tl);
    assert_int_equal(d.props_len, (int)pl);

    uint8_t blank[8];
    rmq_put_be32(blank, 4000);
    rmq_put_be32(blank + 4, 0xCBD43194u);
    assert_int_equal(rmq_msg_rec_decode(blank, 8, true, &d), 0);
    assert_int_equal(d.total_size, 4000);
    uint8_t zeros[128] = {0};
    assert_true(rmq_msg_rec_decode(zeros, sizeof(zeros), true, &d) < 0);
    assert_true(rmq_msg_rec_decode(zeros, 4, true, &d) < 0);
}

static void test_no_body(void **st) {
    (void)st;
    rmq_msg_rec_t r;
    memset(&r, 0, sizeof(r));
    r.born_host = host4(1, 2, 3, 4, 5);
    r.store_host = host4(1, 2, 3, 4, 6);
    r.topic = "T";
    r.topic_len = 1;
    uint8_t buf[128];
    rmq_msg_rec_encode(buf, &r, true);
    assert_int_equal(rmq_get_be32(buf), 92);
    assert_int_equal(rmq_get_be32(buf + 8), 0); /* CRC of nothing */
    rmq_msg_rec_t d;
    assert_int_equal(rmq_msg_rec_decode(buf, sizeof(buf), true, &d), 92);
    assert_int_equal(d.body_len, 0);
}

static void test_props(void **st) {
    (void)st;
    const char with[] = "TAGS\001a\002KEYS\001x y\002";
    const char without[] = "TAGS\001a\002KEYS\001x y";
    size_t vl;
    const char *v = rmq_msg_prop_get(with, strlen(with), "KEYS", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "x y", 3);
    v = rmq_msg_prop_get(without, strlen(without), "KEYS", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 3);
    assert_null(rmq_msg_prop_get(without, strlen(without), "KEY", &vl));
    assert_null(rmq_msg_prop_get(NULL, 0, "KEY", &vl));

    /* repeated key: last wins; empty names/values and pairs without 0x01 are skipped */
    const char rep[] = "A\0011\002\0011\002B\001\002junk\002A\0012\001x";
    char out[16];
    assert_true(rmq_msg_prop_copy(rep, sizeof(rep) - 1, "A", out, sizeof(out)));
    assert_string_equal(out, "2\001x");
    assert_false(rmq_msg_prop_copy(rep, sizeof(rep) - 1, "B", out, sizeof(out)));
    assert_true(rmq_msg_prop_copy(with, strlen(with), "TAGS", out, 1));
    assert_string_equal(out, "");

    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_msg_prop_append(&b, "K", "v"), RMQ_OK);
    assert_int_equal(rmq_msg_prop_append(&b, "WAIT", "true"), RMQ_OK);
    assert_int_equal(b.len, 3 + 1 + 9 + 1);
    assert_memory_equal(b.data, "K\001v\002WAIT\001true\002", b.len);
    rmq_buf_t f;
    rmq_buf_init(&f);
    assert_int_equal(rmq_msg_prop_filter(&f, (const char *)b.data, b.len, "WAIT"), RMQ_OK);
    assert_int_equal(f.len, 3);
    assert_memory_equal(f.data, "K\001v", 3);
    rmq_buf_reset(&f);
    assert_int_equal(rmq_msg_prop_filter(&f, (const char *)b.data, b.len, NULL), RMQ_OK);
    assert_int_equal(f.len, 13);
    assert_memory_equal(f.data, "K\001v\002WAIT\001true", 13);
    rmq_buf_fini(&f);
    rmq_buf_fini(&b);
}

static void test_offset_id(void **st) {
    (void)st;
    char id[57];
    rmq_msg_host_t h = host4(192, 168, 0, 10, 10911);
    rmq_msg_offset_id_encode(id, &h, 0);
    assert_string_equal(id, "C0A8000A00002A9F0000000000000000");
    rmq_msg_host_t p;
    int64_t off = -1;
    assert_int_equal(rmq_msg_offset_id_parse("C0A8000A00002A9F0000000000000000", &p, &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(p.ip_len, 4);
    assert_int_equal(p.port, 10911);
    assert_memory_equal(p.ip, h.ip, 4);
    assert_int_equal(rmq_msg_offset_id_parse("c0a8000a00002a9f00000000000004d2", &p, &off), 0);
    assert_int_equal(off, 1234);
    rmq_msg_host_t h6;
    memset(&h6, 0, sizeof(h6));
    h6.ip_len = 16;
    h6.ip[0] = 0xFE;
    h6.ip[1] = 0x80;
    h6.ip[15] = 1;
    h6.port = 10911;
    rmq_msg_offset_id_encode(id, &h6, 0x0102030405060708LL);
    assert_int_equal(strlen(id), 56);
    assert_string_equal(id, "FE80000000000000000000000000000100002A9F0102030405060708");
    assert_int_equal(rmq_msg_offset_id_parse(id, &p, &off), 0);
    assert_int_equal(p.ip_len, 16);
    assert_memory_equal(p.ip, h6.ip, 16);
    assert_int_equal(off, 0x0102030405060708LL);
    assert_int_not_equal(rmq_msg_offset_id_parse("C0A8000A00002A9F000000000000000", &p, &off), 0);
    assert_int_not_equal(rmq_msg_offset_id_parse("G0A8000A00002A9F0000000000000000", &p, &off), 0);
}

static void test_tags_code(void **st) {
    (void)st;
    assert_int_equal(rmq_msg_tags_code("TagA", 4), 2598919);
    assert_int_equal(rmq_msg_tags_code("*", 1), 42);
    assert_int_equal(rmq_msg_tags_code(NULL, 0), 0);
    assert_int_equal(rmq_msg_tags_code("", 0), 0);
    /* negative hashes are sign-extended to 8 bytes */
    assert_true(rmq_msg_tags_code("TopicTest#KEY1", 14) == -1656969516LL);
}

static void test_zlib(void **st) {
    (void)st;
    size_t n = 100000;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)("abcdefgh"[i % 8] + (i / 1000) % 3);
    uint8_t *z, *back;
    size_t zl, bl;
    assert_int_equal(rmq_msg_deflate(src, n, 5, &z, &zl), RMQ_OK);
    assert_true(zl < n / 4);
    assert_int_equal(z[0], 0x78); /* zlib header, not raw deflate or gzip */
    assert_int_equal(rmq_msg_inflate(z, zl, 0, &back, &bl), RMQ_OK);
    assert_int_equal(bl, n);
    assert_memory_equal(back, src, n);
    free(back);
    /* the cap is enforced */
    assert_int_not_equal(rmq_msg_inflate(z, zl, 1000, &back, &bl), RMQ_OK);
    /* garbage and truncated streams fail */
    assert_int_not_equal(rmq_msg_inflate(z, zl / 2, 0, &back, &bl), RMQ_OK);
    assert_int_not_equal(rmq_msg_inflate(src, 100, 0, &back, &bl), RMQ_OK);
    free(z);
    /* empty input round trip */
    assert_int_equal(rmq_msg_deflate(src, 0, 5, &z, &zl), RMQ_OK);
    assert_int_equal(rmq_msg_inflate(z, zl, 0, &back, &bl), RMQ_OK);
    assert_int_equal(bl, 0);
    free(back);
    free(z);
    free(src);
}

static void test_body_crc(void **st) {
    (void)st;
    uint8_t *b = malloc(5000);
    uint32_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    /* every length and alignment around the SIMD thresholds agrees with zlib */
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n < 300; n++)
            assert_int_equal(rmq_msg_body_crc(b + off, n), rmq_crc32(0, b + off, n) & 0x7FFFFFFF);
    for (size_t n = 1000; n < 5000; n += 333)
        assert_int_equal(rmq_msg_body_crc(b, n), rmq_crc32(0, b, n) & 0x7FFFFFFF);
    assert_int_equal(rmq_msg_body_crc("123456789", 9), 0xCBF43926u & 0x7FFFFFFF);
    free(b);
}

/* Recovery and the SDK decode untrusted bytes: random damage never reads out of bounds (ASan)
 * and anything accepted is self-consistent. */
static void test_decode_garbage(void **st) {
    (void)st;
    gold_t g;
    gold_record(&g, false, false);
    uint32_t x = 7;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = g.n;
        uint8_t *b = malloc(n);
        memcpy(b, g.b, n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            x = x * 1103515245u + 12345u;
            b[(x >> 8) % n] = (uint8_t)(x >> 20);
        }
        x = x * 1103515245u + 12345u;
        size_t len = (iter % 3 == 0) ? (x >> 8) % (n + 1) : n;
        rmq_msg_rec_t d;
        int64_t rc = rmq_msg_rec_decode(b, len, iter % 2 == 0, &d);
        if (rc > 0) {
            assert_true((size_t)rc <= len);
            assert_true(d.body_len >= 0 && d.topic_len >= 0 && d.props_len >= 0);
            assert_true(d.body + d.body_len <= b + rc);
            assert_true((const uint8_t *)d.props + d.props_len <= b + rc);
        }
        free(b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),          cmocka_unit_test(test_encode_v4v4),
        cmocka_unit_test(test_encode_v6),      cmocka_unit_test(test_decode_v2_and_blank),
        cmocka_unit_test(test_no_body),        cmocka_unit_test(test_props),
        cmocka_unit_test(test_offset_id),      cmocka_unit_test(test_tags_code),
        cmocka_unit_test(test_zlib),           cmocka_unit_test(test_body_crc),
        cmocka_unit_test(test_decode_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
