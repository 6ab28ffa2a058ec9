/* One TCP connection speaking remoting frames, server- or client-side.
 *
 * Owned by the loop it runs on; only that loop's thread touches it, except the functions
 * marked "any thread". Handlers may keep a connection past return with rmq_rem_conn_ref();
 * a closed connection stays valid (is_closed() true) until its last reference goes. */
#ifndef RMQ_REM_CONN_H
#define RMQ_REM_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "remoting/cmd.h"

typedef struct rmq_rem_conn_s rmq_rem_conn_t;

/* Request handler, run on the connection's loop thread. Takes req.
 * Return the response to send now, or NULL when there is none yet (oneway request, or the
 * handler answers later with rmq_rem_conn_send / rmq_rem_conn_post). For a oneway request a
 * returned response is dropped. */
typedef rmq_rem_cmd_t *(*rmq_rem_handler_fn)(rmq_rem_conn_t *conn, rmq_rem_cmd_t *req, void *arg);

/* Response callback for requests this side initiated. resp is taken (NULL when err != 0:
 * RMQ_ERR__TIMEOUT, RMQ_ERR__CONN, RMQ_ERR__CLOSED). Runs on the loop thread. */
typedef void (*rmq_rem_resp_cb)(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg);

/* Queue a frame; takes cmd (freed once written or when c closes). Loop thread. */
void rmq_rem_conn_send(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd);
/* Queue a frame encoded already (rmq_rem_frame_encode): its bytes are copied into the
 * connection's out buffer, flushed with the others of this loop iteration. Loop thread. */
void rmq_rem_conn_send_bytes(rmq_rem_conn_t *c, const uint8_t *frame, size_t len);
/* The same for a frame that stays unchanged until this iteration's flush (a request's frame,
 * kept until its response): written from where it is when nothing else is queued, and only
 * what the socket does not take is copied (the whole frame otherwise). Loop thread. */
void rmq_rem_conn_send_borrowed(rmq_rem_conn_t *c, const uint8_t *frame, size_t len);
/* Same from any thread: handed to the loop through its mailbox. Takes cmd. The caller must
 * hold a reference on c. A frame for a closed connection is dropped. */
void rmq_rem_conn_post(rmq_rem_conn_t *c, rmq_rem_cmd_t *cmd);
/* Send a request on this connection and match its response by opaque (a broker calling a
 * client over the client's connection). Takes req. Oneway when cb is NULL. Loop thread. */
rmq_err_t rmq_rem_conn_request(rmq_rem_conn_t *c, rmq_rem_cmd_t *req, int timeout_ms,
                               rmq_rem_resp_cb cb, void *arg);

/* Close (idempotent); pending requests fail with RMQ_ERR__CONN. Loop thread. */
void rmq_rem_conn_close(rmq_rem_conn_t *c);
bool rmq_rem_conn_is_closed(const rmq_rem_conn_t *c);
/* Reference counting, any thread. */
void rmq_rem_conn_ref(rmq_rem_conn_t *c);
void rmq_rem_conn_unref(rmq_rem_conn_t *c);

/* "ip:port" of the peer and of our end; stable for the connection's life. */
const char *rmq_rem_conn_peer(const rmq_rem_conn_t *c);
const char *rmq_rem_conn_local(const rmq_rem_conn_t *c);
/* The peer's IPv4 address (network order) and port; false if the peer is IPv6. */
bool rmq_rem_conn_peer_v4(const rmq_rem_conn_t *c, uint32_t *ip, uint16_t *port);
bool rmq_rem_conn_local_v4(const rmq_rem_conn_t *c, uint32_t *ip, uint16_t *port);
/* A small unique id for logs and tables. */
uint64_t rmq_rem_conn_id(const rmq_rem_conn_t *c);

/* User data slot (e.g. the broker's client channel); loop thread. */
void rmq_rem_conn_set_data(rmq_rem_conn_t *c, void *data);
void *rmq_rem_conn_get_data(const rmq_rem_conn_t *c);

/* Bytes queued and not yet written (flow control for big replies). */
size_t rmq_rem_conn_pending_bytes(const rmq_rem_conn_t *c);

/* Run fn(arg) on the loop thread of c (any thread). Used for completions from flush / store
 * threads. False if the loop is shutting down (fn not run; arg stays the caller's). */
bool rmq_rem_conn_run_on_loop(rmq_rem_conn_t *c, void (*fn)(void *arg), void *arg);

#endif
