/* Admin API (rmq.h "admin"): raw requests to the NameServers and brokers for mqadmin, message
 * look-ups by key / id / unique key, and reset of a group's offsets by time.
 *
 * An admin is a member of the shared client instance (client/instance.c), as RocketMQ's admin
 * ext registers on its MQClientInstance: one NameServer list and fail-over, one connection pool
 * and loop with the process's producers and consumers. It only asks and prints: it adds no
 * group to heartbeats and sends no UNREGISTER_CLIENT. */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin_internal.h"
#include "client/instance.h"
#include "client/internal.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/cmd.h"

#define ADMIN_TIMEOUT_MS 5000
#define MOD "admin"

struct rmq_admin_s {
    rmq_instance_t *in;
    rmq_member_t member; /* registered on in (admin kind) */
    rmq_conf_t *conf;    /* owned */
    pthread_mutex_t err_mu;
    char err[512]; /* last failure text; writer: the last call on this admin */
};

static void set_err(rmq_admin_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(rmq_admin_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&a->err_mu);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    pthread_mutex_unlock(&a->err_mu);
    va_end(ap);
}

const char *rmq_admin_last_error(rmq_admin_t *a) {
    return a ? a->err : "";
}

/* ---- fastjson -> JSON ------------------------------------------------------------------ */

char *rmq_json_fix(const char *in, size_t len) {
    return rmq_fjson_normalize(in, len);
}

/* ---- construction ---------------------------------------------------------------------- */

rmq_admin_t *rmq_admin_new(rmq_conf_t *c, char *err, size_t n) {
    const char *ns = c ? rmq_conf_get(c, "namesrvAddr") : NULL;
    if (!ns || !*ns) {
        if (err && n) snprintf(err, n, "namesrvAddr is not set");
        return NULL;
    }
    rmq_admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        if (err && n) snprintf(err, n, "out of memory");
        return NULL;
    }
    /* mqadmin's -n also takes ',' or ' ' between NameServers; the instance splits on ';'. The
     * instance copies what it needs, so a normalised copy of c serves and c stays as given. */
    rmq_conf_t *ic = c;
    if (strpbrk(ns, ", ")) {
        char *list = strdup(ns);
        ic = rmq_conf_dup(c);
        if (list && ic) {
            for (char *p = list; *p; p++)
                if (*p == ',' || *p == ' ') *p = ';';
            rmq_conf_set(ic, "namesrvAddr", list, NULL, 0);
        }
        free(list);
        if (!ic) ic = c;
    }
    a->member.admin = true;
    a->member.owner = a;
    pthread_mutex_init(&a->err_mu, NULL);
    a->in = rmq_instance_get(ic, &a->member, err, n);
    if (ic != c) rmq_conf_destroy(ic);
    if (!a->in) {
        pthread_mutex_destroy(&a->err_mu);
        free(a);
        return NULL;
    }
    a->conf = c;
    return a;
}

void rmq_admin_destroy(rmq_admin_t *a) {
    if (!a) return;
    rmq_instance_release(a->in, &a->member);
    pthread_mutex_destroy(&a->err_mu);
    rmq_conf_destroy(a->conf);
    free(a);
}

/* ---- raw requests ------------------------------------------------------------------------ */

void rmq_admin_resp_destroy(rmq_admin_resp_t *r) {
    if (!r) return;
    free(r->remark);
    for (char **p = r->ext; p && *p; p++) free(*p);
    free(r->ext);
    free(r->body);
    free(r);
}

const char *rmq_admin_resp_get(const rmq_admin_resp_t *r, const char *key) {
    for (char **p = r->ext; p && p[0] && p[1]; p += 2)
        if (strcmp(p[0], key) == 0) return p[1];
    return NULL;
}

