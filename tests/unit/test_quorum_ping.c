/*
 * quorum-ping through the agent's instance API on the real loop.
 *
 * "contract" (no privileges, no traffic): the ops before start, and the
 * targets validate refuses.
 *
 * "netns" runs only when tests/cluster/quorum_ping.test.sh starts this
 * program inside the namespace A it made (QP_NS_B, QP_NS_C, QP_IF_B set):
 * real ICMP and ICMPv6 echo over veth links,
 *   A (plugin) -- B: answers   (10.201.1.2, fd00:201:1::2)
 *   A          -- C: silent    (10.201.2.3, fd00:201:2::3: echo ignored)
 *                    C also owns 10.201.2.4 / fd00:201:2::4, no target,
 *                    and forges replies from there and from the target.
 * Faults: B's link down (IPv4), B's address removed (IPv6), and back.
 * Both socket kinds: net.ipv4.ping_group_range in A decides whether the
 * unprivileged datagram socket is allowed or the raw fallback is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "plugtest.h"

#define INTERVAL_MS 100
#define TIMEOUT_MS  500

#define B4    "10.201.1.2"
#define C4    "10.201.2.3"
#define C4X   "10.201.2.4"
#define B6    "fd00:201:1::2"
#define C6    "fd00:201:2::3"
#define C6X   "fd00:201:2::4"
#define B6NET B6 "/64"

static char *dir;
static char logpath[512];
static struct conf *conf;

/* ---- events and op results ---- */

struct evrec {
	enum cmsd_event ev;
	char detail[256];
	uint64_t at_ms;
};

static struct evrec evs[512];
static int n_evs;

static void on_event(struct instance *in, enum cmsd_event ev,
		     const char *detail, void *arg)
{
	(void)in;
	(void)arg;
	if (n_evs == (int)(sizeof(evs) / sizeof(evs[0])))
		return;
	evs[n_evs].ev = ev;
	snprintf(evs[n_evs].detail, sizeof(evs[n_evs].detail), "%s",
		 detail ? detail : "");
	evs[n_evs].at_ms = loop_now_ms();
	n_evs++;
}

/* Index of the first event ev (with detail, when not NULL) at or after
 * `from`, running the loop up to ms for it; -1 when none came. */
static int wait_event(enum cmsd_event ev, const char *detail, int from,
		      uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	for (;;) {
		for (int i = from; i < n_evs; i++)
			if (evs[i].ev == ev &&
			    (!detail || strcmp(evs[i].detail, detail) == 0))
				return i;
		if (loop_now_ms() >= end)
			return -1;
		run_for(10);
	}
}

static int count_events(enum cmsd_event ev, int from)
{
	int n = 0;

	for (int i = from; i < n_evs; i++)
		n += evs[i].ev == ev;
	return n;
}

static void dump_events(void)
{
	for (int i = 0; i < n_evs; i++)
		fprintf(stderr, "event %d at %llu: %d %s\n", i,
			(unsigned long long)evs[i].at_ms, (int)evs[i].ev,
			evs[i].detail);
}

/* Runs op kind to its end (at most ms); returns its rc. */
static int call(struct instance *in, enum op_kind kind, void *args, uint64_t ms,
		struct result *r)
{
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(instance_call(in, kind, ms, args, on_done, r), 0);
	run_until(r, ms + 1000);
	ck_assert_int_eq(r->calls, 1);
	return r->rc;
}

static int vote(struct instance *in, enum op_kind kind, struct cmsd_vote *out,
		uint64_t *took_ms)
{
	struct cmsd_vote_request req = {.size = sizeof(req),
					.node_id = "n1",
					.lease_ms = 1000,
					.peer_id = "n2"};
	struct instance_vote_args va = {.req = &req, .out = out};
	struct result r;
	uint64_t t0 = loop_now_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	snprintf(out->holder, sizeof(out->holder), "unchanged");
	rc = call(in, kind, &va, 5000, &r);
	if (took_ms)
		*took_ms = r.at_ms - t0;
	return rc;
}

/* reason == "<up> answers (N.N ms); <down> silent" (up or down NULL:
 * that part absent; both given in configuration order up, down). */
