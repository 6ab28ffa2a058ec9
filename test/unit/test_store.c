/* Unit tests for store/: appends, segment roll-over, ConsumeQueue and IndexFile contents, reads
 * and their statuses, offset by time, batches, retention, config files, disk full, the
 * dispatcher woken by appends and kicks. */
#include "test_store_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "store/store_int.h"

#define SEG (64 * 1024)

static int setup(void **st) {
    return fx_setup(st, SEG);
}

static size_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (size_t)st.st_size : 0;
}

static bool exists(const char *dir, const char *sub) {
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    return access(p, F_OK) == 0;
}

static void test_put_get(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    int64_t prev_phys = -1;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(put_n(s, "T1", i % 2, i, 100, "TAGS\001TagA", &r), RMQ_OK);
        assert_int_equal(r.queue_offset, i / 2);
        assert_true(r.phys_offset > prev_phys);
        assert_int_equal(r.count, 1);
        assert_true(r.store_ts > 0);
        prev_phys = r.phys_offset;
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_int_equal(rmq_store_max_offset(s, "T1", 0), 5);
    assert_int_equal(rmq_store_max_offset(s, "T1", 1), 5);
    assert_int_equal(rmq_store_min_offset(s, "T1", 0), 0);
    assert_int_equal(rmq_store_max_offset(s, "nope", 0), 0);

    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "T1", 1, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_FOUND);
    assert_int_equal(g->count, 5);
    assert_int_equal(g->next_begin_offset, 5);
    assert_int_equal(g->min_offset, 0);
    assert_int_equal(g->max_offset, 5);
    for (size_t i = 0; i < g->count; i++) {
        assert_true(rec_is(g->iov[i].iov_base, g->iov[i].iov_len, "T1", 1, (int)(2 * i + 1), NULL));
        assert_int_equal(g->queue_offsets[i], (int64_t)i);
    }
    rmq_store_get_release(g);

    /* max_msgs and byte caps, then the statuses of store.md 9.3 */
    assert_int_equal(rmq_store_get(s, "T1", 0, 1, 2, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 2);
    assert_int_equal(g->next_begin_offset, 3);
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "T1", 0, 0, 32, 300, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 1); /* first always in, the second would pass 300 bytes */
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "T1", 0, 5, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_OFFSET_OVERFLOW_ONE);
    assert_int_equal(g->next_begin_offset, 5);
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "T1", 0, 9, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_OFFSET_OVERFLOW_BADLY);
    assert_int_equal(g->next_begin_offset, 5);
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "T1", 7, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_NO_MATCHED_LOGIC_QUEUE);
    assert_int_equal(g->next_begin_offset, 0);
    rmq_store_get_release(g);
    assert_string_equal(rmq_get_status_name(RMQ_GET_OFFSET_TOO_SMALL), "OFFSET_TOO_SMALL");

    /* by physical offset, store times */
    uint8_t *rec;
    size_t len;
    assert_int_equal(rmq_store_read_at(s, r.phys_offset, &rec, &len), RMQ_OK);
    rmq_msg_rec_t d;
    assert_true(rec_is(rec, len, "T1", 1, 9, &d));
    assert_int_equal(d.queue_offset, 4);
    assert_int_equal(d.phys_offset, r.phys_offset);
    assert_int_equal(d.store_ts, r.store_ts);
    free(rec);
    assert_int_equal(rmq_store_read_at(s, r.phys_offset + 3, &rec, &len), RMQ_ERR__NOT_FOUND);
    assert_int_equal(rmq_store_read_at(s, 1 << 30, &rec, &len), RMQ_ERR__NOT_FOUND);
    assert_int_equal(rmq_store_msg_store_time(s, "T1", 1, 4), r.store_ts);
    assert_true(rmq_store_earliest_time(s, "T1", 0) > 0);
    assert_true(rmq_store_earliest_time(s, "T1", 0) <= r.store_ts);
    assert_int_equal(rmq_store_earliest_time(s, "nope", 0), -1);
    assert_int_equal(rmq_store_commitlog_min_offset(s), 0);
    assert_int_equal(rmq_store_commitlog_max_offset(s), r.phys_offset + r.wrote_bytes);

    int32_t *ids;
    size_t nids;
    assert_int_equal(rmq_store_topic_queues(s, "T1", &ids, &nids), RMQ_OK);
    assert_int_equal(nids, 2);
    free(ids);
    rmq_store_stats_t stats;
    rmq_store_get_stats(s, &stats);
    assert_int_equal(stats.put_count, 10);
    assert_true(stats.writable);
    assert_int_equal(stats.commitlog_segments, 1);

    /* too big, bad topic */
    static char big[70000];
    rmq_store_msg_t m = mk_msg("T1", 0, big, 65537, NULL);
    assert_int_equal(rmq_store_put(s, &m, &r, NULL, NULL), RMQ_ERR_MESSAGE_ILLEGAL);
    m = mk_msg("", 0, big, 1, NULL);
    assert_int_equal(rmq_store_put(s, &m, &r, NULL, NULL), RMQ_ERR_MESSAGE_ILLEGAL);

    /* a second open of the same store is refused */
    rmq_store_t *s2 = NULL;
    assert_int_equal(rmq_store_open(&fx->cfg, &s2), RMQ_ERR__STATE);
    rmq_store_close(s);
    assert_false(exists(fx->dir, "abort"));
    assert_true(exists(fx->dir, "checkpoint"));
    assert_true(exists(fx->dir, "lock"));

    /* clean reopen: offsets continue */
    s = open_store(&fx->cfg, true);
    assert_int_equal(rmq_store_max_offset(s, "T1", 1), 5);
    int64_t end = rmq_store_commitlog_max_offset(s);
    assert_int_equal(put_n(s, "T1", 1, 10, 100, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 5);
    assert_int_equal(r.phys_offset, end);
    rmq_store_close(s);
}

/* Fill segment 0 so that the remaining space is exactly `left` bytes. */
static void fill_to(rmq_store_t *s, int64_t left, const char *topic) {
    const size_t over = 91 + strlen(topic); /* record size without body, no properties */
    for (;;) {
        int64_t free_ = SEG - rmq_store_commitlog_max_offset(s);
        int64_t need = free_ - left; /* bytes to write */
        assert_true(need >= (int64_t)over);
        if (need <= 2000) {
            rmq_store_put_result_t r;
            assert_int_equal(put_n(s, topic, 0, 0, (size_t)need - over, NULL, &r), RMQ_OK);
            assert_int_equal(SEG - rmq_store_commitlog_max_offset(s), left);
            return;
        }
        rmq_store_put_result_t r;
        size_t b = (size_t)RMQ_MIN(need - (int64_t)over - 200, 1000);
        assert_int_equal(put_n(s, topic, 0, 0, b, NULL, &r), RMQ_OK);
    }
}

/* Properties in pieces (props_more): stored as one string, the record and its queue entry as
 * with the same properties in one piece; a batch refuses pieces. */
