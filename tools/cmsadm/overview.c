/*
 * cmsadm drbd-overview: see overview.h.
 */
#include "overview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OVW_MAX_DEVS 32

/* /proc/mounts escapes blanks and backslashes as \ooo. */
static void ovw_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* The first mount of /dev/drbdMINOR in the mounts text: its mount point and
 * file system type, or false. */
static bool ovw_find_mount(const char *mounts, int minor, char *dir,
			   size_t dirlen, char *type, size_t typelen)
{
	char dev[32];

	if (!mounts)
		return false;
	snprintf(dev, sizeof(dev), "/dev/drbd%d", minor);
	for (const char *p = mounts; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char line[1024], f0[256], f1[512], f2[64];
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, "%255s %511s %63s", f0, f1, f2) == 3 &&
			    strcmp(f0, dev) == 0) {
				ovw_unescape(f1);
				snprintf(dir, dirlen, "%s", f1);
				snprintf(type, typelen, "%s", f2);
				return true;
			}
		}
		p += n + (e ? 1 : 0);
	}
	return false;
}

struct ovw_feed {
	struct drbd_state *st;
	int rc;
	char *err;
	size_t errlen;
};

static void ovw_line(void *ctx, const char *line)
{
	struct ovw_feed *f = ctx;
	struct drbd_event ev;
	char e[160];

	if (f->rc < 0 || !*line)
		return;
	if (drbd_ev_parse(line, &ev, e, sizeof(e)) < 0) {
		snprintf(f->err, f->errlen, "drbdsetup events2: %s", e);
		f->rc = -EINVAL;
		return;
	}
	if (drbd_state_apply(f->st, &ev, 0) < 0) {
		snprintf(f->err, f->errlen,
			 "drbdsetup events2: more resources than cmsadm shows");
		f->rc = -EINVAL;
	}
}

int ovw_render(const char *events, const char *proc, const char *mounts,
	       ovw_statfs_fn fs, void *arg, struct sbuf *out, char *err,
	       size_t errlen)
{
	struct drbd_state *st = calloc(1, sizeof(*st));
	struct drbd_lines lb = {0};
	struct ovw_feed f = {.err = err, .errlen = errlen};
	int rc = 0;

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	drbd_state_init(st);
	f.st = st;
	if (drbd_lines_feed(&lb, events, strlen(events), ovw_line, &f) > 0 &&
	    f.rc == 0) {
		snprintf(err, errlen, "drbdsetup events2: a line too long");
		f.rc = -EINVAL;
	}
	drbd_lines_flush(&lb, ovw_line, &f);
	if (f.rc < 0) {
		rc = f.rc;
		goto out;
	}
	if (proc) {
		struct drbd_proc_dev devs[OVW_MAX_DEVS];
		char e[160];
		int n = drbd_proc_parse(proc, devs, OVW_MAX_DEVS, e, sizeof(e));
		for (int i = 0; i < n; i++)
			for (size_t k = 0; k < DRBD_MAX_RES; k++)
				if (st->res[k].present)
					drbd_res_apply_proc(&st->res[k],
							    &devs[i], 0);
	}
	for (size_t k = 0; k < DRBD_MAX_RES; k++) {
		const struct drbd_res_state *r = &st->res[k];
		if (!r->present)
			continue;
		for (int v = 0; v < DRBD_MAX_VOLS; v++) {
			const struct drbd_dev_state *d = drbd_res_dev(r, v);
			char dir[512], type[64], line[1024];
			struct drbd_mount_facts m = {.use_pct = -1};
			if (!d)
				continue;
			bool mounted =
				ovw_find_mount(mounts, d->minor, dir,
					       sizeof(dir), type, sizeof(type));
			if (mounted) {
				m.mount = dir;
				m.fstype = type;
				if (!fs || !fs(dir, &m, arg))
					m.mount = NULL;
			}
			if (drbd_overview_line(r, v, m.mount ? &m : NULL, line,
					       sizeof(line)) > 0)
				sbuf_printf(out, "%s\n", line);
		}
	}
out:
	free(st);
	return rc;
}

static bool ovw_statvfs(const char *mount, struct drbd_mount_facts *m,
			void *arg)
{
	struct statvfs sv;

	(void)arg;
	if (statvfs(mount, &sv) < 0)
		return false;
	m->size = (uint64_t)sv.f_blocks * sv.f_frsize;
	m->used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	m->avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return true;
}

/* A whole small file, or NULL. */
static char *ovw_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	struct sbuf b = {0};
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&b, buf, n);
	fclose(f);
	if (b.oom) {
		sbuf_free(&b);
		return NULL;
	}
	return b.s ? b.s : strdup("");
}

/* Runs drbdsetup events2 --now all; its stdout in *text (stderr kept apart
 * for the message).  0, or the exit status / -errno with err. */
static int ovw_events(char **text, char *err, size_t errlen)
{
	const char *path = getenv("CMSADM_DRBDSETUP");
	int out[2], errp[2];
	struct sbuf o = {0}, e = {0};
	int status;

	if (!path || !*path)
		path = "/usr/sbin/drbdsetup";
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int rc = -errno;
		close(out[0]);
		close(out[1]);
		close(errp[0]);
		close(errp[1]);
		return rc;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		execl(path, path, "events2", "--now", "all", (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	/* stdout first, then stderr: drbdsetup's error text is short, well
	 * within a pipe's buffer. */
	char buf[4096];
	ssize_t n;
	while ((n = read(out[0], buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			sbuf_add(&o, buf, (size_t)n);
	while ((n = read(errp[0], buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			sbuf_add(&e, buf, (size_t)n);
	close(out[0]);
	close(errp[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	if (rc != 0) {
		char *msg = e.s ? e.s : (char *)"";
		size_t l = strlen(msg);
		while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
			msg[--l] = '\0';
		snprintf(err, errlen, "%s events2 --now all: exit %d%s%s", path,
			 rc, *msg ? ": " : "", msg);
		sbuf_free(&o);
		sbuf_free(&e);
		return rc;
	}
	sbuf_free(&e);
	*text = o.s ? o.s : strdup("");
	return *text ? 0 : -ENOMEM;
}

int ovw_gather(struct sbuf *out, char *err, size_t errlen)
{
	char *events = NULL;
	int rc = ovw_events(&events, err, errlen);

	if (rc != 0)
		return rc < 0 ? rc : 1;
	char *proc = ovw_slurp("/proc/drbd");
	char *mounts = ovw_slurp("/proc/self/mounts");
	rc = ovw_render(events, proc, mounts, ovw_statvfs, NULL, out, err,
			errlen);
	if (rc == 0 && out->len == 0) {
		snprintf(err, errlen, "no DRBD resource is configured here");
		rc = 1;
	}
	free(mounts);
	free(proc);
	free(events);
	return rc;
}
