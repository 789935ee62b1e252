/*
 * The unconfigured agent: `cmsd --unconfigured` on a host that has no
 * cluster configuration yet.  It listens on the setup port (TLS 1.3 with a
 * self-signed certificate made at first start), lets a client that proves
 * the host's root password (auth.c) read the host's facts for the
 * pre-checks, write the cluster's files under the config's directory, and
 * then restarts itself as a configured agent (exec of `cmsd -c CONFIG`, same
 * PID).  `cmsadm setup` is that client (docs/cmsadm.8); the local node's
 * cmsadm authenticates with the token file instead, which only root can
 * read.  The protocol: setupproto.h.
 *
 * Nothing here logs a password: failed and refused attempts are logged with
 * the client's address only.  The log goes to /var/log/cvm_master_slave.log
 * (--log-file), where cmsadm setup logs its stages on the first node.
 */
#include "setup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "setup_part.h"
#include "setup_wipe.h"
#include "setupproto.h"
#include "spawn.h"

#define SETUP_STATE_DIR	 "/var/lib/cmsd"
#define SETUP_LOG_FILE	 "/var/log/cvm_master_slave.log"
#define SETUP_TOKEN_FILE "/run/cmsd/setup.token"
#define SETUP_VMS_PATH	 "/vms"
#define SETUP_HOOK	 "/usr/lib/cmsd/setup-precheck"
#define SETUP_PROBE_MS	 3000
#define SETUP_HOOK_MS	 30000
/* An unauthenticated connection gets little time (no slot held by
 * someone who cannot log in); an authenticated one waits for an operator
 * who reads the pre-checks and types CONFIRM. */
#define SETUP_IDLE_S	30
#define SETUP_AUTHED_S	3600
#define SETUP_MAX_CONNS 16

struct setup_opts {
	const char *config;
	const char *plugin_dir;
	bool debug;
	const char *listen_addr;
	unsigned port;
	const char *state_dir;
	const char *log_file;
	const char *token_file;
	const char *vms_path;
	const char *hook;
	const char *facts_override;
	unsigned max_failures, lockout_s;
	bool show_fp;
};

struct sconn {
	struct bufferevent *bev;
	char peer[INET6_ADDRSTRLEN + 8];
	bool authed;
	bool busy; /* an asynchronous request (PROBE, HOOK) is running */
	bool restart_after;
	struct event *probe_ev;
	int probe_fd;
	struct spawn_child *hook;
	struct setup_part *part;
	struct sconn *next;
};

static struct setup_opts S;
static struct {
	SSL_CTX *ctx;
	struct evconnlistener *lst;
	struct sconn *conns;
	int n_conns;
	struct auth_limit limit;
	char token[65];
	char override[1024]; /* the override file's text */
	bool restart;
	int rc;
} G;

static void sc_read(struct bufferevent *bev, void *arg);

/* ------------------------------------------------------------ replies */

static void sc_send(struct sconn *c, const char *line, const void *body,
		    size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t ll = strlen(line);
	uint32_t n = htonl((uint32_t)(ll + 1 + len));

	evbuffer_add(out, &n, 4);
	evbuffer_add(out, line, ll);
	evbuffer_add(out, "\n", 1);
	if (len)
		evbuffer_add(out, body, len);
}

