/* Heartbeats: the codec matches the documented layout and refuses every
 * kind of bad packet with its error; the replay window; the key file rules;
 * and over loopback, two instances exchange heartbeats on two links while
 * forged, broken, replayed and stale datagrams are each dropped into their
 * own counter without reaching the callback. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "hb.h"
#include "log.h"
#include "loop.h"
#include "testutil.h"

/* Printable, so that a test can look for it in messages. */
static const uint8_t key[] = "KEYBYTES-0123456789abcdefghijklmnopqrstuvwxyz";
#define KEYLEN (sizeof(key) - 1)
static const uint8_t other_key[] = "another-key-0123456789abcdefghijklmnopqrst";
#define OTHER_KEYLEN (sizeof(other_key) - 1)

static struct hb_msg sample(void)
{
	struct hb_msg m = {
		.link = 3,
		.role = 3,
		.flags = 0x1d,
		.epoch = 0x0102030405060708ull,
		.seq = 0x1112131415161718ull,
		.link_seq = 0x2122232425262728ull,
		.generation = 0x3132333435363738ull,
	};
	snprintf(m.cluster, sizeof(m.cluster), "vms");
	snprintf(m.sender, sizeof(m.sender), "node2");
	return m;
}

/* The MAC as the header defines it, computed here independently. */
static void mac_of(const uint8_t *pkt, const uint8_t *k, size_t klen,
		   uint8_t mac[32])
{
	unsigned int n = 0;

	ck_assert_ptr_nonnull(
		HMAC(EVP_sha256(), k, (int)klen, pkt, 104, mac, &n));
	ck_assert_uint_eq(n, 32);
}

/* ---- codec ------------------------------------------------------------ */

START_TEST(codec_layout)
{
	struct hb_msg m = sample(), d;
	uint8_t p[HB_PACKET_LEN], mac[32];
	static const uint8_t be[] = {1, 2, 3, 4, 5, 6, 7, 8};

	hb_encode(&m, key, KEYLEN, p);
	ck_assert_mem_eq(p, "CMHB", 4);
	ck_assert_uint_eq(p[4], HB_VERSION);
	ck_assert_uint_eq(p[5], 3);
	ck_assert_uint_eq(p[6], 3);
	ck_assert_uint_eq(p[7], 0x1d);
	ck_assert_mem_eq(p + 8, "vms\0\0\0\0\0", 8);
	for (int i = 3; i < 32; i++)
		ck_assert_uint_eq(p[8 + i], 0);
	ck_assert_mem_eq(p + 40, "node2\0\0", 7);
	for (int i = 5; i < 32; i++)
		ck_assert_uint_eq(p[40 + i], 0);
	ck_assert_mem_eq(p + 72, be, 8);
	for (int f = 0; f < 3; f++)
		for (int i = 0; i < 8; i++)
			ck_assert_uint_eq(p[80 + 8 * f + i],
					  0x11 + 0x10 * f + i);
	mac_of(p, key, KEYLEN, mac);
	ck_assert_mem_eq(p + 104, mac, HB_MAC_LEN);

	ck_assert_int_eq(hb_decode(p, sizeof(p), key, KEYLEN, &d), 0);
	ck_assert_uint_eq(d.link, m.link);
	ck_assert_uint_eq(d.role, m.role);
	ck_assert_uint_eq(d.flags, m.flags);
	ck_assert_str_eq(d.cluster, "vms");
	ck_assert_str_eq(d.sender, "node2");
	ck_assert_uint_eq(d.epoch, m.epoch);
	ck_assert_uint_eq(d.seq, m.seq);
	ck_assert_uint_eq(d.link_seq, m.link_seq);
	ck_assert_uint_eq(d.generation, m.generation);
}
END_TEST

/* Extremes round-trip: 31-byte ids, all-ones numbers, zeros. */
START_TEST(codec_extremes)
{
	struct hb_msg m, d;
	uint8_t p[HB_PACKET_LEN];

	memset(&m, 0, sizeof(m));
	memset(m.cluster, 'c', HB_ID_LEN - 1);
	memset(m.sender, 's', HB_ID_LEN - 1);
	m.link = m.role = m.flags = 0xff;
	m.epoch = m.seq = m.link_seq = m.generation = UINT64_MAX;
	hb_encode(&m, key, KEYLEN, p);
	ck_assert_int_eq(hb_decode(p, sizeof(p), key, KEYLEN, &d), 0);
	ck_assert_mem_eq(&d, &m, sizeof(m));

	memset(&m, 0, sizeof(m));
	hb_encode(&m, key, KEYLEN, p);
	ck_assert_int_eq(hb_decode(p, sizeof(p), key, KEYLEN, &d), 0);
	ck_assert_mem_eq(&d, &m, sizeof(m));
}
END_TEST

/* Every byte is covered: a flipped bit anywhere is refused, with the
 * error of the first check it fails. */
START_TEST(codec_every_byte)
{
	struct hb_msg m = sample(), d;
	uint8_t p[HB_PACKET_LEN], q[HB_PACKET_LEN];

	hb_encode(&m, key, KEYLEN, p);
	for (int i = 0; i < HB_PACKET_LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int want = i < 4    ? -EBADMSG
				   : i == 4 ? -EPROTONOSUPPORT
					    : -EPERM;
			memcpy(q, p, sizeof(q));
			q[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(hb_decode(q, sizeof(q), key, KEYLEN,
						&d) == want,
				      "byte %d bit %d", i, bit);
		}
	}
}
END_TEST

