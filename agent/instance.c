/*
 * Live plugin instances: the host table each one gets, and the core side of
 * the op contract (one completion, deadlines, cancel, late answers).
 *
 * Every completion, whether returned at once by the plugin, reported with
 * op_done() from the loop or from another thread, or forced by the agent,
 * goes through one queue drained on the loop.  That gives the guarantees of
 * instance.h in one place: callbacks never run inside instance_call(), and
 * an op pointer is looked up in the list of known ops before it is touched,
 * so a late or double answer never reaches freed memory.
 */
#include "instance.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "conf.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"

/* Ended ops kept per instance to attribute late and double completions. */
#define INSTANCE_GRAVEYARD 32

/* Largest errno a plugin may return; anything below -4095 is garbage. */
#define INSTANCE_MAX_ERRNO 4095

enum op_state { OP_RUNNING, OP_ENDED };

/*
 * The handle a plugin holds is not a pointer to this struct but its
 * generation number (globally unique, never reused) cast to a pointer.  A
 * plugin may answer long after the op was freed, or from a thread while the
 * instance goes away; looking the number up on the loop means such an
 * answer can never reach freed or reused memory (no ABA on malloc reuse).
 */
struct op {
	struct op *next_all; /* every op alive, for lookups */
	struct op *next_grave;
	struct instance *in;
	uint64_t gen;
	enum op_kind kind;
	enum op_state state;
	bool cb_due;	  /* ended, its cb still queued */
	bool late_logged; /* one warning per op is enough */
	bool deadline_hit;
	uint64_t started_ms, timeout_ms;
	struct event *deadline;
	instance_op_cb cb;
	void *arg;
};

struct cmsd_timer {
	struct cmsd_timer *next;
	struct instance *in;
	struct event *ev;
	cmsd_timer_cb cb;
	void *arg;
};

struct cmsd_watch {
	struct cmsd_watch *next;
	struct instance *in;
	struct event *ev;
	int fd;
	cmsd_watch_cb cb;
	void *arg;
};

struct cmsd_child {
	struct cmsd_child *next;
	struct instance *in;
	struct spawn_child *sc;
	uint64_t op_gen; /* the op it was spawned under, 0: none */
	cmsd_child_cb done;
	cmsd_child_output_cb output; /* streaming child (ABI 1.3) */
	void *arg;
};

/*
 * Log rate limit.  A plugin that fails in a loop tends to alternate a few
 * lines ("probe failed", "completion ignored", ...): comparing with the
 * last line only would let all of them through, so the last few distinct
 * lines are tracked, each with its own 10 s window.
 */
#define INSTANCE_LOG_SLOTS  8
#define INSTANCE_LOG_BURST  5
#define INSTANCE_LOG_WINDOW 10000

struct instance_log_slot {
	char line[256]; /* compared on the first 255 bytes */
	uint64_t since; /* start of the window; 0: slot free */
	unsigned count; /* lines in the window, logged or not */
};

struct instance {
	const struct conf_instance *ci;
	const struct cmsd_plugin *desc;
	struct cmsd_host host;
	void *priv;
	char *state_dir;
	char *ident[5];	    /* node, cluster, tls ca, cert, key (host table) */
	const char **nodes; /* host->cluster_nodes, packed */
	struct op *op;	    /* running, or NULL */
	struct op *grave;
	size_t n_grave;
	bool freeing;
	struct cmsd_timer *timers;
	struct cmsd_watch *watches;
	struct cmsd_child *children;
	instance_event_cb ev_cb;
	void *ev_arg;
	struct instance_stats stats;
	/* log rate limit: identical lines */
	pthread_mutex_t log_lock;
	struct instance_log_slot log_slots[INSTANCE_LOG_SLOTS];
};

/* ---- the completion queue ---- */

