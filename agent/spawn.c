/*
 * Children of the agent (see spawn.h).  Every child is in the `children`
 * list from spawn_start() until its done() has run; the SIGCHLD event
 * reaps only the pids in that list, so that other parts of the process may
 * fork and wait for their own children.
 */
#include "spawn.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

struct spawn_child {
	struct spawn_child *next;
	pid_t pid;
	int out_fd;	     /* read end of stdout+stderr */
	int in_fd;	     /* write end of stdin, or -1 */
	const char *in_data; /* what is left to write */
	size_t in_left;
	char *in_copy;
	struct event *out_ev, *in_ev, *timeout_ev, *grace_ev;
	char *output;
	size_t output_len, output_max;
	uint32_t grace_ms;
	bool timed_out, killing, exited, out_eof, abandoned;
	int status;
	cmsd_child_cb done;
	cmsd_child_output_cb stream; /* streaming child: chunks go here */
	void *arg;
};

static struct spawn_child *children;
static struct event *sigchld_ev;

static void spawn_finish(struct spawn_child *c);

static void spawn_unlink(struct spawn_child *c)
{
	for (struct spawn_child **p = &children; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void spawn_free(struct spawn_child *c)
{
	if (c->out_ev)
		event_free(c->out_ev);
	if (c->in_ev)
		event_free(c->in_ev);
	if (c->timeout_ev)
		event_free(c->timeout_ev);
	if (c->grace_ev)
		event_free(c->grace_ev);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	free(c->in_copy);
	free(c->output);
	free(c);
}

static void spawn_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_child *c = arg;

	(void)fd;
	(void)what;
	if (!c->exited) {
		log_warnx("child %d did not end on SIGTERM within %u ms: "
			  "SIGKILL to its group",
			  (int)c->pid, c->grace_ms);
		kill(-c->pid, SIGKILL);
	}
}

void spawn_kill(struct spawn_child *c)
{
	if (c->exited || c->killing)
		return;
	c->killing = true;
	kill(-c->pid, SIGTERM);
	loop_timer_add(c->grace_ev, c->grace_ms);
}

static void spawn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_child *c = arg;

	(void)fd;
	(void)what;
	c->timed_out = true;
	log_warnx("child %d timed out: SIGTERM to its group", (int)c->pid);
	spawn_kill(c);
}

/* Keeps a chunk of output, or hands it on at once for a streaming child. */
static void spawn_take(struct spawn_child *c, const char *buf, size_t n)
{
	if (c->stream) {
		if (!c->abandoned)
			c->stream(buf, n, c->arg);
		return;
	}
	if (c->output_len + n > c->output_max)
		n = c->output_max - c->output_len;
	memcpy(c->output + c->output_len, buf, n);
	c->output_len += n;
}

static void spawn_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_child *c = arg;
	char buf[4096];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->out_eof = true;
		event_del(c->out_ev);
		if (c->exited)
			spawn_finish(c);
		return;
	}
	spawn_take(c, buf, (size_t)n);
}

static void spawn_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_child *c = arg;
	ssize_t n;

	(void)what;
	n = write(fd, c->in_data, c->in_left);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		c->in_data += n;
		c->in_left -= (size_t)n;
	}
	if (n < 0 || c->in_left == 0) {
		event_del(c->in_ev);
		close(c->in_fd);
		c->in_fd = -1;
	}
}

/* Runs once both the exit status and the end of output are in. */
static void spawn_finish(struct spawn_child *c)
{
	struct cmsd_child_result res = {0};

	spawn_unlink(c);
	/* A child we were killing may have left grandchildren in its group
	 * that ignore SIGTERM: they go with it.  A child that ended on its
	 * own may have started a service in the background on purpose; its
	 * group is left alone. */
	if (c->killing)
		kill(-c->pid, SIGKILL);
	c->output[c->output_len] = '\0';
	res.exited = WIFEXITED(c->status);
	res.exit_code = res.exited ? WEXITSTATUS(c->status) : -1;
	res.signal = WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0;
	res.timed_out = c->timed_out;
	res.output = c->output;
	res.output_len = c->output_len;
	if (c->done && !c->abandoned)
		c->done(&res, c->arg);
	spawn_free(c);
}

