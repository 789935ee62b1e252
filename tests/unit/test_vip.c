/*
 * resource-vip on a real kernel, through the agent's instance API on its
 * libevent loop.  Two network namespaces made here and joined by a veth
 * pair: the plugin runs in A on "va"; B ("vb") is the client that must
 * see the probes and the announcements, and the rival that holds the
 * address in the duplicate cases.  A packet socket in B records what A
 * sends; B's neighbour table shows that its kernel accepted it.  The
 * guardian tests find the cmsd-vipguard processes in /proc; the ones that
 * kill the "agent" fork it as a child of this (subreaper) process.
 *
 * Needs root (namespaces, addresses, packet sockets).  Without it the
 * program exits 77; the test needs the CTest property SKIP_RETURN_CODE 77
 * (set by the integrator in tests/CMakeLists.txt) to show as skipped.
 * A reaper process removes the namespaces when the run ends, however it
 * ends; any left by a run whose reaper was killed too are removed at the
 * next start.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "plugtest.h"

#define MAC_A "02:00:00:00:00:0a"
#define MAC_B "02:00:00:00:00:0b"
static const unsigned char mac_a[6] = {2, 0, 0, 0, 0, 0x0a};

static char ns_a[32], ns_b[32];
static int fd_a = -1; /* A, for setns */

static char *dir, *logpath;
static struct conf *conf;

/* ---- shell helpers ---- */

/* `ip -o addr show dev DEV` in ns lists addr (with its prefix). */
static bool addr_on(const char *ns, const char *dev, const char *addr)
{
	char out[4096], pat[128];

	tu_sh_out(out, sizeof(out), "ip -n %s -o addr show dev %s", ns, dev);
	snprintf(pat, sizeof(pat), " %s ", addr);
	return strstr(out, pat) != NULL;
}

/* ---- namespaces (main process only) ---- */

static void ns_remove(void)
{
	tu_sh("ip netns del %s 2>/dev/null", ns_a);
	tu_sh("ip netns del %s 2>/dev/null", ns_b);
}

/* Namespaces of runs whose reaper could not run (their PID is gone). */
static void ns_sweep_stale(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int pid;
		char side;
		if (sscanf(e->d_name, "cmsdvip%c%d", &side, &pid) != 2 ||
		    (side != 'A' && side != 'B'))
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			tu_sh("ip netns del %s 2>/dev/null", e->d_name);
	}
	closedir(d);
}

static int ns_create(void)
{
	if (tu_sh("ip netns add %s", ns_a) || tu_sh("ip netns add %s", ns_b) ||
	    tu_sh("ip -n %s link add va address " MAC_A
		  " type veth peer name vb "
		  "address " MAC_B " netns %s",
		  ns_a, ns_b) ||
	    /* B learns addresses from gratuitous ARP, as a switch or a
	     * router configured for failover does. */
	    tu_sh("ip netns exec %s sysctl -qw net.ipv4.conf.vb.arp_accept=1",
		  ns_b))
		return -1;
	return 0;
}

/* ---- the plugin in A, on the agent's loop ---- */

/* Runs op kind with a deadline and returns its result. */
static int call(struct instance *in, enum op_kind kind, uint64_t timeout_ms)
{
	return pt_call(in, kind, timeout_ms, NULL, timeout_ms + 1000);
}

static struct instance *make(const char *addr, const char *ifname,
			     unsigned count, const char *interval)
{
	char xml[2048];
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};
	struct instance *in;

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\"/></node></cluster>\n"
		 "<group id=\"g\"><resource id=\"vip\" plugin=\"resource-vip\">"
		 "<address>%s</address><interface>%s</interface>"
		 "<garp-count>%u</garp-count><garp-interval>%s</garp-interval>"
		 "</resource></group>\n"
		 "</cmsd>\n",
		 dir, addr, ifname, count, interval);
	char *path = tu_write(dir, "cmsd.xml", xml);
	conf_free(conf);
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, &conf), 0);
	free(path);
	instance_set_state_root(conf->state_dir);
	ck_assert_int_eq(instance_new(&conf->inst[0], NULL, NULL, &in), 0);
	return in;
}

