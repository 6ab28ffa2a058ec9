/* librmq private types and pure helpers (no I/O): configuration and message structs, the
 * route / subscription / allocation / id / batch / decode codecs. Everything here is unit-tested
 * in test/unit/test_client.c without a network. Not installed. */
#ifndef RMQ_CLIENT_INTERNAL_H
#define RMQ_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/msg.h"
#include "remoting/cmd.h"
#include "remoting/frame.h"
#include "rmq/rmq.h"

#define RMQ_DEFAULT_TOPIC "TBW102"
#define RMQ_CLIENT_INNER_PRODUCER "CLIENT_INNER_PRODUCER"
#define RMQ_RETRY_PREFIX "%RETRY%"
#define RMQ_DLQ_PREFIX "%DLQ%"
#define RMQ_PERM_INHERIT 1
#define RMQ_PERM_WRITE 2
#define RMQ_PERM_READ 4

/* PULL_MESSAGE sysFlag bits (protocol.md 7.5) */
#define RMQ_PULL_F_COMMIT_OFFSET 0x1
#define RMQ_PULL_F_SUSPEND 0x2
#define RMQ_PULL_F_SUBSCRIPTION 0x4
#define RMQ_PULL_F_CLASS_FILTER 0x8

/* ---- configuration ------------------------------------------------------------------ */

typedef struct {
    char *key, *val;
} rmq_kv_t;

struct rmq_conf_s {
    rmq_kv_t *kv; /* owned, set keys only (defaults come from the key table) */
    size_t n, cap;
    void (*log_cb)(int lvl, const char *ln, void *op);
    void *log_op;
    rmq_txn_cb txn_check;
    void *txn_check_op;
};

/* Effective value: the set one or the key's default (NULL for keys without one). */
const char *rmq_conf_str(const rmq_conf_t *c, const char *k);
int64_t rmq_conf_i64(const rmq_conf_t *c, const char *k);
bool rmq_conf_bool(const rmq_conf_t *c, const char *k);
/* Group: the first of groupName / producerGroup / consumerGroup that is set (or dflt). */
const char *rmq_conf_group(const rmq_conf_t *c, const char *dflt);
/* The logger of c's log callback and logLevel (a zero logger without a callback). */
rmq_logger_t rmq_conf_logger(const rmq_conf_t *c);
/* The checks of every producer / consumer constructor: a conf, a group (role names the key in
 * the message: "producerGroup" or "consumerGroup"), and with need_ns a NameServer (namesrvAddr
 * or NAMESRV_ADDR). The group (borrowed from c), or NULL with err filled; err is cleared first
 * and may be NULL (n 0), as in the constructors. */
const char *rmq_conf_member_group(const rmq_conf_t *c, const char *role, bool need_ns, char *err,
                                  size_t n);
/* Parse consumeTimestamp: yyyyMMddHHmmss (local time) or ms since the epoch; -1 if bad. */
int64_t rmq_conf_parse_ts(const char *s);

/* ---- messages ----------------------------------------------------------------------- */

typedef struct rmq_msg_slab_s rmq_msg_slab_t;
void rmq_msg_slab_unref(rmq_msg_slab_t *sl);

struct rmq_msg_s {
    char *topic;
    uint8_t *body; /* owned when own_body */
    size_t body_len;
    bool own_body;
    int32_t flag;
    rmq_kv_t *props; /* owned; TAGS and KEYS live here too */
    size_t nprops, cap_props;
    /* received fields (decoded) */
    bool received;
    int32_t queue_id, sysflag, reconsume_times;
    int64_t queue_offset, commitlog_offset, born_ts, store_ts, prepared_txn_offset;
    /* The offset message id (store host + commit log offset) is built on first use: most
     * consumers never ask for it, and the pull path decodes on the loop thread. id_state: 0 no
     * id (a message built here), 1 store_host known, 2 being built, 3 offset_id built. */
    rmq_msg_host_t store_host;
    _Atomic int id_state;
    char offset_id[57];
    /* Decoded with its topic and properties left in the records (rmq_msgs_decode_deferred):
     * topic NULL and no properties until rmq_msg_unpack copies them into the block. */
    bool deferred;
    int32_t raw_topic_len, raw_props_len;
    const char *raw_topic, *raw_props;
    /* A decoded (pulled, queried) message lives in the slab of its batch: one block holding
     * every message struct, property array and string of the batch, and the batch's records,
     * which the bodies point into (no per-message body copy; a compressed body is inflated into
     * its own malloc, own_body). rmq_msg_destroy releases the message's reference; the last one
     * frees the slab and the records. Pointers inside the slab are never freed on their own
     * (rmq_msg_free_part). NULL for a message built with rmq_msg_new. */
    rmq_msg_slab_t *slab;
};