static void assert_reason(const char *reason, const char *first, bool first_up,
			  const char *second, bool second_up)
{
	char pat[512];
	regex_t re;
	size_t n = 0;
	const char *names[2] = {first, second};
	bool up[2] = {first_up, second_up};

	n += (size_t)snprintf(pat + n, sizeof(pat) - n, "^");
	for (int i = 0; i < 2; i++) {
		if (i)
			n += (size_t)snprintf(pat + n, sizeof(pat) - n, "; ");
		for (const char *c = names[i]; *c; c++)
			n += (size_t)snprintf(pat + n, sizeof(pat) - n,
					      *c == '.' ? "\\%c" : "%c", *c);
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "%s",
				      up[i] ? " answers \\([0-9]+\\.[0-9] ms\\)"
					    : " silent");
	}
	snprintf(pat + n, sizeof(pat) - n, "$");
	ck_assert_int_eq(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, reason, 0, NULL, 0) == 0,
		      "reason \"%s\" does not match /%s/", reason, pat);
	regfree(&re);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- configuration and instance ---- */

static void setup(void)
{
	struct log_options lo = {.ident = "test", .to_stderr = true};

	dir = tu_tmpdir();
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	lo.file = logpath;
	ck_assert_int_eq(log_open(&lo), 0);
	ck_assert_int_eq(loop_init(), 0);
	n_evs = 0;
}

/* The netns cases run in a child Check forks into its own process group:
 * if the driver is killed (the script's cleanup), it must go too. */
static void setup_net(void)
{
	ck_assert_int_eq(prctl(PR_SET_PDEATHSIG, SIGKILL), 0);
	if (getppid() == 1)
		_exit(1);
	setup();
}

static void teardown(void)
{
	instance_shutdown();
	conf_free(conf);
	conf = NULL;
	log_close();
	tu_rmdir(dir);
	free(dir);
}

static char conf_errors[4096];

static void on_conf_error(const char *msg, void *arg)
{
	size_t n = strlen(conf_errors);

	(void)arg;
	snprintf(conf_errors + n, sizeof(conf_errors) - n, "%s\n", msg);
}

/* Loads a configuration whose quorum section holds `body`; 0 or the
 * number of errors (kept in conf_errors). */
static int load(const char *body)
{
	char xml[2048];
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};
	char *path;
	int rc;

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\"/></node></cluster>\n"
		 "<quorum id=\"ping\" plugin=\"quorum-ping\">%s</quorum>\n"
		 "</cmsd>\n",
		 dir, body);
	path = tu_write(dir, "cmsd.xml", xml);
	conf_free(conf);
	conf = NULL;
	conf_errors[0] = '\0';
	rc = conf_load(path, &ov, on_conf_error, NULL, &conf);
	free(path);
	return rc;
}

static struct instance *make(const char *t1, const char *t2)
{
	char body[512];
	struct instance *in;

	snprintf(body, sizeof(body),
		 "<target>%s</target><target>%s</target>"
		 "<interval>%dms</interval><timeout>%dms</timeout>",
		 t1, t2, INTERVAL_MS, TIMEOUT_MS);
	ck_assert_msg(load(body) == 0, "%s", conf_errors);
	instance_set_state_root(conf->state_dir);
	ck_assert_int_eq(conf->n_inst, 1);
	ck_assert_int_eq(instance_new(&conf->inst[0], on_event, NULL, &in), 0);
	return in;
}

/* ---- contract: no privileges needed ---- */

START_TEST(ops_before_start)
{
	struct instance *in = make("192.0.2.1", "198.51.100.1");
	struct cmsd_vote v;
	struct result r;

	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_STOPPED);
	/* No probes yet: a denial that says why, never a guess. */
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, NULL), 0);
	ck_assert_int_eq(v.granted, 0);
	ck_assert_str_eq(v.reason, "not started: no probes sent");
	ck_assert_str_eq(v.holder, "");
	ck_assert_uint_eq(v.expires_ms, 0);
	ck_assert_int_eq(vote(in, OP_RENEW_LEASE, &v, NULL), 0);
	ck_assert_int_eq(v.granted, 0);
	ck_assert_int_eq(call(in, OP_RELEASE, NULL, 1000, &r), 0);
	ck_assert_int_eq(call(in, OP_STOP, NULL, 1000, &r), 0);
	ck_assert_int_eq(n_evs, 0);
	instance_free(in);
}
END_TEST

