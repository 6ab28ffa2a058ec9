/* Private parts of the store shared by its .c files (not for other modules). */
#ifndef RMQ_STORE_INT_H
#define RMQ_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/map.h"
#include "store/mfile.h"
#include "store/store.h"

#define RMQ_CQ_UNIT 20
#define RMQ_CQ_BLANK_SIZE 0x7FFFFFFF
#define RMQ_SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"

/* A service thread of the store (allocate-ahead, flush, reput, clean): its loop waits on cv
 * under mu and returns once stop is set. One start and one stop for the four of them. */
typedef struct {
    pthread_t thr;
    pthread_mutex_t *mu; /* borrowed: the lock of the state the thread serves */
    pthread_cond_t *cv;
    bool stop;    /* under mu */
    bool running; /* under mu; written by start and stop only */
} rmq_store_thread_t;

/* One ConsumeQueue (topic, queue). Entries are written only by the dispatcher (or recovery,
 * before the threads run); readers take file pins. */
typedef struct {
    char *topic;
    int32_t qid;
    rmq_mfq_t q;
    int64_t max_phys;          /* writer: dispatcher; offset+size of the last entry */
    _Atomic int64_t min_logic; /* CQ byte offset of the first valid entry */
    _Atomic bool deleted;
} rmq_cq_t;

/* One IndexFile (store.md 4). */
typedef struct {
    rmq_mfile_t *f;
    int64_t begin_ts, end_ts, begin_phy, end_phy;
    int32_t slot_count, index_count;
    int64_t reserved; /* bytes from 0 with blocks reserved: entries are reserved as they come */
} rmq_index_file_t;

/* A SYNC_FLUSH request waiting for the group commit. */
typedef struct {
    int64_t target;       /* physical offset that must be durable */
    uint64_t deadline_ms; /* monotonic */
    rmq_store_put_cb cb;
    void *arg;
    rmq_store_put_result_t r;
} rmq_gc_req_t;

typedef struct {
    int64_t from, to; /* CommitLog physical offsets [from, to) */
} rmq_store_range_t;

typedef struct {
    int64_t physic_ts, logics_ts, index_ts;
    uint8_t raw[4096]; /* file image: bytes past 24 (5.x fields) are written back untouched */
} rmq_checkpoint_t;

struct rmq_store_s {
    /* fileReservedTime, diskMaxUsedSpaceRatio, flushIntervalCommitLog and deleteWhen change
     * at run time (rmq_store_set_tunables): read them with __atomic_load_n */
    rmq_store_cfg_t cfg;
    char *
        *old_delete_when; /* replaced deleteWhen strings, freed at close (a reader may hold one) */
    size_t n_old_delete_when;
    char *root, *cl_dir, *cq_dir, *index_dir, *ckpt_path, *abort_path, *lock_path;
    int lock_fd;
    int64_t cq_fsize;
    int64_t max_record; /* maxMessageSize + 64 KiB + headers */
    bool started, closing;

    /* CommitLog */
    rmq_mfq_t cl;
    pthread_mutex_t put_mu;
    rmq_mfile_t *cur; /* under put_mu: the segment being appended to (pinned) */
    /* SYNC_FLUSH, the kicker's puts (commitlog.c "staging"): records encoded here, the bytes of
     * cur from its published write position on, written with one pwrite per turn */
    uint8_t *stage;           /* under put_mu; RMQ_STORE_STAGE bytes, allocated on first use */
    size_t stage_len;         /* under put_mu: bytes staged (not yet readable) */
    int64_t stage_ts;         /* under put_mu: store time of the last staged record */
    rmq_gc_req_t *stage_reqs; /* under put_mu: their group-commit requests, queued at the write */
    size_t stage_nreq, stage_capreq;
    rmq_map_t qoff;                /* under put_mu: "topic-qid" -> next queue offset (v.i64) */
    _Atomic int64_t max_offset;    /* writer: appender (after the copy); readers: any */
    _Atomic int64_t flushed;       /* writer: flush thread */
    _Atomic int64_t last_store_ts; /* store time of the last append */
    _Atomic uint64_t put_count, put_bytes, put_fail;
    _Atomic bool writable;
    _Atomic bool disk_full;
    _Atomic bool cq_error;    /* a ConsumeQueue write failed: puts refused */
    _Atomic bool cl_no_room;  /* no room for a new CommitLog segment (headroom kept) */
    _Atomic bool idx_no_room; /* no room for an index file: keys wait (reput.c idx_pending) */
    pthread_mutex_t why_mu;   /* guards the two texts below */
    char disk_full_why[512], no_room_why[512];

