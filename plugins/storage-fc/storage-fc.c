/*
 * storage-fc: the shared template LUN over Fibre Channel, found by WWN under
 * /dev/disk/by-id (or given as a device path), mounted on the master only,
 * and fenced with SCSI-3 persistent reservations (PR) unless
 * <reservation>none</reservation>.
 *
 * With reservations (fc_pr.c holds the bytes and the sequences; here they
 * run through SG_IO in the worker thread, so the loop never waits on the
 * array):
 *
 *   key      <key>, or FNV-1a 64 of the node id: the two nodes differ
 *            without configuration.
 *   start    registers the key (REGISTER AND IGNORE EXISTING KEY, APTPL
 *            unless the array refuses it) on each path: the slaves of a
 *            multipath map one by one, since a registration belongs to an
 *            I_T nexus; reads the holder for status.
 *   promote  before anything else: registers again (a preempted node lost
 *            its key), RESERVEs the configured type, or PREEMPTs AND
 *            ABORTs the holder (PREEMPT when refused) on takeover; then
 *            mounts as below.  A failure leaves the LUN unmounted.
 *   demote   unmounts, then RELEASEs (not registered any more: the peer
 *            preempted us, nothing to release).
 *   stop     unmounts, RELEASEs and unregisters (service action key 0).
 *   fence_peer  reserves as promote does and PREEMPTs every other key: a
 *            registrants-only type lets any registrant write.
 *   A device that takes no SCSI commands (SG_IO: ENOTTY/EINVAL; a loop
 *   device, virtio-blk) or answers INVALID COMMAND OPERATION CODE fails
 *   start, promote and fence_peer with -EOPNOTSUPP, logged as an error
 *   once: the configuration asked for fencing, and the LUN is never used
 *   unfenced.  demote and stop have nothing to undo there and succeed.
 *
 * The runtime common to both (and all of it for <reservation>none):
 *
 *   start    finds the LUN: <device>, or the first of dm-uuid-mpath-3HEX
 *            (multipath), wwn-0xHEX, scsi-3HEX under /dev/disk/by-id that is
 *            a block device with a medium.  Absent: -ENODEV, naming the WWN.
 *   promote  finds the LUN again; then, in the worker thread: creates the
 *            mount point if missing, adopts a mount of the LUN already there,
 *            refuses another file system there, and tries an exclusive open
 *            to learn whether this host uses the device already; then
 *            `e2fsck -p` (ext4, device not in use) through host->spawn with
 *            a time limit, and mount(2) with nodev,nosuid (ext4 also
 *            errors=remount-ro, so that damage shows as a read-only mount).
 *            XFS has no pre-mount check: its log replay at mount is the
 *            check (fsck.xfs does nothing either); xfs_repair -n refuses a
 *            dirty log, which is the normal state after a crash.
 *   demote,  umount(2) of what the LUN has mounted on <mount>, in the worker
 *   stop     thread.  EBUSY is returned as it is, after logging who holds
 *            the mount (processes by pid with the file, working directory,
 *            root, program or mapping on it; mounts below it): never a lazy
 *            unmount, which would leave the file system in use while the
 *            peer mounts it.  Nothing mounted: done.
 *   monitor  from /proc/self/mountinfo and statvfs, on the loop (no device
 *            I/O): LUN absent FAILED; promoted but <mount> gone, mounted from
 *            something else or read-only FAILED; otherwise RUNNING.
 *   status   role Primary when the LUN is mounted on <mount>; data_usable
 *            when the LUN is there; generation 0: a shared LUN has one copy
 *            of the data, the same blocks for both nodes, so it is usable
 *            and newest wherever it can be reached, and has no generation of
 *            its own to compare (the agent's own counter, raised at each
 *            takeover, is what the arbiter compares).
 *
 * mount(2) and umount(2) may block (journal replay, writeback), so they
 * run in one worker thread per instance, in the order the ops asked for
 * them: a demote after a cancelled promote unmounts what that promote may
 * still have mounted.  Results come back to the loop through an eventfd.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fc_pr.h"
#include "plugin_util.h"

#define FC_BY_ID "/dev/disk/by-id"
/* e2fsck's own bound; the agent's promote deadline (the storage's
 * start-timeout) normally ends it first. */
#define FC_FSCK_MS     (30u * 60u * 1000u)
#define FC_FSCK_OUTPUT 16384
/* Processes named when an unmount is refused. */
#define FC_HOLDERS_MAX 20
/* Mounts of the LUN stacked on <mount> taken off by one demote. */
#define FC_UMOUNT_MAX 8
/* SCSI paths of a multipath map registered one by one. */
#define FC_PATHS_MAX 16
/* One PR command: an array that does not answer within this is failing. */
#define FC_SG_TIMEOUT_MS 30000u

enum fc_fstype { FC_EXT4, FC_XFS };

/* SPC-3 persistent reservation types, in the order of fc_reservations;
 * FC_PR_NONE: no fencing (arrays without PR support). */
enum fc_pr_type { FC_PR_WE_RO, FC_PR_EA, FC_PR_WE, FC_PR_EA_RO, FC_PR_NONE };

/* What an op asked for, and the step its worker job does. */
enum fc_what {
	FC_DO_PROMOTE,
	FC_DO_DEMOTE,
	FC_DO_STOP,
	FC_DO_START,
	FC_DO_FENCE
};
/* REGISTER: start's registration; FENCE: fence_peer's.  PREPARE reserves
 * first and UMOUNT releases after, with reservations. */
enum fc_step { FC_PREPARE, FC_MOUNT, FC_UMOUNT, FC_REGISTER, FC_FENCE };
/* PREPARE's finding. */
enum fc_found { FC_FREE, FC_ADOPT, FC_BUSY };

struct fc;

/* One op across its steps; also kept after a cancel until its job or
 * child is back. */
struct fc_req {
	struct fc *f;
	struct cmsd_op *op; /* NULL once cancelled */
	enum fc_what what;
	enum fc_step step;
	/* Set on the loop before the job is queued. */
	char dev[PATH_MAX]; /* the LUN's device node, "" when not found */
	dev_t rdev;	    /* 0 when not found */
	dev_t known;	    /* what this instance mounted before, or 0 */
	/* Set by the worker. */
	char mp[PATH_MAX]; /* <mount>, symlinks resolved */
	int rc;
	enum fc_found found;
	/* The reservation as the worker left it, when resv_known. */
	bool resv_known, resv_held;
	uint64_t resv_key;
	char *notes; /* lines for the log: level letter, text, '\n' */
	size_t notes_len, notes_cap;

	struct cmsd_child *child; /* e2fsck */
	struct fc_req *next_job;  /* worker queues */
	struct fc_req *next;	  /* f->reqs */
};

struct fc {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char wwn[33];	     /* lower-case hex digits, or "" */
	char *device;	     /* the device path when given instead */
	char *mount;
	enum fc_fstype fstype;
	enum fc_pr_type reservation;
	uint64_t key;	 /* 0: derived from the node at run time */
	uint64_t pr_key; /* the key in use: <key>, or derived; set at start */

	/* The worker's: what the array refused, learned once. */
	bool pr_no_aptpl, pr_no_abort, pr_nopr_said;

	/* On the loop. */
	bool started;
	bool promoted;
	dev_t mounted; /* the LUN's device as mounted here, or 0 */
	int health;    /* last monitor answer, -1: none */
	char health_why[256];
	struct fc_req *reqs; /* ops in flight or being abandoned */
	char holder[64];     /* the reservation holder last seen, or "" */

