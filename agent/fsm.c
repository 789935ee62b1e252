/*
 * The role state machine: fsm.h states the contract and the safety rules.
 * Every decision here is a function of (memory, facts, event) only, so that
 * the unit tests can sweep all of them.
 *
 * Reasons are static strings.  A step that changes neither the role nor
 * emits an action returns NULL, except a refusal (-EAGAIN) and a wait the
 * operator must know about (no usable data for a takeover); the owner can
 * compare reason pointers to log such a wait once.
 */
#include "fsm.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct step {
	struct fsm *f;
	const struct fsm_facts *x;
	enum fsm_event ev;
	struct fsm_out out;
	bool accepted; /* SWITCHOVER / MUST_MOVE / HANDOVER taken on */
	bool wait;     /* keep the reason although nothing changed */
};

static const char *const role_names[FSM_N_ROLES] = {
	[FSM_STARTUP] = "startup",
	[FSM_SLAVE] = "slave",
	[FSM_TAKING_OVER] = "taking over",
	[FSM_MASTER] = "master",
	[FSM_STEPPING_DOWN] = "stepping down",
	[FSM_ISOLATED] = "isolated",
};

static const char *const event_names[FSM_N_EVENTS] = {
	[FSM_EV_TICK] = "tick",
	[FSM_EV_VOTE_GRANTED] = "vote granted",
	[FSM_EV_VOTE_DENIED] = "vote denied",
	[FSM_EV_GROUP_STARTED] = "group started",
	[FSM_EV_GROUP_START_FAILED] = "group start failed",
	[FSM_EV_GROUP_STOPPED] = "group stopped",
	[FSM_EV_GROUP_STOP_FAILED] = "group stop failed",
	[FSM_EV_GROUP_MUST_MOVE] = "group must move",
	[FSM_EV_SWITCHOVER] = "switchover",
	[FSM_EV_HANDOVER] = "handover",
	[FSM_EV_LEASE_LOST] = "lease lost",
};

#define N_CRITERIA (FSM_C_LOWER_ID + 1)

static const char *const criterion_names[N_CRITERIA] = {
	[FSM_C_NONE] = "none",
	[FSM_C_LAST_GRANTED] = "last-granted",
	[FSM_C_NEWER_DATA] = "newer-data",
	[FSM_C_LOWER_ID] = "lower-id",
};

static const char *const sb_win[N_CRITERIA] = {
	[FSM_C_LAST_GRANTED] = "split brain: this node wins on last granted",
	[FSM_C_NEWER_DATA] = "split brain: this node wins on newer data",
	[FSM_C_LOWER_ID] = "split brain: this node wins on lower id",
};

static const char *const sb_lose[N_CRITERIA] = {
	[FSM_C_LAST_GRANTED] = "split brain: peer wins on last granted",
	[FSM_C_NEWER_DATA] = "split brain: peer wins on newer data",
	[FSM_C_LOWER_ID] = "split brain: peer wins on lower id",
};

static const char *const both_lose[N_CRITERIA] = {
	[FSM_C_LAST_GRANTED] =
		"peer is taking over too and wins on last granted",
	[FSM_C_NEWER_DATA] = "peer is taking over too and wins on newer data",
	[FSM_C_LOWER_ID] = "peer is taking over too and wins on lower id",
};

/* [must move][what is missing] */
static const char *const handover_refused[2][4] = {
	{
		"switchover refused: peer not alive",
		"switchover refused: peer is not slave",
		"switchover refused: peer data not usable",
		"switchover refused: peer has no quorum",
	},
	{
		"cannot move: peer not alive",
		"cannot move: peer is not slave",
		"cannot move: peer data not usable",
		"cannot move: peer has no quorum",
	},
};

/* S3: what lets a node stay MASTER or go on starting the group. */
static bool fsm_held(const struct fsm_facts *x)
{
	if (x->mode == FSM_Q_PING)
		return x->quorum_ok;
	return x->lease_valid || (x->peer_alive && x->peer_acks_me);
}

static const char *fsm_no_quorum_reason(const struct fsm_facts *x)
{
	if (x->mode == FSM_Q_PING)
		return "lost quorum: no ping target answers";
	if (x->peer_alive)
		return "lost quorum: lease ending and the peer does not ack";
	return "lost quorum: lease ending and peer silent";
}

static bool fsm_peer_candidate(const struct fsm_facts *x)
{
	return x->peer_alive && x->peer_data_usable && x->peer_quorum_ok;
}

