/* Disk full through a real mqbroker (issue 12): the store on a 160 MB loop-mounted ext4, a filler
 * file leaving ~40 MB, sends with keys until the broker refuses them (code 14, a remark naming
 * the disk), then: every acknowledged message is pulled with its body, nothing was deleted, the
 * broker logged a handful of lines and not one per attempt; the filler removed, sends resume and
 * every sampled key is queryable (QUERY_MESSAGE), the ones sent before and after the fill, and
 * again after a clean restart.
 * Needs root and loop devices; skips with a clear line where it cannot mount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "test/integration/broker_util.h"

#define TOPIC "TopicDiskFull"
#define MAXMSG 40000
#define BODY 4000

static char g_dir[256], g_img[300], g_mnt[300], g_filler[400];
static bool g_mounted;

static int sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int setup(void **st) {
    (void)st;
    if (rmq_mkdtemp("rmq_diskfull", g_dir, sizeof g_dir) != 0) return -1;
    snprintf(g_img, sizeof g_img, "%s/img", g_dir);
    snprintf(g_mnt, sizeof g_mnt, "%s/mnt", g_dir);
    snprintf(g_filler, sizeof g_filler, "%s/filler", g_mnt);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "dd if=/dev/zero of=%s bs=1M count=1 seek=159 status=none && mkfs.ext4 -q -F %s && "
             "mkdir -p %s && mount -o loop %s %s",
             g_img, g_img, g_mnt, g_img, g_mnt);
    g_mounted = getuid() == 0 && sh(cmd) == 0;
    return 0;
}

static int teardown(void **st) {
    (void)st;
    if (g_mounted && umount2(g_mnt, MNT_DETACH) != 0) perror("umount");
    rmq_rm_rf(g_dir);
    return 0;
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

static void body_of(int i, char *out) {
    memset(out, 'a' + i % 26, BODY);
    snprintf(out, 32, "full-%d-", i);
    out[strlen(out)] = '.';
}

static rmq_rem_cmd_t *send_one(rmq_rem_client_t *cl, const char *addr, int i) {
    static char body[BODY];
    char props[256], key[32];
    body_of(i, body);
    snprintf(key, sizeof key, "key%d", i);
    bt_props(props, sizeof props, key, "t", NULL);
    return bt_send(cl, addr, TOPIC, 0, body, BODY, props);
}

/* QUERY_MESSAGE for key<i>: true when a record with body i comes back. */
static bool key_found(rmq_rem_client_t *cl, const char *addr, int i) {
    char key[32];
    snprintf(key, sizeof key, "key%d", i);
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_MESSAGE);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set(req, "key", key);
    rmq_rem_cmd_set_i64(req, "maxNum", 32);
    rmq_rem_cmd_set_i64(req, "beginTimestamp", 0);
    rmq_rem_cmd_set_i64(req, "endTimestamp", rmq_now_ms() + 60000);
    rmq_rem_cmd_set(req, "_UNIQUE_KEY_QUERY", "false");
    rmq_rem_cmd_t *r = bt_call(cl, addr, req, BT_TIMEOUT);
    bool hit = false;
    char want[32];
    int wl = snprintf(want, sizeof want, "full-%d-", i);
    for (size_t pos = 0; r->code == 0 && pos < r->body_len;) {
        rmq_msg_rec_t rec;
        int64_t n = rmq_msg_rec_decode(r->body + pos, r->body_len - pos, true, &rec);
        if (n <= 0) break;
        hit |= rec.body_len >= wl && !memcmp(rec.body, want, (size_t)wl);
        pos += (size_t)n;
    }
    rmq_rem_cmd_destroy(r);
    return hit;
}