static rmq_admin_resp_t *resp_from_cmd(rmq_rem_cmd_t *c) {
    rmq_admin_resp_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->code = c->code;
    r->remark = c->remark ? strdup(c->remark) : NULL;
    r->ext = calloc(2 * c->next + 1, sizeof(char *));
    if (!r->ext) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < c->next; i++) {
        r->ext[2 * i] = strdup(c->ext[i].key);
        r->ext[2 * i + 1] = strdup(c->ext[i].val);
    }
    if (c->body && c->body_len) { /* take the body */
        r->body = c->body;
        r->body_len = c->body_len;
        c->body = NULL;
        c->body_len = 0;
    }
    return r;
}

static rmq_rem_cmd_t *build_req(int code, const char *const *ext_kv, const void *body,
                                size_t body_len) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    if (!req) return NULL;
    req->has_ext = true;
    for (const char *const *p = ext_kv; p && p[0] && p[1]; p += 2)
        if (rmq_rem_cmd_set(req, p[0], p[1]) != RMQ_OK) {
            rmq_rem_cmd_destroy(req);
            return NULL;
        }
    if (body && body_len && rmq_rem_cmd_set_body_copy(req, body, body_len) != RMQ_OK) {
        rmq_rem_cmd_destroy(req);
        return NULL;
    }
    return req;
}

rmq_err_t rmq_admin_invoke(rmq_admin_t *a, const char *broker_addr, int code,
                           const char *const *ext_kv, const void *body, size_t body_len,
                           int timeout_ms, rmq_admin_resp_t **out) {
    if (!a || !out) return RMQ_ERR__INVALID_ARG;
    *out = NULL;
    if (timeout_ms <= 0) timeout_ms = ADMIN_TIMEOUT_MS;
    rmq_rem_cmd_t *req = build_req(code, ext_kv, body, body_len);
    if (!req) return RMQ_ERR__NOMEM;
    rmq_rem_cmd_t *resp = NULL;
    char addr[256] = "";
    rmq_err_t e;
    if (broker_addr) {
        rmq_strlcpy(addr, broker_addr, sizeof addr);
        e = rmq_instance_invoke_sync(a->in, broker_addr, req, timeout_ms, &resp);
    } else {
        e = rmq_instance_invoke_namesrv_ex(a->in, req, timeout_ms, &resp, addr, sizeof addr);
    }
    if (e == RMQ_OK) {
        *out = resp_from_cmd(resp);
        rmq_rem_cmd_destroy(resp);
        if (!*out) return RMQ_ERR__NOMEM;
        if ((*out)->code != RMQ_OK)
            set_err(a, "%s%s%s", rmq_strerror((rmq_err_t)(*out)->code), (*out)->remark ? ": " : "",
                    (*out)->remark ? (*out)->remark : "");
        return RMQ_OK;
    }
    set_err(a, "%s %s: %s", broker_addr ? "broker" : "NameServer", addr, rmq_strerror(e));
    RMQ_ILOG_DEBUG(rmq_instance_log(a->in), MOD, "request %d to %s failed: %s", code, addr,
                   rmq_strerror(e));
    return e;
}

