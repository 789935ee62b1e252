/* Configuration: good files pass; each kind of bad file fails with its exact
 * message and line; the accessors plugins use behave as documented. */
#include <errno.h>
#include <libxml/parser.h>
#include <sys/stat.h>

#include "conf.h"
#include "conf_priv.h"
#include "loader.h"
#include "log.h"
#include "testutil.h"

static char *dir;
static char msgs[16][1024];
static int n_msgs;

static void collect(const char *msg, void *arg)
{
	(void)arg;
	if (n_msgs < 16)
		snprintf(msgs[n_msgs], sizeof(msgs[0]), "%s", msg);
	n_msgs++;
}

static void setup(void)
{
	dir = tu_tmpdir();
	n_msgs = 0;
	setenv("CMSD_PLUGIN_DIR", BUILD_PLUGIN_DIR, 1);
}

static void teardown(void)
{
	tu_rmdir(dir);
	free(dir);
	loader_shutdown();
}

/* Loads text; returns the number of errors, keeps the messages. */
static int load_text(const char *text, const char *plugin_dir,
		     struct conf **out)
{
	char *path = tu_write(dir, "cmsd.xml", text);
	struct conf_overrides ov = {.plugin_dir = plugin_dir};
	struct conf *c = NULL;
	int n = conf_load(path, &ov, collect, NULL, &c);

	free(path);
	if (out)
		*out = c;
	else
		conf_free(c);
	return n;
}

/* The message with the temp dir replaced by "X". */
static const char *msg(int i)
{
	static char buf[1024];
	const char *m = msgs[i];
	size_t n = strlen(dir);

	ck_assert_int_lt(i, n_msgs);
	if (strncmp(m, dir, n) == 0)
		snprintf(buf, sizeof(buf), "X%s", m + n);
	else
		snprintf(buf, sizeof(buf), "%s", m);
	return buf;
}

#define HEAD "<?xml version=\"1.0\"?>\n"
#define ONE_NODE                                                               \
	"  <cluster id=\"c\">\n"                                               \
	"    <node id=\"n1\"><link address=\"127.0.0.1\"/></node>\n"           \
	"  </cluster>\n"

static const char *const examples[] = {"arbiter-drbd", "ping-drbd",
				       "iscsi-templates", "arbiter",
				       "standalone-dummy"};

START_TEST(examples_valid)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		char path[512];
		struct conf *c = NULL;
		snprintf(path, sizeof(path), "%s/examples/%s.xml", SOURCE_DIR,
			 examples[i]);
		n_msgs = 0;
		int n = conf_load(path, NULL, collect, NULL, &c);
		ck_assert_msg(n == 0, "%s: %d errors, first: %s", path, n,
			      n_msgs ? msgs[0] : "");
		ck_assert_ptr_nonnull(c);
		conf_free(c);
	}
}
END_TEST

START_TEST(model_and_defaults)
{
	struct conf *c;
	const char *text = HEAD
		"<cmsd version=\"1\" node=\"node2\">\n"
		"  <cluster id=\"vms\">\n"
		"    <key-file>/etc/cmsd/k</key-file>\n"
		"    <tls ca=\"/a\" cert=\"/b\" key=\"/c\"/>\n"
		"    <timers heartbeat-interval=\"100ms\" deadtime=\"300ms\" "
		"lease=\"300ms\"/>\n"
		"    <node id=\"node1\" name=\"cvknode1\"><link "
		"address=\"10.0.0.1\"/><link address=\"10.1.0.1\" "
		"port=\"7000\"/></node>\n"
		"    <node id=\"node2\"><link address=\"10.0.0.2\"/><link "
		"address=\"10.1.0.2\"/></node>\n"
		"  </cluster>\n"
		"  <quorum id=\"q\" plugin=\"quorum-ping\"><target>10.0.0.254"
		"</target><target>10.0.0.253</target></quorum>\n"
		"  <group id=\"g\">\n"
		"    <resource id=\"a\" plugin=\"resource-dummy\" "
		"monitor-interval=\"2s\" optional=\"yes\"/>\n"
		"  </group>\n"
		"</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, &c), 0);
	ck_assert_str_eq(c->local_node, "node2");
	ck_assert_int_eq(c->n_nodes, 2);
	ck_assert_str_eq(c->nodes[0].name, "cvknode1");
	ck_assert_str_eq(c->nodes[1].name, "node2");
	ck_assert_int_eq(c->nodes[0].n_links, 2);
	ck_assert_int_eq(c->nodes[0].links[0].port, 7788);
	ck_assert_int_eq(c->nodes[0].links[1].port, 7000);
	ck_assert_int_eq(c->hb_interval_ms, 100);
	ck_assert_int_eq(c->deadtime_ms, 300);
	ck_assert_int_eq(c->n_inst, 2);
	ck_assert_str_eq(c->inst[0].element, "quorum");
	ck_assert_str_eq(c->inst[1].id, "a");
	ck_assert(c->inst[1].optional);
	ck_assert_int_eq(c->inst[1].monitor_interval_ms, 2000);
	ck_assert_int_eq(c->inst[1].start_timeout_ms, 60000);
	ck_assert_str_eq(c->plugin_dir, BUILD_PLUGIN_DIR);
	ck_assert_str_eq(c->control_socket, "/run/cmsd/cmsd.sock");
	ck_assert_str_eq(c->log_file, "/var/log/cvm_master.log");
	conf_free(c);
}
END_TEST

START_TEST(typo_in_element)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n"
		     "  <cluster id=\"c\">\n"
		     "    <timer deadtime=\"1s\"/>\n"
		     "    <node id=\"n1\"><link address=\"127.0.0.1\"/>"
		     "</node>\n"
		     "  </cluster>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:4: element <timer>: not expected "
				 "here (in <cluster>); did you mean <timers>?");
}
END_TEST

START_TEST(typo_in_attribute)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\" "
		     "monitor-intervall=\"1s\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:7: element <resource>: unknown "
			 "attribute \"monitor-intervall\"; did you mean "
			 "\"monitor-interval\"?");
}
END_TEST

START_TEST(duplicate_id)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\"/>\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:8: element <resource>: duplicate "
				 "id \"a\" (first used at line 7 by "
				 "<resource>)");
}
END_TEST

START_TEST(dangling_reference)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\" "
		     "storage=\"db\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <resource>: "
				 "storage=\"db\" names no <storage>");
}
END_TEST

