/*
 * cmsadm setup: makes a hot-standby pair out of three hosts that run an
 * unconfigured cmsd (`cmsd --unconfigured`): this host (node1, the first
 * master), the slave (node2) and, in arbiter mode, the arbiter.
 *
 * Order: the form (options), the slave's and arbiter's root passwords (a
 * prompt without echo, or --password-file FILE|-), a TLS connection to each
 * agent whose setup certificate is pinned by fingerprint, authentication
 * (root password; the local agent by its token file), the pre-checks, the
 * typed CONFIRM, then the stages: certificates and keys, configuration
 * written to the three hosts, checked there, agents restarted in configured
 * mode, and the wait for a running pair.  Every stage is logged to
 * /var/log/cvm_master_slave.log (--log-file); a failure stops at once and
 * names the stage.  No password is ever on the command line, in a log or in
 * a file written here; the memory that held one is wiped.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto.h"
#include "drbd_res.h"
#include "pki.h"
#include "setupproto.h"
#include "setup_cmd.h"
#include "setupc.h"

#define SETUP_LOG_DEFAULT   "/var/log/cvm_master_slave.log"
#define SETUP_TOKEN_DEFAULT "/run/cmsd/setup.token"
#define SETUP_STATE_DEFAULT "/var/lib/cmsd"
#define ARBITER_PORT	    7790

enum host_idx { H_LOCAL, H_SLAVE, H_ARB, H_N };
static const char *const host_role[H_N] = {"node1", "node2", "arbiter"};

struct host {
	bool used;
	char ip[64];
	struct setupc ch; /* the channel to its setup agent */
	/* facts */
	char body[4096];
	size_t body_len;
	long long t_before, t_after; /* our clock around FACTS, ms */
	char hostname[256];
	char config[1024];
	char db_dev[256]; /* its DRBD database partition (PARTITION) */
};

struct form {
	const char *vip, *netmask, *slave_ip, *quorum, *arbiter_ip;
	const char *ping1, *ping2, *password_file, *cluster_id;
	const char *log_file, *token_file, *state_dir, *group_template;
	const char *interface, *db_disk, *db_on, *local_ip, *sock;
	int prefix; /* -1: from --netmask */
	long hosts, vms, skew_ms, wait_s;
	uint64_t db_size_mib; /* 0: the formula's, rounded up to GB */
	bool allow_small_db;
	unsigned port;
	const char *fp_pin[8];
	int n_pins;
};

static struct form F;
static struct host H[H_N];
static FILE *LOG;
static SSL_CTX *CTX;

/* ------------------------------------------------------------ output */

static void slog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void slog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setupc_vlog(LOG, "cmsadm setup", fmt, ap);
	va_end(ap);
}

/* What the operator reads, and the same line in the log. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setupc_vsay(LOG, "cmsadm setup", fmt, ap);
	va_end(ap);
}

static const char *STAGE = "start";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = setupc_vfail(LOG, "cmsadm setup", "setup failed", STAGE,
			  F.log_file, fmt, ap);
	va_end(ap);
	return rc;
}

static void stage(const char *name, const char *what)
{
	STAGE = name;
	say("==> %s", what);
}

/* ------------------------------------------------------------ secrets */

static void wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