struct op_done_entry {
	uint64_t gen;
	int rc;
	bool forced; /* the agent ended it already: deliver rc regardless */
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct op_done_entry *queue;
static size_t queue_len, queue_cap;
static struct event *queue_ev;
static struct op *all_ops;	 /* loop thread only */
static uint64_t op_next_gen = 1; /* loop thread only; 0 is no op */
static char *state_root;

static void instance_queue_drain(evutil_socket_t fd, short what, void *arg);

static struct cmsd_op *op_handle(const struct op *op)
{
	return (struct cmsd_op *)(uintptr_t)op->gen;
}

static int instance_queue_init(void)
{
	if (queue_ev)
		return 0;
	queue_ev = event_new(loop_base(), -1, 0, instance_queue_drain, NULL);
	return queue_ev ? 0 : -ENOMEM;
}

static void instance_enqueue(uint64_t gen, int rc, bool forced)
{
	pthread_mutex_lock(&queue_lock);
	if (queue_len == queue_cap) {
		size_t cap = queue_cap ? queue_cap * 2 : 16;
		struct op_done_entry *q = realloc(queue, cap * sizeof(*q));
		if (!q) {
			pthread_mutex_unlock(&queue_lock);
			log_warnx("op completion dropped: out of memory");
			return;
		}
		queue = q;
		queue_cap = cap;
	}
	queue[queue_len++] = (struct op_done_entry){gen, rc, forced};
	/* Thread-safe: the base was made with evthread locking.  Under the
	 * lock, so that a worker answering during instance_shutdown() finds
	 * either the event or NULL, never a freed one. */
	if (queue_ev)
		event_active(queue_ev, 0, 0);
	pthread_mutex_unlock(&queue_lock);
}

static struct op *instance_op_find(uint64_t gen)
{
	for (struct op *o = all_ops; o; o = o->next_all)
		if (o->gen == gen)
			return o;
	return NULL;
}

static void instance_op_forget(struct op *op)
{
	for (struct op **p = &all_ops; *p; p = &(*p)->next_all)
		if (*p == op) {
			*p = op->next_all;
			break;
		}
	if (op->deadline)
		event_free(op->deadline);
	free(op);
}

/* Moves an op that ended to the graveyard, freeing the oldest one whose
 * callback has run (one still due must stay findable). */
static void instance_bury(struct instance *in, struct op *op)
{
	if (in->op == op)
		in->op = NULL;
	if (op->deadline)
		evtimer_del(op->deadline);
	op->next_grave = in->grave;
	in->grave = op;
	if (++in->n_grave <= INSTANCE_GRAVEYARD)
		return;
	struct op **victim = NULL;
	for (struct op **p = &in->grave; *p; p = &(*p)->next_grave)
		if (!(*p)->cb_due)
			victim = p;
	if (victim) {
		struct op *v = *victim;
		*victim = v->next_grave;
		instance_op_forget(v);
		in->n_grave--;
	}
}

static void instance_record(struct instance *in, struct op *op, int rc)
{
	struct instance_stats *s = &in->stats;

	s->last_rc = rc;
	s->last_kind = op->kind;
	if (op->deadline_hit) {
		s->timeouts++;
		snprintf(s->last_error, sizeof(s->last_error),
			 "%s: timed out after %llu ms", op_kind_name(op->kind),
			 (unsigned long long)op->timeout_ms);
	} else if (rc < 0 && rc != -ECANCELED) {
		s->failures++;
		snprintf(s->last_error, sizeof(s->last_error), "%s: failed: %s",
			 op_kind_name(op->kind), strerror(-rc));
	} else if (op->kind == OP_MONITOR && rc == CMSD_FAILED) {
		snprintf(s->last_error, sizeof(s->last_error),
			 "monitor: reported FAILED");
	}
}

/* Runs the op's callback.  The callback may free the instance: nothing of
 * op or in is touched afterwards. */
static void instance_deliver(struct op *op, int rc)
{
	struct instance *in = op->in;

	op->cb_due = false;
	instance_record(in, op, rc);
	if (op->cb)
		op->cb(in, op->kind, rc, op->arg);
}

/* Maps what the plugin answered onto the contract: 0 (or a monitor's
 * health) and -errno pass, anything else is the plugin's bug. */
static int instance_check_rc(struct instance *in, struct op *op, int rc)
{
	int max = op->kind == OP_MONITOR ? CMSD_UNKNOWN : 0;

	if (rc <= max && rc >= -INSTANCE_MAX_ERRNO)
		return rc;
	in->host.log(&in->host, CMSD_LOG_ERR,
		     "%s: plugin %s returned %d, which the op contract does "
		     "not allow",
		     op_kind_name(op->kind), in->desc->name, rc);
	return -EPROTO;
}

static void instance_late(struct op *op)
{
	struct instance *in = op->in;

	in->stats.late_completions++;
	if (op->late_logged)
		return;
	op->late_logged = true;
	in->host.log(&in->host, CMSD_LOG_WARNING,
		     "%s: completion after the op ended (timed out, cancelled "
		     "or completed twice): ignored",
		     op_kind_name(op->kind));
}

static bool instance_queue_pop(struct op_done_entry *e)
{
	bool got = false;

	pthread_mutex_lock(&queue_lock);
	if (queue_len) {
		*e = queue[0];
		memmove(queue, queue + 1, --queue_len * sizeof(*queue));
		got = true;
	}
	pthread_mutex_unlock(&queue_lock);
	return got;
}

static void instance_queue_drain(evutil_socket_t fd, short what, void *arg)
{
	struct op_done_entry e;

	(void)fd;
	(void)what;
	(void)arg;
	while (instance_queue_pop(&e)) {
		struct op *op = instance_op_find(e.gen);
		if (!op) {
			log_warnx("op_done for an unknown or long-ended op "
				  "ignored");
			continue;
		}
		if (e.forced) {
			if (op->cb_due)
				instance_deliver(op, e.rc);
			continue;
		}
		if (op->state != OP_RUNNING) {
			instance_late(op);
			continue;
		}
		int rc = instance_check_rc(op->in, op, e.rc);
		op->state = OP_ENDED;
		instance_bury(op->in, op);
		instance_deliver(op, rc);
	}
}

/* Delivers now the callbacks still queued for in's ops, and drops the
 * plugin's answers for them (instance_free: the caller must not hear of
 * them after the instance is gone). */
static void instance_queue_flush(struct instance *in)
{
	for (;;) {
		struct op_done_entry e = {0};
		bool found = false;
		size_t kept = 0;

		pthread_mutex_lock(&queue_lock);
		for (size_t i = 0; i < queue_len; i++) {
			struct op *op = instance_op_find(queue[i].gen);
			if (op && op->in == in) {
				if (!found && queue[i].forced) {
					e = queue[i];
					found = true;
				}
				continue;
			}
			queue[kept++] = queue[i];
		}
		queue_len = kept;
		pthread_mutex_unlock(&queue_lock);
		if (!found)
			return;
		struct op *op = instance_op_find(e.gen);
		if (op && op->cb_due)
			instance_deliver(op, e.rc);
	}
}

/* ---- host services ---- */

static struct instance *host_instance(const struct cmsd_host *h)
{
	return (struct instance *)((char *)h - offsetof(struct instance, host));
}

/* Lines a closed window swallowed, to report once. */
static unsigned host_log_close(struct instance_log_slot *sl)
{
	unsigned n = sl->count > INSTANCE_LOG_BURST
			     ? sl->count - INSTANCE_LOG_BURST
			     : 0;

	sl->since = 0;
	sl->count = 0;
	sl->line[0] = '\0';
	return n;
}

static void host_log(const struct cmsd_host *h, enum cmsd_log_level level,
		     const char *fmt, ...)
{
	struct instance *in = host_instance(h);
	struct instance_log_slot *hit = NULL, *victim = NULL;
	char line[1024];
	va_list ap;
	unsigned suppressed = 0;
	bool drop = false;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	uint64_t now = loop_now_ms();
	pthread_mutex_lock(&in->log_lock);
	for (int i = 0; i < INSTANCE_LOG_SLOTS; i++) {
		struct instance_log_slot *sl = &in->log_slots[i];
		if (sl->since && now - sl->since >= INSTANCE_LOG_WINDOW)
			suppressed += host_log_close(sl);
		if (sl->since && !hit &&
		    strncmp(sl->line, line, sizeof(sl->line) - 1) == 0)
			hit = sl;
		/* A free slot, else the oldest window. */
		if (!victim || (victim->since &&
				(!sl->since || sl->since < victim->since)))
			victim = sl;
	}
	if (hit) {
		drop = ++hit->count > INSTANCE_LOG_BURST;
	} else {
		/* The oldest window makes room; what it swallowed is told. */
		suppressed += host_log_close(victim);
		memcpy(victim->line, line, sizeof(victim->line) - 1);
		victim->line[sizeof(victim->line) - 1] = '\0';
		victim->since = now ? now : 1;
		victim->count = 1;
	}
	pthread_mutex_unlock(&in->log_lock);
	if (suppressed)
		log_msg(LOG_NOTICE, "%s: %u similar lines suppressed",
			h->instance_id, suppressed);
	if (!drop)
		log_msg((int)level, "%s: %s", h->instance_id, line);
}

static uint64_t host_now_ms(const struct cmsd_host *h)
{
	(void)h;
	return loop_now_ms();
}

static void host_timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct cmsd_timer *t = arg;

