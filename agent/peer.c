/*
 * The control channel to the other node (peer.h) on the agent's loop.
 *
 * Connections live in one of three places: the outgoing attempt (p->out,
 * lower node id only), the accepted ones not yet authenticated
 * (p->pending, at most PEER_MAX_PENDING), and the link (p->link, HELLO
 * received).  A connection that is neither authenticated nor greeted within
 * PEER_HELLO_TIMEOUT_MS is dropped, so that a silent or slow client cannot
 * hold a slot.
 *
 * Callbacks run from inside a connection's event handler.  They may call
 * peer_send() (the frame is queued and flushed once the handler is done)
 * but not peer_close().  A connection failing while its handler runs is
 * only marked dead and freed when the handler returns.
 */
#include "peer.h"

#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "tlsc.h"

#define PEER_BACKOFF_MIN_MS   100
#define PEER_BACKOFF_MAX_MS   2000
#define PEER_HELLO_TIMEOUT_MS 2000
#define PEER_MAX_PENDING      4
/* Frames handled per wake-up, so that a flooding peer cannot starve the
 * rest of the loop. */
#define PEER_BURST 64
/* Rejections and failures: at most PEER_LOG_BURST lines per window. */
#define PEER_LOG_WINDOW_MS 10000
#define PEER_LOG_BURST	   5
/* accept() out of descriptors: pause the listener this long. */
#define PEER_ACCEPT_PAUSE_MS 1000
#define PEER_ADDR_LEN	     64
#define PEER_FRAME_MAX	     (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)

struct peer_conn {
	struct peer *p;
	struct peer_conn *next; /* p->pending */
	struct tlsc *t;
	int fd; /* until t owns it */
	bool outgoing;
	bool connecting; /* TCP connect in progress */
	bool identified; /* certificate and SNI checked */
	bool hello_rx;
	bool busy;   /* its handler runs */
	bool dead;   /* free when the handler returns */
	bool kick;   /* run the handler again soon */
	int want;    /* TLSC_WANT_* from the last tlsc_io */
	short armed; /* events c->ev waits for */
	uint64_t since_ms;
	struct event *ev, *timer;
	char addr[PEER_ADDR_LEN];
};

struct peer {
	char *local_id, *peer_id, *cluster_id;
	struct sockaddr_storage peer_sa;
	socklen_t peer_salen;
	char listen_addr[PEER_ADDR_LEN], peer_addr[PEER_ADDR_LEN];
	struct peer_cb cb;
	SSL_CTX *sctx, *cctx;
	int lfd;
	struct event *lev, *lpause;
	bool connector; /* our id sorts lower: we connect */

	struct peer_conn *link;
	struct peer_conn *out;
	struct peer_conn *pending;
	size_t n_pending;
	struct event *retry;
	uint64_t backoff_ms;
	char last_connect_err[128];

	struct peer_stats st;
	uint64_t log_window_ms;
	unsigned log_count;
	unsigned long log_suppressed;
};

static void peer_conn_cb(evutil_socket_t fd, short what, void *arg);
static void peer_schedule_connect(struct peer *p);

/* The next attempt after the current backoff, which doubles for the one
 * after (100 ms, 200 ms ... 2 s); a link that came up resets it. */
static void peer_retry_later(struct peer *p)
{
	peer_schedule_connect(p);
	if (p->backoff_ms < PEER_BACKOFF_MAX_MS / 2)
		p->backoff_ms *= 2;
	else
		p->backoff_ms = PEER_BACKOFF_MAX_MS;
}

/* ---- logging ---- */

static void peer_set_error(struct peer *p, const char *text)
{
	size_t n = strnlen(text, sizeof(p->st.last_error) - 1);

	memcpy(p->st.last_error, text, n);
	p->st.last_error[n] = '\0';
}

/* Failures caused by the network or by a stranger are rate-limited; the
 * text also goes to stats.last_error. */
