/*
 * resource-tomcat: the web UI.
 * Runtime ops (catalina scripts or a systemd unit, HTTP monitor) arrive
 * with issue 4; this build validates the configuration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

static const char *const tomcat_keys[] = {"start-command", "stop-command",
					  "systemd-unit", "url",
					  "expect-status", NULL};

/* http://HOST[:PORT][/PATH] with HOST an address or a name. */
static bool tomcat_url_ok(const char *u)
{
	const char *host, *end;

	if (strncmp(u, "http://", 7) != 0)
		return false;
	host = u + 7;
	end = host + strcspn(host, ":/");
	if (end == host)
		return false;
	if (*end == ':') {
		char *pe;
		long port = strtol(end + 1, &pe, 10);
		if (pe == end + 1 || port < 1 || port > 65535 ||
		    (*pe && *pe != '/'))
			return false;
	}
	return strpbrk(u, " \t\"<>") == NULL;
}

static int tomcat_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *url;
	int64_t st;
	int bad = cf->check_keys(c, tomcat_keys);
	bool cmds = cf->count(c, "start-command") || cf->count(c, "stop-command");
	bool unit = cf->count(c, "systemd-unit") > 0;

	if (cmds == unit)
		bad += cf->error(c, NULL,
				 "give either <start-command> and "
				 "<stop-command>, or <systemd-unit>") < 0;
	if (cmds) {
		bad += pu_command(h, c, "start-command", true);
		bad += pu_command(h, c, "stop-command", true);
	}
	bad += pu_word(h, c, "systemd-unit", false, 255);
	int rc = cf->get_string(c, "url", NULL, &url);
	if (rc == 1)
		bad += cf->require(c, "url") < 0;
	else if (rc < 0)
		bad++;
	else if (!tomcat_url_ok(url))
		bad += cf->error(c, "url",
				 "\"%s\" is not an http://HOST[:PORT]/PATH URL",
				 url) < 0;
	bad += cf->get_int(c, "expect-status", 200, 100, 599, &st) < 0;
	return bad ? -EINVAL : 0;
}

static int tomcat_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		       void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 4", inst);
}

static const struct cmsd_resource_ops tomcat_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = tomcat_validate,
	.init = tomcat_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
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
