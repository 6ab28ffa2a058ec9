/* mqadmin's private header: the command context and table entry, the helpers every command
 * family shares (tools/mqadmin/common.c) and one entry point per subcommand, defined in the
 * file of its family: topic.c, cluster.c (cluster and broker), message.c (queries, send,
 * consume), consumer.c (progress, connections, offsets, subscription groups); main.c holds the
 * command table and dispatch. */
#ifndef RMQ_TOOLS_MQADMIN_H
#define RMQ_TOOLS_MQADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/admin_internal.h"
#include "rmq/rmq.h"
#include "tools/msgrec.h"
#include "tools/tool_util.h"

#define TOOLS_GROUP "TOOLS_CONSUMER"

typedef struct cmd_s cmd_t;
typedef struct {
    const cmd_t *cmd;
    rmq_tool_args_t args;
    rmq_admin_t *admin;
    bool json;
    const char *ns;
} ctx_t;

struct cmd_s {
    const char *name;
    const char *desc;
    int (*run)(ctx_t *c);
    rmq_tool_opt_t opts[RMQ_TOOL_MAX_OPTS - 5]; /* plus -n, -h, --json, -ak, -sk */
};

/* A queue and three numbers, rows of the per-queue tables. */
typedef struct {
    rmq_mq_t mq;
    int64_t a, b, ts;
} adm_qrow_t;

/* The running subcommand's name for error lines; set once in main(). */
extern const char *adm_cmd_name;
/* true: adm_fail only records its line (mqconsole answers it over HTTP). */
extern bool adm_quiet;
/* The calling thread's last adm_fail line ("" before any). */
const char *adm_last_failure(void);
/* Forget it (before a new unit of work on a reused thread). */
void adm_clear_failure(void);

/* ---- common.c ------------------------------------------------------------------------ */

/* One line on stderr; returns the exit status. */
int adm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error text for e from the last admin call. */
const char *adm_why(ctx_t *c, rmq_err_t e);
/* Full option table of a command: its own plus the common ones. */
int adm_full_opts(const cmd_t *cmd, rmq_tool_opt_t *out);
const char *adm_opt(ctx_t *c, char s, const char *l);
bool adm_opt_true(ctx_t *c, char s, const char *l);
/* *out is always set (dflt on error too), so no caller reads an unset int. */
int adm_opt_int(ctx_t *c, char s, int dflt, int *out);
json_t *adm_parse_json(const char *s);
void adm_print_json(json_t *j);
const char *adm_jstr(json_t *o, const char *k);
int64_t adm_jint(json_t *o, const char *k);
double adm_jreal(json_t *o, const char *k);
/* A MessageQueue map key (its JSON text, after rmq_json_fix). */
bool adm_mq_parse(const char *key, rmq_mq_t *mq);
int adm_mq_cmp(const rmq_mq_t *a, const rmq_mq_t *b);
int adm_str_cmp(const void *a, const void *b);
/* o's keys in strcmp order (borrowed from o), as Java's TreeMap prints them; new array
 * (free()), NULL on OOM with *n 0. */
const char **adm_sorted_keys(json_t *o, size_t *n);
/* A properties body ("key=value" lines; '#' comments and lines without '=' skipped) as a new
 * JSON object of strings; NULL on OOM. */
json_t *adm_props_json(const void *body, size_t len);
/* props as "%-50s=  %s" lines in key order (Java's getBrokerConfig / getNamesrvConfig). */
void adm_print_props(json_t *props);
/* NameServer call returning parsed JSON (NULL after printing the error). */
json_t *adm_ns_call(ctx_t *c, int code, const char *const *kv, const char *what);
json_t *adm_broker_call(ctx_t *c, const char *addr, int code, const char *const *kv,
                        const char *body, const char *what, rmq_err_t *err);
json_t *adm_route_of(ctx_t *c, const char *topic);
/* Master address of a BrokerData, or any address. */
const char *adm_bd_master(json_t *bd);
json_t *adm_cluster_info(ctx_t *c);
/* UPDATE_AND_CREATE_TOPIC of topic on the broker at addr with RocketMQ's TopicConfig fields
 * (filter NULL: SINGLE_TAG); what labels a failure in adm_why as adm_broker_call does. */
