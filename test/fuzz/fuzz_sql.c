/* libFuzzer target: the SQL92 filter compiler and evaluator (broker/filter_sql). Input: an
 * expression, then after the first NUL byte the properties string to evaluate it against (also
 * evaluated against a fixed set). Checks: no crash or leak, a failed compile names a position
 * inside the input, an evaluation gives one of the four results. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/filter_sql.h"

static const char fixed[] =
    "a\0015\002b\001abc\002c\0013.5\002TAGS\001TagA\002d\001true\002e\001-7";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t elen = nul ? (size_t)(nul - data) : size;
    const char *props = nul ? (const char *)nul + 1 : "";
    size_t plen = nul ? size - elen - 1 : 0;
    rmq_broker_sql_t *f = NULL;
    char err[256];
    rmq_err_t e = rmq_broker_sql_compile((const char *)data, elen, &f, err, sizeof err);
    if (e != RMQ_OK) {
        if (e != RMQ_ERR_SUBSCRIPTION_PARSE_FAILED || strncmp(err, "position ", 9) != 0 ||
            strtoul(err + 9, NULL, 10) < 1 || strtoul(err + 9, NULL, 10) > elen + 1)
            abort();
        return 0;
    }
    rmq_sql_result_t r1 = rmq_broker_sql_eval(f, props, plen);
    rmq_sql_result_t r2 = rmq_broker_sql_eval(f, fixed, sizeof fixed - 1);
    if (r1 > RMQ_SQL_ERROR || r2 > RMQ_SQL_ERROR) abort();
    rmq_broker_sql_destroy(f);
    return 0;
}
