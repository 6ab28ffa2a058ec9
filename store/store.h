/* The message store facade: CommitLog + ConsumeQueues + IndexFiles + checkpoint, flush,
 * dispatch (reput), recovery and retention, byte-compatible with Apache RocketMQ's store
 * (shared/spec/store.md). No sockets: usable and testable on its own.
 *
 * Threads owned by the store (started by rmq_store_start): flush (async interval or group
 * commit), reput (CommitLog -> ConsumeQueue/IndexFile, then the arrive callback), allocate
 * (next segment created, reserved and pre-touched ahead), clean (retention).
 * Every function here is safe from any thread unless it says otherwise. */
#ifndef RMQ_STORE_H
#define RMQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/kvconf.h"
#include "common/msg.h"
#include "rmq/rmq_err.h"

typedef enum { RMQ_FLUSH_ASYNC = 0, RMQ_FLUSH_SYNC = 1 } rmq_flush_type_t;

/* Store configuration; RocketMQ's MessageStoreConfig keys (see RMQ_STORE_CFG_KV). */
typedef struct {
    char *store_path_root_dir;             /* storePathRootDir, default ~/store */
    char *store_path_commitlog;            /* storePathCommitLog, default <root>/commitlog */
    int64_t mapped_file_size_commitlog;    /* mappedFileSizeCommitLog (alias mapedFile...), 1 GiB */
    int64_t mapped_file_size_cq;           /* mappedFileSizeConsumeQueue, 300000*20 */
    int max_message_size;                  /* maxMessageSize, 4 MiB (body limit) */
    int flush_disk_type;                   /* flushDiskType: ASYNC_FLUSH | SYNC_FLUSH */
    int flush_interval_commitlog;          /* flushIntervalCommitLog ms, 500 */
    int flush_commitlog_least_pages;       /* flushCommitLogLeastPages, 4 */
    int flush_commitlog_thorough_interval; /* flushCommitLogThoroughInterval ms, 10000 */
    int flush_interval_cq;                 /* flushIntervalConsumeQueue ms, 1000 */
    int sync_flush_timeout;                /* syncFlushTimeout ms, 5000 */
    char *delete_when;                     /* deleteWhen "04" (hours, ';'-separated) */
    int file_reserved_time;                /* fileReservedTime hours, 72 */
    int disk_max_used_space_ratio;         /* diskMaxUsedSpaceRatio %, 75 */
    int clean_resource_interval;           /* cleanResourceInterval ms, 10000 */
    int max_hash_slot_num;                 /* maxHashSlotNum, 5000000 */
    int max_index_num;                     /* maxIndexNum, 20000000 */
    bool message_index_enable;             /* messageIndexEnable, true */
    bool check_crc_on_recover;             /* checkCRCOnRecover, true */
    bool warm_mapped_file_enable;          /* warmMapedFileEnable: pre-touch new segments, true */
    int max_transfer_bytes_mem;            /* maxTransferBytesOnMessageInMemory, 262144 */
    int max_transfer_count_mem;            /* maxTransferCountOnMessageInMemory, 32 */
    int max_transfer_bytes_disk;           /* maxTransferBytesOnMessageInDisk, 65536 */
    int max_transfer_count_disk;           /* maxTransferCountOnMessageInDisk, 8 */
    int access_message_in_memory_max_ratio; /* accessMessageInMemoryMaxRatio, 40 */
    int default_query_max_num;              /* defaultQueryMaxNum, 32 */
    int scrub_rate_mbps;                    /* scrubRateMBps: background CRC scrub, 0 off; 8 */
    bool clean_file_forcibly_enable; /* cleanFileForciblyEnable: false here (RocketMQ true) */
} rmq_store_cfg_t;

extern const char *const rmq_store_flush_names[]; /* {"ASYNC_FLUSH", "SYNC_FLUSH", NULL} */

