/* The role state machine, driven directly: a named scenario for every
 * transition, an exhaustive sweep of memory x event x facts checking the
 * safety rules S1..S6 of fsm.h, a seeded random walk, and a two-node
 * simulation with an exclusive arbiter lease that shows both nodes reach
 * the same conclusion from mirrored facts. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"
#include "testutil.h"

#define A_URGENT (FSM_A_VIP_FIRST | FSM_A_STOP_GROUP)
#define A_ALL	 0x7ffu

/* The header's definition of "has quorum", written again here so that the
 * checks do not trust the code under test. */
static bool t_held(const struct fsm_facts *x)
{
	if (x->mode == FSM_Q_PING)
		return x->quorum_ok;
	return x->lease_valid || (x->peer_alive && x->peer_acks_me);
}

static bool t_starting(const struct fsm *f)
{
	return f->role == FSM_TAKING_OVER && f->starting;
}

struct probe {
	struct fsm before;
	const struct fsm_facts *x;
	enum fsm_event ev;
	struct fsm after;
	struct fsm_out out;
};

static const char *describe(const struct probe *p)
{
	static char buf[1024];
	const struct fsm *b = &p->before, *a = &p->after;
	const struct fsm_facts *x = p->x;

	snprintf(buf, sizeof(buf),
		 "[%s vp%d st%d ho%d sl%d sf%d sr%d] --%s--> "
		 "[%s vp%d st%d ho%d sl%d sf%d sr%d] actions 0x%x result %d "
		 "reason \"%s\"; facts: mode %d policy %d,%d,%d,%d low%d "
		 "epoch %" PRIu64 " gen %" PRIu64 " usable%d peer_alive%d "
		 "peer_role %d peer_epoch %" PRIu64 " peer_gen %" PRIu64
		 " peer_usable%d peer_q%d acks%d q%d lease%d granted %d "
		 "wait_over%d retry%d stopped%d",
		 fsm_role_name(b->role), b->vote_pending, b->starting,
		 b->handover, b->split_loser, b->stop_failed, b->split_reported,
		 fsm_event_name(p->ev), fsm_role_name(a->role), a->vote_pending,
		 a->starting, a->handover, a->split_loser, a->stop_failed,
		 a->split_reported, p->out.actions, p->out.result,
		 p->out.reason ? p->out.reason : "(null)", x->mode,
		 x->policy[0], x->policy[1], x->policy[2], x->policy[3],
		 x->self_lower_id, x->epoch, x->generation, x->data_usable,
		 x->peer_alive, x->peer_role, x->peer_epoch, x->peer_generation,
		 x->peer_data_usable, x->peer_quorum_ok, x->peer_acks_me,
		 x->quorum_ok, x->lease_valid, x->last_granted,
		 x->startup_wait_over, x->vote_retry_ok, x->admin_stopped);
	return buf;
}

/* Every rule a single step must keep; NULL when it kept them all. */
static const char *violation(const struct probe *p)
{
	const struct fsm *b = &p->before, *a = &p->after;
	const struct fsm_facts *x = p->x;
	unsigned act = p->out.actions;
	bool changed = a->role != b->role || act;
	bool peer_master = x->peer_alive && x->peer_role == FSM_MASTER;

	if (p->out.role != a->role)
		return "out.role differs from f->role";
	if ((unsigned)a->role >= FSM_N_ROLES)
		return "role out of range";
	if (act & ~A_ALL)
		return "unknown action bit";

	/* S1 */
	if (act & FSM_A_START_GROUP) {
		if (b->role != FSM_TAKING_OVER || p->ev != FSM_EV_VOTE_GRANTED)
			return "S1: START_GROUP outside VOTE_GRANTED in "
			       "TAKING_OVER";
		if (peer_master && x->peer_epoch >= x->epoch)
			return "S1: START_GROUP against a master peer";
		if (!t_starting(a))
			return "START_GROUP without starting";
	}
	/* S2 */
	if (a->role == FSM_MASTER && b->role != FSM_MASTER &&
	    !(t_starting(b) && p->ev == FSM_EV_GROUP_STARTED))
		return "S2: MASTER entered other than on GROUP_STARTED";
	/* S3 */
	if ((a->role == FSM_MASTER || t_starting(a)) && !t_held(x))
		return "S3: master or starting without quorum";
	if ((b->role == FSM_MASTER || t_starting(b)) &&
	    (!t_held(x) || p->ev == FSM_EV_LEASE_LOST) &&
	    (a->role != FSM_STEPPING_DOWN || (act & A_URGENT) != A_URGENT))
		return "S3: quorum lost without a VIP-first stop";
	if (a->role == FSM_TAKING_OVER && !a->starting &&
	    !(x->quorum_ok && x->data_usable))
		return "S3: vote pending without quorum or usable data";
	/* S4, S6 */
	if (act & FSM_A_REQUEST_VOTE) {
		if (!x->data_usable)
			return "S4: vote requested without usable data";
		if (!x->vote_retry_ok && p->ev != FSM_EV_HANDOVER)
			return "S6: vote requested during the backoff";
		if (b->role == FSM_TAKING_OVER || a->role != FSM_TAKING_OVER ||
		    !a->vote_pending)
			return "REQUEST_VOTE without entering TAKING_OVER";
	}
	/* S5, this side's half (the mirrored half is swept below) */
	if (b->role == FSM_MASTER && peer_master) {
		bool win = fsm_split_brain_winner(x, NULL);
		unsigned lose = A_URGENT | FSM_A_SPLIT_BRAIN;
		unsigned won = FSM_A_REANNOUNCE | FSM_A_RAISE_EPOCH |
			       FSM_A_SPLIT_BRAIN;

		if (!win && (a->role != FSM_STEPPING_DOWN || !a->split_loser ||
			     (act & lose) != lose))
			return "S5: split-brain loser did not step down";
		if (win && a->role == FSM_MASTER && !b->split_reported &&
		    (act & won) != won)
			return "S5: split-brain winner did not reannounce";
		if (win && b->split_reported && (act & won))
			return "S5: split brain reported twice";
	}
	if (b->role == FSM_MASTER && x->peer_alive &&
	    x->peer_role == FSM_STEPPING_DOWN) {
		unsigned won = FSM_A_REANNOUNCE | FSM_A_RAISE_EPOCH |
			       FSM_A_SPLIT_BRAIN;

		if (a->role == FSM_MASTER && !b->split_reported &&
		    (act & won) != won)
			return "S5: no reannounce past a peer stepping down";
		if (b->split_reported && (act & won))
			return "S5: split brain reported twice";
	}
	if ((act & FSM_A_RAISE_EPOCH) &&
	    !(act & (FSM_A_START_GROUP | FSM_A_SPLIT_BRAIN)))
		return "RAISE_EPOCH outside a start or a split brain";
	if ((act & FSM_A_RAISE_EPOCH) && (act & FSM_A_START_GROUP) &&
	    x->mode != FSM_Q_PING)
		return "RAISE_EPOCH on a grant in arbiter mode";

	/* Stopping and the lease */
	if ((act & FSM_A_VIP_FIRST) && !(act & FSM_A_STOP_GROUP))
		return "VIP_FIRST without STOP_GROUP";
	if ((act & FSM_A_STOP_GROUP) && a->role != FSM_STEPPING_DOWN)
		return "STOP_GROUP outside STEPPING_DOWN";
	if ((act & FSM_A_CANCEL_START) &&
	    !(t_starting(b) && a->role == FSM_STEPPING_DOWN))
		return "CANCEL_START without a start";
	if (act & FSM_A_RELEASE_LEASE) {
		bool stopped = b->role == FSM_STEPPING_DOWN &&
			       p->ev == FSM_EV_GROUP_STOPPED;
		bool never_ran = p->ev == FSM_EV_VOTE_GRANTED &&
				 b->role != FSM_MASTER &&
				 b->role != FSM_STEPPING_DOWN && !t_starting(b);

		if (!stopped && !never_ran)
			return "RELEASE_LEASE while the group may run";
		if (act & (FSM_A_STOP_GROUP | FSM_A_START_GROUP))
			return "RELEASE_LEASE with a start or a stop";
	}
	if (b->role == FSM_STEPPING_DOWN && p->ev == FSM_EV_GROUP_STOP_FAILED &&
	    (a->role != FSM_STEPPING_DOWN || !a->stop_failed ||
	     !(act & FSM_A_STOP_GROUP)))
		return "stop failure not retried";
	if ((act & FSM_A_RESYNC) &&
	    !(b->split_loser && (act & FSM_A_RELEASE_LEASE)))
		return "RESYNC outside a split-brain loss";
	if ((act & FSM_A_SEND_HANDOVER) &&
	    !(b->handover && x->peer_alive && (act & FSM_A_RELEASE_LEASE) &&
	      a->role == FSM_SLAVE))
		return "SEND_HANDOVER outside a finished handover";
	if ((act & (FSM_A_REANNOUNCE)) && a->role != FSM_MASTER)
		return "REANNOUNCE by a non-master";
	/* S7 */
	if (x->admin_stopped) {
		if (act & (FSM_A_REQUEST_VOTE | FSM_A_START_GROUP |
			   FSM_A_SEND_HANDOVER))
			return "S7: vote, start or handover while stopped";
		if (a->role == FSM_MASTER || a->role == FSM_TAKING_OVER)
			return "S7: master or taking over while stopped";
		if ((b->role == FSM_MASTER || t_starting(b)) &&
		    (a->role != FSM_STEPPING_DOWN || !(act & FSM_A_STOP_GROUP)))
			return "S7: a master or a start not stopped at once";
		if ((p->ev == FSM_EV_SWITCHOVER ||
		     p->ev == FSM_EV_GROUP_MUST_MOVE ||
		     p->ev == FSM_EV_HANDOVER) &&
		    p->out.result != -EAGAIN)
			return "S7: operator request accepted while stopped";
		if (a->handover)
			return "S7: handover memory while stopped";
	}

	/* Memory belongs to its role */
	if ((a->vote_pending || a->starting) && a->role != FSM_TAKING_OVER)
		return "vote/start memory outside TAKING_OVER";
	if (a->role == FSM_TAKING_OVER && a->vote_pending == a->starting)
		return "TAKING_OVER must be either voting or starting";
	if ((a->handover || a->split_loser || a->stop_failed) &&
	    a->role != FSM_STEPPING_DOWN)
		return "stop memory outside STEPPING_DOWN";
	if (a->split_reported && a->role != FSM_MASTER)
		return "split memory outside MASTER";

	/* Results */
	switch (p->ev) {
	case FSM_EV_SWITCHOVER:
	case FSM_EV_GROUP_MUST_MOVE: {
		bool ok = b->role == FSM_MASTER &&
			  a->role == FSM_STEPPING_DOWN && a->handover;

		if (ok != (p->out.result == 0))
			return "switchover result does not match the step";
		if (ok && (act != FSM_A_STOP_GROUP || !x->peer_alive ||
			   x->peer_role != FSM_SLAVE || !x->peer_data_usable ||
			   !x->peer_quorum_ok))
			return "switchover accepted without a ready slave";
		break;
	}
	case FSM_EV_HANDOVER:
		if ((a->role == FSM_TAKING_OVER) != (p->out.result == 0))
			return "handover result does not match the step";
		break;
	default:
		if (p->out.result != 0)
			return "non-zero result for an event that cannot fail";
		break;
	}
	if (p->out.result != 0 && p->out.result != -EAGAIN)
		return "result other than 0 or -EAGAIN";

	/* Reasons */
	if ((changed || p->out.result) && !p->out.reason)
		return "change without a reason";
	if (p->out.reason && !p->out.reason[0])
		return "empty reason";
	if (!changed && !p->out.result && p->out.reason &&
	    (x->data_usable || x->peer_alive))
		return "reason without a change (only a data wait may)";
	return NULL;
}

