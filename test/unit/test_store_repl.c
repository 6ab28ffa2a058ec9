/* Unit tests for the store's replication API (store/repl.c): a master store's CommitLog copied
 * frame by frame into an empty slave store with rmq_store_cl_read + rmq_store_cl_append, frames
 * ending mid-record and rolling segments; then identical segment files, every message served by
 * the slave's ConsumeQueues, resume after a reopen, a slave starting at the master's last
 * segment, and refused appends. No sockets. */
#include "test_store_util.h"

#include <dirent.h>
#include <poll.h>

#define SEG (64 * 1024)
#define NMSG 700

typedef struct {
    char *mdir, *sdir;
    rmq_store_cfg_t mcfg, scfg;
} rfx_t;

static int setup(void **st) {
    rfx_t *fx = calloc(1, sizeof(*fx));
    fx->mdir = mk_tmpdir();
    fx->sdir = mk_tmpdir();
    test_cfg(&fx->mcfg, fx->mdir, SEG, RMQ_FLUSH_ASYNC);
    test_cfg(&fx->scfg, fx->sdir, SEG, RMQ_FLUSH_ASYNC);
    *st = fx;
    return 0;
}

static int teardown(void **st) {
    rfx_t *fx = *st;
    rm_rf(fx->mdir);
    rm_rf(fx->sdir);
    free(fx->mdir);
    free(fx->sdir);
    rmq_store_cfg_free(&fx->mcfg);
    rmq_store_cfg_free(&fx->scfg);
    free(fx);
    return 0;
}

/* NMSG messages over 2 topics x 3 queues, bodies 40..1240 bytes: several 64 KiB segments. */
static rmq_store_t *fill_master(rfx_t *fx) {
    rmq_store_t *m = open_store(&fx->mcfg, true);
    for (int i = 0; i < NMSG; i++) {
        char topic[8];
        snprintf(topic, sizeof(topic), "T%d", i % 2);
        char props[64];
        snprintf(props, sizeof(props), "TAGS\001a\002KEYS\001k%d", i);
        assert_int_equal(put_n(m, topic, i % 3, i, 40 + (size_t)(i * 37) % 1200, props, NULL),
                         RMQ_OK);
    }
    assert_true(rmq_store_wait_dispatched(m, 5000));
    return m;
}

static const size_t frames[] = {1, 7, 100, 977, 4096, 32768, 13, 2500, 32768, 32768};

/* Copy master -> slave from the slave's replication offset until it reaches upto. */
static void copy_until(rmq_store_t *m, rmq_store_t *s, int64_t upto, size_t *k) {
    while (rmq_store_cl_repl_offset(s) < upto) {
        int64_t off = rmq_store_cl_repl_offset(s);
        rmq_store_cl_slice_t sl;
        size_t want = frames[(*k)++ % (sizeof(frames) / sizeof(frames[0]))];
        assert_int_equal(rmq_store_cl_read(m, off, want, &sl), RMQ_OK);
        assert_true(sl.len > 0 && sl.len <= want);
        assert_int_equal(sl.offset, off);
        /* never past the segment holding off */
        assert_true((off % SEG) + (int64_t)sl.len <= SEG);
        if (*k % 3 == 0) {
            /* received in place (the HA slave's path): no copy on commit */
            uint8_t *dst;
            size_t room;
            assert_int_equal(rmq_store_cl_append_buf(s, off, &dst, &room), RMQ_OK);
            assert_true(room >= sl.len && room <= SEG);
            memcpy(dst, sl.data, sl.len);
            assert_int_equal(rmq_store_cl_append(s, off, dst, sl.len), RMQ_OK);
        } else {
            assert_int_equal(rmq_store_cl_append(s, off, sl.data, sl.len), RMQ_OK);
        }
        rmq_store_cl_slice_release(&sl);
        assert_int_equal(rmq_store_cl_repl_offset(s), off + (int64_t)sl.len);
        assert_true(rmq_store_commitlog_max_offset(s) <= rmq_store_cl_repl_offset(s));
    }
}

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

/* Every CommitLog segment of the slave at or above from is byte-identical to the master's;
 * a segment only one side has must be empty (allocated ahead). Returns the count compared. */
static int compare_commitlogs(const char *mdir, const char *sdir, int64_t from) {
    char md[512], sd[512];
    snprintf(md, sizeof(md), "%s/commitlog", mdir);
    snprintf(sd, sizeof(sd), "%s/commitlog", sdir);
    int same = 0;
    for (int side = 0; side < 2; side++) {
        DIR *d = opendir(side ? md : sd);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || strlen(de->d_name) != 20) continue;
            if (strtoll(de->d_name, NULL, 10) < from) continue;
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
            } else {
                uint8_t *only = ba ? ba : bb;
                assert_non_null(only);
                if (!all_zero(only, ba ? na : nb)) fail_msg("%s only on one side", de->d_name);
            }
            free(ba);
            free(bb);
        }
        closedir(d);
    }
    return same;
}

