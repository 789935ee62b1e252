/*
 * The control channel between two nodes, for real: two peers in one
 * process on 127.0.0.1 with certificates from mkcerts.sh, on the agent's
 * loop.  The link comes up both ways, frames flow both ways, a restarted
 * side reconnects; garbage, strangers, wrong peers, bad frames and silent
 * clients are refused and counted while genuine traffic goes on.  The TLS
 * wrapper (tlsc) is also tested alone over socket pairs: SNI selection of
 * the context, CN checks, every recv error, large frames, the send bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "conf.h"
#include "loader.h"
#include "loop.h"
#include "peer.h"
#include "testutil.h"
#include "tlsc.h"
#include "wire.h"

#define FRAME_MAX (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)

/* Made once per test case (unchecked fixture, in the parent): DIR holds
 * the cluster's CA and node1/node2; DIR/intruder a second CA with its own
 * node1/node2. */
static char *certdir;
static char *dir; /* per test: the configs */

static const char *cpath(const char *name)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", certdir, name);
	return b;
}

static void certs_setup(void)
{
	char cmd[1024];

	certdir = tu_tmpdir();
	snprintf(cmd, sizeof(cmd),
		 "sh %s/tests/tools/mkcerts.sh %s node1 node2 && "
		 "sh %s/tests/tools/mkcerts.sh %s/intruder node1 node2",
		 SOURCE_DIR, certdir, SOURCE_DIR, certdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void certs_teardown(void)
{
	tu_rmdir(certdir);
	free(certdir);
}

/* ---- the two sides ---- */

struct side {
	const char *id;
	struct conf *conf;
	struct peer *peer;
	uint64_t epoch; /* what our HELLO says */
	int ups, downs;
	char hello_node[64];
	uint64_t hello_epoch;
	unsigned long n_msgs;
	uint64_t last_seq;
	bool out_of_order;
	unsigned long bytes_text;
};

static struct side A = {.id = "node1"}, B = {.id = "node2"};
static uint16_t ctl_port[2];

static void cb_link(const struct wire_msg *hello, void *arg)
{
	struct side *s = arg;

	if (!hello) {
		s->downs++;
		return;
	}
	s->ups++;
	ck_assert_int_eq(wire_get_str(hello, F_NODE, s->hello_node,
				      sizeof(s->hello_node)),
			 0);
	ck_assert_int_eq(wire_get_u64(hello, F_EPOCH, &s->hello_epoch), 0);
	/* Each up starts a new sequence of numbered frames. */
	s->last_seq = 0;
}

static void cb_msg(const struct wire_msg *m, void *arg)
{
	struct side *s = arg;
	uint64_t seq;
	char text[WIRE_MAX_STR + 1];

	s->n_msgs++;
	if (m->type == WIRE_T_STATE && wire_get_u64(m, F_REQ_ID, &seq) == 0) {
		if (seq != s->last_seq + 1)
			s->out_of_order = true;
		s->last_seq = seq;
	}
	if (wire_get_str(m, F_SUMMARY, text, sizeof(text)) == 0)
		s->bytes_text += strlen(text);
}

static void cb_hello(struct wire_buf *b, void *arg)
{
	struct side *s = arg;

	wire_put_u64(b, F_EPOCH, s->epoch);
	wire_put_u64(b, F_GENERATION, 7);
	wire_put_u64(b, F_ROLE, 1);
	wire_put_u64(b, F_HB_SEQ, 1234);
}

static const struct peer_cb cb_a = {cb_link, cb_msg, cb_hello, &A};
static const struct peer_cb cb_b = {cb_link, cb_msg, cb_hello, &B};

static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void conf_errors(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "conf: %s\n", msg);
}

static struct conf *load_conf(const char *node, const char *cert_dir)
{
	char text[4096], name[64];
	struct conf_overrides ov = {.plugin_dir = FAKE_PLUGIN_DIR};
	struct conf *c = NULL;
	char *path;

	snprintf(text, sizeof(text),
		 "<?xml version=\"1.0\"?>\n"
		 "<cmsd version=\"1\" node=\"%s\">\n"
		 "  <paths state-dir=\"%s\" log-file=\"%s/log\" "
		 "control-socket=\"%s/sock\"/>\n"
		 "  <cluster id=\"vms\">\n"
		 "    <key-file>%s/cluster.key</key-file>\n"
		 "    <tls ca=\"%s/ca.pem\" cert=\"%s/%s.pem\" "
		 "key=\"%s/%s.key\"/>\n"
		 "    <node id=\"node1\"><link address=\"127.0.0.1\" "
		 "port=\"%u\"/><control address=\"127.0.0.1\" port=\"%u\"/>"
		 "</node>\n"
		 "    <node id=\"node2\"><link address=\"127.0.0.2\" "
		 "port=\"%u\"/><control address=\"127.0.0.1\" port=\"%u\"/>"
		 "</node>\n"
		 "  </cluster>\n"
		 "  <quorum id=\"q\" plugin=\"conf-quorum\"/>\n"
		 "</cmsd>\n",
		 node, dir, dir, dir, cert_dir, cert_dir, cert_dir, node,
		 cert_dir, node, free_port(), ctl_port[0], free_port(),
		 ctl_port[1]);
	snprintf(name, sizeof(name), "%s.xml", node);
	path = tu_write(dir, name, text);
	ck_assert_int_eq(conf_load(path, &ov, conf_errors, NULL, &c), 0);
	free(path);
	return c;
}

static void open_side(struct side *s)
{
	char err[256] = "";
	int rc = peer_open(s->conf, s == &A ? &cb_a : &cb_b, &s->peer, err,
			   sizeof(err));

	ck_assert_msg(rc == 0, "peer_open %s: %s", s->id, err);
}

static void close_side(struct side *s)
{
	peer_close(s->peer);
	s->peer = NULL;
}

static void setup(void)
{
	ck_assert_int_eq(loop_init(), 0);
	dir = tu_tmpdir();
	ctl_port[0] = free_port();
	ctl_port[1] = free_port();
	A = (struct side){.id = "node1", .epoch = 11};
	B = (struct side){.id = "node2", .epoch = 22};
	A.conf = load_conf("node1", certdir);
	B.conf = load_conf("node2", certdir);
}

static void teardown(void)
{
	close_side(&A);
	close_side(&B);
	conf_free(A.conf);
	conf_free(B.conf);
	loader_shutdown();
	loop_free();
	tu_rmdir(dir);
	free(dir);
}

/* ---- test clients, advanced by polling between loop turns ---- */

struct tclient {
	int fd;		  /* raw TCP */
	struct tlsc *t;	  /* or TLS */
	bool closed;	  /* the other end closed or refused */
	int rc;		  /* the error seen */
	char why[256];	  /* tlsc_error */
	int n_frames;	  /* frames received */
	int n_errors;	  /* of them WIRE_T_ERROR */
	char text[256];	  /* F_TEXT of the last ERROR */
	uint64_t open_ms; /* when it connected */
	uint64_t closed_ms;
};

#define MAX_CLIENTS 16
static struct tclient *clients[MAX_CLIENTS];

static void client_poll(struct tclient *c)
{
	if (c->closed)
		return;
	if (c->t) {
		struct wire_msg m;
		int rc = tlsc_io(c->t, true, true);

		while (rc >= 0 && tlsc_recv(c->t, &m) == 1) {
			c->n_frames++;
			if (m.type == WIRE_T_ERROR) {
				c->n_errors++;
				wire_get_str(&m, F_TEXT, c->text,
					     sizeof(c->text));
			}
		}
		if (rc < 0) {
			c->closed = true;
			c->rc = rc;
			c->closed_ms = loop_now_ms();
			snprintf(c->why, sizeof(c->why), "%s",
				 tlsc_error(c->t));
		}
		return;
	}
	char buf[512];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		c->closed = true;
		c->rc = n == 0 ? 0 : -errno;
		c->closed_ms = loop_now_ms();
	}
}

