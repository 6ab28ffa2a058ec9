/* Metadata sync of a slave (slave.h; broker.md 9.4).
 *
 * Each round sends the four requests at once (they are independent) and applies each answer as
 * it comes: topics and subscription groups are replaced when the master's dataVersion differs,
 * consumer offsets are merged (so offsets committed to the slave while the master was down are
 * overwritten by the master's when it returns, as in RocketMQ), delayOffset.json is written
 * verbatim; the master's runtime info gives its CommitLog max offset, which the slave's own
 * runtime info reports beside its replication offset. A round is skipped while the previous one
 * still has requests in flight, or while the master's address is unknown. */
#include "broker/slave.h"

#include <stdlib.h>
#include <string.h>

#include "broker/offset.h"
#include "broker/schedule.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "common/log.h"
#include "common/util.h"

#define SYNC_FIRST_MS 3000
#define SYNC_EVERY_MS 10000
#define SYNC_TIMEOUT_MS 3000

struct rmq_broker_slave_sync_s {
    uv_timer_t timer; /* first member: the close callback finds the struct */
    const rmq_broker_env_t *env;
    rmq_broker_slave_deps_t d;
    int inflight;    /* requests awaiting their answer */
    bool closing;    /* no more applying */
    bool timer_open; /* the timer's close callback has not run */
    bool warned;     /* the last failure was logged (one WARN per failure streak) */
    int64_t master_max, master_max_at; /* master's commitLogMaxOffset and when we learned it */
};

typedef struct {
    rmq_broker_slave_sync_t *s;
    int code;
} req_ctx_t;

static void maybe_free(rmq_broker_slave_sync_t *s) {
    if (s->closing && !s->timer_open && s->inflight == 0) free(s);
}

static const char *code_name(int code) {
    switch (code) {
    case RMQ_REQ_GET_ALL_TOPIC_CONFIG: return "GET_ALL_TOPIC_CONFIG";
    case RMQ_REQ_GET_ALL_CONSUMER_OFFSET: return "GET_ALL_CONSUMER_OFFSET";
    case RMQ_REQ_GET_ALL_DELAY_OFFSET: return "GET_ALL_DELAY_OFFSET";
    case RMQ_REQ_GET_BROKER_RUNTIME_INFO: return "GET_BROKER_RUNTIME_INFO";
    default: return "GET_ALL_SUBSCRIPTIONGROUP_CONFIG";
    }
}

/* The master's commitLogMaxOffset from its runtime info (for the slave's own runtime info). */
static rmq_err_t read_master_max(rmq_broker_slave_sync_t *s, const void *body, size_t len) {
    static const char key[] = "\"commitLogMaxOffset\":\"";
    const char *p = body, *end = p + len;
    for (; p + sizeof key - 1 < end; p++) {
        if (memcmp(p, key, sizeof key - 1) != 0) continue;
        char num[24];
        size_t n = 0;
        for (p += sizeof key - 1; p < end && n < sizeof num - 1 && *p >= '0' && *p <= '9'; p++)
            num[n++] = *p;
        num[n] = 0;
        if (n == 0 || rmq_parse_i64(num, &s->master_max) != 0) return RMQ_ERR__CORRUPT;
        s->master_max_at = rmq_now_ms();
        return RMQ_OK;
    }
    return RMQ_ERR__CORRUPT;
}

static rmq_err_t apply(rmq_broker_slave_sync_t *s, int code, const void *body, size_t len) {
    switch (code) {
    case RMQ_REQ_GET_ALL_TOPIC_CONFIG: return rmq_broker_topics_sync(s->d.topics, body, len);
    case RMQ_REQ_GET_ALL_CONSUMER_OFFSET: return rmq_broker_offsets_sync(s->d.offsets, body, len);
    case RMQ_REQ_GET_ALL_DELAY_OFFSET: return rmq_broker_schedule_sync(s->d.schedule, body, len);
    case RMQ_REQ_GET_BROKER_RUNTIME_INFO: return read_master_max(s, body, len);
    default: return rmq_broker_subgroups_sync(s->d.subgroups, body, len);
    }
}

static void on_answer(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    req_ctx_t *r = arg;
    rmq_broker_slave_sync_t *s = r->s;
    s->inflight--;
    if (!s->closing) {
        rmq_err_t e = err;
        if (e == RMQ_OK && resp->code != 0) e = (rmq_err_t)resp->code;
        /* GET_ALL_DELAY_OFFSET on a master with no delay levels answers an error: nothing to
         * apply; a missing body likewise. */
        if (e == RMQ_OK && resp->body_len) e = apply(s, r->code, resp->body, resp->body_len);
        if (e != RMQ_OK && !s->warned) {
            RMQ_LOG_WARN("slave", "metadata sync %s from master %s failed: %s", code_name(r->code),
                         s->d.master_addr, rmq_strerror(e));
            s->warned = true;
        } else if (e == RMQ_OK && s->warned) {
            RMQ_LOG_INFO("slave", "metadata sync from master %s works again", s->d.master_addr);
            s->warned = false;
        }
    }
    rmq_rem_cmd_destroy(resp);
    free(r);
    maybe_free(s);
}

static void on_tick(uv_timer_t *t) {
    rmq_broker_slave_sync_t *s = (rmq_broker_slave_sync_t *)t;
    if (s->closing || s->inflight > 0 || !s->d.master_addr || !*s->d.master_addr) return;
    static const int codes[] = {
        RMQ_REQ_GET_ALL_TOPIC_CONFIG, RMQ_REQ_GET_ALL_CONSUMER_OFFSET, RMQ_REQ_GET_ALL_DELAY_OFFSET,
        RMQ_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, RMQ_REQ_GET_BROKER_RUNTIME_INFO};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(codes); i++) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(codes[i]);
        req_ctx_t *r = malloc(sizeof *r);
        if (!req || !r) {
            rmq_rem_cmd_destroy(req);
            free(r);
            return;
        }
        req->language = RMQ_LANG_JAVA;
        r->s = s;
        r->code = codes[i];
        s->inflight++;
        if (rmq_rem_client_invoke_async(s->d.client, s->d.master_addr, req, SYNC_TIMEOUT_MS,
                                        on_answer, r) != RMQ_OK) {
            s->inflight--;
            free(r);
        }
    }
}

rmq_err_t rmq_broker_slave_sync_start(const rmq_broker_env_t *env,
                                      const rmq_broker_slave_deps_t *deps,
                                      rmq_broker_slave_sync_t **out) {
    rmq_broker_slave_sync_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ERR__NOMEM;
    s->env = env;
    s->d = *deps;
    uv_timer_init(env->loop, &s->timer);
    s->timer_open = true;
    uv_timer_start(&s->timer, on_tick, SYNC_FIRST_MS, SYNC_EVERY_MS);
    *out = s;
    return RMQ_OK;
}

static void on_timer_closed(uv_handle_t *h) {
    rmq_broker_slave_sync_t *s = (rmq_broker_slave_sync_t *)h;
    s->timer_open = false;
    maybe_free(s);
}

int64_t rmq_broker_slave_master_max(const rmq_broker_slave_sync_t *s, int64_t *at_ms) {
    if (at_ms) *at_ms = s ? s->master_max_at : 0;
    return s && s->master_max_at ? s->master_max : -1;
}

void rmq_broker_slave_sync_close(rmq_broker_slave_sync_t *s) {
    if (!s) return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
