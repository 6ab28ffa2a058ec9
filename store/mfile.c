/* Mapped files and queues of them; see mfile.h.
 *
 * Why posix_fallocate: writing through a MAP_SHARED mapping into a hole of a sparse file on a
 * full disk raises SIGBUS at the store instruction. Reserving the blocks when the segment is
 * created turns that into ENOSPC at creation, which the put path reports as a status. */
#include "store/mfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define PAGE 4096

_Atomic(rmq_mfile_fallocate_fn) rmq_mfile__fallocate_hook;

void rmq_offset_name(char *out, int64_t off) {
    snprintf(out, 21, "%020" PRId64, off);
}

static rmq_err_t map_fd(const char *path, int fd, int64_t start, int64_t size, int64_t pos,
                        rmq_mfile_t **out) {
    void *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        RMQ_LOG_ERROR("store", "mmap %s (%" PRId64 " bytes): %s", path, size, strerror(errno));
        close(fd);
        return errno == ENOMEM ? RMQ_ERR__NOMEM : RMQ_ERR__IO;
    }
    rmq_mfile_t *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        munmap(base, (size_t)size);
        close(fd);
        return RMQ_ERR__NOMEM;
    }
    f->path = p;
    f->fd = fd;
    f->base = base;
    f->size = size;
    f->start = start;
    atomic_init(&f->wrote, pos);
    atomic_init(&f->flushed, pos);
    atomic_init(&f->refs, 1);
    atomic_init(&f->unlink_on_free, false);
    atomic_init(&f->sparse, false);
    *out = f;
    return RMQ_OK;
}

rmq_err_t rmq_mfile_create(const char *path, int64_t start, int64_t size, rmq_mfile_t **out) {
    return rmq_mfile_create_partial(path, start, size, size, out);
}

int rmq_mfile_reserve_range(rmq_mfile_t *f, int64_t off, int64_t len) {
    rmq_mfile_fallocate_fn hook = atomic_load(&rmq_mfile__fallocate_hook);
    if (hook) return hook(f->fd, off + len);
    return posix_fallocate(f->fd, (off_t)off, (off_t)len);
}

rmq_err_t rmq_mfile_create_partial(const char *path, int64_t start, int64_t size, int64_t reserve,
                                   rmq_mfile_t **out) {
    /* a name no other creator uses, and a rename that never replaces an existing segment */
    static _Atomic unsigned seq;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.%u.alloc", path, atomic_fetch_add(&seq, 1));
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        RMQ_LOG_ERROR("store", "create %s: %s", tmp, strerror(errno));
        return errno == ENOSPC ? RMQ_ERR__DISK_FULL : RMQ_ERR__IO;
    }
    rmq_mfile_fallocate_fn hook = atomic_load(&rmq_mfile__fallocate_hook);
    if (reserve > size) reserve = size;
    int rc = hook ? hook(fd, reserve) : posix_fallocate(fd, 0, (off_t)reserve);
    if (rc == 0 && reserve < size && ftruncate(fd, (off_t)size) != 0) rc = errno;
    if (rc != 0) {
        RMQ_LOG_ERROR("store", "reserve %" PRId64 " bytes for %s: %s", size, path, strerror(rc));
        close(fd);
        unlink(tmp);
        return (rc == ENOSPC || rc == EFBIG || rc == EDQUOT) ? RMQ_ERR__DISK_FULL : RMQ_ERR__IO;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        RMQ_LOG_ERROR("store", "rename %s to %s: %s", tmp, path, strerror(errno));
        close(fd);
        unlink(tmp);
        return RMQ_ERR__IO;
    }
    return map_fd(path, fd, start, size, 0, out);
}

/* Copy [from, to) of fd into a new file at path (kept for forensics); false on any failure. */
static bool copy_range(int fd, int64_t from, int64_t to, const char *path) {
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return false;
    bool ok = true;
    off_t in_off = (off_t)from;
    while (ok && in_off < (off_t)to) {
        ssize_t n = copy_file_range(fd, &in_off, out, NULL, (size_t)(to - in_off), 0);
        if (n <= 0) {
            /* no copy_file_range on this file system: plain reads and writes */
            uint8_t buf[65536];
            ssize_t r = pread(fd, buf, (size_t)RMQ_MIN((int64_t)sizeof(buf), to - in_off), in_off);
            ok = r > 0 && write(out, buf, (size_t)r) == r;
            if (ok) in_off += r;
        }
    }
    if (ok) ok = fsync(out) == 0;
    close(out);
    if (!ok) unlink(path);
    return ok;
}

