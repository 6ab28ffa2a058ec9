/* 0200: produce and consume through a real NameServer + broker.
 *
 * A topic is created with UPDATE_AND_CREATE_TOPIC (4 queues); 4 threads, each on its own
 * connection, send 10,000 messages with keys and tags (SEND_MESSAGE_V2); everything is pulled
 * back per queue in queue-offset order and each body, key and tag is checked against what was
 * acknowledged at that offset; a tag-filtered pull returns only its tag; offsets are committed,
 * the broker is stopped with SIGTERM (exit 0) and restarted on the same store; the committed
 * offsets come back and pulling resumes there; TBW102 and the topic are in the NameServer's
 * route. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker_util.h"

#define TOPIC "TopicProd"
#define GROUP "cg_0200"
#define NQ 4
#define NTHREADS 4
#define PER_THREAD 2500
#define TOTAL (NTHREADS * PER_THREAD)

typedef struct {
    int thread, seq; /* who sent it: the body/key/tag are derived from these */
} sent_t;

static sent_t *acked[NQ]; /* [qid][queue offset] */
static int nacked[NQ];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *broker_addr;
static int failures;

static void body_of(int t, int i, char *out, size_t n) {
    snprintf(out, n, "body-%d-%d-%0*d", t, i, 40 + (i % 60), i);
}

static void *producer(void *arg) {
    int t = (int)(intptr_t)arg;
    rmq_rem_client_t *cl = bt_client();
    for (int i = 0; i < PER_THREAD; i++) {
        char body[200], keys[64], tags[16], props[256];
        body_of(t, i, body, sizeof body);
        snprintf(keys, sizeof keys, "key-%d-%d", t, i);
        snprintf(tags, sizeof tags, "Tag%d", i % 3);
        bt_props(props, sizeof props, keys, tags, NULL);
        int qid = (t + i) % NQ;
        rmq_rem_cmd_t *resp = bt_send(cl, broker_addr, TOPIC, qid, body, strlen(body), props);
        if (resp->code != 0 || !rmq_rem_cmd_get(resp, "MSG_REGION") ||
            !rmq_rem_cmd_get(resp, "TRACE_ON") || !rmq_rem_cmd_get(resp, "msgId")) {
            fprintf(stderr, "send failed: %d %s\n", resp->code, resp->remark ? resp->remark : "");
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            rmq_rem_cmd_destroy(resp);
            continue;
        }
        int64_t q = -1, off = -1;
        rmq_rem_cmd_get_i64(resp, "queueId", &q);
        rmq_rem_cmd_get_i64(resp, "queueOffset", &off);
        pthread_mutex_lock(&mu);
        if (q != qid || off < 0 || off >= TOTAL || acked[q][off].thread != -1) {
            fprintf(stderr, "bad ack: queue %" PRId64 " offset %" PRId64 "\n", q, off);
            failures++;
        } else {
            acked[q][off] = (sent_t){t, i};
            nacked[q]++;
        }
        pthread_mutex_unlock(&mu);
        rmq_rem_cmd_destroy(resp);
    }
    rmq_rem_client_destroy(cl);
    return NULL;
}

