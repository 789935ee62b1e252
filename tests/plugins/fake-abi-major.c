/* Built for the next ABI major: the loader must refuse it. */
#include "fake.h"
FAKE_OPS(ops);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR + 1,
					.abi_minor = 0,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-abi-major",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
