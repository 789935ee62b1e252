/* The control protocol's request parser and the status renderings. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctlproto.h"
#include "testutil.h"

START_TEST(requests)
{
	enum ctl_req r;
	char err[256];

	ck_assert_int_eq(ctl_parse_request("status", 6, &r, err, sizeof(err)),
			 0);
	ck_assert_int_eq(r, CTL_REQ_STATUS);
	ck_assert_int_eq(
		ctl_parse_request("status json\r", 12, &r, err, sizeof(err)),
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
	ck_assert_int_eq(
		ctl_parse_request(junk, sizeof(junk), &r, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err,
			 "unknown command \"AAA?AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...\"");
}
END_TEST

static const struct status_res two_up[] = {
	{.id = "arbiter",
	 .element = "quorum",
	 .plugin = "quorum-cmsd",
	 .version = "0.1.0",
	 .state = "Started",
	 .node = "cvknode1",
	 .last_error = ""},
	{.id = "webip",
	 .element = "resource",
	 .plugin = "resource-vip",
	 .version = "0.1.0",
	 .state = "Started",
	 .node = "cvknode1",
	 .detail = "172.16.60.55",
	 .last_error = ""},
	{.id = "mysql",
	 .element = "resource",
	 .plugin = "resource-mysql",
	 .version = "0.1.0",
	 .state = "Started",
	 .node = "cvknode1",
	 .last_error = ""},
	{.id = "tomcat",
	 .element = "resource",
	 .plugin = "resource-tomcat",
	 .version = "0.1.0",
	 .state = "Started",
	 .node = "cvknode1",
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
		.slave_state = "Online",
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
	ck_assert_ptr_nonnull(
		strstr(b.s, "role   : master: holds the lease\n"));
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
	struct status_res r = {.id = "a\"b",
			       .element = "resource",
			       .plugin = "p",
			       .version = "1",
			       .state = "Failed",
			       .last_error = "line1\nline2\t\\ \x01"};
	struct status_view v = {.mode = "node",
				.role = "master",
				.role_reason = "r",
				.res = &r,
				.n_res = 1};
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

START_TEST(oversized_request)
{
	enum ctl_req r;
	char err[256];
	char *big = malloc(CTL_REQUEST_MAX + 10);

	memset(big, 'x', CTL_REQUEST_MAX + 10);
	ck_assert_int_eq(
		ctl_parse_request(big, CTL_REQUEST_MAX, &r, err, sizeof(err)),
		-EMSGSIZE);
	ck_assert_str_eq(err, "request too long (max 4096 bytes)");
	/* One byte under the limit (the "\n" makes it 4096) is parsed. */
	ck_assert_int_eq(ctl_parse_request(big, CTL_REQUEST_MAX - 1, &r, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown command \"xxxx"));
	free(big);
}
END_TEST

START_TEST(replies)
{
	char *body;

	ck_assert_int_eq(ctl_parse_reply("OK 3\nabc", 8, &body), 0);
	ck_assert_str_eq(body, "abc");
	free(body);
	ck_assert_int_eq(ctl_parse_reply("OK 0\n", 5, &body), 0);
	ck_assert_str_eq(body, "");
	free(body);
	ck_assert_int_eq(ctl_parse_reply("ERR no such thing\n", 18, &body), 1);
	ck_assert_str_eq(body, "no such thing\n");
	free(body);
	/* Cut short, too long, no count, no header, nothing. */
	ck_assert_int_eq(ctl_parse_reply("OK 4\nabc", 8, &body), -EPROTO);
	ck_assert_ptr_null(body);
	ck_assert_int_eq(ctl_parse_reply("OK 2\nabc", 8, &body), -EPROTO);
	ck_assert_int_eq(ctl_parse_reply("OK\nabc", 6, &body), -EPROTO);
	ck_assert_int_eq(ctl_parse_reply("OK -1\n", 6, &body), -EPROTO);
	ck_assert_int_eq(
		ctl_parse_reply("OK 99999999999999999999999\n", 27, &body),
		-EPROTO);
	ck_assert_int_eq(ctl_parse_reply("HTTP/1.1 200\n", 13, &body), -EPROTO);
	ck_assert_int_eq(ctl_parse_reply("", 0, &body), -EPROTO);
}
END_TEST

