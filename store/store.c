/* The store facade: open (load + recover), start/close of the threads, reads (store.md 9). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

const char *const rmq_store_flush_names[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};

typedef struct {
    rmq_store_cfg_t c;
} cfg_wrap_t;
static const rmq_kv_def_t cfg_defs[] = {RMQ_STORE_CFG_KV(cfg_wrap_t, c)};

void rmq_store_cfg_defaults(rmq_store_cfg_t *cfg) {
    cfg_wrap_t w;
    memset(&w, 0, sizeof(w));
    rmq_kv_defaults(cfg_defs, RMQ_ARRAY_LEN(cfg_defs), &w);
    *cfg = w.c;
}

void rmq_store_cfg_free(rmq_store_cfg_t *cfg) {
    cfg_wrap_t w;
    w.c = *cfg;
    rmq_kv_free(cfg_defs, RMQ_ARRAY_LEN(cfg_defs), &w);
    cfg->store_path_root_dir = cfg->store_path_commitlog = cfg->delete_when = NULL;
}

const char *rmq_get_status_name(rmq_get_status_t st) {
    static const char *const names[] = {"FOUND",
                                        "NO_MATCHED_MESSAGE",
                                        "MESSAGE_WAS_REMOVING",
                                        "OFFSET_FOUND_NULL",
                                        "OFFSET_OVERFLOW_BADLY",
                                        "OFFSET_OVERFLOW_ONE",
                                        "OFFSET_TOO_SMALL",
                                        "NO_MATCHED_LOGIC_QUEUE",
                                        "NO_MESSAGE_IN_QUEUE"};
    return (unsigned)st < RMQ_ARRAY_LEN(names) ? names[st] : "UNKNOWN";
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void free_cq(void *cq) {
    rmq_store__cq_free(cq);
}

static void free_store(rmq_store_t *s) {
    rmq_mfile_unpin(s->cur);
    s->cur = NULL;
    rmq_store__index_close(s);
    rmq_mfq_fini(&s->cl);
    rmq_map_fini(&s->cqs, free_cq);
    for (size_t i = 0; i < s->cq_graveyard_n; i++) rmq_store__cq_free(s->cq_graveyard[i]);
    free(s->cq_graveyard);
    rmq_map_fini(&s->qoff, NULL); /* values are plain offsets */
    free(s->gc_w);
    free(s->stage);
    free(s->stage_reqs);
    free(s->gc_r);
    free(s->skip);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the OFD lock */
    if (s->notify_fd >= 0) close(s->notify_fd);
    free(s->root);
    free(s->cl_dir);
    free(s->cq_dir);
    free(s->index_dir);
    free(s->ckpt_path);
    free(s->abort_path);
    free(s->lock_path);
    free(s->cfg.store_path_root_dir);
    free(s->cfg.store_path_commitlog);
    free(s->cfg.delete_when);
    for (size_t i = 0; i < s->n_old_delete_when; i++) free(s->old_delete_when[i]);
    free(s->old_delete_when);
    pthread_mutex_destroy(&s->put_mu);
    pthread_mutex_destroy(&s->alloc_mu);
    pthread_cond_destroy(&s->alloc_cv);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_cond_destroy(&s->gc_cv);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_rwlock_destroy(&s->cq_mu);
    pthread_mutex_destroy(&s->idx_mu);
    pthread_mutex_destroy(&s->disp_mu);
    pthread_mutex_destroy(&s->reput_mu);
    pthread_cond_destroy(&s->reput_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_mutex_destroy(&s->svc_mu);
    pthread_cond_destroy(&s->svc_cv);
    pthread_rwlock_destroy(&s->skip_mu);
    pthread_mutex_destroy(&s->why_mu);
    pthread_mutex_destroy(&s->scrub_mu);
    pthread_cond_destroy(&s->scrub_cv);
    free(s);
}

static int mkdirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static rmq_err_t take_lock(rmq_store_t *s) {
    s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        RMQ_LOG_ERROR("store", "open %s: %s", s->lock_path, strerror(errno));
        return RMQ_ERR__IO;
    }
    /* an open-file-description lock, so a second open in the same process fails too */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fcntl(s->lock_fd, F_OFD_SETLK, &fl) != 0) {
        RMQ_LOG_ERROR("store", "store %s is locked by another process (MQ already started)",
                      s->root);
        close(s->lock_fd);
        s->lock_fd = -1;
        return RMQ_ERR__STATE;
    }
    if (pwrite(s->lock_fd, "lock", 4, 0) != 4 || fsync(s->lock_fd) != 0)
        RMQ_LOG_WARN("store", "write %s: %s", s->lock_path, strerror(errno));
    return RMQ_OK;
}

