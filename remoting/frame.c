/* Frame codec: length prefix, header word, JSON or ROCKETMQ binary header, body.
 *
 * JSON headers are written by hand rather than through jansson: the key order and the lack of
 * whitespace must match fastjson byte for byte, and this runs once per message on the hot
 * path. Reading uses jansson, which handles every escape (\u0001, surrogate pairs) and lets
 * us accept the numbers and booleans C++ and ali-ons put in extFields. */
#include "remoting/frame.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fjson.h"
#include "common/util.h"
#include "remoting/internal.h"

#define HEADER_MAX 0xFFFFFFu

static ssize_t bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ssize_t bad(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return RMQ_ERR__BAD_FRAME;
}

/* ---------------------------------------------------------------- JSON header decode */

/* Shortest decimal text that reads back as d (what a JSON number means to a human). */
static void real_text(double d, char *t, size_t n) {
    if (!isfinite(d)) {
        snprintf(t, n, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, n, "%.*g", prec, d);
        if (strtod(t, NULL) == d) return;
    }
}

/* Integer value of a scalar JSON field as fastjson would coerce it; def when absent/odd. */
static int64_t json_int(json_t *v, int64_t def) {
    if (!v) return def;
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9.2e18 && d <= 9.2e18)) return def;
        return (int64_t)d;
    }
    if (json_is_string(v)) {
        int64_t x;
        if (rmq_parse_i64(json_string_value(v), &x) == 0) return x;
    }
    return def;
}

/* Text of a scalar extFields value; false when it has none (null). Nested values are kept as
 * their compact JSON text, as fastjson would when reading them into a String. */
static bool json_text(json_t *v, char *tmp, size_t tmpn, const char **s, size_t *n, char **alloc) {
    *alloc = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *n = json_string_length(v);
        return true;
    case JSON_INTEGER:
        *n = (size_t)snprintf(tmp, tmpn, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *s = tmp;
        return true;
    case JSON_REAL:
        real_text(json_real_value(v), tmp, tmpn);
        *s = tmp;
        *n = strlen(tmp);
        return true;
    case JSON_TRUE:
        *s = "true";
        *n = 4;
        return true;
    case JSON_FALSE:
        *s = "false";
        *n = 5;
        return true;
    case JSON_NULL: return false;
    default:
        *alloc = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!*alloc) return false;
        *s = *alloc;
        *n = strlen(*alloc);
        return true;
    }
}

/* ------------------------------------------------ JSON header decode: fast path */

/* A hand parser for the headers every peer actually sends: an object of the known keys with
 * integer/string values and an extFields object of string/integer/boolean/null values. It
 * allocates nothing beyond the command's fields. Anything else (reals, nested values,
 * unknown keys, \u0000, duplicates, odd whitespace-free garbage) makes it give up without
 * side effects worth keeping, and jansson decides; the fuzz target checks both agree. */
typedef struct {
    const uint8_t *p, *end;
    char *scratch; /* decoded strings, never longer than their JSON form */
    size_t sused;
} jp_t;

static inline void jp_ws(jp_t *j) {
    if (j->p<j->end && * j->p> ' ') return; /* the usual case: compact JSON */
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const uint8_t *h) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = h[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JP_SWAR 1 /* rmq_json_special8 (common/fjson.h): '"', '\\', below 0x20, 0x80 and up */
#endif

/* Parse a string at j->p (at its quote) into scratch; false to give up. */
static bool jp_str(jp_t *j, const char **out, size_t *outlen) {
    if (j->p >= j->end || *j->p != '"') return false;
    j->p++;
    char *o = j->scratch + j->sused, *start = o;
    for (;;) {
#ifdef JP_SWAR
        /* Plain bytes 8 at a time (most of a header). Writing 8 bytes at o is in bounds: the
         * output never runs ahead of the input (decode_json_fast), and 8 input bytes remain. */
        while (j->end - j->p >= 8) {
            uint64_t v;
            memcpy(&v, j->p, 8);
            memcpy(o, &v, 8);
            uint64_t sp = rmq_json_special8(v);
            if (!sp) {
                o += 8;
                j->p += 8;
                continue;
            }
            size_t n = (size_t)__builtin_ctzll(sp) >> 3; /* plain bytes before it */
            o += n;
            j->p += n;
            break;
        }
#endif
        if (j->p >= j->end) return false;
        uint8_t c = *j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) return false;
        if (c < 0x80 && c != '\\') {
            *o++ = (char)c;
            j->p++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(j->p, j->end);
            if (!n) return false;
            memcpy(o, j->p, n);
            o += n;
            j->p += n;
            continue;
        }
        if (j->end - j->p < 2) return false;
        uint8_t e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': *o++ = '"'; continue;
        case '\\': *o++ = '\\'; continue;
        case '/': *o++ = '/'; continue;
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: return false;
        }
        if (j->end - j->p < 4) return false;
        int32_t cp = hex4(j->p);
        j->p += 4;
        if (cp <= 0) return false; /* bad hex, or \u0000 (jansson's NUL handling decides) */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') return false;
            int lo = hex4(j->p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return false;
            j->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
        }
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o++ = 0;
    *out = start;
    *outlen = (size_t)(o - start) - 1;
    j->sused += (size_t)(o - start);
    return true;
}

