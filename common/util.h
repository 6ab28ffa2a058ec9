/* Small utilities everything needs, each once: clocks, CRC32, Java String.hashCode, FNV-1a,
 * integer parsing, big-endian byte order, bounded string copy. */
#ifndef RMQ_UTIL_H
#define RMQ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Wall-clock milliseconds since the epoch (timestamps that go on the wire or disk). */
/* "<prog> <rmq version> (rmq), Apache RocketMQ remoting 4.9.8 (version 409)" on stdout: every
 * binary's --version. */
void rmq_print_version(const char *prog);
/* True when arg is "--version" (or "-v" when allow_v): the check every main() makes. */
int rmq_is_version_arg(const char *arg, int allow_v);

int64_t rmq_now_ms(void);
/* Monotonic clocks for timeouts and intervals. */
uint64_t rmq_mono_ms(void);
uint64_t rmq_mono_us(void);
/* clk's time ms milliseconds from now: a pthread_cond_timedwait deadline (clk is the
 * condition's clock: CLOCK_REALTIME unless set with pthread_condattr_setclock). */
struct timespec rmq_deadline_ts(clockid_t clk, uint64_t ms);

/* CRC32 (zlib polynomial, as java.util.zip.CRC32); start with crc = 0. */
uint32_t rmq_crc32(uint32_t crc, const void *p, size_t n);

/* Java String.hashCode of the UTF-8 text s[0..n): sums UTF-16 code units as Java does. */
int32_t rmq_java_hash(const char *s, size_t n);

/* Copy at most dstsz-1 bytes and NUL-terminate; returns strlen(src). */
size_t rmq_strlcpy(char *dst, const char *src, size_t dstsz);

/* Write the decimal text of v at out (at most 20 bytes, no NUL); returns its end. printf was a
 * visible share of every request and reply header. */
char *rmq_i64_dec(int64_t v, char *out);
/* The same NUL-terminated in t (at least 21 bytes); returns t. */
static inline const char *rmq_i64_str(int64_t v, char *t) {
    *rmq_i64_dec(v, t) = 0;
    return t;
}
/* Parse a whole decimal integer; 0 on success, -1 on junk, empty or overflow. */
int rmq_parse_i64(const char *s, int64_t *out);
/* Java Long.parseLong, as request headers are read: optional sign, decimal digits only (no
 * spaces), range-checked. 0 on success, -1 otherwise (*out untouched). */
int rmq_parse_java_long(const char *s, int64_t *out);

/* The one hash of the project (maps, buckets): 64-bit FNV-1a of p[0..n). */
static inline uint64_t rmq_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 14695981039346656037ULL; /* FNV offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Big-endian loads and stores (the wire and the store files are big-endian). */
static inline void rmq_put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void rmq_put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void rmq_put_be64(uint8_t *p, uint64_t v) {
    rmq_put_be32(p, (uint32_t)(v >> 32));
    rmq_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t rmq_get_be16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t rmq_get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rmq_get_be64(const uint8_t *p) {
    return ((uint64_t)rmq_get_be32(p) << 32) | rmq_get_be32(p + 4);
}

#define RMQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RMQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RMQ_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
