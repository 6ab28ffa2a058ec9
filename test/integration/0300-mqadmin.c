/* mqadmin and mqbench end to end: a real NameServer + broker, the built binaries run with
 * popen, their column output and --json output checked, errors checked to be one stderr line
 * with a non-zero exit. A group's offsets are made with raw HEART_BEAT / UPDATE_CONSUMER_OFFSET
 * through the admin API so the test does not depend on the push consumer. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "client/admin_internal.h"
#include "rmq/rmq.h"
#include "rmq/rmq_codes.h"
#include "test/integration/harness.h"

static rmq_proc_t ns, br;
static char tmpdir[256];
static char mqadmin[512], mqbench[512];
static char broker_name[64];

/* Run a shell command line; stdout and stderr into new strings; returns the exit status. */
static int run(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char **out, char **err, const char *fmt, ...) {
    char cmd[4096], errf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmpdir);
    char full[4600];
    snprintf(full, sizeof full, "%s 2>%s", cmd, errf);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    FILE *f = fopen(errf, "r");
    char *eb = calloc(1, 8192);
    if (f) {
        size_t en = fread(eb, 1, 8191, f);
        eb[en] = 0;
        fclose(f);
    }
    if (out)
        *out = buf;
    else
        free(buf);
    if (err)
        *err = eb;
    else
        free(eb);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* mqadmin with -n; asserts exit 0 and an empty stderr; returns stdout. */
static char *admin_ok(const char *args) {
    char *out, *err;
    int rc = run(&out, &err, "%s %s -n %s", mqadmin, args, ns.addr);
    if (rc != 0 || err[0]) fprintf(stderr, "mqadmin %s -> rc %d, stderr: %s\n", args, rc, err);
    assert_int_equal(rc, 0);
    assert_string_equal(err, "");
    free(err);
    return out;
}

/* Retry a command until its stdout contains needle (index / route registration lag). */
static char *admin_until(const char *args, const char *needle) {
    for (int i = 0; i < 50; i++) {
        char *out = NULL, *err = NULL;
        int rc = run(&out, &err, "%s %s -n %s", mqadmin, args, ns.addr);
        free(err);
        if (rc == 0 && strstr(out, needle)) return out;
        free(out);
        rmq_sleep_ms(200);
    }
    fail_msg("mqadmin %s never printed %s", args, needle);
    return NULL;
}

/* One stderr line, non-zero exit. */
static void admin_fails(const char *args_with_ns) {
    char *out, *err;
    int rc = run(&out, &err, "%s %s", mqadmin, args_with_ns);
    if (rc == 0 || count_lines(err) != 1)
        fprintf(stderr, "mqadmin %s -> rc %d, stderr: [%s]\n", args_with_ns, rc, err);
    assert_int_not_equal(rc, 0);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "mqadmin"));
    free(out);
    free(err);
}

static json_t *parse(const char *s) {
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j) fprintf(stderr, "bad JSON (%s): %s\n", je.text, s);
    assert_non_null(j);
    return j;
}

static int setup(void **st) {
    (void)st;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    snprintf(broker_name, sizeof broker_name, "broker-%d", br.port);
    rmq_bin_path("mqadmin", mqadmin, sizeof mqadmin);
    rmq_bin_path("mqbench", mqbench, sizeof mqbench);
    assert_int_equal(rmq_mkdtemp("rmq-0300", tmpdir, sizeof tmpdir), 0);
    /* queryMsgById writes bodies under $TMPDIR/rocketmq: keep them in our temp dir */
    setenv("TMPDIR", tmpdir, 1);
    /* wait until the broker is in the cluster table */
    char *out = admin_until("clusterList", broker_name);
    free(out);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    rmq_rm_rf(tmpdir);
    return 0;
}

