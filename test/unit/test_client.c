/* librmq unit tests: the pure parts of the SDK (no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/admin_internal.h"
#include "client/internal.h"
#include "common/msg.h"
#include "common/util.h"

/* ---- queue selection ------------------------------------------------------------------ */

static void mk_mq(rmq_mq_t *m, const char *topic, const char *broker, int q) {
    memset(m, 0, sizeof(*m));
    rmq_strlcpy(m->topic, topic, sizeof m->topic);
    rmq_strlcpy(m->broker, broker, sizeof m->broker);
    m->queue_id = q;
}

static void test_select_round_robin(void **st) {
    rmq_mq_t mqs[6];
    for (int i = 0; i < 3; i++) mk_mq(&mqs[i], "T", "broker-a", i);
    for (int i = 0; i < 3; i++) mk_mq(&mqs[3 + i], "T", "broker-b", i);
    _Atomic uint32_t rr = 0;
    /* plain round robin visits every queue once per cycle */
    int seen[6] = {0};
    for (int i = 0; i < 6; i++) seen[rmq_select_queue(mqs, 6, &rr, NULL, NULL, 0)]++;
    for (int i = 0; i < 6; i++) assert_int_equal(seen[i], 1);
    /* a retry never picks the broker that just failed while another exists */
    for (int i = 0; i < 20; i++) {
        int k = rmq_select_queue(mqs, 6, &rr, "broker-a", NULL, 0);
        assert_string_equal(mqs[k].broker, "broker-b");
    }
    /* only the failed broker left: still returns a queue */
    assert_true(rmq_select_queue(mqs, 3, &rr, "broker-a", NULL, 0) >= 0);
    assert_int_equal(rmq_select_queue(mqs, 0, &rr, NULL, NULL, 0), -1);
}

static void test_latency_fault(void **st) {
    rmq_fault_t f;
    rmq_fault_init(&f);
    rmq_mq_t mqs[4];
    mk_mq(&mqs[0], "T", "a", 0);
    mk_mq(&mqs[1], "T", "a", 1);
    mk_mq(&mqs[2], "T", "b", 0);
    mk_mq(&mqs[3], "T", "b", 1);
    int64_t now = 1000000;
    /* fast sends leave no mark */
    rmq_fault_update(&f, "a", 10, false, now);
    assert_true(rmq_fault_ok(&f, "a", now));
    /* a failure isolates the broker for 600 s (30000 ms latency class) */
    rmq_fault_update(&f, "a", 5, true, now);
    assert_false(rmq_fault_ok(&f, "a", now + 1));
    assert_false(rmq_fault_ok(&f, "a", now + 599999));
    assert_true(rmq_fault_ok(&f, "a", now + 600000));
    _Atomic uint32_t rr = 0;
    for (int i = 0; i < 10; i++)
        assert_string_equal(mqs[rmq_select_queue(mqs, 4, &rr, NULL, &f, now + 10)].broker, "b");
    /* after the window "a" is chosen again */
    int a = 0;
    for (int i = 0; i < 8; i++)
        a += strcmp(mqs[rmq_select_queue(mqs, 4, &rr, NULL, &f, now + 700000)].broker, "a") == 0;
    assert_int_equal(a, 4);
    /* slow but successful: 600 ms -> 30 s, 1.2 s -> 60 s */
    rmq_fault_update(&f, "b", 600, false, now);
    assert_false(rmq_fault_ok(&f, "b", now + 29999));
    assert_true(rmq_fault_ok(&f, "b", now + 30000));
    rmq_fault_update(&f, "b", 1200, false, now);
    assert_false(rmq_fault_ok(&f, "b", now + 59999));
    /* both excluded: the plain pick is used rather than failing */
    rmq_fault_update(&f, "a", 1, true, now);
    assert_true(rmq_select_queue(mqs, 4, &rr, NULL, &f, now + 1) >= 0);
    pthread_mutex_destroy(&f.mu);
}

/* Both brokers isolated: the least bad one (available first, then the lower latency) takes
 * the sends, on each of its queues in turn, rather than a plain round robin over both. */
static void test_fault_pick_least(void **st) {
    rmq_fault_t f;
    rmq_fault_init(&f);
    rmq_mq_t mqs[5];
    mk_mq(&mqs[0], "T", "a", 0);
    mk_mq(&mqs[1], "T", "a", 1);
    mk_mq(&mqs[2], "T", "b", 0);
    mk_mq(&mqs[3], "T", "b", 1);
    mk_mq(&mqs[4], "T", "b", 2);
    int64_t now = 1000000;
    assert_int_equal(rmq_fault_pick_least(&f, mqs, 5, now), -1); /* nothing remembered */
    rmq_fault_update(&f, "a", 40, true, now);                    /* failed: 30000 ms class, 600 s */
    rmq_fault_update(&f, "b", 2500, false, now);                 /* slow: 120 s */
    rmq_fault_update(&f, "gone", 1, true, now); /* no queue in the list: never picked */
    assert_string_equal(mqs[rmq_fault_pick_least(&f, mqs, 5, now + 1)].broker, "b");
    _Atomic uint32_t rr = 0;
    int seen[5] = {0};
    for (int i = 0; i < 30; i++) seen[rmq_select_queue(mqs, 5, &rr, NULL, &f, now + 1)]++;
    assert_int_equal(seen[0] + seen[1], 0);
    assert_int_equal(seen[2], 10);
    assert_int_equal(seen[3], 10);
    assert_int_equal(seen[4], 10);
    /* the least bad broker just failed: another one is tried instead */
    for (int i = 0; i < 10; i++)
        assert_string_equal(mqs[rmq_select_queue(mqs, 5, &rr, "b", &f, now + 1)].broker, "a");
    /* b's window ends first: available again, picked by the first pass */
    for (int i = 0; i < 10; i++)
        assert_string_equal(mqs[rmq_select_queue(mqs, 5, &rr, NULL, &f, now + 120000)].broker, "b");
    pthread_mutex_destroy(&f.mu);
}

/* A broker set whose master is gone (issue 9, broker.md 9.5): its queues leave the publish set
 * but stay readable, and reads find its slave. */
static const char *ROUTE_MASTER_GONE =
    "{\"brokerDatas\":[{\"brokerAddrs\":{\"1\":\"10.0.0.2:10911\"},\"brokerName\":\"broker-a\","
    "\"cluster\":\"C\"},{\"brokerAddrs\":{\"0\":\"10.0.0.3:10911\",\"1\":\"10.0.0.4:10911\","
    "\"3\":\"10.0.0.5:10911\"},\"brokerName\":\"broker-b\",\"cluster\":\"C\"}],"
    "\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,"
    "\"writeQueueNums\":4},{\"brokerName\":\"broker-b\",\"perm\":6,\"readQueueNums\":4,"
    "\"writeQueueNums\":4}]}";

