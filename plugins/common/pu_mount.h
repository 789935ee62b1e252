/*
 * pu_mount: the mount layer the shared-LUN storage plugins (storage-fc,
 * storage-iscsi) have in common: mount(2)/umount(2) of a LUN on <mount> in a
 * worker thread (they may block on journal replay or writeback, the loop
 * must not), e2fsck -p through host->spawn before an ext4 mount, and
 * /proc/self/mountinfo lookups.
 *
 * The blocking functions (pu_mount_prepare, pu_mount_do, pu_umount) run in
 * a pu_worker's thread and touch only their arguments; what they have to
 * say goes into a pu_notes buffer that the loop logs when the job is back.
 * Linked statically into each plugin; not part of the SDK.
 */
#ifndef CMSD_PU_MOUNT_H
#define CMSD_PU_MOUNT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cmsd/plugin.h>

enum pu_fstype { PU_FS_EXT4, PU_FS_XFS };
/* "ext4", "xfs", NULL: the <fstype> values, in enum pu_fstype's order. */
extern const char *const pu_fstypes[];

/* snprintf for messages: a long path cut short is fine in a log line. */
void pu_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- lines for the log, written by a worker job ---- */

struct pu_notes {
	char *buf; /* level letter (E, W, N, I), text, '\n'; or NULL */
	size_t len, cap;
};

void pu_note(struct pu_notes *n, char level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pu_notes_clear(struct pu_notes *n);
void pu_notes_free(struct pu_notes *n);
/* Logs each line at its level as "PREFIX: text". */
void pu_notes_log(const struct cmsd_host *h, const char *prefix,
		  const struct pu_notes *n);

/* ---- /proc/self/mountinfo ---- */

struct pu_mnt {
	dev_t dev;
	bool ro; /* read-only as mounted, or the file system is */
	char point[PATH_MAX];
	char fstype[32];
	char source[256];
};

/* Parses one mountinfo line (modified in place); false when malformed. */
bool pu_mnt_parse(char *line, struct pu_mnt *m);
/* The last mount on point (the one seen), or the first mount of dev:
 * 1 with *out filled, 0 when none, or -errno. */
int pu_mnt_at(const char *point, struct pu_mnt *out);
int pu_mnt_of(dev_t dev, struct pu_mnt *out);
/* path as mountinfo shows it: symlinks resolved when it exists, no
 * trailing '/'. */
void pu_canon(const char *path, char out[PATH_MAX]);

/* ---- the jobs (worker thread) ---- */

/* What pu_mount_prepare found on <mount>. */
enum pu_found {
	PU_FOUND_FREE,	/* nothing of the LUN's: e2fsck, then mount */
	PU_FOUND_ADOPT, /* the LUN is mounted there already */
	PU_FOUND_BUSY,	/* the host uses the device elsewhere: no e2fsck */
};

/*
 * Before a mount of dev (node, st_rdev rdev) on mount: creates the mount
 * point when missing, fills mp (canonical), adopts a writable mount of the
 * LUN already there, refuses a read-only one (-EROFS) or another file
 * system there (-EBUSY), warns when the directory is not empty, and tries
 * an exclusive open to learn whether this host uses the device already.
 * 0 with *found, or -errno; notes say why.
 */
int pu_mount_prepare(const char *mount, const char *dev, dev_t rdev,
		     char mp[PATH_MAX], enum pu_found *found,
		     struct pu_notes *n);
/* mount(2) of dev on mp, nodev,nosuid (ext4 also errors=remount-ro, so
 * that damage shows as a read-only mount).  0 or -errno. */
int pu_mount_do(const char *dev, dev_t rdev, const char *mp, enum pu_fstype fs,
		struct pu_notes *n);
/*
 * umount(2) of what the LUN has mounted on mount (up to 8 stacked): a
 * mount of rdev (the device as found now) or of known (as mounted before:
 * the LUN may be gone), or with neither known, a mount of type fs.  Never a
 * lazy unmount, which would leave the file system in use while the peer
 * mounts it: EBUSY is returned as it is, after noting who holds the mount
 * (processes with a file, directory, program or mapping on it; mounts
 * below it).  Another file system there is left alone.  0 (also when
 * nothing was mounted) or -errno; *unmounted: how many.
 */
int pu_umount(const char *mount, dev_t rdev, dev_t known, enum pu_fstype fs,
	      char mp[PATH_MAX], int *unmounted, struct pu_notes *n);

/* ---- e2fsck (on the loop, through host->spawn) ---- */

/* e2fsck's own bound; the agent's promote deadline normally ends it
 * first. */
#define PU_FSCK_MS (30u * 60u * 1000u)

/* e2fsck -p DEV with its time limit and output kept: like host->spawn.
 * -ENOENT (logged) when e2fsck is not installed. */
int pu_fsck_spawn(const struct cmsd_host *h, const char *what, const char *dev,
		  void (*done)(const struct cmsd_child_result *r, void *arg),
		  void *arg, struct cmsd_child **child);
/* Logs e2fsck's verdict and its own lines as "WHAT: e2fsck ...": 0 when
 * the file system may be mounted (clean, or errors corrected), else
 * -EUCLEAN (errors left), -ETIMEDOUT, -EINTR (killed) or -EIO. */
int pu_fsck_result(const struct cmsd_host *h, const char *what, const char *dev,
		   const struct cmsd_child_result *r);

/* ---- a worker thread running jobs in order ---- */

struct pu_job {
	void (*run)(struct pu_job *j);	/* in the worker thread */
	void (*done)(struct pu_job *j); /* on the loop, in submission order */
	struct pu_job *next;
};

struct pu_worker {
	const struct cmsd_host *host;
	bool up, quit;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pu_job *todo, **todo_tail, *done;
	int efd;
	struct cmsd_watch *watch;
};

void pu_worker_init(struct pu_worker *w, const struct cmsd_host *h);
/* Queues j; the thread starts with the first job.  0 or -errno. */
int pu_worker_submit(struct pu_worker *w, struct pu_job *j);
/* Runs what is queued, waits for the thread (a mount(2) still in the
 * kernel: the thread must not outlive the plugin's code), and hands the
 * jobs not yet completed on the loop to drop (may be NULL). */
void pu_worker_destroy(struct pu_worker *w, void (*drop)(struct pu_job *j));

#endif
