/* 0203: bad input never takes the broker down.
 *
 * Garbage frames, an unknown request code, a 100 MB length prefix, a send to a topic without
 * write perm, bad topic names, an oversized body, a pull with a negative offset, missing and
 * non-numeric header fields, forbidden system topics, out-of-range queues, a corrupt batch: each
 * gets its error (or its connection closed), and after each a normal send + pull on a fresh
 * connection still works. The broker logs no ERROR line and exits 0 on SIGTERM. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC_OK "TopicOK"
#define TOPIC_RO "TopicReadOnly"

static rmq_proc_t br;
static int64_t ok_sent;

/* A fresh connection still sends and pulls. */
static void sanity(void) {
    rmq_rem_client_t *cl = bt_client();
    char props[256], body[64];
    bt_props(props, sizeof props, "ok", "TagOK", NULL);
    snprintf(body, sizeof body, "ok-%" PRId64, ok_sent);
    rmq_rem_cmd_t *r = bt_send(cl, br.addr, TOPIC_OK, 0, body, strlen(body), props);
    assert_int_equal(r->code, 0);
    int64_t off = bt_i64(r, "queueOffset");
    if (off != ok_sent) fprintf(stderr, "offset %" PRId64 " want %" PRId64 "\n", off, ok_sent);
    assert_true(off == ok_sent);
    rmq_rem_cmd_destroy(r);
    /* The ConsumeQueue entry is written by the reput thread just after the ack: long-poll. */
    r = bt_call(cl, br.addr, bt_pull_req("cg_bad", TOPIC_OK, 0, off, 1, BT_PULL_SUSPEND, 5000, "*"),
                BT_TIMEOUT);
    assert_int_equal(r->code, 0);
    rmq_msg_rec_t rec;
    assert_true(rmq_msg_rec_decode(r->body, r->body_len, true, &rec) > 0);
    assert_int_equal(rec.body_len, (int)strlen(body));
    assert_memory_equal(rec.body, body, strlen(body));
    rmq_rem_cmd_destroy(r);
    rmq_rem_client_destroy(cl);
    ok_sent++;
    assert_int_equal(kill(br.pid, 0), 0);
}

/* Write bytes on a raw connection; true when the broker closes it within 5 s (any bytes it
 * answers first are read and dropped). */
static bool raw_closed(const void *bytes, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)br.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ssize_t w = write(fd, bytes, len);
    assert_true(w == (ssize_t)len);
    bool closed = false;
    uint64_t until = rmq_mono_ms() + 5000;
    while (rmq_mono_ms() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            closed = true;
            break;
        }
    }
    close(fd);
    return closed;
}

static rmq_rem_cmd_t *send_req(const char *topic, int qid, size_t body_len) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "bad_pg");
    rmq_rem_cmd_set(req, "b", topic);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set_i64(req, "e", qid);
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    rmq_rem_cmd_set(req, "i", "WAIT\001true");
    uint8_t *body = calloc(1, body_len ? body_len : 1);
    if (body_len) rmq_rem_cmd_set_body_copy(req, body, body_len);
    free(body);
    return req;
}

static void expect(rmq_rem_client_t *cl, rmq_rem_cmd_t *req, int code, const char *remark_has) {
    rmq_rem_cmd_t *r = bt_call(cl, br.addr, req, BT_TIMEOUT);
    if (r->code != code)
        fprintf(stderr, "expected %d, got %d (%s)\n", code, r->code, r->remark ? r->remark : "");
    assert_int_equal(r->code, code);
    if (remark_has) {
        assert_non_null(r->remark);
        if (!strstr(r->remark, remark_has)) fprintf(stderr, "remark: %s\n", r->remark);
        assert_non_null(strstr(r->remark, remark_has));
    }
    if (req && (code == 0 || code == 10)) {
        assert_non_null(rmq_rem_cmd_get(r, "MSG_REGION"));
        assert_non_null(rmq_rem_cmd_get(r, "TRACE_ON"));
    }
    rmq_rem_cmd_destroy(r);
    sanity();
}

/* Stored properties, byte for byte, for the forms a sender may use: the broker cuts WAIT and
 * appends CLUSTER, storing the sender's bytes in pieces when they are well formed and
 * rebuilding them otherwise (malformed pairs and a trailing separator dropped); both ways
 * must store the same string. */
