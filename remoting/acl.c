/* ACL 1.0 (acl.h): signatures with mbedTLS's HMAC-SHA1, plain_acl.yml with libyaml's document
 * API, RocketMQ's address patterns, the per-request check, and the mtime-polling watcher.
 *
 * Accounts are few (tens): a linear search by access key is cheaper than keeping a map. */
#include "remoting/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "common/log.h"
#include "common/util.h"

/* ---- signature ------------------------------------------------------------------------- */

static int field_cmp(const void *x, const void *y) {
    const rmq_rem_field_t *a = *(const rmq_rem_field_t *const *)x;
    const rmq_rem_field_t *b = *(const rmq_rem_field_t *const *)y;
    return strcmp(a->key, b->key);
}

rmq_err_t rmq_acl_signature(const rmq_rem_cmd_t *c, const char *sk, bool skip_uniq,
                            char out[RMQ_ACL_SIG_LEN]) {
    out[0] = 0;
    const rmq_rem_field_t **f = NULL;
    if (c->next) {
        f = malloc(c->next * sizeof *f);
        if (!f) return RMQ_ERR__NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->next; i++) {
        if (strcmp(c->ext[i].key, RMQ_ACL_SIGNATURE) == 0) continue;
        if (skip_uniq && strcmp(c->ext[i].key, RMQ_ACL_UNIQ_QUERY) == 0) continue;
        f[n++] = &c->ext[i];
    }
    qsort(f, n, sizeof *f, field_cmp);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    unsigned char mac[20];
    int rc = mbedtls_md_setup(&ctx, md, 1);
    if (!rc) rc = mbedtls_md_hmac_starts(&ctx, (const unsigned char *)sk, strlen(sk));
    for (size_t i = 0; !rc && i < n; i++)
        rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)f[i]->val, strlen(f[i]->val));
    if (!rc && c->niov) {
        for (size_t i = 0; !rc && i < c->niov; i++)
            rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)c->iov[i].base, c->iov[i].len);
    } else if (!rc && c->body_len) {
        rc = mbedtls_md_hmac_update(&ctx, c->body, c->body_len);
    }
    if (!rc) rc = mbedtls_md_hmac_finish(&ctx, mac);
    mbedtls_md_free(&ctx);
    free(f);
    if (rc) return RMQ_ERR__INVALID_ARG;
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)out, RMQ_ACL_SIG_LEN, &olen, mac, sizeof mac))
        return RMQ_ERR__INVALID_ARG;
    out[olen] = 0;
    return RMQ_OK;
}

rmq_err_t rmq_acl_sign(rmq_rem_cmd_t *c, const char *ak, const char *sk, const char *token) {
    rmq_err_t e = rmq_rem_cmd_set(c, RMQ_ACL_ACCESS_KEY, ak);
    if (!e && token && *token) e = rmq_rem_cmd_set(c, RMQ_ACL_SECURITY_TOKEN, token);
    char sig[RMQ_ACL_SIG_LEN];
    if (!e) e = rmq_acl_signature(c, sk, false, sig);
    if (!e) e = rmq_rem_cmd_set(c, RMQ_ACL_SIGNATURE, sig);
    return e;
}

/* ---- addresses ------------------------------------------------------------------------- */

void rmq_acl_peer_ip(const char *peer, char *out, size_t n) {
    const char *s = peer ? peer : "";
    size_t len = strlen(s);
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        len = e ? (size_t)(e - s - 1) : len - 1;
        s++;
    } else {
        const char *colon = strrchr(s, ':');
        /* one colon: v4 "ip:port"; more: a bare v6 address "a::b:port" as RocketMQ cuts it */
        if (colon) len = (size_t)(colon - s);
    }
    if (len >= n) len = n - 1;
    memcpy(out, s, len);
    out[len] = 0;
    /* an IPv4 client on a dual-stack socket */
    if (strncmp(out, "::ffff:", 7) == 0 && strchr(out, '.'))
        memmove(out, out + 7, strlen(out + 7) + 1);
}

