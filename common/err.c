/* rmq_strerror: names for rmq_err_t. Lives in common so servers and the SDK share it. */
#include "rmq/rmq_err.h"

RMQ_API const char *rmq_strerror(rmq_err_t err) {
    switch (err) {
    case RMQ_ERR__FAIL: return "local: failure";
    case RMQ_ERR__NOMEM: return "local: out of memory";
    case RMQ_ERR__INVALID_ARG: return "local: invalid argument";
    case RMQ_ERR__TIMEOUT: return "local: timed out";
    case RMQ_ERR__BAD_FRAME: return "local: malformed frame";
    case RMQ_ERR__CONN: return "local: connection failed";
    case RMQ_ERR__IO: return "local: I/O error";
    case RMQ_ERR__CONFIG: return "local: bad configuration";
    case RMQ_ERR__NOT_FOUND: return "local: not found";
    case RMQ_ERR__NO_ROUTE: return "local: no route for topic";
    case RMQ_ERR__CLOSED: return "local: closed";
    case RMQ_ERR__CORRUPT: return "local: data corrupt";
    case RMQ_ERR__DISK_FULL: return "local: disk full";
    case RMQ_ERR__MSG_TOO_BIG: return "local: message too big";
    case RMQ_ERR__BAD_MSG: return "local: invalid message";
    case RMQ_ERR__STATE: return "local: invalid state";
    case RMQ_ERR__BUSY: return "local: busy";
    case RMQ_OK: return "SUCCESS";
    case RMQ_ERR_SYSTEM_ERROR: return "SYSTEM_ERROR";
    case RMQ_ERR_SYSTEM_BUSY: return "SYSTEM_BUSY";
    case RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED: return "REQUEST_CODE_NOT_SUPPORTED";
    case RMQ_ERR_TRANSACTION_FAILED: return "TRANSACTION_FAILED";
    case RMQ_ERR_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case RMQ_ERR_SLAVE_NOT_AVAILABLE: return "SLAVE_NOT_AVAILABLE";
    case RMQ_ERR_FLUSH_SLAVE_TIMEOUT: return "FLUSH_SLAVE_TIMEOUT";
    case RMQ_ERR_MESSAGE_ILLEGAL: return "MESSAGE_ILLEGAL";
    case RMQ_ERR_SERVICE_NOT_AVAILABLE: return "SERVICE_NOT_AVAILABLE";
    case RMQ_ERR_VERSION_NOT_SUPPORTED: return "VERSION_NOT_SUPPORTED";
    case RMQ_ERR_NO_PERMISSION: return "NO_PERMISSION";
    case RMQ_ERR_TOPIC_NOT_EXIST: return "TOPIC_NOT_EXIST";
    case RMQ_ERR_TOPIC_EXIST_ALREADY: return "TOPIC_EXIST_ALREADY";
    case RMQ_ERR_PULL_NOT_FOUND: return "PULL_NOT_FOUND";
    case RMQ_ERR_PULL_RETRY_IMMEDIATELY: return "PULL_RETRY_IMMEDIATELY";
    case RMQ_ERR_PULL_OFFSET_MOVED: return "PULL_OFFSET_MOVED";
    case RMQ_ERR_QUERY_NOT_FOUND: return "QUERY_NOT_FOUND";
    case RMQ_ERR_SUBSCRIPTION_PARSE_FAILED: return "SUBSCRIPTION_PARSE_FAILED";
    case RMQ_ERR_SUBSCRIPTION_NOT_EXIST: return "SUBSCRIPTION_NOT_EXIST";
    case RMQ_ERR_SUBSCRIPTION_NOT_LATEST: return "SUBSCRIPTION_NOT_LATEST";
    case RMQ_ERR_SUBSCRIPTION_GROUP_NOT_EXIST: return "SUBSCRIPTION_GROUP_NOT_EXIST";
    case RMQ_ERR_FILTER_DATA_NOT_EXIST: return "FILTER_DATA_NOT_EXIST";
    case RMQ_ERR_FILTER_DATA_NOT_LATEST: return "FILTER_DATA_NOT_LATEST";
    case RMQ_ERR_INVALID_PARAMETER: return "INVALID_PARAMETER";
    case RMQ_ERR_TRANSACTION_SHOULD_COMMIT: return "TRANSACTION_SHOULD_COMMIT";
    case RMQ_ERR_TRANSACTION_SHOULD_ROLLBACK: return "TRANSACTION_SHOULD_ROLLBACK";
    case RMQ_ERR_TRANSACTION_STATE_UNKNOW: return "TRANSACTION_STATE_UNKNOW";
    case RMQ_ERR_TRANSACTION_STATE_GROUP_WRONG: return "TRANSACTION_STATE_GROUP_WRONG";
    case RMQ_ERR_NO_BUYER_ID: return "NO_BUYER_ID";
    case RMQ_ERR_NOT_IN_CURRENT_UNIT: return "NOT_IN_CURRENT_UNIT";
    case RMQ_ERR_CONSUMER_NOT_ONLINE: return "CONSUMER_NOT_ONLINE";
    case RMQ_ERR_CONSUME_MSG_TIMEOUT: return "CONSUME_MSG_TIMEOUT";
    case RMQ_ERR_NO_MESSAGE: return "NO_MESSAGE";
    case RMQ_ERR_FLOW_CONTROL: return "FLOW_CONTROL";
    }
    return "unknown error";
}