static void test_props_pieces(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    static const char whole[] = "TAGS\001TagA\002KEYS\001k1\002CLUSTER\001C";
    rmq_store_msg_t m = {.topic = "TP", .topic_len = 2, .body = "body!", .body_len = 5};
    m.born_host.ip_len = m.store_host.ip_len = 4;
    rmq_store_put_result_t r[3];
    /* whole, then cut at two places, then only pieces */
    m.props = whole;
    m.props_len = sizeof whole - 1;
    assert_int_equal(rmq_store_put(s, &m, &r[0], NULL, NULL), RMQ_OK);
    m.props_len = 9; /* "TAGS\001TagA" */
    m.props_more[0] = whole + 9;
    m.props_more_len[0] = 8; /* "\002KEYS\001k1" */
    m.props_more[1] = whole + 17;
    m.props_more_len[1] = sizeof whole - 1 - 17;
    assert_int_equal(rmq_store_put(s, &m, &r[1], NULL, NULL), RMQ_OK);
    m.props = NULL;
    m.props_len = 0;
    m.props_more[0] = whole;
    m.props_more_len[0] = 17;
    assert_int_equal(rmq_store_put(s, &m, &r[2], NULL, NULL), RMQ_OK);
    assert_int_equal(r[1].wrote_bytes, r[0].wrote_bytes);
    for (int i = 0; i < 3; i++) {
        uint8_t *rec;
        size_t len;
        assert_int_equal(rmq_store_read_at(s, r[i].phys_offset, &rec, &len), RMQ_OK);
        rmq_msg_rec_t d;
        assert_int_equal(rmq_msg_rec_decode(rec, len, true, &d), (int64_t)len);
        assert_int_equal(d.total_size, (int32_t)len);
        assert_int_equal(d.body_len, 5);
        assert_memory_equal(d.body, "body!", 5);
        assert_int_equal(d.props_len, (int32_t)(sizeof whole - 1));
        assert_memory_equal(d.props, whole, sizeof whole - 1);
        assert_int_equal(r[i].queue_offset, i);
        free(rec);
    }
    rmq_store_msg_t b[2] = {m, m};
    assert_int_equal(rmq_store_put_batch(s, b, 2, NULL, NULL, NULL, NULL), RMQ_ERR__INVALID_ARG);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_int_equal(rmq_store_max_offset(s, "TP", 0), 3);
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TP", 0, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 3);
    rmq_store_get_release(g);
    rmq_store_close(s);
}

static void test_roll_boundary(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    const size_t L = 91 + 2 + 300; /* topic "TR", 300-byte body */
    fill_to(s, (int64_t)L + 8, "TF");
    rmq_store_put_result_t r;
    /* exactly fits, leaving the 8 bytes every segment keeps */
    assert_int_equal(put_n(s, "TR", 0, 1, 300, NULL, &r), RMQ_OK);
    assert_int_equal(r.phys_offset, SEG - (int64_t)L - 8);
    assert_int_equal(rmq_store_commitlog_max_offset(s), SEG - 8);
    /* the next one needs the blank and goes to segment 1 */
    assert_int_equal(put_n(s, "TR", 0, 2, 300, NULL, &r), RMQ_OK);
    assert_int_equal(r.phys_offset, SEG);
    assert_int_equal(r.queue_offset, 1);
    uint8_t *rec;
    size_t len;
    assert_int_equal(rmq_store_read_at(s, SEG, &rec, &len), RMQ_OK);
    assert_true(rec_is(rec, len, "TR", 0, 2, NULL));
    free(rec);
    char p[512];
    snprintf(p, sizeof(p), "%s/commitlog/00000000000000065536", fx->dir);
    assert_int_equal(file_size(p), SEG);
    snprintf(p, sizeof(p), "%s/commitlog/00000000000000000000", fx->dir);
    assert_int_equal(file_size(p), SEG);
    /* the blank record: TOTALSIZE = 8, BLANK magic */
    FILE *f = fopen(p, "rb");
    uint8_t blank[8];
    fseek(f, SEG - 8, SEEK_SET);
    assert_int_equal(fread(blank, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(rmq_get_be32(blank), 8);
    assert_int_equal(rmq_get_be32(blank + 4), 0xCBD43194u);

    rmq_store_close(s);
}

static void test_roll_blank_larger(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    const size_t L = 91 + 2 + 300;
    fill_to(s, (int64_t)L + 7, "TF"); /* one byte short */
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TR", 0, 1, 300, NULL, &r), RMQ_OK);
    assert_int_equal(r.phys_offset, SEG);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* reads skip the blank: all of queue TF/0 and TR/0 readable */
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TR", 0, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 1);
    rmq_store_get_release(g);
    rmq_store_close(s);
    /* the blank holds the whole rest: TOTALSIZE = L + 7 */
    char p[512];
    snprintf(p, sizeof(p), "%s/commitlog/00000000000000000000", fx->dir);
    FILE *f = fopen(p, "rb");
    uint8_t blank[8];
    fseek(f, SEG - (long)(L + 7), SEEK_SET);
    assert_int_equal(fread(blank, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(rmq_get_be32(blank), L + 7);
    assert_int_equal(rmq_get_be32(blank + 4), 0xCBD43194u);
    /* reopen keeps everything */
    s = open_store(&fx->cfg, false);
    assert_int_equal(rmq_store_commitlog_max_offset(s), SEG + (int64_t)L);
    assert_int_equal(rmq_store_max_offset(s, "TR", 0), 1);
    rmq_store_close(s);
}

static void test_cq_contents(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r[3];
    assert_int_equal(put_n(s, "TC", 2, 0, 50, "TAGS\001TagA", &r[0]), RMQ_OK);
    assert_int_equal(put_n(s, "TC", 2, 1, 60, NULL, &r[1]), RMQ_OK);
    assert_int_equal(put_n(s, "TC", 2, 2, 70, "KEYS\001a b\002TAGS\001TopicTest#KEY1", &r[2]),
                     RMQ_OK);
    rmq_store_put_result_t d;
    assert_int_equal(put_n(s, RMQ_SCHEDULE_TOPIC, 2, 0, 10, "DELAY\0013\002TAGS\001x", &d), RMQ_OK);
    rmq_store_close(s);
    char p[512];
    snprintf(p, sizeof(p), "%s/consumequeue/TC/2/00000000000000000000", fx->dir);
    assert_int_equal(file_size(p), 20000);
    FILE *f = fopen(p, "rb");
    uint8_t e[60];
    assert_int_equal(fread(e, 1, 60, f), 60);
    fclose(f);
    int64_t tags[3] = {2598919, 0, -1656969516LL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal((int64_t)rmq_get_be64(e + 20 * i), r[i].phys_offset);
        assert_int_equal((int32_t)rmq_get_be32(e + 20 * i + 8), r[i].wrote_bytes);
        assert_true((int64_t)rmq_get_be64(e + 20 * i + 12) == tags[i]);
    }
    snprintf(p, sizeof(p), "%s/consumequeue/%s/2/00000000000000000000", fx->dir,
             RMQ_SCHEDULE_TOPIC);
    f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(e, 1, 20, f), 20);
    fclose(f);
    assert_int_equal((int64_t)rmq_get_be64(e + 12), d.store_ts + 10000); /* level 3 = 10 s */
}

static void test_filter(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    for (int i = 0; i < 10; i++)
        assert_int_equal(put_n(s, "TT", 0, i, 40, i % 2 ? "TAGS\001TagB" : "TAGS\001TagA", &r),
                         RMQ_OK);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    int64_t codes[] = {rmq_msg_tags_code("TagB", 4)};
    rmq_store_filter_t flt = {.codes = codes, .ncodes = 1};
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TT", 0, 0, 32, 0, &flt, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_FOUND);
    assert_int_equal(g->count, 5);
    for (size_t i = 0; i < g->count; i++) {
        assert_int_equal(g->queue_offsets[i], (int64_t)(2 * i + 1));
        assert_true(rec_is(g->iov[i].iov_base, g->iov[i].iov_len, "TT", 0, (int)(2 * i + 1), NULL));
    }
    assert_int_equal(g->next_begin_offset, 10);
    rmq_store_get_release(g);
    /* two messages wanted: the batch is full at the entry after the 2nd match (offset 4) */
    assert_int_equal(rmq_store_get(s, "TT", 0, 0, 2, 0, &flt, &g), RMQ_OK);
    assert_int_equal(g->count, 2);
    assert_int_equal(g->next_begin_offset, 4);
    rmq_store_get_release(g);
    int64_t none[] = {rmq_msg_tags_code("TagC", 4)};
    rmq_store_filter_t nf = {.codes = none, .ncodes = 1};
    assert_int_equal(rmq_store_get(s, "TT", 0, 3, 32, 0, &nf, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_NO_MATCHED_MESSAGE);
    assert_int_equal(g->count, 0);
    assert_int_equal(g->next_begin_offset, 10);
    rmq_store_get_release(g);
    rmq_store_close(s);
}

static void test_index(void **st) {
    fx_t *fx = *st;
    fx->cfg.max_hash_slot_num = 3; /* collisions everywhere */
    fx->cfg.max_index_num = 10;    /* several files */
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r[20];
    char props[128];
    int64_t t0 = rmq_now_ms();
    for (int i = 0; i < 20; i++) {
        snprintf(props, sizeof(props), "KEYS\001k%d common\002UNIQ_KEY\001U%04d", i, i);
        assert_int_equal(put_n(s, "TI", 0, i, 30, props, &r[i]), RMQ_OK);
    }
    assert_int_equal(put_n(s, "TJ", 0, 0, 30, "KEYS\001k5", NULL), RMQ_OK);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    int64_t t1 = rmq_now_ms();
    int64_t *offs;
    size_t n;
    int64_t upd;
    assert_int_equal(
        rmq_store_query_by_key(s, "TI", "k5", 32, t0 - 1000, t1 + 1000, &offs, &n, &upd), RMQ_OK);
    /* the hash collides with other keys: the store returns candidates; k5 of TI is there */
    bool seen = false;
    for (size_t i = 0; i < n; i++) seen |= offs[i] == r[5].phys_offset;
    assert_true(seen);
    assert_true(upd >= t0);
    free(offs);
    /* exact keys: check every candidate's KEYS, as the client does */
    for (int i = 0; i < 20; i += 7) {
        char key[16];
        snprintf(key, sizeof(key), "U%04d", i);
        assert_int_equal(
            rmq_store_query_by_key(s, "TI", key, 32, t0 - 1000, t1 + 1000, &offs, &n, NULL),
            RMQ_OK);
        int hits = 0;
        for (size_t k = 0; k < n; k++) {
            uint8_t *rec;
            size_t len;
            assert_int_equal(rmq_store_read_at(s, offs[k], &rec, &len), RMQ_OK);
            rmq_msg_rec_t d;
            assert_true(rmq_msg_rec_decode(rec, len, true, &d) > 0);
            char u[16];
            if (rmq_msg_prop_copy(d.props, (size_t)d.props_len, "UNIQ_KEY", u, sizeof(u)) &&
                !strcmp(u, key)) {
                hits++;
                assert_int_equal(offs[k], r[i].phys_offset);
            }
            free(rec);
        }
        assert_int_equal(hits, 1);
        free(offs);
    }
    /* "common" on all 20, newest first, capped by max */
    assert_int_equal(
        rmq_store_query_by_key(s, "TI", "common", 5, t0 - 1000, t1 + 1000, &offs, &n, NULL),
        RMQ_OK);
    assert_int_equal(n, 5);
    for (size_t i = 1; i < n; i++) assert_true(offs[i] < offs[i - 1]);
    free(offs);
    assert_int_equal(
        rmq_store_query_by_key(s, "TI", "common", 64, t0 - 1000, t1 + 1000, &offs, &n, NULL),
        RMQ_OK);
    assert_int_equal(n, 20);
    free(offs);
    /* a time range before everything finds nothing */
    assert_int_equal(
        rmq_store_query_by_key(s, "TI", "common", 64, t0 - 100000, t0 - 50000, &offs, &n, NULL),
        RMQ_OK);
    assert_int_equal(n, 0);
    free(offs);
    rmq_store_close(s);
    /* 20 messages with 3 keys each = 60 entries, 9 per file: several index files */
    int files = 0;
    char p[512];
    snprintf(p, sizeof(p), "%s/index", fx->dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') files++;
    closedir(d);
    assert_true(files >= 6);
    /* and the index survives a reopen */
    s = open_store(&fx->cfg, false);
    assert_int_equal(
        rmq_store_query_by_key(s, "TI", "common", 64, t0 - 1000, t1 + 1000, &offs, &n, NULL),
        RMQ_OK);
    assert_int_equal(n, 20);
    free(offs);
    rmq_store_close(s);
}

static void sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000);
}

static void test_offset_by_time(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    int64_t ts[6];
    rmq_store_put_result_t r;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(put_n(s, "TO", 0, i, 20, NULL, &r), RMQ_OK);
        ts[i] = r.store_ts;
        sleep_ms(30);
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rmq_store_msg_store_time(s, "TO", 0, i), ts[i]);
        assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, ts[i]), i);
    }
    assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, ts[0] - 100000), 0);
    assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, ts[5] + 100000), 5);
    /* between two: the closer one; a tie picks the older */
    assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, ts[2] + 2), 2);
    assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, ts[3] - 2), 3);
    int64_t mid = ts[3] + (ts[4] - ts[3]) / 2;
    int64_t want = (mid - ts[3] > ts[4] - mid) ? 4 : 3;
    assert_int_equal(rmq_store_offset_by_time(s, "TO", 0, mid), want);
    assert_int_equal(rmq_store_offset_by_time(s, "nope", 0, mid), 0);
    rmq_store_close(s);
}

