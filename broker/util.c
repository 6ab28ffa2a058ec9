/* Helpers shared by the broker files: error responses, header accessors, config loading, peer
 * addresses, enum names (util.h). */
#include "broker/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

rmq_rem_cmd_t *rmq_broker_err(const rmq_rem_cmd_t *req, int code, const char *fmt, ...) {
    char remark[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof remark, fmt, ap);
    va_end(ap);
    return rmq_rem_cmd_new_response(req, code, remark);
}

void rmq_broker_peer_host(rmq_rem_conn_t *c, rmq_msg_host_t *h) {
    memset(h, 0, sizeof *h);
    uint32_t ip;
    uint16_t port;
    if (rmq_rem_conn_peer_v4(c, &ip, &port)) {
        memcpy(h->ip, &ip, 4); /* network order = the stored big-endian bytes */
        h->ip_len = 4;
        h->port = port;
        return;
    }
    /* IPv6 peer "[addr]:port" or "addr:port": keep 16 bytes, or 4 when IPv4-mapped. */
    const char *p = rmq_rem_conn_peer(c);
    char buf[128];
    rmq_strlcpy(buf, p ? p : "", sizeof buf);
    char *colon = strrchr(buf, ':');
    h->ip_len = 4;
    if (!colon) return;
    *colon = 0;
    h->port = atoi(colon + 1);
    char *a = buf;
    if (*a == '[') {
        a++;
        char *e = strchr(a, ']');
        if (e) *e = 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, a, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(h->ip, &a6.s6_addr[12], 4);
        } else {
            memcpy(h->ip, a6.s6_addr, 16);
            h->ip_len = 16;
        }
    }
}

/* ---- headers ----------------------------------------------------------------------- */

static rmq_rem_cmd_t *missing(const rmq_rem_cmd_t *req, const char *k) {
    /* Java: RemotingCommandException "the custom field <k> is null" -> SYSTEM_ERROR */
    return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is null", k);
}

static rmq_rem_cmd_t *malformed(const rmq_rem_cmd_t *req, const char *k) {
    return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "the custom field <%s> is not valid: %s", k,
                          rmq_rem_cmd_get(req, k));
}

rmq_rem_cmd_t *rmq_broker_need_str(const rmq_rem_cmd_t *req, const char *k, const char **out) {
    const char *v = rmq_rem_cmd_get(req, k);
    if (!v) return missing(req, k);
    *out = v;
    return NULL;
}

rmq_rem_cmd_t *rmq_broker_need_i32(const rmq_rem_cmd_t *req, const char *k, int32_t *out) {
    rmq_err_t e = rmq_rem_cmd_get_i32(req, k, out);
    if (e == RMQ_ERR__NOT_FOUND) return missing(req, k);
    if (e != RMQ_OK) return malformed(req, k);
    return NULL;
}

rmq_rem_cmd_t *rmq_broker_need_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out) {
    rmq_err_t e = rmq_rem_cmd_get_i64(req, k, out);
    if (e == RMQ_ERR__NOT_FOUND) return missing(req, k);
    if (e != RMQ_OK) return malformed(req, k);
    return NULL;
}

rmq_rem_cmd_t *rmq_broker_opt_i64(const rmq_rem_cmd_t *req, const char *k, int64_t *out) {
    int64_t v;
    rmq_err_t e = rmq_rem_cmd_get_i64(req, k, &v);
    if (e == RMQ_ERR__NOT_FOUND) return NULL;
    if (e != RMQ_OK) return malformed(req, k);
    *out = v;
    return NULL;
}

rmq_rem_cmd_t *rmq_broker_opt_bool(const rmq_rem_cmd_t *req, const char *k, bool *out) {
    bool v;
    rmq_err_t e = rmq_rem_cmd_get_bool(req, k, &v);
    if (e == RMQ_ERR__NOT_FOUND) return NULL;
    if (e != RMQ_OK) return malformed(req, k);
    *out = v;
    return NULL;
}

void rmq_broker_load_config(const char *mod, const char *path, const char *fallback,
                            rmq_err_t (*decode)(const char *text, size_t len, void *arg),
                            void *arg) {
    char *text = NULL;
    size_t len = 0;
    rmq_err_t e = rmq_store_cfgfile_read(path, &text, &len);
    if (e == RMQ_OK) {
        if (decode(text, len, arg) != RMQ_OK)
            RMQ_LOG_WARN(mod, "%s unreadable; %s", path, fallback);
        free(text);
    } else if (e != RMQ_ERR__NOT_FOUND) {
        RMQ_LOG_WARN(mod, "cannot read %s: %s; %s", path, rmq_strerror(e), fallback);
    }
}

rmq_rem_cmd_t *rmq_broker_ok_body(const rmq_rem_cmd_t *req, rmq_buf_t *body) {
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (!resp) {
        rmq_buf_fini(body);
        return NULL;
    }
    size_t n;
    uint8_t *p = rmq_buf_detach(body, &n);
    if (p) rmq_rem_cmd_set_body(resp, p, n);
    return resp;
}

rmq_rem_cmd_t *rmq_broker_ok_text(const rmq_rem_cmd_t *req, char *text, const char *none) {
    if (!text) return rmq_broker_err(req, RMQ_ERR_SYSTEM_ERROR, "%s", none);
    rmq_rem_cmd_t *resp = rmq_rem_cmd_new_response(req, RMQ_OK, NULL);
    if (!resp) {
        free(text);
        return NULL;
    }
    rmq_rem_cmd_set_body(resp, text, strlen(text));
    return resp;
}

/* ---- enums ------------------------------------------------------------------------- */

const char *const rmq_broker_consume_type_names[] = {"CONSUME_ACTIVELY", "CONSUME_PASSIVELY", NULL};
const char *const rmq_broker_message_model_names[] = {"BROADCASTING", "CLUSTERING", NULL};
const char *const rmq_broker_consume_from_names[] = {
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
    NULL};
