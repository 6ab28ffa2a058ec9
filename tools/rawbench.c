/* rawbench: the raw loopback request -> ack limit of this host, the yardstick tools/bench.sh
 * divides every rmq figure by. A forked child runs a trivial libuv server (no rmq code: it
 * counts frames and answers each with a fixed 32-byte ack, one write per read callback); the
 * parent runs a libuv client on one connection that keeps --window requests of --size bytes
 * (4-byte big-endian length + body, as a RocketMQ frame starts) outstanding and records each
 * request's round trip. Both sockets use TCP_NODELAY, as the broker and the SDK do.
 *
 * With --rate R the client instead sends one request every 1/R s on a clock schedule and waits
 * for its ack (a blocking socket, no libuv): the host's latency when the CPUs idle between
 * messages, wake-ups included, the yardstick of mqbench's e2e mode at the same rate.
 *
 * With --fill MIB it measures memory instead: the CPU it takes to read a new MIB-MiB file
 * (posix_fallocate'd, as CommitLog segments are) into the page cache, as the broker's warm-up
 * does for every byte the CommitLog will hold, then the same for a second file right after the
 * first is deleted. On a VM that hands free memory back to its host the first is the cost of
 * fresh memory (1.4-1.8 s of CPU per GiB on this project's VMs) and the second that of memory
 * the kernel just freed (~0.1 s): the price of the page cache an append-only log needs.
 *
 * Output: one "[Complete] Raw window: W | Total: N | TPS: ... | p50(ms): ..." line (with --rate:
 * "Raw rate: R | ... | Max send lag(ms): ..."; with --fill: "Raw fill: MIB | Fresh CPU s per GiB:
 * ..."). Exit 0 when at least one round trip (or the fill) completed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "tools/tool_util.h"

#define ACK_SIZE 32
#define MAX_ACKS 4096 /* acks per server write; a 64 KiB read holds at most 64 1 KiB frames */

/* ---- server (child process): libuv only --------------------------------------------- */

typedef struct {
    uv_tcp_t h;
    uint8_t hdr[4];
    int hdr_have;    /* header bytes read of the current frame */
    uint32_t remain; /* body bytes left of the current frame */
} srv_conn_t;

static uint8_t g_acks[MAX_ACKS * ACK_SIZE]; /* constant: every ack is the same bytes */

static void srv_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    (void)sz;
    static char rbuf[65536]; /* one loop thread: one read at a time */
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void srv_closed(uv_handle_t *h) {
    free(h);
}

static void srv_written(uv_write_t *w, int st) {
    (void)st;
    free(w);
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    srv_conn_t *c = (srv_conn_t *)s;
    if (n < 0) {
        uv_close((uv_handle_t *)s, srv_closed);
        return;
    }
    size_t frames = 0;
    const uint8_t *p = (const uint8_t *)b->base, *end = p + n;
    while (p < end) {
        if (c->remain == 0 && c->hdr_have < 4) {
            c->hdr[c->hdr_have++] = *p++;
            if (c->hdr_have == 4) {
                c->remain = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
                            (uint32_t)c->hdr[2] << 8 | c->hdr[3];
                if (c->remain == 0) {
                    frames++;
                    c->hdr_have = 0;
                }
            }
            continue;
        }
        size_t take = (size_t)(end - p) < c->remain ? (size_t)(end - p) : c->remain;
        p += take;
        c->remain -= (uint32_t)take;
        if (c->remain == 0) {
            frames++;
            c->hdr_have = 0;
        }
    }
    while (frames > 0) {
        size_t k = frames < MAX_ACKS ? frames : MAX_ACKS;
        uv_write_t *w = malloc(sizeof *w);
        if (!w) abort();
        uv_buf_t wb = uv_buf_init((char *)g_acks, (unsigned)(k * ACK_SIZE));
        if (uv_write(w, s, &wb, 1, srv_written)) free(w);
        frames -= k;
    }
}

static void srv_conn(uv_stream_t *ls, int st) {
    if (st < 0) return;
    srv_conn_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    uv_tcp_init(ls->loop, &c->h);
    if (uv_accept(ls, (uv_stream_t *)&c->h)) {
        uv_close((uv_handle_t *)&c->h, srv_closed);
        return;
    }
    uv_tcp_nodelay(&c->h, 1);
    uv_read_start((uv_stream_t *)&c->h, srv_alloc, srv_read);
}

/* Listen on 127.0.0.1:0, write the port to fd, serve until killed. */
static int server_main(int fd) {
    for (int i = 0; i < MAX_ACKS; i++) {
        uint8_t *a = g_acks + i * ACK_SIZE;
        a[0] = a[1] = a[2] = 0;
        a[3] = ACK_SIZE - 4;
    }
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t ls;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &ls);
    if (uv_tcp_bind(&ls, (const struct sockaddr *)&sa, 0) ||
        uv_listen((uv_stream_t *)&ls, 16, srv_conn))
        return 1;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&ls, (struct sockaddr *)&ss, &len);
    uint16_t port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (write(fd, &port, sizeof port) != (ssize_t)sizeof port) return 1;
    close(fd);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- client (parent process) -------------------------------------------------------- */

