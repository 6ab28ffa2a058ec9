/* TLS sessions on memory buffers (see tls.h).
 *
 * The BIO callbacks never block: recv hands out what was fed in or answers WANT_READ, send
 * appends to the session's out buffer, which the owner takes and writes with libuv. A
 * context is used by one loop thread (its DRBG is not shared between threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/util.h"
#include "remoting/tls.h"

const char *const rmq_rem_tls_mode_names[] = {"disabled", "permissive", "enforcing", NULL};
const char *const rmq_rem_tls_auth_names[] = {"none", "optional", "require", NULL};

/* The same table as servers embed, on a struct holding just the TLS config at offset 0. */
typedef struct {
    rmq_rem_tls_cfg_t t;
} tls_only_t;
static const rmq_kv_def_t tls_defs[] = {RMQ_REM_TLS_KV_DEFS(tls_only_t, t)};

struct rmq_rem_tls_ctx_s {
    int suites[128]; /* AES-GCM first (AES-NI), then the rest of mbedTLS's defaults */
    bool server;
    int need_client_auth;
    bool auth_peer; /* verify the peer's chain (and fail on a bad one) */
    int handshake_timeout_ms;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt cert, ca;
    mbedtls_pk_context key;
    bool has_cert, has_ca;
};

struct rmq_rem_tls_s {
    rmq_rem_tls_ctx_t *x;
    mbedtls_ssl_context ssl;
    rmq_buf_t in;  /* ciphertext received, not yet consumed by mbedTLS */
    rmq_buf_t out; /* ciphertext to write */
    bool established;
    bool failed;
    uint8_t *stage; /* STAGE bytes: small pieces gathered into one record */
};

#define STAGE (16 * 1024)

/* ------------------------------------------------------------------------ config */

void rmq_rem_tls_cfg_defaults(rmq_rem_tls_cfg_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    rmq_kv_defaults(tls_defs, RMQ_ARRAY_LEN(tls_defs), cfg);
}

rmq_err_t rmq_rem_tls_cfg_set(rmq_rem_tls_cfg_t *cfg, const char *key, const char *val, char *err,
                              size_t errlen) {
    return rmq_kv_set(tls_defs, RMQ_ARRAY_LEN(tls_defs), cfg, key, val, err, errlen);
}

void rmq_rem_tls_cfg_free(rmq_rem_tls_cfg_t *cfg) {
    rmq_kv_free(tls_defs, RMQ_ARRAY_LEN(tls_defs), cfg);
}

rmq_err_t rmq_rem_tls_cfg_load_file(rmq_rem_tls_cfg_t *cfg, char *err, size_t errlen) {
    if (!cfg->config_file || !*cfg->config_file) return RMQ_OK;
    char *path = strdup(cfg->config_file); /* the file may set tls.config.file itself */
    if (!path) return RMQ_ERR__NOMEM;
    rmq_err_t e = rmq_kv_load_file(tls_defs, RMQ_ARRAY_LEN(tls_defs), cfg, path, err, errlen);
    free(path);
    return e;
}

/* ----------------------------------------------------------------------- context */

static void mbed_err(int rc, const char *what, const char *path, char *err, size_t errlen) {
    char m[128];
    mbedtls_strerror(rc, m, sizeof m);
    snprintf(err, errlen, "%s%s%s: %s", what, path ? " " : "", path ? path : "", m);
}

/* mbedTLS's default list with the ECDHE ChaCha20-Poly1305 suites, then the ECDHE AES-GCM ones,
 * moved to the front: in mbedTLS 2.28 ChaCha20-Poly1305 costs ~60 % of the CPU of AES-128-GCM
 * (whose GHASH goes block by block even with AES-NI), and a client without ChaCha20 (a Java 8
 * one) still gets AES-GCM. */
