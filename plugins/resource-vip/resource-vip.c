/*
 * resource-vip: the virtual IP address of the service group.
 *
 * Everything runs on the agent's loop, driven by host watches and timers:
 * one NETLINK_ROUTE socket per instance for link and address queries and
 * changes, and AF_PACKET sockets on the interface for the duplicate address
 * probe and the announcements.  No `ip`, no exec.  One child: the guardian.
 *
 * The guardian ("cmsd-vipguard" in ps) is a dead-man's switch.  An agent
 * killed with SIGKILL (or crashed) would leave the address on the
 * interface, and the new master's duplicate address probe would then find
 * the old host answering and rightly refuse the address: the service would
 * be down.  So while the address is ours, a process forked from the agent
 * waits on a socket pair whose other end only the agent holds, and removes
 * the address (RTM_DELADDR) when that end closes; PR_SET_PDEATHSIG backs
 * the socket up.  It has a process group of its own and ignores SIGTERM,
 * SIGINT and SIGHUP: it ends with the agent, or when a stop that removed
 * the address tells it to quit.  It cannot help when it dies with the agent
 * (kill -9 of both, `pkill -9 cmsd`, systemd's final SIGKILL to the whole
 * cgroup), nor when the agent hangs without dying.
 *
 * start    the link exists and is up -> is the address already there?
 *          no: probe for it (IPv4 ARP probes per RFC 5227, IPv6 DAD
 *          neighbour solicitations); any answer refuses with -EADDRINUSE
 *          -> RTM_NEWADDR -> the guardian -> the first announcement, and
 *          the op is done; the rest of the burst follows on a timer.
 *          yes: announce it again.  That is how the agent re-announces the
 *          address after a contested election or a healed split brain: it
 *          calls start once more.
 * stop     ends a running burst, RTM_DELADDR; an address already gone (or
 *          an interface gone) is success.  Then the guardian is dismissed.
 * monitor  RUNNING when the address is on the interface, STOPPED when not,
 *          FAILED when the interface is gone, down or without carrier,
 *          UNKNOWN when the query failed.  An address of ours whose
 *          guardian is gone gets a new one.
 * destroy  a guardian not dismissed (the stop failed, or never came)
 *          removes the address: nobody watches it after this.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "plugin_util.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

/* The duplicate address probe: VIP_PROBES probes <probe-interval> apart,
 * then twice that more for late answers.  RFC 5227 asks for seconds; a
 * takeover has to be well under one, and a host on the same segment
 * answers within a millisecond or two: 30 ms apart (120 ms in all) still
 * leaves a loaded host tens of milliseconds, and three probes survive two
 * lost frames. */
#define VIP_PROBES	     3
#define VIP_PROBE_DEFAULT_MS 30

/* Netlink replies: a dump part is at most 32 KiB (the kernel's goodsize). */
#define VIP_NL_BUF 32768

/* Linux IFNAMSIZ - 1: the kernel refuses longer names. */
#define VIP_IFNAME_MAX 15

enum vip_opkind {
	VIP_OP_NONE,
	VIP_OP_START,
	VIP_OP_STOP,
	VIP_OP_MONITOR,
};

enum vip_step {
	VIP_STEP_LINK,	/* RTM_GETLINK by name */
	VIP_STEP_ADDRS, /* RTM_GETADDR dump */
	VIP_STEP_PROBE, /* packets on the wire, no netlink */
	VIP_STEP_ADD,	/* RTM_NEWADDR, ack */
	VIP_STEP_DEL,	/* RTM_DELADDR, ack */
};

/* What RTM_NEWLINK told about the interface. */
struct vip_link {
	int index;
	unsigned flags;
	unsigned short type;
	unsigned char mac[ETH_ALEN];
	unsigned mac_len;
};

struct vip;

/* A guardian process (see "the guardian" below). */
struct vip_guard {
	struct vip_guard *next;
	struct vip *v;
	pid_t pid;
	int fd; /* our end of the pair; -1 once the guardian's end closed */
	struct cmsd_watch *watch;
	int ifindex;	 /* what it deletes: the address on ifindex, */
	unsigned prefix; /* with this prefix (IPv6) */
	bool dismissed;	 /* told to quit without deleting */
	bool let_go;	 /* let go by destroy: it deletes */
	bool ended;	 /* its end closed: to reap */
};

struct vip {
	const struct cmsd_host *host;
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
	char *interface;
	unsigned garp_count;
	uint64_t garp_interval_ms;
	uint64_t probe_gap_ms; /* <probe-interval> */
	char addr_str[INET6_ADDRSTRLEN];

	/* rtnetlink */
	int nl_fd;
	struct cmsd_watch *nl_watch;
	uint32_t nl_seq;   /* last sequence number sent */
	uint32_t wait_seq; /* the reply the running op waits for; 0: none */
	unsigned char *nl_buf;

	/* the running op (the agent runs one at a time) */
	struct cmsd_op *op;
	enum vip_opkind kind;
	enum vip_step step;
	struct vip_link link;
	bool present; /* the address is on link.index */
	unsigned present_prefix;
	bool dadfailed;

	/* duplicate address probe (part of a start) */
	int probe_fd;
	struct cmsd_watch *probe_watch;
	struct cmsd_timer *probe_timer;
	unsigned probes_sent;

	/* announcement burst (outlives the start that began it) */
	int garp_fd;
	struct cmsd_timer *garp_timer;
	unsigned garp_left;
	int garp_index;
	unsigned char garp_mac[ETH_ALEN];

	/* the guardian: `guard` watches the address while it is ours
	 * (`owned`: started and not stopped since); `guards` also holds the
	 * dismissed ones until they are reaped */
	bool owned;
	struct vip_guard *guard;
	struct vip_guard *guards;
	struct cmsd_timer *reap_timer;
	uint64_t reap_delay_ms;
};

static const char *const vip_keys[] = {"address",	 "interface",
				       "garp-count",	 "garp-interval",
				       "probe-interval", NULL};

static const char *vip_op_name(enum vip_opkind k)
{
	switch (k) {
	case VIP_OP_START:
		return "start";
	case VIP_OP_STOP:
		return "stop";
	case VIP_OP_MONITOR:
		return "monitor";
	default:
		return "op";
	}
}

/* ---- configuration ---- */

/* "ADDR/PREFIX": IPv4 with prefix 1..32 or IPv6 with 1..128.  The prefix is
 * required: a /32 taken by mistake as the default would route nothing. */
