/* mqnamesrv over the wire: two NameServers that share nothing, brokers registered with both
 * by the project's remoting client (a master and a slave of broker-a, and broker-b), routes
 * and cluster info in both JSON styles, KV config, removal on connection close, expiry with a
 * short timeout on a third NameServer, malformed input on raw sockets, unknown request codes,
 * and a clean SIGTERM exit with no ERROR in the log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "remoting/client.h"
#include "test/integration/harness.h"

#define MASTER_A "127.0.0.1:20911"
#define SLAVE_A "127.0.0.1:20921"
#define MASTER_B "127.0.0.1:20931"

static rmq_proc_t ns1, ns2, ns3;
/* One client per broker so a broker's connections can be closed alone. */
static rmq_rem_client_t *cl_ma, *cl_sa, *cl_b, *cl_tool;

static char *body_for(const char *topic, int queues, int perm, int counter) {
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":"
             "{\"counter\":%d,\"timestamp\":1700000000000},\"topicConfigTable\":{\"%s\":"
             "{\"order\":false,\"perm\":%d,\"readQueueNums\":%d,\"topicFilterType\":"
             "\"SINGLE_TAG\",\"topicName\":\"%s\",\"topicSysFlag\":0,\"writeQueueNums\":%d},"
             "\"TBW102\":{\"order\":false,\"perm\":7,\"readQueueNums\":8,\"topicFilterType\":"
             "\"SINGLE_TAG\",\"topicName\":\"TBW102\",\"topicSysFlag\":0,\"writeQueueNums\":8}}}}",
             counter, topic, perm, queues, topic, queues);
    return s;
}

/* REGISTER_BROKER as a Java broker sends it; returns the response (caller destroys). */
static rmq_rem_cmd_t *do_register(rmq_rem_client_t *cl, const char *ns, const char *cluster,
                                  const char *name, const char *addr, int id, const char *body) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    char ha[64];
    snprintf(ha, sizeof ha, "%s-ha", addr);
    rmq_rem_cmd_set(req, "brokerName", name);
    rmq_rem_cmd_set(req, "brokerAddr", addr);
    rmq_rem_cmd_set(req, "clusterName", cluster);
    rmq_rem_cmd_set(req, "haServerAddr", ha);
    rmq_rem_cmd_set_i64(req, "brokerId", id);
    rmq_rem_cmd_set_bool(req, "compressed", false);
    rmq_rem_cmd_set_i64(req, "bodyCrc32", rmq_crc32(0, body, strlen(body)) & 0x7FFFFFFF);
    rmq_rem_cmd_set_body_copy(req, body, strlen(body));
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, ns, req, 3000, &resp), RMQ_OK);
    return resp;
}

static rmq_rem_cmd_t *call(rmq_rem_client_t *cl, const char *ns, rmq_rem_cmd_t *req) {
    rmq_rem_cmd_t *resp = NULL;
    assert_int_equal(rmq_rem_client_invoke_sync(cl, ns, req, 3000, &resp), RMQ_OK);
    return resp;
}

/* Body of resp as a NUL-terminated string (static buffer). */
static const char *body_str(const rmq_rem_cmd_t *resp) {
    static char s[8192];
    size_t n = resp->body_len < sizeof s - 1 ? resp->body_len : sizeof s - 1;
    if (n) memcpy(s, resp->body, n);
    s[n] = 0;
    return s;
}

/* GET_ROUTEINFO_BY_TOPIC with the given request version; *code gets the response code. */
static char *get_route(const char *ns, const char *topic, int version, int *code) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    req->version = version;
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_t *resp = call(cl_tool, ns, req);
    *code = resp->code;
    char *s = strdup(body_str(resp));
    rmq_rem_cmd_destroy(resp);
    return s;
}

static char *simple(const char *ns, int code, const char *k, const char *v, int *rcode) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    if (k) rmq_rem_cmd_set(req, k, v);
    rmq_rem_cmd_t *resp = call(cl_tool, ns, req);
    if (rcode) *rcode = resp->code;
    char *s = strdup(body_str(resp));
    rmq_rem_cmd_destroy(resp);
    return s;
}

