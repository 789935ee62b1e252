/*
 * cmsadm sync-partition: the agent's part (syncpart.h).  cmsadm drives the
 * steps one control request at a time and asks again while an answer is
 * "wait" (the peer's answer or a hook is not in yet): the control socket
 * answers every request at once, and a step that waits on the peer must
 * not hold the loop.
 *
 *   sync-partition born                       this process' start (ns): cmsadm
 *                                             sees the restart by it
 *   sync-partition check TOKEN add r1 DEV     the refusals, on both nodes
 *   sync-partition check TOKEN remove r1
 *   sync-partition write TOKEN add r1 DEV MOUNT   the config, on both nodes
 *   sync-partition write TOKEN remove r1
 *   sync-partition restart                    both agents exec again
 *
 * A request with the TOKEN of the job under way reports on it; another
 * TOKEN starts a new one (the old one's answers are ignored by F_REQ_ID).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "syncpart.h"

enum sp_state { SP_NONE, SP_WAIT, SP_DONE };

/* A hook run: for this node's own check, or to answer the peer. */
struct sp_probe {
	struct syncpart_facts f;
	struct spawn_child *child;
	bool done;
	uint64_t answer_req; /* the peer's F_REQ_ID to answer, 0 own */
};

static struct {
	const struct conf *conf;
	char path[PATH_MAX];
	struct conf_overrides ov;
	char ov_dir[PATH_MAX], ov_node[128];
	char **argv;
	char hook[192];
	uint64_t born_ns;
	/* the job cmsadm drives on this node */
	char token[64];
	enum sp_state state;
	int rc;
	char msg[1024];
	bool is_write, is_add;
	char new_id[64]; /* add: the new element's id */
	char dev[256];
	uint64_t req_id, next_req;
	struct sp_probe own, answer;
	bool peer_done;
	struct syncpart_facts peer;
	char backup[PATH_MAX + 32]; /* the config before our write */
	/* the restart */
	struct event *restart_ev;
	bool reexec;
	char wipe_adm[256], wipe_res[512];
} SP = {.hook = SYNCPART_HOOK};

void syncpart_set_argv(char **argv)
{
	SP.argv = argv;
}

void syncpart_set_hook(const char *path)
{
	snprintf(SP.hook, sizeof(SP.hook), "%s", path);
}

void syncpart_set_conf(const struct conf *c, const char *path,
		       const struct conf_overrides *ov)
{
	struct timespec ts;

	SP.conf = c;
	snprintf(SP.path, sizeof(SP.path), "%s", path);
	SP.ov = (struct conf_overrides){0};
	if (ov && ov->plugin_dir) {
		snprintf(SP.ov_dir, sizeof(SP.ov_dir), "%s", ov->plugin_dir);
		SP.ov.plugin_dir = SP.ov_dir;
	}
	if (ov && ov->local_node) {
		snprintf(SP.ov_node, sizeof(SP.ov_node), "%s", ov->local_node);
		SP.ov.local_node = SP.ov_node;
	}
	if (!SP.born_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		SP.born_ns = (uint64_t)ts.tv_sec * 1000000000u +
			     (uint64_t)ts.tv_nsec;
	}
}

static const char *sp_self_name(void)
{
	const struct conf_node *n =
		conf_node_by_id(SP.conf, SP.conf->local_node);
	return n && n->name ? n->name : SP.conf->local_node;
}

static const char *sp_peer_name(void)
{
	const char *p = cluster_running() ? cluster_peer_name() : NULL;
	return p ? p : "the peer";
}

/* ---- facts ---- */

