/* Children on the real loop: exit codes, signals, output, stdin, the
 * TERM -> KILL of a group on timeout, what leaks into the child (nothing),
 * and that other people's children are left alone. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "loop.h"
#include "spawn.h"
#include "testutil.h"

struct done {
	int calls;
	struct cmsd_child_result res;
	char out[70000];
	uint64_t at_ms;
};

static void on_done(const struct cmsd_child_result *res, void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->res = *res;
	ck_assert_uint_le(res->output_len, sizeof(d->out) - 1);
	memcpy(d->out, res->output, res->output_len + 1);
	d->res.output = d->out;
	d->at_ms = loop_now_ms();
}

static void run_for(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_base_loopexit(loop_base(), &tv);
	event_base_dispatch(loop_base());
}

static void run_until(struct done *d, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;
	while (!d->calls && loop_now_ms() < end)
		run_for(10);
}

/* Runs argv to its end; returns the pid. */
static pid_t run(struct done *d, const char *const *argv, const char *in,
		 uint32_t timeout_ms, uint32_t grace_ms, size_t output_max)
{
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .stdin_data = in,
				 .timeout_ms = timeout_ms,
				 .kill_grace_ms = grace_ms,
				 .output_max = output_max,
				 .done = on_done,
				 .arg = d};
	struct spawn_child *c;

	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(spawn_start(&req, &c), 0);
	pid_t pid = spawn_pid(c);
	ck_assert_int_gt(pid, 0);
	/* done() runs on the loop, never inside spawn_start. */
	ck_assert_int_eq(d->calls, 0);
	run_until(d, 10000);
	ck_assert_int_eq(d->calls, 1);
	return pid;
}

static void setup(void)
{
	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(spawn_init(), 0);
}

static void teardown(void)
{
	spawn_shutdown();
	loop_free();
}

START_TEST(exit_code)
{
	const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
	struct done d;

	run(&d, argv, NULL, 5000, 0, 0);
	ck_assert_int_eq(d.res.exited, 1);
	ck_assert_int_eq(d.res.exit_code, 3);
	ck_assert_int_eq(d.res.signal, 0);
	ck_assert_int_eq(d.res.timed_out, 0);
}
END_TEST

START_TEST(killed_by_signal)
{
	const char *argv[] = {"/bin/sh", "-c", "kill -USR1 $$", NULL};
	struct done d;

	run(&d, argv, NULL, 5000, 0, 0);
	ck_assert_int_eq(d.res.exited, 0);
	ck_assert_int_eq(d.res.signal, SIGUSR1);
}
END_TEST

