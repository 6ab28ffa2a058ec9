/* JSON helpers for NameServer bodies: a lenient reader that accepts fastjson's unquoted
 * integer map keys (protocol.md 5.0 item 4), typed field getters that accept numbers sent as
 * strings, and a string writer for the two output styles (fastjson default: raw UTF-8;
 * "standard" browser-compatible: non-ASCII as \uXXXX). */
#ifndef RMQ_NS_JSON_H
#define RMQ_NS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Parse p[0..n) as a JSON object or array after quoting bare integer object keys.
 * Returns a new reference (json_decref) or NULL with the reason in err. */
json_t *ns_json_parse_lenient(const void *p, size_t n, char *err, size_t errlen);

/* Field getters: a missing or null field yields def and 0; a field of the wrong type -1.
 * Numbers may arrive as JSON strings ("4") and booleans as "true"/"false". */
int ns_json_get_i64(const json_t *obj, const char *key, int64_t def, int64_t *out);
int ns_json_get_int(const json_t *obj, const char *key, int def, int *out);
/* Borrowed string (valid while obj lives) or def; numbers are not converted. */
int ns_json_get_str(const json_t *obj, const char *key, const char *def, const char **out);

/* Append s as a quoted JSON string. ascii_only escapes every non-ASCII code point as \uXXXX
 * (UTF-16 surrogate pairs above U+FFFF), as fastjson's BrowserCompatible feature does. */
void ns_json_put_str(rmq_buf_t *b, const char *s, bool ascii_only);

#endif
