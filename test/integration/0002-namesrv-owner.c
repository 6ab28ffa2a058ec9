/* A live broker's registration belongs to the connection and host that made it: against a real
 * mqnamesrv, raw frames from 127.0.0.1 (the broker's host) and 127.0.0.2 (another host).
 * Another host can neither replace the registration (REGISTER_BROKER of the same cluster, name
 * and id with its own address, or claiming the live address) nor remove it (UNREGISTER_BROKER):
 * NO_PERMISSION with a remark, a WARN in the log, the route unchanged. The broker's own host
 * over a new connection (a restart) re-registers at once; its unregister is honoured (INFO).
 * Once the holder expires (a NameServer with a 1.5 s brokerChannelExpiredTime), another host
 * may take the name. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/util.h"
#include "rmq/rmq_codes.h"
#include "test/integration/harness.h"
#include "test/integration/raw_frame.h"

#define HOME "127.0.0.1"
#define OTHER "127.0.0.2"

static rmq_proc_t ns, ns_short;

static rmq_rem_cmd_t *reg_req(const char *addr, int unregister) {
    static const char body[] =
        "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":"
        "{\"counter\":1,\"timestamp\":1700000000000},\"topicConfigTable\":{\"OwnT\":"
        "{\"perm\":6,\"readQueueNums\":4,\"topicName\":\"OwnT\",\"writeQueueNums\":4}}}}";
    rmq_rem_cmd_t *req =
        rmq_rem_cmd_new_request(unregister ? RMQ_REQ_UNREGISTER_BROKER : RMQ_REQ_REGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-own");
    rmq_rem_cmd_set(req, "brokerAddr", addr);
    rmq_rem_cmd_set(req, "clusterName", "OwnCluster");
    rmq_rem_cmd_set_i64(req, "brokerId", 0);
    if (!unregister) {
        rmq_rem_cmd_set(req, "haServerAddr", addr);
        rmq_rem_cmd_set_bool(req, "compressed", false);
        rmq_rem_cmd_set_body_copy(req, body, sizeof body - 1);
    }
    return req;
}

/* Response code of (un)registering addr over fd; remark copied to remark (may be NULL). */
static int call_code(int fd, rmq_rem_cmd_t *req, char *remark, size_t n) {
    rmq_rem_cmd_t *resp = raw_call(fd, req);
    assert_non_null(resp);
    int code = resp->code;
    if (remark) rmq_strlcpy(remark, resp->remark ? resp->remark : "", n);
    rmq_rem_cmd_destroy(resp);
    return code;
}

/* The broker address routed for OwnT, "" when the topic has no route. */
static void routed(int port, char *out, size_t n) {
    int fd = raw_connect_from(HOME, port);
    assert_true(fd >= 0);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    rmq_rem_cmd_set(req, "topic", "OwnT");
    rmq_rem_cmd_t *resp = raw_call(fd, req);
    close(fd);
    assert_non_null(resp);
    out[0] = '\0';
    if (getenv("RMQ_TEST_VERBOSE"))
        fprintf(stderr, "route code %d: %.*s\n", resp->code, (int)resp->body_len,
                (const char *)resp->body);
    if (resp->code == 0 && resp->body_len) {
        char body[4096];
        size_t len = resp->body_len < sizeof body - 1 ? resp->body_len : sizeof body - 1;
        memcpy(body, resp->body, len);
        body[len] = '\0';
        char *p = strstr(body, "\"0\":\"");
        if (p) {
            p += 5;
            size_t k = strcspn(p, "\"");
            snprintf(out, n, "%.*s", (int)k, p);
        }
    }
    rmq_rem_cmd_destroy(resp);
}

