/*
 * quorum-cmsd end to end on loopback: the real cmsd in arbiter mode (a
 * child process with its own configuration, certificates from mkcerts.sh
 * and a state directory in a temp dir) and the plugin's node side loaded
 * from the build tree and driven in-process as node1 and node2 through the
 * agent's own instance layer on its libevent loop.
 *
 * Times are measured on CLOCK_MONOTONIC, which the arbiter process and
 * this one share, so "node2 was granted only after node1's lease and the
 * margin had passed" is checked against node1's own view of its lease.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "instance.h"
#include "loop.h"
#include "spawn.h"
#include "testutil.h"
#include "tlsc.h"
#include "wire.h"

#define LEASE	 600  /* what the nodes ask for */
#define MARGIN	 (LEASE / 4) /* the arbiter's default: a quarter of the lease */
#define SLACK_MS 1000 /* scheduling on a busy machine, ASan */

/* Each test works in a directory under root; main() removes root after
 * all tests, since a failed check ends its forked test with _exit(), which
 * skips atexit handlers and the teardown.  The arbiter dies with its test
 * (PR_SET_PDEATHSIG). */
static char root[] = "/tmp/cmsd-quorum-test.XXXXXX";
static char *dir;
static int port;
static pid_t arb_pid = -1;
static int arb_starts; /* "started arbiter" lines the log should hold */

/* ---- the arbiter process ---- */

static void at_exit_cleanup(void)
{
	char cmd[600];

	if (arb_pid > 0) {
		kill(arb_pid, SIGKILL);
		waitpid(arb_pid, NULL, 0);
		arb_pid = -1;
	}
	if (dir) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static int log_count(const char *needle)
{
	char path[512];
	int n = 0;

	snprintf(path, sizeof(path), "%s/arb.log", dir);
	char *text = slurp(path);
	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

static void dump_log(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/arb.log", dir);
	char *text = slurp(path);
	fprintf(stderr, "--- arbiter log:\n%s---\n", text);
	free(text);
}

/* The arbiter's configuration; `name_a` is whose certificate and key it
 * uses for cluster vms-a ("arbiter", or another to try a wrong one). */
static void arb_conf(const char *name_a)
{
	char xml[4096];

	snprintf(xml, sizeof(xml),
		 "<?xml version=\"1.0\"?>\n"
		 "<cmsd version=\"1\" mode=\"arbiter\">\n"
		 "  <paths state-dir=\"%s/state\" log-file=\"%s/arb.log\" "
		 "control-socket=\"%s/arb.sock\"/>\n"
		 "  <arbiter id=\"arbiter\" plugin=\"quorum-cmsd\">\n"
		 "    <listen>127.0.0.1:%d</listen>\n"
		 "    <cluster id=\"vms-a\"><ca>%s/a/ca.pem</ca>"
		 "<cert>%s/a/%s.pem</cert><key>%s/a/%s.key</key></cluster>\n"
		 "    <cluster id=\"vms-b\"><ca>%s/b/ca.pem</ca>"
		 "<cert>%s/b/arbiter.pem</cert><key>%s/b/arbiter.key</key>"
		 "</cluster>\n"
		 "  </arbiter>\n"
		 "</cmsd>\n",
		 dir, dir, dir, port, dir, dir, name_a, dir, name_a, dir, dir,
		 dir);
	free(tu_write(dir, "arb.xml", xml));
}

static pid_t arb_spawn(void)
{
	const char *bin = getenv("CMSD_BIN") ? getenv("CMSD_BIN") : CMSD_BIN;
	char conf[512], out[512];
	pid_t p;

	snprintf(conf, sizeof(conf), "%s/arb.xml", dir);
	snprintf(out, sizeof(out), "%s/arb.out", dir);
	p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
		/* Never outlives the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "-c", conf, "-p", BUILD_PLUGIN_DIR,
		      (char *)NULL);
		_exit(127);
	}
	return p;
}

/* Waits up to ms for pid to exit; its wait status, or -1. */
static int wait_exit(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		ck_assert_int_eq(r, 0);
		usleep(10000);
	}
	return -1;
}

/* Runs the loop for ms milliseconds (the nodes' connections live on). */
static void run_for(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_base_loopexit(loop_base(), &tv);
	event_base_dispatch(loop_base());
}

static void arb_start(void)
{
	uint64_t end = loop_now_ms() + 20000;
	int st;

	arb_pid = arb_spawn();
	arb_starts++;
	while (log_count("started arbiter") < arb_starts) {
		if (waitpid(arb_pid, &st, WNOHANG) == arb_pid) {
			arb_pid = -1;
			dump_log();
			ck_abort_msg("the arbiter exited (status %d)", st);
		}
		if (loop_now_ms() > end) {
			dump_log();
			ck_abort_msg("the arbiter did not start");
		}
		run_for(20);
	}
}

static void arb_stop(int sig)
{
	ck_assert_int_gt(arb_pid, 0);
	ck_assert_int_eq(kill(arb_pid, sig), 0);
	int st = wait_exit(arb_pid, 10000);
	if (st == -1) {
		kill(arb_pid, SIGKILL);
		waitpid(arb_pid, NULL, 0);
		arb_pid = -1;
		ck_abort_msg("the arbiter did not stop on signal %d", sig);
	}
	arb_pid = -1;
	if (sig == SIGTERM)
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "arbiter exit status %d", st);
}

/* ---- nodes: the plugin's node side in this process ---- */

struct node {
	const char *id;
	struct conf *conf;
	struct instance *in;
	char state[160]; /* the last CMSD_EV_STATE_CHANGED detail */
	int gained, lost;
};

struct res {
	int calls, rc;
	uint64_t t_call, t_done;
	struct cmsd_vote_request req;
	struct cmsd_vote out;
	struct instance_vote_args args;
};

static void on_event(struct instance *in, enum cmsd_event ev,
		     const char *detail, void *arg)
{
	struct node *n = arg;

	(void)in;
	if (ev == CMSD_EV_STATE_CHANGED)
		snprintf(n->state, sizeof(n->state), "%s",
			 detail ? detail : "");
	if (ev == CMSD_EV_QUORUM_GAINED)
		n->gained++;
	if (ev == CMSD_EV_QUORUM_LOST)
		n->lost++;
}

static void on_done(struct instance *in, enum op_kind kind, int rc, void *arg)
{
	struct res *r = arg;

	(void)in;
	(void)kind;
	r->calls++;
	r->rc = rc;
	r->t_done = loop_now_ms();
}

static void run_until(struct res *r, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (!r->calls && loop_now_ms() < end)
		run_for(10);
}

/* node `id` of cluster `cluster`, with the certificates of `certs` (a or
 * b: a certificate of another cluster's CA is a test too). */
static void node_make(struct node *n, const char *id, const char *cluster,
		      const char *certs)
{
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};
	char xml[4096], name[128];
	struct res r = {0};

	memset(n, 0, sizeof(*n));
	n->id = id;
	snprintf(xml, sizeof(xml),
		 "<?xml version=\"1.0\"?>\n"
		 "<cmsd version=\"1\" mode=\"node\" node=\"%s\">\n"
		 "  <paths state-dir=\"%s/%s-%s\" log-file=\"%s/nodes.log\" "
		 "control-socket=\"%s/%s.sock\"/>\n"
		 "  <cluster id=\"%s\">\n"
		 "    <key-file>%s/%s/cluster.key</key-file>\n"
		 "    <tls ca=\"%s/%s/ca.pem\" cert=\"%s/%s/%s.pem\" "
		 "key=\"%s/%s/%s.key\"/>\n"
		 "    <timers heartbeat-interval=\"100ms\" deadtime=\"1s\" "
		 "lease=\"600ms\"/>\n"
		 "    <node id=\"node1\"><link address=\"127.0.0.1\" "
		 "port=\"17001\"/></node>\n"
		 "    <node id=\"node2\"><link address=\"127.0.0.2\" "
		 "port=\"17002\"/></node>\n"
		 "  </cluster>\n"
		 "  <quorum id=\"arbiter\" plugin=\"quorum-cmsd\">\n"
		 "    <arbiter>127.0.0.1:%d</arbiter>\n"
		 "    <arbiter-name>cvknode3</arbiter-name>\n"
		 "    <connect-timeout>1s</connect-timeout>\n"
		 "  </quorum>\n"
		 "</cmsd>\n",
		 id, dir, id, cluster, dir, dir, id, cluster, dir, certs, dir,
		 certs, dir, certs, id, dir, certs, id, port);
	snprintf(name, sizeof(name), "%s-%s-%s.xml", id, cluster, certs);
	char *path = tu_write(dir, name, xml);
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, &n->conf), 0);
	free(path);
	ck_assert_str_eq(n->conf->inst[0].id, "arbiter");
	instance_set_state_root(n->conf->state_dir);
	instance_set_identity(n->conf);
	ck_assert_int_eq(instance_new(&n->conf->inst[0], on_event, n, &n->in),
			 0);
	ck_assert_int_eq(
		instance_call(n->in, OP_START, 2000, NULL, on_done, &r), 0);
	run_until(&r, 3000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
}

static void node_free(struct node *n)
{
	instance_free(n->in);
	conf_free(n->conf);
	n->in = NULL;
	n->conf = NULL;
}