static void spawn_sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* Only our own children, by pid: other parts of the process may
	 * fork and wait for theirs. */
	struct spawn_child *c = children, *next;
	for (; c; c = next) {
		next = c->next;
		int st;
		if (c->exited || waitpid(c->pid, &st, WNOHANG) != c->pid)
			continue;
		c->exited = true;
		c->status = st;
		evtimer_del(c->timeout_ev);
		evtimer_del(c->grace_ev);
		if (c->out_eof) {
			spawn_finish(c);
		} else {
			/* Grandchildren may keep the pipe open: drain what is
			 * there now and finish. */
			char buf[4096];
			ssize_t n;
			while ((n = read(c->out_fd, buf, sizeof(buf))) > 0)
				spawn_take(c, buf, (size_t)n);
			spawn_finish(c);
		}
	}
}

int spawn_init(void)
{
	struct sigaction sa;

	if (sigchld_ev)
		return 0;
	/* Writing stdin_data to a child that exited early must give EPIPE,
	 * not kill the agent. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	sigchld_ev = evsignal_new(loop_base(), SIGCHLD, spawn_sigchld_cb, NULL);
	if (!sigchld_ev || evsignal_add(sigchld_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void spawn_shutdown(void)
{
	for (struct spawn_child *c = children; c; c = c->next)
		kill(-c->pid, SIGTERM);
	for (int i = 0; children && i < 40; i++) {
		for (struct spawn_child *c = children; c; c = c->next) {
			int st;
			if (!c->exited &&
			    waitpid(c->pid, &st, WNOHANG) == c->pid)
				c->exited = true;
		}
		bool all = true;
		for (struct spawn_child *c = children; c; c = c->next)
			all = all && c->exited;
		if (all)
			break;
		usleep(50000);
	}
	while (children) {
		struct spawn_child *c = children;
		children = c->next;
		if (!c->exited) {
			kill(-c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
		}
		spawn_free(c);
	}
	if (sigchld_ev)
		event_free(sigchld_ev);
	sigchld_ev = NULL;
}

/* In the child, between fork and execve: async-signal-safe calls only.
 * On failure the errno goes to the parent through err_w. */
static void spawn_child_exec(const struct cmsd_spawn *req, int in_r, int out_w,
			     int err_w)
{
	static const char *const safe_env[] = {
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};
	struct sigaction dfl = {0};
	sigset_t none;
	int e;

	setpgid(0, 0);
	/* Handlers are reset by execve, ignored signals are not; the parent
	 * blocked everything around fork so that no handler of the agent
	 * runs here. */
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The pipes may have got fds 0-2 when the agent's stdio was closed:
	 * lift them above 2 before dup2 so none overwrites another (dup2 of
	 * an fd onto itself would also keep its CLOEXEC). */
	in_r = fcntl(in_r, F_DUPFD_CLOEXEC, 3);
	out_w = fcntl(out_w, F_DUPFD_CLOEXEC, 3);
	if (in_r < 0 || out_w < 0 || dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 ||
	    dup2(out_w, 2) < 0)
		goto fail;
	/* Nothing of the agent leaks into the child but the error pipe,
	 * which closes on exec. */
	if (err_w != 3) {
		if (dup3(err_w, 3, O_CLOEXEC) < 0)
			goto fail;
		err_w = 3;
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 4, ~0u, 0) < 0)
#endif
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	if (chdir(req->cwd ? req->cwd : "/") < 0)
		goto fail;
	execve(req->argv[0], (char *const *)req->argv,
	       (char *const *)(req->envp ? req->envp : safe_env));
fail:
	e = errno;
	if (write(err_w, &e, sizeof(e)) < 0) {
		/* nothing more to tell */
	}
	_exit(127);
}

