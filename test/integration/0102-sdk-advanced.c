/* librmq against real mqnamesrv + mqbroker: an orderly listener keeps per-key order;
 * RECONSUME_LATER redelivers through the retry topic; a reset by time re-reads; a broker
 * killed with SIGKILL and restarted under a running producer and consumer loses no
 * acknowledged message (SYNC_FLUSH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdk_util.h"

/* Short delay levels so that a RECONSUME_LATER retry (level 3 + reconsumeTimes) comes back in
 * about 2 s instead of RocketMQ's 10 s. */
#define BROKER_CONF "flushDiskType=SYNC_FLUSH\nmessageDelayLevel=1s 1s 2s 2s 3s 3s 4s 4s 5s\n"

static int setup(void **st) {
    return su_start(BROKER_CONF);
}
static int teardown(void **st) {
    su_stop();
    return 0;
}

/* ---- orderly -------------------------------------------------------------------------- */

#define NKEYS 4
#define PER_KEY 60

typedef struct {
    pthread_mutex_t mu;
    int next[NKEYS]; /* next expected sequence per key */
    int errors, total;
    int active[NKEYS]; /* listeners inside for a key: must never exceed 1 */
} ord_t;

static rmq_consume_status_t ord_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                         rmq_msg_t *const *msgs, size_t n, void *op) {
    ord_t *o = op;
    /* LATER once for the batch holding seq 10 of key 0: the same batch must come back first,
     * before anything after it (decided before touching any state: a LATER batch is redone) */
    for (size_t i = 0; i < n; i++) {
        const char *k = rmq_msg_property(msgs[i], "k"), *s = rmq_msg_property(msgs[i], "s");
        if (k && s && atoi(k) == 0 && atoi(s) == 10) {
            pthread_mutex_lock(&o->mu);
            bool refuse = o->total < 100000;
            if (refuse) o->total += 100000; /* marker: refused once */
            pthread_mutex_unlock(&o->mu);
            if (refuse) return RMQ_CONSUME_LATER;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = rmq_msg_property(msgs[i], "k"), *s = rmq_msg_property(msgs[i], "s");
        if (!k || !s) continue;
        int key = atoi(k), seq = atoi(s);
        pthread_mutex_lock(&o->mu);
        if (++o->active[key] > 1) o->errors++;
        pthread_mutex_unlock(&o->mu);
        usleep(200); /* give a concurrent delivery a chance to show up */
        pthread_mutex_lock(&o->mu);
        if (seq != o->next[key]) {
            fprintf(stderr, "key %d: got %d want %d\n", key, seq, o->next[key]);
            o->errors++;
        }
        o->next[key] = seq + 1;
        o->total++;
        o->active[key]--;
        pthread_mutex_unlock(&o->mu);
    }
    return RMQ_CONSUME_SUCCESS;
}

static void test_orderly(void **st) {
    rmq_producer_t *p = su_producer("pg_order");
    assert_non_null(p);
    for (int s = 0; s < PER_KEY; s++) {
        for (int k = 0; k < NKEYS; k++) {
            char key[16], kk[8], ss[8], body[32];
            snprintf(key, sizeof key, "order-%d", k);
            snprintf(kk, sizeof kk, "%d", k);
            snprintf(ss, sizeof ss, "%d", s);
            snprintf(body, sizeof body, "k%d-s%d", k, s);
            rmq_msg_t *m = rmq_msg_new("SdkOrder", NULL, key, body, strlen(body), RMQ_MSG_F_COPY);
            rmq_msg_set_property(m, "k", kk);
            rmq_msg_set_property(m, "s", ss);
            rmq_send_result_t r;
            assert_int_equal(rmq_send_orderly(p, m, rmq_selector_hash, key, &r), RMQ_OK);
            rmq_msg_destroy(m);
        }
    }
    static ord_t o = {.mu = PTHREAD_MUTEX_INITIALIZER};
    rmq_conf_t *c = su_conf("cg_order");
    su_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    su_set(c, "consumeThreadMin", "4");
    su_set(c, "consumeMessageBatchMaxSize", "3");
    char err[256];
    rmq_push_consumer_t *pc = rmq_push_consumer_new(c, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe(pc, "SdkOrder", "*"), RMQ_OK);
    assert_int_equal(rmq_push_consumer_set_listener(pc, RMQ_LISTEN_ORDERLY, ord_listener, &o),
                     RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(pc), RMQ_OK);
    uint64_t end = rmq_mono_ms() + 40000;
    int done = 0;
    while (rmq_mono_ms() < end) {
        pthread_mutex_lock(&o.mu);
        done = 1;
        for (int k = 0; k < NKEYS; k++)
            if (o.next[k] < PER_KEY) done = 0;
        pthread_mutex_unlock(&o.mu);
        if (done) break;
        rmq_sleep_ms(100);
    }
    rmq_push_consumer_destroy(pc);
    assert_true(done);
    assert_int_equal(o.errors, 0);
    assert_int_equal(o.total, 100000 + NKEYS * PER_KEY);
    rmq_producer_destroy(p);
}

/* ---- RECONSUME_LATER -------------------------------------------------------------- */

/* What the refused messages looked like when they came back. */
static struct {
    pthread_mutex_t mu;
    int again[3]; /* redeliveries of ids 0..2 */
    int bad;      /* a redelivery not from %RETRY%cg_later, or not restored */
} later_seen = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

static rmq_consume_status_t later_listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                           rmq_msg_t *const *msgs, size_t n, void *op) {
    for (size_t i = 0; i < n; i++) {
        int id = su_body_id(msgs[i]);
        if (id < 0 || id >= 3 || rmq_msg_reconsume_times(msgs[i]) == 0) continue;
        /* Second delivery: pulled from the retry topic, topic restored from RETRY_TOPIC. */
        const char *rt = rmq_msg_property(msgs[i], "RETRY_TOPIC");
        bool ok = rmq_msg_reconsume_times(msgs[i]) == 1 && !strcmp(mq->topic, "%RETRY%cg_later") &&
                  !strcmp(rmq_msg_topic(msgs[i]), "SdkLater") && rt && !strcmp(rt, "SdkLater");
        if (!ok)
            fprintf(stderr, "redelivery of id %d: queue topic %s, topic %s, reconsume %d\n", id,
                    mq->topic, rmq_msg_topic(msgs[i]), rmq_msg_reconsume_times(msgs[i]));
        pthread_mutex_lock(&later_seen.mu);
        later_seen.again[id]++;
        if (!ok) later_seen.bad++;
        pthread_mutex_unlock(&later_seen.mu);
    }
    return su_listener(pc, mq, msgs, n, op);
}

