/* Push consumer internals shared by its three files, split as RocketMQ's Java client is:
 * push_consumer.c (DefaultMQPushConsumerImpl: process queues, pulls, offsets, the public API),
 * rebalance.c (RebalancePushImpl: allocation, the process-queue table, orderly queue locks) and
 * consume_service.c (ConsumeMessageConcurrently/OrderlyService: the pool, listener calls,
 * send-back). Private to librmq. */
#ifndef RMQ_CLIENT_PUSH_CONSUMER_H
#define RMQ_CLIENT_PUSH_CONSUMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/consumer.h"
#include "common/log.h"
#include "common/wake.h"

#define MOD "consumer"
#define PULL_SUSPEND_MS 15000
#define PULL_TIMEOUT_MS 30000
#define FLOW_DELAY_MS 50
#define LOCK_LIFE_MS 30000

typedef struct {
    int64_t off;
    rmq_msg_t *m;
    bool done;
    bool handed; /* orderly: given to the listener at least once and not yet done */
} rmq_pq_entry_t;

/* One pull of a queue in flight. A concurrently consumed queue with a backlog keeps up to
 * RMQ_PULL_DEPTH: the one at next_pull and speculative ones at the offsets the pulls before them
 * are expected to end at (client/push_consumer.c, "Pipelined pulls"). Results are applied in
 * issue order (seq); one whose offset is not the queue's next_pull when its turn comes is stale
 * and dropped unread. Slots are pq->mu's. */
#ifndef RMQ_PULL_DEPTH
#define RMQ_PULL_DEPTH 4
#endif
typedef struct rmq_pull_slot_s {
    struct rmq_pq_s *pq;
    uint64_t seq; /* issue order within pq */
    int64_t off;  /* the pull's queue offset */
    uint64_t t0;  /* mono ms it was issued */
    bool busy;    /* issued, not yet applied */
    bool arrived; /* answered, waiting for an earlier pull's result (resp, err kept) */
    bool spec;    /* speculative: no long-poll hold, no commit offset */
    rmq_err_t err;
    rmq_rem_cmd_t *resp;
    char addr[64]; /* where it went */
} rmq_pull_slot_t;

typedef struct rmq_pq_s {
    rmq_mq_t mq;
    struct rmq_push_consumer_s *c;
    pthread_mutex_t mu;
    rmq_pq_entry_t *ring; /* in-flight messages in offset order (a deque) */
    size_t head, count, cap;
    size_t bytes;
    int64_t next_pull; /* offset of the next pull: where the results applied so far end */
    rmq_pull_slot_t slot[RMQ_PULL_DEPTH]; /* pulls in flight, slot[seq % RMQ_PULL_DEPTH] */
    uint64_t seq_issue, seq_apply;        /* next seq to issue; next seq to apply */
    int inflight;                         /* busy slots */
    int64_t commit;    /* smallest unconsumed offset (what we commit); -1 unknown */
    int64_t committed; /* last value sent */
    bool dropped;
    bool flow_wait; /* pulling paused by flow control; whoever clears it pulls next */
    int tasks;      /* consume tasks referencing this pq */
    /* orderly */
    bool locked;
    uint64_t lock_ts;
    bool consuming;
    int later_rounds;
    /* running info (ProcessQueueInfo): wall-clock ms, 0 never */
    _Atomic int64_t last_pull_ts, last_consume_ts;
    uint64_t pull_t0; /* mono ms the pull being applied was issued (loop thread, stats) */
    struct rmq_pq_s *next;
} rmq_pq_t;

typedef struct rmq_consume_task_s {
    struct rmq_consume_task_s *next;
    rmq_pq_t *pq;
    rmq_msg_t **msgs; /* concurrent: a pull result's messages (owned array); orderly: NULL */
    size_t n;
    uint64_t queued_us; /* mono us it reached the pool's queue (pool_mu) */
} rmq_consume_task_t;