static int group_setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    if (rmq_start_namesrv(&ns1, NULL) || rmq_start_namesrv(&ns2, NULL)) return -1;
    rmq_rem_client_cfg_t cfg = {.name = "test"};
    if (rmq_rem_client_new(NULL, &cfg, &cl_ma) || rmq_rem_client_new(NULL, &cfg, &cl_sa) ||
        rmq_rem_client_new(NULL, &cfg, &cl_b) || rmq_rem_client_new(NULL, &cfg, &cl_tool))
        return -1;
    return 0;
}

static int group_teardown(void **state) {
    rmq_rem_client_destroy(cl_ma);
    rmq_rem_client_destroy(cl_sa);
    rmq_rem_client_destroy(cl_b);
    rmq_rem_client_destroy(cl_tool);
    rmq_proc_t *all[] = {&ns1, &ns2, &ns3};
    for (size_t i = 0; i < 3; i++) {
        if (all[i]->pid) rmq_proc_stop(all[i], SIGKILL);
        if (all[i]->dir[0]) rmq_rm_rf(all[i]->dir);
    }
    return 0;
}

static void test_register_and_route(void **state) {
    const char *nss[] = {ns1.addr, ns2.addr};
    for (int i = 0; i < 2; i++) {
        char *b = body_for("TopicTest", 4, 6, 1);
        rmq_rem_cmd_t *r = do_register(cl_ma, nss[i], "DefaultCluster", "broker-a", MASTER_A, 0, b);
        assert_int_equal(r->code, RMQ_OK);
        assert_null(rmq_rem_cmd_get(r, "masterAddr"));
        rmq_rem_cmd_destroy(r);
        /* the slave's answer names its master and the master's HA address */
        r = do_register(cl_sa, nss[i], "DefaultCluster", "broker-a", SLAVE_A, 1, b);
        assert_int_equal(r->code, RMQ_OK);
        assert_non_null(rmq_rem_cmd_get(r, "masterAddr"));
        assert_string_equal(rmq_rem_cmd_get(r, "masterAddr"), MASTER_A);
        assert_string_equal(rmq_rem_cmd_get(r, "haServerAddr"), MASTER_A "-ha");
        rmq_rem_cmd_destroy(r);
        free(b);
        b = body_for("TopicB", 2, 6, 1);
        r = do_register(cl_b, nss[i], "DefaultCluster", "broker-b", MASTER_B, 0, b);
        assert_int_equal(r->code, RMQ_OK);
        rmq_rem_cmd_destroy(r);
        free(b);
    }
    for (int i = 0; i < 2; i++) {
        int code;
        char *s = get_route(nss[i], "TopicTest", 399, &code);
        assert_int_equal(code, RMQ_OK);
        assert_string_equal(
            s, "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"" MASTER_A "\",1:\"" SLAVE_A "\"},"
               "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],"
               "\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,"
               "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}");
        free(s);
        s = get_route(nss[i], "TopicTest", 409, &code);
        assert_int_equal(code, RMQ_OK);
        assert_non_null(strstr(s, "{\"0\":\"" MASTER_A "\",\"1\":\"" SLAVE_A "\"}"));
        free(s);
        /* TBW102 comes from both masters */
        s = get_route(nss[i], "TBW102", 409, &code);
        assert_int_equal(code, RMQ_OK);
        assert_non_null(strstr(s, "\"brokerName\":\"broker-a\",\"perm\":7"));
        assert_non_null(strstr(s, "\"brokerName\":\"broker-b\",\"perm\":7"));
        free(s);
        s = get_route(nss[i], "NoSuchTopic", 409, &code);
        assert_int_equal(code, RMQ_ERR_TOPIC_NOT_EXIST);
        free(s);

        s = simple(nss[i], RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, NULL, &code);
        assert_int_equal(code, RMQ_OK);
        assert_string_equal(
            s,
            "{\"brokerAddrTable\":{\"broker-a\":{\"brokerAddrs\":{0:\"" MASTER_A "\",1:\"" SLAVE_A
            "\"},\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"},\"broker-b\":{"
            "\"brokerAddrs\":{0:\"" MASTER_B "\"},\"brokerName\":\"broker-b\",\"cluster\":"
            "\"DefaultCluster\"}},\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\","
            "\"broker-b\"]}}");
        free(s);
        s = simple(nss[i], RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL, NULL, &code);
        assert_string_equal(s, "{\"topicList\":[\"TBW102\",\"TopicB\",\"TopicTest\"]}");
        free(s);
        s = simple(nss[i], RMQ_REQ_GET_TOPICS_BY_CLUSTER, "cluster", "DefaultCluster", &code);
        assert_string_equal(s, "{\"topicList\":[\"TBW102\",\"TopicB\",\"TopicTest\"]}");
        free(s);
    }

    /* an incremental registration (one new topic, new data version) merges */
    char *b = body_for("TopicNew", 1, 6, 2);
    rmq_rem_cmd_t *r = do_register(cl_ma, ns1.addr, "DefaultCluster", "broker-a", MASTER_A, 0, b);
    rmq_rem_cmd_destroy(r);
    free(b);
    int code;
    char *s = get_route(ns1.addr, "TopicNew", 409, &code);
    assert_int_equal(code, RMQ_OK);
    free(s);
    s = get_route(ns1.addr, "TopicTest", 409, &code);
    assert_int_equal(code, RMQ_OK);
    free(s);
    /* the NameServers share nothing: ns2 never heard of TopicNew */
    s = get_route(ns2.addr, "TopicNew", 409, &code);
    assert_int_equal(code, RMQ_ERR_TOPIC_NOT_EXIST);
    free(s);

    /* QUERY_DATA_VERSION: unchanged for the stored version, changed otherwise */
    for (int counter = 2; counter <= 3; counter++) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_DATA_VERSION);
        rmq_rem_cmd_set(req, "brokerName", "broker-a");
        rmq_rem_cmd_set(req, "brokerAddr", MASTER_A);
        rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
        rmq_rem_cmd_set_i64(req, "brokerId", 0);
        char dv[128];
        snprintf(dv, sizeof dv, "{\"counter\":%d,\"timestamp\":1700000000000}", counter);
        rmq_rem_cmd_set_body_copy(req, dv, strlen(dv));
        r = call(cl_ma, ns1.addr, req);
        assert_int_equal(r->code, RMQ_OK);
        assert_string_equal(rmq_rem_cmd_get(r, "changed"), counter == 2 ? "false" : "true");
        assert_string_equal(body_str(r), "{\"counter\":2,\"timestamp\":1700000000000}");
        rmq_rem_cmd_destroy(r);
    }
}

