/* Transactions, the producer's half (broker.md 8.2, 8.3): END_TRANSACTION (37). Loop thread. */
#ifndef RMQ_BROKER_TXN_H
#define RMQ_BROKER_TXN_H

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* END_TRANSACTION (dispatch.c): commit or roll back a half message; no response (oneway). */
RMQ_BROKER_HANDLER(rmq_broker_txn_on_end);

#endif