rmq_err_t rmq_store_open(const rmq_store_cfg_t *cfg, rmq_store_t **out) {
    *out = NULL;
    rmq_store_t *s = calloc(1, sizeof(*s));
    if (!s) return RMQ_ERR__NOMEM;
    s->lock_fd = -1;
    s->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->cfg = *cfg;
    s->cfg.store_path_root_dir =
        rmq_expand_home(cfg->store_path_root_dir ? cfg->store_path_root_dir : "~/store");
    s->cfg.store_path_commitlog =
        cfg->store_path_commitlog ? rmq_expand_home(cfg->store_path_commitlog) : NULL;
    s->cfg.delete_when = strdup(cfg->delete_when ? cfg->delete_when : "04");
    pthread_mutex_init(&s->put_mu, NULL);
    pthread_mutex_init(&s->alloc_mu, NULL);
    pthread_cond_init(&s->alloc_cv, NULL);
    pthread_mutex_init(&s->gc_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->gc_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_rwlock_init(&s->cq_mu, NULL);
    pthread_mutex_init(&s->idx_mu, NULL);
    pthread_mutex_init(&s->disp_mu, NULL);
    pthread_mutex_init(&s->reput_mu, NULL);
    pthread_cond_init(&s->reput_cv, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_mutex_init(&s->svc_mu, NULL);
    pthread_cond_init(&s->svc_cv, NULL);
    pthread_rwlock_init(&s->skip_mu, NULL);
    pthread_mutex_init(&s->why_mu, NULL);
    s->idx_pending = -1;
    s->idx_pending_saved = -1;
    pthread_mutex_init(&s->scrub_mu, NULL);
    pthread_cond_init(&s->scrub_cv, NULL);
    rmq_map_init(&s->qoff);
    rmq_map_init(&s->cqs);
    s->alloc_want = -1;
    atomic_init(&s->warm_kick_at, INT64_MAX);
    s->torn_at = -1;
    atomic_init(&s->writable, false);
    if (!s->cfg.store_path_root_dir || !s->cfg.delete_when || s->notify_fd < 0) {
        free_store(s);
        return RMQ_ERR__NOMEM;
    }
    s->root = strdup(s->cfg.store_path_root_dir);
    s->cl_dir = s->cfg.store_path_commitlog ? strdup(s->cfg.store_path_commitlog)
                                            : join(s->root, "commitlog");
    s->cq_dir = join(s->root, "consumequeue");
    s->index_dir = join(s->root, "index");
    s->ckpt_path = join(s->root, "checkpoint");
    s->abort_path = join(s->root, "abort");
    s->lock_path = join(s->root, "lock");
    if (!s->root || !s->cl_dir || !s->cq_dir || !s->index_dir || !s->ckpt_path || !s->abort_path ||
        !s->lock_path) {
        free_store(s);
        return RMQ_ERR__NOMEM;
    }
    if (s->cfg.mapped_file_size_commitlog < 4096 || s->cfg.max_hash_slot_num <= 0 ||
        s->cfg.max_index_num <= 0 || s->cfg.mapped_file_size_cq < RMQ_CQ_UNIT) {
        RMQ_LOG_ERROR("store", "bad store configuration (segment sizes)");
        free_store(s);
        return RMQ_ERR__CONFIG;
    }
    s->cq_fsize = (s->cfg.mapped_file_size_cq + RMQ_CQ_UNIT - 1) / RMQ_CQ_UNIT * RMQ_CQ_UNIT;
    s->max_record = (int64_t)s->cfg.max_message_size + 65536 + 256;
    if (mkdirs(s->root) != 0 || mkdirs(s->cl_dir) != 0) {
        RMQ_LOG_ERROR("store", "cannot create %s: %s", s->cl_dir, strerror(errno));
        free_store(s);
        return RMQ_ERR__IO;
    }
    rmq_err_t e = take_lock(s);
    if (e != RMQ_OK) {
        free_store(s);
        return e;
    }
    bool clean = access(s->abort_path, F_OK) != 0;
    uint64_t t0 = rmq_mono_ms();
    if ((e = rmq_mfq_init(&s->cl, s->cl_dir, s->cfg.mapped_file_size_commitlog)) != RMQ_OK ||
        (e = rmq_mfq_load(&s->cl)) != RMQ_OK) {
        RMQ_LOG_ERROR("store", "cannot load the CommitLog in %s", s->cl_dir);
        free_store(s);
        return e;
    }
    rmq_store__ckpt_load(s);
    rmq_store__quarantine_load(s);
    bool cq_dir_present;
    if ((e = rmq_store__cq_load_all(s, &cq_dir_present)) != RMQ_OK) {
        free_store(s);
        return e;
    }
    if (!cq_dir_present && rmq_mfq_count(&s->cl))
        RMQ_LOG_WARN("store", "%s missing: rebuilding every ConsumeQueue from the CommitLog",
                     s->cq_dir);
    size_t bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent))
        rmq_store__cq_recover(s, ent->v.ptr);
    pthread_rwlock_unlock(&s->cq_mu);
    int64_t idx_from, from;
    if ((e = rmq_store__index_load(s, clean, &idx_from)) != RMQ_OK ||
        (e = rmq_store__cl_recover(s, clean, &from)) != RMQ_OK) {
        free_store(s);
        return e;
    }
    /* a ConsumeQueue file padded at load lost entries: rebuild them from the CommitLog */
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent)) {
        rmq_cq_t *cq = ent->v.ptr;
        if (cq->q.repaired && cq->max_phys < from) from = cq->max_phys;
    }
    pthread_rwlock_unlock(&s->cq_mu);
    int64_t cl_min = rmq_mfq_min(&s->cl);
    if (cl_min < 0) cl_min = 0;
    if (idx_from < from) from = idx_from;
    if (from < cl_min) from = cl_min;
    /* keys that waited for the index when the store last ran: indexed first (reput.c) */
    int64_t waiting = rmq_store__index_pending_load(s);
    if (waiting >= 0) {
        s->idx_pending = RMQ_MIN(waiting, idx_from);
        s->idx_retry_ms = 0;
        RMQ_LOG_INFO("store",
                     "keys of the records from %" PRId64 " still wait for the index: "
                     "indexing them",
                     s->idx_pending);
    }
    atomic_store(&s->reput_from, from);
    rmq_store__dispatch_until_end(s);
    /* queue offsets continue after each ConsumeQueue's end (store.md 5.6) */
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent)) {
        rmq_cq_t *cq = ent->v.ptr;
        char key[320];
        size_t kl = rmq_store__qkey(key, cq->topic, strlen(cq->topic), '-', cq->qid);
        rmq_map_ent_t *sl = rmq_map_upsert(&s->qoff, key, kl, NULL);
        if (sl) sl->v.i64 = rmq_store__cq_max_offset(cq);
        rmq_store__cq_correct_min(s, cq, cl_min);
    }
    pthread_rwlock_unlock(&s->cq_mu);
    s->last_clean_min = cl_min;
    int64_t last_ts = -1;
    if (atomic_load(&s->max_offset) > 0) {
        /* nothing cheap finds the last record's time; the checkpoint's is a lower bound */
        last_ts = RMQ_MAX(s->ckpt.physic_ts, s->ckpt.logics_ts);
    }
    atomic_store(&s->last_store_ts, last_ts > 0 ? last_ts : 0);
    atomic_store(&s->logics_ts, RMQ_MAX(atomic_load(&s->logics_ts), s->ckpt.logics_ts));
    atomic_store(&s->repl_end, atomic_load(&s->max_offset));
    atomic_store(&s->writable, true);
    int cq_fixed = 0;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent))
        cq_fixed += ((rmq_cq_t *)ent->v.ptr)->q.repaired;
    pthread_rwlock_unlock(&s->cq_mu);
    if (s->skip_n || s->torn_at >= 0 || s->cl.repaired || cq_fixed)
        RMQ_LOG_WARN("store",
                     "store %s opened after damage: %zu CommitLog range(s) quarantined (%" PRIu64
                     " found now, %" PRIu64 " bytes in all), torn tail %s %" PRId64
                     ", %d CommitLog and %d ConsumeQueue file(s) resized to the segment size; "
                     "every valid record after the damage is kept",
                     s->root, s->skip_n, s->skip_records, s->skip_bytes,
                     s->torn_at >= 0 ? "cut at" : "none, end",
                     s->torn_at >= 0 ? s->torn_at : (int64_t)atomic_load(&s->max_offset),
                     s->cl.repaired, cq_fixed);
    RMQ_LOG_INFO("store",
                 "store %s opened (%s) in %" PRIu64 " ms: CommitLog [%" PRId64 ", %" PRId64 ")",
                 s->root, clean ? "clean" : "recovered after crash", rmq_mono_ms() - t0, cl_min,
                 (int64_t)atomic_load(&s->max_offset));
    *out = s;
    return RMQ_OK;
}

