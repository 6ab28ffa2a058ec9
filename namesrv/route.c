/* NameServer route tables (see route.h). Design notes:
 *
 * - One owner, one thread: every table hangs off rmq_ns_route_t and is touched only by the
 *   NameServer's loop thread, so there is no lock (RocketMQ needs a read-write lock because
 *   Netty runs its processors on a thread pool).
 * - Output is deterministic: Java iterates HashMaps in hash order, which no client relies on
 *   (they sort queue data by broker name themselves); we emit map keys and list items sorted by
 *   name, and broker ids in ascending order as a Java HashMap<Long,...> of small ids does.
 * - Liveness uses the monotonic clock handed in by the caller, so a wall-clock step cannot
 *   expire every broker at once. */
#include "namesrv/route.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"
#include "common/util.h"

#define MOD "namesrv"

typedef struct {
    char *broker_name;
    int read_queue_nums, write_queue_nums, perm, topic_sys_flag;
} qdata_t;

typedef struct { /* value of the topics map: queue data sorted by broker name */
    qdata_t *q;
    size_t n, cap;
} topic_t;

typedef struct {
    int64_t id;
    char *addr;
} baddr_t;

typedef struct { /* value of the brokers map: addresses sorted by id */
    char *cluster;
    char *name;
    baddr_t *a;
    size_t n, cap;
} broker_t;

/* A list of strings: the clusters map's value (its broker names, kept sorted) and the filter
 * map's (filter server addresses). */
typedef struct {
    char **s;
    size_t n, cap;
} strlist_t;

typedef struct { /* value of the live map */
    uint64_t last_update_ms;
    uint64_t timeout_ms; /* 0: the scan's default */
    rmq_ns_dv_t dv;
    void *conn;
    char *ha_addr;
    char owner_host[64]; /* remote address (no port) of the connection that registered it */
} live_t;

struct rmq_ns_route_s {
    rmq_map_t topics;   /* topic -> topic_t */
    rmq_map_t brokers;  /* broker name -> broker_t */
    rmq_map_t clusters; /* cluster name -> strlist_t of broker names */
    rmq_map_t live;     /* broker addr -> live_t */
    rmq_map_t filter;   /* broker addr -> strlist_t */
};

/* ---------- value lifetimes ---------- */

static void topic_free(void *p) {
    topic_t *t = p;
    for (size_t i = 0; i < t->n; i++) free(t->q[i].broker_name);
    free(t->q);
    free(t);
}

static void broker_free(void *p) {
    broker_t *b = p;
    for (size_t i = 0; i < b->n; i++) free(b->a[i].addr);
    free(b->a);
    free(b->cluster);
    free(b->name);
    free(b);
}

static void live_free(void *p) {
    live_t *l = p;
    free(l->ha_addr);
    free(l);
}

static void strlist_free(void *p) {
    strlist_t *l = p;
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    free(l);
}

rmq_ns_route_t *rmq_ns_route_new(void) {
    rmq_ns_route_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    rmq_map_init(&r->topics);
    rmq_map_init(&r->brokers);
    rmq_map_init(&r->clusters);
    rmq_map_init(&r->live);
    rmq_map_init(&r->filter);
    return r;
}

void rmq_ns_route_destroy(rmq_ns_route_t *r) {
    if (!r) return;
    rmq_map_fini(&r->topics, topic_free);
    rmq_map_fini(&r->brokers, broker_free);
    rmq_map_fini(&r->clusters, strlist_free);
    rmq_map_fini(&r->live, live_free);
    rmq_map_fini(&r->filter, strlist_free);
    free(r);
}

/* ---------- small helpers ---------- */

static int grow_arr(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static bool cluster_has(const strlist_t *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->s[i], name)) return true;
    return false;
}

static rmq_err_t cluster_add(rmq_ns_route_t *r, const char *cluster, const char *name) {
    strlist_t *c = rmq_map_get(&r->clusters, cluster);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || rmq_map_put(&r->clusters, cluster, c, NULL)) {
            free(c);
            return RMQ_ERR__NOMEM;
        }
    }
    if (cluster_has(c, name)) return RMQ_OK;
    char *dup = strdup(name);
    if (!dup || grow_arr((void **)&c->s, &c->cap, c->n + 1, sizeof *c->s)) {
        free(dup);
        return RMQ_ERR__NOMEM;
    }
    size_t i = 0;
    while (i < c->n && strcmp(c->s[i], name) < 0) i++;
    memmove(&c->s[i + 1], &c->s[i], (c->n - i) * sizeof *c->s);
    c->s[i] = dup;
    c->n++;
    return RMQ_OK;
}

/* Remove name from every cluster's set (RocketMQ iterates them all); drop empty clusters. */
static void clusters_remove_name(rmq_ns_route_t *r, const char *name) {
    rmq_map_ent_t **ents = rmq_map_sorted(&r->clusters);
    size_t n = r->clusters.count;
    for (size_t k = 0; ents && k < n; k++) {
        strlist_t *c = ents[k]->v.ptr;
        for (size_t i = 0; i < c->n; i++) {
            if (strcmp(c->s[i], name)) continue;
            RMQ_LOG_INFO(MOD, "remove brokerName[%s], clusterName[%s] from clusterAddrTable", name,
                         ents[k]->key);
            free(c->s[i]);
            memmove(&c->s[i], &c->s[i + 1], (c->n - i - 1) * sizeof *c->s);
            c->n--;
            break;
        }
        if (!c->n) {
            RMQ_LOG_INFO(MOD,
                         "remove clusterName[%s] from clusterAddrTable, because its broker "
                         "set is empty",
                         ents[k]->key);
            strlist_free(rmq_map_del(&r->clusters, ents[k]->key));
        }
    }
    free(ents);
}

/* Remove brokerName's queue data from every topic; drop topics left without any. */
static void topics_remove_broker(rmq_ns_route_t *r, const char *name, const char *why) {
    rmq_map_ent_t **ents = rmq_map_sorted(&r->topics);
    size_t n = r->topics.count;
    for (size_t k = 0; ents && k < n; k++) {
        topic_t *t = ents[k]->v.ptr;
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(t->q[i].broker_name, name)) continue;
            RMQ_LOG_INFO(MOD, "remove topic[%s %s], from topicQueueTable, because %s", ents[k]->key,
                         name, why);
            free(t->q[i].broker_name);
            memmove(&t->q[i], &t->q[i + 1], (t->n - i - 1) * sizeof *t->q);
            t->n--;
            break;
        }
        if (!t->n) {
            RMQ_LOG_INFO(MOD, "remove topic[%s] all queue, from topicQueueTable, because %s",
                         ents[k]->key, why);
            topic_free(rmq_map_del(&r->topics, ents[k]->key));
        }
    }
    free(ents);
}

