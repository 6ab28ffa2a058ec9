/* Connections and the loop context they share (see internal.h).
 *
 * Write path: small frames (header + body up to COPY_MAX) are copied into the connection's
 * out buffer and flushed once per loop iteration by a prepare/check handle, so a burst of
 * replies or requests costs one writev. A frame with a large or zero-copy body is written as
 * [out buffer + its header, body slices...] in one uv_write, keeping the command (and so its
 * borrowed slices) alive until the write callback; order is preserved because the out buffer
 * is always handed over first.
 *
 * An encoded frame handed over by its sender (a request's frame that lives until its response,
 * rmq_rem_conn_send_borrowed) is not copied when the connection has nothing else queued: the flush
 * writes the borrowed frames straight from their owners with one writev and copies only what the
 * socket did not take (issue 15: the client's last copy of a sent body).
 *
 * Direct writes (a client's connections): while the loop has nothing queued or in flight on a
 * plaintext open connection, another thread may write a whole request frame to the socket
 * itself under the connection's wmu (rmq_rem_conn_write_direct_); its pending record waits in
 * the connection's adopt list until the loop takes it into the table: when a response finds no
 * request, at the next tick (timeouts), or before the loop queues its own next byte. The loop
 * ends direct writes (direct_stop, under wmu) before it queues anything and allows them again
 * once everything it wrote is written (direct_resume); a direct write the socket took only part
 * of leaves the rest for the loop to queue first.
 *
 * Close: rmq_rem_conn_close marks the connection closed and closes the handle; libuv cancels
 * queued writes (their callbacks release bodies), then the close callback fails the pending
 * requests with RMQ_ERR__CONN, tells the owner, and drops the handle's reference. Memory goes
 * with the last reference, from any thread.
 *
 * TLS (tls.h): a connection with a session hands its ciphertext reads to the session and
 * decrypts into the same read buffer the frame decoder uses; its writes gather the same
 * buffers the plaintext path hands to uv_write and encrypt them into one buffer written
 * instead. Until the handshake is done the connection is in HANDSHAKE, where frames queue as
 * while connecting; the context's tick closes it past its deadline. A permissive server looks
 * at the first byte: 0x16 starts a session, anything else is a plaintext frame. Plaintext
 * connections take none of these paths (one pointer test per read and write). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "common/log.h"
#include "common/util.h"
#include "remoting/frame.h"
#include "remoting/internal.h"

#define COPY_MAX (16 * 1024) /* bodies up to this are copied next to their header */
#define FLUSH_AT (64 * 1024) /* flush the out buffer early past this */
#define BOR_MAX 128          /* borrowed frames per flush (conn->bor) */
#define READ_CHUNK (64 * 1024)
#define READ_CHUNK_MIN (4 * 1024) /* the first reads of a connection (issue 15: memory) */
/* A frame body at least this big, its header read, is read straight into its own buffer (see
 * read_frames), not copied out of rbuf. */
#define DIRECT_BODY_MIN (16 * 1024)
#define TICK_MS 100
#define IDLE_TRIM_MS 1000              /* idle_trim after this long without a read or write */
#define IDLE_TRIM_RETURN (1024 * 1024) /* malloc_trim once a tick freed this much */

static atomic_uint_fast64_t conn_ids;

typedef struct {
    rmq_rem_msg_t m;
    rmq_rem_conn_t *conn;
    rmq_rem_cmd_t *cmd;
} send_msg_t;

typedef struct {
    rmq_rem_msg_t m;
    void (*fn)(void *);
    void *arg;
} run_msg_t;

typedef struct {
    uv_write_t req;
    rmq_rem_conn_t *conn;
    uint8_t *data;      /* owned coalesced bytes */
    size_t cap;         /* data's allocation, so it can be reused as the next out buffer */
    rmq_rem_cmd_t *cmd; /* owned; its body follows data */
    size_t bytes;
} wreq_t;

static void flush_out(rmq_rem_conn_t *c);
static void direct_stop(rmq_rem_conn_t *c);
static void direct_resume(rmq_rem_conn_t *c);
static bool direct_adopt(rmq_rem_conn_t *c);
static bool addr_v4(const rmq_rem_conn_t *c, bool peer, uint32_t *ip, uint16_t *port);

/* ------------------------------------------------------------------------ context */

static void ctx_free(rmq_rem_ctx_t *x) {
    rmq_rem_tls_ctx_destroy(x->tls);
    free(x->buckets);
    free(x);
}

void rmq_rem_ctx_ref_(rmq_rem_ctx_t *x) {
    atomic_fetch_add(&x->refs, 1);
}

void rmq_rem_ctx_unref_(rmq_rem_ctx_t *x) {
    if (atomic_fetch_sub(&x->refs, 1) == 1) ctx_free(x);
}

static void ctx_maybe_done(rmq_rem_ctx_t *x) {
    if (!x->shutting_down || x->open_handles > 0 || x->nconns > 0) return;
    x->shutting_down = false; /* run once */
    if (x->ops->on_all_closed) x->ops->on_all_closed(x->owner);
    rmq_rem_ctx_unref_(x);
}

void rmq_rem_ctx_handle_opened_(rmq_rem_ctx_t *x) {
    x->open_handles++;
}

void rmq_rem_ctx_handle_closed_(rmq_rem_ctx_t *x) {
    x->open_handles--;
    ctx_maybe_done(x);
}

static void on_ctx_handle_closed(uv_handle_t *h) {
    rmq_rem_ctx_handle_closed_(h->data);
}

/* The mailbox's async handle carries the mailbox in its data field, not the context. */
static void on_mbox_closed(uv_handle_t *h) {
    rmq_mailbox_t *mb = h->data;
    rmq_rem_ctx_handle_closed_((rmq_rem_ctx_t *)((char *)mb - offsetof(rmq_rem_ctx_t, mbox)));
}

static void on_mbox(rmq_mbox_node_t *n, void *arg) {
    rmq_rem_ctx_t *x = arg;
    rmq_rem_msg_t *m = (rmq_rem_msg_t *)n;
    switch (m->kind) {
    case RMQ_REM_MSG_SEND: {
        send_msg_t *s = (send_msg_t *)m;
        rmq_rem_conn_send(s->conn, s->cmd); /* drops it when the connection is closed */
        rmq_rem_conn_unref(s->conn);
        free(s);
        break;
    }
    case RMQ_REM_MSG_RUN: {
        run_msg_t *r = (run_msg_t *)m;
        r->fn(r->arg);
        free(r);
        break;
    }
    default: x->ops->on_msg(x->owner, m, rmq_mailbox_closed(&x->mbox));
    }
}

bool rmq_rem_ctx_post_(rmq_rem_ctx_t *x, rmq_rem_msg_t *m) {
    return rmq_mailbox_post(&x->mbox, &m->node);
}

