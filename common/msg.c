/* The stored-message record codec (store.md 2.1, protocol.md 6.1), properties, offset ids,
 * tag hash and zlib bodies.
 *
 * Design: one decoder for every reader (recovery, dispatch, pull, HA, SDK). It reads untrusted
 * bytes, so every length is checked against both the record's TOTALSIZE and the buffer before it
 * is used, and a record is accepted only when TOTALSIZE equals the length recomputed from its
 * decoded fields (RocketMQ's checkMessageAndReturnSize). The encoder always writes v1 magic. */
#include "common/msg.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

/* ---- body CRC ------------------------------------------------------------------------------ */

/* zlib's table CRC runs at ~1.5 GB/s, which made it the largest single cost of an append.
 * On x86-64 with PCLMULQDQ the CRC is folded 64 bytes at a time with carry-less multiplies
 * (Gopal et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", Intel 2009;
 * constants for the reflected polynomial 0xEDB88320); the tail goes through rmq_crc32. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_CLMUL_CRC 1

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_fold(const uint8_t *buf, size_t len,
                                                                  uint32_t crc) {
    /* len >= 64 and a multiple of 16; crc is the internal (pre-inverted) state */
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;
    x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    x0 = k1k2;
    buf += 64;
    len -= 64;
    while (len >= 64) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(buf + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(buf + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(buf + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(buf + 0x30)));
        buf += 64;
        len -= 64;
    }
    x0 = k3k4;
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (len >= 16) {
        x2 = _mm_loadu_si128((const __m128i *)buf);
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        buf += 16;
        len -= 16;
    }
    /* 128 -> 64 bits */
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_srli_si128(x1, 8);
    x1 = _mm_xor_si128(x1, x2);
    x0 = k5k0;
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction to 32 bits */
    x0 = poly;
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

uint32_t rmq_msg_body_crc(const void *p, size_t n) {
    const uint8_t *b = p;
    uint32_t crc = 0;
#ifdef HAVE_CLMUL_CRC
    static _Atomic int have_ = -1; /* benign to compute twice */
    int have = atomic_load_explicit(&have_, memory_order_relaxed);
    if (have < 0) {
        have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
        atomic_store_explicit(&have_, have, memory_order_relaxed);
    }
    if (have && n >= 64) {
        size_t chunk = n & ~(size_t)15;
        crc = ~crc_fold(b, chunk, ~0u);
        b += chunk;
        n -= chunk;
    }
#endif
    if (n) crc = rmq_crc32(crc, b, n);
    return crc & 0x7FFFFFFFu;
}

/* Fixed part of a v1 record with IPv4 hosts, counting the 1-byte topic length and 2-byte
 * properties length: 91 bytes (store.md 2.1). Each IPv6 host adds 12. */
#define FIXED_V4 91

size_t rmq_msg_rec_size(size_t body_len, size_t topic_len, size_t props_len, bool born_v6,
                        bool store_v6) {
    return FIXED_V4 + (born_v6 ? 12 : 0) + (store_v6 ? 12 : 0) + body_len + topic_len + props_len;
}

static uint8_t *put_host(uint8_t *p, const rmq_msg_host_t *h) {
    size_t n = h->ip_len == 16 ? 16 : 4;
    memcpy(p, h->ip, n);
    p += n;
    rmq_put_be32(p, (uint32_t)h->port);
    return p + 4;
}

