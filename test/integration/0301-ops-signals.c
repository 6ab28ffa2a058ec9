/* Operator signals and start-up flags against real processes:
 * - SIGHUP reopens logFile in mqnamesrv and mqbroker; the process keeps serving, exits 0 on
 *   SIGTERM afterwards and the broker leaves no `abort` file (no crash recovery next start).
 * - logrotate's "create" style (rename, SIGHUP) under load loses no line: every one of the
 *   PUT_KV_CONFIG requests' log lines is found across the rotated and the current files.
 * - "copytruncate" style (copy, truncate, no signal needed): the O_APPEND stream continues at
 *   the truncated file's start (no hole of NUL bytes, every line whole).
 * - With logFile set nothing is written to stderr (systemd would journal every line twice).
 * - --version on every binary names the project version and the RocketMQ version spoken. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/admin_internal.h"
#include "rmq/rmq.h"
#include "rmq/rmq_codes.h"
#include "test/integration/harness.h"

#define NLOAD 3000

/* Whole file into a new string (free()); *len its size; NULL when missing. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t r = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[r] = 0;
    if (len) *len = r;
    return b;
}

/* Mark in seen[] every "Key: k<i> " found in path. */
static void mark_keys(const char *path, unsigned char *seen) {
    char *b = slurp(path, NULL);
    if (!b) return;
    for (char *p = b; (p = strstr(p, "Namespace: sighup Key: k")) != NULL;) {
        p += strlen("Namespace: sighup Key: k");
        int i = atoi(p);
        if (i >= 0 && i < NLOAD) seen[i] = 1;
    }
    free(b);
}

typedef struct {
    const char *ns;
    atomic_int done;
    atomic_int sent;
    int failures;
} load_t;

/* NLOAD PUT_KV_CONFIG requests, each logged by the NameServer at INFO with its key. */
static void *load_main(void *arg) {
    load_t *l = arg;
    rmq_conf_t *conf = rmq_conf_new();
    rmq_conf_set(conf, "namesrvAddr", l->ns, NULL, 0);
    char err[256];
    rmq_admin_t *a = rmq_admin_new(conf, err, sizeof err);
    if (!a) {
        l->failures = NLOAD;
        atomic_store(&l->done, 1);
        return NULL;
    }
    for (int i = 0; i < NLOAD; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "v%d", i);
        const char *kv[] = {"namespace", "sighup", "key", key, "value", val, NULL};
        char *js = NULL;
        if (rmq_admin_call_namesrv(a, RMQ_REQ_PUT_KV_CONFIG, kv, NULL, &js) != RMQ_OK)
            l->failures++;
        free(js);
        atomic_fetch_add(&l->sent, 1);
    }
    rmq_admin_destroy(a);
    atomic_store(&l->done, 1);
    return NULL;
}

static void wait_sent(load_t *l, int n) {
    for (int i = 0; i < 6000 && atomic_load(&l->sent) < n && !atomic_load(&l->done); i++)
        rmq_sleep_ms(10);
}

/* Wait until path contains needle (up to 20 s). */
static int wait_for_text(const char *path, const char *needle) {
    for (int i = 0; i < 2000; i++) {
        char *b = slurp(path, NULL);
        int found = b && strstr(b, needle);
        free(b);
        if (found) return 0;
        rmq_sleep_ms(10);
    }
    return -1;
}

