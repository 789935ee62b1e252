/* The op contract on the real loop with real fake plugins: one callback per
 * op, never inside instance_call; deadline -> cancel -> TERM -> KILL of the
 * op's children; late and double completions ignored. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "conf.h"
#include "instance.h"
#include "loader.h"
#include "loop.h"
#include "spawn.h"
#include "testutil.h"

static char *dir;
static struct conf *conf;

struct result {
	int calls;
	int rc;
	uint64_t at_ms;
};

static void on_done(struct instance *in, enum op_kind kind, int rc, void *arg)
{
	struct result *r = arg;

	(void)in;
	(void)kind;
	r->calls++;
	r->rc = rc;
	r->at_ms = loop_now_ms();
}

/* Runs the loop for ms milliseconds. */
static void run_for(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_base_loopexit(loop_base(), &tv);
	event_base_dispatch(loop_base());
}

/* Runs the loop until r has a result or ms pass. */
static void run_until(struct result *r, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;
	while (!r->calls && loop_now_ms() < end)
		run_for(10);
}

/* One fake-op instance per mode, from a real configuration. */
static struct instance *make(const char *mode, const char *delay)
{
	char xml[2048];
	struct conf_overrides ov = {.plugin_dir = FAKE_PLUGIN_DIR};
	struct instance *in;

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\"/>"
		 "</node></cluster>\n"
		 "<group id=\"g\"><resource id=\"r\" plugin=\"fake-op\">"
		 "<mode>%s</mode><delay>%s</delay></resource></group>\n"
		 "</cmsd>\n",
		 dir, mode, delay);
	char *path = tu_write(dir, "cmsd.xml", xml);
	conf_free(conf); /* a second instance in one test: the first is gone */
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, &conf), 0);
	free(path);
	instance_set_state_root(conf->state_dir);
	ck_assert_int_eq(instance_new(&conf->inst[0], NULL, NULL, &in), 0);
	return in;
}

static bool note_exists(const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/state/r/%s", dir, name);
	return stat(path, &st) == 0;
}

static pid_t child_pid(void)
{
	char path[512];
	int pid = 0;
	snprintf(path, sizeof(path), "%s/state/r/child.pid", dir);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return pid;
}

static void setup(void)
{
	dir = tu_tmpdir();
	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(spawn_init(), 0);
}

static void teardown(void)
{
	spawn_shutdown();
	conf_free(conf);
	conf = NULL;
	tu_rmdir(dir);
	free(dir);
}

START_TEST(sync_result_deferred)
{
	struct instance *in = make("sync-ok", "0");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	/* Finished at once, yet the callback waits for the loop. */
	ck_assert_int_eq(r.calls, 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	ck_assert(!instance_busy(in));
	instance_free(in);
}
END_TEST

START_TEST(sync_failure)
{
	struct instance *in = make("fail", "0");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, -EIO);
	ck_assert_str_eq(instance_stats(in)->last_error,
			 "start: failed: Input/output error");
	instance_free(in);
}
END_TEST

START_TEST(pending_from_timer)
{
	struct instance *in = make("timer", "150ms");
	struct result r = {0};
	uint64_t t0 = loop_now_ms();

	ck_assert_int_eq(instance_call(in, OP_START, 2000, NULL, on_done, &r),
			 0);
	run_until(&r, 2000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_ge(r.at_ms - t0, 140);
	instance_free(in);
}
END_TEST

START_TEST(pending_from_thread)
{
	struct instance *in = make("thread", "100ms");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 2000, NULL, on_done, &r),
			 0);
	run_until(&r, 2000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	instance_free(in);
}
END_TEST

START_TEST(deadline_cancels)
{
	struct instance *in = make("never", "0");
	struct result r = {0};
	uint64_t t0 = loop_now_ms();

	ck_assert_int_eq(instance_call(in, OP_START, 200, NULL, on_done, &r),
			 0);
	run_until(&r, 2000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, -ETIMEDOUT);
	ck_assert_uint_ge(r.at_ms - t0, 190);
	ck_assert(note_exists("cancelled"));
	ck_assert_int_eq(instance_stats(in)->timeouts, 1);
	ck_assert_str_eq(instance_stats(in)->last_error,
			 "start: timed out after 200 ms");
	instance_free(in);
}
END_TEST

START_TEST(late_completion_ignored)
{
	struct instance *in = make("late", "400ms");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 100, NULL, on_done, &r),
			 0);
	run_until(&r, 2000);
	ck_assert_int_eq(r.rc, -ETIMEDOUT);
	run_for(600); /* the plugin answers anyway at 400 ms */
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(instance_stats(in)->late_completions, 1);
	instance_free(in);
}
END_TEST

