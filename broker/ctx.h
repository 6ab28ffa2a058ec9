/* What the broker's parts see of the broker, in two sizes.
 *
 * rmq_broker_env_t is the narrow context every manager (topic, offset, subgroup, clients, hold,
 * schedule) is opened with: the read-only config, the loop, the store, where config files live,
 * and the broker's address as a stored host. A manager never sees the other managers through it;
 * what it must tell the rest of the broker goes through hooks broker.c passes at open.
 *
 * rmq_broker_ctx_t is what a request handler gets from the dispatcher (dispatch.h): the env, the
 * managers' handles, and the loop-thread services (run on loop, in-flight puts, random numbers).
 * broker.c owns it and is the only file that fills it in.
 *
 * Threading: one loop thread (broker.h) runs every handler and manager; fields say who else
 * reads them. */
#ifndef RMQ_BROKER_CTX_H
#define RMQ_BROKER_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker/cfg.h"
#include "common/mailbox.h"
#include "common/map.h"
#include "common/msg.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"
#include "store/store.h"

typedef struct {
    const rmq_broker_cfg_t *cfg; /* read-only after start */
    uv_loop_t *loop;
    rmq_store_t *store;
    rmq_msg_host_t store_host; /* brokerIP1:listenPort */
    const char *config_dir;    /* <storePathRootDir>/config */
    int64_t start_ms;
} rmq_broker_env_t;

typedef struct rmq_broker_topics_s rmq_broker_topics_t;
typedef struct rmq_broker_offsets_s rmq_broker_offsets_t;
typedef struct rmq_broker_subgroups_s rmq_broker_subgroups_t;
typedef struct rmq_broker_clients_s rmq_broker_clients_t;
typedef struct rmq_broker_hold_s rmq_broker_hold_t;
typedef struct rmq_broker_schedule_s rmq_broker_schedule_t;
typedef struct rmq_broker_timer_s rmq_broker_timer_t;
typedef struct rmq_broker_stats_s rmq_broker_stats_t;
typedef struct rmq_broker_bstats_s rmq_broker_bstats_t;
typedef struct rmq_broker_metrics_s rmq_broker_metrics_t;
typedef struct rmq_broker_slave_sync_s rmq_broker_slave_sync_t;

typedef struct rmq_broker_ctx_s {
    rmq_broker_env_t env;
    bool shutting_down; /* writer: loop */
    rmq_broker_topics_t *topics;
    rmq_broker_offsets_t *offsets;
    rmq_broker_subgroups_t *subgroups;
    rmq_broker_clients_t *clients;
    rmq_broker_hold_t *hold;
    rmq_broker_schedule_t *schedule;
    rmq_broker_stats_t *stats;     /* put-TPS sampler for runtime info (admin.c) */
    rmq_broker_bstats_t *bstats;   /* per topic / group counters for statsAll (admin_stats.c) */
    rmq_broker_metrics_t *metrics; /* Prometheus counters; NULL when metrics are off */
    rmq_broker_timer_t *timer;     /* 5.x timer wheel (timer.h); NULL when off or on a slave */
    rmq_broker_slave_sync_t *slave_sync; /* slave: metadata sync from the master (slave.c) */
    rmq_ha_t *ha; /* HA service (ha.h): a master's (SYNC_MASTER waits, slaves' figures) or a
                     slave's; NULL when it could not start or after shutdown */
    pthread_t loop_thread;
    rmq_mailbox_t mailbox; /* store threads -> loop */
    /* Parked pulls. writer: loop (hold.c); reader: the reput thread, which must not touch
     * the hold service (freed at shutdown while the store still runs). */
    _Atomic int held_count;
    int inflight_puts;   /* SYNC_FLUSH replies pending; loop only */
    uint64_t rand_state; /* rmq_broker_rand; loop only */
    uint32_t uniq_salt;  /* txn.c's op-message UNIQ_KEYs; loop only */
    uint16_t uniq_counter;
    /* ACL and UPDATE_BROKER_CONFIG (dispatch.c, brokercfg.c); loop only */
    struct rmq_acl_watch_s *acl; /* plain_acl.yml in force; NULL when aclEnable=false */
    rmq_broker_cfg_t *cfg_rw;    /* env.cfg, writable: UPDATE_BROKER_CONFIG only */
    /* broker.c: apply a changed allow-listed key (re-register, log level, store tunables) */
    void (*config_changed)(struct rmq_broker_ctx_s *b, const char *key);
    /* txn.c: UNIQ_KEY -> ms of late commits (halves older than transactionTimeOut), so a
     * second checked copy of one transaction is not committed again; loop only. Zero is an
     * empty map; broker.c finis it. */
    rmq_map_t txn_recent;
} rmq_broker_ctx_t;

/* A request handler (dispatch.c holds the table of them): borrows req, valid until return (take
 * rmq_rem_cmd_ref to keep it longer), and returns the response, or NULL when it answers later
 * or not at all. Loop thread. Declare and define handlers with RMQ_BROKER_HANDLER(name). */
typedef rmq_rem_cmd_t *(*rmq_broker_handler_fn)(rmq_broker_ctx_t *b, rmq_rem_conn_t *c,
                                                rmq_rem_cmd_t *req);
#define RMQ_BROKER_HANDLER(name)                                                                   \
    rmq_rem_cmd_t *name(rmq_broker_ctx_t *b, rmq_rem_conn_t *c, rmq_rem_cmd_t *req)

/* One job for the loop; a caller may embed it first in a bigger block (freed as a whole). */
typedef struct {
    rmq_mbox_node_t node;
    void (*fn)(void *arg);
    void *arg;
} rmq_broker_job_t;

/* Init b's mailbox on loop (loop thread); the loop thread is the calling one. 0 or a uv error. */
int rmq_broker_ctx_init(rmq_broker_ctx_t *b, uv_loop_t *loop);
/* Run fn(arg) on the broker loop (any thread). False when shutting down. */
bool rmq_broker_run_on_loop(rmq_broker_ctx_t *b, void (*fn)(void *arg), void *arg);
/* Post a job whose block starts with j and was malloc'd (any thread); freed after it ran, or
 * here when the mailbox is closed (then false). */
bool rmq_broker_post_job(rmq_broker_ctx_t *b, rmq_broker_job_t *j);
/* A SYNC_FLUSH put whose completion will come from the flush thread: counted so that shutdown
 * waits for them. Loop thread. */
void rmq_broker_inflight_add(rmq_broker_ctx_t *b, int delta);
/* Loop thread? */
bool rmq_broker_on_loop(const rmq_broker_ctx_t *b);
/* Random number for queue choice (per-broker state). Loop thread. */
uint32_t rmq_broker_rand(rmq_broker_ctx_t *b);

#endif
