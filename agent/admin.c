/* The operator's persistent switches (see admin.h). */
#include "admin.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_FILE "admin.state"

int admin_load(const char *state_dir, struct admin_state *st, char *err,
	       size_t errlen)
{
	char path[4096], buf[256], master[64], tail;
	unsigned long long seq;
	int stopped, maint, fd;
	ssize_t n;

	*st = (struct admin_state){0};
	snprintf(path, sizeof(path), "%s/%s", state_dir, ADMIN_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	buf[n] = '\0';
	/* Refuse to guess: a torn "stopped" could let a stopped node take
	 * over alone. */
	if (n == 0 || buf[n - 1] != '\n' ||
	    sscanf(buf, "stopped %d\nmaintenance %d\nseq %llu\nmaster %63s\n%c",
		   &stopped, &maint, &seq, master, &tail) != 4 ||
	    (stopped != 0 && stopped != 1) || (maint != 0 && maint != 1)) {
		snprintf(err, errlen,
			 "%s: not an admin state file (expected \"stopped "
			 "0|1\", \"maintenance 0|1\", \"seq N\" and \"master "
			 "ID\" "
			 "lines)",
			 path);
		return -EBADMSG;
	}
	st->stopped = stopped;
	st->maintenance = maint;
	st->seq = seq;
	if (strcmp(master, "-") != 0)
		snprintf(st->master, sizeof(st->master), "%s", master);
	return 0;
}

int admin_store(const char *state_dir, const struct admin_state *st, char *err,
		size_t errlen)
{
	char path[4096], buf[160];
	int rc;
	int len = snprintf(buf, sizeof(buf),
			   "stopped %d\nmaintenance %d\nseq %" PRIu64
			   "\nmaster %s\n",
			   st->stopped ? 1 : 0, st->maintenance ? 1 : 0,
			   st->seq, *st->master ? st->master : "-");

	snprintf(path, sizeof(path), "%s/%s", state_dir, ADMIN_FILE);
	rc = fsutil_write_durable(state_dir, path, buf, (size_t)len);
	if (rc < 0)
		snprintf(err, errlen, "cannot store %s: %s", path,
			 strerror(-rc));
	return rc;
}
