/* store_bench: store microbenchmark (figures for the README, not a test).
 *
 * One run measures this machine's raw limits first, then the store beside them:
 *   raw:   memcpy into a mapped, pre-touched file (MB/s); memcpy out of it (read MB/s); crc32;
 *          pwrite + fdatasync and memcpy + msync in groups of 1, 8, 16, 64, 512 records
 *   store: rmq_store_put of --msg-size messages with 1 and 2 writer threads under ASYNC_FLUSH;
 *          SYNC_FLUSH with 1, 16 and 64 producers, each waiting for its done-callback;
 *          read back through rmq_store_get (ConsumeQueue), copying every message once;
 *          the background scrub: a pass at full speed, then appends beside a looping scrub
 * and prints msgs/s, MB/s and the ratio to the matching raw figure. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_int.h"

static int64_t g_seg = 1LL << 30;
static size_t g_msg = 1024;
static int64_t g_async_mb = 1024; /* data per async phase */
static double g_secs = 2.0;       /* per timed phase */
static char g_dir[512];

/* comma-separated list membership ("async" must not match "sync") */
static bool has_phase(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static bool g_warm = true;
static int g_read_loops = 2;
static bool g_prime = false;

static double now_s(void) {
    return (double)rmq_mono_us() / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}
static void rm_rf(const char *dir) {
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* On a VM, guest memory never touched before costs a host fault per page on first use, which
 * would be charged to whichever phase first needs fresh page-cache pages. Touch (and free)
 * enough anonymous memory up front so every phase starts from memory the guest already has. */
static void prime_memory(void) {
    size_t n = (size_t)(2 * g_async_mb + 64) << 20;
    n += (size_t)g_seg * 2;
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    munmap(p, n);
}

/* ---- raw limits ----------------------------------------------------------------------------- */

static double raw_copy_mbs, raw_read_mbs, raw_crc_mbs, raw_touch_mbs, raw_read_flushed_mbs;
static double raw_body_crc_mbs; /* the CRC the store computes */
static const int groups[] = {1, 8, 16, 64, 512};
#define NGROUPS 5
static double raw_fdatasync_rps[NGROUPS], raw_msync_rps[NGROUPS];

static void raw_mapped_copy(void) {
    char path[600];
    snprintf(path, sizeof(path), "%s/raw_map", g_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    size_t size = (size_t)g_seg;
    if (posix_fallocate(fd, 0, (off_t)size) != 0) die("posix_fallocate");
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) die("mmap");
    double tt = now_s();
    for (size_t i = 0; i < size; i += 4096) m[i] = 0; /* pre-touch */
    raw_touch_mbs = (double)size / (1 << 20) / (now_s() - tt);
    uint8_t *src = malloc(g_msg);
    memset(src, 'a', g_msg);
    size_t total = (size_t)g_async_mb << 20;
    if (total > size) total = size;
    double t0 = now_s();
    size_t done = 0;
    while (done < total) {
        size_t off = done % (size - g_msg);
        memcpy(m + off, src, g_msg);
        done += g_msg;
    }
    double t1 = now_s();
    raw_copy_mbs = (double)done / (1 << 20) / (t1 - t0);
    uint8_t *dst = malloc(g_msg);
    volatile uint8_t sink = 0;
    t0 = now_s();
    for (size_t off = 0; off + g_msg <= total; off += g_msg) {
        memcpy(dst, m + off, g_msg);
        sink ^= dst[g_msg / 2];
    }
    t1 = now_s();
    (void)sink;
    raw_read_mbs = (double)total / (1 << 20) / (t1 - t0);
    /* after write-back the kernel has write-protected/cleaned the PTEs: the first read of each
     * page faults again. A consumer reading flushed data meets this; measure it too. */
    msync(m, total, MS_SYNC);
    t0 = now_s();
    for (size_t off = 0; off + g_msg <= total; off += g_msg) {
        memcpy(dst, m + off, g_msg);
        sink ^= dst[g_msg / 2];
    }
    t1 = now_s();
    raw_read_flushed_mbs = (double)total / (1 << 20) / (t1 - t0);
    t0 = now_s();
    uint32_t c = 0;
    for (size_t off = 0; off + g_msg <= total / 4; off += g_msg) c ^= rmq_crc32(0, m + off, g_msg);
    t1 = now_s();
    raw_crc_mbs = (double)(total / 4) / (1 << 20) / (t1 - t0);
    t0 = now_s();
    for (size_t off = 0; off + g_msg <= total / 4; off += g_msg)
        c ^= rmq_msg_body_crc(m + off, g_msg);
    t1 = now_s();
    double fast_crc = (double)(total / 4) / (1 << 20) / (t1 - t0);
    raw_body_crc_mbs = fast_crc;
    if (c == 42) printf(" ");
    munmap(m, size);
    close(fd);
    unlink(path);
    free(src);
    free(dst);
    printf("raw   memcpy into mapped pre-touched file    %9.0f MB/s\n", raw_copy_mbs);
    printf("raw   memcpy out of the mapping (read)       %9.0f MB/s\n", raw_read_mbs);
    printf("raw   same, first read after msync           %9.0f MB/s\n", raw_read_flushed_mbs);
    printf("raw   first touch of a new mapped file       %9.0f MB/s  (page fault + zero fill: the "
           "cost of every fresh segment page)\n",
           raw_touch_mbs);
    printf("raw   crc32 (zlib)                           %9.0f MB/s\n", raw_crc_mbs);
    printf("raw   body CRC as the store computes it      %9.0f MB/s\n", fast_crc);
}

static void raw_group_commit(void) {
    char path[600];
    snprintf(path, sizeof(path), "%s/raw_sync", g_dir);
    size_t size = 256u << 20;
    uint8_t *rec = malloc(g_msg);
    memset(rec, 'b', g_msg);
    for (int gi = 0; gi < NGROUPS; gi++) {
        for (int mode = 0; mode < 2; mode++) {
            int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) die("open");
            if (posix_fallocate(fd, 0, (off_t)size) != 0) die("posix_fallocate");
            uint8_t *m = NULL;
            if (mode == 1) {
                m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (m == MAP_FAILED) die("mmap");
                for (size_t i = 0; i < size; i += 4096) m[i] = 0;
                msync(m, size, MS_SYNC);
            }
            fdatasync(fd);
            double t0 = now_s(), t1;
            size_t off = 0, recs = 0;
            do {
                size_t start = off;
                for (int k = 0; k < groups[gi]; k++) {
                    if (off + g_msg > size) off = start = 0;
                    if (mode == 0) {
                        if (pwrite(fd, rec, g_msg, (off_t)off) != (ssize_t)g_msg) die("pwrite");
                    } else {
                        memcpy(m + off, rec, g_msg);
                    }
                    off += g_msg;
                    recs++;
                }
                if (mode == 0) {
                    if (fdatasync(fd) != 0) die("fdatasync");
                } else {
                    size_t a = start & ~(size_t)4095;
                    if (msync(m + a, off - a, MS_SYNC) != 0) die("msync");
                }
                t1 = now_s();
            } while (t1 - t0 < g_secs / 2);
            double rps = (double)recs / (t1 - t0);
            if (mode == 0)
                raw_fdatasync_rps[gi] = rps;
            else
                raw_msync_rps[gi] = rps;
            if (m) munmap(m, size);
            close(fd);
            unlink(path);
        }
        printf("raw   group of %3d x %zu B: pwrite+fdatasync %9.0f rec/s   memcpy+msync %9.0f "
               "rec/s\n",
               groups[gi], g_msg, raw_fdatasync_rps[gi], raw_msync_rps[gi]);
    }
    free(rec);
}

/* ---- store ------------------------------------------------------------------------------------
 */

/* Wait until the allocate-ahead thread is idle: its zero-filling of the next segment competes
 * with whatever runs on the other core (here first touch is slow, see "raw first touch"). */
static void wait_alloc_idle(rmq_store_t *s) {
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&s->alloc_mu);
        bool idle = s->alloc_idle && (s->alloc_want < 0 || s->alloc_ready != NULL);
        pthread_mutex_unlock(&s->alloc_mu);
        if (idle) return;
        usleep(10000);
    }
}

