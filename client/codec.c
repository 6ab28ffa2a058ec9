/* Pure helpers of the SDK: fastjson-tolerant route parsing, subscriptions, queue allocation,
 * unique ids, queue choice with latency fault tolerance, send request / response mapping and
 * the reset-offset body. No I/O here (except reading the local interface list for the id). */
#include <ctype.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/internal.h"
#include "common/fjson.h"
#include "common/util.h"

/* ---- JSON ---------------------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Numbers may come as strings (C++ peers); missing -> dflt. */
static int64_t jint(json_t *o, const char *k, int64_t dflt) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    if (json_is_string(v)) {
        int64_t x;
        if (rmq_parse_i64(json_string_value(v), &x) == 0) return x;
    }
    return dflt;
}

static int qdata_cmp(const void *a, const void *b) {
    return strcmp(((const rmq_qdata_t *)a)->broker, ((const rmq_qdata_t *)b)->broker);
}

rmq_err_t rmq_route_parse(const char *json, size_t len, rmq_route_t **out) {
    char *fixed = rmq_fjson_normalize(json, len);
    if (!fixed) return RMQ_ERR__BAD_MSG;
    json_error_t jerr;
    json_t *root = json_loads(fixed, 0, &jerr);
    free(fixed);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return RMQ_ERR__BAD_MSG;
    }
    rmq_route_t *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(root);
        return RMQ_ERR__NOMEM;
    }
    json_t *qs = json_object_get(root, "queueDatas");
    json_t *bs = json_object_get(root, "brokerDatas");
    size_t nq = json_is_array(qs) ? json_array_size(qs) : 0;
    size_t nb = json_is_array(bs) ? json_array_size(bs) : 0;
    r->q = calloc(nq ? nq : 1, sizeof(*r->q));
    r->b = calloc(nb ? nb : 1, sizeof(*r->b));
    if (!r->q || !r->b) {
        rmq_route_free(r);
        json_decref(root);
        return RMQ_ERR__NOMEM;
    }
    for (size_t i = 0; i < nq; i++) {
        json_t *q = json_array_get(qs, i);
        const char *bn = jstr(q, "brokerName");
        if (!bn) continue;
        rmq_qdata_t *d = &r->q[r->nq++];
        rmq_strlcpy(d->broker, bn, sizeof(d->broker));
        d->read_q = (int)jint(q, "readQueueNums", 0);
        d->write_q = (int)jint(q, "writeQueueNums", 0);
        d->perm = (int)jint(q, "perm", 6);
        /* renamed in 4.9.0: accept both spellings */
        d->sys_flag = (int)jint(q, "topicSysFlag", jint(q, "topicSynFlag", 0));
    }
    qsort(r->q, (size_t)r->nq, sizeof(*r->q), qdata_cmp);
    for (size_t i = 0; i < nb; i++) {
        json_t *b = json_array_get(bs, i);
        const char *bn = jstr(b, "brokerName");
        if (!bn) continue;
        rmq_bdata_t *d = &r->b[r->nb++];
        rmq_strlcpy(d->broker, bn, sizeof(d->broker));
        const char *cl = jstr(b, "cluster");
        if (cl) rmq_strlcpy(d->cluster, cl, sizeof(d->cluster));
        json_t *addrs = json_object_get(b, "brokerAddrs");
        const char *k;
        json_t *v;
        json_object_foreach(addrs, k, v) {
            int64_t id;
            if (!json_is_string(v) || rmq_parse_i64(k, &id) != 0) continue;
            if (d->naddr >= (int)RMQ_ARRAY_LEN(d->addr)) break;
            d->addr[d->naddr].id = id;
            rmq_strlcpy(d->addr[d->naddr].addr, json_string_value(v), sizeof(d->addr[0].addr));
            d->naddr++;
        }
    }
    const char *oc = jstr(root, "orderTopicConf");
    if (oc && *oc) r->order_conf = strdup(oc);
    json_decref(root);
    *out = r;
    return RMQ_OK;
}

void rmq_route_free(rmq_route_t *r) {
    if (!r) return;
    free(r->q);
    free(r->b);
    free(r->order_conf);
    free(r);
}

