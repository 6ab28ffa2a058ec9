#include "test/integration/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void rmq_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int rmq_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Can port be bound on 0.0.0.0 now (the way the broker binds)? */
static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons((uint16_t)port);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int rmq_free_port_ha(void) {
    /* below the kernel's ephemeral range, so no outgoing connection takes port + 1 meanwhile */
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) != 1) lo = 32768;
        fclose(f);
    }
    if (lo < 12000) return rmq_free_port();
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int i = 0; i < 1000; i++) {
        int p = 10002 + (int)(rand_r(&seed) % (unsigned)(lo - 10010));
        if (port_free(p - 2) && port_free(p) && port_free(p + 1)) return p;
    }
    return rmq_free_port();
}

int rmq_broker_prepare(rmq_proc_t *p) {
    memset(p, 0, sizeof *p);
    if (rmq_mkdtemp("rmq-broker", p->dir, sizeof p->dir)) return -1;
    p->port = rmq_free_port_ha();
    return p->port > 0 ? 0 : -1;
}

int rmq_mkdtemp(const char *prefix, char *out, size_t outsz) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(out, outsz, "%s/%s.XXXXXX", tmp, prefix);
    return mkdtemp(out) ? 0 : -1;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void rmq_rm_rf(const char *dir) {
    const char *tmp = getenv("TMPDIR");
    if (!dir || !*dir) return;
    if (strncmp(dir, "/tmp/", 5) != 0 && !(tmp && *tmp && !strncmp(dir, tmp, strlen(tmp)))) return;
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void rmq_bin_path(const char *name, char *out, size_t outsz) {
    const char *d = getenv("RMQ_BIN_DIR");
    snprintf(out, outsz, "%s/%s", d && *d ? d : "./build/bin", name);
}

int rmq_wait_port(int port, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 0;
        rmq_sleep_ms(20);
    }
    return -1;
}

int rmq_spawn(rmq_proc_t *p, const char *bin, char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* Own process group: a test's SIGINT does not reach it, and it never outlives
         * the test by accident of a shared group kill. */
        setpgid(0, 0);
        execv(bin, argv);
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

int rmq_start_namesrv(rmq_proc_t *p, const char *extra) {
    memset(p, 0, sizeof *p);
    if (rmq_mkdtemp("rmq-ns", p->dir, sizeof p->dir)) return -1;
    p->port = rmq_free_port();
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
    snprintf(p->conf, sizeof p->conf, "%s/namesrv.conf", p->dir);
    snprintf(p->log, sizeof p->log, "%s/namesrv.log", p->dir);
    char text[4096];
    snprintf(text, sizeof text, "listenPort=%d\nrocketmqHome=%s\nkvConfigPath=%s/kvConfig.json\n%s",
             p->port, p->dir, p->dir, extra ? extra : "");
    if (write_file(p->conf, text)) return -1;
    char bin[512];
    rmq_bin_path("mqnamesrv", bin, sizeof bin);
    char *argv[] = {bin, "-c", p->conf, NULL};
    if (rmq_spawn(p, bin, argv)) return -1;
    return rmq_wait_port(p->port, 10000);
}

/* Ask the NameServer at port for GET_BROKER_CLUSTER_INFO (106) over a raw JSON frame: 1 when
 * its body names addr, 0 when not (yet), -1 when the NameServer cannot be asked. */
static int namesrv_knows(int port, const char *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = -1;
    char *resp = NULL;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) goto out;
    const char *h = "{\"code\":106,\"extFields\":{},\"flag\":0,\"language\":\"JAVA\","
                    "\"opaque\":1,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}";
    uint32_t hl = (uint32_t)strlen(h);
    unsigned char pre[8];
    uint32_t total = 4 + hl;
    for (int i = 0; i < 4; i++) {
        pre[i] = (unsigned char)(total >> (24 - 8 * i));
        pre[4 + i] = (unsigned char)(hl >> (24 - 8 * i)); /* serialize type 0: JSON */
    }
    if (write(fd, pre, 8) != 8 || write(fd, h, hl) != (ssize_t)hl) goto out;
    unsigned char lb[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, lb + got, 4 - got);
        if (r <= 0) goto out;
        got += (size_t)r;
    }
    uint32_t len = (uint32_t)lb[0] << 24 | (uint32_t)lb[1] << 16 | (uint32_t)lb[2] << 8 | lb[3];
    if (len < 4 || len > (64u << 20) || !(resp = malloc(len + 1))) goto out;
    for (got = 0; got < len;) {
        ssize_t r = read(fd, resp + got, len - got);
        if (r <= 0) goto out;
        got += (size_t)r;
    }
    resp[len] = 0;
    /* the body (after the header) is text JSON: a search for the quoted address is enough */
    char want[80];
    snprintf(want, sizeof want, "\"%s\"", addr);
    rc = memmem(resp, len, want, strlen(want)) != NULL;