START_TEST(output_merged_and_truncated)
{
	const char *both[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
	const char *lots[] = {"/bin/sh", "-c", "printf 0123456789abcdef", NULL};
	struct done d;

	run(&d, both, NULL, 5000, 0, 0);
	ck_assert_str_eq(d.out, "out\nerr\n");
	ck_assert_uint_eq(d.res.output_len, 8);
	run(&d, lots, NULL, 5000, 0, 10);
	ck_assert_uint_eq(d.res.output_len, 10);
	ck_assert_str_eq(d.out, "0123456789");
	ck_assert_int_eq(d.res.exit_code, 0);
}
END_TEST

START_TEST(output_as_one_line)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "printf 'first\\tline\\nsecond\\001\\nthird\\n'",
			      NULL};
	struct done d;
	struct cmsd_child_result r;
	char out[64], small[12];

	run(&d, argv, NULL, 5000, 0, 0);
	ck_assert_int_eq(d.res.exit_code, 0);
	/* the copy of the output run() kept stands for the callback's */
	r = d.res;
	r.output = d.out;
	r.output_len = strlen(d.out);
	ck_assert_uint_eq(spawn_output_line(&r, "; ", out, sizeof(out)),
			  strlen("firstline; second; third"));
	ck_assert_str_eq(out, "firstline; second; third");
	/* cut to the buffer, never a separator half written */
	spawn_output_line(&r, "; ", small, sizeof(small));
	ck_assert_str_eq(small, "firstline");
	spawn_output_line(&r, " ", small, sizeof(small));
	ck_assert_str_eq(small, "firstline s");
	r.output_len = 0;
	ck_assert_uint_eq(spawn_output_line(&r, " ", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(stdin_data)
{
	const char *argv[] = {"/bin/cat", NULL};
	struct done d;

	run(&d, argv, "hello\nworld\n", 5000, 0, 0);
	ck_assert_str_eq(d.out, "hello\nworld\n");
}
END_TEST

START_TEST(stdin_not_read_no_sigpipe)
{
	const char *argv[] = {"/bin/true", NULL};
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	struct done d;

	/* More than a pipe holds, to a child that never reads: EPIPE for the
	 * agent, not death by SIGPIPE. */
	memset(big, 'x', n);
	big[n] = '\0';
	run(&d, argv, big, 5000, 0, 0);
	ck_assert_int_eq(d.res.exit_code, 0);
	free(big);
}
END_TEST

START_TEST(minimal_env_and_cwd)
{
	const char *env[] = {"/usr/bin/env", NULL};
	const char *pwd[] = {"/bin/pwd", NULL};
	struct done d;

	setenv("CMSD_SECRET_TEST", "x", 1);
	run(&d, env, NULL, 5000, 0, 0);
	ck_assert_str_eq(d.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
	run(&d, pwd, NULL, 5000, 0, 0);
	ck_assert_str_eq(d.out, "/\n");
}
END_TEST

START_TEST(timeout_term_then_kill)
{
	const char *polite[] = {"/bin/sleep", "60", NULL};
	const char *stubborn[] = {"/bin/sh", "-c",
				  "trap '' TERM; sleep 60 & wait; sleep 60",
				  NULL};
	struct done d;
	uint64_t t0 = loop_now_ms();

	pid_t pid = run(&d, polite, NULL, 200, 1000, 0);
	ck_assert_int_eq(d.res.timed_out, 1);
	ck_assert_int_eq(d.res.signal, SIGTERM);
	ck_assert_uint_lt(d.at_ms - t0, 1000); /* before the grace */
	ck_assert_int_eq(kill(pid, 0), -1);

	t0 = loop_now_ms();
	pid = run(&d, stubborn, NULL, 200, 500, 0);
	ck_assert_int_eq(d.res.timed_out, 1);
	ck_assert_int_eq(d.res.signal, SIGKILL);
	ck_assert_uint_ge(d.at_ms - t0, 690); /* timeout + grace */
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* The background sleep of the group went too (once whoever
	 * inherited it has reaped the zombie). */
	uint64_t end = loop_now_ms() + 3000;
	while (kill(-pid, 0) == 0 && loop_now_ms() < end)
		run_for(20);
	ck_assert_int_eq(kill(-pid, 0), -1);
}
END_TEST

START_TEST(kill_on_request)
{
	const char *argv[] = {"/bin/sleep", "60", NULL};
	struct cmsd_spawn req = {
		.size = sizeof(req), .argv = argv, .done = on_done};
	struct spawn_child *c;
	struct done d = {0};

	req.arg = &d;
	ck_assert_int_eq(spawn_start(&req, &c), 0);
	run_for(50);
	spawn_kill(c);
	run_until(&d, 5000);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.res.signal, SIGTERM);
	ck_assert_int_eq(d.res.timed_out, 0);
}
END_TEST

START_TEST(no_fd_leak)
{
	/* ls lists /proc/self/fd with its own directory fd 3 open. */
	const char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
	struct done d;
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */

	ck_assert_int_ge(fd, 3);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	run(&d, argv, NULL, 5000, 0, 0);
	ck_assert_str_eq(d.out, "0\n1\n2\n3\n");
	close(fd);
}
END_TEST

START_TEST(stdio_closed_in_agent)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "read x; echo got $x; echo e >&2", NULL};
	struct done d;

	/* A daemon may run with 0-2 closed: the pipes then get those
	 * numbers, and must still land on the right fds of the child. */
	close(0);
	close(1);
	close(2);
	run(&d, argv, "v\n", 5000, 0, 0);
	ck_assert_str_eq(d.out, "got v\ne\n");
}
END_TEST

START_TEST(exec_errors)
{
	const char *missing[] = {"/nonexistent/prog", NULL};
	const char *relative[] = {"sh", "-c", "true", NULL};
	char *dir = tu_tmpdir();
	char *plain = tu_write(dir, "plain", "#!/bin/sh\ntrue\n");
	const char *notexec[] = {plain, NULL};
	struct cmsd_spawn req = {.size = sizeof(req), .done = on_done};
	struct spawn_child *c;
	struct done d = {0};

	req.arg = &d;
	req.argv = missing;
	ck_assert_int_eq(spawn_start(&req, &c), -ENOENT);
	req.argv = relative;
	ck_assert_int_eq(spawn_start(&req, &c), -EINVAL);
	req.argv = notexec;
	ck_assert_int_eq(chmod(plain, 0644), 0);
	ck_assert_int_eq(spawn_start(&req, &c), -EACCES);
	run_for(50);
	ck_assert_int_eq(d.calls, 0);
	tu_rmdir(dir);
	free(plain);
	free(dir);
}
END_TEST

