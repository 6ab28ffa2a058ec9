/* Unit and loopback tests for broker/ha (broker.md 9.2, 9.3): golden wire bytes; a scripted fake
 * slave against the real master and a scripted fake master against the real slave, over real
 * sockets; a master and a slave store replicating 20,000 messages on 127.0.0.1, with a slave
 * restart mid-transfer, SYNC_MASTER waits (OK, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT through
 * the fault proxy's stall) and garbage on the HA port. Intervals are shortened through the cfg. */
#include "test_store_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "broker/ha.h"
#include "test/fault/fault_proxy.h"

#define SEG (64 * 1024)

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct {
    char *mdir, *sdir;
    rmq_store_cfg_t mcfg, scfg;
    rmq_ha_cfg_t hcfg;
} hfx_t;

static int setup(void **st) {
    hfx_t *fx = calloc(1, sizeof(*fx));
    fx->mdir = mk_tmpdir();
    fx->sdir = mk_tmpdir();
    test_cfg(&fx->mcfg, fx->mdir, SEG, RMQ_FLUSH_ASYNC);
    test_cfg(&fx->scfg, fx->sdir, SEG, RMQ_FLUSH_ASYNC);
    rmq_ha_cfg_defaults(&fx->hcfg);
    free(fx->hcfg.ha_listen_host);
    fx->hcfg.ha_listen_host = strdup("127.0.0.1");
    fx->hcfg.ha_listen_port = 0;
    fx->hcfg.ha_send_heartbeat_interval = 300;
    fx->hcfg.ha_housekeeping_interval = 1500;
    fx->hcfg.ha_reconnect_interval = 200;
    *st = fx;
    return 0;
}

static int teardown(void **st) {
    hfx_t *fx = *st;
    rm_rf(fx->mdir);
    rm_rf(fx->sdir);
    free(fx->mdir);
    free(fx->sdir);
    rmq_store_cfg_free(&fx->mcfg);
    rmq_store_cfg_free(&fx->scfg);
    rmq_ha_cfg_free(&fx->hcfg);
    free(fx);
    return 0;
}

static void put_msgs(rmq_store_t *m, int from, int n, size_t base_len) {
    for (int i = from; i < from + n; i++) {
        char topic[8];
        snprintf(topic, sizeof(topic), "T%d", i % 2);
        assert_int_equal(
            put_n(m, topic, i % 4, i, base_len + (size_t)(i * 37) % 300, "TAGS\001a", NULL),
            RMQ_OK);
    }
}

static void set_master(rmq_ha_cfg_t *c, int port) {
    char a[64];
    snprintf(a, sizeof(a), "127.0.0.1:%d", port);
    free(c->ha_master_address);
    c->ha_master_address = strdup(a);
}

static bool wait_caught_up(rmq_store_t *m, rmq_store_t *s, int ms) {
    for (int i = 0; i < ms / 5; i++) {
        if (rmq_store_commitlog_max_offset(s) == rmq_store_commitlog_max_offset(m) &&
            rmq_store_cl_repl_offset(s) == rmq_store_commitlog_max_offset(m))
            return true;
        usleep(5000);
    }
    return false;
}

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static int tcp_listen(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void set_timeout(int fd, int ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Read exactly n bytes: n, 0 on EOF, -1 on timeout/error. */
static ssize_t recv_all(int fd, void *buf, size_t n, int ms) {
    set_timeout(fd, ms);
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r == 0) return 0;
        if (r < 0) return -1;
        got += (size_t)r;
    }
    return (ssize_t)n;
}

static void send_report(int fd, int64_t off) {
    uint8_t b[8];
    rmq_ha_encode_report(b, off);
    assert_int_equal(send(fd, b, 8, MSG_NOSIGNAL), 8);
}

/* Read one frame header (and skip its body); returns false on EOF/timeout. */
static bool read_frame(int fd, int64_t *start, int32_t *size, uint8_t *body, int ms) {
    uint8_t h[12];
    if (recv_all(fd, h, 12, ms) != 12) return false;
    rmq_ha_decode_header(h, start, size);
    if (*size == 0) return true;
    uint8_t *tmp = body ? body : malloc((size_t)*size);
    bool ok = recv_all(fd, tmp, (size_t)*size, ms) == *size;
    if (!body) free(tmp);
    return ok;
}

