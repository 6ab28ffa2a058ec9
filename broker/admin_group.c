/* CLONE_GROUP_OFFSET (admin_group.h). The offsets are copied queue by queue into destGroup's
 * entries (existing ones overwritten, others kept) and persisted with the next offset flush. */
#include "broker/admin_group.h"

#include <stdlib.h>
#include <string.h>

#include "broker/clients.h"
#include "broker/offset.h"
#include "broker/topic.h"
#include "broker/util.h"
#include "common/log.h"

typedef struct {
    const char *src, *topic; /* topic NULL: every topic of src */
    char **topics;
    size_t n, cap;
} pick_t;

static void pick_topic(const char *topic, const char *group, const int *qids, const int64_t *offs,
                       size_t n, void *arg) {
    pick_t *p = arg;
    if (strcmp(group, p->src) != 0 || (p->topic && strcmp(topic, p->topic) != 0)) return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        char **t = realloc(p->topics, cap * sizeof *t);
        if (!t) return;
        p->topics = t;
        p->cap = cap;
    }
    if ((p->topics[p->n] = strdup(topic))) p->n++;
}

typedef struct {
    const char *src, *topic;
    int *qids;
    int64_t *offs;
    size_t n;
} copy_t;

static void take_offsets(const char *topic, const char *group, const int *qids, const int64_t *offs,
                         size_t n, void *arg) {
    copy_t *c = arg;
    if (c->qids || strcmp(group, c->src) != 0 || strcmp(topic, c->topic) != 0) return;
    c->qids = malloc(n * sizeof *c->qids + 1);
    c->offs = malloc(n * sizeof *c->offs + 1);
    if (!c->qids || !c->offs) return;
    memcpy(c->qids, qids, n * sizeof *qids);
    memcpy(c->offs, offs, n * sizeof *offs);
    c->n = n;
}

/* Does src have consumers online whose subscriptions leave topic out? */
static bool online_elsewhere(rmq_broker_ctx_t *b, const char *src, const char *topic) {
    if (rmq_broker_clients_subscription(b->clients, src, topic)) return false;
    rmq_rem_conn_t **conns = NULL;
    int *langs = NULL, *versions = NULL;
    size_t n = rmq_broker_clients_group_conns(b->clients, src, &conns, &langs, &versions);
    free(conns);
    free(langs);
    free(versions);
    return n > 0;
}

RMQ_BROKER_HANDLER(rmq_broker_admin_on_clone_group_offset) {
    const char *src, *dest, *topic = rmq_rem_cmd_get(req, "topic");
    bool offline = false;
    rmq_rem_cmd_t *err = rmq_broker_need_str(req, "srcGroup", &src);
    if (!err) err = rmq_broker_need_str(req, "destGroup", &dest);
    if (!err) err = rmq_broker_opt_bool(req, "offline", &offline);
    if (err) return err;
    if (topic && !*topic) topic = NULL;
    pick_t p = {.src = src, .topic = topic};
    rmq_broker_offsets_each(b->offsets, pick_topic, &p);
    size_t queues = 0;
    for (size_t i = 0; i < p.n; i++) {
        const char *t = p.topics[i];
        if (!rmq_broker_topic_get(b->topics, t)) {
            RMQ_LOG_WARN("admin", "clone group offset: topic %s does not exist here", t);
        } else if (!offline && online_elsewhere(b, src, t)) {
            RMQ_LOG_WARN("admin", "clone group offset: online group %s does not subscribe to %s",
                         src, t);
        } else {
            copy_t c = {.src = src, .topic = t};
            rmq_broker_offsets_each(b->offsets, take_offsets, &c);
            for (size_t q = 0; q < c.n; q++)
                rmq_broker_offsets_tset(b->offsets, dest, t, c.qids[q], c.offs[q]);
            queues += c.n;
            free(c.qids);
            free(c.offs);
        }
        free(p.topics[i]);
    }
    free(p.topics);
    RMQ_LOG_INFO("admin", "cloned %zu queue offsets of group %s to %s (topic %s)", queues, src,
                 dest, topic ? topic : "*");
    return rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
}