static void sc_err(struct sconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sc_err(struct sconn *c, const char *fmt, ...)
{
	char line[SETUP_MAX_LINE];
	va_list ap;
	int n = snprintf(line, sizeof(line), "ERR ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* The line must stay one printable line. */
	for (char *p = line; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = ' ';
	sc_send(c, line, NULL, 0);
}

static void sc_free(struct sconn *c)
{
	struct sconn **pp;

	for (pp = &G.conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			G.n_conns--;
			break;
		}
	if (c->probe_ev) {
		event_free(c->probe_ev);
		close(c->probe_fd);
	}
	if (c->hook)
		spawn_abandon(c->hook);
	setup_part_abandon(c->part);
	bufferevent_free(c->bev);
	free(c);
}

/* An asynchronous request ended: read the requests that queued behind it. */
static void sc_resume(struct sconn *c)
{
	c->busy = false;
	bufferevent_enable(c->bev, EV_READ);
	sc_read(c->bev, c);
}

/* ------------------------------------------------------------ facts */

static const char *setup_override(const char *key, char *out, size_t len)
{
	if (!G.override[0])
		return NULL;
	return setup_kv_get(G.override, strlen(G.override), key, out, len)
		       ? out
		       : NULL;
}

static int setup_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void setup_components(const char *dir, char *out, size_t len)
{
	char *names[128];
	size_t n = 0, off = 0, i;
	struct dirent *e;
	DIR *d;

	if (!dir)
		dir = getenv("CMSD_PLUGIN_DIR");
	if (!dir || !*dir)
		dir = CMSD_PLUGIN_DIR_DEFAULT;
	out[0] = '\0';
	if (!(d = opendir(dir))) {
		snprintf(out, len, "(%s: %s)", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) && n < 128) {
		size_t l = strlen(e->d_name);
		if (l > 3 && strcmp(e->d_name + l - 3, ".so") == 0)
			names[n++] = strndup(e->d_name, l - 3);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), setup_cmp);
	for (i = 0; i < n; i++) {
		if (names[i] && off < len)
			off += (size_t)snprintf(out + off, len - off, "%s%s",
						off ? "," : "", names[i]);
		free(names[i]);
	}
}

/* The whole disk the root file system is on ("sda", "nvme0n1", "md0"),
 * from /sys/dev/block; the partition's parent when / is on a partition. */
static void setup_root_disk(char *out, size_t len)
{
	char p[PATH_MAX], link[PATH_MAX], *b;
	struct stat st;
	ssize_t n;

	snprintf(out, len, "unknown");
	if (stat("/", &st) < 0)
		return;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(st.st_dev),
		 minor(st.st_dev));
	n = readlink(p, link, sizeof(link) - 1);
	if (n < 0)
		return;
	link[n] = '\0';
	/* .../block/sda/sda1 for a partition, .../block/sda for a disk */
	strncat(p, "/partition", sizeof(p) - strlen(p) - 1);
	if (access(p, F_OK) == 0 && (b = strrchr(link, '/')))
		*b = '\0';
	b = strrchr(link, '/');
	/* A disk name is short; a longer one is not sdX either way. */
	if (snprintf(out, len, "%s", b ? b + 1 : link) >= (int)len)
		out[len - 1] = '\0';
}

/* true when path is the root of a mounted file system; else false with
 * the reason in why. */
static bool setup_is_mount(const char *path, char *why, size_t len)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	if (stat(path, &a) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(parent, &b) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	if (a.st_dev == b.st_dev && a.st_ino != b.st_ino) {
		snprintf(why, len,
			 "not a partition of its own (a directory "
			 "on its parent's file system)");
		return false;
	}
	return true;
}

static void setup_facts(struct sconn *c)
{
	char body[4096], host[256], comps[2048], disk[64], v[64], why[160];
	char over[128] = "";
	struct timespec ts;
	struct statvfs vs;
	long long off = 0;
	size_t n = 0;
	int k;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "(unknown)");
	host[sizeof(host) - 1] = '\0';
	setup_components(S.plugin_dir, comps, sizeof(comps));
	setup_root_disk(disk, sizeof(disk));
	clock_gettime(CLOCK_REALTIME, &ts);

#define ADD(...)                                                               \
	do {                                                                   \
		k = snprintf(body + n, sizeof(body) - n, __VA_ARGS__);         \
		if (k > 0 && (size_t)k < sizeof(body) - n)                     \
			n += (size_t)k;                                        \
	} while (0)
#define OVER(key)                                                              \
	snprintf(over + strlen(over), sizeof(over) - strlen(over), "%s%s",     \
		 over[0] ? "," : "", key)

	ADD("hostname=%s\n", host);
	ADD("config=%s\n", S.config);
	if (setup_override("version", v, sizeof(v))) {
		ADD("version=%s\n", v);
		OVER("version");
	} else {
		ADD("version=%s\n", CMSD_VERSION);
	}
	ADD("components=%s\n", comps);
	if (setup_override("boot", v, sizeof(v))) {
		ADD("boot=%s\n", v);
		OVER("boot");
	} else {
		ADD("boot=%s\n",
		    access("/sys/firmware/efi", F_OK) == 0 ? "uefi" : "legacy");
	}
	if (setup_override("clock_offset_ms", v, sizeof(v))) {
		off = strtoll(v, NULL, 10);
		OVER("clock_offset_ms");
	}
	ADD("time_ms=%lld\n",
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + off);
	if (setup_override("disk", v, sizeof(v))) {
		ADD("disk=%s\n", v);
		OVER("disk");
	} else {
		ADD("disk=%s\n", disk);
	}
	/* /vms must be a partition of its own: a directory on / would
	 * report the size of / and share it with the system. */
	if (!setup_is_mount(S.vms_path, why, sizeof(why)))
		ADD("vms_error=%s: %s\n", S.vms_path, why);
	else if (statvfs(S.vms_path, &vs) == 0)
		ADD("vms_mib=%llu\n",
		    (unsigned long long)vs.f_blocks * vs.f_frsize >> 20);
	else
		ADD("vms_error=%s: %s\n", S.vms_path, strerror(errno));
	if (over[0])
		ADD("overridden=%s\n", over);
#undef ADD
#undef OVER
	sc_send(c, "OK", body, n);
}

/* ------------------------------------------------------------ HOOK */

