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
 *            ABORTs the holder (PREEMPT when refused) on takeover, then
 *            PREEMPTs every other registered key (a clean handover leaves
 *            the old master registered); then mounts as below.  A failure
 *            leaves the LUN unmounted.
 *   demote   unmounts, then RELEASEs (not registered any more: the peer
 *            preempted us, nothing to release).
 *   stop     unmounts, RELEASEs and unregisters (service action key 0).
 *   fence_peer  reserves and PREEMPTs every other key as promote does: a
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
 * The mount layer (prepare, mount, umount with its holders, e2fsck, the
 * worker) is plugins/common/pu_mount.c, shared with storage-iscsi.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <scsi/sg.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fc_pr.h"
#include "plugin_util.h"
#include "pu_mount.h"

#define FC_BY_ID "/dev/disk/by-id"
/* SCSI paths of a multipath map registered one by one. */
#define FC_PATHS_MAX 16
/* One PR command: an array that does not answer within this is failing. */
#define FC_SG_TIMEOUT_MS 30000u

/* <fstype>: enum pu_fstype (pu_mount.h). */

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

struct fc;

/* One op across its steps; also kept after a cancel until its job or
 * child is back. */
struct fc_req {
	struct pu_job job; /* first: the worker's job is the request */
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
	enum pu_found found;
	/* The reservation as the worker left it, when resv_known. */
	bool resv_known, resv_held;
	uint64_t resv_key;
	struct pu_notes notes; /* lines for the log */

	struct cmsd_child *child; /* e2fsck */
	struct fc_req *next;	  /* f->reqs */
};

struct fc {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char wwn[33];	     /* lower-case hex digits, or "" */
	char *device;	     /* the device path when given instead */
	char *mount;
	enum pu_fstype fstype;
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

	/* mount(2), umount(2) and SG_IO, in the order the ops asked. */
	struct pu_worker w;
};

static const char *const fc_keys[] = {
	"wwn", "device", "mount", "fstype", "reservation", "key", NULL};
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
	bad += cf->get_enum(c, "fstype", pu_fstypes, PU_FS_EXT4, &e) < 0;
	f->fstype = (enum pu_fstype)e;
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

