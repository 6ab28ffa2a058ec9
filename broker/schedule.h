/* Delivery of delayed messages (broker.md 7): one timer per messageDelayLevel level moves due
 * messages from SCHEDULE_TOPIC_XXXX back to their real topics; offsets in delayOffset.json.
 * Loop thread only. */
#ifndef RMQ_BROKER_SCHEDULE_H
#define RMQ_BROKER_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Load delayOffset.json and, on a master, start one delivery timer per messageDelayLevel level
 * (first run 1 s later) plus the 10 s persistence timer. stopping (borrowed) turns true when
 * the broker shuts down: delivery stops at once. */
rmq_err_t rmq_broker_schedule_open(const rmq_broker_env_t *env, const bool *stopping,
                                   rmq_broker_schedule_t **out);
/* Write delayOffset.json now if an offset moved since the last write. */
void rmq_broker_schedule_persist(rmq_broker_schedule_t *s);
/* Stop delivering, write delayOffset.json, close the timers (memory freed by their close
 * callbacks). Call before the store closes. NULL is a no-op. */
void rmq_broker_schedule_close(rmq_broker_schedule_t *s);

/* Delayed messages not yet delivered: over the levels, the schedule queue's max offset minus
 * the next offset to examine (metrics). Loop thread. */
int64_t rmq_broker_schedule_backlog(rmq_broker_schedule_t *s);

/* Slave metadata sync (broker.md 9.4): the master's GET_ALL_DELAY_OFFSET answer becomes
 * delayOffset.json verbatim (and the offsets in memory). RMQ_ERR__CORRUPT when unparsable. */
rmq_err_t rmq_broker_schedule_sync(rmq_broker_schedule_t *s, const void *body, size_t len);
/* GET_ALL_DELAY_OFFSET (45): the delayOffset.json content (dispatch.c). */
RMQ_BROKER_HANDLER(rmq_broker_schedule_on_get_all);

/* ---- pure parts (unit-tested) -------------------------------------------------------------- */
/* messageDelayLevel to per-level delays in ms: *ms new array (free()) of the returned count,
 * level L at index L-1; -1 (and *ms NULL) when malformed: empty, a number without a unit
 * s/m/h/d, a zero or overflowing delay. */
int rmq_broker_delay_parse(const char *spec, int64_t **ms);
/* delayOffset.json text {"offsetTable":{1:o1,2:o2,...}} for levels 1..n (store.md 8.5), keys
 * unquoted as fastjson writes them; pretty for the file. New string (free()). */
char *rmq_broker_delay_offsets_encode(const int64_t *offs, int n, bool pretty);
/* Read such text into offs[0..n) (level L at L-1); levels absent stay as they are, levels
 * beyond n and non-numeric entries are skipped. RMQ_OK or RMQ_ERR__CORRUPT. */
rmq_err_t rmq_broker_delay_offsets_decode(const char *text, size_t len, int64_t *offs, int n);

#endif
