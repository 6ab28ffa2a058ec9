/* The NameServer's Prometheus page (metricsExporterType=PROM on the NameServer): brokers alive,
 * topics in the routes, requests and errors by code, connections, process figures. Pure
 * rendering; processor.c owns the counters and the endpoint (common/httpd). */
#ifndef RMQ_NS_METRICS_H
#define RMQ_NS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "namesrv/route.h"

/* The request codes' counters, parallel arrays of n. */
typedef struct {
    const int *codes;
    const uint64_t *requests, *errors;
    size_t n;
    size_t connections;
} rmq_ns_metrics_src_t;

/* Append the page; base: the labels of every sample (k="v",... as rmq_prom_base writes). */
void rmq_ns_metrics_render(rmq_buf_t *out, const char *base, const rmq_ns_route_t *route,
                           const rmq_ns_metrics_src_t *src);

#endif
