/* librmq against a two-master two-slave cluster (issue 9): the brokers use the keys of
 * conf/2m-2s-async/broker-{a,a-s,b,b-s}.properties with their ports and directories rewritten.
 *
 * A producer sends continuously with sync sends while a push consumer (throttled until the
 * kill, so broker-a has a backlog) consumes. Master a is killed with SIGKILL:
 *  - after the refresh window (2 x pollNameServerInterval + 1 s = 5 s) no send fails and every
 *    send goes to broker-b;
 *  - the consumer keeps consuming broker-a's backlog, from a's slave;
 * master a is restarted (same store):
 *  - every message acknowledged with SEND_OK is consumed at least once (re-consumption is
 *    allowed, broker.md 9.4; loss is not);
 *  - pulls return to the master (a's slave is then stopped and what is sent to a afterwards is
 *    still consumed) and the group's progress is committed there again (its consumer offsets
 *    reach the queues' max offsets). */
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "broker_util.h"
#include "rmq/rmq_codes.h"
#include "sdk_util.h"

#define TOPIC "SdkHaTopic"
#define GROUP "cg_sdk_ha"
#define NQ 4
#define POLL_NS_MS 2000
#define WINDOW_MS (2 * POLL_NS_MS + 1000) /* route refresh window after a kill / restart */
#define MAXID SU_MAX

static rmq_proc_t am, as, bm, bs; /* broker-a master / slave, broker-b master / slave */

/* ---- cluster ------------------------------------------------------------------------ */

static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* A broker of a set: the conf/2m-2s-async keys; listenPort and the store are the harness's
 * (a free port whose successor, the HA port, is free too, and a temp dir). */
static int start_member(rmq_proc_t *p, const char *set, bool slave) {
    if (!p->dir[0]) {
        memset(p, 0, sizeof *p);
        if (rmq_mkdtemp("rmq-sdkha", p->dir, sizeof p->dir)) return -1;
        do p->port = rmq_free_port();
        while (p->port <= 0 || p->port >= 65535 || !port_free(p->port + 1));
    }
    char extra[1024];
    snprintf(extra, sizeof extra,
             "# conf/2m-2s-async/%s%s.properties\n"
             "brokerClusterName=DefaultCluster\nbrokerName=%s\nbrokerId=%d\ndeleteWhen=04\n"
             "fileReservedTime=48\nbrokerRole=%s\nflushDiskType=ASYNC_FLUSH\n",
             set, slave ? "-s" : "", set, slave ? 1 : 0, slave ? "SLAVE" : "ASYNC_MASTER");
    return rmq_start_broker(p, su_ns.addr, extra);
}

static json_t *runtime_info(rmq_rem_client_t *cl, const char *addr) {
    rmq_rem_cmd_t *resp = NULL;
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_RUNTIME_INFO);
    if (rmq_rem_client_invoke_sync(cl, addr, req, 3000, &resp) != RMQ_OK) return NULL;
    json_t *t = NULL;
    if (resp->code == 0 && resp->body) {
        json_t *root = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
        t = json_incref(json_object_get(root, "table"));
        json_decref(root);
    }
    rmq_rem_cmd_destroy(resp);
    return t;
}

static int64_t rt_i64(json_t *t, const char *k) {
    const char *v = json_string_value(json_object_get(t, k));
    return v ? strtoll(v, NULL, 10) : -1;
}

/* Wait until slave s has replicated all of master m's CommitLog. */
static bool wait_replicated(rmq_rem_client_t *cl, rmq_proc_t *m, rmq_proc_t *s, int ms) {
    for (int waited = 0; waited < ms; waited += 200) {
        json_t *mt = runtime_info(cl, m->addr), *st = runtime_info(cl, s->addr);
        int64_t mo = rt_i64(mt, "commitLogMaxOffset"), so = rt_i64(st, "haSlaveMaxOffset");
        if (so < 0) so = rt_i64(st, "commitLogMaxOffset");
        json_decref(mt);
        json_decref(st);
        if (mo > 0 && so == mo) return true;
        rmq_sleep_ms(200);
    }
    return false;
}

