/* Remoting client: channels by "host:port", each with at most one live connection.
 *
 * Every public call posts to the loop through the context's mailbox (even from the loop thread,
 * so a callback never runs inside the call that caused it), except a sync invoke from another
 * thread on an open, idle connection, which writes its request to the socket itself
 * (write_direct). An async request is one
 * allocation, its pending record with the frame encoded on the caller's thread after it (the
 * command is freed there; see encode_pending), or none when the caller keeps both
 * (rmq_rem_client_invoke_frame); the record travels through the mailbox, then sits in the
 * context's table until its response, timeout or connection loss.
 *
 * Channels are created on first use under a mutex and live until the client is destroyed; the
 * connection inside a channel is touched only on the loop thread. A closed connection is
 * replaced by a new one on the next request to that address. */
#include "remoting/client.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wake.h"
#include "remoting/acl.h"
#include "remoting/frame.h"
#include "remoting/internal.h"

enum { MSG_INVOKE = RMQ_REM_MSG_OWNER, MSG_ONEWAY, MSG_CLOSE_ADDR, MSG_SHUTDOWN };

typedef struct chan_s {
    struct chan_s *next; /* client's list, under mu */
    char *addr;          /* "host:port" as given */
    char *host;
    int port;
    rmq_rem_conn_t *conn; /* set by the loop thread under the client's mu (read by write_direct) */
} chan_t;

typedef struct {
    rmq_rem_msg_t m;
    chan_t *chan;
    rmq_rem_cmd_t *cmd;
} chan_msg_t;

struct rmq_rem_client_s {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    uv_thread_t thread;
    char name[32];
    size_t max_frame;
    int connect_timeout_ms;
    const rmq_logger_t *log; /* borrowed from cfg; NULL = the process log */
    rmq_rem_ctx_t *ctx;
    pthread_mutex_t mu;
    chan_t *chans; /* under mu */
    atomic_bool closing;
    bool shut; /* loop thread: shutdown done */
    rmq_rem_handler_fn handler;
    void *handler_arg;
    void (*on_close)(const char *addr, void *arg);
    void *on_close_arg;
    rmq_rem_msg_t shutdown_msg;
    char ak[256], sk[256], token[1024];  /* ACL credentials (cfg), "" when unset */
    void (*on_iteration_end)(void *arg); /* cfg; NULL: none */
    void *iteration_arg;
};

/* ------------------------------------------------------------------------ channels */

static chan_t *chan_find_locked(rmq_rem_client_t *cl, const char *addr) {
    for (chan_t *ch = cl->chans; ch; ch = ch->next)
        if (strcmp(ch->addr, addr) == 0) return ch;
    return NULL;
}

/* The channel for addr, created on first use; NULL for a malformed address or OOM. */
static chan_t *chan_get(rmq_rem_client_t *cl, const char *addr, bool create) {
    pthread_mutex_lock(&cl->mu);
    chan_t *ch = chan_find_locked(cl, addr);
    if (ch || !create) {
        pthread_mutex_unlock(&cl->mu);
        return ch;
    }
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == addr || !end || *end || port <= 0 || port > 65535) {
        pthread_mutex_unlock(&cl->mu);
        RMQ_XLOG_WARN(cl->log, "remoting", "%s: bad address '%s' (want host:port)", cl->name, addr);
        return NULL;
    }
    ch = calloc(1, sizeof *ch);
    if (ch) {
        ch->addr = strdup(addr);
        const char *h = addr;
        size_t hl = (size_t)(colon - addr);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* [v6]:port */
            h++;
            hl -= 2;
        }
        ch->host = strndup(h, hl);
        ch->port = (int)port;
        if (!ch->addr || !ch->host) {
            free(ch->addr);
            free(ch->host);
            free(ch);
            ch = NULL;
        } else {
            ch->next = cl->chans;
            cl->chans = ch;
        }
    }
    pthread_mutex_unlock(&cl->mu);
    return ch;
}

static void on_connect(uv_connect_t *req, int status) {
    rmq_rem_conn_t *c = req->data;
    if (c->closed) return;
    if (status < 0) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: connect to %s failed: %s", c->ctx->name,
                      c->peer, uv_strerror(status));
        rmq_rem_conn_close(c);
        return;
    }
    if (rmq_rem_conn_start_(c) == RMQ_OK)
        RMQ_XLOG_DEBUG(c->ctx->log, "remoting", "%s: connected to %s from %s", c->ctx->name,
                       c->peer, c->local);
}