static void sp_disk_facts(const char *dev, struct syncpart_facts *f)
{
	struct syncpart_view v;
	struct stat st, r0;
	char where[256];

	memset(f, 0, sizeof(*f));
	if (stat(dev, &st) < 0) {
		f->present = 0;
		return;
	}
	if (!S_ISBLK(st.st_mode)) {
		f->present = -1;
		return;
	}
	f->present = 1;
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		if (ioctl(fd, BLKGETSIZE64, &f->size) < 0)
			f->size = 0;
		close(fd);
	}
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	if (mi) {
		static char text[1 << 17];
		size_t n = fread(text, 1, sizeof(text) - 1, mi);
		text[n] = '\0';
		fclose(mi);
		if (syncpart_mountinfo_find(text, major(st.st_rdev),
					    minor(st.st_rdev), where,
					    sizeof(where)))
			snprintf(f->mounted_on, sizeof(f->mounted_on), "%s",
				 where);
	}
	syncpart_scan(SP.conf, &v);
	f->r0 = v.r0_disk[0] && stat(v.r0_disk, &r0) == 0 &&
		S_ISBLK(r0.st_mode) && r0.st_rdev == st.st_rdev;
}

static void sp_probe_end(struct sp_probe *p);

static void sp_hook_done(const struct cmsd_child_result *res, void *arg)
{
	struct sp_probe *p = arg;
	char out[160];

	p->child = NULL;
	spawn_output_line(res, "; ", out, sizeof(out));
	if (res->exited && res->exit_code == 0) {
		p->f.compute = 0;
	} else if (res->exited && res->exit_code == 1) {
		p->f.compute = 1;
		snprintf(p->f.why, sizeof(p->f.why), "%s: %s", SP.hook,
			 out[0] ? out : "exit status 1");
	} else {
		p->f.compute = -1;
		if (res->timed_out)
			snprintf(p->f.why, sizeof(p->f.why),
				 "%s did not finish within %d s", SP.hook,
				 SYNCPART_HOOK_MS / 1000);
		else if (!res->exited)
			snprintf(p->f.why, sizeof(p->f.why),
				 "%s killed by signal %d", SP.hook,
				 res->signal);
		else
			snprintf(p->f.why, sizeof(p->f.why),
				 "%s: exit status %d%s%s", SP.hook,
				 res->exit_code, out[0] ? ": " : "", out);
	}
	log_info("sync-partition: compute-host hook %s: %s", SP.hook,
		 p->f.compute == 0 ? "not a compute host" : p->f.why);
	sp_probe_end(p);
}

/* The disk's facts at once, the hook's verdict when it ends. */
static void sp_probe_start(struct sp_probe *p, const char *dev)
{
	const char *argv[] = {SP.hook, NULL};
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = SYNCPART_HOOK_MS,
		.output_max = 4096,
		.done = sp_hook_done,
		.arg = p,
	};
	int rc;

	if (p->child)
		spawn_abandon(p->child);
	p->child = NULL;
	p->done = false;
	sp_disk_facts(dev, &p->f);
	if (access(SP.hook, X_OK) != 0) {
		/* No platform hook: no compute role on this host. */
		p->f.compute = 0;
		sp_probe_end(p);
		return;
	}
	rc = spawn_start(&req, &p->child);
	if (rc < 0) {
		p->f.compute = -1;
		snprintf(p->f.why, sizeof(p->f.why), "cannot run %s: %s",
			 SP.hook, strerror(-rc));
		sp_probe_end(p);
	}
}

/* ---- the peer ---- */

static int sp_send(uint64_t cmd, uint64_t req, const char *text)
{
	uint8_t buf[2048];
	struct wire_buf b;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD);
	wire_put_str(&b, F_NODE, SP.conf->local_node);
	wire_put_u64(&b, F_CMD, cmd);
	wire_put_u64(&b, F_REQ_ID, req);
	if (text)
		wire_put_str(&b, F_TEXT, text);
	int n = wire_end(&b);
	return n < 0 ? n : cluster_peer_send(buf, (size_t)n);
}

