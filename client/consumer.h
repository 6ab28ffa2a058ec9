/* Requests shared by the push and pull consumers (private): pull, offsets, send-back, locks. */
#ifndef RMQ_CLIENT_CONSUMER_H
#define RMQ_CLIENT_CONSUMER_H

#include "client/instance.h"

typedef struct {
    const char *group;
    const rmq_mq_t *mq;
    int64_t offset, commit_offset, sub_version;
    int max_msgs, sysflag;
    int64_t suspend_ms;
    const char *subscription;    /* NULL: none */
    const char *expression_type; /* NULL: TAG */
    bool binary_header;          /* serializeType=ROCKETMQ */
} rmq_pull_req_t;

/* PULL_MESSAGE request (protocol.md 3.2.4). NULL on OOM. */
rmq_rem_cmd_t *rmq_pull_request(const rmq_pull_req_t *r);

/* Map a pull response into res (status, offsets); decodes the body into res->msgs on FOUND,
 * setting for each message MIN_OFFSET / MAX_OFFSET (with defer, topic and properties are left
 * for rmq_msg_unpack: rmq_msgs_decode_deferred). *suggest (may be NULL) gets
 * suggestWhichBrokerId (0 when absent). Non-pull codes are returned as errors. On FOUND the body
 * is taken from resp (the messages' bodies point into it; rmq_msg_t.slab). */
rmq_err_t rmq_pull_response(rmq_rem_cmd_t *resp, bool defer, rmq_pull_result_t *res,
                            int64_t *suggest);

/* Master address of mq's broker (route looked up when not cached): sends, locks, send-back. */
rmq_err_t rmq_consumer_broker_addr(rmq_instance_t *in, const rmq_mq_t *mq, char *addr, size_t n);
/* Address for offset reads and commits of mq's broker set, as RocketMQ's
 * findBrokerAddressInAdmin: the master, or a slave while the route lists no master (route
 * looked up when not cached). */
rmq_err_t rmq_consumer_admin_addr(rmq_instance_t *in, const rmq_mq_t *mq, char *addr, size_t n);
/* Where to pull mq from (PullAPIWrapper): the broker id nodes suggests for it (the master
 * without a suggestion), else any address of the set, so a slave serves while the master is
 * gone and the master again once the route lists it. refresh: ask the NameServer when the
 * cache has no address (not from the loop thread). *slave: the address is not the master's (a
 * pull there must not ask the broker to commit the offset). */
rmq_err_t rmq_consumer_pull_addr(rmq_instance_t *in, rmq_pull_nodes_t *nodes, const rmq_mq_t *mq,
                                 bool refresh, char *addr, size_t n, bool *slave);
/* QUERY_CONSUMER_OFFSET: RMQ_ERR_QUERY_NOT_FOUND when the group has none. */
rmq_err_t rmq_query_offset(rmq_instance_t *in, const char *group, const rmq_mq_t *mq, int64_t *off);
/* UPDATE_CONSUMER_OFFSET, oneway or sync. */
rmq_err_t rmq_update_offset(rmq_instance_t *in, const char *group, const rmq_mq_t *mq, int64_t off,
                            bool oneway);
/* GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP / GET_MIN_OFFSET. */
rmq_err_t rmq_max_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t *off);
rmq_err_t rmq_min_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t *off);
rmq_err_t rmq_search_offset(rmq_instance_t *in, const rmq_mq_t *mq, int64_t ts, int64_t *off);
/* GET_CONSUMER_LIST_BY_GROUP to addr; *ids new (free each, then the array). */
rmq_err_t rmq_consumer_ids(rmq_instance_t *in, const char *addr, const char *group, char ***ids,
                           int *n);

#endif
