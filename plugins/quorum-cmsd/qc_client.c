/*
 * quorum-cmsd, node side: one TLS connection to the arbiter, kept up with
 * reconnects and backoff, over which request_vote, renew_lease and release
 * each send one VOTE_REQ and complete when its reply comes.
 *
 * Timing.  A granted lease ends, on this node's clock, at the time the
 * request was SENT plus the granted length: the arbiter counts from when it
 * received it, so this node's view always ends first.  A request that is
 * sent again (reconnect, "held, ask again in N ms") counts from its last
 * sending.
 *
 * Reachability.  The arbiter is Online while the connection is up and it
 * answered (or completed the handshake) within the last two leases.  When
 * nothing else is under way the client asks a read-only QUERY once a lease,
 * so that an arbiter that went away is noticed on a slave too; a request
 * left unanswered for two leases closes the connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qc.h"
#include "tlsc.h"
#include "wire.h"

#define QCC_BACKOFF_MIN_MS 200
#define QCC_BACKOFF_MAX_MS 5000
#define QCC_OP_RETRY_MS	   100 /* reconnect pace while an op waits */

enum qcc_state { QCC_IDLE, QCC_CONNECTING, QCC_HANDSHAKE, QCC_READY };
enum qcc_phase { P_WAIT_CONN, P_SENT, P_RETRY };

struct qc_client {
	const struct cmsd_host *h;
	const struct qc_conf *cf;
	SSL_CTX *ctx;
	bool started;
	enum qcc_state st;
	int fd;		  /* while CONNECTING; then tlsc owns it */
	struct tlsc *tls; /* from HANDSHAKE on */
	struct cmsd_watch *w;
	unsigned w_events;
	struct cmsd_timer *t_conn;  /* backoff, or the attempt's deadline */
	struct cmsd_timer *t_op;    /* the op's connect deadline or retry */
	struct cmsd_timer *t_probe; /* liveness tick while READY */
	uint64_t backoff_ms;
	uint64_t last_alive_ms; /* handshake done or last reply */
	uint64_t lease_ms;	/* last asked for: probe pace, liveness */
	bool online;		/* as last reported */
	uint64_t next_id;
	uint64_t probe_id, probe_sent_ms; /* QUERY in flight, 0: none */
	char last_err[160];
	uint64_t sends; /* frames queued, to keep write interest */

	/* The op under way (the agent runs one at a time). */
	struct {
		struct cmsd_op *op; /* NULL: none */
		unsigned kind;
		struct cmsd_vote *out;
		char node[QC_ID_MAX], peer[QC_ID_MAX];
		uint64_t epoch, generation, flags, lease_ms;
		enum qcc_phase phase;
		uint64_t id, sent_ms;
	} p;
};

static const char *qcc_kind_name(unsigned kind)
{
	switch (kind) {
	case WIRE_VOTE_REQUEST:
		return "request_vote";
	case WIRE_VOTE_RENEW:
		return "renew_lease";
	case WIRE_VOTE_RELEASE:
		return "release";
	}
	return "query";
}

static uint64_t qcc_now(const struct qc_client *c)
{
	return c->h->now_ms(c->h);
}

static void qcc_connect(struct qc_client *c);
static void qcc_send_vote(struct qc_client *c);

/* ---- reachability ---- */

static void qcc_reach(struct qc_client *c)
{
	bool on = c->st == QCC_READY &&
		  qcc_now(c) - c->last_alive_ms <= 2 * c->lease_ms;
	char detail[160];

	if (on == c->online)
		return;
	c->online = on;
	snprintf(detail, sizeof(detail), "[controller] %s (%s)", c->cf->name,
		 on ? "Online" : "Offline");
	if (c->h->notify) {
		c->h->notify(c->h, CMSD_EV_STATE_CHANGED, detail);
		c->h->notify(c->h,
			     on ? CMSD_EV_QUORUM_GAINED : CMSD_EV_QUORUM_LOST,
			     on		    ? "arbiter reachable"
			     : *c->last_err ? c->last_err
					    : "no answer from the arbiter");
	}
}