static void test_kv_config(void **state) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_PUT_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ORDER_TOPIC_CONFIG");
    rmq_rem_cmd_set(req, "key", "TopicTest");
    rmq_rem_cmd_set(req, "value", "broker-a:4");
    rmq_rem_cmd_t *r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_OK);
    rmq_rem_cmd_destroy(r);

    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ORDER_TOPIC_CONFIG");
    rmq_rem_cmd_set(req, "key", "TopicTest");
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_OK);
    assert_string_equal(rmq_rem_cmd_get(r, "value"), "broker-a:4");
    rmq_rem_cmd_destroy(r);

    int code;
    char *s =
        simple(ns1.addr, RMQ_REQ_GET_KVLIST_BY_NAMESPACE, "namespace", "ORDER_TOPIC_CONFIG", &code);
    assert_int_equal(code, RMQ_OK);
    assert_string_equal(s, "{\"table\":{\"TopicTest\":\"broker-a:4\"}}");
    free(s);
    s = simple(ns1.addr, RMQ_REQ_GET_KVLIST_BY_NAMESPACE, "namespace", "nothing", &code);
    assert_int_equal(code, RMQ_ERR_QUERY_NOT_FOUND);
    free(s);

    /* the broker's registration answer carries the order-topic table */
    char *b = body_for("TopicTest", 4, 6, 2);
    r = do_register(cl_ma, ns1.addr, "DefaultCluster", "broker-a", MASTER_A, 0, b);
    free(b);
    assert_string_equal(body_str(r), "{\"table\":{\"TopicTest\":\"broker-a:4\"}}");
    rmq_rem_cmd_destroy(r);

    req = rmq_rem_cmd_new_request(RMQ_REQ_PUT_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ns2");
    rmq_rem_cmd_set(req, "key", "k");
    rmq_rem_cmd_set(req, "value", "v");
    rmq_rem_cmd_destroy(call(cl_tool, ns1.addr, req));
    req = rmq_rem_cmd_new_request(RMQ_REQ_DELETE_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ns2");
    rmq_rem_cmd_set(req, "key", "k");
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_OK);
    rmq_rem_cmd_destroy(r);
    req = rmq_rem_cmd_new_request(RMQ_REQ_GET_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ns2");
    rmq_rem_cmd_set(req, "key", "k");
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_ERR_QUERY_NOT_FOUND);
    rmq_rem_cmd_destroy(r);

    /* persisted in RocketMQ's layout */
    char path[400];
    snprintf(path, sizeof path, "%s/kvConfig.json", ns1.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[512] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "{\"configTable\":{\"ORDER_TOPIC_CONFIG\":{\"TopicTest\":"
                                 "\"broker-a:4\"}"));
}

