/*
 * resource-tomcat: the web UI of the management platform.
 *
 * Health is an HTTP GET of <url> that must answer <expect-status>, made with
 * libevent's HTTP client on the agent's own event base (host->event_base,
 * SDK 1.2), so the probe never blocks the loop.  Names in the URL are
 * resolved with evdns (hosts file first) on the same base.
 *
 * Three ways to run Tomcat, exactly one per resource:
 *
 *   foreground  <start-command> alone, or <catalina-home> (Debian tomcat10:
 *               CATALINA_HOME/bin/catalina.sh run with CATALINA_HOME and
 *               CATALINA_BASE in its environment).  The server is a
 *               long-lived child of the agent (host->spawn, no time limit).
 *               stop: TERM to its process group, KILL after <stop-grace>,
 *               done when it has ended.  A server that ends when no stop
 *               asked for it is logged and reported with CMSD_EV_FAILED.
 *   launcher    <start-command> with <stop-command>: for setups that
 *               daemonize (catalina.sh start / stop).  The start command
 *               may exit 0 and leave the server behind; a non-zero exit
 *               before the URL answers fails the start.  stop runs the stop
 *               command and is done when the URL no longer accepts
 *               connections (a failed stop command is forgiven when nothing
 *               listens any more, else the stop fails with -EIO), and any
 *               start command still running is killed then.
 *   systemd     <systemd-unit>: `systemctl start UNIT` and `systemctl stop
 *               UNIT` in place of the two commands, otherwise as launcher.
 *               Not covered by the tests: they run without systemd as
 *               PID 1; its code is the launcher's.
 *
 *   start    runs what starts the server, then GETs <url> every
 *            TC_RETRY_MS; done (op_done 0) at the first <expect-status>
 *            answer, -ESRCH when the start command ends first (foreground:
 *            in any way; otherwise: unsuccessfully).  The agent's start
 *            timeout bounds the wait; the last answer is logged then.
 *   monitor  not started: STOPPED (foreground: FAILED when the server ended
 *            on its own, until the next start or stop).  Otherwise a GET:
 *            <expect-status> RUNNING; another status, a refused or broken
 *            connection FAILED; no answer within <http-timeout> UNKNOWN.
 *
 * The agent runs one op of an instance at a time, so one probe slot and one
 * pending op pointer per purpose are enough.
 *
 * libevent calls the request callback from inside its own connection code,
 * sometimes synchronously from evhttp_make_request; freeing the connection
 * there is unsafe.  A finished connection is therefore parked in `spent` and
 * freed at the next probe, at stop or at destroy.  Aborting a probe (our
 * timeout, cancel) runs outside libevent's frames and frees it at once,
 * which drops the request without a callback.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "plugin_util.h"
#include "tomcat_url.h"

/* Between two GETs while start waits for the URL, or stop for it to close. */
#define TC_RETRY_MS 200
/* Output of a start command kept for the log when it ends. */
#define TC_OUTPUT_MAX 8192
/* What the systemd mode runs. */
#define TC_SYSTEMCTL "/usr/bin/systemctl"

enum tc_mode { TC_FOREGROUND, TC_LAUNCHER, TC_SYSTEMD };
enum tc_probe_for {
	TC_PROBE_NONE,
	TC_PROBE_START,
	TC_PROBE_MONITOR,
	TC_PROBE_STOP
};
/* How one GET ended.  NOCONN: no connection at all (refused, unreachable,
 * not resolved), which is what "stopped" looks like from outside; BROKEN:
 * connected, but no usable answer. */
enum tc_outcome { TC_OK, TC_STATUS, TC_NOCONN, TC_BROKEN, TC_TIMEOUT };
/* Where a pending stop is. */
enum tc_stop_phase { TC_STOP_CMD, TC_STOP_CLOSE, TC_STOP_CHILD };

struct tomcat {
	struct pu_base base; /* first: shared layout of the bundled plugins */
	enum tc_mode mode;
	const char *const *start_argv;	  /* what start runs */
	const char *const *stop_argv;	  /* launcher and systemd modes */
	const char *const *envp;	  /* NULL: the agent's minimal one */
	char **start_split, **stop_split; /* owned: the two commands */
	char *unit, *catalina_sh, *env_home, *env_base;
	const char *fixed_start[4], *fixed_stop[4], *env[6];

