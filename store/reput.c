/* The dispatcher ("reput", store.md 6.6): reads the CommitLog from reput_from up to the published
 * write position (only complete records), appends ConsumeQueue entries (NOT_TYPE and COMMIT
 * records) and IndexFile keys, then calls the arrive callback. It is woken by appends at every
 * rate, never by a clock: it dispatches while records keep coming and sleeps (on a futex) only
 * once it has caught up; the first put after that wakes it (a flag exchanged, so one wake-up
 * per sleep, nothing while it is awake). A thread that puts many records per turn
 * (the broker's loop) defers that wake-up to one rmq_store_kick per turn, so a busy appender pays
 * at most one futex wake per loop iteration, not one per record (see reput_main); a turn of few
 * records the kick dispatches itself, and the dispatcher sleeps on (kick_inline). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

/* Delay levels of messageDelayLevel's default "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m
 * 30m 1h 2h", in ms. */
static const int64_t delay_ms[] = {1000,   5000,   10000,   30000,   60000,   120000,
                                   180000, 240000, 300000,  360000,  420000,  480000,
                                   540000, 600000, 1200000, 1800000, 3600000, 7200000};

int64_t rmq_store__tags_code(const rmq_msg_rec_t *r) {
    size_t vl;
    if (r->topic_len == (int32_t)strlen(RMQ_SCHEDULE_TOPIC) &&
        !memcmp(r->topic, RMQ_SCHEDULE_TOPIC, (size_t)r->topic_len)) {
        char lv[16];
        int64_t level;
        if (rmq_msg_prop_copy(r->props, (size_t)r->props_len, RMQ_PROP_DELAY, lv, sizeof(lv)) &&
            rmq_parse_i64(lv, &level) == 0 && level > 0) {
            int n = (int)RMQ_ARRAY_LEN(delay_ms);
            if (level > n) level = n;
            return r->store_ts + delay_ms[level - 1];
        }
    }
    const char *t = rmq_msg_prop_get(r->props, (size_t)r->props_len, RMQ_PROP_TAGS, &vl);
    return t ? rmq_msg_tags_code(t, vl) : 0;
}

/* The dispatcher's last queue: consecutive records mostly go to the same one. Deleted queues are
 * kept (graveyard) until close, so the pointer stays valid; its deleted flag forces a look-up.
 * Only one dispatcher runs at a time (recovery, then the reput thread, then close). */
static rmq_cq_t *cq_for(rmq_store_t *s, const rmq_msg_rec_t *r) {
    rmq_cq_t *cq = s->disp_cq;
    if (cq && cq->qid == r->queue_id && !atomic_load(&cq->deleted) &&
        !strncmp(cq->topic, r->topic, (size_t)r->topic_len) && !cq->topic[r->topic_len])
        return cq;
    cq = rmq_store__cq_get(s, r->topic, (size_t)r->topic_len, r->queue_id, true);
    s->disp_cq = cq;
    return cq;
}

/* ---------- keys that wait for the index, across restarts ----------
 * <root>/indexPending holds idx_pending (the first record whose keys are not indexed) while
 * keys wait, so a clean restart indexes them too instead of forgetting them (dispatch after a
 * clean stop starts past them). Written on each change (a few bytes, tmp + fsync + rename; the
 * store keeps a headroom, so it fits on a full disk), removed once they are all indexed. */

static void pending_path(const rmq_store_t *s, char *out, size_t n) {
    snprintf(out, n, "%s/indexPending", s->root);
}

static void pending_save(rmq_store_t *s, int64_t from) {
    if (from == s->idx_pending_saved) return;
    char path[4200], tmp[4210], text[32];
    pending_path(s, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text, "%" PRId64 "\n", from);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    int err = errno;
    if (fd >= 0) close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (ok) {
        s->idx_pending_saved = from;
    } else if (s->idx_pending_saved != -2) { /* once per failure run */
        RMQ_LOG_WARN("store", "cannot record in %s that keys from %" PRId64 " wait: %s", path, from,
                     strerror(err ? err : errno));
        s->idx_pending_saved = -2;
    }
}

static void pending_clear(rmq_store_t *s) {
    char path[4200];
    pending_path(s, path, sizeof path);
    if (unlink(path) == 0 || errno == ENOENT) s->idx_pending_saved = -1;
}

