#include "common/wake.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void rmq_wake_init(rmq_wake_t *w) {
    atomic_init(&w->word, 0);
}

void rmq_wake_fini(rmq_wake_t *w) {
    (void)w;
}

void rmq_wake_wait(rmq_wake_t *w) {
    for (;;) {
        uint32_t v = atomic_load_explicit(&w->word, memory_order_acquire);
        if (v == 1) {
            atomic_store_explicit(&w->word, 0, memory_order_relaxed);
            return;
        }
        if (v == 0 && !atomic_compare_exchange_weak(&w->word, &v, 2)) continue;
        syscall(SYS_futex, &w->word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    }
}

void rmq_wake_signal(rmq_wake_t *w) {
    _Atomic uint32_t *word = &w->word; /* w may be gone once word is 1 (see wake.h) */
    if (atomic_load_explicit(word, memory_order_relaxed) == 1) return; /* pending already */
    if (atomic_exchange_explicit(word, 1, memory_order_acq_rel) == 2)
        syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#else

void rmq_wake_init(rmq_wake_t *w) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->signaled = false;
}

void rmq_wake_fini(rmq_wake_t *w) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void rmq_wake_wait(rmq_wake_t *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->signaled) pthread_cond_wait(&w->cv, &w->mu);
    w->signaled = false;
    pthread_mutex_unlock(&w->mu);
}

void rmq_wake_signal(rmq_wake_t *w) {
    pthread_mutex_lock(&w->mu);
    w->signaled = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

#endif
