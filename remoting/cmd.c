/* Remoting command: construction, ext fields, bodies.
 *
 * Ext fields are a small array searched linearly: headers carry at most ~25 fields, and a
 * linear scan over that beats hashing. cmd->next counts the fields in use. */
#include "remoting/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "remoting/internal.h"

/* Java: one process-wide AtomicInteger starting at 0 that wraps. */
static _Atomic uint32_t opaque_counter;

static void free_val(rmq_rem_field_t *f);

static rmq_rem_cmd_t *cmd_alloc(void) {
    rmq_rem_cmd_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->version = RMQ_REM_VERSION;
    c->serialize_type = RMQ_REM_SER_JSON;
    return c;
}

rmq_rem_cmd_t *rmq_rem_cmd_new_request(int code) {
    rmq_rem_cmd_t *c = cmd_alloc();
    if (!c) return NULL;
    c->code = code;
    c->language = RMQ_LANG_OTHER;
    c->opaque = rmq_rem_next_opaque();
    return c;
}

int32_t rmq_rem_next_opaque(void) {
    return (int32_t)atomic_fetch_add_explicit(&opaque_counter, 1, memory_order_relaxed);
}

rmq_rem_cmd_t *rmq_rem_cmd_new_response(const rmq_rem_cmd_t *req, int code, const char *remark) {
    rmq_rem_cmd_t *c = cmd_alloc();
    if (!c) return NULL;
    c->code = code;
    c->language = RMQ_LANG_JAVA;
    c->flag = RMQ_REM_FLAG_RESPONSE;
    if (req) {
        c->opaque = req->opaque;
        c->serialize_type = req->serialize_type;
    }
    if (remark) {
        c->remark = strdup(remark);
        if (!c->remark) {
            free(c);
            return NULL;
        }
    }
    return c;
}

static void release_iov(rmq_rem_cmd_t *c) {
    if (c->iov_release) {
        rmq_rem_release_fn fn = c->iov_release;
        c->iov_release = NULL;
        fn(c->iov_arg);
    }
    free(c->iov);
    c->iov = NULL;
    c->niov = 0;
}

rmq_rem_cmd_t *rmq_rem_cmd_ref(rmq_rem_cmd_t *c) {
    c->extra_refs++;
    return c;
}

void rmq_rem_cmd_destroy(rmq_rem_cmd_t *c) {
    if (!c) return;
    if (c->extra_refs) {
        c->extra_refs--;
        return;
    }
    release_iov(c);
    const char *lo = c->ext_blk, *hi = lo ? lo + c->ext_blk_len : NULL;
    for (size_t i = 0; i < c->next; i++) {
        /* both in the block (a decoded header's fields): nothing of their own to free */
        const char *k = c->ext[i].key, *v = c->ext[i].val;
        if (k >= lo && k < hi && v >= lo && v < hi) continue;
        free_val(&c->ext[i]);
        rmq_rem_cmd_free_key_(c, c->ext[i].key);
    }
    if (!c->ext_inline) free(c->ext);
    if (!c->blk_inline) free(c->ext_blk);
    free(c->remark);
    if (!c->body_borrowed) free(c->body);
    free(c);
}

/* A field is allocated as one block "key\0val\0" (half the mallocs on the hot path); a value
 * replaced later lives in its own block. */
static void free_val(rmq_rem_field_t *f) {
    if (f->val != f->key + strlen(f->key) + 1) free(f->val);
}

bool rmq_rem_cmd_in_blk_(const rmq_rem_cmd_t *c, const char *p) {
    return c->ext_blk && p >= c->ext_blk && p < c->ext_blk + c->ext_blk_len;
}

void rmq_rem_cmd_free_key_(const rmq_rem_cmd_t *c, char *k) {
    if (!rmq_rem_cmd_in_blk_(c, k)) free(k);
}

rmq_err_t rmq_rem_cmd_ext_reserve_(rmq_rem_cmd_t *c, size_t more) {
    if (c->ext_cap - c->next >= more) return RMQ_OK;
    size_t cap = c->ext_cap ? c->ext_cap * 2 : 8;
    while (cap - c->next < more) cap *= 2;
    rmq_rem_field_t *e;
    if (c->ext_inline) { /* the array inside the command's block moves to its own */
        e = malloc(cap * sizeof *e);
        if (!e) return RMQ_ERR__NOMEM;
        if (c->next) memcpy(e, c->ext, c->next * sizeof *e);
        c->ext_inline = false;
    } else {
        e = realloc(c->ext, cap * sizeof *e);
        if (!e) return RMQ_ERR__NOMEM;
    }
    c->ext = e;
    c->ext_cap = cap;
    return RMQ_OK;
}

