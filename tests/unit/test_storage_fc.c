/*
 * storage-fc with <reservation>none</reservation> on a real kernel, through
 * the agent's instance API on its libevent loop: a loop device holding a
 * real ext4 stands for the LUN, mounted with mount(2), checked by the real
 * e2fsck, held open by real processes.
 *
 * Needs root (loop devices, mounts); without it the program exits 77
 * (skipped).  Each test runs in a forked child that first enters a private
 * mount namespace: its mounts are never seen by the host and go when the
 * child ends, however it ends.  Processes the tests start die with it
 * (PR_SET_PDEATHSIG).  Loop devices are detached by each test's teardown
 * and, whatever happens, by a reaper process at the end of the run (or at
 * the next run, for a run whose reaper was killed as well).
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "plugtest.h"

/* This run's images: RUN_DIR/tPID/lun.img (PID: the forked test); the reaper
 * detaches their loop devices. */
static char run_dir[64];

/* The fixture, in each forked test. */
static char *dir, *logpath, *img, *mp;
static char loopdev[128];
static struct conf *conf;

/* ---- shell helpers ---- */

/* The device mounted on path (the top one), 0 when none. */
static dev_t mounted_at(const char *path)
{
	char line[4096], point[PATH_MAX];
	unsigned maj, min;
	dev_t dev = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min,
			   point) == 3 &&
		    strcmp(point, path) == 0)
			dev = makedev(maj, min);
	fclose(f);
	return dev;
}

static dev_t loop_rdev(void)
{
	struct stat st;

	ck_assert_int_eq(stat(loopdev, &st), 0);
	return st.st_rdev;
}

/*
 * ---- a PR target behind SG_IO on the loop device ----
 *
 * No SCSI device with persistent reservations is reachable here (no
 * kernel initiator, no scsi_debug), so this executable's own ioctl()
 * stands in for the array when pr_on is set: SG_IO on the test's loop
 * device is answered by a one-LUN SPC model with two initiators, "us" (the
 * plugin's SG_IO) and the peer (driven by the test directly).  Everything
 * else goes to the kernel.  The executable exports ioctl (ENABLE_EXPORTS)
 * so that the dlopen()ed plugin binds to it.
 */
static struct {
	pthread_mutex_t mu;
	bool on;
	dev_t rdev;
	uint64_t reg[2]; /* 0: us, 1: the peer; 0 = not registered */
	bool aptpl;
	bool held;
	int holder;
	unsigned type;
	int ua;		 /* unit attentions queued for us */
	char sa_log[64]; /* our PROUT service actions, in order, as digits */
	int bad;	 /* malformed requests seen */
} pr = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void sg_check(sg_io_hdr_t *io, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t s[18] = {0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq};

	io->status = 0x02;
	io->driver_status = 0x08;
	memcpy(io->sbp, s, io->mx_sb_len < 18 ? io->mx_sb_len : 18);
	io->sb_len_wr = io->mx_sb_len < 18 ? io->mx_sb_len : 18;
}

