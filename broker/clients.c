/* Clients (broker.md 4, 5.2): producer and consumer groups built from heartbeats, the
 * channels (connections) in them, the consumer groups' subscriptions, queue locks for orderly
 * consumers, and the notifications the broker sends to consumers.
 *
 * A channel is one connection that has heartbeated: its client id, language, version. Groups
 * hold members (channel + last heartbeat time); a member silent for channelExpiredTimeout is
 * dropped and its connection closed; a closed connection leaves every group at once through
 * rmq_broker_clients_on_conn_close. Group membership or topic-set changes send
 * NOTIFY_CONSUMER_IDS_CHANGED oneway to the group's remaining consumers. */
#include "broker/clients.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/util.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

#define LOCK_MAX_LIVE_MS 60000 /* rocketmq.broker.rebalance.lockMaxLiveTime */
#define NOTIFY_TIMEOUT_MS 3000

typedef struct {
    rmq_rem_conn_t *conn; /* ref held */
    char key[24];         /* conn id as text: the channels map key */
    char client_id[256];
    int language, version;
} chan_t;

typedef struct {
    chan_t *ch;
    int64_t last_update;
} member_t;

typedef struct {
    char name[256];
    member_t *m;
    size_t nm, capm;
    /* consumer groups only */
    bool consumer;
    int consume_type, message_model, consume_from_where;
    bool unit_mode;
    rmq_broker_sub_t *subs;
    size_t nsubs;
    uint32_t rr; /* producer groups: round-robin start of rmq_broker_clients_pick_producer */
} group_t;

typedef struct {
    char client_id[256];
    int64_t last_update;
} lock_t;

struct rmq_broker_clients_s {
    const rmq_broker_env_t *env;       /* borrowed */
    rmq_broker_topics_t *topics;       /* borrowed: %RETRY% topics of new groups */
    rmq_broker_subgroups_t *subgroups; /* borrowed: group configs */
    rmq_map_t chans;                   /* conn id -> chan_t */
    rmq_map_t consumers;               /* group -> group_t */
    rmq_map_t producers;               /* group -> group_t */
    rmq_map_t locks;   /* group -> rmq_map_t* ("topic\001broker\001qid" -> lock_t) */
    uv_timer_t *timer; /* expiry scan; freed by its close callback */
};

/* ---- subscriptions (FilterAPI) ----------------------------------------------------- */

void rmq_broker_sub_free(rmq_broker_sub_t *s) {
    for (size_t i = 0; i < s->ntags; i++) free(s->tags[i]);
    free(s->tags);
    free(s->s.codes);
    rmq_broker_sql_destroy(s->s.sql);
    free(s->s.sql_err);
    memset(s, 0, sizeof *s);
}

rmq_err_t rmq_broker_sub_compile(rmq_broker_sub_t *s) {
    if (!strcmp(s->s.expression_type, "TAG") || s->s.sql || s->s.sql_err) return RMQ_OK;
    char err[300];
    if (strcmp(s->s.expression_type, "SQL92") != 0) {
        snprintf(err, sizeof err, "unsupported expression type %s", s->s.expression_type);
    } else {
        rmq_err_t e = rmq_broker_sql_compile(s->s.sub_string, strlen(s->s.sub_string), &s->s.sql,
                                             err, sizeof err);
        if (e == RMQ_OK) return RMQ_OK;
        if (e == RMQ_ERR__NOMEM) return e;
    }
    s->s.sql_err = strdup(err);
    return s->s.sql_err ? RMQ_OK : RMQ_ERR__NOMEM;
}

rmq_err_t rmq_broker_sub_build(rmq_broker_sub_t *s, const char *topic, const char *sub_string,
                               const char *expr_type, int64_t sub_version) {
    memset(s, 0, sizeof *s);
    rmq_strlcpy(s->s.topic, topic, sizeof s->s.topic);
    rmq_strlcpy(s->s.expression_type, expr_type && *expr_type ? expr_type : "TAG",
                sizeof s->s.expression_type);
    s->s.sub_version = sub_version;
    if (strcmp(s->s.expression_type, "TAG") != 0) { /* compiled when adopted */
        if (!sub_string) sub_string = "";
        if (strlen(sub_string) >= sizeof s->s.sub_string) return RMQ_ERR__INVALID_ARG;
        rmq_strlcpy(s->s.sub_string, sub_string, sizeof s->s.sub_string);
        return RMQ_OK;
    }
    if (!sub_string || !*sub_string) sub_string = "*";
    if (strlen(sub_string) >= sizeof s->s.sub_string) return RMQ_ERR__INVALID_ARG;
    rmq_strlcpy(s->s.sub_string, sub_string, sizeof s->s.sub_string);
    if (strcmp(sub_string, "*") == 0) return RMQ_OK;
    /* split on "||", trim, drop empties and duplicates */
    const char *p = sub_string;
    while (p) {
        const char *sep = strstr(p, "||");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        const char *a = p, *e = p + n;
        while (a < e && (*a == ' ' || *a == '\t')) a++;
        while (e > a && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e > a) {
            bool dup = false;
            for (size_t i = 0; i < s->ntags; i++)
                if (strlen(s->tags[i]) == (size_t)(e - a) && !memcmp(s->tags[i], a, e - a))
                    dup = true;
            if (!dup) {
                char **nt = realloc(s->tags, (s->ntags + 1) * sizeof *nt);
                int64_t *nc = realloc(s->s.codes, (s->ntags + 1) * sizeof *nc);
                if (nt) s->tags = nt;
                if (nc) s->s.codes = nc;
                if (!nt || !nc) {
                    rmq_broker_sub_free(s);
                    return RMQ_ERR__NOMEM;
                }
                s->tags[s->ntags] = strndup(a, (size_t)(e - a));
                if (!s->tags[s->ntags]) {
                    rmq_broker_sub_free(s);
                    return RMQ_ERR__NOMEM;
                }
                s->s.codes[s->ntags] = rmq_msg_tags_code(a, (size_t)(e - a));
                s->ntags++;
                s->s.ncodes = s->ntags;
            }
        }
        p = sep ? sep + 2 : NULL;
    }
    if (s->ntags == 0) {
        /* "||" alone: Java throws "subString split error" */
        rmq_broker_sub_free(s);
        return RMQ_ERR__INVALID_ARG;
    }
    return RMQ_OK;
}

