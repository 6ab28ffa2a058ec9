/* broker/schedule.c pure parts: messageDelayLevel parsing (units, malformed strings) and the
 * delayOffset.json layout (store.md 8.5) written and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/cfg.h"
#include "broker/schedule.h"

static void test_levels_default(void **state) {
    int64_t *ms = NULL;
    int n =
        rmq_broker_delay_parse("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", &ms);
    assert_int_equal(n, 18);
    assert_non_null(ms);
    assert_true(ms[0] == 1000);
    assert_true(ms[1] == 5000);
    assert_true(ms[3] == 30000);
    assert_true(ms[4] == 60000);
    assert_true(ms[15] == 1800000);
    assert_true(ms[16] == 3600000);
    assert_true(ms[17] == 7200000);
    free(ms);
    /* Same count as the send path's level counter. */
    assert_int_equal(rmq_broker_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m "
                                             "1h 2h"),
                     18);
}

static void test_levels_units(void **state) {
    int64_t *ms = NULL;
    assert_int_equal(rmq_broker_delay_parse("2d  3h 4m\t5s ", &ms), 4);
    assert_true(ms[0] == 2LL * 86400000);
    assert_true(ms[1] == 3LL * 3600000);
    assert_true(ms[2] == 240000);
    assert_true(ms[3] == 5000);
    free(ms);
    assert_int_equal(rmq_broker_delay_parse("1s", &ms), 1);
    assert_true(ms[0] == 1000);
    free(ms);
}

static void test_levels_bad(void **state) {
    static const char *const bad[] = {"",
                                      "   ",
                                      "1",
                                      "s",
                                      "1x",
                                      "1s 2",
                                      "1s,2s",
                                      "1S",
                                      "-1s",
                                      "0s",
                                      "1s 0m",
                                      "1ss",
                                      "99999999999999999999s",
                                      "9999999999999999d",
                                      "1.5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t *ms = (int64_t *)&ms; /* must be reset to NULL */
        if (rmq_broker_delay_parse(bad[i], &ms) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_null(ms);
    }
    int64_t *ms = NULL;
    assert_int_equal(rmq_broker_delay_parse(NULL, &ms), -1);
}

static void test_offsets_round_trip(void **state) {
    int64_t offs[18] = {0};
    offs[0] = 0;
    offs[1] = 5;
    offs[2] = 17;
    offs[17] = 1234567890123LL;
    char *text = rmq_broker_delay_offsets_encode(offs, 18, true);
    assert_non_null(text);
    /* fastjson's layout: bare integer keys, every level. */
    assert_non_null(strstr(text, "{\n\t\"offsetTable\":{1:0,2:5,3:17,4:0,"));
    assert_non_null(strstr(text, ",18:1234567890123\n\t}\n}"));
    int64_t back[18];
    for (int i = 0; i < 18; i++) back[i] = -7;
    assert_int_equal(rmq_broker_delay_offsets_decode(text, strlen(text), back, 18), RMQ_OK);
    assert_memory_equal(back, offs, sizeof offs);
    free(text);
    text = rmq_broker_delay_offsets_encode(offs, 3, false);
    assert_string_equal(text, "{\"offsetTable\":{1:0,2:5,3:17}}");
    free(text);
}

static void test_offsets_decode_variants(void **state) {
    int64_t o[3] = {9, 9, 9};
    /* Quoted keys, string values, a level beyond the table, unknown fields (5.x dataVersion),
     * a level absent (kept). */
    const char *t = "{\"dataVersion\":{\"counter\":3},\"offsetTable\":{\"1\":4,3:\"8\",7:100,x:1}}";
    assert_int_equal(rmq_broker_delay_offsets_decode(t, strlen(t), o, 3), RMQ_OK);
    assert_true(o[0] == 4 && o[1] == 9 && o[2] == 8);
    /* No table at all: nothing changes. */
    assert_int_equal(rmq_broker_delay_offsets_decode("{}", 2, o, 3), RMQ_OK);
    assert_true(o[0] == 4);
    assert_int_equal(rmq_broker_delay_offsets_decode("{\"offsetTable\":[1]}", 19, o, 3),
                     RMQ_ERR__CORRUPT);
    assert_int_equal(rmq_broker_delay_offsets_decode("{\"offsetTable\":{1:", 18, o, 3),
                     RMQ_ERR__CORRUPT);
    assert_int_equal(rmq_broker_delay_offsets_decode("[]", 2, o, 3), RMQ_ERR__CORRUPT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_default),
        cmocka_unit_test(test_levels_units),
        cmocka_unit_test(test_levels_bad),
        cmocka_unit_test(test_offsets_round_trip),
        cmocka_unit_test(test_offsets_decode_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