static void sp_reply(uint64_t req, int rc, const char *text)
{
	uint8_t buf[2048];
	struct wire_buf b;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD_REPLY);
	wire_put_str(&b, F_NODE, SP.conf->local_node);
	wire_put_u64(&b, F_REQ_ID, req);
	wire_put_u64(&b, F_RC, (uint64_t)(rc < 0 ? -rc : rc));
	wire_put_str(&b, F_TEXT, text);
	int n = wire_end(&b);
	if (n < 0 || cluster_peer_send(buf, (size_t)n) < 0)
		log_warnx("sync-partition: cannot answer %s (request %" PRIu64
			  "): the control channel is down",
			  sp_peer_name(), req);
}

static void sp_done(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sp_done(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(SP.msg, sizeof(SP.msg), fmt, ap);
	va_end(ap);
	SP.rc = rc;
	SP.state = SP_DONE;
	log_info("sync-partition: %s%s", rc < 0 ? "refused: " : "", SP.msg);
}

static void sp_check_both(void)
{
	char msg[1024];

	if (!SP.own.done || !SP.peer_done || SP.state != SP_WAIT || SP.is_write)
		return;
	int rc = syncpart_check_facts(SP.dev, sp_self_name(), &SP.own.f,
				      sp_peer_name(), &SP.peer, msg,
				      sizeof(msg));
	if (rc < 0)
		sp_done(rc, "%s", msg);
	else
		sp_done(0,
			"%s: %" PRIu64 " bytes on both nodes, not mounted, "
			"no compute host",
			SP.dev, SP.own.f.size);
}

static void sp_probe_end(struct sp_probe *p)
{
	char line[1024];

	p->done = true;
	if (p == &SP.own) {
		sp_check_both();
		return;
	}
	syncpart_facts_format(&p->f, line, sizeof(line));
	sp_reply(p->answer_req, 0, line);
}

/* ---- the config ---- */

static void sp_load_error(const char *msg, void *arg)
{
	struct sbuf *b = arg;

	if (!b->len)
		sbuf_printf(b, "%s", msg);
}

static int sp_copy(const char *from, const char *to, char *err, size_t len)
{
	char buf[8192];
	ssize_t n;
	int rc = 0;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = in < 0 ? -1
			 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				0600);

	if (in < 0 || out < 0) {
		rc = -errno;
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -EIO;
			goto out;
		}
	if (n < 0 || fsync(out) < 0)
		rc = -errno;
out:
	if (rc < 0)
		snprintf(err, len, "cannot keep a copy of %.400s as %.400s: %s",
			 from, to, strerror(-rc));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Edits this node's config ("add DISK MOUNT MINOR PORT" or "remove"):
 * a new file beside it, validated by the loader the agent starts with,
 * the old one kept as PATH.before-sync-partition, then renamed over. */
static int sp_write_local(const char *what, char *err, size_t len)
{
	char tmp[PATH_MAX + 16];
	struct syncpart_new nw = {0};
	struct sbuf e = {0};
	struct conf *c = NULL;
	struct stat st;
	bool add = strncmp(what, "add ", 4) == 0;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.new", SP.path);
	snprintf(SP.backup, sizeof(SP.backup), "%s.before-sync-partition",
		 SP.path);
	if (add) {
		if (sscanf(what, "add %255s %255s %u %u", nw.disk, nw.mount,
			   &nw.minor, &nw.port) != 4) {
			snprintf(err, len, "bad write request \"%s\"", what);
			return -EPROTO;
		}
		rc = syncpart_xml_add(SP.path, tmp, &nw, err, len);
	} else {
		rc = syncpart_xml_remove(SP.path, tmp, SP.wipe_adm,
					 sizeof(SP.wipe_adm), SP.wipe_res,
					 sizeof(SP.wipe_res), err, len);
	}
	if (rc < 0)
		goto fail;
	if (stat(SP.path, &st) == 0)
		(void)chmod(tmp, st.st_mode & 07777);
	if (conf_load(tmp, &SP.ov, sp_load_error, &e, &c) != 0) {
		snprintf(err, len, "the new config does not load: %s",
			 e.s ? e.s : "errors");
		rc = -EINVAL;
		goto fail;
	}
	conf_free(c);
	if ((rc = sp_copy(SP.path, SP.backup, err, len)) < 0)
		goto fail;
	if (rename(tmp, SP.path) < 0) {
		rc = -errno;
		snprintf(err, len, "cannot replace %.400s: %s", SP.path,
			 strerror(errno));
		goto fail;
	}
	log_info("sync-partition: %s written (%s%s%s); the previous one is "
		 "%s",
		 SP.path, add ? "added r1 on " : "removed r1",
		 add ? nw.disk : "", add ? "" : "", SP.backup);
	sbuf_free(&e);
	return 0;
fail:
	unlink(tmp);
	if (!add)
		SP.wipe_res[0] = '\0';
	sbuf_free(&e);
	return rc;
}

/* The peer could not write its config: ours goes back as it was. */
static void sp_write_undo(void)
{
	if (rename(SP.backup, SP.path) < 0)
		log_warn("sync-partition: cannot put %s back over %s",
			 SP.backup, SP.path);
	SP.wipe_res[0] = '\0';
}

/* ---- restart ---- */

static void sp_restart_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_info("sync-partition: restarting the agent to apply %s", SP.path);
	/* The same way out as a SIGTERM: instances stopped in order, the
	 * sockets closed; main() then execs again. */
	raise(SIGTERM);
}