/* The connection is closed by the peer within ms (bytes before EOF are skipped). */
static bool closed_within(int fd, int ms) {
    set_timeout(fd, ms);
    char b[4096];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r == 0) return true;
        if (r < 0) return errno == ECONNRESET;
    }
}

/* ---- golden bytes --------------------------------------------------------------------------- */

static void test_wire_golden(void **st) {
    (void)st;
    uint8_t r[8], h[12];
    rmq_ha_encode_report(r, 0x0102030405060708LL);
    const uint8_t want_r[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(r, want_r, 8);
    assert_int_equal(rmq_ha_decode_report(r), 0x0102030405060708LL);
    rmq_ha_encode_report(r, 1073741824LL); /* a 1 GiB segment start */
    const uint8_t want_g[8] = {0, 0, 0, 0, 0x40, 0, 0, 0};
    assert_memory_equal(r, want_g, 8);
    rmq_ha_encode_header(h, 0x1122334455667788LL, 32768);
    const uint8_t want_h[12] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0x80, 0};
    assert_memory_equal(h, want_h, 12);
    int64_t s;
    int32_t n;
    rmq_ha_decode_header(h, &s, &n);
    assert_int_equal(s, 0x1122334455667788LL);
    assert_int_equal(n, 32768);
    rmq_ha_encode_header(h, 42, 0); /* heartbeat */
    const uint8_t want_hb[12] = {0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0};
    assert_memory_equal(h, want_hb, 12);
}

static void test_cfg_defaults(void **st) {
    (void)st;
    rmq_ha_cfg_t c;
    rmq_ha_cfg_defaults(&c);
    assert_int_equal(c.ha_listen_port, 10912);
    assert_int_equal(c.ha_send_heartbeat_interval, 5000);
    assert_int_equal(c.ha_housekeeping_interval, 20000);
    assert_int_equal(c.ha_transfer_batch_size, 32768);
    assert_int_equal(c.ha_slave_fallbehind_max, 256LL * 1024 * 1024);
    assert_int_equal(c.slave_timeout, 3000);
    assert_false(c.ha_new_slave_from_min_offset);
    assert_int_equal(c.ha_reconnect_interval, 5000);
    rmq_ha_cfg_free(&c);
}

/* ---- fake slave against the real master ------------------------------------------------------ */

static void test_master_scripted(void **st) {
    hfx_t *fx = *st;
    rmq_store_t *m = open_store(&fx->mcfg, true);
    put_msgs(m, 0, 600, 200);
    int64_t max = rmq_store_commitlog_max_offset(m);
    int64_t last = rmq_store_cl_last_segment_start(m);
    assert_true(last >= 3 * SEG);
    rmq_ha_t *ha;
    assert_int_equal(rmq_ha_start(&fx->hcfg, m, RMQ_HA_MASTER, NULL, NULL, &ha), RMQ_OK);
    int port = rmq_ha_port(ha);
    assert_true(port > 0);
    /* the port is taken: a second master fails to start, cleanly */
    rmq_ha_t *ha2 = NULL;
    int saved = fx->hcfg.ha_listen_port;
    fx->hcfg.ha_listen_port = port;
    assert_int_equal(rmq_ha_start(&fx->hcfg, m, RMQ_HA_MASTER, NULL, NULL, &ha2), RMQ_ERR__IO);
    assert_null(ha2);
    fx->hcfg.ha_listen_port = saved;

    /* a new slave (report 0) starts at the start of the last segment, frames <= batch size */
    int fd = tcp_connect(port);
    send_report(fd, 0);
    int64_t next = last, start;
    int32_t size;
    uint8_t *body = malloc(1 << 20);
    while (next < max) {
        assert_true(read_frame(fd, &start, &size, body, 2000));
        if (size == 0) continue;
        assert_int_equal(start, next);
        assert_true(size <= fx->hcfg.ha_transfer_batch_size);
        rmq_store_cl_slice_t sl;
        assert_int_equal(rmq_store_cl_read(m, start, (size_t)size, &sl), RMQ_OK);
        assert_int_equal(sl.len, (size_t)size);
        assert_memory_equal(sl.data, body, (size_t)size);
        rmq_store_cl_slice_release(&sl);
        next += size;
    }
    send_report(fd, max);
    /* silence: a heartbeat [next][0] after haSendHeartbeatInterval */
    uint64_t t0 = rmq_mono_ms();
    assert_true(read_frame(fd, &start, &size, NULL, 2000));
    assert_int_equal(size, 0);
    assert_int_equal(start, max);
    assert_true(rmq_mono_ms() - t0 >= 200);
    rmq_ha_stats_t hs;
    usleep(200000);
    rmq_ha_get_stats(ha, &hs);
    assert_int_equal(hs.connections, 1);
    assert_int_equal(hs.acked_max_offset, max);
    assert_int_equal(hs.slaves[0].ack_offset, max);
    assert_int_equal(hs.slaves[0].behind_bytes, 0);
    assert_true(hs.bytes_sent >= (uint64_t)(max - last));
    /* new data wakes the writer */
    put_msgs(m, 600, 1, 200);
    assert_true(read_frame(fd, &start, &size, NULL, 2000));
    while (size == 0) assert_true(read_frame(fd, &start, &size, NULL, 2000));
    assert_int_equal(start, max);
    max = rmq_store_commitlog_max_offset(m);
    assert_int_equal(start + size, max);
    /* a report beyond the master's max: one heartbeat naming the master's offset, then closed */
    send_report(fd, max + 1);
    assert_true(read_frame(fd, &start, &size, NULL, 2000));
    assert_int_equal(size, 0);
    assert_int_equal(start, max);
    assert_true(closed_within(fd, 2000));
    close(fd);

    /* a slave with history starts at its offset */
    fd = tcp_connect(port);
    send_report(fd, SEG + 5);
    assert_true(read_frame(fd, &start, &size, NULL, 2000));
    assert_int_equal(start, SEG + 5);
    assert_int_equal(size, fx->hcfg.ha_transfer_batch_size);
    close(fd);

    /* a connection that never reports is closed after haHousekeepingInterval */
    fd = tcp_connect(port);
    t0 = rmq_mono_ms();
    assert_true(closed_within(fd, 4000));
    assert_true(rmq_mono_ms() - t0 >= 1000);
    close(fd);
    free(body);
    rmq_ha_shutdown(ha);
    rmq_store_close(m);
}