static void vote_begin(struct node *n, enum op_kind kind, uint64_t gen,
		       uint64_t timeout, struct res *r)
{
	memset(r, 0, sizeof(*r));
	r->req = (struct cmsd_vote_request){
		.size = sizeof(r->req),
		.node_id = n->id,
		.epoch = 0,
		.generation = gen,
		.data_usable = 1,
		.peer_alive = 0,
		.lease_ms = LEASE,
		.peer_id = strcmp(n->id, "node1") ? "node1" : "node2",
	};
	r->out.size = sizeof(r->out);
	r->args = (struct instance_vote_args){&r->req, &r->out};
	r->t_call = loop_now_ms();
	ck_assert_int_eq(instance_call(n->in, kind, timeout,
				       kind == OP_RELEASE ? NULL : &r->args,
				       on_done, r),
			 0);
}

static int vote(struct node *n, enum op_kind kind, uint64_t gen,
		uint64_t timeout, struct res *r)
{
	vote_begin(n, kind, gen, timeout, r);
	run_until(r, timeout + 2000);
	ck_assert_int_eq(r->calls, 1);
	return r->rc;
}

static int monitor(struct node *n)
{
	struct res r = {0};

	ck_assert_int_eq(
		instance_call(n->in, OP_MONITOR, 1000, NULL, on_done, &r), 0);
	run_until(&r, 2000);
	return r.rc;
}

/* Runs the loop until n's status line ends with `what` ("(Online)"). */
static void wait_state(struct node *n, const char *what, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (!strstr(n->state, what) && loop_now_ms() < end)
		run_for(20);
	ck_assert_msg(strstr(n->state, what), "%s: state \"%s\", want %s",
		      n->id, n->state, what);
}