static rmq_store_t *open_store(int flush, const char *sub) {
    rmq_store_cfg_t c;
    rmq_store_cfg_defaults(&c);
    free(c.store_path_root_dir);
    char root[700];
    snprintf(root, sizeof(root), "%s/%s", g_dir, sub);
    c.store_path_root_dir = strdup(root);
    c.mapped_file_size_commitlog = g_seg;
    c.flush_disk_type = flush;
    c.clean_resource_interval = 3600000;
    c.message_index_enable = true; /* UNIQ_KEY indexed, as a broker does */
    c.warm_mapped_file_enable = g_warm;
    rmq_store_t *s;
    if (rmq_store_open(&c, &s) != RMQ_OK || rmq_store_start(s) != RMQ_OK) {
        fprintf(stderr, "cannot open store at %s\n", root);
        exit(1);
    }
    rmq_store_cfg_free(&c);
    /* let the allocate-ahead thread prepare (and warm) the first segment */
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&s->alloc_mu);
        bool ready = s->alloc_ready != NULL && s->alloc_idle;
        pthread_mutex_unlock(&s->alloc_mu);
        if (ready) break;
        usleep(10000);
    }
    return s;
}

static rmq_store_msg_t bench_msg(const char *topic, int qid, const void *body) {
    rmq_store_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.queue_id = qid;
    m.body = body;
    m.body_len = g_msg;
    m.props = "TAGS\001TagA\002UNIQ_KEY\0010A0000010000000000000000000000";
    m.props_len = strlen(m.props);
    m.born_ts = rmq_now_ms();
    m.born_host.ip_len = 4;
    m.born_host.port = 1;
    m.store_host.ip_len = 4;
    m.store_host.port = 10911;
    return m;
}

