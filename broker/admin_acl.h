/* ACL 1.0 account-file writes for mqadmin (RocketMQ 4.9's AdminBrokerProcessor ACL codes):
 * UPDATE_AND_CREATE_ACL_CONFIG (merge one account's given fields, create it if new),
 * DELETE_ACL_CONFIG, UPDATE_GLOBAL_WHITE_ADDRS_CONFIG. Each rewrites plain_acl.yml atomically
 * and reloads it at once; a result that would not load is refused and the file left alone.
 * With aclEnable=false they change nothing and say so. Admin accounts only (dispatch.c).
 * Loop thread. */
#ifndef RMQ_BROKER_ADMIN_ACL_H
#define RMQ_BROKER_ADMIN_ACL_H

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

RMQ_BROKER_HANDLER(rmq_broker_acl_on_update);       /* UPDATE_AND_CREATE_ACL_CONFIG */
RMQ_BROKER_HANDLER(rmq_broker_acl_on_delete);       /* DELETE_ACL_CONFIG */
RMQ_BROKER_HANDLER(rmq_broker_acl_on_update_white); /* UPDATE_GLOBAL_WHITE_ADDRS_CONFIG */
RMQ_BROKER_HANDLER(rmq_broker_acl_on_version);      /* GET_BROKER_CLUSTER_ACL_INFO */

#endif
