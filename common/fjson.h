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
#include <stddef.h>

/* Rewrite in[0..len) as standard JSON: bare keys (numbers, identifiers) are quoted, an object
 * or array used as a key becomes its own normalized text as a string key. Strings are copied
 * untouched. Returns a new NUL-terminated string (free()), or NULL when brackets do not
 * balance or memory runs out. */
char *rmq_fjson_normalize(const char *in, size_t len);

/* Normalize and parse (any JSON value); NULL with the reason in err on failure.
 * Caller json_decref()s the result. */
json_t *rmq_fjson_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