/* Fill cfg with the defaults of RMQ_STORE_CFG_KV (strings new: rmq_store_cfg_free). */
void rmq_store_cfg_defaults(rmq_store_cfg_t *cfg);
/* Free the string fields of a cfg filled by rmq_store_cfg_defaults (or the kvconf parser). */
void rmq_store_cfg_free(rmq_store_cfg_t *cfg);

/* kvconf table entries for a rmq_store_cfg_t embedded as member m of struct T, so the broker's
 * one table parses broker.conf. Expands to a comma-separated list of rmq_kv_def_t. */
#define RMQ_STORE_CFG_KV(T, m)                                                                     \
    RMQ_KV_STR("storePathRootDir", T, m.store_path_root_dir, "~/store", "store root directory"),   \
        RMQ_KV_STR("storePathCommitLog", T, m.store_path_commitlog, NULL,                          \
                   "CommitLog directory (default <storePathRootDir>/commitlog)"),                  \
        RMQ_KV_I64_ALIAS("mappedFileSizeCommitLog", "mapedFileSizeCommitLog", T,                   \
                         m.mapped_file_size_commitlog, 1073741824LL, 4096, 1LL << 40,              \
                         "CommitLog segment size in bytes"),                                       \
        RMQ_KV_I64_ALIAS("mappedFileSizeConsumeQueue", "mapedFileSizeConsumeQueue", T,             \
                         m.mapped_file_size_cq, 6000000LL, 20, 1LL << 32,                          \
                         "ConsumeQueue segment size in bytes (rounded up to 20)"),                 \
        RMQ_KV_INT("maxMessageSize", T, m.max_message_size, 4194304, 1024, 1 << 30,                \
                   "largest message body accepted, bytes"),                                        \
        RMQ_KV_ENUM("flushDiskType", T, m.flush_disk_type, 0, rmq_store_flush_names,               \
                    "ASYNC_FLUSH or SYNC_FLUSH (group commit)"),                                   \
        RMQ_KV_INT("flushIntervalCommitLog", T, m.flush_interval_commitlog, 500, 1, 3600000,       \
                   "async flush interval, ms"),                                                    \
        RMQ_KV_INT("flushCommitLogLeastPages", T, m.flush_commitlog_least_pages, 4, 0, 1 << 20,    \
                   "async flush only when this many dirty pages"),                                 \
        RMQ_KV_INT("flushCommitLogThoroughInterval", T, m.flush_commitlog_thorough_interval,       \
                   10000, 1, 3600000, "flush everything at least this often, ms"),                 \
        RMQ_KV_INT("flushIntervalConsumeQueue", T, m.flush_interval_cq, 1000, 1, 3600000,          \
                   "ConsumeQueue flush interval, ms"),                                             \
        RMQ_KV_INT("syncFlushTimeout", T, m.sync_flush_timeout, 5000, 1, 3600000,                  \
                   "SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT, ms"),                               \
        RMQ_KV_STR("deleteWhen", T, m.delete_when, "04",                                           \
                   "hour(s) of day to delete expired files"),                                      \
        RMQ_KV_INT("fileReservedTime", T, m.file_reserved_time, 72, 0, 1000000,                    \
                   "keep CommitLog segments this many hours"),                                     \
        RMQ_KV_INT("diskMaxUsedSpaceRatio", T, m.disk_max_used_space_ratio, 75, 10, 95,            \
                   "delete at once above this disk use, %"),                                       \
        RMQ_KV_INT("cleanResourceInterval", T, m.clean_resource_interval, 10000, 100, 3600000,     \
                   "retention check interval, ms"),                                                \
        RMQ_KV_INT("maxHashSlotNum", T, m.max_hash_slot_num, 5000000, 1, 100000000,                \
                   "IndexFile hash slots"),                                                        \
        RMQ_KV_INT("maxIndexNum", T, m.max_index_num, 20000000, 1, 400000000,                      \
                   "IndexFile entries"),                                                           \
        RMQ_KV_BOOL("messageIndexEnable", T, m.message_index_enable, 1, "build IndexFiles"),       \
        RMQ_KV_BOOL("checkCRCOnRecover", T, m.check_crc_on_recover, 1,                             \
                    "check body CRC during recovery"),                                             \
        RMQ_KV_BOOL("warmMapedFileEnable", T, m.warm_mapped_file_enable, 1,                        \
                    "pre-touch new CommitLog segments"),                                           \
        RMQ_KV_INT("maxTransferBytesOnMessageInMemory", T, m.max_transfer_bytes_mem, 262144, 1,    \
                   1 << 30, "pull size cap, bytes, data in memory"),                               \
        RMQ_KV_INT("maxTransferCountOnMessageInMemory", T, m.max_transfer_count_mem, 32, 1, 65536, \
                   "pull count cap, data in memory"),                                              \
        RMQ_KV_INT("maxTransferBytesOnMessageInDisk", T, m.max_transfer_bytes_disk, 65536, 1,      \
                   1 << 30, "pull size cap, bytes, data on disk"),                                 \
        RMQ_KV_INT("maxTransferCountOnMessageInDisk", T, m.max_transfer_count_disk, 8, 1, 65536,   \
                   "pull count cap, data on disk"),                                                \
        RMQ_KV_INT("accessMessageInMemoryMaxRatio", T, m.access_message_in_memory_max_ratio, 40,   \
                   0, 100, "RAM share below which data counts as in memory, %"),                   \
        RMQ_KV_INT("defaultQueryMaxNum", T, m.default_query_max_num, 32, 1, 65536,                 \
                   "QUERY_MESSAGE result cap"),                                                    \
        RMQ_KV_INT("scrubRateMBps", T, m.scrub_rate_mbps, 8, 0, 100000,                            \
                   "background CRC check of sealed CommitLog segments, MB/s (0 = off; rmq only)"), \
        RMQ_KV_BOOL("cleanFileForciblyEnable", T, m.clean_file_forcibly_enable, 0,                 \
                    "delete unexpired CommitLog segments under disk pressure (RocketMQ: true)")