START_TEST(unusable_targets)
{
	static const struct {
		const char *addr, *why;
	} bad[] = {
		{"224.0.0.1", "a multicast address is not one box"},
		{"ff02::1", "a multicast address is not one box"},
		{"255.255.255.255", "the broadcast address is not one box"},
		{"0.0.0.0", "0.0.0.0/8 is not a host"},
		{"::", ":: is not a host"},
		{"fe80::1", "a link-local address needs an interface scope"},
		{"::ffff:10.0.0.1", "an IPv4-mapped address"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[256], want[256];

		snprintf(body, sizeof(body),
			 "<target>192.0.2.1</target><target>%s</target>",
			 bad[i].addr);
		ck_assert_int_gt(load(body), 0);
		snprintf(want, sizeof(want),
			 "element <target>: \"%s\" cannot be probed: %s",
			 bad[i].addr, bad[i].why);
		ck_assert_msg(strstr(conf_errors, want), "want \"%s\" in: %s",
			      want, conf_errors);
	}
	/* Loopback and documentation ranges are fine. */
	ck_assert_msg(load("<target>127.0.0.1</target><target>::1</target>") ==
			      0,
		      "%s", conf_errors);
}
END_TEST

/* ---- netns: real ICMP between namespaces made by the script ---- */

static const char *ns_b, *ns_c, *if_b;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "\"%s\" failed: %d", cmd, rc);
}

static void peer_restore(void)
{
	sh("ip -n %s link set dev %s up", ns_b, if_b);
	sh("ip -n %s addr replace %s/24 dev %s", ns_b, B4, if_b);
	sh("ip -n %s addr replace %s dev %s nodad", ns_b, B6NET, if_b);
}

/* B stops answering: IPv4 loses the link, IPv6 the address. */
static void peer_fault(int family)
{
	if (family == AF_INET)
		sh("ip -n %s link set dev %s down", ns_b, if_b);
	else
		sh("ip -n %s addr del %s dev %s", ns_b, B6NET, if_b);
}

static void peer_heal(int family)
{
	if (family == AF_INET)
		sh("ip -n %s link set dev %s up", ns_b, if_b);
	else
		sh("ip -n %s addr add %s dev %s nodad", ns_b, B6NET, if_b);
}

/* Whether this namespace lets root's group open ICMP datagram sockets. */
static void set_dgram(bool allowed)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "w");

	ck_assert_ptr_nonnull(f);
	fputs(allowed ? "0 0\n" : "1 0\n", f);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- the forger, a child in namespace C ---- */

struct forger {
	pid_t pid;
	int go_fd;   /* write: 'b' asks for the genuine reply */
	int note_fd; /* read: 'a' after the fakes, 'c' after the genuine one */
};

static uint16_t cksum(const unsigned char *b, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (i < len)
		sum += (uint32_t)b[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int raw_bound(int family, const char *addr)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} a;
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC,
			family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);

	memset(&a, 0, sizeof(a));
	a.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, addr, &a.v4.sin_addr);
	else
		inet_pton(AF_INET6, addr, &a.v6.sin6_addr);
	if (fd < 0 ||
	    bind(fd, &a.sa, family == AF_INET ? sizeof(a.v4) : sizeof(a.v6)))
		_exit(10);
	return fd;
}

/* Waits for a probe (an echo request of 32 bytes) sent to the target;
 * copies its ICMP part and the sender. */
static void capture(int fd, int family, unsigned char *icmp,
		    struct sockaddr_storage *from, socklen_t *from_len)
{
	unsigned char buf[2048];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		size_t off = 0;

