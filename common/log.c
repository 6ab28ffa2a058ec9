/* Logging. The process sink is state set once in main(), like the config; the SDK's loggers
 * (rmq_logger_t) belong to their client instances. Writes take one mutex so lines from
 * different threads never interleave and no sink callback runs twice at once. */
#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

volatile int rmq_log_level_ = RMQ_LOG_LVL_OFF;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static char log_path[4096]; /* log_file's path, for rmq_log_reopen() */
static bool log_stderr;
static unsigned long long log_size; /* bytes in log_file (its size at open, plus writes) */
static char log_day[11];            /* "YYYY-MM-DD" of the newest line in log_file */
static unsigned long long rot_max;  /* rotation: size limit (0 none) */
static int rot_keep;                /* files kept besides the current one; 0 = no rotation */
static bool rot_daily;
static rmq_log_cb log_cb;
static void *log_cb_opaque;
static atomic_ulong log_errors;

static const char *lvl_name[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* fopen(path, "a") line-buffered, and its current size into log_size. */
static FILE *open_append(const char *path) {
    FILE *f = fopen(path, "a");
    if (!f) return NULL;
    setvbuf(f, NULL, _IOLBF, 0);
    struct stat st;
    log_size = fstat(fileno(f), &st) == 0 ? (unsigned long long)st.st_size : 0;
    return f;
}

int rmq_log_open(const char *file, rmq_log_lvl_t lvl, bool to_stderr) {
    FILE *f = NULL;
    pthread_mutex_lock(&log_mu);
    if (file && *file && !(f = open_append(file))) {
        pthread_mutex_unlock(&log_mu);
        return -1;
    }
    if (log_file) fclose(log_file);
    log_file = f;
    log_day[0] = 0;
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
        FILE *f = open_append(log_path);
        if (f) {
            if (log_file) fclose(log_file);
            log_file = f;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void rmq_log_set_rotation(unsigned long long max_bytes, int keep, bool daily) {
    pthread_mutex_lock(&log_mu);
    rot_max = max_bytes;
    rot_keep = keep > 0 ? keep : 0;
    rot_daily = daily;
    pthread_mutex_unlock(&log_mu);
}

/* log_mu held, log_file open: shift path.N-1 .. path.1, path to path.1, open a new path. On a
 * failure the current file goes on (a log line must never be lost to rotation). */
static void rotate(const char *ts, const char *why) {
    char from[4200], to[4200];
    snprintf(to, sizeof to, "%s.%d", log_path, rot_keep);
    unlink(to); /* the oldest goes */
    for (int i = rot_keep - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%d", log_path, i);
        snprintf(to, sizeof to, "%s.%d", log_path, i + 1);
        rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", log_path);
    if (rename(log_path, to) != 0) return;
    unsigned long long old = log_size;
    FILE *f = open_append(log_path);
    if (!f) { /* keep writing to the renamed file */
        log_size = old;
        return;
    }
    fclose(log_file);
    log_file = f;
    int n =
        fprintf(f, "%.23s INFO  [log] log rotated (%s): the lines before are in %s\n", ts, why, to);
    if (n > 0) log_size += (unsigned long long)n;
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
        if (log_file) {
            size_t len = strlen(line) + 1;
            if (rot_keep) {
                if (rot_daily && log_day[0] && strncmp(line, log_day, 10) != 0)
                    rotate(line, "new day");
                else if (rot_max && log_size > 0 && log_size + len > rot_max)
                    rotate(line, "size");
                memcpy(log_day, line, 10);
                log_day[10] = 0;
            }
            if (fprintf(log_file, "%s\n", line) > 0) log_size += len;
        }
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
