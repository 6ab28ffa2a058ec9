/* IndexFile: a persistent hash index from "topic#key" to physical offsets (store.md 4), built by
 * the dispatcher for every KEYS key and the UNIQ_KEY. Header fields are written into the mapping
 * as they change. After a crash, index files newer than the checkpoint's indexMsgTimestamp are
 * deleted (as RocketMQ does) and, unlike RocketMQ without messageIndexSafe, rebuilt by
 * re-dispatching the CommitLog from the first deleted file's beginPhyOffset, so no key is lost.
 * All access is under idx_mu (one writer, rare queries).
 *
 * Disk space: a file is created with only its header and hash slots (random access) plus 1 MiB
 * of entries reserved, and entries are reserved 1 MiB at a time as they come (never written
 * into a hole, so never a SIGBUS on a full disk), each time keeping the store's headroom. When
 * nothing more fits, put returns false and the dispatcher keeps the keys waiting (reput.c)
 * while the ConsumeQueues go on; one log line when that starts and one when it ends. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

/* Index entries are reserved on disk this much at a time (the file is sparse past them). */
#define IDX_CHUNK (1LL << 20)

#define HDR 40

static void hdr_write(rmq_index_file_t *x) {
    uint8_t *p = x->f->base;
    rmq_put_be64(p, (uint64_t)x->begin_ts);
    rmq_put_be64(p + 8, (uint64_t)x->end_ts);
    rmq_put_be64(p + 16, (uint64_t)x->begin_phy);
    rmq_put_be64(p + 24, (uint64_t)x->end_phy);
    rmq_put_be32(p + 32, (uint32_t)x->slot_count);
    rmq_put_be32(p + 36, (uint32_t)x->index_count);
}

