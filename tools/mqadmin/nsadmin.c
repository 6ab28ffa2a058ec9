/* mqadmin NameServer commands (RocketMQ 4.9.8's tools/command/namesrv and UpdateOrderConf):
 * wipeWritePerm, addWritePerm, updateKvConfig, deleteKvConfig, updateOrderConf,
 * getNamesrvConfig, updateNamesrvConfig. Writes go to EVERY NameServer of -n, as the Java
 * tool does (NameServers share nothing); one failing NameServer is reported and the others
 * are still tried, and the exit status is 1 if any failed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

#define REQ_UPDATE_NAMESRV_CONFIG 318
#define REQ_GET_NAMESRV_CONFIG 319
#define NS_ORDER_TOPIC_CONFIG "ORDER_TOPIC_CONFIG"

/* The NameServers of -n (";"-separated) as a JSON array of strings. */
static json_t *ns_list(ctx_t *c) {
    json_t *a = json_array();
    char *list = strdup(c->ns), *save = NULL;
    for (char *t = list ? strtok_r(list, ";", &save) : NULL; t; t = strtok_r(NULL, ";", &save))
        if (*t) json_array_append_new(a, json_string(t));
    free(list);
    return a;
}

/* One request to NameServer addr: RMQ_OK with *r (answer SUCCESS), else the error with the
 * reason in why. */
static rmq_err_t ns_req(ctx_t *c, const char *addr, int code, const char *const *kv,
                        const char *body, rmq_admin_resp_t **r, char *why, size_t wn) {
    *r = NULL;
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, kv, body, body ? strlen(body) : 0, 0, r);
    if (e != RMQ_OK) {
        snprintf(why, wn, "%s", adm_why(c, e));
        return e;
    }
    if ((*r)->code != RMQ_OK) {
        e = (rmq_err_t)(*r)->code;
        snprintf(why, wn, "CODE: %d DESC: %s", (*r)->code,
                 (*r)->remark ? (*r)->remark : rmq_strerror(e));
        rmq_admin_resp_destroy(*r);
        *r = NULL;
    }
    return e;
}

/* ---- wipeWritePerm / addWritePerm ------------------------------------------------------- */

static int write_perm(ctx_t *c, bool add) {
    const char *bn = adm_opt(c, 'b', NULL);
    const char *verb = add ? "add" : "wipe";
    const char *kv[] = {"brokerName", bn, NULL};
    json_t *nss = ns_list(c), *out = json_array(), *v;
    size_t i;
    int rc = 0;
    json_array_foreach(nss, i, v) {
        const char *addr = json_string_value(v);
        rmq_admin_resp_t *r;
        char why[512];
        rmq_err_t e = ns_req(
            c, addr, add ? RMQ_REQ_ADD_WRITE_PERM_OF_BROKER : RMQ_REQ_WIPE_WRITE_PERM_OF_BROKER, kv,
            NULL, &r, why, sizeof why);
        if (e != RMQ_OK) {
            /* 4.9.8 prints this line on stdout and goes on with the next NameServer */
            if (!c->json)
                printf("%s write perm of broker[%s] in name server[%s] Failed\n", verb, bn, addr);
            adm_fail("NameServer %s: %s", addr, why);
            json_array_append_new(
                out, json_pack("{s:s,s:b,s:s}", "namesrvAddr", addr, "ok", 0, "error", why));
            rc = 1;
            continue;
        }
        const char *n = rmq_admin_resp_get(r, add ? "addTopicCount" : "wipeTopicCount");
        long cnt = n ? strtol(n, NULL, 10) : 0;
        if (c->json)
            json_array_append_new(out, json_pack("{s:s,s:b,s:i}", "namesrvAddr", addr, "ok", 1,
                                                 add ? "addTopicCount" : "wipeTopicCount",
                                                 (json_int_t)cnt));
        else
            printf("%s write perm of broker[%s] in name server[%s] OK, %ld\n", verb, bn, addr, cnt);
        rmq_admin_resp_destroy(r);
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "brokerName", bn, "nameServers", out);
        adm_print_json(o);
        json_decref(o);
    }
    json_decref(out);
    json_decref(nss);
    return rc;
}