static void sg_target(sg_io_hdr_t *io)
{
	const uint8_t *c = io->cmdp;
	uint8_t *b = io->dxferp, r[24];

	if (io->interface_id != 'S' || io->cmd_len != 10 || !io->timeout) {
		pr.bad++;
		sg_check(io, 0x05, 0x24, 0x00);
		return;
	}
	if (pr.ua) {
		pr.ua--;
		sg_check(io, 0x06, 0x2a, 0x03);
		return;
	}
	if (c[0] == 0x5e) {
		size_t n = (size_t)c[7] << 8 | c[8];
		memset(r, 0, sizeof(r));
		if (io->dxfer_direction != SG_DXFER_FROM_DEV)
			pr.bad++;
		if ((c[1] & 0x1f) == 1 && pr.held) {
			r[7] = 16;
			for (int i = 0; i < 8; i++)
				r[8 + i] = (uint8_t)(pr.reg[pr.holder] >>
						     (56 - 8 * i));
			r[21] = (uint8_t)pr.type;
		}
		/* READ KEYS is not used by these ops. */
		if (n > io->dxfer_len)
			n = io->dxfer_len;
		memcpy(b, r, n < sizeof(r) ? n : sizeof(r));
		return;
	}
	if (c[0] != 0x5f || io->dxfer_direction != SG_DXFER_TO_DEV ||
	    io->dxfer_len != 24 || c[8] != 24) {
		pr.bad++;
		sg_check(io, 0x05, 0x24, 0x00);
		return;
	}
	uint64_t key = be64(b), sak = be64(b + 8);
	unsigned type = c[2] & 0x0f, sa = c[1] & 0x1f;
	size_t l = strlen(pr.sa_log);
	if (l + 1 < sizeof(pr.sa_log)) {
		pr.sa_log[l] = (char)('0' + sa);
		pr.sa_log[l + 1] = '\0';
	}
	switch (sa) {
	case 6: /* REGISTER AND IGNORE EXISTING KEY */
		if (!sak && pr.held && pr.holder == 0)
			pr.held = false;
		pr.reg[0] = sak;
		pr.aptpl = b[20] & 1;
		return;
	case 1: /* RESERVE */
		if (pr.reg[0] != key || !key ||
		    (pr.held && (pr.holder || pr.type != type)))
			io->status = 0x18;
		else
			pr.held = true, pr.holder = 0, pr.type = type;
		return;
	case 2: /* RELEASE */
		if (pr.reg[0] != key || !key)
			io->status = 0x18;
		else if (pr.held && pr.holder == 0)
			pr.held = false;
		return;
	case 4:
	case 5: /* PREEMPT (AND ABORT) */
		if (pr.reg[0] != key || !key) {
			io->status = 0x18;
			return;
		}
		if (pr.held && pr.reg[pr.holder] == sak)
			pr.holder = 0, pr.type = type;
		if (pr.reg[1] == sak && sak != key)
			pr.reg[1] = 0;
		return;
	}
	sg_check(io, 0x05, 0x24, 0x00);
}

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	struct stat st;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	pthread_mutex_lock(&pr.mu);
	if (req == SG_IO && pr.on && fstat(fd, &st) == 0 &&
	    S_ISBLK(st.st_mode) && st.st_rdev == pr.rdev) {
		sg_target(arg);
		pthread_mutex_unlock(&pr.mu);
		return 0;
	}
	pthread_mutex_unlock(&pr.mu);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/* ---- the reaper (main process) ---- */

/* Detaches the loop devices of the images under d and removes d. */
static void sweep(const char *d)
{
	tu_sh("for f in '%s'/t*/lun.img; do [ -e \"$f\" ] || continue; "
	      "losetup -j \"$f\" | cut -d: -f1 | xargs -r -n1 losetup -d; "
	      "done 2>/dev/null; rm -rf '%s'",
	      d, d);
}

/* Runs whose reaper was killed too: their pid is gone. */
static void sweep_stale(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;
	char path[300];
	int pid;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (sscanf(e->d_name, "cmsd-fc-test.%d", &pid) != 1)
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
			sweep(path);
		}
	}
	closedir(d);
}

/* What the reaper does when this process and the forked tests are gone. */
static void sweep_run(void)
{
	/* The tests' mount namespaces die with their processes. */
	usleep(200 * 1000);
	sweep(run_dir);
}

/* ---- the plugin on the agent's loop ---- */

static int call_args(struct instance *in, enum op_kind kind,
		     uint64_t timeout_ms, void *args)
{
	return pt_call(in, kind, timeout_ms, args, timeout_ms + 2000);
}

static int call(struct instance *in, enum op_kind kind)
{
	static int no_force;

	return call_args(in, kind, 10000,
			 kind == OP_PROMOTE ? &no_force : NULL);
}

/* The storage section's LUN and extra keys; <mount> is mp. */
static struct instance *make(const char *lun, const char *extra)
{
	char xml[4096];

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state\"/>\n"
		 "<cluster id=\"t\"><node id=\"n1\"><link "
		 "address=\"127.0.0.1\"/></node></cluster>\n"
		 "<storage id=\"share\" plugin=\"storage-fc\">%s"
		 "<mount>%s</mount>%s</storage>\n"
		 "<group id=\"g\"><resource id=\"d\" "
		 "plugin=\"resource-dummy\"/></group>\n"
		 "</cmsd>\n",
		 dir, lun, mp, extra);
	/* pt_instance sets the node id too: storage-fc derives its key. */
	return pt_instance(&conf, dir, "cmsd.xml", xml, "share", NULL);
}

static struct instance *make_loop(const char *extra)
{
	char lun[200];

	snprintf(lun, sizeof(lun), "<device>%s</device>", loopdev);
	return make(lun, extra);
}

