/* HA transport: master/slave CommitLog replication on its own thread and libuv loop
 * (broker.md 9.2 wire, 9.3 SYNC_MASTER; RocketMQ 4.9 HAService/HAConnection/HAClient).
 *
 * Master. One listener, any number of slaves. A connection sends nothing until the slave's
 * first 8-byte report: 0 means a new slave, which starts at the start of the last CommitLog
 * segment (or at the min offset with haNewSlaveFromMinOffset), else it starts at the reported
 * offset. Frames are [start 8][size 4][body] with bodies borrowed from the mapped segment
 * (rmq_store_cl_read: pinned, never copied, never crossing a segment) and at most
 * haTransferBatchSize; up to INFLIGHT bytes are queued per connection so the socket never runs
 * dry. When a slave has everything, the loop arms the store's append notifier (an eventfd the
 * loop polls) and sleeps until the next append; a heartbeat [next][0] goes out after
 * haSendHeartbeatInterval without a write. Every report updates the connection's ack offset and
 * the max acked offset over all slaves, which completes SYNC_MASTER waits. A report below 0 or
 * beyond the master's max offset (a slave ahead of its master, or garbage on the port) closes
 * that connection with a WARN, after one heartbeat naming the master's max offset so a slave can
 * log both; so does haHousekeepingInterval without a report. The others go on.
 *
 * Slave. Connects to the master's address, reports its replication offset at once (RocketMQ
 * waits up to 5 s first), after each read that appended data, and every
 * haSendHeartbeatInterval. Frame bodies are appended as they arrive, possibly mid-record
 * (rmq_store_cl_append publishes only complete records to the dispatcher). A frame whose start
 * differs from the slave's offset (when it has one) closes the connection: when it is lower,
 * the master is behind the slave and is refused with a log line naming both offsets. The slave
 * reconnects every haReconnectInterval (5 s), and also gives up on a master silent for
 * haHousekeepingInterval (a master heartbeats every 5 s) or a report write stuck that long.
 *
 * SYNC_MASTER waits: the caller checks "a slave connected and not too far behind" on its own
 * thread (atomics), then posts {end offset, deadline, callback} to this loop through a mailbox;
 * the loop keeps them sorted by offset, completes them as acks arrive and at their deadline
 * (one timer armed at the earliest), and hands each completion to the caller's deliver
 * function, like the SYNC_FLUSH group commit (store/flush.c) hands them back. */
#include "broker/ha.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "common/mailbox.h"
#include "common/util.h"
#include "remoting/tls.h"

#define INFLIGHT (1 << 20)       /* bytes queued per slave connection */
#define SLAVE_RBUF (256 * 1024)  /* slave's read buffer */
#define MAX_FRAME_BODY (1 << 30) /* a larger bodySize is garbage */

typedef struct {
    rmq_ha_cfg_t c;
} cfg_wrap_t;
static const rmq_kv_def_t cfg_defs[] = {RMQ_HA_CFG_KV(cfg_wrap_t, c)};

void rmq_ha_cfg_defaults(rmq_ha_cfg_t *cfg) {
    cfg_wrap_t w;
    memset(&w, 0, sizeof(w));
    rmq_kv_defaults(cfg_defs, RMQ_ARRAY_LEN(cfg_defs), &w);
    *cfg = w.c;
}

void rmq_ha_cfg_free(rmq_ha_cfg_t *cfg) {
    cfg_wrap_t w;
    w.c = *cfg;
    rmq_kv_free(cfg_defs, RMQ_ARRAY_LEN(cfg_defs), &w);
    cfg->ha_listen_host = cfg->ha_master_address = NULL;
}

/* ---- wire ----------------------------------------------------------------------------------- */

void rmq_ha_encode_report(uint8_t out[RMQ_HA_REPORT_SIZE], int64_t max_offset) {
    rmq_put_be64(out, (uint64_t)max_offset);
}

void rmq_ha_encode_header(uint8_t out[RMQ_HA_HEADER_SIZE], int64_t start_offset, int32_t size) {
    rmq_put_be64(out, (uint64_t)start_offset);
    rmq_put_be32(out + 8, (uint32_t)size);
}

int64_t rmq_ha_decode_report(const uint8_t in[RMQ_HA_REPORT_SIZE]) {
    return (int64_t)rmq_get_be64(in);
}

