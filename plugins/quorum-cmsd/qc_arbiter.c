/*
 * quorum-cmsd, arbiter side: one listener serving every cluster of the
 * configuration.  A node's TLS handshake names its cluster (SNI), which
 * selects that cluster's CA and arbiter certificate; the node's certificate
 * CN is its node id, and every VOTE_REQ must carry that node id and that
 * cluster, or the connection gets a WIRE_T_ERROR and is closed.
 *
 * Each cluster's state follows qc_logic.c.  A decision that changes what
 * the state file holds is written (temp file, fsync, rename, fsync of the
 * directory) by a worker thread before any reply of that cluster leaves:
 * replies wait in order for the write they depend on, so that no node is
 * ever told something a crash of the arbiter could make it forget.  When a
 * write fails, the waiting replies become refusals and the write is tried
 * again; the state in memory is kept (it only ever lengthens leases), and
 * nothing is granted until the disk has it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qc.h"
#include "tlsc.h"
#include "wire.h"

#define QCA_MAX_CONNS	   256
#define QCA_HANDSHAKE_MS   5000
#define QCA_IDLE_MS	   300000 /* a node probes every lease */
#define QCA_CLOSING_MS	   2000	  /* to flush an ERROR before closing */
#define QCA_SWEEP_MS	   1000
#define QCA_WRITE_RETRY_MS 1000
#define QCA_LOG_WINDOW_MS  10000
#define QCA_LOG_BURST	   5
#define QCA_STATE_FILE_MAX 4096

/* Refusals, logged with a budget per class. */
enum qca_class {
	QCA_HANDSHAKE, /* before a node is known: scans, wrong CA, ... */
	QCA_PROTOCOL,  /* an authenticated node breaking the rules */
	QCA_N_CLASSES,
};

struct qca_limit {
	const char *what;
	uint64_t since; /* window start, 0: none open */
	unsigned count; /* in the window */
	uint64_t total;
};

struct qca_cluster {
	const struct qc_cluster_conf *cf;
	SSL_CTX *ctx;
	struct qc_state st;	 /* current; may be ahead of the disk */
	uint64_t want_seq;	 /* changes made to st that need the disk */
	uint64_t durable_seq;	 /* the last of them on disk */
	struct qc_state durable; /* what the disk holds */
	bool writing;		 /* a job is with the worker */
	bool write_failed;
	uint64_t grants, denials;
};

struct qca_conn {
	struct qca_conn *next;
	struct qc_arbiter *a;
	uint64_t id;
	struct tlsc *tls;
	struct cmsd_watch *w;
	unsigned w_events;
	char peer[64]; /* ADDR:PORT, for logs */
	bool ready, closing;
	uint64_t since_ms, last_ms;
	uint64_t sends; /* frames queued, to keep write interest */
};

/* A reply waiting for its cluster's state to reach the disk. */
struct qca_pending {
	struct qca_pending *next;
	uint64_t conn_id;
	size_t cluster;
	uint64_t seq;
	uint64_t req_id;
	size_t len;
	uint8_t frame[];
};

struct qca_job {
	struct qca_job *next;
	size_t cluster;
	uint64_t seq;
	struct qc_state snap;
	int rc;
	size_t len;
	char path[PATH_MAX];
	char text[QCA_STATE_FILE_MAX];
};

struct qc_arbiter {
	const struct cmsd_host *h;
	const struct qc_conf *cf;
	struct qca_cluster *cl;
	size_t n_cl;
	bool started;
	int lfd;
	struct cmsd_watch *lw;
	struct qca_conn *conns;
	size_t n_conns;
	uint64_t next_conn_id;
	struct cmsd_timer *t_sweep, *t_retry;
	struct qca_pending *pend, **pend_tail;

	/* the writer thread */
	pthread_t th;
	bool th_up;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct qca_job *todo, **todo_tail, *done;
	bool quit, th_exited;
	int efd;
	struct cmsd_watch *ew;
	struct cmsd_op *stop_op;

	struct qca_limit lim[QCA_N_CLASSES]; /* refusals */
	char last_status[512];
};

static uint64_t qca_now(const struct qc_arbiter *a)
{
	return a->h->now_ms(a->h);
}

/* Closes a log window: says how many lines it swallowed. */
static void qca_limit_close(struct qc_arbiter *a, struct qca_limit *l)
{
	if (l->count > QCA_LOG_BURST)
		a->h->log(a->h, CMSD_LOG_WARNING,
			  "%u more %s not logged (%" PRIu64
			  " in all since start)",
			  l->count - QCA_LOG_BURST, l->what, l->total);
	l->since = 0;
	l->count = 0;
}

