/* rmq_msg_t: messages built by the application and messages decoded from pulled records.
 * Properties (TAGS and KEYS included) are a small array of owned key/value strings. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "common/msg.h"
#include "common/util.h"

/* The shared block of one decoded batch (see rmq_msg_t.slab). */
struct rmq_msg_slab_s {
    _Atomic size_t refs; /* messages of the batch not yet destroyed */
    size_t len;          /* of this block, header included */
    uint8_t *src;        /* the records the bodies point into (owned, free()d last) */
    rmq_kv_t *extra;     /* the batch's extra properties (inside this block), shared */
    size_t nextra;
};

rmq_msg_t *rmq_msg_alloc(void) {
    rmq_msg_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->queue_id = -1;
    m->queue_offset = -1;
    m->commitlog_offset = -1;
    return m;
}

rmq_msg_t *rmq_msg_new(const char *topic, const char *tags, const char *keys, const void *body,
                       size_t len, int flags) {
    if (!topic || !*topic || (len && !body)) return NULL;
    rmq_msg_t *m = rmq_msg_alloc();
    if (!m) return NULL;
    m->topic = strdup(topic);
    if (!m->topic) goto fail;
    if (flags & RMQ_MSG_F_COPY) {
        m->body = malloc(len ? len : 1);
        if (!m->body) goto fail;
        if (len) memcpy(m->body, body, len);
        m->own_body = true;
        if (flags & RMQ_MSG_F_FREE) free((void *)body); /* the caller gave it away */
    } else {
        m->body = (void *)body; /* borrowed: never written; owned (F_FREE): freed once */
        m->own_body = (flags & RMQ_MSG_F_FREE) != 0;
    }
    m->body_len = len;
    if (tags && *tags && rmq_msg_prop_set(m, RMQ_PROP_TAGS, tags)) goto fail;
    if (keys && *keys && rmq_msg_prop_set(m, RMQ_PROP_KEYS, keys)) goto fail;
    return m;
fail:
    rmq_msg_destroy(m);
    return NULL;
}

static bool in_pack(const rmq_msg_t *m, const void *p) {
    const rmq_msg_slab_t *sl = m->slab;
    return sl && (const char *)p >= (const char *)sl &&
           (const char *)p < (const char *)sl + sl->len;
}

void rmq_msg_free_part(const rmq_msg_t *m, void *p) {
    if (!in_pack(m, p)) free(p);
}

rmq_err_t rmq_msg_prop_set(rmq_msg_t *m, const char *k, const char *v) {
    if (!v) {
        rmq_msg_prop_del(m, k);
        return RMQ_OK;
    }
    for (size_t i = 0; i < m->nprops; i++) {
        if (strcmp(m->props[i].key, k) == 0) {
            char *nv = strdup(v);
            if (!nv) return RMQ_ERR__NOMEM;
            rmq_msg_free_part(m, m->props[i].val);
            m->props[i].val = nv;
            return RMQ_OK;
        }
    }
    if (m->nprops == m->cap_props) {
        size_t nc = m->cap_props ? m->cap_props * 2 : 8;
        rmq_kv_t *np;
        if (in_pack(m, m->props)) { /* a decoded message's array cannot grow in place */
            np = malloc(nc * sizeof(*np));
            if (np && m->nprops) memcpy(np, m->props, m->nprops * sizeof(*np));
        } else {
            np = realloc(m->props, nc * sizeof(*np));
        }
        if (!np) return RMQ_ERR__NOMEM;
        m->props = np;
        m->cap_props = nc;
    }
    char *nk = strdup(k), *nv = strdup(v);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return RMQ_ERR__NOMEM;
    }
    m->props[m->nprops].key = nk;
    m->props[m->nprops].val = nv;
    m->nprops++;
    return RMQ_OK;
}

void rmq_msg_prop_del(rmq_msg_t *m, const char *k) {
    for (size_t i = 0; i < m->nprops; i++) {
        if (strcmp(m->props[i].key, k) == 0) {
            rmq_msg_free_part(m, m->props[i].key);
            rmq_msg_free_part(m, m->props[i].val);
            m->props[i] = m->props[--m->nprops];
            return;
        }
    }
}

