/* Raw remoting frames over a plain blocking socket whose source address the test chooses
 * (127.0.0.2 on loopback stands for "another host"): the NameServer sees that address as the
 * peer. Frames are built with the project's encoder (rmq_rem_frame_encode). */
#ifndef RMQ_TEST_RAW_FRAME_H
#define RMQ_TEST_RAW_FRAME_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/buf.h"
#include "remoting/cmd.h"
#include "remoting/frame.h"

/* A socket bound to src (e.g. "127.0.0.2") and connected to 127.0.0.1:port, with 5 s send and
 * receive timeouts; -1 on failure. */
static inline int raw_connect_from(const char *src, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send req (taken) on fd and return the response with its opaque (caller destroys), or NULL
 * when the connection closed, timed out or sent garbage. */
static inline rmq_rem_cmd_t *raw_call(int fd, rmq_rem_cmd_t *req) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    int opaque = req->opaque;
    bool ok = rmq_rem_frame_encode(req, &b) == RMQ_OK;
    rmq_rem_cmd_destroy(req);
    for (size_t off = 0; ok && off < b.len;) {
        ssize_t w = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (w <= 0)
            ok = false;
        else
            off += (size_t)w;
    }
    rmq_buf_reset(&b);
    rmq_rem_cmd_t *resp = NULL;
    uint8_t chunk[4096];
    while (ok && !resp) {
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r <= 0) break;
        rmq_buf_append(&b, chunk, (size_t)r);
        for (;;) {
            rmq_rem_cmd_t *c = NULL;
            char err[128];
            ssize_t used =
                rmq_rem_frame_decode(b.data, b.len, RMQ_REM_FRAME_MAX_DEFAULT, &c, err, sizeof err);
            if (used <= 0) {
                ok = used == 0;
                break;
            }
            memmove(b.data, b.data + used, b.len - (size_t)used);
            b.len -= (size_t)used;
            if (c->opaque == opaque && rmq_rem_cmd_is_response(c)) {
                resp = c;
                break;
            }
            rmq_rem_cmd_destroy(c);
        }
    }
    rmq_buf_fini(&b);
    return resp;
}

#endif