/* The passwords, in the order slave, arbiter (when used). */
static int read_passwords(char pw[2][512], FILE **stdin_rest)
{
	int need = H[H_ARB].used ? 2 : 1;
	FILE *f = NULL;

	*stdin_rest = NULL;
	if (F.password_file) {
		if (strcmp(F.password_file, "-") == 0) {
			f = stdin;
			*stdin_rest = stdin;
		} else if (!(f = fopen(F.password_file, "re"))) {
			fprintf(stderr,
				"cmsadm: setup: --password-file %s: %s\n",
				F.password_file, strerror(errno));
			return -errno;
		}
		for (int i = 0; i < need; i++)
			if (!setupc_read_line(f, pw[i], 512)) {
				fprintf(stderr,
					"cmsadm: setup: --password-file %s: "
					"no line %d (the %s's root password)\n",
					F.password_file, i + 1,
					i ? "arbiter" : "slave");
				if (f != stdin)
					fclose(f);
				return -EINVAL;
			}
		if (f != stdin)
			fclose(f);
		return 0;
	}
	for (int i = 0; i < need; i++) {
		char what[128];
		snprintf(what, sizeof(what), "Root password of the %s (%s)",
			 i ? "arbiter" : "slave",
			 i ? F.arbiter_ip : F.slave_ip);
		if (setupc_prompt_password(what, pw[i], 512) < 0) {
			fprintf(stderr,
				"cmsadm: setup: no terminal for the password "
				"prompt: use --password-file FILE or "
				"--password-file - (stdin)\n");
			return -ENOTTY;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ channel */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request to host h's agent (setupc_call). */
static int call(struct host *h, const char *line, const void *body, size_t blen,
		char *rline, size_t rllen, char *rbody, size_t rlen,
		size_t *rgot)
{
	return setupc_call(&h->ch, line, body, blen, rline, rllen, rbody, rlen,
			   rgot);
}

static const char *pinned_fp(const char *ip)
{
	size_t l = strlen(ip);

	for (int i = 0; i < F.n_pins; i++)
		if (strncmp(F.fp_pin[i], ip, l) == 0 && F.fp_pin[i][l] == '=')
			return F.fp_pin[i] + l + 1;
	return NULL;
}

/* The local agent's certificate, read from its state directory: this host
 * pins its own agent without asking. */
static int local_fp(char *out, size_t len)
{
	char path[1100];
	FILE *f;
	X509 *x;
	int rc;

	snprintf(path, sizeof(path), "%s/setup/setup.pem", F.state_dir);
	if (!(f = fopen(path, "re")))
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return -EINVAL;
	rc = pki_fingerprint(x, out, len);
	X509_free(x);
	return rc;
}

static bool ask_yes(const char *q)
{
	char a[16];
	FILE *tty;
	bool yes = false;

	if (!isatty(STDIN_FILENO) || !(tty = fopen("/dev/tty", "r+e")))
		return false;
	fprintf(tty, "%s [yes/no]: ", q);
	fflush(tty);
	if (setupc_read_line(tty, a, sizeof(a)))
		yes = strcmp(a, "yes") == 0;
	fclose(tty);
	return yes;
}

static const struct setupc_ui SETUPC_UI = {
	.say = say, .slog = slog, .confirm = ask_yes};

/* Connects, checks the certificate's fingerprint, authenticates. */
static int host_open(enum host_idx i, const char *secret)
{
	struct host *h = &H[i];
	char err[1024], name[sizeof(h->ip) + 16], lfp[128];
	char pin_arg[sizeof(h->ip) + sizeof(h->ch.fp) + 1];
	const char *pin;
	int rc;

	/* Both fit by their sizes; the checks are for gcc's
	 * -Wformat-truncation, which cannot tell. */
	if (snprintf(name, sizeof(name), "%s (%s)", host_role[i], h->ip) >=
	    (int)sizeof(name))
		name[sizeof(name) - 1] = '\0';
	if (setupc_connect(&h->ch, CTX, name, h->ip, F.port, err, sizeof(err)))
		return fail("%s", err);
	if (i == H_LOCAL) {
		rc = local_fp(lfp, sizeof(lfp));
		if (rc)
			return fail("this host's setup certificate %s/setup/"
				    "setup.pem: %s",
				    F.state_dir, strerror(-rc));
		pin = lfp;
	} else {
		pin = pinned_fp(h->ip);
	}
	if (snprintf(pin_arg, sizeof(pin_arg), "%s=%s", h->ip, h->ch.fp) >=
	    (int)sizeof(pin_arg))
		pin_arg[sizeof(pin_arg) - 1] = '\0';
	if (setupc_verify_auth(&h->ch, name, h->ip, pin, pin_arg,
			       i == H_LOCAL ? "AUTH token" : "AUTH root",
			       secret, &SETUPC_UI, err, sizeof(err)))
		return fail("%s", err);
	return 0;
}

static void host_close(struct host *h)
{
	setupc_close(&h->ch);
}

/* ------------------------------------------------------------ checks */

static int n_failed;

static void check_result(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void check_result(const char *name, const char *fmt, ...)
{
	char why[1024] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (!why[0]) {
		say("pre-check %-10s OK", name);
		return;
	}
	n_failed++;
	say("pre-check %-10s FAILED: %s", name, why);
}

static const char *fact(enum host_idx i, const char *key, char *buf, size_t len)
{
	if (!setup_kv_get(H[i].body, H[i].body_len, key, buf, len))
		snprintf(buf, len, "(unknown)");
	return buf;
}

static char *who(enum host_idx i, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s %s (%s)", host_role[i], H[i].hostname,
		     H[i].ip) >= (int)len)
		buf[len - 1] = '\0';
	return buf;
}

static void check_hostname(void)
{
	char why[1024] = "", w[128];
	size_t n = 0;

	for (int i = 0; i < H_N; i++) {
		const char *s = H[i].hostname, *bad = NULL;
		if (!H[i].used)
			continue;
		if (!*s || strlen(s) > 63)
			bad = "empty or longer than 63 characters";
		else if (strchr(s, '.'))
			bad = "contains '.'";
		else if (s[0] == '-')
			bad = "starts with '-'";
		else
			for (const char *p = s; *p; p++)
				if (!isalnum((unsigned char)*p) && *p != '-') {
					bad = "contains a character other "
					      "than letters, digits and '-'";
					break;
				}
		for (int j = 0; !bad && j < i; j++)
			if (H[j].used && strcasecmp(H[j].hostname, s) == 0)
				bad = "same name as another host";
		if (bad)
			n += (size_t)snprintf(
				why + n, sizeof(why) - n, "%s%s: \"%s\" %s",
				n ? "; " : "",
				who((enum host_idx)i, w, sizeof(w)), s, bad);
		if (n >= sizeof(why))
			break;
	}
	check_result("hostname", "%s", why);
}

static void check_version(void)
{
	char v[3][64], c[3][2048], w[128];

	for (int i = 0; i < H_N; i++)
		if (H[i].used) {
			fact((enum host_idx)i, "version", v[i], sizeof(v[i]));
			fact((enum host_idx)i, "components", c[i],
			     sizeof(c[i]));
		}
	for (int i = 1; i < H_N; i++)
		if (H[i].used && strcmp(v[i], v[0]) != 0) {
			check_result("version",
				     "%s runs cmsd %s, %s runs cmsd %s",
				     who((enum host_idx)i, w, sizeof(w)), v[i],
				     H[0].hostname, v[0]);
			return;
		}
	if (strcmp(c[H_LOCAL], c[H_SLAVE]) != 0) {
		check_result("version",
			     "the nodes have different components (plugins): "
			     "%s has %s; %s has %s",
			     H[H_LOCAL].hostname, c[H_LOCAL],
			     H[H_SLAVE].hostname, c[H_SLAVE]);
		return;
	}
	if (H[H_ARB].used && !strstr(c[H_ARB], "quorum-cmsd")) {
		check_result("version",
			     "%s lacks the quorum-cmsd plugin (it has %s)",
			     who(H_ARB, w, sizeof(w)), c[H_ARB]);
		return;
	}
	check_result("version", NULL);
}

static void check_boot(void)
{
	char a[32], b[32];

	fact(H_LOCAL, "boot", a, sizeof(a));
	fact(H_SLAVE, "boot", b, sizeof(b));
	if (strcmp(a, b) != 0)
		check_result("boot-mode",
			     "%s boots %s, %s boots %s: both nodes must boot "
			     "the same way (UEFI or legacy)",
			     H[H_LOCAL].hostname, a, H[H_SLAVE].hostname, b);
	else
		check_result("boot-mode", NULL);
}

static void check_clock(void)
{
	char t[32], w[128];

	for (int i = 1; i < H_N; i++) {
		long long them, mid, off;
		if (!H[i].used)
			continue;
		fact((enum host_idx)i, "time_ms", t, sizeof(t));
		them = strtoll(t, NULL, 10);
		mid = (H[i].t_before + H[i].t_after) / 2;
		off = them - mid;
		if (llabs(off) > F.skew_ms) {
			check_result(
				"clock",
				"%s's clock is %+lld ms off this host's "
				"(allowed: %ld ms); synchronise the clocks "
				"(NTP)",
				who((enum host_idx)i, w, sizeof(w)), off,
				F.skew_ms);
			return;
		}
	}
	check_result("clock", NULL);
}

static void check_disk(void)
{
	char d[64], w[128];

	for (int i = 0; i < 2; i++) {
		const char *kind = NULL;
		fact((enum host_idx)i, "disk", d, sizeof(d));
		if (strncmp(d, "nvme", 4) == 0)
			kind = "an NVMe disk";
		else if (strncmp(d, "md", 2) == 0)
			kind = "a soft RAID (md) or VROC volume";
		else if (strncmp(d, "sd", 2) != 0 || !d[2])
			kind = "not a disk named sdX";
		else
			for (const char *p = d + 2; *p; p++)
				if (*p < 'a' || *p > 'z')
					kind = "not a disk named sdX";
		if (kind) {
			check_result("disk",
				     "%s: the system disk is %s, %s; the nodes "
				     "need a system disk named sdX",
				     who((enum host_idx)i, w, sizeof(w)), d,
				     kind);
			return;
		}
	}
	check_result("disk", NULL);
}

static void check_vms(void)
{
	char v[1200], msg[512], w[128];

	for (int i = 0; i < 2; i++) {
		if (!setup_kv_get(H[i].body, H[i].body_len, "vms_mib", v,
				  sizeof(v))) {
			fact((enum host_idx)i, "vms_error", v, sizeof(v));
			check_result("vms", "%s: no /vms partition: %s",
				     who((enum host_idx)i, w, sizeof(w)), v);
			return;
		}
		if (drbd_check_vms(strtoull(v, NULL, 10), (uint64_t)F.hosts,
				   (uint64_t)F.vms, msg, sizeof(msg))) {
			check_result("vms", "%s: %s",
				     who((enum host_idx)i, w, sizeof(w)), msg);
			return;
		}
	}
	check_result("vms", NULL);
}

static void check_hook(void)
{
	char line[SETUP_MAX_LINE], body[1024], st[16], out[600], w[128];
	size_t got = 0;

	for (int i = 0; i < 2; i++) {
		int rc = call(&H[i], "HOOK", NULL, 0, line, sizeof(line), body,
			      sizeof(body), &got);
		if (rc) {
			check_result("storage",
				     "%s: the platform's pre-check hook did "
				     "not run: %s",
				     who((enum host_idx)i, w, sizeof(w)),
				     rc < 0 ? "connection broke" : line);
			return;
		}
		setup_kv_get(body, got, "status", st, sizeof(st));
		setup_kv_get(body, got, "output", out, sizeof(out));
		if (strcmp(st, "fail") == 0) {
			check_result("storage",
				     "%s: the platform reports other storage "
				     "pools or managed hosts: %s",
				     who((enum host_idx)i, w, sizeof(w)),
				     out[0] ? out : "(no reason given)");
			return;
		}
		slog("%s: pre-check hook: %s%s%s", H[i].hostname, st,
		     out[0] ? ": " : "", out);
	}
	check_result("storage", NULL);
}

static void check_network(void)
{
	char line[SETUP_MAX_LINE], req[128], w[128];
	struct {
		enum host_idx from, to;
	} paths[] = {{H_SLAVE, H_LOCAL},
		     {H_ARB, H_LOCAL},
		     {H_SLAVE, H_ARB},
		     {H_ARB, H_SLAVE}};

	/* this host -> the others: the setup connections themselves */
	for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
		int rc;
		if (!H[paths[k].from].used || !H[paths[k].to].used)
			continue;
		snprintf(req, sizeof(req), "PROBE %s %u", H[paths[k].to].ip,
			 F.port);
		rc = call(&H[paths[k].from], req, NULL, 0, line, sizeof(line),
			  NULL, 0, NULL);
		if (rc) {
			check_result("network",
				     "%s cannot reach %s (%s) on the "
				     "management network: %s",
				     who(paths[k].from, w, sizeof(w)),
				     H[paths[k].to].hostname, H[paths[k].to].ip,
				     rc < 0 ? "connection broke" : line);
			return;
		}
	}
	check_result("network", NULL);
}

static int gather_facts(void)
{
	char line[SETUP_MAX_LINE];

	for (int i = 0; i < H_N; i++) {
		struct host *h = &H[i];
		int rc;
		if (!h->used)
			continue;
		h->t_before = now_ms();
		rc = call(h, "FACTS", NULL, 0, line, sizeof(line), h->body,
			  sizeof(h->body), &h->body_len);
		h->t_after = now_ms();
		if (rc)
			return fail("%s (%s): FACTS: %s", host_role[i], h->ip,
				    rc < 0 ? "connection broke" : line);
		fact((enum host_idx)i, "hostname", h->hostname,
		     sizeof(h->hostname));
		fact((enum host_idx)i, "config", h->config, sizeof(h->config));
		{
			char copy[sizeof(h->body)];
			snprintf(copy, sizeof(copy), "%s", h->body);
			for (char *q = copy; *q; q++)
				if (*q == '\n')
					*q = ' ';
			slog("%s (%s) facts: %s", host_role[i], h->ip, copy);
		}
		if (setup_kv_get(h->body, h->body_len, "overridden", line,
				 sizeof(line)))
			say("note: %s reports facts overridden for tests: %s",
			    h->hostname, line);
	}
	return 0;
}

/* ------------------------------------------------------------ config */

struct cbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct cbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_add(struct cbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->p ? b->p + b->n : NULL,
			      b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			return;
		if (b->p && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = (b->cap + (size_t)k + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
}

static const char default_template[] =
	"  <storage id=\"db\" plugin=\"storage-drbd\">\n"
	"    <resource>r0</resource>\n"
	"    <minor>0</minor>\n"
	"    @DB_DISKS@\n"
	"    <port>7789</port>\n"
	"    <mount>/var/lib/mysql-share</mount>\n"
	"    <fstype>ext4</fstype>\n"
	"    <after-sb>auto</after-sb>\n"
	"  </storage>\n"
	"  <group id=\"vms\">\n"
	"    <resource id=\"webip\" plugin=\"resource-vip\" storage=\"db\" "
	"monitor-interval=\"2s\">\n"
	"      <address>@VIP@/@PREFIX@</address>\n"
	"      <interface>@INTERFACE@</interface>\n"
	"    </resource>\n"
	"    <resource id=\"mysql\" plugin=\"resource-mysql\" storage=\"db\" "
	"start-timeout=\"120s\" stop-timeout=\"120s\">\n"
	"      <datadir>/var/lib/mysql-share/mysql</datadir>\n"
	"      <socket>/run/mysqld/mysqld.sock</socket>\n"
	"      <pid-file>/run/mysqld/mysqld.pid</pid-file>\n"
	"      <mariadbd>/usr/sbin/mariadbd</mariadbd>\n"
	"    </resource>\n"
	"    <resource id=\"tomcat\" plugin=\"resource-tomcat\" "
	"start-timeout=\"180s\">\n"
	"      <systemd-unit>tomcat10.service</systemd-unit>\n"
	"      <url>http://127.0.0.1:8080/</url>\n"
	"      <expect-status>200</expect-status>\n"
	"    </resource>\n"
	"  </group>\n";

static char *TEMPLATE;

static int load_template(void)
{
	FILE *f;
	long n;

	if (!F.group_template) {
		TEMPLATE = strdup(default_template);
		return TEMPLATE ? 0 : -ENOMEM;
	}
	if (!(f = fopen(F.group_template, "re"))) {
		fprintf(stderr, "cmsadm: setup: --group-template %s: %s\n",
			F.group_template, strerror(errno));
		return -errno;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if (n < 0 || n > 65536 || !(TEMPLATE = calloc(1, (size_t)n + 1)) ||
	    fread(TEMPLATE, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		fprintf(stderr,
			"cmsadm: setup: --group-template %s: cannot "
			"read it (at most 64 KiB)\n",
			F.group_template);
		return -EINVAL;
	}
	fclose(f);
	return 0;
}

/* The database partition made by setup: its GPT partition name. */
#define DB_LABEL "cmsd-db"

/* The template asks for the database disk: setup makes the partition
 * unless --db-disk names an existing device. */
static bool template_wants_db(void)
{
	return strstr(TEMPLATE, "@DB_DISKS@") || strstr(TEMPLATE, "@DB_DISK@");
}

/* "20 GB" when a whole number of GB, else "40 MiB". */
static const char *size_str(uint64_t mib)
{
	static char buf[2][40];
	static int k;

	k ^= 1;
	if (mib % 1024 == 0)
		snprintf(buf[k], sizeof(buf[k]), "%llu GB",
			 (unsigned long long)(mib / 1024));
	else
		snprintf(buf[k], sizeof(buf[k]), "%llu MiB",
			 (unsigned long long)mib);
	return buf[k];
}

/*
 * The template with @VIP@, @PREFIX@, @NETMASK@, @INTERFACE@, @DB_DISK@,
 * @DB_DISKS@, @DB_SIZE_GB@ and @NODE@ replaced.  @DB_DISKS@: one <disk
 * node="ID"> line per node (the partitions setup made; their names may
 * differ, /dev/sda3 and /dev/sdb3), or one <disk> for --db-disk;
 * @DB_DISK@: --db-disk, or the nodes' partition when both have the same
 * name (db_disk_check() refused it otherwise).
 */
static void add_template(struct cbuf *b, const char *node)
{
	char prefix[8], size[24], disks[700];
	const char *one = F.db_disk ? F.db_disk : H[H_LOCAL].db_dev;
	struct {
		const char *key, *val;
	} subst[] = {{"@VIP@", F.vip},	       {"@PREFIX@", prefix},
		     {"@NETMASK@", F.netmask}, {"@INTERFACE@", F.interface},
		     {"@DB_DISKS@", disks},    {"@DB_DISK@", one},
		     {"@DB_SIZE_GB@", size},   {"@NODE@", node}};
	const char *p = TEMPLATE;

	snprintf(prefix, sizeof(prefix), "%d", F.prefix);
	snprintf(size, sizeof(size), "%llu",
		 (unsigned long long)((F.db_size_mib + 1023) / 1024));
	if (F.db_disk)
		snprintf(disks, sizeof(disks), "<disk>%s</disk>", F.db_disk);
	else
		snprintf(disks, sizeof(disks),
			 "<disk node=\"%s\">%s</disk>\n"
			 "    <disk node=\"%s\">%s</disk>",
			 host_role[H_LOCAL], H[H_LOCAL].db_dev,
			 host_role[H_SLAVE], H[H_SLAVE].db_dev);
	while (*p) {
		size_t k;
		bool done = false;
		if (*p == '@')
			for (k = 0; k < sizeof(subst) / sizeof(subst[0]); k++) {
				size_t l = strlen(subst[k].key);
				if (strncmp(p, subst[k].key, l) == 0) {
					sb_add(b, "%s",
					       subst[k].val ? subst[k].val
							    : "");
					p += l;
					done = true;
					break;
				}
			}
		if (!done)
			sb_add(b, "%c", *p++);
	}
}

static void dir_of(const char *path, char *out, size_t len)
{
	const char *s = strrchr(path, '/');

	if (!s || s == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(s - path), path);
}

static char *node_config(enum host_idx i)
{
	struct cbuf b = {0};
	char dir[1024];
	const char *id = host_role[i];

	dir_of(H[i].config, dir, sizeof(dir));
	sb_add(&b,
	       "<?xml version=\"1.0\"?>\n"
	       "<!-- written by cmsadm setup: node %s of cluster %s -->\n"
	       "<cmsd version=\"1\" mode=\"node\" node=\"%s\">\n"
	       "  <cluster id=\"%s\">\n"
	       "    <key-file>%s/cluster.key</key-file>\n"
	       "    <tls ca=\"%s/tls/ca.pem\" cert=\"%s/tls/node.pem\" "
	       "key=\"%s/tls/node.key\"/>\n"
	       "    <timers heartbeat-interval=\"200ms\" deadtime=\"1s\" "
	       "lease=\"1s\"/>\n",
	       id, F.cluster_id, id, F.cluster_id, dir, dir, dir, dir);
	for (int k = 0; k < 2; k++)
		sb_add(&b,
		       "    <node id=\"%s\" name=\"%s\">\n"
		       "      <link address=\"%s\"/>\n"
		       "      <control address=\"%s\"/>\n"
		       "    </node>\n",
		       host_role[k], H[k].hostname, H[k].ip, H[k].ip);
	sb_add(&b, "  </cluster>\n");
	if (H[H_ARB].used)
		sb_add(&b,
		       "  <quorum id=\"quorum\" plugin=\"quorum-cmsd\">\n"
		       "    <arbiter>%s:%d</arbiter>\n"
		       "    <arbiter-name>%s</arbiter-name>\n"
		       "  </quorum>\n",
		       H[H_ARB].ip, ARBITER_PORT, H[H_ARB].hostname);
	else
		sb_add(&b,
		       "  <quorum id=\"quorum\" plugin=\"quorum-ping\">\n"
		       "    <target>%s</target>\n"
		       "    <target>%s</target>\n"
		       "  </quorum>\n",
		       F.ping1, F.ping2);
	add_template(&b, id);
	sb_add(&b, "</cmsd>\n");
	return b.p;
}

static char *arbiter_config(void)
{
	struct cbuf b = {0};
	char dir[1024];

	dir_of(H[H_ARB].config, dir, sizeof(dir));
	sb_add(&b,
	       "<?xml version=\"1.0\"?>\n"
	       "<!-- written by cmsadm setup: arbiter of cluster %s -->\n"
	       "<cmsd version=\"1\" mode=\"arbiter\">\n"
	       "  <arbiter id=\"arbiter\" plugin=\"quorum-cmsd\">\n"
	       "    <listen>%s:%d</listen>\n"
	       "    <cluster id=\"%s\">\n"
	       "      <ca>%s/tls/ca.pem</ca>\n"
	       "      <cert>%s/tls/arbiter.pem</cert>\n"
	       "      <key>%s/tls/arbiter.key</key>\n"
	       "    </cluster>\n"
	       "  </arbiter>\n"
	       "</cmsd>\n",
	       F.cluster_id, H[H_ARB].ip, ARBITER_PORT, F.cluster_id, dir, dir,
	       dir);
	return b.p;
}

static int put(enum host_idx i, const char *rel, const char *mode,
	       const void *data, size_t len)
{
	char line[SETUP_MAX_LINE], req[300];
	int rc;

	snprintf(req, sizeof(req), "PUT %s %s", rel, mode);
	rc = call(&H[i], req, data, len, line, sizeof(line), NULL, 0, NULL);
	if (rc)
		return fail("%s (%s): writing %s: %s", H[i].hostname, H[i].ip,
			    rel, rc < 0 ? "connection broke" : line);
	slog("%s: wrote %s (%zu bytes)", H[i].hostname, rel, len);
	return 0;
}

/* ------------------------------------------------------------ stages */

/*
 * The DRBD database partition on both nodes (not the arbiter): the agent's
 * PARTITION makes a GPT partition named cmsd-db of the form's size on the
 * node's system disk (its FACTS) or --db-on, or reuses one that is there
 * (a setup run again).  Each node's device goes into the configs.
 */
static int make_db_partitions(void)
{
	if (F.db_disk || !template_wants_db())
		return 0;
	stage("partition", "creating the DRBD database partition on both "
			   "nodes");
	for (int i = 0; i < 2; i++) {
		struct host *h = &H[i];
		char line[SETUP_MAX_LINE], req[400], body[1024], disk[300];
		char d[64], st[16] = "", part[256] = "", mib[24] = "";
		size_t got = 0;
		int r;

		if (F.db_on)
			snprintf(disk, sizeof(disk), "%s", F.db_on);
		else
			snprintf(disk, sizeof(disk), "/dev/%s",
				 fact((enum host_idx)i, "disk", d, sizeof(d)));
		snprintf(req, sizeof(req), "PARTITION %s %llu %s", disk,
			 (unsigned long long)F.db_size_mib, DB_LABEL);
		r = call(h, req, NULL, 0, line, sizeof(line), body,
			 sizeof(body), &got);
		if (r)
			return fail("%s (%s): the database partition on %s: %s",
				    h->hostname, host_role[i], disk,
				    r < 0 ? "connection broke" : line);
		if (!setup_kv_get(body, got, "device", h->db_dev,
				  sizeof(h->db_dev)) ||
		    h->db_dev[0] != '/')
			return fail("%s (%s): PARTITION on %s named no device",
				    h->hostname, host_role[i], disk);
		setup_kv_get(body, got, "state", st, sizeof(st));
		setup_kv_get(body, got, "partition", part, sizeof(part));
		setup_kv_get(body, got, "size_mib", mib, sizeof(mib));
		say("  %s (%s): database partition %s (%s%s%s, %s MiB, %s)",
		    h->hostname, host_role[i], h->db_dev,
		    strcmp(part, h->db_dev) ? part : "",
		    strcmp(part, h->db_dev) ? " on " : "on ", disk, mib,
		    strcmp(st, "reused") == 0 ? "already there, reused"
					      : "created");
	}
	/* @DB_DISK@ is one path for both nodes. */
	if (strstr(TEMPLATE, "@DB_DISK@") &&
	    strcmp(H[H_LOCAL].db_dev, H[H_SLAVE].db_dev) != 0)
		return fail("the group template uses @DB_DISK@ (one path for "
			    "both nodes) but the nodes' database partitions "
			    "differ: %s on %s, %s on %s; use @DB_DISKS@ (a "
			    "<disk node=\"ID\"> line each)",
			    H[H_LOCAL].db_dev, H[H_LOCAL].hostname,
			    H[H_SLAVE].db_dev, H[H_SLAVE].hostname);
	return 0;
}

static int make_and_send(void)
{
	EVP_PKEY *cakey = NULL, *k = NULL;
	X509 *ca = NULL, *c = NULL;
	char *capem = NULL, *cakeypem = NULL, *pem = NULL, *kpem = NULL;
	char *conf = NULL;
	unsigned char ckey[48];
	int rc = 1;

	stage("certificates", "[1/4] generating the cluster CA, node "
			      "certificates and the cluster key");
	cakey = pki_key_new();
	ca = cakey ? pki_cert_new(cakey, "cmsd cluster CA", 3650 * 3, 1, NULL,
				  NULL)
		   : NULL;
	capem = ca ? pki_cert_pem(ca) : NULL;
	cakeypem = cakey ? pki_key_pem(cakey) : NULL;
	if (!capem || !cakeypem || RAND_bytes(ckey, sizeof(ckey)) != 1) {
		fail("cannot make the cluster CA or key");
		goto out;
	}
	slog("cluster CA made");

	stage("write", "[2/4] writing the configuration to the three hosts");
	for (int i = 0; i < H_N; i++) {
		const char *cn = host_role[i];
		if (!H[i].used)
			continue;
		k = pki_key_new();
		c = k ? pki_cert_new(k, cn, 3650, 0, ca, cakey) : NULL;
		pem = c ? pki_cert_pem(c) : NULL;
		kpem = k ? pki_key_pem(k) : NULL;
		if (!pem || !kpem) {
			fail("cannot make the certificate of %s", cn);
			goto out;
		}
		conf = i == H_ARB ? arbiter_config()
				  : node_config((enum host_idx)i);
		if (put((enum host_idx)i, "tls/ca.pem", "644", capem,
			strlen(capem)) ||
		    put((enum host_idx)i,
			i == H_ARB ? "tls/arbiter.pem" : "tls/node.pem", "644",
			pem, strlen(pem)) ||
		    put((enum host_idx)i,
			i == H_ARB ? "tls/arbiter.key" : "tls/node.key", "600",
			kpem, strlen(kpem)) ||
		    (i != H_ARB &&
		     (put((enum host_idx)i, "cluster.key", "600", ckey,
			  sizeof(ckey)) ||
		      /* the CA key stays on the nodes: recovery of either
		       * node issues the new peer's certificate */
		      put((enum host_idx)i, "tls/ca.key", "600", cakeypem,
			  strlen(cakeypem)))) ||
		    put((enum host_idx)i, "@config", "644", conf, strlen(conf)))
			goto out;
		say("  %s (%s): configuration written as %s", H[i].hostname,
		    host_role[i], H[i].config);
		wipe(kpem);
		free(kpem);
		free(pem);
		free(conf);
		X509_free(c);
		EVP_PKEY_free(k);
		kpem = pem = conf = NULL;
		c = NULL;
		k = NULL;
	}

	stage("check", "[3/4] checking the configuration on each host");
	for (int i = 0; i < H_N; i++) {
		char line[SETUP_MAX_LINE];
		int r;
		if (!H[i].used)
			continue;
		r = call(&H[i], "CHECK", NULL, 0, line, sizeof(line), NULL, 0,
			 NULL);
		if (r) {
			fail("%s (%s): the configuration is refused: %s",
			     H[i].hostname, host_role[i],
			     r < 0 ? "connection broke" : line);
			goto out;
		}
		say("  %s: configuration valid", H[i].hostname);
	}
	rc = 0;
out:
	explicit_bzero(ckey, sizeof(ckey));
	wipe(cakeypem);
	wipe(kpem);
	free(cakeypem);
	free(kpem);
	free(capem);
	free(pem);
	free(conf);
	X509_free(ca);
	X509_free(c);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(k);
	return rc;
}

static bool status_line(const char *st, const char *prefix, const char *suf)
{
	for (const char *p = st; p && *p; p = strchr(p, '\n')) {
		size_t l;
		if (*p == '\n')
			p++;
		l = strcspn(p, "\n");
		if (strncmp(p, prefix, strlen(prefix)) == 0 &&
		    l >= strlen(suf) &&
		    strncmp(p + l - strlen(suf), suf, strlen(suf)) == 0)
			return true;
	}
	return false;
}

/* Every resource of the reference section (between the first two "-----"
 * lines) reads "Started NODE": the group is up, not on its way. */
static bool group_started(const char *st)
{
	const char *p = strstr(st, "\n-----\n");
	int n = 0;

	if (!p)
		return false;
	for (p += 7; *p && strncmp(p, "-----", 5) != 0;) {
		size_t l = strcspn(p, "\n");
		if (*p != ' ' && strncmp(p, "Master/Slave", 12) != 0) {
			const char *s = strstr(p, " Started ");
			if (!s || s > p + l)
				return false;
			n++;
		}
		p += l;
		if (*p)
			p++;
	}
	return n > 0;
}

static int commit(enum host_idx i)
{
	char line[SETUP_MAX_LINE];
	int r;

	if (!H[i].used)
		return 0;
	r = call(&H[i], "COMMIT", NULL, 0, line, sizeof(line), NULL, 0, NULL);
	if (r)
		return fail("%s (%s): %s", H[i].hostname, host_role[i],
			    r < 0 ? "connection broke" : line);
	host_close(&H[i]);
	say("  %s: cmsd restarted as %s", H[i].hostname, host_role[i]);
	return 0;
}

/* Polls this host's status until ok(status) or the --wait time is over;
 * fails naming `what` with the last status. */
static int wait_status(bool (*ok)(const char *), const char *what)
{
	long long t0 = now_ms();
	char *body = NULL;

	for (;;) {
		int r = ctl_client_call(F.sock, "status", 2000, &body);
		if (r == 0 && ok(body)) {
			free(body);
			return 0;
		}
		if (now_ms() - t0 > F.wait_s * 1000) {
			int e = fail("%s not within %ld s; status says:\n%s",
				     what, F.wait_s,
				     r == 0 && body ? body : "(no answer)");
			free(body);
			return e;
		}
		free(body);
		body = NULL;
		usleep(200 * 1000);
	}
}

/*
 * The initial resync of a replicated storage (DRBD), with its percent,
 * until no replica of the status is syncing.  It takes as long as the
 * disk needs: setup gives up only when the percent has not moved for the
 * --wait time.
 */
static int wait_sync(void)
{
	long long t_moved = now_ms();
	int last = -1, pct = 0;
	char id[64], *body = NULL;

	STAGE = "sync";
	for (;;) {
		int r = ctl_client_call(F.sock, "status", 2000, &body);
		if (r == 0 &&
		    !setup_status_syncing(body, id, sizeof(id), &pct)) {
			if (last >= 0)
				say("  initial sync of %s: done", id);
			free(body);
			return 0;
		}
		if (r == 0 && pct != last) {
			say("  initial sync of %s: %d%%", id, pct);
			last = pct;
			t_moved = now_ms();
		}
		if (now_ms() - t_moved > F.wait_s * 1000) {
			int e = fail(
				"the initial sync made no progress for %ld "
				"s; status says:\n%s",
				F.wait_s,
				r == 0 && body ? body : "(no answer)");
			free(body);
			return e;
		}
		free(body);
		body = NULL;
		usleep(500 * 1000);
	}
}

static char master_line[300];

static bool first_master_up(const char *st)
{
	return status_line(st, master_line, "") && group_started(st) &&
	       (!H[H_ARB].used || status_line(st, "quorum : ", "(Online)"));
}

static bool pair_up(const char *st)
{
	return first_master_up(st) && status_line(st, "slave  : ", "(Online)");
}

/* This host's configured agent answers on its control socket. */
static bool agent_answers(const char *st)
{
	return status_line(st, "node   : ", "");
}

/*
 * The arbiter first, then this node, which becomes master alone (the
 * operator set up the cluster from it and expects it there), and the slave
 * only then: two nodes started in the same instant would both go through
 * the start-up wait together and race for the group.
 *
 * Not so with a DRBD replica (storage-drbd): a fresh pair has no usable
 * copy until both nodes are up and connected (the first master's promote
 * starts the initial sync), so this node alone would never be master.
 * The slave starts once this node's agent runs (it is still in its
 * start-up wait); when the pair connects, both become candidates together
 * and the lower node id, this node, is the one that asks for the vote.
 */
static int start_and_wait(void)
{
	char *body = NULL;
	bool replica = TEMPLATE && strstr(TEMPLATE, "\"storage-drbd\"");

	stage("start", "[4/4] starting the cluster agents");
	snprintf(master_line, sizeof(master_line), "master : %s (Online)",
		 H[H_LOCAL].hostname);
	if (commit(H_ARB) || commit(H_LOCAL))
		return 1;
	if (replica) {
		STAGE = "wait";
		if (wait_status(agent_answers, "this node's agent"))
			return 1;
		STAGE = "start";
		say("  a DRBD pair: the slave starts before the first master "
		    "(a fresh pair becomes usable only when connected)");
		if (commit(H_SLAVE))
			return 1;
	}
	STAGE = "wait";
	say("  waiting for %s to be master (up to %ld s)", H[H_LOCAL].hostname,
	    F.wait_s);
	if (wait_status(first_master_up, "this node as master"))
		return 1;
	STAGE = "start";
	if (!replica && commit(H_SLAVE))
		return 1;
	STAGE = "wait";
	say("  waiting for the slave %s (up to %ld s)", H[H_SLAVE].hostname,
	    F.wait_s);
	if (wait_status(pair_up, "a running master/slave pair"))
		return 1;
	if (wait_sync())
		return 1;
	STAGE = "done";
	if (ctl_client_call(F.sock, "status", 2000, &body) == 0)
		say("%s", body);
	free(body);
	say("-----CVM Master/Slave Setup Success-----");
	return 0;
}

/* ------------------------------------------------------------ the form */

static int prefix_of_netmask(const char *m)
{
	struct in_addr a;
	uint32_t v;
	int n = 0;

	if (inet_pton(AF_INET, m, &a) != 1)
		return -1;
	v = ntohl(a.s_addr);
	while (v & 0x80000000u) {
		n++;
		v <<= 1;
	}
	return v ? -1 : n;
}

static bool is_ipv4(const char *s)
{
	struct in_addr a;

	return s && inet_pton(AF_INET, s, &a) == 1;
}

static long num(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < min || n > max) {
		fprintf(stderr,
			"cmsadm: setup: %s: \"%s\" is not a number from %ld to "
			"%ld\n",
			opt, v, min, max);
		exit(2);
	}
	return n;
}

/* --db-size: N GB, or N with a unit: 20G, 48M (MiB), 1T. */
static uint64_t db_size(const char *v)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	uint64_t mul = 1024;

	if (end != v && *end) {
		if (strcasecmp(end, "M") == 0 || strcasecmp(end, "MB") == 0 ||
		    strcasecmp(end, "MiB") == 0)
			mul = 1;
		else if (strcasecmp(end, "G") == 0 ||
			 strcasecmp(end, "GB") == 0 ||
			 strcasecmp(end, "GiB") == 0)
			mul = 1024;
		else if (strcasecmp(end, "T") == 0 ||
			 strcasecmp(end, "TB") == 0 ||
			 strcasecmp(end, "TiB") == 0)
			mul = 1024 * 1024;
		else
			mul = 0;
	}
	if (end == v || !isdigit((unsigned char)*v) || !mul || n == 0 ||
	    n > (1ull << 32) / mul) {
		fprintf(stderr,
			"cmsadm: setup: --db-size: \"%s\" is not a size (N "
			"GB, or N with a unit: 20G, 48M, 1T)\n",
			v);
		exit(2);
	}
	return n * mul;
}

/* This host's address towards the slave, and the interface holding it. */
static int local_addr(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
	socklen_t l = sizeof(sa);
	struct ifaddrs *ifa, *p;
	static char ip[64], ifn[IF_NAMESIZE + 1];
	int fd;

	if (!F.local_ip) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		inet_pton(AF_INET, F.slave_ip, &sa.sin_addr);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    getsockname(fd, (struct sockaddr *)&sa, &l)) {
			if (fd >= 0)
				close(fd);
			fprintf(stderr,
				"cmsadm: setup: no route to the slave %s: "
				"%s\n",
				F.slave_ip, strerror(errno));
			return -1;
		}
		close(fd);
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
		F.local_ip = ip;
	}
	if (!F.interface && getifaddrs(&ifa) == 0) {
		for (p = ifa; p; p = p->ifa_next) {
			char a[64];
			if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
				continue;
			inet_ntop(
				AF_INET,
				&((struct sockaddr_in *)p->ifa_addr)->sin_addr,
				a, sizeof(a));
			if (strcmp(a, F.local_ip) == 0) {
				snprintf(ifn, sizeof(ifn), "%s", p->ifa_name);
				F.interface = ifn;
				break;
			}
		}
		freeifaddrs(ifa);
	}
	if (!F.interface) {
		fprintf(stderr,
			"cmsadm: setup: no interface holds %s: give "
			"--interface\n",
			F.local_ip);
		return -1;
	}
	return 0;
}

static void setup_usage(FILE *f)
{
	fprintf(f,
		"usage: cmsadm setup --vip ADDR (--netmask MASK | --prefix N) "
		"--slave-ip ADDR\n"
		"         --quorum arbiter --arbiter-ip ADDR | --quorum ping "
		"--ping-ip1 ADDR --ping-ip2 ADDR\n"
		"         --hosts N --vms N [--db-size GB|SIZE[MGT]] "
		"[--allow-small-db]\n"
		"         [--db-on DISK | --db-disk DEV] [--password-file "
		"FILE|-]\n"
		"         [--fingerprint ADDR=SHA256:..]... [--cluster-id ID] "
		"[--max-clock-skew MS]\n"
		"         [--group-template FILE] [--interface IF] [--db-disk "
		"DEV] [--local-ip ADDR]\n"
		"         [--setup-port PORT] [--log-file FILE] [--token-file "
		"FILE] [--state-dir DIR]\n"
		"         [--wait SECONDS]\n"
		"Run on the first node, with `cmsd --unconfigured` running on "
		"the three hosts.\n"
		"The slave's and arbiter's root passwords are asked without "
		"echo, or read from\n"
		"--password-file (line 1 the slave's, line 2 the arbiter's; - "
		"is stdin); never\n"
		"give them as arguments.  See cmsadm(8).\n");
}

int setup_cmd(int argc, char **argv, const char *sock)
{
	enum {
		O_VIP = 256,
		O_MASK,
		O_PREFIX,
		O_SLAVE,
		O_QUORUM,
		O_ARB,
		O_P1,
		O_P2,
		O_HOSTS,
		O_VMS,
		O_DB,
		O_PWF,
		O_FP,
		O_CID,
		O_SKEW,
		O_TPL,
		O_IF,
		O_DBDISK,
		O_LOCAL,
		O_PORT,
		O_LOG,
		O_TOKEN,
		O_STATE,
		O_WAIT,
		O_DBON,
		O_SMALL,
	};
	static const struct option opts[] = {
		{"vip", required_argument, NULL, O_VIP},
		{"netmask", required_argument, NULL, O_MASK},
		{"prefix", required_argument, NULL, O_PREFIX},
		{"slave-ip", required_argument, NULL, O_SLAVE},
		{"quorum", required_argument, NULL, O_QUORUM},
		{"arbiter-ip", required_argument, NULL, O_ARB},
		{"ping-ip1", required_argument, NULL, O_P1},
		{"ping-ip2", required_argument, NULL, O_P2},
		{"hosts", required_argument, NULL, O_HOSTS},
		{"vms", required_argument, NULL, O_VMS},
		{"db-size", required_argument, NULL, O_DB},
		{"password-file", required_argument, NULL, O_PWF},
		{"fingerprint", required_argument, NULL, O_FP},
		{"cluster-id", required_argument, NULL, O_CID},
		{"max-clock-skew", required_argument, NULL, O_SKEW},
		{"group-template", required_argument, NULL, O_TPL},
		{"interface", required_argument, NULL, O_IF},
		{"db-disk", required_argument, NULL, O_DBDISK},
		{"local-ip", required_argument, NULL, O_LOCAL},
		{"setup-port", required_argument, NULL, O_PORT},
		{"log-file", required_argument, NULL, O_LOG},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"state-dir", required_argument, NULL, O_STATE},
		{"wait", required_argument, NULL, O_WAIT},
		{"db-on", required_argument, NULL, O_DBON},
		{"allow-small-db", no_argument, NULL, O_SMALL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char pw[2][512] = {{0}}, token[256] = "", confirm[64], tp[1100];
	FILE *rest = NULL, *tf;
	uint64_t db_mib;
	int c, rc = 1;

	F = (struct form){
		.prefix = -1,
		.hosts = -1,
		.vms = -1,
		.cluster_id = "cvm",
		.skew_ms = 2000,
		.log_file = SETUP_LOG_DEFAULT,
		.token_file = SETUP_TOKEN_DEFAULT,
		.state_dir = SETUP_STATE_DEFAULT,
		.port = SETUP_PORT,
		.wait_s = 60,
		.sock = sock,
	};
	/* An agent that closes the connection must give an error, not kill
	 * cmsadm with SIGPIPE half-way through. */
	signal(SIGPIPE, SIG_IGN);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_VIP:
			F.vip = optarg;
			break;
		case O_MASK:
			F.netmask = optarg;
			break;
		case O_PREFIX:
			F.prefix = (int)num("--prefix", optarg, 1, 32);
			break;
		case O_SLAVE:
			F.slave_ip = optarg;
			break;
		case O_QUORUM:
			F.quorum = optarg;
			break;
		case O_ARB:
			F.arbiter_ip = optarg;
			break;
		case O_P1:
			F.ping1 = optarg;
			break;
		case O_P2:
			F.ping2 = optarg;
			break;
		case O_HOSTS:
			F.hosts = num("--hosts", optarg, 0, 100000);
			break;
		case O_VMS:
			F.vms = num("--vms", optarg, 0, 10000000);
			break;
		case O_DB:
			F.db_size_mib = db_size(optarg);
			break;
		case O_PWF:
			F.password_file = optarg;
			break;
		case O_FP:
			if (F.n_pins < 8 && strchr(optarg, '='))
				F.fp_pin[F.n_pins++] = optarg;
			else {
				fprintf(stderr, "cmsadm: setup: --fingerprint "
						"ADDR=SHA256:.. (at most 8)\n");
				return 2;
			}
			break;
		case O_CID:
			F.cluster_id = optarg;
			break;
		case O_SKEW:
			F.skew_ms = num("--max-clock-skew", optarg, 0, 3600000);
			break;
		case O_TPL:
			F.group_template = optarg;
			break;
		case O_IF:
			F.interface = optarg;
			break;
		case O_DBDISK:
			F.db_disk = optarg;
			break;
		case O_LOCAL:
			F.local_ip = optarg;
			break;
		case O_PORT:
			F.port =
				(unsigned)num("--setup-port", optarg, 1, 65535);
			break;
		case O_LOG:
			F.log_file = optarg;
			break;
		case O_TOKEN:
			F.token_file = optarg;
			break;
		case O_STATE:
			F.state_dir = optarg;
			break;
		case O_WAIT:
			F.wait_s = num("--wait", optarg, 1, 3600);
			break;
		case O_DBON:
			F.db_on = optarg;
			break;
		case O_SMALL:
			F.allow_small_db = true;
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
		fprintf(stderr,
			"cmsadm: setup: unexpected argument \"%s\" "
			"(passwords are never arguments: see "
			"--password-file)\n",
			argv[optind]);
		return 2;
	}
	/* The form, checked before anything is asked or touched. */
#define NEED(cond, ...)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "cmsadm: setup: " __VA_ARGS__);        \
			fputc('\n', stderr);                                   \
			return 2;                                              \
		}                                                              \
	} while (0)
	NEED(is_ipv4(F.vip), "--vip: an IPv4 address is required");
	NEED(F.prefix >= 0 || F.netmask, "--netmask or --prefix is required");
	NEED(!(F.prefix >= 0 && F.netmask),
	     "--netmask and --prefix: give one of them");
	if (F.netmask) {
		F.prefix = prefix_of_netmask(F.netmask);
		NEED(F.prefix > 0, "--netmask %s: not a netmask", F.netmask);
	}
	NEED(is_ipv4(F.slave_ip), "--slave-ip: an IPv4 address is required");
	NEED(F.quorum && (strcmp(F.quorum, "arbiter") == 0 ||
			  strcmp(F.quorum, "ping") == 0),
	     "--quorum arbiter or --quorum ping is required");
	if (strcmp(F.quorum, "arbiter") == 0)
		NEED(is_ipv4(F.arbiter_ip) && !F.ping1 && !F.ping2,
		     "--quorum arbiter needs --arbiter-ip ADDR (and no "
		     "--ping-ip1/2)");
	else
		NEED(is_ipv4(F.ping1) && is_ipv4(F.ping2) && !F.arbiter_ip &&
			     strcmp(F.ping1, F.ping2) != 0,
		     "--quorum ping needs two different addresses "
		     "--ping-ip1 and --ping-ip2 (and no --arbiter-ip)");
	NEED(F.hosts >= 0, "--hosts N (the estimated number of hosts) is "
			   "required");
	NEED(F.vms >= 0, "--vms N (the estimated number of VMs) is required");
	db_mib = drbd_db_size_mib((uint64_t)F.hosts, (uint64_t)F.vms);
	if (F.db_size_mib == 0)
		F.db_size_mib = (db_mib + 1023) / 1024 * 1024;
	NEED(F.db_size_mib >= db_mib || F.allow_small_db,
	     "--db-size %s is less than the %llu GB the formula gives "
	     "for %ld hosts and %ld VMs ((hosts x 10 MB + VMs x 15 MB) x 15 "
	     "/ 1024 + 10 GB)",
	     size_str(F.db_size_mib),
	     (unsigned long long)((db_mib + 1023) / 1024), F.hosts, F.vms);
	NEED(!F.db_on || (strncmp(F.db_on, "/dev/", 5) == 0 &&
			  strlen(F.db_on) < 200 && !strchr(F.db_on, ' ')),
	     "--db-on %s: a whole disk under /dev is required", F.db_on);
	NEED(!F.db_on || !F.db_disk,
	     "--db-on and --db-disk: give one of them (--db-disk uses an "
	     "existing device as it is, --db-on makes the partition there)");
	NEED(strspn(F.cluster_id,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
		    "PQRSTUVWXYZ0123456789-_") == strlen(F.cluster_id) &&
		     *F.cluster_id,
	     "--cluster-id: letters, digits, - and _ only");
