/* Allocate-ahead (store.md 6.5): a background thread creates the next CommitLog segment
 * (reserved with posix_fallocate and mapped) while the current one fills, so a roll-over finds a
 * ready file. With warmMapedFileEnable the same thread also warms pages ahead of the appender
 * (without changing their bytes; see "Warm-up" below), so appends do not wait on page faults; an
 * appender that catches up faults the pages in itself and never waits for the warm-up. One slot:
 * after each roll the appender asks for the segment after the new one. The prepared file already
 * has its final name; if the process dies it is an empty segment past the end, which recovery
 * keeps (as the next segment) or deletes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

static rmq_err_t create_seg(rmq_store_t *s, int64_t start, rmq_mfile_t **out) {
    if (!rmq_store__room_for(s, s->cl_dir, s->cfg.mapped_file_size_commitlog, "CommitLog segment",
                             &s->cl_no_room))
        return RMQ_ERR__DISK_FULL;
    char path[4096], name[21];
    rmq_offset_name(name, start);
    snprintf(path, sizeof(path), "%s/%s", s->cl_dir, name);
    return rmq_mfile_create(path, start, s->cfg.mapped_file_size_commitlog, out);
}

static void discard(rmq_mfile_t *f) {
    if (!f) return;
    atomic_store(&f->unlink_on_free, true);
    rmq_mfile_unpin(f);
}

rmq_err_t rmq_store__alloc_take(rmq_store_t *s, int64_t start, rmq_mfile_t **out) {
    rmq_mfile_t *f = NULL;
    pthread_mutex_lock(&s->alloc_mu);
    /* never create a segment the allocator is creating too: wait for it */
    while (s->alloc_busy && s->alloc_busy_start == start)
        pthread_cond_wait(&s->alloc_cv, &s->alloc_mu);
    if (s->alloc_ready) {
        if (s->alloc_ready->start == start)
            f = s->alloc_ready;
        else
            discard(s->alloc_ready);
        s->alloc_ready = NULL;
    }
    if (s->alloc_want == start) s->alloc_want = -1; /* created here instead */
    pthread_mutex_unlock(&s->alloc_mu);
    if (!f) {
        rmq_err_t e = create_seg(s, start, &f);
        if (e != RMQ_OK) return e;
    }
    rmq_err_t e = rmq_mfq_add(&s->cl, f); /* takes f's creation reference */
    if (e != RMQ_OK) {
        discard(f);
        return e;
    }
    rmq_mfile_pin(f);
    pthread_mutex_lock(&s->alloc_mu);
    s->alloc_want = start + s->cfg.mapped_file_size_commitlog;
    pthread_cond_broadcast(&s->alloc_cv);
    pthread_mutex_unlock(&s->alloc_mu);
    *out = f;
    return RMQ_OK;
}

/* Warm-up, in two stages. Warming a page writable leaves it dirty (zeros until the appender
 * writes it), and the kernel writes a dirty page back once it is 30 s old
 * (dirty_expire_centisecs): a whole 1 GiB segment warmed writable at once came back as one
 * 1-1.5 GB burst of writeback that stalled every process on the host for 30-35 ms. So:
 * - fill: the pages of the rest of the current segment and of the next one are read into the
 *   page cache as soon as the segment exists (fallocated blocks read as zeros without disk I/O,
 *   and the pages stay clean). This is the expensive part (allocating and zeroing the pages,
 *   and on a VM the first touch of guest memory), done well ahead and under no lock.
 * - window: pages are faulted in writable only WARM_AHEAD ahead of the appender, refilled in
 *   WARM_REFILL turns (a page-cache hit each, ~1 us a page): they stay zero-and-dirty briefly
 *   and are flushed with their data.
 * The window comes first, then the fill, one WARM_REFILL at a time, so a segment to create
 * never waits long. */
#define WARM_AHEAD (64LL << 20)
#define WARM_REFILL (8LL << 20)

static int64_t write_pos(rmq_store_t *s) {
    return atomic_load(&s->replica) ? atomic_load(&s->repl_end) : atomic_load(&s->max_offset);
}

/* SYNC_FLUSH: every group commit msyncs a few pages (~128 KB at 150k msgs/s), and writeback
 * writes each folio it touches whole: with the 2 MiB folios of read-ahead, each msync wrote
 * ~2.1 MB to disk (17x the data; perf trace and /proc/diskstats on an async-256 run). ASYNC_FLUSH
 * flushes large ranges every 500 ms, where large folios mean fewer writebacks and TLB flushes. */
static bool small_folios(const rmq_store_t *s) {
    return s->cfg.flush_disk_type == RMQ_FLUSH_SYNC;
}

void rmq_store__warm_kick_slow(rmq_store_t *s) {
    atomic_store_explicit(&s->warm_kick_at, INT64_MAX, memory_order_relaxed);
    pthread_mutex_lock(&s->alloc_mu);
    pthread_cond_broadcast(&s->alloc_cv);
    pthread_mutex_unlock(&s->alloc_mu);
}