rmq_msg_t *rmq_msg_alloc(void);
/* Free p, a part of m (topic, body, property array or string), unless it lives in m's block. */
void rmq_msg_free_part(const rmq_msg_t *m, void *p);
/* Set (replace) a property; NULL v removes. */
rmq_err_t rmq_msg_prop_set(rmq_msg_t *m, const char *k, const char *v);
void rmq_msg_prop_del(rmq_msg_t *m, const char *k);
/* Append the properties string (no trailing separator, 4.9.1+ form) to b. */
rmq_err_t rmq_msg_props_encode(const rmq_msg_t *m, rmq_buf_t *b);
/* Decode a concatenation of stored records (PULL / QUERY / CHECK bodies). Compressed bodies
 * are inflated. *out new (rmq_msgs_destroy + free of the array is done by rmq_msgs_destroy). */
rmq_err_t rmq_msgs_decode(const uint8_t *p, size_t len, rmq_msg_t ***out, size_t *n);
/* Same, also setting the nextra properties on every message (as rmq_msg_prop_set would, but
 * inside each message's block: the pull path's MIN_OFFSET / MAX_OFFSET). */
rmq_err_t rmq_msgs_decode_ex(const uint8_t *p, size_t len, const rmq_kv_t *extra, size_t nextra,
                             rmq_msg_t ***out, size_t *n);
/* Same, decoding src in place: takes src (a malloc()ed copy of the records, e.g. a pull
 * response's body taken from the command), which the messages' bodies then point into; it is
 * free()d with the last message of the batch, or at once on an error or an empty batch. */
rmq_err_t rmq_msgs_decode_owned(uint8_t *src, size_t len, const rmq_kv_t *extra, size_t nextra,
                                rmq_msg_t ***out, size_t *n);
/* rmq_msgs_decode_owned for the push consumer's loop thread: each message's topic and
 * properties stay in the records until rmq_msg_unpack, so that the consume pool, not the loop,
 * spends the time on them. Until then only the scalar fields and the body may be read. */
rmq_err_t rmq_msgs_decode_deferred(uint8_t *src, size_t len, const rmq_kv_t *extra, size_t nextra,
                                   rmq_msg_t ***out, size_t *n);
/* Copy the topic and properties of a message decoded by rmq_msgs_decode_deferred into its
 * block (a no-op for any other message, or the second time). Not thread-safe: called by the
 * message's one holder (the pool thread of its task) before anyone else reads them. */
void rmq_msg_unpack(rmq_msg_t *m);
/* SEND_BATCH_MESSAGE body (protocol.md 6.6): one record per message; each message must already
 * carry its UNIQ_KEY. */
rmq_err_t rmq_batch_encode(rmq_msg_t *const *msgs, size_t n, rmq_buf_t *b);

/* Producer body: zlib-compress when len >= over (over > 0) and the result is smaller; sets
 * RMQ_SYSFLAG_COMPRESSED in *sysflag. *out new (free()) in either case. */
rmq_err_t rmq_body_encode(const void *body, size_t len, int over, int level, uint8_t **out,
                          size_t *out_len, int *sysflag);

/* ---- unique ids (UNIQ_KEY, protocol.md 6.9) -------------------------------------- */

typedef struct {
    char prefix[21];        /* hex of ip(4) pid(2) hash(4): 20 chars */
    int64_t month_start_ms; /* local-time start of the current month */
    int64_t next_month_ms;
    _Atomic uint32_t counter;
    pthread_mutex_t mu; /* guards the month fields on roll-over */
} rmq_uniq_t;

void rmq_uniq_init(rmq_uniq_t *u, uint32_t ip_be, uint16_t pid, int32_t hash);
/* 32 upper-case hex chars + NUL into out. */
void rmq_uniq_next(rmq_uniq_t *u, char out[33]);
/* The first non-loopback IPv4 address (network order), preferring non-192.168 / non-127.0;
 * 0 if none. */