static struct fsm_out step(struct fsm *f, const struct fsm_facts *x,
			   enum fsm_event ev)
{
	struct probe p = {.before = *f, .x = x, .ev = ev};
	const char *bad;

	p.out = fsm_step(f, x, ev);
	p.after = *f;
	bad = violation(&p);
	if (bad)
		ck_abort_msg("%s: %s", bad, describe(&p));
	return p.out;
}

/* A healthy pair at epoch 5, data generation 10, this node's id first. */
static struct fsm_facts base(enum fsm_quorum_mode mode)
{
	struct fsm_facts x = {
		.mode = mode,
		.self_lower_id = true,
		.epoch = 5,
		.generation = 10,
		.data_usable = true,
		.peer_alive = true,
		.peer_role = FSM_SLAVE,
		.peer_epoch = 5,
		.peer_generation = 10,
		.peer_data_usable = true,
		.peer_quorum_ok = true,
		.quorum_ok = true,
		.startup_wait_over = true,
		.vote_retry_ok = true,
	};
	return x;
}

/* Facts of a master with its lease and its slave acking it. */
static struct fsm_facts master_facts(enum fsm_quorum_mode mode)
{
	struct fsm_facts x = base(mode);

	x.lease_valid = true;
	x.peer_acks_me = true;
	x.last_granted = FSM_G_SELF;
	return x;
}

/* The same situation seen from the peer. */
static struct fsm_facts mirror(const struct fsm_facts *x, enum fsm_role self)
{
	struct fsm_facts m = *x;

	m.self_lower_id = !x->self_lower_id;
	m.epoch = x->peer_epoch;
	m.peer_epoch = x->epoch;
	m.generation = x->peer_generation;
	m.peer_generation = x->generation;
	m.data_usable = x->peer_data_usable;
	m.peer_data_usable = x->data_usable;
	m.quorum_ok = x->peer_quorum_ok;
	m.peer_quorum_ok = x->quorum_ok;
	m.peer_role = self;
	m.last_granted = x->last_granted == FSM_G_SELF	 ? FSM_G_PEER
			 : x->last_granted == FSM_G_PEER ? FSM_G_SELF
							 : FSM_G_UNKNOWN;
	return m;
}

static struct fsm in_role(enum fsm_role r)
{
	struct fsm f;

	fsm_init(&f);
	f.role = r;
	if (r == FSM_TAKING_OVER)
		f.vote_pending = true;
	return f;
}

static struct fsm starting(void)
{
	struct fsm f = in_role(FSM_TAKING_OVER);

	f.vote_pending = false;
	f.starting = true;
	return f;
}

#define ASSERT_OUT(o, r, a)                                                    \
	do {                                                                   \
		ck_assert_str_eq(fsm_role_name((o).role), fsm_role_name(r));   \
		ck_assert_uint_eq((o).actions, (a));                           \
	} while (0)

/* ---- names ---- */

START_TEST(names)
{
	static const char *roles[] = {"startup", "slave",	  "taking over",
				      "master",	 "stepping down", "isolated"};

	for (int r = 0; r < FSM_N_ROLES; r++)
		ck_assert_str_eq(fsm_role_name(r), roles[r]);
	ck_assert_str_eq(fsm_role_name(FSM_N_ROLES), "unknown");
	ck_assert_str_eq(fsm_role_name((enum fsm_role) - 1), "unknown");
	for (int e = 0; e < FSM_N_EVENTS; e++) {
		ck_assert_ptr_nonnull(fsm_event_name(e));
		ck_assert_str_ne(fsm_event_name(e), "unknown");
		for (int o = 0; o < e; o++)
			ck_assert_str_ne(fsm_event_name(e), fsm_event_name(o));
	}
	ck_assert_str_eq(fsm_event_name(FSM_EV_TICK), "tick");
	ck_assert_str_eq(fsm_event_name(FSM_EV_LEASE_LOST), "lease lost");
	ck_assert_str_eq(fsm_event_name(FSM_N_EVENTS), "unknown");

	ck_assert_int_eq(fsm_criterion_parse("last-granted"),
			 FSM_C_LAST_GRANTED);
	ck_assert_int_eq(fsm_criterion_parse("newer-data"), FSM_C_NEWER_DATA);
	ck_assert_int_eq(fsm_criterion_parse("lower-id"), FSM_C_LOWER_ID);
	ck_assert_int_eq(fsm_criterion_parse("Lower-ID"), FSM_C_NONE);
	ck_assert_int_eq(fsm_criterion_parse("lower-id "), FSM_C_NONE);
	ck_assert_int_eq(fsm_criterion_parse(""), FSM_C_NONE);
	ck_assert_int_eq(fsm_criterion_parse("none"), FSM_C_NONE);
	ck_assert_int_eq(fsm_criterion_parse(NULL), FSM_C_NONE);
	for (int c = FSM_C_LAST_GRANTED; c <= FSM_C_LOWER_ID; c++)
		ck_assert_int_eq(fsm_criterion_parse(fsm_criterion_name(c)), c);
	ck_assert_str_eq(fsm_criterion_name(FSM_C_NONE), "none");
	ck_assert_str_eq(fsm_criterion_name(99), "unknown");
}
END_TEST

START_TEST(init_is_startup)
{
	struct fsm f;

	memset(&f, 0xff, sizeof(f));
	fsm_init(&f);
	ck_assert_int_eq(f.role, FSM_STARTUP);
	ck_assert(!f.vote_pending && !f.starting && !f.handover);
	ck_assert(!f.split_loser && !f.stop_failed && !f.split_reported);
}
END_TEST

/* ---- STARTUP ---- */

START_TEST(startup_waits_for_the_peer)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.startup_wait_over = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STARTUP, 0);
	ck_assert_ptr_null(o.reason);
}
END_TEST

START_TEST(startup_alone_requests_vote)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct fsm f = in_role(FSM_STARTUP);
		struct fsm_facts x = base(mode);
		struct fsm_out o;

		x.peer_alive = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
		ck_assert(f.vote_pending);
		ck_assert_str_eq(o.reason, "peer silent: requesting the vote");
	}
}
END_TEST

START_TEST(startup_alone_without_quorum_is_isolated)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	ck_assert_str_eq(o.reason, "peer silent and no quorum");
}
END_TEST

START_TEST(startup_alone_data_unusable_waits)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.data_usable = false;
	for (int i = 0; i < 3; i++) {
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_STARTUP, 0);
		ck_assert_str_eq(o.reason,
				 "data not usable; waiting for the peer");
	}
	/* The peer shows up as master: follow it. */
	x.peer_alive = true;
	x.peer_role = FSM_MASTER;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "peer is master");
}
END_TEST

START_TEST(startup_alone_backoff_waits)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.vote_retry_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STARTUP, 0);
	ck_assert_ptr_null(o.reason);
	x.vote_retry_ok = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

START_TEST(startup_follows_master_or_taking_over)
{
	static const enum fsm_role busy[] = {FSM_MASTER, FSM_TAKING_OVER,
					     FSM_STEPPING_DOWN};

	for (size_t i = 0; i < 3; i++) {
		struct fsm f = in_role(FSM_STARTUP);
		struct fsm_facts x = base(FSM_Q_ARBITER);
		struct fsm_out o;

		/* Even preferred and with newer data: a busy peer rules. */
		x.peer_role = busy[i];
		x.generation = 11;
		x.startup_wait_over = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		ck_assert_ptr_nonnull(o.reason);
	}
}
END_TEST

/* Both start together and see each other: exactly one asks for the vote,
 * whatever the mix of candidacy, data, grant history and ids. */
START_TEST(startup_both_exactly_one_asks)
{
	static const enum fsm_role roles[] = {FSM_STARTUP, FSM_SLAVE};

	/* roles 2 x 2, candidacy bits 16, generation 3, grant 3, id 2 */
	for (int c = 0; c < 4 * 16 * 3 * 3 * 2; c++) {
		int ra = c % 2, rb = c / 2 % 2, bits = c / 4 % 16;
		struct fsm a = in_role(roles[ra]), b = in_role(roles[rb]);
		struct fsm_facts xa = base(FSM_Q_ARBITER), xb;
		struct fsm_out oa, ob;
		int want, got;

		xa.data_usable = bits & 1;
		xa.quorum_ok = bits & 2;
		xa.peer_data_usable = bits & 4;
		xa.peer_quorum_ok = bits & 8;
		xa.peer_generation = 9 + c / 64 % 3;
		xa.last_granted = c / 192 % 3;
		xa.self_lower_id = c / 576 % 2;
		xa.peer_role = roles[rb];
		xb = mirror(&xa, roles[ra]);
		oa = step(&a, &xa, FSM_EV_TICK);
		ob = step(&b, &xb, FSM_EV_TICK);
		want = (xa.data_usable && xa.quorum_ok) ||
		       (xb.data_usable && xb.quorum_ok);
		got = !!(oa.actions & FSM_A_REQUEST_VOTE) +
		      !!(ob.actions & FSM_A_REQUEST_VOTE);
		ck_assert_int_eq(got, want);
		ck_assert(a.role == FSM_SLAVE || a.role == FSM_TAKING_OVER);
		ck_assert(b.role == FSM_SLAVE || b.role == FSM_TAKING_OVER);
	}
}
END_TEST

