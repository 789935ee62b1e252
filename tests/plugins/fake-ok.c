/* The smallest good plugin: a resource whose start, stop and monitor
 * succeed at once.  It reads no configuration, so tests may give it a
 * conf_instance built by hand with section NULL. */
#include "fake.h"
FAKE_OPS(ops);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "fake-ok",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
