/* Timer wheel storage (store/timer.h; broker.md 7.6, RocketMQ 5's TimerWheel, TimerLog and
 * TimerCheckpoint). Three kinds of mapped files, all written in place through MAP_SHARED:
 *
 *   append = write the 52-byte unit (its prevPos is the slot's lastPos), then the slot
 *            (firstPos when empty, lastPos, num), then the checkpoint (log position and the
 *            next timer queue offset).
 *
 * A kill -9 between those steps leaves a unit the checkpoint does not count; opening walks the
 * log from the checkpoint's position, links such units into their slots (unless the slot
 * already ends at or past them) and takes the next queue offset from the unit's reserved
 * field, so nothing is enqueued twice and nothing is lost. */
#include "store/timer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define CK_SIZE 4096
#define CK_READ_MS 0
#define CK_LOG_POS 8
#define CK_ENQ 16
#define CK_MASTER_ENQ 24
#define CK_STATE_VERSION 32
#define CK_TIMESTAMP 40
#define CK_COUNTER 48
#define CK_DELIVERED_MS 64
#define CK_APPENDED 72
#define CK_DELIVERED 80
#define CK_PRECISION 88
#define CK_SLOTS 96
#define CK_RMQ_MAGIC 104
#define RMQ_TIMER_CK_MAGIC 0x524d515454494d52LL /* "RMQTTIMR" */

typedef struct {
    int64_t start;
    uint8_t *map;
} seg_t;

struct rmq_store_timer_s {
    char root[512];
    char log_dir[600];
    int precision;
    int64_t slots;
    int64_t seg_size;
    uint8_t *wheel;
    size_t wheel_len;
    uint8_t *ck;
    seg_t *segs;
    size_t nsegs, cap;
};

static int mkdirs(const char *path) {
    char tmp[700];
    rmq_strlcpy(tmp, path, sizeof tmp);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0755);
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Map path at exactly len bytes, creating (zero-filled) it when absent. *fresh: it was made.
 * NULL (logged) on failure or when an existing file has another length. */
