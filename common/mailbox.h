/* Mailbox: an intrusive queue drained on a libuv loop, woken by uv_async_send().
 * The one way other threads hand work to a loop thread (DESIGN.md "Threads").
 *
 * Embed rmq_mbox_node_t in the item; post from any thread; the callback runs on the loop
 * thread once per item, in post order. uv_async_send coalesces, the drain takes all. */
#ifndef RMQ_MAILBOX_H
#define RMQ_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

typedef struct rmq_mbox_node_s {
    struct rmq_mbox_node_s *next;
} rmq_mbox_node_t;

typedef void (*rmq_mailbox_cb)(rmq_mbox_node_t *node, void *arg);

typedef struct {
    uv_async_t async; /* async.data = the mailbox */
    /* Posted items, newest first, pushed without a lock and taken whole by the drain (which
     * restores post order); a sentinel once closed: posts after close are handed back. A
     * mutex here had every poster contend with the loop thread's drain. */
    rmq_mbox_node_t *_Atomic top;
    rmq_mailbox_cb cb;
    void *arg;
} rmq_mailbox_t;

/* Loop thread. 0 or a libuv error. */
int rmq_mailbox_init(rmq_mailbox_t *mb, uv_loop_t *loop, rmq_mailbox_cb cb, void *arg);
/* Any thread. Takes node; false if the mailbox is closed (node stays the caller's). */
bool rmq_mailbox_post(rmq_mailbox_t *mb, rmq_mbox_node_t *node);
/* Loop thread: drain what is queued now (also done by the async callback). */
void rmq_mailbox_drain(rmq_mailbox_t *mb);
/* Loop thread: refuse further posts, run the callback for what is queued, close the handle.
 * close_cb (may be NULL) gets the uv handle; free mb's owner there or later. */
void rmq_mailbox_close(rmq_mailbox_t *mb, uv_close_cb close_cb);
/* Whether rmq_mailbox_close has run (its callbacks see true). */
bool rmq_mailbox_closed(rmq_mailbox_t *mb);

#endif
