/* Topic configurations (RocketMQ's TopicConfigManager): the table, its data version, topics.json,
 * the built-in system topics, auto-creation on send (broker.md 1.3), and the topic admin
 * handlers. Loop thread only. */
#ifndef RMQ_BROKER_TOPIC_H
#define RMQ_BROKER_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

typedef struct {
    char name[256];
    int read_queue_nums;
    int write_queue_nums;
    int perm;
    int topic_filter_type; /* 0 SINGLE_TAG, 1 MULTI_TAG */
    int topic_sys_flag;
    bool order;
} rmq_topic_cfg_t;

/* Load topics.json and create the system topics. changed(arg) runs after every change that
 * the NameServers must learn (broker.c re-registers); env is borrowed for the table's life. */
rmq_err_t rmq_broker_topics_open(const rmq_broker_env_t *env, void (*changed)(void *arg), void *arg,
                                 rmq_broker_topics_t **out);
void rmq_broker_topics_close(rmq_broker_topics_t *t); /* persists; NULL is a no-op */
/* Borrowed pointer valid until that topic is deleted; NULL if absent. */
const rmq_topic_cfg_t *rmq_broker_topic_get(rmq_broker_topics_t *t, const char *topic);
/* Topics in the table (metrics). */
size_t rmq_broker_topics_count(const rmq_broker_topics_t *t);
/* Create or update; persists, bumps the data version, runs the changed hook. */
rmq_err_t rmq_broker_topic_put(rmq_broker_topics_t *t, const rmq_topic_cfg_t *tc);
rmq_err_t rmq_broker_topic_delete(rmq_broker_topics_t *t, const char *topic);
/* Send-path auto-creation from the default topic (broker.md 1.3); NULL when not allowed. */
const rmq_topic_cfg_t *rmq_broker_topic_create_on_send(rmq_broker_topics_t *t, const char *topic,
                                                       const char *default_topic, int queue_nums,
                                                       int topic_sys_flag);
/* %RETRY%group / %DLQ%group creation with n queues and perm (broker.md 1.3, 6.1). */
const rmq_topic_cfg_t *rmq_broker_topic_create_sys(rmq_broker_topics_t *t, const char *topic, int n,
                                                   int perm);
/* TopicConfigSerializeWrapper JSON {topicConfigTable:{...}, dataVersion:{...}}; new string. */
char *rmq_broker_topics_wrapper_json(rmq_broker_topics_t *t);
/* REGISTER_BROKER's reply body, the NameServer's ORDER_TOPIC_CONFIG KV table
 * {"table":{topic:"brokerA:4;..."}}: topics listed become order topics, others stop being. */
void rmq_broker_topics_update_order(rmq_broker_topics_t *t, const void *body, size_t len);

/* Slave metadata sync (broker.md 9.4): body is the master's GET_ALL_TOPIC_CONFIG answer
 * (TopicConfigSerializeWrapper); when its dataVersion differs from ours the whole table is
 * replaced by the master's and persisted. RMQ_ERR__CORRUPT when body is not such a wrapper. */
rmq_err_t rmq_broker_topics_sync(rmq_broker_topics_t *t, const void *body, size_t len);
/* Topic name validity (broker.md 1.2 step 3) under cfg's maxTopicLength (127 when cfg is NULL):
 * NULL when valid, else a reason. */
const char *rmq_broker_topic_invalid(const rmq_broker_cfg_t *cfg, const char *topic);
/* Is topic one producers may not send to (broker.md: SCHEDULE_TOPIC_XXXX, the transaction
 * topics, TRANS_CHECK_MAX_TIME_TOPIC, SELF_TEST_TOPIC, OFFSET_MOVED_EVENT)? */
bool rmq_broker_topic_send_forbidden(const char *topic);
/* TopicValidator.isSystemTopic (refused by UPDATE_AND_CREATE_TOPIC). */
bool rmq_broker_topic_is_system(const char *topic);

/* Handlers (dispatch.c): UPDATE_AND_CREATE_TOPIC, GET_ALL_TOPIC_CONFIG, DELETE_TOPIC_IN_BROKER.
 * Each borrows req and returns the response. */
RMQ_BROKER_HANDLER(rmq_broker_topic_on_update);
RMQ_BROKER_HANDLER(rmq_broker_topic_on_get_all);
RMQ_BROKER_HANDLER(rmq_broker_topic_on_delete);

#endif
