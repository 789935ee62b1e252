/* Crashes in init: the agent must name it and refuse to start. */
#include "fake.h"
static int crash_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	/* A real fault, not a null store: UBSan would trap that first, and
	 * third-party plugins are not built with UBSan. */
	volatile char *volatile p = (volatile char *)16;
	(void)h;
	(void)c;
	*inst = NULL;
	*p = 42;
	return 0;
}
FAKE_OPS(ops, .init = crash_init);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-crash-init",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
