/* 0500: TLS (remoting/tls.h) between real processes, with a CA and certificates made at test
 * time by tls-certs.sh (the openssl CLI).
 *
 * Enforcing (NameServer and broker, client certificates required, the broker's outbound
 * connections over TLS, its keys read from tls.config.file): a librmq producer and push
 * consumer round trip; a client trusting another CA, a plaintext client and a client without
 * a certificate are all refused, and the servers name why; garbage during a handshake and a
 * stalled handshake close only their connection while a TLS producer keeps sending.
 * Permissive: plaintext and TLS clients on the same ports. HA: master and slave replicate over
 * TLS (the master's HA port enforcing) until the slave's CommitLog equals the master's. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_util.h"
#include "remoting/tls.h"
#include "sdk_util.h"

static char pki[256];

static void path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/%s", pki, file);
}

static bool log_has(const char *log, const char *needle) {
    FILE *f = fopen(log, "r");
    if (!f) return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static bool wait_log(const char *log, const char *needle, int timeout_ms) {
    for (int w = 0; w < timeout_ms; w += 100) {
        if (log_has(log, needle)) return true;
        rmq_sleep_ms(100);
    }
    fprintf(stderr, "%s: no \"%s\"\n", log, needle);
    return false;
}

/* Server keys for mode; tls.enable and the client keys too (the broker's outbound side). */
static void server_keys(char *out, size_t n, const char *mode, const char *auth) {
    char crt[300], key[300], ca[300], ccrt[300], ckey[300];
    path(crt, sizeof crt, "server.crt");
    path(key, sizeof key, "server-enc.key"); /* encrypted: tls.server.keyPassword */
    path(ca, sizeof ca, "ca.crt");
    path(ccrt, sizeof ccrt, "client.crt");
    path(ckey, sizeof ckey, "client.key");
    snprintf(out, n,
             "tls.server.mode=%s\ntls.server.need.client.auth=%s\ntls.server.certPath=%s\n"
             "tls.server.keyPath=%s\ntls.server.keyPassword=secret\n"
             "tls.server.trustCertPath=%s\ntls.enable=true\ntls.client.authServer=true\n"
             "tls.client.trustCertPath=%s\ntls.client.certPath=%s\ntls.client.keyPath=%s\n"
             "tls.handshake.timeout=1500\n",
             mode, auth, crt, key, ca, ca, ccrt, ckey);
}

/* Start su_ns and su_broker with TLS in mode; the broker reads its keys from a tls.config.file
 * (RocketMQ's tls.properties). */
static int start_pair(const char *mode, const char *auth) {
    memset(&su_ns, 0, sizeof su_ns);
    memset(&su_broker, 0, sizeof su_broker);
    char keys[4096];
    server_keys(keys, sizeof keys, mode, auth);
    if (rmq_start_namesrv(&su_ns, keys) != 0) return -1;
    char props[300], extra[512];
    path(props, sizeof props, "tls.properties");
    FILE *f = fopen(props, "w");
    if (!f) return -1;
    fputs(keys, f);
    fclose(f);
    /* brokerIP1 again: the harness then skips its plaintext registration probe */
    snprintf(extra, sizeof extra, "tls.config.file=%s\nbrokerIP1=127.0.0.1\n", props);
    return rmq_start_broker(&su_broker, su_ns.addr, extra);
}

static void stop_pair(void) {
    if (su_broker.pid) assert_int_equal(rmq_proc_log_errors(&su_broker), 0);
    if (su_ns.pid) assert_int_equal(rmq_proc_log_errors(&su_ns), 0);
    su_stop();
}

/* A conf speaking TLS as a RocketMQ client: trust the test CA (or ca), present the client
 * certificate unless cert is false. */
static rmq_conf_t *tls_conf(const char *group, const char *ca, bool cert) {
    rmq_conf_t *c = su_conf(group);
    char p[300];
    su_set(c, "useTLS", "true");
    su_set(c, "tls.client.authServer", "true");
    path(p, sizeof p, ca ? ca : "ca.crt");
    su_set(c, "tls.client.trustCertPath", p);
    if (cert) {
        path(p, sizeof p, "client.crt");
        su_set(c, "tls.client.certPath", p);
        path(p, sizeof p, "client.key");
        su_set(c, "tls.client.keyPath", p);
    }
    su_set(c, "sendMsgTimeout", "3000");
    return c;
}

static rmq_producer_t *producer(rmq_conf_t *c) {
    char err[256];
    rmq_producer_t *p = rmq_producer_new(c, err, sizeof err);
    if (!p) fprintf(stderr, "producer: %s\n", err);
    return p;
}

/* Send id until it succeeds (the broker registers with the NameServer over TLS first). */
static bool send_until_ok(rmq_producer_t *p, const char *topic, int id, int timeout_ms) {
    for (int w = 0; w < timeout_ms; w += 300) {
        if (su_send_id(p, topic, id, "t") == RMQ_OK) return true;
        rmq_sleep_ms(300);
    }
    return false;
}

/* ------------------------------------------------------------------ enforcing */