static int sp_restart_soon(void)
{
	struct timeval tv = {.tv_usec = 300000};

	SP.reexec = true;
	if (!SP.restart_ev)
		SP.restart_ev = evtimer_new(loop_base(), sp_restart_fire, NULL);
	if (!SP.restart_ev)
		return -ENOMEM;
	return evtimer_add(SP.restart_ev, &tv) < 0 ? -EIO : 0;
}

static int sp_run(const char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void syncpart_reexec_if_wanted(void)
{
	if (!SP.reexec || !SP.argv)
		return;
	if (SP.wipe_res[0]) {
		/* r1 left the config: its DRBD device goes down and its
		 * metadata is wiped, so that a later add starts afresh. */
		const char *down[] = {SP.wipe_adm, "-c",	  SP.wipe_res,
				      "down",	   SYNCPART_NAME, NULL};
		const char *wipe[] = {SP.wipe_adm,   "-c",	SP.wipe_res,
				      "--",	     "--force", "wipe-md",
				      SYNCPART_NAME, NULL};
		/* wipe-md even when down failed (down of a resource that the
		 * shutdown took down already may complain): drbdmeta itself
		 * refuses a disk that is still attached. */
		int a = sp_run(down), b = sp_run(wipe);
		log_info("sync-partition: %s down r1: %d, wipe-md r1: %d",
			 SP.wipe_adm, a, b);
		if (b == 0)
			unlink(SP.wipe_res);
	}
	log_info("sync-partition: exec of the agent again");
	log_close();
	execv("/proc/self/exe", SP.argv);
	fprintf(stderr, "cmsd: sync-partition: cannot restart: %s\n",
		strerror(errno));
}

/* ---- peer messages ---- */

void syncpart_peer_cmd(const struct wire_msg *m)
{
	uint64_t cmd, req = 0;
	char text[1024] = "", err[1024];

	if (!SP.conf || wire_get_u64(m, F_CMD, &cmd) < 0)
		return;
	(void)wire_get_u64(m, F_REQ_ID, &req);
	(void)wire_get_str(m, F_TEXT, text, sizeof(text));
	switch (cmd) {
	case WIRE_CMD_SYNCPART_FACTS:
		log_info("sync-partition: %s asks about %s", sp_peer_name(),
			 text);
		SP.answer.answer_req = req;
		sp_probe_start(&SP.answer, text);
		return;
	case WIRE_CMD_SYNCPART_WRITE: {
		int rc = sp_write_local(text, err, sizeof(err));
		sp_reply(req, rc, rc < 0 ? err : "written");
		return;
	}
	case WIRE_CMD_SYNCPART_RESTART:
		log_info("sync-partition: %s restarts both agents",
			 sp_peer_name());
		(void)sp_restart_soon();
		return;
	default:
		return;
	}
}

void syncpart_peer_reply(const struct wire_msg *m)
{
	uint64_t req, rc = 0;
	char text[1024] = "";

	if (wire_get_u64(m, F_REQ_ID, &req) < 0 || req != SP.req_id ||
	    SP.state != SP_WAIT)
		return;
	(void)wire_get_u64(m, F_RC, &rc);
	(void)wire_get_str(m, F_TEXT, text, sizeof(text));
	if (SP.is_write) {
		if (rc) {
			sp_write_undo();
			sp_done(-(int)rc,
				"sync-partition %s r1: %s could not write its "
				"config: %s; this node's is back as it was",
				SP.is_add ? "add" : "remove", sp_peer_name(),
				text);
		} else {
			sp_done(0, "the config of both nodes is written%s%s%s",
				SP.is_add ? " (r1 is <storage id=\"" : "",
				SP.is_add ? SP.new_id : "",
				SP.is_add ? "\">)" : "");
		}
		return;
	}
	if (syncpart_facts_parse(text, &SP.peer) < 0) {
		sp_done(-EPROTO, "%s sent facts I cannot read: \"%s\"",
			sp_peer_name(), text);
		return;
	}
	SP.peer_done = true;
	sp_check_both();
}

/* ---- control requests ---- */

static size_t sp_words(char *s, char **w, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, " ", &save); t && n < max;
	     t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	return n;
}