/* Body as valid JSON text, or the ext fields as an object when there is no body. */
static char *resp_json(const rmq_admin_resp_t *r) {
    if (r->body && r->body_len) return rmq_json_fix((const char *)r->body, r->body_len);
    json_t *o = json_object();
    for (char **p = r->ext; p && p[0] && p[1]; p += 2)
        json_object_set_new(o, p[0], json_string(p[1]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static rmq_err_t call_json(rmq_admin_t *a, const char *addr, int code, const char *const *ext_kv,
                           const char *body, char **json_out) {
    if (json_out) *json_out = NULL;
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(a, addr, code, ext_kv, body, body ? strlen(body) : 0, 0, &r);
    if (e != RMQ_OK) return e;
    e = (rmq_err_t)r->code;
    if (e == RMQ_OK && json_out) {
        *json_out = resp_json(r);
        if (!*json_out) {
            set_err(a, "malformed JSON body in the answer to request %d", code);
            e = RMQ_ERR__BAD_FRAME;
        }
    }
    rmq_admin_resp_destroy(r);
    return e;
}

rmq_err_t rmq_admin_call_namesrv(rmq_admin_t *a, int code, const char *const *ext_kv,
                                 const char *body, char **json_out) {
    return call_json(a, NULL, code, ext_kv, body, json_out);
}

rmq_err_t rmq_admin_call_broker(rmq_admin_t *a, const char *broker_addr, int code,
                                const char *const *ext_kv, const char *body, char **json_out) {
    if (!broker_addr) return RMQ_ERR__INVALID_ARG;
    return call_json(a, broker_addr, code, ext_kv, body, json_out);
}

/* ---- routes ------------------------------------------------------------------------------- */

static json_t *load_json(const char *s) {
    json_error_t je;
    return s ? json_loads(s, JSON_DECODE_ANY, &je) : NULL;
}

static void free_strv(char **v) {
    for (char **p = v; p && *p; p++) free(*p);
    free(v);
}

rmq_err_t rmq_admin_topic_brokers(rmq_admin_t *a, const char *topic, char ***addrs, char ***names) {
    *addrs = NULL;
    if (names) *names = NULL;
    const char *kv[] = {"topic", topic, NULL};
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_namesrv(a, RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, kv, NULL, &js);
    if (e != RMQ_OK) return e;
    json_t *root = load_json(js);
    free(js);
    json_t *bds = json_object_get(root, "brokerDatas");
    size_t nb = json_array_size(bds);
    char **av = calloc(nb + 1, sizeof(char *));
    char **nv = calloc(nb + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; av && nv && i < nb; i++) {
        json_t *bd = json_array_get(bds, i);
        json_t *ad = json_object_get(bd, "brokerAddrs");
        json_t *m = json_object_get(ad, "0");
        if (!json_is_string(m)) { /* no master: any address will do for reads */
            const char *key;
            json_t *v;
            json_object_foreach(ad, key, v) {
                m = v;
                break;
            }
        }
        if (!json_is_string(m)) continue;
        av[k] = strdup(json_string_value(m));
        const char *bn = json_string_value(json_object_get(bd, "brokerName"));
        nv[k] = strdup(bn ? bn : "");
        k++;
    }
    json_decref(root);
    if (!av || !nv) {
        free_strv(av);
        free_strv(nv);
        return RMQ_ERR__NOMEM;
    }
    if (k == 0) {
        free_strv(av);
        free_strv(nv);
        set_err(a, "no broker in the route of topic %s", topic);
        return RMQ_ERR__NO_ROUTE;
    }
    *addrs = av;
    if (names)
        *names = nv;
    else
        free_strv(nv);
    return RMQ_OK;
}

/* ---- message queries ------------------------------------------------------------------ */

typedef struct {
    rmq_msg_t **v;
    size_t n, cap;
} msgvec_t;

static rmq_err_t msgvec_push(msgvec_t *mv, rmq_msg_t *m) {
    if (mv->n == mv->cap) {
        size_t nc = mv->cap ? mv->cap * 2 : 16;
        rmq_msg_t **nv = realloc(mv->v, nc * sizeof *nv);
        if (!nv) return RMQ_ERR__NOMEM;
        mv->v = nv;
        mv->cap = nc;
    }
    mv->v[mv->n++] = m;
    return RMQ_OK;
}

/* True when key is one of the space-separated words of keys. */
static bool key_in(const char *keys, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = keys; p && *p;) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && memcmp(p, key, kl) == 0) return true;
        p = e ? e : p + l;
    }
    return false;
}

/* QUERY_MESSAGE to every broker of topic; keeps messages of topic matching key (by KEYS or by
 * UNIQ_KEY when uniq). */
