/* The running agent (see daemon.c). */
#ifndef CMSD_DAEMON_H
#define CMSD_DAEMON_H

struct conf;
struct conf_overrides;

/*
 * Runs the agent on a loaded configuration until SIGTERM or SIGINT; takes
 * ownership of conf.  `path` and `ov` are kept for SIGHUP reloads.  Returns
 * the process exit code: 0 after a clean stop, 1 when it could not start.
 */
int daemon_run(struct conf *conf, const char *path,
	       const struct conf_overrides *ov);

#endif