static void order_suites(rmq_rem_tls_ctx_t *x) {
    const int *all = mbedtls_ssl_list_ciphersuites();
    size_t n = 0, cap = RMQ_ARRAY_LEN(x->suites) - 1;
    for (int pass = 0; pass < 3; pass++) {
        for (const int *p = all; *p && n < cap; p++) {
            const char *name = mbedtls_ssl_get_ciphersuite_name(*p);
            bool ecdhe = name && strstr(name, "ECDHE") && !strstr(name, "PSK");
            int rank = !ecdhe                              ? 2
                       : strstr(name, "CHACHA20-POLY1305") ? 0
                       : strstr(name, "-GCM-")             ? 1
                                                           : 2;
            if (rank == pass) x->suites[n++] = *p;
        }
    }
    x->suites[n] = 0;
    mbedtls_ssl_conf_ciphersuites(&x->conf, x->suites);
}

rmq_err_t rmq_rem_tls_ctx_new(const rmq_rem_tls_cfg_t *cfg, bool server, rmq_rem_tls_ctx_t **out,
                              char *err, size_t errlen) {
    *out = NULL;
    rmq_rem_tls_ctx_t *x = calloc(1, sizeof *x);
    if (!x) return RMQ_ERR__NOMEM;
    x->server = server;
    x->handshake_timeout_ms = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 10000;
    mbedtls_ssl_config_init(&x->conf);
    mbedtls_entropy_init(&x->entropy);
    mbedtls_ctr_drbg_init(&x->drbg);
    mbedtls_x509_crt_init(&x->cert);
    mbedtls_x509_crt_init(&x->ca);
    mbedtls_pk_init(&x->key);
    const char *cert = server ? cfg->server_cert_path : cfg->client_cert_path;
    const char *key = server ? cfg->server_key_path : cfg->client_key_path;
    const char *pw = server ? cfg->server_key_password : cfg->client_key_password;
    const char *trust = server ? cfg->server_trust_cert_path : cfg->client_trust_cert_path;
    int rc;
    if ((rc = mbedtls_ctr_drbg_seed(&x->drbg, mbedtls_entropy_func, &x->entropy,
                                    (const unsigned char *)"rmq-tls", 7))) {
        mbed_err(rc, "random generator", NULL, err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_ssl_config_defaults(
             &x->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
             MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT))) {
        mbed_err(rc, "ssl config", NULL, err, errlen);
        goto fail;
    }
    mbedtls_ssl_conf_rng(&x->conf, mbedtls_ctr_drbg_random, &x->drbg);
    order_suites(x);
    mbedtls_ssl_conf_min_version(&x->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(&x->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    if (cert && *cert) {
        if ((rc = mbedtls_x509_crt_parse_file(&x->cert, cert))) {
            mbed_err(rc, "certificate", cert, err, errlen);
            goto fail;
        }
        if (!key || !*key) {
            snprintf(err, errlen, "certificate %s without a key (keyPath)", cert);
            goto fail;
        }
        if ((rc = mbedtls_pk_parse_keyfile(&x->key, key, pw && *pw ? pw : NULL))) {
            mbed_err(rc, "private key", key, err, errlen);
            goto fail;
        }
        if ((rc = mbedtls_ssl_conf_own_cert(&x->conf, &x->cert, &x->key))) {
            mbed_err(rc, "certificate and key", cert, err, errlen);
            goto fail;
        }
        x->has_cert = true;
    } else if (server) {
        snprintf(err, errlen, "TLS server needs tls.server.certPath and tls.server.keyPath");
        goto fail;
    }
    if (trust && *trust) {
        if ((rc = mbedtls_x509_crt_parse_file(&x->ca, trust))) {
            mbed_err(rc, "trust certificates", trust, err, errlen);
            goto fail;
        }
        mbedtls_ssl_conf_ca_chain(&x->conf, &x->ca, NULL);
        x->has_ca = true;
    }
    if (server) {
        x->need_client_auth = cfg->need_client_auth;
        x->auth_peer = cfg->server_auth_client;
        if (x->need_client_auth != RMQ_REM_TLS_AUTH_NONE && x->auth_peer && !x->has_ca) {
            snprintf(err, errlen, "tls.server.need.client.auth=%s needs tls.server.trustCertPath",
                     rmq_rem_tls_auth_names[x->need_client_auth]);
            goto fail;
        }
        /* OPTIONAL: mbedTLS asks for a certificate and goes on; we judge it after the
         * handshake (absent under require, or failing the chain when authClient). */
        mbedtls_ssl_conf_authmode(&x->conf, x->need_client_auth == RMQ_REM_TLS_AUTH_NONE
                                                ? MBEDTLS_SSL_VERIFY_NONE
                                                : MBEDTLS_SSL_VERIFY_OPTIONAL);
    } else {
        x->auth_peer = cfg->client_auth_server && !cfg->test_mode;
        if (x->auth_peer && !x->has_ca) {
            snprintf(err, errlen, "tls.client.authServer=true needs tls.client.trustCertPath");
            goto fail;
        }
        mbedtls_ssl_conf_authmode(&x->conf, x->auth_peer ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                         : MBEDTLS_SSL_VERIFY_NONE);
    }
    *out = x;
    return RMQ_OK;
fail:
    rmq_rem_tls_ctx_destroy(x);
    return RMQ_ERR__CONFIG;
}

void rmq_rem_tls_ctx_destroy(rmq_rem_tls_ctx_t *x) {
    if (!x) return;
    mbedtls_ssl_config_free(&x->conf);
    mbedtls_x509_crt_free(&x->cert);
    mbedtls_x509_crt_free(&x->ca);
    mbedtls_pk_free(&x->key);
    mbedtls_ctr_drbg_free(&x->drbg);
    mbedtls_entropy_free(&x->entropy);
    free(x);
}

int rmq_rem_tls_ctx_handshake_timeout(const rmq_rem_tls_ctx_t *x) {
    return x->handshake_timeout_ms;
}

/* ----------------------------------------------------------------------- session */

static int bio_send(void *arg, const unsigned char *p, size_t n) {
    rmq_rem_tls_t *s = arg;
    /* a taken buffer leaves out empty: start the next at a size that holds a few records
     * instead of regrowing from 256 bytes every flush */
    if (!s->out.data && rmq_buf_reserve(&s->out, n > 32 * 1024 ? n : 32 * 1024))
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    if (rmq_buf_append(&s->out, p, n)) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)n;
}

static int bio_recv(void *arg, unsigned char *p, size_t n) {
    rmq_rem_tls_t *s = arg;
    size_t have = rmq_buf_unread(&s->in);
    if (have == 0) return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > have) n = have;
    memcpy(p, rmq_buf_rptr(&s->in), n);
    rmq_buf_consume(&s->in, n);
    if (rmq_buf_unread(&s->in) == 0) rmq_buf_reset(&s->in);
    return (int)n;
}

