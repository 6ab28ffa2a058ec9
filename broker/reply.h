/* Calls the broker makes on a client's connection on behalf of another client (protocol.md 3.1,
 * 3.2; RocketMQ's ReplyMessageProcessor and AdminBrokerProcessor#callConsumer):
 *  - SEND_REPLY_MESSAGE (324) / _V2 (325): a reply to a request-reply request is pushed to the
 *    requester's connection (REPLY_TO_CLIENT) with PUSH_REPLY_MESSAGE_TO_CLIENT (326), and
 *    stored in <cluster>_REPLY_TOPIC when storeReplyMessageEnable;
 *  - GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) from an admin are
 *    forwarded to the consumer with that clientId and its answer relayed.
 * Loop thread only; the answers go out when the client has answered (no handler blocks). */
#ifndef RMQ_BROKER_REPLY_H
#define RMQ_BROKER_REPLY_H

#include "broker/ctx.h"

RMQ_BROKER_HANDLER(rmq_broker_reply_on_send_reply);       /* SEND_REPLY_MESSAGE, _V2 */
RMQ_BROKER_HANDLER(rmq_broker_reply_on_running_info);     /* GET_CONSUMER_RUNNING_INFO */
RMQ_BROKER_HANDLER(rmq_broker_reply_on_consume_directly); /* CONSUME_MESSAGE_DIRECTLY */

#endif
