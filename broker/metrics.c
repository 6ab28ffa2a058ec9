/* Broker metrics (metrics.h).
 *
 * Two loop-owned maps carry what the message path counts: topic -> in_t (messages, bytes and a
 * size histogram per message type) and "group\001topic" -> out_t (messages and bytes pulled, the
 * next pull offset per queue, from which ready and inflight are derived as RocketMQ 5's
 * ConsumerLagCalculator does: lag = max - committed, ready = max - pulled, inflight = pulled -
 * committed). Everything else is read at scrape time. */
#include "broker/metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/subgroup.h"
#include "broker/topic.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/map.h"
#include "common/msg.h"
#include "common/prom.h"
#include "common/util.h"

#ifndef RMQ_VERSION
#define RMQ_VERSION "unknown"
#endif

enum { MT_NORMAL, MT_FIFO, MT_DELAY, MT_TRANSACTION, MT_COUNT };
static const char *const mt_names[MT_COUNT] = {"normal", "fifo", "delay", "transaction"};

/* rocketmq_message_size buckets (RocketMQ 5's view): 1 KiB, 4 KiB, 512 KiB, 1, 2, 4 MiB */
#define SIZE_BUCKETS 6
static const double size_le[SIZE_BUCKETS] = {1024,      4096,          524288,
                                             1048576.0, 2.0 * 1048576, 4.0 * 1048576};

#define TRANS_GROUP "CID_RMQ_SYS_TRANS" /* the check service's progress on the half queue */

typedef struct {
    uint64_t msgs[MT_COUNT], bytes[MT_COUNT];
    uint64_t size[MT_COUNT][SIZE_BUCKETS + 1];
} in_t;

typedef struct {
    uint64_t msgs, bytes;
    int64_t *pulled; /* next offset to pull per queue id; -1 not seen */
    size_t npulled;
} out_t;

struct rmq_broker_metrics_s {
    rmq_broker_ctx_t *b; /* borrowed */
    rmq_broker_metrics_hooks_t hooks;
    rmq_httpd_t *httpd;
    rmq_buf_t base; /* cluster, node_type, node_id, metricsLabel */
    rmq_map_t in;   /* topic -> in_t */
    rmq_map_t out;  /* group \001 topic -> out_t */
};

struct rmq_broker_metrics_scrape_s {
    rmq_broker_metrics_t *m;
    rmq_buf_t *buf;
    rmq_buf_t aux; /* a second family written in the same pass (rpc errors) */
};

/* ---- counting ------------------------------------------------------------------------------ */

static int msg_type(const char *props, size_t plen) {
    size_t vl;
    if (!props || !plen) return MT_NORMAL;
    const char *v = rmq_msg_prop_get(props, plen, RMQ_PROP_TRAN_MSG, &vl);
    if (v && vl == 4 && !strncasecmp(v, "true", 4)) return MT_TRANSACTION;
    if (rmq_msg_prop_get(props, plen, "__SHARDINGKEY", &vl)) return MT_FIFO;
    static const char *const delay_keys[] = {RMQ_PROP_DELAY, RMQ_PROP_START_DELIVER_TIME,
                                             RMQ_PROP_TIMER_DELIVER_MS, "TIMER_DELAY_SEC",
                                             "TIMER_DELAY_MS"};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(delay_keys); i++)
        if (rmq_msg_prop_get(props, plen, delay_keys[i], &vl)) return MT_DELAY;
    return MT_NORMAL;
}

void rmq_broker_metrics_on_put(rmq_broker_metrics_t *m, const char *topic, const char *props,
                               size_t plen, size_t n, uint64_t bytes) {
    if (!m || !n) return;
    rmq_map_ent_t *e = rmq_map_upsert(&m->in, topic, strlen(topic), NULL);
    if (!e) return;
    in_t *t = e->v.ptr;
    if (!t && !(t = e->v.ptr = calloc(1, sizeof *t))) return;
    int mt = msg_type(props, plen);
    t->msgs[mt] += n;
    t->bytes[mt] += bytes;
    /* a batch counts n observations of its average size */
    double each = (double)bytes / (double)n;
    size_t i = 0;
    while (i < SIZE_BUCKETS && each > size_le[i]) i++;
    t->size[mt][i] += n;
}

