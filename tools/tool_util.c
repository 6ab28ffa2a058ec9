#include "tools/tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "remoting/acl.h"
#include "remoting/tls.h"

/* ---- options ------------------------------------------------------------------------ */

static int find_opt(const rmq_tool_opt_t *opts, int nopts, char s, const char *l, size_t ll) {
    for (int i = 0; i < nopts; i++) {
        if (s && opts[i].s == s) return i;
        if (l && opts[i].l && strlen(opts[i].l) == ll && strncmp(opts[i].l, l, ll) == 0) return i;
    }
    return -1;
}

int rmq_tool_parse(const rmq_tool_opt_t *opts, int nopts, int argc, char **argv,
                   rmq_tool_args_t *out, char *err, size_t errn) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (out->npos < (int)(sizeof out->pos / sizeof out->pos[0])) out->pos[out->npos++] = a;
            continue;
        }
        int k;
        const char *inl = NULL; /* value given in the same word */
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            k = find_opt(opts, nopts, 0, name, nl);
            /* RocketMQ's commons-cli also accepts a long name after one dash; and a single
             * letter after two dashes is treated as the short option. */
            if (k < 0 && nl == 1) k = find_opt(opts, nopts, name[0], NULL, 0);
            if (k < 0) {
                snprintf(err, errn, "unknown option --%.*s", (int)nl, name);
                return -1;
            }
            if (eq) inl = eq + 1;
        } else {
            /* "-ak": a long name after one dash wins over -a with value "k" (commons-cli) */
            k = a[2] ? find_opt(opts, nopts, 0, a + 1, strlen(a + 1)) : -1;
            if (k >= 0) {
                /* exact long name, value in the next word */
            } else if ((k = find_opt(opts, nopts, a[1], NULL, 0)) < 0 && a[2])
                k = find_opt(opts, nopts, 0, a + 1, strlen(a + 1));
            else if (k >= 0 && a[2])
                inl = a + 2;
            if (k < 0) {
                snprintf(err, errn, "unknown option %s", a);
                return -1;
            }
            if (inl && opts[k].l && strcmp(a + 1, opts[k].l) == 0) inl = NULL;
        }
        if (!opts[k].has_arg) {
            out->v[k] = inl ? inl : "true";
            continue;
        }
        if (!inl) {
            if (i + 1 >= argc) {
                if (opts[k].s)
                    snprintf(err, errn, "missing value for option -%c", opts[k].s);
                else
                    snprintf(err, errn, "missing value for option --%s", opts[k].l);
                return -1;
            }
            inl = argv[++i];
        }
        out->v[k] = inl;
    }
    for (int k = 0; k < nopts; k++) {
        if (opts[k].required && !out->v[k]) {
            /* say what to pass: "-t <topic>: topic name" */
            if (opts[k].s)
                snprintf(err, errn, "missing required option -%c%s%s%s: %s", opts[k].s,
                         opts[k].has_arg ? " <" : "", opts[k].has_arg && opts[k].l ? opts[k].l : "",
                         opts[k].has_arg ? ">" : "", opts[k].desc ? opts[k].desc : "");
            else
                snprintf(err, errn, "missing required option --%s: %s", opts[k].l,
                         opts[k].desc ? opts[k].desc : "");
            return -1;
        }
    }
    return 0;
}

const char *rmq_tool_get(const rmq_tool_opt_t *opts, int nopts, const rmq_tool_args_t *a, char s,
                         const char *l) {
    int k = s ? find_opt(opts, nopts, s, NULL, 0) : find_opt(opts, nopts, 0, l, strlen(l));
    return k >= 0 ? a->v[k] : NULL;
}

/* ---- time --------------------------------------------------------------------------- */

int64_t rmq_tool_parse_time(const char *s, int64_t now_ms) {
    if (!s || !*s) return -2;
    if (strcmp(s, "now") == 0) return now_ms;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end == 0 && end != s) return v;
    int Y, M, D, h, m, sec, ms;
    char tail;
    if (sscanf(s, "%d-%d-%d#%d:%d:%d:%d%c", &Y, &M, &D, &h, &m, &sec, &ms, &tail) != 7) return -2;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 ||
        sec > 60 || ms < 0 || ms > 999)
        return -2;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1) return -2;
    return (int64_t)t * 1000 + ms;
}

void rmq_tool_fmt_time(int64_t ms, char *out, size_t n) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- latency histogram ---------------------------------------------------------------- */

