/* Remoting server on a libuv loop: accept, per-connection read buffering, dispatch by request
 * code, REQUEST_CODE_NOT_SUPPORTED for unknown codes, idle close.
 *
 * A malformed or oversized frame closes that one connection with a WARN line. Frames with
 * the response flag that arrive on a server connection are matched to requests sent with
 * rmq_rem_conn_request(). */
#ifndef RMQ_REM_SERVER_H
#define RMQ_REM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "remoting/conn.h"

typedef struct rmq_rem_server_s rmq_rem_server_t;

typedef struct {
    const char *host; /* listen address, default "0.0.0.0" */
    int port;         /* 0 picks a free port: see rmq_rem_server_port() */
    size_t max_frame; /* default RMQ_REM_FRAME_MAX_DEFAULT */
    int idle_ms;      /* close connections silent this long; 0 = never (default 120000
                         in RocketMQ: serverChannelMaxIdleTimeSeconds) */
    const char *name; /* for logs: "namesrv", "broker" */
    const struct rmq_rem_tls_cfg_s *tls; /* tls.server.*; NULL or mode disabled: plaintext.
                                            Borrowed until rmq_rem_server_new returns */
} rmq_rem_server_cfg_t;

typedef void (*rmq_rem_conn_event_fn)(rmq_rem_conn_t *c, void *arg);

/* Create on loop (the caller runs the loop). cfg is copied. */
rmq_err_t rmq_rem_server_new(uv_loop_t *loop, const rmq_rem_server_cfg_t *cfg,
                             rmq_rem_server_t **out);
/* Register fn for a request code (replaces). Before start. */
void rmq_rem_server_register(rmq_rem_server_t *s, int code, rmq_rem_handler_fn fn, void *arg);
/* Handler for codes with no registered handler; without one the server answers
 * REQUEST_CODE_NOT_SUPPORTED with remark " request type <code> not supported". */
void rmq_rem_server_set_default(rmq_rem_server_t *s, rmq_rem_handler_fn fn, void *arg);
/* Handlers promise to run on the loop and to keep a request past their return only with
 * rmq_rem_cmd_ref: request bodies are then slices of the connection's read buffer (no copy),
 * copied out only for a request still referenced when its handler returns. Before start. */
void rmq_rem_server_borrow_bodies(rmq_rem_server_t *s, bool on);
/* Connection opened / closed callbacks (loop thread). The closed callback runs once per
 * connection, before its last reference can go. */
void rmq_rem_server_on_open(rmq_rem_server_t *s, rmq_rem_conn_event_fn fn, void *arg);
void rmq_rem_server_on_close(rmq_rem_server_t *s, rmq_rem_conn_event_fn fn, void *arg);
/* Bind and listen. RMQ_ERR__IO with a log line if the port is taken. */
rmq_err_t rmq_rem_server_start(rmq_rem_server_t *s);
/* The port actually bound (after start). */
int rmq_rem_server_port(const rmq_rem_server_t *s);
/* Number of open connections. */
size_t rmq_rem_server_conn_count(const rmq_rem_server_t *s);
/* Stop accepting and close every connection; done(arg) runs when all handles are closed and
 * s has been freed. Loop thread. */
void rmq_rem_server_close(rmq_rem_server_t *s, void (*done)(void *arg), void *arg);

#endif
