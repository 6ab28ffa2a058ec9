/* The broker: owns the store, the remoting servers and client, and the managers (topics,
 * offsets, subscription groups, clients, held pulls, delayed messages, stats); registers with
 * the NameServers. The top of broker/: broker.c alone opens, wires and closes the other parts,
 * which see only what ctx.h gives them.
 *
 * Threading (DESIGN.md): one libuv loop ("the loop", the main thread) runs the server, every
 * request handler, every manager and every timer (NameServer registration every 30 s, offset
 * persistence every 5 s, client expiry, hold scans). The managers are therefore single-threaded
 * and take no locks. Store threads reach the loop only through the mailbox
 * (rmq_broker_run_on_loop, ctx.h): the reput thread's arrive callback (wakes held pulls) and the
 * flush thread's SYNC_FLUSH completions (send the reply). The outbound remoting client
 * (NameServers, calls to clients) runs on the same loop. */
#ifndef RMQ_BROKER_H
#define RMQ_BROKER_H

#include "broker/cfg.h"

/* Run the broker until SIGTERM/SIGINT; takes cfg's strings. Returns the exit status. */
int rmq_broker_run(rmq_broker_cfg_t *cfg);

#endif
