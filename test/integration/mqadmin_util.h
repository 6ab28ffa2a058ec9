/* Running the mqadmin binary from an integration test: its stdout and stderr as strings, and a
 * "must succeed" wrapper. Header-only (static), for the test programs that script mqadmin.
 * Before the first call the test points mqa_bin at the binary, mqa_tmp at its scratch
 * directory (stderr lands there) and mqa_ns at the -n value (may be filled in later). */
#ifndef RMQ_TEST_MQADMIN_UTIL_H
#define RMQ_TEST_MQADMIN_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static const char *mqa_bin, *mqa_tmp, *mqa_ns;

/* Run "mqadmin args"; stdout and stderr into new strings; returns the exit status. */
static int mqa_run(char **out, char **err, const char *args) {
    char cmd[4096], errf[400];
    snprintf(errf, sizeof errf, "%s/stderr.txt", mqa_tmp);
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", mqa_bin, args, errf);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 1024) {
            buf = realloc(buf, cap *= 2);
            assert_non_null(buf);
        }
    }
    buf[n] = 0;
    int st = pclose(p);
    FILE *f = fopen(errf, "r");
    char *eb = calloc(1, 8192);
    assert_non_null(eb);
    if (f) {
        eb[fread(eb, 1, 8191, f)] = 0;
        fclose(f);
    }
    *out = buf;
    *err = eb;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* mqadmin <fmt> -n '<mqa_ns>' must exit 0; returns its stdout (free()). */
static char *mqa_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *mqa_ok(const char *fmt, ...) {
    char args[2048], full[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s -n '%s'", args, mqa_ns);
    char *out, *err;
    int rc = mqa_run(&out, &err, full);
    if (rc != 0) fprintf(stderr, "mqadmin %s -> rc %d: %s\n", full, rc, err);
    assert_int_equal(rc, 0);
    free(err);
    return out;
}

#endif
