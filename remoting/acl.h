/* ACL 1.0 as Apache RocketMQ 4.9 (acl/ module): the request signature both sides compute, the
 * plain_acl.yml account file, and the check a server runs before a request's handler.
 *
 * Signature (protocol.md 7.8, AclClientRPCHook / AclUtils.combineRequestContent): the values of
 * every ext field but Signature, in key order (Java's TreeMap: byte order for ASCII keys),
 * concatenated, then the body; Base64(HMAC-SHA1(secretKey, that)). A Java server leaves
 * _UNIQUE_KEY_QUERY out of the content while the Java client signs it; the check accepts both.
 *
 * plain_acl.yml (PlainPermissionManager): globalWhiteRemoteAddresses: [pattern...], accounts:
 * [{accessKey, secretKey, whiteRemoteAddress, admin, defaultTopicPerm, defaultGroupPerm,
 * topicPerms: ["t=PUB|SUB"...], groupPerms: ["g=SUB"...]}]. Address patterns
 * (RemoteAddressStrategyFactory): "*", "*.*.*.*", an address, "a,b,c", "a.b.c.{1,2}", and per
 * octet "*" or "lo-hi" ("10.1.*.*", "10.1.2.1-100"); IPv6: "*:*:*:*:*:*:*:*", one address or a
 * list (ranges are refused as unparsable). Extension (NameServer ACL): `broker: true` marks an
 * account that may register brokers (admin accounts may too).
 *
 * Threads: a loaded rmq_acl_t is immutable; the watcher swaps it on its loop thread, so readers
 * on that loop need no lock. */
#ifndef RMQ_REM_ACL_H
#define RMQ_REM_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "remoting/cmd.h"

#define RMQ_ACL_ACCESS_KEY "AccessKey"
#define RMQ_ACL_SIGNATURE "Signature"
#define RMQ_ACL_SECURITY_TOKEN "SecurityToken"
#define RMQ_ACL_UNIQ_QUERY "_UNIQUE_KEY_QUERY"

/* RocketMQ's Permission bits. */
#define RMQ_ACL_DENY 1
#define RMQ_ACL_ANY 2
#define RMQ_ACL_PUB 4
#define RMQ_ACL_SUB 8

#define RMQ_ACL_SIG_LEN 29 /* Base64 of 20 bytes plus NUL */

/* Base64(HMAC-SHA1(sk, content of c)) into out; skip_uniq leaves _UNIQUE_KEY_QUERY out as a
 * Java server does. RMQ_ERR__NOMEM or RMQ_ERR__INVALID_ARG (crypto failure). */
rmq_err_t rmq_acl_signature(const rmq_rem_cmd_t *c, const char *sk, bool skip_uniq,
                            char out[RMQ_ACL_SIG_LEN]);
/* Sign c as AclClientRPCHook: set AccessKey (and SecurityToken when token is non-empty), then
 * Signature over everything. */
rmq_err_t rmq_acl_sign(rmq_rem_cmd_t *c, const char *ak, const char *sk, const char *token);

/* ---- the account file ------------------------------------------------------------------ */

typedef struct rmq_acl_s rmq_acl_t;

/* Parse plain_acl.yml text; NULL with the reason in err (one line) when malformed. The result
 * is immutable; free with rmq_acl_free. */
rmq_acl_t *rmq_acl_parse(const char *text, size_t len, char *err, size_t errn);
rmq_acl_t *rmq_acl_load(const char *path, char *err, size_t errn);
void rmq_acl_free(rmq_acl_t *a); /* NULL is a no-op */
size_t rmq_acl_naccounts(const rmq_acl_t *a);

/* Whether an address (text, no port) matches a RocketMQ pattern; -1 when the pattern is not
 * one (for tests). */
int rmq_acl_addr_match(const char *pattern, const char *ip);

/* One resource a request needs: a topic, or a group (checked against groupPerms and
 * defaultGroupPerm), with RMQ_ACL_PUB / RMQ_ACL_SUB. */
typedef struct {
    const char *name; /* borrowed */
    bool group;
    int perm;
} rmq_acl_res_t;

typedef enum {
    RMQ_ACL_NEED_ADMIN = 1u << 0,  /* an admin account only */
    RMQ_ACL_NEED_BROKER = 1u << 1, /* an account with broker: true, or admin */
} rmq_acl_need_t;

/* What the check decided, for the log line and the remark. */
typedef struct {
    bool ok;
    const char *access_key; /* borrowed from the request, "" when absent */
    char why[256];          /* on refusal: what was missing */
} rmq_acl_verdict_t;

/* Check req from peer_ip (no port) needing `need` bits and res[0..nres): the global white list,
 * the account (known, its white address or a valid signature), admin/broker, then each
 * resource as RocketMQ's checkPerm. */
void rmq_acl_check(const rmq_acl_t *a, const rmq_rem_cmd_t *req, const char *peer_ip, unsigned need,
                   const rmq_acl_res_t *res, size_t nres, rmq_acl_verdict_t *v);

/* "%RETRY%G" -> "G" for a retry topic, else NULL. */
const char *rmq_acl_retry_group(const char *topic);
/* The address of "ip:port" / "[v6]:port" into out, without the port. */
void rmq_acl_peer_ip(const char *peer, char *out, size_t n);

/* RocketMQ's tools.yml (accessKey, secretKey): 1 when both are set, 0 when the file is absent
 * or does not name both, -1 with err when it cannot be read or parsed. */
int rmq_acl_tools_file(const char *path, char *ak, size_t akn, char *sk, size_t skn, char *err,
                       size_t errn);

/* ---- the file watcher ------------------------------------------------------------------ */

typedef struct rmq_acl_watch_s rmq_acl_watch_t;

/* Load path and poll its mtime/size every interval_ms on loop; a changed file that parses
 * replaces the accounts (INFO), one that does not keeps the last good ones (ERROR, once per
 * change). Fails (err) when the first load fails. Loop thread. */
rmq_err_t rmq_acl_watch_start(uv_loop_t *loop, const char *path, int interval_ms,
                              rmq_acl_watch_t **out, char *err, size_t errn);
/* The accounts in force (borrowed until the next loop turn). */
const rmq_acl_t *rmq_acl_watch_get(const rmq_acl_watch_t *w);
/* The file watched (borrowed for the watcher's life). */
const char *rmq_acl_watch_path(const rmq_acl_watch_t *w);
/* How many times the file was reloaded since start (0: the first load only) and the ms time of
 * the last load, RocketMQ's DataVersion of the ACL config. */
void rmq_acl_watch_version(const rmq_acl_watch_t *w, int64_t *counter, int64_t *ts_ms);
/* Look at the file now instead of at the next poll (after a write of ours). Loop thread. */
void rmq_acl_watch_poll(rmq_acl_watch_t *w);
/* Stop polling; freed in the timer's close callback. Loop thread. NULL is a no-op. */
void rmq_acl_watch_stop(rmq_acl_watch_t *w);

/* The plain_acl.yml a server reads: file if set (relative paths under home), else
 * <home>/conf/plain_acl.yml with home = rocketmqHome, else $ROCKETMQ_HOME, else ".". */
void rmq_acl_file_path(const char *home, const char *file, char *out, size_t n);

#endif
