/* remoting/acl.c: plain_acl.yml parsing (RocketMQ's rules and refusals) and the check's
 * decisions (white lists, signatures, admin, default and listed permissions, retry groups). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "remoting/acl.h"

static const char *yml = "globalWhiteRemoteAddresses:\n"
                         "  - 10.9.8.*\n"
                         "accounts:\n"
                         "  - accessKey: plainUser\n"
                         "    secretKey: plainSecret\n"
                         "    whiteRemoteAddress: 192.168.1.{5,6}\n"
                         "    defaultTopicPerm: SUB\n"
                         "    defaultGroupPerm: DENY\n"
                         "    topicPerms:\n"
                         "      - tPub=PUB\n"
                         "      - tDeny=DENY\n"
                         "    groupPerms:\n"
                         "      - gA=SUB\n"
                         "  - accessKey: adminUser\n"
                         "    secretKey: adminSecret\n"
                         "    admin: true\n"
                         "  - accessKey: adminLimited\n"
                         "    secretKey: adminSecret\n"
                         "    admin: true\n"
                         "    topicPerms:\n"
                         "      - only=PUB\n";

static rmq_acl_t *load(const char *text, char *err) {
    return rmq_acl_parse(text, strlen(text), err, 256);
}

static void test_parse_refusals(void **state) {
    (void)state;
    char err[256];
    rmq_acl_t *a = load(yml, err);
    assert_non_null(a);
    assert_int_equal(rmq_acl_naccounts(a), 3);
    rmq_acl_free(a);
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"accounts:\n  - accessKey: short\n    secretKey: longEnough1\n", "accessKey"},
        {"accounts:\n  - accessKey: longEnough\n    secretKey: abc\n", "secretKey"},
        {"accounts:\n  - accessKey: longEnough\n    secretKey: longEnough\n    topicPerms:\n"
         "      - t=ALL\n",
         "permission"},
        {"accounts:\n  - accessKey: longEnough\n    secretKey: longEnough\n    topicPerms:\n"
         "      - nonsense\n",
         "name=PERM"},
        {"accounts:\n  - accessKey: longEnough\n    secretKey: longEnough\n"
         "  - accessKey: longEnough\n    secretKey: longEnough\n",
         "twice"},
        {"globalWhiteRemoteAddresses:\n  - 10.1.2.300\n", "address pattern"},
        {"accounts:\n  - accessKey: longEnough\n    secretKey: longEnough\n"
         "    whiteRemoteAddress: 1.2.3.4-1\n",
         "whiteRemoteAddress"},
        {"accounts: [\n", "YAML"},
        {"- a\n- b\n", "top level"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        a = load(bad[i].text, err);
        if (a || !strstr(err, bad[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
    }
    /* empty file: no accounts (everything refused but the white list) */
    a = load("", err);
    assert_non_null(a);
    assert_int_equal(rmq_acl_naccounts(a), 0);
    rmq_acl_free(a);
}

static bool allowed(const rmq_acl_t *a, const char *ak, const char *sk, const char *ip,
                    unsigned need, const rmq_acl_res_t *res, size_t n, char *why) {
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(11);
    rmq_rem_cmd_set(c, "topic", "x");
    if (ak) rmq_acl_sign(c, ak, sk, NULL);
    rmq_acl_verdict_t v;
    rmq_acl_check(a, c, ip, need, res, n, &v);
    if (why) snprintf(why, 256, "%s", v.why);
    rmq_rem_cmd_destroy(c);
    return v.ok;
}

