/* The fault proxy itself, against a small echo server on a thread: each mode does what the
 * fault and replication tests rely on. */
/* cmocka's prerequisites, in their own block so include sorting keeps them first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test/fault/fault_proxy.h"

/* ---- an echo server that also keeps what it received (for CORRUPT) ---- */
typedef struct {
    int lfd, port;
    pthread_t th;
    unsigned char got[4096];
    size_t ngot;
    pthread_mutex_t mu;
} echo_t;

static void *echo_conn(void *arg) {
    echo_t *e = arg;
    for (;;) {
        int fd = accept(e->lfd, NULL, NULL);
        if (fd < 0) return NULL;
        unsigned char b[1024];
        ssize_t n;
        while ((n = read(fd, b, sizeof b)) > 0) {
            pthread_mutex_lock(&e->mu);
            size_t room = sizeof e->got - e->ngot;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(e->got + e->ngot, b, k);
            e->ngot += k;
            pthread_mutex_unlock(&e->mu);
            if (write(fd, b, (size_t)n) != n) break;
        }
        close(fd);
    }
}

static void echo_start(echo_t *e) {
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    e->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(e->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(e->lfd, 16), 0);
    assert_int_equal(getsockname(e->lfd, (struct sockaddr *)&a, &l), 0);
    e->port = ntohs(a.sin_port);
    pthread_create(&e->th, NULL, echo_conn, e);
}

static void echo_stop(echo_t *e) {
    shutdown(e->lfd, SHUT_RDWR);
    close(e->lfd);
    pthread_join(e->th, NULL);
    pthread_mutex_destroy(&e->mu);
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Read exactly n bytes within timeout_ms; returns bytes read, or -errno on a reset. */
static ssize_t read_n(int fd, void *buf, size_t n, int timeout_ms) {
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0) return -errno;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_modes(void **st) {
    (void)st;
    echo_t e;
    echo_start(&e);
    rmq_fault_proxy_t *fp = rmq_fp_start(0, e.port);
    assert_non_null(fp);
    assert_true(rmq_fp_port(fp) > 0);
    int fd = dial(rmq_fp_port(fp));
    char buf[64];

    /* PASS: bytes go through both ways */
    assert_int_equal(write(fd, "hello", 5), 5);
    assert_int_equal(read_n(fd, buf, 5, 2000), 5);
    assert_memory_equal(buf, "hello", 5);

    /* STALL: nothing moves, the connection stays; PASS delivers what waited */
    rmq_fp_set(fp, RMQ_FP_STALL, 0);
    assert_int_equal(write(fd, "stall", 5), 5);
    assert_int_equal(read_n(fd, buf, 5, 300), 0);
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    assert_int_equal(read_n(fd, buf, 5, 2000), 5);
    assert_memory_equal(buf, "stall", 5);

    /* DELAY: an echo takes at least the delay (twice: up and down) */
    rmq_fp_set(fp, RMQ_FP_DELAY, 150);
    int64_t t0 = now_ms();
    assert_int_equal(write(fd, "slow", 4), 4);
    assert_int_equal(read_n(fd, buf, 4, 3000), 4);
    assert_true(now_ms() - t0 >= 290);
    assert_memory_equal(buf, "slow", 4);

    /* CORRUPT every 4th byte: the server receives those bytes flipped */
    rmq_fp_set(fp, RMQ_FP_PASS, 0);
    pthread_mutex_lock(&e.mu);
    size_t base = e.ngot;
    pthread_mutex_unlock(&e.mu);
    rmq_fp_set(fp, RMQ_FP_CORRUPT, 4);
    assert_int_equal(write(fd, "abcdefgh", 8), 8);
    assert_int_equal(read_n(fd, buf, 8, 2000), 8);
    pthread_mutex_lock(&e.mu);
    assert_int_equal(e.ngot - base, 8);
    int flipped = 0;
    for (size_t i = 0; i < 8; i++) flipped += e.got[base + i] != (unsigned char)"abcdefgh"[i];
    pthread_mutex_unlock(&e.mu);
    assert_int_equal(flipped, 2);

    /* BLACKHOLE: accepted and dropped, nothing comes back */
    rmq_fp_set(fp, RMQ_FP_BLACKHOLE, 0);
    assert_int_equal(write(fd, "void", 4), 4);
    assert_int_equal(read_n(fd, buf, 4, 300), 0);
    rmq_fp_stats_t s;
    rmq_fp_stats(fp, &s);
    assert_true(s.dropped >= 4);
    assert_int_equal(s.open, 1);

    /* RESET: the open connection is reset; new ones work again */
    rmq_fp_set(fp, RMQ_FP_RESET, 0);
    ssize_t r = read_n(fd, buf, 1, 2000);
    assert_true(r == -ECONNRESET || r == 0);
    close(fd);
    fd = dial(rmq_fp_port(fp));
    assert_int_equal(write(fd, "again", 5), 5);
    assert_int_equal(read_n(fd, buf, 5, 2000), 5);
    assert_memory_equal(buf, "again", 5);

    /* REFUSE: every connection is reset at once */
    rmq_fp_set(fp, RMQ_FP_REFUSE, 0);
    close(fd);
    fd = dial(rmq_fp_port(fp));
    r = read_n(fd, buf, 1, 2000);
    assert_true(r == -ECONNRESET || r == 0);
    close(fd);

    rmq_fp_stats(fp, &s);
    assert_true(s.accepted >= 3);
    assert_true(s.up_bytes >= 5 + 5 + 4 + 8 + 5);
    rmq_fp_stop(fp);
    echo_stop(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_modes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