/* ---- the op ---- */

static void qcc_complete(struct qc_client *c, int rc)
{
	struct cmsd_op *op = c->p.op;

	c->p.op = NULL;
	c->h->timer_disarm(c->t_op);
	if (op)
		c->h->op_done(op, rc);
}

/* The op waits for a connection: at most connect-timeout from now. */
static void qcc_wait_conn(struct qc_client *c)
{
	c->p.phase = P_WAIT_CONN;
	c->h->timer_arm(c->t_op, c->cf->connect_timeout_ms);
	if (c->st == QCC_IDLE) {
		c->h->timer_disarm(c->t_conn);
		qcc_connect(c);
	}
}

static void qcc_op_timer(void *arg)
{
	struct qc_client *c = arg;

	if (!c->p.op)
		return;
	if (c->p.phase == P_WAIT_CONN) {
		c->h->log(c->h, CMSD_LOG_WARNING,
			  "%s: arbiter %s not reachable within %" PRIu64
			  " ms%s%s",
			  qcc_kind_name(c->p.kind), c->cf->name,
			  c->cf->connect_timeout_ms, *c->last_err ? ": " : "",
			  c->last_err);
		qcc_complete(c, -ENOTCONN);
		return;
	}
	if (c->p.phase == P_RETRY) {
		if (c->st == QCC_READY)
			qcc_send_vote(c);
		else
			qcc_wait_conn(c);
	}
}

/* ---- the connection ---- */

static void qcc_watch(struct qc_client *c, unsigned ev)
{
	if (c->w && ev != c->w_events) {
		c->h->watch_set(c->w, ev);
		c->w_events = ev;
	}
}

static void qcc_close(struct qc_client *c)
{
	if (c->w)
		c->h->watch_free(c->w);
	c->w = NULL;
	c->w_events = 0;
	if (c->tls)
		tlsc_free(c->tls); /* closes the fd */
	else if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->fd = -1;
	c->st = QCC_IDLE;
	c->probe_id = 0;
	c->h->timer_disarm(c->t_conn);
	c->h->timer_disarm(c->t_probe);
}

/* The connection is lost or could not be made: note why, try again. */
static void qcc_fail(struct qc_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void qcc_fail(struct qc_client *c, const char *fmt, ...)
{
	bool was_ready = c->st == QCC_READY;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_err, sizeof(c->last_err), fmt, ap);
	va_end(ap);
	qcc_close(c);
	/* Identical lines are rate-limited by the agent. */
	c->h->log(c->h, was_ready ? CMSD_LOG_WARNING : CMSD_LOG_INFO,
		  "arbiter %s (%s:%u): %s", c->cf->name, c->cf->addr,
		  c->cf->port, c->last_err);
	qcc_reach(c);
	if (!c->started)
		return;
	if (c->p.op && c->p.phase == P_SENT) {
		/* Sent again once connected: its lease counts from then. */
		c->p.phase = P_WAIT_CONN;
		c->h->timer_arm(c->t_op, c->cf->connect_timeout_ms);
	}
	if (c->p.op && c->p.phase == P_WAIT_CONN) {
		c->h->timer_arm(c->t_conn, QCC_OP_RETRY_MS);
		return;
	}
	c->h->timer_arm(c->t_conn, c->backoff_ms);
	c->backoff_ms *= 2;
	if (c->backoff_ms > QCC_BACKOFF_MAX_MS)
		c->backoff_ms = QCC_BACKOFF_MAX_MS;
}

static int qcc_send(struct qc_client *c, struct wire_buf *b)
{
	int n = wire_end(b);

	if (n < 0)
		return n;
	n = tlsc_send(c->tls, b->data, (size_t)n);
	if (n < 0)
		return n;
	/* Flushed when the loop finds the socket writable. */
	c->sends++;
	qcc_watch(c, CMSD_WATCH_READ | CMSD_WATCH_WRITE);
	return 0;
}