START_TEST(deadtime_too_short)
{
	const char *text = HEAD
		"<cmsd version=\"1\">\n"
		"  <cluster id=\"c\">\n"
		"    <timers heartbeat-interval=\"200ms\" "
		"deadtime=\"500ms\" lease=\"500ms\"/>\n"
		"    <node id=\"n1\"><link address=\"127.0.0.1\"/></node>\n"
		"  </cluster>\n"
		"</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 2);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:4: element <timers>: deadtime "
			 "500ms is less than 3 x heartbeat-interval (3 x "
			 "200ms = 600ms)");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:4: element <timers>: lease 500ms "
				 "is less than 3 x heartbeat-interval (3 x "
				 "200ms = 600ms): the master renews it every "
				 "interval");
}
END_TEST

START_TEST(unknown_plugin)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-vipp\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:7: element <resource>: unknown plugin "
			 "\"resource-vipp\": " BUILD_PLUGIN_DIR
			 "/resource-vipp.so: no such plugin (plugin "
			 "directory " BUILD_PLUGIN_DIR ")");
}
END_TEST

START_TEST(wrong_kind_and_abi)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"fake-storage\"/>\n"
		     "    <resource id=\"b\" plugin=\"fake-abi-major\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 2);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <resource>: plugin "
				 "\"fake-storage\" is a storage plugin; "
				 "<resource> needs a resource plugin");
	ck_assert_str_eq(msg(1),
			 "X/cmsd.xml:8: element <resource>: plugin "
			 "\"fake-abi-major\" refused: " FAKE_PLUGIN_DIR
			 "/fake-abi-major.so: plugin ABI 2.0, agent ABI "
			 "1.3: major versions differ; rebuild the plugin "
			 "against this SDK");
}
END_TEST

/* A plugin that faults in validate() is named; the agent lives on to
 * report the other errors (and, on reload, to keep the running config). */
START_TEST(crash_in_validate_named)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"fake-crash-validate\"/>\n"
		     "    <resource id=\"b\" plugin=\"fake-storage\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 2);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <resource>: plugin "
				 "\"fake-crash-validate\" crashed in validate "
				 "(SIGSEGV)");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:8: element <resource>: plugin "
				 "\"fake-storage\" is a storage plugin; "
				 "<resource> needs a resource plugin");
}
END_TEST

/* Link N of one node talks to link N of the other; the split-brain
 * policy is a list of known criteria ending in lower-id. */
START_TEST(links_and_split_brain_policy)
{
	const char *head =
		HEAD "<cmsd version=\"1\" node=\"n1\">\n"
		     "  <cluster id=\"c\">\n"
		     "    <key-file>/k</key-file><tls ca=\"/a\" cert=\"/b\" "
		     "key=\"/c\"/>\n";
	const char *tail = "  </cluster>\n"
			   "  <quorum id=\"q\" plugin=\"conf-quorum\"/>\n"
			   "</cmsd>\n";
	char text[2048];
	struct conf *c;

	snprintf(text, sizeof(text),
		 "%s    <node id=\"n1\"><link address=\"10.0.0.1\"/><link "
		 "address=\"10.1.0.1\"/></node>\n"
		 "    <node id=\"n2\"><link address=\"10.0.0.2\"/></node>\n%s",
		 head, tail);
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:6: element <node>: node \"n2\" "
				 "has 1 link and node \"n1\" 2: link N of one "
				 "node talks to link N of the other, so both "
				 "need the same number");

	n_msgs = 0;
	snprintf(text, sizeof(text),
		 "%s    <split-brain prefer=\"newer-data, last-granted\"/>\n"
		 "    <node id=\"n1\"><link address=\"10.0.0.1\"/></node>\n"
		 "    <node id=\"n2\"><link address=\"10.0.0.2\"/></node>\n%s",
		 head, tail);
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, &c), 0);
	ck_assert_int_eq(c->split_brain[0], CONF_SB_NEWER_DATA);
	ck_assert_int_eq(c->split_brain[1], CONF_SB_LAST_GRANTED);
	ck_assert_int_eq(c->split_brain[2], CONF_SB_LOWER_ID);
	ck_assert_int_eq(c->split_brain[3], CONF_SB_END);
	ck_assert_int_eq(c->nodes[0].control.port, 7787);
	conf_free(c);

	n_msgs = 0;
	snprintf(text, sizeof(text),
		 "%s    <split-brain prefer=\"newest lower-id lower-id\"/>\n"
		 "    <node id=\"n1\"><link address=\"10.0.0.1\"/></node>\n"
		 "    <node id=\"n2\"><link address=\"10.0.0.2\"/></node>\n%s",
		 head, tail);
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 2);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:5: element <split-brain>: "
				 "prefer: \"newest\" is not a criterion (use "
				 "last-granted, newer-data, lower-id)");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:5: element <split-brain>: "
				 "prefer: \"lower-id\" is listed twice");
}
END_TEST

START_TEST(plugin_validate_errors)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\">\n"
		     "      <state-file>relative/path</state-file>\n"
		     "      <start-delay>soon</start-delay>\n"
		     "      <start-dealy>1s</start-dealy>\n"
		     "    </resource>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 3);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:10: element <start-dealy>: "
				 "unknown key in <resource>; did you mean "
				 "<start-delay>?");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:8: element <state-file>: must be "
				 "an absolute path");
	ck_assert_str_eq(msg(2), "X/cmsd.xml:9: element <start-delay>: "
				 "\"soon\" is not a duration (e.g. 200ms, 1s, "
				 "2m, 1h)");
}
END_TEST

START_TEST(bad_duration_attribute)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\" "
		     "start-timeout=\"10 s\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <resource>: "
				 "start-timeout=\"10 s\" is not a duration "
				 "(e.g. 200ms, 1s, 2m, 1h)");
}
END_TEST