void rmq_ha_decode_header(const uint8_t in[RMQ_HA_HEADER_SIZE], int64_t *start_offset,
                          int32_t *size) {
    *start_offset = (int64_t)rmq_get_be64(in);
    *size = (int32_t)rmq_get_be32(in + 8);
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct {
    int64_t target;
    uint64_t deadline_ms; /* monotonic */
    rmq_ha_wait_cb cb;
    void *arg;
} wait_t;

typedef struct {
    rmq_mbox_node_t node;
    wait_t w;
} wait_node_t;

typedef struct mconn_s mconn_t;

/* One frame on the wire: header + a pinned slice of the CommitLog (none for a heartbeat). */
typedef struct {
    uv_write_t req;
    uint8_t hdr[RMQ_HA_HEADER_SIZE];
    rmq_store_cl_slice_t sl;
    mconn_t *c;
    uint8_t *ct; /* TLS: the ciphertext written instead (sl already released) */
    size_t plen; /* TLS: plaintext body bytes it carries */
} frame_t;

/* TLS ciphertext written on the slave's connection (handshake, reports). */
typedef struct {
    uv_write_t req;
    uint8_t *data;
} ctw_t;

/* A slave connected to this master. Loop thread only. */
struct mconn_s {
    uv_tcp_t tcp; /* tcp.data = this */
    rmq_ha_t *ha;
    mconn_t *next;
    char addr[64];
    uint8_t rb[RMQ_HA_REPORT_SIZE];
    int rbn;
    uint8_t rbuf[256];
    bool got_report, closing, waiting; /* waiting: caught up, wants the append notifier */
    int64_t ack, next_off;
    uint64_t last_read_ms, last_write_ms, caught_up_ms;
    size_t inflight;
    uint64_t bytes_sent;
    rmq_rem_tls_t *tls; /* NULL: plaintext */
    bool sniff;         /* permissive: the first byte decides */
    rmq_buf_t plain;    /* TLS: decrypted report bytes */
};

enum { S_IDLE, S_CONNECTING, S_CONNECTED, S_CLOSING };

struct rmq_ha_s {
    rmq_ha_cfg_t cfg;
    rmq_store_t *store;
    rmq_ha_role_t role;
    rmq_ha_deliver_fn deliver;
    void *deliver_arg;

    uv_loop_t loop;
    uv_thread_t thr;
    uv_async_t ctl;     /* stop, master address change */
    rmq_mailbox_t mbox; /* wait requests */
    uv_timer_t tick;
    uv_timer_t wait_timer;
    uv_poll_t notify; /* the store's append notifier */
    bool notify_on;
    int tick_ms;

    pthread_mutex_t mu; /* guards stop, new_master, master_changed */
    bool stop;
    char new_master[64];
    bool master_changed;
    bool closing; /* loop thread */

    /* master */
    uv_tcp_t listener;
    bool listening;
    int port;
    mconn_t *conns;
    _Atomic int slaves;        /* connections that sent a valid report; writer: loop */
    _Atomic int64_t acked_max; /* push2SlaveMaxOffset; writer: loop */
    _Atomic uint64_t bytes_sent;
    wait_t *waits; /* loop thread: sorted by target */
    size_t wn, wcap;

    /* slave */
    int sstate;
    uv_tcp_t stcp;
    uv_connect_t creq;
    char master[64];
    uint64_t next_connect_ms, s_last_read, s_last_report, s_connect_start;
    uint8_t hdr[RMQ_HA_HEADER_SIZE];
    int hdr_n;
    int64_t body_left, frame_off;
    bool behind_logged;
    uv_write_t rreq;
    uint8_t rpt[RMQ_HA_REPORT_SIZE];
    bool report_inflight, report_pending;
    uint8_t *sbuf;
    _Atomic uint64_t bytes_received, reconnects;
    _Atomic bool s_connected;

    /* TLS (loop thread once started): the master's listener side and the slave's side */
    rmq_rem_tls_ctx_t *tls_srv, *tls_cli;
    int tls_mode;
    rmq_rem_tls_t *stls; /* the slave's session on stcp */
    bool s_tls_ready;    /* handshake done: reports may go */
    rmq_buf_t splain;    /* decrypted bytes from the master */

    pthread_mutex_t stats_mu; /* guards snap */
    rmq_ha_stats_t snap;
};

static uint64_t now_ms(void) {
    return rmq_mono_ms();
}

/* ---- SYNC_MASTER waits (loop thread) ----------------------------------------------------------
 */

static void finish(rmq_ha_t *ha, const wait_t *w, rmq_err_t st) {
    if (ha->deliver)
        ha->deliver(w->cb, st, w->arg, ha->deliver_arg);
    else
        w->cb(st, w->arg);
}

static void on_wait_timer(uv_timer_t *t);

static void arm_wait_timer(rmq_ha_t *ha) {
    if (ha->closing) return;
    if (ha->wn == 0) {
        uv_timer_stop(&ha->wait_timer);
        return;
    }
    uint64_t min = UINT64_MAX, now = now_ms();
    for (size_t i = 0; i < ha->wn; i++)
        if (ha->waits[i].deadline_ms < min) min = ha->waits[i].deadline_ms;
    uv_timer_start(&ha->wait_timer, on_wait_timer, min > now ? min - now : 0, 0);
}

/* Complete every wait whose offset is acked (they sit at the front). */
static void complete_acked(rmq_ha_t *ha) {
    int64_t acked = atomic_load(&ha->acked_max);
    size_t k = 0;
    while (k < ha->wn && ha->waits[k].target <= acked) k++;
    if (!k) return;
    for (size_t i = 0; i < k; i++) finish(ha, &ha->waits[i], RMQ_OK);
    memmove(ha->waits, ha->waits + k, (ha->wn - k) * sizeof(*ha->waits));
    ha->wn -= k;
    arm_wait_timer(ha);
}

static void on_wait_timer(uv_timer_t *t) {
    rmq_ha_t *ha = t->data;
    uint64_t now = now_ms();
    size_t j = 0;
    for (size_t i = 0; i < ha->wn; i++) {
        if (ha->waits[i].deadline_ms <= now)
            finish(ha, &ha->waits[i], RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
        else
            ha->waits[j++] = ha->waits[i];
    }
    ha->wn = j;
    arm_wait_timer(ha);
}

static void on_wait_posted(rmq_mbox_node_t *node, void *arg) {
    rmq_ha_t *ha = arg;
    wait_node_t *wn = (wait_node_t *)node;
    wait_t w = wn->w;
    free(wn);
    if (w.target <= atomic_load(&ha->acked_max)) {
        finish(ha, &w, RMQ_OK);
        return;
    }
    if (ha->closing) {
        finish(ha, &w, RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
        return;
    }
    if (ha->wn == ha->wcap) {
        size_t nc = ha->wcap ? ha->wcap * 2 : 64;
        wait_t *nw = realloc(ha->waits, nc * sizeof(*nw));
        if (!nw) {
            finish(ha, &w, RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
            return;
        }
        ha->waits = nw;
        ha->wcap = nc;
    }
    /* sorted by target; puts arrive nearly in order, so this is O(1) in practice */
    size_t i = ha->wn;
    while (i > 0 && ha->waits[i - 1].target > w.target) {
        ha->waits[i] = ha->waits[i - 1];
        i--;
    }
    ha->waits[i] = w;
    ha->wn++;
    if (ha->wn == 1 || !uv_is_active((uv_handle_t *)&ha->wait_timer)) arm_wait_timer(ha);
}

rmq_err_t rmq_ha_wait_ack(rmq_ha_t *ha, int64_t end_offset, rmq_ha_wait_cb cb, void *arg) {
    if (!ha || ha->role != RMQ_HA_MASTER) return RMQ_ERR_SLAVE_NOT_AVAILABLE;
    int64_t acked = atomic_load(&ha->acked_max);
    if (atomic_load(&ha->slaves) == 0 || end_offset - acked >= ha->cfg.ha_slave_fallbehind_max)
        return RMQ_ERR_SLAVE_NOT_AVAILABLE;
    wait_t w = {end_offset, now_ms() + (uint64_t)ha->cfg.slave_timeout, cb, arg};
    if (acked >= end_offset) {
        finish(ha, &w, RMQ_OK);
        return RMQ_OK;
    }
    wait_node_t *wn = malloc(sizeof(*wn));
    if (!wn) return RMQ_ERR__NOMEM;
    wn->w = w;
    if (!rmq_mailbox_post(&ha->mbox, &wn->node)) {
        free(wn);
        return RMQ_ERR_SLAVE_NOT_AVAILABLE; /* shutting down */
    }
    return RMQ_OK;
}

/* ---- master --------------------------------------------------------------------------------- */

static void mconn_close(mconn_t *c);
static void pump_all(rmq_ha_t *ha);

static void on_mconn_closed(uv_handle_t *h) {
    mconn_t *c = h->data;
    rmq_rem_tls_destroy(c->tls);
    rmq_buf_fini(&c->plain);
    free(c);
}

static void mconn_close(mconn_t *c) {
    if (c->closing) return;
    rmq_ha_t *ha = c->ha;
    c->closing = true;
    if (c->got_report) atomic_fetch_sub(&ha->slaves, 1);
    for (mconn_t **pp = &ha->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, on_mconn_closed);
}

static void on_frame_written(uv_write_t *req, int status) {
    frame_t *fr = req->data;
    mconn_t *c = fr->c;
    size_t len = fr->ct ? fr->plen : fr->sl.len;
    if (fr->ct)
        free(fr->ct);
    else
        rmq_store_cl_slice_release(&fr->sl);
    free(fr);
    c->inflight -= len;
    if (c->closing) return;
    if (status < 0) {
        RMQ_LOG_WARN("ha", "slave %s: write failed (%s): closing", c->addr, uv_strerror(status));
        mconn_close(c);
        return;
    }
    c->bytes_sent += len;
    atomic_fetch_add_explicit(&c->ha->bytes_sent, len, memory_order_relaxed);
    c->last_write_ms = now_ms();
    pump_all(c->ha);
}

/* Write the session's pending ciphertext carrying plen plaintext body bytes; false if c was
 * closed. */
static bool mconn_tls_flush(mconn_t *c, size_t plen) {
    size_t len, cap;
    uint8_t *d = rmq_rem_tls_take(c->tls, &len, &cap);
    if (!d) return true;
    frame_t *fr = calloc(1, sizeof(*fr));
    if (!fr) {
        free(d);
        mconn_close(c);
        return false;
    }
    fr->req.data = fr;
    fr->c = c;
    fr->ct = d;
    fr->plen = plen;
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)len);
    int rc = uv_write(&fr->req, (uv_stream_t *)&c->tcp, &b, 1, on_frame_written);
    if (rc != 0) {
        free(d);
        free(fr);
        RMQ_LOG_WARN("ha", "slave %s: write failed (%s): closing", c->addr, uv_strerror(rc));
        mconn_close(c);
        return false;
    }
    c->inflight += plen;
    return true;
}

/* send_frame over TLS: the slice is encrypted now and released. */
static bool send_frame_tls(mconn_t *c, int64_t start, rmq_store_cl_slice_t *sl) {
    uint8_t hdr[RMQ_HA_HEADER_SIZE];
    rmq_ha_encode_header(hdr, start, (int32_t)sl->len);
    uv_buf_t b[2] = {uv_buf_init((char *)hdr, RMQ_HA_HEADER_SIZE),
                     uv_buf_init((char *)sl->data, (unsigned)sl->len)};
    char err[200];
    size_t plen = sl->len;
    int r = rmq_rem_tls_write(c->tls, b, sl->len ? 2 : 1, err, sizeof err);
    rmq_store_cl_slice_release(sl);
    if (r) {
        RMQ_LOG_WARN("ha", "slave %s: %s: closing", c->addr, err);
        mconn_close(c);
        return false;
    }
    return mconn_tls_flush(c, plen);
}

/* Queue one frame: takes sl (released once written or the connection closes). */
static bool send_frame(mconn_t *c, int64_t start, rmq_store_cl_slice_t *sl) {
    if (c->tls) return send_frame_tls(c, start, sl);
    frame_t *fr = malloc(sizeof(*fr));
    if (!fr) {
        rmq_store_cl_slice_release(sl);
        return false;
    }
    fr->req.data = fr;
    fr->c = c;
    fr->sl = *sl;
    fr->ct = NULL;
    fr->plen = 0;
    rmq_ha_encode_header(fr->hdr, start, (int32_t)sl->len);
    uv_buf_t b[2] = {uv_buf_init((char *)fr->hdr, RMQ_HA_HEADER_SIZE),
                     uv_buf_init((char *)sl->data, (unsigned)sl->len)};
    int rc = uv_write(&fr->req, (uv_stream_t *)&c->tcp, b, sl->len ? 2 : 1, on_frame_written);
    if (rc != 0) {
        rmq_store_cl_slice_release(&fr->sl);
        free(fr);
        RMQ_LOG_WARN("ha", "slave %s: write failed (%s): closing", c->addr, uv_strerror(rc));
        mconn_close(c);
        return false;
    }
    c->inflight += sl->len;
    return true;
}

/* Send what the slave lacks, up to INFLIGHT queued bytes; false if c was closed. */
static bool pump(mconn_t *c) {
    rmq_ha_t *ha = c->ha;
    c->waiting = false;
    if (c->closing || !c->got_report) return !c->closing;
    while (c->inflight < INFLIGHT) {
        rmq_store_cl_slice_t sl;
        rmq_err_t e =
            rmq_store_cl_read(ha->store, c->next_off, (size_t)ha->cfg.ha_transfer_batch_size, &sl);
        if (e != RMQ_OK) {
            RMQ_LOG_WARN("ha",
                         "slave %s: offset %" PRId64 " is not in the CommitLog [%" PRId64
                         ", %" PRId64 "): closing",
                         c->addr, c->next_off, rmq_store_commitlog_min_offset(ha->store),
                         rmq_store_commitlog_max_offset(ha->store));
            mconn_close(c);
            return false;
        }
        if (sl.len == 0) {
            rmq_store_cl_slice_release(&sl);
            c->waiting = true;
            return true;
        }
        int64_t start = c->next_off;
        c->next_off += (int64_t)sl.len;
        if (!send_frame(c, start, &sl)) return false;
    }
    return true;
}

/* Pump every connection; when some wait for data, arm the notifier and re-check (no lost
 * wake-up: an append after the arm writes the eventfd). */
static void pump_all(rmq_ha_t *ha) {
    for (int round = 0; round < 2; round++) {
        bool waiting = false;
        for (mconn_t *c = ha->conns, *n; c; c = n) {
            n = c->next;
            if (pump(c) && c->waiting) waiting = true;
        }
        if (!waiting || !ha->notify_on) return;
        rmq_store_notify_arm(ha->store);
        int64_t max = rmq_store_commitlog_max_offset(ha->store);
        bool more = false;
        for (mconn_t *c = ha->conns; c; c = c->next)
            if (c->waiting && c->next_off < max) more = true;
        if (!more) return;
    }
}

static void on_notify(uv_poll_t *p, int status, int events) {
    rmq_ha_t *ha = p->data;
    rmq_store_notify_drain(ha->store);
    pump_all(ha);
}

static void on_report(mconn_t *c, int64_t off) {
    rmq_ha_t *ha = c->ha;
    int64_t max = rmq_store_commitlog_max_offset(ha->store);
    if (off < 0 || off > max) {
        RMQ_LOG_WARN("ha",
                     "slave %s reported offset %" PRId64
                     ", beyond this master's max offset %" PRId64 ": closing the connection",
                     c->addr, off, max);
        /* one heartbeat naming our offset, so a slave ahead of us can say so; best effort */
        uint8_t h[RMQ_HA_HEADER_SIZE];
        rmq_ha_encode_header(h, max, 0);
        uv_buf_t b = uv_buf_init((char *)h, sizeof(h));
        if (!c->tls && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        mconn_close(c);
        return;
    }
    c->ack = off;
    if (off >= max) c->caught_up_ms = now_ms();
    if (!c->got_report) {
        c->got_report = true;
        if (off == 0)
            c->next_off = ha->cfg.ha_new_slave_from_min_offset
                              ? rmq_store_commitlog_min_offset(ha->store)
                              : rmq_store_cl_last_segment_start(ha->store);
        else
            c->next_off = off;
        atomic_fetch_add(&ha->slaves, 1);
        RMQ_LOG_INFO("ha",
                     "slave %s reported %" PRId64 ": streaming from %" PRId64 " (master at %" PRId64
                     ")",
                     c->addr, off, c->next_off, max);
    }
    if (off > atomic_load(&ha->acked_max)) {
        atomic_store(&ha->acked_max, off);
        complete_acked(ha);
    }
    pump_all(ha);
}

static void on_mconn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf) {
    mconn_t *c = h->data;
    uint8_t *p = c->tls ? rmq_rem_tls_in_space(c->tls, sizeof(c->rbuf)) : c->rbuf;
    *buf = p ? uv_buf_init((char *)p, sizeof(c->rbuf)) : uv_buf_init(NULL, 0);
}

static void mconn_reports(mconn_t *c, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n && !c->closing; i++) {
        c->rb[c->rbn++] = p[i];
        if (c->rbn == RMQ_HA_REPORT_SIZE) {
            c->rbn = 0;
            on_report(c, rmq_ha_decode_report(c->rb));
        }
    }
}

/* TLS input on a master connection: handshake, then reports. */
static void mconn_tls_input(mconn_t *c) {
    char err[300];
    if (!rmq_rem_tls_established(c->tls)) {
        int r = rmq_rem_tls_handshake(c->tls, err, sizeof err);
        if (!mconn_tls_flush(c, 0)) return;
        if (r < 0) {
            RMQ_LOG_WARN("ha", "slave %s: TLS handshake failed: %s: closing", c->addr, err);
            mconn_close(c);
            return;
        }
        if (r == 0) return;
        RMQ_LOG_INFO("ha", "slave %s: TLS established", c->addr);
    }
    int r = rmq_rem_tls_read(c->tls, &c->plain, err, sizeof err);
    if (!mconn_tls_flush(c, 0)) return;
    if (r < 0) {
        if (strcmp(err, "closed") != 0) RMQ_LOG_WARN("ha", "slave %s: %s: closing", c->addr, err);
        mconn_close(c);
        return;
    }
    size_t n = rmq_buf_unread(&c->plain);
    mconn_reports(c, rmq_buf_rptr(&c->plain), n);
    if (!c->closing) rmq_buf_reset(&c->plain);
}

static void on_mconn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    mconn_t *c = st->data;
    if (n == 0 || c->closing) return;
    if (n < 0) {
        if (n == UV_EOF)
            RMQ_LOG_INFO("ha", "slave %s disconnected", c->addr);
        else
            RMQ_LOG_WARN("ha", "slave %s: read failed (%s): closing", c->addr, uv_strerror((int)n));
        mconn_close(c);
        return;
    }
    c->last_read_ms = now_ms();
    if (c->tls) {
        rmq_rem_tls_in_commit(c->tls, (size_t)n);
        mconn_tls_input(c);
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    if (c->sniff) {
        c->sniff = false;
        if (p[0] == RMQ_REM_TLS_RECORD_HANDSHAKE) {
            if (!(c->tls = rmq_rem_tls_new(c->ha->tls_srv)) ||
                rmq_rem_tls_feed(c->tls, p, (size_t)n)) {
                mconn_close(c);
                return;
            }
            mconn_tls_input(c);
            return;
        }
    }
    mconn_reports(c, p, (size_t)n);
}

static void on_accept(uv_stream_t *server, int status) {
    rmq_ha_t *ha = server->data;
    if (status < 0) {
        RMQ_LOG_WARN("ha", "accept: %s", uv_strerror(status));
        return;
    }
    mconn_t *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->ha = ha;
    uv_tcp_init(&ha->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_mconn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    snprintf(c->addr, sizeof(c->addr), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        char ip[48] = "?";
        int port = 0;
        if (sa.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        }
        snprintf(c->addr, sizeof(c->addr), "%s:%d", ip, port);
    }
    c->last_read_ms = c->last_write_ms = c->caught_up_ms = now_ms();
    c->next = ha->conns;
    ha->conns = c;
    RMQ_LOG_INFO("ha", "slave %s connected", c->addr);
    if (ha->tls_mode == RMQ_REM_TLS_PERMISSIVE) c->sniff = true;
    if (ha->tls_mode == RMQ_REM_TLS_ENFORCING && !(c->tls = rmq_rem_tls_new(ha->tls_srv))) {
        mconn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_mconn_alloc, on_mconn_read);
}

static void master_tick(rmq_ha_t *ha, uint64_t now) {
    for (mconn_t *c = ha->conns, *n; c; c = n) {
        n = c->next;
        if (now - c->last_read_ms >= (uint64_t)ha->cfg.ha_housekeeping_interval) {
            RMQ_LOG_WARN("ha",
                         "slave %s: no report for %" PRIu64 " ms (haHousekeepingInterval): "
                         "closing",
                         c->addr, now - c->last_read_ms);
            mconn_close(c);
            continue;
        }
        if (c->got_report && c->inflight == 0 &&
            now - c->last_write_ms >= (uint64_t)ha->cfg.ha_send_heartbeat_interval) {
            rmq_store_cl_slice_t none = {0};
            send_frame(c, c->next_off, &none);
            c->last_write_ms = now; /* also when the write is slow: one heartbeat per interval */
        }
    }
    pump_all(ha);
}

/* ---- slave ---------------------------------------------------------------------------------- */

static void slave_close(rmq_ha_t *ha);

static void on_ct_written(uv_write_t *req, int status) {
    ctw_t *w = (ctw_t *)req;
    free(w->data);
    free(w); /* a failure shows on the next read or report */
}

/* Write the slave session's pending ciphertext; false (connection closing) on failure. */
static bool slave_tls_flush(rmq_ha_t *ha) {
    size_t len, cap;
    uint8_t *d = rmq_rem_tls_take(ha->stls, &len, &cap);
    if (!d) return true;
    ctw_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)len);
    if (!w || uv_write(&w->req, (uv_stream_t *)&ha->stcp, &b, 1, on_ct_written) != 0) {
        free(d);
        free(w);
        RMQ_LOG_WARN("ha", "master %s: write failed: reconnecting", ha->master);
        slave_close(ha);
        return false;
    }
    w->data = d;
    return true;
}

