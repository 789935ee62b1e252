/*
 * resource-mysql: the pure parts (no host, no I/O), so that a Check test
 * can include mysql_args.c directly: the argument vectors of mariadbd and
 * mariadb-install-db, the pid file and password file contents, and the
 * last lines of a child's output for the log.
 */
#ifndef MYSQL_ARGS_H
#define MYSQL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where mariadb-install-db lives on Debian and most distributions. */
#define MYSQL_INSTALL_DB "/usr/bin/mariadb-install-db"
/* sizeof(((struct sockaddr_un *)0)->sun_path) on Linux. */
#define MYSQL_SOCKET_MAX 108

/* What the server's command line is made of. */
struct mysql_args {
	const char *const *base; /* <mariadbd> split: path, then its args */
	const char *datadir, *socket, *pid_file;
	const char *user; /* NULL: no --user (the agent is not root) */
	bool networking;
	uint16_t port;
	const char *bind_address; /* NULL: the server's default */
};

/* The argv of mariadbd: base, then --datadir, --socket, --pid-file,
 * --user, and --port/--bind-address or --skip-networking.  The user's own
 * arguments stay right after the path, where --no-defaults and
 * --defaults-file must be.  One allocation: free() it.  NULL: ENOMEM. */
char **mysql_server_argv(const struct mysql_args *a);

/* The argv of mariadb-install-db for the same server: the user's
 * arguments of <mariadbd> too (install-db runs mariadbd --bootstrap with
 * them), --datadir, --user, and root over the Unix socket without a
 * password.  One allocation: free() it.  NULL: ENOMEM. */
char **mysql_install_argv(const struct mysql_args *a);

/* A pid file's text: a decimal pid > 0, then optional white space.
 * 0 and *pid, or -EINVAL. */
int mysql_parse_pid(const char *buf, size_t len, pid_t *pid);

/* A password file's text: everything up to the first line end (a file
 * written with echo has one).  Returns the password's length, or -EINVAL
 * when it holds a NUL byte (a binary file given by mistake). */
int mysql_password_len(const char *buf, size_t len);

/* A duration as cmsd.xml writes them: a decimal number with no unit (ms),
 * or "ms", "s", "m", "h".  0 and *ms, or -EINVAL. */
int mysql_parse_duration(const char *s, uint64_t *ms);

/* The start of the last `n` non-empty lines of s[0..len) (line ends
 * excluded at the end): *out and *out_len. */
void mysql_tail(const char *s, size_t len, unsigned n, const char **out,
		size_t *out_len);

#endif
