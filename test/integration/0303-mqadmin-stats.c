/* mqadmin statistics, message printing, send probes and housekeeping (issue 13), against a
 * real NameServer + broker with 64 KB CommitLog segments:
 * - every new command prints its usage with -h;
 * - statsAll counts the 20 messages sent and the 20 consumed (InMsg24Hour, OutMsg24Hour, InTPS)
 *   and its --json parses; brokerConsumeStats shows the group's rows;
 * - printMsg prints every message (MSGID lines, bodies), -s TagA only those; printMsgByQueue -f
 *   counts tags; queryCq dumps the queue's entries; producerConnection lists the live producer;
 *   getConsumerConfig prints the group's config; allocateMQ splits the queues;
 * - sendMsgStatus, checkMsgSendRT, clusterRT send probes and report them;
 * - deleteExpiredCommitLog (fileReservedTime=0) deletes the first segment, cleanExpiredCQ then
 *   removes the queue whose messages were all in it; cleanUnusedTopic removes the ConsumeQueues
 *   of a topic whose config went away across a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/admin_internal.h"
#include "rmq/rmq_codes.h"
#include "test/integration/mqadmin_util.h"
#include "test/integration/sdk_util.h"

#define BROKER_EXTRA                                                                               \
    "mappedFileSizeCommitLog=65536\nfileReservedTime=0\ndeleteWhen=99\nbrokerName=bStats\n"

static char tmpdir[256], mqadmin[512];
static rmq_producer_t *prod;
static rmq_push_consumer_t *cons;
static su_counter_t cnt;

static json_t *ok_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *ok_json(const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out = mqa_ok("%s --json", args);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fprintf(stderr, "not JSON (%s): %s\n", je.text, out);
    assert_non_null(j);
    free(out);
    return j;
}

static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void send_ok(const char *topic, const char *tag, const char *body) {
    rmq_err_t e = RMQ_ERR__FAIL;
    for (int i = 0; i < 100 && e != RMQ_OK; i++) { /* route registration lag */
        rmq_msg_t *m = rmq_msg_new(topic, tag, NULL, (void *)body, strlen(body), RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        e = rmq_send_sync(prod, m, &r);
        rmq_msg_destroy(m);
        if (e != RMQ_OK) rmq_sleep_ms(200);
    }
    assert_int_equal(e, RMQ_OK);
}

static bool exists(const char *fmt, const char *arg) {
    char p[1024];
    snprintf(p, sizeof p, fmt, su_broker.dir, arg);
    struct stat st;
    return stat(p, &st) == 0;
}

static int setup(void **st) {
    assert_int_equal(rmq_mkdtemp("rmq-0303", tmpdir, sizeof tmpdir), 0);
    rmq_bin_path("mqadmin", mqadmin, sizeof mqadmin);
    mqa_bin = mqadmin;
    mqa_tmp = tmpdir;
    mqa_ns = su_ns.addr;
    assert_int_equal(su_start(BROKER_EXTRA), 0);
    char *out = mqa_ok("updateTopic -b %s -t StatsT -r 2 -w 2", su_broker.addr);
    free(out);
    free(mqa_ok("updateTopic -b %s -t OldT -r 1 -w 1", su_broker.addr));
    free(mqa_ok("updateTopic -b %s -t OrphanT -r 1 -w 1", su_broker.addr));
    assert_non_null(prod = su_producer("PG_STATS"));
    /* one message each for the housekeeping test, in the first CommitLog segment */
    send_ok("OldT", NULL, "old");
    send_ok("OrphanT", NULL, "orphan");
    for (int i = 0; i < 20; i++) {
        char body[32];
        snprintf(body, sizeof body, "id:%d", i);
        send_ok("StatsT", i % 2 ? "TagB" : "TagA", body);
    }
    su_counter_init(&cnt);
    assert_non_null(cons =
                        su_consumer("cgStats", "StatsT", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, NULL));
    assert_true(su_wait_all(&cnt, 20, 1, 60000));
    return 0;
}