static void setup(void)
{
	char cmd[1024];

	ck_assert_int_ge(asprintf(&dir, "%s/t.XXXXXX", root), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	atexit(at_exit_cleanup);
	snprintf(cmd, sizeof(cmd),
		 "sh %s/tests/tools/mkcerts.sh %s/a node1 node2 arbiter && "
		 "sh %s/tests/tools/mkcerts.sh %s/b node1 node2 arbiter",
		 SOURCE_DIR, dir, SOURCE_DIR, dir);
	ck_assert_int_eq(system(cmd), 0);
	port = free_port();
	arb_starts = 0;
	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(spawn_init(), 0);
	arb_conf("arbiter");
}

static void teardown(void)
{
	if (arb_pid > 0)
		arb_stop(SIGTERM);
	spawn_shutdown();
	instance_shutdown();
	at_exit_cleanup();
	free(dir);
	dir = NULL;
}

/* ---- leases: grant, deny while renewed, failover timing, release ---- */

START_TEST(leases)
{
	struct node n1, n2;
	struct res r1, r2, r;

	arb_start();
	node_make(&n1, "node1", "vms-a", "a");
	node_make(&n2, "node2", "vms-a", "a");
	wait_state(&n1, "[controller] cvknode3 (Online)", 5000);
	wait_state(&n2, "[controller] cvknode3 (Online)", 5000);
	ck_assert_int_ge(n1.gained, 1);
	ck_assert_int_eq(monitor(&n1), CMSD_RUNNING);

	/* node1 is granted: a fresh cluster, epoch 1. */
	ck_assert_int_eq(vote(&n1, OP_REQUEST_VOTE, 10, 2000, &r), 0);
	ck_assert_msg(r.out.granted, "node1 refused: %s", r.out.reason);
	ck_assert_uint_eq(r.out.epoch, 1);
	ck_assert_str_eq(r.out.holder, "node1");
	/* The lease counts from when the request left. */
	ck_assert_uint_ge(r.out.expires_ms, r.t_call + LEASE);
	ck_assert_uint_le(r.out.expires_ms, r.t_done + LEASE);

	/* node2 asks while node1 renews: it keeps waiting ("held"), until
	 * the agent's deadline cancels its op; node1 keeps its lease. */
	vote_begin(&n2, OP_REQUEST_VOTE, 10, 1500, &r2);
	int renews = 0;
	while (!r2.calls) {
		ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 10, 1000, &r1), 0);
		ck_assert_msg(r1.out.granted, "renew refused: %s",
			      r1.out.reason);
		ck_assert_uint_eq(r1.out.epoch, 1);
		renews++;
		run_for(150);
	}
	ck_assert_int_eq(r2.rc, -ETIMEDOUT);
	ck_assert_int_ge(renews, 4);
	ck_assert(!r2.out.granted);
	ck_assert_str_eq(r2.out.holder, "node1");
	ck_assert_msg(strncmp(r2.out.reason, "held by node1", 13) == 0, "%s",
		      r2.out.reason);
	/* Cancelled cleanly: a reply still on its way completes nothing. */
	run_for(300);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_uint_eq(instance_stats(n2.in)->late_completions, 0);

	/* node1 renews once more and then goes silent: node2 is granted,
	 * but only after node1's lease and the margin. */
	ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 10, 1000, &r1), 0);
	ck_assert(r1.out.granted);
	uint64_t t_last = r1.t_call, e1 = r1.out.expires_ms;
	ck_assert_int_eq(vote(&n2, OP_REQUEST_VOTE, 10, 5000, &r2), 0);
	ck_assert_msg(r2.out.granted, "node2 refused: %s", r2.out.reason);
	ck_assert_str_eq(r2.out.holder, "node2");
	ck_assert_uint_eq(r2.out.epoch, 2);
	uint64_t took = r2.t_done - t_last;
	ck_assert_msg(took >= LEASE + MARGIN,
		      "granted %llu ms after node1's "
		      "last renewal",
		      (unsigned long long)took);
	ck_assert_msg(took <= LEASE + MARGIN + SLACK_MS,
		      "granted only %llu ms after node1's last renewal",
		      (unsigned long long)took);
	/* Never two masters: node1's own view ended before node2 heard. */
	ck_assert_uint_ge(r2.t_done, e1 + MARGIN);

	/* node1 cannot renew any more. */
	ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 10, 1000, &r1), 0);
	ck_assert(!r1.out.granted);
	ck_assert_str_eq(r1.out.reason, "no lease to renew: held by node2");
	ck_assert_str_eq(r1.out.holder, "node2");

	/* node2 releases: node1 gets it at once. */
	ck_assert_int_eq(vote(&n2, OP_RELEASE, 10, 1000, &r2), 0);
	ck_assert_int_eq(vote(&n1, OP_REQUEST_VOTE, 10, 2000, &r1), 0);
	ck_assert_msg(r1.out.granted, "%s", r1.out.reason);
	ck_assert_uint_eq(r1.out.epoch, 3);
	/* Not "node2's lease ran out": it had none left to wait for. */
	ck_assert_str_eq(r1.out.reason, "granted: new holder node1 (epoch 3)");
	ck_assert_uint_lt(r1.t_done - r1.t_call, LEASE + MARGIN);
	ck_assert_int_eq(monitor(&n1), CMSD_RUNNING);
	ck_assert_int_eq(monitor(&n2), CMSD_RUNNING);

	/* The arbiter goes away: both nodes say so. */
	arb_stop(SIGTERM);
	wait_state(&n1, "[controller] cvknode3 (Offline)", 3000);
	wait_state(&n2, "[controller] cvknode3 (Offline)", 3000);
	ck_assert_int_ge(n1.lost, 1);
	ck_assert_int_eq(monitor(&n1), CMSD_STOPPED);
	/* A vote finds no arbiter within connect-timeout. */
	ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 10, 5000, &r1), -ENOTCONN);
	ck_assert_uint_ge(r1.t_done - r1.t_call, 950);
	ck_assert_uint_le(r1.t_done - r1.t_call, 1000 + SLACK_MS);

	/* It comes back (cleanly stopped: its state file is current); the
	 * nodes reconnect by themselves and node1 still holds the lease. */
	arb_start();
	wait_state(&n1, "[controller] cvknode3 (Online)", 8000);
	wait_state(&n2, "[controller] cvknode3 (Online)", 8000);
	ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 10, 2000, &r1), 0);
	ck_assert_msg(r1.out.granted, "%s", r1.out.reason);
	ck_assert_uint_eq(r1.out.epoch, 3);

	node_free(&n1);
	node_free(&n2);
}
END_TEST

/* ---- memory: the state file across crashes ---- */

