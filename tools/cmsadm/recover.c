/*
 * cmsadm recover --peer IP: single-node recovery, run on the surviving
 * master.  The replaced or reinstalled peer runs `cmsd --unconfigured`;
 * this re-initialises it as the node it was and waits until it is slave
 * again with its replica in sync.
 *
 * Order: the master's own configuration is read (the peer's identity: node
 * id, name, addresses, iSCSI initiator name, the storages), this node must
 * be master, the operator confirms ("Please confirm to recovery IP and
 * format peer's /vms partition [yes/no]:", or --yes), the peer's root
 * password (prompt without echo, or --password-file FILE|-) authenticates
 * over TLS to its setup agent, pinned by fingerprint, the peer's version
 * and plugins must match this host's, then: a certificate for the peer's
 * node id from the CA key kept on this node, the peer's database
 * partition made there when setup made this node's (PARTITION: a GPT
 * partition cmsd-db of this node's size on the peer's system disk or
 * --db-on), the peer's config (this node's with node="PEER" and the
 * peer's own <disk node="PEER">), certificate, key, CA key and cluster key
 * written there, each storage-drbd partition wiped (the agent's WIPE:
 * first and last MiB, so storage-drbd's start creates fresh metadata and
 * DRBD resyncs the whole disk from here), the config checked and committed
 * (the peer restarts configured), and the wait for the peer as slave and
 * every replica UpToDate, with the resync percent.  The end is exactly
 * "-----CVM Master/Slave Restore Success-----" or an "ERROR..." line.
 *
 * Nothing is asked of or changed on this node: the master keeps serving
 * whatever happens, SIGINT included.  The password is never in argv, a log
 * or a file written here; the memory that held it is wiped.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "conf.h"
#include "ctlproto.h"
#include "pki.h"
#include "recover_cmd.h"
#include "setup.h"
#include "setup_disk.h"
#include "setupc.h"
#include "setupproto.h"

#define RC_LOG_DEFAULT "/var/log/cvm_master_slave.log"
#define RC_SUCCESS     "-----CVM Master/Slave Restore Success-----"
#define RC_MAX_DRBD    8
#define RC_DB_LABEL    "cmsd-db" /* the partition setup makes */

static struct rc_form {
	const char *peer_ip, *password_file, *fp_pin, *config, *plugin_dir;
	const char *log_file, *sock, *db_on;
	bool yes;
	unsigned port;
	long wait_s, sync_wait_s;
} F;

/* A storage-drbd of the master's configuration: its id, this node's and
 * the peer's <disk> (the one naming the node, else the one without
 * node=), and whether setup made this node's (a partition named cmsd-db):
 * then the peer gets a new one, made on its own disk, of this one's size. */
struct rc_drbd {
	char id[64], local[1024], peer[1024];
	char dnode[4][64], dpath[4][1024]; /* the <disk>s as read */
	int nd;
	bool made;
	uint64_t mib;
	char peer_new[256]; /* the peer's device, as PARTITION named it */
};

/* What the master's configuration says. */
static struct {
	char local_id[64], local_name[256];
	char peer_id[64], peer_name[256];
	char peer_addrs[4][64];
	int n_addrs;
	char ca[1024], cert[1024], key[1024], key_file[1024];
	struct rc_drbd drbd[RC_MAX_DRBD];
	int n_drbd;
	char peer_disk[64];  /* the peer's system disk, from its FACTS */
	char initiator[256]; /* the peer's, from <initiator-name node=PEER> */
	bool iscsi;
} C;

static FILE *LOG;
static int LOG_FD = -1;
static SSL_CTX *CTX;
static struct setupc P = {.fd = -1}; /* the peer's setup agent */
static const char *volatile STAGE = "start";

/* ------------------------------------------------------------ output */

static void slog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void slog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setupc_vlog(LOG, "cmsadm recover", fmt, ap);
	va_end(ap);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setupc_vsay(LOG, "cmsadm recover", fmt, ap);
	va_end(ap);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = setupc_vfail(LOG, "cmsadm recover", "recovery failed",
			  (const char *)STAGE, F.log_file, fmt, ap);
	va_end(ap);
	return rc;
}

static void stage(const char *name, const char *what)
{
	STAGE = name;
	say("==> %s", what);
}

/*
 * SIGINT/SIGTERM: nothing on this node was touched, so the master serves
 * on; the peer is left where the stage left it (a new `cmsadm recover`
 * starts over when its agent is unconfigured again).  Only
 * async-signal-safe calls here.
 */
static void on_signal(int sig)
{
	char msg[300];
	const char *s = (const char *)STAGE;
	int n;

	n = snprintf(msg, sizeof(msg),
		     "ERROR: recovery interrupted (signal %d) at stage "
		     "\"%s\"; this node is still master and serving; run "
		     "cmsadm recover again\n",
		     sig, s);
	if (n > 0) {
		if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
			/* nothing more to do in a handler */
		}
		if (LOG_FD >= 0 && write(LOG_FD, msg, (size_t)n) < 0) {
		}
	}
	_exit(130);
}

