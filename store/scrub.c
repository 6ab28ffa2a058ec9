/* Background scrub (rmq only; RocketMQ checks CRCs at recovery alone): walks the sealed CommitLog
 * segments (full, and dispatched) record by record with the body CRC checked, at most
 * scrubRateMBps, round after round. A record that fails is quarantined with the bytes up to the
 * next record that validates (rmq_store__damage_end): from then on pulls, queries and reads by
 * offset skip it, the range is saved in <root>/quarantine, and one ERROR line names it. So a
 * body damaged on disk after it was written and checked (bit rot, a bad restore, a flipped
 * byte after a clean stop, where recovery checks only the newest segments) is found within one
 * pass and never served after that. Between passes it sleeps a minute. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

#define CHUNK (1 << 20) /* bytes checked between rate checks and stop checks */
#define PASS_PAUSE_MS 60000

/* Sleep up to ms on the scrub's condition variable; true when asked to stop. */
static bool nap(rmq_store_t *s, int64_t ms) {
    pthread_mutex_lock(&s->scrub_mu);
    if (!s->scrub_thr.stop && ms > 0) {
        struct timespec ts = rmq_deadline_ts(CLOCK_REALTIME, (uint64_t)ms);
        pthread_cond_timedwait(&s->scrub_cv, &s->scrub_mu, &ts);
    }
    bool stop = s->scrub_thr.stop;
    pthread_mutex_unlock(&s->scrub_mu);
    return stop;
}

static bool stopping(rmq_store_t *s) {
    if (!s->scrub_thr.running) return false; /* a synchronous pass (tests, tools) */
    pthread_mutex_lock(&s->scrub_mu);
    bool stop = s->scrub_thr.stop;
    pthread_mutex_unlock(&s->scrub_mu);
    return stop;
}

/* Check one sealed segment from pos; returns ranges quarantined, advances *checked. */
static uint64_t scrub_segment(rmq_store_t *s, rmq_mfile_t *f, int rate_mbps, uint64_t t0,
                              uint64_t *checked, bool *stop) {
    uint64_t found = 0, since = 0;
    int64_t pos = 0;
    while (pos < f->size && !*stop) {
        int64_t je = rmq_store__skip_end(s, f->start + pos);
        if (je >= 0) { /* already quarantined */
            pos = je - f->start;
            continue;
        }
        rmq_msg_rec_t r;
        int64_t rc = rmq_msg_rec_decode(f->base + pos, (size_t)(f->size - pos), true, &r);
        if (rc == 0 && r.total_size == f->size - pos) break; /* BLANK: the end */
        if (rc > 0 && r.phys_offset == f->start + pos) {
            pos += rc;
            since += (uint64_t)rc;
        } else {
            int64_t end = rmq_store__damage_end(s, f, pos);
            if (rmq_store__quarantine_add(s, f->start + pos, f->start + end)) {
                found++;
                RMQ_LOG_ERROR("store",
                              "scrub: CommitLog damaged at [%" PRId64 ", %" PRId64 ") in %s (%s): "
                              "quarantined, never served",
                              f->start + pos, f->start + end, f->path,
                              rc > 0 ? "stored offset differs" : "CRC or format check failed");
            }
            since += (uint64_t)(end - pos);
            pos = end;
        }
        if (since >= CHUNK) {
            *checked += since;
            atomic_fetch_add_explicit(&s->scrub_bytes, since, memory_order_relaxed);
            since = 0;
            if (rate_mbps > 0) { /* bytes so far at rate_mbps take this long */
                uint64_t due = t0 + *checked / ((uint64_t)rate_mbps * 1000);
                uint64_t now = rmq_mono_ms();
                if (due > now && s->scrub_thr.running)
                    *stop = nap(s, (int64_t)(due - now));
                else
                    *stop = stopping(s);
            } else {
                *stop = stopping(s);
            }
        }
    }
    *checked += since;
    atomic_fetch_add_explicit(&s->scrub_bytes, since, memory_order_relaxed);
    return found;
}

uint64_t rmq_store__scrub_pass(rmq_store_t *s, int rate_mbps) {
    uint64_t found = 0, checked = 0, t0 = rmq_mono_ms();
    bool stop = false;
    int64_t pos = rmq_mfq_min(&s->cl);
    if (pos < 0) return 0;
    while (!stop) {
        rmq_mfile_t *f = rmq_mfq_find(&s->cl, pos);
        if (!f) { /* deleted by retention meanwhile: go on from the new first segment */
            int64_t m = rmq_mfq_min(&s->cl);
            if (m <= pos) break;
            pos = m;
            continue;
        }
        /* sealed: full, not the one being appended to, and dispatched */
        bool sealed = atomic_load_explicit(&f->wrote, memory_order_acquire) >= f->size &&
                      f->start + f->size <= atomic_load(&s->reput_from) &&
                      f->start + f->size < atomic_load(&s->max_offset);
        if (sealed) found += scrub_segment(s, f, rate_mbps, t0, &checked, &stop);
        pos = f->start + f->size;
        rmq_mfile_unpin(f);
        if (!sealed) break;
    }
    if (!stop) atomic_fetch_add(&s->scrub_passes, 1);
    RMQ_LOG_DEBUG("store", "scrub pass: %" PRIu64 " bytes checked, %" PRIu64 " range(s) found",
                  checked, found);
    return found;
}

static void *scrub_main(void *arg) {
    rmq_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-scrub");
    /* the first pass after start-up waits too: recovery has just checked the newest segments */
    while (!nap(s, PASS_PAUSE_MS)) rmq_store__scrub_pass(s, s->cfg.scrub_rate_mbps);
    return NULL;
}

rmq_err_t rmq_store__scrub_start(rmq_store_t *s) {
    if (s->cfg.scrub_rate_mbps <= 0) return RMQ_OK;
    return rmq_store__thread_start(&s->scrub_thr, scrub_main, s, &s->scrub_mu, &s->scrub_cv);
}
