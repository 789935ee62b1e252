/*
 * quorum-ping: simple ping arbitration.  A node may stay or become master
 * only while it reaches its stable addresses (gateway, switch).
 *
 * Every <interval> the plugin sends one ICMP echo request (ICMPv6 for IPv6
 * targets) to each target, through one non-blocking socket per address
 * family watched with host->watch_*.  It prefers the unprivileged ICMP
 * datagram socket (SOCK_DGRAM, IPPROTO_ICMP: allowed when the process's
 * group lies in net.ipv4.ping_group_range) and falls back to a raw socket
 * (CAP_NET_RAW); the start log names which.
 *
 * A target is Online while its last valid reply is at most <timeout> old.
 * A reply is valid only when it is an echo reply (code 0) carrying our
 * identifier, our per-start random cookie, a sequence number equal to the
 * one in the payload, the index of the target the probe went to, comes
 * from that target's address, and arrived within <timeout> of the send.
 * Anything else (other pingers' replies, ICMP errors, truncated or
 * malformed packets, replies from the wrong address) is dropped without a
 * word: ICMP is unauthenticated and anyone may send it.
 *
 * Payload of a probe, after the 8-byte ICMP header (host byte order: only
 * this process reads it back):
 *   0  u64 cookie     random per start: replies to an earlier run are stale
 *   8  u64 sent_us    CLOCK_MONOTONIC microseconds at send, for the RTT
 *   16 u16 target     index of the target in the configuration
 *   18 u16 seq        the header's sequence number again
 *   20 4 bytes magic  "cmsq"
 *
 * Until every target has answered or <timeout> has passed since start the
 * state is undecided: monitor says UNKNOWN and a vote waits (CMSD_PENDING)
 * unless a target has already answered.  The vote is granted iff at least
 * one target is Online; there is no lease (expires_ms 0): the agent asks
 * again with renew_lease.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "plugin_util.h"

#define PING_MAX_TARGETS 16
#define PING_HDR	 8
#define PING_PAYLOAD	 24
#define PING_PKT	 (PING_HDR + PING_PAYLOAD)
/* Our replies are PING_PKT bytes (plus an IPv4 header on a raw socket);
 * anything bigger than this is not ours and is dropped as truncated. */
#define PING_RECV_MAX 1024
/* Packets read per wake-up, so that a flood cannot hold the loop. */
#define PING_RECV_BURST 64
#define PING_LINE_MAX	1024

static const unsigned char ping_magic[4] = {'c', 'm', 's', 'q'};

enum ping_reach { PR_UNKNOWN, PR_ONLINE, PR_OFFLINE };
enum ping_quorum { PQ_UNKNOWN, PQ_HAVE, PQ_NONE };

struct ping_target {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN]; /* canonical spelling, for logs */
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} to;
	socklen_t to_len;
	enum ping_reach state;	/* as last reported */
	uint64_t since_us;	/* when state was entered */
	uint64_t last_reply_us; /* 0: none since start */
	uint32_t rtt_us;	/* of the last valid reply */
	int send_err;		/* errno of the last failed send, logged once */
};

struct ping_sock {
	int fd; /* -1: closed */
	bool raw;
	uint16_t id; /* echo identifier, host order */
	struct cmsd_watch *watch;
};

struct ping {
	struct pu_base base; /* first: shared layout of the bundled plugins */
	struct ping_target targets[PING_MAX_TARGETS];
	size_t n_targets;
	uint64_t interval_ms;
	uint64_t timeout_ms;

	struct ping_sock sock[2]; /* [0] IPv4, [1] IPv6 */
	struct cmsd_timer *timer;
	bool started;
	/* Raised by start and stop: a callback that called out (notify) sees
	 * whether the agent stopped the instance meanwhile. */
	unsigned gen;
	uint64_t cookie;
	uint16_t seq;
	uint64_t started_us;
	uint64_t next_send_us;
	enum ping_quorum quorum; /* as last reported */

