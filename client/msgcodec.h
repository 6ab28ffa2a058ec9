/* The shared stored-message codec (common/msg.h), included by librmq's sources. */
#ifndef RMQ_CLIENT_MSGCODEC_H
#define RMQ_CLIENT_MSGCODEC_H

#include "common/msg.h"

#endif