	char *url_text; /* <url> as written, for logs */
	struct tomcat_url url;
	char host_hdr[300]; /* Host: header, host[:port] */
	bool numeric_host;  /* no resolver needed */
	int expect_status;
	uint64_t http_timeout_ms, stop_grace_ms;

	struct cmsd_child *child;      /* the start command / the server */
	struct cmsd_child *stop_child; /* the stop command */
	bool died;		       /* foreground server ended on its own */
	bool expect_exit;	       /* we asked the start child to end */
	bool started; /* launcher/systemd: start succeeded, no stop yet */
	bool stop_cmd_failed;
	enum tc_stop_phase stop_phase;
	struct cmsd_op *start_op, *stop_op, *mon_op;

	/* The GET in flight and its bound; `poll` spaces the retries. */
	enum tc_probe_for probe_for;
	struct evhttp_connection *conn, *spent;
	struct evdns_base *dns;
	struct cmsd_timer *probe_timer, *poll_timer;
	bool in_begin, sync_done; /* the callback ran inside the request */
	int req_error;		  /* evhttp_request_error, -1: none */
	enum tc_outcome res;
	int res_code;
	char last[200]; /* the last GET's outcome in words, for logs */
};

static const char *const tomcat_keys[] = {"start-command", "stop-command",
					  "catalina-home", "catalina-base",
					  "systemd-unit",  "url",
					  "expect-status", "http-timeout",
					  "stop-grace",	   NULL};

static int tomcat_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		       struct tomcat_url *url, int64_t *status,
		       uint64_t *http_ms, uint64_t *grace_ms)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *u;
	int bad = cf->check_keys(c, tomcat_keys);
	bool start = cf->count(c, "start-command") > 0;
	bool stop = cf->count(c, "stop-command") > 0;
	bool cat = cf->count(c, "catalina-home") > 0;
	bool unit = cf->count(c, "systemd-unit") > 0;
	int rc;

	/* Exactly one way to drive Tomcat, so that stop always undoes what
	 * start did. */
	if (start + cat + unit > 1)
		bad += cf->error(c, unit ? "systemd-unit" : "catalina-home",
				 "give one of <start-command>, "
				 "<catalina-home> or <systemd-unit>, not "
				 "more") < 0;
	else if (!start && !cat && !unit)
		bad += cf->error(c, NULL,
				 "needs <start-command>, <catalina-home> or "
				 "<systemd-unit>") < 0;
	if (stop && !start)
		bad += cf->error(c, "stop-command",
				 "only goes with <start-command>") < 0;
	if (cf->count(c, "catalina-base") > 0 && !cat)
		bad += cf->error(c, "catalina-base",
				 "only goes with <catalina-home>") < 0;
	for (int i = 0; i < 2; i++) {
		const char *key = i ? "stop-command" : "start-command";
		const char *cmd;
		if (cf->get_string(c, key, NULL, &cmd) < 0)
			bad++;
		else if (cmd && cmd[0] != '/')
			bad += cf->error(c, key,
					 "\"%s\" must start with an absolute "
					 "path (no shell, no PATH search)",
					 cmd) < 0;
	}
	bad += pu_abs_path(h, c, "catalina-home", false, NULL);
	bad += pu_abs_path(h, c, "catalina-base", false, NULL);
	bad += pu_word(h, c, "systemd-unit", false, 255);
	rc = cf->get_string(c, "url", NULL, &u);
	if (rc == 1)
		bad += cf->require(c, "url") < 0;
	else if (rc < 0)
		bad++;
	else if (tomcat_parse_url(u, url) < 0)
		bad += cf->error(c, "url",
				 "\"%s\" is not an http://HOST[:PORT][/PATH] "
				 "URL",
				 u) < 0;
	bad += cf->get_int(c, "expect-status", 200, 100, 599, status) < 0;
	bad += cf->get_duration_ms(c, "http-timeout", 5000, 100, 60000,
				   http_ms) < 0;
	bad += cf->get_duration_ms(c, "stop-grace", 10000, 100, 600000,
				   grace_ms) < 0;
	return bad;
}