typedef struct {
    rmq_store_t *s;
    int id;
    int64_t n;
    double stop_at;
    int64_t done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t acked;
} prod_t;

static void *async_writer(void *arg) {
    prod_t *p = arg;
    pthread_setname_np(pthread_self(), "bench-writer");
    uint8_t *body = malloc(g_msg);
    memset(body, 'm', g_msg);
    rmq_store_msg_t m = bench_msg("BenchAsync", p->id, body);
    for (int64_t i = 0; i < p->n; i++) {
        if (rmq_store_put(p->s, &m, NULL, NULL, NULL) != RMQ_OK) {
            fprintf(stderr, "put failed\n");
            exit(1);
        }
    }
    p->done = p->n;
    free(body);
    return NULL;
}

static double rec_bytes(void) {
    return (double)rmq_msg_rec_size(
        g_msg, strlen("BenchAsync"),
        strlen("TAGS\001TagA\002UNIQ_KEY\0010A0000010000000000000000000000"), false, false);
}

static void run_async(int writers, rmq_store_t *s) {
    prod_t p[2];
    pthread_t th[2];
    int64_t total = (g_async_mb << 20) / (int64_t)rec_bytes();
    double t0 = now_s();
    for (int i = 0; i < writers; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].s = s;
        p[i].id = i;
        p[i].n = total / writers;
        pthread_create(&th[i], NULL, async_writer, &p[i]);
    }
    int64_t n = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        n += p[i].done;
    }
    double t = now_s() - t0;
    double mbs = (double)n * rec_bytes() / (1 << 20) / t;
    printf("store ASYNC_FLUSH %d writer%s %10.0f msgs/s %7.0f MB/s  = %3.0f%% of raw mapped copy, "
           "%3.0f%% of raw first touch\n",
           writers, writers > 1 ? "s" : " ", (double)n / t, mbs, 100 * mbs / raw_copy_mbs,
           100 * mbs / raw_touch_mbs);
}

