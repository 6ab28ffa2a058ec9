/* libFuzzer target for the remoting frame decoder.
 *
 * Input: byte 0 picks where to split the rest, byte 1 picks the frame cap; the rest is a byte
 * stream fed in two reads the way a connection sees it, running the decode-consume loop after
 * each read. Checks: no crash or leak; decoding in pieces yields the same frames as decoding
 * all at once; nothing consumed past what was available; every decoded command re-encodes and
 * decodes back to the same code, opaque, flag, remark, ext fields and body. The same bytes are
 * also parsed as a bare JSON header by the fast parser and by jansson: whenever the fast one
 * accepts, jansson must accept and agree field by field. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "remoting/frame.h"
#include "remoting/internal.h"

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_frame: %s\n", what);
        abort();
    }
}

static bool str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void roundtrip(const rmq_rem_cmd_t *c) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_rem_frame_encode(c, &b) != RMQ_OK) { /* e.g. a header over 16 MiB: refused */
        rmq_buf_fini(&b);
        return;
    }
    rmq_rem_cmd_t *d = NULL;
    char err[128];
    ssize_t r = rmq_rem_frame_decode(b.data, b.len, b.len + 4, &d, err, sizeof err);
    if (r <= 0) fprintf(stderr, "re-decode failed: %s\n", err);
    check(r == (ssize_t)b.len, "re-encoded frame does not decode");
    check(d->code == c->code && d->opaque == c->opaque && d->flag == c->flag, "code/opaque/flag");
    check(d->serialize_type == c->serialize_type, "serialize type");
    check(d->language == c->language && d->version == c->version, "language/version");
    /* A binary header cannot tell an empty remark from none. */
    if (c->serialize_type == RMQ_REM_SER_JSON || (c->remark && *c->remark))
        check(str_eq(d->remark, c->remark), "remark");
    check(d->next == c->next, "ext count");
    for (size_t i = 0; i < c->next; i++) {
        check(strcmp(d->ext[i].key, c->ext[i].key) == 0, "ext key");
        check(strcmp(d->ext[i].val, c->ext[i].val) == 0, "ext value");
    }
    check(d->body_len == c->body_len, "body length");
    check(!c->body_len || memcmp(d->body, c->body, c->body_len) == 0, "body");
    rmq_rem_cmd_destroy(d);
    rmq_buf_fini(&b);
}

/* Decode-consume loop over the unread part of b; returns frames decoded, -1 on a bad frame. */
static int drain(rmq_buf_t *b, size_t max_frame, int *frames) {
    for (;;) {
        rmq_rem_cmd_t *c = NULL;
        char err[128];
        size_t have = rmq_buf_unread(b);
        static const uint8_t none[1];
        const uint8_t *p = have ? rmq_buf_rptr(b) : none; /* an empty buf has no data */
        /* half the frames as a borrowing server decodes them (body a slice of the input) */
        bool borrow = (have & 1) != 0;
        ssize_t r = rmq_rem_frame_decode_ex(p, have, max_frame, borrow, &c, err, sizeof err);
        if (r == 0) {
            check(c == NULL, "command on need-more");
            return 0;
        }
        if (r < 0) {
            check(c == NULL && r == RMQ_ERR__BAD_FRAME, "bad frame result");
            return -1;
        }
        check((size_t)r <= have && r >= 8, "consumed past input");
        check(c != NULL && (size_t)r <= max_frame, "frame over the cap");
        check(!c->body_borrowed || (borrow && !rmq_rem_cmd_is_response(c) && c->body >= p + 8 &&
                                    c->body + c->body_len == p + r),
              "borrowed body outside its frame");
        roundtrip(c);
        if (c->body_borrowed) check(rmq_rem_cmd_own_body(c) == RMQ_OK, "own body");
        rmq_rem_cmd_destroy(c);
        rmq_buf_consume(b, (size_t)r);
        (*frames)++;
    }
}

static void same_cmd(const rmq_rem_cmd_t *a, const rmq_rem_cmd_t *b) {
    check(a->code == b->code && a->flag == b->flag && a->opaque == b->opaque, "fast: ints");
    check(a->version == b->version && a->language == b->language, "fast: version/language");
    check(str_eq(a->remark, b->remark), "fast: remark");
    check(a->has_ext == b->has_ext && a->next == b->next, "fast: ext count");
    for (size_t i = 0; i < a->next; i++) {
        check(strcmp(a->ext[i].key, b->ext[i].key) == 0, "fast: ext key");
        check(strcmp(a->ext[i].val, b->ext[i].val) == 0, "fast: ext value");
    }
}

static void cross_check_json(const uint8_t *h, size_t n) {
    rmq_rem_cmd_t *f = calloc(1, sizeof *f), *s = calloc(1, sizeof *s);
    if (rmq_rem_decode_json_fast_(h, n, f)) {
        char err[128];
        ssize_t r = rmq_rem_decode_json_slow_(h, n, s, err, sizeof err);
        if (r != 0) fprintf(stderr, "jansson refused what the fast path took: %s\n", err);
        check(r == 0, "fast accepted, jansson refused");
        same_cmd(f, s);
    }
    rmq_rem_cmd_destroy(f);
    rmq_rem_cmd_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t n = size - 2;
    const uint8_t *s = data + 2;
    size_t split = n ? (size_t)data[0] * n / 255 : 0;
    static const size_t caps[] = {RMQ_REM_FRAME_MAX_DEFAULT, 64, 1024, 4096};
    size_t cap = caps[data[1] % 4];

    /* All at once. */
    rmq_buf_t whole;
    rmq_buf_init(&whole);
    rmq_buf_append(&whole, s, n);
    int frames_whole = 0;
    int bad_whole = drain(&whole, cap, &frames_whole);
    rmq_buf_fini(&whole);

    /* In two reads. */
    rmq_buf_t b;
    rmq_buf_init(&b);
    int frames = 0;
    rmq_buf_append(&b, s, split);
    int bad = drain(&b, cap, &frames);
    if (bad == 0) {
        rmq_buf_append(&b, s + split, n - split);
        bad = drain(&b, cap, &frames);
    }
    rmq_buf_fini(&b);
    check(bad == bad_whole && frames == frames_whole, "split decode differs");
    cross_check_json(s, n);
    return 0;
}
