/* The loop-thread services of the broker context (ctx.h): the mailbox from store threads, the
 * in-flight SYNC_FLUSH count, the loop-thread test, the random numbers. */
#include "broker/ctx.h"

#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

static void on_mail(rmq_mbox_node_t *node, void *arg) {
    rmq_broker_job_t *j = (rmq_broker_job_t *)node;
    j->fn(j->arg);
    free(j);
}

int rmq_broker_ctx_init(rmq_broker_ctx_t *b, uv_loop_t *loop) {
    b->loop_thread = pthread_self();
    return rmq_mailbox_init(&b->mailbox, loop, on_mail, b);
}

bool rmq_broker_post_job(rmq_broker_ctx_t *b, rmq_broker_job_t *j) {
    j->node.next = NULL;
    if (rmq_mailbox_post(&b->mailbox, &j->node)) return true;
    free(j);
    return false;
}

bool rmq_broker_run_on_loop(rmq_broker_ctx_t *b, void (*fn)(void *arg), void *arg) {
    rmq_broker_job_t *j = malloc(sizeof *j);
    if (!j) return false;
    j->fn = fn;
    j->arg = arg;
    return rmq_broker_post_job(b, j);
}

void rmq_broker_inflight_add(rmq_broker_ctx_t *b, int delta) {
    b->inflight_puts += delta;
}

bool rmq_broker_on_loop(const rmq_broker_ctx_t *b) {
    return pthread_equal(pthread_self(), b->loop_thread);
}

uint32_t rmq_broker_rand(rmq_broker_ctx_t *b) {
    uint64_t s = b->rand_state;
    if (s == 0) s = (uint64_t)rmq_mono_us() * 6364136223846793005ULL + (uint64_t)getpid();
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    b->rand_state = s;
    return (uint32_t)(s >> 33);
}
