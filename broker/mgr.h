/* Internals shared by the broker's manager files (offset.c, subgroup.c, clients.c, admin.c):
 * a string-keyed hash map, fastjson-dialect JSON helpers, request-header accessors, and the
 * pure encode/decode functions of the managers (unit-tested without a running broker).
 *
 * Everything here runs on the broker loop or in tests; nothing is thread-safe. */
#ifndef RMQ_BROKER_MGR_H
#define RMQ_BROKER_MGR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "common/fjson.h"

/* ---- string-keyed hash map (chained; grows at load 1) ------------------------------ */
typedef struct rmq_smap_ent_s {
    char *key; /* owned */
    void *val; /* the caller's */
    struct rmq_smap_ent_s *next;
} rmq_smap_ent_t;

typedef struct {
    rmq_smap_ent_t **b;
    size_t nb, n;
} rmq_smap_t;

void rmq_smap_init(rmq_smap_t *m);
void *rmq_smap_get(const rmq_smap_t *m, const char *k);
/* Insert or replace; returns the previous value (NULL if new) in *old when old != NULL. */
rmq_err_t rmq_smap_put(rmq_smap_t *m, const char *k, void *v, void **old);
/* Remove k; returns its value or NULL. */
void *rmq_smap_del(rmq_smap_t *m, const char *k);
/* Visit every entry; when fn returns true the entry is removed (fn disposes of val). */
void rmq_smap_each(rmq_smap_t *m, bool (*fn)(const char *k, void *v, void *arg), void *arg);
/* Free the map; free_val (may be NULL) disposes of each value. */
void rmq_smap_fini(rmq_smap_t *m, void (*free_val)(void *v));

/* ---- request headers: NULL when fine, else the error response naming the field ------- */
rmq_rem_cmd_t *rmq_bm_need_str(const rmq_rem_cmd_t *req, const char *k, const char **out);
rmq_rem_cmd_t *rmq_bm_need_i32(const rmq_rem_cmd_t *req, const char *k, int32_t *out);
rmq_rem_cmd_t *rmq_bm_need_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out);
/* Optional ones: keep *out when absent; error response when present but malformed. */
rmq_rem_cmd_t *rmq_bm_opt_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out);
rmq_rem_cmd_t *rmq_bm_opt_bool(const rmq_rem_cmd_t *req, const char *k, bool *out);
/* Define a request handler that takes req as the server contract says: the body below gets
 * (c, req, b) and returns the response; the wrapper destroys req afterwards. */
#define BM_HANDLER(name)                                                                     \
    static rmq_rem_cmd_t *name##_impl(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, rmq_broker_t *b); \
    static rmq_rem_cmd_t *name(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, void *arg) {             \
        rmq_rem_cmd_t *resp_ = name##_impl(c, req, arg);                                     \
        rmq_rem_cmd_destroy(req);                                                            \
        return resp_;                                                                        \
    }                                                                                        \
    static rmq_rem_cmd_t *name##_impl(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, rmq_broker_t *b)
/* Response with SUCCESS and a body taken from buf (detached). */
rmq_rem_cmd_t *rmq_bm_ok_body(const rmq_rem_cmd_t *req, rmq_buf_t *body);

/* Load a manager's config/<name>.json at open: read path (with the .bak fallback) and hand the
 * text to decode(text, len, arg). A missing file is normal; an unreadable or undecodable one is
 * warned ("... unreadable; <fallback>") and the manager starts from its defaults. */
void rmq_bm_load_config(const char *mod, const char *path, const char *fallback,
                        rmq_err_t (*decode)(const char *text, size_t len, void *arg), void *arg);

/* ---- enums as fastjson writes them ------------------------------------------------- */
extern const char *const rmq_bm_consume_type_names[];   /* CONSUME_ACTIVELY, CONSUME_PASSIVELY */
extern const char *const rmq_bm_message_model_names[];  /* BROADCASTING, CLUSTERING */
extern const char *const rmq_bm_consume_from_names[];   /* CONSUME_FROM_LAST_OFFSET, ... */

/* ---- consumer offsets table (offset.c) ---------------------------------------------- */
/* A table without a broker, for tests: new, set/get, encode/decode consumerOffset.json. */
rmq_broker_offsets_t *rmq_bm_offsets_new(void);
void rmq_bm_offsets_free(rmq_broker_offsets_t *t);
void rmq_bm_offsets_tset(rmq_broker_offsets_t *t, const char *group, const char *topic, int qid,
                         int64_t off);
int64_t rmq_bm_offsets_tget(rmq_broker_offsets_t *t, const char *group, const char *topic,
                            int qid);
