/* Helpers for the broker integration tests (0200-0203): hand-built remoting requests sent with
 * the remoting client, exactly as a RocketMQ client would put them on the wire. Include after
 * cmocka.h. */
#ifndef RMQ_TEST_BROKER_UTIL_H
#define RMQ_TEST_BROKER_UTIL_H

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/msg.h"
#include "common/util.h"
#include "harness.h"
#include "remoting/client.h"
#include "remoting/cmd.h"

#define BT_TIMEOUT 10000

static inline rmq_rem_client_t *bt_client(void) {
    rmq_rem_client_cfg_t cfg = {.name = "test"};
    rmq_rem_client_t *cl = NULL;
    assert_int_equal(rmq_rem_client_new(NULL, &cfg, &cl), RMQ_OK);
    return cl;
}

/* Send req (taken) and return the response; fails the test on a transport error. */
static inline rmq_rem_cmd_t *bt_call(rmq_rem_client_t *cl, const char *addr, rmq_rem_cmd_t *req,
                                     int timeout_ms) {
    rmq_rem_cmd_t *resp = NULL;
    rmq_err_t e = rmq_rem_client_invoke_sync(cl, addr, req, timeout_ms, &resp);
    if (e != RMQ_OK) fprintf(stderr, "call to %s failed: %s\n", addr, rmq_strerror(e));
    assert_int_equal(e, RMQ_OK);
    assert_non_null(resp);
    return resp;
}

static inline void bt_create_topic(rmq_rem_client_t *cl, const char *addr, const char *topic,
                                   int qnums, int perm) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_AND_CREATE_TOPIC);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set(req, "defaultTopic", "TBW102");
    rmq_rem_cmd_set_i64(req, "readQueueNums", qnums);
    rmq_rem_cmd_set_i64(req, "writeQueueNums", qnums);
    rmq_rem_cmd_set_i64(req, "perm", perm);
    rmq_rem_cmd_set(req, "topicFilterType", "SINGLE_TAG");
    rmq_rem_cmd_set(req, "topicSysFlag", "0");
    rmq_rem_cmd_set(req, "order", "false");
    rmq_rem_cmd_t *resp = bt_call(cl, addr, req, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    rmq_rem_cmd_destroy(resp);
}

/* "KEYS\1k\2TAGS\1t\2UNIQ_KEY\1...\2WAIT\1true" as the Java producer builds it. */
static inline void bt_props(char *out, size_t n, const char *keys, const char *tags,
                            const char *extra) {
    static unsigned counter;
    snprintf(out, n, "%s%s%s%s%s%sUNIQ_KEY\001%08X%08X%s\002WAIT\001true%s", keys ? "KEYS\001" : "",
             keys ? keys : "", keys ? "\002" : "", tags ? "TAGS\001" : "", tags ? tags : "",
             tags ? "\002" : "", (unsigned)getpid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED), "0000000000000000",
             extra ? extra : "");
}

/* A SEND_MESSAGE_V2 request with the Java client's header fields (new; the caller sends it). */
static inline rmq_rem_cmd_t *bt_send_req(const char *topic, int qid, const void *body, size_t blen,
                                         const char *props) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_SEND_MESSAGE_V2);
    rmq_rem_cmd_set(req, "a", "test_pg");
    rmq_rem_cmd_set(req, "b", topic);
    rmq_rem_cmd_set(req, "c", "TBW102");
    rmq_rem_cmd_set(req, "d", "4");
    rmq_rem_cmd_set_i64(req, "e", qid);
    rmq_rem_cmd_set(req, "f", "0");
    rmq_rem_cmd_set_i64(req, "g", rmq_now_ms());
    rmq_rem_cmd_set(req, "h", "0");
    if (props) rmq_rem_cmd_set(req, "i", props);
    rmq_rem_cmd_set(req, "j", "0");
    rmq_rem_cmd_set(req, "k", "false");
    rmq_rem_cmd_set(req, "m", "false");
    if (blen) rmq_rem_cmd_set_body_copy(req, body, blen);
    return req;
}