START_TEST(codec_wrong_key)
{
	struct hb_msg m = sample(), d;
	uint8_t p[HB_PACKET_LEN];

	hb_encode(&m, key, KEYLEN, p);
	ck_assert_int_eq(hb_decode(p, sizeof(p), other_key, OTHER_KEYLEN, &d),
			 -EPERM);
	/* A prefix of the right key is another key. */
	ck_assert_int_eq(hb_decode(p, sizeof(p), key, KEYLEN - 1, &d), -EPERM);
	ck_assert_int_eq(hb_decode(p, sizeof(p), key, KEYLEN, &d), 0);
}
END_TEST

START_TEST(codec_bad_packets)
{
	struct hb_msg m = sample(), d;
	uint8_t p[HB_PACKET_LEN + 1], q[HB_PACKET_LEN + 1], mac[32];

	hb_encode(&m, key, KEYLEN, p);
	p[HB_PACKET_LEN] = 0;
	ck_assert_int_eq(hb_decode(p, 0, key, KEYLEN, &d), -EBADMSG);
	ck_assert_int_eq(hb_decode(p, 3, key, KEYLEN, &d), -EBADMSG);
	ck_assert_int_eq(hb_decode(p, HB_PACKET_LEN - 1, key, KEYLEN, &d),
			 -EBADMSG);
	ck_assert_int_eq(hb_decode(p, HB_PACKET_LEN + 1, key, KEYLEN, &d),
			 -EBADMSG);

	memcpy(q, p, sizeof(q));
	memcpy(q, "CMHX", 4);
	ck_assert_int_eq(hb_decode(q, HB_PACKET_LEN, key, KEYLEN, &d),
			 -EBADMSG);

	/* Other versions, even with a correct MAC. */
	for (int v = 0; v < 256; v += 2) {
		if (v == HB_VERSION)
			continue;
		memcpy(q, p, sizeof(q));
		q[4] = (uint8_t)v;
		mac_of(q, key, KEYLEN, mac);
		memcpy(q + 104, mac, HB_MAC_LEN);
		ck_assert_int_eq(hb_decode(q, HB_PACKET_LEN, key, KEYLEN, &d),
				 -EPROTONOSUPPORT);
	}

	/* Ids without a NUL, correctly MACed: refused before the MAC. */
	memcpy(q, p, sizeof(q));
	memset(q + 8, 'A', HB_ID_LEN);
	mac_of(q, key, KEYLEN, mac);
	memcpy(q + 104, mac, HB_MAC_LEN);
	ck_assert_int_eq(hb_decode(q, HB_PACKET_LEN, key, KEYLEN, &d),
			 -EBADMSG);
	memcpy(q, p, sizeof(q));
	memset(q + 40, 'B', HB_ID_LEN);
	mac_of(q, key, KEYLEN, mac);
	memcpy(q + 104, mac, HB_MAC_LEN);
	ck_assert_int_eq(hb_decode(q, HB_PACKET_LEN, key, KEYLEN, &d),
			 -EBADMSG);
	/* 31 bytes and a NUL is fine. */
	memcpy(q, p, sizeof(q));
	memset(q + 40, 'B', HB_ID_LEN - 1);
	mac_of(q, key, KEYLEN, mac);
	memcpy(q + 104, mac, HB_MAC_LEN);
	ck_assert_int_eq(hb_decode(q, HB_PACKET_LEN, key, KEYLEN, &d), 0);
	ck_assert_uint_eq(strlen(d.sender), HB_ID_LEN - 1);
}
END_TEST

/* Random input of any length never crashes and gets a documented code. */
START_TEST(codec_random)
{
	uint8_t buf[HB_PACKET_LEN * 2];
	struct hb_msg d;
	int n_mac = 0;

	srandom(4242);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)random() % sizeof(buf);
		if (i % 2)
			len = HB_PACKET_LEN;
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)random();
		if (i % 4 == 1) { /* past magic, version and NUL checks */
			memcpy(buf, "CMHB\x01", 5);
			buf[39] = buf[71] = 0;
		}
		int rc = hb_decode(buf, len, key, KEYLEN, &d);
		ck_assert(rc == -EBADMSG || rc == -EPROTONOSUPPORT ||
			  rc == -EPERM);
		n_mac += rc == -EPERM;
	}
	ck_assert_int_eq(n_mac, 5000);
}
END_TEST

/* ---- window ----------------------------------------------------------- */

