/*
 * resource-mysql: MariaDB on the replicated database partition.
 *
 * The server runs one of two ways:
 *
 *   <mariadbd>      as a long-lived child of the agent, spawned through
 *                   host->spawn without a time limit, with --datadir,
 *                   --socket, --pid-file, --user and the networking options
 *                   added to the configured command;
 *   <systemd-unit>  as a unit, started and stopped with systemctl.
 *
 * Health is always a real query: "SELECT 1" over the Unix socket through
 * MariaDB Connector/C's non-blocking API, driven by an fd watch and timers
 * on the agent's loop (the library never blocks the loop; no thread).
 *
 *   start    child: refuses (-EBUSY) when a server already runs on the pid
 *            file or the socket, since adopting one the agent did not spawn
 *            would leave it unable to see it end or to stop it surely (see
 *            the man page); refuses (-ENOENT) a data directory without the
 *            mysql system schema unless <install-db>yes, which runs
 *            mariadb-install-db first.  Then spawns mariadbd and queries it
 *            every 200 ms; completes at the first answer, with -ESRCH when
 *            the child ends first (the tail of its output logged), or
 *            -EACCES when the server refuses the monitor's account.
 *            systemd: systemctl start, then the same queries.
 *   stop     child: SIGTERM to its process group, SIGKILL after
 *            <stop-grace> (the agent's spawn does both and logs the KILL);
 *            completes when it has ended.  systemd: systemctl stop.
 *   monitor  not started: STOPPED, or FAILED when the child ended without
 *            a stop (until the next start or stop).  Otherwise the query:
 *            an answer RUNNING, a refusal or an error FAILED, no answer
 *            within MYSQL_PROBE_MS UNKNOWN (a hung server is for the
 *            agent's hysteresis to judge, not one slow probe).
 *
 * A child that ends when no stop asked for it is logged and reported with
 * CMSD_EV_FAILED, so the agent need not wait for the next monitor.
 *
 * Secrets never sit in the XML or in argv: the monitor's password is read
 * from <monitor-password-file> at each connection, handed to the library
 * and wiped; it is never logged.
 *
 * The agent runs one op of an instance at a time, so one probe and one
 * pending op pointer per purpose are enough.
 */
#include <errmsg.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mysql_args.h"
#include "plugin_util.h"

#define MYSQL_DEF_DATADIR  "/var/lib/mysql-share/mysql"
#define MYSQL_DEF_SOCKET   "/run/mysqld/mysqld.sock"
#define MYSQL_DEF_PIDFILE  "/run/mysqld/mysqld.pid"
#define MYSQL_DEF_MARIADBD "/usr/sbin/mariadbd"

/* One query, connection included; well below the agent's default monitor
 * timeout (20 s), so that a silent server reads as UNKNOWN rather than a
 * timed-out op. */
#define MYSQL_PROBE_MS 5000
/* Between two queries while start waits for the server. */
#define MYSQL_RETRY_MS 200
/* Default SIGTERM to SIGKILL delay of stop: a clean InnoDB shutdown takes
 * seconds; below the agent's default stop timeout (60 s) so that the KILL
 * comes from the plugin's stop, not from a cancelled op. */
#define MYSQL_DEF_GRACE_MS 30000
/* The agent's stop-timeout when the resource gives none (cmsd.xml(5)). */
#define MYSQL_AGENT_STOP_TIMEOUT_MS 60000
/* The server's output kept for the log when it ends (its start-up
 * messages; later ones go past the limit and are drained unread). */
#define MYSQL_OUTPUT_MAX 65536
/* Lines of a child's output logged when it fails. */
#define MYSQL_TAIL_LINES 5
/* A safety bound for install-db and systemctl: the agent's start and stop
 * timeouts cancel them much earlier as a rule. */
#define MYSQL_HELPER_MS 600000
/* A password longer than this is not a password file. */
#define MYSQL_PASSWORD_MAX 1024

enum mysql_probe_for {
	MYSQL_PROBE_NONE,
	MYSQL_PROBE_START,
	MYSQL_PROBE_MONITOR
};
enum mysql_step { MYSQL_STEP_CONNECT, MYSQL_STEP_QUERY, MYSQL_STEP_STORE };
/* How a query ended. */
enum mysql_outcome {
	MYSQL_OK,      /* the server answered SELECT 1 */
	MYSQL_ERROR,   /* it refused or the connection failed: err/msg */
	MYSQL_TIMEOUT, /* no answer within MYSQL_PROBE_MS */
};
enum mysql_helper_for {
	MYSQL_HELPER_INSTALL,
	MYSQL_HELPER_START,
	MYSQL_HELPER_STOP
};

struct mysql {
	struct pu_base base; /* first: shared layout of the bundled plugins */
	char *datadir;
	char *socket;
	char *pid_file;
	char **mariadbd_argv; /* NULL when a systemd unit is used */
	char **server_argv;   /* mariadbd_argv and the options added */
	char **install_argv;  /* NULL unless <install-db>yes */
	char *unit;
	char *user;
	char *monitor_user;
	char *monitor_password_file; /* NULL: no password */
	bool networking;
	uint16_t port;
	char *bind_address; /* NULL: mariadbd's own default */
	uint32_t stop_grace_ms;

	struct cmsd_child *child;  /* the running mariadbd, or NULL */
	struct cmsd_child *helper; /* install-db or systemctl, or NULL */
	enum mysql_helper_for helper_for;
	bool active;	  /* systemd: started and not stopped since */
	bool died;	  /* the child ended on its own: FAILED until the next
			     start or stop */
	bool expect_exit; /* we asked it to end (stop, cancelled start) */
	bool stop_killed; /* stop's grace ran out (for the log) */
	struct cmsd_op *start_op; /* pending start */
	struct cmsd_op *stop_op;  /* pending stop */
	struct cmsd_op *mon_op;	  /* pending monitor */
	bool mon_in_call; /* inside monitor(): answer by return, not op_done */
	int mon_health;	  /* the answer found inside monitor() */
	struct cmsd_timer *retry; /* spaces start's queries */

	/* The query in flight. */
	enum mysql_probe_for probe_for;
	enum mysql_step step;
	MYSQL *db;
	MYSQL *conn_ret;
	int query_ret;
	MYSQL_RES *res;
	int wait_status; /* what the library waits for now */
	struct cmsd_watch *watch;
	int watch_fd;
	struct cmsd_timer *deadline; /* bounds the whole query */
	struct cmsd_timer *libtimer; /* a timeout the library asked for */
	/* The password while the connection is made: the library reads it
	 * when the server's greeting has come, not at connect_start. */
	char pw[MYSQL_PASSWORD_MAX];
	unsigned last_err; /* of the last failed start query */
	char last_msg[256];
};

static const char *const mysql_keys[] = {
	"datadir",	"socket",
	"pid-file",	"mariadbd",
	"user",		"systemd-unit",
	"monitor-user", "monitor-password-file",
	"networking",	"port",
	"bind-address", "install-db",
	"stop-grace",	NULL};

/* The values as read; strings point into the configuration. */
struct mysql_cfg {
	const char *datadir, *socket, *pid_file, *mariadbd, *unit, *user;
	const char *monitor_user, *password_file, *bind_address;
	int64_t port;
	int networking, install_db;
	uint64_t stop_grace_ms;
};

static int mysql_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		      struct mysql_cfg *m)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, mysql_keys);
	const char *stop_timeout;
	uint64_t stop_timeout_ms;

	bad += pu_abs_path(h, c, "datadir", false, &m->datadir);
	bad += pu_abs_path(h, c, "socket", false, &m->socket);
	bad += pu_abs_path(h, c, "pid-file", false, &m->pid_file);
	bad += pu_abs_path(h, c, "monitor-password-file", false,
			   &m->password_file);
	bad += pu_word(h, c, "user", false, 32);
	bad += pu_word(h, c, "monitor-user", false, 80);
	bad += pu_word(h, c, "systemd-unit", false, 255);
	cf->get_string(c, "user", "mysql", &m->user);
	cf->get_string(c, "monitor-user", "root", &m->monitor_user);
	cf->get_string(c, "systemd-unit", NULL, &m->unit);
	if (cf->get_string(c, "mariadbd", NULL, &m->mariadbd) < 0)
		bad++;
	else if (m->mariadbd && m->mariadbd[0] != '/')
		bad += cf->error(c, "mariadbd",
				 "\"%s\" must start with an absolute path (no "
				 "shell, no PATH search)",
				 m->mariadbd) < 0;
	/* Two ways to run the server would leave stop unsure of which one
	 * to undo. */
	if (m->mariadbd && m->unit)
		bad += cf->error(c, "systemd-unit",
				 "give either <mariadbd> or <systemd-unit>, "
				 "not both") < 0;
	if (!m->unit && !m->mariadbd)
		m->mariadbd = MYSQL_DEF_MARIADBD;
	if (!m->datadir)
		m->datadir = MYSQL_DEF_DATADIR;
	if (!m->socket)
		m->socket = MYSQL_DEF_SOCKET;
	if (!m->pid_file)
		m->pid_file = MYSQL_DEF_PIDFILE;
	if (strlen(m->socket) >= MYSQL_SOCKET_MAX)
		bad += cf->error(c, "socket",
				 "\"%s\" is longer than a Unix socket path "
				 "may be (%d bytes at most)",
				 m->socket, MYSQL_SOCKET_MAX - 1) < 0;
	bad += cf->get_bool(c, "networking", 1, &m->networking) < 0;
	bad += cf->get_int(c, "port", 3306, 1, 65535, &m->port) < 0;
	if (cf->get_string(c, "bind-address", NULL, &m->bind_address) < 0)
		bad++;
	else if (m->bind_address && !pu_is_ip(m->bind_address))
		bad += cf->error(c, "bind-address",
				 "\"%s\" is not an IPv4 or IPv6 address",
				 m->bind_address) < 0;
	/* Keys that would be silently ignored are mistakes. */
	if (!m->networking && cf->count(c, "port"))
		bad += cf->error(c, "port", "no TCP port with <networking>no") <
		       0;
	if (!m->networking && m->bind_address)
		bad += cf->error(c, "bind-address",
				 "no address to bind with <networking>no") < 0;
	bad += cf->get_bool(c, "install-db", 0, &m->install_db) < 0;
	if (m->install_db && m->unit)
		bad += cf->error(c, "install-db",
				 "<install-db>yes needs <mariadbd>: the "
				 "unit's own configuration places its data") <
		       0;
	bad += cf->get_duration_ms(c, "stop-grace", MYSQL_DEF_GRACE_MS, 1000,
				   3600000, &m->stop_grace_ms) < 0;
	/* A grace as long as the agent's stop timeout would have the stop op
	 * cancelled before the SIGKILL, and a failed stop keeps the peer
	 * from taking the data over.  (A malformed attribute is the agent's
	 * to report.) */
	stop_timeout = cf->attr(c, "stop-timeout");
	if (!stop_timeout ||
	    mysql_parse_duration(stop_timeout, &stop_timeout_ms) < 0)
		stop_timeout_ms = MYSQL_AGENT_STOP_TIMEOUT_MS;
	if (!m->unit && m->stop_grace_ms >= stop_timeout_ms)
		bad += cf->error(c, "stop-grace",
				 "%llu ms is not below the resource's "
				 "stop-timeout (%llu ms): the stop would be "
				 "cancelled before its SIGKILL",
				 (unsigned long long)m->stop_grace_ms,
				 (unsigned long long)stop_timeout_ms) < 0;
	if (m->unit && cf->count(c, "stop-grace"))
		bad += cf->error(c, "stop-grace",
				 "not used with <systemd-unit> (the unit's "
				 "TimeoutStopSec= applies)") < 0;
	return bad;
}