static void broker_remove_at(broker_t *b, size_t i) {
    free(b->a[i].addr);
    memmove(&b->a[i], &b->a[i + 1], (b->n - i - 1) * sizeof *b->a);
    b->n--;
}

static const char *broker_addr_of(const broker_t *b, int64_t id) {
    for (size_t i = 0; i < b->n; i++)
        if (b->a[i].id == id) return b->a[i].addr;
    return NULL;
}

/* Put id -> addr; returns 1 when id was not there before, 0 when replaced, -1 on OOM. */
static int broker_put_addr(broker_t *b, int64_t id, const char *addr) {
    for (size_t i = 0; i < b->n; i++) {
        if (b->a[i].id != id) continue;
        if (!strcmp(b->a[i].addr, addr)) return 0;
        char *dup = strdup(addr);
        if (!dup) return -1;
        free(b->a[i].addr);
        b->a[i].addr = dup;
        return 0;
    }
    char *dup = strdup(addr);
    if (!dup || grow_arr((void **)&b->a, &b->cap, b->n + 1, sizeof *b->a)) {
        free(dup);
        return -1;
    }
    size_t i = 0;
    while (i < b->n && b->a[i].id < id) i++;
    memmove(&b->a[i + 1], &b->a[i], (b->n - i) * sizeof *b->a);
    b->a[i].id = id;
    b->a[i].addr = dup;
    b->n++;
    return 1;
}

/* ---------- DataVersion ---------- */

bool rmq_ns_dv_equal(const rmq_ns_dv_t *a, const rmq_ns_dv_t *b) {
    return a->timestamp == b->timestamp && a->counter == b->counter &&
           a->has_state_version == b->has_state_version &&
           (!a->has_state_version || a->state_version == b->state_version);
}

static rmq_err_t dv_from_json(const json_t *o, const char *where, rmq_ns_dv_t *dv, char *err,
                              size_t errlen) {
    memset(dv, 0, sizeof *dv);
    if (!o || json_is_null(o)) return RMQ_OK;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: not an object", where);
        return RMQ_ERR__INVALID_ARG;
    }
    if (rmq_fj_read_i64(o, "timestamp", 0, &dv->timestamp)) {
        snprintf(err, errlen, "%s.timestamp: not a number", where);
        return RMQ_ERR__INVALID_ARG;
    }
    if (rmq_fj_read_i64(o, "counter", 0, &dv->counter)) {
        snprintf(err, errlen, "%s.counter: not a number", where);
        return RMQ_ERR__INVALID_ARG;
    }
    if (json_object_get(o, "stateVersion")) {
        if (rmq_fj_read_i64(o, "stateVersion", 0, &dv->state_version)) {
            snprintf(err, errlen, "%s.stateVersion: not a number", where);
            return RMQ_ERR__INVALID_ARG;
        }
        dv->has_state_version = true;
    }
    return RMQ_OK;
}

/* The JSON of a body the request needs; NULL with the reason in err ("<what> body missing" or
 * why it does not parse). */
static json_t *parse_body(const void *p, size_t n, const char *what, char *err, size_t errlen) {
    if (!p || !n) {
        snprintf(err, errlen, "%s body missing", what);
        return NULL;
    }
    return rmq_fjson_parse(p, n, err, errlen);
}

rmq_err_t rmq_ns_dv_decode(const void *p, size_t n, rmq_ns_dv_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    json_t *root = parse_body(p, n, "DataVersion", err, errlen);
    if (!root) return RMQ_ERR__INVALID_ARG;
    rmq_err_t e = json_is_object(root) ? dv_from_json(root, "dataVersion", out, err, errlen)
                                       : RMQ_ERR__INVALID_ARG;
    if (!json_is_object(root)) snprintf(err, errlen, "DataVersion body is not a JSON object");
    json_decref(root);
    return e;
}

void rmq_ns_dv_encode(const rmq_ns_dv_t *dv, rmq_buf_t *out) {
    rmq_buf_appendf(out, "{\"counter\":%" PRId64, dv->counter);
    if (dv->has_state_version)
        rmq_buf_appendf(out, ",\"stateVersion\":%" PRId64, dv->state_version);
    rmq_buf_appendf(out, ",\"timestamp\":%" PRId64 "}", dv->timestamp);
}

/* ---------- RegisterBrokerBody ---------- */

void rmq_ns_reg_body_fini(rmq_ns_reg_body_t *b) {
    for (size_t i = 0; i < b->ntopics; i++) free(b->topics[i].name);
    free(b->topics);
    for (size_t i = 0; i < b->nfilter; i++) free(b->filter_servers[i]);
    free(b->filter_servers);
    memset(b, 0, sizeof *b);
}

static rmq_err_t add_topic(rmq_ns_reg_body_t *b, size_t *cap, const rmq_ns_topic_cfg_t *tc) {
    if (grow_arr((void **)&b->topics, cap, b->ntopics + 1, sizeof *b->topics))
        return RMQ_ERR__NOMEM;
    b->topics[b->ntopics] = *tc;
    b->topics[b->ntopics].name = strdup(tc->name);
    if (!b->topics[b->ntopics].name) return RMQ_ERR__NOMEM;
    b->ntopics++;
    return RMQ_OK;
}

static rmq_err_t filter_from_json(const json_t *arr, rmq_ns_reg_body_t *b, char *err,
                                  size_t errlen) {
    if (!arr || json_is_null(arr)) return RMQ_OK;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "filterServerList: not an array");
        return RMQ_ERR__INVALID_ARG;
    }
    size_t n = json_array_size(arr);
    if (!n) return RMQ_OK;
    b->filter_servers = calloc(n, sizeof *b->filter_servers);
    if (!b->filter_servers) return RMQ_ERR__NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s)) {
            snprintf(err, errlen, "filterServerList[%zu]: not a string", i);
            return RMQ_ERR__INVALID_ARG;
        }
        if (!(b->filter_servers[b->nfilter] = strdup(json_string_value(s)))) return RMQ_ERR__NOMEM;
        b->nfilter++;
    }
    return RMQ_OK;
}