static void test_master_new_slave_from_min(void **st) {
    hfx_t *fx = *st;
    fx->hcfg.ha_new_slave_from_min_offset = true;
    rmq_store_t *m = open_store(&fx->mcfg, true);
    put_msgs(m, 0, 300, 200);
    rmq_ha_t *ha;
    assert_int_equal(rmq_ha_start(&fx->hcfg, m, RMQ_HA_MASTER, NULL, NULL, &ha), RMQ_OK);
    int fd = tcp_connect(rmq_ha_port(ha));
    send_report(fd, 0);
    int64_t start;
    int32_t size;
    assert_true(read_frame(fd, &start, &size, NULL, 2000));
    assert_int_equal(start, 0);
    close(fd);
    rmq_ha_shutdown(ha);
    rmq_store_close(m);
}

/* ---- fake master against the real slave ------------------------------------------------------ */

static int accept_to(int lfd, int ms) {
    set_timeout(lfd, ms);
    return accept(lfd, NULL, NULL);
}

static void send_frame(int fd, int64_t start, const void *body, int32_t n) {
    uint8_t h[12];
    rmq_ha_encode_header(h, start, n);
    assert_int_equal(send(fd, h, 12, MSG_NOSIGNAL), 12);
    if (n) assert_int_equal(send(fd, body, (size_t)n, MSG_NOSIGNAL), n);
}

static int64_t read_report(int fd, int ms) {
    uint8_t b[8];
    if (recv_all(fd, b, 8, ms) != 8) return -1;
    return rmq_ha_decode_report(b);
}

/* Reports until one equals want (reports are periodic too). */
static bool report_reaches(int fd, int64_t want, int ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)ms;
    while (rmq_mono_ms() < end) {
        int64_t r = read_report(fd, ms);
        if (r == want) return true;
        if (r < 0) return false;
    }
    return false;
}

