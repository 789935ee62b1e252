/* The resource group's recovery policy: restarts in a window, then move,
 * give up (optional) or hold with a growing pause. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "testutil.h"

static const struct group_policy def = {.max_restarts = 3, .window_ms = 600000};

static struct group_facts at(uint64_t now, bool two_node, bool peer_ok)
{
	return (struct group_facts){.now_ms = now,
				    .two_node = two_node,
				    .peer_can_take = peer_ok,
				    .peer_why_not =
					    peer_ok ? NULL : "peer offline"};
}

START_TEST(three_restarts_then_move)
{
	struct group_member m;
	struct group_facts f;
	struct group_out o;

	group_member_init(&m);
	for (unsigned i = 1; i <= 3; i++) {
		f = at(1000 * i, true, true);
		o = group_on_failure(&m, &def, &f);
		ck_assert_int_eq(o.verdict, GROUP_RESTART);
		ck_assert_uint_eq(o.failures, i);
		ck_assert_uint_eq(o.delay_ms, 0);
		ck_assert_ptr_nonnull(strstr(o.reason, "of 3 within 10 min"));
	}
	f = at(4000, true, true);
	o = group_on_failure(&m, &def, &f);
	ck_assert_int_eq(o.verdict, GROUP_MOVE);
	ck_assert_uint_eq(o.failures, 4);
	ck_assert_ptr_nonnull(strstr(o.reason, "4 failures within 10 min"));
	ck_assert_ptr_nonnull(strstr(o.reason, "moving the group"));
}
END_TEST

START_TEST(window_forgets_old_failures)
{
	struct group_member m;
	struct group_facts f;
	struct group_out o;

	group_member_init(&m);
	for (unsigned i = 0; i < 3; i++) {
		f = at(1000 + i, true, true);
		o = group_on_failure(&m, &def, &f);
		ck_assert_int_eq(o.verdict, GROUP_RESTART);
	}
	/* Exactly one window after the first failure it no longer counts;
	 * the two others still do. */
	f = at(1000 + 600000, true, true);
	o = group_on_failure(&m, &def, &f);
	ck_assert_int_eq(o.verdict, GROUP_RESTART);
	ck_assert_uint_eq(o.failures, 3);
	ck_assert_uint_eq(group_failures(&m, &def, 1000 + 600000), 3);
	/* A quiet window later every restart is there again. */
	ck_assert_uint_eq(group_failures(&m, &def, 2000000), 0);
	f = at(2000000, true, true);
	o = group_on_failure(&m, &def, &f);
	ck_assert_int_eq(o.verdict, GROUP_RESTART);
	ck_assert_uint_eq(o.failures, 1);
}
END_TEST

START_TEST(optional_gives_up_never_moves)
{
	struct group_policy p = def;
	struct group_member m;
	struct group_facts f;
	struct group_out o;

	p.optional = true;
	group_member_init(&m);
	for (unsigned i = 1; i <= 3; i++) {
		f = at(i, true, true);
		ck_assert_int_eq(group_on_failure(&m, &p, &f).verdict,
				 GROUP_RESTART);
	}
	f = at(10, true, true);
	o = group_on_failure(&m, &p, &f);
	ck_assert_int_eq(o.verdict, GROUP_GIVE_UP);
	ck_assert(m.given_up);
	ck_assert_ptr_nonnull(strstr(o.reason, "does not move the group"));
	/* Even a healthy peer does not tempt it later. */
	f = at(20, true, true);
	ck_assert_int_eq(group_on_failure(&m, &p, &f).verdict, GROUP_GIVE_UP);
	group_on_restarted(&m);
	ck_assert(!m.given_up);
}
END_TEST

START_TEST(standalone_holds_with_doubling_pause)
{
	struct group_member m;
	struct group_facts f;
	struct group_out o;
	uint64_t expect = GROUP_HOLD_MIN_MS;

	group_member_init(&m);
	for (unsigned i = 1; i <= 3; i++) {
		f = at(i, false, false);
		ck_assert_int_eq(group_on_failure(&m, &def, &f).verdict,
				 GROUP_RESTART);
	}
	for (unsigned i = 0; i < 8; i++) {
		f = at(100 + i, false, false);
		o = group_on_failure(&m, &def, &f);
		ck_assert_int_eq(o.verdict, GROUP_HOLD);
		ck_assert_uint_eq(o.delay_ms, expect);
		ck_assert_ptr_nonnull(strstr(o.reason, "no peer"));
		expect = expect * 2 > GROUP_HOLD_MAX_MS ? GROUP_HOLD_MAX_MS
							: expect * 2;
	}
	ck_assert_uint_eq(o.delay_ms, GROUP_HOLD_MAX_MS);
	/* After a quiet window the pauses start over. */
	f = at(100 + 600000 + 10, false, false);
	o = group_on_failure(&m, &def, &f);
	ck_assert_int_eq(o.verdict, GROUP_RESTART);
	ck_assert_uint_eq(m.holds, 0);
}
END_TEST

