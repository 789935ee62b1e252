/*
 * quorum-ping: simple ping arbitration.  A node may stay or become master
 * only while it reaches its stable addresses (gateway, switch).
 *
 * Runtime ops arrive with issue 3 (ICMP/ICMPv6 echo on the loop, the vote
 * from the reachability of the targets).  In this build the plugin
 * validates its keys and parses them into the instance; start, stop,
 * monitor, request_vote and renew_lease answer -EOPNOTSUPP, never a
 * pretended vote.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

#define PING_MAX_TARGETS 16

struct ping_target {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
};

struct ping {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	struct ping_target targets[PING_MAX_TARGETS];
	size_t n_targets;
	uint64_t interval_ms;
	uint64_t timeout_ms;
};

static const char *const ping_keys[] = {"target", "interval", "timeout", NULL};

static int ping_parse_ip(const char *s, struct ping_target *t)
{
	memset(t, 0, sizeof(*t));
	if (inet_pton(AF_INET, s, t->addr) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, s, t->addr) == 1)
		t->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int ping_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		     struct ping *p)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "target");
	int bad = cf->check_keys(c, ping_keys);
	int tbad = 0;

	/* One target cannot tell "my link is down" from "that box is down". */
	if (n < 2)
		bad += cf->error(c, NULL,
				 "needs at least two <target> addresses (it "
				 "has %zu)",
				 n) < 0;
	if (n > PING_MAX_TARGETS)
		bad += cf->error(c, "target", "at most %d <target> addresses",
				 PING_MAX_TARGETS) < 0;
	p->n_targets = 0;
	for (size_t i = 0; i < n && i < PING_MAX_TARGETS; i++) {
		const struct cmsd_conf *t = cf->child(c, "target", i);
		const char *ip = cf->text(t);
		struct ping_target *cur = &p->targets[p->n_targets];
		bool dup = false;

		if (ping_parse_ip(ip, cur) < 0) {
			bad += cf->error(
				       t, NULL,
				       "\"%s\" is not an IPv4 or IPv6 address",
				       ip) < 0;
			continue;
		}
		/* Compare addresses, not spellings: ::1 and 0::1 are one. */
		for (size_t j = 0; j < p->n_targets && !dup; j++)
			dup = p->targets[j].family == cur->family &&
			      memcmp(p->targets[j].addr, cur->addr, 16) == 0;
		if (dup)
			bad += cf->error(t, NULL,
					 "target %s is given twice; the "
					 "targets must be distinct",
					 ip) < 0;
		else
			p->n_targets++;
	}
	tbad += cf->get_duration_ms(c, "interval", 200, 50, 60000,
				    &p->interval_ms) < 0;
	tbad += cf->get_duration_ms(c, "timeout", 1000, 1, 600000,
				    &p->timeout_ms) < 0;
	bad += tbad;
	if (!tbad && p->timeout_ms <= p->interval_ms)
		bad += cf->error(c, "timeout",
				 "timeout %llums must be longer than interval "
				 "%llums",
				 (unsigned long long)p->timeout_ms,
				 (unsigned long long)p->interval_ms) < 0;
	return bad;
}

static int ping_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct ping p;

	return ping_read(h, c, &p) ? -EINVAL : 0;
}

static int ping_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	struct ping *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->base.host = h;
	p->base.issue = "issue 3";
	if (ping_read(h, c, p)) {
		free(p);
		return -EINVAL;
	}
	*inst = p;
	return 0;
}

static void ping_destroy(void *inst)
{
	free(inst);
}

/* Logged once per op, like the pu_unimpl_* ops, but under its own name. */
static int ping_unimpl(struct ping *p, unsigned bit, const char *op)
{
	if (!(p->base.warned & bit)) {
		p->base.warned |= bit;
		p->base.host->log(p->base.host, CMSD_LOG_ERR,
				  "%s: not implemented in this build (plugin "
				  "quorum-ping; planned in %s)",
				  op, p->base.issue);
	}
	return -EOPNOTSUPP;
}

static int ping_request_vote(void *inst, struct cmsd_op *op,
			     const struct cmsd_vote_request *req,
			     struct cmsd_vote *out)
{
	(void)op;
	(void)req;
	(void)out;
	return ping_unimpl(inst, 1u << 8, "request_vote");
}

static int ping_renew_lease(void *inst, struct cmsd_op *op,
			    const struct cmsd_vote_request *req,
			    struct cmsd_vote *out)
{
	(void)op;
	(void)req;
	(void)out;
	return ping_unimpl(inst, 1u << 9, "renew_lease");
}

static const struct cmsd_quorum_ops ping_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = ping_validate,
	.init = ping_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = ping_destroy,
	.request_vote = ping_request_vote,
	.renew_lease = ping_renew_lease,
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