/*
 * A refusal: counted, and logged at most QCA_LOG_BURST times per window
 * in each class, so that a port scan (handshakes) cannot hide a node
 * speaking for another (protocol).
 */
static void qca_refuse(struct qc_arbiter *a, enum qca_class cls,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void qca_refuse(struct qc_arbiter *a, enum qca_class cls,
		       const char *fmt, ...)
{
	struct qca_limit *l = &a->lim[cls];
	uint64_t now = qca_now(a);
	char msg[300];
	va_list ap;

	l->total++;
	if (l->since && now - l->since >= QCA_LOG_WINDOW_MS)
		qca_limit_close(a, l);
	if (!l->since)
		l->since = now;
	if (++l->count > QCA_LOG_BURST)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->h->log(a->h, CMSD_LOG_WARNING, "%s", msg);
}

static struct qca_cluster *qca_cluster_by_id(struct qc_arbiter *a,
					     const char *id)
{
	for (size_t i = 0; id && i < a->n_cl; i++)
		if (strcmp(a->cl[i].cf->id, id) == 0)
			return &a->cl[i];
	return NULL;
}

/* "2 clusters; vms-prod: node1 holds, 640 ms left; vms-lab: ..." on each
 * change of a holder. */
static void qca_status(struct qc_arbiter *a)
{
	char buf[512], part[160];
	uint64_t now = qca_now(a);
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), "%zu cluster%s", a->n_cl,
			     a->n_cl == 1 ? "" : "s");
	for (size_t i = 0; i < a->n_cl && n < sizeof(buf); i++) {
		qc_state_describe(&a->cl[i].st, now, a->cf->margin_ms, part,
				  sizeof(part));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "; %s: %s",
				      a->cl[i].cf->id, part);
	}
	snprintf(a->last_status, sizeof(a->last_status), "%s", buf);
	if (a->h->notify)
		a->h->notify(a->h, CMSD_EV_STATE_CHANGED, buf);
}

/* ---- the state file ---- */

static int qca_write_file(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX];
	int fd, rc = 0;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* The rename itself must survive a crash. */
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void *qca_writer(void *arg)
{
	struct qc_arbiter *a = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->todo && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		if (!a->todo)
			break;
		struct qca_job *j = a->todo;
		a->todo = j->next;
		if (!a->todo)
			a->todo_tail = &a->todo;
		pthread_mutex_unlock(&a->mu);
		j->rc = qca_write_file(j->path, j->text, j->len);
		pthread_mutex_lock(&a->mu);
		j->next = a->done;
		a->done = j;
		if (write(a->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow with one writer. */
		}
	}
	a->th_exited = true;
	pthread_mutex_unlock(&a->mu);
	if (write(a->efd, &one, sizeof(one)) < 0) {
		/* as above */
	}
	return NULL;
}

/* Hands the cluster's current state to the writer unless a write is under
 * way (its completion comes back here). */