#undef NEED
	if (load_template() || local_addr())
		return 2;
	H[H_LOCAL] = (struct host){.used = true, .ch.fd = -1};
	snprintf(H[H_LOCAL].ip, sizeof(H[H_LOCAL].ip), "%s", F.local_ip);
	H[H_SLAVE] = (struct host){.used = true, .ch.fd = -1};
	snprintf(H[H_SLAVE].ip, sizeof(H[H_SLAVE].ip), "%s", F.slave_ip);
	H[H_ARB] = (struct host){.used = F.arbiter_ip != NULL, .ch.fd = -1};
	if (F.arbiter_ip)
		snprintf(H[H_ARB].ip, sizeof(H[H_ARB].ip), "%s", F.arbiter_ip);

	LOG = fopen(F.log_file, "ae");
	if (!LOG)
		fprintf(stderr, "cmsadm: setup: warning: cannot open %s: %s\n",
			F.log_file, strerror(errno));
	slog("setup started: vip %s/%d, node1 %s, slave %s, quorum %s %s%s%s, "
	     "%ld hosts, %ld VMs, database %s",
	     F.vip, F.prefix, F.local_ip, F.slave_ip, F.quorum,
	     F.arbiter_ip ? F.arbiter_ip : F.ping1, F.arbiter_ip ? "" : " ",
	     F.arbiter_ip ? "" : F.ping2, F.hosts, F.vms,
	     size_str(F.db_size_mib));
	if (F.db_size_mib < db_mib)
		say("warning: --allow-small-db: the database partition of %s "
		    "is below the %llu GB the formula gives for %ld hosts and "
		    "%ld VMs; for labs and test beds only",
		    size_str(F.db_size_mib),
		    (unsigned long long)((db_mib + 1023) / 1024), F.hosts,
		    F.vms);

	if (read_passwords(pw, &rest))
		goto out;
	snprintf(tp, sizeof(tp), "%s", F.token_file);
	if (!(tf = fopen(tp, "re")) ||
	    !setupc_read_line(tf, token, sizeof(token))) {
		fail("cannot read the local agent's token %s: %s; is `cmsd "
		     "--unconfigured` running on this host?",
		     F.token_file, strerror(errno));
		if (tf)
			fclose(tf);
		goto out;
	}
	fclose(tf);

	/* The setup certificates are self-signed: the pinned fingerprint is
	 * the check (host_open), not a chain. */
	CTX = setupc_ctx_new();
	if (!CTX) {
		fail("cannot set up TLS");
		goto out;
	}

	stage("connect", "connecting to the hosts' setup agents");
	if (host_open(H_LOCAL, token) || host_open(H_SLAVE, pw[0]) ||
	    (H[H_ARB].used && host_open(H_ARB, pw[1])))
		goto out;
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(token, sizeof(token));

	stage("pre-checks", "pre-checks");
	if (gather_facts())
		goto out;
	check_hostname();
	check_version();
	check_boot();
	check_clock();
	check_network();
	check_disk();
	check_vms();
	check_hook();
	if (n_failed) {
		fail("%d pre-check%s failed; nothing was changed", n_failed,
		     n_failed == 1 ? "" : "s");
		goto out;
	}

	stage("confirm", "all pre-checks passed");
	say("About to set up cluster \"%s\": master %s (%s), slave %s (%s), "
	    "%s%s%s%s%s, VIP %s/%d on %s, database partition %s%s%s%s.",
	    F.cluster_id, H[H_LOCAL].hostname, H[H_LOCAL].ip,
	    H[H_SLAVE].hostname, H[H_SLAVE].ip,
	    H[H_ARB].used ? "arbiter " : "ping targets ",
	    H[H_ARB].used ? H[H_ARB].hostname : F.ping1,
	    H[H_ARB].used ? " (" : " and ",
	    H[H_ARB].used ? H[H_ARB].ip : F.ping2, H[H_ARB].used ? ")" : "",
	    F.vip, F.prefix, F.interface, size_str(F.db_size_mib),
	    !template_wants_db() ? ""
	    : F.db_disk		 ? " on the existing "
	    : F.db_on		 ? " (" DB_LABEL ", made on each node's "
		      : " (" DB_LABEL ", made on each node's system disk)",
	    template_wants_db() && (F.db_disk || F.db_on)
		    ? (F.db_disk ? F.db_disk : F.db_on)
		    : "",
	    template_wants_db() && !F.db_disk && F.db_on ? ")" : "");
	printf("Type CONFIRM to continue: ");
	fflush(stdout);
	if (!setupc_read_line(rest ? rest : stdin, confirm, sizeof(confirm)) ||
	    strcmp(confirm, "CONFIRM") != 0) {
		printf("\n");
		fflush(stdout);
		fail("not confirmed (CONFIRM was not typed); nothing was "
		     "changed");
		goto out;
	}
	printf("\n");
	slog("confirmed by the operator");
	if (make_db_partitions() || make_and_send() || start_and_wait())
		goto out;
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(token, sizeof(token));
	for (int i = 0; i < H_N; i++)
		host_close(&H[i]);
	SSL_CTX_free(CTX);
	free(TEMPLATE);
	if (LOG) {
		slog("setup %s", rc ? "failed" : "done");
		fclose(LOG);
	}
	return rc;
}