static bool sp_path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) >= 200)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/_.-:+@", *p)))
			return false;
	return true;
}

static int sp_report(struct sbuf *reply)
{
	if (SP.state == SP_WAIT) {
		sbuf_printf(reply, "wait\n");
		return 0;
	}
	if (SP.rc < 0) {
		sbuf_printf(reply, "%s", SP.msg);
		return SP.rc;
	}
	sbuf_printf(reply, "ok %s\n", SP.msg);
	return 0;
}

static void sp_new_job(const char *token, bool is_write)
{
	if (SP.own.child)
		spawn_abandon(SP.own.child);
	SP.own = (struct sp_probe){0};
	snprintf(SP.token, sizeof(SP.token), "%s", token);
	SP.state = SP_WAIT;
	SP.is_write = is_write;
	SP.peer_done = false;
	SP.rc = 0;
	SP.msg[0] = '\0';
	SP.req_id = ++SP.next_req;
}

int syncpart_ctl(const char *line, struct sbuf *reply)
{
	char buf[1024], *w[8], msg[1024];
	struct syncpart_view v;
	size_t n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = sp_words(buf, w, 8);
	if (n == 1 && strcmp(w[0], "born") == 0) {
		sbuf_printf(reply, "%" PRIu64 "\n", SP.born_ns);
		return 0;
	}
	if (n == 1 && strcmp(w[0], "restart") == 0) {
		if (!cluster_running()) {
			sbuf_printf(reply, "sync-partition needs a running "
					   "two-node cluster");
			return -EINVAL;
		}
		int rc = sp_send(WIRE_CMD_SYNCPART_RESTART, 0, NULL);
		if (rc < 0) {
			sbuf_printf(reply,
				    "sync-partition: cannot reach %s over the "
				    "control channel: both nodes must be up",
				    sp_peer_name());
			return rc;
		}
		if ((rc = sp_restart_soon()) < 0) {
			sbuf_printf(reply, "sync-partition: cannot arm the "
					   "restart");
			return rc;
		}
		sbuf_printf(reply, "restarting %s and %s\n", sp_self_name(),
			    sp_peer_name());
		return 0;
	}
	bool write = n >= 4 && strcmp(w[0], "write") == 0;
	bool check = n >= 4 && strcmp(w[0], "check") == 0;
	bool add = n >= 4 && strcmp(w[2], "add") == 0;
	bool remove = n >= 4 && strcmp(w[2], "remove") == 0;
	size_t want = !add ? 4 : check ? 5 : 6;
	if (!(write || check) || !(add || remove) || n != want ||
	    (add && !sp_path_ok(w[4])) || (add && write && !sp_path_ok(w[5]))) {
		sbuf_printf(reply,
			    "sync-partition: bad request \"%s\" (expected "
			    "check|write TOKEN add r1 DEV [MOUNT], check|write "
			    "TOKEN remove r1, restart or born; paths absolute, "
			    "of letters, digits and \"/_.-:+@\")",
			    line);
		return -EINVAL;
	}
	if (strcmp(w[1], SP.token) == 0 && SP.state != SP_NONE &&
	    SP.is_write == write)
		return sp_report(reply);
	sp_new_job(w[1], write);
	SP.is_add = add;
	/* The config's refusals first: they need no peer. */
	syncpart_scan(SP.conf, &v);
	if (syncpart_check_conf(&v, add, w[3], msg, sizeof(msg)) < 0) {
		sp_done(-EINVAL, "%s", msg);
		return sp_report(reply);
	}
	if (!cluster_running()) {
		sp_done(-EINVAL, "sync-partition needs a running two-node "
				 "cluster (the cluster core is not running)");
		return sp_report(reply);
	}
	if (!cluster_peer_channel_up()) {
		sp_done(-ENOTCONN,
			"sync-partition %s r1: %s is not reachable over the "
			"control channel: both nodes must be up",
			add ? "add" : "remove", sp_peer_name());
		return sp_report(reply);
	}
	if (check && !add) {
		sp_done(0, "r1 is <storage id=\"%s\">", v.r1_id);
		return sp_report(reply);
	}
	if (check) {
		snprintf(SP.dev, sizeof(SP.dev), "%s", w[4]);
		if (sp_send(WIRE_CMD_SYNCPART_FACTS, SP.req_id, SP.dev) < 0) {
			sp_done(-ENOTCONN,
				"sync-partition add r1: cannot ask "
				"%s about %s",
				sp_peer_name(), SP.dev);
			return sp_report(reply);
		}
		SP.own.answer_req = 0;
		sp_probe_start(&SP.own, SP.dev);
		return sp_report(reply);
	}
	/* write: ours first (it chooses minor and port), then the peer's
	 * with the same values. */
	char what[700], err[1024];
	struct syncpart_new nw = {0};
	if (add) {
		/* minor and port as syncpart_xml_add chooses them: a dry
		 * run into a scratch file. */
		char scratch[PATH_MAX + 16];
		snprintf(scratch, sizeof(scratch), "%s.probe", SP.path);
		snprintf(nw.disk, sizeof(nw.disk), "%s", w[4]);
		snprintf(nw.mount, sizeof(nw.mount), "%s", w[5]);
		int rc = syncpart_xml_add(SP.path, scratch, &nw, err,
					  sizeof(err));
		unlink(scratch);
		if (rc < 0) {
			sp_done(rc, "sync-partition add r1: %s", err);
			return sp_report(reply);
		}
		snprintf(SP.new_id, sizeof(SP.new_id), "%s", nw.id);
		snprintf(what, sizeof(what), "add %s %s %u %u", nw.disk,
			 nw.mount, nw.minor, nw.port);
	} else {
		snprintf(what, sizeof(what), "remove");
	}
	if (sp_write_local(what, err, sizeof(err)) < 0) {
		sp_done(-EINVAL, "sync-partition %s r1: %s: %s",
			add ? "add" : "remove", sp_self_name(), err);
		return sp_report(reply);
	}
	if (sp_send(WIRE_CMD_SYNCPART_WRITE, SP.req_id, what) < 0) {
		sp_write_undo();
		sp_done(-ENOTCONN,
			"sync-partition %s r1: cannot reach %s to write its "
			"config; this node's is back as it was",
			add ? "add" : "remove", sp_peer_name());
	}
	return sp_report(reply);
}
