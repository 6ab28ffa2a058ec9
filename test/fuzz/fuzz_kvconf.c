/* libFuzzer target: the key=value config parser (operators' files, -D overrides). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/kvconf.h"
#include "common/util.h"

typedef struct {
    int port;
    int64_t size;
    bool flag;
    char *name;
    int mode;
} cfg_t;
static const char *const modes[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};
static const rmq_kv_def_t defs[] = {
    RMQ_KV_INT("listenPort", cfg_t, port, 9876, 1, 65535, ""),
    RMQ_KV_I64_ALIAS("mappedFileSizeCommitLog", "mapedFileSizeCommitLog", cfg_t, size, 1 << 30,
                     4096, 1LL << 40, ""),
    RMQ_KV_BOOL("autoCreateTopicEnable", cfg_t, flag, 1, ""),
    RMQ_KV_STR("brokerName", cfg_t, name, "broker-a", ""),
    RMQ_KV_ENUM("flushDiskType", cfg_t, mode, 0, modes, ""),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    cfg_t c;
    char err[512];
    rmq_kv_defaults(defs, RMQ_ARRAY_LEN(defs), &c);
    rmq_kv_load_text(defs, RMQ_ARRAY_LEN(defs), &c, text, "fuzz.conf", err, sizeof err);
    if (c.port < 1 || c.port > 65535) __builtin_trap(); /* range checks must hold */
    rmq_kv_free(defs, RMQ_ARRAY_LEN(defs), &c);
    free(text);
    return 0;
}