static int vip_parse_address(const char *s, int *family, unsigned char *addr,
			     unsigned *prefix)
{
	const char *slash = strchr(s, '/');
	char ip[INET6_ADDRSTRLEN];
	size_t len;
	unsigned long p = 0;
	unsigned max;

	if (!slash || !slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	for (const char *q = slash + 1; *q; q++) {
		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p < 1 || p > max)
		return -EINVAL;
	*prefix = (unsigned)p;
	return 0;
}

/* Reads every key into v (strings point into the configuration) and
 * returns the number of errors reported. */
static int vip_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		    struct vip *v, const char **ifname)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *addr = NULL;
	int64_t n = 5;
	int bad = cf->check_keys(c, vip_keys);
	int rc = cf->get_string(c, "address", NULL, &addr);

	if (rc == 1)
		bad += cf->require(c, "address") < 0;
	else if (rc < 0)
		bad++;
	else if (vip_parse_address(addr, &v->family, v->addr, &v->prefix) < 0)
		bad += cf->error(c, "address",
				 "\"%s\" is not ADDRESS/PREFIX (IPv4 with "
				 "prefix 1..32, or IPv6 with 1..128)",
				 addr) < 0;
	bad += pu_word(h, c, "interface", true, VIP_IFNAME_MAX);
	cf->get_string(c, "interface", NULL, ifname);
	bad += cf->get_int(c, "garp-count", 5, 0, 100, &n) < 0;
	v->garp_count = (unsigned)n;
	bad += cf->get_duration_ms(c, "garp-interval", 200, 10, 10000,
				   &v->garp_interval_ms) < 0;
	bad += cf->get_duration_ms(c, "probe-interval", VIP_PROBE_DEFAULT_MS,
				   10, 1000, &v->probe_gap_ms) < 0;
	return bad;
}

static int vip_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct vip v = {0};
	const char *ifname = NULL;

	return vip_read(h, c, &v, &ifname) ? -EINVAL : 0;
}

/* ---- packets ---- */

