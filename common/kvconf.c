/* Table-driven key=value configuration parser (see kvconf.h). */
#include "common/kvconf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"

#define FIELD(obj, d, T) ((T *)((char *)(obj) + (d)->offset))
#define CFIELD(obj, d, T) ((const T *)((const char *)(obj) + (d)->offset))

static const rmq_kv_def_t *find_def(const rmq_kv_def_t *defs, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(defs[i].key, key) || (defs[i].alias && !strcmp(defs[i].alias, key)))
            return &defs[i];
    return NULL;
}

rmq_err_t rmq_kv_defaults(const rmq_kv_def_t *defs, size_t n, void *obj) {
    for (size_t i = 0; i < n; i++) {
        const rmq_kv_def_t *d = &defs[i];
        switch (d->type) {
        case RMQ_KV_T_INT: *FIELD(obj, d, int) = (int)d->def_i; break;
        case RMQ_KV_T_I64: *FIELD(obj, d, int64_t) = d->def_i; break;
        case RMQ_KV_T_BOOL: *FIELD(obj, d, bool) = d->def_i != 0; break;
        case RMQ_KV_T_ENUM: *FIELD(obj, d, int) = (int)d->def_i; break;
        case RMQ_KV_T_STR: {
            char **s = FIELD(obj, d, char *);
            *s = d->def_s ? rmq_expand_home(d->def_s) : NULL;
            if (d->def_s && !*s) return RMQ_ERR__NOMEM;
            break;
        }
        }
    }
    return RMQ_OK;
}

rmq_err_t rmq_kv_set(const rmq_kv_def_t *defs, size_t n, void *obj, const char *key,
                     const char *val, char *err, size_t errlen) {
    const rmq_kv_def_t *d = find_def(defs, n, key);
    if (!d) {
        snprintf(err, errlen, "%s: unknown key", key);
        return RMQ_ERR__NOT_FOUND;
    }
    switch (d->type) {
    case RMQ_KV_T_INT:
    case RMQ_KV_T_I64: {
        int64_t v;
        if (rmq_parse_i64(val, &v)) {
            snprintf(err, errlen, "%s: '%s' is not an integer", key, val);
            return RMQ_ERR__CONFIG;
        }
        if (v < d->min || v > d->max) {
            snprintf(err, errlen, "%s: %" PRId64 " out of range [%" PRId64 ", %" PRId64 "]", key, v,
                     d->min, d->max);
            return RMQ_ERR__CONFIG;
        }
        if (d->type == RMQ_KV_T_INT)
            *FIELD(obj, d, int) = (int)v;
        else
            *FIELD(obj, d, int64_t) = v;
        return RMQ_OK;
    }
    case RMQ_KV_T_BOOL:
        /* Java's Boolean.parseBoolean treats anything but "true" as false; we refuse typos. */
        if (!strcasecmp(val, "true"))
            *FIELD(obj, d, bool) = true;
        else if (!strcasecmp(val, "false"))
            *FIELD(obj, d, bool) = false;
        else {
            snprintf(err, errlen, "%s: '%s' is not true or false", key, val);
            return RMQ_ERR__CONFIG;
        }
        return RMQ_OK;
    case RMQ_KV_T_ENUM:
        for (int i = 0; d->names[i]; i++)
            if (!strcmp(d->names[i], val)) {
                *FIELD(obj, d, int) = i;
                return RMQ_OK;
            }
        {
            char opts[256] = "";
            for (int i = 0; d->names[i]; i++) {
                if (i) strncat(opts, "|", sizeof opts - strlen(opts) - 1);
                strncat(opts, d->names[i], sizeof opts - strlen(opts) - 1);
            }
            snprintf(err, errlen, "%s: '%s' is not one of %s", key, val, opts);
        }
        return RMQ_ERR__CONFIG;
    case RMQ_KV_T_STR: {
        char *s = rmq_expand_home(val);
        if (!s) return RMQ_ERR__NOMEM;
        char **f = FIELD(obj, d, char *);
        free(*f);
        *f = s;
        return RMQ_OK;
    }
    }
    return RMQ_ERR__CONFIG;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

rmq_err_t rmq_kv_load_text(const rmq_kv_def_t *defs, size_t n, void *obj, const char *text,
                           const char *name, char *err, size_t errlen) {
    char *copy = strdup(text);
    if (!copy) return RMQ_ERR__NOMEM;
    rmq_err_t rc = RMQ_OK;
    int lineno = 0;
    char *save = NULL;
    /* strtok_r would merge blank lines and break line numbers: split by hand. */
    char *line = copy;
    (void)save;
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *t = trim(line);
        if (*t && *t != '#' && *t != '!') {
            /* Java Properties also allows ':' as separator; '=' is what conf files use. */
            char *eq = strchr(t, '=');
            if (!eq) eq = strchr(t, ':');
            if (!eq) {
                snprintf(err, errlen, "%s:%d: expected key=value, got '%s'", name, lineno, t);
                rc = RMQ_ERR__CONFIG;
                break;
            }
            *eq = 0;
            char *key = trim(t), *val = trim(eq + 1);
            char why[384];
            rmq_err_t e = rmq_kv_set(defs, n, obj, key, val, why, sizeof why);
            if (e == RMQ_ERR__NOT_FOUND) {
                RMQ_LOG_WARN("conf", "%s:%d: unknown key '%s' ignored", name, lineno, key);
            } else if (e) {
                snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
                rc = e;
                break;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    return rc;
}

rmq_err_t rmq_kv_load_file(const rmq_kv_def_t *defs, size_t n, void *obj, const char *path,
                           char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return RMQ_ERR__IO;
    }
    rmq_buf_t b;
    char chunk[4096];
    size_t r;
    rmq_err_t rc = RMQ_OK;
    rmq_buf_init(&b);
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = rmq_buf_append(&b, chunk, r))) break;
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = RMQ_ERR__IO;
    }
    fclose(f);
    if (!rc) rc = rmq_buf_append_u8(&b, 0);
    if (!rc) rc = rmq_kv_load_text(defs, n, obj, (const char *)b.data, path, err, errlen);
    rmq_buf_fini(&b);
    return rc;
}

