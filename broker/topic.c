/* Topic configurations (RocketMQ's TopicConfigManager): the table, its data version, topics.json
 * (store.md 8.3), the built-in system topics, auto-creation on send (broker.md 1.3), and the
 * handlers UPDATE_AND_CREATE_TOPIC (17), GET_ALL_TOPIC_CONFIG (21), DELETE_TOPIC_IN_BROKER (215).
 *
 * Loop thread only. Entries are allocated one by one and updated in place, so a pointer from
 * rmq_broker_topic_get stays valid until that topic is deleted. */
#include "broker/topic.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/util.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

struct rmq_broker_topics_s {
    const rmq_broker_env_t *env; /* borrowed */
    void (*changed)(void *arg);  /* the NameServers must learn the table again */
    void *changed_arg;
    rmq_map_t map;                    /* name -> rmq_topic_cfg_t (owned, never moves) */
    int64_t dv_timestamp, dv_counter; /* DataVersion */
    char path[600];
};

static rmq_topic_cfg_t *find(rmq_broker_topics_t *t, const char *name) {
    if (!t || !name) return NULL;
    return rmq_map_get(&t->map, name);
}

/* Insert or overwrite in place; returns the stored entry. */
static rmq_topic_cfg_t *upsert(rmq_broker_topics_t *t, const rmq_topic_cfg_t *tc) {
    bool created;
    rmq_map_ent_t *e = rmq_map_upsert(&t->map, tc->name, strlen(tc->name), &created);
    if (!e) return NULL;
    if (created) {
        e->v.ptr = malloc(sizeof *tc);
        if (!e->v.ptr) {
            rmq_map_remove(&t->map, e);
            return NULL;
        }
    }
    memcpy(e->v.ptr, tc, sizeof *tc);
    return e->v.ptr;
}

static void next_version(rmq_broker_topics_t *t) {
    t->dv_timestamp = rmq_now_ms();
    t->dv_counter++;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *tc_json(const rmq_topic_cfg_t *tc) {
    json_t *o = json_object();
    json_object_set_new(o, "order", json_boolean(tc->order));
    json_object_set_new(o, "perm", json_integer(tc->perm));
    json_object_set_new(o, "readQueueNums", json_integer(tc->read_queue_nums));
    json_object_set_new(o, "topicFilterType",
                        json_string(tc->topic_filter_type ? "MULTI_TAG" : "SINGLE_TAG"));
    json_object_set_new(o, "topicName", json_string(tc->name));
    json_object_set_new(o, "topicSysFlag", json_integer(tc->topic_sys_flag));
    json_object_set_new(o, "writeQueueNums", json_integer(tc->write_queue_nums));
    return o;
}

static json_t *wrapper(rmq_broker_topics_t *t) {
    json_t *root = json_object(), *table = json_object(), *dv = json_object();
    json_object_set_new(dv, "counter", json_integer(t->dv_counter));
    json_object_set_new(dv, "timestamp", json_integer(t->dv_timestamp));
    size_t bi;
    for (rmq_map_ent_t *e = rmq_map_first(&t->map, &bi); e; e = rmq_map_next(&t->map, &bi, e))
        json_object_set_new(table, e->key, tc_json(e->v.ptr));
    json_object_set_new(root, "dataVersion", dv);
    json_object_set_new(root, "topicConfigTable", table);
    return root;
}

char *rmq_broker_topics_wrapper_json(rmq_broker_topics_t *t) {
    json_t *w = wrapper(t);
    char *s = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(w);
    return s;
}

static int64_t jint(json_t *o, const char *k, int64_t def) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_string(v)) {
        int64_t x;
        if (rmq_parse_i64(json_string_value(v), &x) == 0) return x;
    }
    return def;
}

