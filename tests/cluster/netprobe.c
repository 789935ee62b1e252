/*
 * netprobe: does ADDR answer an ICMP echo from here?  The cluster tests use
 * it to prove that a fault really cut (or a heal really restored) a path
 * between namespaces; the machine has no ping binary.
 *
 *   netprobe ADDR [TIMEOUT_MS]
 *	Sends an echo request every 100 ms until ADDR (IPv4) answers or
 *	TIMEOUT_MS (default 1000) passes.  Exit 0 when it answered, 1 when
 *	not, 2 on a usage or socket error.  Needs CAP_NET_RAW (root).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t np_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint16_t np_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int np_send(int fd, const struct sockaddr_in *to, uint16_t id,
		   uint16_t seq)
{
	struct icmphdr h = {.type = ICMP_ECHO};

	h.un.echo.id = htons(id);
	h.un.echo.sequence = htons(seq);
	h.checksum = np_csum(&h, sizeof(h));
	if (sendto(fd, &h, sizeof(h), 0, (const struct sockaddr *)to,
		   sizeof(*to)) < 0)
		return -errno;
	return 0;
}

/* true when buf (an IPv4 packet from a raw socket) is our echo reply. */
static bool np_is_reply(const uint8_t *buf, size_t len, uint16_t id)
{
	const struct iphdr *ip = (const struct iphdr *)buf;
	const struct icmphdr *h;
	size_t hl;

	if (len < sizeof(*ip))
		return false;
	hl = (size_t)ip->ihl * 4;
	if (hl < sizeof(*ip) || len < hl + sizeof(*h))
		return false;
	h = (const struct icmphdr *)(buf + hl);
	return h->type == ICMP_ECHOREPLY && ntohs(h->un.echo.id) == id;
}

int main(int argc, char **argv)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	long timeout = 1000;
	int64_t deadline, next_send;
	uint16_t id = (uint16_t)getpid(), seq = 0;
	int fd, rc = 1;

	if (argc < 2 || argc > 3 ||
	    inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "usage: netprobe IPV4-ADDR [TIMEOUT_MS]\n");
		return 2;
	}
	if (argc == 3) {
		char *end;

		timeout = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || timeout <= 0 ||
		    timeout > 600000) {
			fprintf(stderr, "netprobe: bad timeout \"%s\"\n",
				argv[2]);
			return 2;
		}
	}
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0) {
		fprintf(stderr, "netprobe: raw socket: %s\n", strerror(errno));
		return 2;
	}
	deadline = np_now_ms() + timeout;
	next_send = np_now_ms();
	for (;;) {
		int64_t now = np_now_ms(), wait;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (now >= deadline)
			break;
		if (now >= next_send) {
			/* ENETUNREACH and friends: the path is down, which is
			 * an answer too; keep trying until the deadline. */
			np_send(fd, &to, id, seq++);
			next_send = now + 100;
		}
		wait = (next_send < deadline ? next_send : deadline) - now;
		if (poll(&pfd, 1, (int)wait) <= 0)
			continue;
		for (;;) {
			uint8_t buf[1500];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);

			if (n < 0)
				break;
			if (from.sin_addr.s_addr == to.sin_addr.s_addr &&
			    np_is_reply(buf, (size_t)n, id)) {
				rc = 0;
				goto out;
			}
		}
	}
out:
	close(fd);
	return rc;
}
