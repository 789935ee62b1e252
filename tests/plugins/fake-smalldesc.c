/* A descriptor whose size is too small to be ABI 1.0. */
#include "fake.h"
FAKE_OPS(ops);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = 16,
					.name = "fake-smalldesc",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