static void test_topics_and_cluster(void **st) {
    (void)st;
    char *out = admin_ok("updateTopic -c TestCluster -t TopicA -r 4 -w 4");
    char want[200];
    snprintf(want, sizeof want, "create topic to %s success.", br.addr);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "TopicConfig [topicName=TopicA, readQueueNums=4"));
    free(out);

    out = admin_until("topicList", "TopicA\n");
    free(out);
    out = admin_ok("topicList --json");
    json_t *j = parse(out);
    json_t *tl = json_object_get(j, "topicList");
    bool found = false;
    for (size_t i = 0; i < json_array_size(tl); i++)
        found |= strcmp(json_string_value(json_array_get(tl, i)), "TopicA") == 0;
    assert_true(found);
    json_decref(j);
    free(out);

    out = admin_ok("topicRoute -t TopicA");
    j = parse(out);
    json_t *qd = json_array_get(json_object_get(j, "queueDatas"), 0);
    assert_int_equal(json_integer_value(json_object_get(qd, "writeQueueNums")), 4);
    assert_int_equal(json_integer_value(json_object_get(qd, "readQueueNums")), 4);
    json_t *bd = json_array_get(json_object_get(j, "brokerDatas"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"), "0")),
                        br.addr);
    json_decref(j);
    free(out);

    out = admin_ok("topicRoute -t TopicA -l");
    assert_true(strncmp(out, "#ClusterName", 12) == 0);
    assert_non_null(strstr(out, broker_name));
    free(out);

    out = admin_ok("topicStatus -t TopicA");
    assert_true(strncmp(out, "#Broker Name                      #QID  #Min Offset", 50) == 0);
    assert_int_equal(count_lines(out), 5);
    free(out);
    out = admin_ok("topicStatus -t TopicA --json");
    j = parse(out);
    assert_int_equal(json_array_size(j), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 3), "queueId")), 3);
    json_decref(j);
    free(out);

    /* clusterList: header and one row per broker address in the fixed-width layout */
    out = admin_ok("clusterList");
    assert_true(strncmp(out, "#Cluster Name     #Broker Name            #BID  #Addr", 52) == 0);
    char *row = strchr(out, '\n') + 1;
    char cl[64], bn[64], bid[16], addr[64], ver[32];
    assert_int_equal(sscanf(row, "%63s %63s %15s %63s %31s", cl, bn, bid, addr, ver), 5);
    assert_string_equal(cl, "TestCluster");
    assert_string_equal(bn, broker_name);
    assert_string_equal(bid, "0");
    assert_string_equal(addr, br.addr);
    assert_int_equal(row[18], bn[0]); /* %-16s then two spaces */
    free(out);
    out = admin_ok("clusterList --json");
    j = parse(out);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "addr")), br.addr);
    json_decref(j);
    free(out);
    out = admin_ok("clusterList -m");
    assert_non_null(strstr(out, "#InTotalYest"));
    free(out);

    /* brokerStatus: "%-32s: %s" per key */
    snprintf(want, sizeof want, "brokerStatus -b %s", br.addr);
    out = admin_ok(want);
    assert_non_null(strstr(out, "brokerVersionDesc               : "));
    free(out);
    snprintf(want, sizeof want, "brokerStatus -b %s --json", br.addr);
    out = admin_ok(want);
    j = parse(out);
    assert_non_null(json_object_get(j, "brokerVersionDesc"));
    json_decref(j);
    free(out);

    out = admin_ok("updateSubGroup -c TestCluster -g GroupSub1 -r 3");
    assert_non_null(strstr(out, "success."));
    assert_non_null(strstr(out, "retryMaxTimes=3"));
    free(out);
}

static char msg_id[80], offset_id[80];
static int msg_qid;
static long long msg_off;