START_TEST(unhealthy_peer_holds_and_names_why)
{
	struct group_member m;
	struct group_facts f;
	struct group_out o;

	group_member_init(&m);
	for (unsigned i = 1; i <= 3; i++) {
		f = at(i, true, false);
		ck_assert_int_eq(group_on_failure(&m, &def, &f).verdict,
				 GROUP_RESTART);
	}
	f = at(5, true, false);
	o = group_on_failure(&m, &def, &f);
	ck_assert_int_eq(o.verdict, GROUP_HOLD);
	ck_assert_ptr_nonnull(strstr(o.reason, "peer offline"));
	/* The peer is back: the next failure moves. */
	f = at(6, true, true);
	ck_assert_int_eq(group_on_failure(&m, &def, &f).verdict, GROUP_MOVE);
	/* ...unless the cluster refuses the move at the last moment. */
	o = group_move_refused(&m, &def, "not master");
	ck_assert_int_eq(o.verdict, GROUP_HOLD);
	ck_assert_ptr_nonnull(strstr(o.reason, "not master"));
	ck_assert_uint_eq(o.delay_ms, 2 * GROUP_HOLD_MIN_MS);
}
END_TEST

START_TEST(zero_restarts_moves_at_once)
{
	struct group_policy p = {.max_restarts = 0, .window_ms = 1000};
	struct group_member m;
	struct group_facts f = at(5, true, true);

	group_member_init(&m);
	ck_assert_int_eq(group_on_failure(&m, &p, &f).verdict, GROUP_MOVE);
}
END_TEST

START_TEST(many_failures_stay_bounded)
{
	struct group_policy p = {.max_restarts = 1000, .window_ms = 1ULL << 40};
	struct group_member m;
	struct group_out o;

	group_member_init(&m);
	for (unsigned i = 1; i <= 1000; i++) {
		struct group_facts f = at(i, true, true);
		o = group_on_failure(&m, &p, &f);
		ck_assert_int_eq(o.verdict, GROUP_RESTART);
	}
	for (unsigned i = 0; i < 3000; i++) {
		struct group_facts f = at(2000 + i, true, true);
		o = group_on_failure(&m, &p, &f);
		ck_assert_int_eq(o.verdict, GROUP_MOVE);
		ck_assert_uint_le(m.n_fails, GROUP_MAX_FAILS);
	}
}
END_TEST

/* Every verdict follows from the count alone: a random sweep against a
 * model that counts failures in the window by brute force. */
START_TEST(random_sweep_matches_model)
{
	uint64_t times[4096];
	unsigned seed = 12345;

	for (int round = 0; round < 200; round++) {
		struct group_policy p = {
			.max_restarts = (int)(rand_r(&seed) % 6),
			.window_ms = 1 + rand_r(&seed) % 5000,
			.optional = rand_r(&seed) % 3 == 0,
		};
		struct group_member m;
		uint64_t now = 0;
		unsigned n = 0;

		group_member_init(&m);
		for (int k = 0; k < 200; k++) {
			now += rand_r(&seed) % 2000;
			bool two = rand_r(&seed) % 2, ok = rand_r(&seed) % 2;
			struct group_facts f = at(now, two, ok);
			struct group_out o = group_on_failure(&m, &p, &f);
			times[n++] = now;
			unsigned in = 0;
			for (unsigned i = 0; i < n; i++)
				in += times[i] + p.window_ms > now;
			ck_assert_uint_eq(o.failures, in);
			enum group_verdict want;
			if (in <= (unsigned)p.max_restarts)
				want = GROUP_RESTART;
			else if (p.optional)
				want = GROUP_GIVE_UP;
			else if (two && ok)
				want = GROUP_MOVE;
			else
				want = GROUP_HOLD;
			ck_assert_int_eq(o.verdict, want);
			ck_assert(o.reason[0]);
			if (o.verdict == GROUP_HOLD)
				ck_assert(o.delay_ms >= GROUP_HOLD_MIN_MS &&
					  o.delay_ms <= GROUP_HOLD_MAX_MS);
		}
	}
}
END_TEST

/* ---- sequences ---- */

/* A cluster's instances as the daemon lays them out: the quorum and the
 * storage (base), then the group's resources in configuration order. */
enum { Q, STO, VIP, DB, WEB, VNC, NSLOT };
static const char *const seq_names[NSLOT] = {"quorum", "storage", "webip",
					     "mysql",  "tomcat",  "vncproxy"};