START_TEST(two_nodes_need_quorum_key_tls)
{
	const char *text =
		HEAD "<cmsd version=\"1\" node=\"n1\">\n"
		     "  <cluster id=\"c\">\n"
		     "    <node id=\"n1\"><link address=\"10.0.0.1\"/></node>\n"
		     "    <node id=\"n2\"><link address=\"10.0.0.1\"/></node>\n"
		     "  </cluster>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 4);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:5: element <node>: link address "
				 "10.0.0.1 is also node \"n1\"'s");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:2: element <cmsd>: a two-node "
				 "cluster needs a <quorum> (quorum-cmsd or "
				 "quorum-ping): without one a partition would "
				 "make two masters");
	ck_assert_str_eq(msg(2),
			 "X/cmsd.xml:3: element <cluster>: a two-node "
			 "cluster needs <key-file> (the heartbeat key)");
	ck_assert_str_eq(msg(3), "X/cmsd.xml:3: element <cluster>: a two-node "
				 "cluster needs <tls ca cert key> (the control "
				 "channel)");
}
END_TEST

START_TEST(missing_required_element)
{
	const char *text = HEAD "<cmsd version=\"1\">\n"
				"  <group id=\"g\"><resource id=\"a\" "
				"plugin=\"resource-dummy\"/></group>\n"
				"</cmsd>\n";

	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: element <cmsd>: missing "
				 "required <cluster>");
}
END_TEST

START_TEST(doctype_and_entities_refused)
{
	char *secret = tu_write(dir, "secret", "TOPSECRET\n");
	char text[1024];

	snprintf(text, sizeof(text),
		 HEAD "<!DOCTYPE cmsd [\n"
		      "  <!ENTITY x SYSTEM \"file://%s\">\n"
		      "  <!ENTITY y SYSTEM \"http://127.0.0.1:9/x\">\n"
		      "]>\n"
		      "<cmsd version=\"1\">&x;&y;</cmsd>\n",
		 secret);
	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: DOCTYPE <cmsd> not allowed: "
				 "cmsd.xml takes no DTD and no entities");
	ck_assert_ptr_null(strstr(msgs[0], "TOPSECRET"));
	free(secret);
}
END_TEST

START_TEST(not_xml_and_missing_file)
{
	struct conf *c;

	ck_assert_int_eq(load_text("node1: master\n", NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:1: Start tag expected, '<' not "
				 "found");
	n_msgs = 0;
	ck_assert_int_eq(
		conf_load("/nonexistent/cmsd.xml", NULL, collect, NULL, &c), 1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(msgs[0], "/nonexistent/cmsd.xml: cannot read: No such "
				  "file or directory");
	/* A FIFO in place of the file is refused, not opened (it would
	 * block). */
	char fifo[512];
	snprintf(fifo, sizeof(fifo), "%s/fifo.xml", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	n_msgs = 0;
	ck_assert_int_eq(conf_load(fifo, NULL, collect, NULL, &c), 1);
	ck_assert_str_eq(msg(0), "X/fifo.xml: not a regular file");
}
END_TEST

START_TEST(every_error_reported)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE
		     "  <storage id=\"a\" plugin=\"storage-drbd\"><resource>r0"
		     "</resource><disk>/dev/sdb1</disk></storage>\n"
		     "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"resource-dummy\"/>\n"
		     "    <resource id=\"b\" plugin=\"resource-dummy\" "
		     "storage=\"zz\"/>\n"
		     "    <resource id=\"c\" plugin=\"no-such\"/>\n"
		     "  </group>\n"
		     "</cmsd>\n";

	/* Semantic errors first (duplicate, dangling), then the plugins'
	 * in the same run: the schema passed, so every section is shaped. */
	ck_assert_int_eq(load_text(text, NULL, NULL), 3);
	ck_assert_int_eq(n_msgs, 3);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:8: element <resource>: duplicate "
				 "id \"a\" (first used at line 6 by "
				 "<storage>)");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:9: element <resource>: "
				 "storage=\"zz\" names no <storage>");
	ck_assert_str_eq(msg(2),
			 "X/cmsd.xml:10: element <resource>: unknown plugin "
			 "\"no-such\": " BUILD_PLUGIN_DIR
			 "/no-such.so: no such plugin (plugin "
			 "directory " BUILD_PLUGIN_DIR ")");
}
END_TEST

/* ---- the accessors ---- */

static struct conf *acc_conf;

/* A section of free-form keys, parsed without plugin validation. */
static const struct cmsd_conf *keys_section(const char *keys)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 HEAD "<cmsd version=\"1\">\n" ONE_NODE
		      "  <quorum id=\"s\" plugin=\"conf-quorum\">\n%s"
		      "  </quorum>\n"
		      "</cmsd>\n",
		 keys);
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, &acc_conf), 0);
	n_msgs = 0;
	/* A loaded config logs accessor errors; collect them instead, as
	 * during validate. */
	struct cmsd_conf *c = acc_conf->inst[0].section;
	c->ctx->live = false;
	c->ctx->err = collect;
	return c;
}

START_TEST(accessors)
{
	const struct cmsd_conf_ops *o = &conf_plugin_ops;
	const struct cmsd_conf *c = keys_section(
		"<n>42</n><big>99999</big><neg>x1</neg><b>yes</b><bb>maybe</bb>"
		"<d>2m</d><dd>12parsecs</dd><sz>19G</sz><e>xfs</e><ee>zfs</ee>"
		"<t a=\"1\">  spaced  </t><t>two</t><adress>x</adress>\n");
	int64_t i;
	int b, e;
	uint64_t u;
	const char *s;
	static const char *const fs[] = {"ext4", "xfs", NULL};
	static const char *const known[] = {"n", "big",	    "neg", "b", "bb",
					    "d", "dd",	    "sz",  "e", "ee",
					    "t", "address", NULL};

	ck_assert_int_eq(o->get_int(c, "n", 0, 0, 100, &i), 0);
	ck_assert_int_eq(i, 42);
	ck_assert_int_eq(o->get_int(c, "absent", 7, 0, 100, &i), 1);
	ck_assert_int_eq(i, 7);
	ck_assert_int_eq(o->get_int(c, "big", 0, 0, 100, &i), -EINVAL);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <big>: 99999 is out of "
				 "range 0..100");
	ck_assert_int_eq(o->get_int(c, "neg", 0, 0, 100, &i), -EINVAL);
	ck_assert_int_eq(o->get_bool(c, "b", 0, &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(o->get_bool(c, "bb", 0, &b), -EINVAL);
	ck_assert_int_eq(o->get_duration_ms(c, "d", 0, 0, UINT64_MAX, &u), 0);
	ck_assert_uint_eq(u, 120000);
	ck_assert_int_eq(o->get_duration_ms(c, "d", 0, 0, 1000, &u), -EINVAL);
	ck_assert_int_eq(o->get_duration_ms(c, "dd", 0, 0, 1000, &u), -EINVAL);
	ck_assert_int_eq(o->get_size(c, "sz", 0, 0, UINT64_MAX, &u), 0);
	ck_assert_uint_eq(u, 19ull << 30);
	ck_assert_int_eq(o->get_enum(c, "e", fs, 0, &e), 0);
	ck_assert_int_eq(e, 1);
	n_msgs = 0;
	ck_assert_int_eq(o->get_enum(c, "ee", fs, 0, &e), -EINVAL);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:7: element <ee>: \"zfs\" is not one "
			 "of: ext4, xfs");
	n_msgs = 0;
	ck_assert_int_eq(o->get_string(c, "t", NULL, &s), -EINVAL);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <t>: appears 2 times; "
				 "give it once");
	ck_assert_int_eq(o->count(c, "t"), 2);
	const struct cmsd_conf *t = o->child(c, "t", 0);
	ck_assert_str_eq(o->text(t), "spaced");
	ck_assert_str_eq(o->attr(t, "a"), "1");
	ck_assert_ptr_null(o->attr(t, "b"));
	ck_assert_str_eq(o->name(t), "t");
	ck_assert_int_eq(o->line(t), 7);
	n_msgs = 0;
	ck_assert_int_eq(o->check_keys(c, known), 1);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:7: element <adress>: unknown key in "
			 "<quorum>; did you mean <address>?");
	conf_free(acc_conf);
}
END_TEST

