/* The stored-message record (store.md 2.1, protocol.md 6.1), its properties string, and the
 * message ids. Shared by store/ (CommitLog), broker/ (pull bodies, re-puts) and client/
 * (decoding pulled messages): one codec for all three. */
#ifndef RMQ_MSG_H
#define RMQ_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "rmq/rmq_err.h"

#define RMQ_MSG_MAGIC_V1 ((int32_t)0xDAA320A7)
#define RMQ_MSG_MAGIC_V2 ((int32_t)0xDAA320AB)
#define RMQ_MSG_MAGIC_BLANK ((int32_t)0xCBD43194)

/* sysflag bits (store.md 2.3) */
#define RMQ_SYSFLAG_COMPRESSED 0x1
#define RMQ_SYSFLAG_MULTI_TAGS 0x2
#define RMQ_SYSFLAG_TXN_MASK 0xC
#define RMQ_SYSFLAG_TXN_NOT 0x0
#define RMQ_SYSFLAG_TXN_PREPARED 0x4
#define RMQ_SYSFLAG_TXN_COMMIT 0x8
#define RMQ_SYSFLAG_TXN_ROLLBACK 0xC
#define RMQ_SYSFLAG_BORNHOST_V6 0x10
#define RMQ_SYSFLAG_STOREHOST_V6 0x20
#define RMQ_SYSFLAG_COMPRESSION_TYPE_MASK 0x700

/* property separators and well-known keys (protocol.md 6.7) */
#define RMQ_PROP_NAME_SEP '\001'
#define RMQ_PROP_SEP '\002'
#define RMQ_PROP_KEYS "KEYS"
#define RMQ_PROP_TAGS "TAGS"
#define RMQ_PROP_WAIT "WAIT"
#define RMQ_PROP_DELAY "DELAY"
#define RMQ_PROP_RETRY_TOPIC "RETRY_TOPIC"
#define RMQ_PROP_REAL_TOPIC "REAL_TOPIC"
#define RMQ_PROP_REAL_QID "REAL_QID"
#define RMQ_PROP_TRAN_MSG "TRAN_MSG"
#define RMQ_PROP_PGROUP "PGROUP"
#define RMQ_PROP_MIN_OFFSET "MIN_OFFSET"
#define RMQ_PROP_MAX_OFFSET "MAX_OFFSET"
#define RMQ_PROP_ORIGIN_MESSAGE_ID "ORIGIN_MESSAGE_ID"
#define RMQ_PROP_RECONSUME_TIME "RECONSUME_TIME"
#define RMQ_PROP_MAX_RECONSUME_TIMES "MAX_RECONSUME_TIMES"
#define RMQ_PROP_UNIQ_KEY "UNIQ_KEY"
#define RMQ_PROP_CLUSTER "CLUSTER"
#define RMQ_PROP_MSG_REGION "MSG_REGION"
#define RMQ_PROP_TRACE_ON "TRACE_ON"
#define RMQ_PROP_TRAN_PREPARED_QUEUE_OFFSET "TRAN_PREPARED_QUEUE_OFFSET"
#define RMQ_PROP_TRANSACTION_CHECK_TIMES "TRANSACTION_CHECK_TIMES"
#define RMQ_PROP_CHECK_IMMUNITY_TIME "CHECK_IMMUNITY_TIME_IN_SECONDS"
#define RMQ_PROP_START_DELIVER_TIME "__STARTDELIVERTIME"
#define RMQ_PROP_TIMER_DELIVER_MS "TIMER_DELIVER_MS"
/* request-reply (RocketMQ 4.6+) */
#define RMQ_PROP_CORRELATION_ID "CORRELATION_ID"
#define RMQ_PROP_REPLY_TO_CLIENT "REPLY_TO_CLIENT"
#define RMQ_PROP_MESSAGE_TTL "TTL"
#define RMQ_PROP_MSG_TYPE "MSG_TYPE"
#define RMQ_PROP_REPLY_ARRIVE_TIME "ARRIVE_TIME"
#define RMQ_PROP_PUSH_REPLY_TIME "PUSH_REPLY_TIME"
#define RMQ_REPLY_MESSAGE_FLAG "reply"        /* MSG_TYPE of a reply */
#define RMQ_REPLY_TOPIC_SUFFIX "_REPLY_TOPIC" /* <cluster>_REPLY_TOPIC */
#define RMQ_PROP_TIMER_DELAY_SEC "TIMER_DELAY_SEC"
#define RMQ_PROP_TIMER_DELAY_MS "TIMER_DELAY_MS"
#define RMQ_PROP_TIMER_OUT_MS "TIMER_OUT_MS"
#define RMQ_PROP_TIMER_ENQUEUE_MS "TIMER_ENQUEUE_MS"
#define RMQ_PROP_TIMER_DEQUEUE_MS "TIMER_DEQUEUE_MS"
#define RMQ_PROP_TIMER_DEL_UNIQKEY "TIMER_DEL_UNIQKEY"

