/* The client instance: remoting client, route cache, NameServer fail-over, scheduler threads,
 * callback thread, heartbeats and broker -> client request dispatch. See instance.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/instance.h"
#include "client/request.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"
#include "common/wake.h"
#include "remoting/tls.h"

#define MOD "client"

/* ---- scheduler ------------------------------------------------------------------- */

typedef struct {
    uint64_t due;
    uint64_t seq;
    void (*fn)(void *);
    void (*drop)(void *);
    void *arg;
    void *owner;
} task_t;

#define SCHED_THREADS 2

typedef rmq_cb_node_t cb_node_t;

struct rmq_instance_s {
    char key[600];
    int refs;                 /* guarded by the registry mutex */
    rmq_instance_t *next_reg; /* registry list */
    rmq_conf_t *conf;
    rmq_logger_t log; /* from the creating conf's log callback; instances share only with an
                         equal logger, so a member's lines reach only its own sink */
    char client_id[256];
    rmq_rem_client_t *rem;
    rmq_uniq_t uniq;

    /* NameServers */
    char **ns;
    int nns;
    _Atomic int ns_cur;

    /* members */
    pthread_rwlock_t members_rw;
    rmq_member_t *members;

    /* route cache: guarded by route_mu */
    pthread_mutex_t route_mu;
    rmq_topic_info_t **topics;
    int ntopics, cap_topics;
    rmq_bdata_t *brokers; /* broker name -> addresses by id, from the newest route naming it */
    int nbrokers, cap_brokers;
    /* broker addresses that just failed at the transport level (timeout, no connection), and
     * until when reads avoid them for another address of the same set (a slave) */
    struct {
        char addr[64];
        int64_t until_ms;
    } down[16];

    /* scheduler */
    pthread_mutex_t sched_mu;
    pthread_cond_t sched_cv, sched_done_cv;
    task_t *heap;
    int nheap, cap_heap;
    uint64_t seq;
    void *running[SCHED_THREADS];
    pthread_t sched_th[SCHED_THREADS];
    bool stopping;

    /* callback thread: nodes pushed without a lock (newest first), taken whole by the thread,
     * which sleeps on cb_wake when there are none. A mutex and condition variable here made
     * the loop thread and the callback thread contend on every completion of an async
     * producer (perf, issue 15: most of its remaining futex calls). */
    cb_node_t *_Atomic cb_stack;
    _Atomic bool cb_stop;
    rmq_wake_t cb_wake;
    /* loop thread only: rmq_instance_post_node_loop pushed nodes whose wake-up is still owed
     * (paid by cb_iteration_end: one per loop iteration, not one per response) */
    bool cb_owed;
    /* loop thread only: rmq_instance_at_iteration_end's nodes, in the order queued */
    rmq_cb_node_t *iter_head, **iter_tail;
    pthread_t cb_th;

    _Atomic bool hb_pending;
    rmq_reqtab_t *reqtab; /* request-reply: requests waiting for their reply */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static rmq_instance_t *registry;

static void heap_swap(task_t *a, task_t *b) {
    task_t t = *a;
    *a = *b;
    *b = t;
}
static bool task_lt(const task_t *a, const task_t *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}
static void heap_up(task_t *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!task_lt(&h[i], &h[p])) break;
        heap_swap(&h[i], &h[p]);
        i = p;
    }
}
static void heap_down(task_t *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && task_lt(&h[l], &h[m])) m = l;
        if (r < n && task_lt(&h[r], &h[m])) m = r;
        if (m == i) break;
        heap_swap(&h[i], &h[m]);
        i = m;
    }
}

typedef struct {
    rmq_instance_t *in;
    int idx;
} sched_arg_t;

static void *sched_main(void *p) {
    sched_arg_t *sa = p;
    rmq_instance_t *in = sa->in;
    int idx = sa->idx;
    free(sa);
    pthread_setname_np(pthread_self(), "rmq-service");
    pthread_mutex_lock(&in->sched_mu);
    while (!in->stopping) {
        if (in->nheap == 0) {
            pthread_cond_wait(&in->sched_cv, &in->sched_mu);
            continue;
        }
        uint64_t now = rmq_mono_ms();
        if (in->heap[0].due > now) {
            struct timespec ts = rmq_deadline_ts(CLOCK_MONOTONIC, in->heap[0].due - now);
            pthread_cond_timedwait(&in->sched_cv, &in->sched_mu, &ts);
            continue;
        }
        task_t t = in->heap[0];
        in->heap[0] = in->heap[--in->nheap];
        heap_down(in->heap, in->nheap, 0);
        in->running[idx] = t.owner ? t.owner : (void *)1;
        pthread_mutex_unlock(&in->sched_mu);
        t.fn(t.arg);
        pthread_mutex_lock(&in->sched_mu);
        in->running[idx] = NULL;
        pthread_cond_broadcast(&in->sched_done_cv);
    }
    pthread_mutex_unlock(&in->sched_mu);
    return NULL;
}

rmq_err_t rmq_instance_schedule(rmq_instance_t *in, int64_t delay_ms, void (*fn)(void *arg),
                                void *arg, void *owner) {
    return rmq_instance_schedule_ex(in, delay_ms, fn, NULL, arg, owner);
}

rmq_err_t rmq_instance_schedule_ex(rmq_instance_t *in, int64_t delay_ms, void (*fn)(void *arg),
                                   void (*drop)(void *arg), void *arg, void *owner) {
    pthread_mutex_lock(&in->sched_mu);
    if (in->stopping) {
        pthread_mutex_unlock(&in->sched_mu);
        return RMQ_ERR__CLOSED;
    }
    if (in->nheap == in->cap_heap) {
        int nc = in->cap_heap ? in->cap_heap * 2 : 64;
        task_t *nh = realloc(in->heap, (size_t)nc * sizeof(*nh));
        if (!nh) {
            pthread_mutex_unlock(&in->sched_mu);
            return RMQ_ERR__NOMEM;
        }
        in->heap = nh;
        in->cap_heap = nc;
    }
    task_t *t = &in->heap[in->nheap];
    t->due = rmq_mono_ms() + (uint64_t)(delay_ms > 0 ? delay_ms : 0);
    t->seq = in->seq++;
    t->fn = fn;
    t->drop = drop;
    t->arg = arg;
    t->owner = owner;
    heap_up(in->heap, in->nheap++);
    pthread_cond_broadcast(&in->sched_cv);
    pthread_mutex_unlock(&in->sched_mu);
    return RMQ_OK;
}

void rmq_instance_cancel(rmq_instance_t *in, void *owner) {
    pthread_mutex_lock(&in->sched_mu);
    int j = 0, nd = 0;
    task_t *dropped = malloc((size_t)(in->nheap ? in->nheap : 1) * sizeof(task_t));
    for (int i = 0; i < in->nheap; i++) {
        if (in->heap[i].owner != owner)
            in->heap[j++] = in->heap[i];
        else if (dropped)
            dropped[nd++] = in->heap[i];
    }
    in->nheap = j;
    for (int i = in->nheap / 2; i >= 0; i--) heap_down(in->heap, in->nheap, i);
    pthread_mutex_unlock(&in->sched_mu);
    for (int i = 0; i < nd; i++)
        if (dropped[i].drop) dropped[i].drop(dropped[i].arg);
    free(dropped);
    pthread_mutex_lock(&in->sched_mu);
    for (;;) {
        bool busy = false;
        for (int i = 0; i < SCHED_THREADS; i++)
            if (in->running[i] == owner) busy = true;
        if (!busy) break;
        pthread_cond_wait(&in->sched_done_cv, &in->sched_mu);
    }
    pthread_mutex_unlock(&in->sched_mu);
}