static void test_messages(void **st) {
    (void)st;
    char *out = admin_ok("sendMessage -t TopicA -p hello-0300 -k KEY0300 -c TagA --json");
    json_t *j = parse(out);
    assert_string_equal(json_string_value(json_object_get(j, "sendStatus")), "SEND_OK");
    snprintf(msg_id, sizeof msg_id, "%s", json_string_value(json_object_get(j, "msgId")));
    snprintf(offset_id, sizeof offset_id, "%s",
             json_string_value(json_object_get(j, "offsetMsgId")));
    msg_qid = (int)json_integer_value(json_object_get(j, "queueId"));
    msg_off = json_integer_value(json_object_get(j, "queueOffset"));
    assert_int_equal(strlen(msg_id), 32);
    json_decref(j);
    free(out);

    out = admin_ok("sendMessage -t TopicA -p second");
    assert_true(strncmp(out, "#Broker Name", 12) == 0);
    assert_non_null(strstr(out, "SEND_OK"));
    free(out);

    out = admin_until("queryMsgByKey -t TopicA -k KEY0300", msg_id);
    assert_true(strncmp(out, "#Message ID", 11) == 0);
    free(out);

    char args[300];
    snprintf(args, sizeof args, "queryMsgById -i %s", offset_id);
    out = admin_ok(args);
    assert_non_null(strstr(out, "Topic:               TopicA"));
    assert_non_null(strstr(out, "Keys:                [KEY0300]"));
    assert_non_null(strstr(out, "Tags:                [TagA]"));
    assert_non_null(strstr(out, msg_id)); /* in Properties (UNIQ_KEY) */
    free(out);

    snprintf(args, sizeof args, "queryMsgByUniqueKey -t TopicA -i %s", msg_id);
    out = admin_until(args, offset_id);
    free(out);

    snprintf(args, sizeof args, "queryMsgByOffset -t TopicA -b %s -i %d -o %lld", broker_name,
             msg_qid, msg_off);
    out = admin_ok(args);
    assert_non_null(strstr(out, msg_id));
    free(out);

    out = admin_ok("consumeMessage -t TopicA -c 10");
    assert_non_null(strstr(out, "BODY: hello-0300"));
    assert_non_null(strstr(out, "BODY: second"));
    free(out);
    out = admin_ok("consumeMessage -t TopicA -c 10 --json");
    j = parse(out);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    free(out);
}