/* Wait until the slave has the topic (metadata sync, broker.md 9.4). */
static bool wait_topic(rmq_rem_client_t *cl, const char *addr, int ms) {
    for (int waited = 0; waited < ms; waited += 250) {
        rmq_rem_cmd_t *resp = NULL;
        rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(RMQ_REQ_GET_ALL_TOPIC_CONFIG);
        bool ok = false;
        if (rmq_rem_client_invoke_sync(cl, addr, req, 3000, &resp) == RMQ_OK) {
            ok = resp->code == 0 && resp->body &&
                 memmem(resp->body, resp->body_len, TOPIC, strlen(TOPIC));
            rmq_rem_cmd_destroy(resp);
        }
        if (ok) return true;
        rmq_sleep_ms(250);
    }
    return false;
}

static int64_t offset_call(rmq_rem_client_t *cl, const char *addr, int code, int qid) {
    rmq_rem_cmd_t *req = rmq_rem_cmd_new_request(code);
    if (code == RMQ_REQ_QUERY_CONSUMER_OFFSET) rmq_rem_cmd_set(req, "consumerGroup", GROUP);
    rmq_rem_cmd_set(req, "topic", TOPIC);
    rmq_rem_cmd_set_i64(req, "queueId", qid);
    rmq_rem_cmd_t *resp = NULL;
    int64_t off = -1;
    if (rmq_rem_client_invoke_sync(cl, addr, req, 3000, &resp) == RMQ_OK) {
        if (resp->code == 0) rmq_rem_cmd_get_i64(resp, "offset", &off);
        rmq_rem_cmd_destroy(resp);
    }
    return off;
}

