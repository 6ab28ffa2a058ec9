/* A remoting command: one request or response, decoded or about to be encoded.
 *
 * Owns everything it points to (remark, ext fields, body) except a zero-copy body set with
 * rmq_rem_cmd_set_body_iov(), whose slices are borrowed until the release callback runs. */
#ifndef RMQ_REM_CMD_H
#define RMQ_REM_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rmq/rmq_codes.h"
#include "rmq/rmq_err.h"

typedef struct {
    char *key; /* owned */
    char *val; /* owned, never NULL (numbers/booleans on input are converted to text) */
} rmq_rem_field_t;

typedef void (*rmq_rem_release_fn)(void *arg);

typedef struct rmq_rem_cmd_s {
    int code;     /* request code or response code (rmq_err_t) */
    int language; /* RMQ_LANG_*; unknown names decode to RMQ_LANG_OTHER */
    int version;
    int32_t opaque;
    int flag;             /* RMQ_REM_FLAG_* */
    int serialize_type;   /* RMQ_REM_SER_*: how it arrived / how it will be encoded */
    char *remark;         /* owned, NULL when absent */
    rmq_rem_field_t *ext; /* extFields in insertion order */
    size_t next, ext_cap;
    bool has_ext;  /* emit "extFields" even when empty (a custom header was present) */
    uint8_t *body; /* owned (malloc), NULL when no body; borrowed when body_borrowed */
    size_t body_len;
    /* body is a slice of the connection's read buffer (a request decoded by a server that
     * borrows bodies, rmq_rem_server_borrow_bodies): valid until its handler returns */
    bool body_borrowed;
    /* zero-copy body: used instead of body when niov > 0 */
    uv_buf_t *iov; /* owned array; slices borrowed */
    size_t niov;
    rmq_rem_release_fn iov_release; /* called once when the slices are no longer needed */
    void *iov_arg;
    /* One owned block holding the keys and values of several ext fields (decoded headers,
     * rmq_rem_cmd_add_fields); strings inside it are not freed on their own. NULL if none. */
    char *ext_blk;
    size_t ext_blk_len;
    /* A decoded JSON header's command is one allocation: the command, then its ext array
     * (ext_inline, until it grows past ext_cap and moves to its own array), then ext_blk
     * (blk_inline). Inline parts are freed with the command, never on their own. */
    bool ext_inline, blk_inline;
    /* References beyond the first (rmq_rem_cmd_ref); 0 for a command with one owner, which
     * is what calloc gives, so every constructor starts there. */
    uint32_t extra_refs;
} rmq_rem_cmd_t;

/* New request with a fresh opaque from a process-wide counter, language OTHER... set by
 * caller if needed, version RMQ_REM_VERSION, JSON. NULL on OOM. */
rmq_rem_cmd_t *rmq_rem_cmd_new_request(int code);
/* The next opaque of that counter, for a request encoded without a command. */
int32_t rmq_rem_next_opaque(void);
/* New response to req: same opaque and serialize type, flag RESPONSE, language JAVA (what
 * Java servers send), remark copied when non-NULL. */
rmq_rem_cmd_t *rmq_rem_cmd_new_response(const rmq_rem_cmd_t *req, int code, const char *remark);
/* Drop one reference; the last one frees c. NULL is a no-op; runs the iov release callback if
 * still pending when freeing. */
void rmq_rem_cmd_destroy(rmq_rem_cmd_t *c);
/* Take another reference to c (each released with rmq_rem_cmd_destroy): a handler that
 * borrows a request and must keep it past its return (a held pull). Not atomic: references
 * are taken and dropped on one thread (the loop that dispatched c). Returns c. */
rmq_rem_cmd_t *rmq_rem_cmd_ref(rmq_rem_cmd_t *c);

static inline bool rmq_rem_cmd_is_response(const rmq_rem_cmd_t *c) {
    return (c->flag & RMQ_REM_FLAG_RESPONSE) != 0;
}
static inline bool rmq_rem_cmd_is_oneway(const rmq_rem_cmd_t *c) {
    return (c->flag & RMQ_REM_FLAG_ONEWAY) != 0;
}

/* Set (replace) an ext field; copies k and v. */
rmq_err_t rmq_rem_cmd_set(rmq_rem_cmd_t *c, const char *k, const char *v);
rmq_err_t rmq_rem_cmd_set_i64(rmq_rem_cmd_t *c, const char *k, int64_t v);
rmq_err_t rmq_rem_cmd_set_bool(rmq_rem_cmd_t *c, const char *k, bool v);
/* Append n fields (copies of kv[i].key / kv[i].val) in one allocation, for hot requests built
 * field by field. The caller guarantees none of the keys is present yet (no replace check);
 * the fields keep kv's order. */
rmq_err_t rmq_rem_cmd_add_fields(rmq_rem_cmd_t *c, const rmq_rem_field_t *kv, size_t n);
/* Ext field value or NULL when absent (borrowed, valid while c lives). */
const char *rmq_rem_cmd_get(const rmq_rem_cmd_t *c, const char *k);
/* Parse an ext field as a Java long/int/boolean would be parsed.
 * RMQ_ERR__NOT_FOUND when absent, RMQ_ERR__INVALID_ARG when not a number/boolean. */
rmq_err_t rmq_rem_cmd_get_i64(const rmq_rem_cmd_t *c, const char *k, int64_t *out);
rmq_err_t rmq_rem_cmd_get_i32(const rmq_rem_cmd_t *c, const char *k, int32_t *out);
rmq_err_t rmq_rem_cmd_get_bool(const rmq_rem_cmd_t *c, const char *k, bool *out);

/* Replace the remark (printf-style); NULL fmt clears it. */
void rmq_rem_cmd_set_remarkf(rmq_rem_cmd_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Body: takes a malloc'd buffer (freed with the command). */
void rmq_rem_cmd_set_body(rmq_rem_cmd_t *c, void *body, size_t len);
rmq_err_t rmq_rem_cmd_set_body_copy(rmq_rem_cmd_t *c, const void *body, size_t len);
/* Body borrowed from the caller (body_borrowed): it must stay unchanged while the command
 * lives, or be copied with rmq_rem_cmd_own_body(). The client's invoke calls copy it (into the
 * encoded frame or with rmq_rem_cmd_own_body) before they return, so a caller may pass its own
 * buffer for the duration of the call. */
void rmq_rem_cmd_set_body_ref(rmq_rem_cmd_t *c, const void *body, size_t len);
/* Zero-copy body from borrowed slices (e.g. mapped CommitLog segments). Copies the iov array;
 * release(arg) runs once the frame is written or dropped. */
rmq_err_t rmq_rem_cmd_set_body_iov(rmq_rem_cmd_t *c, const uv_buf_t *iov, size_t n,
                                   rmq_rem_release_fn release, void *arg);
/* Make a borrowed body (body_borrowed) the command's own malloc'd copy; no-op otherwise.
 * RMQ_ERR__NOMEM leaves the command without a body. */
rmq_err_t rmq_rem_cmd_own_body(rmq_rem_cmd_t *c);
/* Total body length whichever form it has. */
size_t rmq_rem_cmd_body_len(const rmq_rem_cmd_t *c);

/* Language name <-> code ("JAVA" <-> 0); unknown names map to RMQ_LANG_OTHER. */
int rmq_rem_language_code(const char *name);
const char *rmq_rem_language_name(int code);

#endif
