/*
 * failover_probe: how long a virtual IP takes to answer from its new owner.
 *
 *   failover_probe -n NS -i IFACE -t VIP -m NEW_MAC [-I MS] [-w MS] [-T MS]
 *                  -- FAULT COMMAND...
 *   failover_probe -n NS -i IFACE -t VIP -W MS            (who answers?)
 *
 * From namespace NS (a name under /run/netns; "" = the current one) it
 * broadcasts an ARP request "who has VIP" on IFACE every -I ms (default 10)
 * from a packet socket, and timestamps every reply by the replier's MAC.
 * The client's kernel is not involved: its neighbour cache, its own ARP
 * timers and its ICMP rate limits cannot skew the figure.
 *
 * After -w ms (default 500) of replies it runs the fault command itself,
 * from the namespace it was started in, so that the fault and the replies
 * are on one CLOCK_MONOTONIC: t=0 is the instant before fork().  It stops
 * at the first reply from NEW_MAC, or after -T ms (default 10000).  Prints
 * one line:
 *
 *   RESULT status=ok|timeout|nopre|faultfail arp_ms=T garp_ms=T
 *          cmd_ms=T cmd_rc=N pre=N pre_new=N old_after=N last_old_ms=T
 *          sent=N
 *
 *   arp_ms       first ARP reply for VIP from NEW_MAC after the fault (-1:
 *                none within -T), the failover time
 *   garp_ms      first gratuitous ARP for VIP from NEW_MAC (informational)
 *   cmd_ms       how long the fault command ran; cmd_rc its exit status
 *   pre, pre_new replies before the fault, and those of them from NEW_MAC
 *                (a steady cluster: pre > 0, pre_new = 0)
 *   old_after    replies from another MAC after the fault (the old owner
 *                still answering), last_old_ms the last of them
 *
 * Exit: 0 ok, 1 timeout or a failed fault command, 3 nothing answered
 * before the fault (the fault is then not run), 2 usage or set-up error.
 *
 * With -W MS it only probes for MS ms and prints each MAC that answered,
 * with its count, one per line: "MAC N"; exit 0 if any answered, 1 if none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MACS 16

struct arp_frame {
	struct ether_header eh;
	struct ether_arp ea;
} __attribute__((packed));

struct probe {
	int fd;
	int ifindex;
	unsigned char mac[ETH_ALEN];
	struct in_addr ip; /* the interface's own, the requests' sender */
	struct in_addr vip;
};

/* MACs seen answering in -W mode. */
struct seen {
	unsigned char mac[ETH_ALEN];
	unsigned long count;
};

static const char *prog = "failover_probe";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s -n NS -i IFACE -t VIP -m NEW_MAC [-I MS] [-w MS] "
		"[-T MS] -- COMMAND...\n"
		"       %s -n NS -i IFACE -t VIP -W MS\n",
		prog, prog);
	exit(2);
}

static int parse_ms(const char *opt, const char *s, int min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > 3600000) {
		fprintf(stderr, "%s: %s: \"%s\" is not a number of ms >= %d\n",
			prog, opt, s, min);
		exit(2);
	}
	return (int)v;
}

static void parse_mac(const char *s, unsigned char *m)
{
	char tail;

	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx%c", &m[0], &m[1], &m[2],
		   &m[3], &m[4], &m[5], &tail) != 6) {
		fprintf(stderr, "%s: -m: \"%s\" is not a MAC address\n", prog,
			s);
		exit(2);
	}
}

static void fmt_mac(const unsigned char *m, char *out)
{
	sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		m[4], m[5]);
}

static void enter_ns(const char *name)
{
	char path[256];
	int fd;

	if (!*name)
		return;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns");
	close(fd);
}

static void probe_open(struct probe *p, const char *ifname)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ARP)};
	struct ifreq ifr;

	if (strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, "%s: -i: interface name \"%s\" too long\n",
			prog, ifname);
		exit(2);
	}
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       htons(ETH_P_ARP));
	if (p->fd < 0)
		die("AF_PACKET socket (root needed)");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(p->fd, SIOCGIFINDEX, &ifr) < 0)
		die(ifname);
	p->ifindex = ifr.ifr_ifindex;
	if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0)
		die("SIOCGIFHWADDR");
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	/* The requests carry the interface's own address as sender: a
	 * sender of 0.0.0.0 would be an RFC 5227 probe, which resource-vip
	 * (rightly) takes for a competitor and refuses the address. */
	memset(&ifr.ifr_addr, 0, sizeof(ifr.ifr_addr));
	ifr.ifr_addr.sa_family = AF_INET;
	if (ioctl(p->fd, SIOCGIFADDR, &ifr) < 0)
		die("SIOCGIFADDR (the interface needs an IPv4 address)");
	p->ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
	sll.sll_ifindex = p->ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind");
}