static bool same_addr(const char *a, const char *b) {
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1) return inet_pton(AF_INET, b, y) == 1 && !memcmp(x, y, 4);
    if (inet_pton(AF_INET6, a, x) == 1) return inet_pton(AF_INET6, b, y) == 1 && !memcmp(x, y, 16);
    return false;
}

static bool valid_addr(const char *a) {
    unsigned char x[16];
    return inet_pton(AF_INET, a, x) == 1 || inet_pton(AF_INET6, a, x) == 1;
}

static void trim(char *s) {
    char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    memmove(s, p, strlen(p) + 1);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
}

/* One octet pattern: a number, "*" or "lo-hi"; false when malformed. */
static bool octet_range(const char *p, int *lo, int *hi) {
    if (strcmp(p, "*") == 0) {
        *lo = 0;
        *hi = 255;
        return true;
    }
    char *e;
    long a = strtol(p, &e, 10);
    if (e == p || a < 0 || a > 255) return false;
    long b = a;
    if (*e == '-') {
        const char *q = e + 1;
        b = strtol(q, &e, 10);
        if (e == q || b < a || b > 255) return false;
    }
    if (*e) return false;
    *lo = (int)a;
    *hi = (int)b;
    return true;
}

int rmq_acl_addr_match(const char *pattern, const char *ip) {
    char pat[256];
    if (!pattern || strlen(pattern) >= sizeof pat) return -1;
    rmq_strlcpy(pat, pattern, sizeof pat);
    trim(pat);
    if (!pat[0]) return 0; /* blank: matches nothing */
    if (!strcmp(pat, "*") || !strcmp(pat, "*.*.*.*") || !strcmp(pat, "*:*:*:*:*:*:*:*")) return 1;
    size_t len = strlen(pat);
    if (pat[len - 1] == '}') { /* a.b.c.{1,2,3} */
        char *open = strchr(pat, '{');
        if (!open || open == pat || (open[-1] != '.' && open[-1] != ':')) return -1;
        *open = 0;
        pat[len - 1] = 0;
        int hit = 0, any = 0;
        for (char *save, *it = strtok_r(open + 1, ",", &save); it;
             it = strtok_r(NULL, ",", &save)) {
            char one[300];
            trim(it);
            snprintf(one, sizeof one, "%s%s", pat, it);
            if (!valid_addr(one)) return -1;
            any = 1;
            if (same_addr(one, ip)) hit = 1;
        }
        return any ? hit : -1;
    }
    if (strchr(pat, ',')) {
        int hit = 0;
        for (char *save, *it = strtok_r(pat, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
            trim(it);
            if (!valid_addr(it)) return -1;
            if (same_addr(it, ip)) hit = 1;
        }
        return hit;
    }
    if (strchr(pat, '*') || strchr(pat, '-')) {
        if (strchr(pat, ':')) return -1; /* IPv6 ranges: not supported (acl.h) */
        int lo[4], hi[4], k = 0;
        for (char *save, *it = strtok_r(pat, ".", &save); it; it = strtok_r(NULL, ".", &save)) {
            if (k == 4 || !octet_range(it, &lo[k], &hi[k])) return -1;
            k++;
        }
        if (k != 4) return -1;
        unsigned char x[4];
        if (inet_pton(AF_INET, ip, x) != 1) return 0;
        for (int i = 0; i < 4; i++)
            if (x[i] < lo[i] || x[i] > hi[i]) return 0;
        return 1;
    }
    if (!valid_addr(pat)) return -1;
    return same_addr(pat, ip) ? 1 : 0;
}

/* ---- the account file ------------------------------------------------------------------ */

typedef struct {
    char *name;
    int perm;
} perm_ent_t;

typedef struct {
    char *ak, *sk, *white;
    bool admin, broker;
    int def_topic, def_group;
    perm_ent_t *topics, *groups;
    size_t ntopics, ngroups;
} account_t;

struct rmq_acl_s {
    char **global;
    size_t nglobal;
    account_t *acc;
    size_t nacc;
};

static void account_free(account_t *a) {
    free(a->ak);
    free(a->sk);
    free(a->white);
    for (size_t i = 0; i < a->ntopics; i++) free(a->topics[i].name);
    for (size_t i = 0; i < a->ngroups; i++) free(a->groups[i].name);
    free(a->topics);
    free(a->groups);
}

void rmq_acl_free(rmq_acl_t *a) {
    if (!a) return;
    for (size_t i = 0; i < a->nglobal; i++) free(a->global[i]);
    free(a->global);
    for (size_t i = 0; i < a->nacc; i++) account_free(&a->acc[i]);
    free(a->acc);
    free(a);
}

size_t rmq_acl_naccounts(const rmq_acl_t *a) {
    return a ? a->nacc : 0;
}

/* Permission.parsePermFromString; -1 for a value RocketMQ's checkResourcePerms refuses. */
static int parse_perm(const char *s) {
    char v[32];
    if (strlen(s) >= sizeof v) return -1;
    rmq_strlcpy(v, s, sizeof v);
    trim(v);
    if (!strcmp(v, "PUB")) return RMQ_ACL_PUB;
    if (!strcmp(v, "SUB")) return RMQ_ACL_SUB;
    if (!strcmp(v, "PUB|SUB") || !strcmp(v, "SUB|PUB")) return RMQ_ACL_PUB | RMQ_ACL_SUB;
    if (!strcmp(v, "DENY")) return RMQ_ACL_DENY;
    return -1;
}

static const char *scalar(yaml_document_t *d, yaml_node_t *n) {
    (void)d;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool yaml_true(const char *s) {
    return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"));
}

/* A sequence of scalars at n into a new array of strdup'ed strings. */
static bool load_strs(yaml_document_t *d, yaml_node_t *n, const char *what, char ***out,
                      size_t *nout, char *err, size_t errn) {
    *out = NULL;
    *nout = 0;
    if (n->type == YAML_SCALAR_NODE && !n->data.scalar.length) return true; /* key: (empty) */
    if (n->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errn, "%s: a list expected", what);
        return false;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out) {
        snprintf(err, errn, "out of memory");
        return false;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const char *s = scalar(d, yaml_document_get_node(d, *it));
        if (!s) {
            snprintf(err, errn, "%s: every entry must be a string", what);
            return false;
        }
        if (!((*out)[(*nout)++] = strdup(s))) {
            snprintf(err, errn, "out of memory");
            return false;
        }
    }
    return true;
}

static void free_strs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* topicPerms / groupPerms: "name=PERM" entries. */
static bool load_perms(yaml_document_t *d, yaml_node_t *n, const char *what, perm_ent_t **out,
                       size_t *nout, char *err, size_t errn) {
    char **s;
    size_t ns;
    for (size_t i = 0; i < *nout; i++) free((*out)[i].name); /* a key given twice: the last */
    free(*out);
    *out = NULL;
    *nout = 0;
    if (!load_strs(d, n, what, &s, &ns, err, errn)) {
        free_strs(s, ns);
        return false;
    }
    bool ok = true;
    *out = calloc(ns ? ns : 1, sizeof **out);
    if (!*out) ok = false;
    for (size_t i = 0; ok && i < ns; i++) {
        char *eq = strchr(s[i], '=');
        if (!eq || strchr(eq + 1, '=')) {
            snprintf(err, errn, "%s: '%s' is not name=PERM", what, s[i]);
            ok = false;
            break;
        }
        *eq = 0;
        int p = parse_perm(eq + 1);
        trim(s[i]);
        if (p < 0 || !s[i][0]) {
            snprintf(err, errn, "%s: '%s=%s': the permission must be DENY, PUB, SUB or PUB|SUB",
                     what, s[i], eq + 1);
            ok = false;
            break;
        }
        (*out)[*nout].name = s[i];
        (*out)[*nout].perm = p;
        s[i] = NULL;
        (*nout)++;
    }
    free_strs(s, ns);
    return ok;
}

static bool load_account(yaml_document_t *d, yaml_node_t *n, size_t idx, account_t *a, char *err,
                         size_t errn) {
    char what[64];
    a->def_topic = a->def_group = RMQ_ACL_DENY; /* RocketMQ: absent = DENY */
    if (n->type != YAML_MAPPING_NODE) {
        snprintf(err, errn, "accounts[%zu]: a mapping expected", idx);
        return false;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(d, yaml_document_get_node(d, p->key));
        yaml_node_t *vn = yaml_document_get_node(d, p->value);
        const char *v = scalar(d, vn);
        if (!k || !vn) continue;
        snprintf(what, sizeof what, "accounts[%zu].%.30s", idx, k);
        char **dst = !strcmp(k, "accessKey")            ? &a->ak
                     : !strcmp(k, "secretKey")          ? &a->sk
                     : !strcmp(k, "whiteRemoteAddress") ? &a->white
                                                        : NULL;
        if (dst) {
            if (!v) {
                snprintf(err, errn, "%s: a string expected", what);
                return false;
            }
            free(*dst);
            if (!(*dst = strdup(v))) return false;
        } else if (!strcmp(k, "admin")) {
            a->admin = yaml_true(v);
        } else if (!strcmp(k, "broker")) {
            a->broker = yaml_true(v);
        } else if (!strcmp(k, "defaultTopicPerm") || !strcmp(k, "defaultGroupPerm")) {
            int pm = v && *v ? parse_perm(v) : RMQ_ACL_DENY;
            if (pm < 0) {
                snprintf(err, errn, "%s: '%s' is not DENY, PUB, SUB or PUB|SUB", what, v ? v : "");
                return false;
            }
            *(k[7] == 'T' ? &a->def_topic : &a->def_group) = pm;
        } else if (!strcmp(k, "topicPerms")) {
            if (!load_perms(d, vn, what, &a->topics, &a->ntopics, err, errn)) return false;
        } else if (!strcmp(k, "groupPerms")) {
            if (!load_perms(d, vn, what, &a->groups, &a->ngroups, err, errn)) return false;
        }
    }
    /* PlainPermissionManager.checkPlainAccessConfig */
    if (!a->ak || strlen(a->ak) <= 6) {
        snprintf(err, errn, "accounts[%zu]: accessKey missing or shorter than 7 characters", idx);
        return false;
    }
    if (!a->sk || strlen(a->sk) <= 6) {
        snprintf(err, errn, "accounts[%zu] (%s): secretKey missing or shorter than 7 characters",
                 idx, a->ak);
        return false;
    }
    if (a->white && rmq_acl_addr_match(a->white, "0.0.0.0") < 0) {
        snprintf(err, errn, "accounts[%zu] (%s): whiteRemoteAddress '%s' is not an address pattern",
                 idx, a->ak, a->white);
        return false;
    }
    return true;
}

rmq_acl_t *rmq_acl_parse(const char *text, size_t len, char *err, size_t errn) {
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errn, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d)) {
        snprintf(err, errn, "YAML error at line %zu: %s", p.problem_mark.line + 1,
                 p.problem ? p.problem : "malformed");
        yaml_parser_delete(&p);
        return NULL;
    }
    rmq_acl_t *a = calloc(1, sizeof *a);
    bool ok = a != NULL;
    if (!ok) snprintf(err, errn, "out of memory");
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (ok && root && root->type != YAML_MAPPING_NODE) {
        snprintf(err, errn,
                 "the top level must be a mapping (globalWhiteRemoteAddresses, accounts)");
        ok = false;
    }
    for (yaml_node_pair_t *pr = ok && root ? root->data.mapping.pairs.start : NULL;
         ok && root && pr < root->data.mapping.pairs.top; pr++) {
        const char *k = scalar(&d, yaml_document_get_node(&d, pr->key));
        yaml_node_t *vn = yaml_document_get_node(&d, pr->value);
        if (!k || !vn) continue;
        if (!strcmp(k, "globalWhiteRemoteAddresses")) {
            free_strs(a->global, a->nglobal);
            ok = load_strs(&d, vn, k, &a->global, &a->nglobal, err, errn);
            for (size_t i = 0; ok && i < a->nglobal; i++)
                if (rmq_acl_addr_match(a->global[i], "0.0.0.0") < 0) {
                    snprintf(err, errn,
                             "globalWhiteRemoteAddresses: '%s' is not an address pattern",
                             a->global[i]);
                    ok = false;
                }
        } else if (!strcmp(k, "accounts")) {
            if (vn->type == YAML_SCALAR_NODE && !vn->data.scalar.length) continue;
            if (vn->type != YAML_SEQUENCE_NODE || a->acc) {
                snprintf(err, errn, "accounts: one list of accounts expected");
                ok = false;
                break;
            }
            size_t cnt = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
            a->acc = calloc(cnt ? cnt : 1, sizeof *a->acc);
            if (!a->acc) {
                snprintf(err, errn, "out of memory");
                ok = false;
                break;
            }
            for (size_t i = 0; ok && i < cnt; i++) {
                yaml_node_t *an = yaml_document_get_node(&d, vn->data.sequence.items.start[i]);
                a->nacc++;
                ok = an && load_account(&d, an, i, &a->acc[i], err, errn);
                for (size_t j = 0; ok && j < i; j++)
                    if (!strcmp(a->acc[j].ak, a->acc[i].ak)) {
                        snprintf(err, errn, "accounts[%zu]: accessKey %s is listed twice", i,
                                 a->acc[i].ak);
                        ok = false;
                    }
            }
        }
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    if (!ok) {
        rmq_acl_free(a);
        return NULL;
    }
    return a;
}