static void test_consumer_group(void **st) {
    (void)st;
    /* a consumer group member: one heartbeat over the admin's connection, then a commit */
    rmq_conf_t *c = rmq_conf_new();
    char err[200];
    assert_int_equal(rmq_conf_set(c, "namesrvAddr", ns.addr, err, sizeof err), RMQ_CONF_OK);
    rmq_admin_t *a = rmq_admin_new(c, err, sizeof err);
    assert_non_null(a);
    const char *hb =
        "{\"clientID\":\"127.0.0.1@test0300\",\"consumerDataSet\":[{\"consumeFromWhere\":"
        "\"CONSUME_FROM_FIRST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":"
        "\"G0300\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{\"classFilterMode\":"
        "false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\",\"subVersion\":1,"
        "\"tagsSet\":[],\"topic\":\"TopicA\"}],\"unitMode\":false}],\"producerDataSet\":[]}";
    rmq_admin_resp_t *r = NULL;
    assert_int_equal(rmq_admin_invoke(a, br.addr, RMQ_REQ_HEART_BEAT, NULL, hb, strlen(hb), 0, &r),
                     RMQ_OK);
    assert_int_equal(r->code, 0);
    rmq_admin_resp_destroy(r);
    /* every queue gets an offset (a reset needs one per queue); ours is past the message */
    for (int q = 0; q < 4; q++) {
        char qid[16], off[24];
        snprintf(qid, sizeof qid, "%d", q);
        snprintf(off, sizeof off, "%lld", q == msg_qid ? msg_off + 1 : 0);
        const char *kv[] = {"consumerGroup", "G0300", "topic", "TopicA", "queueId", qid,
                            "commitOffset",  off,     NULL};
        assert_int_equal(
            rmq_admin_invoke(a, br.addr, RMQ_REQ_UPDATE_CONSUMER_OFFSET, kv, NULL, 0, 0, &r),
            RMQ_OK);
        assert_int_equal(r->code, 0);
        rmq_admin_resp_destroy(r);
    }

    char *out = admin_until("consumerProgress -g G0300", "Diff Total:");
    assert_true(strncmp(out, "#Topic", 6) == 0);
    assert_non_null(strstr(out, "TopicA"));
    assert_non_null(strstr(out, "Consume TPS:"));
    free(out);
    out = admin_ok("consumerProgress -g G0300 --json");
    json_t *j = parse(out);
    json_t *qs = json_object_get(j, "queues");
    bool committed = false;
    for (size_t i = 0; i < json_array_size(qs); i++) {
        json_t *q = json_array_get(qs, i);
        if (strcmp(json_string_value(json_object_get(q, "topic")), "TopicA") == 0 &&
            json_integer_value(json_object_get(q, "queueId")) == msg_qid)
            committed = json_integer_value(json_object_get(q, "consumerOffset")) == msg_off + 1;
    }
    assert_true(committed);
    json_decref(j);
    free(out);

    out = admin_ok("consumerProgress");
    assert_true(strncmp(out, "#Group", 6) == 0);
    assert_non_null(strstr(out, "G0300"));
    free(out);

    out = admin_ok("consumerConnection -g G0300");
    assert_non_null(strstr(out, "127.0.0.1@test0300"));
    assert_non_null(strstr(out, "#Topic"));
    free(out);

    /* online member: the broker computes the reset */
    out = admin_ok("resetOffsetByTime -g G0300 -t TopicA -s 0");
    assert_non_null(strstr(out, "rollback consumer offset by specified group[G0300]"));
    assert_non_null(strstr(out, "#brokerName"));
    free(out);

    /* member gone: CONSUMER_NOT_ONLINE, the tool's own fallback writes the offsets */
    rmq_admin_destroy(a);
    rmq_sleep_ms(300);
    out = admin_ok("resetOffsetByTime -g G0300 -t TopicA -s 0 -f true");
    assert_non_null(strstr(out, "#brokerName"));
    free(out);
    out = admin_ok("consumerProgress -g G0300 --json");
    j = parse(out);
    qs = json_object_get(j, "queues");
    bool reset = false;
    for (size_t i = 0; i < json_array_size(qs); i++) {
        json_t *q = json_array_get(qs, i);
        if (strcmp(json_string_value(json_object_get(q, "topic")), "TopicA") == 0 &&
            json_integer_value(json_object_get(q, "queueId")) == msg_qid)
            reset = json_integer_value(json_object_get(q, "consumerOffset")) == 0;
    }
    assert_true(reset);
    json_decref(j);
    free(out);
}

static void test_errors(void **st) {
    (void)st;
    char args[400];
    snprintf(args, sizeof args, "topicList -n %s --bogus", ns.addr);
    admin_fails(args);
    snprintf(args, sizeof args, "updateTopic -n %s -c TestCluster", ns.addr); /* no -t */
    admin_fails(args);
    snprintf(args, sizeof args, "topicList -n 127.0.0.1:%d", rmq_free_port());
    admin_fails(args);
    snprintf(args, sizeof args, "topicRoute -n %s -t NoSuchTopic0300", ns.addr);
    admin_fails(args);
    snprintf(args, sizeof args, "topicStatus -n %s -t NoSuchTopic0300", ns.addr);
    admin_fails(args);
    snprintf(args, sizeof args, "noSuchCommand -n %s", ns.addr);
    admin_fails(args);
    /* bare mqadmin lists the commands */
    char *out;
    assert_int_equal(run(&out, NULL, "%s", mqadmin), 0);
    assert_non_null(strstr(out, "The most commonly used mqadmin commands are:"));
    assert_non_null(strstr(out, "   updateTopic          "));
    free(out);
}

/* Fields of a [Complete] line: "Name: value | ..." -> value of name. */
static double field(const char *line, const char *name) {
    const char *p = strstr(line, name);
    assert_non_null(p);
    return strtod(p + strlen(name), NULL);
}