static void on_report_written(uv_write_t *req, int status);

/* A report's bytes: plaintext, or encrypted and flushed (then the report counts as written at
 * once: TLS records carry it in order). */
static int write_report(rmq_ha_t *ha) {
    uv_buf_t b = uv_buf_init((char *)ha->rpt, sizeof(ha->rpt));
    if (!ha->stls) {
        ha->rreq.data = ha;
        return uv_write(&ha->rreq, (uv_stream_t *)&ha->stcp, &b, 1, on_report_written);
    }
    char err[200];
    if (rmq_rem_tls_write(ha->stls, &b, 1, err, sizeof err)) return UV_EPROTO;
    ha->s_last_report = now_ms();
    return slave_tls_flush(ha) ? 1 : UV_EPIPE;
}

static void on_report_written(uv_write_t *req, int status) {
    rmq_ha_t *ha = req->data;
    ha->report_inflight = false;
    if (ha->sstate != S_CONNECTED) return;
    if (status < 0) {
        RMQ_LOG_WARN("ha", "master %s: report failed (%s): reconnecting", ha->master,
                     uv_strerror(status));
        slave_close(ha);
        return;
    }
    if (ha->report_pending) {
        ha->report_pending = false;
        int64_t off = rmq_store_cl_repl_offset(ha->store);
        rmq_ha_encode_report(ha->rpt, off);
        if (write_report(ha) == 0) {
            ha->report_inflight = true;
            ha->s_last_report = now_ms();
        }
    }
}