static bool valid_prop_text(const char *s) {
    return s && *s && !strchr(s, RMQ_PROP_NAME_SEP) && !strchr(s, RMQ_PROP_SEP);
}

rmq_err_t rmq_msg_set_property(rmq_msg_t *m, const char *k, const char *v) {
    if (!m || !valid_prop_text(k) || (v && !valid_prop_text(v))) return RMQ_ERR__INVALID_ARG;
    return rmq_msg_prop_set(m, k, v);
}

const char *rmq_msg_property(const rmq_msg_t *m, const char *k) {
    if (!m || !k) return NULL;
    for (size_t i = 0; i < m->nprops; i++)
        if (strcmp(m->props[i].key, k) == 0) return m->props[i].val;
    return NULL;
}

rmq_err_t rmq_msg_set_delay_level(rmq_msg_t *m, int level) {
    if (!m || level < 0 || level > 18) return RMQ_ERR__INVALID_ARG;
    if (level == 0) {
        rmq_msg_prop_del(m, RMQ_PROP_DELAY);
        return RMQ_OK;
    }
    char b[16];
    snprintf(b, sizeof b, "%d", level);
    return rmq_msg_prop_set(m, RMQ_PROP_DELAY, b);
}

rmq_err_t rmq_msg_set_deliver_time(rmq_msg_t *m, int64_t deliver_ms) {
    if (!m || deliver_ms < 0) return RMQ_ERR__INVALID_ARG;
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)deliver_ms);
    /* 4.x commercial/ONS name and the 5.x timer name: a broker honours whichever it knows */
    rmq_err_t e = rmq_msg_prop_set(m, RMQ_PROP_START_DELIVER_TIME, b);
    if (!e) e = rmq_msg_prop_set(m, RMQ_PROP_TIMER_DELIVER_MS, b);
    return e;
}

enum { ID_NONE, ID_LAZY, ID_BUILDING, ID_BUILT };

/* m's offset id, built on the first call (a decoded message's listener may hand it to other
 * threads, so the first caller builds it and any other waits the few ns until it is there);
 * NULL for a message without a store host. */
static const char *offset_id(const rmq_msg_t *cm) {
    rmq_msg_t *m = (rmq_msg_t *)cm; /* a cache inside the message, never seen half-written */
    int st = atomic_load_explicit(&m->id_state, memory_order_acquire);
    if (st == ID_BUILT) return m->offset_id;
    if (st == ID_NONE) return NULL;
    if (st == ID_LAZY &&
        atomic_compare_exchange_strong_explicit(&m->id_state, &st, ID_BUILDING,
                                                memory_order_acquire, memory_order_acquire)) {
        rmq_msg_offset_id_encode(m->offset_id, &m->store_host, m->commitlog_offset);
        atomic_store_explicit(&m->id_state, ID_BUILT, memory_order_release);
        return m->offset_id;
    }
    while (atomic_load_explicit(&m->id_state, memory_order_acquire) != ID_BUILT)
        sched_yield(); /* another thread is writing 32 or 56 hex digits */
    return m->offset_id;
}

