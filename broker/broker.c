/* The broker's life: configuration table, start-up, the loop, the mailbox from store threads,
 * signals, timers, registration with the NameServers, and an orderly shutdown.
 *
 * Everything runs on one libuv loop (see broker.h). Store threads reach it only through the
 * mailbox: the reput thread's arrive callback (wakes held pulls) and the flush thread's
 * SYNC_FLUSH completions (send.c). Shutdown on SIGTERM/SIGINT is a small state machine driven
 * by a timer so that it can wait for in-flight completions and NameServer answers without
 * blocking the loop:
 *   DRAIN   held pulls answered, new sends refused, wait for SYNC_FLUSH completions
 *   UNREG   server closed, managers persisted, UNREGISTER_BROKER sent, wait for the answers
 *   DONE    store closed, handles closed, the loop ends and rmq_broker_run returns 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "broker/internal.h"
#include "common/log.h"
#include "common/util.h"

static const char *const role_names[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE", NULL};

#define C rmq_broker_cfg_t
const rmq_kv_def_t rmq_broker_cfg_defs[] = {
    RMQ_KV_STR("brokerClusterName", C, broker_cluster_name, "DefaultCluster", "cluster name"),
    RMQ_KV_STR("brokerName", C, broker_name, NULL, "broker set name (default: host name)"),
    RMQ_KV_I64("brokerId", C, broker_id, 0, 0, 1LL << 40, "0 = master, > 0 = slave"),
    RMQ_KV_STR("namesrvAddr", C, namesrv_addr, NULL, "NameServers, host:port;host:port"),
    RMQ_KV_INT("listenPort", C, listen_port, 10911, 1, 65535, "remoting port"),
    RMQ_KV_STR("brokerIP1", C, broker_ip1, NULL,
               "advertised address and store host (default: first non-loopback IPv4)"),
    RMQ_KV_STR("brokerIP2", C, broker_ip2, NULL, "HA address advertised to slaves (= brokerIP1)"),
    RMQ_KV_INT("haListenPort", C, ha_listen_port, 10912, 1, 65535,
               "HA port (always listenPort + 1, as RocketMQ 4.9)"),
    RMQ_KV_ENUM("brokerRole", C, broker_role, 0, role_names, "ASYNC_MASTER, SYNC_MASTER or SLAVE"),
    RMQ_KV_INT("brokerPermission", C, broker_permission, 6, 0, 7,
               "6 rw, 4 read-only, 2 write-only"),
    RMQ_KV_BOOL("autoCreateTopicEnable", C, auto_create_topic_enable, 1,
                "create TBW102 and topics on first send"),
    RMQ_KV_INT("defaultTopicQueueNums", C, default_topic_queue_nums, 8, 1, 1024,
               "queues of TBW102"),
    RMQ_KV_BOOL("autoCreateSubscriptionGroup", C, auto_create_subscription_group, 1,
                "create unknown consumer groups on first use"),
    RMQ_KV_STR("regionId", C, region_id, "DefaultRegion", "echoed as MSG_REGION in send replies"),
    RMQ_KV_BOOL("traceOn", C, trace_on, 1, "echoed as TRACE_ON in send replies"),
    RMQ_KV_BOOL("longPollingEnable", C, long_polling_enable, 1,
                "hold pulls up to suspendTimeoutMillis"),
    RMQ_KV_INT("shortPollingTimeMills", C, short_polling_time_mills, 1000, 1, 3600000,
               "hold time when long polling is off, ms"),
    RMQ_KV_INT("registerNameServerPeriod", C, register_name_server_period, 30000, 1000, 3600000,
               "NameServer registration period, ms (clamped to 10-60 s)"),
    RMQ_KV_INT("registerBrokerTimeoutMills", C, register_broker_timeout_mills, 6000, 100,
               3600000, "registration request timeout, ms"),
    RMQ_KV_INT("flushConsumerOffsetInterval", C, flush_consumer_offset_interval, 5000, 100,
               3600000, "consumerOffset.json persist interval, ms"),
    RMQ_KV_INT("channelExpiredTimeout", C, client_channel_expired_ms, 120000, 1000, 86400000,
               "close client channels silent this long, ms"),
    RMQ_KV_INT("serverChannelMaxIdleTimeSeconds", C, server_channel_max_idle_seconds, 120, 0,
               86400, "close idle connections after this many seconds (0 never)"),
    RMQ_KV_INT("frameMaxLength", C, max_frame_length, 16777216, 1024, 1 << 30,
               "largest remoting frame accepted, bytes"),
    RMQ_KV_BOOL("rejectTransactionMessage", C, reject_transaction_message, 0,
                "refuse transactional (half) messages"),
    RMQ_KV_BOOL("notifyConsumerIdsChangedEnable", C, notify_consumer_ids_changed_enable, 1,
                "tell consumers when their group changes"),
    RMQ_KV_BOOL("offsetCheckInSlave", C, offset_check_in_slave, 0,
                "correct pull offsets on a slave too"),
    RMQ_KV_STR("messageDelayLevel", C, message_delay_level,
               "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", "delay levels"),
    RMQ_KV_INT("maxTopicLength", C, max_topic_length, 127, 1, 127, "longest topic name"),
    RMQ_KV_STR("logFile", C, log_file, NULL, "log file (stderr is always written)"),
    RMQ_KV_STR("logLevel", C, log_level, "INFO", "ERROR, WARN, INFO or DEBUG"),
    RMQ_STORE_CFG_KV(C, store),
};
#undef C
const size_t rmq_broker_cfg_ndefs = RMQ_ARRAY_LEN(rmq_broker_cfg_defs);

/* ---- small shared helpers ------------------------------------------------------------------ */