    /* replication (repl.c) */
    _Atomic int64_t repl_end; /* writer: appender (put_mu); max_offset + a partial record's
                                 bytes received by a slave; == max_offset on a master */
    _Atomic bool replica;     /* raw appends happened since open: local puts refused */
    int notify_fd;            /* eventfd written after an append when armed */
    _Atomic bool notify_armed;

    /* allocate-ahead (alloc.c) */
    rmq_store_thread_t alloc_thr;
    pthread_mutex_t alloc_mu;
    pthread_cond_t alloc_cv;
    int64_t alloc_want; /* start offset requested, -1 none */
    bool alloc_busy;
    int64_t alloc_busy_start; /* the segment being created while busy */
    rmq_mfile_t *alloc_ready;
    bool alloc_idle;              /* the allocator waits with nothing to create or warm */
    int64_t warm_to;              /* allocator only: CommitLog offset warmed writable up to */
    int64_t fill_to;              /* allocator only: offset read into the page cache up to */
    _Atomic int64_t warm_kick_at; /* an appender reaching it wakes the allocator to warm on */

    /* flush (flush.c) */
    rmq_store_thread_t flush_thr;
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;
    rmq_gc_req_t *gc_w, *gc_r;
    size_t gc_wn, gc_wcap, gc_rcap;
    uint64_t last_thorough_ms;
    pthread_mutex_t flush_mu;            /* one CommitLog flush at a time */
    _Atomic uint64_t gc_rounds, gc_reqs; /* group commits done and requests they completed */

    /* CommitLog ranges quarantined by recovery (a corrupt record, or the damaged bytes between
     * two valid records), ascending and disjoint: the dispatcher gives them no ConsumeQueue or
     * index entry, and pulls, queries and reads by offset never return them. Written by
     * recovery (before the threads) and the scrub thread, under skip_mu; skip_any lets readers
     * skip the lock while nothing is quarantined. */
    pthread_rwlock_t skip_mu;
    _Atomic bool skip_any;
    rmq_store_range_t *skip;
    size_t skip_n, skip_cap;
    uint64_t skip_bytes;   /* sum of the ranges */
    uint64_t skip_records; /* ranges found by this open's recovery (the rest were known) */
    /* ConsumeQueue entries, index hits and reads by offset refused for them */
    _Atomic uint64_t quarantine_hits;
    int64_t torn_at; /* where recovery cut a torn tail with bytes after it, -1 none */

    /* background scrub of sealed segments (scrub.c) */
    rmq_store_thread_t scrub_thr;
    pthread_mutex_t scrub_mu;
    pthread_cond_t scrub_cv;
    _Atomic uint64_t scrub_bytes;  /* checked since open */
    _Atomic uint64_t scrub_passes; /* complete passes over the sealed segments */

    /* ConsumeQueues */
    pthread_rwlock_t cq_mu;  /* guards cqs (the table), not entry contents */
    rmq_map_t cqs;           /* "topic\x01qid" -> rmq_cq_t * (v.ptr) */
    rmq_cq_t **cq_graveyard; /* deleted queues kept until close (readers may hold them) */
    size_t cq_graveyard_n;

    /* IndexFiles */
    pthread_mutex_t idx_mu;
    rmq_index_file_t *idx;
    size_t idx_n, idx_cap;
    int64_t idx_hdr_bytes, idx_file_size;