static void test_reconsume_later(void **st) {
    rmq_producer_t *p = su_producer("pg_later");
    assert_non_null(p);
    for (int i = 0; i < 20; i++) assert_int_equal(su_send_id(p, "SdkLater", i, NULL), RMQ_OK);
    static su_counter_t cnt;
    su_counter_init(&cnt);
    /* ids 0..2 refused once: sent back, parked in SCHEDULE_TOPIC_XXXX behind level 3 (2 s with
     * this broker's BROKER_CONF levels), then delivered by the broker to %RETRY%cg_later. */
    cnt.later_once = 3;
    char err[256];
    rmq_conf_t *conf = su_conf("cg_later");
    su_set(conf, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    rmq_push_consumer_t *c = rmq_push_consumer_new(conf, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(rmq_push_consumer_subscribe(c, "SdkLater", "*"), RMQ_OK);
    assert_int_equal(
        rmq_push_consumer_set_listener(c, RMQ_LISTEN_CONCURRENTLY, later_listener, &cnt), RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(c), RMQ_OK);
    assert_true(su_wait_all(&cnt, 20, 1, 25000));
    rmq_sleep_ms(500); /* a duplicate would show up now */
    rmq_push_consumer_destroy(c);
    pthread_mutex_lock(&cnt.mu);
    for (int i = 0; i < 20; i++) assert_int_equal(cnt.count[i], 1);
    pthread_mutex_unlock(&cnt.mu);
    pthread_mutex_lock(&later_seen.mu);
    for (int i = 0; i < 3; i++) assert_int_equal(later_seen.again[i], 1);
    assert_int_equal(later_seen.bad, 0);
    pthread_mutex_unlock(&later_seen.mu);
    rmq_producer_destroy(p);
}

/* ---- reset by time ----------------------------------------------------------------- */

static void test_reset_by_time(void **st) {
    rmq_producer_t *p = su_producer("pg_reset");
    assert_non_null(p);
    assert_int_equal(su_send_id(p, "SdkReset", 1000, NULL), RMQ_OK); /* before the mark */
    rmq_sleep_ms(1200);
    int64_t mark = rmq_now_ms();
    rmq_sleep_ms(200);
    for (int i = 0; i < 20; i++) assert_int_equal(su_send_id(p, "SdkReset", i, NULL), RMQ_OK);
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_push_consumer_t *c =
        su_consumer("cg_reset", "SdkReset", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, NULL);
    assert_non_null(c);
    assert_true(su_wait_all(&cnt, 20, 1, 30000));
    rmq_sleep_ms(1500); /* offsets committed */
    char err[256];
    rmq_admin_t *a = rmq_admin_new(su_conf("admin_reset"), err, sizeof err);
    assert_non_null(a);
    assert_int_equal(rmq_reset_offset_by_time(a, "cg_reset", "SdkReset", mark), RMQ_OK);
    rmq_admin_destroy(a);
    bool ok = su_wait_all(&cnt, 20, 2, 40000);
    rmq_push_consumer_destroy(c);
    assert_true(ok);
    pthread_mutex_lock(&cnt.mu);
    assert_int_equal(cnt.count[1000], 1); /* older than the mark: not re-read */
    pthread_mutex_unlock(&cnt.mu);
    rmq_producer_destroy(p);
}

/* ---- broker killed and restarted ------------------------------------------------------ */

typedef struct {
    rmq_producer_t *p;
    _Atomic bool stop;
    pthread_mutex_t mu;
    int acked[SU_MAX];
    int nacked, sent, failed;
} prod_t;

static void *prod_main(void *arg) {
    prod_t *pt = arg;
    for (int i = 0; i < SU_MAX && !pt->stop; i++) {
        rmq_err_t e = su_send_id(pt->p, "SdkCrash", i, NULL);
        pthread_mutex_lock(&pt->mu);
        pt->sent++;
        if (e == RMQ_OK)
            pt->acked[pt->nacked++] = i;
        else
            pt->failed++;
        pthread_mutex_unlock(&pt->mu);
        if (e)
            rmq_sleep_ms(100);
        else
            rmq_sleep_ms(5);
    }
    return NULL;
}

static int nacked(prod_t *pt) {
    pthread_mutex_lock(&pt->mu);
    int n = pt->nacked;
    pthread_mutex_unlock(&pt->mu);
    return n;
}

static void test_broker_kill_restart(void **st) {
    static prod_t pt = {.mu = PTHREAD_MUTEX_INITIALIZER};
    rmq_conf_t *pc = su_conf("pg_crash");
    su_set(pc, "sendMsgTimeout", "2000");
    char err[256];
    pt.p = rmq_producer_new(pc, err, sizeof err);
    assert_non_null(pt.p);
    assert_int_equal(su_send_id(pt.p, "SdkCrash", SU_MAX - 1, NULL), RMQ_OK);
    static su_counter_t cnt;
    su_counter_init(&cnt);
    rmq_push_consumer_t *c =
        su_consumer("cg_crash", "SdkCrash", "*", RMQ_LISTEN_CONCURRENTLY, &cnt, NULL);
    assert_non_null(c);
    pthread_t th;
    pthread_create(&th, NULL, prod_main, &pt);
    uint64_t end = rmq_mono_ms() + 20000;
    while (nacked(&pt) < 150 && rmq_mono_ms() < end) rmq_sleep_ms(20);
    assert_true(nacked(&pt) >= 150);
    rmq_proc_stop(&su_broker, SIGKILL);
    rmq_sleep_ms(1000);
    assert_int_equal(rmq_start_broker(&su_broker, su_ns.addr, BROKER_CONF), 0);
    int before = nacked(&pt);
    end = rmq_mono_ms() + 30000;
    while (nacked(&pt) < before + 150 && rmq_mono_ms() < end) rmq_sleep_ms(50);
    pt.stop = true;
    pthread_join(th, NULL);
    assert_true(pt.nacked >= before + 150); /* the producer recovered */
    /* every acknowledged message reaches the consumer */
    uint64_t wend = rmq_mono_ms() + 40000;
    int missing = -1;
    while (rmq_mono_ms() < wend) {
        missing = 0;
        pthread_mutex_lock(&cnt.mu);
        for (int i = 0; i < pt.nacked; i++)
            if (cnt.count[pt.acked[i]] < 1) missing++;
        pthread_mutex_unlock(&cnt.mu);
        if (missing == 0) break;
        rmq_sleep_ms(200);
    }
    fprintf(stderr, "crash test: sent %d, acked %d, failed %d, missing %d\n", pt.sent, pt.nacked,
            pt.failed, missing);
    rmq_push_consumer_destroy(c);
    rmq_producer_destroy(pt.p);
    assert_int_equal(missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orderly),
        cmocka_unit_test(test_reconsume_later),
        cmocka_unit_test(test_reset_by_time),
        cmocka_unit_test(test_broker_kill_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