static int teardown(void **st) {
    rmq_push_consumer_destroy(cons);
    rmq_producer_destroy(prod);
    su_stop();
    rmq_rm_rf(tmpdir);
    return 0;
}

static void test_help(void **st) {
    const char *cmds[] = {"statsAll",
                          "brokerConsumeStats",
                          "printMsg",
                          "printMsgByQueue",
                          "queryCq",
                          "sendMsgStatus",
                          "checkMsgSendRT",
                          "clusterRT",
                          "producerConnection",
                          "getConsumerConfig",
                          "allocateMQ",
                          "cleanExpiredCQ",
                          "cleanUnusedTopic",
                          "deleteExpiredCommitLog"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[128], *out, *err;
        snprintf(args, sizeof args, "%s -h", cmds[i]);
        assert_int_equal(mqa_run(&out, &err, args), 0);
        assert_non_null(strstr(out, "usage: mqadmin "));
        assert_non_null(strstr(out, cmds[i]));
        free(out);
        free(err);
    }
}

static void test_stats_all(void **st) {
    /* the counters move with the traffic: 20 in, 20 out (pulls count when they return) */
    char *out = NULL;
    const char *row = NULL;
    long long acc = -1, in24 = 0, out24 = 0;
    double in_tps = 0, out_tps = 0;
    for (int i = 0; i < 50; i++) {
        free(out);
        out = mqa_ok("statsAll -t StatsT");
        row = strstr(out, "cgStats");
        if (row &&
            sscanf(row + 7, "%lld %lf %lf %lld %lld", &acc, &in_tps, &out_tps, &in24, &out24) ==
                5 &&
            out24 >= 20)
            break;
        rmq_sleep_ms(200);
    }
    assert_non_null(strstr(out, "#Accumulation"));
    assert_non_null(row);
    assert_int_equal(in24, 20);
    assert_true(out24 >= 20);
    assert_true(in_tps > 0);
    assert_true(acc >= 0 && acc <= 20);
    free(out);
    json_t *j = ok_json("statsAll -t StatsT");
    assert_true(json_is_array(j));
    json_t *r = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(r, "topic")), "StatsT");
    assert_int_equal(json_integer_value(json_object_get(r, "inMsg24Hour")), 20);
    json_decref(j);
    /* -a skips a topic nobody used */
    free(mqa_ok("updateTopic -b %s -t IdleT", su_broker.addr));
    out = mqa_ok("statsAll -a");
    assert_null(strstr(out, "IdleT"));
    assert_non_null(strstr(out, "StatsT"));
    free(out);
    out = mqa_ok("statsAll");
    assert_non_null(strstr(out, "IdleT"));
    free(out);
}

static void test_broker_consume_stats(void **st) {
    char *out = NULL;
    for (int i = 0; i < 50; i++) { /* consumer offsets arrive with the client's next commit */
        free(out);
        out = mqa_ok("brokerConsumeStats -b %s", su_broker.addr);
        if (strstr(out, "cgStats") && strstr(out, "Diff Total: 0")) break;
        rmq_sleep_ms(200);
    }
    assert_non_null(strstr(out, "#Consumer Offset"));
    const char *row = strstr(out, "StatsT");
    assert_non_null(row);
    assert_non_null(strstr(row, "cgStats"));
    assert_non_null(strstr(out, "Diff Total: 0"));
    free(out);
    json_t *j = ok_json("brokerConsumeStats -b %s", su_broker.addr);
    assert_true(json_is_array(json_object_get(j, "consumeStatsList")));
    assert_int_equal(json_integer_value(json_object_get(j, "totalDiff")), 0);
    json_decref(j);
}

