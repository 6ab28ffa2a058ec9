/* The one string-keyed hash map of the project: topic tables, route tables, consumer groups,
 * queue offsets, held pulls. Chained buckets, power-of-two sizes, FNV-1a (rmq_hash, util.h).
 *
 * Entries never move while they live, so a caller may keep an rmq_map_ent_t * across other
 * inserts (the store keeps its queue-offset entries this way). The map owns its keys (copied
 * into the entry); the value is the caller's: a pointer or a plain integer. Not thread-safe:
 * the owner holds its own lock or keeps the map on one thread. */
#ifndef RMQ_MAP_H
#define RMQ_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rmq/rmq_err.h"

typedef struct rmq_map_ent_s {
    struct rmq_map_ent_s *next;
    uint64_t hash;
    union {
        void *ptr;
        int64_t i64;
    } v;
    size_t klen;
    char key[]; /* klen bytes, NUL-terminated */
} rmq_map_ent_t;

typedef struct {
    rmq_map_ent_t **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
} rmq_map_t;

void rmq_map_init(rmq_map_t *m);
/* Free every entry; free_val(ptr) for each non-NULL pointer value when free_val is given. */
void rmq_map_fini(rmq_map_t *m, void (*free_val)(void *val));
/* Remove every entry (as fini, but the map stays usable and keeps its buckets). */
void rmq_map_clear(rmq_map_t *m, void (*free_val)(void *val));

/* ---- entries by key bytes (any bytes; the stored key is NUL-terminated) ------------------- */
/* The entry for key[0..klen), or NULL. */
rmq_map_ent_t *rmq_map_find(const rmq_map_t *m, const char *key, size_t klen);
/* The entry for key, inserted with a zeroed value when absent (*created says which; may be
 * NULL). NULL only when memory runs out. */
rmq_map_ent_t *rmq_map_upsert(rmq_map_t *m, const char *key, size_t klen, bool *created);
/* Unlink and free e (an entry of m); its value is the caller's to dispose of first. */
void rmq_map_remove(rmq_map_t *m, rmq_map_ent_t *e);

/* ---- pointer values by NUL-terminated key ------------------------------------------------ */
/* Value for key, or NULL. */
void *rmq_map_get(const rmq_map_t *m, const char *key);
static inline bool rmq_map_has(const rmq_map_t *m, const char *key);
/* Insert or replace; *old (when old != NULL) gets the replaced value or NULL.
 * RMQ_ERR__NOMEM leaves the map as it was. */
rmq_err_t rmq_map_put(rmq_map_t *m, const char *key, void *val, void **old);
/* Remove key; returns its value (NULL when absent). */
void *rmq_map_del(rmq_map_t *m, const char *key);

/* ---- iteration ----------------------------------------------------------------------------- */
/* Visit every entry; when fn returns true the entry is removed (fn disposes of its value
 * first). fn must not insert into m. */
void rmq_map_each(rmq_map_t *m, bool (*fn)(rmq_map_ent_t *e, void *arg), void *arg);
/* for (rmq_map_ent_t *e = rmq_map_first(m, &i); e; e = rmq_map_next(m, &i, e)): no insert or
 * removal while iterating (use rmq_map_each to remove). */
rmq_map_ent_t *rmq_map_first(const rmq_map_t *m, size_t *bi);
rmq_map_ent_t *rmq_map_next(const rmq_map_t *m, size_t *bi, const rmq_map_ent_t *e);
/* The entries sorted by key (byte order, which is Java's String order for ASCII): a new array of
 * m->count pointers (free() the array only), or NULL when empty or out of memory. */
rmq_map_ent_t **rmq_map_sorted(const rmq_map_t *m);

static inline bool rmq_map_has(const rmq_map_t *m, const char *key) {
    return rmq_map_find(m, key, strlen(key)) != NULL;
}

#endif