static int mysql_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct mysql_cfg m = {0};
	int bad = mysql_read(h, c, &m);

	/* Only a warning when missing here: see pu_command. */
	if (!bad)
		pu_command(h, c, "mariadbd", false);
	return bad ? -EINVAL : 0;
}

/* ---- the query ---- */

static void mysql_probe_release(struct mysql *m)
{
	const struct cmsd_host *h = m->base.host;

	if (m->watch) {
		h->watch_free(m->watch);
		m->watch = NULL;
	}
	m->watch_fd = -1;
	explicit_bzero(m->pw, sizeof(m->pw));
	if (m->deadline)
		h->timer_disarm(m->deadline);
	if (m->libtimer)
		h->timer_disarm(m->libtimer);
	if (m->res) {
		mysql_free_result(m->res);
		m->res = NULL;
	}
	if (m->db) {
		/* Quits over the connection when it is up: a few bytes into
		 * an empty local socket buffer, so the write cannot block. */
		mysql_close(m->db);
		m->db = NULL;
	}
	m->probe_for = MYSQL_PROBE_NONE;
}

/* Abandons a query the library is in the middle of: every read and write
 * fails from now on, so the suspended call finishes at once with an error;
 * then the connection is freed. */
static void mysql_probe_abort(struct mysql *m)
{
	int status = m->wait_status;

	if (!m->db) {
		mysql_probe_release(m);
		return;
	}
	if (status) {
		mariadb_cancel(m->db);
		for (int i = 0; i < 16 && status; i++) {
			switch (m->step) {
			case MYSQL_STEP_CONNECT:
				status = mysql_real_connect_cont(&m->conn_ret,
								 m->db, status);
				break;
			case MYSQL_STEP_QUERY:
				status = mysql_real_query_cont(&m->query_ret,
							       m->db, status);
				break;
			case MYSQL_STEP_STORE:
				status = mysql_store_result_cont(&m->res, m->db,
								 status);
				break;
			}
		}
		m->wait_status = 0;
		if (status) {
			/* Still suspended: freeing it would free the stack it
			 * runs on under its feet.  Leak the handle. */
			m->base.host->log(m->base.host, CMSD_LOG_WARNING,
					  "monitor: an aborted query did not "
					  "end: its connection is leaked");
			m->db = NULL;
		}
	}
	mysql_probe_release(m);
}

static void mysql_probe_ended(struct mysql *m, enum mysql_probe_for what,
			      enum mysql_outcome out);

static void mysql_watch_cb(int fd, unsigned events, void *arg);

/* The library waits for `status`: watch its fd and its timeout. */
static int mysql_probe_wait(struct mysql *m, int status)
{
	const struct cmsd_host *h = m->base.host;
	int fd = (int)mysql_get_socket(m->db);
	unsigned ev = 0;

	m->wait_status = status;
	if (status & MYSQL_WAIT_READ)
		ev |= CMSD_WATCH_READ;
	if (status & MYSQL_WAIT_WRITE)
		ev |= CMSD_WATCH_WRITE;
	if (m->watch && m->watch_fd != fd) {
		h->watch_free(m->watch);
		m->watch = NULL;
	}
	if (!m->watch && fd >= 0 && ev) {
		m->watch = h->watch_new(h, fd, ev, mysql_watch_cb, m);
		if (!m->watch)
			return -ENOMEM;
		m->watch_fd = fd;
	} else if (m->watch) {
		h->watch_set(m->watch, ev);
	}
	if (status & MYSQL_WAIT_TIMEOUT)
		h->timer_arm(m->libtimer, mysql_get_timeout_value_ms(m->db));
	else
		h->timer_disarm(m->libtimer);
	return 0;
}

/* Runs the steps on from the one that just returned `status` (0: it has
 * finished), until the library must wait or the query has ended. */