static const struct status_res standalone_res[] = {
	{.id = "first",
	 .element = "resource",
	 .plugin = "resource-dummy",
	 .version = "1.0",
	 .state = "Started",
	 .node = "testhost",
	 .health = "RUNNING",
	 .last_error = "",
	 .ops = 3},
	{.id = "second",
	 .element = "resource",
	 .plugin = "resource-dummy",
	 .version = "1.0",
	 .state = "Failed",
	 .last_error = "start: timed out after 500 ms",
	 .ops = 1,
	 .timeouts = 1},
};

START_TEST(text_standalone_explains)
{
	struct status_view v = {
		.version = "0.1.0",
		.mode = "node",
		.cluster_id = "test",
		.node_id = "t1",
		.node_name = "testhost",
		.role = "master",
		.role_reason = "standalone",
		.master_name = "testhost",
		.standalone = true,
		.quorum = "none",
		.config = "/etc/cmsd/cmsd.xml",
		.plugin_dir = "/usr/lib/cmsd/plugins",
		.uptime_s = 3725,
		.res = standalone_res,
		.n_res = 2,
	};
	struct sbuf b = {0};

	ctl_render_text(&v, &b);
	ck_assert_str_eq(
		b.s,
		"master : testhost (Online)\n"
		"slave  : none (standalone)\n"
		"quorum : none\n"
		"-----\n"
		"first  : Started testhost\n"
		"second : Failed\n"
		"-----\n"
		"role   : master: standalone\n"
		"node   : t1 (testhost), cluster test, node mode, cmsd 0.1.0, "
		"up 1h02m05s\n"
		"config : /etc/cmsd/cmsd.xml (plugins from "
		"/usr/lib/cmsd/plugins)\n"
		"first  : resource resource-dummy 1.0: Started on testhost, "
		"monitor RUNNING, 3 ops\n"
		"second : resource resource-dummy 1.0: Failed, 1 op, 1 timed "
		"out\n"
		"error  : second: start: timed out after 500 ms\n");
	sbuf_free(&b);

	/* A two-node cluster before the cluster core: no master, the peer's
	 * state unknown rather than guessed. */
	v.role = "startup";
	v.master_name = NULL;
	v.standalone = false;
	v.slave_name = "peer";
	v.slave_state = NULL;
	v.n_res = 0;
	v.uptime_s = 59;
	ctl_render_text(&v, &b);
	const char *want = "master : none\n"
			   "slave  : peer (Unknown)\n"
			   "quorum : none\n"
			   "-----\n"
			   "-----\n"
			   "role   : startup: standalone\n";
	ck_assert_int_eq(strncmp(b.s, want, strlen(want)), 0);
	ck_assert_ptr_nonnull(strstr(b.s, ", up 59s\n"));
	sbuf_free(&b);
}
END_TEST

START_TEST(client_hung_daemon)
{
	char dir[] = "/tmp/test_ctl.XXXXXX";
	char path[128];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *body = (char *)1;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	/* Listening, never answering: connect and send succeed, the reply
	 * never comes. */
	ck_assert_int_eq(ctl_client_call(path, "status", 300, &body),
			 -ETIMEDOUT);
	ck_assert_ptr_null(body);
	/* Its backlog full: a blocking connect would wait for ever. */
	int extra[64], n_extra = 0;
	while (n_extra < 64) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(c, 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(c);
			break;
		}
		extra[n_extra++] = c;
	}
	ck_assert_int_lt(n_extra, 64);
	ck_assert_int_eq(ctl_client_call(path, "status", 300, &body),
			 -ETIMEDOUT);
	while (n_extra > 0)
		close(extra[--n_extra]);
	close(fd);
	unlink(path);
	rmdir(dir);
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
	tcase_add_test(tc, oversized_request);
	tcase_add_test(tc, replies);
	tcase_add_test(tc, text_standalone_explains);
	tcase_add_test(tc, client_cannot_connect);
	tcase_add_test(tc, client_hung_daemon);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
