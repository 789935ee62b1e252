/*
 * pu_mount: the shared-LUN plugins' mount layer (see pu_mount.h).  Moved
 * here from storage-fc so that storage-iscsi mounts the same way (mount(2)
 * in a worker thread, e2fsck -p first, no lazy unmount) instead of running
 * mount(8).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pu_mount.h"

/* Processes named when an unmount is refused. */
#define PU_HOLDERS_MAX 20
/* Mounts of the LUN stacked on <mount> taken off by one pu_umount. */
#define PU_UMOUNT_MAX 8
/* e2fsck output kept for the log. */
#define PU_FSCK_OUTPUT 16384

const char *const pu_fstypes[] = {"ext4", "xfs", NULL};

void pu_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- notes ---- */

void pu_note(struct pu_notes *r, char level, const char *fmt, ...)
{
	char line[900];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (r->len + (size_t)n + 3 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		while (cap < r->len + (size_t)n + 3)
			cap *= 2;
		char *p = realloc(r->buf, cap);
		if (!p)
			return; /* the line is lost, not the op */
		r->buf = p;
		r->cap = cap;
	}
	r->buf[r->len++] = level;
	memcpy(r->buf + r->len, line, (size_t)n);
	r->len += (size_t)n;
	r->buf[r->len++] = '\n';
	r->buf[r->len] = '\0';
}

void pu_notes_clear(struct pu_notes *n)
{
	n->len = 0;
	if (n->buf)
		n->buf[0] = '\0';
}

void pu_notes_free(struct pu_notes *n)
{
	free(n->buf);
	n->buf = NULL;
	n->len = n->cap = 0;
}

void pu_notes_log(const struct cmsd_host *h, const char *prefix,
		  const struct pu_notes *n)
{
	const char *p = n->buf;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int len = (int)(nl ? nl - p : (ptrdiff_t)strlen(p)) - 1;
		enum cmsd_log_level lv = CMSD_LOG_INFO;

		switch (*p) {
		case 'E':
			lv = CMSD_LOG_ERR;
			break;
		case 'W':
			lv = CMSD_LOG_WARNING;
			break;
		case 'N':
			lv = CMSD_LOG_NOTICE;
			break;
		}
		h->log(h, lv, "%s: %.*s", prefix, len, p + 1);
		p = nl ? nl + 1 : p + strlen(p);
	}
}

/* ---- mountinfo ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void pu_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static bool pu_has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; p && *p;) {
		if (strncmp(p, opt, n) == 0 && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

bool pu_mnt_parse(char *line, struct pu_mnt *m)
{
	char *save = NULL, *tok[6], *t;
	unsigned maj, min;
	int i;

	for (i = 0; i < 6; i++) {
		tok[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!tok[i])
			return false;
	}
	/* Optional fields up to "-", then type, source, super options. */
	while ((t = strtok_r(NULL, " \n", &save)) && strcmp(t, "-") != 0)
		;
	char *type = strtok_r(NULL, " \n", &save);
	char *src = strtok_r(NULL, " \n", &save);
	char *sopts = strtok_r(NULL, " \n", &save);
	if (!t || !type || !src || sscanf(tok[2], "%u:%u", &maj, &min) != 2)
		return false;
	m->dev = makedev(maj, min);
	pu_unescape(tok[4]);
	pu_unescape(src);
	pu_fmt(m->point, sizeof(m->point), "%s", tok[4]);
	pu_fmt(m->fstype, sizeof(m->fstype), "%s", type);
	pu_fmt(m->source, sizeof(m->source), "%s", src);
	m->ro = pu_has_opt(tok[5], "ro") || pu_has_opt(sopts, "ro");
	return true;
}

/* Calls fn for each mount in order until it returns false.  0 or -errno. */
static int pu_mnt_scan(bool (*fn)(const struct pu_mnt *m, void *arg), void *arg)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	struct pu_mnt *m;

	if (!fp)
		return -errno;
	m = malloc(sizeof(*m));
	if (!m) {
		fclose(fp);
		return -ENOMEM;
	}
	while (getline(&line, &cap, fp) > 0)
		if (pu_mnt_parse(line, m) && !fn(m, arg))
			break;
	free(m);
	free(line);
	fclose(fp);
	return 0;
}

struct pu_mnt_query {
	const char *point; /* the last mount on this path, or */
	dev_t dev;	   /* the first mount of this device */
	bool hit;
	struct pu_mnt m;
};