static void test_route_master_gone(void **st) {
    rmq_route_t *r = NULL;
    assert_int_equal(rmq_route_parse(ROUTE_MASTER_GONE, strlen(ROUTE_MASTER_GONE), &r), RMQ_OK);
    rmq_mq_t *pub = NULL, *sub = NULL;
    int npub = 0, nsub = 0;
    assert_int_equal(rmq_route_pub_queues(r, "T", 0, &pub, &npub), RMQ_OK);
    assert_int_equal(npub, 4);
    for (int i = 0; i < npub; i++) assert_string_equal(pub[i].broker, "broker-b");
    assert_int_equal(rmq_route_sub_queues(r, "T", &sub, &nsub), RMQ_OK);
    assert_int_equal(nsub, 8);
    /* sends, retries and fault picks only ever see broker-b */
    _Atomic uint32_t rr = 0;
    rmq_fault_t f;
    rmq_fault_init(&f);
    rmq_fault_update(&f, "broker-b", 1, true, 0);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(pub[rmq_select_queue(pub, npub, &rr, NULL, NULL, 0)].broker,
                            "broker-b");
        assert_string_equal(pub[rmq_select_queue(pub, npub, &rr, "broker-b", &f, 1)].broker,
                            "broker-b");
    }
    pthread_mutex_destroy(&f.mu);
    /* addresses: master only (sends, locks) vs any of the set (pulls, offsets) */
    assert_null(rmq_route_master(r, "broker-a"));
    assert_string_equal(rmq_route_any_addr(r, "broker-a"), "10.0.0.2:10911");
    assert_string_equal(rmq_route_any_addr(r, "broker-b"), "10.0.0.3:10911");
    const rmq_bdata_t *a = rmq_bdata_find(r, "broker-a"), *b = rmq_bdata_find(r, "broker-b");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(rmq_bdata_find(r, "broker-x"));
    assert_null(rmq_bdata_addr(NULL, 0, false, NULL));
    int64_t got = -1;
    assert_null(rmq_bdata_addr(a, 0, true, &got));
    assert_int_equal(got, -1);
    assert_string_equal(rmq_bdata_addr(a, 0, false, &got), "10.0.0.2:10911"); /* the slave */
    assert_int_equal(got, 1);
    assert_string_equal(rmq_bdata_addr(a, 1, true, &got), "10.0.0.2:10911");
    /* a suggested slave id: itself, else id + 1, else the master */
    assert_string_equal(rmq_bdata_addr(b, 1, true, &got), "10.0.0.4:10911");
    assert_int_equal(got, 1);
    assert_string_equal(rmq_bdata_addr(b, 2, true, &got), "10.0.0.5:10911");
    assert_int_equal(got, 3);
    assert_null(rmq_bdata_addr(b, 5, true, NULL));
    assert_string_equal(rmq_bdata_addr(b, 5, false, &got), "10.0.0.3:10911");
    assert_int_equal(got, 0);
    free(pub);
    free(sub);
    rmq_route_free(r);
}

/* pullFromWhichNodeTable: per queue, the last suggestion wins; none means the master. */
static void test_pull_nodes(void **st) {
    rmq_pull_nodes_t t;
    rmq_pull_nodes_init(&t);
    rmq_mq_t q[40];
    for (int i = 0; i < 40; i++) mk_mq(&q[i], "T", i % 2 ? "b" : "a", i / 2);
    assert_int_equal(rmq_pull_nodes_get(&t, &q[0]), 0);
    rmq_pull_nodes_set(&t, &q[0], 0); /* the master: nothing stored */
    assert_int_equal(t.n, 0);
    for (int i = 0; i < 40; i++) rmq_pull_nodes_set(&t, &q[i], 1 + i % 3);
    for (int i = 0; i < 40; i++) assert_int_equal(rmq_pull_nodes_get(&t, &q[i]), 1 + i % 3);
    rmq_pull_nodes_set(&t, &q[7], 0); /* back to the master */
    assert_int_equal(rmq_pull_nodes_get(&t, &q[7]), 0);
    assert_int_equal(rmq_pull_nodes_get(&t, &q[8]), 1 + 8 % 3);
    rmq_mq_t other;
    mk_mq(&other, "U", "a", 0);
    assert_int_equal(rmq_pull_nodes_get(&t, &other), 0);
    rmq_pull_nodes_fini(&t);
}

/* ---- allocation ------------------------------------------------------------------------ */

static void alloc_case(int nq, int nc, int idx, const int *expect, int nexpect) {
    rmq_mq_t *mqs = calloc((size_t)nq, sizeof(*mqs));
    /* given in reverse to check the sort */
    for (int i = 0; i < nq; i++) mk_mq(&mqs[i], "T", "broker-a", nq - 1 - i);
    char **cids = calloc((size_t)nc, sizeof(char *));
    char self[32];
    for (int i = 0; i < nc; i++) {
        cids[i] = malloc(32);
        snprintf(cids[i], 32, "10.0.0.%d@%d", (nc - i) % 10, nc - i); /* unsorted */
    }
    /* the idx-th in sorted order */
    char **sorted = calloc((size_t)nc, sizeof(char *));
    memcpy(sorted, cids, (size_t)nc * sizeof(char *));
    for (int i = 0; i < nc; i++)
        for (int j = i + 1; j < nc; j++)
            if (strcmp(sorted[j], sorted[i]) < 0) {
                char *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    rmq_strlcpy(self, sorted[idx], sizeof self);
    rmq_mq_t *out = NULL;
    int nout = -1;
    assert_int_equal(rmq_allocate_avg(mqs, nq, cids, nc, self, &out, &nout), RMQ_OK);
    assert_int_equal(nout, nexpect);
    for (int i = 0; i < nout; i++) assert_int_equal(out[i].queue_id, expect[i]);
    free(out);
    for (int i = 0; i < nc; i++) free(cids[i]);
    free(cids);
    free(sorted);
    free(mqs);
}

static void test_allocate_averagely(void **st) {
    /* values as RocketMQ's AllocateMessageQueueAveragely computes them */
    alloc_case(8, 3, 0, (int[]){0, 1, 2}, 3);
    alloc_case(8, 3, 1, (int[]){3, 4, 5}, 3);
    alloc_case(8, 3, 2, (int[]){6, 7}, 2);
    alloc_case(4, 3, 0, (int[]){0, 1}, 2);
    alloc_case(4, 3, 1, (int[]){2}, 1);
    alloc_case(4, 3, 2, (int[]){3}, 1);
    alloc_case(5, 2, 0, (int[]){0, 1, 2}, 3);
    alloc_case(5, 2, 1, (int[]){3, 4}, 2);
    alloc_case(2, 3, 0, (int[]){0}, 1);
    alloc_case(2, 3, 1, (int[]){1}, 1);
    alloc_case(2, 3, 2, NULL, 0);
    alloc_case(4, 1, 0, (int[]){0, 1, 2, 3}, 4);
    alloc_case(16, 4, 3, (int[]){12, 13, 14, 15}, 4);
    alloc_case(10, 4, 1, (int[]){3, 4, 5}, 3);
    alloc_case(10, 4, 2, (int[]){6, 7}, 2);
    alloc_case(10, 4, 3, (int[]){8, 9}, 2);
    /* not in the list: nothing */
    rmq_mq_t mqs[2];
    mk_mq(&mqs[0], "T", "a", 0);
    mk_mq(&mqs[1], "T", "a", 1);
    char *ids[] = {"x", "y"};
    rmq_mq_t *out = (rmq_mq_t *)1;
    int n = -1;
    assert_int_equal(rmq_allocate_avg(mqs, 2, ids, 2, "z", &out, &n), RMQ_OK);
    assert_int_equal(n, 0);
    assert_null(out);
}

static void test_mq_order(void **st) {
    rmq_mq_t m[4];
    mk_mq(&m[0], "T", "broker-b", 0);
    mk_mq(&m[1], "T", "broker-a", 10);
    mk_mq(&m[2], "T", "broker-a", 2);
    mk_mq(&m[3], "S", "broker-z", 0);
    qsort(m, 4, sizeof m[0], rmq_mq_cmp);
    assert_string_equal(m[0].topic, "S");
    assert_int_equal(m[1].queue_id, 2);
    assert_int_equal(m[2].queue_id, 10);
    assert_string_equal(m[3].broker, "broker-b");
}

/* ---- tag expressions ------------------------------------------------------------------- */

static void test_tag_expressions(void **st) {
    rmq_sub_t s;
    assert_int_equal(rmq_sub_parse("T", "*", &s), RMQ_OK);
    assert_true(s.all);
    assert_int_equal(s.ntags, 0);
    assert_string_equal(s.expr, "*");
    assert_true(rmq_sub_match(&s, NULL));
    assert_true(rmq_sub_match(&s, "x"));
    rmq_sub_fini(&s);

    assert_int_equal(rmq_sub_parse("T", NULL, &s), RMQ_OK);
    assert_true(s.all);
    rmq_sub_fini(&s);
    assert_int_equal(rmq_sub_parse("T", "  ", &s), RMQ_OK);
    assert_true(s.all);
    rmq_sub_fini(&s);

    assert_int_equal(rmq_sub_parse("T", " TagA ||  || TagB ", &s), RMQ_OK);
    assert_false(s.all);
    assert_int_equal(s.ntags, 2);
    assert_string_equal(s.tags[0], "TagA");
    assert_string_equal(s.tags[1], "TagB");
    assert_int_equal(s.codes[0], 2598919); /* "TagA".hashCode() */
    assert_int_equal(s.codes[1], 2598920);
    assert_true(rmq_sub_match(&s, "TagB"));
    assert_false(rmq_sub_match(&s, "TagC"));
    assert_false(rmq_sub_match(&s, NULL));
    assert_true(s.version > 0);
    rmq_sub_fini(&s);

    assert_int_equal(rmq_sub_parse("T", "a||b", &s), RMQ_OK);
    assert_int_equal(s.ntags, 2);
    assert_int_equal(s.codes[0], 97);
    assert_int_equal(s.codes[1], 98);
    rmq_sub_fini(&s);

    assert_int_equal(rmq_sub_parse("T", "zzzzzzzzzz", &s), RMQ_OK);
    assert_int_equal(s.codes[0], -1580979136); /* wraps like Java */
    rmq_sub_fini(&s);

    assert_int_equal(rmq_sub_parse("", "*", &s), RMQ_ERR__INVALID_ARG);
}

/* ---- unique keys ------------------------------------------------------------------------ */

static bool upper_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
    return true;
}