rmq_err_t adm_put_topic(ctx_t *c, const char *addr, const char *topic, int64_t rq, int64_t wq,
                        int perm, int64_t sysflag, const char *filter, bool order,
                        const char *what);
/* Masters of every broker of cluster in a cluster info ci (array of strings, empty when none is
 * online; NULL when ci has no such cluster). ci is not taken. */
json_t *adm_masters_in(json_t *ci, const char *cluster);
/* Masters of every broker of cluster (array of strings; NULL after an error). */
json_t *adm_cluster_masters(ctx_t *c, const char *cluster);
/* Brokers to act on: -b addr wins over -c cluster (RocketMQ's rule). */
json_t *adm_target_brokers(ctx_t *c);
const char *adm_perm_str(int perm);
/* Queue rows sort by queue (topic status, consumer progress). */
int adm_qrow_cmp(const void *x, const void *y);

/* ---- topic.c ----------------------------------------------------------------------------- */

int adm_cmd_update_topic(ctx_t *c);
int adm_cmd_delete_topic(ctx_t *c);
json_t *adm_topic_list(ctx_t *c);
int adm_cmd_topic_list(ctx_t *c);
int adm_cmd_topic_route(ctx_t *c);
int adm_cmd_topic_status(ctx_t *c);

/* ---- cluster.c --------------------------------------------------------------------------- */

int adm_cmd_cluster_list(ctx_t *c);
/* clusterList's rows, one per broker address (see cluster.c); NULL after an error. */
json_t *adm_cluster_rows(ctx_t *c);
int adm_cmd_broker_status(ctx_t *c);

/* ---- message.c --------------------------------------------------------------------------- */

int adm_cmd_query_msg_by_id(ctx_t *c);
int adm_cmd_query_msg_by_unique_key(ctx_t *c);
int adm_cmd_query_msg_by_key(ctx_t *c);
int adm_cmd_query_msg_by_offset(ctx_t *c);
int adm_cmd_send_message(ctx_t *c);
int adm_cmd_consume_message(ctx_t *c);
/* queryMsgById's record as --json prints it (body as a string). */
json_t *adm_msg_json(const rmq_tool_msg_t *m);
/* jout.tracks = which groups consumed m (QUERY_TOPIC_CONSUME_BY_WHO + consume stats); jout
 * NULL prints them. */
void adm_track_consumers(ctx_t *c, const rmq_tool_msg_t *m, json_t *jout);
/* queryMsgById's lookup: an offset id, else a unique key in topic (every topic when NULL).
 * *v new (rmq_tool_msgs_free); RMQ_ERR_QUERY_NOT_FOUND, RMQ_ERR__FAIL (topic list failed). */
rmq_err_t adm_find_msg_by_id(ctx_t *c, const char *id, const char *topic, rmq_tool_msg_t **v,
                             size_t *n);
/* Raw PULL_MESSAGE of up to max records from offset (no commit); *next the broker's next
 * begin offset. */
rmq_err_t adm_pull_raw(ctx_t *c, const char *addr, const char *group, const char *topic, int qid,
                       int64_t offset, int max, rmq_tool_msg_t **v, size_t *n, int64_t *next);

/* ---- consumer.c -------------------------------------------------------------------------- */

int adm_cmd_consumer_progress(ctx_t *c);
/* consumerProgress's group list as --json rows (group, count, version, consumeType,
 * messageModel, consumeTps, diffTotal); NULL after an error. */
json_t *adm_group_rows(ctx_t *c);
/* Merged ConsumeStats offsetTable of group (topic's brokers, else its retry topic's, else every
 * broker); *tps the summed consumeTps. NULL with *err. */
json_t *adm_consume_stats(ctx_t *c, const char *group, const char *topic, double *tps,
                          rmq_err_t *err);
