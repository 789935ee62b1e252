/*
 * storage-iscsi: shared template LUN over iSCSI with SCSI-3 reservation
 * fencing.  Runtime ops (libiscsi login, health checks, PR register /
 * reserve / preempt) arrive with issue 6; this build validates the
 * configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "plugin_util.h"

static const char *const iscsi_keys[] = {"portal", "iqn", "lun",
					 "initiator-name", "mount", "fstype",
					 "reservation", "key", NULL};
static const char *const fstypes[] = {"ext4", "xfs", NULL};
static const char *const reservations[] = {
	"write-exclusive-registrants-only", "exclusive-access",
	"write-exclusive", "exclusive-access-registrants-only", NULL};

static int iscsi_check_key(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const char *k;
	bool nonzero = false;

	if (h->conf->get_string(c, "key", NULL, &k) != 0)
		return 0;
	size_t n = strlen(k);
	bool ok = n > 2 && n <= 18 && k[0] == '0' && (k[1] == 'x' || k[1] == 'X');
	for (size_t i = 2; ok && i < n; i++) {
		ok = isxdigit((unsigned char)k[i]);
		nonzero = nonzero || k[i] != '0';
	}
	if (ok && nonzero)
		return 0;
	h->conf->error(c, "key",
		       "\"%s\" is not a non-zero reservation key (0x and up to "
		       "16 hex digits)",
		       k);
	return 1;
}

static int iscsi_check_iqn(const struct cmsd_host *h,
			   const struct cmsd_conf *c, const char *key)
{
	const char *v;
	int rc = h->conf->get_string(c, key, NULL, &v);

	if (rc == 1)
		return h->conf->require(c, key) < 0;
	if (rc < 0)
		return 1;
	if (pu_is_iqn(v))
		return 0;
	h->conf->error(c, key,
		       "\"%s\" is not an iSCSI name "
		       "(iqn.YYYY-MM.reversed.domain[:name])",
		       v);
	return 1;
}

static int iscsi_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int64_t lun;
	int e;
	int bad = cf->check_keys(c, iscsi_keys);

	bad += pu_addr_port(h, c, "portal", true, 3260);
	bad += iscsi_check_iqn(h, c, "iqn");
	bad += iscsi_check_iqn(h, c, "initiator-name");
	bad += cf->get_int(c, "lun", 0, 0, 16383, &lun) < 0;
	bad += pu_abs_path(h, c, "mount", false, NULL);
	bad += cf->get_enum(c, "fstype", fstypes, 0, &e) < 0;
	bad += cf->get_enum(c, "reservation", reservations, 0, &e) < 0;
	bad += iscsi_check_key(h, c);
	return bad ? -EINVAL : 0;
}

static int iscsi_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 6", inst);
}

static const struct cmsd_storage_ops iscsi_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = iscsi_validate,
	.init = iscsi_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
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