static void test_uniq_key(void **st) {
    rmq_uniq_t u;
    uint8_t ipb[4] = {127, 0, 0, 1};
    uint32_t ip;
    memcpy(&ip, ipb, 4);
    rmq_uniq_init(&u, ip, 0x1234, 0x0A0B0C0D);
    char a[33], b[33];
    rmq_uniq_next(&u, a);
    rmq_uniq_next(&u, b);
    assert_int_equal(strlen(a), 32);
    assert_true(upper_hex(a, 32));
    assert_memory_equal(a, "7F00000112340A0B0C0D", 20); /* ip | pid | hash */
    assert_memory_equal(a, b, 20);
    /* counter: last 2 bytes increment */
    unsigned ca = (unsigned)strtoul(a + 28, NULL, 16), cb = (unsigned)strtoul(b + 28, NULL, 16);
    assert_int_equal((ca + 1) & 0xFFFF, cb);
    /* time part: ms since the start of this month (local time) */
    char tpart[9];
    memcpy(tpart, a + 20, 8);
    tpart[8] = 0;
    int64_t ms = (int64_t)strtoull(tpart, NULL, 16);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t since = rmq_now_ms() - (int64_t)mktime(&tm) * 1000;
    assert_true(ms <= since && since - ms < 60000);
    /* many ids are distinct */
    char prev[33];
    strcpy(prev, b);
    for (int i = 0; i < 1000; i++) {
        char c[33];
        rmq_uniq_next(&u, c);
        assert_string_not_equal(c, prev);
        strcpy(prev, c);
    }
    pthread_mutex_destroy(&u.mu);
}

/* ---- routes ----------------------------------------------------------------------------- */

static const char *ROUTE_FASTJSON =
    "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"192.168.0.10:10911\",1:\"192.168.0.11:10911\"},"
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],\"filterServerTable\":{},"
    "\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,"
    "\"topicSysFlag\":0,\"writeQueueNums\":4}]}";