/* One turn of the loop (at most 5 ms), then the clients. */
static void step(void)
{
	struct timeval tick = {0, 5000};

	event_base_loopexit(loop_base(), &tick);
	event_base_loop(loop_base(), 0);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i])
			client_poll(clients[i]);
}

#define WAIT_FOR(expr, ms)                                                     \
	do {                                                                   \
		uint64_t end_ = loop_now_ms() + (ms);                          \
		while (!(expr)) {                                              \
			if (loop_now_ms() >= end_)                             \
				ck_abort_msg("timed out after %d ms waiting "  \
					     "for %s",                         \
					     (int)(ms), #expr);                \
			step();                                                \
		}                                                              \
	} while (0)

static void run_for(int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end)
		step();
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK),
			 0);
	return fd;
}

static struct tclient *client_add(struct tclient *c)
{
	c->open_ms = loop_now_ms();
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (!clients[i]) {
			clients[i] = c;
			return c;
		}
	}
	ck_abort_msg("too many test clients");
	return NULL;
}

static struct tclient *raw_client(uint16_t port)
{
	struct tclient *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	c->fd = tcp_connect(port);
	return client_add(c);
}

/* A TLS client: trusts `ca`, shows cert/key, asks for `sni`. */
static struct tclient *tls_client(uint16_t port, const char *ca,
				  const char *cert, const char *key,
				  const char *sni)
{
	struct tclient *c = calloc(1, sizeof(*c));
	char err[256];
	SSL_CTX *ctx =
		tlsc_ctx_new(TLSC_CLIENT, ca, cert, key, err, sizeof(err));

	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_ptr_nonnull(c);
	c->fd = tcp_connect(port);
	c->t = tlsc_new(ctx, c->fd, TLSC_CLIENT, sni, NULL);
	ck_assert_ptr_nonnull(c->t);
	tlsc_ctx_free(ctx); /* the connection keeps its reference */
	return client_add(c);
}

/* A client with the cluster's CA and node1's certificate, as node1. */
static struct tclient *node1_client(uint16_t port)
{
	return tls_client(port, cpath("ca.pem"), cpath("node1.pem"),
			  cpath("node1.key"), "vms");
}

static void client_free(struct tclient *c)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] == c)
			clients[i] = NULL;
	if (c->t)
		tlsc_free(c->t);
	else
		close(c->fd);
	free(c);
}

static void client_send(struct tclient *c, const void *buf, size_t len)
{
	ck_assert_int_eq(tlsc_send(c->t, buf, len), 0);
	client_poll(c);
}