const rmq_bdata_t *rmq_bdata_find(const rmq_route_t *r, const char *broker) {
    for (int i = 0; i < r->nb; i++)
        if (strcmp(r->b[i].broker, broker) == 0) return &r->b[i];
    return NULL;
}

static const char *bdata_id(const rmq_bdata_t *b, int64_t id) {
    for (int i = 0; i < b->naddr; i++)
        if (b->addr[i].id == id) return b->addr[i].addr;
    return NULL;
}

const char *rmq_bdata_addr(const rmq_bdata_t *b, int64_t id, bool only_this, int64_t *got_id) {
    if (!b) return NULL;
    const char *a = bdata_id(b, id);
    int64_t got = id;
    if (!a && id != 0 && (a = bdata_id(b, id + 1))) got = id + 1;
    if (!a && !only_this && b->naddr > 0) {
        int k = 0; /* the master when listed, else the lowest id (Java's HashMap order) */
        for (int i = 1; i < b->naddr; i++)
            if (b->addr[i].id < b->addr[k].id) k = i;
        a = b->addr[k].addr;
        got = b->addr[k].id;
    }
    if (a && got_id) *got_id = got;
    return a;
}

const char *rmq_route_master(const rmq_route_t *r, const char *broker) {
    const rmq_bdata_t *b = rmq_bdata_find(r, broker);
    return b ? bdata_id(b, 0) : NULL;
}

const char *rmq_route_any_addr(const rmq_route_t *r, const char *broker) {
    return rmq_bdata_addr(rmq_bdata_find(r, broker), 0, false, NULL);
}

int rmq_mq_cmp(const void *a, const void *b) {
    const rmq_mq_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c) return c;
    c = strcmp(x->broker, y->broker);
    if (c) return c;
    return (x->queue_id > y->queue_id) - (x->queue_id < y->queue_id);
}

bool rmq_mq_eq(const rmq_mq_t *a, const rmq_mq_t *b) {
    return rmq_mq_cmp(a, b) == 0;
}

void rmq_pull_nodes_init(rmq_pull_nodes_t *t) {
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
}

void rmq_pull_nodes_fini(rmq_pull_nodes_t *t) {
    free(t->e);
    pthread_mutex_destroy(&t->mu);
}

void rmq_pull_nodes_set(rmq_pull_nodes_t *t, const rmq_mq_t *mq, int64_t id) {
    pthread_mutex_lock(&t->mu);
    int i = 0;
    while (i < t->n && !rmq_mq_eq(&t->e[i].mq, mq)) i++;
    if (i == t->n && id != 0) { /* an absent entry already means the master */
        if (t->n == t->cap) {
            int nc = t->cap ? t->cap * 2 : 16;
            struct rmq_pull_node_s *ne = realloc(t->e, (size_t)nc * sizeof(*ne));
            if (!ne) goto out;
            t->e = ne;
            t->cap = nc;
        }
        t->e[t->n].mq = *mq;
        t->n++;
    }
    if (i < t->n) t->e[i].id = id;
out:
    pthread_mutex_unlock(&t->mu);
}

int64_t rmq_pull_nodes_get(rmq_pull_nodes_t *t, const rmq_mq_t *mq) {
    int64_t id = 0;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n; i++)
        if (rmq_mq_eq(&t->e[i].mq, mq)) id = t->e[i].id;
    pthread_mutex_unlock(&t->mu);
    return id;
}

static rmq_err_t push_mq(rmq_mq_t **arr, int *n, int *cap, const char *topic, const char *broker,
                         int qid) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        rmq_mq_t *na = realloc(*arr, (size_t)nc * sizeof(**arr));
        if (!na) return RMQ_ERR__NOMEM;
        *arr = na;
        *cap = nc;
    }
    rmq_mq_t *m = &(*arr)[(*n)++];
    memset(m, 0, sizeof(*m));
    rmq_strlcpy(m->topic, topic, sizeof(m->topic));
    rmq_strlcpy(m->broker, broker, sizeof(m->broker));
    m->queue_id = qid;
    return RMQ_OK;
}

rmq_err_t rmq_route_pub_queues(const rmq_route_t *r, const char *topic, int max_q, rmq_mq_t **out,
                               int *n) {
    rmq_mq_t *arr = NULL;
    int cnt = 0, cap = 0;
    rmq_err_t e = RMQ_OK;
    if (r->order_conf) {
        /* "brokerA:4;brokerB:4" */
        char *dup = strdup(r->order_conf), *save = NULL;
        if (!dup) return RMQ_ERR__NOMEM;
        for (char *it = strtok_r(dup, ";", &save); it && !e; it = strtok_r(NULL, ";", &save)) {
            char *colon = strrchr(it, ':');
            if (!colon) continue;
            *colon = 0;
            int64_t nq;
            if (rmq_parse_i64(colon + 1, &nq) != 0) continue;
            for (int q = 0; q < nq && !e; q++) e = push_mq(&arr, &cnt, &cap, topic, it, q);
        }
        free(dup);
    } else {
        for (int i = 0; i < r->nq && !e; i++) {
            const rmq_qdata_t *q = &r->q[i];
            if (!(q->perm & RMQ_PERM_WRITE) || !rmq_route_master(r, q->broker)) continue;
            int wq = q->write_q;
            if (max_q > 0 && wq > max_q) wq = max_q;
            for (int k = 0; k < wq && !e; k++) e = push_mq(&arr, &cnt, &cap, topic, q->broker, k);
        }
    }
    if (e) {
        free(arr);
        return e;
    }
    *out = arr;
    *n = cnt;
    return RMQ_OK;
}

rmq_err_t rmq_route_sub_queues(const rmq_route_t *r, const char *topic, rmq_mq_t **out, int *n) {
    rmq_mq_t *arr = NULL;
    int cnt = 0, cap = 0;
    rmq_err_t e = RMQ_OK;
    for (int i = 0; i < r->nq && !e; i++) {
        const rmq_qdata_t *q = &r->q[i];
        if (!(q->perm & RMQ_PERM_READ)) continue;
        for (int k = 0; k < q->read_q && !e; k++)
            e = push_mq(&arr, &cnt, &cap, topic, q->broker, k);
    }
    if (e) {
        free(arr);
        return e;
    }
    if (cnt > 1) qsort(arr, (size_t)cnt, sizeof(*arr), rmq_mq_cmp);
    *out = arr;
    *n = cnt;
    return RMQ_OK;
}

/* ---- subscriptions -------------------------------------------------------------------- */

rmq_err_t rmq_sub_parse(const char *topic, const char *expr, rmq_sub_t *out) {
    memset(out, 0, sizeof(*out));
    if (!topic || !*topic || strlen(topic) >= sizeof(out->topic)) return RMQ_ERR__INVALID_ARG;
    rmq_strlcpy(out->topic, topic, sizeof(out->topic));
    out->version = rmq_now_ms();
    /* trim */
    const char *s = expr ? expr : "*";
    while (isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l > 0 && isspace((unsigned char)s[l - 1])) l--;
    if (l == 0 || (l == 1 && s[0] == '*')) {
        out->all = true;
        out->expr = strdup("*");
        return out->expr ? RMQ_OK : RMQ_ERR__NOMEM;
    }
    out->expr = strndup(s, l);
    if (!out->expr) return RMQ_ERR__NOMEM;
    /* split on "||", trim, drop empties (FilterAPI.buildSubscriptionData) */
    size_t cap = 4;
    out->tags = calloc(cap, sizeof(char *));
    out->codes = calloc(cap, sizeof(int32_t));
    if (!out->tags || !out->codes) goto oom;
    const char *p = out->expr;
    while (*p) {
        const char *sep = strstr(p, "||");
        const char *end = sep ? sep : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b > a) {
            if ((size_t)out->ntags == cap) {
                cap *= 2;
                char **nt = realloc(out->tags, cap * sizeof(char *));
                if (!nt) goto oom;
                out->tags = nt;
                int32_t *nc = realloc(out->codes, cap * sizeof(int32_t));
                if (!nc) goto oom;
                out->codes = nc;
            }
            out->tags[out->ntags] = strndup(a, (size_t)(b - a));
            if (!out->tags[out->ntags]) goto oom;
            out->codes[out->ntags] = rmq_java_hash(a, (size_t)(b - a));
            out->ntags++;
        }
        if (!sep) break;
        p = sep + 2;
    }
    if (out->ntags == 0) { /* "||" alone: behave as all */
        out->all = true;
    }
    return RMQ_OK;
