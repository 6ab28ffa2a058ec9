/* NameServer route tables, as RocketMQ's RouteInfoManager (broker.md section 10.2):
 *
 *   topics   : topic -> QueueData per broker name {readQueueNums, writeQueueNums, perm, sysFlag}
 *   brokers  : broker name -> {cluster, brokerId -> address}
 *   clusters : cluster name -> set of broker names
 *   live     : broker address -> {last update, DataVersion, HA address, connection}
 *   filter   : broker address -> filter server list (legacy, normally empty)
 *
 * Plus the JSON bodies built from them (TopicRouteData, ClusterInfo, TopicList) and the
 * REGISTER_BROKER / QUERY_DATA_VERSION body decoders.
 *
 * Not thread-safe on purpose: the NameServer runs everything on one libuv loop thread, so the
 * read-write lock RocketMQ puts around these tables is not needed. Pure C without sockets:
 * connections are opaque pointers and the clock is passed in, so unit tests drive it fully. */
#ifndef RMQ_NS_ROUTE_H
#define RMQ_NS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "rmq/rmq_err.h"

/* PermName bits */
#define RMQ_NS_PERM_PRIORITY 8
#define RMQ_NS_PERM_READ 4
#define RMQ_NS_PERM_WRITE 2
#define RMQ_NS_PERM_INHERIT 1

/* Version ordinal from which routes are answered in standard JSON (V4_9_4). */
#define RMQ_NS_VERSION_STD_JSON 401

/* DataVersion: equality is all fields equal. stateVersion exists only in 5.x. */
typedef struct {
    int64_t timestamp;
    int64_t counter;
    int64_t state_version;
    bool has_state_version;
} rmq_ns_dv_t;

typedef struct {
    char *name; /* owned */
    int read_queue_nums, write_queue_nums, perm, topic_sys_flag;
} rmq_ns_topic_cfg_t;

/* A decoded RegisterBrokerBody. */
typedef struct {
    rmq_ns_dv_t dv;
    rmq_ns_topic_cfg_t *topics; /* owned array */
    size_t ntopics;
    char **filter_servers; /* owned */
    size_t nfilter;
} rmq_ns_reg_body_t;

/* Decode a REGISTER_BROKER body: RegisterBrokerBody JSON, a bare TopicConfigSerializeWrapper
 * (brokers older than V3_0_11), or when compressed the zlib form of protocol.md 5.3.
 * Lenient like fastjson: unknown keys ignored, missing ones defaulted, numbers as strings.
 * On error *out is empty and err says what is wrong. Call rmq_ns_reg_body_fini either way. */
rmq_err_t rmq_ns_reg_body_decode(const void *p, size_t n, bool compressed, rmq_ns_reg_body_t *out,
                                 char *err, size_t errlen);
void rmq_ns_reg_body_fini(rmq_ns_reg_body_t *b);

/* DataVersion JSON ({"counter":7,"timestamp":...}) both ways. */
rmq_err_t rmq_ns_dv_decode(const void *p, size_t n, rmq_ns_dv_t *out, char *err, size_t errlen);
void rmq_ns_dv_encode(const rmq_ns_dv_t *dv, rmq_buf_t *out);
bool rmq_ns_dv_equal(const rmq_ns_dv_t *a, const rmq_ns_dv_t *b);

typedef struct rmq_ns_route_s rmq_ns_route_t;

rmq_ns_route_t *rmq_ns_route_new(void);
void rmq_ns_route_destroy(rmq_ns_route_t *r); /* NULL is a no-op */

/* Who sends a request that changes a registration. */
typedef struct {
    const void *conn; /* the connection it came over; opaque, borrowed */
    const char *peer; /* its remote "ip:port", borrowed; NULL when unknown */
    bool admin;       /* ACL: signed by an admin (set by the ACL check; false without ACL) */
} rmq_ns_who_t;

