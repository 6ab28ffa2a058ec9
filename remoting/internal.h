/* Private to remoting/: the loop context shared by a server's or a client's connections, the
 * connection struct, and pending requests.
 *
 * A context (rmq_rem_ctx_t) belongs to one loop: it owns the mailbox other threads post to,
 * the table of requests this side sent (by opaque), one 100 ms tick for timeouts, idle and
 * connect deadlines, and a prepare/check pair that flushes coalesced writes once per loop
 * iteration. It is reference counted because a connection held by another thread may
 * outlive its server or client; after shutdown only its memory stays. */
#ifndef RMQ_REM_INTERNAL_H
#define RMQ_REM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "remoting/conn.h"
#include "remoting/tls.h"

typedef struct rmq_rem_ctx_s rmq_rem_ctx_t;
typedef struct rmq_rem_pending_s rmq_rem_pending_t;

/* Mailbox items: every item starts with this. Kinds >= RMQ_REM_MSG_OWNER go to the owner. */
enum { RMQ_REM_MSG_SEND = 1, RMQ_REM_MSG_RUN, RMQ_REM_MSG_OWNER = 100 };
typedef struct {
    rmq_mbox_node_t node;
    int kind;
} rmq_rem_msg_t;

/* A request this side sent and whose response it waits for. */
struct rmq_rem_pending_s {
    rmq_rem_msg_t msg; /* the client posts the pending itself to its loop */
    int32_t opaque;
    uint64_t deadline; /* rmq_mono_ms() */
    uint64_t sent;     /* uv_now() when it went on its connection */
    rmq_rem_resp_cb cb;
    void *arg;
    rmq_rem_conn_t *conn;             /* the connection the request went out on */
    rmq_rem_pending_t *hnext;         /* hash chain */
    rmq_rem_pending_t *prev, *next;   /* context list (timeout scan) */
    rmq_rem_pending_t *cprev, *cnext; /* connection list (fail on close) */
    /* client only: where to send, and the request until it is handed to a connection */
    void *chan;
    rmq_rem_cmd_t *req;
    /* or, instead of req, the request encoded on the caller's thread (client.c): frame_len
     * bytes, right after this record in the same allocation or the caller's */
    const uint8_t *frame;
    size_t frame_len;
    bool caller_owned; /* storage and frame are the caller's (rmq_rem_client_invoke_frame) */
};

/* Hand p's outcome to its callback and free p unless it is the caller's; p is not touched
 * once the callback runs (the caller may reuse its storage from there). */
static inline void rmq_rem_pending_finish_(rmq_rem_pending_t *p, rmq_err_t err,
                                           rmq_rem_cmd_t *resp) {
    rmq_rem_resp_cb cb = p->cb;
    void *arg = p->arg;
    if (!p->caller_owned) free(p);
    cb(err, resp, arg);
}

typedef struct {
    /* A request (not a response) arrived on c; takes req. */
    void (*on_request)(void *owner, rmq_rem_conn_t *c, rmq_rem_cmd_t *req);
    /* c's handle closed (pending already failed); owner forgets it. May be NULL. */
    void (*on_conn_closed)(void *owner, rmq_rem_conn_t *c);
    /* Owner's mailbox items; the owner frees them. closing: the context is shutting down. */
    void (*on_msg)(void *owner, rmq_rem_msg_t *m, bool closing);
    /* Everything closed after rmq_rem_ctx_shutdown_: free the owner. */
    void (*on_all_closed)(void *owner);
    /* Once per loop iteration, after its I/O callbacks (uv_check). May be NULL. */
    void (*on_iteration_end)(void *owner);
} rmq_rem_ctx_ops_t;

/* HANDSHAKE: connected, TLS handshake (or, permissive, the first byte) not done; frames
 * queue in out until OPEN. */
enum { RMQ_REM_CONN_RESOLVING, RMQ_REM_CONN_CONNECTING, RMQ_REM_CONN_HANDSHAKE, RMQ_REM_CONN_OPEN };