static void vip_fmt_mac(const unsigned char *m, char *out, size_t len)
{
	snprintf(out, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* ARP and neighbour discovery need an Ethernet-like link that does ARP. */
static bool vip_link_can_announce(const struct vip_link *l)
{
	return l->type == ARPHRD_ETHER && l->mac_len == ETH_ALEN &&
	       !(l->flags & IFF_NOARP);
}

/* A SOCK_DGRAM packet socket on the link: the kernel adds the Ethernet
 * header.  proto 0 receives nothing (send only). */
static int vip_packet_open(int ifindex, uint16_t proto)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(proto),
				  .sll_ifindex = ifindex};
	int fd =
		socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	if (proto && bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int vip_packet_send(int fd, int ifindex, uint16_t proto,
			   const unsigned char *dst_mac, const void *pkt,
			   size_t len)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(proto),
				  .sll_ifindex = ifindex,
				  .sll_halen = ETH_ALEN};
	ssize_t n;

	memcpy(sll.sll_addr, dst_mac, ETH_ALEN);
	n = sendto(fd, pkt, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void vip_put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* An ARP request from `mac`: sender `spa` (0.0.0.0 for a probe, the
 * address itself for an announcement), target the address. */
static size_t vip_arp_build(const struct vip *v, const unsigned char *mac,
			    bool probe, unsigned char *p)
{
	memset(p, 0, 28);
	vip_put16(p, ARPHRD_ETHER);
	vip_put16(p + 2, ETH_P_IP);
	p[4] = ETH_ALEN;
	p[5] = 4;
	vip_put16(p + 6, ARPOP_REQUEST);
	memcpy(p + 8, mac, ETH_ALEN);
	if (!probe)
		memcpy(p + 14, v->addr, 4);
	memcpy(p + 24, v->addr, 4);
	return 28;
}

static uint16_t vip_icmp6_sum(const unsigned char *src,
			      const unsigned char *dst,
			      const unsigned char *icmp, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < 16; i += 2) {
		sum += (uint32_t)(src[i] << 8 | src[i + 1]);
		sum += (uint32_t)(dst[i] << 8 | dst[i + 1]);
	}
	sum += (uint32_t)len + IPPROTO_ICMPV6;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(icmp[i] << 8 | icmp[i + 1]);
	if (len & 1)
		sum += (uint32_t)icmp[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv6 header + ICMPv6 `type` about the address, hop limit 255 as neighbour
 * discovery requires.  probe: a DAD neighbour solicitation from :: to the
 * solicited-node group; else an unsolicited advertisement (override) from
 * the address to all nodes, with our link-layer address.  Returns the
 * length and sets dst_mac. */
static size_t vip_nd_build(const struct vip *v, const unsigned char *mac,
			   bool probe, unsigned char *p, unsigned char *dst_mac)
{
	static const unsigned char all_nodes[16] = {0xff, 0x02, [15] = 1};
	unsigned char *icmp = p + 40;
	unsigned char dst[16] = {0xff, 0x02, [11] = 1, [12] = 0xff};
	size_t icmp_len = probe ? 24 : 32;

	memset(p, 0, 40 + icmp_len);
	p[0] = 0x60;
	vip_put16(p + 4, (unsigned)icmp_len);
	p[6] = IPPROTO_ICMPV6;
	p[7] = 255;
	if (probe) {
		memcpy(dst + 13, v->addr + 13, 3);
		dst_mac[0] = dst_mac[1] = 0x33;
		memcpy(dst_mac + 2, dst + 12, 4);
	} else {
		memcpy(dst, all_nodes, 16);
		memcpy(p + 8, v->addr, 16);
		memcpy(dst_mac, (const unsigned char[]){0x33, 0x33, 0, 0, 0, 1},
		       ETH_ALEN);
	}
	memcpy(p + 24, dst, 16);
	icmp[0] = probe ? 135 : 136;
	if (!probe)
		icmp[4] = 0x20; /* override: replace what caches hold */
	memcpy(icmp + 8, v->addr, 16);
	if (!probe) {
		icmp[24] = 2; /* target link-layer address option */
		icmp[25] = 1;
		memcpy(icmp + 26, mac, ETH_ALEN);
	}
	vip_put16(icmp + 2, vip_icmp6_sum(p + 8, p + 24, icmp, icmp_len));
	return 40 + icmp_len;
}

/* One probe (probe) or announcement on fd. */
static int vip_send_one(const struct vip *v, int fd, int ifindex,
			const unsigned char *mac, bool probe)
{
	static const unsigned char bcast[ETH_ALEN] = {0xff, 0xff, 0xff,
						      0xff, 0xff, 0xff};
	unsigned char pkt[128], dst_mac[ETH_ALEN];
	size_t len;

	if (v->family == AF_INET) {
		len = vip_arp_build(v, mac, probe, pkt);
		return vip_packet_send(fd, ifindex, ETH_P_ARP, bcast, pkt, len);
	}
	len = vip_nd_build(v, mac, probe, pkt, dst_mac);
	return vip_packet_send(fd, ifindex, ETH_P_IPV6, dst_mac, pkt, len);
}

/* ---- announcement burst ---- */

static void vip_garp_stop(struct vip *v)
{
	if (v->garp_timer)
		v->host->timer_disarm(v->garp_timer);
	if (v->garp_fd >= 0)
		close(v->garp_fd);
	v->garp_fd = -1;
	v->garp_left = 0;
}

static const char *vip_garp_word(const struct vip *v, bool plural)
{
	if (v->family == AF_INET)
		return plural ? "gratuitous ARP requests" : "gratuitous ARP";
	return plural ? "unsolicited neighbour advertisements"
		      : "unsolicited neighbour advertisement";
}

/* Sends one announcement of the burst; false when the burst has to end. */
static bool vip_garp_send(struct vip *v)
{
	int rc = vip_send_one(v, v->garp_fd, v->garp_index, v->garp_mac, false);

	if (rc < 0) {
		v->host->log(v->host, CMSD_LOG_WARNING,
			     "cannot send %s for %s on %s: %s; announcement "
			     "stopped",
			     vip_garp_word(v, false), v->addr_str, v->interface,
			     strerror(-rc));
		vip_garp_stop(v);
		return false;
	}
	return true;
}

static void vip_garp_timer(void *arg)
{
	struct vip *v = arg;

	if (v->garp_fd < 0 || !v->garp_left)
		return;
	if (!vip_garp_send(v))
		return;
	if (--v->garp_left)
		v->host->timer_arm(v->garp_timer, v->garp_interval_ms);
	else
		vip_garp_stop(v);
}

/* Starts (or restarts) the burst: the first at once, the rest on the
 * timer.  A failure only warns: the address is on the interface and
 * serves every host that asks for it afresh. */
static void vip_garp_begin(struct vip *v)
{
	int fd;

	vip_garp_stop(v);
	if (!v->garp_count)
		return;
	if (!vip_link_can_announce(&v->link)) {
		v->host->log(v->host, CMSD_LOG_INFO,
			     "%s does no ARP: %s is not announced",
			     v->interface, v->addr_str);
		return;
	}
	fd = vip_packet_open(v->link.index, 0);
	if (fd < 0) {
		v->host->log(v->host, CMSD_LOG_WARNING,
			     "cannot open a packet socket on %s to announce "
			     "%s: %s",
			     v->interface, v->addr_str, strerror(-fd));
		return;
	}
	v->garp_fd = fd;
	v->garp_index = v->link.index;
	memcpy(v->garp_mac, v->link.mac, ETH_ALEN);
	v->garp_left = v->garp_count;
	v->host->log(v->host, CMSD_LOG_INFO,
		     "announcing %s on %s: %u %s, %llu ms apart", v->addr_str,
		     v->interface, v->garp_count, vip_garp_word(v, true),
		     (unsigned long long)v->garp_interval_ms);
	vip_garp_timer(v);
}

/* ---- the running op ---- */

static void vip_probe_close(struct vip *v)
{
	if (v->probe_timer)
		v->host->timer_disarm(v->probe_timer);
	if (v->probe_watch)
		v->host->watch_free(v->probe_watch);
	v->probe_watch = NULL;
	if (v->probe_fd >= 0)
		close(v->probe_fd);
	v->probe_fd = -1;
}

/* Ends the running op with rc; replies still in flight are ignored. */
static void vip_finish(struct vip *v, int rc)
{
	struct cmsd_op *op = v->op;

	vip_probe_close(v);
	v->op = NULL;
	v->kind = VIP_OP_NONE;
	v->wait_seq = 0;
	if (op)
		v->host->op_done(op, rc);
}

/* The query failed: start and stop fail with the error, monitor cannot
 * tell. */
static void vip_query_failed(struct vip *v, const char *what, int err)
{
	v->host->log(v->host, CMSD_LOG_ERR, "%s: %s on %s failed: %s",
		     vip_op_name(v->kind), what, v->interface, strerror(-err));
	vip_finish(v, v->kind == VIP_OP_MONITOR ? CMSD_UNKNOWN : err);
}

static int vip_nl_send(struct vip *v, struct nlmsghdr *nh)
{
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	ssize_t n;

	if (++v->nl_seq == 0)
		v->nl_seq = 1;
	nh->nlmsg_seq = v->nl_seq;
	n = sendto(v->nl_fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&k,
		   sizeof(k));
	if (n < 0)
		return -errno;
	if ((size_t)n != nh->nlmsg_len)
		return -EIO;
	v->wait_seq = nh->nlmsg_seq;
	return 0;
}

/* Requests, room for the few attributes they carry. */
struct vip_nlreq {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
	} u;
	unsigned char attrs[128];
};

static void vip_nla_put(struct vip_nlreq *r, unsigned short type,
			const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);
	struct rtattr *rta = (struct rtattr *)((char *)r + off);

	/* Never more than sizeof(r->attrs) here: names <= 16, addresses. */
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->nh.nlmsg_len = (uint32_t)(off + RTA_ALIGN(rta->rta_len));
}

static int vip_req_link(struct vip *v)
{
	struct vip_nlreq r = {0};

	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.nh.nlmsg_type = RTM_GETLINK;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.u.ifi.ifi_family = AF_UNSPEC;
	vip_nla_put(&r, IFLA_IFNAME, v->interface, strlen(v->interface) + 1);
	v->step = VIP_STEP_LINK;
	memset(&v->link, 0, sizeof(v->link));
	return vip_nl_send(v, &r.nh);
}

static int vip_req_addrs(struct vip *v)
{
	struct vip_nlreq r = {0};

	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.nh.nlmsg_type = RTM_GETADDR;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.u.ifa.ifa_family = (unsigned char)v->family;
	v->step = VIP_STEP_ADDRS;
	v->present = false;
	v->dadfailed = false;
	return vip_nl_send(v, &r.nh);
}

/* Fills r with RTM_NEWADDR or RTM_DELADDR of the address on interface
 * ifindex, with an ack.  IPv4 deletes by the local address alone, so that
 * a copy added with another prefix goes too; IPv6 matches address and
 * prefix, so stop passes the prefix it found.  The guardian sends a delete
 * built here (see vip_guard_start). */
static void vip_build_change(const struct vip *v, bool add, unsigned prefix,
			     int ifindex, struct vip_nlreq *req)
{
	struct vip_nlreq *r = req;
	size_t alen = v->family == AF_INET ? 4 : 16;

	/* Filled in place, not copied: the attributes are written through
	 * another type, which a struct copy need not see. */
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r->nh.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (add)
		r->nh.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	r->u.ifa.ifa_family = (unsigned char)v->family;
	r->u.ifa.ifa_prefixlen = (unsigned char)prefix;
	r->u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	r->u.ifa.ifa_index = (unsigned)ifindex;
	if (v->family == AF_INET) {
		vip_nla_put(r, IFA_LOCAL, v->addr, alen);
		if (add) {
			vip_nla_put(r, IFA_ADDRESS, v->addr, alen);
			if (prefix < 31) {
				uint32_t a, mask = htonl(~0u >> prefix);
				memcpy(&a, v->addr, 4);
				a |= mask;
				vip_nla_put(r, IFA_BROADCAST, &a, 4);
			}
		}
	} else {
		uint32_t flags = IFA_F_NODAD;

		/* We probed already; the kernel's DAD would hold the address
		 * tentative for a second. */
		if (add) {
			r->u.ifa.ifa_flags = IFA_F_NODAD;
			vip_nla_put(r, IFA_FLAGS, &flags, sizeof(flags));
		}
		vip_nla_put(r, IFA_ADDRESS, v->addr, alen);
	}
}

static int vip_req_change(struct vip *v, bool add, unsigned prefix)
{
	struct vip_nlreq r;

	vip_build_change(v, add, prefix, v->link.index, &r);
	v->step = add ? VIP_STEP_ADD : VIP_STEP_DEL;
	return vip_nl_send(v, &r.nh);
}

/* Sends a request of the running op; a send failure ends the op. */
static void vip_next(struct vip *v, int (*req)(struct vip *), const char *what)
{
	int rc = req(v);

	if (rc < 0)
		vip_query_failed(v, what, rc);
}

static void vip_add(struct vip *v)
{
	int rc = vip_req_change(v, true, v->prefix);

	if (rc < 0)
		vip_query_failed(v, "adding the address", rc);
}

/* ---- the guardian ----
 *
 * A dead-man's switch for the address.  While the address is ours, a child
 * forked from the agent (no exec: nothing to find on disk, nothing to fail
 * to load) waits on one end of a socket pair whose other end only the
 * agent holds.  The kernel closes that end whatever way the agent ends,
 * SIGKILL and crashes included, and the child then removes the address
 * with the RTM_DELADDR built here before the fork, and exits.  A stop that
 * removed the address itself sends VIP_GUARD_QUIT first: data comes before
 * the end of the stream, so a guardian told to quit never deletes, and a
 * start that follows at once (a restart in place) cannot lose its address
 * to the previous guardian.
 *
 * After the fork only async-signal-safe calls: the agent may have other
 * threads, and nothing of libevent or the allocator may run in the child.
 */

#define VIP_GUARD_NAME "cmsd-vipguard"
#define VIP_GUARD_QUIT 'q'

/* The guardian's exit codes, for the agent's log when it reaps one. */
enum {
	VIP_GUARD_DISMISSED = 0, /* told to quit: nothing done */
	VIP_GUARD_REMOVED = 10,	 /* the agent let go: address removed */
	VIP_GUARD_GONE = 11,	 /* the agent let go: address already gone */
	VIP_GUARD_DEL_FAILED = 12,
	VIP_GUARD_SETUP_FAILED = 13,
};

/* Everything the child needs, made before the fork. */
struct vip_guard_plan {
	int fd;	     /* the guardian's end of the pair */
	pid_t agent; /* getppid() while the agent lives */
	struct vip_nlreq del;
	char title[128]; /* for ps: written over the inherited argv */
	char *arg_start, *arg_end;
};

/* The agent's argv strings, from /proc/self/stat (fields 48 and 49): the
 * child writes its title there, so that ps shows what it is instead of a
 * second copy of the agent's command line.  NULLs when not available. */
static void vip_proc_args(char **start, char **end)
{
	char buf[2048], *p;
	unsigned long a = 0, b = 0;
	int field = 2; /* after "pid (comm)" */
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n;

	*start = *end = NULL;
	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the
	 * last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return;
	for (p++; *p && field < 49; field++) {
		while (*p == ' ')
			p++;
		if (field + 1 == 48)
			a = strtoul(p, NULL, 10);
		else if (field + 1 == 49)
			b = strtoul(p, NULL, 10);
		while (*p && *p != ' ')
			p++;
	}
	if (a && b > a) {
		*start = (char *)a;
		*end = (char *)b;
	}
}

static void vip_guard_wake(int sig)
{
	(void)sig; /* only to interrupt ppoll() */
}

/* RTM_DELADDR and its ack: one of the VIP_GUARD_* codes. */
static int vip_guard_delete(int nl, const struct vip_nlreq *req)
{
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	union {
		struct nlmsghdr nh;
		unsigned char b[1024];
	} u;
	ssize_t n;

	do
		n = sendto(nl, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&k,
			   sizeof(k));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return VIP_GUARD_DEL_FAILED;
	for (;;) {
		const struct nlmsghdr *nh = &u.nh;
		int len;

		n = recv(nl, u.b, sizeof(u.b), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VIP_GUARD_DEL_FAILED; /* incl. the timeout */
		len = (int)n;
		for (; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);
			if (nh->nlmsg_type != NLMSG_ERROR ||
			    nh->nlmsg_seq != req->nh.nlmsg_seq)
				continue;
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return VIP_GUARD_DEL_FAILED;
			if (e->error == 0)
				return VIP_GUARD_REMOVED;
			if (e->error == -EADDRNOTAVAIL || e->error == -ENOENT ||
			    e->error == -ENODEV)
				return VIP_GUARD_GONE;
			return VIP_GUARD_DEL_FAILED;
		}
	}
}

/* The child.  Never returns. */
static void vip_guard_main(const struct vip_guard_plan *g)
{
	static const int ignored[] = {SIGTERM, SIGINT,	SIGHUP,
				      SIGQUIT, SIGPIPE, SIGUSR2,
				      SIGTSTP, SIGTTIN, SIGTTOU};
	struct sigaction sa = {0};
	struct timeval tv = {.tv_sec = 2};
	sigset_t mask, none;
	int fd = g->fd, nl, null;

	/* The agent's handlers (libevent's write to the agent's own signal
	 * pipe) must never run here; the parent blocked every signal around
	 * the fork, so none has yet. */
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	/* A terminal's ^C and a SIGTERM to the agent's process group are
	 * for the agent; the guardian ends with it, through the socket. */
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	sa.sa_handler = vip_guard_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: ppoll() returns */
	setpgid(0, 0);
	prctl(PR_SET_NAME, VIP_GUARD_NAME, 0, 0, 0);
	if (g->arg_start) {
		size_t room = (size_t)(g->arg_end - g->arg_start), i;
		for (i = 0; i + 1 < room && g->title[i]; i++)
			g->arg_start[i] = g->title[i];
		for (; i < room; i++)
			g->arg_start[i] = '\0';
	}

	/* Only our end of the pair stays open, as fd 3: a copy of another
	 * guardian's agent end (inherited through this fork) would keep that
	 * guardian from ever seeing its agent die.  No stdio of the agent
	 * either: a pipe a supervisor reads to its end must not outlive the
	 * agent because of us. */
	if (fd != 3 && dup3(fd, 3, O_CLOEXEC) < 0)
		_exit(VIP_GUARD_SETUP_FAILED);
	fd = 3;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 4, ~0u, 0) < 0)