static rmq_err_t body_from_json(const json_t *root, rmq_ns_reg_body_t *b, char *err,
                                size_t errlen) {
    if (!json_is_object(root)) {
        snprintf(err, errlen, "register body is not a JSON object");
        return RMQ_ERR__INVALID_ARG;
    }
    const json_t *wrapper = json_object_get(root, "topicConfigSerializeWrapper");
    rmq_err_t e = filter_from_json(json_object_get(root, "filterServerList"), b, err, errlen);
    if (e) return e;
    if (!wrapper &&
        (json_object_get(root, "topicConfigTable") || json_object_get(root, "dataVersion")))
        wrapper = root; /* a bare TopicConfigSerializeWrapper (brokers before V3_0_11) */
    if (!wrapper || json_is_null(wrapper)) return RMQ_OK;
    if (!json_is_object(wrapper)) {
        snprintf(err, errlen, "topicConfigSerializeWrapper: not an object");
        return RMQ_ERR__INVALID_ARG;
    }
    e = dv_from_json(json_object_get(wrapper, "dataVersion"), "dataVersion", &b->dv, err, errlen);
    if (e) return e;
    const json_t *table = json_object_get(wrapper, "topicConfigTable");
    if (!table || json_is_null(table)) return RMQ_OK;
    if (!json_is_object(table)) {
        snprintf(err, errlen, "topicConfigTable: not an object");
        return RMQ_ERR__INVALID_ARG;
    }
    size_t cap = 0;
    const char *key;
    json_t *tcj;
    json_object_foreach((json_t *)table, key, tcj) {
        if (!json_is_object(tcj)) {
            snprintf(err, errlen, "topicConfigTable.%s: not an object", key);
            return RMQ_ERR__INVALID_ARG;
        }
        rmq_ns_topic_cfg_t tc = {0};
        const char *name;
        /* TopicConfig defaults: 16 read, 16 write queues, perm RW. */
        if (rmq_fj_read_str(tcj, "topicName", key, &name)) {
            snprintf(err, errlen, "topicConfigTable.%s.topicName: not a string", key);
            return RMQ_ERR__INVALID_ARG;
        }
        static const struct {
            const char *k;
            int def;
            size_t off;
        } fields[] = {
            {"readQueueNums", 16, offsetof(rmq_ns_topic_cfg_t, read_queue_nums)},
            {"writeQueueNums", 16, offsetof(rmq_ns_topic_cfg_t, write_queue_nums)},
            {"perm", RMQ_NS_PERM_READ | RMQ_NS_PERM_WRITE, offsetof(rmq_ns_topic_cfg_t, perm)},
            {"topicSysFlag", 0, offsetof(rmq_ns_topic_cfg_t, topic_sys_flag)},
        };
        for (size_t i = 0; i < RMQ_ARRAY_LEN(fields); i++) {
            int *f = (int *)((char *)&tc + fields[i].off);
            const char *k = fields[i].k;
            /* 4.5.2-4.8.0 spelled the flag topicSynFlag */
            if (i == 3 && !json_object_get(tcj, k) && json_object_get(tcj, "topicSynFlag"))
                k = "topicSynFlag";
            if (rmq_fj_read_int(tcj, k, fields[i].def, f)) {
                snprintf(err, errlen, "topicConfigTable.%s.%s: not an int", key, k);
                return RMQ_ERR__INVALID_ARG;
            }
        }
        if (!*name) {
            snprintf(err, errlen, "topicConfigTable: empty topic name");
            return RMQ_ERR__INVALID_ARG;
        }
        tc.name = (char *)name;
        if ((e = add_topic(b, &cap, &tc))) return e;
    }
    return RMQ_OK;
}

/* The compressed body (protocol.md 5.3) inflates to at most this much; a registration of
 * 100k topics is well under it. Guards against a zlib bomb. */
#define INFLATE_MAX (64u << 20)

static rmq_err_t inflate_all(const void *p, size_t n, rmq_buf_t *out, char *err, size_t errlen) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        snprintf(err, errlen, "zlib init failed");
        return RMQ_ERR__NOMEM;
    }
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (out->len >= INFLATE_MAX) {
            inflateEnd(&zs);
            snprintf(err, errlen, "compressed register body inflates past %u bytes", INFLATE_MAX);
            return RMQ_ERR__INVALID_ARG;
        }
        if (rmq_buf_reserve(out, 64 * 1024)) {
            inflateEnd(&zs);
            return RMQ_ERR__NOMEM;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len = out->cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            snprintf(err, errlen, "compressed register body: zlib error %d (%s)", rc,
                     zs.msg ? zs.msg : "truncated");
            return RMQ_ERR__INVALID_ARG;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            snprintf(err, errlen, "compressed register body: truncated zlib stream");
            return RMQ_ERR__INVALID_ARG;
        }
    }
    inflateEnd(&zs);
    return RMQ_OK;
}

/* Read a big-endian int32 length and that many bytes from *pos. */
static const uint8_t *take_chunk(const rmq_buf_t *b, size_t *pos, uint32_t *len) {
    if (b->len - *pos < 4) return NULL;
    uint32_t l = rmq_get_be32(b->data + *pos);
    if (l > b->len - *pos - 4) return NULL;
    const uint8_t *p = b->data + *pos + 4;
    *pos += 4 + (size_t)l;
    *len = l;
    return p;
}