void rmq_store_set_arrive_cb(rmq_store_t *s, rmq_store_arrive_cb cb, void *arg) {
    s->arrive_cb = cb;
    s->arrive_arg = arg;
}

rmq_err_t rmq_store__thread_start(rmq_store_thread_t *t, void *(*fn)(void *), rmq_store_t *s,
                                  pthread_mutex_t *mu, pthread_cond_t *cv) {
    t->mu = mu;
    t->cv = cv;
    pthread_mutex_lock(mu);
    t->stop = false;
    t->running = true; /* before the thread runs: the flush thread's queue checks it */
    pthread_mutex_unlock(mu);
    if (pthread_create(&t->thr, NULL, fn, s) == 0) return RMQ_OK;
    pthread_mutex_lock(mu);
    t->running = false;
    pthread_mutex_unlock(mu);
    return RMQ_ERR__FAIL;
}

void rmq_store__thread_stop(rmq_store_thread_t *t) {
    if (!t->running) return;
    pthread_mutex_lock(t->mu);
    t->stop = true;
    pthread_cond_broadcast(t->cv);
    pthread_mutex_unlock(t->mu);
    pthread_join(t->thr, NULL);
    pthread_mutex_lock(t->mu);
    t->running = false;
    pthread_mutex_unlock(t->mu);
}

