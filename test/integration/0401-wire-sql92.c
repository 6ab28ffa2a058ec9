/* Wire conformance for SQL92 filters: the frames a Java 4.9.8 client sends, byte for byte in
 * their JSON form, against real mqnamesrv + mqbroker (enablePropertyFilter=true): SEND_MESSAGE
 * with user properties, HEART_BEAT with an SQL92 subscription, CHECK_CLIENT_CONFIG (good and
 * bad), PULL_MESSAGE without the SUBSCRIPTION flag (the push consumer: the heartbeat's filter)
 * and with it (a pull consumer: expressionType SQL92 + subscription), a bad expression's
 * SUBSCRIPTION_PARSE_FAILED with its position. Independent of our codec: sockets and jansson. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

static rmq_proc_t ns, br;
static int fd = -1, opaque = 100;

typedef struct {
    int code;
    char remark[512];
    json_t *ext; /* owned */
    uint8_t *body;
    size_t body_len;
} resp_t;

static void read_all(void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        assert_true(r > 0);
        b += r;
        n -= (size_t)r;
    }
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One Java-style request (JSON header, language JAVA, version 409); waits for its response
 * (requests from the broker, e.g. NOTIFY_CONSUMER_IDS_CHANGED, are skipped). */
static resp_t call(int code, const char *ext_json, const char *body) {
    int op = opaque++;
    char hdr[4096];
    int hl =
        snprintf(hdr, sizeof hdr,
                 "{\"code\":%d,\"extFields\":%s,\"flag\":0,\"language\":\"JAVA\",\"opaque\":%d,"
                 "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}",
                 code, ext_json, op);
    assert_true(hl > 0 && hl < (int)sizeof hdr);
    size_t bl = body ? strlen(body) : 0;
    uint8_t *f = malloc(8 + (size_t)hl + bl);
    uint32_t total = (uint32_t)(4 + hl + bl);
    uint8_t pre[8] = {total >> 24, total >> 16, total >> 8, total, 0, 0, hl >> 8, hl & 0xff};
    memcpy(f, pre, 8);
    memcpy(f + 8, hdr, (size_t)hl);
    if (bl) memcpy(f + 8 + hl, body, bl);
    assert_int_equal(write(fd, f, 8 + (size_t)hl + bl), (ssize_t)(8 + (size_t)hl + bl));
    free(f);
    for (;;) {
        uint8_t h8[8];
        read_all(h8, 8);
        uint32_t len = be32(h8), word = be32(h8 + 4), hlen = word & 0xffffff;
        assert_true(len >= 4 + hlen && len < (64u << 20));
        assert_int_equal(word >> 24, 0); /* answered in the JSON form it was asked in */
        uint8_t *rest = malloc(len - 4 + 1);
        read_all(rest, len - 4);
        json_error_t je;
        json_t *h = json_loadb((const char *)rest, hlen, 0, &je);
        assert_non_null(h);
        int flag = (int)json_integer_value(json_object_get(h, "flag"));
        if (!(flag & 1) || json_integer_value(json_object_get(h, "opaque")) != op) {
            json_decref(h);
            free(rest);
            continue;
        }
        resp_t r = {.code = (int)json_integer_value(json_object_get(h, "code"))};
        const char *rm = json_string_value(json_object_get(h, "remark"));
        snprintf(r.remark, sizeof r.remark, "%s", rm ? rm : "");
        r.ext = json_incref(json_object_get(h, "extFields"));
        r.body_len = len - 4 - hlen;
        r.body = malloc(r.body_len + 1);
        memcpy(r.body, rest + hlen, r.body_len);
        json_decref(h);
        free(rest);
        return r;
    }
}

static void resp_free(resp_t *r) {
    json_decref(r->ext);
    free(r->body);
}

static int64_t ext_i64(const resp_t *r, const char *k) {
    const char *v = json_string_value(json_object_get(r->ext, k));
    assert_non_null(v);
    return strtoll(v, NULL, 10);
}

/* Values of property `key` of every stored record in a pull body (IPv4 hosts). */
static int body_values(const resp_t *r, const char *key, int *out, int max) {
    int n = 0;
    size_t off = 0;
    while (off + 4 <= r->body_len) {
        const uint8_t *p = r->body + off;
        uint32_t total = be32(p);
        assert_true(total > 0 && off + total <= r->body_len);
        size_t q = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8;
        uint32_t blen = be32(p + q);
        q += 4 + blen;
        q += 1 + p[q]; /* topic */
        uint16_t plen = (uint16_t)(p[q] << 8 | p[q + 1]);
        q += 2;
        char props[1024];
        assert_true(plen < sizeof props);
        memcpy(props, p + q, plen);
        props[plen] = 0;
        char pat[64];
        snprintf(pat, sizeof pat, "%s\001", key);
        char *v = strstr(props, pat);
        assert_non_null(v);
        assert_true(n < max);
        out[n++] = atoi(v + strlen(pat));
        off += total;
    }
    return n;
}