/* Warm [*at, goal) of the segment holding *at, at most WARM_REFILL, writable or into the page
 * cache only, and advance *at (alloc_mu held, released meanwhile). False when no segment holds
 * *at yet (the roll that asks for it wakes the allocator). */
static bool warm_step(rmq_store_t *s, int64_t *at, int64_t goal, bool writable) {
    rmq_mfile_t *f = s->alloc_ready;
    if (f && f->start <= *at && *at < f->start + f->size)
        rmq_mfile_pin(f); /* it may be taken or discarded meanwhile */
    else
        f = NULL;
    int64_t from = *at;
    pthread_mutex_unlock(&s->alloc_mu);
    if (!f) f = rmq_mfq_find(&s->cl, from);
    int64_t to = from;
    if (f) {
        to = RMQ_MIN(RMQ_MIN(f->start + f->size, from + WARM_REFILL), goal);
        /* what the fill has not read in yet, outside the mmap lock first */
        int64_t unread = writable ? RMQ_MAX(from, s->fill_to) : from;
        if (unread < to) rmq_mfile_prefetch(f, unread - f->start, to - f->start, small_folios(s));
        /* not reserved: appends reserve it first; staged records are written with pwrite,
         * which needs the pages cached, not mapped writable (commitlog.c "staging") */
        if (writable && !atomic_load(&f->sparse) && !rmq_store__stages(s))
            rmq_mfile_warm(f, from - f->start, to - f->start);
        rmq_mfile_unpin(f);
    }
    pthread_mutex_lock(&s->alloc_mu);
    if (to > *at) *at = to;
    return f != NULL;
}

/* One warm-up turn (alloc_mu held): true if it warmed something. */
static bool warm_turn(rmq_store_t *s) {
    int64_t pos = write_pos(s);
    /* cut back below the window (segments dropped and made anew, as a replica's can be): the
     * files there are new, start over */
    if (s->warm_to > pos + WARM_AHEAD + WARM_REFILL) s->warm_to = s->fill_to = pos;
    if (s->warm_to < pos) s->warm_to = pos; /* never behind the appender */
    if (s->fill_to < s->warm_to) s->fill_to = s->warm_to;
    if (s->warm_to < pos + WARM_AHEAD) {
        if (warm_step(s, &s->warm_to, pos + WARM_AHEAD, true)) return true;
        /* no segment there yet (nor to fill): the roll or the allocation that makes one wakes
         * this thread, not the appender */
        atomic_store(&s->warm_kick_at, INT64_MAX);
        return false;
    }
    if (warm_step(s, &s->fill_to, INT64_MAX, false)) return true;
    /* wake again when the appender has used WARM_REFILL of the window (past pos: no spin) */
    int64_t kick = s->warm_to - WARM_AHEAD + WARM_REFILL;
    atomic_store(&s->warm_kick_at, kick);
    return write_pos(s) >= kick; /* passed it meanwhile */
}

static void *alloc_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-alloc");
    /* background work: appenders and the dispatcher come first when cores are scarce (if the
     * warm-up falls behind, the appender simply faults the pages in itself) */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
        RMQ_LOG_DEBUG("store", "allocate-ahead thread keeps its priority");
    pthread_mutex_lock(&s->alloc_mu);
    while (!s->alloc_thr.stop) {
        if (s->alloc_want >= 0 && !s->alloc_ready) {
            int64_t want = s->alloc_want;
            s->alloc_busy = true;
            s->alloc_busy_start = want;
            pthread_mutex_unlock(&s->alloc_mu);
            rmq_mfile_t *f = NULL;
            rmq_err_t e = create_seg(s, want, &f);
            if (e != RMQ_OK && e != RMQ_ERR__DISK_FULL) /* no room: logged once by room_for */
                RMQ_LOG_WARN("store", "allocate-ahead of segment %" PRId64 " failed: %s", want,
                             rmq_strerror(e));
            pthread_mutex_lock(&s->alloc_mu);
            s->alloc_busy = false;
            if (s->alloc_want == want) s->alloc_want = -1;
            if (f && s->alloc_thr.stop)
                discard(f);
            else if (f)
                s->alloc_ready = f;
            pthread_cond_broadcast(&s->alloc_cv);
            continue;
        }
        if (s->cfg.warm_mapped_file_enable && warm_turn(s)) continue;
        s->alloc_idle = true;
        pthread_cond_wait(&s->alloc_cv, &s->alloc_mu);
        s->alloc_idle = false;
    }
    discard(s->alloc_ready);
    s->alloc_ready = NULL;
    pthread_mutex_unlock(&s->alloc_mu);
    return NULL;
}

rmq_err_t rmq_store__alloc_start(rmq_store_t *s) {
    return rmq_store__thread_start(&s->alloc_thr, alloc_main, s, &s->alloc_mu, &s->alloc_cv);
}
