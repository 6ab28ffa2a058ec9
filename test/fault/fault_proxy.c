/* The TCP fault proxy; see fault_proxy.h.
 *
 * One loop thread owns every handle. A pair is the client's socket (side 0) and the proxy's
 * connection to the target (side 1); reading from the client starts only once the target
 * connection is up, so nothing needs buffering in between. A pair and its delayed chunks are
 * freed when the last of their handles has closed (refs counts open handles). Commands from
 * the test thread go through a uv_async_t and the caller waits until the loop applied them. */
#include "test/fault/fault_proxy.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct pair_s pair_t;

typedef struct chunk_s { /* a delayed write */
    uv_timer_t timer;
    pair_t *pair;
    int to; /* side to write to */
    uv_buf_t buf;
    struct chunk_s *next;
} chunk_t;

struct pair_s {
    rmq_fault_proxy_t *fp;
    uv_tcp_t side[2];
    uv_connect_t conn_req;
    bool up; /* target connected: reads may run */
    bool closing;
    int refs;         /* open handles */
    uint64_t seen[2]; /* bytes read from each side (CORRUPT's period counter) */
    chunk_t *chunks;
    pair_t *next;
};

struct rmq_fault_proxy_s {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t listener;
    uv_async_t async;
    struct sockaddr_in target;
    int port;
    pair_t *pairs;
    /* written by the loop, read under mu by any thread */
    rmq_fp_stats_t st;
    rmq_fp_mode_t mode; /* loop thread only */
    int arg;
    /* command mailbox */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool cmd_pending, stop;
    rmq_fp_mode_t cmd_mode;
    int cmd_arg;
};

static void pair_close(pair_t *p, bool reset);

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    b->base = malloc(sz);
    b->len = b->base ? sz : 0;
}

