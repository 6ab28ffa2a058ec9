/* String-keyed open-addressing hash map; see hmap.h. */
#include "store/hmap.h"

#include <stdlib.h>
#include <string.h>

#define TOMB ((char *)1)

static uint64_t fnv1a(const char *k, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)k[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void rmq_hmap_init(rmq_hmap_t *m) { memset(m, 0, sizeof(*m)); }

void rmq_hmap_clear(rmq_hmap_t *m) {
    for (size_t i = 0; i < m->cap; i++) {
        if (rmq_hmap_live(&m->slots[i])) free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->used = m->live = 0;
}

void rmq_hmap_fini(rmq_hmap_t *m) {
    rmq_hmap_clear(m);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

rmq_hmap_slot_t *rmq_hmap_get(const rmq_hmap_t *m, const char *key, size_t klen) {
    if (!m->cap) return NULL;
    uint64_t h = fnv1a(key, klen);
    for (size_t i = h & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
        rmq_hmap_slot_t *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != TOMB && s->hash == h && s->klen == klen && !memcmp(s->key, key, klen))
            return s;
    }
    return NULL;
}

static int grow(rmq_hmap_t *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->live * 4 < m->cap) ncap = m->cap; /* mostly tombstones: rehash in place size */
    rmq_hmap_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        rmq_hmap_slot_t *s = &m->slots[i];
        if (!rmq_hmap_live(s)) continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->live;
    return 0;
}

rmq_hmap_slot_t *rmq_hmap_put(rmq_hmap_t *m, const char *key, size_t klen, bool *created) {
    rmq_hmap_slot_t *s = rmq_hmap_get(m, key, klen);
    if (created) *created = false;
    if (s) return s;
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) != 0) return NULL;
    uint64_t h = fnv1a(key, klen);
    size_t i = h & (m->cap - 1);
    while (rmq_hmap_live(&m->slots[i])) i = (i + 1) & (m->cap - 1);
    s = &m->slots[i];
    char *k = malloc(klen + 1);
    if (!k) return NULL;
    memcpy(k, key, klen);
    k[klen] = '\0';
    if (!s->key) m->used++;
    s->key = k;
    s->klen = klen;
    s->hash = h;
    s->v.i64 = 0;
    m->live++;
    if (created) *created = true;
    return s;
}

void rmq_hmap_del(rmq_hmap_t *m, rmq_hmap_slot_t *s) {
    if (!rmq_hmap_live(s)) return;
    free(s->key);
    s->key = TOMB;
    m->live--;
}
