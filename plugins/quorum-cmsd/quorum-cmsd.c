/*
 * quorum-cmsd: the advanced arbiter, both halves.  As <quorum> on a node it
 * is the lease client; as <arbiter> in an arbiter-mode cmsd it is the
 * service that grants leases to every cluster it knows.
 *
 * Runtime ops arrive with issue 3 (the TLS arbiter protocol, leases, the
 * arbiter's on-disk memory of the last master and its data generation).
 * In this build the plugin validates its keys and parses them into the
 * instance; start, stop, monitor, request_vote and renew_lease answer
 * -EOPNOTSUPP, never a pretended vote.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

struct qc_cluster {
	char *id;
	char *ca, *cert, *key;
	char *state_file; /* NULL: <state dir>/<id>.state */
};

struct qc {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	bool arbiter;	     /* element <arbiter>: the serving side */
	char addr[64];	     /* node: the arbiter; arbiter: where to listen */
	uint16_t port;
	uint64_t renew_ms; /* node side */
	uint64_t lease_ms;
	struct qc_cluster *clusters; /* arbiter side */
	size_t n_clusters;
};

static const char *const qc_node_keys[] = {"arbiter", "renew-interval", "lease",
					   NULL};
static const char *const qc_arbiter_keys[] = {"listen", "cluster", NULL};
static const char *const qc_cluster_keys[] = {"ca", "cert", "key", "state-file",
					      NULL};

/* Cluster ids name state files and appear in the protocol: keep them to a
 * safe alphabet. */
static bool qc_id_ok(const char *id)
{
	if (!id || !*id || strlen(id) > 63)
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return id[0] != '.';
}

/* ADDR:PORT of `key` into q->addr / q->port; the port is required. */
static int qc_endpoint(const struct cmsd_host *h, const struct cmsd_conf *c,
		       const char *key, struct qc *q)
{
	const char *v = NULL;

	if (pu_addr_port(h, c, key, true, 0))
		return 1;
	h->conf->get_string(c, key, NULL, &v);
	pu_split_addr_port(v, q->addr, sizeof(q->addr), &q->port, 0);
	return 0;
}

static int qc_read_node(const struct cmsd_host *h, const struct cmsd_conf *c,
			struct qc *q)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, qc_node_keys);
	int tbad = 0;

	bad += qc_endpoint(h, c, "arbiter", q);
	tbad += cf->get_duration_ms(c, "renew-interval", 200, 50, 60000,
				    &q->renew_ms) < 0;
	tbad += cf->get_duration_ms(c, "lease", 1000, 150, 600000,
				    &q->lease_ms) < 0;
	bad += tbad;
	/* Two renewals may be lost before the master must step down. */
	if (!tbad && q->lease_ms < 3 * q->renew_ms)
		bad += cf->error(c, "lease",
				 "lease %llums is less than 3 x renew-interval "
				 "(3 x %llums): two lost renewals would depose "
				 "the master",
				 (unsigned long long)q->lease_ms,
				 (unsigned long long)q->renew_ms) < 0;
	return bad;
}

static void qc_free_clusters(struct qc *q)
{
	for (size_t i = 0; i < q->n_clusters; i++) {
		struct qc_cluster *cl = &q->clusters[i];
		free(cl->id);
		free(cl->ca);
		free(cl->cert);
		free(cl->key);
		free(cl->state_file);
	}
	free(q->clusters);
	q->clusters = NULL;
	q->n_clusters = 0;
}

