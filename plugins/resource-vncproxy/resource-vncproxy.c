/*
 * resource-vncproxy: the VNC proxy of the management platform (usually
 * optional in the group).
 *
 * Complete in this build (the other resource plugins get their runtime
 * with issue 4): the proxy runs as a long-lived child of the agent, spawned
 * through host->spawn without a time limit, and its health is a TCP
 * connection to <address>:<port> made without blocking, on an fd watch with
 * a timer.
 *
 *   start    spawns the command, then probes the port every 100 ms; it
 *            completes (op_done 0) at the first accepted connection, or with
 *            -ESRCH when the child ends first.  The agent's start timeout
 *            cancels it and kills the child spawned under the op.
 *   stop     kills the child's process group (TERM, then KILL after the
 *            grace) and completes when it has ended.  No child: done.
 *   monitor  no child: STOPPED, or FAILED when it ended without a stop
 *            (until the next start or stop).  Otherwise a connect:
 *            accepted RUNNING, refused (or any other error) FAILED, no
 *            answer within VNC_PROBE_MS UNKNOWN.
 *
 * A child that ends when no stop asked for it is logged and reported with
 * CMSD_EV_FAILED, so the agent need not wait for the next monitor.
 *
 * The agent runs one op of an instance at a time, so one probe slot and one
 * pending op pointer per purpose are enough.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plugin_util.h"

/* One connect attempt; below the agent's default monitor timeout (20 s) by
 * far, so that a silent port reads as UNKNOWN rather than a timed-out op. */
#define VNC_PROBE_MS 2000
/* Between connect attempts while start waits for the port. */
#define VNC_RETRY_MS 100
/* The start of the proxy's output is kept for the log when it dies. */
#define VNC_OUTPUT_MAX 2048

enum vnc_probe_for { VNC_PROBE_NONE, VNC_PROBE_START, VNC_PROBE_MONITOR };

struct vnc {
	struct pu_base base; /* first: shared layout of the bundled plugins */
	char **argv;	     /* <command> split on spaces; no shell */
	char *address;
	uint16_t port;
	struct sockaddr_storage sa; /* address:port, for the probe */
	socklen_t sa_len;

	struct cmsd_child *child; /* the running proxy, or NULL */
	bool died; /* it ended on its own: FAILED until the next start/stop */
	bool expect_exit; /* we asked it to end (stop, cancelled start) */
	struct cmsd_op *start_op; /* pending start, waiting for the port */
	struct cmsd_op *stop_op;  /* pending stop, waiting for the exit */
	struct cmsd_op *mon_op;	  /* pending monitor, waiting for connect */

	/* The probe in flight: a connecting socket, its watch, and the timer
	 * that bounds it (or, while start waits between two attempts, spaces
	 * them). */
	enum vnc_probe_for probe_for;
	int probe_fd;
	struct cmsd_watch *probe_watch;
	struct cmsd_timer *timer;
};

static const char *const vnc_keys[] = {"command", "address", "port", NULL};

static int vnc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		    const char **cmd, const char **addr, int64_t *port)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, vnc_keys);
	int rc = cf->get_string(c, "command", NULL, cmd);

	if (rc == 1)
		bad += cf->require(c, "command") < 0;
	else if (rc < 0)
		bad++;
	else if ((*cmd)[0] != '/')
		bad += cf->error(c, "command",
				 "\"%s\" must start with an absolute path (no "
				 "shell, no PATH search)",
				 *cmd) < 0;
	rc = cf->get_string(c, "address", "127.0.0.1", addr);
	if (rc < 0)
		bad++;
	else if (!pu_is_ip(*addr))
		bad += cf->error(c, "address",
				 "\"%s\" is not an IPv4 or IPv6 address",
				 *addr) < 0;
	rc = cf->get_int(c, "port", 0, 1, 65535, port);
	if (rc == 1)
		bad += cf->require(c, "port") < 0;
	else if (rc < 0)
		bad++;
	return bad;
}

static int vnc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const char *cmd = NULL, *addr = NULL;
	int64_t port;
	int bad = vnc_read(h, c, &cmd, &addr, &port);

	/* Only a warning when missing here: see pu_command. */
	if (cmd && cmd[0] == '/')
		pu_command(h, c, "command", true);
	return bad ? -EINVAL : 0;
}

static void vnc_probe_end(struct vnc *v)
{
	if (v->probe_watch) {
		v->base.host->watch_free(v->probe_watch);
		v->probe_watch = NULL;
	}
	if (v->probe_fd >= 0) {
		close(v->probe_fd);
		v->probe_fd = -1;
	}
	if (v->timer)
		v->base.host->timer_disarm(v->timer);
	v->probe_for = VNC_PROBE_NONE;
}

static void vnc_destroy(void *inst)
{
	struct vnc *v = inst;

	if (!v)
		return;
	/* No op is pending here; a probe socket cannot be either, but the
	 * timer may exist.  A child still running is the agent's to kill: it
	 * abandons the instance's children after destroy, without calling
	 * back into this freed instance. */
	if (v->base.host->timer_free) {
		vnc_probe_end(v);
		if (v->timer)
			v->base.host->timer_free(v->timer);
	}
	free(v->argv);
	free(v->address);
	free(v);
}

