/* One memory-mapped fixed-size file (a CommitLog, ConsumeQueue or IndexFile segment), and a
 * queue of them named by their 20-digit start offset (store.md 1.2, 1.3).
 *
 * Lifetime: a file is reference counted. Its queue holds one reference; every reader that
 * borrows bytes from the mapping takes a pin (another reference). Removing a file from its queue
 * (retention, truncation) drops the queue's reference and marks it for unlinking; the mapping is
 * unmapped and the file unlinked only when the last pin goes, so a reader never sees its bytes
 * vanish. */
#ifndef RMQ_STORE_MFILE_H
#define RMQ_STORE_MFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq_err.h"

typedef struct rmq_mfile_s {
    char *path;
    int fd;
    uint8_t *base;
    int64_t size;
    int64_t start;           /* offset of byte 0 in the queue's address space */
    _Atomic int64_t wrote;   /* readable bytes; writer: the file's appender; readers: any */
    _Atomic int64_t flushed; /* durable bytes; writer: flush thread */
    _Atomic int refs;
    _Atomic bool unlink_on_free;
    _Atomic bool sparse; /* padded after a short load and not yet reserved: no appends */
    /* the warm-up's read-only view for reading the file in (rmq_mfile_prefetch): the start of
     * a reservation of size + 2 MiB holding the file's mapping at its first 2 MiB boundary;
     * mapped on first use, unmapped once the whole file is in, or with the file; NULL when
     * none. The warm-up thread's only. */
    uint8_t *view;
} rmq_mfile_t;

/* Test hook: when set, called instead of posix_fallocate (return an errno to simulate a full
 * disk). Tests only. */
typedef int (*rmq_mfile_fallocate_fn)(int fd, int64_t len);
extern _Atomic(rmq_mfile_fallocate_fn) rmq_mfile__fallocate_hook;

/* Create path at full size with its blocks reserved (posix_fallocate, so a full disk is an error
 * here and never a SIGBUS later) and map it. Created under a temporary name and renamed, so a
 * crash never leaves a short file. wrote = flushed = 0. */
rmq_err_t rmq_mfile_create(const char *path, int64_t start, int64_t size, rmq_mfile_t **out);
/* As rmq_mfile_create, but only [0, reserve) gets its blocks reserved; the rest is sparse and
 * must be reserved (rmq_mfile_reserve_range) before it is written through the mapping. */
rmq_err_t rmq_mfile_create_partial(const char *path, int64_t start, int64_t size, int64_t reserve,
                                   rmq_mfile_t **out);
/* posix_fallocate [off, off + len): 0 or an errno. */
int rmq_mfile_reserve_range(rmq_mfile_t *f, int64_t off, int64_t len);
/* Bring the file at path to exactly size bytes: a short one is padded with zeros (its original
 * copied aside as path.short-<size>), an oversized one truncated (the excess copied to
 * path.excess-<size>); each logged. A partial unit (entry size, 1 for none) at a short file's
 * end is zeroed. 0 already right, 1 repaired, -1 I/O error (logged). */
int rmq_mfile_fix_size(const char *path, int64_t size, int64_t unit);
/* Reserve the blocks of a sparse (padded) file before writing into it; false on a full disk. */
bool rmq_mfile_reserve(rmq_mfile_t *f);
/* Map an existing file that must be exactly size bytes. wrote = flushed = size. */
rmq_err_t rmq_mfile_open(const char *path, int64_t start, int64_t size, rmq_mfile_t **out);
static inline void rmq_mfile_pin(rmq_mfile_t *f) {
    atomic_fetch_add(&f->refs, 1);
}
/* Drop a reference; the last one unmaps, closes, unlinks when marked, and frees. */
void rmq_mfile_unpin(rmq_mfile_t *f);
/* Make [flushed, upto) durable (msync MS_SYNC on the dirty pages); sets flushed = upto. */
rmq_err_t rmq_mfile_flush(rmq_mfile_t *f, int64_t upto);
/* Fault the pages of [from, to) in writable, bytes unchanged, so appends there do not fault
 * (warmMapedFileEnable). The pages become dirty (zeros until written). */