#define NONE "<reservation>none</reservation>"

/* A process that holds the mount: an open file (or its working
 * directory), until it is killed or the test ends. */
static pid_t holder(const char *path, bool cwd)
{
	int p[2];
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cwd ? chdir(path) != 0
			: open(path, O_RDWR | O_CREAT, 0644) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- fixture (in each forked test) ---- */

static void setup(void)
{
	char out[128];

	/* Mounts stay in this child: none reaches the host, all go with
	 * it. */
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);

	ck_assert_int_ge(asprintf(&dir, "%s/t%d", run_dir, (int)getpid()), 0);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_ge(asprintf(&logpath, "%s/log", dir), 0);
	ck_assert_int_ge(asprintf(&img, "%s/lun.img", dir), 0);
	ck_assert_int_ge(asprintf(&mp, "%s/share", dir), 0);
	SH_OK("truncate -s 32M '%s' && mkfs.ext4 -q -F '%s'", img, img);
	tu_sh_out(out, sizeof(out), "losetup -f --show '%s'", img);
	out[strcspn(out, "\n")] = '\0';
	ck_assert_msg(strncmp(out, "/dev/loop", 9) == 0, "losetup: %s", out);
	snprintf(loopdev, sizeof(loopdev), "%s", out);

	pt_agent_open(logpath);
}

static void teardown(void)
{
	pt_agent_close(&conf, 1);
	while (umount2(mp, UMOUNT_NOFOLLOW) == 0)
		;
	tu_sh("losetup -d %s", loopdev);
	tu_rmdir(dir);
	free(dir);
	free(logpath);
	free(img);
	free(mp);
}

/* ---- the tests ---- */

START_TEST(promote_write_demote_promote)
{
	struct instance *in = make_loop(NONE);
	struct cmsd_storage_status st = {.size = sizeof(st)};
	char path[PATH_MAX], buf[64] = "";
	FILE *f;

	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_STOPPED);
	ck_assert_int_eq(call(in, OP_START), 0);
	LOG_HAS("share: start: the LUN is %s", loopdev);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_int_eq(st.role, CMSD_ROLE_SECONDARY);
	ck_assert_int_eq(st.data_usable, 1);

	/* The mount point does not exist yet: promote makes it. */
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	LOG_HAS("share: promote: created the mount point %s", mp);
	LOG_HAS("share: promote: e2fsck -p %s found the file system clean",
		loopdev);
	LOG_HAS("share: promote: e2fsck: %s: clean", loopdev);
	LOG_HAS("share: promote: mounted %s on %s (ext4, "
		"nodev,nosuid,errors=remount-ro)",
		loopdev, mp);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_int_eq(st.role, CMSD_ROLE_PRIMARY);
	ck_assert_int_eq(st.data_usable, 1);
	ck_assert_uint_eq(st.generation, 0);
	ck_assert_str_eq(st.disk, "UpToDate");
	ck_assert_str_eq(st.connection, "Shared");
	ck_assert_str_eq(st.holder, "");
	ck_assert_msg(strstr(st.detail, "mounted on"), "%s", st.detail);

	snprintf(path, sizeof(path), "%s/data", mp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("written while promoted\n", f);
	ck_assert_int_eq(fflush(f), 0);
	ck_assert_int_eq(fsync(fileno(f)), 0);
	fclose(f);

	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	LOG_HAS("share: demote: unmounted %s from %s", loopdev, mp);
	ck_assert(mounted_at(mp) == 0);
	ck_assert_int_ne(access(path, F_OK), 0); /* only on the LUN */
	/* A slave's LUN: there, not mounted. */
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_int_eq(st.role, CMSD_ROLE_SECONDARY);

	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert(mounted_at(mp) == loop_rdev());
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "written while promoted\n");

	/* Promoting what is mounted already adopts it. */
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	LOG_HAS("share: promote: %s is already mounted on %s: adopted", loopdev,
		mp);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	LOG_HAS("share: demote: %s was not mounted", mp);
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_STOPPED);
	instance_free(in);
}
END_TEST