int spawn_start(const struct cmsd_spawn *req, struct spawn_child **out)
{
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	sigset_t all, old;
	int fork_errno;
	struct spawn_child *c;
	struct event_base *b = loop_base();
	int rc;

	if (out)
		*out = NULL;
	if (!req || !req->argv || !req->argv[0] || req->argv[0][0] != '/')
		return -EINVAL;
	if (!sigchld_ev && (rc = spawn_init()) < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->out_fd = c->in_fd = -1;
	/* A streaming child's output is handed on, never kept. */
	c->stream = req->output;
	c->output_max = c->stream	  ? 0
			: req->output_max ? req->output_max
					  : 65536;
	c->output = malloc(c->output_max + 1);
	c->grace_ms = req->kill_grace_ms ? req->kill_grace_ms : 2000;
	c->done = req->done;
	c->arg = req->arg;
	if (req->stdin_data) {
		c->in_copy = strdup(req->stdin_data);
		c->in_data = c->in_copy;
		c->in_left = c->in_copy ? strlen(c->in_copy) : 0;
	}
	if (!c->output || (req->stdin_data && !c->in_copy)) {
		rc = -ENOMEM;
		goto fail;
	}
	if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 ||
	    pipe2(err_p, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	c->pid = fork();
	if (c->pid == 0)
		spawn_child_exec(req, in_p[0], out_p[1], err_p[1]);
	fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (c->pid < 0) {
		rc = -fork_errno;
		goto fail;
	}
	/* Both sides set the group: whichever runs first, kill(-pid) works
	 * as soon as fork returns. */
	setpgid(c->pid, c->pid);
	close(in_p[0]);
	close(out_p[1]);
	close(err_p[1]);
	in_p[0] = out_p[1] = err_p[1] = -1;
	/* Blocks only until the child has exec'd or failed to: a missing or
	 * non-executable program is an error of spawn_start, not an exit
	 * code 127 that looks like the program's own. */
	ssize_t n;
	int child_errno;
	do
		n = read(err_p[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(err_p[0]);
	err_p[0] = -1;
	if (n == (ssize_t)sizeof(child_errno)) {
		/* Not in the list yet: the SIGCHLD handler leaves it alone. */
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
		rc = -child_errno;
		goto fail;
	}
	c->in_fd = in_p[1];
	c->out_fd = out_p[0];
	fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	c->out_ev =
		event_new(b, c->out_fd, EV_READ | EV_PERSIST, spawn_out_cb, c);
	c->in_ev =
		event_new(b, c->in_fd, EV_WRITE | EV_PERSIST, spawn_in_cb, c);
	c->timeout_ev = evtimer_new(b, spawn_timeout_cb, c);
	c->grace_ev = evtimer_new(b, spawn_grace_cb, c);
	event_add(c->out_ev, NULL);
	if (c->in_left)
		event_add(c->in_ev, NULL);
	else {
		close(c->in_fd);
		c->in_fd = -1;
	}
	if (req->timeout_ms)
		loop_timer_add(c->timeout_ev, req->timeout_ms);
	c->next = children;
	children = c;
	if (out)
		*out = c;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in_p[i] >= 0)
			close(in_p[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	spawn_free(c);
	return rc;
}

pid_t spawn_pid(const struct spawn_child *c)
{
	return c->pid;
}

void spawn_abandon(struct spawn_child *c)
{
	c->abandoned = true;
	spawn_kill(c);
}

size_t spawn_output_line(const struct cmsd_child_result *res, const char *nl,
			 char *out, size_t len)
{
	size_t j = 0, k = strlen(nl);

	if (!len)
		return 0;
	for (size_t i = 0; i < res->output_len && j + 1 < len; i++) {
		char ch = res->output[i];
		if (ch == '\n' && i + 1 < res->output_len) {
			if (j + k + 1 >= len)
				break; /* no half separator, no words run
					  together */
			memcpy(out + j, nl, k);
			j += k;
		} else if (ch >= 0x20 && ch < 0x7f) {
			out[j++] = ch;
		}
	}
	out[j] = '\0';
	return j;
}
