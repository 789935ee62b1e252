/* The op contract on the real loop with real fake plugins: one callback per
 * op, never inside instance_call; deadline -> cancel -> TERM -> KILL of the
 * op's children; late and double completions ignored. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "conf.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "plugtest.h"

static char *dir;
static struct conf *conf;

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
	instance_shutdown();
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
	struct instance *in = make("monitor-pending", "300ms");
	struct result mon = {0}, stop = {0};

	/* A monitor still waiting for its answer when stop comes: stop
	 * wins, the monitor ends with -ECANCELED (never inside
	 * instance_call) and the plugin was told to cancel. */
	ck_assert_int_eq(
		instance_call(in, OP_MONITOR, 1000, NULL, on_done, &mon), 0);
	ck_assert_int_eq(
		instance_call(in, OP_MONITOR, 1000, NULL, on_done, &stop),
		-EBUSY);
	ck_assert_int_eq(instance_call(in, OP_STOP, 1000, NULL, on_done, &stop),
			 0);
	ck_assert_int_eq(mon.calls, 0);
	ck_assert(note_exists("cancelled"));
	run_until(&stop, 1000);
	run_for(400);
	ck_assert_int_eq(mon.calls, 1);
	ck_assert_int_eq(mon.rc, -ECANCELED);
	ck_assert_int_eq(stop.calls, 1);
	ck_assert_int_eq(stop.rc, 0);
	instance_free(in);
}
END_TEST

START_TEST(monitor_typed_pending_result)
{
	struct instance *in = make("monitor-pending", "50ms");
	struct result m = {0};

	ck_assert_int_eq(instance_call(in, OP_MONITOR, 1000, NULL, on_done, &m),
			 0);
	run_until(&m, 1000);
	ck_assert_int_eq(m.calls, 1);
	ck_assert_int_eq(m.rc, CMSD_STOPPED);
	ck_assert_int_eq(instance_stats(in)->failures, 0);
	instance_free(in);

	in = make("sync-ok", "0");
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(instance_call(in, OP_MONITOR, 1000, NULL, on_done, &m),
			 0);
	run_until(&m, 1000);
	ck_assert_int_eq(m.rc, CMSD_RUNNING);
	instance_free(in);
}
END_TEST

START_TEST(sync_result_delivered_by_free)
{
	struct instance *in = make("sync-ok", "0");
	struct result r = {0};

	/* The answer is in, its callback still queued: instance_free runs
	 * it with the plugin's answer instead of losing it. */
	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	ck_assert_int_eq(r.calls, 0);
	instance_free(in);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, 0);
	run_for(50);
	ck_assert_int_eq(r.calls, 1);
}
END_TEST

START_TEST(answer_after_free_ignored)
{
	struct instance *in = make("thread", "100ms");
	struct result r = {0};

	/* The worker answers after the instance and its op are gone (the
	 * plugin's destroy joins it): the answer is looked up by number and
	 * dropped, never touching freed memory (ASan checks). */
	ck_assert_int_eq(instance_call(in, OP_START, 5000, NULL, on_done, &r),
			 0);
	instance_free(in);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, -ECANCELED);
	run_for(100);
	ck_assert_int_eq(r.calls, 1);
}
END_TEST

START_TEST(many_sync_ops_each_called_once)
{
	struct instance *in = make("sync-ok", "0");
	struct result r[80] = {0};

	/* More ops than the graveyard keeps end before the loop runs: none
	 * of their callbacks may be lost. */
	for (int i = 0; i < 80; i++)
		ck_assert_int_eq(instance_call(in, OP_MONITOR, 1000, NULL,
					       on_done, &r[i]),
				 0);
	run_for(50);
	for (int i = 0; i < 80; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].rc, CMSD_RUNNING);
	}
	ck_assert_uint_eq(instance_stats(in)->ops, 80);
	instance_free(in);
}
END_TEST

START_TEST(host_resources_released_at_free)
{
	struct instance *in = make("leak-host", "0");
	struct result r = {0};
	struct stat st;
	char path[512];

	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, 0);
	/* The state directory is private. */
	snprintf(path, sizeof(path), "%s/state/r", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	/* The timer and the watch the plugin left are freed here (ASan's
	 * leak check fails the test otherwise). */
	instance_free(in);
}
END_TEST