static void stop_threads(rmq_store_t *s) {
    rmq_store__thread_stop(&s->scrub_thr);
    rmq_store__thread_stop(&s->svc_thr);
    rmq_store__thread_stop(&s->alloc_thr);
    rmq_store_wait_dispatched(s, 10000);
    rmq_store__reput_stop(s);
    rmq_store__thread_stop(&s->flush_thr);
}

rmq_err_t rmq_store_start(rmq_store_t *s) {
    if (s->started) return RMQ_ERR__STATE;
    rmq_err_t e;
    if ((e = rmq_store__alloc_start(s)) != RMQ_OK || (e = rmq_store__flush_start(s)) != RMQ_OK ||
        (e = rmq_store__reput_start(s)) != RMQ_OK || (e = rmq_store__svc_start(s)) != RMQ_OK ||
        (e = rmq_store__scrub_start(s)) != RMQ_OK) {
        RMQ_LOG_ERROR("store", "cannot start the store threads");
        stop_threads(s); /* the ones that did start */
        return e;
    }
    /* prepare the segment after the current one */
    pthread_mutex_lock(&s->put_mu);
    int64_t next = atomic_load(&s->max_offset);
    next = next - next % s->cfg.mapped_file_size_commitlog;
    rmq_mfile_t *last = rmq_mfq_last(&s->cl);
    if (last && last->start == next) next += s->cfg.mapped_file_size_commitlog;
    rmq_mfile_unpin(last);
    pthread_mutex_lock(&s->alloc_mu);
    s->alloc_want = next;
    pthread_cond_broadcast(&s->alloc_cv);
    pthread_mutex_unlock(&s->alloc_mu);
    pthread_mutex_unlock(&s->put_mu);
    int fd = open(s->abort_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    s->started = true;
    return RMQ_OK;
}

void rmq_store_close(rmq_store_t *s) {
    if (!s) return;
    rmq_store__stage_commit(s); /* staged records are written and their requests queued first */
    if (s->started) stop_threads(s);
    rmq_store__dispatch_until_end(s);
    rmq_err_t fe = rmq_store__flush_cl(s, 0);
    rmq_store__cq_flush_all(s, 0);
    pthread_mutex_lock(&s->ckpt_mu);
    int64_t ts = atomic_load(&s->last_store_ts);
    if (fe == RMQ_OK && ts > s->ckpt.physic_ts) s->ckpt.physic_ts = ts;
    int64_t lts = atomic_load(&s->logics_ts);
    if (lts > s->ckpt.logics_ts) s->ckpt.logics_ts = lts;
    pthread_mutex_unlock(&s->ckpt_mu);
    rmq_store__index_close(s);
    rmq_err_t ce = rmq_store__ckpt_write(s);
    bool caught_up = atomic_load(&s->reput_from) >= atomic_load(&s->max_offset);
    if (s->started && fe == RMQ_OK && ce == RMQ_OK && caught_up && atomic_load(&s->writable))
        unlink(s->abort_path);
    else if (s->started)
        RMQ_LOG_WARN("store", "unclean shutdown: the next open recovers from the checkpoint");
    free_store(s);
}

/* ---- reads ------------------------------------------------------------------------------------
 */

typedef struct {
    rmq_store_get_t g;
    rmq_mfile_t **pins;
    size_t npins, cap_pins;
} get_impl_t;

static bool add_pin(get_impl_t *gi, rmq_mfile_t *f) {
    if (gi->npins == gi->cap_pins) {
        size_t nc = gi->cap_pins ? gi->cap_pins * 2 : 4;
        rmq_mfile_t **np = realloc(gi->pins, nc * sizeof(*np));
        if (!np) return false;
        gi->pins = np;
        gi->cap_pins = nc;
    }
    gi->pins[gi->npins++] = f;
    return true;
}

void rmq_store_get_release(rmq_store_get_t *g) {
    if (!g) return;
    get_impl_t *gi = (get_impl_t *)g;
    for (size_t i = 0; i < gi->npins; i++) rmq_mfile_unpin(gi->pins[i]);
    free(gi->pins);
    free(g->iov);
    free(g->queue_offsets);
    free(gi);
}

static int64_t phys_ram(void) {
    static _Atomic int64_t ram; /* sysconf costs a syscall: once per process */
    int64_t r = atomic_load_explicit(&ram, memory_order_relaxed);
    if (r) return r;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    r = pages > 0 && psz > 0 ? (int64_t)pages * psz : (int64_t)8 << 30;
    atomic_store_explicit(&ram, r, memory_order_relaxed);
    return r;
}

rmq_err_t rmq_store_get(rmq_store_t *s, const char *topic, int32_t queue_id, int64_t offset,
                        int max_msgs, size_t max_bytes, const rmq_store_filter_t *filter,
                        rmq_store_get_t **out) {
    *out = NULL;
    get_impl_t *gi = calloc(1, sizeof(*gi));
    if (!gi) return RMQ_ERR__NOMEM;
    rmq_store_get_t *g = &gi->g;
    g->pins_ = gi;
    if (max_msgs <= 0) max_msgs = 1;
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    int64_t cl_max = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    if (!cq) {
        g->status = RMQ_GET_NO_MATCHED_LOGIC_QUEUE;
        *out = g;
        return RMQ_OK;
    }
    int64_t minq = rmq_store__cq_min_offset(cq), maxq = rmq_store__cq_max_offset(cq);
    g->min_offset = minq;
    g->max_offset = maxq;
    if (maxq == 0) {
        g->status = RMQ_GET_NO_MESSAGE_IN_QUEUE;
        g->next_begin_offset = 0;
    } else if (offset < minq) {
        g->status = RMQ_GET_OFFSET_TOO_SMALL;
        g->next_begin_offset = minq;
    } else if (offset == maxq) {
        g->status = RMQ_GET_OFFSET_OVERFLOW_ONE;
        g->next_begin_offset = offset;
    } else if (offset > maxq) {
        g->status = RMQ_GET_OFFSET_OVERFLOW_BADLY;
        g->next_begin_offset = maxq;
    } else {
        rmq_mfile_t *cqf;
        int64_t n;
        const uint8_t *e = rmq_store__cq_entries(cq, offset, &n, &cqf);
        if (!e) {
            g->status = RMQ_GET_OFFSET_FOUND_NULL;
            int64_t seg = s->cq_fsize / RMQ_CQ_UNIT;
            g->next_begin_offset = (offset / seg + 1) * seg;
            *out = g;
            return RMQ_OK;
        }
        int64_t scan = RMQ_MAX(16000, (int64_t)max_msgs * RMQ_CQ_UNIT) / RMQ_CQ_UNIT;
        if (n > scan) n = scan;
        size_t cap = (size_t)RMQ_MIN((int64_t)max_msgs, n);
        if (cap == 0) cap = 1;
        g->iov = malloc(cap * sizeof(*g->iov));
        g->queue_offsets = malloc(cap * sizeof(*g->queue_offsets));
        if (!g->iov || !g->queue_offsets) {
            rmq_mfile_unpin(cqf);
            rmq_store_get_release(g);
            return RMQ_ERR__NOMEM;
        }
        int64_t mem_limit = phys_ram() / 100 * s->cfg.access_message_in_memory_max_ratio;
        rmq_get_status_t st = RMQ_GET_NO_MATCHED_MESSAGE;
        rmq_mfile_t *clf = NULL;
        int64_t skip_below = -1, last_phys = -1;
        int64_t i = 0;
        for (; i < n; i++) {
            const uint8_t *ent = e + i * RMQ_CQ_UNIT;
            int64_t phys = (int64_t)rmq_get_be64(ent);
            int32_t size = (int32_t)rmq_get_be32(ent + 8);
            int64_t tags = (int64_t)rmq_get_be64(ent + 12);
            if (size <= 0 || size == RMQ_CQ_BLANK_SIZE) continue; /* blank entry */
            if (rmq_store__skip_end(s, phys) >= 0) {              /* quarantined: never served */
                atomic_fetch_add_explicit(&s->quarantine_hits, 1, memory_order_relaxed);
                continue;
            }
            last_phys = phys;
            bool in_disk = cl_max - phys > mem_limit;
            if (g->count > 0) {
                if ((size_t)max_msgs <= g->count) break;
                if (max_bytes && g->total_bytes + (size_t)size > max_bytes) break;
                if (in_disk) {
                    if (g->total_bytes + (size_t)size > (size_t)s->cfg.max_transfer_bytes_disk ||
                        g->count > (size_t)s->cfg.max_transfer_count_disk - 1)
                        break;
                } else {
                    if (g->total_bytes + (size_t)size > (size_t)s->cfg.max_transfer_bytes_mem ||
                        g->count > (size_t)s->cfg.max_transfer_count_mem - 1)
                        break;
                }
            }
            if (phys < skip_below) continue;
            if (filter && filter->ncodes) {
                bool match = false;
                for (size_t k = 0; k < filter->ncodes && !match; k++)
                    match = (int32_t)filter->codes[k] == (int32_t)tags;
                if (!match) {
                    if (g->count == 0) st = RMQ_GET_NO_MATCHED_MESSAGE;
                    continue;
                }
            }
            if (!clf || phys < clf->start || phys >= clf->start + clf->size) {
                clf = rmq_mfq_find(&s->cl, phys);
                if (clf && !add_pin(gi, clf)) {
                    rmq_mfile_unpin(clf);
                    clf = NULL;
                }
            }
            if (!clf || phys - clf->start + size >
                            atomic_load_explicit(&clf->wrote, memory_order_acquire)) {
                if (g->count == 0) st = RMQ_GET_MESSAGE_WAS_REMOVING;
                int64_t segsz = s->cfg.mapped_file_size_commitlog;
                skip_below = phys - phys % segsz + segsz;
                clf = NULL;
                continue;
            }
            if (filter && filter->match_record &&
                !filter->match_record(filter->match_arg, clf->base + (phys - clf->start),
                                      (size_t)size)) {
                if (g->count == 0) st = RMQ_GET_NO_MATCHED_MESSAGE;
                continue;
            }
            g->iov[g->count].iov_base = clf->base + (phys - clf->start);
            g->iov[g->count].iov_len = (size_t)size;
            g->queue_offsets[g->count] = offset + i;
            g->count++;
            g->total_bytes += (size_t)size;
            st = RMQ_GET_FOUND;
        }
        rmq_mfile_unpin(cqf);
        g->status = g->count ? RMQ_GET_FOUND : st;
        g->next_begin_offset = offset + i;
        if (last_phys >= 0) g->suggest_slave = cl_max - last_phys > mem_limit;
    }
    *out = g;
    return RMQ_OK;
}

int64_t rmq_store_min_offset(rmq_store_t *s, const char *topic, int32_t queue_id) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    return cq ? rmq_store__cq_min_offset(cq) : 0;
}