    /* reput (reput.c) */
    rmq_store_thread_t reput_thr;
    /* one dispatch round at a time: the reput thread's, a kick's (inline) or recovery's; it
     * guards disp_cq and idx_* below (reput_from has one writer at a time through it) */
    pthread_mutex_t disp_mu;
    pthread_mutex_t reput_mu;
    pthread_cond_t reput_cv;
    _Atomic uint32_t reput_waiting; /* 1 while the dispatcher sleeps on it (a futex word) */
    _Atomic bool reput_stop;
    _Atomic bool reput_parked;  /* caught up and past its last look at max_offset: asleep (tests) */
    _Atomic int64_t reput_from; /* writer: dispatcher */
    _Atomic int64_t logics_ts;  /* store ts of the last dispatched record */
    rmq_cq_t *disp_cq;          /* dispatcher's last queue (reput.c) */
    int64_t idx_pending;        /* writer: dispatcher; first record whose keys wait, -1 none */
    uint64_t idx_retry_ms;      /* dispatcher: next try to index them */
    int64_t idx_pending_saved;  /* dispatcher: value in <root>/indexPending, -1 none, -2 failed */
    rmq_store_arrive_cb arrive_cb;
    void *arrive_arg;
    /* rmq_store_kick_attach: puts on this thread leave the wake-up to rmq_store_kick */
    pthread_t kicker;
    _Atomic bool has_kicker;
    int reput_net_ms; /* a caught-up dispatcher's safety-net wait; 0 = 1 s (tests change it) */

    /* checkpoint + service thread (clean.c) */
    pthread_mutex_t ckpt_mu;
    rmq_checkpoint_t ckpt;
    rmq_store_thread_t svc_thr;
    pthread_mutex_t svc_mu;
    pthread_cond_t svc_cv;
    int64_t last_clean_min;   /* CommitLog min offset at the last CQ/index clean */
    _Atomic bool clean_asked; /* rmq_store_clean_expired_commitlog: one pass as if in deleteWhen */
};

/* "topic<sep>qid" into out (>= tlen + 13 bytes); returns the length. snprintf is too slow for
 * a per-message key. */
static inline size_t rmq_store__qkey(char *out, const char *topic, size_t tlen, char sep,
                                     int32_t qid) {
    memcpy(out, topic, tlen);
    size_t n = tlen;
    out[n++] = sep;
    char tmp[12];
    int k = 0;
    uint32_t v = qid < 0 ? (uint32_t)(-(int64_t)qid) : (uint32_t)qid;
    if (qid < 0) out[n++] = '-';
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k) out[n++] = tmp[--k];
    out[n] = '\0';
    return n;
}

/* store.c: run fn(s) on t, whose loop waits on cv under mu. */
rmq_err_t rmq_store__thread_start(rmq_store_thread_t *t, void *(*fn)(void *), rmq_store_t *s,
                                  pthread_mutex_t *mu, pthread_cond_t *cv);
/* Set stop, wake the thread and join it; no-op when it is not running. */
void rmq_store__thread_stop(rmq_store_thread_t *t);

/* commitlog.c */
rmq_err_t rmq_store__cl_recover(rmq_store_t *s, bool clean_exit, int64_t *dispatch_from);
/* Quarantine [from, to) (under skip_mu) and save the quarantine file; false when known. */
bool rmq_store__quarantine_add(rmq_store_t *s, int64_t from, int64_t to);
/* End of the damage that starts at pos of a sealed segment f: the next record that validates
 * (this one's length, when the record after it validates; else a scan), or f->size. */
int64_t rmq_store__damage_end(rmq_store_t *s, rmq_mfile_t *f, int64_t pos);

/* scrub.c: start the scrub thread (scrubRateMBps > 0); one synchronous pass over the sealed,
 * dispatched segments at most rate_mbps (0 = unlimited), returns ranges quarantined. */
