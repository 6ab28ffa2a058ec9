/* Store damage through a real mqbroker restart (issue 12): 2,000 messages on one queue in 64 KiB
 * CommitLog segments, the broker stopped, the store damaged, the abort file left as a crash
 * leaves it, the broker started again on the same store. Every valid message must be pulled at
 * its original queue offset with its own body, the damaged ones never, and the broker must log
 * its damage summary instead of exiting.
 *   - length field: TOTALSIZE of record 1,000 set to 0x7fff0000;
 *   - truncated segment: the segment file holding record 1,000 cut short in that record.
 * Before the restart, `mqbroker --check -c <its config>` must call the clean store clean (exit
 * 0) and the damaged one damaged (exit 1, naming the damage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/integration/broker_util.h"

#define TOPIC "TopicDamage"
#define N 2000
#define SEG 65536
#define CONF "mappedFileSizeCommitLog=65536\nflushDiskType=SYNC_FLUSH\n"

static void body_of(int i, char *out, size_t n) {
    snprintf(out, n, "damage-%d-%0*d", i, 100 + i % 50, i);
}

/* Physical offset and size of the record with queue offset q, read from the segment files. */
static void find_record(const char *store, int64_t q, int64_t *phys, int32_t *size) {
    for (int64_t start = 0;; start += SEG) {
        char p[600];
        snprintf(p, sizeof p, "%s/commitlog/%020" PRId64, store, start);
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        uint8_t *buf = malloc(SEG);
        assert_int_equal(pread(fd, buf, SEG, 0), SEG);
        close(fd);
        for (int64_t pos = 0; pos < SEG;) {
            rmq_msg_rec_t r;
            int64_t n = rmq_msg_rec_decode(buf + pos, (size_t)(SEG - pos), false, &r);
            if (n <= 0) break;
            if (r.queue_offset == q && r.topic_len == (int32_t)strlen(TOPIC) &&
                !memcmp(r.topic, TOPIC, strlen(TOPIC))) {
                *phys = start + pos;
                *size = (int32_t)n;
                free(buf);
                return;
            }
            pos += n;
        }
        free(buf);
    }
}

/* Pull the whole queue; lost[i] must be exactly the offsets not served. */
static void pull_all(rmq_rem_client_t *cl, const char *addr, const bool *lost) {
    bool *seen = calloc(N, 1);
    int64_t off = 0;
    for (int rounds = 0; rounds < 10000; rounds++) {
        rmq_rem_cmd_t *r = bt_call(
            cl, addr, bt_pull_req("cg_damage", TOPIC, 0, off, 32, BT_PULL_SUSPEND, 300, "*"),
            BT_TIMEOUT);
        if (r->code == RMQ_ERR_PULL_NOT_FOUND && off >= N) {
            rmq_rem_cmd_destroy(r);
            break;
        }
        if (r->code == 0) {
            size_t pos = 0;
            while (pos < r->body_len) {
                rmq_msg_rec_t rec;
                int64_t n = rmq_msg_rec_decode(r->body + pos, r->body_len - pos, true, &rec);
                assert_true(n > 0); /* the CRC holds: no damaged body is served */
                pos += (size_t)n;
                int64_t q = rec.queue_offset;
                assert_true(q >= 0 && q < N);
                if (lost[q]) fail_msg("damaged queue offset %" PRId64 " served", q);
                char want[256];
                body_of((int)q, want, sizeof want);
                assert_int_equal(rec.body_len, (int32_t)strlen(want));
                assert_memory_equal(rec.body, want, strlen(want));
                seen[q] = true;
            }
        }
        int64_t next = bt_i64(r, "nextBeginOffset");
        rmq_rem_cmd_destroy(r);
        if (next <= off && off >= N) break;
        if (next > off) off = next;
    }
    for (int i = 0; i < N; i++)
        if (!lost[i] && !seen[i]) fail_msg("valid message at queue offset %d lost", i);
    free(seen);
}

static bool log_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool hit = false;
    while (!hit && fgets(line, sizeof line, f)) hit = strstr(line, needle) != NULL;
    fclose(f);
    return hit;
}

/* mqbroker --check on br's config: its exit status; its report in out. */
static int broker_check(const rmq_proc_t *br, char *out, size_t n) {
    char bin[512], cmd[1400];
    rmq_bin_path("mqbroker", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' --check -c '%s' 2>/dev/null", bin, br->conf);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = fread(out, 1, n - 1, f);
    out[len] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run(int how) {
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, CONF), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, 1, 6);
    for (int i = 0; i < N; i++) {
        char body[256], props[256];
        body_of(i, body, sizeof body);
        bt_props(props, sizeof props, NULL, NULL, NULL);
        rmq_rem_cmd_t *r = bt_send(cl, br.addr, TOPIC, 0, body, strlen(body), props);
        assert_int_equal(r->code, 0);
        assert_int_equal(bt_i64(r, "queueOffset"), i);
        rmq_rem_cmd_destroy(r);
    }
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    static char report[1 << 16];
    assert_int_equal(broker_check(&br, report, sizeof report), 0);
    assert_non_null(strstr(report, "clean: every record valid"));

    char store[400], p[600];
    snprintf(store, sizeof store, "%s/store", br.dir);
    int64_t phys;
    int32_t size;
    find_record(store, 1000, &phys, &size);
    bool lost[N] = {0};
    lost[1000] = true;
    snprintf(p, sizeof p, "%s/commitlog/%020" PRId64, store, phys - phys % SEG);
    if (how == 0) {
        int fd = open(p, O_RDWR);
        assert_true(fd >= 0);
        static const uint8_t big[4] = {0x7f, 0xff, 0x00, 0x00};
        assert_int_equal(pwrite(fd, big, 4, phys % SEG), 4);
        close(fd);
    } else {
        int64_t seg_end = phys - phys % SEG + SEG, q = 1001, ph;
        int32_t sz;
        for (; q < N; q++) { /* every later record of the cut segment goes with it */
            find_record(store, q, &ph, &sz);
            if (ph >= seg_end) break;
            lost[q] = true;
        }
        assert_int_equal(truncate(p, (off_t)(phys % SEG) + size / 2), 0);
    }
    snprintf(p, sizeof p, "%s/abort", store);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(broker_check(&br, report, sizeof report), 1);
    printf("%s", report);
    assert_non_null(strstr(report, how == 0 ? "DAMAGE CommitLog [" : "DAMAGE "));
    assert_non_null(strstr(report, "would be"));

    assert_int_equal(rmq_start_broker(&br, ns.addr, CONF), 0);
    cl = bt_client();
    pull_all(cl, br.addr, lost);
    /* the damage is counted where an operator looks (mqadmin brokerStatus) */
    if (how == 0) assert_true(bt_runtime_i64(cl, br.addr, "storeQuarantinedRanges", 0) >= 1);
    /* new sends continue after the old end */
    rmq_rem_cmd_t *r = bt_send(cl, br.addr, TOPIC, 0, "after", 5, NULL);
    assert_int_equal(r->code, 0);
    assert_int_equal(bt_i64(r, "queueOffset"), N);
    rmq_rem_cmd_destroy(r);
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_true(log_has(br.log, "opened after damage"));
    if (log_has(br.log, "runtime error") || log_has(br.log, "AddressSanitizer"))
        fail_msg("sanitizer report in %s", br.log);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

static void test_length_field(void **st) {
    (void)st;
    run(0);
}

static void test_truncated_segment(void **st) {
    (void)st;
    run(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_field),
        cmocka_unit_test(test_truncated_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