START_TEST(window_rules)
{
	struct hb_window w = {0};

	ck_assert_int_eq(hb_window_accept(&w, 0), -ESTALE);
	/* In order. */
	for (uint64_t s = 1000; s < 1100; s++)
		ck_assert_int_eq(hb_window_accept(&w, s), 0);
	ck_assert_uint_eq(w.top, 1099);
	/* Replays of recent ones. */
	ck_assert_int_eq(hb_window_accept(&w, 1099), -EALREADY);
	ck_assert_int_eq(hb_window_accept(&w, 1036), -EALREADY);
	/* 64 below the top is out of the window. */
	ck_assert_int_eq(hb_window_accept(&w, 1035), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, 1), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, 0), -ESTALE);

	/* Out of order within 64: holes are filled once. */
	ck_assert_int_eq(hb_window_accept(&w, 1110), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1105), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1100), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1105), -EALREADY);
	ck_assert_int_eq(hb_window_accept(&w, 1046), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, 1047), -EALREADY);
	/* 1101..1109 were never seen: each accepted once. */
	for (uint64_t s = 1101; s < 1110; s++) {
		if (s == 1105)
			continue;
		ck_assert_int_eq(hb_window_accept(&w, s), 0);
		ck_assert_int_eq(hb_window_accept(&w, s), -EALREADY);
	}
	ck_assert_uint_eq(w.top, 1110);

	/* Jump of 63: the old top is still in the window; 64: out. */
	ck_assert_int_eq(hb_window_accept(&w, 1173), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1110), -EALREADY);
	ck_assert_int_eq(hb_window_accept(&w, 1109), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, 1237), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1173), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, 1174), 0);

	/* Huge jumps (a restarted sender) are taken; what came before is
	 * stale. */
	ck_assert_int_eq(hb_window_accept(&w, UINT64_C(1) << 52), 0);
	ck_assert_int_eq(hb_window_accept(&w, 1238), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, (UINT64_C(1) << 52) - 1), 0);
	ck_assert_int_eq(hb_window_accept(&w, UINT64_MAX), 0);
	ck_assert_int_eq(hb_window_accept(&w, UINT64_MAX), -EALREADY);
	ck_assert_int_eq(hb_window_accept(&w, UINT64_MAX - 63), 0);
	ck_assert_int_eq(hb_window_accept(&w, UINT64_MAX - 64), -ESTALE);
	ck_assert_int_eq(hb_window_accept(&w, UINT64_C(1) << 52), -ESTALE);
}
END_TEST

/* ---- key file --------------------------------------------------------- */

static char *write_key(const char *dir, const char *name, size_t n, mode_t mode)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < n; i++)
		fputc(key[i % KEYLEN], f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(key_file)
{
	char *dir = tu_tmpdir(), *p, want[1024], err[512];
	uint8_t k[HB_KEY_MAX];
	size_t klen = 99;

	ck_assert_int_ge(snprintf(want, sizeof(want), "%s/none", dir), 0);
	ck_assert_int_eq(hb_key_load(want, k, &klen, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, want));
	ck_assert_uint_eq(klen, 0);

	p = write_key(dir, "short", HB_KEY_MIN - 1, 0600);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: the cluster key has 31 bytes; it needs at least 32", p);
	ck_assert_str_eq(err, want);
	free(p);

	p = write_key(dir, "long", HB_KEY_MAX + 1, 0600);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, p));
	free(p);

	p = write_key(dir, "open", 48, 0644);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "chmod 600 %s", p);
	ck_assert_ptr_nonnull(strstr(err, want));
	ck_assert_ptr_null(strstr(err, "KEYBYTES"));
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), -EACCES);
	ck_assert_int_eq(chmod(p, 0602), 0);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), -EACCES);
	free(p);

	ck_assert_int_eq(hb_key_load(dir, k, &klen, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "regular file"));

	p = write_key(dir, "good", 48, 0600);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), 0);
	ck_assert_uint_eq(klen, 48);
	ck_assert_mem_eq(k, key, 45);
	ck_assert_mem_eq(k + 45, key, 3);
	free(p);

	p = write_key(dir, "edge", HB_KEY_MAX, 0400);
	ck_assert_int_eq(hb_key_load(p, k, &klen, err, sizeof(err)), 0);
	ck_assert_uint_eq(klen, HB_KEY_MAX);
	free(p);

	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- over the wire ---------------------------------------------------- */

/* A configuration built by hand: nodes node1/node2, nlinks links each. */
struct tconf {
	struct conf c;
	char addr[2][CONF_MAX_LINKS][64];
};

static void tconf_init(struct tconf *t, const char *local, size_t nlinks,
		       const char *const addrs[], const uint16_t ports[2][4])
{
	memset(t, 0, sizeof(*t));
	t->c.mode = CONF_MODE_NODE;
	t->c.local_node = (char *)local;
	t->c.cluster_id = (char *)"vms";
	t->c.hb_interval_ms = 50;
	t->c.deadtime_ms = 300;
	t->c.n_nodes = 2;
	t->c.nodes[0].id = (char *)"node1";
	t->c.nodes[1].id = (char *)"node2";
	for (int n = 0; n < 2; n++) {
		t->c.nodes[n].n_links = nlinks;
		for (size_t i = 0; i < nlinks; i++) {
			snprintf(t->addr[n][i], sizeof(t->addr[n][i]), "%s",
				 addrs[i]);
			t->c.nodes[n].links[i].address = t->addr[n][i];
			t->c.nodes[n].links[i].port = ports[n][i];
		}
	}
}

static bool have_ipv6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* n free UDP ports on addr: all held until all are chosen, so they
 * differ. */