static void fail_pending_list(rmq_rem_pending_t *list, rmq_err_t err) {
    while (list) {
        rmq_rem_pending_t *p = list;
        list = p->hnext;
        rmq_rem_pending_finish_(p, err, NULL);
    }
}

/* A connection idle for IDLE_TRIM_MS keeps no buffers: its read buffer (when empty), out buffer
 * (when empty) and spare are freed, and its reads start small again. 1,000 mostly idle
 * connections (consumers between heartbeats) otherwise keep up to 64 KiB + 2 x 256 KiB each after
 * a burst, e.g. a group's NOTIFY_CONSUMER_IDS_CHANGED storm (issue 15). Returns the bytes freed. */
static size_t idle_trim(rmq_rem_conn_t *c) {
    size_t freed = 0;
    if (c->pending_bytes != 0 || c->dirty) return 0;
    if (c->rbuf.data && rmq_buf_unread(&c->rbuf) == 0) {
        freed += c->rbuf.cap;
        rmq_buf_fini(&c->rbuf);
        c->rchunk = 0;
    }
    if (c->out.data && rmq_buf_unread(&c->out) == 0) {
        freed += c->out.cap;
        rmq_buf_fini(&c->out);
    }
    if (c->spare) {
        freed += c->spare_cap;
        free(c->spare);
        c->spare = NULL;
        c->spare_cap = 0;
    }
    return freed;
}

static void on_tick(uv_timer_t *t) {
    rmq_rem_ctx_t *x = t->data;
    uint64_t now = rmq_mono_ms();
    size_t freed = 0;
    if (x->direct_writes) /* requests written directly time out too */
        for (rmq_rem_conn_t *c = x->conns; c; c = c->next) direct_adopt(c);
    /* Collect first: a callback may send, close or add requests. */
    rmq_rem_pending_t *expired = NULL, **tail = &expired;
    for (rmq_rem_pending_t *p = x->phead, *nx; p; p = nx) {
        nx = p->next;
        if (p->deadline > now) continue;
        /* Not one whole frame came back over the connection during a whole request timeout:
         * the peer is gone (half-open) or the stream lost its framing (a corrupted length
         * keeps this end reading a frame that never ends). Closed below so the next request
         * reconnects, as Java's clientCloseSocketIfTimeout does. */
        if (p->conn && !p->conn->closed && p->conn->state == RMQ_REM_CONN_OPEN &&
            p->conn->last_frame <= p->sent)
            p->conn->mute = true;
        rmq_rem_pending_remove_(x, p);
        p->hnext = NULL;
        *tail = p;
        tail = &p->hnext;
    }
    uint64_t lnow = uv_now(x->loop);
    for (rmq_rem_conn_t *c = x->conns, *nx; c; c = nx) {
        nx = c->next;
        if (c->closed) continue;
        if (c->mute) {
            RMQ_XLOG_INFO(x->log, "remoting",
                          "%s: closing %s: a request timed out with no frame received since it "
                          "was sent",
                          x->name, c->peer);
            rmq_rem_conn_close(c);
        } else if (c->state != RMQ_REM_CONN_OPEN) {
            if (c->connect_deadline && now >= c->connect_deadline) {
                if (c->state == RMQ_REM_CONN_HANDSHAKE)
                    RMQ_XLOG_WARN(x->log, "remoting", "%s: closing %s: %s not done in %d ms",
                                  x->name, c->peer, c->sniff ? "first frame" : "TLS handshake",
                                  rmq_rem_tls_ctx_handshake_timeout(x->tls));
                else
                    RMQ_XLOG_WARN(x->log, "remoting", "%s: connect to %s timed out", x->name,
                                  c->peer);
                rmq_rem_conn_close(c);
            }
        } else if (x->idle_ms > 0 && lnow - c->last_active >= (uint64_t)x->idle_ms) {
            RMQ_XLOG_INFO(x->log, "remoting", "%s: closing %s idle for %d ms", x->name, c->peer,
                          x->idle_ms);
            rmq_rem_conn_close(c);
        } else if (lnow - c->last_active >= IDLE_TRIM_MS) {
            freed += idle_trim(c);
        }
    }
    /* After the closes: a caller woken by its timeout and asking again must not find the mute
     * connection still open (a sync invoke would write to it directly). */
    fail_pending_list(expired, RMQ_ERR__TIMEOUT);
#ifdef __GLIBC__
    /* hand the freed pages back (glibc keeps free heap memory resident otherwise) */
    if (freed >= IDLE_TRIM_RETURN) malloc_trim(0);
#endif
}

static void flush_dirty(rmq_rem_ctx_t *x) {
    while (x->dirty) {
        rmq_rem_conn_t *c = x->dirty;
        x->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        if (!c->closed && c->state == RMQ_REM_CONN_OPEN) {
            flush_out(c);
            direct_resume(c);
        }
        rmq_rem_conn_unref(c);
    }
}

static void on_prepare(uv_prepare_t *h) {
    flush_dirty(h->data);
}
static void on_check(uv_check_t *h) {
    rmq_rem_ctx_t *x = h->data;
    if (x->ops->on_iteration_end) x->ops->on_iteration_end(x->owner);
    flush_dirty(x);
}

rmq_rem_ctx_t *rmq_rem_ctx_new_(uv_loop_t *loop, const rmq_rem_ctx_ops_t *ops, void *owner,
                                size_t max_frame, int idle_ms, const char *name) {
    rmq_rem_ctx_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->loop = loop;
    atomic_init(&x->refs, 1);
    x->ops = ops;
    x->owner = owner;
    x->max_frame = max_frame ? max_frame : RMQ_REM_FRAME_MAX_DEFAULT;
    x->idle_ms = idle_ms;
    rmq_strlcpy(x->name, name ? name : "remoting", sizeof x->name);
    x->nbuckets = 256;
    x->buckets = calloc(x->nbuckets, sizeof *x->buckets);
    if (!x->buckets) {
        free(x);
        return NULL;
    }
    int rc = rmq_mailbox_init(&x->mbox, loop, on_mbox, x);
    if (rc) {
        RMQ_XLOG_ERROR(x->log, "remoting", "%s: mailbox: %s", x->name, uv_strerror(rc));
        free(x->buckets);
        free(x);
        return NULL;
    }
    uv_timer_init(loop, &x->tick);
    uv_prepare_init(loop, &x->prep);
    uv_check_init(loop, &x->check);
    x->tick.data = x->prep.data = x->check.data = x;
    x->open_handles = 4;
    uv_timer_start(&x->tick, on_tick, TICK_MS, TICK_MS);
    uv_prepare_start(&x->prep, on_prepare);
    uv_check_start(&x->check, on_check);
    /* Only sockets and the mailbox keep a loop alive, not our housekeeping. */
    uv_unref((uv_handle_t *)&x->tick);
    uv_unref((uv_handle_t *)&x->prep);
    uv_unref((uv_handle_t *)&x->check);
    return x;
}

