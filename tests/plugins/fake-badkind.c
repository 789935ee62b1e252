/* A kind that does not exist. */
#include "fake.h"
FAKE_OPS(ops);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-badkind",
					.version = "1",
					.kind = (enum cmsd_plugin_kind)99,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