	(void)fd;
	(void)what;
	t->cb(t->arg);
}

static struct cmsd_timer *host_timer_new(const struct cmsd_host *h,
					 cmsd_timer_cb cb, void *arg)
{
	struct instance *in = host_instance(h);
	struct cmsd_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ev = evtimer_new(loop_base(), host_timer_fire, t);
	if (!t->ev) {
		free(t);
		return NULL;
	}
	t->in = in;
	t->cb = cb;
	t->arg = arg;
	t->next = in->timers;
	in->timers = t;
	return t;
}

static void host_timer_arm(struct cmsd_timer *t, uint64_t ms)
{
	loop_timer_add(t->ev, ms);
}

static void host_timer_disarm(struct cmsd_timer *t)
{
	evtimer_del(t->ev);
}

static void host_timer_free(struct cmsd_timer *t)
{
	if (!t)
		return;
	for (struct cmsd_timer **p = &t->in->timers; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	event_free(t->ev);
	free(t);
}

static void host_watch_fire(evutil_socket_t fd, short what, void *arg)
{
	struct cmsd_watch *w = arg;
	unsigned ev = 0;

	if (what & EV_READ)
		ev |= CMSD_WATCH_READ;
	if (what & EV_WRITE)
		ev |= CMSD_WATCH_WRITE;
	w->cb((int)fd, ev, w->arg);
}

static int host_watch_set_ev(struct cmsd_watch *w, unsigned events)
{
	short what = EV_PERSIST;

	if (w->ev) {
		event_free(w->ev);
		w->ev = NULL;
	}
	if (!events)
		return 0;
	if (events & CMSD_WATCH_READ)
		what |= EV_READ;
	if (events & CMSD_WATCH_WRITE)
		what |= EV_WRITE;
	w->ev = event_new(loop_base(), w->fd, what, host_watch_fire, w);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static struct cmsd_watch *host_watch_new(const struct cmsd_host *h, int fd,
					 unsigned events, cmsd_watch_cb cb,
					 void *arg)
{
	struct instance *in = host_instance(h);
	struct cmsd_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->in = in;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	if (host_watch_set_ev(w, events) < 0) {
		if (w->ev)
			event_free(w->ev);
		free(w);
		return NULL;
	}
	w->next = in->watches;
	in->watches = w;
	return w;
}

static void host_watch_set(struct cmsd_watch *w, unsigned events)
{
	if (host_watch_set_ev(w, events) < 0)
		log_warnx("%s: fd watch on %d: out of memory",
			  w->in->host.instance_id, w->fd);
}

static void host_watch_free(struct cmsd_watch *w)
{
	if (!w)
		return;
	for (struct cmsd_watch **p = &w->in->watches; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->ev)
		event_free(w->ev);
	free(w);
}

static void host_child_unlink(struct cmsd_child *c)
{
	for (struct cmsd_child **p = &c->in->children; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void host_child_done(const struct cmsd_child_result *res, void *arg)
{
	struct cmsd_child *c = arg;

	host_child_unlink(c);
	if (c->done)
		c->done(res, c->arg);
	free(c);
}

static void host_child_output(const char *data, size_t len, void *arg)
{
	struct cmsd_child *c = arg;

	c->output(data, len, c->arg);
}

static int host_spawn(const struct cmsd_host *h, const struct cmsd_spawn *req,
		      struct cmsd_child **out)
{
	struct instance *in = host_instance(h);
	struct cmsd_spawn r;
	struct cmsd_child *c;
	int rc;

	if (out)
		*out = NULL;
	/* A plugin's struct may be shorter (an older minor) or longer (a
	 * newer one): take the fields both know, up to done at least. */
	if (!req ||
	    req->size < offsetof(struct cmsd_spawn, done) + sizeof(req->done))
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	memcpy(&r, req, req->size < sizeof(r) ? req->size : sizeof(r));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = in;
	c->done = r.done;
	c->output = r.output;
	c->arg = r.arg;
	/* Children of the running op die with it when it times out. */
	c->op_gen = in->op ? in->op->gen : 0;
	r.size = sizeof(r);
	r.done = host_child_done;
	r.output = c->output ? host_child_output : NULL;
	r.arg = c;
	rc = spawn_start(&r, &c->sc);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->next = in->children;
	in->children = c;
	if (out)
		*out = c;
	return 0;
}

static void host_child_kill(struct cmsd_child *c)
{
	spawn_kill(c->sc);
}

static pid_t host_child_pid(const struct cmsd_child *c)
{
	return spawn_pid(c->sc);
}

static struct event_base *host_event_base(const struct cmsd_host *h)
{
	(void)h;
	return loop_base();
}

static void host_op_done(struct cmsd_op *op, int rc)
{
	/* Any thread: only the number travels; the loop looks it up. */
	if (!op)
		return;
	instance_enqueue((uint64_t)(uintptr_t)op, rc, false);
}

static void host_notify(const struct cmsd_host *h, enum cmsd_event ev,
			const char *detail)
{
	struct instance *in = host_instance(h);

	if (in->ev_cb)
		in->ev_cb(in, ev, detail, in->ev_arg);
}

/* Releases what the plugin left of the host's services. */
static void instance_release_host(struct instance *in)
{
	while (in->timers)
		host_timer_free(in->timers);
	while (in->watches)
		host_watch_free(in->watches);
	while (in->children) {
		struct cmsd_child *c = in->children;
		in->children = c->next;
		/* No callback into a plugin that is gone; the child is
		 * still killed and reaped. */
		spawn_abandon(c->sc);
		free(c);
	}
}

/* ---- crash guard ---- */

const char *instance_sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGILL:
		return "SIGILL";
	case SIGFPE:
		return "SIGFPE";
	}
	return "signal";
}

static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_sig;

static void guard_handler(int sig)
{
	guard_sig = sig;
	siglongjmp(guard_jmp, 1);
}

int instance_guard_call(int (*fn)(void *), void *arg, int *crash_sig)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
	struct sigaction sa = {0}, old[4];
	int rc;

	*crash_sig = 0;
	/* A plugin that overflows its stack faults with no stack left for
	 * the handler: it runs on a stack of its own. */
	stack_t alt = {0}, old_alt;
	volatile bool have_alt = false;
	alt.ss_size = 64 * 1024;
	alt.ss_sp = malloc(alt.ss_size);
	if (alt.ss_sp && sigaltstack(&alt, &old_alt) == 0)
		have_alt = true;
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER | (have_alt ? SA_ONSTACK : 0);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	guard_sig = 0;
	if (sigsetjmp(guard_jmp, 1) == 0) {
		rc = fn(arg);
	} else {
		*crash_sig = guard_sig;
		rc = -EFAULT;
	}
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (have_alt)
		sigaltstack(&old_alt, NULL);
	free(alt.ss_sp);
	return rc;
}

struct init_call {
	struct instance *in;
};

static int instance_call_init(void *arg)
{
	struct init_call *ic = arg;
	struct instance *in = ic->in;

	return in->desc->ops.common->init(&in->host, in->ci->section,
					  &in->priv);
}

/* ---- public ---- */

/* The identity every new host table carries (copied per instance, since a
 * reload frees the config the strings came from). */
static char *identity[5];
/* host->cluster_nodes (ABI 1.3), packed by nodes_pack(). */
static const char **identity_nodes;

/* One allocation holding a NULL-terminated array of n strings and the
 * strings (NULL entries become ""), so that one free() releases it. */
const char **nodes_pack(const char *const *v, size_t n)
{
	size_t bytes = (n + 1) * sizeof(char *);
	const char **out;
	char *p;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(v[i] ? v[i] : "") + 1;
	out = malloc(bytes);
	if (!out)
		return NULL;
	p = (char *)(out + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i] ? v[i] : "") + 1;
		memcpy(p, v[i] ? v[i] : "", l);
		out[i] = p;
		p += l;
	}
	out[n] = NULL;
	return out;
}