int adm_cmd_wipe_write_perm(ctx_t *c) {
    return write_perm(c, false);
}

int adm_cmd_add_write_perm(ctx_t *c) {
    return write_perm(c, true);
}

/* ---- KV config ---------------------------------------------------------------------------- */

/* code with kv on every NameServer; 0 when all answered SUCCESS. */
static int kv_all(ctx_t *c, int code, const char *const *kv, const char *what) {
    json_t *nss = ns_list(c), *v;
    size_t i;
    int rc = 0;
    json_array_foreach(nss, i, v) {
        rmq_admin_resp_t *r;
        char why[512];
        if (ns_req(c, json_string_value(v), code, kv, NULL, &r, why, sizeof why) != RMQ_OK) {
            rc = adm_fail("%s on NameServer %s: %s", what, json_string_value(v), why);
            continue;
        }
        rmq_admin_resp_destroy(r);
    }
    json_decref(nss);
    return rc;
}

static void print_ok_json(const char *what, const char *ns, const char *key, const char *value) {
    json_t *o =
        json_pack("{s:s,s:b,s:s,s:s}", "action", what, "ok", 1, "namespace", ns, "key", key);
    if (value) json_object_set_new(o, "value", json_string(value));
    adm_print_json(o);
    json_decref(o);
}

int adm_cmd_update_kv_config(ctx_t *c) {
    const char *ns = adm_opt(c, 's', NULL), *k = adm_opt(c, 'k', NULL), *v = adm_opt(c, 'v', NULL);
    const char *kv[] = {"namespace", ns, "key", k, "value", v, NULL};
    if (kv_all(c, RMQ_REQ_PUT_KV_CONFIG, kv, "create or update kv config")) return 1;
    if (c->json)
        print_ok_json("updateKvConfig", ns, k, v);
    else
        printf("create or update kv config to namespace success.\n");
    return 0;
}

int adm_cmd_delete_kv_config(ctx_t *c) {
    const char *ns = adm_opt(c, 's', NULL), *k = adm_opt(c, 'k', NULL);
    const char *kv[] = {"namespace", ns, "key", k, NULL};
    if (kv_all(c, RMQ_REQ_DELETE_KV_CONFIG, kv, "delete kv config")) return 1;
    if (c->json)
        print_ok_json("deleteKvConfig", ns, k, NULL);
    else
        printf("delete kv config from namespace success.\n");
    return 0;
}

/* updateOrderConf -t topic -m get|put|delete [-v "broker:n;broker:n"]: the topic's entry in
 * the ORDER_TOPIC_CONFIG namespace (routes carry it when orderMessageEnable=true). 4.9.8's
 * lines end without a newline; ours add one. */