static rmq_err_t body_from_compressed(const void *p, size_t n, rmq_ns_reg_body_t *b, char *err,
                                      size_t errlen) {
    rmq_buf_t plain;
    rmq_buf_init(&plain);
    rmq_err_t e = inflate_all(p, n, &plain, err, errlen);
    size_t pos = 0, cap = 0;
    uint32_t len;
    const uint8_t *chunk;
    json_t *j = NULL;
    if (e) goto out;
    e = RMQ_ERR__INVALID_ARG;
    if (!(chunk = take_chunk(&plain, &pos, &len))) {
        snprintf(err, errlen, "compressed register body: dataVersion truncated");
        goto out;
    }
    if (!(j = rmq_fjson_parse((const char *)chunk, len, err, errlen))) goto out;
    if ((e = dv_from_json(j, "dataVersion", &b->dv, err, errlen))) goto out;
    json_decref(j);
    j = NULL;
    e = RMQ_ERR__INVALID_ARG;
    if (plain.len - pos < 4) {
        snprintf(err, errlen, "compressed register body: topic count truncated");
        goto out;
    }
    uint32_t count = rmq_get_be32(plain.data + pos);
    pos += 4;
    for (uint32_t i = 0; i < count; i++) {
        if (!(chunk = take_chunk(&plain, &pos, &len))) {
            snprintf(err, errlen, "compressed register body: topic config %u of %u truncated", i,
                     count);
            goto out;
        }
        /* TopicConfig.encode(): "name read write perm filterType[ attributes]" */
        char *text = strndup((const char *)chunk, len);
        if (!text) {
            e = RMQ_ERR__NOMEM;
            goto out;
        }
        char *tok[6] = {0}, *save = NULL;
        int nt = 0;
        for (char *t = strtok_r(text, " ", &save); t && nt < 6; t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        int64_t rq, wq, perm;
        if (nt < 5 || rmq_parse_i64(tok[1], &rq) || rmq_parse_i64(tok[2], &wq) ||
            rmq_parse_i64(tok[3], &perm) || rq < 0 || rq > INT32_MAX || wq < 0 || wq > INT32_MAX ||
            perm < 0 || perm > 15) {
            snprintf(err, errlen, "compressed register body: bad topic config '%.100s'",
                     nt ? tok[0] : "");
            free(text);
            goto out;
        }
        rmq_ns_topic_cfg_t tc = {.name = tok[0],
                                 .read_queue_nums = (int)rq,
                                 .write_queue_nums = (int)wq,
                                 .perm = (int)perm};
        e = add_topic(b, &cap, &tc);
        free(text);
        if (e) goto out;
        e = RMQ_ERR__INVALID_ARG;
    }
    if (!(chunk = take_chunk(&plain, &pos, &len))) {
        snprintf(err, errlen, "compressed register body: filterServerList truncated");
        goto out;
    }
    if (!(j = rmq_fjson_parse((const char *)chunk, len, err, errlen))) goto out;
    e = filter_from_json(j, b, err, errlen);
    /* 5.x appends topic queue mapping infos here; static topics are not supported, ignore. */
out:
    json_decref(j);
    rmq_buf_fini(&plain);
    return e;
}

rmq_err_t rmq_ns_reg_body_decode(const void *p, size_t n, bool compressed, rmq_ns_reg_body_t *out,
                                 char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!p || !n) return RMQ_OK;
    rmq_err_t e;
    if (compressed) {
        e = body_from_compressed(p, n, out, err, errlen);
    } else {
        json_t *root = rmq_fjson_parse(p, n, err, errlen);
        if (!root) return RMQ_ERR__INVALID_ARG;
        e = body_from_json(root, out, err, errlen);
        json_decref(root);
    }
    if (e) rmq_ns_reg_body_fini(out);
    return e;
}

/* ---------- registration ---------- */

static void qdata_str(const qdata_t *q, char *s, size_t n) {
    snprintf(s, n,
             "QueueData [brokerName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%d, "
             "topicSysFlag=%d]",
             q->broker_name, q->read_queue_nums, q->write_queue_nums, q->perm, q->topic_sys_flag);
}

static rmq_err_t create_and_update_queue_data(rmq_ns_route_t *r, const char *broker_name,
                                              const rmq_ns_topic_cfg_t *tc) {
    qdata_t nq = {(char *)broker_name, tc->read_queue_nums, tc->write_queue_nums, tc->perm,
                  tc->topic_sys_flag};
    char s1[512], s2[512];
    topic_t *t = rmq_map_get(&r->topics, tc->name);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || rmq_map_put(&r->topics, tc->name, t, NULL)) {
            free(t);
            return RMQ_ERR__NOMEM;
        }
        if (rmq_log_enabled(RMQ_LOG_LVL_INFO)) {
            qdata_str(&nq, s1, sizeof s1);
            RMQ_LOG_INFO(MOD, "new topic registered, %s %s", tc->name, s1);
        }
    }
    size_t i = 0;
    while (i < t->n && strcmp(t->q[i].broker_name, broker_name) < 0) i++;
    if (i < t->n && !strcmp(t->q[i].broker_name, broker_name)) {
        qdata_t *q = &t->q[i];
        if (q->read_queue_nums == nq.read_queue_nums &&
            q->write_queue_nums == nq.write_queue_nums && q->perm == nq.perm &&
            q->topic_sys_flag == nq.topic_sys_flag)
            return RMQ_OK;
        if (rmq_log_enabled(RMQ_LOG_LVL_INFO)) {
            qdata_str(q, s1, sizeof s1);
            qdata_str(&nq, s2, sizeof s2);
            RMQ_LOG_INFO(MOD, "topic changed, %s OLD: %s NEW: %s", tc->name, s1, s2);
        }
        nq.broker_name = q->broker_name;
        *q = nq;
        return RMQ_OK;
    }
    char *dup = strdup(broker_name);
    if (!dup || grow_arr((void **)&t->q, &t->cap, t->n + 1, sizeof *t->q)) {
        free(dup);
        return RMQ_ERR__NOMEM;
    }
    memmove(&t->q[i + 1], &t->q[i], (t->n - i) * sizeof *t->q);
    nq.broker_name = dup;
    t->q[i] = nq;
    t->n++;
    return RMQ_OK;
}

rmq_err_t rmq_ns_route_register_topic(rmq_ns_route_t *r, const char *topic,
                                      const rmq_ns_topic_cfg_t *qds, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (rmq_map_has(&r->brokers, qds[i].name)) continue;
        RMQ_LOG_WARN(MOD, "Register topic contains illegal broker, %s, %s", topic, qds[i].name);
        return RMQ_ERR__NOT_FOUND;
    }
    for (size_t i = 0; i < n; i++) {
        rmq_ns_topic_cfg_t tc = qds[i];
        tc.name = (char *)topic;
        rmq_err_t e = create_and_update_queue_data(r, qds[i].name, &tc);
        if (e) return e;
    }
    return RMQ_OK;
}

rmq_err_t rmq_ns_queue_datas_decode(const void *p, size_t n, rmq_ns_reg_body_t *out, char *err,
                                    size_t errlen) {
    memset(out, 0, sizeof *out);
    json_t *root = parse_body(p, n, "TopicRouteData", err, errlen);
    if (!root) return RMQ_ERR__INVALID_ARG;
    rmq_err_t e = RMQ_OK;
    json_t *arr = json_is_object(root) ? json_object_get(root, "queueDatas") : NULL;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "queueDatas: missing or not an array");
        e = RMQ_ERR__INVALID_ARG;
    }
    size_t cap = 0;
    for (size_t i = 0; !e && i < json_array_size(arr); i++) {
        json_t *q = json_array_get(arr, i);
        rmq_ns_topic_cfg_t tc = {0};
        const char *name = NULL;
        if (!json_is_object(q) || rmq_fj_read_str(q, "brokerName", NULL, &name) || !name ||
            rmq_fj_read_int(q, "readQueueNums", 0, &tc.read_queue_nums) ||
            rmq_fj_read_int(q, "writeQueueNums", 0, &tc.write_queue_nums) ||
            rmq_fj_read_int(q, "perm", 0, &tc.perm) ||
            rmq_fj_read_int(q, "topicSysFlag", 0, &tc.topic_sys_flag)) {
            snprintf(err, errlen, "queueDatas[%zu]: bad QueueData", i);
            e = RMQ_ERR__INVALID_ARG;
            break;
        }
        tc.name = (char *)name;
        e = add_topic(out, &cap, &tc);
    }
    json_decref(root);
    if (e) rmq_ns_reg_body_fini(out);
    return e;
}

