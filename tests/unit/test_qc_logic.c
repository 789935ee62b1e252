/*
 * quorum-cmsd's grant rules and state file, as pure functions: every branch
 * of qc_decide (request, renew, release, query; the margin's boundaries;
 * data usability and generations; what must be persisted) and the state
 * file's round trip and every kind of damage it must refuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

/* The plugin's pure part is compiled into the test (it is a plugin-private
 * file, not in a library the tests link). */
#include "../../plugins/quorum-cmsd/qc_logic.c"

#include "testutil.h"

#define M 250 /* margin */

static struct qc_request rq(unsigned kind, const char *node, uint64_t gen,
			    bool usable)
{
	return (struct qc_request){
		.kind = kind,
		.node = node,
		.epoch = 0,
		.generation = gen,
		.flags = usable ? WIRE_FL_DATA_USABLE | WIRE_FL_PEER_ALIVE : 0,
		.lease_ms = 1000,
	};
}

/* A state where `holder` was granted at `at` for 1000 ms with gen. */
static struct qc_state held(const char *holder, uint64_t at, uint64_t gen,
			    uint64_t epoch)
{
	struct qc_state s = {0};

	snprintf(s.holder, sizeof(s.holder), "%s", holder);
	snprintf(s.last_master, sizeof(s.last_master), "%s", holder);
	s.lease_until = at + 1000;
	s.lease_ms = 1000;
	s.epoch = epoch;
	s.last_generation = gen;
	return s;
}

