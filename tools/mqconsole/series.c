/* mqconsole's charts: a sampler thread asks the cluster every sample_ms for the brokers' put /
 * get TPS (runtime info, summed over the masters), every consumer group's lag (consume stats,
 * the consumerProgress sum) and the TPS of the topics the topics page looked at (their summed
 * max offsets, differenced), and keeps the last CON_SERIES_POINTS points for /api/series. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "rmq/rmq_codes.h"
#include "tools/mqconsole/console.h"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sum of topic's max offsets over its brokers; -1 when it cannot be read. */
static int64_t topic_max_sum(console_t *k, const char *topic) {
    json_t *route = adm_route_of(&k->c, topic);
    if (!route) return -1;
    int64_t sum = 0;
    size_t i;
    json_t *bd;
    const char *kv[] = {"topic", topic, NULL};
    json_array_foreach(json_object_get(route, "brokerDatas"), i, bd) {
        const char *addr = adm_bd_master(bd);
        rmq_err_t e;
        json_t *st =
            addr ? adm_broker_call(&k->c, addr, RMQ_REQ_GET_TOPIC_STATS_INFO, kv, NULL, "", &e)
                 : NULL;
        if (!st) {
            sum = -1;
            break;
        }
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(st, "offsetTable"), key, v) sum +=
            adm_jint(v, "maxOffset");
        json_decref(st);
    }
    json_decref(route);
    return sum;
}

static json_t *sample(console_t *k) {
    int64_t ts = now_ms();
    double put = 0, get = 0;
    json_t *lag = json_object(), *ttps = json_object();
    pthread_mutex_lock(&k->mu);
    json_t *rows = adm_cluster_rows(&k->c);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) if (adm_jint(r, "brokerId") == 0) {
        put += adm_jreal(r, "inTps");
        get += adm_jreal(r, "outTps");
    }
    json_t *groups = rows ? adm_group_rows(&k->c) : NULL;
    json_array_foreach(groups, i, r)
        json_object_set_new(lag, adm_jstr(r, "group"), json_integer(adm_jint(r, "diffTotal")));
    for (int w = 0; w < CON_MAX_WATCHED; w++) {
        char g[128];
        pthread_mutex_lock(&k->series_mu);
        memcpy(g, k->watched_groups[w], sizeof g);
        pthread_mutex_unlock(&k->series_mu);
        if (!g[0] || json_object_get(lag, g)) continue;
        double tps;
        rmq_err_t e;
        json_t *tab = adm_consume_stats(&k->c, g, NULL, &tps, &e);
        int64_t diff = 0;
        const char *key;
        json_t *v;
        json_object_foreach(tab, key, v) diff +=
            adm_jint(v, "brokerOffset") - adm_jint(v, "consumerOffset");
        if (tab) json_object_set_new(lag, g, json_integer(diff));
        json_decref(tab);
    }
    for (int w = 0; w < CON_MAX_WATCHED; w++) {
        char topic[128];
        pthread_mutex_lock(&k->series_mu);
        memcpy(topic, k->watched[w], sizeof topic);
        pthread_mutex_unlock(&k->series_mu);
        if (!topic[0]) continue;
        int64_t sum = topic_max_sum(k, topic), t = now_ms();
        pthread_mutex_lock(&k->series_mu);
        if (!strcmp(k->watched[w], topic)) {
            if (sum >= 0 && k->watched_sum[w] >= 0 && t > k->watched_ts[w])
                json_object_set_new(ttps, topic,
                                    json_real((double)(sum - k->watched_sum[w]) * 1000.0 /
                                              (double)(t - k->watched_ts[w])));
            k->watched_sum[w] = sum;
            k->watched_ts[w] = t;
        }
        pthread_mutex_unlock(&k->series_mu);
    }
    pthread_mutex_unlock(&k->mu);
    json_t *p = json_pack("{s:I,s:b,s:f,s:f,s:o,s:o}", "ts", (json_int_t)ts, "ok", rows != NULL,
                          "putTps", put, "getTps", get, "lag", lag, "topicTps", ttps);
    json_decref(rows);
    json_decref(groups);
    return p;
}

static void *sampler_main(void *arg) {
    console_t *k = arg;
    for (;;) {
        json_t *p = sample(k);
        pthread_mutex_lock(&k->series_mu);
        if (p) {
            json_array_append_new(k->points, p);
            while (json_array_size(k->points) > CON_SERIES_POINTS) json_array_remove(k->points, 0);
        }
        struct timespec until =
            rmq_deadline_ts(CLOCK_REALTIME, k->sample_ms > 0 ? (uint64_t)k->sample_ms : 0);
        while (!k->stopping &&
               pthread_cond_timedwait(&k->series_cv, &k->series_mu, &until) != ETIMEDOUT) {
        }
        bool stop = k->stopping;
        pthread_mutex_unlock(&k->series_mu);
        if (stop) return NULL;
    }
}

int con_series_start(console_t *k) {
    pthread_mutex_init(&k->series_mu, NULL);
    pthread_cond_init(&k->series_cv, NULL);
    k->points = json_array();
    return pthread_create(&k->sampler, NULL, sampler_main, k) == 0 ? 0 : -1;
}

void con_series_stop(console_t *k) {
    pthread_mutex_lock(&k->series_mu);
    k->stopping = true;
    pthread_cond_broadcast(&k->series_cv);
    pthread_mutex_unlock(&k->series_mu);
    pthread_join(k->sampler, NULL);
    json_decref(k->points);
    k->points = NULL;
}

json_t *con_series_json(console_t *k) {
    pthread_mutex_lock(&k->series_mu);
    json_t *out = json_deep_copy(k->points);
    pthread_mutex_unlock(&k->series_mu);
    return out;
}

void con_series_watch(console_t *k, const char *topic) {
    pthread_mutex_lock(&k->series_mu);
    int slot = -1;
    for (int w = 0; w < CON_MAX_WATCHED && slot < 0; w++)
        if (!strcmp(k->watched[w], topic)) slot = w;
    if (slot < 0) {
        memmove(k->watched[1], k->watched[0], sizeof k->watched[0] * (CON_MAX_WATCHED - 1));
        memmove(&k->watched_sum[1], &k->watched_sum[0],
                sizeof k->watched_sum[0] * (CON_MAX_WATCHED - 1));
        memmove(&k->watched_ts[1], &k->watched_ts[0],
                sizeof k->watched_ts[0] * (CON_MAX_WATCHED - 1));
        snprintf(k->watched[0], sizeof k->watched[0], "%s", topic);
        k->watched_sum[0] = -1;
        k->watched_ts[0] = 0;
    }
    pthread_mutex_unlock(&k->series_mu);
}

void con_series_watch_group(console_t *k, const char *group) {
    pthread_mutex_lock(&k->series_mu);
    bool have = false;
    for (int w = 0; w < CON_MAX_WATCHED && !have; w++) have = !strcmp(k->watched_groups[w], group);
    if (!have) {
        memmove(k->watched_groups[1], k->watched_groups[0],
                sizeof k->watched_groups[0] * (CON_MAX_WATCHED - 1));
        snprintf(k->watched_groups[0], sizeof k->watched_groups[0], "%s", group);
    }
    pthread_mutex_unlock(&k->series_mu);
}
