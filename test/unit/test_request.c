/* client/request.c without a network: the request table (completion exactly once, by the
 * reply, the waiter's deadline or the remover; unknown correlation ids dropped) and the
 * PUSH_REPLY_MESSAGE_TO_CLIENT decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/request.h"
#include "common/msg.h"
#include "common/util.h"

static rmq_msg_t *msg(const char *body) {
    return rmq_msg_new("T_REPLY_TOPIC", NULL, NULL, (void *)body, strlen(body), RMQ_MSG_F_COPY);
}

static void test_sync_reply_and_unknown(void **st) {
    (void)st;
    rmq_reqtab_t *t = rmq_reqtab_new();
    rmq_reqent_t e;
    memset(&e, 0, sizeof e);
    strcpy(e.corr, "abc");
    rmq_reqtab_add(t, &e);
    assert_int_equal(rmq_reqtab_count(t), 1);
    assert_false(rmq_reqtab_complete(t, "nope", msg("x"), RMQ_OK)); /* dropped, freed */
    assert_true(rmq_reqtab_complete(t, "abc", msg("pong"), RMQ_OK));
    assert_false(rmq_reqtab_complete(t, "abc", msg("again"), RMQ_OK)); /* once only */
    rmq_reqtab_wait(t, &e, rmq_mono_ms() + 10000);                     /* already done */
    assert_int_equal(e.err, RMQ_OK);
    size_t l;
    assert_memory_equal(rmq_msg_body(e.reply, &l), "pong", 4);
    rmq_msg_destroy(e.reply);
    assert_int_equal(rmq_reqtab_count(t), 0);
    rmq_reqtab_destroy(t);
}

static void test_sync_timeout(void **st) {
    (void)st;
    rmq_reqtab_t *t = rmq_reqtab_new();
    rmq_reqent_t e;
    memset(&e, 0, sizeof e);
    strcpy(e.corr, "slow");
    rmq_reqtab_add(t, &e);
    rmq_reqtab_wait(t, &e, rmq_mono_ms() + 50);
    assert_int_equal(e.err, RMQ_ERR__TIMEOUT);
    assert_null(e.reply);
    assert_int_equal(rmq_reqtab_count(t), 0);                          /* state freed */
    assert_false(rmq_reqtab_complete(t, "slow", msg("late"), RMQ_OK)); /* late: dropped */
    rmq_reqtab_destroy(t);
}

static int completed;
static void on_complete(rmq_reqent_t *e) {
    completed++;
    rmq_msg_destroy(e->reply);
}

static void test_async_remove_and_destroy(void **st) {
    (void)st;
    rmq_reqtab_t *t = rmq_reqtab_new();
    rmq_reqent_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    strcpy(a.corr, "a");
    strcpy(b.corr, "b");
    a.complete = b.complete = on_complete;
    rmq_reqtab_add(t, &a);
    rmq_reqtab_add(t, &b);
    assert_true(rmq_reqtab_remove(t, &a)); /* never sent: removed without completion */
    assert_false(rmq_reqtab_remove(t, &a));
    assert_int_equal(completed, 0);
    assert_true(rmq_reqtab_complete(t, "b", NULL, RMQ_ERR__TIMEOUT));
    assert_int_equal(completed, 1);
    assert_int_equal(b.err, RMQ_ERR__TIMEOUT);
    rmq_reqtab_add(t, &a);
    rmq_reqtab_destroy(t); /* what is left is completed with CLOSED */
    assert_int_equal(completed, 2);
    assert_int_equal(a.err, RMQ_ERR__CLOSED);
}

static void test_push_decode(void **st) {
    (void)st;
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT);
    rmq_rem_cmd_set(req, "topic", "C_REPLY_TOPIC");
    rmq_rem_cmd_set(req, "queueId", "0");
    rmq_rem_cmd_set(req, "sysFlag", "0");
    rmq_rem_cmd_set(req, "bornTimestamp", "1700000000000");
    rmq_rem_cmd_set(req, "storeTimestamp", "1700000000100");
    rmq_rem_cmd_set(req, "flag", "0");
    rmq_rem_cmd_set(req, "properties",
                    "CORRELATION_ID\001c-1\002MSG_TYPE\001reply\002PUSH_REPLY_TIME\0011");
    rmq_rem_cmd_set(req, "bornHost", "127.0.0.1:5000");
    rmq_rem_cmd_set(req, "storeHost", "127.0.0.1:10911");
    rmq_rem_cmd_set_body_copy(req, "pong", 4);
    rmq_msg_t *m = NULL;
    assert_int_equal(rmq_reply_push_decode(req, &m), RMQ_OK);
    assert_string_equal(rmq_msg_topic(m), "C_REPLY_TOPIC");
    assert_string_equal(rmq_msg_property(m, "CORRELATION_ID"), "c-1");
    assert_string_equal(rmq_msg_property(m, "MSG_TYPE"), "reply");
    assert_non_null(rmq_msg_property(m, "ARRIVE_TIME"));
    assert_int_equal(rmq_msg_store_ts(m), 1700000000100LL);
    size_t l;
    assert_memory_equal(rmq_msg_body(m, &l), "pong", 4);
    assert_int_equal(l, 4);
    rmq_msg_destroy(m);
    rmq_rem_cmd_destroy(req);
    /* no topic: refused */
    req = rmq_rem_cmd_new_request(RMQ_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT);
    assert_int_not_equal(rmq_reply_push_decode(req, &m), RMQ_OK);
    assert_null(m);
    rmq_rem_cmd_destroy(req);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_reply_and_unknown),
        cmocka_unit_test(test_sync_timeout),
        cmocka_unit_test(test_async_remove_and_destroy),
        cmocka_unit_test(test_push_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