/* A JSON integer (no fraction or exponent, at most 18 digits): its text and value. */
static bool jp_int(jp_t *j, const char **txt, size_t *len, int64_t *val) {
    const uint8_t *s = j->p;
    bool neg = false;
    if (j->p < j->end && *j->p == '-') {
        neg = true;
        j->p++;
    }
    const uint8_t *d = j->p;
    int64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (j->p - d >= 18) return false; /* may not fit: jansson decides */
        v = v * 10 + (*j->p++ - '0');
    }
    size_t nd = (size_t)(j->p - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0') || (neg && v == 0)) return false;
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return false;
    *txt = (const char *)s;
    *len = (size_t)(j->p - s);
    *val = neg ? -v : v;
    return true;
}

static bool jp_lit(jp_t *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return false;
    j->p += n;
    return true;
}

/* The keys a decoder has given c so far, to find a repeated one: a hash per field for the first
 * 64 and one bit per hash value mod 64, so most keys compare no bytes at all. */
typedef struct {
    uint32_t h[64];
    uint64_t seen;
} keyset_t;

/* k is NUL-terminated at kl; a field past the first 64 has no hash kept: its bytes compare. */
static ssize_t keyset_find(const keyset_t *ks, const rmq_rem_cmd_t *c, const char *k, size_t kl,
                           uint32_t *hk) {
    uint32_t last = (uint8_t)k[kl ? kl - 1 : 0];
    *hk = (uint32_t)kl * 2654435761u ^ (uint8_t)k[0] ^ (last << 8);
    if (!(ks->seen & 1ull << (*hk & 63))) return -1;
    for (size_t i = 0; i < c->next; i++)
        if ((i >= 64 || ks->h[i] == *hk) && strcmp(c->ext[i].key, k) == 0) return (ssize_t)i;
    return -1;
}

/* Field i of c has the key that hashed to hk. */
static void keyset_add(keyset_t *ks, size_t i, uint32_t hk) {
    ks->seen |= 1ull << (hk & 63);
    if (i < 64) ks->h[i] = hk;
}

static bool jp_ext(jp_t *j, rmq_rem_cmd_t *c) {
    keyset_t ks = {.seen = 0};
    j->p++; /* '{' */
    c->has_ext = true;
    jp_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        const char *k, *v;
        size_t kl, vl;
        int64_t iv;
        bool in_scratch = false;
        jp_ws(j);
        if (!jp_str(j, &k, &kl)) return false;
        if (c->next >= 64) return false;
        /* Duplicates follow jansson's rules (refused here: its job) */
        uint32_t hk;
        if (keyset_find(&ks, c, k, kl, &hk) >= 0) return false;
        keyset_add(&ks, c->next, hk);
        jp_ws(j);
        if (j->p >= j->end || *j->p++ != ':') return false;
        jp_ws(j);
        if (j->p >= j->end) return false;
        uint8_t ch = *j->p;
        if (ch == '"') {
            if (!jp_str(j, &v, &vl)) return false;
            in_scratch = true; /* right after its key */
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            if (!jp_int(j, &v, &vl, &iv)) return false;
        } else if (jp_lit(j, "true")) {
            v = "true", vl = 4;
        } else if (jp_lit(j, "false")) {
            v = "false", vl = 5;
        } else {
            return false; /* null (Java omits them), reals, nested values: jansson's job */
        }
        /* The field stays in the scratch block the command now owns: "key\0val\0" side by
         * side (an integer or literal is copied next to its key), so no per-field malloc. */
        if (!in_scratch) {
            char *o = j->scratch + j->sused;
            memcpy(o, v, vl);
            o[vl] = 0;
            v = o;
            j->sused += vl + 1;
        }
        if (rmq_rem_cmd_ext_reserve_(c, 1)) return false;
        c->ext[c->next].key = (char *)k;
        c->ext[c->next].val = (char *)v;
        c->next++;
        jp_ws(j);
        if (j->p >= j->end) return false;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            return true;
        }
        return false;
    }
}

/* Forget c's string block, freeing it unless it is part of the command's allocation. */
static void drop_blk(rmq_rem_cmd_t *c) {
    if (!c->blk_inline) free(c->ext_blk);
    c->ext_blk = NULL;
    c->ext_blk_len = 0;
    c->blk_inline = false;
}

