/* fastjson's dialect -> standard JSON.
 *
 * fastjson (Java RocketMQ's JSON library) writes maps with non-String keys without quotes
 * ({0:"host:port"}) and maps keyed by objects with the object itself as the key
 * ({{"brokerName":"b","queueId":0,"topic":"T"}:12}); jansson reads neither. Route bodies from
 * old NameServers, ConsumeStats, ResetOffsetBody and the broker's own JSON files use both.
 * One normalizer serves the NameServer's peers, the broker and the SDK. */
#ifndef RMQ_FJSON_H
#define RMQ_FJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Rewrite in[0..len) as standard JSON: bare keys (numbers, identifiers) are quoted, an object
 * or array used as a key becomes its own normalized text as a string key. Strings are copied
 * untouched. Returns a new NUL-terminated string (free()), or NULL when brackets do not
 * balance or memory runs out. */
char *rmq_fjson_normalize(const char *in, size_t len);

/* Normalize and parse text[0..len) (any JSON value; trailing NULs are ignored, a NUL before
 * the end is an error); NULL with the reason (which says "JSON") in err on failure. Caller
 * json_decref()s the result. */
json_t *rmq_fjson_parse(const char *text, size_t len, char *err, size_t errlen);

/* ---- typed reading (fields that may arrive in another JSON type) ------------------------- */
/* An enum field given as a name or an ordinal (number or numeric string); def when absent
 * or unknown ("UNKNOWN" from Go). names is NULL-terminated. */
int rmq_fj_enum(json_t *v, const char *const *names, int def);
/* A string field that may arrive as a number; NULL when absent. Borrowed from o, except that
 * numbers are formatted into tmp. */
const char *rmq_fj_get_str(json_t *o, const char *k, char *tmp, size_t tmpsz);
/* A number field that may arrive as a numeric string; def when absent or junk. */
int64_t rmq_fj_get_i64(json_t *o, const char *k, int64_t def);
bool rmq_fj_get_bool(json_t *o, const char *k, bool def);
/* Strict forms, for decoders that name the bad field: 0 with *out set (def when the field is
 * absent or null), or -1 with *out = def when it has another type. _i64 and _int take a number
 * or a numeric string (-1 for junk, _int also outside int32); _str takes only a string
 * (borrowed from o). rmq_fj_get_i64 is rmq_fj_read_i64 with every error read as def. */
int rmq_fj_read_i64(const json_t *o, const char *k, int64_t def, int64_t *out);
int rmq_fj_read_int(const json_t *o, const char *k, int def, int *out);
int rmq_fj_read_str(const json_t *o, const char *k, const char *def, const char **out);

/* ---- MessageQueue {"brokerName":..,"queueId":..,"topic":..} ------------------------------- */
void rmq_fj_mq(rmq_buf_t *b, const char *broker, int qid, const char *topic);
/* Parse a MessageQueue from a JSON object (or a normalized object key's text). */
bool rmq_fj_mq_from_json(json_t *o, char *topic, size_t tsz, char *broker, size_t bsz, int *qid);
bool rmq_fj_mq_from_key(const char *key, char *topic, size_t tsz, char *broker, size_t bsz,
                        int *qid);

/* ---- writing --------------------------------------------------------------------------- */
/* The one JSON string escaper: append s[0..n) as a quoted literal the way fastjson writes it:
 * quote, backslash and control characters escaped (\b \f \n \r \t, others \u00xx), UTF-8
 * kept raw; with ascii_only every non-ASCII code point becomes \uXXXX (surrogate pairs above
 * U+FFFF), as fastjson's BrowserCompatible feature writes it. RMQ_ERR__NOMEM on failure. */
rmq_err_t rmq_json_put_strn(rmq_buf_t *b, const char *s, size_t n, bool ascii_only);

/* The same for a NUL-terminated s; NULL writes "". */
rmq_err_t rmq_json_put_str(rmq_buf_t *b, const char *s);

/* The high bit of each byte of the 8 (little-endian word v) that a JSON string cannot carry
 * as is: '"', '\\', below 0x20, and 0x80 and up (the callers decide about those). Exact for
 * the lowest such byte (a borrow only runs upwards from one), which is all the callers use:
 * the plain bytes before it are __builtin_ctzll(x) / 8. */
static inline uint64_t rmq_json_special8(uint64_t v) {
    const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
    uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
    return (((q - ones) & ~q) | ((bs - ones) & ~bs) | (v - ones * 0x20) | v) & high;
}

#endif