START_TEST(value_parsers)
{
	uint64_t v;
	char buf[32];

	ck_assert_int_eq(conf_parse_duration("250", &v), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(conf_parse_duration("1h", &v), 0);
	ck_assert_uint_eq(v, 3600000);
	ck_assert_int_eq(conf_parse_duration("1.5s", &v), -EINVAL);
	ck_assert_int_eq(conf_parse_duration("", &v), -EINVAL);
	ck_assert_int_eq(conf_parse_duration("99999999999999999999ms", &v),
			 -EINVAL);
	ck_assert_int_eq(conf_parse_size("64K", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_str_eq(conf_fmt_duration(600, buf, sizeof(buf)), "600ms");
	ck_assert_str_eq(conf_fmt_duration(120000, buf, sizeof(buf)), "2m");
	static const char *const k[] = {"timers", "node", "tls", NULL};
	ck_assert_str_eq(conf_suggest("timer", k), "timers");
	ck_assert_ptr_null(conf_suggest("quorum", k));
}
END_TEST

/* ---- more structure, schema and semantic cases ---- */

/* Loads a file of tests/unit/conf/ with the test plugins. */
static int load_file(const char *name, const char *node, struct conf **out)
{
	char path[512];
	struct conf_overrides ov = {.plugin_dir = FAKE_PLUGIN_DIR,
				    .local_node = node};
	struct conf *c = NULL;
	int n;

	snprintf(path, sizeof(path), "%s/tests/unit/conf/%s", SOURCE_DIR, name);
	n = conf_load(path, &ov, collect, NULL, &c);
	if (out)
		*out = c;
	else
		conf_free(c);
	return n;
}

/* The reference's rule: with both a local sync partition (storage-drbd, r1)
 * and a shared LUN (storage-iscsi here; storage-fc alike), the sync
 * partition is added first, i.e. comes first in the file; the real plugins
 * validate the rest. */
START_TEST(sync_partition_before_lun)
{
	char path[512];
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR,
				    .local_node = "node1"};
	struct conf *c = NULL;

	snprintf(path, sizeof(path), "%s/tests/unit/conf/sync-after-lun.xml",
		 SOURCE_DIR);
	ck_assert_int_eq(conf_load(path, &ov, collect, NULL, &c), 1);
	ck_assert_int_eq(n_msgs, 1);
	ck_assert_str_eq(
		msgs[0], SOURCE_DIR
		"/tests/unit/conf/sync-after-lun.xml:27: element "
		"<storage>: the local sync partition <storage "
		"id=\"sync\" plugin=\"storage-drbd\"> (resource r1) "
		"comes after the shared LUN <storage id=\"templates\" "
		"plugin=\"storage-iscsi\"> at line 21: when both a "
		"local sync partition and a shared LUN are wanted, the "
		"sync partition is added first; move this element "
		"above the LUN's");
	conf_free(c);

	/* The same elements, r1 first: valid. */
	n_msgs = 0;
	snprintf(path, sizeof(path), "%s/tests/unit/conf/sync-before-lun.xml",
		 SOURCE_DIR);
	ck_assert_int_eq(conf_load(path, &ov, collect, NULL, &c), 0);
	ck_assert_int_eq(n_msgs, 0);
	conf_free(c);

	/* A storage-fc LUN before r1, and r0 alone before a LUN (not a sync
	 * partition): only the first is refused. */
	n_msgs = 0;
	ck_assert_int_eq(
		load_text(HEAD "<cmsd version=\"1\">\n" ONE_NODE
			       "  <storage id=\"db\" plugin=\"storage-drbd\">"
			       "<resource>r0</resource><disk>/dev/sdb3</disk>"
			       "<mount>/var/lib/mysql-share</mount></storage>\n"
			       "  <storage id=\"lun\" plugin=\"storage-fc\">"
			       "<wwn>0x600a0b80001234560000abcd12345678</wwn>"
			       "<mount>/vms/templates</mount>"
			       "<reservation>none</reservation></storage>\n"
			       "  <storage id=\"sync\" plugin=\"storage-drbd\">"
			       "<resource>r1</resource><minor>1</minor>"
			       "<disk>/dev/sdb4</disk><port>7790</port>"
			       "<mount>/vms/sync</mount></storage>\n"
			       "  <group id=\"g\"><resource id=\"d\" "
			       "plugin=\"resource-dummy\"/></group>\n"
			       "</cmsd>\n",
			  NULL, NULL),
		1);
	ck_assert_msg(strstr(msg(0), "X/cmsd.xml:8: element <storage>: the "
				     "local sync partition <storage "
				     "id=\"sync\" plugin=\"storage-drbd\"> "
				     "(resource r1) comes after the shared "
				     "LUN <storage id=\"lun\" "
				     "plugin=\"storage-fc\"> at line 7"),
		      "%s", msg(0));
}
END_TEST

START_TEST(two_node_model)
{
	struct conf *c;

	ck_assert_int_eq(load_file("two-node.xml", "node1", &c), 0);
	ck_assert_int_eq(c->mode, CONF_MODE_NODE);
	ck_assert_str_eq(c->local_node, "node1");
	ck_assert_str_eq(c->cluster_id, "vms");
	ck_assert_str_eq(c->key_file, "/etc/cmsd/cluster.key");
	ck_assert_str_eq(c->tls_ca, "/etc/cmsd/ca.pem");
	ck_assert_str_eq(c->tls_key, "/etc/cmsd/node.key");
	ck_assert_uint_eq(c->hb_interval_ms, 100);
	ck_assert_uint_eq(c->deadtime_ms, 500);
	ck_assert_uint_eq(c->lease_ms, 400);
	ck_assert_uint_eq(c->nodes[0].control.port, 7100);
	ck_assert_str_eq(c->nodes[1].control.address, "10.0.0.2");
	ck_assert_uint_eq(c->nodes[1].control.port, 7787);
	ck_assert_str_eq(c->group_id, "services");
	ck_assert_uint_eq(c->n_inst, 3);
	ck_assert_str_eq(c->inst[0].id, "arbiter");
	ck_assert_int_eq(c->inst[0].kind, CMSD_KIND_QUORUM);
	const struct conf_instance *w = conf_instance_by_id(c, "webip");
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->start_timeout_ms, 20000);
	ck_assert_uint_eq(w->stop_timeout_ms, 10000);
	ck_assert_uint_eq(w->monitor_timeout_ms, 3000);
	ck_assert_int_eq(w->max_restarts, 2);
	ck_assert_uint_eq(w->restart_window_ms, 3600000);
	ck_assert(!w->optional);
	ck_assert(conf_instance_by_id(c, "tomcat")->optional);
	ck_assert_ptr_nonnull(conf_node_by_id(c, "node2"));
	ck_assert_ptr_null(conf_node_by_id(c, "node3"));
	ck_assert_str_eq(c->plugin_dir, FAKE_PLUGIN_DIR);
	conf_free(c);
}
END_TEST

START_TEST(local_node_selection)
{
	char host[256], text[2048], want[512];
	struct conf *c;

	/* -n names a node that is not declared. */
	ck_assert_int_eq(load_file("two-node.xml", "node3", NULL), 1);
	ck_assert_str_eq(msg(0) + strlen(msg(0)) -
				 strlen("element <cmsd>: node \"node3\" is not "
					"declared in <cluster>"),
			 "element <cmsd>: node \"node3\" is not declared in "
			 "<cluster>");

	/* No node= and no -n: the host name picks the node... */
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(text, sizeof(text),
		 HEAD "<cmsd version=\"1\">\n"
		      "  <cluster id=\"c\">\n"
		      "    <key-file>/k</key-file><tls ca=\"/a\" cert=\"/b\" "
		      "key=\"/c\"/>\n"
		      "    <node id=\"n1\" name=\"%s\"><link "
		      "address=\"10.0.0.1\"/></node>\n"
		      "    <node id=\"n2\" name=\"%s-other\"><link "
		      "address=\"10.0.0.2\"/></node>\n"
		      "  </cluster>\n"
		      "  <quorum id=\"q\" plugin=\"conf-quorum\"/>\n"
		      "</cmsd>\n",
		 host, host);
	n_msgs = 0;
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, &c), 0);
	ck_assert_str_eq(c->local_node, "n1");
	conf_free(c);

	/* ... and when it matches none of two, that is an error. */
	snprintf(text, sizeof(text),
		 HEAD "<cmsd version=\"1\">\n"
		      "  <cluster id=\"c\">\n"
		      "    <key-file>/k</key-file><tls ca=\"/a\" cert=\"/b\" "
		      "key=\"/c\"/>\n"
		      "    <node id=\"n1\" name=\"%s-a\"><link "
		      "address=\"10.0.0.1\"/></node>\n"
		      "    <node id=\"n2\" name=\"%s-b\"><link "
		      "address=\"10.0.0.2\"/></node>\n"
		      "  </cluster>\n"
		      "  <quorum id=\"q\" plugin=\"conf-quorum\"/>\n"
		      "</cmsd>\n",
		 host, host);
	n_msgs = 0;
	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 1);
	snprintf(want, sizeof(want),
		 "X/cmsd.xml:2: element <cmsd>: this host (\"%s\") matches "
		 "no <node>; set node=\"ID\" here or run cmsd -n ID",
		 host);
	ck_assert_str_eq(msg(0), want);
}
END_TEST

