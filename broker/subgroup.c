/* Subscription groups (broker.md 4.4): group -> SubscriptionGroupConfig, persisted to
 * config/subscriptionGroup.json (store.md 8.6) on every change with a DataVersion bump;
 * unknown groups are created with defaults on first use when autoCreateSubscriptionGroup (or
 * for CID_RMQ_SYS_* groups). Handlers 200 / 201 / 207. */
#include "broker/subgroup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/util.h"
#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

struct rmq_broker_subgroups_s {
    const rmq_broker_env_t *env; /* borrowed */
    void (*drop_offsets)(const char *group, void *arg);
    void *drop_arg;
    rmq_map_t map; /* name -> rmq_subgroup_t (owned) */
    int64_t dv_counter, dv_timestamp;
};

static const char *const builtin_groups[] = {
    "TOOLS_CONSUMER",  "FILTERSRV_CONSUMER",    "SELF_TEST_C_GROUP", "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER",  NULL};

void rmq_broker_subgroup_defaults(rmq_subgroup_t *g, const char *name) {
    memset(g, 0, sizeof *g);
    rmq_strlcpy(g->group_name, name, sizeof g->group_name);
    g->consume_enable = true;
    g->consume_from_min_enable = true;
    g->consume_broadcast_enable = true;
    g->retry_queue_nums = 1;
    g->retry_max_times = 16;
    g->broker_id = 0;
    g->which_broker_when_consume_slowly = 1;
    g->notify_consumer_ids_changed_enable = true;
}

rmq_err_t rmq_broker_subgroup_from_json(json_t *o, rmq_subgroup_t *g) {
    if (!json_is_object(o)) return RMQ_ERR__INVALID_ARG;
    char tmp[32];
    const char *name = rmq_fj_get_str(o, "groupName", tmp, sizeof tmp);
    if (!name || !*name) return RMQ_ERR__INVALID_ARG;
    rmq_broker_subgroup_defaults(g, name);
    g->consume_enable = rmq_fj_get_bool(o, "consumeEnable", g->consume_enable);
    g->consume_from_min_enable =
        rmq_fj_get_bool(o, "consumeFromMinEnable", g->consume_from_min_enable);
    g->consume_broadcast_enable =
        rmq_fj_get_bool(o, "consumeBroadcastEnable", g->consume_broadcast_enable);
    g->retry_queue_nums = (int)rmq_fj_get_i64(o, "retryQueueNums", g->retry_queue_nums);
    g->retry_max_times = (int)rmq_fj_get_i64(o, "retryMaxTimes", g->retry_max_times);
    g->broker_id = rmq_fj_get_i64(o, "brokerId", g->broker_id);
    g->which_broker_when_consume_slowly =
        rmq_fj_get_i64(o, "whichBrokerWhenConsumeSlowly", g->which_broker_when_consume_slowly);
    g->notify_consumer_ids_changed_enable =
        rmq_fj_get_bool(o, "notifyConsumerIdsChangedEnable", g->notify_consumer_ids_changed_enable);
    if (g->retry_queue_nums < 0) g->retry_queue_nums = 0;
    return RMQ_OK;
}

void rmq_broker_subgroup_to_json(rmq_buf_t *b, const rmq_subgroup_t *g) {
    rmq_buf_appendf(b,
                    "{\"brokerId\":%" PRId64 ",\"consumeBroadcastEnable\":%s,"
                    "\"consumeEnable\":%s,\"consumeFromMinEnable\":%s,\"groupName\":",
                    g->broker_id, g->consume_broadcast_enable ? "true" : "false",
                    g->consume_enable ? "true" : "false",
                    g->consume_from_min_enable ? "true" : "false");
    rmq_json_put_str(b, g->group_name);
    rmq_buf_appendf(b,
                    ",\"notifyConsumerIdsChangedEnable\":%s,\"retryMaxTimes\":%d,"
                    "\"retryQueueNums\":%d,\"whichBrokerWhenConsumeSlowly\":%" PRId64 "}",
                    g->notify_consumer_ids_changed_enable ? "true" : "false", g->retry_max_times,
                    g->retry_queue_nums, g->which_broker_when_consume_slowly);
}

typedef struct {
    rmq_buf_t *b;
    bool first;
} enc_ctx_t;