static size_t nodes_count(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void instance_set_identity(const struct conf *c)
{
	const char *v[5] = {NULL};

	if (c && c->mode == CONF_MODE_ARBITER)
		v[0] = "arbiter";
	else if (c) {
		v[0] = c->local_node;
		v[1] = c->cluster_id;
		v[2] = c->tls_ca;
		v[3] = c->tls_cert;
		v[4] = c->tls_key;
	}
	for (int i = 0; i < 5; i++) {
		free(identity[i]);
		identity[i] = v[i] ? strdup(v[i]) : NULL;
	}
	free(identity_nodes);
	identity_nodes = NULL;
	if (c && c->mode != CONF_MODE_ARBITER) {
		const char *nv[3 * CONF_MAX_NODES];
		size_t n = 0;
		for (size_t i = 0; i < c->n_nodes; i++) {
			const struct conf_node *nd = &c->nodes[i];
			nv[n++] = nd->id;
			nv[n++] = nd->name ? nd->name : nd->id;
			nv[n++] = nd->n_links ? nd->links[0].address : "";
		}
		identity_nodes = nodes_pack(nv, n);
	}
}

static void instance_free_ident(struct instance *in)
{
	for (int i = 0; i < 5; i++)
		free(in->ident[i]);
	free(in->nodes);
}

void instance_set_state_root(const char *dir)
{
	free(state_root);
	state_root = dir ? strdup(dir) : NULL;
}

const char *op_kind_name(enum op_kind kind)
{
	static const char *const names[] = {
		[OP_START] = "start",
		[OP_STOP] = "stop",
		[OP_MONITOR] = "monitor",
		[OP_PROMOTE] = "promote",
		[OP_DEMOTE] = "demote",
		[OP_STATUS] = "status",
		[OP_FENCE_PEER] = "fence_peer",
		[OP_RESYNC] = "resync",
		[OP_REQUEST_VOTE] = "request_vote",
		[OP_RENEW_LEASE] = "renew_lease",
		[OP_RELEASE] = "release",
	};

	if ((unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind])
		return names[kind];
	return "?";
}

/* Creates <root>/<id> mode 0700.  The id comes from the configuration; it
 * must not lead out of the root. */
static int instance_mkdirs(const char *root, const char *id, char **out)
{
	char path[4096];
	struct stat st;

	if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
		return -EINVAL;
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, id) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* An old directory may carry wider modes (or be a planted link):
	 * plugins keep secrets and state there. */
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		return -errno;
	*out = strdup(path);
	return *out ? 0 : -ENOMEM;
}

