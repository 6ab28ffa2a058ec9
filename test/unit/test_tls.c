/* remoting/tls: two sessions joined in memory (no sockets): the handshake, data both ways in
 * many records, refusals (wrong CA, no client certificate under require), garbage, and the
 * tls.* keys with tls.config.file. Certificates come from test/integration/tls-certs.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "remoting/tls.h"

static char pki[256];

static char *pk(const char *f) {
    static char bufs[8][300];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", pki, f);
    return b;
}

static void set(rmq_rem_tls_cfg_t *c, const char *k, const char *v) {
    char err[256];
    assert_int_equal(rmq_rem_tls_cfg_set(c, k, v, err, sizeof err), RMQ_OK);
}

/* Move every pending ciphertext byte from a to b. */
static bool pass(rmq_rem_tls_t *a, rmq_rem_tls_t *b) {
    size_t len, cap;
    uint8_t *d = rmq_rem_tls_take(a, &len, &cap);
    if (!d) return false;
    assert_int_equal(rmq_rem_tls_feed(b, d, len), RMQ_OK);
    free(d);
    return true;
}

/* Run both handshakes to the end: 1 both done, -1 one failed. */
static int shake(rmq_rem_tls_t *c, rmq_rem_tls_t *s, char *err, size_t n) {
    for (int round = 0; round < 20; round++) {
        int rc = rmq_rem_tls_handshake(c, err, n);
        if (rc < 0) return -1;
        pass(c, s);
        int rs = rmq_rem_tls_handshake(s, err, n);
        if (rs < 0) return -1;
        pass(s, c);
        if (rc == 1 && rs == 1) return 1;
    }
    return 0;
}

typedef struct {
    rmq_rem_tls_cfg_t cfg;
    rmq_rem_tls_ctx_t *sx, *cx;
} fx_t;

static fx_t *fx_new(const char *auth, const char *trust, bool client_cert) {
    fx_t *f = calloc(1, sizeof *f);
    rmq_rem_tls_cfg_defaults(&f->cfg);
    set(&f->cfg, "tls.server.mode", "enforcing");
    set(&f->cfg, "tls.server.need.client.auth", auth);
    set(&f->cfg, "tls.server.certPath", pk("server.crt"));
    set(&f->cfg, "tls.server.keyPath", pk("server-enc.key"));
    set(&f->cfg, "tls.server.keyPassword", "secret");
    set(&f->cfg, "tls.server.trustCertPath", pk("ca.crt"));
    set(&f->cfg, "tls.client.authServer", "true");
    set(&f->cfg, "tls.client.trustCertPath", pk(trust));
    if (client_cert) {
        set(&f->cfg, "tls.client.certPath", pk("client.crt"));
        set(&f->cfg, "tls.client.keyPath", pk("client.key"));
    }
    char err[256];
    assert_int_equal(rmq_rem_tls_ctx_new(&f->cfg, true, &f->sx, err, sizeof err), RMQ_OK);
    assert_int_equal(rmq_rem_tls_ctx_new(&f->cfg, false, &f->cx, err, sizeof err), RMQ_OK);
    return f;
}

static void fx_free(fx_t *f) {
    rmq_rem_tls_ctx_destroy(f->sx);
    rmq_rem_tls_ctx_destroy(f->cx);
    rmq_rem_tls_cfg_free(&f->cfg);
    free(f);
}

static void test_round_trip(void **st) {
    fx_t *f = fx_new("require", "ca.crt", true);
    rmq_rem_tls_t *c = rmq_rem_tls_new(f->cx), *s = rmq_rem_tls_new(f->sx);
    char err[256];
    assert_int_equal(shake(c, s, err, sizeof err), 1);
    /* 100 KB in three pieces (several records, a small piece gathered with the next) */
    size_t n = 100000;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7);
    uv_buf_t b[3] = {uv_buf_init((char *)big, 10), uv_buf_init((char *)big + 10, 90000),
                     uv_buf_init((char *)big + 90010, (unsigned)(n - 90010))};
    assert_int_equal(rmq_rem_tls_write(c, b, 3, err, sizeof err), 0);
    assert_true(pass(c, s));
    rmq_buf_t got;
    rmq_buf_init(&got);
    assert_int_equal(rmq_rem_tls_read(s, &got, err, sizeof err), 0);
    assert_int_equal(rmq_buf_unread(&got), n);
    assert_memory_equal(rmq_buf_rptr(&got), big, n);
    /* and back */
    uv_buf_t r = uv_buf_init("pong", 4);
    assert_int_equal(rmq_rem_tls_write(s, &r, 1, err, sizeof err), 0);
    assert_true(pass(s, c));
    rmq_buf_reset(&got);
    assert_int_equal(rmq_rem_tls_read(c, &got, err, sizeof err), 0);
    assert_int_equal(rmq_buf_unread(&got), 4);
    /* close_notify ends the peer's reads */
    rmq_rem_tls_close_notify(c);
    assert_true(pass(c, s));
    assert_int_equal(rmq_rem_tls_read(s, &got, err, sizeof err), -1);
    assert_string_equal(err, "closed");
    rmq_buf_fini(&got);
    free(big);
    rmq_rem_tls_destroy(c);
    rmq_rem_tls_destroy(s);
    fx_free(f);
}

