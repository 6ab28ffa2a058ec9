/* HA transport (broker.md 9.2, 9.3): a master streams its CommitLog to any number of slaves on
 * haListenPort; a slave pulls from its master and acknowledges with its max offset. One thread
 * with its own libuv loop per rmq_ha_t (DESIGN.md "Threads in the broker": HA).
 *
 * Depends on store/, common/ and libuv only (no broker file), so broker.c can own and wire it:
 *   master: rmq_ha_start(cfg, store, RMQ_HA_MASTER, deliver, loop_ctx, &ha); on every SYNC_MASTER
 *           put that is not durable-only, rmq_ha_wait_ack(ha, end_offset, cb, req);
 *   slave:  rmq_ha_start(cfg, store, RMQ_HA_SLAVE, NULL, NULL, &ha); rmq_ha_set_master(ha, addr)
 *           when the NameServer names another master (haMasterAddress wins when set).
 * Every function is thread-safe unless it says otherwise. */
#ifndef RMQ_BROKER_HA_H
#define RMQ_BROKER_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kvconf.h"
#include "rmq/rmq_err.h"
#include "store/store.h"

/* broker.conf keys (RocketMQ's names, RMQ_HA_CFG_KV). */
typedef struct {
    int ha_listen_port;                /* haListenPort, 10912; 0 = any free port (tests) */
    char *ha_listen_host;              /* haListenHost (ours), "0.0.0.0" */
    char *ha_master_address;           /* haMasterAddress "ip:port", slave only; empty = learn it */
    int ha_send_heartbeat_interval;    /* haSendHeartbeatInterval ms, 5000 */
    int ha_housekeeping_interval;      /* haHousekeepingInterval ms, 20000 */
    int ha_transfer_batch_size;        /* haTransferBatchSize bytes, 32768 */
    int64_t ha_slave_fallbehind_max;   /* haSlaveFallbehindMax bytes, 256 MiB */
    int slave_timeout;                 /* slaveTimeout ms, 3000: SYNC_MASTER wait */
    bool ha_new_slave_from_min_offset; /* haNewSlaveFromMinOffset (ours), false: a slave that
                                          reports 0 starts at the CommitLog's min offset (all
                                          history) instead of its last segment */
    int ha_reconnect_interval;         /* haReconnectInterval ms (ours), 5000 */
    const struct rmq_rem_tls_cfg_s *tls; /* not a key: the broker's tls.* (remoting/tls.h),
                                            borrowed by rmq_ha_start; NULL = plaintext. The
                                            master follows tls.server.mode, the slave
                                            tls.enable */
} rmq_ha_cfg_t;

/* clang-format off */
#define RMQ_HA_CFG_KV(T, m)                                                                      \
    RMQ_KV_INT("haListenPort", T, m.ha_listen_port, 10912, 0, 65535,                            \
               "HA port (RocketMQ 4.9 forces listenPort + 1)"),                                  \
    RMQ_KV_STR("haListenHost", T, m.ha_listen_host, NULL, "HA listener address (= bindAddress)"), \
    RMQ_KV_STR("haMasterAddress", T, m.ha_master_address, NULL,                                 \
               "slave: master HA address ip:port (else learned from the NameServer)"),           \
    RMQ_KV_INT("haSendHeartbeatInterval", T, m.ha_send_heartbeat_interval, 5000, 10, 3600000,   \
               "HA report/heartbeat interval, ms"),                                              \
    RMQ_KV_INT("haHousekeepingInterval", T, m.ha_housekeeping_interval, 20000, 10, 3600000,     \
               "close an HA connection silent this long, ms"),                                   \
    RMQ_KV_INT("haTransferBatchSize", T, m.ha_transfer_batch_size, 32768, 1024, 1 << 26,        \
               "HA frame body cap, bytes"),                                                      \
    RMQ_KV_I64("haSlaveFallbehindMax", T, m.ha_slave_fallbehind_max, 268435456LL, 0,           \
               1LL << 50, "SYNC_MASTER: SLAVE_NOT_AVAILABLE when the slave lags this much"),    \
    RMQ_KV_INT("slaveTimeout", T, m.slave_timeout, 3000, 1, 3600000,                           \
               "SYNC_MASTER wait for the slave's ack, ms"),                                      \
    RMQ_KV_BOOL("haNewSlaveFromMinOffset", T, m.ha_new_slave_from_min_offset, 0,                \
                "a new slave (reports 0) gets all history, not just the last segment"),          \
    RMQ_KV_INT("haReconnectInterval", T, m.ha_reconnect_interval, 5000, 10, 3600000,           \
               "slave: reconnect to the master every, ms")
/* clang-format on */

/* Fill cfg with the defaults (strings new: rmq_ha_cfg_free). */
void rmq_ha_cfg_defaults(rmq_ha_cfg_t *cfg);
void rmq_ha_cfg_free(rmq_ha_cfg_t *cfg);

