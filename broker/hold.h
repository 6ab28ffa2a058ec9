/* Held pulls for long polling (broker.md 2.5, RocketMQ's PullRequestHoldService): a pull that
 * finds nothing new waits here until a message arrives, its hold time passes, or the service
 * closes. Loop thread only, except rmq_broker_hold_any. */
#ifndef RMQ_BROKER_HOLD_H
#define RMQ_BROKER_HOLD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Re-run a held pull without suspension: returns the response to send (NULL for none).
 * Borrows c and req. */
typedef rmq_rem_cmd_t *(*rmq_broker_hold_rerun_fn)(void *arg, rmq_rem_conn_t *c,
                                                   rmq_rem_cmd_t *req);

/* Open on env's loop. count is the parked-pull counter the reput thread reads (it outlives the
 * service: broker.c owns it); rerun(arg, ...) answers a pull (pull.c). All borrowed. */
rmq_err_t rmq_broker_hold_open(const rmq_broker_env_t *env, _Atomic int *count,
                               rmq_broker_hold_rerun_fn rerun, void *arg, rmq_broker_hold_t **out);
/* Answer every held pull now and close; memory goes with the timer's close callback. NULL is a
 * no-op. */
void rmq_broker_hold_close(rmq_broker_hold_t *hs);
/* Park a pull: refs req and c. Answered by rerun when a matching message arrives, the hold
 * time passes, or the service closes; when it cannot be parked, answered now. */
void rmq_broker_hold_park(rmq_broker_hold_t *hs, rmq_rem_conn_t *c, rmq_rem_cmd_t *req,
                          const char *topic, int32_t qid, int64_t offset, int64_t hold_ms,
                          const int64_t *codes, size_t ncodes);
/* Wake held pulls of (topic, qid) now that max_offset is available (loop). */
void rmq_broker_hold_notify(rmq_broker_hold_t *hs, const char *topic, int qid, int64_t max_offset,
                            int64_t tags_code);
/* Any pull parked? Any thread: reads the counter given at open. */
static inline bool rmq_broker_hold_any(_Atomic int *count) {
    return atomic_load(count) > 0;
}

#endif
