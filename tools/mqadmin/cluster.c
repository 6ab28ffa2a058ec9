/* mqadmin cluster and broker commands: clusterList, brokerStatus.
 *
 * Replication (issue 9): brokerStatus prints every runtime-info key, so the broker's HA keys
 * (haSlaveMaxOffset, slaveNAckOffset, slaveNFallBehindBytes/Ms, ...) appear as they are.
 * clusterList keeps 4.9.8's two layouts untouched (scripts parse them) and adds a third, -r:
 * one row per slave with its master's offset, its own and how far behind it is in bytes and
 * in time; --json rows of slaves carry the same four figures. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"
#include "tools/msgrec.h"

/* ---- cluster / broker -------------------------------------------------------------------- */

static json_t *runtime_info(ctx_t *c, const char *addr, rmq_err_t *e) {
    json_t *kv = adm_broker_call(c, addr, RMQ_REQ_GET_BROKER_RUNTIME_INFO, NULL, NULL,
                                 "broker runtime info", e);
    json_t *t = json_incref(json_object_get(kv, "table"));
    json_decref(kv);
    return t;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double first_num(const char *s) {
    return s && *s ? strtod(s, NULL) : 0;
}

static const char *tab_get(void *tab, const char *k) {
    return json_string_value(json_object_get((json_t *)tab, k));
}

/* -1 (unknown) as "-", else the number. */
static const char *num_or_dash(int64_t v, char *buf, size_t n) {
    if (v < 0) return "-";
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

/* One row per broker address (clusters, broker names and ids in Java's order) with the figures
 * of every clusterList layout; slaves carry slaveOffset, masterOffset, behindBytes, behindMs.
 * NULL after an error. */
json_t *adm_cluster_rows(ctx_t *c) {
    json_t *ci = adm_cluster_info(c);
    if (!ci) return NULL;
    json_t *cat = json_object_get(ci, "clusterAddrTable");
    json_t *bat = json_object_get(ci, "brokerAddrTable");
    /* sorted cluster names, as Java's TreeSet */
    size_t ncl;
    const char **cls = adm_sorted_keys(cat, &ncl);
    const char *key;
    json_t *v;
    json_t *rows = json_array();
    for (size_t ic = 0; ic < ncl; ic++) {
        json_t *names = json_object_get(cat, cls[ic]);
        size_t nb = json_array_size(names);
        const char **bns = calloc(nb + 1, sizeof *bns);
        for (size_t i = 0; i < nb; i++) bns[i] = json_string_value(json_array_get(names, i));
        qsort(bns, nb, sizeof *bns, adm_str_cmp);
        for (size_t ib = 0; ib < nb; ib++) {
            if (!bns[ib]) continue;
            json_t *ads = json_object_get(json_object_get(bat, bns[ib]), "brokerAddrs");
            /* ids in numeric order */
            long ids[64];
            size_t nid = 0;
            json_object_foreach(ads, key, v) if (nid < 64) ids[nid++] = strtol(key, NULL, 10);
            for (size_t x = 1; x < nid; x++)
                for (size_t y = x; y > 0 && ids[y - 1] > ids[y]; y--) {
                    long t = ids[y];
                    ids[y] = ids[y - 1];
                    ids[y - 1] = t;
                }
            json_t *mt = NULL; /* the master's table (id 0 comes first), for its slaves */
            for (size_t x = 0; x < nid; x++) {
                char idk[24];
                snprintf(idk, sizeof idk, "%ld", ids[x]);
                const char *addr = json_string_value(json_object_get(ads, idk));
                if (!addr) continue;
                rmq_err_t e;
                json_t *t = runtime_info(c, addr, &e);
                if (!t) t = json_object(); /* unreachable broker: empty cells, like Java */
                double in = first_num(adm_jstr(t, "putTps")),
                       out = first_num(adm_jstr(t, "getTransferedTps"));
                int64_t earliest = adm_jint(t, "earliestMessageTimeStamp");
                /* an empty store answers -1: print 0, not the hours since 1970 (Java's quirk) */
                double hour = *adm_jstr(t, "earliestMessageTimeStamp") && earliest > 0
                                  ? (double)(wall_ms() - earliest) / 1000.0 / 3600.0
                                  : 0;
                double space = adm_jreal(t, "commitLogDiskRatio");
                int64_t iy = adm_jint(t, "msgPutTotalTodayMorning") -
                             adm_jint(t, "msgPutTotalYesterdayMorning");
                int64_t oy = adm_jint(t, "msgGetTotalTodayMorning") -
                             adm_jint(t, "msgGetTotalYesterdayMorning");
                int64_t it =
                    adm_jint(t, "msgPutTotalTodayNow") - adm_jint(t, "msgPutTotalTodayMorning");
                int64_t ot =
                    adm_jint(t, "msgGetTotalTodayNow") - adm_jint(t, "msgGetTotalTodayMorning");
                json_t *row = json_pack(
                    "{s:s,s:s,s:i,s:s,s:s,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:I}",
                    "clusterName", cls[ic], "brokerName", bns[ib], "brokerId", (int)ids[x], "addr",
                    addr, "version", adm_jstr(t, "brokerVersionDesc"), "inTps", in, "outTps", out,
                    "sendThreadPoolQueueSize", adm_jstr(t, "sendThreadPoolQueueSize"),
                    "sendThreadPoolQueueHeadWaitTimeMills",
                    adm_jstr(t, "sendThreadPoolQueueHeadWaitTimeMills"), "pullThreadPoolQueueSize",
                    adm_jstr(t, "pullThreadPoolQueueSize"), "pullThreadPoolQueueHeadWaitTimeMills",
                    adm_jstr(t, "pullThreadPoolQueueHeadWaitTimeMills"), "pageCacheLockTimeMills",
                    adm_jstr(t, "pageCacheLockTimeMills"), "hour", hour, "commitLogDiskRatio",
                    space, "inTotalYest", (json_int_t)iy, "outTotalYest", (json_int_t)oy,
                    "inTotalToday", (json_int_t)it, "outTotalToday", (json_int_t)ot);
                if (ids[x] == 0) {
                    json_decref(mt);
                    mt = json_incref(t);
                } else {
                    rmq_tool_repl_t rp = {-1, -1, -1, -1};
                    rmq_tool_slave_repl(tab_get, t, mt, addr, &rp);
                    json_object_set_new(row, "slaveOffset", json_integer(rp.slave_offset));
                    json_object_set_new(row, "masterOffset", json_integer(rp.master_offset));
                    json_object_set_new(row, "behindBytes", json_integer(rp.behind_bytes));
                    json_object_set_new(row, "behindMs", json_integer(rp.behind_ms));
                }
                json_array_append_new(rows, row);
                json_decref(t);
            }
            json_decref(mt);
        }
        free(bns);
    }
    free(cls);
    json_decref(ci);
    return rows;
}

/* more: the -m layout; repl: the -r layout (one row per slave: how far it is behind). */
static int cluster_once(ctx_t *c, bool more, bool repl) {
    json_t *rows = adm_cluster_rows(c);
    if (!rows) return 1;
    if (c->json) {
        adm_print_json(rows);
        json_decref(rows);
        return 0;
    }
    if (repl)
        printf("%-16s  %-22s  %-4s  %-22s %18s %18s %16s %12s\n", "#Cluster Name", "#Broker Name",
               "#BID", "#Addr", "#Master Offset", "#Slave Offset", "#Behind(Bytes)", "#Behind(ms)");
    else if (more)
        printf("%-16s  %-32s %14s %14s %14s %14s\n", "#Cluster Name", "#Broker Name",
               "#InTotalYest", "#OutTotalYest", "#InTotalToday", "#OutTotalToday");
    else
        printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", "#Cluster Name",
               "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)",
               "#PCWait(ms)", "#Hour", "#SPACE");
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *cl = adm_jstr(r, "clusterName"), *bn = adm_jstr(r, "brokerName"),
                   *addr = adm_jstr(r, "addr");
        int64_t id = adm_jint(r, "brokerId");
        char bid[24];
        snprintf(bid, sizeof bid, "%lld", (long long)id);
        if (repl) {
            char m[24], so[24], bb[24], bm[24];
            if (id != 0)
                printf("%-16s  %-22s  %-4s  %-22s %18s %18s %16s %12s\n", cl, bn, bid, addr,
                       num_or_dash(adm_jint(r, "masterOffset"), m, sizeof m),
                       num_or_dash(adm_jint(r, "slaveOffset"), so, sizeof so),
                       num_or_dash(adm_jint(r, "behindBytes"), bb, sizeof bb),
                       num_or_dash(adm_jint(r, "behindMs"), bm, sizeof bm));
        } else if (more) {
            printf("%-16s  %-32s %14lld %14lld %14lld %14lld\n", cl, bn,
                   (long long)adm_jint(r, "inTotalYest"), (long long)adm_jint(r, "outTotalYest"),
                   (long long)adm_jint(r, "inTotalToday"), (long long)adm_jint(r, "outTotalToday"));
        } else {
            char ins[64], outs[64], hs[32], sp[32];
            snprintf(ins, sizeof ins, "%9.2f(%s,%sms)", adm_jreal(r, "inTps"),
                     adm_jstr(r, "sendThreadPoolQueueSize"),
                     adm_jstr(r, "sendThreadPoolQueueHeadWaitTimeMills"));
            snprintf(outs, sizeof outs, "%9.2f(%s,%sms)", adm_jreal(r, "outTps"),
                     adm_jstr(r, "pullThreadPoolQueueSize"),
                     adm_jstr(r, "pullThreadPoolQueueHeadWaitTimeMills"));
            snprintf(hs, sizeof hs, "%2.2f", adm_jreal(r, "hour"));
            snprintf(sp, sizeof sp, "%.4f", adm_jreal(r, "commitLogDiskRatio"));
            printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", cl, bn, bid, addr,
                   adm_jstr(r, "version"), ins, outs, adm_jstr(r, "pageCacheLockTimeMills"), hs,
                   sp);
        }
    }
    json_decref(rows);
    return 0;
}

