/* UPDATE_BROKER_CONFIG (brokercfg.h). The body is RocketMQ's MixAll.properties2String:
 * "key=value\n" lines. All keys are checked before anything changes: one key off the
 * allow-list refuses the whole request, whatever the account (an admin account included). */
#include "broker/brokercfg.h"

#include <stdlib.h>
#include <string.h>

#include "broker/util.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/acl.h"

#define MAX_KEYS 32

typedef struct {
    char *k, *v;
} kv_t;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* "k=v" lines of text (modified in place) into kv; -1 when more than max. */
static int parse_props(char *text, kv_t *kv, int max) {
    int n = 0;
    for (char *save, *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        ln = trim(ln);
        if (!*ln || *ln == '#' || *ln == '!') continue;
        char *eq = strchr(ln, '=');
        if (!eq) eq = strchr(ln, ':');
        if (n == max) return -1;
        if (eq) *eq = 0;
        kv[n].k = trim(ln);
        kv[n].v = eq ? trim(eq + 1) : "";
        n++;
    }
    return n;
}

static const rmq_kv_def_t *find_def(const char *k) {
    for (size_t i = 0; i < rmq_broker_cfg_ndefs; i++)
        if (!strcmp(rmq_broker_cfg_defs[i].key, k) ||
            (rmq_broker_cfg_defs[i].alias && !strcmp(rmq_broker_cfg_defs[i].alias, k)))
            return &rmq_broker_cfg_defs[i];
    return NULL;
}

/* A value cfg.c's table would take; why in err otherwise. */
static bool value_ok(const char *k, const char *v, char *err, size_t n) {
    rmq_broker_cfg_t tmp;
    memset(&tmp, 0, sizeof tmp);
    rmq_kv_defaults(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &tmp);
    bool ok = rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &tmp, k, v, err, n) == RMQ_OK;
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &tmp);
    if (ok && !strcmp(k, "logLevel") && rmq_log_level_parse(v) == -2) {
        snprintf(err, n, "logLevel: unknown level '%s' (ERROR, WARN, INFO or DEBUG)", v);
        ok = false;
    }
    if (ok && !strcmp(k, "deleteWhen")) {
        for (const char *p = v; *p; p++)
            if ((*p < '0' || *p > '9') && *p != ';') {
                snprintf(err, n, "deleteWhen: '%s' is not hours separated by ';'", v);
                return false;
            }
    }
    return ok;
}

/* The side file with kv[0..n) merged in, written atomically (temp + fsync + rename). */
static rmq_err_t persist(const rmq_broker_cfg_t *cfg, const kv_t *kv, int n) {
    char path[4096];
    rmq_broker_cfg_runtime_path(cfg, path, sizeof path);
    char *old = NULL;
    size_t len = 0;
    kv_t cur[MAX_KEYS * 2];
    int nc = 0;
    if (rmq_store_cfgfile_read(path, &old, &len) == RMQ_OK && old) {
        nc = parse_props(old, cur, MAX_KEYS);
        if (nc < 0) nc = 0;
    }
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < nc && strcmp(cur[j].k, kv[i].k)) j++;
        if (j == nc) {
            if (nc == MAX_KEYS * 2) break;
            cur[nc++].k = kv[i].k;
        }
        cur[j].v = kv[i].v;
    }
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_append_str(&b,
                       "# written by mqbroker on UPDATE_BROKER_CONFIG; read after broker.conf\n");
    for (int i = 0; i < nc; i++) rmq_buf_appendf(&b, "%s=%s\n", cur[i].k, cur[i].v);
    rmq_err_t e = rmq_store_cfgfile_write(path, (const char *)b.data, b.len);
    rmq_buf_fini(&b);
    free(old);
    return e;
}

RMQ_BROKER_HANDLER(rmq_broker_cfg_on_update) {
    const char *ak = rmq_rem_cmd_get(req, RMQ_ACL_ACCESS_KEY);
    const char *peer = c ? rmq_rem_conn_peer(c) : "-";
    if (!b->cfg_rw) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "config not writable here");
    if (!req->body || !req->body_len)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "no key=value lines in the body");
    char *text = malloc(req->body_len + 1);
    if (!text) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    memcpy(text, req->body, req->body_len);
    text[req->body_len] = 0;
    kv_t kv[MAX_KEYS];
    int n = parse_props(text, kv, MAX_KEYS);
    rmq_rem_cmd_t *resp = NULL;
    if (n <= 0) {
        if (n < 0)
            resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "more than %d keys in one request",
                                  MAX_KEYS);
        else
            resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "no key=value lines in the body");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const rmq_kv_def_t *d = find_def(kv[i].k);
        if (d && d->alias && !strcmp(d->alias, kv[i].k)) kv[i].k = (char *)d->key;
        if (!d || !rmq_broker_cfg_runtime_key(d->key)) {
            RMQ_LOG_WARN("broker", "UPDATE_BROKER_CONFIG from %s accessKey=%s refused: %s=%s", peer,
                         ak ? ak : "(none)", kv[i].k, kv[i].v);
            resp = rmq_broker_err(
                req, RMQ_ERR_NO_PERMISSION,
                d ? "%s cannot be changed remotely: paths, ports, roles, addresses, identity and "
                    "security settings are set in broker.conf only"
                  : "%s is not a broker config key",
                kv[i].k);
            goto out;
        }
        char why[256];
        if (!value_ok(d->key, kv[i].v, why, sizeof why)) {
            resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", why);
            goto out;
        }
    }
    rmq_err_t e = persist(b->cfg_rw, kv, n);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "UPDATE_BROKER_CONFIG: cannot persist the change: %s",
                      rmq_strerror(e));
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "not changed: cannot persist it (%s)",
                              rmq_strerror(e));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char why[256];
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, b->cfg_rw, kv[i].k, kv[i].v, why,
                   sizeof why);
        RMQ_LOG_INFO("broker", "UPDATE_BROKER_CONFIG from %s accessKey=%s: %s=%s", peer,
                     ak ? ak : "(none)", kv[i].k, kv[i].v);
        if (b->config_changed) b->config_changed(b, kv[i].k);
    }
    resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
out:
    free(text);
    return resp;
}

void rmq_broker_cfg_print_public(const rmq_broker_cfg_t *cfg, FILE *out) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return;
    rmq_kv_print(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, f);
    fclose(f);
    for (char *save, *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        char key[256];
        size_t kl = strcspn(ln, "=");
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, ln, kl);
        key[kl] = 0;
        if (!rmq_broker_cfg_secret_key(key)) fprintf(out, "%s\n", ln);
    }
    free(text);
}
