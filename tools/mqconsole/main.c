/* mqconsole: a web console for a RocketMQ cluster (ours or Apache's), in the spirit of
 * rocketmq-dashboard. It talks to the cluster only through librmq's admin API (tools/mqadmin's
 * logic, the same calls mqadmin makes) and serves its own page (tools/mqconsole/web/, embedded
 * at build time) and the JSON API under /api/ the page uses.
 *
 *   mqconsole -n 127.0.0.1:9876 [--port 8080] [--host 127.0.0.1] [--users FILE] [--read-only]
 *             [--sample-interval SECONDS] [--tls] [-D key=value] [-ak KEY -sk SECRET]
 *   mqconsole --hash-password USER [ROLE]      (the password on stdin; prints a users line)
 *
 * HTTP: libmicrohttpd with a thread per connection; the handlers block on admin calls, which
 * run one at a time (console_t.mu). Mutating API calls are POST only (405 otherwise) and 403 in
 * read-only mode or for a "viewer" user. With --users every /api/ call but login and whoami
 * needs the session cookie (401 otherwise). POST bodies must be Content-Type: application/json
 * (415 otherwise), which keeps other web sites' forms out. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tools/mqconsole/console.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result_t;
#else
typedef enum MHD_Result mhd_result_t;
#endif

#define MAX_BODY (1 << 20)

/* Per-connection request state (MHD's con_cls). */
typedef struct {
    char *body;
    size_t len;
    bool too_big;
} upload_t;

json_t *con_fail(con_req_t *r, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    for (char *p = r->error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    r->status = status;
    return NULL;
}

const char *con_arg(con_req_t *r, const char *name, char *buf, size_t n) {
    json_t *v = json_object_get(r->body, name);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, n, "%.0f", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v)) return json_is_true(v) ? "true" : "false";
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static mhd_result_t send_text(struct MHD_Connection *conn, int status, const char *type,
                              const void *data, size_t len, bool copy, const char *cookie) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (cookie && *cookie) MHD_add_response_header(resp, "Set-Cookie", cookie);
    mhd_result_t rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static mhd_result_t send_json(struct MHD_Connection *conn, int status, json_t *j,
                              const char *cookie) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return send_text(conn, 500, "application/json", "{\"error\":\"out of memory\"}", 25, false,
                         NULL);
    mhd_result_t rc = send_text(conn, status, "application/json", s, strlen(s), true, cookie);
    free(s);
    return rc;
}

static mhd_result_t send_error(struct MHD_Connection *conn, int status, const char *msg) {
    json_t *j = json_pack("{s:s}", "error", msg);
    mhd_result_t rc = send_json(conn, status, j, NULL);
    json_decref(j);
    return rc;
}

static const char *mime_of(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

static mhd_result_t serve_static(struct MHD_Connection *conn, const char *url) {
    const char *name = url[1] ? url + 1 : "index.html";
    for (const con_web_file_t *f = con_web_files; f->name; f++)
        if (!strcmp(f->name, name))
            return send_text(conn, 200, mime_of(f->name), f->data, f->len, false, NULL);
    return send_error(conn, 404, "no such page");
}

/* The session token of the request's cookie, or NULL. */
static const char *cookie_token(struct MHD_Connection *conn) {
    return MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "rmqsid");
}