static bool pu_mnt_match(const struct pu_mnt *m, void *arg)
{
	struct pu_mnt_query *q = arg;

	if (q->point ? strcmp(m->point, q->point) != 0 : m->dev != q->dev)
		return true;
	q->hit = true;
	q->m = *m;
	/* Mounts stacked on one path: the last listed is the one seen. */
	return q->point != NULL;
}

int pu_mnt_at(const char *point, struct pu_mnt *out)
{
	struct pu_mnt_query *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->point = point;
	rc = pu_mnt_scan(pu_mnt_match, q);
	if (rc == 0 && q->hit) {
		*out = q->m;
		rc = 1;
	}
	free(q);
	return rc;
}

int pu_mnt_of(dev_t dev, struct pu_mnt *out)
{
	struct pu_mnt_query *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->dev = dev;
	rc = pu_mnt_scan(pu_mnt_match, q);
	if (rc == 0 && q->hit) {
		*out = q->m;
		rc = 1;
	}
	free(q);
	return rc;
}

/* <mount> as mountinfo shows it: symlinks resolved when it exists. */

void pu_canon(const char *path, char out[PATH_MAX])
{
	size_t n;

	if (realpath(path, out))
		return;
	pu_fmt(out, PATH_MAX, "%s", path);
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
}

/* ---- the jobs (worker thread) ---- */

static int pu_mkdirs(const char *path, struct pu_notes *n)
{
	char p[PATH_MAX];

	pu_fmt(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			pu_note(n, 'E', "cannot create the mount point %s: %s",
				p, strerror(e));
			return -e;
		}
		*s = c;
		if (!c)
			break;
	}
	pu_note(n, 'N', "created the mount point %s", path);
	return 0;
}

int pu_mount_prepare(const char *mount, const char *dev, dev_t rdev,
		     char mp[PATH_MAX], enum pu_found *found,
		     struct pu_notes *n)
{
	struct stat st;
	struct pu_mnt m;
	DIR *d;
	int fd, rc;

	*found = PU_FOUND_FREE;
	if (stat(mount, &st) < 0) {
		if (errno != ENOENT) {
			rc = -errno;
			pu_note(n, 'E', "mount point %s: %s", mount,
				strerror(errno));
			return rc;
		}
		/* Nothing there to hide: the directory is ours to make. */
		if ((rc = pu_mkdirs(mount, n)) < 0)
			return rc;
	} else if (!S_ISDIR(st.st_mode)) {
		pu_note(n, 'E', "mount point %s is not a directory", mount);
		return -ENOTDIR;
	}
	pu_canon(mount, mp);
	rc = pu_mnt_at(mp, &m);
	if (rc < 0) {
		pu_note(n, 'E', "cannot read /proc/self/mountinfo: %s",
			strerror(-rc));
		return rc;
	}
	if (rc == 1 && m.dev == rdev) {
		if (m.ro) {
			pu_note(n, 'E',
				"%s is mounted on %s read-only (file system "
				"errors? see the kernel log): unmount it and "
				"check it by hand",
				dev, mp);
			return -EROFS;
		}
		*found = PU_FOUND_ADOPT;
		return 0;
	}
	if (rc == 1) {
		pu_note(n, 'E',
			"%s is already mounted from %s (%s), not from the LUN "
			"%s: refusing to mount over it",
			mp, m.source, m.fstype, dev);
		return -EBUSY;
	}
	d = opendir(mp);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				pu_note(n, 'W',
					"%s is not empty: what is in it stays "
					"hidden while the LUN is mounted",
					mp);
				break;
			}
		closedir(d);
	}
	/* The kernel holds a mounted block device exclusively: an exclusive
	 * open tells whether this host uses the LUN already (mounted
	 * elsewhere, maybe in another mount namespace), where e2fsck must
	 * not run and the mount shares the kernel's file system. */
	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EBUSY) {
		rc = -errno;
		pu_note(n, 'E', "cannot open %s: %s", dev, strerror(errno));
		return rc;
	}
	*found = PU_FOUND_BUSY;
	if (pu_mnt_of(rdev, &m) == 1)
		pu_note(n, 'N',
			"%s is in use on this host (mounted on %s): no e2fsck; "
			"the new mount shares that file system",
			dev, m.point);
	else
		pu_note(n, 'N',
			"%s is in use on this host (by another program or "
			"mount namespace): no e2fsck",
			dev);
	return 0;
}

int pu_mount_do(const char *dev, dev_t rdev, const char *mp, enum pu_fstype fs,
		struct pu_notes *n)
{
	/* ext4's own default may be to carry on after errors: remount
	 * read-only instead, which the monitors report. */
	const char *data = fs == PU_FS_EXT4 ? "errors=remount-ro" : NULL;
	struct pu_mnt m;
	int rc;