START_TEST(memory_across_crashes)
{
	struct node n1, n2;
	struct res r;
	char path[512];

	arb_start();
	node_make(&n1, "node1", "vms-a", "a");
	ck_assert_int_eq(vote(&n1, OP_REQUEST_VOTE, 10, 2000, &r), 0);
	ck_assert(r.out.granted);
	ck_assert_int_eq(vote(&n1, OP_RENEW_LEASE, 11, 2000, &r), 0);
	ck_assert(r.out.granted);

	/* A crash right after the reply: what the reply said is on disk. */
	arb_stop(SIGKILL);
	snprintf(path, sizeof(path), "%s/state/arbiter/vms-a.arbiter", dir);
	char *text = slurp(path);
	ck_assert_msg(strstr(text, "\nholder node1\n") &&
			      strstr(text, "\nepoch 1\n") &&
			      strstr(text, "\nlast-generation 11\n"),
		      "state file:\n%s", text);
	free(text);

	/* Restarted, it counts node1's lease from its own start: node2,
	 * though newer, waits a full lease and the margin. */
	uint64_t t_spawn = loop_now_ms(); /* it reads the state after this */
	arb_start();
	node_make(&n2, "node2", "vms-a", "a");
	ck_assert_int_eq(vote(&n2, OP_REQUEST_VOTE, 12, 5000, &r), 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_uint_eq(r.out.epoch, 2); /* 1 was remembered */
	ck_assert_uint_ge(r.t_done - t_spawn, LEASE + MARGIN);

	/* Full outage: the arbiter crashes again; node1 comes back alone
	 * with data older than node2's and is refused. */
	arb_stop(SIGKILL);
	node_free(&n2);
	arb_start();
	ck_assert_int_eq(vote(&n1, OP_REQUEST_VOTE, 11, 5000, &r), 0);
	ck_assert(!r.out.granted);
	ck_assert_str_eq(r.out.reason,
			 "data older than last master node2's: 11 < 12");
	ck_assert_str_eq(r.out.holder, "node2");
	/* node2 is still the holder, with the newest data. */
	node_make(&n2, "node2", "vms-a", "a");
	ck_assert_int_eq(vote(&n2, OP_REQUEST_VOTE, 12, 2000, &r), 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_uint_eq(r.out.epoch, 2);
	node_free(&n1);
	node_free(&n2);
}
END_TEST

/* ---- a disk that refuses the state: nothing granted until it takes it ---- */

START_TEST(disk_failure)
{
	struct node b1;
	struct res r;
	char tmp[512];

	arb_start();
	node_make(&b1, "node1", "vms-b", "b");
	/* The writer's temp file cannot be made (a directory is in the way:
	 * even root cannot open it for writing). */
	snprintf(tmp, sizeof(tmp), "%s/state/arbiter/vms-b.arbiter.tmp", dir);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	vote_begin(&b1, OP_REQUEST_VOTE, 3, 8000, &r);
	uint64_t end = loop_now_ms() + 5000;
	while (!log_count("cannot save its state") && loop_now_ms() < end)
		run_for(20);
	ck_assert_int_ge(log_count("cluster vms-b: cannot save its state to "),
			 1);
	/* Refused so far ("ask again"), never granted on a state that is
	 * not on disk. */
	run_for(300);
	ck_assert_int_eq(r.calls, 0);
	ck_assert(!r.out.granted);
	ck_assert_msg(strstr(r.out.reason, "the arbiter cannot save its state"),
		      "%s", r.out.reason);
	/* The disk takes it again: the same op is granted. */
	ck_assert_int_eq(rmdir(tmp), 0);
	run_until(&r, 8000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_int_ge(log_count("cluster vms-b: state saved to "), 1);
	snprintf(tmp, sizeof(tmp), "%s/state/arbiter/vms-b.arbiter", dir);
	char *text = slurp(tmp);
	ck_assert_msg(strstr(text, "\nholder node1\n"), "%s", text);
	free(text);
	node_free(&b1);
}
END_TEST

/* ---- validate: every key and rule, with the element named ---- */

static char msgs[16][400];
static int n_msgs;

static void collect(const char *msg, void *arg)
{
	(void)arg;
	if (n_msgs < 16)
		snprintf(msgs[n_msgs], sizeof(msgs[0]), "%s", msg);
	n_msgs++;
}

static bool has_msg(const char *want)
{
	for (int i = 0; i < n_msgs && i < 16; i++)
		if (strstr(msgs[i], want))
			return true;
	for (int i = 0; i < n_msgs && i < 16; i++)
		fprintf(stderr, "message: %s\n", msgs[i]);
	return false;
}

/* Loads a configuration whose <quorum> or <arbiter> holds `body`; the
 * number of errors. */
static int check_conf(bool arbiter, const char *body)
{
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};
	struct conf *c = NULL;
	char xml[4096];
	int n;

	if (arbiter)
		snprintf(xml, sizeof(xml),
			 "<?xml version=\"1.0\"?>\n"
			 "<cmsd version=\"1\" mode=\"arbiter\">\n"
			 "<paths state-dir=\"%s/state\"/>\n"
			 "<arbiter id=\"arbiter\" plugin=\"quorum-cmsd\">\n"
			 "%s\n</arbiter>\n</cmsd>\n",
			 dir, body);
	else
		snprintf(xml, sizeof(xml),
			 "<?xml version=\"1.0\"?>\n"
			 "<cmsd version=\"1\" mode=\"node\" node=\"n1\">\n"
			 "<paths state-dir=\"%s/state\"/>\n"
			 "<cluster id=\"t\"><node id=\"n1\"><link "
			 "address=\"127.0.0.1\"/></node></cluster>\n"
			 "<quorum id=\"q\" plugin=\"quorum-cmsd\">\n"
			 "%s\n</quorum>\n</cmsd>\n",
			 dir, body);
	char *path = tu_write(dir, "v.xml", xml);
	n_msgs = 0;
	n = conf_load(path, &ov, collect, NULL, &c);
	free(path);
	conf_free(c);
	return n;
}

START_TEST(validate)
{
	/* Node side. */
	ck_assert_int_eq(check_conf(false, "<arbiter>[fd00::3]:7790</arbiter>"
					   "<arbiter-name>cvknode3"
					   "</arbiter-name><connect-timeout>"
					   "500ms</connect-timeout>"),
			 0);
	ck_assert_int_eq(check_conf(false, "<arbiter>10.0.0.3:1</arbiter>"
					   "<renew-interval>200ms</renew-"
					   "interval>\n<lease>1s</lease>"),
			 2);
	ck_assert(has_msg("v.xml:6: element <renew-interval>: "
			  "<renew-interval> is no longer a quorum-cmsd key: "
			  "the agent renews the lease every <timers "
			  "heartbeat-interval> and asks for <timers lease>; "
			  "remove it"));
	ck_assert(has_msg("v.xml:7: element <lease>: <lease> is no longer"));
	ck_assert_int_eq(check_conf(false, "<arbiter>10.0.0.3</arbiter>"
					   "<arbiter-name>cvk node3"
					   "</arbiter-name><connect-timeout>"
					   "50ms</connect-timeout><listen>"
					   "0.0.0.0:1</listen>"),
			 4);
	ck_assert(has_msg("element <arbiter>: \"10.0.0.3\" needs a port"));
	ck_assert(has_msg("element <arbiter-name>: \"cvk node3\" must be "
			  "1..63 characters without spaces or '/'"));
	ck_assert(has_msg("element <connect-timeout>: "));
	ck_assert(has_msg("element <listen>: unknown key"));
	ck_assert_int_eq(check_conf(false, ""), 1);
	ck_assert(has_msg("missing required <arbiter>"));

	/* Arbiter side. */
	ck_assert_int_eq(
		check_conf(
			true,
			"<listen>[::1]:7790</listen><margin>0</margin>"
			"<cluster id=\"a.1\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key></cluster>"
			"<cluster id=\"b\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key><state-file>/s</state-file></cluster>"),
		0);
	ck_assert_int_gt(
		check_conf(
			true,
			"<listen>0.0.0.0:7790</listen><margin>11s</margin>"
			"<arbiter>1.2.3.4:5</arbiter>\n"
			"<cluster id=\"a\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key><state-file>/s</state-file></cluster>\n"
			"<cluster id=\"b\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key><state-file>/s</state-file></cluster>\n"
			"<cluster id=\"_x\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key></cluster>\n"
			"<cluster id=\"a\"><ca>/c</ca><cert>/c</cert>"
			"<key>/k</key><bogus/></cluster>"),
		0);
	ck_assert(has_msg("element <margin>: "));
	ck_assert(has_msg("element <arbiter>: unknown key"));
	ck_assert(has_msg("v.xml:7: element <state-file>: state file /s is "
			  "cluster \"a\"'s already"));
	ck_assert(has_msg("v.xml:8: element <cluster>: cluster id \"_x\" "
			  "must be 1..63 of A-Z a-z 0-9 - _ . starting with a "
			  "letter or digit"));
	ck_assert(has_msg("v.xml:9: element <cluster>: cluster id \"a\" "
			  "appears twice"));
	ck_assert(has_msg("v.xml:9: element <bogus>: unknown key"));
	ck_assert_int_eq(check_conf(true, "<listen>0.0.0.0:7790</listen>"), 1);
	ck_assert(has_msg("missing required <cluster>"));
}
END_TEST

/* ---- start refused: damaged state, wrong certificate ---- */

START_TEST(refuses_to_start)
{
	char path[512];
	int st;

	/* A truncated state file: no grant on a guess. */
	snprintf(path, sizeof(path), "%s/state", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/state/arbiter", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	free(tu_write(path, "vms-a.arbiter",
		      "version 1\ncluster vms-a\nholder node1\n"));
	arb_pid = arb_spawn();
	st = wait_exit(arb_pid, 20000);
	arb_pid = -1;
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "status %d", st);
	snprintf(path, sizeof(path),
		 "cluster vms-a: state file %s/state/arbiter/vms-a.arbiter "
		 "is damaged (truncated after line 3: \"lease-ms\" "
		 "missing): "
		 "refusing to start",
		 dir);
	if (log_count(path) != 1)
		dump_log();
	ck_assert_int_eq(log_count(path), 1);
	ck_assert_int_eq(log_count("cmsd cannot run without arbiter: "
				   "exiting"),
			 1);

	/* A certificate that is not the arbiter's. */
	snprintf(path, sizeof(path), "%s/state/arbiter/vms-a.arbiter", dir);
	ck_assert_int_eq(unlink(path), 0);
	arb_conf("node1");
	arb_pid = arb_spawn();
	st = wait_exit(arb_pid, 20000);
	arb_pid = -1;
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "status %d", st);
	ck_assert_int_eq(log_count("has CN \"node1\": nodes accept only an "
				   "arbiter certificate with CN \"arbiter\""),
			 1);
}
END_TEST