static void send_report(rmq_ha_t *ha) {
    if (ha->sstate != S_CONNECTED || (ha->stls && !ha->s_tls_ready)) return;
    if (ha->report_inflight) {
        ha->report_pending = true;
        return;
    }
    rmq_ha_encode_report(ha->rpt, rmq_store_cl_repl_offset(ha->store));
    int rc = write_report(ha);
    if (rc == 1) return; /* TLS: already handed over */
    if (rc != 0) {
        if (ha->sstate != S_CONNECTED) return;
        RMQ_LOG_WARN("ha", "master %s: report failed (%s): reconnecting", ha->master,
                     uv_strerror(rc));
        slave_close(ha);
        return;
    }
    ha->report_inflight = true;
    ha->s_last_report = now_ms();
}

static void on_slave_closed(uv_handle_t *h) {
    rmq_ha_t *ha = h->data;
    rmq_rem_tls_destroy(ha->stls);
    ha->stls = NULL;
    ha->s_tls_ready = false;
    rmq_buf_fini(&ha->splain);
    ha->sstate = S_IDLE;
    ha->next_connect_ms = now_ms() + (uint64_t)ha->cfg.ha_reconnect_interval;
}

static void slave_close(rmq_ha_t *ha) {
    if (ha->sstate != S_CONNECTED && ha->sstate != S_CONNECTING) return;
    ha->sstate = S_CLOSING;
    atomic_store(&ha->s_connected, false);
    uv_close((uv_handle_t *)&ha->stcp, on_slave_closed);
}

