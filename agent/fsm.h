/*
 * The role state machine of a node: pure logic, no I/O and no clock.
 * fsm_step(fsm, facts, event) -> new role, actions to perform, and why.
 * The owner (cluster.c) keeps the facts current, performs the actions and
 * feeds their outcomes back as events; tests drive it directly.
 *
 * Roles
 *   STARTUP       just started: waits for the peer or (after the start-up
 *                 wait) for the quorum before anyone is master.
 *   SLAVE         the peer is master, or nobody is and this node is not
 *                 the preferred candidate; holds the replica.
 *   TAKING_OVER   asked the quorum for mastership (vote pending) or, once
 *                 granted, starting the group.
 *   MASTER        runs the group.
 *   STEPPING_DOWN stopping the group (VIP first when urgent).
 *   ISOLATED      reaches neither the peer nor the quorum: may not be or
 *                 become master.
 *
 * Safety rules (the tests check every one over all states x events x a
 * grid of facts):
 *   S1 START_GROUP is emitted only on VOTE_GRANTED in TAKING_OVER, never
 *      when the peer is alive and MASTER with an epoch >= ours.
 *   S2 MASTER is entered only from TAKING_OVER on GROUP_STARTED.
 *   S3 After any step that leaves the role MASTER, or TAKING_OVER once the
 *      vote is granted (starting), the node has quorum: arbiter mode:
 *      lease_valid, or peer_alive && peer_acks_me; ping mode: quorum_ok.
 *      Otherwise the step goes to STEPPING_DOWN with STOP_GROUP | VIP_FIRST.
 *      While the vote is pending there is no lease yet: TAKING_OVER then
 *      needs quorum_ok and data_usable, or it backs off.
 *   S4 A node without data_usable never requests a vote.
 *   S5 Two masters that see each other (split brain healed) decide the
 *      same winner from mirrored facts: exactly one stays MASTER
 *      (REANNOUNCE | RAISE_EPOCH | SPLIT_BRAIN), the other steps down with
 *      VIP_FIRST and then RESYNC.
 *   S6 A vote is requested only when vote_retry_ok (the owner's backoff),
 *      except on HANDOVER: the master released for us.
 *   S7 While admin_stopped (the operator stopped HA on the pair: `cmsadm
 *      stop`), no vote is requested, no group started, no handover sent
 *      and every SWITCHOVER, MUST_MOVE or HANDOVER is refused; a node
 *      that is MASTER or starting steps down (STOP_GROUP; VIP first when
 *      S3 asks for it) in that very step, and the roles left are SLAVE
 *      (ISOLATED without peer and quorum) and STEPPING_DOWN.
 */
#ifndef CMSD_AGENT_FSM_H
#define CMSD_AGENT_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum fsm_role {
	FSM_STARTUP = 0,
	FSM_SLAVE = 1,
	FSM_TAKING_OVER = 2,
	FSM_MASTER = 3,
	FSM_STEPPING_DOWN = 4,
	FSM_ISOLATED = 5,
};
#define FSM_N_ROLES 6

enum fsm_quorum_mode {
	FSM_Q_ARBITER, /* quorum-cmsd: leases from the arbiter */
	FSM_Q_PING,    /* quorum-ping: a target must answer */
};

/* Who the arbiter last granted mastership to, as last heard. */
enum fsm_granted { FSM_G_UNKNOWN, FSM_G_SELF, FSM_G_PEER };

/* Split-brain policy criteria, tried in order until one decides. */
enum fsm_criterion {
	FSM_C_NONE = 0,
	FSM_C_LAST_GRANTED, /* the side the arbiter last granted */
	FSM_C_NEWER_DATA,   /* the higher data generation */
	FSM_C_LOWER_ID,	    /* the node whose id sorts first; always decides */
};
#define FSM_MAX_CRITERIA 4

/* The facts a step decides on; the owner keeps them current. */
struct fsm_facts {
	enum fsm_quorum_mode mode;
	enum fsm_criterion policy[FSM_MAX_CRITERIA]; /* default: last
			granted, newer data, lower id; ends at FSM_C_NONE */
	bool self_lower_id; /* this node's id sorts before the peer's */

	uint64_t epoch;	     /* this node's */
	uint64_t generation; /* this node's data generation */
	bool data_usable;    /* storage: local data may be promoted */

	bool peer_alive; /* a heartbeat within the deadtime */
	enum fsm_role peer_role;
	uint64_t peer_epoch;
	uint64_t peer_generation;
	bool peer_data_usable;
	bool peer_quorum_ok; /* the peer reaches its quorum */
	bool peer_acks_me;   /* the peer's heartbeats accept this node as
				master at this node's epoch */

