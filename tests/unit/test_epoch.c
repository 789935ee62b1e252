/* The persistent epoch: fresh node, round trip, torn or foreign files. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epoch.h"
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

START_TEST(fresh_node_is_zero)
{
	struct epoch_state st = {.epoch = 9, .generation = 9};
	char err[256] = "";

	ck_assert_int_eq(epoch_load(dir, &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st.epoch, 0);
	ck_assert_uint_eq(st.generation, 0);
}
END_TEST

START_TEST(round_trip_and_replace)
{
	struct epoch_state a = {.epoch = 7, .generation = 5}, b;
	char err[256] = "";

	ck_assert_int_eq(epoch_store(dir, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(epoch_load(dir, &b, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.epoch, 7);
	ck_assert_uint_eq(b.generation, 5);
	a.epoch = 18446744073709551615ULL;
	ck_assert_int_eq(epoch_store(dir, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(epoch_load(dir, &b, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.epoch, 18446744073709551615ULL);
	/* No temporary file is left behind. */
	char *tmp, *path;
	ck_assert_int_ge(asprintf(&tmp, "%s/cluster.state.tmp", dir), 0);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	free(tmp);
	struct stat sb;
	ck_assert_int_ge(asprintf(&path, "%s/cluster.state", dir), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	free(path);
}
END_TEST

START_TEST(corrupt_file_refused)
{
	static const char *const bad[] = {"",
					  "epoch 3\n",
					  "epoch 3\ngeneration x\n",
					  "epoch 3\ngeneration 4",
					  "epoch 3\ngeneration 4\nmore\n",
					  "\x01\x02\x03"};
	struct epoch_state st;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(tu_write(dir, "cluster.state", bad[i]));
		err[0] = '\0';
		ck_assert_int_eq(epoch_load(dir, &st, err, sizeof(err)),
				 -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "cluster.state: not a "
						  "cluster state file"));
	}
}
END_TEST

START_TEST(unwritable_dir_reported)
{
	struct epoch_state st = {.epoch = 1};
	char err[512] = "";
	char *sub;
	ck_assert_int_ge(asprintf(&sub, "%s/missing", dir), 0);

	ck_assert_int_eq(epoch_store(sub, &st, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "cannot store"));
	free(sub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("epoch");
	TCase *tc = tcase_create("epoch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_node_is_zero);
	tcase_add_test(tc, round_trip_and_replace);
	tcase_add_test(tc, corrupt_file_refused);
	tcase_add_test(tc, unwritable_dir_reported);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
