/* Config JSON files (store.md 8.1): written to <path>.tmp, fsync'd, the current file kept as
 * <path>.bak (a hard link, so <path> itself never disappears), then renamed over <path> and the
 * directory fsync'd. Read: <path>, or <path>.bak when <path> is missing or empty. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store.h"

static void fsync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

static rmq_err_t copy_file(const char *from, const char *to) {
    char *text;
    size_t len;
    FILE *in = fopen(from, "rb");
    if (!in) return RMQ_ERR__IO;
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    text = malloc(n > 0 ? (size_t)n : 1);
    len = text ? fread(text, 1, (size_t)(n > 0 ? n : 0), in) : 0;
    fclose(in);
    if (!text) return RMQ_ERR__NOMEM;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    rmq_err_t e = RMQ_OK;
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) e = RMQ_ERR__IO;
    if (fd >= 0) close(fd);
    free(text);
    return e;
}

rmq_err_t rmq_store_cfgfile_write(const char *path, const char *text, size_t len) {
    char tmp[4096], bak[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(bak, sizeof(bak), "%s.bak", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        char *copy = strdup(path);
        if (copy) {
            /* the config directory may not exist yet */
            char *d = dirname(copy);
            char buf[4096];
            snprintf(buf, sizeof(buf), "%s", d);
            for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                    *p = 0;
                    mkdir(buf, 0755);
                    *p = '/';
                }
            mkdir(buf, 0755);
            free(copy);
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        RMQ_LOG_ERROR("store", "write %s: %s", tmp, strerror(errno));
        return RMQ_ERR__IO;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            RMQ_LOG_ERROR("store", "write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return errno == ENOSPC ? RMQ_ERR__DISK_FULL : RMQ_ERR__IO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        RMQ_LOG_ERROR("store", "fsync %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return RMQ_ERR__IO;
    }
    close(fd);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0) {
        unlink(bak);
        if (link(path, bak) != 0 && copy_file(path, bak) != RMQ_OK)
            RMQ_LOG_WARN("store", "cannot keep %s: %s", bak, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        RMQ_LOG_ERROR("store", "rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return RMQ_ERR__IO;
    }
    fsync_dir(path);
    return RMQ_OK;
}

static rmq_err_t read_one(const char *path, char **text, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? RMQ_ERR__NOT_FOUND : RMQ_ERR__IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return RMQ_ERR__IO;
    }
    if (st.st_size == 0) {
        close(fd);
        return RMQ_ERR__NOT_FOUND;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return RMQ_ERR__NOMEM;
    }
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        off += (size_t)r;
    }
    close(fd);
    buf[off] = '\0';
    *text = buf;
    *len = off;
    return RMQ_OK;
}

rmq_err_t rmq_store_cfgfile_read(const char *path, char **text, size_t *len) {
    rmq_err_t e = read_one(path, text, len);
    if (e == RMQ_OK) return e;
    char bak[4096];
    snprintf(bak, sizeof(bak), "%s.bak", path);
    rmq_err_t e2 = read_one(bak, text, len);
    if (e2 == RMQ_OK) {
        RMQ_LOG_WARN("store", "%s unreadable (%s): using %s", path, rmq_strerror(e), bak);
        return RMQ_OK;
    }
    return e == RMQ_ERR__NOT_FOUND ? e2 : e;
}