out:
    free(resp);
    close(fd);
    return rc;
}

/* Wait until every NameServer in ns ("h:p;h:p") that answers lists addr (a broker's first
 * registration is asynchronous: its port accepts before the NameServer knows it). */
static void wait_registered(const char *ns, const char *addr, int timeout_ms) {
    while (ns && *ns) {
        const char *e = strchr(ns, ';');
        size_t n = e ? (size_t)(e - ns) : strlen(ns);
        char one[64];
        snprintf(one, sizeof one, "%.*s", (int)n, ns);
        const char *colon = strrchr(one, ':');
        if (colon) {
            int port = atoi(colon + 1);
            for (int waited = 0; waited < timeout_ms; waited += 20) {
                if (namesrv_knows(port, addr) != 0) break; /* known, or nobody to ask */
                rmq_sleep_ms(20);
            }
        }
        if (!e) break;
        ns = e + 1;
    }
}

int rmq_start_broker(rmq_proc_t *p, const char *namesrv, const char *extra) {
    if (!p->dir[0]) {
        memset(p, 0, sizeof *p);
        if (rmq_mkdtemp("rmq-broker", p->dir, sizeof p->dir)) return -1;
        p->port = rmq_free_port();
    }
    p->pid = 0;
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
    snprintf(p->conf, sizeof p->conf, "%s/broker.conf", p->dir);
    snprintf(p->log, sizeof p->log, "%s/broker.log", p->dir);
    char text[8192];
    const char *e = extra ? extra : "";
    snprintf(text, sizeof text,
             "brokerClusterName=TestCluster\nbrokerName=broker-%d\nbrokerId=0\n"
             "listenPort=%d\nbrokerIP1=127.0.0.1\nnamesrvAddr=%s\nstorePathRootDir=%s/store\n"
             "%s%s",
             p->port, p->port, namesrv ? namesrv : "", p->dir,
             strstr(e, "mappedFileSizeCommitLog") ? "" : "mappedFileSizeCommitLog=4194304\n", e);
    if (write_file(p->conf, text)) return -1;
    char bin[512];
    rmq_bin_path("mqbroker", bin, sizeof bin);
    char *argv[] = {bin, "-c", p->conf, NULL};
    if (rmq_spawn(p, bin, argv)) return -1;
    if (rmq_wait_port(p->port, 20000) != 0) return -1;
    /* Only the default address can be looked for (extra may set brokerIP1 or namesrvAddr). */
    if (namesrv && *namesrv && !strstr(e, "brokerIP1=") && !strstr(e, "namesrvAddr="))
        wait_registered(namesrv, p->addr, 10000);
    return 0;
}

int rmq_proc_stop(rmq_proc_t *p, int sig) {
    if (p->pid <= 0) return -1;
    int status = -1;
    kill(p->pid, sig);
    for (int waited = 0; waited < 20000; waited += 10) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return status;
        }
        if (r < 0) break;
        rmq_sleep_ms(10);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return status;
}

int rmq_proc_log_errors(const rmq_proc_t *p) {
    FILE *f = fopen(p->log, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, " ERROR ")) {
            if (n++ < 5) fprintf(stderr, "[%s] %s", p->log, line); /* say which, when asserted */
        }
    fclose(f);
    return n;
}
