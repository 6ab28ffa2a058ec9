/* SQL92 property filters (broker.md 2.3, 4; RocketMQ 4.9.x filter/ SelectorParser): compile a
 * consumer's expression once, evaluate it per stored message against its properties string.
 * No sockets, no broker state: unit-tested and fuzzed on its own. Any thread; a compiled filter
 * is read-only, so threads may evaluate it concurrently. */
#ifndef RMQ_BROKER_FILTER_SQL_H
#define RMQ_BROKER_FILTER_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq_err.h"

typedef struct rmq_broker_sql_s rmq_broker_sql_t;

/* Three-valued result of an evaluation, plus RocketMQ's "exception" (a failed number
 * conversion or a cast): an error aborts the whole evaluation and the message does not match. */
typedef enum {
    RMQ_SQL_FALSE = 0,
    RMQ_SQL_TRUE = 1,
    RMQ_SQL_NULL = 2,
    RMQ_SQL_ERROR = 3,
} rmq_sql_result_t;

/* Compile expr[0..len). *out new (rmq_broker_sql_destroy). On a bad expression
 * RMQ_ERR_SUBSCRIPTION_PARSE_FAILED with "position N: reason" in err (N = 1-based character
 * offset in expr); RMQ_ERR__NOMEM on allocation failure. */
rmq_err_t rmq_broker_sql_compile(const char *expr, size_t len, rmq_broker_sql_t **out, char *err,
                                 size_t errlen);
void rmq_broker_sql_destroy(rmq_broker_sql_t *f); /* NULL is a no-op */

/* Evaluate against a properties string (name\001value\002..., as stored). */
rmq_sql_result_t rmq_broker_sql_eval(const rmq_broker_sql_t *f, const char *props, size_t len);
/* True only when the expression is TRUE for these properties (RocketMQ's matches()). */
static inline bool rmq_broker_sql_match(const rmq_broker_sql_t *f, const char *props, size_t len) {
    return rmq_broker_sql_eval(f, props, len) == RMQ_SQL_TRUE;
}
/* The same on a stored CommitLog record rec[0..len); a record that does not decode does not
 * match. */
bool rmq_broker_sql_match_record(const rmq_broker_sql_t *f, const uint8_t *rec, size_t len);

#endif
