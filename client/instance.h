/* The client instance (RocketMQ's MQClientInstance): what every producer, consumer and admin
 * handle of one process and one NameServer set shares. Private to librmq and its tools
 * (client/admin.c, tools/) — not installed.
 *
 * What it owns:
 *  - the remoting client and its libuv loop thread (all socket I/O; our code never runs user
 *    callbacks there — responses are handed to the threads below);
 *  - the route cache: topic -> TopicRouteData + derived publish / subscribe queue lists,
 *    filled on first use (a miss asks the NameServer synchronously) and refreshed every
 *    pollNameServerInterval; also a broker-name -> addresses-by-broker-id table from the newest
 *    route naming each broker (masters for sends, any id for reads: rmq_instance_find_broker);
 *  - NameServer fail-over over the ';'-separated namesrvAddr list (the current one is kept
 *    until it fails with a transport error, then the next is tried);
 *  - a small scheduler (two "service" threads with a timer heap) for periodic work: route
 *    refresh, heartbeats to every broker (every heartbeatBrokerInterval and on demand),
 *    consumer rebalance (rebalanceInterval, 20 s, and on NOTIFY_CONSUMER_IDS_CHANGED), offset
 *    persistence (persistConsumerOffsetInterval, 5 s), delayed pulls;
 *  - a callback thread that runs async-send callbacks (in batches) and transaction check-backs;
 *  - the dispatch of broker -> client requests (NOTIFY_CONSUMER_IDS_CHANGED,
 *    CHECK_TRANSACTION_STATE, RESET_CONSUMER_CLIENT_OFFSET) to the registered members.
 *
 * Why timers run on service threads and not on the loop: the remoting client owns its loop and
 * exposes no "run on loop" door, and rebalance / offset queries are naturally written as
 * blocking calls; the loop thread stays free for I/O.
 *
 * Sharing: rmq_instance_get() returns the instance registered for (namesrvAddr, instanceName,
 * log sink) (a process-wide registry behind a mutex — the one process-level table of the SDK;
 * members with different log callbacks get different instances so each sink sees only its
 * own members' lines), unless
 * the member's group is already registered on it, in which case a fresh instance with its own
 * client id is made (so two consumers of one group in one process are two group members, as
 * two Java clients would be). Reference-counted; the last release stops everything.
 *
 * Thread-safety: every function is safe from any thread except where noted. */
#ifndef RMQ_CLIENT_INSTANCE_H
#define RMQ_CLIENT_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/internal.h"
#include "remoting/client.h"

typedef struct rmq_instance_s rmq_instance_t;

/* ---- members: producers and consumers registered on an instance ------------------- */

typedef struct rmq_member_s rmq_member_t;
struct rmq_member_s {
    char group[256];
    bool consumer; /* false: producer group */
    bool admin;    /* an rmq_admin_t: no group on the wire (no heartbeat data, no
                      UNREGISTER_CLIENT), never clashes with another member */
    void *owner;   /* the rmq_producer_t / consumer core */
    /* Consumers: append this member's ConsumerData (protocol.md 5.2) to arr. Service thread. */
    void (*heartbeat_data)(void *owner, json_t *arr);
    /* Consumers: rebalance now (service thread). */
    void (*rebalance)(void *owner);
    /* Consumers: persist offsets (service thread). */
    void (*persist)(void *owner);
    /* Consumers: RESET_CONSUMER_CLIENT_OFFSET for topic (service thread); arrays borrowed. */
    void (*reset_offset)(void *owner, const char *topic, const rmq_mq_t *mqs, const int64_t *offs,
                         int n);
    /* Consumers: GET_CONSUMER_RUNNING_INFO (ConsumerRunningInfo JSON into out; jstack asks for
     * the threads' state too). Service thread. NULL: not answered. */
    rmq_err_t (*running_info)(void *owner, bool jstack, rmq_buf_t *out);
    /* Consumers: CONSUME_MESSAGE_DIRECTLY: run the listener on msg (borrowed) as if pulled from
     * broker; ConsumeMessageDirectlyResult JSON into out. Service thread. */
    rmq_err_t (*consume_direct)(void *owner, rmq_msg_t *msg, const char *broker, rmq_buf_t *out);
    /* Producers: CHECK_TRANSACTION_STATE; runs on the callback thread. NULL: no check-back. */
    rmq_txn_state_t (*txn_check)(void *owner, const rmq_msg_t *half);
    rmq_member_t *next; /* instance's list */
};

