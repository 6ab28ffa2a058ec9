/* Offline store check: verify a stopped store without changing it and report what a start-up
 * would keep and skip. Used by store_check and mqbroker --check. */
#ifndef RMQ_STORE_CHECK_H
#define RMQ_STORE_CHECK_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *root;          /* storePathRootDir */
    const char *commitlog_dir; /* storePathCommitLog; NULL or "": <root>/commitlog */
    int64_t commitlog_size;    /* mappedFileSizeCommitLog; <= 0: 1 GiB */
    int64_t cq_size;           /* mappedFileSizeConsumeQueue; <= 0: 300000 * 20 */
    int64_t max_message_size;  /* maxMessageSize; <= 0: 4 MiB */
} rmq_store_check_cfg_t;

/* Check the store cfg names, writing the report to out: one line per segment, queue and index
 * file, "DAMAGE ..." lines for what a start would skip, repair or set aside, and a summary.
 * Returns 0 clean, 1 damage found, 2 error (not a directory, unreadable file; "ERROR ..."). */
int rmq_store_check(const rmq_store_check_cfg_t *cfg, FILE *out);

#endif