rmq_err_t rmq_store__scrub_start(rmq_store_t *s);
uint64_t rmq_store__scrub_pass(rmq_store_t *s, int rate_mbps);

/* Load <root>/quarantine (ranges quarantined by earlier recoveries); before the recovery. */
void rmq_store__quarantine_load(rmq_store_t *s);
/* End of the quarantined range holding phys, or -1 when phys is in none. */
int64_t rmq_store__skip_end(rmq_store_t *s, int64_t phys);
/* Read TOTALSIZE and decode the record at phys into a pinned file view. */
int64_t rmq_store__read_store_ts(rmq_store_t *s, int64_t phys);

/* alloc.c */
rmq_err_t rmq_store__alloc_start(rmq_store_t *s);
/* The segment starting at start, from the allocate-ahead slot or created now (put lock held). */
rmq_err_t rmq_store__alloc_take(rmq_store_t *s, int64_t start, rmq_mfile_t **out);
/* An appender published a CommitLog end: wake the allocator when the warmed pages ahead of it
 * run short (one relaxed load per append otherwise). */
void rmq_store__warm_kick_slow(rmq_store_t *s);
static inline void rmq_store__warm_kick(rmq_store_t *s, int64_t end) {
    if (end >= atomic_load_explicit(&s->warm_kick_at, memory_order_relaxed))
        rmq_store__warm_kick_slow(s);
}

/* flush.c */
rmq_err_t rmq_store__flush_start(rmq_store_t *s);
rmq_err_t rmq_store__flush_cl(rmq_store_t *s, int least_pages);
/* A SYNC_FLUSH completion for the put r: durable up to its end, within syncFlushTimeout. */
rmq_gc_req_t rmq_store__gc_req(rmq_store_t *s, const rmq_store_put_result_t *r, rmq_store_put_cb cb,
                               void *arg);
/* Queue n of them for the group commit; false when the flush thread is not running. */
bool rmq_store__gc_enqueue(rmq_store_t *s, const rmq_gc_req_t *reqs, size_t n);
/* Without a flush thread (not started, or stopped): flush on this thread, then complete them
 * (no lock held: the callbacks may put). */
void rmq_store__gc_flush_here(rmq_store_t *s, rmq_gc_req_t *reqs, size_t n);

/* cq.c */
rmq_cq_t *rmq_store__cq_get(rmq_store_t *s, const char *topic, size_t tlen, int32_t qid,
                            bool create);
rmq_err_t rmq_store__cq_load_all(rmq_store_t *s, bool *dir_present);
void rmq_store__cq_free(rmq_cq_t *cq);
/* Recover one queue (5.6): find its end, set max_phys. */
void rmq_store__cq_recover(rmq_store_t *s, rmq_cq_t *cq);
void rmq_store__cq_truncate(rmq_store_t *s, rmq_cq_t *cq, int64_t phys);
rmq_err_t rmq_store__cq_put(rmq_store_t *s, rmq_cq_t *cq, int64_t phys, int32_t size,
                            int64_t tags_code, int64_t queue_offset);
int64_t rmq_store__cq_max_offset(rmq_cq_t *cq); /* in entries */
int64_t rmq_store__cq_min_offset(rmq_cq_t *cq); /* in entries */
void rmq_store__cq_correct_min(rmq_store_t *s, rmq_cq_t *cq, int64_t cl_min);
void rmq_store__cq_flush_all(rmq_store_t *s, int least_pages);
/* Pinned pointer to entry qoff and the number of readable entries from there to the end of its
 * segment; NULL if its segment is missing. */
const uint8_t *rmq_store__cq_entries(rmq_cq_t *cq, int64_t qoff, int64_t *n, rmq_mfile_t **pin);
void rmq_store__cq_delete_below(rmq_store_t *s, int64_t cl_min);