static pthread_t loop_thread;

bool rmq_broker_on_loop(const rmq_broker_t *b) {
    return pthread_equal(pthread_self(), loop_thread);
}

uint32_t rmq_broker_rand(void) {
    static _Atomic uint64_t state = 0;
    uint64_t s = atomic_load(&state);
    if (s == 0) s = (uint64_t)rmq_mono_us() * 6364136223846793005ULL + (uint64_t)getpid();
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    atomic_store(&state, s);
    return (uint32_t)(s >> 33);
}

rmq_rem_cmd_t *rmq_broker_err(const rmq_rem_cmd_t *req, int code, const char *fmt, ...) {
    char remark[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof remark, fmt, ap);
    va_end(ap);
    return rmq_rem_cmd_new_response(req, code, remark);
}

void rmq_broker_peer_host(rmq_rem_conn_t *c, rmq_msg_host_t *h) {
    memset(h, 0, sizeof *h);
    uint32_t ip;
    uint16_t port;
    if (rmq_rem_conn_peer_v4(c, &ip, &port)) {
        memcpy(h->ip, &ip, 4); /* network order = the stored big-endian bytes */
        h->ip_len = 4;
        h->port = port;
        return;
    }
    /* IPv6 peer "[addr]:port" or "addr:port": keep 16 bytes, or 4 when IPv4-mapped. */
    const char *p = rmq_rem_conn_peer(c);
    char buf[128];
    rmq_strlcpy(buf, p ? p : "", sizeof buf);
    char *colon = strrchr(buf, ':');
    h->ip_len = 4;
    if (!colon) return;
    *colon = 0;
    h->port = atoi(colon + 1);
    char *a = buf;
    if (*a == '[') {
        a++;
        char *e = strchr(a, ']');
        if (e) *e = 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, a, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(h->ip, &a6.s6_addr[12], 4);
        } else {
            memcpy(h->ip, a6.s6_addr, 16);
            h->ip_len = 16;
        }
    }
}

static _Atomic int inflight_puts;
void rmq_broker_inflight_add(rmq_broker_t *b, int delta) {
    atomic_fetch_add(&inflight_puts, delta);
}

/* ---- mailbox: store threads -> loop --------------------------------------------------------- */

typedef struct {
    rmq_mbox_node_t node;
    void (*fn)(void *arg);
    void *arg;
} job_t;

static void on_mail(rmq_mbox_node_t *node, void *arg) {
    job_t *j = (job_t *)node;
    j->fn(j->arg);
    free(j);
}

bool rmq_broker_run_on_loop(rmq_broker_t *b, void (*fn)(void *arg), void *arg) {
    job_t *j = malloc(sizeof *j);
    if (!j) return false;
    j->node.next = NULL;
    j->fn = fn;
    j->arg = arg;
    if (!rmq_mailbox_post(&b->mailbox, &j->node)) {
        free(j);
        return false;
    }
    return true;
}