int64_t rmq_store_max_offset(rmq_store_t *s, const char *topic, int32_t queue_id) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    return cq ? rmq_store__cq_max_offset(cq) : 0;
}

static int64_t entry_phys(rmq_cq_t *cq, int64_t qoff, int32_t *size) {
    rmq_mfile_t *f;
    int64_t n;
    const uint8_t *e = rmq_store__cq_entries(cq, qoff, &n, &f);
    if (!e) return -1;
    int64_t phys = (int64_t)rmq_get_be64(e);
    int32_t sz = (int32_t)rmq_get_be32(e + 8);
    rmq_mfile_unpin(f);
    if (size) *size = sz;
    return sz == RMQ_CQ_BLANK_SIZE ? -1 : phys;
}

int64_t rmq_store_msg_store_time(rmq_store_t *s, const char *topic, int32_t queue_id,
                                 int64_t queue_offset) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    if (!cq) return -1;
    int64_t phys = entry_phys(cq, queue_offset, NULL);
    return phys < 0 ? -1 : rmq_store__read_store_ts(s, phys);
}

int64_t rmq_store_earliest_time(rmq_store_t *s, const char *topic, int32_t queue_id) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    if (!cq) return -1;
    int64_t minq = rmq_store__cq_min_offset(cq), maxq = rmq_store__cq_max_offset(cq);
    for (int64_t q = minq; q < maxq && q < minq + 1000; q++) {
        int64_t phys = entry_phys(cq, q, NULL);
        if (phys >= 0) return rmq_store__read_store_ts(s, phys);
    }
    return -1;
}