		if (poll(&pfd, 1, 3000) != 1)
			_exit(11);
		*from_len = sizeof(*from);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)from,
			     from_len);
		if (n < 0)
			_exit(12);
		if (family == AF_INET)
			off = (size_t)(buf[0] & 0x0f) * 4;
		if ((size_t)n != off + 32)
			continue;
		if (buf[off] == (family == AF_INET ? 8 : 128)) {
			memcpy(icmp, buf + off, 32);
			return;
		}
	}
}

static void fsend(int fd, int family, unsigned char *b, size_t len,
		  const struct sockaddr_storage *to, socklen_t to_len,
		  bool fix_sum)
{
	/* The kernel sums ICMPv6 itself. */
	if (family == AF_INET && fix_sum) {
		b[2] = b[3] = 0;
		uint16_t s = cksum(b, len);
		b[2] = (unsigned char)(s >> 8);
		b[3] = (unsigned char)s;
	}
	if (sendto(fd, b, len, 0, (const struct sockaddr *)to, to_len) !=
	    (ssize_t)len)
		_exit(13);
}

static void forger_main(int family, int go_fd, int note_fd)
{
	const char *target = family == AF_INET ? C4 : C6;
	const char *other = family == AF_INET ? C4X : C6X;
	unsigned char req[32], pkt[1400];
	unsigned char reply_type = family == AF_INET ? 0 : 129;
	struct sockaddr_storage a;
	socklen_t a_len;
	char path[256], c;
	int nsfd, s_t, s_x;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(20);
	snprintf(path, sizeof(path), "/run/netns/%s", ns_c);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
		_exit(9);
	s_t = raw_bound(family, target);
	s_x = raw_bound(family, other);
	capture(s_t, family, req, &a, &a_len);

#define FAKE(fd, len, sum) fsend(fd, family, pkt, len, &a, a_len, sum)
	/* The genuine reply, but from an address that is no target. */
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	FAKE(s_x, 32, true);
	/* From the target: another identifier. */
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	pkt[4] ^= 0x55;
	FAKE(s_t, 32, true);
	/* A sequence number that disagrees with the payload. */
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	pkt[6] ^= 0x03;
	FAKE(s_t, 32, true);
	/* Truncated after the header. */
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	FAKE(s_t, 12, true);
	/* A wrong checksum (IPv4: ours to get wrong). */
	if (family == AF_INET) {
		memcpy(pkt, req, 32);
		pkt[0] = reply_type;
		pkt[2] = pkt[3] = 0;
		uint16_t s = cksum(pkt, 32) ^ 0x0101;
		pkt[2] = (unsigned char)(s >> 8);
		pkt[3] = (unsigned char)s;
		FAKE(s_t, 32, false);
	}
	/* A scrambled payload. */
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	for (int i = 8; i < 32; i++)
		pkt[i] ^= 0x5a;
	FAKE(s_t, 32, true);
	/* The genuine reply with trailing bytes: 100, and more than the
	 * plugin's receive buffer. */
	memset(pkt, 0xa5, sizeof(pkt));
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	FAKE(s_t, 100, true);
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	FAKE(s_t, sizeof(pkt), true);
	/* An ICMP error quoting the probe, and an echo request. */
	memcpy(pkt + 8, req, 32);
	memset(pkt, 0, 8);
	pkt[0] = family == AF_INET ? 3 : 1;
	pkt[1] = family == AF_INET ? 1 : 3;
	FAKE(s_t, 40, true);
	memcpy(pkt, req, 32);
	FAKE(s_t, 32, true);
	if (write(note_fd, "a", 1) != 1)
		_exit(14);

	/* Then, on request, the genuine reply to a fresh probe: proof that
	 * the fakes above reached the plugin and were turned down. */
	if (read(go_fd, &c, 1) != 1)
		_exit(15);
	for (;;) {
		struct pollfd pfd = {.fd = s_t, .events = POLLIN};
		if (poll(&pfd, 1, 0) != 1)
			break;
		if (recv(s_t, pkt, sizeof(pkt), 0) < 0)
			break;
	}
	capture(s_t, family, req, &a, &a_len);
	memcpy(pkt, req, 32);
	pkt[0] = reply_type;
	FAKE(s_t, 32, true);
#undef FAKE
	if (write(note_fd, "c", 1) != 1)
		_exit(16);
	_exit(0);
}

