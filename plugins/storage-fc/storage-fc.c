/*
 * storage-fc: the shared template LUN over Fibre Channel, found by WWN under
 * /dev/disk/by-id (or given as a device path), fenced with SCSI-3 persistent
 * reservations through SG_IO where the array supports them.
 *
 * Runtime ops arrive with issue 6 (find the LUN, PR register / reserve /
 * preempt, mount on the master only).  In this build the plugin validates
 * its keys and parses them into the instance; every runtime op answers
 * -EOPNOTSUPP, never a pretended success.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

enum fc_fstype { FC_EXT4, FC_XFS };

/* SPC-3 persistent reservation types, in the order of fc_reservations;
 * FC_PR_NONE: no fencing (arrays without PR support). */
enum fc_pr_type { FC_PR_WE_RO, FC_PR_EA, FC_PR_WE, FC_PR_EA_RO, FC_PR_NONE };

struct fc {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char wwn[33];	     /* lower-case hex digits, or "" */
	char *device;	     /* the device path when given instead */
	char *mount;
	enum fc_fstype fstype;
	enum fc_pr_type reservation;
	uint64_t key; /* 0: derived from the node at run time */
};

static const char *const fc_keys[] = {
	"wwn", "device", "mount", "fstype", "reservation", "key", NULL};
static const char *const fc_fstypes[] = {"ext4", "xfs", NULL};
static const char *const fc_reservations[] = {
	"write-exclusive-registrants-only",
	"exclusive-access",
	"write-exclusive",
	"exclusive-access-registrants-only",
	"none",
	NULL};

/* 0x... or naa.... with 16 (NAA 5) or 32 (NAA 6) hex digits; stores the
 * digits in lower case, as udev names /dev/disk/by-id/wwn-0x... */
static int fc_parse_wwn(const char *w, char *out)
{
	const char *hex;
	size_t n;

	if (strncmp(w, "0x", 2) == 0)
		hex = w + 2;
	else if (strncmp(w, "naa.", 4) == 0)
		hex = w + 4;
	else
		return -EINVAL;
	n = strlen(hex);
	if (n != 16 && n != 32)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return -EINVAL;
		out[i] = (char)tolower((unsigned char)hex[i]);
	}
	out[n] = '\0';
	return 0;
}

static int fc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		   struct fc *f, const char **dev, const char **mount)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *wwn = NULL;
	int e;
	int bad = cf->check_keys(c, fc_keys);
	bool has_wwn = cf->count(c, "wwn") > 0;
	bool has_dev = cf->count(c, "device") > 0;

	/* Two ways of naming the LUN could name two LUNs. */
	if (has_wwn && has_dev)
		bad += cf->error(c, "device",
				 "give either <wwn> or <device>, not "
				 "both") < 0;
	else if (!has_wwn && !has_dev)
		bad += cf->error(c, NULL,
				 "needs <wwn> (preferred: stable across "
				 "reboots) or <device>") < 0;
	if (cf->get_string(c, "wwn", NULL, &wwn) < 0)
		bad++;
	else if (wwn && fc_parse_wwn(wwn, f->wwn) < 0)
		bad += cf->error(c, "wwn",
				 "\"%s\" is not a WWN (0x or naa. and 16 or 32 "
				 "hex digits)",
				 wwn) < 0;
	bad += pu_abs_path(h, c, "device", false, dev);
	/* No default: a shared LUN mounted over the wrong directory would hide
	 * what is there. */
	bad += pu_abs_path(h, c, "mount", true, mount);
	bad += cf->get_enum(c, "fstype", fc_fstypes, FC_EXT4, &e) < 0;
	f->fstype = (enum fc_fstype)e;
	bad += cf->get_enum(c, "reservation", fc_reservations, FC_PR_WE_RO,
			    &e) < 0;
	f->reservation = (enum fc_pr_type)e;
	bad += pu_pr_key(h, c, &f->key);
	return bad;
}

static int fc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct fc f;
	const char *dev = NULL, *mount = NULL;

	memset(&f, 0, sizeof(f));
	if (fc_read(h, c, &f, &dev, &mount))
		return -EINVAL;
	if (f.key && f.reservation == FC_PR_NONE)
		h->log(h, CMSD_LOG_WARNING,
		       "<key> is unused with <reservation>none</reservation>");
	return 0;
}

static void fc_destroy(void *inst)
{
	struct fc *f = inst;

	if (!f)
		return;
	free(f->device);
	free(f->mount);
	free(f);
}

static int fc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	struct fc *f = calloc(1, sizeof(*f));
	const char *dev = NULL, *mount = NULL;

	if (!f)
		return -ENOMEM;
	f->base.host = h;
	f->base.issue = "issue 6";
	if (fc_read(h, c, f, &dev, &mount)) {
		fc_destroy(f);
		return -EINVAL;
	}
	f->device = dev ? strdup(dev) : NULL;
	f->mount = strdup(mount);
	if ((dev && !f->device) || !f->mount) {
		fc_destroy(f);
		return -ENOMEM;
	}
	*inst = f;
	return 0;
}

/* Logged once per op, like the pu_unimpl_* ops, but under its own name. */
static int fc_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	struct fc *f = inst;

	(void)op;
	(void)peer;
	if (!(f->base.warned & (1u << 10))) {
		f->base.warned |= 1u << 10;
		f->base.host->log(f->base.host, CMSD_LOG_ERR,
				  "fence_peer: not implemented in this build "
				  "(plugin storage-fc; planned in %s)",
				  f->base.issue);
	}
	return -EOPNOTSUPP;
}

static const struct cmsd_storage_ops fc_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = fc_validate,
	.init = fc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = fc_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
	.fence_peer = fc_fence_peer,
	/* A shared LUN has one copy of the data: nothing to resync. */
	.resync = NULL,
};

static const struct cmsd_plugin fc_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-fc",
	.version = "0.1.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "Fibre Channel LUN by WWN, SG_IO reservations",
	.ops.storage = &fc_ops,
};

CMSD_PLUGIN_DEFINE(fc_plugin)
