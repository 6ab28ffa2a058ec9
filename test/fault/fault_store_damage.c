/* Store-damage matrix (issue 12): 2,000 messages in 64 KiB CommitLog segments, one kind of
 * damage per test, then a reopen (after a crash: abort file present, unless said otherwise) and
 * the survivors asserted one by one: every valid record is served at its original queue
 * offset with an intact body (CRC checked here), the damaged ones are never served, new puts
 * continue after the old end, and a second reopen agrees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/check.h"
#include "store/store_int.h" /* rmq_store__scrub_pass */
#include "test/unit/test_store_util.h"

#define SEG (64 * 1024)
#define N 2000
#define TOPIC "TD"

typedef struct {
    fx_t *fx;
    int64_t phys[N];
    int32_t size[N];
    int64_t end; /* CommitLog max offset after the fill */
} dmg_t;

static int setup(void **st) {
    fx_setup(st, SEG);
    dmg_t *d = calloc(1, sizeof(*d));
    d->fx = *st;
    *st = d;
    return 0;
}

static int teardown(void **st) {
    dmg_t *d = *st;
    *st = d->fx;
    free(d);
    return fx_teardown(st);
}

/* N messages on TD/0 with key k<i>, every 10th also one on TD/1; closed cleanly. */
static void fill(dmg_t *d) {
    rmq_store_t *s = open_store(&d->fx->cfg, true);
    rmq_store_put_result_t r;
    for (int i = 0; i < N; i++) {
        char props[64];
        snprintf(props, sizeof(props), "KEYS\001k%d\002TAGS\001a", i);
        assert_int_equal(put_n(s, TOPIC, 0, i, 200, props, &r), RMQ_OK);
        assert_int_equal(r.queue_offset, i);
        d->phys[i] = r.phys_offset;
        d->size[i] = r.wrote_bytes;
        if (i % 10 == 0) assert_int_equal(put_n(s, TOPIC, 1, i / 10, 50, NULL, NULL), RMQ_OK);
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    d->end = rmq_store_commitlog_max_offset(s);
    rmq_store_close(s);
}

static void seg_path(const dmg_t *d, int64_t phys, char *out, size_t n) {
    snprintf(out, n, "%s/commitlog/%020" PRId64, d->fx->dir, phys - phys % SEG);
}

/* Overwrite len bytes at a physical offset: mode 0 zeros, 1 xor 0x5A, 2 the bytes of val. */
static void poke(const dmg_t *d, int64_t phys, size_t len, int mode, const uint8_t *val) {
    char p[600];
    seg_path(d, phys, p, sizeof(p));
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t buf[4096];
    assert_true(len <= sizeof(buf));
    assert_int_equal(pread(fd, buf, len, phys % SEG), (ssize_t)len);
    for (size_t i = 0; i < len; i++)
        buf[i] = mode == 0 ? 0 : mode == 1 ? (uint8_t)(buf[i] ^ 0x5A) : val[i];
    assert_int_equal(pwrite(fd, buf, len, phys % SEG), (ssize_t)len);
    close(fd);
}

/* Every queue offset of TD/0 in [0, N) is served exactly when lost[i] is false, with its own
 * body and a valid CRC; returns how many were served. */
static int check_survivors(rmq_store_t *s, const bool *lost) {
    bool *seen = calloc(N, 1);
    int64_t off = 0;
    int served = 0;
    while (off < N) {
        rmq_store_get_t *g;
        assert_int_equal(rmq_store_get(s, TOPIC, 0, off, 32, 0, NULL, &g), RMQ_OK);
        for (size_t k = 0; k < g->count; k++) {
            int64_t q = g->queue_offsets[k];
            rmq_msg_rec_t rec;
            assert_true(q >= 0 && q < N);
            if (lost[q]) fail_msg("queue offset %" PRId64 " was damaged but is served", q);
            assert_true(rec_is(g->iov[k].iov_base, g->iov[k].iov_len, TOPIC, 0, (int)q, &rec));
            assert_int_equal(rec.queue_offset, q);
            assert_false(seen[q]);
            seen[q] = true;
            served++;
        }
        if (g->next_begin_offset <= off) { /* nothing more */
            rmq_store_get_release(g);
            break;
        }
        off = g->next_begin_offset;
        rmq_store_get_release(g);
    }
    for (int i = 0; i < N; i++)
        if (!lost[i] && !seen[i]) fail_msg("valid message %d (queue offset %d) lost", i, i);
    free(seen);
    return served;
}

/* Reopen after the damage (crash when abort), check survivors and keys, append, reopen. */
static rmq_store_t *reopen_check(dmg_t *d, const bool *lost, bool abort_file, int64_t want_end) {
    if (abort_file) touch_abort(d->fx->dir);
    rmq_store_t *s = open_store(&d->fx->cfg, true);
    if (want_end >= 0) assert_int_equal(rmq_store_commitlog_max_offset(s), want_end);
    int lost_n = 0, last_valid = -1;
    for (int i = 0; i < N; i++) {
        lost_n += lost[i];
        if (!lost[i]) last_valid = i;
    }
    assert_int_equal(check_survivors(s, lost), N - lost_n);
    assert_int_equal(rmq_store_max_offset(s, TOPIC, 1), N / 10);
    /* keys of surviving messages are queryable, damaged ones are not returned */
    for (int i = 0; i < N; i += 97) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        int64_t *offs;
        size_t no;
        assert_int_equal(
            rmq_store_query_by_key(s, TOPIC, key, 32, 0, INT64_MAX / 2, &offs, &no, NULL), RMQ_OK);
        bool hit = false;
        for (size_t k = 0; k < no; k++) hit |= offs[k] == d->phys[i];
        assert_true(hit == !lost[i]);
        free(offs);
    }
    /* appends continue after the old end with the next queue offset */
    int64_t next_q = rmq_store_max_offset(s, TOPIC, 0);
    assert_int_equal(next_q, last_valid + 1);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, TOPIC, 0, (int)next_q, 200, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, next_q);
    rmq_store_close(s);
    s = open_store(&d->fx->cfg, false);
    assert_int_equal(rmq_store_max_offset(s, TOPIC, 0), next_q + 1);
    return s;
}

