/* common/prom.c: escaping, label sets, histograms, metricsLabel parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "common/prom.h"

static const char *text(rmq_buf_t *b) {
    rmq_buf_append_u8(b, 0);
    b->len--;
    return (const char *)b->data;
}

static void test_val_escaping(void **state) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_prom_label_t l[] = {{"topic", "a\"b\\c\nd"}};
    rmq_prom_val(&b, "m", "", l, 1, 3);
    assert_string_equal(text(&b), "m{topic=\"a\\\"b\\\\c\\nd\"} 3\n");
    b.len = 0;
    rmq_prom_val(&b, "m", "", NULL, 0, 0.5);
    assert_string_equal(text(&b), "m 0.5\n");
    b.len = 0;
    rmq_prom_val(&b, "m", "x=\"1\"", l, 0, 12345678901234.0);
    assert_string_equal(text(&b), "m{x=\"1\"} 12345678901234\n");
    rmq_buf_fini(&b);
}

static void test_hist(void **state) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    double le[] = {1, 10};
    uint64_t counts[] = {2, 3, 5}; /* <=1, <=10, rest */
    rmq_prom_hist(&b, "h", "", NULL, 0, le, counts, 2, 99);
    assert_string_equal(text(&b), "h_bucket{le=\"1\"} 2\nh_bucket{le=\"10\"} 5\n"
                                  "h_bucket{le=\"+Inf\"} 10\nh_sum 99\nh_count 10\n");
    rmq_buf_fini(&b);
}

static void test_base_parse(void **state) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_prom_base_parse(&b, "env:prod,zone:a-1"), 0);
    assert_string_equal(text(&b), "env=\"prod\",zone=\"a-1\"");
    b.len = 0;
    assert_int_equal(rmq_prom_base_parse(&b, ""), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(rmq_prom_base_parse(&b, "novalue"), -1);
    assert_int_equal(rmq_prom_base_parse(&b, "1bad:x"), -1);
    assert_int_equal(rmq_prom_base_parse(&b, "__reserved:x"), -1);
    assert_int_equal(rmq_prom_base_parse(&b, "a:b:c"), -1);
    rmq_buf_fini(&b);
}

static void test_process(void **state) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_prom_process(&b);
    const char *t = text(&b);
    assert_non_null(strstr(t, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(t, "\nprocess_open_fds "));
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    rmq_buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_val_escaping),
        cmocka_unit_test(test_hist),
        cmocka_unit_test(test_base_parse),
        cmocka_unit_test(test_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