int rmq_mfile_fix_size(const char *path, int64_t size, int64_t unit) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        RMQ_LOG_ERROR("store", "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        RMQ_LOG_ERROR("store", "stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    int64_t have = (int64_t)st.st_size;
    if (have == size) {
        close(fd);
        return 0;
    }
    char aside[4200];
    bool kept;
    if (have < size) {
        snprintf(aside, sizeof(aside), "%s.short-%" PRId64, path, have);
        kept = copy_range(fd, 0, have, aside);
        if (ftruncate(fd, (off_t)size) != 0) {
            RMQ_LOG_ERROR("store", "pad %s to %" PRId64 " bytes: %s", path, size, strerror(errno));
            close(fd);
            return -1;
        }
        /* a partial entry of a fixed-size unit (a ConsumeQueue's 20 bytes) would read as a
         * wrong one once padded: zero it so recovery ends before it */
        int64_t whole = unit > 1 ? have - have % unit : have;
        if (whole < have) {
            uint8_t z[64] = {0};
            if (pwrite(fd, z, (size_t)RMQ_MIN(have - whole, (int64_t)sizeof(z)), whole) < 0)
                RMQ_LOG_WARN("store", "zero the partial entry of %s: %s", path, strerror(errno));
        }
        /* reserve the padding when the disk has room; else it stays sparse (never written
         * before a reservation succeeds: see rmq_mfile_reserve) */
        int rc = posix_fallocate(fd, (off_t)have, (off_t)(size - have));
        RMQ_LOG_WARN("store",
                     "%s was %" PRId64 " bytes, expected %" PRId64
                     ": padded with zeros and recovered as far as valid (original %s%s)%s",
                     path, have, size, kept ? "kept as " : "not kept: ", kept ? aside : "no room",
                     rc ? ", padding left sparse (disk full)" : "");
    } else {
        snprintf(aside, sizeof(aside), "%s.excess-%" PRId64, path, have);
        kept = copy_range(fd, size, have, aside);
        if (ftruncate(fd, (off_t)size) != 0) {
            RMQ_LOG_ERROR("store", "truncate %s to %" PRId64 " bytes: %s", path, size,
                          strerror(errno));
            close(fd);
            return -1;
        }
        RMQ_LOG_WARN("store",
                     "%s was %" PRId64 " bytes, expected %" PRId64
                     ": truncated to the segment size (the %" PRId64 " excess bytes %s%s)",
                     path, have, size, have - size, kept ? "kept as " : "lost: no room for ",
                     aside);
    }
    fsync(fd);
    close(fd);
    return 1;
}

bool rmq_mfile_reserve(rmq_mfile_t *f) {
    if (!atomic_load(&f->sparse)) return true;
    if (posix_fallocate(f->fd, 0, (off_t)f->size) != 0) return false;
    atomic_store(&f->sparse, false);
    return true;
}

rmq_err_t rmq_mfile_open(const char *path, int64_t start, int64_t size, rmq_mfile_t **out) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        RMQ_LOG_ERROR("store", "open %s: %s", path, strerror(errno));
        return RMQ_ERR__IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != size) {
        RMQ_LOG_ERROR("store", "%s is %lld bytes, expected %" PRId64 " (refusing to load)", path,
                      (long long)st.st_size, size);
        close(fd);
        return RMQ_ERR__CORRUPT;
    }
    return map_fd(path, fd, start, size, size, out);
}

#define VIEW_STEP (2LL << 20) /* one PMD-sized folio */

/* The reservation f->view starts, which holds the file's view at its first 2 MiB boundary (so
 * each 2 MiB folio maps whole): its length, and the view's address. */
