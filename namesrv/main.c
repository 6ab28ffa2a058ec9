/* mqnamesrv: parse the configuration, open the log, run the NameServer on one libuv loop until
 * SIGINT or SIGTERM, then shut down cleanly (KV config persisted) and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "namesrv/namesrv.h"

typedef struct {
    uv_signal_t sigint, sigterm, sighup;
    rmq_ns_t *ns;
    bool stopping;
} app_t;

static void on_ns_done(void *arg) {
    app_t *app = arg;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
}

/* SIGHUP: logrotate rotated the log file; reopen it by name and keep serving. */
static void on_sighup(uv_signal_t *h, int signum) {
    if (rmq_log_reopen() != 0)
        RMQ_LOG_WARN("namesrv", "SIGHUP: cannot reopen the log file; still writing the old one");
    else
        RMQ_LOG_INFO("namesrv", "SIGHUP: log file reopened");
}

static void on_signal(uv_signal_t *h, int signum) {
    app_t *app = h->data;
    if (app->stopping) return;
    app->stopping = true;
    RMQ_LOG_INFO("namesrv", "%s received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    rmq_ns_shutdown(app->ns, on_ns_done, app);
}

int main(int argc, char **argv) {
    /* Log to stderr until the configuration says otherwise, so warnings about the config file
     * itself (unknown keys) are seen. */
    rmq_log_open(NULL, RMQ_LOG_LVL_INFO, true);
    rmq_ns_cfg_t cfg;
    if (rmq_kv_defaults(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg)) return 1;
    const char *home = getenv("ROCKETMQ_HOME");
    if (home && *home && !cfg.rocketmq_home) cfg.rocketmq_home = strdup(home);
    int rc =
        rmq_kv_main_args(argc, argv, "mqnamesrv", rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg, NULL);
    if (rc != 0) {
        rmq_kv_free(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg);
        return rc > 0 ? 0 : 1;
    }
    char terr[300];
    if (rmq_rem_tls_cfg_load_file(&cfg.tls, terr, sizeof terr)) {
        fprintf(stderr, "mqnamesrv: %s\n", terr);
        rmq_kv_free(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg);
        return 1;
    }
    /* rmq_ns_log_levels follows rmq_log_lvl_t from ERROR (0); "OFF" is index 4 */
    rmq_log_lvl_t lvl = cfg.log_level == 4 ? RMQ_LOG_LVL_OFF : (rmq_log_lvl_t)cfg.log_level;
    /* With logFile set, lines go to the file only (under systemd stderr is the journal too). */
    bool to_file = cfg.log_file && *cfg.log_file;
    if (rmq_log_open(to_file ? cfg.log_file : NULL, lvl, !to_file)) {
        fprintf(stderr, "mqnamesrv: cannot open logFile %s\n", cfg.log_file);
        rmq_kv_free(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg);
        return 1;
    }
    if (to_file)
        rmq_log_set_rotation((unsigned long long)cfg.log_file_max_size, cfg.log_file_max_count,
                             cfg.log_roll_daily);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* until the loop's handler is installed: never die of it */

    uv_loop_t loop;
    uv_loop_init(&loop);
    app_t app = {0};
    rmq_err_t e = rmq_ns_new(&loop, &cfg, &app.ns);
    if (!e && (e = rmq_ns_start(app.ns))) {
        rmq_ns_shutdown(app.ns, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (e) {
        RMQ_LOG_ERROR("namesrv", "NameServer start failed: %s", rmq_strerror(e));
        uv_loop_close(&loop);
        rmq_kv_free(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg);
        rmq_log_close();
        return 1;
    }
    uv_signal_init(&loop, &app.sigint);
    uv_signal_init(&loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_init(&loop, &app.sighup);
    app.sighup.data = &app;
    uv_signal_start(&app.sighup, on_sighup, SIGHUP);

    uv_run(&loop, UV_RUN_DEFAULT);
    int lrc = uv_loop_close(&loop);
    RMQ_LOG_INFO("namesrv", "The Name Server shutdown OK%s", lrc ? " (handles left open)" : "");
    rmq_kv_free(rmq_ns_cfg_defs, rmq_ns_cfg_ndefs, &cfg);
    rmq_log_close();
    return 0;
}