void rmq_broker_sub_to_json(rmq_buf_t *b, const rmq_broker_sub_t *s) {
    rmq_buf_appendf(b, "{\"classFilterMode\":%s,\"codeSet\":[",
                    s->class_filter_mode ? "true" : "false");
    for (size_t i = 0; i < s->s.ncodes; i++)
        rmq_buf_appendf(b, "%s%" PRId64, i ? "," : "", s->s.codes[i]);
    rmq_buf_append_str(b, "],\"expressionType\":");
    rmq_json_put_str(b, s->s.expression_type);
    rmq_buf_append_str(b, ",\"subString\":");
    rmq_json_put_str(b, s->s.sub_string);
    rmq_buf_appendf(b, ",\"subVersion\":%" PRId64 ",\"tagsSet\":[", s->s.sub_version);
    for (size_t i = 0; i < s->ntags; i++) {
        if (i) rmq_buf_append_u8(b, ',');
        rmq_json_put_str(b, s->tags[i]);
    }
    rmq_buf_append_str(b, "],\"topic\":");
    rmq_json_put_str(b, s->s.topic);
    rmq_buf_append_u8(b, '}');
}

/* ---- heartbeat body ---------------------------------------------------------------- */

void rmq_broker_heartbeat_free(rmq_broker_heartbeat_t *hb) {
    for (size_t i = 0; i < hb->nconsumers; i++) {
        for (size_t j = 0; j < hb->consumers[i].nsubs; j++)
            rmq_broker_sub_free(&hb->consumers[i].subs[j]);
        free(hb->consumers[i].subs);
    }
    free(hb->consumers);
    free(hb->producers);
    memset(hb, 0, sizeof *hb);
}

rmq_err_t rmq_broker_heartbeat_parse(const void *body, size_t len, rmq_broker_heartbeat_t *hb,
                                     char *err, size_t errlen) {
    memset(hb, 0, sizeof *hb);
    if (!body || !len) {
        snprintf(err, errlen, "HeartbeatData body missing");
        return RMQ_ERR__INVALID_ARG;
    }
    json_t *root = rmq_fjson_parse(body, len, err, errlen);
    if (!root) return RMQ_ERR__INVALID_ARG;
    rmq_err_t rc = RMQ_ERR__INVALID_ARG;
    char tmp[64];
    if (!json_is_object(root)) {
        snprintf(err, errlen, "HeartbeatData is not an object");
        goto out;
    }
    const char *cid = rmq_fj_get_str(root, "clientID", tmp, sizeof tmp);
    if (!cid || !*cid) {
        snprintf(err, errlen, "HeartbeatData.clientID missing");
        goto out;
    }
    rmq_strlcpy(hb->client_id, cid, sizeof hb->client_id);
    hb->without_sub = rmq_fj_get_bool(root, "withoutSub", false);
    json_t *pset = json_object_get(root, "producerDataSet");
    if (json_is_array(pset) && json_array_size(pset)) {
        hb->producers = calloc(json_array_size(pset), sizeof *hb->producers);
        if (!hb->producers) goto oom;
        size_t i;
        json_t *pd;
        json_array_foreach(pset, i, pd) {
            const char *g = rmq_fj_get_str(pd, "groupName", tmp, sizeof tmp);
            if (!g || !*g) continue;
            rmq_strlcpy(hb->producers[hb->nproducers++], g, sizeof hb->producers[0]);
        }
    }
    json_t *cset = json_object_get(root, "consumerDataSet");
    if (json_is_array(cset) && json_array_size(cset)) {
        hb->consumers = calloc(json_array_size(cset), sizeof *hb->consumers);
        if (!hb->consumers) goto oom;
        size_t i;
        json_t *cd;
        json_array_foreach(cset, i, cd) {
            const char *g = rmq_fj_get_str(cd, "groupName", tmp, sizeof tmp);
            if (!g || !*g) {
                snprintf(err, errlen, "ConsumerData.groupName missing");
                goto out;
            }
            rmq_broker_consumer_data_t *c = &hb->consumers[hb->nconsumers++];
            rmq_strlcpy(c->group, g, sizeof c->group);
            c->consume_type =
                rmq_fj_enum(json_object_get(cd, "consumeType"), rmq_broker_consume_type_names, 1);
            c->message_model =
                rmq_fj_enum(json_object_get(cd, "messageModel"), rmq_broker_message_model_names, 1);
            c->consume_from_where = rmq_fj_enum(json_object_get(cd, "consumeFromWhere"),
                                                rmq_broker_consume_from_names, -1);
            c->unit_mode = rmq_fj_get_bool(cd, "unitMode", false);
            json_t *sset = json_object_get(cd, "subscriptionDataSet");
            if (!json_is_array(sset) || !json_array_size(sset)) continue;
            c->subs = calloc(json_array_size(sset), sizeof *c->subs);
            if (!c->subs) goto oom;
            size_t j;
            json_t *sd;
            json_array_foreach(sset, j, sd) {
                char t1[64], t2[64], t3[64];
                const char *topic = rmq_fj_get_str(sd, "topic", t1, sizeof t1);
                if (!topic || !*topic) {
                    snprintf(err, errlen, "SubscriptionData.topic missing in group %s", g);
                    goto out;
                }
                const char *ss = rmq_fj_get_str(sd, "subString", t2, sizeof t2);
                const char *et = rmq_fj_get_str(sd, "expressionType", t3, sizeof t3);
                int64_t ver = rmq_fj_get_i64(sd, "subVersion", rmq_now_ms());
                rmq_err_t e = rmq_broker_sub_build(&c->subs[c->nsubs], topic, ss, et, ver);
                if (e != RMQ_OK) {
                    snprintf(err, errlen, "SubscriptionData.subString '%s' of %s invalid",
                             ss ? ss : "", topic);
                    goto out;
                }
                c->subs[c->nsubs].class_filter_mode = rmq_fj_get_bool(sd, "classFilterMode", false);
                c->nsubs++;
            }
        }
    }
    rc = RMQ_OK;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
    rc = RMQ_ERR__NOMEM;
out:
    json_decref(root);
    if (rc != RMQ_OK) rmq_broker_heartbeat_free(hb);
    return rc;
}

