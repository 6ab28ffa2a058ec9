/* SQL92 property filters end to end with librmq against real mqnamesrv + mqbroker
 * (enablePropertyFilter=true): a push consumer with an SQL92 subscription receives exactly the
 * matching messages out of a mixed stream (half sent before it starts, half while its pulls are
 * held, so held pulls re-evaluate); a pull consumer's rmq_pull_sql gets the same set; a bad
 * expression fails the push consumer's start and the pull with SUBSCRIPTION_PARSE_FAILED; a
 * broker without enablePropertyFilter refuses both with a reason naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sdk_util.h"

#define TOPIC "SqlFilterT"
#define N 600
#define EXPR "(color = 'red' AND i >= 100) OR (TAGS = 'TagB' AND price IS NULL) OR i IN ('7')"

static int setup(void **st) {
    (void)st;
    return su_start("enablePropertyFilter=true\n");
}
static int teardown(void **st) {
    (void)st;
    su_stop();
    return 0;
}

static const char *const colors[] = {"red", "green", "blue"};

/* The same predicate in C: what the broker must select. */
static bool expected(int i) {
    bool red = i % 3 == 0;
    bool tag_b = i % 2 == 1;
    bool no_price = i % 5 == 0;
    return (red && i >= 100) || (tag_b && no_price) || i == 7;
}

static void send_range(rmq_producer_t *p, const char *topic, int from, int to) {
    for (int i = from; i < to; i++) {
        char body[32], num[16];
        snprintf(body, sizeof body, "id:%d", i);
        snprintf(num, sizeof num, "%d", i);
        rmq_msg_t *m =
            rmq_msg_new(topic, i % 2 ? "TagB" : "TagA", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        assert_int_equal(rmq_msg_set_property(m, "i", num), RMQ_OK);
        assert_int_equal(rmq_msg_set_property(m, "color", colors[i % 3]), RMQ_OK);
        if (i % 5) assert_int_equal(rmq_msg_set_property(m, "price", num), RMQ_OK);
        rmq_send_result_t r;
        assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
        rmq_msg_destroy(m);
    }
}

static int n_expected(void) {
    int n = 0;
    for (int i = 0; i < N; i++) n += expected(i);
    return n;
}

/* Log lines the SDK emits, kept for assertions on the broker's reasons. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static void capture_log(int lvl, const char *ln, void *op) {
    (void)op;
    (void)lvl;
    pthread_mutex_lock(&log_mu);
    size_t l = strlen(log_text);
    snprintf(log_text + l, sizeof log_text - l, "%s\n", ln);
    pthread_mutex_unlock(&log_mu);
}
static bool logged(const char *needle) {
    pthread_mutex_lock(&log_mu);
    bool r = strstr(log_text, needle) != NULL;
    pthread_mutex_unlock(&log_mu);
    return r;
}

static rmq_push_consumer_t *sql_consumer(const char *ns, const char *group, const char *topic,
                                         const char *expr, su_counter_t *cnt, rmq_err_t *start) {
    rmq_conf_t *c = su_conf(group);
    su_set(c, "namesrvAddr", ns);
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    rmq_conf_set_log_cb(c, capture_log, NULL);
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe_sql(pc, topic, expr), RMQ_OK);
    assert_int_equal(rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, su_listener, cnt),
                     RMQ_OK);
    *start = rmq_push_consumer_start(pc);
    return pc;
}

static void test_push_exact_set(void **st) {
    (void)st;
    rmq_producer_t *p = su_producer("pg_sql");
    assert_non_null(p);
    send_range(p, TOPIC, 0, N / 2);
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_err_t e;
    rmq_push_consumer_t *pc = sql_consumer(su_ns.addr, "cg_sql", TOPIC, EXPR, &cnt, &e);
    assert_int_equal(e, RMQ_OK);
    rmq_sleep_ms(3000); /* caught up: its pulls are now held on the broker */
    send_range(p, TOPIC, N / 2, N);
    int want = n_expected();
    uint64_t end = rmq_mono_ms() + 60000;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&cnt.mu);
        int t = cnt.total;
        pthread_mutex_unlock(&cnt.mu);
        if (t >= want) break;
        rmq_sleep_ms(100);
    }
    rmq_sleep_ms(2000); /* anything extra would show up now */
    pthread_mutex_lock(&cnt.mu);
    int wrong = 0, missing = 0;
    for (int i = 0; i < N; i++) {
        if (expected(i) && cnt.count[i] != 1) missing++;
        if (!expected(i) && cnt.count[i] != 0) wrong++;
    }
    int total = cnt.total;
    pthread_mutex_unlock(&cnt.mu);
    fprintf(stderr, "push: %d of %d delivered (%d expected), %d missing, %d not matching\n", total,
            N, want, missing, wrong);
    assert_int_equal(missing, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(total, want);
    assert_true(want > 50 && want < N - 50); /* a real mix */
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
}