#define TOPIC "SqlWireT"
#define GROUP "cg_sql_wire"
#define CLIENT "127.0.0.1@4242#1234567890"

/* SendMessageRequestHeader as the Java producer sends it (SEND_MESSAGE, code 10), queue 0. */
static void send_msg(int a) {
    char ext[1024];
    snprintf(ext, sizeof ext,
             "{\"batch\":\"false\",\"bornTimestamp\":\"1700000000000\",\"defaultTopic\":\"TBW102\","
             "\"defaultTopicQueueNums\":\"4\",\"flag\":\"0\",\"producerGroup\":\"pg_sql_wire\","
             "\"properties\":\"a\\u0001%d\\u0002TAGS\\u0001t%d\\u0002UNIQ_KEY\\u0001"
             "7F000001000018B4AAC2000000%06d\\u0002WAIT\\u0001true\","
             "\"queueId\":\"0\",\"reconsumeTimes\":\"0\",\"sysFlag\":\"0\",\"topic\":\"" TOPIC
             "\",\"unitMode\":\"false\"}",
             a, a % 2, a);
    char body[16];
    snprintf(body, sizeof body, "m%d", a);
    resp_t r = call(10, ext, body);
    assert_int_equal(r.code, 0);
    resp_free(&r);
}

static void test_java_sql92(void **st) {
    (void)st;
    for (int a = 0; a < 10; a++) send_msg(a);
    for (int i = 0; i < 300; i++) { /* the queue has all ten (dispatch follows the put) */
        resp_t m = call(30, "{\"queueId\":\"0\",\"topic\":\"" TOPIC "\"}", NULL);
        int64_t max = m.code == 0 ? ext_i64(&m, "offset") : -1;
        resp_free(&m);
        if (max == 10) break;
        rmq_sleep_ms(10);
    }

    /* HeartbeatData as fastjson writes it for DefaultMQPushConsumer.subscribe(topic,
     * MessageSelector.bySql("a > 5")) plus the automatic retry subscription */
    const char *hb =
        "{\"clientID\":\"" CLIENT "\",\"consumerDataSet\":[{\"consumeFromWhere\":"
        "\"CONSUME_FROM_FIRST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":"
        "\"" GROUP "\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{"
        "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"SQL92\",\"subString\":"
        "\"a > 5\",\"subVersion\":1700000000001,\"tagsSet\":[],\"topic\":\"" TOPIC "\"},{"
        "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\","
        "\"subVersion\":1700000000002,\"tagsSet\":[],\"topic\":\"%RETRY%" GROUP "\"}],"
        "\"unitMode\":false}],\"producerDataSet\":[{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}";
    resp_t r = call(34, "{}", hb);
    assert_int_equal(r.code, 0);
    resp_free(&r);

    /* CheckClientRequestBody, as DefaultMQPushConsumerImpl.checkClientInBroker sends it */
    const char *chk = "{\"clientId\":\"" CLIENT "\",\"group\":\"" GROUP "\",\"subscriptionData\":{"
                      "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"SQL92\","
                      "\"subString\":\"a > 5\",\"subVersion\":1700000000001,\"tagsSet\":[],"
                      "\"topic\":\"" TOPIC "\"}}";
    r = call(46, "{}", chk);
    assert_int_equal(r.code, 0);
    resp_free(&r);
    const char *bad = "{\"clientId\":\"" CLIENT "\",\"group\":\"" GROUP "\",\"subscriptionData\":{"
                      "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"SQL92\","
                      "\"subString\":\"a >> 5\",\"subVersion\":1700000000001,\"tagsSet\":[],"
                      "\"topic\":\"" TOPIC "\"}}";
    r = call(46, "{}", bad);
    assert_int_equal(r.code, 23); /* SUBSCRIPTION_PARSE_FAILED */
    assert_non_null(strstr(r.remark, "position 4"));
    resp_free(&r);

    /* PullMessageRequestHeader of the push consumer: no SUBSCRIPTION flag, the heartbeat's
     * SQL92 filter applies */
    const char *pull_hb =
        "{\"bname\":\"x\",\"commitOffset\":\"0\",\"consumerGroup\":\"" GROUP "\","
        "\"expressionType\":\"SQL92\",\"maxMsgNums\":\"32\",\"queueId\":\"0\",\"queueOffset\":"
        "\"0\",\"subVersion\":\"1700000000001\",\"suspendTimeoutMillis\":\"15000\",\"sysFlag\":"
        "\"2\",\"topic\":\"" TOPIC "\"}";
    r = call(11, pull_hb, NULL);
    assert_int_equal(r.code, 0);
    int vals[32];
    int n = body_values(&r, "a", vals, 32);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) assert_int_equal(vals[i], 6 + i);
    assert_int_equal(ext_i64(&r, "nextBeginOffset"), 10);
    assert_int_equal(ext_i64(&r, "maxOffset"), 10);
    assert_int_equal(ext_i64(&r, "minOffset"), 0);
    assert_int_equal(ext_i64(&r, "suggestWhichBrokerId"), 0);
    resp_free(&r);

    /* a pull consumer's header: SUBSCRIPTION flag, the expression in the request */
    const char *pull_sub =
        "{\"commitOffset\":\"0\",\"consumerGroup\":\"cg_sql_wire_pull\",\"expressionType\":"
        "\"SQL92\",\"maxMsgNums\":\"32\",\"queueId\":\"0\",\"queueOffset\":\"0\","
        "\"subVersion\":\"0\",\"subscription\":\"a <= 1 OR TAGS = 't1' AND a BETWEEN 7 AND 8\","
        "\"suspendTimeoutMillis\":\"0\",\"sysFlag\":\"4\",\"topic\":\"" TOPIC "\"}";
    r = call(11, pull_sub, NULL);
    assert_int_equal(r.code, 0);
    n = body_values(&r, "a", vals, 32);
    assert_int_equal(n, 3);
    assert_int_equal(vals[0], 0);
    assert_int_equal(vals[1], 1);
    assert_int_equal(vals[2], 7);
    resp_free(&r);

    /* nothing matches: PULL_RETRY_IMMEDIATELY past the scanned range */
    const char *pull_none =
        "{\"commitOffset\":\"0\",\"consumerGroup\":\"cg_sql_wire_pull\",\"expressionType\":"
        "\"SQL92\",\"maxMsgNums\":\"32\",\"queueId\":\"0\",\"queueOffset\":\"0\","
        "\"subVersion\":\"0\",\"subscription\":\"a > 100\",\"suspendTimeoutMillis\":\"0\","
        "\"sysFlag\":\"4\",\"topic\":\"" TOPIC "\"}";
    r = call(11, pull_none, NULL);
    assert_int_equal(r.code, 20);
    assert_int_equal(ext_i64(&r, "nextBeginOffset"), 10);
    resp_free(&r);

    const char *pull_bad =
        "{\"commitOffset\":\"0\",\"consumerGroup\":\"cg_sql_wire_pull\",\"expressionType\":"
        "\"SQL92\",\"maxMsgNums\":\"32\",\"queueId\":\"0\",\"queueOffset\":\"0\","
        "\"subVersion\":\"0\",\"subscription\":\"a IN (1)\",\"suspendTimeoutMillis\":\"0\","
        "\"sysFlag\":\"4\",\"topic\":\"" TOPIC "\"}";
    r = call(11, pull_bad, NULL);
    assert_int_equal(r.code, 23);
    assert_non_null(strstr(r.remark, "position 7"));
    resp_free(&r);

    /* the broker still answers everyone: a TAG pull on the same connection */
    const char *pull_tag =
        "{\"commitOffset\":\"0\",\"consumerGroup\":\"cg_sql_wire_pull\",\"expressionType\":"
        "\"TAG\",\"maxMsgNums\":\"32\",\"queueId\":\"0\",\"queueOffset\":\"0\","
        "\"subVersion\":\"0\",\"subscription\":\"t1\",\"suspendTimeoutMillis\":\"0\","
        "\"sysFlag\":\"4\",\"topic\":\"" TOPIC "\"}";
    r = call(11, pull_tag, NULL);
    assert_int_equal(r.code, 0);
    assert_int_equal(body_values(&r, "a", vals, 32), 5);
    resp_free(&r);
    assert_int_equal(rmq_proc_log_errors(&br), 0);
}

static int setup(void **st) {
    (void)st;
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns, NULL)) return -1;
    memset(&br, 0, sizeof br);
    if (rmq_start_broker(&br, ns.addr, "enablePropertyFilter=true\n")) return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)br.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) return -1;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    if (fd >= 0) close(fd);
    if (br.pid) rmq_proc_stop(&br, SIGTERM);
    if (ns.pid) rmq_proc_stop(&ns, SIGTERM);
    if (br.dir[0]) rmq_rm_rf(br.dir);
    if (ns.dir[0]) rmq_rm_rf(ns.dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_java_sql92)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
