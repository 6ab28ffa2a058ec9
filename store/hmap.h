/* A small string-keyed hash map (open addressing, linear probing) for the store's tables:
 * queue offsets by "topic-queueId" and ConsumeQueues by topic/queue. Not thread-safe: the owner
 * holds its lock. Keys are copied; values are borrowed pointers or plain integers. */
#ifndef RMQ_STORE_HMAP_H
#define RMQ_STORE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key; /* NULL = empty, (char *)1 = deleted */
    size_t klen;
    uint64_t hash;
    union {
        void *ptr;
        int64_t i64;
    } v;
} rmq_hmap_slot_t;

typedef struct {
    rmq_hmap_slot_t *slots;
    size_t cap;  /* power of two */
    size_t used; /* live + deleted */
    size_t live;
} rmq_hmap_t;

void rmq_hmap_init(rmq_hmap_t *m);
void rmq_hmap_fini(rmq_hmap_t *m);
/* Slot for key, or NULL. */
rmq_hmap_slot_t *rmq_hmap_get(const rmq_hmap_t *m, const char *key, size_t klen);
/* Slot for key, inserted (value zeroed) if absent; NULL only on allocation failure. */
rmq_hmap_slot_t *rmq_hmap_put(rmq_hmap_t *m, const char *key, size_t klen, bool *created);
void rmq_hmap_del(rmq_hmap_t *m, rmq_hmap_slot_t *slot);
void rmq_hmap_clear(rmq_hmap_t *m);
static inline bool rmq_hmap_live(const rmq_hmap_slot_t *s) {
    return s->key != NULL && s->key != (char *)1;
}

#endif