static void quarantined(rmq_store_t *s, uint64_t ranges) {
    rmq_store_stats_t st;
    rmq_store_get_stats(s, &st);
    assert_int_equal(st.quarantined_ranges, ranges);
}

static void test_flipped_body(void **st) {
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[1000] + 150, 4, 1, NULL);
    bool lost[N] = {0};
    lost[1000] = true;
    rmq_store_t *s = reopen_check(d, lost, true, -1);
    quarantined(s, 1);
    rmq_store_close(s);
}

static void test_flipped_header_crc_field(void **st) {
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[1000] + 9, 1, 1, NULL); /* BODYCRC */
    bool lost[N] = {0};
    lost[1000] = true;
    rmq_store_close(reopen_check(d, lost, true, -1));
}

static void test_flipped_header_phys_field(void **st) {
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[1000] + 35, 1, 1, NULL); /* low byte of PHYSICALOFFSET */
    bool lost[N] = {0};
    lost[1000] = true;
    rmq_store_close(reopen_check(d, lost, true, -1));
}

/* The case: TOTALSIZE of record 1,000 of 2,000 set to 0x7fff0000, abort file present. */
static void test_length_field(void **st) {
    dmg_t *d = *st;
    fill(d);
    static const uint8_t big[4] = {0x7f, 0xff, 0x00, 0x00};
    poke(d, d->phys[1000], 4, 2, big);
    bool lost[N] = {0};
    lost[1000] = true;
    rmq_store_t *s = reopen_check(d, lost, true, -1);
    quarantined(s, 1);
    rmq_store_close(s);
}

static void test_length_field_clean(void **st) {
    /* the same damage in the newest segment after a clean stop */
    dmg_t *d = *st;
    fill(d);
    static const uint8_t small[4] = {0x00, 0x00, 0x00, 0x05};
    poke(d, d->phys[N - 5], 4, 2, small);
    bool lost[N] = {0};
    lost[N - 5] = true;
    rmq_store_close(reopen_check(d, lost, false, -1));
}

static void test_magic(void **st) {
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[1000] + 4, 4, 0, NULL);
    bool lost[N] = {0};
    lost[1000] = true;
    rmq_store_close(reopen_check(d, lost, true, -1));
}

