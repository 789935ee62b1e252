/*
 * storage-drbd: a DRBD-replicated partition: the database partition r0, and
 * the one local sync partition r1 for templates.
 *
 * Runtime (every op non-blocking; the decisions are in drbd_plan.c, pure,
 * and this file only gathers facts and runs what drbd_next() names):
 *
 *   start    writes <config-dir>/RES.res (both nodes from the cluster's
 *            node list, host->cluster_nodes), starts `drbdsetup events2
 *            --timestamps --statistics all` as a streaming child and waits
 *            for its initial dump; if the kernel does not know the resource
 *            yet: `drbdadm dump-md` (create-md only on "No valid meta data
 *            found", and never with --force), then `drbdadm up`.
 *   events2  parsed line by line into the state model (drbd_events.c);
 *            changes are notified: STATE_CHANGED, SPLIT_BRAIN (the
 *            split-brain helper call, or StandAlone after it; once per
 *            episode), FAILED (disk Failed, or Diskless after it was
 *            attached, outside our own down).  The child is restarted
 *            when it dies (1 s, doubling to 10 s).  After role, disk or
 *            connection changes `drbdadm get-gi` refreshes the generation.
 *   promote  see drbd_plan.c: refuses a disk that is not UpToDate (or in
 *            split brain) unless forced, waits while the peer is Primary
 *            and connected, `drbdadm primary [--force]`, a probe of the
 *            device (dd of its first 68 KiB), mkfs only
 *            on a fresh resource, then the mount layer the shared-LUN
 *            plugins use (plugins/common/pu_mount: prepare, e2fsck -p,
 *            mount(2) in a worker thread).
 *   demote   umount(2) in the worker (never lazy; retried 5 times 1 s
 *            apart, holders logged), `drbdadm secondary`.
 *   stop     umount, secondary, `drbdadm down`, the stream stopped.
 *   resync   loser: umount, secondary, disconnect unless StandAlone,
 *            `connect --discard-my-data`, with one log line of what it had;
 *            winner: `connect` when StandAlone.
 *   fence_peer  0 when the peer's disk is Outdated/Inconsistent/Diskless,
 *            else -EOPNOTSUPP (8.4 cannot outdate the peer from here).
 *
 * Every drbdadm runs as `drbdadm -c <config-dir>/RES.res CMD RES`, so it
 * reads the file cmsd wrote whatever /etc/drbd.conf includes.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drbd_events.h"
#include "drbd_plan.h"
#include "drbd_res.h"
#include "plugin_util.h"
#include "pu_mount.h"

#define DRBD_MAX_MINOR 1048575 /* MINORMASK of the kernel: 20 bits */
#define DRBD_MAX_DISKS 8

struct drbd_cdisk {
	char *node; /* NULL: every node without a disk of its own */
	char *path;
};

enum drbd_fstype { DRBD_EXT4, DRBD_XFS };
enum drbd_after_sb { DRBD_SB_AUTO, DRBD_SB_OPERATOR };

/* Programs the runtime runs, with their keys and defaults (a busybox guest
 * or a test points them elsewhere). */
enum drbd_prog { P_DRBDADM, P_DRBDSETUP, P_MKFS_EXT4, P_MKFS_XFS, P_DD, P_N };
static const char *const drbd_prog_keys[P_N] = {
	"drbdadm", "drbdsetup", "mkfs-ext4-program", "mkfs-xfs-program",
	"dd-program"};
static const char *const drbd_prog_defaults[P_N] = {
	"/usr/sbin/drbdadm", "/usr/sbin/drbdsetup", "/sbin/mkfs.ext4",
	"/sbin/mkfs.xfs", "/bin/dd"};

/* One child of an op step, get-gi or the stream: what its done() is for.
 * A cancelled op's child still ends later; gen tells it apart. */
struct drbd_job {
	struct drbd *d;
	unsigned gen;
	enum drbd_act act;
	int kind; /* 0 op step, 1 get-gi, 2 events2 */
	struct drbd_job *next;
};

struct drbd {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char *resource;
	char device[32];
	unsigned minor;
	struct drbd_cdisk disks[DRBD_MAX_DISKS];
	size_t n_disks;
	uint16_t port;
	char *mount;
	enum drbd_fstype fstype;
	enum drbd_after_sb after_sb;
	enum drbd_version version;
	char *config_dir;
	char *handler;
	char *prog[P_N];
	char *res_path; /* <config-dir>/RES.res */
	char *adm_conf; /* what drbdadm reads (-c): <drbdadm-config> */

	/* Runtime, on the loop. */
	struct drbd_state st;
	struct drbd_lines lb;
	bool ev_want;	 /* started: keep the stream up */
	bool ev_running; /* the child runs */
	bool stream_up;	 /* its initial dump is in */
	unsigned ev_gen; /* the current stream's jobs */
	uint64_t ev_backoff_ms;
	struct cmsd_child *ev_child;
	struct cmsd_timer *ev_timer; /* restart */
	struct cmsd_timer *gi_timer; /* get-gi, debounced */
	bool gi_running;
	struct cmsd_timer *poll; /* a WAITing op asks again */
	struct drbd_job *jobs;

	/* The op in flight (the agent runs one at a time per instance). */
	struct cmsd_op *op;
	enum drbd_opk opk;
	unsigned op_gen;
	struct drbd_facts f;
	int steps;
	int umount_tries;
	bool mount_ran;
	struct cmsd_child *fsck_child;
	/* mount(2)/umount(2) in a worker thread (plugins/common/pu_mount),
	 * in the order the ops asked for them. */
	struct pu_worker worker;
	dev_t mounted_dev; /* what this instance mounted, or 0 */
	const char *last_why;
	uint64_t op_t0;
	bool step_running; /* one command of the op at a time */
	bool in_call;	   /* inside the op call: the result is returned */
	int call_rc;

	/* Reporting. */
	bool promoted; /* we mounted it: monitor checks the mount */
	bool sb_reported;
	enum drbd_disk last_disk;
	bool downing; /* our own down: Diskless is no failure */
	char last_state[160];
	/* The last generation read: the model starts empty with each
	 * stream, and get-gi follows its dump a moment later. */
	bool have_gen;
	uint64_t gen;
};

static const char *const drbd_keys[] = {"resource",
					"device",
					"minor",
					"disk",
					"port",
					"mount",
					"fstype",
					"after-sb",
					"drbd-version",
					"config-dir",
					"handler",
					"drbdadm",
					"drbdsetup",
					"mkfs-ext4-program",
					"mkfs-xfs-program",
					"dd-program",
					"drbdadm-config",
					NULL};
static const char *const drbd_fstypes[] = {"ext4", "xfs", NULL};
static const char *const drbd_after_sbs[] = {"auto", "operator", NULL};
static const char *const drbd_versions[] = {"8.4", "9", NULL};

/* [a-z][a-z0-9_]*: drbdadm's own rule is looser, but the name also makes
 * file names (/etc/drbd.d/NAME.res) and status lines. */