static struct {
    uv_loop_t *loop;
    uv_tcp_t h;
    uv_connect_t creq;
    uv_timer_t stop;
    uint8_t *reqs; /* window frames back to back, constant */
    size_t frame;
    int window;
    uint64_t *sent_at; /* ring of send times, FIFO like the acks */
    uint64_t head, tail;
    uint64_t done;
    size_t partial; /* ack bytes of an incomplete ack */
    bool stopping;
    rmq_hist_t hist;
    int err;
} K;

static void cli_written(uv_write_t *w, int st) {
    if (st < 0) K.err = st;
    free(w);
}

static void cli_send(int k) {
    if (k <= 0 || K.stopping) return;
    uint64_t t = uv_hrtime();
    for (int i = 0; i < k; i++) K.sent_at[K.head++ % (uint64_t)K.window] = t;
    uv_write_t *w = malloc(sizeof *w);
    if (!w) abort();
    uv_buf_t b = uv_buf_init((char *)K.reqs, (unsigned)((size_t)k * K.frame));
    if (uv_write(w, (uv_stream_t *)&K.h, &b, 1, cli_written)) {
        free(w);
        K.err = UV_EIO;
    }
}

static void cli_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    (void)sz;
    static char rbuf[65536];
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void cli_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    if (n < 0) {
        K.err = (int)n;
        uv_read_stop(s);
        return;
    }
    size_t bytes = K.partial + (size_t)n;
    int acks = (int)(bytes / ACK_SIZE);
    K.partial = bytes % ACK_SIZE;
    uint64_t t = uv_hrtime();
    for (int i = 0; i < acks; i++)
        rmq_hist_add(&K.hist, t - K.sent_at[K.tail++ % (uint64_t)K.window]);
    K.done += (uint64_t)acks;
    cli_send(acks);
}

static void cli_connected(uv_connect_t *r, int st) {
    (void)r;
    if (st < 0) {
        K.err = st;
        return;
    }
    uv_tcp_nodelay(&K.h, 1);
    uv_read_start((uv_stream_t *)&K.h, cli_alloc, cli_read);
    cli_send(K.window);
}

static void on_stop(uv_timer_t *t) {
    (void)t;
    K.stopping = true;
    uv_stop(K.loop);
}

static int usage(FILE *f) {
    fprintf(f, "usage: rawbench [--window N (1)] [--size BYTES (1024)] [--seconds S (5)]\n"
               "                [--rate R: one request every 1/R s instead of a window]\n"
               "       rawbench --fill MIB [--dir DIR ($TMPDIR or /tmp)]\n");
    return f == stdout ? 0 : 1;
}

/* --rate: paced round trips of K.reqs' first frame on a blocking socket, into K.hist and
 * K.done (K.err on a failed connect); returns the largest lateness of a send. uv_hrtime is
 * CLOCK_MONOTONIC in ns, the clock the sleeps use. */
static uint64_t paced(uint16_t port, int rate, int seconds) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
        K.err = uv_translate_sys_error(errno);
        if (fd >= 0) close(fd);
        return 0;
    }
    uint64_t period = 1000000000u / (uint64_t)rate, t0 = uv_hrtime(), max_lag = 0,
             end = t0 + 1000000000ull * (uint64_t)seconds;
    for (uint64_t due = t0 + period; due < end; due += period) {
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        while (uv_hrtime() < due &&
               clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        uint64_t t = uv_hrtime();
        if (t > due && t - due > max_lag) max_lag = t - due;
        if (write(fd, K.reqs, K.frame) != (ssize_t)K.frame) break;
        uint8_t ack[ACK_SIZE];
        size_t got = 0;
        while (got < sizeof ack) {
            ssize_t n = read(fd, ack + got, sizeof ack - got);
            if (n <= 0) goto out;
            got += (size_t)n;
        }
        rmq_hist_add(&K.hist, uv_hrtime() - t);
        K.done++; /* behind schedule: the next ones go at once, as mqbench's e2e sender does */
    }
out:
    close(fd);
    return max_lag;
}

static double thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --fill: read a new fallocated file of mib MiB into the page cache; CPU seconds per GiB, or -1
 * (with the reason on stderr). */
static double fill_once(const char *dir, int mib) {
    char path[4096];
    snprintf(path, sizeof path, "%s/rawbench-fill.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "rawbench: create a file in %s: %s\n", dir, strerror(errno));
        return -1;
    }
    unlink(path);
    off_t len = (off_t)mib << 20;
    int e = posix_fallocate(fd, 0, len);
    enum { CHUNK = 1 << 20 };
    char *buf = e ? NULL : malloc(CHUNK);
    double cpu = -1;
    if (e) {
        fprintf(stderr, "rawbench: reserve %d MiB in %s: %s\n", mib, dir, strerror(e));
    } else if (buf) {
        memset(buf, 0, CHUNK); /* the buffer's own pages are not what is measured */
        double c0 = thread_cpu_s();
        off_t off = 0;
        while (off < len) {
            ssize_t n = pread(fd, buf, CHUNK, off);
            if (n <= 0) break;
            off += n;
        }
        if (off == len) cpu = (thread_cpu_s() - c0) * 1024.0 / mib;
    }
    free(buf);
    close(fd);
    return cpu;
}

