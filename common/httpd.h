/* A small HTTP endpoint for Prometheus scrapes (and a readiness probe), on libmicrohttpd.
 *
 * libmicrohttpd runs one thread of its own; what a page shows belongs to the owner's libuv loop
 * thread, so every request is handed to that loop through a mailbox and rendered there, while
 * the HTTP thread waits (at most RMQ_HTTPD_RENDER_TIMEOUT_MS, then 503). Counters on the message
 * path stay plain loop-owned integers: the cost of a scrape is paid only when one comes.
 *
 * Paths: /metrics (text format 0.0.4, from the render callback), /healthz ("ok" once the loop
 * answers; a stalled loop gives 503), anything else 404. */
#ifndef RMQ_HTTPD_H
#define RMQ_HTTPD_H

#include <uv.h>

#include "common/buf.h"
#include "rmq/rmq_err.h"

#define RMQ_HTTPD_RENDER_TIMEOUT_MS 5000

/* Append the /metrics page to out. Loop thread. */
typedef void (*rmq_httpd_render_fn)(rmq_buf_t *out, void *arg);

typedef struct rmq_httpd_s rmq_httpd_t;

/* Listen on host:port (host "" or NULL: every address; port 0: a free one) and serve fn's page.
 * Loop thread, before or while the loop runs. RMQ_ERR__INVALID_ARG for a bad host, RMQ_ERR__IO
 * when the port cannot be bound (logged by the caller with errbuf's text). */
rmq_err_t rmq_httpd_start(uv_loop_t *loop, const char *host, int port, rmq_httpd_render_fn fn,
                          void *arg, rmq_httpd_t **out, char *errbuf, size_t errlen);
/* The bound port. */
int rmq_httpd_port(const rmq_httpd_t *h);
/* Stop serving: scrapes in flight are answered, the HTTP thread joined, the memory freed once the
 * loop closes the mailbox handle. Loop thread; NULL is a no-op. */
void rmq_httpd_stop(rmq_httpd_t *h);

#endif