int adm_cmd_cluster_list(ctx_t *c) {
    int interval;
    if (adm_opt_int(c, 'i', 0, &interval)) return 1;
    bool more = adm_opt(c, 'm', NULL) != NULL;
    bool repl = adm_opt(c, 'r', NULL) != NULL;
    for (;;) {
        int rc = cluster_once(c, more, repl);
        if (rc || interval <= 0) return rc;
        fflush(stdout);
        sleep((unsigned)interval);
    }
}

static int print_kv_table(ctx_t *c, const char *addr, bool prefix, json_t *jout) {
    rmq_err_t e;
    json_t *t = runtime_info(c, addr, &e);
    if (!t) return adm_fail("broker %s: %s", addr, adm_why(c, e));
    size_t n;
    const char **keys = adm_sorted_keys(t, &n);
    if (jout)
        json_object_set(jout, addr, t);
    else
        for (size_t i = 0; i < n; i++) {
            if (prefix)
                printf("%-24s %-32s: %s\n", addr, keys[i], adm_jstr(t, keys[i]));
            else
                printf("%-32s: %s\n", keys[i], adm_jstr(t, keys[i]));
        }
    free(keys);
    json_decref(t);
    return 0;
}

int adm_cmd_broker_status(ctx_t *c) {
    const char *b = adm_opt(c, 'b', NULL);
    json_t *targets = adm_target_brokers(c);
    if (!targets) return 1;
    json_t *jout = c->json ? json_object() : NULL;
    size_t i;
    json_t *a;
    int rc = 0;
    json_array_foreach(targets, i, a) {
        if ((rc = print_kv_table(c, json_string_value(a), b == NULL, jout))) break;
    }
    if (jout && rc == 0) adm_print_json(b ? json_object_get(jout, b) : jout);
    json_decref(jout);
    json_decref(targets);
    return rc;
}
