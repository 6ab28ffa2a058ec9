/* Intake of 5.x timer messages (timer_intake.h): the due time from TIMER_DELAY_SEC, else
 * TIMER_DELAY_MS, else TIMER_DELIVER_MS, as RocketMQ 5's HookUtils reads them. */
#include "broker/timer_intake.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/msg.h"
#include "common/util.h"

/* The value of key (present) as a Java long: false when empty, too long or not a number. */
static bool prop_i64(const char *props, size_t len, const char *key, int64_t *v) {
    size_t vl = 0;
    const char *p = rmq_msg_prop_get(props, len, key, &vl);
    char s[40];
    if (!p || vl == 0 || vl >= sizeof s) return false;
    memcpy(s, p, vl);
    s[vl] = 0;
    return rmq_parse_java_long(s, v) == 0;
}

rmq_err_t rmq_broker_timer_intake(const rmq_broker_cfg_t *cfg, const char *props, size_t len,
                                  int64_t now, int64_t *out_ms, char *err, size_t errlen) {
    *out_ms = -1;
    if (!props || !len) return RMQ_OK;
    size_t vl;
    bool has_sec = rmq_msg_prop_get(props, len, RMQ_PROP_TIMER_DELAY_SEC, &vl) != NULL,
         has_ms = rmq_msg_prop_get(props, len, RMQ_PROP_TIMER_DELAY_MS, &vl) != NULL,
         has_at = rmq_msg_prop_get(props, len, RMQ_PROP_TIMER_DELIVER_MS, &vl) != NULL;
    if (!has_sec && !has_ms && !has_at) return RMQ_OK;
    /* parked before (a re-send of a delivered one): stored as is, as RocketMQ's double check */
    if (rmq_msg_prop_get(props, len, RMQ_PROP_TIMER_OUT_MS, &vl)) return RMQ_OK;
    if (!cfg->timer_wheel_enable) {
        snprintf(err, errlen, "accurate timer message is not enabled, timerWheelEnable is false");
        return RMQ_ERR_SYSTEM_ERROR;
    }
    const char *key = has_sec  ? RMQ_PROP_TIMER_DELAY_SEC
                      : has_ms ? RMQ_PROP_TIMER_DELAY_MS
                               : RMQ_PROP_TIMER_DELIVER_MS;
    int64_t v = 0, deliver;
    if (!prop_i64(props, len, key, &v)) goto illegal;
    if (has_sec) {
        if (v > (INT64_MAX - now) / 1000 || v < -(INT64_MAX / 1000) + now / 1000) goto illegal;
        deliver = now + v * 1000;
    } else if (has_ms) {
        if (v > INT64_MAX - now) goto illegal;
        deliver = now + v;
    } else {
        deliver = v;
    }
    bool del = rmq_msg_prop_get(props, len, RMQ_PROP_TIMER_DEL_UNIQKEY, &vl) != NULL;
    if (deliver <= now) {
        if (del) goto illegal;
        return RMQ_OK; /* already due: delivered at once */
    }
    if (deliver - now > (int64_t)cfg->timer_max_delay_sec * 1000) goto illegal;
    if (del) {
        snprintf(err, errlen,
                 "cancelling a timer message (%s) is not supported by this broker; the "
                 "message was not stored",
                 RMQ_PROP_TIMER_DEL_UNIQKEY);
        return RMQ_ERR_MESSAGE_ILLEGAL;
    }
    int64_t p = cfg->timer_precision_ms;
    *out_ms = deliver % p == 0 ? deliver - p : deliver / p * p;
    return RMQ_OK;
illegal:
    snprintf(err, errlen,
             "timer message illegal, the delay time should not be bigger than the max delay "
             "%" PRId64 "ms (timerMaxDelaySec=%d); or if set del msg, the delay time should be "
             "bigger than the current time",
             (int64_t)cfg->timer_max_delay_sec * 1000, cfg->timer_max_delay_sec);
    return RMQ_ERR_MESSAGE_ILLEGAL;
}