static void test_route_parse(void **st) {
    rmq_route_t *r = NULL;
    assert_int_equal(rmq_route_parse(ROUTE_FASTJSON, strlen(ROUTE_FASTJSON), &r), RMQ_OK);
    assert_int_equal(r->nq, 1);
    assert_int_equal(r->nb, 1);
    assert_string_equal(r->b[0].cluster, "DefaultCluster");
    assert_string_equal(rmq_route_master(r, "broker-a"), "192.168.0.10:10911");
    assert_null(rmq_route_master(r, "broker-x"));
    rmq_mq_t *q = NULL;
    int n = 0;
    assert_int_equal(rmq_route_pub_queues(r, "T", 0, &q, &n), RMQ_OK);
    assert_int_equal(n, 4);
    assert_string_equal(q[3].broker, "broker-a");
    assert_int_equal(q[3].queue_id, 3);
    assert_string_equal(q[3].topic, "T");
    free(q);
    assert_int_equal(rmq_route_pub_queues(r, "T", 2, &q, &n), RMQ_OK); /* TBW102 cap */
    assert_int_equal(n, 2);
    free(q);
    rmq_route_free(r);

    /* standard JSON, old spelling topicSynFlag, two brokers (unsorted), one read-only, one
     * without a master */
    const char *std =
        "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"h1:1\"},\"brokerName\":\"b1\","
        "\"cluster\":\"C\"},{\"brokerAddrs\":{\"0\":\"h2:2\"},\"brokerName\":\"a1\","
        "\"cluster\":\"C\"},{\"brokerAddrs\":{\"1\":\"h3:3\"},\"brokerName\":\"c1\","
        "\"cluster\":\"C\"}],\"queueDatas\":[{\"brokerName\":\"b1\",\"perm\":6,"
        "\"readQueueNums\":2,\"topicSynFlag\":3,\"writeQueueNums\":2},{\"brokerName\":\"a1\","
        "\"perm\":4,\"readQueueNums\":3,\"topicSynFlag\":0,\"writeQueueNums\":3},"
        "{\"brokerName\":\"c1\",\"perm\":6,\"readQueueNums\":1,\"writeQueueNums\":1}]}";
    assert_int_equal(rmq_route_parse(std, strlen(std), &r), RMQ_OK);
    assert_int_equal(r->nq, 3);
    assert_string_equal(r->q[0].broker, "a1"); /* sorted by broker name */
    assert_int_equal(r->q[1].sys_flag, 3);
    assert_int_equal(rmq_route_pub_queues(r, "T", 0, &q, &n), RMQ_OK);
    assert_int_equal(n, 2); /* a1 read-only, c1 without master */
    assert_string_equal(q[0].broker, "b1");
    free(q);
    assert_int_equal(rmq_route_sub_queues(r, "T", &q, &n), RMQ_OK);
    assert_int_equal(n, 6);
    assert_string_equal(q[0].broker, "a1");
    assert_string_equal(q[5].broker, "c1");
    free(q);
    assert_string_equal(rmq_route_any_addr(r, "c1"), "h3:3");
    rmq_route_free(r);

    /* 4.9 topicSysFlag plus orderTopicConf */
    const char *ord =
        "{\"orderTopicConf\":\"b1:2;a1:1\",\"brokerDatas\":[{\"brokerAddrs\":{0:\"x:1\"},"
        "\"brokerName\":\"a1\"}],\"queueDatas\":[{\"brokerName\":\"a1\",\"perm\":6,"
        "\"readQueueNums\":8,\"writeQueueNums\":8,\"topicSysFlag\":1}]}";
    assert_int_equal(rmq_route_parse(ord, strlen(ord), &r), RMQ_OK);
    assert_int_equal(r->q[0].sys_flag, 1);
    assert_int_equal(rmq_route_pub_queues(r, "T", 0, &q, &n), RMQ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(q[0].broker, "b1");
    assert_string_equal(q[2].broker, "a1");
    free(q);
    rmq_route_free(r);

    assert_int_not_equal(rmq_route_parse("not json", 8, &r), RMQ_OK);
}

/* ---- compression ----------------------------------------------------------------------- */

static void test_body_compression(void **st) {
    size_t len = 10000;
    uint8_t *body = malloc(len);
    for (size_t i = 0; i < len; i++) body[i] = (uint8_t)("abcdefgh"[i % 8]);
    uint8_t *out = NULL;
    size_t ol = 0;
    int sf = 0;
    /* below the threshold: unchanged */
    assert_int_equal(rmq_body_encode(body, 4095, 4096, 5, &out, &ol, &sf), RMQ_OK);
    assert_int_equal(sf, 0);
    assert_int_equal(ol, 4095);
    assert_memory_equal(out, body, 4095);
    free(out);
    /* at / over it: zlib (RFC 1950 header 0x78) and the flag */
    assert_int_equal(rmq_body_encode(body, 4096, 4096, 5, &out, &ol, &sf), RMQ_OK);
    assert_int_equal(sf, RMQ_SYSFLAG_COMPRESSED);
    assert_int_equal(out[0], 0x78);
    free(out);
    sf = 0;
    assert_int_equal(rmq_body_encode(body, len, 4096, 5, &out, &ol, &sf), RMQ_OK);
    assert_true(ol < len);
    uint8_t *back = NULL;
    size_t bl = 0;
    assert_int_equal(rmq_msg_inflate(out, ol, 1 << 20, &back, &bl), RMQ_OK);
    assert_int_equal(bl, len);
    assert_memory_equal(back, body, len);
    free(back);

    /* a compressed stored record decodes to the original body */
    const char *props = "TAGS\001t\002UNIQ_KEY\001AA";
    rmq_msg_rec_t r = {0};
    r.queue_id = 1;
    r.queue_offset = 7;
    r.phys_offset = 1234;
    r.sysflag = RMQ_SYSFLAG_COMPRESSED;
    r.born_host.ip_len = 4;
    r.store_host.ip_len = 4;
    r.store_host.ip[0] = 10;
    r.store_host.port = 10911;
    r.body = out;
    r.body_len = (int32_t)ol;
    r.topic = "T";
    r.topic_len = 1;
    r.props = props;
    r.props_len = (int32_t)strlen(props);
    size_t rs = rmq_msg_rec_size(ol, 1, strlen(props), false, false);
    uint8_t *rec = malloc(rs);
    rmq_msg_rec_encode(rec, &r, true);
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    assert_int_equal(rmq_msgs_decode(rec, rs, &msgs, &n), RMQ_OK);
    assert_int_equal(n, 1);
    size_t got = 0;
    const void *b = rmq_msg_body(msgs[0], &got);
    assert_int_equal(got, len);
    assert_memory_equal(b, body, len);
    rmq_msgs_destroy(msgs, n);
    /* LZ4 (type 1) is refused, not garbled */
    r.sysflag = RMQ_SYSFLAG_COMPRESSED | 0x100;
    rmq_msg_rec_encode(rec, &r, true);
    assert_int_equal(rmq_msgs_decode(rec, rs, &msgs, &n), RMQ_ERR__BAD_MSG);
    free(rec);
    free(out);
    free(body);
}

/* ---- send header --------------------------------------------------------------------- */

static void test_send_header_v2(void **st) {
    rmq_send_hdr_t h = {.group = "pg1",
                        .topic = "TopicTest",
                        .default_topic = "TBW102",
                        .props = "KEYS\001k1\002WAIT\001true",
                        .broker = "broker-a",
                        .default_queues = 4,
                        .queue_id = 3,
                        .sysflag = 1,
                        .flag = 9,
                        .reconsume_times = 2,
                        .max_reconsume_times = 16,
                        .born_ts = 1700000000000LL,
                        .has_reconsume = true};
    rmq_rem_cmd_t *c = rmq_send_request(&h);
    assert_non_null(c);
    assert_int_equal(c->code, RMQ_REQ_SEND_MESSAGE_V2);
    const char *expect[][2] = {{"a", "pg1"},
                               {"b", "TopicTest"},
                               {"c", "TBW102"},
                               {"d", "4"},
                               {"e", "3"},
                               {"f", "1"},
                               {"g", "1700000000000"},
                               {"h", "9"},
                               {"i", "KEYS\001k1\002WAIT\001true"},
                               {"j", "2"},
                               {"k", "false"},
                               {"l", "16"},
                               {"m", "false"},
                               {"n", "broker-a"}};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const char *v = rmq_rem_cmd_get(c, expect[i][0]);
        assert_non_null(v);
        assert_string_equal(v, expect[i][1]);
    }
    rmq_rem_cmd_destroy(c);
    h.batch = true;
    h.has_reconsume = false;
    c = rmq_send_request(&h);
    assert_int_equal(c->code, RMQ_REQ_SEND_BATCH_MESSAGE);
    assert_string_equal(rmq_rem_cmd_get(c, "m"), "true");
    assert_null(rmq_rem_cmd_get(c, "l"));
    rmq_rem_cmd_destroy(c);

    /* the header view an async send encodes without a command: the same bytes, both
     * serialize types, with and without the optional fields */
    static const char body[] = "hello \"body\"\n";
    for (int bin = 0; bin < 2; bin++) {
        for (int opt = 0; opt < 2; opt++) {
            h.binary_header = bin;
            h.batch = opt;
            h.has_reconsume = opt;
            h.props = opt ? "KEYS\001k1\002WAIT\001true\002u\001\xc3\xa9\"" : "";
            h.broker = opt ? "broker-a" : NULL;
            rmq_send_head_t sh;
            rmq_send_head(&h, &sh);
            c = rmq_send_request(&h);
            assert_non_null(c);
            sh.head.opaque = c->opaque; /* the caller sets it (rmq_rem_next_opaque) */
            rmq_rem_cmd_set_body_ref(c, body, sizeof body - 1);
            rmq_buf_t want, got;
            rmq_buf_init(&want);
            rmq_buf_init(&got);
            assert_int_equal(rmq_rem_frame_encode(c, &want), RMQ_OK);
            assert_int_equal(rmq_rem_frame_encode_head(&sh.head, body, sizeof body - 1, &got),
                             RMQ_OK);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
            assert_int_equal(sh.head.code, c->code);
            rmq_buf_fini(&want);
            rmq_buf_fini(&got);
            rmq_rem_cmd_destroy(c);
        }
    }
    h.binary_header = false;

    /* response mapping */
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_request(0);
    resp->code = RMQ_ERR_FLUSH_DISK_TIMEOUT;
    rmq_rem_cmd_set(resp, "msgId",
                    "0A00000100002A9F0000000000000010,0A00000100002A9F0000000000000020");
    rmq_rem_cmd_set(resp, "queueId", "2");
    rmq_rem_cmd_set(resp, "queueOffset", "41");
    rmq_mq_t mq;
    mk_mq(&mq, "T", "b", 0);
    rmq_send_result_t r;
    assert_int_equal(rmq_send_response(resp, &mq, &r), RMQ_OK);
    assert_int_equal(r.status, RMQ_SEND_FLUSH_DISK_TIMEOUT);
    assert_int_equal(r.mq.queue_id, 2);
    assert_int_equal(r.offset, 41);
    assert_string_equal(r.offset_msg_id, "0A00000100002A9F0000000000000010");
    assert_string_equal(r.txn_id, "");
    /* look-alike keys are not taken; a bad number leaves the default */
    rmq_rem_cmd_t *odd = rmq_rem_cmd_new_request(0);
    rmq_rem_cmd_set(odd, "MSG_REGION", "DefaultRegion");
    rmq_rem_cmd_set(odd, "queueIdx", "7");
    rmq_rem_cmd_set(odd, "queueId", "4294967296"); /* past an int: ignored */
    rmq_rem_cmd_set(odd, "queueOffset", "x1");
    rmq_rem_cmd_set(odd, "msgIds", "nope");
    rmq_rem_cmd_set(odd, "transactionIdx", "nope");
    rmq_rem_cmd_set(odd, "transactionId", "7F0000011F90");
    assert_int_equal(rmq_send_response(odd, &mq, &r), RMQ_OK);
    assert_int_equal(r.status, RMQ_SEND_OK);
    assert_int_equal(r.mq.queue_id, 0);
    assert_int_equal(r.offset, -1);
    assert_string_equal(r.offset_msg_id, "");
    assert_string_equal(r.txn_id, "7F0000011F90");
    rmq_rem_cmd_destroy(odd);
    resp->code = RMQ_ERR_TOPIC_NOT_EXIST;
    assert_int_equal(rmq_send_response(resp, &mq, &r), RMQ_ERR_TOPIC_NOT_EXIST);
    assert_true(rmq_send_retryable(RMQ_ERR_TOPIC_NOT_EXIST));
    assert_true(rmq_send_retryable(RMQ_ERR_SYSTEM_ERROR));
    assert_false(rmq_send_retryable(RMQ_ERR_MESSAGE_ILLEGAL));
    rmq_rem_cmd_destroy(resp);
}