static void test_print_msg(void **st) {
    char *out = mqa_ok("printMsg -t StatsT");
    assert_int_equal(count_of(out, "MSGID: "), 20);
    assert_non_null(strstr(out, "BODY: id:7\n"));
    assert_int_equal(count_of(out, "minOffset=0, maxOffset=10, MessageQueue [topic=StatsT"), 2);
    free(out);
    out = mqa_ok("printMsg -t StatsT -s TagA -d false");
    assert_int_equal(count_of(out, "MSGID: "), 10);
    assert_int_equal(count_of(out, "BODY: NOT PRINT BODY"), 10);
    free(out);
    json_t *j = ok_json("printMsg -t StatsT");
    size_t n = 0, i;
    json_t *q;
    json_array_foreach(j, i, q) n += json_array_size(json_object_get(q, "messages"));
    assert_int_equal(n, 20);
    json_decref(j);
    /* per queue, tag statistics */
    long long a = 0, b = 0;
    for (int qid = 0; qid < 2; qid++) {
        out = mqa_ok("printMsgByQueue -t StatsT -a bStats -i %d -f true", qid);
        const char *ta = strstr(out, "Tag: TagA"), *tb = strstr(out, "Tag: TagB");
        long long x;
        if (ta && sscanf(ta + 9, " Count: %lld", &x) == 1) a += x;
        if (tb && sscanf(tb + 9, " Count: %lld", &x) == 1) b += x;
        assert_null(strstr(out, "MSGID"));
        free(out);
    }
    assert_int_equal(a, 10);
    assert_int_equal(b, 10);
    out = mqa_ok("printMsgByQueue -t StatsT -a bStats -i 0 -p true -d true");
    assert_true(count_of(out, "MSGID: ") > 0);
    free(out);
    char args[256], *e;
    snprintf(args, sizeof args, "printMsgByQueue -n %s -t StatsT -a nope -i 0", su_ns.addr);
    assert_int_equal(mqa_run(&out, &e, args), 1);
    assert_non_null(strstr(e, "no queue 0 on broker nope"));
    free(out);
    free(e);
}

static void test_query_cq(void **st) {
    char *out = mqa_ok("queryCq -t StatsT -q 0 -i 0 -c 3 -b %s", su_broker.addr);
    assert_non_null(strstr(out, "max: 10, min: 0"));
    assert_int_equal(count_of(out, "idx: "), 3);
    assert_non_null(strstr(out, "physicSize="));
    free(out);
    out = mqa_ok("queryCq -t StatsT -q 1 -i 0 -g cgStats");
    assert_non_null(strstr(out, "Subscription data"));
    assert_int_equal(count_of(out, "eval=true"), 10);
    free(out);
    json_t *j = ok_json("queryCq -t StatsT -q 0 -i 8 -c 5");
    assert_int_equal(json_array_size(json_object_get(j, "queueData")), 2);
    json_decref(j);
}

