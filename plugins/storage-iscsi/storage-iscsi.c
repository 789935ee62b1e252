/*
 * storage-iscsi: the shared template LUN over iSCSI, fenced with SCSI-3
 * persistent reservations.
 *
 * Runtime ops arrive with issue 6 (kernel initiator login for the block
 * device, libiscsi for health checks and PR register / reserve / preempt,
 * mount on the master only).  In this build the plugin validates its keys
 * and parses them into the instance; every runtime op answers -EOPNOTSUPP,
 * never a pretended success.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

enum iscsi_fstype { ISCSI_EXT4, ISCSI_XFS };

/* SPC-3 persistent reservation types, in the order of iscsi_reservations. */
enum iscsi_pr_type {
	ISCSI_PR_WE_RO, /* write exclusive, registrants only (default) */
	ISCSI_PR_EA,
	ISCSI_PR_WE,
	ISCSI_PR_EA_RO,
};

#define ISCSI_MAX_INITIATORS 8

/* The initiator name of one node (node NULL: of every node without one of
 * its own).  One config file serves both nodes, and each node logs in with
 * its own name, kept across a reinstall. */
struct iscsi_initiator {
	char *node;
	char *name;
};

struct iscsi {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char portal[64];     /* address literal */
	uint16_t port;	     /* 3260 when not given */
	char *iqn;
	unsigned lun;
	struct iscsi_initiator initiators[ISCSI_MAX_INITIATORS];
	size_t n_initiators;
	char *mount;
	enum iscsi_fstype fstype;
	enum iscsi_pr_type reservation;
	uint64_t key; /* 0: derived from the node at run time */
};

static const char *const iscsi_keys[] = {"portal",	   "iqn",   "lun",
					 "initiator-name", "mount", "fstype",
					 "reservation",	   "key",   NULL};
static const char *const iscsi_fstypes[] = {"ext4", "xfs", NULL};
static const char *const iscsi_reservations[] = {
	"write-exclusive-registrants-only", "exclusive-access",
	"write-exclusive", "exclusive-access-registrants-only", NULL};

static int iscsi_read_iqn(const struct cmsd_host *h, const struct cmsd_conf *c,
			  const char *key, const char **out)
{
	int rc = h->conf->get_string(c, key, NULL, out);

	if (rc == 1)
		return h->conf->require(c, key) < 0;
	if (rc < 0)
		return 1;
	if (pu_is_iqn(*out))
		return 0;
	h->conf->error(c, key,
		       "\"%s\" is not an iSCSI qualified name "
		       "(iqn.YYYY-MM.reversed.domain[:name])",
		       *out);
	return 1;
}

/* <initiator-name [node="ID"]>: like the disks of storage-drbd, at most one
 * without node=, one per node otherwise.  Fills s->initiators with pointers
 * into the configuration (init copies them). */
static int iscsi_read_initiators(const struct cmsd_host *h,
				 const struct cmsd_conf *c, struct iscsi *s)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "initiator-name"), generic = 0;
	int bad = 0;

	if (n == 0)
		return cf->require(c, "initiator-name") < 0;
	if (n > ISCSI_MAX_INITIATORS)
		bad += cf->error(c, "initiator-name",
				 "at most %d <initiator-name> elements",
				 ISCSI_MAX_INITIATORS) < 0;
	s->n_initiators = 0;
	for (size_t i = 0; i < n && i < ISCSI_MAX_INITIATORS; i++) {
		const struct cmsd_conf *e = cf->child(c, "initiator-name", i);
		const char *name = cf->text(e);
		const char *node = cf->attr(e, "node");

		if (!pu_is_iqn(name))
			bad += cf->error(e, NULL,
					 "\"%s\" is not an iSCSI qualified "
					 "name (iqn.YYYY-MM.reversed.domain"
					 "[:name])",
					 name) < 0;
		if (!node)
			generic++;
		else if (!*node)
			bad += cf->error(e, NULL, "node=\"\" names no node") <
			       0;
		for (size_t j = 0; node && j < i; j++) {
			const char *o = cf->attr(
				cf->child(c, "initiator-name", j), "node");
			if (o && strcmp(o, node) == 0)
				bad += cf->error(e, NULL,
						 "a second <initiator-name> "
						 "for node \"%s\"",
						 node) < 0;
		}
		s->initiators[s->n_initiators].node = (char *)node;
		s->initiators[s->n_initiators].name = (char *)name;
		s->n_initiators++;
	}
	if (generic > 1)
		bad += cf->error(c, "initiator-name",
				 "at most one <initiator-name> without "
				 "node=\"ID\"") < 0;
	return bad;
}

