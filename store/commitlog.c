/* CommitLog: appends and recovery (store.md 2, 5).
 *
 * Append: everything that does not depend on the position (field values, the body CRC) is
 * prepared outside the lock; under the one put lock we pick or roll the segment, assign the
 * queue offset, the physical offset and the store timestamp, and encode the record straight
 * into the mapping (the message bytes are copied once, no intermediate buffer), then publish
 * the new write position with a release store. A record that does not fit with 8 bytes to
 * spare closes the segment with the 8-byte BLANK record and goes to the next segment, which the
 * allocate-ahead thread has normally created already.
 *
 * Recovery rule (the README quotes this). Records are walked from the start segment (the
 * third-last after a clean shutdown; after a crash the newest segment whose first record is
 * older than the checkpoint) with the body CRC checked (checkCRCOnRecover) and the stored
 * physical offset required to equal the record's position:
 *   - a valid record is kept; a BLANK record moves to the next segment;
 *   - an invalid record whose TOTALSIZE is sane (91 bytes .. maxMessageSize + 64 KiB + headers,
 *     and it leaves the 8 bytes every segment keeps free) and is immediately followed by a valid
 *     record (CRC-checked, with the right physical offset) or by the segment's BLANK record is a
 *     corrupt record in the middle of the log: it is skipped by its length;
 *   - otherwise (a bad length, magic or CRC) the rest of this segment and the later ones are
 *     scanned for the next record that validates (v1/v2 magic, sane length, CRC, stored physical
 *     offset equal to its position; holes of sparse files skipped by SEEK_DATA) and recovery
 *     resumes there: the bytes in between are one damaged range;
 *   - skipped records and ranges are quarantined (ERROR log with offsets, one WARN line per
 *     damaged segment, one store-wide line at open): the dispatcher gives them no ConsumeQueue
 *     or index entry (a rebuilt queue gets blank entries there, so every later message keeps
 *     its queue offset), and pulls, queries and reads by offset skip entries written before
 *     the damage, so a damaged body is never served;
 *   - when nothing after the damage validates it is the torn tail: the log ends there. The rest
 *     of that segment is zeroed (hole punched and reserved again) and later segments are
 *     deleted, so no stale record can reappear after later appends, and ConsumeQueue entries
 *     at or past the end are truncated.
 * Apache RocketMQ instead truncates at the first invalid record, discarding every valid message
 * after a single corrupt one. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

#define BLANK_MIN 8

static int64_t fixed_sysflag(const rmq_store_msg_t *m) {
    return m->sysflag & ~(RMQ_SYSFLAG_BORNHOST_V6 | RMQ_SYSFLAG_STOREHOST_V6);
}

/* The properties' length with their pieces (props_more). */
static size_t props_total(const rmq_store_msg_t *m) {
    return (m->props ? m->props_len : 0) + m->props_more_len[0] + m->props_more_len[1];
}