static int setup_enforcing(void **st) {
    return start_pair("enforcing", "require");
}
static int teardown_enforcing(void **st) {
    stop_pair();
    return 0;
}

static void test_round_trip(void **st) {
    const int N = 200;
    rmq_producer_t *p = producer(tls_conf("pg_tls", NULL, true));
    assert_non_null(p);
    assert_true(send_until_ok(p, "TlsTopic", 0, 30000));
    for (int i = 1; i < N; i++) assert_int_equal(su_send_id(p, "TlsTopic", i, "t"), RMQ_OK);
    su_counter_t *cnt = malloc(sizeof *cnt);
    su_counter_init(cnt);
    rmq_conf_t *cc = tls_conf("cg_tls", NULL, true);
    su_set(cc, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(cc, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe(pc, "TlsTopic", "*"), RMQ_OK);
    assert_int_equal(rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, su_listener, cnt),
                     RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(pc), RMQ_OK);
    assert_true(su_wait_all(cnt, N, 1, 60000));
    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(p);
    free(cnt);
    /* the broker reached the NameServer over TLS: it is enforcing, and routes were served */
    assert_true(log_has(su_ns.log, "boot success"));
}

static void test_wrong_ca_refused(void **st) {
    rmq_producer_t *p = producer(tls_conf("pg_wrong_ca", "other-ca.crt", true));
    assert_non_null(p);
    assert_int_not_equal(su_send_id(p, "TlsTopic", 1, "t"), RMQ_OK);
    rmq_producer_destroy(p);
}

static void test_plaintext_refused(void **st) {
    rmq_producer_t *p = producer(su_conf("pg_plain"));
    assert_non_null(p);
    assert_int_not_equal(su_send_id(p, "TlsTopic", 1, "t"), RMQ_OK);
    rmq_producer_destroy(p);
    assert_true(wait_log(su_ns.log, "TLS handshake with", 5000));
}