/* A host as stored: IPv4 (4 bytes) or IPv6 (16 bytes) plus port. */
typedef struct {
    uint8_t ip[16];
    uint8_t ip_len; /* 4 or 16 */
    int32_t port;
} rmq_msg_host_t;

/* A decoded record: scalar fields copied, variable fields pointing into the source bytes. */
typedef struct {
    int32_t total_size;
    int32_t magic;
    int32_t body_crc;
    int32_t queue_id;
    int32_t flag;
    int64_t queue_offset;
    int64_t phys_offset;
    int32_t sysflag;
    int64_t born_ts;
    rmq_msg_host_t born_host;
    int64_t store_ts;
    rmq_msg_host_t store_host;
    int32_t reconsume_times;
    int64_t prepared_txn_offset;
    const uint8_t *body;
    int32_t body_len;
    const char *topic;
    int32_t topic_len;
    const char *props; /* properties string, not NUL-terminated */
    int32_t props_len;
} rmq_msg_rec_t;

/* Size of a record with these field lengths (calMsgLength). */
size_t rmq_msg_rec_size(size_t body_len, size_t topic_len, size_t props_len, bool born_v6,
                        bool store_v6);
/* Write r as a v1 record at dst (rmq_msg_rec_size bytes; total_size and the V6 sysflag bits are
 * computed from r's lengths; body_crc is computed when compute_crc is true). */
void rmq_msg_rec_encode(uint8_t *dst, const rmq_msg_rec_t *r, bool compute_crc);
/* Body CRC as stored in BODYCRC: CRC32 (zlib polynomial) masked with 0x7FFFFFFF; uses
 * carry-less multiply where the CPU has it. */
uint32_t rmq_msg_body_crc(const void *p, size_t n);
/* Decode one record from p[0..len). Returns:
 *   > 0  the record's total size (fields filled, pointers into p);
 *   0    a BLANK end-of-segment record (out->total_size holds its length);
 *   < 0  RMQ_ERR__CORRUPT (bad magic, sizes not matching the formula, length past len, or a
 *        CRC mismatch when check_crc). Accepts v1 and v2 magic. */
int64_t rmq_msg_rec_decode(const uint8_t *p, size_t len, bool check_crc, rmq_msg_rec_t *out);
/* Patch queue offset, physical offset and store timestamp of an encoded v1 record in place
 * (done inside the put lock). The store timestamp offset depends on the born host length. */
void rmq_msg_rec_patch(uint8_t *rec, int64_t queue_offset, int64_t phys_offset, int64_t store_ts);

/* Properties: find key in a properties string; returns a pointer to the value (not
 * NUL-terminated) and its length in *vlen, or NULL. Keeps the last value of a repeated key;
 * accepts a trailing separator or none. */
const char *rmq_msg_prop_get(const char *props, size_t len, const char *key, size_t *vlen);
/* Copy a property value into out (NUL-terminated, truncated to outsz); false if absent. */
bool rmq_msg_prop_copy(const char *props, size_t len, const char *key, char *out, size_t outsz);
/* Append "key\001value\002" to b (the caller trims the last \002 if it wants the 4.9.1 form). */
rmq_err_t rmq_msg_prop_append(rmq_buf_t *b, const char *key, const char *val);
/* Append props without key `drop` (NULL drops nothing) and without a trailing separator. */
rmq_err_t rmq_msg_prop_filter(rmq_buf_t *b, const char *props, size_t len, const char *drop);
/* The same without any of the keys in drop (NULL-terminated; NULL drops nothing). */
rmq_err_t rmq_msg_prop_filter_keys(rmq_buf_t *b, const char *props, size_t len,
                                   const char *const *drop);
/* Iterate: calls fn for each pair (not NUL-terminated views); stops when fn returns false. */
void rmq_msg_prop_each(const char *props, size_t len,
                       bool (*fn)(const char *k, size_t kl, const char *v, size_t vl, void *arg),
                       void *arg);

/* Offset message id: upper-case hex of store ip | port(int32) | phys offset(int64).
 * out needs 57 bytes. */
void rmq_msg_offset_id_encode(char *out, const rmq_msg_host_t *store_host, int64_t phys_offset);
/* Parse an offset message id (32 or 56 hex chars, any case). */
rmq_err_t rmq_msg_offset_id_parse(const char *id, rmq_msg_host_t *host, int64_t *phys_offset);

/* Tag hash code stored in the ConsumeQueue: Java String.hashCode of the tag (0 if none). */
int64_t rmq_msg_tags_code(const char *tags, size_t len);

/* Decompress a zlib body (sysflag COMPRESSED). *out new (free()). max_out caps the result. */
rmq_err_t rmq_msg_inflate(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                          size_t *out_len);
/* Compress with zlib (level 5, as the Java producer's default). */
rmq_err_t rmq_msg_deflate(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len);

#endif