	if (mount(dev, mp, pu_fstypes[fs], MS_NODEV | MS_NOSUID, data) < 0) {
		int e = errno;
		pu_note(n, 'E', "cannot mount %s on %s (%s): %s", dev, mp,
			pu_fstypes[fs], strerror(e));
		if (e == EINVAL)
			pu_note(n, 'E',
				"is %s an intact %s file system? (see the "
				"kernel log and blkid %s)",
				dev, pu_fstypes[fs], dev);
		return -e;
	}
	/* mount(2) said yes: it is mounted, and a demote must find it.  A
	 * mountinfo that disagrees only earns a warning (the monitor then
	 * reports what it sees). */
	rc = pu_mnt_at(mp, &m);
	if (rc != 1 || m.dev != rdev)
		pu_note(n, 'W',
			"mounted %s on %s, but /proc/self/mountinfo does not "
			"show it there",
			dev, mp);
	return 0;
}

struct pu_scan {
	const char *mp;
	size_t mp_len;
	struct pu_notes *notes;
	int n;
};

static bool pu_submount(const struct pu_mnt *m, void *arg)
{
	struct pu_scan *s = arg;

	if (strncmp(m->point, s->mp, s->mp_len) == 0 &&
	    m->point[s->mp_len] == '/') {
		pu_note(s->notes, 'E',
			"%s is held by a mount on %s (%s from %s)", s->mp,
			m->point, m->fstype, m->source);
		s->n++;
	}
	return true;
}

/* Does /proc/PID/NAME (a magic link) lead into the file system? */
static bool pu_link_on(const char *pid, const char *name, dev_t dev,
		       char *target, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	ssize_t n;

	pu_fmt(p, sizeof(p), "/proc/%s/%s", pid, name);
	if (stat(p, &st) < 0 || st.st_dev != dev)
		return false;
	n = readlink(p, target, len - 1);
	target[n > 0 ? n : 0] = '\0';
	return true;
}

/* Why process pid holds the file system: the first reason found and how
 * many more, or false. */
static bool pu_proc_holds(const char *pid, dev_t dev, char *why, size_t len)
{
	char p[PATH_MAX], t[PATH_MAX], first[PATH_MAX + 32] = "";
	int more = 0;
	DIR *d;
	FILE *fp;

	if (pu_link_on(pid, "cwd", dev, t, sizeof(t)))
		pu_fmt(first, sizeof(first), "working directory %s", t);
	if (pu_link_on(pid, "root", dev, t, sizeof(t))) {
		if (*first)
			more++;
		else
			pu_fmt(first, sizeof(first), "root directory %s", t);
	}
	if (pu_link_on(pid, "exe", dev, t, sizeof(t))) {
		if (*first)
			more++;
		else
			pu_fmt(first, sizeof(first), "program %s", t);
	}
	pu_fmt(p, sizeof(p), "/proc/%s/fd", pid);
	d = opendir(p);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char name[300];
			if (e->d_name[0] == '.')
				continue;
			pu_fmt(name, sizeof(name), "fd/%s", e->d_name);
			if (!pu_link_on(pid, name, dev, t, sizeof(t)))
				continue;
			if (*first)
				more++;
			else
				pu_fmt(first, sizeof(first), "fd %s on %s",
				       e->d_name, t);
		}
		closedir(d);
	}
	/* Mapped files (libraries, mmap) hold it without an fd. */
	pu_fmt(p, sizeof(p), "/proc/%s/maps", pid);
	fp = fopen(p, "re");
	if (fp) {
		char *line = NULL;
		size_t cap = 0;
		while (getline(&line, &cap, fp) > 0) {
			unsigned maj, min;
			int off = 0;
			if (sscanf(line, "%*s %*s %*s %x:%x %*s %n", &maj, &min,
				   &off) < 2 ||
			    makedev(maj, min) != dev)
				continue;
			if (*first) {
				more++;
				continue;
			}
			line[strcspn(line, "\n")] = '\0';
			pu_fmt(first, sizeof(first), "mapping of %s",
			       off ? line + off : "a file");
		}
		free(line);
		fclose(fp);
	}
	if (!*first)
		return false;
	if (more)
		pu_fmt(why, len, "%s (and %d more)", first, more);
	else
		pu_fmt(why, len, "%s", first);
	return true;
}

