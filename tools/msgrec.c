#include "tools/msgrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/msg.h"

static char *dup_prop(const rmq_msg_rec_t *r, const char *k) {
    size_t vl = 0;
    const char *v = r->props ? rmq_msg_prop_get(r->props, (size_t)r->props_len, k, &vl) : NULL;
    return v ? strndup(v, vl) : strdup("");
}

static void host_str(const rmq_msg_host_t *h, char *out, size_t n) {
    if (h->ip_len == 4) {
        snprintf(out, n, "%u.%u.%u.%u:%d", h->ip[0], h->ip[1], h->ip[2], h->ip[3], (int)h->port);
        return;
    }
    int w = 0;
    for (int i = 0; i < 16; i += 2)
        w += snprintf(out + w, n - (size_t)w, "%s%x", i ? ":" : "",
                      (unsigned)((h->ip[i] << 8) | h->ip[i + 1]));
    snprintf(out + w, n - (size_t)w, ":%d", (int)h->port);
}

typedef struct {
    rmq_buf_t *b;
    int n;
} props_ctx_t;

static bool prop_fn(const char *k, size_t kl, const char *v, size_t vl, void *arg) {
    props_ctx_t *c = arg;
    rmq_buf_appendf(c->b, "%s%.*s=%.*s", c->n++ ? ", " : "", (int)kl, k, (int)vl, v);
    return true;
}

int rmq_tool_msgs_decode(const uint8_t *p, size_t len, rmq_tool_msg_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cap = 0, cnt = 0;
    rmq_tool_msg_t *v = NULL;
    size_t pos = 0;
    while (pos < len) {
        rmq_msg_rec_t r;
        int64_t sz = rmq_msg_rec_decode(p + pos, len - pos, false, &r);
        if (sz <= 0) {
            rmq_tool_msgs_free(v, cnt);
            return -1;
        }
        pos += (size_t)sz;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            rmq_tool_msg_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rmq_tool_msgs_free(v, cnt);
                return -1;
            }
            v = nv;
        }
        rmq_tool_msg_t *m = &v[cnt++];
        memset(m, 0, sizeof *m);
        m->topic = strndup(r.topic, (size_t)r.topic_len);
        m->tags = dup_prop(&r, RMQ_PROP_TAGS);
        m->keys = dup_prop(&r, RMQ_PROP_KEYS);
        m->uniq = dup_prop(&r, RMQ_PROP_UNIQ_KEY);
        rmq_buf_t b;
        rmq_buf_init(&b);
        rmq_buf_append_u8(&b, '{');
        props_ctx_t pc = {&b, 0};
        if (r.props && r.props_len) rmq_msg_prop_each(r.props, (size_t)r.props_len, prop_fn, &pc);
        rmq_buf_append_u8(&b, '}');
        rmq_buf_append_u8(&b, 0);
        m->props = (char *)rmq_buf_detach(&b, NULL);
        if (r.sysflag & RMQ_SYSFLAG_COMPRESSED) {
            if (rmq_msg_inflate(r.body, (size_t)r.body_len, 64u << 20, &m->body, &m->body_len))
                m->body = NULL;
        }
        if (!m->body && r.body_len >= 0) {
            m->body = malloc((size_t)r.body_len + 1);
            if (m->body) {
                memcpy(m->body, r.body, (size_t)r.body_len);
                m->body[r.body_len] = 0;
                m->body_len = (size_t)r.body_len;
            }
        }
        m->queue_id = r.queue_id;
        m->reconsume_times = r.reconsume_times;
        m->sysflag = r.sysflag;
        m->flag = r.flag;
        m->queue_offset = r.queue_offset;
        m->phys_offset = r.phys_offset;
        m->born_ts = r.born_ts;
        m->store_ts = r.store_ts;
        host_str(&r.born_host, m->born_host, sizeof m->born_host);
        host_str(&r.store_host, m->store_host, sizeof m->store_host);
        rmq_msg_offset_id_encode(m->offset_id, &r.store_host, r.phys_offset);
        if (!m->topic || !m->tags || !m->keys || !m->uniq || !m->props) {
            rmq_tool_msgs_free(v, cnt);
            return -1;
        }
    }
    *out = v;
    *n = cnt;
    return 0;
}

void rmq_tool_msgs_free(rmq_tool_msg_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].topic);
        free(v[i].tags);
        free(v[i].keys);
        free(v[i].uniq);
        free(v[i].props);
        free(v[i].body);
    }
    free(v);
}