void rmq_rem_ctx_shutdown_(rmq_rem_ctx_t *x, rmq_err_t err) {
    for (rmq_rem_conn_t *c = x->conns; c; c = c->next) direct_stop(c);
    rmq_rem_pending_t *all = NULL, **tail = &all;
    while (x->phead) {
        rmq_rem_pending_t *p = x->phead;
        rmq_rem_pending_remove_(x, p);
        p->hnext = NULL;
        *tail = p;
        tail = &p->hnext;
    }
    fail_pending_list(all, err);
    for (rmq_rem_conn_t *c = x->conns; c; c = c->next) rmq_rem_conn_close(c);
    /* Items still queued are handed to their callbacks with closing set. */
    rmq_mailbox_close(&x->mbox, on_mbox_closed);
    flush_dirty(x);
    uv_close((uv_handle_t *)&x->tick, on_ctx_handle_closed);
    uv_close((uv_handle_t *)&x->prep, on_ctx_handle_closed);
    uv_close((uv_handle_t *)&x->check, on_ctx_handle_closed);
    x->shutting_down = true;
}

/* ------------------------------------------------------------------ pending table */

static void pending_grow(rmq_rem_ctx_t *x) {
    size_t nb = x->nbuckets * 2;
    rmq_rem_pending_t **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep the longer chains */
    for (size_t i = 0; i < x->nbuckets; i++) {
        for (rmq_rem_pending_t *p = x->buckets[i], *nx; p; p = nx) {
            nx = p->hnext;
            size_t h = (uint32_t)p->opaque & (nb - 1);
            p->hnext = b[h];
            b[h] = p;
        }
    }
    free(x->buckets);
    x->buckets = b;
    x->nbuckets = nb;
}

void rmq_rem_pending_add_(rmq_rem_ctx_t *x, rmq_rem_pending_t *p) {
    p->sent = uv_now(x->loop);
    if (x->npending >= x->nbuckets) pending_grow(x);
    size_t h = (uint32_t)p->opaque & (x->nbuckets - 1);
    p->hnext = x->buckets[h];
    x->buckets[h] = p;
    p->next = NULL;
    p->prev = x->ptail;
    if (x->ptail)
        x->ptail->next = p;
    else
        x->phead = p;
    x->ptail = p;
    x->npending++;
    rmq_rem_conn_t *c = p->conn;
    p->cprev = NULL;
    p->cnext = c->plist;
    if (c->plist) c->plist->cprev = p;
    c->plist = p;
    atomic_store_explicit(&c->inflight, ++c->nplist, memory_order_relaxed);
}

void rmq_rem_pending_remove_(rmq_rem_ctx_t *x, rmq_rem_pending_t *p) {
    size_t h = (uint32_t)p->opaque & (x->nbuckets - 1);
    for (rmq_rem_pending_t **pp = &x->buckets[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == p) {
            *pp = p->hnext;
            break;
        }
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        x->phead = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        x->ptail = p->prev;
    x->npending--;
    rmq_rem_conn_t *c = p->conn;
    if (p->cprev)
        p->cprev->cnext = p->cnext;
    else
        c->plist = p->cnext;
    if (p->cnext) p->cnext->cprev = p->cprev;
    atomic_store_explicit(&c->inflight, --c->nplist, memory_order_relaxed);
    p->prev = p->next = p->cprev = p->cnext = p->hnext = NULL;
}

static rmq_rem_pending_t *pending_take(rmq_rem_ctx_t *x, rmq_rem_conn_t *c, int32_t opaque) {
    size_t h = (uint32_t)opaque & (x->nbuckets - 1);
    for (rmq_rem_pending_t *p = x->buckets[h]; p; p = p->hnext) {
        if (p->opaque == opaque && p->conn == c) {
            rmq_rem_pending_remove_(x, p);
            return p;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- connection */

void rmq_rem_addr_text_(const struct sockaddr *sa, char *out, size_t n) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", ip, port);
}

rmq_rem_conn_t *rmq_rem_conn_new_(rmq_rem_ctx_t *x) {
    rmq_rem_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    int rc = uv_tcp_init(x->loop, &c->tcp);
    if (rc) {
        RMQ_XLOG_WARN(x->log, "remoting", "%s: tcp init: %s", x->name, uv_strerror(rc));
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->ctx = x;
    pthread_mutex_init(&c->wmu, NULL);
    c->wfd = -1;
    atomic_fetch_add(&x->refs, 1);
    atomic_init(&c->refs, 1);
    atomic_init(&c->inflight, 0);
    c->id = atomic_fetch_add(&conn_ids, 1) + 1;
    rmq_buf_init(&c->rbuf);
    rmq_buf_init(&c->out);
    c->last_active = uv_now(x->loop);
    c->next = x->conns;
    if (x->conns) x->conns->prev = c;
    x->conns = c;
    x->nconns++;
    return c;
}

static void conn_free(rmq_rem_conn_t *c) {
    rmq_rem_ctx_t *x = c->ctx;
    rmq_rem_cmd_destroy(c->rcmd);
    rmq_buf_fini(&c->rbuf);
    rmq_buf_fini(&c->out);
    free(c->spare);
    free(c->bor);
    free(c->wtail); /* NULL: close takes it */
    pthread_mutex_destroy(&c->wmu);
    free(c);
    rmq_rem_ctx_unref_(x);
}

void rmq_rem_conn_ref(rmq_rem_conn_t *c) {
    atomic_fetch_add(&c->refs, 1);
}

void rmq_rem_conn_unref(rmq_rem_conn_t *c) {
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) conn_free(c);
}

static void on_write(uv_write_t *req, int status) {
    wreq_t *w = (wreq_t *)req;
    rmq_rem_conn_t *c = w->conn;
    c->pending_bytes -= w->bytes;
    /* Hand the buffer back as the next out buffer: saves the regrowth on every flush. */
    if (!c->closed && c->out.data == NULL && w->cap <= 4 * READ_CHUNK) {
        c->out.data = w->data;
        c->out.cap = w->cap;
        c->out.len = c->out.rpos = 0;
    } else if (!c->closed && c->spare == NULL && w->cap <= 4 * READ_CHUNK) {
        /* out was refilled before this write finished (a busy connection): keep the buffer
         * for the next flush instead of regrowing one from 256 bytes (realloc copies and
         * fresh pages every time) */
        c->spare = w->data;
        c->spare_cap = w->cap;
    } else {
        free(w->data);
    }
    rmq_rem_cmd_destroy(w->cmd); /* runs a zero-copy body's release */
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closed) {
        RMQ_XLOG_INFO(c->ctx->log, "remoting", "%s: write to %s failed: %s", c->ctx->name, c->peer,
                      uv_strerror(status));
        rmq_rem_conn_close(c);
        return;
    }
    direct_resume(c);
}

/* Write the session's pending ciphertext in one uv_write. */
static void tls_flush(rmq_rem_conn_t *c) {
    size_t len, cap;
    uint8_t *data = rmq_rem_tls_take(c->tls, &len, &cap);
    if (!data) return;
    wreq_t *w = calloc(1, sizeof *w);
    if (!w) {
        free(data);
        RMQ_XLOG_ERROR(c->ctx->log, "remoting", "%s: out of memory writing to %s", c->ctx->name,
                       c->peer);
        rmq_rem_conn_close(c);
        return;
    }
    w->conn = c;
    w->data = data;
    w->cap = cap;
    w->bytes = len;
    c->pending_bytes += len;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc) {
        c->pending_bytes -= len;
        free(data);
        free(w);
        if (!c->closed) {
            RMQ_XLOG_INFO(c->ctx->log, "remoting", "%s: write to %s: %s", c->ctx->name, c->peer,
                          uv_strerror(rc));
            rmq_rem_conn_close(c);
        }
    }
}

/* write_now on a TLS connection: encrypt w's buffers (out's len bytes first) and write the
 * ciphertext; w's plaintext is done with at once. Takes w. */
static void tls_write(rmq_rem_conn_t *c, wreq_t *w, const uv_buf_t *bufs, size_t nb, size_t len) {
    char err[160];
    int r = rmq_rem_tls_write(c->tls, bufs, nb, err, sizeof err);
    c->pending_bytes -= len; /* out's bytes were counted when queued */
    if (c->out.data == NULL && w->cap <= 4 * READ_CHUNK) {
        c->out.data = w->data; /* the plaintext buffer serves again as out */
        c->out.cap = w->cap;
        c->out.len = c->out.rpos = 0;
    } else {
        free(w->data);
    }
    rmq_rem_cmd_destroy(w->cmd);
    free(w);
    if (r) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: closing %s: %s", c->ctx->name, c->peer, err);
        rmq_rem_conn_close(c);
        return;
    }
    tls_flush(c);
}