static int tomcat_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct tomcat_url url;
	int64_t status;
	uint64_t http_ms, grace_ms;
	int bad = tomcat_read(h, c, &url, &status, &http_ms, &grace_ms);

	/* Only warnings when missing here: see pu_command. */
	if (!bad) {
		const char *home = NULL;
		char sh[4096];

		pu_command(h, c, "start-command", false);
		pu_command(h, c, "stop-command", false);
		h->conf->get_string(c, "catalina-home", NULL, &home);
		snprintf(sh, sizeof(sh), "%s/bin/catalina.sh",
			 home ? home : "");
		if (home && access(sh, X_OK) < 0)
			h->log(h, CMSD_LOG_WARNING,
			       "<catalina-home>: %s is not an executable on "
			       "this host (%s); it must be on the nodes that "
			       "run it",
			       sh, strerror(errno));
	}
	return bad ? -EINVAL : 0;
}

/* ---- the HTTP probe ---- */

/* Frees a connection whose request has ended; never from libevent's
 * callbacks of that connection. */
static void tomcat_reap(struct tomcat *t)
{
	if (t->spent) {
		evhttp_connection_free(t->spent);
		t->spent = NULL;
	}
}

/* Ends the probe in flight, if any, without a callback. */
static void tomcat_probe_end(struct tomcat *t)
{
	if (t->conn) {
		evhttp_connection_free(t->conn);
		t->conn = NULL;
	}
	if (t->probe_timer)
		t->base.host->timer_disarm(t->probe_timer);
	t->probe_for = TC_PROBE_NONE;
}

static void tomcat_destroy(void *inst)
{
	struct tomcat *t = inst;
	const struct cmsd_host *h;

	if (!t)
		return;
	h = t->base.host;
	/* No op is pending here.  A child still running is the agent's to
	 * kill: it abandons the instance's children after destroy. */
	if (h->timer_free) {
		tomcat_probe_end(t);
		tomcat_reap(t);
		if (t->probe_timer)
			h->timer_free(t->probe_timer);
		if (t->poll_timer)
			h->timer_free(t->poll_timer);
	}
	if (t->dns)
		evdns_base_free(t->dns, 0);
	free(t->start_split);
	free(t->stop_split);
	free(t->unit);
	free(t->catalina_sh);
	free(t->env_home);
	free(t->env_base);
	free(t->url_text);
	free(t);
}

/* The health an outcome means, logged when it is not RUNNING. */
static int tomcat_health(struct tomcat *t)
{
	const struct cmsd_host *h = t->base.host;

	switch (t->res) {
	case TC_OK:
		return CMSD_RUNNING;
	case TC_TIMEOUT:
		h->log(h, CMSD_LOG_WARNING, "monitor: %s", t->last);
		return CMSD_UNKNOWN;
	default:
		h->log(h, CMSD_LOG_WARNING, "monitor: %s", t->last);
		return CMSD_FAILED;
	}
}

static const char *tomcat_req_error(int err)
{
	switch (err) {
	case EVREQ_HTTP_TIMEOUT:
		return "timed out";
	case EVREQ_HTTP_EOF:
		return "connection closed before a complete answer";
	case EVREQ_HTTP_INVALID_HEADER:
		return "not an HTTP answer";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "read or write error";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "answer too long";
	default:
		return "no connection (refused, unreachable or not resolved)";
	}
}

static void tomcat_probe_result(struct tomcat *t);

static void tomcat_http_error(enum evhttp_request_error err, void *arg)
{
	struct tomcat *t = arg;

	t->req_error = (int)err;
}

/* The body is not needed: drop it as it comes (libevent drains the buffer
 * after this callback) instead of holding a whole page. */