static size_t view_len(const rmq_mfile_t *f) {
    return (size_t)f->size + (size_t)VIEW_STEP;
}
static uint8_t *view_at(const rmq_mfile_t *f) {
    return (uint8_t *)(((uintptr_t)f->view + (uintptr_t)VIEW_STEP - 1) &
                       ~((uintptr_t)VIEW_STEP - 1));
}

static void view_drop(rmq_mfile_t *f) {
    if (f->view) munmap(f->view, view_len(f)); /* the file's view goes with it */
    f->view = NULL;
}

void rmq_mfile_unpin(rmq_mfile_t *f) {
    if (!f) return;
    if (atomic_fetch_sub(&f->refs, 1) != 1) return;
    view_drop(f);
    munmap(f->base, (size_t)f->size);
    close(f->fd);
    if (atomic_load(&f->unlink_on_free) && unlink(f->path) != 0 && errno != ENOENT)
        RMQ_LOG_WARN("store", "unlink %s: %s", f->path, strerror(errno));
    free(f->path);
    free(f);
}

rmq_err_t rmq_mfile_flush(rmq_mfile_t *f, int64_t upto) {
    int64_t from = atomic_load(&f->flushed);
    if (upto > f->size) upto = f->size;
    if (upto <= from) return RMQ_OK;
    int64_t a = from & ~(int64_t)(PAGE - 1);
    if (msync(f->base + a, (size_t)(upto - a), MS_SYNC) != 0) {
        RMQ_LOG_ERROR("store", "msync %s: %s", f->path, strerror(errno));
        return RMQ_ERR__IO;
    }
    atomic_store(&f->flushed, upto);
    return RMQ_OK;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Read [from, to) in as 2 MiB folios, one folio per step, through a read-only view of the file.
 * A read() goes through the kernel's read-ahead, which reads up to read_ahead_kb at once (8 MiB
 * on this project's VMs): zeroing four fresh 2 MiB folios in one go, 15-26 ms of kernel work
 * that this non-preemptible kernel (PREEMPT_NONE) lets no other thread interrupt on that CPU,
 * and a thread woken there waited that long (a probe sleeping 0.5 ms on the filling CPU
 * overslept p99 15-20 ms, max 26 ms). A fault on a MADV_HUGEPAGE + MADV_RANDOM mapping reads
 * exactly one 2 MiB folio, and MADV_POPULATE_READ returns to the scheduler between faults (the
 * same probe: p99 4.5-5.1 ms, max 6.6 ms); the folios are the same size, so the segment's own
 * mapping still maps them whole. Whatever a fault holds (the process's mmap lock, unless the
 * kernel drops it for the read), it holds for one folio at a time. The view is mapped once
 * per file: unmapping flushes the TLBs of every thread of the process. false: not possible
 * here (no such madvise): the caller reads instead. */
static bool prefetch_huge(rmq_mfile_t *f, int64_t from, int64_t to) {
    if (!f->view) {
        uint8_t *res = mmap(NULL, view_len(f), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (res == MAP_FAILED) return false;
        f->view = res;
        uint8_t *m = view_at(f);
        if (mmap(m, (size_t)f->size, PROT_READ, MAP_SHARED | MAP_FIXED, f->fd, 0) != m ||
            madvise(m, (size_t)f->size, MADV_HUGEPAGE) != 0 ||
            madvise(m, (size_t)f->size, MADV_RANDOM) != 0) {
            view_drop(f);
            return false;
        }
    }
    uint8_t *m = view_at(f);
    for (int64_t off = from & ~(VIEW_STEP - 1); off < to; off += VIEW_STEP) {
        size_t n = (size_t)RMQ_MIN(VIEW_STEP, f->size - off);
        if (madvise(m + off, n, MADV_POPULATE_READ) != 0) {
            view_drop(f); /* e.g. no MADV_POPULATE_READ (Linux < 5.14): not kept for nothing */
            return false;
        }
    }
    if (to >= f->size) view_drop(f); /* all of it is in */
    return true;
}

void rmq_mfile_prefetch(rmq_mfile_t *f, int64_t from, int64_t to, bool small) {
    if (to > f->size) to = f->size;
    if (from >= to) return;
    /* posix_fadvise(WILLNEED) fills the page cache with 4 KiB folios; prefetch_huge and a read
     * allocate large ones (2 MiB; a read through the kernel's read-ahead, as a page fault does).
     * Writeback works a folio at a time: an msync of a few pages writes every folio they touch
     * whole, and a dirty folio costs one writeback and TLB flush however large it is. */
    if (small) {
        (void)posix_fadvise(f->fd, (off_t)from, (off_t)(to - from), POSIX_FADV_WILLNEED);
        return;
    }
    if (prefetch_huge(f, from, to)) return;
    enum { BUF = 1 << 20 };
    uint8_t *buf = malloc(BUF);
    if (!buf) return;
    for (int64_t off = from; off < to;) {
        ssize_t n = pread(f->fd, buf, (size_t)RMQ_MIN((int64_t)BUF, to - off), (off_t)off);
        if (n <= 0) break; /* the warm-up is an optimisation: the appender faults pages itself */
        off += n;
    }
    free(buf);
}

void rmq_mfile_warm(rmq_mfile_t *f, int64_t from, int64_t to) {
    /* MADV_POPULATE_WRITE faults pages in writable without changing their bytes, so warming
     * is safe while the appender already writes into the segment. Without it (Linux < 5.14),
     * read faults: they allocate and zero-fill the pages, also without touching data.
     * In 256 KiB steps: each call holds the process's mmap lock for reading while it faults
     * its range in, and an mmap, munmap or mprotect of any thread (malloc, a new ConsumeQueue
     * file, a thread stack) waits for it, with every page fault of every other thread queued
     * behind that writer. 64 MiB steps took 0.2-0.7 s each on this VM and stalled the broker's
     * loop and dispatcher for 20-30 ms at a time; 256 KiB is ~64 pages, well under 1 ms.
     * Callers read the range into the page cache first (rmq_mfile_prefetch, a folio at a
     * time): otherwise the first fault of a step starts the kernel's read-ahead, up to
     * read_ahead_kb (8 MiB here) of pages allocated and zeroed while the lock is held, 15-21 ms
     * at every 8 MiB boundary on this VM. */
    const int64_t step = 256LL << 10;
    from &= ~(int64_t)(PAGE - 1);
    if (to > f->size) to = f->size;
    for (int64_t off = from; off < to; off += step) {
        size_t n = (size_t)RMQ_MIN(step, to - off);
        if (madvise(f->base + off, n, MADV_POPULATE_WRITE) != 0) {
            volatile const uint8_t *p = f->base + off;
            uint8_t sink = 0;
            for (size_t i = 0; i < n; i += PAGE) sink ^= p[i];
            (void)sink;
        }
    }
}

rmq_err_t rmq_mfile_zero(rmq_mfile_t *f, int64_t pos, int64_t end) {
    if (end > f->size) end = f->size;
    if (pos >= end) return RMQ_OK;
    int64_t a = (pos + PAGE - 1) & ~(int64_t)(PAGE - 1);
    if (a > end) a = end;
    memset(f->base + pos, 0, (size_t)(a - pos));
    int64_t b = end & ~(int64_t)(PAGE - 1);
    if (b > a) {
        if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, a, b - a) == 0) {
            int rc = posix_fallocate(f->fd, a, b - a);
            if (rc != 0)
                RMQ_LOG_WARN("store", "re-reserve %s after zeroing: %s", f->path, strerror(rc));
        } else {
            memset(f->base + a, 0, (size_t)(b - a)); /* no hole punching on this file system */
        }
    }
    if (end > b && b >= a) memset(f->base + b, 0, (size_t)(end - b));
    if (msync(f->base + (pos & ~(int64_t)(PAGE - 1)), (size_t)(end - (pos & ~(int64_t)(PAGE - 1))),
              MS_SYNC) != 0)
        return RMQ_ERR__IO;
    return RMQ_OK;
}