static struct forger forger_start(int family)
{
	int go[2], note[2];
	struct forger f;

	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(note, O_CLOEXEC), 0);
	f.pid = fork();
	ck_assert_int_ge(f.pid, 0);
	if (f.pid == 0) {
		close(go[1]);
		close(note[0]);
		forger_main(family, go[0], note[1]);
	}
	close(go[0]);
	close(note[1]);
	f.go_fd = go[1];
	f.note_fd = note[0];
	ck_assert_int_eq(fcntl(f.note_fd, F_SETFL, O_NONBLOCK), 0);
	return f;
}

/* Runs the loop until the forger writes `want`. */
static void forger_wait(struct forger *f, char want)
{
	uint64_t end = loop_now_ms() + 8000;
	char c;

	while (loop_now_ms() < end) {
		ssize_t n = read(f->note_fd, &c, 1);
		if (n == 1) {
			ck_assert_int_eq(c, want);
			return;
		}
		ck_assert_msg(n < 0 && errno == EAGAIN, "forger ended early");
		run_for(10);
	}
	ck_abort_msg("forger did not report '%c'", want);
}

static void forger_end(struct forger *f)
{
	int st;

	ck_assert_int_eq(waitpid(f->pid, &st, 0), f->pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "forger status 0x%x", st);
	close(f->go_fd);
	close(f->note_fd);
}

static bool any_event_mentions(const char *text, int from)
{
	for (int i = from; i < n_evs; i++)
		if (strstr(evs[i].detail, text))
			return true;
	return false;
}

/*
 * One target in B that answers, one in C that does not:
 * granted with the right reason; fakes change nothing; B goes away: lost
 * within the timeout, FAILED, denied; B back: gained, granted.
 */