/* Send bt_send_req's request and return the response (caller frees); a transport error fails. */
static inline rmq_rem_cmd_t *bt_send(rmq_rem_client_t *cl, const char *addr, const char *topic,
                                     int qid, const void *body, size_t blen, const char *props) {
    return bt_call(cl, addr, bt_send_req(topic, qid, body, blen, props), BT_TIMEOUT);
}

static inline int64_t bt_i64(const rmq_rem_cmd_t *c, const char *k) {
    int64_t v = -1;
    if (rmq_rem_cmd_get_i64(c, k, &v) != RMQ_OK) {
        fprintf(stderr, "response field %s missing (code %d, remark %s)\n", k, c->code,
                c->remark ? c->remark : "");
        fail();
    }
    return v;
}

#define BT_PULL_SUSPEND 0x2
#define BT_PULL_SUB 0x4
#define BT_PULL_COMMIT 0x1

static inline rmq_rem_cmd_t *bt_pull_req(const char *group, const char *topic, int qid,
                                         int64_t offset, int max, int sysflag, int64_t suspend_ms,
                                         const char *sub) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_PULL_MESSAGE);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_set_i64(req, "queueOffset", offset);
    rmq_rem_cmd_set_i64(req, "maxMsgNums", max);
    rmq_rem_cmd_set_i64(req, "sysFlag", sysflag | BT_PULL_SUB);
    rmq_rem_cmd_set_i64(req, "commitOffset", 0);
    rmq_rem_cmd_set_i64(req, "suspendTimeoutMillis", suspend_ms);
    rmq_rem_cmd_set(req, "subscription", sub ? sub : "*");
    rmq_rem_cmd_set_i64(req, "subVersion", 0);
    rmq_rem_cmd_set(req, "expressionType", "TAG");
    return req;
}

/* Read queue qid of topic at addr from offset 0 to its end with plain PULL_MESSAGE long polls
 * (500 ms each: after a recovery or a replication the tail may still be dispatching), as an
 * independent checker of what producers logged: offsets dense (no hole, no repeated offset),
 * every body "<prefix>-<thread>-<seq>-..." exactly as body_of(thread, seq) writes it. Returns a
 * new array (free()) of two ints per queue offset, thread and seq, and the queue's end (its max
 * offset, = the messages read) in *end. */
static inline int *bt_read_queue_ts(rmq_rem_client_t *cl, const char *addr, const char *group,
                                    const char *topic, int qid, const char *prefix,
                                    void (*body_of)(int t, int seq, char *out, size_t n),
                                    int64_t *end) {
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s-%%d-%%d-", prefix);
    int *who = NULL;
    int64_t off = 0, cap = 0;
    for (;;) {
        rmq_rem_cmd_t *r =
            bt_call(cl, addr, bt_pull_req(group, topic, qid, off, 32, BT_PULL_SUSPEND, 500, "*"),
                    BT_TIMEOUT);
        if (r->code == RMQ_ERR_PULL_NOT_FOUND) {
            assert_true(bt_i64(r, "maxOffset") == off); /* read to the end */
            rmq_rem_cmd_destroy(r);
            break;
        }
        assert_int_equal(r->code, 0);
        for (size_t pos = 0; pos < r->body_len;) {
            rmq_msg_rec_t rec;
            int64_t n = rmq_msg_rec_decode(r->body + pos, r->body_len - pos, true, &rec);
            assert_true(n > 0);
            pos += (size_t)n;
            assert_true(rec.queue_offset == off); /* dense */
            if (off >= cap) {
                cap = cap ? cap * 2 : 4096;
                who = realloc(who, sizeof(int) * 2 * (size_t)cap);
                assert_non_null(who);
            }
            int t = -1, sq = -1;
            char body[128], want[128];
            size_t bl = RMQ_MIN((size_t)rec.body_len, sizeof body - 1);
            memcpy(body, rec.body, bl);
            body[bl] = 0;
            assert_int_equal(sscanf(body, fmt, &t, &sq), 2);
            body_of(t, sq, want, sizeof want);
            assert_string_equal(body, want);
            who[2 * off] = t;
            who[2 * off + 1] = sq;
            off++;
        }
        rmq_rem_cmd_destroy(r);
    }
    *end = off;
    return who;
}

