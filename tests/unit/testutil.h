/* Helpers shared by the unit tests (header only). */
#ifndef CMSD_TESTUTIL_H
#define CMSD_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under /tmp; removed by the forked test's end only if
 * the test calls tu_rmdir (CK_FORK keeps leftovers out of other tests). */
static inline char *tu_tmpdir(void)
{
	char *d = strdup("/tmp/cmsd-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static inline void tu_rmdir(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes text into dir/name; returns the path (malloc'd). */
static inline char *tu_write(const char *dir, const char *name,
			     const char *text)
{
	char *path;
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Runs a shell command built like printf; its system() status. */
static inline int tu_sh(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline int tu_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

#define SH_OK(...) ck_assert_msg(tu_sh(__VA_ARGS__) == 0, "command failed")

/* The output of a command (truncated to len). */
static inline void tu_sh_out(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void tu_sh_out(char *out, size_t len, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	size_t n;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	pclose(p);
}

static inline int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
