/* Crash tests for store/: a child appending under SYNC_FLUSH is SIGKILLed mid-stream and every
 * acknowledged message must survive; torn tails, flipped bytes, a corrupt record in the middle
 * and a lost consumequeue directory are recovered. */
#include "test_store_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define SEG (256 * 1024)
#define NPROD 4

static int setup(void **st) {
    return fx_setup(st, SEG);
}

/* ---- SIGKILL under SYNC_FLUSH ---------------------------------------------------------------- */

typedef struct {
    int32_t prod, seq;
    int64_t phys, qoff;
} ack_t;

typedef struct {
    rmq_store_t *s;
    int id, fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int acked;
} child_prod_t;

static void child_cb(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    child_prod_t *p = arg;
    pthread_mutex_lock(&p->mu);
    if (err == RMQ_OK) {
        ack_t a = {p->id, p->acked, r->phys_offset, r->queue_offset};
        if (write(p->fd, &a, sizeof(a)) != (ssize_t)sizeof(a)) _exit(3);
    }
    p->acked++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *child_thread(void *arg) {
    child_prod_t *p = arg;
    char body[400], props[64];
    for (int i = 0; i < 1000000; i++) {
        memset(body, 'x', sizeof(body));
        int k = snprintf(body, sizeof(body), "TK-%d-%d", p->id, i);
        body[k] = '.';
        snprintf(props, sizeof(props), "KEYS\001k%d_%d\002TAGS\001T%d", p->id, i, p->id);
        rmq_store_msg_t m = mk_msg("TK", p->id, body, 100 + (size_t)(i % 3) * 100, props);
        if (rmq_store_put(p->s, &m, NULL, child_cb, p) != RMQ_OK) _exit(4);
        pthread_mutex_lock(&p->mu);
        while (p->acked <= i) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void child_main(const rmq_store_cfg_t *cfg, int fd) {
    rmq_store_t *s;
    if (rmq_store_open(cfg, &s) != RMQ_OK || rmq_store_start(s) != RMQ_OK) _exit(2);
    child_prod_t p[NPROD];
    pthread_t th[NPROD];
    for (int i = 0; i < NPROD; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].s = s;
        p[i].id = i;
        p[i].fd = fd;
        pthread_mutex_init(&p[i].mu, NULL);
        pthread_cond_init(&p[i].cv, NULL);
        pthread_create(&th[i], NULL, child_thread, &p[i]);
    }
    for (int i = 0; i < NPROD; i++) pthread_join(th[i], NULL);
    _exit(0);
}

/* Walk the CommitLog record by record; counts records per queue of topic TK. */
static void walk_log(rmq_store_t *s, int64_t *per_queue) {
    int64_t p = rmq_store_commitlog_min_offset(s), end = rmq_store_commitlog_max_offset(s);
    while (p < end) {
        uint8_t *rec;
        size_t len;
        if (rmq_store_read_at(s, p, &rec, &len) != RMQ_OK) {
            p = p - p % SEG + SEG; /* blank: next segment */
            continue;
        }
        rmq_msg_rec_t d;
        assert_true(rmq_msg_rec_decode(rec, len, true, &d) > 0);
        assert_int_equal(d.phys_offset, p);
        if (d.topic_len == 2 && !memcmp(d.topic, "TK", 2)) per_queue[d.queue_id]++;
        p += (int64_t)len;
        free(rec);
    }
    assert_int_equal(p, end);
}

static void test_kill_sync_flush(void **st) {
    fx_t *fx = *st;
    fx->cfg.flush_disk_type = RMQ_FLUSH_SYNC;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(&fx->cfg, fds[1]);
    }
    close(fds[1]);
    size_t cap = 1 << 16, n = 0;
    ack_t *acks = malloc(cap * sizeof(*acks));
    bool killed = false;
    for (;;) {
        ack_t a;
        ssize_t r = read(fds[0], &a, sizeof(a));
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        assert_int_equal(r, sizeof(a));
        if (n == cap) acks = realloc(acks, (cap *= 2) * sizeof(*acks));
        acks[n++] = a;
        if (!killed && n >= 1500) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* recovery after the crash: abort file present */
    char ab[600];
    snprintf(ab, sizeof(ab), "%s/abort", fx->dir);
    assert_int_equal(access(ab, F_OK), 0);
    rmq_store_t *s = open_store(&fx->cfg, true);
    int64_t acked_per[NPROD] = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t *rec;
        size_t len;
        assert_int_equal(rmq_store_read_at(s, acks[i].phys, &rec, &len), RMQ_OK);
        rmq_msg_rec_t d;
        assert_true(rec_is(rec, len, "TK", acks[i].prod, acks[i].seq, &d));
        assert_int_equal(d.queue_offset, acks[i].qoff);
        assert_int_equal(d.queue_id, acks[i].prod);
        assert_int_equal(acks[i].qoff, acks[i].seq); /* one producer per queue */
        free(rec);
        acked_per[acks[i].prod]++;
    }
    /* queues consistent: entry i is the record with queue offset i and sequence i, so there
     * are no duplicates and no holes; CQ entries == records in the log */
    int64_t in_log[NPROD] = {0};
    walk_log(s, in_log);
    for (int q = 0; q < NPROD; q++) {
        int64_t max = rmq_store_max_offset(s, "TK", q);
        assert_true(max >= acked_per[q]);
        assert_int_equal(max, in_log[q]);
        int64_t off = 0;
        while (off < max) {
            rmq_store_get_t *g;
            assert_int_equal(rmq_store_get(s, "TK", q, off, 32, 0, NULL, &g), RMQ_OK);
            assert_int_equal(g->status, RMQ_GET_FOUND);
            for (size_t k = 0; k < g->count; k++) {
                rmq_msg_rec_t d;
                assert_true(rec_is(g->iov[k].iov_base, g->iov[k].iov_len, "TK", q,
                                   (int)(off + (int64_t)k), &d));
                assert_int_equal(d.queue_offset, off + (int64_t)k);
            }
            off = g->next_begin_offset;
            rmq_store_get_release(g);
        }
    }
    /* the index was rebuilt: keys of acknowledged messages are found */
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        char key[32];
        snprintf(key, sizeof(key), "k%d_%d", acks[i].prod, acks[i].seq);
        int64_t *offs;
        size_t no;
        assert_int_equal(
            rmq_store_query_by_key(s, "TK", key, 64, 0, INT64_MAX / 2, &offs, &no, NULL), RMQ_OK);
        bool seen = false;
        for (size_t k = 0; k < no; k++) seen |= offs[k] == acks[i].phys;
        assert_true(seen);
        free(offs);
    }
    /* appends continue at the right offsets */
    int64_t end = rmq_store_commitlog_max_offset(s);
    int64_t q0 = rmq_store_max_offset(s, "TK", 0);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TK", 0, (int)q0, 100, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, q0);
    assert_true(r.phys_offset == end || r.phys_offset == end - end % SEG + SEG);
    rmq_store_close(s);
    assert_int_not_equal(access(ab, F_OK), 0);
    free(acks);
}