/* The one rule deciding whether who may replace or remove a live registration made over
 * owner_conn from owner_host (the registering connection's remote address without port):
 * the same connection, or the same remote host (a broker restarting on its machine comes
 * back over a new connection), or an admin-signed request. A hook point: ACL widens it only
 * through who->admin. */
bool rmq_ns_may_change(const rmq_ns_who_t *who, const void *owner_conn, const char *owner_host);

typedef struct {
    const char *cluster, *broker_name, *broker_addr, *ha_addr; /* borrowed */
    int64_t broker_id;                                         /* 0 = master */
    const rmq_ns_reg_body_t *body; /* borrowed; NULL = empty table, fresh DataVersion */
    void *conn;                    /* the connection it came over; opaque, borrowed */
    int64_t timeout_ms;            /* 5.x heartbeatTimeoutMillis; <= 0: the scan's expire_ms */
    const char *peer;              /* conn's remote "ip:port", borrowed; NULL when unknown */
    bool admin;                    /* ACL: an admin-signed request (see rmq_ns_may_change) */
} rmq_ns_reg_t;

typedef struct {
    char master_addr[256]; /* empty unless a slave registered and its master is live */
    char ha_addr[256];     /* the master's HA address, with master_addr */
    bool first;            /* the address was not live before (logged "new broker registered") */
    char why[384];         /* why a registration was refused (RMQ_ERR_NO_PERMISSION) */
} rmq_ns_reg_result_t;

/* RocketMQ's registerBroker: cluster set, broker addresses (a slave promoted to master keeps
 * one entry per address), queue data from the master only when first registered or its data
 * version changed (merged per topic, never deleting), live entry, filter servers.
 * Unlike RocketMQ, a live registration is never taken over by someone rmq_ns_may_change
 * refuses: neither (cluster, name, id) pointing at another live address nor a live address
 * claimed from another host. Then nothing changes, RMQ_ERR_NO_PERMISSION is returned, res->why
 * says why, and a WARN is logged. */
rmq_err_t rmq_ns_route_register(rmq_ns_route_t *r, const rmq_ns_reg_t *reg, uint64_t now_ms,
                                rmq_ns_reg_result_t *res);
/* UNREGISTER_BROKER: drop addr's live entry and the id from brokerName; when the broker name
 * has no address left, its cluster membership and queue data go too. who NULL: trusted
 * (internal); else a live addr is only removed when rmq_ns_may_change(who, its owner) holds,
 * otherwise nothing changes, RMQ_ERR_NO_PERMISSION is returned and why (may be NULL) says why.
 * Logged either way. */
rmq_err_t rmq_ns_route_unregister(rmq_ns_route_t *r, const char *cluster, const char *addr,
                                  const char *broker_name, int64_t broker_id,
                                  const rmq_ns_who_t *who, char *why, size_t whylen);
/* A connection closed: remove every broker address that last registered over conn (or, when
 * none did, the address equal to peer, as RocketMQ falls back to the remote address).
 * Returns the number of addresses removed. */
size_t rmq_ns_route_conn_closed(rmq_ns_route_t *r, const void *conn, const char *peer);
/* Remove brokers silent for more than expire_ms (or their own heartbeatTimeoutMillis);
 * close_conn(conn, arg) is called for each expired broker's connection first (may be NULL).
 * Returns the number removed. */
size_t rmq_ns_route_scan(rmq_ns_route_t *r, uint64_t now_ms, uint64_t expire_ms,
                         void (*close_conn)(void *conn, void *arg), void *arg);

/* QUERY_DATA_VERSION support: true when addr is not live or its stored version differs. */
bool rmq_ns_route_dv_changed(const rmq_ns_route_t *r, const char *addr, const rmq_ns_dv_t *dv);
/* Refresh addr's liveness; false when addr is not live. */
bool rmq_ns_route_touch(rmq_ns_route_t *r, const char *addr, uint64_t now_ms);
/* Stored DataVersion of addr; false when not live. */
bool rmq_ns_route_dv_get(const rmq_ns_route_t *r, const char *addr, rmq_ns_dv_t *out);