START_TEST(structure_messages)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{"<group id=\"g\"><resource id=\"a\" plugin=\"conf-keys\">"
		 "<address>x</address></resource></group>\n" ONE_NODE,
		 "X/cmsd.xml:3: element <cluster>: must come before <group> "
		 "(line 2): the order in <cmsd> is paths, cluster, quorum, "
		 "storage, group"},
		{ONE_NODE "<quorum id=\"q\" plugin=\"conf-quorum\"/>\n"
			  "<quorum id=\"r\" plugin=\"conf-quorum\"/>\n",
		 "X/cmsd.xml:6: element <quorum>: only one <quorum> is allowed "
		 "in <cmsd> (the first is at line 5)"},
		{ONE_NODE "<arbiter id=\"a\" plugin=\"conf-quorum\"/>\n",
		 "X/cmsd.xml:5: element <arbiter>: not expected here (in <cmsd "
		 "mode=\"node\">): <arbiter> needs mode=\"arbiter\""},
		{ONE_NODE "<storage id=\"s\"/>\n",
		 "X/cmsd.xml:5: element <storage>: missing required attribute "
		 "\"plugin\""},
		{ONE_NODE "<quorum id=\"1q\" plugin=\"conf-quorum\"/>\n",
		 "X/cmsd.xml:5: element <quorum>: id=\"1q\" is not an id (a "
		 "letter, then letters, digits, '-' or '_'; at most 63)"},
		{ONE_NODE "<quorum id=\"q\" plugin=\"../evil\"/>\n",
		 "X/cmsd.xml:5: element <quorum>: plugin=\"../evil\" is not a "
		 "plugin name (a-z, 0-9, '-' and '_'; no path, no \".so\")"},
		{"<paths plugin-dir=\"plugins\"/>\n" ONE_NODE,
		 "X/cmsd.xml:2: element <paths>: plugin-dir=\"plugins\" is not "
		 "an absolute path"},
		{"<cluster id=\"c\"><key-file>cluster.key</key-file>\n"
		 "<node id=\"n1\"><link address=\"127.0.0.1\"/></node>"
		 "</cluster>\n",
		 "X/cmsd.xml:2: element <key-file>: must hold the absolute "
		 "path "
		 "of the key file, not \"cluster.key\""},
		{"<cluster id=\"c\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\">"
		 "x</link></node></cluster>\n",
		 "X/cmsd.xml:2: element <link>: unexpected text"},
		{"<cluster id=\"c\"><node id=\"n1\"><y:link xmlns:y=\"urn:y\" "
		 "address=\"127.0.0.1\"/></node></cluster>\n",
		 "X/cmsd.xml:2: element <link>: XML namespaces are not used in "
		 "cmsd.xml (this element is in \"urn:y\")"},
		{"<cluster id=\"c\"><node id=\"n1\"/></cluster>\n",
		 "X/cmsd.xml:2: element <node>: missing required <link>"},
	};
	char text[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 HEAD "<cmsd version=\"1\">%s</cmsd>\n", cases[i].body);
		n_msgs = 0;
		ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 1);
		ck_assert_str_eq(msg(0), cases[i].want);
	}
}
END_TEST