/* ---- damaged files -----------------------------------------------------------------------------
 */

/* 20 messages on TC/0 (and 5 on TC/1), closed cleanly; phys/size of each TC/0 message. */
static void fill(fx_t *fx, int64_t *phys, int32_t *size) {
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(put_n(s, "TC", 0, i, 200, "TAGS\001a", &r), RMQ_OK);
        phys[i] = r.phys_offset;
        size[i] = r.wrote_bytes;
        if (i % 4 == 0) assert_int_equal(put_n(s, "TC", 1, i / 4, 50, NULL, NULL), RMQ_OK);
    }
    rmq_store_close(s);
}

static void damage(fx_t *fx, int64_t at, size_t n, int how) {
    char p[600];
    snprintf(p, sizeof(p), "%s/commitlog/00000000000000000000", fx->dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t buf[512];
    assert_int_equal(pread(fd, buf, n, at), (ssize_t)n);
    for (size_t i = 0; i < n; i++) buf[i] = how == 0 ? 0 : (uint8_t)(buf[i] ^ 0x5A);
    assert_int_equal(pwrite(fd, buf, n, at), (ssize_t)n);
    close(fd);
}

static void check_queue(rmq_store_t *s, int64_t from, int64_t to, int64_t missing) {
    int64_t off = from;
    while (off < to) {
        rmq_store_get_t *g;
        assert_int_equal(rmq_store_get(s, "TC", 0, off, 32, 0, NULL, &g), RMQ_OK);
        for (size_t k = 0; k < g->count; k++) {
            rmq_msg_rec_t d;
            assert_true(g->queue_offsets[k] != missing);
            assert_true(rec_is(g->iov[k].iov_base, g->iov[k].iov_len, "TC", 0,
                               (int)g->queue_offsets[k], &d));
            assert_int_equal(d.queue_offset, g->queue_offsets[k]);
        }
        assert_true(g->next_begin_offset > off);
        off = g->next_begin_offset;
        rmq_store_get_release(g);
    }
}

static void expect_tail_lost(fx_t *fx, int64_t *phys) {
    touch_abort(fx->dir);
    rmq_store_t *s = open_store(&fx->cfg, true);
    assert_int_equal(rmq_store_commitlog_max_offset(s), phys[19]);
    assert_int_equal(rmq_store_max_offset(s, "TC", 0), 19);
    assert_int_equal(rmq_store_max_offset(s, "TC", 1), 5);
    check_queue(s, 0, 19, -1);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TC", 0, 19, 200, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 19);
    assert_int_equal(r.phys_offset, phys[19]);
    rmq_store_close(s);
    s = open_store(&fx->cfg, false);
    assert_int_equal(rmq_store_max_offset(s, "TC", 0), 20);
    check_queue(s, 0, 20, -1);
    rmq_store_close(s);
}

static void test_torn_tail(void **st) {
    fx_t *fx = *st;
    int64_t phys[20];
    int32_t size[20];
    fill(fx, phys, size);
    damage(fx, phys[19] + size[19] / 2, (size_t)(size[19] - size[19] / 2), 0);
    expect_tail_lost(fx, phys);
}

static void test_flipped_last(void **st) {
    fx_t *fx = *st;
    int64_t phys[20];
    int32_t size[20];
    fill(fx, phys, size);
    damage(fx, phys[19] + 100, 4, 1); /* inside the body: CRC mismatch */
    expect_tail_lost(fx, phys);
}

static void test_corrupt_middle(void **st) {
    fx_t *fx = *st;
    int64_t phys[20];
    int32_t size[20];
    fill(fx, phys, size);
    int64_t end;
    {
        rmq_store_t *s = open_store(&fx->cfg, false);
        end = rmq_store_commitlog_max_offset(s);
        rmq_store_close(s);
    }
    damage(fx, phys[10] + 100, 4, 1);
    touch_abort(fx->dir);
    unsigned long errs = rmq_log_error_count();
    rmq_store_t *s = open_store(&fx->cfg, true);
    assert_true(rmq_log_error_count() > errs);                /* reported */
    assert_int_equal(rmq_store_commitlog_max_offset(s), end); /* nothing truncated */
    assert_int_equal(rmq_store_max_offset(s, "TC", 0), 20);
    check_queue(s, 11, 20, -1);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TC", 0, 20, 200, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 20);
    assert_int_equal(r.phys_offset, end);
    rmq_store_close(s);
}

static void test_corrupt_middle_rebuilt(void **st) {
    fx_t *fx = *st;
    int64_t phys[20];
    int32_t size[20];
    fill(fx, phys, size);
    damage(fx, phys[10] + 100, 4, 1);
    char p[600];
    snprintf(p, sizeof(p), "%s/consumequeue", fx->dir);
    rm_rf(p);
    touch_abort(fx->dir);
    rmq_store_t *s = open_store(&fx->cfg, true);
    /* the corrupt record gets no entry but every later message keeps its queue offset */
    assert_int_equal(rmq_store_max_offset(s, "TC", 0), 20);
    check_queue(s, 0, 20, 10);
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TC", 0, 9, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 10);
    assert_int_equal(g->queue_offsets[0], 9);
    assert_int_equal(g->queue_offsets[1], 11);
    rmq_store_get_release(g);
    rmq_store_close(s);
}

static void test_missing_cq_dir(void **st) {
    fx_t *fx = *st;
    int64_t phys[20];
    int32_t size[20];
    fill(fx, phys, size);
    char p[600];
    snprintf(p, sizeof(p), "%s/consumequeue", fx->dir);
    rm_rf(p);
    rmq_store_t *s = open_store(&fx->cfg, true);
    assert_int_equal(rmq_store_max_offset(s, "TC", 0), 20);
    assert_int_equal(rmq_store_max_offset(s, "TC", 1), 5);
    check_queue(s, 0, 20, -1);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TC", 1, 5, 50, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 5);
    rmq_store_close(s);
    assert_int_equal(access(p, F_OK), 0);
}

static void test_crash_with_prealloc(void **st) {
    /* a crash right after a roll: the allocate-ahead segment exists past the end */
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    int i = 0;
    while (rmq_store_commitlog_max_offset(s) < SEG + 1000)
        assert_int_equal(put_n(s, "TP", 0, i++, 1000, NULL, &r), RMQ_OK);
    usleep(200000);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* simulate the crash: copy the store as it is now (files are consistent in page cache) */
    char cmd[1400], copy[700];
    snprintf(copy, sizeof(copy), "%s_copy", fx->dir);
    snprintf(cmd, sizeof(cmd), "cp -a %s %s", fx->dir, copy);
    assert_int_equal(system(cmd), 0);
    rmq_store_close(s);
    rmq_store_cfg_t c;
    test_cfg(&c, copy, SEG, RMQ_FLUSH_ASYNC);
    s = open_store(&c, true);
    assert_int_equal(rmq_store_max_offset(s, "TP", 0), i);
    assert_int_equal(put_n(s, "TP", 0, i, 1000, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, i);
    rmq_store_close(s);
    rmq_store_cfg_free(&c);
    rm_rf(copy);
}

static void quiet(int lvl, const char *line, void *op) {
    (void)lvl;
    (void)op;
    if (getenv("RMQ_TEST_VERBOSE")) fprintf(stderr, "%s\n", line);
}

int main(void) {
    /* corrupt records are logged as ERROR on purpose: count them, print only when asked */
    rmq_log_set_cb(quiet, NULL, RMQ_LOG_LVL_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_sync_flush, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_last, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle_rebuilt, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_cq_dir, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crash_with_prealloc, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
