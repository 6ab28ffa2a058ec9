#include "namesrv/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_str(const char *s) {
    /* FNV-1a: cheap and good enough for topic and broker names. */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void ns_map_init(ns_map_t *m) { memset(m, 0, sizeof *m); }

void ns_map_fini(ns_map_t *m, void (*free_val)(void *val)) {
    for (size_t i = 0; i < m->nbuckets; i++) {
        ns_map_ent_t *e = m->buckets[i];
        while (e) {
            ns_map_ent_t *next = e->next;
            if (free_val && e->val) free_val(e->val);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

static ns_map_ent_t **find_slot(const ns_map_t *m, const char *key, size_t h) {
    if (!m->nbuckets) return NULL;
    ns_map_ent_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && !strcmp((*pp)->key, key)) return pp;
    return pp;
}

void *ns_map_get(const ns_map_t *m, const char *key) {
    ns_map_ent_t **pp = find_slot(m, key, hash_str(key));
    return pp && *pp ? (*pp)->val : NULL;
}

bool ns_map_has(const ns_map_t *m, const char *key) {
    ns_map_ent_t **pp = find_slot(m, key, hash_str(key));
    return pp && *pp;
}

static int grow(ns_map_t *m) {
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
    ns_map_ent_t **b = calloc(nb, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        ns_map_ent_t *e = m->buckets[i];
        while (e) {
            ns_map_ent_t *next = e->next;
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

int ns_map_put(ns_map_t *m, const char *key, void *val, void **old) {
    size_t h = hash_str(key);
    if (old) *old = NULL;
    ns_map_ent_t **pp = find_slot(m, key, h);
    if (pp && *pp) {
        if (old) *old = (*pp)->val;
        (*pp)->val = val;
        return 0;
    }
    if (m->count + 1 > m->nbuckets * 3 / 4) {
        if (grow(m)) return -1;
        pp = find_slot(m, key, h);
    }
    size_t kl = strlen(key);
    ns_map_ent_t *e = malloc(sizeof *e + kl + 1);
    if (!e) return -1;
    memcpy(e->key, key, kl + 1);
    e->hash = h;
    e->val = val;
    e->next = NULL;
    *pp = e;
    m->count++;
    return 0;
}

void *ns_map_del(ns_map_t *m, const char *key) {
    ns_map_ent_t **pp = find_slot(m, key, hash_str(key));
    if (!pp || !*pp) return NULL;
    ns_map_ent_t *e = *pp;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

static int cmp_ent(const void *a, const void *b) {
    return strcmp((*(ns_map_ent_t *const *)a)->key, (*(ns_map_ent_t *const *)b)->key);
}

ns_map_ent_t **ns_map_sorted(const ns_map_t *m) {
    if (!m->count) return NULL;
    ns_map_ent_t **arr = malloc(m->count * sizeof *arr);
    if (!arr) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (ns_map_ent_t *e = m->buckets[i]; e; e = e->next) arr[n++] = e;
    qsort(arr, n, sizeof *arr, cmp_ent);
    return arr;
}

ns_map_ent_t *ns_map_first(const ns_map_t *m, size_t *bi) {
    for (*bi = 0; *bi < m->nbuckets; (*bi)++)
        if (m->buckets[*bi]) return m->buckets[*bi];
    return NULL;
}

ns_map_ent_t *ns_map_next(const ns_map_t *m, size_t *bi, ns_map_ent_t *e) {
    if (e->next) return e->next;
    for ((*bi)++; *bi < m->nbuckets; (*bi)++)
        if (m->buckets[*bi]) return m->buckets[*bi];
    return NULL;
}