/* ---- callback thread ------------------------------------------------------------- */

static void *cb_main(void *p) {
    rmq_instance_t *in = p;
    pthread_setname_np(pthread_self(), "rmq-callback");
    for (;;) {
        cb_node_t *taken = atomic_exchange(&in->cb_stack, NULL);
        if (!taken) {
            if (atomic_load(&in->cb_stop)) break; /* stop is set after the last post */
            rmq_wake_wait(&in->cb_wake);
            continue;
        }
        cb_node_t *batch = NULL; /* in post order */
        while (taken) {
            cb_node_t *nx = taken->next;
            taken->next = batch;
            batch = taken;
            taken = nx;
        }
        while (batch) {
            cb_node_t *nx = batch->next;
            bool heap = batch->heap;
            void (*fn)(void *) = batch->fn;
            void *arg = batch->arg;
            if (heap) free(batch);
            fn(arg); /* may free an embedded node */
            batch = nx;
        }
    }
    return NULL;
}

rmq_err_t rmq_instance_post_cb(rmq_instance_t *in, void (*fn)(void *arg), void *arg) {
    cb_node_t *n = malloc(sizeof(*n));
    if (!n) return RMQ_ERR__NOMEM;
    n->fn = fn;
    n->arg = arg;
    n->heap = true;
    rmq_instance_post_node(in, n);
    return RMQ_OK;
}

static void cb_push(rmq_instance_t *in, rmq_cb_node_t *n) {
    /* push-only (the thread takes the whole stack): no ABA */
    n->next = atomic_load_explicit(&in->cb_stack, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&in->cb_stack, &n->next, n, memory_order_release,
                                                  memory_order_relaxed)) {
    }
}

void rmq_instance_post_node(rmq_instance_t *in, rmq_cb_node_t *n) {
    cb_push(in, n);
    rmq_wake_signal(&in->cb_wake);
}

/* A loop iteration reads up to a socket buffer of responses; waking the callback thread at
 * the first made it take one or two and sleep again while the loop went on (a futex call and
 * a context switch on each side per few messages, perf: issue 15's async sender). */
void rmq_instance_post_node_loop(rmq_instance_t *in, rmq_cb_node_t *n) {
    cb_push(in, n);
    in->cb_owed = true;
}

void rmq_instance_at_iteration_end(rmq_instance_t *in, rmq_cb_node_t *n) {
    n->next = NULL;
    if (!in->iter_head) in->iter_tail = &in->iter_head;
    *in->iter_tail = n;
    in->iter_tail = &n->next;
}

static void cb_iteration_end(void *arg) { /* loop thread */
    rmq_instance_t *in = arg;
    while (in->iter_head) { /* a node may queue another: it runs in this same call */
        rmq_cb_node_t *n = in->iter_head;
        in->iter_head = n->next;
        n->fn(n->arg); /* may reuse its node */
    }
    if (!in->cb_owed) return;
    in->cb_owed = false;
    rmq_wake_signal(&in->cb_wake);
}

/* ---- accessors --------------------------------------------------------------------- */

const char *rmq_instance_client_id(const rmq_instance_t *in) {
    return in->client_id;
}
rmq_rem_client_t *rmq_instance_rem(rmq_instance_t *in) {
    return in->rem;
}
const rmq_conf_t *rmq_instance_conf(const rmq_instance_t *in) {
    return in->conf;
}
const rmq_logger_t *rmq_instance_log(const rmq_instance_t *in) {
    return &in->log;
}
rmq_reqtab_t *rmq_instance_reqtab(rmq_instance_t *in) {
    return in->reqtab;
}
rmq_uniq_t *rmq_instance_uniq(rmq_instance_t *in) {
    return &in->uniq;
}

static int api_timeout(rmq_instance_t *in) {
    return (int)rmq_conf_i64(in->conf, "mqClientApiTimeout");
}

/* ---- requests ------------------------------------------------------------------------ */

rmq_err_t rmq_instance_invoke_sync(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                   int timeout_ms, rmq_rem_cmd_t **resp) {
    if (req->language == RMQ_LANG_JAVA) req->language = RMQ_LANG_CPP;
    rmq_err_t e = rmq_rem_client_invoke_sync(in->rem, addr, req,
                                             timeout_ms > 0 ? timeout_ms : api_timeout(in), resp);
    if (e == RMQ_ERR__TIMEOUT || e == RMQ_ERR__CONN) rmq_instance_addr_failed(in, addr);
    return e;
}

rmq_err_t rmq_instance_invoke_json(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                   int timeout_ms, json_t **root) {
    *root = NULL;
    rmq_rem_cmd_t *resp = NULL;
    rmq_err_t e = rmq_instance_invoke_sync(in, addr, req, timeout_ms, &resp);
    if (e) return e;
    e = (rmq_err_t)resp->code;
    if (!e && resp->body) {
        json_error_t je;
        *root = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    }
    rmq_rem_cmd_destroy(resp);
    return e;
}

rmq_err_t rmq_instance_invoke_async(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req,
                                    int timeout_ms, rmq_rem_resp_cb cb, void *arg) {
    return rmq_rem_client_invoke_async(in->rem, addr, req,
                                       timeout_ms > 0 ? timeout_ms : api_timeout(in), cb, arg);
}

rmq_err_t rmq_instance_invoke_oneway(rmq_instance_t *in, const char *addr, rmq_rem_cmd_t *req) {
    return rmq_rem_client_invoke_oneway(in->rem, addr, req);
}

static rmq_rem_cmd_t *cmd_clone(const rmq_rem_cmd_t *req) {
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(req->code);
    if (!c) return NULL;
    c->language = req->language;
    c->version = req->version;
    c->flag = req->flag;
    c->serialize_type = req->serialize_type;
    c->has_ext = req->has_ext; /* the same header bytes for every NameServer tried */
    for (size_t i = 0; i < req->next; i++)
        if (rmq_rem_cmd_set(c, req->ext[i].key, req->ext[i].val)) goto fail;
    if (req->body_len && rmq_rem_cmd_set_body_copy(c, req->body, req->body_len)) goto fail;
    return c;
fail:
    rmq_rem_cmd_destroy(c);
    return NULL;
}

/* The one NameServer fail-over: the current NameServer, then each other one in turn on a
 * transport error; a success makes that one current. */
rmq_err_t rmq_instance_invoke_namesrv_ex(rmq_instance_t *in, rmq_rem_cmd_t *req, int timeout_ms,
                                         rmq_rem_cmd_t **resp, char *addr, size_t addr_n) {
    rmq_err_t e = RMQ_ERR__CONN;
    int start = atomic_load(&in->ns_cur);
    for (int k = 0; k < in->nns; k++) {
        int i = (start + k) % in->nns;
        rmq_rem_cmd_t *c = k + 1 < in->nns ? cmd_clone(req) : req;
        if (!c) {
            e = RMQ_ERR__NOMEM;
            break;
        }
        if (c == req) req = NULL;
        e = rmq_instance_invoke_sync(in, in->ns[i], c, timeout_ms, resp);
        if (e == RMQ_OK) {
            if (i != start) {
                atomic_store(&in->ns_cur, i);
                RMQ_ILOG_INFO(&in->log, MOD, "name server switched to %s", in->ns[i]);
            }
            break;
        }
        RMQ_ILOG_WARN(&in->log, MOD, "name server %s: %s", in->ns[i], rmq_strerror(e));
        if (addr && addr_n) rmq_strlcpy(addr, in->ns[i], addr_n);
        if (e != RMQ_ERR__CONN && e != RMQ_ERR__TIMEOUT) break;
    }
    rmq_rem_cmd_destroy(req);
    return e;
}