/* One allocation per wake-up: the job header first, so on_mail frees the whole block. */
typedef struct {
    job_t job;
    rmq_broker_t *b;
    int32_t qid;
    int64_t offset, tags_code;
    char topic[];
} arrive_t;

static void arrive_on_loop(void *arg) {
    arrive_t *a = arg;
    rmq_broker_hold_notify(a->b, a->topic, a->qid, a->offset + 1, a->tags_code);
}

/* Reput thread: wake held pulls of the queue, but only when there are any (the fence pairs with
 * the one after parking in hold.c, so a message dispatched while a pull parks is never missed). */
static void on_arrive(const char *topic, int32_t qid, int64_t queue_offset, int64_t tags_code,
                      void *arg) {
    rmq_broker_t *b = arg;
    atomic_thread_fence(memory_order_seq_cst);
    if (!rmq_broker_hold_any(b)) return;
    size_t tl = strlen(topic);
    arrive_t *a = malloc(sizeof *a + tl + 1);
    if (!a) return;
    a->b = b;
    a->qid = qid;
    a->offset = queue_offset;
    a->tags_code = tags_code;
    memcpy(a->topic, topic, tl + 1);
    a->job.node.next = NULL;
    a->job.fn = arrive_on_loop;
    a->job.arg = a;
    if (!rmq_mailbox_post(&b->mailbox, &a->job.node)) free(a);
}

/* ---- registration with the NameServers ------------------------------------------------------ */

typedef struct {
    rmq_broker_t *b;
    char addr[128];
    bool unregister;
} reg_ctx_t;

static int unreg_pending;

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
        if (!r->unregister && !r->b->shutting_down && resp->body_len)
            rmq_broker_topics_update_order(r->b, resp->body, resp->body_len);
    }
    if (r->unregister) unreg_pending--;
    rmq_rem_cmd_destroy(resp);
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

static void set_broker_header(rmq_broker_t *b, rmq_rem_cmd_t *req) {
    rmq_rem_cmd_set(req, "brokerName", b->cfg.broker_name);
    rmq_rem_cmd_set(req, "brokerAddr", b->addr);
    rmq_rem_cmd_set(req, "clusterName", b->cfg.broker_cluster_name);
    rmq_rem_cmd_set_i64(req, "brokerId", b->cfg.broker_id);
}

static void register_one(rmq_broker_t *b, const char *addr, void *arg) {
    const char *body = arg;
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_REGISTER_BROKER);
    reg_ctx_t *r = calloc(1, sizeof *r);
    if (!req || !r) {
        rmq_rem_cmd_destroy(req);
        free(r);
        return;
    }
    req->language = RMQ_LANG_JAVA;
    set_broker_header(b, req);
    rmq_rem_cmd_set(req, "haServerAddr", b->ha_addr);
    rmq_rem_cmd_set_bool(req, "compressed", false);
    size_t len = strlen(body);
    rmq_rem_cmd_set_i64(req, "bodyCrc32", (int64_t)(rmq_crc32(0, body, len) & 0x7FFFFFFF));
    rmq_rem_cmd_set_body_copy(req, body, len);
    r->b = b;
    rmq_strlcpy(r->addr, addr, sizeof r->addr);
    if (rmq_rem_client_invoke_async(b->client, addr, req, b->cfg.register_broker_timeout_mills,
                                    on_register_resp, r) != RMQ_OK) {
        RMQ_LOG_WARN("broker", "register with NameServer %s: cannot send", addr);
        free(r);
    }
}

/* RegisterBrokerBody: {"topicConfigSerializeWrapper": {...}, "filterServerList": []}. When the
 * broker itself is not read+write every topic is reported with the broker's permission. */
