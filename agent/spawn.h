/*
 * Children of the agent: fork + execve without a shell, each in its own
 * process group, stdin/stdout/stderr on pipes (stderr merged into stdout),
 * every other fd closed, reaped through a SIGCHLD event on the loop.  A
 * deadline kills the whole group: SIGTERM, then SIGKILL after the grace.
 * Used by the host table (host->spawn) and by the agent itself.
 *
 * Start-up: spawn_init() once after loop_init(), before any spawn (a
 * spawn_start() without it calls it).  It adds a libevent signal event for
 * SIGCHLD to the loop's base, and sets SIGPIPE to SIG_IGN when it was
 * SIG_DFL (writing stdin_data to a child that has exited must not kill the
 * agent).  Only the pids spawn_start() made are reaped (waitpid by pid,
 * never -1), so other code may fork and wait for its own children; it may
 * add its own SIGCHLD event to the same base.
 * Shut-down: spawn_shutdown() after every user is gone (instance_free):
 * it kills what still runs (TERM, then KILL after at most 2 s, waiting
 * synchronously), reaps, and frees the SIGCHLD event.  done() is not
 * called then.
 *
 * All calls on the loop thread.
 */
#ifndef CMSD_SPAWN_H
#define CMSD_SPAWN_H

#include <sys/types.h>

#include <cmsd/host.h>

struct spawn_child;

int spawn_init(void);
void spawn_shutdown(void);

/*
 * Starts req->argv (argv[0] an absolute path; envp NULL: PATH and LANG=C
 * only; cwd NULL: "/").  req->done(res, req->arg) runs exactly once, on
 * the loop, never inside spawn_start(), when the child has ended and its
 * output is read (or, if a grandchild keeps the pipe open, when the child
 * itself has ended).  Returns 0 and *out (may be NULL), or -errno:
 *   -EINVAL  no argv, or argv[0] not absolute
 *   -ENOENT, -EACCES, -ENOEXEC, ...  the execve() in the child failed
 *            (reported here, not as an exit code 127; done() not called)
 *   -ENOMEM, -EMFILE, -EAGAIN  no memory, fds or processes
 * With req->output set (a streaming child), each chunk of output goes to
 * req->output(data, len, req->arg) as it is read, none is kept, and done()
 * gets "".  Neither is called after spawn_abandon().
 * The handle is valid until done() returns.
 */
int spawn_start(const struct cmsd_spawn *req, struct spawn_child **out);
/* Kills the child's group now: TERM, KILL after the grace.  done() follows
 * (timed_out stays 0).  No-op once the child has ended. */
void spawn_kill(struct spawn_child *c);
pid_t spawn_pid(const struct spawn_child *c);
/* Drops interest: done() will not be called; the child's group is still
 * killed (TERM, KILL after the grace) and the child reaped. */
void spawn_abandon(struct spawn_child *c);
/* A child's output as one line for a log or a reason: printable ASCII
 * kept, each line break before the end written as nl, any other byte
 * dropped; at most len - 1 bytes and a NUL, cut before a separator that
 * does not fit.  Returns the length. */
size_t spawn_output_line(const struct cmsd_child_result *res, const char *nl,
			 char *out, size_t len);

#endif
