/* Clients (broker.md 4, 5.2): producer and consumer groups built from heartbeats, their
 * channels (connections), the consumer groups' subscriptions, queue locks for orderly consumers,
 * and NOTIFY_CONSUMER_IDS_CHANGED. Loop thread only. */
#ifndef RMQ_BROKER_CLIENTS_H
#define RMQ_BROKER_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "broker/filter_sql.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "common/buf.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

typedef struct {
    char topic[256];
    char sub_string[4096];
    int64_t *codes; /* tag hash codes; NULL/0 = all ("*") */
    size_t ncodes;
    int64_t sub_version;
    char expression_type[16]; /* TAG | SQL92 */
    rmq_broker_sql_t *sql;    /* SQL92 once compiled (rmq_broker_sub_compile), owned */
    char *sql_err;            /* SQL92 that did not compile: "position N: reason", owned */
} rmq_subscription_t;

/* ---- heartbeat body --------------------------------------------------------------- */
typedef struct {
    rmq_subscription_t s;
    char **tags; /* tagsSet, owned */
    size_t ntags;
    bool class_filter_mode;
} rmq_broker_sub_t;

typedef struct {
    char group[256];
    int consume_type;       /* 0 ACTIVELY (pull), 1 PASSIVELY (push) */
    int message_model;      /* 0 BROADCASTING, 1 CLUSTERING */
    int consume_from_where; /* -1 when unknown */
    bool unit_mode;
    rmq_broker_sub_t *subs;
    size_t nsubs;
} rmq_broker_consumer_data_t;

typedef struct {
    char client_id[256];
    bool without_sub; /* 5.x heartbeat V2: subscriptions omitted, keep the stored ones */
    char (*producers)[256];
    size_t nproducers;
    rmq_broker_consumer_data_t *consumers;
    size_t nconsumers;
} rmq_broker_heartbeat_t;

/* Parse HeartbeatData (names or ordinals, string subVersion, missing sets). Tags and codes
 * are derived from subString for TAG expressions (FilterAPI rules). On error a reason. */
rmq_err_t rmq_broker_heartbeat_parse(const void *body, size_t len, rmq_broker_heartbeat_t *hb,
                                     char *err, size_t errlen);
void rmq_broker_heartbeat_free(rmq_broker_heartbeat_t *hb);
/* Build a subscription from topic + expression (FilterAPI.build). */
rmq_err_t rmq_broker_sub_build(rmq_broker_sub_t *s, const char *topic, const char *sub_string,
                               const char *expr_type, int64_t sub_version);
void rmq_broker_sub_free(rmq_broker_sub_t *s);
/* Non-TAG subscriptions: compile sub_string into s->s.sql, or keep the reason in s->s.sql_err
 * (an unknown expression type is such a reason). Once per subscription; RMQ_OK unless out of
 * memory. */
rmq_err_t rmq_broker_sub_compile(rmq_broker_sub_t *s);
/* SubscriptionData JSON as fastjson writes it. */
void rmq_broker_sub_to_json(rmq_buf_t *b, const rmq_broker_sub_t *s);
/* ---- the manager ------------------------------------------------------------------ */
/* Open with the tables a heartbeat touches: a consumer group is looked up (or auto-created) in
 * subgroups, and its %RETRY% topic created in topics. All borrowed for the manager's life. */
rmq_err_t rmq_broker_clients_open(const rmq_broker_env_t *env, rmq_broker_topics_t *topics,
                                  rmq_broker_subgroups_t *subgroups, rmq_broker_clients_t **out);
void rmq_broker_clients_close(rmq_broker_clients_t *cl); /* NULL is a no-op */
/* The group's subscription for topic from heartbeats; NULL if none. Borrowed (loop). */
const rmq_subscription_t *rmq_broker_clients_subscription(rmq_broker_clients_t *cl,
                                                          const char *group, const char *topic);
/* A live producer connection of group (transaction check-back), NULL if none. */
rmq_rem_conn_t *rmq_broker_clients_pick_producer(rmq_broker_clients_t *cl, const char *group);
/* Connection-close hook: broker.c's server on_close callback must call this for every closed
 * connection, so its producer/consumer channels leave their groups at once (consumers of the
 * group are notified). Loop thread. */
void rmq_broker_clients_on_conn_close(rmq_broker_clients_t *cl, rmq_rem_conn_t *c);
/* The live connection of the client with client_id: among group's consumers when group is
 * set, else any channel that heartbeated with that id (a request-reply requester). *version
 * (may be NULL) gets its remoting version. NULL if none. Borrowed (loop). */
rmq_rem_conn_t *rmq_broker_clients_find_client(rmq_broker_clients_t *cl, const char *group,
                                               const char *client_id, int *version);
/* Consumers of a group: channels, languages, versions (new arrays, free() each). Returns the
 * count. */
size_t rmq_broker_clients_group_conns(rmq_broker_clients_t *cl, const char *group,
                                      rmq_rem_conn_t ***conns, int **langs, int **versions);
/* Visit every producer and consumer group with its member count (metrics). Loop thread. */
void rmq_broker_clients_each_group(rmq_broker_clients_t *cl,
                                   void (*fn)(const char *group, bool consumer, size_t members,
                                              void *arg),
                                   void *arg);
/* Groups with a consumer online that subscribe to topic (QUERY_TOPIC_CONSUME_BY_WHO). */
void rmq_broker_clients_groups_of_topic(rmq_broker_clients_t *cl, const char *topic,
                                        void (*fn)(const char *group, void *arg), void *arg);

/* Handlers (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_heartbeat);      /* HEART_BEAT */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_unregister);     /* UNREGISTER_CLIENT */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_consumer_list);  /* GET_CONSUMER_LIST_BY_GROUP */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_consumer_conns); /* GET_CONSUMER_CONNECTION_LIST */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_producer_conns); /* GET_PRODUCER_CONNECTION_LIST */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_lock);           /* LOCK_BATCH_MQ */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_unlock);         /* UNLOCK_BATCH_MQ */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_check_config);   /* CHECK_CLIENT_CONFIG */

#endif
