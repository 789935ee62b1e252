/*
 * The control socket server: one bufferevent per client on the loop, one
 * request and one reply per connection (protocol in ctlproto.h).
 */
#include "ctl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

struct ctl_client;

struct ctl {
	int fd;
	char *path;
	struct event *accept_ev;
	ctl_handler_fn fn;
	void *arg;
	struct ctl_client *clients; /* so that ctl_close can drop them */
	size_t n_clients;
};

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct ctl_client *prev, *next;
};

/* A client gets this long to send its request. */
#define CTL_CLIENT_TIMEOUT_S 5
/* Each client costs a bufferevent and up to CTL_REQUEST_MAX bytes; a runaway
 * script must not grow the daemon without bound. */
#define CTL_MAX_CLIENTS 64

static void ctl_client_free(struct ctl_client *cl)
{
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		cl->ctl->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	cl->ctl->n_clients--;
	bufferevent_free(cl->bev);
	free(cl);
}

static void ctl_event(struct bufferevent *bev, short what, void *arg);

static void ctl_drain(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The reply is out: half-close and read until the client hangs up (or the
 * timeout), because closing with unread input would reset the connection
 * and could destroy the reply before the client reads it. */
static void ctl_write_done(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setcb(bev, ctl_drain, NULL, ctl_event, arg);
	bufferevent_enable(bev, EV_READ);
}

static void ctl_reply_and_close(struct ctl_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ctl_reply_and_close(struct ctl_client *cl, const char *fmt, ...)
{
	struct bufferevent *bev = cl->bev;
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(bev), fmt, ap);
	va_end(ap);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, ctl_write_done, ctl_event, cl);
	bufferevent_enable(bev, EV_WRITE);
}

static void ctl_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct ctl *c = cl->ctl;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	char err[256];
	enum ctl_req req;
	struct ctl_args args;

	if (!line) {
		if (evbuffer_get_length(in) >= CTL_REQUEST_MAX) {
			log_warnx("control: request longer than %d bytes: "
				  "connection closed",
				  CTL_REQUEST_MAX);
			ctl_reply_and_close(cl,
					    "ERR request too long (max %d "
					    "bytes)\n",
					    CTL_REQUEST_MAX);
		}
		return;
	}
	if (ctl_parse_request(line, len, &req, &args, err, sizeof(err)) < 0) {
		log_warnx("control: %s", err);
		ctl_reply_and_close(cl, "ERR %s\n", err);
		free(line);
		return;
	}
	free(line);
	struct sbuf body = {0};
	int rc = c->fn(req, &args, &body, c->arg);
	if (body.oom)
		ctl_reply_and_close(cl, "ERR out of memory\n");
	else if (rc < 0)
		ctl_reply_and_close(cl, "ERR %s\n", body.s ? body.s : "failed");
	else
		ctl_reply_and_close(cl, "OK %zu\n%s", body.len,
				    body.s ? body.s : "");
	sbuf_free(&body);
}

/* A refused peer still gets its request read before the answer: closing
 * with unread input would reset the connection and lose the reply. */
static void ctl_read_denied(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

	if (!line && evbuffer_get_length(in) < CTL_REQUEST_MAX)
		return;
	free(line);
	evbuffer_drain(in, evbuffer_get_length(in));
	ctl_reply_and_close(cl, "ERR permission denied: the control socket "
				"is for root only\n");
}

static void ctl_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	/* EOF, error or timeout: the client is done or gone. */
	ctl_client_free(arg);
}

static void ctl_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ctl *c = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd;

	(void)what;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	if (c->n_clients >= CTL_MAX_CLIENTS) {
		log_warnx("control: %d clients already: connection dropped",
			  CTL_MAX_CLIENTS);
		close(fd);
		return;
	}
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	struct bufferevent *bev =
		bufferevent_socket_new(loop_base(), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl || !bev) {
		log_warnx("control: out of memory: connection dropped");
		if (bev)
			bufferevent_free(bev);
		else
			close(fd);
		free(cl);
		return;
	}
	cl->ctl = c;
	cl->bev = bev;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		cred.uid = (uid_t)-1; /* unknown: refused like any non-root */
	if (cred.uid != 0) {
		long uid = clen == sizeof(cred) ? (long)cred.uid : -1L;
		log_warnx("control: connection from uid %ld (pid %ld) refused: "
			  "root only",
			  uid, clen == sizeof(cred) ? (long)cred.pid : -1L);
	}
	struct timeval tv = {.tv_sec = CTL_CLIENT_TIMEOUT_S};
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, CTL_REQUEST_MAX + 1);
	bufferevent_setcb(bev, cred.uid == 0 ? ctl_read : ctl_read_denied, NULL,
			  ctl_event, cl);
	bufferevent_enable(bev, EV_READ);
}

/* true when a daemon answers on path.  Non-blocking: a daemon that hangs
 * with a full backlog (EAGAIN) is still a daemon, and must not hang us. */
static bool ctl_in_use(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool used;

	if (fd < 0)
		return false;
	strcpy(sa.sun_path, path);
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	       errno == EAGAIN;
	close(fd);
	return used;
}

static int ctl_mkparent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ctl_open(const char *path, ctl_handler_fn fn, void *arg, struct ctl **out,
	     char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl *c;
	struct stat st;
	mode_t old;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if ((rc = ctl_mkparent(path)) < 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s",
			 path, strerror(-rc));
		return rc;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "%s exists and is not a socket: not removed",
				 path);
			return -EEXIST;
		}
		if (ctl_in_use(path)) {
			snprintf(err, errlen, "another cmsd is running on %s",
				 path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale, from a daemon that died */
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fn = fn;
	c->arg = arg;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* Bind with a umask that leaves no window with a wider mode. */
	old = umask(0177);
	rc = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(c->fd, 16) < 0) {
		rc = -errno;
		goto fail;
	}
	c->path = strdup(path);
	c->accept_ev = event_new(loop_base(), c->fd, EV_READ | EV_PERSIST,
				 ctl_accept, c);
	if (!c->path || !c->accept_ev || event_add(c->accept_ev, NULL) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(-rc));
	if (c->accept_ev)
		event_free(c->accept_ev);
	if (c->fd >= 0) {
		close(c->fd);
		if (c->path)
			unlink(c->path);
	}
	free(c->path);
	free(c);
	return rc;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	while (c->clients)
		ctl_client_free(c->clients);
	event_free(c->accept_ev);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}