/* 1: decoded; 0: give up (c may hold partial fields: the caller resets it). */
static int decode_json_fast(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c) {
    /* Decoded strings are never longer than their JSON text (an integer or literal is
     * followed by at least one delimiter, which pays for its NUL), so hlen + 1 bytes hold
     * every ext key and value. The block becomes the command's ext_blk: one allocation for
     * all fields instead of one each. */
    jp_t j = {.p = h, .end = h + hlen, .scratch = c->ext_blk};
    if (!c->blk_inline) { /* a command of its own (rmq_rem_decode_json_fast_) */
        if (!(j.scratch = malloc(hlen + 1))) return 0;
        c->ext_blk = j.scratch;
        c->ext_blk_len = hlen + 1;
    }
    int ok = 0;
    unsigned seen = 0;
    c->language = RMQ_LANG_JAVA;
    jp_ws(&j);
    if (j.p >= j.end || *j.p++ != '{') goto out;
    jp_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto tail;
    }
    for (;;) {
        const char *k, *v;
        size_t kl, vl;
        int64_t iv;
        jp_ws(&j);
        size_t mark = j.sused; /* top-level strings are scratch only: give the space back */
        if (!jp_str(&j, &k, &kl)) goto out;
        j.sused = mark; /* the key is used before the next string overwrites it */
        jp_ws(&j);
        if (j.p >= j.end || *j.p++ != ':') goto out;
        jp_ws(&j);
        if (j.p >= j.end) goto out;
        unsigned bit;
        int *ifield = NULL;
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (KEY_IS("code"))
            bit = 1, ifield = &c->code;
        else if (KEY_IS("flag"))
            bit = 2, ifield = &c->flag;
        else if (KEY_IS("version"))
            bit = 4, ifield = &c->version;
        else if (KEY_IS("opaque"))
            bit = 8;
        else if (KEY_IS("language"))
            bit = 16;
        else if (KEY_IS("remark"))
            bit = 32;
        else if (KEY_IS("extFields"))
            bit = 64;
        else if (KEY_IS("serializeTypeCurrentRPC"))
            bit = 128;
        else
            goto out;
#undef KEY_IS
        if (seen & bit) goto out;
        seen |= bit;
        if (bit <= 8) {
            if (!jp_int(&j, &v, &vl, &iv)) goto out;
            if (ifield)
                *ifield = (int)iv;
            else
                c->opaque = (int32_t)(uint32_t)iv;
        } else if (bit == 64) {
            if (*j.p != '{' || !jp_ext(&j, c)) goto out;
        } else if (bit == 32 && jp_lit(&j, "null")) {
            /* absent */
        } else {
            if (!jp_str(&j, &v, &vl)) goto out;
            if (bit == 16) {
                c->language = rmq_rem_language_code(v);
            } else if (bit == 32) {
                c->remark = malloc(vl + 1);
                if (!c->remark) goto out;
                memcpy(c->remark, v, vl + 1);
            }
            j.sused = mark;
        }
        jp_ws(&j);
        if (j.p >= j.end) goto out;
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p++ != '}') goto out;
        break;
    }
tail:
    jp_ws(&j);
    ok = j.p == j.end;
out:
    if (c->next == 0) drop_blk(c); /* nothing kept: no block */
    return ok;
}

/* Undo a fast-path attempt so jansson starts from a clean command. */
static void reset_fields(rmq_rem_cmd_t *c) {
    for (size_t i = 0; i < c->next; i++) {
        rmq_rem_field_t *f = &c->ext[i];
        if (f->val != f->key + strlen(f->key) + 1) free(f->val);
        rmq_rem_cmd_free_key_(c, f->key);
    }
    drop_blk(c);
    c->next = 0;
    c->has_ext = false;
    free(c->remark);
    c->remark = NULL;
    c->code = c->flag = c->version = 0;
    c->opaque = 0;
}

