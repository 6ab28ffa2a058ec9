/* Remoting server: a listener plus the loop context its connections share.
 *
 * Dispatch is a flat array for request codes below TABLE_SIZE (every code in use is) and a
 * short list for anything above, so a lookup on the hot path is one index. */
#include "remoting/server.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "remoting/frame.h"
#include "remoting/internal.h"

#define TABLE_SIZE 1024

typedef struct {
    rmq_rem_handler_fn fn;
    void *arg;
} slot_t;

typedef struct {
    int code;
    slot_t slot;
} hi_slot_t;

struct rmq_rem_server_s {
    uv_loop_t *loop;
    rmq_rem_server_cfg_t cfg;
    char host[64];
    char name[32];
    rmq_rem_ctx_t *ctx;
    uv_tcp_t listener;
    bool listener_open;
    int port;
    slot_t table[TABLE_SIZE];
    hi_slot_t *hi;
    size_t nhi;
    slot_t dflt;
    rmq_rem_conn_event_fn on_open, on_close;
    void *on_open_arg, *on_close_arg;
    void (*done)(void *);
    void *done_arg;
};

static void srv_on_request(void *owner, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    rmq_rem_server_t *s = owner;
    const slot_t *sl = NULL;
    if (req->code >= 0 && req->code < TABLE_SIZE) {
        sl = &s->table[req->code];
    } else {
        for (size_t i = 0; i < s->nhi; i++)
            if (s->hi[i].code == req->code) sl = &s->hi[i].slot;
    }
    if (!sl || !sl->fn) sl = &s->dflt;
    rmq_rem_dispatch_(c, req, sl->fn, sl->arg);
}

static void srv_on_conn_closed(void *owner, rmq_rem_conn_t *c) {
    rmq_rem_server_t *s = owner;
    /* c->chan marks connections announced to on_open. */
    if (c->chan && s->on_close) s->on_close(c, s->on_close_arg);
    c->chan = NULL;
}

static void srv_on_msg(void *owner, rmq_rem_msg_t *m, bool closing) {
    free(m);
}

static void srv_on_all_closed(void *owner) {
    rmq_rem_server_t *s = owner;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s->hi);
    free(s);
    if (done) done(arg);
}

static const rmq_rem_ctx_ops_t srv_ops = {
    .on_request = srv_on_request,
    .on_conn_closed = srv_on_conn_closed,
    .on_msg = srv_on_msg,
    .on_all_closed = srv_on_all_closed,
};

rmq_err_t rmq_rem_server_new(uv_loop_t *loop, const rmq_rem_server_cfg_t *cfg,
                             rmq_rem_server_t **out) {
    *out = NULL;
    if (!loop) return RMQ_ERR__INVALID_ARG;
    rmq_rem_server_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ERR__NOMEM;
    if (cfg) s->cfg = *cfg;
    rmq_strlcpy(s->host, s->cfg.host ? s->cfg.host : "0.0.0.0", sizeof s->host);
    rmq_strlcpy(s->name, s->cfg.name ? s->cfg.name : "server", sizeof s->name);
    s->cfg.host = s->host;
    s->cfg.name = s->name;
    if (!s->cfg.max_frame) s->cfg.max_frame = RMQ_REM_FRAME_MAX_DEFAULT;
    s->loop = loop;
    rmq_rem_tls_ctx_t *tls = NULL;
    int mode = s->cfg.tls ? s->cfg.tls->server_mode : RMQ_REM_TLS_DISABLED;
    s->cfg.tls = NULL; /* borrowed only here */
    if (mode != RMQ_REM_TLS_DISABLED) {
        char err[300];
        if (rmq_rem_tls_ctx_new(cfg->tls, true, &tls, err, sizeof err)) {
            RMQ_LOG_ERROR("remoting", "%s: TLS: %s", s->name, err);
            free(s);
            return RMQ_ERR__CONFIG;
        }
    }
    s->ctx = rmq_rem_ctx_new_(loop, &srv_ops, s, s->cfg.max_frame, s->cfg.idle_ms, s->name);
    if (!s->ctx) {
        rmq_rem_tls_ctx_destroy(tls);
        free(s);
        return RMQ_ERR__NOMEM;
    }
    s->ctx->tls = tls;
    s->ctx->tls_mode = mode;
    *out = s;
    return RMQ_OK;
}