static void props_forms(rmq_rem_client_t *cl) {
    static const char *const forms[][2] = {
        {"KEYS\001k\002WAIT\001true\002TAGS\001t",
         "KEYS\001k\002TAGS\001t\002CLUSTER\001TestCluster"},
        {"WAIT\001true\002KEYS\001k", "KEYS\001k\002CLUSTER\001TestCluster"},
        {"KEYS\001k\002WAIT\001false", "KEYS\001k\002CLUSTER\001TestCluster"},
        {"WAIT\001true", "CLUSTER\001TestCluster"},
        {NULL, "CLUSTER\001TestCluster"},
        {"KEYS\001k\002TAGS\001t\002", "KEYS\001k\002TAGS\001t\002CLUSTER\001TestCluster"},
        {"KEYS\001k\002bogus\002TAGS\001t", "KEYS\001k\002TAGS\001t\002CLUSTER\001TestCluster"},
        {"KEYS\001k\002WAIT\001true\002WAIT\001false", "KEYS\001k\002CLUSTER\001TestCluster"},
        {"KEYS\001k", "KEYS\001k\002CLUSTER\001TestCluster"},
        {"\002KEYS\001k", "KEYS\001k\002CLUSTER\001TestCluster"},
    };
    size_t n = sizeof forms / sizeof forms[0];
    bt_create_topic(cl, br.addr, "PropsForms", 1, 6);
    for (size_t i = 0; i < n; i++) {
        rmq_rem_cmd_t *r = bt_send(cl, br.addr, "PropsForms", 0, "b", 1, forms[i][0]);
        assert_int_equal(r->code, 0);
        assert_int_equal(bt_i64(r, "queueOffset"), (int64_t)i);
        rmq_rem_cmd_destroy(r);
    }
    size_t got = 0;
    for (int tries = 0; tries < 50 && got < n; tries++) {
        rmq_rem_cmd_t *r = bt_pull(cl, br.addr, "props_g", "PropsForms", 0, (int64_t)got, 32, NULL);
        if (r->code != 0) {
            rmq_rem_cmd_destroy(r);
            usleep(100 * 1000);
            continue;
        }
        size_t len, pos = 0;
        const uint8_t *p = bt_body(r, &len);
        while (pos < len) {
            rmq_msg_rec_t m;
            int64_t k = rmq_msg_rec_decode(p + pos, len - pos, true, &m);
            assert_true(k > 0);
            pos += (size_t)k;
            assert_int_equal(m.queue_offset, (int64_t)got);
            const char *want = forms[got][1];
            if ((size_t)m.props_len != strlen(want) || memcmp(m.props, want, strlen(want)))
                fprintf(stderr, "form %zu stored as '%.*s'\n", got, (int)m.props_len, m.props);
            assert_int_equal(m.props_len, (int)strlen(want));
            assert_memory_equal(m.props, want, strlen(want));
            got++;
        }
        rmq_rem_cmd_destroy(r);
    }
    assert_int_equal(got, n);
}