ssize_t rmq_rem_decode_json_slow_(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c, char *err,
                                  size_t errlen) {
    json_error_t je;
    /* ALLOW_NUL: Java accepts \u0000 in strings; we keep the text up to it. */
    json_t *root = json_loadb((const char *)h, hlen, JSON_ALLOW_NUL, &je);
    if (!root) return bad(err, errlen, "bad JSON header: %s", je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return bad(err, errlen, "JSON header is not an object");
    }
    c->code = (int)json_int(json_object_get(root, "code"), 0);
    c->flag = (int)json_int(json_object_get(root, "flag"), 0);
    c->opaque = (int32_t)(uint32_t)json_int(json_object_get(root, "opaque"), 0);
    c->version = (int)json_int(json_object_get(root, "version"), 0);
    json_t *lang = json_object_get(root, "language");
    if (json_is_string(lang))
        c->language = rmq_rem_language_code(json_string_value(lang));
    else if (json_is_integer(lang)) {
        json_int_t l = json_integer_value(lang);
        c->language = l >= 0 && l <= RMQ_LANG_RUST ? (int)l : RMQ_LANG_OTHER;
    } else {
        c->language = RMQ_LANG_JAVA; /* RemotingCommand's field initialiser */
    }
    json_t *remark = json_object_get(root, "remark");
    if (remark && !json_is_null(remark)) {
        char tmp[40], *alloc;
        const char *s;
        size_t n;
        if (json_text(remark, tmp, sizeof tmp, &s, &n, &alloc)) {
            c->remark = strndup(s, n);
            free(alloc);
            if (!c->remark) goto nomem;
        }
    }
    json_t *ext = json_object_get(root, "extFields");
    if (json_is_object(ext)) {
        c->has_ext = true;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(ext, k, klen, v) {
            if (strlen(k) != klen) continue; /* a key with \u0000 has no C name */
            char tmp[40], *alloc;
            const char *s;
            size_t n;
            if (!json_text(v, tmp, sizeof tmp, &s, &n, &alloc)) continue;
            rmq_err_t e = rmq_rem_cmd_append_(c, k, klen, s, strnlen(s, n));
            free(alloc);
            if (e) goto nomem;
        }
    }
    json_decref(root);
    return 0;
nomem:
    json_decref(root);
    return bad(err, errlen, "out of memory decoding header");
}

static ssize_t decode_json(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c, char *err,
                           size_t errlen) {
    if (decode_json_fast(h, hlen, c)) return 0;
    reset_fields(c);
    return rmq_rem_decode_json_slow_(h, hlen, c, err, errlen);
}

int rmq_rem_decode_json_fast_(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c) {
    return decode_json_fast(h, hlen, c);
}

/* ------------------------------------------------------------ binary header decode */

/* Binary headers decode into the same one-block command as JSON ones (hdr_cmd_alloc): each
 * field's "key\0val\0" goes into the string block, which a field's 6 bytes of lengths on the
 * wire pay for, so hlen + 1 bytes hold them all; no malloc per field, no lookup per key. */
static ssize_t decode_binary(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c, char *err,
                             size_t errlen) {
    if (hlen < 21) return bad(err, errlen, "binary header too short (%zu bytes)", hlen);
    c->code = (int16_t)rmq_get_be16(h);
    c->language = h[2] <= RMQ_LANG_RUST ? h[2] : RMQ_LANG_OTHER;
    c->version = (int16_t)rmq_get_be16(h + 3);
    c->opaque = (int32_t)rmq_get_be32(h + 5);
    c->flag = (int32_t)rmq_get_be32(h + 9);
    size_t p = 13;
    int32_t rlen = (int32_t)rmq_get_be32(h + p);
    p += 4;
    if (rlen < 0 || (size_t)rlen > hlen - p)
        return bad(err, errlen, "binary header remark length %" PRId32 " past header", rlen);
    if (rlen > 0) {
        c->remark = strndup((const char *)h + p, (size_t)rlen);
        if (!c->remark) return bad(err, errlen, "out of memory");
        p += (size_t)rlen;
    }
    if (hlen - p < 4) return bad(err, errlen, "binary header missing ext length");
    int32_t elen = (int32_t)rmq_get_be32(h + p);
    p += 4;
    if (elen < 0 || (size_t)elen > hlen - p)
        return bad(err, errlen, "binary header ext length %" PRId32 " past header", elen);
    if (elen > 0) c->has_ext = true;
    size_t end = p + (size_t)elen;
    char *o = c->ext_blk;
    keyset_t ks = {.seen = 0};
    while (p < end) {
        if (end - p < 2) return bad(err, errlen, "binary ext key length truncated");
        size_t kl = rmq_get_be16(h + p);
        p += 2;
        /* Java reads the key length as a signed short: above 32767 its decode throws. */
        if (kl > INT16_MAX) return bad(err, errlen, "binary ext key length %zu negative", kl);
        if (kl > end - p) return bad(err, errlen, "binary ext key past header");
        const char *k = (const char *)h + p;
        p += kl;
        if (end - p < 4) return bad(err, errlen, "binary ext value length truncated");
        int32_t vl = (int32_t)rmq_get_be32(h + p);
        p += 4;
        if (vl < 0 || (size_t)vl > end - p) return bad(err, errlen, "binary ext value past header");
        const char *v = (const char *)h + p;
        p += (size_t)vl;
        if (kl == 0 || memchr(k, 0, kl)) continue;
        size_t vn = strnlen(v, (size_t)vl); /* a C string ends at a NUL */
        char *kk = o, *vv = o + kl + 1;
        memcpy(kk, k, kl);
        kk[kl] = 0;
        memcpy(vv, v, vn);
        vv[vn] = 0;
        o = vv + vn + 1;
        /* A key may repeat (fast-codes headers); the last one wins as in a Java map, in the
         * first one's place. */
        uint32_t hk;
        ssize_t dup = keyset_find(&ks, c, kk, kl, &hk);
        if (dup >= 0) {
            c->ext[dup].key = kk; /* both in the block: nothing to free */
            c->ext[dup].val = vv;
            continue;
        }
        if (rmq_rem_cmd_ext_reserve_(c, 1)) return bad(err, errlen, "out of memory");
        keyset_add(&ks, c->next, hk);
        c->ext[c->next].key = kk;
        c->ext[c->next].val = vv;
        c->next++;
    }
    if (c->next == 0) drop_blk(c);
    return 0;
}