/* login / logout / whoami: the session's own calls (allowed without a session). */
static mhd_result_t session_call(console_t *k, struct MHD_Connection *conn, const char *path,
                                 json_t *body, const char *user, const char *role) {
    if (!strcmp(path, "whoami")) {
        json_t *j = json_pack("{s:b,s:b,s:s?,s:s?}", "loginRequired", k->nusers > 0, "readOnly",
                              k->read_only || (role && !strcmp(role, "viewer")), "user", user,
                              "role", role);
        mhd_result_t rc = send_json(conn, 200, j, NULL);
        json_decref(j);
        return rc;
    }
    if (!strcmp(path, "logout")) {
        const char *t = cookie_token(conn);
        if (t) con_logout(k, t);
        json_t *j = json_pack("{s:b}", "ok", 1);
        mhd_result_t rc =
            send_json(conn, 200, j, "rmqsid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        json_decref(j);
        return rc;
    }
    /* login */
    if (k->nusers == 0)
        return send_error(conn, 400, "login is off (mqconsole runs without --users)");
    const char *u = json_string_value(json_object_get(body, "user"));
    const char *p = json_string_value(json_object_get(body, "password"));
    if (!u || !p) return send_error(conn, 400, "login needs {\"user\": ..., \"password\": ...}");
    char token[65], r[16];
    if (!con_login(k, u, p, token, r)) return send_error(conn, 401, "wrong user or password");
    char cookie[160];
    snprintf(cookie, sizeof cookie, "rmqsid=%s; Path=/; HttpOnly; SameSite=Strict", token);
    json_t *j = json_pack("{s:s,s:s}", "user", u, "role", r);
    mhd_result_t rc = send_json(conn, 200, j, cookie);
    json_decref(j);
    return rc;
}

static mhd_result_t serve_api(console_t *k, struct MHD_Connection *conn, const char *method,
                              const char *path, upload_t *up) {
    bool post = !strcmp(method, "POST");
    if (!post && strcmp(method, "GET")) return send_error(conn, 405, "only GET and POST");
    /* a POST must say it is JSON: a browser sends that type cross-site only after a CORS
     * preflight this server never grants, so another site's form cannot drive the API */
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (post && (!ct || strncasecmp(ct, "application/json", 16) != 0))
        return send_error(conn, 415, "POST a JSON body with Content-Type: application/json");
    json_t *body = NULL;
    if (post && up->len) {
        json_error_t je;
        body = json_loadb(up->body, up->len, 0, &je);
        if (!json_is_object(body)) {
            json_decref(body);
            char msg[300];
            snprintf(msg, sizeof msg, "the request body is not a JSON object: %s", je.text);
            return send_error(conn, 400, msg);
        }
    }
    char user[64] = "", role[16] = "";
    const char *tok = cookie_token(conn);
    bool logged_in = tok && con_session(k, tok, user, role);
    mhd_result_t rc;
    if (!strcmp(path, "login") || !strcmp(path, "logout") || !strcmp(path, "whoami")) {
        if (strcmp(path, "whoami") && !post)
            rc = send_error(conn, 405, "login and logout are POST calls");
        else
            rc =
                session_call(k, conn, path, body, logged_in ? user : NULL, logged_in ? role : NULL);
        json_decref(body);
        return rc;
    }
    if (k->nusers > 0 && !logged_in) {
        json_decref(body);
        return send_error(conn, 401, "login required (POST /api/login)");
    }
    const con_route_t *rt = con_api_route(path);
    if (!rt) {
        json_decref(body);
        char msg[300];
        snprintf(msg, sizeof msg, "no API call /api/%s (GET /api/ lists them)", path);
        return send_error(conn, 404, msg);
    }
    if (rt->post && !post) {
        json_decref(body);
        return send_error(conn, 405, "this call changes the cluster: POST it");
    }
    if (rt->post && k->read_only) {
        json_decref(body);
        return send_error(conn, 403, "read-only mode: mqconsole was started with --read-only");
    }
    if (rt->post && logged_in && strcmp(role, "admin") != 0) {
        json_decref(body);
        return send_error(conn, 403, "read-only user: only role admin may change the cluster");
    }
    con_req_t r = {.method = method,
                   .path = path,
                   .conn = conn,
                   .body = body,
                   .user = logged_in ? user : NULL,
                   .role = logged_in ? role : NULL,
                   .status = 500};
    pthread_mutex_lock(&k->mu);
    adm_clear_failure(); /* a kept-alive connection's thread may hold an old one */
    json_t *out = rt->fn(k, &r);
    pthread_mutex_unlock(&k->mu);
    if (out) {
        rc = send_json(conn, 200, out, r.set_cookie);
        json_decref(out);
    } else {
        rc = send_error(conn, r.status, r.error[0] ? r.error : "failed");
    }
    json_decref(body);
    return rc;
}

static mhd_result_t on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    console_t *k = cls;
    upload_t *up = *con_cls;
    if (!up) {
        if (!(up = calloc(1, sizeof *up))) return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_size) { /* a POST body arrives in pieces */
        if (up->len + *upload_size > MAX_BODY) {
            up->too_big = true;
        } else {
            char *nb = realloc(up->body, up->len + *upload_size + 1);
            if (!nb) return MHD_NO;
            memcpy(nb + up->len, upload_data, *upload_size);
            up->body = nb;
            up->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (up->too_big) return send_error(conn, 413, "request body over 1 MiB");
    if (!strncmp(url, "/api/", 5)) {
        if (!url[5]) { /* /api/: the list of calls */
            json_t *arr = json_array();
            for (const con_route_t *r = con_api_routes; r->path; r++)
                json_array_append_new(arr, json_pack("{s:s,s:s}", "path", r->path, "method",
                                                     r->post ? "POST" : "GET"));
            mhd_result_t rc = send_json(conn, 200, arr, NULL);
            json_decref(arr);
            return rc;
        }
        return serve_api(k, conn, method, url + 5, up);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(conn, 405, "pages are GET only");
    return serve_static(conn, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    upload_t *up = *con_cls;
    if (up) {
        free(up->body);
        free(up);
    }
    *con_cls = NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: mqconsole -n NAMESRV [--port 8080] [--host 127.0.0.1] [--users FILE]\n"
               "                 [--read-only] [--sample-interval 3] [--tls] [-D key=value]\n"
               "                 [-ak ACCESS_KEY -sk SECRET_KEY]\n"
               "       mqconsole --hash-password USER [ROLE]   (reads the password from stdin)\n"
               "\n"
               "  -n, --namesrvAddr ADDR   NameServer address list (host:port;host:port), or\n"
               "                           $NAMESRV_ADDR\n"
               "  --port PORT              HTTP port (default 8080)\n"
               "  --host ADDR              listen address (default 127.0.0.1: this machine only;\n"
               "                           0.0.0.0 for every interface)\n"
               "  --users FILE             turn login on: lines user:role:salt:hex, role admin or\n"
               "                           viewer (read-only); make lines with --hash-password\n"
               "  --read-only              refuse every call that changes the cluster (403)\n"
               "  --sample-interval SECS   how often the charts sample TPS and lag (default 3)\n"
               "  --tls, -D key=value      TLS to the cluster, as mqadmin\n"
               "  -ak, -sk                 ACL credentials, as mqadmin\n");
}

static int hash_password_main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "mqconsole: --hash-password USER [ROLE] (password on stdin)\n");
        return 1;
    }
    const char *role = argc > 3 ? argv[3] : "admin";
    char pw[512];
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "mqconsole: no password on stdin\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = 0;
    char line[512];
    if (con_hash_line(argv[2], role, pw, line, sizeof line) != 0) {
        fprintf(stderr,
                "mqconsole: bad user or role (user: no ':' or spaces; role: admin or viewer)\n");
        return 1;
    }
    printf("%s\n", line);
    return 0;
}

