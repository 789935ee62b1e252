/*
 * quorum-ping: simple ping arbitration with two or more stable addresses.
 * Runtime ops (ICMP echo on the loop) arrive with issue 3; this build
 * validates the configuration.
 */
#include <errno.h>
#include <string.h>

#include "plugin_util.h"

static const char *const ping_keys[] = {"target", "interval", "timeout", NULL};

static int ping_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "target");
	uint64_t interval, timeout;
	int bad = cf->check_keys(c, ping_keys);

	if (n < 2)
		bad += cf->error(c, NULL,
				 "needs at least two <target> addresses (it "
				 "has %zu)",
				 n) < 0;
	for (size_t i = 0; i < n; i++) {
		const struct cmsd_conf *t = cf->child(c, "target", i);
		const char *ip = cf->text(t);
		if (!pu_is_ip(ip)) {
			bad += cf->error(t, NULL,
					 "\"%s\" is not an IPv4 or IPv6 address",
					 ip) < 0;
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cf->text(cf->child(c, "target", j)), ip) == 0)
				bad += cf->error(t, NULL,
						 "target %s appears twice",
						 ip) < 0;
	}
	bad += cf->get_duration_ms(c, "interval", 200, 50, 60000, &interval) < 0;
	bad += cf->get_duration_ms(c, "timeout", 1000, 50, 600000, &timeout) < 0;
	if (!bad && timeout <= interval)
		bad += cf->error(c, "timeout",
				 "timeout %llums must be longer than interval "
				 "%llums",
				 (unsigned long long)timeout,
				 (unsigned long long)interval) < 0;
	return bad ? -EINVAL : 0;
}

static int ping_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 3", inst);
}

static const struct cmsd_quorum_ops ping_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = ping_validate,
	.init = ping_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
	.request_vote = pu_unimpl_vote,
	.renew_lease = pu_unimpl_vote,
};

static const struct cmsd_plugin ping_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "quorum-ping",
	.version = "0.1.0",
	.kind = CMSD_KIND_QUORUM,
	.description = "simple ping arbitration",
	.ops.quorum = &ping_ops,
};

CMSD_PLUGIN_DEFINE(ping_plugin)