/* With keep set (init), copies each cluster into q->clusters. */
static int qc_read_arbiter(const struct cmsd_host *h, const struct cmsd_conf *c,
			   struct qc *q, bool keep)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "cluster");
	int bad = cf->check_keys(c, qc_arbiter_keys);

	bad += qc_endpoint(h, c, "listen", q);
	if (n == 0)
		bad += cf->require(c, "cluster") < 0;
	if (keep && n) {
		q->clusters = calloc(n, sizeof(*q->clusters));
		if (!q->clusters)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cmsd_conf *cl = cf->child(c, "cluster", i);
		const char *id = cf->attr(cl, "id");
		const char *ca, *cert, *key, *state;
		int cbad = cf->check_keys(cl, qc_cluster_keys);

		if (!id)
			cbad += cf->error(cl, NULL, "needs id=\"CLUSTER-ID\"") <
				0;
		else if (!qc_id_ok(id))
			cbad += cf->error(cl, NULL,
					  "cluster id \"%s\" must be 1..63 of "
					  "A-Z a-z 0-9 - _ . (not starting "
					  "with .)",
					  id) < 0;
		for (size_t j = 0; id && j < i; j++) {
			const char *o =
				cf->attr(cf->child(c, "cluster", j), "id");
			if (o && strcmp(o, id) == 0)
				cbad += cf->error(cl, NULL,
						  "cluster id \"%s\" appears "
						  "twice",
						  id) < 0;
		}
		cbad += pu_abs_path(h, cl, "ca", true, &ca);
		cbad += pu_abs_path(h, cl, "cert", true, &cert);
		cbad += pu_abs_path(h, cl, "key", true, &key);
		cbad += pu_abs_path(h, cl, "state-file", false, &state);
		bad += cbad;
		if (keep && !cbad) {
			struct qc_cluster *k = &q->clusters[q->n_clusters++];
			k->id = strdup(id);
			k->ca = strdup(ca);
			k->cert = strdup(cert);
			k->key = strdup(key);
			k->state_file = state ? strdup(state) : NULL;
			if (!k->id || !k->ca || !k->cert || !k->key ||
			    (state && !k->state_file))
				return -ENOMEM;
		}
	}
	return bad;
}

static int qc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		   struct qc *q, bool keep)
{
	const char *elem = h->conf->name(c);

	q->arbiter = strcmp(elem, "arbiter") == 0;
	if (q->arbiter)
		return qc_read_arbiter(h, c, q, keep);
	if (strcmp(elem, "quorum") != 0)
		return h->conf->error(c, NULL,
				      "quorum-cmsd serves <quorum> (node) or "
				      "<arbiter> (arbiter mode), not <%s>",
				      elem) < 0;
	return qc_read_node(h, c, q);
}

static int qc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct qc q = {0};
	int rc = qc_read(h, c, &q, false);

	return rc < 0 ? rc : rc ? -EINVAL : 0;
}

static void qc_destroy(void *inst)
{
	struct qc *q = inst;

	if (!q)
		return;
	qc_free_clusters(q);
	free(q);
}

static int qc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	struct qc *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->base.host = h;
	q->base.issue = "issue 3";
	rc = qc_read(h, c, q, true);
	if (rc) {
		qc_destroy(q);
		return rc < 0 ? rc : -EINVAL;
	}
	*inst = q;
	return 0;
}

/* Logged once per op, like the pu_unimpl_* ops, but under its own name. */
static int qc_unimpl(struct qc *q, unsigned bit, const char *op)
{
	if (!(q->base.warned & bit)) {
		q->base.warned |= bit;
		q->base.host->log(q->base.host, CMSD_LOG_ERR,
				  "%s: not implemented in this build (plugin "
				  "quorum-cmsd; planned in %s)",
				  op, q->base.issue);
	}
	return -EOPNOTSUPP;
}

static int qc_request_vote(void *inst, struct cmsd_op *op,
			   const struct cmsd_vote_request *req,
			   struct cmsd_vote *out)
{
	(void)op;
	(void)req;
	(void)out;
	return qc_unimpl(inst, 1u << 8, "request_vote");
}

static int qc_renew_lease(void *inst, struct cmsd_op *op,
			  const struct cmsd_vote_request *req,
			  struct cmsd_vote *out)
{
	(void)op;
	(void)req;
	(void)out;
	return qc_unimpl(inst, 1u << 9, "renew_lease");
}

static const struct cmsd_quorum_ops qc_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = qc_validate,
	.init = qc_init,
	.start = pu_unimpl_start,
	.stop = pu_unimpl_stop,
	.monitor = pu_unimpl_monitor,
	.destroy = qc_destroy,
	.request_vote = qc_request_vote,
	.renew_lease = qc_renew_lease,
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