static void qcc_put_common(struct qc_client *c, struct wire_buf *b,
			   unsigned kind, uint64_t id)
{
	wire_put_str(b, F_NODE, *c->p.node ? c->p.node : c->h->node_id);
	wire_put_str(b, F_CLUSTER, c->h->cluster_id);
	wire_put_u64(b, F_KIND, kind);
	wire_put_u64(b, F_REQ_ID, id);
}

static void qcc_send_vote(struct qc_client *c)
{
	uint8_t buf[1024];
	struct wire_buf b;
	int rc;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_VOTE_REQ);
	c->p.id = ++c->next_id;
	qcc_put_common(c, &b, c->p.kind, c->p.id);
	wire_put_u64(&b, F_EPOCH, c->p.epoch);
	wire_put_u64(&b, F_GENERATION, c->p.generation);
	wire_put_u64(&b, F_FLAGS, c->p.flags);
	wire_put_u64(&b, F_LEASE_MS, c->p.lease_ms);
	if (*c->p.peer)
		wire_put_str(&b, F_PEER, c->p.peer);
	c->p.phase = P_SENT;
	c->p.sent_ms = qcc_now(c);
	c->h->timer_disarm(c->t_op);
	rc = qcc_send(c, &b);
	if (rc < 0)
		qcc_fail(c, "cannot send the %s request: %s",
			 qcc_kind_name(c->p.kind), strerror(-rc));
}

static void qcc_send_probe(struct qc_client *c)
{
	uint8_t buf[512];
	struct wire_buf b;
	int rc;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_VOTE_REQ);
	c->probe_id = ++c->next_id;
	c->probe_sent_ms = qcc_now(c);
	wire_put_str(&b, F_NODE, c->h->node_id);
	wire_put_str(&b, F_CLUSTER, c->h->cluster_id);
	wire_put_u64(&b, F_KIND, QC_VOTE_QUERY);
	wire_put_u64(&b, F_REQ_ID, c->probe_id);
	rc = qcc_send(c, &b);
	if (rc < 0)
		qcc_fail(c, "cannot send a query: %s", strerror(-rc));
}

static void qcc_ready(struct qc_client *c)
{
	c->st = QCC_READY;
	c->backoff_ms = QCC_BACKOFF_MIN_MS;
	c->last_alive_ms = qcc_now(c);
	c->h->timer_disarm(c->t_conn);
	c->h->log(c->h, CMSD_LOG_NOTICE, "connected to arbiter %s (%s:%u)",
		  c->cf->name, c->cf->addr, c->cf->port);
	c->last_err[0] = '\0';
	qcc_reach(c);
	c->h->timer_arm(c->t_probe, c->lease_ms / 2);
	if (c->p.op && c->p.phase == P_WAIT_CONN)
		qcc_send_vote(c);
	else
		qcc_send_probe(c);
}

/* A VOTE_REPLY for the op under way. */
static void qcc_op_reply(struct qc_client *c, const struct wire_msg *m)
{
	uint64_t granted = 0, epoch = 0, lease = 0, retry = 0;
	char holder[QC_ID_MAX] = "", reason[QC_REASON_MAX] = "";
	struct cmsd_vote *out = c->p.out;

	if (wire_get_u64(m, F_GRANTED, &granted) < 0 ||
	    wire_get_u64(m, F_EPOCH, &epoch) < 0) {
		qcc_fail(c, "malformed reply (no granted or epoch)");
		return;
	}
	wire_get_u64(m, F_LEASE_MS, &lease);
	wire_get_u64(m, F_RETRY_MS, &retry);
	if (wire_get_str(m, F_HOLDER, holder, sizeof(holder)) < 0)
		holder[0] = '\0';
	if (wire_get_str(m, F_TEXT, reason, sizeof(reason)) < 0)
		reason[0] = '\0';
	if (c->p.kind == WIRE_VOTE_RELEASE) {
		c->h->log(c->h, CMSD_LOG_INFO, "release: %s", reason);
		qcc_complete(c, 0);
		return;
	}
	if (granted && lease == 0) {
		qcc_fail(c, "malformed reply (granted without a lease)");
		return;
	}
	if (out) {
		out->granted = granted ? 1 : 0;
		out->expires_ms = granted ? c->p.sent_ms + lease : 0;
		out->epoch = epoch;
		snprintf(out->holder, sizeof(out->holder), "%s", holder);
		snprintf(out->reason, sizeof(out->reason), "%s", reason);
	}
	if (!granted && retry > 0 && retry <= 2 * c->p.lease_ms) {
		/* Held by the other node for a while yet: ask again when the
		 * arbiter says it may answer otherwise.  The agent's deadline
		 * and cancel() bound the wait. */
		c->p.phase = P_RETRY;
		c->h->timer_arm(c->t_op, retry);
		return;
	}
	qcc_complete(c, 0);
}