static rmq_err_t validate(rmq_store_t *s, const rmq_store_msg_t *m) {
    if (!m->topic || m->topic_len == 0 || m->topic_len > 127) {
        RMQ_LOG_WARN("store", "put refused: topic length %zu not in 1..127", m->topic_len);
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    if (props_total(m) > 32767) {
        RMQ_LOG_WARN("store", "put refused: properties %zu bytes > 32767", props_total(m));
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    if (m->body_len > (size_t)s->cfg.max_message_size) {
        RMQ_LOG_WARN("store", "put refused: body %zu bytes > maxMessageSize %d", m->body_len,
                     s->cfg.max_message_size);
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    if (m->queue_id < 0) {
        RMQ_LOG_WARN("store", "put refused: queue id %d", m->queue_id);
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    return RMQ_OK;
}

static size_t rec_size(const rmq_store_msg_t *m) {
    return rmq_msg_rec_size(m->body_len, m->topic_len, props_total(m), m->born_host.ip_len == 16,
                            m->store_host.ip_len == 16);
}

/* Everything but the queue offset, physical offset and store time, which are assigned under
 * the put lock; the body CRC is computed here, outside it. */
static void prepare(rmq_msg_rec_t *r, const rmq_store_msg_t *m) {
    memset(r, 0, sizeof(*r));
    r->queue_id = m->queue_id;
    r->flag = m->flag;
    r->sysflag = (int32_t)fixed_sysflag(m);
    r->born_ts = m->born_ts;
    r->born_host = m->born_host;
    r->store_host = m->store_host;
    if (r->born_host.ip_len != 16) r->born_host.ip_len = 4;
    if (r->store_host.ip_len != 16) r->store_host.ip_len = 4;
    r->reconsume_times = m->reconsume_times;
    r->prepared_txn_offset = m->prepared_txn_offset;
    r->body = m->body;
    r->body_len = (int32_t)m->body_len;
    r->body_crc = m->body_len ? (int32_t)rmq_msg_body_crc(m->body, m->body_len) : 0;
    r->topic = m->topic;
    r->topic_len = (int32_t)m->topic_len;
    r->props = m->props;
    r->props_len = m->props ? (int32_t)m->props_len : 0;
}

/* The record at dst (size bytes) was encoded with m->props alone: the properties are its last
 * field, so their other pieces follow them and the total and properties lengths grow. */
static void encode_props_more(uint8_t *dst, size_t size, const rmq_store_msg_t *m) {
    size_t more = m->props_more_len[0] + m->props_more_len[1];
    if (!more) return;
    size_t plen = props_total(m);
    rmq_put_be32(dst, (uint32_t)size);
    uint8_t *p = dst + size - plen - 2;
    rmq_put_be16(p, (uint16_t)plen);
    p += 2 + (plen - more);
    for (int i = 0; i < 2; i++) {
        if (m->props_more_len[i]) memcpy(p, m->props_more[i], m->props_more_len[i]);
        p += m->props_more_len[i];
    }
}

static bool advances_queue(int32_t sysflag) {
    int t = sysflag & RMQ_SYSFLAG_TXN_MASK;
    return t == RMQ_SYSFLAG_TXN_NOT || t == RMQ_SYSFLAG_TXN_COMMIT;
}

/* ---- staging (SYNC_FLUSH) ---------------------------------------------------------------------
 * An msync writes back the pages the appender wrote through the mapping, and writeback
 * write-protects every page it cleans: one TLB shootdown per group commit (an IPI round, costly
 * on a paravirtualised VM), after which the appender's next writes fault the pages writable
 * again. Under SYNC_FLUSH, with a group commit every few dozen records, that was most of the
 * broker loop's CPU per message (6.3 us against 1.6 under ASYNC_FLUSH). A page the process
 * never writes through the mapping has no writable entry to revoke. So a SYNC_FLUSH store's
 * kicker (the broker's loop) encodes its records into a heap buffer and writes them with one
 * pwrite per turn (rmq_store_kick) or when the buffer fills, and only then publishes them
 * (f->wrote, max_offset: readers, the dispatcher and HA see nothing before) and queues their
 * group-commit requests. The bytes on disk are the same; the mapping still serves every read.
 * Apache RocketMQ's transientStorePoolEnable (a write buffer committed with
 * FileChannel.write) is the same idea, there for ASYNC_FLUSH. Puts on other threads, and
 * records larger than the buffer, write the staged ones first, then go through the mapping. */
#define RMQ_STORE_STAGE (1 << 20)

bool rmq_store__stage_write(rmq_store_t *s) {
    if (!s->stage_len) return true;
    rmq_mfile_t *f = s->cur;
    int64_t pos = atomic_load_explicit(&f->wrote, memory_order_relaxed);
    size_t len = s->stage_len;
    s->stage_len = 0;
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(f->fd, s->stage + done, len - done, (off_t)(pos + (int64_t)done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            RMQ_LOG_ERROR("store", "write %s at %" PRId64 ": %s", f->path, pos + (int64_t)done,
                          w < 0 ? strerror(errno) : "short write");
            if (atomic_exchange(&s->writable, false))
                RMQ_LOG_ERROR("store", "CommitLog write failed: the store refuses puts from now on "
                                       "(data written so far stays readable)");
            return false; /* their group commits fail: never published, never flushed */
        }
        done += (size_t)w;
    }
    atomic_store_explicit(&f->wrote, pos + (int64_t)len, memory_order_release);
    atomic_store(&s->max_offset, f->start + pos + (int64_t)len); /* seq_cst: reput_wake */
    atomic_store_explicit(&s->last_store_ts, s->stage_ts, memory_order_relaxed);
    return true;
}

/* The kicker once per turn, or rmq_store_close: only they stage, so the requests are theirs. */
void rmq_store__stage_commit(rmq_store_t *s) {
    pthread_mutex_lock(&s->put_mu);
    size_t n = s->stage_nreq;
    bool wrote = s->stage_len > 0;
    rmq_store__stage_write(s);
    rmq_gc_req_t *here = NULL; /* not queued: completed below, outside the lock */
    if (n && !rmq_store__gc_enqueue(s, s->stage_reqs, n)) {
        here = s->stage_reqs; /* taken: a callback's put starts a new array */
        s->stage_reqs = NULL;
        s->stage_capreq = 0;
    }
    s->stage_nreq = 0;
    pthread_mutex_unlock(&s->put_mu);
    if (wrote) rmq_store__notify(s);
    if (!here) return;
    rmq_store__gc_flush_here(s, here, n);
    free(here);
}

/* A staged put's group-commit request, queued at the write (put_mu held). */
static bool stage_req(rmq_store_t *s, const rmq_store_put_result_t *r, rmq_store_put_cb cb,
                      void *arg) {
    if (s->stage_nreq == s->stage_capreq) {
        size_t nc = s->stage_capreq ? s->stage_capreq * 2 : 64;
        rmq_gc_req_t *nr = realloc(s->stage_reqs, nc * sizeof(*nr));
        if (!nr) return false;
        s->stage_reqs = nr;
        s->stage_capreq = nc;
    }
    s->stage_reqs[s->stage_nreq++] = rmq_store__gc_req(s, r, cb, arg);
    return true;
}

/* The segment to append into, rolling with a BLANK record when total + 8 does not fit. Staged
 * records belong to cur: they are written before it rolls. */
static rmq_err_t segment_for(rmq_store_t *s, size_t total, rmq_mfile_t **out) {
    for (int tries = 0; tries < 3; tries++) {
        rmq_mfile_t *f = s->cur;
        if (!f) {
            int64_t start = atomic_load(&s->max_offset);
            start -= start % s->cfg.mapped_file_size_commitlog;
            rmq_mfile_t *last = rmq_mfq_last(&s->cl);
            if (last && last->start == start && atomic_load(&last->wrote) < last->size) {
                s->cur = last; /* keep the pin */
                continue;
            }
            if (last && last->start == start) start += last->size;
            rmq_mfile_unpin(last);
            rmq_err_t e = rmq_store__alloc_take(s, start, &f);
            if (e != RMQ_OK) return e;
            s->cur = f;
        }
        if (!rmq_mfile_reserve(f)) return RMQ_ERR__DISK_FULL; /* a padded segment, no room */
        int64_t wrote = atomic_load_explicit(&f->wrote, memory_order_relaxed);
        int64_t free_ = f->size - wrote - (int64_t)s->stage_len;
        if ((int64_t)total + BLANK_MIN <= free_) {
            *out = f;
            return RMQ_OK;
        }
        if (!rmq_store__stage_write(s)) return RMQ_ERR__IO;
        wrote = atomic_load_explicit(&f->wrote, memory_order_relaxed);
        free_ = f->size - wrote;
        if (free_ >= BLANK_MIN) {
            uint8_t *p = f->base + wrote;
            rmq_put_be32(p, (uint32_t)free_);
            rmq_put_be32(p + 4, (uint32_t)RMQ_MSG_MAGIC_BLANK);
        }
        atomic_store_explicit(&f->wrote, f->size, memory_order_release);
        atomic_store_explicit(&s->max_offset, f->start + f->size, memory_order_release);
        s->cur = NULL;
        int64_t next = f->start + f->size;
        rmq_mfile_unpin(f);
        rmq_mfile_t *nf;
        rmq_err_t e = rmq_store__alloc_take(s, next, &nf);
        if (e != RMQ_OK) return e;
        s->cur = nf;
    }
    return RMQ_ERR__FAIL;
}

/* Append n prepared records of one topic/queue under the put lock, encoding each straight into
 * the mapping (or the stage): the message bytes are copied once. *staged: the records wait for
 * the turn's rmq_store_kick, and so does done (queued then under SYNC_FLUSH). */
static rmq_err_t append(rmq_store_t *s, const rmq_store_msg_t *m0, rmq_msg_rec_t *recs,
                        const size_t *sizes, size_t n, size_t total, rmq_store_put_result_t *res,
                        int64_t *offsets, rmq_store_put_cb done, void *arg, bool *staged) {
    bool stage = total <= RMQ_STORE_STAGE && s->cfg.flush_disk_type == RMQ_FLUSH_SYNC &&
                 rmq_store__on_kicker(s);
    *staged = false;
    char key[160];
    size_t kl = rmq_store__qkey(key, m0->topic, m0->topic_len, '-', m0->queue_id);
    if (total + BLANK_MIN > (size_t)s->cfg.mapped_file_size_commitlog) {
        RMQ_LOG_WARN("store",
                     "put refused: %zu bytes do not fit a %" PRId64
                     "-byte segment (mappedFileSizeCommitLog)",
                     total, s->cfg.mapped_file_size_commitlog);
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    pthread_mutex_lock(&s->put_mu);
    if (!atomic_load(&s->writable) || atomic_load(&s->disk_full) || atomic_load(&s->cq_error)) {
        pthread_mutex_unlock(&s->put_mu);
        return RMQ_ERR_SERVICE_NOT_AVAILABLE;
    }
    if (atomic_load(&s->replica)) {
        pthread_mutex_unlock(&s->put_mu);
        RMQ_LOG_WARN("store", "put refused: this store replicates a master (read-only)");
        return RMQ_ERR_SERVICE_NOT_AVAILABLE;
    }
    if (stage && !s->stage && !(s->stage = malloc(RMQ_STORE_STAGE))) stage = false;
    /* the staged records go first: written in order, and before a record too large to stage */
    if (s->stage_len && (!stage || s->stage_len + total > RMQ_STORE_STAGE) &&
        !rmq_store__stage_write(s)) {
        pthread_mutex_unlock(&s->put_mu);
        return RMQ_ERR_SERVICE_NOT_AVAILABLE;
    }
    rmq_mfile_t *f;
    rmq_err_t e = segment_for(s, total, &f);
    if (e != RMQ_OK) {
        pthread_mutex_unlock(&s->put_mu);
        if (e != RMQ_ERR__DISK_FULL) /* no room is logged once per change by room_for */
            RMQ_LOG_ERROR("store", "put failed: no CommitLog segment (%s)", rmq_strerror(e));
        return RMQ_ERR_SERVICE_NOT_AVAILABLE;
    }
    /* the entry stays put while it lives: one lookup per append, no allocation after the first */
    rmq_map_ent_t *slot = rmq_map_upsert(&s->qoff, key, kl, NULL);
    if (!slot) {
        pthread_mutex_unlock(&s->put_mu);
        return RMQ_ERR__NOMEM;
    }
    int64_t wrote = atomic_load_explicit(&f->wrote, memory_order_relaxed) + (int64_t)s->stage_len;
    int64_t phys = f->start + wrote;
    uint8_t *dst = stage ? s->stage + s->stage_len : f->base + wrote;
    int64_t qo = slot->v.i64;
    int64_t ts = rmq_now_ms();
    int64_t last =
        s->stage_len ? s->stage_ts : atomic_load_explicit(&s->last_store_ts, memory_order_relaxed);
    if (ts < last) ts = last; /* keep store times non-decreasing across small clock steps */
    bool adv = advances_queue((int32_t)fixed_sysflag(m0));
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        recs[i].queue_offset = adv ? qo + (int64_t)i : 0;
        recs[i].phys_offset = phys + (int64_t)off;
        recs[i].store_ts = ts;
        rmq_msg_rec_encode(dst + off, &recs[i], false);
        if (n == 1) encode_props_more(dst + off, sizes[i], m0);
        if (offsets) offsets[i] = phys + (int64_t)off;
        off += sizes[i];
    }
    res->phys_offset = phys;
    res->queue_offset = adv ? qo : 0;
    res->store_ts = ts;
    res->wrote_bytes = (int32_t)total;
    res->count = (int32_t)n;
    if (stage) {
        s->stage_len += total;
        s->stage_ts = ts;
        /* no room to queue the request: write now, the request goes the unstaged way */
        *staged = !done || stage_req(s, res, done, arg);
        if (!*staged && !rmq_store__stage_write(s)) {
            if (adv) slot->v.i64 = qo + (int64_t)n;
            pthread_mutex_unlock(&s->put_mu);
            return RMQ_ERR_SERVICE_NOT_AVAILABLE;
        }
    } else {
        atomic_store_explicit(&f->wrote, wrote + (int64_t)total, memory_order_release);
        atomic_store(&s->max_offset, phys + (int64_t)total); /* seq_cst: see reput_wake */
        atomic_store_explicit(&s->last_store_ts, ts, memory_order_relaxed);
    }
    if (adv) slot->v.i64 = qo + (int64_t)n;
    pthread_mutex_unlock(&s->put_mu);
    rmq_store__warm_kick(s, phys + (int64_t)total);

    atomic_fetch_add_explicit(&s->put_count, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->put_bytes, total, memory_order_relaxed);
    return RMQ_OK;
}

static rmq_err_t complete(rmq_store_t *s, const rmq_store_put_result_t *r, rmq_store_put_cb done,
                          void *arg, bool staged) {
    if (staged) return RMQ_OK; /* the turn's rmq_store_kick writes, publishes and queues it */
    rmq_store__put_wake(s);
    rmq_store__notify(s);
    if (s->cfg.flush_disk_type == RMQ_FLUSH_SYNC && done) {
        rmq_gc_req_t q = rmq_store__gc_req(s, r, done, arg);
        if (!rmq_store__gc_enqueue(s, &q, 1)) rmq_store__gc_flush_here(s, &q, 1);
        return RMQ_OK;
    }
    if (done) done(RMQ_OK, r, arg);
    return RMQ_OK;
}

rmq_err_t rmq_store_put(rmq_store_t *s, const rmq_store_msg_t *m, rmq_store_put_result_t *r,
                        rmq_store_put_cb done, void *arg) {
    rmq_err_t e = validate(s, m);
    if (e != RMQ_OK) {
        atomic_fetch_add(&s->put_fail, 1);
        return e;
    }
    size_t L = rec_size(m);
    rmq_msg_rec_t rec;
    prepare(&rec, m);
    rmq_store_put_result_t tmp;
    if (!r) r = &tmp;
    bool staged;
    e = append(s, m, &rec, &L, 1, L, r, NULL, done, arg, &staged);
    if (e != RMQ_OK) {
        atomic_fetch_add(&s->put_fail, 1);
        return e;
    }
    return complete(s, r, done, arg, staged);
}

rmq_err_t rmq_store_put_batch(rmq_store_t *s, const rmq_store_msg_t *m, size_t n,
                              rmq_store_put_result_t *r, int64_t *offsets, rmq_store_put_cb done,
                              void *arg) {
    if (n == 0) return RMQ_ERR__INVALID_ARG;
    size_t total = 0;
    size_t *sizes = malloc(n * sizeof(*sizes));
    if (!sizes) return RMQ_ERR__NOMEM;
    rmq_err_t e = RMQ_OK;
    for (size_t i = 0; i < n && e == RMQ_OK; i++) {
        if ((e = validate(s, &m[i])) != RMQ_OK) break;
        if (m[i].props_more_len[0] || m[i].props_more_len[1]) {
            e = RMQ_ERR__INVALID_ARG; /* pieces are for single puts */
            break;
        }
        if (m[i].topic_len != m[0].topic_len || memcmp(m[i].topic, m[0].topic, m[0].topic_len) ||
            m[i].queue_id != m[0].queue_id) {
            RMQ_LOG_WARN("store", "put_batch refused: records of different topic/queue");
            e = RMQ_ERR_MESSAGE_ILLEGAL;
            break;
        }
        sizes[i] = rec_size(&m[i]);
        total += sizes[i];
    }
    rmq_msg_rec_t *recs = e == RMQ_OK ? malloc(n * sizeof(*recs)) : NULL;
    if (e == RMQ_OK && !recs) e = RMQ_ERR__NOMEM;
    if (e == RMQ_OK) {
        for (size_t i = 0; i < n; i++) prepare(&recs[i], &m[i]);
        rmq_store_put_result_t tmp;
        if (!r) r = &tmp;
        bool staged;
        e = append(s, &m[0], recs, sizes, n, total, r, offsets, done, arg, &staged);
        if (e == RMQ_OK)
            e = complete(s, r, done, arg, staged);
        else
            atomic_fetch_add(&s->put_fail, 1);
    } else {
        atomic_fetch_add(&s->put_fail, 1);
    }
    free(recs);
    free(sizes);
    return e;
}

/* ---- reads by physical offset ---------------------------------------------------------------- */

int64_t rmq_store__read_store_ts(rmq_store_t *s, int64_t phys) {
    rmq_mfile_t *f = rmq_mfq_find(&s->cl, phys);
    if (!f) return -1;
    int64_t pos = phys - f->start, ts = -1;
    int64_t readable = atomic_load_explicit(&f->wrote, memory_order_acquire);
    if (pos + 84 <= readable) {
        const uint8_t *p = f->base + pos;
        int32_t magic = (int32_t)rmq_get_be32(p + 4);
        if (magic == RMQ_MSG_MAGIC_V1 || magic == RMQ_MSG_MAGIC_V2) {
            uint32_t sysflag = rmq_get_be32(p + 36);
            int64_t at = (sysflag & RMQ_SYSFLAG_BORNHOST_V6) ? 68 : 56;
            ts = (int64_t)rmq_get_be64(p + at);
        }
    }
    rmq_mfile_unpin(f);
    return ts;
}

rmq_err_t rmq_store_read_at(rmq_store_t *s, int64_t phys_offset, uint8_t **rec, size_t *len) {
    if (rmq_store__skip_end(s, phys_offset) >= 0) {
        atomic_fetch_add_explicit(&s->quarantine_hits, 1, memory_order_relaxed);
        return RMQ_ERR__NOT_FOUND; /* quarantined: never served */
    }
    rmq_mfile_t *f = rmq_mfq_find(&s->cl, phys_offset);
    if (!f) return RMQ_ERR__NOT_FOUND;
    int64_t pos = phys_offset - f->start;
    int64_t readable = atomic_load_explicit(&f->wrote, memory_order_acquire);
    int64_t cap = atomic_load_explicit(&s->max_offset, memory_order_acquire) - f->start;
    if (cap < readable) readable = cap;
    rmq_err_t e = RMQ_ERR__NOT_FOUND;
    rmq_msg_rec_t r;
    if (pos < readable) {
        int64_t n = rmq_msg_rec_decode(f->base + pos, (size_t)(readable - pos), false, &r);
        if (n > 0) {
            *rec = malloc((size_t)n);
            if (!*rec) {
                e = RMQ_ERR__NOMEM;
            } else {
                memcpy(*rec, f->base + pos, (size_t)n);
                *len = (size_t)n;
                e = RMQ_OK;
            }
        }
    }
    rmq_mfile_unpin(f);
    return e;
}

/* ---- recovery -------------------------------------------------------------------------------- */

/* Is the record at off a corrupt one in the middle that can be skipped by its length? */
static bool skippable(rmq_store_t *s, rmq_mfile_t *f, int64_t off, int64_t *len) {
    if (off + 8 > f->size) return false;
    int64_t L = (int32_t)rmq_get_be32(f->base + off);
    if (L < 91 || L > s->max_record || off + L + BLANK_MIN > f->size) return false;
    int64_t next = off + L;
    rmq_msg_rec_t r;
    int64_t rc = rmq_msg_rec_decode(f->base + next, (size_t)(f->size - next), true, &r);
    bool ok =
        (rc > 0 && r.phys_offset == f->start + next) || (rc == 0 && r.total_size == f->size - next);
    if (ok) *len = L;
    return ok;
}

/* The last record of the log with a NUL in its topic or properties is torn, not complete: a
 * replica killed while receiving it (or a put interrupted mid-copy) has the record's header
 * and body (so the body CRC holds) but zeros where its last bytes never arrived. Topic and
 * properties are text and never hold a NUL; only the tail record is judged so (one followed by
 * nothing), so a stored oddity in the middle of the log is never dropped here. */
static bool torn_tail(const rmq_mfile_t *f, int64_t off, int64_t len, const rmq_msg_rec_t *r) {
    if (!memchr(r->topic, 0, (size_t)r->topic_len) &&
        !(r->props_len > 0 && memchr(r->props, 0, (size_t)r->props_len)))
        return false;
    int64_t next = off + len;
    return next + 4 > f->size || rmq_get_be32(f->base + next) == 0;
}

/* Does a valid record start at off of f: v1/v2 magic, a sane TOTALSIZE that leaves the 8 bytes
 * every segment keeps free, the CRC, and its stored physical offset equal to its position. */
static bool valid_at(rmq_store_t *s, rmq_mfile_t *f, int64_t off) {
    if (off + 91 + BLANK_MIN > f->size) return false;
    int64_t L = (int32_t)rmq_get_be32(f->base + off);
    if (L < 91 || L > s->max_record || off + L + BLANK_MIN > f->size) return false;
    rmq_msg_rec_t r;
    int64_t rc = rmq_msg_rec_decode(f->base + off, (size_t)L, true, &r);
    return rc == L && r.phys_offset == f->start + off;
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* The first valid record of f starting in [a, b - 4): its magic's bytes are searched only in
 * the 4 KiB pages that are not all zero (the unwritten end of a segment costs a zero test). */
static bool scan_range(rmq_store_t *s, rmq_mfile_t *f, int64_t a, int64_t b, int64_t *out) {
    static const uint8_t magic3[3] = {0xDA, 0xA3, 0x20}; /* v1 0xDAA320A7, v2 0xDAA320AB */
    for (int64_t c = (a + 4) & ~(int64_t)4095; c < b; c += 4096) {
        int64_t lo = RMQ_MAX(c, a + 4), hi = RMQ_MIN(c + 4096, b);
        if (lo >= hi || all_zero(f->base + lo, (size_t)(hi - lo))) continue;
        int64_t lim = RMQ_MIN(hi + 3, f->size);
        for (int64_t mlo = lo; mlo + 3 <= lim;) {
            const uint8_t *m = memmem(f->base + mlo, (size_t)(lim - mlo), magic3, 3);
            if (!m) break;
            int64_t mp = m - f->base;
            if (mp >= hi) break;
            if (mp + 3 < f->size && (m[3] == 0xA7 || m[3] == 0xAB) && valid_at(s, f, mp - 4)) {
                *out = mp - 4;
                return true;
            }
            mlo = mp + 1;
        }
    }
    return false;
}

/* After damage at files[j] + from - 1: the next valid record (valid_at) in this segment or a
 * later one, found by scanning for the magic bytes through the data regions of the files
 * (holes of a sparse or reserved-but-unwritten file are skipped by SEEK_DATA, zero pages by a
 * word test). A later segment also resumes at its start when it begins with a valid record.
 * false: nothing valid after, the damage is the torn tail. */
static bool resync(rmq_store_t *s, rmq_mfile_t **files, size_t n, size_t j, int64_t from,
                   size_t *rj, int64_t *roff) {
    for (size_t k = j; k < n; k++) {
        rmq_mfile_t *f = files[k];
        if (k > j && f->start != files[k - 1]->start + files[k - 1]->size) return false;
        int64_t pos = k == j ? from : 0;
        if (k > j && valid_at(s, f, 0)) {
            *rj = k;
            *roff = 0;
            return true;
        }
        while (pos + 91 + BLANK_MIN <= f->size) {
            off_t d = lseek(f->fd, (off_t)pos, SEEK_DATA);
            if (d < 0) break; /* ENXIO: only a hole is left */
            off_t h = lseek(f->fd, d, SEEK_HOLE);
            if (h < 0 || h > (off_t)f->size) h = (off_t)f->size;
            int64_t cand;
            if (scan_range(s, f, RMQ_MAX(pos, (int64_t)d - 4), (int64_t)h, &cand)) {
                *rj = k;
                *roff = cand;
                return true;
            }
            pos = RMQ_MAX((int64_t)h, pos + 1);
        }
    }
    return false;
}

/* Insert [from, to) into the sorted quarantine list; false when it overlaps a known range (found
 * again by this recovery) or on no memory. */
static bool add_skip_locked(rmq_store_t *s, int64_t from, int64_t to) {
    size_t i = 0;
    while (i < s->skip_n && s->skip[i].to <= from) i++;
    if (i < s->skip_n && s->skip[i].from < to) return false;
    if (s->skip_n == s->skip_cap) {
        size_t nc = s->skip_cap ? s->skip_cap * 2 : 8;
        rmq_store_range_t *ns = realloc(s->skip, nc * sizeof(*ns));
        if (!ns) return false; /* dispatch then stops at the damage, as before */
        s->skip = ns;
        s->skip_cap = nc;
    }
    memmove(s->skip + i + 1, s->skip + i, (s->skip_n - i) * sizeof(*s->skip));
    s->skip[i] = (rmq_store_range_t){from, to};
    s->skip_n++;
    s->skip_bytes += (uint64_t)(to - from);
    atomic_store(&s->skip_any, true);
    return true;
}

static bool add_skip(rmq_store_t *s, int64_t from, int64_t to) {
    pthread_rwlock_wrlock(&s->skip_mu);
    bool fresh = add_skip_locked(s, from, to);
    pthread_rwlock_unlock(&s->skip_mu);
    return fresh;
}

/* ---- the quarantine file: <root>/quarantine, "from to" per line -----------------------------
 * Recovery after a clean stop checks only the newest segments, so what an earlier recovery
 * quarantined is remembered here and stays unserved across restarts. */

static char *quarantine_path(rmq_store_t *s) {
    size_t n = strlen(s->root) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/quarantine", s->root);
    return p;
}

void rmq_store__quarantine_load(rmq_store_t *s) {
    char *path = quarantine_path(s), *text = NULL;
    size_t len;
    if (!path || rmq_store_cfgfile_read(path, &text, &len) != RMQ_OK) {
        free(path);
        return;
    }
    int64_t cl_min = rmq_mfq_min(&s->cl);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        long long a, b;
        if (line[0] == '#' || sscanf(line, "%lld %lld", &a, &b) != 2 || a < 0 || b <= a) continue;
        if (cl_min < 0 || b <= cl_min) continue; /* deleted by retention since */
        add_skip(s, a, b);
    }
    if (s->skip_n)
        RMQ_LOG_WARN("store",
                     "%zu CommitLog range(s) of %" PRIu64 " bytes stay quarantined (%s): "
                     "never served",
                     s->skip_n, s->skip_bytes, path);
    free(text);
    free(path);
}

static void quarantine_save(rmq_store_t *s) {
    pthread_rwlock_rdlock(&s->skip_mu);
    char *path = quarantine_path(s);
    size_t cap = 128 + s->skip_n * 44;
    char *buf = malloc(cap);
    if (path && buf) {
        size_t n = (size_t)snprintf(buf, cap,
                                    "# CommitLog ranges [from, to) quarantined by recovery "
                                    "(damaged, never served)\n");
        for (size_t i = 0; i < s->skip_n; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%" PRId64 " %" PRId64 "\n", s->skip[i].from,
                                  s->skip[i].to);
        pthread_rwlock_unlock(&s->skip_mu);
        if (rmq_store_cfgfile_write(path, buf, n) != RMQ_OK)
            RMQ_LOG_ERROR("store",
                          "cannot write %s: quarantined ranges may be served after "
                          "the next clean restart",
                          path);
    } else {
        pthread_rwlock_unlock(&s->skip_mu);
    }
    free(buf);
    free(path);
}

int64_t rmq_store__skip_end(rmq_store_t *s, int64_t phys) {
    if (!atomic_load_explicit(&s->skip_any, memory_order_acquire)) return -1;
    pthread_rwlock_rdlock(&s->skip_mu);
    size_t lo = 0, hi = s->skip_n;
    while (lo < hi) { /* first range with to > phys */
        size_t mid = (lo + hi) / 2;
        if (s->skip[mid].to <= phys)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t end = lo < s->skip_n && s->skip[lo].from <= phys ? s->skip[lo].to : -1;
    pthread_rwlock_unlock(&s->skip_mu);
    return end;
}

bool rmq_store__quarantine_add(rmq_store_t *s, int64_t from, int64_t to) {
    if (!add_skip(s, from, to)) return false;
    quarantine_save(s);
    return true;
}

int64_t rmq_store__damage_end(rmq_store_t *s, rmq_mfile_t *f, int64_t pos) {
    int64_t L, cand;
    if (skippable(s, f, pos, &L)) return pos + L;
    if (scan_range(s, f, pos + 1, f->size, &cand)) return cand;
    return f->size;
}

/* One line per damaged segment. */
static void seg_summary(rmq_mfile_t *f, uint64_t kept, uint64_t ranges, uint64_t bytes) {
    if (ranges)
        RMQ_LOG_WARN("store",
                     "CommitLog segment %s: %" PRIu64 " valid records kept, %" PRIu64
                     " damaged range(s) of %" PRIu64 " bytes quarantined",
                     f->path, kept, ranges, bytes);
}

static size_t pick_start_segment(rmq_store_t *s, rmq_mfile_t **files, size_t n, bool clean) {
    if (clean) return n > 3 ? n - 3 : 0;
    int64_t min_ts = RMQ_MIN(s->ckpt.physic_ts, s->ckpt.logics_ts) - 3000;
    if (min_ts < 0) min_ts = 0;
    for (size_t i = n; i-- > 0;) {
        const uint8_t *p = files[i]->base;
        int32_t magic = (int32_t)rmq_get_be32(p + 4);
        if (magic != RMQ_MSG_MAGIC_V1 && magic != RMQ_MSG_MAGIC_V2) continue;
        uint32_t sysflag = rmq_get_be32(p + 36);
        int64_t ts = (int64_t)rmq_get_be64(p + ((sysflag & RMQ_SYSFLAG_BORNHOST_V6) ? 68 : 56));
        if (ts != 0 && ts <= min_ts) {
            RMQ_LOG_INFO("store", "recovery starts at %s (checkpoint %" PRId64 ")", files[i]->path,
                         min_ts);
            return i;
        }
    }
    return 0;
}

rmq_err_t rmq_store__cl_recover(rmq_store_t *s, bool clean, int64_t *dispatch_from) {
    size_t n;
    rmq_mfile_t **files = rmq_mfq_snapshot(&s->cl, &n);
    if (!files) return RMQ_ERR__NOMEM;
    /* max physical offset the ConsumeQueues point to */
    int64_t cq_max = 0;
    size_t ncq = 0, bi;
    pthread_rwlock_rdlock(&s->cq_mu);
    for (rmq_map_ent_t *e = rmq_map_first(&s->cqs, &bi); e; e = rmq_map_next(&s->cqs, &bi, e)) {
        rmq_cq_t *cq = e->v.ptr;
        cq_max = RMQ_MAX(cq_max, cq->max_phys);
        ncq++;
    }
    pthread_rwlock_unlock(&s->cq_mu);

    if (n == 0) {
        atomic_store(&s->max_offset, 0);
        atomic_store(&s->flushed, 0);
        pthread_rwlock_rdlock(&s->cq_mu);
        for (rmq_map_ent_t *e = rmq_map_first(&s->cqs, &bi); e; e = rmq_map_next(&s->cqs, &bi, e))
            rmq_store__cq_truncate(s, e->v.ptr, 0);
        pthread_rwlock_unlock(&s->cq_mu);
        *dispatch_from = 0;
        rmq_mfq_snapshot_free(files, n);
        return RMQ_OK;
    }
    size_t start = pick_start_segment(s, files, n, clean);
    bool crc = s->cfg.check_crc_on_recover;
    int64_t process = files[start]->start;
    size_t j = start;
    int64_t off = 0;
    uint64_t kept = 0;
    /* per segment: records kept, damaged ranges and bytes (for its summary line) */
    uint64_t seg_kept = 0, seg_ranges = 0, seg_bytes = 0;
    for (;;) {
        rmq_mfile_t *f = files[j];
        rmq_msg_rec_t r;
        int64_t rc = rmq_msg_rec_decode(f->base + off, (size_t)(f->size - off), crc, &r);
        bool next_seg = false;
        if (rc > 0 && r.phys_offset == f->start + off && !torn_tail(f, off, rc, &r)) {
            off += rc;
            kept++;
            seg_kept++;
            process = f->start + off;
            continue;
        }
        if (rc == 0 && r.total_size == f->size - off) {
            process = f->start + f->size; /* BLANK: the next segment continues */
            next_seg = true;
        } else {
            int64_t L;
            size_t rj = j;
            int64_t roff = 0;
            bool by_len = skippable(s, f, off, &L);
            /* The usual end: zeros after a clean stop with nothing dispatched beyond them (a
             * clean stop dispatches everything). Not worth reading the rest of the segment. */
            bool plain_end = !by_len && clean && cq_max <= f->start + off &&
                             all_zero(f->base + off, (size_t)RMQ_MIN(4096, f->size - off));
            if (by_len) {
                roff = off + L;
            } else if (plain_end || !resync(s, files, n, j, off + 1, &rj, &roff)) {
                process = f->start + off; /* the torn tail: the log ends here */
                seg_summary(f, seg_kept, seg_ranges, seg_bytes);
                break;
            }
            int64_t from = f->start + off, to = files[rj]->start + roff;
            bool fresh = add_skip(s, from, to);
            if (fresh) s->skip_records++;
            if (fresh)
                RMQ_LOG_ERROR("store",
                              "CommitLog damaged at [%" PRId64 ", %" PRId64 ") (%" PRId64
                              " bytes, %s): quarantined, the records after it kept",
                              from, to, to - from,
                              by_len ? (rc == 0 ? "bad blank" : "record fails its CRC/format check")
                                     : "invalid length, magic or CRC; resynchronised on the next "
                                       "valid record");
            seg_ranges++;
            seg_bytes += (uint64_t)(to - from);
            process = to;
            while (j < rj) { /* whole segments inside the damaged range */
                seg_summary(files[j], seg_kept, seg_ranges, seg_bytes);
                seg_kept = seg_ranges = seg_bytes = 0;
                j++;
            }
            off = roff;
            if (off < files[j]->size) continue;
            next_seg = true;
        }
        if (next_seg) {
            seg_summary(files[j], seg_kept, seg_ranges, seg_bytes);
            seg_kept = seg_ranges = seg_bytes = 0;
            if (j + 1 >= n) break;
            if (files[j + 1]->start != files[j]->start + files[j]->size) {
                RMQ_LOG_ERROR("store", "CommitLog gap before %s: recovery stops there",
                              files[j + 1]->path);
                break;
            }
            j++;
            off = 0;
        }
    }
    uint64_t skipped = s->skip_records;
    /* ranges at or past the end (a torn tail cut them off) are gone with it */
    size_t before = s->skip_n;
    while (s->skip_n && s->skip[s->skip_n - 1].from >= process) {
        s->skip_n--;
        s->skip_bytes -= (uint64_t)(s->skip[s->skip_n].to - s->skip[s->skip_n].from);
    }
    if (skipped || before != s->skip_n) quarantine_save(s);
    /* Set positions: every segment before the one holding process is full; the one holding
     * process ends there and is zeroed past it; later ones go. */
    rmq_mfile_t *tail = NULL;
    for (size_t i = 0; i < n; i++) {
        rmq_mfile_t *f = files[i];
        if (f->start + f->size <= process) {
            atomic_store(&f->wrote, f->size);
            atomic_store(&f->flushed, f->size);
        } else if (f->start <= process) {
            tail = f;
        }
    }
    if (tail) {
        int64_t pos = process - tail->start;
        bool dirty = false;
        for (int64_t k = pos; k < tail->size && k < pos + 4096 && !dirty; k++)
            dirty = tail->base[k] != 0;
        if (dirty) s->torn_at = process;
        if (dirty)
            RMQ_LOG_WARN("store",
                         "CommitLog ends at %" PRId64 ": the torn or invalid bytes after "
                         "it in %s are discarded",
                         process, tail->path);
        if (!clean || dirty) {
            if (rmq_mfile_zero(tail, pos, tail->size) != RMQ_OK)
                RMQ_LOG_WARN("store", "could not zero %s past %" PRId64, tail->path, pos);
        }
        atomic_store(&tail->wrote, pos);
        atomic_store(&tail->flushed, pos);
        rmq_mfq_drop_from(&s->cl, tail->start + 1);
    } else {
        rmq_mfq_drop_from(&s->cl, process);
    }
    rmq_mfq_snapshot_free(files, n);
    atomic_store(&s->max_offset, process);
    atomic_store(&s->flushed, process);
    RMQ_LOG_INFO("store",
                 "CommitLog recovered (%s): end %" PRId64 ", %" PRIu64 " records checked, %" PRIu64
                 " new damaged range(s) quarantined (%zu in all, %" PRIu64 " bytes)",
                 clean ? "clean" : "after crash", process, kept, skipped, s->skip_n, s->skip_bytes);

    if (cq_max >= process) {
        pthread_rwlock_rdlock(&s->cq_mu);
        for (rmq_map_ent_t *e = rmq_map_first(&s->cqs, &bi); e; e = rmq_map_next(&s->cqs, &bi, e))
            rmq_store__cq_truncate(s, e->v.ptr, process);
        pthread_rwlock_unlock(&s->cq_mu);
        cq_max = 0;
        pthread_rwlock_rdlock(&s->cq_mu);
        for (rmq_map_ent_t *e = rmq_map_first(&s->cqs, &bi); e; e = rmq_map_next(&s->cqs, &bi, e))
            cq_max = RMQ_MAX(cq_max, ((rmq_cq_t *)e->v.ptr)->max_phys);
        pthread_rwlock_unlock(&s->cq_mu);
    }
    int64_t cl_min = rmq_mfq_min(&s->cl);
    if (cl_min < 0) cl_min = 0;
    int64_t from = ncq ? cq_max : cl_min;
    if (!clean) {
        size_t m;
        rmq_mfile_t **fs = rmq_mfq_snapshot(&s->cl, &m);
        if (fs && start < m) from = RMQ_MIN(from, fs[start]->start);
        rmq_mfq_snapshot_free(fs, m);
    }
    if (from < cl_min) from = cl_min;
    *dispatch_from = from;
    return RMQ_OK;
}