/* ---- queue ----------------------------------------------------------------------------------- */

rmq_err_t rmq_mfq_init(rmq_mfq_t *q, const char *dir, int64_t fsize) {
    memset(q, 0, sizeof(*q));
    q->dir = strdup(dir);
    if (!q->dir) return RMQ_ERR__NOMEM;
    q->fsize = fsize;
    q->unit = 1;
    pthread_mutex_init(&q->mu, NULL);
    return RMQ_OK;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static rmq_err_t push(rmq_mfq_t *q, rmq_mfile_t *f) {
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 8;
        rmq_mfile_t **nf = realloc(q->files, nc * sizeof(*nf));
        if (!nf) return RMQ_ERR__NOMEM;
        q->files = nf;
        q->cap = nc;
    }
    q->files[q->n++] = f;
    return RMQ_OK;
}

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

rmq_err_t rmq_mfq_load(rmq_mfq_t *q) {
    DIR *d = opendir(q->dir);
    if (!d) return errno == ENOENT ? RMQ_OK : RMQ_ERR__IO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    rmq_err_t err = RMQ_OK;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 6 && !strcmp(de->d_name + l - 6, ".alloc")) {
            snprintf(path, sizeof(path), "%s/%s", q->dir, de->d_name);
            unlink(path); /* interrupted creation */
            continue;
        }
        if (!all_digits(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                err = RMQ_ERR__NOMEM;
                break;
            }
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && err == RMQ_OK; i++) {
        snprintf(path, sizeof(path), "%s/%s", q->dir, names[i]);
        int64_t start = strtoll(names[i], NULL, 10);
        if (q->n && start != q->files[q->n - 1]->start + q->fsize)
            RMQ_LOG_WARN("store", "[BUG] %s does not follow the previous segment", path);
        /* a short or oversized file (a copy, a full disk, a bad restore) is recovered as far as
         * it is valid, never a reason to refuse to start (unlike RocketMQ) */
        int fixed = rmq_mfile_fix_size(path, q->fsize, q->unit);
        if (fixed < 0) {
            err = RMQ_ERR__IO;
            break;
        }
        if (fixed > 0) q->repaired++;
        rmq_mfile_t *f;
        err = rmq_mfile_open(path, start, q->fsize, &f);
        if (err == RMQ_OK && fixed > 0) {
            struct stat st;
            /* blocks short of the size: sparse padding, reserved before any append */
            if (fstat(f->fd, &st) == 0 && (int64_t)st.st_blocks * 512 < q->fsize)
                atomic_store(&f->sparse, true);
        }
        if (err == RMQ_OK && (err = push(q, f)) != RMQ_OK) rmq_mfile_unpin(f);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return err;
}

