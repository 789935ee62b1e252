/*
 * One log API for the agent (relayd style): log_warn() appends strerror(errno),
 * log_warnx() does not.  Lines go to syslog, to the log file and, when
 * enabled, to stderr.  Thread-safe.
 */
#ifndef CMSD_LOG_H
#define CMSD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

struct log_options {
	const char *ident; /* syslog ident, e.g. "cmsd" */
	const char *file;  /* log file path or NULL */
	bool to_syslog;
	bool to_stderr;
	int verbosity; /* 0: info and up; 1: debug */
};

/* Opens the log sinks.  Returns 0 or -errno (the file could not be opened;
 * the other sinks stay usable). */
int log_open(const struct log_options *o);
/* Reopens the log file (after rotation, or with a new path on reload). */
int log_reopen(const char *file);
void log_close(void);

void log_msg(int prio, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_vmsg(int prio, const char *fmt, va_list ap) LOG_PRINTF(2, 0);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
/* For start-up errors and broken invariants only. */
void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif
