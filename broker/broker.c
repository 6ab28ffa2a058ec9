/* The broker's life: start-up, wiring the managers together, the loop, signals, timers,
 * registration with the NameServers, and an orderly shutdown.
 *
 * This file is the top of broker/ (scripts/check-layering.sh keeps it so): it opens every
 * manager with the narrow context it needs (ctx.h) and passes the hooks for the few upward
 * events (topic table changed -> re-register; group deleted -> drop its offsets; a held pull
 * to re-run -> pull.c), attaches the one request table (dispatch.c) to both servers, and closes
 * everything in order. Nothing else in broker/ knows this file's struct.
 *
 * Everything runs on one libuv loop (see broker.h). Store threads reach it only through the
 * mailbox: the reput thread's arrive callback (wakes held pulls) and the flush thread's
 * SYNC_FLUSH completions (send.c). Replication (broker.md 9) runs on broker/ha's own thread:
 * started here after the store (a master listens on haListenPort = listenPort + 1, a slave
 * connects to haMasterAddress or to the haServerAddr its registration reply names), its
 * SYNC_MASTER completions posted to the mailbox by ha_deliver, shut down before the store
 * closes. A slave also runs the metadata sync (slave.c) against the masterAddr of that reply.
 * Shutdown on SIGTERM/SIGINT is a small state machine driven by a timer so that it can wait for
 * in-flight completions and NameServer answers without blocking the loop: DRAIN   held pulls
 * answered, new sends refused, wait for SYNC_FLUSH / SYNC_MASTER completions UNREG   server closed,
 * managers persisted, UNREGISTER_BROKER sent, wait for the answers DONE    store closed, handles
 * closed, the loop ends and rmq_broker_run returns 0. */
#include "broker/broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "broker/admin.h"
#include "broker/admin_stats.h"
#include "broker/clients.h"
#include "broker/ctx.h"
#include "broker/dispatch.h"
#include "broker/ha.h"
#include "broker/hold.h"
#include "broker/metrics.h"
#include "broker/offset.h"
#include "broker/pull.h"
#include "broker/schedule.h"
#include "broker/slave.h"
#include "broker/subgroup.h"
#include "broker/timer.h"
#include "broker/topic.h"
#include "broker/txncheck.h"
#include "common/log.h"
#include "common/util.h"
#include "remoting/acl.h"
#include "remoting/client.h"
#include "remoting/server.h"

enum { ST_RUNNING, ST_DRAIN, ST_UNREG, ST_DONE };

/* The broker; one per rmq_broker_run, freed when it returns. */
typedef struct rmq_broker_s {
    rmq_broker_ctx_t ctx; /* what managers and handlers see (first member) */
    rmq_broker_cfg_t cfg; /* read-only after start */
    uv_loop_t loop;
    char config_dir[512]; /* <storePathRootDir>/config */
    char addr[64];        /* "brokerIP1:listenPort" */
    char ha_addr[64];     /* "brokerIP2:haListenPort" */
    char master_addr[64]; /* slave: the master's remoting address (registration reply) */
    char master_ha[64];   /* slave: the master's HA address given to rmq_ha_set_master */
    rmq_rem_server_t *server;
    rmq_rem_server_t *fast;   /* the "VIP channel" on listenPort - 2: same table */
    rmq_rem_client_t *client; /* NameServers; on the loop */
    rmq_broker_dispatch_t *dispatch;
    rmq_broker_txn_check_t *txn_check; /* masters: transaction check-back (txncheck.h) */
    /* shutdown (on the loop) */
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t reg_timer, offset_timer, stop_timer, final_timer;
    uv_timer_t learn_timer; /* slave: re-register every 2 s until the master is known */
    uv_prepare_t kick;      /* before each poll: this turn's puts written (SYNC_FLUSH staging)
                             * and dispatched, here or by the woken dispatcher */
    bool kicking;           /* on_kick runs: arrivals come on the loop (a kick dispatched) */
    struct arrive_s *arrived, **arrived_tail; /* those, answered once the kick returns */
    int state;
    uint64_t state_since;
    int servers_open;  /* listening servers not yet closed */
    int unreg_pending; /* UNREGISTER_BROKER answers awaited */
    /* REGISTER_BROKER per NameServer: at most one in flight; a change meanwhile sends the latest
     * table once it is answered (1,000 new groups' %RETRY% topics made 1,000 registrations of
     * the whole, growing table in flight at once: ~87 MB of request bodies; issue 15) */
    struct {
        char addr[128];
        bool inflight, again;
    } reg[16];
    int nreg;
    int exit_code;
} rmq_broker_t;

/* ---- wake-ups: reput thread -> loop --------------------------------------------------------- */

/* One allocation per wake-up: the job header first, so on_mail frees the whole block. */
typedef struct arrive_s {
    rmq_broker_job_t job;
    struct arrive_s *next; /* b->arrived */
    rmq_broker_t *b;
    int32_t qid;
    int64_t offset, tags_code;
    char topic[];
} arrive_t;

static void arrive_on_loop(void *arg) {
    arrive_t *a = arg;
    rmq_broker_hold_notify(a->b->ctx.hold, a->topic, a->qid, a->offset + 1, a->tags_code);
}

/* Reput thread, or the loop when its kick dispatched (rmq_store_kick): wake held pulls of the
 * queue, but only when there are any (the fence pairs with the one after parking in hold.c, so
 * a message dispatched while a pull parks is never missed). On the loop the pulls are answered
 * once the kick's dispatch round is over, in the same turn; from the reput thread through the
 * mailbox. */
static void on_arrive(const char *topic, int32_t qid, int64_t queue_offset, int64_t tags_code,
                      void *arg) {
    rmq_broker_t *b = arg;
    atomic_thread_fence(memory_order_seq_cst);
    if (!rmq_broker_hold_any(&b->ctx.held_count)) return;
    bool here = rmq_broker_on_loop(&b->ctx) && b->kicking;
    size_t tl = strlen(topic);
    arrive_t *a = malloc(sizeof *a + tl + 1);
    if (!a) return;
    a->b = b;
    a->qid = qid;
    a->offset = queue_offset;
    a->tags_code = tags_code;
    memcpy(a->topic, topic, tl + 1);
    a->job.fn = arrive_on_loop;
    a->job.arg = a;
    if (here) {
        a->next = NULL;
        *b->arrived_tail = a;
        b->arrived_tail = &a->next;
        return;
    }
    rmq_broker_post_job(&b->ctx, &a->job); /* frees a when the mailbox is closed */
}

/* Once per loop iteration, before the loop blocks: the puts of this iteration (sends, re-puts
 * of timers, delays and transactions, all on this thread) are written if SYNC_FLUSH staged
 * them, then wake the dispatcher once, or are dispatched here when they are few
 * (rmq_store_kick); held pulls they satisfy are answered right after. */
static void on_kick(uv_prepare_t *h) {
    rmq_broker_t *b = h->data;
    b->arrived = NULL;
    b->arrived_tail = &b->arrived;
    b->kicking = true;
    rmq_store_kick(b->ctx.env.store);
    b->kicking = false;
    while (b->arrived) {
        arrive_t *a = b->arrived;
        b->arrived = a->next;
        arrive_on_loop(a);
        free(a);
    }
    rmq_broker_dispatch_turn(b->dispatch);
}

/* ---- registration with the NameServers ------------------------------------------------------ */

typedef struct {
    rmq_broker_t *b;
    char addr[128];
    bool unregister;
} reg_ctx_t;

/* A slave learns its master from the registration reply (broker.md 10.1): masterAddr for the
 * metadata sync, haServerAddr for replication unless haMasterAddress is configured. An empty
 * answer (the master is not registered) keeps what it knew, as RocketMQ does. */
static void slave_learn_master(rmq_broker_t *b, const rmq_rem_cmd_t *resp) {
    if (b->cfg.broker_role != RMQ_ROLE_SLAVE) return;
    const char *ma = rmq_rem_cmd_get(resp, "masterAddr");
    const char *ha = rmq_rem_cmd_get(resp, "haServerAddr");
    if (ma && *ma && strcmp(ma, b->master_addr) != 0) {
        RMQ_LOG_INFO("broker", "master of %s is %s", b->cfg.broker_name, ma);
        rmq_strlcpy(b->master_addr, ma, sizeof b->master_addr);
    }
    bool fixed = b->cfg.ha.ha_master_address && *b->cfg.ha.ha_master_address;
    if (!fixed && ha && *ha && strcmp(ha, b->master_ha) != 0 && b->ctx.ha) {
        RMQ_LOG_INFO("broker", "replicating from master HA address %s", ha);
        rmq_strlcpy(b->master_ha, ha, sizeof b->master_ha);
        rmq_ha_set_master(b->ctx.ha, ha);
    }
}

/* The registration slot of NameServer addr (created; NULL when all 16 are taken: no coalescing). */
static int reg_slot(rmq_broker_t *b, const char *addr) {
    for (int i = 0; i < b->nreg; i++)
        if (!strcmp(b->reg[i].addr, addr)) return i;
    if (b->nreg == (int)(sizeof b->reg / sizeof b->reg[0])) return -1;
    rmq_strlcpy(b->reg[b->nreg].addr, addr, sizeof b->reg[0].addr);
    return b->nreg++;
}

static void register_done(rmq_broker_t *b, const char *addr);
static void on_register_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    reg_ctx_t *r = arg;
    const char *what = r->unregister ? "unregister from" : "register with";
    if (err != RMQ_OK) {
        RMQ_LOG_WARN("broker", "%s NameServer %s failed: %s", what, r->addr, rmq_strerror(err));
    } else if (resp->code != 0) {
        RMQ_LOG_WARN("broker", "%s NameServer %s refused: code %d %s", what, r->addr, resp->code,
                     resp->remark ? resp->remark : "");
    } else {
        RMQ_LOG_DEBUG("broker", "%s NameServer %s ok", what, r->addr);
        if (!r->unregister && !r->b->ctx.shutting_down && resp->body_len)
            rmq_broker_topics_update_order(r->b->ctx.topics, resp->body, resp->body_len);
        if (!r->unregister && !r->b->ctx.shutting_down) slave_learn_master(r->b, resp);
    }
    if (r->unregister) r->b->unreg_pending--;
    rmq_rem_cmd_destroy(resp);
    if (!r->unregister) register_done(r->b, r->addr);
    free(r);
}

/* Calls fn(addr) for each NameServer in "a;b;c". */
static void each_namesrv(rmq_broker_t *b, void (*fn)(rmq_broker_t *b, const char *addr, void *arg),
                         void *arg) {
    const char *s = b->cfg.namesrv_addr;
    if (!s) return;
    while (*s) {
        const char *e = strchr(s, ';');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char addr[128];
        if (n > 0 && n < sizeof addr) {
            memcpy(addr, s, n);
            addr[n] = 0;
            char *t = addr;
            while (*t == ' ') t++;
            size_t tl = strlen(t);
            while (tl && t[tl - 1] == ' ') t[--tl] = 0;
            if (*t) fn(b, t, arg);
        }
        if (!e) break;
        s = e + 1;
    }
}

/* A REGISTER_BROKER / UNREGISTER_BROKER request to addr with the broker's header and its
 * answer's context (*r). NULL (nothing allocated) on OOM. */
static rmq_rem_cmd_t *namesrv_request(rmq_broker_t *b, const char *addr, bool unregister,
                                      reg_ctx_t **r) {
    rmq_rem_cmd_t *req =
        rmq_rem_cmd_new_request(unregister ? RMQ_REQ_UNREGISTER_BROKER : RMQ_REQ_REGISTER_BROKER);
    *r = calloc(1, sizeof **r);
    if (!req || !*r) {
        rmq_rem_cmd_destroy(req);
        free(*r);
        return NULL;
    }
    req->language = RMQ_LANG_JAVA;
    rmq_rem_cmd_set(req, "brokerName", b->cfg.broker_name);
    rmq_rem_cmd_set(req, "brokerAddr", b->addr);
    rmq_rem_cmd_set(req, "clusterName", b->cfg.broker_cluster_name);
    rmq_rem_cmd_set_i64(req, "brokerId", b->cfg.broker_id);
    (*r)->b = b;
    (*r)->unregister = unregister;
    rmq_strlcpy((*r)->addr, addr, sizeof(*r)->addr);
    return req;
}

static void register_one(rmq_broker_t *b, const char *addr, void *arg) {
    const char *body = arg;
    int slot = reg_slot(b, addr);
    if (slot >= 0 && b->reg[slot].inflight) {
        b->reg[slot].again = true; /* sent when the one in flight is answered */
        return;
    }
    reg_ctx_t *r;
    rmq_rem_cmd_t *req = namesrv_request(b, addr, false, &r);
    if (!req) return;
    rmq_rem_cmd_set(req, "haServerAddr", b->ha_addr);
    rmq_rem_cmd_set_bool(req, "compressed", false);
    size_t len = strlen(body);
    rmq_rem_cmd_set_i64(req, "bodyCrc32", (int64_t)(rmq_crc32(0, body, len) & 0x7FFFFFFF));
    rmq_rem_cmd_set_body_copy(req, body, len);
    if (rmq_rem_client_invoke_async(b->client, addr, req, b->cfg.register_broker_timeout_mills,
                                    on_register_resp, r) != RMQ_OK) {
        RMQ_LOG_WARN("broker", "register with NameServer %s: cannot send", addr);
        free(r);
    } else if (slot >= 0) {
        b->reg[slot].inflight = true;
    }
}

/* RegisterBrokerBody: {"topicConfigSerializeWrapper": {...}, "filterServerList": []}. When the
 * broker itself is not read+write every topic is reported with the broker's permission. */
static char *register_body(rmq_broker_t *b) {
    char *wrapper = rmq_broker_topics_wrapper_json(b->ctx.topics);
    if (!wrapper) return NULL;
    json_t *w = json_loads(wrapper, 0, NULL);
    free(wrapper);
    if (!w) return NULL;
    int bp = b->cfg.broker_permission;
    if ((bp & (RMQ_PERM_READ | RMQ_PERM_WRITE)) != (RMQ_PERM_READ | RMQ_PERM_WRITE)) {
        json_t *table = json_object_get(w, "topicConfigTable");
        const char *k;
        json_t *v;
        json_object_foreach(table, k, v) json_object_set_new(v, "perm", json_integer(bp));
    }
    json_t *root = json_object();
    json_object_set_new(root, "filterServerList", json_array());
    json_object_set_new(root, "topicConfigSerializeWrapper", w);
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    return s;
}

/* Register with every NameServer now (async). */
static void register_all(rmq_broker_t *b) {
    if (b->ctx.shutting_down || !b->client || !b->cfg.namesrv_addr || !*b->cfg.namesrv_addr) return;
    char *body = register_body(b);
    if (!body) {
        RMQ_LOG_WARN("broker", "cannot build the registration body");
        return;
    }
    each_namesrv(b, register_one, body);
    free(body);
}

/* A registration with addr was answered (or failed): send the latest table if it changed. */
static void register_done(rmq_broker_t *b, const char *addr) {
    int slot = reg_slot(b, addr);
    if (slot < 0) return;
    b->reg[slot].inflight = false;
    if (!b->reg[slot].again) return;
    b->reg[slot].again = false;
    if (b->ctx.shutting_down) return;
    char *body = register_body(b);
    if (!body) {
        RMQ_LOG_WARN("broker", "cannot build the registration body");
        return;
    }
    register_one(b, addr, body);
    free(body);
}