oom:
    rmq_sub_fini(out);
    return RMQ_ERR__NOMEM;
}

void rmq_sub_fini(rmq_sub_t *s) {
    for (int i = 0; i < s->ntags; i++) free(s->tags[i]);
    free(s->tags);
    free(s->codes);
    free(s->expr);
    memset(s, 0, sizeof(*s));
}

rmq_err_t rmq_sub_parse_sql(const char *topic, const char *expr, rmq_sub_t *out) {
    memset(out, 0, sizeof(*out));
    if (!topic || !*topic || strlen(topic) >= sizeof(out->topic) || !expr || !*expr)
        return RMQ_ERR__INVALID_ARG;
    rmq_strlcpy(out->topic, topic, sizeof(out->topic));
    out->version = rmq_now_ms();
    out->sql = true;
    out->expr = strdup(expr);
    return out->expr ? RMQ_OK : RMQ_ERR__NOMEM;
}

bool rmq_sub_match(const rmq_sub_t *s, const char *tag) {
    if (s->all || s->sql) return true;
    if (!tag) return false;
    for (int i = 0; i < s->ntags; i++)
        if (strcmp(s->tags[i], tag) == 0) return true;
    return false;
}

/* ---- allocation ------------------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

rmq_err_t rmq_allocate_avg(rmq_mq_t *mqs, int n, char **cids, int nc, const char *self,
                           rmq_mq_t **out, int *nout) {
    *out = NULL;
    *nout = 0;
    if (n <= 0 || nc <= 0) return RMQ_OK;
    qsort(mqs, (size_t)n, sizeof(*mqs), rmq_mq_cmp);
    qsort(cids, (size_t)nc, sizeof(char *), str_cmp);
    int index = -1;
    for (int i = 0; i < nc; i++)
        if (strcmp(cids[i], self) == 0) index = i;
    if (index < 0) return RMQ_OK;
    int mod = n % nc;
    int avg = n <= nc ? 1 : (mod > 0 && index < mod ? n / nc + 1 : n / nc);
    int start = (mod > 0 && index < mod) ? index * avg : index * avg + mod;
    int range = RMQ_MIN(avg, n - start);
    if (range <= 0) return RMQ_OK;
    rmq_mq_t *r = malloc((size_t)range * sizeof(*r));
    if (!r) return RMQ_ERR__NOMEM;
    for (int k = 0; k < range; k++) r[k] = mqs[(start + k) % n];
    *out = r;
    *nout = range;
    return RMQ_OK;
}

/* ---- unique ids --------------------------------------------------------------------- */

