/* Remoting client: connections by "host:port", requests matched to responses by opaque with
 * per-request timeouts, oneway, async callbacks, a blocking call for tools, reconnect on the
 * next request after a connection is lost, and requests initiated by the server side of a
 * connection (broker -> client) handed to a registered handler.
 *
 * Runs on a caller's loop (the broker's service loop) or on a loop thread of its own (the SDK
 * and tools). Every call is safe from any thread; callbacks run on the client's loop thread. */
#ifndef RMQ_REM_CLIENT_H
#define RMQ_REM_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "remoting/conn.h"
#include "remoting/frame.h"

typedef struct rmq_rem_client_s rmq_rem_client_t;

typedef struct {
    size_t max_frame;        /* default RMQ_REM_FRAME_MAX_DEFAULT */
    int connect_timeout_ms;  /* default 3000 */
    const char *name;        /* for logs and the loop thread's name */
    const rmq_logger_t *log; /* where this client's lines go (an SDK instance's sink); borrowed,
                                must outlive the client; NULL = the process log */
    const struct rmq_rem_tls_cfg_s *tls; /* with enable set: connect with TLS (tls.client.*);
                                            borrowed until rmq_rem_client_new returns */
    /* ACL 1.0 (acl.h): when access_key and secret_key are set, every request is signed as
     * RocketMQ's AclClientRPCHook (AccessKey, SecurityToken if set, Signature). Copied. */
    const char *access_key, *secret_key, *security_token;
    /* Called on the loop thread once per loop iteration, after that iteration's reads and
     * response callbacks: where a callback's hand-off to another thread can wake it once for
     * the whole batch instead of once per response. May be NULL. */
    void (*on_iteration_end)(void *arg);
    void *iteration_arg;
} rmq_rem_client_cfg_t;

/* loop NULL: the client starts and owns a loop thread. cfg copied. */
rmq_err_t rmq_rem_client_new(uv_loop_t *loop, const rmq_rem_client_cfg_t *cfg,
                             rmq_rem_client_t **out);
/* Handler for requests the peer sends us (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE,
 * RESET_CONSUMER_CLIENT_OFFSET...). Runs on the loop thread; same contract as server handlers
 * (reply with the returned command or later with rmq_rem_conn_send/post). Set before use. */
void rmq_rem_client_set_handler(rmq_rem_client_t *cl, rmq_rem_handler_fn fn, void *arg);
/* Called on the loop thread when a connection to addr closes (e.g. namesrv failover). */
void rmq_rem_client_on_close(rmq_rem_client_t *cl, void (*fn)(const char *addr, void *arg),
                             void *arg);

/* Async request; takes req. cb runs exactly once on the loop thread, with RMQ_ERR__TIMEOUT
 * after timeout_ms, RMQ_ERR__CONN if addr cannot be reached or the connection drops, or
 * RMQ_ERR__CLOSED when the client is destroyed first. Returns an error (cb not called) only
 * for bad arguments or a client already closing. */
rmq_err_t rmq_rem_client_invoke_async(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                                      int timeout_ms, rmq_rem_resp_cb cb, void *arg);
/* Storage for one request that its caller keeps (rmq_rem_client_invoke_frame). */
#define RMQ_REM_CALL_SIZE 192
typedef struct {
    _Alignas(max_align_t) unsigned char space[RMQ_REM_CALL_SIZE];
} rmq_rem_call_t;
/* Sign req when the client has ACL credentials and append its whole frame (header and body)
 * to out, for rmq_rem_client_invoke_frame. req is not taken. Any thread. */
rmq_err_t rmq_rem_client_encode(rmq_rem_client_t *cl, rmq_rem_cmd_t *req, rmq_buf_t *out);
/* As rmq_rem_client_encode for a request given as a header view (frame.h) and a body, so the
 * caller builds no command: h->opaque is the request's opaque (rmq_rem_next_opaque), its flag's
 * response and oneway bits are ignored. A client with ACL credentials builds the command to sign
 * it. */
rmq_err_t rmq_rem_client_encode_head(rmq_rem_client_t *cl, const rmq_rem_head_t *h,
                                     const void *body, size_t body_len, rmq_buf_t *out);
/* Async request encoded by rmq_rem_client_encode, whose req->opaque is opaque. call and frame
 * are the caller's and must stay unchanged until cb has run: nothing is allocated or freed for
 * the request (the hot path of an async producer). Otherwise as rmq_rem_client_invoke_async,
 * including the error return when cb will not run. direct: the caller has nothing else under
 * way, so the frame may be written from this thread when the connection is idle, as a sync
 * invoke's is (one system call per request: not for a sender with many outstanding). */
rmq_err_t rmq_rem_client_invoke_frame(rmq_rem_client_t *cl, const char *addr, rmq_rem_call_t *call,
                                      const uint8_t *frame, size_t len, int32_t opaque,
                                      int timeout_ms, rmq_rem_resp_cb cb, void *arg, bool direct);
/* Blocking request (not on the loop thread); takes req; *resp new on RMQ_OK (caller destroys).
 * The return value is the transport result; check (*resp)->code for the server's answer. */
rmq_err_t rmq_rem_client_invoke_sync(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                                     int timeout_ms, rmq_rem_cmd_t **resp);
/* Oneway: flag set, no response expected; takes req. */
rmq_err_t rmq_rem_client_invoke_oneway(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req);
/* Close the connection to addr if open (pending requests fail with RMQ_ERR__CONN). */
void rmq_rem_client_close_addr(rmq_rem_client_t *cl, const char *addr);
/* The loop the client runs on. */
uv_loop_t *rmq_rem_client_loop(rmq_rem_client_t *cl);
/* Fail pending requests with RMQ_ERR__CLOSED, close connections, stop the own loop thread
 * (if any) and free. From any thread but the loop thread when the client owns its loop; from
 * the loop thread (returns before handles finish closing) when it runs on the caller's loop.
 * NULL is a no-op. */
void rmq_rem_client_destroy(rmq_rem_client_t *cl);

#endif