rmq_err_t rmq_instance_invoke_namesrv(rmq_instance_t *in, rmq_rem_cmd_t *req, int timeout_ms,
                                      rmq_rem_cmd_t **resp) {
    return rmq_instance_invoke_namesrv_ex(in, req, timeout_ms, resp, NULL, 0);
}

/* ---- routes ---------------------------------------------------------------------------- */

void rmq_topic_info_release(rmq_topic_info_t *ti) {
    if (!ti) return;
    if (atomic_fetch_sub(&ti->refs, 1) != 1) return;
    rmq_route_free(ti->route);
    free(ti->pub);
    free(ti->sub);
    free(ti);
}

/* route_mu held */
static void learn_brokers(rmq_instance_t *in, const rmq_route_t *r) {
    for (int i = 0; i < r->nb; i++) {
        const rmq_bdata_t *b = &r->b[i];
        rmq_bdata_t *slot = NULL;
        for (int k = 0; k < in->nbrokers; k++)
            if (strcmp(in->brokers[k].broker, b->broker) == 0) slot = &in->brokers[k];
        if (!slot) {
            if (in->nbrokers == in->cap_brokers) {
                int nc = in->cap_brokers ? in->cap_brokers * 2 : 8;
                rmq_bdata_t *nb = realloc(in->brokers, (size_t)nc * sizeof(*nb));
                if (!nb) return;
                in->brokers = nb;
                in->cap_brokers = nc;
            }
            slot = &in->brokers[in->nbrokers++];
        }
        *slot = *b;
    }
}

static rmq_err_t fetch_route(rmq_instance_t *in, const char *topic, rmq_route_t **out) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ROUTEINFO_BY_TOPIC);
    if (!req) return RMQ_ERR__NOMEM;
    req->language = RMQ_LANG_CPP;
    if (rmq_rem_cmd_set(req, "topic", topic)) {
        rmq_rem_cmd_destroy(req);
        return RMQ_ERR__NOMEM;
    }
    rmq_rem_cmd_t *resp = NULL;
    rmq_err_t e = rmq_instance_invoke_namesrv(in, req, 0, &resp);
    if (e) return e;
    e = (rmq_err_t)resp->code;
    if (e == RMQ_OK) {
        if (!resp->body || !resp->body_len)
            e = RMQ_ERR__BAD_MSG;
        else
            e = rmq_route_parse((const char *)resp->body, resp->body_len, out);
        if (e)
            RMQ_ILOG_WARN(&in->log, MOD, "route of %s: unreadable body (%s)", topic,
                          rmq_strerror(e));
    }
    rmq_rem_cmd_destroy(resp);
    return e;
}

static rmq_err_t build_info(rmq_instance_t *in, const char *topic, rmq_route_t *r, bool dflt,
                            rmq_topic_info_t **out) {
    rmq_topic_info_t *ti = calloc(1, sizeof(*ti));
    if (!ti) {
        rmq_route_free(r);
        return RMQ_ERR__NOMEM;
    }
    atomic_init(&ti->refs, 1);
    rmq_strlcpy(ti->topic, topic, sizeof(ti->topic));
    ti->route = r;
    ti->from_default = dflt;
    rmq_err_t e = rmq_route_pub_queues(
        r, topic, dflt ? (int)rmq_conf_i64(in->conf, "defaultTopicQueueNums") : 0, &ti->pub,
        &ti->npub);
    if (!e && !dflt) e = rmq_route_sub_queues(r, topic, &ti->sub, &ti->nsub);
    if (e) {
        rmq_topic_info_release(ti);
        return e;
    }
    *out = ti;
    return RMQ_OK;
}

/* Put ti in the cache (replacing topic's entry); takes one reference of ti. */
static void cache_put(rmq_instance_t *in, rmq_topic_info_t *ti) {
    rmq_topic_info_t *old = NULL;
    pthread_mutex_lock(&in->route_mu);
    learn_brokers(in, ti->route);
    int i;
    for (i = 0; i < in->ntopics; i++)
        if (strcmp(in->topics[i]->topic, ti->topic) == 0) break;
    if (i < in->ntopics) {
        old = in->topics[i];
        in->topics[i] = ti;
    } else {
        if (in->ntopics == in->cap_topics) {
            int nc = in->cap_topics ? in->cap_topics * 2 : 16;
            rmq_topic_info_t **nt = realloc(in->topics, (size_t)nc * sizeof(*nt));
            if (!nt) {
                pthread_mutex_unlock(&in->route_mu);
                rmq_topic_info_release(ti);
                return;
            }
            in->topics = nt;
            in->cap_topics = nc;
        }
        in->topics[in->ntopics++] = ti;
    }
    pthread_mutex_unlock(&in->route_mu);
    rmq_topic_info_release(old);
}