static void setup_hook_done(const struct cmsd_child_result *res, void *arg)
{
	struct sconn *c = arg;
	char body[600], out[480];
	const char *status;

	c->hook = NULL;
	/* one line of the hook's words, for the operator */
	spawn_output_line(res, "; ", out, sizeof(out));
	if (res->exited && res->exit_code == 0)
		status = "ok";
	else
		status = "fail";
	if (res->timed_out)
		snprintf(out, sizeof(out), "did not finish within %d s",
			 SETUP_HOOK_MS / 1000);
	else if (!res->exited)
		snprintf(out, sizeof(out), "killed by signal %d", res->signal);
	else if (res->exit_code && !out[0])
		snprintf(out, sizeof(out), "exit status %d", res->exit_code);
	log_info("setup: pre-check hook %s: %s%s%s", S.hook, status,
		 out[0] ? ": " : "", out);
	snprintf(body, sizeof(body), "status=%s\noutput=%s\n", status, out);
	sc_send(c, "OK", body, strlen(body));
	sc_resume(c);
}

static void setup_hook(struct sconn *c)
{
	const char *argv[] = {S.hook, NULL};
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = SETUP_HOOK_MS,
		.output_max = 4096,
		.done = setup_hook_done,
		.arg = c,
	};
	int rc;

	if (access(S.hook, X_OK) != 0) {
		static const char absent[] = "status=absent\noutput=\n";
		sc_send(c, "OK", absent, sizeof(absent) - 1);
		return;
	}
	rc = spawn_start(&req, &c->hook);
	if (rc < 0) {
		sc_err(c, "cannot run %s: %s", S.hook, strerror(-rc));
		return;
	}
	c->busy = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* ------------------------------------------------------------ WIPE */

static void setup_wipe_done(const struct cmsd_child_result *res, void *arg)
{
	struct sconn *c = arg;
	char out[200];

	c->hook = NULL;
	spawn_output_line(res, " ", out, sizeof(out));
	if (res->exited && res->exit_code == 0) {
		log_info("setup: %s: DRBD partition wiped (first and last "
			 "MiB zeroed)",
			 c->peer);
		sc_send(c, "OK", NULL, 0);
	} else {
		log_warnx("setup: wipe failed: %s",
			  res->timed_out ? "timed out" : out);
		sc_err(c, "wipe failed: %s",
		       res->timed_out ? "timed out" : out);
	}
	sc_resume(c);
}

/* WIPE DEVICE (setup_wipe.c): zeroes the first and the last MiB of the
 * DRBD partition the written config names, through dd in a child. */
static void setup_wipe(struct sconn *c, const char *dev)
{
	static struct setup_wipe w;
	char err[300];
	const char *argv[] = {
		"/bin/sh",
		"-c",
		"dd if=/dev/zero \"$1\" bs=4096 \"$3\" conv=notrunc,fsync "
		"status=none && dd if=/dev/zero \"$1\" bs=4096 \"$2\" \"$3\" "
		"conv=notrunc,fsync status=none",
		"wipe",
		w.of,
		w.tail_seek,
		w.count,
		NULL};
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = SETUP_HOOK_MS,
		.output_max = 1024,
		.done = setup_wipe_done,
		.arg = c,
	};
	int rc;

	rc = setup_wipe_plan(S.config, dev, &w, err, sizeof(err));
	if (rc < 0) {
		log_warnx("setup: %s: WIPE refused: %s", c->peer, err);
		sc_err(c, "%s", err);
		return;
	}
	log_info("setup: %s: wiping the DRBD partition %s (%llu bytes): "
		 "first and last MiB",
		 c->peer, dev, (unsigned long long)w.size);
	rc = spawn_start(&req, &c->hook);
	if (rc < 0) {
		sc_err(c, "cannot run dd: %s", strerror(-rc));
		return;
	}
	c->busy = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* ------------------------------------------------------------ PARTITION */

static void setup_partition_done(void *arg, bool ok, const char *text)
{
	struct sconn *c = arg;

	c->part = NULL;
	if (ok)
		sc_send(c, "OK", text, strlen(text));
	else
		sc_err(c, "%s", text);
	sc_resume(c);
}

/* PARTITION DISK SIZE_MIB LABEL (setup_part.c): the DRBD database
 * partition, made or reused; the reply names its device. */
static void setup_partition(struct sconn *c, const char *disk, const char *size,
			    const char *label)
{
	char err[400];
	int rc;

	rc = setup_part_start(c->peer, disk, size, label, setup_partition_done,
			      c, &c->part, err, sizeof(err));
	if (rc < 0) {
		log_warnx("setup: %s: %s", c->peer, err);
		sc_err(c, "%s", err);
		return;
	}
	c->busy = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* ------------------------------------------------------------ PROBE */

static void setup_probe_done(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	int err = 0;
	socklen_t l = sizeof(err);

	if (what & EV_TIMEOUT)
		sc_err(c, "no answer within %d s", SETUP_PROBE_MS / 1000);
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err)
		sc_err(c, "%s", strerror(err ? err : errno));
	else
		sc_send(c, "OK", NULL, 0);
	event_free(c->probe_ev);
	c->probe_ev = NULL;
	close(c->probe_fd);
	sc_resume(c);
}

