/* Built for a newer minor of our major: needs a newer agent. */
#include "fake.h"
FAKE_OPS(ops);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR + 1,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-abi-minor-newer",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
