/* Group administration beyond subgroup.c: CLONE_GROUP_OFFSET (mqadmin cloneGroupOffset).
 * Loop thread. */
#ifndef RMQ_BROKER_ADMIN_GROUP_H
#define RMQ_BROKER_ADMIN_GROUP_H

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Copy srcGroup's offsets of topic (every topic srcGroup has offsets of when topic is empty) to
 * destGroup, as RocketMQ 4.9's AdminBrokerProcessor.cloneGroupOffset: topics this broker does
 * not hold are skipped, and unless offline=true so is a topic an online srcGroup does not
 * subscribe to. (dispatch.c) */
RMQ_BROKER_HANDLER(rmq_broker_admin_on_clone_group_offset);

#endif