/* A zeroed command for a header of hlen bytes, in one block with room for its fields:
 * an array of INLINE_FIELDS entries (fewer for a header too short to hold them: a field takes
 * at least 5 bytes, "":1, in JSON and 7 in binary) and the string block (hlen + 1, see
 * decode_json_fast and decode_binary).
 * One malloc instead of three (command, ext array, string block); a header with more fields
 * moves its array out (rmq_rem_cmd_ext_reserve_). */
enum { INLINE_FIELDS = 16 }; /* the hot requests: a send has 13 (a..m), a pull ~12 */
static rmq_rem_cmd_t *hdr_cmd_alloc(size_t hlen) {
    size_t cap = hlen / 5 < INLINE_FIELDS ? hlen / 5 : INLINE_FIELDS;
    size_t off_ext = sizeof(rmq_rem_cmd_t), off_blk = off_ext + cap * sizeof(rmq_rem_field_t);
    char *m = malloc(off_blk + hlen + 1);
    if (!m) return NULL;
    rmq_rem_cmd_t *c = (rmq_rem_cmd_t *)m;
    memset(c, 0, sizeof *c);
    if (cap) {
        c->ext = (rmq_rem_field_t *)(m + off_ext);
        c->ext_cap = cap;
        c->ext_inline = true;
    }
    c->ext_blk = m + off_blk;
    c->ext_blk_len = hlen + 1;
    c->blk_inline = true;
    return c;
}

ssize_t rmq_rem_frame_decode(const uint8_t *buf, size_t len, size_t max_frame, rmq_rem_cmd_t **out,
                             char *err, size_t errlen) {
    return rmq_rem_frame_decode_ex(buf, len, max_frame, false, out, err, errlen);
}

ssize_t rmq_rem_frame_decode_head(const uint8_t *buf, size_t len, size_t max_frame,
                                  rmq_rem_cmd_t **out, size_t *body_len, char *err, size_t errlen) {
    *out = NULL;
    *body_len = 0;
    if (max_frame == 0) max_frame = RMQ_REM_FRAME_MAX_DEFAULT;
    if (len < 4) return 0;
    uint64_t total = rmq_get_be32(buf);
    if (total + 4 > max_frame)
        return bad(err, errlen, "frame length %" PRIu64 " exceeds max frame %zu", total + 4,
                   max_frame);
    if (total < 4) return bad(err, errlen, "frame length %" PRIu64 " too short", total);
    if (len < 8) return 0;
    uint32_t hw = rmq_get_be32(buf + 4);
    unsigned type = hw >> 24;
    size_t hlen = hw & HEADER_MAX;
    if (hlen > total - 4)
        return bad(err, errlen, "header length %zu exceeds frame length %" PRIu64, hlen, total);
    if (type != RMQ_REM_SER_JSON && type != RMQ_REM_SER_ROCKETMQ)
        return bad(err, errlen, "unknown serialize type %u", type);
    if (len - 8 < hlen) return 0;
    const uint8_t *h = buf + 8;
    rmq_rem_cmd_t *c = hdr_cmd_alloc(hlen);
    if (!c) return bad(err, errlen, "out of memory");
    c->serialize_type = (int)type;
    ssize_t r = type == RMQ_REM_SER_JSON ? decode_json(h, hlen, c, err, errlen)
                                         : decode_binary(h, hlen, c, err, errlen);
    if (r < 0) {
        rmq_rem_cmd_destroy(c);
        return r;
    }
    *out = c;
    *body_len = (size_t)total - 4 - hlen;
    return (ssize_t)(8 + hlen);
}

