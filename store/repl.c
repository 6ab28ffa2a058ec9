/* The store's side of replication (broker.md 9.2, store.md 1.3): what the HA transport
 * (broker/ha) reads on a master and appends on a slave. No sockets here.
 *
 * Master read: a slice of committed bytes borrowed from the segment mapping (pinned the way a
 * pull pins it), up to the readable end of that segment and at most the batch size, so a frame
 * never crosses a segment boundary and a blank end-of-segment region travels as stored.
 *
 * Slave append: the bytes are copied into the mapping at the replication offset (repl_end)
 * under the put lock; then the records that became complete are walked (TOTALSIZE, magic, the
 * stored physical offset must equal the position) and max_offset is published only up to the
 * end of the last complete one. So everything that reads up to max_offset (the dispatcher,
 * pulls, flush, recovery's notion of the end) sees whole records only, and a partial record's
 * bytes wait in the mapping, past max_offset, for the rest. A blank record counts as complete
 * once the whole segment tail has arrived. After a restart recovery finds the end of the last
 * complete record and the slave resumes from there (the partial bytes are zeroed as a torn
 * tail). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

#define READAHEAD (1 << 20) /* master reads: kernel read-ahead window */
#define REC_MIN 20          /* below this a TOTALSIZE cannot be a message record */

int rmq_store_notify_fd(rmq_store_t *s) {
    return s->notify_fd;
}

/* seq_cst pairs: the waiter stores armed and then loads max_offset; the appender stores
 * max_offset and then loads armed. One of them sees the other's store: no lost wake-up. */
void rmq_store_notify_arm(rmq_store_t *s) {
    atomic_store(&s->notify_armed, true);
}