	/* The agent runs one op at a time: one pending vote is enough. */
	struct cmsd_op *vote_op;
	struct cmsd_vote *vote_out;
	bool vote_fresh; /* the held vote needs a reply of this moment */
};

static const char *const ping_keys[] = {"target", "interval", "timeout", NULL};

/* ---- configuration ---- */

static int ping_parse_ip(const char *s, struct ping_target *t)
{
	memset(t, 0, sizeof(*t));
	if (inet_pton(AF_INET, s, t->addr) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, s, t->addr) == 1)
		t->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

/* Why an address cannot be a target, or NULL when it can. */
static const char *ping_unusable(const struct ping_target *t)
{
	const unsigned char *a = t->addr;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};

	if (t->family == AF_INET) {
		if (a[0] == 0)
			return "0.0.0.0/8 is not a host";
		if (a[0] >= 224 && a[0] <= 239)
			return "a multicast address is not one box";
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return "the broadcast address is not one box";
		return NULL;
	}
	if (a[0] == 0xff)
		return "a multicast address is not one box";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address needs an interface scope, which "
		       "<target> cannot carry; use a global or ULA address";
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return "an IPv4-mapped address: write the IPv4 address";
	for (size_t i = 0; i < 16; i++)
		if (a[i])
			return NULL;
	return ":: is not a host";
}

static void ping_fill_target(struct ping_target *t)
{
	inet_ntop(t->family, t->addr, t->text, sizeof(t->text));
	memset(&t->to, 0, sizeof(t->to));
	if (t->family == AF_INET) {
		t->to.v4.sin_family = AF_INET;
		memcpy(&t->to.v4.sin_addr, t->addr, 4);
		t->to_len = sizeof(t->to.v4);
	} else {
		t->to.v6.sin6_family = AF_INET6;
		memcpy(&t->to.v6.sin6_addr, t->addr, 16);
		t->to_len = sizeof(t->to.v6);
	}
}

static int ping_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		     struct ping *p)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "target");
	int bad = cf->check_keys(c, ping_keys);
	int tbad = 0;

	/* One target cannot tell "my link is down" from "that box is down". */
	if (n < 2)
		bad += cf->error(c, NULL,
				 "needs at least two <target> addresses (it "
				 "has %zu)",
				 n) < 0;
	if (n > PING_MAX_TARGETS)
		bad += cf->error(c, "target", "at most %d <target> addresses",
				 PING_MAX_TARGETS) < 0;
	p->n_targets = 0;
	for (size_t i = 0; i < n && i < PING_MAX_TARGETS; i++) {
		const struct cmsd_conf *t = cf->child(c, "target", i);
		const char *ip = cf->text(t);
		struct ping_target *cur = &p->targets[p->n_targets];
		const char *why;
		bool dup = false;

		if (ping_parse_ip(ip, cur) < 0) {
			bad += cf->error(
				       t, NULL,
				       "\"%s\" is not an IPv4 or IPv6 address",
				       ip) < 0;
			continue;
		}
		why = ping_unusable(cur);
		if (why) {
			bad += cf->error(t, NULL, "\"%s\" cannot be probed: %s",
					 ip, why) < 0;
			continue;
		}
		/* Compare addresses, not spellings: ::1 and 0::1 are one. */
		for (size_t j = 0; j < p->n_targets && !dup; j++)
			dup = p->targets[j].family == cur->family &&
			      memcmp(p->targets[j].addr, cur->addr, 16) == 0;
		if (dup) {
			bad += cf->error(t, NULL,
					 "target %s is given twice; the "
					 "targets must be distinct",
					 ip) < 0;
		} else {
			ping_fill_target(cur);
			p->n_targets++;
		}
	}
	tbad += cf->get_duration_ms(c, "interval", 200, 50, 60000,
				    &p->interval_ms) < 0;
	tbad += cf->get_duration_ms(c, "timeout", 1000, 1, 600000,
				    &p->timeout_ms) < 0;
	bad += tbad;
	if (!tbad && p->timeout_ms <= p->interval_ms)
		bad += cf->error(c, "timeout",
				 "timeout %llums must be longer than interval "
				 "%llums",
				 (unsigned long long)p->timeout_ms,
				 (unsigned long long)p->interval_ms) < 0;
	return bad;
}