rmq_rem_tls_t *rmq_rem_tls_new(rmq_rem_tls_ctx_t *x) {
    rmq_rem_tls_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->x = x;
    rmq_buf_init(&s->in);
    rmq_buf_init(&s->out);
    mbedtls_ssl_init(&s->ssl);
    if (mbedtls_ssl_setup(&s->ssl, &x->conf)) {
        mbedtls_ssl_free(&s->ssl);
        free(s);
        return NULL;
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    return s;
}

void rmq_rem_tls_destroy(rmq_rem_tls_t *s) {
    if (!s) return;
    mbedtls_ssl_free(&s->ssl);
    free(s->stage);
    rmq_buf_fini(&s->in);
    rmq_buf_fini(&s->out);
    free(s);
}

uint8_t *rmq_rem_tls_in_space(rmq_rem_tls_t *s, size_t n) {
    if (rmq_buf_reserve(&s->in, n)) return NULL;
    return s->in.data + s->in.len;
}

void rmq_rem_tls_in_commit(rmq_rem_tls_t *s, size_t n) {
    s->in.len += n;
}

rmq_err_t rmq_rem_tls_feed(rmq_rem_tls_t *s, const void *p, size_t n) {
    return rmq_buf_append(&s->in, p, n);
}

/* After the handshake: the peer's certificate as the configuration asks. */
static int check_peer(rmq_rem_tls_t *s, char *err, size_t errlen) {
    rmq_rem_tls_ctx_t *x = s->x;
    if (!x->server) return 0; /* VERIFY_REQUIRED already failed the handshake */
    if (x->need_client_auth == RMQ_REM_TLS_AUTH_NONE) return 0;
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s->ssl);
    if (!peer) {
        if (x->need_client_auth == RMQ_REM_TLS_AUTH_REQUIRE) {
            snprintf(err, errlen,
                     "client sent no certificate (tls.server.need.client.auth=require)");
            return -1;
        }
        return 0;
    }
    uint32_t flags = mbedtls_ssl_get_verify_result(&s->ssl);
    if (x->auth_peer && flags) {
        char info[256];
        mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        size_t l = strlen(info);
        while (l && (info[l - 1] == '\n' || info[l - 1] == ' ')) info[--l] = 0;
        snprintf(err, errlen, "client certificate refused: %s", info);
        return -1;
    }
    return 0;
}

