/* librmq against real mqnamesrv + mqbroker: sync / async / oneway sends consumed by a push
 * consumer exactly once per group and in order per queue; two consumers of a group split the
 * queues and one takes over when the other stops; broadcasting delivers to both; the pull
 * consumer fetches queues, pulls with a tag filter and commits offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "sdk_util.h"

static int setup(void **st) {
    return su_start(NULL);
}
static int teardown(void **st) {
    su_stop();
    return 0;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
} acb_t;

static void on_sent(rmq_producer_t *p, rmq_err_t e, const rmq_send_result_t *r, void *op) {
    acb_t *a = op;
    pthread_mutex_lock(&a->mu);
    a->done++;
    if (e == RMQ_OK)
        a->ok++;
    else
        fprintf(stderr, "async send: %s\n", rmq_strerror(e));
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void test_send_modes_consumed_once(void **st) {
    const int N = 300;
    rmq_producer_t *p = su_producer("pg_basic");
    assert_non_null(p);
    acb_t a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int async_n = 0;
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "id:%d", i);
        rmq_msg_t *m = rmq_msg_new("SdkBasic", i % 2 ? "odd" : "even", NULL, body, strlen(body),
                                   RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        switch (i % 3) {
        case 0: assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK); break;
        case 1:
            assert_int_equal(rmq_send_async(p, m, on_sent, &a), RMQ_OK);
            async_n++;
            break;
        default: assert_int_equal(rmq_send_oneway(p, m), RMQ_OK); break;
        }
        rmq_msg_destroy(m);
    }
    pthread_mutex_lock(&a.mu);
    while (a.done < async_n) pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.ok, async_n);

    static su_counter_t cnt;
    su_counter_init(&cnt);
    cnt.check_order = true;
    const char *kv[] = {"consumeThreadMin", "1", NULL};
    rmq_push_consumer_t *c =
        su_consumer("cg_basic", "SdkBasic", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, kv);
    assert_non_null(c);
    assert_true(su_wait_all(&cnt, N, 1, 30000));
    rmq_sleep_ms(1500); /* nothing more may arrive */
    pthread_mutex_lock(&cnt.mu);
    for (int i = 0; i < N; i++) assert_int_equal(cnt.count[i], 1);
    assert_int_equal(cnt.total, N);
    assert_int_equal(cnt.order_errors, 0);
    pthread_mutex_unlock(&cnt.mu);

    /* a second group with a tag filter sees only its tag, once */
    static su_counter_t odd;
    su_counter_init(&odd);
    rmq_push_consumer_t *c2 =
        su_consumer("cg_basic_odd", "SdkBasic", "odd || none", RMQ_LISTEN_CONCURRENTLY, &odd, NULL);
    assert_non_null(c2);
    uint64_t end = rmq_mono_ms() + 20000;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&odd.mu);
        int t = odd.total;
        pthread_mutex_unlock(&odd.mu);
        if (t >= N / 2) break;
        rmq_sleep_ms(100);
    }
    rmq_sleep_ms(1000);
    pthread_mutex_lock(&odd.mu);
    for (int i = 0; i < N; i++) assert_int_equal(odd.count[i], i % 2);
    pthread_mutex_unlock(&odd.mu);
    rmq_push_consumer_destroy(c2);
    rmq_push_consumer_destroy(c);

    /* the committed offsets survive: a restarted consumer of the group gets nothing old */
    for (int i = N; i < N + 10; i++) assert_int_equal(su_send_id(p, "SdkBasic", i, "even"), RMQ_OK);
    static su_counter_t again;
    su_counter_init(&again);
    c = su_consumer("cg_basic", "SdkBasic", "*", RMQ_LISTEN_CONCURRENTLY, &again, NULL);
    assert_non_null(c);
    assert_true(su_wait_all(&again, N + 10, 0, 1)); /* trivially */
    end = rmq_mono_ms() + 20000;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&again.mu);
        int t = again.total;
        pthread_mutex_unlock(&again.mu);
        if (t >= 10) break;
        rmq_sleep_ms(100);
    }
    rmq_sleep_ms(1000);
    pthread_mutex_lock(&again.mu);
    for (int i = 0; i < N; i++) assert_int_equal(again.count[i], 0);
    for (int i = N; i < N + 10; i++) assert_int_equal(again.count[i], 1);
    pthread_mutex_unlock(&again.mu);
    rmq_push_consumer_destroy(c);
    rmq_producer_destroy(p);
}

static bool wait_assigned(rmq_push_consumer_t *c, size_t want, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    while (rmq_mono_ms() < end) {
        if (su_assigned(c) == want) return true;
        rmq_sleep_ms(100);
    }
    fprintf(stderr, "assigned %zu, want %zu\n", su_assigned(c), want);
    return false;
}