static size_t hello_frame(uint8_t *buf, size_t cap, const char *node,
			  const char *cluster, uint64_t epoch)
{
	struct wire_buf b;
	int len;

	wire_begin(&b, buf, cap, WIRE_T_HELLO);
	wire_put_str(&b, F_NODE, node);
	wire_put_str(&b, F_CLUSTER, cluster);
	wire_put_u64(&b, F_EPOCH, epoch);
	len = wire_end(&b);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

/* ---- traffic ---- */

static size_t state_frame(uint8_t *buf, size_t cap, uint64_t seq,
			  size_t text_len)
{
	struct wire_buf b;
	char text[WIRE_MAX_STR + 1];
	int len;

	memset(text, 'a' + (int)(seq % 26), text_len);
	text[text_len] = '\0';
	wire_begin(&b, buf, cap, WIRE_T_STATE);
	wire_put_u64(&b, F_REQ_ID, seq);
	wire_put_u64(&b, F_FLAGS, WIRE_FL_PEER_ALIVE);
	wire_put_str(&b, F_SUMMARY, text);
	len = wire_end(&b);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

/* n numbered frames from `from` to `to`, received in order. */
static void send_frames(struct side *from, struct side *to, unsigned n,
			size_t text_len)
{
	uint8_t buf[FRAME_MAX];
	uint64_t first = to->last_seq + 1;

	for (unsigned i = 0; i < n; i++) {
		size_t len = state_frame(buf, sizeof(buf), first + i, text_len);
		ck_assert_int_eq(peer_send(from->peer, buf, len), 0);
	}
	WAIT_FOR(to->last_seq == first + n - 1, 5000);
	ck_assert(!to->out_of_order);
}

static void traffic_flows(void)
{
	WAIT_FOR(peer_up(A.peer) && peer_up(B.peer), 5000);
	send_frames(&A, &B, 3, 10);
	send_frames(&B, &A, 3, 10);
}

static void both_up(void)
{
	open_side(&A);
	open_side(&B);
	WAIT_FOR(A.ups == 1 && B.ups == 1, 5000);
}

/* ---- the peer tests ---- */

START_TEST(link_up_both_ways)
{
	struct peer_stats st;
	uint8_t buf[FRAME_MAX];
	size_t len = state_frame(buf, sizeof(buf), 1, 4);

	open_side(&A);
	/* Alone: nothing to send to. */
	ck_assert(!peer_up(A.peer));
	ck_assert_int_eq(peer_send(A.peer, buf, len), -ENOTCONN);
	run_for(300);
	ck_assert_int_eq(A.ups, 0);
	open_side(&B);
	WAIT_FOR(A.ups == 1 && B.ups == 1, 5000);
	/* Each side got the other's HELLO, with what its owner put in. */
	ck_assert_str_eq(A.hello_node, "node2");
	ck_assert_uint_eq(A.hello_epoch, 22);
	ck_assert_str_eq(B.hello_node, "node1");
	ck_assert_uint_eq(B.hello_epoch, 11);

	send_frames(&A, &B, 5, 100);
	send_frames(&B, &A, 5, 100);
	/* Many frames, larger than the receive buffer together: all there,
	 * in order. */
	send_frames(&A, &B, 400, WIRE_MAX_STR);
	send_frames(&B, &A, 400, WIRE_MAX_STR);
	ck_assert_uint_eq(B.n_msgs, 405);
	ck_assert_uint_eq(A.n_msgs, 405);

	peer_get_stats(A.peer, &st);
	ck_assert_uint_eq(st.connects, 1);
	ck_assert_uint_eq(st.disconnects, 0);
	ck_assert_uint_eq(st.frames_out, 1 + 405);
	ck_assert_uint_eq(st.frames_in, 1 + 405);
	ck_assert_uint_eq(st.rejected, 0);
	ck_assert_uint_eq(st.handshake_failures, 0);
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.connects, 1);
	ck_assert_uint_eq(st.frames_in, 1 + 405);
	ck_assert_int_eq(A.downs + B.downs, 0);
}
END_TEST

START_TEST(restart_reconnects)
{
	struct peer_stats st;

	both_up();
	traffic_flows();

	/* The accepting side restarts. */
	close_side(&B);
	WAIT_FOR(A.downs == 1, 5000);
	ck_assert(!peer_up(A.peer));
	run_for(500); /* A retries against a closed port meanwhile */
	open_side(&B);
	WAIT_FOR(A.ups == 2 && B.ups == 2, 5000);
	traffic_flows();

	/* The connecting side restarts. */
	close_side(&A);
	WAIT_FOR(B.downs == 1, 5000);
	open_side(&A);
	WAIT_FOR(A.ups == 3 && B.ups == 3, 5000);
	traffic_flows();

	peer_get_stats(A.peer, &st);
	ck_assert_uint_eq(st.connects, 1);
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.connects, 2);
	ck_assert_uint_eq(st.disconnects, 1);
	ck_assert_uint_eq(st.rejected + st.handshake_failures, 0);
}
END_TEST

START_TEST(raw_garbage_refused)
{
	struct peer_stats st;
	uint8_t junk[300];

	both_up();
	for (int side = 0; side < 2; side++) {
		struct side *s = side ? &B : &A;
		struct tclient *c = raw_client(ctl_port[side]);

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11 + side);
		ck_assert_int_eq(send(c->fd, junk, sizeof(junk), 0),
				 (ssize_t)sizeof(junk));
		WAIT_FOR(c->closed, 3000);
		/* Refused at once, not by the handshake timeout. */
		ck_assert_uint_lt(c->closed_ms - c->open_ms, 1000);
		peer_get_stats(s->peer, &st);
		ck_assert_uint_eq(st.handshake_failures, 1);
		ck_assert_msg(strstr(st.last_error, "127.0.0.1:") &&
				      strstr(st.last_error, "handshake"),
			      "%s", st.last_error);
		client_free(c);
	}
	traffic_flows();
	ck_assert_int_eq(A.downs + B.downs, 0);
}
END_TEST

