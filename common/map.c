/* The string map; see map.h. Grows at a load of 3/4 so chains stay short. */
#include "common/map.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void rmq_map_init(rmq_map_t *m) {
    memset(m, 0, sizeof *m);
}

void rmq_map_clear(rmq_map_t *m, void (*free_val)(void *val)) {
    for (size_t i = 0; i < m->nbuckets; i++) {
        rmq_map_ent_t *e = m->buckets[i];
        while (e) {
            rmq_map_ent_t *next = e->next;
            if (free_val && e->v.ptr) free_val(e->v.ptr);
            free(e);
            e = next;
        }
        m->buckets[i] = NULL;
    }
    m->count = 0;
}

void rmq_map_fini(rmq_map_t *m, void (*free_val)(void *val)) {
    rmq_map_clear(m, free_val);
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

/* The link that points at key's entry, or at the NULL ending its chain; NULL when no buckets. */
static rmq_map_ent_t **link_of(const rmq_map_t *m, const char *key, size_t klen, uint64_t h) {
    if (!m->nbuckets) return NULL;
    rmq_map_ent_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && !memcmp((*pp)->key, key, klen)) break;
    return pp;
}

rmq_map_ent_t *rmq_map_find(const rmq_map_t *m, const char *key, size_t klen) {
    rmq_map_ent_t **pp = link_of(m, key, klen, rmq_hash(key, klen));
    return pp ? *pp : NULL;
}

static int grow(rmq_map_t *m) {
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
    rmq_map_ent_t **b = calloc(nb, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        rmq_map_ent_t *e = m->buckets[i];
        while (e) {
            rmq_map_ent_t *next = e->next;
            size_t j = e->hash & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

rmq_map_ent_t *rmq_map_upsert(rmq_map_t *m, const char *key, size_t klen, bool *created) {
    uint64_t h = rmq_hash(key, klen);
    rmq_map_ent_t **pp = link_of(m, key, klen, h);
    if (created) *created = false;
    if (pp && *pp) return *pp;
    /* A failed grow keeps the old buckets: still correct, only longer chains. */
    if (m->count + 1 > m->nbuckets * 3 / 4 && grow(m) != 0 && m->nbuckets == 0) return NULL;
    rmq_map_ent_t *e = malloc(sizeof *e + klen + 1);
    if (!e) return NULL;
    e->hash = h;
    e->v.i64 = 0;
    e->v.ptr = NULL;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t j = h & (m->nbuckets - 1);
    e->next = m->buckets[j];
    m->buckets[j] = e;
    m->count++;
    if (created) *created = true;
    return e;
}

void rmq_map_remove(rmq_map_t *m, rmq_map_ent_t *e) {
    rmq_map_ent_t **pp = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    m->count--;
    free(e);
}

void *rmq_map_get(const rmq_map_t *m, const char *key) {
    rmq_map_ent_t *e = rmq_map_find(m, key, strlen(key));
    return e ? e->v.ptr : NULL;
}

rmq_err_t rmq_map_put(rmq_map_t *m, const char *key, void *val, void **old) {
    bool created;
    rmq_map_ent_t *e = rmq_map_upsert(m, key, strlen(key), &created);
    if (old) *old = NULL;
    if (!e) return RMQ_ERR__NOMEM;
    if (old && !created) *old = e->v.ptr;
    e->v.ptr = val;
    return RMQ_OK;
}

void *rmq_map_del(rmq_map_t *m, const char *key) {
    rmq_map_ent_t *e = rmq_map_find(m, key, strlen(key));
    if (!e) return NULL;
    void *v = e->v.ptr;
    rmq_map_remove(m, e);
    return v;
}

void rmq_map_each(rmq_map_t *m, bool (*fn)(rmq_map_ent_t *e, void *arg), void *arg) {
    for (size_t i = 0; i < m->nbuckets; i++) {
        rmq_map_ent_t **pp = &m->buckets[i];
        while (*pp) {
            rmq_map_ent_t *e = *pp;
            if (fn(e, arg)) {
                *pp = e->next;
                m->count--;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

rmq_map_ent_t *rmq_map_first(const rmq_map_t *m, size_t *bi) {
    for (size_t i = 0; i < m->nbuckets; i++)
        if (m->buckets[i]) {
            *bi = i;
            return m->buckets[i];
        }
    return NULL;
}

rmq_map_ent_t *rmq_map_next(const rmq_map_t *m, size_t *bi, const rmq_map_ent_t *e) {
    if (e->next) return e->next;
    for (size_t i = *bi + 1; i < m->nbuckets; i++)
        if (m->buckets[i]) {
            *bi = i;
            return m->buckets[i];
        }
    return NULL;
}

static int cmp_ent(const void *a, const void *b) {
    const rmq_map_ent_t *x = *(rmq_map_ent_t *const *)a, *y = *(rmq_map_ent_t *const *)b;
    size_t n = RMQ_MIN(x->klen, y->klen);
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

rmq_map_ent_t **rmq_map_sorted(const rmq_map_t *m) {
    if (!m->count) return NULL;
    rmq_map_ent_t **v = malloc(m->count * sizeof *v);
    if (!v) return NULL;
    size_t n = 0, bi;
    for (rmq_map_ent_t *e = rmq_map_first(m, &bi); e; e = rmq_map_next(m, &bi, e)) v[n++] = e;
    qsort(v, n, sizeof *v, cmp_ent);
    return v;
}
