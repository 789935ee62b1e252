/*
 * Loads plugins with libltdl and checks their descriptor before anything of
 * theirs runs.
 */
#ifndef CMSD_LOADER_H
#define CMSD_LOADER_H

#include <stddef.h>

#include <cmsd/plugin.h>

struct plugin {
	char *name; /* as named in the config */
	char *path; /* the file loaded */
	const struct cmsd_plugin *desc;
	void *handle; /* lt_dlhandle */
	int refs;
};

/*
 * Loads plugin `name` from directory `dir` (dir/name.so), or returns the one
 * already loaded.  On failure returns -errno and writes a message naming the
 * file (and, for an ABI mismatch, both versions) into err.
 *   -ENOENT   no such file
 *   -ELIBBAD  not loadable, no entry symbol, or a malformed descriptor
 *   -EPROTO   another ABI major, or a newer minor of our major
 *   -EINVAL   a name that is not [a-z0-9_-]+
 */
int loader_get(const char *dir, const char *name, struct plugin **out,
	       char *err, size_t errlen);
/* Drops one reference; unloads at zero. */
void loader_put(struct plugin *p);
/* Unloads everything (at exit). */
void loader_shutdown(void);

/* "quorum", "storage", "resource" or "?" */
const char *loader_kind_name(int kind);

#endif
