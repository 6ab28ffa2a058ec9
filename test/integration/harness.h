/* Integration-test harness: start real mqnamesrv / mqbroker processes on 127.0.0.1 with free
 * ports and temporary directories, and stop only those processes, by pid.
 * Binaries are found in $RMQ_BIN_DIR (set by ctest) or ./build/bin. */
#ifndef RMQ_TEST_HARNESS_H
#define RMQ_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;      /* 0 when not running */
    int port;       /* listen port */
    char dir[256];  /* temp dir: config file, log, store */
    char conf[300]; /* config file written for the process */
    char log[300];  /* its log file */
    char addr[64];  /* "127.0.0.1:port" */
} rmq_proc_t;

/* A port nobody listens on now (bind to 0, read it back, close). */
int rmq_free_port(void);
/* A port p with p - 2, p and p + 1 free (a broker's fast, remoting and HA ports), chosen below
 * the kernel's ephemeral port range so that no client connection takes p + 1 before the broker
 * binds it; rmq_free_port() when that range leaves no room. */
int rmq_free_port_ha(void);
/* For a master with slaves: zero p, make its temp dir and pick its port with rmq_free_port_ha;
 * rmq_start_broker(p, ...) then starts it there. 0 or -1. */
int rmq_broker_prepare(rmq_proc_t *p);
/* New directory under $TMPDIR or /tmp named prefix.XXXXXX into out; 0 or -1. */
int rmq_mkdtemp(const char *prefix, char *out, size_t outsz);
/* Remove a tree (only under /tmp or $TMPDIR, as a guard). */
void rmq_rm_rf(const char *dir);

/* Start mqnamesrv on a free port in a new temp dir. extra: more key=value lines or NULL.
 * Waits until the port accepts connections. 0 or -1. */
int rmq_start_namesrv(rmq_proc_t *p, const char *extra);
/* Start mqbroker registering with namesrv ("a;b"). If p->dir is already set (a restart) the
 * same dir and port are reused, else a new temp dir and free port. extra: more key=value
 * lines (e.g. "flushDiskType=SYNC_FLUSH\n"). Uses 4 MB CommitLog segments unless extra sets
 * mappedFileSizeCommitLog. Waits until the port accepts. 0 or -1. */
int rmq_start_broker(rmq_proc_t *p, const char *namesrv, const char *extra);
/* Start any binary with args (NULL-terminated) logging to p->log; does not wait for a port. */
int rmq_spawn(rmq_proc_t *p, const char *bin, char *const argv[]);
/* Wait until 127.0.0.1:port accepts a TCP connection; 0 or -1 after timeout_ms. */
int rmq_wait_port(int port, int timeout_ms);
/* Send sig (SIGTERM or SIGKILL) to p->pid and reap it; returns the exit status as from
 * waitpid (or -1). Waits up to 20 s, then SIGKILLs. */
int rmq_proc_stop(rmq_proc_t *p, int sig);
/* Number of " ERROR " lines in p->log (tests fail on any unexpected one). */
int rmq_proc_log_errors(const rmq_proc_t *p);
/* Path of a built binary ("mqnamesrv") into out. */
void rmq_bin_path(const char *name, char *out, size_t outsz);
/* Milliseconds sleep. */
void rmq_sleep_ms(int ms);

#endif
