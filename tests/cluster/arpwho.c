/*
 * arpwho: which hosts answer ARP for an address?  The cluster tests use it
 * to prove that after a failover the VIP answers from exactly one MAC, the
 * new master's: a host that kept the address would answer too.
 *
 *   arpwho DEV IPV4-ADDR [DURATION_MS]
 *	Broadcasts an ARP request for ADDR on DEV every 10 ms for
 *	DURATION_MS (default 500) and prints one line per MAC that
 *	answered: "MAC REPLIES".  Exit 0 when some host answered, 1 when
 *	none did, 2 on a usage or socket error.  Needs CAP_NET_RAW (root).
 *
 * The requests carry DEV's own IPv4 address as sender when it has one
 * (0.0.0.0, an RFC 5227 probe, otherwise), so replies come back unicast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define AW_MAX_MACS 16
#define AW_EVERY_MS 10

struct aw_mac {
	uint8_t mac[ETH_ALEN];
	unsigned replies;
};

static int64_t aw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DEV's first IPv4 address, or 0.0.0.0. */
static struct in_addr aw_dev_addr(const char *dev)
{
	struct in_addr a = {0};
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return a;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    strcmp(i->ifa_name, dev) == 0) {
			a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			break;
		}
	}
	freeifaddrs(ifa);
	return a;
}

static void aw_count(struct aw_mac *macs, size_t *n, const uint8_t *mac)
{
	for (size_t i = 0; i < *n; i++) {
		if (memcmp(macs[i].mac, mac, ETH_ALEN) == 0) {
			macs[i].replies++;
			return;
		}
	}
	if (*n < AW_MAX_MACS) {
		memcpy(macs[*n].mac, mac, ETH_ALEN);
		macs[(*n)++].replies = 1;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(ETH_P_ARP),
				 .sll_halen = ETH_ALEN};
	struct ether_arp req = {0};
	struct in_addr target, self;
	struct ifreq ifr = {0};
	struct aw_mac macs[AW_MAX_MACS];
	size_t nmacs = 0;
	long duration = 500;
	int64_t deadline, next_send;
	int fd;

	if (argc < 3 || argc > 4 || strlen(argv[1]) >= IFNAMSIZ ||
	    inet_pton(AF_INET, argv[2], &target) != 1) {
		fprintf(stderr, "usage: arpwho DEV IPV4-ADDR [DURATION_MS]\n");
		return 2;
	}
	if (argc == 4) {
		char *end;

		duration = strtol(argv[3], &end, 10);
		if (*end || end == argv[3] || duration <= 0 ||
		    duration > 600000) {
			fprintf(stderr, "arpwho: bad duration \"%s\"\n",
				argv[3]);
			return 2;
		}
	}
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (fd < 0) {
		fprintf(stderr, "arpwho: packet socket: %s\n", strerror(errno));
		return 2;
	}
	strcpy(ifr.ifr_name, argv[1]);
	ll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (ll.sll_ifindex == 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "arpwho: interface %s: %s\n", argv[1],
			strerror(errno));
		close(fd);
		return 2;
	}
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		fprintf(stderr, "arpwho: bind to %s: %s\n", argv[1],
			strerror(errno));
		close(fd);
		return 2;
	}
	self = aw_dev_addr(argv[1]);
	req.arp_hrd = htons(ARPHRD_ETHER);
	req.arp_pro = htons(ETH_P_IP);
	req.arp_hln = ETH_ALEN;
	req.arp_pln = 4;
	req.arp_op = htons(ARPOP_REQUEST);
	memcpy(req.arp_sha, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(req.arp_spa, &self, 4);
	memcpy(req.arp_tpa, &target, 4);
	memset(ll.sll_addr, 0xff, ETH_ALEN);

	deadline = aw_now_ms() + duration;
	next_send = aw_now_ms();
	for (;;) {
		int64_t now = aw_now_ms(), wait;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (now >= deadline)
			break;
		if (now >= next_send) {
			/* A failed send (link down) is an answer too: no
			 * host hears us; keep trying until the deadline. */
			sendto(fd, &req, sizeof(req), 0,
			       (struct sockaddr *)&ll, sizeof(ll));
			next_send = now + AW_EVERY_MS;
		}
		wait = (next_send < deadline ? next_send : deadline) - now;
		if (poll(&pfd, 1, (int)wait) <= 0)
			continue;
		for (;;) {
			struct ether_arp rep;
			ssize_t n = recv(fd, &rep, sizeof(rep), MSG_DONTWAIT);

			if (n < 0)
				break;
			if ((size_t)n < sizeof(rep) ||
			    ntohs(rep.arp_op) != ARPOP_REPLY ||
			    memcmp(rep.arp_spa, &target, 4) != 0)
				continue;
			aw_count(macs, &nmacs, rep.arp_sha);
		}
	}
	close(fd);
	for (size_t i = 0; i < nmacs; i++) {
		const uint8_t *m = macs[i].mac;

		printf("%02x:%02x:%02x:%02x:%02x:%02x %u\n", m[0], m[1], m[2],
		       m[3], m[4], m[5], macs[i].replies);
	}
	return nmacs ? 0 : 1;
}