static int ping_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct ping p;

	return ping_read(h, c, &p) ? -EINVAL : 0;
}

static int ping_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	struct ping *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->base.host = h;
	if (ping_read(h, c, p)) {
		free(p);
		return -EINVAL;
	}
	p->sock[0].fd = -1;
	p->sock[1].fd = -1;
	*inst = p;
	return 0;
}

/* ---- small helpers ---- */

static uint64_t ping_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void ping_random(void *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, GRND_NONBLOCK);

	/* Early boot without entropy: a weak cookie still tells our replies
	 * from other pingers'; it is no secret. */
	if (n < 0 || (size_t)n != len) {
		uint64_t x = ping_now_us() ^ ((uint64_t)getpid() << 32) ^
			     (uint64_t)(uintptr_t)buf;
		unsigned char *b = buf;
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			b[i] ^= (unsigned char)(x >> 56);
		}
	}
}

static uint16_t ping_cksum(const unsigned char *b, size_t len)
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

static const char *ping_reach_name(enum ping_reach r)
{
	switch (r) {
	case PR_ONLINE:
		return "Online";
	case PR_OFFLINE:
		return "Offline";
	case PR_UNKNOWN:
		break;
	}
	return "Unknown";
}

/* Appends to buf; a text that does not fit ends in "...". */
static void ping_append(char *buf, size_t size, size_t *len, const char *fmt,
			...) __attribute__((format(printf, 4, 5)));

static void ping_append(char *buf, size_t size, size_t *len, const char *fmt,
			...)
{
	va_list ap;
	int n;

	if (*len + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= size - *len) {
		*len = size - 1;
		if (size > 4)
			memcpy(buf + size - 4, "...", 4);
		return;
	}
	*len += (size_t)n;
}

/* ---- reachability: pure functions of the recorded replies and a time ---- */

static bool ping_round_done(const struct ping *p, uint64_t now)
{
	return now - p->started_us >= p->timeout_ms * 1000;
}

static enum ping_reach ping_reach_at(const struct ping *p,
				     const struct ping_target *t, uint64_t now)
{
	if (t->last_reply_us && now - t->last_reply_us <= p->timeout_ms * 1000)
		return PR_ONLINE;
	return ping_round_done(p, now) ? PR_OFFLINE : PR_UNKNOWN;
}

/* A target answered within the last two intervals: "reachable now", not
 * "answered within the timeout".  A takeover asks for this, so that a
 * slave whose targets went away with the master's does not take over on
 * replies from before the fault. */
static bool ping_fresh(const struct ping *p, uint64_t now)
{
	for (size_t i = 0; i < p->n_targets; i++) {
		const struct ping_target *t = &p->targets[i];
		if (t->last_reply_us &&
		    now - t->last_reply_us <= 2 * p->interval_ms * 1000)
			return true;
	}
	return false;
}

static enum ping_quorum ping_quorum_at(const struct ping *p, uint64_t now)
{
	bool undecided = false;

	for (size_t i = 0; i < p->n_targets; i++) {
		enum ping_reach r = ping_reach_at(p, &p->targets[i], now);
		if (r == PR_ONLINE)
			return PQ_HAVE;
		undecided |= r == PR_UNKNOWN;
	}
	return undecided ? PQ_UNKNOWN : PQ_NONE;
}

/* "[ping] 10.0.0.1 (Online), 10.0.0.2 (Offline)", the status line. */
static void ping_status_line(const struct ping *p, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	ping_append(buf, size, &len, "[ping]");
	for (size_t i = 0; i < p->n_targets; i++)
		ping_append(buf, size, &len, "%s %s (%s)", i ? "," : "",
			    p->targets[i].text,
			    ping_reach_name(p->targets[i].state));
}

