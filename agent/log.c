#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_options log_opt = {.ident = "cmsd", .to_stderr = true};
static FILE *log_fp;

static const char *log_prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static FILE *log_fopen(const char *file)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, "a");
	if (!fp) {
		close(fd);
		return NULL;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	return fp;
}

int log_open(const struct log_options *o)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	log_opt = *o;
	if (log_opt.to_syslog)
		openlog(log_opt.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	if (log_fp)
		fclose(log_fp);
	log_fp = NULL;
	if (o->file) {
		log_fp = log_fopen(o->file);
		if (!log_fp)
			rc = -errno;
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

int log_reopen(const char *file)
{
	FILE *fp = file ? log_fopen(file) : NULL;

	if (file && !fp)
		return -errno;
	pthread_mutex_lock(&log_lock);
	if (log_fp)
		fclose(log_fp);
	log_fp = fp;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fp)
		fclose(log_fp);
	log_fp = NULL;
	if (log_opt.to_syslog)
		closelog();
	pthread_mutex_unlock(&log_lock);
}

void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];
	char stamp[64];
	struct timespec ts;
	struct tm tm;

	if (prio == LOG_DEBUG && log_opt.verbosity < 1)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ld",
		 (long)(ts.tv_nsec / 1000000));

	pthread_mutex_lock(&log_lock);
	if (log_opt.to_syslog)
		syslog(prio, "%s", line);
	if (log_fp)
		fprintf(log_fp, "%s %s[%d]: %s: %s\n", stamp, log_opt.ident,
			(int)getpid(), log_prio_name(prio), line);
	if (log_opt.to_stderr)
		fprintf(stderr, "%s %s: %s: %s\n", stamp, log_opt.ident,
			log_prio_name(prio), line);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

static void log_verr(int prio, int err, const char *fmt, va_list ap)
{
	char buf[1536];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(prio, "%s: %s", buf, strerror(err));
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	log_verr(LOG_WARNING, err, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	log_verr(LOG_CRIT, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
