/* The pull path (broker.md 2): PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), and the tag
 * expression parser both the pull and the heartbeat use. Loop thread only. */
#ifndef RMQ_BROKER_PULL_H
#define RMQ_BROKER_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "remoting/cmd.h"
#include "remoting/conn.h"

/* Tag expression ("TagA || TagB", "*", "" or NULL) to Java hash codes. *codes new (free()) and
 * *n; all-pass gives NULL/0. */
rmq_err_t rmq_broker_sub_parse(const char *expr, int64_t **codes, size_t *n);

/* PULL_MESSAGE / LITE_PULL_MESSAGE: the response now, or NULL when the pull was parked (the
 * hold service took a reference to req). */
RMQ_BROKER_HANDLER(rmq_broker_pull_on_pull);
/* The hold service's rerun callback (hold.h): arg is the rmq_broker_ctx_t; runs the pull
 * without suspension. */
rmq_rem_cmd_t *rmq_broker_pull_rerun(void *arg, rmq_rem_conn_t *c, rmq_rem_cmd_t *req);

#endif