static void probe_send(struct probe *p)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ARP),
				  .sll_ifindex = p->ifindex,
				  .sll_halen = ETH_ALEN};
	struct arp_frame f;

	memset(&f, 0, sizeof(f));
	memset(f.eh.ether_dhost, 0xff, ETH_ALEN);
	memcpy(f.eh.ether_shost, p->mac, ETH_ALEN);
	f.eh.ether_type = htons(ETH_P_ARP);
	f.ea.arp_hrd = htons(ARPHRD_ETHER);
	f.ea.arp_pro = htons(ETH_P_IP);
	f.ea.arp_hln = ETH_ALEN;
	f.ea.arp_pln = 4;
	f.ea.arp_op = htons(ARPOP_REQUEST);
	memcpy(f.ea.arp_sha, p->mac, ETH_ALEN);
	memcpy(f.ea.arp_spa, &p->ip, 4);
	memcpy(f.ea.arp_tpa, &p->vip, 4);
	memset(sll.sll_addr, 0xff, ETH_ALEN);
	/* A lost request costs one interval of resolution, no more: the
	 * next goes out anyway. */
	(void)sendto(p->fd, &f, sizeof(f), 0, (struct sockaddr *)&sll,
		     sizeof(sll));
}

enum arp_kind { ARP_OTHER, ARP_REPLY, ARP_GRATUITOUS };

/* Classifies a received frame about the VIP; *mac is the sender. */
static enum arp_kind probe_classify(const struct probe *p,
				    const unsigned char *buf, ssize_t n,
				    const unsigned char **mac)
{
	const struct arp_frame *f = (const void *)buf;

	if (n < (ssize_t)sizeof(*f) || ntohs(f->eh.ether_type) != ETH_P_ARP ||
	    ntohs(f->ea.arp_pro) != ETH_P_IP || f->ea.arp_hln != ETH_ALEN ||
	    f->ea.arp_pln != 4)
		return ARP_OTHER;
	if (!memcmp(f->ea.arp_sha, p->mac, ETH_ALEN) ||
	    memcmp(f->ea.arp_spa, &p->vip, 4))
		return ARP_OTHER;
	*mac = f->ea.arp_sha;
	if (!memcmp(f->ea.arp_tpa, &p->vip, 4))
		return ARP_GRATUITOUS; /* request or reply, sender = target */
	if (ntohs(f->ea.arp_op) == ARPOP_REPLY)
		return ARP_REPLY;
	return ARP_OTHER;
}

static void probe_wait(const struct probe *p, double until)
{
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};
	double left = until - now_ms();

	if (left > 0 && poll(&pf, 1, (int)left + 1) < 0 && errno != EINTR)
		die("poll");
}

/* -W: who answers for the VIP, and how often. */
static int who(struct probe *p, int interval, int window)
{
	struct seen seen[MAX_MACS];
	unsigned char buf[2048];
	const unsigned char *mac;
	int nseen = 0, i;
	double end = now_ms() + window, next = now_ms();
	ssize_t n;
	char s[18];

	while (now_ms() < end) {
		if (now_ms() >= next) {
			probe_send(p);
			next += interval;
		}
		probe_wait(p, next < end ? next : end);
		while ((n = recv(p->fd, buf, sizeof(buf), 0)) > 0) {
			if (probe_classify(p, buf, n, &mac) != ARP_REPLY)
				continue;
			for (i = 0; i < nseen; i++)
				if (!memcmp(seen[i].mac, mac, ETH_ALEN))
					break;
			if (i == nseen) {
				if (nseen == MAX_MACS)
					continue;
				memcpy(seen[nseen].mac, mac, ETH_ALEN);
				seen[nseen++].count = 0;
			}
			seen[i].count++;
		}
	}
	for (i = 0; i < nseen; i++) {
		fmt_mac(seen[i].mac, s);
		printf("%s %lu\n", s, seen[i].count);
	}
	return nseen ? 0 : 1;
}

