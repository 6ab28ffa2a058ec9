#include "common/wake.h"

#include "common/util.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
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

bool rmq_wake_wait_ms(rmq_wake_t *w, int ms) {
    uint64_t end = rmq_mono_us() + (uint64_t)(ms > 0 ? ms : 0) * 1000u;
    for (;;) {
        uint32_t v = atomic_load_explicit(&w->word, memory_order_acquire);
        if (v == 1) {
            atomic_store_explicit(&w->word, 0, memory_order_relaxed);
            return true;
        }
        uint64_t now = rmq_mono_us();
        if (now >= end) { /* 2 back to 0, unless a signal raced in (then it counts) */
            if (v == 0 || atomic_compare_exchange_strong(&w->word, &v, 0)) return false;
            continue;
        }
        if (v == 0 && !atomic_compare_exchange_weak(&w->word, &v, 2)) continue;
        uint64_t left = end - now;
        struct timespec ts = {(time_t)(left / 1000000u), (long)(left % 1000000u) * 1000L};
        syscall(SYS_futex, &w->word, FUTEX_WAIT_PRIVATE, 2, &ts, NULL, 0);
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

bool rmq_wake_wait_ms(rmq_wake_t *w, int ms) {
    struct timespec end = rmq_deadline_ts(CLOCK_REALTIME, ms > 0 ? (uint64_t)ms : 0);
    pthread_mutex_lock(&w->mu);
    while (!w->signaled)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &end) != 0) break;
    bool got = w->signaled;
    w->signaled = false;
    pthread_mutex_unlock(&w->mu);
    return got;
}

void rmq_wake_signal(rmq_wake_t *w) {
    pthread_mutex_lock(&w->mu);
    w->signaled = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

#endif