void rmq_mfq_fini(rmq_mfq_t *q) {
    if (!q->dir) return;
    for (size_t i = 0; i < q->n; i++) rmq_mfile_unpin(q->files[i]);
    free(q->files);
    free(q->dir);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof(*q));
}

rmq_mfile_t *rmq_mfq_find(rmq_mfq_t *q, int64_t off) {
    rmq_mfile_t *f = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->n && off >= q->files[0]->start) {
        size_t i = (size_t)((off - q->files[0]->start) / q->fsize);
        /* names are contiguous in practice; fall back to a scan if not */
        if (i < q->n && q->files[i]->start <= off && off < q->files[i]->start + q->fsize) {
            f = q->files[i];
        } else {
            for (size_t j = 0; j < q->n; j++)
                if (q->files[j]->start <= off && off < q->files[j]->start + q->fsize) {
                    f = q->files[j];
                    break;
                }
        }
    }
    if (f) rmq_mfile_pin(f);
    pthread_mutex_unlock(&q->mu);
    return f;
}

rmq_mfile_t *rmq_mfq_first(rmq_mfq_t *q) {
    pthread_mutex_lock(&q->mu);
    rmq_mfile_t *f = q->n ? q->files[0] : NULL;
    if (f) rmq_mfile_pin(f);
    pthread_mutex_unlock(&q->mu);
    return f;
}

rmq_mfile_t *rmq_mfq_last(rmq_mfq_t *q) {
    pthread_mutex_lock(&q->mu);
    rmq_mfile_t *f = q->n ? q->files[q->n - 1] : NULL;
    if (f) rmq_mfile_pin(f);
    pthread_mutex_unlock(&q->mu);
    return f;
}

