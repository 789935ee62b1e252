/*
 * The resource group's scheduler, as pure logic: no clock, no I/O.  Two
 * parts: the sequences (below the recovery policy: which member starts or
 * stops next, and with which op) and the recovery policy.
 *
 * The daemon calls the ops the sequences choose, each with its own
 * timeout, and monitors each started member at its own interval.  When a
 * started member fails (its monitor stops answering RUNNING, or the plugin
 * reports a failure, or the start of a restart fails), the daemon asks
 * group_on_failure() what to do:
 *
 *   RESTART   restart the member in place (stop it, start it again);
 *             allowed max_restarts times within the window;
 *   MOVE      restarts used up: move the whole group to the peer, which
 *             the facts say can take it (alive, slave, data usable,
 *             quorum);
 *   GIVE_UP   restarts used up by an optional member: it stays stopped,
 *             the group keeps running here (optional members never move
 *             the group);
 *   HOLD      restarts used up and nowhere to move (a standalone node, or
 *             a peer that cannot take over): restart again after a pause
 *             that doubles from GROUP_HOLD_MIN_MS to GROUP_HOLD_MAX_MS,
 *             because a service that may come back here is better than one
 *             left down everywhere.
 *
 * A failure counts within `window_ms` of the failure time; older ones are
 * forgotten, so a member that runs for a whole window without failing has
 * all its restarts again.
 */
#ifndef CMSD_AGENT_GROUP_H
#define CMSD_AGENT_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failures remembered: one more than the largest max-restarts (1000). */
#define GROUP_MAX_FAILS	  1001
#define GROUP_HOLD_MIN_MS 10000
#define GROUP_HOLD_MAX_MS 300000

/* From the member's configuration. */
struct group_policy {
	int max_restarts;   /* restarts within the window (0: none) */
	uint64_t window_ms; /* > 0 */
	bool optional;	    /* never moves the group */
};

/* What the policy remembers of one member. */
struct group_member {
	uint64_t fails[GROUP_MAX_FAILS]; /* failure times, oldest first */
	unsigned n_fails;
	unsigned holds; /* HOLD verdicts in a row: the pause doubles */
	bool given_up;	/* an optional member left stopped */
};

/* What the daemon knows when a failure arrives. */
struct group_facts {
	uint64_t now_ms;
	bool two_node;		  /* a peer exists at all */
	bool peer_can_take;	  /* alive, slave, data usable, quorum */
	const char *peer_why_not; /* when !peer_can_take: why, or NULL */
};

enum group_verdict {
	GROUP_RESTART,
	GROUP_MOVE,
	GROUP_GIVE_UP,
	GROUP_HOLD,
};

struct group_out {
	enum group_verdict verdict;
	uint64_t delay_ms; /* RESTART, HOLD: wait this long first */
	unsigned failures; /* within the window, this one included */
	char reason[200];  /* for the log and the status */
};

void group_member_init(struct group_member *m);

/* A started member failed at facts->now_ms.  Records it and decides. */
struct group_out group_on_failure(struct group_member *m,
				  const struct group_policy *p,
				  const struct group_facts *f);

/* The move that MOVE asked for was refused (the peer stopped being able
 * to take over in between): the verdict becomes HOLD. */
struct group_out group_move_refused(struct group_member *m,
				    const struct group_policy *p,
				    const char *why);

/* A restart brought the member back (its start succeeded). */
void group_on_restarted(struct group_member *m);

/* The member's failures still within the window at now_ms. */
unsigned group_failures(const struct group_member *m,
			const struct group_policy *p, uint64_t now_ms);

const char *group_verdict_name(enum group_verdict v);

/*
 * Sequences, as pure logic: which member the daemon starts or stops next,
 * and with which op.  The daemon owns the members (struct group_slot sits
 * in its slots) and calls the ops; these functions only read the members
 * and move the walk.
 *
 *   GROUP_SEQ_ALL    a standalone node or an arbiter: every instance starts
 *                    in configuration order and stops in reverse; a
 *                    standalone node's storage is started then promoted
 *                    (the only node owns the data), demoted then stopped;
 *   GROUP_SEQ_BASE   a two-node cluster's base: the instances that run on
 *                    master and slave alike (quorum, storage attach);
 *   GROUP_SEQ_GROUP  the group the master runs: storage promote, then the
 *                    resources in order (webip, mysql, tomcat, vncproxy
 *                    as configured); stopped in reverse, storage demoted
 *                    last.  An urgent stop (stepping down, split brain)
 *                    removes each VIP first, then walks in reverse.
 *
 * A member whose start failed or timed out may have done half its work: it
 * is marked `cleanup` and stopped with the others.  A member whose stop
 * failed stays `cleanup` and is tried again by the next stop; until then
 * the daemon reports the stop as failed, and the cluster core does not let
 * the peer promote its storage.
 */
enum group_seq { GROUP_SEQ_ALL, GROUP_SEQ_BASE, GROUP_SEQ_GROUP };

enum group_state {
	GS_CONFIGURED,
	GS_STARTING,
	GS_STARTED,
	GS_STOPPING,
	GS_STOPPED,
	GS_FAILED,
};

enum group_op {
	GROUP_OP_START,
	GROUP_OP_PROMOTE,
	GROUP_OP_STOP,
	GROUP_OP_DEMOTE
};

/* One instance as the sequences see it. */
struct group_slot {
	enum group_state state;
	bool cleanup;	 /* half started, or its stop failed: stop it */
	bool group;	 /* two-node: a resource, started by takeover */
	bool storage;	 /* two-node: a storage, promoted with the group */
	bool vip;	 /* resource-vip: first to go in an urgent stop */
	bool promoted;	 /* storage promoted (or promoting) */
	bool sa_promote; /* standalone storage: start+promote, demote+stop */
};

struct group_walk {
	enum group_seq seq;
	size_t cursor;	   /* start: next to start; stop: last to stop + 1 */
	size_t vip_cursor; /* urgent stop: VIPs below this are still to go */
};

bool group_in_seq(enum group_seq seq, const struct group_slot *s);
/* The op that starts (or stops) s in seq. */
enum group_op group_seq_op(enum group_seq seq, const struct group_slot *s,
			   bool start);
/* Does a stop of seq have to stop s? */
bool group_needs_stop(enum group_seq seq, const struct group_slot *s);

void group_walk_start(struct group_walk *w, enum group_seq seq);
void group_walk_stop(struct group_walk *w, enum group_seq seq, size_t n,
		     bool vip_first);
/* The next member to start (the walk stays on it until group_started), or
 * n when the sequence is complete. */
size_t group_next_start(struct group_walk *w, const struct group_slot *const *v,
			size_t n);
/* The op on the member group_next_start returned ended (ok or not). */
void group_started(struct group_walk *w, const struct group_slot *s,
		   enum group_op op, bool ok);
/* The next member to stop, or n when the sequence is complete. */
size_t group_next_stop(struct group_walk *w, const struct group_slot *const *v,
		       size_t n);
/* The stop op on s ended: after a standalone storage's demote, its stop
 * comes next (the walk returns to it). */
void group_stopped(struct group_walk *w, const struct group_slot *s,
		   enum group_op op, bool ok);

const char *group_op_name(enum group_op op);

#endif
