/*
 * A live plugin instance: the plugin's private state, the host table it was
 * given, and at most one running op with its deadline.
 *
 * Op life cycle (the core side of the contract in cmsd/plugin.h):
 *   instance_call() calls the plugin op.  Whatever the plugin does (returns
 *   at once, returns CMSD_PENDING and calls op_done later from any thread,
 *   never answers, answers twice, answers after cancel), `cb` runs exactly
 *   once, on the loop, never from inside instance_call():
 *     - with the plugin's result (>= 0 or -errno) when it completed in time;
 *     - with -ETIMEDOUT when the deadline passed: the agent has called the
 *       plugin's cancel() and killed the process groups of the children the
 *       instance spawned during the op (SIGTERM, SIGKILL after the grace);
 *     - with -ECANCELED when the agent abandoned the op (instance_cancel,
 *       instance_free).
 *   A completion that arrives for an op that already ended is ignored and
 *   logged: each op carries a generation number.
 */
#ifndef CMSD_INSTANCE_H
#define CMSD_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include <cmsd/plugin.h>

struct conf;
struct conf_instance;
struct instance;

enum op_kind {
	OP_START,
	OP_STOP,
	OP_MONITOR,
	OP_PROMOTE,	 /* storage; args: int *force */
	OP_DEMOTE,	 /* storage */
	OP_STATUS,	 /* storage; args: struct cmsd_storage_status * */
	OP_FENCE_PEER,	 /* storage; args: const char *peer_id */
	OP_RESYNC,	 /* storage; args: int *discard_local */
	OP_REQUEST_VOTE, /* quorum; args: struct instance_vote_args * */
	OP_RENEW_LEASE,	 /* quorum; args: struct instance_vote_args * */
	OP_RELEASE,	 /* quorum */
};

struct instance_vote_args {
	const struct cmsd_vote_request *req;
	struct cmsd_vote *out;
};

typedef void (*instance_op_cb)(struct instance *in, enum op_kind kind, int rc,
			       void *arg);
/* Events the plugin reports with host->notify(). */
typedef void (*instance_event_cb)(struct instance *in, enum cmsd_event ev,
				  const char *detail, void *arg);

struct instance_stats {
	uint64_t ops, timeouts, late_completions, failures;
	int last_rc; /* of the last op that ended */
	enum op_kind last_kind;
	char last_error[160]; /* "start: timed out after 20000 ms", "" */
};

/* Where instances get their state directories (<dir>/<id>, mode 0700).
 * Call once before instance_new(); default /var/lib/cmsd. */
void instance_set_state_root(const char *dir);

/* The node and cluster identity and TLS files that new host tables carry
 * (ABI 1.1 fields); NULL clears.  Copied. */
void instance_set_identity(const struct conf *c);

/*
 * Calls fn(arg) with SIGSEGV, SIGBUS, SIGILL and SIGFPE turned into a
 * return of -EFAULT and *crash_sig set, so that a plugin crashing in init
 * or validate is named before the agent refuses to start.  Start-up only:
 * after such a crash the process state is suspect and the agent must exit.
 */
int instance_guard_call(int (*fn)(void *), void *arg, int *crash_sig);

/* "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", else "signal". */
const char *instance_sig_name(int sig);

/*
 * Creates the host table and calls the plugin's init().  Returns 0 and *out,
 * or -errno (the plugin's init failed, or out of memory); the error is logged
 * with the instance id.
 */
/* A NULL-terminated array of n strings in one allocation (free() it);
 * NULL entries become "".  Used for host->cluster_nodes. */
const char **nodes_pack(const char *const *v, size_t n);

int instance_new(const struct conf_instance *ci, instance_event_cb ev,
		 void *ev_arg, struct instance **out);
/*
 * Cancels a running op (its cb gets -ECANCELED, before instance_free
 * returns), runs any callback still queued for the instance's ops, calls
 * destroy(), then releases the timers, fd watches and children the plugin
 * left (children are killed: TERM, KILL after their grace).
 */
void instance_free(struct instance *in);
/* At exit, after every instance_free() and before loop_free(): frees the
 * completion queue and its event. */
void instance_shutdown(void);

/*
 * Calls op `kind` with a deadline of timeout_ms (0: none).  `args` as listed
 * in enum op_kind; it must stay valid until cb runs.  Returns 0 when the op
 * was called (cb will run once), -EBUSY when another op than a monitor is
 * running (a running monitor is cancelled first, its cb getting
 * -ECANCELED), -EOPNOTSUPP when the plugin lacks the op or it does not fit
 * the plugin's kind.
 */
int instance_call(struct instance *in, enum op_kind kind, uint64_t timeout_ms,
		  void *args, instance_op_cb cb, void *arg);
/* Abandons the running op, if any (cb gets -ECANCELED). */
void instance_cancel(struct instance *in);

bool instance_busy(const struct instance *in);
/* Does the plugin have this op (a storage's resync, say)? */
bool instance_has_op(const struct instance *in, enum op_kind kind);
const char *instance_id(const struct instance *in);
const struct conf_instance *instance_conf(const struct instance *in);
const struct cmsd_plugin *instance_plugin(const struct instance *in);
const struct instance_stats *instance_stats(const struct instance *in);
const char *op_kind_name(enum op_kind kind);

#endif