static void tomcat_http_chunk(struct evhttp_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static void tomcat_http_done(struct evhttp_request *req, void *arg)
{
	struct tomcat *t = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	int dns_err;

	if (t->probe_for == TC_PROBE_NONE || !t->conn)
		return; /* not ours any more (cannot happen: freed on abort) */
	if (code == t->expect_status) {
		t->res = TC_OK;
		snprintf(t->last, sizeof(t->last), "GET %s: %d", t->url_text,
			 code);
	} else if (code > 0) {
		t->res = TC_STATUS;
		snprintf(t->last, sizeof(t->last),
			 "GET %s: status %d, expected %d", t->url_text, code,
			 t->expect_status);
	} else {
		/* A failed connect reaches us without an error callback
		 * (libevent 2.1), or as a cancel. */
		if (t->req_error == EVREQ_HTTP_TIMEOUT)
			t->res = TC_TIMEOUT;
		else if (t->req_error < 0 ||
			 t->req_error == EVREQ_HTTP_REQUEST_CANCEL)
			t->res = TC_NOCONN;
		else
			t->res = TC_BROKEN;
		snprintf(t->last, sizeof(t->last), "GET %s: %s", t->url_text,
			 tomcat_req_error(t->req_error));
		/* A failed lookup comes as an early EOF: say what it was. */
		dns_err = bufferevent_socket_get_dns_error(
			evhttp_connection_get_bufferevent(t->conn));
		if (dns_err) {
			t->res = TC_NOCONN;
			snprintf(t->last, sizeof(t->last),
				 "GET %s: cannot resolve its host: %s",
				 t->url_text, evutil_gai_strerror(dns_err));
		}
	}
	t->res_code = code;
	tomcat_reap(t); /* an older one: not in this call stack */
	t->spent = t->conn;
	t->conn = NULL;
	if (t->in_begin) {
		t->sync_done = true;
		return;
	}
	tomcat_probe_result(t);
}

static int tomcat_timers(struct tomcat *t);

/* Starts a GET for `what`.  Returns 0 when in flight (the request callback
 * or the probe timer will call tomcat_probe_result), 1 when it ended at
 * once (t->res set), or -errno. */
static int tomcat_probe_begin(struct tomcat *t, enum tc_probe_for what)
{
	const struct cmsd_host *h = t->base.host;
	struct event_base *base = h->event_base ? h->event_base(h) : NULL;
	struct evhttp_request *req;
	struct evkeyvalq *hdr;
	struct timeval tv;
	int rc;

	if (!base)
		return -ENOSYS; /* an agent older than SDK 1.2 */
	if ((rc = tomcat_timers(t)) < 0)
		return rc;
	tomcat_reap(t);
	if (!t->numeric_host && !t->dns) {
		/* Reads resolv.conf and the hosts file once: small local
		 * files, like the config itself. */
		t->dns = evdns_base_new(
			base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
				      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!t->dns) {
			h->log(h, CMSD_LOG_ERR,
			       "cannot set up a resolver for %s", t->url.host);
			return -ENOMEM;
		}
	}
	t->conn = evhttp_connection_base_new(base, t->dns, t->url.host,
					     t->url.port);
	if (!t->conn)
		return -ENOMEM;
	/* libevent's own timeout only backs ours up. */
	tv.tv_sec = (time_t)(t->http_timeout_ms / 1000 + 1);
	tv.tv_usec = 0;
	evhttp_connection_set_timeout_tv(t->conn, &tv);
	evhttp_connection_set_retries(t->conn, 0);
	req = evhttp_request_new(tomcat_http_done, t);
	if (!req) {
		tomcat_probe_end(t);
		return -ENOMEM;
	}
	evhttp_request_set_error_cb(req, tomcat_http_error);
	evhttp_request_set_chunked_cb(req, tomcat_http_chunk);
	hdr = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdr, "Host", t->host_hdr);
	evhttp_add_header(hdr, "User-Agent", "cmsd resource-tomcat");
	/* One request per connection: nothing idles between probes. */
	evhttp_add_header(hdr, "Connection", "close");
	t->probe_for = what;
	t->req_error = -1;
	t->sync_done = false;
	t->in_begin = true;
	rc = evhttp_make_request(t->conn, req, EVHTTP_REQ_GET, t->url.path);
	t->in_begin = false;
	if (t->sync_done) {
		/* Refused at connect time: the callback has run already. */
		t->probe_for = TC_PROBE_NONE;
		return 1;
	}
	if (rc < 0) {
		/* libevent has dropped the request. */
		tomcat_probe_end(t);
		return -EIO;
	}
	h->timer_arm(t->probe_timer, t->http_timeout_ms);
	return 0;
}

static void tomcat_stop_finish(struct tomcat *t);
static void tomcat_stop_fail(struct tomcat *t, int rc);

/* A probe for start or stop, from a timer (never from inside the op, so
 * completing through op_done is allowed). */
