/*
 * storage-drbd: the database partition r0 (and one local sync partition r1)
 * on DRBD.  Runtime ops (resource files, drbdadm/drbdsetup, events2,
 * split-brain healing) arrive with issue 5; this build validates the
 * configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugin_util.h"

static const char *const drbd_keys[] = {"resource", "device", "minor", "disk",
					"port",	    "mount",  "fstype", "after-sb",
					NULL};
static const char *const drbd_fstypes[] = {"ext4", "xfs", NULL};
static const char *const drbd_after_sb[] = {"auto", "operator", NULL};

static int drbd_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *res, *dev;
	int64_t minor, port;
	int e;
	int bad = cf->check_keys(c, drbd_keys);
	int rc = cf->get_string(c, "resource", NULL, &res);

	if (rc == 1)
		bad += cf->require(c, "resource") < 0;
	else if (rc < 0)
		bad++;
	else {
		bool ok = islower((unsigned char)res[0]) && strlen(res) < 64;
		for (const char *p = res; ok && *p; p++)
			ok = islower((unsigned char)*p) ||
			     isdigit((unsigned char)*p) || *p == '_';
		if (!ok)
			bad += cf->error(c, "resource",
					 "\"%s\" is not a DRBD resource name "
					 "([a-z][a-z0-9_]*)",
					 res) < 0;
	}
	bad += cf->get_int(c, "minor", 0, 0, 1048575, &minor) < 0;
	if (cf->get_string(c, "device", NULL, &dev) == 0) {
		unsigned n;
		char tail;
		if (sscanf(dev, "/dev/drbd%u%c", &n, &tail) != 1)
			bad += cf->error(c, "device",
					 "\"%s\" is not /dev/drbdN", dev) < 0;
	}
	size_t disks = cf->count(c, "disk");
	size_t generic = 0;
	if (disks == 0)
		bad += cf->require(c, "disk") < 0;
	for (size_t i = 0; i < disks; i++) {
		const struct cmsd_conf *d = cf->child(c, "disk", i);
		const char *path = cf->text(d);
		const char *node = cf->attr(d, "node");
		if (strncmp(path, "/dev/", 5) != 0 || !path[5])
			bad += cf->error(d, NULL,
					 "\"%s\" is not a block device path "
					 "(/dev/...)",
					 path) < 0;
		if (!node)
			generic++;
		for (size_t j = 0; node && j < i; j++) {
			const char *o = cf->attr(cf->child(c, "disk", j), "node");
			if (o && strcmp(o, node) == 0)
				bad += cf->error(d, NULL,
						 "a second <disk> for node "
						 "\"%s\"",
						 node) < 0;
		}
	}
	if (generic > 1)
		bad += cf->error(c, "disk",
				 "at most one <disk> without node=\"ID\"") < 0;
	bad += cf->get_int(c, "port", 7789, 1, 65535, &port) < 0;
	bad += pu_abs_path(h, c, "mount", false, NULL);
	bad += cf->get_enum(c, "fstype", drbd_fstypes, 0, &e) < 0;
	bad += cf->get_enum(c, "after-sb", drbd_after_sb, 0, &e) < 0;
	return bad ? -EINVAL : 0;
}

static int drbd_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 5", inst);
}

static const struct cmsd_storage_ops drbd_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = drbd_validate,
	.init = drbd_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
};

static const struct cmsd_plugin drbd_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-drbd",
	.version = "0.1.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "DRBD replicated partition",
	.ops.storage = &drbd_ops,
};

CMSD_PLUGIN_DEFINE(drbd_plugin)