static void pair_unref(pair_t *p) {
    if (--p->refs > 0) return;
    rmq_fault_proxy_t *fp = p->fp;
    for (pair_t **pp = &fp->pairs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_lock(&fp->mu);
    fp->st.open--;
    pthread_mutex_unlock(&fp->mu);
    free(p);
}

static void on_handle_closed(uv_handle_t *h) {
    pair_unref(h->data);
}

static void on_chunk_closed(uv_handle_t *h) {
    chunk_t *c = h->data;
    pair_t *p = c->pair;
    free(c->buf.base);
    free(c);
    pair_unref(p);
}

typedef struct {
    uv_write_t req;
    char *base;
} wreq_t;

static void on_written(uv_write_t *w, int status) {
    wreq_t *r = (wreq_t *)w;
    pair_t *p = w->handle->data;
    free(r->base);
    free(r);
    if (status < 0 && status != UV_ECANCELED) pair_close(p, false);
}

/* Write base[0..n) to side `to`; takes base. */
static void forward(pair_t *p, int to, char *base, size_t n) {
    wreq_t *r = malloc(sizeof *r);
    if (!r || p->closing) {
        free(r);
        free(base);
        return;
    }
    r->base = base;
    uv_buf_t b = uv_buf_init(base, (unsigned)n);
    if (uv_write(&r->req, (uv_stream_t *)&p->side[to], &b, 1, on_written) != 0) {
        free(base);
        free(r);
        pair_close(p, false);
        return;
    }
    pthread_mutex_lock(&p->fp->mu);
    if (to == 1)
        p->fp->st.up_bytes += n;
    else
        p->fp->st.down_bytes += n;
    pthread_mutex_unlock(&p->fp->mu);
}

static void on_chunk_due(uv_timer_t *t) {
    chunk_t *c = t->data;
    pair_t *p = c->pair;
    for (chunk_t **pp = &p->chunks; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    forward(p, c->to, c->buf.base, c->buf.len);
    c->buf.base = NULL;
    uv_close((uv_handle_t *)t, on_chunk_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    pair_t *p = s->data;
    int from = s == (uv_stream_t *)&p->side[0] ? 0 : 1;
    rmq_fault_proxy_t *fp = p->fp;
    if (n <= 0) {
        free(buf->base);
        if (n < 0) pair_close(p, false); /* EOF or error: the pair goes, as a link would */
        return;
    }
    switch (fp->mode) {
    case RMQ_FP_BLACKHOLE:
        free(buf->base);
        pthread_mutex_lock(&fp->mu);
        fp->st.dropped += (uint64_t)n;
        pthread_mutex_unlock(&fp->mu);
        return;
    case RMQ_FP_CORRUPT:
        for (ssize_t i = 0; i < n; i++)
            if (++p->seen[from] % (uint64_t)(fp->arg > 0 ? fp->arg : 1) == 0) buf->base[i] ^= 0xff;
        break;
    case RMQ_FP_DELAY: {
        chunk_t *c = calloc(1, sizeof *c);
        if (!c) break;
        c->pair = p;
        c->to = 1 - from;
        c->buf = uv_buf_init(buf->base, (unsigned)n);
        uv_timer_init(&fp->loop, &c->timer);
        c->timer.data = c;
        p->refs++;
        c->next = p->chunks;
        p->chunks = c;
        uv_timer_start(&c->timer, on_chunk_due, (uint64_t)(fp->arg > 0 ? fp->arg : 0), 0);
        return;
    }
    default: break;
    }
    forward(p, 1 - from, buf->base, (size_t)n);
}

static void pair_reads(pair_t *p, bool on) {
    if (!p->up || p->closing) return;
    for (int i = 0; i < 2; i++) {
        if (on)
            uv_read_start((uv_stream_t *)&p->side[i], on_alloc, on_read);
        else
            uv_read_stop((uv_stream_t *)&p->side[i]);
    }
}

static void pair_close(pair_t *p, bool reset) {
    if (p->closing) return;
    p->closing = true;
    for (int i = 0; i < 2; i++) {
        uv_handle_t *h = (uv_handle_t *)&p->side[i];
        if (uv_is_closing(h)) continue;
        if (reset && uv_tcp_close_reset(&p->side[i], on_handle_closed) == 0) continue;
        uv_close(h, on_handle_closed);
    }
    for (chunk_t *c = p->chunks; c; c = c->next)
        uv_close((uv_handle_t *)&c->timer, on_chunk_closed);
    p->chunks = NULL;
}

static void on_target_connected(uv_connect_t *req, int status) {
    pair_t *p = req->data;
    if (p->closing) return;
    if (status < 0) {
        pair_close(p, true); /* the target is down: the client sees a reset */
        return;
    }
    p->up = true;
    if (p->fp->mode != RMQ_FP_STALL) pair_reads(p, true);
}

static void on_accept(uv_stream_t *ls, int status) {
    rmq_fault_proxy_t *fp = ls->data;
    if (status < 0) return;
    pair_t *p = calloc(1, sizeof *p);
    if (!p) return;
    p->fp = fp;
    uv_tcp_init(&fp->loop, &p->side[0]);
    uv_tcp_init(&fp->loop, &p->side[1]);
    p->side[0].data = p->side[1].data = p;
    p->refs = 2;
    p->next = fp->pairs;
    fp->pairs = p;
    pthread_mutex_lock(&fp->mu);
    fp->st.accepted++;
    fp->st.open++;
    pthread_mutex_unlock(&fp->mu);
    if (uv_accept(ls, (uv_stream_t *)&p->side[0]) != 0 || fp->mode == RMQ_FP_REFUSE) {
        pair_close(p, true);
        return;
    }
    uv_tcp_nodelay(&p->side[0], 1);
    uv_tcp_nodelay(&p->side[1], 1);
    p->conn_req.data = p;
    if (uv_tcp_connect(&p->conn_req, &p->side[1], (const struct sockaddr *)&fp->target,
                       on_target_connected) != 0)
        pair_close(p, true);
}

static void on_async(uv_async_t *a) {
    rmq_fault_proxy_t *fp = a->data;
    pthread_mutex_lock(&fp->mu);
    bool stop = fp->stop, cmd = fp->cmd_pending;
    rmq_fp_mode_t mode = fp->cmd_mode;
    int arg = fp->cmd_arg;
    pthread_mutex_unlock(&fp->mu);
    if (stop) {
        for (pair_t *p = fp->pairs; p; p = p->next) pair_close(p, false);
        uv_close((uv_handle_t *)&fp->listener, NULL);
        uv_close((uv_handle_t *)&fp->async, NULL);
        return;
    }
    if (!cmd) return;
    rmq_fp_mode_t was = fp->mode;
    fp->mode = mode == RMQ_FP_RESET ? RMQ_FP_PASS : mode;
    fp->arg = arg;
    if (mode == RMQ_FP_RESET || mode == RMQ_FP_REFUSE) {
        for (pair_t *p = fp->pairs; p; p = p->next) pair_close(p, true);
    } else if (mode == RMQ_FP_STALL) {
        for (pair_t *p = fp->pairs; p; p = p->next) pair_reads(p, false);
    } else if (was == RMQ_FP_STALL) {
        for (pair_t *p = fp->pairs; p; p = p->next) pair_reads(p, true);
    }
    pthread_mutex_lock(&fp->mu);
    fp->cmd_pending = false;
    pthread_cond_broadcast(&fp->cv);
    pthread_mutex_unlock(&fp->mu);
}

static void run(void *arg) {
    rmq_fault_proxy_t *fp = arg;
    uv_run(&fp->loop, UV_RUN_DEFAULT);
}

rmq_fault_proxy_t *rmq_fp_start(int listen_port, int target_port) {
    rmq_fault_proxy_t *fp = calloc(1, sizeof *fp);
    if (!fp) return NULL;
    pthread_mutex_init(&fp->mu, NULL);
    pthread_cond_init(&fp->cv, NULL);
    uv_loop_init(&fp->loop);
    uv_ip4_addr("127.0.0.1", target_port, &fp->target);
    struct sockaddr_in la;
    uv_ip4_addr("127.0.0.1", listen_port, &la);
    uv_tcp_init(&fp->loop, &fp->listener);
    fp->listener.data = fp;
    uv_async_init(&fp->loop, &fp->async, on_async);
    fp->async.data = fp;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_bind(&fp->listener, (const struct sockaddr *)&la, 0) != 0 ||
        uv_listen((uv_stream_t *)&fp->listener, 128, on_accept) != 0 ||
        uv_tcp_getsockname(&fp->listener, (struct sockaddr *)&ss, &sl) != 0) {
        uv_close((uv_handle_t *)&fp->listener, NULL);
        uv_close((uv_handle_t *)&fp->async, NULL);
        uv_run(&fp->loop, UV_RUN_DEFAULT);
        uv_loop_close(&fp->loop);
        free(fp);
        return NULL;
    }
    fp->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (uv_thread_create(&fp->thread, run, fp) != 0) {
        uv_close((uv_handle_t *)&fp->listener, NULL);
        uv_close((uv_handle_t *)&fp->async, NULL);
        uv_run(&fp->loop, UV_RUN_DEFAULT);
        uv_loop_close(&fp->loop);
        free(fp);
        return NULL;
    }
    return fp;
}

int rmq_fp_port(const rmq_fault_proxy_t *fp) {
    return fp->port;
}

void rmq_fp_set(rmq_fault_proxy_t *fp, rmq_fp_mode_t mode, int arg) {
    pthread_mutex_lock(&fp->mu);
    fp->cmd_mode = mode;
    fp->cmd_arg = arg;
    fp->cmd_pending = true;
    uv_async_send(&fp->async);
    while (fp->cmd_pending) pthread_cond_wait(&fp->cv, &fp->mu);
    pthread_mutex_unlock(&fp->mu);
}

void rmq_fp_stats(rmq_fault_proxy_t *fp, rmq_fp_stats_t *out) {
    pthread_mutex_lock(&fp->mu);
    *out = fp->st;
    pthread_mutex_unlock(&fp->mu);
}

void rmq_fp_stop(rmq_fault_proxy_t *fp) {
    if (!fp) return;
    pthread_mutex_lock(&fp->mu);
    fp->stop = true;
    uv_async_send(&fp->async);
    pthread_mutex_unlock(&fp->mu);
    uv_thread_join(&fp->thread);
    uv_loop_close(&fp->loop);
    pthread_mutex_destroy(&fp->mu);
    pthread_cond_destroy(&fp->cv);
    free(fp);
}