static void test_garbage_run(void **st) {
    /* records 1000..1004 overwritten with noise, lengths included */
    dmg_t *d = *st;
    fill(d);
    size_t len = (size_t)(d->phys[1005] - d->phys[1000]);
    uint8_t noise[4096];
    srand(7);
    for (size_t i = 0; i < len; i++) noise[i] = (uint8_t)rand();
    if (d->phys[1000] / SEG != d->phys[1005] / SEG) { /* keep it inside one file */
        for (int i = 0; i < 5; i++) poke(d, d->phys[1000 + i], (size_t)d->size[1000 + i], 1, NULL);
    } else {
        poke(d, d->phys[1000], len, 2, noise);
    }
    bool lost[N] = {0};
    for (int i = 1000; i < 1005; i++) lost[i] = true;
    rmq_store_close(reopen_check(d, lost, true, -1));
}

static void test_damage_before_segment_end(void **st) {
    /* the last record of a segment gets a bad length: resync finds the next segment's start */
    dmg_t *d = *st;
    fill(d);
    int last = -1;
    for (int i = 1; i < N; i++)
        if (d->phys[i] / SEG != d->phys[i - 1] / SEG && d->phys[i - 1] / SEG == 4) last = i - 1;
    assert_true(last > 0);
    static const uint8_t zero_len[4] = {0, 0, 0, 0};
    poke(d, d->phys[last], 4, 2, zero_len);
    bool lost[N] = {0};
    lost[last] = true;
    rmq_store_close(reopen_check(d, lost, true, -1));
}

static void test_torn_tail(void **st) {
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[N - 1] + d->size[N - 1] / 2, (size_t)(d->size[N - 1] - d->size[N - 1] / 2), 0,
         NULL);
    bool lost[N] = {0};
    lost[N - 1] = true;
    rmq_store_t *s = reopen_check(d, lost, true, -1);
    quarantined(s, 0);
    rmq_store_close(s);
}

static void cut_file(const char *p, off_t len) {
    assert_int_equal(truncate(p, len), 0);
}

static off_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static void test_truncated_middle_segment(void **st) {
    /* a middle CommitLog segment cut short mid-record (a copy, a full disk, a bad restore):
     * padded, its records before the cut kept, every later segment kept */
    dmg_t *d = *st;
    fill(d);
    char p[600], aside[700];
    seg_path(d, d->phys[1000], p, sizeof(p));
    off_t cut = (off_t)(d->phys[1000] % SEG) + 50;
    cut_file(p, cut);
    bool lost[N] = {0};
    int64_t seg_start = d->phys[1000] - d->phys[1000] % SEG;
    for (int i = 1000; i < N && d->phys[i] < seg_start + SEG; i++) lost[i] = true;
    rmq_store_t *s = reopen_check(d, lost, true, -1);
    rmq_store_close(s);
    assert_int_equal(file_size(p), SEG);
    snprintf(aside, sizeof(aside), "%s.short-%lld", p, (long long)cut);
    assert_int_equal(file_size(aside), cut);
}

static void test_truncated_middle_segment_clean(void **st) {
    /* same, clean stop: the cut segment is one of the last three, which a clean start checks */
    dmg_t *d = *st;
    fill(d);
    char p[600];
    int64_t victim = d->phys[N - 1] - d->phys[N - 1] % SEG - SEG; /* second-last segment */
    snprintf(p, sizeof(p), "%s/commitlog/%020" PRId64, d->fx->dir, victim);
    cut_file(p, 1000);
    bool lost[N] = {0};
    for (int i = 0; i < N; i++)
        lost[i] = d->phys[i] >= victim && d->phys[i] + d->size[i] > victim + 1000 &&
                  d->phys[i] < victim + SEG;
    rmq_store_close(reopen_check(d, lost, false, -1));
}

static void test_truncated_last_segment(void **st) {
    dmg_t *d = *st;
    fill(d);
    char p[600];
    seg_path(d, d->phys[N - 1], p, sizeof(p));
    cut_file(p, (off_t)(d->phys[N - 1] % SEG) + 30);
    bool lost[N] = {0};
    lost[N - 1] = true;
    rmq_store_close(reopen_check(d, lost, true, d->phys[N - 1]));
}

static void test_oversized_segment(void **st) {
    dmg_t *d = *st;
    fill(d);
    char p[600], aside[700];
    seg_path(d, d->phys[1000], p, sizeof(p));
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t junk[1000];
    memset(junk, 0xEE, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    bool lost[N] = {0};
    rmq_store_close(reopen_check(d, lost, true, d->end + 0 * 1));
    assert_int_equal(file_size(p), SEG);
    snprintf(aside, sizeof(aside), "%s.excess-%d", p, SEG + 1000);
    assert_int_equal(file_size(aside), 1000);
}

static void rm_sub(dmg_t *d, const char *sub) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", d->fx->dir, sub);
    rm_rf(p);
}

