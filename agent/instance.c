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

/* Ended ops kept to recognise late and double completions. */
#define INSTANCE_GRAVEYARD 32

enum op_state { OP_RUNNING, OP_ENDED };

struct cmsd_op {
	struct cmsd_op *next_all; /* every op alive, for lookups */
	struct cmsd_op *next_grave;
	struct instance *in;
	uint64_t gen;
	enum op_kind kind;
	enum op_state state;
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
	void *arg;
};

struct instance {
	const struct conf_instance *ci;
	const struct cmsd_plugin *desc;
	struct cmsd_host host;
	void *priv;
	char *state_dir;
	struct cmsd_op *op; /* running, or NULL */
	struct cmsd_op *grave;
	size_t n_grave;
	uint64_t next_gen;
	struct cmsd_timer *timers;
	struct cmsd_watch *watches;
	struct cmsd_child *children;
	instance_event_cb ev_cb;
	void *ev_arg;
	struct instance_stats stats;
	/* log rate limit: identical lines */
	pthread_mutex_t log_lock;
	char last_line[256];
	uint64_t last_window_ms;
	unsigned repeats;
};

/* ---- the completion queue ---- */

struct op_done_entry {
	struct cmsd_op *op;
	int rc;
	bool forced; /* the agent ended it already: deliver rc regardless */
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct op_done_entry *queue;
static size_t queue_len, queue_cap;
static struct event *queue_ev;
static struct cmsd_op *all_ops; /* loop thread only */
static char *state_root;

static void instance_queue_drain(evutil_socket_t fd, short what, void *arg);

static int instance_queue_init(void)
{
	if (queue_ev)
		return 0;
	queue_ev = event_new(loop_base(), -1, 0, instance_queue_drain, NULL);
	return queue_ev ? 0 : -ENOMEM;
}

static void instance_enqueue(struct cmsd_op *op, int rc, bool forced)
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
	queue[queue_len++] = (struct op_done_entry){op, rc, forced};
	pthread_mutex_unlock(&queue_lock);
	/* Thread-safe: the base was made with evthread locking. */
	event_active(queue_ev, 0, 0);
}

static bool instance_op_known(const struct cmsd_op *op)
{
	for (struct cmsd_op *o = all_ops; o; o = o->next_all)
		if (o == op)
			return true;
	return false;
}

static void instance_op_forget(struct cmsd_op *op)
{
	for (struct cmsd_op **p = &all_ops; *p; p = &(*p)->next_all)
		if (*p == op) {
			*p = op->next_all;
			break;
		}
	if (op->deadline)
		event_free(op->deadline);
	free(op);
}

/* Moves an op that ended to the graveyard, freeing the oldest. */
static void instance_bury(struct instance *in, struct cmsd_op *op)
{
	if (in->op == op)
		in->op = NULL;
	if (op->deadline)
		evtimer_del(op->deadline);
	op->next_grave = in->grave;
	in->grave = op;
	if (++in->n_grave > INSTANCE_GRAVEYARD) {
		struct cmsd_op **p = &in->grave;
		while ((*p)->next_grave)
			p = &(*p)->next_grave;
		instance_op_forget(*p);
		*p = NULL;
		in->n_grave--;
	}
}

