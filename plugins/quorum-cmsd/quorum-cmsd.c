/*
 * quorum-cmsd: the advanced arbiter, both halves.  As <quorum> on a node it
 * is the lease client (qc_client.c); as <arbiter> in an arbiter-mode cmsd
 * it is the service that grants leases to every cluster it knows
 * (qc_arbiter.c), by the rules of qc_logic.c.  This file holds the keys
 * (validate, init) and sends each op to its side.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"
#include "qc.h"
#include "wire.h"

struct qc {
	const struct cmsd_host *host;
	struct qc_conf cf;
	struct qc_client *cli;	/* node side */
	struct qc_arbiter *arb; /* arbiter side */
};

/* <renew-interval> and <lease> were keys of the node side before the agent
 * took the lease timing over: they are named with the reason, not just as
 * unknown keys. */
static const char *const qc_node_keys[] = {"arbiter",	      "arbiter-name",
					   "connect-timeout", "renew-interval",
					   "lease",	      NULL};
static const char *const qc_arbiter_keys[] = {"listen", "margin", "cluster",
					      NULL};
static const char *const qc_cluster_keys[] = {"ca", "cert", "key", "state-file",
					      NULL};

int qc_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
		socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return 0;
	}
	return -EINVAL;
}

/* ADDR:PORT of `key` into cf->addr / cf->port; the port is required.
 * Returns the number of errors reported. */
static int qc_endpoint(const struct cmsd_host *h, const struct cmsd_conf *c,
		       const char *key, struct qc_conf *cf)
{
	const char *v = NULL;

	if (pu_addr_port(h, c, key, true, 0))
		return 1;
	h->conf->get_string(c, key, NULL, &v);
	pu_split_addr_port(v, cf->addr, sizeof(cf->addr), &cf->port, 0);
	return 0;
}

static int qc_read_node(const struct cmsd_host *h, const struct cmsd_conf *c,
			struct qc_conf *cf)
{
	const struct cmsd_conf_ops *cc = h->conf;
	const char *name = NULL;
	int bad = cc->check_keys(c, qc_node_keys);

	static const char *const gone[] = {"renew-interval", "lease"};
	for (size_t i = 0; i < 2; i++)
		if (cc->count(c, gone[i]))
			bad += cc->error(c, gone[i],
					 "<%s> is no longer a quorum-cmsd key: "
					 "the agent renews the lease every "
					 "<timers heartbeat-interval> and asks "
					 "for <timers lease>; remove it",
					 gone[i]) < 0;
	bad += qc_endpoint(h, c, "arbiter", cf);
	bad += pu_word(h, c, "arbiter-name", false, sizeof(cf->name) - 1);
	if (cc->get_string(c, "arbiter-name", NULL, &name) == 0 && name &&
	    strlen(name) < sizeof(cf->name))
		snprintf(cf->name, sizeof(cf->name), "%s", name);
	else
		snprintf(cf->name, sizeof(cf->name), "%s", cf->addr);
	bad += cc->get_duration_ms(c, "connect-timeout", 1000, 100, 60000,
				   &cf->connect_timeout_ms) < 0;
	return bad;
}

static void qc_free_clusters(struct qc_conf *cf)
{
	for (size_t i = 0; i < cf->n_clusters; i++) {
		struct qc_cluster_conf *cl = &cf->clusters[i];
		free(cl->id);
		free(cl->ca);
		free(cl->cert);
		free(cl->key);
		free(cl->state_file);
	}
	free(cf->clusters);
	cf->clusters = NULL;
	cf->n_clusters = 0;
}

/* The state file of cluster i: its <state-file>, else <state dir>/ID.arbiter
 * (NULL when neither can be told). */
static char *qc_state_path(const struct cmsd_host *h, const char *id,
			   const char *explicit)
{
	char *p = NULL;

	if (explicit)
		return strdup(explicit);
	if (!id || !h->state_dir)
		return NULL;
	if (asprintf(&p, "%s/%s.arbiter", h->state_dir, id) < 0)
		return NULL;
	return p;
}