START_TEST(repeated_log_lines_suppressed)
{
	struct log_options lo = {.ident = "t"};
	char *log = NULL, line[1024];
	int same = 0, other = 0, summary = 0;

	ck_assert_int_ge(asprintf(&log, "%s/log", dir), 0);
	lo.file = log;
	ck_assert_int_eq(log_open(&lo), 0);
	struct instance *in = make("log-spam", "0");
	struct result r = {0};
	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	run_until(&r, 1000);
	instance_free(in);
	log_close();

	FILE *f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		same += strstr(line, ": r: probe x failed") != NULL;
		other += strstr(line, ": r: something else") != NULL;
		summary +=
			strstr(line, ": r: 7 similar lines suppressed") != NULL;
	}
	fclose(f);
	ck_assert_int_eq(same, 5);
	ck_assert_int_eq(summary, 1);
	ck_assert_int_eq(other, 1);
	free(log);
}
END_TEST

/* A storage plugin without fence_peer, built by hand without any
 * configuration (section NULL): optional ops and foreign kinds are refused
 * at once, present ones run. */
START_TEST(optional_and_foreign_ops)
{
	struct conf_instance ci = {
		.id = "st", .element = "storage", .kind = CMSD_KIND_STORAGE};
	char err[512];
	struct instance *in;
	struct result r = {0};
	struct cmsd_storage_status status = {.size = sizeof(status)};
	struct instance_vote_args va = {0};
	int force = 0;

	ck_assert_int_eq(loader_get(FAKE_PLUGIN_DIR, "fake-storage", &ci.plugin,
				    err, sizeof(err)),
			 0);
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(&ci, NULL, NULL, &in), 0);
	ck_assert_int_eq(
		instance_call(in, OP_FENCE_PEER, 1000, "n2", on_done, &r),
		-EOPNOTSUPP);
	ck_assert_int_eq(
		instance_call(in, OP_RESYNC, 1000, &force, on_done, &r),
		-EOPNOTSUPP);
	ck_assert_int_eq(
		instance_call(in, OP_REQUEST_VOTE, 1000, &va, on_done, &r),
		-EOPNOTSUPP);
	ck_assert_int_eq(instance_call(in, OP_STATUS, 1000, NULL, on_done, &r),
			 -EINVAL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(
		instance_call(in, OP_STATUS, 1000, &status, on_done, &r), 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, 0);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
		instance_call(in, OP_PROMOTE, 1000, &force, on_done, &r), 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, 0);
	instance_free(in);
	loader_put(ci.plugin);
}
END_TEST

/* An instance of a plugin that reads no configuration, built by hand. */
static struct instance *make_bare(const char *plugin, const char *id,
				  struct conf_instance *ci)
{
	char err[512];
	struct instance *in = NULL;

	*ci = (struct conf_instance){.id = (char *)id,
				     .element = "resource",
				     .kind = CMSD_KIND_RESOURCE};
	ck_assert_int_eq(loader_get(FAKE_PLUGIN_DIR, plugin, &ci->plugin, err,
				    sizeof(err)),
			 0);
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(ci, NULL, NULL, &in), 0);
	return in;
}

START_TEST(alternating_log_lines_limited)
{
	struct log_options lo = {.ident = "t"};
	struct conf_instance ci;
	char *log = NULL, line[512];
	int a = 0, b = 0, once = 0, summary = 0;
	struct result r = {0};

	/* A plugin failing in a loop alternates its lines: each is limited
	 * on its own, and what was swallowed is told once. */
	ck_assert_int_ge(asprintf(&log, "%s/log", dir), 0);
	lo.file = log;
	ck_assert_int_eq(log_open(&lo), 0);
	struct instance *in = make_bare("fake-logmix", "mix", &ci);
	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, on_done, &r),
			 0);
	run_until(&r, 1000);
	ck_assert_int_eq(r.rc, 0);
	instance_free(in);
	loader_put(ci.plugin);
	log_close();
	FILE *f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		a += strstr(line, ": mix: probe a failed") != NULL;
		b += strstr(line, ": mix: probe b failed") != NULL;
		once += strstr(line, ": mix: once") != NULL;
		summary += strstr(line, ": mix: 30 similar lines suppressed") !=
			   NULL;
	}
	fclose(f);
	ck_assert_int_eq(a, 5);
	ck_assert_int_eq(b, 5);
	ck_assert_int_eq(once, 1);
	ck_assert_int_eq(summary, 1);
	free(log);
}
END_TEST