static void tomcat_probe_again(struct tomcat *t, enum tc_probe_for what)
{
	const struct cmsd_host *h = t->base.host;
	int rc = tomcat_probe_begin(t, what);

	if (rc == 0)
		return;
	if (rc == 1) {
		t->probe_for = what;
		tomcat_probe_result(t);
		return;
	}
	h->log(h, CMSD_LOG_ERR, "%s: cannot probe %s: %s",
	       what == TC_PROBE_START ? "start" : "stop", t->url_text,
	       strerror(-rc));
	if (what == TC_PROBE_START && t->start_op) {
		struct cmsd_op *op = t->start_op;
		t->start_op = NULL;
		h->op_done(op, rc);
	} else if (what == TC_PROBE_STOP && t->stop_op) {
		tomcat_stop_fail(t, rc);
	}
}

/* A GET ended (t->res), or timed out. */
static void tomcat_probe_result(struct tomcat *t)
{
	const struct cmsd_host *h = t->base.host;
	enum tc_probe_for what = t->probe_for;
	struct cmsd_op *op;

	tomcat_probe_end(t);
	if (what == TC_PROBE_MONITOR && t->mon_op) {
		op = t->mon_op;
		t->mon_op = NULL;
		h->op_done(op, tomcat_health(t));
	} else if (what == TC_PROBE_START && t->start_op) {
		if (t->res != TC_OK) {
			h->timer_arm(t->poll_timer, TC_RETRY_MS);
			return;
		}
		op = t->start_op;
		t->start_op = NULL;
		t->started = true;
		h->log(h, CMSD_LOG_INFO, "start: %s", t->last);
		h->op_done(op, 0);
	} else if (what == TC_PROBE_STOP && t->stop_op) {
		if (t->res == TC_NOCONN) {
			if (t->stop_cmd_failed)
				h->log(h, CMSD_LOG_WARNING,
				       "stop: the stop command failed, but "
				       "nothing answers at %s any more",
				       t->url_text);
			tomcat_stop_finish(t);
		} else if (t->stop_cmd_failed) {
			h->log(h, CMSD_LOG_ERR,
			       "stop: the stop command failed and %s still "
			       "answers",
			       t->url_text);
			tomcat_stop_fail(t, -EIO);
		} else {
			h->timer_arm(t->poll_timer, TC_RETRY_MS);
		}
	}
}

static void tomcat_probe_timeout(void *arg)
{
	struct tomcat *t = arg;

	if (t->probe_for == TC_PROBE_NONE)
		return;
	t->res = TC_TIMEOUT;
	t->res_code = 0;
	snprintf(t->last, sizeof(t->last), "GET %s: no answer within %llu ms",
		 t->url_text, (unsigned long long)t->http_timeout_ms);
	/* The connection is dropped by tomcat_probe_result (probe_end), from
	 * this timer: outside libevent's frames of that connection. */
	tomcat_probe_result(t);
}

static void tomcat_poll(void *arg)
{
	struct tomcat *t = arg;

	if (t->probe_for != TC_PROBE_NONE)
		return;
	if (t->start_op)
		tomcat_probe_again(t, TC_PROBE_START);
	else if (t->stop_op && t->stop_phase == TC_STOP_CLOSE)
		tomcat_probe_again(t, TC_PROBE_STOP);
}

static int tomcat_timers(struct tomcat *t)
{
	const struct cmsd_host *h = t->base.host;

	if (!t->probe_timer)
		t->probe_timer = h->timer_new(h, tomcat_probe_timeout, t);
	if (!t->poll_timer)
		t->poll_timer = h->timer_new(h, tomcat_poll, t);
	return t->probe_timer && t->poll_timer ? 0 : -ENOMEM;
}

/* ---- children ---- */