/* ---- groups ------------------------------------------------------------------------ */

static void group_free(void *p) {
    group_t *g = p;
    if (!g) return;
    for (size_t i = 0; i < g->nsubs; i++) rmq_broker_sub_free(&g->subs[i]);
    free(g->subs);
    free(g->m);
    free(g);
}

static void lockmap_free(void *p) {
    rmq_map_t *m = p;
    rmq_map_fini(m, free);
    free(m);
}

static void chan_free(void *p) {
    chan_t *ch = p;
    if (!ch) return;
    rmq_rem_conn_unref(ch->conn);
    free(ch);
}

static ssize_t member_index(const group_t *g, const chan_t *ch) {
    for (size_t i = 0; i < g->nm; i++)
        if (g->m[i].ch == ch) return (ssize_t)i;
    return -1;
}

static bool member_remove(group_t *g, const chan_t *ch) {
    ssize_t i = member_index(g, ch);
    if (i < 0) return false;
    g->m[i] = g->m[g->nm - 1];
    g->nm--;
    return true;
}

/* Add or refresh ch in g; true when it was new. */
static bool member_touch(group_t *g, chan_t *ch, int64_t now) {
    ssize_t i = member_index(g, ch);
    if (i >= 0) {
        g->m[i].last_update = now;
        return false;
    }
    if (g->nm == g->capm) {
        size_t cap = g->capm ? g->capm * 2 : 4;
        member_t *m = realloc(g->m, cap * sizeof *m);
        if (!m) return false;
        g->m = m;
        g->capm = cap;
    }
    g->m[g->nm].ch = ch;
    g->m[g->nm].last_update = now;
    g->nm++;
    return true;
}

static group_t *group_get(rmq_map_t *map, const char *name, bool consumer, bool create) {
    group_t *g = rmq_map_get(map, name);
    if (g || !create) return g;
    g = calloc(1, sizeof *g);
    if (!g) return NULL;
    rmq_strlcpy(g->name, name, sizeof g->name);
    g->consumer = consumer;
    g->consume_from_where = -1;
    if (rmq_map_put(map, name, g, NULL) != RMQ_OK) {
        free(g);
        return NULL;
    }
    return g;
}

static void notify_group(rmq_broker_clients_t *cl, const group_t *g) {
    if (!cl->env->cfg->notify_consumer_ids_changed_enable || !g) return;
    for (size_t i = 0; i < g->nm; i++) {
        rmq_rem_conn_t *c = g->m[i].ch->conn;
        if (rmq_rem_conn_is_closed(c)) continue;
        rmq_rem_cmd_t *r = rmq_rem_cmd_new_request(RMQ_REQ_NOTIFY_CONSUMER_IDS_CHANGED);
        if (!r) return;
        r->language = RMQ_LANG_JAVA;
        r->flag |= RMQ_REM_FLAG_ONEWAY;
        rmq_rem_cmd_set(r, "consumerGroup", g->name);
        rmq_err_t e = rmq_rem_conn_request(c, r, NOTIFY_TIMEOUT_MS, NULL, NULL);
        if (e != RMQ_OK)
            RMQ_LOG_WARN("clients", "cannot notify %s of group %s: %s", rmq_rem_conn_peer(c),
                         g->name, rmq_strerror(e));
        else
            RMQ_LOG_DEBUG("clients", "notified %s: consumer ids of %s changed",
                          rmq_rem_conn_peer(c), g->name);
    }
}

static bool group_notify_enabled(rmq_broker_clients_t *cl, const char *group) {
    const rmq_subgroup_t *sg = rmq_broker_subgroup_find(cl->subgroups, group);
    return sg ? sg->notify_consumer_ids_changed_enable : true;
}

static const rmq_broker_sub_t *sub_find(const rmq_broker_sub_t *subs, size_t n, const char *topic) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(subs[i].s.topic, topic) == 0) return &subs[i];
    return NULL;
}

/* A subscription about to be kept: compile its SQL92 expression (once per group, topic and
 * subVersion); a bad one is kept with its reason, which pulls answer with. */
static void sub_adopt(const group_t *g, rmq_broker_sub_t *in) {
    if (rmq_broker_sub_compile(in) != RMQ_OK)
        RMQ_LOG_WARN("clients", "out of memory compiling the %s expression of %s for %s",
                     in->s.expression_type, g->name, in->s.topic);
    else if (in->s.sql_err)
        RMQ_LOG_WARN("clients", "group %s: %s expression for %s does not compile: %s [%s]", g->name,
                     in->s.expression_type, in->s.topic, in->s.sql_err, in->s.sub_string);
}

/* ConsumerGroupInfo.updateSubscription: a topic's entry is replaced only by a higher
 * subVersion; topics missing from the heartbeat go. Takes the subs of cd (moved out).
 * True when the topic set changed. */