static void qca_persist(struct qc_arbiter *a, size_t i)
{
	struct qca_cluster *cl = &a->cl[i];
	struct qca_job *j;
	int n;

	if (cl->writing || cl->durable_seq >= cl->want_seq)
		return;
	j = calloc(1, sizeof(*j));
	if (!j) {
		a->h->log(a->h, CMSD_LOG_ERR,
			  "cluster %s: out of memory for a state write",
			  cl->cf->id);
		a->h->timer_arm(a->t_retry, QCA_WRITE_RETRY_MS);
		return;
	}
	j->cluster = i;
	j->seq = cl->want_seq;
	j->snap = cl->st;
	snprintf(j->path, sizeof(j->path), "%s", cl->cf->state_file);
	n = qc_state_format(&cl->st, cl->cf->id, j->text, sizeof(j->text));
	if (n < 0) {
		free(j); /* cannot happen: ids are short */
		return;
	}
	j->len = (size_t)n;
	cl->writing = true;
	pthread_mutex_lock(&a->mu);
	*a->todo_tail = j;
	a->todo_tail = &j->next;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static int qca_load(struct qc_arbiter *a, struct qca_cluster *cl)
{
	const char *path = cl->cf->state_file;
	char buf[QCA_STATE_FILE_MAX + 1], err[200], dir[PATH_MAX];
	ssize_t n;
	size_t len = 0;
	int fd;

	memset(&cl->st, 0, sizeof(cl->st));
	snprintf(dir, sizeof(dir), "%s", path);
	if (access(dirname(dir), W_OK) < 0) {
		int e = errno;
		snprintf(dir, sizeof(dir), "%s", path);
		a->h->log(a->h, CMSD_LOG_ERR,
			  "start: cluster %s: cannot write its state file's "
			  "directory %s: %s",
			  cl->cf->id, dirname(dir), strerror(e));
		return -e;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		a->h->log(a->h, CMSD_LOG_NOTICE,
			  "cluster %s: no state file %s yet: no last master "
			  "known",
			  cl->cf->id, path);
		goto fresh;
	}
	if (fd < 0) {
		int e = errno;
		a->h->log(a->h, CMSD_LOG_ERR,
			  "start: cluster %s: cannot read state file %s: %s",
			  cl->cf->id, path, strerror(e));
		return -e;
	}
	while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0) {
		a->h->log(a->h, CMSD_LOG_ERR,
			  "start: cluster %s: cannot read state file %s: %s",
			  cl->cf->id, path, strerror(errno));
		return -EIO;
	}
	if (len > QCA_STATE_FILE_MAX ||
	    qc_state_parse(buf, len, cl->cf->id, &cl->st, err, sizeof(err)) <
		    0) {
		if (len > QCA_STATE_FILE_MAX)
			snprintf(err, sizeof(err), "over %d bytes",
				 QCA_STATE_FILE_MAX);
		a->h->log(a->h, CMSD_LOG_ERR,
			  "start: cluster %s: state file %s is damaged (%s): "
			  "refusing to start.  It holds the last master and "
			  "its data generation; without it the arbiter could "
			  "grant a node whose data is older.  Restore it, or "
			  "remove it only when you know which node has the "
			  "newest data",
			  cl->cf->id, path, err);
		return -EBADMSG;
	}
	qc_state_restored(&cl->st, qca_now(a));
	a->h->log(a->h, CMSD_LOG_INFO,
		  "cluster %s: state from %s: epoch %" PRIu64
		  ", holder %s, last master %s (generation %" PRIu64 ")",
		  cl->cf->id, path, cl->st.epoch,
		  *cl->st.holder ? cl->st.holder : "none",
		  *cl->st.last_master ? cl->st.last_master : "none",
		  cl->st.last_generation);
fresh:
	cl->durable = cl->st;
	cl->want_seq = cl->durable_seq = 0;
	cl->writing = cl->write_failed = false;
	return 0;
}

/* ---- connections ---- */

static struct qca_conn *qca_conn_by_id(struct qc_arbiter *a, uint64_t id)
{
	for (struct qca_conn *k = a->conns; k; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static void qca_conn_free(struct qca_conn *k)
{
	struct qc_arbiter *a = k->a;

	for (struct qca_conn **p = &a->conns; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	a->n_conns--;
	if (k->w)
		a->h->watch_free(k->w);
	tlsc_free(k->tls);
	free(k);
}

static void qca_conn_watch(struct qca_conn *k, unsigned ev)
{
	if (ev != k->w_events) {
		k->a->h->watch_set(k->w, ev);
		k->w_events = ev;
	}
}

static int qca_conn_send(struct qca_conn *k, const void *frame, size_t len)
{
	int rc = tlsc_send(k->tls, frame, len);

	k->sends++;
	if (rc == 0)
		qca_conn_watch(k, (k->closing ? 0 : CMSD_WATCH_READ) |
					  CMSD_WATCH_WRITE);
	return rc;
}

/* Says why in a WIRE_T_ERROR, then closes once it is sent. */
static void qca_conn_error(struct qca_conn *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void qca_conn_error(struct qca_conn *k, const char *fmt, ...)
{
	uint8_t buf[600];
	char text[300];
	struct wire_buf b;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qca_refuse(k->a, k->ready ? QCA_PROTOCOL : QCA_HANDSHAKE,
		   "%s%s%s: %s: closed", k->peer,
		   tlsc_peer_cn(k->tls) ? " " : "",
		   tlsc_peer_cn(k->tls) ? tlsc_peer_cn(k->tls) : "", text);
	k->closing = true;
	k->since_ms = qca_now(k->a);
	wire_begin(&b, buf, sizeof(buf), WIRE_T_ERROR);
	wire_put_str(&b, F_TEXT, text);
	n = wire_end(&b);
	if (n < 0 || qca_conn_send(k, buf, (size_t)n) < 0)
		qca_conn_watch(k, CMSD_WATCH_WRITE); /* closed at the flush */
}

/* A reply frame for request `req_id`. */
static int qca_build_reply(const struct qc_reply *r, uint64_t req_id,
			   uint8_t *buf, size_t cap)
{
	struct wire_buf b;

	wire_begin(&b, buf, cap, WIRE_T_VOTE_REPLY);
	wire_put_u64(&b, F_REQ_ID, req_id);
	wire_put_u64(&b, F_GRANTED, r->granted);
	wire_put_u64(&b, F_EPOCH, r->epoch);
	wire_put_u64(&b, F_LEASE_MS, r->lease_ms);
	wire_put_str(&b, F_HOLDER, r->holder);
	wire_put_u64(&b, F_RETRY_MS, r->retry_ms);
	wire_put_str(&b, F_TEXT, r->reason);
	wire_put_str(&b, F_LAST_MASTER, r->last_master);
	wire_put_u64(&b, F_LAST_GEN, r->last_generation);
	return wire_end(&b);
}

static void qca_deliver(struct qc_arbiter *a, uint64_t conn_id,
			const void *frame, size_t len)
{
	struct qca_conn *k = qca_conn_by_id(a, conn_id);

	/* The node went away meanwhile: it will ask again. */
	if (!k || k->closing)
		return;
	if (qca_conn_send(k, frame, len) < 0)
		qca_conn_error(k, "the node does not read its replies");
}

/* Sends the waiting replies of cluster i whose state is on disk, in
 * order; with `failed`, the others become refusals. */
static void qca_flush_pending(struct qc_arbiter *a, size_t i, bool failed,
			      int err)
{
	struct qca_cluster *cl = &a->cl[i];
	struct qca_pending **pp = &a->pend;

	while (*pp) {
		struct qca_pending *p = *pp;
		if (p->cluster != i || (p->seq > cl->durable_seq && !failed)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->seq <= cl->durable_seq) {
			qca_deliver(a, p->conn_id, p->frame, p->len);
		} else {
			struct qc_reply r = {0};
			uint8_t buf[WIRE_HEADER_LEN + 1024];
			r.epoch = cl->durable.epoch;
			snprintf(r.holder, sizeof(r.holder), "%s",
				 cl->durable.holder);
			snprintf(r.last_master, sizeof(r.last_master), "%s",
				 cl->durable.last_master);
			r.last_generation = cl->durable.last_generation;
			r.retry_ms = QCA_WRITE_RETRY_MS;
			snprintf(r.reason, sizeof(r.reason),
				 "the arbiter cannot save its state (%s): "
				 "nothing is granted until it can",
				 strerror(-err));
			int n = qca_build_reply(&r, p->req_id, buf,
						sizeof(buf));
			if (n > 0)
				qca_deliver(a, p->conn_id, buf, (size_t)n);
		}
		free(p);
	}
	a->pend_tail = &a->pend;
	while (*a->pend_tail)
		a->pend_tail = &(*a->pend_tail)->next;
}

static void qca_writer_done(int fd, unsigned events, void *arg)
{
	struct qc_arbiter *a = arg;
	struct qca_job *done;
	uint64_t v;
	bool exited;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&a->mu);
	done = a->done;
	a->done = NULL;
	exited = a->th_exited;
	pthread_mutex_unlock(&a->mu);
	/* Completed in reverse order of the list: oldest first. */
	struct qca_job *rev = NULL;
	while (done) {
		struct qca_job *j = done;
		done = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		struct qca_job *j = rev;
		struct qca_cluster *cl = &a->cl[j->cluster];
		rev = j->next;
		cl->writing = false;
		if (j->rc == 0) {
			if (cl->write_failed)
				a->h->log(a->h, CMSD_LOG_NOTICE,
					  "cluster %s: state saved to %s "
					  "again",
					  cl->cf->id, j->path);
			cl->write_failed = false;
			cl->durable_seq = j->seq;
			cl->durable = j->snap;
			qca_flush_pending(a, j->cluster, false, 0);
			if (a->started)
				qca_persist(a, j->cluster);
		} else {
			a->h->log(a->h, CMSD_LOG_ERR,
				  "cluster %s: cannot save its state to %s: "
				  "%s; refusing its nodes until it can",
				  cl->cf->id, j->path, strerror(-j->rc));
			cl->write_failed = true;
			qca_flush_pending(a, j->cluster, true, j->rc);
			if (a->started)
				a->h->timer_arm(a->t_retry, QCA_WRITE_RETRY_MS);
		}
		free(j);
	}
	if (exited && a->th_up) {
		pthread_join(a->th, NULL);
		a->th_up = false;
		if (a->stop_op) {
			struct cmsd_op *op = a->stop_op;
			a->stop_op = NULL;
			a->h->op_done(op, 0);
		}
	}
}

static void qca_retry_timer(void *arg)
{
	struct qc_arbiter *a = arg;

	for (size_t i = 0; a->started && i < a->n_cl; i++)
		qca_persist(a, i);
}

/* One VOTE_REQ, checked against the connection's identity. */
static void qca_request(struct qca_conn *k, const struct wire_msg *m)
{
	struct qc_arbiter *a = k->a;
	char node[QC_ID_MAX], cluster[QC_ID_MAX], peer[QC_ID_MAX] = "";
	const char *cn = tlsc_peer_cn(k->tls), *sni = tlsc_sni(k->tls);
	struct qc_request rq = {0};
	struct qc_reply rep;
	struct qc_state next;
	uint64_t kind, req_id;
	uint8_t buf[WIRE_HEADER_LEN + 1024];
	struct qca_cluster *cl;
	int n;

	if (m->type != WIRE_T_VOTE_REQ) {
		qca_conn_error(k, "unexpected %s frame",
			       wire_type_name(m->type));
		return;
	}
	if (wire_get_str(m, F_NODE, node, sizeof(node)) < 0 ||
	    wire_get_str(m, F_CLUSTER, cluster, sizeof(cluster)) < 0 ||
	    wire_get_u64(m, F_KIND, &kind) < 0 ||
	    wire_get_u64(m, F_REQ_ID, &req_id) < 0) {
		qca_conn_error(k, "malformed VOTE_REQ: node, cluster, kind and "
				  "request id are required");
		return;
	}
	if (!sni || strcmp(cluster, sni) != 0) {
		qca_conn_error(k,
			       "VOTE_REQ for cluster \"%s\" on a connection "
			       "for cluster \"%s\"",
			       cluster, sni ? sni : "(none)");
		return;
	}
	if (!cn || strcmp(node, cn) != 0) {
		qca_conn_error(k,
			       "VOTE_REQ for node \"%s\" from the certificate "
			       "of \"%s\"",
			       node, cn ? cn : "(none)");
		return;
	}
	if (!qc_id_ok(node)) {
		qca_conn_error(k, "node id \"%s\" is not a valid id", node);
		return;
	}
	if (kind < WIRE_VOTE_REQUEST || kind > QC_VOTE_QUERY) {
		qca_conn_error(k, "unknown VOTE_REQ kind %" PRIu64, kind);
		return;
	}
	cl = qca_cluster_by_id(a, sni);
	if (!cl) { /* the handshake picked it: cannot happen */
		qca_conn_error(k, "unknown cluster \"%s\"", sni);
		return;
	}
	rq.kind = (unsigned)kind;
	rq.node = node;
	wire_get_u64(m, F_EPOCH, &rq.epoch);
	wire_get_u64(m, F_GENERATION, &rq.generation);
	wire_get_u64(m, F_FLAGS, &rq.flags);
	if (wire_get_u64(m, F_LEASE_MS, &rq.lease_ms) < 0 &&
	    (kind == WIRE_VOTE_REQUEST || kind == WIRE_VOTE_RENEW)) {
		qca_conn_error(k, "malformed VOTE_REQ: no lease length");
		return;
	}
	if (wire_get_str(m, F_PEER, peer, sizeof(peer)) < 0)
		peer[0] = '\0';

	size_t ci = (size_t)(cl - a->cl);
	char old_holder[QC_ID_MAX];
	snprintf(old_holder, sizeof(old_holder), "%s", cl->st.holder);
	/* The margin follows the lease it guards: the holder's (unknown after
	 * a restart of the arbiter: then the asker's, from the same config). */
	uint64_t guarded = cl->st.holder[0] && cl->st.lease_ms ? cl->st.lease_ms
							       : rq.lease_ms;
	uint64_t margin = a->cf->margin_auto
				  ? qc_auto_margin(guarded, a->cf->margin_ms)
				  : a->cf->margin_ms;
	bool persist = qc_decide(&cl->st, &rq, qca_now(a), margin, &next, &rep);
	cl->st = next;
	if (persist)
		cl->want_seq++;
	if (kind == WIRE_VOTE_REQUEST || kind == WIRE_VOTE_RENEW) {
		if (rep.granted)
			cl->grants++;
		else
			cl->denials++;
	}
	/* New holders and refusals on the data are worth a line; "held,
	 * ask again" answers and renewals are routine. */
	bool changed = strcmp(old_holder, next.holder) != 0;
	bool data_no =
		kind == WIRE_VOTE_REQUEST && !rep.granted && !rep.retry_ms;
	if (kind != QC_VOTE_QUERY)
		a->h->log(a->h,
			  changed   ? CMSD_LOG_NOTICE
			  : data_no ? CMSD_LOG_INFO
				    : CMSD_LOG_DEBUG,
			  "cluster %s: %s from %s%s%s: %s", cl->cf->id,
			  kind == WIRE_VOTE_REQUEST ? "request"
			  : kind == WIRE_VOTE_RENEW ? "renew"
						    : "release",
			  node, *peer ? ", peer " : "", peer, rep.reason);
	n = qca_build_reply(&rep, req_id, buf, sizeof(buf));
	if (n < 0) {
		qca_conn_error(k, "reply too large");
		return;
	}
	if (cl->durable_seq >= cl->want_seq) {
		if (qca_conn_send(k, buf, (size_t)n) < 0)
			qca_conn_error(k, "the node does not read its replies");
	} else {
		struct qca_pending *p = malloc(sizeof(*p) + (size_t)n);
		if (!p) {
			/* Unanswered; the node asks again. */
			a->h->log(a->h, CMSD_LOG_ERR,
				  "out of memory for a reply");
		} else {
			*p = (struct qca_pending){.conn_id = k->id,
						  .cluster = ci,
						  .seq = cl->want_seq,
						  .req_id = req_id,
						  .len = (size_t)n};
			memcpy(p->frame, buf, (size_t)n);
			*a->pend_tail = p;
			a->pend_tail = &p->next;
		}
		qca_persist(a, ci);
	}
	if (strcmp(old_holder, next.holder) != 0)
		qca_status(a);
}

static void qca_conn_ready(struct qca_conn *k)
{
	struct qc_arbiter *a = k->a;
	const char *cn = tlsc_peer_cn(k->tls), *sni = tlsc_sni(k->tls);

	k->ready = true;
	if (!sni || !qca_cluster_by_id(a, sni)) {
		qca_conn_error(k, "no cluster named in the handshake");
		return;
	}
	a->h->log(a->h, CMSD_LOG_INFO, "%s: %s of cluster %s connected",
		  k->peer, cn ? cn : "?", sni);
}

static void qca_conn_io(struct qca_conn *k, bool readable, bool writable)
{
	struct qc_arbiter *a = k->a;
	struct wire_msg m;
	int mask, rc;

	mask = tlsc_io(k->tls, readable, writable);
	if (mask < 0) {
		if (!k->ready)
			qca_refuse(a, QCA_HANDSHAKE,
				   "%s: handshake refused: %s", k->peer,
				   tlsc_error(k->tls));
		else if (!k->closing)
			a->h->log(a->h, CMSD_LOG_INFO, "%s: %s: %s", k->peer,
				  tlsc_peer_cn(k->tls) ? tlsc_peer_cn(k->tls)
						       : "?",
				  tlsc_error(k->tls));
		qca_conn_free(k);
		return;
	}
	if (k->closing) {
		if (!(mask & TLSC_WANT_WRITE))
			qca_conn_free(k);
		return;
	}
	if (!k->ready && tlsc_ready(k->tls)) {
		qca_conn_ready(k);
		if (k->closing)
			return;
	}
	uint64_t sends = k->sends;
	while (!k->closing && (rc = tlsc_recv(k->tls, &m)) != 0) {
		if (rc < 0) {
			qca_conn_error(k, "%s", tlsc_error(k->tls));
			return;
		}
		k->last_ms = qca_now(a);
		qca_request(k, &m);
	}
	/* A reply queued here keeps the write interest it set. */
	if (!k->closing && k->sends == sends)
		qca_conn_watch(k, CMSD_WATCH_READ | (mask & TLSC_WANT_WRITE
							     ? CMSD_WATCH_WRITE
							     : 0));
}

static void qca_conn_cb(int fd, unsigned events, void *arg)
{
	(void)fd;
	qca_conn_io(arg, events & CMSD_WATCH_READ, events & CMSD_WATCH_WRITE);
}

static void qca_peer_name(const struct sockaddr_storage *ss, char *buf,
			  size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)ss;
		inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(v4->sin_port));
	} else {
		const struct sockaddr_in6 *v6 = (const void *)ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(v6->sin6_port));
	}
}