/* Two VIPs on va in one configuration (instances *a and *b). */
static void make2(const char *addr1, const char *addr2, struct instance **a,
		  struct instance **b)
{
	char xml[2048];
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\"/></node></cluster>\n"
		 "<group id=\"g\">"
		 "<resource id=\"vip\" plugin=\"resource-vip\">"
		 "<address>%s</address><interface>va</interface></resource>"
		 "<resource id=\"vip2\" plugin=\"resource-vip\">"
		 "<address>%s</address><interface>va</interface></resource>"
		 "</group>\n</cmsd>\n",
		 dir, addr1, addr2);
	char *path = tu_write(dir, "cmsd.xml", xml);
	conf_free(conf);
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, &conf), 0);
	free(path);
	instance_set_state_root(conf->state_dir);
	ck_assert_int_eq(instance_new(&conf->inst[0], NULL, NULL, a), 0);
	ck_assert_int_eq(instance_new(&conf->inst[1], NULL, NULL, b), 0);
}

/* ---- the guardian ---- */

/* ppid of pid and its comm, from /proc/PID/stat; false when gone. */
static bool proc_stat(pid_t pid, pid_t *ppid, pid_t *pgid, char *state,
		      char *comm, size_t len)
{
	char path[64], buf[1024], *open_p, *close_p;
	FILE *f;
	size_t n;
	int pp, pg;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p ||
	    sscanf(close_p + 2, "%c %d %d", state, &pp, &pg) != 3)
		return false;
	*close_p = '\0';
	snprintf(comm, len, "%s", open_p + 1);
	*ppid = pp;
	*pgid = pg;
	return true;
}

/* The guardians (comm cmsd-vipguard) whose parent is `parent`: up to max
 * pids in out, the count returned. */
static int guardians_of(pid_t parent, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name), pp, pg;
		char st, comm[64];
		if (pid <= 0 ||
		    !proc_stat(pid, &pp, &pg, &st, comm, sizeof(comm)))
			continue;
		if (pp == parent && strcmp(comm, "cmsd-vipguard") == 0 &&
		    st != 'Z' && n < max)
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

static pid_t the_guardian(pid_t parent)
{
	pid_t g[4];
	uint64_t t0 = loop_now_ms();
	int n;

	/* It names itself just after its fork: under load, a moment after
	 * the start ended. */
	while ((n = guardians_of(parent, g, 4)) == 0 &&
	       loop_now_ms() - t0 < 2000)
		usleep(2000);
	ck_assert_msg(n == 1, "%d guardians of %d, want 1", n, (int)parent);
	return g[0];
}

/* Gone and reaped: no zombie answers kill(pid, 0). */
static bool reaped(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* Polls until addr leaves va in A; the ms it took, or -1 after max_ms. */
static int wait_addr_gone(const char *addr, int max_ms)
{
	uint64_t t0 = loop_now_ms();

	while (addr_on(ns_a, "va", addr)) {
		if (loop_now_ms() - t0 > (uint64_t)max_ms)
			return -1;
		usleep(2000);
	}
	return (int)(loop_now_ms() - t0);
}

/* ---- what B hears from A ---- */

struct heard {
	int probes, announces;
	double first_probe, last_probe, first_ann, last_ann; /* seconds */
};

/* A packet socket on vb in B, timestamping each frame. */
static int cap_open(void)
{
	char path[64];
	int fb, fd, one = 1;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL)};

	snprintf(path, sizeof(path), "/run/netns/%s", ns_b);
	fb = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fb, 0);
	ck_assert_int_eq(setns(fb, CLONE_NEWNET), 0);
	close(fb);
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    htons(ETH_P_ALL));
	ck_assert_int_ge(fd, 0);
	sll.sll_ifindex = (int)if_nametoindex("vb");
	ck_assert_int_gt(sll.sll_ifindex, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	ck_assert_int_eq(
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)), 0);
	/* The kernel turns receive timestamps on from a work item; a frame
	 * that arrives before that is stamped when it is read, which put a
	 * probe after the announcements now and then. */
	usleep(100000);
	ck_assert_int_eq(setns(fd_a, CLONE_NEWNET), 0);
	return fd;
}

static void heard_note(double t, bool probe, struct heard *h)
{
	if (probe) {
		if (!h->probes++)
			h->first_probe = t;
		h->last_probe = t;
	} else {
		if (!h->announces++)
			h->first_ann = t;
		h->last_ann = t;
	}
}