/* One consume thread: its wake word, and its link in the pool's idle stack (pool_mu). */
typedef struct rmq_pool_thr_s {
    struct rmq_push_consumer_s *c;
    pthread_t tid;
    rmq_wake_t wake;
    struct rmq_pool_thr_s *next_idle;
    bool go; /* given a task to take: counted in pool_running by whoever set it (pool_mu) */
} rmq_pool_thr_t;

/* Per-topic counters for GET_CONSUMER_RUNNING_INFO's statusTable (ConsumerStatsManager). */
typedef struct {
    _Atomic uint64_t pulls, pull_rt_ms, pulled_msgs;
    _Atomic uint64_t consume_calls, consume_rt_ms, consumed_ok, consumed_failed;
} rmq_cstats_t;

/* A snapshot of the counters, for rates over a window. */
typedef struct {
    uint64_t ts_ms, pulls, pull_rt_ms, pulled_msgs, consume_calls, consume_rt_ms, consumed_ok,
        consumed_failed;
} rmq_cstats_snap_t;

typedef struct {
    rmq_sub_t sub;
    bool retry; /* the automatic %RETRY%group subscription */
} rmq_csub_t;

struct rmq_push_consumer_s {
    rmq_conf_t *conf;
    rmq_instance_t *in;
    const rmq_logger_t *log; /* the instance's: this object's lines go to its conf's sink */
    rmq_member_t member;
    char group[256];
    char retry_topic[300];
    bool broadcast, binary;
    const char *from_where;
    int64_t from_ts;
    int batch_max, pull_batch, max_reconsume, suspend_ms, pull_delay_exc;
    int64_t thr_count, thr_bytes;
    rmq_listen_mode_t mode;
    rmq_listener_cb cb;
    void *cb_op;
    rmq_csub_t *subs;
    int nsubs;
    /* running info: stats[i] counts subs[i]'s topic (allocated at start, when subs is final);
     * base/mid snapshots of the rate window (stats_mu) */
    rmq_cstats_t *stats;
    rmq_cstats_snap_t *snap_base, *snap_mid;
    pthread_mutex_t stats_mu;
    int64_t start_ts; /* wall ms of start */
    bool started;
    _Atomic bool stopping;
    _Atomic int refs;

    pthread_mutex_t mu; /* pqs, graveyard */
    rmq_pq_t *pqs, *grave;
    pthread_mutex_t rb_mu;  /* one rebalance at a time */
    rmq_pull_nodes_t nodes; /* broker id to pull each queue from (suggestWhichBrokerId) */

    /* consume pool */
    pthread_mutex_t pool_mu;
    rmq_consume_task_t *q_head, *q_tail;
    /* (pool_mu) running: threads not idle (in a task, or woken to take one). The queue wakes
     * an idle thread only while running < active (about the CPUs beside the loop's); the
     * watcher, an idle thread off the idle stack, adds one whenever the queue's head has waited
     * 2 ms (consume_service.c) */
    rmq_pool_thr_t *pool_thr, *pool_idle, *pool_watcher;
    int pool_running, pool_active;
    bool pool_watch_timed; /* the watcher waits with a timeout (it saw the queue non-empty) */
    bool pool_stop;
    /* loop thread only: concurrent tasks of this loop iteration's pull results, handed to the
     * pool together at its end (rmq_pc_dispatch, pool_flush); lp_queued: lp_node is queued
     * (holding a consumer reference) */
    rmq_consume_task_t *lp_head, *lp_tail;
    bool lp_queued;
    rmq_cb_node_t lp_node;
    int nthreads;

    char offset_file[1024];
};

static inline rmq_pq_entry_t *rmq_pc_pq_at(rmq_pq_t *pq, size_t i) {
    return &pq->ring[(pq->head + i) % pq->cap];
}

/* ---- push_consumer.c --------------------------------------------------------------- */