static int vnc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		    void **inst)
{
	struct vnc *v = calloc(1, sizeof(*v));
	const char *cmd = NULL, *addr = NULL;
	int64_t port = 0;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	int rc = -EINVAL;

	if (!v)
		return -ENOMEM;
	v->base.host = h;
	v->probe_fd = -1;
	if (vnc_read(h, c, &cmd, &addr, &port))
		goto fail;
	v->port = (uint16_t)port;
	sin = (struct sockaddr_in *)&v->sa;
	sin6 = (struct sockaddr_in6 *)&v->sa;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(v->port);
		v->sa_len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(v->port);
		v->sa_len = sizeof(*sin6);
	} else {
		goto fail; /* vnc_read has reported it */
	}
	rc = -ENOMEM;
	v->argv = pu_argv_split(cmd);
	v->address = strdup(addr);
	if (!v->argv || !v->address)
		goto fail;
	*inst = v;
	return 0;
fail:
	vnc_destroy(v);
	return rc;
}

/* The health a connect outcome means: err 0 connected, -1 no answer in
 * time, else the errno of the failed connect. */
static int vnc_health(struct vnc *v, int err)
{
	const struct cmsd_host *h = v->base.host;

	if (err == 0)
		return CMSD_RUNNING;
	if (err < 0) {
		h->log(h, CMSD_LOG_WARNING,
		       "monitor: no answer from %s port %u within %d ms",
		       v->address, v->port, VNC_PROBE_MS);
		return CMSD_UNKNOWN;
	}
	h->log(h, CMSD_LOG_WARNING, "monitor: connect to %s port %u: %s",
	       v->address, v->port, strerror(err));
	return CMSD_FAILED;
}

static void vnc_probe_ready(int fd, unsigned events, void *arg);

/* Starts a non-blocking connect for `what`.  Returns 1 when it ended at
 * once (*err as for vnc_health), 0 when it is in flight (the watch or the
 * timer will call vnc_probe_result), or -errno. */
static int vnc_probe_begin(struct vnc *v, enum vnc_probe_for what, int *err)
{
	const struct cmsd_host *h = v->base.host;
	int fd = socket(v->sa.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&v->sa, v->sa_len) == 0 ||
	    errno != EINPROGRESS) {
		*err = errno == EINPROGRESS ? 0 : errno;
		close(fd);
		return 1;
	}
	v->probe_watch =
		h->watch_new(h, fd, CMSD_WATCH_WRITE, vnc_probe_ready, v);
	if (!v->probe_watch) {
		close(fd);
		return -ENOMEM;
	}
	v->probe_fd = fd;
	v->probe_for = what;
	h->timer_arm(v->timer, VNC_PROBE_MS);
	return 0;
}

/* One connect attempt of a pending start; from the timer, never from inside
 * the op, so completing through op_done is allowed here. */
static void vnc_start_attempt(struct vnc *v)
{
	const struct cmsd_host *h = v->base.host;
	struct cmsd_op *op = v->start_op;
	int err = 0;
	int rc = vnc_probe_begin(v, VNC_PROBE_START, &err);

	if (rc == 0)
		return;
	if (rc == 1 && err != 0) {
		/* Not listening yet: try again; the agent's start timeout
		 * bounds the wait. */
		h->timer_arm(v->timer, VNC_RETRY_MS);
		return;
	}
	v->start_op = NULL;
	if (rc == 1)
		h->log(h, CMSD_LOG_INFO,
		       "start: %s port %u accepts connections", v->address,
		       v->port);
	h->op_done(op, rc == 1 ? 0 : rc);
}

/* A probe in flight ended: err as for vnc_health. */
static void vnc_probe_result(struct vnc *v, int err)
{
	const struct cmsd_host *h = v->base.host;
	enum vnc_probe_for what = v->probe_for;
	struct cmsd_op *op;

	vnc_probe_end(v);
	if (what == VNC_PROBE_MONITOR && v->mon_op) {
		op = v->mon_op;
		v->mon_op = NULL;
		h->op_done(op, vnc_health(v, err));
	} else if (what == VNC_PROBE_START && v->start_op) {
		if (err == 0) {
			op = v->start_op;
			v->start_op = NULL;
			h->log(h, CMSD_LOG_INFO,
			       "start: %s port %u accepts connections",
			       v->address, v->port);
			h->op_done(op, 0);
		} else {
			h->timer_arm(v->timer, VNC_RETRY_MS);
		}
	}
}

static void vnc_probe_ready(int fd, unsigned events, void *arg)
{
	struct vnc *v = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	vnc_probe_result(v, err);
}

static void vnc_timer_fired(void *arg)
{
	struct vnc *v = arg;

	if (v->probe_for != VNC_PROBE_NONE)
		vnc_probe_result(v, -1); /* the connect had no answer */
	else if (v->start_op)
		vnc_start_attempt(v); /* start waited between attempts */
}

