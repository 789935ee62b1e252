/*
 * storage-iscsi's kernel-initiator path (<block-device>iscsiadm): the
 * command lines the plugin runs, word by word (iscsi_cmd.c builds them for
 * the plugin), the by-path device it waits for, and the name it reads from
 * initiatorname.iscsi.  The kernel initiator cannot be loaded where the
 * tests run, so iscsiadm is not run; the real sg_persist (sg3-utils) is
 * given the plugin's registration line against a regular file, which it
 * must parse and then fail only at the SCSI pass-through.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iscsi_cmd.h"
#include "testutil.h"

/* The argv, its words joined by one space. */
static const char *joined(const struct iscsi_cmd *c)
{
	static char out[1024];
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; c->argv[i]; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
				      i ? " " : "", c->argv[i]);
	return out;
}

START_TEST(discovery_and_login)
{
	struct iscsi_cmd c;

	iscsi_cmd_discovery(&c, "10.0.0.10", 3260);
	ck_assert_str_eq(joined(&c), "/usr/sbin/iscsiadm -m discovery -t st "
				     "-p 10.0.0.10:3260");
	ck_assert_ptr_null(c.argv[7]);
	iscsi_cmd_login(&c, "iqn.2026-11.com.example.san:templates",
			"10.0.0.10", 3260);
	ck_assert_str_eq(joined(&c), "/usr/sbin/iscsiadm -m node -T "
				     "iqn.2026-11.com.example.san:templates -p "
				     "10.0.0.10:3260 --login");
	ck_assert_str_eq(c.argv[4], "iqn.2026-11.com.example.san:templates");
	ck_assert_ptr_null(c.argv[8]);
	/* IPv6: iscsiadm takes the address in brackets. */
	iscsi_cmd_discovery(&c, "fd00::10", 3261);
	ck_assert_str_eq(joined(&c), "/usr/sbin/iscsiadm -m discovery -t st "
				     "-p [fd00::10]:3261");
	iscsi_cmd_login(&c, "iqn.2026-11.com.example.san:t", "fd00::10", 3261);
	ck_assert_str_eq(c.argv[6], "[fd00::10]:3261");
	ck_assert_int_eq(ISCSI_CMD_EXIT_SESS_EXISTS, 15);
}
END_TEST

START_TEST(device_link)
{
	char d[256];

	/* udev's path_id: ip-ADDR:PORT-iscsi-TARGET-lun-N. */
	iscsi_cmd_device(d, sizeof(d), "10.0.0.10", 3260,
			 "iqn.2026-11.com.example.san:templates", 1);
	ck_assert_str_eq(d, "/dev/disk/by-path/ip-10.0.0.10:3260-iscsi-"
			    "iqn.2026-11.com.example.san:templates-lun-1");
	iscsi_cmd_device(d, sizeof(d), "fd00::10", 3260, "iqn.2026-11.x:t", 0);
	ck_assert_str_eq(d, "/dev/disk/by-path/ip-fd00::10:3260-iscsi-"
			    "iqn.2026-11.x:t-lun-0");
}
END_TEST

START_TEST(register_line)
{
	struct iscsi_cmd c;

	iscsi_cmd_register(&c, 0x4a4eba7207232f14ull, "/dev/disk/by-path/x");
	ck_assert_str_eq(joined(&c),
			 "/usr/bin/sg_persist --out --no-inquiry "
			 "--register-ignore --param-sark=0x4a4eba7207232f14 "
			 "/dev/disk/by-path/x");
	iscsi_cmd_register(&c, 0x1, "/dev/sdx");
	ck_assert_str_eq(c.argv[4], "--param-sark=0x1");
	ck_assert_ptr_null(c.argv[6]);
}
END_TEST

/* The real sg_persist parses the line: with a regular file in place of the
 * LUN it gets as far as the SCSI pass-through (ENOTTY), not a usage error
 * (exit 1). */
START_TEST(sg_persist_takes_it)
{
	struct iscsi_cmd c;
	char *dir, *file, err[4096];
	int st, fd;
	pid_t pid;

	if (access(ISCSI_CMD_SG_PERSIST, X_OK) != 0) {
		printf("note: no %s (package sg3-utils): its parse of the "
		       "line is not checked\n",
		       ISCSI_CMD_SG_PERSIST);
		return;
	}
	dir = tu_tmpdir();
	file = tu_write(dir, "lun", "not a SCSI device\n");
	iscsi_cmd_register(&c, 0x4a4eba7207232f14ull, file);
	char errpath[512];
	snprintf(errpath, sizeof(errpath), "%s/err", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(c.argv[0], (char *const *)c.argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	tu_sh_out(err, sizeof(err), "cat '%s'", errpath);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 1 &&
			      WEXITSTATUS(st) != 127 && WEXITSTATUS(st) != 0,
		      "sg_persist: status 0x%x: %s", st, err);
	ck_assert_msg(strstr(err, "Register and ignore existing key"), "%s",
		      err);
	ck_assert_msg(strstr(err, "Inappropriate ioctl"), "%s", err);
	tu_rmdir(dir);
	free(dir);
	free(file);
}
END_TEST

START_TEST(initiator_name_file)
{
	char n[128];

	ck_assert_int_eq(
		iscsi_cmd_initiatorname("## DO NOT EDIT OR REMOVE THIS FILE!\n"
					"## If you remove this file, the iSCSI "
					"daemon will not start.\n"
					"InitiatorName=iqn.2026-11.com.example:"
					"cvknode1\n",
					n, sizeof(n)),
		0);
	ck_assert_str_eq(n, "iqn.2026-11.com.example:cvknode1");
	ck_assert_int_eq(
		iscsi_cmd_initiatorname("  InitiatorName=iqn.2026-11.x:y \r\n",
					n, sizeof(n)),
		0);
	ck_assert_str_eq(n, "iqn.2026-11.x:y");
	ck_assert_int_eq(iscsi_cmd_initiatorname("#InitiatorName=iqn.x:y\n", n,
						 sizeof(n)),
			 -ENOENT);
	ck_assert_int_eq(
		iscsi_cmd_initiatorname("InitiatorName=\n", n, sizeof(n)),
		-ENOENT);
	ck_assert_int_eq(iscsi_cmd_initiatorname("", n, sizeof(n)), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("iscsi_cmd");
	TCase *tc = tcase_create("iscsi_cmd");

	tcase_add_test(tc, discovery_and_login);
	tcase_add_test(tc, device_link);
	tcase_add_test(tc, register_line);
	tcase_add_test(tc, sg_persist_takes_it);
	tcase_add_test(tc, initiator_name_file);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