	/* The worker; todo and done under mu. */
	bool w_up;
	pthread_t w_th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fc_req *todo, **todo_tail, *done;
	bool quit;
	int efd;
	struct cmsd_watch *w_watch;
};

static const char *const fc_keys[] = {
	"wwn", "device", "mount", "fstype", "reservation", "key", NULL};
static const char *const fc_fstypes[] = {"ext4", "xfs", NULL};
static const char *const fc_reservations[] = {
	"write-exclusive-registrants-only",
	"exclusive-access",
	"write-exclusive",
	"exclusive-access-registrants-only",
	"none",
	NULL};
static const char *const fc_what_names[] = {"promote", "demote", "stop",
					    "start", "fence_peer"};
/* SPC TYPE codes, in the order of fc_reservations. */
static const unsigned fc_type_codes[] = {FC_PRT_WE_RO, FC_PRT_EA, FC_PRT_WE,
					 FC_PRT_EA_RO, 0};

/* ---- configuration ---- */

/* 0x... or naa.... with 16 (NAA 5) or 32 (NAA 6) hex digits; stores the
 * digits in lower case, as udev names /dev/disk/by-id/wwn-0x... */
static int fc_parse_wwn(const char *w, char *out)
{
	const char *hex;
	size_t n;

	if (strncmp(w, "0x", 2) == 0)
		hex = w + 2;
	else if (strncmp(w, "naa.", 4) == 0)
		hex = w + 4;
	else
		return -EINVAL;
	n = strlen(hex);
	if (n != 16 && n != 32)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return -EINVAL;
		out[i] = (char)tolower((unsigned char)hex[i]);
	}
	out[n] = '\0';
	return 0;
}

static int fc_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		   struct fc *f, const char **dev, const char **mount)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *wwn = NULL;
	int e;
	int bad = cf->check_keys(c, fc_keys);
	bool has_wwn = cf->count(c, "wwn") > 0;
	bool has_dev = cf->count(c, "device") > 0;

	/* Two ways of naming the LUN could name two LUNs. */
	if (has_wwn && has_dev)
		bad += cf->error(c, "device",
				 "give either <wwn> or <device>, not "
				 "both") < 0;
	else if (!has_wwn && !has_dev)
		bad += cf->error(c, NULL,
				 "needs <wwn> (preferred: stable across "
				 "reboots) or <device>") < 0;
	if (cf->get_string(c, "wwn", NULL, &wwn) < 0)
		bad++;
	else if (wwn && fc_parse_wwn(wwn, f->wwn) < 0)
		bad += cf->error(c, "wwn",
				 "\"%s\" is not a WWN (0x or naa. and 16 or 32 "
				 "hex digits)",
				 wwn) < 0;
	bad += pu_abs_path(h, c, "device", false, dev);
	/* No default: a shared LUN mounted over the wrong directory would hide
	 * what is there. */
	bad += pu_abs_path(h, c, "mount", true, mount);
	bad += cf->get_enum(c, "fstype", fc_fstypes, FC_EXT4, &e) < 0;
	f->fstype = (enum fc_fstype)e;
	bad += cf->get_enum(c, "reservation", fc_reservations, FC_PR_WE_RO,
			    &e) < 0;
	f->reservation = (enum fc_pr_type)e;
	bad += pu_pr_key(h, c, &f->key);
	return bad;
}

static int fc_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct fc f;
	const char *dev = NULL, *mount = NULL;

	memset(&f, 0, sizeof(f));
	if (fc_read(h, c, &f, &dev, &mount))
		return -EINVAL;
	if (f.key && f.reservation == FC_PR_NONE)
		h->log(h, CMSD_LOG_WARNING,
		       "<key> is unused with <reservation>none</reservation>");
	/* Both nodes derive a key from their own id; without an id there
	 * is nothing to derive it from. */
	if (!f.key && f.reservation != FC_PR_NONE &&
	    !fc_pr_key_from_node(h->node_id)) {
		h->conf->error(c, NULL,
			       "no node id to derive a reservation key "
			       "from: give <key>0xHEX</key>");
		return -EINVAL;
	}
	return 0;
}

/* ---- small helpers (both threads) ---- */

/* snprintf for messages: a long path cut short is fine in a log line. */
static void fc_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fc_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Appends a line for the log to r->notes; level is E, W, N or I. */
static void fc_note(struct fc_req *r, char level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fc_note(struct fc_req *r, char level, const char *fmt, ...)
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
	if (r->notes_len + (size_t)n + 3 > r->notes_cap) {
		size_t cap = r->notes_cap ? r->notes_cap * 2 : 1024;
		while (cap < r->notes_len + (size_t)n + 3)
			cap *= 2;
		char *p = realloc(r->notes, cap);
		if (!p)
			return; /* the line is lost, not the op */
		r->notes = p;
		r->notes_cap = cap;
	}
	r->notes[r->notes_len++] = level;
	memcpy(r->notes + r->notes_len, line, (size_t)n);
	r->notes_len += (size_t)n;
	r->notes[r->notes_len++] = '\n';
	r->notes[r->notes_len] = '\0';
}

/* Logs the worker's lines for r, each at its level. */
static void fc_notes_log(const struct fc *f, const struct fc_req *r)
{
	const struct cmsd_host *h = f->base.host;
	const char *p = r->notes;

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
		h->log(h, lv, "%s: %.*s", fc_what_names[r->what], len, p + 1);
		p = nl ? nl + 1 : p + strlen(p);
	}
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void fc_unescape(char *s)
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

/* One line of /proc/self/mountinfo. */
struct fc_mnt {
	dev_t dev;
	bool ro; /* read-only as mounted, or the file system is */
	char point[PATH_MAX];
	char fstype[32];
	char source[256];
};

static bool fc_has_opt(const char *opts, const char *opt)
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

static bool fc_mnt_parse(char *line, struct fc_mnt *m)
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
	fc_unescape(tok[4]);
	fc_unescape(src);
	fc_fmt(m->point, sizeof(m->point), "%s", tok[4]);
	fc_fmt(m->fstype, sizeof(m->fstype), "%s", type);
	fc_fmt(m->source, sizeof(m->source), "%s", src);
	m->ro = fc_has_opt(tok[5], "ro") || fc_has_opt(sopts, "ro");
	return true;
}

/* Calls fn for each mount in order until it returns false.  0 or -errno. */
static int fc_mnt_scan(bool (*fn)(const struct fc_mnt *m, void *arg), void *arg)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	struct fc_mnt *m;

	if (!fp)
		return -errno;
	m = malloc(sizeof(*m));
	if (!m) {
		fclose(fp);
		return -ENOMEM;
	}
	while (getline(&line, &cap, fp) > 0)
		if (fc_mnt_parse(line, m) && !fn(m, arg))
			break;
	free(m);
	free(line);
	fclose(fp);
	return 0;
}

struct fc_mnt_query {
	const char *point; /* the last mount on this path, or */
	dev_t dev;	   /* the first mount of this device */
	bool hit;
	struct fc_mnt m;
};

static bool fc_mnt_match(const struct fc_mnt *m, void *arg)
{
	struct fc_mnt_query *q = arg;

	if (q->point ? strcmp(m->point, q->point) != 0 : m->dev != q->dev)
		return true;
	q->hit = true;
	q->m = *m;
	/* Mounts stacked on one path: the last listed is the one seen. */
	return q->point != NULL;
}

