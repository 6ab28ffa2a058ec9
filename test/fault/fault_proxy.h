/* A TCP fault proxy for the fault and replication tests: sits between a client and a server on
 * 127.0.0.1 (client -> proxy port -> target port) and, on command, delays, stalls, resets,
 * black-holes or corrupts the traffic. `tc netem` is absent on the test machines, so network
 * faults are made here, in user space, between real processes.
 *
 * The proxy runs its own libuv loop on its own thread; every call below is thread-safe and
 * returns once the loop has applied it, so a test can say "stall" and then assert on what the
 * processes do. Only the connections through the proxy are touched. */
#ifndef RMQ_FAULT_PROXY_H
#define RMQ_FAULT_PROXY_H

#include <stdint.h>

typedef struct rmq_fault_proxy_s rmq_fault_proxy_t;

typedef enum {
    RMQ_FP_PASS = 0,  /* forward everything as it comes */
    RMQ_FP_DELAY,     /* forward each chunk arg milliseconds after it arrived, in order */
    RMQ_FP_STALL,     /* stop reading both sides: bytes queue in the kernel, nothing moves, the
                         connections stay open (a stalled link); PASS resumes with nothing lost */
    RMQ_FP_BLACKHOLE, /* read and drop everything, both ways (a half-open peer that never
                         answers); dropped bytes are gone */
    RMQ_FP_CORRUPT,   /* forward, flipping every bit of one byte in each arg bytes */
    RMQ_FP_RESET,     /* reset (RST) every open connection now; new ones are still accepted */
    RMQ_FP_REFUSE,    /* reset every open connection and every new one at once */
} rmq_fp_mode_t;

typedef struct {
    uint64_t accepted;   /* connections accepted */
    uint64_t up_bytes;   /* client -> server bytes forwarded */
    uint64_t down_bytes; /* server -> client bytes forwarded */
    uint64_t dropped;    /* bytes thrown away (BLACKHOLE) */
    int open;            /* connection pairs open now */
} rmq_fp_stats_t;

/* Listen on 127.0.0.1:listen_port (0 picks a free port: see rmq_fp_port) and forward to
 * 127.0.0.1:target_port. NULL when the port cannot be bound. */
rmq_fault_proxy_t *rmq_fp_start(int listen_port, int target_port);
int rmq_fp_port(const rmq_fault_proxy_t *fp);
/* Switch mode (arg: DELAY ms, CORRUPT period in bytes, ignored otherwise). */
void rmq_fp_set(rmq_fault_proxy_t *fp, rmq_fp_mode_t mode, int arg);
void rmq_fp_stats(rmq_fault_proxy_t *fp, rmq_fp_stats_t *out);
/* Close every connection and the listener, join the thread, free fp. NULL is a no-op. */
void rmq_fp_stop(rmq_fault_proxy_t *fp);

#endif
