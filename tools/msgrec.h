/* Stored-message records as mqadmin prints them: every field of a record (including the born
 * and store hosts, which the SDK's rmq_msg_t does not carry) decoded into plain strings. */
#ifndef RMQ_TOOL_MSGREC_H
#define RMQ_TOOL_MSGREC_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *topic, *tags, *keys, *uniq; /* owned; "" when absent */
    char *props;                      /* owned, Java Map.toString form: {k=v, k2=v2} */
    uint8_t *body;                    /* owned, inflated when compressed */
    size_t body_len;
    int queue_id, reconsume_times, sysflag, flag;
    int64_t queue_offset, phys_offset, born_ts, store_ts;
    char born_host[64], store_host[64]; /* "ip:port" */
    char offset_id[64];
} rmq_tool_msg_t;

/* Decode concatenated records (QUERY_MESSAGE / VIEW_MESSAGE_BY_ID / PULL bodies). *out new
 * (rmq_tool_msgs_free). 0 or -1 on a malformed body. */
int rmq_tool_msgs_decode(const uint8_t *p, size_t len, rmq_tool_msg_t **out, size_t *n);
void rmq_tool_msgs_free(rmq_tool_msg_t *v, size_t n);

#endif