static rmq_topic_info_t *cache_get(rmq_instance_t *in, const char *topic) {
    rmq_topic_info_t *ti = NULL;
    pthread_mutex_lock(&in->route_mu);
    for (int i = 0; i < in->ntopics; i++) {
        if (strcmp(in->topics[i]->topic, topic) == 0) {
            ti = in->topics[i];
            atomic_fetch_add(&ti->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&in->route_mu);
    return ti;
}

rmq_err_t rmq_instance_route(rmq_instance_t *in, const char *topic, bool refresh,
                             bool allow_default, rmq_topic_info_t **out) {
    rmq_topic_info_t *ti = cache_get(in, topic);
    if (ti && !refresh && (!ti->from_default || !allow_default || ti->npub > 0)) {
        if (!ti->from_default || allow_default) {
            *out = ti;
            return RMQ_OK;
        }
    }
    rmq_route_t *r = NULL;
    rmq_err_t e = fetch_route(in, topic, &r);
    if (e == RMQ_OK) {
        rmq_topic_info_t *nti;
        e = build_info(in, topic, r, false, &nti);
        if (!e) {
            atomic_fetch_add(&nti->refs, 1);
            cache_put(in, nti);
            rmq_topic_info_release(ti);
            *out = nti;
            bool new_brokers = !ti;
            if (new_brokers) rmq_instance_heartbeat_soon(in);
            return RMQ_OK;
        }
    }
    if (e == RMQ_ERR_TOPIC_NOT_EXIST && allow_default) {
        /* the broker auto-creates the topic from TBW102 on the first send */
        const char *dt = rmq_conf_str(in->conf, "createTopicKey");
        rmq_route_t *dr = NULL;
        rmq_err_t de = fetch_route(in, dt, &dr);
        if (de == RMQ_OK) {
            /* TBW102 must carry PERM_INHERIT to be a template */
            for (int i = 0; i < dr->nq; i++)
                if (!(dr->q[i].perm & RMQ_PERM_INHERIT)) dr->q[i].perm &= ~RMQ_PERM_WRITE;
            rmq_topic_info_t *nti;
            de = build_info(in, topic, dr, true, &nti);
            if (!de) {
                atomic_fetch_add(&nti->refs, 1);
                cache_put(in, nti);
                rmq_topic_info_release(ti);
                *out = nti;
                rmq_instance_heartbeat_soon(in);
                return RMQ_OK;
            }
        }
    }
    if (ti && (e == RMQ_ERR__CONN || e == RMQ_ERR__TIMEOUT)) {
        *out = ti; /* NameServers unreachable: keep using what we had */
        return RMQ_OK;
    }
    rmq_topic_info_release(ti);
    return e == RMQ_ERR_TOPIC_NOT_EXIST ? RMQ_ERR__NO_ROUTE : e;
}

rmq_err_t rmq_instance_broker_addr(rmq_instance_t *in, const char *broker, char *addr, size_t n) {
    return rmq_instance_find_broker(in, broker, 0, true, addr, n, NULL);
}

/* route_mu held */
static bool addr_down(const rmq_instance_t *in, const char *addr, int64_t now) {
    for (size_t i = 0; i < RMQ_ARRAY_LEN(in->down); i++)
        if (in->down[i].until_ms > now && !strcmp(in->down[i].addr, addr)) return true;
    return false;
}

void rmq_instance_addr_failed(rmq_instance_t *in, const char *addr) {
    int64_t now = (int64_t)rmq_mono_ms();
    pthread_mutex_lock(&in->route_mu);
    size_t k = 0; /* this address's slot, else the oldest */
    for (size_t i = 0; i < RMQ_ARRAY_LEN(in->down); i++) {
        if (!strcmp(in->down[i].addr, addr)) {
            k = i;
            break;
        }
        if (in->down[i].until_ms < in->down[k].until_ms) k = i;
    }
    bool was = in->down[k].until_ms > now && !strcmp(in->down[k].addr, addr);
    rmq_strlcpy(in->down[k].addr, addr, sizeof in->down[k].addr);
    in->down[k].until_ms = now + RMQ_ADDR_DOWN_MS;
    pthread_mutex_unlock(&in->route_mu);
    if (!was)
        RMQ_ILOG_WARN(&in->log, MOD,
                      "broker %s unreachable: reads go to another address of its "
                      "set for %d s",
                      addr, RMQ_ADDR_DOWN_MS / 1000);
}

rmq_err_t rmq_instance_find_broker(rmq_instance_t *in, const char *broker, int64_t id,
                                   bool only_this, char *addr, size_t n, int64_t *got_id) {
    rmq_err_t e = RMQ_ERR__NOT_FOUND;
    pthread_mutex_lock(&in->route_mu);
    for (int i = 0; i < in->nbrokers; i++) {
        if (strcmp(in->brokers[i].broker, broker) != 0) continue;
        const rmq_bdata_t *b = &in->brokers[i];
        const char *a = rmq_bdata_addr(b, id, only_this, got_id);
        int64_t now = (int64_t)rmq_mono_ms();
        if (a && !only_this && addr_down(in, a, now)) {
            /* a read that may go anywhere in the set: the lowest id that is not down */
            int k = -1;
            for (int j = 0; j < b->naddr; j++)
                if (!addr_down(in, b->addr[j].addr, now) &&
                    (k < 0 || b->addr[j].id < b->addr[k].id))
                    k = j;
            if (k >= 0) {
                a = b->addr[k].addr;
                if (got_id) *got_id = b->addr[k].id;
            }
        }
        if (a) {
            rmq_strlcpy(addr, a, n);
            e = RMQ_OK;
        }
        break;
    }
    pthread_mutex_unlock(&in->route_mu);
    return e;
}

static bool has_consumers(rmq_instance_t *in) {
    bool c = false;
    pthread_rwlock_rdlock(&in->members_rw);
    for (rmq_member_t *m = in->members; m; m = m->next)
        if (m->consumer) c = true;
    pthread_rwlock_unlock(&in->members_rw);
    return c;
}

rmq_err_t rmq_instance_broker_addrs(rmq_instance_t *in, char ***addrs, int *n) {
    bool all = has_consumers(in);
    pthread_mutex_lock(&in->route_mu);
    int cap = 1;
    for (int i = 0; i < in->nbrokers; i++) cap += in->brokers[i].naddr;
    char **a = calloc((size_t)cap, sizeof(char *));
    int cnt = 0;
    if (a) {
        for (int i = 0; i < in->nbrokers; i++) {
            const rmq_bdata_t *b = &in->brokers[i];
            for (int k = 0; k < b->naddr; k++) {
                if (!all && b->addr[k].id != 0) continue;
                a[cnt] = strdup(b->addr[k].addr);
                if (a[cnt]) cnt++;
            }
        }
    }
    pthread_mutex_unlock(&in->route_mu);
    if (!a) return RMQ_ERR__NOMEM;
    *addrs = a;
    *n = cnt;
    return RMQ_OK;
}

static void free_addrs(char **a, int n) {
    for (int i = 0; i < n; i++) free(a[i]);
    free(a);
}

/* ---- heartbeats ---------------------------------------------------------------------- */

static char *heartbeat_body(rmq_instance_t *in) {
    json_t *root = json_object();
    json_t *prods = json_array(), *cons = json_array();
    json_object_set_new(root, "clientID", json_string(in->client_id));
    pthread_rwlock_rdlock(&in->members_rw);
    bool any_producer = false;
    for (rmq_member_t *m = in->members; m; m = m->next) {
        if (m->consumer) {
            if (m->heartbeat_data) m->heartbeat_data(m->owner, cons);
        } else if (!m->admin) {
            json_array_append_new(prods, json_pack("{s:s}", "groupName", m->group));
            any_producer = true;
        }
    }
    pthread_rwlock_unlock(&in->members_rw);
    (void)any_producer;
    json_array_append_new(prods, json_pack("{s:s}", "groupName", RMQ_CLIENT_INNER_PRODUCER));
    json_object_set_new(root, "consumerDataSet", cons);
    json_object_set_new(root, "producerDataSet", prods);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* One heartbeat round: the answers still awaited, and the instance whose logger reports them. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int refs;
    rmq_instance_t *in;
} hb_wait_t;

static void hb_wait_put(hb_wait_t *w) {
    pthread_mutex_lock(&w->mu);
    bool last = --w->refs == 0;
    w->left--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
    }
}

static void on_hb_resp(rmq_err_t err, rmq_rem_cmd_t *resp, void *arg) {
    hb_wait_t *w = arg;
    if (err && w) RMQ_ILOG_DEBUG(&w->in->log, MOD, "heartbeat: %s", rmq_strerror(err));
    rmq_rem_cmd_destroy(resp);
    if (w) hb_wait_put(w);
}

static void send_heartbeats(rmq_instance_t *in, bool wait) {
    atomic_store(&in->hb_pending, false);
    char **addrs = NULL;
    int n = 0;
    if (rmq_instance_broker_addrs(in, &addrs, &n) || n == 0) {
        if (addrs) free_addrs(addrs, n);
        return;
    }
    char *body = heartbeat_body(in);
    if (!body) {
        free_addrs(addrs, n);
        return;
    }
    size_t blen = strlen(body);
    hb_wait_t *w = calloc(1, sizeof(*w)); /* NULL: answers go unwaited and unlogged */
    if (w) {
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        w->left = n;
        w->refs = n + 1;
        w->in = in;
    }
    for (int i = 0; i < n; i++) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_HEART_BEAT);
        if (req) {
            req->language = RMQ_LANG_CPP;
            if (rmq_rem_cmd_set_body_copy(req, body, blen) == RMQ_OK &&
                rmq_instance_invoke_async(in, addrs[i], req, 3000, on_hb_resp, w) == RMQ_OK)
                continue;
            if (req) rmq_rem_cmd_destroy(req);
        }
        if (w) hb_wait_put(w);
    }
    free(body);
    free_addrs(addrs, n);
    if (w && wait) {
        pthread_mutex_lock(&w->mu);
        while (w->left > 0) pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
    if (w) hb_wait_put(w);
}