static void peer_logx(struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void peer_logx(struct peer *p, const char *fmt, ...)
{
	uint64_t now = loop_now_ms();
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	peer_set_error(p, line);
	if (now - p->log_window_ms >= PEER_LOG_WINDOW_MS) {
		if (p->log_suppressed)
			log_warnx("peer: %lu similar messages suppressed",
				  p->log_suppressed);
		p->log_window_ms = now;
		p->log_count = 0;
		p->log_suppressed = 0;
	}
	if (p->log_count >= PEER_LOG_BURST) {
		p->log_suppressed++;
		return;
	}
	p->log_count++;
	log_warnx("peer: %s", line);
}

static void peer_fmt_addr(const struct sockaddr *sa, socklen_t len, char *out,
			  size_t cap)
{
	char host[INET6_ADDRSTRLEN], serv[8];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, cap, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(out, cap, "[%s]:%s", host, serv);
	else
		snprintf(out, cap, "%s:%s", host, serv);
}

static int peer_resolve(const struct conf_endpoint *ep,
			struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];

	if (!ep->address)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", ep->port);
	if (getaddrinfo(ep->address, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Small frames matter more than throughput; a peer that vanished without
 * a FIN is noticed by keepalive (heartbeats say it sooner, but the
 * connection must not stay "up" for hours). */
static void peer_sockopts(int fd)
{
	int on = 1, idle = 5, intvl = 1, cnt = 3;
	unsigned int user_timeout = 10000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
		   sizeof(user_timeout));
}

/* ---- connections ---- */

static void peer_conn_timeout(evutil_socket_t fd, short what, void *arg);

static struct peer_conn *peer_conn_new(struct peer *p, int fd, bool outgoing,
				       const char *addr)
{
	struct peer_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = {PEER_HELLO_TIMEOUT_MS / 1000,
			     (PEER_HELLO_TIMEOUT_MS % 1000) * 1000};

	if (!c)
		return NULL;
	c->p = p;
	c->fd = fd;
	c->outgoing = outgoing;
	c->since_ms = loop_now_ms();
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->timer = evtimer_new(loop_base(), peer_conn_timeout, c);
	if (!c->timer || evtimer_add(c->timer, &tv) != 0) {
		if (c->timer)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	return c;
}

/* Frees c wherever it sits, with no callback and no reconnect. */
static void peer_conn_destroy(struct peer_conn *c)
{
	struct peer *p = c->p;

	if (p->link == c)
		p->link = NULL;
	if (p->out == c)
		p->out = NULL;
	for (struct peer_conn **pp = &p->pending; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			p->n_pending--;
			break;
		}
	}
	if (c->ev)
		event_free(c->ev);
	if (c->timer)
		event_free(c->timer);
	if (c->t)
		tlsc_free(c->t);
	else if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* c is over: free it now, or when its handler returns.  The owner hears
 * of a lost link; the connector tries again. */
static void peer_conn_lost(struct peer_conn *c)
{
	struct peer *p = c->p;
	bool was_link = p->link == c;
	bool was_out = p->out == c;

	if (c->busy) {
		c->dead = true;
		return;
	}
	peer_conn_destroy(c);
	if (was_link) {
		p->st.disconnects++;
		p->backoff_ms = PEER_BACKOFF_MIN_MS;
		if (p->cb.link)
			p->cb.link(NULL, p->cb.arg);
	}
	if (was_link || was_out)
		peer_retry_later(p);
}

static void peer_conn_arm(struct peer_conn *c)
{
	short want = EV_READ | EV_PERSIST;

	if (c->connecting || (c->want & TLSC_WANT_WRITE))
		want |= EV_WRITE;
	if (c->connecting)
		want &= (short)~EV_READ;
	if (!c->ev || c->armed != want) {
		int fd = c->t ? tlsc_fd(c->t) : c->fd;

		if (c->ev)
			event_free(c->ev);
		c->ev = event_new(loop_base(), fd, want, peer_conn_cb, c);
		if (!c->ev || event_add(c->ev, NULL) != 0) {
			peer_logx(c->p, "%s: out of memory: connection dropped",
				  c->addr);
			peer_conn_lost(c);
			return;
		}
		c->armed = want;
	}
	if (c->kick) {
		c->kick = false;
		event_active(c->ev, EV_WRITE, 0);
	}
}

/* A connection that broke before it was authenticated and greeted. */
static void peer_handshake_failed(struct peer_conn *c, const char *why)
{
	struct peer *p = c->p;

	p->st.handshake_failures++;
	peer_logx(p, "%s: %s connection refused: %s", c->addr,
		  c->outgoing ? "outgoing" : "incoming", why);
	peer_conn_lost(c);
}

/* The link's end is a state change: logged always, once, with how long it
 * was up. */
static void peer_link_down_log(struct peer_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void peer_link_down_log(struct peer_conn *c, const char *fmt, ...)
{
	char why[256], line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("peer: link to %s down: %s (%s, up %.1f s)", c->p->peer_id,
		  why, c->addr, (double)(loop_now_ms() - c->since_ms) / 1000.0);
	snprintf(line, sizeof(line), "%s: %s", c->addr, why);
	peer_set_error(c->p, line);
}

/* Tells the other end of c why it is closed (best effort: the frame is
 * flushed once, and only when TLS is up). */
static void peer_say_error(struct peer_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void peer_say_error(struct peer_conn *c, const char *fmt, ...)
{
	uint8_t buf[WIRE_HEADER_LEN + 512];
	struct wire_buf b;
	char why[256];
	va_list ap;
	int len;

	if (!c->t || !tlsc_ready(c->t))
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	wire_begin(&b, buf, sizeof(buf), WIRE_T_ERROR);
	wire_put_str(&b, F_NODE, c->p->local_id);
	wire_put_str(&b, F_TEXT, why);
	len = wire_end(&b);
	if (len > 0 && tlsc_send(c->t, buf, (size_t)len) == 0)
		tlsc_io(c->t, false, true);
}

/* Refuses c after the TLS handshake: says why in an ERROR frame (best
 * effort: it is flushed once), counts, logs, closes. */
static void peer_reject(struct peer_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void peer_reject(struct peer_conn *c, const char *fmt, ...)
{
	struct peer *p = c->p;
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	p->st.rejected++;
	if (p->link == c)
		peer_link_down_log(c, "refused: %s", why);
	else
		peer_logx(p, "%s: %s: connection closed", c->addr, why);
	peer_say_error(c, "%s", why);
	peer_conn_lost(c);
}

static int peer_send_hello(struct peer_conn *c)
{
	struct peer *p = c->p;
	uint8_t buf[PEER_FRAME_MAX];
	struct wire_buf b;
	int len, rc;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_HELLO);
	wire_put_str(&b, F_NODE, p->local_id);
	wire_put_str(&b, F_CLUSTER, p->cluster_id);
	if (p->cb.hello)
		p->cb.hello(&b, p->cb.arg);
	len = wire_end(&b);
	if (len < 0) {
		/* Our own bug (a field twice, too long): say so, loudly. */
		log_warnx("peer: this node's HELLO does not build (%s)",
			  strerror(-len));
		return len;
	}
	rc = tlsc_send(c->t, buf, (size_t)len);
	if (rc == 0)
		p->st.frames_out++;
	return rc;
}

/* The certificate is the peer's and the client asked for our cluster. */
static bool peer_identity_ok(struct peer_conn *c)
{
	struct peer *p = c->p;
	const char *cn = tlsc_peer_cn(c->t);
	const char *sni = tlsc_sni(c->t);

	if (!cn || strcmp(cn, p->peer_id) != 0) {
		peer_reject(c,
			    "certificate CN \"%.64s\" is not the peer node "
			    "\"%.64s\"",
			    cn ? cn : "", p->peer_id);
		return false;
	}
	if (!c->outgoing && (!sni || strcmp(sni, p->cluster_id) != 0)) {
		peer_reject(c,
			    "TLS server name \"%.64s\" is not the cluster "
			    "\"%.64s\"",
			    sni ? sni : "", p->cluster_id);
		return false;
	}
	return true;
}

static void peer_conn_up(struct peer_conn *c, const struct wire_msg *hello)
{
	struct peer *p = c->p;
	struct peer_conn *old = p->link;

	/* Take c out of the pending list or the outgoing slot. */
	if (p->out == c)
		p->out = NULL;
	for (struct peer_conn **pp = &p->pending; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			p->n_pending--;
			break;
		}
	}
	c->next = NULL;
	if (old) {
		/* A restarted peer reconnects before we saw the old
		 * connection die: the newer one is the live one. */
		p->link = NULL;
		log_info("peer: %s connected again from %s: the connection "
			 "from %s is replaced",
			 p->peer_id, c->addr, old->addr);
		peer_say_error(old, "replaced by a newer connection from %s",
			       c->addr);
		peer_conn_destroy(old);
		p->st.disconnects++;
		if (p->cb.link)
			p->cb.link(NULL, p->cb.arg);
	}
	if (p->out) {
		/* The peer reached us first: one connection is enough. */
		peer_conn_destroy(p->out);
	}
	if (p->retry)
		evtimer_del(p->retry);
	evtimer_del(c->timer);
	p->link = c;
	c->since_ms = loop_now_ms();
	p->backoff_ms = PEER_BACKOFF_MIN_MS;
	p->last_connect_err[0] = '\0';
	p->st.connects++;
	log_info("peer: link to %s up (%s, %s)", p->peer_id, c->addr,
		 c->outgoing ? "outgoing" : "incoming");
	if (p->cb.link)
		p->cb.link(hello, p->cb.arg);
}

/* The first frame: a HELLO of our cluster from the peer. */
static void peer_on_hello(struct peer_conn *c, const struct wire_msg *m)
{
	struct peer *p = c->p;
	char node[WIRE_MAX_STR + 1], cluster[WIRE_MAX_STR + 1];

	if (m->type != WIRE_T_HELLO) {
		peer_reject(c, "first frame is %s, not HELLO",
			    wire_type_name(m->type));
		return;
	}
	if (wire_get_str(m, F_NODE, node, sizeof(node)) != 0) {
		peer_reject(c, "HELLO without a node id");
		return;
	}
	if (strcmp(node, p->peer_id) != 0) {
		peer_reject(c,
			    "HELLO from \"%.64s\", not from the peer \"%.64s\"",
			    node, p->peer_id);
		return;
	}
	if (wire_get_str(m, F_CLUSTER, cluster, sizeof(cluster)) != 0 ||
	    strcmp(cluster, p->cluster_id) != 0) {
		peer_reject(c, "HELLO for cluster \"%.64s\", not \"%.64s\"",
			    cluster, p->cluster_id);
		return;
	}
	c->hello_rx = true;
	peer_conn_up(c, m);
}

static void peer_on_error_frame(struct peer_conn *c, const struct wire_msg *m)
{
	char text[WIRE_MAX_STR + 1];

	if (wire_get_str(m, F_TEXT, text, sizeof(text)) != 0)
		snprintf(text, sizeof(text), "no reason given");
	if (c->p->link == c)
		peer_link_down_log(c, "the peer closes: %.160s", text);
	else
		peer_logx(c->p, "%s: the peer closes: %.160s", c->addr, text);
	peer_conn_lost(c);
}

/* The TCP connect finished: start TLS and queue our HELLO. */
static bool peer_connected(struct peer_conn *c)
{
	struct peer *p = c->p;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		char msg[128];

		snprintf(msg, sizeof(msg), "connect: %s", strerror(err));
		/* A peer that is down is news once, not every 2 s. */
		if (strcmp(msg, p->last_connect_err) != 0) {
			snprintf(p->last_connect_err,
				 sizeof(p->last_connect_err), "%s", msg);
			peer_logx(p, "%s (%s): %s", p->peer_id, c->addr, msg);
		}
		peer_conn_lost(c);
		return false;
	}
	c->connecting = false;
	c->t = tlsc_new(p->cctx, c->fd, TLSC_CLIENT, p->cluster_id, p->peer_id);
	if (!c->t) {
		peer_logx(p, "%s: out of memory: connection dropped", c->addr);
		peer_conn_lost(c);
		return false;
	}
	c->fd = -1;
	if (peer_send_hello(c) < 0) {
		peer_conn_lost(c);
		return false;
	}
	return true;
}

static void peer_conn_step(struct peer_conn *c, short what)
{
	struct peer *p = c->p;
	struct wire_msg m;
	int rc, n;

	if (c->connecting && !peer_connected(c))
		return;
	rc = tlsc_io(c->t, what & EV_READ, what & EV_WRITE);
	if (rc < 0) {
		if (!c->identified) {
			peer_handshake_failed(c, tlsc_error(c->t));
		} else if (p->link == c) {
			peer_link_down_log(c, "%s", tlsc_error(c->t));
			peer_conn_lost(c);
		} else {
			peer_logx(p, "%s: %s", c->addr, tlsc_error(c->t));
			peer_conn_lost(c);
		}
		return;
	}
	c->want = rc;
	if (!c->identified) {
		if (!tlsc_ready(c->t))
			return;
		if (!peer_identity_ok(c))
			return;
		c->identified = true;
		if (!c->outgoing && peer_send_hello(c) < 0) {
			peer_conn_lost(c);
			return;
		}
		c->kick = true; /* flush our HELLO */
	}
	for (n = 0; n < PEER_BURST && !c->dead; n++) {
		rc = tlsc_recv(c->t, &m);
		if (rc == 0)
			break;
		if (rc < 0) {
			peer_reject(c, "%s", tlsc_error(c->t));
			return;
		}
		p->st.frames_in++;
		if (m.type == WIRE_T_ERROR) {
			/* Also as the first frame: the peer refused us and
			 * its reason is the news. */
			peer_on_error_frame(c, &m);
		} else if (!c->hello_rx) {
			peer_on_hello(c, &m);
		} else if (m.type == WIRE_T_HELLO) {
			peer_reject(c, "a second HELLO");
		} else if (p->cb.msg) {
			p->cb.msg(&m, p->cb.arg);
		}
	}
	if (n == PEER_BURST)
		c->kick = true;
}

static void peer_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *c = arg;

	(void)fd;
	c->busy = true;
	peer_conn_step(c, what);
	c->busy = false;
	if (c->dead)
		peer_conn_lost(c);
	else
		peer_conn_arm(c);
}

static void peer_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *c = arg;
	char why[96];

	(void)fd;
	(void)what;
	if (c->hello_rx)
		return;
	if (c->connecting) {
		peer_logx(c->p, "%s (%s): connect: timed out", c->p->peer_id,
			  c->addr);
		peer_conn_lost(c);
		return;
	}
	snprintf(why, sizeof(why), "no %s within %d ms",
		 c->identified ? "HELLO" : "TLS handshake",
		 PEER_HELLO_TIMEOUT_MS);
	if (c->identified)
		peer_reject(c, "%s", why);
	else
		peer_handshake_failed(c, why);
}

/* ---- connecting ---- */

static void peer_connect(evutil_socket_t fd_unused, short what, void *arg)
{
	struct peer *p = arg;
	struct peer_conn *c;
	int fd;

	(void)fd_unused;
	(void)what;
	if (p->link || p->out)
		return;
	fd = socket(p->peer_sa.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		peer_logx(p, "%s (%s): socket: %s", p->peer_id, p->peer_addr,
			  strerror(errno));
		goto retry;
	}
	peer_sockopts(fd);
	if (connect(fd, (struct sockaddr *)&p->peer_sa, p->peer_salen) != 0 &&
	    errno != EINPROGRESS) {
		char msg[128];

		snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
		if (strcmp(msg, p->last_connect_err) != 0) {
			snprintf(p->last_connect_err,
				 sizeof(p->last_connect_err), "%s", msg);
			peer_logx(p, "%s (%s): %s", p->peer_id, p->peer_addr,
				  msg);
		}
		close(fd);
		goto retry;
	}
	c = peer_conn_new(p, fd, true, p->peer_addr);
	if (!c) {
		close(fd);
		goto retry;
	}
	c->connecting = true;
	p->out = c;
	peer_conn_arm(c);
	return;
retry:
	peer_retry_later(p);
}

static void peer_schedule_connect(struct peer *p)
{
	struct timeval tv = {p->backoff_ms / 1000,
			     (p->backoff_ms % 1000) * 1000};

	if (!p->connector || p->link || p->out || !p->retry)
		return;
	evtimer_add(p->retry, &tv);
}

/* ---- accepting ---- */

static void peer_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	event_add(p->lev, NULL);
}