/* 1 with *out filled when found, 0 when not, or -errno. */
static int fc_mnt_at(const char *point, struct fc_mnt *out)
{
	struct fc_mnt_query *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->point = point;
	rc = fc_mnt_scan(fc_mnt_match, q);
	if (rc == 0 && q->hit) {
		*out = q->m;
		rc = 1;
	}
	free(q);
	return rc;
}

static int fc_mnt_of(dev_t dev, struct fc_mnt *out)
{
	struct fc_mnt_query *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->dev = dev;
	rc = fc_mnt_scan(fc_mnt_match, q);
	if (rc == 0 && q->hit) {
		*out = q->m;
		rc = 1;
	}
	free(q);
	return rc;
}

/* <mount> as mountinfo shows it: symlinks resolved when it exists. */
static void fc_canon(const char *path, char *out)
{
	size_t n;

	if (realpath(path, out))
		return;
	fc_fmt(out, PATH_MAX, "%s", path);
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
}

/*
 * Finds the LUN.  Fills dev (the device node, symlinks resolved) and *rdev.
 * 0, or -ENODEV (absent), -ENOTBLK, -ENOMEDIUM (a device of size 0: a loop
 * device with nothing attached, an emptied path) with why[] saying which.
 */
static int fc_find(const struct fc *f, char *dev, dev_t *rdev, char *why,
		   size_t why_len)
{
	static const char *const pfx[] = {"dm-uuid-mpath-3", "wwn-0x",
					  "scsi-3"};
	char path[PATH_MAX], sys[128], size[32] = "";
	const char *name = f->device;
	struct stat st;
	int fd;

	*rdev = 0;
	dev[0] = '\0';
	if (f->device) {
		if (stat(f->device, &st) < 0) {
			int e = errno;
			fc_fmt(why, why_len, "device %s: %s", f->device,
			       strerror(e));
			return e == ENOENT ? -ENODEV : -e;
		}
	} else {
		size_t i;
		/* Multipath first: a single path of a multipathed LUN is
		 * held by device-mapper and must not be mounted. */
		for (i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++) {
			fc_fmt(path, sizeof(path), FC_BY_ID "/%s%s", pfx[i],
			       f->wwn);
			if (stat(path, &st) == 0)
				break;
		}
		if (i == sizeof(pfx) / sizeof(pfx[0])) {
			fc_fmt(why, why_len,
			       "no LUN with WWN 0x%s on this host: none "
			       "of " FC_BY_ID
			       "/{dm-uuid-mpath-3,wwn-0x,scsi-3}%s "
			       "exists (is the LUN mapped to this host's "
			       "HBAs, and the SCSI bus rescanned?)",
			       f->wwn, f->wwn);
			return -ENODEV;
		}
		name = path;
	}
	if (!S_ISBLK(st.st_mode)) {
		fc_fmt(why, why_len, "%s is not a block device", name);
		return -ENOTBLK;
	}
	if (!realpath(name, dev))
		fc_fmt(dev, PATH_MAX, "%s", name);
	*rdev = st.st_rdev;
	fc_fmt(sys, sizeof(sys), "/sys/dev/block/%u:%u/size", major(st.st_rdev),
	       minor(st.st_rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, size, sizeof(size) - 1);
		size[n > 0 ? n : 0] = '\0';
		close(fd);
		if (strcmp(size, "0\n") == 0) {
			fc_fmt(why, why_len,
			       "%s (%s) has no medium: its size is 0", name,
			       dev);
			*rdev = 0;
			return -ENOMEDIUM;
		}
	}
	return 0;
}

/* ---- the worker's jobs (worker thread: they touch only r and f's
 * configuration) ---- */

static int fc_mkdirs(const char *path, struct fc_req *r)
{
	char p[PATH_MAX];

	fc_fmt(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			fc_note(r, 'E', "cannot create the mount point %s: %s",
				p, strerror(e));
			return -e;
		}
		*s = c;
		if (!c)
			break;
	}
	fc_note(r, 'N', "created the mount point %s", path);
	return 0;
}

static void fc_job_prepare(const struct fc *f, struct fc_req *r)
{
	struct stat st;
	struct fc_mnt m;
	DIR *d;
	int fd, rc;

	if (stat(f->mount, &st) < 0) {
		if (errno != ENOENT) {
			r->rc = -errno;
			fc_note(r, 'E', "mount point %s: %s", f->mount,
				strerror(errno));
			return;
		}
		/* Nothing there to hide: the directory is ours to make. */
		if ((r->rc = fc_mkdirs(f->mount, r)) < 0)
			return;
	} else if (!S_ISDIR(st.st_mode)) {
		r->rc = -ENOTDIR;
		fc_note(r, 'E', "mount point %s is not a directory", f->mount);
		return;
	}
	fc_canon(f->mount, r->mp);
	rc = fc_mnt_at(r->mp, &m);
	if (rc < 0) {
		r->rc = rc;
		fc_note(r, 'E', "cannot read /proc/self/mountinfo: %s",
			strerror(-rc));
		return;
	}
	if (rc == 1 && m.dev == r->rdev) {
		if (m.ro) {
			r->rc = -EROFS;
			fc_note(r, 'E',
				"%s is mounted on %s read-only (file system "
				"errors? see the kernel log): unmount it and "
				"check it by hand",
				r->dev, r->mp);
			return;
		}
		r->found = FC_ADOPT;
		return;
	}
	if (rc == 1) {
		r->rc = -EBUSY;
		fc_note(r, 'E',
			"%s is already mounted from %s (%s), not from the LUN "
			"%s: refusing to mount over it",
			r->mp, m.source, m.fstype, r->dev);
		return;
	}
	d = opendir(r->mp);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				fc_note(r, 'W',
					"%s is not empty: what is in it stays "
					"hidden while the LUN is mounted",
					r->mp);
				break;
			}
		closedir(d);
	}
	/* The kernel holds a mounted block device exclusively: an exclusive
	 * open tells whether this host uses the LUN already (mounted
	 * elsewhere, maybe in another mount namespace), where e2fsck must
	 * not run and the mount shares the kernel's file system. */
	fd = open(r->dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		r->found = FC_FREE;
		return;
	}
	if (errno != EBUSY) {
		r->rc = -errno;
		fc_note(r, 'E', "cannot open %s: %s", r->dev, strerror(errno));
		return;
	}
	r->found = FC_BUSY;
	if (fc_mnt_of(r->rdev, &m) == 1)
		fc_note(r, 'N',
			"%s is in use on this host (mounted on %s): no e2fsck; "
			"the new mount shares that file system",
			r->dev, m.point);
	else
		fc_note(r, 'N',
			"%s is in use on this host (by another program or "
			"mount namespace): no e2fsck",
			r->dev);
}

static void fc_job_mount(const struct fc *f, struct fc_req *r)
{
	static const char *const types[] = {"ext4", "xfs"};
	/* ext4's own default may be to carry on after errors: remount
	 * read-only instead, which the monitor reports. */
	const char *data = f->fstype == FC_EXT4 ? "errors=remount-ro" : NULL;
	struct fc_mnt m;
	int rc;

	if (mount(r->dev, r->mp, types[f->fstype], MS_NODEV | MS_NOSUID, data) <
	    0) {
		int e = errno;
		r->rc = -e;
		fc_note(r, 'E', "cannot mount %s on %s (%s): %s", r->dev, r->mp,
			types[f->fstype], strerror(e));
		if (e == EINVAL)
			fc_note(r, 'E',
				"is %s an intact %s file system? (see the "
				"kernel log and blkid %s)",
				r->dev, types[f->fstype], r->dev);
		return;
	}
	/* mount(2) said yes: it is mounted, and a demote must find it.  A
	 * mountinfo that disagrees only earns a warning (the monitor then
	 * reports what it sees). */
	rc = fc_mnt_at(r->mp, &m);
	if (rc != 1 || m.dev != r->rdev)
		fc_note(r, 'W',
			"mounted %s on %s, but /proc/self/mountinfo does not "
			"show it there",
			r->dev, r->mp);
}