/* Malformed or unknown requests get an error with a remark; the broker keeps serving. */
static void test_bad_input(void **st) {
    rmq_conf_t *conf = rmq_conf_new();
    rmq_conf_set(conf, "namesrvAddr", su_ns.addr, NULL, 0);
    char e[256];
    rmq_admin_t *a = rmq_admin_new(conf, e, sizeof e);
    assert_non_null(a);
    struct {
        int code;
        const char *kv[9];
        const char *remark;
    } bad[] = {
        {RMQ_REQ_VIEW_BROKER_STATS_DATA, {"statsName", "TOPIC_PUT_NUMS", NULL}, "statsKey"},
        {RMQ_REQ_VIEW_BROKER_STATS_DATA,
         {"statsName", "NOPE", "statsKey", "StatsT", NULL},
         "not exist"},
        {RMQ_REQ_VIEW_BROKER_STATS_DATA,
         {"statsName", "TOPIC_PUT_NUMS", "statsKey", "NoSuchTopic", NULL},
         "not exist"},
        {RMQ_REQ_QUERY_CONSUME_QUEUE,
         {"topic", "StatsT", "queueId", "abc", "index", "0", NULL},
         "queueId"},
        {RMQ_REQ_QUERY_CONSUME_QUEUE,
         {"topic", "StatsT", "queueId", "7", "index", "0", NULL},
         "7@StatsT is not exist!"},
        {RMQ_REQ_GET_BROKER_CONSUME_STATS, {"isOrder", "maybe", NULL}, "isOrder"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rmq_admin_resp_t *r = NULL;
        assert_int_equal(
            rmq_admin_invoke(a, su_broker.addr, bad[i].code, bad[i].kv, NULL, 0, 0, &r), RMQ_OK);
        if (r->code == 0) fail_msg("bad request %zu (code %d) accepted", i, bad[i].code);
        assert_non_null(r->remark);
        if (!strstr(r->remark, bad[i].remark))
            fail_msg("request %zu: remark \"%s\" lacks \"%s\"", i, r->remark, bad[i].remark);
        rmq_admin_resp_destroy(r);
    }
    /* an index past the queue: an answer with the bounds and no entries */
    const char *kv[] = {"topic", "StatsT", "queueId", "0", "index", "99", NULL};
    rmq_admin_resp_t *r = NULL;
    assert_int_equal(
        rmq_admin_invoke(a, su_broker.addr, RMQ_REQ_QUERY_CONSUME_QUEUE, kv, NULL, 0, 0, &r),
        RMQ_OK);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->remark, "Index 99 of 0@StatsT is not exist!"));
    rmq_admin_resp_destroy(r);
    rmq_admin_destroy(a);
    char *out = mqa_ok("queryCq -t StatsT -q 0 -i 99");
    assert_non_null(strstr(out, "max: 10, min: 0"));
    assert_null(strstr(out, "idx: "));
    free(out);
    out = mqa_ok("statsAll -t StatsT"); /* still serving */
    assert_non_null(strstr(out, "cgStats"));
    free(out);
}

static void test_clients_and_config(void **st) {
    char *out = NULL;
    for (int i = 0; i < 50; i++) {
        free(out);
        out = mqa_ok("producerConnection -g PG_STATS -t StatsT");
        if (strstr(out, "0001  ")) break;
        rmq_sleep_ms(200);
    }
    assert_non_null(strstr(out, "0001  "));
    assert_non_null(strstr(out, "127.0.0.1"));
    free(out);
    out = mqa_ok("getConsumerConfig -g cgStats");
    assert_non_null(strstr(out, "TestCluster:bStats"));
    assert_non_null(strstr(out, "groupName"));
    assert_non_null(strstr(out, "=  cgStats"));
    assert_non_null(strstr(out, "retryMaxTimes"));
    free(out);
    out = mqa_ok("allocateMQ -t StatsT -i 10.0.0.1,10.0.0.2");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    json_t *res = json_object_get(j, "result");
    assert_int_equal(json_array_size(json_object_get(res, "10.0.0.1")), 1);
    assert_int_equal(json_array_size(json_object_get(res, "10.0.0.2")), 1);
    json_decref(j);
    free(out);
}

static void test_send_probes(void **st) {
    char *out = mqa_ok("sendMsgStatus -b bStats -c 3 -s 64");
    assert_int_equal(count_of(out, "sendStatus=SEND_OK"), 3);
    assert_int_equal(count_of(out, "rt="), 3);
    free(out);
    out = mqa_ok("checkMsgSendRT -t StatsT -a 4 -s 32");
    assert_int_equal(count_of(out, "  true "), 4);
    assert_non_null(strstr(out, "Avg RT: "));
    free(out);
    setenv("RMQ_CLUSTERRT_ROUNDS", "1", 1);
    out = mqa_ok("clusterRT -a 3 -s 16");
    const char *row = strstr(out, "TestCluster");
    assert_non_null(row);
    double rt;
    int okc, fail;
    assert_int_equal(sscanf(row, "TestCluster bStats %lf %d %d", &rt, &okc, &fail), 3);
    assert_int_equal(okc, 3);
    assert_int_equal(fail, 0);
    free(out);
    char args[256], *e;
    snprintf(args, sizeof args, "sendMsgStatus -n %s -b noSuchBroker -c 1", su_ns.addr);
    assert_int_equal(mqa_run(&out, &e, args), 1);
    assert_non_null(strstr(e, "topic noSuchBroker does not exist"));
    free(out);
    free(e);
}