static void test_check(void **state) {
    (void)state;
    char err[256], why[256];
    rmq_acl_t *a = load(yml, err);
    assert_non_null(a);
    rmq_acl_res_t sub_t = {"anyTopic", false, RMQ_ACL_SUB};
    rmq_acl_res_t pub_t = {"anyTopic", false, RMQ_ACL_PUB};
    rmq_acl_res_t pub_tpub = {"tPub", false, RMQ_ACL_PUB};
    rmq_acl_res_t sub_tpub = {"tPub", false, RMQ_ACL_SUB};
    rmq_acl_res_t sub_deny = {"tDeny", false, RMQ_ACL_SUB};
    rmq_acl_res_t g_a = {"gA", true, RMQ_ACL_SUB};
    rmq_acl_res_t g_b = {"gB", true, RMQ_ACL_SUB};
    const char *ip = "127.0.0.1";
    /* white lists: global, and the account's own (no signature needed) */
    assert_true(allowed(a, NULL, NULL, "10.9.8.7", RMQ_ACL_NEED_ADMIN, NULL, 0, NULL));
    assert_true(allowed(a, "plainUser", "wrong", "192.168.1.6", 0, &pub_t, 1, NULL));
    assert_false(allowed(a, "plainUser", "wrong", "192.168.1.7", 0, &sub_t, 1, why));
    assert_non_null(strstr(why, "signature"));
    assert_false(allowed(a, NULL, NULL, ip, 0, NULL, 0, why));
    assert_non_null(strstr(why, "AccessKey"));
    assert_false(allowed(a, "nobodyHere", "x", ip, 0, NULL, 0, why));
    assert_non_null(strstr(why, "nobodyHere"));
    /* defaults and listed permissions */
    assert_true(allowed(a, "plainUser", "plainSecret", ip, 0, &sub_t, 1, NULL));
    assert_false(allowed(a, "plainUser", "plainSecret", ip, 0, &pub_t, 1, why));
    assert_non_null(strstr(why, "by default"));
    assert_true(allowed(a, "plainUser", "plainSecret", ip, 0, &pub_tpub, 1, NULL));
    assert_false(allowed(a, "plainUser", "plainSecret", ip, 0, &sub_tpub, 1, NULL));
    assert_false(allowed(a, "plainUser", "plainSecret", ip, 0, &sub_deny, 1, NULL));
    assert_true(allowed(a, "plainUser", "plainSecret", ip, 0, &g_a, 1, NULL));
    assert_false(allowed(a, "plainUser", "plainSecret", ip, 0, &g_b, 1, why));
    assert_non_null(strstr(why, "group gB"));
    /* admin and broker */
    assert_false(allowed(a, "plainUser", "plainSecret", ip, RMQ_ACL_NEED_ADMIN, NULL, 0, why));
    assert_non_null(strstr(why, "admin"));
    assert_false(allowed(a, "plainUser", "plainSecret", ip, RMQ_ACL_NEED_BROKER, NULL, 0, NULL));
    assert_true(allowed(a, "adminUser", "adminSecret", ip, RMQ_ACL_NEED_ADMIN, &pub_t, 1, NULL));
    assert_true(allowed(a, "adminUser", "adminSecret", ip, RMQ_ACL_NEED_BROKER, NULL, 0, NULL));
    /* an admin with listed permissions is held to them (RocketMQ's checkPerm) */
    assert_false(allowed(a, "adminLimited", "adminSecret", ip, 0, &pub_t, 1, NULL));
    /* the trace topic is open to every valid account */
    rmq_acl_res_t trace = {"RMQ_SYS_TRACE_TOPIC", false, RMQ_ACL_PUB};
    assert_true(allowed(a, "plainUser", "plainSecret", ip, 0, &trace, 1, NULL));
    rmq_acl_free(a);
    /* helpers */
    assert_string_equal(rmq_acl_retry_group("%RETRY%gA"), "gA");
    assert_null(rmq_acl_retry_group("gA"));
    char out[64];
    rmq_acl_peer_ip("10.0.0.1:4567", out, sizeof out);
    assert_string_equal(out, "10.0.0.1");
    rmq_acl_peer_ip("[::1]:4567", out, sizeof out);
    assert_string_equal(out, "::1");
    rmq_acl_peer_ip("::ffff:10.0.0.2:99", out, sizeof out);
    assert_string_equal(out, "10.0.0.2");
    rmq_acl_file_path("/h", NULL, out, sizeof out);
    assert_string_equal(out, "/h/conf/plain_acl.yml");
    rmq_acl_file_path("/h", "acl/x.yml", out, sizeof out);
    assert_string_equal(out, "/h/acl/x.yml");
    rmq_acl_file_path("/h", "/abs.yml", out, sizeof out);
    assert_string_equal(out, "/abs.yml");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
