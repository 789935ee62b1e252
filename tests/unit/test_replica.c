/* The cluster core's rules on replicated storage (agent/replica.c): which
 * copy may be promoted, when a slave follows the master's generation, when
 * a master starts a new one, who discards after a split brain, and what
 * maintenance holds back. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "replica.h"
#include "testutil.h"

static struct cmsd_storage_status st(const char *disk, const char *pdisk,
				     const char *conn, int usable)
{
	struct cmsd_storage_status s = {
		.size = sizeof(s), .data_usable = usable, .generation = 0x1234};
	snprintf(s.disk, sizeof(s.disk), "%s", disk);
	snprintf(s.peer_disk, sizeof(s.peer_disk), "%s", pdisk);
	snprintf(s.connection, sizeof(s.connection), "%s", conn);
	return s;
}

START_TEST(usable_and_current)
{
	struct cmsd_storage_status s;

	s = st("UpToDate", "UpToDate", "Connected", 1);
	ck_assert(replica_usable(&s));
	ck_assert(replica_current(&s));
	/* Cut from the peer: still promotable, no longer known current. */
	s = st("UpToDate", "DUnknown", "Connecting", 1);
	ck_assert(replica_usable(&s));
	ck_assert(!replica_current(&s));
	/* A sync target is neither. */
	s = st("Inconsistent", "UpToDate", "Connected", 0);
	ck_assert(!replica_usable(&s));
	ck_assert(!replica_current(&s));
	s = st("Outdated", "DUnknown", "StandAlone", 0);
	ck_assert(!replica_usable(&s));
	ck_assert(replica_split(&s));
	/* The plugin's word on usability wins over the disk name. */
	s = st("UpToDate", "UpToDate", "Connected", 0);
	ck_assert(!replica_current(&s));
}
END_TEST

START_TEST(master_losing_its_replica_starts_a_generation)
{
	struct cmsd_storage_status lost =
		st("UpToDate", "DUnknown", "Connecting", 1);
	struct cmsd_storage_status ok =
		st("UpToDate", "UpToDate", "Connected", 1);
	struct replica_facts f = {.serving = true, .was_peer_current = true};

	ck_assert_uint_eq(replica_decide(&lost, &f), REPLICA_A_NEW_GENERATION);
	/* Once per loss: the next status finds it lost already. */
	f.was_peer_current = false;
	ck_assert_uint_eq(replica_decide(&lost, &f), 0);
	/* Back in sync: nothing to do. */
	ck_assert_uint_eq(replica_decide(&ok, &f), 0);
	/* A peer that falls behind into a resync counts as lost too. */
	struct cmsd_storage_status behind =
		st("UpToDate", "Inconsistent", "Connected", 1);
	f.was_peer_current = true;
	ck_assert_uint_eq(replica_decide(&behind, &f),
			  REPLICA_A_NEW_GENERATION);
	/* A slave never starts a generation: it is the master's to do. */
	f = (struct replica_facts){.slave = true, .was_peer_current = true};
	ck_assert_uint_eq(replica_decide(&lost, &f), 0);
}
END_TEST

START_TEST(split_brain_slave_discards_master_reconnects)
{
	struct cmsd_storage_status sa =
		st("UpToDate", "DUnknown", "StandAlone", 0);
	struct replica_facts slave = {.slave = true,
				      .peer_alive = true,
				      .peer_master = true,
				      .resync_due = true};
	struct replica_facts master = {.serving = true,
				       .peer_alive = true,
				       .peer_slave = true,
				       .resync_due = true};

	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_DISCARD_LOCAL);
	ck_assert_uint_eq(replica_decide(&sa, &master), REPLICA_A_RECONNECT);
	/* Not while two masters still stand: the policy decides first. */
	master.peer_slave = false;
	master.peer_master = true;
	ck_assert_uint_eq(replica_decide(&sa, &master), 0);
	/* Not without the peer, and not again before it is due. */
	slave.peer_alive = false;
	ck_assert_uint_eq(replica_decide(&sa, &slave), 0);
	slave.peer_alive = true;
	slave.resync_due = false;
	ck_assert_uint_eq(replica_decide(&sa, &slave), 0);
	/* Neither master (a start failed on the unresolved split brain):
	 * the policy's loser discards, its winner reconnects. */
	slave = (struct replica_facts){.slave = true,
				       .peer_alive = true,
				       .peer_slave = true,
				       .resync_due = true};
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_DISCARD_LOCAL);
	slave.policy_winner = true;
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_RECONNECT);
	/* A slave whose master is gone keeps its data: it may be the newest
	 * copy left. */
	slave = (struct replica_facts){.slave = true, .resync_due = true};
	ck_assert_uint_eq(replica_decide(&sa, &slave), 0);
	/* Connected again: nothing more. */
	struct cmsd_storage_status c =
		st("UpToDate", "UpToDate", "Connected", 1);
	slave = (struct replica_facts){.slave = true,
				       .peer_alive = true,
				       .peer_master = true,
				       .resync_due = true};
	ck_assert_uint_eq(replica_decide(&c, &slave), 0);
}
END_TEST