/* The slave serves, per queue, the same records as the master from the slave's min offset;
 * full: from queue offset 0. */
static void verify_queues(rmq_store_t *m, rmq_store_t *s, bool full) {
    int total = 0;
    for (int t = 0; t < 2; t++)
        for (int q = 0; q < 3; q++) {
            char topic[8];
            snprintf(topic, sizeof(topic), "T%d", t);
            int64_t mmax = rmq_store_max_offset(m, topic, q);
            assert_int_equal(rmq_store_max_offset(s, topic, q), mmax);
            int64_t from = rmq_store_min_offset(s, topic, q);
            if (full) assert_int_equal(from, 0);
            for (int64_t o = from; o < mmax;) {
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
                    assert_int_equal(gs->queue_offsets[i], o + (int64_t)i);
                }
                o += (int64_t)gs->count;
                total += (int)gs->count;
                rmq_store_get_release(gs);
                rmq_store_get_release(gm);
            }
        }
    if (full) assert_int_equal(total, NMSG);
}

static void test_copy_all(void **st) {
    rfx_t *fx = *st;
    fx->scfg.flush_disk_type = RMQ_FLUSH_SYNC; /* durable before it would be reported */
    rmq_store_t *m = fill_master(fx);
    int64_t end = rmq_store_commitlog_max_offset(m);
    assert_true(end > 4 * SEG);
    rmq_store_t *s = open_store(&fx->scfg, true);
    size_t k = 0;
    copy_until(m, s, end, &k);
    assert_int_equal(rmq_store_commitlog_max_offset(s), end);
    rmq_store_stats_t ss;
    rmq_store_get_stats(s, &ss);
    assert_int_equal(ss.flushed_offset, end);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* nothing more to read at the end */
    rmq_store_cl_slice_t sl;
    assert_int_equal(rmq_store_cl_read(m, end, 32768, &sl), RMQ_OK);
    assert_int_equal(sl.len, 0);
    rmq_store_cl_slice_release(&sl);
    assert_int_equal(rmq_store_cl_read(m, end + 1, 32768, &sl), RMQ_ERR__NOT_FOUND);
    verify_queues(m, s, true);
    /* the slave's IndexFile finds messages by key, at the master's offsets */
    for (int i = 0; i < NMSG; i += 97) {
        char topic[8], key[16];
        snprintf(topic, sizeof(topic), "T%d", i % 2);
        snprintf(key, sizeof(key), "k%d", i);
        int64_t *om, *os, lm, ls;
        size_t nm, ns;
        assert_int_equal(rmq_store_query_by_key(m, topic, key, 8, 0, INT64_MAX, &om, &nm, &lm),
                         RMQ_OK);
        assert_int_equal(rmq_store_query_by_key(s, topic, key, 8, 0, INT64_MAX, &os, &ns, &ls),
                         RMQ_OK);
        assert_int_equal(nm, 1);
        assert_int_equal(ns, 1);
        assert_int_equal(om[0], os[0]);
        free(om);
        free(os);
    }
    /* a replica refuses local puts */
    assert_int_equal(put_n(s, "T0", 0, 0, 10, NULL, NULL), RMQ_ERR_SERVICE_NOT_AVAILABLE);
    rmq_store_close(s);
    rmq_store_close(m);
    assert_true(compare_commitlogs(fx->mdir, fx->sdir, 0) >= 5);
}

static void test_resume_after_reopen(void **st) {
    rfx_t *fx = *st;
    rmq_store_t *m = fill_master(fx);
    int64_t end = rmq_store_commitlog_max_offset(m);
    rmq_store_t *s = open_store(&fx->scfg, true);
    size_t k = 0;
    int64_t stops[] = {SEG / 2 + 5, 2 * SEG + 3, 3 * SEG - 1, end};
    for (size_t i = 0; i < 4; i++) {
        copy_until(m, s, stops[i], &k);
        if (i == 3) break;
        /* stop mid-record (the frame sizes make that the rule): the reopened slave resumes at
         * the end of its last complete record */
        int64_t maxo = rmq_store_commitlog_max_offset(s);
        assert_true(rmq_store_wait_dispatched(s, 5000));
        rmq_store_close(s);
        s = open_store(&fx->scfg, true);
        assert_int_equal(rmq_store_commitlog_max_offset(s), maxo);
        assert_int_equal(rmq_store_cl_repl_offset(s), maxo);
    }
    assert_int_equal(rmq_store_commitlog_max_offset(s), end);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    verify_queues(m, s, true);
    rmq_store_close(s);
    rmq_store_close(m);
    compare_commitlogs(fx->mdir, fx->sdir, 0);
}