static void test_mqbench(void **st) {
    (void)st;
    char *out = admin_ok("updateTopic -c TestCluster -t Bench0300 -r 4 -w 4");
    free(out);
    out = admin_until("topicList", "Bench0300\n");
    free(out);
    char *err;
    int rc =
        run(&out, &err, "%s producer -n %s -t Bench0300 -w 2 -s 128 -q 2000", mqbench, ns.addr);
    assert_int_equal(rc, 0);
    const char *line = strstr(out, "[Complete] Send Total: ");
    assert_non_null(line);
    assert_int_equal((int)field(line, "Send Total: "), 2000);
    assert_true(field(line, "Send TPS: ") > 0);
    assert_true(field(line, "p99(ms): ") >= field(line, "p50(ms): "));
    assert_int_equal((int)field(line, "Send Failed: "), 0);
    assert_int_equal((int)field(line, "Response Failed: "), 0);
    free(out);
    free(err);

    rc = run(&out, &err, "%s producer -n %s -t Bench0300 -w 1 -y --window 64 -b 10 -q 1000",
             mqbench, ns.addr);
    assert_int_equal(rc, 0);
    line = strstr(out, "[Complete] Send Total: ");
    assert_non_null(line);
    assert_int_equal((int)field(line, "Send Total: "), 1000);
    free(out);
    free(err);

    rc = run(&out, &err, "%s rtt -n %s -t Bench0300 -q 500", mqbench, ns.addr);
    assert_int_equal(rc, 0);
    line = strstr(out, "[Complete] RTT Total: ");
    assert_non_null(line);
    assert_int_equal((int)field(line, "RTT Total: "), 500);
    free(out);
    free(err);

    rc = run(&out, &err, "%s consumer -n %s -t Bench0300 -g BenchG0300 -q 3000 --seconds 60",
             mqbench, ns.addr);
    if (strstr(err, "no push consumer")) {
        free(out);
        free(err);
        skip(); /* librmq without its push consumer yet */
    }
    if (rc != 0) fprintf(stderr, "consumer rc %d: %s\n%s\n", rc, err, out);
    assert_int_equal(rc, 0);
    line = strstr(out, "[Complete] Consume Total: ");
    assert_non_null(line);
    assert_int_equal((int)field(line, "Consume Total: "), 3000);
    assert_true(field(line, "Consume TPS: ") > 0);
    free(out);
    free(err);

    /* end to end at a fixed rate: every one of rate x seconds messages reaches the listener
     * once (the count is exact on a healthy run; 2 % slack as the brief allows) */
    rc = run(&out, &err, "%s e2e -n %s -t Bench0300 --rate 200 --seconds 3", mqbench, ns.addr);
    if (rc != 0) fprintf(stderr, "e2e rc %d: %s\n%s\n", rc, err, out);
    assert_int_equal(rc, 0);
    line = strstr(out, "[Complete] E2E Total: ");
    assert_non_null(line);
    double total = field(line, "E2E Total: ");
    assert_true(total >= 588 && total <= 612);
    assert_int_equal((int)field(line, "Target Rate: "), 200);
    assert_true(field(line, "Pub rate: ") > 0);
    assert_true(field(line, "p99(ms): ") >= field(line, "p50(ms): "));
    assert_true(field(line, "Max(ms): ") >= field(line, "p999(ms): "));
    assert_int_equal((int)field(line, "Send Failed: "), 0);
    assert_int_equal((int)field(line, "Missing: "), 0);
    assert_int_equal((int)field(line, "Duplicates: "), 0);
    free(out);
    free(err);

    rc = run(&out, &err, "%s e2e -n %s -t Bench0300 --rate 0", mqbench, ns.addr);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "--rate needs a number"));
    free(out);
    free(err);

    rc = run(&out, &err, "%s producer -n %s --bogus", mqbench, ns.addr);
    assert_int_not_equal(rc, 0);
    assert_int_equal(count_lines(err), 1);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_and_cluster),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_consumer_group),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mqbench),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