void rmq_broker_metrics_on_pull(rmq_broker_metrics_t *m, const char *group, const char *topic,
                                int qid, size_t n, uint64_t bytes, int64_t next_offset) {
    if (!m || !n || qid < 0 || qid > 65535) return;
    char key[512];
    int kl = snprintf(key, sizeof key, "%s\001%s", group, topic);
    if (kl < 0 || (size_t)kl >= sizeof key) return;
    rmq_map_ent_t *e = rmq_map_upsert(&m->out, key, (size_t)kl, NULL);
    if (!e) return;
    out_t *o = e->v.ptr;
    if (!o && !(o = e->v.ptr = calloc(1, sizeof *o))) return;
    o->msgs += n;
    o->bytes += bytes;
    if ((size_t)qid >= o->npulled) {
        size_t nn = (size_t)qid + 1;
        int64_t *p = realloc(o->pulled, nn * sizeof *p);
        if (!p) return;
        for (size_t i = o->npulled; i < nn; i++) p[i] = -1;
        o->pulled = p;
        o->npulled = nn;
    }
    o->pulled[qid] = next_offset;
}

static void free_out(void *v) {
    out_t *o = v;
    free(o->pulled);
    free(o);
}

/* ---- rendering ------------------------------------------------------------------------------ */

typedef struct {
    rmq_broker_metrics_t *m;
    rmq_buf_t lag, ready, inflight; /* three families from one walk */
} lag_walk_t;

static void lag_one(const char *topic, const char *group, const int *qids, const int64_t *offs,
                    size_t n, void *arg) {
    lag_walk_t *w = arg;
    rmq_broker_metrics_t *m = w->m;
    rmq_store_t *st = m->b->env.store;
    char key[512];
    int kl = snprintf(key, sizeof key, "%s\001%s", group, topic);
    const rmq_map_ent_t *e =
        kl > 0 && (size_t)kl < sizeof key ? rmq_map_find(&m->out, key, (size_t)kl) : NULL;
    const out_t *o = e ? e->v.ptr : NULL;
    int64_t lag = 0, ready = 0, inflight = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t max = rmq_store_max_offset(st, topic, qids[i]);
        if (max < 0) continue;
        int64_t committed = offs[i] < 0 ? 0 : RMQ_MIN(offs[i], max);
        int64_t pulled =
            o && qids[i] >= 0 && (size_t)qids[i] < o->npulled ? o->pulled[qids[i]] : -1;
        if (pulled < committed) pulled = committed; /* restarted, or another broker served */
        if (pulled > max) pulled = max;
        lag += max - committed;
        ready += max - pulled;
        inflight += pulled - committed;
    }
    bool retry = !strncmp(topic, RMQ_RETRY_PREFIX, strlen(RMQ_RETRY_PREFIX));
    bool sys = rmq_broker_topic_is_system(topic) || !strncasecmp(group, "CID_RMQ_SYS_", 12) ||
               !strncasecmp(group, "CID_SYS_", 8);
    rmq_prom_label_t l[] = {{"topic", topic},
                            {"consumer_group", group},
                            {"is_retry", retry ? "true" : "false"},
                            {"is_system", sys ? "true" : "false"}};
    const char *base = (const char *)m->base.data;
    rmq_prom_val(&w->lag, "rocketmq_consumer_lag_messages", base, l, 4, (double)lag);
    rmq_prom_val(&w->ready, "rocketmq_consumer_ready_messages", base, l, 4, (double)ready);
    rmq_prom_val(&w->inflight, "rocketmq_consumer_inflight_messages", base, l, 4, (double)inflight);
}

typedef struct {
    rmq_broker_metrics_t *m;
    size_t producers;
    rmq_buf_t consumers;
} groups_walk_t;

static void group_one(const char *group, bool consumer, size_t members, void *arg) {
    groups_walk_t *w = arg;
    if (!consumer) {
        w->producers += members;
        return;
    }
    rmq_prom_label_t l[] = {{"consumer_group", group}};
    rmq_prom_val(&w->consumers, "rocketmq_consumer_connections", (const char *)w->m->base.data, l,
                 1, (double)members);
}

