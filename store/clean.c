/* The store's service thread and retention (store.md 6.7, 7).
 *
 * Every flushIntervalConsumeQueue ms: flush ConsumeQueues and the index header, then persist
 * the checkpoint (logicsMsgTimestamp captured before the flush). Every cleanResourceInterval ms:
 * a retention pass. Retention deletes CommitLog segments, oldest first and never the last, whose
 * mtime is older than fileReservedTime hours while the local hour is one of deleteWhen's, or
 * regardless of age when the CommitLog's disk is above diskMaxUsedSpaceRatio; it stops at the
 * first segment that is not expired or that a reader still pins (retried on the next pass, so a
 * mapped segment is never pulled from under a reader). Disk pressure deletes unexpired segments
 * only with cleanFileForciblyEnable (default false, unlike RocketMQ). Then ConsumeQueue and index
 * files wholly below the new CommitLog min offset go. Above 90 % disk use puts are refused (disk
 * full) until use drops below 85 %. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

double rmq_store__disk_ratio(const char *path) {
    struct statvfs v;
    if (statvfs(path, &v) != 0) return -1;
    double used = (double)(v.f_blocks - v.f_bfree) * (double)v.f_frsize;
    double avail = (double)v.f_bavail * (double)v.f_frsize;
    if (used + avail <= 0) return -1;
    return used / (used + avail);
}

/* Free space on dir's file system after reserving bytes, less the headroom (5 % of the file
 * system) kept so the store's own files cannot fill the disk; logs once per change of *state
 * (true while there is no room) and says why in s->no_room_why. */
bool rmq_store__room_for(rmq_store_t *s, const char *dir, int64_t bytes, const char *what,
                         _Atomic bool *state) {
    struct statvfs v;
    if (statvfs(dir, &v) != 0) return true; /* cannot tell: let the reservation decide */
    int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
    int64_t total = (int64_t)v.f_blocks * (int64_t)v.f_frsize;
    int64_t headroom = total / 20;
    bool ok = avail - bytes >= headroom;
    if (!ok && !atomic_exchange(state, true)) {
        pthread_mutex_lock(&s->why_mu);
        snprintf(s->no_room_why, sizeof(s->no_room_why),
                 "no room for a %" PRId64 " MB %s on %s: %" PRId64 " MB free, %" PRId64
                 " MB kept as headroom",
                 bytes >> 20, what, dir, avail >> 20, headroom >> 20);
        RMQ_LOG_ERROR("store", "%s", s->no_room_why);
        pthread_mutex_unlock(&s->why_mu);
    } else if (ok && atomic_exchange(state, false)) {
        RMQ_LOG_INFO("store", "room for a %s on %s again (%" PRId64 " MB free)", what, dir,
                     avail >> 20);
    }
    return ok;
}

static bool in_delete_hour(const char *when, int64_t now_ms) {
    if (!when) return false;
    time_t sec = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&sec, &tm);
    for (const char *p = when; *p;) {
        char *end;
        long h = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (h == tm.tm_hour) return true;
        p = end;
    }
    return false;
}