static int fill_main(const char *dir, int mib) {
    double fresh = fill_once(dir, mib), again = fresh < 0 ? -1 : fill_once(dir, mib);
    if (again < 0) return 1;
    printf("[Complete] Raw fill: %d MiB | Fresh CPU s per GiB: %.3f | Again CPU s per GiB: %.3f\n",
           mib, fresh, again);
    return 0;
}

int main(int argc, char **argv) {
    int window = 1, size = 1024, seconds = 5, rate = 0, fill = 0;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        int *dst = NULL;
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--window") == 0)
            dst = &window;
        else if (strcmp(argv[i], "--size") == 0)
            dst = &size;
        else if (strcmp(argv[i], "--seconds") == 0)
            dst = &seconds;
        else if (strcmp(argv[i], "--rate") == 0)
            dst = &rate;
        else if (strcmp(argv[i], "--fill") == 0)
            dst = &fill;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(stdout);
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "rawbench: unknown or incomplete option %s\n", argv[i]);
            return usage(stderr);
        }
        char *e;
        long v = strtol(argv[++i], &e, 10);
        if (*e || v < 1 || v > 1000000) {
            fprintf(stderr, "rawbench: %s needs a number in 1..1000000, got \"%s\"\n", argv[i - 1],
                    argv[i]);
            return 1;
        }
        *dst = (int)v;
    }
    if (fill) return fill_main(dir, fill);
    int pfd[2];
    if (pipe(pfd)) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        close(pfd[0]);
        _exit(server_main(pfd[1]));
    }
    close(pfd[1]);
    uint16_t port = 0;
    ssize_t r = read(pfd[0], &port, sizeof port);
    close(pfd[0]);
    if (r != (ssize_t)sizeof port) {
        fprintf(stderr, "rawbench: the server did not start\n");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 1;
    }
    K.window = window;
    K.frame = 4 + (size_t)size;
    K.reqs = calloc((size_t)window, K.frame);
    K.sent_at = calloc((size_t)window, sizeof *K.sent_at);
    if (!K.reqs || !K.sent_at) return 1;
    for (int i = 0; i < window; i++) {
        uint8_t *f = K.reqs + (size_t)i * K.frame;
        f[0] = (uint8_t)(size >> 24);
        f[1] = (uint8_t)(size >> 16);
        f[2] = (uint8_t)(size >> 8);
        f[3] = (uint8_t)size;
        memset(f + 4, 'a', (size_t)size);
    }
    rmq_hist_init(&K.hist);
    uint64_t t0 = uv_hrtime(), lag = 0;
    if (rate) {
        lag = paced(port, rate, seconds);
    } else {
        K.loop = uv_default_loop();
        uv_tcp_init(K.loop, &K.h);
        struct sockaddr_in sa;
        uv_ip4_addr("127.0.0.1", port, &sa);
        uv_tcp_connect(&K.creq, &K.h, (const struct sockaddr *)&sa, cli_connected);
        uv_timer_init(K.loop, &K.stop);
        uv_timer_start(&K.stop, on_stop, (uint64_t)seconds * 1000, 0);
        uv_run(K.loop, UV_RUN_DEFAULT);
    }
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (rate)
        printf("[Complete] Raw rate: %d | Size: %d | Total: %llu | p50(ms): %.3f | p99(ms): %.3f "
               "| p999(ms): %.3f | Max(ms): %.3f | Max send lag(ms): %.3f\n",
               rate, size, (unsigned long long)K.done, rmq_hist_quantile(&K.hist, 0.5) / 1e6,
               rmq_hist_quantile(&K.hist, 0.99) / 1e6, rmq_hist_quantile(&K.hist, 0.999) / 1e6,
               (double)K.hist.max / 1e6, (double)lag / 1e6);
    else
        printf("[Complete] Raw window: %d | Size: %d | Total: %llu | TPS: %.0f | p50(ms): %.3f | "
               "p99(ms): %.3f | p999(ms): %.3f | Max(ms): %.3f\n",
               window, size, (unsigned long long)K.done, secs > 0 ? (double)K.done / secs : 0.0,
               rmq_hist_quantile(&K.hist, 0.5) / 1e6, rmq_hist_quantile(&K.hist, 0.99) / 1e6,
               rmq_hist_quantile(&K.hist, 0.999) / 1e6, (double)K.hist.max / 1e6);
    if (K.err) fprintf(stderr, "rawbench: connection error %s\n", uv_strerror(K.err));
    free(K.reqs);
    free(K.sent_at);
    return K.done > 0 ? 0 : 1;
}