START_TEST(root_attributes)
{
	ck_assert_int_eq(
		load_text(HEAD "<cmsd version=\"2\" mode=\"nod\">\n" ONE_NODE
			       "</cmsd>\n",
			  NULL, NULL),
		2);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: element <cmsd>: version=\"2\" "
				 "is not supported: this cmsd reads "
				 "version=\"1\"");
	ck_assert_str_eq(msg(1), "X/cmsd.xml:2: element <cmsd>: mode=\"nod\" "
				 "is not \"node\" or \"arbiter\"");
	n_msgs = 0;
	ck_assert_int_eq(
		load_text(HEAD "<config version=\"1\"/>\n", NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: element <config>: the root "
				 "element must be <cmsd version=\"1\">");
}
END_TEST

START_TEST(many_errors_in_one_run)
{
	const char *f = SOURCE_DIR "/tests/unit/conf/many-errors.xml";

	ck_assert_int_eq(load_file("many-errors.xml", NULL, NULL), 7);
	ck_assert_int_eq(n_msgs, 7);
	static const char *const want[] = {
		":3: element <paths>: state-dir=\"var/lib/cmsd\" is not an "
		"absolute path",
		":4: element <cluster>: unknown attribute \"name\"",
		":5: element <timer>: not expected here (in <cluster>); did "
		"you "
		"mean <timers>?",
		":6: element <link>: port=\"70000\" is not a port (1..65535)",
		":9: element <resource>: start-timeout=\"soon\" is not a "
		"duration (e.g. 200ms, 1s, 2m, 1h)",
		":10: element <resource>: missing required attribute \"id\"",
		":12: element <quorum>: must come before <group> (line 8): the "
		"order in <cmsd> is paths, cluster, quorum, storage, group",
	};
	for (int i = 0; i < 7; i++) {
		char line[1024];
		snprintf(line, sizeof(line), "%s%s", f, want[i]);
		ck_assert_str_eq(msgs[i], line);
	}
}
END_TEST

START_TEST(timer_rules)
{
	static const struct {
		const char *timers;
		int n; /* errors; the first is `want` */
		const char *want;
	} cases[] = {
		{"heartbeat-interval=\"20ms\" deadtime=\"1s\" lease=\"1s\"", 1,
		 "heartbeat-interval 20ms is below 50ms"},
		/* Below 150ms is also below 3 x the smallest interval. */
		{"heartbeat-interval=\"50ms\" deadtime=\"100\" lease=\"100ms\"",
		 3, "deadtime 100ms is below 150ms"},
		{"heartbeat-interval=\"100ms\" deadtime=\"500ms\" lease=\"1s\"",
		 1,
		 "lease 1s is longer than deadtime 500ms: the slave could not "
		 "take over until the lease ran out"},
		{"heartbeat-interval=\"1s\" deadtime=\"1h\" lease=\"2m\"", 0,
		 NULL},
		/* 3 x this wraps to 2ms in 64 bits: it must still fail. */
		{"heartbeat-interval=\"6148914691236517206\" deadtime=\"1h\" "
		 "lease=\"1h\"",
		 2,
		 "deadtime 1h is less than 3 x heartbeat-interval (3 x "
		 "6148914691236517206ms = 18446744073709551615ms)"},
	};
	char text[1024], want[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 HEAD "<cmsd version=\"1\">\n"
			      "  <cluster id=\"c\">\n"
			      "    <timers %s/>\n"
			      "    <node id=\"n1\"><link "
			      "address=\"127.0.0.1\"/></node>\n"
			      "  </cluster>\n"
			      "</cmsd>\n",
			 cases[i].timers);
		n_msgs = 0;
		ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL),
				 cases[i].n);
		if (!cases[i].want)
			continue;
		snprintf(want, sizeof(want),
			 "X/cmsd.xml:4: element <timers>: %s", cases[i].want);
		ck_assert_str_eq(msg(0), want);
	}
}
END_TEST

START_TEST(arbiter_mode)
{
	struct conf *c;
	const char *good =
		HEAD "<cmsd version=\"1\" mode=\"arbiter\">\n"
		     "  <arbiter id=\"arb\" plugin=\"conf-quorum\">\n"
		     "    <cluster id=\"a\"><ca>/x</ca></cluster>\n"
		     "    <cluster id=\"b\"><ca>/y</ca></cluster>\n"
		     "  </arbiter>\n"
		     "</cmsd>\n";
	const char *wrong =
		HEAD "<cmsd version=\"1\" mode=\"arbiter\">\n"
		     "  <arbiter id=\"arb\" plugin=\"conf-keys\"/>\n"
		     "</cmsd>\n";

	ck_assert_int_eq(load_text(good, FAKE_PLUGIN_DIR, &c), 0);
	ck_assert_int_eq(c->mode, CONF_MODE_ARBITER);
	ck_assert_uint_eq(c->n_inst, 1);
	ck_assert_str_eq(c->inst[0].element, "arbiter");
	ck_assert_uint_eq(conf_plugin_ops.count(c->inst[0].section, "cluster"),
			  2);
	conf_free(c);
	n_msgs = 0;
	ck_assert_int_eq(load_text(wrong, FAKE_PLUGIN_DIR, NULL), 1);
	ck_assert_str_eq(msg(0),
			 "X/cmsd.xml:3: element <arbiter>: plugin "
			 "\"conf-keys\" is a resource plugin; <arbiter> "
			 "needs a quorum plugin");
}
END_TEST

