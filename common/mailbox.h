/* Mailbox: an intrusive queue drained on a libuv loop, woken through an eventfd (a pipe off
 * Linux) that the loop polls. The one way other threads hand work to a loop thread
 * (DESIGN.md "Threads").
 *
 * Embed rmq_mbox_node_t in the item; post from any thread; the callback runs on the loop
 * thread once per item, in post order. Posts push without a lock and the drain takes the whole
 * list (a mutex here had every poster contend with the loop's drain); a post to an empty queue
 * writes the wake-up, later ones ride on it.
 *
 * Not uv_async_send: in libuv before 1.45 the woken loop spins (with sched_yield) until the
 * sending thread has finished uv_async_send after its eventfd write, so a sender preempted
 * right after the write stalls the whole loop for as long as it stays off the CPU (0.6 to
 * 2.4 ms seen on the broker's loop on 2 vCPUs, hundreds of times a minute at 1,000 msgs/s). */
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
    uv_poll_t wake;      /* polls rfd; wake.data = the mailbox */
    int rfd, wfd;        /* the eventfd twice on Linux, else a non-blocking pipe */
    _Atomic int writers; /* posts under way: close waits for them before closing the fds */
    /* posted items, newest first; a sentinel once closed (posts after close are handed back) */
    rmq_mbox_node_t *_Atomic top;
    _Atomic int running; /* drains taking or running items (rmq_mailbox_idle) */
    rmq_mailbox_cb cb;
    void *arg;
} rmq_mailbox_t;

/* Loop thread. 0 or a libuv error. */
int rmq_mailbox_init(rmq_mailbox_t *mb, uv_loop_t *loop, rmq_mailbox_cb cb, void *arg);
/* Any thread. Takes node; false if the mailbox is closed (node stays the caller's). */
bool rmq_mailbox_post(rmq_mailbox_t *mb, rmq_mbox_node_t *node);
/* Loop thread: drain what is queued now (also done when the wake-up arrives). */
void rmq_mailbox_drain(rmq_mailbox_t *mb);
/* Loop thread: refuse further posts, run the callback for what is queued, close the handle.
 * close_cb (may be NULL) gets the uv handle; free mb's owner there or later. */
void rmq_mailbox_close(rmq_mailbox_t *mb, uv_close_cb close_cb);
/* Any thread: nothing posted waits or is being run. When it returns true, every item the
 * calling thread posted before has been run (a thread that acts on its own outside the mailbox,
 * e.g. a direct write, keeps its order behind what it posted). */
bool rmq_mailbox_idle(rmq_mailbox_t *mb);
/* Whether rmq_mailbox_close has run (its callbacks see true). */
bool rmq_mailbox_closed(rmq_mailbox_t *mb);

#endif
