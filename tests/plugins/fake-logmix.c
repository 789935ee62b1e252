/* fake-logmix: start logs two alternating lines 20 times each, as a plugin
 * failing in a loop does, then a third line once. */
#include "fake.h"
static const struct cmsd_host *lm_host;
static int lm_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	(void)c;
	lm_host = h;
	*inst = NULL;
	return 0;
}
static int lm_start(void *inst, struct cmsd_op *op)
{
	(void)inst;
	(void)op;
	for (int i = 0; i < 20; i++) {
		lm_host->log(lm_host, CMSD_LOG_WARNING, "probe a failed");
		lm_host->log(lm_host, CMSD_LOG_WARNING, "probe b failed");
	}
	lm_host->log(lm_host, CMSD_LOG_WARNING, "once");
	return 0;
}
FAKE_OPS(ops, .init = lm_init, .start = lm_start);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-logmix",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
