/* store/timer: the timer wheel, log and checkpoint files (wraparound of slot indexes, many units
 * in one slot across log segments, recovery after a crash between the unit and the slot /
 * checkpoint updates, a changed precision refused). */
#include "test_store_util.h"

#include "store/timer.h"

#define P 100

static rmq_store_timer_t *open_timer(const char *dir, int64_t slots, int64_t seg) {
    rmq_store_timer_cfg_t c = {.root = dir, .precision_ms = P, .slots = slots, .log_seg_size = seg};
    rmq_store_timer_t *t = NULL;
    assert_int_equal(rmq_store_timer_open(&c, &t), RMQ_OK);
    return t;
}

static int64_t add(rmq_store_timer_t *t, int64_t slot, int64_t due, int64_t qoff) {
    rmq_store_timer_unit_t u = {.due_ms = due,
                                .offset_py = qoff * 1000,
                                .size_py = 200,
                                .topic_hash = 7,
                                .queue_offset = qoff};
    assert_int_equal(rmq_store_timer_append(t, slot, &u), RMQ_OK);
    return u.pos;
}

/* Units of a slot, newest first, through prevPos; returns the count and checks their dues. */
static int walk(rmq_store_timer_t *t, int64_t slot, int64_t *qoffs, int max) {
    rmq_store_timer_slot_t s;
    if (!rmq_store_timer_slot(t, slot, &s)) return 0;
    int n = 0;
    for (int64_t pos = s.last_pos; pos >= 0 && n < max;) {
        rmq_store_timer_unit_t u;
        assert_int_equal(rmq_store_timer_unit(t, pos, &u), RMQ_OK);
        assert_int_equal(u.slot_ms, slot);
        qoffs[n++] = u.queue_offset;
        pos = u.prev_pos;
    }
    assert_int_equal(n, s.num);
    return n;
}

static void test_slot_chain_and_wrap(void **st) {
    (void)st;
    char *dir = mk_tmpdir();
    int64_t slots = 16, base = rmq_now_ms() / P * P;
    /* 1000 units (52 B) in segments of 10 units: one slot chains across 100 segments */
    rmq_store_timer_t *t = open_timer(dir, slots, 10 * RMQ_TIMER_UNIT_SIZE);
    for (int i = 0; i < 1000; i++) add(t, base, base + 1 + i % P, i);
    int64_t q[1100];
    assert_int_equal(walk(t, base, q, 1100), 1000);
    for (int i = 0; i < 1000; i++) assert_int_equal(q[i], 999 - i);
    rmq_store_timer_unit_t u;
    rmq_store_timer_slot_t s;
    assert_true(rmq_store_timer_slot(t, base, &s));
    assert_int_equal(rmq_store_timer_unit(t, s.first_pos, &u), RMQ_OK);
    assert_int_equal(u.due_ms, base + 1);
    assert_int_equal(u.offset_py, 0);
    /* the same index one wheel turn later is a different time: empty, then a fresh chain */
    int64_t later = base + slots * P;
    assert_false(rmq_store_timer_slot(t, later, &s));
    add(t, later, later + 50, 1000);
    assert_int_equal(walk(t, later, q, 10), 1);
    assert_int_equal(q[0], 1000);
    assert_false(rmq_store_timer_slot(t, base, &s)); /* overwritten by the later turn */
    /* exact due times survive the round trip, late ones (before their slot) too */
    add(t, base + P, base - 5000, 1001);
    assert_true(rmq_store_timer_slot(t, base + P, &s));
    assert_int_equal(rmq_store_timer_unit(t, s.last_pos, &u), RMQ_OK);
    assert_int_equal(u.due_ms, base - 5000);
    rmq_store_timer_progress_t p;
    rmq_store_timer_progress(t, &p);
    assert_int_equal(p.enq_offset, 1002);
    assert_int_equal(p.appended_total, 1002);
    /* segments whose units were all written before a time can go */
    assert_true(rmq_store_timer_clean(t, rmq_now_ms() + 1000) > 90);
    assert_int_equal(rmq_store_timer_unit(t, s.last_pos, &u), RMQ_OK);
    rmq_store_timer_close(t);
    rm_rf(dir);
    free(dir);
}

static void test_recover_and_reopen(void **st) {
    (void)st;
    char *dir = mk_tmpdir();
    int64_t base = rmq_now_ms() / P * P;
    rmq_store_timer_t *t = open_timer(dir, 64, 1 << 16);
    for (int i = 0; i < 30; i++) add(t, base + (i % 3) * P, base + (i % 3) * P + 10, i);
    rmq_store_timer_set_delivered(t, base, base + 5, 2);
    rmq_store_timer_progress_t p0;
    rmq_store_timer_progress(t, &p0);
    /* a crash after the unit was written but before slot and checkpoint: undo both by hand */
    int64_t pos = add(t, base + P, base + P + 20, 30);
    rmq_store_timer_unit_t last;
    assert_int_equal(rmq_store_timer_unit(t, pos, &last), RMQ_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/config/timercheck", dir);
    rmq_store_timer_close(t);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint8_t b[8];
    rmq_put_be64(b, (uint64_t)p0.log_pos);
    fseek(f, 8, SEEK_SET);
    fwrite(b, 1, 8, f);
    rmq_put_be64(b, (uint64_t)p0.enq_offset);
    fseek(f, 16, SEEK_SET);
    fwrite(b, 1, 8, f);
    fclose(f);
    /* the slot as it was before the last append: num 10, last = the unit before */
    snprintf(path, sizeof path, "%s/timerwheel", dir);
    f = fopen(path, "r+b");
    assert_non_null(f);
    long slot_off = (long)(((base + P) / P) % 64) * RMQ_TIMER_SLOT_SIZE;
    rmq_put_be64(b, (uint64_t)last.prev_pos);
    fseek(f, slot_off + 16, SEEK_SET);
    fwrite(b, 1, 8, f);
    rmq_put_be32(b, 10);
    fseek(f, slot_off + 24, SEEK_SET);
    fwrite(b, 1, 4, f);
    fclose(f);
    t = open_timer(dir, 64, 1 << 16);
    rmq_store_timer_progress_t p;
    rmq_store_timer_progress(t, &p);
    assert_int_equal(p.enq_offset, 31);
    assert_int_equal(p.log_pos, pos + RMQ_TIMER_UNIT_SIZE);
    assert_int_equal(p.read_ms, base);
    assert_int_equal(p.delivered_ms, base + 5);
    assert_int_equal(p.delivered_total, 2);
    int64_t q[64];
    assert_int_equal(walk(t, base + P, q, 64), 11); /* linked once, not twice */
    assert_int_equal(q[0], 30);
    assert_int_equal(walk(t, base, q, 64), 10);
    assert_int_equal(walk(t, base + 2 * P, q, 64), 10);
    /* appending after recovery continues the chain */
    add(t, base + P, base + P + 30, 31);
    assert_int_equal(walk(t, base + P, q, 64), 12);
    rmq_store_timer_close(t);
    /* another precision is refused, naming the key in the log */
    rmq_store_timer_cfg_t c = {
        .root = dir, .precision_ms = 1000, .slots = 64, .log_seg_size = 1 << 16};
    rmq_store_timer_t *t2 = NULL;
    assert_int_equal(rmq_store_timer_open(&c, &t2), RMQ_ERR__CONFIG);
    assert_null(t2);
    rm_rf(dir);
    free(dir);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_LVL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_chain_and_wrap),
        cmocka_unit_test(test_recover_and_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
