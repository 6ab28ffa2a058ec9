#include "namesrv/kvconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fjson.h"
#include "common/log.h"
#include "common/map.h"

#define MOD "namesrv"

struct rmq_ns_kv_s {
    char *path;
    rmq_map_t spaces; /* namespace -> rmq_map_t* (key -> char* value) */
};

static void str_free(void *p) {
    free(p);
}

static void space_free(void *p) {
    rmq_map_fini(p, str_free);
    free(p);
}

static rmq_map_t *space_get(rmq_ns_kv_t *kv, const char *ns, bool create) {
    rmq_map_t *m = rmq_map_get(&kv->spaces, ns);
    if (m || !create) return m;
    m = calloc(1, sizeof *m);
    if (!m) return NULL;
    rmq_map_init(m);
    if (rmq_map_put(&kv->spaces, ns, m, NULL)) {
        free(m);
        return NULL;
    }
    return m;
}

static rmq_err_t set_value(rmq_ns_kv_t *kv, const char *ns, const char *key, const char *value,
                           char **old_out) {
    rmq_map_t *m = space_get(kv, ns, true);
    char *dup = strdup(value);
    void *old = NULL;
    if (!m || !dup || rmq_map_put(m, key, dup, &old)) {
        free(dup);
        return RMQ_ERR__NOMEM;
    }
    if (old_out)
        *old_out = old;
    else
        free(old);
    return RMQ_OK;
}

static rmq_err_t load(rmq_ns_kv_t *kv) {
    FILE *f = fopen(kv->path, "rb");
    if (!f) {
        if (errno == ENOENT) return RMQ_OK;
        RMQ_LOG_ERROR(MOD, "cannot read KV config %s: %s", kv->path, strerror(errno));
        return RMQ_ERR__IO;
    }
    rmq_buf_t b;
    rmq_buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) rmq_buf_append(&b, chunk, n);
    bool rerr = ferror(f);
    fclose(f);
    if (rerr) {
        rmq_buf_fini(&b);
        RMQ_LOG_ERROR(MOD, "cannot read KV config %s", kv->path);
        return RMQ_ERR__IO;
    }
    if (b.len == 0) { /* RocketMQ treats an empty file as no config */
        rmq_buf_fini(&b);
        return RMQ_OK;
    }
    char err[256];
    json_t *root = rmq_fjson_parse((const char *)b.data, b.len, err, sizeof err);
    rmq_buf_fini(&b);
    if (!root) {
        RMQ_LOG_ERROR(MOD, "KV config %s is not valid JSON: %s", kv->path, err);
        return RMQ_ERR__CORRUPT;
    }
    rmq_err_t e = RMQ_OK;
    json_t *table = json_is_object(root) ? json_object_get(root, "configTable") : NULL;
    if (!json_is_object(root) || (table && !json_is_object(table) && !json_is_null(table))) {
        RMQ_LOG_ERROR(MOD, "KV config %s: expected {\"configTable\":{namespace:{key:value}}}",
                      kv->path);
        e = RMQ_ERR__CORRUPT;
    }
    const char *ns, *key;
    json_t *space, *val;
    if (!e && json_is_object(table)) {
        json_object_foreach(table, ns, space) {
            if (!json_is_object(space)) {
                RMQ_LOG_ERROR(MOD, "KV config %s: namespace %s is not an object", kv->path, ns);
                e = RMQ_ERR__CORRUPT;
                break;
            }
            if (!space_get(kv, ns, true)) {
                e = RMQ_ERR__NOMEM;
                break;
            }
            json_object_foreach(space, key, val) {
                if (!json_is_string(val)) {
                    RMQ_LOG_ERROR(MOD, "KV config %s: %s.%s is not a string", kv->path, ns, key);
                    e = RMQ_ERR__CORRUPT;
                    break;
                }
                if ((e = set_value(kv, ns, key, json_string_value(val), NULL))) break;
            }
            if (e) break;
        }
    }
    json_decref(root);
    if (!e)
        RMQ_LOG_INFO(MOD, "load KV config table OK, %zu namespaces from %s", kv->spaces.count,
                     kv->path);
    return e;
}

rmq_err_t rmq_ns_kv_open(const char *path, rmq_ns_kv_t **out) {
    *out = NULL;
    rmq_ns_kv_t *kv = calloc(1, sizeof *kv);
    if (!kv || !(kv->path = strdup(path))) {
        free(kv);
        return RMQ_ERR__NOMEM;
    }
    rmq_map_init(&kv->spaces);
    rmq_err_t e = load(kv);
    if (e) {
        rmq_ns_kv_close(kv);
        return e;
    }
    *out = kv;
    return RMQ_OK;
}

