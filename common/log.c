/* Logging. The process sink is state set once in main(), like the config; the SDK's loggers
 * (rmq_logger_t) belong to their client instances. Writes take one mutex so lines from
 * different threads never interleave and no sink callback runs twice at once. */
#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

volatile int rmq_log_level_ = RMQ_LOG_LVL_OFF;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static char log_path[4096]; /* log_file's path, for rmq_log_reopen() */
static bool log_stderr;
static rmq_log_cb log_cb;
static void *log_cb_opaque;
static atomic_ulong log_errors;

static const char *lvl_name[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int rmq_log_open(const char *file, rmq_log_lvl_t lvl, bool to_stderr) {
    FILE *f = NULL;
    if (file && *file) {
        f = fopen(file, "a");
        if (!f) return -1;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_mu);
    if (log_file) fclose(log_file);
    log_file = f;
    snprintf(log_path, sizeof log_path, "%s", f ? file : "");
    log_stderr = to_stderr;
    log_cb = NULL;
    rmq_log_level_ = lvl;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

int rmq_log_reopen(void) {
    pthread_mutex_lock(&log_mu);
    int rc = 0;
    if (log_path[0]) {
        /* "a" is O_APPEND: after a copytruncate the next line lands at the file's new end (0),
         * and after a rename the path names the new file. Keep the old stream on failure. */
        FILE *f = fopen(log_path, "a");
        if (f) {
            setvbuf(f, NULL, _IOLBF, 0);
            if (log_file) fclose(log_file);
            log_file = f;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void rmq_log_set_cb(rmq_log_cb cb, void *opaque, rmq_log_lvl_t lvl) {
    pthread_mutex_lock(&log_mu);
    log_cb = cb;
    log_cb_opaque = opaque;
    rmq_log_level_ = cb ? lvl : RMQ_LOG_LVL_OFF;
    pthread_mutex_unlock(&log_mu);
}

void rmq_log_set_level(rmq_log_lvl_t lvl) {
    rmq_log_level_ = lvl;
}

void rmq_log_close(void) {
    pthread_mutex_lock(&log_mu);
    if (log_file) fclose(log_file);
    log_file = NULL;
    log_path[0] = 0;
    log_cb = NULL;
    rmq_log_level_ = RMQ_LOG_LVL_OFF;
    pthread_mutex_unlock(&log_mu);
}

int rmq_log_level_parse(const char *s) {
    if (!s) return -2;
    if (!strcasecmp(s, "OFF")) return RMQ_LOG_LVL_OFF;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, lvl_name[i])) return i;
    if (!strcasecmp(s, "WARNING")) return RMQ_LOG_LVL_WARN;
    return -2;
}

unsigned long rmq_log_error_count(void) {
    return atomic_load(&log_errors);
}

/* "time LEVEL [mod] text" into line; false when formatting failed. Counts ERROR lines. */
static bool format_line(char *line, size_t size, rmq_log_lvl_t lvl, const char *mod,
                        const char *fmt, va_list ap) {
    if (lvl == RMQ_LOG_LVL_ERROR) atomic_fetch_add(&log_errors, 1);
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d %-5s [%s] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), lvl_name[lvl], mod ? mod : "-");
    if (n < 0) return false;
    if ((size_t)n < size) vsnprintf(line + n, size - (size_t)n, fmt, ap);
    return true;
}

void rmq_logger_write(const rmq_logger_t *lg, rmq_log_lvl_t lvl, const char *mod, const char *fmt,
                      ...) {
    if (!rmq_logger_enabled(lg, lvl) || lvl < RMQ_LOG_LVL_ERROR) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    bool ok = format_line(line, sizeof line, lvl, mod, fmt, ap);
    va_end(ap);
    if (!ok) return;
    pthread_mutex_lock(&log_mu);
    lg->cb(lvl, line, lg->opaque);
    pthread_mutex_unlock(&log_mu);
}

void rmq_log_vwrite(rmq_log_lvl_t lvl, const char *mod, const char *fmt, va_list ap) {
    if (!rmq_log_enabled(lvl) || lvl < RMQ_LOG_LVL_ERROR) return;
    char line[2048];
    if (!format_line(line, sizeof line, lvl, mod, fmt, ap)) return;
    pthread_mutex_lock(&log_mu);
    if (log_cb) {
        log_cb(lvl, line, log_cb_opaque);
    } else {
        if (log_file) fprintf(log_file, "%s\n", line);
        if (log_stderr) fprintf(stderr, "%s\n", line);
    }
    pthread_mutex_unlock(&log_mu);
}

void rmq_log_write(rmq_log_lvl_t lvl, const char *mod, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rmq_log_vwrite(lvl, mod, fmt, ap);
    va_end(ap);
}