static void setup_probe(struct sconn *c, const char *addr, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct timeval tv = {SETUP_PROBE_MS / 1000, 0};
	int fd, rc;

	if ((rc = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		sc_err(c, "PROBE: bad address %s port %s", addr, port);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		sc_err(c, "socket: %s", strerror(errno));
		freeaddrinfo(ai);
		return;
	}
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc == 0) {
		close(fd);
		sc_send(c, "OK", NULL, 0);
		return;
	}
	if (errno != EINPROGRESS) {
		sc_err(c, "%s", strerror(errno));
		close(fd);
		return;
	}
	c->probe_fd = fd;
	c->probe_ev = event_new(loop_base(), fd, EV_WRITE, setup_probe_done, c);
	event_add(c->probe_ev, &tv);
	c->busy = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* ------------------------------------------------------------ files */

static int setup_mkdirs(char *path)
{
	char *s;

	for (s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			*s = '/';
			return -e;
		}
		*s = '/';
	}
	return 0;
}

static void setup_put(struct sconn *c, const char *rel, const char *mode,
		      const char *body, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX + 256], *end;
	unsigned long m = strtoul(mode, &end, 8);
	int rc;

	/* "@config": the configuration file itself, wherever -c put it */
	if (strcmp(rel, "@config") != 0 && !setup_relpath_ok(rel)) {
		sc_err(c, "PUT: \"%s\" is not a plain relative path", rel);
		return;
	}
	if (*end || m > 0777) {
		sc_err(c, "PUT: bad mode \"%s\"", mode);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", S.config);
	if (strcmp(rel, "@config") == 0)
		snprintf(path, sizeof(path), "%s", S.config);
	else
		snprintf(path, sizeof(path), "%s/%s", dirname(dir), rel);
	if ((rc = setup_mkdirs(path)) < 0 ||
	    (rc = pki_write_file(path, body, len, (unsigned)m)) < 0) {
		log_warnx("setup: cannot write %s: %s", path, strerror(-rc));
		sc_err(c, "cannot write %s: %s", path, strerror(-rc));
		return;
	}
	log_info("setup: %s wrote %s (%zu bytes, mode %03lo)", c->peer, path,
		 len, m);
	sc_send(c, "OK", NULL, 0);
}

/* ------------------------------------------------------------ INITIATOR */

#define SETUP_INITIATOR_FILE "/etc/iscsi/initiatorname.iscsi"

/* INITIATOR IQN: the host's iSCSI initiator name, which the kernel
 * initiator (open-iscsi) logs in with; `cmsadm recover` keeps a replaced
 * node's name so that the SAN sees the same initiator. */
static void setup_initiator(struct sconn *c, const char *iqn)
{
	char path[] = SETUP_INITIATOR_FILE, text[300];
	int rc;

	if (strlen(iqn) > 223 ||
	    (strncmp(iqn, "iqn.", 4) != 0 && strncmp(iqn, "eui.", 4) != 0) ||
	    strspn(iqn, "abcdefghijklmnopqrstuvwxyz0123456789.:-") !=
		    strlen(iqn)) {
		sc_err(c, "INITIATOR: \"%s\" is not an iSCSI name", iqn);
		return;
	}
	snprintf(text, sizeof(text), "InitiatorName=%s\n", iqn);
	if ((rc = setup_mkdirs(path)) < 0 ||
	    (rc = pki_write_file(path, text, strlen(text), 0644)) < 0) {
		sc_err(c, "cannot write %s: %s", path, strerror(-rc));
		return;
	}
	log_info("setup: %s wrote %s: InitiatorName=%s", c->peer, path, iqn);
	sc_send(c, "OK", NULL, 0);
}

struct setup_errs {
	char buf[SETUP_MAX_LINE - 8];
	size_t n;
};

static void setup_err_collect(const char *msg, void *arg)
{
	struct setup_errs *e = arg;

	if (e->n < sizeof(e->buf) - 1)
		e->n += (size_t)snprintf(e->buf + e->n, sizeof(e->buf) - e->n,
					 "%s%s", e->n ? " | " : "", msg);
	if (e->n >= sizeof(e->buf))
		e->n = sizeof(e->buf) - 1;
	log_warnx("setup: %s", msg);
}

/* cmsd --check of the written config: 0, or 1 with the errors sent. */
static int setup_check(struct sconn *c)
{
	struct conf_overrides ov = {.plugin_dir = S.plugin_dir};
	struct setup_errs e = {.n = 0};
	struct conf *conf = NULL;
	int n;

	e.buf[0] = '\0';
	if (!ov.plugin_dir)
		ov.plugin_dir = getenv("CMSD_PLUGIN_DIR");
	n = conf_load(S.config, &ov, setup_err_collect, &e, &conf);
	if (n) {
		sc_err(c, "%s: %s", S.config, e.buf);
		return 1;
	}
	conf_free(conf);
	return 0;
}

