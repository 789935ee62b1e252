/*
 * resource-vncproxy: the VNC proxy (optional in the group).
 * Runtime ops (the proxy command, TCP monitor) arrive with issue 4; this
 * build validates the configuration.
 */
#include <errno.h>

#include "plugin_util.h"

static const char *const vnc_keys[] = {"command", "address", "port", NULL};

static int vnc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *addr;
	int64_t port;
	int bad = cf->check_keys(c, vnc_keys);

	bad += pu_command(h, c, "command", true);
	if (cf->get_string(c, "address", "127.0.0.1", &addr) == 0 &&
	    !pu_is_ip(addr))
		bad += cf->error(c, "address",
				 "\"%s\" is not an IPv4 or IPv6 address",
				 addr) < 0;
	int rc = cf->get_int(c, "port", 0, 1, 65535, &port);
	if (rc == 1)
		bad += cf->require(c, "port") < 0;
	else if (rc < 0)
		bad++;
	return bad ? -EINVAL : 0;
}

static int vnc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		    void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 4", inst);
}

static const struct cmsd_resource_ops vnc_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vnc_validate,
	.init = vnc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
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