static void test_deleted_cq(void **st) {
    dmg_t *d = *st;
    fill(d);
    rm_sub(d, "consumequeue");
    bool lost[N] = {0};
    rmq_store_close(reopen_check(d, lost, false, d->end));
}

static void test_truncated_cq_file(void **st) {
    /* TD/0's second ConsumeQueue file cut mid-entry: padded and rebuilt from the CommitLog */
    dmg_t *d = *st;
    fill(d);
    char p[600];
    snprintf(p, sizeof(p), "%s/consumequeue/" TOPIC "/0/%020d", d->fx->dir, 20000);
    assert_true(file_size(p) == 20000);
    cut_file(p, 391);
    bool lost[N] = {0};
    rmq_store_close(reopen_check(d, lost, false, d->end));
}

static void test_deleted_index(void **st) {
    dmg_t *d = *st;
    fill(d);
    rm_sub(d, "index");
    bool lost[N] = {0};
    rmq_store_close(reopen_check(d, lost, false, d->end));
}

static void test_deleted_checkpoint(void **st) {
    dmg_t *d = *st;
    fill(d);
    rm_sub(d, "checkpoint");
    bool lost[N] = {0};
    rmq_store_close(reopen_check(d, lost, true, d->end));
}

static void test_two_damages(void **st) {
    /* a bad length and a flipped body in different segments, a torn tail after both */
    dmg_t *d = *st;
    fill(d);
    static const uint8_t big[4] = {0x7f, 0xff, 0x00, 0x00};
    poke(d, d->phys[300], 4, 2, big);
    poke(d, d->phys[1500] + 150, 4, 1, NULL);
    poke(d, d->phys[N - 1] + 20, 40, 0, NULL);
    bool lost[N] = {0};
    lost[300] = lost[1500] = lost[N - 1] = true;
    rmq_store_t *s = reopen_check(d, lost, true, -1);
    quarantined(s, 2);
    rmq_store_close(s);
}

static void test_flipped_body_clean_scrub(void **st) {
    /* a body flipped after a clean stop in an old segment (a clean start checks only the three
     * newest): the scrub finds it, and from then on, across restarts, it is never served */
    dmg_t *d = *st;
    fill(d);
    poke(d, d->phys[300] + 150, 4, 1, NULL);
    rmq_store_t *s = open_store(&d->fx->cfg, true);
    quarantined(s, 0);
    assert_int_equal(rmq_store__scrub_pass(s, 0), 1);
    assert_int_equal(rmq_store__scrub_pass(s, 0), 0); /* known now */
    quarantined(s, 1);
    bool lost[N] = {0};
    lost[300] = true;
    assert_int_equal(check_survivors(s, lost), N - 1);
    rmq_store_stats_t sst;
    rmq_store_get_stats(s, &sst);
    assert_true(sst.quarantine_hits >= 1);
    assert_true(sst.scrubbed_bytes > 0);
    rmq_store_close(s);
    s = reopen_check(d, lost, false, -1);
    quarantined(s, 1);
    rmq_store_close(s);
}

/* ---- offline check (store_check) ------------------------------------------------------------ */