static void test_slave_scripted(void **st) {
    hfx_t *fx = *st;
    rmq_store_t *m = open_store(&fx->mcfg, true); /* the bytes the fake master sends */
    put_msgs(m, 0, 200, 200);
    rmq_store_t *s = open_store(&fx->scfg, true);
    int lport;
    int lfd = tcp_listen(&lport);
    set_master(&fx->hcfg, lport);
    rmq_ha_t *ha;
    assert_int_equal(rmq_ha_start(&fx->hcfg, s, RMQ_HA_SLAVE, NULL, NULL, &ha), RMQ_OK);
    int fd = accept_to(lfd, 3000);
    assert_true(fd >= 0);
    /* the first report comes right after connecting */
    uint64_t t0 = rmq_mono_ms();
    assert_int_equal(read_report(fd, 1000), 0);
    assert_true(rmq_mono_ms() - t0 < 250);
    /* a frame ending mid-record: appended, reported */
    rmq_store_cl_slice_t sl;
    assert_int_equal(rmq_store_cl_read(m, 0, 5000, &sl), RMQ_OK);
    send_frame(fd, 0, sl.data, (int32_t)sl.len);
    rmq_store_cl_slice_release(&sl);
    assert_true(report_reaches(fd, 5000, 2000));
    assert_int_equal(rmq_store_cl_repl_offset(s), 5000);
    /* a heartbeat at its offset is fine; reports keep coming every interval */
    send_frame(fd, 5000, NULL, 0);
    assert_int_equal(read_report(fd, 1000), 5000);
    /* a frame at the wrong offset (ahead): the slave closes and reconnects, re-reporting */
    assert_int_equal(rmq_store_cl_read(m, 5000, 100, &sl), RMQ_OK);
    send_frame(fd, 5100, sl.data, (int32_t)sl.len);
    assert_true(closed_within(fd, 2000));
    close(fd);
    fd = accept_to(lfd, 3000);
    assert_true(fd >= 0);
    assert_int_equal(read_report(fd, 1000), 5000);
    send_frame(fd, 5000, sl.data, (int32_t)sl.len);
    rmq_store_cl_slice_release(&sl);
    assert_true(report_reaches(fd, 5100, 2000));
    /* a master behind the slave is refused */
    send_frame(fd, 4000, NULL, 0);
    assert_true(closed_within(fd, 2000));
    close(fd);
    fd = accept_to(lfd, 3000);
    assert_true(fd >= 0);
    assert_int_equal(read_report(fd, 1000), 5100);
    rmq_ha_stats_t hs;
    rmq_ha_get_stats(ha, &hs);
    assert_true(hs.reconnects >= 3);
    assert_int_equal(hs.repl_offset, 5100);
    /* a silent master is given up after haHousekeepingInterval */
    t0 = rmq_mono_ms();
    assert_true(closed_within(fd, 4000));
    assert_true(rmq_mono_ms() - t0 >= 1000);
    close(fd);
    rmq_ha_shutdown(ha);
    close(lfd);
    rmq_store_close(s);
    rmq_store_close(m);
}

/* ---- loopback end to end --------------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)l + 1);
    assert_int_equal(fread(b, 1, (size_t)l, f), (size_t)l);
    fclose(f);
    *n = (size_t)l;
    return b;
}

static bool all_zero(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* Segment files byte-identical; a file only one side has must be empty (allocated ahead). */
static int compare_commitlogs(const char *mdir, const char *sdir) {
    char md[512], sd[512];
    snprintf(md, sizeof(md), "%s/commitlog", mdir);
    snprintf(sd, sizeof(sd), "%s/commitlog", sdir);
    int same = 0;
    for (int side = 0; side < 2; side++) {
        DIR *d = opendir(side ? md : sd);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strlen(de->d_name) != 20) continue;
            char a[1024], b[1024];
            snprintf(a, sizeof(a), "%s/%s", md, de->d_name);
            snprintf(b, sizeof(b), "%s/%s", sd, de->d_name);
            size_t na = 0, nb = 0;
            uint8_t *ba = slurp(a, &na), *bb = slurp(b, &nb);
            if (ba && bb) {
                if (side == 0) {
                    assert_int_equal(na, nb);
                    if (memcmp(ba, bb, na) != 0) fail_msg("%s differs", de->d_name);
                    same++;
                }
            } else if (!all_zero(ba ? ba : bb, ba ? na : nb)) {
                fail_msg("%s only on one side", de->d_name);
            }
            free(ba);
            free(bb);
        }
        closedir(d);
    }
    return same;
}