static void hb_task(void *arg) {
    send_heartbeats(arg, false);
}

void rmq_instance_heartbeat_soon(rmq_instance_t *in) {
    if (atomic_exchange(&in->hb_pending, true)) return;
    rmq_instance_schedule(in, 0, hb_task, in, NULL);
}

void rmq_instance_heartbeat_sync(rmq_instance_t *in) {
    send_heartbeats(in, true);
}

/* ---- periodic tasks ----------------------------------------------------------------- */

static void periodic_route(void *arg) {
    rmq_instance_t *in = arg;
    char(*names)[128] = NULL;
    int n = 0;
    pthread_mutex_lock(&in->route_mu);
    names = malloc((size_t)(in->ntopics ? in->ntopics : 1) * sizeof(*names));
    if (names)
        for (int i = 0; i < in->ntopics; i++) rmq_strlcpy(names[n++], in->topics[i]->topic, 128);
    pthread_mutex_unlock(&in->route_mu);
    for (int i = 0; i < n; i++) {
        rmq_topic_info_t *ti = cache_get(in, names[i]);
        bool dflt = ti && ti->from_default;
        rmq_topic_info_release(ti);
        ti = NULL;
        if (rmq_instance_route(in, names[i], true, dflt, &ti) == RMQ_OK) rmq_topic_info_release(ti);
    }
    free(names);
    rmq_instance_schedule(in, rmq_conf_i64(in->conf, "pollNameServerInterval"), periodic_route, in,
                          NULL);
}

static void periodic_hb(void *arg) {
    rmq_instance_t *in = arg;
    send_heartbeats(in, false);
    rmq_instance_schedule(in, rmq_conf_i64(in->conf, "heartbeatBrokerInterval"), periodic_hb, in,
                          NULL);
}

static void periodic_rebalance(void *arg) {
    rmq_instance_t *in = arg;
    pthread_rwlock_rdlock(&in->members_rw);
    for (rmq_member_t *m = in->members; m; m = m->next)
        if (m->consumer && m->rebalance) m->rebalance(m->owner);
    pthread_rwlock_unlock(&in->members_rw);
    rmq_instance_schedule(in, rmq_conf_i64(in->conf, "rebalanceInterval"), periodic_rebalance, in,
                          NULL);
}

static void periodic_persist(void *arg) {
    rmq_instance_t *in = arg;
    pthread_rwlock_rdlock(&in->members_rw);
    for (rmq_member_t *m = in->members; m; m = m->next)
        if (m->consumer && m->persist) m->persist(m->owner);
    pthread_rwlock_unlock(&in->members_rw);
    rmq_instance_schedule(in, rmq_conf_i64(in->conf, "persistConsumerOffsetInterval"),
                          periodic_persist, in, NULL);
}

/* ---- broker -> client requests ------------------------------------------------------- */

typedef struct {
    rmq_instance_t *in;
    char group[256];
} notify_t;

static void notify_task(void *arg) {
    notify_t *nt = arg;
    pthread_rwlock_rdlock(&nt->in->members_rw);
    for (rmq_member_t *m = nt->in->members; m; m = m->next)
        if (m->consumer && m->rebalance && strcmp(m->group, nt->group) == 0) m->rebalance(m->owner);
    pthread_rwlock_unlock(&nt->in->members_rw);
    free(nt);
}

typedef struct {
    rmq_instance_t *in;
    rmq_rem_conn_t *conn;
    rmq_msg_t *msg;
    int64_t tran_state_offset, commitlog_offset;
    char msg_id[128], txn_id[128];
    char group[256];
} check_t;

static void check_task(void *arg) {
    check_t *ck = arg;
    rmq_instance_t *in = ck->in;
    rmq_txn_state_t st = RMQ_TXN_UNKNOWN;
    bool found = false;
    pthread_rwlock_rdlock(&in->members_rw);
    for (rmq_member_t *m = in->members; m; m = m->next) {
        if (m->consumer || !m->txn_check) continue;
        if (ck->group[0] && strcmp(m->group, ck->group) != 0) continue;
        st = m->txn_check(m->owner, ck->msg);
        found = true;
        break;
    }
    pthread_rwlock_unlock(&in->members_rw);
    if (!found) {
        RMQ_ILOG_WARN(&in->log, MOD,
                      "CHECK_TRANSACTION_STATE for group %s: no check-back registered", ck->group);
    } else {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_END_TRANSACTION);
        if (req) {
            req->language = RMQ_LANG_CPP;
            req->flag |= RMQ_REM_FLAG_ONEWAY;
            int cor = st == RMQ_TXN_COMMIT ? 8 : st == RMQ_TXN_ROLLBACK ? 12 : 0;
            rmq_err_t e = rmq_rem_cmd_set(req, "producerGroup", ck->group);
            if (!e) e = rmq_rem_cmd_set_i64(req, "tranStateTableOffset", ck->tran_state_offset);
            if (!e) e = rmq_rem_cmd_set_i64(req, "commitLogOffset", ck->commitlog_offset);
            if (!e) e = rmq_rem_cmd_set_i64(req, "commitOrRollback", cor);
            if (!e) e = rmq_rem_cmd_set_bool(req, "fromTransactionCheck", true);
            if (!e) e = rmq_rem_cmd_set(req, "msgId", ck->msg_id);
            if (!e && ck->txn_id[0]) e = rmq_rem_cmd_set(req, "transactionId", ck->txn_id);
            if (e)
                rmq_rem_cmd_destroy(req);
            else
                rmq_rem_conn_post(ck->conn, req); /* back on the connection that asked */
        }
    }
    rmq_rem_conn_unref(ck->conn);
    rmq_msg_destroy(ck->msg);
    free(ck);
}

typedef struct {
    rmq_instance_t *in;
    char group[256], topic[128];
    rmq_mq_t *mqs;
    int64_t *offs;
    int n;
} reset_t;

static void reset_task(void *arg) {
    reset_t *rt = arg;
    pthread_rwlock_rdlock(&rt->in->members_rw);
    for (rmq_member_t *m = rt->in->members; m; m = m->next)
        if (m->consumer && m->reset_offset && strcmp(m->group, rt->group) == 0)
            m->reset_offset(m->owner, rt->topic, rt->mqs, rt->offs, rt->n);
    pthread_rwlock_unlock(&rt->in->members_rw);
    free(rt->mqs);
    free(rt->offs);
    free(rt);
}

/* GET_CONSUMER_RUNNING_INFO / CONSUME_MESSAGE_DIRECTLY: answered by the group's member on a
 * service thread, the response posted back on the connection that asked. */
typedef struct {
    rmq_instance_t *in;
    rmq_rem_conn_t *conn; /* referenced */
    rmq_rem_cmd_t *req;
    rmq_msg_t *msg; /* 309: the message to consume */
} call_t;

static void call_free(void *arg) {
    call_t *ct = arg;
    rmq_rem_conn_unref(ct->conn);
    rmq_rem_cmd_destroy(ct->req);
    rmq_msg_destroy(ct->msg);
    free(ct);
}