/* index.c */
rmq_err_t rmq_store__index_load(rmq_store_t *s, bool clean_exit, int64_t *redispatch_from);
void rmq_store__index_close(rmq_store_t *s);
/* false when no index file could be created (no room): the keys were not indexed */
bool rmq_store__index_put(rmq_store_t *s, const rmq_msg_rec_t *r, int64_t phys);
void rmq_store__index_delete_below(rmq_store_t *s, int64_t cl_min);
void rmq_store__index_flush(rmq_store_t *s);

/* checkpoint */
rmq_err_t rmq_store__ckpt_load(rmq_store_t *s);
rmq_err_t rmq_store__ckpt_write(rmq_store_t *s);

/* reput.c */
rmq_err_t rmq_store__reput_start(rmq_store_t *s);
/* Stop the dispatcher thread (wakes it if it sleeps). */
void rmq_store__reput_stop(rmq_store_t *s);
/* Dispatch everything from reput_from up to the CommitLog end on this thread (recovery). */
void rmq_store__dispatch_until_end(rmq_store_t *s);
/* <root>/indexPending (reput.c): the first record whose keys still wait for the index when the
 * store last ran, -1 when none. */
int64_t rmq_store__index_pending_load(rmq_store_t *s);
/* Wake the dispatcher if it sleeps (after publishing a new max_offset with a seq_cst store).
 * seq_cst: that store and this load pair with the dispatcher's store of reput_waiting and its
 * re-read of max_offset (no lost wake-up; on x86 both loads are plain moves). The exchange makes
 * it one futex wake per sleep, not one per message, and no lock is taken. */
void rmq_store__reput_unpark(rmq_store_t *s);
static inline void rmq_store__reput_wake(rmq_store_t *s) {
    if (atomic_load(&s->reput_waiting) && atomic_exchange(&s->reput_waiting, 0))
        rmq_store__reput_unpark(s);
}
/* commitlog.c: write the staged records and publish them (put_mu held); false when the write
 * failed (the store refuses puts from then on). Queues their group-commit requests through
 * rmq_store__stage_commit, which takes put_mu itself. */
bool rmq_store__stage_write(rmq_store_t *s);
void rmq_store__stage_commit(rmq_store_t *s);
/* Whether the kicker's puts are staged: SYNC_FLUSH with a kicker (the broker's loop). */
static inline bool rmq_store__stages(rmq_store_t *s) {
    return s->cfg.flush_disk_type == RMQ_FLUSH_SYNC &&
           atomic_load_explicit(&s->has_kicker, memory_order_acquire);
}
/* Whether the calling thread is the store's kicker (rmq_store_kick_attach). */
static inline bool rmq_store__on_kicker(rmq_store_t *s) {
    return atomic_load_explicit(&s->has_kicker, memory_order_acquire) &&
           pthread_equal(pthread_self(), s->kicker);
}
/* After a put: wake the dispatcher, unless the putting thread is the store's kicker (its
 * rmq_store_kick wakes it once for all the puts of its loop iteration). */
static inline void rmq_store__put_wake(rmq_store_t *s) {
    if (!rmq_store__on_kicker(s)) rmq_store__reput_wake(s);
}
int64_t rmq_store__tags_code(const rmq_msg_rec_t *r);

/* repl.c: after publishing a new max offset (seq_cst store): wake an armed HA waiter. */
void rmq_store__notify(rmq_store_t *s);

/* clean.c */
rmq_err_t rmq_store__svc_start(rmq_store_t *s);
/* Retention pass. mode 0: the normal triggers (deleteWhen hour, disk ratio); 1: as if in the
 * deleteWhen hour (age still applies); 2: clean immediately (age ignored, as on a full disk).
 * now_ms is the wall clock to age files against (0 = now). Returns CommitLog segments deleted;
 * *blocked (if not NULL) tells whether it stopped at a segment a reader held. Tests call this
 * directly. */
int rmq_store__run_clean(rmq_store_t *s, int mode, int64_t now_ms, bool *blocked);
double rmq_store__disk_ratio(const char *path);
bool rmq_store__room_for(rmq_store_t *s, const char *dir, int64_t bytes, const char *what,
                         _Atomic bool *state);

#endif
