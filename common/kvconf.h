/* key=value configuration as RocketMQ's broker.conf / namesrv.conf: `#` comments, blank lines,
 * whitespace trimmed around key and value. One table-driven parser for every binary.
 *
 *   typedef struct { int listen_port; char *store_path; } my_cfg_t;
 *   static const rmq_kv_def_t defs[] = {
 *       RMQ_KV_INT("listenPort", my_cfg_t, listen_port, 9876, 1, 65535, "TCP port"),
 *       RMQ_KV_STR("storePathRootDir", my_cfg_t, store_path, "~/store", "store root"),
 *   };
 *
 * A bad value for a known key is refused with "file:line: key: why"; an unknown key is
 * warned with file:line and skipped (a RocketMQ conf may carry keys we do not implement). */
#ifndef RMQ_KVCONF_H
#define RMQ_KVCONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rmq/rmq_err.h"

typedef enum {
    RMQ_KV_T_INT,
    RMQ_KV_T_I64,
    RMQ_KV_T_BOOL,
    RMQ_KV_T_STR,
    RMQ_KV_T_ENUM
} rmq_kv_type_t;

typedef struct {
    const char *key;
    const char *alias; /* older spelling accepted too (mapedFileSizeCommitLog), or NULL */
    rmq_kv_type_t type;
    size_t offset;     /* of the field in the config struct: int, int64_t, bool, char *, int */
    int64_t def_i;     /* default for INT/I64/BOOL/ENUM (ENUM: index into names) */
    const char *def_s; /* default for STR (NULL allowed) */
    int64_t min, max;  /* inclusive range for INT/I64 */
    const char *const *names; /* ENUM: NULL-terminated value names, matched case-sensitively */
    const char *doc;          /* one line for -h and conf/ examples */
} rmq_kv_def_t;

#define RMQ_KV_INT(k, T, f, d, lo, hi, doc)                                                        \
    { k, NULL, RMQ_KV_T_INT, offsetof(T, f), d, NULL, lo, hi, NULL, doc }
#define RMQ_KV_I64(k, T, f, d, lo, hi, doc)                                                        \
    { k, NULL, RMQ_KV_T_I64, offsetof(T, f), d, NULL, lo, hi, NULL, doc }
#define RMQ_KV_I64_ALIAS(k, a, T, f, d, lo, hi, doc)                                               \
    { k, a, RMQ_KV_T_I64, offsetof(T, f), d, NULL, lo, hi, NULL, doc }
#define RMQ_KV_BOOL(k, T, f, d, doc)                                                               \
    { k, NULL, RMQ_KV_T_BOOL, offsetof(T, f), d, NULL, 0, 1, NULL, doc }
#define RMQ_KV_STR(k, T, f, d, doc)                                                                \
    { k, NULL, RMQ_KV_T_STR, offsetof(T, f), 0, d, 0, 0, NULL, doc }
#define RMQ_KV_ENUM(k, T, f, d, names, doc)                                                        \
    { k, NULL, RMQ_KV_T_ENUM, offsetof(T, f), d, NULL, 0, 0, names, doc }

/* Fill obj's fields with the defaults (strings strdup'ed). */
rmq_err_t rmq_kv_defaults(const rmq_kv_def_t *defs, size_t n, void *obj);
/* Set one key. RMQ_ERR__NOT_FOUND for an unknown key, RMQ_ERR__CONFIG for a bad value
 * with the reason in err. */
rmq_err_t rmq_kv_set(const rmq_kv_def_t *defs, size_t n, void *obj, const char *key,
                     const char *val, char *err, size_t errlen);
/* Parse a file into obj (defaults must already be set). Unknown keys are warned
 * (rmq log) and skipped; the first bad value stops with "file:line: ..." in err. */
rmq_err_t rmq_kv_load_file(const rmq_kv_def_t *defs, size_t n, void *obj, const char *path,
                           char *err, size_t errlen);
/* Parse text already in memory; name is used in messages. */
rmq_err_t rmq_kv_load_text(const rmq_kv_def_t *defs, size_t n, void *obj, const char *text,
                           const char *name, char *err, size_t errlen);
/* Print the effective configuration as key=value lines (what -p shows). */
void rmq_kv_print(const rmq_kv_def_t *defs, size_t n, const void *obj, FILE *out);
/* Print "  key  (default)  doc" lines for -h. */
void rmq_kv_usage(const rmq_kv_def_t *defs, size_t n, FILE *out);
/* Free the string fields. */
void rmq_kv_free(const rmq_kv_def_t *defs, size_t n, void *obj);

/* Command line shared by the servers: -c FILE, -n ADDRS (sets namesrv_key if non-NULL),
 * -p (print effective config and exit 0), -h (usage, exit 0), and -D key=value overrides.
 * Returns 0 to go on, 1 when the caller should exit 0 (-p, -h done), -1 on error
 * (message already printed to stderr; exit non-zero). */
int rmq_kv_main_args(int argc, char **argv, const char *prog, const rmq_kv_def_t *defs, size_t n,
                     void *obj, const char *namesrv_key);

/* Expand a leading "~/" with $HOME; returns new string (free()). */
char *rmq_expand_home(const char *path);

#endif