static bool update_subs(group_t *g, rmq_broker_consumer_data_t *cd) {
    bool changed = false;
    rmq_broker_sub_t *ns = calloc(cd->nsubs ? cd->nsubs : 1, sizeof *ns);
    if (!ns) return false;
    size_t nn = 0;
    for (size_t i = 0; i < cd->nsubs; i++) {
        rmq_broker_sub_t *in = &cd->subs[i];
        if (sub_find(ns, nn, in->s.topic)) continue; /* duplicate topic in one heartbeat */
        rmq_broker_sub_t *old = (rmq_broker_sub_t *)sub_find(g->subs, g->nsubs, in->s.topic);
        if (!old || in->s.sub_version > old->s.sub_version) sub_adopt(g, in);
        if (!old) {
            changed = true;
            ns[nn++] = *in;
            memset(in, 0, sizeof *in);
        } else if (in->s.sub_version > old->s.sub_version) {
            if (g->consume_type == 1)
                RMQ_LOG_INFO("clients", "subscription of %s for %s changed: %s -> %s", g->name,
                             in->s.topic, old->s.sub_string, in->s.sub_string);
            ns[nn++] = *in;
            memset(in, 0, sizeof *in);
        } else {
            ns[nn++] = *old;
            memset(old, 0, sizeof *old);
        }
    }
    for (size_t i = 0; i < g->nsubs; i++) {
        if (g->subs[i].s.topic[0] && !sub_find(ns, nn, g->subs[i].s.topic)) {
            RMQ_LOG_INFO("clients", "group %s no longer subscribes to %s", g->name,
                         g->subs[i].s.topic);
            changed = true;
        }
        rmq_broker_sub_free(&g->subs[i]);
    }
    free(g->subs);
    g->subs = ns;
    g->nsubs = nn;
    return changed;
}

/* ---- open / close / housekeeping ---------------------------------------------------- */

static int64_t expiry_ms(rmq_broker_clients_t *cl) {
    int ms = cl->env->cfg->client_channel_expired_ms;
    return ms > 0 ? ms : 120000;
}

typedef struct {
    rmq_broker_clients_t *cl;
    int64_t now;
    rmq_rem_conn_t **closing;
    size_t nclosing, capclosing;
} scan_ctx_t;

static void add_closing(scan_ctx_t *s, rmq_rem_conn_t *c) {
    for (size_t i = 0; i < s->nclosing; i++)
        if (s->closing[i] == c) return;
    if (s->nclosing == s->capclosing) {
        size_t cap = s->capclosing ? s->capclosing * 2 : 8;
        rmq_rem_conn_t **n = realloc(s->closing, cap * sizeof *n);
        if (!n) return;
        s->closing = n;
        s->capclosing = cap;
    }
    rmq_rem_conn_ref(c);
    s->closing[s->nclosing++] = c;
}

static bool scan_group(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    scan_ctx_t *s = arg;
    group_t *g = v;
    bool removed = false;
    for (size_t i = 0; i < g->nm;) {
        if (s->now - g->m[i].last_update > expiry_ms(s->cl)) {
            chan_t *ch = g->m[i].ch;
            RMQ_LOG_WARN("clients", "%s channel expired: %s %s, silent %" PRId64 " ms",
                         g->consumer ? "consumer" : "producer", rmq_rem_conn_peer(ch->conn),
                         ch->client_id, s->now - g->m[i].last_update);
            add_closing(s, ch->conn);
            g->m[i] = g->m[--g->nm];
            removed = true;
        } else {
            i++;
        }
    }
    if (g->nm == 0) {
        RMQ_LOG_INFO("clients", "%s group %s has no channel left; removed",
                     g->consumer ? "consumer" : "producer", g->name);
        group_free(g);
        return true;
    }
    if (removed && g->consumer) notify_group(s->cl, g);
    return false;
}

static void on_scan(uv_timer_t *t) {
    rmq_broker_clients_t *cl = t->data;
    if (!cl) return;
    scan_ctx_t s = {.cl = cl, .now = rmq_now_ms()};
    rmq_map_each(&cl->consumers, scan_group, &s);
    rmq_map_each(&cl->producers, scan_group, &s);
    /* closing runs the close hook (maybe at once): the tables are consistent by now */
    for (size_t i = 0; i < s.nclosing; i++) {
        rmq_rem_conn_close(s.closing[i]);
        rmq_rem_conn_unref(s.closing[i]);
    }
    free(s.closing);
}

rmq_err_t rmq_broker_clients_open(const rmq_broker_env_t *env, rmq_broker_topics_t *topics,
                                  rmq_broker_subgroups_t *subgroups, rmq_broker_clients_t **out) {
    rmq_broker_clients_t *cl = calloc(1, sizeof *cl);
    if (!cl) return RMQ_ERR__NOMEM;
    cl->env = env;
    cl->topics = topics;
    cl->subgroups = subgroups;
    rmq_map_init(&cl->chans);
    rmq_map_init(&cl->consumers);
    rmq_map_init(&cl->producers);
    rmq_map_init(&cl->locks);
    *out = cl; /* closed by the caller on failure too */
    if (env->loop) {
        cl->timer = malloc(sizeof *cl->timer);
        if (!cl->timer) return RMQ_ERR__NOMEM;
        uv_timer_init(env->loop, cl->timer);
        cl->timer->data = cl;
        /* RocketMQ scans every 10 s; a shortened expiry (tests) scans at half its period */
        uint64_t every = (uint64_t)RMQ_MAX(100, RMQ_MIN(10000, expiry_ms(cl) / 2));
        uv_timer_start(cl->timer, on_scan, every, every);
        uv_unref((uv_handle_t *)cl->timer);
    }
    return RMQ_OK;
}

static void on_timer_closed(uv_handle_t *h) {
    free(h);
}