void rmq_broker_metrics_rpc_sample(rmq_broker_metrics_scrape_t *sc, const char *name,
                                   uint64_t requests, uint64_t errors, uint64_t lat_total_us,
                                   const uint64_t *lat_log2, size_t nbuckets) {
    if (!requests || !nbuckets) return;
    char code[64];
    size_t i;
    for (i = 0; name[i] && i + 1 < sizeof code; i++)
        code[i] = (char)tolower((unsigned char)name[i]);
    code[i] = 0;
    rmq_prom_label_t l[] = {{"protocol_type", "remoting"}, {"request_code", code}};
    const char *base = (const char *)sc->m->base.data;
    double le[64];
    size_t nb = RMQ_MIN(nbuckets - 1, RMQ_ARRAY_LEN(le));
    for (i = 0; i < nb; i++) le[i] = (double)(1ull << i) / 1000.0; /* < 2^i us, in ms */
    rmq_prom_hist(sc->buf, "rocketmq_rpc_latency", base, l, 2, le, lat_log2, nb,
                  (double)lat_total_us / 1000.0);
    rmq_prom_val(&sc->aux, "rmq_rpc_errors_total", base, l + 1, 1, (double)errors);
}

void rmq_broker_metrics_conn_sample(rmq_broker_metrics_scrape_t *sc, const char *port_name,
                                    size_t n) {
    rmq_prom_label_t l[] = {{"port", port_name}};
    rmq_prom_val(sc->buf, "rmq_connections", (const char *)sc->m->base.data, l, 1, (double)n);
}

/* A family whose samples were gathered in part (NULL-safe for empty parts: the head alone is a
 * valid family with no samples). */
static void family(rmq_buf_t *out, const char *name, const char *type, const char *help,
                   rmq_buf_t *part) {
    rmq_prom_head(out, name, type, help);
    if (part && part->len) rmq_buf_append(out, part->data, part->len);
}

static void gauge(rmq_buf_t *out, const char *base, const char *name, const char *help, double v) {
    rmq_prom_head(out, name, "gauge", help);
    rmq_prom_val(out, name, base, NULL, 0, v);
}

static void counter(rmq_buf_t *out, const char *base, const char *name, const char *help,
                    double v) {
    rmq_prom_head(out, name, "counter", help);
    rmq_prom_val(out, name, base, NULL, 0, v);
}

static void render_messages(rmq_broker_metrics_t *m, rmq_buf_t *out) {
    const char *base = (const char *)m->base.data;
    rmq_buf_t msgs, bytes, sizes;
    rmq_buf_init(&msgs);
    rmq_buf_init(&bytes);
    rmq_buf_init(&sizes);
    rmq_map_ent_t **ents = rmq_map_sorted(&m->in);
    for (size_t i = 0; ents && i < m->in.count; i++) {
        const in_t *t = ents[i]->v.ptr;
        for (int mt = 0; mt < MT_COUNT; mt++) {
            if (!t->msgs[mt]) continue;
            rmq_prom_label_t l[] = {{"topic", ents[i]->key}, {"message_type", mt_names[mt]}};
            rmq_prom_val(&msgs, "rocketmq_messages_in_total", base, l, 2, (double)t->msgs[mt]);
            rmq_prom_val(&bytes, "rocketmq_throughput_in_total", base, l, 2, (double)t->bytes[mt]);
            rmq_prom_hist(&sizes, "rocketmq_message_size", base, l, 2, size_le, t->size[mt],
                          SIZE_BUCKETS, (double)t->bytes[mt]);
        }
    }
    free(ents);
    family(out, "rocketmq_messages_in_total", "counter", "Messages stored, by topic and type.",
           &msgs);
    family(out, "rocketmq_throughput_in_total", "counter",
           "Message body bytes stored, by topic and type.", &bytes);
    family(out, "rocketmq_message_size", "histogram", "Message body size in bytes.", &sizes);
    msgs.len = bytes.len = 0;
    ents = rmq_map_sorted(&m->out);
    for (size_t i = 0; ents && i < m->out.count; i++) {
        const out_t *o = ents[i]->v.ptr;
        const char *sep = strchr(ents[i]->key, '\001');
        char group[256];
        size_t gl = RMQ_MIN((size_t)(sep - ents[i]->key), sizeof group - 1);
        memcpy(group, ents[i]->key, gl);
        group[gl] = 0;
        rmq_prom_label_t l[] = {{"topic", sep + 1}, {"consumer_group", group}};
        rmq_prom_val(&msgs, "rocketmq_messages_out_total", base, l, 2, (double)o->msgs);
        rmq_prom_val(&bytes, "rocketmq_throughput_out_total", base, l, 2, (double)o->bytes);
    }
    free(ents);
    family(out, "rocketmq_messages_out_total", "counter",
           "Messages pulled, by topic and consumer group.", &msgs);
    family(out, "rocketmq_throughput_out_total", "counter",
           "Stored message bytes pulled, by topic and consumer group.", &bytes);
    rmq_buf_fini(&msgs);
    rmq_buf_fini(&bytes);
    rmq_buf_fini(&sizes);
}

