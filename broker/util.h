/* Small helpers every broker file shares: error responses, request-header accessors, a
 * SUCCESS response with a body, loading a manager's config JSON, the peer of a connection as a
 * stored host, and the enum names fastjson writes. Includes nothing of broker/.
 *
 * Everything here runs on the broker loop or in tests; nothing keeps state. */
#ifndef RMQ_BROKER_UTIL_H
#define RMQ_BROKER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/msg.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Error response to req: code + remark (printf). Returns new (NULL on OOM). */
rmq_rem_cmd_t *rmq_broker_err(const rmq_rem_cmd_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- request headers: NULL when fine, else the error response naming the field ------- */
rmq_rem_cmd_t *rmq_broker_need_str(const rmq_rem_cmd_t *req, const char *k, const char **out);
rmq_rem_cmd_t *rmq_broker_need_i32(const rmq_rem_cmd_t *req, const char *k, int32_t *out);
rmq_rem_cmd_t *rmq_broker_need_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out);
/* Optional ones: keep *out when absent; error response when present but malformed. */
rmq_rem_cmd_t *rmq_broker_opt_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out);
rmq_rem_cmd_t *rmq_broker_opt_bool(const rmq_rem_cmd_t *req, const char *k, bool *out);
/* Response with SUCCESS and a body taken from buf (detached). */
rmq_rem_cmd_t *rmq_broker_ok_body(const rmq_rem_cmd_t *req, rmq_buf_t *body);
/* Response with SUCCESS and the NUL-terminated text as body (takes text, malloc'd); when text
 * is NULL, SYSTEM_ERROR with remark `none` instead. */
rmq_rem_cmd_t *rmq_broker_ok_text(const rmq_rem_cmd_t *req, char *text, const char *none);

/* Load a manager's config/<name>.json at open: read path (with the .bak fallback) and hand the
 * text to decode(text, len, arg). A missing file is normal; an unreadable or undecodable one is
 * warned ("... unreadable; <fallback>") and the manager starts from its defaults. */
void rmq_broker_load_config(const char *mod, const char *path, const char *fallback,
                            rmq_err_t (*decode)(const char *text, size_t len, void *arg),
                            void *arg);

/* The peer of c as a stored host (IPv4 when the peer is IPv4 or IPv4-mapped). */
void rmq_broker_peer_host(rmq_rem_conn_t *c, rmq_msg_host_t *h);

/* ---- enums as fastjson writes them ------------------------------------------------- */
extern const char *const rmq_broker_consume_type_names[];  /* CONSUME_ACTIVELY, _PASSIVELY */
extern const char *const rmq_broker_message_model_names[]; /* BROADCASTING, CLUSTERING */
extern const char *const rmq_broker_consume_from_names[];  /* CONSUME_FROM_LAST_OFFSET, ... */

#endif