int instance_new(const struct conf_instance *ci, instance_event_cb ev,
		 void *ev_arg, struct instance **out)
{
	struct instance *in;
	struct init_call ic;
	int rc, sig;

	*out = NULL;
	if (!ci->plugin)
		return -EINVAL;
	rc = instance_queue_init();
	if (rc < 0)
		return rc;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	pthread_mutex_init(&in->log_lock, NULL);
	in->ci = ci;
	in->desc = ci->plugin->desc;
	in->ev_cb = ev;
	in->ev_arg = ev_arg;
	rc = instance_mkdirs(state_root ? state_root : CONF_DEFAULT_STATE_DIR,
			     ci->id, &in->state_dir);
	if (rc < 0) {
		log_warnx("%s: cannot create its state directory under %s: %s",
			  ci->id,
			  state_root ? state_root : CONF_DEFAULT_STATE_DIR,
			  strerror(-rc));
		goto fail;
	}
	in->host = (struct cmsd_host){
		.abi_major = CMSD_ABI_MAJOR,
		.abi_minor = CMSD_ABI_MINOR,
		.size = sizeof(struct cmsd_host),
		.plugin_name = in->desc->name,
		.instance_id = ci->id,
		.log = host_log,
		.now_ms = host_now_ms,
		.timer_new = host_timer_new,
		.timer_arm = host_timer_arm,
		.timer_disarm = host_timer_disarm,
		.timer_free = host_timer_free,
		.watch_new = host_watch_new,
		.watch_set = host_watch_set,
		.watch_free = host_watch_free,
		.spawn = host_spawn,
		.child_kill = host_child_kill,
		.child_pid = host_child_pid,
		.op_done = host_op_done,
		.notify = host_notify,
		.conf = &conf_plugin_ops,
		.state_dir = in->state_dir,
		.event_base = host_event_base,
	};
	for (int i = 0; i < 5; i++)
		in->ident[i] = identity[i] ? strdup(identity[i]) : NULL;
	in->host.node_id = in->ident[0];
	in->host.cluster_id = in->ident[1];
	in->host.tls_ca = in->ident[2];
	in->host.tls_cert = in->ident[3];
	in->host.tls_key = in->ident[4];
	if (identity_nodes) {
		in->nodes =
			nodes_pack(identity_nodes, nodes_count(identity_nodes));
		in->host.cluster_nodes = in->nodes;
	}
	ic.in = in;
	rc = instance_guard_call(instance_call_init, &ic, &sig);
	if (sig) {
		log_msg(LOG_CRIT,
			"%s: plugin %s crashed in init (%s); refusing to start",
			ci->id, in->desc->name, instance_sig_name(sig));
		/* The plugin's state is unknown: do not call destroy. */
		in->priv = NULL;
		rc = -EFAULT;
		goto fail;
	}
	if (rc < 0) {
		log_warnx("%s: plugin %s: init failed: %s", ci->id,
			  in->desc->name, strerror(-rc));
		goto fail;
	}
	*out = in;
	return 0;
fail:
	/* What init made before it failed is released for it. */
	instance_release_host(in);
	instance_free_ident(in);
	free(in->state_dir);
	pthread_mutex_destroy(&in->log_lock);
	free(in);
	return rc;
}

