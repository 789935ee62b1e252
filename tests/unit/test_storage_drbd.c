/*
 * storage-drbd's runtime through the agent's instance layer, on a host
 * without the DRBD kernel module (this one: the runtime against real DRBD
 * runs in the QEMU guests of tests/vm).  What can be checked here, with
 * the real drbd-utils: the resource file start writes names both nodes of
 * <cluster> (host->cluster_nodes, SDK 1.3) and is accepted by the real
 * drbdadm; the events2 stream (a streaming child) is restarted when it
 * ends (drbdsetup exits 20 without the module); an op that needs the
 * stream waits and is cancelled at the agent's deadline; status and
 * monitor say the stream is not up; a node that never started demotes at
 * once.  Skipped where DRBD is loaded (it would act on real resources).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "plugtest.h"

static char *dir, *logpath;
static struct conf *conf;
static char out[16384];

static int call(struct instance *in, enum op_kind kind, uint64_t timeout_ms,
		void *args)
{
	return pt_call(in, kind, timeout_ms, args, timeout_ms + 3000);
}

static struct instance *make(void)
{
	char xml[4096];

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\" mode=\"node\" node=\"n1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><key-file>%s/key</key-file>"
		 "<tls ca=\"%s/ca\" cert=\"%s/c\" key=\"%s/k\"/>\n"
		 "<node id=\"n1\" name=\"nodea\"><link "
		 "address=\"10.77.0.1\"/></node>\n"
		 "<node id=\"n2\" name=\"nodeb\"><link "
		 "address=\"10.77.0.2\"/></node></cluster>\n"
		 "<quorum id=\"q\" plugin=\"quorum-ping\"><target>127.0.0.1"
		 "</target><target>127.0.0.2</target></quorum>\n"
		 "<storage id=\"db\" plugin=\"storage-drbd\">"
		 "<resource>r0</resource><disk node=\"n1\">/dev/vdb</disk>"
		 "<disk node=\"n2\">/dev/vdc</disk><port>7790</port>"
		 "<config-dir>%s/drbd.d</config-dir>"
		 "<mount>%s/mnt</mount></storage>\n"
		 "<group id=\"g\"><resource id=\"d\" plugin=\"resource-dummy\" "
		 "storage=\"db\"/></group>\n"
		 "</cmsd>\n",
		 dir, dir, dir, dir, dir, dir, dir);
	return pt_instance(&conf, dir, "cmsd.xml", xml, "db", NULL);
}

static void setup(void)
{
	dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&logpath, "%s/log", dir), 0);
	pt_agent_open(logpath);
}

static void teardown(void)
{
	pt_agent_close(&conf, 1);
	tu_rmdir(dir);
	free(dir);
	free(logpath);
}

START_TEST(never_started_demotes_and_stops_at_once)
{
	struct instance *in = make();
	uint64_t t0 = loop_now_ms();

	ck_assert_int_eq(call(in, OP_MONITOR, 1000, NULL), CMSD_STOPPED);
	ck_assert_int_eq(call(in, OP_DEMOTE, 5000, NULL), 0);
	/* No resource file: nothing was brought up by cmsd. */
	ck_assert_int_eq(call(in, OP_STOP, 5000, NULL), 0);
	ck_assert_uint_lt(loop_now_ms() - t0, 1000);
	instance_free(in);
}
END_TEST

START_TEST(start_writes_both_nodes_and_follows_the_stream)
{
	struct instance *in = make();
	struct cmsd_storage_status st = {.size = sizeof(st)};
	char res[600];
	int no_force = 0;

	/* Without the module the stream never delivers its dump: start
	 * waits for it until the agent's deadline. */
	ck_assert_int_eq(call(in, OP_START, 2500, NULL), -ETIMEDOUT);
	snprintf(res, sizeof(res), "%s/drbd.d/r0.res", dir);
	tu_sh_out(out, sizeof(out), "cat %s", res);
	ck_assert_ptr_nonnull(strstr(out, "resource r0 {"));
	ck_assert_ptr_nonnull(strstr(out, "\ton nodea {"));
	ck_assert_ptr_nonnull(strstr(out, "\ton nodeb {"));
	ck_assert_ptr_nonnull(strstr(out, "disk /dev/vdb;"));
	ck_assert_ptr_nonnull(strstr(out, "disk /dev/vdc;"));
	ck_assert_ptr_nonnull(strstr(out, "address ipv4 10.77.0.1:7790;"));
	ck_assert_ptr_nonnull(strstr(out, "address ipv4 10.77.0.2:7790;"));
	/* What drbdadm makes of it, as each node (8.4 code path). */
	tu_sh_out(out, sizeof(out),
		  "DRBD_DRIVER_VERSION_OVERRIDE=8.4.11 __DRBD_NODE__=nodeb "
		  "drbdadm -c %s -d up r0 2>&1; echo rc=$?",
		  res);
	ck_assert_msg(strstr(out, "rc=0\n"), "%s", out);
	ck_assert_msg(strstr(out, "attach 0 /dev/vdc /dev/vdc internal"), "%s",
		      out);
	ck_assert_msg(strstr(out, "connect r0 ipv4:10.77.0.2:7790 "
				  "ipv4:10.77.0.1:7790"),
		      "%s", out);
	LOG_HAS("db: start: wrote ");
	/* drbdsetup ends at once here; the stream is started again. */
	run_for(1500);
	LOG_HAS("db: events2 ended (exit 20): restarting in 1000 ms");
	LOG_HAS("events2 ended (exit 20): restarting in 2000 ms");
	ck_assert_int_eq(call(in, OP_MONITOR, 1000, NULL), CMSD_UNKNOWN);
	ck_assert_int_eq(call(in, OP_STATUS, 1000, &st), 0);
	ck_assert_str_eq(st.connection, "Unknown");
	ck_assert_str_eq(st.detail, "events2 stream not up");
	ck_assert_int_eq(st.data_usable, 0);
	ck_assert_uint_eq(st.generation, 0);
	ck_assert_int_eq(st.role, CMSD_ROLE_UNKNOWN);
	/* A promote cannot know the disk: it waits, and the deadline
	 * ends it. */
	ck_assert_int_eq(call(in, OP_PROMOTE, 1500, &no_force), -ETIMEDOUT);
	LOG_HAS("db: promote: waiting for the events2 stream");
	/* Nothing was mounted by any of it. */
	tu_sh_out(out, sizeof(out), "grep -c ' %s/mnt ' /proc/self/mountinfo",
		  dir);
	ck_assert_str_eq(out, "0\n");
	instance_free(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("storage_drbd");
	TCase *tc = tcase_create("storage_drbd");
	SRunner *sr;
	int failed;

	setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
	if (access("/proc/drbd", F_OK) == 0) {
		printf("SKIP: DRBD is loaded on this host: the test would act "
		       "on real resources (the tests/vm guests cover it)\n");
		return 77;
	}
	if (access("/usr/sbin/drbdsetup", X_OK) != 0 ||
	    tu_sh("command -v drbdadm >/dev/null") != 0) {
		printf("SKIP: drbd-utils not installed\n");
		return 77;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, never_started_demotes_and_stops_at_once);
	tcase_add_test(tc, start_writes_both_nodes_and_follows_the_stream);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
