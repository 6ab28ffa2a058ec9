/* fastjson's dialect -> standard JSON (see fjson.h). One pass over the text with a small
 * stack of open containers saying whether the next token in an object is a key; strings
 * (which may hold braces and colons) are skipped whole. */
#include "common/fjson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"

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
            if (--depth == 0)
                return i + 1;
        }
        i++;
    }
    return 0;
}

static int jf_run(const char *in, size_t len, rmq_buf_t *b);

/* Append in[0..len) as a JSON string literal. */
static int jf_quote(const char *in, size_t len, rmq_buf_t *b) {
    if (rmq_buf_append_u8(b, '"'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '"' || c == '\\') {
            if (rmq_buf_append_u8(b, '\\') || rmq_buf_append_u8(b, (uint8_t)c))
                return -1;
        } else if ((unsigned char)c < 0x20) {
            if (rmq_buf_appendf(b, "\\u%04x", (unsigned char)c))
                return -1;
        } else if (rmq_buf_append_u8(b, (uint8_t)c)) {
            return -1;
        }
    }
    return rmq_buf_append_u8(b, '"') ? -1 : 0;
}

/* Copy in[0..len) fixing keys. A small stack of open containers says whether the next token
 * in an object is a key. */
static int jf_run(const char *in, size_t len, rmq_buf_t *b) {
    char stack[256];
    int sp = 0;
    bool want_key = false;
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (rmq_buf_append_u8(b, (uint8_t)c))
                return -1;
            i++;
            continue;
        }
        if (want_key) {
            want_key = false;
            if (c == '{' || c == '[') { /* object key: its own text, fixed, as a string */
                size_t end = jf_skip_group(in, len, i);
                if (end == 0)
                    return -1;
                rmq_buf_t k;
                rmq_buf_init(&k);
                if (jf_run(in + i, end - i, &k) || jf_quote((const char *)k.data, k.len, b)) {
                    rmq_buf_fini(&k);
                    return -1;
                }
                rmq_buf_fini(&k);
                i = end;
                continue;
            }
            if (c != '"' && c != '}') { /* bare key: number, true, identifier */
                size_t s = i;
                while (i < len && in[i] != ':' && in[i] != ' ' && in[i] != '\t' &&
                       in[i] != '\n' && in[i] != '\r')
                    i++;
                if (jf_quote(in + s, i - s, b))
                    return -1;
                continue;
            }
        }
        if (c == '"') {
            size_t end = jf_skip_str(in, len, i);
            if (rmq_buf_append(b, in + i, end - i))
                return -1;
            i = end;
            continue;
        }
        if (c == '{' || c == '[') {
            if (sp >= (int)sizeof stack)
                return -1;
            stack[sp++] = c;
            want_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (sp == 0 || stack[sp - 1] != (c == '}' ? '{' : '['))
                return -1;
            sp--;
        } else if (c == ',') {
            want_key = sp > 0 && stack[sp - 1] == '{';
        }
        if (rmq_buf_append_u8(b, (uint8_t)c))
            return -1;
        i++;
    }
    return sp == 0 ? 0 : -1;
}

char *rmq_fjson_normalize(const char *in, size_t len) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (jf_run(in, len, &b) || rmq_buf_append_u8(&b, 0)) {
        rmq_buf_fini(&b);
        return NULL;
    }
    return (char *)rmq_buf_detach(&b, NULL);
}

json_t *rmq_fjson_parse(const char *text, size_t len, char *err, size_t errlen) {
    char *norm = rmq_fjson_normalize(text, len);
    if (!norm) {
        if (err) snprintf(err, errlen, "malformed JSON (unbalanced brackets) or out of memory");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(norm, JSON_DECODE_ANY, &je);
    free(norm);
    if (!j && err) snprintf(err, errlen, "bad JSON at %d:%d: %s", je.line, je.column, je.text);
    return j;
}
