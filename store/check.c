/* Offline store check (check.h): verify a store directory, changing nothing, and report what a
 * start-up would keep and skip (the recovery rule atop store/commitlog.c): per CommitLog
 * segment its size, valid records and damaged ranges (resynchronised on the next record that
 * validates), the torn tail; ranges already quarantined (<root>/quarantine); per ConsumeQueue the
 * entries that point nowhere valid or into damage, and valid records without an entry; index
 * files and index entries that point nowhere valid. Shared by store_check and mqbroker --check. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/util.h"
#include "store/check.h"

typedef struct {
    int64_t phys;
    int32_t size;
    int32_t qid;
    int64_t qoff;
    uint32_t topic_hash;
    bool in_cq;
} rec_t;

/* One check's state. */
typedef struct {
    int64_t seg, cq, max_rec; /* CommitLog segment, ConsumeQueue file, largest record */
    const char *cl_dir;       /* CommitLog directory */
    FILE *out;
    int damage;
    rec_t *recs; /* valid records by physical offset */
    size_t nrec, caprec;
} chk_t;

static void damage(chk_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void damage(chk_t *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(k->out, "DAMAGE ");
    vfprintf(k->out, fmt, ap);
    fprintf(k->out, "\n");
    va_end(ap);
    k->damage = 1;
}

static uint32_t fnv(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir; filter: only digits when digits. */
static char **list_dir(const char *dir, bool digits, size_t *n) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (digits && strspn(de->d_name, "0123456789") != strlen(de->d_name)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = realloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (*n) qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Read-only view of a file padded (in memory) to size bytes. */
static uint8_t *map_file(const char *path, int64_t size, int64_t *actual) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    *actual = st.st_size;
    uint8_t *p = calloc(1, (size_t)size + 8);
    int64_t want = st.st_size < size ? st.st_size : size, got = 0;
    while (p && got < want) {
        ssize_t r = pread(fd, p + got, (size_t)(want - got), got);
        if (r <= 0) break;
        got += r;
    }
    close(fd);
    return p;
}

static bool valid_at(const chk_t *k, const uint8_t *b, int64_t seg_start, int64_t off,
                     rmq_msg_rec_t *r) {
    if (off + 99 > k->seg) return false;
    int64_t L = (int32_t)rmq_get_be32(b + off);
    if (L < 91 || L > k->max_rec || off + L + 8 > k->seg) return false;
    return rmq_msg_rec_decode(b + off, (size_t)L, true, r) == L &&
           r->phys_offset == seg_start + off;
}

static void add_rec(chk_t *k, int64_t phys, const rmq_msg_rec_t *r) {
    if (k->nrec == k->caprec) {
        k->caprec = k->caprec ? k->caprec * 2 : 4096;
        k->recs = realloc(k->recs, k->caprec * sizeof(*k->recs));
    }
    int t = r->sysflag & RMQ_SYSFLAG_TXN_MASK;
    k->recs[k->nrec++] =
        (rec_t){phys,
                r->total_size,
                r->queue_id,
                t == RMQ_SYSFLAG_TXN_NOT || t == RMQ_SYSFLAG_TXN_COMMIT ? r->queue_offset : -1,
                fnv(r->topic, (size_t)r->topic_len),
                false};
}

static rec_t *find_rec(chk_t *k, int64_t phys) {
    size_t lo = 0, hi = k->nrec;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (k->recs[m].phys < phys)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < k->nrec && k->recs[lo].phys == phys ? &k->recs[lo] : NULL;
}

/* Walk the CommitLog; returns its end (physical), -1 on error. */
static int64_t check_commitlog(chk_t *k, int64_t *cl_min) {
    const char *dir = k->cl_dir;
    size_t n;
    char **names = list_dir(dir, true, &n);
    *cl_min = n ? strtoll(names[0], NULL, 10) : 0;
    int64_t end = *cl_min;
    bool ended = false;
    for (size_t i = 0; i < n; i++) {
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int64_t start = strtoll(names[i], NULL, 10), actual = 0;
        uint8_t *b = map_file(path, k->seg, &actual);
        if (!b) {
            fprintf(k->out, "ERROR cannot read %s: %s\n", path, strerror(errno));
            free_list(names, n);
            return -1;
        }
        if (actual != k->seg)
            damage(k, "%s is %" PRId64 " bytes, expected %" PRId64 ": would be %s", path, actual,
                   k->seg,
                   actual < k->seg ? "padded (original kept as .short-N)"
                                   : "truncated (excess kept as .excess-N)");
        if (i && start != strtoll(names[i - 1], NULL, 10) + k->seg)
            damage(k, "%s does not follow the previous segment: the log would end before it", path);
        if (ended) {
            fprintf(k->out, "segment %s: after the end, would be deleted\n", names[i]);
            free(b);
            continue;
        }
        uint64_t kept = 0, ranges = 0, bytes = 0;
        int64_t off = 0;
        for (;;) {
            rmq_msg_rec_t r;
            int64_t rc = rmq_msg_rec_decode(b + off, (size_t)(k->seg - off), true, &r);
            if (rc > 0 && r.phys_offset == start + off) {
                add_rec(k, start + off, &r);
                off += rc;
                kept++;
                continue;
            }
            if (rc == 0 && r.total_size == k->seg - off) {
                off = k->seg;
                break;
            }
            /* damage or the end: the next record that validates, in this segment only here
             * (a later segment starting with a valid record also resumes the log) */
            int64_t next = -1;
            for (int64_t p = off + 1; p + 99 <= k->seg; p++) {
                const uint8_t *m = memchr(b + p + 4, 0xDA, (size_t)(k->seg - p - 4));
                if (!m) break;
                p = (m - b) - 4;
                if (valid_at(k, b, start, p, &r)) {
                    next = p;
                    break;
                }
            }
            bool later = false;
            if (next < 0 && i + 1 < n) { /* does the next segment start valid? */
                char np[8400];
                snprintf(np, sizeof np, "%s/%s", dir, names[i + 1]);
                int64_t a2;
                uint8_t *b2 = map_file(np, k->seg, &a2);
                later = b2 && valid_at(k, b2, strtoll(names[i + 1], NULL, 10), 0, &r);
                free(b2);
            }
            bool zeros = true;
            for (int64_t z = off; z < k->seg && z < off + 4096 && zeros; z++) zeros = b[z] == 0;
            if (next >= 0 || later) {
                int64_t to = next >= 0 ? start + next : start + k->seg;
                damage(k,
                       "CommitLog [%" PRId64 ", %" PRId64 ") (%" PRId64
                       " bytes) invalid: would be quarantined, the records after it kept",
                       start + off, to, to - start - off);
                ranges++;
                bytes += (uint64_t)(to - start - off);
                if (next < 0) {
                    off = k->seg;
                    break;
                }
                off = next;
                continue;
            }
            if (!zeros)
                damage(k,
                       "CommitLog ends at %" PRId64 " in %s: torn tail, the bytes after it would "
                       "be discarded",
                       start + off, names[i]);
            ended = true;
            break;
        }
        end = start + off;
        fprintf(k->out,
                "segment %s: %" PRIu64 " valid records kept, %" PRIu64
                " damaged range(s) of %" PRIu64 " bytes%s\n",
                names[i], kept, ranges, bytes, ended ? ", the log ends here" : "");
        free(b);
    }
    free_list(names, n);
    fprintf(k->out, "CommitLog: [%" PRId64 ", %" PRId64 "), %zu valid records\n", *cl_min, end,
            k->nrec);
    return end;
}

static void check_cqs(chk_t *k, const char *root, int64_t cl_min, int64_t cl_end) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/consumequeue", root);
    size_t nt;
    char **topics = list_dir(dir, false, &nt);
    if (!topics && k->nrec) {
        damage(k, "%s missing: every ConsumeQueue would be rebuilt from the CommitLog", dir);
        return;
    }
    for (size_t t = 0; t < nt; t++) {
        char tdir[8400];
        snprintf(tdir, sizeof tdir, "%s/%s", dir, topics[t]);
        size_t nq;
        char **qids = list_dir(tdir, true, &nq);
        uint32_t th = fnv(topics[t], strlen(topics[t]));
        for (size_t q = 0; q < nq; q++) {
            char qdir[12800];
            snprintf(qdir, sizeof qdir, "%s/%s", tdir, qids[q]);
            int32_t qid = atoi(qids[q]);
            size_t nf;
            char **files = list_dir(qdir, true, &nf);
            uint64_t good = 0, bad = 0, beyond = 0;
            for (size_t f = 0; f < nf; f++) {
                char path[16400];
                snprintf(path, sizeof path, "%s/%s", qdir, files[f]);
                int64_t actual;
                uint8_t *b = map_file(path, k->cq, &actual);
                if (!b) continue;
                if (actual != k->cq)
                    damage(k,
                           "%s is %" PRId64 " bytes, expected %" PRId64
                           ": would be resized and the queue rebuilt",
                           path, actual, k->cq);
                int64_t base = strtoll(files[f], NULL, 10) / 20;
                for (int64_t e = 0; e + 20 <= k->cq; e += 20) {
                    int64_t phys = (int64_t)rmq_get_be64(b + e);
                    int32_t size = (int32_t)rmq_get_be32(b + e + 8);
                    if (size == 0 && phys == 0) break; /* end of the queue */
                    if (size == 0x7FFFFFFF) continue;  /* blank entry */
                    if (phys < cl_min) continue;       /* deleted by retention */
                    if (phys >= cl_end) {
                        beyond++;
                        continue;
                    }
                    rec_t *r = find_rec(k, phys);
                    if (r && r->size == size && r->qid == qid && r->topic_hash == th &&
                        r->qoff == base + e / 20) {
                        r->in_cq = true;
                        good++;
                    } else {
                        bad++;
                    }
                }
                free(b);
            }
            uint64_t missing = 0;
            for (size_t i = 0; i < k->nrec; i++)
                if (!k->recs[i].in_cq && k->recs[i].qoff >= 0 && k->recs[i].qid == qid &&
                    k->recs[i].topic_hash == th)
                    missing++;
            if (bad)
                damage(k,
                       "ConsumeQueue %s/%s: %" PRIu64 " entries point to no valid record "
                       "(would not be served)",
                       topics[t], qids[q], bad);
            if (beyond)
                damage(k,
                       "ConsumeQueue %s/%s: %" PRIu64 " entries past the CommitLog end "
                       "(would be truncated)",
                       topics[t], qids[q], beyond);
            if (missing)
                damage(k,
                       "ConsumeQueue %s/%s: %" PRIu64 " valid records have no entry "
                       "(rebuilt only by a start after a crash or with the queue deleted)",
                       topics[t], qids[q], missing);
            fprintf(k->out, "ConsumeQueue %s/%s: %zu file(s), %" PRIu64 " entries valid\n",
                    topics[t], qids[q], nf, good);
            free_list(files, nf);
        }
        free_list(qids, nq);
    }
    free_list(topics, nt);
}

static void check_index(chk_t *k, const char *root, int64_t cl_min, int64_t cl_end) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/index", root);
    size_t n;
    char **names = list_dir(dir, true, &n);
    for (size_t i = 0; i < n; i++) {
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size < 40) {
            damage(k, "index file %s unreadable or short: would be rebuilt", path);
            continue;
        }
        int64_t actual;
        uint8_t *h = map_file(path, 40, &actual);
        int32_t count = (int32_t)rmq_get_be32(h + 36);
        int64_t bphy = (int64_t)rmq_get_be64(h + 16), ephy = (int64_t)rmq_get_be64(h + 24);
        free(h);
        fprintf(k->out,
                "index %s: %" PRId64 " bytes, %d entries, CommitLog [%" PRId64 ", %" PRId64 "]\n",
                names[i], actual, count > 0 ? count - 1 : 0, bphy, ephy);
        if (ephy > cl_end)
            damage(k, "index %s points past the CommitLog end (%" PRId64 " > %" PRId64 ")",
                   names[i], ephy, cl_end);
        (void)cl_min;
    }
    free_list(names, n);
}