typedef struct rmq_store_s rmq_store_t;

/* A message to append. All pointers borrowed for the duration of the put. */
typedef struct {
    const char *topic;
    size_t topic_len;
    int32_t queue_id;
    int32_t flag;
    const void *body;
    size_t body_len;
    const char *props; /* encoded properties (k\001v\002...), may be NULL */
    size_t props_len;
    /* Up to two more pieces of the properties, stored right after props (the record's
     * properties are props then these): a sender's bytes stored as they came, with one pair cut
     * out and the broker's appended, without assembling a copy first. rmq_store_put only. */
    const char *props_more[2];
    size_t props_more_len[2];
    int32_t sysflag; /* COMPRESSED / TXN bits; the V6 bits are derived from the hosts */
    int64_t born_ts;
    rmq_msg_host_t born_host;
    rmq_msg_host_t store_host;
    int32_t reconsume_times;
    int64_t prepared_txn_offset;
} rmq_store_msg_t;

typedef struct {
    int64_t phys_offset;  /* of the (first) record */
    int64_t queue_offset; /* of the (first) record */
    int64_t store_ts;
    int32_t wrote_bytes;
    int32_t count; /* records written (batch) */
} rmq_store_put_result_t;

/* Completion of a put: err is RMQ_OK when durable as the flush type promises, else
 * RMQ_ERR_FLUSH_DISK_TIMEOUT (the message is stored but not known durable). */
typedef void (*rmq_store_put_cb)(rmq_err_t err, const rmq_store_put_result_t *r, void *arg);