/* ---- lifetime ------------------------------------------------------------------- */

/* The shared instance for conf c (borrowed; the instance copies what it needs), registering
 * member m (borrowed; must stay valid until rmq_instance_release). Starts the threads and the
 * periodic tasks on first use. NULL with err filled on failure. */
rmq_instance_t *rmq_instance_get(const rmq_conf_t *c, rmq_member_t *m, char *err, size_t n);
/* Unregister m (waits for a running periodic task of m to finish; cancels m's scheduled
 * tasks — see rmq_instance_schedule's owner), then drop the reference; the last one sends
 * UNREGISTER_CLIENT to the brokers, stops the threads and frees. */
void rmq_instance_release(rmq_instance_t *in, rmq_member_t *m);

/* Client id, ip@instanceName (protocol.md 7.6). Valid while the instance lives. */
const char *rmq_instance_client_id(const rmq_instance_t *in);
/* The remoting client (for direct use by tools). */
rmq_rem_client_t *rmq_instance_rem(rmq_instance_t *in);
/* Configuration the instance was created with (a private copy: namesrvAddr,
 * mqClientApiTimeout, intervals). Use rmq_conf_str / rmq_conf_i64 on it. */
const rmq_conf_t *rmq_instance_conf(const rmq_instance_t *in);
/* The instance's logger (its creating conf's log callback); its members log through it. */
const rmq_logger_t *rmq_instance_log(const rmq_instance_t *in);
/* The requests of this instance waiting for their reply (request.h). */
struct rmq_reqtab_s *rmq_instance_reqtab(rmq_instance_t *in);
/* Process-wide unique id generator (UNIQ_KEY) shared by the instance's producers. */
rmq_uniq_t *rmq_instance_uniq(rmq_instance_t *in);

/* ---- routes ---------------------------------------------------------------------- */

/* An immutable snapshot of a topic's route, reference-counted. */
typedef struct {
    _Atomic int refs;
    char topic[128];
    rmq_route_t *route;
    rmq_mq_t *pub; /* writable queues (publish set) */
    int npub;
    rmq_mq_t *sub; /* readable queues, sorted */
    int nsub;
    bool from_default; /* publish set borrowed from TBW102 (topic not created yet) */
} rmq_topic_info_t;

/* Route of topic from the cache, asking the NameServer on a miss or when refresh is true.
 * allow_default: on TOPIC_NOT_EXIST use TBW102's route for the publish set (producers), with
 * defaultTopicQueueNums queues per broker. *out new reference (rmq_topic_info_release). */
rmq_err_t rmq_instance_route(rmq_instance_t *in, const char *topic, bool refresh,
                             bool allow_default, rmq_topic_info_t **out);
void rmq_topic_info_release(rmq_topic_info_t *ti);
/* Master address of broker name (from any cached route) into addr. RMQ_ERR__NOT_FOUND if no
 * route mentioned it. */
rmq_err_t rmq_instance_broker_addr(rmq_instance_t *in, const char *broker, char *addr, size_t n);
/* The address of broker id of broker name (from the cached routes), as RocketMQ's
 * findBrokerAddressInSubscribe (rmq_bdata_addr): with only_this false a slave stands in for a
 * master that is gone, and the master for a slave id not listed. *got_id (may be NULL) is the id
 * chosen. RMQ_ERR__NOT_FOUND when no cached route has a fitting address. */
/* addr failed at the transport level (timeout, no connection): for RMQ_ADDR_DOWN_MS, lookups
 * that may use any address of a set (only_this false: pulls, offsets) take another one, so
 * consumers read from a slave while its master is cut off, before the NameServer drops it.
 * Sends (masters only) are not affected. Any thread. */
#define RMQ_ADDR_DOWN_MS 30000
void rmq_instance_addr_failed(rmq_instance_t *in, const char *addr);
rmq_err_t rmq_instance_find_broker(rmq_instance_t *in, const char *broker, int64_t id,
                                   bool only_this, char *addr, size_t n, int64_t *got_id);
/* Every broker address known (masters, and slaves when any consumer is registered); *addrs
 * new array of new strings (free each, then the array). */
