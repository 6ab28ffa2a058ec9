/* Intake of 5.x timer messages on the send path (broker.md 7.6, RocketMQ's
 * HookUtils.handleScheduleMessage): whether a message is parked in the timer topic, and until
 * when. Pure; split from broker/timer so that send.c and the timer service do not include each
 * other. */
#ifndef RMQ_BROKER_TIMER_INTAKE_H
#define RMQ_BROKER_TIMER_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "broker/cfg.h"
#include "rmq/rmq_err.h"

#define RMQ_TOPIC_TIMER "rmq_sys_wheel_timer"

/* What a send with these properties becomes: RMQ_OK with *out_ms = -1 when it is no timer
 * message or already due (stored as is), or with *out_ms = the TIMER_OUT_MS slot when it is to
 * be parked; else the response code (MESSAGE_ILLEGAL beyond timerMaxDelaySec or unparsable,
 * SYSTEM_ERROR when timerWheelEnable=false) with the remark in err. now is the broker's clock. */
rmq_err_t rmq_broker_timer_intake(const rmq_broker_cfg_t *cfg, const char *props, size_t len,
                                  int64_t now, int64_t *out_ms, char *err, size_t errlen);

#endif
