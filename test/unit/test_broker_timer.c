/* broker/timer_intake: which sends become timer messages and their TIMER_OUT_MS slot
 * (RocketMQ 5 HookUtils rules): property precedence, rounding, limits, switches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "broker/timer_intake.h"

static rmq_broker_cfg_t cfg;
static char err[512];

static rmq_err_t intake(const char *props, int64_t now, int64_t *out) {
    err[0] = 0;
    return rmq_broker_timer_intake(&cfg, props, strlen(props), now, out, err, sizeof err);
}

static void test_intake(void **st) {
    (void)st;
    memset(&cfg, 0, sizeof cfg);
    cfg.timer_wheel_enable = true;
    cfg.timer_max_delay_sec = 60;
    cfg.timer_precision_ms = 100;
    int64_t now = 1000000, out = 0;
    /* no timer property */
    assert_int_equal(intake("KEYS\001k\002TAGS\001t", now, &out), RMQ_OK);
    assert_int_equal(out, -1);
    /* rounding down; an exact multiple goes one precision earlier */
    assert_int_equal(intake("TIMER_DELIVER_MS\0011000150", now, &out), RMQ_OK);
    assert_int_equal(out, 1000100);
    assert_int_equal(intake("TIMER_DELIVER_MS\0011000200", now, &out), RMQ_OK);
    assert_int_equal(out, 1000100);
    /* DELAY_SEC wins over DELAY_MS wins over DELIVER_MS */
    assert_int_equal(intake("TIMER_DELIVER_MS\0011000150\002TIMER_DELAY_SEC\0012", now, &out),
                     RMQ_OK);
    assert_int_equal(out, 1001900);
    assert_int_equal(intake("TIMER_DELIVER_MS\0011000150\002TIMER_DELAY_MS\001555", now, &out),
                     RMQ_OK);
    assert_int_equal(out, 1000500);
    /* already due: as is */
    assert_int_equal(intake("TIMER_DELIVER_MS\001999999", now, &out), RMQ_OK);
    assert_int_equal(out, -1);
    assert_int_equal(intake("TIMER_DELAY_SEC\0010", now, &out), RMQ_OK);
    assert_int_equal(out, -1);
    /* parked before (TIMER_OUT_MS): as is */
    assert_int_equal(intake("TIMER_DELAY_SEC\0015\002TIMER_OUT_MS\001900", now, &out), RMQ_OK);
    assert_int_equal(out, -1);
    /* the limit: 60 s accepted, 60.001 s refused naming the key */
    assert_int_equal(intake("TIMER_DELAY_MS\00160000", now, &out), RMQ_OK);
    assert_int_equal(intake("TIMER_DELAY_MS\00160001", now, &out), RMQ_ERR_MESSAGE_ILLEGAL);
    assert_non_null(strstr(err, "timerMaxDelaySec=60"));
    assert_int_equal(intake("TIMER_DELAY_SEC\0019223372036854775807", now, &out),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    assert_int_equal(intake("TIMER_DELAY_SEC\001x", now, &out), RMQ_ERR_MESSAGE_ILLEGAL);
    assert_int_equal(intake("TIMER_DELIVER_MS\001 5", now, &out), RMQ_ERR_MESSAGE_ILLEGAL);
    /* an empty value is no property at all (Java's string2messageProperties drops it) */
    assert_int_equal(intake("TIMER_DELIVER_MS\001", now, &out), RMQ_OK);
    assert_int_equal(out, -1);
    /* cancelling is refused, in the past as RocketMQ, in the future as not supported */
    assert_int_equal(intake("TIMER_DELAY_SEC\0011\002TIMER_DEL_UNIQKEY\001k", now, &out),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    assert_non_null(strstr(err, "TIMER_DEL_UNIQKEY"));
    assert_int_equal(intake("TIMER_DELAY_SEC\001-1\002TIMER_DEL_UNIQKEY\001k", now, &out),
                     RMQ_ERR_MESSAGE_ILLEGAL);
    /* switched off: every timer message refused, others pass */
    cfg.timer_wheel_enable = false;
    assert_int_equal(intake("TIMER_DELAY_SEC\0011", now, &out), RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(err, "timerWheelEnable is false"));
    assert_int_equal(intake("KEYS\001k", now, &out), RMQ_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_intake)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