static void test_disk_full(void **st) {
    (void)st;
    if (!g_mounted) {
        printf("SKIP fault-diskfull: cannot loop-mount an ext4 here (needs root, loop devices, "
               "mkfs.ext4)\n");
        skip();
    }
    rmq_proc_t ns, br;
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    memset(&br, 0, sizeof br);
    char conf[1400];
    snprintf(conf, sizeof conf,
             "storePathRootDir=%s/store\nmappedFileSizeCommitLog=4194304\n"
             "mappedFileSizeConsumeQueue=60000\ncleanResourceInterval=500\n"
             "diskMaxUsedSpaceRatio=10\nfileReservedTime=72\n",
             g_mnt);
    assert_int_equal(rmq_start_broker(&br, ns.addr, conf), 0);
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, br.addr, TOPIC, 1, 6);

    /* leave ~40 MB */
    struct statvfs v;
    assert_int_equal(statvfs(g_mnt, &v), 0);
    int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
    int fd = open(g_filler, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(posix_fallocate(fd, 0, avail - (40LL << 20)), 0);
    close(fd);

    int64_t *acked = malloc(sizeof(int64_t) * MAXMSG); /* queue offset of message i, -1 refused */
    int n = 0, refused = 0;
    uint64_t t0 = rmq_mono_ms();
    char remark[512] = "";
    for (; n < MAXMSG && refused < 20 && rmq_mono_ms() - t0 < 30000; n++) {
        rmq_rem_cmd_t *r = send_one(cl, br.addr, n);
        if (r->code == 0) {
            acked[n] = bt_i64(r, "queueOffset");
        } else {
            acked[n] = -1;
            assert_int_equal(r->code, RMQ_ERR_SERVICE_NOT_AVAILABLE);
            snprintf(remark, sizeof remark, "%s", r->remark ? r->remark : "");
            refused++;
            rmq_sleep_ms(20);
        }
        rmq_rem_cmd_destroy(r);
    }
    int nacked = 0;
    for (int i = 0; i < n; i++) nacked += acked[i] >= 0;
    printf("disk full: %d sends acknowledged, %d refused; remark \"%s\"\n", nacked, refused,
           remark);
    assert_true(refused >= 20);
    assert_true(nacked > 1000);
    /* the refusal says why: the store's disk (under the mount) and how full it is */
    assert_non_null(strstr(remark, "service not available now: "));
    assert_non_null(strstr(remark, g_mnt));

    /* nothing acknowledged is lost: pull the whole queue */
    rmq_sleep_ms(1500);
    char *seen = calloc((size_t)n, 1);
    int64_t off = 0;
    for (int rounds = 0; rounds < 100000; rounds++) {
        rmq_rem_cmd_t *r = bt_pull(cl, br.addr, "cg_full", TOPIC, 0, off, 32, "*");
        if (r->code == 0) {
            for (size_t pos = 0; pos < r->body_len;) {
                rmq_msg_rec_t rec;
                int64_t k = rmq_msg_rec_decode(r->body + pos, r->body_len - pos, true, &rec);
                assert_true(k > 0);
                pos += (size_t)k;
                int i = -1;
                assert_int_equal(sscanf((const char *)rec.body, "full-%d-", &i), 1);
                assert_true(i >= 0 && i < n);
                assert_int_equal(acked[i], rec.queue_offset);
                seen[i] = 1;
            }
        }
        int64_t next = bt_i64(r, "nextBeginOffset");
        int code = r->code;
        rmq_rem_cmd_destroy(r);
        if (code != 0 && next <= off) break;
        off = next;
    }
    for (int i = 0; i < n; i++)
        if (acked[i] >= 0 && !seen[i]) fail_msg("acknowledged message %d lost", i);
    free(seen);
    int errs = rmq_proc_log_errors(&br);
    printf("broker ERROR lines while full: %d\n", errs);
    assert_true(errs <= 10); /* one per state change, not one per attempt */

    /* space returns: writes resume */
    assert_int_equal(unlink(g_filler), 0);
    bool resumed = false;
    t0 = rmq_mono_ms();
    int first_after = n;
    while (!resumed && rmq_mono_ms() - t0 < 20000) {
        rmq_rem_cmd_t *r = send_one(cl, br.addr, n);
        resumed = r->code == 0;
        if (!resumed) rmq_sleep_ms(200);
        rmq_rem_cmd_destroy(r);
    }
    assert_true(resumed);
    n++;
    for (int k = 0; k < 100; k++, n++) {
        rmq_rem_cmd_t *r = send_one(cl, br.addr, n);
        assert_int_equal(r->code, 0);
        rmq_rem_cmd_destroy(r);
    }
    /* keys queryable: a sample of those acknowledged before the fill, and the new ones */
    int sample[] = {0, 1, nacked / 2, nacked - 1, first_after, n - 1};
    for (size_t k = 0; k < sizeof sample / sizeof sample[0]; k++) {
        int i = sample[k];
        if (i < first_after && acked[i] < 0) continue;
        bool hit = false;
        for (int tries = 0; tries < 50 && !hit; tries++) {
            hit = key_found(cl, br.addr, i);
            if (!hit) rmq_sleep_ms(200);
        }
        if (!hit) fail_msg("key%d not queryable after the disk had room again", i);
    }
    /* and after a clean restart on the same store */
    rmq_rem_client_destroy(cl);
    bt_stop_clean(&br);
    assert_int_equal(rmq_start_broker(&br, ns.addr, conf), 0);
    cl = bt_client();
    for (size_t k = 0; k < sizeof sample / sizeof sample[0]; k++) {
        int i = sample[k];
        if (i < first_after && acked[i] < 0) continue;
        bool hit = false;
        for (int tries = 0; tries < 50 && !hit; tries++) {
            hit = key_found(cl, br.addr, i);
            if (!hit) rmq_sleep_ms(200);
        }
        if (!hit) fail_msg("key%d not queryable after a clean restart", i);
    }
    rmq_rem_client_destroy(cl);
    free(acked);
    bt_stop_clean(&br);
    if (log_has(br.log, "runtime error") || log_has(br.log, "AddressSanitizer"))
        fail_msg("sanitizer report in %s", br.log);
    rmq_proc_stop(&ns, SIGKILL);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_disk_full)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
