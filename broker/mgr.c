/* Helpers of the broker managers: string map, writing JSON as fastjson does (reading it is
 * common/fjson.h), header accessors. */
#include "broker/mgr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

/* ---- string map -------------------------------------------------------------------- */

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void rmq_smap_init(rmq_smap_t *m) { memset(m, 0, sizeof *m); }

void *rmq_smap_get(const rmq_smap_t *m, const char *k) {
    if (!m->nb) return NULL;
    for (rmq_smap_ent_t *e = m->b[str_hash(k) & (m->nb - 1)]; e; e = e->next)
        if (strcmp(e->key, k) == 0) return e->val;
    return NULL;
}

static rmq_err_t smap_grow(rmq_smap_t *m) {
    size_t nb = m->nb ? m->nb * 2 : 16;
    rmq_smap_ent_t **b = calloc(nb, sizeof *b);
    if (!b) return RMQ_ERR__NOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        rmq_smap_ent_t *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t j = str_hash(e->key) & (nb - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return RMQ_OK;
}

rmq_err_t rmq_smap_put(rmq_smap_t *m, const char *k, void *v, void **old) {
    if (old) *old = NULL;
    if (m->nb) {
        for (rmq_smap_ent_t *e = m->b[str_hash(k) & (m->nb - 1)]; e; e = e->next)
            if (strcmp(e->key, k) == 0) {
                if (old) *old = e->val;
                e->val = v;
                return RMQ_OK;
            }
    }
    if (m->n >= m->nb && smap_grow(m) != RMQ_OK) return RMQ_ERR__NOMEM;
    rmq_smap_ent_t *e = malloc(sizeof *e);
    if (!e) return RMQ_ERR__NOMEM;
    e->key = strdup(k);
    if (!e->key) {
        free(e);
        return RMQ_ERR__NOMEM;
    }
    e->val = v;
    size_t j = str_hash(k) & (m->nb - 1);
    e->next = m->b[j];
    m->b[j] = e;
    m->n++;
    return RMQ_OK;
}

void *rmq_smap_del(rmq_smap_t *m, const char *k) {
    if (!m->nb) return NULL;
    rmq_smap_ent_t **pp = &m->b[str_hash(k) & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->key, k) == 0) {
            rmq_smap_ent_t *e = *pp;
            void *v = e->val;
            *pp = e->next;
            free(e->key);
            free(e);
            m->n--;
            return v;
        }
    return NULL;
}

void rmq_smap_each(rmq_smap_t *m, bool (*fn)(const char *k, void *v, void *arg), void *arg) {
    for (size_t i = 0; i < m->nb; i++) {
        rmq_smap_ent_t **pp = &m->b[i];
        while (*pp) {
            rmq_smap_ent_t *e = *pp;
            if (fn(e->key, e->val, arg)) {
                *pp = e->next;
                free(e->key);
                free(e);
                m->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

void rmq_smap_fini(rmq_smap_t *m, void (*free_val)(void *v)) {
    for (size_t i = 0; i < m->nb; i++) {
        rmq_smap_ent_t *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (free_val) free_val(e->val);
            free(e->key);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- headers ----------------------------------------------------------------------- */

static rmq_rem_cmd_t *missing(const rmq_rem_cmd_t *req, const char *k) {
    /* Java: RemotingCommandException "the custom field <k> is null" -> SYSTEM_ERROR */
    return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is null", k);
}

static rmq_rem_cmd_t *malformed(const rmq_rem_cmd_t *req, const char *k) {
    return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is not valid: %s", k,
                          rmq_rem_cmd_get(req, k));
}

rmq_rem_cmd_t *rmq_bm_need_str(const rmq_rem_cmd_t *req, const char *k, const char **out) {
    const char *v = rmq_rem_cmd_get(req, k);
    if (!v) return missing(req, k);
    *out = v;
    return NULL;
}

rmq_rem_cmd_t *rmq_bm_need_i32(const rmq_rem_cmd_t *req, const char *k, int32_t *out) {
    rmq_err_t e = rmq_rem_cmd_get_i32(req, k, out);
    if (e == RMQ_ERR__NOT_FOUND) return missing(req, k);
    if (e != RMQ_OK) return malformed(req, k);
    return NULL;
}

rmq_rem_cmd_t *rmq_bm_need_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out) {
    rmq_err_t e = rmq_rem_cmd_get_i64(req, k, out);
    if (e == RMQ_ERR__NOT_FOUND) return missing(req, k);
    if (e != RMQ_OK) return malformed(req, k);
    return NULL;
}

rmq_rem_cmd_t *rmq_bm_opt_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out) {
    int64_t v;
    rmq_err_t e = rmq_rem_cmd_get_i64(req, k, &v);
    if (e == RMQ_ERR__NOT_FOUND) return NULL;
    if (e != RMQ_OK) return malformed(req, k);
    *out = v;
    return NULL;
}

rmq_rem_cmd_t *rmq_bm_opt_bool(const rmq_rem_cmd_t *req, const char *k, bool *out) {
    bool v;
    rmq_err_t e = rmq_rem_cmd_get_bool(req, k, &v);
    if (e == RMQ_ERR__NOT_FOUND) return NULL;
    if (e != RMQ_OK) return malformed(req, k);
    *out = v;
    return NULL;
}

void rmq_bm_load_config(const char *mod, const char *path, const char *fallback,
                        rmq_err_t (*decode)(const char *text, size_t len, void *arg), void *arg) {
    char *text = NULL;
    size_t len = 0;
    rmq_err_t e = rmq_store_cfgfile_read(path, &text, &len);
    if (e == RMQ_OK) {
        if (decode(text, len, arg) != RMQ_OK)
            RMQ_LOG_WARN(mod, "%s unreadable; %s", path, fallback);
        free(text);
    } else if (e != RMQ_ERR__NOT_FOUND) {
        RMQ_LOG_WARN(mod, "cannot read %s: %s; %s", path, rmq_strerror(e), fallback);
    }
}

rmq_rem_cmd_t *rmq_bm_ok_body(const rmq_rem_cmd_t *req, rmq_buf_t *body) {
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (!resp) {
        rmq_buf_fini(body);
        return NULL;
    }
    size_t n;
    uint8_t *p = rmq_buf_detach(body, &n);
    if (p) rmq_rem_cmd_set_body(resp, p, n);
    return resp;
}

/* ---- enums ------------------------------------------------------------------------- */

const char *const rmq_bm_consume_type_names[] = {"CONSUME_ACTIVELY", "CONSUME_PASSIVELY", NULL};
const char *const rmq_bm_message_model_names[] = {"BROADCASTING", "CLUSTERING", NULL};
const char *const rmq_bm_consume_from_names[] = {
    "CONSUME_FROM_LAST_OFFSET",  "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",   "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP",
    NULL};
