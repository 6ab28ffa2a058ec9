/* mqadmin's plumbing on an rmq_admin_t: raw requests and their responses, the fastjson fix-up,
 * a topic's broker list. Private to librmq and tools/ (they link librmq.a, where these hidden
 * symbols are reachable); not installed, not exported from librmq.so. */
#ifndef RMQ_CLIENT_ADMIN_INTERNAL_H
#define RMQ_CLIENT_ADMIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq.h"

/* ext_kv is a NULL-terminated key, value, ... list in every call below. */

/* Full response of a raw request. */
typedef struct {
    int code;      /* the server's response code */
    char *remark;  /* NULL when absent */
    char **ext;    /* key, value, ..., NULL (never NULL itself) */
    uint8_t *body; /* NULL when absent */
    size_t body_len;
} rmq_admin_resp_t;

/* Raw request to broker_addr, or to the NameServers (through the client instance's fail-over:
 * the current one, then each other on a transport failure) when broker_addr is NULL. RMQ_OK
 * when an answer came (check (*out)->code); otherwise the transport error. timeout_ms <= 0
 * uses 5000. *out new (rmq_admin_resp_destroy). */
rmq_err_t rmq_admin_invoke(rmq_admin_t *a, const char *broker_addr, int code,
                           const char *const *ext_kv, const void *body, size_t body_len,
                           int timeout_ms, rmq_admin_resp_t **out);
void rmq_admin_resp_destroy(rmq_admin_resp_t *r);
/* Value of an ext field of r or NULL. */
const char *rmq_admin_resp_get(const rmq_admin_resp_t *r, const char *key);

/* Raw JSON calls (each returns new JSON text the caller free()s): the body the server answered,
 * so tools print RocketMQ's layouts without the SDK knowing every table. A non-SUCCESS answer
 * returns its code (positive rmq_err_t) and the server's remark is kept for
 * rmq_admin_last_error; json_out is the body made valid JSON (see rmq_json_fix) or, for a
 * body-less answer, an object of the response's ext fields. */
rmq_err_t rmq_admin_call_namesrv(rmq_admin_t *a, int code, const char *const *ext_kv,
                                 const char *body, char **json_out);
rmq_err_t rmq_admin_call_broker(rmq_admin_t *a, const char *broker_addr, int code,
                                const char *const *ext_kv, const char *body, char **json_out);

/* fastjson text -> valid JSON: bare integer keys are quoted and object keys (MessageQueue map
 * keys) become string keys holding the object's own JSON text. New string (free()), NULL on
 * OOM or unbalanced input. */
char *rmq_json_fix(const char *in, size_t len);

/* Master (id 0) addresses of every broker of topic's route ("h:p" strings, NULL-terminated,
 * free each and the array); names gets the broker names in the same order when non-NULL. */
rmq_err_t rmq_admin_topic_brokers(rmq_admin_t *a, const char *topic, char ***addrs, char ***names);

#endif
