/* libFuzzer target: the NameServer's decoders for untrusted bodies on port 9876 —
 * RegisterBrokerBody (JSON and the zlib form), DataVersion, and the lenient fastjson reader —
 * plus a registration and the route / cluster JSON built from whatever decoded. The first
 * byte picks plain or compressed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "namesrv/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool compressed = data[0] & 1;
    data++;
    size--;
    char err[256];
    rmq_ns_reg_body_t body;
    if (rmq_ns_reg_body_decode(data, size, compressed, &body, err, sizeof err) == RMQ_OK) {
        rmq_ns_route_t *r = rmq_ns_route_new();
        static int conn;
        rmq_ns_reg_t reg = {.cluster = "C",
                            .broker_name = "b",
                            .broker_addr = "1.2.3.4:5",
                            .ha_addr = "",
                            .broker_id = 0,
                            .body = &body,
                            .conn = &conn};
        rmq_ns_reg_result_t res;
        if (r && rmq_ns_route_register(r, &reg, 1, &res) == RMQ_OK) {
            rmq_buf_t b;
            rmq_buf_init(&b);
            for (size_t i = 0; i < body.ntopics && i < 4; i++) {
                rmq_buf_reset(&b);
                rmq_ns_route_topic_json(r, body.topics[i].name, i & 1, NULL, &b);
            }
            rmq_buf_reset(&b);
            rmq_ns_route_cluster_json(r, &b);
            rmq_buf_fini(&b);
            rmq_ns_route_conn_closed(r, &conn, NULL);
        }
        rmq_ns_route_destroy(r);
    }
    rmq_ns_reg_body_fini(&body);
    rmq_ns_dv_t dv;
    rmq_ns_dv_decode(data, size, &dv, err, sizeof err);
    return 0;
}