/* The last non-empty line of a child's output, for the log. */
static void vnc_last_line(const struct cmsd_child_result *res,
			  const char **line, int *len)
{
	const char *s = res->output ? res->output : "";
	size_t end = res->output ? res->output_len : 0, begin;

	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	begin = end;
	while (begin > 0 && s[begin - 1] != '\n')
		begin--;
	*line = s + begin;
	*len = (int)(end - begin);
}

static void vnc_child_done(const struct cmsd_child_result *res, void *arg)
{
	struct vnc *v = arg;
	const struct cmsd_host *h = v->base.host;
	struct cmsd_op *op;
	char how[64];
	const char *line;
	int len;

	v->child = NULL;
	if (v->stop_op) {
		op = v->stop_op;
		v->stop_op = NULL;
		v->expect_exit = false;
		h->op_done(op, 0);
		return;
	}
	if (v->expect_exit) {
		/* The end of a cancelled stop or start: not a failure. */
		v->expect_exit = false;
		return;
	}
	if (res->exited)
		snprintf(how, sizeof(how), "exited with status %d",
			 res->exit_code);
	else
		snprintf(how, sizeof(how), "was killed by signal %d",
			 res->signal);
	vnc_last_line(res, &line, &len);
	h->log(h, CMSD_LOG_ERR, "%s %s%s%.*s", v->argv[0], how, len ? ": " : "",
	       len, line);
	if (v->start_op) {
		op = v->start_op;
		v->start_op = NULL;
		vnc_probe_end(v);
		h->op_done(op, -ESRCH);
		return;
	}
	/* Ended on its own while in service. */
	v->died = true;
	h->notify(h, CMSD_EV_FAILED, how);
}

static int vnc_start(void *inst, struct cmsd_op *op)
{
	struct vnc *v = inst;
	const struct cmsd_host *h = v->base.host;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = (const char *const *)v->argv,
		/* A long-running service: no time limit; stop kills it. */
		.timeout_ms = 0,
		.output_max = VNC_OUTPUT_MAX,
		.done = vnc_child_done,
		.arg = v,
	};
	int rc;

	/* A proxy still ending after a cancelled stop is not "running". */
	if (v->child)
		return v->expect_exit ? -EAGAIN : 0;
	v->died = false;
	if (!v->timer) {
		v->timer = h->timer_new(h, vnc_timer_fired, v);
		if (!v->timer)
			return -ENOMEM;
	}
	rc = h->spawn(h, &req, &v->child);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: cannot run %s: %s", v->argv[0],
		       strerror(-rc));
		return rc;
	}
	h->log(h, CMSD_LOG_INFO, "start: %s running as pid %ld", v->argv[0],
	       (long)h->child_pid(v->child));
	v->start_op = op;
	/* Give the proxy a moment to bind before the first attempt. */
	h->timer_arm(v->timer, VNC_RETRY_MS);
	return CMSD_PENDING;
}

static int vnc_stop(void *inst, struct cmsd_op *op)
{
	struct vnc *v = inst;

	v->died = false;
	if (!v->child)
		return 0;
	v->stop_op = op;
	v->expect_exit = true;
	v->base.host->child_kill(v->child);
	return CMSD_PENDING;
}

static int vnc_monitor(void *inst, struct cmsd_op *op)
{
	struct vnc *v = inst;
	int err = 0;
	int rc;

	if (!v->child)
		return v->died ? CMSD_FAILED : CMSD_STOPPED;
	if (!v->timer) {
		v->timer = v->base.host->timer_new(v->base.host,
						   vnc_timer_fired, v);
		if (!v->timer)
			return -ENOMEM;
	}
	rc = vnc_probe_begin(v, VNC_PROBE_MONITOR, &err);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return vnc_health(v, err);
	v->mon_op = op;
	return CMSD_PENDING;
}

static void vnc_cancel(void *inst, struct cmsd_op *op)
{
	struct vnc *v = inst;

	/* A start given up takes its half-started proxy with it (the agent
	 * kills children spawned under the op too; killing twice is
	 * harmless).  A stop given up leaves the proxy dying, a monitor given
	 * up leaves it as it is. */
	if (v->start_op == op || v->mon_op == op)
		vnc_probe_end(v);
	if (v->start_op == op) {
		v->start_op = NULL;
		if (v->child) {
			v->expect_exit = true;
			v->base.host->child_kill(v->child);
		}
	}
	if (v->mon_op == op)
		v->mon_op = NULL;
	if (v->stop_op == op)
		v->stop_op = NULL;
}

static const struct cmsd_resource_ops vnc_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vnc_validate,
	.init = vnc_init,
	.start = vnc_start,
	.stop = vnc_stop,
	.monitor = vnc_monitor,
	.cancel = vnc_cancel,
	.destroy = vnc_destroy,
};

static const struct cmsd_plugin vnc_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-vncproxy",
	.version = "0.1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "VNC proxy, monitored by TCP connect",
	.ops.resource = &vnc_ops,
};

CMSD_PLUGIN_DEFINE(vnc_plugin)