static void start_connect(rmq_rem_conn_t *c, const struct sockaddr *sa) {
    c->state = RMQ_REM_CONN_CONNECTING;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rc) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: connect to %s: %s", c->ctx->name, c->peer,
                      uv_strerror(rc));
        rmq_rem_conn_close(c);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    rmq_rem_conn_t *c = req->data;
    if (!c->closed) {
        struct addrinfo *pick = NULL;
        for (struct addrinfo *a = status == 0 ? res : NULL; a; a = a->ai_next) {
            if (a->ai_family == AF_INET) {
                pick = a;
                break;
            }
            if (a->ai_family == AF_INET6 && !pick) pick = a;
        }
        if (!pick) {
            RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: cannot resolve %s: %s", c->ctx->name,
                          c->peer, status ? uv_strerror(status) : "no address");
            rmq_rem_conn_close(c);
        } else {
            start_connect(c, pick->ai_addr);
        }
    }
    if (res) uv_freeaddrinfo(res);
    rmq_rem_conn_unref(c);
}

/* The channel's connection, opening one if there is none (loop thread). Never NULL unless out
 * of memory; a connection that fails at once is returned closed and fails what is put on it. */
static rmq_rem_conn_t *chan_conn(rmq_rem_client_t *cl, chan_t *ch) {
    if (ch->conn && !ch->conn->closed) return ch->conn;
    rmq_rem_conn_t *c = rmq_rem_conn_new_(cl->ctx);
    if (!c) return NULL;
    c->chan = ch;
    pthread_mutex_lock(&cl->mu);
    ch->conn = c;
    pthread_mutex_unlock(&cl->mu);
    rmq_strlcpy(c->peer, ch->addr, sizeof c->peer);
    c->state = RMQ_REM_CONN_RESOLVING;
    c->connect_deadline = rmq_mono_ms() + (uint64_t)cl->connect_timeout_ms;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(ch->host, ch->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(ch->host, ch->port, (struct sockaddr_in6 *)&ss) == 0) {
        start_connect(c, (struct sockaddr *)&ss);
        return c;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", ch->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    rmq_rem_conn_ref(c); /* held by the resolver request */
    int rc = uv_getaddrinfo(cl->loop, &c->gai, on_resolved, ch->host, port, &hints);
    if (rc) {
        rmq_rem_conn_unref(c);
        RMQ_XLOG_WARN(cl->log, "remoting", "%s: resolve %s: %s", cl->name, ch->host,
                      uv_strerror(rc));
        c->state = RMQ_REM_CONN_CONNECTING; /* nothing to cancel */
        rmq_rem_conn_close(c);
    }
    return c;
}

/* --------------------------------------------------------------------- loop side */

static void do_invoke(rmq_rem_client_t *cl, rmq_rem_pending_t *p, bool closing) {
    rmq_rem_cmd_t *req = p->req;
    p->req = NULL;
    rmq_rem_conn_t *c = closing || cl->shut ? NULL : chan_conn(cl, p->chan);
    if (!c) {
        rmq_rem_cmd_destroy(req);
        rmq_rem_pending_finish_(p, closing || cl->shut ? RMQ_ERR__CLOSED : RMQ_ERR__CONN, NULL);
        return;
    }
    p->conn = c;
    rmq_rem_pending_add_(cl->ctx, p);
    /* either is dropped if c is already closed; p then fails with CONN */
    if (req)
        rmq_rem_conn_send(c, req);
    else
        rmq_rem_conn_send_borrowed(c, p->frame, p->frame_len); /* p lives until its response */
}

static void do_shutdown(rmq_rem_client_t *cl) {
    if (cl->shut) return;
    cl->shut = true;
    rmq_rem_ctx_shutdown_(cl->ctx, RMQ_ERR__CLOSED);
}

static void cl_on_msg(void *owner, rmq_rem_msg_t *m, bool closing) {
    rmq_rem_client_t *cl = owner;
    switch (m->kind) {
    case MSG_INVOKE: do_invoke(cl, (rmq_rem_pending_t *)m, closing); break;
    case MSG_ONEWAY: {
        chan_msg_t *cm = (chan_msg_t *)m;
        rmq_rem_conn_t *c = closing || cl->shut ? NULL : chan_conn(cl, cm->chan);
        if (c)
            rmq_rem_conn_send(c, cm->cmd);
        else
            rmq_rem_cmd_destroy(cm->cmd);
        free(cm);
        break;
    }
    case MSG_CLOSE_ADDR: {
        chan_msg_t *cm = (chan_msg_t *)m;
        if (cm->chan->conn) rmq_rem_conn_close(cm->chan->conn);
        free(cm);
        break;
    }
    case MSG_SHUTDOWN:
        if (!closing) do_shutdown(cl);
        break;
    default: free(m);
    }
}

static void cl_on_request(void *owner, rmq_rem_conn_t *c, rmq_rem_cmd_t *req) {
    rmq_rem_client_t *cl = owner;
    rmq_rem_dispatch_(c, req, cl->handler, cl->handler_arg);
}

static void cl_on_conn_closed(void *owner, rmq_rem_conn_t *c) {
    rmq_rem_client_t *cl = owner;
    chan_t *ch = c->chan;
    if (!ch) return;
    if (ch->conn == c) {
        pthread_mutex_lock(&cl->mu);
        ch->conn = NULL;
        pthread_mutex_unlock(&cl->mu);
    }
    c->chan = NULL;
    if (!cl->shut && cl->on_close) cl->on_close(ch->addr, cl->on_close_arg);
}

static void free_client(rmq_rem_client_t *cl) {
    for (chan_t *ch = cl->chans, *nx; ch; ch = nx) {
        nx = ch->next;
        free(ch->addr);
        free(ch->host);
        free(ch);
    }
    pthread_mutex_destroy(&cl->mu);
    if (cl->ctx) rmq_rem_ctx_unref_(cl->ctx);
    free(cl);
}

static void cl_on_all_closed(void *owner) {
    rmq_rem_client_t *cl = owner;
    /* An owned loop is closed and the client freed by destroy() after the thread joins. */
    if (!cl->owns_loop) free_client(cl);
}

static void cl_on_iteration_end(void *owner) {
    rmq_rem_client_t *cl = owner;
    if (cl->on_iteration_end) cl->on_iteration_end(cl->iteration_arg);
}

static const rmq_rem_ctx_ops_t cl_ops = {
    .on_request = cl_on_request,
    .on_conn_closed = cl_on_conn_closed,
    .on_msg = cl_on_msg,
    .on_all_closed = cl_on_all_closed,
    .on_iteration_end = cl_on_iteration_end,
};

/* The client whose own loop runs on this thread (loop_thread), else NULL. */
static _Thread_local rmq_rem_client_t *tl_loop_client;

static void loop_thread(void *arg) {
    rmq_rem_client_t *cl = arg;
    tl_loop_client = cl;
    char tname[16];
    rmq_strlcpy(tname, cl->name, sizeof tname);
    pthread_setname_np(pthread_self(), tname);
    /* A write to a peer that went away raises SIGPIPE in the writing thread; blocked here it
     * becomes a plain EPIPE, without touching the application's signal handling. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(cl->loop, UV_RUN_DEFAULT);
}

/* ------------------------------------------------------------------------ public */

rmq_err_t rmq_rem_client_new(uv_loop_t *loop, const rmq_rem_client_cfg_t *cfg,
                             rmq_rem_client_t **out) {
    *out = NULL;
    rmq_rem_client_t *cl = calloc(1, sizeof *cl);
    if (!cl) return RMQ_ERR__NOMEM;
    rmq_strlcpy(cl->name, cfg && cfg->name ? cfg->name : "rmq-remoting", sizeof cl->name);
    cl->max_frame = cfg && cfg->max_frame ? cfg->max_frame : RMQ_REM_FRAME_MAX_DEFAULT;
    if (cfg) {
        cl->on_iteration_end = cfg->on_iteration_end;
        cl->iteration_arg = cfg->iteration_arg;
    }
    cl->connect_timeout_ms = cfg && cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 3000;
    cl->log = cfg ? cfg->log : NULL;
    if (cfg && cfg->access_key && cfg->secret_key && *cfg->access_key && *cfg->secret_key) {
        rmq_strlcpy(cl->ak, cfg->access_key, sizeof cl->ak);
        rmq_strlcpy(cl->sk, cfg->secret_key, sizeof cl->sk);
        if (cfg->security_token) rmq_strlcpy(cl->token, cfg->security_token, sizeof cl->token);
    }
    rmq_rem_tls_ctx_t *tls = NULL;
    if (cfg && cfg->tls && cfg->tls->enable) {
        char err[300];
        if (rmq_rem_tls_ctx_new(cfg->tls, false, &tls, err, sizeof err)) {
            RMQ_XLOG_ERROR(cl->log, "remoting", "%s: TLS: %s", cl->name, err);
            free(cl);
            return RMQ_ERR__CONFIG;
        }
    }
    pthread_mutex_init(&cl->mu, NULL);
    atomic_init(&cl->closing, false);
    cl->shutdown_msg.kind = MSG_SHUTDOWN;
    if (!loop) {
        int rc = uv_loop_init(&cl->own_loop);
        if (rc) {
            RMQ_XLOG_ERROR(cl->log, "remoting", "%s: loop init: %s", cl->name, uv_strerror(rc));
            pthread_mutex_destroy(&cl->mu);
            rmq_rem_tls_ctx_destroy(tls);
            free(cl);
            return RMQ_ERR__FAIL;
        }
        loop = &cl->own_loop;
        cl->owns_loop = true;
    }
    cl->loop = loop;
    cl->ctx = rmq_rem_ctx_new_(loop, &cl_ops, cl, cl->max_frame, 0, cl->name);
    if (!cl->ctx) goto fail;
    cl->ctx->log = cl->log;
    cl->ctx->direct_writes = true; /* see write_direct */
    cl->ctx->tls = tls;
    cl->ctx->tls_mode = tls ? RMQ_REM_TLS_ENFORCING : RMQ_REM_TLS_DISABLED;
    tls = NULL;
    /* The client's own reference: a late invoke from another thread still finds the (closed)
     * mailbox and gets RMQ_ERR__CLOSED instead of a freed context. */
    rmq_rem_ctx_ref_(cl->ctx);
    if (cl->owns_loop) {
        int rc = uv_thread_create(&cl->thread, loop_thread, cl);
        if (rc) {
            RMQ_XLOG_ERROR(cl->log, "remoting", "%s: thread: %s", cl->name, uv_strerror(rc));
            /* Close the context's handles on this thread: the loop never ran. */
            do_shutdown(cl);
            uv_run(loop, UV_RUN_DEFAULT);
            uv_loop_close(loop);
            free_client(cl);
            return RMQ_ERR__FAIL;
        }
    }
    *out = cl;
    return RMQ_OK;
fail:
    rmq_rem_tls_ctx_destroy(tls);
    if (cl->owns_loop) uv_loop_close(loop);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
    return RMQ_ERR__NOMEM;
}

void rmq_rem_client_set_handler(rmq_rem_client_t *cl, rmq_rem_handler_fn fn, void *arg) {
    cl->handler = fn;
    cl->handler_arg = arg;
}

void rmq_rem_client_on_close(rmq_rem_client_t *cl, void (*fn)(const char *addr, void *arg),
                             void *arg) {
    cl->on_close = fn;
    cl->on_close_arg = arg;
}

/* The channel to addr for a request about to be queued (created when new); on failure req is
 * destroyed, as every invoke takes it. */
static rmq_err_t request_chan(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                              chan_t **out) {
    rmq_err_t e = RMQ_OK;
    *out = NULL;
    if (!cl || !addr || !req)
        e = RMQ_ERR__INVALID_ARG;
    else if (atomic_load_explicit(&cl->closing, memory_order_relaxed))
        e = RMQ_ERR__CLOSED;
    else if (!(*out = chan_get(cl, addr, true)))
        e = RMQ_ERR__INVALID_ARG;
    else if (cl->ak[0]) /* signed last: the request is complete by now */
        e = rmq_acl_sign(req, cl->ak, cl->sk, cl->token);
    if (e) rmq_rem_cmd_destroy(req);
    return e;
}

/* A request with a body up to ENCODE_MAX (the size a connection copies next to its header
 * anyway) is encoded here, on the caller's thread, into the tail of its pending record: the
 * loop thread then only copies the bytes into the connection's out buffer, and the command
 * with its header fields and body is freed by the thread that allocated it. The loop had
 * been encoding every header and freeing some five blocks per request that another thread
 * allocated, each free taking that thread's malloc arena lock (perf, issue 15: malloc, free
 * and their lock wake-ups were a third of an async producer's CPU). A larger or zero-copy
 * body keeps the command, which the connection writes with the body as its own buffer; a
 * borrowed body is copied then, so it never outlives the call. Returns the zeroed record
 * (frame_len 0 when not encoded) or NULL on OOM. */
#define ENCODE_MAX (16 * 1024)

/* What every pending record of an invoke carries to the loop. */
static void pending_fill(rmq_rem_pending_t *p, chan_t *ch, int32_t opaque, int timeout_ms,
                         rmq_rem_resp_cb cb, void *arg) {
    p->msg.kind = MSG_INVOKE;
    p->opaque = opaque;
    p->deadline = rmq_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    p->cb = cb;
    p->arg = arg;
    p->chan = ch;
}
static rmq_rem_pending_t *encode_pending(rmq_rem_cmd_t *req) {
    size_t blen = rmq_rem_cmd_body_len(req);
    if (req->niov == 0 && blen <= ENCODE_MAX) {
        rmq_buf_t b;
        rmq_buf_init(&b);
        /* a SEND_MESSAGE_V2 header is ~300 bytes plus the properties: one allocation */
        if (rmq_buf_reserve(&b, sizeof(rmq_rem_pending_t) + 512 + blen) == RMQ_OK) {
            memset(b.data, 0, sizeof(rmq_rem_pending_t));
            b.len = sizeof(rmq_rem_pending_t);
            if (rmq_rem_frame_encode(req, &b) == RMQ_OK) {
                size_t len;
                rmq_rem_pending_t *p = (rmq_rem_pending_t *)rmq_buf_detach(&b, &len);
                p->frame = (const uint8_t *)(p + 1);
                p->frame_len = len - sizeof *p;
                return p;
            }
        }
        rmq_buf_fini(&b); /* not encodable here: the loop's encode logs why */
    }
    if (rmq_rem_cmd_own_body(req)) return NULL;
    return calloc(1, sizeof(rmq_rem_pending_t));
}

/* Post p to the loop; or, made from the loop's own callbacks (a push consumer's next pull from
 * its pull callback) to an open connection, queue it there at once: through the mailbox it
 * cost an eventfd write and waited for the next loop iteration. Never where do_invoke could
 * fail p at once (no connection yet, shutting down): the callback would run inside the call. */
static bool post_invoke(rmq_rem_client_t *cl, rmq_rem_pending_t *p) {
    chan_t *ch = p->chan;
    if (tl_loop_client == cl && !cl->shut && ch->conn && !ch->conn->closed &&
        ch->conn->state == RMQ_REM_CONN_OPEN) {
        do_invoke(cl, p, false);
        return true;
    }
    return rmq_rem_ctx_post_(cl->ctx, &p->msg);
}

/* A sync invoke's request, written by the calling thread itself when its connection is open and
 * idle (rmq_rem_conn_write_direct_): the caller is about to sleep until the answer, and handing
 * the request to the loop cost an eventfd write and a wake-up of the loop thread on the way
 * out, one of the two thread hops a sync send paid beyond the round trip (issue 15). Likewise
 * an async request whose caller has no other under way (invoke_frame's direct). Not for a
 * busy async sender: its loop writes a whole iteration's requests with one system call, where
 * this would make one per request. true: p is the loop's now. */
static bool write_direct(rmq_rem_client_t *cl, rmq_rem_pending_t *p) {
    if (!p->frame_len || tl_loop_client == cl) return false;
    chan_t *ch = p->chan;
    pthread_mutex_lock(&cl->mu); /* the loop replaces ch->conn under it */
    rmq_rem_conn_t *c = ch->conn;
    if (c) rmq_rem_conn_ref(c);
    pthread_mutex_unlock(&cl->mu);
    if (!c) return false;
    bool done = rmq_rem_conn_write_direct_(c, p);
    rmq_rem_conn_unref(c);
    return done;
}

static rmq_err_t invoke(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req, int timeout_ms,
                        rmq_rem_resp_cb cb, void *arg, bool sync) {
    if (!cb) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__INVALID_ARG;
    }
    chan_t *ch;
    rmq_err_t e = request_chan(cl, addr, req, &ch);
    if (e) return e;
    req->flag &= ~(RMQ_REM_FLAG_RESPONSE | RMQ_REM_FLAG_ONEWAY);
    rmq_rem_pending_t *p = encode_pending(req);
    if (!p) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    pending_fill(p, ch, req->opaque, timeout_ms, cb, arg);
    if (p->frame_len) {
        rmq_rem_cmd_destroy(req); /* on the thread that built it (see encode_pending) */
        req = NULL;
    } else {
        p->req = req;
    }
    if (sync && write_direct(cl, p)) return RMQ_OK;
    if (!post_invoke(cl, p)) {
        rmq_rem_cmd_destroy(req);
        free(p);
        return RMQ_ERR__CLOSED;
    }
    return RMQ_OK;
}

rmq_err_t rmq_rem_client_invoke_async(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                                      int timeout_ms, rmq_rem_resp_cb cb, void *arg) {
    return invoke(cl, addr, req, timeout_ms, cb, arg, false);
}

_Static_assert(sizeof(rmq_rem_pending_t) <= sizeof(rmq_rem_call_t), "RMQ_REM_CALL_SIZE");

rmq_err_t rmq_rem_client_encode(rmq_rem_client_t *cl, rmq_rem_cmd_t *req, rmq_buf_t *out) {
    if (!cl || !req || !out) return RMQ_ERR__INVALID_ARG;
    req->flag &= ~(RMQ_REM_FLAG_RESPONSE | RMQ_REM_FLAG_ONEWAY);
    if (cl->ak[0]) {
        rmq_err_t e = rmq_acl_sign(req, cl->ak, cl->sk, cl->token);
        if (e) return e;
    }
    return rmq_rem_frame_encode(req, out);
}

rmq_err_t rmq_rem_client_encode_head(rmq_rem_client_t *cl, const rmq_rem_head_t *h,
                                     const void *body, size_t body_len, rmq_buf_t *out) {
    if (!cl || !h || !out || (body_len && !body)) return RMQ_ERR__INVALID_ARG;
    rmq_rem_head_t req = *h;
    req.flag &= ~(RMQ_REM_FLAG_RESPONSE | RMQ_REM_FLAG_ONEWAY);
    if (!cl->ak[0]) return rmq_rem_frame_encode_head(&req, body, body_len, out);
    /* the signature covers every field: build the command rmq_acl_sign works on */
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(req.code);
    if (!c) return RMQ_ERR__NOMEM;
    c->language = req.language;
    c->version = req.version;
    c->flag = req.flag;
    c->serialize_type = req.serialize_type;
    c->opaque = req.opaque;
    c->has_ext = req.has_ext;
    rmq_err_t e = rmq_rem_cmd_add_fields(c, req.ext, req.next);
    if (req.remark) rmq_rem_cmd_set_remarkf(c, "%s", req.remark);
    if (!e && req.remark && !c->remark) e = RMQ_ERR__NOMEM;
    rmq_rem_cmd_set_body_ref(c, body, body_len);
    if (!e) e = rmq_rem_client_encode(cl, c, out);
    rmq_rem_cmd_destroy(c);
    return e;
}

rmq_err_t rmq_rem_client_invoke_frame(rmq_rem_client_t *cl, const char *addr, rmq_rem_call_t *call,
                                      const uint8_t *frame, size_t len, int32_t opaque,
                                      int timeout_ms, rmq_rem_resp_cb cb, void *arg, bool direct) {
    if (!cl || !addr || !call || !frame || !len || !cb) return RMQ_ERR__INVALID_ARG;
    if (atomic_load_explicit(&cl->closing, memory_order_relaxed)) return RMQ_ERR__CLOSED;
    chan_t *ch = chan_get(cl, addr, true);
    if (!ch) return RMQ_ERR__INVALID_ARG;
    rmq_rem_pending_t *p = (rmq_rem_pending_t *)call->space;
    memset(p, 0, sizeof *p);
    pending_fill(p, ch, opaque, timeout_ms, cb, arg);
    p->frame = frame;
    p->frame_len = len;
    p->caller_owned = true;
    if (direct && write_direct(cl, p)) return RMQ_OK;
    return post_invoke(cl, p) ? RMQ_OK : RMQ_ERR__CLOSED;
}

/* A blocking call's state, on the caller's stack. The caller parks on a wake (a futex word on
 * Linux) the loop signals: no mutex for the two threads to hand over, and no system call for
 * the loop unless the caller went to sleep. */
typedef struct {
    rmq_wake_t done;
    rmq_err_t err;
    rmq_rem_cmd_t *resp;
} sync_call_t;

static void on_sync_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) { /* loop thread */
    sync_call_t *s = arg;
    s->err = err;
    s->resp = resp;
    rmq_wake_signal(&s->done); /* s may be gone after this */
}

