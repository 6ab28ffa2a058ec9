/* fastjson's dialect -> standard JSON (see fjson.h). One pass over the text with a small
 * stack of open containers saying whether the next token in an object is a key; strings
 * (which may hold braces and colons) are skipped whole. */
#include "common/fjson.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"

/* Index just past the string starting at in[i] == '"', or len if unterminated. */
static size_t jf_skip_str(const char *in, size_t len, size_t i) {
    for (i++; i < len; i++) {
        if (in[i] == '\\')
            i++;
        else if (in[i] == '"')
            return i + 1;
    }
    return len;
}

/* Index just past the object/array opened at in[i]; 0 when unbalanced. */
static size_t jf_skip_group(const char *in, size_t len, size_t i) {
    int depth = 0;
    while (i < len) {
        char c = in[i];
        if (c == '"') {
            i = jf_skip_str(in, len, i);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return i + 1;
        }
        i++;
    }
    return 0;
}

/* How deep an object may stand as a key inside another object used as a key. fastjson writes
 * one level (a MessageQueue as a map key); every level escapes the one inside it again, so the
 * output doubles per level: without a bound a few KB of nested keys would ask for gigabytes. */
#define JF_MAX_KEY_DEPTH 4

static int jf_run(const char *in, size_t len, rmq_buf_t *b, int key_depth);

/* Append in[0..len) as a JSON string literal (the escaper below). */
static int jf_quote(const char *in, size_t len, rmq_buf_t *b) {
    return rmq_json_put_strn(b, in, len, false) ? -1 : 0;
}

/* Copy in[0..len) fixing keys. A small stack of open containers says whether the next token
 * in an object is a key. */
static int jf_run(const char *in, size_t len, rmq_buf_t *b, int key_depth) {
    char stack[256];
    int sp = 0;
    bool want_key = false;
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (rmq_buf_append_u8(b, (uint8_t)c)) return -1;
            i++;
            continue;
        }
        if (want_key) {
            want_key = false;
            if (c == '{' || c == '[') { /* object key: its own text, fixed, as a string */
                size_t end = jf_skip_group(in, len, i);
                if (end == 0 || key_depth >= JF_MAX_KEY_DEPTH) return -1;
                rmq_buf_t k;
                rmq_buf_init(&k);
                if (jf_run(in + i, end - i, &k, key_depth + 1) ||
                    jf_quote((const char *)k.data, k.len, b)) {
                    rmq_buf_fini(&k);
                    return -1;
                }
                rmq_buf_fini(&k);
                i = end;
                continue;
            }
            if (c != '"' && c != '}') { /* bare key: number, true, identifier */
                size_t s = i;
                while (i < len && in[i] != ':' && in[i] != ' ' && in[i] != '\t' && in[i] != '\n' &&
                       in[i] != '\r')
                    i++;
                if (jf_quote(in + s, i - s, b)) return -1;
                continue;
            }
        }
        if (c == '"') {
            size_t end = jf_skip_str(in, len, i);
            if (rmq_buf_append(b, in + i, end - i)) return -1;
            i = end;
            continue;
        }
        if (c == '{' || c == '[') {
            if (sp >= (int)sizeof stack) return -1;
            stack[sp++] = c;
            want_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (sp == 0 || stack[sp - 1] != (c == '}' ? '{' : '[')) return -1;
            sp--;
        } else if (c == ',') {
            want_key = sp > 0 && stack[sp - 1] == '{';
        }
        if (rmq_buf_append_u8(b, (uint8_t)c)) return -1;
        i++;
    }
    return sp == 0 ? 0 : -1;
}

char *rmq_fjson_normalize(const char *in, size_t len) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (jf_run(in, len, &b, 0) || rmq_buf_append_u8(&b, 0)) {
        rmq_buf_fini(&b);
        return NULL;
    }
    return (char *)rmq_buf_detach(&b, NULL);
}

json_t *rmq_fjson_parse(const char *text, size_t len, char *err, size_t errlen) {
    while (len && text[len - 1] == '\0') len--; /* a length that counted the terminator */
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (jf_run(text, len, &b, 0)) {
        rmq_buf_fini(&b);
        if (err) snprintf(err, errlen, "malformed JSON (unbalanced brackets) or out of memory");
        return NULL;
    }
    /* by length: a NUL inside the text fails the parse instead of ending it early */
    json_error_t je;
    json_t *j = json_loadb(b.len ? (const char *)b.data : "", b.len, JSON_DECODE_ANY, &je);
    rmq_buf_fini(&b);
    if (!j && err) snprintf(err, errlen, "bad JSON at %d:%d: %s", je.line, je.column, je.text);
    return j;
}

/* ---------------------------------------------------------------- writing */