/* mqadmin's output for args (against our NameServer), new string (free()). */
static char *mqadmin(const char *args) {
    char bin[512], cmd[1024];
    rmq_bin_path("mqadmin", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s %s -n %s 2>&1", bin, args, su_ns.addr);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    size_t r;
    while (out && (r = fread(out + len, 1, cap - len - 1, f)) > 0) len += r;
    pclose(f);
    return out;
}

/* clusterList -r: one row per slave with both offsets, a small lag in bytes (the slave had just
 * caught up) and a known lag in time; brokerStatus of a slave carries the HA keys. */
static void check_mqadmin_replication(void) {
    char *out = mqadmin("clusterList -r");
    assert_non_null(out);
    fprintf(stderr, "%s", out);
    int rows = 0;
    for (char *ln = strtok(out, "\n"); ln; ln = strtok(NULL, "\n")) {
        char cl[64], bn[64], bid[16], addr[64], mo[32], so[32], bb[32], bm[32];
        if (ln[0] == '#' || sscanf(ln, "%63s %63s %15s %63s %31s %31s %31s %31s", cl, bn, bid, addr,
                                   mo, so, bb, bm) != 8)
            continue;
        rows++;
        assert_string_equal(cl, "DefaultCluster");
        assert_string_equal(bid, "1");
        assert_string_equal(addr, strcmp(bn, "broker-a") ? bs.addr : as.addr);
        /* the producer keeps sending: the two tables are read a moment apart */
        assert_true(atoll(mo) > 0 && atoll(so) > 0);
        assert_true(bb[0] >= '0' && bb[0] <= '9' && atoll(bb) < (1 << 20));
        assert_true(bm[0] >= '0' && bm[0] <= '9');
    }
    assert_int_equal(rows, 2);
    free(out);
    char args[128];
    snprintf(args, sizeof args, "brokerStatus -b %s", as.addr);
    out = mqadmin(args);
    assert_non_null(out);
    assert_non_null(strstr(out, "haSlaveMaxOffset"));
    assert_non_null(strstr(out, "haMasterAddr"));
    free(out);
}

/* ---- producer thread ----------------------------------------------------------------- */

enum { ST_NONE, ST_OK, ST_FAIL };
typedef struct {
    _Atomic int status;
    char broker; /* 'a' / 'b' */
    uint64_t at; /* monotonic ms the send returned */
} sent_t;

static sent_t sent[MAXID];
static _Atomic int nsent;
static _Atomic bool stop_producer;
static rmq_producer_t *prod;

static void *producer_main(void *arg) {
    (void)arg;
    for (int id = 0; id < MAXID && !atomic_load(&stop_producer); id++) {
        char body[32];
        snprintf(body, sizeof body, "id:%d", id);
        rmq_msg_t *m = rmq_msg_new(TOPIC, "ha", NULL, body, strlen(body), RMQ_MSG_F_COPY);
        rmq_send_result_t r;
        rmq_err_t e = rmq_send_sync(prod, m, &r);
        rmq_msg_destroy(m);
        sent[id].at = rmq_mono_ms();
        if (e == RMQ_OK && r.status == RMQ_SEND_OK) {
            sent[id].broker = strcmp(r.mq.broker, "broker-a") == 0 ? 'a' : 'b';
            atomic_store(&sent[id].status, ST_OK);
        } else {
            fprintf(stderr, "send id:%d: %s\n", id, e ? rmq_strerror(e) : "not SEND_OK");
            atomic_store(&sent[id].status, ST_FAIL);
        }
        atomic_store(&nsent, id + 1);
        rmq_sleep_ms(2);
    }
    return NULL;
}

/* ---- consumer ---------------------------------------------------------------------------- */

static int consumed[MAXID];
static _Atomic int consumed_a; /* deliveries from broker-a queues */
static _Atomic int throttle_ms;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;

static rmq_consume_status_t listener(rmq_push_consumer_t *pc, const rmq_mq_t *mq,
                                     rmq_msg_t *const *msgs, size_t n, void *op) {
    (void)pc;
    (void)op;
    int t = atomic_load(&throttle_ms);
    if (t > 0) rmq_sleep_ms(t);
    pthread_mutex_lock(&cmu);
    for (size_t i = 0; i < n; i++) {
        int id = su_body_id(msgs[i]);
        if (id < 0) continue;
        consumed[id]++;
        if (strcmp(mq->broker, "broker-a") == 0) atomic_fetch_add(&consumed_a, 1);
    }
    pthread_mutex_unlock(&cmu);
    return RMQ_CONSUME_SUCCESS;
}

/* ids acknowledged with SEND_OK and not consumed yet. */
static int missing(int upto, int *first) {
    int miss = 0;
    *first = -1;
    pthread_mutex_lock(&cmu);
    for (int i = 0; i < upto; i++)
        if (atomic_load(&sent[i].status) == ST_OK && consumed[i] == 0) {
            if (*first < 0) *first = i;
            miss++;
        }
    pthread_mutex_unlock(&cmu);
    return miss;
}

/* ---- the test ------------------------------------------------------------------------------ */

static int setup(void **st) {
    (void)st;
    memset(&su_ns, 0, sizeof su_ns);
    if (rmq_start_namesrv(&su_ns, NULL)) return -1;
    if (start_member(&am, "broker-a", false) || start_member(&bm, "broker-b", false) ||
        start_member(&as, "broker-a", true) || start_member(&bs, "broker-b", true))
        return -1;
    return 0;
}

static int teardown(void **st) {
    (void)st;
    rmq_proc_t *all[] = {&as, &bs, &am, &bm, &su_ns};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i]->pid) rmq_proc_stop(all[i], SIGTERM);
        if (all[i]->dir[0]) rmq_rm_rf(all[i]->dir);
    }
    return 0;
}

