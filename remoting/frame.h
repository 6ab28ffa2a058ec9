/* Frame codec (protocol.md section 1, Appendix A):
 *   len(4) | serializeType<<24 | headerLen (4) | header (JSON or ROCKETMQ binary) | body
 * len counts everything after itself. JSON headers are written with keys sorted as fastjson
 * does and every ext value as a JSON string; on input numbers and booleans are accepted. */
#ifndef RMQ_REM_FRAME_H
#define RMQ_REM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "remoting/cmd.h"

/* Java NettyDecoder's cap: applies to the whole frame including the 4-byte prefix. */
#define RMQ_REM_FRAME_MAX_DEFAULT (16 * 1024 * 1024)

/* Decode one frame from buf[0..len).
 * > 0: bytes consumed, *out is a new command (caller destroys);
 *   0: need more bytes (nothing consumed);
 * < 0: RMQ_ERR__BAD_FRAME, reason in err (the connection must be closed). A length prefix
 *      above max_frame is refused as soon as its 4 bytes are seen. */
ssize_t rmq_rem_frame_decode(const uint8_t *buf, size_t len, size_t max_frame, rmq_rem_cmd_t **out,
                             char *err, size_t errlen);
/* The header of the frame at buf: > 0 the bytes of length, header length and header (the
 * body follows), with *out new (no body yet) and *body_len set; 0 when the header is not all
 * in buf; < 0 on a bad frame (err says why). */
ssize_t rmq_rem_frame_decode_head(const uint8_t *buf, size_t len, size_t max_frame,
                                  rmq_rem_cmd_t **out, size_t *body_len, char *err, size_t errlen);
/* As rmq_rem_frame_decode; with borrow_body a request's body (never a response's) is a slice of buf
 * instead of a copy (cmd->body_borrowed): buf must stay unchanged while the command lives, or
 * rmq_rem_cmd_own_body() must copy it out first. */
ssize_t rmq_rem_frame_decode_ex(const uint8_t *buf, size_t len, size_t max_frame, bool borrow_body,
                                rmq_rem_cmd_t **out, char *err, size_t errlen);

/* Append length prefix, header word and header of c to b. The prefix counts the body
 * (rmq_rem_cmd_body_len) but the body bytes are not appended: the caller writes them (copy or
 * iov) right after. */
rmq_err_t rmq_rem_frame_encode_header(const rmq_rem_cmd_t *c, rmq_buf_t *b);
/* Append the whole frame including a copy of the body (tools and tests). */
rmq_err_t rmq_rem_frame_encode(const rmq_rem_cmd_t *c, rmq_buf_t *b);

/* What a request header holds, borrowed: the fields of a command without building one (an
 * async producer's hot path writes its SEND_MESSAGE_V2 frame from its own field array). */
typedef struct {
    int code, language, version, flag, serialize_type;
    int32_t opaque;
    const char *remark;         /* NULL when absent */
    const rmq_rem_field_t *ext; /* keys and values borrowed */
    size_t next;
    bool has_ext;
} rmq_rem_head_t;
/* Append the frame of h with a copy of body[0..body_len): the same bytes rmq_rem_frame_encode
 * writes for a command with these fields and body. */
rmq_err_t rmq_rem_frame_encode_head(const rmq_rem_head_t *h, const void *body, size_t body_len,
                                    rmq_buf_t *b);

/* Server only (the broker's SEND_OK): write into out the whole JSON frame of a response with
 * code, opaque, the ext fields kv[0..n) in that order, no remark and no body, as
 * rmq_rem_cmd_new_response + rmq_rem_cmd_add_fields + rmq_rem_frame_encode_header would, byte
 * for byte, without a command or an allocation. Returns its length, or 0 when it does not fit
 * cap or a key or value has a byte JSON escapes (control, '"', '\\'): use the command then.
 * trusted: bit i set when the caller made kv[i] itself and knows it has no such byte (a literal
 * key, digits, hex): not scanned (12 scans were 7.6 % of the broker loop's work per send). */
size_t rmq_rem_frame_write_json_response(int code, int32_t opaque, const rmq_rem_field_t *kv,
                                         size_t n, uint32_t trusted, uint8_t *out, size_t cap);
/* The same for a request that came with a binary (ROCKETMQ) header: the bytes
 * rmq_rem_frame_encode_header writes for that response encoded binary. No byte needs escaping;
 * 0 only when it does not fit cap (or n > 32). */
size_t rmq_rem_frame_write_binary_response(int code, int32_t opaque, const rmq_rem_field_t *kv,
                                           size_t n, uint8_t *out, size_t cap);

#endif
