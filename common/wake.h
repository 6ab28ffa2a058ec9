/* Wake: one sleeper, any number of wakers, like a binary semaphore. A signal sent while the
 * sleeper is awake makes its next wait return at once, so the sleeper may check for work,
 * find none and wait without a lock around the two. On Linux a futex word: a waker makes a
 * system call only when the sleeper is asleep, and nobody takes a lock. Elsewhere a mutex and
 * a condition variable.
 *
 * A wake may live on the sleeper's stack (a blocking call): rmq_wake_signal does not touch it
 * after the sleeper could have returned, except for the futex wake on its address, which at
 * worst wakes another futex waiter spuriously (they all re-check). */
#ifndef RMQ_WAKE_H
#define RMQ_WAKE_H

#include <stdbool.h>
#include <stdint.h>
#ifdef __linux__
#include <stdatomic.h>
#else
#include <pthread.h>
#endif

typedef struct {
#ifdef __linux__
    _Atomic uint32_t word; /* 0 idle, 1 signaled, 2 the sleeper is (about to be) asleep */
#else
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool signaled;
#endif
} rmq_wake_t;

void rmq_wake_init(rmq_wake_t *w);
void rmq_wake_fini(rmq_wake_t *w);
/* The sleeper: return after a signal (one sent since the last wait returned counts). */
void rmq_wake_wait(rmq_wake_t *w);
/* The same, but return after ms milliseconds at the latest: true if signaled (the signal is
 * consumed), false on the timeout. */
bool rmq_wake_wait_ms(rmq_wake_t *w, int ms);
/* Any thread, after making what the sleeper waits for visible. */
void rmq_wake_signal(rmq_wake_t *w);

#endif