static void test_master_killed_and_back(void **st) {
    (void)st;
    rmq_rem_client_t *cl = bt_client();
    bt_create_topic(cl, am.addr, TOPIC, NQ, 6);
    bt_create_topic(cl, bm.addr, TOPIC, NQ, 6);
    /* the slaves take the topic from their masters' metadata (first sync after 3 s) */
    assert_true(wait_topic(cl, as.addr, 30000));
    assert_true(wait_topic(cl, bs.addr, 30000));

    rmq_conf_t *pc_conf = su_conf("pg_sdk_ha");
    su_set(pc_conf, "pollNameServerInterval", "2000");
    char err[256];
    prod = rmq_producer_new(pc_conf, err, sizeof err);
    assert_non_null(prod);

    /* consumer: small process queues so a backlog stays on the brokers, one slow thread */
    atomic_store(&throttle_ms, 6);
    rmq_conf_t *cc = su_conf(GROUP);
    su_set(cc, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET");
    su_set(cc, "consumeThreadMin", "1");
    su_set(cc, "consumeThreadMax", "1");
    su_set(cc, "pullThresholdForQueue", "16");
    su_set(cc, "pullBatchSize", "8");
    rmq_push_consumer_t *pc = rmq_push_consumer_new(cc, err, sizeof err);
    assert_non_null(pc);
    assert_int_equal(rmq_push_consumer_subscribe(pc, TOPIC, "*"), RMQ_OK);
    assert_int_equal(rmq_push_consumer_set_listener(pc, RMQ_LISTEN_CONCURRENTLY, listener, NULL),
                     RMQ_OK);
    assert_int_equal(rmq_push_consumer_start(pc), RMQ_OK);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer_main, NULL), 0);

    /* both sets take sends; the consumer falls behind; the group commits progress on a */
    rmq_sleep_ms(5000);
    int backlog = 0; /* well beyond what the consumer holds in memory: 4 x (16 + 8) */
    for (int waited = 0; waited < 30000 && backlog < 300; waited += 200) {
        int n = atomic_load(&nsent), na = 0;
        for (int i = 0; i < n; i++) na += sent[i].broker == 'a';
        backlog = na - atomic_load(&consumed_a);
        if (backlog < 300) rmq_sleep_ms(200);
    }
    int before = atomic_load(&nsent);
    int to_a = 0;
    for (int i = 0; i < before; i++) to_a += sent[i].broker == 'a';
    fprintf(stderr, "before the kill: %d sent (%d to broker-a), %d consumed from broker-a\n",
            before, to_a, atomic_load(&consumed_a));
    assert_true(to_a > 100 && before - to_a > 100);
    assert_true(wait_replicated(cl, &am, &as, 10000));
    check_mqadmin_replication();

    /* kill -9 master a */
    assert_true(rmq_proc_stop(&am, SIGKILL) != -1);
    uint64_t t_kill = rmq_mono_ms();
    int id_kill = atomic_load(&nsent);
    int a_at_kill = atomic_load(&consumed_a);
    atomic_store(&throttle_ms, 0);

    /* a's backlog is consumed from its slave while the master is down: every message a
     * acknowledged more than a second before the kill (ASYNC_MASTER: the slave had caught up
     * just before, and its lag on loopback is far below that) */
    bool drained = false;
    int backlog_miss = 0;
    for (int waited = 0; waited < 20000 && !drained; waited += 200) {
        backlog_miss = 0;
        pthread_mutex_lock(&cmu);
        for (int i = 0; i < id_kill; i++)
            if (sent[i].broker == 'a' && atomic_load(&sent[i].status) == ST_OK &&
                sent[i].at + 1000 < t_kill && consumed[i] == 0)
                backlog_miss++;
        pthread_mutex_unlock(&cmu);
        drained = backlog_miss == 0;
        if (!drained) rmq_sleep_ms(200);
    }
    /* clusterList -r while a is down: a's slave row stays, with its own offset (the master's
     * column is the slave's last word on it, or "-") */
    char *cl_out = mqadmin("clusterList -r");
    assert_non_null(cl_out);
    fprintf(stderr, "%s", cl_out);
    bool a_row = false;
    for (char *ln = strtok(cl_out, "\n"); ln; ln = strtok(NULL, "\n")) {
        char c0[64], bn[64], bid[16], addr[64], mo[32], so[32], bb[32], bm[32];
        if (sscanf(ln, "%63s %63s %15s %63s %31s %31s %31s %31s", c0, bn, bid, addr, mo, so, bb,
                   bm) == 8 &&
            strcmp(bn, "broker-a") == 0) {
            a_row = true;
            assert_string_equal(addr, as.addr);
            assert_true(atoll(so) > 0);
            assert_true(strcmp(mo, "-") == 0 || atoll(mo) > 0);
        }
    }
    assert_true(a_row);
    free(cl_out);
    fprintf(stderr, "master down: %d more consumed from broker-a (slave)\n",
            atomic_load(&consumed_a) - a_at_kill);
    assert_true(atomic_load(&consumed_a) - a_at_kill >= 200);
    if (!drained) fprintf(stderr, "%d of a's messages not consumed from its slave\n", backlog_miss);
    assert_true(drained);
    while (rmq_mono_ms() < t_kill + WINDOW_MS + 3000) rmq_sleep_ms(100);

    /* after the refresh window: no failed send, all to broker-b */
    int id_restart = atomic_load(&nsent);
    int fails = 0, after = 0, early_fails = 0;
    for (int i = id_kill; i < id_restart; i++) {
        int s = atomic_load(&sent[i].status);
        if (sent[i].at < t_kill + WINDOW_MS) {
            early_fails += s == ST_FAIL;
            continue;
        }
        after++;
        if (s == ST_FAIL) fails++;
        if (s == ST_OK) assert_int_equal(sent[i].broker, 'b');
    }
    fprintf(stderr, "master down: %d sends after the %d ms window, %d failed (%d in it)\n", after,
            WINDOW_MS, fails, early_fails);
    assert_true(after > 100);
    assert_int_equal(fails, 0);

    /* master a back with its store */
    assert_int_equal(start_member(&am, "broker-a", false), 0);
    uint64_t t_back = rmq_mono_ms();
    bool to_a_again = false;
    for (int waited = 0; waited < 20000 && !to_a_again; waited += 200) {
        rmq_sleep_ms(200);
        int n = atomic_load(&nsent);
        for (int i = id_restart; i < n && !to_a_again; i++)
            to_a_again = sent[i].broker == 'a' && sent[i].at > t_back;
    }
    assert_true(to_a_again);
    /* stop a's slave: what is sent to a from now on can only be pulled from the master */
    assert_true(rmq_proc_stop(&as, SIGTERM) != -1);
    int id_no_slave = atomic_load(&nsent);
    rmq_sleep_ms(3000);
    atomic_store(&stop_producer, true);
    pthread_join(th, NULL);
    int total = atomic_load(&nsent);
    for (int i = id_restart; i < total; i++)
        if (sent[i].at >= t_back + WINDOW_MS) assert_int_not_equal(sent[i].status, ST_FAIL);

    /* nothing acknowledged is lost */
    int first = -1, miss = 0;
    for (int waited = 0; waited < 60000; waited += 250) {
        if ((miss = missing(total, &first)) == 0) break;
        rmq_sleep_ms(250);
    }
    if (miss) fprintf(stderr, "%d acknowledged messages not consumed (first id:%d)\n", miss, first);
    assert_int_equal(miss, 0);
    int dups = 0;
    for (int i = 0; i < total; i++) dups += consumed[i] > 1 ? consumed[i] - 1 : 0;
    fprintf(stderr, "%d sent, %d re-deliveries\n", total, dups);

    /* consumption is back on the master (a's slave is gone), and so is the group's progress */
    int a_late = 0;
    for (int i = id_no_slave; i < total; i++) a_late += sent[i].broker == 'a';
    fprintf(stderr, "%d messages sent to broker-a after its slave stopped, all consumed\n", a_late);
    assert_true(a_late > 0);
    bool committed = false;
    for (int waited = 0; waited < 20000 && !committed; waited += 250) {
        committed = true;
        for (int q = 0; q < NQ; q++) {
            int64_t mx = offset_call(cl, am.addr, RMQ_REQ_GET_MAX_OFFSET, q);
            int64_t co = offset_call(cl, am.addr, RMQ_REQ_QUERY_CONSUMER_OFFSET, q);
            if (mx < 0 || co != mx) committed = false;
        }
        if (!committed) rmq_sleep_ms(250);
    }
    assert_true(committed);

    rmq_push_consumer_destroy(pc);
    rmq_producer_destroy(prod);
    rmq_rem_client_destroy(cl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_master_killed_and_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
