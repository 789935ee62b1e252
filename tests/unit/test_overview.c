/* cmsadm drbd-overview's composition (tools/cmsadm/overview.c) on real
 * DRBD 8.4 outputs: the reference line while connected and mounted, the
 * StandAlone line after a split brain, a volume that is not mounted, the
 * resync progress from /proc/drbd, and drbdsetup text that is no event. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overview.h"
#include "testutil.h"

#ifndef FIXTURES
#error FIXTURES must name tests/fixtures
#endif

static char *fixture(const char *name)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* The reference figures: 19G size, 91M used, 18G available, 1%. */
static bool ref_fs(const char *mount, struct drbd_mount_facts *m, void *arg)
{
	ck_assert_str_eq(mount, (const char *)arg);
	m->size = 19ull * 1024 * 1024 * 1024 - 300ull * 1024 * 1024;
	m->used = 91ull * 1024 * 1024 - 4096;
	m->avail = 18ull * 1024 * 1024 * 1024 - 900ull * 1024 * 1024;
	return true;
}

static const char *mounts =
	"proc /proc proc rw 0 0\n"
	"/dev/sda1 / ext4 rw 0 0\n"
	"/dev/drbd0 /var/lib/mysql-share ext4 rw,relatime 0 0\n";

START_TEST(connected_primary_mounted)
{
	char *ev = fixture("drbd84/events2-now-a.txt");
	struct sbuf out = {0};
	char err[256];

	ck_assert_int_eq(ovw_render(ev, NULL, mounts, ref_fs,
				    (void *)"/var/lib/mysql-share", &out, err,
				    sizeof(err)),
			 0);
	ck_assert_str_eq(out.s, "0:r0/0 Connected Primary/Secondary "
				"UpToDate/UpToDate C r----- "
				"/var/lib/mysql-share ext4 19G 91M 18G 1%\n");
	sbuf_free(&out);
	free(ev);
}
END_TEST

START_TEST(split_brain_standalone_unmounted)
{
	char *ev = fixture("drbd84/events2-now-split-brain-a.txt");
	char *proc = fixture("drbd84/proc-drbd-split-brain-a.txt");
	struct sbuf out = {0};
	char err[256];

	/* Not mounted: the line ends after the flags. */
	ck_assert_int_eq(ovw_render(ev, proc, "proc /proc proc rw 0 0\n", NULL,
				    NULL, &out, err, sizeof(err)),
			 0);
	ck_assert_ptr_nonnull(out.s);
	ck_assert_msg(strncmp(out.s, "0:r0/0 StandAlone ", 18) == 0, "%s",
		      out.s);
	ck_assert_ptr_null(strstr(out.s, "/var/lib"));
	sbuf_free(&out);
	free(proc);
	free(ev);
}
END_TEST

/* A mount point with a blank is escaped in /proc/mounts. */
START_TEST(escaped_mount_point)
{
	char *ev = fixture("drbd84/events2-now-a.txt");
	struct sbuf out = {0};
	char err[256];

	ck_assert_int_eq(
		ovw_render(ev, NULL,
			   "/dev/drbd0 /srv/my\\040share ext4 rw 0 0\n", ref_fs,
			   (void *)"/srv/my share", &out, err, sizeof(err)),
		0);
	ck_assert_ptr_nonnull(strstr(out.s, " /srv/my share ext4 19G "));
	sbuf_free(&out);
	free(ev);
}
END_TEST

START_TEST(not_events)
{
	struct sbuf out = {0};
	char err[256];

	ck_assert_int_eq(ovw_render("Command 'drbdsetup events2' is not "
				    "supported\n",
				    NULL, NULL, NULL, NULL, &out, err,
				    sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strncmp(err, "drbdsetup events2: ", 19) == 0, "%s", err);
	sbuf_free(&out);
	/* Nothing configured: no line, no error (the caller says so). */
	ck_assert_int_eq(ovw_render("exists -\n", NULL, NULL, NULL, NULL, &out,
				    err, sizeof(err)),
			 0);
	ck_assert_uint_eq(out.len, 0);
	sbuf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("overview");
	TCase *tc = tcase_create("render");

	tcase_add_test(tc, connected_primary_mounted);
	tcase_add_test(tc, split_brain_standalone_unmounted);
	tcase_add_test(tc, escaped_mount_point);
	tcase_add_test(tc, not_events);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
