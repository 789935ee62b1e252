/* Helpers shared by the unit tests that drive a plugin (or a fake one)
 * through the agent's instance API on the real libevent loop (header only):
 * one result per op, running the loop, and what the agent's log says.
 * log_has() and LOG_HAS() read the log file of the including test, which
 * names it `logpath` (a char * or char[] set by its fixture). */
#ifndef CMSD_PLUGTEST_H
#define CMSD_PLUGTEST_H

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "testutil.h"

/* What an op's completion callback got: how many times it was called (the
 * contract says once), with which code, and when. */
struct result {
	int calls;
	int rc;
	uint64_t at_ms;
};

static inline void on_done(struct instance *in, enum op_kind kind, int rc,
			   void *arg)
{
	struct result *r = arg;

	(void)in;
	(void)kind;
	r->calls++;
	r->rc = rc;
	r->at_ms = loop_now_ms();
}

/* The parts of the agent a plugin runs on: the log (into the file at
 * path), the loop and the spawner; in a test's fixture. */
static inline void pt_agent_open(const char *path)
{
	struct log_options lo = {.ident = "t", .file = path};

	ck_assert_int_eq(log_open(&lo), 0);
	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(spawn_init(), 0);
}

/* Undoes pt_agent_open: the instances go first (they may still spawn and
 * log), then the n configurations they were made from, then the log. */
static inline void pt_agent_close(struct conf **confs, size_t n)
{
	spawn_shutdown();
	instance_shutdown();
	for (size_t i = 0; i < n; i++) {
		conf_free(confs[i]);
		confs[i] = NULL;
	}
	log_close();
}

/* Runs the loop for ms milliseconds. */
static inline void run_for(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_base_loopexit(loop_base(), &tv);
	event_base_dispatch(loop_base());
}

/* Runs the loop until r has a result or ms pass. */
static inline void run_until(struct result *r, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (!r->calls && loop_now_ms() < end)
		run_for(10);
}

/* Calls op kind (deadline timeout_ms, args) and runs the loop until it
 * completes, waiting wait_ms at most (the deadline and the plugin's own
 * grace); asserts exactly one completion and returns its code. */
static inline int pt_call(struct instance *in, enum op_kind kind,
			  uint64_t timeout_ms, void *args, uint64_t wait_ms)
{
	struct result r = {0};
	uint64_t end = loop_now_ms() + wait_ms;

	ck_assert_int_eq(instance_call(in, kind, timeout_ms, args, on_done, &r),
			 0);
	while (!r.calls && loop_now_ms() < end)
		run_for(5);
	ck_assert_int_eq(r.calls, 1);
	return r.rc;
}

/* Loads the configuration xml (written to dir/name, plugins from the
 * build) into *conf, in place of the one there, sets the state root and
 * the node identity as the agent does (a plugin may derive its key from
 * the node id), and returns a new instance of section id. */
static inline struct instance *pt_instance(struct conf **conf, const char *dir,
					   const char *name, const char *xml,
					   const char *id, instance_event_cb ev)
{
	struct conf_overrides ov = {.plugin_dir = BUILD_PLUGIN_DIR};
	char *path = tu_write(dir, name, xml);
	struct instance *in;

	conf_free(*conf);
	*conf = NULL;
	ck_assert_int_eq(conf_load(path, &ov, NULL, NULL, conf), 0);
	free(path);
	instance_set_state_root((*conf)->state_dir);
	instance_set_identity(*conf);
	for (size_t i = 0; i < (*conf)->n_inst; i++)
		if (strcmp((*conf)->inst[i].id, id) == 0) {
			ck_assert_int_eq(
				instance_new(&(*conf)->inst[i], ev, NULL, &in),
				0);
			return in;
		}
	ck_abort_msg("no instance %s in %s/%s", id, dir, name);
	return NULL;
}

/* Whether a line of the file at path contains the text built like printf
 * (false when there is no such file). */
static inline bool pt_file_has(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline bool pt_file_has(const char *path, const char *fmt, ...)
{
	char line[2048], text[1024];
	bool hit = false;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, text) != NULL;
	fclose(f);
	return hit;
}

#define log_has(...) pt_file_has(logpath, __VA_ARGS__)

/* The format must be a string literal: it goes into the message too. */
#define LOG_HAS(...)                                                           \
	ck_assert_msg(log_has(__VA_ARGS__), "not in the log: " __VA_ARGS__)

/*
 * Starts a reaper: a process that runs at_end() when the last holder of
 * the write end (*wfd) is gone: the caller and its forked tests, however
 * they end (a failed assertion, Check's own SIGTERM to the process group,
 * SIGKILL at the CTest timeout).  It has its own session and ignores the
 * signals that end the test run, so what the tests made outside themselves
 * (namespaces, loop devices) goes in every case.  Returns its pid, or -1.
 */
static inline pid_t pt_reaper(void (*at_end)(void), int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[1]);
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		at_end();
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

#endif
