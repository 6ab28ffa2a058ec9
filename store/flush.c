/* CommitLog flushing (store.md 6.2, 6.3).
 *
 * ASYNC_FLUSH: every flushIntervalCommitLog ms flush when at least flushCommitLogLeastPages
 * dirty pages wait, and everything every flushCommitLogThoroughInterval ms.
 * SYNC_FLUSH: group commit. Puts append (done-callback, target offset) to a list under gc_mu and
 * signal; the flush thread swaps the list out, makes the whole written CommitLog durable with one
 * msync per touched segment (covering every waiting target, also across a segment roll), and
 * completes every request: RMQ_OK, or RMQ_ERR_FLUSH_DISK_TIMEOUT when it took longer than
 * syncFlushTimeout or the flush failed. Puts that arrive while a flush runs share the next one.
 * The broker loop's puts are staged and written with one pwrite per turn (commitlog.c
 * "staging"); their requests are queued after that write, all at once.
 *
 * msync(MS_SYNC) on the dirty range of a MAP_SHARED mapping writes the dirty pages and waits
 * like fdatasync restricted to that range (Linux calls vfs_fsync_range with datasync); store_bench
 * measures both raw. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

rmq_err_t rmq_store__flush_cl(rmq_store_t *s, int least_pages) {
    pthread_mutex_lock(&s->flush_mu);
    /* ts first: it belongs to a record at or before target, so the checkpoint never claims
     * more than is durable */
    int64_t ts = atomic_load(&s->last_store_ts);
    int64_t target = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    int64_t from = atomic_load(&s->flushed);
    rmq_err_t e = RMQ_OK;
    if (target <= from) goto out;
    if (least_pages > 0 && (target / 4096 - from / 4096) < least_pages) goto out;
    while (from < target) {
        rmq_mfile_t *f = rmq_mfq_find(&s->cl, from);
        if (!f) break;
        int64_t upto = RMQ_MIN(target - f->start, f->size);
        e = rmq_mfile_flush(f, upto);
        rmq_mfile_unpin(f);
        if (e != RMQ_OK) break;
        from = f->start + upto;
        if (upto == f->size) continue;
        break;
    }
    if (e != RMQ_OK && atomic_exchange(&s->writable, false))
        RMQ_LOG_ERROR("store", "CommitLog flush failed: the store refuses puts from now on "
                               "(data written so far stays readable)");
    if (e == RMQ_OK) {
        atomic_store(&s->flushed, target);
        if (least_pages == 0) {
            pthread_mutex_lock(&s->ckpt_mu);
            if (ts > s->ckpt.physic_ts) s->ckpt.physic_ts = ts;
            pthread_mutex_unlock(&s->ckpt_mu);
        }
    }
out:
    pthread_mutex_unlock(&s->flush_mu);
    return e;
}

rmq_gc_req_t rmq_store__gc_req(rmq_store_t *s, const rmq_store_put_result_t *r, rmq_store_put_cb cb,
                               void *arg) {
    return (rmq_gc_req_t){.target = r->phys_offset + r->wrote_bytes,
                          .deadline_ms = rmq_mono_ms() + (uint64_t)s->cfg.sync_flush_timeout,
                          .cb = cb,
                          .arg = arg,
                          .r = *r};
}

bool rmq_store__gc_enqueue(rmq_store_t *s, const rmq_gc_req_t *reqs, size_t n) {
    pthread_mutex_lock(&s->gc_mu);
    if (!s->flush_thr.running || s->flush_thr.stop) {
        pthread_mutex_unlock(&s->gc_mu);
        return false;
    }
    if (s->gc_wn + n > s->gc_wcap) {
        size_t nc = s->gc_wcap ? s->gc_wcap : 64;
        while (nc < s->gc_wn + n) nc *= 2;
        rmq_gc_req_t *nw = realloc(s->gc_w, nc * sizeof(*nw));
        if (!nw) {
            pthread_mutex_unlock(&s->gc_mu);
            return false;
        }
        s->gc_w = nw;
        s->gc_wcap = nc;
    }
    memcpy(s->gc_w + s->gc_wn, reqs, n * sizeof(*reqs));
    bool first = s->gc_wn == 0;
    s->gc_wn += n;
    if (first) pthread_cond_signal(&s->gc_cv);
    pthread_mutex_unlock(&s->gc_mu);
    return true;
}

