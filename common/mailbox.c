#include "common/mailbox.h"

#include <stdint.h>

#define CLOSED ((rmq_mbox_node_t *)(uintptr_t)1)

static void on_async(uv_async_t *h) {
    rmq_mailbox_drain(h->data);
}

int rmq_mailbox_init(rmq_mailbox_t *mb, uv_loop_t *loop, rmq_mailbox_cb cb, void *arg) {
    atomic_init(&mb->top, NULL);
    mb->cb = cb;
    mb->arg = arg;
    int rc = uv_async_init(loop, &mb->async, on_async);
    if (rc) return rc;
    mb->async.data = mb;
    return 0;
}

bool rmq_mailbox_post(rmq_mailbox_t *mb, rmq_mbox_node_t *node) {
    /* push-only (the drain takes the whole list): no ABA */
    rmq_mbox_node_t *top = atomic_load_explicit(&mb->top, memory_order_relaxed);
    do {
        if (top == CLOSED) return false;
        node->next = top;
    } while (!atomic_compare_exchange_weak_explicit(&mb->top, &top, node, memory_order_release,
                                                    memory_order_relaxed));
    /* A non-empty queue already has a wake-up pending. */
    if (top == NULL) uv_async_send(&mb->async);
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
    do {
        if (top == NULL || top == CLOSED) return;
    } while (!atomic_compare_exchange_weak_explicit(&mb->top, &top, NULL, memory_order_acquire,
                                                    memory_order_acquire));
    run(mb, top);
}

bool rmq_mailbox_closed(rmq_mailbox_t *mb) {
    return atomic_load_explicit(&mb->top, memory_order_relaxed) == CLOSED;
}

void rmq_mailbox_close(rmq_mailbox_t *mb, uv_close_cb close_cb) {
    rmq_mbox_node_t *top = atomic_exchange_explicit(&mb->top, CLOSED, memory_order_acq_rel);
    if (top != CLOSED) run(mb, top);
    uv_close((uv_handle_t *)&mb->async, close_cb);
}