static void render_consumers(rmq_broker_metrics_t *m, rmq_buf_t *out) {
    rmq_broker_ctx_t *b = m->b;
    const char *base = (const char *)m->base.data;
    lag_walk_t w = {.m = m};
    rmq_buf_init(&w.lag);
    rmq_buf_init(&w.ready);
    rmq_buf_init(&w.inflight);
    if (b->offsets) rmq_broker_offsets_each(b->offsets, lag_one, &w);
    family(out, "rocketmq_consumer_lag_messages", "gauge",
           "Messages stored but not yet committed by the group.", &w.lag);
    family(out, "rocketmq_consumer_ready_messages", "gauge",
           "Messages stored and not yet pulled by the group.", &w.ready);
    family(out, "rocketmq_consumer_inflight_messages", "gauge",
           "Messages pulled by the group and not yet committed.", &w.inflight);
    rmq_buf_fini(&w.lag);
    rmq_buf_fini(&w.ready);
    rmq_buf_fini(&w.inflight);

    groups_walk_t g = {.m = m};
    rmq_buf_init(&g.consumers);
    rmq_broker_clients_each_group(b->clients, group_one, &g);
    family(out, "rocketmq_consumer_connections", "gauge", "Consumer connections, by group.",
           &g.consumers);
    rmq_buf_fini(&g.consumers);
    gauge(out, base, "rocketmq_producer_connections", "Producer connections.", (double)g.producers);
    gauge(out, base, "rocketmq_topic_number", "Topics in the broker's table.",
          (double)rmq_broker_topics_count(b->topics));
    gauge(out, base, "rocketmq_consumer_group_number", "Subscription groups in the table.",
          (double)rmq_broker_subgroups_count(b->subgroups));
}

static void render_store(rmq_broker_metrics_t *m, rmq_buf_t *out) {
    rmq_broker_ctx_t *b = m->b;
    const char *base = (const char *)m->base.data;
    rmq_store_stats_t st;
    rmq_store_get_stats(b->env.store, &st);
    gauge(out, base, "rocketmq_storage_size", "CommitLog bytes held (max - min offset).",
          (double)(st.commitlog_max_offset - st.commitlog_min_offset));
    gauge(out, base, "rocketmq_storage_flush_behind_bytes", "CommitLog bytes not yet flushed.",
          (double)RMQ_MAX(0, st.commitlog_max_offset - st.flushed_offset));
    gauge(out, base, "rocketmq_storage_dispatch_behind_bytes",
          "CommitLog bytes not yet in the ConsumeQueues and index.",
          (double)RMQ_MAX(0, st.commitlog_max_offset - st.dispatched_offset));
    gauge(out, base, "rmq_commitlog_max_offset_bytes", "CommitLog max physical offset.",
          (double)st.commitlog_max_offset);
    gauge(out, base, "rmq_commitlog_min_offset_bytes", "CommitLog min physical offset.",
          (double)st.commitlog_min_offset);
    gauge(out, base, "rmq_disk_used_ratio", "Used fraction of the CommitLog's file system.",
          st.disk_used_ratio);
    gauge(out, base, "rmq_store_writable", "1 while the store accepts writes.",
          st.writable ? 1 : 0);
    counter(out, base, "rmq_store_put_failures_total", "Puts the store refused.",
            (double)st.put_fail_count);
    gauge(out, base, "rmq_store_quarantined_bytes", "Damaged CommitLog bytes never served.",
          (double)st.quarantined_bytes);
    counter(out, base, "rmq_store_scrubbed_bytes_total", "Bytes verified by the scrub.",
            (double)st.scrubbed_bytes);
    gauge(out, base, "rmq_delay_messages", "Delayed messages (delay levels) not yet due.",
          m->hooks.delay_backlog ? (double)m->hooks.delay_backlog(m->hooks.arg) : 0);
    int64_t timers = m->hooks.timer_backlog ? m->hooks.timer_backlog(m->hooks.arg) : -1;
    if (timers >= 0)
        gauge(out, base, "rmq_timer_messages", "Timer messages (5.x arbitrary delay) not yet due.",
              (double)timers);
    int64_t hmax = rmq_store_max_offset(b->env.store, RMQ_TOPIC_TRANS_HALF, 0);
    int64_t hoff =
        b->offsets ? rmq_broker_offset_get(b->offsets, TRANS_GROUP, RMQ_TOPIC_TRANS_HALF, 0) : -1;
    gauge(out, base, "rocketmq_half_messages",
          "Half (prepared) messages the transaction check has not passed yet.",
          (double)RMQ_MAX(0, hmax - RMQ_MAX(0, hoff)));
    gauge(out, base, "rmq_pull_held", "Pull requests parked by long polling.",
          (double)atomic_load(&b->held_count));
}

