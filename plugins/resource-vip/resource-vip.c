/*
 * resource-vip: the virtual IP address of the service group.
 *
 * Runtime ops arrive with issue 4 (rtnetlink add/remove, duplicate address
 * probe, gratuitous ARP / unsolicited NA, monitor).  In this build the
 * plugin validates its keys and parses them into the instance; start, stop
 * and monitor answer -EOPNOTSUPP, never a pretended success.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

struct vip {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	int family;	     /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
	char *interface;
	unsigned garp_count;
	uint64_t garp_interval_ms;
};

static const char *const vip_keys[] = {"address", "interface", "garp-count",
				       "garp-interval", NULL};

/* Linux IFNAMSIZ - 1: the kernel refuses longer names. */
#define VIP_IFNAME_MAX 15

/* "ADDR/PREFIX": IPv4 with prefix 1..32 or IPv6 with 1..128.  The prefix is
 * required: a /32 taken by mistake as the default would route nothing. */
static int vip_parse_address(const char *s, int *family, unsigned char *addr,
			     unsigned *prefix)
{
	const char *slash = strchr(s, '/');
	char ip[INET6_ADDRSTRLEN];
	size_t len;
	unsigned long p = 0;
	unsigned max;

	if (!slash || !slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	for (const char *q = slash + 1; *q; q++) {
		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p < 1 || p > max)
		return -EINVAL;
	*prefix = (unsigned)p;
	return 0;
}

/* Reads every key into v (strings point into the configuration) and
 * returns the number of errors reported. */
static int vip_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		    struct vip *v, const char **ifname)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *addr = NULL;
	int64_t n = 5;
	int bad = cf->check_keys(c, vip_keys);
	int rc = cf->get_string(c, "address", NULL, &addr);

	if (rc == 1)
		bad += cf->require(c, "address") < 0;
	else if (rc < 0)
		bad++;
	else if (vip_parse_address(addr, &v->family, v->addr, &v->prefix) < 0)
		bad += cf->error(c, "address",
				 "\"%s\" is not ADDRESS/PREFIX (IPv4 with "
				 "prefix 1..32, or IPv6 with 1..128)",
				 addr) < 0;
	bad += pu_word(h, c, "interface", true, VIP_IFNAME_MAX);
	cf->get_string(c, "interface", NULL, ifname);
	bad += cf->get_int(c, "garp-count", 5, 0, 100, &n) < 0;
	v->garp_count = (unsigned)n;
	bad += cf->get_duration_ms(c, "garp-interval", 200, 10, 10000,
				   &v->garp_interval_ms) < 0;
	return bad;
}

static int vip_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct vip v = {0};
	const char *ifname = NULL;

	return vip_read(h, c, &v, &ifname) ? -EINVAL : 0;
}

static void vip_destroy(void *inst)
{
	struct vip *v = inst;

	if (!v)
		return;
	free(v->interface);
	free(v);
}

static int vip_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		    void **inst)
{
	struct vip *v = calloc(1, sizeof(*v));
	const char *ifname = NULL;
	int rc = -EINVAL;

	if (!v)
		return -ENOMEM;
	v->base.host = h;
	v->base.issue = "issue 4";
	if (vip_read(h, c, v, &ifname))
		goto fail;
	rc = -ENOMEM;
	v->interface = strdup(ifname);
	if (!v->interface)
		goto fail;
	*inst = v;
	return 0;
fail:
	vip_destroy(v);
	return rc;
}

static const struct cmsd_resource_ops vip_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = vip_validate,
	.init = vip_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = vip_destroy,
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
