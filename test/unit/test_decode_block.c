/* Unit tests for the one-block decode of JSON headers (remoting/frame.c json_cmd_alloc): the
 * command, its ext array and its string block share one allocation. Every field, the remark
 * and the body must come out as the header says, through the fast path, the jansson fallback
 * and later growth (set, add_fields) that moves the array out of the block. Run under ASan to
 * catch a part freed on its own. Also the flat SEND_OK writer's word-wise escape check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "remoting/cmd.h"
#include "remoting/frame.h"

/* A growing text buffer for headers and expected values. */
typedef struct {
    char *p;
    size_t n, cap;
} sb_t;

static void sb_add(sb_t *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sb_t *b, const char *s) {
    sb_add(b, s, strlen(s));
}

/* Decode header hdr (JSON) with body through the public decoder; borrow as the broker does. */
static rmq_rem_cmd_t *decode(const char *hdr, const char *body, bool borrow, uint8_t **frame) {
    size_t hl = strlen(hdr), bl = body ? strlen(body) : 0;
    uint8_t *f = malloc(8 + hl + bl);
    assert_non_null(f);
    rmq_put_be32(f, (uint32_t)(4 + hl + bl));
    rmq_put_be32(f + 4, (uint32_t)hl); /* type 0: JSON */
    memcpy(f + 8, hdr, hl);
    if (bl) memcpy(f + 8 + hl, body, bl);
    rmq_rem_cmd_t *c = NULL;
    char err[128];
    ssize_t r = rmq_rem_frame_decode_ex(f, 8 + hl + bl, 0, borrow, &c, err, sizeof err);
    assert_int_equal(r, (ssize_t)(8 + hl + bl));
    assert_non_null(c);
    if (body) {
        assert_int_equal(c->body_len, bl);
        assert_memory_equal(c->body, body, bl);
    } else {
        assert_null(c->body);
    }
    *frame = f; /* a borrowed body points into it: freed by the caller after c */
    return c;
}

/* Field i of a generated header: its JSON text and the value it decodes to. Mixes plain
 * strings, escapes (forcing the per-byte path), UTF-8, integers, booleans and ':' in text. */
static void gen_field(size_t i, sb_t *json, sb_t *want) {
    char t[96];
    switch (i % 6) {
    case 0:
        snprintf(t, sizeof t, "\"plain-%zu-value\"", i);
        sb_str(json, t);
        snprintf(t, sizeof t, "plain-%zu-value", i);
        sb_str(want, t);
        break;
    case 1:
        snprintf(t, sizeof t, "\"q\\\"%zu\\\\x\\u00e9:y\"", i);
        sb_str(json, t);
        snprintf(t, sizeof t, "q\"%zu\\x\xc3\xa9:y", i);
        sb_str(want, t);
        break;
    case 2:
        snprintf(t, sizeof t, "%zu", i * 1000003u);
        sb_str(json, t);
        sb_str(want, t);
        break;
    case 3:
        sb_str(json, "true");
        sb_str(want, "true");
        break;
    case 4: sb_str(json, "\"\""); break;
    default:
        snprintf(t, sizeof t, "\"caf\xc3\xa9 %zu a:b:c\"", i);
        sb_str(json, t);
        snprintf(t, sizeof t, "caf\xc3\xa9 %zu a:b:c", i);
        sb_str(want, t);
        break;
    }
}

/* A request header with n generated ext fields, a remark when remark != NULL, and `extra`
 * (raw JSON members appended inside extFields, e.g. a null that forces jansson). */
static char *gen_header(size_t n, const char *remark, const char *extra) {
    sb_t b = {0};
    sb_str(&b, "{\"code\":310,\"language\":\"CPP\",\"version\":401,\"opaque\":123456,\"flag\":0,");
    if (remark) {
        sb_str(&b, "\"remark\":\"");
        sb_str(&b, remark);
        sb_str(&b, "\",");
    }
    sb_str(&b, "\"extFields\":{");
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "%s\"key%zu\":", i ? "," : "", i);
        sb_str(&b, k);
        sb_t want = {0};
        gen_field(i, &b, &want);
        free(want.p);
    }
    if (extra) {
        if (n) sb_str(&b, ",");
        sb_str(&b, extra);
    }
    sb_str(&b, "},\"serializeTypeCurrentRPC\":\"JSON\"}");
    return b.p;
}