static void render_ha(rmq_broker_metrics_t *m, rmq_buf_t *out) {
    rmq_broker_ctx_t *b = m->b;
    if (!b->ha) return;
    const char *base = (const char *)m->base.data;
    rmq_ha_stats_t hs;
    rmq_ha_get_stats(b->ha, &hs);
    if (hs.role == RMQ_HA_MASTER) {
        gauge(out, base, "rmq_ha_slaves_connected", "Slaves connected to this master.",
              hs.connections);
        counter(out, base, "rmq_ha_transferred_bytes_total", "CommitLog bytes sent to slaves.",
                (double)hs.bytes_sent);
        const char *names[2] = {"rmq_ha_slave_fall_behind_bytes", "rmq_ha_slave_fall_behind_ms"};
        const char *help[2] = {"Bytes the slave has not acknowledged.",
                               "Store-time gap between the newest message and the slave's."};
        for (int k = 0; k < 2; k++) {
            rmq_prom_head(out, names[k], "gauge", help[k]);
            for (size_t i = 0; i < hs.nslaves; i++) {
                rmq_prom_label_t l[] = {{"slave", hs.slaves[i].addr}};
                rmq_prom_val(out, names[k], base, l, 1,
                             (double)(k ? hs.slaves[i].behind_ms : hs.slaves[i].behind_bytes));
            }
        }
    } else {
        gauge(out, base, "rmq_ha_master_connected", "1 while this slave is connected.",
              hs.connected ? 1 : 0);
        gauge(out, base, "rmq_ha_replicated_offset_bytes", "CommitLog offset replicated here.",
              (double)hs.repl_offset);
        counter(out, base, "rmq_ha_received_bytes_total", "CommitLog bytes received.",
                (double)hs.bytes_received);
        counter(out, base, "rmq_ha_reconnects_total", "Reconnections to the master.",
                (double)hs.reconnects);
    }
}