static void qcc_frame(struct qc_client *c, const struct wire_msg *m)
{
	char text[256] = "";
	uint64_t id = 0;

	if (m->type == WIRE_T_ERROR) {
		if (wire_get_str(m, F_TEXT, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "no reason given");
		c->h->log(c->h, CMSD_LOG_ERR, "arbiter %s refused us: %s",
			  c->cf->name, text);
		if (c->p.op && c->p.phase == P_SENT)
			qcc_complete(c, -EPROTO);
		qcc_fail(c, "refused by the arbiter: %s", text);
		return;
	}
	if (m->type != WIRE_T_VOTE_REPLY) {
		qcc_fail(c, "unexpected %s frame", wire_type_name(m->type));
		return;
	}
	if (wire_get_u64(m, F_REQ_ID, &id) < 0) {
		qcc_fail(c, "malformed reply (no request id)");
		return;
	}
	c->last_alive_ms = qcc_now(c);
	if (id == c->probe_id) {
		c->probe_id = 0;
	} else if (c->p.op && c->p.phase == P_SENT && id == c->p.id) {
		qcc_op_reply(c, m);
		if (c->st != QCC_READY)
			return;
	}
	/* Anything else answers a request whose op was cancelled: ignored. */
	qcc_reach(c);
}

/* Drives the TLS connection and handles what arrived. */
static void qcc_io(struct qc_client *c, bool readable, bool writable)
{
	struct tlsc *tls = c->tls;
	uint64_t sends = c->sends;
	struct wire_msg m;
	int mask, rc;

	mask = tlsc_io(tls, readable, writable);
	if (mask < 0) {
		qcc_fail(c, "%s", tlsc_error(tls));
		return;
	}
	if (c->st == QCC_HANDSHAKE && tlsc_ready(tls))
		qcc_ready(c);
	while (c->tls == tls && (rc = tlsc_recv(tls, &m)) != 0) {
		if (rc < 0) {
			qcc_fail(c, "garbage from the arbiter: %s",
				 strerror(-rc));
			return;
		}
		qcc_frame(c, &m);
	}
	if (c->tls != tls)
		return;
	/* A frame queued since tlsc_io keeps the write interest qcc_send
	 * set; otherwise write only while TLS has bytes to send. */
	if (c->sends == sends)
		qcc_watch(c, CMSD_WATCH_READ |
				     (mask & TLSC_WANT_WRITE ? CMSD_WATCH_WRITE
							     : 0));
}

static void qcc_tcp_done(struct qc_client *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		qcc_fail(c, "connect: %s", strerror(err));
		return;
	}
	c->tls = tlsc_new(c->ctx, c->fd, TLSC_CLIENT, c->h->cluster_id,
			  "arbiter");
	if (!c->tls) {
		qcc_fail(c, "out of memory for the TLS connection");
		return;
	}
	c->fd = -1; /* the TLS connection owns it now */
	c->st = QCC_HANDSHAKE;
	qcc_io(c, false, true);
}

static void qcc_watch_cb(int fd, unsigned events, void *arg)
{
	struct qc_client *c = arg;

	(void)fd;
	if (c->st == QCC_CONNECTING) {
		if (events & (CMSD_WATCH_WRITE | CMSD_WATCH_READ))
			qcc_tcp_done(c);
		return;
	}
	if (c->tls)
		qcc_io(c, events & CMSD_WATCH_READ, events & CMSD_WATCH_WRITE);
}

