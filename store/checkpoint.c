/* The checkpoint file (store.md 5.1): three timestamps in the first 24 bytes of a 4096-byte
 * file. Bytes past 24 (5.x's masterFlushedOffset, confirmPhyOffset) are read and written back
 * untouched. Written with pwrite + fdatasync under ckpt_mu. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store_int.h"

rmq_err_t rmq_store__ckpt_load(rmq_store_t *s) {
    memset(&s->ckpt, 0, sizeof(s->ckpt));
    int fd = open(s->ckpt_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? RMQ_OK : RMQ_ERR__IO;
    ssize_t n = pread(fd, s->ckpt.raw, sizeof(s->ckpt.raw), 0);
    close(fd);
    if (n < 24) {
        memset(s->ckpt.raw, 0, sizeof(s->ckpt.raw));
        return RMQ_OK;
    }
    s->ckpt.physic_ts = (int64_t)rmq_get_be64(s->ckpt.raw);
    s->ckpt.logics_ts = (int64_t)rmq_get_be64(s->ckpt.raw + 8);
    s->ckpt.index_ts = (int64_t)rmq_get_be64(s->ckpt.raw + 16);
    return RMQ_OK;
}

rmq_err_t rmq_store__ckpt_write(rmq_store_t *s) {
    pthread_mutex_lock(&s->ckpt_mu);
    rmq_put_be64(s->ckpt.raw, (uint64_t)s->ckpt.physic_ts);
    rmq_put_be64(s->ckpt.raw + 8, (uint64_t)s->ckpt.logics_ts);
    rmq_put_be64(s->ckpt.raw + 16, (uint64_t)s->ckpt.index_ts);
    rmq_err_t e = RMQ_OK;
    int fd = open(s->ckpt_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || pwrite(fd, s->ckpt.raw, sizeof(s->ckpt.raw), 0) != (ssize_t)sizeof(s->ckpt.raw) ||
        fdatasync(fd) != 0) {
        RMQ_LOG_WARN("store", "checkpoint %s: %s", s->ckpt_path, strerror(errno));
        e = RMQ_ERR__IO;
    }
    if (fd >= 0) close(fd);
    pthread_mutex_unlock(&s->ckpt_mu);
    return e;
}