rmq_pq_t *rmq_pc_pq_new(rmq_push_consumer_t *c, const rmq_mq_t *mq, int64_t off);
void rmq_pc_pq_free_msgs(rmq_pq_t *pq); /* pq->mu held or pq private */
void rmq_pc_pq_mark_done(rmq_pq_t *pq, rmq_msg_t *const *msgs, size_t n); /* mu held */
/* After consumption (mu held): true when pulling was paused by flow control and the queue has
 * drained to half its thresholds, so the caller issues the pull now instead of letting it wait
 * out the rest of FLOW_DELAY_MS (a fast listener would otherwise idle on the timer). Clearing
 * flow_wait makes the caller the one that pulls; the pending timer then does nothing. */
bool rmq_pc_pq_flow_resume(rmq_pq_t *pq);
/* Replace pq by a fresh one at offset (reset / offset moved): drop in-flight messages. */
void rmq_pc_restart_queue(rmq_push_consumer_t *c, rmq_pq_t *pq, int64_t off, bool commit_now);
/* Issue pq's next pull at next_pull (or schedule it: flow control, no route). True if sent. */
bool rmq_pc_issue_pull(rmq_pq_t *pq);
/* Where to start a newly assigned queue (protocol.md 7.7). -1: try again later. */
int64_t rmq_pc_start_offset(rmq_push_consumer_t *c, const rmq_mq_t *mq);

/* ---- consume_service.c ------------------------------------------------------------- */

void rmq_pc_task_release(rmq_consume_task_t *t);
/* Drop a consumer reference (the last frees it). */
void rmq_pc_unref(rmq_push_consumer_t *c);
void *rmq_pc_pool_main(void *arg); /* arg: its rmq_pool_thr_t */
/* How many consume threads run at once while tasks are short (see consume_service.c). */
int rmq_pc_pool_active(int nthreads);
/* Hand new messages of pq to the pool: one task per pull result (concurrent listeners take
 * consumeMessageBatchMaxSize of them per call on one pool thread); a concurrent task reaches
 * the pool at the end of the loop iteration, with the iteration's others. Takes msgs (the
 * array, not the messages: those belong to pq's ring). Loop thread (a pull callback). */
void rmq_pc_dispatch(rmq_push_consumer_t *c, rmq_pq_t *pq, rmq_msg_t **msgs, size_t n);

/* ---- consumer_info.c -------------------------------------------------------------- */

/* Run the listener on msgs of pq (or of mq when pq is NULL: consume directly), counting the
 * call in the topic's stats and pq's last consume time. */
rmq_consume_status_t rmq_pc_call_listener(rmq_push_consumer_t *c, rmq_pq_t *pq, const rmq_mq_t *mq,
                                          rmq_msg_t *const *msgs, size_t n);
/* A pull answered for pq (FOUND with n messages, or none): stats and last pull time. */
void rmq_pc_note_pull(rmq_push_consumer_t *c, rmq_pq_t *pq, size_t n);
/* Set up the stats at start (subs final). RMQ_ERR__NOMEM. */
rmq_err_t rmq_pc_stats_init(rmq_push_consumer_t *c);
void rmq_pc_stats_fini(rmq_push_consumer_t *c);
/* Member hooks (instance.h): GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY. */
rmq_err_t rmq_pc_running_info(void *owner, bool jstack, rmq_buf_t *out);
rmq_err_t rmq_pc_consume_direct(void *owner, rmq_msg_t *msg, const char *broker, rmq_buf_t *out);

/* ---- rebalance.c ------------------------------------------------------------------- */

/* LOCK_BATCH_MQ (lock true) or UNLOCK_BATCH_MQ for mqs of one broker; for a lock, locked[i]
 * says which ones the broker granted. */
rmq_err_t rmq_pc_lock_batch(rmq_push_consumer_t *c, const rmq_mq_t *mqs, int n, bool lock,
                            bool *locked);
void rmq_pc_rebalance(void *owner);
void rmq_pc_rebalance_task(void *arg);
void rmq_pc_reset_offset(void *owner, const char *topic, const rmq_mq_t *mqs, const int64_t *offs,
                         int n);

#endif