static int run_check(dmg_t *d, char *out, size_t n) {
    char cmd[1200], bin[600];
    const char *bd = getenv("RMQ_BIN_DIR");
    snprintf(bin, sizeof(bin), "%s/store_check", bd ? bd : "build/bin");
    snprintf(cmd, sizeof(cmd), "%s --commitlog-size %d --cq-size 20000 --max-message-size 65536 %s",
             bin, SEG, d->fx->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_store_check(void **st) {
    dmg_t *d = *st;
    fill(d);
    char *out = malloc(1 << 20);
    assert_int_equal(run_check(d, out, 1 << 20), 0);
    assert_non_null(strstr(out, "clean: every record valid"));
    static const uint8_t big[4] = {0x7f, 0xff, 0x00, 0x00};
    poke(d, d->phys[1000], 4, 2, big);
    char p[600];
    seg_path(d, d->phys[N - 1], p, sizeof(p));
    cut_file(p, (off_t)(d->phys[N - 1] % SEG) + 30); /* and a short last segment */
    assert_int_equal(run_check(d, out, 1 << 20), 1);
    char want[128];
    snprintf(want, sizeof(want), "CommitLog [%" PRId64 ", %" PRId64 ")", d->phys[1000],
             d->phys[1000] + d->size[1000]);
    if (!strstr(out, want)) fail_msg("store_check output lacks \"%s\":\n%s", want, out);
    assert_non_null(strstr(out, "expected 65536"));
    assert_non_null(strstr(out, "entries point to no valid record")); /* TD/0's entry 1000 */
    /* offline: nothing was changed */
    assert_int_equal(file_size(p), (off_t)(d->phys[N - 1] % SEG) + 30);
    free(out);
}

/* ---- disk pressure ------------------------------------------------------------------------ */

static void test_pressure_keeps_unexpired(void **st) {
    /* above diskMaxUsedSpaceRatio nothing unexpired goes unless cleanFileForciblyEnable */
    dmg_t *d = *st;
    d->fx->cfg.disk_max_used_space_ratio = 10; /* any disk is "full" */
    fill(d);
    rmq_store_t *s = open_store(&d->fx->cfg, false);
    size_t before = rmq_mfq_count(&s->cl);
    assert_true(before > 3);
    assert_int_equal(rmq_store__run_clean(s, 0, 0, NULL), 0);
    assert_int_equal(rmq_mfq_count(&s->cl), before);
    bool lost[N] = {0};
    assert_int_equal(check_survivors(s, lost), N);
    rmq_store_close(s);
    d->fx->cfg.clean_file_forcibly_enable = true; /* the operator asks for RocketMQ's way */
    s = open_store(&d->fx->cfg, false);
    assert_true(rmq_store__run_clean(s, 0, 0, NULL) > 0);
    assert_true(rmq_mfq_count(&s->cl) < before);
    rmq_store_close(s);
}

/* No room for an index file (its size with the test's 1000 slots and 4000 entries), room for
 * everything else. */
static int fail_alloc(int fd, int64_t len) {
    return len == 40 + 4 * 1000 + 20 * 4000 ? ENOSPC : posix_fallocate(fd, 0, (off_t)len);
}

static void test_index_full_keys_wait(void **st) {
    /* no index file can be created: the ConsumeQueues go on, the keys wait and are indexed
     * in order once there is room */
    dmg_t *d = *st;
    rmq_store_t *s = open_store(&d->fx->cfg, true);
    rmq_store_put_result_t r;
    for (int i = 0; i < 10; i++) {
        char props[64];
        snprintf(props, sizeof(props), "KEYS\001k%d", i);
        assert_int_equal(put_n(s, TOPIC, 0, i, 100, props, &r), RMQ_OK);
        d->phys[i] = r.phys_offset;
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* the next index file cannot be reserved (test hook) */
    atomic_store(&rmq_mfile__fallocate_hook, fail_alloc);
    int n0 = d->fx->cfg.max_index_num; /* 4000 entries per file: fill the current one */
    for (int i = 10; i < n0 + 200; i++) {
        char props[64];
        snprintf(props, sizeof(props), "KEYS\001k%d", i);
        assert_int_equal(put_n(s, TOPIC, 0, i, 10, props, &r), RMQ_OK);
        if (i < N) d->phys[i] = r.phys_offset;
    }
    assert_true(rmq_store_wait_dispatched(s, 10000)); /* dispatch was not stalled */
    assert_int_equal(rmq_store_max_offset(s, TOPIC, 0), n0 + 200);
    int64_t *offs;
    size_t no;
    char key[16];
    snprintf(key, sizeof(key), "k%d", n0 + 150); /* past the full file: waiting */
    assert_int_equal(rmq_store_query_by_key(s, TOPIC, key, 8, 0, INT64_MAX / 2, &offs, &no, NULL),
                     RMQ_OK);
    assert_int_equal(no, 0);
    free(offs);
    atomic_store(&rmq_mfile__fallocate_hook, NULL); /* room again */
    bool hit = false;
    for (int tries = 0; tries < 50 && !hit; tries++) {
        usleep(100000);
        rmq_store_wait_dispatched(s, 100); /* wakes the dispatcher */
        assert_int_equal(
            rmq_store_query_by_key(s, TOPIC, key, 8, 0, INT64_MAX / 2, &offs, &no, NULL), RMQ_OK);
        hit = no == 1;
        free(offs);
    }
    assert_true(hit);
    snprintf(key, sizeof(key), "k%d", 5);
    assert_int_equal(rmq_store_query_by_key(s, TOPIC, key, 8, 0, INT64_MAX / 2, &offs, &no, NULL),
                     RMQ_OK);
    assert_int_equal(no, 1);
    assert_int_equal(offs[0], d->phys[5]);
    free(offs);
    rmq_store_close(s);
}

static bool key_hits(rmq_store_t *s, int i, int64_t want_phys) {
    char key[16];
    snprintf(key, sizeof(key), "k%d", i);
    int64_t *offs;
    size_t no;
    assert_int_equal(rmq_store_query_by_key(s, TOPIC, key, 8, 0, INT64_MAX / 2, &offs, &no, NULL),
                     RMQ_OK);
    bool hit = no == 1 && (want_phys < 0 || offs[0] == want_phys);
    free(offs);
    return hit;
}

static void test_index_keys_wait_across_restart(void **st) {
    /* keys waiting for room in the index when the store stops cleanly are indexed after the
     * next start (<root>/indexPending), not forgotten */
    dmg_t *d = *st;
    rmq_store_t *s = open_store(&d->fx->cfg, true);
    rmq_store_put_result_t r;
    atomic_store(&rmq_mfile__fallocate_hook, fail_alloc);
    int n0 = d->fx->cfg.max_index_num;
    int64_t last_phys = -1;
    for (int i = 0; i < n0 + 200; i++) {
        char props[64];
        snprintf(props, sizeof(props), "KEYS\001k%d", i);
        assert_int_equal(put_n(s, TOPIC, 0, i, 10, props, &r), RMQ_OK);
        last_phys = r.phys_offset;
    }
    assert_true(rmq_store_wait_dispatched(s, 10000));
    assert_false(key_hits(s, n0 + 199, -1)); /* waiting */
    rmq_store_close(s);
    char p[600];
    snprintf(p, sizeof(p), "%s/indexPending", d->fx->cfg.store_path_root_dir);
    assert_int_equal(access(p, F_OK), 0);
    /* the offline check says so, and calls it no damage */
    char *report = NULL;
    size_t rlen = 0;
    FILE *out = open_memstream(&report, &rlen);
    rmq_store_check_cfg_t cc = {.root = d->fx->cfg.store_path_root_dir,
                                .commitlog_size = d->fx->cfg.mapped_file_size_commitlog,
                                .cq_size = d->fx->cfg.mapped_file_size_cq};
    assert_int_equal(rmq_store_check(&cc, out), 0);
    fclose(out);
    assert_non_null(strstr(report, "wait to be indexed"));
    free(report);

    atomic_store(&rmq_mfile__fallocate_hook, NULL); /* room again, then a clean start */
    s = open_store(&d->fx->cfg, true);
    bool hit = false;
    for (int tries = 0; tries < 50 && !hit; tries++) {
        rmq_store_wait_dispatched(s, 100);
        hit = key_hits(s, n0 + 199, last_phys);
        if (!hit) usleep(100000);
    }
    assert_true(hit);
    assert_true(key_hits(s, 3, -1));
    assert_true(key_hits(s, n0 + 100, -1)); /* once each: nothing indexed twice */
    assert_int_equal(access(p, F_OK), -1);
    rmq_store_close(s);
}

static void quiet(int lvl, const char *line, void *op) {
    (void)lvl;
    (void)op;
    if (getenv("RMQ_TEST_VERBOSE")) fprintf(stderr, "%s\n", line);
}

int main(void) {
    /* damage is logged as ERROR on purpose: print only when asked */
    rmq_log_set_cb(quiet, NULL, RMQ_LOG_LVL_INFO);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_flipped_body),
        T(test_index_keys_wait_across_restart),
        T(test_flipped_header_crc_field),
        T(test_flipped_header_phys_field),
        T(test_length_field),
        T(test_length_field_clean),
        T(test_magic),
        T(test_garbage_run),
        T(test_damage_before_segment_end),
        T(test_torn_tail),
        T(test_truncated_middle_segment),
        T(test_truncated_middle_segment_clean),
        T(test_truncated_last_segment),
        T(test_oversized_segment),
        T(test_deleted_cq),
        T(test_truncated_cq_file),
        T(test_deleted_index),
        T(test_deleted_checkpoint),
        T(test_two_damages),
        T(test_flipped_body_clean_scrub),
        T(test_store_check),
        T(test_pressure_keeps_unexpired),
        T(test_index_full_keys_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
