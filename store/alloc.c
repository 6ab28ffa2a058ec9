/* Allocate-ahead (store.md 6.5): a background thread creates the next CommitLog segment
 * (reserved with posix_fallocate, mapped, and with warmMapedFileEnable every page faulted in
 * writable) while the current one fills, so a roll-over finds a ready file and appends do not
 * wait on a fresh file's page faults. The file is offered as soon as it is mapped and warmed
 * afterwards (without changing its bytes), so an appender that catches up never waits for the
 * warm-up of a whole segment. One slot: after each roll the appender asks for the segment after the
 * new one. The prepared file already has its final name; if the process dies it is an empty segment
 * past the end, which recovery keeps (as the next segment) or deletes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
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

static void *alloc_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-alloc");
    /* background work: appenders and the dispatcher come first when cores are scarce (if the
     * warm-up falls behind, the appender simply faults the pages in itself) */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
        RMQ_LOG_DEBUG("store", "allocate-ahead thread keeps its priority");
    pthread_mutex_lock(&s->alloc_mu);
    while (!s->alloc_thr.stop) {
        if (s->alloc_want < 0 || s->alloc_ready) {
            pthread_cond_wait(&s->alloc_cv, &s->alloc_mu);
            continue;
        }
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
        bool warm = false;
        if (f) {
            if (s->alloc_thr.stop) {
                discard(f);
            } else {
                s->alloc_ready = f;
                warm = s->cfg.warm_mapped_file_enable;
                if (warm) rmq_mfile_pin(f);
            }
        }
        pthread_cond_broadcast(&s->alloc_cv);
        if (warm) {
            /* published first: an appender that needs it now takes it while it warms */
            s->alloc_warming = true;
            pthread_mutex_unlock(&s->alloc_mu);
            rmq_mfile_warm(f);
            rmq_mfile_unpin(f);
            pthread_mutex_lock(&s->alloc_mu);
            s->alloc_warming = false;
        }
    }
    discard(s->alloc_ready);
    s->alloc_ready = NULL;
    pthread_mutex_unlock(&s->alloc_mu);
    return NULL;
}

rmq_err_t rmq_store__alloc_start(rmq_store_t *s) {
    return rmq_store__thread_start(&s->alloc_thr, alloc_main, s, &s->alloc_mu, &s->alloc_cv);
}
