/* Growable byte buffer with a read position, for frames, JSON and encoded messages. */
#ifndef RMQ_BUF_H
#define RMQ_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq_err.h"

typedef struct {
    uint8_t *data; /* owned; NULL until first growth */
    size_t len;    /* bytes written */
    size_t cap;
    size_t rpos; /* bytes consumed from the front (rmq_buf_consume) */
} rmq_buf_t;

void rmq_buf_init(rmq_buf_t *b);
void rmq_buf_fini(rmq_buf_t *b);
/* Make room for n more bytes past len. */
rmq_err_t rmq_buf_reserve(rmq_buf_t *b, size_t n);
rmq_err_t rmq_buf_append(rmq_buf_t *b, const void *p, size_t n);
rmq_err_t rmq_buf_append_str(rmq_buf_t *b, const char *s);
rmq_err_t rmq_buf_appendf(rmq_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
rmq_err_t rmq_buf_append_u8(rmq_buf_t *b, uint8_t v);
rmq_err_t rmq_buf_append_be16(rmq_buf_t *b, uint16_t v);
rmq_err_t rmq_buf_append_be32(rmq_buf_t *b, uint32_t v);
rmq_err_t rmq_buf_append_be64(rmq_buf_t *b, uint64_t v);
/* Unread bytes and their count. */
static inline uint8_t *rmq_buf_rptr(const rmq_buf_t *b) {
    return b->data + b->rpos;
}
static inline size_t rmq_buf_unread(const rmq_buf_t *b) {
    return b->len - b->rpos;
}
/* Drop n unread bytes from the front; compacts lazily. */
void rmq_buf_consume(rmq_buf_t *b, size_t n);
void rmq_buf_reset(rmq_buf_t *b);
/* Hand the data to the caller (free() it) and reset b. */
uint8_t *rmq_buf_detach(rmq_buf_t *b, size_t *len);

#endif