/* Inside a frame body the socket is read straight into the CommitLog mapping (one copy, the
 * kernel's); headers are read on their own, 12 bytes at most, so a body never lands there. */
static void on_slave_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf) {
    rmq_ha_t *ha = h->data;
    if (ha->stls) {
        uint8_t *p = rmq_rem_tls_in_space(ha->stls, SLAVE_RBUF);
        *buf = p ? uv_buf_init((char *)p, SLAVE_RBUF) : uv_buf_init(NULL, 0);
        return;
    }
    if (ha->sstate == S_CONNECTED && ha->body_left > 0) {
        uint8_t *p;
        size_t room;
        if (rmq_store_cl_append_buf(ha->store, ha->frame_off, &p, &room) == RMQ_OK && room > 0) {
            *buf = uv_buf_init((char *)p, (unsigned)RMQ_MIN(room, (size_t)ha->body_left));
            return;
        }
    }
    *buf = uv_buf_init((char *)ha->sbuf,
                       ha->body_left > 0 ? SLAVE_RBUF : (unsigned)(RMQ_HA_HEADER_SIZE - ha->hdr_n));
}

/* A complete frame header: false when the connection must go. */
static bool on_header(rmq_ha_t *ha, int64_t start, int32_t size) {
    int64_t mine = rmq_store_cl_repl_offset(ha->store);
    if (size < 0 || size > MAX_FRAME_BODY || start < 0) {
        RMQ_LOG_WARN("ha",
                     "master %s: bad frame header (offset %" PRId64 ", size %" PRId32
                     "): reconnecting",
                     ha->master, start, size);
        return false;
    }
    if (mine != 0 && start != mine) {
        if (start < mine) {
            if (!ha->behind_logged)
                RMQ_LOG_ERROR("ha",
                              "master %s is behind this slave: it is at offset %" PRId64
                              ", our CommitLog ends at %" PRId64 "; refusing it (retrying every %d"
                              " ms)",
                              ha->master, start, mine, ha->cfg.ha_reconnect_interval);
            ha->behind_logged = true;
        } else {
            RMQ_LOG_WARN("ha",
                         "master %s sent offset %" PRId64 ", our CommitLog ends at %" PRId64
                         ": reconnecting",
                         ha->master, start, mine);
        }
        return false;
    }
    ha->behind_logged = false;
    ha->body_left = size;
    ha->frame_off = start;
    return true;
}

