/* cmsadm drbd-handler: how cmsd's reply becomes the handler's exit code
 * (tools/cmsadm/handler.c), and that an unreachable cmsd never reads as
 * "peer fenced". */
#include <check.h>
#include <errno.h>

#include "handler.h"
#include "testutil.h"

START_TEST(reply_codes)
{
	/* What agent/daemon.c sends: "%d %s\n". */
	ck_assert_int_eq(handler_reply_code("7 the arbiter holds data "
					    "generation 12 for node1\n"),
			 7);
	ck_assert_int_eq(handler_reply_code("0 noted\n"), 0);
	ck_assert_int_eq(
		handler_reply_code("1 this node is slave, not "
				   "master: it does not fence node2\n"),
		1);
	ck_assert_int_eq(handler_reply_code("4\n"), 4);
	ck_assert_int_eq(handler_reply_code("255"), 255);
}
END_TEST

START_TEST(reply_wait)
{
	ck_assert_int_eq(handler_reply_code("wait waiting for the arbiter to "
					    "acknowledge data generation 9\n"),
			 HANDLER_WAIT);
	ck_assert_int_eq(handler_reply_code("wait\n"), HANDLER_WAIT);
	ck_assert_int_eq(handler_reply_code("waiting\n"), -EINVAL);
}
END_TEST

START_TEST(reply_malformed)
{
	ck_assert_int_eq(handler_reply_code(""), -EINVAL);
	ck_assert_int_eq(handler_reply_code(NULL), -EINVAL);
	ck_assert_int_eq(handler_reply_code(" 7 x"), -EINVAL);
	ck_assert_int_eq(handler_reply_code("7x"), -EINVAL);
	ck_assert_int_eq(handler_reply_code("-1 x"), -EINVAL);
	ck_assert_int_eq(handler_reply_code("256 x"), -EINVAL);
	ck_assert_int_eq(handler_reply_code("0007 x"), -EINVAL);
	ck_assert_int_eq(handler_reply_code("fenced"), -EINVAL);
}
END_TEST

START_TEST(unreachable)
{
	/* Never 4 (outdated) or 7 (fenced) when nobody decided. */
	ck_assert_int_eq(handler_unreachable_code("fence-peer"), 1);
	ck_assert_int_eq(handler_unreachable_code("split-brain"), 0);
	ck_assert_int_eq(handler_unreachable_code("after-resync-target"), 0);
	ck_assert_int_eq(handler_unreachable_code(NULL), 0);
}
END_TEST

START_TEST(words)
{
	ck_assert(handler_word_ok("fence-peer"));
	ck_assert(handler_word_ok("r0"));
	ck_assert(handler_word_ok("after-resync-target"));
	ck_assert(!handler_word_ok(""));
	ck_assert(!handler_word_ok(NULL));
	ck_assert(!handler_word_ok("r0 status"));
	ck_assert(!handler_word_ok("r0\n"));
	ck_assert(!handler_word_ok(
		"a123456789b123456789c123456789d123456789e123456789f1234567890"
		"xyz"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cmsadm_handler");
	TCase *tc = tcase_create("cmsadm_handler");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, reply_codes);
	tcase_add_test(tc, reply_wait);
	tcase_add_test(tc, reply_malformed);
	tcase_add_test(tc, unreachable);
	tcase_add_test(tc, words);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