uint32_t rmq_local_ipv4(void);

/* ---- routes (protocol.md 5.1) ------------------------------------------------------ */

typedef struct {
    char broker[64];
    int read_q, write_q, perm, sys_flag;
} rmq_qdata_t;
typedef struct {
    char cluster[64];
    char broker[64];
    int naddr;
    struct {
        int64_t id;
        char addr[64];
    } addr[8];
} rmq_bdata_t;
typedef struct {
    rmq_qdata_t *q;
    int nq;
    rmq_bdata_t *b;
    int nb;
    char *order_conf; /* NULL when absent */
} rmq_route_t;

rmq_err_t rmq_route_parse(const char *json, size_t len, rmq_route_t **out);
void rmq_route_free(rmq_route_t *r);
/* Master (id 0) address of broker in r, or NULL. */
const char *rmq_route_master(const rmq_route_t *r, const char *broker);
/* Any address of broker (master first, else the lowest broker id), or NULL. */
const char *rmq_route_any_addr(const rmq_route_t *r, const char *broker);
/* broker's BrokerData in r, or NULL. */
const rmq_bdata_t *rmq_bdata_find(const rmq_route_t *r, const char *broker);
/* The address of broker id in b, as RocketMQ's findBrokerAddressInSubscribe: id itself; for a
 * slave id not listed, id + 1; then, unless only_this, any address (the master when listed, else
 * the lowest id: a slave stands in for a master that is gone). *got_id (may be NULL) is the id
 * chosen. NULL when nothing fits. */
const char *rmq_bdata_addr(const rmq_bdata_t *b, int64_t id, bool only_this, int64_t *got_id);
/* Publish queues: writable QueueData sorted by broker name with a master, 0..writeQ-1 (or the
 * orderTopicConf list). max_q > 0 caps each broker's count (TBW102 fallback). *out new. */
rmq_err_t rmq_route_pub_queues(const rmq_route_t *r, const char *topic, int max_q, rmq_mq_t **out,
                               int *n);
/* Subscribe queues: readable QueueData, 0..readQ-1, sorted (topic, broker, qid). *out new. */
rmq_err_t rmq_route_sub_queues(const rmq_route_t *r, const char *topic, rmq_mq_t **out, int *n);

/* PullAPIWrapper.pullFromWhichNodeTable: the broker id each queue's last PULL_MESSAGE answer
 * suggested (suggestWhichBrokerId, broker.md 2.7). Thread-safe. */
typedef struct {
    pthread_mutex_t mu;
    struct rmq_pull_node_s {
        rmq_mq_t mq;
        int64_t id;
    } * e;
    int n, cap;
} rmq_pull_nodes_t;

void rmq_pull_nodes_init(rmq_pull_nodes_t *t);
void rmq_pull_nodes_fini(rmq_pull_nodes_t *t);
/* Remember id for mq (0, the master, is remembered too: it replaces an older suggestion). */
void rmq_pull_nodes_set(rmq_pull_nodes_t *t, const rmq_mq_t *mq, int64_t id);
/* The suggestion for mq, 0 (the master) when there is none. */
int64_t rmq_pull_nodes_get(rmq_pull_nodes_t *t, const rmq_mq_t *mq);

/* MessageQueue order: topic, broker name, queue id. */
int rmq_mq_cmp(const void *a, const void *b);
bool rmq_mq_eq(const rmq_mq_t *a, const rmq_mq_t *b);

/* ---- subscriptions (FilterAPI) -------------------------------------------------- */

typedef struct {
    char topic[128];
    char *expr; /* owned, "*" when all */
    bool all;
    char **tags;    /* owned, trimmed */
    int32_t *codes; /* Java String.hashCode of each tag */
    int ntags;
    int64_t version; /* subVersion */
    bool sql;        /* expressionType SQL92: the broker filters, nothing to re-check here */
} rmq_sub_t;

rmq_err_t rmq_sub_parse(const char *topic, const char *expr, rmq_sub_t *out);
/* An SQL92 subscription (FilterAPI.build with SQL92): expr kept as given, must not be empty. */
rmq_err_t rmq_sub_parse_sql(const char *topic, const char *expr, rmq_sub_t *out);
void rmq_sub_fini(rmq_sub_t *s);
/* Client-side re-check of a message's tag against s. */
bool rmq_sub_match(const rmq_sub_t *s, const char *tag);