/* Connect a raw socket, send bytes, and wait for the server to close it (true) or not. */
static bool raw_send_expect_close(int port, const void *p, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd, p, n, 0), (ssize_t)n);
    bool closed = false;
    for (int i = 0; i < 50 && !closed; i++) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) > 0) {
            char buf[256];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            closed = r == 0 || (r < 0 && errno == ECONNRESET);
        }
    }
    close(fd);
    return closed;
}

static void test_malformed(void **state) {
    /* missing header field: SYSTEM_ERROR naming it, connection kept */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-z");
    rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
    rmq_rem_cmd_set(req, "haServerAddr", "x");
    rmq_rem_cmd_set_i64(req, "brokerId", 0);
    rmq_rem_cmd_t *r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(r->remark);
    assert_non_null(strstr(r->remark, "brokerAddr"));
    rmq_rem_cmd_destroy(r);

    /* a number field that is not a number, required or optional */
    static const char *const num_keys[] = {"brokerId", "heartbeatTimeoutMillis"};
    for (size_t i = 0; i < 2; i++) {
        req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
        rmq_rem_cmd_set(req, "brokerName", "broker-z");
        rmq_rem_cmd_set(req, "brokerAddr", "127.0.0.1:1");
        rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
        rmq_rem_cmd_set(req, "haServerAddr", "x");
        rmq_rem_cmd_set(req, "brokerId", i == 0 ? "zero" : "0");
        if (i == 1) rmq_rem_cmd_set(req, "heartbeatTimeoutMillis", "soon");
        r = call(cl_tool, ns1.addr, req);
        assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
        assert_non_null(r->remark);
        char want[128];
        snprintf(want, sizeof want, "the custom field <%s> is not a number", num_keys[i]);
        assert_string_equal(r->remark, want);
        rmq_rem_cmd_destroy(r);
    }

    /* a body that is not JSON */
    req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-z");
    rmq_rem_cmd_set(req, "brokerAddr", "127.0.0.1:1");
    rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
    rmq_rem_cmd_set(req, "haServerAddr", "x");
    rmq_rem_cmd_set_i64(req, "brokerId", 0);
    rmq_rem_cmd_set_body_copy(req, "{not json", 9);
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
    assert_non_null(strstr(r->remark, "RegisterBrokerBody"));
    rmq_rem_cmd_destroy(r);

    /* a CRC that does not match */
    req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-z");
    rmq_rem_cmd_set(req, "brokerAddr", "127.0.0.1:1");
    rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
    rmq_rem_cmd_set(req, "haServerAddr", "x");
    rmq_rem_cmd_set_i64(req, "brokerId", 0);
    rmq_rem_cmd_set_i64(req, "bodyCrc32", 12345);
    rmq_rem_cmd_set_body_copy(req, "{}", 2);
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_ERR_SYSTEM_ERROR);
    assert_string_equal(r->remark, "crc32 not match");
    rmq_rem_cmd_destroy(r);

    /* unknown request code */
    req = rmq_rem_cmd_new_request(9999);
    r = call(cl_tool, ns1.addr, req);
    assert_int_equal(r->code, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED);
    rmq_rem_cmd_destroy(r);

    /* the effective configuration can be read; an update without key=value is refused (the
     * live-key allow-list is 0304-mqadmin-groups') */
    int code;
    char want[64];
    snprintf(want, sizeof want, "listenPort=%d\n", ns1.port);
    char *cfgtext = simple(ns1.addr, 319 /* GET_NAMESRV_CONFIG */, NULL, NULL, &code);
    assert_int_equal(code, RMQ_OK);
    assert_non_null(strstr(cfgtext, want));
    free(cfgtext);
    free(simple(ns1.addr, 318 /* UPDATE_NAMESRV_CONFIG */, NULL, NULL, &code));
    assert_int_equal(code, RMQ_ERR_SYSTEM_ERROR);

    /* garbage bytes and a 100 MB length prefix: that connection closes, the server lives */
    assert_true(raw_send_expect_close(ns1.port, "GET / HTTP/1.1\r\n\r\n", 18));
    uint8_t bad[12];
    rmq_put_be32(bad, 8);
    rmq_put_be32(bad + 4, 1000); /* header longer than the frame */
    memset(bad + 8, 'x', 4);
    assert_true(raw_send_expect_close(ns1.port, bad, sizeof bad));
    uint8_t big[8];
    rmq_put_be32(big, 100u << 20);
    rmq_put_be32(big + 4, 10);
    assert_true(raw_send_expect_close(ns1.port, big, sizeof big));

    char *s = simple(ns1.addr, RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, NULL, &code);
    assert_int_equal(code, RMQ_OK);
    assert_non_null(strstr(s, "broker-a"));
    free(s);
    s = get_route(ns1.addr, "TopicTest", 409, &code);
    assert_int_equal(code, RMQ_OK);
    free(s);
}

