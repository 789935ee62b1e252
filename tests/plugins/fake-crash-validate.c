/* Crashes in validate: --check and a reload must name it, not die. */
#include "fake.h"
static int crash_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	volatile char *volatile p = (volatile char *)16;
	(void)h;
	(void)c;
	*p = 42;
	return 0;
}
FAKE_OPS(ops, .validate = crash_validate);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-crash-validate",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