static bool fsm_peer_is(const struct fsm_facts *x, enum fsm_role r)
{
	return x->peer_alive && x->peer_role == r;
}

/* Between two candidates with no master.  Mirrored facts give the opposite
 * answer, so exactly one of the two asks for the vote. */
static bool fsm_preferred(const struct fsm_facts *x)
{
	if (x->generation != x->peer_generation)
		return x->generation > x->peer_generation;
	if (x->last_granted == FSM_G_SELF)
		return true;
	if (x->last_granted == FSM_G_PEER)
		return false;
	return x->self_lower_id;
}

static bool fsm_sb_decide(const struct fsm_facts *x, enum fsm_criterion *by)
{
	static const enum fsm_criterion dflt[] = {
		FSM_C_LAST_GRANTED,
		FSM_C_NEWER_DATA,
		FSM_C_LOWER_ID,
	};
	const enum fsm_criterion *p = x->policy;
	size_t n = FSM_MAX_CRITERIA;

	if (p[0] == FSM_C_NONE) {
		p = dflt;
		n = sizeof(dflt) / sizeof(dflt[0]);
	}
	for (size_t i = 0; i < n && p[i] != FSM_C_NONE; i++) {
		*by = p[i];
		switch (p[i]) {
		case FSM_C_LAST_GRANTED:
			if (x->last_granted == FSM_G_SELF)
				return true;
			if (x->last_granted == FSM_G_PEER)
				return false;
			break;
		case FSM_C_NEWER_DATA:
			if (x->generation != x->peer_generation)
				return x->generation > x->peer_generation;
			break;
		case FSM_C_LOWER_ID:
			return x->self_lower_id;
		default:
			/* Not ours to guess at: the next criterion decides. */
			break;
		}
	}
	/* A policy that decided nothing must still give exactly one winner. */
	*by = FSM_C_LOWER_ID;
	return x->self_lower_id;
}

bool fsm_split_brain_winner(const struct fsm_facts *facts, const char **why)
{
	enum fsm_criterion by = FSM_C_LOWER_ID;
	bool win = fsm_sb_decide(facts, &by);

	if (why)
		*why = criterion_names[by];
	return win;
}

/* A new role starts with a clean memory; callers set the flags after. */
static void fsm_enter(struct step *s, enum fsm_role r, unsigned actions,
		      const char *reason)
{
	struct fsm *f = s->f;

	f->role = r;
	f->vote_pending = false;
	f->starting = false;
	f->handover = false;
	f->split_loser = false;
	f->stop_failed = false;
	f->split_reported = false;
	s->out.actions |= actions;
	s->out.reason = reason;
}

/* Not (or no longer) taking over, group down: SLAVE when there is still
 * someone to follow or a quorum to ask, ISOLATED otherwise. */
static void fsm_back_off(struct step *s, unsigned actions, const char *reason)
{
	const struct fsm_facts *x = s->x;

	fsm_enter(s, x->peer_alive || x->quorum_ok ? FSM_SLAVE : FSM_ISOLATED,
		  actions, reason);
}

static void fsm_request_vote(struct step *s, const char *reason)
{
	fsm_enter(s, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE, reason);
	s->f->vote_pending = true;
}

/* STARTUP, SLAVE, ISOLATED with the peer alive. */
static void fsm_follow_peer(struct step *s)
{
	const struct fsm_facts *x = s->x;

	switch (x->peer_role) {
	case FSM_STARTUP:
	case FSM_SLAVE:
	case FSM_ISOLATED:
		break;
	case FSM_MASTER:
		fsm_enter(s, FSM_SLAVE, 0, "peer is master");
		return;
	case FSM_TAKING_OVER:
		fsm_enter(s, FSM_SLAVE, 0, "peer is taking over");
		return;
	case FSM_STEPPING_DOWN:
		/* Its group may still run: wait until it has stopped. */
		fsm_enter(s, FSM_SLAVE, 0, "peer is stepping down");
		return;
	default:
		fsm_enter(s, FSM_SLAVE, 0, "peer role unknown");
		return;
	}
	if (!x->data_usable) {
		fsm_enter(s, FSM_SLAVE, 0,
			  "nobody is master; local data not usable");
		return;
	}
	if (!x->quorum_ok) {
		fsm_enter(s, FSM_SLAVE, 0, "nobody is master; no quorum");
		return;
	}
	if (fsm_peer_candidate(x) && !fsm_preferred(x)) {
		fsm_enter(s, FSM_SLAVE, 0,
			  "nobody is master; the peer is preferred");
		return;
	}
	/* Two nodes started together hear each other before either knows
	 * its quorum: a peer still starting up is no candidate only for now.
	 * Deciding on that (both would) made two masters at once in ping
	 * mode; wait out the start-up as when the peer is silent. */
	if (!fsm_peer_candidate(x) && x->peer_role == FSM_STARTUP &&
	    s->f->role == FSM_STARTUP && !x->startup_wait_over)
		return;
	if (!x->vote_retry_ok) {
		fsm_enter(s, FSM_SLAVE, 0, "nobody is master; vote backoff");
		return;
	}
	fsm_request_vote(s, fsm_peer_candidate(x)
				    ? "nobody is master; this node is "
				      "preferred: requesting the vote"
				    : "nobody is master; the peer is no "
				      "candidate: requesting the vote");
}