static void qca_accept(int lfd, unsigned events, void *arg)
{
	struct qc_arbiter *a = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[64];
		int one = 1;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				qca_refuse(a, QCA_HANDSHAKE, "accept: %s",
					   strerror(errno));
			return;
		}
		qca_peer_name(&ss, peer, sizeof(peer));
		if (a->n_conns >= QCA_MAX_CONNS) {
			close(fd);
			qca_refuse(a, QCA_HANDSHAKE,
				   "%s: refused: already %d connections open",
				   peer, QCA_MAX_CONNS);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct qca_conn *k = calloc(1, sizeof(*k));
		if (k)
			k->tls = tlsc_new(a->cl[0].ctx, fd, TLSC_SERVER, NULL,
					  NULL);
		if (!k || !k->tls) {
			if (k && !k->tls)
				close(fd);
			free(k);
			a->h->log(a->h, CMSD_LOG_ERR,
				  "%s: out of memory for a connection", peer);
			continue;
		}
		k->a = a;
		k->id = ++a->next_conn_id;
		snprintf(k->peer, sizeof(k->peer), "%s", peer);
		k->since_ms = k->last_ms = qca_now(a);
		k->w = a->h->watch_new(a->h, fd, CMSD_WATCH_READ, qca_conn_cb,
				       k);
		if (!k->w) {
			tlsc_free(k->tls);
			free(k);
			continue;
		}
		k->w_events = CMSD_WATCH_READ;
		k->next = a->conns;
		a->conns = k;
		a->n_conns++;
	}
}

