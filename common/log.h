/* Levelled, timestamped logging shared by every module.
 *
 * Servers (mqnamesrv, mqbroker) and tools: one process-wide sink (a file, stderr, or a
 * callback) set once at start-up in main(), like the config. The SDK instead logs through an
 * rmq_logger_t owned by the object that produced the line (its client instance, built from the
 * conf's log callback), so two producers of one process each get only their own lines.
 * The level is checked before formatting, so a disabled DEBUG line costs one load. */
#ifndef RMQ_LOG_H
#define RMQ_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum {
    RMQ_LOG_LVL_OFF = -1,
    RMQ_LOG_LVL_ERROR = 0, /* the operator must act */
    RMQ_LOG_LVL_WARN = 1,
    RMQ_LOG_LVL_INFO = 2,
    RMQ_LOG_LVL_DEBUG = 3, /* per message */
} rmq_log_lvl_t;

/* Callback sink: gets the level and the formatted line without a trailing newline. */
typedef void (*rmq_log_cb)(int lvl, const char *line, void *opaque);

/* Log to file (appended; NULL for none) and, if to_stderr, to stderr. 0 or -errno. */
int rmq_log_open(const char *file, rmq_log_lvl_t lvl, bool to_stderr);
/* Reopen the log file by its path (SIGHUP after logrotate, both the copytruncate and the create
 * style); a no-op without a file. 0, or -1 when the path cannot be opened (the old stream stays).
 */
int rmq_log_reopen(void);
/* Rotate the log file (servers): when a line would take it past max_bytes (0: no limit), or,
 * with daily, when the first line of a new local day comes, path is renamed path.1 (path.1 to
 * path.2, ..., the oldest beyond keep deleted) and a new path opened. keep 0 turns rotation
 * off. One line per rotation in the new file says what happened. Set after rmq_log_open. */
void rmq_log_set_rotation(unsigned long long max_bytes, int keep, bool daily);
/* Route every line to cb instead of files (the SDK's configured log callback). */
void rmq_log_set_cb(rmq_log_cb cb, void *opaque, rmq_log_lvl_t lvl);
void rmq_log_set_level(rmq_log_lvl_t lvl);
void rmq_log_close(void);
/* "ERROR"/"WARN"/"INFO"/"DEBUG"/"OFF" (any case) to a level; -2 when unknown. */
int rmq_log_level_parse(const char *s);
/* Number of ERROR lines written since start (tests fail on any). */
unsigned long rmq_log_error_count(void);

extern volatile int rmq_log_level_;
static inline bool rmq_log_enabled(rmq_log_lvl_t lvl) {
    return (int)lvl <= rmq_log_level_;
}

void rmq_log_write(rmq_log_lvl_t lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rmq_log_vwrite(rmq_log_lvl_t lvl, const char *mod, const char *fmt, va_list ap);

#define RMQ_LOG_(lvl, mod, ...)                                                                    \
    do {                                                                                           \
        if (rmq_log_enabled(lvl)) rmq_log_write(lvl, mod, __VA_ARGS__);                            \
    } while (0)
#define RMQ_LOG_ERROR(mod, ...) RMQ_LOG_(RMQ_LOG_LVL_ERROR, mod, __VA_ARGS__)
#define RMQ_LOG_WARN(mod, ...) RMQ_LOG_(RMQ_LOG_LVL_WARN, mod, __VA_ARGS__)
#define RMQ_LOG_INFO(mod, ...) RMQ_LOG_(RMQ_LOG_LVL_INFO, mod, __VA_ARGS__)
#define RMQ_LOG_DEBUG(mod, ...) RMQ_LOG_(RMQ_LOG_LVL_DEBUG, mod, __VA_ARGS__)

/* A sink owned by an object (the SDK's client instance): lines at or above level go to cb with
 * opaque, formatted as the process log's lines; calls into cb are serialised process-wide (no
 * two run at once). A zero logger (cb NULL) drops every line. Copied by value; read-only. */
typedef struct {
    rmq_log_lvl_t level;
    rmq_log_cb cb;
    void *opaque;
} rmq_logger_t;

static inline bool rmq_logger_enabled(const rmq_logger_t *lg, rmq_log_lvl_t lvl) {
    return lg && lg->cb && (int)lvl <= (int)lg->level;
}
/* Same as two loggers: lines of one never reach the other's sink. */
static inline bool rmq_logger_same(const rmq_logger_t *a, const rmq_logger_t *b) {
    return a->cb == b->cb && a->opaque == b->opaque && (!a->cb || a->level == b->level);
}

void rmq_logger_write(const rmq_logger_t *lg, rmq_log_lvl_t lvl, const char *mod, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

#define RMQ_ILOG_(lg, lvl, mod, ...)                                                               \
    do {                                                                                           \
        if (rmq_logger_enabled(lg, lvl)) rmq_logger_write(lg, lvl, mod, __VA_ARGS__);              \
    } while (0)
#define RMQ_ILOG_ERROR(lg, mod, ...) RMQ_ILOG_(lg, RMQ_LOG_LVL_ERROR, mod, __VA_ARGS__)
#define RMQ_ILOG_WARN(lg, mod, ...) RMQ_ILOG_(lg, RMQ_LOG_LVL_WARN, mod, __VA_ARGS__)
#define RMQ_ILOG_INFO(lg, mod, ...) RMQ_ILOG_(lg, RMQ_LOG_LVL_INFO, mod, __VA_ARGS__)
#define RMQ_ILOG_DEBUG(lg, mod, ...) RMQ_ILOG_(lg, RMQ_LOG_LVL_DEBUG, mod, __VA_ARGS__)

/* For code both the servers and the SDK run (remoting/): through lg when the owner gave one (an
 * SDK instance's sink), else the process log. */
#define RMQ_XLOG_(lg, lvl, mod, ...)                                                               \
    do {                                                                                           \
        const rmq_logger_t *xlg_ = (lg);                                                           \
        if (xlg_)                                                                                  \
            RMQ_ILOG_(xlg_, lvl, mod, __VA_ARGS__);                                                \
        else                                                                                       \
            RMQ_LOG_(lvl, mod, __VA_ARGS__);                                                       \
    } while (0)
#define RMQ_XLOG_ERROR(lg, mod, ...) RMQ_XLOG_(lg, RMQ_LOG_LVL_ERROR, mod, __VA_ARGS__)
#define RMQ_XLOG_WARN(lg, mod, ...) RMQ_XLOG_(lg, RMQ_LOG_LVL_WARN, mod, __VA_ARGS__)
#define RMQ_XLOG_INFO(lg, mod, ...) RMQ_XLOG_(lg, RMQ_LOG_LVL_INFO, mod, __VA_ARGS__)
#define RMQ_XLOG_DEBUG(lg, mod, ...) RMQ_XLOG_(lg, RMQ_LOG_LVL_DEBUG, mod, __VA_ARGS__)

#endif