static rmq_err_t query_all(rmq_admin_t *a, const char *topic, const char *key, bool uniq,
                           int max_msgs, int64_t begin_ms, int64_t end_ms, rmq_msg_t ***msgs,
                           size_t *n) {
    *msgs = NULL;
    *n = 0;
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(a, topic, &addrs, NULL);
    if (e != RMQ_OK) return e;
    char maxs[24], bs[24], es[24];
    snprintf(maxs, sizeof maxs, "%d", max_msgs > 0 ? max_msgs : 64);
    snprintf(bs, sizeof bs, "%lld", (long long)begin_ms);
    snprintf(es, sizeof es, "%lld", (long long)(end_ms > 0 ? end_ms : INT64_MAX));
    /* clang-format off */
    const char *kv[] = {"topic", topic, "key", key, "maxNum", maxs, "beginTimestamp", bs,
                        "endTimestamp", es, "_UNIQUE_KEY_QUERY", uniq ? "true" : "false", NULL};
    /* clang-format on */
    msgvec_t mv = {0};
    rmq_err_t last = RMQ_ERR_QUERY_NOT_FOUND;
    for (char **p = addrs; *p; p++) {
        rmq_admin_resp_t *r = NULL;
        e = rmq_admin_invoke(a, *p, RMQ_REQ_QUERY_MESSAGE, kv, NULL, 0, 0, &r);
        if (e != RMQ_OK) {
            last = e;
            continue;
        }
        if (r->code != RMQ_OK) {
            if (r->code != RMQ_ERR_QUERY_NOT_FOUND) last = (rmq_err_t)r->code;
            rmq_admin_resp_destroy(r);
            continue;
        }
        rmq_msg_t **got = NULL;
        size_t ng = 0;
        if (r->body && rmq_msgs_decode(r->body, r->body_len, &got, &ng) == RMQ_OK) {
            for (size_t i = 0; i < ng; i++) {
                rmq_msg_t *m = got[i];
                const char *t = rmq_msg_topic(m);
                const char *mk = uniq ? rmq_msg_id(m) : rmq_msg_keys(m);
                bool ok = t && strcmp(t, topic) == 0 &&
                          (uniq ? (mk && strcmp(mk, key) == 0) : key_in(mk, key));
                if (ok && msgvec_push(&mv, m) == RMQ_OK) got[i] = NULL;
            }
            for (size_t i = 0; i < ng; i++)
                if (got[i]) rmq_msg_destroy(got[i]);
            free(got);
        }
        rmq_admin_resp_destroy(r);
    }
    free_strv(addrs);
    if (mv.n == 0) {
        free(mv.v);
        if (last == RMQ_ERR_QUERY_NOT_FOUND)
            set_err(a, "no message found with %s %s in topic %s", uniq ? "unique key" : "key", key,
                    topic);
        return last;
    }
    *msgs = mv.v;
    *n = mv.n;
    return RMQ_OK;
}

rmq_err_t rmq_query_by_key(rmq_admin_t *a, const char *topic, const char *key, int max_msgs,
                           int64_t begin_ms, int64_t end_ms, rmq_msg_t ***msgs, size_t *n) {
    if (!a || !topic || !key || !msgs || !n) return RMQ_ERR__INVALID_ARG;
    return query_all(a, topic, key, false, max_msgs, begin_ms, end_ms, msgs, n);
}