static void instance_record(struct instance *in, struct cmsd_op *op, int rc)
{
	struct instance_stats *s = &in->stats;

	s->last_rc = rc;
	s->last_kind = op->kind;
	if (rc == -ETIMEDOUT) {
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

static void instance_deliver(struct cmsd_op *op, int rc)
{
	struct instance *in = op->in;

	instance_record(in, op, rc);
	if (op->cb)
		op->cb(in, op->kind, rc, op->arg);
}

static void instance_queue_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (;;) {
		struct op_done_entry e;
		pthread_mutex_lock(&queue_lock);
		if (!queue_len) {
			pthread_mutex_unlock(&queue_lock);
			return;
		}
		e = queue[0];
		memmove(queue, queue + 1, --queue_len * sizeof(*queue));
		pthread_mutex_unlock(&queue_lock);

		if (!instance_op_known(e.op)) {
			log_warnx("op_done for an unknown or long-ended op "
				  "ignored");
			continue;
		}
		struct cmsd_op *op = e.op;
		struct instance *in = op->in;
		if (e.forced) {
			instance_deliver(op, e.rc);
			continue;
		}
		if (op->state != OP_RUNNING) {
			in->stats.late_completions++;
			in->host.log(&in->host, CMSD_LOG_WARNING,
				     "%s: completion after the op ended "
				     "(timed out, cancelled or completed "
				     "twice): ignored",
				     op_kind_name(op->kind));
			continue;
		}
		int rc = e.rc;
		int max = op->kind == OP_MONITOR ? CMSD_UNKNOWN : 0;
		if (rc > max) {
			in->host.log(&in->host, CMSD_LOG_ERR,
				     "%s: plugin %s returned %d, which the op "
				     "contract does not allow",
				     op_kind_name(op->kind), in->desc->name,
				     rc);
			rc = -EPROTO;
		}
		op->state = OP_ENDED;
		instance_bury(in, op);
		instance_deliver(op, rc);
	}
}

/* ---- host services ---- */

static struct instance *host_instance(const struct cmsd_host *h)
{
	return (struct instance *)((char *)h - offsetof(struct instance, host));
}

static void host_log(const struct cmsd_host *h, enum cmsd_log_level level,
		     const char *fmt, ...)
{
	struct instance *in = host_instance(h);
	char line[1024];
	va_list ap;
	unsigned suppressed = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	/* The same line more than 5 times in 10 s is counted, not logged. */
	uint64_t now = loop_now_ms();
	pthread_mutex_lock(&in->log_lock);
	if (strncmp(in->last_line, line, sizeof(in->last_line) - 1) == 0 &&
	    now - in->last_window_ms < 10000) {
		if (++in->repeats > 5) {
			pthread_mutex_unlock(&in->log_lock);
			return;
		}
	} else {
		if (in->repeats > 5)
			suppressed = in->repeats - 5;
		/* Lines are compared on their first 255 bytes. */
		memcpy(in->last_line, line, sizeof(in->last_line) - 1);
		in->last_line[sizeof(in->last_line) - 1] = '\0';
		in->last_window_ms = now;
		in->repeats = 1;
	}
	pthread_mutex_unlock(&in->log_lock);
	if (suppressed)
		log_msg(LOG_NOTICE, "%s: %u similar lines suppressed",
			h->instance_id, suppressed);
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
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(t->ev, &tv);
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

static int host_spawn(const struct cmsd_host *h, const struct cmsd_spawn *req,
		      struct cmsd_child **out)
{
	struct instance *in = host_instance(h);
	struct cmsd_spawn r;
	struct cmsd_child *c;
	int rc;

	if (out)
		*out = NULL;
	if (!req || req->size < offsetof(struct cmsd_spawn, arg))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = in;
	c->done = req->done;
	c->arg = req->arg;
	c->op_gen = in->op ? in->op->gen : 0;
	r = *req;
	r.done = host_child_done;
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

static void host_op_done(struct cmsd_op *op, int rc)
{
	if (!op)
		return;
	instance_enqueue(op, rc, false);
}

static void host_notify(const struct cmsd_host *h, enum cmsd_event ev,
			const char *detail)
{
	struct instance *in = host_instance(h);

	if (in->ev_cb)
		in->ev_cb(in, ev, detail, in->ev_arg);
}

/* ---- crash guard ---- */

static const char *instance_sig_name(int sig)
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
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
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

static int instance_mkdirs(const char *root, const char *id, char **out)
{
	char path[4096];

	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", root, id);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
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
	in->next_gen = 1;
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
	};
	ic.in = in;
	rc = instance_guard_call(instance_call_init, &ic, &sig);
	if (sig) {
		log_msg(LOG_CRIT,
			"%s: plugin %s crashed in init (%s); refusing to start",
			ci->id, in->desc->name, instance_sig_name(sig));
		/* The plugin's state is unknown: do not call destroy. */
		in->priv = NULL;
		free(in->state_dir);
		pthread_mutex_destroy(&in->log_lock);
		free(in);
		return -EFAULT;
	}
	if (rc < 0) {
		log_warnx("%s: plugin %s: init failed: %s", ci->id,
			  in->desc->name, strerror(-rc));
		goto fail;
	}
	*out = in;
	return 0;
fail:
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
	struct cmsd_op *op = in->op;

	if (!op)
		return;
	op->state = OP_ENDED;
	if (in->desc->ops.common->cancel)
		in->desc->ops.common->cancel(in->priv, op);
	for (struct cmsd_child *c = in->children; c; c = c->next)
		if (c->op_gen == op->gen)
			spawn_kill(c->sc);
	instance_bury(in, op);
	if (defer)
		instance_enqueue(op, rc, true);
	else
		instance_deliver(op, rc);
}

static void instance_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct cmsd_op *op = arg;
	struct instance *in = op->in;

	(void)fd;
	(void)what;
	if (in->op != op || op->state != OP_RUNNING)
		return;
	in->host.log(&in->host, CMSD_LOG_WARNING,
		     "%s: no answer within %llu ms: cancelled",
		     op_kind_name(op->kind),
		     (unsigned long long)op->timeout_ms);
	instance_end_op(in, -ETIMEDOUT, false);
}

void instance_cancel(struct instance *in)
{
	instance_end_op(in, -ECANCELED, true);
}

void instance_free(struct instance *in)
{
	if (!in)
		return;
	if (in->op) {
		/* The caller is going away: deliver now, not later. */
		instance_end_op(in, -ECANCELED, false);
	}
	in->desc->ops.common->destroy(in->priv);
	while (in->timers)
		host_timer_free(in->timers);
	while (in->watches)
		host_watch_free(in->watches);
	while (in->children) {
		struct cmsd_child *c = in->children;
		in->children = c->next;
		spawn_abandon(c->sc);
		free(c);
	}
	/* Queued completions for these ops find them unknown. */
	while (in->grave) {
		struct cmsd_op *op = in->grave;
		in->grave = op->next_grave;
		instance_op_forget(op);
	}
	free(in->state_dir);
	pthread_mutex_destroy(&in->log_lock);
	free(in);
}

static int instance_dispatch(struct instance *in, struct cmsd_op *op,
			     void *args)
{
	const struct cmsd_plugin *d = in->desc;
	const struct cmsd_common_ops *c = d->ops.common;
	const struct cmsd_storage_ops *s = d->ops.storage;
	const struct cmsd_quorum_ops *q = d->ops.quorum;
	bool st = d->kind == CMSD_KIND_STORAGE,
	     qu = d->kind == CMSD_KIND_QUORUM;
	struct instance_vote_args *va = args;

	switch (op->kind) {
	case OP_START:
		return c->start(in->priv, op);
	case OP_STOP:
		return c->stop(in->priv, op);
	case OP_MONITOR:
		return c->monitor(in->priv, op);
	case OP_PROMOTE:
		return st ? s->promote(in->priv, op, args ? *(int *)args : 0)
			  : -EOPNOTSUPP;
	case OP_DEMOTE:
		return st ? s->demote(in->priv, op) : -EOPNOTSUPP;
	case OP_STATUS:
		return st ? s->status(in->priv, op, args) : -EOPNOTSUPP;
	case OP_FENCE_PEER:
		if (!st ||
		    s->size <= offsetof(struct cmsd_storage_ops, fence_peer) ||
		    !s->fence_peer)
			return -EOPNOTSUPP;
		return s->fence_peer(in->priv, op, args);
	case OP_RESYNC:
		if (!st ||
		    s->size <= offsetof(struct cmsd_storage_ops, resync) ||
		    !s->resync)
			return -EOPNOTSUPP;
		return s->resync(in->priv, op, args ? *(int *)args : 0);
	case OP_REQUEST_VOTE:
		return qu && va
			       ? q->request_vote(in->priv, op, va->req, va->out)
			       : -EOPNOTSUPP;
	case OP_RENEW_LEASE:
		return qu && va ? q->renew_lease(in->priv, op, va->req, va->out)
				: -EOPNOTSUPP;
	case OP_RELEASE:
		if (!qu ||
		    q->size <= offsetof(struct cmsd_quorum_ops, release) ||
		    !q->release)
			return -EOPNOTSUPP;
		return q->release(in->priv, op);
	}
	return -EOPNOTSUPP;
}

static bool instance_supports(const struct instance *in, enum op_kind kind)
{
	enum cmsd_plugin_kind k = in->desc->kind;

	switch (kind) {
	case OP_START:
	case OP_STOP:
	case OP_MONITOR:
		return true;
	case OP_PROMOTE:
	case OP_DEMOTE:
	case OP_STATUS:
	case OP_FENCE_PEER:
	case OP_RESYNC:
		return k == CMSD_KIND_STORAGE;
	case OP_REQUEST_VOTE:
	case OP_RENEW_LEASE:
	case OP_RELEASE:
		return k == CMSD_KIND_QUORUM;
	}
	return false;
}

int instance_call(struct instance *in, enum op_kind kind, uint64_t timeout_ms,
		  void *args, instance_op_cb cb, void *arg)
{
	struct cmsd_op *op;
	int rc;

	if (!instance_supports(in, kind))
		return -EOPNOTSUPP;
	if (in->op) {
		if (in->op->kind != OP_MONITOR || kind == OP_MONITOR)
			return -EBUSY;
		instance_end_op(in, -ECANCELED, true);
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->in = in;
	op->gen = in->next_gen++;
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
	if (timeout_ms) {
		struct timeval tv = {
			.tv_sec = (time_t)(timeout_ms / 1000),
			.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
		evtimer_add(op->deadline, &tv);
	}
	rc = instance_dispatch(in, op, args);
	if (rc != CMSD_PENDING)
		instance_enqueue(op, rc, false);
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
