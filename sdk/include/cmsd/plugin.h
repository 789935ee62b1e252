/*
 * cmsd plugin ABI: the descriptor a plugin exports and the ops tables of the
 * three plugin kinds (quorum, storage, resource).
 *
 * A plugin is a shared object (NAME.so in the plugin directory) exporting one
 * symbol, CMSD_PLUGIN_ENTRY_SYMBOL, a function returning a pointer to a
 * const struct cmsd_plugin.  Use CMSD_PLUGIN_DEFINE() to declare it.
 *
 * ABI rules
 *   - CMSD_ABI_MAJOR changes when an existing field or contract changes; the
 *     agent refuses a plugin built against another major.
 *   - CMSD_ABI_MINOR grows when fields are appended at the end of a struct;
 *     every struct carries its own `size` so that both sides can tell which
 *     fields the other knows.  An agent accepts plugins of its major and a
 *     minor up to its own (a plugin built against a newer minor may rely on
 *     host fields this agent lacks, so it is refused); fields beyond an
 *     older plugin's `size` are treated as NULL/0.
 *
 * The non-blocking contract (every op below unless it says otherwise)
 *   - An op never blocks the agent's event loop.
 *   - It returns 0 when it finished successfully right away,
 *     CMSD_PENDING when it has started work and will call
 *     host->op_done(op, rc) exactly once later (from any thread), or
 *     a negative errno when it failed right away.
 *     Ops with a typed result say which non-negative values they return
 *     instead of 0 (see resource monitor).
 *   - The agent owns deadlines.  When an op runs past its timeout the agent
 *     calls cancel(inst, op); the plugin must stop the work and release what
 *     it holds for that op, and must not touch output buffers of the op
 *     afterwards.  Children spawned through host->spawn are killed by the
 *     agent (SIGTERM to the process group, then SIGKILL).  A completion that
 *     arrives after cancel, or a second completion, is ignored and logged.
 *   - Output buffers passed to an op stay valid until the op completes or is
 *     cancelled.
 *   - Plugins never call exit(), abort() or any blocking libc function on the
 *     loop thread.  Blocking libraries run in a worker thread that reports
 *     through host->op_done, which is thread-safe.
 */
#ifndef CMSD_PLUGIN_H
#define CMSD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <cmsd/conf.h>
#include <cmsd/host.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMSD_ABI_MAJOR 1
#define CMSD_ABI_MINOR 3

/* Returned by an op that will complete through host->op_done(). */
#define CMSD_PENDING 0x100

#define CMSD_PLUGIN_ENTRY_SYMBOL "cmsd_plugin_entry"

enum cmsd_plugin_kind {
	CMSD_KIND_QUORUM = 1,
	CMSD_KIND_STORAGE = 2,
	CMSD_KIND_RESOURCE = 3,
};

/* Result of a resource or storage monitor.  UNKNOWN is not FAILED: the check
 * could not tell (a timeout of the probe itself, say); the agent acts on it
 * (as on FAILED) only after three UNKNOWN results in a row. */
enum cmsd_health {
	CMSD_RUNNING = 0,
	CMSD_STOPPED = 1,
	CMSD_FAILED = 2,
	CMSD_UNKNOWN = 3,
};