static bool enc_one(rmq_map_ent_t *e, void *arg) {
    enc_ctx_t *c = arg;
    const char *k = e->key;
    const rmq_subgroup_t *v = e->v.ptr;
    if (!c->first) rmq_buf_append_u8(c->b, ',');
    c->first = false;
    rmq_buf_append_str(c->b, "\n\t\t");
    rmq_json_put_str(c->b, k);
    rmq_buf_append_u8(c->b, ':');
    rmq_broker_subgroup_to_json(c->b, v);
    return false;
}

/* SubscriptionGroupWrapper text: the file content and the 201 body. New string. */
static char *encode_all(rmq_broker_subgroups_t *t) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_appendf(&b,
                    "{\n\t\"dataVersion\":{\"counter\":%" PRId64 ",\"timestamp\":%" PRId64
                    "},\n\t\"subscriptionGroupTable\":{",
                    t->dv_counter, t->dv_timestamp);
    enc_ctx_t c = {&b, true};
    rmq_map_each(&t->map, enc_one, &c);
    rmq_buf_append_str(&b, "\n\t}\n}");
    rmq_buf_append_u8(&b, 0);
    size_t n;
    return (char *)rmq_buf_detach(&b, &n);
}

static rmq_err_t decode_all(rmq_broker_subgroups_t *t, const char *text, size_t len) {
    char err[160];
    json_t *root = rmq_fjson_parse(text, len, err, sizeof err);
    if (!root || !json_is_object(root)) {
        RMQ_LOG_WARN("subgroup", "subscriptionGroup.json: %s", root ? "not an object" : err);
        json_decref(root);
        return RMQ_ERR__CORRUPT;
    }
    json_t *dv = json_object_get(root, "dataVersion");
    if (json_is_object(dv)) {
        t->dv_counter = rmq_fj_get_i64(dv, "counter", 0);
        t->dv_timestamp = rmq_fj_get_i64(dv, "timestamp", 0);
    }
    json_t *tbl = json_object_get(root, "subscriptionGroupTable");
    const char *key;
    json_t *o;
    json_object_foreach(tbl, key, o) {
        rmq_subgroup_t *g = malloc(sizeof *g);
        if (!g) break;
        if (rmq_broker_subgroup_from_json(o, g) != RMQ_OK) {
            RMQ_LOG_WARN("subgroup", "subscriptionGroup.json: skipping %s", key);
            free(g);
            continue;
        }
        void *old = NULL;
        if (rmq_map_put(&t->map, g->group_name, g, &old) != RMQ_OK) free(g);
        free(old);
    }
    json_decref(root);
    return RMQ_OK;
}