int64_t rmq_store_offset_by_time(rmq_store_t *s, const char *topic, int32_t queue_id,
                                 int64_t ts_ms) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    if (!cq) return 0;
    size_t nf;
    rmq_mfile_t **fs = rmq_mfq_snapshot(&cq->q, &nf);
    if (!fs || nf == 0) {
        rmq_mfq_snapshot_free(fs, nf);
        return 0;
    }
    rmq_mfile_t *f = fs[nf - 1];
    for (size_t i = 0; i < nf; i++) {
        struct stat st;
        if (stat(fs[i]->path, &st) == 0 &&
            (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= ts_ms) {
            f = fs[i];
            break;
        }
    }
    int64_t cl_min = rmq_mfq_min(&s->cl);
    int64_t low = RMQ_MAX(atomic_load(&cq->min_logic) - f->start, 0);
    int64_t high = atomic_load_explicit(&f->wrote, memory_order_acquire) - RMQ_CQ_UNIT;
    int64_t left = -1, right = -1, left_ts = -1, right_ts = -1, found = -1, result;
    bool failed = false;
    while (high >= low) {
        int64_t mid = (low + high) / (2 * RMQ_CQ_UNIT) * RMQ_CQ_UNIT;
        const uint8_t *e = f->base + mid;
        int64_t phys = (int64_t)rmq_get_be64(e);
        if (phys < cl_min || (int32_t)rmq_get_be32(e + 8) == RMQ_CQ_BLANK_SIZE) {
            low = mid + RMQ_CQ_UNIT;
            left = mid;
            continue;
        }
        int64_t t = rmq_store__read_store_ts(s, phys);
        if (t < 0) {
            failed = true;
            break;
        }
        if (t == ts_ms) {
            found = mid;
            break;
        }
        if (t < ts_ms) {
            low = mid + RMQ_CQ_UNIT;
            left = mid;
            left_ts = t;
        } else {
            high = mid - RMQ_CQ_UNIT;
            right = mid;
            right_ts = t;
        }
    }
    if (failed) {
        result = 0;
    } else {
        int64_t off;
        if (found >= 0)
            off = found;
        else if (left < 0 && right < 0)
            off = RMQ_MAX(low, 0);
        else if (left < 0)
            off = right;
        else if (right < 0)
            off = left;
        else {
            int64_t dl = ts_ms - left_ts, dr = right_ts - ts_ms;
            if (left_ts < 0) dl = INT64_MAX;
            off = dl > dr ? right : left;
        }
        result = (f->start + off) / RMQ_CQ_UNIT;
    }
    rmq_mfq_snapshot_free(fs, nf);
    return result;
}