struct fc_scan {
	dev_t dev;
	const char *mp;
	size_t mp_len;
	struct fc_req *r;
	int n;
};

static bool fc_submount(const struct fc_mnt *m, void *arg)
{
	struct fc_scan *s = arg;

	if (strncmp(m->point, s->mp, s->mp_len) == 0 &&
	    m->point[s->mp_len] == '/') {
		fc_note(s->r, 'E', "%s is held by a mount on %s (%s from %s)",
			s->mp, m->point, m->fstype, m->source);
		s->n++;
	}
	return true;
}

/* Does /proc/PID/NAME (a magic link) lead into the file system? */
static bool fc_link_on(const char *pid, const char *name, dev_t dev,
		       char *target, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	ssize_t n;

	fc_fmt(p, sizeof(p), "/proc/%s/%s", pid, name);
	if (stat(p, &st) < 0 || st.st_dev != dev)
		return false;
	n = readlink(p, target, len - 1);
	target[n > 0 ? n : 0] = '\0';
	return true;
}

/* Why process pid holds the file system: the first reason found and how
 * many more, or false. */
static bool fc_proc_holds(const char *pid, dev_t dev, char *why, size_t len)
{
	char p[PATH_MAX], t[PATH_MAX], first[PATH_MAX + 32] = "";
	int more = 0;
	DIR *d;
	FILE *fp;

	if (fc_link_on(pid, "cwd", dev, t, sizeof(t)))
		fc_fmt(first, sizeof(first), "working directory %s", t);
	if (fc_link_on(pid, "root", dev, t, sizeof(t))) {
		if (*first)
			more++;
		else
			fc_fmt(first, sizeof(first), "root directory %s", t);
	}
	if (fc_link_on(pid, "exe", dev, t, sizeof(t))) {
		if (*first)
			more++;
		else
			fc_fmt(first, sizeof(first), "program %s", t);
	}
	fc_fmt(p, sizeof(p), "/proc/%s/fd", pid);
	d = opendir(p);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char name[300];
			if (e->d_name[0] == '.')
				continue;
			fc_fmt(name, sizeof(name), "fd/%s", e->d_name);
			if (!fc_link_on(pid, name, dev, t, sizeof(t)))
				continue;
			if (*first)
				more++;
			else
				fc_fmt(first, sizeof(first), "fd %s on %s",
				       e->d_name, t);
		}
		closedir(d);
	}
	/* Mapped files (libraries, mmap) hold it without an fd. */
	fc_fmt(p, sizeof(p), "/proc/%s/maps", pid);
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
			fc_fmt(first, sizeof(first), "mapping of %s",
			       off ? line + off : "a file");
		}
		free(line);
		fclose(fp);
	}
	if (!*first)
		return false;
	if (more)
		fc_fmt(why, len, "%s (and %d more)", first, more);
	else
		fc_fmt(why, len, "%s", first);
	return true;
}

