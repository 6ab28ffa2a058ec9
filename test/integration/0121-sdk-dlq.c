/* Dead letters and DELETE_TOPIC cleanup (broker.md 6, issue 10) with librmq and mqadmin against
 * a real NameServer and broker, delay levels shortened (messageDelayLevel all 1s):
 *   - a push consumer with maxReconsumeTimes=2 answering RECONSUME_LATER sees the message 3
 *     times, then it is in %DLQ%<group>: found by key and by id, RETRY_TOPIC = its topic,
 *     never delivered again;
 *   - mqadmin queryDlqMsg lists it, resendDlqMsg -i sends it back to the original topic (an
 *     unknown id fails with status 1);
 *   - DELETE_TOPIC_IN_BROKER (mqadmin deleteTopic) removes every group's offsets of the topic
 *     from consumerOffset.json and keeps the groups' %RETRY% topics. */
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sdk_util.h"

#define TOPIC "DlqTopic"
#define GROUP "CG_DLQ"
#define DLQ "%DLQ%" GROUP
#define DEL_TOPIC "DelTopic"
#define BEXTRA "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n"

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int deliveries;

static rmq_consume_status_t always_later(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                         rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc, (void)mq, (void)op;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++)
        if (su_body_id(msgs[i]) == 1) deliveries++;
    pthread_mutex_unlock(&mu);
    return RMQ_CONSUME_LATER;
}