static void call_task(void *arg) {
    call_t *ct = arg;
    rmq_instance_t *in = ct->in;
    const char *group = rmq_rem_cmd_get(ct->req, "consumerGroup");
    rmq_buf_t out;
    rmq_buf_init(&out);
    rmq_err_t e = RMQ_OK;
    bool found = false;
    pthread_rwlock_rdlock(&in->members_rw);
    for (rmq_member_t *m = in->members; m && group; m = m->next) {
        if (!m->consumer || strcmp(m->group, group) != 0) continue;
        if (ct->req->code == RMQ_REQ_GET_CONSUMER_RUNNING_INFO && m->running_info) {
            bool js = false;
            rmq_rem_cmd_get_bool(ct->req, "jstackEnable", &js);
            e = m->running_info(m->owner, js, &out);
            found = true;
        } else if (ct->req->code == RMQ_REQ_CONSUME_MESSAGE_DIRECTLY && m->consume_direct) {
            const char *bn = rmq_rem_cmd_get(ct->req, "brokerName");
            e = m->consume_direct(m->owner, ct->msg, bn ? bn : "", &out);
            found = true;
        }
        if (found) break;
    }
    pthread_rwlock_unlock(&in->members_rw);
    rmq_rem_cmd_t *resp;
    if (!found) {
        char remark[400];
        snprintf(remark, sizeof remark, "The Consumer Group <%s> not exist in this consumer",
                 group ? group : "");
        resp = rmq_rem_cmd_new_response(ct->req, RMQ_ERR_SYSTEM_ERROR, remark);
    } else if (e) {
        resp = rmq_rem_cmd_new_response(ct->req, RMQ_ERR_SYSTEM_ERROR, rmq_strerror(e));
    } else {
        resp = rmq_rem_cmd_new_response(ct->req, RMQ_OK, NULL);
        if (resp) {
            size_t n = out.len;
            rmq_rem_cmd_set_body(resp, rmq_buf_detach(&out, NULL), n);
        }
    }
    rmq_buf_fini(&out);
    if (resp) {
        resp->language = RMQ_LANG_CPP;
        rmq_rem_conn_post(ct->conn, resp);
    }
    call_free(ct);
}

static rmq_rem_cmd_t *reply(rmq_rem_cmd_t *req, int code, const char *remark) {
    rmq_rem_cmd_t *r = NULL;
    if (!rmq_rem_cmd_is_oneway(req)) r = rmq_rem_cmd_new_response(req, code, remark);
    rmq_rem_cmd_destroy(req);
    return r;
}

