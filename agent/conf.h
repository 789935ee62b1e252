/*
 * The agent's configuration: cmsd.xml parsed, validated against the schema,
 * checked semantically and by each plugin's validate(), in one tree that the
 * rest of the agent reads.  A reload parses a new tree and swaps only when it
 * is valid in full.
 *
 * The file (see docs/cmsd.xml.5 and schema/cmsd.rng):
 *
 *   <cmsd version="1" mode="node" node="node1">
 *     <paths plugin-dir=".." state-dir=".." log-file=".." control-socket=".."/>
 *     <cluster id="vms1">
 *       <key-file>/etc/cmsd/cluster.key</key-file>
 *       <tls ca=".." cert=".." key=".."/>
 *       <timers heartbeat-interval="200ms" deadtime="1s" lease="1s"/>
 *       <split-brain prefer="last-granted newer-data lower-id"/>
 *       <node id="node1" name="cvknode1">
 *         <link address="10.0.0.1" port="7788"/>   (one or more)
 *         <control address="10.0.0.1" port="7787"/>
 *       </node>
 *       <node id="node2" ...> ... </node>
 *     </cluster>
 *     <quorum id="arbiter" plugin="quorum-cmsd"> plugin keys </quorum>
 *     <storage id="db" plugin="storage-drbd"> plugin keys </storage>
 *     <group id="vms">
 *       <resource id="webip" plugin="resource-vip" storage="db"
 *                 start-timeout="20s" monitor-interval="5s" ...>
 *         plugin keys
 *       </resource>
 *     </group>
 *   </cmsd>
 *
 *   <cmsd version="1" mode="arbiter">
 *     <paths .../>
 *     <arbiter id="arbiter" plugin="quorum-cmsd"> plugin keys </arbiter>
 *   </cmsd>
 *
 * Rule: on a plugin element (quorum, storage, resource, arbiter) attributes
 * belong to the agent, child elements to the plugin.
 */
#ifndef CMSD_AGENT_CONF_H
#define CMSD_AGENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmsd/conf.h>
#include <cmsd/plugin.h>

struct plugin;

#define CONF_DEFAULT_PATH	"/etc/cmsd/cmsd.xml"
#define CONF_DEFAULT_PLUGIN_DIR CMSD_PLUGIN_DIR_DEFAULT
#define CONF_DEFAULT_STATE_DIR	"/var/lib/cmsd"
#define CONF_DEFAULT_LOG_FILE	"/var/log/cvm_master.log"
#define CONF_DEFAULT_SOCKET	"/run/cmsd/cmsd.sock"
#define CONF_MAX_NODES		2
#define CONF_MAX_LINKS		4

enum conf_mode { CONF_MODE_NODE, CONF_MODE_ARBITER };

/* Split-brain criteria, same values as enum fsm_criterion. */
enum conf_sb {
	CONF_SB_END = 0,
	CONF_SB_LAST_GRANTED = 1,
	CONF_SB_NEWER_DATA = 2,
	CONF_SB_LOWER_ID = 3,
};
#define CONF_SB_MAX 4

struct conf_endpoint {
	char *address; /* IPv4 or IPv6 literal */
	uint16_t port;
};

struct conf_node {
	char *id;
	char *name; /* host name shown in status; defaults to id */
	struct conf_endpoint links[CONF_MAX_LINKS];
	size_t n_links;
	struct conf_endpoint control;
	int line;
};

/* One element backed by a plugin. */
struct conf_instance {
	char *id;
	char *plugin_name;
	const char *element; /* "quorum", "storage", "resource", "arbiter" */
	enum cmsd_plugin_kind kind;
	int line;
	/* resources: */
	char *storage_ref;	      /* id of the storage it needs, or NULL */
	bool optional;		      /* a failure does not move the group */
	uint64_t start_timeout_ms;    /* default 60s */
	uint64_t stop_timeout_ms;     /* default 60s */
	uint64_t monitor_interval_ms; /* default 10s; 0 = no monitor */
	uint64_t monitor_timeout_ms;  /* default 20s */
	int max_restarts;	      /* default 3 */
	uint64_t restart_window_ms;   /* default 10m */

	struct cmsd_conf *section; /* the element, for the plugin */
	struct plugin *plugin;	   /* loaded and checked */
};

struct conf {
	char *path;
	enum conf_mode mode;
	char *local_node; /* node mode: id of this node */

	char *plugin_dir;
	char *state_dir;
	char *log_file;
	char *control_socket;

	char *cluster_id;
	char *key_file;
	char *tls_ca, *tls_cert, *tls_key;
	uint64_t hb_interval_ms; /* default 200, min 50 */
	uint64_t deadtime_ms;	 /* default 1000, min 150, >= 3 x interval */
	uint64_t lease_ms; /* default 1000; interval x 3 <= lease <= deadtime */
	/* <split-brain prefer="...">: default last-granted, newer-data,
	 * lower-id; lower-id always ends the list; CONF_SB_END after. */
	enum conf_sb split_brain[CONF_SB_MAX];

	struct conf_node nodes[CONF_MAX_NODES];
	size_t n_nodes;

	char *group_id;
	/* In start order: quorum, storage..., then the group's resources in
	 * document order (stop order is the reverse); in arbiter mode, the
	 * arbiter. */
	struct conf_instance *inst;
	size_t n_inst;

	void *priv; /* the parsed document and its cmsd_conf wrappers */
};

/* What the command line and environment override. */
struct conf_overrides {
	const char *plugin_dir; /* -p DIR, else $CMSD_PLUGIN_DIR, else NULL */
	const char *local_node; /* -n ID, else NULL */
};

/* Receives each error, already formatted as "FILE:LINE: element <x>: msg". */
typedef void (*conf_error_fn)(const char *msg, void *arg);

/*
 * Parses, validates and loads the plugins of `path`.  Every error found is
 * passed to `err` (NULL: printed on stderr); the parse goes on after an
 * error so that one run reports them all.  Returns 0 and *out, or the
 * number of errors (> 0) and *out = NULL.
 */
int conf_load(const char *path, const struct conf_overrides *ov,
	      conf_error_fn err, void *err_arg, struct conf **out);
void conf_free(struct conf *c);

/* Lookups. */
const struct conf_node *conf_node_by_id(const struct conf *c, const char *id);
const struct conf_instance *conf_instance_by_id(const struct conf *c,
						const char *id);

/* true when a and b name the same plugin with the same element, attributes
 * and content (so a reload can keep the running instance). */
bool conf_instance_equal(const struct conf_instance *a,
			 const struct conf_instance *b);

/* The cmsd_conf_ops the agent gives plugins (host->conf). */
extern const struct cmsd_conf_ops conf_plugin_ops;

#endif