/*
 * Ops every kind has.  `inst` is what init() stored in *inst.
 *
 * validate  Checks the plugin's section of the configuration and reports
 *           each problem with host->conf->error() (file and line are added by
 *           the agent).  Called at `cmsd --check`, at start and on reload,
 *           before init and without an instance.  Must not touch the system
 *           beyond reading files and running quick, side-effect free checks.
 *           Synchronous: returns 0 when valid, -EINVAL when it reported at
 *           least one error, another -errno when it could not check.
 * init      Creates an instance for one configuration section and stores it
 *           in *inst.  Synchronous, must not block; must not start the
 *           managed service.  0 or -errno.  On failure *inst is ignored.
 * start     Brings the managed thing up (resource: start the service; quorum:
 *           connect; storage: attach as secondary).  0 / CMSD_PENDING /
 *           -errno.  Starting something already running succeeds.
 * stop      The reverse of start.  Stopping something already stopped
 *           succeeds.  0 / CMSD_PENDING / -errno.  A failed stop is serious:
 *           the agent will not let the peer take the data over until this
 *           node is fenced or steps down entirely.
 * monitor   Checks health.  Returns a enum cmsd_health value (>= 0) at once,
 *           or CMSD_PENDING and later op_done(op, health), or -errno when the
 *           check could not run (the agent counts it as CMSD_UNKNOWN).
 * cancel    Abandons a pending op (deadline passed or the agent stops).
 *           Synchronous, void.  After cancel, op_done for that op is ignored.
 *           May be NULL when the plugin never returns CMSD_PENDING.
 * destroy   Frees the instance.  No op is pending when it is called.
 */
#define CMSD_COMMON_OPS                                                        \
	int (*validate)(const struct cmsd_host *host,                          \
			const struct cmsd_conf *conf);                         \
	int (*init)(const struct cmsd_host *host,                              \
		    const struct cmsd_conf *conf, void **inst);                \
	int (*start)(void *inst, struct cmsd_op *op);                          \
	int (*stop)(void *inst, struct cmsd_op *op);                           \
	int (*monitor)(void *inst, struct cmsd_op *op);                        \
	void (*cancel)(void *inst, struct cmsd_op *op);                        \
	void (*destroy)(void *inst)

/* The leading part every ops table shares; the agent reaches the common ops
 * of any kind through it. */
struct cmsd_common_ops {
	size_t size;
	CMSD_COMMON_OPS;
};

struct cmsd_resource_ops {
	size_t size; /* sizeof(struct cmsd_resource_ops) when built */
	CMSD_COMMON_OPS;
	void *reserved[8];
};

/* What a quorum provider answered about mastership. */
struct cmsd_vote {
	size_t size;	     /* set by the agent */
	int granted;	     /* 1: this node may be master until expires_ms */
	uint64_t expires_ms; /* host->now_ms() time the lease ends; 0: none */
	uint64_t epoch;	     /* epoch the provider knows; may raise ours */
	char holder[64];     /* node id the provider considers master, or "" */
	char reason[128];    /* why, in words, for status and logs */
};

/* Facts the agent hands to a quorum provider with a request. */
struct cmsd_vote_request {
	size_t size;
	const char *node_id; /* this node */
	uint64_t epoch;	     /* this node's epoch */
	uint64_t generation; /* this node's data generation (storage) */
	int data_usable;     /* storage says the data can be promoted */
	int peer_alive;	     /* heartbeats from the peer arrive */
	/* ABI 1.1 (check size before reading): */
	uint64_t lease_ms;   /* lease length the agent asks for */
	const char *peer_id; /* the other node's id */
};

/*
 * Quorum provider ops, after the common ones.
 * request_vote  Asks whether this node may become master.  Fills *out.
 *               0 / CMSD_PENDING / -errno.  -errno means "no answer", which
 *               the agent treats as not granted.
 * renew_lease   Renews the lease this node holds as master.  Fills *out.
 *               0 / CMSD_PENDING / -errno.  The agent measures lease expiry on
 *               its own clock from the time it called renew_lease.
 * release       Gives the lease up (clean step-down).  0 / CMSD_PENDING /
 *               -errno.  May be NULL.
 */
struct cmsd_quorum_ops {
	size_t size;
	CMSD_COMMON_OPS;
	int (*request_vote)(void *inst, struct cmsd_op *op,
			    const struct cmsd_vote_request *req,
			    struct cmsd_vote *out);
	int (*renew_lease)(void *inst, struct cmsd_op *op,
			   const struct cmsd_vote_request *req,
			   struct cmsd_vote *out);
	int (*release)(void *inst, struct cmsd_op *op);
	void *reserved[8];
};