static void sync_cb(rmq_err_t err, const rmq_store_put_result_t *r, void *arg) {
    prod_t *p = arg;
    (void)r;
    if (err != RMQ_OK) {
        fprintf(stderr, "sync put: %s\n", rmq_strerror(err));
        exit(1);
    }
    pthread_mutex_lock(&p->mu);
    p->acked++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *sync_producer(void *arg) {
    prod_t *p = arg;
    uint8_t *body = malloc(g_msg);
    memset(body, 's', g_msg);
    rmq_store_msg_t m = bench_msg("BenchSync", p->id % 8, body);
    int64_t i = 0;
    while (now_s() < p->stop_at) {
        if (rmq_store_put(p->s, &m, NULL, sync_cb, p) != RMQ_OK) {
            fprintf(stderr, "put failed\n");
            exit(1);
        }
        i++;
        pthread_mutex_lock(&p->mu);
        while (p->acked < i) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    p->done = i;
    free(body);
    return NULL;
}

static void run_sync(int producers, rmq_store_t *s) {
    prod_t *p = calloc((size_t)producers, sizeof(*p));
    pthread_t *th = calloc((size_t)producers, sizeof(*th));
    uint64_t r0 = atomic_load(&s->gc_rounds), q0 = atomic_load(&s->gc_reqs);
    double t0 = now_s();
    for (int i = 0; i < producers; i++) {
        p[i].s = s;
        p[i].id = i;
        p[i].stop_at = t0 + g_secs;
        pthread_mutex_init(&p[i].mu, NULL);
        pthread_cond_init(&p[i].cv, NULL);
        pthread_create(&th[i], NULL, sync_producer, &p[i]);
    }
    int64_t n = 0;
    for (int i = 0; i < producers; i++) {
        pthread_join(th[i], NULL);
        n += p[i].done;
        pthread_mutex_destroy(&p[i].mu);
        pthread_cond_destroy(&p[i].cv);
    }
    double t = now_s() - t0;
    uint64_t rounds = atomic_load(&s->gc_rounds) - r0, reqs = atomic_load(&s->gc_reqs) - q0;
    double avg = rounds ? (double)reqs / (double)rounds : 0;
    /* compare with the raw sync rate at the group size the store actually formed, interpolated
     * (in log group size) between the measured raw group sizes; the faster raw method counts */
    double raw[NGROUPS];
    for (int k = 0; k < NGROUPS; k++) raw[k] = RMQ_MAX(raw_fdatasync_rps[k], raw_msync_rps[k]);
    double best_raw = raw[0];
    if (avg >= groups[NGROUPS - 1]) {
        best_raw = raw[NGROUPS - 1];
    } else if (avg > 1) {
        for (int k = 0; k + 1 < NGROUPS; k++) {
            if (avg >= groups[k] && avg <= groups[k + 1]) {
                double x = (log(avg) - log(groups[k])) / (log(groups[k + 1]) - log(groups[k]));
                best_raw = raw[k] + x * (raw[k + 1] - raw[k]);
                break;
            }
        }
    }
    double rps = (double)n / t;
    printf("store SYNC_FLUSH %2d producers %9.0f msgs/s %7.1f MB/s  avg group %5.1f  = %3.0f%% "
           "of raw sync at that group size (%.0f rec/s)\n",
           producers, rps, rps * rec_bytes() / (1 << 20), avg, 100 * rps / best_raw, best_raw);
    free(p);
    free(th);
}

static void run_read(rmq_store_t *s, int queues, int pass) {
    uint8_t *dst = malloc(1 << 20);
    volatile uint8_t sink = 0;
    int64_t n = 0, bytes = 0;
    rmq_store_wait_dispatched(s, 60000);
    rmq_store__flush_cl(s, 0); /* no write-back of the write phase running under the reads */
    wait_alloc_idle(s);
    double t0 = now_s();
    for (int q = 0; q < queues; q++) {
        int64_t off = 0, max = rmq_store_max_offset(s, "BenchAsync", q);
        while (off < max) {
            rmq_store_get_t *g;
            if (rmq_store_get(s, "BenchAsync", q, off, 32, 0, NULL, &g) != RMQ_OK) exit(1);
            if (g->status != RMQ_GET_FOUND) {
                fprintf(stderr, "read at %" PRId64 ": %s\n", off, rmq_get_status_name(g->status));
                exit(1);
            }
            size_t pos = 0;
            for (size_t i = 0; i < g->count; i++) {
                memcpy(dst + pos, g->iov[i].iov_base, g->iov[i].iov_len);
                pos += g->iov[i].iov_len;
            }
            sink ^= dst[0];
            n += (int64_t)g->count;
            bytes += (int64_t)g->total_bytes;
            off = g->next_begin_offset;
            rmq_store_get_release(g);
        }
    }
    double t = now_s() - t0;
    (void)sink;
    double mbs = (double)bytes / (1 << 20) / t;
    double ref = pass == 1 ? raw_read_flushed_mbs : raw_read_mbs;
    printf("store read via ConsumeQueue, pass %d %7.0f msgs/s %7.0f MB/s  = %3.0f%% of raw memcpy "
           "read%s\n",
           pass, (double)n / t, mbs, 100 * mbs / ref, pass == 1 ? " after msync" : "");
    free(dst);
}

/* The background scrub's cost: one pass over the sealed segments at full speed (its CPU cost
 * per MB), then 1-writer appends with a scrub looping beside them, at scrubRateMBps's default
 * and unlimited. */
typedef struct {
    rmq_store_t *s;
    int rate;
    _Atomic bool stop;
} scrub_arg_t;

static void *scrub_loop(void *arg) {
    scrub_arg_t *a = arg;
    while (!atomic_load(&a->stop)) {
        rmq_store__scrub_pass(a->s, a->rate);
        usleep(1000);
    }
    return NULL;
}

static void run_scrub(rmq_store_t *s) {
    rmq_store_wait_dispatched(s, 60000);
    rmq_store_stats_t a, b;
    rmq_store_get_stats(s, &a);
    double t0 = now_s();
    rmq_store__scrub_pass(s, 0);
    double t = now_s() - t0;
    rmq_store_get_stats(s, &b);
    double mb = (double)(b.scrubbed_bytes - a.scrubbed_bytes) / (1 << 20);
    double mbs = t > 0 ? mb / t : 0;
    printf("store scrub, sealed segments, full speed  %7.0f MB/s (%.0f MB)  = %3.0f%% of raw body "
           "CRC; at scrubRateMBps=%d: %4.1f%% of one core\n",
           mbs, mb, 100 * mbs / raw_body_crc_mbs, s->cfg.scrub_rate_mbps,
           mbs > 0 ? 100.0 * s->cfg.scrub_rate_mbps / mbs : 0);
    int rates[3] = {-1, s->cfg.scrub_rate_mbps, 0};
    for (int i = 0; i < 3; i++) {
        scrub_arg_t sa = {.s = s, .rate = rates[i]};
        pthread_t th;
        if (rates[i] >= 0) pthread_create(&th, NULL, scrub_loop, &sa);
        printf("  %s: ", rates[i] < 0   ? "no scrub (same store)     "
                         : rates[i] > 0 ? "scrub at the default rate "
                                        : "scrub looping, full speed ");
        run_async(1, s);
        atomic_store(&sa.stop, true);
        if (rates[i] >= 0) pthread_join(th, NULL);
    }
}

static void usage(void) {
    printf("usage: store_bench [--dir DIR] [--segment-size BYTES] [--msg-size BYTES]\n"
           "                   [--async-mb MB] [--seconds S] [--raw-only]\n"
           "  --dir           scratch directory (default: a new one under /tmp, removed after)\n"
           "  --segment-size  CommitLog segment size (default 1073741824)\n"
           "  --msg-size      message body size (default 1024)\n"
           "  --async-mb      data written per ASYNC_FLUSH phase (default 1024)\n"
           "  --seconds       duration of each timed phase (default 2)\n"
           "  --phases        any of async,read,scrub,sync (default all; raw limits always run)\n"
           "  --no-warm       do not pre-touch new segments (warmMapedFileEnable=false)\n"
           "  --prime         touch and free anonymous memory first (VMs that fault guest memory\n"
           "                  in lazily)\n"
           "  --read-loops N  read the data back N times (default 2)\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'},        {"segment-size", 1, 0, 's'}, {"msg-size", 1, 0, 'm'},
        {"async-mb", 1, 0, 'a'},   {"seconds", 1, 0, 't'},      {"raw-only", 0, 0, 'r'},
        {"help", 0, 0, 'h'},       {"phases", 1, 0, 'p'},       {"no-warm", 0, 0, 'W'},
        {"read-loops", 1, 0, 'L'}, {"prime", 0, 0, 'P'},        {0, 0, 0, 0}};
    const char *phases = "async,read,scrub,sync";
    bool raw_only = false, own_dir = true;
    int c;
    while ((c = getopt_long(argc, argv, "d:s:m:a:t:rp:WL:Ph", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(g_dir, sizeof(g_dir), "%s/store_bench_%d", optarg, (int)getpid());
            own_dir = true;
            break;
        case 's': g_seg = strtoll(optarg, NULL, 10); break;
        case 'm': g_msg = (size_t)strtoul(optarg, NULL, 10); break;
        case 'a': g_async_mb = strtoll(optarg, NULL, 10); break;
        case 't': g_secs = strtod(optarg, NULL); break;
        case 'r': raw_only = true; break;
        case 'p': phases = optarg; break;
        case 'W': g_warm = false; break;
        case 'L': g_read_loops = atoi(optarg); break;
        case 'P': g_prime = true; break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (g_seg < (1 << 20) || g_msg < 1 || g_msg > 4 << 20 || g_async_mb < 1) {
        usage();
        return 2;
    }
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof(g_dir), "/tmp/store_bench_XXXXXX");
        if (!mkdtemp(g_dir)) die("mkdtemp");
    } else if (mkdir(g_dir, 0755) != 0) {
        die("mkdir");
    }
    rmq_log_set_level(RMQ_LOG_LVL_WARN);
    printf("store_bench: dir %s, segment %" PRId64 " B, message body %zu B (record %.0f B), "
           "%" PRId64 " MB per async phase, %.1f s per timed phase, %ld CPUs\n",
           g_dir, g_seg, g_msg, rec_bytes(), g_async_mb, g_secs, sysconf(_SC_NPROCESSORS_ONLN));
    if (g_prime) prime_memory();
    raw_mapped_copy();
    if (raw_only || has_phase(phases, "sync")) raw_group_commit();
    if (!raw_only) {
        char sub[32];
        for (int w = 1; w <= 2 && has_phase(phases, "async"); w++) {
            snprintf(sub, sizeof(sub), "async%d", w);
            rmq_store_t *s = open_store(RMQ_FLUSH_ASYNC, sub);
            run_async(w, s);
            if (w == 2 && has_phase(phases, "read"))
                for (int k = 0; k < g_read_loops; k++) run_read(s, 2, k + 1);
            if (w == 2 && has_phase(phases, "scrub")) run_scrub(s);
            rmq_store_close(s);
            char p[700];
            snprintf(p, sizeof(p), "%s/%s", g_dir, sub);
            rm_rf(p);
        }
        if (has_phase(phases, "sync")) {
            rmq_store_t *s = open_store(RMQ_FLUSH_SYNC, "sync");
            run_sync(1, s);
            run_sync(16, s);
            run_sync(64, s);
            rmq_store_close(s);
        }
    }
    if (own_dir) rm_rf(g_dir);
    return 0;
}