static void test_split_and_takeover(void **st) {
    /* this one speaks the binary ROCKETMQ header for sends and pulls */
    rmq_conf_t *pcf = su_conf("pg_split");
    su_set(pcf, "serializeType", "ROCKETMQ");
    char perr[256];
    rmq_producer_t *p = rmq_producer_new(pcf, perr, sizeof perr);
    assert_non_null(p);
    const char *bin[] = {"serializeType", "ROCKETMQ", NULL};
    assert_int_equal(su_send_id(p, "SdkSplit", 0, NULL), RMQ_OK); /* creates the topic */
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_push_consumer_t *c1 =
        su_consumer("cg_split", "SdkSplit", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, bin);
    rmq_push_consumer_t *c2 =
        su_consumer("cg_split", "SdkSplit", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, bin);
    assert_non_null(c1);
    assert_non_null(c2);
    /* 4 queues (defaultTopicQueueNums): 2 + 2, disjoint */
    assert_true(wait_assigned(c1, 2, 20000));
    assert_true(wait_assigned(c2, 2, 20000));
    rmq_mq_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(rmq_push_consumer_assigned(c1, &a, &na), RMQ_OK);
    assert_int_equal(rmq_push_consumer_assigned(c2, &b, &nb), RMQ_OK);
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++)
            assert_false(!strcmp(a[i].topic, b[k].topic) && !strcmp(a[i].broker, b[k].broker) &&
                         a[i].queue_id == b[k].queue_id);
    free(a);
    free(b);
    for (int i = 1; i < 100; i++) assert_int_equal(su_send_id(p, "SdkSplit", i, NULL), RMQ_OK);
    assert_true(su_wait_all(&cnt, 100, 1, 30000));
    /* c1 stops: c2 takes over all four and gets what is sent next, nothing lost */
    rmq_push_consumer_destroy(c1);
    assert_true(wait_assigned(c2, 4, 30000));
    for (int i = 100; i < 200; i++) assert_int_equal(su_send_id(p, "SdkSplit", i, NULL), RMQ_OK);
    assert_true(su_wait_all(&cnt, 200, 1, 30000));
    pthread_mutex_lock(&cnt.mu);
    for (int i = 100; i < 200; i++) assert_int_equal(cnt.count[i], 1);
    pthread_mutex_unlock(&cnt.mu);
    rmq_push_consumer_destroy(c2);
    rmq_producer_destroy(p);
}

static void test_broadcast(void **st) {
    char dir[256];
    assert_int_equal(rmq_mkdtemp("rmq-bcast", dir, sizeof dir), 0);
    rmq_producer_t *p = su_producer("pg_bcast");
    assert_non_null(p);
    assert_int_equal(su_send_id(p, "SdkBcast", 0, NULL), RMQ_OK);
    static su_counter_t c1n, c2n;
    su_counter_init(&c1n);
    su_counter_init(&c2n);
    const char *kv[] = {"messageModel", "BROADCASTING", "offsetStoreDir", dir, NULL};
    rmq_push_consumer_t *c1 =
        su_consumer("cg_bcast", "SdkBcast", "*", RMQ_LISTEN_CONCURRENTLY, &c1n, kv);
    rmq_push_consumer_t *c2 =
        su_consumer("cg_bcast", "SdkBcast", "*", RMQ_LISTEN_CONCURRENTLY, &c2n, kv);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_true(wait_assigned(c1, 4, 20000));
    assert_true(wait_assigned(c2, 4, 20000));
    for (int i = 1; i < 50; i++) assert_int_equal(su_send_id(p, "SdkBcast", i, NULL), RMQ_OK);
    assert_true(su_wait_all(&c1n, 50, 1, 30000));
    assert_true(su_wait_all(&c2n, 50, 1, 30000));
    rmq_push_consumer_destroy(c1);
    rmq_push_consumer_destroy(c2);
    /* each consumer kept its offsets locally: <dir>/<client id>/cg_bcast/offsets.json, and
     * its SdkBcast queues sum to the 50 messages consumed */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*/cg_bcast/offsets.json", dir);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char path[512];
    int files = 0;
    while (fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = 0;
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        assert_non_null(root);
        const char *k;
        json_t *v;
        int64_t sum = 0;
        json_object_foreach(json_object_get(root, "offsetTable"), k,
                            v) if (!strncmp(k, "SdkBcast|", 9)) sum += json_integer_value(v);
        assert_int_equal(sum, 50);
        json_decref(root);
        files++;
    }
    pclose(ls);
    assert_int_equal(files, 2);
    rmq_producer_destroy(p);
    rmq_rm_rf(dir);
}