/* Hand out (and cmd's body, if any) to one uv_write. Takes cmd. */
static void write_now(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd) {
    wreq_t *w = calloc(1, sizeof *w);
    uv_buf_t small[8], *bufs = small;
    size_t nb = 1 + (cmd ? (cmd->niov ? cmd->niov : 1) : 0);
    if (w && nb > RMQ_ARRAY_LEN(small)) {
        bufs = malloc(nb * sizeof *bufs);
        if (!bufs) {
            free(w);
            w = NULL;
        }
    }
    if (!w) {
        RMQ_XLOG_ERROR(c->ctx->log, "remoting", "%s: out of memory writing to %s", c->ctx->name,
                       c->peer);
        rmq_rem_cmd_destroy(cmd);
        rmq_rem_conn_close(c);
        return;
    }
    size_t len = 0;
    w->cap = c->out.cap;
    w->data = rmq_buf_detach(&c->out, &len);
    w->conn = c;
    w->cmd = cmd;
    nb = 0;
    bufs[nb++] = uv_buf_init((char *)w->data, (unsigned)len);
    w->bytes = len;
    if (cmd) {
        if (cmd->niov) {
            for (size_t i = 0; i < cmd->niov; i++) {
                bufs[nb++] = cmd->iov[i];
                w->bytes += cmd->iov[i].len;
            }
        } else if (cmd->body_len) {
            bufs[nb++] = uv_buf_init((char *)cmd->body, (unsigned)cmd->body_len);
            w->bytes += cmd->body_len;
        }
    }
    if (c->tls) {
        tls_write(c, w, bufs, nb, len);
        if (bufs != small) free(bufs);
        return;
    }
    /* out's bytes were already counted when queued; count the body now. */
    c->pending_bytes += w->bytes - len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)nb, on_write);
    if (bufs != small) free(bufs);
    if (rc) {
        c->pending_bytes -= w->bytes;
        free(w->data);
        rmq_rem_cmd_destroy(w->cmd);
        free(w);
        if (!c->closed) {
            RMQ_XLOG_INFO(c->ctx->log, "remoting", "%s: write to %s: %s", c->ctx->name, c->peer,
                          uv_strerror(rc));
            rmq_rem_conn_close(c);
        }
    }
}

/* Copy the borrowed frames into out, skipping their first skip bytes (written already). out is
 * empty: borrowing starts only then and everything appended meanwhile spilled first. false: no
 * memory (the connection is closed). */
static bool bor_spill(rmq_rem_conn_t *c, size_t skip) {
    size_t n = c->nbor;
    c->nbor = 0;
    c->bor_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = c->bor[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        if (rmq_buf_append(&c->out, c->bor[i].base + skip, len - skip)) {
            RMQ_XLOG_ERROR(c->ctx->log, "remoting", "%s: out of memory writing to %s", c->ctx->name,
                           c->peer);
            rmq_rem_conn_close(c);
            return false;
        }
        skip = 0;
    }
    return true;
}

