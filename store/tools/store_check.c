/* store_check: verify a store directory offline, changing nothing, and print what a start-up
 * would keep and skip (store/check.h; mqbroker --check does the same from a broker config).
 *
 * usage: store_check [--commitlog-size N] [--cq-size N] [--max-message-size N] STORE_ROOT
 * exit: 0 clean, 1 damage found, 2 error (unreadable directory, bad arguments). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "store/check.h"

static void usage(FILE *out) {
    fprintf(out, "usage: store_check [--commitlog-size N] [--cq-size N] [--max-message-size N] "
                 "STORE_ROOT\n       store_check --version\n"
                 "  exit 0 clean, 1 damage found, 2 error\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"commitlog-size", 1, 0, 's'},
                                         {"cq-size", 1, 0, 'q'},
                                         {"max-message-size", 1, 0, 'm'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    if (argc > 1 && rmq_is_version_arg(argv[1], 1)) {
        rmq_print_version("store_check");
        return 0;
    }
    rmq_store_check_cfg_t cfg = {.commitlog_size = 1073741824};
    int c;
    while ((c = getopt_long(argc, argv, "s:q:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': cfg.commitlog_size = strtoll(optarg, NULL, 10); break;
        case 'q': cfg.cq_size = strtoll(optarg, NULL, 10); break;
        case 'm': cfg.max_message_size = strtoll(optarg, NULL, 10); break;
        default: usage(c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1 || cfg.commitlog_size < 4096 || (cfg.cq_size && cfg.cq_size < 20)) {
        usage(stderr);
        return 2;
    }
    cfg.root = argv[optind];
    return rmq_store_check(&cfg, stdout);
}