typedef enum { RMQ_HA_MASTER = 0, RMQ_HA_SLAVE = 1 } rmq_ha_role_t;

typedef struct rmq_ha_s rmq_ha_t;

/* Completion of a SYNC_MASTER wait: RMQ_OK or RMQ_ERR_FLUSH_SLAVE_TIMEOUT. */
typedef void (*rmq_ha_wait_cb)(rmq_err_t st, void *arg);
/* How completions reach the caller: called on the HA thread (or, for an offset already acked,
 * on the waiting thread) with the completion to run; the broker posts cb(st, arg) to the loop
 * that asked. NULL: cb runs right there. */
typedef void (*rmq_ha_deliver_fn)(rmq_ha_wait_cb cb, rmq_err_t st, void *arg, void *deliver_arg);

/* Start the HA thread for store (borrowed: outlives ha). A master binds haListenHost:
 * haListenPort here (errors come back, logged); a slave connects to haMasterAddress when set.
 * cfg is copied. */
rmq_err_t rmq_ha_start(const rmq_ha_cfg_t *cfg, rmq_store_t *store, rmq_ha_role_t role,
                       rmq_ha_deliver_fn deliver, void *deliver_arg, rmq_ha_t **out);
/* Close every connection, complete pending waits with FLUSH_SLAVE_TIMEOUT, join, free. NULL is a
 * no-op. */
void rmq_ha_shutdown(rmq_ha_t *ha);
/* The port the master listens on (useful with haListenPort 0). */
int rmq_ha_port(const rmq_ha_t *ha);

/* Slave: the master's HA address "ip:port" (NULL or "" disconnects). Takes effect at once. */
void rmq_ha_set_master(rmq_ha_t *ha, const char *addr);

/* Master, SYNC_MASTER: wait until a slave has acknowledged end_offset (the end of the record)
 * within slaveTimeout. Returns RMQ_ERR_SLAVE_NOT_AVAILABLE at once (cb never called) when no
 * slave is connected or end_offset - max acked offset >= haSlaveFallbehindMax; otherwise RMQ_OK
 * and cb(st, arg) is delivered exactly once: RMQ_OK, or RMQ_ERR_FLUSH_SLAVE_TIMEOUT at the
 * deadline (or at shutdown). Never blocks. */
rmq_err_t rmq_ha_wait_ack(rmq_ha_t *ha, int64_t end_offset, rmq_ha_wait_cb cb, void *arg);

/* Runtime figures (5.x HARuntimeInfo names in comments, for GET_BROKER_RUNTIME_INFO). */
#define RMQ_HA_MAX_SLAVE_INFO 8
typedef struct {
    char addr[64];        /* addr */
    int64_t ack_offset;   /* slaveAckOffset: last report */
    int64_t behind_bytes; /* diff: master max offset - ack */
    int64_t behind_ms;    /* master's newest store time - store time of the record at ack */
    int64_t next_offset;  /* transferFromWhere: next byte to send */
    uint64_t bytes_sent;  /* body bytes sent on this connection */
} rmq_ha_slave_info_t;

typedef struct {
    rmq_ha_role_t role;
    /* master */
    int connections;           /* connected slaves (haConnectionInfo size) */
    int64_t master_max_offset; /* masterCommitLogMaxOffset */
    int64_t acked_max_offset;  /* push2SlaveMaxOffset: max over slaves, ever */
    uint64_t bytes_sent;       /* all connections, since start */
    size_t nslaves;            /* entries in slaves (at most RMQ_HA_MAX_SLAVE_INFO) */
    rmq_ha_slave_info_t slaves[RMQ_HA_MAX_SLAVE_INFO];
    /* slave */
    char master_addr[64]; /* masterAddr */
    bool connected;       /* isActivated */
    int64_t repl_offset;  /* maxOffset reported */
    uint64_t bytes_received;
    uint64_t reconnects;
} rmq_ha_stats_t;
void rmq_ha_get_stats(rmq_ha_t *ha, rmq_ha_stats_t *out);

/* Wire layouts of broker.md 9.2 (big-endian), exposed for tests and tools. */
#define RMQ_HA_REPORT_SIZE 8
#define RMQ_HA_HEADER_SIZE 12
void rmq_ha_encode_report(uint8_t out[RMQ_HA_REPORT_SIZE], int64_t max_offset);
void rmq_ha_encode_header(uint8_t out[RMQ_HA_HEADER_SIZE], int64_t start_offset, int32_t size);
int64_t rmq_ha_decode_report(const uint8_t in[RMQ_HA_REPORT_SIZE]);
void rmq_ha_decode_header(const uint8_t in[RMQ_HA_HEADER_SIZE], int64_t *start_offset,
                          int32_t *size);

#endif