static bool drbd_name_ok(const char *s)
{
	if (!islower((unsigned char)s[0]) || strlen(s) > 63)
		return false;
	for (const char *p = s; *p; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* "/dev/drbdN" with N a plain decimal minor; -1 when it is not. */
static long drbd_device_minor(const char *dev)
{
	const char *p = dev + strlen("/dev/drbd");
	long n = 0;

	if (strncmp(dev, "/dev/drbd", 9) != 0 || !*p || strlen(p) > 7 ||
	    (p[0] == '0' && p[1]))
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n <= DRBD_MAX_MINOR ? n : -1;
}

static bool drbd_dev_path_ok(const char *s)
{
	return strncmp(s, "/dev/", 5) == 0 && s[5] && !strstr(s, "/../") &&
	       !strpbrk(s, " \t");
}

/* The strings as read, pointing into the configuration. */
struct drbd_strings {
	const char *res, *mount, *config_dir, *handler, *adm_conf;
	const char *prog[P_N];
	const char *disk_node[DRBD_MAX_DISKS], *disk_path[DRBD_MAX_DISKS];
};

static int drbd_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		     struct drbd *d, struct drbd_strings *s)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *dev = NULL;
	int64_t minor = 0, port = 7789;
	int e;
	size_t n = cf->count(c, "disk"), generic = 0;
	int bad = cf->check_keys(c, drbd_keys);
	int rc = cf->get_string(c, "resource", NULL, &s->res);

	if (rc == 1)
		bad += cf->require(c, "resource") < 0;
	else if (rc < 0)
		bad++;
	else if (!drbd_name_ok(s->res))
		bad += cf->error(c, "resource",
				 "\"%s\" is not a DRBD resource name "
				 "([a-z][a-z0-9_]*, at most 63)",
				 s->res) < 0;
	rc = cf->get_int(c, "minor", 0, 0, DRBD_MAX_MINOR, &minor);
	bad += rc < 0;
	if (cf->get_string(c, "device", NULL, &dev) < 0) {
		bad++;
	} else if (dev) {
		long dm = drbd_device_minor(dev);
		/* DRBD ties /dev/drbdN to minor N: two different numbers
		 * could not both hold. */
		if (dm < 0)
			bad += cf->error(c, "device",
					 "\"%s\" is not /dev/drbdN (N 0..%d)",
					 dev, DRBD_MAX_MINOR) < 0;
		else if (cf->count(c, "minor") && dm != minor)
			bad += cf->error(
				       c, "device",
				       "%s does not match <minor>%lld</minor>",
				       dev, (long long)minor) < 0;
		else
			minor = dm;
	}
	d->minor = (unsigned)minor;
	snprintf(d->device, sizeof(d->device), "/dev/drbd%u", d->minor);

	if (n == 0)
		bad += cf->require(c, "disk") < 0;
	if (n > DRBD_MAX_DISKS)
		bad += cf->error(c, "disk", "at most %d <disk> elements",
				 DRBD_MAX_DISKS) < 0;
	d->n_disks = 0;
	for (size_t i = 0; i < n && i < DRBD_MAX_DISKS; i++) {
		const struct cmsd_conf *dk = cf->child(c, "disk", i);
		const char *path = cf->text(dk);
		const char *node = cf->attr(dk, "node");

		if (!drbd_dev_path_ok(path))
			bad += cf->error(dk, NULL,
					 "\"%s\" is not a block device path "
					 "(/dev/...)",
					 path) < 0;
		if (!node)
			generic++;
		else if (!*node)
			bad += cf->error(dk, NULL, "node=\"\" names no node") <
			       0;
		for (size_t j = 0; node && j < i; j++) {
			const char *o =
				cf->attr(cf->child(c, "disk", j), "node");
			if (o && strcmp(o, node) == 0)
				bad += cf->error(dk, NULL,
						 "a second <disk> for node "
						 "\"%s\"",
						 node) < 0;
		}
		s->disk_node[d->n_disks] = node;
		s->disk_path[d->n_disks] = path;
		d->n_disks++;
	}
	if (generic > 1)
		bad += cf->error(c, "disk",
				 "at most one <disk> without node=\"ID\" (the "
				 "others must name their node)") < 0;
	bad += cf->get_int(c, "port", 7789, 1, 65535, &port) < 0;
	d->port = (uint16_t)port;
	bad += pu_abs_path(h, c, "mount", false, &s->mount);
	if (!s->mount)
		s->mount = "/var/lib/mysql-share";
	bad += cf->get_enum(c, "fstype", drbd_fstypes, DRBD_EXT4, &e) < 0;
	d->fstype = (enum drbd_fstype)e;
	bad += cf->get_enum(c, "after-sb", drbd_after_sbs, DRBD_SB_AUTO, &e) <
	       0;
	d->after_sb = (enum drbd_after_sb)e;
	bad += cf->get_enum(c, "drbd-version", drbd_versions, 0, &e) < 0;
	d->version = e == 1 ? DRBD_V9 : DRBD_V84;
	bad += pu_abs_path(h, c, "config-dir", false, &s->config_dir);
	bad += pu_abs_path(h, c, "drbdadm-config", false, &s->adm_conf);
	if (!s->config_dir)
		s->config_dir = "/etc/drbd.d";
	for (int i = 0; i < P_N; i++) {
		bad += pu_abs_path(h, c, drbd_prog_keys[i], false, &s->prog[i]);
		if (!s->prog[i])
			s->prog[i] = drbd_prog_defaults[i];
	}
	/* The handler goes into the resource file in double quotes. */
	bad += pu_command(h, c, "handler", false);
	if (cf->get_string(c, "handler", NULL, &s->handler) < 0)
		bad++;
	else if (s->handler && strpbrk(s->handler, "\"\\;"))
		bad += cf->error(c, "handler",
				 "no quote, backslash or ';' in the handler "
				 "command (it goes into the resource file)") <
		       0;
	if (!s->handler)
		s->handler = DRBD_HANDLER_CMD;
	return bad;
}

/* ---- the resource file ---- */

/* This node's and the peer's disk: the one naming the node, else the one
 * without node=. */
static const char *drbd_disk_for(const char *const *node,
				 const char *const *path, size_t n,
				 const char *id)
{
	const char *generic = NULL;

	for (size_t i = 0; i < n; i++) {
		if (node[i] && id && strcmp(node[i], id) == 0)
			return path[i];
		if (!node[i])
			generic = path[i];
	}
	return generic;
}

/* The file's text from the cluster's node list.  0, or -errno with msg. */
static int drbd_res_text(const struct cmsd_host *h, const char *res,
			 unsigned minor, uint16_t port, enum drbd_version v,
			 const char *handler, const char *const *dnode,
			 const char *const *dpath, size_t n_disks, char *buf,
			 size_t len, char *msg, size_t msglen)
{
	const char *const *cn =
		h->abi_minor >= 3 && h->size >= offsetof(struct cmsd_host,
							 cluster_nodes) +
							sizeof(h->cluster_nodes)
			? h->cluster_nodes
			: NULL;
	struct drbd_res_conf rc = {.resource = res,
				   .minor = minor,
				   .port = port,
				   .version = v,
				   .handler = handler};
	size_t n = 0;
	int r;

	if (!cn) {
		snprintf(msg, msglen,
			 "no cluster node list from the agent (needs cmsd "
			 "with SDK 1.3, node mode)");
		return -ENOTSUP;
	}
	while (cn[3 * n])
		n++;
	if (n != 2) {
		snprintf(msg, msglen,
			 "DRBD needs exactly two <node> in <cluster>, found "
			 "%zu",
			 n);
		return -ENXIO;
	}
	for (size_t i = 0; i < 2; i++) {
		struct drbd_res_node *rn = &rc.node[i];
		rn->name = cn[3 * i + 1];
		rn->addr = cn[3 * i + 2];
		rn->node_id = (int)i;
		rn->disk = drbd_disk_for(dnode, dpath, n_disks, cn[3 * i]);
		if (!rn->disk) {
			snprintf(msg, msglen,
				 "no <disk> for node \"%s\" (and no <disk> "
				 "without node=)",
				 cn[3 * i]);
			return -EINVAL;
		}
		if (!*rn->addr) {
			snprintf(msg, msglen,
				 "node \"%s\" has no <link> address",
				 cn[3 * i]);
			return -EINVAL;
		}
	}
	r = drbd_res_write(&rc, buf, len, msg, msglen);
	if (r == -ENOSPC)
		snprintf(msg, msglen, "the resource file is too long");
	return r < 0 ? r : 0;
}

/* This node's name as drbdadm must see it (uname -n), from the list. */
static const char *drbd_local_name(const struct cmsd_host *h)
{
	const char *const *cn = h->abi_minor >= 3 ? h->cluster_nodes : NULL;

	for (size_t i = 0; cn && cn[3 * i]; i++)
		if (h->node_id && strcmp(cn[3 * i], h->node_id) == 0)
			return cn[3 * i + 1];
	return NULL;
}

/* drbdadm's message without its chatter on a host without the module,
 * on one line, naming the file it will be (it read its stdin). */
static void drbd_clean_msg(const char *out, const char *file, char *msg,
			   size_t len)
{
	struct drbd_out o = {msg, len, 0, false};
	const char *p = out;

	msg[0] = '\0';
	while (*p) {
		size_t l = strcspn(p, "\n");
		const char *q = p;
		while (q < p + l && isspace((unsigned char)*q))
			q++;
		bool in = strncmp(q, "/proc/self/fd/0:", 16) == 0;
		if (in)
			q += 15;
		if (q < p + l && !strstr(q, "modinfo") &&
		    !strstr(q, "__DRBD_NODE__") && !strstr(q, "PRETENDING"))
			drbd_put(&o, "%s%s%.*s", o.pos ? " | " : "",
				 in ? file : "", (int)(p + l - q), q);
		p += l + (p[l] == '\n');
	}
}

/*
 * `cmsd --check`: the file this section makes, through the real drbdadm
 * (`drbdadm -c /proc/self/fd/0 -d up RES`, a dry run: nothing is written or
 * changed), as this node (__DRBD_NODE__) and with the configured DRBD
 * version (DRBD_DRIVER_VERSION_OVERRIDE), so that a check host without the
 * kernel module judges it as the node would.  Synchronous: validate runs
 * before the loop or between its events, and drbdadm -d takes
 * milliseconds; the child is waited for by pid (the agent reaps only its
 * own).  Returns the number of errors reported.
 */