/* Open (and recover) the store at cfg's paths; cfg is copied. Takes the lock file. */
rmq_err_t rmq_store_open(const rmq_store_cfg_t *cfg, rmq_store_t **out);
/* Start the store's threads. */
rmq_err_t rmq_store_start(rmq_store_t *s);
/* Flush everything, stop threads, write the checkpoint, remove the abort file, unmap, free.
 * NULL is a no-op. */
void rmq_store_close(rmq_store_t *s);

/* Append one message. On error (RMQ_ERR_MESSAGE_ILLEGAL with the key named in the log,
 * RMQ_ERR_SERVICE_NOT_AVAILABLE when not writable / disk full, ...) nothing is stored and done is
 * not called. On RMQ_OK r is filled and done(err, r, arg) runs exactly once: at once on the
 * calling thread under ASYNC_FLUSH (or when done is NULL it is simply skipped), and from the
 * flush thread after the group commit under SYNC_FLUSH. */
rmq_err_t rmq_store_put(rmq_store_t *s, const rmq_store_msg_t *m, rmq_store_put_result_t *r,
                        rmq_store_put_cb done, void *arg);
/* Append n messages of one topic/queue contiguously with consecutive queue offsets (batch
 * send); a batch that does not fit a segment moves whole. Same completion contract; r covers
 * the first record, r->count = n. Each record's offset id can be derived from
 * offsets[i] (filled when non-NULL, n entries). */
rmq_err_t rmq_store_put_batch(rmq_store_t *s, const rmq_store_msg_t *m, size_t n,
                              rmq_store_put_result_t *r, int64_t *offsets, rmq_store_put_cb done,
                              void *arg);

/* Status of a read, RocketMQ's GetMessageStatus. */
typedef enum {
    RMQ_GET_FOUND = 0,
    RMQ_GET_NO_MATCHED_MESSAGE,
    RMQ_GET_MESSAGE_WAS_REMOVING,
    RMQ_GET_OFFSET_FOUND_NULL,
    RMQ_GET_OFFSET_OVERFLOW_BADLY,
    RMQ_GET_OFFSET_OVERFLOW_ONE,
    RMQ_GET_OFFSET_TOO_SMALL,
    RMQ_GET_NO_MATCHED_LOGIC_QUEUE,
    RMQ_GET_NO_MESSAGE_IN_QUEUE,
} rmq_get_status_t;
const char *rmq_get_status_name(rmq_get_status_t st);

/* Result of a read: one iovec per stored record, pointing into the mapped segments, which stay
 * mapped (pinned) until rmq_store_get_release(). */
typedef struct {
    rmq_get_status_t status;
    int64_t next_begin_offset;
    int64_t min_offset;
    int64_t max_offset;
    bool suggest_slave;
    size_t count;
    size_t total_bytes;
    struct iovec *iov;      /* count entries */
    int64_t *queue_offsets; /* count entries: queue offset of each record */
    void *pins_;            /* internal */
} rmq_store_get_t;

/* Filter for reads: tag codes (NULL/0 codes means everything passes), then, when set, a check
 * of each remaining record's bytes (SQL92 property filters): false skips the record. */
typedef struct {
    const int64_t *codes;
    size_t ncodes;
    bool (*match_record)(void *arg, const uint8_t *rec, size_t len);
    void *match_arg;
} rmq_store_filter_t;

/* Read up to max_msgs records of (topic, queue) from offset (store.md 9.3; max_bytes caps the
 * total, 0 for the store's default limits). *out new: release with rmq_store_get_release(). */
rmq_err_t rmq_store_get(rmq_store_t *s, const char *topic, int32_t queue_id, int64_t offset,
                        int max_msgs, size_t max_bytes, const rmq_store_filter_t *filter,
                        rmq_store_get_t **out);
void rmq_store_get_release(rmq_store_get_t *g);