static void flush_out(rmq_rem_conn_t *c) {
    if (c->nbor) {
        /* borrowing implies plaintext, open, and nothing else queued (send_borrowed) */
        int r = c->closed ? 0 : uv_try_write((uv_stream_t *)&c->tcp, c->bor, (unsigned)c->nbor);
        size_t done = r > 0 ? (size_t)r : 0;
        c->pending_bytes -= done;
        if (done == c->bor_bytes) {
            c->nbor = 0;
            c->bor_bytes = 0;
            return;
        }
        if (!bor_spill(c, done)) return;
        write_now(c, NULL); /* EAGAIN or an error: uv_write queues the rest or reports it */
        return;
    }
    size_t n = rmq_buf_unread(&c->out);
    if (n == 0) return;
    /* Plaintext: try the socket directly first (libuv refuses with EAGAIN while earlier writes
     * are queued, so order holds). A uv_write costs a request, a callback deferred to the next
     * iteration and, when it completed at once, an epoll_ctl: libuv re-arms the watcher as it
     * drops POLLOUT interest. That was one extra system call per flush on both sides (perf,
     * issue 15: ~14,000/s on an async producer's loop). What the socket does not take goes
     * the uv_write way. */
    if (!c->tls && !c->closed) {
        uv_buf_t b = uv_buf_init((char *)rmq_buf_rptr(&c->out), (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r > 0) {
            c->pending_bytes -= (size_t)r;
            if ((size_t)r == n) {
                c->out.len = c->out.rpos = 0;
                return;
            }
            rmq_buf_consume(&c->out, (size_t)r);
        }
        /* EAGAIN or an error: uv_write queues the rest or reports the error */
    }
    write_now(c, NULL);
}

static void mark_dirty(rmq_rem_conn_t *c) {
    if (c->dirty) return;
    c->dirty = true;
    rmq_rem_conn_ref(c); /* the dirty list may outlive a close in the same iteration */
    c->dirty_next = c->ctx->dirty;
    c->ctx->dirty = c;
}

/* Before appending to out: reuse a written-out buffer (see on_write). */
static void out_take_spare(rmq_rem_conn_t *c) {
    if (c->out.data == NULL && c->spare) {
        c->out.data = c->spare;
        c->out.cap = c->spare_cap;
        c->out.len = c->out.rpos = 0;
        c->spare = NULL;
    }
}

/* After n bytes of whole frames went into out: count them, and flush now past FLUSH_AT or at the
 * end of this loop iteration (once connected). */
static void out_queued(rmq_rem_conn_t *c, size_t n) {
    c->pending_bytes += n;
    c->last_active = uv_now(c->ctx->loop);
    if (c->state != RMQ_REM_CONN_OPEN) return; /* flushed once connected */
    if (rmq_buf_unread(&c->out) >= FLUSH_AT)
        flush_out(c);
    else
        mark_dirty(c);
}

/* ------------------------------------------------------------------ direct writes */

/* Loop thread: put the adopt list p (taken from c under wmu) into the table. */
static void adopt_list(rmq_rem_conn_t *c, rmq_rem_pending_t *p) {
    for (rmq_rem_pending_t *nx; p; p = nx) {
        nx = p->hnext;
        rmq_rem_pending_add_(c->ctx, p);
    }
}

/* Loop thread: put the requests written directly on c into the table. true: there were some. */
static bool direct_adopt(rmq_rem_conn_t *c) {
    if (!c->wmaybe) return false; /* direct_stop adopted them */
    pthread_mutex_lock(&c->wmu);
    rmq_rem_pending_t *p = c->wadopt;
    c->wadopt = NULL;
    pthread_mutex_unlock(&c->wmu);
    adopt_list(c, p);
    return p != NULL;
}

/* Loop thread, before it queues a byte on c or closes it: no direct write from here on (one in
 * progress is waited out on wmu), the ones done go into the table, and what one left unwritten
 * is queued first. */
static void direct_stop(rmq_rem_conn_t *c) {
    if (!c->wmaybe) return;
    pthread_mutex_lock(&c->wmu);
    c->wmaybe = c->wdirect = false;
    uint8_t *tail = c->wtail;
    size_t n = c->wtail_len;
    bool fail = c->wfail;
    rmq_rem_pending_t *adopt = c->wadopt;
    c->wtail = NULL;
    c->wtail_len = 0;
    c->wadopt = NULL;
    pthread_mutex_unlock(&c->wmu);
    adopt_list(c, adopt);
    if (fail && !c->closed) {
        RMQ_XLOG_INFO(c->ctx->log, "remoting", "%s: closing %s: a direct write failed",
                      c->ctx->name, c->peer);
        rmq_rem_conn_close(c);
    }
    if (tail && !c->closed) {
        out_take_spare(c);
        if (rmq_buf_append(&c->out, tail, n)) {
            RMQ_XLOG_ERROR(c->ctx->log, "remoting", "%s: out of memory writing to %s", c->ctx->name,
                           c->peer);
            rmq_rem_conn_close(c); /* the frame is cut: the stream cannot go on */
        } else {
            out_queued(c, n);
        }
    }
    free(tail);
}

/* Loop thread, when c has nothing queued or in flight: let other threads write again. */
static void direct_resume(rmq_rem_conn_t *c) {
    if (c->wmaybe || !c->ctx->direct_writes || c->closed || c->tls ||
        c->state != RMQ_REM_CONN_OPEN || c->pending_bytes || c->dirty)
        return;
    if (c->wfd < 0) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd)) return;
        c->wfd = fd;
    }
    pthread_mutex_lock(&c->wmu);
    c->wdirect = true;
    pthread_mutex_unlock(&c->wmu);
    c->wmaybe = true;
}

/* On c's loop after a direct write left a tail or failed (c referenced by the poster). */
static void direct_kick(void *arg) {
    rmq_rem_conn_t *c = arg;
    direct_stop(c);
    direct_resume(c); /* at once if a send had taken the tail already and it is all written */
    rmq_rem_conn_unref(c);
}

size_t rmq_rem_direct_max_;

bool rmq_rem_conn_write_direct_(rmq_rem_conn_t *c, rmq_rem_pending_t *p) {
    if (!p->frame_len) return false;
    pthread_mutex_lock(&c->wmu);
    /* Not ahead of what this thread posted and the loop has not handled yet (an async send, a
     * oneway, closing the address): once the mailbox is idle those have queued their bytes,
     * which keeps wdirect off until they are written. And only onto a connection with no
     * request under way: with many senders (32 threads of sync sends) one write system call per
     * request from each of them cost more than the loop's one writev for all (issue 15: 69-72k
     * -> 57k msgs/s); a lone request is what gains from skipping the loop. */
    if (!c->wdirect || c->wadopt || atomic_load_explicit(&c->inflight, memory_order_relaxed) ||
        !rmq_mailbox_idle(&c->ctx->mbox)) {
        pthread_mutex_unlock(&c->wmu);
        return false;
    }
    /* In the adopt list before the first byte leaves: the response can come back at once, and
     * the loop looks here (under wmu, so only once this write is over) when it finds none. */
    p->conn = c;
    p->hnext = c->wadopt;
    c->wadopt = p;
    const uint8_t *f = p->frame;
    size_t len = p->frame_len, done = 0;
    size_t upto = rmq_rem_direct_max_ && rmq_rem_direct_max_ < len ? rmq_rem_direct_max_ : len;
    int err = 0;
    while (done < upto) {
        ssize_t n = send(c->wfd, f + done, upto - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            err = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
            break;
        }
    }
    bool kick = done < len;
    if (kick) {
        /* The socket took part of it (or nothing): the rest must go before anything else, so
         * the loop takes it over; or the connection broke: the loop closes it, failing p. */
        c->wdirect = false;
        if (!err && !(c->wtail = malloc(len - done))) err = ENOMEM;
        if (err) {
            c->wfail = true;
        } else {
            memcpy(c->wtail, f + done, len - done);
            c->wtail_len = len - done;
        }
        rmq_rem_conn_ref(c);
    }
    pthread_mutex_unlock(&c->wmu);
    /* The mailbox refuses only when the context is shutting down, which closes c. */
    if (kick && !rmq_rem_conn_run_on_loop(c, direct_kick, c)) rmq_rem_conn_unref(c);
    return true;
}

