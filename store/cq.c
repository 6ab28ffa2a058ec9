/* ConsumeQueue: per (topic, queue) an array of 20-byte entries (CommitLog offset, size, tag hash
 * code) in mapped segment files (store.md 3, 5.6). Entries are appended by the dispatcher only;
 * readers see them through the segment's release-stored write position.
 *
 * Blank entries (offset 0, size 0x7FFFFFFF, tag 0) fill the part of a queue's first segment
 * before its first real entry (RocketMQ's pre-blank) and, unlike RocketMQ (which writes the next
 * entry at the current end and so shifts every later queue offset), any hole left by a CommitLog
 * record skipped as corrupt during recovery. Readers skip them. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

static rmq_cq_t *cq_new(rmq_store_t *s, const char *topic, size_t tlen, int32_t qid) {
    rmq_cq_t *cq = calloc(1, sizeof(*cq));
    if (!cq) return NULL;
    cq->topic = strndup(topic, tlen);
    cq->qid = qid;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%.*s/%d", s->cq_dir, (int)tlen, topic, qid);
    if (!cq->topic || rmq_mfq_init(&cq->q, dir, s->cq_fsize) != RMQ_OK) {
        free(cq->topic);
        free(cq);
        return NULL;
    }
    cq->q.unit = RMQ_CQ_UNIT;
    atomic_init(&cq->min_logic, 0);
    atomic_init(&cq->deleted, false);
    return cq;
}

void rmq_store__cq_free(rmq_cq_t *cq) {
    if (!cq) return;
    rmq_mfq_fini(&cq->q);
    free(cq->topic);
    free(cq);
}

rmq_cq_t *rmq_store__cq_get(rmq_store_t *s, const char *topic, size_t tlen, int32_t qid,
                            bool create) {
    char key[320];
    if (tlen > 300) return NULL;
    size_t kl = rmq_store__qkey(key, topic, tlen, '\001', qid);
    pthread_rwlock_rdlock(&s->cq_mu);
    rmq_map_ent_t *e = rmq_map_find(&s->cqs, key, kl);
    rmq_cq_t *cq = e ? e->v.ptr : NULL;
    pthread_rwlock_unlock(&s->cq_mu);
    if (cq || !create) return cq;
    pthread_rwlock_wrlock(&s->cq_mu);
    bool created;
    e = rmq_map_upsert(&s->cqs, key, kl, &created);
    if (e && created && !(e->v.ptr = cq_new(s, topic, tlen, qid))) {
        rmq_map_remove(&s->cqs, e);
        e = NULL;
    }
    cq = e ? e->v.ptr : NULL;
    pthread_rwlock_unlock(&s->cq_mu);
    return cq;
}

static bool parse_qid(const char *s, int32_t *out) {
    int64_t v;
    if (rmq_parse_i64(s, &v) != 0 || v < 0 || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

rmq_err_t rmq_store__cq_load_all(rmq_store_t *s, bool *dir_present) {
    DIR *d = opendir(s->cq_dir);
    *dir_present = d != NULL;
    if (!d) return RMQ_OK;
    rmq_err_t err = RMQ_OK;
    struct dirent *de;
    char path[4096];
    while (err == RMQ_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", s->cq_dir, de->d_name);
        DIR *td = opendir(path);
        if (!td) continue;
        struct dirent *qe;
        while (err == RMQ_OK && (qe = readdir(td))) {
            int32_t qid;
            if (!parse_qid(qe->d_name, &qid)) continue;
            rmq_cq_t *cq = rmq_store__cq_get(s, de->d_name, strlen(de->d_name), qid, true);
            if (!cq) {
                err = RMQ_ERR__NOMEM;
                break;
            }
            err = rmq_mfq_load(&cq->q);
            if (err != RMQ_OK)
                RMQ_LOG_ERROR("store", "cannot load ConsumeQueue %s/%d", de->d_name, qid);
            int64_t m = rmq_mfq_min(&cq->q);
            atomic_store(&cq->min_logic, m < 0 ? 0 : m);
        }
        closedir(td);
    }
    closedir(d);
    return err;
}

static inline bool entry_valid(const uint8_t *e) {
    int64_t off = (int64_t)rmq_get_be64(e);
    int32_t size = (int32_t)rmq_get_be32(e + 8);
    return off >= 0 && size > 0;
}
static inline bool entry_blank(const uint8_t *e) {
    return (int32_t)rmq_get_be32(e + 8) == RMQ_CQ_BLANK_SIZE;
}

/* max_phys from the last non-blank entry before byte end of f. */
static int64_t last_phys(rmq_mfile_t *f, int64_t end) {
    for (int64_t p = end - RMQ_CQ_UNIT; p >= 0; p -= RMQ_CQ_UNIT) {
        const uint8_t *e = f->base + p;
        if (!entry_blank(e)) return (int64_t)rmq_get_be64(e) + (int32_t)rmq_get_be32(e + 8);
    }
    return 0;
}