/* ------------------------------------------------------------ requests */

static time_t setup_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void sc_authed(struct sconn *c)
{
	struct timeval tv = {SETUP_AUTHED_S, 0};

	c->authed = true;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

static void setup_auth(struct sconn *c, const char *how, const char *body,
		       size_t len)
{
	char err[256];
	time_t now = setup_mono_s();
	unsigned left;
	int rc;

	if (strcmp(how, "token") == 0) {
		if (G.token[0] &&
		    auth_equal(body, len, G.token, strlen(G.token))) {
			sc_authed(c);
			log_info("setup: %s authenticated with the local token",
				 c->peer);
			sc_send(c, "OK", NULL, 0);
		} else {
			log_warnx("setup: %s: wrong local token", c->peer);
			sc_err(c, "wrong token");
		}
		return;
	}
	if (strcmp(how, "root") != 0) {
		sc_err(c, "AUTH: unknown method \"%s\"", how);
		return;
	}
	if ((left = auth_locked_for(&G.limit, now))) {
		log_warnx("setup: authentication of root from %s refused: "
			  "locked for %u more s after %u failures",
			  c->peer, left, G.limit.max_failures);
		sc_err(c, "locked: too many failed attempts, try again in %u s",
		       left);
		return;
	}
	rc = auth_check_password(AUTH_SHADOW_PATH, "root", body, len, err,
				 sizeof(err));
	if (rc == 0) {
		auth_record(&G.limit, true, now);
		sc_authed(c);
		log_info("setup: %s authenticated as root", c->peer);
		sc_send(c, "OK", NULL, 0);
		return;
	}
	if (rc != -EACCES) {
		log_warnx("setup: authentication of root from %s: %s", c->peer,
			  err);
		sc_err(c, "cannot check the password here: %s", err);
		return;
	}
	if (auth_record(&G.limit, false, setup_mono_s())) {
		log_warnx("setup: authentication of root from %s failed; "
			  "%u failures: refusing every attempt for %u s",
			  c->peer, G.limit.max_failures, G.limit.lockout_s);
		sc_err(c,
		       "wrong password; too many failed attempts, locked "
		       "for %u s",
		       G.limit.lockout_s);
	} else {
		log_warnx("setup: authentication of root from %s failed "
			  "(%u of %u before a lockout)",
			  c->peer, G.limit.failures, G.limit.max_failures);
		sc_err(c, "wrong password");
	}
}

static void setup_handle(struct sconn *c, const char *payload, size_t len)
{
	struct setup_msg m;
	char *w[4] = {0}, *save = NULL;
	int nw = 0;

	if (setup_msg_parse(payload, len, &m) < 0) {
		sc_err(c, "malformed request");
		return;
	}
	for (char *t = strtok_r(m.line, " ", &save); t && nw < 4;
	     t = strtok_r(NULL, " ", &save))
		w[nw++] = t;
	if (nw == 0) {
		sc_err(c, "empty request");
		return;
	}
	if (strcmp(w[0], "AUTH") == 0 && nw == 2) {
		setup_auth(c, w[1], m.body, m.body_len);
		return;
	}
	if (!c->authed) {
		log_warnx("setup: %s: %s before AUTH refused", c->peer, w[0]);
		sc_err(c, "not authenticated");
		return;
	}
	if (strcmp(w[0], "FACTS") == 0 && nw == 1)
		setup_facts(c);
	else if (strcmp(w[0], "HOOK") == 0 && nw == 1)
		setup_hook(c);
	else if (strcmp(w[0], "PROBE") == 0 && nw == 3)
		setup_probe(c, w[1], w[2]);
	else if (strcmp(w[0], "INITIATOR") == 0 && nw == 2)
		setup_initiator(c, w[1]);
	else if (strcmp(w[0], "WIPE") == 0 && nw == 2)
		setup_wipe(c, w[1]);
	else if (strcmp(w[0], "PARTITION") == 0 && nw == 4)
		setup_partition(c, w[1], w[2], w[3]);
	else if (strcmp(w[0], "PUT") == 0 && nw == 3)
		setup_put(c, w[1], w[2], m.body, m.body_len);
	else if (strcmp(w[0], "CHECK") == 0 && nw == 1) {
		if (!setup_check(c))
			sc_send(c, "OK", NULL, 0);
	} else if (strcmp(w[0], "COMMIT") == 0 && nw == 1) {
		if (setup_check(c))
			return;
		log_info("setup: %s: configuration %s committed; restarting "
			 "in configured mode",
			 c->peer, S.config);
		sc_send(c, "OK", NULL, 0);
		c->restart_after = true;
	} else
		sc_err(c, "unknown request \"%s\" with %d argument%s", w[0],
		       nw - 1, nw == 2 ? "" : "s");
}

/* ------------------------------------------------------------ I/O */

static void sc_read(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[4];
	char *p;
	uint32_t n;

	while (!c->busy && !c->restart_after && evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, h, 4);
		n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		    (uint32_t)h[2] << 8 | h[3];
		if (n > SETUP_MAX_MSG) {
			log_warnx("setup: %s: message of %u bytes, over the "
				  "limit: closing",
				  c->peer, n);
			sc_free(c);
			return;
		}
		if (evbuffer_get_length(in) < 4 + (size_t)n)
			return;
		evbuffer_drain(in, 4);
		if (!(p = malloc(n + 1))) {
			sc_free(c);
			return;
		}
		evbuffer_remove(in, p, n);
		setup_handle(c, p, n);
		/* The payload may hold a password. */
		explicit_bzero(p, n);
		free(p);
	}
}

