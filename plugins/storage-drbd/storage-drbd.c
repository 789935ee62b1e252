/*
 * storage-drbd: a DRBD-replicated partition: the database partition r0, and
 * the one local sync partition r1 for templates.
 *
 * Runtime ops arrive with issue 5 (resource file generation, drbdadm /
 * drbdsetup, events2, promote + mount, outdate the peer, split-brain
 * resolution by the after-sb policy).  In this build the plugin validates
 * its keys and parses them into the instance; every runtime op answers
 * -EOPNOTSUPP, never a pretended success.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

#define DRBD_MAX_MINOR 1048575 /* MINORMASK of the kernel: 20 bits */
#define DRBD_MAX_DISKS 8

struct drbd_disk {
	char *node; /* NULL: every node without a disk of its own */
	char *path;
};

enum drbd_fstype { DRBD_EXT4, DRBD_XFS };
enum drbd_after_sb { DRBD_SB_AUTO, DRBD_SB_OPERATOR };

struct drbd {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char *resource;
	char device[32];
	unsigned minor;
	struct drbd_disk disks[DRBD_MAX_DISKS];
	size_t n_disks;
	uint16_t port;
	char *mount;
	enum drbd_fstype fstype;
	enum drbd_after_sb after_sb;
};

static const char *const drbd_keys[] = {"resource", "device",	"minor",
					"disk",	    "port",	"mount",
					"fstype",   "after-sb", NULL};
static const char *const drbd_fstypes[] = {"ext4", "xfs", NULL};
static const char *const drbd_after_sbs[] = {"auto", "operator", NULL};

/* [a-z][a-z0-9_]*: drbdadm's own rule is looser, but the name also makes
 * file names (/etc/drbd.d/NAME.res) and status lines. */
static bool drbd_name_ok(const char *s)
{
	if (!islower((unsigned char)s[0]) || strlen(s) > 63)
		return false;
	for (const char *p = s; *p; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* "/dev/drbdN" with N a plain decimal minor; -1 when it is not. */
static long drbd_device_minor(const char *dev)
{
	const char *p = dev + strlen("/dev/drbd");
	long n = 0;

	if (strncmp(dev, "/dev/drbd", 9) != 0 || !*p || strlen(p) > 7 ||
	    (p[0] == '0' && p[1]))
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n <= DRBD_MAX_MINOR ? n : -1;
}

static bool drbd_dev_path_ok(const char *s)
{
	return strncmp(s, "/dev/", 5) == 0 && s[5] && !strstr(s, "/../") &&
	       !strpbrk(s, " \t");
}

/* The strings as read, pointing into the configuration. */
struct drbd_strings {
	const char *res, *mount;
	const char *disk_node[DRBD_MAX_DISKS], *disk_path[DRBD_MAX_DISKS];
};

static int drbd_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		     struct drbd *d, struct drbd_strings *s)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *dev = NULL;
	int64_t minor = 0, port = 7789;
	int e;
	size_t n = cf->count(c, "disk"), generic = 0;
	int bad = cf->check_keys(c, drbd_keys);
	int rc = cf->get_string(c, "resource", NULL, &s->res);

	if (rc == 1)
		bad += cf->require(c, "resource") < 0;
	else if (rc < 0)
		bad++;
	else if (!drbd_name_ok(s->res))
		bad += cf->error(c, "resource",
				 "\"%s\" is not a DRBD resource name "
				 "([a-z][a-z0-9_]*, at most 63)",
				 s->res) < 0;
	rc = cf->get_int(c, "minor", 0, 0, DRBD_MAX_MINOR, &minor);
	bad += rc < 0;
	if (cf->get_string(c, "device", NULL, &dev) < 0) {
		bad++;
	} else if (dev) {
		long dm = drbd_device_minor(dev);
		/* DRBD ties /dev/drbdN to minor N: two different numbers
		 * could not both hold. */
		if (dm < 0)
			bad += cf->error(c, "device",
					 "\"%s\" is not /dev/drbdN (N 0..%d)",
					 dev, DRBD_MAX_MINOR) < 0;
		else if (cf->count(c, "minor") && dm != minor)
			bad += cf->error(
				       c, "device",
				       "%s does not match <minor>%lld</minor>",
				       dev, (long long)minor) < 0;
		else
			minor = dm;
	}
	d->minor = (unsigned)minor;
	snprintf(d->device, sizeof(d->device), "/dev/drbd%u", d->minor);

	if (n == 0)
		bad += cf->require(c, "disk") < 0;
	if (n > DRBD_MAX_DISKS)
		bad += cf->error(c, "disk", "at most %d <disk> elements",
				 DRBD_MAX_DISKS) < 0;
	d->n_disks = 0;
	for (size_t i = 0; i < n && i < DRBD_MAX_DISKS; i++) {
		const struct cmsd_conf *dk = cf->child(c, "disk", i);
		const char *path = cf->text(dk);
		const char *node = cf->attr(dk, "node");

		if (!drbd_dev_path_ok(path))
			bad += cf->error(dk, NULL,
					 "\"%s\" is not a block device path "
					 "(/dev/...)",
					 path) < 0;
		if (!node)
			generic++;
		else if (!*node)
			bad += cf->error(dk, NULL, "node=\"\" names no node") <
			       0;
		for (size_t j = 0; node && j < i; j++) {
			const char *o =
				cf->attr(cf->child(c, "disk", j), "node");
			if (o && strcmp(o, node) == 0)
				bad += cf->error(dk, NULL,
						 "a second <disk> for node "
						 "\"%s\"",
						 node) < 0;
		}
		s->disk_node[d->n_disks] = node;
		s->disk_path[d->n_disks] = path;
		d->n_disks++;
	}
	if (generic > 1)
		bad += cf->error(c, "disk",
				 "at most one <disk> without node=\"ID\" (the "
				 "others must name their node)") < 0;
	bad += cf->get_int(c, "port", 7789, 1, 65535, &port) < 0;
	d->port = (uint16_t)port;
	bad += pu_abs_path(h, c, "mount", false, &s->mount);
	if (!s->mount)
		s->mount = "/var/lib/mysql-share";
	bad += cf->get_enum(c, "fstype", drbd_fstypes, DRBD_EXT4, &e) < 0;
	d->fstype = (enum drbd_fstype)e;
	bad += cf->get_enum(c, "after-sb", drbd_after_sbs, DRBD_SB_AUTO, &e) <
	       0;
	d->after_sb = (enum drbd_after_sb)e;
	return bad;
}