START_TEST(double_completion_ignored)
{
	struct instance *in = make("double", "50ms");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 2000, NULL, on_done, &r),
			 0);
	run_until(&r, 2000);
	run_for(100);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(instance_stats(in)->late_completions, 1);
	instance_free(in);
}
END_TEST

START_TEST(stubborn_child_killed)
{
	struct instance *in = make("stubborn", "0");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 200, NULL, on_done, &r),
			 0);
	run_for(100);
	pid_t pid = child_pid();
	ck_assert_int_eq(kill(pid, 0), 0);
	run_until(&r, 2000);
	ck_assert_int_eq(r.rc, -ETIMEDOUT);
	uint64_t t_timeout = loop_now_ms();
	/* SIGTERM is ignored: the child lives through the grace (500 ms). */
	run_for(300);
	ck_assert_int_eq(kill(pid, 0), 0);
	uint64_t end = t_timeout + 3000;
	while (kill(pid, 0) == 0 && loop_now_ms() < end)
		run_for(20);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_uint_ge(loop_now_ms() - t_timeout, 450);
	instance_free(in);
}
END_TEST

START_TEST(polite_child_ends_on_term)
{
	struct instance *in = make("polite", "0");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 200, NULL, on_done, &r),
			 0);
	run_for(100);
	pid_t pid = child_pid();
	run_until(&r, 2000);
	ck_assert_int_eq(r.rc, -ETIMEDOUT);
	uint64_t t = loop_now_ms();
	while (kill(pid, 0) == 0 && loop_now_ms() < t + 2000)
		run_for(10);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_uint_lt(loop_now_ms() - t, 450); /* before the grace ended */
	instance_free(in);
}
END_TEST

START_TEST(contract_violation_is_eproto)
{
	struct instance *in = make("bad-return", "0");
	struct result r = {0};

	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, -EPROTO);
	instance_free(in);
}
END_TEST

START_TEST(monitor_results_and_busy)
{
	struct instance *in = make("monitor-failed", "0");
	struct result m = {0}, s = {0};

	ck_assert_int_eq(instance_call(in, OP_MONITOR, 1000, NULL, on_done, &m),
			 0);
	run_until(&m, 1000);
	ck_assert_int_eq(m.rc, CMSD_FAILED);
	ck_assert_int_eq(instance_call(in, OP_PROMOTE, 1000, NULL, on_done, &s),
			 -EOPNOTSUPP);
	instance_free(in);

	in = make("never", "0");
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(instance_call(in, OP_START, 5000, NULL, on_done, &s),
			 0);
	ck_assert_int_eq(instance_call(in, OP_STOP, 1000, NULL, on_done, &m),
			 -EBUSY);
	instance_free(in); /* the running start ends with -ECANCELED */
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.rc, -ECANCELED);
}
END_TEST

START_TEST(monitor_cancelled_by_stop)
{
	struct instance *in = make("timer", "300ms");
	struct result mon = {0}, stop = {0};

	/* The monitor's answer is still queued when stop comes: stop wins,
	 * the monitor ends with -ECANCELED and its answer is ignored. */
	ck_assert_int_eq(
		instance_call(in, OP_MONITOR, 1000, NULL, on_done, &mon), 0);
	ck_assert_int_eq(instance_call(in, OP_STOP, 1000, NULL, on_done, &stop),
			 0);
	run_until(&stop, 1000);
	run_for(50);
	ck_assert_int_eq(mon.calls, 1);
	ck_assert_int_eq(mon.rc, -ECANCELED);
	ck_assert_int_eq(stop.calls, 1);
	ck_assert_int_eq(stop.rc, 0);
	instance_free(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("op");
	TCase *tc = tcase_create("op");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sync_result_deferred);
	tcase_add_test(tc, sync_failure);
	tcase_add_test(tc, pending_from_timer);
	tcase_add_test(tc, pending_from_thread);
	tcase_add_test(tc, deadline_cancels);
	tcase_add_test(tc, late_completion_ignored);
	tcase_add_test(tc, double_completion_ignored);
	tcase_add_test(tc, stubborn_child_killed);
	tcase_add_test(tc, polite_child_ends_on_term);
	tcase_add_test(tc, contract_violation_is_eproto);
	tcase_add_test(tc, monitor_results_and_busy);
	tcase_add_test(tc, monitor_cancelled_by_stop);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
