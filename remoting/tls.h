/* TLS (mbedTLS) over any byte stream, as RocketMQ's TlsSystemConfig / TlsHelper configure it.
 *
 * A session never touches a socket: ciphertext read from the stream is fed in, ciphertext to
 * write is taken out as a malloc'd buffer, so the handshake and every record run on the
 * loop without blocking (memory BIO callbacks). TLS 1.2 only with Debian 12's mbedTLS 2.28
 * (its TLS 1.3 is an experimental compile option Debian leaves off); renegotiation off.
 *
 * Keys (RocketMQ's names), settable from a server conf, a client conf or `tls.config.file`:
 *   tls.server.mode = disabled | permissive | enforcing
 *   tls.server.need.client.auth = none | optional | require
 *   tls.server.{certPath,keyPath,keyPassword,trustCertPath,authClient}
 *   tls.client.{certPath,keyPath,keyPassword,trustCertPath,authServer}
 *   tls.enable (alias useTLS): outbound connections speak TLS
 *   tls.test.mode.enable: the client does not verify the server
 *   tls.handshake.timeout (ms, ours): a handshake not done by then closes that connection */
#ifndef RMQ_REM_TLS_H
#define RMQ_REM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/kvconf.h"

enum { RMQ_REM_TLS_DISABLED, RMQ_REM_TLS_PERMISSIVE, RMQ_REM_TLS_ENFORCING };
enum { RMQ_REM_TLS_AUTH_NONE, RMQ_REM_TLS_AUTH_OPTIONAL, RMQ_REM_TLS_AUTH_REQUIRE };

/* The first byte of a TLS connection (a handshake record); permissive mode tells TLS from a
 * remoting frame (whose first byte is the high byte of a length < 16 MiB, so 0 or 1) by it. */
#define RMQ_REM_TLS_RECORD_HANDSHAKE 0x16

typedef struct rmq_rem_tls_cfg_s {
    int server_mode;      /* tls.server.mode */
    int need_client_auth; /* tls.server.need.client.auth */
    bool server_auth_client;
    char *server_cert_path, *server_key_path, *server_key_password, *server_trust_cert_path;
    bool enable; /* tls.enable / useTLS: outbound connections use TLS */
    bool client_auth_server;
    char *client_cert_path, *client_key_path, *client_key_password, *client_trust_cert_path;
    bool test_mode;           /* tls.test.mode.enable */
    int handshake_timeout_ms; /* tls.handshake.timeout */
    char *config_file;        /* tls.config.file */
} rmq_rem_tls_cfg_t;

extern const char *const rmq_rem_tls_mode_names[];
extern const char *const rmq_rem_tls_auth_names[];

/* The TLS keys as entries of a server's config table: T is the config struct, m the name of
 * its rmq_rem_tls_cfg_t member. */
#define RMQ_REM_TLS_KV_DEFS(T, m)                                                                  \
    RMQ_KV_STR("tls.config.file", T, m.config_file, NULL,                                          \
               "properties file with tls.* keys, read after this file"),                           \
        RMQ_KV_ENUM("tls.server.mode", T, m.server_mode, 0, rmq_rem_tls_mode_names,                \
                    "disabled | permissive (TLS and plaintext on one port) | enforcing"),          \
        RMQ_KV_ENUM("tls.server.need.client.auth", T, m.need_client_auth, 0,                       \
                    rmq_rem_tls_auth_names, "none | optional | require a client certificate"),     \
        RMQ_KV_BOOL("tls.server.authClient", T, m.server_auth_client, 1,                           \
                    "verify client certificates against tls.server.trustCertPath"),                \
        RMQ_KV_STR("tls.server.certPath", T, m.server_cert_path, NULL,                             \
                   "server certificate (PEM)"),                                                    \
        RMQ_KV_STR("tls.server.keyPath", T, m.server_key_path, NULL, "server private key (PEM)"),  \
        RMQ_KV_STR("tls.server.keyPassword", T, m.server_key_password, NULL,                       \
                   "password of an encrypted server key"),                                         \
        RMQ_KV_STR("tls.server.trustCertPath", T, m.server_trust_cert_path, NULL,                  \
                   "CA certificates client certificates must chain to"),                           \
        {"tls.enable",                                                                             \
         "useTLS",                                                                                 \
         RMQ_KV_T_BOOL,                                                                            \
         offsetof(T, m.enable),                                                                    \
         0,                                                                                        \
         NULL,                                                                                     \
         0,                                                                                        \
         1,                                                                                        \
         NULL,                                                                                     \
         "outbound connections (to NameServers, the HA master) use TLS"},                          \
        RMQ_KV_BOOL("tls.client.authServer", T, m.client_auth_server, 0,                           \
                    "verify the server's certificate against tls.client.trustCertPath"),           \
        RMQ_KV_STR("tls.client.certPath", T, m.client_cert_path, NULL,                             \
                   "client certificate (PEM)"),                                                    \
        RMQ_KV_STR("tls.client.keyPath", T, m.client_key_path, NULL, "client private key (PEM)"),  \
        RMQ_KV_STR("tls.client.keyPassword", T, m.client_key_password, NULL,                       \
                   "password of an encrypted client key"),                                         \
        RMQ_KV_STR("tls.client.trustCertPath", T, m.client_trust_cert_path, NULL,                  \
                   "CA certificates the server's certificate must chain to"),                      \
        RMQ_KV_BOOL("tls.test.mode.enable", T, m.test_mode, 0,                                     \
                    "test mode: the client accepts any server certificate"),                       \
        RMQ_KV_INT("tls.handshake.timeout", T, m.handshake_timeout_ms, 10000, 100, 600000,         \
                   "ms a TLS handshake may take before its connection is closed")