void rmq_kv_print(const rmq_kv_def_t *defs, size_t n, const void *obj, FILE *out) {
    for (size_t i = 0; i < n; i++) {
        const rmq_kv_def_t *d = &defs[i];
        switch (d->type) {
        case RMQ_KV_T_INT: fprintf(out, "%s=%d\n", d->key, *CFIELD(obj, d, int)); break;
        case RMQ_KV_T_I64:
            fprintf(out, "%s=%" PRId64 "\n", d->key, *CFIELD(obj, d, int64_t));
            break;
        case RMQ_KV_T_BOOL:
            fprintf(out, "%s=%s\n", d->key, *CFIELD(obj, d, bool) ? "true" : "false");
            break;
        case RMQ_KV_T_ENUM: fprintf(out, "%s=%s\n", d->key, d->names[*CFIELD(obj, d, int)]); break;
        case RMQ_KV_T_STR: {
            const char *s = *CFIELD(obj, d, char *);
            /* secrets (tls.*.keyPassword) never leave: -p and GET_BROKER_CONFIG print this */
            size_t kl = strlen(d->key);
            bool secret = kl >= 8 && strcmp(d->key + kl - 8, "Password") == 0;
            fprintf(out, "%s=%s\n", d->key, s && *s && secret ? "******" : s ? s : "");
            break;
        }
        }
    }
}