/* Poll until topic's route answers want (the server reacts asynchronously). */
static int wait_route_code(const char *ns, const char *topic, int want, int max_ms) {
    int code = -1;
    for (int waited = 0; waited <= max_ms; waited += 100) {
        free(get_route(ns, topic, 409, &code));
        if (code == want) break;
        rmq_sleep_ms(100);
    }
    return code;
}

static void test_unregister_and_conn_close(void **state) {
    /* UNREGISTER the slave on ns2: the route keeps only the master */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UNREGISTER_BROKER);
    rmq_rem_cmd_set(req, "brokerName", "broker-a");
    rmq_rem_cmd_set(req, "brokerAddr", SLAVE_A);
    rmq_rem_cmd_set(req, "clusterName", "DefaultCluster");
    rmq_rem_cmd_set_i64(req, "brokerId", 1);
    rmq_rem_cmd_t *r = call(cl_sa, ns2.addr, req);
    assert_int_equal(r->code, RMQ_OK);
    rmq_rem_cmd_destroy(r);
    int code;
    char *s = get_route(ns2.addr, "TopicTest", 409, &code);
    assert_int_equal(code, RMQ_OK);
    assert_non_null(strstr(s, "{\"0\":\"" MASTER_A "\"}"));
    free(s);

    /* broker-b's connections close: its topics go at once, on both NameServers */
    rmq_rem_client_close_addr(cl_b, ns1.addr);
    rmq_rem_client_close_addr(cl_b, ns2.addr);
    assert_int_equal(wait_route_code(ns1.addr, "TopicB", RMQ_ERR_TOPIC_NOT_EXIST, 5000),
                     RMQ_ERR_TOPIC_NOT_EXIST);
    assert_int_equal(wait_route_code(ns2.addr, "TopicB", RMQ_ERR_TOPIC_NOT_EXIST, 5000),
                     RMQ_ERR_TOPIC_NOT_EXIST);
    s = get_route(ns1.addr, "TBW102", 409, &code);
    assert_int_equal(code, RMQ_OK);
    assert_null(strstr(s, "broker-b"));
    free(s);
    s = simple(ns2.addr, RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, NULL, &code);
    assert_null(strstr(s, "broker-b"));
    free(s);
    /* broker-a is untouched */
    s = get_route(ns1.addr, "TopicTest", 409, &code);
    assert_int_equal(code, RMQ_OK);
    free(s);
}

