/*
 * resource-dummy (the SDK example) against a fake host table: the op
 * contract a plugin author copies, checked op by op without the agent.
 * The fake host records timers, completions and reported errors, and fires
 * timers only when a test says so.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>

#include <cmsd/plugin.h>

#include "testutil.h"

/* ---- a fake configuration: one section of key -> text pairs ---- */

struct fconf {
	const char *keys[8];
	const char *vals[8];
	int errors;
	char last_error[256];
};

static size_t fc_find(const struct cmsd_conf *c, const char *key)
{
	const struct fconf *f = (const struct fconf *)c;
	size_t i;

	for (i = 0; i < 8 && f->keys[i]; i++)
		if (strcmp(f->keys[i], key) == 0)
			return i;
	return (size_t)-1;
}

static int fc_error(const struct cmsd_conf *c, const char *key, const char *fmt,
		    ...)
{
	struct fconf *f = (struct fconf *)c;
	va_list ap;
	int n = snprintf(f->last_error, sizeof(f->last_error),
			 "<%s>: ", key ? key : "resource");

	va_start(ap, fmt);
	vsnprintf(f->last_error + n, sizeof(f->last_error) - (size_t)n, fmt,
		  ap);
	va_end(ap);
	f->errors++;
	return -EINVAL;
}

static int fc_get_string(const struct cmsd_conf *c, const char *key,
			 const char *def, const char **out)
{
	size_t i = fc_find(c, key);

	if (i == (size_t)-1) {
		*out = def;
		return 1;
	}
	*out = ((const struct fconf *)c)->vals[i];
	return 0;
}

/* Enough of the real grammar for the example: "NNNms", "Ns" or "NNN". */
static int fc_get_duration_ms(const struct cmsd_conf *c, const char *key,
			      uint64_t def, uint64_t min_ms, uint64_t max_ms,
			      uint64_t *out)
{
	const char *v;
	char *end;
	unsigned long long n;

	if (fc_get_string(c, key, NULL, &v) == 1) {
		*out = def;
		return 1;
	}
	n = strtoull(v, &end, 10);
	if (strcmp(end, "s") == 0)
		n *= 1000;
	else if (*end && strcmp(end, "ms") != 0)
		return fc_error(c, key, "bad duration");
	if (n < min_ms || n > max_ms)
		return fc_error(c, key, "out of range");
	*out = n;
	return 0;
}

static int fc_check_keys(const struct cmsd_conf *c, const char *const *known)
{
	const struct fconf *f = (const struct fconf *)c;
	int unknown = 0;

	for (size_t i = 0; i < 8 && f->keys[i]; i++) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(*k, f->keys[i]) == 0;
		if (!ok) {
			fc_error(c, f->keys[i], "unknown key");
			unknown++;
		}
	}
	return unknown;
}

static const struct cmsd_conf_ops fake_conf_ops = {
	.size = sizeof(struct cmsd_conf_ops),
	.get_string = fc_get_string,
	.get_duration_ms = fc_get_duration_ms,
	.check_keys = fc_check_keys,
	.error = fc_error,
};

/* ---- a fake host ---- */

struct cmsd_timer {
	cmsd_timer_cb cb;
	void *arg;
	bool armed;
	uint64_t ms;
};

static struct cmsd_timer the_timer;
static int timers_made, timers_freed;
static int done_calls, done_rc;
static struct cmsd_op *done_op;

static void fh_log(const struct cmsd_host *h, enum cmsd_log_level level,
		   const char *fmt, ...)
{
	(void)h;
	(void)level;
	(void)fmt;
}

static struct cmsd_timer *fh_timer_new(const struct cmsd_host *h,
				       cmsd_timer_cb cb, void *arg)
{
	(void)h;
	ck_assert_int_eq(timers_made, 0); /* one timer is enough */
	timers_made++;
	the_timer = (struct cmsd_timer){.cb = cb, .arg = arg};
	return &the_timer;
}

