/* The dispatcher's latency counters with one clock read per request (broker/dispatch.c):
 * requests of one connection in a loop turn chain from the previous one's end, and
 * rmq_broker_dispatch_turn or another connection restarts the chain, so time the loop spends
 * asleep is never counted. Bounds only (a 200 ms pause against a handler that takes
 * microseconds), no speed assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "broker/cfg.h"
#include "broker/ctx.h"
#include "broker/dispatch.h"
#include "remoting/cmd.h"

enum { PAUSE_US = 200000 };

typedef struct {
    int code;
    uint64_t total, n;
} lat_t;

static void find(const rmq_broker_route_t *r, const rmq_broker_code_stats_t *st, void *arg) {
    lat_t *l = arg;
    if (r->code == l->code) l->total = st->lat_total_us, l->n = st->requests;
}

static uint64_t lat_total(rmq_broker_dispatch_t *d) {
    lat_t l = {RMQ_REQ_GET_BROKER_CONFIG, 0, 0};
    rmq_broker_dispatch_each(d, find, &l);
    return l.total;
}

static void pause_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One GET_BROKER_CONFIG (its handler never touches the connection) on conn c; returns the
 * latency it was counted with. */
static uint64_t run_on(rmq_broker_dispatch_t *d, rmq_rem_conn_t *c) {
    uint64_t before = lat_total(d);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CONFIG);
    assert_non_null(req);
    rmq_rem_cmd_t *resp = rmq_broker_dispatch_run(d, c, req);
    assert_non_null(resp);
    assert_int_equal(resp->code, RMQ_OK);
    rmq_rem_cmd_destroy(resp);
    return lat_total(d) - before;
}

static void test_chain_and_turn(void **state) {
    (void)state;
    rmq_broker_cfg_t cfg;
    rmq_broker_cfg_init(&cfg);
    rmq_broker_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.env.cfg = &cfg;
    rmq_broker_dispatch_t *d = rmq_broker_dispatch_new(&ctx);
    assert_non_null(d);
    int xa, xb; /* stand-ins: the dispatcher only compares connection pointers */
    rmq_rem_conn_t *a = (rmq_rem_conn_t *)&xa, *b = (rmq_rem_conn_t *)&xb;

    run_on(d, a);
    pause_us(PAUSE_US);
    /* same connection, same turn: timed from the previous request's end, pause included */
    assert_true(run_on(d, a) >= PAUSE_US);

    pause_us(PAUSE_US);
    rmq_broker_dispatch_turn(d); /* the loop went to sleep in between */
    assert_true(run_on(d, a) < PAUSE_US);

    pause_us(PAUSE_US);
    assert_true(run_on(d, b) < PAUSE_US); /* another connection reads its own start */
    pause_us(PAUSE_US);
    assert_true(run_on(d, a) < PAUSE_US); /* and a after b does too */

    pause_us(PAUSE_US);
    assert_true(run_on(d, NULL) < PAUSE_US); /* no connection: never chained */
    pause_us(PAUSE_US);
    assert_true(run_on(d, NULL) < PAUSE_US);

    lat_t l = {RMQ_REQ_GET_BROKER_CONFIG, 0, 0};
    rmq_broker_dispatch_each(d, find, &l);
    assert_int_equal(l.n, 7);
    rmq_broker_dispatch_destroy(d);
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_and_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