static int iscsi_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		      struct iscsi *s, const char **iqn, const char **mount)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *portal = NULL;
	int64_t lun = 0;
	int e;
	int bad = cf->check_keys(c, iscsi_keys);

	bad += pu_addr_port(h, c, "portal", true, 3260);
	if (cf->get_string(c, "portal", NULL, &portal) == 0 &&
	    pu_split_addr_port(portal, s->portal, sizeof(s->portal), &s->port,
			       3260) < 0)
		s->port = 0; /* already reported by pu_addr_port */
	bad += iscsi_read_iqn(h, c, "iqn", iqn);
	bad += iscsi_read_initiators(h, c, s);
	bad += cf->get_int(c, "lun", 0, 0, 16383, &lun) < 0;
	s->lun = (unsigned)lun;
	/* No default: a shared LUN mounted over the wrong directory would hide
	 * what is there. */
	bad += pu_abs_path(h, c, "mount", true, mount);
	bad += cf->get_enum(c, "fstype", iscsi_fstypes, ISCSI_EXT4, &e) < 0;
	s->fstype = (enum iscsi_fstype)e;
	bad += cf->get_enum(c, "reservation", iscsi_reservations,
			    ISCSI_PR_WE_RO, &e) < 0;
	s->reservation = (enum iscsi_pr_type)e;
	bad += pu_pr_key(h, c, &s->key);
	return bad;
}

static int iscsi_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct iscsi s;
	const char *iqn = NULL, *mount = NULL;

	memset(&s, 0, sizeof(s));
	return iscsi_read(h, c, &s, &iqn, &mount) ? -EINVAL : 0;
}

static void iscsi_destroy(void *inst)
{
	struct iscsi *s = inst;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_initiators; i++) {
		free(s->initiators[i].node);
		free(s->initiators[i].name);
	}
	free(s->iqn);
	free(s->mount);
	free(s);
}

static int iscsi_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	struct iscsi *s = calloc(1, sizeof(*s));
	const char *iqn = NULL, *mount = NULL;
	bool nomem = false;

	if (!s)
		return -ENOMEM;
	s->base.host = h;
	s->base.issue = "issue 6";
	if (iscsi_read(h, c, s, &iqn, &mount)) {
		s->n_initiators = 0; /* they point into the configuration */
		iscsi_destroy(s);
		return -EINVAL;
	}
	/* The configuration tree may be freed on reload while the instance
	 * lives on: own the strings. */
	for (size_t i = 0; i < s->n_initiators; i++) {
		struct iscsi_initiator *k = &s->initiators[i];
		const char *node = k->node;
		k->node = node ? strdup(node) : NULL;
		k->name = strdup(k->name);
		nomem = nomem || !k->name || (node && !k->node);
	}
	s->iqn = strdup(iqn);
	s->mount = strdup(mount);
	if (nomem || !s->iqn || !s->mount) {
		iscsi_destroy(s);
		return -ENOMEM;
	}
	*inst = s;
	return 0;
}

/* Logged once per op, like the pu_unimpl_* ops, but under its own name. */
static int iscsi_unimpl(struct iscsi *s, unsigned bit, const char *op)
{
	if (!(s->base.warned & bit)) {
		s->base.warned |= bit;
		s->base.host->log(s->base.host, CMSD_LOG_ERR,
				  "%s: not implemented in this build (plugin "
				  "storage-iscsi; planned in %s)",
				  op, s->base.issue);
	}
	return -EOPNOTSUPP;
}

static int iscsi_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	(void)op;
	(void)peer;
	return iscsi_unimpl(inst, 1u << 10, "fence_peer");
}

static const struct cmsd_storage_ops iscsi_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = iscsi_validate,
	.init = iscsi_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = iscsi_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
	.fence_peer = iscsi_fence_peer,
	/* A shared LUN has one copy of the data: nothing to resync. */
	.resync = NULL,
};

static const struct cmsd_plugin iscsi_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-iscsi",
	.version = "0.1.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "iSCSI LUN with SCSI-3 reservation fencing",
	.ops.storage = &iscsi_ops,
};

CMSD_PLUGIN_DEFINE(iscsi_plugin)