/* ARP from A about vip: a probe (sender 0.0.0.0) or an announcement
 * (sender = target = vip). */
static void heard_arp(const unsigned char *p, size_t n, const void *vip,
		      double t, struct heard *h)
{
	static const unsigned char zero[4];

	if (n < 28 || memcmp(p + 8, mac_a, 6) || memcmp(p + 24, vip, 4) ||
	    p[6] != 0 || p[7] != 1 /* request */)
		return;
	if (memcmp(p + 14, zero, 4) == 0)
		heard_note(t, true, h);
	else if (memcmp(p + 14, vip, 4) == 0)
		heard_note(t, false, h);
}

/* ICMPv6 from A about vip: a DAD solicitation (from ::, hop limit 255) or
 * an unsolicited advertisement (from vip to ff02::1, override, not
 * solicited, with A's MAC as target link-layer address). */
static void heard_nd(const unsigned char *p, size_t n, const void *vip,
		     double t, struct heard *h)
{
	static const unsigned char any[16];
	static const unsigned char all_nodes[16] = {0xff, 0x02, [15] = 1};
	const unsigned char *icmp = p + 40;

	if (n < 64 || p[6] != 58 || p[7] != 255 || memcmp(icmp + 8, vip, 16))
		return;
	if (icmp[0] == 135 && memcmp(p + 8, any, 16) == 0)
		heard_note(t, true, h);
	else if (icmp[0] == 136 && n >= 72 && memcmp(p + 8, vip, 16) == 0 &&
		 memcmp(p + 24, all_nodes, 16) == 0 &&
		 (icmp[4] & 0xe0) == 0x20 && icmp[24] == 2 && icmp[25] == 1 &&
		 memcmp(icmp + 26, mac_a, 6) == 0)
		heard_note(t, false, h);
}

static struct heard cap_read(int fd, const char *vip_text)
{
	struct heard h = {0};
	unsigned char vip[16], p[2048];
	int family = strchr(vip_text, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(family, vip_text, vip), 1);
	for (;;) {
		struct sockaddr_ll sll;
		char cbuf[128];
		struct iovec iov = {p, sizeof(p)};
		struct msghdr mh = {.msg_name = &sll,
				    .msg_namelen = sizeof(sll),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(fd, &mh, 0);
		double t = 0;

		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_TIMESTAMP) {
				struct timeval tv;
				memcpy(&tv, CMSG_DATA(c), sizeof(tv));
				t = (double)tv.tv_sec +
				    (double)tv.tv_usec / 1e6;
			}
		/* ARP to the broadcast address, ND to a multicast group. */
		if (family == AF_INET && ntohs(sll.sll_protocol) == ETH_P_ARP &&
		    sll.sll_pkttype == PACKET_BROADCAST)
			heard_arp(p, (size_t)n, vip, t, &h);
		else if (family == AF_INET6 &&
			 ntohs(sll.sll_protocol) == ETH_P_IPV6 &&
			 sll.sll_pkttype == PACKET_MULTICAST)
			heard_nd(p, (size_t)n, vip, t, &h);
	}
	return h;
}

/* ---- fixture (in each forked test) ---- */

static void setup(void)
{
	char path[64];

	/* A clean pair: links up, no global addresses, no neighbours. */
	SH_OK("ip -n %s link set va up && ip -n %s link set vb up && "
	      "ip -n %s addr flush dev va scope global && "
	      "ip -n %s addr flush dev vb scope global && "
	      "ip -n %s addr add 192.0.2.2/24 dev vb && "
	      "ip -n %s -6 addr add fd00::2/64 dev vb nodad && "
	      "ip -n %s neigh flush dev vb",
	      ns_a, ns_b, ns_a, ns_b, ns_b, ns_b, ns_b);
	snprintf(path, sizeof(path), "/run/netns/%s", ns_a);
	fd_a = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd_a, 0);
	ck_assert_int_eq(setns(fd_a, CLONE_NEWNET), 0);

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
	close(fd_a);
}

/* ---- the tests ---- */

