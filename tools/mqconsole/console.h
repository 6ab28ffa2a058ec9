/* mqconsole's private header: the console state shared by the HTTP front (main.c), the /api/
 * handlers (api.c), the login code (auth.c), the chart sampler (series.c) and the embedded web
 * files (web.c, generated at build time from tools/mqconsole/web/).
 *
 * Every cluster call goes through one mqadmin context (tools/mqadmin: librmq's admin API and
 * its raw admin calls) under console_t.mu: one admin call at a time, which keeps
 * rmq_admin_last_error and adm_last_failure meaningful; a console is not the message path. */
#ifndef RMQ_TOOLS_MQCONSOLE_H
#define RMQ_TOOLS_MQCONSOLE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/mqadmin/mqadmin.h"

#define CON_MAX_USERS 64
#define CON_MAX_SESSIONS 256
#define CON_SERIES_POINTS 240 /* ring of chart points */
#define CON_MAX_WATCHED 16    /* topics whose TPS the sampler follows */

typedef struct {
    char name[64], role[16]; /* role "admin" or "viewer" (read-only) */
    char salt[64];
    uint8_t hash[32];
} con_user_t;

typedef struct {
    char token[65]; /* 32 random bytes in hex; "" = free slot */
    char user[64], role[16];
    int64_t expires_ms;
} con_session_t;

typedef struct {
    ctx_t c;            /* mqadmin context: admin, ns (guarded by mu) */
    pthread_mutex_t mu; /* one admin call at a time */
    bool read_only;
    /* login: on when users were loaded (--users) */
    con_user_t users[CON_MAX_USERS];
    int nusers;
    pthread_mutex_t auth_mu; /* sessions */
    con_session_t sessions[CON_MAX_SESSIONS];
    /* chart series (series.c), guarded by series_mu */
    pthread_mutex_t series_mu;
    pthread_cond_t series_cv;
    bool stopping;
    int sample_ms;
    json_t *points;                       /* array of {ts, putTps, getTps, lag{}, topicTps{}} */
    char watched[CON_MAX_WATCHED][128];   /* topics viewed on the topics page */
    int64_t watched_sum[CON_MAX_WATCHED]; /* their last sum of max offsets, -1 unknown */
    int64_t watched_ts[CON_MAX_WATCHED];
    char watched_groups[CON_MAX_WATCHED][128]; /* groups viewed: their lag even without a
                                                  %RETRY% topic (a group only reset so far) */
    pthread_t sampler;
} console_t;

/* ---- a request as the handlers see it ---------------------------------------------------- */

typedef struct {
    const char *method;
    const char *path; /* after "/api/" */
    void *conn;       /* struct MHD_Connection * */
    json_t *body;     /* POST body (an object), or NULL */
    const char *user, *role;
    int status;           /* set with the error */
    char error[512];      /* the error text when a handler returns NULL */
    char set_cookie[256]; /* a Set-Cookie header to send, or "" */
} con_req_t;

/* A handler's error: status and text; returns NULL for `return con_fail(...)`. */
json_t *con_fail(con_req_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A request argument: the POST body's field (strings and numbers) or the query string's. */
const char *con_arg(con_req_t *r, const char *name, char *buf, size_t n);

/* ---- api.c ------------------------------------------------------------------------------- */

typedef json_t *(*con_api_fn)(console_t *k, con_req_t *r);
typedef struct {
    const char *path;
    bool post; /* true: POST only and refused in read-only mode */
    con_api_fn fn;
} con_route_t;
/* The route of path (after /api/), NULL when none. */
const con_route_t *con_api_route(const char *path);
/* Every route, NULL-terminated by path (for /api/ itself). */
extern const con_route_t con_api_routes[];

/* ---- auth.c ------------------------------------------------------------------------------ */

/* Load a users file (user:role:salt:hexhash lines, # comments). 0, or -1 with err. */
int con_users_load(console_t *k, const char *path, char *err, size_t n);
/* --hash-password: a users-file line for user/role with password. 0 or -1. */
int con_hash_line(const char *user, const char *role, const char *password, char *out, size_t n);
/* Check a password; on success a new session token in token (65 bytes) and the role. */
bool con_login(console_t *k, const char *user, const char *password, char *token, char *role);
void con_logout(console_t *k, const char *token);
/* The session of token: user and role copied out; false when unknown or expired. */
bool con_session(console_t *k, const char *token, char *user, char *role);

/* ---- series.c ---------------------------------------------------------------------------- */

int con_series_start(console_t *k);
void con_series_stop(console_t *k);
/* The points as an array (a copy). */
json_t *con_series_json(console_t *k);
/* Follow topic's TPS in the series from now on (the oldest watched one makes room). */
void con_series_watch(console_t *k, const char *topic);
/* Follow group's lag even if the group list does not show it. */
void con_series_watch_group(console_t *k, const char *group);

/* ---- web.c (generated) ------------------------------------------------------------------- */

typedef struct {
    const char *name; /* "index.html", "app.js", ... */
    const unsigned char *data;
    size_t len;
} con_web_file_t;
extern const con_web_file_t con_web_files[]; /* name NULL ends it */

#endif
