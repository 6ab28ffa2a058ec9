#include "common/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#define CLOSED ((rmq_mbox_node_t *)(uintptr_t)1)

/* Reads every pending wake-up (before the drain: a post after the read writes again). One read
 * resets an eventfd's counter; a pipe is read until empty. */
static void consume_wakeups(const rmq_mailbox_t *mb) {
    uint64_t v[8];
    if (mb->rfd == mb->wfd) {
        (void)!read(mb->rfd, v, sizeof v[0]);
        return;
    }
    while (read(mb->rfd, v, sizeof v) > 0) {
    }
}

static void on_wake(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    rmq_mailbox_t *mb = h->data;
    consume_wakeups(mb);
    rmq_mailbox_drain(mb); /* may close the mailbox: nothing of it is touched after */
}

static void close_fds(rmq_mailbox_t *mb) {
    if (mb->wfd >= 0 && mb->wfd != mb->rfd) close(mb->wfd);
    if (mb->rfd >= 0) close(mb->rfd);
    mb->rfd = mb->wfd = -1;
}

int rmq_mailbox_init(rmq_mailbox_t *mb, uv_loop_t *loop, rmq_mailbox_cb cb, void *arg) {
    atomic_init(&mb->top, NULL);
    mb->cb = cb;
    mb->arg = arg;
    atomic_init(&mb->writers, 0);
    atomic_init(&mb->running, 0);
#ifdef __linux__
    mb->rfd = mb->wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (mb->rfd < 0) return uv_translate_sys_error(errno);
#else
    int p[2];
    if (pipe(p) != 0) return uv_translate_sys_error(errno);
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    mb->rfd = p[0];
    mb->wfd = p[1];
#endif
    int rc = uv_poll_init(loop, &mb->wake, mb->rfd);
    if (rc) {
        close_fds(mb);
        return rc;
    }
    mb->wake.data = mb;
    rc = uv_poll_start(&mb->wake, UV_READABLE, on_wake);
    if (rc) {
        /* the handle is initialized: it must be closed; nothing else refers to mb yet */
        uv_close((uv_handle_t *)&mb->wake, NULL);
        close_fds(mb);
        return rc;
    }
    return 0;
}

bool rmq_mailbox_post(rmq_mailbox_t *mb, rmq_mbox_node_t *node) {
    /* Counted before looking at top: close sets the sentinel, then waits for the count, so
     * either this post sees the sentinel or close waits for its wake-up write (both seq_cst). */
    atomic_fetch_add(&mb->writers, 1);
    rmq_mbox_node_t *top = atomic_load(&mb->top);
    do {
        if (top == CLOSED) {
            atomic_fetch_sub(&mb->writers, 1);
            return false;
        }
        node->next = top; /* push-only (the drain takes the whole list): no ABA */
    } while (!atomic_compare_exchange_weak(&mb->top, &top, node));
    /* A non-empty queue already has a wake-up pending (or a drain about to take it). */
    if (top == NULL) {
        uint64_t one = 1;
        ssize_t w;
        do w = write(mb->wfd, &one, mb->wfd == mb->rfd ? sizeof one : 1);
        while (w < 0 && errno == EINTR);
        /* EAGAIN: the counter (or pipe) is full, so a wake-up is pending anyway */
    }
    atomic_fetch_sub(&mb->writers, 1);
    return true;
}

/* Run the callback over a taken list, oldest first. */
static void run(rmq_mailbox_t *mb, rmq_mbox_node_t *n) {
    rmq_mbox_node_t *fifo = NULL;
    while (n) {
        rmq_mbox_node_t *next = n->next;
        n->next = fifo;
        fifo = n;
        n = next;
    }
    while (fifo) {
        rmq_mbox_node_t *next = fifo->next;
        mb->cb(fifo, mb->arg);
        fifo = next;
    }
}

void rmq_mailbox_drain(rmq_mailbox_t *mb) {
    rmq_mbox_node_t *top = atomic_load_explicit(&mb->top, memory_order_acquire);
    if (top == NULL || top == CLOSED) return;
    /* Counted before the take: rmq_mailbox_idle reads top and then running, so an item is
     * always seen in one or the other until it has run (all seq_cst). A callback may close the
     * mailbox; its memory lives until the close callback, after this drain. */
    atomic_fetch_add(&mb->running, 1);
    top = atomic_exchange(&mb->top, NULL); /* only this thread closes: still not CLOSED */
    run(mb, top);
    atomic_fetch_sub(&mb->running, 1);
}

bool rmq_mailbox_idle(rmq_mailbox_t *mb) {
    rmq_mbox_node_t *top = atomic_load(&mb->top);
    return (top == NULL || top == CLOSED) && atomic_load(&mb->running) == 0;
}

bool rmq_mailbox_closed(rmq_mailbox_t *mb) {
    return atomic_load_explicit(&mb->top, memory_order_relaxed) == CLOSED;
}

void rmq_mailbox_close(rmq_mailbox_t *mb, uv_close_cb close_cb) {
    rmq_mbox_node_t *top = atomic_exchange(&mb->top, CLOSED);
    if (top != CLOSED) run(mb, top);
    /* a post that got in before the sentinel may still be writing its wake-up */
    while (atomic_load(&mb->writers) > 0) sched_yield();
    uv_close((uv_handle_t *)&mb->wake, close_cb); /* stops polling now */
    close_fds(mb);
}