int rmq_store__run_clean(rmq_store_t *s, int mode, int64_t now_ms, bool *blocked) {
    if (!now_ms) now_ms = rmq_now_ms();
    double ratio = rmq_store__disk_ratio(s->cl_dir);
    if (ratio > 0.90) {
        if (!atomic_exchange(&s->disk_full, true)) {
            pthread_mutex_lock(&s->why_mu);
            snprintf(s->disk_full_why, sizeof(s->disk_full_why),
                     "disk full: %s is %.0f%% used (puts refused above 90%% until below 85%%)",
                     s->cl_dir, ratio * 100);
            RMQ_LOG_ERROR("store", "%s", s->disk_full_why);
            pthread_mutex_unlock(&s->why_mu);
        }
    } else if (ratio >= 0 && ratio < 0.85) {
        if (atomic_exchange(&s->disk_full, false))
            RMQ_LOG_INFO("store", "disk %.0f%% used: puts accepted again", ratio * 100);
    }
    bool space =
        mode == 2 ||
        ratio > __atomic_load_n(&s->cfg.disk_max_used_space_ratio, __ATOMIC_RELAXED) / 100.0 ||
        ratio > 0.85;
    /* RocketMQ deletes unexpired segments under disk pressure (cleanFileForciblyEnable, true
     * there); here only when the operator turns it on: a full disk refuses writes instead */
    bool force = mode == 2 || (space && s->cfg.clean_file_forcibly_enable);
    bool timed =
        mode >= 1 || in_delete_hour(__atomic_load_n(&s->cfg.delete_when, __ATOMIC_ACQUIRE), now_ms);
    int deleted = 0;
    if (blocked) *blocked = false;
    if (space || timed) {
        int64_t keep_ms =
            (int64_t)__atomic_load_n(&s->cfg.file_reserved_time, __ATOMIC_RELAXED) * 3600000LL;
        while (deleted < 10 && rmq_mfq_count(&s->cl) > 1) {
            rmq_mfile_t *f = rmq_mfq_first(&s->cl);
            if (!f) break;
            struct stat st;
            bool expired = force;
            if (!expired && stat(f->path, &st) == 0)
                expired = (int64_t)st.st_mtime * 1000 + keep_ms <= now_ms;
            if (!expired) {
                rmq_mfile_unpin(f);
                break;
            }
            if (!rmq_mfq_drop_first(&s->cl, f, false)) {
                RMQ_LOG_INFO("store", "segment %s is being read: deletion retried later", f->path);
                if (blocked) *blocked = true;
                rmq_mfile_unpin(f);
                break;
            }
            RMQ_LOG_INFO("store", "deleted CommitLog segment %s (%s)", f->path,
                         force ? "disk space, cleanFileForciblyEnable" : "expired");
            rmq_mfile_unpin(f);
            deleted++;
        }
    }
    int64_t cl_min = rmq_mfq_min(&s->cl);
    if (cl_min > s->last_clean_min) {
        rmq_store__cq_delete_below(s, cl_min);
        rmq_store__index_delete_below(s, cl_min);
        s->last_clean_min = cl_min;
    }
    return deleted;
}

static void *svc_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-store-svc");
    uint64_t last_cq = rmq_mono_ms(), last_clean = rmq_mono_ms();
    /* a request's turns left: a segment that a reader (a pull, the flush, the dispatcher, the
     * warm-up) holds for a moment is tried again every 100 ms for up to 5 s, as Java repeats a
     * manual deletion (manualDeleteFileSeveralTimes); the periodic pass outside deleteWhen
     * would not take it */
    int asked_turns = 0, asked_deleted = 0;
    pthread_mutex_lock(&s->svc_mu);
    while (!s->svc_thr.stop) {
        struct timespec ts = rmq_deadline_ts(CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&s->svc_cv, &s->svc_mu, &ts);
        if (s->svc_thr.stop) break;
        pthread_mutex_unlock(&s->svc_mu);
        uint64_t now = rmq_mono_ms();
        if (now - last_cq >= (uint64_t)s->cfg.flush_interval_cq) {
            last_cq = now;
            int64_t logics = atomic_load(&s->logics_ts);
            rmq_store__cq_flush_all(s, 0);
            rmq_store__index_flush(s);
            pthread_mutex_lock(&s->ckpt_mu);
            if (logics > s->ckpt.logics_ts) s->ckpt.logics_ts = logics;
            pthread_mutex_unlock(&s->ckpt_mu);
            rmq_store__ckpt_write(s);
        }
        if (now - last_clean >= (uint64_t)s->cfg.clean_resource_interval) {
            last_clean = now;
            rmq_store__run_clean(s, 0, 0, NULL);
        }
        if (atomic_exchange(&s->clean_asked, false)) {
            asked_turns = 50;
            asked_deleted = 0;
        }
        if (asked_turns > 0) {
            /* up to 20 passes of at most 10 segments each, as executeDeleteFilesManually */
            int k = 0, d;
            bool blocked;
            do {
                asked_deleted += d = rmq_store__run_clean(s, 1, 0, &blocked);
            } while (d == 10 && ++k < 20);
            if (!blocked || --asked_turns == 0) {
                asked_turns = 0;
                RMQ_LOG_INFO("store", "retention on request: %d CommitLog segment(s) deleted",
                             asked_deleted);
            }
        }
        pthread_mutex_lock(&s->svc_mu);
    }
    pthread_mutex_unlock(&s->svc_mu);
    return NULL;
}

rmq_err_t rmq_store__svc_start(rmq_store_t *s) {
    return rmq_store__thread_start(&s->svc_thr, svc_main, s, &s->svc_mu, &s->svc_cv);
}

void rmq_store_clean_expired_commitlog(rmq_store_t *s) {
    atomic_store(&s->clean_asked, true);
    pthread_mutex_lock(&s->svc_mu);
    pthread_cond_signal(&s->svc_cv);
    pthread_mutex_unlock(&s->svc_mu);
}