START_TEST(foreign_ca_refused)
{
	struct peer_stats st;
	struct tclient *c;

	both_up();
	/* The client trusts our CA but shows a certificate of another CA
	 * (CN node1, the right name): the server refuses it. */
	c = tls_client(ctl_port[1], cpath("ca.pem"),
		       cpath("intruder/node1.pem"), cpath("intruder/node1.key"),
		       "vms");
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_frames, 0);
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.handshake_failures, 1);
	ck_assert_uint_eq(st.rejected, 0);
	ck_assert_msg(strstr(st.last_error, "certificate"), "%s",
		      st.last_error);
	client_free(c);

	/* A client of the other CA does not trust us either: it says why. */
	c = tls_client(ctl_port[1], cpath("intruder/ca.pem"),
		       cpath("intruder/node1.pem"), cpath("intruder/node1.key"),
		       "vms");
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->rc, -EACCES);
	ck_assert_msg(strstr(c->why, "certificate verify failed"), "%s",
		      c->why);
	peer_get_stats(B.peer, &st);
	WAIT_FOR((peer_get_stats(B.peer, &st), st.handshake_failures == 2),
		 3000);
	client_free(c);

	traffic_flows();
	ck_assert_int_eq(A.downs + B.downs, 0);
}
END_TEST

START_TEST(wrong_peer_refused)
{
	struct peer_stats st;
	struct tclient *c;

	both_up();
	/* node1's own certificate, valid, but node1 expects node2. */
	c = node1_client(ctl_port[0]);
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_errors, 1);
	ck_assert_str_eq(c->text,
			 "certificate CN \"node1\" is not the peer node "
			 "\"node2\"");
	peer_get_stats(A.peer, &st);
	ck_assert_uint_eq(st.rejected, 1);
	client_free(c);

	/* The right certificate for another cluster name (SNI): refused in
	 * the handshake. */
	c = tls_client(ctl_port[1], cpath("ca.pem"), cpath("node1.pem"),
		       cpath("node1.key"), "other-cluster");
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_frames, 0);
	ck_assert_msg(strstr(c->why, "unrecognized name"), "%s", c->why);
	WAIT_FOR((peer_get_stats(B.peer, &st), st.handshake_failures == 1),
		 3000);
	ck_assert_msg(strstr(st.last_error, "server name \"other-cluster\" is "
					    "not served here"),
		      "%s", st.last_error);
	client_free(c);
	/* No SNI at all. */
	c = tls_client(ctl_port[1], cpath("ca.pem"), cpath("node1.pem"),
		       cpath("node1.key"), NULL);
	WAIT_FOR(c->closed, 3000);
	WAIT_FOR((peer_get_stats(B.peer, &st), st.handshake_failures == 2),
		 3000);
	ck_assert_msg(strstr(st.last_error, "no server name (SNI)"), "%s",
		      st.last_error);
	client_free(c);

	/* The right certificate, but a HELLO that names someone else, or
	 * another cluster. */
	static const char *const bad[][2] = {{"node2", "vms"},
					     {"node1", "other"}};
	static const char *const want[] = {
		"HELLO from \"node2\", not from the peer \"node1\"",
		"HELLO for cluster \"other\", not \"vms\""};
	for (int i = 0; i < 2; i++) {
		uint8_t buf[256];
		size_t len =
			hello_frame(buf, sizeof(buf), bad[i][0], bad[i][1], 5);

		c = node1_client(ctl_port[1]);
		WAIT_FOR(tlsc_ready(c->t), 3000);
		client_send(c, buf, len);
		WAIT_FOR(c->closed, 3000);
		ck_assert_int_eq(c->n_errors, 1);
		ck_assert_str_eq(c->text, want[i]);
		client_free(c);
	}
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.rejected, 2);

	traffic_flows();
	ck_assert_int_eq(A.downs + B.downs, 0);
	ck_assert_int_eq(B.ups, 1);
}
END_TEST

/* A genuine node1 connection to B that sends `frame` first. */
static void bad_first_frame(const void *frame, size_t len, const char *want)
{
	struct peer_stats before, st;
	struct tclient *c = node1_client(ctl_port[1]);

	peer_get_stats(B.peer, &before);
	WAIT_FOR(tlsc_ready(c->t), 3000);
	/* The server's HELLO comes first, then the refusal. */
	client_send(c, frame, len);
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_frames, 2);
	ck_assert_int_eq(c->n_errors, 1);
	ck_assert_msg(strstr(c->text, want), "\"%s\" lacks \"%s\"", c->text,
		      want);
	ck_assert_int_eq(c->rc, -ECONNRESET);
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.rejected, before.rejected + 1);
	ck_assert_msg(strstr(st.last_error, want), "%s", st.last_error);
	client_free(c);
	traffic_flows();
}