/* Complete reqs after a flush that returned e: RMQ_OK for each it made durable, by its deadline
 * unless now is 0 (a flush on the caller's thread, which waited for nobody). */
static void gc_complete(rmq_store_t *s, rmq_gc_req_t *reqs, size_t n, rmq_err_t e, uint64_t now) {
    int64_t flushed = atomic_load(&s->flushed);
    for (size_t i = 0; i < n; i++) {
        rmq_gc_req_t *q = &reqs[i];
        bool ok = e == RMQ_OK && flushed >= q->target && (!now || now <= q->deadline_ms);
        q->cb(ok ? RMQ_OK : RMQ_ERR_FLUSH_DISK_TIMEOUT, &q->r, q->arg);
    }
}

void rmq_store__gc_flush_here(rmq_store_t *s, rmq_gc_req_t *reqs, size_t n) {
    gc_complete(s, reqs, n, rmq_store__flush_cl(s, 0), 0);
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms) {
    struct timespec ts = rmq_deadline_ts(CLOCK_MONOTONIC, ms > 0 ? (uint64_t)ms : 0);
    pthread_cond_timedwait(cv, mu, &ts);
}

static void group_commit_round(rmq_store_t *s) {
    pthread_mutex_lock(&s->gc_mu);
    if (s->gc_wn == 0 && !s->flush_thr.stop) timed_wait(&s->gc_cv, &s->gc_mu, 10);
    rmq_gc_req_t *r = s->gc_w;
    size_t n = s->gc_wn, cap = s->gc_wcap;
    s->gc_w = s->gc_r;
    s->gc_wcap = s->gc_rcap;
    s->gc_wn = 0;
    s->gc_r = r;
    s->gc_rcap = cap;
    pthread_mutex_unlock(&s->gc_mu);
    rmq_err_t e = rmq_store__flush_cl(s, 0);
    if (n) {
        atomic_fetch_add_explicit(&s->gc_rounds, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->gc_reqs, n, memory_order_relaxed);
    }
    gc_complete(s, r, n, e, rmq_mono_ms());
}

static void *flush_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-flush");
    s->last_thorough_ms = rmq_mono_ms();
    if (s->cfg.flush_disk_type == RMQ_FLUSH_SYNC) {
        for (;;) {
            pthread_mutex_lock(&s->gc_mu);
            bool stop = s->flush_thr.stop && s->gc_wn == 0;
            pthread_mutex_unlock(&s->gc_mu);
            if (stop) break;
            group_commit_round(s);
        }
    } else {
        for (;;) {
            pthread_mutex_lock(&s->gc_mu);
            if (!s->flush_thr.stop)
                timed_wait(&s->gc_cv, &s->gc_mu,
                           __atomic_load_n(&s->cfg.flush_interval_commitlog, __ATOMIC_RELAXED));
            bool stop = s->flush_thr.stop;
            pthread_mutex_unlock(&s->gc_mu);
            if (stop) break;
            uint64_t now = rmq_mono_ms();
            bool thorough =
                now - s->last_thorough_ms >= (uint64_t)s->cfg.flush_commitlog_thorough_interval;
            if (thorough) s->last_thorough_ms = now;
            rmq_store__flush_cl(s, thorough ? 0 : s->cfg.flush_commitlog_least_pages);
        }
    }
    rmq_store__flush_cl(s, 0);
    return NULL;
}

rmq_err_t rmq_store__flush_start(rmq_store_t *s) {
    return rmq_store__thread_start(&s->flush_thr, flush_main, s, &s->gc_mu, &s->gc_cv);
}