void rmq_store__notify(rmq_store_t *s) {
    if (atomic_load(&s->notify_armed) && atomic_exchange(&s->notify_armed, false)) {
        uint64_t one = 1;
        if (write(s->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            RMQ_LOG_WARN("store", "append notifier: %s", strerror(errno));
    }
}

void rmq_store_notify_drain(rmq_store_t *s) {
    uint64_t v;
    while (read(s->notify_fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
}

rmq_err_t rmq_store_cl_read(rmq_store_t *s, int64_t offset, size_t max, rmq_store_cl_slice_t *out) {
    memset(out, 0, sizeof(*out));
    out->offset = offset;
    int64_t end = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    if (offset > end || offset < 0) return RMQ_ERR__NOT_FOUND;
    if (offset == end) return RMQ_OK;
    rmq_mfile_t *f = rmq_mfq_find(&s->cl, offset);
    if (!f) return RMQ_ERR__NOT_FOUND; /* below the min offset: removed by retention */
    int64_t readable =
        RMQ_MIN(atomic_load_explicit(&f->wrote, memory_order_acquire), end - f->start);
    int64_t pos = offset - f->start;
    if (readable <= pos) {
        rmq_mfile_unpin(f);
        return RMQ_OK;
    }
    int64_t n = readable - pos;
    if (max && (int64_t)max < n) n = (int64_t)max;
    if ((pos + n) / READAHEAD != pos / READAHEAD) {
        /* a slave catching up reads history that may be cold: ask the kernel to read the next
         * window ahead, so the HA loop's socket write does not wait on the disk page by page */
        int64_t a = (pos + n) & ~(int64_t)4095;
        int64_t l = RMQ_MIN(2 * READAHEAD, f->size - a);
        if (l > 0) (void)madvise(f->base + a, (size_t)l, MADV_WILLNEED);
    }
    out->data = f->base + pos;
    out->len = (size_t)n;
    out->pin_ = f;
    return RMQ_OK;
}

void rmq_store_cl_slice_release(rmq_store_cl_slice_t *sl) {
    if (!sl || !sl->pin_) return;
    rmq_mfile_unpin(sl->pin_);
    sl->pin_ = NULL;
    sl->data = NULL;
}

int64_t rmq_store_cl_last_segment_start(rmq_store_t *s) {
    int64_t m = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    return m - m % s->cfg.mapped_file_size_commitlog;
}

int64_t rmq_store_cl_repl_offset(rmq_store_t *s) {
    if (atomic_load(&s->replica)) return atomic_load(&s->repl_end);
    return atomic_load_explicit(&s->max_offset, memory_order_acquire);
}

int64_t rmq_store_cl_store_time(rmq_store_t *s, int64_t phys_offset) {
    return rmq_store__read_store_ts(s, phys_offset);
}

int64_t rmq_store_cl_last_store_time(rmq_store_t *s) {
    return atomic_load(&s->last_store_ts);
}

static int64_t rec_store_ts(const uint8_t *p) {
    uint32_t sysflag = rmq_get_be32(p + 36);
    return (int64_t)rmq_get_be64(p + ((sysflag & RMQ_SYSFLAG_BORNHOST_V6) ? 68 : 56));
}

/* The segment holding offset for a raw append (put lock held): the current one, the loaded one
 * holding it, or a new one when offset starts a segment. Returns it pinned in s->cur. */
static rmq_err_t seg_at(rmq_store_t *s, int64_t offset, rmq_mfile_t **out) {
    rmq_mfile_t *f = s->cur;
    if (f && f->start <= offset && offset < f->start + f->size) {
        *out = f;
        return RMQ_OK;
    }
    f = rmq_mfq_find(&s->cl, offset);
    if (!f) {
        if (offset % s->cfg.mapped_file_size_commitlog != 0) return RMQ_ERR__INVALID_ARG;
        rmq_err_t e = rmq_store__alloc_take(s, offset, &f);
        if (e != RMQ_OK) return e;
    }
    rmq_mfile_unpin(s->cur);
    s->cur = f;
    *out = f;
    return RMQ_OK;
}

/* Checks and segment for a raw append of len bytes at offset (put lock held; len 0: no size
 * check). A new slave's first offset starts the log. *max gets the published max offset. */
static rmq_err_t prepare_at(rmq_store_t *s, int64_t offset, size_t len, int64_t *maxp,
                            rmq_mfile_t **out) {
    int64_t segsz = s->cfg.mapped_file_size_commitlog;
    if (!atomic_load(&s->writable) || atomic_load(&s->disk_full))
        return RMQ_ERR_SERVICE_NOT_AVAILABLE;
    int64_t max = atomic_load(&s->max_offset);
    int64_t repl = atomic_load(&s->replica) ? atomic_load(&s->repl_end) : max;
    bool empty = max == 0 && repl == 0; /* no data (maybe empty segments left by a crash) */
    if (offset != repl && !(empty && offset >= 0 && offset % segsz == 0)) {
        RMQ_LOG_WARN("store",
                     "replica append at %" PRId64 " refused: the CommitLog ends at %" PRId64 "%s",
                     offset, repl, empty ? " (empty: needs a segment-aligned offset)" : "");
        return RMQ_ERR__INVALID_ARG;
    }
    if (len && offset / segsz != (offset + (int64_t)len - 1) / segsz) {
        RMQ_LOG_WARN("store",
                     "replica append [%" PRId64 ", %" PRId64 ") refused: crosses a %" PRId64
                     "-byte segment boundary",
                     offset, offset + (int64_t)len, segsz);
        return RMQ_ERR__INVALID_ARG;
    }
    if (empty && offset != max) {
        /* a new slave starting at its master's last segment: the log begins here; empty
         * segments below it (allocated ahead before a crash) go */
        if (rmq_mfq_count(&s->cl)) {
            RMQ_LOG_INFO("store",
                         "replica starts at %" PRId64 ": removing the empty segments "
                         "before it",
                         offset);
            rmq_mfile_unpin(s->cur);
            s->cur = NULL;
            rmq_mfq_drop_from(&s->cl, INT64_MIN);
        }
        atomic_store(&s->max_offset, offset);
        atomic_store(&s->flushed, offset);
        atomic_store(&s->reput_from, offset);
        max = offset;
    }
    *maxp = max;
    rmq_err_t e = seg_at(s, offset, out);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("store", "replica append at %" PRId64 ": no CommitLog segment (%s)", offset,
                      rmq_strerror(e));
        return e == RMQ_ERR__INVALID_ARG ? e : RMQ_ERR_SERVICE_NOT_AVAILABLE;
    }
    return RMQ_OK;
}

rmq_err_t rmq_store_cl_append_buf(rmq_store_t *s, int64_t offset, uint8_t **buf, size_t *room) {
    pthread_mutex_lock(&s->put_mu);
    int64_t max;
    rmq_mfile_t *f;
    rmq_err_t e = prepare_at(s, offset, 0, &max, &f);
    if (e == RMQ_OK) {
        *buf = f->base + (offset - f->start);
        *room = (size_t)(f->start + f->size - offset);
    }
    pthread_mutex_unlock(&s->put_mu);
    return e;
}

rmq_err_t rmq_store_cl_append(rmq_store_t *s, int64_t offset, const void *data, size_t len) {
    if (len == 0) {
        int64_t repl = rmq_store_cl_repl_offset(s);
        return offset == repl || repl == 0 ? RMQ_OK : RMQ_ERR__INVALID_ARG;
    }
    pthread_mutex_lock(&s->put_mu);
    int64_t max;
    rmq_mfile_t *f;
    rmq_err_t e = prepare_at(s, offset, len, &max, &f);
    if (e != RMQ_OK) {
        pthread_mutex_unlock(&s->put_mu);
        return e;
    }
    int64_t pos = offset - f->start;
    /* pwrite, not memcpy into the mapping: the page cache is the same (the mapping sees the
     * bytes), but whole pages written by the kernel need no zero-fill fault first */
    for (size_t done = f->base + pos == data ? len : 0; done < len;) { /* in place: no copy */
        ssize_t w = pwrite(f->fd, (const uint8_t *)data + done, len - done, (off_t)(pos + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            pthread_mutex_unlock(&s->put_mu);
            RMQ_LOG_ERROR("store", "replica append: write %s at %" PRId64 ": %s", f->path,
                          pos + (int64_t)done, w < 0 ? strerror(errno) : "short write");
            return RMQ_ERR__IO;
        }
        done += (size_t)w;
    }
    int64_t wend = pos + (int64_t)len; /* bytes present in f */

    /* walk the records that are complete now, from the published end */
    int64_t c = max - f->start, last_ts = -1;
    uint64_t nrec = 0;
    const char *bad = NULL;
    if (c < 0) c = 0; /* max is the end of the previous (full) segment */
    while (wend - c >= 8) {
        const uint8_t *p = f->base + c;
        int64_t L = (int32_t)rmq_get_be32(p);
        int32_t magic = (int32_t)rmq_get_be32(p + 4);
        if (magic == RMQ_MSG_MAGIC_BLANK) {
            if (L != f->size - c) {
                bad = "blank record of the wrong length";
                break;
            }
            if (wend == f->size) c = f->size;
            break;
        }
        if (magic != RMQ_MSG_MAGIC_V1 && magic != RMQ_MSG_MAGIC_V2) {
            bad = "bad magic code";
            break;
        }
        if (L < REC_MIN || c + L > f->size) {
            bad = "bad record length";
            break;
        }
        if (c + L > wend) break; /* the rest comes later */
        if ((int64_t)rmq_get_be64(p + 28) != f->start + c) {
            bad = "stored physical offset differs from the position";
            break;
        }
        last_ts = rec_store_ts(p);
        c += L;
        nrec++;
    }
    if (bad) {
        int64_t at = f->start + c;
        pthread_mutex_unlock(&s->put_mu);
        RMQ_LOG_WARN("store", "replica append [%" PRId64 ", %" PRId64 ") refused: %s at %" PRId64,
                     offset, offset + (int64_t)len, bad, at);
        return RMQ_ERR__CORRUPT;
    }
    int64_t new_max = RMQ_MAX(max, f->start + c);
    atomic_store(&s->replica, true);
    atomic_store_explicit(&f->wrote, RMQ_MAX(atomic_load(&f->wrote), wend), memory_order_release);
    atomic_store(&s->repl_end, f->start + wend);
    if (last_ts > atomic_load(&s->last_store_ts)) atomic_store(&s->last_store_ts, last_ts);
    atomic_store(&s->max_offset, new_max); /* seq_cst: see rmq_store__reput_wake */
    pthread_mutex_unlock(&s->put_mu);
    rmq_store__warm_kick(s, f->start + wend);
    atomic_fetch_add_explicit(&s->put_count, nrec, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->put_bytes, len, memory_order_relaxed);

    if (s->cfg.flush_disk_type == RMQ_FLUSH_SYNC) {
        /* durable before the caller reports it: the partial tail too */
        pthread_mutex_lock(&s->flush_mu);
        e = rmq_mfile_flush(f, wend);
        pthread_mutex_unlock(&s->flush_mu);
        if (e == RMQ_OK) e = rmq_store__flush_cl(s, 0);
        if (e != RMQ_OK) return RMQ_ERR__IO;
    }
    if (new_max > max) {
        rmq_store__reput_wake(s);
        rmq_store__notify(s);
    }
    return RMQ_OK;
}