static void scenario(int family, bool dgram)
{
	const char *b = family == AF_INET ? B4 : B6;
	const char *c = family == AF_INET ? C4 : C6;
	char line[256], c_online[128];
	struct instance *in;
	struct cmsd_vote v;
	struct result r;
	struct forger fg;
	uint64_t took, t_fault;
	int fds0, i, mark;

	peer_restore();
	set_dgram(dgram);
	fds0 = open_fds();
	in = make(b, c);

	ck_assert_int_eq(call(in, OP_START, NULL, 2000, &r), 0);
	ck_assert_msg(log_has(dgram ? "ICMP echo over an unprivileged datagram "
				      "socket"
				    : "ICMP echo over a raw socket"),
		      "the start log does not name the socket kind");

	/* B answers long before the timeout: granted without waiting for
	 * the silent target. */
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, &took), 0);
	ck_assert_msg(v.granted, "denied: %s", v.reason);
	ck_assert_uint_lt(took, TIMEOUT_MS);
	ck_assert_str_eq(v.holder, "");
	ck_assert_uint_eq(v.expires_ms, 0);

	snprintf(line, sizeof(line), "[ping] %s (Online), %s (Offline)", b, c);
	i = wait_event(CMSD_EV_STATE_CHANGED, line, 0, 2000);
	if (i < 0)
		dump_events();
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_RUNNING);
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, NULL), 0);
	ck_assert(v.granted);
	assert_reason(v.reason, b, true, c, false);

	/* Fakes from C: none may bring the silent target Online. */
	snprintf(c_online, sizeof(c_online), "%s (Online)", c);
	mark = n_evs;
	fg = forger_start(family);
	forger_wait(&fg, 'a');
	run_for(3 * INTERVAL_MS);
	ck_assert_msg(!any_event_mentions(c_online, 0),
		      "a fake reply made %s Online", c);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_RUNNING);
	ck_assert_int_eq(vote(in, OP_RENEW_LEASE, &v, NULL), 0);
	assert_reason(v.reason, b, true, c, false);
	/* The genuine reply does count: the fakes reached a live plugin. */
	ck_assert_int_eq(write(fg.go_fd, "b", 1), 1);
	forger_wait(&fg, 'c');
	forger_end(&fg);
	snprintf(line, sizeof(line), "[ping] %s (Online), %s (Online)", b, c);
	i = wait_event(CMSD_EV_STATE_CHANGED, line, mark, 2000);
	ck_assert_msg(i >= 0, "the genuine reply from %s was not taken", c);
	snprintf(line, sizeof(line), "[ping] %s (Online), %s (Offline)", b, c);
	ck_assert_int_ge(
		wait_event(CMSD_EV_STATE_CHANGED, line, i, TIMEOUT_MS + 1000),
		0);
	ck_assert_int_eq(count_events(CMSD_EV_QUORUM_LOST, 0), 0);
	/* The first answer after start is news: the agent waits for it. */
	ck_assert_int_eq(count_events(CMSD_EV_QUORUM_GAINED, 0), 1);

	/* B goes away: lost once its last reply is older than the timeout,
	 * not before. */
	mark = n_evs;
	t_fault = loop_now_ms();
	peer_fault(family);
	i = wait_event(CMSD_EV_QUORUM_LOST, NULL, mark, TIMEOUT_MS + 2000);
	if (i < 0)
		dump_events();
	ck_assert_int_ge(i, 0);
	took = evs[i].at_ms - t_fault;
	ck_assert_msg(took + INTERVAL_MS + 50 >= TIMEOUT_MS &&
			      took <= TIMEOUT_MS + 400,
		      "quorum lost %llu ms after the fault",
		      (unsigned long long)took);
	snprintf(line, sizeof(line), "[ping] %s (Offline), %s (Offline)", b, c);
	ck_assert_int_ge(wait_event(CMSD_EV_STATE_CHANGED, line, mark, 0), 0);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_FAILED);
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, &took), 0);
	ck_assert_int_eq(v.granted, 0);
	ck_assert_uint_lt(took, 100); /* decided: no waiting */
	assert_reason(v.reason, b, false, c, false);

	/* B back: gained, granted. */
	mark = n_evs;
	peer_heal(family);
	i = wait_event(CMSD_EV_QUORUM_GAINED, NULL, mark, 5000);
	if (i < 0)
		dump_events();
	ck_assert_int_ge(i, 0);
	snprintf(line, sizeof(line), "[ping] %s (Online), %s (Offline)", b, c);
	ck_assert_int_ge(wait_event(CMSD_EV_STATE_CHANGED, line, mark, 0), 0);
	ck_assert_int_eq(vote(in, OP_RENEW_LEASE, &v, NULL), 0);
	ck_assert_msg(v.granted, "denied: %s", v.reason);
	assert_reason(v.reason, b, true, c, false);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_RUNNING);
	ck_assert_int_eq(count_events(CMSD_EV_QUORUM_LOST, 0), 1);
	ck_assert_int_eq(count_events(CMSD_EV_QUORUM_GAINED, 0), 2);

	ck_assert_int_eq(call(in, OP_RELEASE, NULL, 1000, &r), 0);
	ck_assert_int_eq(call(in, OP_STOP, NULL, 1000, &r), 0);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_STOPPED);
	ck_assert_int_eq(open_fds(), fds0); /* sockets closed */
	mark = n_evs;
	run_for(TIMEOUT_MS + INTERVAL_MS);
	ck_assert_int_eq(n_evs, mark); /* stopped means silent */
	instance_free(in);
}

START_TEST(ipv4_raw)
{
	scenario(AF_INET, false);
}
END_TEST

START_TEST(ipv4_dgram)
{
	scenario(AF_INET, true);
}
END_TEST

START_TEST(ipv6_raw)
{
	scenario(AF_INET6, false);
}
END_TEST

START_TEST(ipv6_dgram)
{
	scenario(AF_INET6, true);
}
END_TEST

/*
 * Both families, nobody answering at start: the vote waits one timeout and
 * is denied; a waiting vote can be cancelled; B's return is reported.
 */