void rmq_msg_rec_encode(uint8_t *dst, const rmq_msg_rec_t *r, bool compute_crc) {
    bool bv6 = r->born_host.ip_len == 16, sv6 = r->store_host.ip_len == 16;
    size_t body_len = r->body_len > 0 ? (size_t)r->body_len : 0;
    size_t topic_len = r->topic_len > 0 ? (size_t)r->topic_len : 0;
    size_t props_len = r->props_len > 0 ? (size_t)r->props_len : 0;
    size_t total = rmq_msg_rec_size(body_len, topic_len, props_len, bv6, sv6);
    int32_t sysflag = r->sysflag & ~(RMQ_SYSFLAG_BORNHOST_V6 | RMQ_SYSFLAG_STOREHOST_V6);
    if (bv6) sysflag |= RMQ_SYSFLAG_BORNHOST_V6;
    if (sv6) sysflag |= RMQ_SYSFLAG_STOREHOST_V6;
    uint32_t crc = r->body_crc;
    if (compute_crc) crc = body_len ? rmq_msg_body_crc(r->body, body_len) : 0;

    uint8_t *p = dst;
    rmq_put_be32(p, (uint32_t)total);
    p += 4;
    rmq_put_be32(p, (uint32_t)RMQ_MSG_MAGIC_V1);
    p += 4;
    rmq_put_be32(p, crc);
    p += 4;
    rmq_put_be32(p, (uint32_t)r->queue_id);
    p += 4;
    rmq_put_be32(p, (uint32_t)r->flag);
    p += 4;
    rmq_put_be64(p, (uint64_t)r->queue_offset);
    p += 8;
    rmq_put_be64(p, (uint64_t)r->phys_offset);
    p += 8;
    rmq_put_be32(p, (uint32_t)sysflag);
    p += 4;
    rmq_put_be64(p, (uint64_t)r->born_ts);
    p += 8;
    p = put_host(p, &r->born_host);
    rmq_put_be64(p, (uint64_t)r->store_ts);
    p += 8;
    p = put_host(p, &r->store_host);
    rmq_put_be32(p, (uint32_t)r->reconsume_times);
    p += 4;
    rmq_put_be64(p, (uint64_t)r->prepared_txn_offset);
    p += 8;
    rmq_put_be32(p, (uint32_t)body_len);
    p += 4;
    if (body_len) memcpy(p, r->body, body_len);
    p += body_len;
    *p++ = (uint8_t)topic_len;
    if (topic_len) memcpy(p, r->topic, topic_len);
    p += topic_len;
    rmq_put_be16(p, (uint16_t)props_len);
    p += 2;
    if (props_len) memcpy(p, r->props, props_len);
}

static void get_host(const uint8_t *p, bool v6, rmq_msg_host_t *h) {
    memset(h, 0, sizeof(*h));
    h->ip_len = v6 ? 16 : 4;
    memcpy(h->ip, p, h->ip_len);
    h->port = (int32_t)rmq_get_be32(p + h->ip_len);
}

