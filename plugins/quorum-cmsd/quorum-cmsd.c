/*
 * quorum-cmsd: the advanced arbiter, both halves.  As <quorum> on a node it
 * is the lease client; as <arbiter> in arbiter mode it is the service that
 * grants leases to the clusters it knows.
 * Runtime ops (TLS arbiter protocol, leases, on-disk memory of the last
 * master) arrive with issue 3; this build validates the configuration.
 */
#include <errno.h>
#include <string.h>

#include "plugin_util.h"

static const char *const node_keys[] = {"arbiter", "renew-interval", "lease",
					NULL};
static const char *const arbiter_keys[] = {"listen", "cluster", NULL};
static const char *const cluster_keys[] = {"ca", "cert", "key", "state-file",
					   NULL};

static int qc_validate_node(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	uint64_t renew, lease;
	int bad = cf->check_keys(c, node_keys);

	bad += pu_addr_port(h, c, "arbiter", true, 0);
	bad += cf->get_duration_ms(c, "renew-interval", 200, 50, 60000, &renew) < 0;
	bad += cf->get_duration_ms(c, "lease", 1000, 150, 600000, &lease) < 0;
	if (!bad && lease < 3 * renew)
		bad += cf->error(c, "lease",
				 "lease %llums is less than 3 x renew-interval "
				 "(3 x %llums): one lost renewal would depose "
				 "the master",
				 (unsigned long long)lease,
				 (unsigned long long)renew) < 0;
	return bad;
}

static int qc_validate_arbiter(const struct cmsd_host *h,
			       const struct cmsd_conf *c)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "cluster");
	int bad = cf->check_keys(c, arbiter_keys);

	bad += pu_addr_port(h, c, "listen", true, 0);
	if (n == 0)
		bad += cf->require(c, "cluster") < 0;
	for (size_t i = 0; i < n; i++) {
		const struct cmsd_conf *cl = cf->child(c, "cluster", i);
		const char *id = cf->attr(cl, "id");
		bad += cf->check_keys(cl, cluster_keys);
		if (!id || !*id) {
			bad += cf->error(cl, NULL,
					 "needs id=\"CLUSTER-ID\"") < 0;
		} else {
			for (size_t j = 0; j < i; j++) {
				const char *o =
					cf->attr(cf->child(c, "cluster", j), "id");
				if (o && strcmp(o, id) == 0)
					bad += cf->error(cl, NULL,
							 "cluster id \"%s\" "
							 "appears twice",
							 id) < 0;
			}
		}
		bad += pu_abs_path(h, cl, "ca", true, NULL);
		bad += pu_abs_path(h, cl, "cert", true, NULL);
		bad += pu_abs_path(h, cl, "key", true, NULL);
		bad += pu_abs_path(h, cl, "state-file", false, NULL);
	}
	return bad;
}

static int qc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	bool arbiter = strcmp(h->conf->name(c), "arbiter") == 0;
	int bad = arbiter ? qc_validate_arbiter(h, c) : qc_validate_node(h, c);

	return bad ? -EINVAL : 0;
}

static int qc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	(void)c;
	return pu_base_init(h, "issue 3", inst);
}

static const struct cmsd_quorum_ops qc_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = qc_validate,
	.init = qc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = pu_base_destroy,
	.request_vote = pu_unimpl_vote,
	.renew_lease = pu_unimpl_vote,
};

static const struct cmsd_plugin qc_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "quorum-cmsd",
	.version = "0.1.0",
	.kind = CMSD_KIND_QUORUM,
	.description = "advanced arbiter: leases from a third cmsd",
	.ops.quorum = &qc_ops,
};

CMSD_PLUGIN_DEFINE(qc_plugin)