/* Decode one UTF-8 sequence at s[0..n); returns its length (1 for an invalid byte, which reads
 * as U+FFFD). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 1) {
        *cp = s[0];
        return 1;
    }
    if (!len || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static uint8_t *put_u4(uint8_t *o, uint32_t v, const char *hex) {
    *o++ = '\\';
    *o++ = 'u';
    for (int sh = 12; sh >= 0; sh -= 4) *o++ = (uint8_t)hex[(v >> sh) & 15];
    return o;
}

rmq_err_t rmq_json_put_strn(rmq_buf_t *b, const char *s, size_t n, bool ascii_only) {
    /* Worst case every byte becomes \u00XX (a 4-byte sequence: two \uXXXX, 12 bytes). */
    rmq_err_t e = rmq_buf_reserve(b, n * 6 + 2);
    if (e) return e;
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* plain bytes 8 at a time (property strings, names); writing 8 at o stays inside the
         * 6 n reserved, as o never runs ahead of i by more than the escapes written */
        while (n - i >= 8) {
            uint64_t v;
            memcpy(&v, u + i, 8);
            memcpy(o, &v, 8);
            uint64_t sp = rmq_json_special8(v);
            if (!sp) {
                o += 8;
                i += 8;
                continue;
            }
            size_t k = (size_t)__builtin_ctzll(sp) >> 3;
            o += k;
            i += k;
            break;
        }
        if (i >= n) break;
#endif
        unsigned char ch = u[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && (ch < 0x80 || !ascii_only)) {
            *o++ = ch;
            i++;
            continue;
        }
        if (ch >= 0x80) {
            uint32_t cp;
            i += utf8_decode(u + i, n - i, &cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                o = put_u4(o, 0xD800 + (cp >> 10), upper);
                o = put_u4(o, 0xDC00 + (cp & 0x3FF), upper);
            } else {
                o = put_u4(o, cp, upper);
            }
            continue;
        }
        i++;
        switch (ch) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\b':
            *o++ = '\\';
            *o++ = 'b';
            break;
        case '\f':
            *o++ = '\\';
            *o++ = 'f';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default: o = put_u4(o, ch, lower);
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return RMQ_OK;
}

rmq_err_t rmq_json_put_str(rmq_buf_t *b, const char *s) {
    return rmq_json_put_strn(b, s ? s : "", s ? strlen(s) : 0, false);
}

/* ---------------------------------------------------------------- typed reading, MessageQueue */

void rmq_fj_mq(rmq_buf_t *b, const char *broker, int qid, const char *topic) {
    rmq_buf_append_str(b, "{\"brokerName\":");
    rmq_json_put_str(b, broker);
    rmq_buf_appendf(b, ",\"queueId\":%d,\"topic\":", qid);
    rmq_json_put_str(b, topic);
    rmq_buf_append_u8(b, '}');
}

bool rmq_fj_mq_from_json(json_t *o, char *topic, size_t tsz, char *broker, size_t bsz, int *qid) {
    if (!json_is_object(o)) return false;
    char tmp[32];
    const char *t = rmq_fj_get_str(o, "topic", tmp, sizeof tmp);
    if (!t) return false;
    rmq_strlcpy(topic, t, tsz);
    const char *bn = rmq_fj_get_str(o, "brokerName", tmp, sizeof tmp);
    rmq_strlcpy(broker, bn ? bn : "", bsz);
    int64_t q = rmq_fj_get_i64(o, "queueId", -1);
    if (q < 0 || q > INT32_MAX) return false;
    *qid = (int)q;
    return true;
}

bool rmq_fj_mq_from_key(const char *key, char *topic, size_t tsz, char *broker, size_t bsz,
                        int *qid) {
    json_t *o = json_loads(key, 0, NULL);
    bool ok = rmq_fj_mq_from_json(o, topic, tsz, broker, bsz, qid);
    json_decref(o);
    return ok;
}

int rmq_fj_enum(json_t *v, const char *const *names, int def) {
    int n = 0;
    while (names[n]) n++;
    int64_t ord;
    if (json_is_integer(v)) {
        ord = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (int i = 0; i < n; i++)
            if (strcmp(s, names[i]) == 0) return i;
        if (rmq_parse_i64(s, &ord) != 0) return def;
    } else {
        return def;
    }
    return ord >= 0 && ord < n ? (int)ord : def;
}

const char *rmq_fj_get_str(json_t *o, const char *k, char *tmp, size_t tmpsz) {
    json_t *v = json_object_get(o, k);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, tmpsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    }
    return NULL;
}

int rmq_fj_read_i64(const json_t *o, const char *k, int64_t def, int64_t *out) {
    json_t *v = json_object_get(o, k);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    int64_t x;
    if (!json_is_string(v) || rmq_parse_i64(json_string_value(v), &x) != 0) return -1;
    *out = x;
    return 0;
}

int rmq_fj_read_int(const json_t *o, const char *k, int def, int *out) {
    int64_t v;
    *out = def;
    if (rmq_fj_read_i64(o, k, def, &v) != 0 || v < INT32_MIN || v > INT32_MAX) return -1;
    *out = (int)v;
    return 0;
}

int rmq_fj_read_str(const json_t *o, const char *k, const char *def, const char **out) {
    json_t *v = json_object_get(o, k);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *out = json_string_value(v);
    return 0;
}

int64_t rmq_fj_get_i64(json_t *o, const char *k, int64_t def) {
    int64_t v;
    return rmq_fj_read_i64(o, k, def, &v) == 0 ? v : def;
}

bool rmq_fj_get_bool(json_t *o, const char *k, bool def) {
    json_t *v = json_object_get(o, k);
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "true") == 0) return true;
        if (strcmp(json_string_value(v), "false") == 0) return false;
    }
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    return def;
}