static void peer_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct peer *p = arg;

	(void)what;
	/* Bounded, so that a connection storm does not hold the loop. */
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[PEER_ADDR_LEN];
		struct peer_conn *c;
		int fd;

		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = {
					PEER_ACCEPT_PAUSE_MS / 1000,
					(PEER_ACCEPT_PAUSE_MS % 1000) * 1000};

				peer_logx(p, "%s: accept: %s", p->listen_addr,
					  strerror(errno));
				event_del(p->lev);
				evtimer_add(p->lpause, &tv);
			}
			return;
		}
		peer_fmt_addr((struct sockaddr *)&ss, sl, addr, sizeof(addr));
		if (p->n_pending >= PEER_MAX_PENDING) {
			/* The oldest goes: a genuine peer finishes its
			 * handshake in milliseconds, a squatter does not. */
			struct peer_conn *o = p->pending;

			while (o->next)
				o = o->next;
			p->st.handshake_failures++;
			peer_logx(p,
				  "%s: dropped: %d connections already wait "
				  "for their handshake",
				  o->addr, PEER_MAX_PENDING);
			peer_conn_destroy(o);
		}
		peer_sockopts(fd);
		c = peer_conn_new(p, fd, false, addr);
		if (c) {
			c->t = tlsc_new(p->sctx, fd, TLSC_SERVER, NULL, NULL);
			if (c->t)
				c->fd = -1;
		}
		if (!c || !c->t) {
			peer_logx(p, "%s: out of memory: connection dropped",
				  addr);
			if (c)
				peer_conn_destroy(c);
			else
				close(fd);
			continue;
		}
		c->next = p->pending;
		p->pending = c;
		p->n_pending++;
		peer_conn_arm(c);
	}
}