int64_t rmq_msg_rec_decode(const uint8_t *p, size_t len, bool check_crc, rmq_msg_rec_t *out) {
    if (len < 8) return RMQ_ERR__CORRUPT;
    int32_t total = (int32_t)rmq_get_be32(p);
    int32_t magic = (int32_t)rmq_get_be32(p + 4);
    memset(out, 0, sizeof(*out));
    out->total_size = total;
    out->magic = magic;
    if (magic == RMQ_MSG_MAGIC_BLANK) return 0;
    if (magic != RMQ_MSG_MAGIC_V1 && magic != RMQ_MSG_MAGIC_V2) return RMQ_ERR__CORRUPT;
    if (total < FIXED_V4 || (size_t)total > len) return RMQ_ERR__CORRUPT;
    /* From here every read stays inside [p, p + total). */
    size_t n = (size_t)total, off = 8;
    out->body_crc = (int32_t)rmq_get_be32(p + 8);
    out->queue_id = (int32_t)rmq_get_be32(p + 12);
    out->flag = (int32_t)rmq_get_be32(p + 16);
    out->queue_offset = (int64_t)rmq_get_be64(p + 20);
    out->phys_offset = (int64_t)rmq_get_be64(p + 28);
    out->sysflag = (int32_t)rmq_get_be32(p + 36);
    out->born_ts = (int64_t)rmq_get_be64(p + 40);
    bool bv6 = (out->sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0;
    bool sv6 = (out->sysflag & RMQ_SYSFLAG_STOREHOST_V6) != 0;
    size_t bhl = bv6 ? 20 : 8, shl = sv6 ? 20 : 8;
    size_t topic_len_bytes = magic == RMQ_MSG_MAGIC_V2 ? 2 : 1;
    /* Fixed part up to and including the body length field. */
    off = 48;
    if (off + bhl + 8 + shl + 4 + 8 + 4 > n) return RMQ_ERR__CORRUPT;
    get_host(p + off, bv6, &out->born_host);
    off += bhl;
    out->store_ts = (int64_t)rmq_get_be64(p + off);
    off += 8;
    get_host(p + off, sv6, &out->store_host);
    off += shl;
    out->reconsume_times = (int32_t)rmq_get_be32(p + off);
    off += 4;
    out->prepared_txn_offset = (int64_t)rmq_get_be64(p + off);
    off += 8;
    int32_t body_len = (int32_t)rmq_get_be32(p + off);
    off += 4;
    size_t bl = body_len > 0 ? (size_t)body_len : 0;
    if (bl > n - off) return RMQ_ERR__CORRUPT;
    out->body = p + off;
    out->body_len = (int32_t)bl;
    off += bl;
    if (topic_len_bytes > n - off) return RMQ_ERR__CORRUPT;
    size_t tl = topic_len_bytes == 2 ? rmq_get_be16(p + off) : p[off];
    if (topic_len_bytes == 1 && (p[off] & 0x80)) return RMQ_ERR__CORRUPT; /* negative byte */
    off += topic_len_bytes;
    if (tl > n - off) return RMQ_ERR__CORRUPT;
    out->topic = (const char *)(p + off);
    out->topic_len = (int32_t)tl;
    off += tl;
    if (2 > n - off) return RMQ_ERR__CORRUPT;
    int16_t pl_s = (int16_t)rmq_get_be16(p + off);
    off += 2;
    size_t pl = pl_s > 0 ? (size_t)pl_s : 0;
    if (pl > n - off) return RMQ_ERR__CORRUPT;
    out->props = (const char *)(p + off);
    out->props_len = (int32_t)pl;
    off += pl;
    size_t expect = rmq_msg_rec_size(bl, tl, pl, bv6, sv6) + (topic_len_bytes - 1);
    if (expect != n || off != n) return RMQ_ERR__CORRUPT;
    if (check_crc && bl > 0) {
        uint32_t crc = rmq_msg_body_crc(out->body, bl);
        if (crc != (uint32_t)out->body_crc) return RMQ_ERR__CORRUPT;
    }
    return total;
}

void rmq_msg_rec_patch(uint8_t *rec, int64_t queue_offset, int64_t phys_offset, int64_t store_ts) {
    rmq_put_be64(rec + 20, (uint64_t)queue_offset);
    rmq_put_be64(rec + 28, (uint64_t)phys_offset);
    uint32_t sysflag = rmq_get_be32(rec + 36);
    size_t ts_off = (sysflag & RMQ_SYSFLAG_BORNHOST_V6) ? 68 : 56;
    rmq_put_be64(rec + ts_off, (uint64_t)store_ts);
}

/* ---- properties ---------------------------------------------------------------------------- */

/* Calls fn for each well-formed pair: non-empty key, a 0x01, non-empty value. */
void rmq_msg_prop_each(const char *props, size_t len,
                       bool (*fn)(const char *k, size_t kl, const char *v, size_t vl, void *arg),
                       void *arg) {
    if (!props) return;
    size_t i = 0;
    while (i < len) {
        const char *pair = props + i;
        const char *end = memchr(pair, RMQ_PROP_SEP, len - i);
        size_t pl = end ? (size_t)(end - pair) : len - i;
        i += pl + 1;
        const char *sep = memchr(pair, RMQ_PROP_NAME_SEP, pl);
        if (!sep) continue;
        size_t kl = (size_t)(sep - pair), vl = pl - kl - 1;
        if (kl == 0 || vl == 0) continue;
        if (!fn(pair, kl, sep + 1, vl, arg)) return;
    }
}

typedef struct {
    const char *key;
    size_t klen;
    const char *val;
    size_t vlen;
} prop_find_t;

static bool find_cb(const char *k, size_t kl, const char *v, size_t vl, void *arg) {
    prop_find_t *f = arg;
    if (kl == f->klen && memcmp(k, f->key, kl) == 0) {
        f->val = v; /* keep going: the last value of a repeated key wins */
        f->vlen = vl;
    }
    return true;
}

const char *rmq_msg_prop_get(const char *props, size_t len, const char *key, size_t *vlen) {
    prop_find_t f = {key, strlen(key), NULL, 0};
    rmq_msg_prop_each(props, len, find_cb, &f);
    if (f.val && vlen) *vlen = f.vlen;
    return f.val;
}

bool rmq_msg_prop_copy(const char *props, size_t len, const char *key, char *out, size_t outsz) {
    size_t vl;
    const char *v = rmq_msg_prop_get(props, len, key, &vl);
    if (!v) {
        if (outsz) out[0] = '\0';
        return false;
    }
    if (outsz) {
        size_t n = vl < outsz - 1 ? vl : outsz - 1;
        memcpy(out, v, n);
        out[n] = '\0';
    }
    return true;
}

rmq_err_t rmq_msg_prop_append(rmq_buf_t *b, const char *key, const char *val) {
    rmq_err_t e;
    if ((e = rmq_buf_append_str(b, key)) != RMQ_OK) return e;
    if ((e = rmq_buf_append_u8(b, RMQ_PROP_NAME_SEP)) != RMQ_OK) return e;
    if ((e = rmq_buf_append_str(b, val)) != RMQ_OK) return e;
    return rmq_buf_append_u8(b, RMQ_PROP_SEP);
}

typedef struct {
    rmq_buf_t *b;
    const char *const *drop; /* NULL-terminated */
    bool first;
    rmq_err_t err;
} prop_filter_t;

static bool filter_cb(const char *k, size_t kl, const char *v, size_t vl, void *arg) {
    prop_filter_t *f = arg;
    for (const char *const *d = f->drop; d && *d; d++)
        if (strlen(*d) == kl && memcmp(k, *d, kl) == 0) return true;
    rmq_err_t e = RMQ_OK;
    if (!f->first) e = rmq_buf_append_u8(f->b, RMQ_PROP_SEP);
    if (e == RMQ_OK) e = rmq_buf_append(f->b, k, kl);
    if (e == RMQ_OK) e = rmq_buf_append_u8(f->b, RMQ_PROP_NAME_SEP);
    if (e == RMQ_OK) e = rmq_buf_append(f->b, v, vl);
    f->first = false;
    f->err = e;
    return e == RMQ_OK;
}

rmq_err_t rmq_msg_prop_filter_keys(rmq_buf_t *b, const char *props, size_t len,
                                   const char *const *drop) {
    prop_filter_t f = {b, drop, true, RMQ_OK};
    if (props && len) rmq_msg_prop_each(props, len, filter_cb, &f);
    return f.err;
}

rmq_err_t rmq_msg_prop_filter(rmq_buf_t *b, const char *props, size_t len, const char *drop) {
    const char *const keys[] = {drop, NULL};
    return rmq_msg_prop_filter_keys(b, props, len, keys);
}

/* ---- ids and hashes -------------------------------------------------------------------------- */

void rmq_msg_offset_id_encode(char *out, const rmq_msg_host_t *store_host, int64_t phys_offset) {
    static const char hex[] = "0123456789ABCDEF";
    uint8_t raw[28];
    size_t iplen = store_host->ip_len == 16 ? 16 : 4;
    memcpy(raw, store_host->ip, iplen);
    rmq_put_be32(raw + iplen, (uint32_t)store_host->port);
    rmq_put_be64(raw + iplen + 4, (uint64_t)phys_offset);
    size_t n = iplen + 12;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0xF];
    }
    out[2 * n] = '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