void rmq_rem_conn_send(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd) {
    if (!cmd) return;
    if (c && c->wmaybe) direct_stop(c);
    if (!c || c->closed || (c->nbor && !bor_spill(c, 0))) {
        rmq_rem_cmd_destroy(cmd);
        return;
    }
    out_take_spare(c);
    size_t before = c->out.len;
    size_t blen = rmq_rem_cmd_body_len(cmd);
    bool copy = c->state != RMQ_REM_CONN_OPEN || (cmd->niov == 0 && blen <= COPY_MAX);
    rmq_err_t e =
        copy ? rmq_rem_frame_encode(cmd, &c->out) : rmq_rem_frame_encode_header(cmd, &c->out);
    if (e) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: cannot encode code %d for %s: %s", c->ctx->name,
                      cmd->code, c->peer, rmq_strerror(e));
        rmq_rem_cmd_destroy(cmd);
        return;
    }
    if (copy) {
        rmq_rem_cmd_destroy(cmd);
        out_queued(c, c->out.len - before);
        return;
    }
    c->pending_bytes += c->out.len - before;
    c->last_active = uv_now(c->ctx->loop);
    write_now(c, cmd);
}

void rmq_rem_conn_send_bytes(rmq_rem_conn_t *c, const uint8_t *frame, size_t len) {
    if (!c || c->closed || !len) return;
    if (c->wmaybe) direct_stop(c);
    if (c->nbor && !bor_spill(c, 0)) return;
    out_take_spare(c);
    if (rmq_buf_append(&c->out, frame, len)) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: no memory for a %zu-byte frame to %s",
                      c->ctx->name, len, c->peer);
        return;
    }
    out_queued(c, len);
}

void rmq_rem_conn_send_borrowed(rmq_rem_conn_t *c, const uint8_t *frame, size_t len) {
    if (!c || c->closed || !len) return;
    if (c->wmaybe) direct_stop(c);
    /* borrow when the frame goes first: nothing in out or in a uv_write (else the writev
     * would be refused anyway and everything copied) */
    if (c->state == RMQ_REM_CONN_OPEN && !c->tls && c->pending_bytes == c->bor_bytes &&
        len <= UINT_MAX && (c->bor || (c->bor = malloc(BOR_MAX * sizeof *c->bor)))) {
        c->bor[c->nbor++] = uv_buf_init((char *)frame, (unsigned)len);
        c->bor_bytes += len;
        c->pending_bytes += len;
        c->last_active = uv_now(c->ctx->loop);
        if (c->nbor == BOR_MAX || c->bor_bytes >= FLUSH_AT)
            flush_out(c);
        else
            mark_dirty(c);
        return;
    }
    rmq_rem_conn_send_bytes(c, frame, len);
}

static void on_conn_closed(uv_handle_t *h) {
    rmq_rem_conn_t *c = h->data;
    rmq_rem_ctx_t *x = c->ctx;
    /* The owner hears first, so whoever a failed request wakes sees the address as closed. */
    if (x->ops->on_conn_closed) x->ops->on_conn_closed(x->owner, c);
    rmq_rem_pending_t *list = NULL, **tail = &list;
    while (c->plist) {
        rmq_rem_pending_t *p = c->plist;
        rmq_rem_pending_remove_(x, p);
        p->hnext = NULL;
        *tail = p;
        tail = &p->hnext;
    }
    fail_pending_list(list, RMQ_ERR__CONN);
    c->pending_bytes -= rmq_buf_unread(&c->out) + c->bor_bytes;
    c->nbor = c->bor_bytes = 0;
    rmq_buf_fini(&c->out);
    rmq_buf_fini(&c->rbuf);
    rmq_rem_cmd_destroy(c->rcmd);
    c->rcmd = NULL;
    rmq_rem_tls_destroy(c->tls);
    c->tls = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        x->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    x->nconns--;
    rmq_rem_conn_unref(c);
    ctx_maybe_done(x);
}

void rmq_rem_conn_close(rmq_rem_conn_t *c) {
    if (!c || c->closed) return;
    c->closed = true;
    direct_stop(c); /* waits out a direct write in progress: the socket closes after it */
    if (c->state == RMQ_REM_CONN_RESOLVING) uv_cancel((uv_req_t *)&c->gai);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

bool rmq_rem_conn_is_closed(const rmq_rem_conn_t *c) {
    return c->closed;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    rmq_rem_conn_t *c = h->data;
    if (c->tls) {
        uint8_t *p = rmq_rem_tls_in_space(c->tls, READ_CHUNK);
        *buf = p ? uv_buf_init((char *)p, READ_CHUNK) : uv_buf_init(NULL, 0);
        return;
    }
    if (c->rcmd) { /* the rest of a big body, straight into its buffer */
        *buf = uv_buf_init((char *)c->rcmd->body + c->rcmd_have,
                           (unsigned)(c->rcmd->body_len - c->rcmd_have));
        return;
    }
    if (c->rchunk == 0) c->rchunk = READ_CHUNK_MIN;
    size_t want = c->rchunk, have = rmq_buf_unread(&c->rbuf);
    if (c->need > have && c->need - have > want) want = c->need - have;
    if (rmq_buf_reserve(&c->rbuf, want)) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->rbuf.data + c->rbuf.len, (unsigned)(c->rbuf.cap - c->rbuf.len));
}

static void handle_cmd(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd) {
    rmq_rem_ctx_t *x = c->ctx;
    if (rmq_rem_cmd_is_response(cmd)) {
        rmq_rem_pending_t *p = pending_take(x, c, cmd->opaque);
        if (!p && direct_adopt(c)) p = pending_take(x, c, cmd->opaque);
        if (!p) {
            RMQ_XLOG_DEBUG(x->log, "remoting",
                           "%s: response with unknown opaque %" PRId32 " from %s", x->name,
                           cmd->opaque, c->peer);
            rmq_rem_cmd_destroy(cmd);
            return;
        }
        rmq_rem_pending_finish_(p, RMQ_OK, cmd);
        return;
    }
    x->ops->on_request(x->owner, c, cmd);
}

static void read_frames(rmq_rem_conn_t *c);

/* The connection is usable: send what queued while it was not. */
static void conn_opened(rmq_rem_conn_t *c) {
    c->state = RMQ_REM_CONN_OPEN;
    c->sniff = false;
    c->connect_deadline = 0;
    flush_out(c);
}

/* Ciphertext arrived (or the handshake starts): advance the handshake, then decrypt into
 * rbuf and read frames. Closes c on any TLS failure, with a WARN line for handshakes. */