START_TEST(plugin_accessor_errors)
{
	const char *text =
		HEAD "<cmsd version=\"1\">\n" ONE_NODE "  <group id=\"g\">\n"
		     "    <resource id=\"a\" plugin=\"conf-keys\">\n"
		     "      <count>11</count>\n"
		     "      <delay>5ms</delay>\n"
		     "      <mode>quick</mode>\n"
		     "      <size>12X</size>\n"
		     "      <flag>perhaps</flag>\n"
		     "      <item/>\n"
		     "      <adress>1.2.3.4</adress>\n"
		     "    </resource>\n"
		     "    <resource id=\"b\" plugin=\"conf-keys\"><unchecked/>"
		     "</resource>\n"
		     "  </group>\n"
		     "</cmsd>\n";
	static const char *const want[] = {
		"X/cmsd.xml:14: element <adress>: unknown key in <resource>; "
		"did you mean <address>?",
		"X/cmsd.xml:7: element <resource>: missing required <address>",
		"X/cmsd.xml:8: element <count>: 11 is out of range 1..10",
		"X/cmsd.xml:9: element <delay>: 5ms is out of range 10ms..1m",
		"X/cmsd.xml:10: element <mode>: \"quick\" is not one of: fast, "
		"safe",
		"X/cmsd.xml:11: element <size>: \"12X\" is not a size (e.g. "
		"512, "
		"64K, 10M, 19G, 1T)",
		"X/cmsd.xml:12: element <flag>: \"perhaps\" is not yes or no",
		"X/cmsd.xml:13: element <item>: needs name=",
		"X/cmsd.xml:16: element <resource>: plugin \"conf-keys\" "
		"rejected the section: Input/output error",
	};

	ck_assert_int_eq(load_text(text, FAKE_PLUGIN_DIR, NULL), 9);
	for (int i = 0; i < 9; i++)
		ck_assert_str_eq(msg(i), want[i]);
}
END_TEST

START_TEST(reload_beside_running)
{
	struct conf *old, *new;

	ck_assert_int_eq(load_file("two-node.xml", "node1", &old), 0);
	ck_assert_int_eq(load_file("two-node.xml", "node2", &new), 0);
	/* The same plugins, shared and counted. */
	ck_assert_ptr_eq(old->inst[1].plugin, new->inst[1].plugin);
	ck_assert_int_eq(old->inst[1].plugin->refs, 4);
	ck_assert(conf_instance_equal(&old->inst[1], &new->inst[1]));
	ck_assert(!conf_instance_equal(&old->inst[1], &new->inst[2]));
	conf_free(old);
	ck_assert_int_eq(new->inst[1].plugin->refs, 2);
	ck_assert_str_eq(new->local_node, "node2");
	ck_assert_str_eq(conf_plugin_ops.text(conf_plugin_ops.child(
				 new->inst[1].section, "address", 0)),
			 "172.16.60.55/24");
	conf_free(new);
}
END_TEST

/* After conf_load returned, the load's error callback (and its argument)
 * may be gone: an accessor error on the live config goes to the log. */
START_TEST(live_config_errors_logged)
{
	struct conf *c;
	char logpath[512], line[2048];
	struct log_options lo = {.ident = "cmsd", .file = logpath};
	bool found = false;
	int64_t v;

	snprintf(logpath, sizeof(logpath), "%s/cmsd.log", dir);
	ck_assert_int_eq(log_open(&lo), 0);
	ck_assert_int_eq(load_file("two-node.xml", "node1", &c), 0);
	ck_assert_int_eq(n_msgs, 0);
	ck_assert_int_eq(conf_plugin_ops.get_int(c->inst[1].section, "count", 0,
						 0, 2, &v),
			 -EINVAL);
	ck_assert_int_eq(n_msgs, 0);
	log_close();
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "warning: " SOURCE_DIR "/tests/unit/conf/"
				 "two-node.xml:26: element <count>: 3 is out "
				 "of range 0..2"))
			found = true;
	fclose(f);
	ck_assert(found);
	conf_free(c);
}
END_TEST

/* Line numbers past 65535 are exact (libxml2 caps them unless asked). */
START_TEST(line_numbers_past_65535)
{
	size_t pad = 70000;
	size_t len = strlen(HEAD) + pad + 256;
	char *text = malloc(len);

	ck_assert_ptr_nonnull(text);
	int n = snprintf(text, len, HEAD "<cmsd version=\"1\">");
	memset(text + n, '\n', pad);
	snprintf(text + n + pad, len - (size_t)n - pad,
		 "<paths log-file=\"relative\"/>" ONE_NODE "</cmsd>\n");
	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:70002: element <paths>: "
				 "log-file=\"relative\" is not an absolute "
				 "path");
	free(text);
}
END_TEST

/* The schema's own messages, rewritten, for what the structure walk lets
 * through (it catches these first in conf_load). */