static int cb_count;
static rmq_err_t cb_err;
static void done_cb(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    (void)r;
    (void)arg;
    __atomic_add_fetch(&cb_count, 1, __ATOMIC_SEQ_CST);
    if (err != RMQ_OK) cb_err = err;
}

static void test_batch(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TB", 0, 0, 10, NULL, &r), RMQ_OK);
    char bodies[5][16];
    rmq_store_msg_t m[5];
    for (int i = 0; i < 5; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "TB-0-%d", i + 1);
        m[i] = mk_msg("TB", 0, bodies[i], strlen(bodies[i]), "TAGS\001x");
    }
    int64_t offs[5];
    cb_count = 0;
    assert_int_equal(rmq_store_put_batch(s, m, 5, &r, offs, done_cb, NULL), RMQ_OK);
    assert_int_equal(cb_count, 1);
    assert_int_equal(r.count, 5);
    assert_int_equal(r.queue_offset, 1);
    for (int i = 1; i < 5; i++) assert_true(offs[i] > offs[i - 1]);
    assert_int_equal(offs[0], r.phys_offset);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TB", 0, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 6);
    for (size_t i = 0; i < 6; i++) {
        rmq_msg_rec_t d;
        assert_true(rec_is(g->iov[i].iov_base, g->iov[i].iov_len, "TB", 0, (int)i, &d));
        assert_int_equal(d.queue_offset, (int64_t)i);
        if (i) assert_int_equal(d.phys_offset, offs[i - 1]);
    }
    rmq_store_get_release(g);
    /* a batch that does not fit moves whole to the next segment */
    fill_to(s, 400, "TF");
    assert_int_equal(rmq_store_put_batch(s, m, 5, &r, offs, NULL, NULL), RMQ_OK);
    assert_int_equal(r.phys_offset, SEG);
    assert_int_equal(r.queue_offset, 6);
    /* mixed topics refused */
    m[1].queue_id = 3;
    assert_int_equal(rmq_store_put_batch(s, m, 5, &r, offs, NULL, NULL), RMQ_ERR_MESSAGE_ILLEGAL);
    rmq_store_close(s);
}

