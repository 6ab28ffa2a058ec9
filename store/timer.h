/* The 5.x timer wheel's storage (broker.md 7.6): <root>/timerwheel, <root>/timerlog/ and
 * <root>/config/timercheck in RocketMQ 5's layouts, so that a million pending timer messages
 * cost file pages, not a million objects.
 *
 *   timerwheel  slots of 32 bytes {timeMs / precisionMs 8, firstPos 8, lastPos 8, num 4,
 *               magic 4}; a slot is indexed by (timeMs / precisionMs) mod slots. A slot whose
 *               stored time is not the one asked for is empty (its index was reused).
 *   timerlog/   segments named by their start offset, of 52-byte units {size 4, prevPos 8,
 *               magic 4, writeTimeMs 8, delayedTime 4 (relative to writeTimeMs), offsetPy 8,
 *               sizePy 4, realTopicHash 4, reserved 8}; each slot chains its units backwards
 *               through prevPos; writeTimeMs + delayedTime is the slot, as in RocketMQ. rmq
 *               puts the timer queue offset (high 40 bits) and the exact due time relative to
 *               the slot (low 24 bits) into the reserved field, which RocketMQ leaves 0: that
 *               makes recovery exact and delivery finer than the precision.
 *   timercheck  RocketMQ's fields {lastReadTimeMs, lastTimerLogFlushPos, lastTimerQueueOffset,
 *               masterTimerQueueOffset, dataVersion 3 x 8} then rmq's {deliveredMs,
 *               appendedTotal, deliveredTotal, precisionMs, slots}, mmap'd and written in
 *               place as progress is made.
 *
 * The files are reserved (posix_fallocate) when made, so a full disk fails an append or the
 * start instead of raising SIGBUS. Everything is written through shared mappings, so a kill -9
 * loses nothing the process had written; rmq_store_timer_flush msyncs them (power loss). Opening
 * scans the log past the checkpoint's position and links any unit a crash left unlinked.
 *
 * Not thread-safe: one thread (the broker's loop) uses a timer store. No sockets, no messages:
 * the broker decides what a unit means. */
#ifndef RMQ_STORE_TIMER_H
#define RMQ_STORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq_err.h"

#define RMQ_TIMER_UNIT_SIZE 52
#define RMQ_TIMER_SLOT_SIZE 32
#define RMQ_TIMER_MAGIC_DEFAULT 1

typedef struct rmq_store_timer_s rmq_store_timer_t;

typedef struct {
    const char *root;     /* storePathRootDir (borrowed during open) */
    int precision_ms;     /* timerPrecisionMs */
    int64_t slots;        /* slots in the wheel file */
    int64_t log_seg_size; /* timerlog segment size, bytes (rounded down to whole units) */
} rmq_store_timer_cfg_t;

typedef struct {
    int64_t time_ms; /* slot time (a multiple of the precision) */
    int64_t first_pos, last_pos;
    int32_t num, magic;
} rmq_store_timer_slot_t;

typedef struct {
    int64_t pos, prev_pos;
    int32_t magic;
    int64_t write_ms;
    int64_t slot_ms; /* write_ms + delayedTime: the slot it is linked into */
    int64_t due_ms;  /* exact due time (slot_ms + the reserved field's low bits) */
    int64_t offset_py;
    int32_t size_py;
    int32_t topic_hash;
    int64_t queue_offset; /* timer queue offset of the message (reserved field) */
} rmq_store_timer_unit_t;

/* Progress kept in timercheck. */
typedef struct {
    int64_t read_ms;      /* slot being delivered (all earlier slots are done) */
    int64_t delivered_ms; /* units of read_ms's slot with due <= this are delivered */
    int64_t enq_offset;   /* next timer queue offset to add */
    int64_t log_pos;      /* timerlog write position */
    int64_t appended_total, delivered_total;
} rmq_store_timer_progress_t;

/* Open or create the files, check them against cfg, recover (see above). RMQ_ERR__CONFIG (logged,
 * naming timerPrecisionMs / timerMaxDelaySec) when existing files were made for another precision
 * or wheel size; RMQ_ERR__IO when a file cannot be made. *out new: rmq_store_timer_close. */
rmq_err_t rmq_store_timer_open(const rmq_store_timer_cfg_t *cfg, rmq_store_timer_t **out);
/* Flush and unmap; NULL is a no-op. */
void rmq_store_timer_close(rmq_store_timer_t *t);

/* Append a unit for slot_ms (rounded down to the precision) due at u->due_ms, linking it into
 * the slot, and record u->queue_offset + 1 as the next offset to add. The caller fills
 * due_ms, offset_py, size_py, topic_hash, queue_offset; the rest is set here (write_ms = now,
 * pos = where it went). */
rmq_err_t rmq_store_timer_append(rmq_store_timer_t *t, int64_t slot_ms, rmq_store_timer_unit_t *u);
/* The slot for time_ms; false (and *s zeroed with positions -1) when it holds nothing for that
 * time. */
bool rmq_store_timer_slot(rmq_store_timer_t *t, int64_t time_ms, rmq_store_timer_slot_t *s);
/* The unit at pos; RMQ_ERR__NOT_FOUND when pos is outside the log or not a valid unit. */
rmq_err_t rmq_store_timer_unit(rmq_store_timer_t *t, int64_t pos, rmq_store_timer_unit_t *u);

void rmq_store_timer_progress(rmq_store_timer_t *t, rmq_store_timer_progress_t *p);
/* Record delivery progress: read_ms's slot delivered up to delivered_ms, n more delivered. */
void rmq_store_timer_set_delivered(rmq_store_timer_t *t, int64_t read_ms, int64_t delivered_ms,
                                   int64_t n);
/* Record enqueue progress for queue offsets that produced no unit (holes, bad records). */
void rmq_store_timer_set_enq_offset(rmq_store_timer_t *t, int64_t next);

/* msync wheel, log and checkpoint (power-loss durability). RMQ_ERR__IO logged. */
rmq_err_t rmq_store_timer_flush(rmq_store_timer_t *t);

/* The same in two halves, so the blocking msync runs off the owning thread: prepare (owning
 * thread) notes the mapped ranges to sync; run (any thread) msyncs them. The ranges stay valid
 * while the store is open and no rmq_store_timer_clean runs in between. */
typedef struct {
    void *addr[3];
    size_t len[3];
    int n;
} rmq_store_timer_sync_t;
void rmq_store_timer_sync_prepare(rmq_store_timer_t *t, rmq_store_timer_sync_t *s);
rmq_err_t rmq_store_timer_sync_run(const rmq_store_timer_sync_t *s);
/* Delete leading log segments whose last unit was written before before_ms (all due, given the
 * maximum delay); returns the number deleted. The segment being written is kept. */
int rmq_store_timer_clean(rmq_store_timer_t *t, int64_t before_ms);

#endif