int64_t rmq_store_commitlog_min_offset(rmq_store_t *s) {
    int64_t m = rmq_mfq_min(&s->cl);
    return m < 0 ? 0 : m;
}

int64_t rmq_store_commitlog_max_offset(rmq_store_t *s) {
    return atomic_load_explicit(&s->max_offset, memory_order_acquire);
}

void rmq_store_get_stats(rmq_store_t *s, rmq_store_stats_t *st) {
    memset(st, 0, sizeof(*st));
    st->commitlog_min_offset = rmq_store_commitlog_min_offset(s);
    st->commitlog_max_offset = rmq_store_commitlog_max_offset(s);
    st->flushed_offset = atomic_load(&s->flushed);
    st->dispatched_offset = atomic_load(&s->reput_from);
    st->put_count = atomic_load(&s->put_count);
    st->put_bytes = atomic_load(&s->put_bytes);
    st->put_fail_count = atomic_load(&s->put_fail);
    st->disk_used_ratio = rmq_store__disk_ratio(s->cl_dir);
    st->earliest_msg_time =
        rmq_mfq_count(&s->cl) ? rmq_store__read_store_ts(s, st->commitlog_min_offset) : -1;
    st->commitlog_segments = (int)rmq_mfq_count(&s->cl);
    st->writable =
        atomic_load(&s->writable) && !atomic_load(&s->disk_full) && !atomic_load(&s->cq_error);
    pthread_rwlock_rdlock(&s->skip_mu);
    st->quarantined_ranges = s->skip_n;
    st->quarantined_bytes = s->skip_bytes;
    pthread_rwlock_unlock(&s->skip_mu);
    st->scrubbed_bytes = atomic_load(&s->scrub_bytes);
    st->scrub_passes = atomic_load(&s->scrub_passes);
    st->quarantine_hits = atomic_load(&s->quarantine_hits);
}

