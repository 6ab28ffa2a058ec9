/* common/wake.h: rmq_wake_wait_ms (the consume pool's watcher waits with it): a timeout returns
 * false without eating a later signal; a signal before or during the wait returns true. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/util.h"
#include "common/wake.h"

static void test_timeout_then_signal(void **st) {
    rmq_wake_t w;
    rmq_wake_init(&w);
    uint64_t t0 = rmq_mono_ms();
    assert_false(rmq_wake_wait_ms(&w, 30));
    assert_true(rmq_mono_ms() - t0 >= 29); /* it did wait (a lower bound, not a speed) */
    rmq_wake_signal(&w);                   /* after a timeout: counts for the next wait */
    assert_true(rmq_wake_wait_ms(&w, 10000));
    assert_false(rmq_wake_wait_ms(&w, 0)); /* consumed */
    rmq_wake_signal(&w);
    rmq_wake_wait(&w); /* the untimed wait sees it too */
    rmq_wake_fini(&w);
}

static void *late_signal(void *arg) {
    usleep(50000);
    rmq_wake_signal(arg);
    return NULL;
}

static void test_signal_while_waiting(void **st) {
    rmq_wake_t w;
    rmq_wake_init(&w);
    for (int i = 0; i < 5; i++) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, late_signal, &w), 0);
        assert_true(rmq_wake_wait_ms(&w, 60000));
        pthread_join(th, NULL);
    }
    rmq_wake_fini(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_then_signal),
        cmocka_unit_test(test_signal_while_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
