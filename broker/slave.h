/* Metadata sync of a slave (broker.md 9.4, RocketMQ's SlaveSynchronize): every 10 s (first after
 * 3 s) a slave asks its master for the topic table, the consumer offsets, the delay offsets and
 * the subscription groups (and its runtime info, for the CommitLog max offset), and applies them to
 * its own managers (persisted). The master's remoting address comes from the NameServer
 * registration reply (broker.c). Loop thread only. */
#ifndef RMQ_BROKER_SLAVE_H
#define RMQ_BROKER_SLAVE_H

#include "broker/ctx.h"
#include "remoting/client.h"

typedef struct rmq_broker_slave_sync_s rmq_broker_slave_sync_t;

/* What the sync writes into; all borrowed for the service's life. */
typedef struct {
    rmq_rem_client_t *client;    /* on env's loop */
    const char *master_addr;     /* the master's "ip:port", "" while unknown (broker.c's buffer) */
    rmq_broker_topics_t *topics; /* and the other managers the answers go to */
    rmq_broker_offsets_t *offsets;
    rmq_broker_subgroups_t *subgroups;
    rmq_broker_schedule_t *schedule;
} rmq_broker_slave_deps_t;

/* Start the 10 s timer on env's loop. env and deps' pointers are borrowed. */
rmq_err_t rmq_broker_slave_sync_start(const rmq_broker_env_t *env,
                                      const rmq_broker_slave_deps_t *deps,
                                      rmq_broker_slave_sync_t **out);
/* The master's CommitLog max offset as of the last sync round (*at_ms: when, wall clock); -1
 * before the first answer or when s is NULL. */
int64_t rmq_broker_slave_master_max(const rmq_broker_slave_sync_t *s, int64_t *at_ms);
/* Stop: no answer is applied from now on (the managers may close right after); memory goes when
 * the timer has closed and the last request in flight has completed. NULL is a no-op. */
void rmq_broker_slave_sync_close(rmq_broker_slave_sync_t *s);

#endif
