/* ACL 1.0 writes (admin_acl.h): the account file is read as a YAML tree into JSON, edited, and
 * written back whole as YAML (every scalar double-quoted) to a temp file beside it, fsync'ed and
 * renamed over it, then reloaded at once through the watcher. Comments in the old file do not
 * survive a write (RocketMQ's SnakeYAML rewrite drops them too). */
#include "broker/admin_acl.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include <jansson.h>

#include "broker/util.h"
#include "common/log.h"
#include "remoting/acl.h"

/* ---- YAML <-> JSON ---------------------------------------------------------------------- */

static json_t *node_json(yaml_document_t *d, yaml_node_t *n, int depth) {
    if (!n || depth > 16) return json_null();
    if (n->type == YAML_SCALAR_NODE)
        return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            json_array_append_new(a, node_json(d, yaml_document_get_node(d, *it), depth + 1));
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) continue;
        char *ks = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
        if (ks)
            json_object_set_new(o, ks,
                                node_json(d, yaml_document_get_node(d, p->value), depth + 1));
        free(ks);
    }
    return o;
}

/* The file as a JSON object (an empty file is an empty object); NULL with why. */
static json_t *acl_read(const char *path, char *why, size_t wn) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, wn, "cannot open %.400s", path);
        return NULL;
    }
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    json_t *out = NULL;
    if (!yaml_parser_load(&p, &d)) {
        snprintf(why, wn, "%s is not YAML: %s", path, p.problem ? p.problem : "?");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        out = root ? node_json(&d, root, 0) : json_object();
        if (!json_is_object(out)) {
            snprintf(why, wn, "%s: the top level is not a mapping", path);
            json_decref(out);
            out = NULL;
        }
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return out;
}

static void put_scalar(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\x%02x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* A key as written: bare when it is a plain name (all of RocketMQ's are), else quoted. */
static void put_key(FILE *f, const char *k) {
    bool plain = *k != 0;
    for (const char *p = k; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '.';
    if (plain)
        fputs(k, f);
    else
        put_scalar(f, k);
}

static void put_value(FILE *f, json_t *v, int ind);

/* key: value lines of o at indent ind; first_inline: the first line already has its indent
 * (after "- "). */
static void put_map(FILE *f, json_t *o, int ind, bool first_inline) {
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(o, k, v) {
        if (!(first && first_inline)) fprintf(f, "%*s", ind, "");
        first = false;
        put_key(f, k);
        fputc(':', f);
        put_value(f, v, ind + 2);
    }
    if (first && first_inline) fprintf(f, "{}\n");
}

/* After "key:" — a scalar on the line, or a block below. */
static void put_value(FILE *f, json_t *v, int ind) {
    if (json_is_object(v)) {
        if (!json_object_size(v)) {
            fprintf(f, " {}\n");
            return;
        }
        fputc('\n', f);
        put_map(f, v, ind, false);
    } else if (json_is_array(v)) {
        if (!json_array_size(v)) {
            fprintf(f, " []\n");
            return;
        }
        fputc('\n', f);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            fprintf(f, "%*s- ", ind, "");
            if (json_is_object(x)) {
                put_map(f, x, ind + 2, true);
            } else {
                put_scalar(f, json_is_string(x) ? json_string_value(x) : "");
                fputc('\n', f);
            }
        }
    } else {
        fputc(' ', f);
        put_scalar(f, json_is_string(v) ? json_string_value(v) : "");
        fputc('\n', f);
    }
}

/* Write root to path atomically (temp beside it, fsync, rename); 0 or -1 with why. */
static int acl_write(const char *path, json_t *root, char *why, size_t wn) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(why, wn, "cannot write %.400s", tmp);
        return -1;
    }
    fprintf(f, "# written by mqbroker (mqadmin ACL commands)\n");
    put_map(f, root, 0, false);
    bool bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        snprintf(why, wn, "cannot replace %.400s", path);
        return -1;
    }
    return 0;
}

/* ---- handlers ----------------------------------------------------------------------------- */

/* Load, let edit change the tree (NULL: fine, else the refusal remark), write, reload. */
typedef const char *(*edit_fn)(json_t *root, const rmq_rem_cmd_t *req, char *buf, size_t bn);

static rmq_rem_cmd_t *edit_acl(rmq_broker_ctx_t *b, const rmq_rem_cmd_t *req, edit_fn edit,
                               const char *what) {
    if (!b->acl)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "ACL is off on this broker (aclEnable=false): nothing changed");
    const char *path = rmq_acl_watch_path(b->acl);
    char why[512], buf[512];
    json_t *root = acl_read(path, why, sizeof why);
    if (!root) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", why);
    const char *refused = edit(root, req, buf, sizeof buf);
    if (refused) {
        json_decref(root);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", refused);
    }
    /* check the result parses as an account file before it replaces the good one */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        put_map(m, root, 0, false);
        fclose(m);
    }
    rmq_acl_t *probe = text ? rmq_acl_parse(text, len, why, sizeof why) : NULL;
    free(text);
    if (!probe) {
        json_decref(root);
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the new ACL would not load: %s", why);
    }
    rmq_acl_free(probe);
    int rc = acl_write(path, root, why, sizeof why);
    json_decref(root);
    if (rc) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", why);
    rmq_acl_watch_poll(b->acl);
    RMQ_LOG_INFO("acl", "%s: %s rewritten", what, path);
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}

/* "a,b,c" -> ["a","b","c"] (blank items dropped). */
static json_t *split_list(const char *s) {
    json_t *a = json_array();
    char *dup = strdup(s), *save = NULL;
    for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ') t[--n] = 0;
        if (*t) json_array_append_new(a, json_string(t));
    }
    free(dup);
    return a;
}