const char *rmq_msg_id(const rmq_msg_t *m) {
    const char *id = rmq_msg_property(m, RMQ_PROP_UNIQ_KEY);
    if (id) return id;
    return m && m->received ? offset_id(m) : NULL;
}
const char *rmq_msg_offset_id(const rmq_msg_t *m) {
    return m ? offset_id(m) : NULL;
}
const char *rmq_msg_topic(const rmq_msg_t *m) {
    return m ? m->topic : NULL;
}
const char *rmq_msg_tags(const rmq_msg_t *m) {
    return rmq_msg_property(m, RMQ_PROP_TAGS);
}
const char *rmq_msg_keys(const rmq_msg_t *m) {
    return rmq_msg_property(m, RMQ_PROP_KEYS);
}
const void *rmq_msg_body(const rmq_msg_t *m, size_t *len) {
    if (len) *len = m ? m->body_len : 0;
    return m ? m->body : NULL;
}
int64_t rmq_msg_queue_offset(const rmq_msg_t *m) {
    return m && m->received ? m->queue_offset : -1;
}
int rmq_msg_queue_id(const rmq_msg_t *m) {
    return m && m->received ? m->queue_id : -1;
}
int64_t rmq_msg_born_ts(const rmq_msg_t *m) {
    return m && m->received ? m->born_ts : 0;
}
int64_t rmq_msg_store_ts(const rmq_msg_t *m) {
    return m && m->received ? m->store_ts : 0;
}
int rmq_msg_reconsume_times(const rmq_msg_t *m) {
    return m && m->received ? m->reconsume_times : 0;
}
int64_t rmq_msg_commitlog_offset(const rmq_msg_t *m) {
    return m && m->received ? m->commitlog_offset : -1;
}

void rmq_msg_destroy(rmq_msg_t *m) {
    if (!m) return;
    rmq_msg_free_part(m, m->topic);
    if (m->own_body) rmq_msg_free_part(m, m->body);
    for (size_t i = 0; i < m->nprops; i++) {
        rmq_msg_free_part(m, m->props[i].key);
        rmq_msg_free_part(m, m->props[i].val);
    }
    rmq_msg_free_part(m, m->props);
    if (m->slab)
        rmq_msg_slab_unref(m->slab); /* m lives in it */
    else
        free(m);
}

void rmq_msgs_destroy(rmq_msg_t **msgs, size_t n) {
    if (!msgs) return;
    for (size_t i = 0; i < n; i++) rmq_msg_destroy(msgs[i]);
    free(msgs);
}

rmq_err_t rmq_msg_props_encode(const rmq_msg_t *m, rmq_buf_t *b) {
    for (size_t i = 0; i < m->nprops; i++) {
        if (i && rmq_buf_append_u8(b, RMQ_PROP_SEP)) return RMQ_ERR__NOMEM;
        if (rmq_buf_append_str(b, m->props[i].key) || rmq_buf_append_u8(b, RMQ_PROP_NAME_SEP) ||
            rmq_buf_append_str(b, m->props[i].val))
            return RMQ_ERR__NOMEM;
    }
    return RMQ_OK;
}

rmq_err_t rmq_batch_encode(rmq_msg_t *const *msgs, size_t n, rmq_buf_t *b) {
    rmq_buf_t props;
    rmq_buf_init(&props);
    for (size_t i = 0; i < n; i++) {
        props.len = 0;
        if (rmq_msg_props_encode(msgs[i], &props)) goto oom;
        if (props.len > 32767) {
            rmq_buf_fini(&props);
            return RMQ_ERR__BAD_MSG;
        }
        size_t total = 20 + msgs[i]->body_len + props.len + 2;
        /* TOTALSIZE counts every field: 4+4+4+4 + 4+body + 2+props */
        if (rmq_buf_append_be32(b, (uint32_t)total) || rmq_buf_append_be32(b, 0) ||
            rmq_buf_append_be32(b, 0) || rmq_buf_append_be32(b, (uint32_t)msgs[i]->flag) ||
            rmq_buf_append_be32(b, (uint32_t)msgs[i]->body_len) ||
            rmq_buf_append(b, msgs[i]->body, msgs[i]->body_len) ||
            rmq_buf_append_be16(b, (uint16_t)props.len) || rmq_buf_append(b, props.data, props.len))
            goto oom;
    }
    rmq_buf_fini(&props);
    return RMQ_OK;
oom:
    rmq_buf_fini(&props);
    return RMQ_ERR__NOMEM;
}

/* An upper bound of the properties in props (one name separator per pair). */
static size_t count_props(const char *props, size_t len) {
    size_t n = 0;
    for (const char *p = props, *e = props + len; p < e; p++) {
        p = memchr(p, RMQ_PROP_NAME_SEP, (size_t)(e - p));
        if (!p) break;
        n++;
    }
    return n;
}

/* Add key ks = vs to m's array; a repeated key replaces the earlier value (last wins, as
 * rmq_msg_prop_set would). */