rmq_acl_t *rmq_acl_load(const char *path, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errn, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = cap > (16u << 20) ? NULL : realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errn, "%s: too large or out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    char e[256];
    rmq_acl_t *a = rmq_acl_parse(buf ? buf : "", len, e, sizeof e);
    free(buf);
    if (!a) snprintf(err, errn, "%s: %s", path, e);
    return a;
}

int rmq_acl_tools_file(const char *path, char *ak, size_t akn, char *sk, size_t skn, char *err,
                       size_t errn) {
    ak[0] = sk[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : (snprintf(err, errn, "%s: %s", path, strerror(errno)), -1);
    yaml_parser_t p;
    yaml_document_t d;
    int rc = -1;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &d)) {
        snprintf(err, errn, "%s: YAML error at line %zu: %s", path, p.problem_mark.line + 1,
                 p.problem ? p.problem : "malformed");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        rc = 0;
        if (root && root->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
                 pr < root->data.mapping.pairs.top; pr++) {
                const char *k = scalar(&d, yaml_document_get_node(&d, pr->key));
                const char *v = scalar(&d, yaml_document_get_node(&d, pr->value));
                if (k && v && !strcmp(k, "accessKey")) rmq_strlcpy(ak, v, akn);
                if (k && v && !strcmp(k, "secretKey")) rmq_strlcpy(sk, v, skn);
            }
        }
        if (ak[0] && sk[0]) rc = 1;
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