bool rmq_ns_route_dv_changed(const rmq_ns_route_t *r, const char *addr, const rmq_ns_dv_t *dv) {
    const live_t *l = rmq_map_get(&r->live, addr);
    return !l || !rmq_ns_dv_equal(&l->dv, dv);
}

/* ---------- who may change a registration ---------- */

/* "ip:port" -> "ip" ("[v6]:port" -> "[v6]"); empty when peer is NULL. */
static void host_of(const char *peer, char *out, size_t n) {
    out[0] = '\0';
    if (!peer) return;
    const char *colon = strrchr(peer, ':');
    size_t len = colon ? (size_t)(colon - peer) : strlen(peer);
    if (len >= n) len = n - 1;
    memcpy(out, peer, len);
    out[len] = '\0';
}

bool rmq_ns_may_change(const rmq_ns_who_t *who, const void *owner_conn, const char *owner_host) {
    if (who->admin) return true;
    if (owner_conn && who->conn == owner_conn) return true;
    char host[64];
    host_of(who->peer, host, sizeof host);
    return host[0] && owner_host && !strcmp(host, owner_host);
}

/* A live registration at addr that who may not change: fill why and return true. */
static bool live_refuses(const rmq_ns_route_t *r, const char *addr, const rmq_ns_who_t *who,
                         const char *what, char *why, size_t n) {
    const live_t *l = addr ? rmq_map_get(&r->live, addr) : NULL;
    if (!l || rmq_ns_may_change(who, l->conn, l->owner_host)) return false;
    snprintf(why, n,
             "%s: broker %s is live, registered from %s; only its own connection or host "
             "may change it until it expires or unregisters",
             what, addr, l->owner_host[0] ? l->owner_host : "an unknown address");
    return true;
}

rmq_err_t rmq_ns_route_register(rmq_ns_route_t *r, const rmq_ns_reg_t *reg, uint64_t now_ms,
                                rmq_ns_reg_result_t *res) {
    static const rmq_ns_reg_body_t empty;
    const rmq_ns_reg_body_t *body = reg->body ? reg->body : &empty;
    memset(res, 0, sizeof *res);
    rmq_ns_who_t who = {.conn = reg->conn, .peer = reg->peer, .admin = reg->admin};
    broker_t *cur = rmq_map_get(&r->brokers, reg->broker_name);
    const char *cur_addr = cur ? broker_addr_of(cur, reg->broker_id) : NULL;
    /* (cluster, name, id) held by another live address, or this address live for another */
    if ((cur_addr && strcmp(cur_addr, reg->broker_addr) &&
         live_refuses(r, cur_addr, &who, "register refused", res->why, sizeof res->why)) ||
        live_refuses(r, reg->broker_addr, &who, "register refused", res->why, sizeof res->why)) {
        RMQ_LOG_WARN(MOD, "REGISTER_BROKER %s %s id %" PRId64 " cluster %s from %s: %s",
                     reg->broker_name, reg->broker_addr, reg->broker_id, reg->cluster,
                     reg->peer ? reg->peer : "?", res->why);
        return RMQ_ERR_NO_PERMISSION;
    }
    rmq_err_t e = cluster_add(r, reg->cluster, reg->broker_name);
    if (e) return e;

    bool first = false;
    broker_t *b = rmq_map_get(&r->brokers, reg->broker_name);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return RMQ_ERR__NOMEM;
        b->cluster = strdup(reg->cluster);
        b->name = strdup(reg->broker_name);
        if (!b->cluster || !b->name || rmq_map_put(&r->brokers, reg->broker_name, b, NULL)) {
            broker_free(b);
            return RMQ_ERR__NOMEM;
        }
        first = true;
    }
    /* A slave promoted to master (or the reverse) re-registers the same address under a new
     * id: keep one entry per address. */
    for (size_t i = 0; i < b->n;) {
        if (b->a[i].id != reg->broker_id && !strcmp(b->a[i].addr, reg->broker_addr))
            broker_remove_at(b, i);
        else
            i++;
    }
    int added = broker_put_addr(b, reg->broker_id, reg->broker_addr);
    if (added < 0) return RMQ_ERR__NOMEM;
    first = first || added == 1;

    if (reg->broker_id == 0 && (first || rmq_ns_route_dv_changed(r, reg->broker_addr, &body->dv))) {
        for (size_t i = 0; i < body->ntopics; i++)
            if ((e = create_and_update_queue_data(r, reg->broker_name, &body->topics[i]))) return e;
    }

    live_t *l = calloc(1, sizeof *l);
    if (!l) return RMQ_ERR__NOMEM;
    l->last_update_ms = now_ms;
    l->timeout_ms = reg->timeout_ms > 0 ? (uint64_t)reg->timeout_ms : 0;
    l->dv = body->dv;
    l->conn = reg->conn;
    host_of(reg->peer, l->owner_host, sizeof l->owner_host);
    l->ha_addr = strdup(reg->ha_addr ? reg->ha_addr : "");
    void *old = NULL;
    if (!l->ha_addr || rmq_map_put(&r->live, reg->broker_addr, l, &old)) {
        live_free(l);
        return RMQ_ERR__NOMEM;
    }
    if (old) {
        live_free(old);
    } else {
        res->first = true;
        RMQ_LOG_INFO(MOD, "new broker registered, %s HAServer: %s", reg->broker_addr, l->ha_addr);
    }

    if (body->nfilter == 0) {
        void *f = rmq_map_del(&r->filter, reg->broker_addr);
        if (f) strlist_free(f);
    } else {
        strlist_t *f = calloc(1, sizeof *f);
        if (f) f->s = calloc(body->nfilter, sizeof *f->s);
        for (size_t i = 0; f && f->s && i < body->nfilter; i++)
            if ((f->s[f->n] = strdup(body->filter_servers[i]))) f->n++;
        if (!f || !f->s || rmq_map_put(&r->filter, reg->broker_addr, f, &old)) {
            if (f) strlist_free(f);
            return RMQ_ERR__NOMEM;
        }
        if (old) strlist_free(old);
    }

    if (reg->broker_id != 0) {
        const char *master = broker_addr_of(b, 0);
        const live_t *ml = master ? rmq_map_get(&r->live, master) : NULL;
        if (ml) {
            rmq_strlcpy(res->master_addr, master, sizeof res->master_addr);
            rmq_strlcpy(res->ha_addr, ml->ha_addr, sizeof res->ha_addr);
        }
    }
    return RMQ_OK;
}