/* Handshakes that take too long, idle nodes, errors that will not flush;
 * and the count of refusals a closed log window swallowed. */
static void qca_sweep(void *arg)
{
	struct qc_arbiter *a = arg;
	uint64_t now = qca_now(a);
	struct qca_conn *k = a->conns, *next;

	for (int i = 0; i < QCA_N_CLASSES; i++)
		if (a->lim[i].since &&
		    now - a->lim[i].since >= QCA_LOG_WINDOW_MS)
			qca_limit_close(a, &a->lim[i]);

	for (; k; k = next) {
		next = k->next;
		if (k->closing && now - k->since_ms > QCA_CLOSING_MS) {
			qca_conn_free(k);
		} else if (!k->ready && now - k->since_ms > QCA_HANDSHAKE_MS) {
			qca_refuse(a, QCA_HANDSHAKE,
				   "%s: no TLS handshake within %d ms", k->peer,
				   QCA_HANDSHAKE_MS);
			qca_conn_free(k);
		} else if (k->ready && !k->closing &&
			   now - k->last_ms > QCA_IDLE_MS) {
			a->h->log(a->h, CMSD_LOG_INFO,
				  "%s: silent for %d s: closed", k->peer,
				  QCA_IDLE_MS / 1000);
			qca_conn_free(k);
		}
	}
	if (a->started)
		a->h->timer_arm(a->t_sweep, QCA_SWEEP_MS);
}

