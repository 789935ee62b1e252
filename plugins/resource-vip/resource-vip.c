/*
 * resource-vip: the virtual IP of the service group.
 * Runtime ops (rtnetlink add/remove, ARP probe, gratuitous ARP, monitor)
 * arrive with issue 4; this build validates the configuration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

static const char *const vip_keys[] = {"address", "interface", "garp-count",
				       "garp-interval", NULL};

static int vip_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *addr = NULL;
	int64_t n;
	uint64_t ms;
	int bad = cf->check_keys(c, vip_keys);
	int rc = cf->get_string(c, "address", NULL, &addr);

	if (rc == 1)
		bad += cf->require(c, "address") < 0;
	else if (rc < 0)
		bad++;
	else {
		char ip[64];
		const char *slash = strchr(addr, '/');
		char *end;
		long prefix = slash ? strtol(slash + 1, &end, 10) : -1;
		size_t len = slash ? (size_t)(slash - addr) : strlen(addr);
		unsigned char buf[16];
		int fam = 0;
		if (len < sizeof(ip)) {
			memcpy(ip, addr, len);
			ip[len] = '\0';
			fam = inet_pton(AF_INET, ip, buf) == 1	  ? 4
			      : inet_pton(AF_INET6, ip, buf) == 1 ? 6
								  : 0;
		}
		if (!fam || !slash || !slash[1] || *end ||
		    prefix < 1 || prefix > (fam == 4 ? 32 : 128))
			bad += cf->error(c, "address",
					 "\"%s\" is not ADDRESS/PREFIX (IPv4 "
					 "prefix 1..32, IPv6 1..128)",
					 addr) < 0;
	}
	bad += pu_word(h, c, "interface", true, 15);
	bad += cf->get_int(c, "garp-count", 5, 0, 100, &n) < 0;
	bad += cf->get_duration_ms(c, "garp-interval", 200, 10, 10000, &ms) < 0;
	return bad ? -EINVAL : 0;
}

static int vip_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		    void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 4", inst);
}

static const struct cmsd_resource_ops vip_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vip_validate,
	.init = vip_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
};

static const struct cmsd_plugin vip_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-vip",
	.version = "0.1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "virtual IP address with gratuitous ARP",
	.ops.resource = &vip_ops,
};

CMSD_PLUGIN_DEFINE(vip_plugin)