static void test_expiry(void **state) {
    assert_int_equal(rmq_start_namesrv(&ns3, "brokerChannelExpiredTime=3000\n"
                                             "scanNotActiveBrokerInterval=500\n"
                                             "orderMessageEnable=true\n"),
                     0);
    rmq_rem_client_t *cl;
    rmq_rem_client_cfg_t cfg = {.name = "expiry"};
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    char *b = body_for("TopicX", 2, 6, 1);
    rmq_rem_cmd_t *r = do_register(cl, ns3.addr, "C3", "broker-x", "127.0.0.1:20941", 0, b);
    assert_int_equal(r->code, RMQ_OK);
    rmq_rem_cmd_destroy(r);
    free(b);
    /* with orderMessageEnable the route carries the ORDER_TOPIC_CONFIG entry */
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_PUT_KV_CONFIG);
    rmq_rem_cmd_set(req, "namespace", "ORDER_TOPIC_CONFIG");
    rmq_rem_cmd_set(req, "key", "TopicX");
    rmq_rem_cmd_set(req, "value", "broker-x:2");
    rmq_rem_cmd_destroy(call(cl_tool, ns3.addr, req));
    int code;
    char *route = get_route(ns3.addr, "TopicX", 409, &code);
    assert_int_equal(code, RMQ_OK);
    assert_non_null(strstr(route, "\"filterServerTable\":{},\"orderTopicConf\":\"broker-x:2\","
                                  "\"queueDatas\":["));
    free(route);
    /* silent from now on: gone after ~3-3.5 s */
    assert_int_equal(wait_route_code(ns3.addr, "TopicX", RMQ_ERR_TOPIC_NOT_EXIST, 8000),
                     RMQ_ERR_TOPIC_NOT_EXIST);
    char *s = simple(ns3.addr, RMQ_REQ_GET_BROKER_CLUSTER_INFO, NULL, NULL, &code);
    assert_string_equal(s, "{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");
    free(s);
    rmq_rem_client_destroy(cl);

    FILE *f = fopen(ns3.log, "r");
    assert_non_null(f);
    char line[1024];
    bool expired = false;
    while (fgets(line, sizeof line, f)) expired |= strstr(line, "broker channel expired") != NULL;
    fclose(f);
    assert_true(expired);
}

static void test_sigterm(void **state) {
    rmq_proc_t *all[] = {&ns1, &ns2, &ns3};
    for (size_t i = 0; i < 3; i++) {
        if (!all[i]->pid) continue;
        int st = rmq_proc_stop(all[i], SIGTERM);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_int_equal(rmq_proc_log_errors(all[i]), 0);
        FILE *f = fopen(all[i]->log, "r");
        assert_non_null(f);
        char line[1024];
        bool boot = false, reg = false, down = false;
        while (fgets(line, sizeof line, f)) {
            /* sanitizer reports (ASan/UBSan CI build) fail the test */
            if (strstr(line, "Sanitizer") || strstr(line, "runtime error:"))
                fail_msg("%s: %s", all[i]->log, line);
            boot |= strstr(line, "The Name Server boot success") != NULL;
            reg |= strstr(line, "new broker registered") != NULL;
            down |= strstr(line, "shutdown OK") != NULL;
        }
        fclose(f);
        assert_true(boot);
        assert_true(reg);
        assert_true(down);
    }
}

/* Run mqnamesrv with args, capture stdout+stderr into out; returns the exit status. */
static int run_ns(const char *args, char *out, size_t outsz) {
    char bin[512], cmd[1200];
    rmq_bin_path("mqnamesrv", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outsz - 1, p);
    out[n] = 0;
    return pclose(p);
}

static void test_config_cli(void **state) {
    char dir[256], conf[300], args[400], out[8192];
    assert_int_equal(rmq_mkdtemp("rmq-nscfg", dir, sizeof dir), 0);
    snprintf(conf, sizeof conf, "%s/ns.conf", dir);
    FILE *f = fopen(conf, "w");
    fputs("# comment\nlistenPort = 12345\nnoSuchKey=1\norderMessageEnable=true\n", f);
    fclose(f);
    snprintf(args, sizeof args, "-c %s -p", conf);
    int st = run_ns(args, out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(out, "listenPort=12345\n"));
    assert_non_null(strstr(out, "orderMessageEnable=true\n"));
    assert_non_null(strstr(out, "brokerChannelExpiredTime=120000\n"));
    assert_non_null(strstr(out, "ns.conf:3")); /* the unknown key is warned with file:line */

    f = fopen(conf, "w");
    fputs("listenPort=9876\nscanNotActiveBrokerInterval=soon\n", f);
    fclose(f);
    snprintf(args, sizeof args, "-c %s", conf);
    st = run_ns(args, out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    assert_non_null(strstr(out, "ns.conf:2"));
    assert_non_null(strstr(out, "scanNotActiveBrokerInterval"));

    st = run_ns("-h", out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(out, "kvConfigPath"));
    rmq_rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_route),
        cmocka_unit_test(test_kv_config),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unregister_and_conn_close),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_config_cli),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