static int delivered(void) {
    pthread_mutex_lock(&mu);
    int n = deliveries;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Run a shell command; its stdout into out (NUL-terminated), exit status returned. */
static int run(char *out, size_t outsz, const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, outsz - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static rmq_admin_t *admin_new(void) {
    char err[256];
    rmq_admin_t *a = rmq_admin_new(su_conf("CG_DLQ_ADMIN"), err, sizeof err);
    if (!a) fprintf(stderr, "admin: %s\n", err);
    return a;
}

static size_t by_key(rmq_admin_t *a, const char *topic, const char *key, rmq_msg_t ***msgs) {
    size_t n = 0;
    *msgs = NULL;
    if (rmq_query_by_key(a, topic, key, 32, 0, INT64_MAX, msgs, &n) != RMQ_OK) return 0;
    return n;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_dlq(const char *mqadmin) {
    rmq_producer_t *p = su_producer("PG_DLQ");
    CHECK(p != NULL, "producer");
    if (!p) return;
    rmq_msg_t *m = rmq_msg_new(TOPIC, "tagD", "dlqkey-1", "id:1", 4, RMQ_MSG_F_COPY);
    rmq_send_result_t sr;
    CHECK(rmq_send_sync(p, m, &sr) == RMQ_OK, "send");
    rmq_msg_destroy(m);

    rmq_conf_t *c = su_conf(GROUP);
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    su_set(c, "maxReconsumeTimes", "2");
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    CHECK(pc && !rmq_push_consumer_subscribe(pc, TOPIC, "*") &&
              !rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, always_later, NULL) &&
              !rmq_push_consumer_start(pc),
          "consumer: %s", err);

    rmq_admin_t *a = admin_new();
    rmq_msg_t **msgs = NULL;
    size_t n = 0;
    for (uint64_t until = rmq_mono_ms() + 90000; a && rmq_mono_ms() < until;) {
        n = by_key(a, DLQ, "dlqkey-1", &msgs);
        if (n) break;
        rmq_sleep_ms(300);
    }
    CHECK(n == 1, "%zu messages with key dlqkey-1 in %s (deliveries %d)", n, DLQ, delivered());
    char dlq_id[64] = "", dlq_off_id[80] = "";
    if (n >= 1) {
        const char *rt = rmq_msg_property(msgs[0], "RETRY_TOPIC");
        CHECK(rt && !strcmp(rt, TOPIC), "RETRY_TOPIC %s", rt ? rt : "(none)");
        CHECK(rmq_msg_property(msgs[0], "ORIGIN_MESSAGE_ID") != NULL, "no ORIGIN_MESSAGE_ID");
        CHECK(rmq_msg_reconsume_times(msgs[0]) == 3, "reconsumeTimes %d",
              rmq_msg_reconsume_times(msgs[0]));
        CHECK(!strcmp(rmq_msg_id(msgs[0]), sr.msg_id), "DLQ msgId %s, sent %s", rmq_msg_id(msgs[0]),
              sr.msg_id);
        rmq_strlcpy(dlq_id, rmq_msg_id(msgs[0]), sizeof dlq_id);
        rmq_strlcpy(dlq_off_id, rmq_msg_offset_id(msgs[0]), sizeof dlq_off_id);
        rmq_msg_t *byid = NULL;
        CHECK(rmq_query_by_id(a, DLQ, dlq_off_id, &byid) == RMQ_OK && byid &&
                  !strcmp(rmq_msg_topic(byid), DLQ),
              "query %s by id %s", DLQ, dlq_off_id);
        if (byid) rmq_msg_destroy(byid);
    }
    if (msgs) rmq_msgs_destroy(msgs, n);
    rmq_sleep_ms(3000); /* the DLQ is never re-delivered */
    CHECK(delivered() == 3, "delivered %d times (1 + maxReconsumeTimes 2)", delivered());
    if (pc) rmq_push_consumer_destroy(pc);

    char out[16384];
    int rc = run(out, sizeof out, "%s queryDlqMsg -n '%s' -g %s", mqadmin, su_ns.addr, GROUP);
    CHECK(rc == 0 && strstr(out, dlq_id) && strstr(out, "dlqkey-1") && strstr(out, TOPIC),
          "queryDlqMsg rc %d: %s", rc, out);
    rc = run(out, sizeof out, "%s queryDlqMsg -n '%s' -g %s --json", mqadmin, su_ns.addr, GROUP);
    CHECK(rc == 0 && strstr(out, "\"originTopic\": \"" TOPIC "\""), "queryDlqMsg --json: %s", out);
    rc = run(out, sizeof out, "%s resendDlqMsg -n '%s' -g %s -i NOSUCHID 2>/dev/null", mqadmin,
             su_ns.addr, GROUP);
    CHECK(rc == 1, "resendDlqMsg of an unknown id: rc %d", rc);
    rc = run(out, sizeof out, "%s resendDlqMsg -n '%s' -g %s -i %s", mqadmin, su_ns.addr, GROUP,
             dlq_id);
    CHECK(rc == 0 && strstr(out, "resent 1 of 1"), "resendDlqMsg rc %d: %s", rc, out);
    /* the original topic now holds the original and the resent copy */
    n = 0;
    for (uint64_t until = rmq_mono_ms() + 30000; a && rmq_mono_ms() < until;) {
        n = by_key(a, TOPIC, "dlqkey-1", &msgs);
        bool done = false;
        for (size_t i = 0; i < n; i++) {
            const char *o = rmq_msg_property(msgs[i], "ORIGIN_MESSAGE_ID");
            size_t bl = 0;
            const char *b = rmq_msg_body(msgs[i], &bl);
            if (o && !strcmp(o, dlq_id) && bl == 4 && !memcmp(b, "id:1", 4)) done = true;
        }
        if (msgs) rmq_msgs_destroy(msgs, n);
        if (done) break;
        n = 0;
        rmq_sleep_ms(300);
    }
    CHECK(n == 2, "%zu messages with key dlqkey-1 in %s after the resend", n, TOPIC);
    /* without -i: every dead letter of the group (the one there is) */
    rc = run(out, sizeof out, "%s resendDlqMsg -n '%s' -g %s", mqadmin, su_ns.addr, GROUP);
    CHECK(rc == 0 && strstr(out, "resent 1 of 1"), "resendDlqMsg (all) rc %d: %s", rc, out);
    n = 0;
    for (uint64_t until = rmq_mono_ms() + 30000; a && rmq_mono_ms() < until && n < 3;) {
        n = by_key(a, TOPIC, "dlqkey-1", &msgs);
        if (msgs) rmq_msgs_destroy(msgs, n);
        if (n < 3) rmq_sleep_ms(300);
    }
    CHECK(n == 3, "%zu messages with key dlqkey-1 in %s after resending all", n, TOPIC);
    if (a) rmq_admin_destroy(a);
    rmq_producer_destroy(p);
}

static void test_delete_topic(const char *mqadmin) {
    rmq_producer_t *p = su_producer("PG_DEL");
    CHECK(p != NULL, "producer");
    if (!p) return;
    for (int i = 0; i < 4; i++) CHECK(su_send_id(p, DEL_TOPIC, i, "t") == RMQ_OK, "send %d", i);
    const char *groups[] = {"CG_DEL_A", "CG_DEL_B"};
    for (int g = 0; g < 2; g++) {
        su_counter_t cnt;
        su_counter_init(&cnt);
        rmq_push_consumer_t *pc =
            su_consumer(groups[g], DEL_TOPIC, "*", RMQ_LISTEN_CONCURRENTLY, &cnt, NULL);
        CHECK(pc && su_wait_all(&cnt, 4, 1, 60000), "group %s consumed", groups[g]);
        if (pc) rmq_push_consumer_destroy(pc); /* commits its offsets */
    }
    rmq_producer_destroy(p);
    char path[600];
    snprintf(path, sizeof path, "%s/store/config/consumerOffset.json", su_broker.dir);
    bool both = false;
    for (uint64_t until = rmq_mono_ms() + 30000; !both && rmq_mono_ms() < until;) {
        const char *t = read_file(path);
        both = t && strstr(t, DEL_TOPIC "@CG_DEL_A") && strstr(t, DEL_TOPIC "@CG_DEL_B");
        if (!both) rmq_sleep_ms(300);
    }
    CHECK(both, "offsets of both groups not in %s", path);
    char out[8192];
    int rc = run(out, sizeof out, "%s deleteTopic -n '%s' -t %s -c TestCluster", mqadmin,
                 su_ns.addr, DEL_TOPIC);
    CHECK(rc == 0, "deleteTopic rc %d: %s", rc, out);
    const char *t = read_file(path);
    CHECK(t && !strstr(t, DEL_TOPIC "@"), "offsets of %s left after the delete: %s", DEL_TOPIC,
          t ? t : "(no file)");
    snprintf(path, sizeof path, "%s/store/config/topics.json", su_broker.dir);
    t = read_file(path);
    CHECK(t && strstr(t, "%RETRY%CG_DEL_A") && !strstr(t, "\"" DEL_TOPIC "\""),
          "topics.json after the delete: %s", t ? t : "(no file)");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char mqadmin[512];
    rmq_bin_path("mqadmin", mqadmin, sizeof mqadmin);
    if (su_start(BEXTRA) != 0) {
        fprintf(stderr, "cannot start servers\n");
        return 1;
    }
    test_dlq(mqadmin);
    test_delete_topic(mqadmin);
    CHECK(rmq_proc_log_errors(&su_broker) == 0, "ERROR lines in the broker log");
    su_stop();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