void rmq_hist_init(rmq_hist_t *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static int hist_idx(uint64_t v) {
    if (v < 128) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    if (msb > 40) {
        msb = 40;
        v = (1ULL << 41) - 1;
    }
    int shift = msb - 6; /* v >> shift in [64, 128) */
    return 128 + (msb - 7) * RMQ_HIST_SUB + (int)((v >> shift) - 64);
}

/* Lower bound and width of bucket i. */
static void hist_bucket(int i, double *lo, double *w) {
    if (i < 128) {
        *lo = i;
        *w = 1;
        return;
    }
    int msb = (i - 128) / RMQ_HIST_SUB + 7;
    int sub = (i - 128) % RMQ_HIST_SUB;
    int shift = msb - 6;
    *lo = (double)((uint64_t)(sub + 64) << shift);
    *w = (double)(1ULL << shift);
}

void rmq_hist_add(rmq_hist_t *h, uint64_t v) {
    h->c[hist_idx(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
    if (v < h->min) h->min = v;
}

void rmq_hist_merge(rmq_hist_t *dst, const rmq_hist_t *src) {
    for (int i = 0; i < RMQ_HIST_BUCKETS; i++) dst->c[i] += src->c[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->max > dst->max) dst->max = src->max;
    if (src->min < dst->min) dst->min = src->min;
}

double rmq_hist_quantile(const rmq_hist_t *h, double q) {
    if (h->n == 0) return 0;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->n) rank = h->n;
    uint64_t acc = 0;
    for (int i = 0; i < RMQ_HIST_BUCKETS; i++) {
        acc += h->c[i];
        if (acc >= rank) {
            double lo, w;
            hist_bucket(i, &lo, &w);
            double v = w <= 1 ? lo : lo + w / 2;
            /* never report beyond what was seen */
            if (v > (double)h->max) v = (double)h->max;
            if (v < (double)h->min) v = (double)h->min;
            return v;
        }
    }
    return (double)h->max;
}

double rmq_hist_mean(const rmq_hist_t *h) {
    return h->n ? h->sum / (double)h->n : 0;
}

/* ---- SDK configuration ------------------------------------------------------------- */

/* The SDK's lines, already formatted, to where the process log writes (stderr in the tools). */
static void sdk_log(int lvl, const char *line, void *op) {
    (void)op;
    if (rmq_log_enabled((rmq_log_lvl_t)lvl)) fprintf(stderr, "%s\n", line);
}

/* --tls / -D tls.* / -D serializeType from the command line (process config, set once in
 * main) */
#define TLS_ARGS_MAX 16
static char *tls_keys[TLS_ARGS_MAX], *tls_vals[TLS_ARGS_MAX];
static int tls_n;

static int take_tls_kv(const char *kv, char *err, size_t errn) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        snprintf(err, errn, "-D %s: expected key=value", kv);
        return -1;
    }
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    if (strcmp(key, "tls.enable") == 0) snprintf(key, sizeof key, "useTLS");
    if (strcmp(key, "useTLS") != 0 && strncmp(key, "tls.", 4) != 0 &&
        strcmp(key, "serializeType") != 0) {
        snprintf(err, errn, "-D %s: only useTLS, tls.* and serializeType are taken with -D", key);
        return -1;
    }
    rmq_conf_t *probe = rmq_conf_new(); /* refuse a bad key or value now, with its reason */
    char why[200] = "";
    rmq_conf_res_t r = probe ? rmq_conf_set(probe, key, eq + 1, why, sizeof why) : RMQ_CONF_INVALID;
    rmq_conf_destroy(probe);
    if (r != RMQ_CONF_OK) {
        snprintf(err, errn, "-D %s: %s", kv, *why ? why : "unknown key");
        return -1;
    }
    if (tls_n == TLS_ARGS_MAX) {
        snprintf(err, errn, "too many -D options");
        return -1;
    }
    tls_keys[tls_n] = strdup(key);
    tls_vals[tls_n] = strdup(eq + 1);
    tls_n++;
    return 0;
}

int rmq_tool_take_tls_args(int argc, char **argv, char *err, size_t errn) {
    int out = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = 0;
        if (strcmp(a, "--tls") == 0) {
            r = take_tls_kv("useTLS=true", err, errn);
        } else if (strcmp(a, "-D") == 0 && i + 1 < argc) {
            r = take_tls_kv(argv[++i], err, errn);
        } else if (strncmp(a, "-D", 2) == 0 && a[2]) {
            r = take_tls_kv(a + 2, err, errn);
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (r) return -1;
    }
    argv[out] = NULL;
    return out;
}

int rmq_tool_tls_cfg(void *tls_cfg, char *err, size_t errn) {
    rmq_rem_tls_cfg_t *t = tls_cfg;
    rmq_rem_tls_cfg_defaults(t);
    for (int i = 0; i < tls_n; i++) {
        if (strcmp(tls_keys[i], "useTLS") == 0)
            t->enable = strcasecmp(tls_vals[i], "true") == 0;
        else if (strncmp(tls_keys[i], "tls.", 4) == 0 &&
                 rmq_rem_tls_cfg_set(t, tls_keys[i], tls_vals[i], err, errn))
            return -1;
    }
    return rmq_rem_tls_cfg_load_file(t, err, errn) ? -1 : 0;
}