/* Queue offsets: min, max (next to be written) for (topic, queue); 0 for an unknown queue. */
int64_t rmq_store_min_offset(rmq_store_t *s, const char *topic, int32_t queue_id);
int64_t rmq_store_max_offset(rmq_store_t *s, const char *topic, int32_t queue_id);
/* Queue offset for a timestamp (store.md 9.1, 4.9 semantics). */
int64_t rmq_store_offset_by_time(rmq_store_t *s, const char *topic, int32_t queue_id,
                                 int64_t ts_ms);
/* Store timestamp of the record at a queue offset; -1 if unavailable. */
int64_t rmq_store_msg_store_time(rmq_store_t *s, const char *topic, int32_t queue_id,
                                 int64_t queue_offset);
/* Store time of the message at the queue's min offset; -1 if none. */
int64_t rmq_store_earliest_time(rmq_store_t *s, const char *topic, int32_t queue_id);
/* Store-wide: CommitLog min and max (write position) physical offsets. */
int64_t rmq_store_commitlog_min_offset(rmq_store_t *s);
int64_t rmq_store_commitlog_max_offset(rmq_store_t *s);
/* Queues of a topic known to the store (ConsumeQueues present); *ids new (free()). */
rmq_err_t rmq_store_topic_queues(rmq_store_t *s, const char *topic, int32_t **ids, size_t *n);

/* Copy of the record at a physical offset (VIEW_MESSAGE_BY_ID, send-back, transactions).
 * *rec new (free()). RMQ_ERR__NOT_FOUND if no valid record is there. */
rmq_err_t rmq_store_read_at(rmq_store_t *s, int64_t phys_offset, uint8_t **rec, size_t *len);

/* Physical offsets of the messages indexed under topic#key with store time in
 * [begin_ms, end_ms], newest first, at most max. *offsets new (free()). Also returns the
 * index's last update time. */
rmq_err_t rmq_store_query_by_key(rmq_store_t *s, const char *topic, const char *key, int max,
                                 int64_t begin_ms, int64_t end_ms, int64_t **offsets, size_t *n,
                                 int64_t *index_last_update_ms);

/* Called on the reput thread after each dispatched record that entered a ConsumeQueue.
 * Must be quick (the broker posts a wake-up to its loop). */
typedef void (*rmq_store_arrive_cb)(const char *topic, int32_t queue_id, int64_t queue_offset,
                                    int64_t tags_code, void *arg);
/* Set before rmq_store_start. */
void rmq_store_set_arrive_cb(rmq_store_t *s, rmq_store_arrive_cb cb, void *arg);

/* Deferred dispatcher wake-ups for a thread that puts many records per turn (the broker's
 * loop). The dispatcher sleeps once it has caught up and a put wakes it; after
 * rmq_store_kick_attach, puts on the calling thread no longer do, and that thread calls
 * rmq_store_kick after its puts and before it blocks (once per loop iteration). If the
 * dispatcher sleeps and the turn's puts are few (at most RMQ_STORE_KICK_INLINE bytes), the kick
 * dispatches them itself, so the arrive callback runs on the kicking thread; more, and it wakes
 * the dispatcher (a futex wake-up); nothing new, a load. Puts on other threads (replication,
 * tools) still wake it themselves. Attach once, before the thread's first put.
 * Under SYNC_FLUSH the kicker's puts are staged (commitlog.c): a put returns its offsets, but
 * its record is readable, replicated and flushed (its done callback called) only after the
 * thread's next rmq_store_kick, which writes the turn's records with one pwrite. */
#define RMQ_STORE_KICK_INLINE (16 * 1024)
void rmq_store_kick_attach(rmq_store_t *s);
void rmq_store_kick(rmq_store_t *s);

/* Remove a topic's ConsumeQueues (DELETE_TOPIC_IN_BROKER); the CommitLog keeps its records. */
rmq_err_t rmq_store_delete_topic(rmq_store_t *s, const char *topic);

/* ---- housekeeping on request (mqadmin cleanExpiredCQ / cleanUnusedTopic / deleteExpiredCommitLog)
 * Any thread. */