rmq_err_t rmq_rem_cmd_add_fields(rmq_rem_cmd_t *c, const rmq_rem_field_t *kv, size_t n) {
    if (!c || (n && !kv)) return RMQ_ERR__INVALID_ARG;
    if (n == 0) return RMQ_OK;
    size_t kl[64], vl[64];
    if (c->ext_blk || n > 64) { /* one block per command: later additions go field by field */
        for (size_t i = 0; i < n; i++) {
            rmq_err_t e =
                rmq_rem_cmd_append_(c, kv[i].key, strlen(kv[i].key), kv[i].val, strlen(kv[i].val));
            if (e) return e;
        }
        return RMQ_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        kl[i] = strlen(kv[i].key);
        vl[i] = strlen(kv[i].val);
        total += kl[i] + vl[i] + 2;
    }
    if (rmq_rem_cmd_ext_reserve_(c, n)) return RMQ_ERR__NOMEM;
    char *blk = malloc(total);
    if (!blk) return RMQ_ERR__NOMEM;
    c->ext_blk = blk;
    c->ext_blk_len = total;
    c->blk_inline = false;
    /* "key\0val\0" side by side, the layout free_val recognises as not separately owned */
    for (size_t i = 0; i < n; i++) {
        rmq_rem_field_t *f = &c->ext[c->next++];
        f->key = blk;
        memcpy(blk, kv[i].key, kl[i] + 1);
        blk += kl[i] + 1;
        f->val = blk;
        memcpy(blk, kv[i].val, vl[i] + 1);
        blk += vl[i] + 1;
    }
    c->has_ext = true;
    return RMQ_OK;
}

static rmq_rem_field_t *find_field(const rmq_rem_cmd_t *c, const char *k) {
    for (size_t i = 0; i < c->next; i++)
        if (strcmp(c->ext[i].key, k) == 0) return &c->ext[i];
    return NULL;
}

rmq_err_t rmq_rem_cmd_append_(rmq_rem_cmd_t *c, const char *k, size_t klen, const char *v,
                              size_t vlen) {
    if (rmq_rem_cmd_ext_reserve_(c, 1)) return RMQ_ERR__NOMEM;
    char *blk = malloc(klen + vlen + 2);
    if (!blk) return RMQ_ERR__NOMEM;
    memcpy(blk, k, klen);
    blk[klen] = 0;
    memcpy(blk + klen + 1, v, vlen);
    blk[klen + 1 + vlen] = 0;
    c->ext[c->next].key = blk;
    c->ext[c->next].val = blk + klen + 1;
    c->next++;
    c->has_ext = true;
    return RMQ_OK;
}

/* Set k to a copy of v[0..vlen), replacing an existing value. */
static rmq_err_t set_field(rmq_rem_cmd_t *c, const char *k, const char *v, size_t vlen) {
    rmq_rem_field_t *f = find_field(c, k);
    if (!f) return rmq_rem_cmd_append_(c, k, strlen(k), v, vlen);
    char *nv = malloc(vlen + 1);
    if (!nv) return RMQ_ERR__NOMEM;
    memcpy(nv, v, vlen);
    nv[vlen] = 0;
    free_val(f);
    f->val = nv;
    return RMQ_OK;
}

rmq_err_t rmq_rem_cmd_set(rmq_rem_cmd_t *c, const char *k, const char *v) {
    if (!c || !k || !v) return RMQ_ERR__INVALID_ARG;
    return set_field(c, k, v, strlen(v));
}

rmq_err_t rmq_rem_cmd_set_i64(rmq_rem_cmd_t *c, const char *k, int64_t v) {
    char t[24]; /* no snprintf: a pull request alone carries seven numbers */
    char *end = rmq_i64_dec(v, t);
    *end = 0;
    if (!c || !k) return RMQ_ERR__INVALID_ARG;
    return set_field(c, k, t, (size_t)(end - t));
}

rmq_err_t rmq_rem_cmd_set_bool(rmq_rem_cmd_t *c, const char *k, bool v) {
    return rmq_rem_cmd_set(c, k, v ? "true" : "false");
}

const char *rmq_rem_cmd_get(const rmq_rem_cmd_t *c, const char *k) {
    if (!c || !k) return NULL;
    rmq_rem_field_t *f = find_field(c, k);
    return f ? f->val : NULL;
}

rmq_err_t rmq_rem_cmd_get_i64(const rmq_rem_cmd_t *c, const char *k, int64_t *out) {
    const char *v = rmq_rem_cmd_get(c, k);
    if (!v) return RMQ_ERR__NOT_FOUND;
    int64_t x;
    if (rmq_parse_java_long(v, &x) != 0) return RMQ_ERR__INVALID_ARG;
    if (out) *out = x;
    return RMQ_OK;
}