	/* Arbiter: the arbiter answered within the lease; ping: a target
	 * answers. */
	bool quorum_ok;
	/* Arbiter: this node holds a lease that does not end within the
	 * safety margin (measured from the request's send time).  Ping:
	 * ignored (quorum_ok is what counts). */
	bool lease_valid;
	enum fsm_granted last_granted;

	bool startup_wait_over; /* STARTUP: the peer had its deadtime to show */
	bool vote_retry_ok;	/* the owner's backoff since the last answer */
	/* The operator stopped HA on the pair (`cmsadm stop`, persisted in
	 * the state directory): see S7. */
	bool admin_stopped;
};

/* Inputs.  TICK means "facts changed or time passed: re-evaluate". */
enum fsm_event {
	FSM_EV_TICK = 0,
	FSM_EV_VOTE_GRANTED,	  /* request_vote said yes (epoch updated) */
	FSM_EV_VOTE_DENIED,	  /* said no, or no answer */
	FSM_EV_GROUP_STARTED,	  /* storage promoted, every resource up */
	FSM_EV_GROUP_START_FAILED,
	FSM_EV_GROUP_STOPPED,	  /* every resource down, storage demoted */
	FSM_EV_GROUP_STOP_FAILED, /* something would not stop */
	FSM_EV_GROUP_MUST_MOVE,	  /* a resource used up its restarts */
	FSM_EV_SWITCHOVER,	  /* operator: hand mastership to the peer */
	FSM_EV_HANDOVER,	  /* the master released and asks us to take
				     over */
	FSM_EV_LEASE_LOST,	  /* owner: the lease ends within the margin */
};
#define FSM_N_EVENTS 11

/* Actions, performed by the owner in this order. */
#define FSM_A_VIP_FIRST	     0x001 /* with STOP_GROUP: remove the VIP now */
#define FSM_A_STOP_GROUP     0x002 /* stop resources in reverse, demote */
#define FSM_A_RELEASE_LEASE  0x004 /* quorum release() */
#define FSM_A_SEND_HANDOVER  0x008 /* WIRE_CMD_HANDOVER to the peer */
#define FSM_A_RESYNC	     0x010 /* storage resync(discard_local = 1) */
#define FSM_A_REQUEST_VOTE   0x020 /* quorum request_vote() */
#define FSM_A_RAISE_EPOCH    0x040 /* epoch = max(ours, peer's) + 1, fsync */
#define FSM_A_START_GROUP    0x080 /* promote storage, start in order */
#define FSM_A_REANNOUNCE     0x100 /* gratuitous ARP again (VIP resources) */
#define FSM_A_SPLIT_BRAIN    0x200 /* log one event with both sides' facts */
#define FSM_A_CANCEL_START   0x400 /* abandon a group start in progress */

/* The machine's memory between steps. */
struct fsm {
	enum fsm_role role;
	bool vote_pending;   /* REQUEST_VOTE sent, no answer yet */
	bool starting;	     /* TAKING_OVER: granted, START_GROUP sent */
	bool handover;	     /* STEPPING_DOWN for a switchover/move */
	bool split_loser;    /* STEPPING_DOWN after losing a split brain */
	bool stop_failed;    /* STEPPING_DOWN: a stop failed, retrying */
	bool split_reported; /* MASTER: reported a split brain it won; kept
				while the peer is master or stepping down */
};

struct fsm_out {
	enum fsm_role role; /* after the step (== fsm->role) */
	unsigned actions;   /* FSM_A_* */
	int result;	    /* 0; -EAGAIN when SWITCHOVER / MUST_MOVE was
			       refused (reason says why) */
	const char *reason; /* static text: why, for the event log; NULL
			       when nothing changed */
};

void fsm_init(struct fsm *f);

/* One step.  Updates *f and returns what to do. */
struct fsm_out fsm_step(struct fsm *f, const struct fsm_facts *facts,
			enum fsm_event ev);

/* true when this node wins a split brain against the peer (mirrored facts
 * give the opposite answer); *why names the deciding criterion. */
bool fsm_split_brain_winner(const struct fsm_facts *facts, const char **why);

/* "startup", "slave", "taking over", "master", "stepping down",
 * "isolated". */
const char *fsm_role_name(enum fsm_role r);
const char *fsm_event_name(enum fsm_event ev);
/* Parses "last-granted", "newer-data", "lower-id"; FSM_C_NONE otherwise. */
enum fsm_criterion fsm_criterion_parse(const char *s);
const char *fsm_criterion_name(enum fsm_criterion c);

#endif