START_TEST(v4_start_announce_monitor_stop)
{
	int cap = cap_open();
	struct instance *in = make("192.0.2.55/24", "va", 3, "60ms");
	uint64_t t0 = loop_now_ms();
	struct heard h;
	char out[4096];

	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	/* The probe window (3 probes, 30 ms apart, 60 ms more) passed. */
	ck_assert_uint_ge(loop_now_ms() - t0, 115);
	ck_assert_uint_lt(loop_now_ms() - t0, 1000);
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	LOG_HAS("vip: added 192.0.2.55/24 to va");
	run_for(300); /* the rest of the burst */

	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_eq(h.probes, 3);
	ck_assert_int_eq(h.announces, 3);
	ck_assert(h.last_probe < h.first_ann);
	ck_assert_msg(h.first_ann - h.first_probe >= 0.11, /* 4 x 30 ms */
		      "probe %.3f..%.3f ann %.3f..%.3f", h.first_probe,
		      h.last_probe, h.first_ann, h.last_ann);
	ck_assert(h.last_ann - h.first_ann >= 0.11); /* 2 x 60 ms */
	ck_assert(h.last_ann - h.first_ann < 0.5);
	/* B's kernel took A's MAC for the address from the announcements. */
	tu_sh_out(out, sizeof(out), "ip -n %s neigh show 192.0.2.55 dev vb",
		  ns_b);
	ck_assert_msg(strstr(out, "lladdr " MAC_A), "B's neighbours: %s", out);

	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_RUNNING);
	/* Removed behind the agent's back. */
	SH_OK("ip -n %s addr del 192.0.2.55/24 dev va", ns_a);
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_STOPPED);
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_RUNNING);

	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	LOG_HAS("vip: removed 192.0.2.55 from va");
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	LOG_HAS("vip: stop: 192.0.2.55 was not on va");
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_STOPPED);
	instance_free(in);
	close(cap);
}
END_TEST

START_TEST(v4_start_again_reannounces)
{
	int cap = cap_open();
	struct instance *in = make("192.0.2.55/24", "va", 3, "50ms");
	uint64_t t0;
	struct heard h;

	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	run_for(200);
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_eq(h.announces, 3);

	/* A contested election or a healed split brain: the agent calls
	 * start on the address it holds.  No probe (we would hear no one but
	 * ourselves), the burst again, done after its first packet. */
	t0 = loop_now_ms();
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert_uint_lt(loop_now_ms() - t0, 100);
	LOG_HAS("vip: start: 192.0.2.55 is already on va: announcing it again");
	run_for(200);
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_eq(h.probes, 0);
	ck_assert_int_eq(h.announces, 3);
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));

	/* Stop ends a burst under way: nothing is announced after it. */
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	run_for(200);
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_eq(h.announces, 1);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	instance_free(in);
	close(cap);
}
END_TEST

START_TEST(v4_address_in_use_refused)
{
	int cap = cap_open();
	struct instance *in = make("192.0.2.55/24", "va", 3, "50ms");
	struct heard h;

	SH_OK("ip -n %s addr add 192.0.2.55/24 dev vb", ns_b);
	ck_assert_int_eq(call(in, OP_START, 3000), -EADDRINUSE);
	LOG_HAS("vip: start: 192.0.2.55 is answered by " MAC_B
		"; refusing to add it");
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_STOPPED);
	run_for(100);
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_ge(h.probes, 1);
	ck_assert_int_eq(h.announces, 0);

	/* Once B lets it go, A takes it. */
	SH_OK("ip -n %s addr del 192.0.2.55/24 dev vb", ns_b);
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	instance_free(in);
	close(cap);
}
END_TEST

START_TEST(link_down_missing_no_carrier)
{
	struct instance *in = make("192.0.2.55/24", "va", 3, "50ms");

	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	SH_OK("ip -n %s link set va down", ns_a);
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_FAILED);
	LOG_HAS("vip: monitor: va is down");
	ck_assert_int_eq(call(in, OP_START, 3000), -ENETDOWN);
	LOG_HAS("vip: start: va is down; not adding 192.0.2.55");
	/* Stop works on a link that is down. */
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));

	/* Up, but the other end is down: no carrier. */
	SH_OK("ip -n %s link set va up && ip -n %s link set vb down", ns_a,
	      ns_b);
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_FAILED);
	LOG_HAS("vip: monitor: va has no carrier");
	ck_assert_int_eq(call(in, OP_START, 3000), -ENETDOWN);
	instance_free(in);

	in = make("192.0.2.55/24", "nosuch0", 3, "50ms");
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_FAILED);
	LOG_HAS("vip: monitor: interface nosuch0 is gone");
	ck_assert_int_eq(call(in, OP_START, 3000), -ENODEV);
	LOG_HAS("vip: start: interface nosuch0 does not exist");
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	instance_free(in);
}
END_TEST