enum cmsd_storage_role {
	CMSD_ROLE_UNKNOWN = 0,
	CMSD_ROLE_PRIMARY,
	CMSD_ROLE_SECONDARY,
};

/* Replicated or shared storage state, as the agent and status show it. */
struct cmsd_storage_status {
	size_t size; /* set by the agent */
	enum cmsd_storage_role role;
	enum cmsd_storage_role peer_role;
	char disk[32]; /* e.g. "UpToDate" */
	char peer_disk[32];
	char connection[32]; /* e.g. "Connected", "StandAlone" */
	int data_usable;     /* promotable: local data current */
	/* Data generation (DRBD current UUID); 0 for shared storage.  A
	 * storage with a resync op replicates: the agent then promotes only
	 * while data_usable (and not before its first status after start),
	 * lets a slave follow the master's generation
	 * only while disk and peer_disk are both "UpToDate", starts a new
	 * generation when the master's peer_disk stops being "UpToDate", and
	 * calls resync when connection is "StandAlone" (split brain) and the
	 * cluster has one master again. */
	uint64_t generation;
	int sync_percent;    /* -1 when not syncing */
	int sync_eta_s;	     /* -1 when unknown */
	char holder[64];     /* reservation holder (shared LUNs), or "" */
	char detail[128];    /* free text for status */
};

/*
 * Storage provider ops, after the common ones.
 * promote    Makes the local copy writable and mounts it (master side).
 *            `force` is set only on an operator's explicit request to promote
 *            data that is not known to be current.
 * demote     Unmounts and makes the local copy read-only (slave side).
 * status     Fills *out.  0 / CMSD_PENDING / -errno.
 * fence_peer Makes sure the peer can no longer write (SCSI-3 preempt, DRBD
 *            outdate).  May be NULL when the storage cannot fence.
 * resync     Reconnects after a split-brain or a failure; `discard_local`
 *            set on the losing side.  May be NULL.
 * All: 0 / CMSD_PENDING / -errno.
 */
struct cmsd_storage_ops {
	size_t size;
	CMSD_COMMON_OPS;
	int (*promote)(void *inst, struct cmsd_op *op, int force);
	int (*demote)(void *inst, struct cmsd_op *op);
	int (*status)(void *inst, struct cmsd_op *op,
		      struct cmsd_storage_status *out);
	int (*fence_peer)(void *inst, struct cmsd_op *op, const char *peer_id);
	int (*resync)(void *inst, struct cmsd_op *op, int discard_local);
	void *reserved[8];
};

/* The descriptor.  All pointers point at static storage of the plugin. */
struct cmsd_plugin {
	uint32_t abi_major;  /* CMSD_ABI_MAJOR the plugin was built with */
	uint32_t abi_minor;  /* CMSD_ABI_MINOR the plugin was built with */
	size_t size;	     /* sizeof(struct cmsd_plugin) when built */
	const char *name;    /* must equal the file name without ".so" */
	const char *version; /* the plugin's own version, free form */
	enum cmsd_plugin_kind kind;
	const char *description;
	union {
		const struct cmsd_resource_ops *resource;
		const struct cmsd_quorum_ops *quorum;
		const struct cmsd_storage_ops *storage;
		const struct cmsd_common_ops *common;
	} ops;
	void *reserved[8];
};

typedef const struct cmsd_plugin *(*cmsd_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define CMSD_EXPORT __attribute__((visibility("default")))
#else
#define CMSD_EXPORT
#endif

/* Declares the entry point returning `desc` (a static const struct
 * cmsd_plugin). */
#define CMSD_PLUGIN_DEFINE(desc)                                               \
	CMSD_EXPORT const struct cmsd_plugin *cmsd_plugin_entry(void);         \
	CMSD_EXPORT const struct cmsd_plugin *cmsd_plugin_entry(void)          \
	{                                                                      \
		return &(desc);                                                \
	}

#ifdef __cplusplus
}
#endif

#endif /* CMSD_PLUGIN_H */
