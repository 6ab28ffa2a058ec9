#include "common/mailbox.h"

static void on_async(uv_async_t *h) {
    rmq_mailbox_drain(h->data);
}

int rmq_mailbox_init(rmq_mailbox_t *mb, uv_loop_t *loop, rmq_mailbox_cb cb, void *arg) {
    mb->head = mb->tail = NULL;
    mb->cb = cb;
    mb->arg = arg;
    mb->closed = false;
    pthread_mutex_init(&mb->mu, NULL);
    int rc = uv_async_init(loop, &mb->async, on_async);
    if (rc) {
        pthread_mutex_destroy(&mb->mu);
        return rc;
    }
    mb->async.data = mb;
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
    pthread_mutex_unlock(&mb->mu);
    /* A non-empty queue already has a wake-up pending. */
    if (was_empty) uv_async_send(&mb->async);
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
    rmq_mailbox_drain(mb);
    uv_close((uv_handle_t *)&mb->async, close_cb);
}
