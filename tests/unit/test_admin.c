/* The operator's persistent switches (agent/admin.h): fresh node, round
 * trip, and torn or foreign files refused with the file named. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmdir(dir);
	free(dir);
}

START_TEST(fresh_node_is_off)
{
	struct admin_state st = {
		.stopped = true, .maintenance = true, .seq = 4, .master = "x"};
	char err[256] = "";

	ck_assert_int_eq(admin_load(dir, &st, err, sizeof(err)), 0);
	ck_assert(!st.stopped && !st.maintenance);
	ck_assert_uint_eq(st.seq, 0);
	ck_assert_str_eq(st.master, "");
}
END_TEST

START_TEST(round_trip)
{
	struct admin_state a = {.stopped = true, .seq = 7, .master = "node2"};
	struct admin_state b;
	char err[256] = "", *path;
	struct stat sb;

	ck_assert_int_eq(admin_store(dir, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(admin_load(dir, &b, err, sizeof(err)), 0);
	ck_assert(b.stopped && !b.maintenance);
	ck_assert_uint_eq(b.seq, 7);
	ck_assert_str_eq(b.master, "node2");
	/* No master recorded: "-" on disk, "" back. */
	a = (struct admin_state){.maintenance = true, .seq = 8};
	ck_assert_int_eq(admin_store(dir, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(admin_load(dir, &b, err, sizeof(err)), 0);
	ck_assert(!b.stopped && b.maintenance);
	ck_assert_uint_eq(b.seq, 8);
	ck_assert_str_eq(b.master, "");
	ck_assert_int_ge(asprintf(&path, "%s/admin.state", dir), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	free(path);
	ck_assert_int_ge(asprintf(&path, "%s/admin.state.tmp", dir), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	free(path);
}
END_TEST

START_TEST(corrupt_file_refused)
{
	static const char *const bad[] = {
		"",
		"stopped 1\n",
		"stopped 1\nmaintenance 0\nseq 3\n",
		"stopped 2\nmaintenance 0\nseq 3\nmaster -\n",
		"stopped 1\nmaintenance 0\nseq 3\nmaster node1",
		"stopped 1\nmaintenance 0\nseq 3\nmaster node1\nmore\n",
		"stopped x\nmaintenance 0\nseq 3\nmaster -\n",
	};
	struct admin_state st;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(tu_write(dir, "admin.state", bad[i]));
		err[0] = '\0';
		ck_assert_msg(admin_load(dir, &st, err, sizeof(err)) ==
				      -EBADMSG,
			      "accepted: \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(
			strstr(err, "admin.state: not an admin state file"));
	}
}
END_TEST

START_TEST(unwritable_dir_named)
{
	struct admin_state a = {.stopped = true};
	char err[512] = "", *sub;

	ck_assert_int_ge(asprintf(&sub, "%s/missing", dir), 0);
	ck_assert_int_lt(admin_store(sub, &a, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "missing/admin.state"));
	free(sub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_node_is_off);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, corrupt_file_refused);
	tcase_add_test(tc, unwritable_dir_named);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