/* ---- batch encoding ------------------------------------------------------------------- */

static void test_batch_golden(void **st) {
    rmq_msg_t *a = rmq_msg_new("T", NULL, NULL, "hi", 2, RMQ_MSG_F_COPY);
    rmq_msg_t *b = rmq_msg_new("T", NULL, NULL, "xyz", 3, RMQ_MSG_F_COPY);
    rmq_msg_set_property(a, "UNIQ_KEY", "ABC");
    rmq_msg_set_property(b, "UNIQ_KEY", "D");
    rmq_msg_set_property(b, "k", "v");
    b->flag = 5;
    rmq_msg_t *arr[] = {a, b};
    rmq_buf_t buf;
    rmq_buf_init(&buf);
    assert_int_equal(rmq_batch_encode(arr, 2, &buf), RMQ_OK);
    /* protocol.md 6.6: TOTALSIZE MAGIC(0) CRC(0) FLAG BODYLEN BODY PROPLEN PROPS */
    static const uint8_t golden[] = {
        0,   0,   0,   36, 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  0,
        2,   'h', 'i', 0,  12,  'U', 'N', 'I', 'Q', '_', 'K', 'E', 'Y', 1,   'A', 'B', 'C', 0,  0,
        0,   39,  0,   0,  0,   0,   0,   0,   0,   0,   0,   0,   0,   5,   0,   0,   0,   3,  'x',
        'y', 'z', 0,   14, 'U', 'N', 'I', 'Q', '_', 'K', 'E', 'Y', 1,   'D', 2,   'k', 1,   'v'};
    assert_int_equal(buf.len, sizeof golden);
    assert_memory_equal(buf.data, golden, sizeof golden);
    rmq_buf_fini(&buf);
    rmq_msg_destroy(a);
    rmq_msg_destroy(b);
}

/* ---- pulled bodies ------------------------------------------------------------------ */

static void test_pulled_decode(void **st) {
    rmq_buf_t all;
    rmq_buf_init(&all);
    const char *props[] = {"TAGS\001A\002KEYS\001k0\002UNIQ_KEY\001U0",
                           "TAGS\001B\002UNIQ_KEY\001U1\002RETRY_TOPIC\001orig",
                           "UNIQ_KEY\001U2\002"};
    for (int i = 0; i < 3; i++) {
        char body[32];
        int bl = snprintf(body, sizeof body, "body-%d", i);
        rmq_msg_rec_t r = {0};
        r.queue_id = 2;
        r.queue_offset = 100 + i;
        r.phys_offset = 5000 + i * 200;
        r.born_ts = 1700000000000LL + i;
        r.store_ts = 1700000000100LL + i;
        r.reconsume_times = i;
        r.born_host.ip_len = 4;
        r.store_host.ip_len = 4;
        r.store_host.ip[0] = 127;
        r.store_host.ip[3] = 1;
        r.store_host.port = 10911;
        r.body = (const uint8_t *)body;
        r.body_len = bl;
        r.topic = "TopicX";
        r.topic_len = 6;
        r.props = props[i];
        r.props_len = (int32_t)strlen(props[i]);
        size_t rs = rmq_msg_rec_size((size_t)bl, 6, strlen(props[i]), false, false);
        rmq_buf_reserve(&all, rs);
        rmq_msg_rec_encode(all.data + all.len, &r, true);
        all.len += rs;
    }
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    assert_int_equal(rmq_msgs_decode(all.data, all.len, &msgs, &n), RMQ_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        char body[32];
        int bl = snprintf(body, sizeof body, "body-%d", i);
        size_t l;
        const void *b = rmq_msg_body(msgs[i], &l);
        assert_int_equal(l, (size_t)bl);
        assert_memory_equal(b, body, (size_t)bl);
        assert_string_equal(rmq_msg_topic(msgs[i]), "TopicX");
        assert_int_equal(rmq_msg_queue_offset(msgs[i]), 100 + i);
        assert_int_equal(rmq_msg_queue_id(msgs[i]), 2);
        assert_int_equal(rmq_msg_commitlog_offset(msgs[i]), 5000 + i * 200);
        assert_int_equal(rmq_msg_reconsume_times(msgs[i]), i);
        assert_int_equal(rmq_msg_store_ts(msgs[i]), 1700000000100LL + i);
        char uk[8];
        snprintf(uk, sizeof uk, "U%d", i);
        assert_string_equal(rmq_msg_id(msgs[i]), uk);
        assert_int_equal(strlen(rmq_msg_offset_id(msgs[i])), 32);
    }
    assert_string_equal(rmq_msg_tags(msgs[0]), "A");
    assert_string_equal(rmq_msg_keys(msgs[0]), "k0");
    assert_string_equal(rmq_msg_property(msgs[1], "RETRY_TOPIC"), "orig");
    assert_null(rmq_msg_tags(msgs[2]));
    /* offset id: store ip 127.0.0.1, port 10911, phys offset 5000 */
    assert_string_equal(rmq_msg_offset_id(msgs[0]), "7F00000100002A9F0000000000001388");
    rmq_msgs_destroy(msgs, n);
    /* truncated input is an error, not a crash */
    assert_int_not_equal(rmq_msgs_decode(all.data, all.len - 3, &msgs, &n), RMQ_OK);
    rmq_buf_fini(&all);
}

/* A batch of n records (n > 64: both passes of the decoder), every third without UNIQ_KEY,
 * every fourth stored by an IPv6 host, some carrying their own MIN_OFFSET. */