START_TEST(bad_frames_refused)
{
	uint8_t f[FRAME_MAX];
	struct wire_buf b;
	size_t len;

	both_up();
	/* Another version. */
	len = hello_frame(f, sizeof(f), "node1", "vms", 1);
	f[2] = 2;
	bad_first_frame(f, len, "version 2");
	/* An oversized length (the header alone tells). */
	len = hello_frame(f, sizeof(f), "node1", "vms", 1);
	f[4] = 0;
	f[5] = 1;
	f[6] = 0;
	f[7] = 0;
	bad_first_frame(f, len, "payload over 16384");
	/* Garbage inside TLS. */
	bad_first_frame("GET / HTTP/1.0\r\n\r\n", 18, "not a cmsd frame");
	/* Malformed: a duplicate field. */
	len = hello_frame(f, sizeof(f), "node1", "vms", 1);
	memcpy(f + len, f + WIRE_HEADER_LEN, 4 + 5); /* F_NODE again */
	len += 9;
	f[7] = (uint8_t)(len - WIRE_HEADER_LEN);
	bad_first_frame(f, len, "malformed HELLO");
	/* Not a HELLO first. */
	len = state_frame(f, sizeof(f), 1, 3);
	bad_first_frame(f, len, "first frame is STATE");
	/* A HELLO without our fields. */
	wire_begin(&b, f, sizeof(f), WIRE_T_HELLO);
	wire_put_u64(&b, F_EPOCH, 1);
	len = (size_t)wire_end(&b);
	bad_first_frame(f, len, "HELLO without a node id");

	ck_assert_int_eq(A.downs + B.downs, 0);
	ck_assert_int_eq(B.ups, 1);
}
END_TEST

START_TEST(newer_connection_replaces)
{
	uint8_t f[FRAME_MAX];
	struct tclient *c;
	size_t len;

	both_up();
	/* Another connection of node1 that greets correctly is taken for a
	 * restarted node1: it replaces the link, and the old connection is
	 * told why. */
	c = node1_client(ctl_port[1]);
	len = hello_frame(f, sizeof(f), "node1", "vms", 99);
	client_send(c, f, len);
	WAIT_FOR(B.ups == 2, 3000);
	ck_assert_int_eq(B.downs, 1);
	ck_assert_uint_eq(B.hello_epoch, 99);
	WAIT_FOR(A.downs == 1, 3000);
	/* node1 reconnects by itself and replaces that one in turn. */
	WAIT_FOR(A.ups == 2 && B.ups == 3, 5000);
	ck_assert_int_eq(B.downs, 2);
	ck_assert_uint_eq(B.hello_epoch, 11);
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_errors, 1);
	ck_assert_msg(strstr(c->text, "replaced by a newer connection"), "%s",
		      c->text);
	client_free(c);
	traffic_flows();
}
END_TEST

START_TEST(bad_frame_on_the_link)
{
	struct peer_stats st;
	uint8_t f[FRAME_MAX];
	struct tclient *c;
	size_t len;

	both_up();
	/* node1 away; an impostor with node1's key greets, sends a good
	 * frame, then one of another version: refused, counted, the link
	 * goes down; the real node1 gets in again. */
	close_side(&A);
	WAIT_FOR(B.downs == 1, 3000);
	c = node1_client(ctl_port[1]);
	len = hello_frame(f, sizeof(f), "node1", "vms", 99);
	client_send(c, f, len);
	WAIT_FOR(B.ups == 2, 3000);
	len = state_frame(f, sizeof(f), 1, 5);
	client_send(c, f, len);
	WAIT_FOR(B.last_seq == 1, 3000);
	len = state_frame(f, sizeof(f), 2, 5);
	f[2] = 9;
	client_send(c, f, len);
	WAIT_FOR(c->closed, 3000);
	ck_assert_int_eq(c->n_errors, 1);
	ck_assert_msg(strstr(c->text, "version 9"), "%s", c->text);
	ck_assert_int_eq(B.downs, 2);
	ck_assert(!peer_up(B.peer));
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_uint_eq(st.disconnects, 2);
	client_free(c);
	open_side(&A);
	WAIT_FOR(A.ups == 2 && B.ups == 3, 5000);
	ck_assert_uint_eq(B.hello_epoch, 11);
	traffic_flows();
}
END_TEST

START_TEST(silent_clients_dropped)
{
	struct peer_stats st;
	struct tclient *raw, *tls;

	both_up();
	/* Silent TCP: never starts TLS.  Silent TLS: never says HELLO. */
	raw = raw_client(ctl_port[1]);
	tls = node1_client(ctl_port[1]);
	run_for(1000);
	ck_assert(!raw->closed);
	ck_assert(!tls->closed);
	traffic_flows(); /* meanwhile, the link works */
	WAIT_FOR(raw->closed && tls->closed, 4000);
	ck_assert_uint_ge(raw->closed_ms - raw->open_ms, 1900);
	ck_assert_uint_ge(tls->closed_ms - tls->open_ms, 1900);
	ck_assert_int_eq(tls->n_errors, 1);
	ck_assert_str_eq(tls->text, "no HELLO within 2000 ms");
	peer_get_stats(B.peer, &st);
	ck_assert_uint_eq(st.handshake_failures, 1);
	ck_assert_uint_eq(st.rejected, 1);
	client_free(raw);
	client_free(tls);
	traffic_flows();
}
END_TEST