static void test_pull_exact_set(void **st) {
    (void)st;
    char err[256];
    rmq_pull_consumer_t *c = rmq_pull_consumer_new(su_conf("cg_sql_pull"), err, sizeof err);
    assert_non_null(c);
    rmq_mq_t *mqs = NULL;
    size_t nq = 0;
    assert_int_equal(rmq_fetch_queues(c, TOPIC, &mqs, &nq), RMQ_OK);
    assert_true(nq > 0);
    static int seen[N];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (size_t q = 0; q < nq; q++) {
        int64_t off = 0;
        for (int guard = 0; guard < 1000; guard++) {
            rmq_pull_result_t *r = NULL;
            assert_int_equal(rmq_pull_sql(c, &mqs[q], EXPR, off, 32, 0, &r), RMQ_OK);
            for (size_t k = 0; k < r->n; k++) {
                int id = su_body_id(r->msgs[k]);
                assert_true(id >= 0 && id < N);
                seen[id]++;
                total++;
            }
            bool more = r->status == RMQ_PULL_FOUND || r->status == RMQ_PULL_NO_MATCHED_MSG;
            off = r->next_offset;
            rmq_pull_result_destroy(r);
            if (!more) break;
        }
    }
    int bad = 0;
    for (int i = 0; i < N; i++) bad += seen[i] != (expected(i) ? 1 : 0);
    assert_int_equal(bad, 0);
    assert_int_equal(total, n_expected());

    /* a bad expression: the broker's parse error */
    rmq_pull_result_t *r = NULL;
    assert_int_equal(rmq_pull_sql(c, &mqs[0], "i = 5 AND", 0, 32, 0, &r),
                     RMQ_ERR_SUBSCRIPTION_PARSE_FAILED);
    free(mqs);
    rmq_pull_consumer_destroy(c);
}

static void test_push_bad_expression(void **st) {
    (void)st;
    log_text[0] = 0;
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_err_t e;
    rmq_push_consumer_t *pc =
        sql_consumer(su_ns.addr, "cg_sql_bad", TOPIC, "color = 'red' AND i >", &cnt, &e);
    assert_int_equal(e, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED);
    assert_true(logged("position 22"));
    rmq_push_consumer_destroy(pc);
}

static void test_filter_disabled(void **st) {
    (void)st;
    rmq_proc_t ns, br;
    memset(&ns, 0, sizeof ns);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    rmq_conf_t *pcf = su_conf("pg_sql_off");
    su_set(pcf, "namesrvAddr", ns.addr);
    char err[256];
    rmq_producer_t *p = rmq_producer_new(pcf, err, sizeof err);
    assert_non_null(p);
    send_range(p, "SqlOffT", 0, 4);
    log_text[0] = 0;
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_err_t e;
    rmq_push_consumer_t *pc = sql_consumer(ns.addr, "cg_sql_off", "SqlOffT", "i > 1", &cnt, &e);
    assert_int_equal(e, RMQ_ERR_SYSTEM_ERROR);
    assert_true(logged("enablePropertyFilter"));
    rmq_push_consumer_destroy(pc);

    rmq_conf_t *cf = su_conf("cg_sql_off_pull");
    su_set(cf, "namesrvAddr", ns.addr);
    rmq_pull_consumer_t *c = rmq_pull_consumer_new(cf, err, sizeof err);
    assert_non_null(c);
    rmq_mq_t *mqs = NULL;
    size_t nq = 0;
    assert_int_equal(rmq_fetch_queues(c, "SqlOffT", &mqs, &nq), RMQ_OK);
    rmq_pull_result_t *r = NULL;
    assert_int_equal(rmq_pull_sql(c, &mqs[0], "i > 1", 0, 32, 0, &r), RMQ_ERR_SYSTEM_ERROR);
    /* tags still work there */
    assert_int_equal(rmq_pull(c, &mqs[0], "*", 0, 32, 0, &r), RMQ_OK);
    rmq_pull_result_destroy(r);
    free(mqs);
    rmq_pull_consumer_destroy(c);
    rmq_producer_destroy(p);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

static void test_no_broker_errors(void **st) {
    (void)st;
    assert_int_equal(rmq_proc_log_errors(&su_broker), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_exact_set),      cmocka_unit_test(test_pull_exact_set),
        cmocka_unit_test(test_push_bad_expression), cmocka_unit_test(test_filter_disabled),
        cmocka_unit_test(test_no_broker_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