static void mysql_probe_run(struct mysql *m, int status)
{
	enum mysql_probe_for what = m->probe_for;
	MYSQL_ROW row;
	bool one;

	for (;;) {
		if (status) {
			if (mysql_probe_wait(m, status) < 0) {
				mysql_probe_abort(m);
				snprintf(m->last_msg, sizeof(m->last_msg),
					 "out of memory");
				m->last_err = CR_OUT_OF_MEMORY;
				mysql_probe_ended(m, what, MYSQL_ERROR);
			}
			return;
		}
		m->wait_status = 0;
		switch (m->step) {
		case MYSQL_STEP_CONNECT:
			explicit_bzero(m->pw, sizeof(m->pw));
			if (!m->conn_ret)
				goto error;
			m->step = MYSQL_STEP_QUERY;
			status = mysql_real_query_start(&m->query_ret, m->db,
							"SELECT 1", 8);
			break;
		case MYSQL_STEP_QUERY:
			if (m->query_ret)
				goto error;
			m->step = MYSQL_STEP_STORE;
			status = mysql_store_result_start(&m->res, m->db);
			break;
		case MYSQL_STEP_STORE:
			if (!m->res)
				goto error;
			row = mysql_fetch_row(m->res);
			one = row && row[0] && strcmp(row[0], "1") == 0;
			if (!one) {
				m->last_err = 0;
				snprintf(m->last_msg, sizeof(m->last_msg),
					 "SELECT 1 did not return 1");
				mysql_probe_release(m);
				mysql_probe_ended(m, what, MYSQL_ERROR);
				return;
			}
			mysql_probe_release(m);
			mysql_probe_ended(m, what, MYSQL_OK);
			return;
		}
	}
error:
	m->last_err = mysql_errno(m->db);
	snprintf(m->last_msg, sizeof(m->last_msg), "%s", mysql_error(m->db));
	mysql_probe_release(m);
	mysql_probe_ended(m, what, MYSQL_ERROR);
}

/* Resumes the suspended step with what has happened. */
static void mysql_probe_resume(struct mysql *m, int happened)
{
	int status = 0;

	switch (m->step) {
	case MYSQL_STEP_CONNECT:
		status = mysql_real_connect_cont(&m->conn_ret, m->db, happened);
		break;
	case MYSQL_STEP_QUERY:
		status = mysql_real_query_cont(&m->query_ret, m->db, happened);
		break;
	case MYSQL_STEP_STORE:
		status = mysql_store_result_cont(&m->res, m->db, happened);
		break;
	}
	mysql_probe_run(m, status);
}

static void mysql_watch_cb(int fd, unsigned events, void *arg)
{
	struct mysql *m = arg;
	int happened = 0;

	(void)fd;
	if (!m->db || !m->wait_status)
		return;
	if (events & CMSD_WATCH_READ)
		happened |= MYSQL_WAIT_READ;
	if (events & CMSD_WATCH_WRITE)
		happened |= MYSQL_WAIT_WRITE;
	mysql_probe_resume(m, happened);
}

static void mysql_libtimer_cb(void *arg)
{
	struct mysql *m = arg;

	if (m->db && (m->wait_status & MYSQL_WAIT_TIMEOUT))
		mysql_probe_resume(m, MYSQL_WAIT_TIMEOUT);
}

static void mysql_deadline_cb(void *arg)
{
	struct mysql *m = arg;
	enum mysql_probe_for what = m->probe_for;

	if (what == MYSQL_PROBE_NONE)
		return;
	mysql_probe_abort(m);
	mysql_probe_ended(m, what, MYSQL_TIMEOUT);
}

/* The monitor's password into buf (NUL-terminated), from its file, or ""
 * when none is configured.  0 or -errno, logged. */
static int mysql_password(struct mysql *m, char *buf, size_t size)
{
	const struct cmsd_host *h = m->base.host;
	ssize_t n;
	int fd, len;

	buf[0] = '\0';
	if (!m->monitor_password_file)
		return 0;
	fd = open(m->monitor_password_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;

		h->log(h, CMSD_LOG_ERR, "monitor-password-file %s: %s",
		       m->monitor_password_file, strerror(e));
		return -e;
	}
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		int e = errno;

		h->log(h, CMSD_LOG_ERR, "monitor-password-file %s: %s",
		       m->monitor_password_file, strerror(e));
		return -e;
	}
	len = mysql_password_len(buf, (size_t)n);
	if (len < 0 || (size_t)n == size - 1) {
		explicit_bzero(buf, size);
		h->log(h, CMSD_LOG_ERR,
		       "monitor-password-file %s: not a password (a NUL byte, "
		       "or over %d bytes)",
		       m->monitor_password_file, MYSQL_PASSWORD_MAX - 1);
		return -EINVAL;
	}
	buf[len] = '\0';
	return 0;
}

/* Starts a query for `what`.  0: in flight, or already ended (then
 * mysql_probe_ended has run); -errno: could not begin. */
static int mysql_probe_begin(struct mysql *m, enum mysql_probe_for what)
{
	const struct cmsd_host *h = m->base.host;
	unsigned int proto = MYSQL_PROTOCOL_SOCKET;
	int status, rc;

	rc = mysql_password(m, m->pw, sizeof(m->pw));
	if (rc < 0)
		return rc;
	m->db = mysql_init(NULL);
	if (!m->db) {
		explicit_bzero(m->pw, sizeof(m->pw));
		return -ENOMEM;
	}
	mysql_options(m->db, MYSQL_OPT_NONBLOCK, 0);
	mysql_options(m->db, MYSQL_OPT_PROTOCOL, &proto);
	m->probe_for = what;
	m->step = MYSQL_STEP_CONNECT;
	m->conn_ret = NULL;
	m->wait_status = 0;
	h->timer_arm(m->deadline, MYSQL_PROBE_MS);
	status = mysql_real_connect_start(
		&m->conn_ret, m->db, "localhost", m->monitor_user,
		m->monitor_password_file ? m->pw : NULL, NULL, 0, m->socket, 0);
	mysql_probe_run(m, status);
	return 0;
}

