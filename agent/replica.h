/*
 * Replicated storage (DRBD) as the cluster core sees it: pure rules on the
 * storage's status, no I/O, no clock.
 *
 *   usable   the local copy may be promoted: the plugin says so (DRBD:
 *            UpToDate, no split brain);
 *   current  it holds all the master has: both disks UpToDate, which DRBD
 *            reports only while connected and in sync.  A slave follows
 *            the master's data generation only while its copy is current;
 *   decide   on each new status: a master (or a node taking over) whose
 *            peer copy stopped being current starts a new data generation
 *            (told to the arbiter, so that the stale copy is never
 *            granted); after a split brain (StandAlone) with one master
 *            again, the slave discards its changes and the master
 *            reconnects; with no master at all (both slaves), the
 *            split-brain policy's loser discards and its winner
 *            reconnects, so that the winner's copy becomes promotable.
 *            In maintenance (on either node) that heal changes data the
 *            operator may be looking at, so it is held back and only named
 *            (REPLICA_A_HELD_*) until maintenance is off; the new
 *            generation is not held: it is the fencing that keeps the
 *            stale copy from ever being granted, not a repair.
 */
#ifndef CMSD_AGENT_REPLICA_H
#define CMSD_AGENT_REPLICA_H

#include <stdbool.h>

#include <cmsd/plugin.h>

bool replica_usable(const struct cmsd_storage_status *st);
bool replica_current(const struct cmsd_storage_status *st);
/* The peer's copy, as the local DRBD sees it, is UpToDate. */
bool replica_peer_current(const struct cmsd_storage_status *st);
bool replica_split(const struct cmsd_storage_status *st);

struct replica_facts {
	bool serving;	       /* master, or taking over */
	bool slave;	       /* slave */
	bool peer_alive;       /* heartbeats from the peer */
	bool peer_master;      /* the peer says master */
	bool peer_slave;       /* the peer says slave */
	bool was_peer_current; /* replica_peer_current at the last status */
	bool resync_due;       /* no reconnect tried in the last few s */
	/* The split-brain policy (fsm_split_brain_winner) picks this node:
	 * used when neither node is master (a start that failed on the
	 * unresolved split brain left both slaves). */
	bool policy_winner;
	/* `cmsadm maintenance on` on either node: data-changing heals wait
	 * (docs/decisions.md, "Maintenance and storage"). */
	bool maintenance;
};

#define REPLICA_A_NEW_GENERATION 0x1u /* raise the generation, renew */
#define REPLICA_A_DISCARD_LOCAL	 0x2u /* resync(discard_local = 1) */
#define REPLICA_A_RECONNECT	 0x4u /* resync(discard_local = 0) */
/* The heal DISCARD_LOCAL / RECONNECT would be, held back by maintenance:
 * separate bits, so that a caller that knows nothing of them does nothing.
 * Not rate-limited by resync_due: they say what is pending, no action. */
#define REPLICA_A_HELD_DISCARD	 0x8u
#define REPLICA_A_HELD_RECONNECT 0x10u

unsigned replica_decide(const struct cmsd_storage_status *st,
			const struct replica_facts *f);

#endif