START_TEST(demote_busy_names_the_holders)
{
	struct instance *in = make_loop(NONE);
	char path[PATH_MAX];
	pid_t h1, h2;

	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	snprintf(path, sizeof(path), "%s/held", mp);
	h1 = holder(path, false);
	h2 = holder(mp, true);

	ck_assert_int_eq(call(in, OP_DEMOTE), -EBUSY);
	LOG_HAS("share: demote: cannot unmount %s (%s): Device or resource "
		"busy",
		mp, loopdev);
	LOG_HAS("share: demote: %s is held by pid %d (", mp, (int)h1);
	LOG_HAS(": fd ");
	LOG_HAS(" on %s", path);
	LOG_HAS("share: demote: %s is held by pid %d (", mp, (int)h2);
	LOG_HAS("working directory %s", mp);
	/* Never detached lazily: the mount is there, still in service. */
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);

	reap(h1);
	ck_assert_int_eq(call(in, OP_DEMOTE), -EBUSY);
	reap(h2);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);
}
END_TEST

START_TEST(missing_device_is_named)
{
	struct instance *in;
	char lun[PATH_MAX + 32], node[PATH_MAX];
	struct stat st;

	in = make("<device>/dev/cmsd-test-no-such-lun</device>", NONE);
	ck_assert_int_eq(call(in, OP_START), -ENODEV);
	LOG_HAS("share: start: device /dev/cmsd-test-no-such-lun: No such "
		"file or directory");
	ck_assert_int_eq(call(in, OP_PROMOTE), -ENODEV);
	LOG_HAS("share: promote: device /dev/cmsd-test-no-such-lun: No such "
		"file or directory");
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);

	in = make("<wwn>0x5000C500A1B2C3D4</wwn>", NONE);
	ck_assert_int_eq(call(in, OP_START), -ENODEV);
	LOG_HAS("share: start: no LUN with WWN 0x5000c500a1b2c3d4 on this "
		"host: none of /dev/disk/by-id/{dm-uuid-mpath-3,wwn-0x,scsi-3}"
		"5000c500a1b2c3d4 exists");
	instance_free(in);

	/* Not a block device. */
	in = make("<device>/dev/null</device>", NONE);
	ck_assert_int_eq(call(in, OP_START), -ENOTBLK);
	LOG_HAS("share: start: /dev/null is not a block device");
	instance_free(in);

	/* A LUN that goes away: the monitor says FAILED, naming it. */
	ck_assert_int_eq(stat(loopdev, &st), 0);
	snprintf(node, sizeof(node), "%s/lun-node", dir);
	ck_assert_int_eq(mknod(node, S_IFBLK | 0600, st.st_rdev), 0);
	snprintf(lun, sizeof(lun), "<device>%s</device>", node);
	in = make(lun, NONE);
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(unlink(node), 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_FAILED);
	LOG_HAS("share: monitor: device %s: No such file or directory", node);
	instance_free(in);
}
END_TEST

/* /dev of this child only: a tmpfs with the nodes the test needs and a
 * /dev/disk/by-id made here. */
static void fake_dev(const char *const *links, const char *const *targets)
{
	static const char *const nodes[] = {"null", "zero", "urandom", "random",
					    "full"};
	char path[PATH_MAX];
	struct stat st, lst;

	ck_assert_int_eq(stat(loopdev, &lst), 0);
	ck_assert_int_eq(mount("tmpfs", "/dev", "tmpfs", 0, "mode=755"), 0);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		/* Their numbers are fixed by the kernel (devices.txt). */
		static const unsigned minors[] = {3, 5, 9, 8, 7};
		snprintf(path, sizeof(path), "/dev/%s", nodes[i]);
		ck_assert_int_eq(
			mknod(path, S_IFCHR | 0666, makedev(1, minors[i])), 0);
	}
	ck_assert_int_eq(mknod(loopdev, S_IFBLK | 0600, lst.st_rdev), 0);
	ck_assert_int_eq(stat(loopdev, &st), 0);
	ck_assert_int_eq(mkdir("/dev/disk", 0755), 0);
	ck_assert_int_eq(mkdir("/dev/disk/by-id", 0755), 0);
	for (size_t i = 0; links[i]; i++) {
		snprintf(path, sizeof(path), "/dev/disk/by-id/%s", links[i]);
		ck_assert_int_eq(symlink(targets[i], path), 0);
	}
}

