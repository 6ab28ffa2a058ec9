/* Prometheus text exposition format 0.0.4: families, samples with escaped labels, histograms,
 * and the standard process_* figures read from /proc/self. Pure string building. */
#ifndef RMQ_PROM_H
#define RMQ_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct {
    const char *k, *v;
} rmq_prom_label_t;

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void rmq_prom_head(rmq_buf_t *b, const char *name, const char *type, const char *help);
/* name{base,k="v",...} value. base: labels common to every sample ("" for none), already in
 * k="v",... form (see rmq_prom_base); label values are escaped here. */
void rmq_prom_val(rmq_buf_t *b, const char *name, const char *base, const rmq_prom_label_t *l,
                  size_t nl, double v);
/* Histogram samples: counts[i] observations <= le[i] (not cumulative) for i < n, counts[n] the
 * rest; writes name_bucket (cumulative, then +Inf), name_sum and name_count. */
void rmq_prom_hist(rmq_buf_t *b, const char *name, const char *base, const rmq_prom_label_t *l,
                   size_t nl, const double *le, const uint64_t *counts, size_t n, double sum);
/* Append labels as k="v" pairs, comma separated, escaped, to out (the base of rmq_prom_val). */
void rmq_prom_base(rmq_buf_t *out, const rmq_prom_label_t *l, size_t nl);
/* Parse "k:v,k:v" (RocketMQ's metricsLabel) into base (appended, escaped). -1 on a malformed
 * pair or a name that is not a Prometheus label name. */
int rmq_prom_base_parse(rmq_buf_t *out, const char *spec);
/* process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds (no labels, as client
 * libraries write them). */
void rmq_prom_process(rmq_buf_t *b);

#endif