START_TEST(startup_both_preference_order)
{
	struct fsm f;
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	/* Newer data wins over grant history and id. */
	f = in_role(FSM_STARTUP);
	x.generation = 10;
	x.peer_generation = 11;
	x.last_granted = FSM_G_SELF;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "nobody is master; the peer is preferred");
	/* Equal data: the last grant decides before the id. */
	f = in_role(FSM_STARTUP);
	x.peer_generation = 10;
	x.self_lower_id = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	/* Nothing else: the lower id. */
	f = in_role(FSM_STARTUP);
	x.last_granted = FSM_G_UNKNOWN;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	f = in_role(FSM_STARTUP);
	x.self_lower_id = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	ck_assert_str_eq(o.reason, "nobody is master; this node is "
				   "preferred: requesting the vote");
}
END_TEST

START_TEST(startup_preferred_in_backoff_becomes_slave)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.vote_retry_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "nobody is master; vote backoff");
	x.vote_retry_ok = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

START_TEST(startup_peer_no_candidate)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	/* Not preferred, but the peer cannot be master. */
	x.peer_generation = 20;
	x.peer_data_usable = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	ck_assert_str_eq(o.reason, "nobody is master; the peer is no "
				   "candidate: requesting the vote");
	/* An isolated peer is no candidate either. */
	f = in_role(FSM_STARTUP);
	x = base(FSM_Q_PING);
	x.peer_generation = 20;
	x.peer_role = FSM_ISOLATED;
	x.peer_quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

/* Two nodes started in the same instant hear each other before either
 * has its quorum: each sees the other starting up and no candidate.  Both
 * taking that as final made two masters at once in ping mode (the cluster
 * test simultaneous_start); a starting peer is waited for until the
 * start-up wait is over, then judged. */
START_TEST(startup_both_at_once_wait_for_facts)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_PING);
	struct fsm_out o;

	x.peer_role = FSM_STARTUP;
	x.peer_quorum_ok = false;
	x.startup_wait_over = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STARTUP, 0);
	/* The peer's quorum comes: the preference decides, as usual. */
	x.peer_quorum_ok = true;
	x.self_lower_id = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	/* A peer that is still no candidate once the wait is over is
	 * judged so. */
	f = in_role(FSM_STARTUP);
	x.peer_quorum_ok = false;
	x.startup_wait_over = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	/* A slave does not wait for a starting peer: it has waited. */
	f = in_role(FSM_SLAVE);
	x.startup_wait_over = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

START_TEST(startup_not_candidate_becomes_slave)
{
	struct fsm f = in_role(FSM_STARTUP);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.data_usable = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "nobody is master; local data not usable");
	f = in_role(FSM_STARTUP);
	x = base(FSM_Q_ARBITER);
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "nobody is master; no quorum");
}
END_TEST

/* ---- SLAVE ---- */

START_TEST(slave_stays_under_master)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_role = FSM_MASTER;
	for (int ev = 0; ev < FSM_N_EVENTS; ev++) {
		if (ev == FSM_EV_VOTE_GRANTED || ev == FSM_EV_HANDOVER ||
		    ev == FSM_EV_SWITCHOVER || ev == FSM_EV_GROUP_MUST_MOVE)
			continue;
		o = step(&f, &x, ev);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		ck_assert_ptr_null(o.reason);
	}
}
END_TEST

START_TEST(slave_takeover_on_peer_loss)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct fsm f = in_role(FSM_SLAVE);
		struct fsm_facts x = base(mode);
		struct fsm_out o;

		x.peer_role = FSM_MASTER;
		x.peer_alive = false;
		x.vote_retry_ok = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		x.vote_retry_ok = true;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
		x.last_granted = FSM_G_SELF;
		x.lease_valid = true;
		o = step(&f, &x, FSM_EV_VOTE_GRANTED);
		ASSERT_OUT(
			o, FSM_TAKING_OVER,
			FSM_A_START_GROUP |
				(mode == FSM_Q_PING ? FSM_A_RAISE_EPOCH : 0));
		ck_assert(f.starting && !f.vote_pending);
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_TAKING_OVER, 0);
		ck_assert_ptr_null(o.reason);
		o = step(&f, &x, FSM_EV_GROUP_STARTED);
		ASSERT_OUT(o, FSM_MASTER, 0);
		ck_assert_str_eq(o.reason, "group started: now master");
		ck_assert(!f.starting);
	}
}
END_TEST

START_TEST(slave_peer_loss_without_quorum_isolated)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_PING);
	struct fsm_out o;

	x.peer_alive = false;
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	ck_assert_ptr_null(o.reason);
}
END_TEST

START_TEST(slave_peer_loss_data_unusable_waits)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.data_usable = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "peer silent but local data not usable: "
				   "cannot take over");
}
END_TEST

START_TEST(slave_waits_for_peer_stepping_down)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_role = FSM_STEPPING_DOWN;
	x.generation = 11; /* preferred, yet it waits */
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_ptr_null(o.reason);
	/* The peer is down to slave: nobody is master, we are preferred. */
	x.peer_role = FSM_SLAVE;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

START_TEST(slave_handover_accepted_despite_backoff)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_role = FSM_STEPPING_DOWN;
	x.vote_retry_ok = false;
	o = step(&f, &x, FSM_EV_HANDOVER);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	ck_assert_int_eq(o.result, 0);
	ck_assert(f.vote_pending);
	/* A second copy of the message changes nothing. */
	o = step(&f, &x, FSM_EV_HANDOVER);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
	ck_assert_int_eq(o.result, 0);
}
END_TEST

START_TEST(slave_handover_refused)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.data_usable = false;
	o = step(&f, &x, FSM_EV_HANDOVER);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason, "handover refused: local data not usable");
	x = base(FSM_Q_ARBITER);
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_HANDOVER);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason, "handover refused: no quorum");
	/* A master is no handover target. */
	f = in_role(FSM_MASTER);
	x = master_facts(FSM_Q_ARBITER);
	o = step(&f, &x, FSM_EV_HANDOVER);
	ASSERT_OUT(o, FSM_MASTER, 0);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason, "handover refused: not slave");
}
END_TEST

START_TEST(slave_switchover_refused)
{
	static const enum fsm_role roles[] = {FSM_STARTUP, FSM_SLAVE,
					      FSM_ISOLATED, FSM_TAKING_OVER};

	for (size_t i = 0; i < 4; i++)
		for (int ev = FSM_EV_GROUP_MUST_MOVE; ev <= FSM_EV_SWITCHOVER;
		     ev++) {
			struct fsm f = in_role(roles[i]);
			struct fsm_facts x = base(FSM_Q_ARBITER);
			struct fsm_out o;

			x.peer_role = FSM_MASTER;
			x.peer_alive = roles[i] != FSM_ISOLATED;
			x.quorum_ok = roles[i] != FSM_ISOLATED;
			o = step(&f, &x, ev);
			ck_assert_int_eq(o.result, -EAGAIN);
			ck_assert_int_eq(o.actions, 0);
			ck_assert_ptr_nonnull(o.reason);
			if (roles[i] != FSM_TAKING_OVER)
				ck_assert_str_eq(o.reason, "not master");
		}
}
END_TEST

START_TEST(slave_late_grant_released)
{
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_role = FSM_MASTER;
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason, "late vote grant released");
	o = step(&f, &x, FSM_EV_VOTE_DENIED);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_ptr_null(o.reason);
}
END_TEST

/* ---- TAKING_OVER ---- */

START_TEST(taking_over_granted_starts)
{
	struct fsm f = in_role(FSM_TAKING_OVER);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.lease_valid = true;
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	/* Arbiter mode: the epoch came with the grant. */
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_START_GROUP);
	ck_assert_str_eq(o.reason, "vote granted: starting the group");

	f = in_role(FSM_TAKING_OVER);
	x = base(FSM_Q_PING);
	x.peer_alive = false;
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_RAISE_EPOCH | FSM_A_START_GROUP);
	/* A duplicate grant is no second start. */
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
}
END_TEST

START_TEST(taking_over_grant_without_lease_released)
{
	struct fsm f = in_role(FSM_TAKING_OVER);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.lease_valid = false; /* the answer came too late */
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason, "vote granted but the lease already ends");
}
END_TEST

START_TEST(taking_over_denied)
{
	struct fsm f = in_role(FSM_TAKING_OVER);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	o = step(&f, &x, FSM_EV_VOTE_DENIED);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "vote denied");
	ck_assert(!f.vote_pending);
	/* No answer and no peer: isolated (quorum lost goes first). */
	f = in_role(FSM_TAKING_OVER);
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_VOTE_DENIED);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	ck_assert(!f.vote_pending);
}
END_TEST

START_TEST(taking_over_backs_off_without_quorum_or_data)
{
	struct fsm f = in_role(FSM_TAKING_OVER);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	ck_assert_str_eq(o.reason, "lost quorum before the vote was granted");
	/* The grant then turns up: give it back. */
	x.quorum_ok = true;
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_ISOLATED, FSM_A_RELEASE_LEASE);

	f = in_role(FSM_TAKING_OVER);
	x = base(FSM_Q_ARBITER);
	x.data_usable = false;
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason,
			 "local data no longer usable: vote abandoned");
}
END_TEST