START_TEST(wwn_found_under_by_id)
{
	struct instance *in;
	const char *dev = loopdev + 5; /* "loopN" */
	char target[160];
	/* Multipath first: the single path's name leads to a character
	 * device here, which would be refused if it were picked. */
	const char *links[] = {
		"wwn-0x600a0b800026b2820000a1234567890a",
		"dm-uuid-mpath-3600a0b800026b2820000a1234567890a", NULL};
	const char *targets[] = {"../../null", target, NULL};

	snprintf(target, sizeof(target), "../../%s", dev);
	fake_dev(links, targets);
	in = make("<wwn>naa.600A0B800026B2820000A1234567890A</wwn>", NONE);
	ck_assert_int_eq(call(in, OP_START), 0);
	LOG_HAS("share: start: the LUN is %s, WWN "
		"0x600a0b800026b2820000a1234567890a",
		loopdev);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);

	/* scsi-3 names alone do too. */
	ck_assert_int_eq(unlink("/dev/disk/by-id/dm-uuid-mpath-3600a0b80002"
				"6b2820000a1234567890a"),
			 0);
	ck_assert_int_eq(unlink("/dev/disk/by-id/wwn-0x600a0b800026b2820000a"
				"1234567890a"),
			 0);
	ck_assert_int_eq(symlink(target, "/dev/disk/by-id/scsi-3600a0b800026"
					 "b2820000a1234567890a"),
			 0);
	in = make("<wwn>0x600a0b800026b2820000a1234567890a</wwn>", NONE);
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);
}
END_TEST

START_TEST(e2fsck_repairs_then_refuses)
{
	struct instance *in;
	char out[512];

	/* Not cleanly unmounted: e2fsck -p checks it all and marks it
	 * clean; the mount goes ahead. */
	SH_OK("debugfs -w -R 'ssv state 0' %s >/dev/null 2>&1", loopdev);
	in = make_loop(NONE);
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	LOG_HAS("share: promote: e2fsck: %s was not cleanly unmounted, check "
		"forced.",
		loopdev);
	LOG_HAS("share: promote: e2fsck -p %s corrected errors (exit 1)",
		loopdev);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	tu_sh_out(out, sizeof(out), "dumpe2fs -h %s 2>/dev/null | grep state",
		  loopdev);
	ck_assert_msg(strstr(out, "clean"), "%s", out);

	/* Damage -p must not repair: no mount. */
	SH_OK("debugfs -w -R 'clri <2>' %s >/dev/null 2>&1 && "
	      "debugfs -w -R 'ssv state 0' %s >/dev/null 2>&1",
	      loopdev, loopdev);
	ck_assert_int_eq(call(in, OP_PROMOTE), -EUCLEAN);
	LOG_HAS("share: promote: e2fsck -p %s left errors uncorrected (exit "
		"4): not mounting; run e2fsck %s by hand",
		loopdev, loopdev);
	LOG_HAS("share: promote: e2fsck: %s: UNEXPECTED INCONSISTENCY",
		loopdev);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);
}
END_TEST

/* XFS: no check before the mount (its log replay is the check). */
START_TEST(xfs_mounts_without_a_check)
{
	struct instance *in;
	char path[PATH_MAX];

	if (tu_sh("command -v mkfs.xfs >/dev/null") != 0) {
		printf("SKIP: xfs_mounts_without_a_check needs mkfs.xfs "
		       "(xfsprogs)\n");
		return;
	}
	/* mkfs.xfs wants 300 MB; the file stays sparse. */
	SH_OK("truncate -s 320M '%s' && losetup -c %s && mkfs.xfs -q -f %s",
	      img, loopdev, loopdev);
	in = make_loop("<fstype>xfs</fstype>" NONE);
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	LOG_HAS("share: promote: mounted %s on %s (xfs, nodev,nosuid)", loopdev,
		mp);
	ck_assert(!log_has("e2fsck"));
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	snprintf(path, sizeof(path), "%s/data", mp);
	ck_assert_int_eq(tu_sh("echo xfs >'%s' && sync", path), 0);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);
}
END_TEST

START_TEST(monitor_sees_the_mount_go_or_turn_read_only)
{
	struct instance *in = make_loop(NONE);

	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);

	ck_assert_int_eq(umount2(mp, 0), 0); /* behind its back */
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_FAILED);
	LOG_HAS("share: monitor: %s is not mounted any more", mp);

	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_RUNNING);
	LOG_HAS("share: monitor: %s is mounted from %s, writable", mp, loopdev);
	ck_assert_int_eq(mount(NULL, mp, NULL, MS_REMOUNT | MS_RDONLY, NULL),
			 0);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_FAILED);
	LOG_HAS("share: monitor: %s is mounted read-only", mp);
	/* A read-only mount of the LUN is not adopted. */
	ck_assert_int_eq(call(in, OP_PROMOTE), -EROFS);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	instance_free(in);
}
END_TEST

