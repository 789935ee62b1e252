/* cmsadm sync-partition's pure parts (agent/syncpart.h): every refusal's
 * exact message, the facts' wire form, the mountinfo lookup, and the XML
 * edit that adds and removes r1 keeping the rest of the file. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncpart.h"
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

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(conf_refusals)
{
	struct syncpart_view v = {0};
	char msg[512];

	ck_assert_int_eq(syncpart_check_conf(&v, true, "r2", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(msg, "sync-partition add \"r2\": the local sync "
			      "partition is named r1 (there is only one; r0 "
			      "is the database partition)");
	ck_assert_int_eq(syncpart_check_conf(&v, true, "r0", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(syncpart_check_conf(&v, true, "r1", msg, sizeof(msg)),
			 0);
	ck_assert_int_eq(syncpart_check_conf(&v, false, "r1", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(msg, "sync-partition remove r1: no local sync "
			      "partition is configured (no storage-drbd "
			      "element with resource r1)");

	snprintf(v.r1_id, sizeof(v.r1_id), "tpl");
	ck_assert_int_eq(syncpart_check_conf(&v, true, "r1", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(msg, "sync-partition add r1: a local sync partition "
			      "is already configured (<storage id=\"tpl\">, "
			      "resource r1): there is only one");
	ck_assert_int_eq(syncpart_check_conf(&v, false, "r1", msg, sizeof(msg)),
			 0);

	v = (struct syncpart_view){.lun_id = "lun", .lun_plugin = "storage-fc"};
	ck_assert_int_eq(syncpart_check_conf(&v, true, "r1", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(msg, "sync-partition add r1: not with an FC/iSCSI "
			      "LUN attached: <storage id=\"lun\" "
			      "plugin=\"storage-fc\"> is configured");
}
END_TEST

START_TEST(fact_refusals)
{
	const struct syncpart_facts ok = {.present = 1, .size = 1048576};
	struct syncpart_facts a = ok, b = ok;
	char msg[512];

#define CHECK(expect)                                                          \
	do {                                                                   \
		ck_assert_int_eq(syncpart_check_facts("/dev/sdc", "cvknode1",  \
						      &a, "cvknode2", &b, msg, \
						      sizeof(msg)),            \
				 -EINVAL);                                     \
		ck_assert_str_eq(msg, expect);                                 \
		a = ok;                                                        \
		b = ok;                                                        \
	} while (0)

	ck_assert_int_eq(syncpart_check_facts("/dev/sdc", "cvknode1", &a,
					      "cvknode2", &b, msg, sizeof(msg)),
			 0);
	b.present = 0;
	CHECK("sync-partition add r1: /dev/sdc does not exist on cvknode2 "
	      "(the disk must have the same name on both nodes)");
	a.present = -1;
	CHECK("sync-partition add r1: /dev/sdc on cvknode1 is not a block "
	      "device");
	a.r0 = true;
	CHECK("sync-partition add r1: /dev/sdc on cvknode1 is the disk of the "
	      "database partition r0");
	snprintf(b.mounted_on, sizeof(b.mounted_on), "/mnt/x");
	CHECK("sync-partition add r1: /dev/sdc is mounted on cvknode2 at "
	      "/mnt/x");
	b.compute = 1;
	snprintf(b.why, sizeof(b.why), "hook: runs VMs");
	CHECK("sync-partition add r1: cvknode2 is also a compute host (hook: "
	      "runs VMs): a sync partition is refused on compute hosts");
	a.compute = -1;
	snprintf(a.why, sizeof(a.why), "hook: exit status 3");
	CHECK("sync-partition add r1: cannot tell whether cvknode1 is a "
	      "compute host: hook: exit status 3");
	b.size = 2097152;
	CHECK("sync-partition add r1: /dev/sdc differs in size: 1048576 bytes "
	      "on cvknode1, 2097152 bytes on cvknode2 (the disks must be the "
	      "same size)");
#undef CHECK
}
END_TEST

START_TEST(facts_wire)
{
	struct syncpart_facts f = {.present = 1,
				   .size = 123456789012ull,
				   .r0 = true,
				   .compute = -1,
				   .mounted_on = "/mnt/a\\040b",
				   .why = "hook: exit status 2: no answer"},
			      g;
	char line[1024];

	syncpart_facts_format(&f, line, sizeof(line));
	ck_assert_int_eq(syncpart_facts_parse(line, &g), 0);
	ck_assert_int_eq(g.present, 1);
	ck_assert_uint_eq(g.size, 123456789012ull);
	ck_assert(g.r0);
	ck_assert_int_eq(g.compute, -1);
	ck_assert_str_eq(g.mounted_on, "/mnt/a\\040b");
	ck_assert_str_eq(g.why, "hook: exit status 2: no answer");
	f = (struct syncpart_facts){.present = 0};
	syncpart_facts_format(&f, line, sizeof(line));
	ck_assert_int_eq(syncpart_facts_parse(line, &g), 0);
	ck_assert_int_eq(g.present, 0);
	ck_assert_str_eq(g.mounted_on, "");
	ck_assert_str_eq(g.why, "");
	ck_assert_int_eq(syncpart_facts_parse("present=1 size=x", &g), -EPROTO);
	ck_assert_int_eq(syncpart_facts_parse("", &g), -EPROTO);
}
END_TEST

START_TEST(mountinfo)
{
	static const char mi[] =
		"22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
		"40 22 7:3 / /mnt/lun rw - ext4 /dev/loop3 rw\n"
		"41 22 0:5 / /dev rw - devtmpfs udev rw\n";
	char where[64];

	ck_assert(syncpart_mountinfo_find(mi, 7, 3, where, sizeof(where)));
	ck_assert_str_eq(where, "/mnt/lun");
	ck_assert(syncpart_mountinfo_find(mi, 8, 1, where, sizeof(where)));
	ck_assert_str_eq(where, "/");
	ck_assert(!syncpart_mountinfo_find(mi, 7, 4, where, sizeof(where)));
	ck_assert(!syncpart_mountinfo_find("", 7, 3, where, sizeof(where)));
}
END_TEST

static const char base_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!-- the operator's own words -->\n"
	"<cmsd version=\"1\" mode=\"node\" node=\"node1\">\n"
	"  <quorum id=\"q\" plugin=\"quorum-ping\"/>\n"
	"  <storage id=\"db\" plugin=\"storage-drbd\">\n"
	"    <resource>r0</resource>\n"
	"    <minor>0</minor>\n"
	"    <disk>/dev/sdb1</disk>\n"
	"    <port>7789</port>\n"
	"    <mount>/var/lib/mysql-share</mount>\n"
	"    <config-dir>/tmp/drbd.d</config-dir>\n"
	"    <drbd-version>8.4</drbd-version>\n"
	"  </storage>\n"
	"  <!-- the group, in order -->\n"
	"  <group id=\"vms\">\n"
	"    <resource id=\"sync\" plugin=\"resource-dummy\"/>\n"
	"  </group>\n"
	"</cmsd>\n";

START_TEST(xml_add_remove)
{
	char *in = tu_write(dir, "in.xml", base_xml), *added, *removed;
	char *p_add, *p_rm, err[512] = "", adm[256], res[256];
	struct syncpart_new nw = {.disk = "/dev/sdc", .mount = "/vms/sync"};

	ck_assert_int_ge(asprintf(&p_add, "%s/add.xml", dir), 0);
	ck_assert_int_ge(asprintf(&p_rm, "%s/rm.xml", dir), 0);
	ck_assert_int_eq(syncpart_xml_add(in, p_add, &nw, err, sizeof(err)), 0);
	/* Next to r0's minor and port; the id "sync" is a resource's. */
	ck_assert_uint_eq(nw.minor, 1);
	ck_assert_uint_eq(nw.port, 7790);
	ck_assert_str_eq(nw.id, "sync1");
	added = slurp(p_add);
	ck_assert_ptr_nonnull(strstr(
		added, "  </storage>\n"
		       "  <storage id=\"sync1\" plugin=\"storage-drbd\">\n"
		       "    <resource>r1</resource>\n"
		       "    <minor>1</minor>\n"
		       "    <disk>/dev/sdc</disk>\n"
		       "    <port>7790</port>\n"
		       "    <mount>/vms/sync</mount>\n"
		       "    <config-dir>/tmp/drbd.d</config-dir>\n"
		       "    <drbd-version>8.4</drbd-version>\n"
		       "  </storage>\n"
		       "  <!-- the group, in order -->\n"));
	ck_assert_ptr_nonnull(strstr(added, "<!-- the operator's own words"));
	/* A second add is refused by the edit too. */
	nw = (struct syncpart_new){.disk = "/dev/sdd", .mount = "/x"};
	ck_assert_int_eq(syncpart_xml_add(p_add, p_rm, &nw, err, sizeof(err)),
			 -EEXIST);
	/* The peer writes the initiator's minor and port. */
	nw = (struct syncpart_new){
		.disk = "/dev/sdc", .mount = "/m", .minor = 5, .port = 7800};
	ck_assert_int_eq(syncpart_xml_add(in, p_rm, &nw, err, sizeof(err)), 0);
	ck_assert_uint_eq(nw.minor, 5);
	ck_assert_uint_eq(nw.port, 7800);
	/* Removing it gives back the file as it was, byte for byte. */
	ck_assert_int_eq(syncpart_xml_remove(p_add, p_rm, adm, sizeof(adm), res,
					     sizeof(res), err, sizeof(err)),
			 0);
	ck_assert_str_eq(adm, "/usr/sbin/drbdadm");
	ck_assert_str_eq(res, "/tmp/drbd.d/r1.res");
	removed = slurp(p_rm);
	ck_assert_str_eq(removed, base_xml);
	ck_assert_int_eq(syncpart_xml_remove(in, p_rm, adm, sizeof(adm), res,
					     sizeof(res), err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no storage-drbd element with "
					  "resource r1"));
	free(added);
	free(removed);
	free(p_add);
	free(p_rm);
	free(in);
}
END_TEST