static void pack_kv(rmq_msg_t *m, char *ks, char *vs) {
    for (size_t i = 0; i < m->nprops; i++) { /* two bytes first: repeats are rare */
        const char *k = m->props[i].key;
        if (k[0] == ks[0] && (!k[0] || (k[1] == ks[1] && strcmp(k, ks) == 0))) {
            m->props[i].val = vs;
            return;
        }
    }
    m->props[m->nprops].key = ks;
    m->props[m->nprops].val = vs;
    m->nprops++;
}

/* The record's properties text copied to dst once (len + 1 bytes) and cut into NUL-terminated
 * keys and values in place: the pairs rmq_msg_prop_each would pass, in its order. */
static void pack_props_text(rmq_msg_t *m, const char *props, size_t len, char *dst) {
    memcpy(dst, props, len);
    dst[len] = 0;
    size_t i = 0;
    while (i < len) {
        char *pair = dst + i;
        char *end = memchr(pair, RMQ_PROP_SEP, len - i);
        size_t pl = end ? (size_t)(end - pair) : len - i;
        i += pl + 1;
        char *sep = memchr(pair, RMQ_PROP_NAME_SEP, pl);
        if (!sep) continue;
        size_t kl = (size_t)(sep - pair), vl = pl - kl - 1;
        if (kl == 0 || vl == 0) continue;
        *sep = 0;
        pair[pl] = 0; /* the pair separator, or the terminator past the text */
        pack_kv(m, pair, sep + 1);
    }
}

#define PACK_ALIGN(n) (((n) + 15) & ~(size_t)15)

void rmq_msg_slab_unref(rmq_msg_slab_t *sl) {
    if (atomic_fetch_sub(&sl->refs, 1) != 1) return;
    free(sl->src);
    free(sl);
}

/* Bytes one record takes in the block: struct, property array, topic and property strings
 * (the body stays in the records, unless compressed: then it is inflated on its own). */
static size_t rec_block_len(const rmq_msg_rec_t *r, size_t nextra, size_t *nprops_out) {
    size_t nprops = r->props_len > 0 ? count_props(r->props, (size_t)r->props_len) : 0;
    nprops += nextra;
    *nprops_out = nprops;
    /* each property's key and value are disjoint pieces of the properties text separated by
     * a byte, so their NUL-terminated copies fit in props_len + 1 */
    return PACK_ALIGN(sizeof(rmq_msg_t)) + PACK_ALIGN(nprops * sizeof(rmq_kv_t)) +
           PACK_ALIGN((size_t)r->topic_len + 1 + (size_t)r->props_len + 1);
}

/* One decoded record laid out at blk (rec_block_len bytes inside the slab): the body points
 * into the records (a slice, no copy) unless compressed; topic and properties are copied now,
 * or with defer by rmq_msg_unpack. */
static rmq_err_t decode_one(const rmq_msg_rec_t *r, bool defer, size_t nprops, char *blk,
                            rmq_msg_slab_t *sl, rmq_msg_t **out) {
    *out = NULL;
    size_t off_props = PACK_ALIGN(sizeof(rmq_msg_t));
    rmq_msg_t *m = (rmq_msg_t *)blk;
    memset(m, 0, sizeof(*m));
    m->slab = sl;
    m->received = true;
    m->props = nprops ? (rmq_kv_t *)(blk + off_props) : NULL;
    m->cap_props = nprops;
    m->queue_id = r->queue_id;
    m->flag = r->flag;
    m->queue_offset = r->queue_offset;
    m->commitlog_offset = r->phys_offset;
    m->sysflag = r->sysflag;
    m->born_ts = r->born_ts;
    m->store_ts = r->store_ts;
    m->reconsume_times = r->reconsume_times;
    m->prepared_txn_offset = r->prepared_txn_offset;
    m->store_host = r->store_host;
    atomic_init(&m->id_state, ID_LAZY); /* offset_id built by the first rmq_msg_offset_id */
    rmq_err_t e = RMQ_OK;
    if (r->sysflag & RMQ_SYSFLAG_COMPRESSED) {
        int ctype = (r->sysflag & RMQ_SYSFLAG_COMPRESSION_TYPE_MASK) >> 8;
        if (ctype != 0 && ctype != 3) {
            e = RMQ_ERR__BAD_MSG; /* LZ4 / ZSTD: not supported, refuse rather than garble */
        } else {
            size_t ol = 0;
            e = rmq_msg_inflate(r->body, (size_t)r->body_len, 64u << 20, &m->body, &ol);
            m->body_len = ol;
            m->own_body = e == RMQ_OK;
        }
    } else {
        m->body = (uint8_t *)r->body; /* inside sl->src, which lives as long as m */
        m->body_len = (size_t)r->body_len;
    }
    if (e) return e;
    m->raw_topic = r->topic;
    m->raw_topic_len = r->topic_len;
    m->raw_props = r->props;
    m->raw_props_len = r->props_len;
    m->deferred = true;
    if (!defer) rmq_msg_unpack(m);
    *out = m;
    return RMQ_OK;
}