START_TEST(taking_over_start_failed_releases_after_stop)
{
	struct fsm f = starting();
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_GROUP_START_FAILED);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
	ck_assert_str_eq(o.reason, "group start failed");
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, 0);
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason, "group stopped");
}
END_TEST

START_TEST(taking_over_group_events_before_grant_ignored)
{
	static const enum fsm_event evs[] = {
		FSM_EV_GROUP_STARTED, FSM_EV_GROUP_START_FAILED,
		FSM_EV_GROUP_STOPPED, FSM_EV_GROUP_STOP_FAILED,
		FSM_EV_LEASE_LOST};

	for (size_t i = 0; i < 5; i++) {
		struct fsm f = in_role(FSM_TAKING_OVER);
		struct fsm_facts x = base(FSM_Q_ARBITER);
		struct fsm_out o = step(&f, &x, evs[i]);

		ASSERT_OUT(o, FSM_TAKING_OVER, 0);
		ck_assert(f.vote_pending && !f.starting);
		ck_assert_ptr_null(o.reason);
	}
}
END_TEST

START_TEST(taking_over_lease_lost_while_starting)
{
	struct fsm f = starting();
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_LEASE_LOST);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_CANCEL_START | A_URGENT);
	ck_assert_str_eq(o.reason, "lease lost while starting");
	ck_assert(!f.starting);
}
END_TEST

START_TEST(taking_over_quorum_lost_while_starting)
{
	struct fsm f = starting();
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	/* The slave's acks carry a master whose arbiter is away. */
	x.lease_valid = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
	x.peer_alive = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_CANCEL_START | A_URGENT);
	ck_assert_str_eq(o.reason, "lost quorum: lease ending and peer silent");
	/* Ping mode; a start that ends as quorum goes needs no cancel. */
	f = starting();
	x = base(FSM_Q_PING);
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_GROUP_STARTED);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason, "lost quorum: no ping target answers");
}
END_TEST

START_TEST(taking_over_peer_master_before_start)
{
	for (int rel = -1; rel <= 1; rel++) {
		struct fsm f = in_role(FSM_TAKING_OVER);
		struct fsm_facts x = base(FSM_Q_PING);
		struct fsm_out o;

		x.peer_role = FSM_MASTER;
		x.peer_epoch = x.epoch + rel;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		ck_assert_str_eq(o.reason, "peer is master: vote abandoned");
		ck_assert(!f.vote_pending);

		f = in_role(FSM_TAKING_OVER);
		o = step(&f, &x, FSM_EV_VOTE_GRANTED);
		ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	}
}
END_TEST

START_TEST(taking_over_peer_master_while_starting)
{
	struct fsm f = starting();
	struct fsm_facts x = base(FSM_Q_PING);
	struct fsm_out o;

	/* Older master: it will see our epoch and step down. */
	x.peer_role = FSM_MASTER;
	x.peer_epoch = x.epoch - 1;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
	x.peer_epoch = x.epoch;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_CANCEL_START | A_URGENT);
	ck_assert_str_eq(o.reason,
			 "peer is master with an epoch not older than ours");
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
}
END_TEST

START_TEST(taking_over_both_policy_decides)
{
	struct fsm f;
	struct fsm_facts x;
	struct fsm_out o;

	/* generation 3 x grant 3 x id 2 */
	for (int c = 0; c < 18; c++) {
		struct fsm a = in_role(FSM_TAKING_OVER);
		struct fsm b = in_role(FSM_TAKING_OVER);
		struct fsm_facts xa = base(FSM_Q_ARBITER), xb;
		struct fsm_out oa, ob;

		xa.peer_role = FSM_TAKING_OVER;
		xa.peer_generation = 9 + c % 3;
		xa.last_granted = c / 3 % 3;
		xa.self_lower_id = c / 9;
		xb = mirror(&xa, FSM_TAKING_OVER);
		oa = step(&a, &xa, FSM_EV_TICK);
		ob = step(&b, &xb, FSM_EV_TICK);
		ck_assert_int_eq((a.role == FSM_SLAVE) + (b.role == FSM_SLAVE),
				 1);
		ck_assert_int_eq(oa.actions | ob.actions, 0);
		ck_assert(fsm_split_brain_winner(&xa, NULL) ==
			  (a.role == FSM_TAKING_OVER));
	}

	/* Already starting: the loser goes on (the grant decided). */
	f = starting();
	x = master_facts(FSM_Q_ARBITER);
	x.peer_role = FSM_TAKING_OVER;
	x.peer_generation = 11;
	x.last_granted = FSM_G_UNKNOWN;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, 0);
	f = in_role(FSM_TAKING_OVER);
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason,
			 "peer is taking over too and wins on newer data");
}
END_TEST

/* ---- MASTER ---- */

START_TEST(master_steady)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct fsm f = in_role(FSM_MASTER);
		struct fsm_facts x = master_facts(mode);
		static const enum fsm_event quiet[] = {
			FSM_EV_TICK,
			FSM_EV_VOTE_GRANTED,
			FSM_EV_VOTE_DENIED,
			FSM_EV_GROUP_STARTED,
			FSM_EV_GROUP_STOPPED,
			FSM_EV_GROUP_START_FAILED,
			FSM_EV_GROUP_STOP_FAILED};

		for (size_t i = 0; i < 7; i++) {
			struct fsm_out o = step(&f, &x, quiet[i]);

			ASSERT_OUT(o, FSM_MASTER, 0);
			ck_assert_ptr_null(o.reason);
		}
		/* Lease gone but the slave still acks: stays (arbiter). */
		x.lease_valid = false;
		struct fsm_out o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_MASTER, 0);
	}
}
END_TEST

START_TEST(master_lease_lost_vip_first)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_LEASE_LOST);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason, "lease lost: stepping down before it ends");
	ck_assert(!f.handover && !f.split_loser);
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
}
END_TEST

START_TEST(master_quorum_lost)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	x.lease_valid = false;
	x.peer_acks_me = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason,
			 "lost quorum: lease ending and the peer does not ack");
	f = in_role(FSM_MASTER);
	x.peer_alive = false;
	x.peer_acks_me = true; /* stale: a silent peer acks nothing */
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason, "lost quorum: lease ending and peer silent");
	/* Without a peer or quorum the stopped node is isolated. */
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_ISOLATED, FSM_A_RELEASE_LEASE);

	f = in_role(FSM_MASTER);
	x = master_facts(FSM_Q_PING);
	x.quorum_ok = false; /* the lease means nothing in ping mode */
	o = step(&f, &x, FSM_EV_SWITCHOVER);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason, "lost quorum: no ping target answers");
}
END_TEST

START_TEST(master_split_brain_both_sides)
{
	struct fsm a = in_role(FSM_MASTER), b = in_role(FSM_MASTER);
	struct fsm_facts xa = base(FSM_Q_PING), xb;
	struct fsm_out oa, ob;

	/* a has newer data; b was granted last: last-granted decides. */
	xa.peer_role = FSM_MASTER;
	xa.generation = 12;
	xa.peer_generation = 11;
	xa.last_granted = FSM_G_PEER;
	xb = mirror(&xa, FSM_MASTER);
	oa = step(&a, &xa, FSM_EV_TICK);
	ob = step(&b, &xb, FSM_EV_TICK);
	ASSERT_OUT(oa, FSM_STEPPING_DOWN, A_URGENT | FSM_A_SPLIT_BRAIN);
	ck_assert(a.split_loser);
	ck_assert_str_eq(oa.reason, "split brain: peer wins on last granted");
	ASSERT_OUT(ob, FSM_MASTER,
		   FSM_A_REANNOUNCE | FSM_A_RAISE_EPOCH | FSM_A_SPLIT_BRAIN);
	ck_assert_str_eq(ob.reason,
			 "split brain: this node wins on last granted");
	/* Once per encounter: the winner stays quiet while it lasts. */
	for (int i = 0; i < 3; i++) {
		ob = step(&b, &xb, FSM_EV_TICK);
		ASSERT_OUT(ob, FSM_MASTER, 0);
		ck_assert_ptr_null(ob.reason);
	}
	ob = step(&b, &xb, FSM_EV_SWITCHOVER);
	ck_assert_int_eq(ob.result, -EAGAIN);
	ck_assert_str_eq(ob.reason, "switchover refused: peer is not slave");
	/* The loser stops, gives up the lease and resyncs. */
	oa = step(&a, &xa, FSM_EV_TICK);
	ASSERT_OUT(oa, FSM_STEPPING_DOWN, 0);
	oa = step(&a, &xa, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(oa, FSM_SLAVE, FSM_A_RELEASE_LEASE | FSM_A_RESYNC);
	ck_assert_str_eq(
		oa.reason,
		"group stopped: resyncing from the split-brain winner");
	ck_assert(!a.split_loser);
	/* Stepping down is the same encounter; a slave peer ends it, and
	 * a new encounter reports again. */
	xb.peer_role = FSM_STEPPING_DOWN;
	ob = step(&b, &xb, FSM_EV_TICK);
	ASSERT_OUT(ob, FSM_MASTER, 0);
	ck_assert(b.split_reported);
	xb.peer_role = FSM_SLAVE;
	ob = step(&b, &xb, FSM_EV_TICK);
	ASSERT_OUT(ob, FSM_MASTER, 0);
	ck_assert(!b.split_reported);
	xb.peer_role = FSM_MASTER;
	ob = step(&b, &xb, FSM_EV_TICK);
	ASSERT_OUT(ob, FSM_MASTER,
		   FSM_A_REANNOUNCE | FSM_A_RAISE_EPOCH | FSM_A_SPLIT_BRAIN);
}
END_TEST

START_TEST(master_split_brain_winner_without_quorum)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = base(FSM_Q_PING);
	struct fsm_out o;

	x.peer_role = FSM_MASTER;
	x.quorum_ok = false;
	ck_assert(fsm_split_brain_winner(&x, NULL));
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT | FSM_A_SPLIT_BRAIN);
	ck_assert(!f.split_loser); /* its data is the winner's */
}
END_TEST

START_TEST(master_peer_higher_epoch)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_role = FSM_TAKING_OVER;
	x.peer_epoch = x.epoch;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_MASTER, 0);
	x.peer_epoch = x.epoch + 1;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason, "peer has a higher epoch");
}
END_TEST