static void unregister_one(rmq_broker_t *b, const char *addr, void *arg) {
    reg_ctx_t *r;
    rmq_rem_cmd_t *req = namesrv_request(b, addr, true, &r);
    if (!req) return;
    b->unreg_pending++;
    if (rmq_rem_client_invoke_async(b->client, addr, req, 3000, on_register_resp, r) != RMQ_OK) {
        b->unreg_pending--;
        free(r);
    }
}

/* ---- start-up ------------------------------------------------------------------------------ */

static int mkdirs(const char *path) {
    char buf[1024];
    rmq_strlcpy(buf, path, sizeof buf);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

/* ---- metrics hooks (metrics.h): what only this file sees ---------------------------------- */

static void metrics_rpc_one(const rmq_broker_route_t *r, const rmq_broker_code_stats_t *st,
                            void *arg) {
    rmq_broker_metrics_rpc_sample(arg, r->name, st->requests, st->errors, st->lat_total_us,
                                  st->lat_log2, RMQ_BROKER_LAT_BUCKETS);
}

static void metrics_rpc(rmq_broker_metrics_scrape_t *sc, void *arg) {
    rmq_broker_t *b = arg;
    if (b->dispatch) rmq_broker_dispatch_each(b->dispatch, metrics_rpc_one, sc);
}

static void metrics_conns(rmq_broker_metrics_scrape_t *sc, void *arg) {
    rmq_broker_t *b = arg;
    if (b->server) rmq_broker_metrics_conn_sample(sc, "main", rmq_rem_server_conn_count(b->server));
    if (b->fast) rmq_broker_metrics_conn_sample(sc, "fast", rmq_rem_server_conn_count(b->fast));
}

static int64_t metrics_timer_backlog(void *arg) {
    rmq_broker_t *b = arg;
    if (!b->ctx.timer) return -1;
    rmq_broker_timer_stats_t ts;
    rmq_broker_timer_stats(b->ctx.timer, &ts);
    return ts.backlog;
}

static int64_t metrics_delay_backlog(void *arg) {
    rmq_broker_t *b = arg;
    return rmq_broker_schedule_backlog(b->ctx.schedule);
}

/* ---- shutdown state machine ---------------------------------------------------------------- */

static void on_server_closed(void *arg) {
    rmq_broker_t *b = arg;
    b->servers_open--;
}

static void close_handle(uv_handle_t *h) {
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_mailbox_closed(uv_handle_t *h) {
    (void)h;
}

static void walk_close(uv_handle_t *h, void *arg) {
    if (!uv_is_closing(h)) {
        RMQ_LOG_DEBUG("broker", "closing a leftover %s handle", uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

static void on_final_timer(uv_timer_t *t) {
    uv_walk(t->loop, walk_close, NULL);
}

static void finish(rmq_broker_t *b) {
    rmq_broker_ctx_t *x = &b->ctx;
    b->state = ST_DONE;
    rmq_rem_client_destroy(b->client); /* on our loop: returns before its handles finish */
    b->client = NULL;
    rmq_map_fini(&x->txn_recent, NULL);
    rmq_broker_schedule_close(x->schedule); /* persists delayOffset.json; before the store */
    x->schedule = NULL;
    rmq_broker_timer_close(x->timer); /* flushes the timer files; before the store */
    x->timer = NULL;
    rmq_broker_offsets_close(x->offsets);
    x->offsets = NULL;
    rmq_broker_subgroups_close(x->subgroups);
    x->subgroups = NULL;
    rmq_broker_topics_close(x->topics);
    x->topics = NULL;
    /* HA before the store it reads or appends to: pending SYNC_MASTER waits complete with
     * FLUSH_SLAVE_TIMEOUT through the mailbox, drained below. */
    rmq_ha_shutdown(x->ha);
    x->ha = NULL;
    close_handle((uv_handle_t *)&b->kick); /* stops it: the store goes next */
    /* The store last: its threads may still post (arrive); the mailbox drains them below. */
    rmq_store_close(x->env.store);
    x->env.store = NULL;
    rmq_mailbox_close(&x->mailbox, on_mailbox_closed);
    close_handle((uv_handle_t *)&b->sigterm);
    close_handle((uv_handle_t *)&b->sigint);
    close_handle((uv_handle_t *)&b->sighup);
    close_handle((uv_handle_t *)&b->reg_timer);
    close_handle((uv_handle_t *)&b->offset_timer);
    close_handle((uv_handle_t *)&b->stop_timer);
    close_handle((uv_handle_t *)&b->learn_timer);
    rmq_acl_watch_stop(x->acl);
    x->acl = NULL;
    /* Safety net, not keeping the loop alive by itself: a handle some manager forgot to close
     * must not keep the process from exiting. */
    uv_timer_init(&b->loop, &b->final_timer);
    b->final_timer.data = b;
    uv_timer_start(&b->final_timer, on_final_timer, 2000, 0);
    uv_unref((uv_handle_t *)&b->final_timer);
    RMQ_LOG_INFO("broker", "shutdown complete");
}

static void on_stop_tick(uv_timer_t *t) {
    rmq_broker_t *b = t->data;
    rmq_broker_ctx_t *x = &b->ctx;
    uint64_t waited = rmq_mono_ms() - b->state_since;
    if (b->state == ST_DRAIN) {
        int n = x->inflight_puts;
        /* SYNC_FLUSH and SYNC_MASTER replies each end by their own timeout */
        int limit = RMQ_MAX(b->cfg.store.sync_flush_timeout, b->cfg.ha.slave_timeout) + 1000;
        if (n > 0 && waited < (uint64_t)limit) return;
        if (n > 0) RMQ_LOG_WARN("broker", "shutdown: %d SYNC_FLUSH/SYNC_MASTER replies pending", n);
        /* Persist what the clients told us, then leave the NameServers. */
        rmq_broker_offsets_persist(x->offsets);
        if (b->fast) {
            rmq_rem_server_close(b->fast, on_server_closed, b);
            b->fast = NULL;
        }
        if (b->server) {
            rmq_rem_server_close(b->server, on_server_closed, b);
            b->server = NULL;
        }
        rmq_broker_stats_close(x->stats);
        x->stats = NULL;
        rmq_broker_bstats_destroy(x->bstats);
        x->bstats = NULL;
        rmq_broker_clients_close(x->clients);
        x->clients = NULL; /* connections closing from now on find no channel */
        each_namesrv(b, unregister_one, NULL);
        b->state = ST_UNREG;
        b->state_since = rmq_mono_ms();
        return;
    }
    if (b->state == ST_UNREG) {
        if ((b->unreg_pending > 0 || b->servers_open > 0) && waited < 3000) return;
        uv_timer_stop(t);
        finish(b);
    }
}

static void begin_shutdown(rmq_broker_t *b, const char *why) {
    if (b->state != ST_RUNNING) return;
    RMQ_LOG_INFO("broker", "%s: shutting down", why);
    b->ctx.shutting_down = true;
    b->state = ST_DRAIN;
    b->state_since = rmq_mono_ms();
    uv_timer_stop(&b->reg_timer);
    uv_timer_stop(&b->offset_timer);
    uv_timer_stop(&b->learn_timer);
    rmq_broker_slave_sync_close(b->ctx.slave_sync); /* applies nothing from now on */
    b->ctx.slave_sync = NULL;
    rmq_broker_hold_close(b->ctx.hold); /* answers every held pull now */
    b->ctx.hold = NULL;
    rmq_broker_metrics_close(b->ctx.metrics); /* reads the managers closed from here on */
    b->ctx.metrics = NULL;
    rmq_broker_txn_check_shutdown(b->txn_check); /* before clients, offsets and the store */
    b->txn_check = NULL;
    uv_timer_start(&b->stop_timer, on_stop_tick, 0, 10);
}

/* SIGHUP: logrotate rotated the log file; reopen it by name and keep serving. */
static void on_sighup(uv_signal_t *s, int signum) {
    if (rmq_log_reopen() != 0)
        RMQ_LOG_WARN("broker", "SIGHUP: cannot reopen the log file; still writing the old one");
    else
        RMQ_LOG_INFO("broker", "SIGHUP: log file reopened");
}

static void on_signal(uv_signal_t *s, int signum) {
    begin_shutdown(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_reg_timer(uv_timer_t *t) {
    register_all(t->data);
}

/* A slave that registered before its master did learns nothing from that reply; rather than
 * wait for the next periodic registration (30 s) it asks again every 2 s until it knows the
 * master's address (and its HA address, unless haMasterAddress is set). */
static void on_learn_timer(uv_timer_t *t) {
    rmq_broker_t *b = t->data;
    bool fixed = b->cfg.ha.ha_master_address && *b->cfg.ha.ha_master_address;
    if (b->master_addr[0] && (fixed || b->master_ha[0])) {
        uv_timer_stop(t);
        return;
    }
    register_all(b);
}

static void on_offset_timer(uv_timer_t *t) {
    rmq_broker_t *b = t->data;
    rmq_broker_offsets_persist_bg(b->ctx.offsets);
}

/* ---- hooks the managers call upward ------------------------------------------------------- */

/* UPDATE_BROKER_CONFIG applied key (brokercfg.c): make it take effect now. */
static void on_config_changed(rmq_broker_ctx_t *x, const char *key) {
    rmq_broker_t *b = (rmq_broker_t *)x;
    if (!strcmp(key, "brokerPermission")) {
        register_all(b); /* the NameServers publish the new permission */
    } else if (!strcmp(key, "logLevel")) {
        rmq_log_set_level((rmq_log_lvl_t)rmq_log_level_parse(b->cfg.log_level));
    } else if (!strcmp(key, "fileReservedTime") || !strcmp(key, "deleteWhen") ||
               !strcmp(key, "diskMaxUsedSpaceRatio") || !strcmp(key, "flushIntervalCommitLog")) {
        if (rmq_store_set_tunables(x->env.store, &b->cfg.store) != RMQ_OK)
            RMQ_LOG_ERROR("broker", "%s: the store did not take the new value (out of memory)",
                          key);
    }
}

static void on_conn_closed(rmq_rem_conn_t *c, void *arg) {
    rmq_broker_t *b = arg;
    rmq_broker_clients_on_conn_close(b->ctx.clients, c);
}

/* The topic table changed: the NameServers must learn it. */
static void on_topics_changed(void *arg) {
    register_all(arg);
}

/* DELETE_SUBSCRIPTIONGROUP with removeOffset. */
static void on_group_dropped(const char *group, void *arg) {
    rmq_broker_t *b = arg;
    rmq_broker_offsets_remove_group(b->ctx.offsets, group);
}

static bool port_bindable(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static rmq_err_t parse_store_host(rmq_broker_t *b) {
    struct in_addr a4;
    struct in6_addr a6;
    rmq_msg_host_t *h = &b->ctx.env.store_host;
    memset(h, 0, sizeof *h);
    h->port = b->cfg.listen_port;
    if (inet_pton(AF_INET, b->cfg.broker_ip1, &a4) == 1) {
        memcpy(h->ip, &a4, 4);
        h->ip_len = 4;
    } else if (inet_pton(AF_INET6, b->cfg.broker_ip1, &a6) == 1) {
        memcpy(h->ip, &a6, 16);
        h->ip_len = 16;
    } else {
        RMQ_LOG_ERROR("broker", "brokerIP1 '%s' is not an IP address", b->cfg.broker_ip1);
        return RMQ_ERR__CONFIG;
    }
    snprintf(b->addr, sizeof b->addr, "%s:%d", b->cfg.broker_ip1, b->cfg.listen_port);
    snprintf(b->ha_addr, sizeof b->ha_addr, "%s:%d", b->cfg.broker_ip2, b->cfg.ha.ha_listen_port);
    return RMQ_OK;
}

/* Open the managers in dependency order, each with its narrow context and hooks. */
static rmq_err_t open_managers(rmq_broker_t *b) {
    rmq_broker_ctx_t *x = &b->ctx;
    const rmq_broker_env_t *env = &x->env;
    rmq_err_t err;
    if ((err = rmq_broker_topics_open(env, on_topics_changed, b, &x->topics)) != RMQ_OK ||
        (err = rmq_broker_offsets_open(env, &x->offsets)) != RMQ_OK ||
        (err = rmq_broker_subgroups_open(env, on_group_dropped, b, &x->subgroups)) != RMQ_OK ||
        (err = rmq_broker_clients_open(env, x->topics, x->subgroups, &x->clients)) != RMQ_OK ||
        (err = rmq_broker_hold_open(env, &x->held_count, rmq_broker_pull_rerun, x, &x->hold)) !=
            RMQ_OK ||
        (err = rmq_broker_schedule_open(env, &x->shutting_down, &x->schedule)) != RMQ_OK ||
        (err = rmq_broker_timer_open(env, &x->shutting_down, &x->timer)) != RMQ_OK)
        return err;
    rmq_broker_stats_open(env, &x->stats);
    if (!(x->bstats = rmq_broker_bstats_new()))
        RMQ_LOG_WARN("broker", "no memory for the statsAll counters: VIEW_BROKER_STATS_DATA empty");
    return RMQ_OK;
}

/* A listening server with the request table and the connection-close hook. */
static rmq_err_t new_server(rmq_broker_t *b, const rmq_rem_server_cfg_t *scfg,
                            rmq_rem_server_t **out) {
    if (rmq_rem_server_new(&b->loop, scfg, out) != RMQ_OK) return RMQ_ERR__FAIL;
    rmq_rem_server_on_close(*out, on_conn_closed, b);
    rmq_broker_dispatch_attach(b->dispatch, *out);
    return RMQ_OK;
}

/* ---- HA (broker/ha on its own thread) ------------------------------------------------------ */

/* A SYNC_MASTER completion carried to the loop. */
typedef struct {
    rmq_broker_job_t job;
    rmq_ha_wait_cb cb;
    rmq_err_t st;
    void *arg;
} ha_done_t;

static void ha_done_on_loop(void *arg) {
    ha_done_t *d = arg;
    d->cb(d->st, d->arg);
}

/* rmq_ha_deliver_fn: the HA thread (or the loop itself, for an offset already acknowledged)
 * hands a completion over; it runs on the loop like SYNC_FLUSH completions. */
static void ha_deliver(rmq_ha_wait_cb cb, rmq_err_t st, void *arg, void *deliver_arg) {
    rmq_broker_t *b = deliver_arg;
    if (rmq_broker_on_loop(&b->ctx)) {
        cb(st, arg);
        return;
    }
    ha_done_t *d = malloc(sizeof *d);
    if (!d) {
        RMQ_LOG_WARN("broker", "a SYNC_MASTER reply was lost: out of memory");
        return;
    }
    d->job.fn = ha_done_on_loop;
    d->job.arg = d;
    d->cb = cb;
    d->st = st;
    d->arg = arg;
    if (!rmq_broker_post_job(&b->ctx, &d->job))
        RMQ_LOG_WARN("broker", "a SYNC_MASTER reply was lost: the broker is shutting down");
}

/* Masters serve slaves on haListenPort; a slave replicates from haMasterAddress or from what
 * the NameServer tells it. A SYNC_MASTER or SLAVE that cannot start HA does not start; an
 * ASYNC_MASTER goes on alone with a WARN (it did before HA existed). */
static bool start_ha(rmq_broker_t *b) {
    bool slave = b->cfg.broker_role == RMQ_ROLE_SLAVE;
    b->cfg.ha.tls = &b->cfg.tls; /* master: tls.server.mode; slave: tls.enable */
    rmq_err_t err = rmq_ha_start(&b->cfg.ha, b->ctx.env.store, slave ? RMQ_HA_SLAVE : RMQ_HA_MASTER,
                                 ha_deliver, b, &b->ctx.ha);
    if (err == RMQ_OK) {
        if (slave)
            RMQ_LOG_INFO("broker", "slave of %s: replicating from %s", b->cfg.broker_name,
                         b->cfg.ha.ha_master_address && *b->cfg.ha.ha_master_address
                             ? b->cfg.ha.ha_master_address
                             : "the master the NameServer names");
        else
            RMQ_LOG_INFO("broker", "HA: serving slaves on port %d", rmq_ha_port(b->ctx.ha));
        return true;
    }
    b->ctx.ha = NULL;
    if (b->cfg.broker_role == RMQ_ROLE_ASYNC_MASTER) {
        RMQ_LOG_WARN("broker",
                     "HA port %d unavailable (%s): no slave can replicate from this "
                     "ASYNC_MASTER",
                     b->cfg.ha.ha_listen_port, rmq_strerror(err));
        return true;
    }
    RMQ_LOG_ERROR("broker", "cannot start HA (%s, haListenPort %d): a %s needs it",
                  rmq_strerror(err), b->cfg.ha.ha_listen_port,
                  rmq_broker_role_names[b->cfg.broker_role]);
    return false;
}

/* Everything up to the loop; false (logged) when the broker cannot start. */
static bool start(rmq_broker_t *b) {
    rmq_broker_ctx_t *x = &b->ctx;
    if (uv_loop_init(&b->loop) != 0) return false;
    x->env.cfg = &b->cfg;
    x->env.loop = &b->loop;
    x->env.config_dir = b->config_dir;
    x->env.start_ms = rmq_now_ms();
    if (parse_store_host(b) != RMQ_OK) return false;
    snprintf(b->config_dir, sizeof b->config_dir, "%s/config", b->cfg.store.store_path_root_dir);
    int rc = mkdirs(b->config_dir);
    if (rc) {
        RMQ_LOG_ERROR("broker", "cannot create %s: %s", b->config_dir, strerror(-rc));
        return false;
    }
    RMQ_LOG_INFO("broker", "starting %s (cluster %s, id %" PRId64 ", %s, %s) at %s, store %s",
                 b->cfg.broker_name, b->cfg.broker_cluster_name, b->cfg.broker_id,
                 rmq_broker_role_names[b->cfg.broker_role],
                 rmq_store_flush_names[b->cfg.store.flush_disk_type], b->addr,
                 b->cfg.store.store_path_root_dir);

    if (rmq_broker_ctx_init(x, &b->loop) != 0) return false;
    rmq_err_t err = rmq_store_open(&b->cfg.store, &x->env.store);
    if (err != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot open the store at %s: %s", b->cfg.store.store_path_root_dir,
                      rmq_strerror(err));
        return false;
    }
    rmq_store_set_arrive_cb(x->env.store, on_arrive, b);

    rmq_rem_client_cfg_t ccfg = {.max_frame = (size_t)b->cfg.max_frame_length,
                                 .connect_timeout_ms = 3000,
                                 .name = "broker-out",
                                 .tls = &b->cfg.tls,
                                 .access_key = b->cfg.access_key,
                                 .secret_key = b->cfg.secret_key};
    if (rmq_rem_client_new(&b->loop, &ccfg, &b->client) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot create the remoting client");
        return false;
    }
    if ((err = open_managers(b)) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot load the broker's configuration files in %s: %s",
                      b->config_dir, rmq_strerror(err));
        return false;
    }
    b->dispatch = rmq_broker_dispatch_new(x);
    if (!b->dispatch) return false;
    x->cfg_rw = &b->cfg;
    x->config_changed = on_config_changed;
    if (b->cfg.acl_enable) {
        char path[4096], e[512];
        rmq_acl_file_path(b->cfg.rocketmq_home, b->cfg.acl_file, path, sizeof path);
        if (rmq_acl_watch_start(&b->loop, path, 2000, &x->acl, e, sizeof e) != RMQ_OK) {
            RMQ_LOG_ERROR("broker", "aclEnable=true but the ACL file cannot be used: %s", e);
            return false;
        }
    }

    rmq_rem_server_cfg_t scfg = {.host = b->cfg.bind_address ? b->cfg.bind_address : "0.0.0.0",
                                 .port = b->cfg.listen_port,
                                 .max_frame = (size_t)b->cfg.max_frame_length,
                                 .idle_ms = b->cfg.server_channel_max_idle_seconds * 1000,
                                 .name = "broker",
                                 .tls = &b->cfg.tls};
    if (new_server(b, &scfg, &b->server) != RMQ_OK) return false;
    /* The fast ("VIP") port, listenPort - 2, serves every code too (protocol.md 7.1): clients
     * up to 4.4 send there by default. Not fatal when it cannot be had. */
    if (b->cfg.listen_port > 2) {
        scfg.port = b->cfg.listen_port - 2;
        scfg.name = "broker-fast";
        if (new_server(b, &scfg, &b->fast) != RMQ_OK) b->fast = NULL;
    }
    if ((err = rmq_store_start(x->env.store)) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot start the store: %s", rmq_strerror(err));
        return false;
    }
    rmq_store_kick_attach(x->env.store);
    uv_prepare_init(&b->loop, &b->kick);
    b->kick.data = b;
    uv_prepare_start(&b->kick, on_kick);
    uv_unref((uv_handle_t *)&b->kick); /* never keeps the loop alive by itself */
    if (!start_ha(b)) return false;
    rmq_broker_metrics_hooks_t mh = {.rpc = metrics_rpc,
                                     .conns = metrics_conns,
                                     .delay_backlog = metrics_delay_backlog,
                                     .timer_backlog = metrics_timer_backlog,
                                     .arg = b};
    if (rmq_broker_metrics_open(x, &mh, &x->metrics) != RMQ_OK) return false;
    if (b->cfg.broker_role == RMQ_ROLE_SLAVE) {
        rmq_broker_slave_deps_t deps = {.client = b->client,
                                        .master_addr = b->master_addr,
                                        .topics = x->topics,
                                        .offsets = x->offsets,
                                        .subgroups = x->subgroups,
                                        .schedule = x->schedule};
        if (rmq_broker_slave_sync_start(&x->env, &deps, &x->slave_sync) != RMQ_OK) return false;
    }
    if (rmq_rem_server_start(b->server) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot listen on port %d", b->cfg.listen_port);
        rmq_store_close(x->env.store);
        return false;
    }
    b->servers_open = 1;
    if (b->fast) {
        /* Probe first: a taken fast port is worth a WARN, not the ERROR the server would log. */
        if (port_bindable(b->cfg.listen_port - 2) && rmq_rem_server_start(b->fast) == RMQ_OK) {
            b->servers_open++;
        } else {
            RMQ_LOG_WARN("broker", "fast port %d unavailable; serving on %d only",
                         b->cfg.listen_port - 2, b->cfg.listen_port);
            rmq_rem_server_close(b->fast, NULL, NULL);
            b->fast = NULL;
        }
    }

    uv_signal_init(&b->loop, &b->sigterm);
    uv_signal_init(&b->loop, &b->sigint);
    b->sigterm.data = b->sigint.data = b;
    uv_signal_start(&b->sigterm, on_signal, SIGTERM);
    uv_signal_start(&b->sigint, on_signal, SIGINT);
    uv_signal_init(&b->loop, &b->sighup);
    b->sighup.data = b;
    uv_signal_start(&b->sighup, on_sighup, SIGHUP);
    uv_timer_init(&b->loop, &b->reg_timer);
    uv_timer_init(&b->loop, &b->offset_timer);
    uv_timer_init(&b->loop, &b->stop_timer);
    b->reg_timer.data = b->offset_timer.data = b->stop_timer.data = b;
    int period = RMQ_MAX(10000, RMQ_MIN(60000, b->cfg.register_name_server_period));
    uv_timer_start(&b->reg_timer, on_reg_timer, (uint64_t)period, (uint64_t)period);
    uv_timer_start(&b->offset_timer, on_offset_timer, 10000,
                   (uint64_t)b->cfg.flush_consumer_offset_interval);
    uv_timer_init(&b->loop, &b->learn_timer);
    b->learn_timer.data = b;
    if (b->cfg.broker_role == RMQ_ROLE_SLAVE)
        uv_timer_start(&b->learn_timer, on_learn_timer, 2000, 2000);
    if (b->cfg.broker_role != RMQ_ROLE_SLAVE &&
        rmq_broker_txn_check_start(&x->env, x->offsets, x->topics, x->clients, &b->txn_check) !=
            RMQ_OK)
        RMQ_LOG_WARN("broker", "transaction check-back not started");
    register_all(b);
    /* RocketMQ's exact start-up line: runbooks and start scripts grep for "boot success". */
    RMQ_LOG_INFO("broker",
                 "The broker[%s, %s] boot success. serializeType=JSON and name server is %s",
                 b->cfg.broker_name, b->addr,
                 b->cfg.namesrv_addr && *b->cfg.namesrv_addr ? b->cfg.namesrv_addr : "null");
    return true;
}

int rmq_broker_run(rmq_broker_cfg_t *cfg) {
    signal(SIGPIPE, SIG_IGN);
    rmq_broker_t *b = calloc(1, sizeof *b);
    if (!b) return 1;
    b->cfg = *cfg; /* takes the strings */
    /* A failed start exits the process at once (main returns), as before: what was opened is
     * left to the exit. */
    if (!start(b)) return 1;
    uv_run(&b->loop, UV_RUN_DEFAULT);
    /* Only unreferenced handles are left (the safety timer): close them and let them finish. */
    uv_walk(&b->loop, walk_close, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&b->loop) != 0) RMQ_LOG_WARN("broker", "loop closed with handles open");
    rmq_broker_dispatch_destroy(b->dispatch);
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &b->cfg);
    int code = b->exit_code;
    free(b);
    return code;
}
