/*
 * Heartbeats over UDP (layout and rules in hb.h).
 *
 * In messages, links are numbered from 1 in the order of <link> elements
 * ("link 2" is the second); in the packet and in hb_stats they count from
 * 0.
 */
#include "hb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define HB_MAGIC   "CMHB"
#define HB_MAC_OFF (HB_PACKET_LEN - HB_MAC_LEN)

/* DSCP CS6 (network control), as VRRP and routing protocols use, so that
 * heartbeats go first through a congested queue. */
#define HB_TOS 0xc0
/* TC_PRIO_INTERACTIVE: the highest priority that needs no privilege. */
#define HB_SO_PRIORITY 6

/* A burst of junk must not keep the loop in one callback forever. */
#define HB_RECV_BURST 64
/* A per-link sequence gap this big is not loss: the peer restarted or the
 * link was down for minutes; counting it would swamp the counter. */
#define HB_LOSS_MAX_GAP 1000
/* At most one line per cause this often. */
#define HB_LOG_INTERVAL_MS 10000

enum hb_cause {
	HB_C_MALFORMED,
	HB_C_BAD_MAC,
	HB_C_WRONG_SENDER,
	HB_C_REPLAYED,
	HB_C_STALE,
	HB_C_SEND,
	HB_C_RECV,
	HB_N_CAUSES
};

static const char *const hb_cause_text[HB_N_CAUSES] = {
	[HB_C_MALFORMED] = "malformed",
	[HB_C_BAD_MAC] = "bad-MAC",
	[HB_C_WRONG_SENDER] = "wrong-sender",
	[HB_C_REPLAYED] = "replayed",
	[HB_C_STALE] = "stale",
};

/* Rate limit of one cause's log lines. */
struct hb_ratelog {
	uint64_t last_ms; /* 0: never logged */
	uint64_t pending; /* events since the last line */
};

struct hb;

struct hb_link {
	struct hb *hb;
	unsigned idx;
	int fd;
	struct event *ev;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint64_t link_seq; /* last sent on this link */

	/* The peer's per-link numbering, for loss counting. */
	bool rx_known;
	uint64_t rx_link_seq; /* highest seen */
	uint64_t rx_seq;      /* the global seq that came with it */

	struct hb_link_stats st;
};

struct hb {
	uint8_t key[HB_KEY_MAX];
	size_t keylen;
	char cluster[HB_ID_LEN];
	char self[HB_ID_LEN];
	char peer[HB_ID_LEN];
	uint64_t deadtime_ms;
	uint64_t seq; /* next to send */
	struct hb_window win;
	hb_recv_fn cb;
	void *arg;
	struct hb_link links[CONF_MAX_LINKS];
	size_t n_links;
	struct hb_ratelog rl[HB_N_CAUSES];
	unsigned busy; /* in a read callback: hb_close must wait */
	bool closing;
};

/* ---- codec ------------------------------------------------------------ */

static void hb_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t hb_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The full MAC of the covered bytes; false if OpenSSL failed. */
static bool hb_mac(const uint8_t *buf, const uint8_t *key, size_t keylen,
		   uint8_t mac[EVP_MAX_MD_SIZE])
{
	unsigned int n = 0;

	if (keylen > HB_KEY_MAX)
		return false;
	return HMAC(EVP_sha256(), key, (int)keylen, buf, HB_MAC_OFF, mac, &n) !=
		       NULL &&
	       n >= HB_MAC_LEN;
}

/* Copies an id into its 32-byte field, NUL padded; the last byte stays NUL
 * even if the id is too long (hb_open refuses such ids anyway). */
static void hb_put_id(uint8_t *p, const char *id)
{
	size_t n = strnlen(id, HB_ID_LEN - 1);

	memset(p, 0, HB_ID_LEN);
	memcpy(p, id, n);
}