static void tls_input(rmq_rem_conn_t *c) {
    rmq_rem_ctx_t *x = c->ctx;
    char err[300];
    if (c->state != RMQ_REM_CONN_OPEN) {
        int r = rmq_rem_tls_handshake(c->tls, err, sizeof err);
        tls_flush(c);
        if (r < 0) {
            RMQ_XLOG_WARN(x->log, "remoting", "%s: TLS handshake with %s failed: %s", x->name,
                          c->peer, err);
            rmq_rem_conn_close(c);
            return;
        }
        if (r == 0 || c->closed) return;
        RMQ_XLOG_DEBUG(x->log, "remoting", "%s: TLS established with %s", x->name, c->peer);
        conn_opened(c);
        if (c->closed) return;
    }
    int r = rmq_rem_tls_read(c->tls, &c->rbuf, err, sizeof err);
    tls_flush(c);
    if (r < 0) {
        if (strcmp(err, "closed") != 0)
            RMQ_XLOG_WARN(x->log, "remoting", "%s: closing %s: %s", x->name, c->peer, err);
        rmq_rem_conn_close(c);
        return;
    }
    read_frames(c);
}

/* Permissive server, first bytes in rbuf: a TLS record header starts a session (true: the
 * bytes went to it), else the connection is plaintext from here on (false). */
static bool sniff(rmq_rem_conn_t *c) {
    rmq_rem_ctx_t *x = c->ctx;
    if (rmq_buf_rptr(&c->rbuf)[0] != RMQ_REM_TLS_RECORD_HANDSHAKE) {
        conn_opened(c);
        return false;
    }
    c->sniff = false;
    c->tls = rmq_rem_tls_new(x->tls);
    if (!c->tls || rmq_rem_tls_feed(c->tls, rmq_buf_rptr(&c->rbuf), rmq_buf_unread(&c->rbuf))) {
        RMQ_XLOG_ERROR(x->log, "remoting", "%s: out of memory starting TLS with %s", x->name,
                       c->peer);
        rmq_rem_conn_close(c);
        return true;
    }
    rmq_buf_reset(&c->rbuf);
    tls_input(c);
    return true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    rmq_rem_conn_t *c = s->data;
    rmq_rem_ctx_t *x = c->ctx;
    if (nread < 0) {
        if (nread != UV_EOF)
            RMQ_XLOG_INFO(x->log, "remoting", "%s: read from %s: %s", x->name, c->peer,
                          uv_strerror((int)nread));
        rmq_rem_conn_close(c);
        return;
    }
    if (nread == 0 || c->closed) return;
    c->last_active = uv_now(x->loop);
    if (c->tls) {
        rmq_rem_tls_in_commit(c->tls, (size_t)nread);
        tls_input(c);
        return;
    }
    if (c->rcmd) {
        c->rcmd_have += (size_t)nread;
        if (c->rcmd_have < c->rcmd->body_len) return;
        rmq_rem_cmd_t *cmd = c->rcmd;
        c->rcmd = NULL;
        c->need = 0;
        c->last_frame = c->last_active;
        handle_cmd(c, cmd);
        return;
    }
    /* a read that filled what was offered: the peer sends more, offer more next time */
    if ((size_t)nread == buf->len && c->rchunk < READ_CHUNK) c->rchunk *= 2;
    c->rbuf.len += (size_t)nread;
    if (c->sniff && sniff(c)) return;
    read_frames(c);
}

/* The frame at the start of rbuf is big and incomplete: once its header is here, decode it,
 * give the command a body buffer holding what rbuf has of the body, and let the next reads
 * fill the rest in place (on_alloc): the body is written once, by the kernel, instead of into
 * rbuf, then moved to the front of rbuf and copied out (issue 15: the client's pull results).
 * True when rbuf was consumed or c closed; false to wait for more header bytes. Only where
 * bodies are not borrowed (requests a server borrows stay slices of rbuf) and not under TLS
 * (records are decrypted into rbuf). */
static bool direct_body(rmq_rem_conn_t *c) {
    rmq_rem_ctx_t *x = c->ctx;
    char err[160];
    rmq_rem_cmd_t *cmd;
    size_t blen, have = rmq_buf_unread(&c->rbuf);
    ssize_t hl = rmq_rem_frame_decode_head(rmq_buf_rptr(&c->rbuf), have, x->max_frame, &cmd, &blen,
                                           err, sizeof err);
    if (hl == 0) return false;
    if (hl < 0) {
        RMQ_XLOG_WARN(x->log, "remoting", "%s: closing %s: %s", x->name, c->peer, err);
        rmq_rem_conn_close(c);
        return true;
    }
    size_t part = have - (size_t)hl; /* < blen: the frame is incomplete */
    cmd->body = malloc(blen);
    if (!cmd->body) {
        RMQ_XLOG_ERROR(x->log, "remoting", "%s: out of memory for a %zu-byte body from %s", x->name,
                       blen, c->peer);
        rmq_rem_cmd_destroy(cmd);
        rmq_rem_conn_close(c);
        return true;
    }
    cmd->body_len = blen;
    memcpy(cmd->body, rmq_buf_rptr(&c->rbuf) + hl, part);
    rmq_buf_consume(&c->rbuf, have);
    c->rcmd = cmd;
    c->rcmd_have = part;
    return true;
}

/* Decode and handle every whole frame in rbuf. */
static void read_frames(rmq_rem_conn_t *c) {
    rmq_rem_ctx_t *x = c->ctx;
    while (!c->closed) {
        rmq_rem_cmd_t *cmd;
        char err[160];
        size_t have = rmq_buf_unread(&c->rbuf);
        ssize_t r = rmq_rem_frame_decode_ex(rmq_buf_rptr(&c->rbuf), have, x->max_frame,
                                            x->borrow_bodies, &cmd, err, sizeof err);
        if (r == 0) {
            c->need = have >= 4 ? (size_t)rmq_get_be32(rmq_buf_rptr(&c->rbuf)) + 4 : 0;
            if (c->need >= DIRECT_BODY_MIN && !x->borrow_bodies && !c->tls && direct_body(c))
                continue; /* closed, or rbuf is empty now */
            break;
        }
        if (r < 0) {
            RMQ_XLOG_WARN(x->log, "remoting", "%s: closing %s: %s", x->name, c->peer, err);
            rmq_rem_conn_close(c);
            break;
        }
        rmq_buf_consume(&c->rbuf, (size_t)r);
        c->need = 0;
        c->last_frame = c->last_active;
        if (!cmd->body_borrowed) {
            handle_cmd(c, cmd);
            continue;
        }
        /* The body points into rbuf, which nothing touches until this loop reads on: a
         * handler that keeps the request (its own reference) gets a copy once it returns. */
        rmq_rem_cmd_ref(cmd);
        handle_cmd(c, cmd);
        if (cmd->extra_refs > 0 && rmq_rem_cmd_own_body(cmd) != RMQ_OK) {
            RMQ_XLOG_ERROR(x->log, "remoting", "%s: out of memory keeping a request from %s",
                           x->name, c->peer);
            rmq_rem_conn_close(c);
        }
        rmq_rem_cmd_destroy(cmd);
    }
    /* Do not keep a big frame's buffer for the connection's life. */
    if (!c->closed && rmq_buf_unread(&c->rbuf) == 0 && c->rbuf.cap > 4 * READ_CHUNK)
        rmq_buf_fini(&c->rbuf);
}