void rmq_broker_clients_close(rmq_broker_clients_t *cl) {
    if (!cl) return;
    if (cl->timer) {
        uv_timer_stop(cl->timer);
        cl->timer->data = NULL;
        uv_close((uv_handle_t *)cl->timer, on_timer_closed);
    }
    rmq_map_fini(&cl->consumers, group_free);
    rmq_map_fini(&cl->producers, group_free);
    rmq_map_fini(&cl->locks, lockmap_free);
    rmq_map_fini(&cl->chans, chan_free);
    free(cl);
}

typedef struct {
    rmq_broker_clients_t *cl;
    chan_t *ch;
} close_ctx_t;

static bool close_in_group(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    close_ctx_t *c = arg;
    group_t *g = v;
    if (!member_remove(g, c->ch)) return false;
    RMQ_LOG_INFO("clients", "%s %s (%s) left group %s: connection closed",
                 g->consumer ? "consumer" : "producer", c->ch->client_id,
                 rmq_rem_conn_peer(c->ch->conn), g->name);
    if (g->nm == 0) {
        group_free(g);
        return true;
    }
    if (g->consumer) notify_group(c->cl, g);
    return false;
}

void rmq_broker_clients_on_conn_close(rmq_broker_clients_t *cl, rmq_rem_conn_t *c) {
    if (!cl) return;
    char key[24];
    snprintf(key, sizeof key, "%" PRIu64, rmq_rem_conn_id(c));
    chan_t *ch = rmq_map_del(&cl->chans, key);
    if (!ch) return;
    close_ctx_t cc = {cl, ch};
    rmq_map_each(&cl->consumers, close_in_group, &cc);
    rmq_map_each(&cl->producers, close_in_group, &cc);
    chan_free(ch);
}

static chan_t *chan_of(rmq_broker_clients_t *cl, rmq_rem_conn_t *c, bool create) {
    char key[24];
    snprintf(key, sizeof key, "%" PRIu64, rmq_rem_conn_id(c));
    chan_t *ch = rmq_map_get(&cl->chans, key);
    if (ch || !create) return ch;
    ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    rmq_strlcpy(ch->key, key, sizeof ch->key);
    ch->conn = c;
    if (rmq_map_put(&cl->chans, key, ch, NULL) != RMQ_OK) {
        free(ch);
        return NULL;
    }
    rmq_rem_conn_ref(c);
    return ch;
}

/* ---- lookups for the other files ---------------------------------------------------- */

const rmq_subscription_t *rmq_broker_clients_subscription(rmq_broker_clients_t *cl,
                                                          const char *group, const char *topic) {
    if (!cl) return NULL;
    group_t *g = rmq_map_get(&cl->consumers, group);
    if (!g) return NULL;
    const rmq_broker_sub_t *s = sub_find(g->subs, g->nsubs, topic);
    return s ? &s->s : NULL;
}

rmq_rem_conn_t *rmq_broker_clients_pick_producer(rmq_broker_clients_t *cl, const char *group) {
    if (!cl) return NULL;
    group_t *g = rmq_map_get(&cl->producers, group);
    if (!g || !g->nm) return NULL;
    /* ProducerManager#getAvailableChannel: a round-robin start, up to 3 tries for an open
     * channel with no write backlog, else the last open one seen. */
    rmq_rem_conn_t *open = NULL;
    size_t start = g->rr++ % g->nm;
    for (size_t k = 0; k < g->nm; k++) {
        rmq_rem_conn_t *c = g->m[(start + k) % g->nm].ch->conn;
        if (rmq_rem_conn_is_closed(c)) continue;
        if (k < 3 && rmq_rem_conn_pending_bytes(c) < (1u << 20)) return c;
        open = c;
    }
    return open;
}

size_t rmq_broker_clients_group_conns(rmq_broker_clients_t *cl, const char *group,
                                      rmq_rem_conn_t ***conns, int **langs, int **versions) {
    *conns = NULL;
    *langs = *versions = NULL;
    if (!cl) return 0;
    group_t *g = rmq_map_get(&cl->consumers, group);
    if (!g || !g->nm) return 0;
    *conns = calloc(g->nm, sizeof **conns);
    *langs = calloc(g->nm, sizeof **langs);
    *versions = calloc(g->nm, sizeof **versions);
    if (!*conns || !*langs || !*versions) return 0;
    size_t n = 0;
    for (size_t i = 0; i < g->nm; i++) {
        if (rmq_rem_conn_is_closed(g->m[i].ch->conn)) continue;
        (*conns)[n] = g->m[i].ch->conn;
        (*langs)[n] = g->m[i].ch->language;
        (*versions)[n] = g->m[i].ch->version;
        n++;
    }
    return n;
}

void rmq_broker_clients_each_group(rmq_broker_clients_t *cl,
                                   void (*fn)(const char *group, bool consumer, size_t members,
                                              void *arg),
                                   void *arg) {
    if (!cl) return;
    const rmq_map_t *maps[2] = {&cl->producers, &cl->consumers};
    for (int k = 0; k < 2; k++) {
        size_t bi;
        for (rmq_map_ent_t *e = rmq_map_first(maps[k], &bi); e; e = rmq_map_next(maps[k], &bi, e)) {
            const group_t *g = e->v.ptr;
            fn(g->name, k == 1, g->nm, arg);
        }
    }
}

rmq_rem_conn_t *rmq_broker_clients_find_client(rmq_broker_clients_t *cl, const char *group,
                                               const char *client_id, int *version) {
    if (!cl || !client_id) return NULL;
    if (group) {
        group_t *g = rmq_map_get(&cl->consumers, group);
        for (size_t i = 0; g && i < g->nm; i++) {
            chan_t *ch = g->m[i].ch;
            if (!rmq_rem_conn_is_closed(ch->conn) && strcmp(ch->client_id, client_id) == 0) {
                if (version) *version = ch->version;
                return ch->conn;
            }
        }
        return NULL;
    }
    size_t bi;
    for (rmq_map_ent_t *e = rmq_map_first(&cl->chans, &bi); e;
         e = rmq_map_next(&cl->chans, &bi, e)) {
        chan_t *ch = e->v.ptr;
        if (!rmq_rem_conn_is_closed(ch->conn) && strcmp(ch->client_id, client_id) == 0) {
            if (version) *version = ch->version;
            return ch->conn;
        }
    }
    return NULL;
}