void hb_encode(const struct hb_msg *m, const uint8_t *key, size_t keylen,
	       uint8_t out[HB_PACKET_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];

	memcpy(out, HB_MAGIC, 4);
	out[4] = HB_VERSION;
	out[5] = m->link;
	out[6] = m->role;
	out[7] = m->flags;
	hb_put_id(out + 8, m->cluster);
	hb_put_id(out + 40, m->sender);
	hb_put64(out + 72, m->epoch);
	hb_put64(out + 80, m->seq);
	hb_put64(out + 88, m->link_seq);
	hb_put64(out + 96, m->generation);
	/* On an OpenSSL failure the packet goes out with a zero MAC, which
	 * the peer drops and counts: better than not sending at all. */
	if (!hb_mac(out, key, keylen, mac))
		memset(mac, 0, sizeof(mac));
	memcpy(out + HB_MAC_OFF, mac, HB_MAC_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
}

int hb_decode(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
	      struct hb_msg *out)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	int rc;

	if (len != HB_PACKET_LEN || memcmp(buf, HB_MAGIC, 4) != 0)
		return -EBADMSG;
	if (buf[4] != HB_VERSION)
		return -EPROTONOSUPPORT;
	if (!memchr(buf + 8, 0, HB_ID_LEN) || !memchr(buf + 40, 0, HB_ID_LEN))
		return -EBADMSG;
	if (!hb_mac(buf, key, keylen, mac) ||
	    CRYPTO_memcmp(mac, buf + HB_MAC_OFF, HB_MAC_LEN) != 0) {
		rc = -EPERM;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->link = buf[5];
	out->role = buf[6];
	out->flags = buf[7];
	memcpy(out->cluster, buf + 8, HB_ID_LEN);
	memcpy(out->sender, buf + 40, HB_ID_LEN);
	out->epoch = hb_get64(buf + 72);
	out->seq = hb_get64(buf + 80);
	out->link_seq = hb_get64(buf + 88);
	out->generation = hb_get64(buf + 96);
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* ---- replay window ---------------------------------------------------- */

int hb_window_accept(struct hb_window *w, uint64_t seq)
{
	uint64_t diff;

	/* 0 is never sent (numbers start at the clock) and means "nothing
	 * yet" in top. */
	if (seq == 0)
		return -ESTALE;
	if (w->top == 0 || seq > w->top) {
		diff = w->top == 0 ? 64 : seq - w->top;
		w->bitmap = diff >= 64 ? 1 : w->bitmap << diff | 1;
		w->top = seq;
		return 0;
	}
	diff = w->top - seq;
	if (diff >= 64)
		return -ESTALE;
	if (w->bitmap & (UINT64_C(1) << diff))
		return -EALREADY;
	w->bitmap |= UINT64_C(1) << diff;
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static void hb_errf(char *err, size_t errlen, const char *fmt, ...)
	LOG_PRINTF(3, 4);

static void hb_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void hb_fmt_endpoint(const struct conf_endpoint *e, char *buf, size_t n)
{
	if (strchr(e->address, ':'))
		snprintf(buf, n, "[%s]:%u", e->address, (unsigned)e->port);
	else
		snprintf(buf, n, "%s:%u", e->address, (unsigned)e->port);
}

static void hb_fmt_sockaddr(const struct sockaddr_storage *ss, char *buf,
			    size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		snprintf(buf, n, "%s:%u", host, (unsigned)ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(buf, n, "[%s]:%u", host,
			 (unsigned)ntohs(s->sin6_port));
	} else {
		snprintf(buf, n, "(family %d)", (int)ss->ss_family);
	}
}

/* A numeric address (no name lookup: this may run on the loop). */
static int hb_resolve(const struct conf_endpoint *e,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];

	if (!e->address)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", (unsigned)e->port);
	if (getaddrinfo(e->address, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/*
 * Counts one event of a cause and logs it unless a line for the cause went
 * out less than HB_LOG_INTERVAL_MS ago; the next line carries the count of
 * those held back.
 */
static void hb_ratelog(struct hb *hb, enum hb_cause c, const char *fmt, ...)
	LOG_PRINTF(3, 4);

static void hb_ratelog(struct hb *hb, enum hb_cause c, const char *fmt, ...)
{
	struct hb_ratelog *rl = &hb->rl[c];
	uint64_t now = loop_now_ms();
	char line[512];
	va_list ap;

	rl->pending++;
	if (rl->last_ms && now - rl->last_ms < HB_LOG_INTERVAL_MS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warnx("heartbeat: %s", line);
	rl->last_ms = now ? now : 1;
	rl->pending = 0;
}

static void hb_drop(struct hb_link *l, enum hb_cause c, uint64_t *counter,
		    const struct sockaddr_storage *from, const char *why)
{
	struct hb *hb = l->hb;
	char src[80];

	(*counter)++;
	hb_fmt_sockaddr(from, src, sizeof(src));
	hb_ratelog(hb, c,
		   "link %u (%s): dropped %" PRIu64
		   " %s packet(s) since the last report; the last from %s: %s",
		   l->idx + 1, l->st.local, hb->rl[c].pending + 1,
		   hb_cause_text[c], src, why);
}

/* ---- receive ---------------------------------------------------------- */

/* Loss from the peer's per-link numbers.  `seq` (the global number, which
 * survives a restart) tells a late packet from a restarted peer. */
static void hb_count_loss(struct hb_link *l, uint64_t link_seq, uint64_t seq)
{
	if (!l->rx_known) {
		l->rx_known = true;
	} else if (link_seq > l->rx_link_seq) {
		uint64_t gap = link_seq - l->rx_link_seq - 1;
		if (gap < HB_LOSS_MAX_GAP)
			l->st.lost += gap;
	} else if (seq < l->rx_seq) {
		/* Reordered: it was counted lost when its successor came. */
		if (link_seq < l->rx_link_seq &&
		    l->rx_link_seq - link_seq < HB_LOSS_MAX_GAP &&
		    l->st.lost > 0)
			l->st.lost--;
		return;
	}
	/* Forward, or the link counter went back while the global one went
	 * on: the peer restarted and numbers this link from 1 again. */
	l->rx_link_seq = link_seq;
	l->rx_seq = seq;
}

/* An id from a packet, fit for a log line (only a key holder can get one
 * this far, but a newline in it must not forge lines). */
static const char *hb_printable(const char *id, char buf[HB_ID_LEN])
{
	size_t i;

	for (i = 0; i < HB_ID_LEN - 1 && id[i]; i++)
		buf[i] = id[i] >= 0x20 && id[i] < 0x7f ? id[i] : '?';
	buf[i] = 0;
	return buf;
}

static void hb_input(struct hb_link *l, const uint8_t *buf, size_t len,
		     const struct sockaddr_storage *from)
{
	struct hb *hb = l->hb;
	struct hb_msg m;
	char why[128], id[HB_ID_LEN];
	int rc;

	rc = hb_decode(buf, len, hb->key, hb->keylen, &m);
	if (rc == -EPERM) {
		hb_drop(l, HB_C_BAD_MAC, &l->st.bad_mac, from,
			"MAC does not match (another key?)");
		return;
	}
	if (rc == -EPROTONOSUPPORT) {
		snprintf(why, sizeof(why), "version %u, not %u", buf[4],
			 HB_VERSION);
		hb_drop(l, HB_C_MALFORMED, &l->st.malformed, from, why);
		return;
	}
	if (rc < 0) {
		if (len != HB_PACKET_LEN)
			snprintf(why, sizeof(why), "%zu bytes, not %d", len,
				 HB_PACKET_LEN);
		else if (memcmp(buf, HB_MAGIC, 4) != 0)
			snprintf(why, sizeof(why), "bad magic");
		else
			snprintf(why, sizeof(why), "id not NUL-terminated");
		hb_drop(l, HB_C_MALFORMED, &l->st.malformed, from, why);
		return;
	}
	if (strcmp(m.cluster, hb->cluster) != 0) {
		snprintf(why, sizeof(why), "cluster \"%s\", not \"%s\"",
			 hb_printable(m.cluster, id), hb->cluster);
		hb_drop(l, HB_C_WRONG_SENDER, &l->st.wrong_sender, from, why);
		return;
	}
	if (strcmp(m.sender, hb->peer) != 0) {
		snprintf(why, sizeof(why), "sender \"%s\", not \"%s\"",
			 hb_printable(m.sender, id), hb->peer);
		hb_drop(l, HB_C_WRONG_SENDER, &l->st.wrong_sender, from, why);
		return;
	}
	if (m.link != l->idx) {
		snprintf(why, sizeof(why),
			 "sent on the peer's link %u (links crossed in "
			 "config?)",
			 m.link + 1u);
		hb_drop(l, HB_C_MALFORMED, &l->st.malformed, from, why);
		return;
	}
	rc = hb_window_accept(&hb->win, m.seq);
	if (rc == -EALREADY) {
		snprintf(why, sizeof(why), "seq %" PRIu64 " seen before",
			 m.seq);
		hb_drop(l, HB_C_REPLAYED, &l->st.replayed, from, why);
		return;
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "seq %" PRIu64 ", newest %" PRIu64,
			 m.seq, hb->win.top);
		hb_drop(l, HB_C_STALE, &l->st.stale, from, why);
		return;
	}
	hb_count_loss(l, m.link_seq, m.seq);
	l->st.received++;
	l->st.last_rx_ms = loop_now_ms();
	if (hb->cb)
		hb->cb(&m, hb->arg);
}

static void hb_free(struct hb *hb);

static void hb_read(evutil_socket_t fd, short what, void *arg)
{
	struct hb_link *l = arg;
	struct hb *hb = l->hb;
	/* One byte more than a heartbeat, and MSG_TRUNC, so that a longer
	 * datagram shows its real length instead of passing as 120. */
	uint8_t buf[HB_PACKET_LEN + 1];
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t n;

	(void)what;
	hb->busy++;
	for (int i = 0; i < HB_RECV_BURST && !hb->closing; i++) {
		fromlen = sizeof(from);
		memset(&from, 0, sizeof(from));
		n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				hb_ratelog(hb, HB_C_RECV,
					   "link %u (%s): receive: %s",
					   l->idx + 1, l->st.local,
					   strerror(errno));
			break;
		}
		hb_input(l, buf, (size_t)n, &from);
	}
	hb->busy--;
	if (hb->closing && hb->busy == 0)
		hb_free(hb);
}

/* ---- send ------------------------------------------------------------- */

void hb_send(struct hb *hb, const struct hb_msg *m)
{
	uint8_t pkt[HB_PACKET_LEN];
	struct hb_msg out;

	if (!hb || hb->closing)
		return;
	out = *m;
	memcpy(out.cluster, hb->cluster, sizeof(out.cluster));
	memcpy(out.sender, hb->self, sizeof(out.sender));
	for (size_t i = 0; i < hb->n_links; i++) {
		struct hb_link *l = &hb->links[i];

		out.link = (uint8_t)i;
		out.seq = hb->seq++;
		out.link_seq = ++l->link_seq;
		hb_encode(&out, hb->key, hb->keylen, pkt);
		if (sendto(l->fd, pkt, sizeof(pkt), MSG_DONTWAIT,
			   (struct sockaddr *)&l->peer, l->peer_len) < 0) {
			/* A link that is down (ENETUNREACH, EHOSTUNREACH,
			 * EPERM from a firewall) is what the counters are
			 * for; the other links carry on. */
			l->st.send_errors++;
			hb_ratelog(hb, HB_C_SEND,
				   "link %zu (%s): %" PRIu64
				   " send failure(s) since the last report; "
				   "the last to %s: %s",
				   i + 1, l->st.local,
				   hb->rl[HB_C_SEND].pending + 1, l->st.remote,
				   strerror(errno));
			continue;
		}
		l->st.sent++;
	}
	OPENSSL_cleanse(pkt, sizeof(pkt));
}

/* ---- open / close ----------------------------------------------------- */

static void hb_free(struct hb *hb)
{
	for (size_t i = 0; i < hb->n_links; i++) {
		if (hb->links[i].ev)
			event_free(hb->links[i].ev);
		if (hb->links[i].fd >= 0)
			close(hb->links[i].fd);
	}
	OPENSSL_cleanse(hb->key, sizeof(hb->key));
	free(hb);
}

void hb_close(struct hb *hb)
{
	if (!hb)
		return;
	if (hb->busy) {
		/* Called from the receive callback: the read loop frees it
		 * when it unwinds; stop further events now. */
		for (size_t i = 0; i < hb->n_links; i++)
			if (hb->links[i].ev)
				event_del(hb->links[i].ev);
		hb->closing = true;
		return;
	}
	hb_free(hb);
}

static int hb_check_id(const char *what, const char *id, char *err,
		       size_t errlen)
{
	if (!id || !*id) {
		hb_errf(err, errlen, "heartbeat: %s is not set", what);
		return -EINVAL;
	}
	if (strlen(id) >= HB_ID_LEN) {
		hb_errf(err, errlen,
			"heartbeat: %s \"%s\" is %zu bytes; heartbeats carry "
			"at most %d",
			what, id, strlen(id), HB_ID_LEN - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

static void hb_sockopts(int fd, int family)
{
	int tos = HB_TOS, prio = HB_SO_PRIORITY, on = 1;

	/* Best effort: a heartbeat without the DSCP mark still works. */
	if (family == AF_INET) {
		(void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	} else {
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos,
				 sizeof(tos));
		/* Bound to "::" the socket must not take the IPv4 port
		 * too. */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
				 sizeof(on));
	}
	/* After IP_TOS, which resets the priority from the TOS bits. */
	(void)setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
}

static int hb_open_link(struct hb_link *l, const struct conf_endpoint *local,
			const struct conf_endpoint *remote, char *err,
			size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int rc;

	hb_fmt_endpoint(local, l->st.local, sizeof(l->st.local));
	hb_fmt_endpoint(remote, l->st.remote, sizeof(l->st.remote));
	if (hb_resolve(local, &ss, &sslen) < 0) {
		hb_errf(err, errlen,
			"link %u (%s): \"%s\" is not an IPv4 or IPv6 address",
			l->idx + 1, l->st.local, local->address);
		return -EINVAL;
	}
	if (hb_resolve(remote, &l->peer, &l->peer_len) < 0) {
		hb_errf(err, errlen,
			"link %u (%s): peer \"%s\" is not an IPv4 or IPv6 "
			"address",
			l->idx + 1, l->st.local, remote->address);
		return -EINVAL;
	}
	if (ss.ss_family != l->peer.ss_family) {
		hb_errf(err, errlen,
			"link %u (%s): the peer's link %u (%s) is of another "
			"address family",
			l->idx + 1, l->st.local, l->idx + 1, l->st.remote);
		return -EAFNOSUPPORT;
	}
	l->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (l->fd < 0) {
		rc = -errno;
		hb_errf(err, errlen, "link %u (%s): cannot open a socket: %s",
			l->idx + 1, l->st.local, strerror(-rc));
		return rc;
	}
	hb_sockopts(l->fd, ss.ss_family);
	/* No SO_REUSEADDR: a second agent on the same port must fail here,
	 * not share (and steal half of) the heartbeats. */
	if (bind(l->fd, (struct sockaddr *)&ss, sslen) < 0) {
		rc = -errno;
		hb_errf(err, errlen, "link %u (%s): cannot bind: %s",
			l->idx + 1, l->st.local, strerror(-rc));
		return rc;
	}
	l->ev = event_new(loop_base(), l->fd, EV_READ | EV_PERSIST, hb_read, l);
	if (!l->ev || event_add(l->ev, NULL) < 0) {
		hb_errf(err, errlen, "link %u (%s): cannot watch the socket",
			l->idx + 1, l->st.local);
		return -ENOMEM;
	}
	return 0;
}

int hb_open(const struct conf *conf, const uint8_t *key, size_t keylen,
	    hb_recv_fn cb, void *arg, struct hb **out, char *err, size_t errlen)
{
	const struct conf_node *me = NULL, *peer = NULL;
	struct hb *hb = NULL;
	struct timespec ts;
	int rc;

	*out = NULL;
	if (!loop_base()) {
		hb_errf(err, errlen, "heartbeat: the event loop is not set up");
		return -EINVAL;
	}
	if (conf->mode != CONF_MODE_NODE || conf->n_nodes != 2) {
		hb_errf(err, errlen,
			"heartbeat: needs node mode and two nodes");
		return -EINVAL;
	}
	if (!key || keylen < HB_KEY_MIN || keylen > HB_KEY_MAX) {
		hb_errf(err, errlen,
			"heartbeat: the cluster key must have %d to %d bytes",
			HB_KEY_MIN, HB_KEY_MAX);
		return -EINVAL;
	}
	if ((rc = hb_check_id("cluster id", conf->cluster_id, err, errlen)) <
		    0 ||
	    (rc = hb_check_id("node id", conf->nodes[0].id, err, errlen)) < 0 ||
	    (rc = hb_check_id("node id", conf->nodes[1].id, err, errlen)) < 0)
		return rc;
	for (size_t i = 0; i < 2; i++) {
		if (conf->local_node &&
		    strcmp(conf->nodes[i].id, conf->local_node) == 0) {
			me = &conf->nodes[i];
			peer = &conf->nodes[1 - i];
		}
	}
	if (strcmp(conf->nodes[0].id, conf->nodes[1].id) == 0) {
		/* We would take our own heartbeats, reflected, for the
		 * peer's. */
		hb_errf(err, errlen, "heartbeat: both nodes are named \"%s\"",
			conf->nodes[0].id);
		return -EINVAL;
	}
	if (!me) {
		hb_errf(err, errlen,
			"heartbeat: this node (\"%s\") is not a node of "
			"cluster \"%s\"",
			conf->local_node ? conf->local_node : "",
			conf->cluster_id);
		return -EINVAL;
	}
	if (me->n_links != peer->n_links || me->n_links == 0 ||
	    me->n_links > CONF_MAX_LINKS) {
		hb_errf(err, errlen,
			"heartbeat: node %s has %zu link(s) and node %s has "
			"%zu; link i of one talks to link i of the other, so "
			"both need the same number",
			me->id, me->n_links, peer->id, peer->n_links);
		return -EINVAL;
	}

	hb = calloc(1, sizeof(*hb));
	if (!hb) {
		hb_errf(err, errlen, "heartbeat: out of memory");
		return -ENOMEM;
	}
	memcpy(hb->key, key, keylen);
	hb->keylen = keylen;
	snprintf(hb->cluster, sizeof(hb->cluster), "%s", conf->cluster_id);
	snprintf(hb->self, sizeof(hb->self), "%s", me->id);
	snprintf(hb->peer, sizeof(hb->peer), "%s", peer->id);
	hb->deadtime_ms = conf->deadtime_ms;
	hb->cb = cb;
	hb->arg = arg;
	/* Above every number an earlier run of this node sent, as long as
	 * it sent fewer than one per microsecond and the clock did not go
	 * back (hb_peer_reset covers that case). */
	clock_gettime(CLOCK_REALTIME, &ts);
	hb->seq = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (hb->seq == 0)
		hb->seq = 1;
	hb->n_links = me->n_links;
	for (size_t i = 0; i < hb->n_links; i++) {
		hb->links[i].fd = -1;
		hb->links[i].hb = hb;
		hb->links[i].idx = (unsigned)i;
	}
	for (size_t i = 0; i < hb->n_links; i++) {
		rc = hb_open_link(&hb->links[i], &me->links[i], &peer->links[i],
				  err, errlen);
		if (rc < 0)
			goto out;
	}
	*out = hb;
	hb = NULL;
	rc = 0;
out:
	if (hb)
		hb_free(hb);
	return rc;
}

void hb_peer_reset(struct hb *hb, uint64_t seq_floor)
{
	/* Every number up to the floor counts as seen. */
	hb->win.top = seq_floor;
	hb->win.bitmap = ~UINT64_C(0);
	for (size_t i = 0; i < hb->n_links; i++)
		hb->links[i].rx_known = false;
}

size_t hb_stats(const struct hb *hb, struct hb_link_stats *out, size_t n)
{
	uint64_t now = loop_now_ms();

	for (size_t i = 0; i < hb->n_links && i < n; i++) {
		out[i] = hb->links[i].st;
		out[i].up = out[i].last_rx_ms != 0 &&
			    now - out[i].last_rx_ms <= hb->deadtime_ms;
	}
	return hb->n_links;
}

/* ---- key file --------------------------------------------------------- */

int hb_key_load(const char *path, uint8_t *key, size_t *keylen, char *err,
		size_t errlen)
{
	uint8_t buf[HB_KEY_MAX + 1];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	*keylen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		hb_errf(err, errlen, "%s: cannot open the cluster key: %s",
			path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		hb_errf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		hb_errf(err, errlen,
			"%s: the cluster key must be a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	/* Group or other access to the key lets them forge heartbeats (or
	 * replace the key). */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		hb_errf(err, errlen,
			"%s: mode %04o lets group or other at the cluster key; "
			"run chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		rc = -EACCES;
		goto out;
	}
	while (n < sizeof(buf)) {
		r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			hb_errf(err, errlen, "%s: cannot read: %s", path,
				strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n < HB_KEY_MIN) {
		hb_errf(err, errlen,
			"%s: the cluster key has %zu bytes; it needs at least "
			"%d",
			path, n, HB_KEY_MIN);
		rc = -EINVAL;
		goto out;
	}
	if (n > HB_KEY_MAX) {
		hb_errf(err, errlen,
			"%s: the cluster key is longer than %d bytes", path,
			HB_KEY_MAX);
		rc = -EFBIG;
		goto out;
	}
	memcpy(key, buf, n);
	*keylen = n;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}
