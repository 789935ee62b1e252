/*
 * resource-mysql: MariaDB on the replicated partition.
 * Runtime ops (mariadbd or a systemd unit, monitor through MariaDB
 * Connector/C, clean stop) arrive with issue 4; this build validates the
 * configuration.
 */
#include <errno.h>

#include "plugin_util.h"

static const char *const mysql_keys[] = {
	"datadir",    "socket",	      "pid-file",
	"mariadbd",   "user",	      "systemd-unit",
	"monitor-user", "monitor-password-file", "port",
	"bind-address", NULL};

static int mysql_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *v;
	int64_t port;
	int bad = cf->check_keys(c, mysql_keys);

	bad += pu_abs_path(h, c, "datadir", false, NULL);
	bad += pu_abs_path(h, c, "socket", false, NULL);
	bad += pu_abs_path(h, c, "pid-file", false, NULL);
	bad += pu_abs_path(h, c, "monitor-password-file", false, NULL);
	bad += pu_word(h, c, "user", false, 32);
	bad += pu_word(h, c, "monitor-user", false, 80);
	bad += pu_word(h, c, "systemd-unit", false, 255);
	bad += pu_command(h, c, "mariadbd", false);
	if (cf->count(c, "mariadbd") && cf->count(c, "systemd-unit"))
		bad += cf->error(c, "systemd-unit",
				 "give either <mariadbd> or <systemd-unit>, "
				 "not both") < 0;
	bad += cf->get_int(c, "port", 3306, 1, 65535, &port) < 0;
	if (cf->get_string(c, "bind-address", NULL, &v) == 0 && !pu_is_ip(v))
		bad += cf->error(c, "bind-address",
				 "\"%s\" is not an IPv4 or IPv6 address", v) < 0;
	return bad ? -EINVAL : 0;
}

static int mysql_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 4", inst);
}

static const struct cmsd_resource_ops mysql_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = mysql_validate,
	.init = mysql_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
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