void rmq_kv_usage(const rmq_kv_def_t *defs, size_t n, FILE *out) {
    for (size_t i = 0; i < n; i++) {
        const rmq_kv_def_t *d = &defs[i];
        char def[64];
        switch (d->type) {
        case RMQ_KV_T_INT:
        case RMQ_KV_T_I64: snprintf(def, sizeof def, "%" PRId64, d->def_i); break;
        case RMQ_KV_T_BOOL: snprintf(def, sizeof def, "%s", d->def_i ? "true" : "false"); break;
        case RMQ_KV_T_ENUM: snprintf(def, sizeof def, "%s", d->names[d->def_i]); break;
        case RMQ_KV_T_STR: snprintf(def, sizeof def, "%s", d->def_s ? d->def_s : ""); break;
        }
        fprintf(out, "  %-36s %-20s %s\n", d->key, def, d->doc ? d->doc : "");
    }
}

void rmq_kv_free(const rmq_kv_def_t *defs, size_t n, void *obj) {
    for (size_t i = 0; i < n; i++)
        if (defs[i].type == RMQ_KV_T_STR) {
            char **s = FIELD(obj, &defs[i], char *);
            free(*s);
            *s = NULL;
        }
}

char *rmq_expand_home(const char *path) {
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0)) {
        const char *home = getenv("HOME");
        if (!home) home = "/tmp";
        size_t n = strlen(home) + strlen(path);
        char *s = malloc(n);
        if (s) snprintf(s, n, "%s%s", home, path + 1);
        return s;
    }
    return strdup(path);
}

int rmq_kv_main_args(int argc, char **argv, const char *prog, const rmq_kv_def_t *defs, size_t n,
                     void *obj, const char *namesrv_key) {
    const char *file = NULL, *ns = NULL;
    bool print = false;
    /* Overrides (-D k=v) apply after the file so the command line wins. */
    const char **ovr = calloc((size_t)argc, sizeof *ovr);
    int novr = 0;
    if (!ovr) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (rmq_is_version_arg(a, 1)) {
            rmq_print_version(prog);
            free(ovr);
            return 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: %s [-c FILE] %s[-p] [-D key=value]... [-h] [-v|--version]\n"
                   "  -c FILE   configuration file (key=value)\n"
                   "%s"
                   "  -p        print the effective configuration and exit\n"
                   "  -D k=v    set one key, overriding the file\n"
                   "keys:\n",
                   prog, namesrv_key ? "[-n \"host:port;host:port\"] " : "",
                   namesrv_key ? "  -n ADDRS  NameServer address list (namesrvAddr)\n" : "");
            rmq_kv_usage(defs, n, stdout);
            free(ovr);
            return 1;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--printConfigItem")) {
            print = true;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--configFile")) && i + 1 < argc) {
            file = argv[++i];
        } else if (namesrv_key && (!strcmp(a, "-n") || !strcmp(a, "--namesrvAddr")) &&
                   i + 1 < argc) {
            ns = argv[++i];
        } else if (!strcmp(a, "-D") && i + 1 < argc) {
            ovr[novr++] = argv[++i];
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s' (try -h)\n", prog, a);
            free(ovr);
            return -1;
        }
    }
    char err[512];
    int rc = 0;
    if (file && rmq_kv_load_file(defs, n, obj, file, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < novr; i++) {
        char kv[1024];
        rmq_strlcpy(kv, ovr[i], sizeof kv);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "%s: -D %s: expected key=value\n", prog, ovr[i]);
            rc = -1;
            break;
        }
        *eq = 0;
        if (rmq_kv_set(defs, n, obj, kv, eq + 1, err, sizeof err)) {
            fprintf(stderr, "%s: -D: %s\n", prog, err);
            rc = -1;
        }
    }
    if (rc == 0 && ns && rmq_kv_set(defs, n, obj, namesrv_key, ns, err, sizeof err)) {
        fprintf(stderr, "%s: -n: %s\n", prog, err);
        rc = -1;
    }
    free(ovr);
    if (rc) return -1;
    if (print) {
        rmq_kv_print(defs, n, obj, stdout);
        return 1;
    }
    return 0;
}