START_TEST(master_switchover_accepted)
{
	for (int ev = FSM_EV_GROUP_MUST_MOVE; ev <= FSM_EV_SWITCHOVER; ev++) {
		struct fsm f = in_role(FSM_MASTER);
		struct fsm_facts x = master_facts(FSM_Q_ARBITER);
		struct fsm_out o;

		o = step(&f, &x, ev);
		/* Orderly: no VIP_FIRST. */
		ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
		ck_assert_int_eq(o.result, 0);
		ck_assert(f.handover);
		ck_assert_str_eq(o.reason,
				 ev == FSM_EV_SWITCHOVER
					 ? "switchover: handing over to the "
					   "peer"
					 : "group must move: handing over to "
					   "the peer");
		o = step(&f, &x, FSM_EV_SWITCHOVER);
		ck_assert_int_eq(o.result, -EAGAIN);
		ck_assert_str_eq(o.reason, "already stepping down");
		o = step(&f, &x, FSM_EV_GROUP_STOPPED);
		ASSERT_OUT(o, FSM_SLAVE,
			   FSM_A_RELEASE_LEASE | FSM_A_SEND_HANDOVER);
		ck_assert_str_eq(o.reason,
				 "group stopped: handing over to the peer");
		ck_assert(!f.handover);
	}
}
END_TEST

START_TEST(master_switchover_peer_gone_meanwhile)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_SWITCHOVER);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
	x.peer_alive = false;
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason,
			 "group stopped; the peer to hand over to is gone");
}
END_TEST

START_TEST(master_switchover_refused)
{
	static const char *const why[2][4] = {
		{"switchover refused: peer not alive",
		 "switchover refused: peer is not slave",
		 "switchover refused: peer data not usable",
		 "switchover refused: peer has no quorum"},
		{"cannot move: peer not alive",
		 "cannot move: peer is not slave",
		 "cannot move: peer data not usable",
		 "cannot move: peer has no quorum"},
	};

	for (int m = 0; m < 2; m++)
		for (int missing = 0; missing < 4; missing++) {
			struct fsm f = in_role(FSM_MASTER);
			struct fsm_facts x = master_facts(FSM_Q_ARBITER);
			struct fsm_out o;

			if (missing == 0) {
				x.peer_alive = false;
				x.peer_acks_me = false;
			}
			if (missing == 1)
				x.peer_role = FSM_STARTUP;
			if (missing == 2)
				x.peer_data_usable = false;
			if (missing == 3)
				x.peer_quorum_ok = false;
			o = step(&f, &x,
				 m ? FSM_EV_GROUP_MUST_MOVE
				   : FSM_EV_SWITCHOVER);
			ASSERT_OUT(o, FSM_MASTER, 0);
			ck_assert_int_eq(o.result, -EAGAIN);
			ck_assert_str_eq(o.reason, why[m][missing]);
			ck_assert(!f.handover);
		}
}
END_TEST

/* ---- STEPPING_DOWN ---- */

START_TEST(stop_failure_never_releases)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_LEASE_LOST);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	for (int i = 0; i < 5; i++) {
		o = step(&f, &x, FSM_EV_GROUP_STOP_FAILED);
		ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
		ck_assert(f.stop_failed);
		ck_assert_str_eq(o.reason, "group stop failed: retrying");
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_STEPPING_DOWN, 0);
		/* Quorum and peer gone meanwhile: still no release. */
		x.quorum_ok = i & 1;
		x.peer_alive = i & 1;
	}
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_ISOLATED, FSM_A_RELEASE_LEASE);
	ck_assert(!f.stop_failed);
}
END_TEST

START_TEST(stepping_down_lease_lost_vip_first)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	o = step(&f, &x, FSM_EV_SWITCHOVER);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
	o = step(&f, &x, FSM_EV_LEASE_LOST);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_str_eq(o.reason, "lease lost while stopping: VIP first");
	ck_assert(f.handover); /* the peer still gets its handover */
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE | FSM_A_SEND_HANDOVER);
}
END_TEST

START_TEST(stepping_down_ignores_the_rest)
{
	static const enum fsm_event evs[] = {
		FSM_EV_TICK, FSM_EV_VOTE_GRANTED, FSM_EV_VOTE_DENIED,
		FSM_EV_GROUP_STARTED, FSM_EV_GROUP_START_FAILED};
	struct fsm f = in_role(FSM_STEPPING_DOWN);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);

	x.peer_role = FSM_MASTER;
	x.peer_epoch = 9;
	for (size_t i = 0; i < 5; i++) {
		struct fsm_out o = step(&f, &x, evs[i]);

		ASSERT_OUT(o, FSM_STEPPING_DOWN, 0);
		ck_assert_ptr_null(o.reason);
	}
}
END_TEST

/* ---- ISOLATED ---- */

START_TEST(isolated_recovery)
{
	struct fsm f = in_role(FSM_ISOLATED);
	struct fsm_facts x = base(FSM_Q_ARBITER);
	struct fsm_out o;

	x.peer_alive = false;
	x.quorum_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_ISOLATED, 0);
	ck_assert_ptr_null(o.reason);
	/* Quorum back, peer still silent: ask. */
	x.quorum_ok = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	/* In the backoff: a slave that waits. */
	f = in_role(FSM_ISOLATED);
	x.vote_retry_ok = false;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "quorum is back; vote backoff");
	/* The peer is back as master: follow it, even without quorum. */
	f = in_role(FSM_ISOLATED);
	x.quorum_ok = false;
	x.peer_alive = true;
	x.peer_role = FSM_MASTER;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "peer is master");
	/* The peer back and nobody master: decide as a slave. */
	f = in_role(FSM_ISOLATED);
	x = base(FSM_Q_ARBITER);
	x.peer_data_usable = false;
	x.vote_retry_ok = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
}
END_TEST

START_TEST(broken_memory_stops_the_group)
{
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm_out o;

	f.role = (enum fsm_role)42;
	o = fsm_step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	ck_assert_int_eq(f.role, FSM_STEPPING_DOWN);
	ck_assert_ptr_nonnull(o.reason);
	/* Unknown events and peer roles are ticks and busy peers. */
	f = in_role(FSM_SLAVE);
	x = base(FSM_Q_ARBITER);
	x.peer_role = (enum fsm_role)17;
	o = step(&f, &x, (enum fsm_event)99);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	f = in_role(FSM_STARTUP);
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason, "peer role unknown");
}
END_TEST

/* ---- split-brain policy ---- */

START_TEST(split_brain_policy)
{
	struct fsm_facts x = base(FSM_Q_ARBITER);
	const char *why = NULL;

	/* Default order: last granted, newer data, lower id. */
	x.last_granted = FSM_G_PEER;
	x.generation = 12;
	ck_assert(!fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "last-granted");
	x.last_granted = FSM_G_UNKNOWN;
	ck_assert(fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "newer-data");
	x.generation = x.peer_generation;
	x.self_lower_id = false;
	ck_assert(!fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "lower-id");

	/* Newer data first. */
	x.policy[0] = FSM_C_NEWER_DATA;
	x.policy[1] = FSM_C_LAST_GRANTED;
	x.last_granted = FSM_G_SELF;
	x.peer_generation = 11;
	ck_assert(!fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "newer-data");
	x.peer_generation = x.generation;
	ck_assert(fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "last-granted");

	/* A policy that cannot decide still names one winner. */
	x.policy[0] = FSM_C_LAST_GRANTED;
	x.policy[1] = FSM_C_NONE;
	x.policy[2] = FSM_C_NEWER_DATA; /* after NONE: not read */
	x.last_granted = FSM_G_UNKNOWN;
	x.peer_generation = 1;
	x.self_lower_id = true;
	ck_assert(fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "lower-id");
	/* Lower id alone; junk values are skipped. */
	x.policy[0] = (enum fsm_criterion)77;
	x.policy[1] = FSM_C_LOWER_ID;
	x.policy[2] = FSM_C_NEWER_DATA;
	ck_assert(fsm_split_brain_winner(&x, &why));
	ck_assert_str_eq(why, "lower-id");
	ck_assert(fsm_split_brain_winner(&x, NULL));
}
END_TEST

/* Every policy of up to four criteria, every grant and data relation:
 * mirrored facts give exactly one winner, for the same reason. */
START_TEST(split_brain_mirrored_exactly_one)
{
	int by[FSM_C_LOWER_ID + 1] = {0};

	/* policy 4^4 x grant 3 x generation 3 x id 2 */
	for (int c = 0; c < 256 * 18; c++) {
		struct fsm_facts x = base(FSM_Q_PING), m;
		const char *wa, *wb;
		bool win;

		for (int i = 0; i < 4; i++)
			x.policy[i] = (c >> (2 * i)) & 3;
		x.last_granted = c / 256 % 3;
		x.peer_generation = 9 + c / 768 % 3;
		x.self_lower_id = c / 2304;
		x.peer_role = FSM_MASTER;
		m = mirror(&x, FSM_MASTER);
		win = fsm_split_brain_winner(&x, &wa);
		ck_assert(win != fsm_split_brain_winner(&m, &wb));
		ck_assert_str_eq(wa, wb);
		by[fsm_criterion_parse(wa)]++;
	}
	/* Every criterion decided somewhere; "none" never does. */
	ck_assert_int_eq(by[FSM_C_NONE], 0);
	for (int i = FSM_C_LAST_GRANTED; i <= FSM_C_LOWER_ID; i++)
		ck_assert_int_gt(by[i], 0);
}
END_TEST

/* S5 at the step level: two masters meet, with every quorum, epoch, data
 * and grant relation; exactly one loses, and when both hold quorum
 * exactly one stays master. */