/* Loop thread: only parse and hand over. */
static rmq_rem_cmd_t *on_request(rmq_rem_conn_t *conn, rmq_rem_cmd_t *req, void *arg) {
    rmq_instance_t *in = arg;
    switch (req->code) {
    case RMQ_REQ_NOTIFY_CONSUMER_IDS_CHANGED: {
        const char *g = rmq_rem_cmd_get(req, "consumerGroup");
        notify_t *nt = g ? calloc(1, sizeof(*nt)) : NULL;
        if (nt) {
            nt->in = in;
            rmq_strlcpy(nt->group, g, sizeof(nt->group));
            /* free when the instance stops before the task runs */
            if (rmq_instance_schedule_ex(in, 0, notify_task, free, nt, NULL)) free(nt);
        }
        RMQ_ILOG_INFO(&in->log, MOD, "consumer ids of %s changed", g ? g : "?");
        return reply(req, RMQ_OK, NULL);
    }
    case RMQ_REQ_CHECK_TRANSACTION_STATE: {
        rmq_msg_t **msgs = NULL;
        size_t n = 0;
        if (!req->body || rmq_msgs_decode(req->body, req->body_len, &msgs, &n) || n == 0) {
            if (msgs) rmq_msgs_destroy(msgs, n);
            RMQ_ILOG_WARN(&in->log, MOD, "CHECK_TRANSACTION_STATE without a readable message");
            return reply(req, RMQ_ERR_SYSTEM_ERROR, "bad body");
        }
        check_t *ck = calloc(1, sizeof(*ck));
        if (!ck) {
            rmq_msgs_destroy(msgs, n);
            return reply(req, RMQ_ERR_SYSTEM_ERROR, "no memory");
        }
        ck->in = in;
        ck->msg = msgs[0];
        for (size_t i = 1; i < n; i++) rmq_msg_destroy(msgs[i]);
        free(msgs);
        rmq_rem_cmd_get_i64(req, "tranStateTableOffset", &ck->tran_state_offset);
        rmq_rem_cmd_get_i64(req, "commitLogOffset", &ck->commitlog_offset);
        const char *uk = rmq_msg_property(ck->msg, RMQ_PROP_UNIQ_KEY);
        const char *mid = rmq_rem_cmd_get(req, "msgId");
        rmq_strlcpy(ck->msg_id, uk ? uk : mid ? mid : "", sizeof(ck->msg_id));
        const char *tid = rmq_rem_cmd_get(req, "transactionId");
        rmq_strlcpy(ck->txn_id, tid ? tid : ck->msg_id, sizeof(ck->txn_id));
        const char *pg = rmq_msg_property(ck->msg, RMQ_PROP_PGROUP);
        rmq_strlcpy(ck->group, pg ? pg : "", sizeof(ck->group));
        rmq_rem_conn_ref(conn);
        ck->conn = conn;
        if (rmq_instance_post_cb(in, check_task, ck)) {
            rmq_rem_conn_unref(conn);
            rmq_msg_destroy(ck->msg);
            free(ck);
        }
        return reply(req, RMQ_OK, NULL);
    }
    case RMQ_REQ_RESET_CONSUMER_CLIENT_OFFSET: {
        const char *g = rmq_rem_cmd_get(req, "group"), *t = rmq_rem_cmd_get(req, "topic");
        reset_t *rt = calloc(1, sizeof(*rt));
        if (!g || !t || !rt || !req->body ||
            rmq_reset_body_parse((const char *)req->body, req->body_len, &rt->mqs, &rt->offs,
                                 &rt->n)) {
            free(rt);
            RMQ_ILOG_WARN(&in->log, MOD, "RESET_CONSUMER_CLIENT_OFFSET unreadable");
            return reply(req, RMQ_ERR_SYSTEM_ERROR, "bad request");
        }
        rt->in = in;
        rmq_strlcpy(rt->group, g, sizeof(rt->group));
        rmq_strlcpy(rt->topic, t, sizeof(rt->topic));
        RMQ_ILOG_INFO(&in->log, MOD, "reset offsets of %s/%s: %d queues", g, t, rt->n);
        if (rmq_instance_schedule(in, 0, reset_task, rt, NULL)) {
            free(rt->mqs);
            free(rt->offs);
            free(rt);
        }
        return reply(req, RMQ_OK, NULL);
    }
    case RMQ_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT: {
        rmq_msg_t *m = NULL;
        if (rmq_reply_push_decode(req, &m) != RMQ_OK) {
            RMQ_ILOG_WARN(&in->log, MOD, "PUSH_REPLY_MESSAGE_TO_CLIENT unreadable");
            return reply(req, RMQ_ERR_SYSTEM_ERROR, "process reply message fail");
        }
        const char *corr = rmq_msg_property(m, RMQ_PROP_CORRELATION_ID);
        char cid[64];
        rmq_strlcpy(cid, corr ? corr : "", sizeof cid);
        const char *bh = rmq_rem_cmd_get(req, "bornHost");
        if (!rmq_reqtab_complete(in->reqtab, cid, m, RMQ_OK))
            RMQ_ILOG_WARN(&in->log, MOD,
                          "receive reply message, but not matched any request, CorrelationId: "
                          "%s , reply from host: %s",
                          cid, bh ? bh : "?");
        return reply(req, RMQ_OK, NULL);
    }
    case RMQ_REQ_GET_CONSUMER_RUNNING_INFO:
    case RMQ_REQ_CONSUME_MESSAGE_DIRECTLY: {
        call_t *ct = calloc(1, sizeof *ct);
        if (!ct) return reply(req, RMQ_ERR_SYSTEM_ERROR, "no memory");
        if (req->code == RMQ_REQ_CONSUME_MESSAGE_DIRECTLY) {
            rmq_msg_t **msgs = NULL;
            size_t n = 0;
            if (!req->body || rmq_msgs_decode(req->body, req->body_len, &msgs, &n) || n == 0) {
                if (msgs) rmq_msgs_destroy(msgs, n);
                free(ct);
                RMQ_ILOG_WARN(&in->log, MOD, "CONSUME_MESSAGE_DIRECTLY without a readable message");
                return reply(req, RMQ_ERR_SYSTEM_ERROR, "bad body");
            }
            ct->msg = msgs[0];
            for (size_t i = 1; i < n; i++) rmq_msg_destroy(msgs[i]);
            free(msgs);
        }
        ct->in = in;
        ct->req = req; /* kept for the response */
        ct->conn = conn;
        rmq_rem_conn_ref(conn);
        if (rmq_instance_schedule_ex(in, 0, call_task, call_free, ct, NULL)) call_free(ct);
        return NULL;
    }
    default: {
        char remark[64];
        snprintf(remark, sizeof remark, " request type %d not supported", req->code);
        return reply(req, RMQ_ERR_REQUEST_CODE_NOT_SUPPORTED, remark);
    }
    }
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void instance_free(rmq_instance_t *in) {
    rmq_rem_client_destroy(in->rem);
    rmq_reqtab_destroy(in->reqtab);     /* no more pushes: the connections are gone */
    for (int i = 0; i < in->nheap; i++) /* never ran: let their owners release */
        if (in->heap[i].drop) in->heap[i].drop(in->heap[i].arg);
    for (int i = 0; i < in->nns; i++) free(in->ns[i]);
    free(in->ns);
    for (int i = 0; i < in->ntopics; i++) rmq_topic_info_release(in->topics[i]);
    free(in->topics);
    free(in->brokers);
    free(in->heap);
    rmq_conf_destroy(in->conf);
    pthread_rwlock_destroy(&in->members_rw);
    pthread_mutex_destroy(&in->route_mu);
    pthread_mutex_destroy(&in->sched_mu);
    pthread_cond_destroy(&in->sched_cv);
    pthread_cond_destroy(&in->sched_done_cv);
    rmq_wake_fini(&in->cb_wake);
    pthread_mutex_destroy(&in->uniq.mu);
    free(in);
}

static void stop_threads(rmq_instance_t *in, int nsched, bool cb) {
    pthread_mutex_lock(&in->sched_mu);
    in->stopping = true;
    pthread_cond_broadcast(&in->sched_cv);
    pthread_mutex_unlock(&in->sched_mu);
    for (int i = 0; i < nsched; i++) pthread_join(in->sched_th[i], NULL);
    if (cb) {
        atomic_store(&in->cb_stop, true);
        rmq_wake_signal(&in->cb_wake);
        pthread_join(in->cb_th, NULL);
    }
}

/* The TLS keys of c (and its tls.config.file) as remoting takes them; err filled on failure,
 * including certificate files that do not load. *t needs rmq_rem_tls_cfg_free either way. */
static int tls_cfg_from_conf(const rmq_conf_t *c, rmq_rem_tls_cfg_t *t, char *err, size_t n) {
    static const char *const keys[] = {"tls.client.authServer",    "tls.client.certPath",
                                       "tls.client.keyPath",       "tls.client.keyPassword",
                                       "tls.client.trustCertPath", "tls.test.mode.enable",
                                       "tls.handshake.timeout",    "tls.config.file"};
    rmq_rem_tls_cfg_defaults(t);
    for (size_t i = 0; i < RMQ_ARRAY_LEN(keys); i++) {
        const char *v = rmq_conf_get(c, keys[i]);
        if (v && rmq_rem_tls_cfg_set(t, keys[i], v, err, n)) return -1;
    }
    t->enable = rmq_conf_bool(c, "useTLS");
    if (rmq_rem_tls_cfg_load_file(t, err, n)) return -1;
    if (!t->enable) return 0;
    rmq_rem_tls_ctx_t *x = NULL; /* load the files now: a bad one fails the constructor */
    if (rmq_rem_tls_ctx_new(t, false, &x, err, n)) return -1;
    rmq_rem_tls_ctx_destroy(x);
    return 0;
}

static rmq_instance_t *instance_new(const rmq_conf_t *c, const char *key, const char *inst_name,
                                    char *err, size_t n) {
    rmq_instance_t *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    rmq_strlcpy(in->key, key, sizeof(in->key));
    pthread_rwlock_init(&in->members_rw, NULL);
    pthread_mutex_init(&in->route_mu, NULL);
    pthread_mutex_init(&in->sched_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&in->sched_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&in->sched_done_cv, NULL);
    rmq_wake_init(&in->cb_wake);
    in->conf = rmq_conf_dup(c);
    in->log = rmq_conf_logger(c);
    in->reqtab = rmq_reqtab_new();
    if (!in->reqtab) {
        snprintf(err, n, "out of memory");
        goto fail_early;
    }
    /* NameServer list */
    const char *ns = rmq_conf_str(c, "namesrvAddr");
    if (!ns) ns = getenv("NAMESRV_ADDR");
    if (!ns || !*ns) {
        snprintf(err, n, "namesrvAddr is not set");
        goto fail_early;
    }
    char *dup = strdup(ns), *save = NULL;
    if (!dup) goto fail_early;
    for (char *it = strtok_r(dup, ";", &save); it; it = strtok_r(NULL, ";", &save)) {
        while (*it == ' ') it++;
        if (!*it) continue;
        char **nn = realloc(in->ns, (size_t)(in->nns + 1) * sizeof(char *));
        if (!nn) break;
        in->ns = nn;
        in->ns[in->nns++] = strdup(it);
    }
    free(dup);
    if (in->nns == 0 || !in->conf) {
        snprintf(err, n, "namesrvAddr \"%s\" has no address", ns);
        goto fail_early;
    }
    atomic_init(&in->ns_cur, 0); /* the first listed; moves on only after a transport error */
    /* client id: ip@instanceName, DEFAULT -> pid#nanotime as Java 4.9 */
    uint32_t ip = rmq_local_ipv4();
    char ipbuf[INET_ADDRSTRLEN] = "127.0.0.1";
    if (ip) inet_ntop(AF_INET, &ip, ipbuf, sizeof ipbuf);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (strcmp(inst_name, "DEFAULT") == 0)
        snprintf(in->client_id, sizeof in->client_id, "%s@%d#%lld", ipbuf, (int)getpid(),
                 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    else
        snprintf(in->client_id, sizeof in->client_id, "%s@%.200s", ipbuf, inst_name);
    if (!ip) ip = (uint32_t)rmq_now_ms(); /* "fake ip" as Java when none is found */
    rmq_uniq_init(&in->uniq, ip, (uint16_t)getpid(),
                  (int32_t)(((uintptr_t)in >> 4) ^ (uint32_t)ts.tv_nsec));
    /* the instance's connections log to its own sink, as everything else it does */
    rmq_rem_tls_cfg_t tls;
    if (tls_cfg_from_conf(c, &tls, err, n)) {
        rmq_rem_tls_cfg_free(&tls);
        goto fail_early;
    }
    rmq_rem_client_cfg_t rc = {.name = "rmq-client",
                               .log = &in->log,
                               .tls = &tls,
                               .access_key = rmq_conf_str(in->conf, "accessKey"),
                               .secret_key = rmq_conf_str(in->conf, "secretKey"),
                               .security_token = rmq_conf_str(in->conf, "securityToken"),
                               .on_iteration_end = cb_iteration_end,
                               .iteration_arg = in};
    rmq_err_t e = rmq_rem_client_new(NULL, &rc, &in->rem);
    rmq_rem_tls_cfg_free(&tls);
    if (e == RMQ_ERR__CONFIG) {
        snprintf(err, n, "TLS configuration refused (see the log)");
        goto fail_early;
    }
    if (e) {
        snprintf(err, n, "remoting client: %s", rmq_strerror(e));
        goto fail_early;
    }
    rmq_rem_client_set_handler(in->rem, on_request, in);
    int started = 0;
    for (; started < SCHED_THREADS; started++) {
        sched_arg_t *sa = malloc(sizeof(*sa));
        if (!sa) break;
        sa->in = in;
        sa->idx = started;
        if (pthread_create(&in->sched_th[started], NULL, sched_main, sa)) {
            free(sa);
            break;
        }
    }
    if (started < SCHED_THREADS || pthread_create(&in->cb_th, NULL, cb_main, in)) {
        snprintf(err, n, "cannot start threads");
        stop_threads(in, started, false);
        instance_free(in);
        return NULL;
    }
    /* first runs as Java: routes at once, heartbeat after 1 s, offsets after 10 s */
    rmq_instance_schedule(in, rmq_conf_i64(c, "pollNameServerInterval"), periodic_route, in, NULL);
    rmq_instance_schedule(in, 1000, periodic_hb, in, NULL);
    rmq_instance_schedule(in, rmq_conf_i64(c, "rebalanceInterval"), periodic_rebalance, in, NULL);
    rmq_instance_schedule(in, RMQ_MIN(10000, rmq_conf_i64(c, "persistConsumerOffsetInterval")),
                          periodic_persist, in, NULL);
    RMQ_ILOG_INFO(&in->log, MOD, "client instance %s started (namesrv %s)", in->client_id, ns);
    return in;
fail_early:
    if (!err[0]) snprintf(err, n, "out of memory");
    instance_free(in);
    return NULL;
}

/* FNV-1a over useTLS and the tls.* values of c (0 without TLS). */
static uint64_t tls_conf_hash(const rmq_conf_t *c) {
    static const char *const keys[] = {"tls.client.authServer",    "tls.client.certPath",
                                       "tls.client.keyPath",       "tls.client.keyPassword",
                                       "tls.client.trustCertPath", "tls.test.mode.enable",
                                       "tls.handshake.timeout",    "tls.config.file"};
    if (!rmq_conf_bool(c, "useTLS")) return 0;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < RMQ_ARRAY_LEN(keys); i++) {
        const char *v = rmq_conf_get(c, keys[i]);
        for (const char *p = v ? v : "\x01"; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h ? h : 1;
}

rmq_instance_t *rmq_instance_get(const rmq_conf_t *c, rmq_member_t *m, char *err, size_t n) {
    char dummy[8];
    if (!err || !n) {
        err = dummy;
        n = sizeof dummy;
    }
    err[0] = 0;
    const char *ns = rmq_conf_str(c, "namesrvAddr");
    if (!ns) ns = getenv("NAMESRV_ADDR");
    const char *iname = rmq_conf_str(c, "instanceName");
    char key[600];
    /* connections differ with the TLS keys: clients whose TLS settings differ share no
     * instance (a plaintext producer beside a TLS one stays plaintext) */
    snprintf(key, sizeof key, "%s|%s|tls:%016" PRIx64, ns ? ns : "", iname, tls_conf_hash(c));
    pthread_mutex_lock(&registry_mu);
    rmq_instance_t *in = NULL;
    rmq_logger_t log = rmq_conf_logger(c);
    for (rmq_instance_t *it = registry; it && !in; it = it->next_reg) {
        if (strcmp(it->key, key) != 0 || !rmq_logger_same(&it->log, &log)) continue;
        bool clash = false;
        pthread_rwlock_rdlock(&it->members_rw);
        for (rmq_member_t *x = it->members; x; x = x->next)
            if (!m->admin && !x->admin && x->consumer == m->consumer &&
                strcmp(x->group, m->group) == 0)
                clash = true;
        pthread_rwlock_unlock(&it->members_rw);
        if (!clash) in = it;
    }
    if (!in) {
        /* a clash (same group, or another log sink) under a named instance gets a derived
         * name so the client ids differ */
        char name[300];
        bool taken = false;
        for (rmq_instance_t *it = registry; it; it = it->next_reg)
            if (strcmp(it->key, key) == 0) taken = true;
        if (taken && strcmp(iname, "DEFAULT") != 0)
            snprintf(name, sizeof name, "%s#%d", iname, (int)(rmq_mono_us() % 1000000));
        else
            rmq_strlcpy(name, iname, sizeof name);
        in = instance_new(c, key, name, err, n);
        if (!in) {
            pthread_mutex_unlock(&registry_mu);
            return NULL;
        }
        in->next_reg = registry;
        registry = in;
    }
    in->refs++;
    pthread_rwlock_wrlock(&in->members_rw);
    m->next = in->members;
    in->members = m;
    pthread_rwlock_unlock(&in->members_rw);
    pthread_mutex_unlock(&registry_mu);
    return in;
}

static void unregister_client(rmq_instance_t *in, rmq_member_t *m) {
    char **addrs = NULL;
    int n = 0;
    if (rmq_instance_broker_addrs(in, &addrs, &n)) return;
    for (int i = 0; i < n; i++) {
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UNREGISTER_CLIENT);
        if (!req) continue;
        req->language = RMQ_LANG_CPP;
        rmq_rem_cmd_set(req, "clientID", in->client_id);
        rmq_rem_cmd_set(req, m->consumer ? "consumerGroup" : "producerGroup", m->group);
        rmq_rem_cmd_t *resp = NULL;
        if (rmq_instance_invoke_sync(in, addrs[i], req, 3000, &resp) == RMQ_OK)
            rmq_rem_cmd_destroy(resp);
    }
    free_addrs(addrs, n);
}

void rmq_instance_release(rmq_instance_t *in, rmq_member_t *m) {
    if (!in) return;
    rmq_instance_cancel(in, m->owner);
    pthread_rwlock_wrlock(&in->members_rw);
    for (rmq_member_t **pp = &in->members; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    pthread_rwlock_unlock(&in->members_rw);
    if (!m->admin) unregister_client(in, m);
    pthread_mutex_lock(&registry_mu);
    bool last = --in->refs == 0;
    if (last) {
        for (rmq_instance_t **pp = &registry; *pp; pp = &(*pp)->next_reg) {
            if (*pp == in) {
                *pp = in->next_reg;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (!last) return;
    stop_threads(in, SCHED_THREADS, true);
    RMQ_ILOG_INFO(&in->log, MOD, "client instance %s stopped", in->client_id);
    instance_free(in);
}