START_TEST(abandoned_child_reaped_silently)
{
	const char *argv[] = {"/bin/sleep", "60", NULL};
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .kill_grace_ms = 200,
				 .done = on_done};
	struct spawn_child *c;
	struct done d = {0};

	req.arg = &d;
	ck_assert_int_eq(spawn_start(&req, &c), 0);
	pid_t pid = spawn_pid(c);
	spawn_abandon(c);
	uint64_t end = loop_now_ms() + 3000;
	while (kill(pid, 0) == 0 && loop_now_ms() < end)
		run_for(10);
	ck_assert_int_eq(kill(pid, 0), -1); /* reaped, not a zombie */
	ck_assert_int_eq(d.calls, 0);
}
END_TEST

START_TEST(foreign_children_left_alone)
{
	const char *argv[] = {"/bin/true", NULL};
	struct done d;
	int st;

	/* Someone else's child ends while ours run: its status is theirs. */
	pid_t other = fork();
	ck_assert_int_ge(other, 0);
	if (other == 0)
		_exit(7);
	run(&d, argv, NULL, 5000, 0, 0);
	run_for(100);
	ck_assert_int_eq(waitpid(other, &st, 0), other);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 7);
}
END_TEST

static bool pid_gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

START_TEST(timeout_kills_whole_group)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "sh -c 'trap \"\" TERM; while :; do sleep 1; "
			      "done' & echo $!; wait",
			      NULL};
	struct done d;

	/* A grandchild that ignores TERM and holds the output pipe: the
	 * whole group goes, and done() does not wait for the pipe. */
	run(&d, argv, NULL, 200, 300, 0);
	ck_assert_int_eq(d.res.timed_out, 1);
	pid_t gc = atoi(d.out);
	ck_assert_int_gt(gc, 0);
	uint64_t end = loop_now_ms() + 2000;
	while (!pid_gone(gc) && loop_now_ms() < end)
		usleep(10000);
	ck_assert(pid_gone(gc));
}
END_TEST

START_TEST(own_process_group)
{
	/* Field 5 of /proc/PID/stat is the process group. */
	const char *argv[] = {"/bin/sh", "-c",
			      "echo $$ $(cut -d' ' -f5 /proc/$$/stat)", NULL};
	struct done d;
	char want[64];

	run(&d, argv, NULL, 5000, 0, 0);
	int pid = atoi(d.out);
	snprintf(want, sizeof(want), "%d %d\n", pid, pid);
	ck_assert_str_eq(d.out, want);
}
END_TEST

START_TEST(big_output_default_max)
{
	/* 100000 bytes, more than a pipe holds: 64 KiB kept, and the child
	 * is not left blocked on a full pipe. */
	const char *argv[] = {"/bin/sh", "-c",
			      "head -c 100000 /dev/zero | tr '\\0' x; exit 4",
			      NULL};
	struct done d;

	run(&d, argv, NULL, 10000, 0, 0);
	ck_assert_int_eq(d.res.timed_out, 0);
	ck_assert_int_eq(d.res.exit_code, 4);
	ck_assert_uint_eq(d.res.output_len, 65536);
	ck_assert_uint_eq(strlen(d.out), 65536);
}
END_TEST

START_TEST(given_env_and_cwd)
{
	const char *argv[] = {"/bin/sh", "-c", "pwd; echo $FOO", NULL};
	const char *envp[] = {"FOO=bar", NULL};
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .envp = envp,
				 .cwd = "/tmp",
				 .done = on_done};
	struct done d = {0};

	req.arg = &d;
	ck_assert_int_eq(spawn_start(&req, NULL), 0);
	run_until(&d, 5000);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_str_eq(d.out, "/tmp\nbar\n");
}
END_TEST

START_TEST(background_service_survives_exit)
{
	/* A start script that leaves its service in the background, holding
	 * stdout: done() follows the script's exit, not the pipe's end, and
	 * the service lives on (only a child being killed takes its group
	 * with it). */
	const char *argv[] = {"/bin/sh", "-c", "sleep 5 & echo bg $!", NULL};
	struct done d;
	uint64_t t0 = loop_now_ms();

	run(&d, argv, NULL, 5000, 0, 0);
	ck_assert_int_eq(d.res.exit_code, 0);
	ck_assert_int_eq(d.res.timed_out, 0);
	ck_assert_uint_lt(d.at_ms - t0, 2000);
	ck_assert(strncmp(d.out, "bg ", 3) == 0);
	pid_t bg = atoi(d.out + 3);
	ck_assert_int_gt(bg, 0);
	ck_assert_int_eq(kill(bg, 0), 0);
	kill(bg, SIGKILL);
}
END_TEST