/* Logs who keeps the mount busy: mounts below it, then processes. */
static void fc_holders(struct fc_req *r, dev_t dev)
{
	struct fc_scan s = {.dev = dev, .mp = r->mp, .r = r};
	char comm[64], why[PATH_MAX + 64], p[64];
	int extra = 0;
	DIR *d;

	s.mp_len = strlen(r->mp);
	fc_mnt_scan(fc_submount, &s);
	d = opendir("/proc");
	if (!d) {
		fc_note(r, 'E', "cannot list /proc to name the holders: %s",
			strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) ||
		    !fc_proc_holds(e->d_name, dev, why, sizeof(why)))
			continue;
		if (s.n >= FC_HOLDERS_MAX) {
			extra++;
			continue;
		}
		fc_fmt(p, sizeof(p), "/proc/%s/comm", e->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
		if (fd >= 0)
			close(fd);
		comm[n > 0 ? n : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		fc_note(r, 'E', "%s is held by pid %s (%s): %s", r->mp,
			e->d_name, comm, why);
		s.n++;
	}
	closedir(d);
	if (extra)
		fc_note(r, 'E', "%s is held by %d more processes", r->mp,
			extra);
	if (!s.n && !extra)
		fc_note(r, 'E',
			"no process or mount found holding %s (a kernel user: "
			"a swap file, a loop device, an NFS export?)",
			r->mp);
}

static void fc_job_umount(const struct fc *f, struct fc_req *r)
{
	static const char *const types[] = {"ext4", "xfs"};
	struct fc_mnt m;
	int n = 0, rc;

	if (access(f->mount, F_OK) < 0 && errno == ENOENT) {
		fc_note(r, 'I', "%s does not exist: nothing is mounted there",
			f->mount);
		return;
	}
	fc_canon(f->mount, r->mp);
	while ((rc = fc_mnt_at(r->mp, &m)) == 1 && n < FC_UMOUNT_MAX) {
		/* What the LUN has mounted there: its device as found now or
		 * as mounted before (the LUN may have gone away since); with
		 * neither known, the mount point's own file system type. */
		bool ours = (r->rdev && m.dev == r->rdev) ||
			    (r->known && m.dev == r->known) ||
			    (!r->rdev && !r->known &&
			     strcmp(m.fstype, types[f->fstype]) == 0);
		if (!ours) {
			if (!n)
				fc_note(r, 'W',
					"%s is mounted from %s (%s), not from "
					"the LUN: left alone",
					r->mp, m.source, m.fstype);
			break;
		}
		/* Never MNT_DETACH: a lazily unmounted file system stays in
		 * use, and the peer would mount it at the same time. */
		if (umount2(r->mp, UMOUNT_NOFOLLOW) < 0) {
			int e = errno;
			r->rc = -e;
			fc_note(r, 'E', "cannot unmount %s (%s): %s", r->mp,
				m.source, strerror(e));
			if (e == EBUSY)
				fc_holders(r, m.dev);
			return;
		}
		fc_note(r, 'I', "unmounted %s from %s", m.source, r->mp);
		n++;
	}
	if (rc < 0) {
		r->rc = rc;
		fc_note(r, 'E', "cannot read /proc/self/mountinfo: %s",
			strerror(-rc));
	} else if (rc == 1 && n == FC_UMOUNT_MAX) {
		r->rc = -EBUSY;
		fc_note(r, 'E', "%s is still mounted after %d unmounts", r->mp,
			n);
	} else if (!n && rc == 0) {
		fc_note(r, 'I', "%s was not mounted", r->mp);
	}
}

/* ---- persistent reservations (worker thread) ---- */

/* fc_pr's transport: SG_IO on an open block device. */
static int fc_sg_exec(void *arg, const uint8_t *cdb, size_t cdb_len,
		      enum fc_pr_dir dir, uint8_t *buf, size_t len,
		      uint8_t *status, uint8_t *sense, size_t *sense_len)
{
	sg_io_hdr_t io;

	memset(&io, 0, sizeof(io));
	io.interface_id = 'S';
	io.cmd_len = (unsigned char)cdb_len;
	io.cmdp = (unsigned char *)cdb;
	io.dxfer_direction =
		dir == FC_PR_FROM_DEV ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV;
	io.dxferp = buf;
	io.dxfer_len = (unsigned)len;
	io.sbp = sense;
	io.mx_sb_len = (unsigned char)*sense_len;
	io.timeout = FC_SG_TIMEOUT_MS;
	if (ioctl(*(int *)arg, SG_IO, &io) < 0)
		return -errno;
	/* The command never reached the LUN (link down, path failed,
	 * timeout); DRIVER_SENSE (8) only says sense data came back. */
	if (io.host_status ||
	    ((io.driver_status & 0x0f) && (io.driver_status & 0x0f) != 0x08))
		return -EIO;
	*status = io.status;
	*sense_len = io.sb_len_wr;
	return 0;
}

struct fc_pr_ctx {
	struct fc_req *r;
	bool quiet; /* "no PR" said before: its lines at info level */
};

static void fc_pr_note(void *arg, char level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fc_pr_note(void *arg, char level, const char *fmt, ...)
{
	struct fc_pr_ctx *ctx = arg;
	char line[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ctx->quiet && level == 'E')
		level = 'I';
	fc_note(ctx->r, level, "%s", line);
}

/*
 * The LUN's SCSI paths: each path of a multipath map (its slaves), since a
 * registration belongs to one path (I_T nexus), else the device itself.
 * The number of paths, or -errno (noted).
 */
static int fc_pr_paths(struct fc_req *r, char (*paths)[PATH_MAX])
{
	char sys[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	fc_fmt(sys, sizeof(sys), "/sys/dev/block/%u:%u/slaves", major(r->rdev),
	       minor(r->rdev));
	d = opendir(sys);
	while (d && (e = readdir(d)) && n < FC_PATHS_MAX) {
		if (e->d_name[0] == '.')
			continue;
		fc_fmt(paths[n++], PATH_MAX, "/dev/%s", e->d_name);
	}
	if (d)
		closedir(d);
	if (n == 0)
		fc_fmt(paths[n++], PATH_MAX, "%s", r->dev);
	return n;
}

enum fc_pr_act {
	FC_PR_START,
	FC_PR_ACQUIRE,
	FC_PR_FENCE,
	FC_PR_RELEASE,
	FC_PR_STOP
};

/*
 * Runs a reservation step on the LUN: registrations on every path, the
 * reservation through the first.  0 or -errno, with notes.  The worker's
 * fields of f (what the array refused) are its own.
 */
static int fc_job_pr(struct fc *f, struct fc_req *r, enum fc_pr_act act)
{
	static const char *const verbs[] = {
		"use it", "mount it", "fence the peer through it", "", ""};
	char(*paths)[PATH_MAX] = calloc(FC_PATHS_MAX, PATH_MAX);
	struct fc_pr_io io[FC_PATHS_MAX];
	int fds[FC_PATHS_MAX];
	unsigned type = fc_type_codes[f->reservation];
	struct fc_pr_ctx ctx = {.r = r, .quiet = f->pr_nopr_said};
	struct fc_pr_resv rv;
	uint64_t victim = 0;
	unsigned removed = 0;
	int n, i, rc = 0;

	if (!paths)
		return -ENOMEM;
	n = fc_pr_paths(r, paths);
	for (i = 0; i < n; i++) {
		/* Write access for PERSISTENT RESERVE OUT. */
		fds[i] = open(paths[i], O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fds[i] < 0) {
			rc = -errno;
			fc_note(r, 'E', "cannot open %s for SG_IO: %s",
				paths[i], strerror(errno));
			break;
		}
		io[i] = (struct fc_pr_io){
			.exec = fc_sg_exec,
			.arg = &fds[i],
			.note = fc_pr_note,
			.note_arg = &ctx,
			.dev = paths[i],
			.no_aptpl = f->pr_no_aptpl,
			.no_abort = f->pr_no_abort,
		};
	}
	n = i;
	switch (rc ? -1 : (int)act) {
	case FC_PR_START:
		for (i = 0; i < n && rc == 0; i++)
			rc = fc_pr_register(&io[i], f->pr_key);
		if (rc == 0 && fc_pr_read_resv(&io[0], &rv) == 0) {
			r->resv_known = true;
			r->resv_held = rv.held;
			r->resv_key = rv.key;
		}
		break;
	case FC_PR_ACQUIRE:
	case FC_PR_FENCE:
		for (i = 1; i < n && rc == 0; i++)
			rc = fc_pr_register(&io[i], f->pr_key);
		if (rc == 0)
			rc = fc_pr_acquire(&io[0], f->pr_key, type, &victim);
		/* Promote too: after a clean handover (the old master
		 * RELEASEd, we RESERVEd) nobody was preempted, and under a
		 * registrants-only type the old master's paths, still
		 * registered, could write. */
		if (rc == 0)
			rc = fc_pr_fence_others(&io[0], f->pr_key, type,
						&removed);
		if (rc == 0) {
			r->resv_known = r->resv_held = true;
			r->resv_key = f->pr_key;
		}
		break;
	case FC_PR_RELEASE:
		rc = fc_pr_release(&io[0], f->pr_key, type);
		if (rc == 0 && fc_pr_read_resv(&io[0], &rv) == 0) {
			r->resv_known = true;
			r->resv_held = rv.held;
			r->resv_key = rv.key;
		}
		break;
	case FC_PR_STOP:
		rc = fc_pr_release(&io[0], f->pr_key, type);
		for (i = 0; i < n && rc == 0; i++)
			rc = fc_pr_unregister(&io[i]);
		if (rc == 0) {
			r->resv_known = true;
			fc_note(r, 'I',
				"unregistered key 0x%" PRIx64 " from %s",
				f->pr_key, r->dev);
		}
		break;
	}
	for (i = 0; i < n; i++) {
		f->pr_no_aptpl |= io[i].no_aptpl;
		f->pr_no_abort |= io[i].no_abort;
		close(fds[i]);
	}
	if (rc == -EOPNOTSUPP && (act == FC_PR_RELEASE || act == FC_PR_STOP)) {
		/* Nothing can have been reserved or registered on it. */
		rc = 0;
	} else if (rc == -EOPNOTSUPP) {
		if (!f->pr_nopr_said)
			fc_note(r, 'E',
				"<reservation>%s</reservation> asks for SCSI-3 "
				"persistent reservations, which %s does not "
				"support: refusing to %s without fencing; give "
				"<reservation>none</reservation> to run "
				"without fencing",
				fc_reservations[f->reservation], r->dev,
				verbs[act]);
		f->pr_nopr_said = true;
	} else if (rc == 0 && act != FC_PR_RELEASE && act != FC_PR_STOP) {
		/* A device that answers now (a LUN replaced behind the same
		 * path) gets its errors at error level again. */
		f->pr_nopr_said = false;
	}
	free(paths);
	return rc;
}

static void *fc_worker(void *arg)
{
	struct fc *f = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->todo && !f->quit)
			pthread_cond_wait(&f->cv, &f->mu);
		if (!f->todo)
			break;
		struct fc_req *r = f->todo;
		f->todo = r->next_job;
		if (!f->todo)
			f->todo_tail = &f->todo;
		pthread_mutex_unlock(&f->mu);
		switch (r->step) {
		case FC_PREPARE:
			/* Fenced before anything is touched. */
			if (f->reservation != FC_PR_NONE)
				r->rc = fc_job_pr(f, r, FC_PR_ACQUIRE);
			if (r->rc == 0)
				fc_job_prepare(f, r);
			break;
		case FC_MOUNT:
			fc_job_mount(f, r);
			break;
		case FC_UMOUNT:
			fc_job_umount(f, r);
			/* Released only once nothing is mounted: a mount
			 * left behind stays fenced from the peer. */
			if (r->rc == 0 && f->reservation != FC_PR_NONE) {
				if (!r->rdev)
					fc_note(r, 'W',
						"the LUN is gone: its "
						"reservation and registration "
						"stay on the array");
				else
					r->rc = fc_job_pr(
						f, r,
						r->what == FC_DO_STOP
							? FC_PR_STOP
							: FC_PR_RELEASE);
			}
			break;
		case FC_REGISTER:
			r->rc = fc_job_pr(f, r, FC_PR_START);
			break;
		case FC_FENCE:
			r->rc = fc_job_pr(f, r, FC_PR_FENCE);
			break;
		}
		pthread_mutex_lock(&f->mu);
		/* In order: appended at the tail of done. */
		struct fc_req **t = &f->done;
		while (*t)
			t = &(*t)->next_job;
		r->next_job = NULL;
		*t = r;
		if (write(f->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow with one writer. */
		}
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- on the loop ---- */

static void fc_req_free(struct fc_req *r)
{
	struct fc_req **p = &r->f->reqs;

	while (*p && *p != r)
		p = &(*p)->next;
	if (*p)
		*p = r->next;
	free(r->notes);
	free(r);
}

/* The op's end: its completion unless cancelled. */
static void fc_req_end(struct fc_req *r, int rc)
{
	const struct cmsd_host *h = r->f->base.host;
	struct cmsd_op *op = r->op;

	fc_req_free(r);
	if (op)
		h->op_done(op, rc);
}

static struct fc_req *fc_req_new(struct fc *f, struct cmsd_op *op,
				 enum fc_what what)
{
	struct fc_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->f = f;
	r->op = op;
	r->what = what;
	r->next = f->reqs;
	f->reqs = r;
	return r;
}

static void fc_job_done(struct fc_req *r);

static void fc_w_ready(int fd, unsigned events, void *arg)
{
	struct fc *f = arg;
	uint64_t n;
	struct fc_req *list;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: the results were taken at the last wake-up. */
	}
	pthread_mutex_lock(&f->mu);
	list = f->done;
	f->done = NULL;
	pthread_mutex_unlock(&f->mu);
	while (list) {
		struct fc_req *r = list;
		list = r->next_job;
		r->next_job = NULL;
		fc_job_done(r);
	}
}

static int fc_worker_start(struct fc *f)
{
	const struct cmsd_host *h = f->base.host;
	sigset_t all, old;
	int rc;

	if (f->w_up)
		return 0;
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->efd < 0)
		return -errno;
	f->w_watch = h->watch_new(h, f->efd, CMSD_WATCH_READ, fc_w_ready, f);
	if (!f->w_watch) {
		close(f->efd);
		f->efd = -1;
		return -ENOMEM;
	}
	f->todo = NULL;
	f->todo_tail = &f->todo;
	f->done = NULL;
	f->quit = false;
	/* The agent's signals are for its loop thread, not this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&f->w_th, NULL, fc_worker, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		h->watch_free(f->w_watch);
		f->w_watch = NULL;
		close(f->efd);
		f->efd = -1;
		return -rc;
	}
	f->w_up = true;
	return 0;
}

/* Hands r's next step to the worker.  0 or -errno. */
static int fc_submit(struct fc_req *r, enum fc_step step)
{
	struct fc *f = r->f;
	int rc = fc_worker_start(f);

	if (rc < 0) {
		f->base.host->log(f->base.host, CMSD_LOG_ERR,
				  "%s: cannot start the mount thread: %s",
				  fc_what_names[r->what], strerror(-rc));
		return rc;
	}
	r->step = step;
	r->rc = 0;
	r->notes_len = 0;
	if (r->notes)
		r->notes[0] = '\0';
	pthread_mutex_lock(&f->mu);
	r->next_job = NULL;
	*f->todo_tail = r;
	f->todo_tail = &r->next_job;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

/* Submits step, or ends r with the error. */
static void fc_next(struct fc_req *r, enum fc_step step)
{
	int rc = fc_submit(r, step);

	if (rc < 0)
		fc_req_end(r, rc);
}

static int fc_fsck_path(const char **out)
{
	static const char *const paths[] = {"/usr/sbin/e2fsck", "/sbin/e2fsck"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0) {
			*out = paths[i];
			return 0;
		}
	return -ENOENT;
}

static void fc_fsck_done(const struct cmsd_child_result *res, void *arg)
{
	struct fc_req *r = arg;
	struct fc *f = r->f;
	const struct cmsd_host *h = f->base.host;
	enum cmsd_log_level lv = CMSD_LOG_INFO;
	const char *s = res->output ? res->output : "";
	int code = res->exited ? res->exit_code : -1, rc = 0;
	char how[512];

	r->child = NULL;
	if (!r->op) {
		/* Cancelled: the agent killed it; nothing is mounted. */
		fc_req_free(r);
		return;
	}
	if (res->timed_out) {
		fc_fmt(how, sizeof(how), "timed out after %u s",
		       FC_FSCK_MS / 1000);
		rc = -ETIMEDOUT;
	} else if (!res->exited) {
		fc_fmt(how, sizeof(how), "was killed by signal %d",
		       res->signal);
		rc = -EINTR;
	} else if (code == 0) {
		fc_fmt(how, sizeof(how), "found the file system clean");
	} else if (code < 4) {
		/* 1, 2: errors corrected (2: "reboot", for a root fs). */
		fc_fmt(how, sizeof(how), "corrected errors (exit %d)", code);
		lv = CMSD_LOG_NOTICE;
	} else if (code & 4) {
		fc_fmt(how, sizeof(how),
		       "left errors uncorrected (exit %d): not mounting; "
		       "run e2fsck %s by hand",
		       code, r->dev);
		rc = -EUCLEAN;
	} else {
		fc_fmt(how, sizeof(how), "failed (exit %d)", code);
		rc = -EIO;
	}
	if (rc)
		lv = CMSD_LOG_ERR;
	h->log(h, lv, "promote: e2fsck -p %s %s", r->dev, how);
	/* Its own words, line by line. */
	for (int lines = 0; *s && lines < 20;) {
		size_t n = strcspn(s, "\n");
		if (n) {
			h->log(h, lv, "promote: e2fsck: %.*s", (int)n, s);
			lines++;
		}
		s += n + (s[n] == '\n');
	}
	if (rc)
		fc_req_end(r, rc);
	else
		fc_next(r, FC_MOUNT);
}

/* e2fsck -p, then the mount; or the mount at once. */
static void fc_promote_check(struct fc_req *r)
{
	struct fc *f = r->f;
	const struct cmsd_host *h = f->base.host;
	const char *fsck = NULL;
	const char *argv[4];
	int rc;

	if (f->fstype != FC_EXT4 || r->found == FC_BUSY) {
		fc_next(r, FC_MOUNT);
		return;
	}
	if (fc_fsck_path(&fsck) < 0) {
		h->log(h, CMSD_LOG_ERR,
		       "promote: e2fsck is not in /usr/sbin or /sbin (package "
		       "e2fsprogs): not mounting %s unchecked",
		       r->dev);
		fc_req_end(r, -ENOENT);
		return;
	}
	argv[0] = fsck;
	argv[1] = "-p";
	argv[2] = r->dev;
	argv[3] = NULL;
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = FC_FSCK_MS,
		.output_max = FC_FSCK_OUTPUT,
		.done = fc_fsck_done,
		.arg = r,
	};
	rc = h->spawn(h, &req, &r->child);
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "promote: cannot run %s: %s", fsck,
		       strerror(-rc));
		fc_req_end(r, rc);
		return;
	}
	h->log(h, CMSD_LOG_INFO, "promote: e2fsck -p %s running as pid %ld",
	       r->dev, (long)h->child_pid(r->child));
}

static void fc_job_done(struct fc_req *r)
{
	struct fc *f = r->f;
	const struct cmsd_host *h = f->base.host;

	fc_notes_log(f, r);
	if (r->resv_known) {
		if (!r->resv_held)
			fc_fmt(f->holder, sizeof(f->holder), "none");
		else
			fc_fmt(f->holder, sizeof(f->holder),
			       "0x%016" PRIx64 "%s", r->resv_key,
			       r->resv_key == f->pr_key ? " (this node)" : "");
	}
	if (r->step == FC_REGISTER && r->rc == 0) {
		f->started = true;
		f->health = -1;
		h->log(h, CMSD_LOG_INFO,
		       "start: the LUN is %s%s%s; registered key 0x%016" PRIx64
		       "; reservation holder: %s",
		       r->dev, f->device ? "" : ", WWN 0x",
		       f->device ? "" : f->wwn, f->pr_key,
		       f->holder[0] ? f->holder : "unknown");
	}
	/* What the kernel did counts even for a cancelled op. */
	if (r->step == FC_MOUNT && r->rc == 0) {
		f->mounted = r->rdev;
		f->promoted = true;
		h->log(h, CMSD_LOG_NOTICE,
		       "promote: mounted %s on %s (%s, nodev,nosuid%s)", r->dev,
		       r->mp, fc_fstypes[f->fstype],
		       f->fstype == FC_EXT4 ? ",errors=remount-ro" : "");
	} else if (r->step == FC_PREPARE && r->rc == 0 &&
		   r->found == FC_ADOPT) {
		f->mounted = r->rdev;
		f->promoted = true;
		h->log(h, CMSD_LOG_NOTICE,
		       "promote: %s is already mounted on %s: adopted", r->dev,
		       r->mp);
	} else if (r->step == FC_UMOUNT && r->rc == 0) {
		f->mounted = 0;
		f->promoted = false;
		if (r->what == FC_DO_STOP)
			f->started = false;
	}
	if (!r->op) {
		fc_req_free(r);
		return;
	}
	if (r->rc < 0 || r->step != FC_PREPARE || r->found == FC_ADOPT) {
		fc_req_end(r, r->rc);
		return;
	}
	fc_promote_check(r);
}

/* ---- ops ---- */

/* The key in use: <key>, or one derived from the node id. */
static int fc_pr_key(struct fc *f, const char *op)
{
	const struct cmsd_host *h = f->base.host;

	if (!f->pr_key)
		f->pr_key = f->key ? f->key : fc_pr_key_from_node(h->node_id);
	if (f->pr_key)
		return 0;
	h->log(h, CMSD_LOG_ERR,
	       "%s: no node id to derive a reservation key from: give "
	       "<key>0xHEX</key>",
	       op);
	return -EINVAL;
}

/* With reservations: the LUN is found, then registered in the worker. */
static int fc_start_pr(struct fc *f, struct cmsd_op *op)
{
	const struct cmsd_host *h = f->base.host;
	char why[512];
	struct fc_req *r;
	int rc = fc_pr_key(f, "start");

	if (rc < 0)
		return rc;
	r = fc_req_new(f, op, FC_DO_START);
	if (!r)
		return -ENOMEM;
	rc = fc_find(f, r->dev, &r->rdev, why, sizeof(why));
	if (rc == 0)
		rc = fc_submit(r, FC_REGISTER);
	else
		h->log(h, CMSD_LOG_ERR, "start: %s", why);
	if (rc < 0) {
		fc_req_free(r);
		return rc;
	}
	return CMSD_PENDING;
}

static int fc_start(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;
	const struct cmsd_host *h = f->base.host;
	char dev[PATH_MAX], why[512];
	dev_t rdev;
	int rc;

	if (f->reservation != FC_PR_NONE)
		return fc_start_pr(f, op);
	rc = fc_find(f, dev, &rdev, why, sizeof(why));
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "start: %s", why);
		return rc;
	}
	if (!f->started)
		h->log(h, CMSD_LOG_INFO, "start: the LUN is %s%s%s", dev,
		       f->device ? "" : ", WWN 0x", f->device ? "" : f->wwn);
	f->started = true;
	f->health = -1;
	return 0;
}