int main(int argc, char **argv) {
    const char *ll = getenv("RMQ_LOG_LEVEL");
    int lvl = ll ? rmq_log_level_parse(ll) : RMQ_LOG_LVL_OFF;
    rmq_log_open(NULL, lvl >= -1 ? (rmq_log_lvl_t)lvl : RMQ_LOG_LVL_OFF, lvl >= 0);
    if (argc > 1 && rmq_is_version_arg(argv[1], 1)) {
        rmq_print_version("mqconsole");
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--hash-password")) return hash_password_main(argc, argv);
    char err[256];
    if ((argc = rmq_tool_take_tls_args(argc, argv, err, sizeof err)) < 0) {
        fprintf(stderr, "mqconsole: %s\n", err);
        return 1;
    }
    static const rmq_tool_opt_t opts[] = {
        {'n', "namesrvAddr", true, false, ""},
        {0, "port", true, false, ""},
        {0, "host", true, false, ""},
        {0, "users", true, false, ""},
        {0, "read-only", false, false, ""},
        {0, "sample-interval", true, false, ""},
        {0, "ak", true, false, ""},
        {0, "sk", true, false, ""},
        {'h', "help", false, false, ""},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    rmq_tool_args_t a;
    if (rmq_tool_parse(opts, nopts, argc - 1, argv + 1, &a, err, sizeof err) != 0 || a.npos) {
        fprintf(stderr, "mqconsole: %s\n", a.npos ? "unexpected argument" : err);
        usage(stderr);
        return 1;
    }
    if (rmq_tool_get(opts, nopts, &a, 'h', NULL)) {
        usage(stdout);
        return 0;
    }
    static console_t k;
    const char *ns = rmq_tool_get(opts, nopts, &a, 'n', NULL);
    if (!ns) ns = getenv("NAMESRV_ADDR");
    if (!ns || !*ns) {
        fprintf(stderr, "mqconsole: no NameServer: give -n host:port or set NAMESRV_ADDR\n");
        return 1;
    }
    const char *ps = rmq_tool_get(opts, nopts, &a, 0, "port");
    const char *host = rmq_tool_get(opts, nopts, &a, 0, "host");
    const char *users = rmq_tool_get(opts, nopts, &a, 0, "users");
    const char *si = rmq_tool_get(opts, nopts, &a, 0, "sample-interval");
    long port = ps ? strtol(ps, NULL, 10) : 8080;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "mqconsole: bad --port %s\n", ps);
        return 1;
    }
    double secs = si ? strtod(si, NULL) : 3;
    if (secs < 0.2 || secs > 3600) {
        fprintf(stderr, "mqconsole: --sample-interval must be 0.2 .. 3600 seconds\n");
        return 1;
    }
    k.sample_ms = (int)(secs * 1000);
    k.read_only = rmq_tool_get(opts, nopts, &a, 0, "read-only") != NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host ? host : "127.0.0.1", &sa.sin_addr) != 1) {
        fprintf(stderr, "mqconsole: bad --host %s (an IPv4 address)\n", host);
        return 1;
    }
    if (users && con_users_load(&k, users, err, sizeof err) != 0) {
        fprintf(stderr, "mqconsole: %s\n", err);
        return 1;
    }
    if (rmq_tool_creds_init(rmq_tool_get(opts, nopts, &a, 0, "ak"),
                            rmq_tool_get(opts, nopts, &a, 0, "sk"), err, sizeof err) != 0) {
        fprintf(stderr, "mqconsole: %s\n", err);
        return 1;
    }
    rmq_conf_t *conf = rmq_tool_conf_new(ns);
    if (!conf) {
        fprintf(stderr, "mqconsole: bad NameServer address %s\n", ns);
        return 1;
    }
    k.c.admin = rmq_admin_new(conf, err, sizeof err);
    if (!k.c.admin) {
        fprintf(stderr, "mqconsole: %s\n", err);
        return 1;
    }
    k.c.ns = ns;
    k.c.json = true;
    adm_quiet = true; /* mqadmin's error lines become the API's errors */
    adm_cmd_name = "mqconsole";
    pthread_mutex_init(&k.mu, NULL);
    pthread_mutex_init(&k.auth_mu, NULL);

    /* SIGINT / SIGTERM end the console; blocked here so every thread inherits the mask */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, &k, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mqconsole: cannot listen on %s:%ld: %s\n", host ? host : "127.0.0.1", port,
                strerror(errno));
        rmq_admin_destroy(k.c.admin);
        return 1;
    }
    if (con_series_start(&k) != 0) {
        fprintf(stderr, "mqconsole: cannot start the sampler thread\n");
        MHD_stop_daemon(d);
        rmq_admin_destroy(k.c.admin);
        return 1;
    }
    printf("mqconsole: http://%s:%ld/ (NameServer %s%s%s)\n", host ? host : "127.0.0.1", port, ns,
           k.nusers ? ", login on" : "", k.read_only ? ", read-only" : "");
    fflush(stdout);
    int sig = 0;
    sigwait(&ss, &sig);
    printf("mqconsole: stopping (signal %d)\n", sig);
    fflush(stdout);
    MHD_stop_daemon(d);
    con_series_stop(&k);
    rmq_admin_destroy(k.c.admin);
    return 0;
}
