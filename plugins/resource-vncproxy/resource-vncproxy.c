/*
 * resource-vncproxy: the VNC proxy of the management platform (usually
 * optional in the group).
 *
 * Runtime ops arrive with issue 4 (run the proxy command as a child of the
 * agent, monitor by TCP connect to address:port).  In this build the plugin
 * validates its keys and parses them into the instance; start, stop and
 * monitor answer -EOPNOTSUPP, never a pretended success.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

struct vnc {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char **argv;	     /* <command> split on spaces; no shell */
	char *address;
	uint16_t port;
};

static const char *const vnc_keys[] = {"command", "address", "port", NULL};

static int vnc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		    const char **cmd, const char **addr, int64_t *port)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, vnc_keys);
	int rc;

	if (cf->get_string(c, "command", NULL, cmd) == 1)
		bad += cf->require(c, "command") < 0;
	else if (*cmd && (*cmd)[0] != '/')
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

static void vnc_destroy(void *inst)
{
	struct vnc *v = inst;

	if (!v)
		return;
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
	int rc = -EINVAL;

	if (!v)
		return -ENOMEM;
	v->base.host = h;
	v->base.issue = "issue 4";
	if (vnc_read(h, c, &cmd, &addr, &port))
		goto fail;
	v->port = (uint16_t)port;
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

static const struct cmsd_resource_ops vnc_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vnc_validate,
	.init = vnc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
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