START_TEST(pending_connections_bounded)
{
	struct tclient *c[10];
	int closed = 0;

	both_up();
	for (int i = 0; i < 10; i++)
		c[i] = raw_client(ctl_port[1]);
	run_for(300);
	/* Only a few wait: the oldest were dropped for the newer. */
	for (int i = 0; i < 10; i++)
		closed += c[i]->closed;
	ck_assert_int_ge(closed, 10 - 4);
	ck_assert(!c[9]->closed);
	/* The real peer still gets in while squatters hold the slots. */
	for (int i = 0; i < 10; i++)
		if (c[i]->closed) {
			client_free(c[i]);
			c[i] = raw_client(ctl_port[1]);
		}
	close_side(&A);
	WAIT_FOR(B.downs == 1, 3000);
	open_side(&A);
	WAIT_FOR(A.ups == 2 && B.ups == 2, 5000);
	traffic_flows();
	for (int i = 0; i < 10; i++)
		client_free(c[i]);
}
END_TEST

START_TEST(open_errors)
{
	char err[256];
	struct peer *p = NULL;
	struct conf *bad;
	char *saved;

	/* The port is taken. */
	open_side(&A);
	ck_assert_int_eq(peer_open(A.conf, &cb_a, &p, err, sizeof(err)),
			 -EADDRINUSE);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, "127.0.0.1:") && strstr(err, "in use"), "%s",
		      err);

	/* A missing key file is named. */
	bad = B.conf;
	saved = bad->tls_key;
	bad->tls_key = (char *)"/nonexistent/node2.key";
	ck_assert_int_lt(peer_open(bad, &cb_b, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, "/nonexistent/node2.key"), "%s", err);
	bad->tls_key = saved;

	/* A key that is not the certificate's. */
	saved = bad->tls_cert;
	bad->tls_cert = (char *)cpath("node1.pem");
	ck_assert_int_lt(peer_open(bad, &cb_b, &p, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "does not match"), "%s", err);
	bad->tls_cert = saved;
	peer_close(NULL);
}
END_TEST

/* ---- tlsc alone, over socket pairs ---- */

struct pair {
	struct tlsc *cl, *sv;
	int rc_cl, rc_sv;
};

static SSL_CTX *ctx_or_die(enum tlsc_side side, const char *ca,
			   const char *cert, const char *key)
{
	char err[256];
	SSL_CTX *ctx = tlsc_ctx_new(side, cpath(ca), cpath(cert), cpath(key),
				    err, sizeof(err));

	ck_assert_msg(ctx != NULL, "%s", err);
	return ctx;
}

static void pair_open(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx,
		      const char *sni, const char *expect_cn)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, sv),
			 0);
	p->cl = tlsc_new(cctx, sv[0], TLSC_CLIENT, sni, expect_cn);
	p->sv = tlsc_new(sctx, sv[1], TLSC_SERVER, NULL, NULL);
	ck_assert_ptr_nonnull(p->cl);
	ck_assert_ptr_nonnull(p->sv);
	p->rc_cl = p->rc_sv = 0;
}

/* Drives both ends until both are ready or one failed. */
static void pair_pump(struct pair *p, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		if (p->rc_cl >= 0)
			p->rc_cl = tlsc_io(p->cl, true, true);
		if (p->rc_sv >= 0)
			p->rc_sv = tlsc_io(p->sv, true, true);
	}
}

static void pair_close(struct pair *p)
{
	tlsc_free(p->cl);
	tlsc_free(p->sv);
}

static SSL_CTX *sni_a, *sni_b;

static SSL_CTX *pick(const char *sni, void *arg)
{
	ck_assert_ptr_eq(arg, &sni_a);
	if (strcmp(sni, "vms") == 0)
		return sni_a;
	if (strcmp(sni, "lab") == 0)
		return sni_b;
	return NULL;
}

