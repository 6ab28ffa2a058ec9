/* mqbroker: parse broker.conf (-c), -n, -p, -D overrides; set up logging; run the broker.
 * mqbroker --check [-c broker.conf ...]: verify the store that config names, offline, print
 * what a start would keep and skip and exit (0 clean, 1 damage found, 2 error). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/log.h"
#include "store/check.h"

/* --check: the store of cfg through store/check.h, report on stdout. */
static int check_store(const rmq_broker_cfg_t *cfg) {
    rmq_store_check_cfg_t cc = {.root = cfg->store.store_path_root_dir,
                                .commitlog_dir = cfg->store.store_path_commitlog,
                                .commitlog_size = cfg->store.mapped_file_size_commitlog,
                                .cq_size = cfg->store.mapped_file_size_cq,
                                .max_message_size = cfg->store.max_message_size};
    printf("mqbroker --check: store %s, CommitLog segments of %lld bytes (the broker is expected "
           "to be stopped)\n",
           cc.root, (long long)cc.commitlog_size);
    return rmq_store_check(&cc, stdout);
}

int main(int argc, char **argv) {
    bool check = false;
    for (int i = 1; i < argc; i++) { /* --check is ours; the rest is the servers' command line */
        if (strcmp(argv[i], "--check")) continue;
        check = true;
        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
        argc--;
        i--;
    }
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
    if (check) {
        rc = check_store(&cfg);
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        rmq_log_close();
        return rc;
    }
    /* The file when configured, else stderr (the foreground and the test harness read it); not
     * both, or under systemd every line lands twice in the journal. */
    rmq_log_close();
    bool to_file = cfg.log_file && *cfg.log_file;
    signal(SIGHUP, SIG_IGN); /* until the loop's handler is installed: never die of it */
    if (rmq_log_open(to_file ? cfg.log_file : NULL,
                     (rmq_log_lvl_t)rmq_log_level_parse(cfg.log_level), !to_file) != 0) {
        fprintf(stderr, "mqbroker: cannot open logFile %s\n", cfg.log_file);
        rmq_kv_free(rmq_broker_cfg_defs, rmq_broker_cfg_ndefs, &cfg);
        return 2;
    }
    if (to_file)
        rmq_log_set_rotation((unsigned long long)cfg.log_file_max_size, cfg.log_file_max_count,
                             cfg.log_roll_daily);
    rc = rmq_broker_run(&cfg);
    rmq_log_close();
    return rc;
}