static void test_namesrv_rotation(void **state) {
    rmq_proc_t ns = {0};
    char dir[256];
    assert_int_equal(rmq_mkdtemp("rmq-sighup", dir, sizeof dir), 0);
    char logf[400], extra[600];
    snprintf(logf, sizeof logf, "%s/ns-app.log", dir);
    snprintf(extra, sizeof extra, "logFile=%s\nlogLevel=INFO\n", logf);
    assert_int_equal(rmq_start_namesrv(&ns, extra), 0);
    assert_int_equal(wait_for_text(logf, "boot success"), 0);

    load_t l = {.ns = ns.addr};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, load_main, &l), 0);

    /* "create" style twice under load: rename, then SIGHUP opens a new file by the name */
    char rot[8][450];
    int nrot = 0;
    for (int r = 0; r < 2; r++) {
        wait_sent(&l, (r + 1) * NLOAD / 4);
        snprintf(rot[nrot], sizeof rot[nrot], "%s.%d", logf, r + 1);
        assert_int_equal(rename(logf, rot[nrot]), 0);
        nrot++;
        assert_int_equal(kill(ns.pid, SIGHUP), 0);
        assert_int_equal(wait_for_text(logf, "SIGHUP: log file reopened"), 0);
    }
    pthread_join(th, NULL);
    assert_int_equal(l.failures, 0);
    assert_int_equal(kill(ns.pid, 0), 0); /* still running */

    unsigned char *seen = calloc(NLOAD, 1);
    mark_keys(logf, seen);
    for (int i = 0; i < nrot; i++) mark_keys(rot[i], seen);
    int lost = 0;
    for (int i = 0; i < NLOAD; i++) lost += !seen[i];
    free(seen);
    assert_int_equal(lost, 0);
    /* each rotated file got lines, so the rotation happened under load */
    for (int i = 0; i < nrot; i++) {
        size_t n = 0;
        free(slurp(rot[i], &n));
        assert_true(n > 0);
    }

    /* copytruncate style: copy away, truncate in place; the O_APPEND stream writes at 0 */
    char copy[450];
    snprintf(copy, sizeof copy, "%s.copy", logf);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && truncate -s 0 '%s'", logf, copy, logf);
    assert_int_equal(system(cmd), 0);
    const char *kv[] = {"namespace", "sighup", "key", "after-truncate", "value", "x", NULL};
    rmq_conf_t *conf = rmq_conf_new();
    rmq_conf_set(conf, "namesrvAddr", ns.addr, NULL, 0);
    char err[256];
    rmq_admin_t *a = rmq_admin_new(conf, err, sizeof err);
    assert_non_null(a);
    char *js = NULL;
    assert_int_equal(rmq_admin_call_namesrv(a, RMQ_REQ_PUT_KV_CONFIG, kv, NULL, &js), RMQ_OK);
    free(js);
    rmq_admin_destroy(a);
    assert_int_equal(wait_for_text(logf, "Key: after-truncate"), 0);
    size_t n = 0;
    char *b = slurp(logf, &n);
    assert_non_null(b);
    assert_int_equal(strlen(b), n);        /* no NUL hole: the write landed at offset 0 */
    assert_true(strncmp(b, "20", 2) == 0); /* starts with a whole line's timestamp */
    free(b);

    /* nothing went to stderr/stdout (the harness's capture file) with logFile set */
    size_t errn = 0;
    free(slurp(ns.log, &errn));
    assert_int_equal(errn, 0);

    int st = rmq_proc_stop(&ns, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    rmq_rm_rf(dir);
    rmq_rm_rf(ns.dir);
}