struct seq_sim {
	struct group_slot sl[NSLOT];
	const struct group_slot *v[NSLOT];
	size_t n;
	bool fail[NSLOT]; /* its next op fails */
	char trace[512];
};

static void sim_init(struct seq_sim *m, bool two_node)
{
	memset(m, 0, sizeof(*m));
	m->n = NSLOT;
	for (size_t i = 0; i < NSLOT; i++) {
		m->v[i] = &m->sl[i];
		m->sl[i].state = GS_CONFIGURED;
		if (two_node) {
			m->sl[i].group = i >= VIP;
			m->sl[i].storage = i == STO;
		} else {
			m->sl[i].sa_promote = i == STO;
		}
	}
	m->sl[VIP].vip = true;
}

static void sim_note(struct seq_sim *m, enum group_op op, size_t i)
{
	size_t off = strlen(m->trace);
	snprintf(m->trace + off, sizeof(m->trace) - off, "%s%s:%s",
		 off ? " " : "", group_op_name(op), seq_names[i]);
}

/* Runs a start sequence as the daemon does (ops complete at once). */
static void sim_start(struct seq_sim *m, enum group_seq seq)
{
	struct group_walk w;
	size_t i;

	group_walk_start(&w, seq);
	while ((i = group_next_start(&w, m->v, m->n)) < m->n) {
		struct group_slot *s = &m->sl[i];
		enum group_op op = group_seq_op(seq, s, true);
		bool ok = !m->fail[i];

		m->fail[i] = false;
		sim_note(m, op, i);
		if (op == GROUP_OP_PROMOTE) {
			/* half promoted: demoted with the stop */
			s->promoted = true;
		} else if (ok) {
			s->state = GS_STARTED;
		} else {
			s->state = GS_FAILED;
			s->cleanup = true;
		}
		group_started(&w, s, op, ok);
		if (!ok && seq == GROUP_SEQ_GROUP)
			return; /* the cluster core decides what next */
	}
}

static void sim_stop(struct seq_sim *m, enum group_seq seq, bool vip_first)
{
	struct group_walk w;
	size_t i, guard = 0;

	group_walk_stop(&w, seq, m->n, vip_first);
	while ((i = group_next_stop(&w, m->v, m->n)) < m->n) {
		struct group_slot *s = &m->sl[i];
		enum group_op op = group_seq_op(seq, s, false);
		bool ok = !m->fail[i];

		ck_assert_uint_lt(guard++, 4 * NSLOT); /* it ends */
		m->fail[i] = false;
		sim_note(m, op, i);
		if (op == GROUP_OP_DEMOTE) {
			if (ok)
				s->promoted = false;
		} else if (ok) {
			s->state = GS_STOPPED;
			s->cleanup = false;
		} else {
			s->state = GS_FAILED;
			s->cleanup = true;
		}
		group_stopped(&w, s, op, ok);
	}
}

START_TEST(two_node_group_in_order_and_reverse)
{
	struct seq_sim m;

	sim_init(&m, true);
	sim_start(&m, GROUP_SEQ_BASE);
	ck_assert_str_eq(m.trace, "start:quorum start:storage");
	m.trace[0] = '\0';
	sim_start(&m, GROUP_SEQ_GROUP);
	ck_assert_str_eq(m.trace, "promote:storage start:webip start:mysql "
				  "start:tomcat start:vncproxy");
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_GROUP, false);
	ck_assert_str_eq(m.trace, "stop:vncproxy stop:tomcat stop:mysql "
				  "stop:webip demote:storage");
	/* The base stays up on a slave. */
	ck_assert_int_eq(m.sl[Q].state, GS_STARTED);
	ck_assert_int_eq(m.sl[STO].state, GS_STARTED);
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_BASE, false);
	ck_assert_str_eq(m.trace, "stop:storage stop:quorum");
}
END_TEST

START_TEST(urgent_stop_takes_the_vip_first)
{
	struct seq_sim m;

	sim_init(&m, true);
	sim_start(&m, GROUP_SEQ_BASE);
	sim_start(&m, GROUP_SEQ_GROUP);
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_GROUP, true);
	ck_assert_str_eq(m.trace, "stop:webip stop:vncproxy stop:tomcat "
				  "stop:mysql demote:storage");
}
END_TEST

START_TEST(failed_start_is_stopped_with_the_rest)
{
	struct seq_sim m;

	sim_init(&m, true);
	sim_start(&m, GROUP_SEQ_BASE);
	m.fail[DB] = true;
	m.trace[0] = '\0';
	sim_start(&m, GROUP_SEQ_GROUP);
	ck_assert_str_eq(m.trace, "promote:storage start:webip start:mysql");
	ck_assert(m.sl[DB].cleanup);
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_GROUP, false);
	/* mysql may have done half its start: it is stopped; tomcat never
	 * started: it is not. */
	ck_assert_str_eq(m.trace, "stop:mysql stop:webip demote:storage");
	ck_assert(!m.sl[DB].cleanup);
}
END_TEST