/* ---- the check ------------------------------------------------------------------------- */

const char *rmq_acl_retry_group(const char *topic) {
    size_t n = strlen("%RETRY%");
    return topic && strncmp(topic, "%RETRY%", n) == 0 ? topic + n : NULL;
}

static const account_t *find_account(const rmq_acl_t *a, const char *ak) {
    for (size_t i = 0; i < a->nacc; i++)
        if (!strcmp(a->acc[i].ak, ak)) return &a->acc[i];
    return NULL;
}

static bool sig_equal(const char *x, const char *y) {
    size_t n = strlen(x);
    if (strlen(y) != n) return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

/* Permission.checkPermission */
static bool perm_ok(int needed, int owned) {
    if (owned & RMQ_ACL_DENY) return false;
    if (needed & RMQ_ACL_ANY) return (owned & (RMQ_ACL_PUB | RMQ_ACL_SUB)) != 0;
    return (needed & owned) != 0;
}

static const char *perm_name(int p) {
    return p == (RMQ_ACL_PUB | RMQ_ACL_SUB) ? "PUB|SUB" : p == RMQ_ACL_PUB ? "PUB" : "SUB";
}

static bool refuse(rmq_acl_verdict_t *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool refuse(rmq_acl_verdict_t *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    v->ok = false;
    return false;
}

void rmq_acl_check(const rmq_acl_t *a, const rmq_rem_cmd_t *req, const char *peer_ip, unsigned need,
                   const rmq_acl_res_t *res, size_t nres, rmq_acl_verdict_t *v) {
    memset(v, 0, sizeof *v);
    const char *ak = rmq_rem_cmd_get(req, RMQ_ACL_ACCESS_KEY);
    v->access_key = ak ? ak : "";
    v->ok = true;
    for (size_t i = 0; i < a->nglobal; i++)
        if (rmq_acl_addr_match(a->global[i], peer_ip) == 1) return;
    if (!ak || !*ak) {
        refuse(v, "no AccessKey: ACL is on, sign requests with an account of plain_acl.yml");
        return;
    }
    const account_t *acc = find_account(a, ak);
    if (!acc) {
        refuse(v, "no acl config for accessKey %s", ak);
        return;
    }
    if (acc->white && rmq_acl_addr_match(acc->white, peer_ip) == 1) return;
    const char *sig = rmq_rem_cmd_get(req, RMQ_ACL_SIGNATURE);
    char want[RMQ_ACL_SIG_LEN];
    bool good = false;
    if (sig && rmq_acl_signature(req, acc->sk, true, want) == RMQ_OK) good = sig_equal(want, sig);
    if (!good && sig && rmq_rem_cmd_get(req, RMQ_ACL_UNIQ_QUERY) &&
        rmq_acl_signature(req, acc->sk, false, want) == RMQ_OK)
        good = sig_equal(want, sig);
    if (!good) {
        refuse(v, "check signature failed for accessKey=%s%s", ak, sig ? "" : " (no Signature)");
        return;
    }
    /* RocketMQ lets any valid account write message traces */
    for (size_t i = 0; i < nres; i++)
        if (!res[i].group && res[i].perm == RMQ_ACL_PUB && res[i].name &&
            !strcmp(res[i].name, "RMQ_SYS_TRACE_TOPIC"))
            return;
    if ((need & RMQ_ACL_NEED_ADMIN) && !acc->admin) {
        refuse(v, "need admin permission for request code=%d, but accessKey=%s is not admin",
               req->code, ak);
        return;
    }
    if ((need & RMQ_ACL_NEED_BROKER) && !acc->admin && !acc->broker) {
        refuse(v,
               "request code=%d needs a broker account (broker: true or admin: true), "
               "accessKey=%s is neither",
               req->code, ak);
        return;
    }
    if (acc->admin && !acc->ntopics && !acc->ngroups) return;
    for (size_t i = 0; i < nres; i++) {
        const char *name = res[i].name ? res[i].name : "";
        const perm_ent_t *tab = res[i].group ? acc->groups : acc->topics;
        size_t nt = res[i].group ? acc->ngroups : acc->ntopics;
        int owned = res[i].group ? acc->def_group : acc->def_topic;
        bool dflt = true;
        for (size_t j = 0; j < nt; j++)
            if (!strcmp(tab[j].name, name)) {
                owned = tab[j].perm;
                dflt = false;
                break;
            }
        if (!perm_ok(res[i].perm, owned)) {
            refuse(v, "accessKey=%s has no %s permission on %s %s%s", ak, perm_name(res[i].perm),
                   res[i].group ? "group" : "topic", name, dflt ? " (by default)" : "");
            return;
        }
    }
}

/* ---- file location --------------------------------------------------------------------- */

void rmq_acl_file_path(const char *home, const char *file, char *out, size_t n) {
    if (!home || !*home) home = getenv("ROCKETMQ_HOME");
    if (!home || !*home) home = ".";
    if (file && *file && file[0] == '/')
        rmq_strlcpy(out, file, n);
    else
        snprintf(out, n, "%s/%s", home, file && *file ? file : "conf/plain_acl.yml");
}

/* ---- watcher --------------------------------------------------------------------------- */

struct rmq_acl_watch_s {
    uv_timer_t timer;
    char *path;
    rmq_acl_t *acl;
    struct timespec mtime; /* of the last file looked at (good or not) */
    off_t size;
    ino_t ino;
    int64_t reloads, loaded_ms; /* rmq_acl_watch_version */
};

static void stamp(rmq_acl_watch_t *w, const struct stat *st) {
    w->mtime = st->st_mtim;
    w->size = st->st_size;
    w->ino = st->st_ino;
}

static void on_poll(uv_timer_t *t) {
    rmq_acl_watch_t *w = t->data;
    struct stat st;
    if (stat(w->path, &st) != 0) return; /* removed: keep the accounts until it is back */
    if (st.st_mtim.tv_sec == w->mtime.tv_sec && st.st_mtim.tv_nsec == w->mtime.tv_nsec &&
        st.st_size == w->size && st.st_ino == w->ino)
        return;
    stamp(w, &st);
    char err[512];
    rmq_acl_t *a = rmq_acl_load(w->path, err, sizeof err);
    if (!a) {
        RMQ_LOG_ERROR("acl", "%s changed but cannot be used, keeping the last good accounts: %s",
                      w->path, err);
        return;
    }
    rmq_acl_free(w->acl);
    w->acl = a;
    w->reloads++;
    w->loaded_ms = rmq_now_ms();
    RMQ_LOG_INFO("acl", "%s reloaded: %zu accounts, %zu global white addresses", w->path, a->nacc,
                 a->nglobal);
}

rmq_err_t rmq_acl_watch_start(uv_loop_t *loop, const char *path, int interval_ms,
                              rmq_acl_watch_t **out, char *err, size_t errn) {
    *out = NULL;
    rmq_acl_watch_t *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        snprintf(err, errn, "out of memory");
        return RMQ_ERR__NOMEM;
    }
    struct stat st;
    if (stat(path, &st) == 0) stamp(w, &st);
    w->acl = rmq_acl_load(path, err, errn);
    if (!w->acl) {
        free(w->path);
        free(w);
        return RMQ_ERR__CONFIG;
    }
    w->loaded_ms = rmq_now_ms();
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_poll, (uint64_t)interval_ms, (uint64_t)interval_ms);
    RMQ_LOG_INFO("acl", "ACL on: %s, %zu accounts, %zu global white addresses", path, w->acl->nacc,
                 w->acl->nglobal);
    *out = w;
    return RMQ_OK;
}

const rmq_acl_t *rmq_acl_watch_get(const rmq_acl_watch_t *w) {
    return w->acl;
}

const char *rmq_acl_watch_path(const rmq_acl_watch_t *w) {
    return w->path;
}

void rmq_acl_watch_version(const rmq_acl_watch_t *w, int64_t *counter, int64_t *ts_ms) {
    *counter = w->reloads;
    *ts_ms = w->loaded_ms;
}

void rmq_acl_watch_poll(rmq_acl_watch_t *w) {
    on_poll(&w->timer);
}

static void on_watch_closed(uv_handle_t *h) {
    rmq_acl_watch_t *w = h->data;
    rmq_acl_free(w->acl);
    free(w->path);
    free(w);
}

void rmq_acl_watch_stop(rmq_acl_watch_t *w) {
    if (!w) return;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_watch_closed);
}
