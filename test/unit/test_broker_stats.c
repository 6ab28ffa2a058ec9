/* statsAll's counters (broker/admin_stats.c): the minute, hour and day windows sum what fell
 * inside them and forget what fell out, TPS divides by the time the window covers, sizes and
 * counts are kept apart, and gets are keyed "topic@group". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker/admin_stats.h"

#define SEC 1000LL
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)

static void test_windows(void **st) {
    rmq_broker_bstats_t *s = rmq_broker_bstats_new();
    assert_non_null(s);
    rmq_broker_bstats_win_t w[3];
    int64_t t0 = 1000 * HOUR; /* slot-aligned */
    assert_false(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0, w));
    rmq_broker_bstats_on_put(s, "T", 10, 1000, t0);
    rmq_broker_bstats_on_put(s, "T", 5, 500, t0 + 20 * SEC);
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0 + 30 * SEC, w));
    assert_int_equal(w[0].sum, 15);
    assert_int_equal(w[1].sum, 15);
    assert_int_equal(w[2].sum, 15);
    assert_true(w[0].tps > 15.0 / 31 && w[0].tps < 15.0 / 29); /* over the 30 s since the first */
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_SIZE", "T", t0 + 30 * SEC, w));
    assert_int_equal(w[0].sum, 1500);
    /* two minutes later the minute window is empty, the hour and day still hold them */
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0 + 2 * MINUTE, w));
    assert_int_equal(w[0].sum, 0);
    assert_true(w[0].tps == 0.0);
    assert_int_equal(w[1].sum, 15);
    /* a slot reused after its ring wrapped starts from zero */
    rmq_broker_bstats_on_put(s, "T", 1, 1, t0 + 70 * SEC); /* same 10 s ring slot as t0 */
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0 + 70 * SEC, w));
    assert_int_equal(w[0].sum, 1 + 5); /* t0's 10 put fell out, t0 + 20 s is still inside */
    assert_int_equal(w[1].sum, 16);
    /* two hours later: only the day */
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0 + 2 * HOUR, w));
    assert_int_equal(w[1].sum, 0);
    assert_int_equal(w[2].sum, 16);
    /* a day and more later: nothing */
    assert_true(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t0 + 25 * HOUR, w));
    assert_int_equal(w[2].sum, 0);
    rmq_broker_bstats_destroy(s);
}

static void test_names_and_keys(void **st) {
    rmq_broker_bstats_t *s = rmq_broker_bstats_new();
    rmq_broker_bstats_win_t w[3];
    int64_t t = 5000 * HOUR;
    rmq_broker_bstats_on_get(s, "G1", "T", 7, 70, t);
    rmq_broker_bstats_on_get(s, "G2", "T", 3, 30, t);
    assert_true(rmq_broker_bstats_view(s, "GROUP_GET_NUMS", "T@G1", t + SEC, w));
    assert_int_equal(w[0].sum, 7);
    assert_true(rmq_broker_bstats_view(s, "GROUP_GET_SIZE", "T@G2", t + SEC, w));
    assert_int_equal(w[2].sum, 30);
    assert_false(rmq_broker_bstats_view(s, "TOPIC_PUT_NUMS", "T", t, w)); /* gets are not puts */
    assert_false(rmq_broker_bstats_view(s, "GROUP_GET_NUMS", "T@G3", t, w));
    assert_false(rmq_broker_bstats_view(s, "BROKER_PUT_NUMS", "T@G1", t, w));
    assert_false(rmq_broker_bstats_view(NULL, "GROUP_GET_NUMS", "T@G1", t, w));
    rmq_broker_bstats_on_put(NULL, "T", 1, 1, t); /* no counters: a no-op */
    rmq_broker_bstats_destroy(s);
    rmq_broker_bstats_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_names_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
