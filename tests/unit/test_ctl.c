/* The control protocol's request parser and the status renderings. */
#include <errno.h>

#include "ctlproto.h"
#include "testutil.h"

START_TEST(requests)
{
	enum ctl_req r;
	char err[256];

	ck_assert_int_eq(ctl_parse_request("status", 6, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_STATUS);
	ck_assert_int_eq(ctl_parse_request("status json\r", 12, &r, err,
					   sizeof(err)),
			 0);
	ck_assert_int_eq(r, CTL_REQ_STATUS_JSON);
	ck_assert_int_eq(ctl_parse_request("version", 7, &r, err, sizeof(err)),
			 0);
	ck_assert_int_eq(ctl_parse_request("rm -rf /", 8, &r, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "unknown command \"rm -rf /\"");
	ck_assert_int_eq(ctl_parse_request("stat\0us", 7, &r, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "request contains a NUL byte");
	ck_assert_int_eq(ctl_parse_request("", 0, &r, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "unknown command \"\"");
	char junk[200];
	memset(junk, 'A', sizeof(junk));
	junk[3] = '\x01';
	ck_assert_int_eq(ctl_parse_request(junk, sizeof(junk), &r, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "unknown command \"AAA?AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...\"");
}
END_TEST

static const struct status_res two_up[] = {
	{.id = "arbiter", .element = "quorum", .plugin = "quorum-cmsd",
	 .version = "0.1.0", .state = "Started", .node = "cvknode1",
	 .last_error = ""},
	{.id = "webip", .element = "resource", .plugin = "resource-vip",
	 .version = "0.1.0", .state = "Started", .node = "cvknode1",
	 .detail = "172.16.60.55", .last_error = ""},
	{.id = "mysql", .element = "resource", .plugin = "resource-mysql",
	 .version = "0.1.0", .state = "Started", .node = "cvknode1",
	 .last_error = ""},
	{.id = "tomcat", .element = "resource", .plugin = "resource-tomcat",
	 .version = "0.1.0", .state = "Started", .node = "cvknode1",
	 .last_error = "monitor: failed: Connection refused"},
};

START_TEST(text_reference_lines)
{
	struct status_view v = {
		.mode = "node",
		.role = "master",
		.role_reason = "holds the lease",
		.master_name = "cvknode1",
		.slave_name = "cvknode2",
		.slave_online = true,
		.quorum = "[controller] cvknode3 (Online)",
		.res = two_up,
		.n_res = 4,
	};
	struct sbuf b = {0};

	ctl_render_text(&v, &b);
	const char *want = "master : cvknode1 (Online)\n"
			   "slave  : cvknode2 (Online)\n"
			   "quorum : [controller] cvknode3 (Online)\n"
			   "-----\n"
			   "webip  : [172.16.60.55] Started cvknode1\n"
			   "mysql  : Started cvknode1\n"
			   "tomcat : Started cvknode1\n"
			   "-----\n";
	ck_assert_int_eq(strncmp(b.s, want, strlen(want)), 0);
	ck_assert_ptr_nonnull(strstr(b.s, "role   : master: holds the lease\n"));
	ck_assert_ptr_nonnull(strstr(b.s, "error  : tomcat: monitor: failed: "
					  "Connection refused\n"));
	sbuf_free(&b);

	v.standalone = true;
	v.slave_name = NULL;
	v.quorum = NULL;
	v.n_res = 0;
	ctl_render_text(&v, &b);
	ck_assert_str_eq(b.s, "master : cvknode1 (Online)\n"
			      "slave  : none (standalone)\n"
			      "quorum : none\n"
			      "-----\n"
			      "-----\n"
			      "role   : master: holds the lease\n");
	sbuf_free(&b);
}
END_TEST

START_TEST(json_escaping)
{
	struct status_res r = {.id = "a\"b", .element = "resource",
			       .plugin = "p", .version = "1", .state = "Failed",
			       .last_error = "line1\nline2\t\\ \x01"};
	struct status_view v = {.mode = "node", .role = "master",
				.role_reason = "r", .res = &r, .n_res = 1};
	struct sbuf b = {0};

	ctl_render_json(&v, &b);
	ck_assert_ptr_nonnull(strstr(b.s, "\"id\":\"a\\\"b\""));
	ck_assert_ptr_nonnull(
		strstr(b.s, "\"last_error\":\"line1\\nline2\\t\\\\ \\u0001\""));
	ck_assert_ptr_nonnull(strstr(b.s, "\"master\":null"));
	ck_assert_ptr_nonnull(strstr(b.s, "\"late_completions\":0}]}"));
	sbuf_free(&b);
}
END_TEST

START_TEST(client_cannot_connect)
{
	char *body = (char *)1;

	ck_assert_int_lt(ctl_client_call("/nonexistent/cmsd.sock", "status",
					 1000, &body),
			 0);
	ck_assert_ptr_null(body);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("ctl");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, requests);
	tcase_add_test(tc, text_reference_lines);
	tcase_add_test(tc, json_escaping);
	tcase_add_test(tc, client_cannot_connect);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