/* STARTUP, SLAVE and ISOLATED: nothing runs here, so nothing to stop. */
static void fsm_follower(struct step *s)
{
	const struct fsm_facts *x = s->x;
	enum fsm_role r = s->f->role;

	switch (s->ev) {
	case FSM_EV_VOTE_GRANTED:
		/* A grant for a vote given up on: the lease would keep the
		 * peer from getting one until it ends. */
		s->out.actions |= FSM_A_RELEASE_LEASE;
		s->out.reason = "late vote grant released";
		return;
	case FSM_EV_HANDOVER:
		if (!x->data_usable) {
			s->out.reason =
				"handover refused: local data not usable";
			return;
		}
		if (!x->quorum_ok) {
			s->out.reason = "handover refused: no quorum";
			return;
		}
		/* No backoff: the master released its lease for us. */
		fsm_request_vote(s, "handover from the peer: requesting "
				    "the vote");
		s->accepted = true;
		return;
	case FSM_EV_SWITCHOVER:
	case FSM_EV_GROUP_MUST_MOVE:
		return; /* refused in fsm_step */
	default:
		break;
	}
	if (x->peer_alive) {
		fsm_follow_peer(s);
		return;
	}
	if (r == FSM_STARTUP && !x->startup_wait_over)
		return;
	if (!x->quorum_ok) {
		fsm_enter(s, FSM_ISOLATED, 0, "peer silent and no quorum");
		return;
	}
	if (!x->data_usable) {
		s->wait = true;
		if (r == FSM_STARTUP)
			fsm_enter(s, FSM_STARTUP, 0,
				  "data not usable; waiting for the peer");
		else
			fsm_enter(s, FSM_SLAVE, 0,
				  "peer silent but local data not usable: "
				  "cannot take over");
		return;
	}
	if (x->vote_retry_ok) {
		/* After a full outage the arbiter knows whether our data is
		 * the newest; in ping mode data_usable is all we have. */
		fsm_request_vote(s, "peer silent: requesting the vote");
		return;
	}
	if (r == FSM_ISOLATED)
		fsm_enter(s, FSM_SLAVE, 0, "quorum is back; vote backoff");
}

/* TAKING_OVER before the grant: no lease, nothing started. */
static void fsm_voting(struct step *s)
{
	const struct fsm_facts *x = s->x;
	struct fsm *f = s->f;
	unsigned rel = s->ev == FSM_EV_VOTE_GRANTED ? FSM_A_RELEASE_LEASE : 0;
	enum fsm_criterion by;

	if (!x->data_usable) {
		fsm_back_off(s, rel,
			     "local data no longer usable: vote abandoned");
		return;
	}
	if (!x->quorum_ok) {
		fsm_back_off(s, rel, "lost quorum before the vote was granted");
		return;
	}
	/* Any live master, whatever its epoch: we do not contest it without
	 * a grant in hand (S1 asks only for epochs >= ours). */
	if (fsm_peer_is(x, FSM_MASTER)) {
		fsm_enter(s, FSM_SLAVE, rel, "peer is master: vote abandoned");
		return;
	}
	if (fsm_peer_is(x, FSM_TAKING_OVER) && !fsm_sb_decide(x, &by)) {
		fsm_enter(s, FSM_SLAVE, rel, both_lose[by]);
		return;
	}
	switch (s->ev) {
	case FSM_EV_VOTE_GRANTED:
		if (!fsm_held(x)) {
			fsm_back_off(s, FSM_A_RELEASE_LEASE,
				     "vote granted but the lease already ends");
			return;
		}
		f->vote_pending = false;
		f->starting = true;
		/* Arbiter mode: the owner took the epoch from the grant. */
		s->out.actions |= FSM_A_START_GROUP;
		if (x->mode == FSM_Q_PING)
			s->out.actions |= FSM_A_RAISE_EPOCH;
		s->out.reason = "vote granted: starting the group";
		return;
	case FSM_EV_VOTE_DENIED:
		fsm_back_off(s, 0, "vote denied");
		return;
	case FSM_EV_HANDOVER:
		s->accepted = true; /* already asking */
		return;
	default:
		return;
	}
}