/* How a child ended, and the last lines of what it printed, for the log. */
static void tomcat_describe(const struct cmsd_child_result *res, char *how,
			    size_t how_len, char *tail, size_t tail_len)
{
	const char *s = res->output ? res->output : "";
	size_t end = res->output ? res->output_len : 0, begin = end;
	int lines = 0;
	size_t o = 0;

	if (res->exited)
		snprintf(how, how_len, "exited with status %d", res->exit_code);
	else
		snprintf(how, how_len, "was killed by signal %d", res->signal);
	/* Up to three lines from the end (400 bytes at most), on one log
	 * line. */
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	begin = end;
	while (begin > 0 && end - begin < 400) {
		if (s[begin - 1] == '\n' && ++lines == 3)
			break;
		begin--;
	}
	for (size_t i = begin; i < end && o + 4 < tail_len; i++) {
		char ch = s[i];
		if (ch == '\r')
			continue;
		if (ch == '\n') {
			if (o > 0 &&
			    (o < 3 || memcmp(tail + o - 3, " | ", 3))) {
				memcpy(tail + o, " | ", 3);
				o += 3;
			}
			continue;
		}
		tail[o++] = isprint((unsigned char)ch) ? ch : '?';
	}
	tail[o] = '\0';
	if (res->output_len >= TC_OUTPUT_MAX)
		snprintf(tail, tail_len,
			 "(output past the first %d bytes not kept)",
			 TC_OUTPUT_MAX);
}

static void tomcat_child_done(const struct cmsd_child_result *res, void *arg)
{
	struct tomcat *t = arg;
	const struct cmsd_host *h = t->base.host;
	struct cmsd_op *op;
	char how[64], tail[420];
	bool asked = t->expect_exit;

	t->child = NULL;
	t->expect_exit = false;
	tomcat_describe(res, how, sizeof(how), tail, sizeof(tail));
	if (t->stop_op) {
		/* Any end during a stop is the stop's doing. */
		h->log(h, CMSD_LOG_INFO, "stop: %s %s", t->start_argv[0], how);
		if (t->stop_phase == TC_STOP_CHILD ||
		    t->mode == TC_FOREGROUND) {
			op = t->stop_op;
			t->stop_op = NULL;
			h->op_done(op, 0);
		}
		return;
	}
	if (asked)
		return; /* the end of a cancelled start or stop */
	if (t->mode != TC_FOREGROUND && res->exited && res->exit_code == 0) {
		/* A launcher that has done its job. */
		if (t->start_op)
			h->log(h, CMSD_LOG_INFO,
			       "start: %s exited with status 0; waiting for "
			       "%s",
			       t->start_argv[0], t->url_text);
		return;
	}
	h->log(h, CMSD_LOG_ERR, "%s %s%s%s", t->start_argv[0], how,
	       tail[0] ? ": " : "", tail);
	if (t->start_op) {
		op = t->start_op;
		t->start_op = NULL;
		tomcat_probe_end(t);
		h->timer_disarm(t->poll_timer);
		h->op_done(op, -ESRCH);
		return;
	}
	if (t->mode != TC_FOREGROUND)
		return; /* the server is not this child: the monitor decides */
	/* Ended on its own while in service. */
	t->died = true;
	h->notify(h, CMSD_EV_FAILED, how);
}

static int tomcat_start(void *inst, struct cmsd_op *op)
{
	struct tomcat *t = inst;
	const struct cmsd_host *h = t->base.host;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = t->start_argv,
		.envp = t->envp,
		/* A long-running server, or a launcher bounded by the
		 * agent's start timeout: no limit of our own. */
		.timeout_ms = 0,
		.kill_grace_ms = (uint32_t)t->stop_grace_ms,
		.output_max = TC_OUTPUT_MAX,
		.done = tomcat_child_done,
		.arg = t,
	};
	int rc;

	/* A server still ending after a cancelled stop is not "running". */
	if (t->child)
		return t->expect_exit ? -EAGAIN : 0;
	if (t->mode != TC_FOREGROUND && t->started)
		return 0;
	t->died = false;
	if ((rc = tomcat_timers(t)) < 0)
		return rc;
	rc = h->spawn(h, &req, &t->child);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: cannot run %s: %s",
		       t->start_argv[0], strerror(-rc));
		return rc;
	}
	h->log(h, CMSD_LOG_INFO, "start: %s running as pid %ld",
	       t->start_argv[0], (long)h->child_pid(t->child));
	t->start_op = op;
	snprintf(t->last, sizeof(t->last), "no answer from %s yet",
		 t->url_text);
	/* Give the server a moment to bind before the first GET. */
	h->timer_arm(t->poll_timer, TC_RETRY_MS);
	return CMSD_PENDING;
}

/* The URL no longer answers: the stop is done once no start child is
 * left (the foreground server of a launcher setup, say). */