static inline rmq_rem_cmd_t *bt_pull(rmq_rem_client_t *cl, const char *addr, const char *group,
                                     const char *topic, int qid, int64_t offset, int max,
                                     const char *sub) {
    return bt_call(cl, addr, bt_pull_req(group, topic, qid, offset, max, 0, 0, sub), BT_TIMEOUT);
}

/* The response body as one contiguous buffer (zero-copy bodies arrive as a normal body on the
 * client side). */
static inline const uint8_t *bt_body(const rmq_rem_cmd_t *c, size_t *len) {
    *len = c->body_len;
    return c->body;
}

static inline bool bt_prop(const rmq_msg_rec_t *r, const char *k, char *out, size_t n) {
    return rmq_msg_prop_copy(r->props, (size_t)r->props_len, k, out, n);
}

static inline void bt_update_offset(rmq_rem_client_t *cl, const char *addr, const char *group,
                                    const char *topic, int qid, int64_t off) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_UPDATE_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_set_i64(req, "commitOffset", off);
    rmq_rem_cmd_t *resp = bt_call(cl, addr, req, BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    rmq_rem_cmd_destroy(resp);
}

static inline int64_t bt_query_offset(rmq_rem_client_t *cl, const char *addr, const char *group,
                                      const char *topic, int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_QUERY_CONSUMER_OFFSET);
    rmq_rem_cmd_set(req, "consumerGroup", group);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = bt_call(cl, addr, req, BT_TIMEOUT);
    int64_t off = resp->code == 0 ? bt_i64(resp, "offset") : -1;
    rmq_rem_cmd_destroy(resp);
    return off;
}

/* Exit status 0 after SIGTERM. */
static inline void bt_stop_clean(rmq_proc_t *p) {
    int st = rmq_proc_stop(p, SIGTERM);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "process exit status 0x%x (log %s)\n", st, p->log);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- replication (0220-0229) ----------------------------------------------------------------
 */

/* Conf lines making a broker the slave (brokerId 1) of master's set; extra appended. */
static inline void bt_slave_conf(char *out, size_t n, const rmq_proc_t *master, const char *extra) {
    snprintf(out, n, "brokerName=broker-%d\nbrokerId=1\nbrokerRole=SLAVE\n%s", master->port,
             extra ? extra : "");
}

/* GET_BROKER_RUNTIME_INFO's value for key as an integer ("true" is 1); def when absent. */
static inline int64_t bt_runtime_i64(rmq_rem_client_t *cl, const char *addr, const char *key,
                                     int64_t def) {
    rmq_rem_cmd_t *resp =
        bt_call(cl, addr, rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_RUNTIME_INFO), BT_TIMEOUT);
    assert_int_equal(resp->code, 0);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *text = malloc(resp->body_len + 1);
    memcpy(text, resp->body, resp->body_len);
    text[resp->body_len] = 0;
    const char *p = strstr(text, pat);
    int64_t v = def;
    if (p) {
        p += strlen(pat);
        v = !strncmp(p, "true", 4) ? 1 : strtoll(p, NULL, 10);
    }
    free(text);
    rmq_rem_cmd_destroy(resp);
    return v;
}

/* Wait until a master reports at least n connected slaves; false after timeout_ms. */
static inline bool bt_wait_slaves(rmq_rem_client_t *cl, const char *master, int n, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (bt_runtime_i64(cl, master, "haConnectionCount", 0) >= n) return true;
        rmq_sleep_ms(100);
    }
    return false;
}

/* Wait until the slave's CommitLog max offset equals the master's (and the master's is
 * stable over that read); returns it, or -1 after timeout_ms. */