/* ---- SNI ---- */

static SSL_CTX *qca_pick(const char *sni, void *arg)
{
	struct qc_arbiter *a = arg;
	struct qca_cluster *cl = qca_cluster_by_id(a, sni);

	/* Counted and logged as the connection's failed handshake. */
	if (!cl)
		a->h->log(a->h, CMSD_LOG_DEBUG,
			  "handshake for cluster \"%s\": not a cluster this "
			  "arbiter serves",
			  sni ? sni : "(none)");
	return cl ? cl->ctx : NULL;
}

/* The arbiter's certificate must say CN=arbiter: nodes refuse any other. */
static int qca_check_cn(struct qc_arbiter *a, const struct qca_cluster *cl)
{
	char cn[256] = "";
	FILE *f = fopen(cl->cf->cert, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (x) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
					  NID_commonName, cn, sizeof(cn));
		X509_free(x);
	}
	if (strcmp(cn, "arbiter") == 0)
		return 0;
	a->h->log(a->h, CMSD_LOG_ERR,
		  "start: cluster %s: certificate %s has CN \"%s\": nodes "
		  "accept only an arbiter certificate with CN \"arbiter\"",
		  cl->cf->id, cl->cf->cert, cn);
	return -EINVAL;
}

/* ---- ops ---- */