/* ---- start ---- */

/* The monitor's account was refused: retrying will not help. */
static bool mysql_refused(unsigned err)
{
	return err == ER_ACCESS_DENIED_ERROR ||
	       err == ER_ACCESS_DENIED_NO_PASSWORD_ERROR ||
	       err == ER_DBACCESS_DENIED_ERROR;
}

static void mysql_start_done(struct mysql *m, int rc)
{
	struct cmsd_op *op = m->start_op;

	m->start_op = NULL;
	/* A failed start leaves no server behind: the agent may hold the
	 * resource down for a while before it calls stop. */
	if (rc < 0 && m->child && !m->expect_exit) {
		m->expect_exit = true;
		m->base.host->child_kill(m->child);
	}
	if (op)
		m->base.host->op_done(op, rc);
}

/* A query of a pending start or of a monitor ended. */
static void mysql_probe_ended(struct mysql *m, enum mysql_probe_for what,
			      enum mysql_outcome out)
{
	const struct cmsd_host *h = m->base.host;
	struct cmsd_op *op;
	int health;

	if (what == MYSQL_PROBE_MONITOR) {
		if (!m->mon_op)
			return;
		op = m->mon_op;
		m->mon_op = NULL;
		if (out == MYSQL_OK) {
			health = CMSD_RUNNING;
		} else if (out == MYSQL_TIMEOUT) {
			h->log(h, CMSD_LOG_WARNING,
			       "monitor: no answer on %s within %d ms",
			       m->socket, MYSQL_PROBE_MS);
			health = CMSD_UNKNOWN;
		} else {
			h->log(h, CMSD_LOG_WARNING, "monitor: %s: error %u: %s",
			       m->socket, m->last_err, m->last_msg);
			health = CMSD_FAILED;
		}
		if (m->mon_in_call)
			m->mon_health = health;
		else
			h->op_done(op, health);
		return;
	}
	if (what != MYSQL_PROBE_START || !m->start_op)
		return;
	if (out == MYSQL_OK) {
		h->log(h, CMSD_LOG_INFO, "start: the server answers on %s",
		       m->socket);
		if (m->unit)
			m->active = true;
		mysql_start_done(m, 0);
		return;
	}
	if (out == MYSQL_ERROR && mysql_refused(m->last_err)) {
		h->log(h, CMSD_LOG_ERR,
		       "start: the server refuses the monitor's account %s: "
		       "%s",
		       m->monitor_user, m->last_msg);
		mysql_start_done(m, -EACCES);
		return;
	}
	if (out == MYSQL_TIMEOUT)
		snprintf(m->last_msg, sizeof(m->last_msg),
			 "no answer within %d ms", MYSQL_PROBE_MS);
	/* Not up yet: again; the agent's start timeout bounds the wait. */
	h->timer_arm(m->retry, MYSQL_RETRY_MS);
}

static void mysql_retry_cb(void *arg)
{
	struct mysql *m = arg;
	int rc;

	if (!m->start_op || m->probe_for != MYSQL_PROBE_NONE)
		return;
	rc = mysql_probe_begin(m, MYSQL_PROBE_START);
	if (rc < 0)
		mysql_start_done(m, rc);
}

/* Logs how a child ended and the last lines of its output. */
static void mysql_log_end(struct mysql *m, const char *what,
			  const struct cmsd_child_result *res, char *how,
			  size_t how_len)
{
	const struct cmsd_host *h = m->base.host;
	const char *tail, *p, *end;
	size_t len;

	if (res->timed_out)
		snprintf(how, how_len, "timed out after %d s",
			 MYSQL_HELPER_MS / 1000);
	else if (res->exited)
		snprintf(how, how_len, "exited with status %d", res->exit_code);
	else
		snprintf(how, how_len, "was killed by signal %d", res->signal);
	mysql_tail(res->output, res->output_len, MYSQL_TAIL_LINES, &tail, &len);
	h->log(h, CMSD_LOG_ERR, "%s %s%s", what, how,
	       len ? "; its last output:" : "");
	for (p = tail, end = tail + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l)
			h->log(h, CMSD_LOG_ERR, "  | %.*s", (int)l, p);
		p += l + 1;
	}
}

static void mysql_child_done(const struct cmsd_child_result *res, void *arg)
{
	struct mysql *m = arg;
	const struct cmsd_host *h = m->base.host;
	struct cmsd_op *op;
	char how[64];

	m->child = NULL;
	if (m->stop_op || m->expect_exit) {
		/* Asked to end by stop, or by a failed or cancelled start. */
		const char *why = m->stop_op ? "stop" : "start given up";

		if (!res->exited && res->signal == SIGKILL)
			h->log(h, CMSD_LOG_WARNING,
			       "%s: %s did not shut down within %u ms of "
			       "SIGTERM: killed",
			       why, m->server_argv[0], m->stop_grace_ms);
		else if (res->exited)
			h->log(h, CMSD_LOG_INFO, "%s: %s has ended (status %d)",
			       why, m->server_argv[0], res->exit_code);
		else
			h->log(h, CMSD_LOG_INFO, "%s: %s has ended (signal %d)",
			       why, m->server_argv[0], res->signal);
		m->expect_exit = false;
		if (m->stop_op) {
			op = m->stop_op;
			m->stop_op = NULL;
			h->op_done(op, 0);
		}
		return;
	}
	mysql_log_end(m, m->server_argv[0], res, how, sizeof(how));
	if (m->start_op) {
		if (m->probe_for == MYSQL_PROBE_START)
			mysql_probe_abort(m);
		h->timer_disarm(m->retry);
		mysql_start_done(m, -ESRCH);
		return;
	}
	/* Ended on its own while in service. */
	m->died = true;
	h->notify(h, CMSD_EV_FAILED, how);
}