void rmq_ns_kv_close(rmq_ns_kv_t *kv) {
    if (!kv) return;
    rmq_map_fini(&kv->spaces, space_free);
    free(kv->path);
    free(kv);
}

const char *rmq_ns_kv_get(const rmq_ns_kv_t *kv, const char *ns, const char *key) {
    const rmq_map_t *m = rmq_map_get(&kv->spaces, ns);
    return m ? rmq_map_get(m, key) : NULL;
}

rmq_err_t rmq_ns_kv_put(rmq_ns_kv_t *kv, const char *ns, const char *key, const char *value) {
    char *old = NULL;
    rmq_err_t e = set_value(kv, ns, key, value, &old);
    if (e) return e;
    if (old)
        RMQ_LOG_INFO(MOD, "putKVConfig update config item, Namespace: %s Key: %s Value: %s", ns,
                     key, value);
    else
        RMQ_LOG_INFO(MOD, "putKVConfig create new config item, Namespace: %s Key: %s Value: %s", ns,
                     key, value);
    free(old);
    return rmq_ns_kv_persist(kv);
}

rmq_err_t rmq_ns_kv_delete(rmq_ns_kv_t *kv, const char *ns, const char *key) {
    rmq_map_t *m = space_get(kv, ns, false);
    char *old = m ? rmq_map_del(m, key) : NULL;
    if (!old) return RMQ_ERR__NOT_FOUND;
    RMQ_LOG_INFO(MOD, "deleteKVConfig delete a config item, Namespace: %s Key: %s Value: %s", ns,
                 key, old);
    free(old);
    return rmq_ns_kv_persist(kv);
}

static void put_table(rmq_buf_t *o, const rmq_map_t *m) {
    rmq_buf_append_u8(o, '{');
    rmq_map_ent_t **ents = rmq_map_sorted(m);
    for (size_t i = 0; ents && i < m->count; i++) {
        if (i) rmq_buf_append_u8(o, ',');
        rmq_json_put_strn(o, ents[i]->key, ents[i]->klen, false);
        rmq_buf_append_u8(o, ':');
        rmq_json_put_str(o, ents[i]->v.ptr);
    }
    free(ents);
    rmq_buf_append_u8(o, '}');
}

rmq_err_t rmq_ns_kv_table_json(const rmq_ns_kv_t *kv, const char *ns, rmq_buf_t *out) {
    const rmq_map_t *m = rmq_map_get(&kv->spaces, ns);
    if (!m) return RMQ_ERR__NOT_FOUND;
    rmq_buf_append_str(out, "{\"table\":");
    put_table(out, m);
    rmq_buf_append_u8(out, '}');
    return RMQ_OK;
}

/* mkdir -p of path's parent directory. */
static int mkdir_parent(const char *path) {
    char *dup = strdup(path);
    if (!dup) return -1;
    char *dir = dirname(dup);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) && errno != EEXIST) {
            free(dup);
            return -1;
        }
        *p = '/';
    }
    int rc = (mkdir(dir, 0755) && errno != EEXIST) ? -1 : 0;
    free(dup);
    return rc;
}

rmq_err_t rmq_ns_kv_persist(rmq_ns_kv_t *kv) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_append_str(&b, "{\"configTable\":{");
    rmq_map_ent_t **ents = rmq_map_sorted(&kv->spaces);
    for (size_t i = 0; ents && i < kv->spaces.count; i++) {
        if (i) rmq_buf_append_u8(&b, ',');
        rmq_json_put_strn(&b, ents[i]->key, ents[i]->klen, false);
        rmq_buf_append_u8(&b, ':');
        put_table(&b, ents[i]->v.ptr);
    }
    free(ents);
    rmq_buf_append_str(&b, "}}");

    size_t tl = strlen(kv->path) + 8;
    char *tmp = malloc(tl);
    rmq_err_t e = RMQ_ERR__IO;
    int fd = -1;
    if (!tmp) {
        e = RMQ_ERR__NOMEM;
        goto out;
    }
    snprintf(tmp, tl, "%s.tmp", kv->path);
    if (mkdir_parent(kv->path)) {
        RMQ_LOG_ERROR(MOD, "persist KV config: cannot create the directory of %s: %s", kv->path,
                      strerror(errno));
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        RMQ_LOG_ERROR(MOD, "persist KV config: open %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            RMQ_LOG_ERROR(MOD, "persist KV config: write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd)) {
        RMQ_LOG_ERROR(MOD, "persist KV config: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, kv->path)) {
        RMQ_LOG_ERROR(MOD, "persist KV config: rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* fsync the directory so the rename itself survives a crash */
    char *dup = strdup(kv->path);
    if (dup) {
        int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dup);
    }
    e = RMQ_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    rmq_buf_fini(&b);
    return e;
}