/* The vote: granted iff a target answers now; no lease. */
static void ping_fill_vote(const struct ping *p, struct cmsd_vote *out,
			   uint64_t now, const char *why)
{
	size_t len = 0;
	bool granted = false;

	out->expires_ms = 0;
	out->epoch = 0;
	out->holder[0] = '\0';
	out->reason[0] = '\0';
	if (why) {
		out->granted = 0;
		ping_append(out->reason, sizeof(out->reason), &len, "%s", why);
		return;
	}
	for (size_t i = 0; i < p->n_targets; i++) {
		const struct ping_target *t = &p->targets[i];
		const char *sep = i ? "; " : "";

		if (ping_reach_at(p, t, now) == PR_ONLINE) {
			granted = true;
			ping_append(out->reason, sizeof(out->reason), &len,
				    "%s%s answers (%u.%u ms)", sep, t->text,
				    t->rtt_us / 1000, t->rtt_us % 1000 / 100);
		} else {
			ping_append(out->reason, sizeof(out->reason), &len,
				    "%s%s silent", sep, t->text);
		}
	}
	out->granted = granted;
}

/* ---- sockets ---- */

static void ping_on_read(int fd, unsigned events, void *arg);

static void ping_close(struct ping *p, struct ping_sock *s)
{
	if (s->watch)
		p->base.host->watch_free(s->watch);
	s->watch = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* A datagram ping socket gets its identifier from the kernel at bind. */
static int ping_bind_dgram(int fd, int family, uint16_t *id)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} a;
	socklen_t len;

	memset(&a, 0, sizeof(a));
	a.sa.sa_family = (sa_family_t)family;
	len = family == AF_INET ? sizeof(a.v4) : sizeof(a.v6);
	if (bind(fd, &a.sa, len) < 0)
		return -errno;
	len = sizeof(a);
	if (getsockname(fd, &a.sa, &len) < 0)
		return -errno;
	*id = ntohs(family == AF_INET ? a.v4.sin_port : a.v6.sin6_port);
	return 0;
}

/* Raw sockets see every ICMP packet the host receives; let the kernel
 * drop what cannot be a reply.  Only an optimisation: input is checked. */
static void ping_filter_raw(int fd, int family)
{
	if (family == AF_INET) {
		struct icmp_filter f = {.data = ~(1u << ICMP_ECHOREPLY)};
		(void)setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f));
	} else {
		struct icmp6_filter f;
		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		(void)setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f,
				 sizeof(f));
	}
}

static int ping_open(struct ping *p, int family)
{
	const struct cmsd_host *h = p->base.host;
	struct ping_sock *s = &p->sock[family == AF_INET6];
	int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	int type = SOCK_NONBLOCK | SOCK_CLOEXEC;
	int derr, rc;

	s->fd = socket(family, SOCK_DGRAM | type, proto);
	derr = s->fd < 0 ? errno : 0;
	if (s->fd >= 0) {
		rc = ping_bind_dgram(s->fd, family, &s->id);
		if (rc < 0) {
			derr = -rc;
			close(s->fd);
			s->fd = -1;
		}
	}
	if (s->fd >= 0) {
		s->raw = false;
		h->log(h, CMSD_LOG_NOTICE,
		       "%s: ICMP echo over an unprivileged datagram socket "
		       "(id %u)",
		       fam, s->id);
	} else {
		s->fd = socket(family, SOCK_RAW | type, proto);
		if (s->fd < 0) {
			rc = -errno;
			h->log(h, CMSD_LOG_ERR,
			       "%s: cannot open an ICMP socket: datagram: %s "
			       "(net.ipv4.ping_group_range must admit the "
			       "group), raw: %s (needs CAP_NET_RAW)",
			       fam, strerror(derr), strerror(-rc));
			return rc;
		}
		s->raw = true;
		ping_random(&s->id, sizeof(s->id));
		ping_filter_raw(s->fd, family);
		h->log(h, CMSD_LOG_NOTICE,
		       "%s: ICMP echo over a raw socket (id %u); the "
		       "unprivileged datagram socket was refused: %s",
		       fam, s->id, strerror(derr));
	}
	s->watch = h->watch_new(h, s->fd, CMSD_WATCH_READ, ping_on_read, p);
	if (!s->watch) {
		ping_close(p, s);
		return -ENOMEM;
	}
	return 0;
}