static const char *ak_of(json_t *acc) {
    const char *s = json_string_value(json_object_get(acc, "accessKey"));
    return s ? s : "";
}

static json_t *accounts_of(json_t *root) {
    json_t *a = json_object_get(root, "accounts");
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(root, "accounts", a);
    }
    return a;
}

static const char *edit_update(json_t *root, const rmq_rem_cmd_t *req, char *buf, size_t bn) {
    const char *ak = rmq_rem_cmd_get(req, "accessKey"), *sk = rmq_rem_cmd_get(req, "secretKey");
    if (!ak || strlen(ak) < 6) return "accessKey must be at least 6 characters";
    json_t *accs = accounts_of(root), *acc = NULL, *x;
    size_t i;
    json_array_foreach(accs, i, x) {
        if (!strcmp(ak_of(x), ak)) acc = x;
    }
    if (!acc && (!sk || strlen(sk) < 6)) return "secretKey must be at least 6 characters";
    if (sk && strlen(sk) < 6) return "secretKey must be at least 6 characters";
    if (!acc) {
        acc = json_object();
        json_object_set_new(acc, "accessKey", json_string(ak));
        json_array_append_new(accs, acc);
    }
    static const char *const scalars[] = {"secretKey", "whiteRemoteAddress", "defaultTopicPerm",
                                          "defaultGroupPerm", "admin"};
    for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) {
        const char *v = rmq_rem_cmd_get(req, scalars[k]);
        if (v && *v) json_object_set_new(acc, scalars[k], json_string(v));
    }
    const char *tp = rmq_rem_cmd_get(req, "topicPerms"), *gp = rmq_rem_cmd_get(req, "groupPerms");
    if (tp && *tp) json_object_set_new(acc, "topicPerms", split_list(tp));
    if (gp && *gp) json_object_set_new(acc, "groupPerms", split_list(gp));
    (void)buf;
    (void)bn;
    return NULL;
}

static const char *edit_delete(json_t *root, const rmq_rem_cmd_t *req, char *buf, size_t bn) {
    const char *ak = rmq_rem_cmd_get(req, "accessKey");
    json_t *accs = accounts_of(root), *x;
    size_t i;
    json_array_foreach(accs, i, x) {
        if (!strcmp(ak_of(x), ak)) {
            json_array_remove(accs, i);
            return NULL;
        }
    }
    snprintf(buf, bn, "no account with accessKey %s", ak);
    return buf;
}

static const char *edit_white(json_t *root, const rmq_rem_cmd_t *req, char *buf, size_t bn) {
    json_object_set_new(root, "globalWhiteRemoteAddresses",
                        split_list(rmq_rem_cmd_get(req, "globalWhiteAddrs")));
    (void)buf;
    (void)bn;
    return NULL;
}

RMQ_BROKER_HANDLER(rmq_broker_acl_on_update) {
    const char *ak;
    rmq_rem_cmd_t *err = rmq_broker_need_str(req, "accessKey", &ak);
    if (err) return err;
    return edit_acl(b, req, edit_update, "UPDATE_AND_CREATE_ACL_CONFIG");
}

RMQ_BROKER_HANDLER(rmq_broker_acl_on_delete) {
    const char *ak;
    rmq_rem_cmd_t *err = rmq_broker_need_str(req, "accessKey", &ak);
    if (err) return err;
    return edit_acl(b, req, edit_delete, "DELETE_ACL_CONFIG");
}

RMQ_BROKER_HANDLER(rmq_broker_acl_on_update_white) {
    const char *w;
    rmq_rem_cmd_t *err = rmq_broker_need_str(req, "globalWhiteAddrs", &w);
    if (err) return err;
    const char *other = rmq_rem_cmd_get(req, "aclFileFullPath");
    if (other && *other && b->acl && strcmp(other, rmq_acl_watch_path(b->acl)) != 0)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "aclFileFullPath: this broker has one ACL file, %s",
                              rmq_acl_watch_path(b->acl));
    return edit_acl(b, req, edit_white, "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG");
}

/* GET_BROKER_CLUSTER_ACL_INFO: this broker's names and its one ACL file's DataVersion (counter
 * = reloads since start, timestamp = last load). */
RMQ_BROKER_HANDLER(rmq_broker_acl_on_version) {
    if (!b->acl)
        return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR,
                              "ACL is off on this broker (aclEnable=false): no ACL file in force");
    const rmq_broker_cfg_t *cfg = b->env.cfg;
    int64_t counter, ts;
    rmq_acl_watch_version(b->acl, &counter, &ts);
    char ver[128], addr[300];
    snprintf(ver, sizeof ver, "{\"counter\":%lld,\"timestamp\":%lld}", (long long)counter,
             (long long)ts);
    json_t *all = json_object();
    json_object_set_new(all, rmq_acl_watch_path(b->acl), json_loads(ver, 0, NULL));
    char *alls = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    snprintf(addr, sizeof addr, "%s:%d", cfg->broker_ip1 ? cfg->broker_ip1 : "", cfg->listen_port);
    rmq_rem_cmd_t *r = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (r) {
        rmq_rem_cmd_set(r, "version", ver);
        rmq_rem_cmd_set(r, "allAclFileVersion", alls ? alls : "{}");
        rmq_rem_cmd_set(r, "brokerAddr", addr);
        rmq_rem_cmd_set(r, "brokerName", cfg->broker_name ? cfg->broker_name : "");
        rmq_rem_cmd_set(r, "clusterName", cfg->broker_cluster_name ? cfg->broker_cluster_name : "");
    }
    free(alls);
    return r;
}