ssize_t rmq_rem_frame_decode_ex(const uint8_t *buf, size_t len, size_t max_frame, bool borrow_body,
                                rmq_rem_cmd_t **out, char *err, size_t errlen) {
    *out = NULL;
    if (max_frame == 0) max_frame = RMQ_REM_FRAME_MAX_DEFAULT;
    if (len < 4) return 0;
    uint64_t total = rmq_get_be32(buf);
    if (total + 4 <= max_frame && total >= 4 && len - 4 < total) return 0; /* not all here */
    rmq_rem_cmd_t *c;
    size_t blen;
    ssize_t hl = rmq_rem_frame_decode_head(buf, len, max_frame, &c, &blen, err, errlen);
    if (hl <= 0) return hl;
    const uint8_t *b = buf + hl;
    if (blen && borrow_body && !rmq_rem_cmd_is_response(c)) {
        c->body = (uint8_t *)b; /* freed never: see rmq_rem_cmd_own_body */
        c->body_len = blen;
        c->body_borrowed = true;
    } else if (blen) {
        c->body = malloc(blen);
        if (!c->body) {
            rmq_rem_cmd_destroy(c);
            return bad(err, errlen, "out of memory for a %zu-byte body", blen);
        }
        memcpy(c->body, b, blen);
        c->body_len = blen;
    }
    *out = c;
    return (ssize_t)(total + 4);
}

/* ---------------------------------------------------------------- JSON header encode */

/* Header strings as fastjson writes them: UTF-8 kept raw (the one escaper, common/fjson). */
static inline rmq_err_t json_str(rmq_buf_t *b, const char *s) {
    return rmq_json_put_strn(b, s, strlen(s), false);
}

/* Append the decimal text of v (printf is a tenth of the encode cost otherwise). */
static rmq_err_t put_int(rmq_buf_t *b, int64_t v) {
    char t[20];
    return rmq_buf_append(b, t, (size_t)(rmq_i64_dec(v, t) - t));
}

#define PUT_LIT(b, s) rmq_buf_append(b, s, sizeof(s) - 1)

static rmq_err_t encode_json(const rmq_rem_head_t *c, rmq_buf_t *b) {
    rmq_err_t e = PUT_LIT(b, "{\"code\":");
    if (!e) e = put_int(b, c->code);
    if (!e && (c->next > 0 || c->has_ext)) {
        e = PUT_LIT(b, ",\"extFields\":{");
        for (size_t i = 0; !e && i < c->next; i++) {
            const char *k = c->ext[i].key;
            if (k[0] > ' ' && k[0] != '"' && k[0] != '\\' && (uint8_t)k[0] < 0x80 && !k[1]) {
                /* a one-letter key (SEND_MESSAGE_V2's a..n): no scan, no escaper */
                char kt[5] = {',', '"', k[0], '"', ':'};
                e = i ? rmq_buf_append(b, kt, 5) : rmq_buf_append(b, kt + 1, 4);
            } else {
                if (i) e = rmq_buf_append_u8(b, ',');
                if (!e) e = json_str(b, k);
                if (!e) e = rmq_buf_append_u8(b, ':');
            }
            if (!e) e = json_str(b, c->ext[i].val);
        }
        if (!e) e = rmq_buf_append_u8(b, '}');
    }
    if (!e) e = PUT_LIT(b, ",\"flag\":");
    if (!e) e = put_int(b, c->flag);
    if (!e) e = PUT_LIT(b, ",\"language\":\"");
    if (!e) e = rmq_buf_append_str(b, rmq_rem_language_name(c->language));
    if (!e) e = PUT_LIT(b, "\",\"opaque\":");
    if (!e) e = put_int(b, c->opaque);
    if (!e && c->remark) {
        e = PUT_LIT(b, ",\"remark\":");
        if (!e) e = json_str(b, c->remark);
    }
    if (!e) e = PUT_LIT(b, ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    if (!e) e = put_int(b, c->version);
    if (!e) e = rmq_buf_append_u8(b, '}');
    return e;
}

/* ------------------------------------------------ server: a plain JSON response, written flat */

/* A JSON string with no byte fastjson's writer would escape (rmq_json_put_strn copies it as is):
 * no control byte, '"' or '\\'; 8 bytes at a time where the word order allows. */
static bool json_plain(const char *s, size_t n) {
    size_t i = 0;
#ifdef JP_SWAR
    const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
    for (;; i += 8) {
        /* the last word overlaps the one before instead of a byte-wise tail */
        if (i + 8 > n) {
            if (n < 8 || i == n) break;
            i = n - 8;
        }
        uint64_t v, q, bs;
        memcpy(&v, s + i, 8);
        q = v ^ (ones * '"');
        bs = v ^ (ones * '\\');
        /* bytes 0x80 and up pass: the high bit of v masks their false "below 0x20" */
        if ((((q - ones) & ~q) | ((bs - ones) & ~bs) | ((v - ones * 0x20) & ~v)) & high)
            return false;
        if (i + 8 == n) return true;
    }
#endif
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == '"' || ch == '\\') return false;
    }
    return true;
}