static void check_fields(const rmq_rem_cmd_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%zu", i);
        sb_t json = {0}, want = {0};
        sb_str(&want, "");
        gen_field(i, &json, &want);
        const char *v = rmq_rem_cmd_get(c, k);
        assert_non_null(v);
        assert_string_equal(v, want.p);
        free(json.p);
        free(want.p);
    }
}

static void check_head(const rmq_rem_cmd_t *c) {
    assert_int_equal(c->code, 310);
    assert_int_equal(c->language, RMQ_LANG_CPP);
    assert_int_equal(c->version, 401);
    assert_int_equal(c->opaque, 123456);
    assert_int_equal(c->flag, 0);
    assert_int_equal(c->serialize_type, RMQ_REM_SER_JSON);
}

/* 0..200 fields: below, at and past the 64 the fast path takes (past it jansson decodes into
 * the block's array, which then moves), in order, every value intact. */
static void test_many_fields(void **st) {
    (void)st;
    const size_t counts[] = {0, 1, 2, 7, 15, 16, 17, 31, 63, 64, 65, 100, 200};
    for (size_t ci = 0; ci < RMQ_ARRAY_LEN(counts); ci++) {
        for (int borrow = 0; borrow < 2; borrow++) {
            size_t n = counts[ci];
            char *h = gen_header(n, NULL, NULL);
            uint8_t *f;
            rmq_rem_cmd_t *c = decode(h, "the body bytes", borrow, &f);
            check_head(c);
            assert_true(c->has_ext);
            assert_int_equal(c->next, n);
            for (size_t i = 0; i < n; i++) {
                char k[32];
                snprintf(k, sizeof k, "key%zu", i);
                assert_string_equal(c->ext[i].key, k); /* header order */
            }
            check_fields(c, n);
            assert_null(c->remark);
            rmq_rem_cmd_destroy(c);
            free(f);
            free(h);
        }
    }
}

/* Fields set, replaced and added after decode: the array leaves the block on growth, replaced
 * values get their own blocks, and the decoded ones stay readable. */
static void test_growth_after_decode(void **st) {
    (void)st;
    const size_t counts[] = {0, 3, 20, 64};
    for (size_t ci = 0; ci < RMQ_ARRAY_LEN(counts); ci++) {
        size_t n = counts[ci];
        char *h = gen_header(n, NULL, NULL);
        uint8_t *f;
        rmq_rem_cmd_t *c = decode(h, NULL, true, &f);
        assert_int_equal(c->next, n);
        if (n > 1) assert_int_equal(rmq_rem_cmd_set(c, "key1", "replaced once"), RMQ_OK);
        if (n > 1) assert_int_equal(rmq_rem_cmd_set(c, "key1", "replaced twice"), RMQ_OK);
        for (size_t i = 0; i < 150; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "new%zu", i);
            snprintf(v, sizeof v, "v%zu", i * 7);
            assert_int_equal(rmq_rem_cmd_set(c, k, v), RMQ_OK);
        }
        rmq_rem_field_t kv[] = {{"addA", "1"}, {"addB", "two"}};
        assert_int_equal(rmq_rem_cmd_add_fields(c, kv, 2), RMQ_OK);
        assert_int_equal(c->next, n + 152);
        for (size_t i = 0; i < n; i++) {
            if (i == 1) continue;
            char k[32];
            snprintf(k, sizeof k, "key%zu", i);
            sb_t json = {0}, want = {0};
            sb_str(&want, "");
            gen_field(i, &json, &want);
            assert_string_equal(rmq_rem_cmd_get(c, k), want.p);
            free(json.p);
            free(want.p);
        }
        if (n > 1) assert_string_equal(rmq_rem_cmd_get(c, "key1"), "replaced twice");
        for (size_t i = 0; i < 150; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "new%zu", i);
            snprintf(v, sizeof v, "v%zu", i * 7);
            assert_string_equal(rmq_rem_cmd_get(c, k), v);
        }
        assert_string_equal(rmq_rem_cmd_get(c, "addA"), "1");
        assert_string_equal(rmq_rem_cmd_get(c, "addB"), "two");
        /* a reference taken and dropped leaves the command whole */
        rmq_rem_cmd_ref(c);
        rmq_rem_cmd_destroy(c);
        assert_string_equal(rmq_rem_cmd_get(c, "addB"), "two");
        rmq_rem_cmd_destroy(c);
        free(f);
        free(h);
    }
    /* a header without extFields, then add_fields makes a block of its own */
    uint8_t *f;
    rmq_rem_cmd_t *c = decode("{\"code\":11,\"opaque\":5}", NULL, false, &f);
    assert_int_equal(c->next, 0);
    assert_false(c->has_ext);
    rmq_rem_field_t kv[] = {{"a", "1"}, {"b", "22"}, {"c", "333"}};
    assert_int_equal(rmq_rem_cmd_add_fields(c, kv, 3), RMQ_OK);
    assert_int_equal(c->next, 3);
    assert_string_equal(rmq_rem_cmd_get(c, "c"), "333");
    assert_int_equal(rmq_rem_cmd_set(c, "a", "replaced"), RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(c, "a"), "replaced");
    rmq_rem_cmd_destroy(c);
    free(f);
}

