/* mqadmin: RocketMQ's admin CLI on librmq's admin API. Subcommands, flags and the printed
 * column layouts follow Apache RocketMQ 4.9.8 (operations.md 3) because operators' scripts
 * parse them; every listing also takes --json.
 *
 * Errors: one line on stderr ("mqadmin <cmd>: <what>") and exit status 1. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "rmq/rmq_codes.h"
#include "tools/mqadmin/mqadmin.h"
#include "tools/msgrec.h"

/* ---- command table ---------------------------------------------------------------------- */

/* clang-format off */
#define O(s, l, arg, req, d) {s, l, arg, req, d}
static const cmd_t cmds[] = {
    {"updateTopic", "Update or create topic", adm_cmd_update_topic,
     {O('b', "brokerAddr", 1, 0, "create topic to which broker"),
      O('c', "clusterName", 1, 0, "create topic to which cluster"),
      O('t', "topic", 1, 1, "topic name"), O('r', "readQueueNums", 1, 0, "set read queue nums"),
      O('w', "writeQueueNums", 1, 0, "set write queue nums"),
      O('p', "perm", 1, 0, "set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]"),
      O('o', "order", 1, 0, "set topic's order(true|false)"),
      O('u', "unit", 1, 0, "is unit topic (true|false)"),
      O('s', "hasUnitSub", 1, 0, "has unit sub (true|false)")}},
    {"deleteTopic", "Delete topic from broker and NameServer.", adm_cmd_delete_topic,
     {O('t', "topic", 1, 1, "topic name"),
      O('c', "clusterName", 1, 1, "delete topic from which cluster")}},
    {"topicList", "Fetch all topic list from name server", adm_cmd_topic_list,
     {O('c', "clusterModel", 0, 0, "clusterModel")}},
    {"topicRoute", "Examine topic route info", adm_cmd_topic_route,
     {O('t', "topic", 1, 1, "topic name"), O('l', "list", 0, 0, "Use list format to print data")}},
    {"topicStatus", "Examine topic Status info", adm_cmd_topic_status,
     {O('t', "topic", 1, 1, "topic name"),
      O('c', "cluster", 1, 0, "cluster name or lmq parent topic")}},
    {"clusterList", "List all of clusters", adm_cmd_cluster_list,
     {O('m', "moreStats", 0, 0, "Print more stats"),
      O('i', "interval", 1, 0, "specify intervals numbers, it is in seconds"),
      O('r', "replication", 0, 0, "Print each slave's offset and lag behind its master")}},
    {"brokerStatus", "Fetch broker runtime status data", adm_cmd_broker_status,
     {O('b', "brokerAddr", 1, 0, "Broker address"), O('c', "clusterName", 1, 0, "which cluster")}},
    {"queryMsgById", "Query Message by Id", adm_cmd_query_msg_by_id,
     {O('i', "msgId", 1, 1, "Message Id"),
      O('t', "topic", 1, 0, "topic name (unique key fallback)"),
      O('g', "consumerGroup", 1, 0, "consumer group name"),
      O('d', "clientId", 1, 0, "The consumer's client id")}},
    {"queryMsgByKey", "Query Message by Key", adm_cmd_query_msg_by_key,
     {O('t', "topic", 1, 1, "topic name"), O('k', "msgKey", 1, 1, "Message Key"),
      O('b', "beginTimestamp", 1, 0, "Begin timestamp(ms). default:0"),
      O('e', "endTimestamp", 1, 0, "End timestamp(ms). default:Long.MAX_VALUE"),
      O('c', "maxNum", 1, 0, "The maximum number of messages returned by the query")}},
    {"queryMsgByOffset", "Query Message by offset", adm_cmd_query_msg_by_offset,
     {O('t', "topic", 1, 1, "topic name"), O('b', "brokerName", 1, 1, "Broker Name"),
      O('i', "queueId", 1, 1, "Queue Id"), O('o', "offset", 1, 1, "Queue Offset")}},
    {"queryMsgByUniqueKey", "Query Message by Unique key", adm_cmd_query_msg_by_unique_key,
     {O('i', "msgId", 1, 1, "Message Id"), O('t', "topic", 1, 1, "The topic of msg"),
      O('g', "consumerGroup", 1, 0, "consumer group name"),
      O('d', "clientId", 1, 0, "The consumer's client id"),
      O('a', "showAll", 0, 0, "Print all message, the limit is 32")}},
    {"consumerProgress", "Query consumers's progress, speed", adm_cmd_consumer_progress,
     {O('g', "groupName", 1, 0, "consumer group name"),
      O('s', "showClientIP", 1, 0, "Show Client IP per Queue")}},
    {"consumerConnection", "Query consumer's socket connection, client version and subscription",
     adm_cmd_consumer_connection, {O('g', "consumerGroup", 1, 1, "consumer group name")}},
    {"consumerStatus", "Query consumer's internal data structure", adm_cmd_consumer_status,
     {O('g', "consumerGroup", 1, 1, "consumer group name"),
      O('i', "clientId", 1, 0, "The consumer's client id"),
      O('b', "brokerAddr", 1, 0, "broker address"), O('s', "jstack", 0, 0, "Run jstack command in the consumer progress")}},
    {"resetOffsetByTime", "Reset consumer offset by timestamp(without client restart).",
     adm_cmd_reset_offset,
     {O('g', "group", 1, 1, "set the consumer group"), O('t', "topic", 1, 1, "set the topic"),
      O('s', "timestamp", 1, 1,
        "set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('f', "force", 1, 0, "set the force rollback by timestamp switch[true|false]"),
      O('c', "cplus", 0, 0, "reset c++ client offset")}},
    {"updateSubGroup", "Update or create subscription group", adm_cmd_update_sub_group,
     {O('b', "brokerAddr", 1, 0, "create subscription group to which broker"),
      O('c', "clusterName", 1, 0, "create subscription group to which cluster"),
      O('g', "groupName", 1, 1, "consumer group name"),
      O('s', "consumeEnable", 1, 0, "consume enable"),
      O('m', "consumeFromMinEnable", 1, 0, "from min offset"),
      O('d', "consumeBroadcastEnable", 1, 0, "broadcast"),
      O('q', "retryQueueNums", 1, 0, "retry queue nums"),
      O('r', "retryMaxTimes", 1, 0, "retry max times"),
      O('i', "brokerId", 1, 0, "consumer from which broker id"),
      O('w', "whichBrokerWhenConsumeSlowly", 1, 0, "which broker id when consume slowly"),
      O('a', "notifyConsumerIdsChanged", 1, 0, "notify consumerId changed")}},
    {"sendMessage", "Send a message", adm_cmd_send_message,
     {O('t', "topic", 1, 1, "Topic name"),
      O('p', "body", 1, 1, "UTF-8 string format of the message body"),
      O('k', "key", 1, 0, "Message keys"), O('c', "tags", 1, 0, "Message tags"),
      O('b', "broker", 1, 0, "Send message to target broker"),
      O('i', "qid", 1, 0, "Send message to target queue")}},
    {"consumeMessage", "Consume message", adm_cmd_consume_message,
     {O('t', "topic", 1, 1, "Topic name"), O('b', "brokerName", 1, 0, "Broker name"),
      O('i', "queueId", 1, 0, "Queue Id"), O('o', "offset", 1, 0, "Queue Offset"),
      O('g', "consumerGroup", 1, 0, "Consumer group name"),
      O('s', "beginTimestamp", 1, 0, "Begin timestamp"),
      O('e', "endTimestamp", 1, 0, "End timestamp"),
      O('c', "MessageNumber", 1, 0, "Number of message to be consumed")}},
    {"updateBrokerConfig", "Update broker's config", adm_cmd_update_broker_config,
     {O('b', "brokerAddr", 1, 0, "update which broker"),
      O('c', "clusterName", 1, 0, "update which cluster"), O('k', "key", 1, 1, "config key"),
      O('v', "value", 1, 1, "config value")}},
    {"getBrokerConfig", "Get broker config by cluster or special broker!",
     adm_cmd_get_broker_config,
     {O('b', "brokerAddr", 1, 0, "get which broker"),
      O('c', "clusterName", 1, 0, "get which cluster")}},
    /* adm-b: groups, perms, NameServer KV/config, ACL 1.0, the rest of 4.9.8's list */
    {"deleteSubGroup", "Delete subscription group from broker.", adm_cmd_delete_sub_group,
     {O('b', "brokerAddr", 1, 0, "delete subscription group from which broker"),
      O('c', "clusterName", 1, 0, "delete subscription group from which cluster"),
      O('g', "groupName", 1, 1, "subscription group name"),
      O('r', "removeOffset", 1, 0, "remove offset")}},
    {"updateTopicPerm", "Update topic perm", adm_cmd_update_topic_perm,
     {O('b', "brokerAddr", 1, 0, "create topic to which broker"),
      O('c', "clusterName", 1, 0, "create topic to which cluster"),
      O('t', "topic", 1, 1, "topic name"),
      O('p', "perm", 1, 1, "set topic's permission(2|4|6), intro[2:W; 4:R; 6:RW]")}},
    {"topicClusterList", "get cluster info for topic", adm_cmd_topic_cluster_list,
     {O('t', "topic", 1, 1, "topic name")}},
    {"cloneGroupOffset", "clone offset from other group.", adm_cmd_clone_group_offset,
     {O('s', "srcGroup", 1, 1, "set source consumer group"),
      O('d', "destGroup", 1, 1, "set destination consumer group"),
      O('t', "topic", 1, 1, "set the topic"),
      O('o', "offline", 1, 0, "the group or the topic is offline")}},
    {"skipAccumulatedMessage", "Skip all messages that are accumulated (not consumed) currently",
     adm_cmd_skip_accumulated,
     {O('g', "group", 1, 1, "set the consumer group"), O('t', "topic", 1, 1, "set the topic"),
      O('f', "force", 1, 0, "set the force rollback by timestamp switch[true|false]")}},
    {"wipeWritePerm", "Wipe write perm of broker in all name server you defined in the -n param",
     adm_cmd_wipe_write_perm, {O('b', "brokerName", 1, 1, "broker name")}},
    {"addWritePerm", "Add write perm of broker in all name server you defined in the -n param",
     adm_cmd_add_write_perm, {O('b', "brokerName", 1, 1, "broker name")}},
    {"updateKvConfig", "Create or update KV config.", adm_cmd_update_kv_config,
     {O('s', "namespace", 1, 1, "set the namespace"), O('k', "key", 1, 1, "set the key name"),
      O('v', "value", 1, 1, "set the key value")}},
    {"deleteKvConfig", "Delete KV config.", adm_cmd_delete_kv_config,
     {O('s', "namespace", 1, 1, "set the namespace"), O('k', "key", 1, 1, "set the key name")}},
    {"updateOrderConf", "Create or update or delete order conf", adm_cmd_update_order_conf,
     {O('t', "topic", 1, 1, "topic name"),
      O('v', "orderConf", 1, 0, "set order conf [eg. brokerName1:num;brokerName2:num]"),
      O('m', "method", 1, 1, "option type [eg. put|get|delete")}},
    {"getNamesrvConfig", "Get configs of name server.", adm_cmd_get_namesrv_config, {{0}}},
    {"updateNamesrvConfig", "Update configs of name server (live keys only: orderMessageEnable, brokerChannelExpiredTime, scanNotActiveBrokerInterval, logLevel).",
     adm_cmd_update_namesrv_config,
     {O('k', "key", 1, 1, "config key"), O('v', "value", 1, 1, "config value")}},
    {"queryMsgTraceById", "not available in rmq: message trace records (RMQ_SYS_TRACE_TOPIC) are not decoded", adm_cmd_unavailable, {{0}}},
    {"producer", "not available in rmq: the brokers do not serve GET_ALL_PRODUCER_INFO; use producerConnection -g <group> -t <topic>", adm_cmd_unavailable, {{0}}},
    {"startMonitoring", "not available in rmq: there is no monitor service; scrape the Prometheus endpoints instead (metricsExporterType=PROM) and read lag with consumerProgress", adm_cmd_unavailable, {{0}}},
    {"updateAclConfig", "Update acl config yaml file in broker", adm_cmd_update_acl_config,
     {O('b', "brokerAddr", 1, 0, "update acl config file to which broker"),
      O('c', "clusterName", 1, 0, "update acl config file to which cluster"),
      O('a', "accessKey", 1, 1, "set accessKey in acl config file"),
      O('s', "secretKey", 1, 1, "set secretKey in acl config file"),
      O('w', "whiteRemoteAddress", 1, 0, "set white ip Address for account in acl config file"),
      O('i', "defaultTopicPerm", 1, 0, "set default topicPerm in acl config file"),
      O('u', "defaultGroupPerm", 1, 0, "set default GroupPerm in acl config file"),
      O('t', "topicPerms", 1, 0, "set topicPerms list,eg: topicA=DENY,topicD=SUB"),
      O('g', "groupPerms", 1, 0, "set groupPerms list,eg: groupD=DENY,groupD=SUB"),
      O('m', "admin", 1, 0, "set admin flag in acl config file")}},
    {"deleteAclConfig", "Delete Acl Config Account in broker", adm_cmd_delete_acl_config,
     {O('b', "brokerAddr", 1, 0, "delete acl config account from which broker"),
      O('c', "clusterName", 1, 0, "delete acl config account from which cluster"),
      O('a', "accessKey", 1, 1, "set accessKey in acl config file for deleting which account")}},
    {"updateGlobalWhiteAddr", "Update global white address for acl Config File in broker",
     adm_cmd_update_global_white_addr,
     {O('b', "brokerAddr", 1, 0, "update global white address to which broker"),
      O('c', "clusterName", 1, 0, "update global white address to which cluster"),
      O('g', "globalWhiteRemoteAddresses", 1, 1, "set globalWhiteRemoteAddress list,eg: 10.10.103.*,192.168.0.*"),
      O('p', "aclFileFullPath", 1, 0, "update global white address of specified acl file (must be the broker's own)")}},
    {"clusterAclConfigVersion", "List all of acl config version information in cluster",
     adm_cmd_cluster_acl_config_version,
     {O('b', "brokerAddr", 1, 0, "query acl config version for which broker"),
      O('c', "clusterName", 1, 0, "query acl config version for specified cluster")}},
    {"exportMetadata", "export metadata", adm_cmd_export_metadata,
     {O('c', "clusterName", 1, 0, "choose a cluster to export"),
      O('b', "brokerAddr", 1, 0, "choose a broker to export"),
      O('f', "filePath", 1, 0, "export metadata.json path | default /tmp/rocketmq/export"),
      O('t', "topic", 0, 0, "only export topic metadata"),
      O('g', "subscriptionGroup", 0, 0, "only export subscriptionGroup metadata"),
      O('s', "specialTopic", 0, 0, "need retryTopic and dlqTopic")}},
    {"exportConfigs", "export configs", adm_cmd_export_configs,
     {O('c', "clusterName", 1, 1, "choose a cluster to export"),
      O('f', "filePath", 1, 0, "export configs.json path | default /tmp/rocketmq/export")}},
    {"exportMetrics", "not available in rmq yet: scrape the Prometheus endpoints (metricsExporterType=PROM)", adm_cmd_unavailable, {{0}}},
    {"queryDlqMsg", "List the dead letters (%DLQ%<group>) of a consumer group", adm_cmd_query_dlq_msg, {O('g', "consumerGroup", 1, 1, "consumer group name"), O('i', "msgId", 1, 0, "only this msgId or offsetMsgId"), O('c', "maxNum", 1, 0, "at most this many, default 1000")}},
    {"resendDlqMsg", "Resend dead letters of a group to their original topic", adm_cmd_resend_dlq_msg, {O('g', "consumerGroup", 1, 1, "consumer group name"), O('i', "msgId", 1, 0, "only this msgId or offsetMsgId"), O('c', "maxNum", 1, 0, "at most this many, default 1000")}},
    /* statistics, message printing, send probes, housekeeping (stats.c, msgprint.c) */
    {"statsAll", "Topic and Consumer tps stats", adm_cmd_stats_all,
     {O('a', "activeTopic", 0, 0, "print active topic only"),
      O('t', "topic", 1, 0, "print select topic only")}},
    {"brokerConsumeStats", "Fetch broker consume stats data", adm_cmd_broker_consume_stats,
     {O('b', "brokerAddr", 1, 1, "Broker address"),
      O('t', "timeoutMillis", 1, 0, "request timeout Millis"),
      O('l', "level", 1, 0, "threshold of print diff"), O('o', "order", 1, 0, "order topic")}},
    {"printMsg", "Print Message Detail", adm_cmd_print_msg,
     {O('t', "topic", 1, 1, "topic name"), O('c', "charsetName", 1, 0, "CharsetName(eg: UTF-8,GBK)"),
      O('s', "subExpression", 1, 0, "Subscribe Expression(eg: TagA || TagB)"),
      O('b', "beginTimestamp", 1, 0, "Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('e', "endTimestamp", 1, 0, "End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('d', "printBody", 1, 0, "print body")}},
    {"printMsgByQueue", "Print Message Detail", adm_cmd_print_msg_by_queue,
     {O('t', "topic", 1, 1, "topic name"), O('a', "brokerName", 1, 1, "broker name"),
      O('i', "queueId", 1, 1, "queue id"), O('c', "charsetName", 1, 0, "CharsetName(eg: UTF-8,GBK)"),
      O('s', "subExpression", 1, 0, "Subscribe Expression(eg: TagA || TagB)"),
      O('b', "beginTimestamp", 1, 0, "Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('e', "endTimestamp", 1, 0, "End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"),
      O('p', "print msg", 1, 0, "print msg. eg: true | false(default)"),
      O('d', "printBody", 1, 0, "print body. eg: true | false(default)"),
      O('f', "calculate", 1, 0, "calculate by tag. eg: true | false(default)")}},
    {"queryCq", "Query cq command.", adm_cmd_query_cq,
     {O('t', "topic", 1, 1, "topic name"), O('q', "queue", 1, 1, "queue num, ie. 1"),
      O('i', "index", 1, 1, "start queue index."), O('c', "count", 1, 0, "how many."),
      O('b', "broker", 1, 0, "broker addr."), O('g', "consumer", 1, 0, "consumer group.")}},
    {"sendMsgStatus", "send msg to broker.", adm_cmd_send_msg_status,
     {O('b', "brokerName", 1, 1, "Broker Name"),
      O('s', "messageSize", 1, 0, "Message Size, Default: 128"),
      O('c', "count", 1, 0, "send message count, Default: 50")}},
    {"checkMsgSendRT", "check message send response time", adm_cmd_check_msg_send_rt,
     {O('t', "topic", 1, 1, "topic name"), O('a', "amount", 1, 0, "message amount | default 100"),
      O('s', "size", 1, 0, "message size | default 128 Byte")}},
    {"clusterRT", "List All clusters Message Send RT", adm_cmd_cluster_rt,
     {O('a', "amount", 1, 0, "message amount | default 100"),
      O('s', "size", 1, 0, "message size | default 128 Byte"),
      O('c', "cluster", 1, 0, "cluster name | default display all cluster"),
      O('p', "print log", 1, 0, "print as tlog | default false"),
      O('m', "machine room", 1, 0, "machine room name | default noname"),
      O('i', "interval", 1, 0, "print interval | default 10 seconds")}},
    {"producerConnection", "Query producer's socket connection and client version",
     adm_cmd_producer_connection,
     {O('g', "producerGroup", 1, 1, "producer group name"), O('t', "topic", 1, 1, "topic name")}},
    {"getConsumerConfig", "Get consumer config by subscription group name!",
     adm_cmd_get_consumer_config, {O('g', "groupName", 1, 1, "subscription group name")}},
    {"allocateMQ", "Allocate MQ", adm_cmd_allocate_mq,
     {O('t', "topic", 1, 1, "topic name"), O('i', "ipList", 1, 1, "ipList")}},
    {"cleanExpiredCQ", "Clean expired ConsumeQueue on broker.", adm_cmd_clean_expired_cq,
     {O('b', "brokerAddr", 1, 0, "Broker address"), O('c', "cluster", 1, 0, "clustername")}},
    {"cleanUnusedTopic", "Clean unused topic on broker.", adm_cmd_clean_unused_topic,
     {O('b', "brokerAddr", 1, 0, "Broker address"), O('c', "cluster", 1, 0, "cluster name")}},
    {"deleteExpiredCommitLog", "Delete expired CommitLog files", adm_cmd_delete_expired_commitlog,
     {O('b', "brokerAddr", 1, 0, "Broker address"), O('c', "cluster", 1, 0, "clustername")}},
};
#undef O
/* clang-format on */
#define NCMDS ((int)(sizeof cmds / sizeof cmds[0]))

static void print_usage(FILE *f) {
    fprintf(f, "The most commonly used mqadmin commands are:\n");
    for (int i = 0; i < NCMDS; i++) fprintf(f, "   %-20s %s\n", cmds[i].name, cmds[i].desc);
    fprintf(f, "\nSee 'mqadmin help <command>' (or 'mqadmin <command> -h') for more information on "
               "a specific command.\nmqadmin --version prints the version.\n");
}

static void print_cmd_help(const cmd_t *cmd) {
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = adm_full_opts(cmd, all);
    printf("usage: mqadmin %s", cmd->name);
    for (int i = 0; i < n; i++) {
        if (all[i].s)
            printf(" %s-%c%s%s", all[i].required ? "" : "[", all[i].s,
                   all[i].has_arg ? " <arg>" : "", all[i].required ? "" : "]");
        else
            printf(" [--%s]", all[i].l);
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        char left[64];
        if (all[i].s)
            snprintf(left, sizeof left, " -%c,--%s%s", all[i].s, all[i].l ? all[i].l : "",
                     all[i].has_arg ? " <arg>" : "");
        else
            snprintf(left, sizeof left, "    --%s", all[i].l);
        printf("%-36s %s\n", left, all[i].desc);
    }
}

static const cmd_t *find_cmd(const char *name) {
    for (int i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].name, name) == 0) return &cmds[i];
    return NULL;
}

int main(int argc, char **argv) {
    /* The library logs through common/log; a CLI keeps stderr for its one error line unless
     * RMQ_LOG_LEVEL asks for more. */
    const char *ll = getenv("RMQ_LOG_LEVEL");
    int lvl = ll ? rmq_log_level_parse(ll) : RMQ_LOG_LVL_OFF;
    rmq_log_open(NULL, lvl >= -1 ? (rmq_log_lvl_t)lvl : RMQ_LOG_LVL_OFF, lvl >= 0);
    if (argc > 1 && rmq_is_version_arg(argv[1], 1)) {
        rmq_print_version("mqadmin");
        return 0;
    }
    char terr[256];
    if ((argc = rmq_tool_take_tls_args(argc, argv, terr, sizeof terr)) < 0) {
        fprintf(stderr, "mqadmin: %s\n", terr);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return 0;
        }
        const cmd_t *cmd = find_cmd(argv[2]);
        if (!cmd) return adm_fail("unknown command %s (see mqadmin help)", argv[2]);
        print_cmd_help(cmd);
        return 0;
    }
    const cmd_t *cmd = find_cmd(argv[1]);
    if (!cmd) {
        adm_cmd_name = argv[1];
        fprintf(stderr, "mqadmin: unknown command %s (run mqadmin for the list)\n", argv[1]);
        return 1;
    }
    adm_cmd_name = cmd->name;
    if (cmd->run == adm_cmd_unavailable) return adm_fail("%s", cmd->desc);
    ctx_t c = {.cmd = cmd};
    rmq_tool_opt_t all[RMQ_TOOL_MAX_OPTS];
    int n = adm_full_opts(cmd, all);
    /* -h anywhere prints the usage, whatever else is missing or wrong on the line */
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-help")) {
            print_cmd_help(cmd);
            return 0;
        }
    }
    char err[256];
    if (rmq_tool_parse(all, n, argc - 2, argv + 2, &c.args, err, sizeof err) != 0)
        return adm_fail("%s (see mqadmin help %s)", err, cmd->name);
    if (c.args.npos > 0)
        return adm_fail("unexpected argument %s (see mqadmin help %s)", c.args.pos[0], cmd->name);
    if (rmq_tool_get(all, n, &c.args, 0, "help")) {
        print_cmd_help(cmd);
        return 0;
    }
    c.json = rmq_tool_get(all, n, &c.args, 0, "json") != NULL;
    c.ns = rmq_tool_get(all, n, &c.args, 0, "namesrvAddr");
    if (!c.ns) c.ns = getenv("NAMESRV_ADDR");
    if (!c.ns || !*c.ns) return adm_fail("no NameServer: give -n host:port or set NAMESRV_ADDR");
    if (rmq_tool_creds_init(rmq_tool_get(all, n, &c.args, 0, "ak"),
                            rmq_tool_get(all, n, &c.args, 0, "sk"), err, sizeof err) != 0)
        return adm_fail("%s", err);
    rmq_conf_t *conf = rmq_tool_conf_new(c.ns);
    if (!conf) return adm_fail("bad NameServer address %s", c.ns);
    c.admin = rmq_admin_new(conf, err, sizeof err);
    if (!c.admin) {
        rmq_conf_destroy(conf);
        return adm_fail("%s", err);
    }
    int rc = cmd->run(&c);
    fflush(stdout);
    rmq_admin_destroy(c.admin);
    return rc;
}