rmq_err_t rmq_mfq_add(rmq_mfq_t *q, rmq_mfile_t *f) {
    pthread_mutex_lock(&q->mu);
    rmq_err_t e = push(q, f);
    pthread_mutex_unlock(&q->mu);
    return e;
}

rmq_err_t rmq_mfq_create(rmq_mfq_t *q, int64_t start, rmq_mfile_t **out) {
    if (mkdir(q->dir, 0755) != 0 && errno != EEXIST) {
        /* parents may be missing (a new ConsumeQueue): create them one by one */
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s", q->dir);
        for (char *p = tmp + 1; *p; p++)
            if (*p == '/') {
                *p = 0;
                mkdir(tmp, 0755);
                *p = '/';
            }
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            RMQ_LOG_ERROR("store", "mkdir %s: %s", q->dir, strerror(errno));
            return RMQ_ERR__IO;
        }
    }
    char path[4096], name[21];
    rmq_offset_name(name, start);
    snprintf(path, sizeof(path), "%s/%s", q->dir, name);
    rmq_mfile_t *f;
    rmq_err_t e = rmq_mfile_create(path, start, q->fsize, &f);
    if (e != RMQ_OK) return e;
    if ((e = rmq_mfq_add(q, f)) != RMQ_OK) {
        atomic_store(&f->unlink_on_free, true);
        rmq_mfile_unpin(f);
        return e;
    }
    rmq_mfile_pin(f);
    *out = f;
    return RMQ_OK;
}

rmq_mfile_t **rmq_mfq_snapshot(rmq_mfq_t *q, size_t *n) {
    pthread_mutex_lock(&q->mu);
    rmq_mfile_t **a = malloc((q->n ? q->n : 1) * sizeof(*a));
    *n = 0;
    if (a) {
        for (size_t i = 0; i < q->n; i++) {
            a[i] = q->files[i];
            rmq_mfile_pin(a[i]);
        }
        *n = q->n;
    }
    pthread_mutex_unlock(&q->mu);
    return a;
}

void rmq_mfq_snapshot_free(rmq_mfile_t **files, size_t n) {
    for (size_t i = 0; i < n; i++) rmq_mfile_unpin(files[i]);
    free(files);
}

void rmq_mfq_drop_from(rmq_mfq_t *q, int64_t off) {
    pthread_mutex_lock(&q->mu);
    while (q->n && q->files[q->n - 1]->start >= off) {
        rmq_mfile_t *f = q->files[--q->n];
        RMQ_LOG_INFO("store", "removing %s (beyond offset %" PRId64 ")", f->path, off);
        atomic_store(&f->unlink_on_free, true);
        rmq_mfile_unpin(f);
    }
    pthread_mutex_unlock(&q->mu);
}

bool rmq_mfq_drop_first(rmq_mfq_t *q, rmq_mfile_t *f, bool even_if_pinned) {
    bool done = false;
    pthread_mutex_lock(&q->mu);
    /* refs: the queue's + the caller's pin = 2 when nobody else reads it */
    if (q->n && q->files[0] == f && (even_if_pinned || atomic_load(&f->refs) <= 2)) {
        memmove(q->files, q->files + 1, (q->n - 1) * sizeof(*q->files));
        q->n--;
        atomic_store(&f->unlink_on_free, true);
        rmq_mfile_unpin(f);
        done = true;
    }
    pthread_mutex_unlock(&q->mu);
    return done;
}

size_t rmq_mfq_count(rmq_mfq_t *q) {
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int64_t rmq_mfq_min(rmq_mfq_t *q) {
    pthread_mutex_lock(&q->mu);
    int64_t m = q->n ? q->files[0]->start : -1;
    pthread_mutex_unlock(&q->mu);
    return m;
}

int64_t rmq_mfq_max(rmq_mfq_t *q) {
    pthread_mutex_lock(&q->mu);
    int64_t m = q->n ? q->files[q->n - 1]->start + atomic_load(&q->files[q->n - 1]->wrote) : 0;
    pthread_mutex_unlock(&q->mu);
    return m;
}

void rmq_mfq_destroy_all(rmq_mfq_t *q) {
    rmq_mfq_drop_from(q, INT64_MIN);
    rmdir(q->dir);
}