rmq_err_t rmq_rem_client_invoke_sync(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                                     int timeout_ms, rmq_rem_cmd_t **resp) {
    if (resp) *resp = NULL;
    if (!resp) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__INVALID_ARG;
    }
    if (cl && cl->owns_loop) {
        uv_thread_t self = uv_thread_self();
        if (uv_thread_equal(&self, &cl->thread)) {
            RMQ_XLOG_ERROR(cl->log, "remoting", "%s: invoke_sync on the loop thread would deadlock",
                           cl->name);
            rmq_rem_cmd_destroy(req);
            return RMQ_ERR__STATE;
        }
    }
    sync_call_t s = {.err = RMQ_OK, .resp = NULL};
    rmq_wake_init(&s.done);
    rmq_err_t e = invoke(cl, addr, req, timeout_ms, on_sync_resp, &s, true);
    /* The loop always calls back (response, timeout, connection loss or destroy). */
    if (e == RMQ_OK) rmq_wake_wait(&s.done);
    rmq_wake_fini(&s.done);
    if (e) return e;
    *resp = s.resp;
    return s.err;
}

static rmq_err_t post_chan_msg(rmq_rem_client_t *cl, int kind, chan_t *ch, rmq_rem_cmd_t *cmd) {
    chan_msg_t *m = malloc(sizeof *m);
    if (!m) {
        rmq_rem_cmd_destroy(cmd);
        return RMQ_ERR__NOMEM;
    }
    m->m.kind = kind;
    m->chan = ch;
    m->cmd = cmd;
    if (!rmq_rem_ctx_post_(cl->ctx, &m->m)) {
        rmq_rem_cmd_destroy(cmd);
        free(m);
        return RMQ_ERR__CLOSED;
    }
    return RMQ_OK;
}