START_TEST(another_file_system_on_the_mount_point)
{
	struct instance *in = make_loop(NONE);

	ck_assert_int_eq(mkdir(mp, 0755), 0);
	ck_assert_int_eq(mount("tmpfs", mp, "tmpfs", 0, NULL), 0);
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), -EBUSY);
	LOG_HAS("share: promote: %s is already mounted from tmpfs (tmpfs), "
		"not from the LUN %s: refusing to mount over it",
		mp, loopdev);
	/* Not the LUN's: demote leaves it alone. */
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	LOG_HAS("share: demote: %s is mounted from tmpfs (tmpfs), not from the "
		"LUN: left alone",
		mp);
	ck_assert(mounted_at(mp) != 0);
	ck_assert_int_eq(umount2(mp, 0), 0);

	/* Files in the mount point: mounted over, with a warning. */
	free(tu_write(mp, "left-behind", "x"));
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	LOG_HAS("share: promote: %s is not empty: what is in it stays hidden "
		"while the LUN is mounted",
		mp);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	instance_free(in);
}
END_TEST

/* Promote abandoned at once (its checks queued in the worker), or while
 * e2fsck runs: the demote that follows leaves nothing mounted, and nothing
 * the abandoned promote had coming mounts the LUN afterwards. */
START_TEST(cancelled_promote_then_demote_leaves_nothing_mounted)
{
	struct instance *in = make_loop(NONE);
	static int no_force;
	struct result r = {0};
	uint64_t end;

	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(
		instance_call(in, OP_PROMOTE, 10000, &no_force, on_done, &r),
		0);
	instance_cancel(in);
	run_for(10);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, -ECANCELED);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	run_for(300);
	ck_assert(mounted_at(mp) == 0);

	/* Once e2fsck runs: the agent kills it with the op.  e2fsck of a
	 * clean file system may end before the loop sees it start; then the
	 * promote completed: undo it and try again, until the cancel lands
	 * while e2fsck runs. */
	for (int tries = 0;; tries++) {
		ck_assert_int_lt(tries, 50);
		memset(&r, 0, sizeof(r));
		ck_assert_int_eq(instance_call(in, OP_PROMOTE, 10000, &no_force,
					       on_done, &r),
				 0);
		end = loop_now_ms() + 5000;
		while (!log_has("promote: e2fsck -p %s running as pid",
				loopdev) &&
		       !r.calls && loop_now_ms() < end)
			run_for(1);
		if (r.calls == 0)
			break;
		ck_assert_int_eq(r.rc, 0);
		ck_assert_int_eq(call(in, OP_DEMOTE), 0);
		tu_sh(": >'%s'", logpath); /* the next try's lines only */
	}
	instance_cancel(in);
	run_for(10);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, -ECANCELED);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	run_for(300);
	ck_assert(mounted_at(mp) == 0);
	ck_assert(!log_has("promote: mounted"));

	/* And the instance works on. */
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert(mounted_at(mp) == loop_rdev());
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	instance_free(in);
}
END_TEST