int rmq_rem_tls_handshake(rmq_rem_tls_t *s, char *err, size_t errlen) {
    if (s->established) return 1;
    if (s->failed) {
        snprintf(err, errlen, "handshake failed");
        return -1;
    }
    int rc = mbedtls_ssl_handshake(&s->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
    if (rc) {
        s->failed = true;
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            char info[256];
            mbedtls_x509_crt_verify_info(info, sizeof info, "",
                                         mbedtls_ssl_get_verify_result(&s->ssl));
            size_t l = strlen(info);
            while (l && (info[l - 1] == '\n' || info[l - 1] == ' ')) info[--l] = 0;
            snprintf(err, errlen, "server certificate refused: %s", info);
        } else {
            mbed_err(rc, "handshake", NULL, err, errlen);
        }
        return -1;
    }
    if (check_peer(s, err, errlen)) {
        s->failed = true;
        mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED);
        return -1;
    }
    s->established = true;
    return 1;
}

bool rmq_rem_tls_established(const rmq_rem_tls_t *s) {
    return s->established;
}

int rmq_rem_tls_read(rmq_rem_tls_t *s, rmq_buf_t *out, char *err, size_t errlen) {
    for (;;) {
        size_t room = 16 * 1024 + 64;
        if (rmq_buf_reserve(out, room)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = mbedtls_ssl_read(&s->ssl, out->data + out->len, out->cap - out->len);
        if (rc > 0) {
            out->len += (size_t)rc;
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            snprintf(err, errlen, "closed");
            return -1;
        }
        mbed_err(rc, "tls read", NULL, err, errlen);
        return -1;
    }
}

static int write_all(rmq_rem_tls_t *s, const unsigned char *p, size_t left, char *err,
                     size_t errlen) {
    while (left) {
        int rc = mbedtls_ssl_write(&s->ssl, p, left);
        if (rc <= 0) {
            mbed_err(rc, "tls write", NULL, err, errlen);
            return -1;
        }
        p += rc;
        left -= (size_t)rc;
    }
    return 0;
}

/* Pieces smaller than a record are gathered so a header and its small body share a record. */
int rmq_rem_tls_write(rmq_rem_tls_t *s, const uv_buf_t *bufs, size_t nb, char *err, size_t errlen) {
    size_t staged = 0;
    for (size_t i = 0; i < nb; i++) {
        const unsigned char *p = (const unsigned char *)bufs[i].base;
        size_t n = bufs[i].len;
        if (n < STAGE / 2) {
            if (!s->stage && !(s->stage = malloc(STAGE))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (staged + n > STAGE) {
                if (write_all(s, s->stage, staged, err, errlen)) return -1;
                staged = 0;
            }
            memcpy(s->stage + staged, p, n);
            staged += n;
            continue;
        }
        if (staged) {
            if (write_all(s, s->stage, staged, err, errlen)) return -1;
            staged = 0;
        }
        if (write_all(s, p, n, err, errlen)) return -1;
    }
    return staged ? write_all(s, s->stage, staged, err, errlen) : 0;
}

void rmq_rem_tls_close_notify(rmq_rem_tls_t *s) {
    if (s->established) mbedtls_ssl_close_notify(&s->ssl);
}

uint8_t *rmq_rem_tls_take(rmq_rem_tls_t *s, size_t *len, size_t *cap) {
    if (rmq_buf_unread(&s->out) == 0) return NULL;
    *cap = s->out.cap;
    return rmq_buf_detach(&s->out, len);
}