/* Duplicate keys and nulls leave the fast path after it filled part of the block; jansson
 * decides (the last duplicate wins, a null is absent), in the same command. */
static void test_fallback_in_block(void **st) {
    (void)st;
    const char *extras[] = {"\"key0\":\"dup wins\"", "\"nul\":null", "\"real\":2.5",
                            "\"nested\":{\"x\":1}"};
    for (size_t e = 0; e < RMQ_ARRAY_LEN(extras); e++) {
        for (size_t n = 1; n < 80; n += 13) {
            char *h = gen_header(n, "rem", extras[e]);
            uint8_t *f;
            rmq_rem_cmd_t *c = decode(h, "b", e % 2 == 0, &f);
            check_head(c);
            assert_string_equal(c->remark, "rem");
            if (e == 0) {
                assert_int_equal(c->next, n);
                assert_string_equal(rmq_rem_cmd_get(c, "key0"), "dup wins");
                for (size_t i = 1; i < n; i++) {
                    char k[32];
                    snprintf(k, sizeof k, "key%zu", i);
                    assert_non_null(rmq_rem_cmd_get(c, k));
                }
            } else {
                check_fields(c, n);
                if (e == 1) assert_int_equal(c->next, n);
                if (e == 1) assert_null(rmq_rem_cmd_get(c, "nul"));
                if (e == 2) assert_string_equal(rmq_rem_cmd_get(c, "real"), "2.5");
                if (e == 3) assert_string_equal(rmq_rem_cmd_get(c, "nested"), "{\"x\":1}");
            }
            assert_int_equal(rmq_rem_cmd_set(c, "after", "x"), RMQ_OK);
            assert_string_equal(rmq_rem_cmd_get(c, "after"), "x");
            rmq_rem_cmd_destroy(c);
            free(f);
            free(h);
        }
    }
}

/* A long remark with escapes, a long key and a 60 KiB value: the block is sized by the header
 * and nothing is cut. */