static void sc_write(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;

	if (c->restart_after &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		G.restart = true;
		event_base_loopbreak(loop_base());
	}
}

static void sc_event(struct bufferevent *bev, short what, void *arg)
{
	struct sconn *c = arg;
	(void)bev;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (what & BEV_EVENT_TIMEOUT)
			log_info("setup: %s idle for %d s: closing", c->peer,
				 c->authed ? SETUP_AUTHED_S : SETUP_IDLE_S);
		else if (what & BEV_EVENT_ERROR) {
			unsigned long e = bufferevent_get_openssl_error(bev);
			log_debug("setup: %s: connection error%s%s", c->peer,
				  e ? ": " : "",
				  e ? ERR_reason_error_string(e) : "");
		}
		sc_free(c);
	}
}

static void setup_accept(struct evconnlistener *l, evutil_socket_t fd,
			 struct sockaddr *sa, int salen, void *arg)
{
	struct timeval idle = {SETUP_IDLE_S, 0};
	char host[INET6_ADDRSTRLEN] = "?";
	struct sconn *c;
	SSL *ssl;
	(void)l;
	(void)salen;
	(void)arg;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host,
			  sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
			  host, sizeof(host));
	if (G.n_conns >= SETUP_MAX_CONNS) {
		log_warnx("setup: %s: %d connections already open: refused",
			  host, SETUP_MAX_CONNS);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	ssl = c ? SSL_new(G.ctx) : NULL;
	if (!ssl) {
		free(c);
		close(fd);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", host);
	c->bev = bufferevent_openssl_socket_new(loop_base(), fd, ssl,
						BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl);
		close(fd);
		free(c);
		return;
	}
	c->next = G.conns;
	G.conns = c;
	G.n_conns++;
	bufferevent_setcb(c->bev, sc_read, sc_write, sc_event, c);
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("setup: connection from %s", host);
}

static void setup_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("setup: signal %d: stopping", (int)sig);
	event_base_loopbreak(loop_base());
}

/* ------------------------------------------------------------ start-up */

