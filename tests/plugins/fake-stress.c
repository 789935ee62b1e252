/* fake-stress: every op answers from a detached worker thread after 0-3 ms,
 * twice; cancel does nothing, so answers race the deadline, the cancel and
 * the next op.  destroy waits for its threads (the plugin's duty). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmsd/plugin.h>

struct st {
	const struct cmsd_host *h;
	atomic_int threads;
	unsigned seed;
};

struct job {
	struct st *s;
	struct cmsd_op *op;
	unsigned us;
	int rc;
};

static void *st_thread(void *arg)
{
	struct job *j = arg;

	usleep(j->us);
	j->s->h->op_done(j->op, j->rc);
	j->s->h->log(j->s->h, CMSD_LOG_DEBUG, "answered twice");
	j->s->h->op_done(j->op, j->rc);
	atomic_fetch_sub(&j->s->threads, 1);
	free(j);
	return NULL;
}

static int st_go(void *inst, struct cmsd_op *op, int rc)
{
	struct st *s = inst;
	struct job *j = malloc(sizeof(*j));
	pthread_t t;

	if (!j)
		return -ENOMEM;
	*j = (struct job){s, op, (unsigned)(rand_r(&s->seed) % 3000), rc};
	atomic_fetch_add(&s->threads, 1);
	if (pthread_create(&t, NULL, st_thread, j) != 0) {
		atomic_fetch_sub(&s->threads, 1);
		free(j);
		return -EAGAIN;
	}
	pthread_detach(t);
	return CMSD_PENDING;
}

static int st_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	(void)h;
	(void)c;
	return 0;
}

static int st_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	struct st *s = calloc(1, sizeof(*s));

	(void)c;
	if (!s)
		return -ENOMEM;
	s->h = h;
	s->seed = (unsigned)(uintptr_t)s;
	*inst = s;
	return 0;
}

static int st_start(void *i, struct cmsd_op *op)
{
	return st_go(i, op, 0);
}

static int st_stop(void *i, struct cmsd_op *op)
{
	return st_go(i, op, -EIO);
}

static int st_monitor(void *i, struct cmsd_op *op)
{
	struct st *s = i;
	/* Sometimes at once, sometimes a bad value, mostly from a thread. */
	switch (rand_r(&s->seed) % 4) {
	case 0:
		return CMSD_STOPPED;
	case 1:
		return 77;
	}
	return st_go(i, op, CMSD_FAILED);
}

static void st_cancel(void *i, struct cmsd_op *op)
{
	(void)i;
	(void)op;
}

static void st_destroy(void *i)
{
	struct st *s = i;

	while (atomic_load(&s->threads) > 0)
		usleep(100);
	free(s);
}

static const struct cmsd_resource_ops ops = {
	.size = sizeof(ops),
	.validate = st_validate,
	.init = st_init,
	.start = st_start,
	.stop = st_stop,
	.monitor = st_monitor,
	.cancel = st_cancel,
	.destroy = st_destroy,
};

static const struct cmsd_plugin desc = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "fake-stress",
	.version = "1",
	.kind = CMSD_KIND_RESOURCE,
	.ops.resource = &ops,
};

CMSD_PLUGIN_DEFINE(desc)