static void persist(rmq_broker_topics_t *t) {
    json_t *w = wrapper(t);
    char *s = json_dumps(w, JSON_INDENT(1) | JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(w);
    if (!s) return;
    /* fastjson's pretty print indents with tabs: one leading space per level becomes a tab. */
    for (char *line = s; *line;) {
        char *p = line;
        while (*p == ' ') *p++ = '\t';
        char *nl = strchr(p, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    rmq_err_t err = rmq_store_cfgfile_write(t->path, s, strlen(s));
    if (err != RMQ_OK)
        RMQ_LOG_ERROR("topic", "cannot write %s: %s (topic changes are not durable)", t->path,
                      rmq_strerror(err));
    free(s);
}

/* One TopicConfig of a topicConfigTable (k its key). */
static void tc_from_json(const char *k, json_t *v, rmq_topic_cfg_t *tc) {
    memset(tc, 0, sizeof *tc);
    json_t *name = json_object_get(v, "topicName");
    rmq_strlcpy(tc->name, json_is_string(name) ? json_string_value(name) : k, sizeof tc->name);
    tc->read_queue_nums = (int)jint(v, "readQueueNums", 16);
    tc->write_queue_nums = (int)jint(v, "writeQueueNums", 16);
    tc->perm = (int)jint(v, "perm", RMQ_PERM_READ | RMQ_PERM_WRITE);
    json_t *ft = json_object_get(v, "topicFilterType");
    tc->topic_filter_type = json_is_string(ft) && !strcmp(json_string_value(ft), "MULTI_TAG");
    if (json_is_integer(ft)) tc->topic_filter_type = json_integer_value(ft) == 1;
    tc->topic_sys_flag = (int)jint(v, "topicSysFlag", 0);
    tc->order = json_is_true(json_object_get(v, "order"));
}

/* Upsert every entry of a topicConfigTable; returns how many. */
static size_t upsert_table(rmq_broker_topics_t *t, json_t *table) {
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(table, k, v) {
        if (!json_is_object(v)) continue;
        rmq_topic_cfg_t tc;
        tc_from_json(k, v, &tc);
        upsert(t, &tc);
        n++;
    }
    return n;
}

static rmq_err_t load(rmq_broker_topics_t *t) {
    char *text = NULL;
    size_t len = 0;
    rmq_err_t err = rmq_store_cfgfile_read(t->path, &text, &len);
    if (err == RMQ_ERR__NOT_FOUND) return RMQ_OK;
    if (err != RMQ_OK) {
        RMQ_LOG_WARN("topic", "cannot read %s: %s; starting with the built-in topics", t->path,
                     rmq_strerror(err));
        return RMQ_OK;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root) {
        RMQ_LOG_WARN("topic", "%s: bad JSON at line %d: %s; starting with the built-in topics",
                     t->path, je.line, je.text);
        return RMQ_OK;
    }
    json_t *dv = json_object_get(root, "dataVersion");
    if (json_is_object(dv)) {
        t->dv_counter = jint(dv, "counter", 0);
        t->dv_timestamp = jint(dv, "timestamp", rmq_now_ms());
    }
    size_t n = upsert_table(t, json_object_get(root, "topicConfigTable"));
    json_decref(root);
    RMQ_LOG_INFO("topic", "loaded %zu topics from %s", n, t->path);
    return RMQ_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void add_builtin(rmq_broker_topics_t *t, const char *name, int qnums, int perm) {
    rmq_topic_cfg_t tc = {0};
    rmq_strlcpy(tc.name, name, sizeof tc.name);
    tc.read_queue_nums = tc.write_queue_nums = qnums;
    tc.perm = perm;
    upsert(t, &tc);
}

rmq_err_t rmq_broker_topics_open(const rmq_broker_env_t *env, void (*changed)(void *arg), void *arg,
                                 rmq_broker_topics_t **out) {
    rmq_broker_topics_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR__NOMEM;
    const rmq_broker_cfg_t *cfg = env->cfg;
    t->env = env;
    t->changed = changed;
    t->changed_arg = arg;
    rmq_map_init(&t->map);
    t->dv_timestamp = rmq_now_ms();
    snprintf(t->path, sizeof t->path, "%s/topics.json", env->config_dir);
    const int rw = RMQ_PERM_READ | RMQ_PERM_WRITE;
    /* Built-ins as TopicConfigManager creates them; the file may override them. */
    add_builtin(t, "SELF_TEST_TOPIC", 1, rw);
    if (cfg->auto_create_topic_enable)
        add_builtin(t, RMQ_TOPIC_DEFAULT, cfg->default_topic_queue_nums, rw | RMQ_PERM_INHERIT);
    add_builtin(t, "BenchmarkTest", 1024, rw);
    add_builtin(t, cfg->broker_cluster_name, 16, RMQ_PERM_INHERIT | rw);
    add_builtin(t, cfg->broker_name, 1, RMQ_PERM_INHERIT | rw);
    add_builtin(t, RMQ_TOPIC_OFFSET_MOVED, 1, rw);
    add_builtin(t, RMQ_TOPIC_SCHEDULE, 18, rw);
    char reply[300];
    snprintf(reply, sizeof reply, "%s_REPLY_TOPIC", cfg->broker_cluster_name);
    add_builtin(t, reply, 1, rw);
    rmq_err_t err = load(t);
    if (err != RMQ_OK) {
        rmq_map_fini(&t->map, free);
        free(t);
        return err;
    }
    persist(t);
    *out = t;
    return RMQ_OK;
}

void rmq_broker_topics_close(rmq_broker_topics_t *t) {
    if (!t) return;
    persist(t);
    rmq_map_fini(&t->map, free);
    free(t);
}

/* ---- slave sync (broker.md 9.4) ------------------------------------------------------------ */

static bool drop_absent(rmq_map_ent_t *e, void *table) {
    if (json_object_get(table, e->key)) return false;
    free(e->v.ptr);
    return true;
}

rmq_err_t rmq_broker_topics_sync(rmq_broker_topics_t *t, const void *body, size_t len) {
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    json_t *table = root ? json_object_get(root, "topicConfigTable") : NULL;
    json_t *dv = root ? json_object_get(root, "dataVersion") : NULL;
    if (!json_is_object(table) || !json_is_object(dv)) {
        json_decref(root);
        return RMQ_ERR__CORRUPT;
    }
    int64_t counter = jint(dv, "counter", 0), ts = jint(dv, "timestamp", 0);
    if (counter == t->dv_counter && ts == t->dv_timestamp) {
        json_decref(root);
        return RMQ_OK; /* unchanged */
    }
    /* Replace: drop what the master no longer has, then take every entry. */
    rmq_map_each(&t->map, drop_absent, table);
    size_t n = upsert_table(t, table);
    t->dv_counter = counter;
    t->dv_timestamp = ts;
    json_decref(root);
    persist(t);
    RMQ_LOG_INFO("topic", "topic table synchronised from the master: %zu topics", n);
    if (t->changed) t->changed(t->changed_arg);
    return RMQ_OK;
}

/* ---- queries and changes ------------------------------------------------------------------- */

size_t rmq_broker_topics_count(const rmq_broker_topics_t *t) {
    return t ? t->map.count : 0;
}

const rmq_topic_cfg_t *rmq_broker_topic_get(rmq_broker_topics_t *t, const char *topic) {
    return find(t, topic);
}

rmq_err_t rmq_broker_topic_put(rmq_broker_topics_t *t, const rmq_topic_cfg_t *tc) {
    if (!upsert(t, tc)) return RMQ_ERR__NOMEM;
    next_version(t);
    persist(t);
    RMQ_LOG_INFO("topic", "topic %s: read %d write %d perm %d", tc->name, tc->read_queue_nums,
                 tc->write_queue_nums, tc->perm);
    if (t->changed) t->changed(t->changed_arg);
    return RMQ_OK;
}

rmq_err_t rmq_broker_topic_delete(rmq_broker_topics_t *t, const char *topic) {
    rmq_topic_cfg_t *tc = rmq_map_del(&t->map, topic);
    if (!tc) return RMQ_ERR__NOT_FOUND;
    free(tc);
    next_version(t);
    persist(t);
    RMQ_LOG_INFO("topic", "topic %s deleted", topic);
    return RMQ_OK;
}

const rmq_topic_cfg_t *rmq_broker_topic_create_on_send(rmq_broker_topics_t *t, const char *topic,
                                                       const char *default_topic, int queue_nums,
                                                       int topic_sys_flag) {
    const rmq_topic_cfg_t *e = find(t, topic);
    if (e) return e;
    rmq_topic_cfg_t *def = default_topic ? find(t, default_topic) : NULL;
    if (!def) {
        RMQ_LOG_WARN("topic", "cannot create topic %s: default topic %s does not exist", topic,
                     default_topic ? default_topic : "(none)");
        return NULL;
    }
    if (!strcmp(default_topic, RMQ_TOPIC_DEFAULT) && !t->env->cfg->auto_create_topic_enable)
        def->perm = RMQ_PERM_READ | RMQ_PERM_WRITE; /* a persisted TBW102 stops inheriting */
    if (!(def->perm & RMQ_PERM_INHERIT)) {
        RMQ_LOG_DEBUG("topic", "cannot create topic %s: default topic %s has no inherit perm",
                      topic, default_topic);
        return NULL;
    }
    rmq_topic_cfg_t tc = {0};
    rmq_strlcpy(tc.name, topic, sizeof tc.name);
    int q = RMQ_MIN(queue_nums, def->write_queue_nums);
    tc.read_queue_nums = tc.write_queue_nums = q < 0 ? 0 : q;
    tc.perm = def->perm & ~RMQ_PERM_INHERIT;
    tc.topic_filter_type = def->topic_filter_type;
    tc.topic_sys_flag = topic_sys_flag;
    if (rmq_broker_topic_put(t, &tc) != RMQ_OK) return NULL;
    return rmq_broker_topic_get(t, topic);
}

const rmq_topic_cfg_t *rmq_broker_topic_create_sys(rmq_broker_topics_t *t, const char *topic, int n,
                                                   int perm) {
    const rmq_topic_cfg_t *e = find(t, topic);
    if (e) return e;
    rmq_topic_cfg_t tc = {0};
    rmq_strlcpy(tc.name, topic, sizeof tc.name);
    tc.read_queue_nums = tc.write_queue_nums = n;
    tc.perm = perm;
    if (rmq_broker_topic_put(t, &tc) != RMQ_OK) return NULL;
    return rmq_broker_topic_get(t, topic);
}

void rmq_broker_topics_update_order(rmq_broker_topics_t *t, const void *body, size_t len) {
    if (!t || !body || !len) return;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *table = json_object_get(root, "table");
    if (!json_is_object(table)) {
        json_decref(root);
        return;
    }
    bool changed = false;
    size_t bi;
    for (rmq_map_ent_t *e = rmq_map_first(&t->map, &bi); e; e = rmq_map_next(&t->map, &bi, e)) {
        rmq_topic_cfg_t *tc = e->v.ptr;
        bool order = json_object_get(table, tc->name) != NULL;
        if (order != tc->order) {
            tc->order = order;
            changed = true;
            RMQ_LOG_INFO("topic", "topic %s is %s an order topic (NameServer KV)", tc->name,
                         order ? "now" : "no longer");
        }
    }
    json_decref(root);
    if (changed) {
        next_version(t);
        persist(t);
    }
}

/* ---- validation ---------------------------------------------------------------------------- */

const char *rmq_broker_topic_invalid(const rmq_broker_cfg_t *cfg, const char *topic) {
    if (!topic || !*topic) return "The specified topic is blank.";
    size_t n = 0;
    for (const char *p = topic; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-'))
            return "The specified topic contains illegal characters, allowing only "
                   "^[%|a-zA-Z0-9_-]+$";
    }
    int max = cfg && cfg->max_topic_length > 0 ? cfg->max_topic_length : 127;
    if (n > (size_t)max) return "The specified topic is longer than topic max length.";
    return NULL;
}

bool rmq_broker_topic_send_forbidden(const char *topic) {
    static const char *const names[] = {RMQ_TOPIC_SCHEDULE,      RMQ_TOPIC_TRANS_HALF,
                                        RMQ_TOPIC_TRANS_OP_HALF, "TRANS_CHECK_MAX_TIME_TOPIC",
                                        "SELF_TEST_TOPIC",       RMQ_TOPIC_OFFSET_MOVED};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(names); i++)
        if (!strcmp(topic, names[i])) return true;
    return false;
}

bool rmq_broker_topic_is_system(const char *topic) {
    static const char *const names[] = {RMQ_TOPIC_DEFAULT,
                                        RMQ_TOPIC_SCHEDULE,
                                        "BenchmarkTest",
                                        RMQ_TOPIC_TRANS_HALF,
                                        "RMQ_SYS_TRACE_TOPIC",
                                        RMQ_TOPIC_TRANS_OP_HALF,
                                        "TRANS_CHECK_MAX_TIME_TOPIC",
                                        "SELF_TEST_TOPIC",
                                        RMQ_TOPIC_OFFSET_MOVED};
    for (size_t i = 0; i < RMQ_ARRAY_LEN(names); i++)
        if (!strcmp(topic, names[i])) return true;
    return !strncmp(topic, "rmq_sys_", 8);
}

/* ---- handlers ------------------------------------------------------------------------------ */

static rmq_rem_cmd_t *need_i32(const rmq_rem_cmd_t *req, const char *k, int32_t *out, bool opt,
                               int32_t def) {
    rmq_err_t e = rmq_rem_cmd_get_i32(req, k, out);
    if (e == RMQ_ERR__NOT_FOUND && opt) {
        *out = def;
        return NULL;
    }
    if (e == RMQ_ERR__NOT_FOUND)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is null", k);
    if (e != RMQ_OK)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is not a number",
                              k);
    return NULL;
}

RMQ_BROKER_HANDLER(rmq_broker_topic_on_update) {
    rmq_rem_cmd_t *resp = NULL;
    const char *topic = rmq_rem_cmd_get(req, "topic");
    if (!topic) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <topic> is null");
        goto out;
    }
    const char *why = rmq_broker_topic_invalid(b->env.cfg, topic);
    if (why) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s topic[%s]", why, topic);
        goto out;
    }
    if (rmq_broker_topic_is_system(topic)) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "The topic[%s] is conflict with system topic.", topic);
        goto out;
    }
    rmq_topic_cfg_t tc = {0};
    rmq_strlcpy(tc.name, topic, sizeof tc.name);
    int32_t rq, wq, perm, sysflag;
    if ((resp = need_i32(req, "readQueueNums", &rq, false, 0)) ||
        (resp = need_i32(req, "writeQueueNums", &wq, false, 0)) ||
        (resp = need_i32(req, "perm", &perm, false, 0)) ||
        (resp = need_i32(req, "topicSysFlag", &sysflag, true, 0)))
        goto out;
    if (rq < 0 || wq < 0 || rq > 65535 || wq > 65535) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "readQueueNums/writeQueueNums out of range: %d/%d", rq, wq);
        goto out;
    }
    tc.read_queue_nums = rq;
    tc.write_queue_nums = wq;
    tc.perm = perm;
    tc.topic_sys_flag = sysflag;
    const char *ft = rmq_rem_cmd_get(req, "topicFilterType");
    tc.topic_filter_type = ft && (!strcmp(ft, "MULTI_TAG") || !strcmp(ft, "1"));
    bool order = false;
    rmq_rem_cmd_get_bool(req, "order", &order);
    tc.order = order;
    RMQ_LOG_INFO("topic", "UPDATE_AND_CREATE_TOPIC %s from %s", topic, rmq_rem_conn_peer(c));
    rmq_err_t err = rmq_broker_topic_put(b->topics, &tc);
    resp = err == RMQ_OK ? rmq_rem_cmd_new_response(req, RMQ_OK, NULL)
                         : rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", rmq_strerror(err));
out:
    return resp;
}

RMQ_BROKER_HANDLER(rmq_broker_topic_on_get_all) {
    return rmq_broker_ok_text(req, rmq_broker_topics_wrapper_json(b->topics),
                              "No topic in this broker.");
}

RMQ_BROKER_HANDLER(rmq_broker_topic_on_delete) {
    rmq_rem_cmd_t *resp;
    const char *topic = rmq_rem_cmd_get(req, "topic");
    const char *why = topic && *topic ? rmq_broker_topic_invalid(b->env.cfg, topic) : NULL;
    if (!topic || !*topic) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <topic> is null");
    } else if (why) { /* also keeps names like "../x" away from the store's directories */
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s topic[%.200s]", why, topic);
    } else if (rmq_broker_topic_is_system(topic)) {
        resp = rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "The topic[%s] is conflict with system topic.", topic);
    } else {
        RMQ_LOG_INFO("topic", "DELETE_TOPIC_IN_BROKER %s from %s", topic, rmq_rem_conn_peer(c));
        rmq_broker_topic_delete(b->topics, topic);
        rmq_store_delete_topic(b->env.store, topic);
        resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    }
    return resp;
}