START_TEST(tlsc_sni_selects_context)
{
	/* One server for two clusters with their own CAs: the context is
	 * chosen by SNI, certificate and trust store together. */
	SSL_CTX *dflt =
		ctx_or_die(TLSC_SERVER, "ca.pem", "node2.pem", "node2.key");
	SSL_CTX *cl_vms =
		ctx_or_die(TLSC_CLIENT, "ca.pem", "node1.pem", "node1.key");
	SSL_CTX *cl_lab =
		ctx_or_die(TLSC_CLIENT, "intruder/ca.pem", "intruder/node1.pem",
			   "intruder/node1.key");
	struct pair p;

	sni_a = ctx_or_die(TLSC_SERVER, "ca.pem", "node2.pem", "node2.key");
	sni_b = ctx_or_die(TLSC_SERVER, "intruder/ca.pem", "intruder/node2.pem",
			   "intruder/node2.key");
	tlsc_ctx_set_sni(dflt, pick, &sni_a);

	/* Each cluster's client gets in under its name. */
	pair_open(&p, cl_vms, dflt, "vms", "node2");
	pair_pump(&p, 50);
	ck_assert(tlsc_ready(p.cl) && tlsc_ready(p.sv));
	ck_assert_str_eq(tlsc_peer_cn(p.sv), "node1");
	ck_assert_str_eq(tlsc_peer_cn(p.cl), "node2");
	ck_assert_str_eq(tlsc_sni(p.sv), "vms");
	ck_assert_ptr_null(tlsc_sni(p.cl));
	pair_close(&p);
	pair_open(&p, cl_lab, dflt, "lab", "node2");
	pair_pump(&p, 50);
	ck_assert(tlsc_ready(p.cl) && tlsc_ready(p.sv));
	ck_assert_str_eq(tlsc_sni(p.sv), "lab");
	pair_close(&p);

	/* A cluster's certificate under the other's name: the server
	 * presents the other CA's certificate, and trusts only that CA. */
	pair_open(&p, cl_lab, dflt, "vms", NULL);
	pair_pump(&p, 50);
	ck_assert_int_lt(p.rc_cl, 0);
	ck_assert_msg(strstr(tlsc_error(p.cl), "certificate verify failed"),
		      "%s", tlsc_error(p.cl));
	pair_close(&p);

	/* ... and the other way round: the client trusts the vms server,
	 * but its certificate is of the lab CA, which vms does not trust. */
	SSL_CTX *cl_mixed =
		ctx_or_die(TLSC_CLIENT, "ca.pem", "intruder/node1.pem",
			   "intruder/node1.key");
	pair_open(&p, cl_mixed, dflt, "vms", "node2");
	pair_pump(&p, 50);
	ck_assert_int_eq(p.rc_sv, -EACCES);
	ck_assert_msg(strstr(tlsc_error(p.sv), "certificate verify failed"),
		      "%s", tlsc_error(p.sv));
	ck_assert_int_lt(p.rc_cl, 0);
	pair_close(&p);
	tlsc_ctx_free(cl_mixed);

	/* An unknown name, and no name. */
	pair_open(&p, cl_vms, dflt, "nope", NULL);
	pair_pump(&p, 50);
	ck_assert_int_lt(p.rc_cl, 0);
	ck_assert_int_lt(p.rc_sv, 0);
	ck_assert_msg(strstr(tlsc_error(p.cl), "unrecognized name"), "%s",
		      tlsc_error(p.cl));
	ck_assert(!tlsc_ready(p.sv));
	ck_assert_ptr_null(tlsc_peer_cn(p.sv));
	pair_close(&p);
	pair_open(&p, cl_vms, dflt, NULL, NULL);
	pair_pump(&p, 50);
	ck_assert_int_lt(p.rc_sv, 0);
	pair_close(&p);

	/* A server that is not the one expected (CN). */
	pair_open(&p, cl_vms, dflt, "vms", "arbiter");
	pair_pump(&p, 50);
	ck_assert_int_eq(p.rc_cl, -EACCES);
	ck_assert_str_eq(tlsc_error(p.cl),
			 "handshake: the server's certificate is for "
			 "\"node2\", not \"arbiter\"");
	ck_assert_int_lt(p.rc_sv, 0);
	pair_close(&p);

	tlsc_ctx_free(dflt);
	tlsc_ctx_free(cl_vms);
	tlsc_ctx_free(cl_lab);
	tlsc_ctx_free(sni_a);
	tlsc_ctx_free(sni_b);
}
END_TEST

/* A frame of exactly the largest size (unknown tags fill it). */
static size_t big_frame(uint8_t *f, uint64_t seq)
{
	struct wire_buf b;
	char s[WIRE_MAX_STR + 1];
	size_t left;
	uint16_t t = 100;
	int rc;

	memset(s, 'q', WIRE_MAX_STR);
	s[WIRE_MAX_STR] = '\0';
	wire_begin(&b, f, FRAME_MAX, WIRE_T_STATE);
	wire_put_u64(&b, F_REQ_ID, seq);
	left = WIRE_MAX_PAYLOAD - 12;
	while (left >= 4 + WIRE_MAX_STR) {
		wire_put_str(&b, t++, s);
		left -= 4 + WIRE_MAX_STR;
	}
	s[left - 4] = '\0';
	wire_put_str(&b, t, s);
	rc = wire_end(&b);
	ck_assert_int_eq(rc, FRAME_MAX);
	return (size_t)rc;
}