static void free_ports(const char *addr, uint16_t *out, int n)
{
	int fds[8];

	ck_assert_int_le(n, 8);
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage ss = {0};
		socklen_t len;

		if (strchr(addr, ':')) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			a->sin6_family = AF_INET6;
			inet_pton(AF_INET6, addr, &a->sin6_addr);
			len = sizeof(*a);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			a->sin_family = AF_INET;
			inet_pton(AF_INET, addr, &a->sin_addr);
			len = sizeof(*a);
		}
		fds[i] = socket(ss.ss_family, SOCK_DGRAM, 0);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(bind(fds[i], (struct sockaddr *)&ss, len), 0);
		ck_assert_int_eq(
			getsockname(fds[i], (struct sockaddr *)&ss, &len), 0);
		out[i] = ntohs(
			ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_port
				: ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* What a callback saw. */
struct rx {
	const char *want_sender;
	int n, per_link[CONF_MAX_LINKS], foreign;
	uint64_t max_seq;
	struct hb_msg last[CONF_MAX_LINKS];
	struct hb **close_me; /* hb_close from inside the callback */
};

static void rx_cb(const struct hb_msg *m, void *arg)
{
	struct rx *rx = arg;

	if (strcmp(m->sender, rx->want_sender) != 0 ||
	    strcmp(m->cluster, "vms") != 0 || m->link >= CONF_MAX_LINKS) {
		rx->foreign++;
		return;
	}
	rx->n++;
	rx->per_link[m->link]++;
	rx->last[m->link] = *m;
	if (m->seq > rx->max_seq)
		rx->max_seq = m->seq;
	if (rx->close_me && *rx->close_me) {
		hb_close(*rx->close_me);
		*rx->close_me = NULL;
	}
}

static void run_ms(unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(loop_base(), &tv);
	event_base_dispatch(loop_base());
}

static struct hb_msg payload(uint8_t role)
{
	struct hb_msg m = {
		.role = role, .flags = 0x03, .epoch = 7, .generation = 42};
	return m;
}

/* Both send, the loop runs: `rounds` times. */
static void pump(struct hb *a, struct hb *b, int rounds)
{
	struct hb_msg ma = payload(3), mb = payload(1);

	for (int i = 0; i < rounds; i++) {
		if (a)
			hb_send(a, &ma);
		if (b)
			hb_send(b, &mb);
		run_ms(10);
	}
}

/* The world of a wire test. */
struct wire {
	struct tconf t1, t2;
	struct hb *h1, *h2;
	struct rx rx1, rx2;
	uint16_t ports[2][4];
	char link1addr[64];
	char *dir, *logpath;
};

static void wire_open2(struct wire *w)
{
	char err[256];

	w->rx2 = (struct rx){.want_sender = "node1"};
	ck_assert_msg(hb_open(&w->t2.c, key, KEYLEN, rx_cb, &w->rx2, &w->h2,
			      err, sizeof(err)) == 0,
		      "%s", err);
}

static void wire_setup(struct wire *w)
{
	const char *addrs[2];
	uint16_t p4[4], p6[4];
	char err[256];
	struct log_options lo = {.ident = "test_hb", .to_stderr = true};

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(loop_init(), 0);
	w->dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&w->logpath, "%s/log", w->dir), 0);
	lo.file = w->logpath;
	ck_assert_int_eq(log_open(&lo), 0);

	/* Link 1 over IPv4, link 2 over IPv6 where the host has ::1. */
	snprintf(w->link1addr, sizeof(w->link1addr), "%s",
		 have_ipv6() ? "::1" : "127.0.0.1");
	addrs[0] = "127.0.0.1";
	addrs[1] = w->link1addr;
	free_ports("127.0.0.1", p4, 4);
	free_ports(w->link1addr, p6, 4);
	w->ports[0][0] = p4[0];
	w->ports[1][0] = p4[1];
	w->ports[0][1] = strcmp(w->link1addr, "::1") ? p4[2] : p6[0];
	w->ports[1][1] = strcmp(w->link1addr, "::1") ? p4[3] : p6[1];
	tconf_init(&w->t1, "node1", 2, addrs, w->ports);
	tconf_init(&w->t2, "node2", 2, addrs, w->ports);

	w->rx1 = (struct rx){.want_sender = "node2"};
	ck_assert_msg(hb_open(&w->t1.c, key, KEYLEN, rx_cb, &w->rx1, &w->h1,
			      err, sizeof(err)) == 0,
		      "%s", err);
	wire_open2(w);
}

static void wire_teardown(struct wire *w)
{
	hb_close(w->h1);
	hb_close(w->h2);
	loop_free();
	log_close();
	tu_rmdir(w->dir);
	free(w->dir);
	free(w->logpath);
}

/* Runs the loop until both have seen at least `n` more heartbeats on each
 * link. */
static void flow(struct wire *w, int n)
{
	int a0 = w->rx1.per_link[0], a1 = w->rx1.per_link[1];
	int b0 = w->rx2.per_link[0], b1 = w->rx2.per_link[1];

	for (int i = 0; i < 200; i++) {
		if (w->rx1.per_link[0] >= a0 + n &&
		    w->rx1.per_link[1] >= a1 + n &&
		    w->rx2.per_link[0] >= b0 + n &&
		    w->rx2.per_link[1] >= b1 + n)
			return;
		pump(w->h1, w->h2, 1);
	}
	ck_abort_msg("heartbeats did not flow: %d %d %d %d", w->rx1.per_link[0],
		     w->rx1.per_link[1], w->rx2.per_link[0],
		     w->rx2.per_link[1]);
}

