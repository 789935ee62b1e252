/*
 * Services the agent gives a plugin instance: logging with context, timers,
 * fd watches, asynchronous children, operation completion, the clock and
 * events.  One struct cmsd_host is handed to validate() and init(); it stays
 * valid until destroy() returns.  All calls are made on the agent's event
 * loop thread, except op_done() and log(), which any thread may call.
 *
 * At validate() time there is no instance and no loop yet: only the ABI
 * fields, size, plugin_name, instance_id, log, now_ms, conf and state_dir
 * are set.  timer_*, watch_*, spawn, child_*, op_done and notify are NULL
 * then and must not be called.
 */
#ifndef CMSD_HOST_H
#define CMSD_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cmsd_conf;
struct cmsd_conf_ops;
struct event_base; /* libevent's, only through event_base() below */

/* Opaque handles owned by the agent. */
struct cmsd_op;	   /* one call of an op, completed by op_done() */
struct cmsd_timer; /* a one-shot timer */
struct cmsd_watch; /* an fd watch */
struct cmsd_child; /* a spawned child process */

/* Log priorities: the syslog values. */
enum cmsd_log_level {
	CMSD_LOG_ERR = 3,
	CMSD_LOG_WARNING = 4,
	CMSD_LOG_NOTICE = 5,
	CMSD_LOG_INFO = 6,
	CMSD_LOG_DEBUG = 7,
};

/* fd watch events (bit mask). */
#define CMSD_WATCH_READ	 0x1u
#define CMSD_WATCH_WRITE 0x2u

/* Events a plugin reports outside any op (see notify). */
enum cmsd_event {
	CMSD_EV_STATE_CHANGED = 1, /* re-read status: something changed */
	CMSD_EV_FAILED = 2,	   /* the managed thing failed on its own */
	CMSD_EV_SPLIT_BRAIN = 3,   /* storage detected a split brain */
	CMSD_EV_QUORUM_LOST = 4,   /* the quorum provider lost its source */
	CMSD_EV_QUORUM_GAINED = 5,
};

/* How a spawned child ended. */
struct cmsd_child_result {
	int exited; /* 1: exited with exit_code */
	int exit_code;
	int signal;	    /* when killed: the signal number */
	int timed_out;	    /* 1: killed by the agent after timeout_ms */
	const char *output; /* stdout+stderr, NUL-terminated, truncated at
			       output_max bytes; valid during the callback */
	size_t output_len;
};

typedef void (*cmsd_timer_cb)(void *arg);
typedef void (*cmsd_watch_cb)(int fd, unsigned events, void *arg);
typedef void (*cmsd_child_cb)(const struct cmsd_child_result *res, void *arg);
/* ABI 1.3: a chunk of a streaming child's output (see cmsd_spawn). */
typedef void (*cmsd_child_output_cb)(const char *data, size_t len, void *arg);

/* A child to spawn: argv[0] is a path (no PATH search, no shell). */
struct cmsd_spawn {
	size_t size;		 /* sizeof(struct cmsd_spawn) */
	const char *const *argv; /* NULL-terminated */
	const char *const *envp; /* NULL: a minimal safe environment */
	const char *cwd;	 /* NULL: "/" */
	const char *stdin_data;	 /* written to the child's stdin, or NULL */
	uint32_t timeout_ms;	 /* 0: no limit (avoid) */
	uint32_t kill_grace_ms;	 /* SIGTERM to SIGKILL delay; 0: 2000 */
	size_t output_max;	 /* bytes of output kept; 0: 64 KiB */
	cmsd_child_cb done;	 /* called once, on the loop */
	void *arg;
	/* ABI 1.3 (check host->abi_minor >= 3 before relying on it): a
	 * streaming child, such as `drbdsetup events2`, which runs for good
	 * and whose output matters as it comes.  When set, every chunk read
	 * from the child's stdout+stderr is handed to output(data, len, arg)
	 * on the loop as soon as it is read, nothing is collected, and
	 * done() gets output "" (output_max is unused).  Chunks split lines
	 * anywhere.  An older agent ignores the field (its size check keeps
	 * the fields it knows): it would collect the output until the end. */
	cmsd_child_output_cb output;
};

struct cmsd_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	size_t size; /* sizeof(struct cmsd_host) of the agent */

	/* Identity of the instance: plugin name and the config id. */
	const char *plugin_name;
	const char *instance_id;

	/*
	 * Logs one line; the agent prefixes it with "<instance_id>: ".
	 * Thread-safe.  Repeated identical lines are rate-limited by the agent.
	 */
	void (*log)(const struct cmsd_host *h, enum cmsd_log_level level,
		    const char *fmt, ...)