/* ------------------------------------------------------------ input */

/* The peer's root password; *rest is stdin when the password came from it
 * (the confirmation is read there next). */
static int read_password(char *pw, size_t len, FILE **rest)
{
	FILE *f;

	*rest = NULL;
	if (!F.password_file) {
		char what[128];
		snprintf(what, sizeof(what), "Root password of the peer (%s)",
			 F.peer_ip);
		if (setupc_prompt_password(what, pw, len) < 0) {
			fprintf(stderr,
				"cmsadm: recover: no terminal for the password "
				"prompt: use --password-file FILE or "
				"--password-file - (stdin)\n");
			return -ENOTTY;
		}
		return 0;
	}
	if (strcmp(F.password_file, "-") == 0) {
		f = stdin;
		*rest = stdin;
	} else if (!(f = fopen(F.password_file, "re"))) {
		fprintf(stderr, "cmsadm: recover: --password-file %s: %s\n",
			F.password_file, strerror(errno));
		return -errno;
	}
	if (!setupc_read_line(f, pw, len) || !*pw) {
		fprintf(stderr,
			"cmsadm: recover: --password-file %s: no first line "
			"(the peer's root password)\n",
			F.password_file);
		if (f != stdin)
			fclose(f);
		return -EINVAL;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/* yes/no at the terminal, else on `rest` (stdin after the password). */
static bool ask_yes(const char *q, FILE *rest)
{
	char a[16] = "";
	FILE *tty = NULL;
	bool yes;

	if (!rest && isatty(STDIN_FILENO))
		tty = fopen("/dev/tty", "r+e");
	if (tty) {
		fprintf(tty, "%s [yes/no]: ", q);
		fflush(tty);
		setupc_read_line(tty, a, sizeof(a));
		fclose(tty);
	} else {
		printf("%s [yes/no]: ", q);
		fflush(stdout);
		if (!setupc_read_line(rest ? rest : stdin, a, sizeof(a)))
			a[0] = '\0';
		printf("\n");
	}
	yes = strcmp(a, "yes") == 0;
	slog("%s [yes/no]: %s", q, yes ? "yes" : "no");
	return yes;
}

/* ------------------------------------------------------------ config */

static void copy_prop(xmlNode *n, const char *name, char *out, size_t len)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	snprintf(out, len, "%s", v ? (const char *)v : "");
	xmlFree(v);
}

static bool is_el(xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static void copy_text(xmlNode *n, char *out, size_t len)
{
	xmlChar *v = xmlNodeGetContent(n);
	const char *s = v ? (const char *)v : "";
	size_t a, b;

	/* trimmed */
	a = strspn(s, " \t\r\n");
	b = strlen(s);
	while (b > a && strchr(" \t\r\n", s[b - 1]))
		b--;
	snprintf(out, len, "%.*s", (int)(b - a), s + a);
	xmlFree(v);
}

static void drbd_disk(xmlNode *k, struct rc_drbd *d)
{
	if (d->nd >= 4)
		return;
	copy_prop(k, "node", d->dnode[d->nd], sizeof(d->dnode[0]));
	copy_text(k, d->dpath[d->nd], sizeof(d->dpath[0]));
	d->nd++;
}

/* The <disk> for node id: the one naming it, else the one without node=. */
static void drbd_disk_for(struct rc_drbd *d, const char *id, char *out,
			  size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < d->nd; i++)
		if (strcmp(d->dnode[i], id) == 0) {
			snprintf(out, len, "%s", d->dpath[i]);
			return;
		}
	for (int i = 0; i < d->nd; i++)
		if (!d->dnode[i][0])
			snprintf(out, len, "%s", d->dpath[i]);
}

/* Reads the master's config into C and the document (for the peer's
 * copy).  0, or 1 after fail(). */
static int read_config(xmlDoc **docp)
{
	xmlDoc *doc = xmlReadFile(F.config, NULL,
				  XML_PARSE_NONET | XML_PARSE_NOERROR |
					  XML_PARSE_NOWARNING);
	xmlNode *root, *n, *k;
	char mode[32], id[64];

	if (!doc)
		return fail("%s: cannot read it as XML", F.config);
	*docp = doc;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_el(root, "cmsd"))
		return fail("%s: no <cmsd> element", F.config);
	copy_prop(root, "mode", mode, sizeof(mode));
	copy_prop(root, "node", C.local_id, sizeof(C.local_id));
	if (strcmp(mode, "node") != 0 || !C.local_id[0])
		return fail("%s: not a node's configuration (mode=\"%s\"); "
			    "recover runs on the surviving master",
			    F.config, mode);
	for (n = root->children; n; n = n->next) {
		if (is_el(n, "cluster")) {
			for (k = n->children; k; k = k->next) {
				if (is_el(k, "key-file"))
					copy_text(k, C.key_file,
						  sizeof(C.key_file));
				else if (is_el(k, "tls")) {
					copy_prop(k, "ca", C.ca, sizeof(C.ca));
					copy_prop(k, "cert", C.cert,
						  sizeof(C.cert));
					copy_prop(k, "key", C.key,
						  sizeof(C.key));
				} else if (is_el(k, "node")) {
					xmlNode *a;
					copy_prop(k, "id", id, sizeof(id));
					if (strcmp(id, C.local_id) == 0) {
						copy_prop(k, "name",
							  C.local_name,
							  sizeof(C.local_name));
						continue;
					}
					if (C.peer_id[0])
						continue; /* one peer */
					snprintf(C.peer_id, sizeof(C.peer_id),
						 "%s", id);
					copy_prop(k, "name", C.peer_name,
						  sizeof(C.peer_name));
					for (a = k->children; a; a = a->next)
						if ((is_el(a, "link") ||
						     is_el(a, "control")) &&
						    C.n_addrs < 4)
							copy_prop(
								a, "address",
								C.peer_addrs
									[C.n_addrs++],
								sizeof(C.peer_addrs
									       [0]));
				}
			}
		} else if (is_el(n, "storage")) {
			char plugin[64], node[64];
			copy_prop(n, "plugin", plugin, sizeof(plugin));
			struct rc_drbd *cur = NULL;
			copy_prop(n, "plugin", plugin, sizeof(plugin));
			if (strcmp(plugin, "storage-drbd") == 0 &&
			    C.n_drbd < RC_MAX_DRBD) {
				cur = &C.drbd[C.n_drbd++];
				copy_prop(n, "id", cur->id, sizeof(cur->id));
			}
			for (k = n->children; k; k = k->next) {
				if (cur && is_el(k, "disk"))
					drbd_disk(k, cur);
				if (strcmp(plugin, "storage-iscsi") == 0 &&
				    is_el(k, "initiator-name")) {
					C.iscsi = true;
					copy_prop(k, "node", node,
						  sizeof(node));
					if (strcmp(node, C.peer_id) == 0 &&
					    node[0])
						copy_text(k, C.initiator,
							  sizeof(C.initiator));
				}
			}
		}
	}
	for (int i = 0; i < C.n_drbd; i++) {
		drbd_disk_for(&C.drbd[i], C.local_id, C.drbd[i].local,
			      sizeof(C.drbd[i].local));
		drbd_disk_for(&C.drbd[i], C.peer_id, C.drbd[i].peer,
			      sizeof(C.drbd[i].peer));
	}
	if (!C.local_name[0])
		snprintf(C.local_name, sizeof(C.local_name), "%s", C.local_id);
	if (!C.peer_name[0])
		snprintf(C.peer_name, sizeof(C.peer_name), "%s", C.peer_id);
	if (!C.peer_id[0])
		return fail("%s: no peer node in <cluster>", F.config);
	if (!C.ca[0] || !C.cert[0] || !C.key[0] || !C.key_file[0])
		return fail("%s: <tls ca= cert= key=/> and <key-file> are "
			    "needed to re-issue the peer's identity",
			    F.config);
	/* The initiator name of the peer must be in the file (node=), or
	 * the SAN would see a new initiator. */
	if (C.iscsi && !C.initiator[0])
		return fail("%s: storage-iscsi names no <initiator-name "
			    "node=\"%s\">: the peer's initiator name must "
			    "be kept across its reinstall (the SAN grants "
			    "access by it); add it and run recover again",
			    F.config, C.peer_id);
	return 0;
}