static void slave_consume(rmq_ha_t *ha, const uint8_t *p, size_t left);

/* TLS input from the master: handshake (then the first report), then frames. */
static void slave_tls_input(rmq_ha_t *ha) {
    char err[300];
    if (!ha->s_tls_ready) {
        int r = rmq_rem_tls_handshake(ha->stls, err, sizeof err);
        if (!slave_tls_flush(ha)) return;
        if (r < 0) {
            RMQ_LOG_WARN("ha", "master %s: TLS handshake failed: %s (retrying in %d ms)",
                         ha->master, err, ha->cfg.ha_reconnect_interval);
            slave_close(ha);
            return;
        }
        if (r == 0) return;
        ha->s_tls_ready = true;
        RMQ_LOG_INFO("ha", "master %s: TLS established", ha->master);
        send_report(ha);
        if (ha->sstate != S_CONNECTED) return;
    }
    int r = rmq_rem_tls_read(ha->stls, &ha->splain, err, sizeof err);
    if (!slave_tls_flush(ha)) return;
    if (r < 0) {
        RMQ_LOG_WARN("ha", "master %s: %s: reconnecting", ha->master, err);
        slave_close(ha);
        return;
    }
    size_t n = rmq_buf_unread(&ha->splain);
    atomic_fetch_add_explicit(&ha->bytes_received, (uint64_t)n, memory_order_relaxed);
    slave_consume(ha, rmq_buf_rptr(&ha->splain), n);
    if (ha->sstate == S_CONNECTED) rmq_buf_reset(&ha->splain);
}

static void on_slave_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    rmq_ha_t *ha = st->data;
    if (n == 0 || ha->sstate != S_CONNECTED) return;
    if (n < 0) {
        if (n == UV_EOF)
            RMQ_LOG_WARN("ha", "master %s closed the connection", ha->master);
        else
            RMQ_LOG_WARN("ha", "master %s: read failed (%s)", ha->master, uv_strerror((int)n));
        slave_close(ha);
        return;
    }
    ha->s_last_read = now_ms();
    if (ha->stls) {
        rmq_rem_tls_in_commit(ha->stls, (size_t)n);
        slave_tls_input(ha);
        return;
    }
    atomic_fetch_add_explicit(&ha->bytes_received, (uint64_t)n, memory_order_relaxed);
    slave_consume(ha, (const uint8_t *)buf->base, (size_t)n);
}

/* Frames from the master (headers, bodies appended to the CommitLog); a report when the
 * offset moved. */
static void slave_consume(rmq_ha_t *ha, const uint8_t *p, size_t left) {
    int64_t before = rmq_store_cl_repl_offset(ha->store);
    while (left > 0) {
        if (ha->body_left == 0) {
            size_t k = RMQ_MIN(left, (size_t)(RMQ_HA_HEADER_SIZE - ha->hdr_n));
            memcpy(ha->hdr + ha->hdr_n, p, k);
            ha->hdr_n += (int)k;
            p += k;
            left -= k;
            if (ha->hdr_n < RMQ_HA_HEADER_SIZE) break;
            ha->hdr_n = 0;
            int64_t start;
            int32_t size;
            rmq_ha_decode_header(ha->hdr, &start, &size);
            if (!on_header(ha, start, size)) {
                slave_close(ha);
                return;
            }
            continue;
        }
        size_t k = (size_t)RMQ_MIN((int64_t)left, ha->body_left);
        rmq_err_t e = rmq_store_cl_append(ha->store, ha->frame_off, p, k);
        if (e != RMQ_OK) {
            RMQ_LOG_WARN("ha",
                         "master %s: cannot append %zu bytes at %" PRId64 " (%s): "
                         "reconnecting",
                         ha->master, k, ha->frame_off, rmq_strerror(e));
            slave_close(ha);
            return;
        }
        ha->frame_off += (int64_t)k;
        ha->body_left -= (int64_t)k;
        p += k;
        left -= k;
    }
    if (rmq_store_cl_repl_offset(ha->store) != before) send_report(ha);
}

static void on_slave_connect(uv_connect_t *req, int status) {
    rmq_ha_t *ha = req->data;
    if (ha->sstate != S_CONNECTING) return;
    if (status < 0) {
        RMQ_LOG_WARN("ha", "cannot connect to master %s: %s (retrying in %d ms)", ha->master,
                     uv_strerror(status), ha->cfg.ha_reconnect_interval);
        slave_close(ha);
        return;
    }
    ha->sstate = S_CONNECTED;
    atomic_store(&ha->s_connected, true);
    ha->hdr_n = 0;
    ha->body_left = 0;
    ha->report_pending = false;
    ha->s_last_read = now_ms();
    uv_tcp_nodelay(&ha->stcp, 1);
    RMQ_LOG_INFO("ha", "connected to master %s, reporting offset %" PRId64, ha->master,
                 rmq_store_cl_repl_offset(ha->store));
    if (ha->tls_cli && !(ha->stls = rmq_rem_tls_new(ha->tls_cli))) {
        slave_close(ha);
        return;
    }
    uv_read_start((uv_stream_t *)&ha->stcp, on_slave_alloc, on_slave_read);
    if (ha->stls)
        slave_tls_input(ha); /* the hello; reports wait for the handshake */
    else
        send_report(ha);
}

static bool parse_addr(const char *addr, struct sockaddr_storage *sa) {
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host)) return false;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    int64_t port;
    if (rmq_parse_i64(colon + 1, &port) != 0 || port <= 0 || port > 65535) return false;
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0) return true;
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0;
}

static void slave_connect(rmq_ha_t *ha) {
    struct sockaddr_storage sa;
    if (!parse_addr(ha->master, &sa)) {
        RMQ_LOG_WARN("ha", "master address \"%s\" is not ip:port (haMasterAddress)", ha->master);
        ha->next_connect_ms = now_ms() + (uint64_t)ha->cfg.ha_reconnect_interval;
        return;
    }
    uv_tcp_init(&ha->loop, &ha->stcp);
    ha->stcp.data = ha;
    ha->creq.data = ha;
    ha->sstate = S_CONNECTING;
    ha->s_connect_start = now_ms();
    atomic_fetch_add(&ha->reconnects, 1);
    int rc = uv_tcp_connect(&ha->creq, &ha->stcp, (struct sockaddr *)&sa, on_slave_connect);
    if (rc != 0) {
        RMQ_LOG_WARN("ha", "cannot connect to master %s: %s", ha->master, uv_strerror(rc));
        slave_close(ha);
    }
}