void rmq_store_unwritable_reason(rmq_store_t *s, char *buf, size_t n) {
    if (!n) return;
    buf[0] = '\0';
    pthread_mutex_lock(&s->why_mu);
    if (atomic_load(&s->disk_full))
        snprintf(buf, n, "%s", s->disk_full_why);
    else if (atomic_load(&s->cl_no_room))
        snprintf(buf, n, "%s", s->no_room_why);
    else if (atomic_load(&s->cq_error))
        snprintf(buf, n, "a ConsumeQueue write failed (disk full?) under %s", s->cq_dir);
    else if (atomic_load(&s->replica))
        snprintf(buf, n, "this store replicates a master (read-only)");
    else if (!atomic_load(&s->writable))
        snprintf(buf, n, "store not writable");
    pthread_mutex_unlock(&s->why_mu);
}

bool rmq_store_wait_dispatched(rmq_store_t *s, int timeout_ms) {
    int64_t target = atomic_load(&s->max_offset);
    uint64_t end = rmq_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (atomic_load(&s->reput_from) >= target) return true;
        if (!s->reput_thr.running) {
            rmq_store__dispatch_until_end(s);
            return atomic_load(&s->reput_from) >= target;
        }
        rmq_store__reput_wake(s);
        if (rmq_mono_ms() >= end) return false;
        usleep(500);
    }
}

rmq_err_t rmq_store_set_tunables(rmq_store_t *s, const rmq_store_cfg_t *cfg) {
    if (cfg->delete_when && strcmp(cfg->delete_when, s->cfg.delete_when)) {
        char *nw = strdup(cfg->delete_when);
        char **old = realloc(s->old_delete_when, (s->n_old_delete_when + 1) * sizeof *old);
        if (!nw || !old) {
            free(nw);
            if (old) s->old_delete_when = old;
            return RMQ_ERR__NOMEM;
        }
        s->old_delete_when = old;
        old[s->n_old_delete_when++] =
            __atomic_exchange_n(&s->cfg.delete_when, nw, __ATOMIC_ACQ_REL);
    }
    __atomic_store_n(&s->cfg.file_reserved_time, cfg->file_reserved_time, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cfg.disk_max_used_space_ratio, cfg->disk_max_used_space_ratio,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&s->cfg.flush_interval_commitlog, cfg->flush_interval_commitlog,
                     __ATOMIC_RELAXED);
    return RMQ_OK;
}
