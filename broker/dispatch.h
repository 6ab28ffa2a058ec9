/* The broker's one request table: request code -> handler, the permission an ACL will ask for,
 * and per-code counters. broker.c attaches the table to both listening servers (listenPort and
 * the fast port listenPort - 2), so this file is the one place request codes are listed.
 *
 * The dispatcher owns each request: handlers borrow it (rmq_broker_handler_fn, ctx.h) and one
 * that answers later takes a reference (rmq_rem_cmd_ref). Counters are written on the loop
 * thread only (one loop runs every handler), so they are plain integers: read them on the loop
 * too (rmq_broker_dispatch_each). */
#ifndef RMQ_BROKER_DISPATCH_H
#define RMQ_BROKER_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"
#include "remoting/server.h"

/* What a request needs, RocketMQ's ACL semantics, enforced when aclEnable=true (dispatch.c,
 * remoting/acl.h). The resources come from the request: TOPIC_* the header field topic_f (a
 * %RETRY%<group> topic stands for group <group>: checked as GROUP_SUB of that group),
 * GROUP_SUB the header field group_f; with body set, HEART_BEAT, LOCK/UNLOCK and
 * CHECK_CLIENT_CONFIG carry theirs in the JSON body. A field the request lacks names nothing
 * to check (the handler refuses a missing required field); the signature is always checked. */
typedef enum {
    RMQ_BROKER_PERM_ANY = 0,             /* anyone connected */
    RMQ_BROKER_PERM_TOPIC_PUB = 1u << 0, /* produce to the topic */
    RMQ_BROKER_PERM_TOPIC_SUB = 1u << 1, /* consume / read the topic */
    RMQ_BROKER_PERM_GROUP_SUB = 1u << 2, /* act as the consumer group */
    RMQ_BROKER_PERM_ADMIN = 1u << 3,     /* operator requests (mqadmin) */
} rmq_broker_perm_t;

typedef struct {
    int code;         /* RMQ_REQ_* */
    const char *name; /* "SEND_MESSAGE" */
    rmq_broker_handler_fn fn;
    unsigned perm;       /* rmq_broker_perm_t bits */
    const char *topic_f; /* ext field naming the topic (TOPIC_* bits), NULL: none */
    const char *group_f; /* ext field naming the consumer group (GROUP_SUB), NULL: none */
    bool body;           /* resources in the JSON body (heartbeat, lock, client config) */
} rmq_broker_route_t;

#define RMQ_BROKER_LAT_BUCKETS 24 /* bucket i counts latencies < 2^i us; the last, the rest */

/* Per-code counters. A request answered later (a held pull, a SYNC_FLUSH send) counts the
 * handler's time only (plus, for a request following another of its connection in one loop
 * turn, its frame's decode: dispatch.c); errors are responses returned with code != 0. */
typedef struct {
    uint64_t requests;
    uint64_t errors;
    uint64_t lat_total_us;
    uint64_t lat_max_us;
    uint64_t lat_log2[RMQ_BROKER_LAT_BUCKETS];
} rmq_broker_code_stats_t;

typedef struct rmq_broker_dispatch_s rmq_broker_dispatch_t;

/* The table entry for code, NULL when the broker does not serve it (for the ACL). */
const rmq_broker_route_t *rmq_broker_route_find(int code);

/* A dispatcher running handlers with ctx (borrowed; outlives it). NULL on OOM. */
rmq_broker_dispatch_t *rmq_broker_dispatch_new(rmq_broker_ctx_t *ctx);
/* Register every code of the table on s (before start). d must outlive s's last request. */
void rmq_broker_dispatch_attach(rmq_broker_dispatch_t *d, rmq_rem_server_t *s);
void rmq_broker_dispatch_destroy(rmq_broker_dispatch_t *d); /* NULL is a no-op */
/* Run req through the table as a server would: takes req; returns the response (NULL: none
 * now). A code missing from the table is answered REQUEST_CODE_NOT_SUPPORTED. */
rmq_rem_cmd_t *rmq_broker_dispatch_run(rmq_broker_dispatch_t *d, rmq_rem_conn_t *c,
                                       rmq_rem_cmd_t *req);
/* Once per loop turn, before the loop sleeps: the next request of any connection reads the
 * clock at its start instead of chaining from the previous one's end (dispatch.c). */
void rmq_broker_dispatch_turn(rmq_broker_dispatch_t *d);
/* Visit every code of the table with its counters, in table order. Loop thread. */
void rmq_broker_dispatch_each(const rmq_broker_dispatch_t *d,
                              void (*fn)(const rmq_broker_route_t *r,
                                         const rmq_broker_code_stats_t *st, void *arg),
                              void *arg);

#endif