START_TEST(silent_start_wait_cancel)
{
	struct instance *in;
	struct cmsd_vote v;
	struct result r, rv;
	struct cmsd_vote_request req = {.size = sizeof(req), .node_id = "n1"};
	struct instance_vote_args va = {.req = &req, .out = &v};
	uint64_t took;
	char line[256];
	int mark;

	peer_restore();
	peer_fault(AF_INET6);
	set_dgram(false);
	in = make(B6, C4);
	ck_assert_int_eq(call(in, OP_START, NULL, 2000, &r), 0);
	ck_assert(log_has("IPv4: ICMP echo over a raw socket"));
	ck_assert(log_has("IPv6: ICMP echo over a raw socket"));
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_UNKNOWN);
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, &took), 0);
	ck_assert_int_eq(v.granted, 0);
	ck_assert_msg(took + 50 >= TIMEOUT_MS && took <= TIMEOUT_MS + 400,
		      "answered after %llu ms", (unsigned long long)took);
	assert_reason(v.reason, B6, false, C4, false);
	ck_assert_int_eq(call(in, OP_MONITOR, NULL, 1000, &r), CMSD_FAILED);
	/* "No target answers" is news even right after start. */
	ck_assert_int_ge(wait_event(CMSD_EV_QUORUM_LOST, NULL, 0, 0), 0);
	ck_assert_int_eq(count_events(CMSD_EV_QUORUM_GAINED, 0), 0);

	/* A new run is undecided again; its waiting vote is cancelled. */
	ck_assert_int_eq(call(in, OP_STOP, NULL, 1000, &r), 0);
	ck_assert_int_eq(call(in, OP_START, NULL, 2000, &r), 0);
	memset(&rv, 0, sizeof(rv));
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	ck_assert_int_eq(
		instance_call(in, OP_REQUEST_VOTE, 5000, &va, on_done, &rv), 0);
	run_for(TIMEOUT_MS / 4);
	ck_assert_int_eq(rv.calls, 0);
	instance_cancel(in);
	run_for(20); /* the agent delivers the cancellation on the loop */
	ck_assert_int_eq(rv.calls, 1);
	ck_assert_int_eq(rv.rc, -ECANCELED);
	run_for(TIMEOUT_MS + 2 * INTERVAL_MS);
	ck_assert_int_eq(rv.calls, 1);
	ck_assert_uint_eq(instance_stats(in)->late_completions, 0);
	ck_assert_str_eq(v.reason, ""); /* not written after cancel */

	mark = n_evs;
	peer_heal(AF_INET6);
	ck_assert_int_ge(wait_event(CMSD_EV_QUORUM_GAINED, NULL, mark, 5000),
			 0);
	snprintf(line, sizeof(line), "[ping] %s (Online), %s (Offline)", B6,
		 C4);
	ck_assert_int_ge(wait_event(CMSD_EV_STATE_CHANGED, line, mark, 0), 0);
	ck_assert_int_eq(vote(in, OP_REQUEST_VOTE, &v, NULL), 0);
	ck_assert_msg(v.granted, "denied: %s", v.reason);
	assert_reason(v.reason, B6, true, C4, false);
	ck_assert_int_eq(call(in, OP_STOP, NULL, 1000, &r), 0);
	instance_free(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("quorum_ping");
	TCase *tc = tcase_create("contract");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ops_before_start);
	tcase_add_test(tc, unusable_targets);
	suite_add_tcase(s, tc);

	ns_b = getenv("QP_NS_B");
	ns_c = getenv("QP_NS_C");
	if_b = getenv("QP_IF_B");
	if (ns_b && ns_c && if_b) {
		TCase *net = tcase_create("netns");
		tcase_set_timeout(net, 60);
		tcase_add_checked_fixture(net, setup_net, teardown);
		tcase_add_test(net, ipv4_raw);
		tcase_add_test(net, ipv4_dgram);
		tcase_add_test(net, ipv6_raw);
		tcase_add_test(net, ipv6_dgram);
		tcase_add_test(net, silent_start_wait_cancel);
		suite_add_tcase(s, net);
	} else {
		printf("quorum_ping: the netns cases run from "
		       "tests/cluster/quorum_ping.test.sh\n");
	}
	return tu_run(s);
}