typedef struct {
    rmq_store_t *s;
    int id, n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int acked;
    int errors;
} sync_prod_t;

static void sync_cb(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    sync_prod_t *p = arg;
    (void)r;
    pthread_mutex_lock(&p->mu);
    if (err != RMQ_OK) p->errors++;
    p->acked++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *sync_thread(void *arg) {
    sync_prod_t *p = arg;
    char topic[16], body[64];
    snprintf(topic, sizeof(topic), "TS%d", p->id);
    for (int i = 0; i < p->n; i++) {
        snprintf(body, sizeof(body), "%s-0-%d", topic, i);
        rmq_store_msg_t m = mk_msg(topic, 0, body, strlen(body), NULL);
        rmq_store_put_result_t r;
        if (rmq_store_put(p->s, &m, &r, sync_cb, p) != RMQ_OK) {
            p->errors++;
            break;
        }
        pthread_mutex_lock(&p->mu);
        while (p->acked <= i) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void test_sync_flush(void **st) {
    fx_t *fx = *st;
    fx->cfg.flush_disk_type = RMQ_FLUSH_SYNC;
    rmq_store_t *s = open_store(&fx->cfg, true);
    sync_prod_t p[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].s = s;
        p[i].id = i;
        p[i].n = 100;
        pthread_mutex_init(&p[i].mu, NULL);
        pthread_cond_init(&p[i].cv, NULL);
        pthread_create(&th[i], NULL, sync_thread, &p[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    rmq_store_stats_t stats;
    rmq_store_get_stats(s, &stats);
    assert_true(stats.flushed_offset >= stats.commitlog_max_offset - 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(p[i].acked, 100);
        assert_int_equal(p[i].errors, 0);
        pthread_mutex_destroy(&p[i].mu);
        pthread_cond_destroy(&p[i].cv);
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_int_equal(rmq_store_max_offset(s, "TS3", 0), 100);
    rmq_store_close(s);
}

/* ---- SYNC_FLUSH staging (commitlog.c): the kicker's records wait for its kick ---- */

typedef struct {
    _Atomic int done, failed;
} stage_acks_t;

static void stage_cb(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    (void)r;
    stage_acks_t *a = arg;
    atomic_fetch_add(err == RMQ_OK ? &a->done : &a->failed, 1);
}

static rmq_err_t stage_put(rmq_store_t *s, int n, size_t blen, stage_acks_t *a,
                           rmq_store_put_result_t *r) {
    static char body[2 << 20];
    memset(body, 'x', blen);
    int k = snprintf(body, sizeof(body), "TG-0-%d", n);
    if ((size_t)k < blen) body[k] = '.';
    rmq_store_msg_t m = mk_msg("TG", 0, body, blen, NULL);
    return rmq_store_put(s, &m, r, stage_cb, a);
}

static bool readable(rmq_store_t *s, const rmq_store_put_result_t *r, int n) {
    uint8_t *rec;
    size_t len;
    if (rmq_store_read_at(s, r->phys_offset, &rec, &len) != RMQ_OK) return false;
    bool ok = rec_is(rec, len, "TG", 0, n, NULL);
    free(rec);
    return ok;
}

static bool acks_reach(stage_acks_t *a, int n) {
    for (int i = 0; i < 5000 && atomic_load(&a->done) < n; i++) usleep(1000);
    return atomic_load(&a->done) == n && atomic_load(&a->failed) == 0;
}

static void *stage_other(void *arg) {
    rmq_store_t *s = arg;
    return (void *)(intptr_t)put_n(s, "TO", 0, 0, 100, NULL, NULL);
}

static void test_sync_flush_staging(void **st) {
    fx_t *fx = *st;
    fx->cfg.flush_disk_type = RMQ_FLUSH_SYNC;
    fx->cfg.max_message_size = 4 << 20;
    fx->cfg.mapped_file_size_commitlog = 4 << 20; /* room for a record larger than the stage */
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_kick_attach(s);
    stage_acks_t a = {0};
    rmq_store_put_result_t r[4];

    /* staged: neither readable nor acknowledged before the kick, both after it */
    int64_t max0 = rmq_store_commitlog_max_offset(s);
    assert_int_equal(stage_put(s, 0, 200, &a, &r[0]), RMQ_OK);
    assert_int_equal(stage_put(s, 1, 200, &a, &r[1]), RMQ_OK);
    assert_int_equal(r[1].phys_offset, r[0].phys_offset + r[0].wrote_bytes);
    assert_int_equal(r[1].queue_offset, 1);
    usleep(20000);
    assert_int_equal(rmq_store_commitlog_max_offset(s), max0);
    assert_false(readable(s, &r[0], 0));
    assert_int_equal(atomic_load(&a.done), 0);
    rmq_store_kick(s);
    assert_int_equal(rmq_store_commitlog_max_offset(s), r[1].phys_offset + r[1].wrote_bytes);
    assert_true(readable(s, &r[0], 0) && readable(s, &r[1], 1));
    assert_true(acks_reach(&a, 2));
    assert_int_equal(rmq_store_max_offset(s, "TG", 0), 2); /* the kick dispatched them */

    /* a record larger than the stage: the staged one is written first, then it, in order */
    assert_int_equal(stage_put(s, 2, 100, &a, &r[2]), RMQ_OK);
    assert_int_equal(stage_put(s, 3, (size_t)(3 << 19), &a, &r[3]), RMQ_OK);
    assert_true(readable(s, &r[2], 2) && readable(s, &r[3], 3));
    assert_true(acks_reach(&a, 3)); /* the large one's */
    rmq_store_kick(s);
    assert_true(acks_reach(&a, 4)); /* the staged one's, queued by the kick */

    /* another thread's put writes the staged records first */
    assert_int_equal(stage_put(s, 4, 100, &a, &r[0]), RMQ_OK);
    pthread_t th;
    void *rc = (void *)1;
    assert_int_equal(pthread_create(&th, NULL, stage_other, s), 0);
    pthread_join(th, &rc);
    assert_null(rc);
    assert_true(readable(s, &r[0], 4));
    assert_true(rmq_store_commitlog_max_offset(s) > r[0].phys_offset + r[0].wrote_bytes);
    rmq_store_kick(s);
    assert_true(acks_reach(&a, 5));

    /* close writes what is staged and completes its request */
    assert_int_equal(stage_put(s, 5, 100, &a, &r[0]), RMQ_OK);
    rmq_store_close(s);
    assert_int_equal(atomic_load(&a.done), 6);
    assert_int_equal(atomic_load(&a.failed), 0);
    s = open_store(&fx->cfg, false);
    assert_true(readable(s, &r[0], 5));
    rmq_store_close(s);
}

static void age_files(const char *dir, int64_t age_s) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    char p[600];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        utimensat(AT_FDCWD, p, ts, 0);
    }
    closedir(d);
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_retention(void **st) {
    fx_t *fx = *st;
    fx->cfg.mapped_file_size_cq = 20 * 50; /* 50 entries per ConsumeQueue segment */
    fx->cfg.file_reserved_time = 1;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    int n = 0;
    while (rmq_store_commitlog_max_offset(s) < 5 * SEG + 100) {
        char props[64];
        snprintf(props, sizeof(props), "KEYS\001key%d", n);
        assert_int_equal(put_n(s, "TR", 0, n, 900, props, &r), RMQ_OK);
        n++;
    }
    assert_true(rmq_store_wait_dispatched(s, 5000));
    char cl[512], cq[512];
    snprintf(cl, sizeof(cl), "%s/commitlog", fx->dir);
    snprintf(cq, sizeof(cq), "%s/consumequeue/TR/0", fx->dir);
    int segs = (int)(rmq_store_commitlog_max_offset(s) / SEG) + 1;
    int cq_files = count_files(cq);
    assert_true(cq_files >= 6);

    /* fresh files are not deleted, even in the delete hour */
    assert_int_equal(rmq_store__run_clean(s, 1, 0, NULL), 0);

    /* a reader pins segment 0: nothing goes (deletion is oldest first) */
    age_files(cl, 2 * 3600);
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TR", 0, 0, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 4);
    assert_int_equal(rmq_store__run_clean(s, 1, 0, NULL), 0);
    assert_true(rec_is(g->iov[0].iov_base, g->iov[0].iov_len, "TR", 0, 0, NULL));
    rmq_store_get_release(g);

    /* released: every segment but the last is deleted (a pass may stop at a segment the flush
     * or dispatch thread reads at that moment: later passes go on) */
    int del = 0;
    for (int k = 0; k < 100 && del < segs - 1; k++) {
        del += rmq_store__run_clean(s, 1, 0, NULL);
        if (del < segs - 1) usleep(2000);
    }
    assert_int_equal(del, segs - 1);
    assert_int_equal(rmq_store_commitlog_min_offset(s), (int64_t)(segs - 1) * SEG);
    snprintf(cl + strlen(cl), sizeof(cl) - strlen(cl), "/00000000000000000000");
    assert_int_not_equal(access(cl, F_OK), 0);
    /* ConsumeQueue segments wholly below the new min are gone, the min offset moved */
    assert_true(count_files(cq) < cq_files);
    int64_t minq = rmq_store_min_offset(s, "TR", 0);
    assert_true(minq > 0);
    assert_int_equal(rmq_store_max_offset(s, "TR", 0), n);
    assert_int_equal(rmq_store_get(s, "TR", 0, 0, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_OFFSET_TOO_SMALL);
    assert_int_equal(g->next_begin_offset, minq);
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "TR", 0, minq, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_FOUND);
    assert_true(rec_is(g->iov[0].iov_base, g->iov[0].iov_len, "TR", 0, (int)minq, NULL));
    rmq_store_get_release(g);
    assert_true(rmq_store_earliest_time(s, "TR", 0) > 0);
    rmq_store_close(s);
    /* reopen after retention */
    s = open_store(&fx->cfg, false);
    assert_int_equal(rmq_store_min_offset(s, "TR", 0), minq);
    assert_int_equal(rmq_store_max_offset(s, "TR", 0), n);
    rmq_store_close(s);
}

static void test_retention_space(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    while (rmq_store_commitlog_max_offset(s) < 2 * SEG + 100)
        assert_int_equal(put_n(s, "TR", 0, 0, 900, NULL, NULL), RMQ_OK);
    /* clean immediately ignores age; never the last segment */
    assert_true(rmq_store_wait_dispatched(s, 5000));
    int del = 0;
    for (int k = 0; k < 100 && del < 2; k++) {
        del += rmq_store__run_clean(s, 2, 0, NULL);
        if (del < 2) usleep(2000);
    }
    assert_int_equal(del, 2);
    assert_int_equal(rmq_store__run_clean(s, 2, 0, NULL), 0);
    assert_int_equal(rmq_store_commitlog_min_offset(s), 2 * SEG);
    rmq_store_close(s);
}

/* mqadmin's housekeeping: ConsumeQueue entries, the topic list, deleteExpiredCommitLog through
 * the service thread, then cleanExpiredCQ removing the queues whose messages are all gone. */
static void test_housekeeping_on_request(void **st) {
    fx_t *fx = *st;
    fx->cfg.file_reserved_time = 0; /* every sealed segment is expired */
    free(fx->cfg.delete_when);
    fx->cfg.delete_when = strdup("99"); /* never the hour: only a request deletes */
    rmq_store_t *s = open_store(&fx->cfg, true);
    assert_int_equal(put_n(s, "OLD", 0, 0, 100, NULL, NULL), RMQ_OK);
    assert_int_equal(put_n(s, "OLD", 1, 0, 100, NULL, NULL), RMQ_OK);
    while (rmq_store_commitlog_max_offset(s) < 2 * SEG + 100)
        assert_int_equal(put_n(s, "TR", 0, 0, 900, NULL, NULL), RMQ_OK);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    int64_t phys, tags;
    int32_t size;
    assert_int_equal(rmq_store_cq_entry(s, "OLD", 0, 0, &phys, &size, &tags), RMQ_OK);
    assert_int_equal(phys, 0);
    assert_true(size > 100);
    assert_int_equal(rmq_store_cq_entry(s, "OLD", 0, 1, &phys, &size, &tags), RMQ_ERR__NOT_FOUND);
    assert_int_equal(rmq_store_cq_entry(s, "NONE", 0, 0, &phys, &size, &tags), RMQ_ERR__NOT_FOUND);
    char **names;
    size_t n;
    assert_int_equal(rmq_store_topics(s, &names, &n), RMQ_OK);
    assert_int_equal(n, 2); /* OLD (two queues) and TR */
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    assert_int_equal(rmq_store_clean_expired_cqs(s), 0); /* nothing deleted yet */
    /* a reader holds the oldest segment when the request comes: the request is tried again
     * once it lets go (a single pass left it for the next deleteWhen hour, i.e. never here) */
    rmq_mfile_t *held = rmq_mfq_first(&s->cl);
    rmq_store_clean_expired_commitlog(s);
    usleep(300 * 1000);
    assert_int_equal(rmq_store_commitlog_min_offset(s), 0);
    rmq_mfile_unpin(held);
    for (int k = 0; k < 500 && rmq_store_commitlog_min_offset(s) < 2 * SEG; k++) usleep(10000);
    assert_int_equal(rmq_store_commitlog_min_offset(s), 2 * SEG);
    assert_int_equal(rmq_store_clean_expired_cqs(s), 2); /* OLD:0 and OLD:1 */
    assert_int_equal(rmq_store_max_offset(s, "OLD", 0), 0);
    assert_true(rmq_store_max_offset(s, "TR", 0) > 0);
    assert_int_equal(rmq_store_topics(s, &names, &n), RMQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "TR");
    free(names[0]);
    free(names);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/consumequeue/OLD/0", fx->dir);
    assert_int_not_equal(access(dir, F_OK), 0);
    /* the queue starts again from offset 0 */
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "OLD", 0, 1, 100, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 0);
    rmq_store_close(s);
}

static void test_cfgfile(void **st) {
    fx_t *fx = *st;
    char p[512], bak[520];
    snprintf(p, sizeof(p), "%s/config/topics.json", fx->dir);
    snprintf(bak, sizeof(bak), "%s.bak", p);
    char *text;
    size_t len;
    assert_int_equal(rmq_store_cfgfile_read(p, &text, &len), RMQ_ERR__NOT_FOUND);
    assert_int_equal(rmq_store_cfgfile_write(p, "{\"v\":1}", 7), RMQ_OK);
    assert_int_not_equal(access(bak, F_OK), 0);
    assert_int_equal(rmq_store_cfgfile_write(p, "{\"v\":2}", 7), RMQ_OK);
    assert_int_equal(rmq_store_cfgfile_read(p, &text, &len), RMQ_OK);
    assert_int_equal(len, 7);
    assert_string_equal(text, "{\"v\":2}");
    free(text);
    assert_int_equal(rmq_store_cfgfile_read(bak, &text, &len), RMQ_OK);
    assert_string_equal(text, "{\"v\":1}");
    free(text);
    /* main file lost or emptied: the .bak is used */
    unlink(p);
    assert_int_equal(rmq_store_cfgfile_read(p, &text, &len), RMQ_OK);
    assert_string_equal(text, "{\"v\":1}");
    free(text);
    FILE *f = fopen(p, "w");
    fclose(f);
    assert_int_equal(rmq_store_cfgfile_read(p, &text, &len), RMQ_OK);
    assert_string_equal(text, "{\"v\":1}");
    free(text);
    char tmp[520];
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static int fail_alloc(int fd, int64_t len) {
    (void)fd;
    (void)len;
    return ENOSPC;
}

static void test_disk_full(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TD", 0, 0, 100, NULL, &r), RMQ_OK);
    usleep(100000); /* let the allocate-ahead prepare segment 1 (or not): both must work */
    /* TD's ConsumeQueue file exists before the disk "fills" (a loaded host may not have run the
     * dispatcher within the 100 ms) */
    assert_true(rmq_store_wait_dispatched(s, 30000));
    rmq_mfile__fallocate_hook = fail_alloc;
    int i = 1;
    rmq_err_t e = RMQ_OK;
    for (; i < 10000; i++) {
        e = put_n(s, "TD", 0, i, 1000, NULL, &r);
        if (e != RMQ_OK) break;
    }
    assert_int_equal(e, RMQ_ERR_SERVICE_NOT_AVAILABLE);
    assert_true(i > 10);
    /* stored messages are intact and readable */
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_int_equal(rmq_store_max_offset(s, "TD", 0), i);
    rmq_store_get_t *g;
    assert_int_equal(rmq_store_get(s, "TD", 0, i - 1, 1, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->count, 1);
    assert_true(rec_is(g->iov[0].iov_base, g->iov[0].iov_len, "TD", 0, i - 1, NULL));
    rmq_store_get_release(g);
    assert_int_equal(put_n(s, "TD", 0, i, 1000, NULL, &r), RMQ_ERR_SERVICE_NOT_AVAILABLE);
    /* space again: puts resume with the next offsets */
    rmq_mfile__fallocate_hook = NULL;
    assert_int_equal(put_n(s, "TD", 0, i, 1000, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, i);
    rmq_store_close(s);
    s = open_store(&fx->cfg, false);
    assert_int_equal(rmq_store_max_offset(s, "TD", 0), i + 1);
    rmq_store_close(s);
}

static void test_cq_write_failure(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TQ", 0, 0, 100, NULL, &r), RMQ_OK);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    usleep(100000);
    /* a new queue needs a ConsumeQueue file, which cannot be created: the message is stored
     * (the CommitLog segment has room) but not dispatched, and puts are refused */
    rmq_mfile__fallocate_hook = fail_alloc;
    assert_int_equal(put_n(s, "TQ2", 0, 0, 100, NULL, &r), RMQ_OK);
    rmq_err_t e = RMQ_OK;
    for (int i = 0; i < 200 && e == RMQ_OK; i++) {
        usleep(5000);
        e = put_n(s, "TQ", 0, 1, 100, NULL, NULL);
    }
    assert_int_equal(e, RMQ_ERR_SERVICE_NOT_AVAILABLE);
    assert_int_equal(rmq_store_max_offset(s, "TQ2", 0), 0);
    rmq_mfile__fallocate_hook = NULL;
    /* the dispatcher retries: the entry appears and puts are accepted again */
    for (int i = 0; i < 400 && rmq_store_max_offset(s, "TQ2", 0) == 0; i++) usleep(5000);
    assert_int_equal(rmq_store_max_offset(s, "TQ2", 0), 1);
    e = RMQ_ERR__FAIL;
    for (int i = 0; i < 200 && e != RMQ_OK; i++) {
        e = put_n(s, "TQ", 0, 1, 100, NULL, &r);
        if (e != RMQ_OK) usleep(5000);
    }
    assert_int_equal(e, RMQ_OK);
    rmq_store_close(s);
}

/* The rarer statuses of store.md 9.3, produced by dropping files behind the store's back. */
static void test_get_statuses(void **st) {
    fx_t *fx = *st;
    fx->cfg.mapped_file_size_cq = 20 * 10; /* 10 entries per ConsumeQueue segment */
    rmq_store_t *s = open_store(&fx->cfg, true);
    rmq_store_get_t *g;
    /* a queue that exists but holds nothing */
    assert_non_null(rmq_store__cq_get(s, "TE", 2, 0, true));
    assert_int_equal(rmq_store_get(s, "TE", 0, 0, 32, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_NO_MESSAGE_IN_QUEUE);
    assert_int_equal(g->next_begin_offset, 0);
    rmq_store_get_release(g);
    /* 30 messages over two CommitLog segments */
    rmq_store_put_result_t r;
    for (int i = 0; i < 30; i++) assert_int_equal(put_n(s, "TE", 0, i, 4000, NULL, &r), RMQ_OK);
    assert_true(r.phys_offset >= SEG);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* CommitLog segment 0 gone, the queue's min not corrected yet: the records are removing.
     * The warm-up, flush or dispatch thread may pin it for a moment: retry, as the cleaner does */
    rmq_mfile_t *f = rmq_mfq_first(&s->cl);
    bool dropped = false;
    for (int k = 0; k < 500 && !(dropped = rmq_mfq_drop_first(&s->cl, f, false)); k++) usleep(2000);
    assert_true(dropped);
    rmq_mfile_unpin(f);
    assert_int_equal(rmq_store_get(s, "TE", 0, 0, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_MESSAGE_WAS_REMOVING);
    assert_int_equal(g->count, 0);
    assert_true(g->next_begin_offset > 0);
    rmq_store_get_release(g);
    /* ConsumeQueue segment 0 gone: the entry buffer is missing */
    rmq_cq_t *cq = rmq_store__cq_get(s, "TE", 2, 0, false);
    f = rmq_mfq_first(&cq->q);
    assert_true(rmq_mfq_drop_first(&cq->q, f, true));
    rmq_mfile_unpin(f);
    assert_int_equal(rmq_store_get(s, "TE", 0, 3, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_OFFSET_FOUND_NULL);
    assert_int_equal(g->next_begin_offset, 10);
    rmq_store_get_release(g);
    assert_int_equal(rmq_store_get(s, "TE", 0, 25, 4, 0, NULL, &g), RMQ_OK);
    assert_int_equal(g->status, RMQ_GET_FOUND);
    rmq_store_get_release(g);
    rmq_store_close(s);
}

static void test_transactions(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    char body[] = "half";
    rmq_store_msg_t m = mk_msg("TH", 0, body, 4, NULL);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TH", 0, 0, 10, NULL, &r), RMQ_OK);
    m.sysflag = RMQ_SYSFLAG_TXN_PREPARED;
    assert_int_equal(rmq_store_put(s, &m, &r, NULL, NULL), RMQ_OK);
    assert_int_equal(r.queue_offset, 0);
    m.sysflag = RMQ_SYSFLAG_TXN_ROLLBACK;
    assert_int_equal(rmq_store_put(s, &m, &r, NULL, NULL), RMQ_OK);
    m.sysflag = RMQ_SYSFLAG_TXN_COMMIT;
    assert_int_equal(rmq_store_put(s, &m, &r, NULL, NULL), RMQ_OK);
    assert_int_equal(r.queue_offset, 1);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    /* PREPARED and ROLLBACK records never enter a ConsumeQueue */
    assert_int_equal(rmq_store_max_offset(s, "TH", 0), 2);
    rmq_store_close(s);
}

static void test_delete_topic(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, true);
    for (int i = 0; i < 3; i++) assert_int_equal(put_n(s, "TX", i, 0, 10, NULL, NULL), RMQ_OK);
    assert_true(rmq_store_wait_dispatched(s, 5000));
    assert_true(exists(fx->dir, "consumequeue/TX/2"));
    assert_int_equal(rmq_store_delete_topic(s, "TX"), RMQ_OK);
    assert_false(exists(fx->dir, "consumequeue/TX"));
    assert_int_equal(rmq_store_max_offset(s, "TX", 1), 0);
    rmq_store_put_result_t r;
    assert_int_equal(put_n(s, "TX", 1, 0, 10, NULL, &r), RMQ_OK);
    assert_int_equal(r.queue_offset, 0);
    rmq_store_close(s);
}

static int arrived;
static void arrive_cb(const char *topic, int32_t qid, int64_t qoff, int64_t tags, void *arg) {
    (void)qid;
    (void)qoff;
    (void)tags;
    (void)arg;
    if (!strcmp(topic, "TA")) __atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
}

static void test_arrive(void **st) {
    fx_t *fx = *st;
    rmq_store_t *s = open_store(&fx->cfg, false);
    rmq_store_set_arrive_cb(s, arrive_cb, NULL);
    assert_int_equal(rmq_store_start(s), RMQ_OK);
    arrived = 0;
    for (int i = 0; i < 50; i++) assert_int_equal(put_n(s, "TA", 0, i, 10, NULL, NULL), RMQ_OK);
    for (int i = 0; i < 500 && __atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < 50; i++) usleep(2000);
    assert_int_equal(arrived, 50);
    rmq_store_close(s);
}

/* ---- the dispatcher is woken by appends (reput.c): no clock, no wake-up lost ---- */

#define WAKE_N 20000

static void *wake_writer(void *arg) {
    rmq_store_t *s = arg;
    for (int i = 0; i < WAKE_N; i++)
        if (put_n(s, "TW", 0, i, 64, NULL, NULL) != RMQ_OK) return (void *)1;
    return NULL;
}

/* Whether (topic, 0) reaches n entries within 30 s, without waking the dispatcher. */
static bool cq_reaches(rmq_store_t *s, const char *topic, int64_t n) {
    for (int i = 0; i < 30000 && rmq_store_max_offset(s, topic, 0) < n; i++) usleep(1000);
    return rmq_store_max_offset(s, topic, 0) == n;
}

/* Whether the dispatcher sleeps within 30 s: past its last look at max_offset, so only a
 * wake-up (or the safety net) dispatches what comes next. */
static bool dispatcher_asleep(rmq_store_t *s) {
    for (int i = 0; i < 30000 && !atomic_load(&s->reput_parked); i++) usleep(1000);
    return atomic_load(&s->reput_parked) && atomic_load(&s->reput_waiting);
}

/* Dirty bytes (Shared_Dirty + Private_Dirty) of this process's mapping that starts at base. */
static int64_t mapping_dirty(const void *base) {
    FILE *fp = fopen("/proc/self/smaps", "r");
    assert_non_null(fp);
    char line[512];
    bool in = false;
    int64_t kb = 0;
    while (fgets(line, sizeof(line), fp)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = lo == (unsigned long)(uintptr_t)base;
            continue;
        }
        long v;
        if (in && (sscanf(line, "Shared_Dirty: %ld kB", &v) == 1 ||
                   sscanf(line, "Private_Dirty: %ld kB", &v) == 1))
            kb += v;
    }
    fclose(fp);
    return kb << 10;
}

static void wait_alloc_idle(rmq_store_t *s) {
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&s->alloc_mu);
        bool idle = s->alloc_idle && (s->alloc_want < 0 || s->alloc_ready);
        pthread_mutex_unlock(&s->alloc_mu);
        if (idle && atomic_load(&s->flushed) == atomic_load(&s->max_offset)) return;
        usleep(10000);
    }
    fail_msg("the allocator did not go idle");
}

/* Open a store with fx's configuration and wait for its allocator to make segment 0 and go
 * idle: segment 0, pinned, not taken by an append yet. */
static rmq_mfile_t *open_ready_segment(fx_t *fx, rmq_store_t **out) {
    rmq_store_t *s = open_store(&fx->cfg, true);
    wait_alloc_idle(s);
    pthread_mutex_lock(&s->alloc_mu);
    rmq_mfile_t *f = s->alloc_ready;
    assert_non_null(f);
    rmq_mfile_pin(f);
    pthread_mutex_unlock(&s->alloc_mu);
    *out = s;
    return f;
}

/* The warm-up leaves pages dirty (faulted in writable, zeros) only a window ahead of the
 * appender, which moves with it; the rest of the segment is read into the page cache, clean.
 * A whole segment left dirty came back as one writeback burst that stalled the host. */
static void test_warm_window(void **st) {
    fx_t *fx = *st;
    const int64_t seg = 160LL << 20, ahead = 64LL << 20, refill = 8LL << 20;
    fx->cfg.mapped_file_size_commitlog = seg;
    rmq_store_t *s;
    rmq_mfile_t *f = open_ready_segment(fx, &s);
    int64_t d = mapping_dirty(f->base);
    assert_true(d >= ahead - refill && d <= ahead + refill);
    unsigned char *vec = malloc((size_t)(seg >> 12));
    assert_int_equal(mincore(f->base, (size_t)seg, vec), 0);
    size_t resident = 0;
    for (int64_t i = 0; i < seg >> 12; i++) resident += vec[i] & 1;
    assert_int_equal(resident, (size_t)(seg >> 12)); /* the whole segment read in */
    free(vec);

    rmq_store_put_result_t r;
    for (int i = 0; i < 700; i++) /* ~42 MB */
        assert_int_equal(put_n(s, "TW", 0, i, 60000, NULL, &r), RMQ_OK);
    wait_alloc_idle(s);
    int64_t pos = atomic_load(&s->max_offset);
    assert_true(pos > 40LL << 20 && pos < seg);
    /* the written part is flushed (clean); what is dirty is the window ahead of pos */
    d = mapping_dirty(f->base);
    assert_true(d >= ahead - refill - (pos & 4095) && d <= RMQ_MIN(ahead + refill, seg - pos));
    rmq_mfile_unpin(f);
    rmq_store_close(s);
}

/* Whether the page cache page mapped at addr belongs to a large folio (/proc/kpageflags): 1 yes,
 * 0 no, -1 unknown (not root, or the page is not mapped). */
static int in_large_folio(const void *addr) {
    int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
    int res = -1;
    uint64_t e = 0, flags = 0;
    off_t at = (off_t)((uintptr_t)addr / 4096 * 8);
    if (pm >= 0 && kf >= 0 && pread(pm, &e, 8, at) == 8 && (e >> 63) & 1) {
        uint64_t pfn = e & ((1ULL << 55) - 1);
        if (pfn && pread(kf, &flags, 8, (off_t)(pfn * 8)) == 8)
            res = (flags >> 15 & 1) || (flags >> 16 & 1); /* COMPOUND_HEAD, COMPOUND_TAIL */
    }
    if (pm >= 0) close(pm);
    if (kf >= 0) close(kf);
    return res;
}

/* Under SYNC_FLUSH the warm-up fills the page cache with 4 KiB folios: an msync writes back
 * every folio it touches whole, and a group commit of ~128 KB inside 2 MiB folios wrote ~2.1 MB
 * to disk each time. */
/* Of f's pages every step bytes, how many are in large folios; *known: how many could be told
 * (none where kpageflags is not readable, which is said once). */
static int large_folios(const rmq_mfile_t *f, int64_t step, int *known) {
    int large = 0;
    *known = 0;
    for (int64_t off = 0; off < f->size; off += step) {
        int r = in_large_folio(f->base + off);
        if (r < 0) continue;
        (*known)++;
        large += r;
    }
    if (!*known) print_message("kpageflags not readable here: folio sizes not checked\n");
    return large;
}

/* Mappings of path in this process (/proc/self/maps). */
static int mappings_of(const char *path) {
    FILE *m = fopen("/proc/self/maps", "r");
    assert_non_null(m);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, m))
        if (strstr(line, path)) n++;
    fclose(m);
    return n;
}

/* ASYNC_FLUSH reads new segments in as 2 MiB folios, one per step through a view with
 * MADV_HUGEPAGE and MADV_RANDOM (mfile.c prefetch_huge; MADV_RANDOM alone would make them
 * 4 KiB), and unmaps that view once the segment is in. */
static void test_warm_large_folios_async(void **st) {
    fx_t *fx = *st;
    fx->cfg.mapped_file_size_commitlog = 32LL << 20;
    rmq_store_t *s;
    rmq_mfile_t *f = open_ready_segment(fx, &s);
    assert_null(f->view);
    assert_int_equal(mappings_of(f->path), 1);
    int known, large = large_folios(f, 2 << 20, &known);
    assert_int_equal(large, known);
    rmq_mfile_unpin(f);
    rmq_store_close(s);
}

static void test_warm_small_folios_sync(void **st) {
    fx_t *fx = *st;
    fx->cfg.mapped_file_size_commitlog = 32LL << 20;
    fx->cfg.flush_disk_type = RMQ_FLUSH_SYNC;
    rmq_store_t *s;
    rmq_mfile_t *f = open_ready_segment(fx, &s);
    int known;
    assert_int_equal(large_folios(f, 1 << 20, &known), 0);
    rmq_mfile_unpin(f);
    rmq_store_close(s);
}

/* Whether the last arrival was announced on the kicking thread. */
static pthread_t wake_kicker;
static _Atomic int wake_arrived_here = -1;

static void wake_arrive(const char *topic, int32_t qid, int64_t queue_offset, int64_t tags_code,
                        void *arg) {
    (void)topic, (void)qid, (void)queue_offset, (void)tags_code, (void)arg;
    atomic_store(&wake_arrived_here, pthread_equal(pthread_self(), wake_kicker) ? 1 : 0);
}

static void test_reput_wake(void **st) {
    fx_t *fx = *st;
    fx->cfg.mapped_file_size_commitlog = 1024 * 1024;
    rmq_store_t *s = open_store(&fx->cfg, false);
    wake_kicker = pthread_self(); /* before the dispatcher thread reads it */
    rmq_store_set_arrive_cb(s, wake_arrive, NULL);
    /* the safety-net wait far beyond the test's waits: only a wake-up dispatches in time */
    s->reput_net_ms = 3600 * 1000;
    assert_int_equal(rmq_store_start(s), RMQ_OK);

    /* a burst from a thread that never kicks: every record dispatched */
    pthread_t thr;
    void *rc = (void *)1;
    assert_int_equal(pthread_create(&thr, NULL, wake_writer, s), 0);
    pthread_join(thr, &rc);
    assert_null(rc);
    assert_true(cq_reaches(s, "TW", WAKE_N));

    /* one record after the dispatcher fell asleep: its put wakes it */
    assert_true(dispatcher_asleep(s));
    assert_int_equal(put_n(s, "TW", 0, WAKE_N, 64, NULL, NULL), RMQ_OK);
    assert_true(cq_reaches(s, "TW", WAKE_N + 1));

    /* the kicker's puts leave the dispatcher asleep; a kick after a few dispatches them itself,
     * on the kicking thread, before it returns, and the dispatcher sleeps on */
    rmq_store_kick_attach(s);
    assert_true(dispatcher_asleep(s));
    assert_int_equal(put_n(s, "TK", 0, 0, 64, NULL, NULL), RMQ_OK);
    assert_true(atomic_load(&s->reput_waiting)); /* the put did not wake it */
    assert_int_equal(rmq_store_max_offset(s, "TK", 0), 0);
    rmq_store_kick(s);
    assert_int_equal(rmq_store_max_offset(s, "TK", 0), 1);
    assert_int_equal(atomic_load(&wake_arrived_here), 1);
    assert_true(atomic_load(&s->reput_waiting) && atomic_load(&s->reput_parked));
    /* a kick with nothing new leaves it asleep */
    rmq_store_kick(s);
    assert_true(atomic_load(&s->reput_waiting));

    /* more than RMQ_STORE_KICK_INLINE bytes in one turn: the kick wakes the dispatcher, which
     * dispatches them on its own thread */
    int i = 1;
    for (int64_t end = atomic_load(&s->max_offset) + RMQ_STORE_KICK_INLINE;
         atomic_load(&s->max_offset) <= end; i++)
        assert_int_equal(put_n(s, "TK", 0, i, 64, NULL, NULL), RMQ_OK);
    assert_int_equal(rmq_store_max_offset(s, "TK", 0), 1);
    rmq_store_kick(s);
    assert_true(cq_reaches(s, "TK", i));
    assert_int_equal(atomic_load(&wake_arrived_here), 0);

    /* the kicker at a high rate, one kick per 64 puts: every record dispatched */
    for (; i < WAKE_N; i++) {
        assert_int_equal(put_n(s, "TK", 0, i, 64, NULL, NULL), RMQ_OK);
        if (i % 64 == 0) rmq_store_kick(s);
    }
    rmq_store_kick(s);
    assert_true(cq_reaches(s, "TK", WAKE_N));
    rmq_store_close(s);
}

typedef struct {
    int other;
    rmq_store_cfg_t store;
} conf_t;

static void test_cfg_keys(void **st) {
    (void)st;
    static const rmq_kv_def_t defs[] = {RMQ_STORE_CFG_KV(conf_t, store)};
    conf_t c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(rmq_kv_defaults(defs, RMQ_ARRAY_LEN(defs), &c), RMQ_OK);
    assert_int_equal(c.store.mapped_file_size_commitlog, 1073741824LL);
    assert_int_equal(c.store.flush_disk_type, RMQ_FLUSH_ASYNC);
    char err[256];
    const char *text = "mapedFileSizeCommitLog=65536\nflushDiskType=SYNC_FLUSH\n"
                       "storePathRootDir=/tmp/x\ndeleteWhen=04;16\nfileReservedTime=48\n";
    assert_int_equal(rmq_kv_load_text(defs, RMQ_ARRAY_LEN(defs), &c, text, "t", err, sizeof(err)),
                     RMQ_OK);
    assert_int_equal(c.store.mapped_file_size_commitlog, 65536);
    assert_int_equal(c.store.flush_disk_type, RMQ_FLUSH_SYNC);
    assert_string_equal(c.store.delete_when, "04;16");
    assert_int_equal(c.store.file_reserved_time, 48);
    assert_string_equal(rmq_store_flush_names[c.store.flush_disk_type], "SYNC_FLUSH");
    rmq_kv_free(defs, RMQ_ARRAY_LEN(defs), &c);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_keys),
        cmocka_unit_test_setup_teardown(test_put_get, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_props_pieces, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_roll_boundary, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_roll_blank_larger, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cq_contents, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_index, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offset_by_time, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sync_flush, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention_space, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cfgfile, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cq_write_failure, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_statuses, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_topic, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_housekeeping_on_request, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_arrive, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reput_wake, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sync_flush_staging, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_warm_window, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_warm_small_folios_sync, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_warm_large_folios_async, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