uint32_t rmq_local_ipv4(void) {
    struct ifaddrs *ifs = NULL, *it;
    uint32_t best = 0, fallback = 0;
    if (getifaddrs(&ifs) != 0) return 0;
    for (it = ifs; it; it = it->ifa_next) {
        if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET) continue;
        uint32_t ip = ((struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr;
        const uint8_t *b = (const uint8_t *)&ip;
        if (b[0] == 127) {
            if (!fallback) fallback = ip;
            continue;
        }
        if (b[0] == 192 && b[1] == 168) {
            fallback = ip;
            continue;
        }
        if (!best) best = ip;
    }
    freeifaddrs(ifs);
    return best ? best : fallback;
}

static void month_bounds(int64_t now_ms, int64_t *start, int64_t *next) {
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    *start = (int64_t)mktime(&tm) * 1000;
    tm.tm_mon += 1;
    tm.tm_isdst = -1;
    *next = (int64_t)mktime(&tm) * 1000;
}

void rmq_uniq_init(rmq_uniq_t *u, uint32_t ip_be, uint16_t pid, int32_t hash) {
    uint8_t b[10];
    memcpy(b, &ip_be, 4); /* network order = the bytes Java writes */
    rmq_put_be16(b + 4, pid);
    rmq_put_be32(b + 6, (uint32_t)hash);
    static const char hx[] = "0123456789ABCDEF";
    for (int i = 0; i < 10; i++) {
        u->prefix[2 * i] = hx[b[i] >> 4];
        u->prefix[2 * i + 1] = hx[b[i] & 15];
    }
    u->prefix[20] = 0;
    month_bounds(rmq_now_ms(), &u->month_start_ms, &u->next_month_ms);
    atomic_init(&u->counter, 0);
    pthread_mutex_init(&u->mu, NULL);
}

void rmq_uniq_next(rmq_uniq_t *u, char out[33]) {
    int64_t now = rmq_now_ms();
    pthread_mutex_lock(&u->mu);
    if (now >= u->next_month_ms) month_bounds(now, &u->month_start_ms, &u->next_month_ms);
    int64_t diff = now - u->month_start_ms;
    pthread_mutex_unlock(&u->mu);
    if (diff < 0 && diff > -1000000) diff = 0;
    uint32_t cnt = atomic_fetch_add_explicit(&u->counter, 1, memory_order_relaxed);
    uint8_t b[6];
    rmq_put_be32(b, (uint32_t)diff);
    rmq_put_be16(b + 4, (uint16_t)cnt);
    static const char hx[] = "0123456789ABCDEF";
    memcpy(out, u->prefix, 20);
    for (int i = 0; i < 6; i++) {
        out[20 + 2 * i] = hx[b[i] >> 4];
        out[21 + 2 * i] = hx[b[i] & 15];
    }
    out[32] = 0;
}

/* ---- latency fault tolerance ------------------------------------------------------------ */

void rmq_fault_init(rmq_fault_t *f) {
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
}

static int64_t not_available_ms(int64_t latency) {
    static const int64_t lat[] = {50, 100, 550, 1000, 2000, 3000, 15000};
    static const int64_t dur[] = {0, 0, 30000, 60000, 120000, 180000, 600000};
    for (int i = (int)RMQ_ARRAY_LEN(lat) - 1; i >= 0; i--)
        if (latency >= lat[i]) return dur[i];
    return 0;
}

void rmq_fault_update(rmq_fault_t *f, const char *broker, int64_t latency_ms, bool isolation,
                      int64_t now_ms) {
    int64_t lat = isolation ? 30000 : latency_ms;
    int64_t d = not_available_ms(lat);
    pthread_mutex_lock(&f->mu);
    int slot = -1;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].broker, broker) == 0) slot = i;
    if (slot < 0) {
        if (d == 0) goto out; /* nothing to remember */
        if (f->n < RMQ_FAULT_MAX) {
            slot = f->n++;
        } else { /* replace the entry that expires first */
            slot = 0;
            for (int i = 1; i < f->n; i++)
                if (f->e[i].until_ms < f->e[slot].until_ms) slot = i;
        }
        rmq_strlcpy(f->e[slot].broker, broker, sizeof(f->e[slot].broker));
    }
    f->e[slot].latency_ms = lat;
    f->e[slot].until_ms = now_ms + d;
out:
    pthread_mutex_unlock(&f->mu);
}

bool rmq_fault_ok(rmq_fault_t *f, const char *broker, int64_t now_ms) {
    bool ok = true;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].broker, broker) == 0) ok = now_ms >= f->e[i].until_ms;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

typedef struct {
    int mq_idx; /* first queue of the broker in mqs */
    bool ok;
    int64_t latency, until;
} least_t;

static int least_cmp(const void *a, const void *b) {
    const least_t *x = a, *y = b;
    if (x->ok != y->ok) return x->ok ? -1 : 1;
    if (x->latency != y->latency) return x->latency < y->latency ? -1 : 1;
    if (x->until != y->until) return x->until < y->until ? -1 : 1;
    return x->mq_idx - y->mq_idx;
}

