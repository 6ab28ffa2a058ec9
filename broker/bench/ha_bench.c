/* ha_bench: replication catch-up over loopback (a figure for the README, not a test).
 *
 *   ha_bench [--mb 1024] [--seg-mb 64] [--msg-size 4096] [--dir /tmp] [--slave-warm 1]
 *
 * Fills a master store with --mb of messages (64 MiB segments by default), starts the HA
 * master, then an empty slave store with haNewSlaveFromMinOffset so it copies the whole
 * backlog, and times the slave from connect until its max offset equals the master's: MB/s of
 * CommitLog replicated (frames of haTransferBatchSize 32 KiB, ASYNC_FLUSH on both sides). The
 * raw memcpy rate into a fresh mapping is printed beside it for scale. */
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "broker/ha.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int g_slave_warm = 1;

static rmq_store_t *open_store(const char *dir, int64_t seg, bool warm) {
    rmq_store_cfg_t c;
    rmq_store_cfg_defaults(&c);
    free(c.store_path_root_dir);
    c.store_path_root_dir = strdup(dir);
    c.mapped_file_size_commitlog = seg;
    c.clean_resource_interval = 3600000;
    c.warm_mapped_file_enable = warm;
    rmq_store_t *s = NULL;
    if (rmq_store_open(&c, &s) != RMQ_OK || rmq_store_start(s) != RMQ_OK) {
        fprintf(stderr, "cannot open the store in %s\n", dir);
        exit(1);
    }
    rmq_store_cfg_free(&c);
    return s;
}

static double raw_memcpy_mbs(size_t n) {
    uint8_t *src = malloc(n);
    uint8_t *dst = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(src, 7, n);
    uint64_t t0 = rmq_mono_us();
    memcpy(dst, src, n);
    double s = (double)(rmq_mono_us() - t0) / 1e6;
    munmap(dst, n);
    free(src);
    return (double)n / 1048576.0 / s;
}

int main(int argc, char **argv) {
    int64_t mb = 1024, seg_mb = 64;
    size_t msg = 4096;
    const char *base = "/tmp";
    static const struct option opts[] = {{"mb", 1, NULL, 'm'},         {"seg-mb", 1, NULL, 's'},
                                         {"msg-size", 1, NULL, 'z'},   {"dir", 1, NULL, 'd'},
                                         {"slave-warm", 1, NULL, 'w'}, {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'm')
            mb = atoll(optarg);
        else if (c == 's')
            seg_mb = atoll(optarg);
        else if (c == 'z')
            msg = (size_t)atoll(optarg);
        else if (c == 'd')
            base = optarg;
        else if (c == 'w')
            g_slave_warm = atoi(optarg);
        else {
            fprintf(stderr, "usage: ha_bench [--mb N] [--seg-mb N] [--msg-size N] [--dir D] "
                            "[--slave-warm 0|1]\n");
            return 2;
        }
    }
    rmq_log_open(NULL, RMQ_LOG_LVL_WARN, true);
    char mdir[512], sdir[512];
    snprintf(mdir, sizeof(mdir), "%s/rmq_ha_bench_m_XXXXXX", base);
    snprintf(sdir, sizeof(sdir), "%s/rmq_ha_bench_s_XXXXXX", base);
    if (!mkdtemp(mdir) || !mkdtemp(sdir)) {
        perror("mkdtemp");
        return 1;
    }
    int64_t seg = seg_mb << 20;
    rmq_store_t *m = open_store(mdir, seg, true);
    char *body = malloc(msg);
    memset(body, 'x', msg);
    rmq_store_msg_t sm;
    memset(&sm, 0, sizeof(sm));
    sm.topic = "HaBench";
    sm.topic_len = 7;
    sm.body = body;
    sm.body_len = msg;
    sm.born_host.ip_len = sm.store_host.ip_len = 4;
    uint64_t t0 = rmq_mono_us();
    while (rmq_store_commitlog_max_offset(m) < (mb << 20)) {
        sm.queue_id = (int32_t)(rmq_store_commitlog_max_offset(m) / 4096 % 8);
        sm.born_ts = rmq_now_ms();
        if (rmq_store_put(m, &sm, NULL, NULL, NULL) != RMQ_OK) {
            fprintf(stderr, "put failed\n");
            return 1;
        }
    }
    double fill_s = (double)(rmq_mono_us() - t0) / 1e6;
    rmq_store_wait_dispatched(m, 60000);
    int64_t total = rmq_store_commitlog_max_offset(m);
    /* a backlog is old data: let the master's flush finish first, so it does not compete */
    for (int i = 0; i < 600; i++) {
        rmq_store_stats_t st;
        rmq_store_get_stats(m, &st);
        if (st.flushed_offset >= total) break;
        usleep(50000);
    }

    rmq_ha_cfg_t hc;
    rmq_ha_cfg_defaults(&hc);
    free(hc.ha_listen_host);
    hc.ha_listen_host = strdup("127.0.0.1");
    hc.ha_listen_port = 0;
    hc.ha_new_slave_from_min_offset = true;
    rmq_ha_t *hm, *hs;
    if (rmq_ha_start(&hc, m, RMQ_HA_MASTER, NULL, NULL, &hm) != RMQ_OK) return 1;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", rmq_ha_port(hm));
    free(hc.ha_master_address);
    hc.ha_master_address = strdup(addr);
    rmq_store_t *s = open_store(sdir, seg, g_slave_warm);
    t0 = rmq_mono_us();
    if (rmq_ha_start(&hc, s, RMQ_HA_SLAVE, NULL, NULL, &hs) != RMQ_OK) return 1;
    while (rmq_store_cl_repl_offset(s) < total) usleep(1000);
    double secs = (double)(rmq_mono_us() - t0) / 1e6;
    printf("backlog %.0f MB (%zu-byte messages, %" PRId64 " MB segments) filled in %.2f s\n",
           (double)total / 1048576.0, msg, seg_mb, fill_s);
    printf("catch-up: %.0f MB in %.2f s = %.0f MB/s (raw memcpy into fresh pages %.0f MB/s)\n",
           (double)total / 1048576.0, secs, (double)total / 1048576.0 / secs,
           raw_memcpy_mbs(64 << 20));
    rmq_ha_shutdown(hs);
    rmq_ha_shutdown(hm);
    rmq_store_close(s);
    rmq_store_close(m);
    rmq_ha_cfg_free(&hc);
    free(body);
    nftw(mdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(sdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