START_TEST(many_at_once)
{
	enum { N = 20 };
	struct done *d = calloc(N, sizeof(*d));
	char script[N][64];

	for (int i = 0; i < N; i++) {
		const char *argv[] = {"/bin/sh", "-c", script[i], NULL};
		struct cmsd_spawn req = {.size = sizeof(req),
					 .argv = argv,
					 .timeout_ms = 5000,
					 .done = on_done,
					 .arg = &d[i]};
		snprintf(script[i], sizeof(script[i]), "echo %d; exit %d", i,
			 i);
		ck_assert_int_eq(spawn_start(&req, NULL), 0);
	}
	uint64_t end = loop_now_ms() + 10000;
	for (int i = 0; i < N; i++)
		while (!d[i].calls && loop_now_ms() < end)
			run_for(10);
	for (int i = 0; i < N; i++) {
		char want[16];
		ck_assert_int_eq(d[i].calls, 1);
		ck_assert_int_eq(d[i].res.exit_code, i);
		snprintf(want, sizeof(want), "%d\n", i);
		ck_assert_str_eq(d[i].out, want);
	}
	free(d);
}
END_TEST

/* A streaming child (ABI 1.3): each line reaches the output callback while
 * the child still runs, nothing is collected, done() follows with "". */
struct stream {
	char buf[256];
	size_t len;
	int chunks;
	bool seen_first_while_running;
};

static void on_stream(const char *data, size_t len, void *arg)
{
	struct stream *st = arg;

	ck_assert_uint_le(st->len + len, sizeof(st->buf) - 1);
	memcpy(st->buf + st->len, data, len);
	st->len += len;
	st->buf[st->len] = '\0';
	st->chunks++;
}

static struct done *stream_done;

static void on_stream_done(const struct cmsd_child_result *res, void *arg)
{
	on_done(res, stream_done);
	(void)arg;
}

START_TEST(streaming_output)
{
	static const char *const argv[] = {
		"/bin/sh", "-c", "echo first; sleep 0.5; echo second", NULL};
	struct stream st = {0};
	struct done d = {0};
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .timeout_ms = 5000,
				 .done = on_stream_done,
				 .arg = &st,
				 .output = on_stream};
	uint64_t end;

	stream_done = &d;
	ck_assert_int_eq(spawn_start(&req, NULL), 0);
	end = loop_now_ms() + 3000;
	while (!strstr(st.buf, "first") && loop_now_ms() < end)
		run_for(10);
	ck_assert_str_eq(st.buf, "first\n");
	ck_assert_int_eq(d.calls, 0); /* still running: streamed, not kept */
	run_until(&d, 3000);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_str_eq(st.buf, "first\nsecond\n");
	ck_assert_uint_eq(d.res.output_len, 0);
	ck_assert_str_eq(d.out, "");
	ck_assert_int_eq(d.res.exit_code, 0);
}
END_TEST

START_TEST(shutdown_kills_survivors)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "trap '' TERM; while :; do sleep 1; done", NULL};
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .kill_grace_ms = 200,
				 .done = on_done};
	struct done d = {0};
	struct spawn_child *c;

	req.arg = &d;
	ck_assert_int_eq(spawn_start(&req, &c), 0);
	pid_t pid = spawn_pid(c);
	run_for(100);
	spawn_shutdown();
	/* Synchronous: gone and reaped when it returns; no callback. */
	ck_assert(pid_gone(pid));
	ck_assert_int_eq(d.calls, 0);
	ck_assert_int_eq(spawn_init(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spawn");
	TCase *tc = tcase_create("spawn");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exit_code);
	tcase_add_test(tc, killed_by_signal);
	tcase_add_test(tc, output_merged_and_truncated);
	tcase_add_test(tc, output_as_one_line);
	tcase_add_test(tc, stdin_data);
	tcase_add_test(tc, stdin_not_read_no_sigpipe);
	tcase_add_test(tc, minimal_env_and_cwd);
	tcase_add_test(tc, timeout_term_then_kill);
	tcase_add_test(tc, kill_on_request);
	tcase_add_test(tc, no_fd_leak);
	tcase_add_test(tc, stdio_closed_in_agent);
	tcase_add_test(tc, exec_errors);
	tcase_add_test(tc, abandoned_child_reaped_silently);
	tcase_add_test(tc, streaming_output);
	tcase_add_test(tc, foreign_children_left_alone);
	tcase_add_test(tc, timeout_kills_whole_group);
	tcase_add_test(tc, own_process_group);
	tcase_add_test(tc, big_output_default_max);
	tcase_add_test(tc, given_env_and_cwd);
	tcase_add_test(tc, background_service_survives_exit);
	tcase_add_test(tc, many_at_once);
	tcase_add_test(tc, shutdown_kills_survivors);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