/* Thread answers (each op answered twice, after 0-3 ms) racing 1-3 ms
 * deadlines, cancels, the next op and instance_free. */
enum { STRESS_NI = 4, STRESS_NOPS = 300 };

struct stress_slot {
	struct instance *in;
	struct conf_instance ci;
	char id[16];
	int issued, called, bad;
};

static struct stress_slot stress[STRESS_NI];

static void stress_done(struct instance *in, enum op_kind kind, int rc,
			void *arg)
{
	struct stress_slot *s = arg;

	(void)kind;
	if (in != s->in)
		s->bad++;
	if (!(rc == 0 || rc == -EIO || rc == -ETIMEDOUT || rc == -ECANCELED ||
	      rc == -EPROTO || rc == CMSD_STOPPED || rc == CMSD_FAILED))
		s->bad++;
	s->called++;
}

static void stress_tick(evutil_socket_t fd, short what, void *arg)
{
	static const enum op_kind kinds[] = {OP_START, OP_STOP, OP_MONITOR};
	static unsigned seed = 1;

	(void)fd;
	(void)what;
	(void)arg;
	for (int i = 0; i < STRESS_NI; i++) {
		struct stress_slot *s = &stress[i];
		if (!s->in || s->issued >= STRESS_NOPS)
			continue;
		int rc = instance_call(s->in, kinds[rand_r(&seed) % 3],
				       1 + rand_r(&seed) % 3, NULL, stress_done,
				       s);
		if (rc == 0)
			s->issued++;
		else
			ck_assert_int_eq(rc, -EBUSY);
		if (rand_r(&seed) % 50 == 0)
			instance_cancel(s->in);
	}
}

START_TEST(thread_answers_race_everything)
{
	for (int i = 0; i < STRESS_NI; i++) {
		snprintf(stress[i].id, sizeof(stress[i].id), "s%d", i);
		stress[i].in =
			make_bare("fake-stress", stress[i].id, &stress[i].ci);
	}
	struct event *ev =
		event_new(loop_base(), -1, EV_PERSIST, stress_tick, NULL);
	struct timeval tv = {0, 500};
	event_add(ev, &tv);
	uint64_t end = loop_now_ms() + 20000;
	bool all = false;
	while (!all && loop_now_ms() < end) {
		event_base_loop(loop_base(), EVLOOP_ONCE);
		all = true;
		for (int i = 1; i < STRESS_NI; i++)
			all = all && stress[i].issued >= STRESS_NOPS;
		/* One instance goes midway, with answers in flight: every op
		 * it had got its callback by the time instance_free returns. */
		if (stress[0].in && stress[0].issued >= STRESS_NOPS / 2) {
			instance_free(stress[0].in);
			stress[0].in = NULL;
			ck_assert_int_eq(stress[0].called, stress[0].issued);
		}
	}
	event_free(ev);
	for (int i = 1; i < STRESS_NI; i++) {
		instance_free(stress[i].in);
		stress[i].in = NULL;
	}
	/* Stragglers from the plugin's threads find their ops unknown. */
	run_for(100);
	for (int i = 0; i < STRESS_NI; i++) {
		ck_assert_int_eq(stress[i].bad, 0);
		ck_assert_int_eq(stress[i].called, stress[i].issued);
		loader_put(stress[i].ci.plugin);
	}
	for (int i = 1; i < STRESS_NI; i++)
		ck_assert_int_eq(stress[i].issued, STRESS_NOPS);
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
	tcase_add_test(tc, monitor_typed_pending_result);
	tcase_add_test(tc, sync_result_delivered_by_free);
	tcase_add_test(tc, answer_after_free_ignored);
	tcase_add_test(tc, many_sync_ops_each_called_once);
	tcase_add_test(tc, host_resources_released_at_free);
	tcase_add_test(tc, repeated_log_lines_suppressed);
	tcase_add_test(tc, optional_and_foreign_ops);
	tcase_add_test(tc, alternating_log_lines_limited);
	tcase_add_test(tc, thread_answers_race_everything);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