/* CONSUME_FROM_TIMESTAMP: a new group starts at the first message stored after the time */
static void test_consume_from_timestamp(void **st) {
    rmq_producer_t *p = su_producer("pg_ts");
    assert_non_null(p);
    for (int i = 0; i < 10; i++) assert_int_equal(su_send_id(p, "SdkTs", i, NULL), RMQ_OK);
    rmq_sleep_ms(1500);
    int64_t mark = rmq_now_ms();
    rmq_sleep_ms(200);
    for (int i = 10; i < 20; i++) assert_int_equal(su_send_id(p, "SdkTs", i, NULL), RMQ_OK);
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)mark);
    static su_counter_t cnt;
    su_counter_init(&cnt);
    const char *kv[] = {"consumeFromWhere", "CONSUME_FROM_TIMESTAMP", "consumeTimestamp", ts, NULL};
    rmq_push_consumer_t *c = su_consumer("cg_ts", "SdkTs", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, kv);
    assert_non_null(c);
    bool ok = true;
    for (int i = 10; i < 20 && ok; i++) {
        uint64_t end = rmq_mono_ms() + 20000;
        while (rmq_mono_ms() < end) {
            pthread_mutex_lock(&cnt.mu);
            bool got = cnt.count[i] > 0;
            pthread_mutex_unlock(&cnt.mu);
            if (got) break;
            rmq_sleep_ms(50);
        }
    }
    rmq_sleep_ms(500);
    rmq_push_consumer_destroy(c);
    pthread_mutex_lock(&cnt.mu);
    for (int i = 0; i < 10; i++) assert_int_equal(cnt.count[i], 0);
    for (int i = 10; i < 20; i++) assert_int_equal(cnt.count[i], 1);
    pthread_mutex_unlock(&cnt.mu);
    rmq_producer_destroy(p);
}

static void test_pull_consumer(void **st) {
    rmq_producer_t *p = su_producer("pg_pull");
    assert_non_null(p);
    rmq_msg_t *m = rmq_msg_new("SdkPull", "a", NULL, "id:0", 4, 0);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_sync(p, m, &r), RMQ_OK);
    rmq_msg_destroy(m);
    rmq_mq_t target = r.mq;
    /* ten more into the same queue, alternating tags */
    for (int i = 1; i <= 10; i++) {
        char body[16];
        snprintf(body, sizeof body, "id:%d", i);
        m = rmq_msg_new("SdkPull", i % 2 ? "b" : "a", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        assert_int_equal(rmq_send_to_queue(p, m, &target, &r), RMQ_OK);
        assert_int_equal(r.mq.queue_id, target.queue_id);
        rmq_msg_destroy(m);
    }
    char err[256];
    /* NameServer fail-over: the first listed NameServer is dead */
    rmq_conf_t *pcf = su_conf("cg_pull");
    char nsl[128];
    snprintf(nsl, sizeof nsl, "127.0.0.1:%d;%s", rmq_free_port(), su_ns.addr);
    su_set(pcf, "namesrvAddr", nsl);
    rmq_pull_consumer_t *pc = rmq_pull_consumer_new(pcf, err, sizeof err);
    assert_non_null(pc);
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    assert_int_equal(rmq_fetch_queues(pc, "SdkPull", &mqs, &n), RMQ_OK);
    assert_int_equal(n, 4);
    free(mqs);
    rmq_pull_result_t *res = NULL;
    /* SEND_OK means appended; the ConsumeQueue entry that a pull reads is written by the
     * dispatcher just after (as RocketMQ's reput), so on a loaded host the last sends may not
     * be pullable yet: retry for up to 10 s until all 11 are */
    for (int tries = 0;; tries++) {
        assert_int_equal(rmq_pull(pc, &target, "*", 0, 32, 0, &res), RMQ_OK);
        if ((res->status == RMQ_PULL_FOUND && res->n == 11) || tries == 200) break;
        rmq_pull_result_destroy(res);
        res = NULL;
        usleep(50 * 1000);
    }
    assert_int_equal(res->status, RMQ_PULL_FOUND);
    assert_int_equal(res->n, 11);
    assert_int_equal(res->next_offset, 11);
    for (size_t i = 0; i < res->n; i++) assert_int_equal(su_body_id(res->msgs[i]), (int)i);
    rmq_pull_result_destroy(res);
    assert_int_equal(rmq_pull(pc, &target, "b", 0, 32, 0, &res), RMQ_OK);
    assert_int_equal(res->n, 5);
    for (size_t i = 0; i < res->n; i++) assert_string_equal(rmq_msg_tags(res->msgs[i]), "b");
    rmq_pull_result_destroy(res);
    assert_int_equal(rmq_pull(pc, &target, "*", 11, 32, 0, &res), RMQ_OK);
    assert_int_equal(res->status, RMQ_PULL_NO_NEW_MSG);
    rmq_pull_result_destroy(res);
    /* long poll: a message sent meanwhile wakes the pull */
    int64_t t0 = (int64_t)rmq_mono_ms();
    m = rmq_msg_new("SdkPull", "a", NULL, "id:11", 5, 0);
    assert_int_equal(rmq_send_to_queue(p, m, &target, &r), RMQ_OK);
    rmq_msg_destroy(m);
    assert_int_equal(rmq_pull(pc, &target, "*", 11, 32, 5000, &res), RMQ_OK);
    assert_int_equal(res->status, RMQ_PULL_FOUND);
    assert_int_equal(res->n, 1);
    rmq_pull_result_destroy(res);
    (void)t0;
    int64_t off = -1;
    assert_int_equal(rmq_commit_offset(pc, &target, 7), RMQ_OK);
    assert_int_equal(rmq_fetch_offset(pc, &target, &off), RMQ_OK);
    assert_int_equal(off, 7);
    rmq_pull_consumer_destroy(pc);
    rmq_producer_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_modes_consumed_once),
        cmocka_unit_test(test_split_and_takeover),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_consume_from_timestamp),
        cmocka_unit_test(test_pull_consumer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