#endif
		for (int i = 4; i < 65536; i++)
			close(i);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		if (null != i && (null < 0 ? close(i) : dup2(null, i)) < 0)
			_exit(VIP_GUARD_SETUP_FAILED);
	if (null > 2)
		close(null);
	/* The socket is made now, not when it is needed: when the agent has
	 * died, nothing may be left to fail but the delete itself. */
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		_exit(VIP_GUARD_SETUP_FAILED);
	setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* The socket alone misses a copy of the agent's end kept open by
	 * another process forked from the agent without exec (a plugin's own
	 * helper).  The parent-death signal does not: the agent's pid is
	 * checked with SIGUSR1 blocked, and ppoll() unblocks it atomically,
	 * so a death between the check and the wait is not lost. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	sigemptyset(&none);
	prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char c;
		ssize_t n;

		/* The signal also comes when the thread that forked ends
		 * while the agent lives on: the pid says which. */
		if (getppid() != g->agent)
			break;
		if (ppoll(&pfd, 1, NULL, &none) < 0 && errno == EINTR)
			continue; /* check the parent again */
		n = read(fd, &c, 1);
		if (n == 1 && c == VIP_GUARD_QUIT)
			_exit(VIP_GUARD_DISMISSED);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
	_exit(vip_guard_delete(nl, &g->del));
}

/* ---- the guardian, on the agent's side ---- */