/* ---------- removal ---------- */

/* RocketMQ's onChannelDestroy for one address: live and filter entries, the address under
 * every broker name, then broker names left empty with their cluster membership and queues. */
static void destroy_addr(rmq_ns_route_t *r, const char *addr) {
    void *v = rmq_map_del(&r->live, addr);
    if (v) live_free(v);
    if ((v = rmq_map_del(&r->filter, addr))) strlist_free(v);

    rmq_map_ent_t **ents = rmq_map_sorted(&r->brokers);
    size_t n = r->brokers.count;
    for (size_t k = 0; ents && k < n; k++) {
        broker_t *b = ents[k]->v.ptr;
        for (size_t i = 0; i < b->n;) {
            if (strcmp(b->a[i].addr, addr)) {
                i++;
                continue;
            }
            RMQ_LOG_INFO(MOD,
                         "remove brokerAddr[%" PRId64 ", %s] from brokerAddrTable, because "
                         "channel destroyed",
                         b->a[i].id, addr);
            broker_remove_at(b, i);
        }
        if (b->n) continue;
        RMQ_LOG_INFO(MOD, "remove brokerName[%s] from brokerAddrTable, because channel destroyed",
                     b->name);
        char *name = strdup(b->name);
        broker_free(rmq_map_del(&r->brokers, ents[k]->key));
        if (!name) continue;
        clusters_remove_name(r, name);
        topics_remove_broker(r, name, "channel destroyed");
        free(name);
    }
    free(ents);
}

rmq_err_t rmq_ns_route_unregister(rmq_ns_route_t *r, const char *cluster, const char *addr,
                                  const char *broker_name, int64_t broker_id,
                                  const rmq_ns_who_t *who, char *why, size_t whylen) {
    char tmp[384];
    if (!why) why = tmp, whylen = sizeof tmp;
    why[0] = '\0';
    if (who && live_refuses(r, addr, who, "unregister refused", why, whylen)) {
        RMQ_LOG_WARN(MOD, "UNREGISTER_BROKER %s %s id %" PRId64 " from %s: %s", broker_name, addr,
                     broker_id, who->peer ? who->peer : "?", why);
        return RMQ_ERR_NO_PERMISSION;
    }
    if (who)
        RMQ_LOG_INFO(MOD, "UNREGISTER_BROKER %s %s id %" PRId64 " cluster %s from %s accepted",
                     broker_name, addr, broker_id, cluster, who->peer ? who->peer : "?");
    void *v = rmq_map_del(&r->live, addr);
    RMQ_LOG_INFO(MOD, "unregisterBroker, remove from brokerLiveTable %s, %s", v ? "OK" : "Failed",
                 addr);
    if (v) live_free(v);
    if ((v = rmq_map_del(&r->filter, addr))) strlist_free(v);

    broker_t *b = rmq_map_get(&r->brokers, broker_name);
    if (!b) return RMQ_OK;
    for (size_t i = 0; i < b->n; i++) {
        /* RocketMQ removes by id alone; we also require the address to match so a late
         * unregister of a replaced master cannot drop its successor. */
        if (b->a[i].id != broker_id || strcmp(b->a[i].addr, addr)) continue;
        RMQ_LOG_INFO(MOD, "unregisterBroker, remove addr from brokerAddrTable OK, %s", addr);
        broker_remove_at(b, i);
        break;
    }
    if (b->n) return RMQ_OK;
    RMQ_LOG_INFO(MOD, "unregisterBroker, remove name from brokerAddrTable OK, %s", broker_name);
    char *name = strdup(broker_name);
    broker_free(rmq_map_del(&r->brokers, broker_name));
    if (!name) return RMQ_OK;
    (void)cluster; /* RocketMQ looks in the named cluster only; the name is in at most one */
    clusters_remove_name(r, name);
    topics_remove_broker(r, name, "broker unregistered");
    free(name);
    return RMQ_OK;
}

/* Collect the addresses whose live entry matches pred. */
static char **collect_live(const rmq_ns_route_t *r, bool (*pred)(const live_t *, const void *),
                           const void *arg, size_t *n) {
    *n = 0;
    if (!r->live.count) return NULL;
    char **out = calloc(r->live.count, sizeof *out);
    if (!out) return NULL;
    size_t bi;
    for (rmq_map_ent_t *e = rmq_map_first(&r->live, &bi); e; e = rmq_map_next(&r->live, &bi, e))
        if (pred(e->v.ptr, arg) && (out[*n] = strdup(e->key))) (*n)++;
    return out;
}

static bool live_conn_is(const live_t *l, const void *conn) {
    return l->conn == conn;
}

size_t rmq_ns_route_conn_closed(rmq_ns_route_t *r, const void *conn, const char *peer) {
    size_t n;
    char **addrs = conn ? collect_live(r, live_conn_is, conn, &n) : NULL;
    if (!addrs || !n) {
        free(addrs);
        /* Not a registered broker connection (a client, a tool): RocketMQ falls back to the
         * remote address, which matches a broker only if it registered that exact address. */
        if (!peer || !rmq_map_has(&r->live, peer)) return 0;
        RMQ_LOG_INFO(MOD, "the broker's channel destroyed, %s, clean it's data structure at once",
                     peer);
        destroy_addr(r, peer);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        RMQ_LOG_INFO(MOD, "the broker's channel destroyed, %s, clean it's data structure at once",
                     addrs[i]);
        destroy_addr(r, addrs[i]);
        free(addrs[i]);
    }
    free(addrs);
    return n;
}

typedef struct {
    uint64_t now, expire;
} expiry_arg_t;

static bool live_expired(const live_t *l, const void *arg) {
    const expiry_arg_t *a = arg;
    return l->last_update_ms + (l->timeout_ms ? l->timeout_ms : a->expire) < a->now;
}