/* With keep set (init), copies each cluster into cf->clusters. */
static int qc_read_arbiter(const struct cmsd_host *h, const struct cmsd_conf *c,
			   struct qc_conf *cf, bool keep)
{
	const struct cmsd_conf_ops *cc = h->conf;
	size_t n = cc->count(c, "cluster");
	int bad = cc->check_keys(c, qc_arbiter_keys);
	char **paths = NULL;

	bad += qc_endpoint(h, c, "listen", cf);
	bad += cc->get_duration_ms(c, "margin", 250, 0, 10000, &cf->margin_ms) <
	       0;
	cf->margin_auto = cc->count(c, "margin") == 0;
	if (n == 0)
		bad += cc->require(c, "cluster") < 0;
	if (n) {
		paths = calloc(n, sizeof(*paths));
		if (!paths)
			return -ENOMEM;
	}
	if (keep && n) {
		cf->clusters = calloc(n, sizeof(*cf->clusters));
		if (!cf->clusters) {
			free(paths);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct cmsd_conf *cl = cc->child(c, "cluster", i);
		const char *id = cc->attr(cl, "id");
		const char *ca, *cert, *key, *state;
		int cbad = cc->check_keys(cl, qc_cluster_keys);

		if (!id)
			cbad += cc->error(cl, NULL, "needs id=\"CLUSTER-ID\"") <
				0;
		else if (!qc_id_ok(id))
			cbad += cc->error(cl, NULL,
					  "cluster id \"%s\" must be 1..63 of "
					  "A-Z a-z 0-9 - _ . starting with a "
					  "letter or digit",
					  id) < 0;
		for (size_t j = 0; id && j < i; j++) {
			const char *o =
				cc->attr(cc->child(c, "cluster", j), "id");
			if (o && strcmp(o, id) == 0)
				cbad += cc->error(cl, NULL,
						  "cluster id \"%s\" appears "
						  "twice",
						  id) < 0;
		}
		cbad += pu_abs_path(h, cl, "ca", true, &ca);
		cbad += pu_abs_path(h, cl, "cert", true, &cert);
		cbad += pu_abs_path(h, cl, "key", true, &key);
		cbad += pu_abs_path(h, cl, "state-file", false, &state);
		if (!cbad) {
			paths[i] = qc_state_path(h, id, state);
			if (!paths[i]) {
				bad = -ENOMEM;
				goto out;
			}
		}
		/* Two clusters sharing one state file would overwrite each
		 * other's memory of their last master. */
		for (size_t j = 0; paths[i] && j < i; j++)
			if (paths[j] && strcmp(paths[j], paths[i]) == 0)
				cbad += cc->error(
						cl, "state-file",
						"state file %s is cluster "
						"\"%s\"'s already",
						paths[i],
						cc->attr(cc->child(c, "cluster",
								   j),
							 "id")) < 0;
		bad += cbad;
		if (keep && !cbad) {
			struct qc_cluster_conf *k =
				&cf->clusters[cf->n_clusters++];
			k->id = strdup(id);
			k->ca = strdup(ca);
			k->cert = strdup(cert);
			k->key = strdup(key);
			k->state_file = strdup(paths[i]);
			if (!k->id || !k->ca || !k->cert || !k->key ||
			    !k->state_file) {
				bad = -ENOMEM;
				goto out;
			}
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return bad;
}

static int qc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		   struct qc_conf *cf, bool keep)
{
	const char *elem = h->conf->name(c);

	cf->arbiter = strcmp(elem, "arbiter") == 0;
	if (cf->arbiter)
		return qc_read_arbiter(h, c, cf, keep);
	if (strcmp(elem, "quorum") != 0)
		return h->conf->error(c, NULL,
				      "quorum-cmsd serves <quorum> (node) or "
				      "<arbiter> (arbiter mode), not <%s>",
				      elem) < 0;
	return qc_read_node(h, c, cf);
}

static int qc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct qc_conf cf = {0};
	int rc = qc_read(h, c, &cf, false);

	return rc < 0 ? rc : rc ? -EINVAL : 0;
}

static void qc_destroy(void *inst)
{
	struct qc *q = inst;

	if (!q)
		return;
	qcc_free(q->cli);
	qca_free(q->arb);
	qc_free_clusters(&q->cf);
	free(q);
}

/*
 * The TLS layer (lib/wire/tlsc.c, linked in statically) registers
 * process-wide OpenSSL state on first use: a BIO method and an SSL_CTX
 * ex_data index whose free callback is a function of this object.  OpenSSL
 * calls that callback for every SSL_CTX the process frees, the agent's own
 * included; were this object unloaded (reload, exit), the next such free
 * would jump into unmapped memory.  So the object stays loaded for the
 * life of the process once an instance exists.
 */
static void qc_pin(const struct cmsd_host *h)
{
	static bool pinned;
	Dl_info info;

	if (pinned)
		return;
	if (dladdr((void *)qc_pin, &info) && info.dli_fname &&
	    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
		pinned = true;
	else
		h->log(h, CMSD_LOG_WARNING,
		       "cannot pin the plugin in memory: unloading it later "
		       "may crash the agent");
}

static int qc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	struct qc *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	qc_pin(h);
	q->host = h;
	rc = qc_read(h, c, &q->cf, true);
	if (rc) {
		rc = rc < 0 ? rc : -EINVAL;
		goto fail;
	}
	rc = q->cf.arbiter ? qca_new(h, &q->cf, &q->arb)
			   : qcc_new(h, &q->cf, &q->cli);
	if (rc < 0)
		goto fail;
	*inst = q;
	return 0;
fail:
	qc_destroy(q);
	return rc;
}

static int qc_start(void *inst, struct cmsd_op *op)
{
	struct qc *q = inst;

	return q->arb ? qca_start(q->arb, op) : qcc_start(q->cli, op);
}

static int qc_stop(void *inst, struct cmsd_op *op)
{
	struct qc *q = inst;

	return q->arb ? qca_stop(q->arb, op) : qcc_stop(q->cli, op);
}

static int qc_monitor(void *inst, struct cmsd_op *op)
{
	struct qc *q = inst;

	return q->arb ? qca_monitor(q->arb, op) : qcc_monitor(q->cli, op);
}

static void qc_cancel(void *inst, struct cmsd_op *op)
{
	struct qc *q = inst;

	if (q->arb)
		qca_cancel(q->arb, op);
	else
		qcc_cancel(q->cli, op);
}

/* Votes are the node side's: an arbiter asks nobody. */
static int qc_vote(struct qc *q, struct cmsd_op *op, unsigned kind,
		   const struct cmsd_vote_request *req, struct cmsd_vote *out)
{
	if (!q->cli)
		return -EOPNOTSUPP;
	return qcc_vote(q->cli, op, kind, req, out);
}

static int qc_request_vote(void *inst, struct cmsd_op *op,
			   const struct cmsd_vote_request *req,
			   struct cmsd_vote *out)
{
	return qc_vote(inst, op, WIRE_VOTE_REQUEST, req, out);
}

static int qc_renew_lease(void *inst, struct cmsd_op *op,
			  const struct cmsd_vote_request *req,
			  struct cmsd_vote *out)
{
	return qc_vote(inst, op, WIRE_VOTE_RENEW, req, out);
}

static int qc_release(void *inst, struct cmsd_op *op)
{
	return qc_vote(inst, op, WIRE_VOTE_RELEASE, NULL, NULL);
}

static const struct cmsd_quorum_ops qc_ops = {
	.size = sizeof(struct cmsd_quorum_ops),
	.validate = qc_validate,
	.init = qc_init,
	.start = qc_start,
	.stop = qc_stop,
	.monitor = qc_monitor,
	.cancel = qc_cancel,
	.destroy = qc_destroy,
	.request_vote = qc_request_vote,
	.renew_lease = qc_renew_lease,
	.release = qc_release,
};

static const struct cmsd_plugin qc_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "quorum-cmsd",
	.version = "0.2.0",
	.kind = CMSD_KIND_QUORUM,
	.description = "advanced arbiter: leases from a third cmsd",
	.ops.quorum = &qc_ops,
};

CMSD_PLUGIN_DEFINE(qc_plugin)