/* ---- the SNI: only our cluster's name is served ---- */

static SSL_CTX *peer_pick_ctx(const char *sni, void *arg)
{
	struct peer *p = arg;

	return strcmp(sni, p->cluster_id) == 0 ? p->sctx : NULL;
}

/* ---- public ---- */

static int peer_listen(struct peer *p, const struct conf_endpoint *ep,
		       char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int on = 1, rc;

	snprintf(p->listen_addr, sizeof(p->listen_addr), "%s:%u",
		 ep->address ? ep->address : "?", ep->port);
	if (peer_resolve(ep, &ss, &sl) < 0) {
		snprintf(err, errlen, "control %s: not an IP address",
			 p->listen_addr);
		return -EINVAL;
	}
	peer_fmt_addr((struct sockaddr *)&ss, sl, p->listen_addr,
		      sizeof(p->listen_addr));
	p->lfd = socket(ss.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control %s: socket: %s", p->listen_addr,
			 strerror(errno));
		return rc;
	}
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(p->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(p->lfd, (struct sockaddr *)&ss, sl) != 0 ||
	    listen(p->lfd, 16) != 0) {
		rc = -errno;
		snprintf(err, errlen, "control %s: %s", p->listen_addr,
			 strerror(errno));
		return rc;
	}
	p->lev = event_new(loop_base(), p->lfd, EV_READ | EV_PERSIST,
			   peer_accept, p);
	p->lpause = evtimer_new(loop_base(), peer_accept_resume, p);
	if (!p->lev || !p->lpause || event_add(p->lev, NULL) != 0) {
		snprintf(err, errlen, "control %s: out of memory",
			 p->listen_addr);
		return -ENOMEM;
	}
	return 0;
}