static void fh_timer_arm(struct cmsd_timer *t, uint64_t ms)
{
	t->armed = true;
	t->ms = ms;
}

static void fh_timer_disarm(struct cmsd_timer *t)
{
	t->armed = false;
}

static void fh_timer_free(struct cmsd_timer *t)
{
	t->armed = false;
	timers_freed++;
}

static void fh_op_done(struct cmsd_op *op, int rc)
{
	done_calls++;
	done_rc = rc;
	done_op = op;
}

/* Fires the timer as the loop would: only when armed. */
static void fire(void)
{
	if (!the_timer.armed)
		return;
	the_timer.armed = false;
	the_timer.cb(the_timer.arg);
}

static char *dir;
static struct cmsd_host host;
static const struct cmsd_resource_ops *ops;
static void *dl;
/* Op handles are opaque to the plugin: any distinct address will do. */
static char op_a, op_b;
#define OP_A ((struct cmsd_op *)&op_a)
#define OP_B ((struct cmsd_op *)&op_b)

static void setup(void)
{
	cmsd_plugin_entry_fn entry;
	const struct cmsd_plugin *p;

	dl = dlopen(BUILD_PLUGIN_DIR "/resource-dummy.so", RTLD_NOW);
	ck_assert_msg(dl != NULL, "%s", dlerror());
	*(void **)&entry = dlsym(dl, CMSD_PLUGIN_ENTRY_SYMBOL);
	ck_assert_ptr_nonnull(entry);
	p = entry();
	ck_assert_uint_eq(p->abi_major, CMSD_ABI_MAJOR);
	ck_assert_int_eq(p->kind, CMSD_KIND_RESOURCE);
	ck_assert_str_eq(p->name, "resource-dummy");
	ops = p->ops.resource;
	dir = tu_tmpdir();
	host = (struct cmsd_host){
		.abi_major = CMSD_ABI_MAJOR,
		.abi_minor = CMSD_ABI_MINOR,
		.size = sizeof(host),
		.plugin_name = "resource-dummy",
		.instance_id = "dummy",
		.log = fh_log,
		.timer_new = fh_timer_new,
		.timer_arm = fh_timer_arm,
		.timer_disarm = fh_timer_disarm,
		.timer_free = fh_timer_free,
		.op_done = fh_op_done,
		.conf = &fake_conf_ops,
		.state_dir = dir,
	};
	timers_made = timers_freed = done_calls = 0;
	done_rc = -12345;
	done_op = NULL;
}

static void teardown(void)
{
	tu_rmdir(dir);
	free(dir);
	dlclose(dl);
}

static void *make(struct fconf *f)
{
	void *inst = NULL;

	ck_assert_int_eq(ops->validate(&host, (struct cmsd_conf *)f), 0);
	ck_assert_int_eq(ops->init(&host, (struct cmsd_conf *)f, &inst), 0);
	ck_assert_ptr_nonnull(inst);
	return inst;
}