void rmq_store__cq_recover(rmq_store_t *s, rmq_cq_t *cq) {
    size_t n;
    rmq_mfile_t **fs = rmq_mfq_snapshot(&cq->q, &n);
    if (!fs || n == 0) {
        rmq_mfq_snapshot_free(fs, n);
        cq->max_phys = 0;
        return;
    }
    size_t i = n > 3 ? n - 3 : 0;
    int64_t end_start = fs[i]->start, end_pos = 0;
    rmq_mfile_t *endf = fs[i];
    for (; i < n; i++) {
        rmq_mfile_t *f = fs[i];
        int64_t p = 0;
        while (p + RMQ_CQ_UNIT <= f->size && entry_valid(f->base + p)) p += RMQ_CQ_UNIT;
        endf = f;
        end_start = f->start;
        end_pos = p;
        if (p + RMQ_CQ_UNIT <= f->size) break; /* stopped inside this file */
    }
    atomic_store(&endf->wrote, end_pos);
    atomic_store(&endf->flushed, end_pos);
    int64_t mp = 0;
    for (size_t k = n; k-- > 0 && mp == 0;) {
        if (fs[k]->start > end_start) continue;
        mp = last_phys(fs[k], fs[k] == endf ? end_pos : fs[k]->size);
    }
    cq->max_phys = mp;
    rmq_mfq_snapshot_free(fs, n);
    rmq_mfq_drop_from(&cq->q, end_start + 1);
}

void rmq_store__cq_truncate(rmq_store_t *s, rmq_cq_t *cq, int64_t phys) {
    for (;;) {
        rmq_mfile_t *f = rmq_mfq_last(&cq->q);
        if (!f) {
            cq->max_phys = 0;
            return;
        }
        int64_t wrote = atomic_load(&f->wrote);
        const uint8_t *e0 = f->base;
        if (wrote >= RMQ_CQ_UNIT && !entry_blank(e0) && (int64_t)rmq_get_be64(e0) >= phys) {
            int64_t start = f->start;
            rmq_mfile_unpin(f);
            rmq_mfq_drop_from(&cq->q, start);
            continue;
        }
        int64_t p = 0;
        while (p + RMQ_CQ_UNIT <= wrote && entry_valid(f->base + p) &&
               (entry_blank(f->base + p) || (int64_t)rmq_get_be64(f->base + p) < phys))
            p += RMQ_CQ_UNIT;
        if (p < wrote) {
            rmq_mfile_zero(f, p, wrote);
            RMQ_LOG_INFO("store", "ConsumeQueue %s/%d truncated to %" PRId64, cq->topic, cq->qid,
                         (f->start + p) / RMQ_CQ_UNIT);
        }
        atomic_store(&f->wrote, p);
        if (atomic_load(&f->flushed) > p) atomic_store(&f->flushed, p);
        int64_t mp = last_phys(f, p);
        if (mp == 0) {
            /* look in earlier files */
            size_t n;
            rmq_mfile_t **fs = rmq_mfq_snapshot(&cq->q, &n);
            for (size_t k = n; k-- > 0 && mp == 0;)
                if (fs[k] != f) mp = last_phys(fs[k], atomic_load(&fs[k]->wrote));
            rmq_mfq_snapshot_free(fs, n);
        }
        cq->max_phys = mp;
        rmq_mfile_unpin(f);
        return;
    }
}

/* Append one raw entry at the queue's end, creating the next segment when needed. */
static rmq_err_t write_entry(rmq_store_t *s, rmq_cq_t *cq, int64_t phys, int32_t size,
                             int64_t tags) {
    rmq_mfile_t *f = rmq_mfq_last(&cq->q);
    if (!f || atomic_load(&f->wrote) + RMQ_CQ_UNIT > f->size) {
        int64_t start = f ? f->start + f->size : 0;
        rmq_mfile_unpin(f);
        rmq_err_t e = rmq_mfq_create(&cq->q, start, &f);
        if (e != RMQ_OK) return e;
    }
    int64_t w = atomic_load(&f->wrote);
    uint8_t *p = f->base + w;
    rmq_put_be64(p, (uint64_t)phys);
    rmq_put_be32(p + 8, (uint32_t)size);
    rmq_put_be64(p + 12, (uint64_t)tags);
    atomic_store_explicit(&f->wrote, w + RMQ_CQ_UNIT, memory_order_release);
    rmq_mfile_unpin(f);
    return RMQ_OK;
}