static void qcc_connect(struct qc_client *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (qc_sockaddr(c->cf->addr, c->cf->port, &ss, &len) < 0) {
		qcc_fail(c, "bad address %s", c->cf->addr);
		return;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		qcc_fail(c, "socket: %s", strerror(errno));
		return;
	}
	/* Small frames that must leave at once; a dead peer noticed by the
	 * liveness tick, keepalive as a backstop. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->fd = fd;
	c->st = QCC_CONNECTING;
	c->w = c->h->watch_new(c->h, fd, CMSD_WATCH_WRITE, qcc_watch_cb, c);
	if (!c->w) {
		qcc_fail(c, "out of memory for an fd watch");
		return;
	}
	c->w_events = CMSD_WATCH_WRITE;
	/* The attempt, TCP and TLS, gets connect-timeout. */
	c->h->timer_arm(c->t_conn, c->cf->connect_timeout_ms);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS) {
		qcc_fail(c, "connect: %s", strerror(errno));
		return;
	}
	/* Connected or in progress: writability tells. */
}

static void qcc_conn_timer(void *arg)
{
	struct qc_client *c = arg;

	switch (c->st) {
	case QCC_IDLE:
		if (c->started)
			qcc_connect(c);
		break;
	case QCC_CONNECTING:
		qcc_fail(c, "connect: no answer within %" PRIu64 " ms",
			 c->cf->connect_timeout_ms);
		break;
	case QCC_HANDSHAKE:
		qcc_fail(c, "TLS handshake not done within %" PRIu64 " ms",
			 c->cf->connect_timeout_ms);
		break;
	case QCC_READY:
		break;
	}
}

/* While READY: notice silence, keep the arbiter asked. */
static void qcc_probe_timer(void *arg)
{
	struct qc_client *c = arg;
	uint64_t now = qcc_now(c), pending = 0;

	if (c->st != QCC_READY)
		return;
	if (c->p.op && c->p.phase == P_SENT)
		pending = c->p.sent_ms;
	else if (c->probe_id)
		pending = c->probe_sent_ms;
	if (pending && now - pending > 2 * c->lease_ms) {
		qcc_fail(c, "no answer within %" PRIu64 " ms", 2 * c->lease_ms);
		return;
	}
	if (!pending && now - c->last_alive_ms >= c->lease_ms)
		qcc_send_probe(c);
	if (c->st != QCC_READY)
		return;
	qcc_reach(c);
	c->h->timer_arm(c->t_probe, c->lease_ms / 2);
}

/* ---- ops ---- */