void rmq_rem_server_register(rmq_rem_server_t *s, int code, rmq_rem_handler_fn fn, void *arg) {
    if (code >= 0 && code < TABLE_SIZE) {
        s->table[code] = (slot_t){fn, arg};
        return;
    }
    for (size_t i = 0; i < s->nhi; i++) {
        if (s->hi[i].code == code) {
            s->hi[i].slot = (slot_t){fn, arg};
            return;
        }
    }
    hi_slot_t *n = realloc(s->hi, (s->nhi + 1) * sizeof *n);
    if (!n) {
        RMQ_LOG_ERROR("remoting", "%s: out of memory registering code %d", s->name, code);
        return;
    }
    s->hi = n;
    s->hi[s->nhi++] = (hi_slot_t){code, {fn, arg}};
}

void rmq_rem_server_set_default(rmq_rem_server_t *s, rmq_rem_handler_fn fn, void *arg) {
    s->dflt = (slot_t){fn, arg};
}

void rmq_rem_server_borrow_bodies(rmq_rem_server_t *s, bool on) {
    s->ctx->borrow_bodies = on;
}

void rmq_rem_server_on_open(rmq_rem_server_t *s, rmq_rem_conn_event_fn fn, void *arg) {
    s->on_open = fn;
    s->on_open_arg = arg;
}

void rmq_rem_server_on_close(rmq_rem_server_t *s, rmq_rem_conn_event_fn fn, void *arg) {
    s->on_close = fn;
    s->on_close_arg = arg;
}

static void on_connection(uv_stream_t *l, int status) {
    rmq_rem_server_t *s = l->data;
    if (status < 0) {
        RMQ_LOG_WARN("remoting", "%s: accept: %s", s->name, uv_strerror(status));
        return;
    }
    rmq_rem_conn_t *c = rmq_rem_conn_new_(s->ctx);
    if (!c) return;
    int rc = uv_accept(l, (uv_stream_t *)&c->tcp);
    if (rc) {
        RMQ_LOG_WARN("remoting", "%s: accept: %s", s->name, uv_strerror(rc));
        rmq_rem_conn_close(c);
        return;
    }
    if (rmq_rem_conn_start_(c) != RMQ_OK) return;
    RMQ_LOG_DEBUG("remoting", "%s: connection from %s", s->name, c->peer);
    c->chan = s;
    if (s->on_open) s->on_open(c, s->on_open_arg);
}

static void on_listener_closed(uv_handle_t *h) {
    rmq_rem_server_t *s = h->data;
    rmq_rem_ctx_handle_closed_(s->ctx);
}

rmq_err_t rmq_rem_server_start(rmq_rem_server_t *s) {
    if (s->listener_open) return RMQ_ERR__STATE;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(s->host, s->cfg.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(s->host, s->cfg.port, (struct sockaddr_in6 *)&ss) != 0) {
        RMQ_LOG_ERROR("remoting", "%s: bad listen address %s", s->name, s->host);
        return RMQ_ERR__CONFIG;
    }
    int rc = uv_tcp_init(s->loop, &s->listener);
    if (rc) {
        RMQ_LOG_ERROR("remoting", "%s: tcp init: %s", s->name, uv_strerror(rc));
        return RMQ_ERR__IO;
    }
    s->listener.data = s;
    s->listener_open = true;
    rmq_rem_ctx_handle_opened_(s->ctx);
    /* libuv sets SO_REUSEADDR on bind, so a restarted server rebinds over TIME_WAIT. */
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc) {
        RMQ_LOG_ERROR("remoting", "%s: cannot listen on %s:%d: %s", s->name, s->host, s->cfg.port,
                      uv_strerror(rc));
        s->listener_open = false;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return RMQ_ERR__IO;
    }
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) == 0) {
        s->port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                          : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    RMQ_LOG_INFO("remoting", "%s: listening on %s:%d", s->name, s->host, s->port);
    return RMQ_OK;
}

int rmq_rem_server_port(const rmq_rem_server_t *s) {
    return s->port;
}

size_t rmq_rem_server_conn_count(const rmq_rem_server_t *s) {
    size_t n = 0;
    for (rmq_rem_conn_t *c = s->ctx->conns; c; c = c->next)
        if (!c->closed) n++;
    return n;
}

void rmq_rem_server_close(rmq_rem_server_t *s, void (*done)(void *arg), void *arg) {
    if (!s) return;
    s->done = done;
    s->done_arg = arg;
    if (s->listener_open) {
        s->listener_open = false;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
    rmq_rem_ctx_shutdown_(s->ctx, RMQ_ERR__CONN);
}