static void ping_send(struct ping *p, size_t idx, uint64_t now)
{
	const struct cmsd_host *h = p->base.host;
	struct ping_target *t = &p->targets[idx];
	struct ping_sock *s = &p->sock[t->family == AF_INET6];
	unsigned char pkt[PING_PKT];
	uint16_t seq = p->seq++, tix = (uint16_t)idx;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = t->family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	pkt[4] = (unsigned char)(s->id >> 8);
	pkt[5] = (unsigned char)s->id;
	pkt[6] = (unsigned char)(seq >> 8);
	pkt[7] = (unsigned char)seq;
	memcpy(pkt + PING_HDR, &p->cookie, 8);
	memcpy(pkt + PING_HDR + 8, &now, 8);
	memcpy(pkt + PING_HDR + 16, &tix, 2);
	memcpy(pkt + PING_HDR + 18, &seq, 2);
	memcpy(pkt + PING_HDR + 20, ping_magic, 4);
	/* The kernel sums ICMPv6 and datagram sockets; raw IPv4 is ours. */
	if (t->family == AF_INET && s->raw) {
		uint16_t sum = ping_cksum(pkt, sizeof(pkt));
		pkt[2] = (unsigned char)(sum >> 8);
		pkt[3] = (unsigned char)sum;
	}
	if (sendto(s->fd, pkt, sizeof(pkt), MSG_DONTWAIT | MSG_NOSIGNAL,
		   &t->to.sa, t->to_len) < 0) {
		int err = errno;
		/* Once per cause: an unreachable target fails every round. */
		if (err != t->send_err)
			h->log(h, CMSD_LOG_INFO, "%s: probe not sent: %s",
			       t->text, strerror(err));
		t->send_err = err;
		return;
	}
	if (t->send_err)
		h->log(h, CMSD_LOG_INFO, "%s: probes go out again", t->text);
	t->send_err = 0;
}

static uint16_t ping_be16(const unsigned char *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/*
 * Checks one received packet and records the reply it is, if any.
 * Lengths come from recvmsg, never from the packet alone.  A true echo
 * reply carries our probe back byte for byte: any other length is not one.
 */
static bool ping_input(struct ping *p, const struct ping_sock *s, int family,
		       const unsigned char *b, size_t n,
		       const struct sockaddr_storage *from, socklen_t from_len,
		       uint64_t now)
{
	const unsigned char *icmp = b, *pl;
	const unsigned char *src;
	size_t len = n, alen;
	uint64_t cookie, sent;
	uint16_t id, seq, pseq, tix;
	struct ping_target *t;

	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)from;

		if (from_len < sizeof(*sin) || from->ss_family != AF_INET)
			return false;
		src = (const unsigned char *)&sin->sin_addr;
		alen = 4;
		if (s->raw) {
			/* A raw IPv4 socket hands over the IP header too. */
			size_t ihl, tot;

			if (n < 20 || b[0] >> 4 != 4 || b[9] != IPPROTO_ICMP)
				return false;
			ihl = (size_t)(b[0] & 0x0f) * 4;
			tot = ping_be16(b + 2);
			if (ihl < 20 || ihl > n || tot < ihl)
				return false;
			if (tot < n)
				n = tot;
			icmp = b + ihl;
			len = n - ihl;
			/* The kernel hands raw sockets unchecked ICMP. */
			if (ping_cksum(icmp, len) != 0)
				return false;
		}
		if (len != PING_PKT || icmp[0] != ICMP_ECHOREPLY || icmp[1])
			return false;
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)from;

		if (from_len < sizeof(*sin6) || from->ss_family != AF_INET6)
			return false;
		src = (const unsigned char *)&sin6->sin6_addr;
		alen = 16;
		if (len != PING_PKT || icmp[0] != ICMP6_ECHO_REPLY || icmp[1])
			return false;
	}
	id = ping_be16(icmp + 4);
	seq = ping_be16(icmp + 6);
	if (id != s->id)
		return false;
	pl = icmp + PING_HDR;
	memcpy(&cookie, pl, 8);
	memcpy(&sent, pl + 8, 8);
	memcpy(&tix, pl + 16, 2);
	memcpy(&pseq, pl + 18, 2);
	if (cookie != p->cookie || pseq != seq || tix >= p->n_targets ||
	    memcmp(pl + 20, ping_magic, 4) != 0)
		return false;
	t = &p->targets[tix];
	/* The reply must come from the address the probe went to. */
	if (t->family != family || memcmp(t->addr, src, alen) != 0)
		return false;
	if (sent < p->started_us || sent > now ||
	    now - sent > p->timeout_ms * 1000)
		return false;
	t->last_reply_us = now;
	t->rtt_us = (uint32_t)(now - sent);
	return true;
}