void rmq_msg_unpack(rmq_msg_t *m) {
    if (!m || !m->deferred) return;
    m->deferred = false;
    /* the strings follow the struct and the property array (decode_one's layout) */
    char *topic =
        (char *)m + PACK_ALIGN(sizeof(rmq_msg_t)) + PACK_ALIGN(m->cap_props * sizeof(rmq_kv_t));
    memcpy(topic, m->raw_topic, (size_t)m->raw_topic_len);
    topic[m->raw_topic_len] = 0;
    m->topic = topic;
    if (m->raw_props_len > 0)
        pack_props_text(m, m->raw_props, (size_t)m->raw_props_len, topic + m->raw_topic_len + 1);
    const rmq_msg_slab_t *sl = m->slab;
    for (size_t i = 0; i < sl->nextra; i++) /* set after the record's own: they win */
        pack_kv(m, sl->extra[i].key, sl->extra[i].val);
}

rmq_err_t rmq_msgs_decode(const uint8_t *p, size_t len, rmq_msg_t ***out, size_t *n) {
    return rmq_msgs_decode_ex(p, len, NULL, 0, out, n);
}

rmq_err_t rmq_msgs_decode_ex(const uint8_t *p, size_t len, const rmq_kv_t *extra, size_t nextra,
                             rmq_msg_t ***out, size_t *n) {
    uint8_t *cp = malloc(len ? len : 1);
    if (!cp) return RMQ_ERR__NOMEM;
    if (len) memcpy(cp, p, len);
    return rmq_msgs_decode_owned(cp, len, extra, nextra, out, n);
}

/* Two passes over the records: sizes, then one block for every message of the batch. The
 * block starts with the slab header, then the extra properties (one copy for the batch, shared
 * by its messages: their strings are never written, a change replaces the pointer), then each
 * message's struct, property array and strings. */
