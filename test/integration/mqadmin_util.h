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

/* Run "mqadmin <fmt formatted> -n '<ns>'"; full (n bytes) gets those arguments for messages;
 * *out and *err as mqa_run. Returns the exit status. */
static int mqa_vrun_on(const char *ns, char *full, size_t n, char **out, char **err,
                       const char *fmt, va_list ap) {
    char args[2048];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(full, n, "%s -n '%s'", args, ns);
    return mqa_run(out, err, full);
}

/* mqadmin <fmt> -n '<mqa_ns>' must exit 0; returns its stdout (free()). */
static char *mqa_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *mqa_ok(const char *fmt, ...) {
    char full[2400], *out, *err;
    va_list ap;
    va_start(ap, fmt);
    int rc = mqa_vrun_on(mqa_ns, full, sizeof full, &out, &err, fmt, ap);
    va_end(ap);
    if (rc != 0) fprintf(stderr, "mqadmin %s -> rc %d: %s\n", full, rc, err);
    assert_int_equal(rc, 0);
    free(err);
    return out;
}

#endif