/* Notes who keeps the mount busy: mounts below it, then processes. */
static void pu_holders(const char *mp, dev_t dev, struct pu_notes *n)
{
	struct pu_scan s = {.mp = mp, .notes = n};
	char comm[64], why[PATH_MAX + 64], p[64];
	int extra = 0;
	DIR *d;

	s.mp_len = strlen(mp);
	pu_mnt_scan(pu_submount, &s);
	d = opendir("/proc");
	if (!d) {
		pu_note(n, 'E', "cannot list /proc to name the holders: %s",
			strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) ||
		    !pu_proc_holds(e->d_name, dev, why, sizeof(why)))
			continue;
		if (s.n >= PU_HOLDERS_MAX) {
			extra++;
			continue;
		}
		pu_fmt(p, sizeof(p), "/proc/%s/comm", e->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
		if (fd >= 0)
			close(fd);
		comm[k > 0 ? k : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		pu_note(n, 'E', "%s is held by pid %s (%s): %s", mp, e->d_name,
			comm, why);
		s.n++;
	}
	closedir(d);
	if (extra)
		pu_note(n, 'E', "%s is held by %d more processes", mp, extra);
	if (!s.n && !extra)
		pu_note(n, 'E',
			"no process or mount found holding %s (a kernel user: "
			"a swap file, a loop device, an NFS export?)",
			mp);
}

int pu_umount(const char *mount, dev_t rdev, dev_t known, enum pu_fstype fs,
	      char mp[PATH_MAX], int *unmounted, struct pu_notes *n)
{
	struct pu_mnt m;
	int k = 0, rc;

	*unmounted = 0;
	mp[0] = '\0';
	if (access(mount, F_OK) < 0 && errno == ENOENT) {
		pu_note(n, 'I', "%s does not exist: nothing is mounted there",
			mount);
		return 0;
	}
	pu_canon(mount, mp);
	while ((rc = pu_mnt_at(mp, &m)) == 1 && k < PU_UMOUNT_MAX) {
		/* What the LUN has mounted there: its device as found now or
		 * as mounted before (the LUN may have gone away since); with
		 * neither known, the mount point's own file system type. */
		bool ours = (rdev && m.dev == rdev) ||
			    (known && m.dev == known) ||
			    (!rdev && !known &&
			     strcmp(m.fstype, pu_fstypes[fs]) == 0);
		if (!ours) {
			if (!k)
				pu_note(n, 'W',
					"%s is mounted from %s (%s), not from "
					"the LUN: left alone",
					mp, m.source, m.fstype);
			break;
		}
		/* Never MNT_DETACH: a lazily unmounted file system stays in
		 * use, and the peer would mount it at the same time. */
		if (umount2(mp, UMOUNT_NOFOLLOW) < 0) {
			int e = errno;
			pu_note(n, 'E', "cannot unmount %s (%s): %s", mp,
				m.source, strerror(e));
			if (e == EBUSY)
				pu_holders(mp, m.dev, n);
			*unmounted = k;
			return -e;
		}
		pu_note(n, 'I', "unmounted %s from %s", m.source, mp);
		k++;
	}
	*unmounted = k;
	if (rc < 0) {
		pu_note(n, 'E', "cannot read /proc/self/mountinfo: %s",
			strerror(-rc));
		return rc;
	}
	if (rc == 1 && k == PU_UMOUNT_MAX) {
		pu_note(n, 'E', "%s is still mounted after %d unmounts", mp, k);
		return -EBUSY;
	}
	if (!k && rc == 0)
		pu_note(n, 'I', "%s was not mounted", mp);
	return 0;
}

/* ---- e2fsck ---- */

static int pu_fsck_path(const char **out)
{
	static const char *const paths[] = {"/usr/sbin/e2fsck", "/sbin/e2fsck"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0) {
			*out = paths[i];
			return 0;
		}
	return -ENOENT;
}

int pu_fsck_spawn(const struct cmsd_host *h, const char *what, const char *dev,
		  void (*done)(const struct cmsd_child_result *r, void *arg),
		  void *arg, struct cmsd_child **child)
{
	const char *fsck = NULL;
	const char *argv[4];
	int rc;

	if (pu_fsck_path(&fsck) < 0) {
		h->log(h, CMSD_LOG_ERR,
		       "%s: e2fsck is not in /usr/sbin or /sbin (package "
		       "e2fsprogs): not mounting %s unchecked",
		       what, dev);
		return -ENOENT;
	}
	argv[0] = fsck;
	argv[1] = "-p";
	argv[2] = dev;
	argv[3] = NULL;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = PU_FSCK_MS,
		.output_max = PU_FSCK_OUTPUT,
		.done = done,
		.arg = arg,
	};
	rc = h->spawn(h, &req, child);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "%s: cannot run %s: %s", what, fsck,
		       strerror(-rc));
		return rc;
	}
	h->log(h, CMSD_LOG_INFO, "%s: e2fsck -p %s running as pid %ld", what,
	       dev, (long)h->child_pid(*child));
	return 0;
}