static bool peer_addr_ok(void)
{
	for (int i = 0; i < C.n_addrs; i++)
		if (strcmp(C.peer_addrs[i], F.peer_ip) == 0)
			return true;
	return false;
}

/* path relative to the config's directory, for PUT; NULL when outside. */
static const char *rel_to_conf(const char *path)
{
	const char *s = strrchr(F.config, '/');
	size_t l = s ? (size_t)(s - F.config) : 0;

	if (l && strncmp(path, F.config, l) == 0 && path[l] == '/' &&
	    setup_relpath_ok(path + l + 1))
		return path + l + 1;
	return NULL;
}

/* The peer's config: this node's with the root's node= set to the peer
 * (the cluster, quorum, storages and group are the pair's). */
static char *peer_config(xmlDoc *doc, int *len)
{
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlChar *out = NULL;
	char *copy;

	xmlSetProp(root, (const xmlChar *)"node", (const xmlChar *)C.peer_id);
	xmlDocDumpMemory(doc, &out, len);
	if (!out)
		return NULL;
	copy = strndup((const char *)out, (size_t)*len);
	xmlFree(out);
	xmlSetProp(root, (const xmlChar *)"node", (const xmlChar *)C.local_id);
	return copy;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n + 1)) &&
	    fread(b, 1, (size_t)n, f) == (size_t)n) {
		b[n] = '\0';
		*len = (size_t)n;
	} else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

/* ------------------------------------------------------------ channel */

/* One request to the peer's agent (setupc_call). */
static int call(const char *line, const void *body, size_t blen, char *rline,
		size_t rllen, char *rbody, size_t rlen)
{
	return setupc_call(&P, line, body, blen, rline, rllen, rbody, rlen,
			   NULL);
}

