#include "plugin_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool pu_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

int pu_abs_path(const struct cmsd_host *h, const struct cmsd_conf *c,
		const char *key, bool required, const char **out)
{
	const char *v = NULL;
	int rc = h->conf->get_string(c, key, NULL, &v);

	if (out)
		*out = v;
	if (rc < 0)
		return 1;
	if (rc == 1)
		return required ? (h->conf->require(c, key), 1) : 0;
	if (v[0] != '/') {
		h->conf->error(c, key, "\"%s\" is not an absolute path", v);
		return 1;
	}
	return 0;
}

int pu_split_addr_port(const char *v, char *addr, size_t addr_len,
		       uint16_t *port, uint16_t default_port)
{
	const char *p = NULL;
	bool bracket = v[0] == '[';
	size_t n;

	if (bracket) {
		const char *end = strchr(v, ']');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - v - 1);
		if (end[1] == ':')
			p = end + 2;
		else if (end[1])
			return -EINVAL;
		v++;
	} else {
		const char *colon = strrchr(v, ':');
		/* A bare IPv6 literal would be ambiguous with its port. */
		if (colon && strchr(v, ':') != colon)
			return -EINVAL;
		n = colon ? (size_t)(colon - v) : strlen(v);
		if (colon)
			p = colon + 1;
	}
	if (n >= addr_len)
		return -EINVAL;
	memcpy(addr, v, n);
	addr[n] = '\0';
	/* Brackets are for IPv6 only, as in URLs (RFC 3986). */
	if (!pu_is_ip(addr) || bracket != (strchr(addr, ':') != NULL))
		return -EINVAL;
	if (p) {
		long num = 0;
		if (!*p || strlen(p) > 5)
			return -EINVAL;
		for (const char *q = p; *q; q++) {
			if (!isdigit((unsigned char)*q))
				return -EINVAL;
			num = num * 10 + (*q - '0');
		}
		if (num < 1 || num > 65535)
			return -EINVAL;
		*port = (uint16_t)num;
	} else {
		if (!default_port)
			return -EDESTADDRREQ;
		*port = default_port;
	}
	return 0;
}

int pu_addr_port(const struct cmsd_host *h, const struct cmsd_conf *c,
		 const char *key, bool required, uint16_t default_port)
{
	const char *v = NULL;
	char addr[64];
	uint16_t port;
	int rc = h->conf->get_string(c, key, NULL, &v);

	if (rc < 0)
		return 1;
	if (rc == 1)
		return required ? (h->conf->require(c, key), 1) : 0;
	rc = pu_split_addr_port(v, addr, sizeof(addr), &port, default_port);
	if (rc == -EDESTADDRREQ) {
		h->conf->error(c, key, "\"%s\" needs a port (ADDR:PORT)", v);
		return 1;
	}
	if (rc < 0) {
		h->conf->error(c, key,
			       "\"%s\" is not ADDR%s (IPv4, or [IPv6] in "
			       "brackets, port 1..65535)",
			       v, default_port ? "[:PORT]" : ":PORT");
		return 1;
	}
	return 0;
}

char **pu_argv_split(const char *cmd)
{
	size_t len = strlen(cmd), words = 0;
	bool in = false;
	char **argv;
	char *buf;

	for (const char *p = cmd; *p; p++) {
		bool sp = *p == ' ' || *p == '\t';
		if (!sp && !in)
			words++;
		in = !sp;
	}
	/* One block: the pointers, then a copy of the words, so that one
	 * free() releases it. */
	argv = malloc((words + 1) * sizeof(*argv) + len + 1);
	if (!argv)
		return NULL;
	buf = (char *)(argv + words + 1);
	memcpy(buf, cmd, len + 1);
	words = 0;
	for (char *save, *tok = strtok_r(buf, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save))
		argv[words++] = tok;
	argv[words] = NULL;
	return argv;
}

int pu_command(const struct cmsd_host *h, const struct cmsd_conf *c,
	       const char *key, bool required)
{
	const char *v = NULL;
	char path[4096];
	int rc = h->conf->get_string(c, key, NULL, &v);

	if (rc < 0)
		return 1;
	if (rc == 1)
		return required ? (h->conf->require(c, key), 1) : 0;
	if (v[0] != '/') {
		h->conf->error(c, key,
			       "\"%s\" must start with an absolute path (no "
			       "shell, no PATH search)",
			       v);
		return 1;
	}
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(v, " \t"), v);
	if (access(path, X_OK) < 0)
		h->log(h, CMSD_LOG_WARNING,
		       "<%s>: %s is not an executable on this host (%s); it "
		       "must be on the nodes that run it",
		       key, path, strerror(errno));
	return 0;
}