static void persist(rmq_broker_subgroups_t *t) {
    char *text = encode_all(t);
    if (!text) {
        RMQ_LOG_ERROR("subgroup", "out of memory persisting subscription groups");
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/subscriptionGroup.json", t->env->config_dir);
    rmq_err_t e = rmq_store_cfgfile_write(path, text, strlen(text));
    if (e != RMQ_OK) RMQ_LOG_ERROR("subgroup", "cannot write %s: %s", path, rmq_strerror(e));
    free(text);
}

static void next_version(rmq_broker_subgroups_t *t) {
    t->dv_counter++;
    t->dv_timestamp = rmq_now_ms();
}

static rmq_err_t decode_file(const char *text, size_t len, void *t) {
    return decode_all(t, text, len);
}

rmq_err_t rmq_broker_subgroups_open(const rmq_broker_env_t *env,
                                    void (*drop_offsets)(const char *group, void *arg), void *arg,
                                    rmq_broker_subgroups_t **out) {
    rmq_broker_subgroups_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR__NOMEM;
    t->env = env;
    t->drop_offsets = drop_offsets;
    t->drop_arg = arg;
    rmq_map_init(&t->map);
    t->dv_timestamp = rmq_now_ms();
    *out = t; /* closed by the caller on failure too */
    char path[600];
    snprintf(path, sizeof path, "%s/subscriptionGroup.json", env->config_dir);
    rmq_broker_load_config("subgroup", path, "starting with the built-in groups", decode_file, t);
    for (int i = 0; builtin_groups[i]; i++) {
        if (rmq_map_get(&t->map, builtin_groups[i])) continue;
        rmq_subgroup_t *g = malloc(sizeof *g);
        if (!g) return RMQ_ERR__NOMEM;
        rmq_broker_subgroup_defaults(g, builtin_groups[i]);
        if (rmq_map_put(&t->map, g->group_name, g, NULL) != RMQ_OK) {
            free(g);
            return RMQ_ERR__NOMEM;
        }
    }
    RMQ_LOG_INFO("subgroup", "%zu subscription groups", t->map.count);
    return RMQ_OK;
}

rmq_err_t rmq_broker_subgroups_sync(rmq_broker_subgroups_t *t, const void *body, size_t len) {
    char err[160];
    json_t *root = rmq_fjson_parse(body, len, err, sizeof err);
    json_t *dv = root ? json_object_get(root, "dataVersion") : NULL;
    if (!json_is_object(dv) || !json_is_object(json_object_get(root, "subscriptionGroupTable"))) {
        json_decref(root);
        return RMQ_ERR__CORRUPT;
    }
    int64_t counter = rmq_fj_get_i64(dv, "counter", 0), ts = rmq_fj_get_i64(dv, "timestamp", 0);
    json_decref(root);
    if (counter == t->dv_counter && ts == t->dv_timestamp) return RMQ_OK; /* unchanged */
    rmq_map_fini(&t->map, free);
    rmq_map_init(&t->map);
    rmq_err_t e = decode_all(t, body, len);
    persist(t);
    RMQ_LOG_INFO("subgroup", "subscription groups synchronised from the master: %zu groups",
                 t->map.count);
    return e;
}

void rmq_broker_subgroups_close(rmq_broker_subgroups_t *t) {
    if (!t) return;
    rmq_map_fini(&t->map, free);
    free(t);
}

size_t rmq_broker_subgroups_count(const rmq_broker_subgroups_t *t) {
    return t ? t->map.count : 0;
}

const rmq_subgroup_t *rmq_broker_subgroup_find(rmq_broker_subgroups_t *t, const char *group) {
    return t ? rmq_map_get(&t->map, group) : NULL;
}

const rmq_subgroup_t *rmq_broker_subgroup_find_or_create(rmq_broker_subgroups_t *t,
                                                         const char *group) {
    if (!t || !group || !*group) return NULL;
    const rmq_subgroup_t *g = rmq_map_get(&t->map, group);
    if (g) return g;
    if (!t->env->cfg->auto_create_subscription_group && strncmp(group, "CID_RMQ_SYS_", 12) != 0)
        return NULL;
    rmq_subgroup_t *ng = malloc(sizeof *ng);
    if (!ng) return NULL;
    rmq_broker_subgroup_defaults(ng, group);
    if (rmq_map_put(&t->map, group, ng, NULL) != RMQ_OK) {
        free(ng);
        return NULL;
    }
    RMQ_LOG_INFO("subgroup", "auto-created subscription group %s", group);
    next_version(t);
    persist(t);
    return ng;
}

/* ---- handlers ---------------------------------------------------------------------- */

RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_update) {
    char err[160];
    json_t *o =
        req->body ? rmq_fjson_parse((const char *)req->body, req->body_len, err, sizeof err) : NULL;
    if (!o) {
        if (!req->body) snprintf(err, sizeof err, "no body");
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "bad SubscriptionGroupConfig body: %s",
                              err);
    }
    rmq_subgroup_t *g = malloc(sizeof *g);
    if (!g) {
        json_decref(o);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    rmq_err_t e = rmq_broker_subgroup_from_json(o, g);
    json_decref(o);
    if (e != RMQ_OK) {
        free(g);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "bad SubscriptionGroupConfig body: groupName missing");
    }
    void *old = NULL;
    if (rmq_map_put(&b->subgroups->map, g->group_name, g, &old) != RMQ_OK) {
        free(g);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "out of memory");
    }
    RMQ_LOG_INFO("subgroup", "%s subscription group %s from %s", old ? "updated" : "created",
                 g->group_name, rmq_rem_conn_peer(c));
    free(old);
    next_version(b->subgroups);
    persist(b->subgroups);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_get_all) {
    return rmq_broker_ok_text(req, encode_all(b->subgroups), "out of memory");
}

RMQ_BROKER_HANDLER(rmq_broker_subgroup_on_delete) {
    const char *group;
    bool remove_offset = false;
    rmq_rem_cmd_t *err = rmq_broker_need_str(req, "groupName", &group);
    if (!err) err = rmq_broker_opt_bool(req, "removeOffset", &remove_offset);
    if (err) return err;
    void *old = rmq_map_del(&b->subgroups->map, group);
    if (old) {
        free(old);
        next_version(b->subgroups);
        persist(b->subgroups);
        RMQ_LOG_INFO("subgroup", "deleted subscription group %s", group);
    }
    if (remove_offset && b->subgroups->drop_offsets)
        b->subgroups->drop_offsets(group, b->subgroups->drop_arg);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}