/* Every message of the master is served by the slave's ConsumeQueues, same bytes. */
static int verify_queues(rmq_store_t *m, rmq_store_t *s) {
    int total = 0;
    for (int t = 0; t < 2; t++)
        for (int q = 0; q < 4; q++) {
            char topic[8];
            snprintf(topic, sizeof(topic), "T%d", t);
            int64_t mmax = rmq_store_max_offset(m, topic, q);
            assert_int_equal(rmq_store_max_offset(s, topic, q), mmax);
            assert_int_equal(rmq_store_min_offset(s, topic, q), 0);
            for (int64_t o = 0; o < mmax;) {
                rmq_store_get_t *gs, *gm;
                assert_int_equal(rmq_store_get(s, topic, q, o, 32, 0, NULL, &gs), RMQ_OK);
                assert_int_equal(gs->status, RMQ_GET_FOUND);
                assert_int_equal(rmq_store_get(m, topic, q, o, (int)gs->count, 0, NULL, &gm),
                                 RMQ_OK);
                assert_int_equal(gm->count, gs->count);
                for (size_t i = 0; i < gs->count; i++) {
                    assert_int_equal(gs->iov[i].iov_len, gm->iov[i].iov_len);
                    assert_memory_equal(gs->iov[i].iov_base, gm->iov[i].iov_base,
                                        gs->iov[i].iov_len);
                }
                o += (int64_t)gs->count;
                total += (int)gs->count;
                rmq_store_get_release(gs);
                rmq_store_get_release(gm);
            }
        }
    return total;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    rmq_err_t st;
} waiter_t;

static void on_acked(rmq_err_t st, void *arg) {
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static _Atomic int delivered;
/* stands in for the broker's "post to my loop" */
static void deliver(rmq_ha_wait_cb cb, rmq_err_t st, void *arg, void *darg) {
    assert_ptr_equal(darg, &delivered);
    atomic_fetch_add(&delivered, 1);
    cb(st, arg);
}

static rmq_err_t wait_result(waiter_t *w, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0) break;
    rmq_err_t st = w->done ? w->st : RMQ_ERR__TIMEOUT;
    w->done = 0;
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void test_loopback(void **st) {
    hfx_t *fx = *st;
    fx->mcfg.mapped_file_size_commitlog = fx->scfg.mapped_file_size_commitlog = 1 << 20;
    fx->hcfg.ha_new_slave_from_min_offset = true; /* the slave gets all history */
    fx->hcfg.ha_housekeeping_interval = 5000;
    fx->hcfg.slave_timeout = 600;
    rmq_store_t *m = open_store(&fx->mcfg, true);
    rmq_ha_t *hm;
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, RMQ_OK};
    assert_int_equal(rmq_ha_start(&fx->hcfg, m, RMQ_HA_MASTER, deliver, &delivered, &hm), RMQ_OK);
    /* no slave yet */
    put_msgs(m, 0, 1, 100);
    assert_int_equal(rmq_ha_wait_ack(hm, rmq_store_commitlog_max_offset(m), on_acked, &w),
                     RMQ_ERR_SLAVE_NOT_AVAILABLE);
    put_msgs(m, 1, 7999, 1000);

    /* the slave attaches through the fault proxy (for the stall below) */
    rmq_fault_proxy_t *fp = rmq_fp_start(0, rmq_ha_port(hm));
    assert_non_null(fp);
    rmq_store_t *s = open_store(&fx->scfg, true);
    set_master(&fx->hcfg, rmq_fp_port(fp));
    rmq_ha_t *hs;
    put_msgs(m, 8000, 4000, 2000); /* a backlog of ~18 MB, so it is stopped mid-transfer */
    assert_int_equal(rmq_ha_start(&fx->hcfg, s, RMQ_HA_SLAVE, NULL, NULL, &hs), RMQ_OK);
    while (rmq_store_cl_repl_offset(s) < (1 << 20)) usleep(1000);
    rmq_fp_set(fp, RMQ_FP_STALL, 0); /* what is in flight now is lost with the slave */
    rmq_ha_shutdown(hs);
    int64_t at = rmq_store_commitlog_max_offset(s);
    assert_true(at < rmq_store_commitlog_max_offset(m));
    rmq_store_close(s);
    s = open_store(&fx->scfg, true);
    assert_int_equal(rmq_store_commitlog_max_offset(s), at); /* resumes there */
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    assert_int_equal(rmq_ha_start(&fx->hcfg, s, RMQ_HA_SLAVE, NULL, NULL, &hs), RMQ_OK);
    put_msgs(m, 12000, 8000, 100);
    assert_true(wait_caught_up(m, s, 20000));

    /* SYNC_MASTER: acked by the slave */
    put_msgs(m, 20000, 1, 100);
    int64_t end = rmq_store_commitlog_max_offset(m);
    assert_int_equal(rmq_ha_wait_ack(hm, end, on_acked, &w), RMQ_OK);
    assert_int_equal(wait_result(&w, 3000), RMQ_OK);
    /* already acked: completes at once */
    assert_int_equal(rmq_ha_wait_ack(hm, end, on_acked, &w), RMQ_OK);
    assert_int_equal(wait_result(&w, 100), RMQ_OK);
    /* a stalled link: FLUSH_SLAVE_TIMEOUT at slaveTimeout */
    rmq_fp_set(fp, RMQ_FP_STALL, 0);
    usleep(50000);
    put_msgs(m, 20001, 1, 100);
    uint64_t t0 = rmq_mono_ms();
    assert_int_equal(rmq_ha_wait_ack(hm, rmq_store_commitlog_max_offset(m), on_acked, &w), RMQ_OK);
    assert_int_equal(wait_result(&w, 3000), RMQ_ERR_FLUSH_SLAVE_TIMEOUT);
    assert_true(rmq_mono_ms() - t0 >= 500);
    /* too far behind: SLAVE_NOT_AVAILABLE at once */
    assert_int_equal(rmq_ha_wait_ack(hm, end + fx->hcfg.ha_slave_fallbehind_max, on_acked, &w),
                     RMQ_ERR_SLAVE_NOT_AVAILABLE);
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    assert_true(wait_caught_up(m, s, 10000));
    assert_true(atomic_load(&delivered) >= 3);

    rmq_ha_stats_t ms;
    usleep(100000);
    rmq_ha_get_stats(hm, &ms);
    assert_int_equal(ms.role, RMQ_HA_MASTER);
    assert_int_equal(ms.connections, 1);
    assert_int_equal(ms.acked_max_offset, rmq_store_commitlog_max_offset(m));
    assert_true(ms.bytes_sent >= (uint64_t)rmq_store_commitlog_max_offset(m) - (uint64_t)at);

    assert_true(rmq_store_wait_dispatched(s, 10000));
    assert_true(rmq_store_wait_dispatched(m, 10000));
    assert_int_equal(verify_queues(m, s), 20002);
    rmq_ha_shutdown(hs);
    rmq_ha_shutdown(hm);
    rmq_fp_stop(fp);
    rmq_store_close(s);
    rmq_store_close(m);
    assert_true(compare_commitlogs(fx->mdir, fx->sdir) >= 3);
}