START_TEST(split_brain_steps_mirrored)
{
	int both_held = 0;

	/* mode 2 x bits 64 x generation 3 x epoch 3 x grant 3 x policy 4 */
	for (int c = 0; c < 2 * 64 * 3 * 3 * 3 * 4; c++) {
		int bits = c / 2 % 64;
		struct fsm a = in_role(FSM_MASTER), b = in_role(FSM_MASTER);
		struct fsm_facts xa = base(c % 2), xb;
		struct fsm_out oa, ob;

		xa.peer_role = FSM_MASTER;
		xa.quorum_ok = bits & 1;
		xa.peer_quorum_ok = bits & 2;
		xa.self_lower_id = bits & 4;
		xa.lease_valid = bits & 8;
		xa.data_usable = bits & 16;
		xa.peer_data_usable = bits & 32;
		xa.peer_generation = 9 + c / 128 % 3;
		xa.peer_epoch = 4 + c / 384 % 3;
		xa.last_granted = c / 1152 % 3;
		/* NONE = the default, or one criterion before it */
		xa.policy[0] = c / 3456 % 4;
		xb = mirror(&xa, FSM_MASTER);
		xb.lease_valid = !xa.lease_valid; /* one lease at most */
		oa = step(&a, &xa, FSM_EV_TICK);
		ob = step(&b, &xb, FSM_EV_TICK);
		ck_assert_int_eq(a.split_loser + b.split_loser, 1);
		ck_assert(oa.actions & ob.actions & FSM_A_SPLIT_BRAIN);
		if (t_held(&xa) && t_held(&xb)) {
			ck_assert_int_eq((a.role == FSM_MASTER) +
						 (b.role == FSM_MASTER),
					 1);
			both_held++;
		}
	}
	ck_assert_int_gt(both_held, 0);
}
END_TEST

/* ---- exhaustive sweep ---- */

/* Every reachable memory of every role. */
static int memories(struct fsm *out)
{
	int n = 0;

	out[n++] = in_role(FSM_STARTUP);
	out[n++] = in_role(FSM_SLAVE);
	out[n++] = in_role(FSM_ISOLATED);
	out[n++] = in_role(FSM_TAKING_OVER);
	out[n++] = starting();
	out[n++] = in_role(FSM_MASTER);
	out[n] = in_role(FSM_MASTER);
	out[n++].split_reported = true;
	/* A stop for a handover or a lost split brain, each of which may
	 * have failed once; never both (entering clears the memory). */
	for (int m = 0; m < 6; m++) {
		out[n] = in_role(FSM_STEPPING_DOWN);
		out[n].handover = m % 3 == 1;
		out[n].split_loser = m % 3 == 2;
		out[n].stop_failed = m / 3;
		n++;
	}
	return n;
}

/* ---- HA stopped by the operator (S7) ---- */

START_TEST(stopped_master_steps_down_without_handover)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct fsm_facts x = master_facts(mode);
		struct fsm f = in_role(FSM_MASTER);
		struct fsm_out o;

		x.admin_stopped = true;
		/* The peer is a ready slave: still no handover. */
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
		ck_assert_str_eq(o.reason, "HA stopped by the operator: "
					   "stopping the group");
		ck_assert(!f.handover);
		o = step(&f, &x, FSM_EV_GROUP_STOPPED);
		ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
		ck_assert_str_eq(o.reason,
				 "group stopped: HA stopped by the operator");
		/* And it stays there, whatever time brings. */
		x.lease_valid = false;
		x.peer_role = FSM_SLAVE;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		ck_assert_ptr_null(o.reason);
	}
}
END_TEST

START_TEST(stopped_slave_never_takes_over)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct fsm_facts x = base(mode);
		struct fsm f;
		struct fsm_out o;

		x.admin_stopped = true;
		/* A fresh start alone with quorum and data: no vote. */
		fsm_init(&f);
		x.peer_alive = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		ck_assert_str_eq(o.reason, "HA stopped by the operator");
		for (int i = 0; i < 5; i++) {
			o = step(&f, &x, FSM_EV_TICK);
			ASSERT_OUT(o, FSM_SLAVE, 0);
		}
		/* Neither peer nor quorum: isolated, still no vote. */
		x.quorum_ok = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_ISOLATED, 0);
		x.quorum_ok = true;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_SLAVE, 0);
		/* A grant that comes anyway is given back. */
		o = step(&f, &x, FSM_EV_VOTE_GRANTED);
		ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
		/* Started again: the same facts take over. */
		x.admin_stopped = false;
		o = step(&f, &x, FSM_EV_TICK);
		ASSERT_OUT(o, FSM_TAKING_OVER, FSM_A_REQUEST_VOTE);
	}
}
END_TEST

START_TEST(stopped_requests_refused)
{
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm f = in_role(FSM_SLAVE);
	struct fsm_out o;

	x.admin_stopped = true;
	x.peer_role = FSM_SLAVE;
	o = step(&f, &x, FSM_EV_HANDOVER);
	ck_assert_int_eq(o.result, -EAGAIN);
	ASSERT_OUT(o, FSM_SLAVE, 0);
	ck_assert_str_eq(o.reason,
			 "handover refused: HA stopped by the operator");
	f = in_role(FSM_STEPPING_DOWN);
	o = step(&f, &x, FSM_EV_SWITCHOVER);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason,
			 "switchover refused: HA stopped by the operator");
	o = step(&f, &x, FSM_EV_GROUP_MUST_MOVE);
	ck_assert_int_eq(o.result, -EAGAIN);
	ck_assert_str_eq(o.reason, "cannot move: HA stopped by the operator");
	/* A master asked to switch over steps down, but hands nothing over. */
	f = in_role(FSM_MASTER);
	o = step(&f, &x, FSM_EV_SWITCHOVER);
	ck_assert_int_eq(o.result, -EAGAIN);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP);
	ck_assert(!f.handover);
}
END_TEST

START_TEST(stopped_start_abandoned)
{
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm f = starting();
	struct fsm_out o;

	x.admin_stopped = true;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, FSM_A_STOP_GROUP | FSM_A_CANCEL_START);
	/* Without the lease: VIP first (S3). */
	f = starting();
	x.lease_valid = false;
	x.peer_acks_me = false;
	o = step(&f, &x, FSM_EV_GROUP_STARTED);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT);
	/* A vote in flight is abandoned, a late grant released. */
	f = in_role(FSM_TAKING_OVER);
	o = step(&f, &x, FSM_EV_VOTE_GRANTED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE);
	ck_assert_str_eq(o.reason, "HA stopped by the operator: vote "
				   "abandoned");
}
END_TEST

START_TEST(stopped_split_loser_still_resyncs)
{
	struct fsm_facts x = master_facts(FSM_Q_ARBITER);
	struct fsm f = in_role(FSM_MASTER);
	struct fsm_out o;

	x.admin_stopped = true;
	x.peer_role = FSM_MASTER;
	x.last_granted = FSM_G_PEER;
	o = step(&f, &x, FSM_EV_TICK);
	ASSERT_OUT(o, FSM_STEPPING_DOWN, A_URGENT | FSM_A_SPLIT_BRAIN);
	ck_assert(f.split_loser);
	o = step(&f, &x, FSM_EV_GROUP_STOPPED);
	ASSERT_OUT(o, FSM_SLAVE, FSM_A_RELEASE_LEASE | FSM_A_RESYNC);
}
END_TEST

/* memory x event x (10 booleans, 6 peer roles, epoch and generation
 * lower/equal/higher, 3 grant histories) for one mode: 25 million steps.
 * Ping mode ignores the lease and the peer's acks: they are held true
 * there, the values that would keep a master wrongly (the ping-mode
 * simulations run without any lease).  Invalid peer roles are left to
 * the random walk. */
static long sweep(enum fsm_quorum_mode mode, bool stopped)
{
	struct fsm mem[13];
	int nm = memories(mem);
	long n = 0;

	for (int bits = 0; bits < 1024; bits++) {
		struct fsm_facts x = base(mode);

		x.admin_stopped = stopped;

		if (mode == FSM_Q_PING && (bits & (32 | 128)) != (32 | 128))
			continue;

		x.self_lower_id = bits & 1;
		x.data_usable = bits & 2;
		x.peer_alive = bits & 4;
		x.peer_data_usable = bits & 8;
		x.peer_quorum_ok = bits & 16;
		x.peer_acks_me = bits & 32;
		x.quorum_ok = bits & 64;
		x.lease_valid = bits & 128;
		x.startup_wait_over = bits & 256;
		x.vote_retry_ok = bits & 512;
		for (int pr = 0; pr < FSM_N_ROLES; pr++)
			for (int ep = 0; ep < 3; ep++)
				for (int gen = 0; gen < 3; gen++)
					for (int lg = 0; lg < 3; lg++) {
						x.peer_role = pr;
						x.peer_epoch = 4 + ep;
						x.peer_generation = 9 + gen;
						x.last_granted = lg;
						for (int i = 0; i < nm; i++)
							for (int ev = 0;
							     ev < FSM_N_EVENTS;
							     ev++) {
								struct fsm f =
									mem[i];

								step(&f, &x,
								     ev);
								n++;
							}
					}
	}
	return n;
}

START_TEST(sweep_arbiter)
{
	ck_assert_int_eq(sweep(FSM_Q_ARBITER, false), 1024L * 6 * 27 * 13 * 11);
}
END_TEST

/* The same sweep with HA stopped by the operator (S7 on top of all). */
START_TEST(sweep_stopped_arbiter)
{
	ck_assert_int_eq(sweep(FSM_Q_ARBITER, true), 1024L * 6 * 27 * 13 * 11);
}
END_TEST

START_TEST(sweep_stopped_ping)
{
	ck_assert_int_eq(sweep(FSM_Q_PING, true), 256L * 6 * 27 * 13 * 11);
}
END_TEST

START_TEST(sweep_ping)
{
	ck_assert_int_eq(sweep(FSM_Q_PING, false), 256L * 6 * 27 * 13 * 11);
}
END_TEST

/* ---- random walk ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Facts drift at random; the events are mostly what an owner would feed
 * back for the last actions, sometimes anything at all. */
START_TEST(random_walk)
{
	struct fsm f;
	struct fsm_facts x = base(FSM_Q_ARBITER);
	enum fsm_event next = FSM_EV_TICK;
	int seen[FSM_N_ROLES] = {0};
	int masters = 0, splits = 0, handovers = 0;
	enum fsm_role old;

	rng = 0x9e3779b97f4a7c15ull;
	fsm_init(&f);
	for (long i = 0; i < 100000; i++) {
		enum fsm_event ev = next;
		struct fsm_out o;
		bool *flags[] = {
			&x.self_lower_id,     &x.data_usable,
			&x.peer_alive,	      &x.peer_data_usable,
			&x.peer_quorum_ok,    &x.peer_acks_me,
			&x.quorum_ok,	      &x.lease_valid,
			&x.startup_wait_over, &x.vote_retry_ok,
		};

		if (rnd(2000) == 0) {
			/* The owner restarts: memory and pending answers go. */
			fsm_init(&f);
			ev = FSM_EV_TICK;
		}
		if (rnd(4) == 0)
			ev = rnd(FSM_N_EVENTS + 1); /* one unknown event */
		for (uint32_t k = rnd(3); k > 0; k--)
			*flags[rnd(10)] ^= 1;
		if (rnd(4) == 0) /* sometimes one the wire should not carry */
			x.peer_role = rnd(FSM_N_ROLES + 1);
		if (rnd(8) == 0)
			x.peer_epoch = x.epoch + rnd(3) - 1;
		if (rnd(8) == 0)
			x.peer_generation = x.generation + rnd(3) - 1;
		if (rnd(16) == 0)
			x.last_granted = rnd(3);
		if (rnd(500) == 0)
			x.mode = rnd(2);
		if (rnd(200) == 0)
			for (int p = 0; p < FSM_MAX_CRITERIA; p++)
				x.policy[p] = rnd(4);

		old = f.role;
		o = step(&f, &x, ev);
		seen[f.role]++;
		seen[old]++;
		masters += old != FSM_MASTER && f.role == FSM_MASTER;
		splits += f.split_loser;
		handovers += !!(o.actions & FSM_A_SEND_HANDOVER);

		/* The owner's part: epochs and the answer to each action. */
		if (o.actions & FSM_A_RAISE_EPOCH)
			x.epoch = (x.epoch > x.peer_epoch ? x.epoch
							  : x.peer_epoch) +
				  1;
		next = FSM_EV_TICK;
		if (o.actions & FSM_A_REQUEST_VOTE)
			next = rnd(3) ? FSM_EV_VOTE_GRANTED
				      : FSM_EV_VOTE_DENIED;
		else if (o.actions & FSM_A_START_GROUP)
			next = rnd(5) ? FSM_EV_GROUP_STARTED
				      : FSM_EV_GROUP_START_FAILED;
		else if (o.actions & FSM_A_STOP_GROUP)
			next = rnd(5) ? FSM_EV_GROUP_STOPPED
				      : FSM_EV_GROUP_STOP_FAILED;
		else if (f.role == FSM_MASTER && rnd(20) == 0)
			next = rnd(2) ? FSM_EV_SWITCHOVER : FSM_EV_LEASE_LOST;
		else if (f.role == FSM_SLAVE && rnd(50) == 0)
			next = FSM_EV_HANDOVER;
		if (next == FSM_EV_VOTE_GRANTED && x.mode == FSM_Q_ARBITER)
			x.lease_valid = true;
	}
	/* The walk went everywhere worth going. */
	for (int r = 0; r < FSM_N_ROLES; r++)
		ck_assert_int_gt(seen[r], 100);
	ck_assert_int_gt(masters, 100);
	ck_assert_int_gt(splits, 0);
	ck_assert_int_gt(handovers, 0);
}
END_TEST

/* ---- two nodes and an arbiter ---- */

struct node {
	struct fsm f;
	struct fsm_facts x;
	enum fsm_event q[8];
	int nq;
	bool up;
	bool reach_arbiter; /* arbiter or ping targets */
	int backoff;	    /* ticks until vote_retry_ok */
	int reports, resyncs, reannounces;
};

struct sim {
	struct node n[2];
	enum fsm_quorum_mode mode;
	bool link;	      /* heartbeats pass */
	int holder;	      /* arbiter: who holds the lease, -1 nobody */
	int last;	      /* arbiter: who was granted last, -1 nobody */
	uint64_t epoch;	      /* arbiter: last epoch granted */
	uint64_t gen;	      /* arbiter: the last master's data generation */
	int handover_backoff; /* owner: ticks without a vote after a handover */
};

static void sim_init(struct sim *s, enum fsm_quorum_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->link = true;
	s->holder = -1;
	s->last = -1;
	s->epoch = 1;
	s->handover_backoff = 3;
	for (int i = 0; i < 2; i++) {
		struct node *n = &s->n[i];

		fsm_init(&n->f);
		n->x = base(mode);
		n->x.self_lower_id = i == 0;
		n->x.epoch = 1;
		n->up = true;
		n->reach_arbiter = true;
	}
}

static void sim_push(struct node *n, enum fsm_event ev)
{
	ck_assert_int_lt(n->nq, 8);
	n->q[n->nq++] = ev;
}

/* What node i knows, as its owner would keep it current. */
static void sim_facts(struct sim *s, int i)
{
	struct node *n = &s->n[i], *p = &s->n[1 - i];
	struct fsm_facts *x = &n->x;

	x->peer_alive = s->link && p->up;
	x->peer_role = p->f.role;
	x->peer_epoch = p->x.epoch;
	x->peer_generation = p->x.generation;
	x->peer_data_usable = p->x.data_usable;
	x->peer_quorum_ok = p->x.quorum_ok;
	x->peer_acks_me = x->peer_alive && p->f.role == FSM_SLAVE &&
			  n->f.role == FSM_MASTER && p->x.epoch == x->epoch;
	x->quorum_ok = n->reach_arbiter;
	x->lease_valid =
		s->mode == FSM_Q_ARBITER && s->holder == i && n->reach_arbiter;
	x->last_granted = s->last < 0	 ? FSM_G_UNKNOWN
			  : s->last == i ? FSM_G_SELF
					 : FSM_G_PEER;
	x->vote_retry_ok = n->backoff == 0;
	/* A slave learns the master's epoch from its heartbeats. */
	if (x->peer_alive && p->f.role == FSM_MASTER &&
	    n->f.role == FSM_SLAVE && x->peer_epoch > x->epoch)
		x->epoch = x->peer_epoch;
}

static void sim_vote(struct sim *s, int i)
{
	struct node *n = &s->n[i];
	bool grant;

	if (s->mode == FSM_Q_PING) {
		grant = n->reach_arbiter;
	} else {
		/* One lease at a time; a lone node only with the newest
		 * data. */
		grant = n->reach_arbiter && (s->holder < 0 || s->holder == i) &&
			n->x.generation >= s->gen;
		if (grant) {
			s->holder = i;
			s->last = i;
			s->epoch++;
			if (s->epoch <= n->x.epoch)
				s->epoch = n->x.epoch + 1;
			n->x.epoch = s->epoch;
			s->gen = n->x.generation;
		}
	}
	if (!grant)
		n->backoff = 2;
	sim_push(n, grant ? FSM_EV_VOTE_GRANTED : FSM_EV_VOTE_DENIED);
}

static void sim_apply(struct sim *s, int i, unsigned a)
{
	struct node *n = &s->n[i], *p = &s->n[1 - i];

	if (a & FSM_A_STOP_GROUP)
		sim_push(n, FSM_EV_GROUP_STOPPED);
	if ((a & FSM_A_RELEASE_LEASE) && s->holder == i && n->reach_arbiter)
		s->holder = -1;
	if (a & FSM_A_SEND_HANDOVER) {
		/* The owner leaves the peer the first try. */
		n->backoff = s->handover_backoff;
		if (s->link && p->up)
			sim_push(p, FSM_EV_HANDOVER);
	}
	if (a & FSM_A_RESYNC) {
		n->x.generation = p->x.generation;
		n->resyncs++;
	}
	if (a & FSM_A_REQUEST_VOTE)
		sim_vote(s, i);
	if (a & FSM_A_RAISE_EPOCH)
		n->x.epoch =
			(n->x.epoch > p->x.epoch ? n->x.epoch : p->x.epoch) + 1;
	if (a & FSM_A_START_GROUP) {
		n->x.generation++; /* a new master writes */
		sim_push(n, FSM_EV_GROUP_STARTED);
	}
	if (a & FSM_A_REANNOUNCE)
		n->reannounces++;
	if (a & FSM_A_SPLIT_BRAIN)
		n->reports++;
}

static bool sim_active(const struct node *n)
{
	return n->up && (n->f.role == FSM_MASTER || t_starting(&n->f));
}

/* Runs rounds until nothing moves (settle) or for max rounds. */
static void sim_rounds(struct sim *s, int max, bool settle)
{
	int quiet = 0, r;

	for (r = 0; r < max && quiet < 4; r++) {
		bool moved = false;

		for (int i = 0; i < 2; i++) {
			struct node *n = &s->n[i];
			enum fsm_event ev = FSM_EV_TICK;
			enum fsm_role old = n->f.role;
			struct fsm_out o;

			if (!n->up)
				continue;
			sim_facts(s, i);
			if (n->nq) {
				ev = n->q[0];
				memmove(n->q, n->q + 1,
					--n->nq * sizeof(n->q[0]));
			} else if (n->backoff) {
				n->backoff--;
			}
			o = step(&n->f, &n->x, ev);
			sim_apply(s, i, o.actions);
			moved |= o.role != old || o.actions || n->nq;
			/* With the arbiter's one lease, never two nodes
			 * running or starting the group, link or not. */
			if (s->mode == FSM_Q_ARBITER)
				ck_assert(!(sim_active(&s->n[0]) &&
					    sim_active(&s->n[1])));
		}
		quiet = moved ? 0 : quiet + 1;
	}
	if (settle)
		ck_assert_int_lt(r, max);
}

static void sim_run(struct sim *s, int max)
{
	sim_rounds(s, max, true);
}

static int sim_master(const struct sim *s)
{
	int m = -1;

	for (int i = 0; i < 2; i++)
		if (s->n[i].up && s->n[i].f.role == FSM_MASTER) {
			ck_assert_int_eq(m, -1);
			m = i;
		}
	return m;
}

