/*
 * A resource plugin for the configuration tests: its validate() uses every
 * accessor of host->conf, so that the tests see the agent's messages for a
 * plugin's keys without depending on a real plugin's choice of keys.
 *
 *   <address>   required string      <count>  integer 1..10
 *   <delay>     duration 10ms..1m    <mode>   fast | safe
 *   <size>      size 1K..1G          <flag>   boolean
 *   <item name="..."> repeated, each needs name=
 *   <unchecked/> present: validate fails without reporting (-EIO)
 */
#include "fake.h"

static int ck_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	static const char *const known[] = {"address", "count",	    "delay",
					    "mode",    "size",	    "flag",
					    "item",    "unchecked", NULL};
	static const char *const modes[] = {"fast", "safe", NULL};
	const struct cmsd_conf_ops *o = h->conf;
	const char *s;
	int64_t i;
	uint64_t u;
	int e, bad = 0;

	/* What the agent promises at validate time. */
	if (!h->log || !h->now_ms || !o || !h->state_dir || !h->instance_id ||
	    !h->plugin_name || h->size < sizeof(struct cmsd_host))
		return -EFAULT;
	if (o->count(c, "unchecked"))
		return -EIO;
	bad += o->check_keys(c, known) > 0;
	if (o->get_string(c, "address", NULL, &s) == 1)
		bad += o->require(c, "address") < 0;
	bad += o->get_int(c, "count", 1, 1, 10, &i) < 0;
	bad += o->get_duration_ms(c, "delay", 100, 10, 60000, &u) < 0;
	bad += o->get_enum(c, "mode", modes, 0, &e) < 0;
	bad += o->get_size(c, "size", 1024, 1024, 1ull << 30, &u) < 0;
	bad += o->get_bool(c, "flag", 0, &e) < 0;
	for (size_t k = 0; k < o->count(c, "item"); k++) {
		const struct cmsd_conf *it = o->child(c, "item", k);
		if (!o->attr(it, "name"))
			bad += o->error(it, NULL, "needs name=") < 0;
	}
	return bad ? -EINVAL : 0;
}

FAKE_OPS(ops, .validate = ck_validate);
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "conf-keys",
					.version = "1",
					.kind = CMSD_KIND_RESOURCE,
					.ops.resource = &ops};
CMSD_PLUGIN_DEFINE(desc)
