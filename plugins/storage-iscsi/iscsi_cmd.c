/*
 * iscsi_cmd: the kernel initiator's command lines (see iscsi_cmd.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi_cmd.h"

/* Appends s to c->buf as the next argument. */
static void iscsi_cmd_add(struct iscsi_cmd *c, size_t *used, int *n,
			  const char *s)
{
	size_t k = strlen(s) + 1;

	if (*n >= ISCSI_CMD_ARGS - 1 || *used + k > sizeof(c->buf))
		return; /* cut short: the caller's sizes make it impossible */
	memcpy(c->buf + *used, s, k);
	c->argv[(*n)++] = c->buf + *used;
	c->argv[*n] = NULL;
	*used += k;
}

static void iscsi_cmd_build(struct iscsi_cmd *c, const char *const *words)
{
	size_t used = 0;
	int n = 0;

	memset(c, 0, sizeof(*c));
	for (; *words; words++)
		iscsi_cmd_add(c, &used, &n, *words);
}

void iscsi_cmd_portal(char *out, size_t len, const char *addr, unsigned port)
{
	snprintf(out, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
}

void iscsi_cmd_discovery(struct iscsi_cmd *c, const char *addr, unsigned port)
{
	char portal[80];

	iscsi_cmd_portal(portal, sizeof(portal), addr, port);
	const char *w[] = {ISCSI_CMD_ISCSIADM,
			   "-m",
			   "discovery",
			   "-t",
			   "st",
			   "-p",
			   portal,
			   NULL};
	iscsi_cmd_build(c, w);
}

void iscsi_cmd_login(struct iscsi_cmd *c, const char *iqn, const char *addr,
		     unsigned port)
{
	char portal[80];

	iscsi_cmd_portal(portal, sizeof(portal), addr, port);
	const char *w[] = {
		ISCSI_CMD_ISCSIADM, "-m", "node", "-T", iqn, "-p", portal,
		"--login",	    NULL};
	iscsi_cmd_build(c, w);
}

void iscsi_cmd_register(struct iscsi_cmd *c, uint64_t key, const char *dev)
{
	char sark[40];

	snprintf(sark, sizeof(sark), "--param-sark=0x%llx",
		 (unsigned long long)key);
	const char *w[] = {ISCSI_CMD_SG_PERSIST,
			   "--out",
			   "--no-inquiry",
			   "--register-ignore",
			   sark,
			   dev,
			   NULL};
	iscsi_cmd_build(c, w);
}

void iscsi_cmd_device(char *out, size_t len, const char *addr, unsigned port,
		      const char *iqn, unsigned lun)
{
	snprintf(out, len, "/dev/disk/by-path/ip-%s:%u-iscsi-%s-lun-%u", addr,
		 port, iqn, lun);
}

int iscsi_cmd_initiatorname(const char *text, char *out, size_t len)
{
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p;

		while (q < p + n && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(p + n - q) > 14 &&
		    strncmp(q, "InitiatorName=", 14) == 0) {
			const char *v = q + 14, *e = p + n;
			while (e > v &&
			       (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
				e--;
			if (e > v) {
				snprintf(out, len, "%.*s", (int)(e - v), v);
				return 0;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}