static void render(rmq_buf_t *out, void *arg) {
    rmq_broker_metrics_t *m = arg;
    rmq_broker_ctx_t *b = m->b;
    const rmq_broker_cfg_t *cfg = b->env.cfg;
    const char *base = (const char *)m->base.data;
    if (!b->env.store || b->shutting_down) {
        /* the managers go away from here on: say so rather than read them */
        gauge(out, base, "rmq_up", "1 while the broker serves.", 0);
        rmq_prom_process(out);
        return;
    }
    gauge(out, base, "rmq_up", "1 while the broker serves.", 1);
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, cfg->broker_id);
    rmq_prom_label_t info[] = {{"version", RMQ_VERSION},
                               {"rocketmq_version", "V4_9_8"},
                               {"role", rmq_broker_role_names[cfg->broker_role]},
                               {"broker_id", id}};
    rmq_prom_head(out, "rmq_broker_info", "gauge", "The broker's version, role and id.");
    rmq_prom_val(out, "rmq_broker_info", base, info, 4, 1);
    gauge(out, base, "rocketmq_broker_permission", "brokerPermission (6 = read and write).",
          cfg->broker_permission);
    render_messages(m, out);
    render_consumers(m, out);
    render_store(m, out);
    render_ha(m, out);
    rmq_broker_metrics_scrape_t sc = {.m = m, .buf = out};
    rmq_buf_init(&sc.aux);
    if (m->hooks.rpc) {
        rmq_prom_head(out, "rocketmq_rpc_latency", "histogram",
                      "Time in the request handler, in milliseconds, by request code.");
        m->hooks.rpc(&sc, m->hooks.arg);
        family(out, "rmq_rpc_errors_total", "counter", "Requests answered with an error code.",
               &sc.aux);
    }
    rmq_buf_fini(&sc.aux);
    if (m->hooks.conns) {
        rmq_prom_head(out, "rmq_connections", "gauge", "Open client connections, by port.");
        m->hooks.conns(&sc, m->hooks.arg);
    }
    rmq_prom_process(out);
}

/* ---- life ------------------------------------------------------------------------------------ */

rmq_err_t rmq_broker_metrics_open(rmq_broker_ctx_t *b, const rmq_broker_metrics_hooks_t *hooks,
                                  rmq_broker_metrics_t **out) {
    *out = NULL;
    const rmq_broker_cfg_t *cfg = b->env.cfg;
    if (cfg->metrics_exporter_type == RMQ_METRICS_DISABLE) return RMQ_OK;
    if (cfg->metrics_exporter_type != RMQ_METRICS_PROM) {
        RMQ_LOG_ERROR("metrics", "metricsExporterType=%s is not served by rmq (PROM or DISABLE)",
                      rmq_broker_metrics_types[cfg->metrics_exporter_type]);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_broker_metrics_t *m = calloc(1, sizeof *m);
    if (!m) return RMQ_ERR__NOMEM;
    m->b = b;
    if (hooks) m->hooks = *hooks;
    rmq_map_init(&m->in);
    rmq_map_init(&m->out);
    rmq_buf_init(&m->base);
    rmq_prom_label_t l[] = {{"cluster", cfg->broker_cluster_name},
                            {"node_type", "broker"},
                            {"node_id", cfg->broker_name}};
    rmq_prom_base(&m->base, l, 3);
    if (rmq_prom_base_parse(&m->base, cfg->metrics_label) != 0) {
        RMQ_LOG_ERROR("metrics", "metricsLabel=%s: expected name:value,name:value",
                      cfg->metrics_label);
        rmq_broker_metrics_close(m);
        return RMQ_ERR__INVALID_ARG;
    }
    rmq_buf_append_u8(&m->base, 0); /* a C string for the samples; len stays the text */
    m->base.len--;
    const char *host = cfg->metrics_prom_host && *cfg->metrics_prom_host ? cfg->metrics_prom_host
                                                                         : cfg->broker_ip1;
    char err[160];
    rmq_err_t e = rmq_httpd_start(b->env.loop, host, cfg->metrics_prom_port, render, m, &m->httpd,
                                  err, sizeof err);
    if (e != RMQ_OK) {
        RMQ_LOG_ERROR("metrics", "metrics endpoint: %s", err);
        rmq_broker_metrics_close(m);
        return e;
    }
    RMQ_LOG_INFO("metrics", "Prometheus metrics on http://%s:%d/metrics", host,
                 rmq_httpd_port(m->httpd));
    *out = m;
    return RMQ_OK;
}

int rmq_broker_metrics_port(const rmq_broker_metrics_t *m) {
    return m ? rmq_httpd_port(m->httpd) : 0;
}

void rmq_broker_metrics_close(rmq_broker_metrics_t *m) {
    if (!m) return;
    rmq_httpd_stop(m->httpd);
    rmq_map_fini(&m->in, free);
    rmq_map_fini(&m->out, free_out);
    rmq_buf_fini(&m->base);
    free(m);
}
