/* The resource group's recovery policy: restarts in a window, then move,
 * give up (optional) or hold with a growing pause. */
#include <check.h>
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
	suite_add_tcase(s, tc);
	return tu_run(s);
}