/* One ConsumeQueue entry of (topic, queue) at index: physical offset, size, tags code.
 * RMQ_ERR__NOT_FOUND outside [min, max) or for an unknown queue. */
rmq_err_t rmq_store_cq_entry(rmq_store_t *s, const char *topic, int32_t queue_id, int64_t index,
                             int64_t *phys, int32_t *size, int64_t *tags_code);
/* Topics that have ConsumeQueues; *names new (free each and the array). */
rmq_err_t rmq_store_topics(rmq_store_t *s, char ***names, size_t *n);
/* Remove every ConsumeQueue whose entries all lie below the CommitLog's min offset (their
 * messages are gone), SCHEDULE_TOPIC_XXXX's excepted, as RocketMQ's cleanExpiredConsumerQueue.
 * Returns the number of queues removed. */
int rmq_store_clean_expired_cqs(rmq_store_t *s);
/* Ask the service thread for retention as if in the deleteWhen hour (fileReservedTime still
 * applies; up to 20 passes of 10 segments), as RocketMQ's executeDeleteFilesManually; returns at
 * once. */
void rmq_store_clean_expired_commitlog(rmq_store_t *s);

/* ---- replication (broker.md 9; the HA transport is broker/ha) -------------------------------
 * Master: read committed CommitLog bytes as pinned slices, one segment at a time. Slave: append
 * raw CommitLog bytes (they may end mid-record) at its replication offset; the store publishes
 * its max offset only up to the last complete record, so the dispatcher (reput) never sees a
 * partial one, and wakes it. The slave's segment files end up byte-identical to the master's. */

/* Append notifier for the HA writers (one waiter, the HA thread): arm it, re-check the max
 * offset, and if there is still nothing new wait until rmq_store_notify_fd() is readable; the
 * next append (put, batch or raw) after arming makes it readable, once. Drain before arming
 * again. The fd belongs to the store (valid until rmq_store_close); it is an eventfd. */
int rmq_store_notify_fd(rmq_store_t *s);
void rmq_store_notify_arm(rmq_store_t *s);
void rmq_store_notify_drain(rmq_store_t *s);

/* Committed CommitLog bytes [offset, offset + len) inside one segment, borrowed from the
 * mapping: the segment stays pinned until rmq_store_cl_slice_release(). */
typedef struct {
    const uint8_t *data;
    size_t len;
    int64_t offset;
    void *pin_; /* internal */
} rmq_store_cl_slice_t;

/* Slice from offset up to the end of readable data in the segment holding it, at most max
 * bytes (haTransferBatchSize); a blank end-of-segment region is included as stored. len 0:
 * nothing readable there yet (offset >= max offset). RMQ_ERR__NOT_FOUND: offset is below the
 * CommitLog's min offset (deleted) or beyond its max. The slice is released even when len 0. */
rmq_err_t rmq_store_cl_read(rmq_store_t *s, int64_t offset, size_t max, rmq_store_cl_slice_t *out);
void rmq_store_cl_slice_release(rmq_store_cl_slice_t *sl); /* NULL or empty is a no-op */

/* Start of the CommitLog's last segment (max offset rounded down to the segment size): where
 * a new slave that reports 0 starts. */
int64_t rmq_store_cl_last_segment_start(rmq_store_t *s);

/* A slave's replication offset: its max offset plus any partial record received after it. What
 * it reports to its master, and where the next rmq_store_cl_append must start. */
int64_t rmq_store_cl_repl_offset(rmq_store_t *s);