static void test_remark_and_large_ext(void **st) {
    (void)st;
    sb_t h = {0}, rem = {0}, want_rem = {0}, big = {0}, want_big = {0}, key = {0};
    for (size_t i = 0; i < 3000; i++) {
        sb_str(&rem, i % 10 == 9 ? "\\\"" : "r");
        sb_str(&want_rem, i % 10 == 9 ? "\"" : "r");
    }
    for (size_t i = 0; i < 61440; i++) {
        char ch[2] = {(char)('a' + i % 26), 0};
        if (i % 1000 == 999) {
            sb_str(&big, "\\n\\u00e9");
            sb_str(&want_big, "\n\xc3\xa9");
        } else {
            sb_str(&big, ch);
            sb_str(&want_big, ch);
        }
    }
    for (size_t i = 0; i < 300; i++) sb_str(&key, "K");
    sb_str(&h, "{\"code\":310,\"remark\":\"");
    sb_str(&h, rem.p);
    sb_str(&h, "\",\"extFields\":{\"topic\":\"T\",\"");
    sb_str(&h, key.p);
    sb_str(&h, "\":\"");
    sb_str(&h, big.p);
    sb_str(&h, "\",\"queueId\":3},\"opaque\":77}");
    uint8_t *f;
    rmq_rem_cmd_t *c = decode(h.p, "body", true, &f);
    assert_int_equal(c->code, 310);
    assert_int_equal(c->opaque, 77);
    assert_string_equal(c->remark, want_rem.p);
    assert_int_equal(c->next, 3);
    assert_string_equal(rmq_rem_cmd_get(c, "topic"), "T");
    assert_string_equal(rmq_rem_cmd_get(c, key.p), want_big.p);
    assert_string_equal(rmq_rem_cmd_get(c, "queueId"), "3");
    rmq_rem_cmd_set_remarkf(c, "new remark %d", 5);
    assert_string_equal(c->remark, "new remark 5");
    rmq_rem_cmd_destroy(c);
    free(f);
    free(h.p);
    free(rem.p);
    free(want_rem.p);
    free(big.p);
    free(want_big.p);
    free(key.p);
}

/* Frames decoded back to back from one buffer (as a connection reads them) are independent:
 * destroying one leaves the next intact. */
static void test_back_to_back(void **st) {
    (void)st;
    char *h1 = gen_header(5, NULL, NULL), *h2 = gen_header(40, "two", NULL);
    uint8_t *f1, *f2;
    rmq_rem_cmd_t *a = decode(h1, "one", true, &f1);
    rmq_rem_cmd_t *b = decode(h2, NULL, false, &f2);
    rmq_rem_cmd_destroy(a);
    check_fields(b, 40);
    assert_string_equal(b->remark, "two");
    rmq_rem_cmd_destroy(b);
    free(f1);
    free(f2);
    free(h1);
    free(h2);
}

/* The flat SEND_OK writer's escape check reads whole words, the last one overlapping the one
 * before: a byte JSON escapes at any place of a key or value of any length up to 40 (the last
 * byte included) gives 0; plain text of every length, UTF-8 too, is written. */
static void test_flat_writer_every_place(void **st) {
    (void)st;
    const char esc[] = {'"', '\\', '\n', 0x01, 0x1f};
    uint8_t out[512];
    for (size_t len = 0; len <= 40; len++) {
        char t[48];
        for (size_t i = 0; i < len; i++) t[i] = i % 7 == 3 ? (char)0xc3 : (char)('a' + i % 26);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)t[i] == 0xc3) t[i] = i + 1 < len ? (char)0xc3 : 'z';
        t[len] = 0;
        rmq_rem_field_t plain[] = {{"msgId", t}, {t[0] ? t : "k", "v"}};
        assert_true(rmq_rem_frame_write_json_response(0, 1, plain, 2, 0, out, sizeof out) > 0);
        for (size_t p = 0; p < len; p++) {
            for (size_t e = 0; e < sizeof esc; e++) {
                char u[48];
                memcpy(u, t, len + 1);
                u[p] = esc[e];
                rmq_rem_field_t v[] = {{"msgId", u}};
                assert_int_equal(rmq_rem_frame_write_json_response(0, 1, v, 1, 0, out, sizeof out),
                                 0);
                rmq_rem_field_t k[] = {{u, "x"}};
                assert_int_equal(rmq_rem_frame_write_json_response(0, 1, k, 1, 0, out, sizeof out),
                                 0);
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_fields),       cmocka_unit_test(test_growth_after_decode),
        cmocka_unit_test(test_fallback_in_block), cmocka_unit_test(test_remark_and_large_ext),
        cmocka_unit_test(test_back_to_back),      cmocka_unit_test(test_flat_writer_every_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