static void test_wrong_ca(void **st) {
    fx_t *f = fx_new("none", "other-ca.crt", true);
    rmq_rem_tls_t *c = rmq_rem_tls_new(f->cx), *s = rmq_rem_tls_new(f->sx);
    char err[256];
    assert_int_equal(shake(c, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "server certificate refused"));
    rmq_rem_tls_destroy(c);
    rmq_rem_tls_destroy(s);
    fx_free(f);
}

static void test_no_client_cert(void **st) {
    fx_t *f = fx_new("require", "ca.crt", false);
    rmq_rem_tls_t *c = rmq_rem_tls_new(f->cx), *s = rmq_rem_tls_new(f->sx);
    char err[256];
    assert_int_equal(shake(c, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "no certificate"));
    rmq_rem_tls_destroy(c);
    rmq_rem_tls_destroy(s);
    fx_free(f);
    /* optional: no certificate is fine */
    f = fx_new("optional", "ca.crt", false);
    c = rmq_rem_tls_new(f->cx);
    s = rmq_rem_tls_new(f->sx);
    assert_int_equal(shake(c, s, err, sizeof err), 1);
    rmq_rem_tls_destroy(c);
    rmq_rem_tls_destroy(s);
    fx_free(f);
}

static void test_garbage(void **st) {
    fx_t *f = fx_new("none", "ca.crt", false);
    rmq_rem_tls_t *s = rmq_rem_tls_new(f->sx);
    char err[256];
    assert_int_equal(rmq_rem_tls_handshake(s, err, sizeof err), 0); /* waits for a hello */
    const uint8_t junk[] = {0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 9, 9, 9, 9};
    assert_int_equal(rmq_rem_tls_feed(s, junk, sizeof junk), RMQ_OK);
    assert_int_equal(rmq_rem_tls_handshake(s, err, sizeof err), -1);
    rmq_rem_tls_destroy(s);
    /* a plaintext remoting frame is garbage too */
    s = rmq_rem_tls_new(f->sx);
    const uint8_t frame[] = {0, 0, 0, 20, 0, 0, 0, 16, '{', '"', 'c', 'o', 'd', 'e', '"', ':'};
    assert_int_equal(rmq_rem_tls_feed(s, frame, sizeof frame), RMQ_OK);
    assert_int_equal(rmq_rem_tls_handshake(s, err, sizeof err), -1);
    rmq_rem_tls_destroy(s);
    fx_free(f);
}

static void test_config(void **st) {
    rmq_rem_tls_cfg_t c;
    rmq_rem_tls_cfg_defaults(&c);
    assert_int_equal(c.server_mode, RMQ_REM_TLS_DISABLED);
    assert_int_equal(c.handshake_timeout_ms, 10000);
    char err[256];
    assert_int_equal(rmq_rem_tls_cfg_set(&c, "tls.server.mode", "sometimes", err, sizeof err),
                     RMQ_ERR__CONFIG);
    assert_int_equal(rmq_rem_tls_cfg_set(&c, "tls.nope", "1", err, sizeof err), RMQ_ERR__NOT_FOUND);
    char props[300];
    snprintf(props, sizeof props, "%s/tls.properties", pki);
    FILE *fp = fopen(props, "w");
    fputs("tls.server.mode=permissive\nuseTLS=true\ntls.server.need.client.auth=optional\n", fp);
    fclose(fp);
    set(&c, "tls.server.mode", "enforcing");
    set(&c, "tls.config.file", props);
    assert_int_equal(rmq_rem_tls_cfg_load_file(&c, err, sizeof err), RMQ_OK);
    assert_int_equal(c.server_mode, RMQ_REM_TLS_PERMISSIVE); /* the file wins */
    assert_int_equal(c.need_client_auth, RMQ_REM_TLS_AUTH_OPTIONAL);
    assert_true(c.enable);
    /* a server without a certificate is refused with a reason */
    rmq_rem_tls_ctx_t *x = NULL;
    assert_int_equal(rmq_rem_tls_ctx_new(&c, true, &x, err, sizeof err), RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "certPath"));
    set(&c, "tls.server.certPath", pk("server.crt"));
    set(&c, "tls.server.keyPath", pk("server-enc.key"));
    set(&c, "tls.server.keyPassword", "wrong");
    assert_int_equal(rmq_rem_tls_ctx_new(&c, true, &x, err, sizeof err), RMQ_ERR__CONFIG);
    assert_non_null(strstr(err, "private key"));
    rmq_rem_tls_cfg_free(&c);
}

int main(void) {
    snprintf(pki, sizeof pki, "/tmp/rmq-tls-unit.XXXXXX");
    if (!mkdtemp(pki)) return 1;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", RMQ_TLS_CERTS_SCRIPT, pki);
    if (system(cmd) != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_no_client_cert), cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_config),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki);
    if (system(cmd) != 0) rc++;
    return rc;
}