static void lazy_batch(rmq_buf_t *all, int n) {
    for (int i = 0; i < n; i++) {
        char props[128], body[16];
        int pl = i % 3 == 0   ? snprintf(props, sizeof props, "TAGS\001t%d\002WAIT\001true", i)
                 : i % 3 == 1 ? snprintf(props, sizeof props, "UNIQ_KEY\001UK%04d\002TAGS\001t", i)
                              : snprintf(props, sizeof props,
                                         "MIN_OFFSET\0017\002UNIQ_KEY\001UK%04d\002KEYS\001k", i);
        int bl = snprintf(body, sizeof body, "b%d", i);
        rmq_msg_rec_t r = {0};
        r.queue_id = 1;
        r.queue_offset = 1000 + i;
        r.phys_offset = 0x100000000LL * (i % 5) + 4096 * i;
        r.born_host.ip_len = 4;
        r.store_host.ip_len = i % 4 == 3 ? 16 : 4;
        for (int k = 0; k < r.store_host.ip_len; k++) r.store_host.ip[k] = (uint8_t)(10 + k + i);
        r.store_host.port = 10911 + i;
        r.body = (const uint8_t *)body;
        r.body_len = bl;
        r.topic = "TopicL";
        r.topic_len = 6;
        r.props = props;
        r.props_len = pl;
        size_t rs = rmq_msg_rec_size((size_t)bl, 6, (size_t)pl, false, r.store_host.ip_len == 16);
        assert_int_equal(rmq_buf_reserve(all, rs), RMQ_OK);
        rmq_msg_rec_encode(all->data + all->len, &r, true);
        all->len += rs;
    }
}

typedef struct {
    rmq_msg_t **msgs;
    size_t n;
    const char *got[80];
} lazy_reader_t;

static void *lazy_read(void *arg) {
    lazy_reader_t *r = arg;
    for (size_t i = 0; i < r->n; i++) r->got[i] = rmq_msg_offset_id(r->msgs[i]);
    return NULL;
}

/* The properties a pull result adds to each of its messages. */
static const rmq_kv_t k_pull_extra[2] = {{(char *)"MIN_OFFSET", (char *)"1000"},
                                         {(char *)"MAX_OFFSET", (char *)"123456"}};

/* The offset id is built on the first call, not while decoding: it must be the one the eager
 * decoder built (store host of the record, commit log offset), for every message of a batch with
 * and without UNIQ_KEY, IPv4 and IPv6, and the same whichever thread asks first. The batch's
 * extra properties (the pull's MIN_OFFSET / MAX_OFFSET) are one copy shared by the messages:
 * setting one message's must leave the others'. */
static void test_pulled_decode_lazy_ids(void **st) {
    (void)st;
    enum { N = 70 };
    rmq_buf_t all;
    rmq_buf_init(&all);
    lazy_batch(&all, N);
    for (int round = 0; round < 2; round++) {
        rmq_msg_t **msgs = NULL;
        size_t n = 0;
        assert_int_equal(rmq_msgs_decode_ex(all.data, all.len, k_pull_extra, 2, &msgs, &n), RMQ_OK);
        assert_int_equal(n, N);
        lazy_reader_t rd[4];
        pthread_t th[4];
        if (round == 1) /* four threads race for the first call of every message */
            for (int t = 0; t < 4; t++) {
                rd[t].msgs = msgs;
                rd[t].n = n;
                assert_int_equal(pthread_create(&th[t], NULL, lazy_read, &rd[t]), 0);
            }
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            rmq_msg_rec_t r;
            int64_t sz = rmq_msg_rec_decode(all.data + pos, all.len - pos, false, &r);
            assert_true(sz > 0);
            pos += (size_t)sz;
            char want[57];
            rmq_msg_offset_id_encode(want, &r.store_host, r.phys_offset);
            assert_int_equal(strlen(want), i % 4 == 3 ? 56 : 32);
            const char *id = rmq_msg_offset_id(msgs[i]);
            assert_non_null(id);
            assert_string_equal(id, want);
            assert_ptr_equal(rmq_msg_offset_id(msgs[i]), id); /* built once */
            char uk[32];
            snprintf(uk, sizeof uk, "UK%04zu", i);
            assert_string_equal(rmq_msg_id(msgs[i]), i % 3 == 0 ? want : uk);
            assert_int_equal(rmq_msg_commitlog_offset(msgs[i]), r.phys_offset);
            assert_int_equal(rmq_msg_queue_offset(msgs[i]), 1000 + (int64_t)i);
            assert_string_equal(rmq_msg_property(msgs[i], "MIN_OFFSET"), "1000"); /* extra wins */
            assert_string_equal(rmq_msg_property(msgs[i], "MAX_OFFSET"), "123456");
            if (i % 3 == 0) assert_string_equal(rmq_msg_property(msgs[i], "WAIT"), "true");
            if (i % 3 == 2) assert_string_equal(rmq_msg_keys(msgs[i]), "k");
        }
        if (round == 1)
            for (int t = 0; t < 4; t++) {
                assert_int_equal(pthread_join(th[t], NULL), 0);
                for (size_t i = 0; i < n; i++)
                    assert_string_equal(rd[t].got[i], rmq_msg_offset_id(msgs[i]));
            }
        assert_int_equal(rmq_msg_set_property(msgs[0], "MAX_OFFSET", "9"), RMQ_OK);
        rmq_msg_prop_del(msgs[2], "MIN_OFFSET");
        assert_string_equal(rmq_msg_property(msgs[0], "MAX_OFFSET"), "9");
        assert_string_equal(rmq_msg_property(msgs[1], "MAX_OFFSET"), "123456");
        assert_null(rmq_msg_property(msgs[2], "MIN_OFFSET"));
        assert_string_equal(rmq_msg_property(msgs[1], "MIN_OFFSET"), "1000");
        rmq_msgs_destroy(msgs, n);
    }
    /* a message built here has no offset id, and no id until it is sent */
    rmq_msg_t *m = rmq_msg_new("T", NULL, NULL, "x", 1, RMQ_MSG_F_COPY);
    assert_null(rmq_msg_offset_id(m));
    assert_null(rmq_msg_id(m));
    rmq_msg_destroy(m);
    rmq_buf_fini(&all);
}

/* A deferred decode (the push consumer's loop thread) leaves topic and properties for
 * rmq_msg_unpack (the consume pool): before it the scalar fields, the body and the ids built
 * from them already answer; after it every accessor answers as for an eager decode; messages
 * destroyed without it (a dropped queue) leak nothing (the ASan build checks). */