START_TEST(tlsc_frames_and_errors)
{
	SSL_CTX *sctx =
		ctx_or_die(TLSC_SERVER, "ca.pem", "node2.pem", "node2.key");
	SSL_CTX *cctx =
		ctx_or_die(TLSC_CLIENT, "ca.pem", "node1.pem", "node1.key");
	static uint8_t f[FRAME_MAX];
	struct wire_msg m;
	struct pair p;
	uint64_t seq;
	int got = 0, rc;

	/* Frames of the largest size, more than the socket and the
	 * receive buffer hold (60 queued at once, 100 more while those are
	 * in flight): all arrive, in order. */
	pair_open(&p, cctx, sctx, "vms", "node2");
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(tlsc_send(p.cl, f, big_frame(f, (uint64_t)i)),
				 0);
	for (int round = 0; round < 5000 && got < 160; round++) {
		if (round < 100)
			ck_assert_int_eq(
				tlsc_send(p.cl, f,
					  big_frame(f, (uint64_t)round + 60)),
				0);
		pair_pump(&p, 1);
		ck_assert_int_ge(p.rc_cl, 0);
		ck_assert_int_ge(p.rc_sv, 0);
		while ((rc = tlsc_recv(p.sv, &m)) == 1) {
			ck_assert_uint_eq(m.n_fields, 1);
			ck_assert_int_eq(wire_get_u64(&m, F_REQ_ID, &seq), 0);
			ck_assert_uint_eq(seq, (uint64_t)got);
			got++;
		}
		ck_assert_int_eq(rc, 0);
	}
	ck_assert_int_eq(got, 160);

	/* The send queue is bounded. */
	rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = tlsc_send(p.cl, f, FRAME_MAX);
	ck_assert_int_eq(rc, -ENOBUFS);
	ck_assert_int_eq(tlsc_send(p.cl, f, FRAME_MAX + 1), -EINVAL);
	ck_assert_int_eq(tlsc_send(p.cl, f, 0), -EINVAL);
	pair_close(&p);

	/* Each kind of garbage gives its code, and stays given. */
	static const struct {
		const char *bytes;
		size_t len;
		int rc;
		const char *why;
	} g[] = {
		{"GET / HTTP/1.1\r\n", 16, -EPROTO, "bad magic"},
		{"CM\2\1\0\0\0\0", 8, -EPROTONOSUPPORT, "version 2"},
		{"CM\1\1\0\1\0\0", 8, -EMSGSIZE, "over 16384"},
		{"CM\1\1\0\0\0\3\0\1\0", 11, -EBADMSG, "malformed HELLO"},
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		pair_open(&p, cctx, sctx, "vms", NULL);
		ck_assert_int_eq(tlsc_send(p.cl, g[i].bytes, g[i].len), 0);
		pair_pump(&p, 20);
		ck_assert(tlsc_ready(p.sv));
		ck_assert_int_eq(tlsc_recv(p.sv, &m), g[i].rc);
		ck_assert_int_eq(tlsc_recv(p.sv, &m), g[i].rc);
		ck_assert_msg(strstr(tlsc_error(p.sv), g[i].why), "%s",
			      tlsc_error(p.sv));
		/* The refusing side can still say why before it closes;
		 * frames sent before a close are delivered. */
		struct wire_buf b;
		wire_begin(&b, f, sizeof(f), WIRE_T_ERROR);
		wire_put_str(&b, F_TEXT, "bye");
		rc = wire_end(&b);
		ck_assert_int_eq(tlsc_send(p.sv, f, (size_t)rc), 0);
		pair_pump(&p, 1);
		tlsc_free(p.sv);
		p.sv = NULL;
		int n = 0;
		for (int k = 0; k < 20 && p.rc_cl >= 0; k++) {
			p.rc_cl = tlsc_io(p.cl, true, true);
			while (tlsc_recv(p.cl, &m) == 1) {
				ck_assert_uint_eq(m.type, WIRE_T_ERROR);
				n++;
			}
		}
		ck_assert_int_eq(n, 1);
		ck_assert_int_eq(p.rc_cl, -ECONNRESET);
		ck_assert_msg(strstr(tlsc_error(p.cl), "closed by the peer"),
			      "%s", tlsc_error(p.cl));
		tlsc_free(p.cl);
	}

	tlsc_ctx_free(sctx);
	tlsc_ctx_free(cctx);
}
END_TEST

START_TEST(tlsc_ctx_errors)
{
	char err[256];

	ck_assert_ptr_null(tlsc_ctx_new(TLSC_SERVER, "/nonexistent/ca.pem",
					cpath("node1.pem"), cpath("node1.key"),
					err, sizeof(err)));
	ck_assert_msg(strstr(err, "CA file /nonexistent/ca.pem"), "%s", err);
	/* A key file as CA: no certificate in it. */
	ck_assert_ptr_null(tlsc_ctx_new(TLSC_SERVER, cpath("node1.key"),
					cpath("node1.pem"), cpath("node1.key"),
					err, sizeof(err)));
	ck_assert_msg(strstr(err, "CA file") && strstr(err, "node1.key"), "%s",
		      err);
	ck_assert_ptr_null(tlsc_ctx_new(TLSC_CLIENT, cpath("ca.pem"),
					cpath("cluster.key"),
					cpath("node1.key"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "certificate file") &&
			      strstr(err, "cluster.key"),
		      "%s", err);
	ck_assert_ptr_null(tlsc_ctx_new(TLSC_CLIENT, cpath("ca.pem"),
					cpath("node1.pem"), cpath("node1.pem"),
					err, sizeof(err)));
	ck_assert_msg(strstr(err, "key file") && strstr(err, "node1.pem"), "%s",
		      err);
	ck_assert_ptr_null(tlsc_ctx_new(TLSC_CLIENT, cpath("ca.pem"),
					cpath("node1.pem"), cpath("node2.key"),
					err, sizeof(err)));
	ck_assert_msg(strstr(err, "node2.key does not match certificate") &&
			      strstr(err, "node1.pem"),
		      "%s", err);
}
END_TEST

static Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("channel");

	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, link_up_both_ways);
	tcase_add_test(tc, restart_reconnects);
	tcase_add_test(tc, raw_garbage_refused);
	tcase_add_test(tc, foreign_ca_refused);
	tcase_add_test(tc, wrong_peer_refused);
	tcase_add_test(tc, bad_frames_refused);
	tcase_add_test(tc, newer_connection_replaces);
	tcase_add_test(tc, bad_frame_on_the_link);
	tcase_add_test(tc, silent_clients_dropped);
	tcase_add_test(tc, pending_connections_bounded);
	tcase_add_test(tc, open_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("tlsc");
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tlsc_sni_selects_context);
	tcase_add_test(tc, tlsc_frames_and_errors);
	tcase_add_test(tc, tlsc_ctx_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(peer_suite());
}
