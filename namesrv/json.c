#include "namesrv/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_DEPTH 128

json_t *ns_json_parse_lenient(const void *src, size_t n, char *err, size_t errlen) {
    const char *p = src;
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_buf_reserve(&b, n + 64)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char stack[MAX_DEPTH];
    int depth = 0;
    bool in_str = false, expect_key = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            rmq_buf_append_u8(&b, (uint8_t)c);
            if (c == '\\' && i + 1 < n) {
                rmq_buf_append_u8(&b, (uint8_t)p[++i]);
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            rmq_buf_append_u8(&b, (uint8_t)c);
            continue;
        }
        if (c == '"') {
            in_str = true;
            expect_key = false;
            rmq_buf_append_u8(&b, '"');
            continue;
        }
        if (expect_key && ((c >= '0' && c <= '9') || c == '-')) {
            /* fastjson writes Map<Long,...> keys bare: {0:"a"} -> {"0":"a"} */
            size_t j = i;
            while (j < n && ((p[j] >= '0' && p[j] <= '9') || p[j] == '-')) j++;
            rmq_buf_append_u8(&b, '"');
            rmq_buf_append(&b, p + i, j - i);
            rmq_buf_append_u8(&b, '"');
            i = j - 1;
            expect_key = false;
            continue;
        }
        expect_key = false;
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH) {
                rmq_buf_fini(&b);
                snprintf(err, errlen, "JSON nested deeper than %d", MAX_DEPTH);
                return NULL;
            }
            stack[depth++] = c;
            expect_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (depth > 0) depth--;
        } else if (c == ',') {
            expect_key = depth > 0 && stack[depth - 1] == '{';
        }
        rmq_buf_append_u8(&b, (uint8_t)c);
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b.data, b.len, 0, &jerr);
    rmq_buf_fini(&b);
    if (!root) snprintf(err, errlen, "bad JSON at offset %d: %s", jerr.position, jerr.text);
    return root;
}

int ns_json_get_i64(const json_t *obj, const char *key, int64_t def, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) return rmq_parse_i64(json_string_value(v), out) ? -1 : 0;
    if (json_is_boolean(v)) return -1;
    return -1;
}

int ns_json_get_int(const json_t *obj, const char *key, int def, int *out) {
    int64_t v;
    *out = def;
    if (ns_json_get_i64(obj, key, def, &v)) return -1;
    if (v < INT32_MIN || v > INT32_MAX) return -1;
    *out = (int)v;
    return 0;
}

int ns_json_get_str(const json_t *obj, const char *key, const char *def, const char **out) {
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *out = json_string_value(v);
    return 0;
}

/* Decode one UTF-8 sequence at s; returns its length (1 for an invalid byte, taken as-is). */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

void ns_json_put_str(rmq_buf_t *b, const char *s, bool ascii_only) {
    rmq_buf_append_u8(b, '"');
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        unsigned char c = *u;
        if (c == '"' || c == '\\') {
            rmq_buf_append_u8(b, '\\');
            rmq_buf_append_u8(b, c);
            u++;
        } else if (c == '\n') {
            rmq_buf_append_str(b, "\\n");
            u++;
        } else if (c == '\r') {
            rmq_buf_append_str(b, "\\r");
            u++;
        } else if (c == '\t') {
            rmq_buf_append_str(b, "\\t");
            u++;
        } else if (c < 0x20) {
            rmq_buf_appendf(b, "\\u%04x", c);
            u++;
        } else if (c >= 0x80 && ascii_only) {
            uint32_t cp;
            u += utf8_decode(u, &cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                rmq_buf_appendf(b, "\\u%04X\\u%04X", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                rmq_buf_appendf(b, "\\u%04X", cp);
            }
        } else {
            rmq_buf_append_u8(b, c);
            u++;
        }
    }
    rmq_buf_append_u8(b, '"');
}
