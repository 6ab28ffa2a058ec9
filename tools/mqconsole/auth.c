/* mqconsole login: a users file of salted PBKDF2-HMAC-SHA256 hashes (mbedTLS) and sessions
 * keyed by a random token the browser holds in an HttpOnly, SameSite=Strict cookie.
 *
 *   user:role:salt:hex(PBKDF2-HMAC-SHA256(password, salt, CON_PBKDF2_ITER, 32 bytes))
 *
 * role is admin (may change the cluster) or viewer (read-only). `mqconsole --hash-password`
 * writes such a line with a fresh random salt. Sessions live CON_SESSION_MS after the login. */
#include <fcntl.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/mqconsole/console.h"

#define CON_PBKDF2_ITER 20000
#define CON_SESSION_MS (12LL * 3600 * 1000)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int random_bytes(uint8_t *out, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, out + got, n - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

static void to_hex(const uint8_t *in, size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int derive(const char *password, const char *salt, uint8_t out[32]) {
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)password, strlen(password),
                                       (const unsigned char *)salt, strlen(salt), CON_PBKDF2_ITER,
                                       32, out);
    mbedtls_md_free(&md);
    return rc == 0 ? 0 : -1;
}

static bool valid_name(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n >= max) return false;
    for (; *s; s++)
        if (*s == ':' || *s <= ' ') return false;
    return true;
}

static bool valid_role(const char *r) {
    return !strcmp(r, "admin") || !strcmp(r, "viewer");
}

int con_hash_line(const char *user, const char *role, const char *password, char *out, size_t n) {
    if (!valid_name(user, 64) || !valid_role(role)) return -1;
    uint8_t salt_raw[16], h[32];
    char salt[33], hex[65];
    if (random_bytes(salt_raw, sizeof salt_raw) != 0) return -1;
    to_hex(salt_raw, sizeof salt_raw, salt);
    if (derive(password, salt, h) != 0) return -1;
    to_hex(h, sizeof h, hex);
    snprintf(out, n, "%s:%s:%s:%s", user, role, salt, hex);
    return 0;
}

int con_users_load(console_t *k, const char *path, char *err, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "cannot read the users file %s", path);
        return -1;
    }
    char line[1024];
    int ln = 0;
    k->nusers = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *save = NULL, *u = strtok_r(line, ":", &save), *r = strtok_r(NULL, ":", &save),
             *s = strtok_r(NULL, ":", &save), *h = strtok_r(NULL, ":", &save);
        con_user_t *x = &k->users[k->nusers];
        bool ok = u && r && s && h && strlen(h) == 64 && k->nusers < CON_MAX_USERS &&
                  valid_name(u, sizeof x->name) && valid_role(r) && strlen(s) < sizeof x->salt;
        for (int i = 0; ok && i < 32; i++) {
            unsigned v;
            if (sscanf(h + 2 * i, "%2x", &v) != 1) ok = false;
            x->hash[i] = (uint8_t)v;
        }
        if (!ok) {
            fclose(f);
            snprintf(err, n, "%s:%d: not a user:role:salt:hex64 line (role admin or viewer)", path,
                     ln);
            return -1;
        }
        snprintf(x->name, sizeof x->name, "%s", u);
        snprintf(x->role, sizeof x->role, "%s", r);
        snprintf(x->salt, sizeof x->salt, "%s", s);
        k->nusers++;
    }
    fclose(f);
    if (k->nusers == 0) {
        snprintf(err, n, "the users file %s names no user", path);
        return -1;
    }
    return 0;
}

bool con_login(console_t *k, const char *user, const char *password, char *token, char *role) {
    const con_user_t *u = NULL;
    for (int i = 0; i < k->nusers; i++)
        if (!strcmp(k->users[i].name, user)) u = &k->users[i];
    uint8_t h[32];
    /* an unknown user costs the same derivation, so timing does not tell users apart */
    if (derive(password, u ? u->salt : "no-such-user", h) != 0 || !u) return false;
    uint8_t diff = 0;
    for (int i = 0; i < 32; i++) diff |= (uint8_t)(h[i] ^ u->hash[i]);
    if (diff) return false;
    uint8_t raw[32];
    if (random_bytes(raw, sizeof raw) != 0) return false;
    to_hex(raw, sizeof raw, token);
    snprintf(role, 16, "%s", u->role);
    int64_t now = now_ms();
    pthread_mutex_lock(&k->auth_mu);
    con_session_t *slot = &k->sessions[0];
    for (int i = 0; i < CON_MAX_SESSIONS; i++) {
        con_session_t *s = &k->sessions[i];
        if (!s->token[0] || s->expires_ms < now) {
            slot = s;
            break;
        }
        if (s->expires_ms < slot->expires_ms) slot = s; /* full: the oldest makes room */
    }
    snprintf(slot->token, sizeof slot->token, "%s", token);
    snprintf(slot->user, sizeof slot->user, "%s", u->name);
    snprintf(slot->role, sizeof slot->role, "%s", u->role);
    slot->expires_ms = now + CON_SESSION_MS;
    pthread_mutex_unlock(&k->auth_mu);
    return true;
}

void con_logout(console_t *k, const char *token) {
    pthread_mutex_lock(&k->auth_mu);
    for (int i = 0; i < CON_MAX_SESSIONS; i++)
        if (k->sessions[i].token[0] && !strcmp(k->sessions[i].token, token))
            memset(&k->sessions[i], 0, sizeof k->sessions[i]);
    pthread_mutex_unlock(&k->auth_mu);
}

bool con_session(console_t *k, const char *token, char *user, char *role) {
    if (strlen(token) != 64) return false;
    bool ok = false;
    int64_t now = now_ms();
    pthread_mutex_lock(&k->auth_mu);
    for (int i = 0; i < CON_MAX_SESSIONS && !ok; i++) {
        con_session_t *s = &k->sessions[i];
        if (s->token[0] && s->expires_ms >= now && !strcmp(s->token, token)) {
            snprintf(user, 64, "%s", s->user);
            snprintf(role, 16, "%s", s->role);
            ok = true;
        }
    }
    pthread_mutex_unlock(&k->auth_mu);
    return ok;
}