static void hdr_read(rmq_index_file_t *x) {
    const uint8_t *p = x->f->base;
    x->begin_ts = (int64_t)rmq_get_be64(p);
    x->end_ts = (int64_t)rmq_get_be64(p + 8);
    x->begin_phy = (int64_t)rmq_get_be64(p + 16);
    x->end_phy = (int64_t)rmq_get_be64(p + 24);
    x->slot_count = (int32_t)rmq_get_be32(p + 32);
    x->index_count = (int32_t)rmq_get_be32(p + 36);
    if (x->index_count <= 0) x->index_count = 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static rmq_err_t push(rmq_store_t *s, rmq_index_file_t x) {
    if (s->idx_n == s->idx_cap) {
        size_t nc = s->idx_cap ? s->idx_cap * 2 : 8;
        rmq_index_file_t *ni = realloc(s->idx, nc * sizeof(*ni));
        if (!ni) return RMQ_ERR__NOMEM;
        s->idx = ni;
        s->idx_cap = nc;
    }
    s->idx[s->idx_n++] = x;
    return RMQ_OK;
}

rmq_err_t rmq_store__index_load(rmq_store_t *s, bool clean, int64_t *redispatch_from) {
    *redispatch_from = INT64_MAX;
    s->idx_hdr_bytes = HDR + 4LL * s->cfg.max_hash_slot_num;
    s->idx_file_size = s->idx_hdr_bytes + 20LL * s->cfg.max_index_num;
    DIR *d = opendir(s->index_dir);
    if (!d) {
        if (s->cfg.message_index_enable && rmq_mfq_count(&s->cl)) {
            /* deleted: every key of the CommitLog is indexed again by the start-up dispatch */
            RMQ_LOG_WARN("store", "%s missing: re-indexing the CommitLog's keys", s->index_dir);
            *redispatch_from = 0;
        }
        return RMQ_OK;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 6 && !strcmp(de->d_name + l - 6, ".alloc")) {
            snprintf(path, sizeof(path), "%s/%s", s->index_dir, de->d_name);
            unlink(path);
            continue;
        }
        if (l != 17 || strspn(de->d_name, "0123456789") != 17) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    rmq_err_t err = RMQ_OK;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", s->index_dir, names[i]);
        rmq_index_file_t x;
        memset(&x, 0, sizeof(x));
        rmq_err_t e = rmq_mfile_open(path, 0, s->idx_file_size, &x.f);
        if (e != RMQ_OK) {
            /* a wrong-sized index file (other maxHashSlotNum/maxIndexNum): drop it and rebuild */
            RMQ_LOG_WARN("store", "index file %s unusable, rebuilding its keys", path);
            unlink(path);
            *redispatch_from = 0;
            continue;
        }
        hdr_read(&x);
        /* what is written is reserved; entries after it are reserved as they come */
        x.reserved = s->idx_hdr_bytes + 20LL * (x.index_count > 0 ? x.index_count : 1);
        if (!clean && x.end_ts > s->ckpt.index_ts) {
            RMQ_LOG_INFO("store", "index file %s newer than the checkpoint: rebuilt", path);
            *redispatch_from = RMQ_MIN(*redispatch_from, x.begin_phy);
            atomic_store(&x.f->unlink_on_free, true);
            rmq_mfile_unpin(x.f);
            continue;
        }
        if ((err = push(s, x)) != RMQ_OK) {
            rmq_mfile_unpin(x.f);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return err;
}

void rmq_store__index_flush(rmq_store_t *s) {
    pthread_mutex_lock(&s->idx_mu);
    if (s->idx_n) {
        rmq_index_file_t *x = &s->idx[s->idx_n - 1];
        hdr_write(x);
        msync(x->f->base, (size_t)x->f->size, MS_ASYNC);
    }
    pthread_mutex_unlock(&s->idx_mu);
}

void rmq_store__index_close(rmq_store_t *s) {
    for (size_t i = 0; i < s->idx_n; i++) {
        hdr_write(&s->idx[i]);
        msync(s->idx[i].f->base, (size_t)s->idx[i].f->size, MS_SYNC);
        rmq_mfile_unpin(s->idx[i].f);
    }
    free(s->idx);
    s->idx = NULL;
    s->idx_n = s->idx_cap = 0;
}

static rmq_err_t new_file(rmq_store_t *s) {
    char name[96], path[4200];
    int64_t now = rmq_now_ms();
    for (int tries = 0; tries < 1000; tries++, now++) {
        time_t sec = (time_t)(now / 1000);
        struct tm tm;
        localtime_r(&sec, &tm);
        snprintf(name, sizeof(name), "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));
        snprintf(path, sizeof(path), "%s/%s", s->index_dir, name);
        if (access(path, F_OK) != 0) break;
    }
    mkdir(s->index_dir, 0755);
    /* never reserve what the disk cannot hold (420 MB for the default maxIndexNum): the keys
     * wait (reput.c) and are indexed once there is room */
    int64_t first = RMQ_MIN(s->idx_file_size, s->idx_hdr_bytes + IDX_CHUNK);
    if (!rmq_store__room_for(s, s->index_dir, first, "index file", &s->idx_no_room))
        return RMQ_ERR__DISK_FULL;
    rmq_index_file_t x;
    memset(&x, 0, sizeof(x));
    rmq_err_t e = rmq_mfile_create_partial(path, 0, s->idx_file_size, first, &x.f);
    if (e != RMQ_OK) return e;
    x.reserved = first;
    if (s->idx_n) {
        rmq_index_file_t *prev = &s->idx[s->idx_n - 1];
        x.begin_phy = x.end_phy = prev->end_phy;
        x.begin_ts = x.end_ts = prev->end_ts;
        /* the full file is final: make it durable and move the checkpoint past it */
        hdr_write(prev);
        msync(prev->f->base, (size_t)prev->f->size, MS_SYNC);
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt.index_ts = prev->end_ts;
        pthread_mutex_unlock(&s->ckpt_mu);
        rmq_store__ckpt_write(s);
    }
    x.index_count = 1;
    hdr_write(&x);
    if ((e = push(s, x)) != RMQ_OK) {
        atomic_store(&x.f->unlink_on_free, true);
        rmq_mfile_unpin(x.f);
    }
    return e;
}

static uint32_t key_hash(const char *k, size_t n) {
    int32_t h = rmq_java_hash(k, n);
    if (h == INT32_MIN) return 0;
    return (uint32_t)(h < 0 ? -h : h);
}

static bool put_key(rmq_store_t *s, const char *key, size_t klen, int64_t phys, int64_t ts) {
    for (int tries = 0; tries < 2; tries++) {
        if (!s->idx_n || s->idx[s->idx_n - 1].index_count >= s->cfg.max_index_num) {
            rmq_err_t e = new_file(s);
            if (e != RMQ_OK) {
                if (!atomic_exchange(&s->idx_no_room, true)) /* else logged by room_for */
                    RMQ_LOG_ERROR("store", "cannot create an index file (%s): keys wait",
                                  rmq_strerror(e));
                return false;
            }
        }
        rmq_index_file_t *x = &s->idx[s->idx_n - 1];
        if (x->index_count >= s->cfg.max_index_num) continue;
        uint32_t kh = key_hash(key, klen);
        uint32_t slot = kh % (uint32_t)s->cfg.max_hash_slot_num;
        uint8_t *sp = x->f->base + HDR + 4ULL * slot;
        int32_t sv = (int32_t)rmq_get_be32(sp);
        if (sv <= 0 || sv > x->index_count) sv = 0;
        int64_t diff = 0;
        if (x->begin_ts > 0) {
            diff = (ts - x->begin_ts) / 1000;
            if (diff > INT32_MAX) diff = INT32_MAX;
            if (diff < 0) diff = 0;
        }
        int64_t eo = s->idx_hdr_bytes + 20LL * x->index_count;
        if (eo + 20 > x->reserved) { /* reserve the next entries before writing into them */
            int64_t len = RMQ_MIN(IDX_CHUNK, x->f->size - x->reserved);
            if (!rmq_store__room_for(s, s->index_dir, len, "index file", &s->idx_no_room) ||
                rmq_mfile_reserve_range(x->f, x->reserved, len) != 0) {
                atomic_store(&s->idx_no_room, true);
                return false;
            }
            x->reserved += len;
        }
        uint8_t *ep = x->f->base + eo;
        rmq_put_be32(ep, kh);
        rmq_put_be64(ep + 4, (uint64_t)phys);
        rmq_put_be32(ep + 12, (uint32_t)diff);
        rmq_put_be32(ep + 16, (uint32_t)sv);
        rmq_put_be32(sp, (uint32_t)x->index_count);
        if (x->index_count <= 1) {
            x->begin_phy = phys;
            x->begin_ts = ts;
        }
        if (sv == 0) x->slot_count++;
        x->index_count++;
        x->end_phy = phys;
        x->end_ts = ts;
        hdr_write(x);
        return true;
    }
    return true;
}

bool rmq_store__index_put(rmq_store_t *s, const rmq_msg_rec_t *r, int64_t phys) {
    if (!s->cfg.message_index_enable) return true;
    if ((r->sysflag & RMQ_SYSFLAG_TXN_MASK) == RMQ_SYSFLAG_TXN_ROLLBACK) return true;
    size_t ul = 0, kl = 0;
    const char *uniq = rmq_msg_prop_get(r->props, (size_t)r->props_len, RMQ_PROP_UNIQ_KEY, &ul);
    const char *keys = rmq_msg_prop_get(r->props, (size_t)r->props_len, RMQ_PROP_KEYS, &kl);
    if (!uniq && !keys) return true;
    pthread_mutex_lock(&s->idx_mu);
    if (s->idx_n) {
        rmq_index_file_t *x = &s->idx[s->idx_n - 1];
        if (x->index_count > 1 && phys <= x->end_phy) { /* already indexed (re-dispatch) */
            pthread_mutex_unlock(&s->idx_mu);
            return true;
        }
    }
    bool ok = true;
    char buf[512];
    size_t tl = (size_t)r->topic_len;
    if (uniq && tl + 1 + ul < sizeof(buf)) {
        memcpy(buf, r->topic, tl);
        buf[tl] = '#';
        memcpy(buf + tl + 1, uniq, ul);
        ok = put_key(s, buf, tl + 1 + ul, phys, r->store_ts);
    }
    if (keys) {
        size_t i = 0;
        while (ok && i < kl) {
            size_t j = i;
            while (j < kl && keys[j] != ' ') j++;
            size_t l = j - i;
            if (l > 0 && tl + 1 + l < sizeof(buf)) {
                memcpy(buf, r->topic, tl);
                buf[tl] = '#';
                memcpy(buf + tl + 1, keys + i, l);
                ok = put_key(s, buf, tl + 1 + l, phys, r->store_ts);
            }
            i = j + 1;
        }
    }
    pthread_mutex_unlock(&s->idx_mu);
    return ok;
}

rmq_err_t rmq_store_query_by_key(rmq_store_t *s, const char *topic, const char *key, int max,
                                 int64_t begin_ms, int64_t end_ms, int64_t **offsets, size_t *n,
                                 int64_t *index_last_update_ms) {
    *offsets = NULL;
    *n = 0;
    if (max <= 0) max = s->cfg.default_query_max_num;
    if (max > 64) max = 64; /* maxMsgsNumBatch */
    int64_t *out = malloc((size_t)max * sizeof(*out));
    if (!out) return RMQ_ERR__NOMEM;
    char buf[512];
    int bl = snprintf(buf, sizeof(buf), "%s#%s", topic, key);
    if (bl < 0 || (size_t)bl >= sizeof(buf)) {
        free(out);
        return RMQ_ERR__INVALID_ARG;
    }
    uint32_t kh = key_hash(buf, (size_t)bl);
    uint32_t slot = kh % (uint32_t)s->cfg.max_hash_slot_num;
    size_t cnt = 0;
    pthread_mutex_lock(&s->idx_mu);
    if (index_last_update_ms) *index_last_update_ms = s->idx_n ? s->idx[s->idx_n - 1].end_ts : 0;
    for (size_t fi = s->idx_n; fi-- > 0 && cnt < (size_t)max;) {
        rmq_index_file_t *x = &s->idx[fi];
        bool overlap = (begin_ms < x->begin_ts && end_ms > x->end_ts) ||
                       (begin_ms >= x->begin_ts && begin_ms <= x->end_ts) ||
                       (end_ms >= x->begin_ts && end_ms <= x->end_ts);
        if (overlap) {
            int32_t sv = (int32_t)rmq_get_be32(x->f->base + HDR + 4ULL * slot);
            if (sv > 0 && sv <= x->index_count && x->index_count > 1) {
                for (int32_t cur = sv;;) {
                    const uint8_t *ep = x->f->base + s->idx_hdr_bytes + 20ULL * (uint64_t)cur;
                    uint32_t h = rmq_get_be32(ep);
                    int64_t phy = (int64_t)rmq_get_be64(ep + 4);
                    int32_t diff = (int32_t)rmq_get_be32(ep + 12);
                    int32_t prev = (int32_t)rmq_get_be32(ep + 16);
                    if (diff < 0) break;
                    int64_t t = x->begin_ts + (int64_t)diff * 1000;
                    if (h == kh && t >= begin_ms && t <= end_ms && rmq_store__skip_end(s, phy) < 0)
                        out[cnt++] = phy;
                    if (cnt >= (size_t)max || prev <= 0 || prev > x->index_count || prev == cur ||
                        t < begin_ms)
                        break;
                    cur = prev;
                }
            }
        }
        if (x->begin_ts < begin_ms) break;
    }
    pthread_mutex_unlock(&s->idx_mu);
    *offsets = out;
    *n = cnt;
    return RMQ_OK;
}

void rmq_store__index_delete_below(rmq_store_t *s, int64_t cl_min) {
    pthread_mutex_lock(&s->idx_mu);
    while (s->idx_n > 1 && s->idx[0].end_phy < cl_min) {
        RMQ_LOG_INFO("store", "deleting index file %s", s->idx[0].f->path);
        atomic_store(&s->idx[0].f->unlink_on_free, true);
        rmq_mfile_unpin(s->idx[0].f);
        memmove(s->idx, s->idx + 1, (s->idx_n - 1) * sizeof(*s->idx));
        s->idx_n--;
    }
    pthread_mutex_unlock(&s->idx_mu);
}