int peer_open(const struct conf *conf, const struct peer_cb *cb,
	      struct peer **out, char *err, size_t errlen)
{
	const struct conf_node *me, *other = NULL;
	struct peer *p;
	int rc = -EINVAL;

	*out = NULL;
	if (!loop_base()) {
		snprintf(err, errlen, "control channel: no event loop");
		return -EINVAL;
	}
	if (conf->mode != CONF_MODE_NODE || conf->n_nodes != 2 ||
	    !conf->local_node || !conf->cluster_id) {
		snprintf(err, errlen,
			 "control channel: needs a two-node cluster");
		return -EINVAL;
	}
	if (!conf->tls_ca || !conf->tls_cert || !conf->tls_key) {
		snprintf(err, errlen,
			 "control channel: <tls ca cert key> "
			 "missing");
		return -EINVAL;
	}
	me = conf_node_by_id(conf, conf->local_node);
	for (size_t i = 0; i < conf->n_nodes; i++)
		if (&conf->nodes[i] != me)
			other = &conf->nodes[i];
	if (!me || !other) {
		snprintf(err, errlen,
			 "control channel: node \"%s\" not in "
			 "the cluster",
			 conf->local_node);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "control channel: out of memory");
		return -ENOMEM;
	}
	p->lfd = -1;
	p->cb = *cb;
	p->backoff_ms = PEER_BACKOFF_MIN_MS;
	p->log_window_ms = loop_now_ms();
	p->local_id = strdup(me->id);
	p->peer_id = strdup(other->id);
	p->cluster_id = strdup(conf->cluster_id);
	if (!p->local_id || !p->peer_id || !p->cluster_id) {
		snprintf(err, errlen, "control channel: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	p->connector = strcmp(p->local_id, p->peer_id) < 0;
	snprintf(p->peer_addr, sizeof(p->peer_addr), "%s:%u",
		 other->control.address ? other->control.address : "?",
		 other->control.port);
	if (peer_resolve(&other->control, &p->peer_sa, &p->peer_salen) < 0) {
		snprintf(err, errlen, "control %s of %s: not an IP address",
			 p->peer_addr, p->peer_id);
		goto fail;
	}
	peer_fmt_addr((struct sockaddr *)&p->peer_sa, p->peer_salen,
		      p->peer_addr, sizeof(p->peer_addr));

	p->sctx = tlsc_ctx_new(TLSC_SERVER, conf->tls_ca, conf->tls_cert,
			       conf->tls_key, err, errlen);
	if (!p->sctx)
		goto fail;
	p->cctx = tlsc_ctx_new(TLSC_CLIENT, conf->tls_ca, conf->tls_cert,
			       conf->tls_key, err, errlen);
	if (!p->cctx)
		goto fail;
	tlsc_ctx_set_sni(p->sctx, peer_pick_ctx, p);

	rc = peer_listen(p, &me->control, err, errlen);
	if (rc < 0)
		goto fail;
	if (p->connector) {
		struct timeval now = {0, 0};

		p->retry = evtimer_new(loop_base(), peer_connect, p);
		if (!p->retry || evtimer_add(p->retry, &now) != 0) {
			snprintf(err, errlen, "control channel: out of memory");
			rc = -ENOMEM;
			goto fail;
		}
	}
	log_info("peer: listening on %s; %s %s at %s", p->listen_addr,
		 p->connector ? "connecting to" : "waiting for", p->peer_id,
		 p->peer_addr);
	*out = p;
	return 0;
fail:
	peer_close(p);
	return rc;
}

void peer_close(struct peer *p)
{
	if (!p)
		return;
	while (p->pending)
		peer_conn_destroy(p->pending);
	if (p->out)
		peer_conn_destroy(p->out);
	if (p->link)
		peer_conn_destroy(p->link);
	if (p->retry)
		event_free(p->retry);
	if (p->lev)
		event_free(p->lev);
	if (p->lpause)
		event_free(p->lpause);
	if (p->lfd >= 0)
		close(p->lfd);
	tlsc_ctx_free(p->sctx);
	tlsc_ctx_free(p->cctx);
	free(p->local_id);
	free(p->peer_id);
	free(p->cluster_id);
	free(p);
}

bool peer_up(const struct peer *p)
{
	return p && p->link;
}

int peer_send(struct peer *p, const void *frame, size_t len)
{
	struct peer_conn *c = p ? p->link : NULL;
	int rc;

	if (!c || c->dead)
		return -ENOTCONN;
	rc = tlsc_send(c->t, frame, len);
	if (rc == -ENOBUFS) {
		peer_logx(p,
			  "%s: %s does not read (over 1 MiB queued): link "
			  "closed",
			  c->addr, p->peer_id);
		peer_conn_lost(c);
		return rc;
	}
	if (rc < 0)
		return rc;
	p->st.frames_out++;
	/* Flushed from the handler: never from here, where the caller may
	 * hold a frame that points into the receive buffer. */
	if (c->busy)
		c->kick = true;
	else if (c->ev)
		event_active(c->ev, EV_WRITE, 0);
	return 0;
}

void peer_get_stats(const struct peer *p, struct peer_stats *out)
{
	*out = p->st;
}
