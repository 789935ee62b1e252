/*
 * resource-tomcat: the web UI of the management platform.
 *
 * Runtime ops arrive with issue 4 (start/stop commands or a systemd unit,
 * HTTP GET monitor on <url> expecting <expect-status>).  In this build the
 * plugin validates its keys and parses them into the instance, the URL
 * included; start, stop and monitor answer -EOPNOTSUPP, never a pretended
 * success.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

struct tomcat_url {
	char host[256]; /* a name or an address, without brackets */
	uint16_t port;	/* 80 when the URL has none */
	char path[1024];
};

struct tomcat {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char **start_argv;   /* NULL when a systemd unit is used */
	char **stop_argv;
	char *unit;
	struct tomcat_url url;
	int expect_status;
};

static const char *const tomcat_keys[] = {"start-command", "stop-command",
					  "systemd-unit",  "url",
					  "expect-status", NULL};

/* http://HOST[:PORT][/PATH], HOST a name, an IPv4 address or [IPv6].  Only
 * plain HTTP: the monitor talks to the local Tomcat connector. */
static int tomcat_parse_url(const char *u, struct tomcat_url *out)
{
	const char *host, *end, *rest;
	size_t n;

	if (strncmp(u, "http://", 7) != 0 || strpbrk(u, " \t\"<>\\"))
		return -EINVAL;
	host = u + 7;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - host - 1);
		if (n >= sizeof(out->host))
			return -EINVAL;
		memcpy(out->host, host + 1, n);
		out->host[n] = '\0';
		if (!pu_is_ip(out->host) || !strchr(out->host, ':'))
			return -EINVAL;
		rest = end + 1;
	} else {
		end = host + strcspn(host, ":/?#");
		n = (size_t)(end - host);
		if (n == 0 || n >= sizeof(out->host))
			return -EINVAL;
		for (const char *p = host; p < end; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '.')
				return -EINVAL;
		memcpy(out->host, host, n);
		out->host[n] = '\0';
		rest = end;
	}
	out->port = 80;
	if (*rest == ':') {
		unsigned long port = 0;
		const char *p = rest + 1;
		for (; isdigit((unsigned char)*p) && port <= 65535; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p == rest + 1 || port < 1 || port > 65535)
			return -EINVAL;
		out->port = (uint16_t)port;
		rest = p;
	}
	if (*rest && *rest != '/' && *rest != '?')
		return -EINVAL;
	if (strlen(rest) + 2 > sizeof(out->path))
		return -EINVAL;
	snprintf(out->path, sizeof(out->path), "%s%s", *rest == '/' ? "" : "/",
		 rest);
	return 0;
}

static int tomcat_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		       struct tomcat_url *url, int64_t *status)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *u;
	int bad = cf->check_keys(c, tomcat_keys);
	bool start = cf->count(c, "start-command") > 0;
	bool stop = cf->count(c, "stop-command") > 0;
	bool unit = cf->count(c, "systemd-unit") > 0;
	int rc;

	/* Exactly one way to drive Tomcat, so that stop always undoes what
	 * start did. */
	if ((start || stop) && unit)
		bad += cf->error(c, "systemd-unit",
				 "give either <start-command> and "
				 "<stop-command>, or <systemd-unit>, not "
				 "both") < 0;
	else if (!start && !stop && !unit)
		bad += cf->error(c, NULL,
				 "needs <start-command> and <stop-command>, "
				 "or <systemd-unit>") < 0;
	else if (start != stop)
		bad += cf->require(c, start ? "stop-command"
					    : "start-command") < 0;
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
	return bad;
}

static int tomcat_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct tomcat_url url;
	int64_t status;
	int bad = tomcat_read(h, c, &url, &status);

	/* Only warnings when missing here: see pu_command. */
	if (!bad) {
		pu_command(h, c, "start-command", false);
		pu_command(h, c, "stop-command", false);
	}
	return bad ? -EINVAL : 0;
}

static void tomcat_destroy(void *inst)
{
	struct tomcat *t = inst;

	if (!t)
		return;
	free(t->start_argv);
	free(t->stop_argv);
	free(t->unit);
	free(t);
}

static int tomcat_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		       void **inst)
{
	const struct cmsd_conf_ops *cf = h->conf;
	struct tomcat *t = calloc(1, sizeof(*t));
	const char *start = NULL, *stop = NULL, *unit = NULL;
	int64_t status = 200;
	int rc = -EINVAL;

	if (!t)
		return -ENOMEM;
	t->base.host = h;
	t->base.issue = "issue 4";
	if (tomcat_read(h, c, &t->url, &status))
		goto fail;
	t->expect_status = (int)status;
	cf->get_string(c, "start-command", NULL, &start);
	cf->get_string(c, "stop-command", NULL, &stop);
	cf->get_string(c, "systemd-unit", NULL, &unit);
	rc = -ENOMEM;
	if (unit && !(t->unit = strdup(unit)))
		goto fail;
	if (start && !(t->start_argv = pu_argv_split(start)))
		goto fail;
	if (stop && !(t->stop_argv = pu_argv_split(stop)))
		goto fail;
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
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = tomcat_destroy,
};

static const struct cmsd_plugin tomcat_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-tomcat",
	.version = "0.1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "Tomcat web UI, monitored over HTTP",
	.ops.resource = &tomcat_ops,
};

CMSD_PLUGIN_DEFINE(tomcat_plugin)
