/* 0222: roles and the slave's metadata sync (broker.md 9.1, 9.4, 9.5, 2.7).
 *
 * - A SLAVE with brokerId=0 refuses to start, naming the keys.
 * - Sends to a slave (SEND_MESSAGE_V2, SEND_BATCH_MESSAGE, CONSUMER_SEND_MSG_BACK) answer
 *   SERVICE_NOT_AVAILABLE; END_TRANSACTION answers SLAVE_NOT_AVAILABLE as RocketMQ's.
 * - A topic created on the master, a consumer offset and a subscription group committed there
 *   appear on the slave within ~15 s, without touching the slave (it learns the master from the
 *   NameServer); reads are served there (pull, QUERY_CONSUMER_OFFSET).
 * - A pull with the commit flag on the slave does not commit; UPDATE_CONSUMER_OFFSET to the
 *   slave is stored.
 * - The slave registers with brokerId 1: the topic's route lists both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/wait.h>

#include "broker_util.h"

#define TOPIC "TopicHaRoles"

static bool file_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_slave_id0_refused(void **state) {
    (void)state;
    rmq_proc_t p;
    memset(&p, 0, sizeof p);
    assert_int_equal(rmq_mkdtemp("rmq-slave0", p.dir, sizeof p.dir), 0);
    snprintf(p.conf, sizeof p.conf, "%s/broker.conf", p.dir);
    snprintf(p.log, sizeof p.log, "%s/broker.log", p.dir);
    FILE *f = fopen(p.conf, "w");
    assert_non_null(f);
    fprintf(f,
            "brokerName=b0\nbrokerId=0\nbrokerRole=SLAVE\nlistenPort=%d\nbrokerIP1=127.0.0.1\n"
            "storePathRootDir=%s/store\n",
            rmq_free_port(), p.dir);
    fclose(f);
    char bin[512];
    rmq_bin_path("mqbroker", bin, sizeof bin);
    char *argv[] = {bin, "-c", p.conf, NULL};
    assert_int_equal(rmq_spawn(&p, bin, argv), 0);
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 100 && r == 0; i++) {
        r = waitpid(p.pid, &st, WNOHANG);
        if (r == 0) rmq_sleep_ms(50);
    }
    if (r == 0) rmq_proc_stop(&p, SIGKILL);
    assert_true(r == p.pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    assert_true(file_has(p.log, "brokerRole=SLAVE needs brokerId > 0"));
    rmq_rm_rf(p.dir);
}

static rmq_rem_cmd_t *send_kind(rmq_rem_client_t *cl, const char *addr, int code) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    if (code == RMQ_REQ_CONSUMER_SEND_MSG_BACK) {
        rmq_rem_cmd_set(req, "group", "cg_roles");
        rmq_rem_cmd_set_i64(req, "offset", 0);
        rmq_rem_cmd_set_i64(req, "delayLevel", 0);
        rmq_rem_cmd_set(req, "originMsgId", "00");
        rmq_rem_cmd_set(req, "originTopic", TOPIC);
    } else if (code == RMQ_REQ_END_TRANSACTION) {
        rmq_rem_cmd_set(req, "producerGroup", "pg");
        rmq_rem_cmd_set_i64(req, "tranStateTableOffset", 0);
        rmq_rem_cmd_set_i64(req, "commitLogOffset", 0);
        rmq_rem_cmd_set_i64(req, "commitOrRollback", 8);
        rmq_rem_cmd_set(req, "fromTransactionCheck", "false");
        rmq_rem_cmd_set(req, "msgId", "00");
    } else {
        rmq_rem_cmd_set(req, "a", "pg");
        rmq_rem_cmd_set(req, "b", TOPIC);
        rmq_rem_cmd_set(req, "c", "TBW102");
        rmq_rem_cmd_set(req, "d", "4");
        rmq_rem_cmd_set(req, "e", "0");
        rmq_rem_cmd_set(req, "f", "0");
        rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
        rmq_rem_cmd_set(req, "h", "0");
        rmq_rem_cmd_set_body_copy(req, "x", 1);
    }
    return bt_call(cl, addr, req, BT_TIMEOUT);
}

static bool topic_on(rmq_rem_client_t *cl, const char *addr, const char *topic) {
    rmq_rem_cmd_t *r =
        bt_call(cl, addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_ALL_TOPIC_CONFIG), BT_TIMEOUT);
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\"", topic);
    char *text = strndup((const char *)r->body, r->body_len);
    bool found = r->code == 0 && strstr(text, pat);
    free(text);
    rmq_rem_cmd_destroy(r);
    return found;
}

static void test_slave_roles_and_sync(void **state) {
    (void)state;
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(rmq_start_broker(&m, ns.addr, "brokerRole=ASYNC_MASTER\n"), 0);
    char conf[512];
    bt_slave_conf(conf, sizeof conf, &m, NULL);
    assert_int_equal(rmq_start_broker(&s, ns.addr, conf), 0);
    rmq_rem_client_t *cl = bt_client();
    assert_true(bt_wait_slaves(cl, m.addr, 1, 20000));
    int64_t t0 = rmq_now_ms();
    bt_create_topic(cl, m.addr, TOPIC, 4, 6);
    char props[256];
    bt_props(props, sizeof props, NULL, NULL, NULL);
    for (int i = 0; i < 10; i++) {
        rmq_rem_cmd_t *r = bt_send(cl, m.addr, TOPIC, i % 4, "hello", 5, props);
        assert_int_equal(r->code, 0);
        rmq_rem_cmd_destroy(r);
    }
    bt_update_offset(cl, m.addr, "cg_roles", TOPIC, 1, 2);

    /* sends refused on the slave */
    int codes[] = {RMQ_REQ_SEND_MESSAGE_V2, RMQ_REQ_SEND_BATCH_MESSAGE,
                   RMQ_REQ_CONSUMER_SEND_MSG_BACK};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        rmq_rem_cmd_t *r = send_kind(cl, s.addr, codes[i]);
        fprintf(stderr, "code %d to the slave: %d %s\n", codes[i], r->code,
                r->remark ? r->remark : "");
        assert_int_equal(r->code, RMQ_ERR_SERVICE_NOT_AVAILABLE);
        assert_non_null(r->remark);
        rmq_rem_cmd_destroy(r);
    }
    rmq_rem_cmd_t *r = send_kind(cl, s.addr, RMQ_REQ_END_TRANSACTION);
    assert_int_equal(r->code, RMQ_ERR_SLAVE_NOT_AVAILABLE);
    rmq_rem_cmd_destroy(r);

    /* metadata sync: topic and offset appear on the slave */
    bool topic = false, offset = false;
    while (rmq_now_ms() - t0 < 25000 && !(topic && offset)) {
        topic = topic_on(cl, s.addr, TOPIC);
        offset = topic && bt_query_offset(cl, s.addr, "cg_roles", TOPIC, 1) == 2;
        if (!(topic && offset)) rmq_sleep_ms(200);
    }
    fprintf(stderr, "topic and offset on the slave after %" PRId64 " ms\n", rmq_now_ms() - t0);
    assert_true(topic);
    assert_true(offset);
    assert_true(rmq_now_ms() - t0 < 16000);
    /* the slave's runtime info: replication offset and the master's max from the sync round */
    for (int i = 0; i < 50 && bt_runtime_i64(cl, s.addr, "haMasterMaxOffset", -1) < 0; i++)
        rmq_sleep_ms(100);
    assert_true(bt_runtime_i64(cl, s.addr, "haMasterMaxOffset", -1) > 0);
    assert_true(bt_runtime_i64(cl, s.addr, "haSlaveFallBehindBytes", -1) >= 0);
    assert_true(bt_runtime_i64(cl, s.addr, "haSlaveMaxOffset", -1) > 0);
    assert_int_equal(bt_runtime_i64(cl, s.addr, "haSlaveActivated", -1), 1);
    assert_int_equal(bt_runtime_i64(cl, m.addr, "haConnectionCount", -1), 1);
    char path[600];
    snprintf(path, sizeof path, "%s/store/config/topics.json", s.dir);
    assert_true(file_has(path, TOPIC)); /* persisted on the slave */

    /* reads on the slave: the replicated messages, a pull commit ignored, an update stored */
    assert_true(bt_wait_caught_up(cl, m.addr, s.addr, 10000) > 0);
    rmq_rem_cmd_t *req = bt_pull_req("cg_roles", TOPIC, 0, 0, 32, BT_PULL_COMMIT, 0, "*");
    rmq_rem_cmd_set_i64(req, "commitOffset", 1);
    r = bt_call(cl, s.addr, req, BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    assert_true(r->body_len > 0);
    assert_int_equal(bt_i64(r, "suggestWhichBrokerId"), 0); /* slaveReadEnable=false */
    rmq_rem_cmd_destroy(r);
    assert_true(bt_query_offset(cl, s.addr, "cg_roles", TOPIC, 0) != 1); /* not committed */
    bt_update_offset(cl, s.addr, "cg_roles", TOPIC, 3, 1);
    assert_int_equal(bt_query_offset(cl, s.addr, "cg_roles", TOPIC, 3), 1);

    /* the route lists the slave as brokerId 1 */
    bool listed = false;
    for (int i = 0; i < 100 && !listed; i++) {
        rmq_rem_cmd_t *rq = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
        rmq_rem_cmd_set(rq, "topic", TOPIC);
        r = bt_call(cl, ns.addr, rq, BT_TIMEOUT);
        if (r->code == 0) {
            char *text = strndup((const char *)r->body, r->body_len);
            char want[128];
            snprintf(want, sizeof want, "\"1\":\"%s\"", s.addr);
            listed = strstr(text, want) != NULL;
            if (!listed && i == 99) fprintf(stderr, "route: %s\n", text);
            free(text);
        }
        rmq_rem_cmd_destroy(r);
        if (!listed) rmq_sleep_ms(100);
    }
    assert_true(listed);

    rmq_rem_client_destroy(cl);
    bt_stop_clean(&s);
    bt_stop_clean(&m);
    assert_int_equal(rmq_proc_log_errors(&m), 0);
    assert_int_equal(rmq_proc_log_errors(&s), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_slave_id0_refused),
                                       cmocka_unit_test(test_slave_roles_and_sync)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