/* demote and stop: unmount in the worker, after any mount it still has. */
static int fc_unmount_op(struct fc *f, struct cmsd_op *op, enum fc_what what)
{
	char why[512];
	struct fc_req *r = fc_req_new(f, op, what);
	int rc;

	if (!r)
		return -ENOMEM;
	/* A LUN gone away leaves its mount: f->mounted names it then. */
	if (fc_find(f, r->dev, &r->rdev, why, sizeof(why)) < 0)
		r->rdev = 0;
	r->known = f->mounted;
	rc = fc_submit(r, FC_UMOUNT);
	if (rc < 0) {
		fc_req_free(r);
		return rc;
	}
	return CMSD_PENDING;
}

static int fc_stop(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;

	return fc_unmount_op(f, op, FC_DO_STOP);
}

static int fc_demote(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;

	return fc_unmount_op(f, op, FC_DO_DEMOTE);
}

/* force: a shared LUN has one copy of the data, never a stale one; it
 * changes nothing here. */
static int fc_promote(void *inst, struct cmsd_op *op, int force)
{
	struct fc *f = inst;
	const struct cmsd_host *h = f->base.host;
	char why[512];
	struct fc_req *r;
	int rc;

	(void)force;
	if (f->reservation != FC_PR_NONE && (rc = fc_pr_key(f, "promote")) < 0)
		return rc;
	r = fc_req_new(f, op, FC_DO_PROMOTE);
	if (!r)
		return -ENOMEM;
	rc = fc_find(f, r->dev, &r->rdev, why, sizeof(why));
	if (rc < 0) {
		h->log(h, CMSD_LOG_ERR, "promote: %s", why);
		fc_req_free(r);
		return rc;
	}
	rc = fc_submit(r, FC_PREPARE);
	if (rc < 0) {
		fc_req_free(r);
		return rc;
	}
	return CMSD_PENDING;
}