static uint8_t *map_file(const char *path, size_t len, bool *fresh, const char *key) {
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && (size_t)st.st_size != len) {
        RMQ_LOG_ERROR("timer",
                      "%s is %lld bytes, %zu expected: it was made with another %s; move it "
                      "away (pending timer messages in it would be lost) or restore the setting",
                      path, (long long)st.st_size, len, key);
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        RMQ_LOG_ERROR("timer", "open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* reserved, not sparse: a full disk is an error here, not a SIGBUS when a page is written */
    int rc = exists ? 0 : posix_fallocate(fd, 0, (off_t)len);
    if (rc != 0) {
        RMQ_LOG_ERROR("timer", "cannot reserve %zu bytes for %s: %s", len, path, strerror(rc));
        close(fd);
        unlink(path);
        return NULL;
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        RMQ_LOG_ERROR("timer", "mmap %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fresh) *fresh = !exists;
    return m;
}

static int64_t ck_get(const rmq_store_timer_t *t, int off) {
    return (int64_t)rmq_get_be64(t->ck + off);
}
static void ck_put(rmq_store_timer_t *t, int off, int64_t v) {
    rmq_put_be64(t->ck + off, (uint64_t)v);
}

/* ---- log segments ----------------------------------------------------------------------- */

static int cmp_seg(const void *a, const void *b) {
    int64_t x = ((const seg_t *)a)->start, y = ((const seg_t *)b)->start;
    return x < y ? -1 : x > y;
}

static rmq_err_t seg_add(rmq_store_timer_t *t, int64_t start) {
    if (t->nsegs == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        seg_t *n = realloc(t->segs, nc * sizeof *n);
        if (!n) return RMQ_ERR__NOMEM;
        t->segs = n;
        t->cap = nc;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%020" PRId64, t->log_dir, start);
    uint8_t *m = map_file(path, (size_t)t->seg_size, NULL, "timer log segment size");
    if (!m) return RMQ_ERR__IO;
    t->segs[t->nsegs].start = start;
    t->segs[t->nsegs].map = m;
    t->nsegs++;
    qsort(t->segs, t->nsegs, sizeof *t->segs, cmp_seg);
    return RMQ_OK;
}

static seg_t *seg_find(rmq_store_timer_t *t, int64_t pos) {
    size_t lo = 0, hi = t->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->segs[mid].start + t->seg_size <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->nsegs && t->segs[lo].start <= pos) return &t->segs[lo];
    return NULL;
}

static rmq_err_t load_segs(rmq_store_timer_t *t) {
    DIR *d = opendir(t->log_dir);
    if (!d) {
        RMQ_LOG_ERROR("timer", "opendir %s: %s", t->log_dir, strerror(errno));
        return RMQ_ERR__IO;
    }
    struct dirent *e;
    rmq_err_t err = RMQ_OK;
    while (err == RMQ_OK && (e = readdir(d))) {
        int64_t start;
        if (strlen(e->d_name) != 20 || rmq_parse_i64(e->d_name, &start) != 0) continue;
        if (start % t->seg_size != 0) {
            RMQ_LOG_WARN("timer", "%s/%s is not at a segment boundary; ignored", t->log_dir,
                         e->d_name);
            continue;
        }
        err = seg_add(t, start);
    }
    closedir(d);
    return err;
}

/* ---- units and slots ---------------------------------------------------------------------- */

static uint8_t *unit_at(rmq_store_timer_t *t, int64_t pos) {
    if (pos < 0) return NULL;
    seg_t *s = seg_find(t, pos);
    if (!s || pos - s->start + RMQ_TIMER_UNIT_SIZE > t->seg_size) return NULL;
    return s->map + (pos - s->start);
}

/* The reserved field: the timer queue offset in the high 40 bits, the exact due time relative
 * to the slot (+2^23, clamped) in the low 24. */
#define DUE_BIAS (1 << 23)

static bool unit_decode(const uint8_t *p, int64_t pos, rmq_store_timer_unit_t *u) {
    int32_t size = (int32_t)rmq_get_be32(p);
    int32_t magic = (int32_t)rmq_get_be32(p + 12);
    if (size != RMQ_TIMER_UNIT_SIZE || magic == 0 || (magic | 0xF) != 0xF) return false;
    u->pos = pos;
    u->prev_pos = (int64_t)rmq_get_be64(p + 4);
    u->magic = magic;
    u->write_ms = (int64_t)rmq_get_be64(p + 16);
    u->slot_ms = u->write_ms + (int32_t)rmq_get_be32(p + 24);
    u->offset_py = (int64_t)rmq_get_be64(p + 28);
    u->size_py = (int32_t)rmq_get_be32(p + 36);
    u->topic_hash = (int32_t)rmq_get_be32(p + 40);
    uint64_t r = rmq_get_be64(p + 44);
    u->queue_offset = (int64_t)(r >> 24);
    u->due_ms = u->slot_ms + (int64_t)(r & 0xFFFFFF) - DUE_BIAS;
    return true;
}

static void unit_encode(uint8_t *p, const rmq_store_timer_unit_t *u) {
    rmq_put_be32(p, RMQ_TIMER_UNIT_SIZE);
    rmq_put_be64(p + 4, (uint64_t)u->prev_pos);
    rmq_put_be32(p + 12, (uint32_t)u->magic);
    rmq_put_be64(p + 16, (uint64_t)u->write_ms);
    int64_t d = u->slot_ms - u->write_ms;
    if (d > INT32_MAX) d = INT32_MAX;
    if (d < INT32_MIN) d = INT32_MIN;
    rmq_put_be32(p + 24, (uint32_t)(int32_t)d);
    rmq_put_be64(p + 28, (uint64_t)u->offset_py);
    rmq_put_be32(p + 36, (uint32_t)u->size_py);
    rmq_put_be32(p + 40, (uint32_t)u->topic_hash);
    int64_t due = u->due_ms - u->slot_ms + DUE_BIAS;
    if (due < 0) due = 0; /* long overdue: still overdue */
    if (due > 0xFFFFFF) due = 0xFFFFFF;
    rmq_put_be64(p + 44, ((uint64_t)u->queue_offset << 24) | (uint64_t)due);
}

static uint8_t *slot_ptr(rmq_store_timer_t *t, int64_t time_ms) {
    int64_t idx = (time_ms / t->precision) % t->slots;
    if (idx < 0) idx += t->slots;
    return t->wheel + idx * RMQ_TIMER_SLOT_SIZE;
}

bool rmq_store_timer_slot(rmq_store_timer_t *t, int64_t time_ms, rmq_store_timer_slot_t *s) {
    const uint8_t *p = slot_ptr(t, time_ms);
    int64_t tick = time_ms / t->precision;
    memset(s, 0, sizeof *s);
    s->first_pos = s->last_pos = -1;
    s->time_ms = tick * t->precision;
    int32_t num = (int32_t)rmq_get_be32(p + 24);
    if ((int64_t)rmq_get_be64(p) != tick || num <= 0) return false;
    s->first_pos = (int64_t)rmq_get_be64(p + 8);
    s->last_pos = (int64_t)rmq_get_be64(p + 16);
    s->num = num;
    s->magic = (int32_t)rmq_get_be32(p + 28);
    return s->last_pos >= 0;
}

static void slot_write(rmq_store_timer_t *t, const rmq_store_timer_slot_t *s) {
    uint8_t *p = slot_ptr(t, s->time_ms);
    rmq_put_be64(p, (uint64_t)(s->time_ms / t->precision));
    rmq_put_be64(p + 8, (uint64_t)s->first_pos);
    rmq_put_be64(p + 16, (uint64_t)s->last_pos);
    rmq_put_be32(p + 24, (uint32_t)s->num);
    rmq_put_be32(p + 28, (uint32_t)s->magic);
}

static void link_unit(rmq_store_timer_t *t, int64_t slot_ms, const rmq_store_timer_unit_t *u) {
    rmq_store_timer_slot_t s;
    bool had = rmq_store_timer_slot(t, slot_ms, &s);
    if (had && s.last_pos >= u->pos) return; /* linked before the crash */
    if (!had) {
        s.first_pos = u->pos;
        s.num = 0;
    }
    s.last_pos = u->pos;
    s.num++;
    slot_write(t, &s);
}

/* ---- open / recover ------------------------------------------------------------------------ */

static rmq_err_t recover(rmq_store_timer_t *t) {
    int64_t pos = ck_get(t, CK_LOG_POS), enq = ck_get(t, CK_ENQ);
    int64_t appended = ck_get(t, CK_APPENDED), relinked = 0;
    for (;;) {
        if (pos % t->seg_size + RMQ_TIMER_UNIT_SIZE > t->seg_size)
            pos = (pos / t->seg_size + 1) * t->seg_size;
        const uint8_t *p = unit_at(t, pos);
        rmq_store_timer_unit_t u;
        if (!p || !unit_decode(p, pos, &u) || u.queue_offset < enq) break;
        link_unit(t, u.slot_ms, &u);
        enq = u.queue_offset + 1;
        appended++;
        relinked++;
        pos += RMQ_TIMER_UNIT_SIZE;
    }
    if (relinked)
        RMQ_LOG_WARN("timer",
                     "recovered %" PRId64 " timer log units written after the last checkpoint "
                     "update (next timer queue offset %" PRId64 ")",
                     relinked, enq);
    ck_put(t, CK_LOG_POS, pos);
    ck_put(t, CK_ENQ, enq);
    ck_put(t, CK_MASTER_ENQ, enq);
    ck_put(t, CK_APPENDED, appended);
    return RMQ_OK;
}

rmq_err_t rmq_store_timer_open(const rmq_store_timer_cfg_t *cfg, rmq_store_timer_t **out) {
    *out = NULL;
    if (cfg->precision_ms <= 0 || cfg->slots <= 0 || cfg->log_seg_size < RMQ_TIMER_UNIT_SIZE)
        return RMQ_ERR__INVALID_ARG;
    rmq_store_timer_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR__NOMEM;
    t->precision = cfg->precision_ms;
    t->slots = cfg->slots;
    t->seg_size = cfg->log_seg_size / RMQ_TIMER_UNIT_SIZE * RMQ_TIMER_UNIT_SIZE;
    rmq_strlcpy(t->root, cfg->root, sizeof t->root);
    snprintf(t->log_dir, sizeof t->log_dir, "%s/timerlog", t->root);
    char path[700];
    snprintf(path, sizeof path, "%s/config", t->root);
    if (mkdirs(path) != 0 || mkdirs(t->log_dir) != 0) {
        RMQ_LOG_ERROR("timer", "cannot create %s or %s: %s", path, t->log_dir, strerror(errno));
        free(t);
        return RMQ_ERR__IO;
    }
    rmq_err_t err = RMQ_ERR__IO;
    bool fresh;
    snprintf(path, sizeof path, "%s/config/timercheck", t->root);
    if (!(t->ck = map_file(path, CK_SIZE, &fresh, "size"))) goto fail;
    if (ck_get(t, CK_RMQ_MAGIC) != RMQ_TIMER_CK_MAGIC) {
        int64_t now = rmq_now_ms();
        memset(t->ck, 0, CK_SIZE);
        ck_put(t, CK_READ_MS, now / t->precision * t->precision);
        ck_put(t, CK_STATE_VERSION, 0);
        ck_put(t, CK_TIMESTAMP, now);
        ck_put(t, CK_PRECISION, t->precision);
        ck_put(t, CK_SLOTS, t->slots);
        ck_put(t, CK_RMQ_MAGIC, RMQ_TIMER_CK_MAGIC);
    } else if (ck_get(t, CK_PRECISION) != t->precision || ck_get(t, CK_SLOTS) != t->slots) {
        RMQ_LOG_ERROR("timer",
                      "%s was made with timerPrecisionMs=%" PRId64 " and %" PRId64
                      " wheel slots; now %d and %" PRId64
                      " (timerPrecisionMs / timerMaxDelaySec changed): restore them, or move "
                      "timerwheel, timerlog and config/timercheck away (pending timer messages "
                      "would be lost)",
                      path, ck_get(t, CK_PRECISION), ck_get(t, CK_SLOTS), t->precision, t->slots);
        err = RMQ_ERR__CONFIG;
        goto fail;
    }
    snprintf(path, sizeof path, "%s/timerwheel", t->root);
    t->wheel_len = (size_t)t->slots * RMQ_TIMER_SLOT_SIZE;
    if (!(t->wheel = map_file(path, t->wheel_len, NULL, "timerPrecisionMs/timerMaxDelaySec"))) {
        err = RMQ_ERR__CONFIG;
        goto fail;
    }
    if ((err = load_segs(t)) != RMQ_OK || (err = recover(t)) != RMQ_OK) goto fail;
    *out = t;
    return RMQ_OK;
fail:
    rmq_store_timer_close(t);
    return err;
}

void rmq_store_timer_close(rmq_store_timer_t *t) {
    if (!t) return;
    if (t->ck && t->wheel) rmq_store_timer_flush(t);
    for (size_t i = 0; i < t->nsegs; i++) munmap(t->segs[i].map, (size_t)t->seg_size);
    free(t->segs);
    if (t->wheel) munmap(t->wheel, t->wheel_len);
    if (t->ck) munmap(t->ck, CK_SIZE);
    free(t);
}

/* ---- append / read ------------------------------------------------------------------------- */

rmq_err_t rmq_store_timer_append(rmq_store_timer_t *t, int64_t slot_ms, rmq_store_timer_unit_t *u) {
    int64_t pos = ck_get(t, CK_LOG_POS);
    if (pos % t->seg_size + RMQ_TIMER_UNIT_SIZE > t->seg_size)
        pos = (pos / t->seg_size + 1) * t->seg_size;
    if (!seg_find(t, pos)) {
        rmq_err_t e = seg_add(t, pos / t->seg_size * t->seg_size);
        if (e != RMQ_OK) return e;
    }
    slot_ms = slot_ms / t->precision * t->precision;
    rmq_store_timer_slot_t s;
    bool had = rmq_store_timer_slot(t, slot_ms, &s);
    u->pos = pos;
    u->prev_pos = had ? s.last_pos : -1;
    u->magic = RMQ_TIMER_MAGIC_DEFAULT;
    u->write_ms = rmq_now_ms();
    u->slot_ms = slot_ms;
    unit_encode(unit_at(t, pos), u);
    if (!had) {
        s.first_pos = pos;
        s.num = 0;
    }
    s.last_pos = pos;
    s.num++;
    slot_write(t, &s);
    ck_put(t, CK_LOG_POS, pos + RMQ_TIMER_UNIT_SIZE);
    ck_put(t, CK_ENQ, u->queue_offset + 1);
    ck_put(t, CK_MASTER_ENQ, u->queue_offset + 1);
    ck_put(t, CK_APPENDED, ck_get(t, CK_APPENDED) + 1);
    return RMQ_OK;
}

rmq_err_t rmq_store_timer_unit(rmq_store_timer_t *t, int64_t pos, rmq_store_timer_unit_t *u) {
    const uint8_t *p = unit_at(t, pos);
    if (!p || pos >= ck_get(t, CK_LOG_POS) || !unit_decode(p, pos, u)) return RMQ_ERR__NOT_FOUND;
    return RMQ_OK;
}

void rmq_store_timer_progress(rmq_store_timer_t *t, rmq_store_timer_progress_t *p) {
    p->read_ms = ck_get(t, CK_READ_MS);
    p->delivered_ms = ck_get(t, CK_DELIVERED_MS);
    p->enq_offset = ck_get(t, CK_ENQ);
    p->log_pos = ck_get(t, CK_LOG_POS);
    p->appended_total = ck_get(t, CK_APPENDED);
    p->delivered_total = ck_get(t, CK_DELIVERED);
}

void rmq_store_timer_set_delivered(rmq_store_timer_t *t, int64_t read_ms, int64_t delivered_ms,
                                   int64_t n) {
    ck_put(t, CK_DELIVERED_MS, delivered_ms);
    ck_put(t, CK_READ_MS, read_ms);
    if (n) ck_put(t, CK_DELIVERED, ck_get(t, CK_DELIVERED) + n);
}

void rmq_store_timer_set_enq_offset(rmq_store_timer_t *t, int64_t next) {
    ck_put(t, CK_ENQ, next);
    ck_put(t, CK_MASTER_ENQ, next);
}

void rmq_store_timer_sync_prepare(rmq_store_timer_t *t, rmq_store_timer_sync_t *s) {
    s->n = 0;
    seg_t *g = seg_find(t, ck_get(t, CK_LOG_POS) - 1);
    if (g) {
        s->addr[s->n] = g->map;
        s->len[s->n++] = (size_t)t->seg_size;
    }
    s->addr[s->n] = t->wheel;
    s->len[s->n++] = t->wheel_len;
    ck_put(t, CK_TIMESTAMP, rmq_now_ms());
    s->addr[s->n] = t->ck;
    s->len[s->n++] = CK_SIZE;
}

rmq_err_t rmq_store_timer_sync_run(const rmq_store_timer_sync_t *s) {
    for (int i = 0; i < s->n; i++) {
        if (msync(s->addr[i], s->len[i], MS_SYNC) != 0) {
            RMQ_LOG_ERROR("timer", "msync of timer files failed: %s", strerror(errno));
            return RMQ_ERR__IO;
        }
    }
    return RMQ_OK;
}

rmq_err_t rmq_store_timer_flush(rmq_store_timer_t *t) {
    rmq_store_timer_sync_t s;
    rmq_store_timer_sync_prepare(t, &s);
    return rmq_store_timer_sync_run(&s);
}

int rmq_store_timer_clean(rmq_store_timer_t *t, int64_t before_ms) {
    int n = 0;
    int64_t cur = ck_get(t, CK_LOG_POS);
    while (t->nsegs > 1) {
        seg_t *s = &t->segs[0];
        if (s->start + t->seg_size > cur) break;
        int64_t last = s->start + (t->seg_size / RMQ_TIMER_UNIT_SIZE - 1) * RMQ_TIMER_UNIT_SIZE;
        rmq_store_timer_unit_t u;
        const uint8_t *p = unit_at(t, last);
        if (p && unit_decode(p, last, &u) && u.write_ms >= before_ms) break;
        char path[700];
        snprintf(path, sizeof path, "%s/%020" PRId64, t->log_dir, s->start);
        munmap(s->map, (size_t)t->seg_size);
        if (unlink(path) != 0)
            RMQ_LOG_WARN("timer", "unlink %s: %s", path, strerror(errno));
        else
            RMQ_LOG_INFO("timer", "deleted timer log segment %s (all its units delivered)", path);
        memmove(t->segs, t->segs + 1, (t->nsegs - 1) * sizeof *t->segs);
        t->nsegs--;
        n++;
    }
    return n;
}