rmq_err_t rmq_rem_cmd_get_i32(const rmq_rem_cmd_t *c, const char *k, int32_t *out) {
    int64_t x;
    rmq_err_t e = rmq_rem_cmd_get_i64(c, k, &x);
    if (e) return e;
    if (x < INT32_MIN || x > INT32_MAX) return RMQ_ERR__INVALID_ARG;
    if (out) *out = (int32_t)x;
    return RMQ_OK;
}

rmq_err_t rmq_rem_cmd_get_bool(const rmq_rem_cmd_t *c, const char *k, bool *out) {
    const char *v = rmq_rem_cmd_get(c, k);
    if (!v) return RMQ_ERR__NOT_FOUND;
    /* Boolean.parseBoolean is "true" ignoring case, anything else false; we also refuse
     * values that are clearly not booleans so callers can report bad headers. */
    bool b;
    if (strcasecmp(v, "true") == 0)
        b = true;
    else if (strcasecmp(v, "false") == 0)
        b = false;
    else
        return RMQ_ERR__INVALID_ARG;
    if (out) *out = b;
    return RMQ_OK;
}

void rmq_rem_cmd_set_remarkf(rmq_rem_cmd_t *c, const char *fmt, ...) {
    if (!c) return;
    free(c->remark);
    c->remark = NULL;
    if (!fmt) return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->remark, fmt, ap) < 0) c->remark = NULL;
    va_end(ap);
}

static void drop_body(rmq_rem_cmd_t *c) {
    release_iov(c);
    if (!c->body_borrowed) free(c->body);
    c->body_borrowed = false;
    c->body = NULL;
    c->body_len = 0;
}

rmq_err_t rmq_rem_cmd_own_body(rmq_rem_cmd_t *c) {
    if (!c->body_borrowed) return RMQ_OK;
    uint8_t *b = malloc(c->body_len);
    if (b) memcpy(b, c->body, c->body_len);
    c->body_borrowed = false;
    c->body = b;
    if (!b) c->body_len = 0;
    return b ? RMQ_OK : RMQ_ERR__NOMEM;
}

void rmq_rem_cmd_set_body(rmq_rem_cmd_t *c, void *body, size_t len) {
    if (!c) {
        free(body);
        return;
    }
    drop_body(c);
    c->body = body;
    c->body_len = body ? len : 0;
}

rmq_err_t rmq_rem_cmd_set_body_copy(rmq_rem_cmd_t *c, const void *body, size_t len) {
    if (!c || (len && !body)) return RMQ_ERR__INVALID_ARG;
    uint8_t *b = NULL;
    if (len) {
        b = malloc(len);
        if (!b) return RMQ_ERR__NOMEM;
        memcpy(b, body, len);
    }
    rmq_rem_cmd_set_body(c, b, len);
    return RMQ_OK;
}

void rmq_rem_cmd_set_body_ref(rmq_rem_cmd_t *c, const void *body, size_t len) {
    if (!c) return;
    drop_body(c);
    c->body = (uint8_t *)body;
    c->body_len = body ? len : 0;
    c->body_borrowed = body != NULL;
}

rmq_err_t rmq_rem_cmd_set_body_iov(rmq_rem_cmd_t *c, const uv_buf_t *iov, size_t n,
                                   rmq_rem_release_fn release, void *arg) {
    if (!c || (n && !iov)) return RMQ_ERR__INVALID_ARG;
    uv_buf_t *a = NULL;
    if (n) {
        a = malloc(n * sizeof *a);
        if (!a) return RMQ_ERR__NOMEM;
        memcpy(a, iov, n * sizeof *a);
    }
    drop_body(c);
    c->iov = a;
    c->niov = n;
    c->iov_release = release;
    c->iov_arg = arg;
    if (n == 0 && release) {
        /* Nothing borrowed: release at once so the callback still runs exactly once. */
        c->iov_release = NULL;
        release(arg);
    }
    return RMQ_OK;
}

size_t rmq_rem_cmd_body_len(const rmq_rem_cmd_t *c) {
    if (!c) return 0;
    if (c->niov) {
        size_t n = 0;
        for (size_t i = 0; i < c->niov; i++) n += c->iov[i].len;
        return n;
    }
    return c->body_len;
}

static const char *const lang_names[] = {
    "JAVA",  "CPP",  "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
    "OTHER", "HTTP", "GO",     "PHP",    "OMS",    "RUST",
};

int rmq_rem_language_code(const char *name) {
    if (!name) return RMQ_LANG_OTHER;
    for (size_t i = 0; i < sizeof lang_names / sizeof lang_names[0]; i++)
        if (strcmp(name, lang_names[i]) == 0) return (int)i;
    return RMQ_LANG_OTHER;
}

const char *rmq_rem_language_name(int code) {
    if (code < 0 || (size_t)code >= sizeof lang_names / sizeof lang_names[0]) return "OTHER";
    return lang_names[code];
}