int adm_cmd_consumer_connection(ctx_t *c);
int adm_cmd_reset_offset(ctx_t *c);
int adm_cmd_update_sub_group(ctx_t *c);
/* GET_CONSUMER_CONNECTION_LIST of group from one of its brokers (NULL with *err). */
json_t *adm_consumer_conn(ctx_t *c, const char *group, rmq_err_t *err);
/* ---- consumer_status.c ------------------------------------------------------------------- */
/* GET_CONSUMER_RUNNING_INFO of client_id through a broker of group (NULL with *err). */
json_t *adm_running_info(ctx_t *c, const char *group, const char *client_id, bool jstack,
                         rmq_err_t *err);
int adm_cmd_consumer_status(ctx_t *c);
/* queryMsgById -g G -d clientId: consume the ids (comma-separated) directly on that client. */
int adm_consume_directly(ctx_t *c, const char *ids);

/* ---- config.c ---------------------------------------------------------------------------- */

int adm_cmd_update_broker_config(ctx_t *c);
int adm_cmd_get_broker_config(ctx_t *c);

/* ---- group.c, nsadmin.c, acl.c (groups, perms, NameServer KV/config, ACL 1.0) ----------- */

int adm_cmd_delete_sub_group(ctx_t *c);
int adm_cmd_update_topic_perm(ctx_t *c);
int adm_cmd_topic_cluster_list(ctx_t *c);
int adm_cmd_clone_group_offset(ctx_t *c);
int adm_cmd_skip_accumulated(ctx_t *c);
int adm_cmd_wipe_write_perm(ctx_t *c);
int adm_cmd_add_write_perm(ctx_t *c);
int adm_cmd_update_kv_config(ctx_t *c);
int adm_cmd_delete_kv_config(ctx_t *c);
int adm_cmd_update_order_conf(ctx_t *c);
int adm_cmd_get_namesrv_config(ctx_t *c);
int adm_cmd_update_namesrv_config(ctx_t *c);
int adm_cmd_update_acl_config(ctx_t *c);
int adm_cmd_delete_acl_config(ctx_t *c);
int adm_cmd_update_global_white_addr(ctx_t *c);
int adm_cmd_cluster_acl_config_version(ctx_t *c);
int adm_cmd_export_metadata(ctx_t *c); /* export.c */
int adm_cmd_export_configs(ctx_t *c);
/* A 4.9.8 command rmq does not offer: main() prints the row's desc (the reason), exit 1. */
int adm_cmd_unavailable(ctx_t *c);

/* ---- dlq.c ------------------------------------------------------------------------------- */

int adm_cmd_query_dlq_msg(ctx_t *c);
int adm_cmd_resend_dlq_msg(ctx_t *c);
/* List (resend false) or resend group's dead letters (all, or only_id) into arr, up to max.
 * 0, or 1 with the reason in adm_last_failure(). */
int adm_dlq_json(ctx_t *c, const char *group, const char *only_id, int max, bool resend,
                 json_t *arr, int *matched, int *failed);

/* ---- stats.c ----------------------------------------------------------------------------- */

int adm_cmd_stats_all(ctx_t *c);
int adm_cmd_broker_consume_stats(ctx_t *c);
int adm_cmd_query_cq(ctx_t *c);
int adm_cmd_producer_connection(ctx_t *c);
int adm_cmd_get_consumer_config(ctx_t *c);
int adm_cmd_allocate_mq(ctx_t *c);
int adm_cmd_clean_expired_cq(ctx_t *c);
int adm_cmd_clean_unused_topic(ctx_t *c);
int adm_cmd_delete_expired_commitlog(ctx_t *c);

/* ---- msgprint.c -------------------------------------------------------------------------- */

int adm_cmd_print_msg(ctx_t *c);
int adm_cmd_print_msg_by_queue(ctx_t *c);
int adm_cmd_send_msg_status(ctx_t *c);
int adm_cmd_check_msg_send_rt(ctx_t *c);
int adm_cmd_cluster_rt(ctx_t *c);

#endif