static void ping_drain(struct ping *p, struct ping_sock *s, int family)
{
	for (int k = 0; k < PING_RECV_BURST && s->fd >= 0; k++) {
		unsigned char buf[PING_RECV_MAX];
		struct sockaddr_storage from;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* A queued ICMP error (host unreachable): reading it
			 * cleared it; the next packet may be a reply. */
			continue;
		}
		if (mh.msg_flags & MSG_TRUNC)
			continue;
		ping_input(p, s, family, buf, (size_t)n, &from, mh.msg_namelen,
			   ping_now_us());
	}
}

/* ---- the round: send, expire, report ---- */

/* Completes a waiting vote, once. */
static void ping_vote_done(struct ping *p, uint64_t now, const char *why)
{
	struct cmsd_op *op = p->vote_op;

	if (!op)
		return;
	ping_fill_vote(p, p->vote_out, now, why);
	p->vote_op = NULL;
	p->vote_out = NULL;
	p->vote_fresh = false;
	p->base.host->op_done(op, 0);
}

/*
 * Brings the reported states up to `now`: logs each change once, notifies
 * the agent and answers a waiting vote.  The agent may act on a notify
 * right away (even stop us): nothing here runs after a notify that changed
 * p->gen.
 */
static void ping_eval(struct ping *p, uint64_t now)
{
	const struct cmsd_host *h = p->base.host;
	unsigned gen = p->gen;
	bool changed = false;
	enum ping_quorum q, old_q = p->quorum;
	char line[PING_LINE_MAX];

	for (size_t i = 0; i < p->n_targets; i++) {
		struct ping_target *t = &p->targets[i];
		enum ping_reach r = ping_reach_at(p, t, now), old = t->state;
		uint64_t held_ms = (now - t->since_us) / 1000;

		if (r == old)
			continue;
		if (r == PR_ONLINE)
			h->log(h, CMSD_LOG_NOTICE,
			       "%s: %s -> Online after %llu ms (rtt %u.%u ms)",
			       t->text, ping_reach_name(old),
			       (unsigned long long)held_ms, t->rtt_us / 1000,
			       t->rtt_us % 1000 / 100);
		else
			h->log(h, CMSD_LOG_WARNING,
			       "%s: %s -> Offline after %llu ms (no answer "
			       "for %llu ms)",
			       t->text, ping_reach_name(old),
			       (unsigned long long)held_ms,
			       (unsigned long long)p->timeout_ms);
		t->state = r;
		t->since_us = now;
		changed = true;
	}
	q = ping_quorum_at(p, now);
	p->quorum = q;
	if (q == PQ_NONE ||
	    (q == PQ_HAVE && (!p->vote_fresh || ping_fresh(p, now))))
		ping_vote_done(p, now, NULL);
	if (changed) {
		ping_status_line(p, line, sizeof(line));
		h->notify(h, CMSD_EV_STATE_CHANGED, line);
		if (p->gen != gen)
			return;
	}
	if (q == old_q)
		return;
	/* Both are news at the first decision after start too: the agent
	 * counts on the first GAINED to know its quorum is there. */
	if (q == PQ_NONE) {
		h->log(h, CMSD_LOG_WARNING,
		       "quorum lost: no target answers within %llu ms",
		       (unsigned long long)p->timeout_ms);
		h->notify(h, CMSD_EV_QUORUM_LOST, "no ping target answers");
	} else if (q == PQ_HAVE) {
		h->log(h, CMSD_LOG_NOTICE, "quorum gained: a target answers");
		h->notify(h, CMSD_EV_QUORUM_GAINED, "a ping target answers");
	}
}