static void vip_guard_free(struct vip *v, struct vip_guard *g)
{
	for (struct vip_guard **p = &v->guards; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	if (v->guard == g)
		v->guard = NULL;
	if (g->watch)
		v->host->watch_free(g->watch);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static void vip_guard_log_end(struct vip *v, const struct vip_guard *g, int st)
{
	const struct cmsd_host *h = v->host;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;

	if (WIFSIGNALED(st)) {
		h->log(h, g->dismissed ? CMSD_LOG_INFO : CMSD_LOG_WARNING,
		       "guardian %d of %s was killed by signal %d%s",
		       (int)g->pid, v->addr_str, WTERMSIG(st),
		       g->dismissed ? ""
				    : ": the address is no longer removed "
				      "if the agent dies, until the next "
				      "monitor starts a new guardian");
		return;
	}
	switch (code) {
	case VIP_GUARD_DISMISSED:
		if (g->dismissed || g->let_go)
			h->log(h, CMSD_LOG_DEBUG, "guardian %d of %s ended",
			       (int)g->pid, v->addr_str);
		else
			h->log(h, CMSD_LOG_WARNING,
			       "guardian %d of %s ended unasked", (int)g->pid,
			       v->addr_str);
		break;
	case VIP_GUARD_REMOVED:
		h->log(h, CMSD_LOG_NOTICE, "guardian %d removed %s from %s",
		       (int)g->pid, v->addr_str, v->interface);
		break;
	case VIP_GUARD_GONE:
		h->log(h, CMSD_LOG_INFO,
		       "guardian %d: %s was already gone from %s", (int)g->pid,
		       v->addr_str, v->interface);
		break;
	case VIP_GUARD_DEL_FAILED:
		h->log(h, CMSD_LOG_ERR,
		       "guardian %d could not remove %s from %s", (int)g->pid,
		       v->addr_str, v->interface);
		break;
	default:
		h->log(h, CMSD_LOG_ERR,
		       "guardian %d of %s could not set itself up (exit %d): "
		       "the address is not removed if the agent dies",
		       (int)g->pid, v->addr_str, code);
	}
}

/* Reaps ended guardians (their end of the pair closed); false when one is
 * not reapable yet.  The agent's SIGCHLD handling reaps only the children
 * it spawned, so these are ours to wait for. */
static bool vip_guard_reap(struct vip *v)
{
	struct vip_guard *g, *next;
	bool all = true;

	for (g = v->guards; g; g = next) {
		int st;
		pid_t r;

		next = g->next;
		if (!g->ended)
			continue;
		do
			r = waitpid(g->pid, &st, WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			all = false; /* exiting, not a zombie yet */
			continue;
		}
		if (r == g->pid)
			vip_guard_log_end(v, g, st);
		vip_guard_free(v, g); /* r < 0: someone else reaped it */
	}
	return all;
}

static void vip_reap_timer(void *arg)
{
	struct vip *v = arg;

	if (vip_guard_reap(v))
		return;
	if (v->reap_delay_ms < 100)
		v->reap_delay_ms *= 2;
	v->host->timer_arm(v->reap_timer, v->reap_delay_ms);
}

/* The guardian's end closed: it has exited (it never writes). */
static void vip_guard_readable(int fd, unsigned events, void *arg)
{
	struct vip_guard *g = arg;
	struct vip *v = g->v;
	char buf[16];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	(void)events;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	v->host->watch_free(g->watch);
	g->watch = NULL;
	close(g->fd);
	g->fd = -1;
	g->ended = true;
	if (v->guard == g)
		v->guard = NULL;
	if (!vip_guard_reap(v)) {
		v->reap_delay_ms = 1;
		v->host->timer_arm(v->reap_timer, v->reap_delay_ms);
	}
}

static void vip_guard_dismiss(struct vip *v);

/* Makes sure a guardian watches the address on ifindex with prefix (one
 * per instance).  A failure is logged, not returned: the address serves
 * without one, and the next monitor tries again. */
static void vip_guard_start(struct vip *v, int ifindex, unsigned prefix)
{
	const struct cmsd_host *h = v->host;
	struct vip_guard_plan plan = {0};
	struct vip_guard *g;
	sigset_t all, old;
	int sv[2], err;
	pid_t pid;

	if (v->guard && v->guard->ifindex == ifindex &&
	    v->guard->prefix == prefix)
		return;
	/* The interface was made again, or the prefix changed: the old
	 * guardian would delete the wrong thing. */
	vip_guard_dismiss(v);
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = ENOMEM;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		free(g);
		goto fail;
	}
	vip_build_change(v, false, prefix, ifindex, &plan.del);
	plan.del.nh.nlmsg_seq = 1;
	plan.fd = sv[1];
	plan.agent = getpid();
	snprintf(plan.title, sizeof(plan.title), VIP_GUARD_NAME " %s %s/%u %s",
		 h->instance_id ? h->instance_id : "vip", v->addr_str, prefix,
		 v->interface);
	vip_proc_args(&plan.arg_start, &plan.arg_end);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		vip_guard_main(&plan);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		free(g);
		goto fail;
	}
	/* Both sides set the group, whichever runs first: a kill of another
	 * resource's process group never finds the guardian in it. */
	setpgid(pid, pid);
	g->v = v;
	g->pid = pid;
	g->ifindex = ifindex;
	g->prefix = prefix;
	g->fd = sv[0];
	g->watch =
		h->watch_new(h, g->fd, CMSD_WATCH_READ, vip_guard_readable, g);
	g->next = v->guards;
	v->guards = g;
	v->guard = g;
	if (!g->watch)
		/* Still there, still guarding; only its end goes unnoticed
		 * until destroy reaps it. */
		h->log(h, CMSD_LOG_WARNING,
		       "cannot watch guardian %d: its end is noticed at "
		       "destroy",
		       (int)pid);
	h->log(h, CMSD_LOG_INFO,
	       "guardian %d (" VIP_GUARD_NAME ") removes %s from %s if the "
	       "agent dies",
	       (int)pid, v->addr_str, v->interface);
	return;
fail:
	h->log(h, CMSD_LOG_ERR,
	       "cannot start the guardian of %s: %s; the address is not "
	       "removed if the agent dies",
	       v->addr_str, strerror(err));
}

/* The address is gone by our own hand: the guardian ends without deleting
 * (a later start may already have added it again). */