int adm_cmd_update_order_conf(ctx_t *c) {
    const char *t = adm_opt(c, 't', NULL), *m = adm_opt(c, 'm', NULL), *v = adm_opt(c, 'v', NULL);
    if (!strcmp(m, "get")) {
        const char *kv[] = {"namespace", NS_ORDER_TOPIC_CONFIG, "key", t, NULL};
        rmq_admin_resp_t *r = NULL;
        rmq_err_t e = rmq_admin_invoke(c->admin, NULL, RMQ_REQ_GET_KV_CONFIG, kv, NULL, 0, 0, &r);
        if (e != RMQ_OK) return adm_fail("get orderConf of %s: %s", t, adm_why(c, e));
        if (r->code != RMQ_OK) {
            int rc = adm_fail("get orderConf of %s: CODE: %d DESC: %s", t, r->code,
                              r->remark ? r->remark : rmq_strerror((rmq_err_t)r->code));
            rmq_admin_resp_destroy(r);
            return rc;
        }
        const char *val = rmq_admin_resp_get(r, "value");
        if (c->json)
            print_ok_json("get", NS_ORDER_TOPIC_CONFIG, t, val ? val : "");
        else
            printf("get orderConf success. topic=[%s], orderConf=[%s]\n", t, val ? val : "");
        rmq_admin_resp_destroy(r);
        return 0;
    }
    if (!strcmp(m, "put")) {
        if (!v || !*v) return adm_fail("please set orderConf with option -v.");
        const char *kv[] = {"namespace", NS_ORDER_TOPIC_CONFIG, "key", t, "value", v, NULL};
        if (kv_all(c, RMQ_REQ_PUT_KV_CONFIG, kv, "update orderConf")) return 1;
        if (c->json)
            print_ok_json("put", NS_ORDER_TOPIC_CONFIG, t, v);
        else
            printf("update orderConf success. topic=[%s], orderConf=[%s]\n", t, v);
        return 0;
    }
    if (!strcmp(m, "delete")) {
        const char *kv[] = {"namespace", NS_ORDER_TOPIC_CONFIG, "key", t, NULL};
        if (kv_all(c, RMQ_REQ_DELETE_KV_CONFIG, kv, "delete orderConf")) return 1;
        if (c->json)
            print_ok_json("delete", NS_ORDER_TOPIC_CONFIG, t, NULL);
        else
            printf("delete orderConf success. topic=[%s]\n", t);
        return 0;
    }
    return adm_fail("-m must be get, put or delete, not %s", m);
}

/* ---- getNamesrvConfig / updateNamesrvConfig ------------------------------------------------ */

int adm_cmd_get_namesrv_config(ctx_t *c) {
    json_t *nss = ns_list(c), *all = json_object(), *v;
    size_t i;
    int rc = 0;
    json_array_foreach(nss, i, v) {
        const char *addr = json_string_value(v);
        rmq_admin_resp_t *r;
        char why[512];
        if (ns_req(c, addr, REQ_GET_NAMESRV_CONFIG, NULL, NULL, &r, why, sizeof why) != RMQ_OK) {
            rc = adm_fail("NameServer %s: %s", addr, why);
            continue;
        }
        json_t *props = adm_props_json(r->body, r->body_len);
        rmq_admin_resp_destroy(r);
        if (!props) {
            rc = adm_fail("out of memory");
            continue;
        }
        if (!c->json) {
            printf("============%s============\n", addr);
            adm_print_props(props);
        }
        json_object_set_new(all, addr, props);
    }
    if (c->json && !rc) adm_print_json(all);
    json_decref(all);
    json_decref(nss);
    return rc;
}

int adm_cmd_update_namesrv_config(ctx_t *c) {
    const char *k = adm_opt(c, 'k', NULL), *v = adm_opt(c, 'v', NULL);
    if (strchr(k, '\n') || strchr(k, '=') || strchr(v, '\n'))
        return adm_fail("key and value must be one line each (and the key without '=')");
    char *body = NULL;
    if (asprintf(&body, "%s=%s\n", k, v) < 0) return adm_fail("out of memory");
    json_t *nss = ns_list(c), *x;
    size_t i;
    int rc = 0;
    json_array_foreach(nss, i, x) {
        rmq_admin_resp_t *r;
        char why[512];
        if (ns_req(c, json_string_value(x), REQ_UPDATE_NAMESRV_CONFIG, NULL, body, &r, why,
                   sizeof why) != RMQ_OK) {
            rc = adm_fail("NameServer %s: %s", json_string_value(x), why);
            continue;
        }
        rmq_admin_resp_destroy(r);
    }
    free(body);
    if (rc == 0) {
        if (c->json) {
            json_t *o = json_pack("{s:O,s:s,s:s}", "nameServers", nss, "key", k, "value", v);
            adm_print_json(o);
            json_decref(o);
        } else {
            printf("update name server config success![");
            json_array_foreach(nss, i, x) printf("%s%s", i ? ", " : "", json_string_value(x));
            printf("]\n%s : %s\n", k, v);
        }
    }
    json_decref(nss);
    return rc;
}