static rmq_err_t decode_batch(uint8_t *src, size_t len, const rmq_kv_t *extra, size_t nextra,
                              bool defer, rmq_msg_t ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t extra_len = 0;
    for (size_t i = 0; i < nextra; i++)
        extra_len += strlen(extra[i].key) + strlen(extra[i].val) + 2;
    size_t cnt = 0, pos = 0, np;
    size_t head = PACK_ALIGN(sizeof(rmq_msg_slab_t)) + PACK_ALIGN(nextra * sizeof(rmq_kv_t)) +
                  PACK_ALIGN(extra_len);
    size_t total = head;
    /* the first pass keeps what it decoded of the first records (a default pull is 32) */
    enum { KEEP = 64 };
    struct {
        rmq_msg_rec_t r;
        size_t np, bl, sz;
    } kept[KEEP];
    while (pos < len) {
        rmq_msg_rec_t r;
        int64_t sz = rmq_msg_rec_decode(src + pos, len - pos, false, &r);
        if (sz < 0) {
            free(src);
            return RMQ_ERR__CORRUPT;
        }
        if (sz == 0) break; /* a BLANK record ends the records */
        pos += (size_t)sz;
        size_t bl = rec_block_len(&r, nextra, &np);
        total += bl;
        if (cnt < KEEP) { /* (decoding into kept directly costs a copy when cnt >= KEEP) */
            kept[cnt].r = r;
            kept[cnt].np = np;
            kept[cnt].bl = bl;
            kept[cnt].sz = (size_t)sz;
        }
        cnt++;
    }
    size_t end = pos;
    rmq_msg_t **arr = malloc((cnt ? cnt : 1) * sizeof(*arr));
    rmq_msg_slab_t *sl = cnt ? malloc(total) : NULL;
    if (!arr || (cnt && !sl)) {
        free(arr);
        free(sl);
        free(src);
        return RMQ_ERR__NOMEM;
    }
    if (!cnt) {
        free(src);
        *out = arr;
        return RMQ_OK;
    }
    atomic_init(&sl->refs, cnt);
    sl->len = total;
    sl->src = src;
    rmq_kv_t *xkv = (rmq_kv_t *)((char *)sl + PACK_ALIGN(sizeof(rmq_msg_slab_t)));
    char *xs = (char *)xkv + PACK_ALIGN(nextra * sizeof(rmq_kv_t));
    for (size_t i = 0; i < nextra; i++) { /* the batch's copy of the extra properties */
        size_t kl = strlen(extra[i].key) + 1, vl = strlen(extra[i].val) + 1;
        xkv[i].key = memcpy(xs, extra[i].key, kl);
        xkv[i].val = memcpy(xs + kl, extra[i].val, vl);
        xs += kl + vl;
    }
    sl->extra = xkv;
    sl->nextra = nextra;
    char *blk = (char *)sl + head;
    rmq_err_t e = RMQ_OK;
    size_t k = 0;
    for (pos = 0; pos < end && k < cnt;) {
        rmq_msg_rec_t more;
        const rmq_msg_rec_t *r = &more;
        size_t bl;
        if (k < KEEP) {
            r = &kept[k].r;
            np = kept[k].np;
            bl = kept[k].bl;
            pos += kept[k].sz;
        } else {
            pos += (size_t)rmq_msg_rec_decode(src + pos, end - pos, false, &more);
            bl = rec_block_len(&more, nextra, &np);
        }
        e = decode_one(r, defer, np, blk, sl, &arr[k]);
        if (e) break;
        blk += bl;
        k++;
    }
    if (e) {
        /* the k built messages hold k references; drop the others', then theirs */
        if (k == 0) {
            free(src);
            free(sl);
        } else {
            atomic_fetch_sub(&sl->refs, cnt - k);
            rmq_msgs_destroy(arr, k);
            return e;
        }
        free(arr);
        return e;
    }
    *out = arr;
    *n = cnt;
    return RMQ_OK;
}

rmq_err_t rmq_msgs_decode_owned(uint8_t *src, size_t len, const rmq_kv_t *extra, size_t nextra,
                                rmq_msg_t ***out, size_t *n) {
    return decode_batch(src, len, extra, nextra, false, out, n);
}

rmq_err_t rmq_msgs_decode_deferred(uint8_t *src, size_t len, const rmq_kv_t *extra, size_t nextra,
                                   rmq_msg_t ***out, size_t *n) {
    return decode_batch(src, len, extra, nextra, true, out, n);
}

rmq_err_t rmq_body_encode(const void *body, size_t len, int over, int level, uint8_t **out,
                          size_t *out_len, int *sysflag) {
    if (over > 0 && len >= (size_t)over) {
        uint8_t *z = NULL;
        size_t zl = 0;
        if (rmq_msg_deflate(body, len, level, &z, &zl) == RMQ_OK) {
            *out = z;
            *out_len = zl;
            *sysflag |= RMQ_SYSFLAG_COMPRESSED;
            return RMQ_OK;
        }
    }
    *out = malloc(len ? len : 1);
    if (!*out) return RMQ_ERR__NOMEM;
    memcpy(*out, body, len);
    *out_len = len;
    return RMQ_OK;
}