START_TEST(schema_messages)
{
#define NODE_N "<node id=\"n\"><link address=\"1.2.3.4\"/></node>"
	static const struct {
		const char *body, *want;
	} cases[] = {
		{"<cluster id=\"c\">\n<timer/>\n" NODE_N "</cluster>\n",
		 "X:3: element <timer>: not expected here (in <cluster>); did "
		 "you mean <timers>?"},
		{"<cluster id=\"c\">\n<node id=\"n\"><link address=\"1.2.3.4\" "
		 "port=\"99999\"/></node></cluster>\n",
		 "X:3: element <link>: attribute port=\"99999\" has a bad "
		 "value "
		 "or is not allowed here"},
		{"<cluster id=\"c\">\n<node id=\"n\"><link "
		 "address=\"1.2.3.4\"/>"
		 "<x/></node></cluster>\n",
		 "X:3: element <x>: not expected here (in <node>)"},
		{"<cluster id=\"c\">\n" NODE_N "</cluster>\n<bogus/>\n",
		 "X:4: element <bogus>: not expected here (in <cmsd>)"},
		{"<cluster id=\"c\">\n<key-file>/k</key-file></cluster>\n",
		 "X:2: element <cluster>: missing required <node>"},
		{"<group id=\"g\"><resource id=\"r\" plugin=\"p\"/></group>\n"
		 "<cluster id=\"c\">\n" NODE_N "</cluster>\n",
		 "X:2: element <group>: not expected here (in <cmsd>): "
		 "<cluster> expected"},
		{"<cluster id=\"c\">\n" NODE_N "</cluster>\n<group id=\"g\">"
		 "<resource id=\"r\" plugin=\"p\" "
		 "optional=\"maybe\"/></group>\n",
		 "X:4: element <group>: does not match the schema here (in "
		 "<cmsd>): check its attributes, its content and its "
		 "position"},
	};
#undef NODE_N
	char text[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf_ctx ctx = {.path = "X", .err = collect};
		snprintf(text, sizeof(text),
			 "<cmsd version=\"1\">\n%s</cmsd>\n", cases[i].body);
		xmlDoc *doc = xmlReadMemory(text, (int)strlen(text), "x.xml",
					    NULL, XML_PARSE_NONET);
		ck_assert_ptr_nonnull(doc);
		n_msgs = 0;
		conf_check_schema(&ctx, doc);
		ck_assert_msg(ctx.errors == 1 && n_msgs == 1,
			      "case %zu: %d errors, first: %s", i, ctx.errors,
			      n_msgs ? msgs[0] : "");
		ck_assert_str_eq(msgs[0], cases[i].want);
		xmlFreeDoc(doc);
	}
}
END_TEST

START_TEST(external_entities_never_opened)
{
	/* A FIFO blocks whoever opens it for reading: if the parser tried to
	 * load the entity or the external subset, the test would hang and
	 * time out instead of getting the DOCTYPE refusal. */
	char fifo[512], text[1024];

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof(text),
		 HEAD "<!DOCTYPE cmsd SYSTEM \"file://%s\">\n"
		      "<cmsd version=\"1\"/>\n",
		 fifo);
	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: DOCTYPE <cmsd> not allowed: "
				 "cmsd.xml takes no DTD and no entities");
	snprintf(text, sizeof(text),
		 HEAD "\n<!DOCTYPE cmsd [<!ENTITY x SYSTEM \"%s\">]>\n"
		      "<cmsd version=\"1\">&x;</cmsd>\n",
		 fifo);
	n_msgs = 0;
	ck_assert_int_eq(load_text(text, NULL, NULL), 1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:3: DOCTYPE <cmsd> not allowed: "
				 "cmsd.xml takes no DTD and no entities");
	/* Without a DOCTYPE an entity reference is simply undefined. */
	n_msgs = 0;
	ck_assert_int_eq(
		load_text(HEAD "<cmsd version=\"1\">&x;</cmsd>\n", NULL, NULL),
		1);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:2: Entity 'x' not defined");
}
END_TEST

START_TEST(ops_error_and_require)
{
	const struct cmsd_conf_ops *o = &conf_plugin_ops;
	const struct cmsd_conf *c = keys_section("<k>v</k>\n");
	static const char *const none[] = {NULL};

	ck_assert_int_eq(o->error(c, "k", "bad %s", "thing"), -EINVAL);
	ck_assert_str_eq(msg(0), "X/cmsd.xml:7: element <k>: bad thing");
	ck_assert_int_eq(o->error(c, NULL, "whole"), -EINVAL);
	ck_assert_str_eq(msg(1), "X/cmsd.xml:6: element <quorum>: whole");
	ck_assert_int_eq(o->require(c, "target"), -EINVAL);
	ck_assert_str_eq(msg(2), "X/cmsd.xml:6: element <quorum>: missing "
				 "required <target>");
	ck_assert_int_eq(o->check_keys(c, none), 1);
	ck_assert_str_eq(msg(3),
			 "X/cmsd.xml:7: element <k>: unknown key in <quorum>");
	const char *s;
	ck_assert_int_eq(o->get_string(c, "k", NULL, &s), 0);
	ck_assert_str_eq(s, "v");
	ck_assert_int_eq(o->get_string(c, "z", "def", &s), 1);
	ck_assert_str_eq(s, "def");
	ck_assert_uint_eq(o->count(c, NULL), 1);
	ck_assert_ptr_null(o->child(c, "k", 1));
	ck_assert_str_eq(o->text(o->child(c, NULL, 0)), "v");
	conf_free(acc_conf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, examples_valid);
	tcase_add_test(tc, model_and_defaults);
	tcase_add_test(tc, typo_in_element);
	tcase_add_test(tc, typo_in_attribute);
	tcase_add_test(tc, duplicate_id);
	tcase_add_test(tc, dangling_reference);
	tcase_add_test(tc, deadtime_too_short);
	tcase_add_test(tc, unknown_plugin);
	tcase_add_test(tc, wrong_kind_and_abi);
	tcase_add_test(tc, plugin_validate_errors);
	tcase_add_test(tc, bad_duration_attribute);
	tcase_add_test(tc, two_nodes_need_quorum_key_tls);
	tcase_add_test(tc, missing_required_element);
	tcase_add_test(tc, doctype_and_entities_refused);
	tcase_add_test(tc, not_xml_and_missing_file);
	tcase_add_test(tc, every_error_reported);
	tcase_add_test(tc, accessors);
	tcase_add_test(tc, value_parsers);
	tcase_add_test(tc, two_node_model);
	tcase_add_test(tc, sync_partition_before_lun);
	tcase_add_test(tc, local_node_selection);
	tcase_add_test(tc, structure_messages);
	tcase_add_test(tc, root_attributes);
	tcase_add_test(tc, many_errors_in_one_run);
	tcase_add_test(tc, timer_rules);
	tcase_add_test(tc, arbiter_mode);
	tcase_add_test(tc, plugin_accessor_errors);
	tcase_add_test(tc, reload_beside_running);
	tcase_add_test(tc, live_config_errors_logged);
	tcase_add_test(tc, line_numbers_past_65535);
	tcase_add_test(tc, schema_messages);
	tcase_add_test(tc, external_entities_never_opened);
	tcase_add_test(tc, ops_error_and_require);
	tcase_add_test(tc, crash_in_validate_named);
	tcase_add_test(tc, links_and_split_brain_policy);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
