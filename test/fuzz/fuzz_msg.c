/* libFuzzer target: the stored-message record decoder and the properties parser.
 * Records come from disk (recovery) and from brokers (pulled bodies), so neither may crash,
 * read out of bounds or accept a record whose fields run past its bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/msg.h"

static bool each(const char *k, size_t kl, const char *v, size_t vl, void *arg) {
    size_t *n = arg;
    *n += kl + vl;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Walk the bytes as a pull body: records back to back. */
    size_t pos = 0;
    while (pos < size) {
        rmq_msg_rec_t r;
        int64_t n = rmq_msg_rec_decode(data + pos, size - pos, true, &r);
        if (n <= 0) break;
        if ((size_t)n > size - pos) __builtin_trap(); /* decoder claimed bytes it lacks */
        if (r.body_len > 0 && (r.body < data || r.body + r.body_len > data + size))
            __builtin_trap();
        if (r.props_len > 0) {
            size_t total = 0, vl;
            rmq_msg_prop_each(r.props, (size_t)r.props_len, each, &total);
            rmq_msg_prop_get(r.props, (size_t)r.props_len, "KEYS", &vl);
        }
        pos += (size_t)n;
    }
    /* And the whole input as a properties string and an offset id. */
    size_t total = 0, vl;
    rmq_msg_prop_each((const char *)data, size, each, &total);
    rmq_msg_prop_get((const char *)data, size, "TAGS", &vl);
    char id[80];
    size_t l = size < sizeof id - 1 ? size : sizeof id - 1;
    memcpy(id, data, l);
    id[l] = 0;
    rmq_msg_host_t h;
    int64_t off;
    rmq_msg_offset_id_parse(id, &h, &off);
    return 0;
}
