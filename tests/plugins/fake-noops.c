/* No ops table. */
#include <cmsd/plugin.h>
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-noops",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE};
CMSD_PLUGIN_DEFINE(desc)