static void slave_tick(rmq_ha_t *ha, uint64_t now) {
    uint64_t hk = (uint64_t)ha->cfg.ha_housekeeping_interval;
    if (ha->sstate == S_CONNECTED) {
        if (now - ha->s_last_read >= hk) {
            RMQ_LOG_WARN("ha", "master %s silent for %" PRIu64 " ms: reconnecting", ha->master,
                         now - ha->s_last_read);
            slave_close(ha);
        } else if (ha->report_inflight && now - ha->s_last_report >= hk) {
            RMQ_LOG_WARN("ha", "master %s: no report written for %" PRIu64 " ms: reconnecting",
                         ha->master, now - ha->s_last_report);
            slave_close(ha);
        } else if (now - ha->s_last_report >= (uint64_t)ha->cfg.ha_send_heartbeat_interval) {
            send_report(ha);
        }
    } else if (ha->sstate == S_CONNECTING) {
        if (now - ha->s_connect_start >= hk) slave_close(ha);
    } else if (ha->sstate == S_IDLE && ha->master[0] && now >= ha->next_connect_ms) {
        slave_connect(ha);
    }
}

/* ---- loop ----------------------------------------------------------------------------------- */

static void update_stats(rmq_ha_t *ha, uint64_t now) {
    rmq_ha_stats_t st;
    memset(&st, 0, sizeof(st));
    st.role = ha->role;
    if (ha->role == RMQ_HA_MASTER) {
        st.master_max_offset = rmq_store_commitlog_max_offset(ha->store);
        for (mconn_t *c = ha->conns; c; c = c->next) {
            st.connections++;
            if (st.nslaves == RMQ_HA_MAX_SLAVE_INFO) continue;
            rmq_ha_slave_info_t *si = &st.slaves[st.nslaves++];
            rmq_strlcpy(si->addr, c->addr, sizeof(si->addr));
            si->ack_offset = c->ack;
            si->behind_bytes = st.master_max_offset - c->ack;
            si->behind_ms = c->ack >= st.master_max_offset ? 0 : (int64_t)(now - c->caught_up_ms);
            si->next_offset = c->next_off;
            si->bytes_sent = c->bytes_sent;
        }
    } else {
        rmq_strlcpy(st.master_addr, ha->master, sizeof(st.master_addr));
    }
    pthread_mutex_lock(&ha->stats_mu);
    ha->snap = st;
    pthread_mutex_unlock(&ha->stats_mu);
}

static void on_tick(uv_timer_t *t) {
    rmq_ha_t *ha = t->data;
    uint64_t now = now_ms();
    if (ha->role == RMQ_HA_MASTER)
        master_tick(ha, now);
    else
        slave_tick(ha, now);
    update_stats(ha, now);
}