/* TAKING_OVER after the grant: START_GROUP is under way. */
static void fsm_starting(struct step *s)
{
	const struct fsm_facts *x = s->x;
	unsigned urgent = FSM_A_VIP_FIRST | FSM_A_STOP_GROUP;

	/* Nothing to cancel once the start has reported its end. */
	if (s->ev != FSM_EV_GROUP_STARTED && s->ev != FSM_EV_GROUP_START_FAILED)
		urgent |= FSM_A_CANCEL_START;

	if (s->ev == FSM_EV_LEASE_LOST) {
		fsm_enter(s, FSM_STEPPING_DOWN, urgent,
			  "lease lost while starting");
		return;
	}
	if (!fsm_held(x)) {
		fsm_enter(s, FSM_STEPPING_DOWN, urgent,
			  fsm_no_quorum_reason(x));
		return;
	}
	if (fsm_peer_is(x, FSM_MASTER) && x->peer_epoch >= x->epoch) {
		fsm_enter(s, FSM_STEPPING_DOWN, urgent,
			  "peer is master with an epoch not older than ours");
		return;
	}
	switch (s->ev) {
	case FSM_EV_GROUP_STARTED:
		fsm_enter(s, FSM_MASTER, 0, "group started: now master");
		return;
	case FSM_EV_GROUP_START_FAILED:
		/* Orderly: the VIP may not even be up; the lease goes only
		 * once everything is down. */
		fsm_enter(s, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP,
			  "group start failed");
		return;
	case FSM_EV_HANDOVER:
		s->accepted = true;
		return;
	default:
		return;
	}
}

static void fsm_hand_over(struct step *s)
{
	const struct fsm_facts *x = s->x;
	int move = s->ev == FSM_EV_GROUP_MUST_MOVE;
	int missing;

	if (!x->peer_alive)
		missing = 0;
	else if (x->peer_role != FSM_SLAVE)
		missing = 1;
	else if (!x->peer_data_usable)
		missing = 2;
	else if (!x->peer_quorum_ok)
		missing = 3;
	else
		missing = -1;
	if (missing >= 0) {
		s->out.reason = handover_refused[move][missing];
		return;
	}
	/* Orderly: the VIP goes in its turn; the peer is ready for it. */
	fsm_enter(s, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP,
		  move ? "group must move: handing over to the peer"
		       : "switchover: handing over to the peer");
	s->f->handover = true;
	s->accepted = true;
}

static void fsm_master(struct step *s)
{
	const struct fsm_facts *x = s->x;
	struct fsm *f = s->f;
	unsigned urgent = FSM_A_VIP_FIRST | FSM_A_STOP_GROUP;
	bool split = fsm_peer_is(x, FSM_MASTER);
	/* A peer stopping a group while ours runs ran it alongside ours:
	 * the loser of a split brain whose MASTER heartbeat never reached
	 * us (it heard ours first), or a start it abandoned on seeing us.
	 * Either way the VIP may have moved: same encounter. */
	bool dual = split || fsm_peer_is(x, FSM_STEPPING_DOWN);
	enum fsm_criterion by = FSM_C_LOWER_ID;
	bool win = split && fsm_sb_decide(x, &by);

	if (!dual)
		f->split_reported = false;
	/* S5 before S3: the loser must know it lost, to resync. */
	if (split && !win) {
		fsm_enter(s, FSM_STEPPING_DOWN, urgent | FSM_A_SPLIT_BRAIN,
			  sb_lose[by]);
		f->split_loser = true;
		return;
	}
	if (s->ev == FSM_EV_LEASE_LOST || !fsm_held(x)) {
		if (split && !f->split_reported)
			urgent |= FSM_A_SPLIT_BRAIN;
		fsm_enter(s, FSM_STEPPING_DOWN, urgent,
			  s->ev == FSM_EV_LEASE_LOST
				  ? "lease lost: stepping down before it ends"
				  : fsm_no_quorum_reason(x));
		return;
	}
	if (dual && !f->split_reported) {
		/* Once per encounter: a tick must not re-raise the epoch. */
		f->split_reported = true;
		s->out.actions |= FSM_A_REANNOUNCE | FSM_A_RAISE_EPOCH |
				  FSM_A_SPLIT_BRAIN;
		s->out.reason = split ? sb_win[by]
				      : "split brain: the peer is stopping "
					"its group; re-announcing";
		return;
	}
	if (fsm_peer_is(x, FSM_TAKING_OVER) && x->peer_epoch > x->epoch) {
		fsm_enter(s, FSM_STEPPING_DOWN, urgent,
			  "peer has a higher epoch");
		return;
	}
	if (s->ev == FSM_EV_SWITCHOVER || s->ev == FSM_EV_GROUP_MUST_MOVE)
		fsm_hand_over(s);
}

