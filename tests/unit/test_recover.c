/* What `cmsadm recover` reads in the master's status to decide that the
 * recovered peer's replica is in sync (setup_status_in_sync) and to show
 * the resync percent (setup_status_syncing): on the lines the agent's own
 * renderer (ctl_render_text) writes from a storage status, so that the
 * reading and the writing cannot drift apart. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "setupproto.h"
#include "testutil.h"

/* The text status of a master with one DRBD storage in state st, and a
 * shared LUN (no replica line) beside it. */
static char *render(const struct cmsd_storage_status *st)
{
	struct status_res r[2] = {{.id = "db",
				   .element = "storage",
				   .plugin = "storage-drbd",
				   .version = "1",
				   .state = "Started",
				   .detail = "/var/lib/mysql-share",
				   .replica = st},
				  {.id = "lun",
				   .element = "storage",
				   .plugin = "storage-fc",
				   .version = "1",
				   .state = "Started",
				   .detail = "/vms/templates"}};
	struct status_view v = {.mode = "node",
				.role = "master",
				.role_reason = "r",
				.res = r,
				.n_res = 2};
	struct sbuf b = {0};

	ctl_render_text(&v, &b);
	return b.s;
}

static struct cmsd_storage_status state(const char *conn, const char *pdisk,
					int pct)
{
	struct cmsd_storage_status st = {
		.size = sizeof(st),
		.role = CMSD_ROLE_PRIMARY,
		.peer_role = CMSD_ROLE_SECONDARY,
		.disk = "UpToDate",
		.data_usable = 1,
		.generation = 0xA1,
		.sync_percent = pct,
		.sync_eta_s = pct >= 0 ? 30 : -1,
	};

	snprintf(st.connection, sizeof(st.connection), "%s", conn);
	snprintf(st.peer_disk, sizeof(st.peer_disk), "%s", pdisk);
	return st;
}

START_TEST(resync_then_in_sync)
{
	struct cmsd_storage_status st;
	char id[16], *s;
	int n = -1, pct = -1;

	/* the peer not connected yet: not in sync, no percent */
	st = state("WFConnection", "DUnknown", -1);
	s = render(&st);
	ck_assert_msg(!setup_status_in_sync(s, &n), "%s", s);
	ck_assert_int_eq(n, 1);
	ck_assert(!setup_status_syncing(s, id, sizeof(id), &pct));
	free(s);
	/* the full resync of fresh metadata: the percent */
	st = state("SyncSource", "Inconsistent", 42);
	s = render(&st);
	ck_assert_msg(!setup_status_in_sync(s, &n), "%s", s);
	ck_assert(setup_status_syncing(s, id, sizeof(id), &pct));
	ck_assert_str_eq(id, "db");
	ck_assert_int_eq(pct, 42);
	free(s);
	/* connected, both UpToDate: done */
	st = state("Connected", "UpToDate", -1);
	s = render(&st);
	ck_assert_msg(setup_status_in_sync(s, &n), "%s", s);
	ck_assert_int_eq(n, 1);
	ck_assert(!setup_status_syncing(s, id, sizeof(id), &pct));
	free(s);
	/* connected but the peer Outdated: not done */
	st = state("Connected", "Outdated", -1);
	s = render(&st);
	ck_assert_msg(!setup_status_in_sync(s, &n), "%s", s);
	free(s);
}
END_TEST

START_TEST(no_replica)
{
	int n = -1;

	ck_assert(setup_status_in_sync("master : cvknode1 (Online)\n", &n));
	ck_assert_int_eq(n, 0);
	ck_assert(setup_status_in_sync("", &n));
	ck_assert_int_eq(n, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("recover");
	TCase *tc = tcase_create("recover");

	tcase_add_test(tc, resync_then_in_sync);
	tcase_add_test(tc, no_replica);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