/* Ends the running op on the agent's side: the plugin's cancel(), the
 * children spawned under it, then rc to the callback (deferred when
 * `defer`, for calls from inside instance_call). */
static void instance_end_op(struct instance *in, int rc, bool defer)
{
	struct op *op = in->op;

	if (!op)
		return;
	op->state = OP_ENDED;
	op->cb_due = true;
	if (in->desc->ops.common->cancel)
		in->desc->ops.common->cancel(in->priv, op_handle(op));
	for (struct cmsd_child *c = in->children; c; c = c->next)
		if (c->op_gen == op->gen)
			spawn_kill(c->sc);
	instance_bury(in, op);
	if (defer)
		instance_enqueue(op->gen, rc, true);
	else
		instance_deliver(op, rc);
}

static void instance_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg;
	struct instance *in = op->in;

	(void)fd;
	(void)what;
	if (in->op != op || op->state != OP_RUNNING)
		return;
	in->host.log(&in->host, CMSD_LOG_WARNING,
		     "%s: no answer within %llu ms: cancelled",
		     op_kind_name(op->kind),
		     (unsigned long long)op->timeout_ms);
	op->deadline_hit = true;
	instance_end_op(in, -ETIMEDOUT, false);
}

void instance_cancel(struct instance *in)
{
	instance_end_op(in, -ECANCELED, true);
}

