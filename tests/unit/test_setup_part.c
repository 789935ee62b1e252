/* The pure parts of the database partition: what the agent's PARTITION
 * reads in `sfdisk --dump` (a real dump of sfdisk 2.38, with one of its
 * warnings mixed in, as the agent gets stdout and stderr together), where
 * it puts a new partition (1 MiB aligned, never over another), and how
 * `cmsadm recover` names the peer's own disk in the peer's config. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "setup_disk.h"
#include "setup_part.h"
#include "testutil.h"

static const char dump[] =
	"GPT PMBR size mismatch (196607 != 262143) will be corrected by "
	"write.\n"
	"label: gpt\n"
	"label-id: 3B6E31B2-0710-2149-AEA6-0C22DE2BBDF1\n"
	"device: /dev/sda\n"
	"unit: sectors\n"
	"first-lba: 2048\n"
	"last-lba: 196574\n"
	"sector-size: 512\n"
	"\n"
	"/dev/sda1 : start=        2048, size=       16384, "
	"type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, "
	"uuid=0FBDC7D1-16BB-5449-89C6-D388400E62AE, name=\"sys\"\n"
	"/dev/sda2 : start=       43008, size=       81920, "
	"type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, "
	"uuid=BD83B975-034B-9349-AEF1-D06888E8BB41, name=\"cmsd-db\"\n";

START_TEST(parse_dump)
{
	struct setup_part_table t;

	ck_assert_int_eq(setup_part_parse(dump, &t), 0);
	ck_assert_str_eq(t.label, "gpt");
	ck_assert_uint_eq(t.first_lba, 2048);
	ck_assert_uint_eq(t.last_lba, 196574);
	ck_assert_uint_eq(t.sector_size, 512);
	ck_assert_int_eq(t.n, 2);
	ck_assert_uint_eq(t.p[0].number, 1);
	ck_assert_uint_eq(t.p[0].start, 2048);
	ck_assert_uint_eq(t.p[0].size, 16384);
	ck_assert_str_eq(t.p[0].name, "sys");
	ck_assert_uint_eq(t.p[1].number, 2);
	ck_assert_uint_eq(t.p[1].start, 43008);
	ck_assert_uint_eq(t.p[1].size, 81920);
	ck_assert_str_eq(t.p[1].name, "cmsd-db");
	/* no table: sfdisk's words only */
	ck_assert_int_eq(setup_part_parse("sfdisk: /dev/sdb: does not contain "
					  "a recognized partition table\n",
					  &t),
			 -EINVAL);
}
END_TEST

START_TEST(fit)
{
	struct setup_part_table t;
	uint64_t start = 0, largest = 0;

	ck_assert_int_eq(setup_part_parse(dump, &t), 0);
	/* the gap between sys and cmsd-db: 18432..43007, 12 MiB */
	ck_assert(setup_part_fit(&t, 12 * 2048, &start, &largest));
	ck_assert_uint_eq(start, 18432);
	ck_assert_uint_eq(largest, 34);
	/* too big for it: after cmsd-db, 124928..196574 */
	ck_assert(setup_part_fit(&t, 13 * 2048, &start, &largest));
	ck_assert_uint_eq(start, 124928);
	/* 34 MiB is the most in one piece */
	ck_assert(setup_part_fit(&t, 34 * 2048, &start, &largest));
	ck_assert(!setup_part_fit(&t, 35 * 2048, &start, &largest));
	ck_assert_uint_eq(largest, 34);
	/* an empty table of a 4 KiB-sector disk: aligned at 1 MiB = 256 */
	memset(&t, 0, sizeof(t));
	t.first_lba = 6;
	t.last_lba = 16383 - 6;
	t.sector_size = 4096;
	ck_assert(setup_part_fit(&t, 10 * 256, &start, &largest));
	ck_assert_uint_eq(start, 256);
	ck_assert_uint_eq(largest, 62);
}
END_TEST

static const char conf[] = "<cmsd version=\"1\" mode=\"node\" node=\"node1\">\n"
			   "  <storage id=\"db\" plugin=\"storage-drbd\">\n"
			   "    <resource>r0</resource>\n"
			   "    <disk node=\"node1\">/dev/sda3</disk>\n"
			   "    <disk node=\"node2\">/dev/sda3</disk>\n"
			   "  </storage>\n"
			   "  <storage id=\"tpl\" plugin=\"storage-drbd\">\n"
			   "    <resource>r1</resource>\n"
			   "    <disk>/dev/sdb</disk>\n"
			   "  </storage>\n"
			   "</cmsd>\n";

static char *dumped(xmlDoc *d)
{
	xmlChar *out = NULL;
	int len = 0;
	char *s;

	xmlDocDumpMemory(d, &out, &len);
	s = strndup((const char *)out, (size_t)len);
	xmlFree(out);
	return s;
}

START_TEST(disk_set)
{
	xmlDoc *d = xmlReadMemory(conf, sizeof(conf) - 1, "c.xml", NULL, 0);
	char *s;

	ck_assert_ptr_nonnull(d);
	/* the peer's own <disk node=> changes, node1's stays */
	ck_assert_int_eq(setup_disk_set(d, "db", "node2", "/dev/sdb3"), 0);
	ck_assert_int_eq(setup_disk_set(d, "db", "node2", "/dev/sdb3"), 1);
	/* a storage with one <disk> for both: node2's is added after it */
	ck_assert_int_eq(setup_disk_set(d, "tpl", "node2", "/dev/sdb"), 1);
	ck_assert_int_eq(setup_disk_set(d, "tpl", "node2", "/dev/vdb"), 0);
	ck_assert_int_eq(setup_disk_set(d, "nope", "node2", "/dev/sdb"),
			 -ENOENT);
	s = dumped(d);
	ck_assert_ptr_nonnull(
		strstr(s, "    <disk node=\"node1\">/dev/sda3</disk>\n"
			  "    <disk node=\"node2\">/dev/sdb3</disk>\n"));
	ck_assert_ptr_nonnull(
		strstr(s, "    <disk>/dev/sdb</disk>\n"
			  "    <disk node=\"node2\">/dev/vdb</disk>\n"
			  "  </storage>"));
	free(s);
	xmlFreeDoc(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("setup_part");
	TCase *tc = tcase_create("setup_part");

	tcase_add_test(tc, parse_dump);
	tcase_add_test(tc, fit);
	tcase_add_test(tc, disk_set);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
