/*
 * resource-dummy: the smallest complete cmsd resource plugin.
 *
 * The "service" is a state file: start creates it, stop removes it, monitor
 * reports whether it exists.  With <start-delay>, start finishes later
 * through a host timer, which shows the CMSD_PENDING + op_done() half of the
 * contract.  Keys:
 *   <state-file>/path</state-file>   default: <state dir>/running
 *   <start-delay>300ms</start-delay> default: 0 (start finishes at once)
 */
/* POSIX.1-2008 for O_CLOEXEC under a strict -std=c11. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmsd/plugin.h>

struct dummy {
	const struct cmsd_host *host;
	char *state_file;
	uint64_t start_delay_ms;
	struct cmsd_timer *timer;
	struct cmsd_op *pending; /* the start waiting for the timer */
};

static const char *const dummy_keys[] = {"state-file", "start-delay", NULL};

/* Reads the keys; reports errors through the accessors. */
static int dummy_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		      const char **state_file, uint64_t *delay)
{
	const struct cmsd_conf_ops *cf = h->conf;
	int bad = cf->check_keys(c, dummy_keys);

	if (cf->get_string(c, "state-file", NULL, state_file) < 0)
		bad++;
	else if (*state_file && (*state_file)[0] != '/')
		bad += cf->error(c, "state-file", "must be an absolute path") <
		       0;
	if (cf->get_duration_ms(c, "start-delay", 0, 0, 600000, delay) < 0)
		bad++;
	return bad ? -EINVAL : 0;
}

static int dummy_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	const char *file;
	uint64_t delay;

	return dummy_read(h, c, &file, &delay);
}

static int dummy_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	struct dummy *d = calloc(1, sizeof(*d));
	const char *file;
	int rc;

	if (!d)
		return -ENOMEM;
	d->host = h;
	rc = dummy_read(h, c, &file, &d->start_delay_ms);
	if (rc < 0)
		goto fail;
	if (file) {
		d->state_file = strdup(file);
	} else {
		size_t n = strlen(h->state_dir) + sizeof("/running");
		d->state_file = malloc(n);
		if (d->state_file)
			snprintf(d->state_file, n, "%s/running", h->state_dir);
	}
	if (!d->state_file) {
		rc = -ENOMEM;
		goto fail;
	}
	*inst = d;
	return 0;
fail:
	free(d);
	return rc;
}

static int dummy_touch(struct dummy *d)
{
	int fd = open(d->state_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		int err = errno;
		d->host->log(d->host, CMSD_LOG_ERR, "cannot create %s: %s",
			     d->state_file, strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

static void dummy_timer(void *arg)
{
	struct dummy *d = arg;
	struct cmsd_op *op = d->pending;

	d->pending = NULL;
	if (op)
		d->host->op_done(op, dummy_touch(d));
}

static int dummy_start(void *inst, struct cmsd_op *op)
{
	struct dummy *d = inst;

	if (d->start_delay_ms == 0)
		return dummy_touch(d);
	if (!d->timer) {
		d->timer = d->host->timer_new(d->host, dummy_timer, d);
		if (!d->timer)
			return -ENOMEM;
	}
	d->pending = op;
	d->host->timer_arm(d->timer, d->start_delay_ms);
	return CMSD_PENDING;
}

static int dummy_stop(void *inst, struct cmsd_op *op)
{
	struct dummy *d = inst;

	(void)op;
	if (unlink(d->state_file) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int dummy_monitor(void *inst, struct cmsd_op *op)
{
	struct dummy *d = inst;

	(void)op;
	if (access(d->state_file, F_OK) == 0)
		return CMSD_RUNNING;
	return errno == ENOENT ? CMSD_STOPPED : -errno;
}

static void dummy_cancel(void *inst, struct cmsd_op *op)
{
	struct dummy *d = inst;

	if (d->pending == op) {
		d->pending = NULL;
		d->host->timer_disarm(d->timer);
	}
}

static void dummy_destroy(void *inst)
{
	struct dummy *d = inst;

	if (!d)
		return;
	if (d->timer)
		d->host->timer_free(d->timer);
	free(d->state_file);
	free(d);
}

static const struct cmsd_resource_ops dummy_ops = {
	.size = sizeof(struct cmsd_resource_ops),
	.validate = dummy_validate,
	.init = dummy_init,
	.start = dummy_start,
	.stop = dummy_stop,
	.monitor = dummy_monitor,
	.cancel = dummy_cancel,
	.destroy = dummy_destroy,
};

static const struct cmsd_plugin dummy_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "resource-dummy",
	.version = "1.0",
	.kind = CMSD_KIND_RESOURCE,
	.description = "a state file standing for a service",
	.ops.resource = &dummy_ops,
};

CMSD_PLUGIN_DEFINE(dummy_plugin)
