/* rmq error codes, shared by the SDK, the servers and the wire.
 *
 * RMQ_OK is 0. Negative values are local errors (never on the wire); positive
 * values are RocketMQ response codes exactly as they travel in a response's
 * `code` field, so a broker reply maps to an rmq_err_t without translation. */
#ifndef RMQ_ERR_H
#define RMQ_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks librmq's public functions: the library is built with hidden visibility and exports
 * only these. */
#ifndef RMQ_API
#if defined(__GNUC__) || defined(__clang__)
#define RMQ_API __attribute__((visibility("default")))
#else
#define RMQ_API
#endif
#endif

typedef enum {
    /* local errors */
    RMQ_ERR__FAIL = -1,         /* generic failure, see the log */
    RMQ_ERR__NOMEM = -2,        /* out of memory */
    RMQ_ERR__INVALID_ARG = -3,  /* bad argument from the caller */
    RMQ_ERR__TIMEOUT = -4,      /* request timed out */
    RMQ_ERR__BAD_FRAME = -5,    /* malformed or oversized frame */
    RMQ_ERR__CONN = -6,         /* cannot connect / connection lost */
    RMQ_ERR__IO = -7,           /* file or socket I/O error (errno logged) */
    RMQ_ERR__CONFIG = -8,       /* bad configuration */
    RMQ_ERR__NOT_FOUND = -9,    /* nothing matched a local look-up */
    RMQ_ERR__NO_ROUTE = -10,    /* no route for the topic */
    RMQ_ERR__CLOSED = -11,      /* object shut down or closing */
    RMQ_ERR__CORRUPT = -12,     /* on-disk data failed a check */
    RMQ_ERR__DISK_FULL = -13,   /* no space left when reserving a file */
    RMQ_ERR__MSG_TOO_BIG = -14, /* message exceeds maxMessageSize */
    RMQ_ERR__BAD_MSG = -15,     /* message failed a local validity check */
    RMQ_ERR__STATE = -16,       /* call not valid in the current state */
    RMQ_ERR__BUSY = -17,        /* flow control, try later */

    RMQ_OK = 0,

    /* RocketMQ response codes (protocol.md section 4) */
    RMQ_ERR_SYSTEM_ERROR = 1,
    RMQ_ERR_SYSTEM_BUSY = 2,
    RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED = 3,
    RMQ_ERR_TRANSACTION_FAILED = 4,
    RMQ_ERR_FLUSH_DISK_TIMEOUT = 10,
    RMQ_ERR_SLAVE_NOT_AVAILABLE = 11,
    RMQ_ERR_FLUSH_SLAVE_TIMEOUT = 12,
    RMQ_ERR_MESSAGE_ILLEGAL = 13,
    RMQ_ERR_SERVICE_NOT_AVAILABLE = 14,
    RMQ_ERR_VERSION_NOT_SUPPORTED = 15,
    RMQ_ERR_NO_PERMISSION = 16,
    RMQ_ERR_TOPIC_NOT_EXIST = 17,
    RMQ_ERR_TOPIC_EXIST_ALREADY = 18,
    RMQ_ERR_PULL_NOT_FOUND = 19,
    RMQ_ERR_PULL_RETRY_IMMEDIATELY = 20,
    RMQ_ERR_PULL_OFFSET_MOVED = 21,
    RMQ_ERR_QUERY_NOT_FOUND = 22,
    RMQ_ERR_SUBSCRIPTION_PARSE_FAILED = 23,
    RMQ_ERR_SUBSCRIPTION_NOT_EXIST = 24,
    RMQ_ERR_SUBSCRIPTION_NOT_LATEST = 25,
    RMQ_ERR_SUBSCRIPTION_GROUP_NOT_EXIST = 26,
    RMQ_ERR_FILTER_DATA_NOT_EXIST = 27,
    RMQ_ERR_FILTER_DATA_NOT_LATEST = 28,
    RMQ_ERR_INVALID_PARAMETER = 29,
    RMQ_ERR_TRANSACTION_SHOULD_COMMIT = 200,
    RMQ_ERR_TRANSACTION_SHOULD_ROLLBACK = 201,
    RMQ_ERR_TRANSACTION_STATE_UNKNOW = 202,
    RMQ_ERR_TRANSACTION_STATE_GROUP_WRONG = 203,
    RMQ_ERR_NO_BUYER_ID = 204,
    RMQ_ERR_NOT_IN_CURRENT_UNIT = 205,
    RMQ_ERR_CONSUMER_NOT_ONLINE = 206,
    RMQ_ERR_CONSUME_MSG_TIMEOUT = 207,
    RMQ_ERR_NO_MESSAGE = 208,
    RMQ_ERR_FLOW_CONTROL = 215,
} rmq_err_t;

/* Static text naming err ("TOPIC_NOT_EXIST", "local: timed out"); never NULL. */
RMQ_API const char *rmq_strerror(rmq_err_t err);

#ifdef __cplusplus
}
#endif
#endif