static char *register_body(rmq_broker_t *b) {
    char *wrapper = rmq_broker_topics_wrapper_json(b);
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

void rmq_broker_register_all(rmq_broker_t *b) {
    if (b->shutting_down || !b->client || !b->cfg.namesrv_addr || !*b->cfg.namesrv_addr) return;
    char *body = register_body(b);
    if (!body) {
        RMQ_LOG_WARN("broker", "cannot build the registration body");
        return;
    }
    each_namesrv(b, register_one, body);
    free(body);
}

static void unregister_one(rmq_broker_t *b, const char *addr, void *arg) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UNREGISTER_BROKER);
    reg_ctx_t *r = calloc(1, sizeof *r);
    if (!req || !r) {
        rmq_rem_cmd_destroy(req);
        free(r);
        return;
    }
    req->language = RMQ_LANG_JAVA;
    set_broker_header(b, req);
    r->b = b;
    r->unregister = true;
    rmq_strlcpy(r->addr, addr, sizeof r->addr);
    unreg_pending++;
    if (rmq_rem_client_invoke_async(b->client, addr, req, 3000, on_register_resp, r) != RMQ_OK) {
        unreg_pending--;
        free(r);
    }
}

/* ---- start-up ------------------------------------------------------------------------------ */

/* The first non-loopback IPv4 not in 127.0/192.168, else the last IPv4 seen (RocketMQ's rule). */
static void default_ip(char *out, size_t n) {
    rmq_strlcpy(out, "127.0.0.1", n);
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) != 0) return;
    char last[INET_ADDRSTRLEN] = "";
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof s);
        if (strncmp(s, "127.0", 5) && strncmp(s, "192.168", 7)) {
            rmq_strlcpy(out, s, n);
            freeifaddrs(ifs);
            return;
        }
        rmq_strlcpy(last, s, sizeof last);
    }
    if (last[0]) rmq_strlcpy(out, last, n);
    freeifaddrs(ifs);
}

void rmq_broker_cfg_init(rmq_broker_cfg_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    rmq_kv_defaults(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg);
    char err[256], host[256] = "broker-a";
    if (gethostname(host, sizeof host) != 0 || !host[0]) rmq_strlcpy(host, "broker-a", sizeof host);
    host[sizeof host - 1] = 0;
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerName", host, err, sizeof err);
    char ip[64];
    default_ip(ip, sizeof ip);
    rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerIP1", ip, err, sizeof err);
    const char *ns = getenv("NAMESRV_ADDR");
    if (ns && *ns)
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "namesrvAddr", ns, err,
                   sizeof err);
}

rmq_err_t rmq_broker_cfg_finish(rmq_broker_cfg_t *cfg, char *err, size_t errlen) {
    char e[256];
    if (!cfg->broker_ip2 || !*cfg->broker_ip2)
        rmq_kv_set(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, cfg, "brokerIP2", cfg->broker_ip1, e,
                   sizeof e);
    cfg->ha_listen_port = cfg->listen_port + 1; /* 4.9.x overwrites the configured value */
    if (cfg->broker_role == RMQ_ROLE_SLAVE) {
        if (cfg->broker_id <= 0) {
            snprintf(err, errlen, "brokerId: a SLAVE needs brokerId > 0");
            return RMQ_ERR__CONFIG;
        }
    } else {
        cfg->broker_id = 0; /* forced for masters */
    }
    if (rmq_broker_delay_levels(cfg->message_delay_level) <= 0) {
        snprintf(err, errlen, "messageDelayLevel: malformed '%s'",
                 cfg->message_delay_level ? cfg->message_delay_level : "");
        return RMQ_ERR__CONFIG;
    }
    char *root = rmq_expand_home(cfg->store.store_path_root_dir ? cfg->store.store_path_root_dir
                                                                : "~/store");
    if (!root) return RMQ_ERR__NOMEM;
    free(cfg->store.store_path_root_dir);
    cfg->store.store_path_root_dir = root;
    if (cfg->store.store_path_commitlog && *cfg->store.store_path_commitlog) {
        char *cl = rmq_expand_home(cfg->store.store_path_commitlog);
        if (!cl) return RMQ_ERR__NOMEM;
        free(cfg->store.store_path_commitlog);
        cfg->store.store_path_commitlog = cl;
    }
    int lvl = rmq_log_level_parse(cfg->log_level ? cfg->log_level : "INFO");
    if (lvl == -2) {
        snprintf(err, errlen, "logLevel: unknown level '%s'", cfg->log_level);
        return RMQ_ERR__CONFIG;
    }
    return RMQ_OK;
}

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

/* ---- shutdown state machine ---------------------------------------------------------------- */

enum { ST_RUNNING, ST_DRAIN, ST_UNREG, ST_DONE };

