#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void rmq_buf_init(rmq_buf_t *b) {
    memset(b, 0, sizeof *b);
}

void rmq_buf_fini(rmq_buf_t *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

rmq_err_t rmq_buf_reserve(rmq_buf_t *b, size_t n) {
    if (b->cap - b->len >= n) return RMQ_OK;
    /* Reclaim consumed space before growing: a read buffer stays small. */
    if (b->rpos > 0 && b->rpos >= b->len / 2) {
        memmove(b->data, b->data + b->rpos, b->len - b->rpos);
        b->len -= b->rpos;
        b->rpos = 0;
        if (b->cap - b->len >= n) return RMQ_OK;
    }
    size_t need = b->len + n;
    if (need < n) return RMQ_ERR__NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return RMQ_ERR__NOMEM;
    b->data = d;
    b->cap = cap;
    return RMQ_OK;
}

rmq_err_t rmq_buf_append(rmq_buf_t *b, const void *p, size_t n) {
    if (n == 0) return RMQ_OK;
    rmq_err_t e = rmq_buf_reserve(b, n);
    if (e) return e;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RMQ_OK;
}

rmq_err_t rmq_buf_append_str(rmq_buf_t *b, const char *s) {
    return rmq_buf_append(b, s, strlen(s));
}

rmq_err_t rmq_buf_appendf(rmq_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return RMQ_ERR__FAIL;
    rmq_err_t e = rmq_buf_reserve(b, (size_t)n + 1);
    if (e) return e;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RMQ_OK;
}

rmq_err_t rmq_buf_append_u8(rmq_buf_t *b, uint8_t v) {
    return rmq_buf_append(b, &v, 1);
}

rmq_err_t rmq_buf_append_be16(rmq_buf_t *b, uint16_t v) {
    uint8_t t[2];
    rmq_put_be16(t, v);
    return rmq_buf_append(b, t, 2);
}

rmq_err_t rmq_buf_append_be32(rmq_buf_t *b, uint32_t v) {
    uint8_t t[4];
    rmq_put_be32(t, v);
    return rmq_buf_append(b, t, 4);
}

rmq_err_t rmq_buf_append_be64(rmq_buf_t *b, uint64_t v) {
    uint8_t t[8];
    rmq_put_be64(t, v);
    return rmq_buf_append(b, t, 8);
}

void rmq_buf_consume(rmq_buf_t *b, size_t n) {
    b->rpos += n;
    if (b->rpos >= b->len) b->rpos = b->len = 0;
}

void rmq_buf_reset(rmq_buf_t *b) {
    b->len = b->rpos = 0;
}

uint8_t *rmq_buf_detach(rmq_buf_t *b, size_t *len) {
    if (b->rpos) {
        memmove(b->data, b->data + b->rpos, b->len - b->rpos);
        b->len -= b->rpos;
        b->rpos = 0;
    }
    uint8_t *d = b->data;
    if (len) *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}
