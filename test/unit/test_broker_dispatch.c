/* The broker's request table (broker/dispatch.c): every route is sound, permissions follow
 * RocketMQ's ACL semantics, counters move per code, and the dispatcher owns the request. No
 * socket, no store: the handlers run here need neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/cfg.h"
#include "broker/ctx.h"
#include "broker/dispatch.h"
#include "remoting/cmd.h"

typedef struct {
    size_t n;
    int codes[128];
    uint64_t requests, errors, hist;
} seen_t;

static void collect(const rmq_broker_route_t *r, const rmq_broker_code_stats_t *st, void *arg) {
    seen_t *s = arg;
    assert_true(s->n < 128);
    s->codes[s->n++] = r->code;
    s->requests += st->requests;
    s->errors += st->errors;
    for (size_t i = 0; i < RMQ_BROKER_LAT_BUCKETS; i++) s->hist += st->lat_log2[i];
    assert_true(st->lat_max_us <= st->lat_total_us);
}

typedef struct {
    int code;
    const rmq_broker_code_stats_t *st;
} find_t;

static void find_code(const rmq_broker_route_t *r, const rmq_broker_code_stats_t *st, void *arg) {
    find_t *f = arg;
    if (r->code == f->code) f->st = st;
}

static const rmq_broker_code_stats_t *stats_of(rmq_broker_dispatch_t *d, int code) {
    find_t f = {code, NULL};
    rmq_broker_dispatch_each(d, find_code, &f);
    return f.st;
}

static void test_routes(void **state) {
    (void)state;
    rmq_broker_dispatch_t *d = rmq_broker_dispatch_new(NULL);
    assert_non_null(d);
    seen_t s = {0};
    rmq_broker_dispatch_each(d, collect, &s);
    assert_true(s.n >= 37);
    for (size_t i = 0; i < s.n; i++) {
        const rmq_broker_route_t *r = rmq_broker_route_find(s.codes[i]);
        assert_non_null(r);
        assert_non_null(r->fn);
        assert_non_null(r->name);
        for (size_t j = i + 1; j < s.n; j++) assert_int_not_equal(s.codes[i], s.codes[j]);
    }
    assert_null(rmq_broker_route_find(9999));
    assert_null(rmq_broker_route_find(RMQ_REQ_REGISTER_BROKER)); /* a NameServer code */
    rmq_broker_dispatch_destroy(d);
}

static void test_permissions(void **state) {
    (void)state;
    struct {
        int code;
        unsigned perm;
    } want[] = {
        {RMQ_REQ_SEND_MESSAGE, RMQ_BROKER_PERM_TOPIC_PUB},
        {RMQ_REQ_SEND_MESSAGE_V2, RMQ_BROKER_PERM_TOPIC_PUB},
        {RMQ_REQ_SEND_BATCH_MESSAGE, RMQ_BROKER_PERM_TOPIC_PUB},
        {RMQ_REQ_PULL_MESSAGE, RMQ_BROKER_PERM_TOPIC_SUB | RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_LITE_PULL_MESSAGE, RMQ_BROKER_PERM_TOPIC_SUB | RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_HEART_BEAT, RMQ_BROKER_PERM_TOPIC_SUB | RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_UPDATE_CONSUMER_OFFSET, RMQ_BROKER_PERM_TOPIC_SUB | RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_QUERY_CONSUMER_OFFSET, RMQ_BROKER_PERM_TOPIC_SUB | RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_CONSUMER_SEND_MSG_BACK, RMQ_BROKER_PERM_GROUP_SUB},
        {RMQ_REQ_UPDATE_AND_CREATE_TOPIC, RMQ_BROKER_PERM_ADMIN},
        {RMQ_REQ_DELETE_TOPIC_IN_BROKER, RMQ_BROKER_PERM_ADMIN},
        {RMQ_REQ_DELETE_SUBSCRIPTIONGROUP, RMQ_BROKER_PERM_ADMIN},
        {RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET, RMQ_BROKER_PERM_ADMIN},
        {RMQ_REQ_GET_BROKER_CONFIG, RMQ_BROKER_PERM_ADMIN},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const rmq_broker_route_t *r = rmq_broker_route_find(want[i].code);
        assert_non_null(r);
        assert_int_equal(r->perm, want[i].perm);
    }
}