/* Logs a change of the monitor's answer, once. */
static int fc_health(struct fc *f, int health, const char *why)
{
	const struct cmsd_host *h = f->base.host;

	if (health != f->health || strcmp(why, f->health_why) != 0) {
		if (health == CMSD_RUNNING && f->health > CMSD_RUNNING)
			h->log(h, CMSD_LOG_NOTICE, "monitor: %s", why);
		else if (health != CMSD_RUNNING)
			h->log(h, CMSD_LOG_ERR, "monitor: %s", why);
	}
	f->health = health;
	fc_fmt(f->health_why, sizeof(f->health_why), "%s", why);
	return health;
}

static int fc_monitor(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;
	char dev[PATH_MAX], mp[PATH_MAX], why[512];
	struct fc_mnt *m;
	struct statvfs sv;
	dev_t rdev;
	int rc, health = CMSD_RUNNING;

	(void)op;
	if (!f->started)
		return CMSD_STOPPED;
	if (fc_find(f, dev, &rdev, why, sizeof(why)) < 0)
		return fc_health(f, CMSD_FAILED, why);
	if (!f->promoted) {
		fc_fmt(why, sizeof(why), "the LUN %s is there", dev);
		return fc_health(f, CMSD_RUNNING, why);
	}
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	fc_canon(f->mount, mp);
	rc = fc_mnt_at(mp, m);
	if (rc < 0) {
		free(m);
		return rc; /* could not tell: UNKNOWN */
	}
	if (rc == 0) {
		fc_fmt(why, sizeof(why), "%s is not mounted any more", mp);
		health = CMSD_FAILED;
	} else if (m->dev != f->mounted) {
		fc_fmt(why, sizeof(why),
		       "%s is mounted from %s (%s), not from the LUN %s", mp,
		       m->source, m->fstype, dev);
		health = CMSD_FAILED;
	} else if (m->dev != rdev) {
		fc_fmt(why, sizeof(why),
		       "the LUN is %s now, but %s is still mounted from the "
		       "device it had before (%s)",
		       dev, mp, m->source);
		health = CMSD_FAILED;
	} else if (m->ro) {
		fc_fmt(why, sizeof(why),
		       "%s is mounted read-only (file system errors? see "
		       "the kernel log)",
		       mp);
		health = CMSD_FAILED;
	} else if (statvfs(mp, &sv) < 0) {
		fc_fmt(why, sizeof(why), "%s: %s", mp, strerror(errno));
		health = CMSD_FAILED;
	} else if (sv.f_flag & ST_RDONLY) {
		fc_fmt(why, sizeof(why), "%s is read-only", mp);
		health = CMSD_FAILED;
	} else {
		fc_fmt(why, sizeof(why), "%s is mounted from %s, writable", mp,
		       dev);
	}
	free(m);
	return fc_health(f, health, why);
}