START_TEST(v6_start_announce_stop)
{
	int cap = cap_open();
	struct instance *in = make("fd00::55/64", "va", 3, "50ms");
	struct heard h;
	char out[4096];

	/* B has a stale entry for the address with a wrong MAC: the
	 * override flag of the advertisements must replace it. */
	SH_OK("ip -n %s neigh add fd00::55 lladdr 02:00:00:00:00:99 dev vb "
	      "nud stale",
	      ns_b);
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert(addr_on(ns_a, "va", "fd00::55/64"));
	/* Usable at once: added without the kernel's DAD (we probed). */
	tu_sh_out(out, sizeof(out),
		  "ip -n %s -o -6 addr show dev va to fd00::55", ns_a);
	ck_assert_msg(strstr(out, "fd00::55/64") && !strstr(out, "tentative"),
		      "%s", out);
	run_for(250);
	h = cap_read(cap, "fd00::55");
	ck_assert_int_eq(h.probes, 3);
	ck_assert_int_eq(h.announces, 3);
	ck_assert(h.last_probe < h.first_ann);
	tu_sh_out(out, sizeof(out), "ip -n %s neigh show fd00::55 dev vb",
		  ns_b);
	ck_assert_msg(strstr(out, "lladdr " MAC_A), "B's neighbours: %s", out);

	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_RUNNING);
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	ck_assert(!addr_on(ns_a, "va", "fd00::55/64"));
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_STOPPED);
	instance_free(in);
	close(cap);
}
END_TEST

START_TEST(v6_address_in_use_refused)
{
	struct instance *in = make("fd00::55/64", "va", 3, "50ms");

	SH_OK("ip -n %s -6 addr add fd00::55/64 dev vb nodad", ns_b);
	ck_assert_int_eq(call(in, OP_START, 3000), -EADDRINUSE);
	LOG_HAS("vip: start: fd00::55 is answered by " MAC_B
		"; refusing to add it");
	ck_assert(!addr_on(ns_a, "va", "fd00::55/64"));
	instance_free(in);
}
END_TEST

START_TEST(deadline_cancels_probe_and_free_ends_burst)
{
	int cap = cap_open();
	struct instance *in = make("192.0.2.55/24", "va", 20, "50ms");
	struct heard h;

	/* The deadline passes during the probe: nothing is added, then or
	 * later, and the instance serves the next op. */
	ck_assert_int_eq(call(in, OP_START, 45), -ETIMEDOUT);
	run_for(400);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_le(h.probes, 2);
	ck_assert_int_eq(h.announces, 0);
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_STOPPED);

	/* Freed in the middle of a burst: the timer and the socket go with
	 * the instance (ASan checks the rest).  Nobody watches the address
	 * after that: its guardian removes it before destroy returns. */
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	instance_free(in);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	run_for(200);
	h = cap_read(cap, "192.0.2.55");
	ck_assert_int_eq(h.announces, 1);
	close(cap);
}
END_TEST

