/* Helpers shared by the store tests: temp dirs, configs, puts, record checks. */
#ifndef RMQ_TEST_STORE_UTIL_H
#define RMQ_TEST_STORE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"
#include "store/store.h"

static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}
static inline void rm_rf(const char *dir) {
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *mk_tmpdir(void) {
    char *d = strdup("/tmp/rmq_store_test_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

/* A small-segment configuration rooted at dir. */
static inline void test_cfg(rmq_store_cfg_t *c, const char *dir, int64_t seg, int flush) {
    rmq_store_cfg_defaults(c);
    free(c->store_path_root_dir);
    c->store_path_root_dir = strdup(dir);
    c->mapped_file_size_commitlog = seg;
    c->mapped_file_size_cq = 20 * 1000;
    c->max_hash_slot_num = 1000;
    c->max_index_num = 4000;
    c->flush_disk_type = flush;
    c->clean_resource_interval = 3600000; /* tests drive retention themselves */
    c->flush_interval_commitlog = 50;
    c->flush_interval_cq = 100;
    c->warm_mapped_file_enable = true;
    c->max_message_size = 65536;
}

/* Per-test fixture: a fresh temp dir and a small-segment ASYNC_FLUSH configuration. */
typedef struct {
    char *dir;
    rmq_store_cfg_t cfg;
} fx_t;

static inline int fx_setup(void **st, int64_t seg) {
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->dir = mk_tmpdir();
    test_cfg(&fx->cfg, fx->dir, seg, RMQ_FLUSH_ASYNC);
    *st = fx;
    return 0;
}

static inline int fx_teardown(void **st) {
    fx_t *fx = *st;
    rm_rf(fx->dir);
    free(fx->dir);
    rmq_store_cfg_free(&fx->cfg);
    free(fx);
    return 0;
}

static inline rmq_store_msg_t mk_msg(const char *topic, int qid, const void *body, size_t blen,
                                     const char *props) {
    rmq_store_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.queue_id = qid;
    m.body = body;
    m.body_len = blen;
    m.props = props;
    m.props_len = props ? strlen(props) : 0;
    m.born_ts = rmq_now_ms();
    m.born_host.ip_len = 4;
    m.born_host.ip[0] = 10;
    m.born_host.ip[3] = 1;
    m.born_host.port = 5555;
    m.store_host.ip_len = 4;
    m.store_host.ip[0] = 192;
    m.store_host.ip[1] = 168;
    m.store_host.ip[3] = 10;
    m.store_host.port = 10911;
    return m;
}

/* Put one message with body "<tag>-<n>" padded to blen bytes. */
static inline rmq_err_t put_n(rmq_store_t *s, const char *topic, int qid, int n, size_t blen,
                              const char *props, rmq_store_put_result_t *r) {
    char body[70000];
    memset(body, 'x', blen);
    int k = snprintf(body, sizeof(body), "%s-%d-%d", topic, qid, n);
    if ((size_t)k < blen) body[k] = '.';
    rmq_store_msg_t m = mk_msg(topic, qid, body, blen, props);
    return rmq_store_put(s, &m, r, NULL, NULL);
}

/* Check that a record's body starts with "<topic>-<qid>-<n>". */
static inline bool rec_is(const uint8_t *rec, size_t len, const char *topic, int qid, int n,
                          rmq_msg_rec_t *out) {
    rmq_msg_rec_t r;
    if (rmq_msg_rec_decode(rec, len, true, &r) <= 0) return false;
    char want[128];
    int k = snprintf(want, sizeof(want), "%s-%d-%d", topic, qid, n);
    if (out) *out = r;
    return r.body_len >= k && memcmp(r.body, want, (size_t)k) == 0 &&
           (r.body_len == k || r.body[k] == '.' || r.body[k] == 'x');
}

static inline rmq_store_t *open_store(const rmq_store_cfg_t *c, bool start) {
    rmq_store_t *s = NULL;
    assert_int_equal(rmq_store_open(c, &s), RMQ_OK);
    if (start) assert_int_equal(rmq_store_start(s), RMQ_OK);
    return s;
}

static inline void touch_abort(const char *dir) {
    char p[512];
    snprintf(p, sizeof(p), "%s/abort", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

#endif
