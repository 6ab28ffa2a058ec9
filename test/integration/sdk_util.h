/* Helpers for the librmq integration tests (0100-sdk-*): start a NameServer + broker, build
 * confs, count deliveries by body. Header-only, each test binary includes it once. */
#ifndef RMQ_TEST_SDK_UTIL_H
#define RMQ_TEST_SDK_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "harness.h"
#include "rmq/rmq.h"

static rmq_proc_t su_ns, su_broker;

static inline int su_start(const char *broker_extra) {
    memset(&su_ns, 0, sizeof su_ns);
    memset(&su_broker, 0, sizeof su_broker);
    if (rmq_start_namesrv(&su_ns, NULL) != 0) return -1;
    if (rmq_start_broker(&su_broker, su_ns.addr, broker_extra) != 0) return -1;
    return 0;
}

static inline void su_stop(void) {
    if (su_broker.pid) rmq_proc_stop(&su_broker, SIGTERM);
    if (su_ns.pid) rmq_proc_stop(&su_ns, SIGTERM);
    if (su_broker.dir[0]) rmq_rm_rf(su_broker.dir);
    if (su_ns.dir[0]) rmq_rm_rf(su_ns.dir);
}

static inline void su_set(rmq_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rmq_conf_set(c, k, v, err, sizeof err) != RMQ_CONF_OK) {
        fprintf(stderr, "conf %s=%s: %s\n", k, v, err);
        abort();
    }
}

static inline void su_log(int lvl, const char *ln, void *op) {
    if (lvl <= 1) fprintf(stderr, "[sdk] %s\n", ln);
}

static inline rmq_conf_t *su_conf(const char *group) {
    rmq_conf_t *c = rmq_conf_new();
    su_set(c, "namesrvAddr", su_ns.addr);
    su_set(c, "groupName", group);
    su_set(c, "logLevel", "WARN");
    su_set(c, "rebalanceInterval", "2000"); /* speed the tests up */
    su_set(c, "persistConsumerOffsetInterval", "1000");
    su_set(c, "pollNameServerInterval", "2000");
    su_set(c, "heartbeatBrokerInterval", "2000");
    rmq_conf_set_log_cb(c, su_log, NULL);
    return c;
}

static inline rmq_producer_t *su_producer(const char *group) {
    char err[256];
    rmq_producer_t *p = rmq_producer_new(su_conf(group), err, sizeof err);
    if (!p) fprintf(stderr, "producer: %s\n", err);
    return p;
}

/* Delivery counter by integer id (body "id:<n>..."). */
#define SU_MAX 20000
typedef struct {
    pthread_mutex_t mu;
    int count[SU_MAX];
    int total;
    int64_t last_off[64]; /* per queue id, for order checks (-1 = none) */
    int order_errors;
    int later_once; /* ids < later_once get RECONSUME_LATER on their first delivery */
    bool check_order;
} su_counter_t;

static inline void su_counter_init(su_counter_t *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < 64; i++) c->last_off[i] = -1;
}

static inline int su_body_id(const rmq_msg_t *m) {
    size_t l;
    const char *b = rmq_msg_body(m, &l);
    if (!b || l < 4 || l > 30 || strncmp(b, "id:", 3) != 0) return -1;
    char tmp[32];
    memcpy(tmp, b, l); /* bodies are not NUL-terminated */
    tmp[l] = 0;
    int id = atoi(tmp + 3);
    return id >= 0 && id < SU_MAX ? id : -1;
}

static inline rmq_consume_status_t su_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                               rmq_msg_t *const *msgs, size_t n, void *op) {
    su_counter_t *c = op;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        int id = su_body_id(msgs[i]);
        if (id < 0) continue;
        if (id < c->later_once && c->count[id] == 0 && rmq_msg_reconsume_times(msgs[i]) == 0) {
            c->count[id] = -1; /* marker: refused once */
            pthread_mutex_unlock(&c->mu);
            return RMQ_CONSUME_LATER;
        }
        if (c->count[id] < 0) c->count[id] = 0;
        c->count[id]++;
        c->total++;
        int q = rmq_msg_queue_id(msgs[i]);
        if (c->check_order && q >= 0 && q < 64 && strncmp(mq->topic, "%RETRY%", 7) != 0) {
            if (rmq_msg_queue_offset(msgs[i]) <= c->last_off[q]) c->order_errors++;
            c->last_off[q] = rmq_msg_queue_offset(msgs[i]);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return RMQ_CONSUME_SUCCESS;
}

/* Wait until every id in [0, n) was delivered at least `times` times; false on timeout. */
static inline bool su_wait_all(su_counter_t *c, int n, int times, int timeout_ms) {
    uint64_t end = rmq_mono_ms() + (uint64_t)timeout_ms;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&c->mu);
        int missing = 0;
        for (int i = 0; i < n; i++)
            if (c->count[i] < times) missing++;
        pthread_mutex_unlock(&c->mu);
        if (missing == 0) return true;
        rmq_sleep_ms(100);
    }
    pthread_mutex_lock(&c->mu);
    int missing = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (c->count[i] < times) {
            if (first < 0) first = i;
            missing++;
        }
    pthread_mutex_unlock(&c->mu);
    fprintf(stderr, "su_wait_all: %d of %d missing (first %d)\n", missing, n, first);
    return false;
}

/* A started push consumer of group on topic from the first offset with listener fn(op);
 * extra_kv: more key, value pairs for its conf (NULL-terminated). NULL after printing why. */
static inline rmq_push_consumer_t *su_consumer_fn(const char *group, const char *topic,
                                                  const char *tags, rmq_listen_mode_t mode,
                                                  rmq_listener_cb fn, void *op,
                                                  const char *const *extra_kv) {
    rmq_conf_t *c = su_conf(group);
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    for (int i = 0; extra_kv && extra_kv[i]; i += 2) su_set(c, extra_kv[i], extra_kv[i + 1]);
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    if (!pc) {
        fprintf(stderr, "consumer: %s\n", err);
        return NULL;
    }
    if (rmq_push_consumer_subscribe(pc, topic, tags) ||
        rmq_push_consumer_set_listener(pc, mode, fn, op) || rmq_push_consumer_start(pc)) {
        rmq_push_consumer_destroy(pc);
        return NULL;
    }
    return pc;
}

/* The same with su_listener counting into cnt. */
static inline rmq_push_consumer_t *su_consumer(const char *group, const char *topic,
                                               const char *tags, rmq_listen_mode_t mode,
                                               su_counter_t *cnt, const char *const *extra_kv) {
    return su_consumer_fn(group, topic, tags, mode, su_listener, cnt, extra_kv);
}

static inline size_t su_assigned(rmq_push_consumer_t *pc) {
    rmq_mq_t *mqs = NULL;
    size_t n = 0;
    if (rmq_push_consumer_assigned(pc, &mqs, &n) != RMQ_OK) return 0;
    size_t k = 0; /* count the user topic only */
    for (size_t i = 0; i < n; i++)
        if (strncmp(mqs[i].topic, "%RETRY%", 7) != 0) k++;
    free(mqs);
    return k;
}

static inline rmq_err_t su_send_id(rmq_producer_t *p, const char *topic, int id, const char *tag) {
    char body[64];
    snprintf(body, sizeof body, "id:%d", id);
    rmq_msg_t *m = rmq_msg_new(topic, tag, NULL, body, strlen(body), RMQ_MSG_F_COPY);
    rmq_send_result_t r;
    rmq_err_t e = rmq_send_sync(p, m, &r);
    rmq_msg_destroy(m);
    return e;
}

#endif