static int mysql_spawn_server(struct mysql *m)
{
	const struct cmsd_host *h = m->base.host;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = (const char *const *)m->server_argv,
		/* A long-running service: no time limit; stop kills it. */
		.timeout_ms = 0,
		.kill_grace_ms = m->stop_grace_ms,
		.output_max = MYSQL_OUTPUT_MAX,
		.done = mysql_child_done,
		.arg = m,
	};
	int rc = h->spawn(h, &req, &m->child);

	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: cannot run %s: %s",
		       m->server_argv[0], strerror(-rc));
		return rc;
	}
	h->log(h, CMSD_LOG_INFO, "start: %s running as pid %ld",
	       m->server_argv[0], (long)h->child_pid(m->child));
	/* Give it a moment before the first query. */
	h->timer_arm(m->retry, MYSQL_RETRY_MS);
	return 0;
}

static void mysql_helper_done(const struct cmsd_child_result *res, void *arg)
{
	struct mysql *m = arg;
	const struct cmsd_host *h = m->base.host;
	const char *what = m->helper_for == MYSQL_HELPER_INSTALL
				   ? MYSQL_INSTALL_DB
				   : "systemctl";
	bool ok = res->exited && res->exit_code == 0;
	struct cmsd_op *op;
	char how[64];
	int rc;

	m->helper = NULL;
	if (!ok)
		mysql_log_end(m, what, res, how, sizeof(how));
	switch (m->helper_for) {
	case MYSQL_HELPER_INSTALL:
		if (!m->start_op)
			return; /* cancelled */
		if (!ok) {
			h->log(h, CMSD_LOG_ERR,
			       "start: %s may hold a half-made system schema; "
			       "empty it before the next start",
			       m->datadir);
			mysql_start_done(m, -EIO);
			return;
		}
		h->log(h, CMSD_LOG_NOTICE, "start: system tables created in %s",
		       m->datadir);
		rc = mysql_spawn_server(m);
		if (rc < 0)
			mysql_start_done(m, rc);
		return;
	case MYSQL_HELPER_START:
		if (!m->start_op)
			return;
		if (!ok) {
			mysql_start_done(m, -EIO);
			return;
		}
		/* The unit may report started before the server answers. */
		h->timer_arm(m->retry, 0);
		return;
	case MYSQL_HELPER_STOP:
		if (ok)
			m->active = false;
		if (!m->stop_op)
			return;
		op = m->stop_op;
		m->stop_op = NULL;
		h->op_done(op, ok ? 0 : -EIO);
		return;
	}
}

static int mysql_spawn_helper(struct mysql *m, enum mysql_helper_for what,
			      const char *const *argv)
{
	const struct cmsd_host *h = m->base.host;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = MYSQL_HELPER_MS,
		.output_max = 16384,
		.done = mysql_helper_done,
		.arg = m,
	};
	int rc;

	m->helper_for = what;
	rc = h->spawn(h, &req, &m->helper);
	if (rc < 0)
		h->log(h, CMSD_LOG_ERR, "cannot run %s: %s", argv[0],
		       strerror(-rc));
	return rc;
}

/* systemctl's path: /usr/bin on merged-/usr systems, /bin on older ones. */
static const char *mysql_systemctl(void)
{
	return access("/usr/bin/systemctl", X_OK) == 0 ? "/usr/bin/systemctl"
						       : "/bin/systemctl";
}

/* A server that the agent did not start already runs on our pid file or
 * socket (left by a crashed agent, or started by hand).  Returns its pid
 * through *pid when the pid file names it (0 otherwise). */
static bool mysql_other_server(struct mysql *m, pid_t *pid, const char **how)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[32], path[64], comm[32];
	ssize_t n;
	int fd;

	*pid = 0;
	fd = open(m->pid_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n > 0 && mysql_parse_pid(buf, (size_t)n, pid) == 0 &&
		    (kill(*pid, 0) == 0 || errno == EPERM)) {
			/* A pid reused by another program is a stale file. */
			snprintf(path, sizeof(path), "/proc/%ld/comm",
				 (long)*pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n > 0) {
				comm[n] = '\0';
				comm[strcspn(comm, "\n")] = '\0';
				if (strcmp(comm, "mariadbd") == 0 ||
				    strcmp(comm, "mysqld") == 0) {
					*how = "its pid file";
					return true;
				}
			}
		}
		*pid = 0;
	}
	/* A Unix connect answers at once: accepted (or a full backlog) means
	 * a live listener. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->socket);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	    errno == EAGAIN) {
		close(fd);
		*how = "its socket";
		return true;
	}
	close(fd);
	return false;
}

/* The directory of path exists (mariadbd does not create it; on Debian
 * the package's unit does, and it is on tmpfs): made 0755, owned by the
 * server's account when the agent is root. */