/* ---- identities: clusters kept apart, impostors and garbage ---- */

static SSL_CTX *raw_ctx;

static int raw_tcp(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void raw_poll(int fd, int mask, int ms)
{
	struct pollfd p = {
		.fd = fd,
		.events = (short)(POLLIN |
				  (mask & TLSC_WANT_WRITE ? POLLOUT : 0))};
	poll(&p, 1, ms);
}

/* A TLS client of our own, as `cn` of cluster dir `certs`, naming `sni`. */
static struct tlsc *raw_open(const char *certs, const char *cn, const char *sni)
{
	char ca[512], cert[512], key[512], err[256];
	uint64_t end = loop_now_ms() + 5000;
	struct tlsc *c;
	int fd, mask;

	snprintf(ca, sizeof(ca), "%s/%s/ca.pem", dir, certs);
	snprintf(cert, sizeof(cert), "%s/%s/%s.pem", dir, certs, cn);
	snprintf(key, sizeof(key), "%s/%s/%s.key", dir, certs, cn);
	tlsc_ctx_free(raw_ctx);
	raw_ctx = tlsc_ctx_new(TLSC_CLIENT, ca, cert, key, err, sizeof(err));
	ck_assert_msg(raw_ctx != NULL, "%s", err);
	fd = raw_tcp();
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	c = tlsc_new(raw_ctx, fd, TLSC_CLIENT, sni, "arbiter");
	ck_assert_ptr_nonnull(c);
	while (!tlsc_ready(c)) {
		mask = tlsc_io(c, true, true);
		ck_assert_msg(mask >= 0, "handshake: %s", tlsc_error(c));
		if (tlsc_ready(c))
			break;
		ck_assert_msg(loop_now_ms() < end, "handshake too slow");
		raw_poll(fd, mask, 50);
	}
	return c;
}

/* The next frame's type and F_TEXT; -errno when the connection ended
 * first, 0 after ms without anything. */
static int raw_recv(struct tlsc *c, char *text, size_t cap, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	struct wire_msg m;

	for (;;) {
		int rc = tlsc_recv(c, &m);
		if (rc == 0) {
			int mask = tlsc_io(c, true, true);
			if (mask < 0)
				return mask;
			rc = tlsc_recv(c, &m);
			if (rc == 0) {
				if (loop_now_ms() >= end)
					return 0;
				raw_poll(tlsc_fd(c), mask, 50);
				continue;
			}
		}
		if (rc < 0)
			return rc;
		text[0] = '\0';
		wire_get_str(&m, F_TEXT, text, cap);
		return m.type;
	}
}

static void raw_send_vote(struct tlsc *c, const char *node, const char *cluster)
{
	uint8_t buf[512];
	struct wire_buf b;
	int n;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_VOTE_REQ);
	wire_put_str(&b, F_NODE, node);
	wire_put_str(&b, F_CLUSTER, cluster);
	wire_put_u64(&b, F_KIND, WIRE_VOTE_REQUEST);
	wire_put_u64(&b, F_EPOCH, 0);
	wire_put_u64(&b, F_GENERATION, 99);
	wire_put_u64(&b, F_FLAGS, WIRE_FL_DATA_USABLE);
	wire_put_u64(&b, F_LEASE_MS, 60000);
	wire_put_u64(&b, F_REQ_ID, 1);
	n = wire_end(&b);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(tlsc_send(c, buf, (size_t)n), 0);
}