/* Runs the fault command from the namespace we started in. */
static pid_t run_fault(int home_ns, char **argv)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (setns(home_ns, CLONE_NEWNET) < 0) {
			perror("setns home");
			_exit(126);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	const char *ns = NULL, *ifname = NULL, *vip = NULL, *newmac_s = NULL;
	int interval = 10, warmup = 500, timeout = 10000, window = 0, opt;
	unsigned char newmac[ETH_ALEN], buf[2048];
	const unsigned char *mac;
	struct probe p;
	int home_ns, cmd_rc = -1, status;
	unsigned long sent = 0, pre = 0, pre_new = 0, old_after = 0;
	double t_start, t_fault = -1, next, arp = -1, garp = -1, cmd = -1;
	double last_old = -1, t;
	pid_t child = -1;
	const char *result;
	ssize_t n;

	while ((opt = getopt(argc, argv, "+n:i:t:m:I:w:T:W:h")) != -1) {
		switch (opt) {
		case 'n':
			ns = optarg;
			break;
		case 'i':
			ifname = optarg;
			break;
		case 't':
			vip = optarg;
			break;
		case 'm':
			newmac_s = optarg;
			break;
		case 'I':
			interval = parse_ms("-I", optarg, 1);
			break;
		case 'w':
			warmup = parse_ms("-w", optarg, 0);
			break;
		case 'T':
			timeout = parse_ms("-T", optarg, 1);
			break;
		case 'W':
			window = parse_ms("-W", optarg, 1);
			break;
		default:
			usage();
		}
	}
	if (!ns || !ifname || !vip)
		usage();
	memset(&p, 0, sizeof(p));
	if (inet_pton(AF_INET, vip, &p.vip) != 1) {
		fprintf(stderr, "%s: -t: \"%s\" is not an IPv4 address\n", prog,
			vip);
		return 2;
	}
	if (!window) {
		if (!newmac_s || optind >= argc)
			usage();
		parse_mac(newmac_s, newmac);
	}

	home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home_ns < 0)
		die("/proc/self/ns/net");
	enter_ns(ns);
	probe_open(&p, ifname);
	if (window)
		return who(&p, interval, window);

	t_start = now_ms();
	next = t_start;
	for (;;) {
		t = now_ms();
		if (t_fault < 0 && t - t_start >= warmup) {
			if (!pre) {
				printf("RESULT status=nopre arp_ms=-1 "
				       "garp_ms=-1 "
				       "cmd_ms=-1 cmd_rc=-1 pre=0 pre_new=0 "
				       "old_after=0 last_old_ms=-1 sent=%lu\n",
				       sent);
				return 3;
			}
			t_fault = now_ms();
			child = run_fault(home_ns, argv + optind);
		}
		if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
			cmd = now_ms() - t_fault;
			cmd_rc = WIFEXITED(status) ? WEXITSTATUS(status)
						   : 128 + WTERMSIG(status);
			child = -1;
		}
		if (t_fault >= 0 && child < 0 &&
		    (arp >= 0 || t - t_fault > timeout || cmd_rc != 0))
			break;
		if (t >= next) {
			probe_send(&p);
			sent++;
			next += interval;
			if (next < t) /* we were not scheduled: do not burst */
				next = t + interval;
		}
		/* poll at least every ms while the fault command runs, to
		 * notice its end */
		probe_wait(&p, child > 0 && next > t + 1 ? t + 1 : next);
		while ((n = recv(p.fd, buf, sizeof(buf), 0)) > 0) {
			enum arp_kind k = probe_classify(&p, buf, n, &mac);
			bool from_new;

			if (k == ARP_OTHER)
				continue;
			t = now_ms();
			from_new = !memcmp(mac, newmac, ETH_ALEN);
			if (t_fault < 0) {
				if (k == ARP_REPLY) {
					pre++;
					pre_new += from_new;
				}
				continue;
			}
			if (k == ARP_GRATUITOUS) {
				if (from_new && garp < 0)
					garp = t - t_fault;
				continue;
			}
			if (from_new) {
				if (arp < 0)
					arp = t - t_fault;
			} else {
				old_after++;
				last_old = t - t_fault;
			}
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			die("recv");
	}
	if (child > 0) { /* the fault command hangs: stop it, it failed */
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		cmd_rc = 137;
	}
	if (cmd_rc != 0)
		result = "faultfail";
	else if (arp < 0)
		result = "timeout";
	else
		result = "ok";
	printf("RESULT status=%s arp_ms=%.1f garp_ms=%.1f cmd_ms=%.1f "
	       "cmd_rc=%d pre=%lu pre_new=%lu old_after=%lu last_old_ms=%.1f "
	       "sent=%lu\n",
	       result, arp, garp, cmd, cmd_rc, pre, pre_new, old_after,
	       last_old, sent);
	return strcmp(result, "ok") ? 1 : 0;
}