/* Reports lines the rate limit swallowed and nobody reported yet. */
static void instance_log_flush(struct instance *in)
{
	unsigned suppressed = 0;

	pthread_mutex_lock(&in->log_lock);
	for (int i = 0; i < INSTANCE_LOG_SLOTS; i++)
		suppressed += host_log_close(&in->log_slots[i]);
	pthread_mutex_unlock(&in->log_lock);
	if (suppressed)
		log_msg(LOG_NOTICE, "%s: %u similar lines suppressed",
			in->host.instance_id, suppressed);
}

void instance_free(struct instance *in)
{
	/* A callback run from here may call instance_free again. */
	if (!in || in->freeing)
		return;
	in->freeing = true;
	if (in->op) {
		/* The caller is going away: deliver now, not later. */
		instance_end_op(in, -ECANCELED, false);
	}
	instance_queue_flush(in);
	in->desc->ops.common->destroy(in->priv);
	instance_release_host(in);
	/* Answers still to come for these ops find them unknown. */
	while (in->grave) {
		struct op *op = in->grave;
		in->grave = op->next_grave;
		instance_op_forget(op);
	}
	instance_log_flush(in);
	instance_free_ident(in);
	free(in->state_dir);
	pthread_mutex_destroy(&in->log_lock);
	free(in);
}

void instance_shutdown(void)
{
	pthread_mutex_lock(&queue_lock);
	if (queue_ev)
		event_free(queue_ev);
	queue_ev = NULL;
	free(queue);
	queue = NULL;
	queue_len = queue_cap = 0;
	pthread_mutex_unlock(&queue_lock);
	free(state_root);
	state_root = NULL;
	instance_set_identity(NULL);
}

/* The plugin's function for op `kind`, or NULL when its kind or its ops
 * table (an older minor, or an optional op left NULL) lacks it. */
bool instance_has_op(const struct instance *in, enum op_kind kind)
{
	const struct cmsd_plugin *d = in->desc;
	const struct cmsd_storage_ops *s = d->ops.storage;
	const struct cmsd_quorum_ops *q = d->ops.quorum;
	bool st = d->kind == CMSD_KIND_STORAGE,
	     qu = d->kind == CMSD_KIND_QUORUM;

#define HAS(t, tbl, f)                                                         \
	((tbl)->size >= offsetof(t, f) + sizeof((tbl)->f) && (tbl)->f)
	switch (kind) {
	case OP_START:
	case OP_STOP:
	case OP_MONITOR:
		/* The loader checked these. */
		return true;
	case OP_PROMOTE:
		return st && HAS(struct cmsd_storage_ops, s, promote);
	case OP_DEMOTE:
		return st && HAS(struct cmsd_storage_ops, s, demote);
	case OP_STATUS:
		return st && HAS(struct cmsd_storage_ops, s, status);
	case OP_FENCE_PEER:
		return st && HAS(struct cmsd_storage_ops, s, fence_peer);
	case OP_RESYNC:
		return st && HAS(struct cmsd_storage_ops, s, resync);
	case OP_REQUEST_VOTE:
		return qu && HAS(struct cmsd_quorum_ops, q, request_vote);
	case OP_RENEW_LEASE:
		return qu && HAS(struct cmsd_quorum_ops, q, renew_lease);
	case OP_RELEASE:
		return qu && HAS(struct cmsd_quorum_ops, q, release);
	}
#undef HAS
	return false;
}

