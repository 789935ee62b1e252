/*
 * quorum-cmsd: the arbiter's grant rules and its on-disk memory, as pure
 * functions (no I/O, no clock, no allocation) so that every branch is
 * unit-tested directly (tests/unit/test_qc_logic.c).
 *
 * Per cluster the arbiter keeps one struct qc_state.  A VOTE_REQ from node
 * X, received at arbiter time `now`, goes through qc_decide(), which gives
 * the reply, the next state and whether that state must reach the disk
 * before the reply leaves (the arbiter never answers on a state that a
 * crash could forget).
 *
 * Lease time runs on the arbiter from when it received the request; the
 * node measures from when it sent it, so the node's view always ends first.
 * The arbiter grants another node only `margin` ms after the holder's lease
 * ended on its own clock, which covers clock rate differences and the
 * holder's step-down.
 */
#ifndef QC_LOGIC_H
#define QC_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QC_ID_MAX	64 /* node and cluster ids: 1..63 bytes + NUL */
#define QC_REASON_MAX	128
#define QC_LEASE_MIN_MS 100
#define QC_LEASE_MAX_MS 60000

/*
 * A read-only question: who holds the lease?  The node side asks it when
 * idle, so that an arbiter that went away is noticed within two leases even
 * on a slave that never asks for a vote.  It is not in wire.h's enum
 * wire_vote_kind (proposed there as WIRE_VOTE_QUERY = 4).  Neither
 * REQUEST nor RENEW can serve as a probe: from the holder both extend its
 * lease, which must end when the agent stops renewing.
 */
#define QC_VOTE_QUERY WIRE_VOTE_QUERY

struct qc_state {
	char holder[QC_ID_MAX]; /* "" when nobody holds the lease */
	uint64_t lease_until;	/* arbiter ms, with a holder; not on disk */
	uint64_t lease_ms;	/* the holder's last granted length */
	uint64_t epoch;
	char last_master[QC_ID_MAX]; /* last node granted; "" none yet */
	uint64_t last_generation;    /* its data generation */
};

struct qc_request {
	unsigned kind;	     /* WIRE_VOTE_* or QC_VOTE_QUERY */
	const char *node;    /* sender (already checked against its cert) */
	uint64_t epoch;	     /* sender's epoch */
	uint64_t generation; /* sender's data generation */
	uint64_t flags;	     /* WIRE_FL_DATA_USABLE, WIRE_FL_PEER_ALIVE */
	uint64_t lease_ms;   /* asked for; clamped to 100 ms .. 60 s */
};

struct qc_reply {
	bool granted;
	uint64_t epoch;	   /* the cluster's epoch after the decision */
	uint64_t lease_ms; /* granted length (0 when not granted) */
	uint64_t retry_ms; /* ask again after this long; 0: no point */
	char holder[QC_ID_MAX];
	char last_master[QC_ID_MAX];
	uint64_t last_generation;
	char reason[QC_REASON_MAX];
};

/*
 * The rules (see quorum-cmsd(5)).  Fills *rep and *next (which may alias
 * *st) and returns true when *next must be persisted before *rep is sent.
 * An unknown kind is denied without a state change.
 */
bool qc_decide(const struct qc_state *st, const struct qc_request *rq,
	       uint64_t now, uint64_t margin, struct qc_state *next,
	       struct qc_reply *rep);

/* The lease length the arbiter grants for `asked` ms. */
uint64_t qc_clamp_lease(uint64_t asked);
/* The margin after a lease of lease_ms when none is configured: a quarter
 * of the lease, at most `most`. */
uint64_t qc_auto_margin(uint64_t lease_ms, uint64_t most);

/*
 * After a restart the arbiter does not know when the holder's lease ends
 * (its clock was not running): it counts a full lease from `now`, so that
 * nobody else is granted before the old holder's own view has ended.
 */
void qc_state_restored(struct qc_state *st, uint64_t now);

/* Node and cluster ids: 1..63 of A-Z a-z 0-9 - _ . starting with a letter
 * or digit (they name state files, and "-" means "none" in them). */
bool qc_id_ok(const char *id);

/*
 * The state file: a small text, one "key value" per line, ending with a
 * checksum line (FNV-1a 64 of everything before it), so that a truncated
 * or damaged file is recognised and never read as a smaller truth.
 * qc_state_format returns the length written (NUL added) or -ENOSPC.
 * qc_state_parse returns 0, or -EBADMSG with the reason (and line) in err.
 */
int qc_state_format(const struct qc_state *st, const char *cluster, char *buf,
		    size_t cap);
int qc_state_parse(const char *text, size_t len, const char *cluster,
		   struct qc_state *out, char *err, size_t errlen);

/* "1 clusters" style summary pieces: "node1 holds, 640 ms left", "nobody
 * holds (last master node2, generation 7)". */
void qc_state_describe(const struct qc_state *st, uint64_t now, uint64_t margin,
		       char *buf, size_t cap);

#endif
