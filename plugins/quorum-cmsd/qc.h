/*
 * quorum-cmsd internals shared by its files:
 *   quorum-cmsd.c  the descriptor, the keys (validate, init), dispatch
 *   qc_client.c    the node side: one TLS connection to the arbiter, votes
 *   qc_arbiter.c   the arbiter side: listener, per-cluster state, replies
 *   qc_logic.c     the grant rules and the state file (pure)
 */
#ifndef QC_H
#define QC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmsd/plugin.h>

#include "qc_logic.h"

#define QC_DEFAULT_LEASE_MS 1000 /* when an ABI 1.0 agent sends none */

struct qc_cluster_conf {
	char *id;
	char *ca, *cert, *key;
	char *state_file; /* resolved: <state dir>/<id>.arbiter by default */
};

/* The parsed keys of one <quorum> or <arbiter> element. */
struct qc_conf {
	bool arbiter;  /* element <arbiter>: the serving side */
	char addr[64]; /* node: the arbiter; arbiter: where to listen */
	uint16_t port;
	/* node side */
	char name[64]; /* <arbiter-name>, default the address */
	uint64_t connect_timeout_ms;
	/* arbiter side */
	uint64_t margin_ms; /* <margin>, or the most the automatic one is */
	bool margin_auto;   /* no <margin>: a quarter of the lease */
	struct qc_cluster_conf *clusters;
	size_t n_clusters;
};

/* addr:port into a socket address.  0 or -EINVAL. */
int qc_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
		socklen_t *len);

struct qc_client;
int qcc_new(const struct cmsd_host *h, const struct qc_conf *cf,
	    struct qc_client **out);
void qcc_free(struct qc_client *c);
int qcc_start(struct qc_client *c, struct cmsd_op *op);
int qcc_stop(struct qc_client *c, struct cmsd_op *op);
int qcc_monitor(struct qc_client *c, struct cmsd_op *op);
/* kind: WIRE_VOTE_REQUEST, _RENEW or _RELEASE (req and out NULL). */
int qcc_vote(struct qc_client *c, struct cmsd_op *op, unsigned kind,
	     const struct cmsd_vote_request *req, struct cmsd_vote *out);
void qcc_cancel(struct qc_client *c, struct cmsd_op *op);

struct qc_arbiter;
int qca_new(const struct cmsd_host *h, const struct qc_conf *cf,
	    struct qc_arbiter **out);
void qca_free(struct qc_arbiter *a);
int qca_start(struct qc_arbiter *a, struct cmsd_op *op);
int qca_stop(struct qc_arbiter *a, struct cmsd_op *op);
int qca_monitor(struct qc_arbiter *a, struct cmsd_op *op);
void qca_cancel(struct qc_arbiter *a, struct cmsd_op *op);

#endif