rmq_err_t rmq_instance_broker_addrs(rmq_instance_t *in, char ***addrs, int *n);

/* ---- requests ------------------------------------------------------------------- */

/* Blocking request to addr; takes req; *resp new on RMQ_OK (transport result; check
 * (*resp)->code). timeout_ms <= 0 uses mqClientApiTimeout. */
rmq_err_t rmq_instance_invoke_sync(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                   int timeout_ms, rmq_rem_cmd_t **resp);
/* Blocking request whose answer carries a JSON body; takes req. RMQ_OK for a SUCCESS answer,
 * with *root its parsed body (new reference) or NULL when it had none or it was unreadable;
 * otherwise the transport error or the answer's code. timeout_ms as rmq_instance_invoke_sync. */
rmq_err_t rmq_instance_invoke_json(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                   int timeout_ms, json_t **root);
/* Async request; takes req; cb runs once ON THE LOOP THREAD (hand user work elsewhere). */
rmq_err_t rmq_instance_invoke_async(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                    int timeout_ms, rmq_rem_resp_cb cb, void *arg);
/* Oneway; takes req. */
rmq_err_t rmq_instance_invoke_oneway(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req);
/* Blocking request to the NameServers with fail-over: tries the current NameServer, then each
 * other one in turn on a transport error. Takes req. */
rmq_err_t rmq_instance_invoke_namesrv(rmq_instance_t *in, rmq_rem_cmd_t *req, int timeout_ms,
                                      rmq_rem_cmd_t **resp);
/* Same, naming on failure the last NameServer tried in addr (the admin's error text). */
rmq_err_t rmq_instance_invoke_namesrv_ex(rmq_instance_t *in, rmq_rem_cmd_t *req, int timeout_ms,
                                         rmq_rem_cmd_t **resp, char *addr, size_t addr_n);

/* ---- scheduling --------------------------------------------------------------------- */

/* Run fn(arg) on a service thread after delay_ms. owner tags the task for
 * rmq_instance_cancel (NULL: untagged). RMQ_ERR__CLOSED when the instance is stopping. */
rmq_err_t rmq_instance_schedule(rmq_instance_t *in, int64_t delay_ms, void (*fn)(void *arg),
                                void *arg, void *owner);
/* Same, with drop(arg) called instead of fn when the task is cancelled or the instance stops
 * before it ran (release what arg holds). */
rmq_err_t rmq_instance_schedule_ex(rmq_instance_t *in, int64_t delay_ms, void (*fn)(void *arg),
                                   void (*drop)(void *arg), void *arg, void *owner);
/* Drop owner's queued tasks (running their drop callbacks) and wait for its running ones. Not from
 * a service thread task of the same owner. */
void rmq_instance_cancel(rmq_instance_t *in, void *owner);
/* Run fn(arg) on the callback thread (user code: async-send callbacks, check-backs). */
rmq_err_t rmq_instance_post_cb(rmq_instance_t *in, void (*fn)(void *arg), void *arg);
/* Same without an allocation: node is embedded in the caller's object (fn may free it). */
typedef struct rmq_cb_node_s {
    struct rmq_cb_node_s *next;
    void (*fn)(void *arg);
    void *arg;
    bool heap; /* internal: allocated by rmq_instance_post_cb */
} rmq_cb_node_t;
void rmq_instance_post_node(rmq_instance_t *in, rmq_cb_node_t *node);
/* As rmq_instance_post_node, from a response callback on the remoting loop thread (a response
 * read from a connection): the callback thread is woken once at the end of the loop iteration,
 * for every node posted in it, instead of once per node. */
void rmq_instance_post_node_loop(rmq_instance_t *in, rmq_cb_node_t *node);
/* Run node->fn(node->arg) on the loop thread at the end of the current loop iteration, after
 * its reads and response callbacks (a push consumer hands the iteration's pull results to its
 * pool with one lock and one wake-up). Loop thread only; node not queued already. */
void rmq_instance_at_iteration_end(rmq_instance_t *in, rmq_cb_node_t *node);
/* Heartbeat every broker soon (after a subscription change or a new route). */
void rmq_instance_heartbeat_soon(rmq_instance_t *in);
/* Send the heartbeat now and wait for the answers (consumer start). */
void rmq_instance_heartbeat_sync(rmq_instance_t *in);

#endif