int pu_fsck_result(const struct cmsd_host *h, const char *what, const char *dev,
		   const struct cmsd_child_result *res)
{
	enum cmsd_log_level lv = CMSD_LOG_INFO;
	const char *s = res->output ? res->output : "";
	int code = res->exited ? res->exit_code : -1, rc = 0;
	char how[512];

	if (res->timed_out) {
		pu_fmt(how, sizeof(how), "timed out after %u s",
		       PU_FSCK_MS / 1000);
		rc = -ETIMEDOUT;
	} else if (!res->exited) {
		pu_fmt(how, sizeof(how), "was killed by signal %d",
		       res->signal);
		rc = -EINTR;
	} else if (code == 0) {
		pu_fmt(how, sizeof(how), "found the file system clean");
	} else if (code < 4) {
		/* 1, 2: errors corrected (2: "reboot", for a root fs). */
		pu_fmt(how, sizeof(how), "corrected errors (exit %d)", code);
		lv = CMSD_LOG_NOTICE;
	} else if (code & 4) {
		pu_fmt(how, sizeof(how),
		       "left errors uncorrected (exit %d): not mounting; "
		       "run e2fsck %s by hand",
		       code, dev);
		rc = -EUCLEAN;
	} else {
		pu_fmt(how, sizeof(how), "failed (exit %d)", code);
		rc = -EIO;
	}
	if (rc)
		lv = CMSD_LOG_ERR;
	h->log(h, lv, "%s: e2fsck -p %s %s", what, dev, how);
	/* Its own words, line by line. */
	for (int lines = 0; *s && lines < 20;) {
		size_t k = strcspn(s, "\n");
		if (k) {
			h->log(h, lv, "%s: e2fsck: %.*s", what, (int)k, s);
			lines++;
		}
		s += k + (s[k] == '\n');
	}
	return rc;
}

/* ---- the worker ---- */

static void *pu_worker_main(void *arg)
{
	struct pu_worker *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->todo)
			break;
		struct pu_job *j = w->todo;
		w->todo = j->next;
		if (!w->todo)
			w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->mu);
		j->run(j);
		pthread_mutex_lock(&w->mu);
		/* In order: appended at the tail of done. */
		struct pu_job **t = &w->done;
		while (*t)
			t = &(*t)->next;
		j->next = NULL;
		*t = j;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow with one writer. */
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void pu_worker_ready(int fd, unsigned events, void *arg)
{
	struct pu_worker *w = arg;
	struct pu_job *list;
	uint64_t k;

	(void)events;
	if (read(fd, &k, sizeof(k)) < 0) {
		/* EAGAIN: the results were taken at the last wake-up. */
	}
	pthread_mutex_lock(&w->mu);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct pu_job *j = list;
		list = j->next;
		j->next = NULL;
		j->done(j);
	}
}

void pu_worker_init(struct pu_worker *w, const struct cmsd_host *h)
{
	memset(w, 0, sizeof(*w));
	w->host = h;
	w->efd = -1;
	w->todo_tail = &w->todo;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

static int pu_worker_start(struct pu_worker *w)
{
	const struct cmsd_host *h = w->host;
	sigset_t all, old;
	int rc;

	if (w->up)
		return 0;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	w->watch = h->watch_new(h, w->efd, CMSD_WATCH_READ, pu_worker_ready, w);
	if (!w->watch) {
		close(w->efd);
		w->efd = -1;
		return -ENOMEM;
	}
	w->todo = NULL;
	w->todo_tail = &w->todo;
	w->done = NULL;
	w->quit = false;
	/* The agent's signals are for its loop thread, not this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->th, NULL, pu_worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		h->watch_free(w->watch);
		w->watch = NULL;
		close(w->efd);
		w->efd = -1;
		return -rc;
	}
	w->up = true;
	return 0;
}

int pu_worker_submit(struct pu_worker *w, struct pu_job *j)
{
	int rc = pu_worker_start(w);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w->mu);
	j->next = NULL;
	*w->todo_tail = j;
	w->todo_tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void pu_worker_destroy(struct pu_worker *w, void (*drop)(struct pu_job *j))
{
	if (w->up) {
		pthread_mutex_lock(&w->mu);
		w->quit = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		w->host->watch_free(w->watch);
		close(w->efd);
		w->up = false;
	}
	while (w->done) {
		struct pu_job *j = w->done;
		w->done = j->next;
		if (drop)
			drop(j);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}