static int drbd_check_with_drbdadm(const struct cmsd_host *h,
				   const struct cmsd_conf *c, struct drbd *d,
				   const struct drbd_strings *s)
{
	char *text = malloc(8192), out[4096], msg[1024], env_node[300];
	const char *me = drbd_local_name(h);
	const char *adm = s->prog[P_DRBDADM];
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, st = 0, bad = 0;
	bool timed_out = false;
	size_t got = 0;
	pid_t pid;
	int rc;

	if (!text)
		return 0;
	rc = drbd_res_text(h, s->res, d->minor, d->port, d->version, s->handler,
			   s->disk_node, s->disk_path, d->n_disks, text, 8192,
			   msg, sizeof(msg));
	if (rc == -ENOTSUP) {
		free(text); /* arbiter mode or an old agent: nothing to name */
		return 0;
	}
	if (rc == -ENXIO) {
		/* A cluster still being set up: start refuses it. */
		h->log(h, CMSD_LOG_WARNING, "resource file not checked: %s",
		       msg);
		free(text);
		return 0;
	}
	if (rc < 0) {
		free(text);
		return h->conf->error(c, NULL, "%s", msg) < 0;
	}
	if (access(adm, X_OK) < 0 || !me) {
		if (!me)
			h->log(h, CMSD_LOG_WARNING,
			       "resource file not checked with drbdadm: this "
			       "node is not in the cluster's node list");
		else
			h->log(h, CMSD_LOG_WARNING,
			       "resource file not checked: %s is not an "
			       "executable on this host (%s)",
			       adm, strerror(errno));
		free(text);
		return 0;
	}
	snprintf(env_node, sizeof(env_node), "__DRBD_NODE__=%s", me);
	char *const envp[] = {
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", env_node,
		d->version == DRBD_V84 ? "DRBD_DRIVER_VERSION_OVERRIDE=8.4.11"
				       : NULL,
		NULL};
	/* /proc/self/fd/0, not /dev/stdin: a guest with devtmpfs and no
	 * udev has no /dev/stdin link. */
	char *const argv[] = {(char *)adm, "-c", "/proc/self/fd/0",
			      "-d",	   "up", (char *)s->res,
			      NULL};
	if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0) {
		free(text);
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		/* async-signal-safe only */
		if (dup2(in_p[0], 0) < 0 || dup2(out_p[1], 1) < 0 ||
		    dup2(out_p[1], 2) < 0)
			_exit(127);
		execve(adm, argv, envp);
		_exit(127);
	}
	close(in_p[0]);
	close(out_p[1]);
	if (pid > 0) {
		/* The text (< 8 KiB) fits in the pipe: no deadlock. */
		size_t len = strlen(text), off = 0;
		while (off < len) {
			ssize_t n = write(in_p[1], text + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	close(in_p[1]);
	/* drbdadm -d takes milliseconds; a hung one must not hold the
	 * agent (validate runs on the loop at reload): 10 s, then killed. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pid > 0) {
		struct pollfd pfd = {.fd = out_p[0], .events = POLLIN};
		struct timespec now;
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = 10000 - ((now.tv_sec - t0.tv_sec) * 1000 +
				(now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			timed_out = true;
			break;
		}
		n = read(out_p[0], out + got, sizeof(out) - 1 - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(out) - 1) {
			char sink[512];
			while (read(out_p[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[got] = '\0';
	close(out_p[0]);
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		h->log(h, CMSD_LOG_WARNING,
		       "resource file not checked: %s gave no answer within "
		       "10 s (killed)",
		       adm);
		free(text);
		return 0;
	}
	if (pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char file[PATH_MAX];
		snprintf(file, sizeof(file), "%s/%s.res", s->config_dir,
			 s->res);
		drbd_clean_msg(out, file, msg, sizeof(msg));
		bad += h->conf->error(c, NULL,
				      "drbdadm refuses the resource file this "
				      "section makes (exit %d): %s",
				      WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				      msg[0] ? msg : "(no message)") < 0;
	}
	free(text);
	return bad;
}

static int drbd_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct drbd *d = calloc(1, sizeof(*d));
	struct drbd_strings s;
	int bad;

	if (!d)
		return -ENOMEM;
	memset(&s, 0, sizeof(s));
	bad = drbd_read(h, c, d, &s);
	if (!bad)
		bad = drbd_check_with_drbdadm(h, c, d, &s);
	free(d);
	return bad ? -EINVAL : 0;
}

/* ---- small helpers ---- */

static void drbd_log(const struct drbd *d, enum cmsd_log_level lv,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void drbd_log(const struct drbd *d, enum cmsd_log_level lv,
		     const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d->base.host->log(d->base.host, lv, "%s", buf);
}

static const char *const drbd_opk_names[] = {"start", "stop", "promote",
					     "demote", "resync"};

/* The last lines of a child's output, on one line, for the log. */
static void drbd_tail(const char *out, char *buf, size_t len)
{
	size_t n = strlen(out);
	const char *p = n > 400 ? out + n - 400 : out;
	size_t i = 0;

	for (; *p && i + 1 < len; p++)
		buf[i++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	while (i && buf[i - 1] == ' ')
		i--;
	buf[i] = '\0';
}

static struct drbd_job *drbd_job_new(struct drbd *d, int kind,
				     enum drbd_act act, unsigned gen)
{
	struct drbd_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->d = d;
	j->kind = kind;
	j->act = act;
	j->gen = gen;
	j->next = d->jobs;
	d->jobs = j;
	return j;
}

static void drbd_job_free(struct drbd_job *j)
{
	for (struct drbd_job **p = &j->d->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	free(j);
}

static int drbd_spawn(struct drbd *d, const char *const *argv,
		      uint32_t timeout_ms, size_t output_max,
		      cmsd_child_cb done, cmsd_child_output_cb output,
		      struct drbd_job *j, struct cmsd_child **out)
{
	const struct cmsd_host *h = d->base.host;
	struct cmsd_spawn req = {.size = sizeof(req),
				 .argv = argv,
				 .timeout_ms = timeout_ms,
				 .output_max = output_max ? output_max : 16384,
				 .done = done,
				 .arg = j,
				 .output = output};
	int rc = h->spawn(h, &req, out);

	if (rc < 0)
		drbd_log(d, CMSD_LOG_ERR, "cannot run %s: %s", argv[0],
			 strerror(-rc));
	return rc;
}

/* The DRBD device's number now, or what this instance mounted (the
 * node may be gone after a down); 0 when neither. */
static dev_t drbd_rdev(const struct drbd *d)
{
	struct stat sb;

	if (stat(d->device, &sb) == 0 && S_ISBLK(sb.st_mode))
		return sb.st_rdev;
	return d->mounted_dev;
}

/* 1 when the DRBD device is mounted on <mount> (by device number, so a
 * /dev/drbd/by-res link counts too), 0 not, -errno when unknown; *ro: the
 * mount is read-only (errors=remount-ro hit). */
static int drbd_mounted_ro(const struct drbd *d, bool *ro)
{
	char mp[PATH_MAX];
	struct pu_mnt *m = malloc(sizeof(*m));
	dev_t want = drbd_rdev(d);
	int rc;

	if (ro)
		*ro = false;
	if (!m)
		return -ENOMEM;
	pu_canon(d->mount, mp);
	rc = pu_mnt_at(mp, m);
	if (rc == 1)
		rc = want && m->dev == want;
	if (rc == 1 && ro)
		*ro = m->ro;
	free(m);
	return rc;
}

static int drbd_mounted(const struct drbd *d)
{
	return drbd_mounted_ro(d, NULL);
}

static void drbd_fresh_path(const struct drbd *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/fresh-%s", d->base.host->state_dir, d->resource);
}

static bool drbd_fresh_get(const struct drbd *d)
{
	char p[PATH_MAX];

	drbd_fresh_path(d, p, sizeof(p));
	return access(p, F_OK) == 0;
}

static void drbd_fresh_set(const struct drbd *d, bool on)
{
	char p[PATH_MAX];
	int fd;

	drbd_fresh_path(d, p, sizeof(p));
	if (!on) {
		unlink(p);
		return;
	}
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* mkdir -p, mode 0755: the mount point's parents may not exist on a
 * fresh host (/var/lib in a minimal guest).  0 or -1 with errno. */
static int drbd_mkdir_p(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Writes <config-dir>/RES.res (a temporary file renamed over it). */
static int drbd_write_res(struct drbd *d)
{
	const struct cmsd_host *h = d->base.host;
	const char *dn[DRBD_MAX_DISKS], *dp[DRBD_MAX_DISKS];
	char *text = malloc(8192), tmp[PATH_MAX + 8], msg[512];
	int rc, fd;
	size_t len, off = 0;

	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_disks; i++) {
		dn[i] = d->disks[i].node;
		dp[i] = d->disks[i].path;
	}
	rc = drbd_res_text(h, d->resource, d->minor, d->port, d->version,
			   d->handler, dn, dp, d->n_disks, text, 8192, msg,
			   sizeof(msg));
	if (rc < 0) {
		drbd_log(d, CMSD_LOG_ERR, "start: %s", msg);
		free(text);
		return rc;
	}
	if (drbd_mkdir_p(d->config_dir) < 0) {
		rc = -errno;
		drbd_log(d, CMSD_LOG_ERR, "start: cannot create %s: %s",
			 d->config_dir, strerror(errno));
		free(text);
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->res_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		drbd_log(d, CMSD_LOG_ERR, "start: cannot write %s: %s", tmp,
			 strerror(errno));
		free(text);
		return rc;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	rc = off == len && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	free(text);
	if (rc == 0 && rename(tmp, d->res_path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		drbd_log(d, CMSD_LOG_ERR, "start: cannot write %s: %s",
			 d->res_path, strerror(-rc));
		return rc;
	}
	drbd_log(d, CMSD_LOG_INFO, "start: wrote %s", d->res_path);
	return 0;
}

/*
 * The file drbdadm reads.  <drbdadm-config> when given; else, with the
 * resource file in /etc/drbd.d and an /etc/drbd.conf there (which includes
 * drbd.d/global_common.conf and drbd.d/NAME.res on every distribution), that
 * one, so that the site's common section (timeouts, resync rate) applies
 * and an operator's drbdadm sees the same; else the resource file alone.
 * Decided at each use: /etc/drbd.conf may come with the package later.
 */
static const char *drbd_adm_conf(const struct drbd *d)
{
	if (d->adm_conf)
		return d->adm_conf;
	if (strcmp(d->config_dir, "/etc/drbd.d") == 0 &&
	    access("/etc/drbd.conf", R_OK) == 0)
		return "/etc/drbd.conf";
	return d->res_path;
}

/* ---- the events2 stream ---- */

static void drbd_ev_start(struct drbd *d);
static void drbd_op_step(struct drbd *d);
static void drbd_gi_schedule(struct drbd *d, uint64_t ms);

static const struct drbd_res_state *drbd_model(const struct drbd *d)
{
	return drbd_state_find(&d->st, d->resource);
}

/*
 * A split brain outlives the stream that saw it: DRBD 8.4 shows only
 * StandAlone afterwards, and the helper call that told it is gone with a
 * restarted stream or agent.  So it is kept as a file in the state
 * directory (split-brain-NAME, its time in the mtime) until the model
 * clears it (a handshake that reached a resync or Established).
 */
static void drbd_sb_path(const struct drbd *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/split-brain-%s", d->base.host->state_dir,
		 d->resource);
}

static void drbd_sb_keep(struct drbd *d, const struct drbd_res_state *r)
{
	char p[PATH_MAX];
	bool there;

	drbd_sb_path(d, p, sizeof(p));
	there = access(p, F_OK) == 0;
	if (r->split_brain && !there) {
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	} else if (!r->split_brain && there) {
		unlink(p);
	}
}

/* After a dump: a split brain recorded before and not healed since. */
static void drbd_sb_restore(struct drbd *d)
{
	struct drbd_res_state *r = drbd_state_res(&d->st, d->resource);
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;
	char p[PATH_MAX];
	struct stat sb;

	drbd_sb_path(d, p, sizeof(p));
	if (!r || !r->present || stat(p, &sb) < 0)
		return;
	if (pd && pd->repl >= DRBD_ESTABLISHED) {
		unlink(p); /* healed while nobody watched */
		return;
	}
	r->split_brain = true;
	r->split_brain_us = (int64_t)sb.st_mtime * 1000000;
	drbd_log(d, CMSD_LOG_WARNING,
		 "split brain of %s recorded at %lld and not healed since",
		 d->resource, (long long)sb.st_mtime);
}

/* What changed, told to the core. */
static void drbd_report(struct drbd *d, unsigned ch)
{
	const struct cmsd_host *h = d->base.host;
	const struct drbd_res_state *r = drbd_model(d);
	const struct drbd_dev_state *dv = r ? drbd_res_dev(r, 0) : NULL;
	const struct drbd_conn_state *c = r ? drbd_res_peer(r) : NULL;
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;
	enum drbd_disk disk = dv ? dv->disk : DRBD_DISK_NONE;
	char line[160];

	if (!d->stream_up)
		return;
	snprintf(line, sizeof(line), "%s %s %s/%s %s/%s", d->resource,
		 r ? drbd_overview_cstate(r, 0) : "Unconfigured",
		 r ? drbd_role_str(r->role) : "-",
		 c ? drbd_role_str(c->peer_role) : "Unknown",
		 dv ? drbd_disk_str(disk) : "-",
		 pd ? drbd_disk_str(pd->peer_disk) : "DUnknown");
	if (strcmp(line, d->last_state) != 0) {
		snprintf(d->last_state, sizeof(d->last_state), "%s", line);
		drbd_log(d, CMSD_LOG_INFO, "state: %s", line);
		h->notify(h, CMSD_EV_STATE_CHANGED, line);
	}
	if (r)
		drbd_sb_keep(d, r);
	/* Split brain: the helper call, or StandAlone after it; once. */
	if (r && r->split_brain && !d->sb_reported) {
		d->sb_reported = true;
		drbd_log(d, CMSD_LOG_WARNING, "split brain detected on %s (%s)",
			 d->resource,
			 c && c->conn == DRBD_STANDALONE ? "StandAlone"
							 : "helper called");
		h->notify(h, CMSD_EV_SPLIT_BRAIN, d->resource);
	} else if (r && !r->split_brain) {
		d->sb_reported = false;
	}
	/* The disk failed on its own: I/O error (Failed, DRBD detaches to
	 * Diskless) outside our own down. */
	if ((ch & DRBD_CH_DISK) && !d->downing &&
	    (disk == DRBD_FAILED ||
	     (disk == DRBD_DISKLESS && d->last_disk >= DRBD_INCONSISTENT))) {
		drbd_log(d, CMSD_LOG_ERR, "disk of %s failed: %s", d->resource,
			 drbd_disk_str(disk));
		h->notify(h, CMSD_EV_FAILED, "DRBD disk failed");
	}
	if (dv)
		d->last_disk = disk;
}

static void drbd_ev_line(void *ctx, const char *line)
{
	struct drbd *d = ctx;
	struct drbd_event ev;
	char err[160];
	int ch;

	if (drbd_ev_parse(line, &ev, err, sizeof(err)) < 0) {
		drbd_log(d, CMSD_LOG_WARNING, "events2: %s: %.200s", err, line);
		return;
	}
	/* The stream is for all resources (a name filter on a resource not
	 * up yet is refused by some drbdsetup versions): keep ours. */
	if (ev.obj != DRBD_OBJ_END && strcmp(ev.name, d->resource) != 0)
		return;
	ch = drbd_state_apply(&d->st, &ev, (int64_t)time(NULL) * 1000000);
	if (ch < 0)
		return;
	if (ch & DRBD_CH_DUMP_DONE) {
		d->stream_up = true;
		d->ev_backoff_ms = 0;
		drbd_sb_restore(d);
		drbd_log(d, CMSD_LOG_INFO, "events2: stream up");
	}
	if (ch &
	    (DRBD_CH_ROLE | DRBD_CH_DISK | DRBD_CH_CONN | DRBD_CH_DUMP_DONE))
		drbd_gi_schedule(d, 200);
	if (ch)
		drbd_report(d, (unsigned)ch);
	if (ch && d->op)
		drbd_op_step(d);
}

static void drbd_ev_output(const char *data, size_t len, void *arg)
{
	struct drbd_job *j = arg;
	struct drbd *d = j->d;

	if (j->gen != d->ev_gen)
		return;
	if (drbd_lines_feed(&d->lb, data, len, drbd_ev_line, d) > 0)
		drbd_log(d, CMSD_LOG_WARNING,
			 "events2: an over-long line "
			 "was dropped");
}

static void drbd_ev_done(const struct cmsd_child_result *res, void *arg)
{
	struct drbd_job *j = arg;
	struct drbd *d = j->d;
	const struct cmsd_host *h = d->base.host;
	bool current = j->gen == d->ev_gen;

	drbd_job_free(j);
	if (!current)
		return;
	d->ev_running = false;
	d->ev_child = NULL;
	d->stream_up = false;
	if (!d->ev_want)
		return;
	d->ev_backoff_ms = d->ev_backoff_ms ? d->ev_backoff_ms * 2 : 1000;
	if (d->ev_backoff_ms > 10000)
		d->ev_backoff_ms = 10000;
	drbd_log(d, CMSD_LOG_WARNING,
		 "events2 ended (%s %d): restarting in %llu ms",
		 res->exited ? "exit" : "signal",
		 res->exited ? res->exit_code : res->signal,
		 (unsigned long long)d->ev_backoff_ms);
	h->notify(h, CMSD_EV_STATE_CHANGED, "events2 stream down");
	h->timer_arm(d->ev_timer, d->ev_backoff_ms);
}

static void drbd_ev_timer(void *arg)
{
	struct drbd *d = arg;

	if (d->ev_want && !d->ev_running)
		drbd_ev_start(d);
}

static void drbd_ev_start(struct drbd *d)
{
	const char *argv[] = {d->prog[P_DRBDSETUP], "events2", "--timestamps",
			      "--statistics",	    "all",     NULL};
	struct drbd_job *j;

	if (d->ev_running)
		return;
	d->ev_gen++;
	j = drbd_job_new(d, 2, DRBD_A_EVENTS, d->ev_gen);
	if (!j)
		return;
	drbd_state_init(&d->st);
	memset(&d->lb, 0, sizeof(d->lb));
	d->stream_up = false;
	d->last_state[0] = '\0';
	if (drbd_spawn(d, argv, 0, 0, drbd_ev_done, drbd_ev_output, j,
		       &d->ev_child) < 0) {
		drbd_job_free(j);
		d->ev_backoff_ms =
			d->ev_backoff_ms ? d->ev_backoff_ms * 2 : 1000;
		if (d->ev_backoff_ms > 10000)
			d->ev_backoff_ms = 10000;
		d->base.host->timer_arm(d->ev_timer, d->ev_backoff_ms);
		return;
	}
	d->ev_running = true;
}

static void drbd_ev_stop(struct drbd *d)
{
	d->ev_want = false;
	d->base.host->timer_disarm(d->ev_timer);
	if (d->ev_running && d->ev_child)
		d->base.host->child_kill(d->ev_child);
	/* Its done() is now stale: nothing more of this stream counts. */
	d->ev_gen++;
	d->ev_running = false;
	d->ev_child = NULL;
	d->stream_up = false;
}

/* ---- the generation: drbdadm get-gi ---- */

static void drbd_gi_done(const struct cmsd_child_result *res, void *arg)
{
	struct drbd_job *j = arg;
	struct drbd *d = j->d;
	struct drbd_res_state *r;
	char err[160];
	uint64_t before;

	drbd_job_free(j);
	d->gi_running = false;
	r = drbd_state_res(&d->st, d->resource);
	if (!r || !res->exited || res->exit_code != 0)
		return; /* detached, or not up: keep the last one known */
	before = r->have_uuid ? r->current_uuid : 0;
	if (drbd_res_set_gi(r, res->output, err, sizeof(err)) < 0) {
		drbd_log(d, CMSD_LOG_WARNING, "get-gi: %s", err);
		return;
	}
	d->have_gen = true;
	d->gen = drbd_generation(r->current_uuid);
	if (drbd_generation(r->current_uuid) != drbd_generation(before)) {
		drbd_log(d, CMSD_LOG_INFO, "generation %016" PRIX64,
			 drbd_generation(r->current_uuid));
		d->base.host->notify(d->base.host, CMSD_EV_STATE_CHANGED,
				     "generation");
	}
}

static void drbd_gi_timer(void *arg)
{
	struct drbd *d = arg;
	const char *argv[] = {d->prog[P_DRBDADM], "-c",	       drbd_adm_conf(d),
			      "get-gi",		  d->resource, NULL};
	const struct drbd_res_state *r = drbd_model(d);
	struct drbd_job *j;

	if (d->gi_running) {
		drbd_gi_schedule(d, 500);
		return;
	}
	if (!r || !r->present)
		return;
	j = drbd_job_new(d, 1, DRBD_A_DONE, 0);
	if (!j)
		return;
	if (drbd_spawn(d, argv, 20000, 0, drbd_gi_done, NULL, j, NULL) < 0) {
		drbd_job_free(j);
		return;
	}
	d->gi_running = true;
}

static void drbd_gi_schedule(struct drbd *d, uint64_t ms)
{
	d->base.host->timer_arm(d->gi_timer, ms);
}

/* ---- ops: the step loop ---- */

static void drbd_op_end(struct drbd *d, int rc)
{
	const struct cmsd_host *h = d->base.host;
	struct cmsd_op *op = d->op;

	d->op = NULL;
	d->op_gen++;
	d->step_running = false;
	h->timer_disarm(d->poll);
	if (d->in_call)
		d->call_rc = rc; /* returned by the op itself */
	else if (op)
		h->op_done(op, rc);
}

static void drbd_step_done(const struct cmsd_child_result *res, void *arg);
static int64_t drbd_proc_oos(const struct drbd *d);

/* Runs the command of act; 0 when started, -errno. */
static int drbd_run(struct drbd *d, enum drbd_act act)
{
	const char *adm = d->prog[P_DRBDADM];
	const char *argv[10] = {adm, "-c", drbd_adm_conf(d)};
	uint32_t tmo = 120000;
	size_t omax = 0;
	char probe_if[64];
	int n = 3;

	snprintf(probe_if, sizeof(probe_if), "if=%s", d->device);
	struct drbd_job *j;
	int rc;

	switch (act) {
	case DRBD_A_DUMP_MD:
		argv[n++] = "dump-md";
		break;
	case DRBD_A_CREATE_MD:
		/* No --force: drbdmeta asks before it writes over anything
		 * it recognises, and stdin is closed, so it declines. */
		argv[n++] = "create-md";
		break;
	case DRBD_A_UP:
		argv[n++] = "up";
		break;
	case DRBD_A_PRIMARY:
		argv[n++] = "primary";
		if (d->f.force || d->f.initial)
			argv[n++] = "--force";
		break;
	case DRBD_A_SECONDARY:
		argv[n++] = "secondary";
		break;
	case DRBD_A_DISCONNECT:
		argv[n++] = "disconnect";
		break;
	case DRBD_A_CONNECT:
		argv[n++] = "connect";
		break;
	case DRBD_A_CONNECT_DISCARD:
		argv[n++] = "connect";
		argv[n++] = "--discard-my-data";
		break;
	case DRBD_A_DOWN:
		d->downing = true;
		argv[n++] = "down";
		break;
	case DRBD_A_PROBE:
		/* The first 68 KiB, for drbd_fs_probe(): no blkid needed. */
		n = 0;
		argv[n++] = d->prog[P_DD];
		argv[n++] = probe_if;
		argv[n++] = "bs=4096";
		argv[n++] = "count=17";
		tmo = 60000;
		omax = DRBD_PROBE_BYTES + 4096; /* and dd's own lines */
		break;
	case DRBD_A_MKFS:
		/* No -F / -f: mkfs refuses a device with a file system. */
		n = 0;
		argv[n++] = d->prog[d->fstype == DRBD_XFS ? P_MKFS_XFS
							  : P_MKFS_EXT4];
		argv[n++] = "-q";
		argv[n++] = d->device;
		tmo = 30u * 60u * 1000u;
		break;
	default:
		return -EINVAL;
	}
	if (argv[0] == adm)
		argv[n++] = d->resource;
	argv[n] = NULL;
	j = drbd_job_new(d, 0, act, d->op_gen);
	if (!j)
		return -ENOMEM;
	rc = drbd_spawn(d, argv, tmo, omax, drbd_step_done, NULL, j, NULL);
	if (rc < 0)
		drbd_job_free(j);
	return rc;
}

/* ---- the mount layer (plugins/common/pu_mount) ---- */

struct drbd_mjob {
	struct pu_job job; /* first */
	struct drbd *d;
	unsigned gen;
	enum drbd_act act;
	enum pu_fstype fs;
	dev_t rdev, known;
	int rc, unmounted;
	enum pu_found found;
	char dev[64], mount[PATH_MAX], mp[PATH_MAX];
	struct pu_notes notes;
};

static void drbd_mjob_drop(struct pu_job *j)
{
	struct drbd_mjob *mj = (struct drbd_mjob *)j;

	pu_notes_free(&mj->notes);
	free(mj);
}

/* Worker thread: the job's own copies only. */
static void drbd_mjob_run(struct pu_job *j)
{
	struct drbd_mjob *mj = (struct drbd_mjob *)j;

	switch (mj->act) {
	case DRBD_A_PREPARE:
		mj->rc = pu_mount_prepare(mj->mount, mj->dev, mj->rdev, mj->mp,
					  &mj->found, &mj->notes);
		break;
	case DRBD_A_MOUNT:
		mj->rc = pu_mount_do(mj->dev, mj->rdev, mj->mp, mj->fs,
				     &mj->notes);
		break;
	default: /* DRBD_A_UMOUNT */
		mj->rc = pu_umount(mj->mount, mj->rdev, mj->known, mj->fs,
				   mj->mp, &mj->unmounted, &mj->notes);
		break;
	}
}

static void drbd_step_result(struct drbd *d, enum drbd_act a, int rc,
			     int found);

static void drbd_mjob_done(struct pu_job *j)
{
	struct drbd_mjob *mj = (struct drbd_mjob *)j;
	struct drbd *d = mj->d;
	bool current = d->op && mj->gen == d->op_gen;

	pu_notes_log(d->base.host, drbd_opk_names[d->opk], &mj->notes);
	/* What the kernel did counts even for a cancelled op: the demote
	 * the agent sends after it must unmount. */
	if (mj->rc == 0 &&
	    (mj->act == DRBD_A_MOUNT ||
	     (mj->act == DRBD_A_PREPARE && mj->found == PU_FOUND_ADOPT)))
		d->mounted_dev = mj->rdev;
	else if (mj->rc == 0 && mj->act == DRBD_A_UMOUNT)
		d->mounted_dev = 0;
	if (current)
		drbd_step_result(d, mj->act, mj->rc, (int)mj->found);
	drbd_mjob_drop(j);
}

static int drbd_mjob_submit(struct drbd *d, enum drbd_act a)
{
	struct drbd_mjob *mj = calloc(1, sizeof(*mj));
	int rc;

	if (!mj)
		return -ENOMEM;
	mj->job.run = drbd_mjob_run;
	mj->job.done = drbd_mjob_done;
	mj->d = d;
	mj->gen = d->op_gen;
	mj->act = a;
	mj->fs = d->fstype == DRBD_XFS ? PU_FS_XFS : PU_FS_EXT4;
	mj->rdev = drbd_rdev(d);
	mj->known = d->mounted_dev;
	pu_fmt(mj->dev, sizeof(mj->dev), "%s", d->device);
	pu_fmt(mj->mount, sizeof(mj->mount), "%s", d->mount);
	pu_canon(d->mount, mj->mp);
	if (a != DRBD_A_UMOUNT && !mj->rdev) {
		drbd_log(d, CMSD_LOG_ERR, "%s: %s is not a block device",
			 drbd_opk_names[d->opk], d->device);
		free(mj);
		return -ENODEV;
	}
	rc = pu_worker_submit(&d->worker, &mj->job);
	if (rc < 0) {
		drbd_log(d, CMSD_LOG_ERR, "cannot start the mount thread: %s",
			 strerror(-rc));
		free(mj);
	}
	return rc;
}

static void drbd_fsck_done(const struct cmsd_child_result *res, void *arg)
{
	struct drbd_job *j = arg;
	struct drbd *d = j->d;
	bool current = d->op && j->gen == d->op_gen;
	int rc;

	drbd_job_free(j);
	d->fsck_child = NULL;
	if (!current)
		return;
	rc = pu_fsck_result(d->base.host, drbd_opk_names[d->opk], d->device,
			    res);
	drbd_step_result(d, DRBD_A_FSCK, rc, -1);
}

static int drbd_fsck_start(struct drbd *d)
{
	struct drbd_job *j = drbd_job_new(d, 0, DRBD_A_FSCK, d->op_gen);
	int rc;

	if (!j)
		return -ENOMEM;
	rc = pu_fsck_spawn(d->base.host, drbd_opk_names[d->opk], d->device,
			   drbd_fsck_done, j, &d->fsck_child);
	if (rc < 0)
		drbd_job_free(j);
	return rc;
}

static void drbd_poll_cb(void *arg)
{
	struct drbd *d = arg;

	if (d->op)
		drbd_op_step(d);
}

static void drbd_op_step(struct drbd *d)
{
	const struct cmsd_host *h = d->base.host;
	const char *why;
	const char *opn = drbd_opk_names[d->opk];

	/* A model change or the poll while a command runs: its done()
	 * asks again. */
	if (d->step_running)
		return;
	while (d->op) {
		enum drbd_act a;
		int m = drbd_mounted(d);

		drbd_facts_from_model(&d->f, d->stream_up, drbd_model(d));
		d->f.mounted = m < 0 ? -1 : m;
		d->f.started = d->ev_want;
		d->f.initial = drbd_initial_pair(drbd_model(d), d->f.fresh);
		d->f.res_file = access(d->res_path, F_OK) == 0;
		a = drbd_next(d->opk, &d->f, &why);
		if (a != DRBD_A_WAIT && a != DRBD_A_EVENTS && ++d->steps > 40) {
			drbd_log(d, CMSD_LOG_ERR,
				 "%s: no end after %d steps (last: %s)", opn,
				 d->steps, drbd_act_name(a));
			drbd_op_end(d, -ELOOP);
			return;
		}
		if (why && why != d->last_why)
			drbd_log(d,
				 a == DRBD_A_FAIL ? CMSD_LOG_ERR
						  : CMSD_LOG_INFO,
				 "%s: %s", opn, why);
		d->last_why = why;
		switch (a) {
		case DRBD_A_DONE:
			if (d->opk == DRBD_OP_PROMOTE)
				d->promoted = true;
			if (d->opk == DRBD_OP_DEMOTE ||
			    d->opk == DRBD_OP_STOP ||
			    (d->opk == DRBD_OP_RESYNC && d->f.discard_local))
				d->promoted = false;
			drbd_log(d, CMSD_LOG_INFO, "%s: done in %llu ms", opn,
				 (unsigned long long)(h->now_ms(h) - d->op_t0));
			drbd_op_end(d, 0);
			return;
		case DRBD_A_FAIL:
			drbd_op_end(d, d->f.err ? d->f.err : -EIO);
			return;
		case DRBD_A_WAIT:
			h->timer_arm(d->poll, 500);
			return;
		case DRBD_A_WRITE_RES: {
			int rc = drbd_write_res(d);
			if (rc < 0) {
				drbd_op_end(d, rc);
				return;
			}
			d->f.wrote_res = true;
			continue;
		}
		case DRBD_A_EVENTS:
			d->ev_want = true;
			drbd_ev_start(d);
			/* The dump ends the wait (drbd_ev_line); the poll
			 * covers a stream that fails to start. */
			h->timer_arm(d->poll, 500);
			return;
		case DRBD_A_STOP_EVENTS:
			drbd_ev_stop(d);
			d->promoted = false;
			drbd_log(d, CMSD_LOG_INFO, "%s: done in %llu ms", opn,
				 (unsigned long long)(h->now_ms(h) - d->op_t0));
			drbd_op_end(d, 0);
			return;
		case DRBD_A_MOUNT:
			if (d->mount_ran) {
				drbd_log(d, CMSD_LOG_ERR,
					 "%s: mount succeeded but %s is not "
					 "mounted from %s",
					 opn, d->mount, d->device);
				drbd_op_end(d, -EIO);
				return;
			}
			d->mount_ran = true;
			/* fall through */
		case DRBD_A_PREPARE:
		case DRBD_A_UMOUNT:
		case DRBD_A_FSCK: {
			int rc = a == DRBD_A_FSCK ? drbd_fsck_start(d)
						  : drbd_mjob_submit(d, a);
			if (rc < 0) {
				drbd_op_end(d, rc);
				return;
			}
			d->step_running = true;
			h->timer_disarm(d->poll);
			return;
		}
		default: {
			int rc = drbd_run(d, a);
			if (rc < 0) {
				drbd_op_end(d, rc);
				return;
			}
			d->step_running = true;
			h->timer_disarm(d->poll);
			return;
		}
		}
	}
}

static void drbd_step_done(const struct cmsd_child_result *res, void *arg)
{
	struct drbd_job *j = arg;
	struct drbd *d = j->d;
	enum drbd_act a = j->act;
	bool current = d->op && j->gen == d->op_gen;
	const char *opn = drbd_opk_names[d->opk];
	int code = res->exited ? res->exit_code : -1;
	bool ok = res->exited && res->exit_code == 0;
	char tail[420];
	int v;

	drbd_job_free(j);
	if (!current)
		return; /* a cancelled op's child */
	d->step_running = false;
	drbd_tail(res->output, tail, sizeof(tail));
	if (res->timed_out) {
		drbd_log(d, CMSD_LOG_ERR, "%s: %s timed out", opn,
			 drbd_act_name(a));
		drbd_op_end(d, -ETIMEDOUT);
		return;
	}
	switch (a) {
	case DRBD_A_DUMP_MD:
		v = drbd_md_verdict(code, res->output);
		if (v < 0) {
			drbd_log(d, CMSD_LOG_ERR,
				 "%s: cannot tell whether %s has DRBD "
				 "metadata (dump-md exit %d): %s",
				 opn, d->resource, code, tail);
			drbd_op_end(d, -EIO);
			return;
		}
		d->f.md = v;
		break;
	case DRBD_A_CREATE_MD:
		if (!ok)
			goto failed;
		drbd_log(d, CMSD_LOG_NOTICE, "%s: created DRBD metadata for %s",
			 opn, d->resource);
		d->f.created_md = true;
		d->f.md = 1;
		/* A fresh resource: its first promote may make the file
		 * system (never later: see drbd_plan.c). */
		drbd_fresh_set(d, true);
		d->f.fresh = true;
		break;
	case DRBD_A_UP:
		if (!ok)
			goto failed;
		d->f.upped = true;
		break;
	case DRBD_A_PRIMARY:
		if (!ok)
			goto failed;
		drbd_log(d, CMSD_LOG_NOTICE, "%s: %s is Primary%s", opn,
			 d->resource, d->f.force ? " (forced)" : "");
		d->f.primaried = true;
		break;
	case DRBD_A_SECONDARY:
		if (!ok)
			goto failed;
		d->f.secondaried = true;
		break;
	case DRBD_A_DISCONNECT:
		if (!ok)
			goto failed;
		d->f.disconnected = true;
		break;
	case DRBD_A_CONNECT:
	case DRBD_A_CONNECT_DISCARD:
		if (!ok)
			goto failed;
		d->f.connected = true;
		break;
	case DRBD_A_DOWN:
		/* Without the stream, stop downs blind: a resource the
		 * kernel does not know is down already. */
		if (!ok && !d->stream_up &&
		    (strstr(res->output, "nknown resource") ||
		     strstr(res->output, "No such resource") ||
		     strstr(res->output, "not defined")))
			ok = true;
		if (!ok) {
			d->downing = false; /* still up: failures count */
			goto failed;
		}
		/* downing stays set: the stream's last lines (Detaching,
		 * Diskless) may follow the exit, and stop ends the stream
		 * next. */
		d->f.downed = true;
		break;
	case DRBD_A_PROBE: {
		const char *what;
		enum drbd_fs fs;
		if (!ok || res->output_len < DRBD_PROBE_BYTES) {
			drbd_log(d, CMSD_LOG_ERR,
				 "%s: cannot read %s (dd exit %d, %zu bytes)",
				 opn, d->device, code, res->output_len);
			drbd_op_end(d, -EIO);
			return;
		}
		/* Only the device's bytes: dd's own statistics lines follow
		 * them in the same pipe and are no data of the device. */
		fs = drbd_fs_probe((const unsigned char *)res->output,
				   DRBD_PROBE_BYTES, &what);
		if (fs == DRBD_FS_OTHER ||
		    (fs == DRBD_FS_EXT && d->fstype != DRBD_EXT4) ||
		    (fs == DRBD_FS_XFS && d->fstype != DRBD_XFS)) {
			drbd_log(d, CMSD_LOG_ERR,
				 "%s: %s holds %s, not the %s file system "
				 "configured: not mounted, and never "
				 "overwritten",
				 opn, d->device, what,
				 d->fstype == DRBD_XFS ? "xfs" : "ext4");
			drbd_op_end(d, -EMEDIUMTYPE);
			return;
		}
		d->f.fs = fs != DRBD_FS_NONE;
		if (d->f.fs && d->f.fresh) {
			/* Somebody made one (the peer's first promote):
			 * the resource is not fresh any more. */
			drbd_fresh_set(d, false);
			d->f.fresh = false;
		}
		break;
	}
	case DRBD_A_MKFS:
		if (!ok)
			goto failed;
		drbd_log(d, CMSD_LOG_NOTICE, "%s: made a %s file system on %s",
			 opn, d->fstype == DRBD_XFS ? "xfs" : "ext4",
			 d->device);
		d->f.mkfs_done = true;
		d->f.fs = 1;
		drbd_fresh_set(d, false);
		d->f.fresh = false;
		break;
	default:
		break;
	}
	drbd_op_step(d);
	return;
failed:
	drbd_log(d, CMSD_LOG_ERR, "%s: %s %s failed (exit %d): %s", opn,
		 drbd_act_name(a), d->resource, code, tail);
	drbd_op_end(d, -EIO);
}

/* The end of a mount-layer step (worker job or e2fsck) of the current op:
 * rc 0 or -errno, found PREPARE's finding. */
static void drbd_step_result(struct drbd *d, enum drbd_act a, int rc, int found)
{
	const struct cmsd_host *h = d->base.host;
	const char *opn = drbd_opk_names[d->opk];

	d->step_running = false;
	switch (a) {
	case DRBD_A_PREPARE:
		if (rc < 0)
			break;
		d->f.found = found;
		break;
	case DRBD_A_FSCK:
		/* pu_fsck_result logged e2fsck's verdict and lines. */
		if (rc == 0)
			d->f.fsck_done = true;
		break;
	case DRBD_A_MOUNT:
		if (rc == 0)
			drbd_log(d, CMSD_LOG_NOTICE, "%s: mounted %s on %s",
				 opn, d->device, d->mount);
		break;
	case DRBD_A_UMOUNT:
		if (rc == 0) {
			d->umount_tries = 0;
			break;
		}
		/* pu_umount noted who holds it; never a lazy unmount. */
		if (rc == -EBUSY && ++d->umount_tries < 5) {
			drbd_log(d, CMSD_LOG_WARNING,
				 "%s: %s is busy (try %d of 5): again in 1 s",
				 opn, d->mount, d->umount_tries);
			h->timer_arm(d->poll, 1000);
			return;
		}
		break;
	default:
		break;
	}
	if (rc < 0) {
		drbd_log(d, CMSD_LOG_ERR, "%s: %s failed: %s", opn,
			 drbd_act_name(a), strerror(-rc));
		drbd_op_end(d, rc);
		return;
	}
	drbd_op_step(d);
}

static int drbd_op_begin(struct drbd *d, struct cmsd_op *op, enum drbd_opk k)
{
	const struct cmsd_host *h = d->base.host;
	bool force = d->f.force, discard = d->f.discard_local;

	drbd_facts_init(&d->f);
	d->f.force = force;
	d->f.discard_local = discard;
	d->f.xfs = d->fstype == DRBD_XFS;
	d->f.fresh = drbd_fresh_get(d);
	d->op = op;
	d->opk = k;
	d->op_gen++;
	d->steps = 0;
	d->umount_tries = 0;
	d->mount_ran = false;
	d->last_why = NULL;
	d->op_t0 = h->now_ms(h);
	d->step_running = false;
	if (k == DRBD_OP_START)
		d->downing = false; /* a disk going away is a failure again */
	/* An op that ends at once (nothing to do, or refused) returns its
	 * result instead of calling op_done inside the call. */
	d->in_call = true;
	d->call_rc = 0;
	drbd_op_step(d);
	d->in_call = false;
	return d->op ? CMSD_PENDING : d->call_rc;
}

static int drbd_start(void *inst, struct cmsd_op *op)
{
	struct drbd *d = inst;

	d->f.force = d->f.discard_local = false;
	return drbd_op_begin(d, op, DRBD_OP_START);
}

static int drbd_stop(void *inst, struct cmsd_op *op)
{
	struct drbd *d = inst;

	d->f.force = d->f.discard_local = false;
	return drbd_op_begin(d, op, DRBD_OP_STOP);
}

static int drbd_promote(void *inst, struct cmsd_op *op, int force)
{
	struct drbd *d = inst;

	d->f.force = force != 0;
	d->f.discard_local = false;
	if (force)
		drbd_log(d, CMSD_LOG_WARNING,
			 "promote: forced by an operator: %s may be "
			 "promoted with data not known to be current",
			 d->resource);
	return drbd_op_begin(d, op, DRBD_OP_PROMOTE);
}

static int drbd_demote(void *inst, struct cmsd_op *op)
{
	struct drbd *d = inst;

	d->f.force = d->f.discard_local = false;
	return drbd_op_begin(d, op, DRBD_OP_DEMOTE);
}

static int drbd_resync(void *inst, struct cmsd_op *op, int discard_local)
{
	struct drbd *d = inst;
	const struct drbd_res_state *r = drbd_model(d);

	d->f.force = false;
	d->f.discard_local = discard_local != 0;
	if (discard_local && d->after_sb == DRBD_SB_OPERATOR) {
		/* The policy asks for a person: nothing is discarded
		 * without one (drbdadm by hand, see storage-drbd(5)). */
		drbd_log(d, CMSD_LOG_ERR,
			 "resync: <after-sb>operator</after-sb>: %s keeps its "
			 "data; an operator resolves the split brain "
			 "(drbdadm secondary %s; drbdadm connect "
			 "--discard-my-data %s on the loser)",
			 d->resource, d->resource, d->resource);
		return -EPERM;
	}
	if (discard_local) {
		char line[400];
		const struct drbd_peer_dev *pd =
			r ? drbd_res_peer_dev(r, 0) : NULL;
		int64_t oos = pd && pd->out_of_sync >= 0 ? pd->out_of_sync
							 : drbd_proc_oos(d);
		if (drbd_loser_line(r, oos, (int64_t)time(NULL), line,
				    sizeof(line)) > 0)
			drbd_log(d, CMSD_LOG_WARNING, "resync: %s", line);
	} else {
		drbd_log(d, CMSD_LOG_NOTICE,
			 "resync: %s keeps its data and reconnects",
			 d->resource);
	}
	return drbd_op_begin(d, op, DRBD_OP_RESYNC);
}

static void drbd_cancel(void *inst, struct cmsd_op *op)
{
	struct drbd *d = inst;

	if (d->op != op)
		return;
	/* The agent kills the op's children; their done() is stale now. */
	d->op = NULL;
	d->op_gen++;
	d->step_running = false;
	d->base.host->timer_disarm(d->poll);
}

/* ---- monitor and status (at once, from the model) ---- */

static int drbd_monitor(void *inst, struct cmsd_op *op)
{
	struct drbd *d = inst;
	const struct drbd_res_state *r = drbd_model(d);
	const struct drbd_dev_state *dv = r ? drbd_res_dev(r, 0) : NULL;

	(void)op;
	if (!d->ev_want)
		return CMSD_STOPPED;
	if (!d->stream_up)
		return CMSD_UNKNOWN;
	if (!r || !r->present || !dv)
		return CMSD_FAILED;
	if (dv->disk == DRBD_FAILED || dv->disk == DRBD_DISKLESS)
		return CMSD_FAILED;
	if (d->promoted) {
		bool ro;
		int m = drbd_mounted_ro(d, &ro);
		/* Gone, or read-only after errors=remount-ro: the data
		 * cannot be written here any more. */
		if (m == 0 || (m == 1 && ro))
			return CMSD_FAILED;
	}
	return CMSD_RUNNING;
}

static enum cmsd_storage_role drbd_role_out(enum drbd_role r)
{
	switch (r) {
	case DRBD_PRIMARY:
		return CMSD_ROLE_PRIMARY;
	case DRBD_SECONDARY:
		return CMSD_ROLE_SECONDARY;
	default:
		return CMSD_ROLE_UNKNOWN;
	}
}

/* 8.4's out-of-sync amount of our minor from /proc/drbd (oos:, KiB),
 * which stays there when the StandAlone connection is gone from events2;
 * -1 unknown. */
static int64_t drbd_proc_oos(const struct drbd *d)
{
	static struct drbd_proc_dev devs[8];
	char *buf = malloc(16384), err[160];
	int64_t oos = -1;
	FILE *fp;
	size_t n;
	int k;

	if (!buf)
		return -1;
	fp = fopen("/proc/drbd", "re");
	if (!fp) {
		free(buf);
		return -1;
	}
	n = fread(buf, 1, 16383, fp);
	fclose(fp);
	buf[n] = '\0';
	k = drbd_proc_parse(buf, devs, 8, err, sizeof(err));
	for (int i = 0; i < k; i++)
		if (devs[i].minor == (int)d->minor)
			oos = devs[i].oos;
	free(buf);
	return oos;
}

/* 8.4's events2 has no resync progress: /proc/drbd has it. */
static void drbd_apply_proc(struct drbd *d, struct drbd_res_state *r)
{
	static struct drbd_proc_dev devs[8];
	char *buf = malloc(16384), err[160];
	FILE *fp;
	size_t n;
	int k;

	if (!buf)
		return;
	fp = fopen("/proc/drbd", "re");
	if (!fp) {
		free(buf);
		return;
	}
	n = fread(buf, 1, 16383, fp);
	fclose(fp);
	buf[n] = '\0';
	k = drbd_proc_parse(buf, devs, 8, err, sizeof(err));
	for (int i = 0; i < k; i++)
		if (devs[i].minor == (int)d->minor)
			drbd_res_apply_proc(r, &devs[i],
					    (int64_t)time(NULL) * 1000000);
	free(buf);
}

static int drbd_status(void *inst, struct cmsd_op *op,
		       struct cmsd_storage_status *out)
{
	struct drbd *d = inst;
	struct drbd_res_state *r =
		d->stream_up ? drbd_state_res(&d->st, d->resource) : NULL;
	const struct drbd_dev_state *dv;
	const struct drbd_conn_state *c;
	const struct drbd_peer_dev *pd;
	double pct;
	int64_t eta;

	(void)op;
	out->role = out->peer_role = CMSD_ROLE_UNKNOWN;
	out->sync_percent = out->sync_eta_s = -1;
	out->data_usable = 0;
	out->generation = 0;
	out->holder[0] = '\0';
	if (r && !r->present)
		r = NULL;
	if (!r) {
		snprintf(out->disk, sizeof(out->disk), "Unconfigured");
		snprintf(out->peer_disk, sizeof(out->peer_disk), "DUnknown");
		snprintf(out->connection, sizeof(out->connection), "%s",
			 d->stream_up ? "Unconfigured" : "Unknown");
		snprintf(out->detail, sizeof(out->detail), "%s",
			 !d->ev_want	? "not started"
			 : d->stream_up ? "resource not up"
					: "events2 stream not up");
		return 0;
	}
	dv = drbd_res_dev(r, 0);
	c = drbd_res_peer(r);
	pd = drbd_res_peer_dev(r, 0);
	if (pd &&
	    (pd->repl == DRBD_SYNCSOURCE || pd->repl == DRBD_SYNCTARGET ||
	     pd->repl == DRBD_PAUSEDSYNCS || pd->repl == DRBD_PAUSEDSYNCT))
		drbd_apply_proc(d, r);
	out->role = drbd_role_out(r->role);
	out->peer_role = c ? drbd_role_out(c->peer_role) : CMSD_ROLE_UNKNOWN;
	snprintf(out->disk, sizeof(out->disk), "%s",
		 dv ? drbd_disk_str(dv->disk) : "Diskless");
	snprintf(out->peer_disk, sizeof(out->peer_disk), "%s",
		 pd && pd->peer_disk ? drbd_disk_str(pd->peer_disk)
				     : "DUnknown");
	snprintf(out->connection, sizeof(out->connection), "%s",
		 drbd_overview_cstate(r, 0));
	/* A fresh pair counts as usable: its first promote starts the
	 * initial sync (drbd_plan.h). */
	out->data_usable =
		drbd_data_usable(r) || drbd_initial_pair(r, drbd_fresh_get(d));
	/* The current UUID from get-gi, Primary bit masked (DRBD sets it
	 * on the Primary only): the same data reads the same on both. */
	out->generation = r->have_uuid	? drbd_generation(r->current_uuid)
			  : d->have_gen ? d->gen
					: 0;
	if (drbd_resync_progress(r, 0, &pct, &eta)) {
		out->sync_percent = (int)pct;
		out->sync_eta_s = eta > INT32_MAX ? INT32_MAX : (int)eta;
	}
	if (!drbd_data_usable(r) && out->data_usable)
		snprintf(out->detail, sizeof(out->detail),
			 "a fresh pair without data: the first promote "
			 "starts the initial sync");
	else if (r->split_brain) {
		int64_t oos = pd && pd->out_of_sync >= 0 ? pd->out_of_sync
							 : drbd_proc_oos(d);
		if (oos >= 0)
			snprintf(out->detail, sizeof(out->detail),
				 "split brain, out of sync %" PRId64 " KiB",
				 oos);
		else
			snprintf(out->detail, sizeof(out->detail),
				 "split brain");
	} else if (out->sync_percent >= 0)
		snprintf(out->detail, sizeof(out->detail),
			 "resync %d%%, %" PRId64 " KiB out of sync",
			 out->sync_percent,
			 pd && pd->out_of_sync >= 0 ? pd->out_of_sync : 0);
	else
		snprintf(out->detail, sizeof(out->detail), "%s%s%s", d->device,
			 drbd_mounted(d) == 1 ? " mounted on " : "",
			 drbd_mounted(d) == 1 ? d->mount : "");
	return 0;
}

static int drbd_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	struct drbd *d = inst;
	int rc = drbd_fence_verdict(drbd_model(d));

	(void)op;
	if (rc == 0)
		drbd_log(d, CMSD_LOG_NOTICE,
			 "fence_peer: %s's disk is not current: fenced",
			 peer ? peer : "the peer");
	else if (!(d->base.warned & (1u << 10))) {
		d->base.warned |= 1u << 10;
		drbd_log(d, CMSD_LOG_WARNING,
			 "fence_peer: DRBD cannot outdate the peer's disk "
			 "from this node; the arbiter's lease keeps it off");
	}
	return rc;
}

/* ---- life cycle ---- */

static void drbd_destroy(void *inst)
{
	struct drbd *d = inst;
	const struct cmsd_host *h;

	if (!d)
		return;
	h = d->base.host;
	/* Waits for a mount(2) or umount(2) still in the kernel: the thread
	 * must not outlive the plugin's code. */
	pu_worker_destroy(&d->worker, drbd_mjob_drop);
	/* Children: the agent kills and reaps what is left (abandoned, no
	 * callbacks), so their jobs are freed here. */
	while (d->jobs) {
		struct drbd_job *j = d->jobs;
		d->jobs = j->next;
		free(j);
	}
	if (h && h->timer_free) {
		if (d->ev_timer)
			h->timer_free(d->ev_timer);
		if (d->gi_timer)
			h->timer_free(d->gi_timer);
		if (d->poll)
			h->timer_free(d->poll);
	}
	for (size_t i = 0; i < d->n_disks; i++) {
		free(d->disks[i].node);
		free(d->disks[i].path);
	}
	for (int i = 0; i < P_N; i++)
		free(d->prog[i]);
	free(d->resource);
	free(d->mount);
	free(d->config_dir);
	free(d->handler);
	free(d->res_path);
	free(d->adm_conf);
	free(d);
}

static int drbd_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		     void **inst)
{
	struct drbd *d = calloc(1, sizeof(*d));
	struct drbd_strings s = {0};
	bool nomem = false;

	if (!d)
		return -ENOMEM;
	d->base.host = h;
	d->base.issue = "issue 5";
	pu_worker_init(&d->worker, h);
	if (drbd_read(h, c, d, &s)) {
		d->n_disks = 0; /* nothing of its own to free yet */
		drbd_destroy(d);
		return -EINVAL;
	}
	/* The configuration tree may be freed on reload while the instance
	 * lives on: own the strings. */
	for (size_t i = 0; i < d->n_disks; i++) {
		struct drbd_cdisk *k = &d->disks[i];
		k->node = s.disk_node[i] ? strdup(s.disk_node[i]) : NULL;
		k->path = strdup(s.disk_path[i]);
		nomem = nomem || !k->path || (s.disk_node[i] && !k->node);
	}
	for (int i = 0; i < P_N; i++) {
		d->prog[i] = strdup(s.prog[i]);
		nomem = nomem || !d->prog[i];
	}
	d->resource = strdup(s.res);
	d->mount = strdup(s.mount);
	d->config_dir = strdup(s.config_dir);
	d->handler = strdup(s.handler);
	if (s.adm_conf && !(d->adm_conf = strdup(s.adm_conf)))
		nomem = true;
	if (d->resource && d->config_dir &&
	    asprintf(&d->res_path, "%s/%s.res", d->config_dir, d->resource) < 0)
		d->res_path = NULL;
	d->ev_timer = h->timer_new(h, drbd_ev_timer, d);
	d->gi_timer = h->timer_new(h, drbd_gi_timer, d);
	d->poll = h->timer_new(h, drbd_poll_cb, d);
	if (nomem || !d->resource || !d->mount || !d->config_dir ||
	    !d->handler || !d->res_path || !d->ev_timer || !d->gi_timer ||
	    !d->poll) {
		drbd_destroy(d);
		return -ENOMEM;
	}
	drbd_state_init(&d->st);
	d->last_disk = DRBD_DISK_NONE;
	*inst = d;
	return 0;
}

static const struct cmsd_storage_ops drbd_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = drbd_validate,
	.init = drbd_init,
	.start = drbd_start,
	.stop = drbd_stop,
	.monitor = drbd_monitor,
	.cancel = drbd_cancel,
	.destroy = drbd_destroy,
	.promote = drbd_promote,
	.demote = drbd_demote,
	.status = drbd_status,
	.fence_peer = drbd_fence_peer,
	.resync = drbd_resync,
};

static const struct cmsd_plugin drbd_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-drbd",
	.version = "0.2.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "DRBD replicated partition",
	.ops.storage = &drbd_ops,
};

CMSD_PLUGIN_DEFINE(drbd_plugin)