#define PUT_RAW(o, s) (memcpy(o, s, sizeof(s) - 1), (o) + sizeof(s) - 1)

size_t rmq_rem_frame_write_json_response(int code, int32_t opaque, const rmq_rem_field_t *kv,
                                         size_t n, uint32_t trusted, uint8_t *out, size_t cap) {
    /* the fixed text plus two ints: well under 160 bytes; each field adds its quotes, ':', ',' */
    size_t need = 160, lens[32][2];
    if (n > 32) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = lens[i][0] = strlen(kv[i].key), vl = lens[i][1] = strlen(kv[i].val);
        if (!(trusted >> i & 1) && (!json_plain(kv[i].key, kl) || !json_plain(kv[i].val, vl)))
            return 0;
        need += kl + vl + 6;
    }
    if (need > cap) return 0;
    uint8_t *o = out + 8;
    o = PUT_RAW(o, "{\"code\":");
    o = (uint8_t *)rmq_i64_dec(code, (char *)o);
    if (n) {
        o = PUT_RAW(o, ",\"extFields\":{");
        for (size_t i = 0; i < n; i++) {
            size_t kl = lens[i][0], vl = lens[i][1];
            if (i) *o++ = ',';
            *o++ = '"';
            memcpy(o, kv[i].key, kl);
            o += kl;
            o = PUT_RAW(o, "\":\"");
            memcpy(o, kv[i].val, vl);
            o += vl;
            *o++ = '"';
        }
        *o++ = '}';
    }
    o = PUT_RAW(o, ",\"flag\":1,\"language\":\"JAVA\",\"opaque\":");
    o = (uint8_t *)rmq_i64_dec(opaque, (char *)o);
    o = PUT_RAW(o, ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    o = (uint8_t *)rmq_i64_dec(RMQ_REM_VERSION, (char *)o);
    *o++ = '}';
    size_t hlen = (size_t)(o - out) - 8;
    rmq_put_be32(out, (uint32_t)(4 + hlen));
    rmq_put_be32(out + 4, (uint32_t)hlen); /* serialize type JSON (0) in the top byte */
    return (size_t)(o - out);
}

/* ------------------------------------------------------------ binary header encode */

/* The fixed part of a binary header at o: code (2), language (1), version (2), opaque (4),
 * flag (4), remark length (4); returns its end. */
static uint8_t *put_bin_fixed(uint8_t *o, const rmq_rem_head_t *h, size_t rl) {
    rmq_put_be16(o, (uint16_t)h->code);
    o[2] = (uint8_t)h->language;
    rmq_put_be16(o + 3, (uint16_t)h->version);
    rmq_put_be32(o + 5, (uint32_t)h->opaque);
    rmq_put_be32(o + 9, (uint32_t)h->flag);
    rmq_put_be32(o + 13, (uint32_t)rl);
    return o + 17;
}

/* One binary ext field at o: key length (2), key, value length (4), value; returns its end. */
static uint8_t *put_bin_field(uint8_t *o, const char *k, size_t kl, const char *v, size_t vl) {
    rmq_put_be16(o, (uint16_t)kl);
    memcpy(o + 2, k, kl);
    o += 2 + kl;
    rmq_put_be32(o, (uint32_t)vl);
    memcpy(o + 4, v, vl);
    return o + 4 + vl;
}

size_t rmq_rem_frame_write_binary_response(int code, int32_t opaque, const rmq_rem_field_t *kv,
                                           size_t n, uint8_t *out, size_t cap) {
    size_t need = 8 + 21, lens[32][2];
    if (n > 32) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = lens[i][0] = strlen(kv[i].key), vl = lens[i][1] = strlen(kv[i].val);
        if (kl > INT16_MAX || vl > INT32_MAX) return 0;
        need += 6 + kl + vl;
    }
    if (need > cap) return 0;
    /* rmq_rem_cmd_new_response's fields: language JAVA, the version, flag RESPONSE, no remark */
    rmq_rem_head_t h = {.code = code,
                        .language = RMQ_LANG_JAVA,
                        .version = RMQ_REM_VERSION,
                        .flag = RMQ_REM_FLAG_RESPONSE,
                        .opaque = opaque};
    uint8_t *o = put_bin_fixed(out + 8, &h, 0);
    rmq_put_be32(o, (uint32_t)(need - 8 - 21));
    o += 4;
    for (size_t i = 0; i < n; i++)
        o = put_bin_field(o, kv[i].key, lens[i][0], kv[i].val, lens[i][1]);
    size_t hlen = need - 8;
    rmq_put_be32(out, (uint32_t)(4 + hlen));
    rmq_put_be32(out + 4, (uint32_t)RMQ_REM_SER_ROCKETMQ << 24 | (uint32_t)hlen);
    return need;
}

