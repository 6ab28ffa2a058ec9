#include "common/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

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
    mb->head = mb->tail = NULL;
    mb->cb = cb;
    mb->arg = arg;
    mb->closed = false;
    atomic_init(&mb->writers, 0);
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
    pthread_mutex_init(&mb->mu, NULL);
    return 0;
}

bool rmq_mailbox_post(rmq_mailbox_t *mb, rmq_mbox_node_t *node) {
    node->next = NULL;
    pthread_mutex_lock(&mb->mu);
    if (mb->closed) {
        pthread_mutex_unlock(&mb->mu);
        return false;
    }
    bool was_empty = mb->head == NULL;
    if (mb->tail)
        mb->tail->next = node;
    else
        mb->head = node;
    mb->tail = node;
    /* counted under the lock, so close (which sets closed under it) waits for this write */
    if (was_empty) atomic_fetch_add(&mb->writers, 1);
    pthread_mutex_unlock(&mb->mu);
    /* A non-empty queue already has a wake-up pending (or a drain about to take it). */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w;
        do w = write(mb->wfd, &one, mb->wfd == mb->rfd ? sizeof one : 1);
        while (w < 0 && errno == EINTR);
        /* EAGAIN: the counter (or pipe) is full, so a wake-up is pending anyway */
        atomic_fetch_sub(&mb->writers, 1);
    }
    return true;
}

void rmq_mailbox_drain(rmq_mailbox_t *mb) {
    pthread_mutex_lock(&mb->mu);
    rmq_mbox_node_t *n = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->mu);
    while (n) {
        rmq_mbox_node_t *next = n->next;
        mb->cb(n, mb->arg);
        n = next;
    }
}

void rmq_mailbox_close(rmq_mailbox_t *mb, uv_close_cb close_cb) {
    pthread_mutex_lock(&mb->mu);
    mb->closed = true;
    pthread_mutex_unlock(&mb->mu);
    /* a post that got in before closed was set may still be writing its wake-up */
    while (atomic_load(&mb->writers) > 0) sched_yield();
    rmq_mailbox_drain(mb);
    uv_close((uv_handle_t *)&mb->wake, close_cb); /* stops polling now */
    close_fds(mb);
}