/* A slave killed with a record received up to a few bytes before its end (inside the
 * properties, after the body, so the body CRC holds): recovery after the crash must not take
 * that record, whose missing bytes read as zeros, for a complete one; the slave resumes at its
 * start and receives it whole. */
static void test_crash_mid_properties(void **st) {
    rfx_t *fx = *st;
    rmq_store_t *m = fill_master(fx);
    int64_t end = rmq_store_commitlog_max_offset(m);
    rmq_store_t *s = open_store(&fx->scfg, true);
    size_t k = 0;
    copy_until(m, s, SEG / 2, &k);
    int64_t rec_start = rmq_store_commitlog_max_offset(s);
    /* finish the partial record, then stop 3 bytes before the end of the next one */
    uint8_t *rec;
    size_t len;
    int64_t at = rmq_store_cl_repl_offset(s);
    if (at > rec_start) {
        assert_int_equal(rmq_store_read_at(m, rec_start, &rec, &len), RMQ_OK);
        free(rec);
        rec_start += (int64_t)len;
    }
    assert_int_equal(rmq_store_read_at(m, rec_start, &rec, &len), RMQ_OK);
    free(rec);
    int64_t cut = rec_start + (int64_t)len - 3;
    while (rmq_store_cl_repl_offset(s) < cut) {
        int64_t off = rmq_store_cl_repl_offset(s);
        rmq_store_cl_slice_t sl;
        assert_int_equal(rmq_store_cl_read(m, off, (size_t)(cut - off), &sl), RMQ_OK);
        assert_int_equal(rmq_store_cl_append(s, off, sl.data, sl.len), RMQ_OK);
        rmq_store_cl_slice_release(&sl);
    }
    assert_int_equal(rmq_store_cl_repl_offset(s), cut);
    assert_int_equal(rmq_store_commitlog_max_offset(s), rec_start);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    rmq_store_close(s);
    touch_abort(fx->sdir); /* as if killed: recovery scans the tail */
    s = open_store(&fx->scfg, true);
    assert_int_equal(rmq_store_commitlog_max_offset(s), rec_start);
    assert_int_equal(rmq_store_cl_repl_offset(s), rec_start);
    copy_until(m, s, end, &k);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    verify_queues(m, s, true);
    rmq_store_close(s);
    rmq_store_close(m);
    compare_commitlogs(fx->mdir, fx->sdir, 0);
}