/* What the loaded config says, on the config of test_conf's rule (r0,
 * r1 and an iSCSI LUN after it), validated by the real plugins. */
START_TEST(scan_loaded_config)
{
	char path[512];
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR,
				    .local_node = "node2"};
	struct conf *c = NULL;
	struct syncpart_view v;
	char msg[512];

	snprintf(path, sizeof(path), "%s/tests/unit/conf/sync-before-lun.xml",
		 SOURCE_DIR);
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, &c), 0);
	syncpart_scan(c, &v);
	ck_assert_str_eq(v.r1_id, "sync");
	ck_assert_str_eq(v.lun_id, "templates");
	ck_assert_str_eq(v.lun_plugin, "storage-iscsi");
	ck_assert_str_eq(v.r0_disk, "/dev/sdb3");
	/* Only one, and the LUN: "only one" is said first. */
	ck_assert_int_eq(syncpart_check_conf(&v, true, "r1", msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "there is only one"));
	ck_assert_int_eq(syncpart_check_conf(&v, false, "r1", msg, sizeof(msg)),
			 0);
	conf_free(c);
}
END_TEST

START_TEST(xml_unreadable)
{
	char *in = tu_write(dir, "bad.xml", "<cmsd><storage>"), *out;
	char err[512] = "";
	struct syncpart_new nw = {.disk = "/dev/sdc", .mount = "/m"};

	ck_assert_int_ge(asprintf(&out, "%s/out.xml", dir), 0);
	ck_assert_int_eq(syncpart_xml_add(in, out, &nw, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "bad.xml: cannot read the XML"));
	free(out);
	free(in);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("syncpart");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_refusals);
	tcase_add_test(tc, fact_refusals);
	tcase_add_test(tc, facts_wire);
	tcase_add_test(tc, mountinfo);
	tcase_add_test(tc, xml_add_remove);
	tcase_add_test(tc, xml_unreadable);
	tcase_add_test(tc, scan_loaded_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