static bool exists(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

START_TEST(validate_rejects)
{
	struct fconf bad_key = {.keys = {"state-fil"}, .vals = {"/x"}};
	struct fconf relative = {.keys = {"state-file"}, .vals = {"run"}};
	struct fconf bad_delay = {.keys = {"start-delay"}, .vals = {"soon"}};
	struct fconf *cases[] = {&bad_key, &relative, &bad_delay};
	const char *want[] = {"<state-fil>: unknown key",
			      "<state-file>: must be an absolute path",
			      "<start-delay>: bad duration"};

	for (size_t i = 0; i < 3; i++) {
		void *inst = NULL;
		ck_assert_int_eq(
			ops->validate(&host, (struct cmsd_conf *)cases[i]),
			-EINVAL);
		ck_assert_int_ge(cases[i]->errors, 1);
		ck_assert_str_eq(cases[i]->last_error, want[i]);
		/* init reads through the same checks: no instance either. */
		ck_assert_int_eq(
			ops->init(&host, (struct cmsd_conf *)cases[i], &inst),
			-EINVAL);
	}
}
END_TEST

START_TEST(start_stop_monitor_now)
{
	struct fconf f = {0}; /* defaults: <state dir>/running, no delay */
	void *d = make(&f);

	ck_assert_int_eq(ops->monitor(d, OP_A), CMSD_STOPPED);
	ck_assert_int_eq(ops->start(d, OP_A), 0);
	ck_assert(exists("running"));
	ck_assert_int_eq(ops->monitor(d, OP_B), CMSD_RUNNING);
	ck_assert_int_eq(ops->start(d, OP_A), 0); /* already running: fine */
	ck_assert_int_eq(ops->stop(d, OP_A), 0);
	ck_assert(!exists("running"));
	ck_assert_int_eq(ops->stop(d, OP_A), 0); /* already stopped: fine */
	ck_assert_int_eq(ops->monitor(d, OP_B), CMSD_STOPPED);
	ck_assert_int_eq(done_calls, 0); /* nothing was pending */
	ops->destroy(d);
}
END_TEST

START_TEST(start_later_completes_once)
{
	char file[512];
	struct fconf f = {.keys = {"state-file", "start-delay"},
			  .vals = {file, "250ms"}};
	void *d;

	snprintf(file, sizeof(file), "%s/svc", dir);
	d = make(&f);
	ck_assert_int_eq(ops->start(d, OP_A), CMSD_PENDING);
	ck_assert(the_timer.armed);
	ck_assert_uint_eq(the_timer.ms, 250);
	ck_assert(!exists("svc")); /* not before the delay */
	ck_assert_int_eq(done_calls, 0);
	fire();
	ck_assert(exists("svc"));
	ck_assert_int_eq(done_calls, 1);
	ck_assert_ptr_eq(done_op, OP_A);
	ck_assert_int_eq(done_rc, 0);
	fire(); /* not re-armed: no second completion */
	ck_assert_int_eq(done_calls, 1);
	ck_assert_int_eq(ops->monitor(d, OP_B), CMSD_RUNNING);
	ops->destroy(d);
	ck_assert_int_eq(timers_freed, 1);
}
END_TEST

START_TEST(cancel_disarms)
{
	struct fconf f = {.keys = {"start-delay"}, .vals = {"1s"}};
	void *d = make(&f);

	ck_assert_int_eq(ops->start(d, OP_A), CMSD_PENDING);
	ops->cancel(d, OP_B); /* another op: nothing to do */
	ck_assert(the_timer.armed);
	ops->cancel(d, OP_A);
	ck_assert(!the_timer.armed);
	/* Even a timer that fires anyway must not complete a cancelled op. */
	the_timer.cb(the_timer.arg);
	ck_assert_int_eq(done_calls, 0);
	ck_assert(!exists("running"));
	/* A new start after the cancel works and reuses the timer. */
	ck_assert_int_eq(ops->start(d, OP_B), CMSD_PENDING);
	fire();
	ck_assert_int_eq(done_calls, 1);
	ck_assert_ptr_eq(done_op, OP_B);
	ck_assert(exists("running"));
	ops->destroy(d);
	ck_assert_int_eq(timers_made, 1);
	ck_assert_int_eq(timers_freed, 1);
}
END_TEST

START_TEST(start_fails_with_errno)
{
	struct fconf f = {.keys = {"state-file"},
			  .vals = {"/nonexistent-dir/cmsd/running"}};
	void *d = make(&f);

	ck_assert_int_eq(ops->start(d, OP_A), -ENOENT);
	ck_assert_int_eq(ops->monitor(d, OP_A), CMSD_STOPPED);
	ops->destroy(d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("plugin_dummy");
	TCase *tc = tcase_create("contract");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, validate_rejects);
	tcase_add_test(tc, start_stop_monitor_now);
	tcase_add_test(tc, start_later_completes_once);
	tcase_add_test(tc, cancel_disarms);
	tcase_add_test(tc, start_fails_with_errno);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