static inline int64_t bt_wait_caught_up(rmq_rem_client_t *cl, const char *master, const char *slave,
                                        int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        int64_t m = bt_runtime_i64(cl, master, "commitLogMaxOffset", -1);
        int64_t s = bt_runtime_i64(cl, slave, "commitLogMaxOffset", -2);
        if (m == s && m == bt_runtime_i64(cl, master, "commitLogMaxOffset", -1)) return m;
        rmq_sleep_ms(50);
    }
    return -1;
}

/* GET_MAX_OFFSET of a queue. */
static inline int64_t bt_max_offset(rmq_rem_client_t *cl, const char *addr, const char *topic,
                                    int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_MAX_OFFSET);
    rmq_rem_cmd_set(req, "topic", topic);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = bt_call(cl, addr, req, BT_TIMEOUT);
    int64_t off = resp->code == 0 ? bt_i64(resp, "offset") : -1;
    rmq_rem_cmd_destroy(resp);
    return off;
}

/* Every record of a queue from offset 0 as "offset:body" lines (a long poll of 300 ms that
 * finds nothing ends it); new string (free()). Fails the test on a gap or a duplicate. */
static inline char *bt_queue_dump(rmq_rem_client_t *cl, const char *addr, const char *topic,
                                  int qid, int64_t *count) {
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    int64_t off = 0;
    for (;;) {
        rmq_rem_cmd_t *r = bt_call(
            cl, addr, bt_pull_req("cg_dump", topic, qid, off, 32, BT_PULL_SUSPEND, 300, "*"),
            BT_TIMEOUT);
        if (r->code != 0) {
            rmq_rem_cmd_destroy(r);
            break;
        }
        size_t pos = 0;
        while (pos < r->body_len) {
            rmq_msg_rec_t rec;
            int64_t n = rmq_msg_rec_decode(r->body + pos, r->body_len - pos, true, &rec);
            assert_true(n > 0);
            pos += (size_t)n;
            assert_true(rec.queue_offset == off);
            if (len + (size_t)rec.body_len + 32 > cap) {
                cap = cap * 2 + (size_t)rec.body_len;
                out = realloc(out, cap);
            }
            len += (size_t)snprintf(out + len, cap - len, "%" PRId64 ":", off);
            memcpy(out + len, rec.body, (size_t)rec.body_len);
            len += (size_t)rec.body_len;
            out[len++] = '\n';
            out[len] = 0;
            off++;
        }
        rmq_rem_cmd_destroy(r);
    }
    if (count) *count = off;
    return out;
}

/* Byte-compare every CommitLog segment of broker dirs a (master) and b (slave): same names, same
 * bytes; the first differing byte is named. At least min_files segments. */
static inline void bt_same_commitlogs(const char *a, const char *b, int min_files) {
    char da[600], db[600];
    snprintf(da, sizeof da, "%s/store/commitlog", a);
    snprintf(db, sizeof db, "%s/store/commitlog", b);
    DIR *d = opendir(da);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char pa[900], pb[900];
        snprintf(pa, sizeof pa, "%s/%s", da, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", db, e->d_name);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        if (!fb) fprintf(stderr, "the slave has no %s\n", e->d_name);
        assert_non_null(fa);
        assert_non_null(fb);
        static char ba[1 << 16], bb[1 << 16];
        size_t na, nb;
        long pos = 0;
        do {
            na = fread(ba, 1, sizeof ba, fa);
            nb = fread(bb, 1, sizeof bb, fb);
            assert_int_equal(na, nb);
            for (size_t i = 0; i < na; i++)
                if (ba[i] != bb[i]) {
                    fprintf(stderr, "%s differs at byte %ld: master %02x slave %02x\n", e->d_name,
                            pos + (long)i, (unsigned char)ba[i], (unsigned char)bb[i]);
                    fail();
                }
            pos += (long)na;
        } while (na > 0);
        fclose(fa);
        fclose(fb);
        files++;
    }
    closedir(d);
    fprintf(stderr, "%d CommitLog segments byte-identical\n", files);
    assert_true(files >= min_files);
}

#endif