rmq_err_t rmq_store__cq_put(rmq_store_t *s, rmq_cq_t *cq, int64_t phys, int32_t size,
                            int64_t tags_code, int64_t queue_offset) {
    if (atomic_load(&cq->deleted)) return RMQ_OK;   /* topic deleted meanwhile */
    if (phys + size <= cq->max_phys) return RMQ_OK; /* already built (re-dispatch) */
    int64_t expected = queue_offset * RMQ_CQ_UNIT;
    int64_t end = rmq_mfq_max(&cq->q);
    if (expected < end) {
        RMQ_LOG_WARN("store",
                     "ConsumeQueue %s/%d: entry for queue offset %" PRId64
                     " already present (end %" PRId64 "), skipped",
                     cq->topic, cq->qid, queue_offset, end / RMQ_CQ_UNIT);
        return RMQ_OK;
    }
    rmq_err_t e;
    if (expected > end) {
        if (rmq_mfq_count(&cq->q) == 0) {
            /* a queue whose first segment starts above 0: pre-blank the segment */
            int64_t seg = expected - expected % s->cq_fsize;
            rmq_mfile_t *f;
            if ((e = rmq_mfq_create(&cq->q, seg, &f)) != RMQ_OK) return e;
            rmq_mfile_unpin(f);
            end = seg;
            atomic_store(&cq->min_logic, expected);
        } else {
            RMQ_LOG_WARN("store",
                         "ConsumeQueue %s/%d: hole from %" PRId64 " to %" PRId64
                         " filled with blank entries",
                         cq->topic, cq->qid, end / RMQ_CQ_UNIT, queue_offset);
        }
        for (; end < expected; end += RMQ_CQ_UNIT)
            if ((e = write_entry(s, cq, 0, RMQ_CQ_BLANK_SIZE, 0)) != RMQ_OK) return e;
    }
    if ((e = write_entry(s, cq, phys, size, tags_code)) != RMQ_OK) return e;
    cq->max_phys = phys + size;
    return RMQ_OK;
}

int64_t rmq_store__cq_max_offset(rmq_cq_t *cq) {
    return rmq_mfq_max(&cq->q) / RMQ_CQ_UNIT;
}
int64_t rmq_store__cq_min_offset(rmq_cq_t *cq) {
    return atomic_load(&cq->min_logic) / RMQ_CQ_UNIT;
}

void rmq_store__cq_correct_min(rmq_store_t *s, rmq_cq_t *cq, int64_t cl_min) {
    rmq_mfile_t *f = rmq_mfq_first(&cq->q);
    if (!f) return;
    int64_t w = atomic_load_explicit(&f->wrote, memory_order_acquire);
    int64_t cur = atomic_load(&cq->min_logic);
    int64_t found = f->start + w;
    for (int64_t p = 0; p + RMQ_CQ_UNIT <= w; p += RMQ_CQ_UNIT) {
        const uint8_t *e = f->base + p;
        if (entry_blank(e)) continue;
        if ((int64_t)rmq_get_be64(e) >= cl_min) {
            found = f->start + p;
            break;
        }
    }
    if (found > cur || cur < f->start || cur > found) atomic_store(&cq->min_logic, found);
    rmq_mfile_unpin(f);
}

const uint8_t *rmq_store__cq_entries(rmq_cq_t *cq, int64_t qoff, int64_t *n, rmq_mfile_t **pin) {
    int64_t byte = qoff * RMQ_CQ_UNIT;
    rmq_mfile_t *f = rmq_mfq_find(&cq->q, byte);
    *pin = f;
    *n = 0;
    if (!f) return NULL;
    int64_t pos = byte - f->start;
    int64_t w = atomic_load_explicit(&f->wrote, memory_order_acquire);
    if (pos >= w) {
        rmq_mfile_unpin(f);
        *pin = NULL;
        return NULL;
    }
    *n = (w - pos) / RMQ_CQ_UNIT;
    return f->base + pos;
}

static void flush_queue(rmq_cq_t *cq, int least_pages) {
    size_t n;
    rmq_mfile_t **fs = rmq_mfq_snapshot(&cq->q, &n);
    for (size_t i = 0; i < n; i++) {
        rmq_mfile_t *f = fs[i];
        int64_t w = atomic_load(&f->wrote), fl = atomic_load(&f->flushed);
        if (w <= fl) continue;
        if (least_pages > 0 && w < f->size && (w / 4096 - fl / 4096) < least_pages) continue;
        rmq_mfile_flush(f, w);
    }
    rmq_mfq_snapshot_free(fs, n);
}