/* Pull queue qid from offset `from` to its end and check every record; returns the count. */
static int pull_check(rmq_rem_client_t *cl, int qid, int64_t from, const char *sub) {
    int64_t off = from;
    int got = 0;
    while (off < nacked[qid]) {
        /* Long-poll: the ConsumeQueue is written by the reput thread shortly after the acks. */
        rmq_rem_cmd_t *resp = bt_call(
            cl, broker_addr, bt_pull_req(GROUP, TOPIC, qid, off, 32, BT_PULL_SUSPEND, 3000, sub),
            BT_TIMEOUT);
        if (resp->code == RMQ_ERR_PULL_NOT_FOUND) {
            assert_true(bt_i64(resp, "maxOffset") <= nacked[qid]);
            rmq_rem_cmd_destroy(resp);
            continue;
        }
        if (resp->code == RMQ_ERR_PULL_RETRY_IMMEDIATELY) { /* all filtered out */
            int64_t next = bt_i64(resp, "nextBeginOffset");
            assert_true(next > off);
            off = next;
            rmq_rem_cmd_destroy(resp);
            continue;
        }
        if (resp->code != 0)
            fprintf(stderr, "pull: %d %s\n", resp->code, resp->remark ? resp->remark : "");
        assert_int_equal(resp->code, 0);
        assert_true(bt_i64(resp, "minOffset") == 0);
        assert_true(bt_i64(resp, "suggestWhichBrokerId") == 0);
        int64_t next = bt_i64(resp, "nextBeginOffset");
        size_t len;
        const uint8_t *p = bt_body(resp, &len);
        size_t pos = 0;
        int64_t last = off - 1;
        while (pos < len) {
            rmq_msg_rec_t r;
            int64_t n = rmq_msg_rec_decode(p + pos, len - pos, true, &r);
            assert_true(n > 0);
            pos += (size_t)n;
            assert_int_equal(r.queue_id, qid);
            assert_true(r.queue_offset > last);
            if (!sub) assert_true(r.queue_offset == last + 1); /* in order, no gaps */
            last = r.queue_offset;
            assert_int_equal(r.topic_len, (int)strlen(TOPIC));
            assert_memory_equal(r.topic, TOPIC, strlen(TOPIC));
            sent_t s = acked[qid][r.queue_offset];
            char body[200], key[64], tag[16], want[64];
            body_of(s.thread, s.seq, body, sizeof body);
            assert_int_equal(r.body_len, (int)strlen(body));
            assert_memory_equal(r.body, body, strlen(body));
            assert_true(bt_prop(&r, "KEYS", key, sizeof key));
            snprintf(want, sizeof want, "key-%d-%d", s.thread, s.seq);
            assert_string_equal(key, want);
            assert_true(bt_prop(&r, "TAGS", tag, sizeof tag));
            snprintf(want, sizeof want, "Tag%d", s.seq % 3);
            assert_string_equal(tag, want);
            if (sub) assert_string_equal(tag, sub);
            assert_false(bt_prop(&r, "WAIT", want, sizeof want)); /* stripped when stored */
            assert_true(bt_prop(&r, "CLUSTER", want, sizeof want));
            assert_string_equal(want, "TestCluster");
            /* born host is the TCP peer (IPv4 loopback), store host brokerIP1:listenPort */
            assert_int_equal(r.born_host.ip_len, 4);
            assert_int_equal(r.born_host.ip[0], 127);
            assert_int_equal(r.store_host.ip_len, 4);
            got++;
        }
        assert_true(next == last + 1 || sub);
        off = next;
        rmq_rem_cmd_destroy(resp);
    }
    assert_true(off == nacked[qid]);
    rmq_rem_cmd_t *resp = bt_pull(cl, broker_addr, GROUP, TOPIC, qid, off, 32, sub);
    assert_int_equal(resp->code, RMQ_ERR_PULL_NOT_FOUND);
    assert_true(bt_i64(resp, "maxOffset") == nacked[qid]);
    assert_true(bt_i64(resp, "nextBeginOffset") == off);
    rmq_rem_cmd_destroy(resp);
    return got;
}

static void route_has(const char *ns, const char *topic) {
    rmq_rem_client_t *cl = bt_client();
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_t *resp = bt_call(cl, ns, req, BT_TIMEOUT);
    if (resp->code != 0) fprintf(stderr, "route %s: %d %s\n", topic, resp->code, resp->remark);
    assert_int_equal(resp->code, 0);
    assert_non_null(resp->body);
    rmq_rem_cmd_destroy(resp);
    rmq_rem_client_destroy(cl);
}

static void test_produce_consume(void **state) {
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    broker_addr = br.addr;
    for (int q = 0; q < NQ; q++) {
        acked[q] = malloc(sizeof(sent_t) * TOTAL);
        for (int i = 0; i < TOTAL; i++) acked[q][i].thread = -1;
    }
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, NQ, 6);

    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t);
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    assert_int_equal(failures, 0);
    int total = 0;
    for (int q = 0; q < NQ; q++) total += nacked[q];
    assert_int_equal(total, TOTAL);

    int pulled = 0;
    for (int q = 0; q < NQ; q++) pulled += pull_check(cl, q, 0, NULL);
    assert_int_equal(pulled, TOTAL);
    /* Tag filtering by hash: only Tag1 messages come back. */
    int tag1 = pull_check(cl, 0, 0, "Tag1");
    int want1 = 0;
    for (int i = 0; i < nacked[0]; i++) want1 += acked[0][i].seq % 3 == 1;
    assert_int_equal(tag1, want1);

    /* Commit offsets, restart, resume. */
    int64_t commit[NQ];
    for (int q = 0; q < NQ; q++) {
        commit[q] = nacked[q] / 2 + q;
        bt_update_offset(cl, br.addr, GROUP, TOPIC, q, commit[q]);
        assert_true(bt_query_offset(cl, br.addr, GROUP, TOPIC, q) == commit[q]);
    }
    route_has(ns.addr, "TBW102");
    route_has(ns.addr, TOPIC);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_int_equal(rmq_proc_log_errors(&br), 0);

    assert_int_equal(rmq_start_broker(&br, ns.addr, NULL), 0);
    broker_addr = br.addr;
    cl = bt_client();
    int rest = 0;
    for (int q = 0; q < NQ; q++) {
        int64_t off = bt_query_offset(cl, br.addr, GROUP, TOPIC, q);
        assert_true(off == commit[q]);
        rest += pull_check(cl, q, off, NULL);
    }
    int want_rest = 0;
    for (int q = 0; q < NQ; q++) want_rest += nacked[q] - (int)commit[q];
    assert_int_equal(rest, want_rest);
    route_has(ns.addr, TOPIC);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
    rmq_proc_stop(&ns, SIGKILL); /* stateless; its own tests cover its shutdown */
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
    for (int q = 0; q < NQ; q++) free(acked[q]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_produce_consume)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