/* Garbage on the HA port closes that connection only; the real slave keeps replicating. */
static void test_garbage(void **st) {
    hfx_t *fx = *st;
    fx->hcfg.ha_new_slave_from_min_offset = true;
    rmq_store_t *m = open_store(&fx->mcfg, true);
    put_msgs(m, 0, 500, 100);
    rmq_ha_t *hm, *hs;
    assert_int_equal(rmq_ha_start(&fx->hcfg, m, RMQ_HA_MASTER, NULL, NULL, &hm), RMQ_OK);
    rmq_store_t *s = open_store(&fx->scfg, true);
    set_master(&fx->hcfg, rmq_ha_port(hm));
    assert_int_equal(rmq_ha_start(&fx->hcfg, s, RMQ_HA_SLAVE, NULL, NULL, &hs), RMQ_OK);
    assert_true(wait_caught_up(m, s, 10000));
    int fd = tcp_connect(rmq_ha_port(hm));
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(junk) - 1);
    assert_true(closed_within(fd, 2000));
    close(fd);
    int fd2 = tcp_connect(rmq_ha_port(hm));
    send_report(fd2, -5);
    assert_true(closed_within(fd2, 2000));
    close(fd2);
    put_msgs(m, 500, 500, 100);
    assert_true(wait_caught_up(m, s, 10000));
    rmq_ha_stats_t hst;
    usleep(100000);
    rmq_ha_get_stats(hm, &hst);
    assert_int_equal(hst.connections, 1);
    rmq_ha_shutdown(hs);
    rmq_ha_shutdown(hm);
    rmq_store_close(s);
    rmq_store_close(m);
    compare_commitlogs(fx->mdir, fx->sdir);
}

int main(void) {
    /* the HA thread blocks SIGPIPE itself; the fault proxy's thread does not */
    signal(SIGPIPE, SIG_IGN);
    rmq_log_open(NULL, RMQ_LOG_LVL_WARN, true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_golden),
        cmocka_unit_test(test_cfg_defaults),
        cmocka_unit_test_setup_teardown(test_master_scripted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_new_slave_from_min, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slave_scripted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