int rmq_fault_pick_least(rmq_fault_t *f, const rmq_mq_t *mqs, int n, int64_t now_ms) {
    least_t c[RMQ_FAULT_MAX];
    int nc = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++) {
        int idx = -1; /* only brokers that still have queues in the list count */
        for (int k = 0; k < n && idx < 0; k++)
            if (strcmp(mqs[k].broker, f->e[i].broker) == 0) idx = k;
        if (idx < 0) continue;
        c[nc++] = (least_t){idx, now_ms >= f->e[i].until_ms, f->e[i].latency_ms, f->e[i].until_ms};
    }
    uint32_t turn = f->worst++;
    pthread_mutex_unlock(&f->mu);
    if (nc == 0) return -1;
    qsort(c, (size_t)nc, sizeof(c[0]), least_cmp);
    int half = nc / 2;
    return c[half <= 0 ? 0 : (int)(turn % (uint32_t)half)].mq_idx;
}

int rmq_select_queue(const rmq_mq_t *mqs, int n, _Atomic uint32_t *counter, const char *last_broker,
                     rmq_fault_t *fault, int64_t now_ms) {
    if (n <= 0) return -1;
    uint32_t start = atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    for (int k = 0; k < n; k++) {
        int i = (int)((start + (uint32_t)k) % (uint32_t)n);
        if (last_broker && strcmp(mqs[i].broker, last_broker) == 0) continue;
        if (fault && !rmq_fault_ok(fault, mqs[i].broker, now_ms)) continue;
        return i;
    }
    if (fault) { /* every broker is isolated: the least bad one, a queue of it in turn */
        int b = rmq_fault_pick_least(fault, mqs, n, now_ms);
        if (b >= 0 && last_broker && strcmp(mqs[b].broker, last_broker) == 0) {
            /* rather another broker than the one that just failed, if the list has one */
            for (int k = 0; k < n; k++)
                if (strcmp(mqs[k].broker, last_broker) != 0) b = -1;
        }
        if (b >= 0) {
            int cnt = 0;
            for (int k = 0; k < n; k++) cnt += strcmp(mqs[k].broker, mqs[b].broker) == 0;
            int want =
                (int)(atomic_fetch_add_explicit(counter, 1, memory_order_relaxed) % (uint32_t)cnt);
            for (int k = 0; k < n; k++)
                if (strcmp(mqs[k].broker, mqs[b].broker) == 0 && want-- == 0) return k;
        }
    }
    /* avoid only the broker that just failed, else take the plain pick */
    for (int k = 0; k < n && last_broker; k++) {
        int i = (int)((start + (uint32_t)k) % (uint32_t)n);
        if (strcmp(mqs[i].broker, last_broker) != 0) return i;
    }
    return (int)(start % (uint32_t)n);
}

/* ---- send request / response -------------------------------------------------------- */

void rmq_send_head(const rmq_send_hdr_t *h, rmq_send_head_t *out) {
    rmq_rem_field_t *kv = out->kv;
    size_t n = 0;
    /* keys in the a..n order */
#define KV(k, v) kv[n++] = (rmq_rem_field_t){(char *)(k), (char *)(v)}
    KV("a", h->group);
    KV("b", h->topic);
    KV("c", h->default_topic ? h->default_topic : RMQ_DEFAULT_TOPIC);
    KV("d", rmq_i64_str(h->default_queues ? h->default_queues : 4, out->num[0]));
    KV("e", rmq_i64_str(h->queue_id, out->num[1]));
    KV("f", rmq_i64_str(h->sysflag, out->num[2]));
    KV("g", rmq_i64_str(h->born_ts, out->num[3]));
    KV("h", rmq_i64_str(h->flag, out->num[4]));
    if (h->props && *h->props) KV("i", h->props);
    KV("j", rmq_i64_str(h->reconsume_times, out->num[5]));
    KV("k", "false");
    if (h->has_reconsume) KV("l", rmq_i64_str(h->max_reconsume_times, out->num[6]));
    KV("m", h->batch ? "true" : "false");
    if (h->broker && *h->broker) KV("n", h->broker);
#undef KV
    out->head = (rmq_rem_head_t){
        .code = h->batch ? RMQ_REQ_SEND_BATCH_MESSAGE : RMQ_REQ_SEND_MESSAGE_V2,
        .language = RMQ_LANG_CPP,
        .version = RMQ_REM_VERSION,
        .serialize_type = h->binary_header ? RMQ_REM_SER_ROCKETMQ : RMQ_REM_SER_JSON,
        .ext = kv,
        .next = n,
    };
}