void rmq_store__cq_flush_all(rmq_store_t *s, int least_pages) {
    size_t bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *e = rmq_map_first(&s->cqs, &bi); e; e = rmq_map_next(&s->cqs, &bi, e))
        flush_queue(e->v.ptr, least_pages);
    pthread_rwlock_unlock(&s->cq_mu);
}

void rmq_store__cq_delete_below(rmq_store_t *s, int64_t cl_min) {
    size_t bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent)) {
        rmq_cq_t *cq = ent->v.ptr;
        for (;;) {
            if (rmq_mfq_count(&cq->q) <= 1) break; /* never the last segment */
            rmq_mfile_t *f = rmq_mfq_first(&cq->q);
            if (!f) break;
            const uint8_t *e = f->base + f->size - RMQ_CQ_UNIT;
            bool expired = atomic_load(&f->wrote) == f->size && !entry_blank(e) &&
                           (int64_t)rmq_get_be64(e) < cl_min;
            if (expired) {
                RMQ_LOG_INFO("store", "deleting ConsumeQueue segment %s", f->path);
                rmq_mfq_drop_first(&cq->q, f, true);
            }
            rmq_mfile_unpin(f);
            if (!expired) break;
        }
        rmq_store__cq_correct_min(s, cq, cl_min);
    }
    pthread_rwlock_unlock(&s->cq_mu);
}

static void rm_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_dir(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(path);
}

typedef struct {
    rmq_store_t *s;
    const char *topic;
    size_t tlen;
} del_topic_t;

/* rmq_map_each: retire topic's ConsumeQueues to the graveyard (readers may still hold them). */
static bool retire_cq(rmq_map_ent_t *e, void *arg) {
    del_topic_t *d = arg;
    rmq_cq_t *cq = e->v.ptr;
    if (strcmp(cq->topic, d->topic) != 0) return false;
    rmq_cq_t **g = realloc(d->s->cq_graveyard, (d->s->cq_graveyard_n + 1) * sizeof(*g));
    if (!g) return false;
    d->s->cq_graveyard = g;
    g[d->s->cq_graveyard_n++] = cq;
    atomic_store(&cq->deleted, true);
    rmq_mfq_destroy_all(&cq->q);
    return true;
}

/* rmq_map_each: drop "topic-qid" queue offsets of the topic. */
static bool drop_qoff(rmq_map_ent_t *e, void *arg) {
    const del_topic_t *d = arg;
    const char *dash = strrchr(e->key, '-');
    return dash && (size_t)(dash - e->key) == d->tlen && !memcmp(e->key, d->topic, d->tlen);
}

rmq_err_t rmq_store_delete_topic(rmq_store_t *s, const char *topic) {
    del_topic_t d = {s, topic, strlen(topic)};
    pthread_rwlock_wrlock(&s->cq_mu);
    rmq_map_each(&s->cqs, retire_cq, &d);
    pthread_rwlock_unlock(&s->cq_mu);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", s->cq_dir, topic);
    rm_dir(dir);
    /* queue offsets restart at 0, as RocketMQ's topicQueueTable entries are removed */
    pthread_mutex_lock(&s->put_mu);
    rmq_map_each(&s->qoff, drop_qoff, &d);
    pthread_mutex_unlock(&s->put_mu);
    RMQ_LOG_INFO("store", "topic %s: ConsumeQueues deleted", topic);
    return RMQ_OK;
}

rmq_err_t rmq_store_topic_queues(rmq_store_t *s, const char *topic, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    rmq_err_t e = RMQ_OK;
    size_t bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent;
         ent = rmq_map_next(&s->cqs, &bi, ent)) {
        rmq_cq_t *cq = ent->v.ptr;
        if (strcmp(cq->topic, topic) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            int32_t *ni = realloc(*ids, cap * sizeof(*ni));
            if (!ni) {
                e = RMQ_ERR__NOMEM;
                break;
            }
            *ids = ni;
        }
        (*ids)[(*n)++] = cq->qid;
    }
    pthread_rwlock_unlock(&s->cq_mu);
    return e;
}