static void test_broker_sighup(void **state) {
    rmq_proc_t ns = {0}, br = {0};
    assert_int_equal(rmq_start_namesrv(&ns, NULL), 0);
    char dir[256];
    assert_int_equal(rmq_mkdtemp("rmq-sighup-br", dir, sizeof dir), 0);
    char logf[400], extra[600];
    snprintf(logf, sizeof logf, "%s/broker-app.log", dir);
    snprintf(extra, sizeof extra, "logFile=%s\n", logf);
    assert_int_equal(rmq_start_broker(&br, ns.addr, extra), 0);
    assert_int_equal(wait_for_text(logf, "boot success"), 0);

    char rot[450];
    snprintf(rot, sizeof rot, "%s.1", logf);
    assert_int_equal(rename(logf, rot), 0);
    assert_int_equal(kill(br.pid, SIGHUP), 0);
    assert_int_equal(wait_for_text(logf, "SIGHUP: log file reopened"), 0);
    rmq_sleep_ms(200);
    assert_int_equal(kill(br.pid, 0), 0); /* still running */
    assert_int_equal(rmq_wait_port(br.port, 5000), 0);
    char abort_path[600];
    snprintf(abort_path, sizeof abort_path, "%s/store/abort", br.dir);
    struct stat st_;
    assert_int_equal(stat(abort_path, &st_), 0); /* running: abort file present */

    int st = rmq_proc_stop(&br, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_not_equal(stat(abort_path, &st_), 0); /* clean stop: no abort file */
    assert_int_equal(wait_for_text(logf, "shutting down"), 0);
    size_t errn = 0;
    free(slurp(br.log, &errn));
    assert_int_equal(errn, 0); /* logFile set: nothing on stderr */

    rmq_proc_stop(&ns, SIGTERM);
    rmq_rm_rf(dir);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

/* 1 when ip:port accepts a TCP connection, 0 when refused. */
static int accepts(const char *ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int wait_accepts(const char *ip, int port) {
    for (int i = 0; i < 2000; i++) {
        if (accepts(ip, port)) return 0;
        rmq_sleep_ms(10);
    }
    return -1;
}

/* bindAddress=127.0.0.2: the NameServer's port, and the broker's main, fast and HA ports,
 * accept there and refuse on 127.0.0.1. */
static void test_bind_address(void **state) {
    rmq_proc_t ns = {0}, br = {0};
    assert_int_equal(rmq_mkdtemp("rmq-bind", ns.dir, sizeof ns.dir), 0);
    ns.port = rmq_free_port();
    snprintf(ns.conf, sizeof ns.conf, "%s/ns.conf", ns.dir);
    snprintf(ns.log, sizeof ns.log, "%s/ns.out", ns.dir);
    FILE *f = fopen(ns.conf, "w");
    fprintf(f, "listenPort=%d\nbindAddress=127.0.0.2\nkvConfigPath=%s/kv.json\n", ns.port, ns.dir);
    fclose(f);
    char bin[512];
    rmq_bin_path("mqnamesrv", bin, sizeof bin);
    char *nargv[] = {bin, "-c", ns.conf, NULL};
    assert_int_equal(rmq_spawn(&ns, bin, nargv), 0);
    assert_int_equal(wait_accepts("127.0.0.2", ns.port), 0);
    assert_false(accepts("127.0.0.1", ns.port));

    assert_int_equal(rmq_broker_prepare(&br), 0); /* port p with p - 2 and p + 1 free */
    snprintf(br.conf, sizeof br.conf, "%s/broker.conf", br.dir);
    snprintf(br.log, sizeof br.log, "%s/broker.out", br.dir);
    f = fopen(br.conf, "w");
    fprintf(f,
            "brokerName=bind-test\nlistenPort=%d\nbindAddress=127.0.0.2\nbrokerIP1=127.0.0.2\n"
            "namesrvAddr=127.0.0.2:%d\nstorePathRootDir=%s/store\n"
            "mappedFileSizeCommitLog=4194304\n",
            br.port, ns.port, br.dir);
    fclose(f);
    rmq_bin_path("mqbroker", bin, sizeof bin);
    char *bargv[] = {bin, "-c", br.conf, NULL};
    assert_int_equal(rmq_spawn(&br, bin, bargv), 0);
    int ports[] = {br.port, br.port - 2, br.port + 1}; /* main, fast, HA */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wait_accepts("127.0.0.2", ports[i]), 0);
        assert_false(accepts("127.0.0.1", ports[i]));
    }
    int st = rmq_proc_stop(&br, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = rmq_proc_stop(&ns, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    rmq_rm_rf(br.dir);
    rmq_rm_rf(ns.dir);
}

static void test_version(void **state) {
    const char *bins[] = {"mqnamesrv", "mqbroker", "mqadmin", "mqbench", "store_check"};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
        char path[512], cmd[700], line[256] = "";
        rmq_bin_path(bins[i], path, sizeof path);
        snprintf(cmd, sizeof cmd, "'%s' --version", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char *got = fgets(line, sizeof line, p);
        int st = pclose(p);
        assert_non_null(got);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_non_null(strstr(line, bins[i]));
        assert_non_null(strstr(line, RMQ_VERSION));
        assert_non_null(strstr(line, "RocketMQ 4.9.8"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_bind_address),
        cmocka_unit_test(test_namesrv_rotation),
        cmocka_unit_test(test_broker_sighup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