rmq_rem_cmd_t *rmq_send_request(const rmq_send_hdr_t *h) {
    rmq_send_head_t sh;
    rmq_send_head(h, &sh);
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(sh.head.code);
    if (!c) return NULL;
    c->language = sh.head.language;
    c->serialize_type = sh.head.serialize_type;
    /* every field in one allocation (rmq_rem_cmd_add_fields) */
    if (rmq_rem_cmd_add_fields(c, sh.kv, sh.head.next)) {
        rmq_rem_cmd_destroy(c);
        return NULL;
    }
    return c;
}

rmq_err_t rmq_send_response(const rmq_rem_cmd_t *resp, const rmq_mq_t *mq, rmq_send_result_t *r) {
    rmq_send_status_t st;
    switch (resp->code) {
    case RMQ_OK: st = RMQ_SEND_OK; break;
    case RMQ_ERR_FLUSH_DISK_TIMEOUT: st = RMQ_SEND_FLUSH_DISK_TIMEOUT; break;
    case RMQ_ERR_FLUSH_SLAVE_TIMEOUT: st = RMQ_SEND_FLUSH_SLAVE_TIMEOUT; break;
    case RMQ_ERR_SLAVE_NOT_AVAILABLE: st = RMQ_SEND_SLAVE_NOT_AVAILABLE; break;
    default: return (rmq_err_t)resp->code;
    }
    if (!r) return RMQ_OK;
    r->status = st;
    r->mq = *mq;
    /* the four fields in one pass over the reply's (the first of a key wins, as with
     * rmq_rem_cmd_get): four lookups were a fifth of an async sender's loop work per reply */
    const char *qid = NULL, *qoff = NULL, *id = NULL, *tx = NULL;
    for (size_t i = 0; i < resp->next; i++) {
        const char *k = resp->ext[i].key, **slot = NULL;
        if (k[0] == 'q')
            slot = !strcmp(k, "queueId") ? &qid : !strcmp(k, "queueOffset") ? &qoff : NULL;
        else if (k[0] == 'm' && !strcmp(k, "msgId"))
            slot = &id;
        else if (k[0] == 't' && !strcmp(k, "transactionId"))
            slot = &tx;
        if (slot && !*slot) *slot = resp->ext[i].val;
    }
    int64_t v;
    if (qid && rmq_parse_java_long(qid, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX)
        r->mq.queue_id = (int32_t)v;
    r->offset = qoff && rmq_parse_java_long(qoff, &v) == 0 ? v : -1;
    r->offset_msg_id[0] = 0;
    if (id) {
        size_t l = strcspn(id, ","); /* first of a batch */
        if (l >= sizeof(r->offset_msg_id)) l = sizeof(r->offset_msg_id) - 1;
        memcpy(r->offset_msg_id, id, l);
        r->offset_msg_id[l] = 0;
    }
    rmq_strlcpy(r->txn_id, tx ? tx : "", sizeof(r->txn_id));
    return RMQ_OK;
}

bool rmq_send_retryable(rmq_err_t e) {
    switch ((int)e) {
    case RMQ_ERR_TOPIC_NOT_EXIST:
    case RMQ_ERR_SERVICE_NOT_AVAILABLE:
    case RMQ_ERR_SYSTEM_ERROR:
    case RMQ_ERR_SYSTEM_BUSY:
    case RMQ_ERR_NO_PERMISSION:
    case RMQ_ERR_NO_BUYER_ID:
    case RMQ_ERR_NOT_IN_CURRENT_UNIT:
    case RMQ_ERR__TIMEOUT:
    case RMQ_ERR__CONN:
    case RMQ_ERR__NO_ROUTE: return true;
    default: return false;
    }
}

/* ---- reset-offset body ------------------------------------------------------------- */

static rmq_err_t mq_from_json(json_t *o, rmq_mq_t *mq) {
    const char *t = jstr(o, "topic"), *b = jstr(o, "brokerName");
    if (!t || !b) return RMQ_ERR__BAD_MSG;
    memset(mq, 0, sizeof(*mq));
    rmq_strlcpy(mq->topic, t, sizeof(mq->topic));
    rmq_strlcpy(mq->broker, b, sizeof(mq->broker));
    mq->queue_id = (int)jint(o, "queueId", 0);
    return RMQ_OK;
}

/* Append (mq, off) to the parallel arrays m / o, doubling both when full. */
static rmq_err_t pair_push(rmq_mq_t **m, int64_t **o, int *cnt, int *cap, const rmq_mq_t *mq,
                           int64_t off) {
    if (*cnt == *cap) {
        *cap *= 2;
        rmq_mq_t *nm = realloc(*m, (size_t)*cap * sizeof(**m));
        if (nm) *m = nm;
        int64_t *no = realloc(*o, (size_t)*cap * sizeof(**o));
        if (no) *o = no;
        if (!nm || !no) return RMQ_ERR__NOMEM;
    }
    (*m)[*cnt] = *mq;
    (*o)[(*cnt)++] = off;
    return RMQ_OK;
}

rmq_err_t rmq_reset_body_parse(const char *body, size_t len, rmq_mq_t **mqs, int64_t **offs,
                               int *n) {
    int cap = 8, cnt = 0;
    rmq_mq_t *m = malloc((size_t)cap * sizeof(*m));
    int64_t *o = malloc((size_t)cap * sizeof(*o));
    rmq_err_t e = RMQ_OK;
    if (!m || !o) {
        e = RMQ_ERR__NOMEM;
        goto done;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root) {
        /* valid JSON: gson pairs [[{mq},off],...] or ForC [{...,"offset":n}] */
        json_t *t = json_object_get(root, "offsetTable");
        size_t i;
        json_t *it;
        json_array_foreach(t, i, it) {
            rmq_mq_t mq;
            int64_t off;
            if (json_is_array(it) && json_array_size(it) == 2) {
                if (mq_from_json(json_array_get(it, 0), &mq)) continue;
                json_t *ov = json_array_get(it, 1);
                off = json_is_integer(ov) ? json_integer_value(ov) : -1;
            } else if (json_is_object(it)) {
                if (mq_from_json(it, &mq)) continue;
                off = jint(it, "offset", -1);
            } else {
                continue;
            }
            if ((e = pair_push(&m, &o, &cnt, &cap, &mq, off))) break;
        }
        json_decref(root);
        goto done;
    }
    /* fastjson map with object keys: {"offsetTable":{{mq}:off,{mq}:off}} — scan each inner
     * object, which is valid JSON on its own, then the number after its ':' */
    const char *p = memchr(body, '{', len);
    const char *end = body + len;
    if (p) p = memchr(p + 1, '{', (size_t)(end - p - 1)); /* the table */
    if (p) p++;
    while (p && p < end) {
        const char *ob = memchr(p, '{', (size_t)(end - p));
        if (!ob) break;
        const char *cb = ob;
        bool in_str = false;
        for (; cb < end; cb++) {
            if (in_str) {
                if (*cb == '\\')
                    cb++;
                else if (*cb == '"')
                    in_str = false;
            } else if (*cb == '"') {
                in_str = true;
            } else if (*cb == '}') {
                break;
            }
        }
        if (cb >= end) break;
        json_t *mo = json_loadb(ob, (size_t)(cb - ob + 1), 0, &jerr);
        const char *q = cb + 1;
        while (q < end && (isspace((unsigned char)*q) || *q == ':')) q++;
        char *numend;
        long long off = strtoll(q, &numend, 10);
        rmq_mq_t mq;
        if (mo && numend != q && mq_from_json(mo, &mq) == RMQ_OK) {
            if ((e = pair_push(&m, &o, &cnt, &cap, &mq, off))) {
                json_decref(mo);
                break;
            }
        }
        json_decref(mo);
        p = numend > q ? numend : cb + 1;
    }
done:
    if (e) {
        free(m);
        free(o);
        return e;
    }
    *mqs = m;
    *offs = o;
    *n = cnt;
    return RMQ_OK;
}