static int qca_listen(struct qc_arbiter *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd, rc;

	if (qc_sockaddr(a->cf->addr, a->cf->port, &ss, &len) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	a->lfd = fd;
	return 0;
}

static void qca_close_all(struct qc_arbiter *a)
{
	while (a->conns)
		qca_conn_free(a->conns);
	while (a->pend) {
		struct qca_pending *p = a->pend;
		a->pend = p->next;
		free(p);
	}
	a->pend_tail = &a->pend;
	if (a->lw)
		a->h->watch_free(a->lw);
	a->lw = NULL;
	if (a->lfd >= 0)
		close(a->lfd);
	a->lfd = -1;
	a->h->timer_disarm(a->t_sweep);
	a->h->timer_disarm(a->t_retry);
}

/* Asks the writer to end after its queue; true when it is gone already. */
static bool qca_writer_stop(struct qc_arbiter *a)
{
	if (!a->th_up)
		return true;
	pthread_mutex_lock(&a->mu);
	a->quit = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return false;
}

static void qca_free_ctx(struct qc_arbiter *a)
{
	for (size_t i = 0; i < a->n_cl; i++) {
		tlsc_ctx_free(a->cl[i].ctx);
		a->cl[i].ctx = NULL;
	}
}

int qca_new(const struct cmsd_host *h, const struct qc_conf *cf,
	    struct qc_arbiter **out)
{
	struct qc_arbiter *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->h = h;
	a->cf = cf;
	a->lfd = -1;
	a->efd = -1;
	a->pend_tail = &a->pend;
	a->todo_tail = &a->todo;
	a->lim[QCA_HANDSHAKE].what = "refused connections";
	a->lim[QCA_PROTOCOL].what = "refused requests";
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->n_cl = cf->n_clusters;
	a->cl = calloc(a->n_cl ? a->n_cl : 1, sizeof(*a->cl));
	a->t_sweep = h->timer_new(h, qca_sweep, a);
	a->t_retry = h->timer_new(h, qca_retry_timer, a);
	if (!a->cl || !a->t_sweep || !a->t_retry) {
		qca_free(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->n_cl; i++)
		a->cl[i].cf = &cf->clusters[i];
	*out = a;
	return 0;
}

void qca_free(struct qc_arbiter *a)
{
	if (!a)
		return;
	a->started = false;
	qca_close_all(a);
	if (a->th_up) {
		/* destroy: the writer finishes its last write (short). */
		qca_writer_stop(a);
		pthread_join(a->th, NULL);
		a->th_up = false;
	}
	while (a->todo) {
		struct qca_job *j = a->todo;
		a->todo = j->next;
		free(j);
	}
	while (a->done) {
		struct qca_job *j = a->done;
		a->done = j->next;
		free(j);
	}
	if (a->ew)
		a->h->watch_free(a->ew);
	if (a->efd >= 0)
		close(a->efd);
	if (a->t_sweep)
		a->h->timer_free(a->t_sweep);
	if (a->t_retry)
		a->h->timer_free(a->t_retry);
	if (a->cl)
		qca_free_ctx(a);
	free(a->cl);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int qca_start(struct qc_arbiter *a, struct cmsd_op *op)
{
	const struct cmsd_host *h = a->h;
	char err[300];
	int rc;

	(void)op;
	if (a->started)
		return 0;
	if (a->th_up) /* a stop still finishing its writes */
		return -EBUSY;
	for (size_t i = 0; i < a->n_cl; i++) {
		struct qca_cluster *cl = &a->cl[i];
		rc = qca_load(a, cl);
		if (rc < 0)
			goto fail;
		if (!cl->ctx) {
			cl->ctx = tlsc_ctx_new(TLSC_SERVER, cl->cf->ca,
					       cl->cf->cert, cl->cf->key, err,
					       sizeof(err));
			if (!cl->ctx) {
				h->log(h, CMSD_LOG_ERR, "start: cluster %s: %s",
				       cl->cf->id, err);
				rc = -EINVAL;
				goto fail;
			}
		}
		rc = qca_check_cn(a, cl);
		if (rc < 0)
			goto fail;
	}
	tlsc_ctx_set_sni(a->cl[0].ctx, qca_pick, a);
	rc = qca_listen(a);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: cannot listen on %s:%u: %s",
		       a->cf->addr, a->cf->port, strerror(-rc));
		goto fail;
	}
	a->lw = h->watch_new(h, a->lfd, CMSD_WATCH_READ, qca_accept, a);
	if (a->efd < 0)
		a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!a->ew && a->efd >= 0)
		a->ew = h->watch_new(h, a->efd, CMSD_WATCH_READ,
				     qca_writer_done, a);
	if (!a->lw || a->efd < 0 || !a->ew) {
		rc = -ENOMEM;
		goto fail;
	}
	a->quit = a->th_exited = false;
	/* The writer takes no signal: they stay the loop's, and its fsync
	 * is never interrupted. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&a->th, NULL, qca_writer, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: cannot start the writer: %s",
		       strerror(-rc));
		goto fail;
	}
	a->th_up = true;
	a->started = true;
	h->timer_arm(a->t_sweep, QCA_SWEEP_MS);
	h->log(h, CMSD_LOG_NOTICE,
	       "listening on %s:%u for %zu cluster%s (margin %s%" PRIu64 " ms)",
	       a->cf->addr, a->cf->port, a->n_cl, a->n_cl == 1 ? "" : "s",
	       a->cf->margin_auto ? "a quarter of the lease, at most " : "",
	       a->cf->margin_ms);
	qca_status(a);
	return 0;
fail:
	qca_close_all(a);
	return rc;
}

int qca_stop(struct qc_arbiter *a, struct cmsd_op *op)
{
	a->started = false;
	qca_close_all(a);
	/* Writes already handed to the writer still reach the disk; the
	 * stop ends when it has. */
	if (qca_writer_stop(a))
		return 0;
	a->stop_op = op;
	return CMSD_PENDING;
}

int qca_monitor(struct qc_arbiter *a, struct cmsd_op *op)
{
	(void)op;
	return a->started && a->lfd >= 0 ? CMSD_RUNNING : CMSD_STOPPED;
}

void qca_cancel(struct qc_arbiter *a, struct cmsd_op *op)
{
	if (a->stop_op == op)
		a->stop_op = NULL;
}