/* The arbiter answers ERROR with `want` in its text, then closes. */
static void expect_error_close(struct tlsc *c, const char *want)
{
	char text[300];
	int t = raw_recv(c, text, sizeof(text), 3000);

	ck_assert_msg(t == WIRE_T_ERROR, "got %d, want an ERROR frame", t);
	ck_assert_msg(strstr(text, want), "error \"%s\" lacks \"%s\"", text,
		      want);
	t = raw_recv(c, text, sizeof(text), 3000);
	ck_assert_msg(t < 0, "connection not closed after the error (%d)", t);
	tlsc_free(c);
}

START_TEST(identities)
{
	struct node a1, b1, x, y;
	struct res r;

	arb_start();
	/* One arbiter, two clusters with the same node names: separate. */
	node_make(&a1, "node1", "vms-a", "a");
	node_make(&b1, "node1", "vms-b", "b");
	ck_assert_int_eq(vote(&a1, OP_REQUEST_VOTE, 5, 2000, &r), 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_uint_eq(r.out.epoch, 1);
	ck_assert_int_eq(vote(&b1, OP_REQUEST_VOTE, 1, 2000, &r), 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_uint_eq(r.out.epoch, 1);

	/* node1 of cluster B cannot act for cluster A: its certificate is
	 * of B's CA, and A's context refuses it in the handshake. */
	int refused = log_count("handshake refused");
	node_make(&x, "node1", "vms-a", "b");
	ck_assert_int_eq(vote(&x, OP_REQUEST_VOTE, 99, 5000, &r), -ENOTCONN);
	ck_assert_int_gt(log_count("handshake refused"), refused);
	/* Nor may it name a cluster the arbiter does not serve. */
	node_make(&y, "node1", "vms-c", "a");
	ck_assert_int_eq(vote(&y, OP_REQUEST_VOTE, 99, 5000, &r), -ENOTCONN);
	node_free(&x);
	node_free(&y);

	/* node2's certificate speaking for node1: refused and closed. */
	struct tlsc *c = raw_open("a", "node2", "vms-a");
	raw_send_vote(c, "node1", "vms-a");
	expect_error_close(c, "VOTE_REQ for node \"node1\" from the "
			      "certificate of \"node2\"");
	/* A connection for cluster A asking for cluster B. */
	c = raw_open("a", "node1", "vms-a");
	raw_send_vote(c, "node1", "vms-b");
	expect_error_close(c, "VOTE_REQ for cluster \"vms-b\" on a connection "
			      "for cluster \"vms-a\"");
	/* Bytes inside TLS that are no frame. */
	c = raw_open("a", "node1", "vms-a");
	ck_assert_int_eq(tlsc_send(c, "hello arbiter, how are you?", 27), 0);
	expect_error_close(c, "read: not a cmsd frame (bad magic)");

	/* Garbage instead of TLS: closed; the arbiter lives on. */
	int fd = raw_tcp();
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7919u >> 3);
	memcpy(junk, "GET / HTTP/1.0\r\n\r\n", 18);
	ck_assert_int_eq(send(fd, junk, sizeof(junk), MSG_NOSIGNAL),
			 (ssize_t)sizeof(junk));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	bool closed = false;
	uint64_t end = loop_now_ms() + 8000;
	while (!closed && loop_now_ms() < end) {
		ck_assert_int_ge(poll(&p, 1, 100), 0);
		if (p.revents) {
			ssize_t n = recv(fd, junk, sizeof(junk), 0);
			closed = n == 0 || (n < 0 && errno == ECONNRESET);
		}
	}
	close(fd);
	ck_assert_msg(closed, "the arbiter kept a garbage connection open");
	/* A silent connection is dropped after the handshake timeout (5 s);
	 * refusals are logged rate-limited, so the time tells. */
	fd = raw_tcp();
	p.fd = fd;
	closed = false;
	uint64_t t0 = loop_now_ms();
	end = t0 + 9000;
	while (!closed && loop_now_ms() < end) {
		ck_assert_int_ge(poll(&p, 1, 100), 0);
		if (p.revents) {
			ssize_t n = recv(fd, junk, sizeof(junk), 0);
			closed = n == 0 || (n < 0 && errno == ECONNRESET);
		}
	}
	close(fd);
	ck_assert_msg(closed, "a silent connection was kept");
	ck_assert_uint_ge(loop_now_ms() - t0, 4900);

	ck_assert_int_eq(kill(arb_pid, 0), 0);
	ck_assert_int_eq(vote(&a1, OP_RENEW_LEASE, 5, 2000, &r), 0);
	ck_assert_msg(r.out.granted, "%s", r.out.reason);
	ck_assert_int_ge(log_count("from the certificate of \"node2\": "
				   "closed"),
			 1);
	tlsc_ctx_free(raw_ctx);
	raw_ctx = NULL;
	node_free(&a1);
	node_free(&b1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("quorum_cmsd");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, leases);
	tcase_add_test(tc, memory_across_crashes);
	tcase_add_test(tc, disk_failure);
	tcase_add_test(tc, refuses_to_start);
	tcase_add_test(tc, identities);
	tcase_add_test(tc, validate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char cmd[128];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(root)) {
		perror(root);
		return EXIT_FAILURE;
	}
	rc = tu_run(suite());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