START_TEST(guardian_stop_restart_kill_destroy)
{
	struct instance *in = make("192.0.2.55/24", "va", 1, "50ms");
	pid_t g, g2, g3, pp, pg;
	char st, comm[64], cmdline[256] = "", path[64], text[128];
	FILE *f;

	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	g = the_guardian(getpid());
	LOG_HAS("(cmsd-vipguard) removes 192.0.2.55 from va if the agent dies");
	/* Its own process group, and ps shows what it is. */
	ck_assert(proc_stat(g, &pp, &pg, &st, comm, sizeof(comm)));
	ck_assert_int_eq(pg, g);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)g);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(cmdline, 1, sizeof(cmdline) - 1, f), 0);
	fclose(f);
	ck_assert_msg(strncmp(cmdline, "cmsd-vipguard", 13) == 0, "cmdline %s",
		      cmdline);
	/* The signals a terminal or a group kill sends the agent are not
	 * for it. */
	kill(g, SIGTERM);
	kill(g, SIGINT);
	kill(g, SIGHUP);
	run_for(100);
	ck_assert(proc_stat(g, &pp, &pg, &st, comm, sizeof(comm)));
	ck_assert_int_ne(st, 'Z');
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));

	/* Stop removes the address itself; the guardian quits and is
	 * reaped, no zombie. */
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	run_for(200);
	ck_assert_msg(reaped(g), "guardian %d still there", (int)g);
	ck_assert_int_eq(guardians_of(getpid(), &g2, 1), 0);

	/* A restart in place, with the old guardian slow to read: its quit
	 * order is in its socket before the new address is added, so it
	 * ends without touching the address of the new start. */
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	g = the_guardian(getpid());
	ck_assert_int_eq(kill(g, SIGSTOP), 0);
	ck_assert_int_eq(call(in, OP_STOP, 1000), 0);
	ck_assert_int_eq(call(in, OP_START, 3000), 0);
	ck_assert_int_eq(kill(g, SIGCONT), 0);
	run_for(300);
	ck_assert(reaped(g));
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	g2 = the_guardian(getpid());
	ck_assert_int_ne(g2, g);

	/* Killed by hand: the address stays (only the agent's death removes
	 * it), the loss is logged, the next monitor starts a new one. */
	ck_assert_int_eq(kill(g2, SIGKILL), 0);
	run_for(200);
	ck_assert(reaped(g2));
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	snprintf(text, sizeof(text),
		 "guardian %d of 192.0.2.55 was killed by "
		 "signal 9",
		 (int)g2);
	LOG_HAS("%s", text);
	ck_assert_int_eq(call(in, OP_MONITOR, 1000), CMSD_RUNNING);
	g3 = the_guardian(getpid());
	ck_assert_int_ne(g3, g2);

	/* destroy lets go of the address: the guardian removes it and is
	 * reaped before destroy returns. */
	instance_free(in);
	ck_assert(reaped(g3));
	ck_assert(!addr_on(ns_a, "va", "192.0.2.55/24"));
	snprintf(text, sizeof(text), "guardian %d removed 192.0.2.55 from va",
		 (int)g3);
	LOG_HAS("%s", text);
}
END_TEST

/* The "agent": a child of the test that runs two VIPs (IPv4, IPv6) and
 * tells through wfd when both are up; with `leak`, it also forks a helper
 * without exec that keeps every fd of the agent open (as a plugin's own
 * helper process might), and writes the helper's pid.  Both end with the
 * test, however it ends: the agent by its parent-death signal, the helper
 * (which must outlive the agent) at the end of `life`, a pipe whose write
 * end only the test holds.  Never returns. */