/* Read cfg->config_file (if set) over cfg: its tls.* keys win, as in RocketMQ. */
rmq_err_t rmq_rem_tls_cfg_load_file(rmq_rem_tls_cfg_t *cfg, char *err, size_t errlen);
/* Defaults (as the table above) without a config table; rmq_rem_tls_cfg_free frees strings. */
void rmq_rem_tls_cfg_defaults(rmq_rem_tls_cfg_t *cfg);
/* Set one tls.* key (RMQ_ERR__NOT_FOUND if it is not one). */
rmq_err_t rmq_rem_tls_cfg_set(rmq_rem_tls_cfg_t *cfg, const char *key, const char *val, char *err,
                              size_t errlen);
void rmq_rem_tls_cfg_free(rmq_rem_tls_cfg_t *cfg);

typedef struct rmq_rem_tls_ctx_s rmq_rem_tls_ctx_t;
typedef struct rmq_rem_tls_s rmq_rem_tls_t;

/* Certificates, keys and the mbedTLS configuration for one side (server: tls.server.*,
 * client: tls.client.*), used from one loop thread. RMQ_ERR__CONFIG with the reason in err
 * when a file cannot be read. */
rmq_err_t rmq_rem_tls_ctx_new(const rmq_rem_tls_cfg_t *cfg, bool server, rmq_rem_tls_ctx_t **out,
                              char *err, size_t errlen);
void rmq_rem_tls_ctx_destroy(rmq_rem_tls_ctx_t *x); /* NULL is a no-op; after its sessions */
int rmq_rem_tls_ctx_handshake_timeout(const rmq_rem_tls_ctx_t *x);

/* A session; NULL when out of memory. */
rmq_rem_tls_t *rmq_rem_tls_new(rmq_rem_tls_ctx_t *x);
void rmq_rem_tls_destroy(rmq_rem_tls_t *s); /* NULL is a no-op */

/* Room for n bytes of ciphertext from the stream (NULL when out of memory); commit what was
 * read into it. */
uint8_t *rmq_rem_tls_in_space(rmq_rem_tls_t *s, size_t n);
void rmq_rem_tls_in_commit(rmq_rem_tls_t *s, size_t n);
/* Copy ciphertext in. */
rmq_err_t rmq_rem_tls_feed(rmq_rem_tls_t *s, const void *p, size_t n);

/* Advance the handshake with the input so far: 1 done, 0 waiting for input, -1 failed
 * (reason in err). Output it produced is waiting in rmq_rem_tls_take. */
int rmq_rem_tls_handshake(rmq_rem_tls_t *s, char *err, size_t errlen);
bool rmq_rem_tls_established(const rmq_rem_tls_t *s);
/* Decrypt every whole record received into out: 0 (possibly nothing new), or -1 when the peer
 * closed (err "closed") or sent something wrong (reason in err). */
int rmq_rem_tls_read(rmq_rem_tls_t *s, rmq_buf_t *out, char *err, size_t errlen);
/* Encrypt the buffers (all of them); -1 on failure with err. */
int rmq_rem_tls_write(rmq_rem_tls_t *s, const uv_buf_t *bufs, size_t nb, char *err, size_t errlen);
/* Queue a close_notify alert. */
void rmq_rem_tls_close_notify(rmq_rem_tls_t *s);
/* Ciphertext waiting to be written; returns new (free()) with its length and allocation size,
 * or NULL when there is none. */
uint8_t *rmq_rem_tls_take(rmq_rem_tls_t *s, size_t *len, size_t *cap);

#endif
