/* mqadmin as a new operator meets it (issue 13), against a real NameServer + broker:
 * - `<cmd> -h` prints the command's usage (exit 0) even when required options are missing;
 *   a missing option names itself and what to pass;
 * - clusterList on an empty store prints #Hour 0.00, not the hours since 1970;
 * - resetOffsetByTime on a group that never committed (no consumer online) works, and then
 *   consumerProgress shows its rows; a group with no offsets anywhere gets a hint;
 * - queryMsgById takes the id sendMessage prints (a client UNIQ_KEY) without -t, and an
 *   offset msg id too; so does the SDK's rmq_query_by_id with no topic;
 * - the SDK's offline reset returns OK and clears rmq_admin_last_error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "client/admin_internal.h"
#include "rmq/rmq.h"
#include "test/integration/harness.h"
#include "test/integration/mqadmin_util.h"

static rmq_proc_t ns, br;
static char tmpdir[256], mqadmin[512];

static int setup(void **st) {
    assert_int_equal(rmq_mkdtemp("rmq-0302", tmpdir, sizeof tmpdir), 0);
    setenv("TMPDIR", tmpdir, 1); /* queryMsgById writes bodies under $TMPDIR/rocketmq */
    rmq_bin_path("mqadmin", mqadmin, sizeof mqadmin);
    mqa_bin = mqadmin;
    mqa_tmp = tmpdir;
    mqa_ns = ns.addr;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    return 0;
}

static int teardown(void **st) {
    rmq_proc_stop(&br, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    rmq_rm_rf(tmpdir);
    return 0;
}

static void test_help_and_missing(void **st) {
    const char *cmds[] = {"updateTopic",      "resetOffsetByTime", "queryMsgById",
                          "consumerProgress", "sendMessage",       "clusterList"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[128], *out, *err;
        snprintf(args, sizeof args, "%s -h", cmds[i]);
        assert_int_equal(mqa_run(&out, &err, args), 0);
        assert_non_null(strstr(out, "usage: mqadmin "));
        assert_non_null(strstr(out, cmds[i]));
        assert_string_equal(err, "");
        free(out);
        free(err);
    }
    char *out, *err;
    char args[256];
    snprintf(args, sizeof args, "updateTopic -n %s -c DefaultCluster", ns.addr);
    assert_int_equal(mqa_run(&out, &err, args), 1);
    assert_non_null(strstr(err, "-t <topic>"));
    free(out);
    free(err);
}

static void test_cluster_list_empty_store(void **st) {
    char *out = NULL;
    for (int i = 0; i < 50; i++) {
        free(out);
        out = mqa_ok("clusterList");
        if (strstr(out, br.addr)) break;
        rmq_sleep_ms(200);
    }
    const char *row = strstr(out, br.addr);
    assert_non_null(row);
    /* columns after the address: version, in, out, pcwait, hour, space */
    char ver[32], in[64], outs[64];
    long pc;
    double hour, space;
    assert_int_equal(sscanf(row + strlen(br.addr), "%31s %63s %63s %ld %lf %lf", ver, in, outs, &pc,
                            &hour, &space),
                     6);
    assert_true(hour == 0.0);
    free(out);
}

static void test_offline_group_reset_progress_and_ids(void **st) {
    free(mqa_ok("updateTopic -b %s -t FirstHour -r 2 -w 2", br.addr));
    char *out = NULL;
    for (int i = 0; i < 50; i++) { /* route registration lag */
        free(out);
        char *err;
        char args[512];
        snprintf(args, sizeof args, "sendMessage -n %s -t FirstHour -p hello", ns.addr);
        int rc = mqa_run(&out, &err, args);
        free(err);
        if (rc == 0 && strstr(out, "SEND_OK")) break;
        rmq_sleep_ms(200);
    }
    assert_non_null(strstr(out, "SEND_OK"));
    /* the last column is the msgId (a client UNIQ_KEY) */
    char id[80] = "";
    const char *l = strstr(out, "SEND_OK");
    assert_int_equal(sscanf(l, "SEND_OK %79s", id), 1);
    free(out);

    /* a UNIQ_KEY is found through the IndexFile, which the dispatcher builds after SEND_OK (as
     * in RocketMQ): wait for it on a loaded host */
    out = NULL;
    for (int i = 0; i < 50; i++) {
        free(out);
        char *err;
        char args[512];
        snprintf(args, sizeof args, "queryMsgById -n %s -i %s", ns.addr, id);
        int rc = mqa_run(&out, &err, args);
        free(err);
        if (rc == 0 && strstr(out, "FirstHour")) break;
        rmq_sleep_ms(100);
    }
    assert_non_null(strstr(out, "FirstHour"));
    char offid[80] = "";
    const char *o = strstr(out, "OffsetID:");
    assert_non_null(o);
    assert_int_equal(sscanf(o, "OffsetID: %79s", offid), 1);
    free(out);
    out = mqa_ok("queryMsgById -i %s", offid); /* the offset id works too */
    assert_non_null(strstr(out, "FirstHour"));
    free(out);

    /* a group nobody started: no offsets, no retry topic */
    char args[512], *err;
    snprintf(args, sizeof args, "consumerProgress -n %s -g cgFresh", ns.addr);
    assert_int_equal(mqa_run(&out, &err, args), 1);
    assert_non_null(strstr(err, "resetOffsetByTime"));
    free(out);
    free(err);
    out = mqa_ok("resetOffsetByTime -g cgFresh -t FirstHour -s 0");
    assert_non_null(strstr(out, "#offset"));
    free(out);
    out = mqa_ok("consumerProgress -g cgFresh");
    assert_non_null(strstr(out, "FirstHour"));
    assert_non_null(strstr(out, "Diff Total: 1"));
    free(out);

    /* SDK: the offline reset is OK and leaves no stale error text */
    rmq_conf_t *conf = rmq_conf_new();
    rmq_conf_set(conf, "namesrvAddr", ns.addr, NULL, 0);
    char e[256];
    rmq_admin_t *a = rmq_admin_new(conf, e, sizeof e);
    assert_non_null(a);
    assert_int_equal(rmq_reset_offset_by_time(a, "cgFresh2", "FirstHour", 0), RMQ_OK);
    assert_string_equal(rmq_admin_last_error(a), "");
    /* the SDK's look-up by the id a send returns, without its topic */
    rmq_msg_t *m = NULL;
    assert_int_equal(rmq_query_by_id(a, NULL, id, &m), RMQ_OK);
    assert_string_equal(rmq_msg_topic(m), "FirstHour");
    rmq_msg_destroy(m);
    assert_int_equal(rmq_query_by_id(a, NULL, "0123456789ABCDEF0123456789ABCDEF", &m),
                     RMQ_ERR_QUERY_NOT_FOUND);
    assert_non_null(strstr(rmq_admin_last_error(a), "0123456789ABCDEF0123456789ABCDEF"));
    rmq_admin_destroy(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_missing),
        cmocka_unit_test(test_cluster_list_empty_store),
        cmocka_unit_test(test_offline_group_reset_progress_and_ids),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
