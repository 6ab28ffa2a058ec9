/* Transaction check-back (broker.md 8.4, 8.5): RocketMQ's TransactionalMessageCheckService.
 * Every transactionCheckInterval the half queue is walked against the op queue; an unresolved
 * half message older than transactionTimeOut is re-put with TRANSACTION_CHECK_TIMES + 1 and
 * CHECK_TRANSACTION_STATE (39) goes oneway to a producer of its group; after
 * transactionCheckMax checks it moves to TRANS_CHECK_MAX_TIME_TOPIC. Loop thread only. */
#ifndef RMQ_BROKER_TXNCHECK_H
#define RMQ_BROKER_TXNCHECK_H

#include <stdint.h>

#include "broker/ctx.h"

typedef struct rmq_broker_txn_check_s rmq_broker_txn_check_t;

/* Start the service (masters; first run one interval after start). Progress is the system
 * group CID_RMQ_SYS_TRANS's offsets of the half and op queues in offsets (consumerOffset.json,
 * persisted after every step that moved them). All handles borrowed for the service's life. */
rmq_err_t rmq_broker_txn_check_start(const rmq_broker_env_t *env, rmq_broker_offsets_t *offsets,
                                     rmq_broker_topics_t *topics, rmq_broker_clients_t *clients,
                                     rmq_broker_txn_check_t **out);
/* Stop at once (the timer's close callback frees it). Call before clients, offsets or the store
 * close. NULL is a no-op. */
void rmq_broker_txn_check_shutdown(rmq_broker_txn_check_t *t);

/* ---- pure parts (unit-tested) -------------------------------------------------------------- */
/* The op offset to commit: from op_off, advance over the contiguous run of done op offsets
 * (done[0..n), any order, duplicates allowed; sorted in place). */
int64_t rmq_broker_txn_next_op_offset(int64_t op_off, int64_t *done, size_t n);
/* Immunity time in ms from a CHECK_IMMUNITY_TIME_IN_SECONDS value (NULL: none): seconds x 1000,
 * the default when absent, malformed or -1. */
int64_t rmq_broker_txn_immunity_ms(const char *v, int64_t def_ms);

#endif