static int mysql_parent_dir(struct mysql *m, const char *path)
{
	const struct cmsd_host *h = m->base.host;
	char dir[4096];
	char *slash;
	struct passwd *pw;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0) {
		if (errno == EEXIST)
			return 0;
		h->log(h, CMSD_LOG_ERR, "start: cannot create %s: %s", dir,
		       strerror(errno));
		return -errno;
	}
	if (geteuid() == 0 && strcmp(m->user, "root") != 0 &&
	    (pw = getpwnam(m->user)) && chown(dir, pw->pw_uid, -1) < 0)
		h->log(h, CMSD_LOG_WARNING, "start: chown %s to %s: %s", dir,
		       m->user, strerror(errno));
	return 0;
}

static int mysql_ensure_timers(struct mysql *m)
{
	const struct cmsd_host *h = m->base.host;

	if (!m->retry)
		m->retry = h->timer_new(h, mysql_retry_cb, m);
	if (!m->deadline)
		m->deadline = h->timer_new(h, mysql_deadline_cb, m);
	if (!m->libtimer)
		m->libtimer = h->timer_new(h, mysql_libtimer_cb, m);
	return m->retry && m->deadline && m->libtimer ? 0 : -ENOMEM;
}

static int mysql_start(void *inst, struct cmsd_op *op)
{
	struct mysql *m = inst;
	const struct cmsd_host *h = m->base.host;
	char schema[4200];
	struct stat st;
	const char *how;
	pid_t other;
	int rc;

	/* A server still ending after a cancelled stop is not "running". */
	if (m->child)
		return m->expect_exit ? -EAGAIN : 0;
	if (m->helper)
		return -EAGAIN; /* a systemctl of a cancelled op */
	if ((rc = mysql_ensure_timers(m)) < 0)
		return rc;
	m->died = false;
	if (m->unit) {
		const char *argv[] = {mysql_systemctl(), "start", m->unit,
				      NULL};

		rc = mysql_spawn_helper(m, MYSQL_HELPER_START, argv);
		if (rc < 0)
			return rc;
		m->start_op = op;
		return CMSD_PENDING;
	}
	if (mysql_other_server(m, &other, &how)) {
		if (other)
			h->log(h, CMSD_LOG_ERR,
			       "start: mariadbd pid %ld (from %s) already "
			       "runs, not started by this agent: stop it "
			       "first; it is not adopted",
			       (long)other, m->pid_file);
		else
			h->log(h, CMSD_LOG_ERR,
			       "start: a server already listens on %s, not "
			       "started by this agent: stop it first; it is "
			       "not adopted",
			       m->socket);
		(void)how;
		return -EBUSY;
	}
	if ((rc = mysql_parent_dir(m, m->socket)) < 0 ||
	    (rc = mysql_parent_dir(m, m->pid_file)) < 0)
		return rc;
	m->start_op = op;
	snprintf(schema, sizeof(schema), "%s/mysql", m->datadir);
	if (stat(schema, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (!m->install_argv) {
			m->start_op = NULL;
			h->log(h, CMSD_LOG_ERR,
			       "start: %s has no mysql system schema (not "
			       "mounted, or never initialised): give "
			       "<install-db>yes or run mariadb-install-db",
			       m->datadir);
			return -ENOENT;
		}
		h->log(h, CMSD_LOG_NOTICE,
		       "start: %s has no mysql system schema: running %s",
		       m->datadir, MYSQL_INSTALL_DB);
		rc = mysql_spawn_helper(m, MYSQL_HELPER_INSTALL,
					(const char *const *)m->install_argv);
	} else {
		rc = mysql_spawn_server(m);
	}
	if (rc < 0) {
		m->start_op = NULL;
		return rc;
	}
	return CMSD_PENDING;
}

static int mysql_stop(void *inst, struct cmsd_op *op)
{
	struct mysql *m = inst;
	const struct cmsd_host *h = m->base.host;

	m->died = false;
	if (m->unit) {
		const char *argv[] = {mysql_systemctl(), "stop", m->unit, NULL};
		int rc;

		if (m->helper)
			return -EAGAIN;
		rc = mysql_spawn_helper(m, MYSQL_HELPER_STOP, argv);
		if (rc < 0)
			return rc;
		m->stop_op = op;
		return CMSD_PENDING;
	}
	if (!m->child)
		return 0;
	m->stop_op = op;
	m->expect_exit = true;
	h->log(h, CMSD_LOG_INFO,
	       "stop: SIGTERM to %s pid %ld, SIGKILL after %u ms",
	       m->server_argv[0], (long)h->child_pid(m->child),
	       m->stop_grace_ms);
	h->child_kill(m->child);
	return CMSD_PENDING;
}

static int mysql_monitor(void *inst, struct cmsd_op *op)
{
	struct mysql *m = inst;
	int rc;

	if (m->unit ? !m->active : !m->child)
		return m->died ? CMSD_FAILED : CMSD_STOPPED;
	if ((rc = mysql_ensure_timers(m)) < 0)
		return rc;
	m->mon_op = op;
	m->mon_health = -1;
	m->mon_in_call = true;
	rc = mysql_probe_begin(m, MYSQL_PROBE_MONITOR);
	m->mon_in_call = false;
	if (rc < 0) {
		m->mon_op = NULL;
		return rc;
	}
	/* A refused connect ends inside begin. */
	return m->mon_health >= 0 ? m->mon_health : CMSD_PENDING;
}

static void mysql_cancel(void *inst, struct cmsd_op *op)
{
	struct mysql *m = inst;
	const struct cmsd_host *h = m->base.host;

	if (m->start_op == op) {
		m->start_op = NULL;
		if (m->retry)
			h->timer_disarm(m->retry);
		if (m->probe_for == MYSQL_PROBE_START)
			mysql_probe_abort(m);
		if (m->last_msg[0])
			h->log(h, CMSD_LOG_WARNING,
			       "start: cancelled; the last query said: %s",
			       m->last_msg);
		/* install-db makes the mysql directory early: the next start
		 * would take a half-made schema for a made one. */
		if (m->helper && m->helper_for == MYSQL_HELPER_INSTALL)
			h->log(h, CMSD_LOG_ERR,
			       "start: cancelled during %s: %s may hold a "
			       "half-made system schema; empty it before the "
			       "next start",
			       MYSQL_INSTALL_DB, m->datadir);
		/* A start given up takes its half-started server with it
		 * (the agent kills children spawned under the op too;
		 * killing twice is harmless). */
		if (m->child) {
			m->expect_exit = true;
			h->child_kill(m->child);
		}
	}
	if (m->mon_op == op) {
		m->mon_op = NULL;
		if (m->probe_for == MYSQL_PROBE_MONITOR)
			mysql_probe_abort(m);
	}
	/* A stop given up leaves the server dying. */
	if (m->stop_op == op)
		m->stop_op = NULL;
}

static void mysql_destroy(void *inst)
{
	struct mysql *m = inst;
	const struct cmsd_host *h;

	if (!m)
		return;
	h = m->base.host;
	/* No op is pending here, but a query may be.  A child still running
	 * is the agent's to kill: it abandons the instance's children after
	 * destroy, without calling back into this freed instance. */
	if (h->timer_free) {
		mysql_probe_abort(m);
		if (m->retry)
			h->timer_free(m->retry);
		if (m->deadline)
			h->timer_free(m->deadline);
		if (m->libtimer)
			h->timer_free(m->libtimer);
	}
	free(m->datadir);
	free(m->socket);
	free(m->pid_file);
	free(m->mariadbd_argv);
	free(m->server_argv);
	free(m->install_argv);
	free(m->unit);
	free(m->user);
	free(m->monitor_user);
	free(m->monitor_password_file);
	free(m->bind_address);
	free(m);
}

/* strdup that keeps NULL as NULL; *fail is set on ENOMEM. */
static char *mysql_dup(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*fail = true;
	return d;
}

static int mysql_init_inst(const struct cmsd_host *h, const struct cmsd_conf *c,
			   void **inst)
{
	struct mysql *m = calloc(1, sizeof(*m));
	struct mysql_cfg cfg = {0};
	struct mysql_args a;
	bool nomem = false;

	if (!m)
		return -ENOMEM;
	m->base.host = h;
	m->watch_fd = -1;
	if (mysql_read(h, c, &cfg)) {
		mysql_destroy(m);
		return -EINVAL;
	}
	m->port = (uint16_t)cfg.port;
	m->networking = cfg.networking;
	m->stop_grace_ms = (uint32_t)cfg.stop_grace_ms;
	m->datadir = mysql_dup(cfg.datadir, &nomem);
	m->socket = mysql_dup(cfg.socket, &nomem);
	m->pid_file = mysql_dup(cfg.pid_file, &nomem);
	m->unit = mysql_dup(cfg.unit, &nomem);
	m->user = mysql_dup(cfg.user, &nomem);
	m->monitor_user = mysql_dup(cfg.monitor_user, &nomem);
	m->monitor_password_file = mysql_dup(cfg.password_file, &nomem);
	m->bind_address = mysql_dup(cfg.bind_address, &nomem);
	if (cfg.mariadbd && !(m->mariadbd_argv = pu_argv_split(cfg.mariadbd)))
		nomem = true;
	if (m->mariadbd_argv && !nomem) {
		a = (struct mysql_args){
			.base = (const char *const *)m->mariadbd_argv,
			.datadir = m->datadir,
			.socket = m->socket,
			.pid_file = m->pid_file,
			/* --user only works for root; others run the server
			 * as themselves and would get a warning. */
			.user = geteuid() == 0 ? m->user : NULL,
			.networking = m->networking,
			.port = m->port,
			.bind_address = m->bind_address,
		};
		m->server_argv = mysql_server_argv(&a);
		if (!m->server_argv)
			nomem = true;
		if (cfg.install_db &&
		    !(m->install_argv = mysql_install_argv(&a)))
			nomem = true;
	}
	if (nomem) {
		mysql_destroy(m);
		return -ENOMEM;
	}
	*inst = m;
	return 0;
}

/* Connector/C allocates its global state on the first mysql_init; it goes
 * when the agent unloads the plugin (or exits), not with an instance, since
 * another instance may still use it. */
__attribute__((destructor)) static void mysql_unload(void)
{
	mysql_library_end();
}

static const struct cmsd_resource_ops mysql_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = mysql_validate,
	.init = mysql_init_inst,
	.start = mysql_start,
	.stop = mysql_stop,
	.monitor = mysql_monitor,
	.cancel = mysql_cancel,
	.destroy = mysql_destroy,
};

static const struct cmsd_plugin mysql_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-mysql",
	.version = "0.2.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "MariaDB server, monitored by a query over its socket",
	.ops.resource = &mysql_ops,
};

CMSD_PLUGIN_DEFINE(mysql_plugin)