static void fsm_stepping_down(struct step *s)
{
	const struct fsm_facts *x = s->x;
	struct fsm *f = s->f;
	unsigned a = FSM_A_RELEASE_LEASE;
	const char *why = "group stopped";

	switch (s->ev) {
	case FSM_EV_GROUP_STOPPED:
		if (f->split_loser) {
			a |= FSM_A_RESYNC;
			why = "group stopped: resyncing from the split-brain "
			      "winner";
		} else if (f->handover && x->peer_alive) {
			a |= FSM_A_SEND_HANDOVER;
			why = "group stopped: handing over to the peer";
		} else if (f->handover) {
			why = "group stopped; the peer to hand over to is "
			      "gone";
		}
		fsm_back_off(s, a, why);
		return;
	case FSM_EV_GROUP_STOP_FAILED:
		/* Keep the lease: the peer must not start while something
		 * of ours still runs.  The VIP at least goes now. */
		f->stop_failed = true;
		s->out.actions |= FSM_A_VIP_FIRST | FSM_A_STOP_GROUP;
		s->out.reason = "group stop failed: retrying";
		return;
	case FSM_EV_LEASE_LOST:
		/* An orderly stop outlived the lease: the VIP cannot wait. */
		s->out.actions |= FSM_A_VIP_FIRST | FSM_A_STOP_GROUP;
		s->out.reason = "lease lost while stopping: VIP first";
		return;
	case FSM_EV_SWITCHOVER:
	case FSM_EV_GROUP_MUST_MOVE:
		s->out.reason = "already stepping down";
		return;
	default:
		return;
	}
}

/* S7: HA stopped by the operator.  The machine still keeps every safety
 * rule (a split-brain loser still resyncs, a lost lease still takes the
 * VIP first); it only never starts anything and steps a master down. */
static void fsm_admin_stopped(struct step *s)
{
	const struct fsm_facts *x = s->x;
	struct fsm *f = s->f;
	unsigned a;

	/* Nobody to hand over to: the peer is stopped as well. */
	f->handover = false;
	switch (f->role) {
	case FSM_STARTUP:
	case FSM_SLAVE:
	case FSM_ISOLATED:
		if (s->ev == FSM_EV_VOTE_GRANTED) {
			s->out.actions |= FSM_A_RELEASE_LEASE;
			s->out.reason = "late vote grant released";
			return;
		}
		if (f->role != FSM_SLAVE && (x->peer_alive || x->quorum_ok))
			fsm_enter(s, FSM_SLAVE, 0,
				  "HA stopped by the operator");
		else if (f->role == FSM_SLAVE && !x->peer_alive &&
			 !x->quorum_ok)
			fsm_enter(s, FSM_ISOLATED, 0,
				  "HA stopped by the operator; peer silent and "
				  "no quorum");
		return;
	case FSM_TAKING_OVER:
		if (!f->starting) {
			fsm_back_off(s,
				     s->ev == FSM_EV_VOTE_GRANTED
					     ? FSM_A_RELEASE_LEASE
					     : 0,
				     "HA stopped by the operator: vote "
				     "abandoned");
			return;
		}
		a = FSM_A_STOP_GROUP;
		if (s->ev != FSM_EV_GROUP_STARTED &&
		    s->ev != FSM_EV_GROUP_START_FAILED)
			a |= FSM_A_CANCEL_START;
		if (s->ev == FSM_EV_LEASE_LOST || !fsm_held(x))
			a |= FSM_A_VIP_FIRST;
		fsm_enter(s, FSM_STEPPING_DOWN, a,
			  "HA stopped by the operator: start abandoned, "
			  "stopping the group");
		return;
	case FSM_MASTER:
		/* The usual rules first: a split-brain loss or a lost lease
		 * steps down their own way (resync, VIP first). */
		fsm_master(s);
		if (f->role == FSM_MASTER) {
			/* A split brain won is still reported, but a node
			 * on its way down announces no VIP. */
			s->out.actions &= ~FSM_A_REANNOUNCE;
			fsm_enter(s, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP,
				  "HA stopped by the operator: stopping the "
				  "group");
		}
		return;
	case FSM_STEPPING_DOWN:
		fsm_stepping_down(s);
		if (s->ev == FSM_EV_GROUP_STOPPED &&
		    !(s->out.actions & FSM_A_RESYNC))
			s->out.reason = "group stopped: HA stopped by the "
					"operator";
		return;
	default:
		fsm_enter(s, FSM_STEPPING_DOWN,
			  FSM_A_VIP_FIRST | FSM_A_STOP_GROUP,
			  "unknown role: stopping the group");
		return;
	}
}