static void vip_guard_dismiss(struct vip *v)
{
	struct vip_guard *g = v->guard;

	if (!g)
		return;
	v->guard = NULL;
	g->dismissed = true;
	if (send(g->fd, (const char[]){VIP_GUARD_QUIT}, 1,
		 MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		/* Gone already (its end is seen on the loop), or a full
		 * buffer that one byte cannot meet. */
		v->host->log(v->host, CMSD_LOG_DEBUG,
			     "guardian %d: cannot tell it to quit: %s",
			     (int)g->pid, strerror(errno));
}

/* destroy: every guardian not dismissed is let go as if the agent died
 * (the instance stops watching the address: it must not stay behind),
 * then all are waited for, a second at most, so that they are reaped and
 * whatever follows (a reload's new instance) starts from a settled
 * interface. */
static void vip_guard_release(struct vip *v)
{
	const struct cmsd_host *h = v->host;
	uint64_t end = h->now_ms(h) + 1000;
	struct vip_guard *g;

	for (g = v->guards; g; g = g->next) {
		if (g->fd < 0)
			continue;
		if (!g->dismissed) {
			g->let_go = true;
			h->log(h, CMSD_LOG_NOTICE,
			       "destroy: %s may still be on %s: guardian %d "
			       "removes it",
			       v->addr_str, v->interface, (int)g->pid);
		}
		/* End of stream for the guardian, and our end stays open to
		 * see its own. */
		shutdown(g->fd, SHUT_WR);
	}
	v->guard = NULL;
	while (v->guards) {
		int64_t left = (int64_t)end - (int64_t)h->now_ms(h);
		for (g = v->guards; g; g = g->next) {
			struct pollfd p = {.fd = g->fd, .events = POLLIN};
			char c;
			if (g->fd < 0)
				continue;
			if (left > 0 && poll(&p, 1, 0) == 0)
				continue;
			if (left > 0 && recv(g->fd, &c, 1, MSG_DONTWAIT) > 0)
				continue;
			if (g->watch)
				h->watch_free(g->watch);
			g->watch = NULL;
			close(g->fd);
			g->fd = -1;
			g->ended = true;
		}
		if (vip_guard_reap(v) && !v->guards)
			break;
		if (left <= 0) {
			for (g = v->guards; g; g = g->next)
				h->log(h, CMSD_LOG_WARNING,
				       "destroy: guardian %d of %s did not end "
				       "within a second; left unreaped",
				       (int)g->pid, v->addr_str);
			while (v->guards)
				vip_guard_free(v, v->guards);
			break;
		}
		usleep(1000);
	}
}

/* A stop found the address gone or removed it: not ours any more. */
static void vip_stopped(struct vip *v)
{
	v->owned = false;
	vip_guard_dismiss(v);
}

/* ---- duplicate address probe ---- */

static void vip_conflict(struct vip *v, const unsigned char *mac, bool answer)
{
	char m[32];

	vip_fmt_mac(mac, m, sizeof(m));
	if (answer)
		v->host->log(v->host, CMSD_LOG_ERR,
			     "start: %s is answered by %s; refusing to add it",
			     v->addr_str, m);
	else
		v->host->log(v->host, CMSD_LOG_ERR,
			     "start: %s is being probed for by %s too; "
			     "refusing to add it",
			     v->addr_str, m);
	vip_finish(v, -EADDRINUSE);
}

/* An ARP packet about the address from another host: a reply or any
 * packet with it as sender (answered), or a probe for it (another host
 * wants it too, RFC 5227 section 2.1.1). */
static bool vip_arp_conflict(const struct vip *v, const unsigned char *p,
			     size_t n, const unsigned char **mac, bool *answer)
{
	static const unsigned char zero[4];

	if (n < 28 || p[0] != 0 || p[1] != ARPHRD_ETHER ||
	    p[2] != (ETH_P_IP >> 8) || p[3] != (ETH_P_IP & 0xff) ||
	    p[4] != ETH_ALEN || p[5] != 4)
		return false;
	if (memcmp(p + 8, v->link.mac, ETH_ALEN) == 0)
		return false;
	*mac = p + 8;
	if (memcmp(p + 14, v->addr, 4) == 0) {
		*answer = true;
		return true;
	}
	if (p[7] == ARPOP_REQUEST && memcmp(p + 14, zero, 4) == 0 &&
	    memcmp(p + 24, v->addr, 4) == 0) {
		*answer = false;
		return true;
	}
	return false;
}

/* A neighbour advertisement for the address, or another host's DAD
 * solicitation for it.  The MAC is the frame's source. */
static bool vip_nd_conflict(const struct vip *v, const unsigned char *p,
			    size_t n, bool *answer)
{
	static const unsigned char any[16];
	const unsigned char *icmp = p + 40;

	if (n < 40 + 24 || (p[0] >> 4) != 6 || p[6] != IPPROTO_ICMPV6 ||
	    icmp[1] != 0 || memcmp(icmp + 8, v->addr, 16) != 0)
		return false;
	if (icmp[0] == 136) {
		*answer = true;
		return true;
	}
	if (icmp[0] == 135 && memcmp(p + 8, any, 16) == 0) {
		*answer = false;
		return true;
	}
	return false;
}

static void vip_probe_readable(int fd, unsigned events, void *arg)
{
	struct vip *v = arg;
	unsigned char p[1500];

	(void)events;
	for (;;) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		const unsigned char *mac = NULL;
		bool answer = false, hit;
		ssize_t n = recvfrom(fd, p, sizeof(p), 0,
				     (struct sockaddr *)&sll, &sl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or nothing we could act on */
		}
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (v->family == AF_INET) {
			hit = vip_arp_conflict(v, p, (size_t)n, &mac, &answer);
		} else {
			hit = sll.sll_halen == ETH_ALEN &&
			      memcmp(sll.sll_addr, v->link.mac, ETH_ALEN) &&
			      vip_nd_conflict(v, p, (size_t)n, &answer);
			mac = sll.sll_addr;
		}
		if (hit) {
			vip_conflict(v, mac, answer);
			return;
		}
	}
}

static void vip_probe_timer(void *arg)
{
	struct vip *v = arg;
	int rc;

	if (v->kind != VIP_OP_START || v->step != VIP_STEP_PROBE)
		return;
	if (v->probes_sent == VIP_PROBES) {
		/* Nobody answered in the window. */
		vip_probe_close(v);
		vip_add(v);
		return;
	}
	rc = vip_send_one(v, v->probe_fd, v->link.index, v->link.mac, true);
	if (rc < 0) {
		vip_query_failed(v, "sending the duplicate address probe", rc);
		return;
	}
	v->probes_sent++;
	v->host->timer_arm(v->probe_timer, v->probes_sent < VIP_PROBES
						   ? v->probe_gap_ms
						   : 2 * v->probe_gap_ms);
}

static void vip_probe_begin(struct vip *v)
{
	uint16_t proto = v->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6;
	int fd;

	if (!vip_link_can_announce(&v->link)) {
		v->host->log(v->host, CMSD_LOG_INFO,
			     "%s does no ARP: no duplicate address probe for "
			     "%s",
			     v->interface, v->addr_str);
		vip_add(v);
		return;
	}
	fd = vip_packet_open(v->link.index, proto);
	if (fd < 0) {
		v->host->log(v->host, CMSD_LOG_ERR,
			     "cannot open a packet socket on %s for the "
			     "duplicate address probe: %s",
			     v->interface, strerror(-fd));
		vip_finish(v, fd);
		return;
	}
	v->probe_fd = fd;
	v->probe_watch = v->host->watch_new(v->host, fd, CMSD_WATCH_READ,
					    vip_probe_readable, v);
	if (!v->probe_watch) {
		vip_finish(v, -ENOMEM);
		return;
	}
	v->step = VIP_STEP_PROBE;
	v->probes_sent = 0;
	vip_probe_timer(v);
}

/* ---- netlink replies ---- */

static void vip_parse_link(struct vip *v, const struct nlmsghdr *nh)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));

	if (len < 0)
		return;
	v->link.index = ifi->ifi_index;
	v->link.flags = ifi->ifi_flags;
	v->link.type = ifi->ifi_type;
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == ETH_ALEN) {
			memcpy(v->link.mac, RTA_DATA(a), ETH_ALEN);
			v->link.mac_len = ETH_ALEN;
		}
	}
}

