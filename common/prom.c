/* Prometheus text format (prom.h). */
#include "common/prom.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void rmq_prom_head(rmq_buf_t *b, const char *name, const char *type, const char *help) {
    rmq_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_escaped(rmq_buf_t *b, const char *v) {
    for (; *v; v++) {
        if (*v == '\\')
            rmq_buf_append_str(b, "\\\\");
        else if (*v == '"')
            rmq_buf_append_str(b, "\\\"");
        else if (*v == '\n')
            rmq_buf_append_str(b, "\\n");
        else
            rmq_buf_append_u8(b, (uint8_t)*v);
    }
}

void rmq_prom_base(rmq_buf_t *out, const rmq_prom_label_t *l, size_t nl) {
    for (size_t i = 0; i < nl; i++) {
        if (out->len) rmq_buf_append_u8(out, ',');
        rmq_buf_appendf(out, "%s=\"", l[i].k);
        put_escaped(out, l[i].v ? l[i].v : "");
        rmq_buf_append_u8(out, '"');
    }
}

static bool label_name_ok(const char *s, size_t n) {
    if (n == 0 || isdigit((unsigned char)s[0]) || (n >= 2 && s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
    return true;
}

int rmq_prom_base_parse(rmq_buf_t *out, const char *spec) {
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n) {
            const char *colon = memchr(p, ':', n);
            if (!colon || !label_name_ok(p, (size_t)(colon - p))) return -1;
            char k[128], v[256];
            size_t kn = (size_t)(colon - p), vn = n - kn - 1;
            if (kn >= sizeof k || vn >= sizeof v || memchr(colon + 1, ':', vn)) return -1;
            memcpy(k, p, kn);
            k[kn] = 0;
            memcpy(v, colon + 1, vn);
            v[vn] = 0;
            rmq_prom_label_t l = {k, v};
            rmq_prom_base(out, &l, 1);
        }
        p += n + (end ? 1 : 0);
    }
    return 0;
}

static void put_labels(rmq_buf_t *b, const char *base, const rmq_prom_label_t *l, size_t nl,
                       const char *le) {
    bool any = (base && *base) || nl || le;
    if (!any) return;
    rmq_buf_append_u8(b, '{');
    bool first = true;
    if (base && *base) {
        rmq_buf_append_str(b, base);
        first = false;
    }
    for (size_t i = 0; i < nl; i++) {
        if (!first) rmq_buf_append_u8(b, ',');
        first = false;
        rmq_buf_appendf(b, "%s=\"", l[i].k);
        put_escaped(b, l[i].v ? l[i].v : "");
        rmq_buf_append_u8(b, '"');
    }
    if (le) rmq_buf_appendf(b, "%sle=\"%s\"", first ? "" : ",", le);
    rmq_buf_append_u8(b, '}');
}

static void put_value(rmq_buf_t *b, double v) {
    if (isnan(v))
        rmq_buf_append_str(b, " NaN\n");
    else if (isinf(v))
        rmq_buf_append_str(b, v > 0 ? " +Inf\n" : " -Inf\n");
    else
        rmq_buf_appendf(b, " %.17g\n", v);
}

void rmq_prom_val(rmq_buf_t *b, const char *name, const char *base, const rmq_prom_label_t *l,
                  size_t nl, double v) {
    rmq_buf_append_str(b, name);
    put_labels(b, base, l, nl, NULL);
    put_value(b, v);
}

void rmq_prom_hist(rmq_buf_t *b, const char *name, const char *base, const rmq_prom_label_t *l,
                   size_t nl, const double *le, const uint64_t *counts, size_t n, double sum) {
    uint64_t cum = 0;
    char leb[48];
    for (size_t i = 0; i <= n; i++) {
        cum += counts[i];
        if (i < n)
            snprintf(leb, sizeof leb, "%.17g", le[i]);
        else
            snprintf(leb, sizeof leb, "+Inf");
        rmq_buf_appendf(b, "%s_bucket", name);
        put_labels(b, base, l, nl, leb);
        put_value(b, (double)cum);
    }
    rmq_buf_appendf(b, "%s_sum", name);
    put_labels(b, base, l, nl, NULL);
    put_value(b, sum);
    rmq_buf_appendf(b, "%s_count", name);
    put_labels(b, base, l, nl, NULL);
    put_value(b, (double)cum);
}

/* Fields of /proc/self/stat after the command name (proc(5)): state is field 3. */
static bool read_stat(double *cpu_s, double *start_s, double *vsize, double *rss_bytes) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return false;
    char line[1024];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok) return false;
    const char *p = strrchr(line, ')'); /* the name may hold spaces and parentheses */
    if (!p) return false;
    unsigned long utime = 0, stime = 0, vs = 0;
    unsigned long long start = 0;
    long rss = 0;
    /* fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itreal starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu "
               "%lu %ld",
               &utime, &stime, &start, &vs, &rss) != 5)
        return false;
    double hz = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    *cpu_s = (double)(utime + stime) / hz;
    *vsize = (double)vs;
    *rss_bytes = (double)rss * (double)page;
    /* starttime counts clock ticks since boot; boot time from /proc/stat's btime */
    *start_s = 0;
    FILE *s = fopen("/proc/stat", "r");
    if (s) {
        char l[256];
        while (fgets(l, sizeof l, s))
            if (!strncmp(l, "btime ", 6)) {
                *start_s = (double)strtoull(l + 6, NULL, 10) + (double)start / hz;
                break;
            }
        fclose(s);
    }
    return true;
}

void rmq_prom_process(rmq_buf_t *b) {
    double cpu, start, vsize, rss;
    if (read_stat(&cpu, &start, &vsize, &rss)) {
        rmq_prom_head(b, "process_cpu_seconds_total", "counter",
                      "Total user and system CPU time spent in seconds.");
        rmq_prom_val(b, "process_cpu_seconds_total", "", NULL, 0, cpu);
        rmq_prom_head(b, "process_resident_memory_bytes", "gauge",
                      "Resident memory size in bytes (mapped store files included).");
        rmq_prom_val(b, "process_resident_memory_bytes", "", NULL, 0, rss);
        rmq_prom_head(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        rmq_prom_val(b, "process_virtual_memory_bytes", "", NULL, 0, vsize);
        rmq_prom_head(b, "process_start_time_seconds", "gauge",
                      "Start time of the process since unix epoch in seconds.");
        rmq_prom_val(b, "process_start_time_seconds", "", NULL, 0, start);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') n++;
        closedir(d);
        rmq_prom_head(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        rmq_prom_val(b, "process_open_fds", "", NULL, 0, (double)(n ? n - 1 : 0)); /* minus d */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rmq_prom_head(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        rmq_prom_val(b, "process_max_fds", "", NULL, 0,
                     rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    }
}
