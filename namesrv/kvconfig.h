/* NameServer KV configuration (RocketMQ's KVConfigManager): namespace -> {key -> value},
 * persisted as {"configTable":{"ns":{"k":"v"}}} at kvConfigPath after every change, written to
 * a temp file, fsync'ed and renamed over the old one so a crash leaves one whole version.
 * Used mainly for ORDER_TOPIC_CONFIG (topic -> "brokerA:4;brokerB:4").
 * Single-threaded like the route tables. */
#ifndef RMQ_NS_KVCONFIG_H
#define RMQ_NS_KVCONFIG_H

#include "common/buf.h"
#include "rmq/rmq_err.h"

#define RMQ_NS_KV_ORDER_TOPIC_CONFIG "ORDER_TOPIC_CONFIG"

typedef struct rmq_ns_kv_s rmq_ns_kv_t;

/* Load path if it exists (a missing file is an empty table). RMQ_ERR__CORRUPT with the reason
 * logged when the file is not the expected JSON; RMQ_ERR__IO when unreadable. path copied. */
rmq_err_t rmq_ns_kv_open(const char *path, rmq_ns_kv_t **out);
void rmq_ns_kv_close(rmq_ns_kv_t *kv); /* NULL is a no-op; does not persist */

/* Set and persist. The in-memory change stays even when persisting fails (RMQ_ERR__IO). */
rmq_err_t rmq_ns_kv_put(rmq_ns_kv_t *kv, const char *ns, const char *key, const char *value);
/* Borrowed value (valid until the next change) or NULL. */
const char *rmq_ns_kv_get(const rmq_ns_kv_t *kv, const char *ns, const char *key);
/* Remove and persist; RMQ_ERR__NOT_FOUND when absent (nothing written). */
rmq_err_t rmq_ns_kv_delete(rmq_ns_kv_t *kv, const char *ns, const char *key);
/* KVTable {"table":{...}} of namespace ns; RMQ_ERR__NOT_FOUND when the namespace is unknown. */
rmq_err_t rmq_ns_kv_table_json(const rmq_ns_kv_t *kv, const char *ns, rmq_buf_t *out);
/* Write the file now. */
rmq_err_t rmq_ns_kv_persist(rmq_ns_kv_t *kv);

#endif