static int drbd_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct drbd d;
	struct drbd_strings s;

	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	return drbd_read(h, c, &d, &s) ? -EINVAL : 0;
}

static void drbd_destroy(void *inst)
{
	struct drbd *d = inst;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_disks; i++) {
		free(d->disks[i].node);
		free(d->disks[i].path);
	}
	free(d->resource);
	free(d->mount);
	free(d);
}

static int drbd_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	struct drbd *d = calloc(1, sizeof(*d));
	struct drbd_strings s = {0};
	bool nomem = false;

	if (!d)
		return -ENOMEM;
	d->base.host = h;
	d->base.issue = "issue 5";
	if (drbd_read(h, c, d, &s)) {
		d->n_disks = 0; /* nothing of its own to free yet */
		drbd_destroy(d);
		return -EINVAL;
	}
	/* The configuration tree may be freed on reload while the instance
	 * lives on: own the strings. */
	for (size_t i = 0; i < d->n_disks; i++) {
		struct drbd_disk *k = &d->disks[i];
		k->node = s.disk_node[i] ? strdup(s.disk_node[i]) : NULL;
		k->path = strdup(s.disk_path[i]);
		nomem = nomem || !k->path || (s.disk_node[i] && !k->node);
	}
	d->resource = strdup(s.res);
	d->mount = strdup(s.mount);
	if (nomem || !d->resource || !d->mount) {
		drbd_destroy(d);
		return -ENOMEM;
	}
	*inst = d;
	return 0;
}

/* Logged once per op, like the pu_unimpl_* ops, but under its own name. */
static int drbd_unimpl(struct drbd *d, unsigned bit, const char *op)
{
	if (!(d->base.warned & bit)) {
		d->base.warned |= bit;
		d->base.host->log(d->base.host, CMSD_LOG_ERR,
				  "%s: not implemented in this build (plugin "
				  "storage-drbd; planned in %s)",
				  op, d->base.issue);
	}
	return -EOPNOTSUPP;
}

static int drbd_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	(void)op;
	(void)peer;
	return drbd_unimpl(inst, 1u << 10, "fence_peer");
}

static int drbd_resync(void *inst, struct cmsd_op *op, int discard_local)
{
	(void)op;
	(void)discard_local;
	return drbd_unimpl(inst, 1u << 11, "resync");
}

static const struct cmsd_storage_ops drbd_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = drbd_validate,
	.init = drbd_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = drbd_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
	.fence_peer = drbd_fence_peer,
	.resync = drbd_resync,
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
