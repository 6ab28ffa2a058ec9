/* 5.x timer messages (broker.md 7.6): a message with TIMER_DELIVER_MS / TIMER_DELAY_SEC /
 * TIMER_DELAY_MS due in the future is stored in rmq_sys_wheel_timer queue 0 (REAL_TOPIC /
 * REAL_QID keep its destination, TIMER_OUT_MS its slot); this service adds each such message to
 * the timer wheel (store/timer.h) and, when its time comes, re-puts it under its real topic.
 * Loop thread only; runs on masters. */
#ifndef RMQ_BROKER_TIMER_H
#define RMQ_BROKER_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "broker/timer_intake.h"

typedef struct rmq_broker_timer_s rmq_broker_timer_t;

/* Open the wheel files under storePathRootDir and start the enqueue, delivery and flush timers
 * (nothing when timerWheelEnable=false or on a slave: *out NULL, RMQ_OK). stopping (borrowed)
 * turns true at shutdown. RMQ_ERR__CONFIG / __IO (logged) stop the broker's start. */
rmq_err_t rmq_broker_timer_open(const rmq_broker_env_t *env, const bool *stopping,
                                rmq_broker_timer_t **out);
/* Stop, flush the files, close the timers (freed in their close callbacks). Before the store
 * closes. NULL is a no-op. */
void rmq_broker_timer_close(rmq_broker_timer_t *t);

/* Runtime figures (GET_BROKER_RUNTIME_INFO). */
typedef struct {
    int64_t backlog;       /* timer messages added to the wheel and not yet delivered */
    int64_t read_behind_s; /* delivery lag behind the clock, seconds (timerReadBehind) */
    int64_t offset_behind; /* timer queue messages not yet in the wheel (timerOffsetBehind) */
    int64_t enq_offset;    /* next timer queue offset to add */
    uint64_t enqueued, delivered; /* since start */
} rmq_broker_timer_stats_t;
/* t may be NULL (all zero). */
void rmq_broker_timer_stats(rmq_broker_timer_t *t, rmq_broker_timer_stats_t *st);

#endif
