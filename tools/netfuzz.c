/* netfuzz: a network-level frame fuzzer for the broker and the NameServer.
 *
 *   netfuzz [--seconds N] [--conns N] [--seed N] HOST:PORT [HOST:PORT ...]
 *
 * Opens --conns connections (spread over the targets, 32 by default) and writes mutated RocketMQ
 * remoting frames into them as fast as the sockets take them, never waiting for an answer: what
 * comes back is read and thrown away, a connection the server closes is reopened. The frames
 * start as real requests built with the project's encoder (SEND_MESSAGE and _V2, batch, PULL,
 * HEART_BEAT, REGISTER/UNREGISTER_BROKER, GET_ROUTEINFO_BY_TOPIC, QUERY_DATA_VERSION, offsets,
 * QUERY_MESSAGE, ...; JSON and ROCKETMQ binary headers), then get one mutation: a header field
 * dropped, emptied, made huge, negative, non-numeric or 4 KB long; random bytes flipped in the
 * header or body; the length prefix or the header length rewritten (short, long, negative,
 * beyond 16 MiB); the frame truncated (the next one then starts mid-frame); garbage; or nothing
 * (one frame in eight stays valid so handlers are reached with sane neighbours).
 *
 * Every name it uses starts with "Fuzz" (topics, groups, brokers), so a legitimate client of
 * other topics is unaffected unless the server misbehaves. Prints frames/s at the end; exit 0
 * when every target still accepts a connection and answers a valid request, 1 when not, 2 on a
 * usage error. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "remoting/cmd.h"
#include "remoting/frame.h"
#include "rmq/rmq_codes.h"

#define MAX_CONNS 1024
#define OUT_LOW 16384 /* refill a connection's output below this many bytes */

/* ---------- templates ---------- */

typedef struct {
    int code;
    const char *kv[32]; /* key, value, ..., NULL */
    const char *body;
} tmpl_t;

#define SEND_FIELDS                                                                                \
    "a", "FuzzGroup", "b", "FuzzTopic", "c", "TBW102", "d", "4", "e", "1", "f", "0", "g",          \
        "1700000000000", "h", "0", "i", "KEYS\001k1\002TAGS\001t\002WAIT\001true", "j", "0", "k",  \
        "false", "m", "false"