/* One pass for the lengths, one reserve, then plain stores: appending each of a field's four
 * pieces with its own bounds check was most of an async sender's work per message. */
static rmq_err_t encode_binary(const rmq_rem_head_t *c, rmq_buf_t *b) {
    size_t rl = c->remark ? strlen(c->remark) : 0;
    if (rl > INT32_MAX) return RMQ_ERR__INVALID_ARG;
    uint32_t lens[32][2]; /* a send has 13 fields; more are measured again while written */
    uint64_t el = 0;
    for (size_t i = 0; i < c->next; i++) {
        size_t kl = strlen(c->ext[i].key), vl = strlen(c->ext[i].val);
        if (kl > INT16_MAX || vl > INT32_MAX) return RMQ_ERR__INVALID_ARG;
        if (i < 32) lens[i][0] = (uint32_t)kl, lens[i][1] = (uint32_t)vl;
        el += 6 + kl + vl;
    }
    if (el > INT32_MAX) return RMQ_ERR__INVALID_ARG;
    rmq_err_t e = rmq_buf_reserve(b, 21 + rl + (size_t)el);
    if (e) return e;
    uint8_t *o = put_bin_fixed(b->data + b->len, c, rl);
    if (rl) memcpy(o, c->remark, rl);
    o += rl;
    rmq_put_be32(o, (uint32_t)el);
    o += 4;
    for (size_t i = 0; i < c->next; i++) {
        size_t kl = i < 32 ? lens[i][0] : strlen(c->ext[i].key);
        size_t vl = i < 32 ? lens[i][1] : strlen(c->ext[i].val);
        o = put_bin_field(o, c->ext[i].key, kl, c->ext[i].val, vl);
    }
    b->len = (size_t)(o - b->data);
    return RMQ_OK;
}

/* Prefix, header word and header of h; the prefix counts body_len bytes not written here. */
static rmq_err_t encode_head(const rmq_rem_head_t *h, size_t body_len, rmq_buf_t *b) {
    size_t start = b->len;
    /* Room for the prefix and header word, filled in once the header length is known. */
    rmq_err_t e = rmq_buf_append(b, "\0\0\0\0\0\0\0\0", 8);
    if (e) return e;
    bool bin = h->serialize_type == RMQ_REM_SER_ROCKETMQ;
    e = bin ? encode_binary(h, b) : encode_json(h, b);
    size_t hlen = b->len - start - 8;
    uint64_t total = 4 + (uint64_t)hlen + body_len;
    if (!e && (hlen > HEADER_MAX || total > INT32_MAX)) e = RMQ_ERR__INVALID_ARG;
    if (e) {
        b->len = start;
        return e;
    }
    rmq_put_be32(b->data + start, (uint32_t)total);
    rmq_put_be32(b->data + start + 4, ((uint32_t)(bin ? 1 : 0) << 24) | (uint32_t)hlen);
    return RMQ_OK;
}

static rmq_rem_head_t head_of(const rmq_rem_cmd_t *c) {
    return (rmq_rem_head_t){.code = c->code,
                            .language = c->language,
                            .version = c->version,
                            .flag = c->flag,
                            .serialize_type = c->serialize_type,
                            .opaque = c->opaque,
                            .remark = c->remark,
                            .ext = c->ext,
                            .next = c->next,
                            .has_ext = c->has_ext};
}

rmq_err_t rmq_rem_frame_encode_header(const rmq_rem_cmd_t *c, rmq_buf_t *b) {
    if (!c || !b) return RMQ_ERR__INVALID_ARG;
    rmq_rem_head_t h = head_of(c);
    return encode_head(&h, rmq_rem_cmd_body_len(c), b);
}

rmq_err_t rmq_rem_frame_encode(const rmq_rem_cmd_t *c, rmq_buf_t *b) {
    size_t start = b ? b->len : 0;
    rmq_err_t e = rmq_rem_frame_encode_header(c, b);
    if (e) return e;
    if (c->niov) {
        for (size_t i = 0; !e && i < c->niov; i++)
            e = rmq_buf_append(b, c->iov[i].base, c->iov[i].len);
    } else {
        e = rmq_buf_append(b, c->body, c->body_len);
    }
    if (e) b->len = start;
    return e;
}

rmq_err_t rmq_rem_frame_encode_head(const rmq_rem_head_t *h, const void *body, size_t body_len,
                                    rmq_buf_t *b) {
    if (!h || !b || (body_len && !body)) return RMQ_ERR__INVALID_ARG;
    size_t start = b->len;
    rmq_err_t e = encode_head(h, body_len, b);
    if (!e) e = rmq_buf_append(b, body, body_len);
    if (e) b->len = start;
    return e;
}