/* The fingerprint is asked for at the terminal only: stdin may hold the
 * password and the confirmation. */
static bool confirm_fp(const char *q)
{
	return isatty(STDIN_FILENO) && ask_yes(q, NULL);
}

static int peer_open(const char *pw)
{
	static const struct setupc_ui ui = {
		.say = say, .slog = slog, .confirm = confirm_fp};
	char err[1024], who[128];

	/* self-signed setup certificate: the pinned fingerprint is the
	 * check, not a chain */
	CTX = setupc_ctx_new();
	if (!CTX)
		return fail("cannot set up TLS");
	snprintf(who, sizeof(who), "peer %s", F.peer_ip);
	if (setupc_connect(&P, CTX, who, F.peer_ip, F.port, err, sizeof(err)))
		return fail("%s", err);
	if (setupc_verify_auth(&P, who, F.peer_ip, F.fp_pin, P.fp, "AUTH root",
			       pw, &ui, err, sizeof(err)))
		return fail("%s", err);
	return 0;
}

static int put(const char *rel, const char *mode, const void *data, size_t len)
{
	char line[SETUP_MAX_LINE], req[300];
	int rc;

	snprintf(req, sizeof(req), "PUT %s %s", rel, mode);
	rc = call(req, data, len, line, sizeof(line), NULL, 0);
	if (rc)
		return fail("peer %s: writing %s: %s", F.peer_ip, rel,
			    rc < 0 ? "connection broke" : line);
	slog("peer: wrote %s (%zu bytes)", rel, len);
	return 0;
}

/* ------------------------------------------------------------ stages */

static int check_master(void)
{
	char want[320], *body = NULL;
	int r;

	r = ctl_client_call(F.sock, "status", 5000, &body);
	if (r != 0) {
		r = fail("cannot ask this node's cmsd (%s): %s", F.sock,
			 r == 1 && body ? body : strerror(-r));
		free(body);
		return r;
	}
	snprintf(want, sizeof(want), "\nmaster : %s (Online)\n", C.local_name);
	if (!strstr(body, want) &&
	    strncmp(body, want + 1, strlen(want + 1)) != 0) {
		r = fail("this node (%s) is not the master; run recover on "
			 "the surviving master.  status says:\n%s",
			 C.local_name, body);
		free(body);
		return r;
	}
	snprintf(want, sizeof(want), "\nslave  : %s (Online)\n", C.peer_name);
	if (strstr(body, want)) {
		r = fail("the peer %s is online as slave: there is nothing to "
			 "recover",
			 C.peer_name);
		free(body);
		return r;
	}
	free(body);
	return 0;
}

static int check_facts(void)
{
	char line[SETUP_MAX_LINE], body[4096], v[64], comps[2048], mine[2048],
		cpath[1024], host[256];
	int rc;

	rc = call("FACTS", NULL, 0, line, sizeof(line), body, sizeof(body));
	if (rc)
		return fail("peer %s: FACTS: %s", F.peer_ip,
			    rc < 0 ? "connection broke" : line);
	setup_kv_get(body, strlen(body), "version", v, sizeof(v));
	setup_kv_get(body, strlen(body), "components", comps, sizeof(comps));
	setup_kv_get(body, strlen(body), "config", cpath, sizeof(cpath));
	setup_kv_get(body, strlen(body), "hostname", host, sizeof(host));
	setup_kv_get(body, strlen(body), "disk", C.peer_disk,
		     sizeof(C.peer_disk));
	slog("peer %s facts: hostname=%s version=%s components=%s config=%s",
	     F.peer_ip, host, v, comps, cpath);
	if (setup_kv_get(body, strlen(body), "overridden", line, sizeof(line)))
		say("note: the peer reports facts overridden for tests: %s",
		    line);
	if (strcmp(v, CMSD_VERSION) != 0)
		return fail("the peer runs cmsd %s, this node cmsd %s: install "
			    "the same version on the peer",
			    v, CMSD_VERSION);
	/* as the agent's FACTS reports them */
	setup_components(F.plugin_dir, mine, sizeof(mine));
	if (strcmp(comps, mine) != 0)
		return fail("the peer has other components (plugins) than "
			    "this node: the peer has %s; this node has %s",
			    comps, mine);
	if (strcmp(cpath, F.config) != 0)
		return fail("the peer's agent writes %s, this node's "
			    "configuration is %s: the paths in it would not "
			    "fit; start the peer's agent with -c %s",
			    cpath, F.config, F.config);
	say("peer %s: cmsd %s, components %s: as on this node", host, v, comps);
	if (strcmp(host, C.peer_name) != 0)
		say("note: the peer's host name is %s; it rejoins as %s "
		    "(node %s), the name in the configuration",
		    host, C.peer_name, C.peer_id);
	return 0;
}