static const tmpl_t templates[] = {
    {RMQ_REQ_SEND_MESSAGE_V2, {SEND_FIELDS, NULL}, "fuzz body 0123456789"},
    {RMQ_REQ_SEND_MESSAGE,
     {"producerGroup",
      "FuzzGroup",
      "topic",
      "FuzzTopic",
      "defaultTopic",
      "TBW102",
      "defaultTopicQueueNums",
      "4",
      "queueId",
      "2",
      "sysFlag",
      "0",
      "bornTimestamp",
      "1700000000000",
      "flag",
      "0",
      "properties",
      "UNIQ_KEY\001ABCDEF\002WAIT\001false",
      "reconsumeTimes",
      "0",
      "unitMode",
      "false",
      NULL},
     "fuzz body v1"},
    {RMQ_REQ_SEND_BATCH_MESSAGE, {SEND_FIELDS, NULL}, "\0\0\0\x20garbage-as-batch"},
    {RMQ_REQ_PULL_MESSAGE,
     {"consumerGroup",
      "FuzzGroup",
      "topic",
      "FuzzTopic",
      "queueId",
      "0",
      "queueOffset",
      "0",
      "maxMsgNums",
      "32",
      "sysFlag",
      "2",
      "commitOffset",
      "0",
      "suspendTimeoutMillis",
      "0",
      "subscription",
      "*",
      "subVersion",
      "0",
      "expressionType",
      "TAG",
      NULL},
     NULL},
    {RMQ_REQ_HEART_BEAT,
     {NULL},
     "{\"clientID\":\"fuzz@1\",\"consumerDataSet\":[{\"groupName\":\"FuzzGroup\","
     "\"consumeType\":\"CONSUME_PASSIVELY\",\"messageModel\":\"CLUSTERING\","
     "\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"subscriptionDataSet\":[{\"topic\":"
     "\"FuzzTopic\",\"subString\":\"*\",\"tagsSet\":[],\"codeSet\":[],\"subVersion\":1}],"
     "\"unitMode\":false}],\"producerDataSet\":[{\"groupName\":\"FuzzGroup\"}]}"},
    {RMQ_REQ_REGISTER_BROKER,
     {"brokerName", "FuzzBroker", "brokerAddr", "127.0.0.1:1", "clusterName", "FuzzCluster",
      "haServerAddr", "127.0.0.1:2", "brokerId", "0", "compressed", "false", NULL},
     "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":{\"counter\":1,"
     "\"timestamp\":1700000000000},\"topicConfigTable\":{\"FuzzTopicNs\":{\"perm\":6,"
     "\"readQueueNums\":4,\"topicName\":\"FuzzTopicNs\",\"writeQueueNums\":4}}}}"},
    {RMQ_REQ_UNREGISTER_BROKER,
     {"brokerName", "FuzzBroker", "brokerAddr", "127.0.0.1:1", "clusterName", "FuzzCluster",
      "brokerId", "0", NULL},
     NULL},
    {RMQ_REQ_QUERY_DATA_VERSION,
     {"brokerName", "FuzzBroker", "brokerAddr", "127.0.0.1:1", "clusterName", "FuzzCluster",
      "brokerId", "0", NULL},
     "{\"counter\":1,\"timestamp\":1700000000000}"},
    {RMQ_REQ_GET_ROUTEINFO_BY_TOPIC, {"topic", "FuzzTopic", NULL}, NULL},
    {RMQ_REQ_GET_BROKER_CLUSTER_INFO, {NULL}, NULL},
    {RMQ_REQ_GET_KV_CONFIG, {"namespace", "FuzzNs", "key", "FuzzKey", NULL}, NULL},
    {RMQ_REQ_UPDATE_CONSUMER_OFFSET,
     {"consumerGroup", "FuzzGroup", "topic", "FuzzTopic", "queueId", "1", "commitOffset", "5",
      NULL},
     NULL},
    {RMQ_REQ_QUERY_CONSUMER_OFFSET,
     {"consumerGroup", "FuzzGroup", "topic", "FuzzTopic", "queueId", "1", NULL},
     NULL},
    {RMQ_REQ_GET_MAX_OFFSET, {"topic", "FuzzTopic", "queueId", "0", NULL}, NULL},
    {RMQ_REQ_SEARCH_OFFSET_BY_TIMESTAMP,
     {"topic", "FuzzTopic", "queueId", "0", "timestamp", "1700000000000", NULL},
     NULL},
    {RMQ_REQ_QUERY_MESSAGE,
     {"topic", "FuzzTopic", "key", "k1", "maxNum", "32", "beginTimestamp", "0", "endTimestamp",
      "9999999999999", NULL},
     NULL},
    {RMQ_REQ_VIEW_MESSAGE_BY_ID, {"offset", "0", NULL}, NULL},
    {RMQ_REQ_GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup", "FuzzGroup", NULL}, NULL},
    {RMQ_REQ_CONSUMER_SEND_MSG_BACK,
     {"offset", "0", "group", "FuzzGroup", "delayLevel", "1", "originMsgId", "00", "originTopic",
      "FuzzTopic", "unitMode", "false", "maxReconsumeTimes", "16", NULL},
     NULL},
    {RMQ_REQ_END_TRANSACTION,
     {"producerGroup", "FuzzGroup", "tranStateTableOffset", "0", "commitLogOffset", "0",
      "commitOrRollback", "8", "fromTransactionCheck", "false", "msgId", "00", NULL},
     NULL},
    {RMQ_REQ_UNREGISTER_CLIENT, {"clientID", "fuzz@1", "producerGroup", "FuzzGroup", NULL}, NULL},
};
#define NTMPL (sizeof templates / sizeof templates[0])

/* ---------- random ---------- */

static uint64_t rng_state;

static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rn(size_t n) {
    return n ? (size_t)(rnd() % n) : 0;
}

/* ---------- frame building ---------- */

static const char *const bad_values[] = {
    "",   "-1",   "-2147483649", "99999999999999999999", "NaN", "0x10", "1e9",      "true",
    "\"", "\\u0", "{\"a\":[",    "2147483647",           "-0",  " 1",   "\xff\xfe", "4294967296"};

/* One request from template t with one structural mutation (kind) applied; returns new. */
static rmq_rem_cmd_t *build(const tmpl_t *t, int kind) {
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(t->code);
    if (!c) return NULL;
    if (rn(4) == 0) c->serialize_type = RMQ_REM_SER_ROCKETMQ;
    size_t nf = 0;
    while (t->kv[nf * 2]) nf++;
    size_t victim = nf ? rn(nf) : 0;
    static char longv[4097];
    if (!longv[0]) {
        memset(longv, 'F', sizeof longv - 1);
    }
    for (size_t i = 0; i < nf; i++) {
        const char *k = t->kv[i * 2], *v = t->kv[i * 2 + 1];
        if (i == victim && kind == 1) continue; /* dropped */
        if (i == victim && kind == 2) v = bad_values[rn(RMQ_ARRAY_LEN(bad_values))];
        if (i == victim && kind == 3) v = longv;
        rmq_rem_cmd_set(c, k, v);
    }
    if (kind == 4) rmq_rem_cmd_set(c, "fuzzExtra", longv + rn(4000)); /* unknown field */
    if (t->body) {
        size_t len = t->code == RMQ_REQ_SEND_BATCH_MESSAGE ? 20 : strlen(t->body);
        rmq_rem_cmd_set_body_copy(c, t->body, len);
    }
    return c;
}

/* Append one fuzzed frame to out. */
static void next_frame(rmq_buf_t *out) {
    const tmpl_t *t = &templates[rn(NTMPL)];
    int mode = (int)rn(16);
    rmq_rem_cmd_t *c = build(t, mode < 5 ? mode : 0); /* 0: valid, 1-4 structural */
    if (!c) return;
    size_t start = out->len;
    if (rmq_rem_frame_encode(c, out) != RMQ_OK) {
        rmq_rem_cmd_destroy(c);
        return;
    }
    rmq_rem_cmd_destroy(c);
    uint8_t *f = out->data + start;
    size_t n = out->len - start;
    switch (mode) {
    case 5: /* flip bytes anywhere after the prefix */
    case 6:
        for (int i = 0, k = 1 + (int)rn(8); i < k && n > 8; i++)
            f[8 + rn(n - 8)] ^= (uint8_t)(1 + rn(255));
        break;
    case 7: { /* rewrite the length prefix */
        static const uint32_t lens[] = {0,          1,          3,          4,         7,
                                        0x7fffffff, 0xffffffff, 0x01000001, 0x00fffffc};
        uint32_t v = rn(2) ? lens[rn(RMQ_ARRAY_LEN(lens))] : (uint32_t)(n - 4 + rn(64)) - 32;
        f[0] = (uint8_t)(v >> 24), f[1] = (uint8_t)(v >> 16), f[2] = (uint8_t)(v >> 8),
        f[3] = (uint8_t)v;
        break;
    }
    case 8: { /* rewrite the header length (keep the serialize type byte) */
        uint32_t v = rn(2) ? (uint32_t)rnd() : (uint32_t)rn(n + 16);
        f[5] = (uint8_t)(v >> 16), f[6] = (uint8_t)(v >> 8), f[7] = (uint8_t)v;
        break;
    }
    case 9: /* an unknown serialize type */ f[4] = (uint8_t)(2 + rn(254)); break;
    case 10: /* truncated: the next frame starts mid-frame */ out->len = start + rn(n); break;
    case 11: /* garbage of a plausible size */
        for (size_t i = 4; i < n; i++) f[i] = (uint8_t)rnd();
        break;
    case 12: /* a header that is not JSON at all, correctly framed */
        if (n > 8 && f[4] == 0)
            for (size_t i = 8; i < n; i++)
                if (f[i] == '"' || f[i] == ':' || f[i] == '{') f[i] = (uint8_t) "[]},\\ x"[rn(7)];
        break;
    default: /* 13-15: valid, 0-4 structural only */ break;
    }
}

/* ---------- connections ---------- */

typedef struct {
    int fd;
    int target;
    rmq_buf_t out;
    size_t off; /* written part of out */
} fconn_t;

typedef struct {
    char host[256];
    char port[16];
    struct sockaddr_storage sa;
    socklen_t salen;
} target_t;

static int resolve(target_t *t, const char *spec) {
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof t->host) return -1;
    memcpy(t->host, spec, (size_t)(colon - spec));
    t->host[colon - spec] = '\0';
    rmq_strlcpy(t->port, colon + 1, sizeof t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(t->host, t->port, &hints, &ai) || !ai) return -1;
    memcpy(&t->sa, ai->ai_addr, ai->ai_addrlen);
    t->salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int open_conn(const target_t *t) {
    int fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&t->sa, t->salen) && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A valid GET_BROKER_CLUSTER_INFO (served by the NameServer) or HEART_BEAT (broker) answered
 * within 10 s on a fresh blocking connection. */
static int still_serving(const target_t *t) {
    int fd = socket(t->sa.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&t->sa, t->salen)) {
        close(fd);
        return 0;
    }
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_rem_cmd_t *c = rmq_rem_cmd_new_request(RMQ_REQ_GET_BROKER_CLUSTER_INFO);
    rmq_rem_frame_encode(c, &b);
    rmq_rem_cmd_destroy(c);
    int ok = send(fd, b.data, b.len, MSG_NOSIGNAL) == (ssize_t)b.len;
    uint8_t hdr[4];
    /* any well-framed answer (a broker answers REQUEST_CODE_NOT_SUPPORTED) is fine */
    ok = ok && recv(fd, hdr, 4, MSG_WAITALL) == 4;
    rmq_buf_fini(&b);
    close(fd);
    return ok;
}

static void usage(void) {
    fprintf(stderr, "usage: netfuzz [--seconds N] [--conns N] [--seed N] HOST:PORT...\n");
}

int main(int argc, char **argv) {
    int seconds = 20, nconns = 32;
    uint64_t seed = (uint64_t)rmq_now_ms();
    target_t targets[16];
    int ntargets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            nconns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] == '-' || ntargets == 16) {
            usage();
            return 2;
        } else if (resolve(&targets[ntargets++], argv[i])) {
            fprintf(stderr, "netfuzz: cannot resolve %s\n", argv[i]);
            return 2;
        }
    }
    if (!ntargets || seconds <= 0 || nconns <= 0 || nconns > MAX_CONNS) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    rng_state = seed ? seed : 1;
    printf("netfuzz: seed %llu, %d connections, %d s\n", (unsigned long long)seed, nconns, seconds);
    fflush(stdout);

    static fconn_t conns[MAX_CONNS];
    static struct pollfd pfds[MAX_CONNS];
    for (int i = 0; i < nconns; i++) {
        conns[i].target = i % ntargets;
        conns[i].fd = open_conn(&targets[conns[i].target]);
        rmq_buf_init(&conns[i].out);
    }
    uint64_t frames = 0, built_bytes = 0, bytes = 0, reopened = 0, failed_opens = 0;
    uint64_t t0 = rmq_mono_ms(), end = t0 + (uint64_t)seconds * 1000;
    static uint8_t sink[65536];
    while (rmq_mono_ms() < end) {
        for (int i = 0; i < nconns; i++) {
            fconn_t *c = &conns[i];
            if (c->fd < 0 && (c->fd = open_conn(&targets[c->target])) < 0) failed_opens++;
            if (c->out.len - c->off < OUT_LOW) {
                if (c->off) {
                    memmove(c->out.data, c->out.data + c->off, c->out.len - c->off);
                    c->out.len -= c->off;
                    c->off = 0;
                }
                while (c->out.len < 4 * OUT_LOW) {
                    size_t before = c->out.len;
                    next_frame(&c->out);
                    built_bytes += c->out.len - before;
                    frames++;
                }
            }
            pfds[i].fd = c->fd;
            pfds[i].events = POLLIN | POLLOUT;
            pfds[i].revents = 0;
        }
        if (poll(pfds, (nfds_t)nconns, 100) < 0 && errno != EINTR) break;
        for (int i = 0; i < nconns; i++) {
            fconn_t *c = &conns[i];
            if (c->fd < 0) continue;
            bool dead = (pfds[i].revents & (POLLERR | POLLNVAL)) != 0;
            if (!dead && (pfds[i].revents & (POLLIN | POLLHUP))) {
                ssize_t r = recv(c->fd, sink, sizeof sink, 0);
                dead = r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
            }
            if (!dead && (pfds[i].revents & POLLOUT)) {
                ssize_t w = send(c->fd, c->out.data + c->off, c->out.len - c->off, MSG_NOSIGNAL);
                if (w > 0) {
                    c->off += (size_t)w;
                    bytes += (uint64_t)w;
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    dead = true;
                }
            }
            if (dead) { /* the server closed it (bad frame): start over on a new one */
                close(c->fd);
                c->fd = -1;
                c->out.len = c->off = 0;
                reopened++;
            }
        }
    }
    double secs = (double)(rmq_mono_ms() - t0) / 1000.0;
    for (int i = 0; i < nconns; i++) {
        if (conns[i].fd >= 0) close(conns[i].fd);
        rmq_buf_fini(&conns[i].out);
    }
    /* Frames still buffered when their connection closed were never written: count what was
     * written, as bytes written over the mean frame size. */
    double mean = frames ? (double)built_bytes / (double)frames : 1.0;
    double sent = (double)bytes / mean;
    printf("netfuzz: %.0f frames written (%llu bytes, mean frame %.0f bytes) in %.1f s: "
           "%.0f frames/s; %llu connections closed by the servers and reopened, %llu failed "
           "opens\n",
           sent, (unsigned long long)bytes, mean, secs, sent / secs, (unsigned long long)reopened,
           (unsigned long long)failed_opens);
    int rc = 0;
    for (int i = 0; i < ntargets; i++) {
        int ok = still_serving(&targets[i]);
        printf("netfuzz: %s:%s %s\n", targets[i].host, targets[i].port,
               ok ? "still serving" : "NOT SERVING");
        if (!ok) rc = 1;
    }
    return rc;
}