typedef struct {
    const char *topic;
    void (*fn)(const char *, void *);
    void *arg;
} bytopic_ctx_t;

static bool bytopic(rmq_map_ent_t *ent, void *arg) {
    void *v = ent->v.ptr;
    bytopic_ctx_t *c = arg;
    group_t *g = v;
    if (sub_find(g->subs, g->nsubs, c->topic)) c->fn(g->name, c->arg);
    return false;
}

void rmq_broker_clients_groups_of_topic(rmq_broker_clients_t *cl, const char *topic,
                                        void (*fn)(const char *group, void *arg), void *arg) {
    if (!cl) return;
    bytopic_ctx_t c = {topic, fn, arg};
    rmq_map_each(&cl->consumers, bytopic, &c);
}

/* ---- handlers ---------------------------------------------------------------------- */

#define NEED(call)                                                                                 \
    do {                                                                                           \
        rmq_rem_cmd_t *err_ = (call);                                                              \
        if (err_) return err_;                                                                     \
    } while (0)

/* %RETRY%<group> exists from the group's first heartbeat, and the NameServers learn it. */
/* (Creating it runs the topic table's changed hook, which re-registers.) */
static void ensure_retry_topic(rmq_broker_clients_t *cl, const rmq_subgroup_t *sg) {
    char topic[300];
    snprintf(topic, sizeof topic, "%s%s", RMQ_RETRY_PREFIX, sg->group_name);
    if (rmq_broker_topic_get(cl->topics, topic)) return;
    if (rmq_broker_topic_create_sys(cl->topics, topic, sg->retry_queue_nums,
                                    RMQ_PERM_READ | RMQ_PERM_WRITE)) {
        RMQ_LOG_INFO("clients", "created %s with %d queues", topic, sg->retry_queue_nums);
    } else {
        RMQ_LOG_WARN("clients", "could not create %s", topic);
    }
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_heartbeat) {
    rmq_broker_heartbeat_t hb;
    char err[200];
    if (rmq_broker_heartbeat_parse(req->body, req->body_len, &hb, err, sizeof err) != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "bad HeartbeatData: %s", err);
    chan_t *ch = chan_of(b->clients, c, true);
    if (!ch) {
        rmq_broker_heartbeat_free(&hb);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    if (ch->client_id[0] && strcmp(ch->client_id, hb.client_id) != 0)
        RMQ_LOG_WARN("clients", "connection %s changed client id %s -> %s", rmq_rem_conn_peer(c),
                     ch->client_id, hb.client_id);
    rmq_strlcpy(ch->client_id, hb.client_id, sizeof ch->client_id);
    ch->language = req->language;
    ch->version = req->version;
    int64_t now = rmq_now_ms();

    for (size_t i = 0; i < hb.nconsumers; i++) {
        rmq_broker_consumer_data_t *cd = &hb.consumers[i];
        const rmq_subgroup_t *sg = rmq_broker_subgroup_find_or_create(b->subgroups, cd->group);
        bool notify = true;
        if (sg) {
            notify = sg->notify_consumer_ids_changed_enable;
            ensure_retry_topic(b->clients, sg);
        }
        group_t *g = group_get(&b->clients->consumers, cd->group, true, true);
        if (!g) continue;
        g->consume_type = cd->consume_type;
        g->message_model = cd->message_model;
        if (cd->consume_from_where >= 0) g->consume_from_where = cd->consume_from_where;
        g->unit_mode = cd->unit_mode;
        bool joined = member_touch(g, ch, now);
        if (joined)
            RMQ_LOG_INFO("clients", "consumer %s (%s, %s v%d) joined group %s", ch->client_id,
                         rmq_rem_conn_peer(c), rmq_rem_language_name(ch->language), ch->version,
                         g->name);
        bool topics_changed = hb.without_sub ? false : update_subs(g, cd);
        if ((joined || topics_changed) && notify) notify_group(b->clients, g);
    }
    for (size_t i = 0; i < hb.nproducers; i++) {
        group_t *g = group_get(&b->clients->producers, hb.producers[i], false, true);
        if (g && member_touch(g, ch, now))
            RMQ_LOG_INFO("clients", "producer %s (%s) joined group %s", ch->client_id,
                         rmq_rem_conn_peer(c), g->name);
    }
    rmq_broker_heartbeat_free(&hb);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_unregister) {
    const char *client_id;
    NEED(rmq_broker_need_str(req, "clientID", &client_id));
    const char *pg = rmq_rem_cmd_get(req, "producerGroup");
    const char *cg = rmq_rem_cmd_get(req, "consumerGroup");
    chan_t *ch = chan_of(b->clients, c, false);
    if (!ch) return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (pg && *pg) {
        group_t *g = group_get(&b->clients->producers, pg, false, false);
        if (g && member_remove(g, ch)) {
            RMQ_LOG_INFO("clients", "producer %s left group %s", client_id, pg);
            if (g->nm == 0) group_free(rmq_map_del(&b->clients->producers, pg));
        }
    }
    if (cg && *cg) {
        group_t *g = group_get(&b->clients->consumers, cg, true, false);
        if (g && member_remove(g, ch)) {
            RMQ_LOG_INFO("clients", "consumer %s left group %s", client_id, cg);
            if (g->nm == 0)
                group_free(rmq_map_del(&b->clients->consumers, cg));
            else if (group_notify_enabled(b->clients, cg))
                notify_group(b->clients, g);
        }
    }
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_consumer_list) {
    const char *group;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    group_t *g = group_get(&b->clients->consumers, group, true, false);
    if (!g || !g->nm)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "no consumer for this group, %s", group);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"consumerIdList\":[");
    for (size_t i = 0; i < g->nm; i++) {
        if (i) rmq_buf_append_u8(&body, ',');
        rmq_json_put_str(&body, g->m[i].ch->client_id);
    }
    rmq_buf_append_str(&body, "]}");
    return rmq_broker_ok_body(req, &body);
}

