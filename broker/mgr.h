/* The broker managers' headers in one include, for code outside broker/ that reads their
 * formats (the integration tests 0210 and 0211 include this for the fastjson helpers). Nothing
 * in broker/ includes it: each file there includes the one header it uses. */
#ifndef RMQ_BROKER_MGR_H
#define RMQ_BROKER_MGR_H

#include <jansson.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/subgroup.h"
#include "broker/util.h"
#include "common/buf.h"
#include "common/fjson.h"
#include "remoting/client.h"
#include "remoting/server.h"

#endif
