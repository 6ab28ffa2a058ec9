/* NameServer metrics page (metrics.h). */
#include "namesrv/metrics.h"

#include <stdio.h>

#include "common/prom.h"
#include "rmq/rmq_codes.h"

/* RocketMQ's RequestCode names, lower-cased as RocketMQ 5 labels request_code. */
static const char *code_name(int code, char *buf, size_t n) {
    switch (code) {
    case RMQ_REQ_REGISTER_BROKER: return "register_broker";
    case RMQ_REQ_UNREGISTER_BROKER: return "unregister_broker";
    case RMQ_REQ_QUERY_DATA_VERSION: return "query_data_version";
    case RMQ_REQ_GET_ROUTEINFO_BY_TOPIC: return "get_routeinfo_by_topic";
    case RMQ_REQ_GET_BROKER_CLUSTER_INFO: return "get_broker_cluster_info";
    case RMQ_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER: return "get_all_topic_list_from_nameserver";
    case RMQ_REQ_GET_TOPICS_BY_CLUSTER: return "get_topics_by_cluster";
    case RMQ_REQ_DELETE_TOPIC_IN_NAMESRV: return "delete_topic_in_namesrv";
    case RMQ_REQ_WIPE_WRITE_PERM_OF_BROKER: return "wipe_write_perm_of_broker";
    case RMQ_REQ_ADD_WRITE_PERM_OF_BROKER: return "add_write_perm_of_broker";
    case RMQ_REQ_PUT_KV_CONFIG: return "put_kv_config";
    case RMQ_REQ_GET_KV_CONFIG: return "get_kv_config";
    case RMQ_REQ_DELETE_KV_CONFIG: return "delete_kv_config";
    case RMQ_REQ_GET_KVLIST_BY_NAMESPACE: return "get_kvlist_by_namespace";
    case 217: return "register_topic_in_namesrv";
    case 304: return "get_system_topic_list_from_ns";
    case 311: return "get_unit_topic_list";
    case 312: return "get_has_unit_sub_topic_list";
    case 313: return "get_has_unit_sub_ununit_topic_list";
    case 319: return "get_namesrv_config";
    default: snprintf(buf, n, "%d", code); return buf;
    }
}

void rmq_ns_metrics_render(rmq_buf_t *out, const char *base, const rmq_ns_route_t *route,
                           const rmq_ns_metrics_src_t *src) {
    rmq_prom_head(out, "rmq_up", "gauge", "1 while the NameServer serves.");
    rmq_prom_val(out, "rmq_up", base, NULL, 0, 1);
    rmq_prom_head(out, "rmq_namesrv_brokers_alive", "gauge", "Brokers registered and not expired.");
    rmq_prom_val(out, "rmq_namesrv_brokers_alive", base, NULL, 0,
                 (double)rmq_ns_route_live_count(route));
    rmq_prom_head(out, "rmq_namesrv_topics", "gauge", "Topics in the route tables.");
    rmq_prom_val(out, "rmq_namesrv_topics", base, NULL, 0, (double)rmq_ns_route_topic_count(route));
    rmq_prom_head(out, "rmq_connections", "gauge", "Open connections.");
    rmq_prom_val(out, "rmq_connections", base, NULL, 0, (double)src->connections);
    const char *names[2] = {"rmq_namesrv_requests_total", "rmq_namesrv_request_errors_total"};
    const char *help[2] = {"Requests served, by request code.",
                           "Requests answered with an error code, by request code."};
    for (int k = 0; k < 2; k++) {
        rmq_prom_head(out, names[k], "counter", help[k]);
        for (size_t i = 0; i < src->n; i++) {
            char nb[16];
            rmq_prom_label_t l[] = {{"request_code", code_name(src->codes[i], nb, sizeof nb)}};
            rmq_prom_val(out, names[k], base, l, 1,
                         (double)(k ? src->errors[i] : src->requests[i]));
        }
    }
    rmq_prom_process(out);
}