static void test_pulled_decode_deferred(void **st) {
    (void)st;
    enum { N = 70 };
    rmq_buf_t all;
    rmq_buf_init(&all);
    lazy_batch(&all, N);
    rmq_msg_t **ea = NULL, **da = NULL;
    size_t en = 0, dn = 0;
    assert_int_equal(rmq_msgs_decode_ex(all.data, all.len, k_pull_extra, 2, &ea, &en), RMQ_OK);
    uint8_t *cp = malloc(all.len);
    memcpy(cp, all.data, all.len);
    assert_int_equal(rmq_msgs_decode_deferred(cp, all.len, k_pull_extra, 2, &da, &dn), RMQ_OK);
    assert_int_equal(dn, en);
    for (size_t i = 0; i < dn; i++) {
        rmq_msg_t *e = ea[i], *d = da[i];
        if (i < 30) { /* the rest were unpacked ahead, below */
            assert_null(rmq_msg_topic(d));
            assert_null(rmq_msg_tags(d));
        }
        assert_int_equal(rmq_msg_queue_offset(d), rmq_msg_queue_offset(e));
        assert_string_equal(rmq_msg_offset_id(d), rmq_msg_offset_id(e));
        size_t el, dl;
        const void *eb = rmq_msg_body(e, &el), *db = rmq_msg_body(d, &dl);
        assert_int_equal(dl, el);
        assert_memory_equal(db, eb, el);
        rmq_msg_unpack(d);
        rmq_msg_unpack(d); /* a no-op the second time */
        assert_string_equal(rmq_msg_topic(d), "TopicL");
        assert_string_equal(rmq_msg_id(d), rmq_msg_id(e));
        assert_int_equal(rmq_msg_queue_id(d), rmq_msg_queue_id(e));
        assert_int_equal(rmq_msg_born_ts(d), rmq_msg_born_ts(e));
        assert_int_equal(rmq_msg_store_ts(d), rmq_msg_store_ts(e));
        assert_int_equal(rmq_msg_reconsume_times(d), rmq_msg_reconsume_times(e));
        assert_int_equal(rmq_msg_commitlog_offset(d), rmq_msg_commitlog_offset(e));
        assert_int_equal(d->nprops, e->nprops);
        for (size_t k = 0; k < e->nprops; k++) {
            assert_string_equal(d->props[k].key, e->props[k].key);
            assert_string_equal(d->props[k].val, e->props[k].val);
        }
        if (i < 40) rmq_msg_unpack(da[i + 30]); /* some unpacked ahead, some never */
    }
    rmq_msg_unpack(ea[0]); /* an eager message: nothing to do */
    assert_string_equal(rmq_msg_topic(ea[0]), "TopicL");
    rmq_msgs_destroy(ea, en);
    rmq_msgs_destroy(da, dn);
    /* never unpacked at all */
    cp = malloc(all.len);
    memcpy(cp, all.data, all.len);
    assert_int_equal(rmq_msgs_decode_deferred(cp, all.len, k_pull_extra, 2, &da, &dn), RMQ_OK);
    rmq_msgs_destroy(da, dn);
    rmq_buf_fini(&all);
}

/* ---- messages ----------------------------------------------------------------------- */

static void test_message_api(void **st) {
    char *body = strdup("payload");
    rmq_msg_t *m = rmq_msg_new("T", "tagA", "k1 k2", body, 7, RMQ_MSG_F_FREE);
    assert_non_null(m);
    assert_string_equal(rmq_msg_tags(m), "tagA");
    assert_string_equal(rmq_msg_keys(m), "k1 k2");
    assert_int_equal(rmq_msg_set_property(m, "color", "red"), RMQ_OK);
    assert_int_equal(rmq_msg_set_property(m, "color", "blue"), RMQ_OK);
    assert_string_equal(rmq_msg_property(m, "color"), "blue");
    assert_int_equal(rmq_msg_set_property(m, "bad\001", "x"), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_msg_set_property(m, "x", "a\002b"), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_msg_set_delay_level(m, 3), RMQ_OK);
    assert_string_equal(rmq_msg_property(m, "DELAY"), "3");
    assert_int_equal(rmq_msg_set_delay_level(m, 19), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_msg_set_deliver_time(m, 1700000000000LL), RMQ_OK);
    assert_string_equal(rmq_msg_property(m, "__STARTDELIVERTIME"), "1700000000000");
    assert_string_equal(rmq_msg_property(m, "TIMER_DELIVER_MS"), "1700000000000");
    assert_null(rmq_msg_id(m));
    assert_int_equal(rmq_msg_queue_offset(m), -1);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_msg_props_encode(m, &b), RMQ_OK);
    assert_true(b.len > 0 && b.data[b.len - 1] != '\002');
    rmq_buf_fini(&b);
    rmq_msg_destroy(m);
    assert_null(rmq_msg_new(NULL, NULL, NULL, NULL, 0, 0));
}

static void test_selector_hash(void **st) {
    rmq_mq_t mqs[4];
    for (int i = 0; i < 4; i++) mk_mq(&mqs[i], "T", "a", i);
    assert_int_equal(rmq_selector_hash(mqs, 4, NULL, "abc"), 96354 % 4);
    assert_int_equal(rmq_selector_hash(mqs, 3, NULL, "zzzzzzzzzz"), 1580979136 % 3);
    assert_int_equal(rmq_selector_hash(mqs, 4, NULL, "order-key-7"),
                     rmq_selector_hash(mqs, 4, NULL, "order-key-7"));
}

/* ---- reset body ---------------------------------------------------------------------- */

static void test_reset_body(void **st) {
    const char *fj =
        "{\"offsetTable\":{{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}:100,"
        "{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"T\"}:97}}";
    rmq_mq_t *mqs;
    int64_t *offs;
    int n;
    assert_int_equal(rmq_reset_body_parse(fj, strlen(fj), &mqs, &offs, &n), RMQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(mqs[1].broker, "broker-a");
    assert_int_equal(mqs[1].queue_id, 1);
    assert_int_equal(offs[0], 100);
    assert_int_equal(offs[1], 97);
    free(mqs);
    free(offs);
    const char *gs = "{\"offsetTable\":[[{\"brokerName\":\"b\",\"queueId\":3,\"topic\":\"T\"},5]]}";
    assert_int_equal(rmq_reset_body_parse(gs, strlen(gs), &mqs, &offs, &n), RMQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(mqs[0].queue_id, 3);
    assert_int_equal(offs[0], 5);
    free(mqs);
    free(offs);
    const char *fc = "{\"offsetTable\":[{\"brokerName\":\"b\",\"offset\":9,\"queueId\":2,"
                     "\"topic\":\"T\"}]}";
    assert_int_equal(rmq_reset_body_parse(fc, strlen(fc), &mqs, &offs, &n), RMQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(offs[0], 9);
    free(mqs);
    free(offs);
}

/* ---- configuration ------------------------------------------------------------------- */

static void test_conf(void **st) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    assert_int_equal(rmq_conf_set(c, "nope", "1", err, sizeof err), RMQ_CONF_UNKNOWN);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", "127.0.0.1:9876;h2:9877", err, sizeof err),
                     RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", "localhost", err, sizeof err),
                     RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", "h:0", err, sizeof err), RMQ_CONF_INVALID);
    assert_string_equal(rmq_conf_get(c, "namesrvAddr"), "127.0.0.1:9876;h2:9877");
    assert_int_equal(rmq_conf_set(c, "sendMsgTimeout", "abc", err, sizeof err), RMQ_CONF_INVALID);
    assert_non_null(strstr(err, "sendMsgTimeout"));
    assert_int_equal(rmq_conf_set(c, "sendMsgTimeout", "0", err, sizeof err), RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "sendMsgTimeout", "5000", err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_i64(c, "sendMsgTimeout"), 5000);
    assert_int_equal(rmq_conf_i64(c, "retryTimesWhenSendFailed"), 2); /* default */
    assert_int_equal(rmq_conf_i64(c, "compressMsgBodyOverHowmuch"), 4096);
    assert_int_equal(rmq_conf_set(c, "sendLatencyFaultEnable", "yes", err, sizeof err),
                     RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "sendLatencyFaultEnable", "true", err, sizeof err),
                     RMQ_CONF_OK);
    assert_true(rmq_conf_bool(c, "sendLatencyFaultEnable"));
    assert_int_equal(rmq_conf_set(c, "messageModel", "BROADCAST", err, sizeof err),
                     RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "messageModel", "BROADCASTING", err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "consumeFromWhere", "CONSUME_FROM_TIMESTAMP", err, sizeof err),
                     RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "consumeTimestamp", "20231114221320", err, sizeof err),
                     RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "consumeTimestamp", "2023-11-14", err, sizeof err),
                     RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "consumeTimestamp", "1700000000000", err, sizeof err),
                     RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "consumerGroup", "bad group", err, sizeof err),
                     RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "consumerGroup", "cg_1-%RETRY%x", err, sizeof err),
                     RMQ_CONF_OK);
    assert_string_equal(rmq_conf_group(c, NULL), "cg_1-%RETRY%x");
    assert_int_equal(rmq_conf_set(c, "logLevel", "LOUD", err, sizeof err), RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "logLevel", "debug", err, sizeof err), RMQ_CONF_OK);
    assert_int_equal(rmq_conf_set(c, "pullBatchSize", "100000", err, sizeof err), RMQ_CONF_INVALID);
    assert_int_equal(rmq_conf_set(c, "maxReconsumeTimes", "-1", err, sizeof err), RMQ_CONF_OK);
    assert_null(rmq_conf_get(c, "instanceName"));
    assert_string_equal(rmq_conf_str(c, "instanceName"), "DEFAULT");
    rmq_conf_t *d = rmq_conf_dup(c);
    assert_string_equal(rmq_conf_get(d, "consumerGroup"), "cg_1-%RETRY%x");
    rmq_conf_destroy(c);
    assert_string_equal(rmq_conf_get(d, "logLevel"), "debug");
    rmq_conf_destroy(d);
    int64_t t = rmq_conf_parse_ts("20231114221320");
    struct tm tm = {.tm_year = 123,
                    .tm_mon = 10,
                    .tm_mday = 14,
                    .tm_hour = 22,
                    .tm_min = 13,
                    .tm_sec = 20,
                    .tm_isdst = -1};
    assert_int_equal(t, (int64_t)mktime(&tm) * 1000);
}