struct rmq_rem_conn_s {
    uv_tcp_t tcp;       /* tcp.data = the connection */
    rmq_rem_ctx_t *ctx; /* referenced */
    atomic_int refs;    /* one held by the open handle, released in its close cb */
    uint64_t id;
    int state;
    atomic_bool closed; /* rmq_rem_conn_close was called; read from any thread */
    bool dirty;         /* on ctx->dirty: out has bytes to flush */
    rmq_buf_t rbuf;     /* read buffer */
    size_t need;        /* size of the frame being read, when known */
    size_t rchunk;      /* free space asked of rbuf per read: READ_CHUNK_MIN, doubled up to
                         * READ_CHUNK each time a read fills it (idle peers keep a small rbuf) */
    rmq_buf_t out;      /* coalesced small frames not yet handed to uv_write */
    /* Frames rmq_rem_conn_send_borrowed borrowed instead of copying into out (only while out is
     * empty and nothing is queued), in order. The flush at the end of the loop iteration
     * writes them with one writev and copies what the socket did not take into out; so they
     * are never referenced after that iteration. bor: BOR_MAX slots, allocated on first use. */
    uv_buf_t *bor;
    size_t nbor, bor_bytes;
    uint8_t *spare; /* a written-out buffer kept to become the next out */
    size_t spare_cap;
    size_t pending_bytes;        /* out + bytes inside uv_write requests */
    uint64_t last_active;        /* uv_now() of the last read or write */
    uint64_t last_frame;         /* uv_now() of the last whole frame read */
    bool mute;                   /* a request timed out with no frame read since it was sent */
    uint64_t connect_deadline;   /* rmq_mono_ms(); client connections while connecting */
    rmq_rem_pending_t *plist;    /* requests waiting for a response on this connection */
    rmq_rem_conn_t *prev, *next; /* ctx->conns */
    rmq_rem_conn_t *dirty_next;
    /* a big frame whose body is read straight into rcmd->body (header decoded, rbuf empty
     * meanwhile; conn.c direct_body), or NULL; rcmd_have: its body bytes read so far */
    rmq_rem_cmd_t *rcmd;
    size_t rcmd_have;
    void *data;         /* user slot */
    void *chan;         /* client: the channel this connection serves */
    rmq_rem_tls_t *tls; /* NULL: plaintext */
    bool sniff;         /* permissive server: the first byte decides TLS or plaintext */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    char peer[64], local[64];
    /* the peer's IPv4 address and port parsed once from peer (rmq_rem_conn_start_), so a send
     * does not run inet_pton per message; peer_v4_ok false: not parsed or not IPv4 */
    bool peer_v4_ok;
    uint32_t peer_ip;
    uint16_t peer_port;
    /* Direct writes (contexts with direct_writes; rmq_rem_conn_write_direct_): while the loop has
     * nothing queued on a plaintext open connection, another thread may write a request to the
     * socket itself instead of handing it to the loop (issue 15: a sync send paid a mailbox
     * post and a loop wake-up before its bytes left). wmu orders such a write against the loop's
     * first queued byte and against close. */
    pthread_mutex_t wmu;
    bool wdirect;   /* under wmu: a direct write may start; set by the loop, cleared by both */
    bool wmaybe;    /* loop only: it set wdirect and has not taken it back (direct_stop) */
    bool wfail;     /* under wmu: a direct write failed part-way; the loop closes c */
    int wfd;        /* the socket, cached when wdirect is first set */
    uint8_t *wtail; /* under wmu: what a direct write left unwritten, first in line */
    size_t wtail_len;
    rmq_rem_pending_t *wadopt; /* under wmu: written directly, not yet in the table (hnext) */
    int nplist;                /* loop only: requests on plist */
    atomic_int inflight;       /* nplist, published (relaxed) for direct writers */
};

struct rmq_rem_ctx_s {
    uv_loop_t *loop;
    atomic_int refs;
    rmq_mailbox_t mbox;
    uv_timer_t tick;
    uv_prepare_t prep;
    uv_check_t check;
    int open_handles; /* ctx handles + owner handles counted with _handle_opened */
    bool shutting_down;
    const rmq_rem_ctx_ops_t *ops;
    void *owner;
    size_t max_frame;
    bool borrow_bodies; /* request bodies are slices of rbuf (rmq_rem_server_borrow_bodies) */
    int idle_ms;
    char name[32];
    const rmq_logger_t *log; /* the owner's sink (SDK clients) or NULL: the process log */
    /* pending requests: hash by opaque + list in insertion order */
    rmq_rem_pending_t **buckets;
    size_t nbuckets, npending;
    rmq_rem_pending_t *phead, *ptail;
    rmq_rem_conn_t *conns;
    size_t nconns;
    rmq_rem_conn_t *dirty;
    bool direct_writes;     /* connections take direct writes (a client's; see conn) */
    rmq_rem_tls_ctx_t *tls; /* owned; NULL: plaintext only */
    int tls_mode;           /* RMQ_REM_TLS_*: ENFORCING on a TLS client */
};