START_TEST(wire_flow)
{
	struct wire w;
	struct hb_link_stats st[4];
	struct timespec ts;
	uint64_t now_us;
	char want[80];

	wire_setup(&w);
	flow(&w, 5);
	ck_assert_int_eq(w.rx1.foreign + w.rx2.foreign, 0);

	/* What node1 got from node2, and its numbering. */
	ck_assert_uint_eq(w.rx1.last[0].role, 1);
	ck_assert_uint_eq(w.rx1.last[0].flags, 0x03);
	ck_assert_uint_eq(w.rx1.last[0].epoch, 7);
	ck_assert_uint_eq(w.rx1.last[0].generation, 42);
	ck_assert_uint_eq(w.rx2.last[1].role, 3);
	ck_assert_uint_eq(w.rx1.last[0].link, 0);
	ck_assert_uint_eq(w.rx1.last[1].link, 1);
	/* One number per datagram over both links: a round is n, n+1. */
	ck_assert_uint_eq(w.rx1.last[1].seq, w.rx1.last[0].seq + 1);
	ck_assert_uint_eq(w.rx1.last[0].link_seq, w.rx1.last[1].link_seq);
	ck_assert_uint_ge(w.rx1.last[0].link_seq, 5);
	/* Numbers start at the clock in microseconds. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	ck_assert_uint_le(w.rx1.max_seq, now_us);
	ck_assert_uint_gt(w.rx1.max_seq, now_us - 10000000u);

	ck_assert_uint_eq(hb_stats(w.h1, st, 4), 2);
	for (int i = 0; i < 2; i++) {
		ck_assert(st[i].up);
		ck_assert_uint_ge(st[i].sent, 5);
		ck_assert_uint_eq(st[i].send_errors, 0);
		ck_assert_uint_eq(st[i].received, w.rx1.per_link[i]);
		ck_assert_uint_eq(st[i].lost, 0);
		ck_assert_uint_eq(st[i].bad_mac + st[i].replayed + st[i].stale +
					  st[i].malformed + st[i].wrong_sender,
				  0);
		ck_assert_uint_gt(st[i].last_rx_ms, 0);
	}
	snprintf(want, sizeof(want), "127.0.0.1:%u", w.ports[0][0]);
	ck_assert_str_eq(st[0].local, want);
	snprintf(want, sizeof(want), "127.0.0.1:%u", w.ports[1][0]);
	ck_assert_str_eq(st[0].remote, want);
	if (strcmp(w.link1addr, "::1") == 0) {
		snprintf(want, sizeof(want), "[::1]:%u", w.ports[0][1]);
		ck_assert_str_eq(st[1].local, want);
	}
	printf("flow: node1 link1 sent %lu received %lu, link2 sent %lu "
	       "received %lu, over %s\n",
	       (unsigned long)st[0].sent, (unsigned long)st[0].received,
	       (unsigned long)st[1].sent, (unsigned long)st[1].received,
	       w.link1addr);

	/* The peer goes quiet: down after the deadtime. */
	hb_close(w.h2);
	w.h2 = NULL;
	run_ms(350);
	hb_stats(w.h1, st, 4);
	ck_assert(!st[0].up);
	ck_assert(!st[1].up);
	wire_teardown(&w);
}
END_TEST

/* ---- attacks and junk ------------------------------------------------- */

static const size_t counters[] = {
	offsetof(struct hb_link_stats, received),
	offsetof(struct hb_link_stats, lost),
	offsetof(struct hb_link_stats, bad_mac),
	offsetof(struct hb_link_stats, replayed),
	offsetof(struct hb_link_stats, stale),
	offsetof(struct hb_link_stats, malformed),
	offsetof(struct hb_link_stats, wrong_sender),
};
static const char *const counter_names[] = {
	"received", "lost",	 "bad_mac",	 "replayed",
	"stale",    "malformed", "wrong_sender",
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static const char *counter_name(size_t off)
{
	for (size_t c = 0; c < N_COUNTERS; c++)
		if (counters[c] == off)
			return counter_names[c];
	return "?";
}
#define C_RECEIVED offsetof(struct hb_link_stats, received)
#define C_LOST	   offsetof(struct hb_link_stats, lost)
#define C_BAD_MAC  offsetof(struct hb_link_stats, bad_mac)
#define C_REPLAYED offsetof(struct hb_link_stats, replayed)
#define C_STALE	   offsetof(struct hb_link_stats, stale)
#define C_MALFORM  offsetof(struct hb_link_stats, malformed)
#define C_SENDER   offsetof(struct hb_link_stats, wrong_sender)

static uint64_t counter(const struct hb_link_stats *s, size_t off)
{
	return *(const uint64_t *)((const char *)s + off);
}

static int raw_socket(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * Sends buf from the raw socket to node1's first link and checks that the
 * counter at `off` moved by `delta`, that the callback ran `cb_delta` times
 * (and `received` grew as much), and that nothing else changed.
 */
static void inject(struct wire *w, int fd, const void *buf, size_t len,
		   size_t off, uint64_t delta, int cb_delta)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(w->ports[0][0]),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct hb_link_stats before[4], after[4];
	int n_cb = w->rx1.n, n_foreign = w->rx1.foreign;

	hb_stats(w->h1, before, 4);
	ck_assert_int_eq(
		sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)),
		(ssize_t)len);
	for (int i = 0; i < 200; i++) {
		run_ms(5);
		hb_stats(w->h1, after, 4);
		if (counter(&after[0], off) != counter(&before[0], off))
			break;
	}
	run_ms(20); /* anything else it would cause */
	hb_stats(w->h1, after, 4);
	for (size_t c = 0; c < N_COUNTERS; c++) {
		uint64_t want = counter(&before[0], counters[c]);
		if (counters[c] == off)
			want += delta;
		else if (counters[c] == C_RECEIVED)
			want += (uint64_t)cb_delta;
		ck_assert_msg(counter(&after[0], counters[c]) == want,
			      "%s: %lu, want %lu (injected %zu bytes for %s)",
			      counter_names[c],
			      (unsigned long)counter(&after[0], counters[c]),
			      (unsigned long)want, len, counter_name(off));
		ck_assert_uint_eq(counter(&after[1], counters[c]),
				  counter(&before[1], counters[c]));
	}
	ck_assert_int_eq(w->rx1.n, n_cb + cb_delta);
	ck_assert_int_eq(w->rx1.foreign, n_foreign);
}