rmq_err_t rmq_query_by_unique_key(rmq_admin_t *a, const char *topic, const char *uniq_key,
                                  rmq_msg_t ***msgs, size_t *n) {
    if (!a || !topic || !uniq_key || !msgs || !n) return RMQ_ERR__INVALID_ARG;
    return query_all(a, topic, uniq_key, true, 32, 0, INT64_MAX, msgs, n);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool hex_decode(const char *s, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* VIEW_MESSAGE_BY_ID to the store host encoded in an offset id. */
static rmq_err_t view_by_offset_id(rmq_admin_t *a, const char *id, rmq_msg_t **msg) {
    /* hex of store ip (4 or 16 bytes) | port (int32) | commit-log offset (int64) */
    uint8_t raw[28];
    size_t len = strlen(id), nb = len / 2;
    if ((len != 32 && len != 56) || !hex_decode(id, raw, nb)) {
        set_err(a, "%s is not an offset message id", id);
        return RMQ_ERR__INVALID_ARG;
    }
    size_t iplen = nb - 12;
    uint32_t uport = rmq_get_be32(raw + iplen);
    /* a client UNIQ_KEY has the IPv4 id's length; its pid and hash bytes stand where the port
     * is, so a "port" outside 1..65535 means it is not an offset id */
    if (uport == 0 || uport > 65535) {
        set_err(a, "%s is not an offset message id", id);
        return RMQ_ERR__INVALID_ARG;
    }
    int port = (int)uport;
    int64_t off = (int64_t)rmq_get_be64(raw + iplen + 4);
    char addr[80], offs[24];
    if (iplen == 4)
        snprintf(addr, sizeof addr, "%u.%u.%u.%u:%d", raw[0], raw[1], raw[2], raw[3], port);
    else {
        int w = 0;
        for (size_t i = 0; i < 16; i += 2)
            w += snprintf(addr + w, sizeof addr - (size_t)w, "%s%x", i ? ":" : "",
                          (unsigned)((raw[i] << 8) | raw[i + 1]));
        snprintf(addr + w, sizeof addr - (size_t)w, ":%d", port);
    }
    snprintf(offs, sizeof offs, "%lld", (long long)off);
    const char *kv[] = {"offset", offs, NULL};
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e = rmq_admin_invoke(a, addr, RMQ_REQ_VIEW_MESSAGE_BY_ID, kv, NULL, 0, 0, &r);
    if (e != RMQ_OK) return e;
    e = (rmq_err_t)r->code;
    if (e == RMQ_OK) {
        rmq_msg_t **got = NULL;
        size_t ng = 0;
        if (!r->body || rmq_msgs_decode(r->body, r->body_len, &got, &ng) != RMQ_OK || ng == 0) {
            set_err(a, "malformed message in the answer of %s", addr);
            e = RMQ_ERR__BAD_FRAME;
        } else {
            *msg = got[0];
            for (size_t i = 1; i < ng; i++) rmq_msg_destroy(got[i]);
            free(got);
        }
    }
    rmq_admin_resp_destroy(r);
    return e;
}

rmq_err_t rmq_query_by_id(rmq_admin_t *a, const char *topic, const char *id, rmq_msg_t **msg) {
    if (!a || !id || !msg) return RMQ_ERR__INVALID_ARG;
    *msg = NULL;
    /* A unique key is 32 hex digits like an IPv4 offset id, so with a topic the (cheap, routed)
     * unique-key look-up goes first rather than connecting to whatever host the id decodes to. */
    if (topic) {
        rmq_msg_t **v = NULL;
        size_t n = 0;
        rmq_err_t e = rmq_query_by_unique_key(a, topic, id, &v, &n);
        if (e == RMQ_OK) {
            *msg = v[0];
            for (size_t i = 1; i < n; i++) rmq_msg_destroy(v[i]);
            free(v);
            return RMQ_OK;
        }
    }
    rmq_err_t e = view_by_offset_id(a, id, msg);
    if (e == RMQ_OK || topic) return e;
    /* a unique key without its topic: the index is per topic, so ask each topic the NameServer
     * knows until one has it */
    char *js = NULL;
    if (rmq_admin_call_namesrv(a, RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL, NULL, &js) !=
        RMQ_OK)
        return e;
    json_t *root = load_json(js);
    free(js);
    size_t i;
    json_t *t;
    rmq_err_t qe = RMQ_ERR_QUERY_NOT_FOUND;
    json_array_foreach(json_object_get(root, "topicList"), i, t) {
        const char *name = json_string_value(t);
        rmq_msg_t **v = NULL;
        size_t n = 0;
        if (!name || rmq_query_by_unique_key(a, name, id, &v, &n) != RMQ_OK || n == 0) continue;
        *msg = v[0];
        for (size_t k = 1; k < n; k++) rmq_msg_destroy(v[k]);
        free(v);
        qe = RMQ_OK;
        break;
    }
    json_decref(root);
    if (qe == RMQ_OK) {
        set_err(a, "%s", "");
        return RMQ_OK;
    }
    set_err(a,
            "no message with id %s: not an offset id of a reachable broker, nor a unique key of "
            "any topic",
            id);
    return RMQ_ERR_QUERY_NOT_FOUND;
}

/* ---- reset offsets ------------------------------------------------------------------------ */

typedef struct {
    rmq_mq_offset_t *v;
    size_t n, cap;
} offvec_t;

static rmq_err_t offvec_push(offvec_t *ov, const rmq_mq_t *mq, int64_t off) {
    if (ov->n == ov->cap) {
        size_t nc = ov->cap ? ov->cap * 2 : 16;
        rmq_mq_offset_t *nv = realloc(ov->v, nc * sizeof *nv);
        if (!nv) return RMQ_ERR__NOMEM;
        ov->v = nv;
        ov->cap = nc;
    }
    ov->v[ov->n].mq = *mq;
    ov->v[ov->n].offset = off;
    ov->n++;
    return RMQ_OK;
}

static bool mq_from_key(const char *key, rmq_mq_t *mq) {
    json_t *o = load_json(key);
    const char *t = json_string_value(json_object_get(o, "topic"));
    const char *b = json_string_value(json_object_get(o, "brokerName"));
    json_t *q = json_object_get(o, "queueId");
    bool ok = t && b && json_is_integer(q);
    if (ok) {
        memset(mq, 0, sizeof *mq);
        rmq_strlcpy(mq->topic, t, sizeof mq->topic);
        rmq_strlcpy(mq->broker, b, sizeof mq->broker);
        mq->queue_id = (int)json_integer_value(q);
    }
    json_decref(o);
    return ok;
}

/* Header value of a response as i64, or dflt. */
static int64_t resp_i64(const rmq_admin_resp_t *r, const char *k, int64_t dflt) {
    const char *v = rmq_admin_resp_get(r, k);
    int64_t x;
    return v && rmq_parse_i64(v, &x) == 0 ? x : dflt;
}

/* The tool's fallback when no consumer is online: compute and write the offsets itself. */
static rmq_err_t reset_old(rmq_admin_t *a, const char *addr, const char *group, const char *topic,
                           int64_t ts_ms, int force, offvec_t *ov) {
    const char *kv[] = {"consumerGroup", group, "topic", topic, NULL};
    char *js = NULL;
    rmq_err_t e = rmq_admin_call_broker(a, addr, RMQ_REQ_GET_CONSUME_STATS, kv, NULL, &js);
    if (e != RMQ_OK) return e;
    json_t *root = load_json(js);
    free(js);
    json_t *tab = json_object_get(root, "offsetTable");
    const char *key;
    json_t *val;
    json_object_foreach(tab, key, val) {
        rmq_mq_t mq;
        if (!mq_from_key(key, &mq) || strcmp(mq.topic, topic) != 0) continue;
        int64_t cur = json_integer_value(json_object_get(val, "consumerOffset"));
        char qid[16], tss[24];
        snprintf(qid, sizeof qid, "%d", mq.queue_id);
        snprintf(tss, sizeof tss, "%lld", (long long)ts_ms);
        const char *qkv[] = {"topic", topic, "queueId", qid, "timestamp", tss, NULL};
        rmq_admin_resp_t *r = NULL;
        e = rmq_admin_invoke(
            a, addr, ts_ms < 0 ? RMQ_REQ_GET_MAX_OFFSET : RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP, qkv,
            NULL, 0, 0, &r);
        if (e == RMQ_OK && r->code != RMQ_OK) e = (rmq_err_t)r->code;
        int64_t target = e == RMQ_OK ? resp_i64(r, "offset", -1) : -1;
        rmq_admin_resp_destroy(r);
        if (e != RMQ_OK) break;
        if (target < 0) target = 0;
        int64_t next = (force || target < cur) ? target : cur;
        char offs[24];
        snprintf(offs, sizeof offs, "%lld", (long long)next);
        const char *ukv[] = {"consumerGroup", group, "topic", topic, "queueId", qid,
                             "commitOffset",  offs,  NULL};
        e = rmq_admin_invoke(a, addr, RMQ_REQ_UPDATE_CONSUMER_OFFSET, ukv, NULL, 0, 0, &r);
        if (e == RMQ_OK && r->code != RMQ_OK) e = (rmq_err_t)r->code;
        rmq_admin_resp_destroy(r);
        if (e != RMQ_OK) break;
        if ((e = offvec_push(ov, &mq, next)) != RMQ_OK) break;
    }
    json_decref(root);
    return e;
}

rmq_err_t rmq_admin_reset_offset(rmq_admin_t *a, const char *group, const char *topic,
                                 int64_t ts_ms, int force, rmq_mq_offset_t **out, size_t *n) {
    if (out) *out = NULL;
    if (n) *n = 0;
    if (!a || !group || !topic) return RMQ_ERR__INVALID_ARG;
    char **addrs = NULL;
    rmq_err_t e = rmq_admin_topic_brokers(a, topic, &addrs, NULL);
    if (e != RMQ_OK) return e;
    char tss[24];
    snprintf(tss, sizeof tss, "%lld", (long long)ts_ms);
    const char *kv[] = {"topic",     topic, "group",   group,
                        "timestamp", tss,   "isForce", force ? "true" : "false",
                        "queueId",   "-1",  NULL};
    offvec_t ov = {0};
    for (char **p = addrs; *p && e == RMQ_OK; p++) {
        char *js = NULL;
        e = rmq_admin_call_broker(a, *p, RMQ_REQ_INVOKE_BROKER_TO_RESET_OFFSET, kv, NULL, &js);
        /* nobody online (or, from a RocketMQ 4.x broker, a group without offsets): the tool
         * computes and writes the offsets itself, as ResetOffsetByTimeOldCommand */
        if (e == RMQ_ERR_CONSUMER_NOT_ONLINE ||
            (e == RMQ_ERR_SYSTEM_ERROR && strstr(a->err, "consumer group"))) {
            e = reset_old(a, *p, group, topic, ts_ms, force, &ov);
            continue;
        }
        if (e != RMQ_OK) break;
        json_t *root = load_json(js);
        free(js);
        json_t *tab = json_object_get(root, "offsetTable");
        const char *key;
        json_t *val;
        if (json_is_object(tab)) {
            json_object_foreach(tab, key, val) {
                rmq_mq_t mq;
                if (mq_from_key(key, &mq)) offvec_push(&ov, &mq, json_integer_value(val));
            }
        } else if (json_is_array(tab)) { /* ResetOffsetBodyForC */
            size_t i;
            json_array_foreach(tab, i, val) {
                rmq_mq_t mq = {0};
                const char *t = json_string_value(json_object_get(val, "topic"));
                const char *b = json_string_value(json_object_get(val, "brokerName"));
                rmq_strlcpy(mq.topic, t ? t : topic, sizeof mq.topic);
                rmq_strlcpy(mq.broker, b ? b : "", sizeof mq.broker);
                mq.queue_id = (int)json_integer_value(json_object_get(val, "queueId"));
                offvec_push(&ov, &mq, json_integer_value(json_object_get(val, "offset")));
            }
        }
        json_decref(root);
    }
    free_strv(addrs);
    if (e != RMQ_OK) {
        free(ov.v);
        return e;
    }
    if (ov.n) qsort(ov.v, ov.n, sizeof *ov.v, rmq_mq_cmp); /* mq is the first member */
    set_err(a, "%s", ""); /* the fallback worked: no stale CONSUMER_NOT_ONLINE text */
    if (out)
        *out = ov.v;
    else
        free(ov.v);
    if (n) *n = ov.n;
    return RMQ_OK;
}

rmq_err_t rmq_reset_offset_by_time(rmq_admin_t *a, const char *group, const char *topic,
                                   int64_t ts_ms) {
    return rmq_admin_reset_offset(a, group, topic, ts_ms, 1, NULL, NULL);
}
