/* UPDATE_BROKER_CONFIG and what GET_BROKER_CONFIG may show (issue 11): the broker's config
 * changed remotely only through cfg.c's allow-list, each change logged with the caller and
 * persisted atomically to the side file <storePathRootDir>/config/broker_runtime.properties
 * (read after broker.conf at start), then applied live. */
#ifndef RMQ_BROKER_BROKERCFG_H
#define RMQ_BROKER_BROKERCFG_H

#include <stdio.h>

#include "broker/ctx.h"

RMQ_BROKER_HANDLER(rmq_broker_cfg_on_update); /* UPDATE_BROKER_CONFIG */

/* The effective config as key=value lines without secrets (secretKey, passwords, tokens). */
void rmq_broker_cfg_print_public(const rmq_broker_cfg_t *cfg, FILE *out);

#endif