static void vip_parse_addr(struct vip *v, const struct nlmsghdr *nh)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifa));
	size_t alen = v->family == AF_INET ? 4 : 16;
	const void *local = NULL, *address = NULL;
	uint32_t flags;

	if (len < 0 || ifa->ifa_family != v->family ||
	    (int)ifa->ifa_index != v->link.index)
		return;
	flags = ifa->ifa_flags;
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == alen)
			local = RTA_DATA(a);
		else if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == alen)
			address = RTA_DATA(a);
		else if (a->rta_type == IFA_FLAGS &&
			 RTA_PAYLOAD(a) == sizeof(uint32_t))
			memcpy(&flags, RTA_DATA(a), sizeof(flags));
	}
	/* IPv4 point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours. */
	if (!local)
		local = address;
	if (!local || memcmp(local, v->addr, alen) != 0)
		return;
	v->present = true;
	v->present_prefix = ifa->ifa_prefixlen;
	v->dadfailed = (flags & IFA_F_DADFAILED) != 0;
}

/* The error text of an extended ack, or NULL. */
static const char *vip_nl_errmsg(const struct nlmsghdr *nh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nh);
	size_t off = NLMSG_HDRLEN + sizeof(*e);

	if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS) ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return NULL;
	if (!(nh->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	while (off + NLA_HDRLEN <= nh->nlmsg_len) {
		const struct nlattr *a =
			(const struct nlattr *)((const char *)nh + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > nh->nlmsg_len)
			return NULL;
		if (a->nla_type == NLMSGERR_ATTR_MSG &&
		    a->nla_len > NLA_HDRLEN &&
		    ((const char *)a)[a->nla_len - 1] == '\0')
			return (const char *)a + NLA_HDRLEN;
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

static void vip_link_done(struct vip *v, int err)
{
	if (err == -ENODEV) {
		switch (v->kind) {
		case VIP_OP_START:
			v->host->log(v->host, CMSD_LOG_ERR,
				     "start: interface %s does not exist",
				     v->interface);
			vip_finish(v, -ENODEV);
			break;
		case VIP_OP_STOP:
			v->host->log(v->host, CMSD_LOG_INFO,
				     "stop: interface %s is gone, and %s "
				     "with it",
				     v->interface, v->addr_str);
			vip_stopped(v);
			vip_finish(v, 0);
			break;
		default:
			v->host->log(v->host, CMSD_LOG_WARNING,
				     "monitor: interface %s is gone",
				     v->interface);
			vip_finish(v, CMSD_FAILED);
		}
		return;
	}
	if (err < 0) {
		vip_query_failed(v, "reading the link", err);
		return;
	}
	if (v->kind != VIP_OP_STOP &&
	    (v->link.flags & (IFF_UP | IFF_LOWER_UP)) !=
		    (IFF_UP | IFF_LOWER_UP)) {
		const char *why =
			v->link.flags & IFF_UP ? "has no carrier" : "is down";
		if (v->kind == VIP_OP_START) {
			v->host->log(v->host, CMSD_LOG_ERR,
				     "start: %s %s; not adding %s",
				     v->interface, why, v->addr_str);
			vip_finish(v, -ENETDOWN);
		} else {
			v->host->log(v->host, CMSD_LOG_WARNING,
				     "monitor: %s %s", v->interface, why);
			vip_finish(v, CMSD_FAILED);
		}
		return;
	}
	vip_next(v, vip_req_addrs, "reading the addresses");
}

static void vip_addrs_done(struct vip *v)
{
	int rc;

	switch (v->kind) {
	case VIP_OP_START:
		if (!v->present) {
			vip_probe_begin(v);
			return;
		}
		if (v->present_prefix != v->prefix)
			v->host->log(v->host, CMSD_LOG_WARNING,
				     "start: %s is on %s with prefix /%u, not "
				     "/%u",
				     v->addr_str, v->interface,
				     v->present_prefix, v->prefix);
		v->host->log(v->host, CMSD_LOG_INFO,
			     "start: %s is already on %s: announcing it again",
			     v->addr_str, v->interface);
		v->owned = true;
		vip_guard_start(v, v->link.index, v->present_prefix);
		vip_garp_begin(v);
		vip_finish(v, 0);
		return;
	case VIP_OP_STOP:
		if (!v->present) {
			v->host->log(v->host, CMSD_LOG_INFO,
				     "stop: %s was not on %s", v->addr_str,
				     v->interface);
			vip_stopped(v);
			vip_finish(v, 0);
			return;
		}
		rc = vip_req_change(v, false, v->present_prefix);
		if (rc < 0)
			vip_query_failed(v, "removing the address", rc);
		return;
	default:
		if (v->present && v->dadfailed) {
			v->host->log(v->host, CMSD_LOG_WARNING,
				     "monitor: %s on %s failed duplicate "
				     "address detection",
				     v->addr_str, v->interface);
			vip_finish(v, CMSD_FAILED);
			return;
		}
		/* Ours, but its guardian ended (killed by hand, or could not
		 * start) or guards the wrong thing: a new one. */
		if (v->present && v->owned)
			vip_guard_start(v, v->link.index, v->present_prefix);
		vip_finish(v, v->present ? CMSD_RUNNING : CMSD_STOPPED);
	}
}

static void vip_change_done(struct vip *v, int err, const char *ext)
{
	const char *sep = ext ? " (" : "", *end = ext ? ")" : "";

	if (v->step == VIP_STEP_ADD) {
		if (err < 0 && err != -EEXIST) {
			v->host->log(v->host, CMSD_LOG_ERR,
				     "start: cannot add %s/%u to %s: %s%s%s%s",
				     v->addr_str, v->prefix, v->interface,
				     strerror(-err), sep, ext ? ext : "", end);
			vip_finish(v, err);
			return;
		}
		v->host->log(v->host, CMSD_LOG_NOTICE, "added %s/%u to %s",
			     v->addr_str, v->prefix, v->interface);
		v->owned = true;
		vip_guard_start(v, v->link.index, v->prefix);
		vip_garp_begin(v);
		vip_finish(v, 0);
		return;
	}
	if (err == -EADDRNOTAVAIL || err == -ENOENT || err == -ENODEV) {
		v->host->log(v->host, CMSD_LOG_INFO,
			     "stop: %s was already gone from %s", v->addr_str,
			     v->interface);
		err = 0;
	} else if (err < 0) {
		v->host->log(v->host, CMSD_LOG_ERR,
			     "stop: cannot remove %s from %s: %s%s%s%s",
			     v->addr_str, v->interface, strerror(-err), sep,
			     ext ? ext : "", end);
	} else {
		v->host->log(v->host, CMSD_LOG_NOTICE, "removed %s from %s",
			     v->addr_str, v->interface);
	}
	if (err == 0)
		vip_stopped(v);
	vip_finish(v, err);
}

/* One reply message of the running op. */
static void vip_nl_msg(struct vip *v, const struct nlmsghdr *nh)
{
	int err = 0;

	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);
		if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			err = -EPROTO;
		else
			err = e->error;
	}
	switch (v->step) {
	case VIP_STEP_LINK:
		if (nh->nlmsg_type == RTM_NEWLINK) {
			vip_parse_link(v, nh);
			vip_link_done(v, 0);
		} else if (nh->nlmsg_type == NLMSG_ERROR) {
			vip_link_done(v, err ? err : -EPROTO);
		}
		break;
	case VIP_STEP_ADDRS:
		if (nh->nlmsg_type == RTM_NEWADDR)
			vip_parse_addr(v, nh);
		else if (nh->nlmsg_type == NLMSG_DONE)
			vip_addrs_done(v);
		else if (nh->nlmsg_type == NLMSG_ERROR)
			vip_query_failed(v, "reading the addresses",
					 err ? err : -EPROTO);
		break;
	case VIP_STEP_ADD:
	case VIP_STEP_DEL:
		if (nh->nlmsg_type == NLMSG_ERROR)
			vip_change_done(v, err, vip_nl_errmsg(nh));
		break;
	case VIP_STEP_PROBE:
		break;
	}
}

static void vip_nl_readable(int fd, unsigned events, void *arg)
{
	struct vip *v = arg;

	(void)events;
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = {v->nl_buf, VIP_NL_BUF};
		struct msghdr mh = {.msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    v->wait_seq)
				vip_query_failed(v, "netlink", -errno);
			return;
		}
		if (n == 0 || from.nl_pid != 0)
			continue; /* only the kernel talks to us */
		if ((mh.msg_flags & MSG_TRUNC) && v->wait_seq) {
			vip_query_failed(v, "netlink", -EMSGSIZE);
			continue;
		}
		len = (int)n;
		for (const struct nlmsghdr *nh =
			     (const struct nlmsghdr *)v->nl_buf;
		     NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			/* Replies to an op that ended (cancelled, or
			 * finished on an earlier part) are dropped. */
			if (!v->wait_seq || nh->nlmsg_seq != v->wait_seq)
				continue;
			vip_nl_msg(v, nh);
		}
	}
}