rmq_err_t rmq_rem_conn_start_(rmq_rem_conn_t *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        rmq_rem_addr_text_((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    len = sizeof ss;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        rmq_rem_addr_text_((struct sockaddr *)&ss, c->local, sizeof c->local);
    c->peer_v4_ok = addr_v4(c, true, &c->peer_ip, &c->peer_port);
    uv_tcp_nodelay(&c->tcp, 1);
    rmq_rem_ctx_t *x = c->ctx;
    c->state = RMQ_REM_CONN_OPEN;
    c->connect_deadline = 0;
    c->last_active = uv_now(x->loop);
    if (x->tls_mode != RMQ_REM_TLS_DISABLED) {
        c->state = RMQ_REM_CONN_HANDSHAKE;
        c->connect_deadline = rmq_mono_ms() + (uint64_t)rmq_rem_tls_ctx_handshake_timeout(x->tls);
        if (x->tls_mode == RMQ_REM_TLS_PERMISSIVE) {
            c->sniff = true;
        } else if (!(c->tls = rmq_rem_tls_new(x->tls))) {
            RMQ_XLOG_ERROR(x->log, "remoting", "%s: out of memory starting TLS with %s", x->name,
                           c->peer);
            rmq_rem_conn_close(c);
            return RMQ_ERR__NOMEM;
        }
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        RMQ_XLOG_WARN(c->ctx->log, "remoting", "%s: read start on %s: %s", c->ctx->name, c->peer,
                      uv_strerror(rc));
        rmq_rem_conn_close(c);
        return RMQ_ERR__CONN;
    }
    if (c->tls) {
        tls_input(c); /* a client sends its hello; a server waits for one */
    } else if (c->state == RMQ_REM_CONN_OPEN) {
        flush_out(c);
        direct_resume(c);
    }
    return RMQ_OK;
}

/* ------------------------------------------------------------------ public helpers */

void rmq_rem_dispatch_(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, rmq_rem_handler_fn fn, void *arg) {
    bool oneway = rmq_rem_cmd_is_oneway(req);
    rmq_rem_cmd_t *resp;
    if (fn) {
        resp = fn(c, req, arg);
    } else {
        resp = NULL;
        if (!oneway) {
            resp = rmq_rem_cmd_new_response(req, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED, NULL);
            if (resp) rmq_rem_cmd_set_remarkf(resp, " request type %d not supported", req->code);
        }
        RMQ_XLOG_DEBUG(c->ctx->log, "remoting", "%s: %s sent unsupported request code %d",
                       c->ctx->name, c->peer, req->code);
        rmq_rem_cmd_destroy(req);
    }
    if (!resp) return;
    if (oneway)
        rmq_rem_cmd_destroy(resp);
    else
        rmq_rem_conn_send(c, resp);
}

void rmq_rem_conn_post(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd) {
    if (!cmd) return;
    send_msg_t *m = malloc(sizeof *m);
    if (!m) {
        rmq_rem_cmd_destroy(cmd);
        return;
    }
    m->m.kind = RMQ_REM_MSG_SEND;
    m->conn = c;
    m->cmd = cmd;
    rmq_rem_conn_ref(c);
    if (!rmq_rem_ctx_post_(c->ctx, &m->m)) {
        rmq_rem_conn_unref(c);
        rmq_rem_cmd_destroy(cmd);
        free(m);
    }
}

bool rmq_rem_conn_run_on_loop(rmq_rem_conn_t *c, void (*fn)(void *arg), void *arg) {
    run_msg_t *m = malloc(sizeof *m);
    if (!m) return false;
    m->m.kind = RMQ_REM_MSG_RUN;
    m->fn = fn;
    m->arg = arg;
    if (!rmq_rem_ctx_post_(c->ctx, &m->m)) {
        free(m);
        return false;
    }
    return true;
}

rmq_err_t rmq_rem_conn_request(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, int timeout_ms,
                               rmq_rem_resp_cb cb, void *arg) {
    if (!c || !req) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__INVALID_ARG;
    }
    if (c->closed) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__CONN;
    }
    if (!cb) {
        req->flag |= RMQ_REM_FLAG_ONEWAY;
        rmq_rem_conn_send(c, req);
        return RMQ_OK;
    }
    rmq_rem_pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    req->flag &= ~RMQ_REM_FLAG_RESPONSE;
    p->opaque = req->opaque;
    p->deadline = rmq_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    p->cb = cb;
    p->arg = arg;
    p->conn = c;
    rmq_rem_pending_add_(c->ctx, p);
    rmq_rem_conn_send(c, req);
    return RMQ_OK;
}

const char *rmq_rem_conn_peer(const rmq_rem_conn_t *c) {
    return c->peer;
}
const char *rmq_rem_conn_local(const rmq_rem_conn_t *c) {
    return c->local;
}

/* From the recorded text: valid on any thread and after close. */
static bool addr_v4(const rmq_rem_conn_t *c, bool peer, uint32_t *ip, uint16_t *port) {
    const char *t = peer ? c->peer : c->local;
    char host[64];
    const char *colon = strrchr(t, ':');
    if (!colon || (size_t)(colon - t) >= sizeof host) return false;
    memcpy(host, t, (size_t)(colon - t));
    host[colon - t] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1) return false;
    if (ip) *ip = a.s_addr;
    if (port) *port = (uint16_t)atoi(colon + 1);
    return true;
}

bool rmq_rem_conn_peer_v4(const rmq_rem_conn_t *c, uint32_t *ip, uint16_t *port) {
    if (!c->peer_v4_ok) return addr_v4(c, true, ip, port);
    if (ip) *ip = c->peer_ip;
    if (port) *port = c->peer_port;
    return true;
}
bool rmq_rem_conn_local_v4(const rmq_rem_conn_t *c, uint32_t *ip, uint16_t *port) {
    return addr_v4(c, false, ip, port);
}

uint64_t rmq_rem_conn_id(const rmq_rem_conn_t *c) {
    return c->id;
}
void rmq_rem_conn_set_data(rmq_rem_conn_t *c, void *data) {
    c->data = data;
}
void *rmq_rem_conn_get_data(const rmq_rem_conn_t *c) {
    return c->data;
}
size_t rmq_rem_conn_pending_bytes(const rmq_rem_conn_t *c) {
    return c->pending_bytes;
}