static int log_count(const char *text)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(logpath, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* A loop device takes no SCSI commands: with reservations asked for, the
 * LUN is never used unfenced, and the refusal names the device, once. */
START_TEST(no_pr_device_refused)
{
	struct instance *in = make_loop("<key>0xa1</key>");
	struct cmsd_storage_status st = {.size = sizeof(st)};
	char why[512];

	ck_assert_int_eq(call(in, OP_START), -EOPNOTSUPP);
	snprintf(why, sizeof(why),
		 "share: start: <reservation>write-exclusive-registrants-only"
		 "</reservation> asks for SCSI-3 persistent reservations, "
		 "which %s does not support: refusing to use it without "
		 "fencing; give <reservation>none</reservation> to run "
		 "without fencing",
		 loopdev);
	LOG_HAS("%s", why);
	LOG_HAS("share: start: %s does not take SCSI commands (SG_IO: ",
		loopdev);
	ck_assert_int_eq(call(in, OP_MONITOR), CMSD_STOPPED);
	/* A promote does not mount it either; the reason is not repeated
	 * as an error. */
	ck_assert_int_eq(call(in, OP_PROMOTE), -EOPNOTSUPP);
	ck_assert(mounted_at(mp) == 0);
	ck_assert(!log_has("promote: mounted"));
	ck_assert_int_eq(log_count("refusing to"), 1);
	ck_assert_int_eq(call_args(in, OP_FENCE_PEER, 10000, "n2"),
			 -EOPNOTSUPP);
	ck_assert_int_eq(log_count("refusing to"), 1);
	/* Nothing was registered or reserved: demote and stop succeed. */
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_str_eq(st.holder, "");
	ck_assert_int_eq(st.role, CMSD_ROLE_SECONDARY);
	instance_free(in);

	/* Each type is refused the same way. */
	in = make_loop("<key>0xa1</key><reservation>exclusive-access"
		       "</reservation>");
	ck_assert_int_eq(call(in, OP_PROMOTE), -EOPNOTSUPP);
	ck_assert(mounted_at(mp) == 0);
	LOG_HAS("share: promote: <reservation>exclusive-access</reservation> "
		"asks for SCSI-3 persistent reservations, which %s does not "
		"support: refusing to mount it without fencing",
		loopdev);
	instance_free(in);
}
END_TEST

/* The whole life cycle with reservations, against the stand-in target:
 * the commands the plugin sends, their order, and what it makes of the
 * answers. */
START_TEST(pr_life_cycle)
{
	struct instance *in = make_loop("<key>0xa1</key>");
	struct cmsd_storage_status st = {.size = sizeof(st)};

	pthread_mutex_lock(&pr.mu);
	pr.on = true;
	pr.rdev = loop_rdev();
	pr.reg[1] = 0xb1; /* the peer, master before */
	pr.held = true;
	pr.holder = 1;
	pr.type = 5;
	pthread_mutex_unlock(&pr.mu);

	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_uint_eq(pr.reg[0], 0xa1);
	ck_assert(pr.aptpl);
	LOG_HAS("share: start: the LUN is %s; registered key "
		"0x00000000000000a1; reservation holder: 0x00000000000000b1",
		loopdev);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_str_eq(st.holder, "0x00000000000000b1");

	/* Takeover: PREEMPT AND ABORT of the peer's key, then the mount. */
	memset(pr.sa_log, 0, sizeof(pr.sa_log));
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert_str_eq(pr.sa_log, "65"); /* register again, preempt */
	ck_assert(pr.held && pr.holder == 0 && pr.type == 5);
	ck_assert_uint_eq(pr.reg[1], 0);
	ck_assert(mounted_at(mp) == loop_rdev());
	LOG_HAS("share: promote: %s: preempted key 0xb1", loopdev);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_str_eq(st.holder, "0x00000000000000a1 (this node)");
	ck_assert_int_eq(st.role, CMSD_ROLE_PRIMARY);

	/* Demote: the unmount, then RELEASE. */
	memset(pr.sa_log, 0, sizeof(pr.sa_log));
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	ck_assert_str_eq(pr.sa_log, "2");
	ck_assert(!pr.held);
	ck_assert_int_eq(call_args(in, OP_STATUS, 1000, &st), 0);
	ck_assert_str_eq(st.holder, "none");

	/* Promote with nobody holding it: RESERVE. */
	memset(pr.sa_log, 0, sizeof(pr.sa_log));
	ck_assert_int_eq(call(in, OP_PROMOTE), 0);
	ck_assert_str_eq(pr.sa_log, "61");
	LOG_HAS("share: promote: %s: reserved "
		"write-exclusive-registrants-only with key 0xa1",
		loopdev);

	/* The peer takes it over meanwhile: our key is gone, a unit
	 * attention waits.  Demote unmounts; nothing to release. */
	pthread_mutex_lock(&pr.mu);
	pr.reg[1] = 0xb1;
	pr.reg[0] = 0;
	pr.holder = 1;
	pr.ua = 1;
	pthread_mutex_unlock(&pr.mu);
	ck_assert_int_eq(call(in, OP_DEMOTE), 0);
	ck_assert(mounted_at(mp) == 0);
	ck_assert_int_eq(pr.ua, 0);
	ck_assert(pr.held && pr.holder == 1);
	LOG_HAS("is not registered any more (preempted by the peer?)");

	/* Stop: RELEASE (refused: not registered), unregister. */
	pr.reg[0] = 0xa1;
	memset(pr.sa_log, 0, sizeof(pr.sa_log));
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert_str_eq(pr.sa_log, "26");
	ck_assert_uint_eq(pr.reg[0], 0);
	ck_assert(pr.held && pr.holder == 1);
	ck_assert_int_eq(pr.bad, 0);
	instance_free(in);
}
END_TEST

/* A reservation the plugin cannot take over: the promote fails before
 * the mount point is touched. */
START_TEST(pr_refused_takeover_not_mounted)
{
	struct instance *in = make_loop("<key>0xa1</key>");

	pr.on = true;
	pr.rdev = loop_rdev();
	pr.reg[1] = 0xb1;
	pr.held = true;
	pr.holder = 1;
	pr.type = 7; /* write exclusive, all registrants */
	ck_assert_int_eq(call(in, OP_START), 0);
	ck_assert_int_eq(call(in, OP_PROMOTE), -EBUSY);
	ck_assert(mounted_at(mp) == 0);
	ck_assert(access(mp, F_OK) != 0); /* not even created */
	LOG_HAS("share: promote: %s has a write-exclusive-all-registrants "
		"reservation (key 0xb1), not one this plugin makes: clear it "
		"by hand",
		loopdev);
	ck_assert(pr.held && pr.holder == 1 && pr.type == 7);
	ck_assert_int_eq(call(in, OP_STOP), 0);
	instance_free(in);
}
END_TEST

/* Without <key>, the key is derived from the node id, and differs
 * between nodes. */
START_TEST(pr_key_from_node)
{
	struct instance *in = make_loop("");
	uint64_t h = 0xcbf29ce484222325ull;

	pr.on = true;
	pr.rdev = loop_rdev();
	ck_assert_int_eq(call(in, OP_START), 0);
	for (const char *p = "n1"; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	ck_assert_uint_eq(pr.reg[0], h);
	LOG_HAS("registered key 0x%016llx", (unsigned long long)h);
	ck_assert_int_eq(call(in, OP_STOP), 0);
	ck_assert_uint_eq(pr.reg[0], 0);
	instance_free(in);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	pid_t rp = -1;
	int rc, wfd = -1;

	if (geteuid() != 0) {
		printf("SKIP: test_storage_fc needs root (loop devices, "
		       "mounts)\n");
		return 77;
	}
	setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
	if (tu_sh("(command -v losetup && command -v mkfs.ext4 && command -v "
		  "debugfs && command -v dumpe2fs && command -v e2fsck) "
		  ">/dev/null") != 0 ||
	    tu_sh("losetup -f >/dev/null 2>&1") != 0) {
		printf("SKIP: test_storage_fc needs losetup, e2fsprogs and a "
		       "free loop device\n");
		return 77;
	}
	sweep_stale();
	snprintf(run_dir, sizeof(run_dir), "/tmp/cmsd-fc-test.%d",
		 (int)getpid());
	if (mkdir(run_dir, 0700) < 0) {
		perror(run_dir);
		return EXIT_FAILURE;
	}
	rp = pt_reaper(sweep_run, &wfd);
	if (rp < 0) {
		fprintf(stderr, "cannot start the reaper\n");
		sweep(run_dir);
		return EXIT_FAILURE;
	}

	s = suite_create("storage_fc");
	tc = tcase_create("storage_fc");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, promote_write_demote_promote);
	tcase_add_test(tc, demote_busy_names_the_holders);
	tcase_add_test(tc, missing_device_is_named);
	tcase_add_test(tc, wwn_found_under_by_id);
	tcase_add_test(tc, e2fsck_repairs_then_refuses);
	tcase_add_test(tc, xfs_mounts_without_a_check);
	tcase_add_test(tc, monitor_sees_the_mount_go_or_turn_read_only);
	tcase_add_test(tc, another_file_system_on_the_mount_point);
	tcase_add_test(tc,
		       cancelled_promote_then_demote_leaves_nothing_mounted);
	tcase_add_test(tc, no_pr_device_refused);
	tcase_add_test(tc, pr_life_cycle);
	tcase_add_test(tc, pr_key_from_node);
	tcase_add_test(tc, pr_refused_takeover_not_mounted);
	suite_add_tcase(s, tc);
	rc = tu_run(s);
	close(wfd);
	waitpid(rp, NULL, 0);
	return rc;
}
