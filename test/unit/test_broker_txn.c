/* broker/txncheck.c pure parts: how far the op offset of CID_RMQ_SYS_TRANS may move (past the
 * contiguous run of consumed op messages only, RocketMQ's calculateOpOffset) and the immunity
 * time a CHECK_IMMUNITY_TIME_IN_SECONDS value gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/txncheck.h"

static void test_op_offset_contiguous(void **state) {
    (void)state;
    int64_t d1[] = {12, 10, 11, 14};
    assert_int_equal(rmq_broker_txn_next_op_offset(10, d1, 4), 13); /* 13 not consumed yet */
    int64_t d2[] = {11, 12};
    assert_int_equal(rmq_broker_txn_next_op_offset(10, d2, 2), 10); /* 10 still pending */
    int64_t d3[] = {9, 10, 10, 11};
    assert_int_equal(rmq_broker_txn_next_op_offset(10, d3, 4), 12); /* below and repeats */
    assert_int_equal(rmq_broker_txn_next_op_offset(7, NULL, 0), 7);
}

static void test_immunity(void **state) {
    (void)state;
    assert_int_equal(rmq_broker_txn_immunity_ms(NULL, 6000), 6000);
    assert_int_equal(rmq_broker_txn_immunity_ms("20", 6000), 20000);
    assert_int_equal(rmq_broker_txn_immunity_ms("-1", 6000), 6000);
    assert_int_equal(rmq_broker_txn_immunity_ms("abc", 6000), 6000);
    assert_int_equal(rmq_broker_txn_immunity_ms("0", 6000), 0);
    assert_int_equal(rmq_broker_txn_immunity_ms("99999999999999999999", 6000), 6000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_offset_contiguous),
        cmocka_unit_test(test_immunity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