/* Maintenance on (either node): the split-brain heal is only named, for
 * every case that would act, and taken as soon as the fact goes (the
 * `cmsadm maintenance off` that releases it); the generation of a master
 * whose replica falls behind is raised all the same. */
START_TEST(maintenance_holds_the_heal_not_the_fencing)
{
	struct cmsd_storage_status sa =
		st("UpToDate", "DUnknown", "StandAlone", 0);
	struct cmsd_storage_status lost =
		st("UpToDate", "DUnknown", "Connecting", 1);
	struct replica_facts slave = {.slave = true,
				      .peer_alive = true,
				      .peer_master = true,
				      .resync_due = true,
				      .maintenance = true};
	struct replica_facts master = {.serving = true,
				       .peer_alive = true,
				       .peer_slave = true,
				       .resync_due = true,
				       .maintenance = true};
	struct replica_facts both = {.slave = true,
				     .peer_alive = true,
				     .peer_slave = true,
				     .resync_due = true,
				     .maintenance = true};

	/* The loser under a master would discard: held. */
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_HELD_DISCARD);
	/* The master would reconnect: held. */
	ck_assert_uint_eq(replica_decide(&sa, &master),
			  REPLICA_A_HELD_RECONNECT);
	/* Neither master: the policy's loser and winner, both held. */
	ck_assert_uint_eq(replica_decide(&sa, &both), REPLICA_A_HELD_DISCARD);
	both.policy_winner = true;
	ck_assert_uint_eq(replica_decide(&sa, &both), REPLICA_A_HELD_RECONNECT);
	/* Pending is shown even while a retry would not be due yet. */
	slave.resync_due = false;
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_HELD_DISCARD);
	/* Nothing pending where nothing would be done: peer gone, or two
	 * masters still standing. */
	slave.peer_alive = false;
	ck_assert_uint_eq(replica_decide(&sa, &slave), 0);
	master.peer_slave = false;
	master.peer_master = true;
	ck_assert_uint_eq(replica_decide(&sa, &master), 0);

	/* Maintenance off releases it: the same status, the action now. */
	slave = (struct replica_facts){.slave = true,
				       .peer_alive = true,
				       .peer_master = true,
				       .resync_due = true,
				       .maintenance = true};
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_HELD_DISCARD);
	slave.maintenance = false;
	ck_assert_uint_eq(replica_decide(&sa, &slave), REPLICA_A_DISCARD_LOCAL);
	master = (struct replica_facts){.serving = true,
					.peer_alive = true,
					.peer_slave = true,
					.resync_due = true};
	ck_assert_uint_eq(replica_decide(&sa, &master), REPLICA_A_RECONNECT);
	both.maintenance = false;
	ck_assert_uint_eq(replica_decide(&sa, &both), REPLICA_A_RECONNECT);
	both.policy_winner = false;
	ck_assert_uint_eq(replica_decide(&sa, &both), REPLICA_A_DISCARD_LOCAL);

	/* The fencing is no repair: a master whose replica falls behind in
	 * maintenance still raises its generation (and tells the arbiter),
	 * so that the stale copy is never granted. */
	struct replica_facts m = {
		.serving = true, .was_peer_current = true, .maintenance = true};
	ck_assert_uint_eq(replica_decide(&lost, &m), REPLICA_A_NEW_GENERATION);
	/* With a split brain besides: the generation, and the heal held. */
	m.peer_alive = true;
	m.peer_slave = true;
	ck_assert_uint_eq(replica_decide(&sa, &m),
			  REPLICA_A_NEW_GENERATION | REPLICA_A_HELD_RECONNECT);
	/* Usability (the promotion gate) does not depend on maintenance:
	 * a StandAlone copy the plugin calls unusable stays unusable. */
	ck_assert(!replica_usable(&sa));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replica");
	TCase *tc = tcase_create("rules");

	tcase_add_test(tc, usable_and_current);
	tcase_add_test(tc, master_losing_its_replica_starts_a_generation);
	tcase_add_test(tc, split_brain_slave_discards_master_reconnects);
	tcase_add_test(tc, maintenance_holds_the_heal_not_the_fencing);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