static char g_ak[256], g_sk[256]; /* the tool's credentials: set once in main */

int rmq_tool_creds_init(const char *ak, const char *sk, char *err, size_t n) {
    g_ak[0] = g_sk[0] = 0;
    if (ak || sk) {
        if (!ak || !sk || !*ak || !*sk) {
            snprintf(err, n, "-ak and -sk go together");
            return -1;
        }
        rmq_strlcpy(g_ak, ak, sizeof g_ak);
        rmq_strlcpy(g_sk, sk, sizeof g_sk);
        return 0;
    }
    const char *home = getenv("ROCKETMQ_HOME");
    if (!home || !*home) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/conf/tools.yml", home);
    int rc = rmq_acl_tools_file(path, g_ak, sizeof g_ak, g_sk, sizeof g_sk, err, n);
    if (rc != 1) g_ak[0] = g_sk[0] = 0;
    return rc < 0 ? -1 : 0;
}

const char *rmq_tool_access_key(void) {
    return g_ak[0] ? g_ak : NULL;
}

const char *rmq_tool_secret_key(void) {
    return g_ak[0] ? g_sk : NULL;
}

rmq_conf_t *rmq_tool_conf_new(const char *ns) {
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    rmq_conf_t *c = rmq_conf_new();
    if (!c || !ns || rmq_conf_set(c, "namesrvAddr", ns, NULL, 0) != RMQ_CONF_OK) {
        rmq_conf_destroy(c);
        return NULL;
    }
    if (rmq_tool_access_key()) {
        rmq_conf_set(c, "accessKey", rmq_tool_access_key(), NULL, 0);
        rmq_conf_set(c, "secretKey", rmq_tool_secret_key(), NULL, 0);
    }
    int lvl = rmq_log_level_;
    if (lvl >= RMQ_LOG_LVL_ERROR && lvl <= RMQ_LOG_LVL_DEBUG) {
        rmq_conf_set(c, "logLevel", names[lvl], NULL, 0);
        rmq_conf_set_log_cb(c, sdk_log, NULL);
    }
    for (int i = 0; i < tls_n; i++) rmq_conf_set(c, tls_keys[i], tls_vals[i], NULL, 0);
    return c;
}

/* ---- replication ------------------------------------------------------------------- */

static int64_t kv_i64(rmq_tool_kv_get get, void *tab, const char *k) {
    const char *v = tab ? get(tab, k) : NULL;
    char *end;
    if (!v || !*v) return -1;
    long long x = strtoll(v, &end, 10);
    return *end ? -1 : (int64_t)x;
}

/* Length of addr's host part (before the last ':'). */
static size_t host_len(const char *addr) {
    const char *c = strrchr(addr, ':');
    return c ? (size_t)(c - addr) : strlen(addr);
}

void rmq_tool_slave_repl(rmq_tool_kv_get get, void *st, void *mt, const char *slave_addr,
                         rmq_tool_repl_t *out) {
    out->slave_offset = kv_i64(get, st, "haSlaveMaxOffset");
    if (out->slave_offset < 0) out->slave_offset = kv_i64(get, st, "commitLogMaxOffset");
    out->master_offset = kv_i64(get, mt, "masterCommitLogMaxOffset");
    if (out->master_offset < 0) out->master_offset = kv_i64(get, mt, "commitLogMaxOffset");
    /* master unreachable: what the slave last learned of it (its metadata sync, <= 10 s old) */
    if (!mt) {
        out->master_offset = kv_i64(get, st, "haMasterMaxOffset");
        if (out->master_offset == 0) out->master_offset = -1; /* 0: it has not learned one */
    }
    out->behind_bytes = -1;
    out->behind_ms = -1;
    if (out->slave_offset >= 0 && out->master_offset >= 0)
        out->behind_bytes =
            out->master_offset > out->slave_offset ? out->master_offset - out->slave_offset : 0;
    if (!mt || out->slave_offset < 0) return;
    size_t hl = host_len(slave_addr);
    int64_t best = -1;
    for (int i = 0; i < 64; i++) {
        char k[48];
        snprintf(k, sizeof k, "slave%dAddr", i);
        const char *a = get(mt, k);
        if (!a) break;
        if (host_len(a) != hl || strncmp(a, slave_addr, hl) != 0) continue;
        snprintf(k, sizeof k, "slave%dAckOffset", i);
        int64_t ack = kv_i64(get, mt, k);
        snprintf(k, sizeof k, "slave%dFallBehindMs", i);
        int64_t ms = kv_i64(get, mt, k);
        if (ack < 0 || ms < 0) continue;
        int64_t d = ack > out->slave_offset ? ack - out->slave_offset : out->slave_offset - ack;
        if (best < 0 || d < best) {
            best = d;
            out->behind_ms = ms;
        }
    }
}