int pu_word(const struct cmsd_host *h, const struct cmsd_conf *c,
	    const char *key, bool required, size_t max_len)
{
	const char *v = NULL;
	int rc = h->conf->get_string(c, key, NULL, &v);

	if (rc < 0)
		return 1;
	if (rc == 1)
		return required ? (h->conf->require(c, key), 1) : 0;
	if (!*v || strlen(v) > max_len || strpbrk(v, " \t/")) {
		h->conf->error(c, key,
			       "\"%s\" must be 1..%zu characters without "
			       "spaces or '/'",
			       v, max_len);
		return 1;
	}
	return 0;
}

bool pu_is_iqn(const char *s)
{
	/* iqn.YYYY-MM.<reversed domain>[:<unique>] (RFC 3720 3.2.6.3.1) */
	if (strncmp(s, "iqn.", 4) != 0 || strlen(s) > 223)
		return false;
	s += 4;
	for (int i = 0; i < 7; i++)
		if (i == 4 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return false;
	if (s[7] != '.' || !isalnum((unsigned char)s[8]))
		return false;
	for (const char *p = s + 8; *p && *p != ':'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	return true;
}

int pu_base_init(const struct cmsd_host *h, const char *issue, void **inst)
{
	struct pu_base *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->host = h;
	b->issue = issue;
	*inst = b;
	return 0;
}

void pu_base_destroy(void *inst)
{
	free(inst);
}

static int pu_unimpl(void *inst, unsigned bit, const char *op)
{
	struct pu_base *b = inst;

	if (!(b->warned & bit)) {
		b->warned |= bit;
		b->host->log(b->host, CMSD_LOG_ERR,
			     "%s: not implemented in this build (plugin %s; "
			     "planned in %s)",
			     op, b->host->plugin_name, b->issue);
	}
	return -EOPNOTSUPP;
}

int pu_unimpl_start(void *inst, struct cmsd_op *op)
{
	(void)op;
	return pu_unimpl(inst, 1u << 0, "start");
}

int pu_unimpl_stop(void *inst, struct cmsd_op *op)
{
	(void)op;
	return pu_unimpl(inst, 1u << 1, "stop");
}

int pu_unimpl_monitor(void *inst, struct cmsd_op *op)
{
	(void)op;
	return pu_unimpl(inst, 1u << 2, "monitor");
}

int pu_unimpl_promote(void *inst, struct cmsd_op *op, int force)
{
	(void)op;
	(void)force;
	return pu_unimpl(inst, 1u << 3, "promote");
}

int pu_unimpl_demote(void *inst, struct cmsd_op *op)
{
	(void)op;
	return pu_unimpl(inst, 1u << 4, "demote");
}

int pu_unimpl_status(void *inst, struct cmsd_op *op,
		     struct cmsd_storage_status *out)
{
	(void)op;
	(void)out;
	return pu_unimpl(inst, 1u << 5, "status");
}

int pu_unimpl_vote(void *inst, struct cmsd_op *op,
		   const struct cmsd_vote_request *req, struct cmsd_vote *out)
{
	(void)op;
	(void)req;
	(void)out;
	return pu_unimpl(inst, 1u << 6, "request_vote/renew_lease");
}

/* A reservation key: 0x and 1..16 hex digits, not zero (SPC: a zero key
 * means "unregister"). */
int pu_pr_key(const struct cmsd_host *h, const struct cmsd_conf *c,
	      uint64_t *key)
{
	const char *k = NULL;
	uint64_t v = 0;
	size_t n;
	int rc = h->conf->get_string(c, "key", NULL, &k);

	*key = 0;
	if (rc)
		return rc < 0;
	n = strlen(k);
	if (n < 3 || n > 18 || k[0] != '0' || (k[1] != 'x' && k[1] != 'X'))
		goto bad;
	for (size_t i = 2; i < n; i++) {
		int d = k[i];
		if (!isxdigit(d))
			goto bad;
		v = v << 4 |
		    (uint64_t)(isdigit(d) ? d - '0' : tolower(d) - 'a' + 10);
	}
	if (v == 0)
		goto bad;
	*key = v;
	return 0;
bad:
	h->conf->error(c, "key",
		       "\"%s\" is not a non-zero reservation key (0x and 1 to "
		       "16 hex digits)",
		       k);
	return 1;
}
