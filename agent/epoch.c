/* The persistent epoch and generation (see epoch.h). */
#include "epoch.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPOCH_FILE "cluster.state"

int epoch_load(const char *state_dir, struct epoch_state *st, char *err,
	       size_t errlen)
{
	char path[4096], buf[256];
	ssize_t n;
	int fd, rc = 0;

	*st = (struct epoch_state){0};
	snprintf(path, sizeof(path), "%s/%s", state_dir, EPOCH_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	buf[n] = '\0';
	unsigned long long e, g;
	char tail;
	if (sscanf(buf, "epoch %llu\ngeneration %llu\n%c", &e, &g, &tail) !=
		    2 ||
	    buf[n - 1] != '\n') {
		snprintf(err, errlen,
			 "%s: not a cluster state file (expected \"epoch N\" "
			 "and \"generation N\" lines); move it away only if "
			 "you know this node's data is not the newest",
			 path);
		return -EBADMSG;
	}
	st->epoch = e;
	st->generation = g;
	return 0;
}

int epoch_store(const char *state_dir, const struct epoch_state *st, char *err,
		size_t errlen)
{
	char path[4096], buf[128];
	int rc;
	int len = snprintf(buf, sizeof(buf),
			   "epoch %" PRIu64 "\ngeneration %" PRIu64 "\n",
			   st->epoch, st->generation);

	snprintf(path, sizeof(path), "%s/%s", state_dir, EPOCH_FILE);
	rc = fsutil_write_durable(state_dir, path, buf, (size_t)len);
	if (rc < 0)
		snprintf(err, errlen, "cannot store %s: %s", path,
			 strerror(-rc));
	return rc;
}