static void check_quarantine(chk_t *k, const char *root) {
    char path[4200];
    snprintf(path, sizeof path, "%s/quarantine", root);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        long long a, b;
        if (line[0] != '#' && sscanf(line, "%lld %lld", &a, &b) == 2)
            fprintf(k->out, "quarantined (known) [%lld, %lld): never served\n", a, b);
    }
    fclose(f);
}

int rmq_store_check(const rmq_store_check_cfg_t *cfg, FILE *out) {
    chk_t k = {.seg = cfg->commitlog_size > 0 ? cfg->commitlog_size : 1073741824,
               .cq = cfg->cq_size > 0 ? (cfg->cq_size + 19) / 20 * 20 : 6000000,
               .max_rec =
                   (cfg->max_message_size > 0 ? cfg->max_message_size : 4194304) + 65536 + 256,
               .out = out};
    const char *root = cfg->root;
    char cl_dir[4200];
    if (cfg->commitlog_dir && *cfg->commitlog_dir)
        rmq_strlcpy(cl_dir, cfg->commitlog_dir, sizeof cl_dir);
    else
        snprintf(cl_dir, sizeof cl_dir, "%s/commitlog", root);
    k.cl_dir = cl_dir;
    if (k.seg < 4096) {
        fprintf(out, "ERROR CommitLog segment size %" PRId64 " below 4096\n", k.seg);
        return 2;
    }
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(out, "ERROR %s is not a directory\n", root);
        return 2;
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/abort", root);
    fprintf(out, "store %s: last stop %s\n", root,
            access(p, F_OK) == 0 ? "unclean (abort file)" : "clean");
    snprintf(p, sizeof p, "%s/checkpoint", root);
    if (access(p, F_OK) != 0) fprintf(out, "no checkpoint file: a start treats it as all zeros\n");
    int64_t cl_min;
    int64_t end = check_commitlog(&k, &cl_min);
    if (end < 0) {
        free(k.recs);
        return 2;
    }
    check_quarantine(&k, root);
    check_cqs(&k, root, cl_min, end);
    check_index(&k, root, cl_min, end);
    snprintf(p, sizeof p, "%s/indexPending", root);
    FILE *ip = fopen(p, "r");
    if (ip) {
        char line[64] = "";
        if (fgets(line, sizeof line, ip))
            fprintf(out,
                    "index: the keys of the records from %.*s wait to be indexed (the next start "
                    "indexes them)\n",
                    (int)strcspn(line, "\n"), line);
        fclose(ip);
    }
    fprintf(out, "%s\n",
            k.damage ? "damage found: a start would keep and skip as listed above"
                     : "clean: every record valid");
    free(k.recs);
    return k.damage ? 1 : 0;
}