/* ---- small helpers ---- */

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
			pu_fmt(why, why_len, "device %s: %s", f->device,
			       strerror(e));
			return e == ENOENT ? -ENODEV : -e;
		}
	} else {
		size_t i;
		/* Multipath first: a single path of a multipathed LUN is
		 * held by device-mapper and must not be mounted. */
		for (i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++) {
			pu_fmt(path, sizeof(path), FC_BY_ID "/%s%s", pfx[i],
			       f->wwn);
			if (stat(path, &st) == 0)
				break;
		}
		if (i == sizeof(pfx) / sizeof(pfx[0])) {
			pu_fmt(why, why_len,
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
		pu_fmt(why, why_len, "%s is not a block device", name);
		return -ENOTBLK;
	}
	if (!realpath(name, dev))
		pu_fmt(dev, PATH_MAX, "%s", name);
	*rdev = st.st_rdev;
	pu_fmt(sys, sizeof(sys), "/sys/dev/block/%u:%u/size", major(st.st_rdev),
	       minor(st.st_rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, size, sizeof(size) - 1);
		size[n > 0 ? n : 0] = '\0';
		close(fd);
		if (strcmp(size, "0\n") == 0) {
			pu_fmt(why, why_len,
			       "%s (%s) has no medium: its size is 0", name,
			       dev);
			*rdev = 0;
			return -ENOMEDIUM;
		}
	}
	return 0;
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
	pu_note(&ctx->r->notes, level, "%s", line);
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

	pu_fmt(sys, sizeof(sys), "/sys/dev/block/%u:%u/slaves", major(r->rdev),
	       minor(r->rdev));
	d = opendir(sys);
	while (d && (e = readdir(d)) && n < FC_PATHS_MAX) {
		if (e->d_name[0] == '.')
			continue;
		pu_fmt(paths[n++], PATH_MAX, "/dev/%s", e->d_name);
	}
	if (d)
		closedir(d);
	if (n == 0)
		pu_fmt(paths[n++], PATH_MAX, "%s", r->dev);
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
			pu_note(&r->notes, 'E', "cannot open %s for SG_IO: %s",
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
			pu_note(&r->notes, 'I',
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
			pu_note(&r->notes, 'E',
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

/* The worker's job (worker thread: touches only r and f's configuration). */
static void fc_job_run(struct pu_job *j)
{
	struct fc_req *r = (struct fc_req *)j;
	struct fc *f = r->f;
	int n;

	switch (r->step) {
	case FC_PREPARE:
		/* Fenced before anything is touched. */
		if (f->reservation != FC_PR_NONE)
			r->rc = fc_job_pr(f, r, FC_PR_ACQUIRE);
		if (r->rc == 0)
			r->rc = pu_mount_prepare(f->mount, r->dev, r->rdev,
						 r->mp, &r->found, &r->notes);
		break;
	case FC_MOUNT:
		r->rc = pu_mount_do(r->dev, r->rdev, r->mp, f->fstype,
				    &r->notes);
		break;
	case FC_UMOUNT:
		r->rc = pu_umount(f->mount, r->rdev, r->known, f->fstype, r->mp,
				  &n, &r->notes);
		/* Released only once nothing is mounted: a mount left
		 * behind stays fenced from the peer. */
		if (r->rc == 0 && f->reservation != FC_PR_NONE) {
			if (!r->rdev)
				pu_note(&r->notes, 'W',
					"the LUN is gone: its reservation and "
					"registration stay on the array");
			else
				r->rc = fc_job_pr(f, r,
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
}

/* ---- on the loop ---- */

static void fc_req_free(struct fc_req *r)
{
	struct fc_req **p = &r->f->reqs;

	while (*p && *p != r)
		p = &(*p)->next;
	if (*p)
		*p = r->next;
	pu_notes_free(&r->notes);
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

static void fc_job_done(struct pu_job *j);

static struct fc_req *fc_req_new(struct fc *f, struct cmsd_op *op,
				 enum fc_what what)
{
	struct fc_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->job.run = fc_job_run;
	r->job.done = fc_job_done;
	r->f = f;
	r->op = op;
	r->what = what;
	r->next = f->reqs;
	f->reqs = r;
	return r;
}

/* Hands r's next step to the worker.  0 or -errno. */
static int fc_submit(struct fc_req *r, enum fc_step step)
{
	struct fc *f = r->f;
	int rc;

	r->step = step;
	r->rc = 0;
	pu_notes_clear(&r->notes);
	rc = pu_worker_submit(&f->w, &r->job);
	if (rc < 0)
		f->base.host->log(f->base.host, CMSD_LOG_ERR,
				  "%s: cannot start the mount thread: %s",
				  fc_what_names[r->what], strerror(-rc));
	return rc;
}

/* Submits step, or ends r with the error. */
static void fc_next(struct fc_req *r, enum fc_step step)
{
	int rc = fc_submit(r, step);

	if (rc < 0)
		fc_req_end(r, rc);
}

static void fc_fsck_done(const struct cmsd_child_result *res, void *arg)
{
	struct fc_req *r = arg;
	int rc;

	r->child = NULL;
	if (!r->op) {
		/* Cancelled: the agent killed it; nothing is mounted. */
		fc_req_free(r);
		return;
	}
	rc = pu_fsck_result(r->f->base.host, "promote", r->dev, res);
	if (rc)
		fc_req_end(r, rc);
	else
		fc_next(r, FC_MOUNT);
}

/* e2fsck -p, then the mount; or the mount at once. */
static void fc_promote_check(struct fc_req *r)
{
	struct fc *f = r->f;
	int rc;

	if (f->fstype != PU_FS_EXT4 || r->found == PU_FOUND_BUSY) {
		fc_next(r, FC_MOUNT);
		return;
	}
	rc = pu_fsck_spawn(f->base.host, "promote", r->dev, fc_fsck_done, r,
			   &r->child);
	if (rc < 0)
		fc_req_end(r, rc);
}

static void fc_job_done(struct pu_job *j)
{
	struct fc_req *r = (struct fc_req *)j;
	struct fc *f = r->f;
	const struct cmsd_host *h = f->base.host;

	pu_notes_log(h, fc_what_names[r->what], &r->notes);
	if (r->resv_known) {
		if (!r->resv_held)
			pu_fmt(f->holder, sizeof(f->holder), "none");
		else
			pu_fmt(f->holder, sizeof(f->holder),
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
		       r->mp, pu_fstypes[f->fstype],
		       f->fstype == PU_FS_EXT4 ? ",errors=remount-ro" : "");
	} else if (r->step == FC_PREPARE && r->rc == 0 &&
		   r->found == PU_FOUND_ADOPT) {
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
	if (r->rc < 0 || r->step != FC_PREPARE || r->found == PU_FOUND_ADOPT) {
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
	pu_fmt(f->health_why, sizeof(f->health_why), "%s", why);
	return health;
}

static int fc_monitor(void *inst, struct cmsd_op *op)
{
	struct fc *f = inst;
	char dev[PATH_MAX], mp[PATH_MAX], why[512];
	struct pu_mnt *m;
	struct statvfs sv;
	dev_t rdev;
	int rc, health = CMSD_RUNNING;

	(void)op;
	if (!f->started)
		return CMSD_STOPPED;
	if (fc_find(f, dev, &rdev, why, sizeof(why)) < 0)
		return fc_health(f, CMSD_FAILED, why);
	if (!f->promoted) {
		pu_fmt(why, sizeof(why), "the LUN %s is there", dev);
		return fc_health(f, CMSD_RUNNING, why);
	}
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	pu_canon(f->mount, mp);
	rc = pu_mnt_at(mp, m);
	if (rc < 0) {
		free(m);
		return rc; /* could not tell: UNKNOWN */
	}
	if (rc == 0) {
		pu_fmt(why, sizeof(why), "%s is not mounted any more", mp);
		health = CMSD_FAILED;
	} else if (m->dev != f->mounted) {
		pu_fmt(why, sizeof(why),
		       "%s is mounted from %s (%s), not from the LUN %s", mp,
		       m->source, m->fstype, dev);
		health = CMSD_FAILED;
	} else if (m->dev != rdev) {
		pu_fmt(why, sizeof(why),
		       "the LUN is %s now, but %s is still mounted from the "
		       "device it had before (%s)",
		       dev, mp, m->source);
		health = CMSD_FAILED;
	} else if (m->ro) {
		pu_fmt(why, sizeof(why),
		       "%s is mounted read-only (file system errors? see "
		       "the kernel log)",
		       mp);
		health = CMSD_FAILED;
	} else if (statvfs(mp, &sv) < 0) {
		pu_fmt(why, sizeof(why), "%s: %s", mp, strerror(errno));
		health = CMSD_FAILED;
	} else if (sv.f_flag & ST_RDONLY) {
		pu_fmt(why, sizeof(why), "%s is read-only", mp);
		health = CMSD_FAILED;
	} else {
		pu_fmt(why, sizeof(why), "%s is mounted from %s, writable", mp,
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
	struct pu_mnt *m;
	dev_t rdev;
	bool found, mounted = false;

	(void)op;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	found = fc_find(f, dev, &rdev, why, sizeof(why)) == 0;
	pu_canon(f->mount, mp);
	if (pu_mnt_at(mp, m) == 1)
		mounted = (found && m->dev == rdev) ||
			  (f->mounted && m->dev == f->mounted);
	free(m);
	out->role = mounted ? CMSD_ROLE_PRIMARY : CMSD_ROLE_SECONDARY;
	/* This node cannot see the peer's paths to the LUN. */
	out->peer_role = CMSD_ROLE_UNKNOWN;
	/* One copy of the data: current wherever it can be reached. */
	pu_fmt(out->disk, sizeof(out->disk), "%s",
	       found ? "UpToDate" : "Missing");
	pu_fmt(out->peer_disk, sizeof(out->peer_disk), "DUnknown");
	pu_fmt(out->connection, sizeof(out->connection), "Shared");
	out->data_usable = found;
	/* No generation of its own: see the comment at the top. */
	out->generation = 0;
	out->sync_percent = -1;
	out->sync_eta_s = -1;
	/* As last seen by this node's own reservation commands: status does
	 * no device I/O. */
	pu_fmt(out->holder, sizeof(out->holder), "%s",
	       f->reservation == FC_PR_NONE ? "" : f->holder);
	if (!found)
		pu_fmt(out->detail, sizeof(out->detail), "%s", why);
	else if (mounted)
		pu_fmt(out->detail, sizeof(out->detail),
		       "%s mounted on %s (%s)", dev, mp, pu_fstypes[f->fstype]);
	else
		pu_fmt(out->detail, sizeof(out->detail), "%s, not mounted here",
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
	/* Waits for a mount(2) or umount(2) still in the kernel; the jobs
	 * it leaves are on f->reqs too. */
	pu_worker_destroy(&f->w, NULL);
	/* Abandoned ops; the agent drops the children's callbacks. */
	while (f->reqs)
		fc_req_free(f->reqs);
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
	pu_worker_init(&f->w, h);
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
