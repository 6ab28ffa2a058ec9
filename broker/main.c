/* mqbroker: parse broker.conf (-c), -n, -p, -D overrides; set up logging; run the broker. */
#include <stdio.h>
#include <stdlib.h>

#include "broker/broker.h"
#include "common/log.h"

int main(int argc, char **argv) {
    rmq_log_open(NULL, RMQ_LOG_LVL_INFO, true);
    rmq_broker_cfg_t cfg;
    rmq_broker_cfg_init(&cfg);
    int rc = rmq_kv_main_args(argc, argv, "mqbroker", rmq_broker_cfg_defs, rmq_broker_cfg_ndefs,
                              &cfg, "namesrvAddr");
    if (rc != 0) {
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        return rc > 0 ? 0 : 2;
    }
    char err[512];
    /* UPDATE_BROKER_CONFIG's changes, kept beside broker.conf (cfg.h) */
    if (rmq_broker_cfg_load_runtime(&cfg, err, sizeof err) != RMQ_OK) {
        fprintf(stderr, "mqbroker: %s\n", err);
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        return 2;
    }
    if (rmq_broker_cfg_finish(&cfg, err, sizeof err) != RMQ_OK) {
        fprintf(stderr, "mqbroker: %s\n", err);
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        return 2;
    }
    /* stderr always (the foreground and the test harness read it); the file when configured. */
    rmq_log_close();
    if (rmq_log_open(cfg.log_file, (rmq_log_lvl_t)rmq_log_level_parse(cfg.log_level), true) != 0) {
        fprintf(stderr, "mqbroker: cannot open logFile %s\n", cfg.log_file);
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        return 2;
    }
    rc = rmq_broker_run(&cfg);
    rmq_log_close();
    return rc;
}
