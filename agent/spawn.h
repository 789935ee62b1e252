/*
 * Children of the agent: fork + execve without a shell, each in its own
 * process group, stdin/stdout/stderr on pipes, reaped through a SIGCHLD
 * event on the loop.  A deadline kills the whole group: SIGTERM, then
 * SIGKILL after the grace.
 *
 * Start-up: spawn_init() once after loop_init(), before any spawn.
 * Shut-down: spawn_shutdown() kills what still runs (TERM, then KILL after
 * at most the grace, waiting synchronously) and frees the SIGCHLD event.
 */
#ifndef CMSD_SPAWN_H
#define CMSD_SPAWN_H

#include <sys/types.h>

#include <cmsd/host.h>

struct spawn_child;

int spawn_init(void);
void spawn_shutdown(void);

/* Starts req->argv; req->done(res, req->arg) runs once on the loop. */
int spawn_start(const struct cmsd_spawn *req, struct spawn_child **out);
/* Kills the child's group now: TERM, KILL after the grace.  done() follows. */
void spawn_kill(struct spawn_child *c);
pid_t spawn_pid(const struct spawn_child *c);
/* Drops interest: done() will not be called; the child is still killed
 * and reaped. */
void spawn_abandon(struct spawn_child *c);

#endif