#if defined(__GNUC__)
		__attribute__((format(printf, 3, 4)))
#endif
		;

	/* Monotonic time in milliseconds (CLOCK_MONOTONIC). */
	uint64_t (*now_ms)(const struct cmsd_host *h);

	/*
	 * One-shot timers.  timer_new returns NULL on allocation failure.
	 * timer_arm (re)arms it to fire once after ms milliseconds.  Freeing a
	 * pending timer cancels it.
	 */
	struct cmsd_timer *(*timer_new)(const struct cmsd_host *h,
					cmsd_timer_cb cb, void *arg);
	void (*timer_arm)(struct cmsd_timer *t, uint64_t ms);
	void (*timer_disarm)(struct cmsd_timer *t);
	void (*timer_free)(struct cmsd_timer *t);

	/*
	 * fd watches, level-triggered, persistent until changed or freed.
	 * watch_set changes the events of interest (0: none).  The agent never
	 * closes the fd.
	 */
	struct cmsd_watch *(*watch_new)(const struct cmsd_host *h, int fd,
					unsigned events, cmsd_watch_cb cb,
					void *arg);
	void (*watch_set)(struct cmsd_watch *w, unsigned events);
	void (*watch_free)(struct cmsd_watch *w);

	/*
	 * Starts a child in its own process group with stdin/stdout/stderr
	 * piped, and calls req->done once when it has ended (or was killed
	 * after timeout_ms: SIGTERM to the group, SIGKILL after kill_grace_ms).
	 * Returns 0 and stores a handle in *out (may be NULL), or -errno.
	 * The handle is valid until done() returns.
	 */
	int (*spawn)(const struct cmsd_host *h, const struct cmsd_spawn *req,
		     struct cmsd_child **out);
	/* Kills a running child's group now (TERM then KILL); done() follows.
	 */
	void (*child_kill)(struct cmsd_child *c);
	/* Process id of a child (for logs). */
	pid_t (*child_pid)(const struct cmsd_child *c);

	/*
	 * Completes an op that returned CMSD_PENDING.  rc follows the op's
	 * contract (0 or a typed result >= 0, or -errno).  Thread-safe: from a
	 * worker thread the completion is queued to the loop.  A second call,
	 * or a call after cancel(), is ignored and logged.
	 */
	void (*op_done)(struct cmsd_op *op, int rc);

	/* Reports an event outside any op; detail is free text or NULL. */
	void (*notify)(const struct cmsd_host *h, enum cmsd_event ev,
		       const char *detail);

	/* Typed access to this instance's configuration (see conf.h). */
	const struct cmsd_conf_ops *conf;

	/* Directory for the plugin's persistent state (created by the agent).
	 */
	const char *state_dir;

	/* ABI 1.1 (taken from the spare slots; NULL under a 1.0 agent).
	 * Identity of this node and its cluster, and the cluster's TLS files
	 * (<cluster><tls>), for plugins that talk to other hosts.  In arbiter
	 * mode node_id is "arbiter" and the cluster fields are NULL.  Set at
	 * validate time too. */
	const char *node_id;
	const char *cluster_id;
	const char *tls_ca, *tls_cert, *tls_key;

	/* ABI 1.2 (NULL under an older agent; NULL at validate time).
	 * The agent's libevent event base, for a plugin that uses one of
	 * libevent's own clients (evhttp, evdns) on the agent's loop rather
	 * than rebuilding it on watches and timers.  Opt-in: nothing else in
	 * the SDK names a libevent type, and a plugin that calls this links
	 * libevent 2.1 itself (the agent's copy is the one loaded).  The
	 * agent does not track what the plugin creates on the base: every
	 * event, connection or resolver must be freed before destroy()
	 * returns, and its callbacks run on the loop thread like a timer's.
	 * Never dispatch, break or free the base. */
	struct event_base *(*event_base)(const struct cmsd_host *h);

	/* ABI 1.3 (NULL under an older agent; set at validate time too, NULL
	 * in arbiter mode).  The cluster's nodes in configuration order, for
	 * a plugin that must name both ends (storage-drbd's resource file):
	 * a NULL-terminated array of triples, cluster_nodes[3*i] the node id,
	 * [3*i+1] its name (the host name; the id when none is given) and
	 * [3*i+2] the address of its first <link>.  Copied for the instance:
	 * valid until destroy() returns. */
	const char *const *cluster_nodes;

	void *reserved[1];
};

#ifdef __cplusplus
}
#endif

#endif /* CMSD_HOST_H */
