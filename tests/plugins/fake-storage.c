/* A storage plugin, to put one where a resource is expected. */
#include "fake.h"
static int fk_promote(void *i, struct cmsd_op *o, int f)
{
	(void)i;
	(void)o;
	(void)f;
	return 0;
}
static int fk_demote(void *i, struct cmsd_op *o)
{
	(void)i;
	(void)o;
	return 0;
}
static int fk_status(void *i, struct cmsd_op *o, struct cmsd_storage_status *s)
{
	(void)i;
	(void)o;
	(void)s;
	return 0;
}
static const struct cmsd_storage_ops ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = fk_validate,
	.init = fk_init,
	.start = fk_op,
	.stop = fk_op,
	.monitor = fk_op,
	.destroy = fk_destroy,
	.promote = fk_promote,
	.demote = fk_demote,
	.status = fk_status};
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-storage",
					.version = "1",
					.kind = CMSD_KIND_STORAGE,
					.ops.storage = &ops};
CMSD_PLUGIN_DEFINE(desc)