size_t rmq_ns_route_scan(rmq_ns_route_t *r, uint64_t now_ms, uint64_t expire_ms,
                         void (*close_conn)(void *conn, void *arg), void *arg) {
    expiry_arg_t ea = {now_ms, expire_ms};
    size_t n;
    char **addrs = collect_live(r, live_expired, &ea, &n);
    for (size_t i = 0; i < n; i++) {
        live_t *l = rmq_map_get(&r->live, addrs[i]);
        void *conn = l ? l->conn : NULL;
        RMQ_LOG_WARN(MOD, "The broker channel expired, %s %" PRIu64 "ms", addrs[i],
                     l && l->timeout_ms ? l->timeout_ms : expire_ms);
        /* Forget the connection before closing it so its close callback finds nothing. */
        if (l) l->conn = NULL;
        if (conn && close_conn) close_conn(conn, arg);
        RMQ_LOG_INFO(MOD, "the broker's channel destroyed, %s, clean it's data structure at once",
                     addrs[i]);
        destroy_addr(r, addrs[i]);
        free(addrs[i]);
    }
    free(addrs);
    return n;
}

bool rmq_ns_route_touch(rmq_ns_route_t *r, const char *addr, uint64_t now_ms) {
    live_t *l = rmq_map_get(&r->live, addr);
    if (!l) return false;
    l->last_update_ms = now_ms;
    return true;
}

bool rmq_ns_route_dv_get(const rmq_ns_route_t *r, const char *addr, rmq_ns_dv_t *out) {
    const live_t *l = rmq_map_get(&r->live, addr);
    if (!l) return false;
    *out = l->dv;
    return true;
}

/* ---------- JSON bodies ---------- */

/* A string in the body's style: UTF-8 kept raw, or every non-ASCII character as \uXXXX in the
 * standard (browser-compatible) form. */
static void put_str(rmq_buf_t *o, const char *s, bool standard) {
    rmq_json_put_strn(o, s, strlen(s), standard);
}

static void put_broker_data(rmq_buf_t *o, const broker_t *b, bool standard) {
    rmq_buf_append_str(o, "{\"brokerAddrs\":{");
    for (size_t i = 0; i < b->n; i++) {
        if (i) rmq_buf_append_u8(o, ',');
        /* Map<Long,String>: fastjson leaves the key bare, the standard form quotes it */
        rmq_buf_appendf(o, standard ? "\"%" PRId64 "\":" : "%" PRId64 ":", b->a[i].id);
        put_str(o, b->a[i].addr, standard);
    }
    rmq_buf_append_str(o, "},\"brokerName\":");
    put_str(o, b->name, standard);
    rmq_buf_append_str(o, ",\"cluster\":");
    put_str(o, b->cluster, standard);
    rmq_buf_append_u8(o, '}');
}

rmq_err_t rmq_ns_route_topic_json(const rmq_ns_route_t *r, const char *topic, bool standard,
                                  const char *order_conf, rmq_buf_t *o) {
    const topic_t *t = rmq_map_get(&r->topics, topic);
    if (!t || !t->n) return RMQ_ERR_TOPIC_NOT_EXIST;
    bool found_broker = false;
    for (size_t i = 0; i < t->n && !found_broker; i++)
        found_broker = rmq_map_has(&r->brokers, t->q[i].broker_name);
    if (!found_broker) return RMQ_ERR_TOPIC_NOT_EXIST;

    rmq_buf_append_str(o, "{\"brokerDatas\":[");
    bool sep = false;
    for (size_t i = 0; i < t->n; i++) {
        const broker_t *b = rmq_map_get(&r->brokers, t->q[i].broker_name);
        if (!b) continue;
        if (sep) rmq_buf_append_u8(o, ',');
        sep = true;
        put_broker_data(o, b, standard);
    }
    rmq_buf_append_str(o, "],\"filterServerTable\":{");
    sep = false;
    for (size_t i = 0; i < t->n; i++) {
        const broker_t *b = rmq_map_get(&r->brokers, t->q[i].broker_name);
        for (size_t k = 0; b && k < b->n; k++) {
            /* fastjson skips the null values Java puts for brokers without filter servers */
            const strlist_t *f = rmq_map_get(&r->filter, b->a[k].addr);
            if (!f || !f->n) continue;
            if (sep) rmq_buf_append_u8(o, ',');
            sep = true;
            put_str(o, b->a[k].addr, standard);
            rmq_buf_append_str(o, ":[");
            for (size_t j = 0; j < f->n; j++) {
                if (j) rmq_buf_append_u8(o, ',');
                put_str(o, f->s[j], standard);
            }
            rmq_buf_append_u8(o, ']');
        }
    }
    rmq_buf_append_u8(o, '}');
    if (order_conf) {
        rmq_buf_append_str(o, ",\"orderTopicConf\":");
        put_str(o, order_conf, standard);
    }
    rmq_buf_append_str(o, ",\"queueDatas\":[");
    for (size_t i = 0; i < t->n; i++) {
        const qdata_t *q = &t->q[i];
        if (i) rmq_buf_append_u8(o, ',');
        rmq_buf_append_str(o, "{\"brokerName\":");
        put_str(o, q->broker_name, standard);
        rmq_buf_appendf(o,
                        ",\"perm\":%d,\"readQueueNums\":%d,\"topicSysFlag\":%d,"
                        "\"writeQueueNums\":%d}",
                        q->perm, q->read_queue_nums, q->topic_sys_flag, q->write_queue_nums);
    }
    rmq_buf_append_str(o, "]}");
    return RMQ_OK;
}

void rmq_ns_route_cluster_json(const rmq_ns_route_t *r, rmq_buf_t *o) {
    rmq_buf_append_str(o, "{\"brokerAddrTable\":{");
    rmq_map_ent_t **ents = rmq_map_sorted(&r->brokers);
    for (size_t i = 0; ents && i < r->brokers.count; i++) {
        if (i) rmq_buf_append_u8(o, ',');
        rmq_json_put_strn(o, ents[i]->key, ents[i]->klen, false);
        rmq_buf_append_u8(o, ':');
        put_broker_data(o, ents[i]->v.ptr, false);
    }
    free(ents);
    rmq_buf_append_str(o, "},\"clusterAddrTable\":{");
    ents = rmq_map_sorted(&r->clusters);
    for (size_t i = 0; ents && i < r->clusters.count; i++) {
        const strlist_t *c = ents[i]->v.ptr;
        if (i) rmq_buf_append_u8(o, ',');
        rmq_json_put_strn(o, ents[i]->key, ents[i]->klen, false);
        rmq_buf_append_str(o, ":[");
        for (size_t k = 0; k < c->n; k++) {
            if (k) rmq_buf_append_u8(o, ',');
            rmq_json_put_str(o, c->s[k]);
        }
        rmq_buf_append_u8(o, ']');
    }
    free(ents);
    rmq_buf_append_str(o, "}}");
}