/* Context on loop (loop thread). NULL on failure (logged). */
rmq_rem_ctx_t *rmq_rem_ctx_new_(uv_loop_t *loop, const rmq_rem_ctx_ops_t *ops, void *owner,
                                size_t max_frame, int idle_ms, const char *name);
/* Fail every pending request with err, close every connection and the context's handles;
 * ops->on_all_closed runs when they and the owner's counted handles are closed. */
void rmq_rem_ctx_shutdown_(rmq_rem_ctx_t *x, rmq_err_t err);
/* Owner handles counted for on_all_closed: call _opened after init, _closed in close cb. */
void rmq_rem_ctx_handle_opened_(rmq_rem_ctx_t *x);
void rmq_rem_ctx_handle_closed_(rmq_rem_ctx_t *x);
void rmq_rem_ctx_ref_(rmq_rem_ctx_t *x);
void rmq_rem_ctx_unref_(rmq_rem_ctx_t *x);
bool rmq_rem_ctx_post_(rmq_rem_ctx_t *x, rmq_rem_msg_t *m);

/* New connection with an initialised (not connected) handle, in x->conns. NULL on failure. */
rmq_rem_conn_t *rmq_rem_conn_new_(rmq_rem_ctx_t *x);
/* The handle is connected: record addresses, TCP_NODELAY, start reading, flush queued output. */
rmq_err_t rmq_rem_conn_start_(rmq_rem_conn_t *c);

/* From a thread that is not c's loop: write p's encoded frame (p->frame, frame_len) to c's socket
 * now if c is open, plaintext and has nothing queued, and leave p for the loop to put in its
 * table (before it looks a response up, at its next tick, or when c closes). true: written, or
 * failed in a way the loop reports through p (p is the loop's: the caller must not touch it or
 * its frame again); false: not written, post p as usual. */
bool rmq_rem_conn_write_direct_(rmq_rem_conn_t *c, rmq_rem_pending_t *p);
/* Tests: a direct write sends at most this many bytes and leaves the rest to the loop, as when
 * the socket takes only part of it (0, the default: no limit). */
extern size_t rmq_rem_direct_max_;

/* Register p (conn, opaque, deadline, cb set) in the context and on its connection. */
void rmq_rem_pending_add_(rmq_rem_ctx_t *x, rmq_rem_pending_t *p);
void rmq_rem_pending_remove_(rmq_rem_ctx_t *x, rmq_rem_pending_t *p);

/* Run fn on req (or answer REQUEST_CODE_NOT_SUPPORTED when fn is NULL) and send its reply. */
void rmq_rem_dispatch_(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, rmq_rem_handler_fn fn, void *arg);

/* Whether p points into c's ext block; free a key unless it does. */
bool rmq_rem_cmd_in_blk_(const rmq_rem_cmd_t *c, const char *p);
void rmq_rem_cmd_free_key_(const rmq_rem_cmd_t *c, char *k);
/* Room for more fields in c's ext array (grown by doubling; an array inside the command's
 * block, ext_inline, moves to its own allocation). RMQ_ERR__NOMEM on failure. */
rmq_err_t rmq_rem_cmd_ext_reserve_(rmq_rem_cmd_t *c, size_t more);
/* Append a field without looking for an existing key (decoder). */
rmq_err_t rmq_rem_cmd_append_(rmq_rem_cmd_t *c, const char *k, size_t klen, const char *v,
                              size_t vlen);

/* JSON header decoders, exposed for the fuzz target to compare: the allocation-free fast path
 * (1 = decoded, 0 = gave up, c then holds partial fields) and the jansson path (0 or
 * RMQ_ERR__BAD_FRAME). */
int rmq_rem_decode_json_fast_(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c);
ssize_t rmq_rem_decode_json_slow_(const uint8_t *h, size_t hlen, rmq_rem_cmd_t *c, char *err,
                                  size_t errlen);

/* "ip:port" text of a socket address. */
void rmq_rem_addr_text_(const struct sockaddr *sa, char *out, size_t n);

#endif
