/*
 * resource-mysql: the pure parts, see mysql_args.h.
 */
#include "mysql_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many options are added to the user's argv. */
#define MYSQL_ARGS_EXTRA 8

/* An argv being built: pointers to the user's words and to options
 * formatted in opt[]; packed into one block at the end. */
struct mysql_argv_build {
	const char **v;
	size_t n;
	char opt[MYSQL_ARGS_EXTRA][4352]; /* "--datadir=" + a path */
	size_t n_opt;
};

static struct mysql_argv_build *mysql_build_new(const char *const *base)
{
	struct mysql_argv_build *b = calloc(1, sizeof(*b));
	size_t n = 0;

	while (base[n])
		n++;
	if (b && !(b->v = calloc(n + MYSQL_ARGS_EXTRA + 4, sizeof(char *)))) {
		free(b);
		b = NULL;
	}
	return b;
}

static void mysql_build_free(struct mysql_argv_build *b)
{
	free(b->v);
	free(b);
}

/* Room is made by mysql_build_new for the base and every option added. */
static void mysql_add(struct mysql_argv_build *b, const char *s)
{
	b->v[b->n++] = s;
}

static void mysql_addf(struct mysql_argv_build *b, const char *name,
		       const char *value)
{
	char *o;

	if (b->n_opt == MYSQL_ARGS_EXTRA)
		return;
	o = b->opt[b->n_opt++];
	snprintf(o, sizeof(b->opt[0]), "%s%s", name, value);
	mysql_add(b, o);
}

/* Copies the pointers and the strings they point to into one block. */
static char **mysql_argv_pack(const struct mysql_argv_build *b)
{
	size_t bytes = (b->n + 1) * sizeof(char *);
	char **argv, *p;

	for (size_t i = 0; i < b->n; i++)
		bytes += strlen(b->v[i]) + 1;
	argv = malloc(bytes);
	if (!argv)
		return NULL;
	p = (char *)(argv + b->n + 1);
	for (size_t i = 0; i < b->n; i++) {
		size_t l = strlen(b->v[i]) + 1;

		memcpy(p, b->v[i], l);
		argv[i] = p;
		p += l;
	}
	argv[b->n] = NULL;
	return argv;
}

char **mysql_server_argv(const struct mysql_args *a)
{
	struct mysql_argv_build *b = mysql_build_new(a->base);
	char port[8];
	char **argv;

	if (!b)
		return NULL;
	for (size_t i = 0; a->base[i]; i++)
		mysql_add(b, a->base[i]);
	mysql_addf(b, "--datadir=", a->datadir);
	mysql_addf(b, "--socket=", a->socket);
	mysql_addf(b, "--pid-file=", a->pid_file);
	if (a->user)
		mysql_addf(b, "--user=", a->user);
	if (a->networking) {
		snprintf(port, sizeof(port), "%u", a->port);
		mysql_addf(b, "--port=", port);
		if (a->bind_address)
			mysql_addf(b, "--bind-address=", a->bind_address);
	} else {
		mysql_add(b, "--skip-networking");
	}
	argv = mysql_argv_pack(b);
	mysql_build_free(b);
	return argv;
}

char **mysql_install_argv(const struct mysql_args *a)
{
	struct mysql_argv_build *b = mysql_build_new(a->base);
	char **argv;

	if (!b)
		return NULL;
	mysql_add(b, MYSQL_INSTALL_DB);
	/* --no-defaults / --defaults-file=, when given, are first here too,
	 * where install-db looks for them. */
	for (size_t i = 1; a->base[0] && a->base[i]; i++)
		mysql_add(b, a->base[i]);
	mysql_addf(b, "--datadir=", a->datadir);
	if (a->user)
		mysql_addf(b, "--user=", a->user);
	/* Root logs in over the Unix socket as the OS's root, without a
	 * password: the monitor's default, and no secret to hand out. */
	mysql_add(b, "--auth-root-authentication-method=socket");
	mysql_add(b, "--skip-test-db");
	argv = mysql_argv_pack(b);
	mysql_build_free(b);
	return argv;
}

int mysql_parse_pid(const char *buf, size_t len, pid_t *pid)
{
	long long v = 0;
	size_t i = 0;

	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		v = v * 10 + (buf[i] - '0');
		if (v > 0x7fffffff)
			return -EINVAL;
		i++;
	}
	if (i == 0 || v == 0)
		return -EINVAL;
	for (; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
		    buf[i] != '\r')
			return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int mysql_password_len(const char *buf, size_t len)
{
	size_t n = 0;

	if (memchr(buf, '\0', len))
		return -EINVAL;
	while (n < len && buf[n] != '\n' && buf[n] != '\r')
		n++;
	return n > 0x7fffffff ? -EINVAL : (int)n;
}

void mysql_tail(const char *s, size_t len, unsigned n, const char **out,
		size_t *out_len)
{
	size_t end = len, begin;
	unsigned lines = 0;

	if (!s)
		len = end = 0;
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	begin = end;
	while (begin > 0 && lines < n) {
		size_t b = begin;

		/* One line back, skipping the empty ones. */
		while (b > 0 && s[b - 1] != '\n')
			b--;
		if (b < begin)
			lines++;
		begin = b;
		if (lines < n)
			while (begin > 0 &&
			       (s[begin - 1] == '\n' || s[begin - 1] == '\r'))
				begin--;
	}
	*out = s ? s + begin : "";
	*out_len = end - begin;
}

int mysql_parse_duration(const char *s, uint64_t *ms)
{
	static const char *const units[] = {"", "ms", "s", "m", "h", NULL};
	static const uint64_t mult[] = {1, 1, 1000, 60000, 3600000};
	uint64_t v = 0;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; units[i]; i++) {
		if (strcmp(p, units[i]) != 0)
			continue;
		if (v > UINT64_MAX / mult[i])
			return -EINVAL;
		*ms = v * mult[i];
		return 0;
	}
	return -EINVAL;
}