void rmq_ns_route_topics_json(const rmq_ns_route_t *r, const char *cluster, rmq_buf_t *o) {
    const strlist_t *c = cluster ? rmq_map_get(&r->clusters, cluster) : NULL;
    rmq_buf_append_str(o, "{\"topicList\":[");
    rmq_map_ent_t **ents = (!cluster || c) ? rmq_map_sorted(&r->topics) : NULL;
    bool sep = false;
    for (size_t i = 0; ents && i < r->topics.count; i++) {
        const topic_t *t = ents[i]->v.ptr;
        bool in = !cluster;
        for (size_t k = 0; !in && k < t->n; k++) in = cluster_has(c, t->q[k].broker_name);
        if (!in) continue;
        if (sep) rmq_buf_append_u8(o, ',');
        sep = true;
        rmq_json_put_strn(o, ents[i]->key, ents[i]->klen, false);
    }
    free(ents);
    rmq_buf_append_str(o, "]}");
}

void rmq_ns_route_unit_topics_json(const rmq_ns_route_t *r, rmq_ns_unit_query_t q, rmq_buf_t *o) {
    rmq_buf_append_str(o, "{\"topicList\":[");
    rmq_map_ent_t **ents = rmq_map_sorted(&r->topics);
    bool sep = false;
    for (size_t i = 0; ents && i < r->topics.count; i++) {
        const topic_t *t = ents[i]->v.ptr;
        if (!t->n) continue;
        int f = t->q[0].topic_sys_flag;
        bool unit = f & RMQ_NS_FLAG_UNIT, sub = f & RMQ_NS_FLAG_UNIT_SUB;
        bool in = q == RMQ_NS_UNIT_TOPICS           ? unit
                  : q == RMQ_NS_HAS_UNIT_SUB_TOPICS ? sub
                                                    : sub && !unit;
        if (!in) continue;
        if (sep) rmq_buf_append_u8(o, ',');
        sep = true;
        rmq_json_put_strn(o, ents[i]->key, ents[i]->klen, false);
    }
    free(ents);
    rmq_buf_append_str(o, "]}");
}

void rmq_ns_route_system_topics_json(const rmq_ns_route_t *r, rmq_buf_t *o) {
    rmq_map_ent_t **cl = rmq_map_sorted(&r->clusters);
    rmq_map_ent_t **br = rmq_map_sorted(&r->brokers);
    rmq_buf_append_u8(o, '{');
    for (size_t i = 0; br && i < r->brokers.count; i++) {
        const broker_t *b = br[i]->v.ptr;
        if (!b->n) continue;
        rmq_buf_append_str(o, "\"brokerAddr\":");
        rmq_json_put_str(o, b->a[0].addr);
        rmq_buf_append_u8(o, ',');
        break;
    }
    rmq_buf_append_str(o, "\"topicList\":[");
    bool sep = false;
    for (size_t i = 0; cl && i < r->clusters.count; i++) {
        if (sep) rmq_buf_append_u8(o, ',');
        sep = true;
        rmq_json_put_strn(o, cl[i]->key, cl[i]->klen, false);
    }
    for (size_t i = 0; br && i < r->brokers.count; i++) {
        if (sep) rmq_buf_append_u8(o, ',');
        sep = true;
        rmq_json_put_strn(o, br[i]->key, br[i]->klen, false);
    }
    rmq_buf_append_str(o, "]}");
    free(cl);
    free(br);
}

/* ---------- admin ---------- */

bool rmq_ns_route_delete_topic(rmq_ns_route_t *r, const char *topic, const char *cluster) {
    topic_t *t = rmq_map_get(&r->topics, topic);
    if (!t) return false;
    if (!cluster || !*cluster) {
        RMQ_LOG_INFO(MOD, "delete topic[%s] from topicQueueTable", topic);
        topic_free(rmq_map_del(&r->topics, topic));
        return true;
    }
    const strlist_t *c = rmq_map_get(&r->clusters, cluster);
    if (!c) return false;
    bool removed = false;
    for (size_t i = 0; i < t->n;) {
        if (!cluster_has(c, t->q[i].broker_name)) {
            i++;
            continue;
        }
        RMQ_LOG_INFO(MOD, "delete topic[%s] of broker[%s] in cluster[%s] from topicQueueTable",
                     topic, t->q[i].broker_name, cluster);
        free(t->q[i].broker_name);
        memmove(&t->q[i], &t->q[i + 1], (t->n - i - 1) * sizeof *t->q);
        t->n--;
        removed = true;
    }
    if (!t->n) topic_free(rmq_map_del(&r->topics, topic));
    return removed;
}

int rmq_ns_route_set_write_perm(rmq_ns_route_t *r, const char *broker_name, bool on) {
    int count = 0;
    size_t bi;
    for (rmq_map_ent_t *e = rmq_map_first(&r->topics, &bi); e;
         e = rmq_map_next(&r->topics, &bi, e)) {
        topic_t *t = e->v.ptr;
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(t->q[i].broker_name, broker_name)) continue;
            if (on)
                t->q[i].perm = RMQ_NS_PERM_READ | RMQ_NS_PERM_WRITE;
            else
                t->q[i].perm &= ~RMQ_NS_PERM_WRITE;
            count++;
        }
    }
    RMQ_LOG_INFO(MOD, "%s write perm of broker[%s], %d topics", on ? "add" : "wipe", broker_name,
                 count);
    return count;
}

size_t rmq_ns_route_topic_count(const rmq_ns_route_t *r) {
    return r->topics.count;
}
size_t rmq_ns_route_live_count(const rmq_ns_route_t *r) {
    return r->live.count;
}
bool rmq_ns_route_has_topic(const rmq_ns_route_t *r, const char *topic) {
    return rmq_map_has(&r->topics, topic);
}

bool rmq_ns_route_queue_data(const rmq_ns_route_t *r, const char *topic, const char *broker_name,
                             rmq_ns_topic_cfg_t *out) {
    const topic_t *t = rmq_map_get(&r->topics, topic);
    for (size_t i = 0; t && i < t->n; i++) {
        if (strcmp(t->q[i].broker_name, broker_name)) continue;
        out->name = NULL;
        out->read_queue_nums = t->q[i].read_queue_nums;
        out->write_queue_nums = t->q[i].write_queue_nums;
        out->perm = t->q[i].perm;
        out->topic_sys_flag = t->q[i].topic_sys_flag;
        return true;
    }
    return false;
}