static bool log_has(const rmq_proc_t *p, const char *needle) {
    FILE *f = fopen(p->log, "r");
    if (!f) return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_owner(void **state) {
    char remark[512], addr[128];
    int a = raw_connect_from(HOME, ns.port), b = raw_connect_from(OTHER, ns.port);
    if (b < 0) skip(); /* no 127.0.0.2 on this loopback */
    assert_true(a >= 0);
    assert_int_equal(call_code(a, reg_req("127.0.0.1:30911", 0), NULL, 0), 0);
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "127.0.0.1:30911");

    /* another host: replace by name and id, claim the address, unregister: all refused */
    assert_int_equal(call_code(b, reg_req("127.0.0.2:30911", 0), remark, sizeof remark),
                     RMQ_ERR_NO_PERMISSION);
    assert_non_null(strstr(remark, "127.0.0.1:30911 is live"));
    assert_int_equal(call_code(b, reg_req("127.0.0.1:30911", 0), remark, sizeof remark),
                     RMQ_ERR_NO_PERMISSION);
    assert_int_equal(call_code(b, reg_req("127.0.0.1:30911", 1), remark, sizeof remark),
                     RMQ_ERR_NO_PERMISSION);
    assert_non_null(strstr(remark, "unregister refused"));
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "127.0.0.1:30911");

    /* the broker's host over a new connection (a restart): accepted at once, even while the
     * first connection is still open; closing the first one then leaves the route alone */
    int a2 = raw_connect_from(HOME, ns.port);
    assert_true(a2 >= 0);
    assert_int_equal(call_code(a2, reg_req("127.0.0.1:30911", 0), NULL, 0), 0);
    close(a);
    rmq_sleep_ms(300);
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "127.0.0.1:30911");

    /* its own unregister is honoured; then the other host may register the name */
    assert_int_equal(call_code(a2, reg_req("127.0.0.1:30911", 1), NULL, 0), 0);
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "");
    assert_int_equal(call_code(b, reg_req("127.0.0.2:30911", 0), NULL, 0), 0);
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "127.0.0.2:30911");
    close(a2);
    close(b);
    rmq_sleep_ms(300); /* b's close removed its registration */
    routed(ns.port, addr, sizeof addr);
    assert_string_equal(addr, "");

    assert_true(log_has(&ns, " WARN "));
    assert_true(log_has(&ns, "register refused: broker 127.0.0.1:30911 is live"));
    assert_true(log_has(&ns, "unregister refused"));
    assert_true(log_has(&ns, "from 127.0.0.1:"));
    assert_true(log_has(&ns, "accepted"));
}

static void test_expiry_frees_name(void **state) {
    char addr[128];
    int a = raw_connect_from(HOME, ns_short.port), b = raw_connect_from(OTHER, ns_short.port);
    if (b < 0) skip();
    assert_true(a >= 0);
    assert_int_equal(call_code(a, reg_req("127.0.0.1:30911", 0), NULL, 0), 0);
    assert_int_equal(call_code(b, reg_req("127.0.0.2:30911", 0), NULL, 0), RMQ_ERR_NO_PERMISSION);
    /* a stays silent: after brokerChannelExpiredTime the NameServer drops it */
    int code = -1;
    for (int i = 0; i < 100 && code != 0; i++) {
        rmq_sleep_ms(200);
        code = call_code(b, reg_req("127.0.0.2:30911", 0), NULL, 0);
    }
    assert_int_equal(code, 0);
    routed(ns_short.port, addr, sizeof addr);
    assert_string_equal(addr, "127.0.0.2:30911");
    assert_true(log_has(&ns_short, "expired"));
    close(a);
    close(b);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns, NULL)) return -1;
    if (rmq_start_namesrv(&ns_short, "brokerChannelExpiredTime=1500\n"
                                     "scanNotActiveBrokerInterval=200\n"))
        return -1;
    return 0;
}

static int teardown(void **state) {
    int errs = rmq_proc_log_errors(&ns) + rmq_proc_log_errors(&ns_short);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_proc_stop(&ns_short, SIGTERM);
    if (errs) fprintf(stderr, "ERROR lines in a NameServer log\n");
    rmq_rm_rf(ns.dir);
    rmq_rm_rf(ns_short.dir);
    return errs ? -1 : 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner),
        cmocka_unit_test(test_expiry_frees_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