rmq_err_t rmq_msg_offset_id_parse(const char *id, rmq_msg_host_t *host, int64_t *phys_offset) {
    if (!id) return RMQ_ERR__INVALID_ARG;
    size_t len = strlen(id);
    if (len != 32 && len != 56) return RMQ_ERR__INVALID_ARG;
    uint8_t raw[28];
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(id[2 * i]), lo = hexval(id[2 * i + 1]);
        if (hi < 0 || lo < 0) return RMQ_ERR__INVALID_ARG;
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    size_t iplen = len == 32 ? 4 : 16;
    if (host) {
        memset(host, 0, sizeof(*host));
        memcpy(host->ip, raw, iplen);
        host->ip_len = (uint8_t)iplen;
        host->port = (int32_t)rmq_get_be32(raw + iplen);
    }
    if (phys_offset) *phys_offset = (int64_t)rmq_get_be64(raw + iplen + 4);
    return RMQ_OK;
}

int64_t rmq_msg_tags_code(const char *tags, size_t len) {
    if (!tags || len == 0) return 0;
    return (int64_t)rmq_java_hash(tags, len); /* sign-extended (store.md 3.2) */
}

/* ---- zlib --------------------------------------------------------------------------------------
 */

rmq_err_t rmq_msg_inflate(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                          size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK) return RMQ_ERR__NOMEM;
    size_t cap = len * 4 + 64;
    if (max_out && cap > max_out) cap = max_out;
    if (cap == 0) cap = 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        inflateEnd(&zs);
        return RMQ_ERR__NOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    size_t have = 0;
    rmq_err_t err = RMQ_OK;
    for (;;) {
        if (have == cap) {
            if (max_out && cap >= max_out) {
                err = RMQ_ERR__MSG_TOO_BIG;
                break;
            }
            size_t ncap = cap * 2;
            if (max_out && ncap > max_out) ncap = max_out;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                err = RMQ_ERR__NOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = buf + have;
        zs.avail_out = (uInt)(cap - have);
        int rc = inflate(&zs, Z_NO_FLUSH);
        have = cap - zs.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue; /* needs more room */
        err = RMQ_ERR__BAD_MSG; /* data error, or input ended before the stream did */
        break;
    }
    inflateEnd(&zs);
    if (err != RMQ_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    *out_len = have;
    return RMQ_OK;
}

rmq_err_t rmq_msg_deflate(const uint8_t *in, size_t len, int level, uint8_t **out,
                          size_t *out_len) {
    if (level < 0 || level > 9) level = 5;
    uLongf cap = compressBound((uLong)len);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return RMQ_ERR__NOMEM;
    if (compress2(buf, &cap, in, (uLong)len, level) != Z_OK) {
        free(buf);
        return RMQ_ERR__FAIL;
    }
    *out = buf;
    *out_len = cap;
    return RMQ_OK;
}