/* The netlink socket and timers, made on the first op. */
static int vip_runtime(struct vip *v)
{
	const struct cmsd_host *h = v->host;
	struct sockaddr_nl me = {.nl_family = AF_NETLINK};
	int one = 1, err;

	if (!v->probe_timer)
		v->probe_timer = h->timer_new(h, vip_probe_timer, v);
	if (!v->garp_timer)
		v->garp_timer = h->timer_new(h, vip_garp_timer, v);
	if (!v->reap_timer)
		v->reap_timer = h->timer_new(h, vip_reap_timer, v);
	if (!v->nl_buf)
		v->nl_buf = malloc(VIP_NL_BUF);
	if (!v->probe_timer || !v->garp_timer || !v->reap_timer || !v->nl_buf)
		return -ENOMEM;
	if (v->nl_fd >= 0)
		return 0;
	v->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			  NETLINK_ROUTE);
	if (v->nl_fd < 0)
		goto fail;
	if (bind(v->nl_fd, (struct sockaddr *)&me, sizeof(me)) < 0)
		goto fail;
	/* Error texts from the kernel, without a copy of our request. */
	setsockopt(v->nl_fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(v->nl_fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	v->nl_watch =
		h->watch_new(h, v->nl_fd, CMSD_WATCH_READ, vip_nl_readable, v);
	if (!v->nl_watch) {
		errno = ENOMEM;
		goto fail;
	}
	return 0;
fail:
	err = errno;
	h->log(h, CMSD_LOG_ERR, "cannot open a netlink socket: %s",
	       strerror(err));
	if (v->nl_fd >= 0)
		close(v->nl_fd);
	v->nl_fd = -1;
	return -err;
}

static int vip_begin(struct vip *v, struct cmsd_op *op, enum vip_opkind kind)
{
	int rc;

	if (v->op)
		return -EBUSY;
	rc = vip_runtime(v);
	if (rc < 0)
		return kind == VIP_OP_MONITOR ? CMSD_UNKNOWN : rc;
	v->op = op;
	v->kind = kind;
	rc = vip_req_link(v);
	if (rc < 0) {
		v->op = NULL;
		v->kind = VIP_OP_NONE;
		v->wait_seq = 0;
		v->host->log(v->host, CMSD_LOG_ERR,
			     "%s: reading the link %s failed: %s",
			     vip_op_name(kind), v->interface, strerror(-rc));
		return kind == VIP_OP_MONITOR ? CMSD_UNKNOWN : rc;
	}
	return CMSD_PENDING;
}

static int vip_start(void *inst, struct cmsd_op *op)
{
	return vip_begin(inst, op, VIP_OP_START);
}

static int vip_stop(void *inst, struct cmsd_op *op)
{
	struct vip *v = inst;

	/* No announcement may follow a stop, even if the stop fails. */
	vip_garp_stop(v);
	return vip_begin(v, op, VIP_OP_STOP);
}

static int vip_monitor(void *inst, struct cmsd_op *op)
{
	return vip_begin(inst, op, VIP_OP_MONITOR);
}

/* Abandons the op: the probe ends, replies in flight are dropped.  An
 * RTM_NEWADDR already sent may still take effect; the agent stops the
 * resource after a failed start anyway. */
static void vip_cancel(void *inst, struct cmsd_op *op)
{
	struct vip *v = inst;

	if (v->op != op)
		return;
	vip_probe_close(v);
	v->op = NULL;
	v->kind = VIP_OP_NONE;
	v->wait_seq = 0;
}

static void vip_destroy(void *inst)
{
	struct vip *v = inst;

	if (!v)
		return;
	vip_probe_close(v);
	vip_garp_stop(v);
	vip_guard_release(v);
	if (v->nl_watch)
		v->host->watch_free(v->nl_watch);
	if (v->nl_fd >= 0)
		close(v->nl_fd);
	if (v->probe_timer)
		v->host->timer_free(v->probe_timer);
	if (v->garp_timer)
		v->host->timer_free(v->garp_timer);
	if (v->reap_timer)
		v->host->timer_free(v->reap_timer);
	free(v->nl_buf);
	free(v->interface);
	free(v);
}

static int vip_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		    void **inst)
{
	struct vip *v = calloc(1, sizeof(*v));
	const char *ifname = NULL;
	int rc = -EINVAL;

	if (!v)
		return -ENOMEM;
	v->host = h;
	v->nl_fd = v->probe_fd = v->garp_fd = -1;
	if (vip_read(h, c, v, &ifname))
		goto fail;
	inet_ntop(v->family, v->addr, v->addr_str, sizeof(v->addr_str));
	rc = -ENOMEM;
	v->interface = strdup(ifname);
	if (!v->interface)
		goto fail;
	*inst = v;
	return 0;
fail:
	vip_destroy(v);
	return rc;
}

static const struct cmsd_resource_ops vip_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vip_validate,
	.init = vip_init,
	.start = vip_start,
	.stop = vip_stop,
	.monitor = vip_monitor,
	.cancel = vip_cancel,
	.destroy = vip_destroy,
};

static const struct cmsd_plugin vip_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-vip",
	.version = "0.1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "virtual IP address with gratuitous ARP",
	.ops.resource = &vip_ops,
};

CMSD_PLUGIN_DEFINE(vip_plugin)