/* A heartbeat as node2 would send it on link 0, with a fresh number. */
static struct hb_msg forged(struct wire *w)
{
	struct hb_msg m = w->rx1.last[0];

	m.seq = w->rx1.max_seq + 1000;
	m.link_seq = w->rx1.last[0].link_seq + 1;
	return m;
}

static int count_lines(const char *path, const char *needle)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

START_TEST(wire_attacks)
{
	struct wire w;
	struct hb_link_stats st[4];
	struct hb_msg m, d;
	uint8_t p[HB_PACKET_LEN + 8], mac[32];
	uint16_t rawport;
	int fd;
	char want[128];

	wire_setup(&w);
	flow(&w, 3);
	fd = raw_socket(&rawport);
	srandom(12345);

	/* Random bytes: short, long, and heartbeat-sized. */
	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (uint8_t)random();
	p[0] = 'X';
	inject(&w, fd, p, 57, C_MALFORM, 1, 0);
	inject(&w, fd, p, HB_PACKET_LEN, C_MALFORM, 1, 0);
	inject(&w, fd, p, 0, C_MALFORM, 1, 0);
	/* Random bytes behind a valid header: only the MAC can tell. */
	memcpy(p, "CMHB\x01", 5);
	p[8 + 31] = p[40 + 31] = 0;
	inject(&w, fd, p, HB_PACKET_LEN, C_BAD_MAC, 1, 0);

	/* A genuine packet truncated and extended. */
	m = forged(&w);
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN - 1, C_MALFORM, 1, 0);
	p[HB_PACKET_LEN] = 0;
	inject(&w, fd, p, HB_PACKET_LEN + 1, C_MALFORM, 1, 0);

	/* Another version, correctly MACed. */
	hb_encode(&m, key, KEYLEN, p);
	p[4] = 2;
	mac_of(p, key, KEYLEN, mac);
	memcpy(p + 104, mac, HB_MAC_LEN);
	inject(&w, fd, p, HB_PACKET_LEN, C_MALFORM, 1, 0);

	/* Under another key. */
	hb_encode(&m, other_key, OTHER_KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_BAD_MAC, 1, 0);

	/* A replay: the last heartbeat node2 sent on link 0, byte for byte
	 * (encoding is deterministic, so re-encoding what the callback got
	 * rebuilds the captured datagram). */
	hb_encode(&w.rx1.last[0], key, KEYLEN, p);
	ck_assert_int_eq(hb_decode(p, HB_PACKET_LEN, key, KEYLEN, &d), 0);
	ck_assert_uint_eq(d.seq, w.rx1.last[0].seq);
	inject(&w, fd, p, HB_PACKET_LEN, C_REPLAYED, 1, 0);

	/* Stale: below the window. */
	m = forged(&w);
	m.seq = w.rx1.max_seq - 100;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_STALE, 1, 0);

	/* Right key, wrong sender or cluster, or our own id reflected. */
	m = forged(&w);
	snprintf(m.sender, sizeof(m.sender), "node3");
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_SENDER, 1, 0);
	m = forged(&w);
	snprintf(m.sender, sizeof(m.sender), "node1");
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_SENDER, 1, 0);
	m = forged(&w);
	snprintf(m.cluster, sizeof(m.cluster), "other");
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_SENDER, 1, 0);

	/* Sent on the peer's link 2 but arriving on link 1. */
	m = forged(&w);
	m.link = 1;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_MALFORM, 1, 0);
	m.link = 200;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, HB_PACKET_LEN, C_MALFORM, 1, 0);

	/* None of them moved the window: genuine traffic flows on. */
	flow(&w, 3);
	ck_assert_int_eq(w.rx1.foreign, 0);
	hb_stats(w.h1, st, 4);
	ck_assert(st[0].up && st[1].up);
	ck_assert_uint_eq(st[0].lost + st[1].lost, 0);
	printf("attacks: link1 received %lu malformed %lu bad_mac %lu "
	       "replayed %lu stale %lu wrong_sender %lu lost %lu\n",
	       (unsigned long)st[0].received, (unsigned long)st[0].malformed,
	       (unsigned long)st[0].bad_mac, (unsigned long)st[0].replayed,
	       (unsigned long)st[0].stale, (unsigned long)st[0].wrong_sender,
	       (unsigned long)st[0].lost);
	ck_assert_uint_eq(st[0].malformed, 8);
	ck_assert_uint_eq(st[0].bad_mac, 2);
	ck_assert_uint_eq(st[0].replayed, 1);
	ck_assert_uint_eq(st[0].stale, 1);
	ck_assert_uint_eq(st[0].wrong_sender, 3);

	/* Logged once per cause (rate limit), naming the source. */
	ck_assert_int_eq(count_lines(w.logpath, "malformed packet"), 1);
	ck_assert_int_eq(count_lines(w.logpath, "bad-MAC packet"), 1);
	ck_assert_int_eq(count_lines(w.logpath, "wrong-sender packet"), 1);
	ck_assert_int_eq(count_lines(w.logpath, "replayed packet"), 1);
	ck_assert_int_eq(count_lines(w.logpath, "stale packet"), 1);
	snprintf(want, sizeof(want),
		 "link 1 (127.0.0.1:%u): dropped 1 malformed packet(s) since "
		 "the last report; the last from 127.0.0.1:%u: 57 bytes, not "
		 "120",
		 w.ports[0][0], rawport);
	ck_assert_int_eq(count_lines(w.logpath, want), 1);
	ck_assert_int_eq(count_lines(w.logpath, "KEYBYTES"), 0);

	close(fd);
	wire_teardown(&w);
}
END_TEST