/* Sleeps until the next send, the end of the first round, or the moment
 * the freshest reply of an Online target grows older than the timeout. */
static void ping_arm(struct ping *p, uint64_t now)
{
	uint64_t wake = p->next_send_us, tmo = p->timeout_ms * 1000;

	if (!ping_round_done(p, now) && p->started_us + tmo < wake)
		wake = p->started_us + tmo;
	for (size_t i = 0; i < p->n_targets; i++) {
		const struct ping_target *t = &p->targets[i];
		uint64_t end = t->last_reply_us + tmo + 1;
		if (t->last_reply_us && end > now && end < wake)
			wake = end;
	}
	p->base.host->timer_arm(p->timer,
				wake > now ? (wake - now + 999) / 1000 : 0);
}

static void ping_tick(void *arg)
{
	struct ping *p = arg;
	uint64_t now;

	if (!p->started)
		return;
	/* Replies queued while the loop was busy count before anything is
	 * declared silent. */
	ping_drain(p, &p->sock[0], AF_INET);
	ping_drain(p, &p->sock[1], AF_INET6);
	now = ping_now_us();
	if (now >= p->next_send_us) {
		for (size_t i = 0; i < p->n_targets; i++)
			ping_send(p, i, now);
		p->next_send_us += p->interval_ms * 1000;
		/* After a stall, probe on the beat again rather than in a
		 * burst. */
		if (p->next_send_us <= now)
			p->next_send_us = now + p->interval_ms * 1000;
	}
	ping_arm(p, now);
	ping_eval(p, now);
}

static void ping_on_read(int fd, unsigned events, void *arg)
{
	struct ping *p = arg;
	int family = fd == p->sock[1].fd ? AF_INET6 : AF_INET;

	(void)events;
	if (!p->started)
		return;
	ping_drain(p, &p->sock[family == AF_INET6], family);
	ping_eval(p, ping_now_us());
}

/* ---- ops ---- */

static void ping_close_all(struct ping *p)
{
	ping_close(p, &p->sock[0]);
	ping_close(p, &p->sock[1]);
	if (p->timer)
		p->base.host->timer_disarm(p->timer);
}

static int ping_start(void *inst, struct cmsd_op *op)
{
	struct ping *p = inst;
	const struct cmsd_host *h = p->base.host;
	bool need[2] = {false, false};
	int rc;

	(void)op;
	if (p->started)
		return 0;
	if (!p->timer) {
		p->timer = h->timer_new(h, ping_tick, p);
		if (!p->timer)
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_targets; i++)
		need[p->targets[i].family == AF_INET6] = true;
	for (int f = 0; f < 2; f++) {
		if (!need[f])
			continue;
		rc = ping_open(p, f ? AF_INET6 : AF_INET);
		if (rc < 0) {
			ping_close_all(p);
			return rc;
		}
	}
	p->gen++;
	p->started = true;
	ping_random(&p->cookie, sizeof(p->cookie));
	ping_random(&p->seq, sizeof(p->seq));
	p->started_us = ping_now_us();
	p->next_send_us = p->started_us;
	p->quorum = PQ_UNKNOWN;
	for (size_t i = 0; i < p->n_targets; i++) {
		struct ping_target *t = &p->targets[i];
		t->state = PR_UNKNOWN;
		t->since_us = p->started_us;
		t->last_reply_us = 0;
		t->rtt_us = 0;
		t->send_err = 0;
	}
	h->log(h, CMSD_LOG_INFO,
	       "probing %zu targets every %llu ms; silent after %llu ms",
	       p->n_targets, (unsigned long long)p->interval_ms,
	       (unsigned long long)p->timeout_ms);
	ping_tick(p);
	return 0;
}

