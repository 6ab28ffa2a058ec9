/* A small string-keyed hash map for the NameServer tables (topics can number in the tens of
 * thousands, so lookups by name must not be linear). Chained buckets, power-of-two sizes.
 *
 * The map owns its keys (copied on insert); values are opaque pointers the caller owns. */
#ifndef RMQ_NS_MAP_H
#define RMQ_NS_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ns_map_ent_s {
    struct ns_map_ent_s *next;
    size_t hash;
    void *val;
    char key[]; /* NUL-terminated */
} ns_map_ent_t;

typedef struct {
    ns_map_ent_t **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
} ns_map_t;

void ns_map_init(ns_map_t *m);
/* Free every entry; free_val(val) is called for each value when non-NULL. */
void ns_map_fini(ns_map_t *m, void (*free_val)(void *val));
/* Value for key or NULL. */
void *ns_map_get(const ns_map_t *m, const char *key);
bool ns_map_has(const ns_map_t *m, const char *key);
/* Insert or replace; *old (if non-NULL) gets the replaced value or NULL. -1 on OOM. */
int ns_map_put(ns_map_t *m, const char *key, void *val, void **old);
/* Remove key; returns its value (NULL if absent). */
void *ns_map_del(ns_map_t *m, const char *key);
/* The entries sorted by key (strcmp, which is Java's String order for ASCII); returns a new
 * array of count pointers (caller frees the array only) or NULL when empty or on OOM. */
ns_map_ent_t **ns_map_sorted(const ns_map_t *m);

/* Iterate: for (ns_map_ent_t *e = ns_map_first(m, &i); e; e = ns_map_next(m, &i, e)).
 * Do not insert while iterating; deleting the current entry is not allowed either (collect
 * keys first). */
ns_map_ent_t *ns_map_first(const ns_map_t *m, size_t *bi);
ns_map_ent_t *ns_map_next(const ns_map_t *m, size_t *bi, ns_map_ent_t *e);

#endif