static int fc_status(void *inst, struct cmsd_op *op,
		     struct cmsd_storage_status *out)
{
	struct fc *f = inst;
	char dev[PATH_MAX], mp[PATH_MAX], why[512];
	struct fc_mnt *m;
	dev_t rdev;
	bool found, mounted = false;

	(void)op;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	found = fc_find(f, dev, &rdev, why, sizeof(why)) == 0;
	fc_canon(f->mount, mp);
	if (fc_mnt_at(mp, m) == 1)
		mounted = (found && m->dev == rdev) ||
			  (f->mounted && m->dev == f->mounted);
	free(m);
	out->role = mounted ? CMSD_ROLE_PRIMARY : CMSD_ROLE_SECONDARY;
	/* This node cannot see the peer's paths to the LUN. */
	out->peer_role = CMSD_ROLE_UNKNOWN;
	/* One copy of the data: current wherever it can be reached. */
	fc_fmt(out->disk, sizeof(out->disk), "%s",
	       found ? "UpToDate" : "Missing");
	fc_fmt(out->peer_disk, sizeof(out->peer_disk), "DUnknown");
	fc_fmt(out->connection, sizeof(out->connection), "Shared");
	out->data_usable = found;
	/* No generation of its own: see the comment at the top. */
	out->generation = 0;
	out->sync_percent = -1;
	out->sync_eta_s = -1;
	/* As last seen by this node's own reservation commands: status does
	 * no device I/O. */
	fc_fmt(out->holder, sizeof(out->holder), "%s",
	       f->reservation == FC_PR_NONE ? "" : f->holder);
	if (!found)
		fc_fmt(out->detail, sizeof(out->detail), "%s", why);
	else if (mounted)
		fc_fmt(out->detail, sizeof(out->detail),
		       "%s mounted on %s (%s)", dev, mp, fc_fstypes[f->fstype]);
	else
		fc_fmt(out->detail, sizeof(out->detail), "%s, not mounted here",
		       dev);
	return 0;
}

static void fc_cancel(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;

	/* Its job or e2fsck comes back later and is dropped then (the agent
	 * kills e2fsck); a mount it still makes is undone by the demote the
	 * agent sends after a cancelled promote, queued behind it. */
	for (struct fc_req *r = f->reqs; r; r = r->next)
		if (r->op == op)
			r->op = NULL;
}

static void fc_destroy(void *inst)
{
	struct fc *f = inst;

	if (!f)
		return;
	if (f->w_up) {
		/* Waits for a mount(2) or umount(2) still in the kernel:
		 * the thread must not outlive the plugin's code. */
		pthread_mutex_lock(&f->mu);
		f->quit = true;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->w_th, NULL);
		f->base.host->watch_free(f->w_watch);
		close(f->efd);
	}
	/* Abandoned ops; the agent drops the children's callbacks. */
	while (f->reqs)
		fc_req_free(f->reqs);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->device);
	free(f->mount);
	free(f);
}

static int fc_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	struct fc *f = calloc(1, sizeof(*f));
	const char *dev = NULL, *mount = NULL;

	if (!f)
		return -ENOMEM;
	f->base.host = h;
	f->health = -1;
	f->efd = -1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (fc_read(h, c, f, &dev, &mount)) {
		fc_destroy(f);
		return -EINVAL;
	}
	f->device = dev ? strdup(dev) : NULL;
	f->mount = strdup(mount);
	if ((dev && !f->device) || !f->mount) {
		fc_destroy(f);
		return -ENOMEM;
	}
	*inst = f;
	return 0;
}

/* With reservations: this node takes the reservation and removes every
 * other registration (the peer's key need not be known). */
static int fc_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	struct fc *f = inst;
	const struct cmsd_host *h = f->base.host;
	char why[512];
	struct fc_req *r;
	int rc;

	if (f->reservation != FC_PR_NONE) {
		if ((rc = fc_pr_key(f, "fence_peer")) < 0)
			return rc;
		r = fc_req_new(f, op, FC_DO_FENCE);
		if (!r)
			return -ENOMEM;
		rc = fc_find(f, r->dev, &r->rdev, why, sizeof(why));
		if (rc == 0) {
			h->log(h, CMSD_LOG_NOTICE,
			       "fence_peer: fencing %s off %s",
			       peer ? peer : "the peer", r->dev);
			rc = fc_submit(r, FC_FENCE);
		} else {
			h->log(h, CMSD_LOG_ERR, "fence_peer: %s", why);
		}
		if (rc < 0) {
			fc_req_free(r);
			return rc;
		}
		return CMSD_PENDING;
	}
	(void)op;
	if (!(f->base.warned & (1u << 11))) {
		f->base.warned |= 1u << 11;
		f->base.host->log(f->base.host, CMSD_LOG_ERR,
				  "fence_peer: no fencing with "
				  "<reservation>none</reservation>");
	}
	return -EOPNOTSUPP;
}

static const struct cmsd_storage_ops fc_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = fc_validate,
	.init = fc_init,
	.start = fc_start,
	.stop = fc_stop,
	.monitor = fc_monitor,
	.cancel = fc_cancel,
	.destroy = fc_destroy,
	.promote = fc_promote,
	.demote = fc_demote,
	.status = fc_status,
	.fence_peer = fc_fence_peer,
	/* A shared LUN has one copy of the data: nothing to resync. */
	.resync = NULL,
};

static const struct cmsd_plugin fc_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-fc",
	.version = "0.3.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "Fibre Channel LUN by WWN, mounted on the master",
	.ops.storage = &fc_ops,
};

CMSD_PLUGIN_DEFINE(fc_plugin)
