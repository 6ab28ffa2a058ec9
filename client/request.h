/* Request-reply (RocketMQ 4.6+, RequestFutureHolder): the requests of one client instance that
 * wait for their reply, by CORRELATION_ID. The producer registers an entry before it sends the
 * request; the instance's PUSH_REPLY_MESSAGE_TO_CLIENT handler completes it with the reply; the
 * waiter's deadline (sync) or a scheduled timeout (async) removes it with RMQ_ERR__TIMEOUT.
 * Whoever removes an entry from the table completes it, exactly once. Private to librmq. */
#ifndef RMQ_CLIENT_REQUEST_H
#define RMQ_CLIENT_REQUEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/internal.h"
#include "remoting/cmd.h"

typedef struct rmq_reqent_s rmq_reqent_t;
struct rmq_reqent_s {
    char corr[64]; /* CORRELATION_ID */
    /* result, set by whoever removes the entry */
    rmq_msg_t *reply; /* taken by the completion */
    rmq_err_t err;
    bool done; /* sync: the waiter's condition */
    /* async: called (outside the table lock) once the entry is removed with its result; NULL
     * for a sync entry, whose waiter is signalled instead */
    void (*complete)(rmq_reqent_t *e);
    void *owner; /* the async completion's data */
    rmq_reqent_t *next;
};

typedef struct rmq_reqtab_s rmq_reqtab_t;

rmq_reqtab_t *rmq_reqtab_new(void); /* NULL on OOM */
/* Entries still in the table are async ones whose requests outlived every producer; they are
 * completed with RMQ_ERR__CLOSED first. NULL is a no-op. */
void rmq_reqtab_destroy(rmq_reqtab_t *t);
/* Register e (borrowed until it is removed). */
void rmq_reqtab_add(rmq_reqtab_t *t, rmq_reqent_t *e);
/* Remove the entry with corr and complete it with (reply, err); reply is taken either way.
 * False when no entry matched (reply destroyed). */
bool rmq_reqtab_complete(rmq_reqtab_t *t, const char *corr, rmq_msg_t *reply, rmq_err_t err);
/* Remove e without completing it (its request could not be sent). False when it was already
 * removed (completed: its result is in e for a sync entry). */
bool rmq_reqtab_remove(rmq_reqtab_t *t, rmq_reqent_t *e);
/* Sync: wait until e is done or deadline_ms (rmq_mono_ms clock) passes; a timed-out entry is
 * removed with RMQ_ERR__TIMEOUT. Afterwards e is no longer in the table. */
void rmq_reqtab_wait(rmq_reqtab_t *t, rmq_reqent_t *e, uint64_t deadline_ms);
/* Count of waiting entries (tests, logs). */
int rmq_reqtab_count(rmq_reqtab_t *t);

/* A PUSH_REPLY_MESSAGE_TO_CLIENT request (ReplyMessageRequestHeader + body) as a message, with
 * ARRIVE_TIME set as the Java client does; a compressed body is inflated. *out new. */
rmq_err_t rmq_reply_push_decode(const rmq_rem_cmd_t *req, rmq_msg_t **out);

#endif