int qcc_new(const struct cmsd_host *h, const struct qc_conf *cf,
	    struct qc_client **out)
{
	struct qc_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->h = h;
	c->cf = cf;
	c->fd = -1;
	c->lease_ms = QC_DEFAULT_LEASE_MS;
	c->backoff_ms = QCC_BACKOFF_MIN_MS;
	c->t_conn = h->timer_new(h, qcc_conn_timer, c);
	c->t_op = h->timer_new(h, qcc_op_timer, c);
	c->t_probe = h->timer_new(h, qcc_probe_timer, c);
	if (!c->t_conn || !c->t_op || !c->t_probe) {
		qcc_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void qcc_free(struct qc_client *c)
{
	if (!c)
		return;
	c->started = false;
	qcc_close(c);
	if (c->t_conn)
		c->h->timer_free(c->t_conn);
	if (c->t_op)
		c->h->timer_free(c->t_op);
	if (c->t_probe)
		c->h->timer_free(c->t_probe);
	tlsc_ctx_free(c->ctx);
	free(c);
}

int qcc_start(struct qc_client *c, struct cmsd_op *op)
{
	const struct cmsd_host *h = c->h;
	char err[256];

	(void)op;
	if (c->started)
		return 0;
	if (h->size <
		    offsetof(struct cmsd_host, tls_key) + sizeof(h->tls_key) ||
	    !h->node_id || !h->cluster_id || !h->tls_ca || !h->tls_cert ||
	    !h->tls_key) {
		h->log(h, CMSD_LOG_ERR,
		       "start: the arbiter knows nodes by their certificates: "
		       "the cluster needs <tls ca cert key> and an id");
		return -EINVAL;
	}
	if (!c->ctx) {
		c->ctx = tlsc_ctx_new(TLSC_CLIENT, h->tls_ca, h->tls_cert,
				      h->tls_key, err, sizeof(err));
		if (!c->ctx) {
			h->log(h, CMSD_LOG_ERR, "start: %s", err);
			return -EINVAL;
		}
	}
	c->started = true;
	c->backoff_ms = QCC_BACKOFF_MIN_MS;
	/* Connecting goes on in the background: a node starts (as slave)
	 * whether the arbiter is there or not; monitor and the status line
	 * tell. */
	qcc_connect(c);
	return 0;
}

int qcc_stop(struct qc_client *c, struct cmsd_op *op)
{
	(void)op;
	c->started = false;
	if (c->p.op)
		qcc_complete(c, -ECANCELED);
	qcc_close(c);
	snprintf(c->last_err, sizeof(c->last_err), "stopped");
	qcc_reach(c);
	return 0;
}

int qcc_monitor(struct qc_client *c, struct cmsd_op *op)
{
	(void)op;
	return c->st == QCC_READY &&
			       qcc_now(c) - c->last_alive_ms <= 2 * c->lease_ms
		       ? CMSD_RUNNING
		       : CMSD_STOPPED;
}

int qcc_vote(struct qc_client *c, struct cmsd_op *op, unsigned kind,
	     const struct cmsd_vote_request *req, struct cmsd_vote *out)
{
	const struct cmsd_host *h = c->h;

	if (!c->started)
		return -ENOTCONN;
	if (c->p.op)
		return -EBUSY;
	memset(&c->p, 0, sizeof(c->p));
	c->p.kind = kind;
	c->p.out = out;
	c->p.lease_ms = c->lease_ms;
	if (req) {
		snprintf(c->p.node, sizeof(c->p.node), "%s",
			 req->node_id ? req->node_id : "");
		c->p.epoch = req->epoch;
		c->p.generation = req->generation;
		c->p.flags = (req->data_usable ? WIRE_FL_DATA_USABLE : 0) |
			     (req->peer_alive ? WIRE_FL_PEER_ALIVE : 0);
		/* ABI 1.1 fields: only when the agent's struct has them. */
		if (req->size >= offsetof(struct cmsd_vote_request, lease_ms) +
					 sizeof(req->lease_ms) &&
		    req->lease_ms)
			c->p.lease_ms = req->lease_ms;
		if (req->size >= offsetof(struct cmsd_vote_request, peer_id) +
					 sizeof(req->peer_id) &&
		    req->peer_id)
			snprintf(c->p.peer, sizeof(c->p.peer), "%s",
				 req->peer_id);
		c->lease_ms = qc_clamp_lease(c->p.lease_ms);
	}
	if (!*c->p.node && h->node_id)
		snprintf(c->p.node, sizeof(c->p.node), "%s", h->node_id);
	if (out) {
		out->granted = 0;
		out->expires_ms = 0;
	}
	c->p.op = op;
	if (c->st == QCC_READY)
		qcc_send_vote(c);
	else
		qcc_wait_conn(c);
	/* Even a send that failed at once leaves the op waiting for the
	 * reconnect (qcc_fail): it always completes later, never here. */
	return CMSD_PENDING;
}

void qcc_cancel(struct qc_client *c, struct cmsd_op *op)
{
	if (!c->p.op || c->p.op != op)
		return;
	/* A reply still on its way carries an id nobody waits for. */
	c->p.op = NULL;
	c->p.id = 0;
	c->p.out = NULL;
	c->h->timer_disarm(c->t_op);
}
