/*
 * Small crash-safe file writes for the agent's state files.
 */
#ifndef CMSD_AGENT_FSUTIL_H
#define CMSD_AGENT_FSUTIL_H

#include <stddef.h>

/* Replaces PATH (a file in directory DIR) with LEN bytes of DATA, mode
 * 0600: written to PATH.tmp, fsynced, renamed over PATH, then DIR fsynced,
 * so that a crash leaves either the old or the new content, never a torn
 * file, and the rename itself survives a power cut.  0 or -errno (-EIO for
 * a short write); on failure PATH.tmp is removed and PATH is untouched or
 * already replaced (only the directory sync failed). */
int fsutil_write_durable(const char *dir, const char *path, const void *data,
			 size_t len);

#endif