START_TEST(failed_vip_stop_is_retried_once_then_reported)
{
	struct seq_sim m;

	sim_init(&m, true);
	sim_start(&m, GROUP_SEQ_BASE);
	sim_start(&m, GROUP_SEQ_GROUP);
	m.fail[VIP] = true;
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_GROUP, true);
	/* First in the urgent pass (fails), then again in its turn. */
	ck_assert_str_eq(m.trace, "stop:webip stop:vncproxy stop:tomcat "
				  "stop:mysql stop:webip demote:storage");
	ck_assert_int_eq(m.sl[VIP].state, GS_STOPPED);

	/* A stop that keeps failing ends the sequence all the same, the
	 * member left for the next stop (cleanup). */
	sim_start(&m, GROUP_SEQ_GROUP);
	m.trace[0] = '\0';
	m.fail[DB] = true;
	sim_stop(&m, GROUP_SEQ_GROUP, false);
	ck_assert_str_eq(m.trace, "stop:vncproxy stop:tomcat stop:mysql "
				  "stop:webip demote:storage");
	ck_assert(m.sl[DB].cleanup);
	ck_assert(group_needs_stop(GROUP_SEQ_GROUP, &m.sl[DB]));
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_GROUP, false);
	ck_assert_str_eq(m.trace, "stop:mysql");
}
END_TEST

START_TEST(standalone_storage_started_then_promoted)
{
	struct seq_sim m;

	sim_init(&m, false);
	sim_start(&m, GROUP_SEQ_ALL);
	ck_assert_str_eq(m.trace, "start:quorum start:storage promote:storage "
				  "start:webip start:mysql start:tomcat "
				  "start:vncproxy");
	m.trace[0] = '\0';
	sim_stop(&m, GROUP_SEQ_ALL, false);
	ck_assert_str_eq(m.trace, "stop:vncproxy stop:tomcat stop:mysql "
				  "stop:webip demote:storage stop:storage "
				  "stop:quorum");
}
END_TEST

START_TEST(stop_during_start_walks_back_from_there)
{
	struct seq_sim m;
	struct group_walk w;
	size_t i;

	sim_init(&m, false);
	/* Start up to mysql (in flight), then a SIGTERM: the stop goes down
	 * from the member whose op ends, never up. */
	group_walk_start(&w, GROUP_SEQ_ALL);
	while ((i = group_next_start(&w, m.v, m.n)) < DB) {
		enum group_op op = group_seq_op(GROUP_SEQ_ALL, &m.sl[i], true);
		if (op == GROUP_OP_PROMOTE)
			m.sl[i].promoted = true;
		else
			m.sl[i].state = GS_STARTED;
		group_started(&w, &m.sl[i], op, true);
	}
	ck_assert_uint_eq(i, DB);
	m.sl[DB].state = GS_STARTED; /* its start completes */
	group_started(&w, &m.sl[DB], GROUP_OP_START, true);
	while ((i = group_next_stop(&w, m.v, m.n)) < m.n) {
		enum group_op op = group_seq_op(GROUP_SEQ_ALL, &m.sl[i], false);
		sim_note(&m, op, i);
		if (op == GROUP_OP_DEMOTE)
			m.sl[i].promoted = false;
		else
			m.sl[i].state = GS_STOPPED;
		group_stopped(&w, &m.sl[i], op, true);
	}
	ck_assert_str_eq(m.trace, "stop:mysql stop:webip demote:storage "
				  "stop:storage stop:quorum");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, three_restarts_then_move);
	tcase_add_test(tc, window_forgets_old_failures);
	tcase_add_test(tc, optional_gives_up_never_moves);
	tcase_add_test(tc, standalone_holds_with_doubling_pause);
	tcase_add_test(tc, unhealthy_peer_holds_and_names_why);
	tcase_add_test(tc, zero_restarts_moves_at_once);
	tcase_add_test(tc, many_failures_stay_bounded);
	tcase_add_test(tc, random_sweep_matches_model);
	tcase_add_test(tc, two_node_group_in_order_and_reverse);
	tcase_add_test(tc, urgent_stop_takes_the_vip_first);
	tcase_add_test(tc, failed_start_is_stopped_with_the_rest);
	tcase_add_test(tc, failed_vip_stop_is_retried_once_then_reported);
	tcase_add_test(tc, standalone_storage_started_then_promoted);
	tcase_add_test(tc, stop_during_start_walks_back_from_there);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