int64_t rmq_store__index_pending_load(rmq_store_t *s) {
    char path[4200], text[32] = "";
    pending_path(s, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int64_t v = -1;
    if (!fgets(text, sizeof text, f) || (text[strcspn(text, "\n")] = 0, rmq_parse_i64(text, &v)) ||
        v < 0)
        v = -1;
    fclose(f);
    if (v < 0)
        RMQ_LOG_WARN("store", "%s unreadable: ignored", path);
    else
        s->idx_pending_saved = v;
    return v;
}

/* false when the ConsumeQueue entry could not be written (disk full): the record is retried on
 * the next round and puts are refused meanwhile (RocketMQ's logic-queue error). */
static bool dispatch(rmq_store_t *s, const rmq_msg_rec_t *r, int64_t phys, int64_t size) {
    int txn = r->sysflag & RMQ_SYSFLAG_TXN_MASK;
    if (txn == RMQ_SYSFLAG_TXN_NOT || txn == RMQ_SYSFLAG_TXN_COMMIT) {
        rmq_cq_t *cq = cq_for(s, r);
        int64_t tags = rmq_store__tags_code(r);
        if (!cq || rmq_store__cq_put(s, cq, phys, (int32_t)size, tags, r->queue_offset) != RMQ_OK) {
            if (!atomic_exchange(&s->cq_error, true))
                RMQ_LOG_ERROR("store",
                              "ConsumeQueue %.*s/%d: cannot write the entry for %" PRId64
                              ": puts refused until it can",
                              (int)r->topic_len, r->topic, r->queue_id, phys);
            return false;
        }
        if (atomic_exchange(&s->cq_error, false))
            RMQ_LOG_INFO("store", "ConsumeQueue writes work again: puts accepted");
        if (s->arrive_cb && r->topic_len < 256) {
            char topic[256];
            memcpy(topic, r->topic, (size_t)r->topic_len);
            topic[r->topic_len] = '\0';
            s->arrive_cb(topic, r->queue_id, r->queue_offset, tags, s->arrive_arg);
        }
        atomic_store(&s->logics_ts, r->store_ts);
    }
    /* an index that cannot grow (disk full) never stalls the ConsumeQueues: its keys wait from
     * idx_pending on and are indexed, in order, once an index file fits again */
    if (s->idx_pending < 0 && !rmq_store__index_put(s, r, phys)) {
        s->idx_pending = phys;
        s->idx_retry_ms = rmq_mono_ms() + 1000;
        pending_save(s, phys);
    }
    return true;
}

/* Index the keys of [idx_pending, reput_from) in CommitLog order, once an index file fits. */
static void index_catch_up(rmq_store_t *s) {
    uint64_t now = rmq_mono_ms();
    if (now < s->idx_retry_ms) return;
    s->idx_retry_ms = now + 1000;
    int64_t from = s->idx_pending, end = atomic_load(&s->reput_from), n = 0;
    int64_t cl_min = rmq_mfq_min(&s->cl);
    if (from < cl_min) from = cl_min;
    while (from < end) {
        int64_t je = rmq_store__skip_end(s, from);
        if (je >= 0) {
            from = je;
            continue;
        }
        rmq_mfile_t *f = rmq_mfq_find(&s->cl, from);
        if (!f) break;
        int64_t pos = from - f->start;
        rmq_msg_rec_t r;
        int64_t rc = rmq_msg_rec_decode(
            f->base + pos, (size_t)(RMQ_MIN(end, f->start + f->size) - from), false, &r);
        bool ok = true;
        if (rc > 0) ok = rmq_store__index_put(s, &r, from);
        int64_t next = rc > 0 ? from + rc : f->start + f->size; /* BLANK or unreadable */
        rmq_mfile_unpin(f);
        if (!ok) {
            s->idx_pending = from;
            pending_save(s, from);
            return; /* still no room: next try in a second */
        }
        n++;
        from = next;
    }
    s->idx_pending = -1;
    pending_clear(s);
    RMQ_LOG_INFO("store", "index catches up: keys of %" PRId64 " records that waited indexed", n);
}

/* One pass up to the current end; returns the number of records dispatched. */
static int64_t dispatch_round(rmq_store_t *s) {
    if (s->idx_pending >= 0) index_catch_up(s);
    int64_t from = atomic_load(&s->reput_from);
    int64_t end = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    int64_t any = 0;
    bool stalled = false;
    int64_t cl_min = rmq_mfq_min(&s->cl);
    if (cl_min > from) from = cl_min;
    while (from < end) {
        rmq_mfile_t *f = rmq_mfq_find(&s->cl, from);
        if (!f) {
            RMQ_LOG_WARN("store", "dispatch: no segment holds offset %" PRId64, from);
            break;
        }
        int64_t readable =
            RMQ_MIN(atomic_load_explicit(&f->wrote, memory_order_acquire), end - f->start);
        int64_t pos = from - f->start, jump = -1;
        while (pos < readable) {
            { /* a quarantined range: no entry, go past it */
                int64_t je = rmq_store__skip_end(s, f->start + pos);
                if (je >= f->start + f->size) {
                    pos = f->size;
                    jump = je;
                    break;
                }
                if (je >= 0) {
                    pos = je - f->start;
                    continue;
                }
            }
            rmq_msg_rec_t r;
            int64_t rc = rmq_msg_rec_decode(f->base + pos, (size_t)(readable - pos), false, &r);
            if (rc == 0) {
                pos = f->size;
                break;
            }
            if (rc < 0) {
                int64_t L = (int32_t)rmq_get_be32(f->base + pos);
                if (L >= 91 && pos + L <= readable) {
                    RMQ_LOG_ERROR("store",
                                  "[BUG] dispatch: bad record at %" PRId64
                                  ", skipped by its length %" PRId64,
                                  f->start + pos, L);
                    pos += L;
                } else {
                    RMQ_LOG_ERROR("store",
                                  "[BUG] dispatch: unreadable record at %" PRId64
                                  ", skipping to %" PRId64,
                                  f->start + pos, f->start + readable);
                    pos = readable;
                }
                continue;
            }
            if (!dispatch(s, &r, f->start + pos, rc)) {
                stalled = true;
                break;
            }
            pos += rc;
            any++;
        }
        from = jump >= 0 ? jump : f->start + pos;
        rmq_mfile_unpin(f);
        atomic_store(&s->reput_from, from);
        if (stalled || pos < f->size) break; /* end of what is readable */
    }
    if (from > atomic_load(&s->reput_from)) atomic_store(&s->reput_from, from);
    return any;
}

void rmq_store__dispatch_until_end(rmq_store_t *s) {
    pthread_mutex_lock(&s->disp_mu);
    while (atomic_load(&s->reput_from) < atomic_load(&s->max_offset))
        if (!dispatch_round(s)) {
            if (atomic_load(&s->reput_from) < atomic_load(&s->max_offset)) {
                /* nothing readable at reput_from: never loop forever */
                RMQ_LOG_WARN("store", "dispatch stalled at %" PRId64,
                             (int64_t)atomic_load(&s->reput_from));
            }
            break;
        }
    pthread_mutex_unlock(&s->disp_mu);
}

/* Woken by appends at every rate: after a round that dispatched something it looks again at
 * once (more may have come meanwhile); once caught up it arms reput_waiting and sleeps until a
 * put (rmq_store__put_wake) or the kicker's rmq_store_kick wakes it, at most reput_net_ms (1 s)
 * as a safety net. A held pull learns of a message in the wake-up that dispatches it.
 * No polling clock: a wake-up per record used to cost an async sender at ~100k msgs/s a quarter
 * of its rate (the dispatcher, faster than the appender, slept after every record), which the
 * old code answered with a 1 ms poll above 20k records/s; deferring the broker loop's wake-ups
 * to one kick per loop iteration bounds them by the loop's iterations instead. A published end
 * that is not readable (a stall: a bug or a missing segment, logged) is retried every 10 ms. */
#define REPUT_NET_MS 1000
#define REPUT_STALL_US 10000
#define REPUT_CQ_RETRY_US 100000

/* Sleep while reput_waiting is 1, at most ms: a futex on Linux (a waker pays one syscall and
 * takes no lock, so the woken dispatcher never blocks again on a lock its waker holds), else the
 * condition variable. */
static void park(rmq_store_t *s, int ms) {
#ifdef __linux__
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    syscall(SYS_futex, &s->reput_waiting, FUTEX_WAIT_PRIVATE, 1u, &ts, NULL, 0);
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (int64_t)(ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&s->reput_mu);
    if (atomic_load(&s->reput_waiting)) pthread_cond_timedwait(&s->reput_cv, &s->reput_mu, &ts);
    pthread_mutex_unlock(&s->reput_mu);
#endif
}

/* After reput_waiting went 1 -> 0 (rmq_store__reput_wake). */
void rmq_store__reput_unpark(rmq_store_t *s) {
#ifdef __linux__
    syscall(SYS_futex, &s->reput_waiting, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    pthread_mutex_lock(&s->reput_mu);
    pthread_cond_signal(&s->reput_cv);
    pthread_mutex_unlock(&s->reput_mu);
#endif
}

/* Sleep until a put or a kick wakes it (or ms pass), unless a record came meanwhile. seq_cst
 * store, then loads: see rmq_store__reput_wake and rmq_store__reput_stop. */
static void sleep_caught_up(rmq_store_t *s, int ms) {
    atomic_store(&s->reput_waiting, 1);
    if (!atomic_load(&s->reput_stop) &&
        atomic_load(&s->reput_from) >= atomic_load(&s->max_offset)) {
        atomic_store_explicit(&s->reput_parked, true, memory_order_relaxed);
        park(s, ms);
        atomic_store_explicit(&s->reput_parked, false, memory_order_relaxed);
    }
    atomic_store(&s->reput_waiting, 0);
}

static void *reput_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-reput");
    for (;;) {
        pthread_mutex_lock(&s->disp_mu);
        int64_t n = dispatch_round(s);
        pthread_mutex_unlock(&s->disp_mu);
        if (atomic_load(&s->reput_stop)) break;
        if (atomic_load(&s->cq_error)) { /* retry a failed ConsumeQueue write 10 times a second */
            usleep(REPUT_CQ_RETRY_US);
            continue;
        }
        if (n > 0) continue;
        if (atomic_load(&s->reput_from) < atomic_load(&s->max_offset)) {
            usleep(REPUT_STALL_US); /* stalled short of the end: not a reason to spin */
            continue;
        }
        sleep_caught_up(s, s->reput_net_ms > 0 ? s->reput_net_ms : REPUT_NET_MS);
    }
    return NULL;
}

void rmq_store__reput_stop(rmq_store_t *s) {
    atomic_store(&s->reput_stop, true);
    atomic_store(&s->reput_waiting, 0);
    rmq_store__reput_unpark(s);
    rmq_store__thread_stop(&s->reput_thr);
}

void rmq_store_kick_attach(rmq_store_t *s) {
    s->kicker = pthread_self();
    atomic_store_explicit(&s->has_kicker, true, memory_order_release);
}

/* A sleeping dispatcher costs the kicker a futex wake and then, on two vCPUs, a thread that
 * competes for the CPU the next reply needs; a held pull learns of the record only after a
 * second hop (arrive posts back to the loop). A few records per turn the kicker dispatches
 * itself: one sync send or e2e message per turn pays no wake-up at all, and a held pull is
 * answered in the turn that stored its message. The dispatcher keeps larger turns (an async
 * sender's batches) off the loop, and everything while it is awake, retrying a failed
 * ConsumeQueue write or holding keys for the index (a full disk: fsyncs). A replica's records
 * come from its replication thread, which wakes the dispatcher itself. */
static bool kick_inline(rmq_store_t *s, int64_t backlog) {
    if (backlog > RMQ_STORE_KICK_INLINE || atomic_load(&s->replica) || atomic_load(&s->cq_error) ||
        pthread_mutex_trylock(&s->disp_mu))
        return false;
    if (s->idx_pending < 0) dispatch_round(s);
    pthread_mutex_unlock(&s->disp_mu);
    return atomic_load(&s->reput_from) >= atomic_load(&s->max_offset);
}

void rmq_store_kick(rmq_store_t *s) {
    if (rmq_store__stages(s)) rmq_store__stage_commit(s); /* the turn's staged records */
    /* seq_cst load after the puts' seq_cst stores of max_offset: see rmq_store__reput_wake. A
     * sleeping dispatcher with nothing new (an idle loop iteration) is left asleep. */
    if (!atomic_load(&s->reput_waiting)) return;
    int64_t backlog = atomic_load_explicit(&s->max_offset, memory_order_relaxed) -
                      atomic_load_explicit(&s->reput_from, memory_order_relaxed);
    if (backlog > 0 && !kick_inline(s, backlog)) rmq_store__reput_wake(s);
}

rmq_err_t rmq_store__reput_start(rmq_store_t *s) {
    return rmq_store__thread_start(&s->reput_thr, reput_main, s, &s->reput_mu, &s->reput_cv);
}
