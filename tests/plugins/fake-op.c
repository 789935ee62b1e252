/*
 * fake-op: a resource plugin whose behaviour the test picks with <mode>:
 *   sync-ok        start returns 0
 *   fail           start returns -EIO
 *   timer          start completes after <delay> through a host timer
 *   thread         start completes after <delay> from a worker thread
 *   never          start never completes
 *   late           start completes after <delay> even when cancelled
 *   double         start completes twice
 *   stubborn       start spawns a child that ignores SIGTERM, never completes
 *   polite         start spawns a child that ends on SIGTERM, never completes
 *   bad-return     start returns 7, which the contract does not allow
 *   monitor-failed monitor returns CMSD_FAILED
 *   monitor-pending monitor answers CMSD_STOPPED after <delay> (timer)
 *   log-spam       start logs one line 12 times, then another line
 *   leak-host      start arms a timer and an fd watch and never frees
 *                  them: the agent must release them at instance_free
 * It writes "<state dir>/cancelled" when cancel() is called and
 * "<state dir>/child.pid" with the pid of a spawned child.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmsd/plugin.h>

struct fake {
	const struct cmsd_host *h;
	char mode[32];
	uint64_t delay;
	struct cmsd_timer *timer;
	struct cmsd_op *op;
	pthread_t thread;
	bool thread_started;
	int pipe[2];
};

static void fake_watch(int fd, unsigned events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

static void fake_note(struct fake *f, const char *name, const char *text)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->h->state_dir, name);
	fp = fopen(path, "w");
	if (fp) {
		fputs(text, fp);
		fclose(fp);
	}
}

static int fake_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	static const char *const keys[] = {"mode", "delay", NULL};
	uint64_t d;

	if (!c)
		return 0;
	return h->conf->check_keys(c, keys) ||
			       h->conf->get_duration_ms(c, "delay", 100, 0,
							60000, &d) < 0
		       ? -EINVAL
		       : 0;
}

static int fake_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *mode = "sync-ok";

	if (!f)
		return -ENOMEM;
	f->h = h;
	f->delay = 100;
	f->pipe[0] = f->pipe[1] = -1;
	if (c) {
		h->conf->get_string(c, "mode", "sync-ok", &mode);
		h->conf->get_duration_ms(c, "delay", 100, 0, 60000, &f->delay);
	}
	snprintf(f->mode, sizeof(f->mode), "%s", mode);
	*inst = f;
	return 0;
}

static void fake_timer(void *arg)
{
	struct fake *f = arg;

	f->h->op_done(f->op, strcmp(f->mode, "monitor-pending") == 0
				     ? CMSD_STOPPED
				     : 0);
	if (strcmp(f->mode, "double") == 0)
		f->h->op_done(f->op, 0);
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	usleep((useconds_t)f->delay * 1000);
	f->h->op_done(f->op, 0);
	return NULL;
}

static int fake_spawn(struct fake *f, const char *script)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.kill_grace_ms = 500,
	};
	struct cmsd_child *c;
	char pid[32];
	int rc = f->h->spawn(f->h, &req, &c);

	if (rc < 0)
		return rc;
	snprintf(pid, sizeof(pid), "%d", (int)f->h->child_pid(c));
	fake_note(f, "child.pid", pid);
	return CMSD_PENDING;
}

static int fake_start(void *inst, struct cmsd_op *op)
{
	struct fake *f = inst;

	f->op = op;
	if (strcmp(f->mode, "fail") == 0)
		return -EIO;
	if (strcmp(f->mode, "bad-return") == 0)
		return 7;
	if (strcmp(f->mode, "leak-host") == 0) {
		struct cmsd_timer *t = f->h->timer_new(f->h, fake_timer, f);
		if (pipe(f->pipe) < 0 || !t)
			return -errno;
		f->h->timer_arm(t, 60000);
		if (!f->h->watch_new(f->h, f->pipe[0], CMSD_WATCH_READ,
				     fake_watch, f))
			return -ENOMEM;
		return 0;
	}
	if (strcmp(f->mode, "log-spam") == 0) {
		for (int i = 0; i < 12; i++)
			f->h->log(f->h, CMSD_LOG_WARNING, "probe %s failed",
				  "x");
		f->h->log(f->h, CMSD_LOG_INFO, "something else");
		return 0;
	}
	if (strcmp(f->mode, "never") == 0)
		return CMSD_PENDING;
	if (strcmp(f->mode, "stubborn") == 0)
		return fake_spawn(f, "trap '' TERM; sleep 60 & wait; sleep 60");
	if (strcmp(f->mode, "polite") == 0)
		return fake_spawn(f, "exec sleep 60");
	if (strcmp(f->mode, "thread") == 0) {
		if (pthread_create(&f->thread, NULL, fake_thread, f) != 0)
			return -EAGAIN;
		f->thread_started = true;
		return CMSD_PENDING;
	}
	if (!strcmp(f->mode, "timer") || !strcmp(f->mode, "late") ||
	    !strcmp(f->mode, "double")) {
		if (!f->timer)
			f->timer = f->h->timer_new(f->h, fake_timer, f);
		f->h->timer_arm(f->timer, f->delay);
		return CMSD_PENDING;
	}
	return 0;
}

static int fake_stop(void *inst, struct cmsd_op *op)
{
	(void)inst;
	(void)op;
	return 0;
}

static int fake_monitor(void *inst, struct cmsd_op *op)
{
	struct fake *f = inst;

	if (strcmp(f->mode, "monitor-pending") == 0) {
		f->op = op;
		if (!f->timer)
			f->timer = f->h->timer_new(f->h, fake_timer, f);
		f->h->timer_arm(f->timer, f->delay);
		return CMSD_PENDING;
	}
	return strcmp(f->mode, "monitor-failed") == 0 ? CMSD_FAILED
						      : CMSD_RUNNING;
}

static void fake_cancel(void *inst, struct cmsd_op *op)
{
	struct fake *f = inst;

	(void)op;
	fake_note(f, "cancelled", f->mode);
	/* "late" ignores the cancel on purpose: its timer still fires. */
	if (f->timer && strcmp(f->mode, "late") != 0)
		f->h->timer_disarm(f->timer);
}

static void fake_destroy(void *inst)
{
	struct fake *f = inst;

	if (f->thread_started)
		pthread_join(f->thread, NULL);
	if (f->timer)
		f->h->timer_free(f->timer);
	/* The agent never closes a watched fd; the plugin does. */
	for (int i = 0; i < 2; i++)
		if (f->pipe[i] >= 0)
			close(f->pipe[i]);
	free(f);
}

static const struct cmsd_resource_ops fake_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = fake_validate,
	.init = fake_init,
	.start = fake_start,
	.stop = fake_stop,
	.monitor = fake_monitor,
	.cancel = fake_cancel,
	.destroy = fake_destroy,
};

static const struct cmsd_plugin fake_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "fake-op",
	.version = "1",
	.kind = CMSD_KIND_RESOURCE,
	.ops.resource = &fake_ops,
};

CMSD_PLUGIN_DEFINE(fake_plugin)