START_TEST(sim_startup_both)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct sim s;

		sim_init(&s, mode);
		sim_run(&s, 100);
		/* Equal data, no history: the lower id. */
		ck_assert_int_eq(sim_master(&s), 0);
		ck_assert_int_eq(s.n[1].f.role, FSM_SLAVE);

		sim_init(&s, mode);
		s.n[1].x.generation = 11;
		sim_run(&s, 100);
		ck_assert_int_eq(sim_master(&s), 1);
		ck_assert_int_eq(s.n[0].f.role, FSM_SLAVE);
	}
}
END_TEST

START_TEST(sim_failover_and_return)
{
	struct sim s;
	int m, o;

	sim_init(&s, FSM_Q_ARBITER);
	sim_run(&s, 100);
	m = sim_master(&s);
	o = 1 - m;
	/* The master's host dies; its lease runs out at the arbiter. */
	s.n[m].up = false;
	s.holder = -1;
	sim_run(&s, 100);
	ck_assert_int_eq(sim_master(&s), o);
	ck_assert_uint_gt(s.n[o].x.epoch, s.n[m].x.epoch);
	/* It comes back and joins as slave. */
	s.n[m].up = true;
	fsm_init(&s.n[m].f);
	s.n[m].nq = 0;
	sim_run(&s, 100);
	ck_assert_int_eq(sim_master(&s), o);
	ck_assert_int_eq(s.n[m].f.role, FSM_SLAVE);
	ck_assert_uint_eq(s.n[m].x.epoch, s.n[o].x.epoch);
}
END_TEST

START_TEST(sim_master_network_failure)
{
	struct sim s;
	int m, o;

	sim_init(&s, FSM_Q_ARBITER);
	sim_run(&s, 100);
	m = sim_master(&s);
	o = 1 - m;
	/* The master loses every network: it steps down VIP first, the
	 * arbiter frees the lease, the slave takes over. */
	s.link = false;
	s.n[m].reach_arbiter = false;
	sim_rounds(&s, 30, false);
	ck_assert_int_eq(s.n[m].f.role, FSM_ISOLATED);
	/* The old lease still runs: the arbiter keeps saying no. */
	ck_assert_int_eq(sim_master(&s), -1);
	ck_assert_int_eq(s.holder, m);
	s.holder = -1; /* it ran out */
	sim_run(&s, 100);
	ck_assert_int_eq(sim_master(&s), o);
	/* The network heals: one master, the other follows. */
	s.link = true;
	s.n[m].reach_arbiter = true;
	sim_run(&s, 100);
	ck_assert_int_eq(sim_master(&s), o);
	ck_assert_int_eq(s.n[m].f.role, FSM_SLAVE);
}
END_TEST

START_TEST(sim_switchover)
{
	for (int mode = FSM_Q_ARBITER; mode <= FSM_Q_PING; mode++) {
		struct sim s;
		struct fsm_out out;
		int m, o;

		sim_init(&s, mode);
		sim_run(&s, 100);
		m = sim_master(&s);
		o = 1 - m;
		sim_facts(&s, m);
		out = step(&s.n[m].f, &s.n[m].x, FSM_EV_SWITCHOVER);
		ck_assert_int_eq(out.result, 0);
		sim_apply(&s, m, out.actions);
		sim_run(&s, 100);
		ck_assert_int_eq(sim_master(&s), o);
		ck_assert_int_eq(s.n[m].f.role, FSM_SLAVE);
		/* And back. */
		sim_facts(&s, o);
		out = step(&s.n[o].f, &s.n[o].x, FSM_EV_SWITCHOVER);
		ck_assert_int_eq(out.result, 0);
		sim_apply(&s, o, out.actions);
		sim_run(&s, 100);
		ck_assert_int_eq(sim_master(&s), m);
	}
}
END_TEST

START_TEST(sim_split_brain_heals)
{
	struct sim s;
	int m, o;

	/* Ping mode: both reach the targets but not each other. */
	sim_init(&s, FSM_Q_PING);
	sim_run(&s, 100);
	m = sim_master(&s);
	o = 1 - m;
	s.link = false;
	sim_run(&s, 100);
	ck_assert_int_eq(s.n[0].f.role, FSM_MASTER);
	ck_assert_int_eq(s.n[1].f.role, FSM_MASTER);
	/* Both wrote; the old slave wrote more. */
	s.n[o].x.generation += 5;
	s.link = true;
	sim_run(&s, 100);
	/* Default policy: the last grant is unknown in ping mode, so newer
	 * data wins. */
	ck_assert_int_eq(sim_master(&s), o);
	ck_assert_int_eq(s.n[m].f.role, FSM_SLAVE);
	ck_assert_int_eq(s.n[o].reports, 1);
	ck_assert_int_eq(s.n[o].reannounces, 1);
	ck_assert_int_eq(s.n[m].reports, 1);
	ck_assert_int_eq(s.n[m].resyncs, 1);
	ck_assert_uint_eq(s.n[m].x.generation, s.n[o].x.generation);
	ck_assert_uint_eq(s.n[m].x.epoch, s.n[o].x.epoch);
}
END_TEST

START_TEST(sim_full_outage_stale_node_waits)
{
	struct sim s;
	int m, o;

	sim_init(&s, FSM_Q_ARBITER);
	sim_run(&s, 100);
	m = sim_master(&s);
	o = 1 - m;
	/* Both go down; only the old slave (older data) comes back. */
	s.n[m].x.generation = s.gen = 20;
	s.n[o].x.generation = 19;
	s.n[m].up = false;
	s.holder = -1;
	fsm_init(&s.n[o].f);
	s.n[o].nq = 0;
	sim_rounds(&s, 30, false);
	ck_assert_int_eq(sim_master(&s), -1);
	ck_assert_int_eq(s.holder, -1);
	/* The newest node returns and becomes master. */
	s.n[m].up = true;
	fsm_init(&s.n[m].f);
	s.n[m].nq = 0;
	s.n[o].backoff = 0;
	sim_run(&s, 100);
	ck_assert_int_eq(sim_master(&s), m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fsm");
	TCase *tc = tcase_create("fsm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, names);
	tcase_add_test(tc, init_is_startup);
	tcase_add_test(tc, startup_waits_for_the_peer);
	tcase_add_test(tc, startup_alone_requests_vote);
	tcase_add_test(tc, startup_alone_without_quorum_is_isolated);
	tcase_add_test(tc, startup_alone_data_unusable_waits);
	tcase_add_test(tc, startup_alone_backoff_waits);
	tcase_add_test(tc, startup_follows_master_or_taking_over);
	tcase_add_test(tc, startup_both_exactly_one_asks);
	tcase_add_test(tc, startup_both_preference_order);
	tcase_add_test(tc, startup_preferred_in_backoff_becomes_slave);
	tcase_add_test(tc, startup_peer_no_candidate);
	tcase_add_test(tc, startup_not_candidate_becomes_slave);
	tcase_add_test(tc, startup_both_at_once_wait_for_facts);
	tcase_add_test(tc, slave_stays_under_master);
	tcase_add_test(tc, slave_takeover_on_peer_loss);
	tcase_add_test(tc, slave_peer_loss_without_quorum_isolated);
	tcase_add_test(tc, slave_peer_loss_data_unusable_waits);
	tcase_add_test(tc, slave_waits_for_peer_stepping_down);
	tcase_add_test(tc, slave_handover_accepted_despite_backoff);
	tcase_add_test(tc, slave_handover_refused);
	tcase_add_test(tc, slave_switchover_refused);
	tcase_add_test(tc, slave_late_grant_released);
	tcase_add_test(tc, taking_over_granted_starts);
	tcase_add_test(tc, taking_over_grant_without_lease_released);
	tcase_add_test(tc, taking_over_denied);
	tcase_add_test(tc, taking_over_backs_off_without_quorum_or_data);
	tcase_add_test(tc, taking_over_start_failed_releases_after_stop);
	tcase_add_test(tc, taking_over_group_events_before_grant_ignored);
	tcase_add_test(tc, taking_over_lease_lost_while_starting);
	tcase_add_test(tc, taking_over_quorum_lost_while_starting);
	tcase_add_test(tc, taking_over_peer_master_before_start);
	tcase_add_test(tc, taking_over_peer_master_while_starting);
	tcase_add_test(tc, taking_over_both_policy_decides);
	tcase_add_test(tc, master_steady);
	tcase_add_test(tc, master_lease_lost_vip_first);
	tcase_add_test(tc, master_quorum_lost);
	tcase_add_test(tc, master_split_brain_both_sides);
	tcase_add_test(tc, master_split_brain_winner_without_quorum);
	tcase_add_test(tc, master_peer_higher_epoch);
	tcase_add_test(tc, master_switchover_accepted);
	tcase_add_test(tc, master_switchover_peer_gone_meanwhile);
	tcase_add_test(tc, master_switchover_refused);
	tcase_add_test(tc, stop_failure_never_releases);
	tcase_add_test(tc, stepping_down_lease_lost_vip_first);
	tcase_add_test(tc, stepping_down_ignores_the_rest);
	tcase_add_test(tc, isolated_recovery);
	tcase_add_test(tc, broken_memory_stops_the_group);
	tcase_add_test(tc, split_brain_policy);
	tcase_add_test(tc, split_brain_mirrored_exactly_one);
	tcase_add_test(tc, split_brain_steps_mirrored);
	tcase_add_test(tc, sweep_arbiter);
	tcase_add_test(tc, sweep_ping);
	tcase_add_test(tc, sweep_stopped_arbiter);
	tcase_add_test(tc, sweep_stopped_ping);
	tcase_add_test(tc, stopped_master_steps_down_without_handover);
	tcase_add_test(tc, stopped_slave_never_takes_over);
	tcase_add_test(tc, stopped_requests_refused);
	tcase_add_test(tc, stopped_start_abandoned);
	tcase_add_test(tc, stopped_split_loser_still_resyncs);
	tcase_add_test(tc, random_walk);
	tcase_add_test(tc, sim_startup_both);
	tcase_add_test(tc, sim_failover_and_return);
	tcase_add_test(tc, sim_master_network_failure);
	tcase_add_test(tc, sim_switchover);
	tcase_add_test(tc, sim_split_brain_heals);
	tcase_add_test(tc, sim_full_outage_stale_node_waits);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