static void tomcat_stop_finish(struct tomcat *t)
{
	const struct cmsd_host *h = t->base.host;
	struct cmsd_op *op;

	if (t->child) {
		t->stop_phase = TC_STOP_CHILD;
		t->expect_exit = true;
		h->child_kill(t->child);
		return;
	}
	op = t->stop_op;
	t->stop_op = NULL;
	h->op_done(op, 0);
}

static void tomcat_stop_fail(struct tomcat *t, int rc)
{
	struct cmsd_op *op = t->stop_op;

	t->stop_op = NULL;
	t->base.host->op_done(op, rc);
}

static void tomcat_stop_done(const struct cmsd_child_result *res, void *arg)
{
	struct tomcat *t = arg;
	const struct cmsd_host *h = t->base.host;
	char how[64], tail[420];

	t->stop_child = NULL;
	if (!t->stop_op || t->stop_phase != TC_STOP_CMD)
		return; /* a cancelled stop */
	tomcat_describe(res, how, sizeof(how), tail, sizeof(tail));
	t->stop_cmd_failed = !res->exited || res->exit_code != 0;
	if (t->stop_cmd_failed)
		h->log(h, CMSD_LOG_ERR, "stop: %s %s%s%s", t->stop_argv[0], how,
		       tail[0] ? ": " : "", tail);
	/* Done when nothing answers at the URL any more. */
	t->stop_phase = TC_STOP_CLOSE;
	tomcat_probe_again(t, TC_PROBE_STOP);
}

static int tomcat_stop(void *inst, struct cmsd_op *op)
{
	struct tomcat *t = inst;
	const struct cmsd_host *h = t->base.host;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = t->stop_argv,
		/* Bounded by the agent's stop timeout. */
		.timeout_ms = 0,
		.output_max = TC_OUTPUT_MAX,
		.done = tomcat_stop_done,
		.arg = t,
	};
	int rc;

	t->died = false;
	tomcat_reap(t);
	if (t->mode == TC_FOREGROUND) {
		if (!t->child)
			return 0;
		t->stop_op = op;
		t->stop_phase = TC_STOP_CHILD;
		t->expect_exit = true;
		h->child_kill(t->child);
		return CMSD_PENDING;
	}
	/* Launcher and systemd: the stop command runs even when this
	 * instance did not start the server (a start given up, or a
	 * server left by an earlier agent): stopping it is the point. */
	t->started = false;
	if ((rc = tomcat_timers(t)) < 0)
		return rc;
	rc = h->spawn(h, &req, &t->stop_child);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "stop: cannot run %s: %s",
		       t->stop_argv[0], strerror(-rc));
		return rc;
	}
	t->stop_op = op;
	t->stop_phase = TC_STOP_CMD;
	t->stop_cmd_failed = false;
	return CMSD_PENDING;
}

static int tomcat_monitor(void *inst, struct cmsd_op *op)
{
	struct tomcat *t = inst;
	int rc;

	if (t->mode == TC_FOREGROUND && !t->child)
		return t->died ? CMSD_FAILED : CMSD_STOPPED;
	if (t->mode != TC_FOREGROUND && !t->started)
		return CMSD_STOPPED;
	rc = tomcat_probe_begin(t, TC_PROBE_MONITOR);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return tomcat_health(t);
	t->mon_op = op;
	return CMSD_PENDING;
}

static void tomcat_cancel(void *inst, struct cmsd_op *op)
{
	struct tomcat *t = inst;
	const struct cmsd_host *h = t->base.host;

	if (t->start_op == op) {
		/* A start given up takes its half-started server with it
		 * (the agent kills children spawned under the op too;
		 * killing twice is harmless). */
		h->log(h, CMSD_LOG_WARNING, "start: given up; last: %s",
		       t->last);
		t->start_op = NULL;
		tomcat_probe_end(t);
		h->timer_disarm(t->poll_timer);
		if (t->child) {
			t->expect_exit = true;
			h->child_kill(t->child);
		}
	}
	if (t->mon_op == op) {
		t->mon_op = NULL;
		tomcat_probe_end(t);
	}
	if (t->stop_op == op) {
		/* A stop given up leaves the server dying (foreground) or
		 * the stop command killed by the agent. */
		t->stop_op = NULL;
		tomcat_probe_end(t);
		h->timer_disarm(t->poll_timer);
	}
}

