/* libFuzzer target: the plain_acl.yml loader (remoting/acl.c) and, on what it accepts, the
 * check against a signed request: no crash, leak or accepted file the check cannot use. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remoting/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    rmq_acl_t *a = rmq_acl_parse((const char *)data, size, err, sizeof err);
    if (!a) {
        if (!err[0]) __builtin_trap(); /* a refusal always says why */
        return 0;
    }
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(11);
    if (c) {
        rmq_rem_cmd_set(c, "topic", "topicA");
        rmq_rem_cmd_set(c, "consumerGroup", "groupA");
        rmq_acl_sign(c, "RocketMQ", "12345678", NULL);
        rmq_acl_res_t res[] = {{"topicA", false, RMQ_ACL_SUB}, {"groupA", true, RMQ_ACL_SUB}};
        rmq_acl_verdict_t v;
        rmq_acl_check(a, c, "192.168.0.1", 0, res, 2, &v);
        rmq_acl_check(a, c, "::1", RMQ_ACL_NEED_ADMIN, res, 2, &v);
        rmq_rem_cmd_destroy(c);
    }
    rmq_acl_free(a);
    return 0;
}