START_TEST(request_fresh_granted)
{
	struct qc_state st = {0}, n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node1", 7, true);

	q.epoch = 4;
	ck_assert(qc_decide(&st, &q, 10000, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(r.lease_ms, 1000);
	ck_assert_uint_eq(r.retry_ms, 0);
	ck_assert_uint_eq(r.epoch, 5); /* max(0, 4) + 1 */
	ck_assert_str_eq(r.holder, "node1");
	ck_assert_str_eq(r.last_master, "node1");
	ck_assert_uint_eq(r.last_generation, 7);
	ck_assert_str_eq(r.reason, "granted: new holder node1 (epoch 5)");
	ck_assert_str_eq(n.holder, "node1");
	ck_assert_str_eq(n.last_master, "node1");
	ck_assert_uint_eq(n.lease_until, 11000);
	ck_assert_uint_eq(n.lease_ms, 1000);
	ck_assert_uint_eq(n.epoch, 5);
	ck_assert_uint_eq(n.last_generation, 7);
	/* The input state is not touched. */
	ck_assert_str_eq(st.holder, "");
}
END_TEST

START_TEST(request_epoch_is_max_plus_one)
{
	struct qc_state st = {.epoch = 9}, n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node1", 0, true);

	q.epoch = 3; /* the node is behind: the arbiter's epoch wins */
	qc_decide(&st, &q, 0, M, &n, &r);
	ck_assert_uint_eq(n.epoch, 10);
	q.epoch = 20; /* the node is ahead (arbiter state lost): it wins */
	qc_decide(&st, &q, 0, M, &n, &r);
	ck_assert_uint_eq(n.epoch, 21);
	ck_assert_uint_eq(r.epoch, 21);
}
END_TEST

START_TEST(request_by_holder_extends)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node1", 7, true);

	/* Nothing durable changes: no write before the reply. */
	ck_assert(!qc_decide(&st, &q, 500, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(n.lease_until, 1500);
	ck_assert_uint_eq(n.epoch, 3); /* no new epoch for the same holder */
	ck_assert_uint_eq(r.epoch, 3);
	/* Even with unusable data: it is the master already. */
	q = rq(WIRE_VOTE_REQUEST, "node1", 7, false);
	ck_assert(!qc_decide(&st, &q, 5000, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(n.lease_until, 6000);
	/* A new generation is remembered: persist. */
	q = rq(WIRE_VOTE_REQUEST, "node1", 8, true);
	ck_assert(qc_decide(&st, &q, 500, M, &n, &r));
	ck_assert_uint_eq(n.last_generation, 8);
	ck_assert_uint_eq(r.last_generation, 8);
}
END_TEST

START_TEST(request_held_denied_until_margin)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node2", 7, true);

	/* During the lease. */
	ck_assert(!qc_decide(&st, &q, 400, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.lease_ms, 0);
	ck_assert_uint_eq(r.retry_ms, 600 + M);
	ck_assert_str_eq(r.holder, "node1");
	ck_assert_str_eq(r.reason,
			 "held by node1: lease ends in 600 ms, then 250 ms "
			 "margin");
	ck_assert_mem_eq(&n, &st, sizeof(st));
	/* Lease over, margin running: still no. */
	ck_assert(!qc_decide(&st, &q, 1000, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.retry_ms, M);
	ck_assert_str_eq(r.reason,
			 "held by node1: lease ends in 0 ms, then 250 ms "
			 "margin");
	/* Last millisecond of the margin. */
	ck_assert(!qc_decide(&st, &q, 1000 + M - 1, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.retry_ms, 1);
	/* Margin over: granted, with a new epoch. */
	ck_assert(qc_decide(&st, &q, 1000 + M, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_str_eq(n.holder, "node2");
	ck_assert_str_eq(n.last_master, "node2");
	ck_assert_uint_eq(n.epoch, 4);
	ck_assert_uint_eq(n.lease_until, 1000 + M + 1000);
	ck_assert_str_eq(r.reason, "granted: new holder node2 (epoch 4); "
				   "node1's lease ran out");
}
END_TEST

START_TEST(request_margin_zero)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node2", 7, true);

	ck_assert(!qc_decide(&st, &q, 999, 0, &n, &r));
	ck_assert_uint_eq(r.retry_ms, 1);
	ck_assert(qc_decide(&st, &q, 1000, 0, &n, &r));
	ck_assert(r.granted);
}
END_TEST

START_TEST(request_held_wins_over_other_denials)
{
	/* While held, the answer is "held", which tells when to ask again,
	 * even when the data would be refused later. */
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node2", 1, false);

	qc_decide(&st, &q, 100, M, &n, &r);
	ck_assert(!r.granted);
	ck_assert_uint_gt(r.retry_ms, 0);
	ck_assert(strncmp(r.reason, "held by node1", 13) == 0);
}
END_TEST

START_TEST(request_data_not_usable)
{
	struct qc_state st = {0}, n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node1", 7, false);

	ck_assert(!qc_decide(&st, &q, 0, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.retry_ms, 0);
	ck_assert_str_eq(r.reason, "data not usable");
	ck_assert_str_eq(n.holder, "");
	/* The same after another's lease ran out. */
	st = held("node2", 0, 7, 3);
	ck_assert(!qc_decide(&st, &q, 5000, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.reason, "data not usable");
	ck_assert_str_eq(n.holder, "node2");
}
END_TEST

START_TEST(request_generations)
{
	struct qc_state st = held("node1", 0, 42, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node2", 41, true);

	/* Older than the last master's: refused, nothing to wait for. */
	ck_assert(!qc_decide(&st, &q, 5000, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.retry_ms, 0);
	ck_assert_str_eq(r.reason,
			 "data older than last master node1's: 41 < 42");
	ck_assert_str_eq(r.last_master, "node1");
	ck_assert_uint_eq(r.last_generation, 42);
	/* The same after node1 released (a full outage later, say). */
	st.holder[0] = '\0';
	st.lease_until = 0;
	ck_assert(!qc_decide(&st, &q, 0, M, &n, &r));
	ck_assert(!r.granted);
	/* Equal generation: granted. */
	q.generation = 42;
	ck_assert(qc_decide(&st, &q, 0, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(n.last_generation, 42);
	/* Newer: granted. */
	q.generation = 50;
	ck_assert(qc_decide(&st, &q, 0, M, &n, &r));
	ck_assert_uint_eq(n.last_generation, 50);
	/* The last master itself may come back with any generation: its
	 * data is the newest by definition. */
	q = rq(WIRE_VOTE_REQUEST, "node1", 3, true);
	ck_assert(qc_decide(&st, &q, 0, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(n.last_generation, 3);
}
END_TEST

START_TEST(lease_clamped)
{
	struct qc_state st = {0}, n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_REQUEST, "node1", 0, true);

	ck_assert_uint_eq(qc_clamp_lease(0), 100);
	ck_assert_uint_eq(qc_clamp_lease(99), 100);
	ck_assert_uint_eq(qc_clamp_lease(100), 100);
	ck_assert_uint_eq(qc_clamp_lease(60000), 60000);
	ck_assert_uint_eq(qc_clamp_lease(60001), 60000);
	q.lease_ms = 5;
	qc_decide(&st, &q, 0, M, &n, &r);
	ck_assert_uint_eq(r.lease_ms, 100);
	ck_assert_uint_eq(n.lease_until, 100);
	q.lease_ms = UINT64_MAX;
	qc_decide(&st, &q, 0, M, &n, &r);
	ck_assert_uint_eq(r.lease_ms, 60000);
	ck_assert_uint_eq(n.lease_ms, 60000);
}
END_TEST

START_TEST(auto_margin_quarter_of_lease)
{
	/* No <margin>: a quarter of the (clamped) lease, at most the cap. */
	ck_assert_uint_eq(qc_auto_margin(300, 250), 75);
	ck_assert_uint_eq(qc_auto_margin(1000, 250), 250);
	ck_assert_uint_eq(qc_auto_margin(5000, 250), 250);
	ck_assert_uint_eq(qc_auto_margin(0, 250), 25);
	ck_assert_uint_eq(qc_auto_margin(UINT64_MAX, 250), 250);
}
END_TEST

START_TEST(renew_by_holder)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_RENEW, "node1", 7, true);

	ck_assert(!qc_decide(&st, &q, 800, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(r.lease_ms, 1000);
	ck_assert_uint_eq(n.lease_until, 1800);
	ck_assert_str_eq(r.reason, "renewed");
	/* Long after expiry, nobody else granted: still the holder. */
	ck_assert(!qc_decide(&st, &q, 60000, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_uint_eq(n.lease_until, 61000);
	/* A new generation is persisted; so is a new lease length. */
	q.generation = 8;
	ck_assert(qc_decide(&st, &q, 800, M, &n, &r));
	ck_assert_uint_eq(n.last_generation, 8);
	q.generation = 7;
	q.lease_ms = 2000;
	ck_assert(qc_decide(&st, &q, 800, M, &n, &r));
	ck_assert_uint_eq(n.lease_ms, 2000);
	ck_assert_uint_eq(n.lease_until, 2800);
	/* Unusable data does not stop a renewal (the agent decides). */
	q = rq(WIRE_VOTE_RENEW, "node1", 7, false);
	qc_decide(&st, &q, 800, M, &n, &r);
	ck_assert(r.granted);
}
END_TEST

START_TEST(renew_by_other_denied)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_RENEW, "node2", 7, true);

	ck_assert(!qc_decide(&st, &q, 500, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_uint_eq(r.retry_ms, 0);
	ck_assert_str_eq(r.reason, "no lease to renew: held by node1");
	ck_assert_mem_eq(&n, &st, sizeof(st));
	/* Nobody holds: a renew never grants. */
	struct qc_state empty = {0};
	ck_assert(!qc_decide(&empty, &q, 500, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.reason, "no lease to renew: nobody holds it");
	ck_assert_str_eq(n.holder, "");
}
END_TEST

START_TEST(renew_after_another_was_granted)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q2 = rq(WIRE_VOTE_REQUEST, "node2", 7, true);
	struct qc_request q1 = rq(WIRE_VOTE_RENEW, "node1", 7, true);

	ck_assert(qc_decide(&st, &q2, 2000, M, &st, &r)); /* aliasing */
	ck_assert(r.granted);
	ck_assert_str_eq(st.holder, "node2");
	ck_assert(!qc_decide(&st, &q1, 2001, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.holder, "node2");
	ck_assert_str_eq(r.reason, "no lease to renew: held by node2");
}
END_TEST

START_TEST(release_by_holder)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_RELEASE, "node1", 7, true);
	struct qc_request q2 = rq(WIRE_VOTE_REQUEST, "node2", 7, true);

	ck_assert(qc_decide(&st, &q, 300, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.reason, "released");
	ck_assert_str_eq(r.holder, "");
	ck_assert_str_eq(n.holder, "");
	ck_assert_uint_eq(n.lease_until, 0);
	ck_assert_str_eq(n.last_master, "node1"); /* remembered */
	ck_assert_uint_eq(n.last_generation, 7);
	ck_assert_uint_eq(n.epoch, 3);
	/* The peer may be granted at once, well inside the old lease. */
	ck_assert(qc_decide(&n, &q2, 301, M, &n, &r));
	ck_assert(r.granted);
	ck_assert_str_eq(n.holder, "node2");
	ck_assert_uint_eq(n.epoch, 4);
}
END_TEST

START_TEST(release_by_other_ignored)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(WIRE_VOTE_RELEASE, "node2", 7, true);

	ck_assert(!qc_decide(&st, &q, 300, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.reason, "nothing to release: held by node1");
	ck_assert_mem_eq(&n, &st, sizeof(st));
	struct qc_state empty = {0};
	ck_assert(!qc_decide(&empty, &q, 300, M, &n, &r));
	ck_assert_str_eq(r.reason, "nothing to release: nobody holds it");
}
END_TEST

START_TEST(query_changes_nothing)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(QC_VOTE_QUERY, "node1", 99, true);

	ck_assert(!qc_decide(&st, &q, 400, M, &n, &r));
	ck_assert_mem_eq(&n, &st, sizeof(st));
	ck_assert(r.granted); /* the holder, during its lease */
	ck_assert_uint_eq(r.lease_ms, 0);
	ck_assert_str_eq(r.reason, "held by node1, 600 ms left");
	q.node = "node2";
	ck_assert(!qc_decide(&st, &q, 400, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.holder, "node1");
	q.node = "node1";
	ck_assert(!qc_decide(&st, &q, 1500, M, &n, &r));
	ck_assert(!r.granted); /* expired */
	ck_assert_str_eq(r.reason, "held by node1, lease ran out 500 ms ago");
	struct qc_state empty = {0};
	ck_assert(!qc_decide(&empty, &q, 0, M, &n, &r));
	ck_assert_str_eq(r.reason, "nobody holds the lease");
}
END_TEST

START_TEST(unknown_kind)
{
	struct qc_state st = held("node1", 0, 7, 3), n;
	struct qc_reply r;
	struct qc_request q = rq(77, "node1", 7, true);

	ck_assert(!qc_decide(&st, &q, 400, M, &n, &r));
	ck_assert(!r.granted);
	ck_assert_str_eq(r.reason, "unknown request kind 77");
	ck_assert_mem_eq(&n, &st, sizeof(st));
}
END_TEST

/* Clusters are separate states: what happens in one never shows in
 * another, even with the same node names. */
START_TEST(many_clusters_independent)
{
	struct qc_state cl[3];
	struct qc_reply r;
	struct qc_request a = rq(WIRE_VOTE_REQUEST, "node1", 5, true);
	struct qc_request b = rq(WIRE_VOTE_REQUEST, "node2", 1, true);

	memset(cl, 0, sizeof(cl));

	for (int i = 0; i < 3; i++) {
		qc_decide(&cl[i], &a, 0, M, &cl[i], &r);
		ck_assert(r.granted);
	}
	/* Cluster 1 releases; only there may node2 take over. */
	struct qc_request rel = rq(WIRE_VOTE_RELEASE, "node1", 5, true);
	qc_decide(&cl[1], &rel, 10, M, &cl[1], &r);
	for (int i = 0; i < 3; i++) {
		b.generation = 5;
		qc_decide(&cl[i], &b, 20, M, &cl[i], &r);
		ck_assert_int_eq(r.granted, i == 1);
	}
	ck_assert_str_eq(cl[0].holder, "node1");
	ck_assert_str_eq(cl[1].holder, "node2");
	ck_assert_str_eq(cl[2].holder, "node1");
	ck_assert_uint_eq(cl[0].epoch, 1);
	ck_assert_uint_eq(cl[1].epoch, 2);
}
END_TEST

/* node1 master, renewing; node2 waits; node1 goes silent; node2 gets it
 * exactly at lease + margin after node1's last renewal; node1 is refused
 * afterwards. */
START_TEST(scenario_failover)
{
	struct qc_state st = {0};
	struct qc_reply r;
	struct qc_request q1 = rq(WIRE_VOTE_REQUEST, "node1", 1, true);
	struct qc_request n1 = rq(WIRE_VOTE_RENEW, "node1", 1, true);
	struct qc_request q2 = rq(WIRE_VOTE_REQUEST, "node2", 1, true);
	uint64_t t;

	qc_decide(&st, &q1, 0, M, &st, &r);
	ck_assert(r.granted);
	for (t = 200; t <= 2000; t += 200) {
		qc_decide(&st, &n1, t, M, &st, &r);
		ck_assert(r.granted);
		qc_decide(&st, &q2, t + 1, M, &st, &r);
		ck_assert(!r.granted);
		ck_assert_uint_eq(r.retry_ms, 1000 + M - 1);
	}
	/* Last renewal at 2000: lease to 3000, margin to 3250. */
	qc_decide(&st, &q2, 3249, M, &st, &r);
	ck_assert(!r.granted);
	qc_decide(&st, &q2, 3250, M, &st, &r);
	ck_assert(r.granted);
	ck_assert_uint_eq(r.epoch, 2);
	qc_decide(&st, &n1, 3251, M, &st, &r);
	ck_assert(!r.granted);
}
END_TEST

START_TEST(restored_counts_a_full_lease)
{
	struct qc_state st = held("node1", 0, 7, 3);

	st.lease_ms = 1500;
	qc_state_restored(&st, 90000);
	ck_assert_uint_eq(st.lease_until, 91500);
	st.lease_ms = 0; /* clamped like any lease */
	qc_state_restored(&st, 90000);
	ck_assert_uint_eq(st.lease_until, 90100);
	struct qc_state empty = {.lease_until = 5};
	qc_state_restored(&empty, 90000);
	ck_assert_uint_eq(empty.lease_until, 0);
}
END_TEST

START_TEST(ids)
{
	ck_assert(qc_id_ok("node1"));
	ck_assert(qc_id_ok("vms-prod_2.a"));
	ck_assert(qc_id_ok("a"));
	ck_assert(!qc_id_ok(""));
	ck_assert(!qc_id_ok(NULL));
	ck_assert(!qc_id_ok(".hidden"));
	ck_assert(!qc_id_ok("a/b"));
	ck_assert(!qc_id_ok("a b"));
	ck_assert(!qc_id_ok("-"));
	ck_assert(!qc_id_ok("_x"));
	ck_assert(qc_id_ok("9x"));
	char longid[65];
	memset(longid, 'x', 64);
	longid[64] = '\0';
	ck_assert(!qc_id_ok(longid));
	longid[63] = '\0';
	ck_assert(qc_id_ok(longid));
}
END_TEST

/* ---- the state file ---- */

static int parse(const char *text, struct qc_state *out, char *err)
{
	return qc_state_parse(text, strlen(text), "vms-prod", out, err, 200);
}

START_TEST(state_round_trip)
{
	struct qc_state st = held("node1", 123, 42, 7), back;
	char buf[512], err[200];
	int n;

	st.lease_ms = 1500;
	n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq((int)strlen(buf), n);
	ck_assert(strstr(buf, "\nholder node1\n"));
	ck_assert(strstr(buf, "\nlast-generation 42\n"));
	memset(&back, 0xff, sizeof(back));
	ck_assert_int_eq(parse(buf, &back, err), 0);
	ck_assert_str_eq(back.holder, "node1");
	ck_assert_str_eq(back.last_master, "node1");
	ck_assert_uint_eq(back.lease_ms, 1500);
	ck_assert_uint_eq(back.epoch, 7);
	ck_assert_uint_eq(back.last_generation, 42);
	ck_assert_uint_eq(back.lease_until, 0); /* not on disk */

	/* Nobody holds, no master yet: dashes. */
	struct qc_state empty = {0};
	n = qc_state_format(&empty, "vms-prod", buf, sizeof(buf));
	ck_assert(strstr(buf, "\nholder -\n"));
	ck_assert(strstr(buf, "\nlast-master -\n"));
	ck_assert_int_eq(parse(buf, &back, err), 0);
	ck_assert_str_eq(back.holder, "");
	ck_assert_str_eq(back.last_master, "");

	/* Too small a buffer. */
	ck_assert_int_eq(qc_state_format(&st, "vms-prod", buf, 40), -ENOSPC);
	ck_assert_int_eq(qc_state_format(&st, "vms-prod", buf, (size_t)n - 1),
			 -ENOSPC);

	/* Extreme values survive. */
	st.epoch = UINT64_MAX;
	st.last_generation = UINT64_MAX;
	qc_state_format(&st, "vms-prod", buf, sizeof(buf));
	ck_assert_int_eq(parse(buf, &back, err), 0);
	ck_assert_uint_eq(back.epoch, UINT64_MAX);
}
END_TEST

START_TEST(state_every_truncation_refused)
{
	struct qc_state st = held("node1", 0, 42, 7), back;
	char buf[512], err[200];
	int n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));

	for (int len = 0; len < n; len++) {
		int rc = qc_state_parse(buf, (size_t)len, "vms-prod", &back,
					err, sizeof(err));
		ck_assert_msg(rc == -EBADMSG, "prefix of %d bytes accepted",
			      len);
		ck_assert(*err);
	}
	ck_assert_int_eq(qc_state_parse(buf, 0, "vms-prod", &back, err, 200),
			 -EBADMSG);
	ck_assert_str_eq(err, "the file is empty");
}
END_TEST

START_TEST(state_every_byte_flip_refused)
{
	struct qc_state st = held("node1", 0, 42, 7), back;
	char buf[512], err[200];
	int n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));

	for (int i = 0; i < n; i++) {
		char c = buf[i];
		buf[i] = (char)(c ^ 0x01);
		ck_assert_msg(parse(buf, &back, err) == -EBADMSG,
			      "flip at %d accepted", i);
		buf[i] = c;
	}
	ck_assert_int_eq(parse(buf, &back, err), 0);
}
END_TEST

/* Rewrites the checksum of a hand-made text so that only the named defect
 * remains. */
static void resum(char *buf)
{
	char *sum = strstr(buf, "checksum ");
	ck_assert_ptr_nonnull(sum);
	sprintf(sum, "checksum %016" PRIx64 "\n",
		qc_fnv1a(buf, (size_t)(sum - buf)));
}

START_TEST(state_defects_named)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{"version 2\ncluster vms-prod\nholder -\nlease-ms 0\nepoch "
		 "0\nlast-master -\nlast-generation 0\nchecksum x\n",
		 "line 1: version 2 is not 1"},
		{"version 1\ncluster vms-lab\nholder -\nlease-ms 0\nepoch "
		 "0\nlast-master -\nlast-generation 0\nchecksum x\n",
		 "line 2: the file is cluster \"vms-lab\"'s, not "
		 "\"vms-prod\"'s"},
		{"version 1\ncluster vms-prod\nholder a/b\nlease-ms 0\nepoch "
		 "0\nlast-master -\nlast-generation 0\nchecksum x\n",
		 "line 3: bad holder \"a/b\""},
		{"version 1\ncluster vms-prod\nholder -\nlease-ms 0\nepoch "
		 "99999999999999999999\nlast-master -\nlast-generation "
		 "0\nchecksum x\n",
		 "line 5: bad epoch \"99999999999999999999\""},
		{"version 1\ncluster vms-prod\nholder -\nepoch 0\nlease-ms "
		 "0\nlast-master -\nlast-generation 0\nchecksum x\n",
		 "line 4: expected \"lease-ms\", found \"epoch\""},
		{"version 1\ncluster vms-prod\nholder node1\nlease-ms "
		 "0\nepoch 0\nlast-master node2\nlast-generation 0\nchecksum "
		 "x\n",
		 "holder node1 is not the last master node2"},
		{"version 1\ncluster vms-prod\nholder -\nlease-ms -1\nepoch "
		 "0\nlast-master -\nlast-generation 0\nchecksum x\n",
		 "line 4: bad lease-ms \"-1\""},
		{"version 1\ncluster vms-prod\nholder\n", "line 3: not \"key "
							  "value\""},
	};
	struct qc_state back;
	char buf[512], err[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].text);
		if (strstr(buf, "checksum "))
			resum(buf);
		ck_assert_int_eq(parse(buf, &back, err), -EBADMSG);
		ck_assert_msg(strcmp(err, cases[i].err) == 0,
			      "case %zu: \"%s\", want \"%s\"", i, err,
			      cases[i].err);
	}

	/* Text after the checksum, and a NUL byte. */
	struct qc_state st = {0};
	int n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));
	snprintf(buf + n, sizeof(buf) - (size_t)n, "holder node1\n");
	ck_assert_int_eq(parse(buf, &back, err), -EBADMSG);
	ck_assert_str_eq(err, "line 10: text after the checksum");
	n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));
	buf[3] = '\0';
	ck_assert_int_eq(qc_state_parse(buf, (size_t)n, "vms-prod", &back, err,
					sizeof(err)),
			 -EBADMSG);
	ck_assert_str_eq(err, "the file holds a NUL byte");
	/* Checksum mismatch named as such. */
	n = qc_state_format(&st, "vms-prod", buf, sizeof(buf));
	char *e = strstr(buf, "epoch 0");
	e[6] = '1';
	ck_assert_int_eq(parse(buf, &back, err), -EBADMSG);
	ck_assert_str_eq(err, "line 9: checksum mismatch: the file was "
			      "damaged or edited");
}
END_TEST

START_TEST(describe)
{
	struct qc_state st = held("node1", 0, 7, 3);
	char buf[128];

	qc_state_describe(&st, 360, M, buf, sizeof(buf));
	ck_assert_str_eq(buf, "node1 holds, 640 ms left");
	qc_state_describe(&st, 1100, M, buf, sizeof(buf));
	ck_assert_str_eq(buf, "node1 holds, lease ran out (margin)");
	qc_state_describe(&st, 2000, M, buf, sizeof(buf));
	ck_assert_str_eq(buf, "node1 held, lease ran out");
	st.holder[0] = '\0';
	qc_state_describe(&st, 2000, M, buf, sizeof(buf));
	ck_assert_str_eq(buf, "nobody holds (last master node1, generation 7)");
	struct qc_state empty = {0};
	qc_state_describe(&empty, 0, M, buf, sizeof(buf));
	ck_assert_str_eq(buf, "nobody holds (no master yet)");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("qc_logic");
	TCase *tc = tcase_create("rules");
	TCase *tf = tcase_create("state_file");

	tcase_add_test(tc, request_fresh_granted);
	tcase_add_test(tc, request_epoch_is_max_plus_one);
	tcase_add_test(tc, request_by_holder_extends);
	tcase_add_test(tc, request_held_denied_until_margin);
	tcase_add_test(tc, request_margin_zero);
	tcase_add_test(tc, request_held_wins_over_other_denials);
	tcase_add_test(tc, request_data_not_usable);
	tcase_add_test(tc, request_generations);
	tcase_add_test(tc, lease_clamped);
	tcase_add_test(tc, auto_margin_quarter_of_lease);
	tcase_add_test(tc, renew_by_holder);
	tcase_add_test(tc, renew_by_other_denied);
	tcase_add_test(tc, renew_after_another_was_granted);
	tcase_add_test(tc, release_by_holder);
	tcase_add_test(tc, release_by_other_ignored);
	tcase_add_test(tc, query_changes_nothing);
	tcase_add_test(tc, unknown_kind);
	tcase_add_test(tc, many_clusters_independent);
	tcase_add_test(tc, scenario_failover);
	tcase_add_test(tc, restored_counts_a_full_lease);
	tcase_add_test(tc, ids);
	tcase_add_test(tc, describe);
	suite_add_tcase(s, tc);
	tcase_add_test(tf, state_round_trip);
	tcase_add_test(tf, state_every_truncation_refused);
	tcase_add_test(tf, state_every_byte_flip_refused);
	tcase_add_test(tf, state_defects_named);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