typedef struct {
    rmq_broker_t *b;
    uv_signal_t sigterm, sigint;
    uv_timer_t reg_timer, offset_timer, stop_timer, final_timer;
    rmq_rem_server_t *fast;  /* the "VIP channel" on listenPort - 2: same handlers */
    int state;
    uint64_t state_since;
    bool server_closed;
    int exit_code;
} runtime_t;

static int servers_open;

static void on_server_closed(void *arg) {
    runtime_t *rt = arg;
    if (--servers_open == 0) rt->server_closed = true;
}

static void close_handle(uv_handle_t *h) {
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_mailbox_closed(uv_handle_t *h) { (void)h; }

static void walk_close(uv_handle_t *h, void *arg) {
    if (!uv_is_closing(h)) {
        RMQ_LOG_DEBUG("broker", "closing a leftover %s handle", uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

static void on_final_timer(uv_timer_t *t) { uv_walk(t->loop, walk_close, NULL); }

static void finish(runtime_t *rt) {
    rmq_broker_t *b = rt->b;
    rt->state = ST_DONE;
    rmq_rem_client_destroy(b->client); /* on our loop: returns before its handles finish */
    b->client = NULL;
    rmq_broker_schedule_close(b); /* persists delayOffset.json; before the store closes */
    rmq_broker_offsets_close(b);
    rmq_broker_subgroups_close(b);
    rmq_broker_topics_close(b);
    /* The store last: its threads may still post (arrive); the mailbox drains them below. */
    rmq_store_close(b->store);
    b->store = NULL;
    rmq_mailbox_close(&b->mailbox, on_mailbox_closed);
    close_handle((uv_handle_t *)&rt->sigterm);
    close_handle((uv_handle_t *)&rt->sigint);
    close_handle((uv_handle_t *)&rt->reg_timer);
    close_handle((uv_handle_t *)&rt->offset_timer);
    close_handle((uv_handle_t *)&rt->stop_timer);
    /* Safety net, not keeping the loop alive by itself: a handle some manager forgot to close
     * must not keep the process from exiting. */
    uv_timer_init(b->loop, &rt->final_timer);
    rt->final_timer.data = rt;
    uv_timer_start(&rt->final_timer, on_final_timer, 2000, 0);
    uv_unref((uv_handle_t *)&rt->final_timer);
    RMQ_LOG_INFO("broker", "shutdown complete");
}

static void on_stop_tick(uv_timer_t *t) {
    runtime_t *rt = t->data;
    rmq_broker_t *b = rt->b;
    uint64_t waited = rmq_mono_ms() - rt->state_since;
    if (rt->state == ST_DRAIN) {
        int n = atomic_load(&inflight_puts);
        int limit = b->cfg.store.sync_flush_timeout + 1000;
        if (n > 0 && waited < (uint64_t)limit) return;
        if (n > 0) RMQ_LOG_WARN("broker", "shutdown: %d SYNC_FLUSH replies still pending", n);
        /* Persist what the clients told us, then leave the NameServers. */
        rmq_broker_offsets_persist(b);
        if (rt->fast) {
            rmq_rem_server_close(rt->fast, on_server_closed, rt);
            rt->fast = NULL;
        }
        if (b->server) {
            rmq_rem_server_close(b->server, on_server_closed, rt);
            b->server = NULL;
        }
        if (servers_open == 0) rt->server_closed = true;
        rmq_broker_clients_close(b);
        each_namesrv(b, unregister_one, NULL);
        rt->state = ST_UNREG;
        rt->state_since = rmq_mono_ms();
        return;
    }
    if (rt->state == ST_UNREG) {
        if ((unreg_pending > 0 || !rt->server_closed) && waited < 3000) return;
        uv_timer_stop(t);
        finish(rt);
    }
}

static void begin_shutdown(runtime_t *rt, const char *why) {
    rmq_broker_t *b = rt->b;
    if (rt->state != ST_RUNNING) return;
    RMQ_LOG_INFO("broker", "%s: shutting down", why);
    b->shutting_down = true;
    rt->state = ST_DRAIN;
    rt->state_since = rmq_mono_ms();
    uv_timer_stop(&rt->reg_timer);
    uv_timer_stop(&rt->offset_timer);
    rmq_broker_hold_close(b); /* answers every held pull now */
    uv_timer_start(&rt->stop_timer, on_stop_tick, 0, 10);
}

static void on_signal(uv_signal_t *s, int signum) {
    begin_shutdown(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_reg_timer(uv_timer_t *t) {
    runtime_t *rt = t->data;
    rmq_broker_register_all(rt->b);
}

static void on_offset_timer(uv_timer_t *t) {
    runtime_t *rt = t->data;
    rmq_broker_offsets_persist(rt->b);
}

static void on_conn_closed(rmq_rem_conn_t *c, void *arg) {
    rmq_broker_clients_on_conn_close(arg, c);
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

static void register_handlers(rmq_broker_t *b) {
    rmq_rem_server_on_close(b->server, on_conn_closed, b);
    rmq_broker_send_register(b);
    rmq_broker_txn_register(b);
    rmq_broker_pull_register(b);
    rmq_broker_topic_register(b);
    rmq_broker_clients_register(b);
    rmq_broker_offset_register(b);
    rmq_broker_admin_register(b);
    rmq_broker_schedule_register(b);
}

static rmq_err_t parse_store_host(rmq_broker_t *b) {
    struct in_addr a4;
    struct in6_addr a6;
    memset(&b->store_host, 0, sizeof b->store_host);
    b->store_host.port = b->cfg.listen_port;
    if (inet_pton(AF_INET, b->cfg.broker_ip1, &a4) == 1) {
        memcpy(b->store_host.ip, &a4, 4);
        b->store_host.ip_len = 4;
    } else if (inet_pton(AF_INET6, b->cfg.broker_ip1, &a6) == 1) {
        memcpy(b->store_host.ip, &a6, 16);
        b->store_host.ip_len = 16;
    } else {
        RMQ_LOG_ERROR("broker", "brokerIP1 '%s' is not an IP address", b->cfg.broker_ip1);
        return RMQ_ERR__CONFIG;
    }
    snprintf(b->addr, sizeof b->addr, "%s:%d", b->cfg.broker_ip1, b->cfg.listen_port);
    snprintf(b->ha_addr, sizeof b->ha_addr, "%s:%d", b->cfg.broker_ip2, b->cfg.ha_listen_port);
    return RMQ_OK;
}

int rmq_broker_run(rmq_broker_cfg_t *cfg) {
    static rmq_broker_t broker;
    static runtime_t rt;
    rmq_broker_t *b = &broker;
    memset(b, 0, sizeof *b);
    memset(&rt, 0, sizeof rt);
    b->cfg = *cfg; /* takes the strings */
    rt.b = b;
    loop_thread = pthread_self();
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return 1;
    b->loop = &loop;
    b->start_ms = rmq_now_ms();
    if (parse_store_host(b) != RMQ_OK) return 1;
    snprintf(b->config_dir, sizeof b->config_dir, "%s/config", b->cfg.store.store_path_root_dir);
    int rc = mkdirs(b->config_dir);
    if (rc) {
        RMQ_LOG_ERROR("broker", "cannot create %s: %s", b->config_dir, strerror(-rc));
        return 1;
    }
    RMQ_LOG_INFO("broker", "starting %s (cluster %s, id %" PRId64 ", %s, %s) at %s, store %s",
                 b->cfg.broker_name, b->cfg.broker_cluster_name, b->cfg.broker_id,
                 role_names[b->cfg.broker_role],
                 rmq_store_flush_names[b->cfg.store.flush_disk_type],
                 b->addr, b->cfg.store.store_path_root_dir);

    if (rmq_mailbox_init(&b->mailbox, b->loop, on_mail, b) != 0) return 1;
    rmq_err_t err = rmq_store_open(&b->cfg.store, &b->store);
    if (err != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot open the store at %s: %s",
                      b->cfg.store.store_path_root_dir, rmq_strerror(err));
        return 1;
    }
    rmq_store_set_arrive_cb(b->store, on_arrive, b);

    rmq_rem_client_cfg_t ccfg = {.max_frame = (size_t)b->cfg.max_frame_length,
                                 .connect_timeout_ms = 3000, .name = "broker-out"};
    if (rmq_rem_client_new(b->loop, &ccfg, &b->client) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot create the remoting client");
        return 1;
    }
    if ((err = rmq_broker_topics_open(b)) != RMQ_OK ||
        (err = rmq_broker_offsets_open(b)) != RMQ_OK ||
        (err = rmq_broker_subgroups_open(b)) != RMQ_OK ||
        (err = rmq_broker_clients_open(b)) != RMQ_OK || (err = rmq_broker_hold_open(b)) != RMQ_OK ||
        (err = rmq_broker_schedule_open(b)) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot load the broker's configuration files in %s: %s",
                      b->config_dir, rmq_strerror(err));
        return 1;
    }

    rmq_rem_server_cfg_t scfg = {.host = "0.0.0.0", .port = b->cfg.listen_port,
                                 .max_frame = (size_t)b->cfg.max_frame_length,
                                 .idle_ms = b->cfg.server_channel_max_idle_seconds * 1000,
                                 .name = "broker"};
    if (rmq_rem_server_new(b->loop, &scfg, &b->server) != RMQ_OK) return 1;
    register_handlers(b);
    /* The fast ("VIP") port, listenPort - 2, serves every code too (protocol.md 7.1): clients
     * up to 4.4 send there by default. Not fatal when it cannot be had. */
    if (b->cfg.listen_port > 2) {
        scfg.port = b->cfg.listen_port - 2;
        scfg.name = "broker-fast";
        if (rmq_rem_server_new(b->loop, &scfg, &rt.fast) == RMQ_OK) {
            rmq_rem_server_t *main_server = b->server;
            b->server = rt.fast; /* each file registers on b->server */
            register_handlers(b);
            b->server = main_server;
        }
    }
    if ((err = rmq_store_start(b->store)) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot start the store: %s", rmq_strerror(err));
        return 1;
    }
    if (rmq_rem_server_start(b->server) != RMQ_OK) {
        RMQ_LOG_ERROR("broker", "cannot listen on port %d", b->cfg.listen_port);
        rmq_store_close(b->store);
        return 1;
    }
    servers_open = 1;
    if (rt.fast) {
        /* Probe first: a taken fast port is worth a WARN, not the ERROR the server would log. */
        if (port_bindable(b->cfg.listen_port - 2) && rmq_rem_server_start(rt.fast) == RMQ_OK) {
            servers_open++;
        } else {
            RMQ_LOG_WARN("broker", "fast port %d unavailable; serving on %d only",
                         b->cfg.listen_port - 2, b->cfg.listen_port);
            rmq_rem_server_close(rt.fast, NULL, NULL);
            rt.fast = NULL;
        }
    }

    uv_signal_init(b->loop, &rt.sigterm);
    uv_signal_init(b->loop, &rt.sigint);
    rt.sigterm.data = rt.sigint.data = &rt;
    uv_signal_start(&rt.sigterm, on_signal, SIGTERM);
    uv_signal_start(&rt.sigint, on_signal, SIGINT);
    uv_timer_init(b->loop, &rt.reg_timer);
    uv_timer_init(b->loop, &rt.offset_timer);
    uv_timer_init(b->loop, &rt.stop_timer);
    rt.reg_timer.data = rt.offset_timer.data = rt.stop_timer.data = &rt;
    int period = RMQ_MAX(10000, RMQ_MIN(60000, b->cfg.register_name_server_period));
    uv_timer_start(&rt.reg_timer, on_reg_timer, (uint64_t)period, (uint64_t)period);
    uv_timer_start(&rt.offset_timer, on_offset_timer, 10000,
                   (uint64_t)b->cfg.flush_consumer_offset_interval);
    rmq_broker_register_all(b);
    /* RocketMQ's exact start-up line: runbooks and start scripts grep for "boot success". */
    RMQ_LOG_INFO("broker",
                 "The broker[%s, %s] boot success. serializeType=JSON and name server is %s",
                 b->cfg.broker_name, b->addr,
                 b->cfg.namesrv_addr && *b->cfg.namesrv_addr ? b->cfg.namesrv_addr : "null");

    uv_run(b->loop, UV_RUN_DEFAULT);
    /* Only unreferenced handles are left (the safety timer): close them and let them finish. */
    uv_walk(b->loop, walk_close, NULL);
    uv_run(b->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(b->loop) != 0) RMQ_LOG_WARN("broker", "loop closed with handles open");
    rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &b->cfg);
    return rt.exit_code;
}