/* Loss counting from the per-link numbers, with genuine-keyed packets. */
START_TEST(wire_loss)
{
	struct wire w;
	struct hb_msg m;
	uint8_t p[HB_PACKET_LEN];
	uint64_t ls, base;
	uint16_t rawport;
	int fd;

	wire_setup(&w);
	flow(&w, 3);
	hb_close(w.h2); /* only the test speaks for node2 now */
	w.h2 = NULL;
	fd = raw_socket(&rawport);
	m = w.rx1.last[0];
	ls = m.link_seq;
	base = w.rx1.max_seq;

	/* 4 missing. */
	m.seq = base + 10;
	m.link_seq = ls + 5;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_LOST, 4, 1);
	/* One of them arrives late: no longer lost. */
	m.seq = base + 5;
	m.link_seq = ls + 3;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_LOST, (uint64_t)-1, 1);
	/* A huge jump (down for a long time) is not counted. */
	m.seq = base + 11;
	m.link_seq = ls + 1000000000ull;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_RECEIVED, 1, 1);
	/* The peer restarted: link numbers from 1 again, global ones on. */
	m.seq = base + 5000000;
	m.link_seq = 1;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_RECEIVED, 1, 1);
	/* And counts from there: 2 missing. */
	m.seq = base + 5000001;
	m.link_seq = 4;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_LOST, 2, 1);
	/* Going back with an older global number than the restart's is a
	 * late packet of the old run: out of the window, stale. */
	m.seq = base + 12;
	m.link_seq = 2;
	hb_encode(&m, key, KEYLEN, p);
	inject(&w, fd, p, sizeof(p), C_STALE, 1, 0);

	close(fd);
	wire_teardown(&w);
}
END_TEST

/* A restarted node2 numbers above its old self and is taken at once. */
START_TEST(wire_restart)
{
	struct wire w;
	struct hb_link_stats st[4];
	uint64_t old_max;

	wire_setup(&w);
	flow(&w, 5);
	old_max = w.rx1.max_seq;
	hb_close(w.h2);
	w.h2 = NULL;
	run_ms(20);
	wire_open2(&w);
	flow(&w, 3);
	ck_assert_uint_gt(w.rx1.max_seq, old_max);
	ck_assert_uint_lt(w.rx1.last[0].link_seq, 10);
	hb_stats(w.h1, st, 4);
	for (int i = 0; i < 2; i++) {
		ck_assert(st[i].up);
		ck_assert_uint_eq(st[i].lost, 0);
		ck_assert_uint_eq(st[i].stale + st[i].replayed, 0);
	}
	printf("restart: node1 link1 received %lu lost %lu stale %lu\n",
	       (unsigned long)st[0].received, (unsigned long)st[0].lost,
	       (unsigned long)st[0].stale);
	wire_teardown(&w);
}
END_TEST

/* hb_peer_reset: nothing up to the floor is taken afterwards. */
START_TEST(wire_peer_reset)
{
	struct wire w;
	struct hb_link_stats st[4];
	int n;

	wire_setup(&w);
	flow(&w, 2);
	hb_peer_reset(w.h1, w.rx1.max_seq + 1000000);
	n = w.rx1.n;
	pump(NULL, w.h2, 3);
	run_ms(20);
	ck_assert_int_eq(w.rx1.n, n);
	hb_stats(w.h1, st, 4);
	ck_assert_uint_ge(st[0].stale + st[1].stale, 6);
	/* A peer whose clock went back: reset to 0 takes it again. */
	hb_peer_reset(w.h1, 0);
	flow(&w, 2);
	wire_teardown(&w);
}
END_TEST

/* The callback may close its own instance. */
START_TEST(wire_close_in_callback)
{
	struct wire w;

	wire_setup(&w);
	w.rx1.close_me = &w.h1;
	for (int i = 0; i < 100 && w.h1; i++)
		pump(NULL, w.h2, 1);
	ck_assert_ptr_null(w.h1);
	ck_assert_int_eq(w.rx1.n, 1);
	pump(NULL, w.h2, 3); /* nobody listens: no crash */
	wire_teardown(&w);
}
END_TEST

/* ---- open errors ------------------------------------------------------ */