static void test_start_at_last_segment(void **st) {
    rfx_t *fx = *st;
    rmq_store_t *m = fill_master(fx);
    int64_t end = rmq_store_commitlog_max_offset(m);
    int64_t last = rmq_store_cl_last_segment_start(m);
    assert_int_equal(last, end - end % SEG);
    assert_true(last > 0);
    /* an empty segment left behind (allocated ahead, then a crash) does not stand in the way */
    char p[600];
    snprintf(p, sizeof(p), "%s/commitlog", fx->sdir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/commitlog/00000000000000000000", fx->sdir);
    FILE *zf = fopen(p, "w");
    assert_non_null(zf);
    assert_int_equal(ftruncate(fileno(zf), SEG), 0);
    fclose(zf);
    rmq_store_t *s = open_store(&fx->scfg, true);
    assert_int_equal(rmq_store_cl_repl_offset(s), 0);
    /* an empty slave may start at any segment-aligned offset, nowhere else */
    rmq_store_cl_slice_t sl;
    assert_int_equal(rmq_store_cl_read(m, last, 500, &sl), RMQ_OK);
    assert_int_equal(rmq_store_cl_append(s, last + 1, sl.data, sl.len), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_store_cl_append(s, last, sl.data, sl.len), RMQ_OK);
    rmq_store_cl_slice_release(&sl);
    size_t k = 0;
    copy_until(m, s, end, &k);
    assert_int_equal(rmq_store_commitlog_max_offset(s), end);
    assert_int_equal(rmq_store_commitlog_min_offset(s), last);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    verify_queues(m, s, false);
    /* new records on the master follow */
    assert_int_equal(put_n(m, "T0", 0, NMSG, 100, NULL, NULL), RMQ_OK);
    copy_until(m, s, rmq_store_commitlog_max_offset(m), &k);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_true(rmq_store_wait_dispatched(m, 5000));
    verify_queues(m, s, false);
    rmq_store_close(s);
    s = open_store(&fx->scfg, false); /* and it survives a restart */
    assert_int_equal(rmq_store_commitlog_min_offset(s), last);
    assert_int_equal(rmq_store_commitlog_max_offset(s), rmq_store_commitlog_max_offset(m));
    rmq_store_close(s);
    rmq_store_close(m);
    assert_int_equal(compare_commitlogs(fx->mdir, fx->sdir, last), 1);
}

static void test_refused(void **st) {
    rfx_t *fx = *st;
    rmq_store_t *m = fill_master(fx);
    rmq_store_t *s = open_store(&fx->scfg, true);
    rmq_store_cl_slice_t sl;
    assert_int_equal(rmq_store_cl_read(m, 0, 1000, &sl), RMQ_OK);
    assert_int_equal(sl.len, 1000);
    assert_int_equal(rmq_store_cl_append(s, 100, sl.data, sl.len), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_store_cl_append(s, 0, sl.data, 500), RMQ_OK);
    /* wrong offsets: behind, ahead */
    assert_int_equal(rmq_store_cl_append(s, 0, sl.data, 500), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_store_cl_append(s, 501, sl.data + 501, 10), RMQ_ERR__INVALID_ARG);
    assert_int_equal(rmq_store_cl_repl_offset(s), 500);
    rmq_store_cl_slice_release(&sl);
    /* across a segment boundary */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof(junk));
    size_t k = 0;
    copy_until(m, s, SEG / 2, &k);
    int64_t at = rmq_store_cl_repl_offset(s);
    assert_true(at < SEG);
    uint8_t *big = calloc(1, SEG);
    assert_int_equal(rmq_store_cl_append(s, at, big, (size_t)(SEG - at) + 10),
                     RMQ_ERR__INVALID_ARG);
    free(big);
    copy_until(m, s, SEG + 300, &k);
    /* garbage where a record must start: refused, nothing kept */
    while (rmq_store_cl_repl_offset(s) != rmq_store_commitlog_max_offset(s))
        copy_until(m, s, rmq_store_cl_repl_offset(s) + 1, &k);
    at = rmq_store_cl_repl_offset(s);
    assert_int_equal(rmq_store_cl_append(s, at, junk, sizeof(junk)), RMQ_ERR__CORRUPT);
    assert_int_equal(rmq_store_cl_repl_offset(s), at);
    /* a record claiming another physical offset */
    assert_int_equal(rmq_store_cl_read(m, at, 32768, &sl), RMQ_OK);
    uint8_t *copy = malloc(sl.len);
    memcpy(copy, sl.data, sl.len);
    rmq_put_be64(copy + 28, 12345);
    assert_int_equal(rmq_store_cl_append(s, at, copy, sl.len), RMQ_ERR__CORRUPT);
    assert_int_equal(rmq_store_cl_append(s, at, sl.data, sl.len), RMQ_OK);
    free(copy);
    rmq_store_cl_slice_release(&sl);
    copy_until(m, s, rmq_store_commitlog_max_offset(m), &k);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    verify_queues(m, s, true);
    rmq_store_close(s);
    rmq_store_close(m);
    compare_commitlogs(fx->mdir, fx->sdir, 0);
}

static bool readable(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void test_append_notifier(void **st) {
    rfx_t *fx = *st;
    rmq_store_t *m = open_store(&fx->mcfg, true);
    int fd = rmq_store_notify_fd(m);
    assert_true(fd >= 0);
    assert_int_equal(put_n(m, "T0", 0, 0, 100, NULL, NULL), RMQ_OK);
    assert_false(readable(fd, 0)); /* not armed */
    rmq_store_notify_arm(m);
    assert_false(readable(fd, 0));
    assert_int_equal(put_n(m, "T0", 0, 1, 100, NULL, NULL), RMQ_OK);
    assert_true(readable(fd, 1000));
    rmq_store_notify_drain(m);
    assert_false(readable(fd, 0));
    assert_int_equal(put_n(m, "T0", 0, 2, 100, NULL, NULL), RMQ_OK); /* once per arming */
    assert_false(readable(fd, 0));
    /* raw appends on a slave notify too */
    rmq_store_t *s = open_store(&fx->scfg, true);
    rmq_store_notify_arm(s);
    size_t k = 0;
    copy_until(m, s, 10, &k);
    assert_false(readable(rmq_store_notify_fd(s), 0)); /* no complete record yet */
    copy_until(m, s, rmq_store_commitlog_max_offset(m), &k);
    assert_true(readable(rmq_store_notify_fd(s), 1000));
    rmq_store_close(s);
    rmq_store_close(m);
}

int main(void) {
    rmq_log_open(NULL, RMQ_LOG_LVL_WARN, true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_properties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_at_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_notifier, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
