/* HTTP endpoint (httpd.h).
 *
 * A request on libmicrohttpd's thread becomes a scrape_t posted to the owner loop's mailbox; the
 * loop renders into it and signals. Both sides hold a reference, so a scrape that timed out on
 * the HTTP side is freed by the loop when it finally runs, and one the loop never ran (mailbox
 * closed) is answered 503 at once. Stop closes the mailbox first (rendering what is queued),
 * so stopping the daemon never waits on a loop that is busy stopping it. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mailbox.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result_t;
#else
typedef enum MHD_Result mhd_result_t;
#endif

struct rmq_httpd_s {
    struct MHD_Daemon *d;
    rmq_mailbox_t mb;
    rmq_httpd_render_fn fn;
    void *arg;
    int port;
};

typedef struct {
    rmq_mbox_node_t node;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool metrics; /* false: readiness probe */
    bool done;    /* guarded by mu */
    int refs;     /* guarded by mu */
    rmq_buf_t out;
} scrape_t;

static void scrape_unref(scrape_t *s) {
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    rmq_buf_fini(&s->out);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Loop thread: render and hand back. */
static void on_scrape(rmq_mbox_node_t *node, void *arg) {
    rmq_httpd_t *h = arg;
    scrape_t *s = (scrape_t *)node;
    if (s->metrics)
        h->fn(&s->out, h->arg);
    else
        rmq_buf_append_str(&s->out, "ok\n");
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    scrape_unref(s);
}

static mhd_result_t reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                          void *data, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    mhd_result_t ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static mhd_result_t text(struct MHD_Connection *conn, unsigned status, const char *msg) {
    return reply(conn, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg),
                 MHD_RESPMEM_PERSISTENT);
}

/* HTTP thread. */
static mhd_result_t on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_len, void **con_cls) {
    rmq_httpd_t *h = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    bool metrics = !strcmp(url, "/metrics");
    if (!metrics && strcmp(url, "/healthz")) return text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    scrape_t *s = calloc(1, sizeof *s);
    if (!s) return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->metrics = metrics;
    s->refs = 2;
    rmq_buf_init(&s->out);
    if (!rmq_mailbox_post(&h->mb, &s->node)) {
        s->refs = 1;
        scrape_unref(s);
        return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += RMQ_HTTPD_RENDER_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (!s->done && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    bool done = s->done;
    rmq_buf_t out = s->out;
    if (done) rmq_buf_init(&s->out); /* the body moves to the response */
    pthread_mutex_unlock(&s->mu);
    scrape_unref(s);
    if (!done) return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the server loop did not answer\n");
    return reply(conn, MHD_HTTP_OK,
                 metrics ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
                 out.data, out.len, MHD_RESPMEM_MUST_FREE);
}

static void on_mb_closed(uv_handle_t *handle) {
    rmq_mailbox_t *mb = handle->data;
    free((char *)mb - offsetof(rmq_httpd_t, mb));
}

rmq_err_t rmq_httpd_start(uv_loop_t *loop, const char *host, int port, rmq_httpd_render_fn fn,
                          void *arg, rmq_httpd_t **out, char *errbuf, size_t errlen) {
    *out = NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (host && *host && inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(errbuf, errlen, "not an IPv4 address: %s", host);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_httpd_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errbuf, errlen, "out of memory");
        return RMQ_ERR__NOMEM;
    }
    h->fn = fn;
    h->arg = arg;
    if (rmq_mailbox_init(&h->mb, loop, on_scrape, h) != 0) {
        free(h);
        snprintf(errbuf, errlen, "mailbox init failed");
        return RMQ_ERR__IO;
    }
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port, NULL,
                            NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!h->d) {
        snprintf(errbuf, errlen, "cannot listen on %s:%d", host && *host ? host : "0.0.0.0", port);
        rmq_mailbox_close(&h->mb, on_mb_closed);
        return RMQ_ERR__IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : port;
    *out = h;
    return RMQ_OK;
}

int rmq_httpd_port(const rmq_httpd_t *h) {
    return h ? h->port : 0;
}

void rmq_httpd_stop(rmq_httpd_t *h) {
    if (!h) return;
    /* Refuse and answer queued scrapes first, so the HTTP thread is never left waiting on us
     * while MHD_stop_daemon joins it. */
    struct MHD_Daemon *d = h->d;
    rmq_mailbox_close(&h->mb, on_mb_closed); /* h freed in the close callback, later */
    MHD_stop_daemon(d);
}