/* Append raw CommitLog bytes (a master's frame body) at offset, which must equal
 * rmq_store_cl_repl_offset(); on an empty store it may be any segment-aligned offset, and the
 * store's first segment is created there (a new slave starting at its master's last segment).
 * [offset, offset + len) must lie inside one segment. The bytes may end mid-record; records
 * are checked as they complete (length, magic, stored physical offset) and the max offset
 * moves to the end of the last complete one. Under SYNC_FLUSH everything appended is durable
 * on return. Errors (nothing of this call kept): RMQ_ERR__INVALID_ARG wrong offset or a
 * segment crossed (logged with both offsets), RMQ_ERR__CORRUPT the bytes do not form records,
 * RMQ_ERR_SERVICE_NOT_AVAILABLE not writable, RMQ_ERR__IO / __DISK_FULL from the segment.
 * After the first raw append the store refuses rmq_store_put (a slave is read-only; reopen it
 * to make it a master). Not to be mixed with puts on the same store. */
rmq_err_t rmq_store_cl_append(rmq_store_t *s, int64_t offset, const void *data, size_t len);

/* Where a raw append at offset goes: a pointer into the mapped segment and the room left in
 * it (the segment is created when offset starts one). A slave receives straight into it and
 * then commits with rmq_store_cl_append(s, offset, *buf, n), which skips the copy. Valid until
 * the next append or close; for the one appending thread. Same errors as rmq_store_cl_append. */
rmq_err_t rmq_store_cl_append_buf(rmq_store_t *s, int64_t offset, uint8_t **buf, size_t *room);

/* Store time of the record at a physical offset; -1 if no record starts there. */
int64_t rmq_store_cl_store_time(rmq_store_t *s, int64_t phys_offset);
/* Store time of the newest appended record (0 when none yet). */
int64_t rmq_store_cl_last_store_time(rmq_store_t *s);

/* Why puts are refused with RMQ_ERR_SERVICE_NOT_AVAILABLE, for the response's remark (names
 * the disk path and the ratio or free space); "" while writable. */
void rmq_store_unwritable_reason(rmq_store_t *s, char *buf, size_t n);

/* Runtime figures for GET_BROKER_RUNTIME_INFO. */
typedef struct {
    int64_t commitlog_min_offset, commitlog_max_offset;
    int64_t flushed_offset;        /* durable up to here */
    int64_t dispatched_offset;     /* reput position */
    uint64_t put_count, put_bytes; /* since start */
    uint64_t put_fail_count;
    double disk_used_ratio;    /* of the CommitLog's file system, 0..1 */
    int64_t earliest_msg_time; /* -1 if empty */
    int commitlog_segments;
    bool writable;
    /* quarantine: CommitLog ranges that failed their checks (corrupt records, damaged runs of
     * bytes), never served; hits counts the ConsumeQueue entries, index hits and reads by
     * offset refused because they point into one */
    uint64_t quarantined_ranges, quarantined_bytes, quarantine_hits;
    uint64_t scrubbed_bytes, scrub_passes; /* background scrub (scrubRateMBps) since open */
} rmq_store_stats_t;
void rmq_store_get_stats(rmq_store_t *s, rmq_store_stats_t *st);

/* Wait until the dispatcher has caught up with everything appended so far (tests, shutdown);
 * false after timeout_ms. */
bool rmq_store_wait_dispatched(rmq_store_t *s, int timeout_ms);

/* Config JSON files (config/<name>.json): write atomically (temp file, fsync, rename, the previous
 * kept as path.bak) and read back with path.bak as fallback. *text new (free()).
 * RMQ_ERR__NOT_FOUND when neither exists. */
rmq_err_t rmq_store_cfgfile_write(const char *path, const char *text, size_t len);
rmq_err_t rmq_store_cfgfile_read(const char *path, char **text, size_t *len);

/* Run-time retention and flush tunables (UPDATE_BROKER_CONFIG): fileReservedTime,
 * diskMaxUsedSpaceRatio, flushIntervalCommitLog and deleteWhen of cfg take effect from the
 * next clean / flush round. One caller at a time (the broker loop). */
rmq_err_t rmq_store_set_tunables(rmq_store_t *s, const rmq_store_cfg_t *cfg);

#endif