rmq_err_t rmq_store_cq_entry(rmq_store_t *s, const char *topic, int32_t queue_id, int64_t index,
                             int64_t *phys, int32_t *size, int64_t *tags_code) {
    rmq_cq_t *cq = rmq_store__cq_get(s, topic, strlen(topic), queue_id, false);
    if (!cq || index < rmq_store__cq_min_offset(cq) || index >= rmq_store__cq_max_offset(cq))
        return RMQ_ERR__NOT_FOUND;
    int64_t n;
    rmq_mfile_t *pin;
    const uint8_t *e = rmq_store__cq_entries(cq, index, &n, &pin);
    if (!e || n < 1) return RMQ_ERR__NOT_FOUND;
    *phys = (int64_t)rmq_get_be64(e);
    *size = (int32_t)rmq_get_be32(e + 8);
    *tags_code = (int64_t)rmq_get_be64(e + 12);
    rmq_mfile_unpin(pin);
    return RMQ_OK;
}

rmq_err_t rmq_store_topics(rmq_store_t *s, char ***names, size_t *n) {
    rmq_map_t seen;
    rmq_map_init(&seen);
    rmq_err_t e = RMQ_OK;
    size_t bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *ent = rmq_map_first(&s->cqs, &bi); ent && e == RMQ_OK;
         ent = rmq_map_next(&s->cqs, &bi, ent)) {
        rmq_cq_t *cq = ent->v.ptr;
        if (!rmq_map_upsert(&seen, cq->topic, strlen(cq->topic), NULL)) e = RMQ_ERR__NOMEM;
    }
    pthread_rwlock_unlock(&s->cq_mu);
    *names = calloc(seen.count + 1, sizeof **names);
    *n = 0;
    if (!*names) e = RMQ_ERR__NOMEM;
    for (rmq_map_ent_t *ent = rmq_map_first(&seen, &bi); ent && *names;
         ent = rmq_map_next(&seen, &bi, ent))
        if (((*names)[*n] = strdup(ent->key))) (*n)++;
    rmq_map_fini(&seen, NULL);
    return e;
}

typedef struct {
    rmq_store_t *s;
    int64_t cl_min;
    char (*gone)[320]; /* "topic\x01qid" keys removed, for the directories and queue offsets */
    size_t n;
} expired_cq_t;

/* rmq_map_each: retire a queue whose last entry ends at or below the CommitLog's min offset. */
static bool retire_expired(rmq_map_ent_t *e, void *arg) {
    expired_cq_t *x = arg;
    rmq_cq_t *cq = e->v.ptr;
    int64_t end = __atomic_load_n(&cq->max_phys, __ATOMIC_RELAXED);
    if (strcmp(cq->topic, "SCHEDULE_TOPIC_XXXX") == 0 || end <= 0 || end > x->cl_min ||
        strlen(cq->topic) > 300)
        return false;
    rmq_cq_t **g = realloc(x->s->cq_graveyard, (x->s->cq_graveyard_n + 1) * sizeof(*g));
    char(*ng)[320] = realloc(x->gone, (x->n + 1) * sizeof *ng);
    if (g) x->s->cq_graveyard = g;
    if (ng) x->gone = ng;
    if (!g || !ng) return false;
    snprintf(x->gone[x->n++], 320, "%s/%d", cq->topic, cq->qid);
    RMQ_LOG_INFO("store",
                 "ConsumeQueue %s:%d removed: its last entry ends at %" PRId64
                 ", below the CommitLog min offset %" PRId64,
                 cq->topic, cq->qid, end, x->cl_min);
    g[x->s->cq_graveyard_n++] = cq;
    atomic_store(&cq->deleted, true);
    rmq_mfq_destroy_all(&cq->q);
    return true;
}

int rmq_store_clean_expired_cqs(rmq_store_t *s) {
    expired_cq_t x = {.s = s, .cl_min = rmq_mfq_min(&s->cl)};
    if (x.cl_min <= 0) return 0; /* nothing ever deleted: every entry still points at data */
    pthread_rwlock_wrlock(&s->cq_mu);
    rmq_map_each(&s->cqs, retire_expired, &x);
    pthread_rwlock_unlock(&s->cq_mu);
    for (size_t i = 0; i < x.n; i++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", s->cq_dir, x.gone[i]);
        rm_dir(dir);
        char *slash = strrchr(x.gone[i], '/');
        *slash = '-'; /* queue offsets are keyed "topic-qid" */
        pthread_mutex_lock(&s->put_mu);
        rmq_map_ent_t *e = rmq_map_find(&s->qoff, x.gone[i], strlen(x.gone[i]));
        if (e) rmq_map_remove(&s->qoff, e);
        pthread_mutex_unlock(&s->put_mu);
    }
    free(x.gone);
    return (int)x.n;
}
