/* mqadmin ACL 1.0 commands (RocketMQ 4.9.8's tools/command/acl): updateAclConfig,
 * deleteAclConfig, updateGlobalWhiteAddr on one broker (-b) or every master of a cluster (-c).
 * The broker rewrites its plain_acl.yml and reloads it; with ACL on the caller needs an admin
 * account (-ak/-sk or conf/tools.yml). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

/* code with kv on every target broker, printing ok_fmt (one %s: the address) per success. */
static int each_broker(ctx_t *c, int code, const char *const *kv, const char *ok_fmt,
                       json_t *done) {
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        const char *addr = json_string_value(a);
        rmq_err_t e;
        json_decref(adm_broker_call(c, addr, code, kv, NULL, "", &e));
        if (e != RMQ_OK) {
            rc = adm_fail("broker %s: %s", addr, adm_why(c, e));
            continue;
        }
        json_array_append(done, a);
        if (!c->json) printf(ok_fmt, addr);
    }
    json_decref(targets);
    return rc;
}

int adm_cmd_update_acl_config(ctx_t *c) {
    const char *ak = adm_opt(c, 'a', NULL), *sk = adm_opt(c, 's', NULL);
    const char *w = adm_opt(c, 'w', NULL), *tp = adm_opt(c, 'i', NULL), *gp = adm_opt(c, 'u', NULL),
               *topics = adm_opt(c, 't', NULL), *groups = adm_opt(c, 'g', NULL),
               *admin = adm_opt(c, 'm', NULL);
    const char *adm_s = admin ? (strcasecmp(admin, "true") == 0 ? "true" : "false") : NULL;
    const char *kv[20];
    size_t n = 0;
#define KV(k, v)                                                                                   \
    do {                                                                                           \
        if (v) {                                                                                   \
            kv[n++] = k;                                                                           \
            kv[n++] = v;                                                                           \
        }                                                                                          \
    } while (0)
    KV("accessKey", ak);
    KV("secretKey", sk);
    KV("whiteRemoteAddress", w);
    KV("defaultTopicPerm", tp);
    KV("defaultGroupPerm", gp);
    KV("topicPerms", topics);
    KV("groupPerms", groups);
    KV("admin", adm_s);
#undef KV
    kv[n] = NULL;
    json_t *done = json_array();
    int rc = each_broker(c, RMQ_REQ_UPDATE_AND_CREATE_ACL_CONFIG, kv,
                         "create or update plain access config to %s success.\n", done);
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "accessKey", ak, "brokers", done);
        adm_print_json(o);
        json_decref(o);
    } else if (rc == 0) {
        /* PlainAccessConfig's toString, the secret left out */
        printf("PlainAccessConfig{accessKey='%s', whiteRemoteAddress='%s', admin=%s, "
               "defaultTopicPerm='%s', defaultGroupPerm='%s', topicPerms=[%s], groupPerms=[%s]}\n",
               ak, w ? w : "", adm_s ? adm_s : "false", tp ? tp : "", gp ? gp : "",
               topics ? topics : "", groups ? groups : "");
    }
    json_decref(done);
    return rc;
}

int adm_cmd_delete_acl_config(ctx_t *c) {
    const char *ak = adm_opt(c, 'a', NULL);
    const char *kv[] = {"accessKey", ak, NULL};
    json_t *done = json_array();
    int rc = each_broker(c, RMQ_REQ_DELETE_ACL_CONFIG, kv,
                         "delete plain access config account from %s success.\n", done);
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "accessKey", ak, "brokers", done);
        adm_print_json(o);
        json_decref(o);
    } else if (rc == 0) {
        printf("account's accesskey is:%s\n", ak);
    }
    json_decref(done);
    return rc;
}

int adm_cmd_update_global_white_addr(ctx_t *c) {
    const char *g = adm_opt(c, 'g', NULL), *p = adm_opt(c, 'p', NULL);
    const char *kv[] = {"globalWhiteAddrs", g, p ? "aclFileFullPath" : NULL, p, NULL};
    json_t *done = json_array();
    int rc = each_broker(c, RMQ_REQ_UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, kv,
                         "update global white remote addresses to %s success.\n", done);
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "globalWhiteRemoteAddresses", g, "brokers", done);
        adm_print_json(o);
        json_decref(o);
    }
    json_decref(done);
    return rc;
}

/* One row per ACL file of addr (rmq brokers have one); 0 or 1. */
static int acl_version_rows(ctx_t *c, const char *addr, json_t *out) {
    rmq_admin_resp_t *r = NULL;
    rmq_err_t e =
        rmq_admin_invoke(c->admin, addr, RMQ_REQ_GET_BROKER_CLUSTER_ACL_INFO, NULL, NULL, 0, 0, &r);
    if (e != RMQ_OK) return adm_fail("broker %s: %s", addr, adm_why(c, e));
    if (r->code != RMQ_OK) {
        int rc = adm_fail("broker %s: CODE: %d DESC: %s", addr, r->code,
                          r->remark ? r->remark : rmq_strerror((rmq_err_t)r->code));
        rmq_admin_resp_destroy(r);
        return rc;
    }
    const char *cl = rmq_admin_resp_get(r, "clusterName"),
               *bn = rmq_admin_resp_get(r, "brokerName"), *ba = rmq_admin_resp_get(r, "brokerAddr"),
               *all = rmq_admin_resp_get(r, "allAclFileVersion");
    json_t *files = adm_parse_json(all);
    const char *path;
    json_t *v;
    json_object_foreach(files, path, v) {
        int64_t ts = adm_jint(v, "timestamp");
        if (c->json) {
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "clusterName",
                                                 cl ? cl : "", "brokerName", bn ? bn : "",
                                                 "brokerAddr", ba ? ba : addr, "aclFilePath", path,
                                                 "counter", (json_int_t)adm_jint(v, "counter"),
                                                 "timestamp", (json_int_t)ts));
            continue;
        }
        time_t t = (time_t)(ts / 1000);
        struct tm tmv;
        char when[32] = "";
        if (localtime_r(&t, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tmv);
        printf("%-16s  %-22s  %-22s  %-20s  %-22lld  %-22s\n", cl ? cl : "", bn ? bn : "",
               ba ? ba : addr, path, (long long)adm_jint(v, "counter"), when);
    }
    json_decref(files);
    rmq_admin_resp_destroy(r);
    return 0;
}

int adm_cmd_cluster_acl_config_version(ctx_t *c) {
    const char *b = adm_opt(c, 'b', NULL);
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    json_t *rows = json_array();
    if (!b && !c->json)
        printf("%-16s  %-22s  %-22s  %-20s  %-22s  %-22s\n", "#Cluster Name", "#Broker Name",
               "#Broker Addr", "#AclFilePath", "#AclConfigVersionNum", "#AclLastUpdateTime");
    int rc = 0;
    size_t i;
    json_t *a;
    json_array_foreach(targets, i, a) rc |= acl_version_rows(c, json_string_value(a), rows);
    if (c->json)
        adm_print_json(rows);
    else if (rc == 0)
        printf(b ? "get broker's plain access config version success.\n"
                 : "get cluster's plain access config version success.\n");
    json_decref(rows);
    json_decref(targets);
    return rc;
}