static int send_identity(xmlDoc *doc)
{
	EVP_PKEY *cakey = NULL, *k = NULL;
	X509 *ca = NULL, *c = NULL;
	char cakeypath[1100], *cakeypem = NULL, *capem = NULL, *ckey = NULL;
	char *pem = NULL, *kpem = NULL, *conf = NULL;
	const char *r_ca, *r_cert, *r_key, *r_ck, *r_cak, *s;
	size_t capem_len = 0, cakey_len = 0, ckey_len = 0;
	int clen = 0, rc = 1;
	FILE *f;

	stage("identity", "[1/4] issuing the peer's certificate from the "
			  "cluster CA kept on this node");
	s = strrchr(C.ca, '/');
	snprintf(cakeypath, sizeof(cakeypath), "%.*s/ca.key",
		 s ? (int)(s - C.ca) : 1, s ? C.ca : ".");
	r_ca = rel_to_conf(C.ca);
	r_cert = rel_to_conf(C.cert);
	r_key = rel_to_conf(C.key);
	r_ck = rel_to_conf(C.key_file);
	r_cak = rel_to_conf(cakeypath);
	if (!r_ca || !r_cert || !r_key || !r_ck || !r_cak) {
		fail("the TLS files and the cluster key must be under %s's "
		     "directory to be written to the peer (%s, %s, %s, %s)",
		     F.config, C.ca, C.cert, C.key, C.key_file);
		goto out;
	}
	capem = slurp(C.ca, &capem_len);
	cakeypem = slurp(cakeypath, &cakey_len);
	ckey = slurp(C.key_file, &ckey_len);
	if (!capem || !cakeypem || !ckey) {
		fail("cannot read %s: %s (the CA key stays on both nodes for "
		     "recovery)",
		     !capem	 ? C.ca
		     : !cakeypem ? cakeypath
				 : C.key_file,
		     strerror(errno));
		goto out;
	}
	if ((f = fopen(C.ca, "re"))) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(cakeypath, "re"))) {
		cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	k = pki_key_new();
	c = ca && cakey && k ? pki_cert_new(k, C.peer_id, 3650, 0, ca, cakey)
			     : NULL;
	pem = c ? pki_cert_pem(c) : NULL;
	kpem = k ? pki_key_pem(k) : NULL;
	if (!pem || !kpem) {
		fail("cannot issue a certificate for %s with %s and %s",
		     C.peer_id, C.ca, cakeypath);
		goto out;
	}
	say("  certificate for node %s (%s) issued", C.peer_id, C.peer_name);

	stage("write", "[2/4] writing the peer's configuration, certificate "
		       "and keys");
	conf = peer_config(doc, &clen);
	if (!conf) {
		fail("cannot write out the peer's configuration");
		goto out;
	}
	if (put(r_ca, "644", capem, capem_len) ||
	    put(r_cert, "644", pem, strlen(pem)) ||
	    put(r_key, "600", kpem, strlen(kpem)) ||
	    put(r_ck, "600", ckey, ckey_len) ||
	    put(r_cak, "600", cakeypem, cakey_len) ||
	    put("@config", "644", conf, (size_t)clen))
		goto out;
	say("  %s: configuration written as %s (node %s)", F.peer_ip, F.config,
	    C.peer_id);
	if (C.initiator[0]) {
		char line[SETUP_MAX_LINE], req[300];
		int r;
		snprintf(req, sizeof(req), "INITIATOR %s", C.initiator);
		r = call(req, NULL, 0, line, sizeof(line), NULL, 0);
		if (r) {
			fail("peer %s: writing its iSCSI initiator name: %s",
			     F.peer_ip, r < 0 ? "connection broke" : line);
			goto out;
		}
		say("  iSCSI initiator name %s kept for %s "
		    "(/etc/iscsi/initiatorname.iscsi)",
		    C.initiator, C.peer_name);
	}
	rc = 0;
out:
	if (cakeypem)
		explicit_bzero(cakeypem, cakey_len);
	if (ckey)
		explicit_bzero(ckey, ckey_len);
	if (kpem)
		explicit_bzero(kpem, strlen(kpem));
	free(cakeypem);
	free(ckey);
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

/* The GPT name of the partition at path: the kernel's (PARTNAME, when its
 * own parser read the table), else what blkid reads in the table (a
 * partition that partx added to a disk in use has no name in the
 * kernel).  "" when it has none or is no partition. */
static void part_name(const char *path, char *out, size_t len)
{
	char real[PATH_MAX], ev[PATH_MAX + 64], line[300];
	const char *b;
	int pfd[2];
	pid_t pid;
	FILE *f;

	out[0] = '\0';
	if (!realpath(path, real))
		return;
	b = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	snprintf(ev, sizeof(ev), "/sys/class/block/%s/uevent", b);
	if ((f = fopen(ev, "re"))) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "PARTNAME=", 9) == 0) {
				line[strcspn(line, "\n")] = '\0';
				/* longer than out: not cmsd-db anyway */
				if (snprintf(out, len, "%s", line + 9) >=
				    (int)len)
					out[0] = '\0';
			}
		fclose(f);
	}
	if (out[0] || pipe2(pfd, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl("/usr/sbin/blkid", "blkid", "-p", "-o", "value", "-s",
		      "PART_ENTRY_NAME", real, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid > 0 && (f = fdopen(pfd[0], "re"))) {
		if (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (snprintf(out, len, "%s", line) >= (int)len)
				out[0] = '\0';
		}
		fclose(f);
	} else {
		close(pfd[0]);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * A reinstalled peer has no database partition: for each storage-drbd
 * whose disk on this node setup made (a partition named cmsd-db), the
 * peer's agent makes one of this node's size (PARTITION, reused when the
 * peer still has it) on the peer's system disk or --db-on, and the peer's
 * config names the device it reported (its own <disk node="PEER">: the
 * names may differ between the nodes).  Other DRBD disks (the local sync
 * partition r1: the same disk on both by rule) stay as configured.
 */
static int make_peer_partitions(xmlDoc *doc)
{
	char disk[300];
	int n = 0;

	for (int i = 0; i < C.n_drbd; i++) {
		struct rc_drbd *d = &C.drbd[i];
		char name[64];
		uint64_t bytes = 0;
		int fd;

		if (!d->local[0])
			continue;
		part_name(d->local, name, sizeof(name));
		if (strcmp(name, RC_DB_LABEL) != 0)
			continue;
		fd = open(d->local, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return fail("%s: the size of this node's database "
				    "partition %s: %s",
				    d->id, d->local, strerror(e));
		}
		close(fd);
		d->made = true;
		d->mib = (bytes + (1u << 20) - 1) >> 20;
		n++;
	}
	if (!n)
		return 0;
	if (n > 1)
		return fail("%d storage-drbd instances have a disk named %s on "
			    "this node: only the database (r0) has; the peer "
			    "would get one partition for both",
			    n, RC_DB_LABEL);
	stage("partition", "creating the peer's DRBD database partition");
	if (F.db_on)
		snprintf(disk, sizeof(disk), "%s", F.db_on);
	else if (C.peer_disk[0] && strcmp(C.peer_disk, "unknown") != 0 &&
		 strspn(C.peer_disk, "abcdefghijklmnopqrstuvwxyz0123456789") ==
			 strlen(C.peer_disk))
		snprintf(disk, sizeof(disk), "/dev/%s", C.peer_disk);
	else
		return fail("the peer reports no system disk (disk=%s in its "
			    "facts): name the disk for its database partition "
			    "with --db-on DISK",
			    C.peer_disk[0] ? C.peer_disk : "(none)");
	for (int i = 0; i < C.n_drbd; i++) {
		struct rc_drbd *d = &C.drbd[i];
		char line[SETUP_MAX_LINE], req[400], body[1024];
		char st[16] = "", part[256] = "", mib[24] = "";
		int r;

		if (!d->made)
			continue;
		snprintf(req, sizeof(req), "PARTITION %s %llu %s", disk,
			 (unsigned long long)d->mib, RC_DB_LABEL);
		r = call(req, NULL, 0, line, sizeof(line), body, sizeof(body));
		if (r)
			return fail("peer %s: the database partition on %s: %s",
				    F.peer_ip, disk,
				    r < 0 ? "connection broke" : line);
		if (!setup_kv_get(body, strlen(body), "device", d->peer_new,
				  sizeof(d->peer_new)) ||
		    d->peer_new[0] != '/')
			return fail("peer %s: PARTITION on %s named no device",
				    F.peer_ip, disk);
		setup_kv_get(body, strlen(body), "state", st, sizeof(st));
		setup_kv_get(body, strlen(body), "partition", part,
			     sizeof(part));
		setup_kv_get(body, strlen(body), "size_mib", mib, sizeof(mib));
		say("  %s: database partition %s (%s%son %s, %s MiB as %s "
		    "here, "
		    "%s)",
		    C.peer_name, d->peer_new,
		    strcmp(part, d->peer_new) ? part : "",
		    strcmp(part, d->peer_new) ? " " : "", disk, mib, d->local,
		    strcmp(st, "reused") == 0 ? "already there, reused"
					      : "created");
		if (setup_disk_set(doc, d->id, C.peer_id, d->peer_new) < 0)
			return fail("%s: no storage-drbd \"%s\" to name the "
				    "peer's disk in",
				    F.config, d->id);
		if (d->peer[0] && strcmp(d->peer, d->peer_new) != 0)
			say("  note: this node's configuration names %s for "
			    "%s's %s; the peer's names %s (each node's DRBD "
			    "uses its own disk; this node's file is not "
			    "changed)",
			    d->peer, C.peer_id, d->id, d->peer_new);
	}
	return 0;
}

static int format_and_commit(void)
{
	char line[SETUP_MAX_LINE], req[1100];
	int r;

	stage("format", "[3/4] formatting the peer's DRBD partition");
	if (!C.n_drbd)
		say("  no storage-drbd in the configuration: nothing to format "
		    "(shared storage stays as it is)");
	for (int i = 0; i < C.n_drbd; i++) {
		/* the peer's own disk: the partition just made for it, else
		 * the one the configuration names for it */
		const char *dev =
			C.drbd[i].made ? C.drbd[i].peer_new : C.drbd[i].peer;
		if (!dev[0]) {
			say("  %s: no <disk> for %s: nothing to format",
			    C.drbd[i].id, C.peer_id);
			continue;
		}
		snprintf(req, sizeof(req), "WIPE %s", dev);
		r = call(req, NULL, 0, line, sizeof(line), NULL, 0);
		if (r)
			return fail("peer %s: formatting %s: %s", F.peer_ip,
				    dev, r < 0 ? "connection broke" : line);
		say("  %s: DRBD metadata and file-system signatures wiped; "
		    "new metadata at start, then a full resync",
		    dev);
	}
	stage("commit", "[4/4] checking the configuration and restarting the "
			"peer's cmsd");
	r = call("CHECK", NULL, 0, line, sizeof(line), NULL, 0);
	if (r)
		return fail("peer %s: the configuration is refused: %s",
			    F.peer_ip, r < 0 ? "connection broke" : line);
	r = call("COMMIT", NULL, 0, line, sizeof(line), NULL, 0);
	if (r)
		return fail("peer %s: commit: %s", F.peer_ip,
			    r < 0 ? "connection broke" : line);
	say("  %s: cmsd restarted as %s", C.peer_name, C.peer_id);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This node's "admin" line says the peer is alive as slave and the
 * control channel to it is up. */
static bool peer_channel_up(void)
{
	char *body = NULL;
	bool up;

	up = ctl_client_call(F.sock, "admin", 2000, &body) == 0 && body &&
	     strstr(body, " peer_alive=1 ") &&
	     strstr(body, " peer_role=slave ") &&
	     strstr(body, " peer_channel=1");
	free(body);
	return up;
}

static int wait_peer(void)
{
	char want[320], id[64], *body = NULL;
	long long t0 = now_ms(), moved;
	int last = -1, pct = 0, n = 0, r;
	bool slave = false;

	STAGE = "wait";
	say("  waiting for %s to be slave (up to %ld s)", C.peer_name,
	    F.wait_s);
	snprintf(want, sizeof(want), "\nslave  : %s (Online)\n", C.peer_name);
	for (;;) {
		r = ctl_client_call(F.sock, "status", 2000, &body);
		/* Slave by heartbeat, and the TLS control channel up: only
		 * then can the pair hand over (a switchover needs it). */
		if (r == 0 && strstr(body, want) && peer_channel_up()) {
			slave = true;
			break;
		}
		if (now_ms() - t0 > F.wait_s * 1000)
			break;
		free(body);
		body = NULL;
		usleep(200 * 1000);
	}
	if (!slave) {
		r = fail("%s did not rejoin as slave within %ld s; status "
			 "says:\n%s",
			 C.peer_name, F.wait_s,
			 r == 0 && body ? body : "(no answer)");
		free(body);
		return r;
	}
	say("  %s is slave", C.peer_name);
	if (!C.n_drbd) {
		free(body);
		return 0;
	}
	/* The full resync: as long as it takes while the percent moves. */
	STAGE = "resync";
	moved = now_ms();
	for (;;) {
		if (r == 0 && setup_status_in_sync(body, &n) && n > 0) {
			if (last >= 0 && last < 100)
				say("  resync of %s: 100%%", id);
			say("  every replica UpToDate/UpToDate");
			free(body);
			return 0;
		}
		if (r == 0 &&
		    setup_status_syncing(body, id, sizeof(id), &pct) &&
		    pct != last) {
			say("  resync of %s: %d%%", id, pct);
			last = pct;
			moved = now_ms();
		}
		if (now_ms() - moved > F.sync_wait_s * 1000) {
			r = fail("the resync made no progress for %ld s; "
				 "status says:\n%s",
				 F.sync_wait_s,
				 r == 0 && body ? body : "(no answer)");
			free(body);
			return r;
		}
		free(body);
		body = NULL;
		usleep(500 * 1000);
		r = ctl_client_call(F.sock, "status", 2000, &body);
	}
}

/* ------------------------------------------------------------ command */

static long num(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < min || n > max) {
		fprintf(stderr,
			"cmsadm: recover: %s: \"%s\" is not a number from %ld "
			"to %ld\n",
			opt, v, min, max);
		exit(2);
	}
	return n;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cmsadm recover --peer ADDR [--password-file FILE|-] "
		"[--fingerprint SHA256:..]\n"
		"         [--yes] [-c CONFIG] [--plugin-dir DIR] [--setup-port "
		"PORT]\n"
		"         [--log-file FILE] [--wait SECONDS] [--sync-wait "
		"SECONDS]\n"
		"         [--db-on DISK]\n"
		"Run on the surviving master, with `cmsd --unconfigured` on "
		"the replaced peer.\n"
		"The peer's root password is asked without echo, or read "
		"from --password-file\n"
		"(its first line; - is stdin); never give it as an argument.  "
		"See cmsadm(8).\n");
}

int recover_cmd(int argc, char **argv, const char *sock)
{
	enum {
		O_PEER = 256,
		O_PWF,
		O_FP,
		O_YES,
		O_PLUG,
		O_PORT,
		O_LOG,
		O_WAIT,
		O_SWAIT,
		O_DBON,
	};
	static const struct option opts[] = {
		{"peer", required_argument, NULL, O_PEER},
		{"password-file", required_argument, NULL, O_PWF},
		{"fingerprint", required_argument, NULL, O_FP},
		{"yes", no_argument, NULL, O_YES},
		{"config", required_argument, NULL, 'c'},
		{"plugin-dir", required_argument, NULL, O_PLUG},
		{"setup-port", required_argument, NULL, O_PORT},
		{"log-file", required_argument, NULL, O_LOG},
		{"wait", required_argument, NULL, O_WAIT},
		{"sync-wait", required_argument, NULL, O_SWAIT},
		{"db-on", required_argument, NULL, O_DBON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char pw[512] = "", q[200];
	struct sigaction sa = {.sa_handler = on_signal};
	struct in_addr a4;
	xmlDoc *doc = NULL;
	FILE *rest = NULL;
	int c, rc = 1;

	F = (struct rc_form){
		.config = CONF_DEFAULT_PATH,
		.log_file = RC_LOG_DEFAULT,
		.sock = sock,
		.port = SETUP_PORT,
		.wait_s = 60,
		.sync_wait_s = 120,
	};
	signal(SIGPIPE, SIG_IGN);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case O_PEER:
			F.peer_ip = optarg;
			break;
		case O_PWF:
			F.password_file = optarg;
			break;
		case O_FP:
			F.fp_pin = optarg;
			break;
		case O_YES:
			F.yes = true;
			break;
		case 'c':
			F.config = optarg;
			break;
		case O_PLUG:
			F.plugin_dir = optarg;
			break;
		case O_PORT:
			F.port =
				(unsigned)num("--setup-port", optarg, 1, 65535);
			break;
		case O_LOG:
			F.log_file = optarg;
			break;
		case O_WAIT:
			F.wait_s = num("--wait", optarg, 1, 3600);
			break;
		case O_SWAIT:
			F.sync_wait_s = num("--sync-wait", optarg, 1, 86400);
			break;
		case O_DBON:
			F.db_on = optarg;
			if (strncmp(optarg, "/dev/", 5) != 0 ||
			    strlen(optarg) > 200 || strchr(optarg, ' ')) {
				fprintf(stderr,
					"cmsadm: recover: --db-on %s: a whole "
					"disk under /dev is required\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"cmsadm: recover: unexpected argument \"%s\" "
			"(passwords are never arguments: see "
			"--password-file)\n",
			argv[optind]);
		return 2;
	}
	if (!F.peer_ip || inet_pton(AF_INET, F.peer_ip, &a4) != 1) {
		fprintf(stderr, "cmsadm: recover: --peer: the peer's IPv4 "
				"address is required\n");
		return 2;
	}
	LOG = fopen(F.log_file, "ae");
	if (!LOG)
		fprintf(stderr,
			"cmsadm: recover: warning: cannot open %s: %s\n",
			F.log_file, strerror(errno));
	else
		LOG_FD = fileno(LOG);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	slog("recover started: peer %s, config %s", F.peer_ip, F.config);

	stage("config", "reading this node's configuration");
	if (read_config(&doc))
		goto out;
	if (!peer_addr_ok()) {
		char list[300] = "";
		for (int i = 0; i < C.n_addrs; i++)
			snprintf(list + strlen(list),
				 sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", C.peer_addrs[i]);
		fail("--peer %s is not an address of the peer node %s (%s) "
		     "in %s: it has %s",
		     F.peer_ip, C.peer_id, C.peer_name, F.config,
		     list[0] ? list : "none");
		goto out;
	}
	say("this node: %s (%s); the peer to recover: %s (%s) at %s",
	    C.local_name, C.local_id, C.peer_name, C.peer_id, F.peer_ip);
	if (check_master())
		goto out;
	if (read_password(pw, sizeof(pw), &rest))
		goto out;

	STAGE = "confirm";
	snprintf(q, sizeof(q),
		 "Please confirm to recovery %s and format peer's /vms "
		 "partition",
		 F.peer_ip);
	if (!F.yes && !ask_yes(q, rest)) {
		fail("not confirmed; nothing was changed");
		goto out;
	}

	stage("connect", "connecting to the peer's setup agent");
	if (peer_open(pw))
		goto out;
	explicit_bzero(pw, sizeof(pw));
	if (check_facts())
		goto out;
	if (make_peer_partitions(doc) || send_identity(doc) ||
	    format_and_commit() || wait_peer())
		goto out;
	{
		char *body = NULL;
		STAGE = "done";
		if (ctl_client_call(F.sock, "status", 2000, &body) == 0)
			say("%s", body);
		free(body);
	}
	say(RC_SUCCESS);
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	setupc_close(&P);
	SSL_CTX_free(CTX);
	xmlFreeDoc(doc);
	if (LOG) {
		slog("recover %s", rc ? "failed" : "done");
		fclose(LOG);
	}
	return rc;
}