static int setup_token_write(char *err, size_t errlen)
{
	unsigned char r[32];
	char dir[PATH_MAX], *d;
	int rc;

	if (RAND_bytes(r, sizeof(r)) != 1) {
		snprintf(err, errlen, "no random bytes for the token");
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(G.token + 2 * i, 3, "%02x", r[i]);
	snprintf(dir, sizeof(dir), "%s", S.token_file);
	d = dirname(dir);
	if (mkdir(d, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", d, strerror(errno));
		return -errno;
	}
	rc = pki_write_file(S.token_file, G.token, strlen(G.token), 0600);
	if (rc)
		snprintf(err, errlen, "%s: %s", S.token_file, strerror(-rc));
	return rc;
}

static int setup_listen(char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					     AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", S.port);
	if (getaddrinfo(S.listen_addr, port, &hints, &ai) != 0) {
		snprintf(err, errlen, "--setup-listen: bad address \"%s\"",
			 S.listen_addr);
		return -EINVAL;
	}
	G.lst = evconnlistener_new_bind(loop_base(), setup_accept, NULL,
					LEV_OPT_CLOSE_ON_FREE |
						LEV_OPT_REUSEABLE |
						LEV_OPT_CLOSE_ON_EXEC,
					16, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!G.lst) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s",
			 S.listen_addr, S.port, strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_tls(char *err, size_t errlen, bool print_only)
{
	char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16], fp[128];
	char host[256] = "cmsd-setup";
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc;

	snprintf(dir, sizeof(dir), "%s/setup", S.state_dir);
	if (print_only)
		goto paths;
	if (mkdir(S.state_dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%.400s: %s", S.state_dir,
			 strerror(errno));
		return -errno;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%.400s: %s", dir, strerror(errno));
		return -errno;
	}
paths:
	snprintf(cert, sizeof(cert), "%s/setup.pem", dir);
	snprintf(key, sizeof(key), "%s/setup.key", dir);
	/* Showing the fingerprint only reads: the agent makes the pair. */
	if (print_only && access(cert, F_OK) != 0) {
		snprintf(
			err, errlen,
			"%.300s: %s (start cmsd --unconfigured first: it makes "
			"the setup certificate)",
			cert, strerror(errno));
		return -ENOENT;
	}
	gethostname(host, sizeof(host) - 1);
	rc = pki_load_or_make(cert, key, host, &x, &k, err, errlen);
	if (rc)
		return rc;
	pki_fingerprint(x, fp, sizeof(fp));
	if (print_only) {
		printf("%s\n", fp);
		goto out;
	}
	log_info("setup: certificate %s, fingerprint %s", cert, fp);
	G.ctx = SSL_CTX_new(TLS_server_method());
	if (!G.ctx || !SSL_CTX_set_min_proto_version(G.ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate(G.ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(G.ctx, k) != 1) {
		snprintf(err, errlen, "cannot set up TLS with %.400s", cert);
		rc = -EINVAL;
	}
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int setup_load_override(char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	if (!S.facts_override)
		return 0;
	if (!(f = fopen(S.facts_override, "re"))) {
		snprintf(err, errlen, "--facts-override %s: %s",
			 S.facts_override, strerror(errno));
		return -errno;
	}
	n = fread(G.override, 1, sizeof(G.override) - 1, f);
	fclose(f);
	G.override[n] = '\0';
	for (char *p = G.override; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ',' : '\0';
	log_warnx("setup: facts overridden from %s (a test setting): %s",
		  S.facts_override, G.override);
	for (char *p = G.override; *p; p++)
		if (*p == ',')
			*p = '\n';
	/* one key per line, the last one too (setup_kv_get needs no final
	 * newline, but the text should read as the file did) */
	return 0;
}

static void setup_usage(FILE *f)
{
	fprintf(f,
		"usage: cmsd --unconfigured [-c FILE] [-p PLUGIN_DIR] [-d] "
		"[options]\n"
		"  Waits for `cmsadm setup` on the setup port; the client "
		"proves "
		"this host's\n"
		"  root password.  On COMMIT the agent writes FILE's directory "
		"and restarts\n"
		"  itself as cmsd -c FILE.\n"
		"  -c, --config FILE         the configuration to write "
		"(default "
		"%s)\n"
		"      --setup-listen ADDR   address to listen on (default "
		"0.0.0.0)\n"
		"      --setup-port PORT     setup port (default %d)\n"
		"      --state-dir DIR       setup certificate under DIR/setup "
		"(default %s)\n"
		"      --log-file FILE       (default %s)\n"
		"      --token-file FILE     the local token (default %s)\n"
		"      --vms-path DIR        the /vms partition (default %s)\n"
		"      --precheck-hook PATH  the platform's pre-check script "
		"(default %s)\n"
		"      --auth-max-failures N failures before a lockout "
		"(default %d)\n"
		"      --auth-lockout SEC    lockout length (default %d)\n"
		"      --facts-override FILE tests only: key=value facts "
		"(version, boot,\n"
		"                            disk, clock_offset_ms) that a "
		"namespace cannot vary\n"
		"      --show-fingerprint    print the setup certificate's "
		"fingerprint, exit\n",
		CONF_DEFAULT_PATH, SETUP_PORT, SETUP_STATE_DIR, SETUP_LOG_FILE,
		SETUP_TOKEN_FILE, SETUP_VMS_PATH, SETUP_HOOK, AUTH_MAX_FAILURES,
		AUTH_LOCKOUT_S);
}

static unsigned setup_uint(const char *opt, const char *v, unsigned max)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (!*v || *end || n > max) {
		fprintf(stderr, "cmsd: %s: \"%s\" is not a number up to %u\n",
			opt, v, max);
		exit(2);
	}
	return (unsigned)n;
}

static void setup_restart(void)
{
	const char *argv[8];
	int i = 0;

	argv[i++] = "cmsd";
	argv[i++] = "-c";
	argv[i++] = S.config;
	if (S.plugin_dir) {
		argv[i++] = "-p";
		argv[i++] = S.plugin_dir;
	}
	if (S.debug)
		argv[i++] = "-d";
	argv[i] = NULL;
	log_info("setup: restarting as cmsd -c %s", S.config);
	log_close();
	execv("/proc/self/exe", (char *const *)argv);
	/* exec failed: the configured agent is not running; say so loudly */
	fprintf(stderr, "cmsd: cannot restart in configured mode: %s\n",
		strerror(errno));
	G.rc = 1;
}

int setup_main(int argc, char **argv)
{
	enum {
		O_UNCONF = 256,
		O_LISTEN,
		O_PORT,
		O_STATE,
		O_LOG,
		O_TOKEN,
		O_VMS,
		O_HOOK,
		O_MAXF,
		O_LOCK,
		O_OVERRIDE,
		O_FP,
	};
	static const struct option opts[] = {
		{"unconfigured", no_argument, NULL, O_UNCONF},
		{"config", required_argument, NULL, 'c'},
		{"plugin-dir", required_argument, NULL, 'p'},
		{"debug", no_argument, NULL, 'd'},
		{"foreground", no_argument, NULL, 'f'},
		{"setup-listen", required_argument, NULL, O_LISTEN},
		{"setup-port", required_argument, NULL, O_PORT},
		{"state-dir", required_argument, NULL, O_STATE},
		{"log-file", required_argument, NULL, O_LOG},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"vms-path", required_argument, NULL, O_VMS},
		{"precheck-hook", required_argument, NULL, O_HOOK},
		{"auth-max-failures", required_argument, NULL, O_MAXF},
		{"auth-lockout", required_argument, NULL, O_LOCK},
		{"facts-override", required_argument, NULL, O_OVERRIDE},
		{"show-fingerprint", no_argument, NULL, O_FP},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct log_options lo = {.ident = "cmsd", .to_stderr = true};
	struct event *sigs[2] = {NULL, NULL};
	char err[512];
	int c, rc;

	S = (struct setup_opts){
		.config = CONF_DEFAULT_PATH,
		.listen_addr = "0.0.0.0",
		.port = SETUP_PORT,
		.state_dir = SETUP_STATE_DIR,
		.log_file = SETUP_LOG_FILE,
		.token_file = SETUP_TOKEN_FILE,
		.vms_path = SETUP_VMS_PATH,
		.hook = SETUP_HOOK,
		.max_failures = AUTH_MAX_FAILURES,
		.lockout_s = AUTH_LOCKOUT_S,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:dfh", opts, NULL)) != -1) {
		switch (c) {
		case O_UNCONF:
		case 'f':
			break;
		case 'c':
			S.config = optarg;
			break;
		case 'p':
			S.plugin_dir = optarg;
			break;
		case 'd':
			S.debug = true;
			lo.verbosity = 1;
			break;
		case O_LISTEN:
			S.listen_addr = optarg;
			break;
		case O_PORT:
			S.port = setup_uint("--setup-port", optarg, 65535);
			break;
		case O_STATE:
			S.state_dir = optarg;
			break;
		case O_LOG:
			S.log_file = optarg;
			break;
		case O_TOKEN:
			S.token_file = optarg;
			break;
		case O_VMS:
			S.vms_path = optarg;
			break;
		case O_HOOK:
			S.hook = optarg;
			break;
		case O_MAXF:
			S.max_failures =
				setup_uint("--auth-max-failures", optarg, 100);
			if (!S.max_failures)
				S.max_failures = 1;
			break;
		case O_LOCK:
			S.lockout_s =
				setup_uint("--auth-lockout", optarg, 86400);
			break;
		case O_OVERRIDE:
			S.facts_override = optarg;
			break;
		case O_FP:
			S.show_fp = true;
			break;
		case 'h':
			setup_usage(stdout);
			return 0;
		default:
			setup_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cmsd: unexpected argument \"%s\"\n",
			argv[optind]);
		return 2;
	}
	if (S.show_fp) {
		rc = setup_tls(err, sizeof(err), true);
		if (rc)
			fprintf(stderr, "cmsd: %s\n", err);
		return rc ? 1 : 0;
	}
	lo.file = S.log_file;
	lo.to_syslog = true;
	if ((rc = log_open(&lo)) < 0)
		log_warnx("cannot open log file %s: %s", S.log_file,
			  strerror(-rc));
	auth_limit_init(&G.limit, S.max_failures, S.lockout_s);
	G.rc = 1;
	if (access(S.config, F_OK) == 0)
		log_warnx("setup: %s exists; it is replaced when setup commits",
			  S.config);
	if ((rc = loop_init()) < 0 || (rc = spawn_init()) < 0) {
		log_warnx("setup: cannot start the event loop: %s",
			  strerror(-rc));
		goto out;
	}
	if (setup_load_override(err, sizeof(err)) ||
	    setup_tls(err, sizeof(err), false) ||
	    setup_token_write(err, sizeof(err)) ||
	    setup_listen(err, sizeof(err))) {
		log_warnx("setup: %s: not starting", err);
		goto out;
	}
	sigs[0] = evsignal_new(loop_base(), SIGTERM, setup_signal, NULL);
	sigs[1] = evsignal_new(loop_base(), SIGINT, setup_signal, NULL);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	log_info("setup: unconfigured cmsd %s waiting for cmsadm setup on "
		 "%s:%u (root password, %u failures lock for %u s)",
		 CMSD_VERSION, S.listen_addr, S.port, G.limit.max_failures,
		 G.limit.lockout_s);
	event_base_dispatch(loop_base());
	G.rc = 0;
out:
	while (G.conns)
		sc_free(G.conns);
	if (G.lst)
		evconnlistener_free(G.lst);
	for (int i = 0; i < 2; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (G.token[0])
		unlink(S.token_file);
	explicit_bzero(G.token, sizeof(G.token));
	SSL_CTX_free(G.ctx);
	spawn_shutdown();
	loader_shutdown();
	loop_free();
	if (G.restart)
		setup_restart();
	log_close();
	return G.rc;
}
