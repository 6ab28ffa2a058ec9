/* Helpers shared by mqadmin and mqbench (no I/O, unit-tested in test/unit/test_tools.c):
 * command-line options in RocketMQ's style, RocketMQ's time formats, a log-bucket latency
 * histogram, and the tools' SDK configuration. */
#ifndef RMQ_TOOL_UTIL_H
#define RMQ_TOOL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rmq/rmq.h"

/* ---- options ------------------------------------------------------------------------ */

#define RMQ_TOOL_MAX_OPTS 32

/* One option: -s / --long (RocketMQ's long names, e.g. --namesrvAddr). has_arg false marks a
 * switch (its value becomes "true"). */
typedef struct {
    char s;        /* short letter, 0 if none */
    const char *l; /* long name, NULL if none */
    bool has_arg;
    bool required;
    const char *desc;
} rmq_tool_opt_t;

typedef struct {
    const char *v[RMQ_TOOL_MAX_OPTS]; /* value per option index (borrowed from argv), or NULL */
    const char *pos[16];              /* positional arguments */
    int npos;
} rmq_tool_args_t;

/* Parse argv[0..argc) against opts. Accepts "-x v", "-xv", "--long v", "--long=v". Returns 0,
 * or -1 with one line (no newline) in err: unknown option, missing value, missing required. */
int rmq_tool_parse(const rmq_tool_opt_t *opts, int nopts, int argc, char **argv,
                   rmq_tool_args_t *out, char *err, size_t errn);
/* Value of the option with short letter s (or long name l when s is 0), or NULL. */
const char *rmq_tool_get(const rmq_tool_opt_t *opts, int nopts, const rmq_tool_args_t *a, char s,
                         const char *l);

/* ---- time --------------------------------------------------------------------------- */

/* resetOffsetByTime's -s: "now" (-> now_ms), milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS (local
 * time). -2 when unparsable. */
int64_t rmq_tool_parse_time(const char *s, int64_t now_ms);
/* UtilAll.timeMillisToHumanString2: "yyyy-MM-dd HH:mm:ss,SSS" local time (out >= 32). */
void rmq_tool_fmt_time(int64_t ms, char *out, size_t n);

/* ---- replication (clusterList -r) --------------------------------------------------- */

/* A runtime-info value: the string of key k in table tab, NULL when absent. */
typedef const char *(*rmq_tool_kv_get)(void *tab, const char *k);
/* How far a slave is behind its master; -1 where unknown. */
typedef struct {
    int64_t slave_offset;  /* the slave's haSlaveMaxOffset (else its commitLogMaxOffset) */
    int64_t master_offset; /* the master's masterCommitLogMaxOffset (else commitLogMaxOffset);
                              master unreachable: the slave's haMasterMaxOffset, its last word */
    int64_t behind_bytes;  /* master_offset - slave_offset, at least 0 */
    int64_t behind_ms;     /* the master's slaveNFallBehindMs for this slave's connection */
} rmq_tool_repl_t;
/* From the slave's runtime table st and its master's mt (NULL: unreachable). The master lists
 * its HA connections as slaveN* keys by socket address; the slave's entry is the one on
 * slave_addr's host whose slaveNAckOffset is nearest the slave's offset. */
void rmq_tool_slave_repl(rmq_tool_kv_get get, void *st, void *mt, const char *slave_addr,
                         rmq_tool_repl_t *out);

/* ---- latency histogram ---------------------------------------------------------------- */

/* HDR-style: values below 128 exact, then 64 linear sub-buckets per power of two (<= 1.6 %
 * error), up to 2^40. Not thread-safe: one per thread, merged at the end. */
#define RMQ_HIST_SUB 64
#define RMQ_HIST_BUCKETS (128 + 34 * RMQ_HIST_SUB)
typedef struct {
    uint64_t c[RMQ_HIST_BUCKETS];
    uint64_t n, max, min;
    double sum;
} rmq_hist_t;

void rmq_hist_init(rmq_hist_t *h);
void rmq_hist_add(rmq_hist_t *h, uint64_t v);
void rmq_hist_merge(rmq_hist_t *dst, const rmq_hist_t *src);
/* Value at quantile q in [0,1] (the bucket's midpoint); 0 when empty. */
double rmq_hist_quantile(const rmq_hist_t *h, double q);
double rmq_hist_mean(const rmq_hist_t *h);

/* ---- SDK configuration ------------------------------------------------------------- */

/* New conf for namesrvAddr ns whose SDK log lines go to the tool's process log (stderr at the
 * process level, RMQ_LOG_LEVEL): the SDK logs only through its conf's callback. NULL when ns
 * is not a valid address list (or on OOM). */
rmq_conf_t *rmq_tool_conf_new(const char *ns);

/* TLS options of every tool, taken out of argv (anywhere after argv[0]) before the tool's own
 * parsing: --tls (useTLS=true) and -D key=value / -Dkey=value for useTLS, tls.enable (same)
 * and the SDK's tls.* keys (tls.config.file among them). Each conf rmq_tool_conf_new makes
 * carries them. Returns the new argc, or -1 with the reason in err. */
int rmq_tool_take_tls_args(int argc, char **argv, char *err, size_t errn);
/* The same options for a raw remoting client (remoting/tls.h's rmq_rem_tls_cfg_t, passed as
 * void * to keep remoting out of this header): defaults plus what the command line set;
 * free with rmq_rem_tls_cfg_free. -1 with err when tls.config.file cannot be read. */
int rmq_tool_tls_cfg(void *tls_cfg, char *err, size_t errn);
/* ACL credentials of every conf rmq_tool_conf_new makes (the tool's config, set once in main):
 * ak/sk when both are given (-ak/-sk), else $ROCKETMQ_HOME/conf/tools.yml when it names both
 * (RocketMQ's tools.yml). 0, or -1 with err (one of -ak/-sk alone, tools.yml unreadable). */
int rmq_tool_creds_init(const char *ak, const char *sk, char *err, size_t n);
/* The credentials in force, NULL when none. */
const char *rmq_tool_access_key(void);
const char *rmq_tool_secret_key(void);

#endif