/* ConsumerOffsetSerializeWrapper text (fastjson: bare queue-id keys); pretty = file layout. */
char *rmq_bm_offsets_encode(rmq_broker_offsets_t *t, bool pretty);
/* Merge entries from consumerOffset.json text; RMQ_ERR__CORRUPT when unparsable. */
rmq_err_t rmq_bm_offsets_decode(rmq_broker_offsets_t *t, const char *text, size_t len);
/* Does group have any offset for topic? */
bool rmq_bm_offsets_has(rmq_broker_t *b, const char *group, const char *topic);
/* Messages per second the group consumed of topic, from its offset commits (last minute). */
double rmq_bm_offsets_tps(rmq_broker_t *b, const char *group, const char *topic);
/* Drop every offset of group (DELETE_SUBSCRIPTIONGROUP removeOffset). */
void rmq_bm_offsets_remove_group(rmq_broker_t *b, const char *group);
/* Iterate the (topic, group) pairs with offsets: fn gets the queue ids and offsets. */
void rmq_bm_offsets_each(rmq_broker_t *b,
                         void (*fn)(const char *topic, const char *group, const int *qids,
                                    const int64_t *offs, size_t n, void *arg),
                         void *arg);

/* ResetOffsetBody (map with MessageQueue keys) or ResetOffsetBodyForC (list) for n queues. */
void rmq_bm_reset_body(rmq_buf_t *b, bool for_c, const char *topic, const char *broker,
                       const int *qids, const int64_t *offs, size_t n);

/* ---- subscription groups (subgroup.c) ----------------------------------------------- */
void rmq_bm_subgroup_defaults(rmq_subgroup_t *g, const char *name);
/* SubscriptionGroupConfig from JSON (missing keys keep the defaults). */
rmq_err_t rmq_bm_subgroup_from_json(json_t *o, rmq_subgroup_t *g);
void rmq_bm_subgroup_to_json(rmq_buf_t *b, const rmq_subgroup_t *g);
/* NULL when the group is not configured (no auto-create). */
const rmq_subgroup_t *rmq_bm_subgroup_find(rmq_broker_t *b, const char *group);
void rmq_bm_subgroup_register(rmq_broker_t *b); /* 200, 201, 207 */

/* ---- heartbeat body (clients.c) ----------------------------------------------------- */
typedef struct {
    rmq_subscription_t s;
    char **tags;             /* tagsSet, owned */
    size_t ntags;
    bool class_filter_mode;
} rmq_bm_sub_t;

typedef struct {
    char group[256];
    int consume_type;        /* 0 ACTIVELY (pull), 1 PASSIVELY (push) */
    int message_model;       /* 0 BROADCASTING, 1 CLUSTERING */
    int consume_from_where;  /* -1 when unknown */
    bool unit_mode;
    rmq_bm_sub_t *subs;
    size_t nsubs;
} rmq_bm_consumer_data_t;

typedef struct {
    char client_id[256];
    bool without_sub;        /* 5.x heartbeat V2: subscriptions omitted, keep the stored ones */
    char (*producers)[256];
    size_t nproducers;
    rmq_bm_consumer_data_t *consumers;
    size_t nconsumers;
} rmq_bm_heartbeat_t;

/* Parse HeartbeatData (names or ordinals, string subVersion, missing sets). Tags and codes
 * are derived from subString for TAG expressions (FilterAPI rules). On error a reason. */
rmq_err_t rmq_bm_heartbeat_parse(const void *body, size_t len, rmq_bm_heartbeat_t *hb,
                                 char *err, size_t errlen);
void rmq_bm_heartbeat_free(rmq_bm_heartbeat_t *hb);
/* Build a subscription from topic + expression (FilterAPI.build). */
rmq_err_t rmq_bm_sub_build(rmq_bm_sub_t *s, const char *topic, const char *sub_string,
                           const char *expr_type, int64_t sub_version);
void rmq_bm_sub_free(rmq_bm_sub_t *s);
/* SubscriptionData JSON as fastjson writes it. */
void rmq_bm_sub_to_json(rmq_buf_t *b, const rmq_bm_sub_t *s);
/* Consumers of a group: clientIds and channels (for reset offset). Returns count. */
size_t rmq_bm_clients_group_conns(rmq_broker_t *b, const char *group, rmq_rem_conn_t ***conns,
                                  int **langs, int **versions);
/* Groups with a consumer online that subscribe to topic (QUERY_TOPIC_CONSUME_BY_WHO). */
void rmq_bm_clients_groups_of_topic(rmq_broker_t *b, const char *topic,
                                    void (*fn)(const char *group, void *arg), void *arg);

/* ---- admin.c ------------------------------------------------------------------------ */
/* Stop the runtime-info sampler (called from rmq_broker_clients_close). */
void rmq_bm_admin_stop(rmq_broker_t *b);

#endif
