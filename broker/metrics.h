/* Prometheus metrics of the broker (metricsExporterType=PROM): RocketMQ 5's names and labels
 * (rocketmq_messages_in_total, rocketmq_consumer_lag_messages, rocketmq_rpc_latency, ...; labels
 * cluster, node_type, node_id, topic, consumer_group, message_type) where RocketMQ has one, rmq_*
 * where it does not, process_* as every Prometheus client writes them. Served by common/httpd
 * on metricsPromExporterHost:metricsPromExporterPort at /metrics.
 *
 * The message path only bumps loop-owned integers (one map lookup per send or pull with
 * messages; nothing at all when metrics are off); the rest is read from the managers and the
 * store at scrape time, on the loop thread. */
#ifndef RMQ_BROKER_METRICS_H
#define RMQ_BROKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "broker/ctx.h"
#include "common/buf.h"

/* What only broker.c sees, asked for at each scrape. rpc: call
 * rmq_broker_metrics_rpc_sample(sc, ...) once per request code; conns: connections per
 * listening port name ("main", "fast"). (Hooks rather than calls: the schedule and the request
 * table sit above the send path that counts here.) */
typedef struct rmq_broker_metrics_scrape_s rmq_broker_metrics_scrape_t;
typedef struct {
    void (*rpc)(rmq_broker_metrics_scrape_t *sc, void *arg);
    void (*conns)(rmq_broker_metrics_scrape_t *sc, void *arg);
    int64_t (*delay_backlog)(void *arg); /* delayed messages not yet due */
    int64_t (*timer_backlog)(void *arg); /* 5.x timer messages not yet due; -1 when off */
    void *arg;
} rmq_broker_metrics_hooks_t;

/* Start the endpoint when cfg says PROM; *out stays NULL when metrics are off (every call
 * below takes NULL). RMQ_ERR__INVALID_ARG for an exporter type rmq does not serve or a bad
 * metricsLabel, RMQ_ERR__IO when the port cannot be had; both logged. Loop thread. */
rmq_err_t rmq_broker_metrics_open(rmq_broker_ctx_t *b, const rmq_broker_metrics_hooks_t *hooks,
                                  rmq_broker_metrics_t **out);
/* Stop serving and free. Loop thread; before the managers it reads close. */
void rmq_broker_metrics_close(rmq_broker_metrics_t *m);
/* The bound port (tests with metricsPromExporterPort=0). */
int rmq_broker_metrics_port(const rmq_broker_metrics_t *m);

/* A send of n messages (body bytes in all) to topic was stored; props are the request's (the
 * message type is read from them). Loop thread. */
void rmq_broker_metrics_on_put(rmq_broker_metrics_t *m, const char *topic, const char *props,
                               size_t plen, size_t n, uint64_t bytes);
/* A pull by group of queue qid returned n messages (bytes as stored) and next_offset. */
void rmq_broker_metrics_on_pull(rmq_broker_metrics_t *m, const char *group, const char *topic,
                                int qid, size_t n, uint64_t bytes, int64_t next_offset);

/* Hooks' callbacks: one request code's figures (lat_log2[i] counts latencies < 2^i us, the last
 * bucket the rest) and one listening port's connection count. */
void rmq_broker_metrics_rpc_sample(rmq_broker_metrics_scrape_t *sc, const char *name,
                                   uint64_t requests, uint64_t errors, uint64_t lat_total_us,
                                   const uint64_t *lat_log2, size_t nbuckets);
void rmq_broker_metrics_conn_sample(rmq_broker_metrics_scrape_t *sc, const char *port_name,
                                    size_t n);

#endif
