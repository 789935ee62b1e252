/* The control protocol's request parser and the status renderings. */
#include <errno.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ctl.h"
#include "ctlproto.h"
#include "loop.h"
#include "testutil.h"

START_TEST(requests)
{
	enum ctl_req r;
	char err[256];

	ck_assert_int_eq(
		ctl_parse_request("status", 6, &r, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_STATUS);
	ck_assert_int_eq(ctl_parse_request("status json\r", 12, &r, NULL, err,
					   sizeof(err)),
			 0);
	ck_assert_int_eq(r, CTL_REQ_STATUS_JSON);
	ck_assert_int_eq(
		ctl_parse_request("role", 4, &r, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_ROLE);
	ck_assert_int_eq(
		ctl_parse_request("events", 6, &r, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_EVENTS);
	ck_assert_int_eq(
		ctl_parse_request("switchover", 10, &r, NULL, err, sizeof(err)),
		0);
	ck_assert_int_eq(r, CTL_REQ_SWITCHOVER);
	ck_assert_int_eq(ctl_parse_request("switchover now", 14, &r, NULL, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(
		ctl_parse_request("version", 7, &r, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(
		ctl_parse_request("rm -rf /", 8, &r, NULL, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "unknown command \"rm -rf /\"");
	ck_assert_int_eq(
		ctl_parse_request("stat\0us", 7, &r, NULL, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "request contains a NUL byte");
	ck_assert_int_eq(ctl_parse_request("", 0, &r, NULL, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "unknown command \"\"");
	char junk[200];
	memset(junk, 'A', sizeof(junk));
	junk[3] = '\x01';
	ck_assert_int_eq(ctl_parse_request(junk, sizeof(junk), &r, NULL, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err,
			 "unknown command \"AAA?AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...\"");
}
END_TEST

/* Requests with arguments: words of [A-Za-z0-9_.-], exactly as many as
 * the request takes; anything else is refused naming the request. */
START_TEST(requests_with_args)
{
	enum ctl_req r;
	struct ctl_args a;
	char err[256];
	const char *ok = "drbd-handler fence-peer r0";

	ck_assert_int_eq(
		ctl_parse_request(ok, strlen(ok), &r, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_DRBD_HANDLER);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_str_eq(a.v[0], "fence-peer");
	ck_assert_str_eq(a.v[1], "r0");
	/* A plain request clears what a previous parse left. */
	ck_assert_int_eq(ctl_parse_request("role", 4, &r, &a, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(a.n, 0);
	static const char *const bad[] = {
		"drbd-handler",
		"drbd-handler fence-peer",
		"drbd-handler fence-peer r0 extra",
		"drbd-handler fence-peer  r0",
		"drbd-handler fence-peer r0 ",
		"drbd-handler fence-peer r0;reboot",
		"drbd-handler fence-peer $(id)",
		"drbd-handler fence-peer "
		"r012345678901234567890123456789012345678901234567890123456789"
		"0123456789", /* 71 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(ctl_parse_request(bad[i], strlen(bad[i]), &r, &a,
						err, sizeof(err)) == -EINVAL,
			      "accepted: %s", bad[i]);
		ck_assert_str_eq(err, "drbd-handler takes 2 arguments "
				      "(letters, digits, \"_.-\", at most 63 "
				      "bytes each)");
	}
	/* A longer name that starts the same is an unknown command. */
	ck_assert_int_eq(ctl_parse_request("drbd-handlerx a b", 17, &r, &a, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "unknown command \"drbd-handlerx a b\"");
}
END_TEST

/* sync-partition's words carry paths: the text after the name, printable
 * ASCII, in args.rest; agent/syncpart.c checks each word. */
START_TEST(sync_partition_request)
{
	enum ctl_req r;
	struct ctl_args a;
	char err[256], line[1200];
	const char *ok = "sync-partition check 12-3 add r1 /dev/sdc";

	ck_assert_int_eq(
		ctl_parse_request(ok, strlen(ok), &r, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(r, CTL_REQ_SYNCPART);
	ck_assert_str_eq(a.rest, "check 12-3 add r1 /dev/sdc");
	ck_assert_int_eq(ctl_parse_request("sync-partition x\ty", 18, &r, &a,
					   err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "sync-partition: arguments of printable ASCII, "
			      "at most 1023 bytes");
	memset(line, 'a', sizeof(line) - 1);
	memcpy(line, "sync-partition ", 15);
	line[sizeof(line) - 1] = '\0';
	ck_assert_int_eq(
		ctl_parse_request(line, strlen(line), &r, &a, err, sizeof(err)),
		-EINVAL);
	/* Without words it is no request. */
	ck_assert_int_eq(ctl_parse_request("sync-partition", 14, &r, &a, err,
					   sizeof(err)),
			 -EINVAL);
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

/* DESIGN.md section 2, character for character: both nodes up, then
 * node1 failed. */
START_TEST(text_reference_states_with_set)
{
	struct status_res res[] = {
		{.id = "db",
		 .element = "storage",
		 .state = "Started",
		 .detail = "/var/lib/mysql-share",
		 .last_error = ""},
		{.id = "webip",
		 .element = "resource",
		 .state = "Started",
		 .node = "cvknode1",
		 .detail = "172.16.60.55",
		 .last_error = ""},
		{.id = "mysql",
		 .element = "resource",
		 .state = "Started",
		 .node = "cvknode1",
		 .last_error = ""},
		{.id = "tomcat",
		 .element = "resource",
		 .state = "Started",
		 .node = "cvknode1",
		 .last_error = ""},
	};
	struct status_view v = {
		.mode = "node",
		.role = "master",
		.master_name = "cvknode1",
		.slave_name = "cvknode2",
		.slave_state = "Online",
		.set_master = "cvknode1",
		.set_slave = "cvknode2",
		.quorum = "[controller] cvknode3 (Online)",
		.res = res,
		.n_res = 4,
	};
	struct sbuf b = {0};

	ctl_render_text(&v, &b);
	const char *up = "master : cvknode1 (Online)\n"
			 "slave  : cvknode2 (Online)\n"
			 "quorum : [controller] cvknode3 (Online)\n"
			 "-----\n"
			 "webip  : [172.16.60.55] Started cvknode1\n"
			 "Master/Slave Set: [/var/lib/mysql-share]\n"
			 "  Master: [cvknode1]\n"
			 "  Slave  : [cvknode2]\n"
			 "mysql  : Started cvknode1\n"
			 "tomcat : Started cvknode1\n"
			 "-----\n";
	ck_assert_int_eq(strncmp(b.s, up, strlen(up)), 0);
	sbuf_free(&b);

	for (int i = 1; i < 4; i++)
		res[i].node = "cvknode2";
	v.master_name = v.set_master = "cvknode2";
	v.slave_name = "cvknode1";
	v.slave_state = "Offline";
	v.set_slave = "Unknown";
	ctl_render_text(&v, &b);
	const char *failed = "master : cvknode2 (Online)\n"
			     "slave  : cvknode1 (Offline)\n"
			     "quorum : [controller] cvknode3 (Online)\n"
			     "-----\n"
			     "webip  : [172.16.60.55] Started cvknode2\n"
			     "Master/Slave Set: [/var/lib/mysql-share]\n"
			     "  Master: [cvknode2]\n"
			     "  Slave  : [Unknown]\n"
			     "mysql  : Started cvknode2\n"
			     "tomcat : Started cvknode2\n"
			     "-----\n";
	ck_assert_int_eq(strncmp(b.s, failed, strlen(failed)), 0);
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

/* A replicated storage's state: one "replica:" line in the text block
 * and a "replica" object in JSON. */
START_TEST(replica_lines)
{
	struct cmsd_storage_status st = {
		.size = sizeof(st),
		.role = CMSD_ROLE_PRIMARY,
		.peer_role = CMSD_ROLE_SECONDARY,
		.disk = "UpToDate",
		.peer_disk = "Inconsistent",
		.connection = "SyncSource",
		.data_usable = 1,
		.generation = 0xF5682BF1AE45298Aull,
		.sync_percent = 37,
		.sync_eta_s = 53,
		.detail = "out of sync 40960 KiB",
	};
	struct status_res r = {.id = "db",
			       .element = "storage",
			       .plugin = "storage-drbd",
			       .version = "1",
			       .state = "Started",
			       .detail = "/var/lib/mysql-share",
			       .replica = &st};
	struct status_view v = {.mode = "node",
				.role = "master",
				.role_reason = "r",
				.res = &r,
				.n_res = 1};
	struct sbuf b = {0};

	ctl_render_text(&v, &b);
	ck_assert_msg(strstr(b.s, "\nreplica: db: SyncSource Primary/Secondary "
				  "UpToDate/Inconsistent, syncing 37% (ETA 53 "
				  "s), data usable, generation "
				  "F5682BF1AE45298A; out of sync 40960 KiB\n"),
		      "%s", b.s);
	sbuf_free(&b);
	ctl_render_json(&v, &b);
	ck_assert_msg(strstr(b.s, "\"replica\":{\"connection\":\"SyncSource\","
				  "\"role\":\"Primary\",\"peer_role\":"
				  "\"Secondary\",\"disk\":\"UpToDate\","
				  "\"peer_disk\":\"Inconsistent\","
				  "\"generation\":\"F5682BF1AE45298A\","
				  "\"detail\":\"out of sync 40960 KiB\","
				  "\"data_usable\":true,\"sync_percent\":37,"
				  "\"sync_eta_s\":53},"),
		      "%s", b.s);
	sbuf_free(&b);
	/* Shared storage and resources have none. */
	r.replica = NULL;
	ctl_render_text(&v, &b);
	ck_assert_ptr_null(strstr(b.s, "replica:"));
	sbuf_free(&b);
}
END_TEST

START_TEST(oversized_request)
{
	enum ctl_req r;
	char err[256];
	char *big = malloc(CTL_REQUEST_MAX + 10);

	memset(big, 'x', CTL_REQUEST_MAX + 10);
	ck_assert_int_eq(ctl_parse_request(big, CTL_REQUEST_MAX, &r, NULL, err,
					   sizeof(err)),
			 -EMSGSIZE);
	ck_assert_str_eq(err, "request too long (max 4096 bytes)");
	/* One byte under the limit (the "\n" makes it 4096) is parsed. */
	ck_assert_int_eq(ctl_parse_request(big, CTL_REQUEST_MAX - 1, &r, NULL,
					   err, sizeof(err)),
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

START_TEST(sbuf_raw_bytes)
{
	struct sbuf b = {0};
	char big[3000];

	sbuf_add(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.s, "a\0b", 4), 0); /* kept terminated */
	memset(big, 'z', sizeof(big));
	sbuf_add(&b, big, sizeof(big));
	sbuf_printf(&b, "%s", "!");
	ck_assert_uint_eq(b.len, 3 + sizeof(big) + 1);
	ck_assert_int_eq(b.s[b.len - 1], '!');
	ck_assert_int_eq(b.s[b.len], '\0');
	ck_assert(!b.oom);
	sbuf_free(&b);
	ck_assert_ptr_null(b.s);
}
END_TEST

/* The server side on a real loop: the handler's body framed with its byte
 * count, a handler error as ERR, garbage refused without harm. */
static int srv_handler(enum ctl_req req, const struct ctl_args *args,
		       struct sbuf *reply, void *arg)
{
	(void)args;
	(void)arg;
	if (req == CTL_REQ_VERSION) {
		sbuf_printf(reply, "handler broke");
		return -EIO;
	}
	sbuf_printf(reply, "status body %s\n",
		    req == CTL_REQ_STATUS_JSON ? "json" : "text");
	return 0;
}

/* Raw exchange: sends data and half-closes, as `printf ... | socat` does;
 * returns everything until EOF (malloc'd).  The server must neither lose a
 * reply to the early EOF nor wait for a line that cannot come. */
static char *srv_raw(const char *path, const void *data, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sbuf in = {0};
	char buf[512];
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return NULL;
	if (len && send(fd, data, len, MSG_NOSIGNAL) < 0)
		return NULL;
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sbuf_add(&in, buf, (size_t)n);
	close(fd);
	if (!in.s)
		sbuf_add(&in, "", 0);
	return in.s;
}

/* Runs in a child: the client side.  Exit 0 when every answer is right. */
static int srv_client(const char *path)
{
	char *body = NULL, *raw;
	char big[CTL_REQUEST_MAX + 100];
	int bad = 0;

#define SRV_CHECK(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "client: failed: %s\n", #cond);        \
			bad++;                                                 \
		}                                                              \
	} while (0)
	SRV_CHECK(ctl_client_call(path, "status", 5000, &body) == 0);
	SRV_CHECK(body && strcmp(body, "status body text\n") == 0);
	free(body);
	SRV_CHECK(ctl_client_call(path, "status json", 5000, &body) == 0);
	SRV_CHECK(body && strcmp(body, "status body json\n") == 0);
	free(body);
	SRV_CHECK(ctl_client_call(path, "version", 5000, &body) == 1);
	SRV_CHECK(body && strcmp(body, "handler broke\n") == 0);
	free(body);
	SRV_CHECK(ctl_client_call(path, "frob", 5000, &body) == 1);
	SRV_CHECK(body && strcmp(body, "unknown command \"frob\"\n") == 0);
	free(body);
	raw = srv_raw(path, "stat\0us\n", 8);
	SRV_CHECK(raw && strcmp(raw, "ERR request contains a NUL byte\n") == 0);
	free(raw);
	memset(big, 'A', sizeof(big));
	raw = srv_raw(path, big, sizeof(big));
	SRV_CHECK(raw && strncmp(raw, "ERR request too long", 20) == 0);
	free(raw);
	/* Two requests in one write: one answer, then EOF. */
	raw = srv_raw(path, "status\nstatus\n", 14);
	SRV_CHECK(raw && strcmp(raw, "OK 17\nstatus body text\n") == 0);
	free(raw);
	/* Hang up at once, and hang up mid-line: the server drops them. */
	free(srv_raw(path, "", 0));
	free(srv_raw(path, "sta", 3));
	SRV_CHECK(ctl_client_call(path, "status", 5000, &body) == 0);
	free(body);
	/* 64 idle clients: the next is dropped, not queued without end; once
	 * they hang up, service resumes. */
	int idle[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	for (int i = 0; i < 64; i++) {
		idle[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		SRV_CHECK(connect(idle[i], (struct sockaddr *)&sa,
				  sizeof(sa)) == 0);
	}
	SRV_CHECK(ctl_client_call(path, "status", 5000, &body) < 0);
	for (int i = 0; i < 64; i++)
		close(idle[i]);
	int rc = -1;
	for (int i = 0; i < 50 && rc != 0; i++) {
		usleep(20000);
		free(body);
		body = NULL;
		rc = ctl_client_call(path, "status", 5000, &body);
	}
	SRV_CHECK(rc == 0);
	free(body);
#undef SRV_CHECK
	return bad ? 1 : 0;
}

struct srv_wait {
	pid_t pid;
	int status;
	bool done;
	struct event *ev;
};

static void srv_poll_child(evutil_socket_t fd, short what, void *arg)
{
	struct srv_wait *w = arg;

	(void)fd;
	(void)what;
	if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) {
		w->done = true;
		event_base_loopbreak(loop_base());
	}
}

START_TEST(server_roundtrip)
{
	char *dir = tu_tmpdir();
	char path[256], err[256];
	struct ctl *c = NULL, *c2 = (struct ctl *)1;
	struct stat st;
	struct timeval tick = {.tv_usec = 20000};
	struct srv_wait w = {0};

	ck_assert_int_eq(loop_init(), 0);
	/* The parent directory is made when missing. */
	snprintf(path, sizeof(path), "%s/run/cmsd.sock", dir);
	ck_assert_int_eq(
		ctl_open(path, srv_handler, NULL, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* Someone answers there: a second server refuses. */
	ck_assert_int_eq(
		ctl_open(path, srv_handler, NULL, &c2, err, sizeof(err)),
		-EADDRINUSE);
	ck_assert_ptr_null(c2);
	ck_assert_ptr_nonnull(strstr(err, "another cmsd is running on "));

	w.pid = fork();
	ck_assert_int_ge(w.pid, 0);
	if (w.pid == 0)
		_exit(srv_client(path));
	w.ev = event_new(loop_base(), -1, EV_PERSIST, srv_poll_child, &w);
	event_add(w.ev, &tick);
	event_base_dispatch(loop_base());
	event_free(w.ev);
	ck_assert(w.done);
	ck_assert(WIFEXITED(w.status));
	ck_assert_int_eq(WEXITSTATUS(w.status), 0);

	ctl_close(c);
	ck_assert_int_eq(lstat(path, &st), -1); /* unlinked */

	/* Not a socket where the socket goes: left alone, refused. */
	free(tu_write(dir, "run/cmsd.sock", "precious\n"));
	ck_assert_int_eq(
		ctl_open(path, srv_handler, NULL, &c2, err, sizeof(err)),
		-EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "is not a socket"));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("ctl");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, requests);
	tcase_add_test(tc, requests_with_args);
	tcase_add_test(tc, sync_partition_request);
	tcase_add_test(tc, text_reference_lines);
	tcase_add_test(tc, text_reference_states_with_set);
	tcase_add_test(tc, json_escaping);
	tcase_add_test(tc, replica_lines);
	tcase_add_test(tc, oversized_request);
	tcase_add_test(tc, replies);
	tcase_add_test(tc, text_standalone_explains);
	tcase_add_test(tc, client_cannot_connect);
	tcase_add_test(tc, client_hung_daemon);
	tcase_add_test(tc, sbuf_raw_bytes);
	tcase_add_test(tc, server_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