static void append_connection(rmq_buf_t *b, const chan_t *ch) {
    rmq_buf_append_str(b, "{\"clientAddr\":");
    rmq_json_put_str(b, rmq_rem_conn_peer(ch->conn));
    rmq_buf_append_str(b, ",\"clientId\":");
    rmq_json_put_str(b, ch->client_id);
    rmq_buf_append_str(b, ",\"language\":");
    rmq_json_put_str(b, rmq_rem_language_name(ch->language));
    rmq_buf_appendf(b, ",\"version\":%d}", ch->version);
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_consumer_conns) {
    const char *group;
    NEED(rmq_broker_need_str(req, "consumerGroup", &group));
    group_t *g = group_get(&b->clients->consumers, group, true, false);
    if (!g || !g->nm)
        return rmq_broker_err(req, RMQ_ERR_CONSUMER_NOT_ONLINE, "the consumer group[%s] not online",
                              group);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"connectionSet\":[");
    for (size_t i = 0; i < g->nm; i++) {
        if (i) rmq_buf_append_u8(&body, ',');
        append_connection(&body, g->m[i].ch);
    }
    rmq_buf_append_str(&body, "]");
    if (g->consume_from_where >= 0) {
        rmq_buf_append_str(&body, ",\"consumeFromWhere\":");
        rmq_json_put_str(&body, rmq_broker_consume_from_names[g->consume_from_where]);
    }
    rmq_buf_append_str(&body, ",\"consumeType\":");
    rmq_json_put_str(&body, rmq_broker_consume_type_names[g->consume_type]);
    rmq_buf_append_str(&body, ",\"messageModel\":");
    rmq_json_put_str(&body, rmq_broker_message_model_names[g->message_model]);
    rmq_buf_append_str(&body, ",\"subscriptionTable\":{");
    for (size_t i = 0; i < g->nsubs; i++) {
        if (i) rmq_buf_append_u8(&body, ',');
        rmq_json_put_str(&body, g->subs[i].s.topic);
        rmq_buf_append_u8(&body, ':');
        rmq_broker_sub_to_json(&body, &g->subs[i]);
    }
    rmq_buf_append_str(&body, "}}");
    return rmq_broker_ok_body(req, &body);
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_producer_conns) {
    const char *group;
    NEED(rmq_broker_need_str(req, "producerGroup", &group));
    group_t *g = group_get(&b->clients->producers, group, false, false);
    if (!g || !g->nm)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the producer group[%s] not exist", group);
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"connectionSet\":[");
    for (size_t i = 0; i < g->nm; i++) {
        if (i) rmq_buf_append_u8(&body, ',');
        append_connection(&body, g->m[i].ch);
    }
    rmq_buf_append_str(&body, "]}");
    return rmq_broker_ok_body(req, &body);
}

/* ---- queue locks (RebalanceLockManager) -------------------------------------------- */

typedef struct {
    char topic[256];
    char broker[128];
    int qid;
} mq_t;

static void mq_key(const mq_t *q, char *out, size_t n) {
    snprintf(out, n, "%s\001%s\001%d", q->topic, q->broker, q->qid);
}

/* A LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request: {consumerGroup, clientId, mqSet} and the group's
 * lock table. */
typedef struct {
    json_t *root; /* owned; group and client_id point into it */
    const char *group, *client_id;
    mq_t *mqs; /* owned */
    size_t n;
    rmq_map_t *locks; /* the group's: "topic\001broker\001qid" -> lock_t; NULL if none */
} lock_req_t;

static void lock_req_fini(lock_req_t *lr) {
    json_decref(lr->root);
    free(lr->mqs);
}

/* Parse req's body into lr and find the group's lock table (created when create). NULL when
 * fine, else the error response (lr finished already). */