static int ping_stop(void *inst, struct cmsd_op *op)
{
	struct ping *p = inst;

	(void)op;
	if (!p->started)
		return 0;
	ping_close_all(p);
	p->started = false;
	p->gen++;
	ping_vote_done(p, ping_now_us(), "probing stopped");
	p->base.host->log(p->base.host, CMSD_LOG_INFO, "stopped probing");
	return 0;
}

static int ping_monitor(void *inst, struct cmsd_op *op)
{
	struct ping *p = inst;

	(void)op;
	if (!p->started)
		return CMSD_STOPPED;
	switch (ping_quorum_at(p, ping_now_us())) {
	case PQ_HAVE:
		return CMSD_RUNNING;
	case PQ_NONE:
		return CMSD_FAILED;
	case PQ_UNKNOWN:
		break;
	}
	return CMSD_UNKNOWN;
}

static int ping_vote(struct ping *p, struct cmsd_op *op, struct cmsd_vote *out,
		     bool fresh)
{
	uint64_t now = ping_now_us();
	enum ping_quorum q;

	if (!p->started) {
		ping_fill_vote(p, out, now, "not started: no probes sent");
		return 0;
	}
	q = ping_quorum_at(p, now);
	if (q == PQ_NONE || (q == PQ_HAVE && (!fresh || ping_fresh(p, now)))) {
		ping_fill_vote(p, out, now, NULL);
		return 0;
	}
	/* Denying before the targets had their chance to answer would be a
	 * guess: wait for the first reply or the end of the first round. */
	if (p->vote_op)
		return -EBUSY;
	p->vote_op = op;
	p->vote_out = out;
	p->vote_fresh = fresh;
	return CMSD_PENDING;
}

static int ping_request_vote(void *inst, struct cmsd_op *op,
			     const struct cmsd_vote_request *req,
			     struct cmsd_vote *out)
{
	(void)req;
	return ping_vote(inst, op, out, true);
}

static int ping_renew_lease(void *inst, struct cmsd_op *op,
			    const struct cmsd_vote_request *req,
			    struct cmsd_vote *out)
{
	(void)req;
	return ping_vote(inst, op, out, false);
}

static int ping_release(void *inst, struct cmsd_op *op)
{
	(void)inst;
	(void)op;
	return 0; /* no lease is held */
}

static void ping_cancel(void *inst, struct cmsd_op *op)
{
	struct ping *p = inst;

	if (p->vote_op == op) {
		p->vote_op = NULL;
		p->vote_out = NULL;
	}
}

static void ping_destroy(void *inst)
{
	struct ping *p = inst;

	if (!p)
		return;
	ping_close_all(p);
	if (p->timer)
		p->base.host->timer_free(p->timer);
	free(p);
}

static const struct cmsd_quorum_ops ping_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = ping_validate,
	.init = ping_init,
	.start = ping_start,
	.stop = ping_stop,
	.monitor = ping_monitor,
	.cancel = ping_cancel,
	.destroy = ping_destroy,
	.request_vote = ping_request_vote,
	.renew_lease = ping_renew_lease,
	.release = ping_release,
};

static const struct cmsd_plugin ping_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "quorum-ping",
	.version = "0.2.0",
	.kind = CMSD_KIND_QUORUM,
	.description = "simple ping arbitration",
	.ops.quorum = &ping_ops,
};

CMSD_PLUGIN_DEFINE(ping_plugin)