/* ---- init ---- */

static int tomcat_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		       void **inst)
{
	const struct cmsd_conf_ops *cf = h->conf;
	struct tomcat *t = calloc(1, sizeof(*t));
	const char *start = NULL, *stop = NULL, *unit = NULL, *home = NULL,
		   *cbase = NULL, *u = NULL;
	int64_t status = 200;
	struct in6_addr a6;
	int rc = -EINVAL;

	if (!t)
		return -ENOMEM;
	t->base.host = h;
	if (tomcat_read(h, c, &t->url, &status, &t->http_timeout_ms,
			&t->stop_grace_ms))
		goto fail;
	t->expect_status = (int)status;
	cf->get_string(c, "start-command", NULL, &start);
	cf->get_string(c, "stop-command", NULL, &stop);
	cf->get_string(c, "systemd-unit", NULL, &unit);
	cf->get_string(c, "catalina-home", NULL, &home);
	cf->get_string(c, "catalina-base", NULL, &cbase);
	cf->get_string(c, "url", NULL, &u);
	rc = -ENOMEM;
	if (!(t->url_text = strdup(u)))
		goto fail;
	t->numeric_host = inet_pton(AF_INET, t->url.host, &a6) == 1 ||
			  inet_pton(AF_INET6, t->url.host, &a6) == 1;
	snprintf(t->host_hdr, sizeof(t->host_hdr), "%s%s%s:%u",
		 strchr(t->url.host, ':') ? "[" : "", t->url.host,
		 strchr(t->url.host, ':') ? "]" : "", t->url.port);
	if (unit) {
		t->mode = TC_SYSTEMD;
		if (!(t->unit = strdup(unit)))
			goto fail;
		t->fixed_start[0] = t->fixed_stop[0] = TC_SYSTEMCTL;
		t->fixed_start[1] = "start";
		t->fixed_stop[1] = "stop";
		t->fixed_start[2] = t->fixed_stop[2] = t->unit;
		t->start_argv = t->fixed_start;
		t->stop_argv = t->fixed_stop;
	} else if (home) {
		/* Debian's tomcat10.service, in the foreground: its
		 * environment without the unit's sandboxing. */
		t->mode = TC_FOREGROUND;
		if (!cbase)
			cbase = home;
		if (asprintf(&t->catalina_sh, "%s/bin/catalina.sh", home) < 0) {
			t->catalina_sh = NULL;
			goto fail;
		}
		if (asprintf(&t->env_home, "CATALINA_HOME=%s", home) < 0) {
			t->env_home = NULL;
			goto fail;
		}
		if (asprintf(&t->env_base, "CATALINA_BASE=%s", cbase) < 0) {
			t->env_base = NULL;
			goto fail;
		}
		t->fixed_start[0] = t->catalina_sh;
		t->fixed_start[1] = "run";
		t->start_argv = t->fixed_start;
		t->env[0] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
		t->env[1] = "LANG=C";
		t->env[2] = t->env_home;
		t->env[3] = t->env_base;
		t->env[4] = "CATALINA_TMPDIR=/tmp";
		t->envp = t->env;
	} else {
		t->mode = stop ? TC_LAUNCHER : TC_FOREGROUND;
		if (!(t->start_split = pu_argv_split(start)))
			goto fail;
		t->start_argv = (const char *const *)t->start_split;
		if (stop) {
			if (!(t->stop_split = pu_argv_split(stop)))
				goto fail;
			t->stop_argv = (const char *const *)t->stop_split;
		}
	}
	*inst = t;
	return 0;
fail:
	tomcat_destroy(t);
	return rc;
}

static const struct cmsd_resource_ops tomcat_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = tomcat_validate,
	.init = tomcat_init,
	.start = tomcat_start,
	.stop = tomcat_stop,
	.monitor = tomcat_monitor,
	.cancel = tomcat_cancel,
	.destroy = tomcat_destroy,
};

static const struct cmsd_plugin tomcat_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-tomcat",
	.version = "0.2.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "Tomcat web UI, monitored over HTTP",
	.ops.resource = &tomcat_ops,
};

CMSD_PLUGIN_DEFINE(tomcat_plugin)