void fsm_init(struct fsm *f)
{
	memset(f, 0, sizeof(*f));
	f->role = FSM_STARTUP;
}

struct fsm_out fsm_step(struct fsm *f, const struct fsm_facts *facts,
			enum fsm_event ev)
{
	struct step s = {.f = f, .x = facts, .ev = ev};
	enum fsm_role old = f->role;

	if (facts->admin_stopped) {
		/* S7: operator requests are refused; the rest of the step is
		 * what a tick would do. */
		if (ev == FSM_EV_SWITCHOVER || ev == FSM_EV_GROUP_MUST_MOVE ||
		    ev == FSM_EV_HANDOVER)
			s.ev = FSM_EV_TICK;
		fsm_admin_stopped(&s);
		if (s.ev != ev && !s.out.reason)
			s.out.reason =
				ev == FSM_EV_HANDOVER
					? "handover refused: HA stopped by the "
					  "operator"
				: ev == FSM_EV_SWITCHOVER
					? "switchover refused: HA stopped by "
					  "the operator"
					: "cannot move: HA stopped by the "
					  "operator";
		goto out;
	}
	switch (f->role) {
	case FSM_STARTUP:
	case FSM_SLAVE:
	case FSM_ISOLATED:
		fsm_follower(&s);
		break;
	case FSM_TAKING_OVER:
		if (f->starting)
			fsm_starting(&s);
		else
			fsm_voting(&s);
		break;
	case FSM_MASTER:
		fsm_master(&s);
		break;
	case FSM_STEPPING_DOWN:
		fsm_stepping_down(&s);
		break;
	default:
		/* Broken memory: whatever might run must go. */
		fsm_enter(&s, FSM_STEPPING_DOWN,
			  FSM_A_VIP_FIRST | FSM_A_STOP_GROUP,
			  "unknown role: stopping the group");
		break;
	}
out:
	if ((ev == FSM_EV_SWITCHOVER || ev == FSM_EV_GROUP_MUST_MOVE ||
	     ev == FSM_EV_HANDOVER) &&
	    !s.accepted) {
		s.out.result = -EAGAIN;
		if (!s.out.reason)
			s.out.reason = ev == FSM_EV_HANDOVER
					       ? "handover refused: not slave"
					       : "not master";
	}
	if (f->role == old && !s.out.actions && !s.out.result && !s.wait)
		s.out.reason = NULL;
	s.out.role = f->role;
	return s.out;
}

const char *fsm_role_name(enum fsm_role r)
{
	if ((unsigned)r >= FSM_N_ROLES)
		return "unknown";
	return role_names[r];
}

const char *fsm_event_name(enum fsm_event ev)
{
	if ((unsigned)ev >= FSM_N_EVENTS)
		return "unknown";
	return event_names[ev];
}

enum fsm_criterion fsm_criterion_parse(const char *s)
{
	if (!s)
		return FSM_C_NONE;
	for (int c = FSM_C_LAST_GRANTED; c < N_CRITERIA; c++)
		if (strcmp(s, criterion_names[c]) == 0)
			return (enum fsm_criterion)c;
	return FSM_C_NONE;
}

const char *fsm_criterion_name(enum fsm_criterion c)
{
	if ((unsigned)c >= N_CRITERIA)
		return "unknown";
	return criterion_names[c];
}