/* broker.md 9.1: roles and brokerId, haListenPort = listenPort + 1. */
static void test_cfg_roles(void **state) {
    (void)state;
    char err[256];
    rmq_broker_cfg_t cfg;
    rmq_broker_cfg_init(&cfg);
    assert_int_equal(rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "brokerRole",
                                "SLAVE", err, sizeof err),
                     RMQ_OK);
    assert_int_equal(rmq_broker_cfg_finish(&cfg, err, sizeof err), RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "brokerId"));
    assert_non_null(strstr(err, "brokerRole=SLAVE"));
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);

    rmq_broker_cfg_init(&cfg);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "brokerRole", "SYNC_MASTER", err,
               sizeof err);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "brokerId", "3", err, sizeof err);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "listenPort", "20911", err,
               sizeof err);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "haListenPort", "30000", err,
               sizeof err);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "slaveTimeout", "1500", err,
               sizeof err);
    assert_int_equal(rmq_broker_cfg_finish(&cfg, err, sizeof err), RMQ_OK);
    assert_int_equal(cfg.broker_id, 0);
    assert_int_equal(cfg.ha.ha_listen_port, 20912);
    assert_int_equal(cfg.ha.slave_timeout, 1500);
    assert_false(cfg.slave_read_enable);
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);

    rmq_broker_cfg_init(&cfg);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "brokerRole", "SLAVE", err,
               sizeof err);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg, "brokerId", "2", err, sizeof err);
    assert_int_equal(rmq_broker_cfg_finish(&cfg, err, sizeof err), RMQ_OK);
    assert_int_equal(cfg.broker_id, 2);
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
}

static rmq_rem_cmd_t *run(rmq_broker_dispatch_t *d, int code) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    assert_non_null(req);
    return rmq_broker_dispatch_run(d, NULL, req); /* takes req */
}

static void test_counters(void **state) {
    (void)state;
    rmq_broker_cfg_t cfg;
    rmq_broker_cfg_init(&cfg);
    rmq_broker_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.env.cfg = &cfg;
    rmq_broker_dispatch_t *d = rmq_broker_dispatch_new(&ctx);
    assert_non_null(d);

    /* a success: the config as text */
    rmq_rem_cmd_t *resp = run(d, RMQ_REQ_GET_BROKER_CONFIG);
    assert_non_null(resp);
    assert_int_equal(resp->code, RMQ_OK);
    assert_true(resp->body_len > 0);
    rmq_rem_cmd_destroy(resp);
    const rmq_broker_code_stats_t *st = stats_of(d, RMQ_REQ_GET_BROKER_CONFIG);
    assert_non_null(st);
    assert_int_equal(st->requests, 1);
    assert_int_equal(st->errors, 0);

    /* errors: no delay service; pulls while shutting down */
    resp = run(d, RMQ_REQ_GET_ALL_DELAY_OFFSET);
    assert_non_null(resp);
    assert_int_equal(resp->code, RMQ_ERR_SYSTEM_ERROR);
    rmq_rem_cmd_destroy(resp);
    ctx.shutting_down = true;
    for (int i = 0; i < 3; i++) {
        resp = run(d, RMQ_REQ_PULL_MESSAGE);
        assert_non_null(resp);
        assert_int_equal(resp->code, RMQ_ERR_SERVICE_NOT_AVAILABLE);
        rmq_rem_cmd_destroy(resp);
    }
    st = stats_of(d, RMQ_REQ_PULL_MESSAGE);
    assert_int_equal(st->requests, 3);
    assert_int_equal(st->errors, 3);
    st = stats_of(d, RMQ_REQ_LITE_PULL_MESSAGE); /* same handler, its own counters */
    assert_int_equal(st->requests, 0);

    /* a code outside the table: answered as the server would, nothing counted */
    resp = run(d, 9999);
    assert_non_null(resp);
    assert_int_equal(resp->code, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED);
    rmq_rem_cmd_destroy(resp);

    seen_t s = {0};
    rmq_broker_dispatch_each(d, collect, &s);
    assert_int_equal(s.requests, 5);
    assert_int_equal(s.errors, 4);
    assert_int_equal(s.hist, 5);
    rmq_broker_dispatch_destroy(d);
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
}

/* A handler that keeps a request takes a reference; each destroy drops one. */
static void test_cmd_ref(void **state) {
    (void)state;
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_PULL_MESSAGE);
    assert_non_null(req);
    rmq_rem_cmd_set(req, "topic", "T");
    assert_ptr_equal(rmq_rem_cmd_ref(req), req);
    rmq_rem_cmd_destroy(req); /* the dispatcher's */
    assert_string_equal(rmq_rem_cmd_get(req, "topic"), "T");
    rmq_rem_cmd_destroy(req); /* the keeper's: freed (ASan would report a leak otherwise) */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),   cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_counters), cmocka_unit_test(test_cfg_roles),
        cmocka_unit_test(test_cmd_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
