/* A quorum plugin that accepts any section: for <quorum> and <arbiter> in
 * the configuration tests. */
#include "fake.h"

static int cq_vote(void *inst, struct cmsd_op *op,
		   const struct cmsd_vote_request *req, struct cmsd_vote *out)
{
	(void)inst;
	(void)op;
	(void)req;
	out->granted = 0;
	return 0;
}

static const struct cmsd_quorum_ops ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = fk_validate,
	.init = fk_init,
	.start = fk_op,
	.stop = fk_op,
	.monitor = fk_op,
	.destroy = fk_destroy,
	.request_vote = cq_vote,
	.renew_lease = cq_vote,
};
static const struct cmsd_plugin desc = {.abi_major = CMSD_ABI_MAJOR,
					.abi_minor = CMSD_ABI_MINOR,
					.size = sizeof(struct cmsd_plugin),
					.name = "conf-quorum",
					.version = "1",
					.kind = CMSD_KIND_QUORUM,
					.ops.quorum = &ops};
CMSD_PLUGIN_DEFINE(desc)