static void test_housekeeping(void **st) {
    /* fill past the first 64 KB segment */
    char big[1024];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 80; i++) send_ok("StatsT", "TagC", big);
    assert_true(exists("%s/store/consumequeue/%s/0", "OldT"));
    assert_true(exists("%s/store/commitlog/%s", "00000000000000000000"));
    char *out = mqa_ok("deleteExpiredCommitLog -b %s", su_broker.addr);
    assert_non_null(strstr(out, "success"));
    free(out);
    for (int i = 0; i < 100 && exists("%s/store/commitlog/%s", "00000000000000000000"); i++)
        rmq_sleep_ms(100);
    assert_false(exists("%s/store/commitlog/%s", "00000000000000000000"));
    out = mqa_ok("cleanExpiredCQ -c TestCluster");
    assert_non_null(strstr(out, "success"));
    int n = 0;
    const char *r = strstr(out, ": ");
    assert_non_null(r);
    assert_int_equal(sscanf(r, ": %d expired ConsumeQueue(s) removed", &n), 1);
    assert_true(n >= 2); /* OldT's and OrphanT's queues at least */
    free(out);
    assert_false(exists("%s/store/consumequeue/%s/0", "OldT"));
    assert_true(exists("%s/store/consumequeue/%s/0", "StatsT")); /* has newer messages */

    /* a topic whose config is gone but whose ConsumeQueues are on disk */
    free(mqa_ok("updateTopic -b %s -t GhostT -r 1 -w 1", su_broker.addr));
    send_ok("GhostT", NULL, "ghost");
    assert_int_equal(rmq_proc_stop(&su_broker, SIGTERM), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/store/config/topics.json", su_broker.dir);
    json_error_t je;
    json_t *tj = json_load_file(path, 0, &je);
    assert_non_null(tj);
    assert_int_equal(json_object_del(json_object_get(tj, "topicConfigTable"), "GhostT"), 0);
    assert_int_equal(json_dump_file(tj, path, JSON_COMPACT), 0);
    json_decref(tj);
    assert_int_equal(rmq_start_broker(&su_broker, su_ns.addr, BROKER_EXTRA), 0);
    assert_true(exists("%s/store/consumequeue/%s", "GhostT"));
    for (int i = 0; i < 100; i++) { /* wait for the broker to register again */
        char *e;
        char args[256];
        snprintf(args, sizeof args, "cleanUnusedTopic -n %s -c TestCluster", su_ns.addr);
        int rc = mqa_run(&out, &e, args);
        free(e);
        if (rc == 0 && strstr(out, "ConsumeQueues of 1 unused")) break;
        free(out);
        out = NULL;
        rmq_sleep_ms(200);
    }
    assert_non_null(out);
    assert_non_null(strstr(out, "success"));
    free(out);
    assert_false(exists("%s/store/consumequeue/%s", "GhostT"));
    assert_true(exists("%s/store/consumequeue/%s/0", "StatsT"));
    json_t *j = ok_json("cleanUnusedTopic -b %s", su_broker.addr);
    assert_true(json_is_true(json_object_get(j, "result")));
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_stats_all),
        cmocka_unit_test(test_broker_consume_stats),
        cmocka_unit_test(test_print_msg),
        cmocka_unit_test(test_query_cq),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_clients_and_config),
        cmocka_unit_test(test_send_probes),
        cmocka_unit_test(test_housekeeping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
