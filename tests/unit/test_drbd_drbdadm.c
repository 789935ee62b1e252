/* The resource files drbd_res_write() produces, read by the real drbdadm
 * (drbd-utils): `-d up` (dry run, no kernel module needed) must accept them
 * and turn them into the drbdsetup calls we mean, in the DRBD 9 and the 8.4
 * code paths; a file damaged on purpose must be refused.  Skips (77) when
 * drbdadm is not installed (scripts/install-deps.sh test installs it). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drbd_res.h"
#include "testutil.h"

static const struct drbd_res_conf conf = {
	.resource = "r0",
	.minor = 0,
	.port = 7789,
	.version = DRBD_V84,
	.node = {{"nodea", "10.77.0.1", "/dev/vdb", 0},
		 {"nodeb", "10.77.0.2", "/dev/vdc", 1}},
};

static char out[16384];

/* Writes the file for version v into dir; returns its path. */
static char *write_res(const char *dir, enum drbd_version v)
{
	static char text[8192];
	struct drbd_res_conf c = conf;
	char err[256];

	c.version = v;
	ck_assert_int_gt(
		drbd_res_write(&c, text, sizeof(text), err, sizeof(err)), 0);
	return tu_write(dir, v == DRBD_V9 ? "r0-9.res" : "r0-84.res", text);
}

static void has(const char *what)
{
	ck_assert_msg(strstr(out, what), "drbdadm output lacks \"%s\":\n%s",
		      what, out);
}

START_TEST(dry_up_v9)
{
	char *dir = tu_tmpdir(), *f = write_res(dir, DRBD_V9);

	tu_sh_out(out, sizeof(out),
		  "__DRBD_NODE__=nodea drbdadm -c %s -d up r0 2>&1; "
		  "echo rc=$?",
		  f);
	has("rc=0\n");
	has("drbdsetup new-peer r0 1 --_name=nodeb");
	has("--after-sb-0pri=disconnect");
	has("--after-sb-1pri=disconnect");
	has("--after-sb-2pri=disconnect");
	has("--protocol=C");
	has("--fencing=resource-and-stonith");
	has("drbdsetup new-path r0 1 ipv4:10.77.0.1:7789 ipv4:10.77.0.2:7789");
	has("drbdsetup attach 0 /dev/vdb /dev/vdb internal");
	/* The handlers are in the parsed file, pointing at cmsadm. */
	tu_sh_out(out, sizeof(out),
		  "__DRBD_NODE__=nodea drbdadm -c %s dump r0 2>&1; echo rc=$?",
		  f);
	has("rc=0\n");
	has("fence-peer       \"/usr/sbin/cmsadm drbd-handler fence-peer\";");
	has("split-brain      \"/usr/sbin/cmsadm drbd-handler split-brain\";");
	/* From the other node's side: its own disk. */
	tu_sh_out(out, sizeof(out),
		  "__DRBD_NODE__=nodeb drbdadm -c %s -d up r0 2>&1; "
		  "echo rc=$?",
		  f);
	has("rc=0\n");
	has("drbdsetup attach 0 /dev/vdc /dev/vdc internal");
	tu_rmdir(dir);
	free(f);
	free(dir);
}
END_TEST

START_TEST(dry_up_v84)
{
	char *dir = tu_tmpdir(), *f = write_res(dir, DRBD_V84);

	tu_sh_out(out, sizeof(out),
		  "DRBD_DRIVER_VERSION_OVERRIDE=8.4.11 __DRBD_NODE__=nodea "
		  "drbdadm -c %s -d up r0 2>&1; echo rc=$?",
		  f);
	has("rc=0\n");
	has("drbdsetup-84 connect r0 ipv4:10.77.0.1:7789 ipv4:10.77.0.2:7789");
	has("--after-sb-0pri=disconnect");
	has("--after-sb-1pri=disconnect");
	has("--after-sb-2pri=disconnect");
	has("--protocol=C");
	has("--fencing=resource-and-stonith");
	tu_sh_out(out, sizeof(out),
		  "DRBD_DRIVER_VERSION_OVERRIDE=8.4.11 __DRBD_NODE__=nodea "
		  "drbdadm -c %s dump r0 2>&1; echo rc=$?",
		  f);
	has("rc=0\n");
	has("after-resync-target \"/usr/sbin/cmsadm drbd-handler "
	    "after-resync-target\";");
	tu_rmdir(dir);
	free(f);
	free(dir);
}
END_TEST

/* The checks above can fail: the same file with one word damaged is
 * refused with drbdadm's parse error (exit 10). */
START_TEST(damaged_refused)
{
	char *dir = tu_tmpdir(), *f = write_res(dir, DRBD_V9);

	SH_OK("sed -i 's/after-sb-1pri disconnect/after-sb-1pri discnnect/' "
	      "%s",
	      f);
	tu_sh_out(out, sizeof(out),
		  "__DRBD_NODE__=nodea drbdadm -c %s -d up r0 2>&1; "
		  "echo rc=$?",
		  f);
	has("rc=10\n");
	has("discnnect");
	has("Parse error");
	tu_rmdir(dir);
	free(f);
	free(dir);
}
END_TEST

int main(void)
{
	if (system("command -v drbdadm >/dev/null 2>&1") != 0) {
		fprintf(stderr,
			"drbdadm not installed (drbd-utils): skipped\n");
		return 77;
	}
	Suite *s = suite_create("drbd_drbdadm");
	TCase *tc = tcase_create("drbd_drbdadm");

	tcase_add_test(tc, dry_up_v9);
	tcase_add_test(tc, dry_up_v84);
	tcase_add_test(tc, damaged_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