void rmq_mfile_warm(rmq_mfile_t *f, int64_t from, int64_t to);
/* Read [from, to) into the page cache: the pages stay clean, and the segment's own mapping does
 * not map them (large folios are read through a read-only view, unmapped once the whole file is
 * in). small: in 4 KiB folios (an msync writes only the pages it covers), else in large ones
 * (fewer folios to write back). */
void rmq_mfile_prefetch(rmq_mfile_t *f, int64_t from, int64_t to, bool small);
/* Zero [pos, end) durably: punch the whole pages out and reserve them again, memset the rest,
 * so no stale record survives past a recovered end. */
rmq_err_t rmq_mfile_zero(rmq_mfile_t *f, int64_t pos, int64_t end);
/* File name of a start offset: 20 digits. out needs 21 bytes. */
void rmq_offset_name(char *out, int64_t off);

/* A directory of equal-sized files named by start offset, ascending. */
typedef struct {
    char *dir;
    int64_t fsize;
    pthread_mutex_t mu; /* guards files/n/cap */
    rmq_mfile_t **files;
    size_t n, cap;
    int64_t unit; /* fixed entry size (ConsumeQueue 20), 1 for none: see rmq_mfile_fix_size */
    int repaired; /* files brought to the segment size by the load */
} rmq_mfq_t;

rmq_err_t rmq_mfq_init(rmq_mfq_t *q, const char *dir, int64_t fsize);
/* Load every file in dir (sorted; a wrong-sized file is padded or truncated to the segment
 * size by rmq_mfile_fix_size, where RocketMQ refuses to load;
 * leftover *.alloc files of an interrupted creation are removed). */
rmq_err_t rmq_mfq_load(rmq_mfq_t *q);
/* Unmap everything (drops the queue's references). */
void rmq_mfq_fini(rmq_mfq_t *q);
/* The file containing offset off, pinned (unpin when done); NULL if none. */
rmq_mfile_t *rmq_mfq_find(rmq_mfq_t *q, int64_t off);
rmq_mfile_t *rmq_mfq_first(rmq_mfq_t *q); /* pinned or NULL */
rmq_mfile_t *rmq_mfq_last(rmq_mfq_t *q);  /* pinned or NULL */
/* Create the file starting at start (must follow the last one) and append it; pinned. */
rmq_err_t rmq_mfq_create(rmq_mfq_t *q, int64_t start, rmq_mfile_t **out);
/* Append an already created file (allocate-ahead); takes the caller's reference. */
rmq_err_t rmq_mfq_add(rmq_mfq_t *q, rmq_mfile_t *f);
/* Pinned copy of the list; release with rmq_mfq_snapshot_free. */
rmq_mfile_t **rmq_mfq_snapshot(rmq_mfq_t *q, size_t *n);
void rmq_mfq_snapshot_free(rmq_mfile_t **files, size_t n);
/* Remove (and unlink once unpinned) every file starting at or beyond off. */
void rmq_mfq_drop_from(rmq_mfq_t *q, int64_t off);
/* Remove the first file if it is f and nobody else pins it; true when removed. */
bool rmq_mfq_drop_first(rmq_mfq_t *q, rmq_mfile_t *f, bool even_if_pinned);
size_t rmq_mfq_count(rmq_mfq_t *q);
/* Start of the first file (the queue's min offset) or -1 when empty. */
int64_t rmq_mfq_min(rmq_mfq_t *q);
/* Start of the last file + its wrote position, 0 when empty. */
int64_t rmq_mfq_max(rmq_mfq_t *q);
/* Remove every file (and the directory if it becomes empty). */
void rmq_mfq_destroy_all(rmq_mfq_t *q);

#endif
