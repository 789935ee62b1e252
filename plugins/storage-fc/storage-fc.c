/*
 * storage-fc: shared template LUN over Fibre Channel, found by WWN, with
 * SCSI-3 reservations through SG_IO where the device supports them.
 * Runtime ops arrive with issue 6; this build validates the configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "plugin_util.h"

static const char *const fc_keys[] = {"wwn",	     "device", "mount", "fstype",
				      "reservation", "key",    NULL};
static const char *const fstypes[] = {"ext4", "xfs", NULL};
static const char *const reservations[] = {
	"write-exclusive-registrants-only", "exclusive-access",
	"write-exclusive", "exclusive-access-registrants-only", "none", NULL};

static bool fc_wwn_ok(const char *w)
{
	const char *hex = w;
	size_t n;

	if (strncmp(w, "0x", 2) == 0 || strncmp(w, "naa.", 4) == 0)
		hex = w + (w[0] == '0' ? 2 : 4);
	n = strlen(hex);
	if (n != 16 && n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i]))
			return false;
	return true;
}

static int fc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *wwn, *key;
	int e;
	int bad = cf->check_keys(c, fc_keys);
	bool has_wwn = cf->count(c, "wwn") > 0, has_dev = cf->count(c, "device") > 0;

	if (has_wwn == has_dev)
		bad += cf->error(c, NULL,
				 "give exactly one of <wwn> or <device>") < 0;
	if (cf->get_string(c, "wwn", NULL, &wwn) == 0 && !fc_wwn_ok(wwn))
		bad += cf->error(c, "wwn",
				 "\"%s\" is not a WWN (0x or naa. and 16 or 32 "
				 "hex digits)",
				 wwn) < 0;
	bad += pu_abs_path(h, c, "device", false, NULL);
	bad += pu_abs_path(h, c, "mount", false, NULL);
	bad += cf->get_enum(c, "fstype", fstypes, 0, &e) < 0;
	bad += cf->get_enum(c, "reservation", reservations, 0, &e) < 0;
	if (cf->get_string(c, "key", NULL, &key) == 0) {
		size_t n = strlen(key);
		bool ok = n > 2 && n <= 18 && strncmp(key, "0x", 2) == 0;
		for (size_t i = 2; ok && i < n; i++)
			ok = isxdigit((unsigned char)key[i]);
		if (!ok || strspn(key + 2, "0") == n - 2)
			bad += cf->error(c, "key",
					 "\"%s\" is not a non-zero reservation "
					 "key (0x and up to 16 hex digits)",
					 key) < 0;
	}
	return bad ? -EINVAL : 0;
}

static int fc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 6", inst);
}

static const struct cmsd_storage_ops fc_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = fc_validate,
	.init = fc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
	.promote = pu_unimpl_promote,
	.demote = pu_unimpl_demote,
	.status = pu_unimpl_status,
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