/* TopicRouteData body (protocol.md 5.1). standard: quoted numeric keys and ASCII-only strings
 * (request version >= 401 or acceptStandardJsonOnly); else fastjson's unquoted keys.
 * order_conf (borrowed, may be NULL) becomes "orderTopicConf". RMQ_ERR_TOPIC_NOT_EXIST when
 * the topic has no queue data or none of its brokers is known. */
rmq_err_t rmq_ns_route_topic_json(const rmq_ns_route_t *r, const char *topic, bool standard,
                                  const char *order_conf, rmq_buf_t *out);
/* ClusterInfo body (always fastjson-style). */
void rmq_ns_route_cluster_json(const rmq_ns_route_t *r, rmq_buf_t *out);
/* TopicList of every topic (cluster NULL) or of the topics hosted by cluster's brokers. */
void rmq_ns_route_topics_json(const rmq_ns_route_t *r, const char *cluster, rmq_buf_t *out);
/* TopicList of cluster and broker names, with "brokerAddr" set to one broker address
 * (GET_SYSTEM_TOPIC_LIST_FROM_NS). */
void rmq_ns_route_system_topics_json(const rmq_ns_route_t *r, rmq_buf_t *out);
/* REGISTER_TOPIC_IN_NAMESRV (5.x): set the topic's queue data of each listed broker (the
 * cfg's name is the broker name). Nothing changes and RMQ_ERR__NOT_FOUND is returned when a
 * listed broker is unknown, as in RocketMQ 5. */
rmq_err_t rmq_ns_route_register_topic(rmq_ns_route_t *r, const char *topic,
                                      const rmq_ns_topic_cfg_t *qds, size_t n);
/* Decode the queueDatas of a TopicRouteData body into qds (names = broker names; free with
 * rmq_ns_reg_body_fini on a body whose topics are qds). */
rmq_err_t rmq_ns_queue_datas_decode(const void *p, size_t n, rmq_ns_reg_body_t *out, char *err,
                                    size_t errlen);

/* TopicSysFlag bits */
#define RMQ_NS_FLAG_UNIT 1
#define RMQ_NS_FLAG_UNIT_SUB 2
typedef enum {
    RMQ_NS_UNIT_TOPICS,             /* GET_UNIT_TOPIC_LIST: FLAG_UNIT set */
    RMQ_NS_HAS_UNIT_SUB_TOPICS,     /* GET_HAS_UNIT_SUB_TOPIC_LIST: FLAG_UNIT_SUB set */
    RMQ_NS_UNIT_SUB_NOT_UNIT_TOPICS /* GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: SUB set, UNIT not */
} rmq_ns_unit_query_t;
/* TopicList of topics selected by the sysFlag of their first queue data, as RocketMQ does. */
void rmq_ns_route_unit_topics_json(const rmq_ns_route_t *r, rmq_ns_unit_query_t q, rmq_buf_t *out);
/* Delete a topic (cluster NULL or empty: entirely; else only the queue data of that cluster's
 * brokers). Returns true when something was removed. */
bool rmq_ns_route_delete_topic(rmq_ns_route_t *r, const char *topic, const char *cluster);
/* WIPE_WRITE_PERM_OF_BROKER (on=false) / ADD_WRITE_PERM_OF_BROKER (on=true): returns the
 * number of topics changed. */
int rmq_ns_route_set_write_perm(rmq_ns_route_t *r, const char *broker_name, bool on);

/* Introspection for tests and logs. */
size_t rmq_ns_route_topic_count(const rmq_ns_route_t *r);
size_t rmq_ns_route_live_count(const rmq_ns_route_t *r);
bool rmq_ns_route_has_topic(const rmq_ns_route_t *r, const char *topic);
/* Queue data of topic on broker_name; false when absent. */
bool rmq_ns_route_queue_data(const rmq_ns_route_t *r, const char *topic, const char *broker_name,
                             rmq_ns_topic_cfg_t *out /* name left NULL */);

#endif