static void test_no_client_cert_refused(void **st) {
    rmq_producer_t *p = producer(tls_conf("pg_nocert", NULL, false));
    assert_non_null(p);
    assert_int_not_equal(su_send_id(p, "TlsTopic", 1, "t"), RMQ_OK);
    rmq_producer_destroy(p);
    assert_true(wait_log(su_ns.log, "client sent no certificate", 5000));
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* True once the peer closed fd (read returns 0 or a reset) within timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms) {
    char b[4096];
    for (int w = 0; w < timeout_ms; w += 1000) {
        ssize_t n = read(fd, b, sizeof b);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
    return false;
}

static void test_garbage_and_stall_close_only_that_connection(void **st) {
    rmq_producer_t *p = producer(tls_conf("pg_keep", NULL, true));
    assert_non_null(p);
    assert_true(send_until_ok(p, "TlsTopic", 0, 30000));
    /* a record header announcing a handshake, then garbage */
    int g = raw_connect(su_broker.port);
    assert_true(g >= 0);
    uint8_t junk[64] = {0x16, 0x03, 0x01, 0x00, 0x3b, 0x01, 0x00, 0x00, 0x37, 0xff, 0xee};
    for (size_t i = 11; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37);
    assert_int_equal(write(g, junk, sizeof junk), (ssize_t)sizeof junk);
    /* a handshake that stops after 3 bytes of its record header */
    int s = raw_connect(su_broker.port);
    assert_true(s >= 0);
    assert_int_equal(write(s, junk, 3), 3);
    assert_true(closed_by_peer(g, 10000));
    for (int i = 1; i <= 20; i++) assert_int_equal(su_send_id(p, "TlsTopic", i, "t"), RMQ_OK);
    assert_true(closed_by_peer(s, 15000)); /* tls.handshake.timeout=1500 */
    assert_true(wait_log(su_broker.log, "TLS handshake not done", 5000));
    assert_int_equal(su_send_id(p, "TlsTopic", 21, "t"), RMQ_OK);
    close(g);
    close(s);
    rmq_producer_destroy(p);
}

/* ----------------------------------------------------------------- permissive */

static int setup_permissive(void **st) {
    return start_pair("permissive", "optional");
}

static void test_permissive_serves_both(void **st) {
    rmq_producer_t *t = producer(tls_conf("pg_perm_tls", NULL, true));
    rmq_producer_t *pl = producer(su_conf("pg_perm_plain"));
    assert_non_null(t);
    assert_non_null(pl);
    assert_true(send_until_ok(t, "PermTopic", 0, 30000));
    for (int i = 1; i < 20; i++) {
        assert_int_equal(su_send_id(t, "PermTopic", i, "tls"), RMQ_OK);
        assert_int_equal(su_send_id(pl, "PermTopic", 100 + i, "plain"), RMQ_OK);
    }
    /* optional: a TLS client without a certificate is served too */
    rmq_producer_t *nc = producer(tls_conf("pg_perm_nocert", NULL, false));
    assert_non_null(nc);
    assert_int_equal(su_send_id(nc, "PermTopic", 200, "tls"), RMQ_OK);
    rmq_producer_destroy(nc);
    rmq_producer_destroy(pl);
    rmq_producer_destroy(t);
}

/* ------------------------------------------------------------------------- HA */

static void test_ha_over_tls(void **st) {
    char keys[4096], extra[6144], conf[8192];
    server_keys(keys, sizeof keys, "enforcing", "require");
    rmq_proc_t ns, m, s;
    assert_int_equal(rmq_start_namesrv(&ns, keys), 0);
    assert_int_equal(rmq_broker_prepare(&m), 0);
    memset(&s, 0, sizeof s);
    snprintf(extra, sizeof extra, "%sbrokerRole=ASYNC_MASTER\nbrokerIP1=127.0.0.1\n", keys);
    assert_int_equal(rmq_start_broker(&m, ns.addr, extra), 0);
    snprintf(extra, sizeof extra, "%shaMasterAddress=127.0.0.1:%d\nbrokerIP1=127.0.0.1\n", keys,
             m.port + 1);
    bt_slave_conf(conf, sizeof conf, &m, extra);
    assert_int_equal(rmq_start_broker(&s, ns.addr, conf), 0);

    rmq_rem_tls_cfg_t tc;
    rmq_rem_tls_cfg_defaults(&tc);
    char p[300], err[256];
    tc.enable = true;
    path(p, sizeof p, "ca.crt");
    assert_int_equal(rmq_rem_tls_cfg_set(&tc, "tls.client.trustCertPath", p, err, sizeof err), 0);
    path(p, sizeof p, "client.crt");
    assert_int_equal(rmq_rem_tls_cfg_set(&tc, "tls.client.certPath", p, err, sizeof err), 0);
    path(p, sizeof p, "client.key");
    assert_int_equal(rmq_rem_tls_cfg_set(&tc, "tls.client.keyPath", p, err, sizeof err), 0);
    tc.client_auth_server = true;
    rmq_rem_client_cfg_t ccfg = {.name = "tls-ha", .tls = &tc};
    rmq_rem_client_t *cl = NULL;
    assert_int_equal(rmq_rem_client_new(NULL, &ccfg, &cl), RMQ_OK);
    rmq_rem_tls_cfg_free(&tc);
    bt_create_topic(cl, m.addr, "TlsHa", 2, 6);
    bt_create_topic(cl, s.addr, "TlsHa", 2, 6);
    assert_true(bt_wait_slaves(cl, m.addr, 1, 30000));
    for (int i = 0; i < 300; i++) {
        char props[256], body[256];
        bt_props(props, sizeof props, NULL, NULL, NULL);
        snprintf(body, sizeof body, "ha-tls-%d", i);
        rmq_rem_cmd_t *resp =
            bt_call(cl, m.addr, bt_send_req("TlsHa", i % 2, body, strlen(body), props), BT_TIMEOUT);
        assert_int_equal(resp->code, 0);
        rmq_rem_cmd_destroy(resp);
    }
    /* the key password never leaves the broker */
    rmq_rem_cmd_t *cfg =
        bt_call(cl, m.addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CONFIG), BT_TIMEOUT);
    assert_int_equal(cfg->code, 0);
    /* masked (kvconf prints ******) or left out (GET_BROKER_CONFIG drops secret keys) */
    assert_null(memmem(cfg->body, cfg->body_len, "keyPassword=secret", 18));
    assert_null(memmem(cfg->body, cfg->body_len, "secret", 6));
    rmq_rem_cmd_destroy(cfg);
    int64_t off = bt_wait_caught_up(cl, m.addr, s.addr, 30000);
    assert_true(off > 0);
    assert_true(log_has(m.log, "TLS established"));
    assert_true(log_has(s.log, "TLS established"));
    rmq_rem_client_destroy(cl);
    assert_int_equal(rmq_proc_log_errors(&m), 0);
    assert_int_equal(rmq_proc_log_errors(&s), 0);
    rmq_proc_stop(&s, SIGTERM);
    rmq_proc_stop(&m, SIGTERM);
    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(s.dir);
    rmq_rm_rf(m.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    if (rmq_mkdtemp("rmq-pki", pki, sizeof pki)) return 1;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", RMQ_TLS_CERTS_SCRIPT, pki);
    if (system(cmd) != 0) {
        fprintf(stderr, "tls-certs.sh failed\n");
        return 1;
    }
    const struct CMUnitTest enforcing[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_ca_refused),
        cmocka_unit_test(test_plaintext_refused),
        cmocka_unit_test(test_no_client_cert_refused),
        cmocka_unit_test(test_garbage_and_stall_close_only_that_connection),
    };
    const struct CMUnitTest permissive[] = {
        cmocka_unit_test(test_permissive_serves_both),
    };
    const struct CMUnitTest ha[] = {
        cmocka_unit_test(test_ha_over_tls),
    };
    int rc =
        cmocka_run_group_tests_name("enforcing", enforcing, setup_enforcing, teardown_enforcing);
    rc +=
        cmocka_run_group_tests_name("permissive", permissive, setup_permissive, teardown_enforcing);
    rc += cmocka_run_group_tests_name("ha", ha, NULL, NULL);
    rmq_rm_rf(pki);
    return rc;
}