static void close_all(rmq_ha_t *ha) {
    ha->closing = true;
    uv_timer_stop(&ha->tick);
    uv_close((uv_handle_t *)&ha->tick, NULL);
    uv_timer_stop(&ha->wait_timer);
    uv_close((uv_handle_t *)&ha->wait_timer, NULL);
    if (ha->notify_on) {
        uv_poll_stop(&ha->notify);
        uv_close((uv_handle_t *)&ha->notify, NULL);
    }
    if (ha->listening) uv_close((uv_handle_t *)&ha->listener, NULL);
    while (ha->conns) mconn_close(ha->conns);
    slave_close(ha);
    rmq_mailbox_close(&ha->mbox, NULL); /* queued waits complete below */
    for (size_t i = 0; i < ha->wn; i++) finish(ha, &ha->waits[i], RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
    ha->wn = 0;
    uv_close((uv_handle_t *)&ha->ctl, NULL);
}

static void on_ctl(uv_async_t *a) {
    rmq_ha_t *ha = a->data;
    pthread_mutex_lock(&ha->mu);
    bool stop = ha->stop, changed = ha->master_changed;
    char addr[64];
    memcpy(addr, ha->new_master, sizeof(addr));
    ha->master_changed = false;
    pthread_mutex_unlock(&ha->mu);
    if (ha->closing) return;
    if (stop) {
        close_all(ha);
        return;
    }
    if (changed && strcmp(addr, ha->master) != 0) {
        RMQ_LOG_INFO("ha", "master address: \"%s\" -> \"%s\"", ha->master, addr);
        memcpy(ha->master, addr, sizeof(ha->master));
        slave_close(ha);
        ha->next_connect_ms = 0;
        if (ha->sstate == S_IDLE && ha->master[0]) slave_connect(ha);
    }
}

static void ha_main(void *arg) {
    rmq_ha_t *ha = arg;
    pthread_setname_np(pthread_self(),
                       ha->role == RMQ_HA_MASTER ? "rmq-ha-master" : "rmq-ha-slave");
    /* a peer gone mid-write is EPIPE on this thread, not a SIGPIPE killing the process */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (ha->role == RMQ_HA_SLAVE && ha->master[0]) slave_connect(ha);
    uv_run(&ha->loop, UV_RUN_DEFAULT);
}

static void ha_free(rmq_ha_t *ha) {
    rmq_ha_cfg_free(&ha->cfg);
    free(ha->waits);
    free(ha->sbuf);
    rmq_rem_tls_ctx_destroy(ha->tls_srv);
    rmq_rem_tls_ctx_destroy(ha->tls_cli);
    pthread_mutex_destroy(&ha->mu);
    pthread_mutex_destroy(&ha->stats_mu);
    free(ha);
}

rmq_err_t rmq_ha_start(const rmq_ha_cfg_t *cfg, rmq_store_t *store, rmq_ha_role_t role,
                       rmq_ha_deliver_fn deliver, void *deliver_arg, rmq_ha_t **out) {
    *out = NULL;
    rmq_ha_t *ha = calloc(1, sizeof(*ha));
    if (!ha) return RMQ_ERR__NOMEM;
    ha->cfg = *cfg;
    ha->cfg.ha_listen_host = strdup(cfg->ha_listen_host ? cfg->ha_listen_host : "0.0.0.0");
    ha->cfg.ha_master_address = strdup(cfg->ha_master_address ? cfg->ha_master_address : "");
    ha->store = store;
    ha->role = role;
    ha->deliver = deliver;
    ha->deliver_arg = deliver_arg;
    pthread_mutex_init(&ha->mu, NULL);
    pthread_mutex_init(&ha->stats_mu, NULL);
    if (!ha->cfg.ha_listen_host || !ha->cfg.ha_master_address) {
        ha_free(ha);
        return RMQ_ERR__NOMEM;
    }
    ha->cfg.tls = NULL;
    if (cfg->tls) {
        char err[300];
        ha->tls_mode = role == RMQ_HA_MASTER ? cfg->tls->server_mode : RMQ_REM_TLS_DISABLED;
        if ((ha->tls_mode != RMQ_REM_TLS_DISABLED &&
             rmq_rem_tls_ctx_new(cfg->tls, true, &ha->tls_srv, err, sizeof err)) ||
            (role == RMQ_HA_SLAVE && cfg->tls->enable &&
             rmq_rem_tls_ctx_new(cfg->tls, false, &ha->tls_cli, err, sizeof err))) {
            RMQ_LOG_ERROR("ha", "TLS: %s", err);
            ha_free(ha);
            return RMQ_ERR__CONFIG;
        }
    }
    if (ha->cfg.ha_transfer_batch_size <= 0) ha->cfg.ha_transfer_batch_size = 32768;
    if (ha->cfg.ha_reconnect_interval <= 0) ha->cfg.ha_reconnect_interval = 5000;
    rmq_strlcpy(ha->master, ha->cfg.ha_master_address, sizeof(ha->master));
    int mi = RMQ_MIN(ha->cfg.ha_send_heartbeat_interval, ha->cfg.ha_housekeeping_interval);
    ha->tick_ms = RMQ_MAX(10, RMQ_MIN(1000, mi / 4));
    if (role == RMQ_HA_SLAVE && !(ha->sbuf = malloc(SLAVE_RBUF))) {
        ha_free(ha);
        return RMQ_ERR__NOMEM;
    }
    int rc = uv_loop_init(&ha->loop);
    if (rc != 0) {
        ha_free(ha);
        return RMQ_ERR__FAIL;
    }
    uv_async_init(&ha->loop, &ha->ctl, on_ctl);
    ha->ctl.data = ha;
    rmq_mailbox_init(&ha->mbox, &ha->loop, on_wait_posted, ha);
    uv_timer_init(&ha->loop, &ha->tick);
    ha->tick.data = ha;
    uv_timer_init(&ha->loop, &ha->wait_timer);
    ha->wait_timer.data = ha;
    rmq_err_t err = RMQ_OK;
    if (role == RMQ_HA_MASTER) {
        if (uv_poll_init(&ha->loop, &ha->notify, rmq_store_notify_fd(store)) == 0) {
            ha->notify.data = ha;
            ha->notify_on = true;
            uv_poll_start(&ha->notify, UV_READABLE, on_notify);
        }
        struct sockaddr_storage sa;
        const char *host = ha->cfg.ha_listen_host;
        int port = ha->cfg.ha_listen_port;
        uv_tcp_init(&ha->loop, &ha->listener);
        ha->listener.data = ha;
        ha->listening = true;
        if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
            uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
            RMQ_LOG_ERROR("ha", "bad HA listen address %s (haListenHost)", host);
            err = RMQ_ERR__CONFIG;
        } else if ((rc = uv_tcp_bind(&ha->listener, (struct sockaddr *)&sa, 0)) != 0 ||
                   (rc = uv_listen((uv_stream_t *)&ha->listener, 16, on_accept)) != 0) {
            RMQ_LOG_ERROR("ha", "cannot listen on %s:%d (haListenPort): %s", host, port,
                          uv_strerror(rc));
            err = RMQ_ERR__IO;
        } else {
            int len = sizeof(sa);
            uv_tcp_getsockname(&ha->listener, (struct sockaddr *)&sa, &len);
            ha->port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    if (err == RMQ_OK) {
        uv_timer_start(&ha->tick, on_tick, (uint64_t)ha->tick_ms, (uint64_t)ha->tick_ms);
        update_stats(ha, now_ms());
        if (uv_thread_create(&ha->thr, ha_main, ha) != 0) err = RMQ_ERR__FAIL;
    }
    if (err != RMQ_OK) {
        close_all(ha);
        uv_run(&ha->loop, UV_RUN_DEFAULT);
        uv_loop_close(&ha->loop);
        ha_free(ha);
        return err;
    }
    if (role == RMQ_HA_MASTER)
        RMQ_LOG_INFO("ha", "HA master listening on %s:%d", ha->cfg.ha_listen_host, ha->port);
    *out = ha;
    return RMQ_OK;
}

int rmq_ha_port(const rmq_ha_t *ha) {
    return ha->port;
}

void rmq_ha_set_master(rmq_ha_t *ha, const char *addr) {
    pthread_mutex_lock(&ha->mu);
    rmq_strlcpy(ha->new_master, addr ? addr : "", sizeof(ha->new_master));
    ha->master_changed = true;
    pthread_mutex_unlock(&ha->mu);
    uv_async_send(&ha->ctl);
}

void rmq_ha_shutdown(rmq_ha_t *ha) {
    if (!ha) return;
    pthread_mutex_lock(&ha->mu);
    ha->stop = true;
    pthread_mutex_unlock(&ha->mu);
    uv_async_send(&ha->ctl);
    uv_thread_join(&ha->thr);
    if (uv_loop_close(&ha->loop) != 0) RMQ_LOG_WARN("ha", "[BUG] HA loop closed with live handles");
    ha_free(ha);
}

void rmq_ha_get_stats(rmq_ha_t *ha, rmq_ha_stats_t *out) {
    pthread_mutex_lock(&ha->stats_mu);
    *out = ha->snap;
    pthread_mutex_unlock(&ha->stats_mu);
    out->acked_max_offset = atomic_load(&ha->acked_max);
    out->bytes_sent = atomic_load(&ha->bytes_sent);
    if (ha->role == RMQ_HA_MASTER) {
        out->master_max_offset = rmq_store_commitlog_max_offset(ha->store);
    } else {
        out->connected = atomic_load(&ha->s_connected);
        out->repl_offset = rmq_store_cl_repl_offset(ha->store);
        out->bytes_received = atomic_load(&ha->bytes_received);
        out->reconnects = atomic_load(&ha->reconnects);
    }
}
