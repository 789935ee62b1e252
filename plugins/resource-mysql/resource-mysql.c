/*
 * resource-mysql: MariaDB on the replicated database partition.
 *
 * Runtime ops arrive with issue 4 (mariadbd as a child of the agent or a
 * systemd unit, monitor by a query over the socket, clean shutdown).  In
 * this build the plugin validates its keys and parses them into the
 * instance; start, stop and monitor answer -EOPNOTSUPP, never a pretended
 * success.
 *
 * Secrets never sit in the XML: the monitor password is read from
 * <monitor-password-file> when the monitor runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

#define MYSQL_DEF_DATADIR  "/var/lib/mysql-share/mysql"
#define MYSQL_DEF_SOCKET   "/run/mysqld/mysqld.sock"
#define MYSQL_DEF_PIDFILE  "/run/mysqld/mysqld.pid"
#define MYSQL_DEF_MARIADBD "/usr/sbin/mariadbd"

struct mysql {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char *datadir;
	char *socket;
	char *pid_file;
	char **mariadbd_argv; /* NULL when a systemd unit is used */
	char *unit;
	char *user;
	char *monitor_user;
	char *monitor_password_file; /* NULL: no password */
	uint16_t port;
	char *bind_address; /* NULL: mariadbd's own default */
};

static const char *const mysql_keys[] = {"datadir",
					 "socket",
					 "pid-file",
					 "mariadbd",
					 "user",
					 "systemd-unit",
					 "monitor-user",
					 "monitor-password-file",
					 "port",
					 "bind-address",
					 NULL};

/* The values as read; strings point into the configuration. */
struct mysql_cfg {
	const char *datadir, *socket, *pid_file, *mariadbd, *unit, *user;
	const char *monitor_user, *password_file, *bind_address;
	int64_t port;
};

static int mysql_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		      struct mysql_cfg *m)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, mysql_keys);

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
	bad += cf->get_int(c, "port", 3306, 1, 65535, &m->port) < 0;
	if (cf->get_string(c, "bind-address", NULL, &m->bind_address) < 0)
		bad++;
	else if (m->bind_address && !pu_is_ip(m->bind_address))
		bad += cf->error(c, "bind-address",
				 "\"%s\" is not an IPv4 or IPv6 address",
				 m->bind_address) < 0;
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

static void mysql_destroy(void *inst)
{
	struct mysql *m = inst;

	if (!m)
		return;
	free(m->datadir);
	free(m->socket);
	free(m->pid_file);
	free(m->mariadbd_argv);
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

static int mysql_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	struct mysql *m = calloc(1, sizeof(*m));
	struct mysql_cfg cfg = {0};
	bool nomem = false;

	if (!m)
		return -ENOMEM;
	m->base.host = h;
	m->base.issue = "issue 4";
	if (mysql_read(h, c, &cfg)) {
		mysql_destroy(m);
		return -EINVAL;
	}
	m->port = (uint16_t)cfg.port;
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
	if (nomem) {
		mysql_destroy(m);
		return -ENOMEM;
	}
	*inst = m;
	return 0;
}

static const struct cmsd_resource_ops mysql_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = mysql_validate,
	.init = mysql_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = mysql_destroy,
};

static const struct cmsd_plugin mysql_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-mysql",
	.version = "0.1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "MariaDB server",
	.ops.resource = &mysql_ops,
};

CMSD_PLUGIN_DEFINE(mysql_plugin)