rmq_err_t rmq_rem_client_invoke_oneway(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req) {
    chan_t *ch;
    rmq_err_t e = request_chan(cl, addr, req, &ch);
    if (e) return e;
    req->flag = (req->flag & ~RMQ_REM_FLAG_RESPONSE) | RMQ_REM_FLAG_ONEWAY;
    if (rmq_rem_cmd_own_body(req)) { /* a borrowed body is the caller's for the call only */
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    return post_chan_msg(cl, MSG_ONEWAY, ch, req);
}

void rmq_rem_client_close_addr(rmq_rem_client_t *cl, const char *addr) {
    if (!cl || !addr || atomic_load(&cl->closing)) return;
    chan_t *ch = chan_get(cl, addr, false);
    if (ch) post_chan_msg(cl, MSG_CLOSE_ADDR, ch, NULL);
}

uv_loop_t *rmq_rem_client_loop(rmq_rem_client_t *cl) {
    return cl->loop;
}

void rmq_rem_client_destroy(rmq_rem_client_t *cl) {
    if (!cl) return;
    atomic_store(&cl->closing, true);
    if (!cl->owns_loop) {
        do_shutdown(cl); /* frees cl once every handle has closed */
        return;
    }
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &cl->thread)) {
        /* Joining ourselves would hang forever; shut down and leak the shell instead. */
        RMQ_XLOG_ERROR(cl->log, "remoting", "%s: destroy called on its own loop thread", cl->name);
        do_shutdown(cl);
        return;
    }
    if (!rmq_rem_ctx_post_(cl->ctx, &cl->shutdown_msg))
        RMQ_XLOG_ERROR(cl->log, "remoting", "%s: destroy: loop already closed", cl->name);
    uv_thread_join(&cl->thread);
    int rc = uv_loop_close(cl->loop);
    if (rc) {
        /* Should not happen: something still holds a handle. Let it finish and retry. */
        RMQ_XLOG_WARN(cl->log, "remoting", "%s: loop close: %s", cl->name, uv_strerror(rc));
        uv_run(cl->loop, UV_RUN_DEFAULT);
        uv_loop_close(cl->loop);
    }
    free_client(cl);
}