/* Ops whose args are required (instance.h lists them). */
static bool instance_args_ok(enum op_kind kind, const void *args)
{
	switch (kind) {
	case OP_STATUS:
	case OP_FENCE_PEER:
		return args != NULL;
	case OP_REQUEST_VOTE:
	case OP_RENEW_LEASE: {
		const struct instance_vote_args *va = args;
		return va && va->req && va->out;
	}
	default:
		return true;
	}
}

static int instance_dispatch(struct instance *in, struct op *op, void *args)
{
	const struct cmsd_plugin *d = in->desc;
	const struct cmsd_common_ops *c = d->ops.common;
	const struct cmsd_storage_ops *s = d->ops.storage;
	const struct cmsd_quorum_ops *q = d->ops.quorum;
	struct instance_vote_args *va = args;
	struct cmsd_op *h = op_handle(op);

	switch (op->kind) {
	case OP_START:
		return c->start(in->priv, h);
	case OP_STOP:
		return c->stop(in->priv, h);
	case OP_MONITOR:
		return c->monitor(in->priv, h);
	case OP_PROMOTE:
		return s->promote(in->priv, h, args ? *(int *)args : 0);
	case OP_DEMOTE:
		return s->demote(in->priv, h);
	case OP_STATUS:
		return s->status(in->priv, h, args);
	case OP_FENCE_PEER:
		return s->fence_peer(in->priv, h, args);
	case OP_RESYNC:
		return s->resync(in->priv, h, args ? *(int *)args : 0);
	case OP_REQUEST_VOTE:
		return q->request_vote(in->priv, h, va->req, va->out);
	case OP_RENEW_LEASE:
		return q->renew_lease(in->priv, h, va->req, va->out);
	case OP_RELEASE:
		return q->release(in->priv, h);
	}
	return -EOPNOTSUPP;
}

int instance_call(struct instance *in, enum op_kind kind, uint64_t timeout_ms,
		  void *args, instance_op_cb cb, void *arg)
{
	struct op *op;
	int rc;

	if (!instance_has_op(in, kind))
		return -EOPNOTSUPP;
	if (!instance_args_ok(kind, args))
		return -EINVAL;
	if (in->freeing)
		return -ECANCELED;
	if (in->op) {
		/* A monitor or a storage status (background reads) gives way
		 * to any other op; two of them never run at once. */
		bool bg_now =
			in->op->kind == OP_MONITOR || in->op->kind == OP_STATUS;
		bool bg_new = kind == OP_MONITOR || kind == OP_STATUS;
		if (!bg_now || bg_new)
			return -EBUSY;
		instance_end_op(in, -ECANCELED, true);
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->in = in;
	op->gen = op_next_gen++;
	op->kind = kind;
	op->state = OP_RUNNING;
	op->cb = cb;
	op->arg = arg;
	op->timeout_ms = timeout_ms;
	op->started_ms = loop_now_ms();
	op->deadline = evtimer_new(loop_base(), instance_deadline, op);
	if (!op->deadline) {
		free(op);
		return -ENOMEM;
	}
	op->next_all = all_ops;
	all_ops = op;
	in->op = op;
	in->stats.ops++;
	if (timeout_ms)
		loop_timer_add(op->deadline, timeout_ms);
	rc = instance_dispatch(in, op, args);
	if (rc == CMSD_PENDING || in->op != op)
		return 0;
	/* Answered at once: that answer is final, whatever the deadline does
	 * before the loop runs the callback (an op_done the plugin also made
	 * counts as a second completion). */
	rc = instance_check_rc(in, op, rc);
	op->state = OP_ENDED;
	op->cb_due = true;
	instance_bury(in, op);
	instance_enqueue(op->gen, rc, true);
	return 0;
}

bool instance_busy(const struct instance *in)
{
	return in->op != NULL;
}

const char *instance_id(const struct instance *in)
{
	return in->ci->id;
}

const struct conf_instance *instance_conf(const struct instance *in)
{
	return in->ci;
}

const struct cmsd_plugin *instance_plugin(const struct instance *in)
{
	return in->desc;
}

const struct instance_stats *instance_stats(const struct instance *in)
{
	return &in->stats;
}