static rmq_rem_cmd_t *lock_req_parse(rmq_broker_clients_t *cl, const rmq_rem_cmd_t *req,
                                     bool create, lock_req_t *lr) {
    char err[160];
    memset(lr, 0, sizeof *lr);
    rmq_rem_cmd_t *e = NULL;
    if (!req->body) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "lock/unlock body missing");
    lr->root = rmq_fjson_parse((const char *)req->body, req->body_len, err, sizeof err);
    if (!lr->root) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "bad lock body: %s", err);
    lr->group = json_string_value(json_object_get(lr->root, "consumerGroup"));
    lr->client_id = json_string_value(json_object_get(lr->root, "clientId"));
    json_t *set = json_object_get(lr->root, "mqSet");
    size_t cnt = json_is_array(set) ? json_array_size(set) : 0;
    if (!lr->group || !lr->client_id) {
        e = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                           "bad lock body: consumerGroup or clientId missing");
    } else if (!(lr->mqs = calloc(cnt ? cnt : 1, sizeof *lr->mqs))) {
        e = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    if (e) {
        lock_req_fini(lr);
        return e;
    }
    for (size_t i = 0; i < cnt; i++) {
        mq_t *q = &lr->mqs[lr->n];
        if (rmq_fj_mq_from_json(json_array_get(set, i), q->topic, sizeof q->topic, q->broker,
                                sizeof q->broker, &q->qid))
            lr->n++;
    }
    lr->locks = rmq_map_get(&cl->locks, lr->group);
    if (!lr->locks && create) {
        rmq_map_t *gl = calloc(1, sizeof *gl);
        if (gl) rmq_map_init(gl);
        if (gl && rmq_map_put(&cl->locks, lr->group, gl, NULL) != RMQ_OK) {
            free(gl);
            gl = NULL;
        }
        lr->locks = gl;
    }
    return NULL;
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_lock) {
    lock_req_t lr;
    rmq_rem_cmd_t *e = lock_req_parse(b->clients, req, true, &lr);
    if (e) return e;
    rmq_map_t *gl = lr.locks;
    const char *group = lr.group, *client_id = lr.client_id;
    const mq_t *mqs = lr.mqs;
    size_t n = lr.n;
    int64_t now = rmq_now_ms();
    rmq_buf_t body;
    rmq_buf_init(&body);
    rmq_buf_append_str(&body, "{\"lockOKMQSet\":[");
    bool first = true;
    for (size_t i = 0; gl && i < n; i++) {
        char key[512];
        mq_key(&mqs[i], key, sizeof key);
        lock_t *l = rmq_map_get(gl, key);
        bool granted = false;
        if (!l) {
            l = calloc(1, sizeof *l);
            if (l && rmq_map_put(gl, key, l, NULL) == RMQ_OK) {
                rmq_strlcpy(l->client_id, client_id, sizeof l->client_id);
                l->last_update = now;
                granted = true;
                RMQ_LOG_INFO("clients", "lock %s:%s:%d for %s by %s (new)", mqs[i].topic,
                             mqs[i].broker, mqs[i].qid, group, client_id);
            } else {
                free(l);
            }
        } else if (strcmp(l->client_id, client_id) == 0) {
            l->last_update = now;
            granted = true;
        } else if (now - l->last_update > LOCK_MAX_LIVE_MS) {
            RMQ_LOG_WARN("clients", "lock %s:%s:%d of %s expired; %s takes it from %s",
                         mqs[i].topic, mqs[i].broker, mqs[i].qid, group, client_id, l->client_id);
            rmq_strlcpy(l->client_id, client_id, sizeof l->client_id);
            l->last_update = now;
            granted = true;
        } else {
            RMQ_LOG_DEBUG("clients", "lock %s:%s:%d of %s held by %s, not granted to %s",
                          mqs[i].topic, mqs[i].broker, mqs[i].qid, group, l->client_id, client_id);
        }
        if (granted) {
            if (!first) rmq_buf_append_u8(&body, ',');
            first = false;
            rmq_fj_mq(&body, mqs[i].broker, mqs[i].qid, mqs[i].topic);
        }
    }
    rmq_buf_append_str(&body, "]}");
    lock_req_fini(&lr);
    return rmq_broker_ok_body(req, &body);
}

RMQ_BROKER_HANDLER(rmq_broker_clients_on_unlock) {
    lock_req_t lr;
    rmq_rem_cmd_t *e = lock_req_parse(b->clients, req, false, &lr);
    if (e) return e;
    rmq_map_t *gl = lr.locks;
    const char *group = lr.group, *client_id = lr.client_id;
    const mq_t *mqs = lr.mqs;
    size_t n = lr.n;
    for (size_t i = 0; gl && i < n; i++) {
        char key[512];
        mq_key(&mqs[i], key, sizeof key);
        lock_t *l = rmq_map_get(gl, key);
        if (!l) continue;
        if (strcmp(l->client_id, client_id) == 0) {
            free(rmq_map_del(gl, key));
            RMQ_LOG_INFO("clients", "unlock %s:%s:%d of %s by %s", mqs[i].topic, mqs[i].broker,
                         mqs[i].qid, group, client_id);
        } else {
            RMQ_LOG_WARN("clients", "unlock %s:%s:%d of %s by %s refused: held by %s", mqs[i].topic,
                         mqs[i].broker, mqs[i].qid, group, client_id, l->client_id);
        }
    }
    lock_req_fini(&lr);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

/* CHECK_CLIENT_CONFIG: a Java consumer's start-up check of each non-TAG subscription. */
RMQ_BROKER_HANDLER(rmq_broker_clients_on_check_config) {
    char err[160];
    if (!req->body) return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    json_t *root = rmq_fjson_parse((const char *)req->body, req->body_len, err, sizeof err);
    if (!root)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "bad CheckClientRequestBody: %s", err);
    json_t *sd = json_object_get(root, "subscriptionData");
    rmq_rem_cmd_t *resp = NULL;
    if (json_is_object(sd)) {
        char t1[64], t2[64];
        const char *et = rmq_fj_get_str(sd, "expressionType", t1, sizeof t1);
        const char *ss = rmq_fj_get_str(sd, "subString", t2, sizeof t2);
        const char *topic = json_string_value(json_object_get(sd, "topic"));
        bool tag = !et || !*et || !strcmp(et, "TAG");
        rmq_broker_sub_t s;
        if (!tag && !b->env.cfg->enable_property_filter) {
            resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                                  "The broker does not support consumer to filter message by %s: "
                                  "enablePropertyFilter=false on this broker",
                                  et);
        } else if (rmq_broker_sub_build(&s, topic ? topic : "", ss, tag ? "TAG" : et, 0) !=
                   RMQ_OK) {
            resp = rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                                  "Parse %s expression failed: %.200s", tag ? "tag" : et,
                                  ss ? ss : "");
        } else {
            if (rmq_broker_sub_compile(&s) != RMQ_OK)
                resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
            else if (s.s.sql_err)
                resp = rmq_broker_err(req, RMQ_ERR_SUBSCRIPTION_PARSE_FAILED,
                                      "%s expression does not compile: %s", et, s.s.sql_err);
            rmq_broker_sub_free(&s);
        }
    }
    json_decref(root);
    return resp ? resp : rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}
