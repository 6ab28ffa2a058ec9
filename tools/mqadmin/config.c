/* updateBrokerConfig and getBrokerConfig (RocketMQ 4.9.8's UpdateBrokerConfigSubCommand and
 * GetBrokerConfigCommand): one key=value sent as a properties body to each target broker, and
 * each broker's config printed as "%-50s=  %s" lines under a ====addr==== banner. With ACL on,
 * both need an admin account (-ak/-sk or conf/tools.yml); the broker refuses keys off its
 * allow-list whatever the account. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"

/* Raw call: RMQ_OK with *r set (check (*r)->code), else the transport error (printed). */
static int call(ctx_t *c, const char *addr, int code, const char *body, rmq_admin_resp_t **r) {
    rmq_err_t e = rmq_admin_invoke(c->admin, addr, code, NULL, body, body ? strlen(body) : 0, 0, r);
    if (e != RMQ_OK) return adm_fail("broker %s: %s", addr, adm_why(c, e));
    if ((*r)->code != RMQ_OK) {
        int rc = adm_fail("broker %s: CODE: %d DESC: %s", addr, (*r)->code,
                          (*r)->remark ? (*r)->remark : rmq_strerror((rmq_err_t)(*r)->code));
        rmq_admin_resp_destroy(*r);
        *r = NULL;
        return rc;
    }
    return 0;
}

int adm_cmd_update_broker_config(ctx_t *c) {
    const char *k = adm_opt(c, 'k', NULL), *v = adm_opt(c, 'v', NULL);
    if (strchr(k, '\n') || strchr(k, '=') || strchr(v, '\n'))
        return adm_fail("key and value must be one line each (and the key without '=')");
    char *body = NULL;
    if (asprintf(&body, "%s=%s\n", k, v) < 0) return adm_fail("out of memory");
    json_t *targets = adm_target_brokers(c);
    int rc = targets ? 0 : 1;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        const char *addr = json_string_value(t);
        rmq_admin_resp_t *r = NULL;
        if (call(c, addr, RMQ_REQ_UPDATE_BROKER_CONFIG, body, &r) != 0) {
            rc = 1;
            continue;
        }
        rmq_admin_resp_destroy(r);
        printf("update broker config success, %s\n", addr);
    }
    json_decref(targets);
    free(body);
    return rc;
}

/* Print one broker's config under banner; 0 or 1. */
static int get_and_print(ctx_t *c, const char *banner, const char *addr, json_t *all) {
    rmq_admin_resp_t *r = NULL;
    if (!c->json) printf("%s", banner);
    if (call(c, addr, RMQ_REQ_GET_BROKER_CONFIG, NULL, &r) != 0) return 1;
    json_t *props = adm_props_json(r->body, r->body_len);
    rmq_admin_resp_destroy(r);
    if (!props) return adm_fail("out of memory");
    if (c->json) {
        json_object_set_new(all, addr, props);
        return 0;
    }
    if (!json_object_size(props)) printf("Broker[%s] has no config property!\n", addr);
    adm_print_props(props);
    printf("\n");
    json_decref(props);
    return 0;
}

int adm_cmd_get_broker_config(ctx_t *c) {
    const char *b = adm_opt(c, 'b', NULL), *cl = adm_opt(c, 'c', NULL);
    json_t *all = json_object();
    int rc = 0;
    char banner[512];
    if (b) {
        snprintf(banner, sizeof banner, "============%s============\n", b);
        rc = get_and_print(c, banner, b, all);
    } else if (cl) {
        json_t *ci = adm_cluster_info(c);
        if (!ci) {
            json_decref(all);
            return 1;
        }
        json_t *names = json_object_get(json_object_get(ci, "clusterAddrTable"), cl);
        if (!json_is_array(names)) rc = adm_fail("cluster %s does not exist", cl);
        size_t i;
        json_t *nm;
        json_array_foreach(names, i, nm) {
            json_t *bd =
                json_object_get(json_object_get(ci, "brokerAddrTable"), json_string_value(nm));
            json_t *addrs = json_object_get(bd, "brokerAddrs");
            const char *master = json_string_value(json_object_get(addrs, "0"));
            if (!master) continue;
            snprintf(banner, sizeof banner, "============Master: %s============\n", master);
            rc |= get_and_print(c, banner, master, all);
            const char *id;
            json_t *a;
            json_object_foreach(addrs, id, a) {
                if (!strcmp(id, "0")) continue;
                snprintf(banner, sizeof banner,
                         "============My Master: %s=====Slave: %s============\n", master,
                         json_string_value(a));
                rc |= get_and_print(c, banner, json_string_value(a), all);
            }
        }
        json_decref(ci);
    } else {
        rc = adm_fail("one of -b brokerAddr or -c clusterName is required");
    }
    if (c->json && !rc) adm_print_json(all);
    json_decref(all);
    return rc;
}