/* ---- rebalance ---------------------------------------------------------------------- */

/* AllocateMessageQueueAveragely: mqs and cids are sorted in place (queues by rmq_mq_cmp, ids
 * as strings); *out new (may be NULL with *nout 0 when self is not in cids). */
rmq_err_t rmq_allocate_avg(rmq_mq_t *mqs, int n, char **cids, int nc, const char *self,
                           rmq_mq_t **out, int *nout);

/* ---- latency fault tolerance (sendLatencyFaultEnable) -------------------------- */

#define RMQ_FAULT_MAX 64
typedef struct {
    pthread_mutex_t mu;
    int n;
    struct {
        char broker[64];
        int64_t latency_ms; /* of the last send (30000 for a failure's isolation) */
        int64_t until_ms;   /* monotonic ms before which the broker is avoided */
    } e[RMQ_FAULT_MAX];
    uint32_t worst; /* pickOneAtLeast's rotation */
} rmq_fault_t;

void rmq_fault_init(rmq_fault_t *f);
/* Record a send's latency (isolation: it failed). RocketMQ's table: latency >= 550/1000/2000/
 * 3000/15000 ms -> avoid 30/60/120/180/600 s; a failure counts as 30000 ms. */
void rmq_fault_update(rmq_fault_t *f, const char *broker, int64_t latency_ms, bool isolation,
                      int64_t now_ms);
bool rmq_fault_ok(rmq_fault_t *f, const char *broker, int64_t now_ms);
/* RocketMQ's pickOneAtLeast over the brokers of mqs that f remembers: ordered available first,
 * then by last latency, then by the end of their isolation; one of the better half in turn.
 * Index of a broker name in mqs (its first queue), -1 when f knows none of them. */
int rmq_fault_pick_least(rmq_fault_t *f, const rmq_mq_t *mqs, int n, int64_t now_ms);

/* Queue choice (MQFaultStrategy.selectOneMessageQueue): round robin from *counter over mqs;
 * skips last_broker (the broker that just failed, may be NULL) and, when fault is non-NULL,
 * brokers it marks unavailable. When fault excludes every queue, a queue (round robin) of the
 * least bad broker (rmq_fault_pick_least) other than last_broker if possible; without fault, or
 * when that finds none, the plain round-robin pick avoiding last_broker. -1 when n == 0. */
int rmq_select_queue(const rmq_mq_t *mqs, int n, _Atomic uint32_t *counter, const char *last_broker,
                     rmq_fault_t *fault, int64_t now_ms);

/* ---- requests -------------------------------------------------------------------- */

typedef struct {
    const char *group, *topic, *default_topic, *props, *broker;
    int default_queues, queue_id, sysflag, flag, reconsume_times, max_reconsume_times;
    int64_t born_ts;
    bool batch, has_reconsume;
    bool binary_header; /* serializeType=ROCKETMQ: binary header instead of JSON */
} rmq_send_hdr_t;

/* SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE request with the short header keys a..n. NULL on OOM. */
rmq_rem_cmd_t *rmq_send_request(const rmq_send_hdr_t *h);
/* The same request as a header view (remoting/frame.h), for rmq_rem_client_encode_head: no
 * command, no allocation; the opaque is left 0 for the caller (rmq_rem_next_opaque). Borrows
 * h's strings; the numbers' texts live in *out. */
typedef struct {
    rmq_rem_head_t head;
    rmq_rem_field_t kv[14];
    char num[7][24];
} rmq_send_head_t;
void rmq_send_head(const rmq_send_hdr_t *h, rmq_send_head_t *out);
/* Map a send response to a result; RMQ_OK for SUCCESS and the three "stored" statuses. */
rmq_err_t rmq_send_response(const rmq_rem_cmd_t *resp, const rmq_mq_t *mq, rmq_send_result_t *r);
/* Codes after which a send is retried on another broker (Java's retryResponseCodes). */
bool rmq_send_retryable(rmq_err_t e);

/* Parse a RESET_CONSUMER_CLIENT_OFFSET body (fastjson map with MessageQueue object keys, the
 * gson pair list, or ResetOffsetBodyForC's list). *mqs / *offs new (free()). */
rmq_err_t rmq_reset_body_parse(const char *body, size_t len, rmq_mq_t **mqs, int64_t **offs,
                               int *n);

#endif