static void agent_child(int wfd, int life, pid_t test, bool leak)
{
	struct instance *a, *b;
	struct result r1 = {0}, r2 = {0};
	pid_t helper = 0;
	uint64_t end = loop_now_ms() + 5000;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != test)
		_exit(1);
	/* A child of its own: libevent's backend is per process. */
	if (event_reinit(loop_base()) < 0)
		_exit(2);
	make2("192.0.2.55/24", "fd00::55/64", &a, &b);
	if (instance_call(a, OP_START, 3000, NULL, on_done, &r1) ||
	    instance_call(b, OP_START, 3000, NULL, on_done, &r2))
		_exit(3);
	while ((!r1.calls || !r2.calls) && loop_now_ms() < end)
		run_for(5);
	if (r1.rc || r2.rc) {
		fprintf(stderr, "agent child: start %d %d\n", r1.rc, r2.rc);
		tu_sh("cat %s >&2", logpath);
		_exit(4);
	}
	if (leak) {
		helper = fork();
		if (helper == 0) {
			while (read(life, &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	if (write(wfd, &helper, sizeof(helper)) != sizeof(helper))
		_exit(5);
	for (;;)
		pause();
}

/* kill -9 of the agent: both addresses leave va within a moment; the
 * guardians (ours to reap: this process is a subreaper) exit 10, "removed
 * the address".  leak: the agent's end of the pairs survives in a helper,
 * so only the parent-death signal tells the guardians. */
static void agent_killed(bool leak)
{
	int p[2], life[2], st;
	pid_t agent, helper = -1, gs[4], test = getpid();
	uint64_t t0;
	int ms4, ms6, n;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe2(life, O_CLOEXEC), 0);
	agent = fork();
	ck_assert_int_ge(agent, 0);
	if (agent == 0) {
		close(p[0]);
		close(life[1]);
		agent_child(p[1], life[0], test, leak);
	}
	close(p[1]);
	close(life[0]);
	ck_assert_int_eq(read(p[0], &helper, sizeof(helper)),
			 (ssize_t)sizeof(helper));
	close(p[0]);
	/* A guardian is forked before its start ends and names itself
	 * (PR_SET_NAME) just after: on a loaded machine, a moment later. */
	t0 = loop_now_ms();
	while ((n = guardians_of(agent, gs, 4)) < 2 &&
	       loop_now_ms() - t0 < 2000)
		usleep(2000);
	ck_assert_int_eq(n, 2);
	ck_assert(addr_on(ns_a, "va", "192.0.2.55/24"));
	ck_assert(addr_on(ns_a, "va", "fd00::55/64"));

	t0 = loop_now_ms();
	ck_assert_int_eq(kill(agent, SIGKILL), 0);
	ck_assert_int_eq(waitpid(agent, &st, 0), agent);
	ms4 = wait_addr_gone("192.0.2.55/24", 2000);
	ms6 = wait_addr_gone("fd00::55/64", 2000);
	printf("agent killed%s: addresses gone after %d ms (ip(8) polls "
	       "included)\n",
	       leak ? " (its end leaked)" : "", (int)(loop_now_ms() - t0));
	ck_assert_msg(ms4 >= 0 && ms6 >= 0,
		      "an address outlived the agent by 2 s (v4 %d, v6 %d)",
		      ms4, ms6);
	ck_assert_uint_lt(loop_now_ms() - t0, 500);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(waitpid(gs[i], &st, 0), gs[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 10,
			      "guardian %d ended with status 0x%x", (int)gs[i],
			      st);
	}
	close(life[1]);
	if (helper > 0)
		ck_assert_int_eq(waitpid(helper, NULL, 0), helper);
}

START_TEST(guardian_removes_when_agent_killed)
{
	agent_killed(false);
}
END_TEST

START_TEST(guardian_removes_when_agent_killed_end_leaked)
{
	agent_killed(true);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	pid_t main_pid = getpid(), reaper = -1;
	int rc, wfd = -1;

	if (geteuid() != 0) {
		printf("SKIP: test_vip needs root (network namespaces)\n");
		return 77;
	}
	setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
	snprintf(ns_a, sizeof(ns_a), "cmsdvipA%d", (int)main_pid);
	snprintf(ns_b, sizeof(ns_b), "cmsdvipB%d", (int)main_pid);
	ns_sweep_stale();
	/* The namespaces go with the last of this process and its tests. */
	reaper = pt_reaper(ns_remove, &wfd);
	if (reaper < 0 || ns_create() < 0) {
		fprintf(stderr, "cannot create the test namespaces\n");
		rc = EXIT_FAILURE;
		goto out;
	}

	s = suite_create("vip");
	tc = tcase_create("vip");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, v4_start_announce_monitor_stop);
	tcase_add_test(tc, v4_start_again_reannounces);
	tcase_add_test(tc, v4_address_in_use_refused);
	tcase_add_test(tc, link_down_missing_no_carrier);
	tcase_add_test(tc, v6_start_announce_stop);
	tcase_add_test(tc, v6_address_in_use_refused);
	tcase_add_test(tc, deadline_cancels_probe_and_free_ends_burst);
	tcase_add_test(tc, guardian_stop_restart_kill_destroy);
	tcase_add_test(tc, guardian_removes_when_agent_killed);
	tcase_add_test(tc, guardian_removes_when_agent_killed_end_leaked);
	suite_add_tcase(s, tc);
	rc = tu_run(s);
out:
	/* The reaper removes the namespaces; wait for it to be done. */
	if (reaper > 0) {
		close(wfd);
		waitpid(reaper, NULL, 0);
	}
	return rc;
}