START_TEST(open_errors)
{
	struct tconf t;
	struct hb *h = NULL;
	uint16_t ports[2][4];
	uint16_t p[4];
	const char *addrs[] = {"127.0.0.1", "127.0.0.1"};
	char err[256], want[256];
	int fd;

	ck_assert_int_eq(loop_init(), 0);
	free_ports("127.0.0.1", p, 4);
	ports[0][0] = p[0];
	ports[0][1] = p[1];
	ports[1][0] = p[2];
	ports[1][1] = p[3];

	/* Ids of 32 bytes. */
	tconf_init(&t, "node1", 2, addrs, ports);
	t.c.nodes[1].id = (char *)"n2345678901234567890123456789012";
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-ENAMETOOLONG);
	ck_assert_ptr_nonnull(strstr(err, "n2345678901234567890"));
	ck_assert_ptr_null(h);
	tconf_init(&t, "node1", 2, addrs, ports);
	t.c.cluster_id = (char *)"c2345678901234567890123456789012";
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-ENAMETOOLONG);
	ck_assert_ptr_nonnull(strstr(err, "cluster id"));
	/* 31 bytes is fine. */
	t.c.cluster_id = (char *)"c234567890123456789012345678901";
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		0);
	hb_close(h);
	h = NULL;

	/* Link counts differ. */
	tconf_init(&t, "node1", 2, addrs, ports);
	t.c.nodes[1].n_links = 1;
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "heartbeat: node node1 has 2 link(s) and node "
			      "node2 has 1; link i of one talks to link i of "
			      "the other, so both need the same number");

	/* Both nodes with one name. */
	tconf_init(&t, "node1", 2, addrs, ports);
	t.c.nodes[1].id = (char *)"node1";
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "heartbeat: both nodes are named \"node1\"");

	/* Not one of the nodes; arbiter mode; short key. */
	tconf_init(&t, "node9", 2, addrs, ports);
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "node9"));
	tconf_init(&t, "node1", 2, addrs, ports);
	t.c.mode = CONF_MODE_ARBITER;
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EINVAL);
	tconf_init(&t, "node1", 2, addrs, ports);
	ck_assert_int_eq(hb_open(&t.c, key, HB_KEY_MIN - 1, rx_cb, NULL, &h,
				 err, sizeof(err)),
			 -EINVAL);

	/* Not an address; families differ. */
	tconf_init(&t, "node2", 2, addrs, ports);
	snprintf(t.addr[1][1], sizeof(t.addr[1][1]), "node2.example");
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EINVAL);
	snprintf(want, sizeof(want),
		 "link 2 (node2.example:%u): \"node2.example\" is not an IPv4 "
		 "or IPv6 address",
		 ports[1][1]);
	ck_assert_str_eq(err, want);
	tconf_init(&t, "node2", 2, addrs, ports);
	snprintf(t.addr[0][0], sizeof(t.addr[0][0]), "::1");
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EAFNOSUPPORT);

	/* The second link's port is taken: named, nothing left open. */
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons(ports[0][1]),
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	tconf_init(&t, "node1", 2, addrs, ports);
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		-EADDRINUSE);
	snprintf(want, sizeof(want),
		 "link 2 (127.0.0.1:%u): cannot bind: Address already in use",
		 ports[0][1]);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(h);
	close(fd);
	/* The first link's socket was closed: open works now. */
	ck_assert_int_eq(
		hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err, sizeof(err)),
		0);
	/* And a second instance on the same ports is refused. */
	{
		struct hb *h2 = NULL;
		ck_assert_int_eq(hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h2,
					 err, sizeof(err)),
				 -EADDRINUSE);
		ck_assert_ptr_null(h2);
	}
	hb_close(h);
	loop_free();
}
END_TEST

/* A link that cannot send counts errors and the others go on. */
START_TEST(send_errors)
{
	struct tconf t;
	struct hb *h = NULL;
	struct hb_link_stats st[4];
	uint16_t p[4], ports[2][4];
	const char *addrs[] = {"127.0.0.1", "127.0.0.1"};
	struct hb_msg m = payload(1);
	char err[256];

	ck_assert_int_eq(loop_init(), 0);
	free_ports("127.0.0.1", p, 4);
	ports[0][0] = p[0];
	ports[0][1] = p[1];
	ports[1][0] = p[2];
	ports[1][1] = p[3];
	tconf_init(&t, "node1", 2, addrs, ports);
	/* Port 0 is not a destination: sendto fails with EINVAL. */
	t.c.nodes[1].links[1].port = 0;
	ck_assert_msg(hb_open(&t.c, key, KEYLEN, rx_cb, NULL, &h, err,
			      sizeof(err)) == 0,
		      "%s", err);
	for (int i = 0; i < 3; i++)
		hb_send(h, &m);
	hb_stats(h, st, 4);
	ck_assert_uint_eq(st[0].sent, 3);
	ck_assert_uint_eq(st[0].send_errors, 0);
	ck_assert_uint_eq(st[1].sent, 0);
	ck_assert_uint_eq(st[1].send_errors, 3);
	hb_close(h);
	loop_free();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hb");
	TCase *tc = tcase_create("hb");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, codec_layout);
	tcase_add_test(tc, codec_extremes);
	tcase_add_test(tc, codec_every_byte);
	tcase_add_test(tc, codec_wrong_key);
	tcase_add_test(tc, codec_bad_packets);
	tcase_add_test(tc, codec_random);
	tcase_add_test(tc, window_rules);
	tcase_add_test(tc, key_file);
	tcase_add_test(tc, wire_flow);
	tcase_add_test(tc, wire_attacks);
	tcase_add_test(tc, wire_loss);
	tcase_add_test(tc, wire_restart);
	tcase_add_test(tc, wire_peer_reset);
	tcase_add_test(tc, wire_close_in_callback);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, send_errors);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
