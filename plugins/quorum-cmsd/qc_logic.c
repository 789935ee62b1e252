/*
 * quorum-cmsd: grant rules and the state file format (see qc_logic.h).
 */
#include "qc_logic.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

#define QC_STATE_VERSION 1

uint64_t qc_auto_margin(uint64_t lease_ms, uint64_t most)
{
	uint64_t m = qc_clamp_lease(lease_ms) / 4;

	return m < most ? m : most;
}

uint64_t qc_clamp_lease(uint64_t asked)
{
	if (asked < QC_LEASE_MIN_MS)
		return QC_LEASE_MIN_MS;
	if (asked > QC_LEASE_MAX_MS)
		return QC_LEASE_MAX_MS;
	return asked;
}

bool qc_id_ok(const char *id)
{
	size_t n;

	if (!id)
		return false;
	n = strlen(id);
	if (n == 0 || n >= QC_ID_MAX || !isalnum((unsigned char)id[0]))
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return true;
}

static void qc_copy(char *dst, const char *src)
{
	snprintf(dst, QC_ID_MAX, "%s", src ? src : "");
}

static void qc_reason(struct qc_reply *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void qc_reason(struct qc_reply *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
}

/* Does the state differ in what the state file holds? */
static bool qc_durable_differs(const struct qc_state *a,
			       const struct qc_state *b)
{
	return strcmp(a->holder, b->holder) != 0 ||
	       a->lease_ms != b->lease_ms || a->epoch != b->epoch ||
	       strcmp(a->last_master, b->last_master) != 0 ||
	       a->last_generation != b->last_generation;
}

/* The holder X keeps the lease: extend it from now.  X is the last master
 * too, so its generation is the newest the arbiter knows. */
static void qc_extend(struct qc_state *n, const struct qc_request *rq,
		      uint64_t now, uint64_t lease)
{
	n->lease_until = now + lease;
	n->lease_ms = lease;
	if (rq->epoch > n->epoch)
		n->epoch = rq->epoch;
	n->last_generation = rq->generation;
}

static void qc_decide_request(const struct qc_state *st,
			      const struct qc_request *rq, uint64_t now,
			      uint64_t margin, struct qc_state *n,
			      struct qc_reply *rep)
{
	uint64_t lease = qc_clamp_lease(rq->lease_ms);

	if (strcmp(st->holder, rq->node) == 0) {
		qc_extend(n, rq, now, lease);
		rep->granted = true;
		rep->lease_ms = lease;
		qc_reason(rep,
			  "granted: %s holds the lease already (epoch "
			  "%" PRIu64 ")",
			  rq->node, n->epoch);
		return;
	}
	if (st->holder[0] && now < st->lease_until + margin) {
		uint64_t left =
			st->lease_until > now ? st->lease_until - now : 0;
		rep->retry_ms = st->lease_until + margin - now;
		qc_reason(rep,
			  "held by %s: lease ends in %" PRIu64 " ms, then "
			  "%" PRIu64 " ms margin",
			  st->holder, left, margin);
		return;
	}
	if (!(rq->flags & WIRE_FL_DATA_USABLE)) {
		qc_reason(rep, "data not usable");
		return;
	}
	if (st->last_master[0] && strcmp(st->last_master, rq->node) != 0 &&
	    rq->generation < st->last_generation) {
		qc_reason(rep,
			  "data older than last master %s's: %" PRIu64
			  " < %" PRIu64,
			  st->last_master, rq->generation, st->last_generation);
		return;
	}
	qc_copy(n->holder, rq->node);
	n->epoch = (st->epoch > rq->epoch ? st->epoch : rq->epoch) + 1;
	n->lease_until = now + lease;
	n->lease_ms = lease;
	qc_copy(n->last_master, rq->node);
	n->last_generation = rq->generation;
	rep->granted = true;
	rep->lease_ms = lease;
	if (st->holder[0])
		qc_reason(rep,
			  "granted: new holder %s (epoch %" PRIu64 "); %s's "
			  "lease ran out",
			  rq->node, n->epoch, st->holder);
	else
		qc_reason(rep, "granted: new holder %s (epoch %" PRIu64 ")",
			  rq->node, n->epoch);
}

static void qc_decide_renew(const struct qc_state *st,
			    const struct qc_request *rq, uint64_t now,
			    struct qc_state *n, struct qc_reply *rep)
{
	uint64_t lease = qc_clamp_lease(rq->lease_ms);

	/* Even after its lease ran out, the holder may go on as long as
	 * nobody else was granted: the arbiter's memory says it is the
	 * master, and nobody else has been told otherwise. */
	if (strcmp(st->holder, rq->node) == 0) {
		qc_extend(n, rq, now, lease);
		rep->granted = true;
		rep->lease_ms = lease;
		qc_reason(rep, "renewed");
		return;
	}
	if (st->holder[0])
		qc_reason(rep, "no lease to renew: held by %s", st->holder);
	else
		qc_reason(rep, "no lease to renew: nobody holds it");
}

static void qc_decide_release(const struct qc_state *st,
			      const struct qc_request *rq, struct qc_state *n,
			      struct qc_reply *rep)
{
	if (strcmp(st->holder, rq->node) == 0) {
		/* The last master and its generation stay: they are what a
		 * later request is compared with. */
		n->holder[0] = '\0';
		n->lease_until = 0;
		qc_reason(rep, "released");
		return;
	}
	if (st->holder[0])
		qc_reason(rep, "nothing to release: held by %s", st->holder);
	else
		qc_reason(rep, "nothing to release: nobody holds it");
}

static void qc_decide_query(const struct qc_state *st,
			    const struct qc_request *rq, uint64_t now,
			    struct qc_reply *rep)
{
	if (!st->holder[0]) {
		qc_reason(rep, "nobody holds the lease");
		return;
	}
	if (now < st->lease_until) {
		rep->granted = strcmp(st->holder, rq->node) == 0;
		qc_reason(rep, "held by %s, %" PRIu64 " ms left", st->holder,
			  st->lease_until - now);
	} else {
		qc_reason(rep, "held by %s, lease ran out %" PRIu64 " ms ago",
			  st->holder, now - st->lease_until);
	}
}

bool qc_decide(const struct qc_state *st, const struct qc_request *rq,
	       uint64_t now, uint64_t margin, struct qc_state *next,
	       struct qc_reply *rep)
{
	struct qc_state n = *st;

	memset(rep, 0, sizeof(*rep));
	switch (rq->kind) {
	case WIRE_VOTE_REQUEST:
		qc_decide_request(st, rq, now, margin, &n, rep);
		break;
	case WIRE_VOTE_RENEW:
		qc_decide_renew(st, rq, now, &n, rep);
		break;
	case WIRE_VOTE_RELEASE:
		qc_decide_release(st, rq, &n, rep);
		break;
	case QC_VOTE_QUERY:
		qc_decide_query(st, rq, now, rep);
		break;
	default:
		qc_reason(rep, "unknown request kind %u", rq->kind);
		break;
	}
	rep->epoch = n.epoch;
	qc_copy(rep->holder, n.holder);
	qc_copy(rep->last_master, n.last_master);
	rep->last_generation = n.last_generation;
	bool persist = qc_durable_differs(st, &n);
	*next = n;
	return persist;
}

void qc_state_restored(struct qc_state *st, uint64_t now)
{
	st->lease_until =
		st->holder[0] ? now + qc_clamp_lease(st->lease_ms) : 0;
}

/* ---- the state file ---- */

static uint64_t qc_fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static const char *qc_dash(const char *s)
{
	return *s ? s : "-";
}

int qc_state_format(const struct qc_state *st, const char *cluster, char *buf,
		    size_t cap)
{
	int n = snprintf(buf, cap,
			 "# cmsd arbiter state (quorum-cmsd): replaced "
			 "atomically; do not edit\n"
			 "version %d\n"
			 "cluster %s\n"
			 "holder %s\n"
			 "lease-ms %" PRIu64 "\n"
			 "epoch %" PRIu64 "\n"
			 "last-master %s\n"
			 "last-generation %" PRIu64 "\n",
			 QC_STATE_VERSION, cluster, qc_dash(st->holder),
			 st->lease_ms, st->epoch, qc_dash(st->last_master),
			 st->last_generation);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	int m = snprintf(buf + n, cap - (size_t)n, "checksum %016" PRIx64 "\n",
			 qc_fnv1a(buf, (size_t)n));
	if (m < 0 || (size_t)(n + m) >= cap)
		return -ENOSPC;
	return n + m;
}

static int qc_bad(char *err, size_t errlen, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int qc_bad(char *err, size_t errlen, int line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (line > 0)
		n = snprintf(err, errlen, "line %d: ", line);
	if (n < 0 || (size_t)n >= errlen)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static bool qc_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 20)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool qc_parse_id(const char *s, char *out)
{
	if (strcmp(s, "-") == 0) {
		out[0] = '\0';
		return true;
	}
	if (!qc_id_ok(s))
		return false;
	qc_copy(out, s);
	return true;
}

/* The keys in the order qc_state_format writes them. */
enum {
	K_VERSION,
	K_CLUSTER,
	K_HOLDER,
	K_LEASE,
	K_EPOCH,
	K_LAST,
	K_GEN,
	K_SUM,
	K_N
};
static const char *const qc_keys[K_N] = {
	"version", "cluster",	  "holder",	     "lease-ms",
	"epoch",   "last-master", "last-generation", "checksum",
};

int qc_state_parse(const char *text, size_t len, const char *cluster,
		   struct qc_state *out, char *err, size_t errlen)
{
	struct qc_state st = {0};
	const char *p = text, *end = text + len;
	int line = 0, next = 0;

	if (len == 0)
		return qc_bad(err, errlen, 0, "the file is empty");
	if (memchr(text, '\0', len))
		return qc_bad(err, errlen, 0, "the file holds a NUL byte");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char buf[160], *val;
		size_t n;

		line++;
		if (!nl)
			return qc_bad(err, errlen, line,
				      "no newline at the end: truncated");
		n = (size_t)(nl - p);
		if (n >= sizeof(buf))
			return qc_bad(err, errlen, line, "line too long");
		memcpy(buf, p, n);
		buf[n] = '\0';
		const char *start = p;
		p = nl + 1;
		if (buf[0] == '#' && next == 0)
			continue;
		if (next == K_N)
			return qc_bad(err, errlen, line,
				      "text after the checksum");
		val = strchr(buf, ' ');
		if (!val)
			return qc_bad(err, errlen, line, "not \"key value\"");
		*val++ = '\0';
		if (strcmp(buf, qc_keys[next]) != 0)
			return qc_bad(err, errlen, line,
				      "expected \"%s\", found \"%s\"",
				      qc_keys[next], buf);
		bool ok = true;
		uint64_t v = 0;
		switch (next) {
		case K_VERSION:
			ok = qc_parse_u64(val, &v);
			if (ok && v != QC_STATE_VERSION)
				return qc_bad(err, errlen, line,
					      "version %s is not %d", val,
					      QC_STATE_VERSION);
			break;
		case K_CLUSTER:
			if (strcmp(val, cluster) != 0)
				return qc_bad(err, errlen, line,
					      "the file is cluster \"%s\"'s, "
					      "not \"%s\"'s",
					      val, cluster);
			break;
		case K_HOLDER:
			ok = qc_parse_id(val, st.holder);
			break;
		case K_LEASE:
			ok = qc_parse_u64(val, &st.lease_ms);
			break;
		case K_EPOCH:
			ok = qc_parse_u64(val, &st.epoch);
			break;
		case K_LAST:
			ok = qc_parse_id(val, st.last_master);
			break;
		case K_GEN:
			ok = qc_parse_u64(val, &st.last_generation);
			break;
		case K_SUM: {
			char want[17];
			snprintf(want, sizeof(want), "%016" PRIx64,
				 qc_fnv1a(text, (size_t)(start - text)));
			if (strcmp(val, want) != 0)
				return qc_bad(err, errlen, line,
					      "checksum mismatch: the file was "
					      "damaged or edited");
			break;
		}
		}
		if (!ok)
			return qc_bad(err, errlen, line, "bad %s \"%s\"",
				      qc_keys[next], val);
		next++;
	}
	if (next != K_N)
		return qc_bad(err, errlen, 0,
			      "truncated after line %d: \"%s\" missing", line,
			      qc_keys[next]);
	if (st.holder[0] && strcmp(st.holder, st.last_master) != 0)
		return qc_bad(err, errlen, 0,
			      "holder %s is not the last master %s", st.holder,
			      qc_dash(st.last_master));
	*out = st;
	return 0;
}

void qc_state_describe(const struct qc_state *st, uint64_t now, uint64_t margin,
		       char *buf, size_t cap)
{
	if (st->holder[0] && now < st->lease_until)
		snprintf(buf, cap, "%s holds, %" PRIu64 " ms left", st->holder,
			 st->lease_until - now);
	else if (st->holder[0] && now < st->lease_until + margin)
		snprintf(buf, cap, "%s holds, lease ran out (margin)",
			 st->holder);
	else if (st->holder[0])
		snprintf(buf, cap, "%s held, lease ran out", st->holder);
	else if (st->last_master[0])
		snprintf(buf, cap,
			 "nobody holds (last master %s, generation %" PRIu64
			 ")",
			 st->last_master, st->last_generation);
	else
		snprintf(buf, cap, "nobody holds (no master yet)");
}