/* ---- log sinks: each object's lines reach only its own conf's callback ------------------- */

typedef struct {
    int started, stopped, namesrv;
    int remoting;    /* the connection's own lines (remoting/), e.g. the refused connect */
    char id[2][128]; /* client id named by the "started" and "stopped" lines */
} sink_t;

static void sink_id(const char *ln, char *out, size_t n) {
    const char *p = strstr(ln, "client instance ") + strlen("client instance ");
    size_t l = strcspn(p, " ");
    snprintf(out, n, "%.*s", (int)l, p);
}

static void sink_cb(int lvl, const char *ln, void *op) {
    sink_t *s = op; /* calls are serialised by the SDK */
    (void)lvl;
    if (strstr(ln, "client instance") && strstr(ln, " started")) {
        s->started++;
        sink_id(ln, s->id[0], sizeof s->id[0]);
    }
    if (strstr(ln, "client instance") && strstr(ln, " stopped")) {
        s->stopped++;
        sink_id(ln, s->id[1], sizeof s->id[1]);
    }
    if (strstr(ln, "name server 127.0.0.1:1:")) s->namesrv++;
    if (strstr(ln, "remoting") && strstr(ln, "connect to 127.0.0.1:1")) s->remoting++;
}

static rmq_producer_t *sink_producer(const char *group, sink_t *s) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    /* port 1: nothing listens, a connect is refused at once */
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", "127.0.0.1:1", err, sizeof err), 0);
    assert_int_equal(rmq_conf_set(c, "producerGroup", group, err, sizeof err), 0);
    assert_int_equal(rmq_conf_set(c, "logLevel", "INFO", err, sizeof err), 0);
    assert_int_equal(rmq_conf_set(c, "sendMsgTimeout", "1000", err, sizeof err), 0);
    assert_int_equal(rmq_conf_set(c, "mqClientApiTimeout", "1000", err, sizeof err), 0);
    rmq_conf_set_log_cb(c, sink_cb, s);
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    assert_non_null(p);
    return p;
}

static void test_log_sink_per_producer(void **st) {
    (void)st;
    sink_t a = {0}, b = {0};
    rmq_producer_t *pa = sink_producer("SinkGroupA", &a);
    rmq_producer_t *pb = sink_producer("SinkGroupB", &b); /* created last: once took every line */
    rmq_msg_t *m = rmq_msg_new("SinkTopic", NULL, NULL, "x", 1, RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    assert_int_not_equal(rmq_send_sync(pa, m, &r), RMQ_OK); /* no NameServer: A logs it */
    rmq_msg_destroy(m);
    rmq_producer_destroy(pa);
    rmq_producer_destroy(pb);
    /* each sink saw its own instance start and stop, and nothing of the other's */
    assert_int_equal(a.started, 1);
    assert_int_equal(a.stopped, 1);
    assert_int_equal(b.started, 1);
    assert_int_equal(b.stopped, 1);
    assert_string_equal(a.id[0], a.id[1]);
    assert_string_equal(b.id[0], b.id[1]);
    assert_string_not_equal(a.id[0], b.id[0]);
    /* A's failed send is logged to A only, the refused connection's line included */
    assert_true(a.namesrv > b.namesrv);
    assert_true(a.remoting > 0);
}

/* ---- admin: the last error belongs to its handle ---------------------------------------- */

static rmq_admin_t *dead_admin(void) {
    rmq_conf_t *c = rmq_conf_new();
    char err[256];
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", "127.0.0.1:1", err, sizeof err), 0);
    rmq_admin_t *a = rmq_admin_new(c, err, sizeof err);
    assert_non_null(a);
    return a;
}

static void test_admin_last_error_per_handle(void **st) {
    (void)st;
    rmq_admin_t *a = dead_admin(), *b = dead_admin(); /* two handles on one instance */
    assert_string_equal(rmq_admin_last_error(a), "");
    rmq_admin_resp_t *r = NULL;
    const char *kv[] = {"topic", "T", NULL};
    assert_int_not_equal(
        rmq_admin_invoke(a, "127.0.0.1:1", RMQ_REQ_GET_MAX_OFFSET, kv, NULL, 0, 1000, &r), RMQ_OK);
    assert_null(r);
    assert_non_null(strstr(rmq_admin_last_error(a), "broker 127.0.0.1:1"));
    assert_string_equal(rmq_admin_last_error(b), ""); /* b made no call: nothing of a's */
    /* NameServer requests go through the instance's fail-over and name the one that failed */
    assert_int_not_equal(
        rmq_admin_invoke(b, NULL, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, NULL, 0, 1000, &r), RMQ_OK);
    assert_non_null(strstr(rmq_admin_last_error(b), "NameServer 127.0.0.1:1"));
    rmq_admin_destroy(a);
    rmq_admin_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_round_robin),
        cmocka_unit_test(test_latency_fault),
        cmocka_unit_test(test_fault_pick_least),
        cmocka_unit_test(test_route_master_gone),
        cmocka_unit_test(test_pull_nodes),
        cmocka_unit_test(test_allocate_averagely),
        cmocka_unit_test(test_mq_order),
        cmocka_unit_test(test_tag_expressions),
        cmocka_unit_test(test_uniq_key),
        cmocka_unit_test(test_route_parse),
        cmocka_unit_test(test_body_compression),
        cmocka_unit_test(test_send_header_v2),
        cmocka_unit_test(test_batch_golden),
        cmocka_unit_test(test_pulled_decode),
        cmocka_unit_test(test_pulled_decode_lazy_ids),
        cmocka_unit_test(test_pulled_decode_deferred),
        cmocka_unit_test(test_message_api),
        cmocka_unit_test(test_selector_hash),
        cmocka_unit_test(test_reset_body),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_log_sink_per_producer),
        cmocka_unit_test(test_admin_last_error_per_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