static void test_badinput(void **state) {
    rmq_proc_t ns;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, "maxMessageSize=65536\n"), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC_OK, 2, 6);
    bt_create_topic(cl, br.addr, TOPIC_RO, 2, 4);
    sanity();
    props_forms(cl);

    /* Garbage: an HTTP request (its first 4 bytes read as a 1.2 GB length), a frame whose
     * header length exceeds the frame, a frame with a non-JSON header. */
    const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(raw_closed(http, sizeof http - 1));
    sanity();
    uint8_t f1[12];
    rmq_put_be32(f1, 8);
    rmq_put_be32(f1 + 4, 1000); /* header length 1000 > frame */
    memset(f1 + 8, 'x', 4);
    assert_true(raw_closed(f1, sizeof f1));
    sanity();
    uint8_t f2[32];
    rmq_put_be32(f2, 28);
    rmq_put_be32(f2 + 4, 24);
    memcpy(f2 + 8, "{not json at all!!!!!!!!", 24);
    raw_closed(f2, sizeof f2); /* closed or answered: either way the broker serves on */
    sanity();
    /* 100 MB length prefix: that connection is closed. */
    uint8_t big[64];
    memset(big, 'z', sizeof big);
    rmq_put_be32(big, 100u * 1024 * 1024);
    rmq_put_be32(big + 4, 20);
    assert_true(raw_closed(big, sizeof big));
    sanity();

    /* Unknown request code: REQUEST_CODE_NOT_SUPPORTED. */
    expect(cl, rmq_rem_cmd_new_request(9999), RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED, NULL);

    /* Sends. */
    expect(cl, send_req(TOPIC_RO, 0, 10), RMQ_ERR_NO_PERMISSION, TOPIC_RO);
    char longt[140];
    memset(longt, 'a', 128);
    longt[128] = 0;
    expect(cl, send_req(longt, 0, 10), RMQ_ERR_SYSTEM_ERROR, "longer");
    expect(cl, send_req("bad topic!", 0, 10), RMQ_ERR_SYSTEM_ERROR, "illegal");
    expect(cl, send_req(TOPIC_OK, 0, 65537), RMQ_ERR_MESSAGE_ILLEGAL, "maxMessageSize");
    expect(cl, send_req("SCHEDULE_TOPIC_XXXX", 0, 10), RMQ_ERR_NO_PERMISSION, "forbidden");
    expect(cl, send_req(TOPIC_OK, 7, 10), RMQ_ERR_SYSTEM_ERROR, "queueId");
    rmq_rem_cmd_t *req = send_req("NoSuchTopic", 0, 10);
    rmq_rem_cmd_set(req, "c", "NoSuchDefault");
    expect(cl, req, RMQ_ERR_TOPIC_NOT_EXIST, "NoSuchTopic");
    /* A required field missing, or not a number: the error names it. */
    req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "bad_pg");
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set(req, "e", "0");
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set(req, "g", "0");
    rmq_rem_cmd_set(req, "h", "0");
    expect(cl, req, RMQ_ERR_SYSTEM_ERROR, "<b>");
    req = send_req(TOPIC_OK, 0, 10);
    rmq_rem_cmd_set(req, "e", "zero");
    expect(cl, req, RMQ_ERR_SYSTEM_ERROR, "<e>");
    /* A corrupt batch body. */
    req = send_req(TOPIC_OK, 0, 40);
    req->code = RMQ_REQ_SEND_BATCH_MESSAGE;
    rmq_rem_cmd_set(req, "m", "true");
    expect(cl, req, RMQ_ERR_MESSAGE_ILLEGAL, "batch");

    /* Pulls. */
    expect(cl, bt_pull_req("cg_bad", TOPIC_OK, 0, -5, 32, 0, 0, "*"), RMQ_ERR_PULL_OFFSET_MOVED,
           NULL);
    rmq_rem_cmd_t *r = bt_pull(cl, br.addr, "cg_bad", TOPIC_OK, 0, -5, 32, "*");
    assert_true(bt_i64(r, "nextBeginOffset") == 0); /* corrected to the min offset */
    assert_true(bt_i64(r, "maxOffset") == ok_sent);
    rmq_rem_cmd_destroy(r);
    expect(cl, bt_pull_req("cg_bad", TOPIC_OK, 0, ok_sent + 100, 32, 0, 0, "*"),
           RMQ_ERR_PULL_OFFSET_MOVED, NULL);
    expect(cl, bt_pull_req("cg_bad", TOPIC_OK, 9, 0, 32, 0, 0, "*"), RMQ_ERR_SYSTEM_ERROR,
           "queueId");
    expect(cl, bt_pull_req("cg_bad", "NoSuchTopic", 0, 0, 32, 0, 0, "*"), RMQ_ERR_TOPIC_NOT_EXIST,
           "NoSuchTopic");
    req = bt_pull_req("cg_bad", TOPIC_OK, 0, 0, 32, 0, 0, "*");
    rmq_rem_cmd_set(req, "queueOffset", "NaN");
    expect(cl, req, RMQ_ERR_SYSTEM_ERROR, "queueOffset");
    expect(cl, bt_pull_req("cg_bad", TOPIC_OK, 0, 0, 32, 0, 0, " || "),
           RMQ_ERR_SUBSCRIPTION_PARSE_FAILED, NULL);
    /* Topic admin with bad input. */
    req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_AND_CREATE_TOPIC);
    rmq_rem_cmd_set(req, "topic", "bad/name");
    rmq_rem_cmd_set(req, "readQueueNums", "1");
    rmq_rem_cmd_set(req, "writeQueueNums", "1");
    rmq_rem_cmd_set(req, "perm", "6");
    expect(cl, req, RMQ_ERR_SYSTEM_ERROR, "illegal");
    req = rmq_rem_cmd_new_request(RMQ_REQ_DELETE_TOPIC_IN_BROKER);
    rmq_rem_cmd_set(req, "topic", "../config");
    expect(cl, req, RMQ_ERR_SYSTEM_ERROR, "illegal");

    rmq_rem_client_destroy(cl);
    assert_int_equal(kill(br.pid, 0), 0);
    bt_stop_clean(&br);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_badinput)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
