/*
 * storage-iscsi: the shared template LUN over iSCSI, fenced with SCSI-3
 * persistent reservations.
 *
 * One libiscsi session per instance, driven by libiscsi's asynchronous API
 * on the agent's loop: an fd watch follows iscsi_get_fd/iscsi_which_events
 * and calls iscsi_service, a 1 s timer lets libiscsi expire commands.  Each
 * op is a small step machine (enum iscsi_step): one SCSI command in flight,
 * its completion only recorded in the libiscsi callback and acted on after
 * iscsi_service has returned (the session may have to be destroyed).
 *
 * Start logs in as this node's initiator name, reads the capacity and
 * REGISTERs the node's key; promote registers it again (the peer's promote
 * removed it), RESERVEs (type from <reservation>) or PREEMPTs the holder's
 * key, then reads the keys and PREEMPTs every other one: that is the fence,
 * after a takeover and after a clean handover alike (the old master
 * RELEASEd but stays registered), the old master's registrations go and its
 * writes get RESERVATION CONFLICT; demote RELEASEs; stop unregisters.  The
 * monitor (TEST UNIT READY, READ RESERVATION) says FAILED when the target is
 * gone or when this master's reservation went to another key.  libiscsi's own
 * reconnect is off: some targets (tgt) tie a registration to the session, so
 * the plugin logs in again itself, with the key's top bit flipped, and PREEMPTs
 * the dead session's key.  Targets that refuse APTPL or PREEMPT AND ABORT get
 * the plain command, logged once.
 *
 * The block device comes from the kernel initiator (iscsiadm, through
 * host->spawn), whose session is registered with the same key via
 * sg_persist so that it may write under a registrants-only reservation;
 * <block-device>none</block-device> leaves the mount out (tests).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi_cmd.h"
#include "plugin_util.h"
#include "pu_mount.h"

/* <fstype>: enum pu_fstype.  The mount layer (mount(2) in a worker
 * thread, e2fsck -p first, umount(2) naming the holders) is storage-fc's,
 * shared through plugins/common/pu_mount.c. */

/* SPC-3 persistent reservation types, in the order of iscsi_reservations. */
enum iscsi_pr_type {
	ISCSI_PR_WE_RO, /* write exclusive, registrants only (default) */
	ISCSI_PR_EA,
	ISCSI_PR_WE,
	ISCSI_PR_EA_RO,
};

#define ISCSI_MAX_INITIATORS 8
#define ISCSI_KEY_FLIP	     (1ull << 63)
#define ISCSI_TICK_MS	     1000
#define ISCSI_DEV_WAIT_MS    200
#define ISCSI_DEV_WAIT_TRIES 50
#define ISCSI_KEYS_MAX	     32 /* keys kept from one READ KEYS */
#define ISCSI_FENCE_ROUNDS   16

enum iscsi_kind {
	IOP_NONE,
	IOP_START,
	IOP_STOP,
	IOP_MONITOR,
	IOP_PROMOTE,
	IOP_DEMOTE,
};

/* Steps of the ops; each names the command whose result comes next. */
enum iscsi_step {
	ST_IDLE,
	ST_CONNECT,   /* login */
	ST_TUR0,      /* unit attentions of a new session */
	ST_CAP,	      /* READ CAPACITY */
	ST_REG,	      /* REGISTER AND IGNORE EXISTING KEY */
	ST_READRES,   /* READ RESERVATION after login / before promote */
	ST_STALE,     /* PREEMPT of the previous session's key */
	ST_TUR,	      /* monitor */
	ST_RESERVE,   /* promote, nobody holds it */
	ST_PREEMPT,   /* promote, another key holds it */
	ST_VERIFY,    /* READ RESERVATION after either */
	ST_KEYS,      /* READ KEYS once the reservation is ours */
	ST_FENCE,     /* PREEMPT of another key that is still registered */
	ST_KDISCOVER, /* iscsiadm discovery */
	ST_KLOGIN,    /* iscsiadm login */
	ST_KWAIT,     /* the block device to appear */
	ST_KREGISTER, /* sg_persist on the kernel's session */
	ST_KREREG,    /* the same after a reconnect of a mounted master */
	ST_MPREP,     /* the mount point checked (worker thread) */
	ST_FSCK,      /* e2fsck -p */
	ST_MOUNT,     /* mount(2) (worker thread) */
	ST_UMOUNT,
	ST_RELEASE,
	ST_UNREG,
};

/* The initiator name of one node (node NULL: of every node without one of
 * its own).  One config file serves both nodes, and each node logs in with
 * its own name, kept across a reinstall. */
struct iscsi_initiator {
	char *node;
	char *name;
};

struct iscsi {
	struct pu_base base; /* first: the pu_unimpl_* ops use it */
	char portal[64];     /* address literal */
	uint16_t port;	     /* 3260 when not given */
	char *iqn;
	unsigned lun;
	struct iscsi_initiator initiators[ISCSI_MAX_INITIATORS];
	size_t n_initiators;
	char *mount;
	enum pu_fstype fstype;
	enum iscsi_pr_type reservation;
	uint64_t key; /* 0: derived from the node at run time */
	bool kernel;  /* <block-device>iscsiadm</block-device> */

	/* Run time. */
	const char *initiator; /* this node's, one of initiators[] */
	uint64_t key_base;     /* key, or derived from the node id */
	unsigned gen;	       /* sessions so far (the key alternates) */
	uint64_t stale;	       /* the previous session's key to remove */
	struct iscsi_context *ctx;
	struct cmsd_watch *watch;
	int watch_fd;
	struct cmsd_timer *tick, *wait;
	bool started, up, primary, mounted, dying;
	dev_t mounted_dev; /* the LUN as mounted here, or 0 */
	/* mount(2) and umount(2) may block: in the worker, in order. */
	struct pu_worker worker;
	unsigned op_gen; /* raised by each op: a job of an older one is late */
	int jobs_out;	 /* jobs not back yet */
	int job_rc;	 /* the last job's (or e2fsck's) result */
	enum pu_found job_found;
	char job_dev[PATH_MAX], job_mp[PATH_MAX];
	dev_t job_rdev;
	bool aptpl, abort_ok; /* not refused by the target (yet) */
	/* What the last READ RESERVATION saw. */
	bool reserved;
	uint64_t holder;
	int holder_type;
	uint64_t blocks;
	uint32_t block_size;
	/* What the last READ KEYS saw. */
	uint64_t keys[ISCSI_KEYS_MAX];
	int n_keys, total_keys;
	char device[PATH_MAX]; /* the kernel initiator's by-path link */

	/* The op in flight and the last command's result. */
	struct cmsd_op *op;
	enum iscsi_kind kind;
	enum iscsi_step step;
	bool in_begin, sync_done, waiting, advance, ua_retried, released;
	int sync_rc, tur_left, take_tries, dev_tries, fence_rounds;
	uint64_t fencing; /* the key of the PREEMPT in flight (ST_FENCE) */
	int t_status, t_sense, t_ascq, t_parse;
	bool t_is_task, t_parsed, child_ok;
	struct scsi_task *task; /* the op's command in flight */
	struct cmsd_child *child;
	bool child_orphan; /* killed by cancel: ignore its end */
	char child_what[64];
};

static const char *const iscsi_keys[] = {
	"portal", "iqn",	 "lun", "initiator-name", "mount",
	"fstype", "reservation", "key", "block-device",	  NULL};
static const char *const iscsi_blockdevs[] = {"iscsiadm", "none", NULL};
static const char *const iscsi_reservations[] = {
	"write-exclusive-registrants-only", "exclusive-access",
	"write-exclusive", "exclusive-access-registrants-only", NULL};

static int iscsi_read_iqn(const struct cmsd_host *h, const struct cmsd_conf *c,
			  const char *key, const char **out)
{
	int rc = h->conf->get_string(c, key, NULL, out);

	if (rc == 1)
		return h->conf->require(c, key) < 0;
	if (rc < 0)
		return 1;
	if (pu_is_iqn(*out))
		return 0;
	h->conf->error(c, key,
		       "\"%s\" is not an iSCSI qualified name "
		       "(iqn.YYYY-MM.reversed.domain[:name])",
		       *out);
	return 1;
}

/* <initiator-name [node="ID"]>: like the disks of storage-drbd, at most one
 * without node=, one per node otherwise.  Fills s->initiators with pointers
 * into the configuration (init copies them). */
static int iscsi_read_initiators(const struct cmsd_host *h,
				 const struct cmsd_conf *c, struct iscsi *s)
{
	const struct cmsd_conf_ops *cf = h->conf;
	size_t n = cf->count(c, "initiator-name"), generic = 0;
	int bad = 0;

	if (n == 0)
		return cf->require(c, "initiator-name") < 0;
	if (n > ISCSI_MAX_INITIATORS)
		bad += cf->error(c, "initiator-name",
				 "at most %d <initiator-name> elements",
				 ISCSI_MAX_INITIATORS) < 0;
	s->n_initiators = 0;
	for (size_t i = 0; i < n && i < ISCSI_MAX_INITIATORS; i++) {
		const struct cmsd_conf *e = cf->child(c, "initiator-name", i);
		const char *name = cf->text(e);
		const char *node = cf->attr(e, "node");

		if (!pu_is_iqn(name))
			bad += cf->error(e, NULL,
					 "\"%s\" is not an iSCSI qualified "
					 "name (iqn.YYYY-MM.reversed.domain"
					 "[:name])",
					 name) < 0;
		if (!node)
			generic++;
		else if (!*node)
			bad += cf->error(e, NULL, "node=\"\" names no node") <
			       0;
		for (size_t j = 0; node && j < i; j++) {
			const char *o = cf->attr(
				cf->child(c, "initiator-name", j), "node");
			if (o && strcmp(o, node) == 0)
				bad += cf->error(e, NULL,
						 "a second <initiator-name> "
						 "for node \"%s\"",
						 node) < 0;
		}
		s->initiators[s->n_initiators].node = (char *)node;
		s->initiators[s->n_initiators].name = (char *)name;
		s->n_initiators++;
	}
	if (generic > 1)
		bad += cf->error(c, "initiator-name",
				 "at most one <initiator-name> without "
				 "node=\"ID\"") < 0;
	return bad;
}

static int iscsi_read(const struct cmsd_host *h, const struct cmsd_conf *c,
		      struct iscsi *s, const char **iqn, const char **mount)
{
	const struct cmsd_conf_ops *cf = h->conf;
	const char *portal = NULL;
	int64_t lun = 0;
	int e;
	int bad = cf->check_keys(c, iscsi_keys);

	bad += pu_addr_port(h, c, "portal", true, 3260);
	if (cf->get_string(c, "portal", NULL, &portal) == 0 &&
	    pu_split_addr_port(portal, s->portal, sizeof(s->portal), &s->port,
			       3260) < 0)
		s->port = 0; /* already reported by pu_addr_port */
	bad += iscsi_read_iqn(h, c, "iqn", iqn);
	bad += iscsi_read_initiators(h, c, s);
	bad += cf->get_int(c, "lun", 0, 0, 16383, &lun) < 0;
	s->lun = (unsigned)lun;
	/* No default: a shared LUN mounted over the wrong directory would hide
	 * what is there. */
	bad += pu_abs_path(h, c, "mount", true, mount);
	bad += cf->get_enum(c, "fstype", pu_fstypes, PU_FS_EXT4, &e) < 0;
	s->fstype = (enum pu_fstype)e;
	bad += cf->get_enum(c, "reservation", iscsi_reservations,
			    ISCSI_PR_WE_RO, &e) < 0;
	s->reservation = (enum iscsi_pr_type)e;
	bad += pu_pr_key(h, c, &s->key);
	bad += cf->get_enum(c, "block-device", iscsi_blockdevs, 0, &e) < 0;
	s->kernel = e == 0;
	return bad;
}

static int iscsi_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	struct iscsi s;
	const char *iqn = NULL, *mount = NULL;

	memset(&s, 0, sizeof(s));
	return iscsi_read(h, c, &s, &iqn, &mount) ? -EINVAL : 0;
}

static void iscsi_tick_cb(void *arg);
static void iscsi_wait_cb(void *arg);

/* A node's key when none is configured: FNV-1a of the node id, top bit
 * clear (the top bit alternates between sessions), never zero. */
static uint64_t iscsi_node_key(const char *id)
{
	uint64_t k = 0xcbf29ce484222325ull;

	for (const char *p = id ? id : ""; *p; p++)
		k = (k ^ (unsigned char)*p) * 0x100000001b3ull;
	k &= ~(1ull << 63);
	return k ? k : 1;
}

static void iscsi_job_drop(struct pu_job *j);

static void iscsi_destroy(void *inst)
{
	struct iscsi *s = inst;

	if (!s)
		return;
	/* Waits for a mount(2) or umount(2) still in the kernel: the thread
	 * must not outlive the plugin's code. */
	pu_worker_destroy(&s->worker, iscsi_job_drop);
	if (s->ctx) {
		s->dying = true;
		iscsi_destroy_context(s->ctx);
	}
	if (s->watch)
		s->base.host->watch_free(s->watch);
	if (s->tick)
		s->base.host->timer_free(s->tick);
	if (s->wait)
		s->base.host->timer_free(s->wait);
	for (size_t i = 0; i < s->n_initiators; i++) {
		free(s->initiators[i].node);
		free(s->initiators[i].name);
	}
	free(s->iqn);
	free(s->mount);
	free(s);
}

static int iscsi_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		      void **inst)
{
	struct iscsi *s = calloc(1, sizeof(*s));
	const char *iqn = NULL, *mount = NULL;
	bool nomem = false;

	if (!s)
		return -ENOMEM;
	s->base.host = h;
	s->base.issue = "issue 6";
	pu_worker_init(&s->worker, h);
	if (iscsi_read(h, c, s, &iqn, &mount)) {
		s->n_initiators = 0; /* they point into the configuration */
		iscsi_destroy(s);
		return -EINVAL;
	}
	/* The configuration tree may be freed on reload while the instance
	 * lives on: own the strings. */
	for (size_t i = 0; i < s->n_initiators; i++) {
		struct iscsi_initiator *k = &s->initiators[i];
		const char *node = k->node;
		k->node = node ? strdup(node) : NULL;
		k->name = strdup(k->name);
		nomem = nomem || !k->name || (node && !k->node);
	}
	s->iqn = strdup(iqn);
	s->mount = strdup(mount);
	if (nomem || !s->iqn || !s->mount) {
		iscsi_destroy(s);
		return -ENOMEM;
	}
	/* This node's initiator name: its own element, else the generic one. */
	for (size_t i = 0; i < s->n_initiators; i++)
		if (s->initiators[i].node && h->node_id &&
		    strcmp(s->initiators[i].node, h->node_id) == 0)
			s->initiator = s->initiators[i].name;
	for (size_t i = 0; !s->initiator && i < s->n_initiators; i++)
		if (!s->initiators[i].node)
			s->initiator = s->initiators[i].name;
	if (!s->initiator) {
		h->log(h, CMSD_LOG_ERR,
		       "no <initiator-name> for node \"%s\" and none without "
		       "node=",
		       h->node_id ? h->node_id : "");
		iscsi_destroy(s);
		return -EINVAL;
	}
	s->key_base = s->key ? s->key : iscsi_node_key(h->node_id);
	s->aptpl = true;
	s->abort_ok = true;
	s->watch_fd = -1;
	iscsi_cmd_device(s->device, sizeof(s->device), s->portal, s->port,
			 s->iqn, s->lun);
	s->tick = h->timer_new(h, iscsi_tick_cb, s);
	s->wait = h->timer_new(h, iscsi_wait_cb, s);
	if (!s->tick || !s->wait) {
		iscsi_destroy(s);
		return -ENOMEM;
	}
	h->timer_arm(s->tick, ISCSI_TICK_MS);
	*inst = s;
	return 0;
}

/* ---- the runtime: one libiscsi session on the agent's loop ---- */

/* SPC-3 type codes of enum iscsi_pr_type. */
static const int iscsi_pr_codes[] = {
	SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
	SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS,
	SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE,
	SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
};

static const char *iscsi_status_name(int st)
{
	switch (st) {
	case SCSI_STATUS_GOOD:
		return "GOOD";
	case SCSI_STATUS_CHECK_CONDITION:
		return "CHECK CONDITION";
	case SCSI_STATUS_BUSY:
		return "BUSY";
	case SCSI_STATUS_RESERVATION_CONFLICT:
		return "RESERVATION CONFLICT";
	case SCSI_STATUS_CANCELLED:
		return "cancelled";
	case SCSI_STATUS_TIMEOUT:
		return "timed out";
	default:
		return "session error";
	}
}

static const char *iscsi_ua_name(int ascq, char *buf, size_t len)
{
	const char *n = ascq == 0x2a03	 ? "RESERVATIONS PREEMPTED"
			: ascq == 0x2a04 ? "RESERVATIONS RELEASED"
			: ascq == 0x2a05 ? "REGISTRATIONS PREEMPTED"
					 : scsi_sense_ascq_str(ascq);

	if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "ASC/ASCQ 0x%04x", (unsigned)ascq);
	return buf;
}

/* The key of the current session.  Sessions alternate between the node's
 * key and the key with its top bit flipped: a target that ties a
 * registration to the session (tgt) keeps the dead session's registration,
 * and the new session can only remove it by PREEMPT with a key of its own. */
static uint64_t iscsi_cur_key(const struct iscsi *s)
{
	return (s->gen & 1) ? s->key_base : s->key_base ^ ISCSI_KEY_FLIP;
}

static const char *iscsi_holder_text(const struct iscsi *s, char *buf,
				     size_t len)
{
	if (!s->reserved)
		snprintf(buf, len, "none");
	else if (s->holder == iscsi_cur_key(s))
		snprintf(buf, len, "0x%016llx (this node)",
			 (unsigned long long)s->holder);
	else if ((s->holder ^ ISCSI_KEY_FLIP) == iscsi_cur_key(s))
		snprintf(buf, len, "0x%016llx (this node, old session)",
			 (unsigned long long)s->holder);
	else
		snprintf(buf, len, "0x%016llx (another node)",
			 (unsigned long long)s->holder);
	return buf;
}

static void iscsi_pump(struct iscsi *s);
static void iscsi_advance(struct iscsi *s);

/* Completion of every SCSI task and of the login: only records, the step
 * machine runs after iscsi_service() has returned (see iscsi_pump). */
static void iscsi_task_cb(struct iscsi_context *ctx, int status, void *data,
			  void *priv)
{
	struct iscsi *s = priv;
	struct scsi_task *t = data;

	(void)ctx;
	if (s->dying)
		return;
	/* A command of a cancelled op: its result goes nowhere. */
	if (s->t_is_task && t != s->task) {
		if (t)
			scsi_free_scsi_task(t);
		return;
	}
	s->task = NULL;
	s->t_status = status;
	s->t_sense = 0;
	s->t_ascq = 0;
	if (s->t_is_task && t) {
		if (status == SCSI_STATUS_CHECK_CONDITION) {
			s->t_sense = t->sense.key;
			s->t_ascq = t->sense.ascq;
		} else if (status == SCSI_STATUS_GOOD && s->t_parse == 1) {
			struct scsi_persistent_reserve_in_read_reservation *rr =
				scsi_datain_unmarshall(t);
			s->t_parsed = rr != NULL;
			if (rr) {
				s->reserved = rr->reserved;
				s->holder =
					rr->reserved ? rr->reservation_key : 0;
				s->holder_type = rr->reserved ? rr->pr_type : 0;
			}
		} else if (status == SCSI_STATUS_GOOD && s->t_parse == 3) {
			struct scsi_persistent_reserve_in_read_keys *rk =
				scsi_datain_unmarshall(t);
			s->t_parsed = rk != NULL;
			if (rk) {
				s->total_keys = rk->num_keys;
				s->n_keys = 0;
				for (int i = 0;
				     i < rk->num_keys && i < ISCSI_KEYS_MAX;
				     i++)
					s->keys[s->n_keys++] = rk->keys[i];
			}
		} else if (status == SCSI_STATUS_GOOD && s->t_parse == 2) {
			struct scsi_readcapacity10 *rc =
				scsi_datain_unmarshall(t);
			s->t_parsed = rc != NULL;
			if (rc) {
				s->blocks = (uint64_t)rc->lba + 1;
				s->block_size = rc->block_size;
			}
		}
		scsi_free_scsi_task(t);
	}
	s->waiting = false;
	s->advance = true;
}

static void iscsi_watch_cb(int fd, unsigned events, void *arg);

/* Follows libiscsi's fd and the events it wants. */
static void iscsi_sync_watch(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	int fd = s->ctx ? iscsi_get_fd(s->ctx) : -1;
	unsigned ev = 0;

	if (fd != s->watch_fd && s->watch) {
		h->watch_free(s->watch);
		s->watch = NULL;
	}
	s->watch_fd = fd;
	if (fd < 0)
		return;
	int want = iscsi_which_events(s->ctx);
	if (want & POLLIN)
		ev |= CMSD_WATCH_READ;
	if (want & POLLOUT)
		ev |= CMSD_WATCH_WRITE;
	if (!s->watch)
		s->watch = h->watch_new(h, fd, ev, iscsi_watch_cb, s);
	else
		h->watch_set(s->watch, ev);
}

/* Drops the session: the agent's monitor reconnects.  Outside an op the
 * loss is an event (the LUN is gone until a reconnect works). */
static void iscsi_drop(struct iscsi *s, const char *why)
{
	const struct cmsd_host *h = s->base.host;

	char w[160];
	bool was_up = s->up;
	size_t n;

	if (!s->ctx)
		return;
	/* libiscsi's texts end in a newline, or are empty. */
	snprintf(w, sizeof(w), "%s", why && *why ? why : "connection closed");
	n = strlen(w);
	while (n && (w[n - 1] == '\n' || w[n - 1] == ' '))
		w[--n] = '\0';
	if (strstr(w, "Can not reconnect"))
		snprintf(w, sizeof(w), "the connection ended");
	if (s->up)
		h->log(h, CMSD_LOG_WARNING,
		       "iSCSI session to %s:%u (%s) lost: %s", s->portal,
		       s->port, s->iqn, w);
	s->dying = true;
	iscsi_destroy_context(s->ctx);
	s->dying = false;
	s->ctx = NULL;
	s->up = false;
	if (s->watch) {
		h->watch_free(s->watch);
		s->watch = NULL;
	}
	s->watch_fd = -1;
	if (s->kind != IOP_NONE && s->waiting) {
		s->waiting = false;
		s->t_status = SCSI_STATUS_ERROR;
		s->advance = true;
	} else if (was_up && s->started && s->kind == IOP_NONE) {
		h->notify(h, CMSD_EV_FAILED, "iSCSI session lost");
	}
}

static void iscsi_watch_cb(int fd, unsigned events, void *arg)
{
	struct iscsi *s = arg;
	int re = 0;

	(void)fd;
	if (!s->ctx)
		return;
	if (events & CMSD_WATCH_READ)
		re |= POLLIN;
	if (events & CMSD_WATCH_WRITE)
		re |= POLLOUT;
	if (iscsi_service(s->ctx, re) < 0)
		iscsi_drop(s, iscsi_get_error(s->ctx));
	iscsi_pump(s);
}

/* Once a second: libiscsi's own command timeouts run in iscsi_service(). */
static void iscsi_tick_cb(void *arg)
{
	struct iscsi *s = arg;

	if (s->ctx && iscsi_service(s->ctx, 0) < 0)
		iscsi_drop(s, iscsi_get_error(s->ctx));
	iscsi_pump(s);
	s->base.host->timer_arm(s->tick, ISCSI_TICK_MS);
}

static void iscsi_pump(struct iscsi *s)
{
	while (s->advance) {
		s->advance = false;
		iscsi_advance(s);
	}
	iscsi_sync_watch(s);
}

/* Ends the op in flight.  From within the op's entry point the result is
 * returned instead (op_done must follow CMSD_PENDING, never precede it). */
static void iscsi_finish(struct iscsi *s, int rc)
{
	struct cmsd_op *op = s->op;

	s->op = NULL;
	s->kind = IOP_NONE;
	s->step = ST_IDLE;
	if (s->in_begin) {
		s->sync_rc = rc;
		s->sync_done = true;
		return;
	}
	if (op)
		s->base.host->op_done(op, rc);
}

static bool iscsi_submitted(struct iscsi *s, struct scsi_task *t,
			    const char *what)
{
	if (t) {
		s->task = t;
		s->waiting = true;
		return true;
	}
	s->base.host->log(s->base.host, CMSD_LOG_ERR, "%s: cannot queue: %s",
			  what,
			  s->ctx ? iscsi_get_error(s->ctx) : "no session");
	iscsi_finish(s, s->kind == IOP_MONITOR ? CMSD_FAILED : -EIO);
	return false;
}

static void iscsi_issue_tur(struct iscsi *s, enum iscsi_step step)
{
	s->step = step;
	s->t_is_task = true;
	s->t_parse = 0;
	iscsi_submitted(
		s,
		iscsi_testunitready_task(s->ctx, (int)s->lun, iscsi_task_cb, s),
		"TEST UNIT READY");
}

static void iscsi_issue_readres(struct iscsi *s, enum iscsi_step step)
{
	s->step = step;
	s->t_is_task = true;
	s->t_parse = 1;
	s->t_parsed = false;
	iscsi_submitted(s,
			iscsi_persistent_reserve_in_task(
				s->ctx, (int)s->lun,
				SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 8192,
				iscsi_task_cb, s),
			"PERSISTENT RESERVE IN (READ RESERVATION)");
}

static void iscsi_issue_readkeys(struct iscsi *s)
{
	s->step = ST_KEYS;
	s->t_is_task = true;
	s->t_parse = 3;
	s->t_parsed = false;
	iscsi_submitted(s,
			iscsi_persistent_reserve_in_task(
				s->ctx, (int)s->lun,
				SCSI_PERSISTENT_RESERVE_READ_KEYS, 8192,
				iscsi_task_cb, s),
			"PERSISTENT RESERVE IN (READ KEYS)");
}

static void iscsi_issue_prout(struct iscsi *s, enum iscsi_step step, int sa,
			      uint64_t key, uint64_t sa_key, int type,
			      bool aptpl)
{
	struct scsi_persistent_reserve_out_basic p;

	memset(&p, 0, sizeof(p));
	p.reservation_key = key;
	p.service_action_reservation_key = sa_key;
	p.aptpl = aptpl;
	s->step = step;
	s->t_is_task = true;
	s->t_parse = 0;
	/* libiscsi copies the parameter list into the task. */
	iscsi_submitted(s,
			iscsi_persistent_reserve_out_task(
				s->ctx, (int)s->lun, sa,
				SCSI_PERSISTENT_RESERVE_SCOPE_LU, type, &p,
				iscsi_task_cb, s),
			"PERSISTENT RESERVE OUT");
}

static void iscsi_connect(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	char portal[80];

	s->ctx = iscsi_create_context(s->initiator);
	if (!s->ctx) {
		h->log(h, CMSD_LOG_ERR, "cannot create an iSCSI context");
		iscsi_finish(s, s->kind == IOP_MONITOR ? CMSD_FAILED : -ENOMEM);
		return;
	}
	iscsi_set_targetname(s->ctx, s->iqn);
	iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* A transparent reconnect is a new I_T nexus without our
	 * registration: we reconnect ourselves and register again. */
	iscsi_set_noautoreconnect(s->ctx, 1);
	iscsi_set_timeout(s->ctx, 5);
	snprintf(portal, sizeof(portal),
		 strchr(s->portal, ':') ? "[%s]:%u" : "%s:%u", s->portal,
		 s->port);
	s->step = ST_CONNECT;
	s->t_is_task = false;
	if (iscsi_full_connect_async(s->ctx, portal, (int)s->lun, iscsi_task_cb,
				     s) != 0) {
		h->log(h, CMSD_LOG_ERR, "login to %s (%s) failed: %s", portal,
		       s->iqn, iscsi_get_error(s->ctx));
		iscsi_drop(s, "login failed");
		iscsi_finish(s, s->kind == IOP_MONITOR ? CMSD_FAILED : -EIO);
		return;
	}
	s->waiting = true;
}

static bool iscsi_ua(const struct iscsi *s)
{
	return s->t_status == SCSI_STATUS_CHECK_CONDITION &&
	       s->t_sense == SCSI_SENSE_UNIT_ATTENTION;
}

static bool iscsi_illegal(const struct iscsi *s)
{
	return s->t_status == SCSI_STATUS_CHECK_CONDITION &&
	       s->t_sense == SCSI_SENSE_ILLEGAL_REQUEST;
}

/* A failed command: logs it with its SCSI status, drops a dead session,
 * ends the op. */
static void iscsi_fail(struct iscsi *s, const char *what)
{
	const struct cmsd_host *h = s->base.host;
	bool session = s->t_status != SCSI_STATUS_GOOD &&
		       s->t_status != SCSI_STATUS_CHECK_CONDITION &&
		       s->t_status != SCSI_STATUS_RESERVATION_CONFLICT &&
		       s->t_status != SCSI_STATUS_BUSY;

	char b[48];

	if (s->t_status == SCSI_STATUS_CHECK_CONDITION)
		h->log(h, CMSD_LOG_ERR, "%s: CHECK CONDITION %s/%s", what,
		       scsi_sense_key_str(s->t_sense),
		       iscsi_ua_name(s->t_ascq, b, sizeof(b)));
	else
		h->log(h, CMSD_LOG_ERR, "%s: %s", what,
		       iscsi_status_name(s->t_status));
	if (session)
		iscsi_drop(s, iscsi_status_name(s->t_status));
	iscsi_finish(s, s->kind == IOP_MONITOR ? CMSD_FAILED : -EIO);
}

/* Repeats the step once after a unit attention (reservations preempted or
 * released, a reset): they are reported once, the command itself did not
 * run. */
static bool iscsi_retry_ua(struct iscsi *s)
{
	char b[48];

	if (!iscsi_ua(s) || s->ua_retried)
		return false;
	s->ua_retried = true;
	s->base.host->log(s->base.host, CMSD_LOG_INFO,
			  "unit attention %s, retrying once",
			  iscsi_ua_name(s->t_ascq, b, sizeof(b)));
	return true;
}

static void iscsi_spawn(struct iscsi *s, enum iscsi_step step,
			const char *const *argv);
static void iscsi_after_session(struct iscsi *s);
static void iscsi_promote_next(struct iscsi *s);
static void iscsi_demote_next(struct iscsi *s);

static void iscsi_issue_register(struct iscsi *s)
{
	iscsi_issue_prout(
		s, ST_REG,
		SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0,
		iscsi_cur_key(s), 0, s->aptpl);
}

static void iscsi_issue_take(struct iscsi *s)
{
	int type = iscsi_pr_codes[s->reservation];

	s->ua_retried = false;
	if (!s->reserved)
		iscsi_issue_prout(s, ST_RESERVE,
				  SCSI_PERSISTENT_RESERVE_RESERVE,
				  iscsi_cur_key(s), 0, type, false);
	else
		iscsi_issue_prout(
			s, ST_PREEMPT,
			s->abort_ok ? SCSI_PERSISTENT_RESERVE_PREEMPT_AND_ABORT
				    : SCSI_PERSISTENT_RESERVE_PREEMPT,
			iscsi_cur_key(s), s->holder, type, false);
}

/* PREEMPT (AND ABORT) of a key that is not the holder's removes its
 * registrations and leaves the reservation ours. */
static void iscsi_issue_fence(struct iscsi *s)
{
	iscsi_issue_prout(s, ST_FENCE,
			  s->abort_ok
				  ? SCSI_PERSISTENT_RESERVE_PREEMPT_AND_ABORT
				  : SCSI_PERSISTENT_RESERVE_PREEMPT,
			  iscsi_cur_key(s), s->fencing,
			  iscsi_pr_codes[s->reservation], false);
}

/* After READ KEYS in promote: the reservation is ours, and every other key
 * goes, one PREEMPT each and the keys read again after it.  A clean
 * handover (the old master RELEASEd, we RESERVEd) preempted nobody, and
 * under a registrants-only type any key still registered may write: the
 * old master's kernel session would. */
static void iscsi_fence_next(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	bool mine = false;

	s->fencing = 0;
	for (int i = 0; i < s->n_keys; i++) {
		if (s->keys[i] == iscsi_cur_key(s))
			mine = true;
		else if (s->keys[i] && !s->fencing)
			s->fencing = s->keys[i];
	}
	if (!mine) {
		h->log(h, CMSD_LOG_ERR,
		       "promote: key 0x%016llx is not registered any more "
		       "(preempted by the peer)",
		       (unsigned long long)iscsi_cur_key(s));
		iscsi_finish(s, -EIO);
		return;
	}
	if (!s->fencing) {
		if (s->total_keys > s->n_keys)
			h->log(h, CMSD_LOG_WARNING,
			       "promote: the LUN has %d registrations; only "
			       "the first %d were read",
			       s->total_keys, s->n_keys);
		iscsi_promote_next(s);
		return;
	}
	if (++s->fence_rounds > ISCSI_FENCE_ROUNDS) {
		h->log(h, CMSD_LOG_ERR,
		       "promote: key 0x%016llx is still registered after %d "
		       "PREEMPTs (re-registered each time?)",
		       (unsigned long long)s->fencing, ISCSI_FENCE_ROUNDS);
		iscsi_finish(s, -EIO);
		return;
	}
	s->ua_retried = false;
	iscsi_issue_fence(s);
}

static void iscsi_stale_preempt(struct iscsi *s)
{
	s->base.host->log(s->base.host, CMSD_LOG_NOTICE,
			  "removing the registration of this node's previous "
			  "session (key 0x%016llx)",
			  (unsigned long long)s->stale);
	iscsi_issue_prout(s, ST_STALE, SCSI_PERSISTENT_RESERVE_PREEMPT,
			  iscsi_cur_key(s), s->stale,
			  iscsi_pr_codes[s->reservation], false);
	s->stale = 0;
}

/* Registers the kernel initiator's session (the block device's) with the
 * current key; sg_persist sends the PROUT through SG_IO on that session. */
static void iscsi_kernel_register(struct iscsi *s, enum iscsi_step step)
{
	struct iscsi_cmd c;

	iscsi_cmd_register(&c, iscsi_cur_key(s), s->device);
	iscsi_spawn(s, step, c.argv);
}

/* The kernel initiator logs in under the name in initiatorname.iscsi, not
 * under <initiator-name>: a differing one is a target ACL or a host
 * mapping that does not match (after a reinstall that made a new name). */
static void iscsi_kernel_name_check(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	char text[1024], name[256];
	FILE *f = fopen(ISCSI_CMD_INITIATORNAME, "re");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = '\0';
	if (!f || iscsi_cmd_initiatorname(text, name, sizeof(name)) < 0)
		h->log(h, CMSD_LOG_WARNING,
		       "promote: no InitiatorName in " ISCSI_CMD_INITIATORNAME
		       ": the kernel initiator logs in under a name of its "
		       "own; set it to %s",
		       s->initiator);
	else if (strcmp(name, s->initiator) != 0)
		h->log(h, CMSD_LOG_WARNING,
		       "promote: the kernel initiator's name is %s "
		       "(" ISCSI_CMD_INITIATORNAME "), not this node's "
		       "<initiator-name> %s: the target may refuse its login",
		       name, s->initiator);
}

static void iscsi_advance(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;

	if (s->kind == IOP_NONE)
		return; /* a completion after cancel */
	switch (s->step) {
	case ST_IDLE:
		break;
	case ST_CONNECT:
		if (s->t_status != 0) {
			const char *e = s->ctx ? iscsi_get_error(s->ctx) : "";
			h->log(h, CMSD_LOG_ERR,
			       "login to %s:%u (%s) as %s failed: %s",
			       s->portal, s->port, s->iqn, s->initiator,
			       e && *e ? e : "no answer from the target");
			iscsi_drop(s, "login failed");
			iscsi_finish(s, s->kind == IOP_MONITOR ? CMSD_FAILED
							       : -EIO);
			return;
		}
		s->up = true;
		s->gen++;
		/* The key of the session before is still registered where
		 * the target ties registrations to sessions. */
		s->stale = s->gen > 1 ? iscsi_cur_key(s) ^ ISCSI_KEY_FLIP : 0;
		h->log(h, CMSD_LOG_NOTICE,
		       "logged in to %s:%u (%s) LUN %u as %s", s->portal,
		       s->port, s->iqn, s->lun, s->initiator);
		s->tur_left = 5;
		iscsi_issue_tur(s, ST_TUR0);
		return;
	case ST_TUR0:
		/* A new session sees its pending unit attentions (power on,
		 * reservations preempted): consume them. */
		if (s->t_status != SCSI_STATUS_GOOD && --s->tur_left > 0 &&
		    s->t_status == SCSI_STATUS_CHECK_CONDITION) {
			iscsi_issue_tur(s, ST_TUR0);
			return;
		}
		if (s->t_status != SCSI_STATUS_GOOD) {
			iscsi_fail(s, "TEST UNIT READY after login");
			return;
		}
		s->t_is_task = true;
		s->t_parse = 2;
		s->step = ST_CAP;
		iscsi_submitted(s,
				iscsi_readcapacity10_task(s->ctx, (int)s->lun,
							  0, 0, iscsi_task_cb,
							  s),
				"READ CAPACITY");
		return;
	case ST_CAP:
		if (s->t_status != SCSI_STATUS_GOOD || !s->t_parsed) {
			iscsi_fail(s, "READ CAPACITY");
			return;
		}
		h->log(h, CMSD_LOG_INFO,
		       "LUN %u: %llu blocks of %u bytes (%llu MiB)", s->lun,
		       (unsigned long long)s->blocks, s->block_size,
		       (unsigned long long)(s->blocks * s->block_size >> 20));
		s->ua_retried = false;
		iscsi_issue_register(s);
		return;
	case ST_REG:
		if (s->t_status == SCSI_STATUS_GOOD) {
			h->log(h, CMSD_LOG_INFO,
			       "registered reservation key 0x%016llx%s",
			       (unsigned long long)iscsi_cur_key(s),
			       s->aptpl ? " (APTPL)" : "");
			iscsi_issue_readres(s, ST_READRES);
			return;
		}
		if (s->aptpl && iscsi_illegal(s)) {
			h->log(h, CMSD_LOG_WARNING,
			       "the target refuses APTPL: reservations do not "
			       "survive its restart; registering without it");
			s->aptpl = false;
			iscsi_issue_register(s);
			return;
		}
		if (iscsi_retry_ua(s)) {
			iscsi_issue_register(s);
			return;
		}
		iscsi_fail(s, "PERSISTENT RESERVE OUT REGISTER");
		return;
	case ST_READRES:
		if (s->t_status != SCSI_STATUS_GOOD || !s->t_parsed) {
			if (iscsi_retry_ua(s)) {
				iscsi_issue_readres(s, ST_READRES);
				return;
			}
			iscsi_fail(s, "PERSISTENT RESERVE IN READ RESERVATION");
			return;
		}
		s->ua_retried = false;
		/* The old session's key: a master takes its reservation over
		 * with PREEMPT; a slave leaves a reservation it holds to the
		 * peer's takeover (it was deposed while away). */
		if (s->stale &&
		    !(s->reserved && s->holder == s->stale && !s->primary)) {
			/* The kernel's session of a mounted master is
			 * registered with the stale key: register it with the
			 * new one first, or the PREEMPT fences our own
			 * writes. */
			if (s->kernel && s->mounted)
				iscsi_kernel_register(s, ST_KREREG);
			else
				iscsi_stale_preempt(s);
			return;
		}
		iscsi_after_session(s);
		return;
	case ST_STALE:
		/* RESERVATION CONFLICT: the key was not registered any
		 * more (the peer preempted it). */
		if (s->t_status != SCSI_STATUS_GOOD &&
		    s->t_status != SCSI_STATUS_RESERVATION_CONFLICT) {
			if (iscsi_retry_ua(s)) {
				iscsi_issue_prout(
					s, ST_STALE,
					SCSI_PERSISTENT_RESERVE_PREEMPT,
					iscsi_cur_key(s),
					iscsi_cur_key(s) ^ ISCSI_KEY_FLIP,
					iscsi_pr_codes[s->reservation], false);
				return;
			}
			iscsi_fail(s, "PERSISTENT RESERVE OUT PREEMPT (own "
				      "previous key)");
			return;
		}
		iscsi_issue_readres(s, ST_READRES);
		return;
	case ST_TUR:
		if (s->t_status != SCSI_STATUS_GOOD) {
			if (iscsi_retry_ua(s)) {
				iscsi_issue_tur(s, ST_TUR);
				return;
			}
			iscsi_fail(s, "monitor: TEST UNIT READY");
			return;
		}
		s->ua_retried = false;
		iscsi_issue_readres(s, ST_READRES);
		return;
	case ST_RESERVE:
	case ST_PREEMPT:
		if (s->step == ST_PREEMPT && s->abort_ok && iscsi_illegal(s)) {
			h->log(h, CMSD_LOG_WARNING,
			       "the target refuses PREEMPT AND ABORT: using "
			       "PREEMPT (the old master's queued commands are "
			       "not aborted)");
			s->abort_ok = false;
			iscsi_issue_take(s);
			return;
		}
		if (s->t_status == SCSI_STATUS_GOOD ||
		    s->t_status == SCSI_STATUS_RESERVATION_CONFLICT ||
		    iscsi_ua(s)) {
			/* Conflict: someone reserved in between; read who
			 * and try once more. */
			if (s->t_status != SCSI_STATUS_GOOD &&
			    s->take_tries++ >= 2) {
				iscsi_fail(s,
					   s->step == ST_RESERVE
						   ? "PERSISTENT RESERVE OUT "
						     "RESERVE"
						   : "PERSISTENT RESERVE OUT "
						     "PREEMPT");
				return;
			}
			if (s->t_status == SCSI_STATUS_GOOD)
				h->log(h, CMSD_LOG_NOTICE,
				       "promote: %s with key 0x%016llx (%s)",
				       s->step == ST_RESERVE
					       ? "reserved the LUN"
					       : "preempted the holder's key",
				       (unsigned long long)iscsi_cur_key(s),
				       iscsi_reservations[s->reservation]);
			iscsi_issue_readres(s, ST_VERIFY);
			return;
		}
		iscsi_fail(s, "promote: PERSISTENT RESERVE OUT");
		return;
	case ST_VERIFY:
		if (s->t_status != SCSI_STATUS_GOOD || !s->t_parsed) {
			iscsi_fail(s, "promote: READ RESERVATION");
			return;
		}
		iscsi_promote_next(s);
		return;
	case ST_KEYS:
		if (s->t_status != SCSI_STATUS_GOOD || !s->t_parsed) {
			if (iscsi_retry_ua(s)) {
				iscsi_issue_readkeys(s);
				return;
			}
			iscsi_fail(s, "promote: READ KEYS");
			return;
		}
		iscsi_fence_next(s);
		return;
	case ST_FENCE:
		if (s->abort_ok && iscsi_illegal(s)) {
			h->log(h, CMSD_LOG_WARNING,
			       "the target refuses PREEMPT AND ABORT: using "
			       "PREEMPT (the old master's queued commands are "
			       "not aborted)");
			s->abort_ok = false;
			iscsi_issue_fence(s);
			return;
		}
		if (iscsi_retry_ua(s)) {
			iscsi_issue_fence(s);
			return;
		}
		if (s->t_status == SCSI_STATUS_GOOD) {
			h->log(h, CMSD_LOG_NOTICE,
			       "promote: removed the registration of key "
			       "0x%016llx (another node's)",
			       (unsigned long long)s->fencing);
		} else if (s->t_status == SCSI_STATUS_RESERVATION_CONFLICT) {
			/* The key went in between (its node stopped), or
			 * ours did: the next READ KEYS tells which. */
			h->log(h, CMSD_LOG_INFO,
			       "promote: PREEMPT of key 0x%016llx: "
			       "RESERVATION CONFLICT; reading the keys again",
			       (unsigned long long)s->fencing);
		} else {
			iscsi_fail(s, "promote: PERSISTENT RESERVE OUT PREEMPT "
				      "(another registered key)");
			return;
		}
		s->ua_retried = false;
		iscsi_issue_readkeys(s);
		return;
	case ST_RELEASE:
		if (s->t_status != SCSI_STATUS_GOOD) {
			if (iscsi_retry_ua(s)) {
				s->released = false;
				iscsi_demote_next(s);
				return;
			}
			/* An unregistered nexus gets RESERVATION CONFLICT
			 * (SPC): the peer's takeover preempted our key since
			 * we last looked (a master cut off from the cluster
			 * steps down only after that).  Nothing of ours is
			 * left to release; failing here would keep the node
			 * stepping down for good. */
			if (s->t_status == SCSI_STATUS_RESERVATION_CONFLICT) {
				h->log(h, CMSD_LOG_NOTICE,
				       "demote: key 0x%016llx is no longer "
				       "registered (preempted by the peer): "
				       "nothing to release",
				       (unsigned long long)iscsi_cur_key(s));
				s->reserved = false; /* the next read tells */
				iscsi_demote_next(s);
				return;
			}
			iscsi_fail(s, "PERSISTENT RESERVE OUT RELEASE");
			return;
		}
		h->log(h, CMSD_LOG_NOTICE, "released the reservation");
		s->reserved = false;
		iscsi_demote_next(s);
		return;
	case ST_UNREG:
		if (iscsi_retry_ua(s)) {
			iscsi_issue_prout(s, ST_UNREG,
					  SCSI_PERSISTENT_RESERVE_REGISTER,
					  iscsi_cur_key(s), 0, 0, false);
			return;
		}
		if (s->t_status == SCSI_STATUS_RESERVATION_CONFLICT)
			h->log(h, CMSD_LOG_INFO,
			       "stop: key 0x%016llx was no longer registered "
			       "(preempted)",
			       (unsigned long long)iscsi_cur_key(s));
		else if (s->t_status != SCSI_STATUS_GOOD)
			h->log(h, CMSD_LOG_WARNING,
			       "stop: unregistering key 0x%016llx: %s",
			       (unsigned long long)iscsi_cur_key(s),
			       iscsi_status_name(s->t_status));
		else
			h->log(h, CMSD_LOG_INFO, "unregistered key 0x%016llx",
			       (unsigned long long)iscsi_cur_key(s));
		iscsi_demote_next(s);
		return;
	case ST_KREREG:
		if (!s->child_ok)
			h->log(h, CMSD_LOG_ERR,
			       "the kernel's session is not registered with "
			       "key 0x%016llx: its writes will conflict",
			       (unsigned long long)iscsi_cur_key(s));
		iscsi_stale_preempt(s);
		return;
	case ST_KDISCOVER:
	case ST_KLOGIN:
	case ST_KWAIT:
	case ST_KREGISTER:
	case ST_MPREP:
	case ST_FSCK:
	case ST_MOUNT:
		iscsi_promote_next(s);
		return;
	case ST_UMOUNT:
		iscsi_demote_next(s);
		return;
	}
}

/* After login, registration and READ RESERVATION: the op's own part. */
static void iscsi_after_session(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	char hb[64];

	switch (s->kind) {
	case IOP_START:
		s->started = true;
		h->log(h, CMSD_LOG_INFO, "start: reservation holder %s",
		       iscsi_holder_text(s, hb, sizeof(hb)));
		iscsi_finish(s, 0);
		return;
	case IOP_MONITOR:
		/* A master whose reservation went to another key was
		 * fenced: its writes get RESERVATION CONFLICT. */
		if (s->primary &&
		    (!s->reserved || s->holder != iscsi_cur_key(s))) {
			h->log(h, CMSD_LOG_ERR,
			       "monitor: this node is master but the "
			       "reservation holder is %s: fenced",
			       iscsi_holder_text(s, hb, sizeof(hb)));
			iscsi_finish(s, CMSD_FAILED);
			return;
		}
		iscsi_finish(s, CMSD_RUNNING);
		return;
	case IOP_PROMOTE:
		s->take_tries = 0;
		if (s->reserved && s->holder == iscsi_cur_key(s)) {
			iscsi_promote_next(s);
			return;
		}
		if (s->reserved)
			h->log(h, CMSD_LOG_NOTICE,
			       "promote: the reservation is held by %s: "
			       "preempting it",
			       iscsi_holder_text(s, hb, sizeof(hb)));
		iscsi_issue_take(s);
		return;
	case IOP_DEMOTE:
	case IOP_STOP:
		iscsi_demote_next(s);
		return;
	case IOP_NONE:
		return;
	}
}

static void iscsi_child_done(const struct cmsd_child_result *r, void *arg)
{
	struct iscsi *s = arg;

	s->child = NULL;
	if (s->child_orphan) {
		s->child_orphan = false;
		return;
	}
	s->child_ok =
		r->exited && (r->exit_code == 0 ||
			      /* iscsiadm: already logged in */
			      (s->step == ST_KLOGIN &&
			       r->exit_code == ISCSI_CMD_EXIT_SESS_EXISTS));
	if (!s->child_ok)
		s->base.host->log(
			s->base.host, CMSD_LOG_ERR, "%s failed (%s %d): %.*s",
			s->child_what, r->exited ? "exit" : "signal",
			r->exited ? r->exit_code : r->signal,
			(int)(r->output_len > 300 ? 300 : r->output_len),
			r->output ? r->output : "");
	s->advance = true;
	iscsi_pump(s);
}

/* One mount-layer job of the worker thread. */
struct iscsi_job {
	struct pu_job job; /* first */
	struct iscsi *s;
	unsigned gen;
	enum iscsi_step step;
	enum iscsi_kind kind;
	enum pu_fstype fstype;
	int rc, n;
	enum pu_found found;
	dev_t rdev, known;
	char dev[PATH_MAX], mount[PATH_MAX], mp[PATH_MAX];
	struct pu_notes notes;
};

static const char *iscsi_kind_name(enum iscsi_kind k)
{
	return k == IOP_PROMOTE ? "promote" : k == IOP_STOP ? "stop" : "demote";
}

static void iscsi_job_drop(struct pu_job *j)
{
	struct iscsi_job *jb = (struct iscsi_job *)j;

	pu_notes_free(&jb->notes);
	free(jb);
}

/* Worker thread: only the job's own copy of what it needs. */
static void iscsi_job_run(struct pu_job *j)
{
	struct iscsi_job *jb = (struct iscsi_job *)j;

	switch (jb->step) {
	case ST_MPREP:
		jb->rc = pu_mount_prepare(jb->mount, jb->dev, jb->rdev, jb->mp,
					  &jb->found, &jb->notes);
		break;
	case ST_MOUNT:
		jb->rc = pu_mount_do(jb->dev, jb->rdev, jb->mp, jb->fstype,
				     &jb->notes);
		break;
	default: /* ST_UMOUNT */
		jb->rc = pu_umount(jb->mount, jb->rdev, jb->known, jb->fstype,
				   jb->mp, &jb->n, &jb->notes);
		break;
	}
}

static void iscsi_job_done(struct pu_job *j)
{
	struct iscsi_job *jb = (struct iscsi_job *)j;
	struct iscsi *s = jb->s;

	s->jobs_out--;
	pu_notes_log(s->base.host, iscsi_kind_name(jb->kind), &jb->notes);
	/* What the kernel did counts even for a cancelled op: the demote
	 * after it must unmount. */
	if (jb->rc == 0 &&
	    (jb->step == ST_MOUNT ||
	     (jb->step == ST_MPREP && jb->found == PU_FOUND_ADOPT))) {
		s->mounted = true;
		s->mounted_dev = jb->rdev;
	} else if (jb->rc == 0 && jb->step == ST_UMOUNT) {
		s->mounted = false;
		s->mounted_dev = 0;
	}
	if (s->kind != IOP_NONE && jb->gen == s->op_gen &&
	    s->step == jb->step) {
		s->job_rc = jb->rc;
		s->job_found = jb->found;
		memcpy(s->job_mp, jb->mp, sizeof(s->job_mp));
		s->advance = true;
	}
	iscsi_job_drop(j);
	iscsi_pump(s);
}

/* Hands a mount-layer step to the worker; the op ends on failure. */
static void iscsi_job(struct iscsi *s, enum iscsi_step step)
{
	struct iscsi_job *jb = calloc(1, sizeof(*jb));
	int rc = jb ? 0 : -ENOMEM;

	s->step = step;
	if (jb) {
		jb->job.run = iscsi_job_run;
		jb->job.done = iscsi_job_done;
		jb->s = s;
		jb->gen = s->op_gen;
		jb->step = step;
		jb->kind = s->kind;
		jb->fstype = s->fstype;
		jb->rdev = s->job_rdev;
		jb->known = s->mounted_dev;
		pu_fmt(jb->dev, sizeof(jb->dev), "%s", s->job_dev);
		pu_fmt(jb->mount, sizeof(jb->mount), "%s", s->mount);
		pu_fmt(jb->mp, sizeof(jb->mp), "%s", s->job_mp);
		rc = pu_worker_submit(&s->worker, &jb->job);
	}
	if (rc < 0) {
		s->base.host->log(s->base.host, CMSD_LOG_ERR,
				  "cannot start the mount thread: %s",
				  strerror(-rc));
		free(jb);
		iscsi_finish(s, rc);
		return;
	}
	s->jobs_out++;
}

/* The kernel's block device now: its node (symlinks resolved) and number
 * into job_dev / job_rdev.  0, or -errno (logged when log). */
static int iscsi_blockdev(struct iscsi *s, bool log)
{
	struct stat st;

	s->job_dev[0] = '\0';
	s->job_rdev = 0;
	if (stat(s->device, &st) < 0) {
		int e = errno;
		if (log)
			s->base.host->log(s->base.host, CMSD_LOG_ERR, "%s: %s",
					  s->device, strerror(e));
		return -e;
	}
	if (!S_ISBLK(st.st_mode)) {
		if (log)
			s->base.host->log(s->base.host, CMSD_LOG_ERR,
					  "%s is not a block device",
					  s->device);
		return -ENOTBLK;
	}
	if (!realpath(s->device, s->job_dev))
		pu_fmt(s->job_dev, sizeof(s->job_dev), "%s", s->device);
	s->job_rdev = st.st_rdev;
	return 0;
}

static void iscsi_fsck_done(const struct cmsd_child_result *r, void *arg)
{
	struct iscsi *s = arg;

	s->child = NULL;
	if (s->child_orphan) { /* cancelled: the agent killed it */
		s->child_orphan = false;
		return;
	}
	s->job_rc = pu_fsck_result(s->base.host, "promote", s->job_dev, r);
	s->advance = true;
	iscsi_pump(s);
}

static void iscsi_spawn(struct iscsi *s, enum iscsi_step step,
			const char *const *argv)
{
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.timeout_ms = 30000,
		.done = iscsi_child_done,
		.arg = s,
	};
	int rc;

	s->step = step;
	snprintf(s->child_what, sizeof(s->child_what), "%s", argv[0]);
	rc = s->base.host->spawn(s->base.host, &req, &s->child);
	if (rc < 0) {
		s->base.host->log(s->base.host, CMSD_LOG_ERR,
				  "cannot run %s: %s", argv[0], strerror(-rc));
		iscsi_finish(s, rc);
	}
}

static void iscsi_wait_cb(void *arg)
{
	struct iscsi *s = arg;

	s->advance = true;
	iscsi_pump(s);
}

/* Promote after the reservation is ours: the block device from the kernel
 * initiator (its own session, registered with our key so that it may write
 * under a registrants-only reservation), then the mount. */
static void iscsi_promote_next(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;
	struct iscsi_cmd c;
	char hb[64];

	switch (s->step) {
	case ST_VERIFY:
	case ST_READRES:
		if (!s->reserved || s->holder != iscsi_cur_key(s)) {
			h->log(h, CMSD_LOG_ERR,
			       "promote: the reservation holder is %s, not "
			       "this node",
			       iscsi_holder_text(s, hb, sizeof(hb)));
			iscsi_finish(s, -EIO);
			return;
		}
		s->fence_rounds = 0;
		s->ua_retried = false;
		iscsi_issue_readkeys(s);
		return;
	case ST_KEYS:
		s->primary = true;
		if (!s->kernel || s->mounted) { /* none, or mounted already */
			iscsi_finish(s, 0);
			return;
		}
		iscsi_kernel_name_check(s);
		iscsi_cmd_discovery(&c, s->portal, s->port);
		iscsi_spawn(s, ST_KDISCOVER, c.argv);
		return;
	case ST_KDISCOVER:
		if (!s->child_ok) {
			iscsi_finish(s, -EIO);
			return;
		}
		iscsi_cmd_login(&c, s->iqn, s->portal, s->port);
		iscsi_spawn(s, ST_KLOGIN, c.argv);
		return;
	case ST_KLOGIN:
		if (!s->child_ok) {
			iscsi_finish(s, -EIO);
			return;
		}
		s->dev_tries = 0;
		/* fall through */
	case ST_KWAIT:
		if (access(s->device, F_OK) != 0) {
			if (++s->dev_tries > ISCSI_DEV_WAIT_TRIES) {
				h->log(h, CMSD_LOG_ERR,
				       "promote: %s did not appear after the "
				       "kernel login",
				       s->device);
				iscsi_finish(s, -ENODEV);
				return;
			}
			s->step = ST_KWAIT;
			h->timer_arm(s->wait, ISCSI_DEV_WAIT_MS);
			return;
		}
		iscsi_kernel_register(s, ST_KREGISTER);
		return;
	case ST_KREGISTER:
		if (!s->child_ok || iscsi_blockdev(s, true) < 0) {
			iscsi_finish(s, -EIO);
			return;
		}
		s->job_mp[0] = '\0';
		iscsi_job(s, ST_MPREP);
		return;
	case ST_MPREP:
		if (s->job_rc < 0) {
			iscsi_finish(s, s->job_rc);
			return;
		}
		if (s->job_found == PU_FOUND_ADOPT) {
			h->log(h, CMSD_LOG_NOTICE,
			       "promote: %s is already mounted on %s: adopted",
			       s->job_dev, s->job_mp);
			iscsi_finish(s, 0);
			return;
		}
		/* e2fsck only on a device nobody on this host uses. */
		if (s->fstype == PU_FS_EXT4 && s->job_found == PU_FOUND_FREE) {
			int rc;
			s->step = ST_FSCK;
			rc = pu_fsck_spawn(h, "promote", s->job_dev,
					   iscsi_fsck_done, s, &s->child);
			if (rc < 0)
				iscsi_finish(s, rc);
			return;
		}
		/* fall through */
	case ST_FSCK:
		if (s->step == ST_FSCK && s->job_rc < 0) {
			iscsi_finish(s, s->job_rc);
			return;
		}
		iscsi_job(s, ST_MOUNT);
		return;
	case ST_MOUNT:
		if (s->job_rc < 0) {
			iscsi_finish(s, s->job_rc);
			return;
		}
		h->log(h, CMSD_LOG_NOTICE,
		       "promote: mounted %s on %s (%s, nodev,nosuid%s)",
		       s->job_dev, s->job_mp, pu_fstypes[s->fstype],
		       s->fstype == PU_FS_EXT4 ? ",errors=remount-ro" : "");
		iscsi_finish(s, 0);
		return;
	default:
		iscsi_finish(s, -EIO);
		return;
	}
}

/* Demote and stop: unmount, RELEASE what we hold; stop unregisters too
 * and ends the session. */
static void iscsi_demote_next(struct iscsi *s)
{
	const struct cmsd_host *h = s->base.host;

	/* A mount job of a cancelled promote may still be on its way: the
	 * unmount queued behind it finds what it did. */
	if (s->kernel && (s->mounted || s->jobs_out) && s->step != ST_UMOUNT &&
	    s->step != ST_RELEASE && s->step != ST_UNREG) {
		iscsi_blockdev(s, false); /* 0 when gone: known is enough */
		iscsi_job(s, ST_UMOUNT);
		return;
	}
	if (s->step == ST_UMOUNT) {
		/* EBUSY as it is: the holders are logged, and nothing is
		 * released while the LUN is mounted here. */
		if (s->job_rc < 0) {
			iscsi_finish(s, s->job_rc);
			return;
		}
		h->log(h, CMSD_LOG_NOTICE, "unmounted %s", s->mount);
	}
	s->primary = false;
	if (s->up && s->reserved && s->holder == iscsi_cur_key(s) &&
	    !s->released) {
		if (s->step != ST_RELEASE)
			s->ua_retried = false;
		s->released = true;
		iscsi_issue_prout(s, ST_RELEASE,
				  SCSI_PERSISTENT_RESERVE_RELEASE,
				  iscsi_cur_key(s), 0, s->holder_type, false);
		return;
	}
	if (s->kind == IOP_STOP && s->up && s->step != ST_UNREG) {
		s->ua_retried = false;
		iscsi_issue_prout(s, ST_UNREG, SCSI_PERSISTENT_RESERVE_REGISTER,
				  iscsi_cur_key(s), 0, 0, false);
		return;
	}
	if (s->kind == IOP_STOP) {
		if (s->ctx) {
			s->up = false; /* no "lost" warning */
			iscsi_drop(s, "stopped");
		}
		s->started = false;
		s->gen = 0;
		h->log(h, CMSD_LOG_INFO, "stopped: logged out of %s", s->iqn);
	}
	iscsi_finish(s, 0);
}

/* Runs an op: its first step now, the rest from the loop. */
static int iscsi_begin(struct iscsi *s, struct cmsd_op *op, enum iscsi_kind k)
{
	if (s->kind != IOP_NONE) {
		s->base.host->log(s->base.host, CMSD_LOG_ERR,
				  "an op is already running");
		return -EBUSY;
	}
	s->op = op;
	s->kind = k;
	s->op_gen++;
	s->step = ST_IDLE;
	s->ua_retried = false;
	s->released = false;
	s->in_begin = true;
	s->sync_done = false;
	if (!s->up && k != IOP_DEMOTE && k != IOP_STOP)
		iscsi_connect(s);
	else if (k == IOP_MONITOR)
		iscsi_issue_tur(s, ST_TUR);
	else if (k == IOP_PROMOTE)
		/* Our key may be gone: the peer's promote preempts every key
		 * but its own, a slave's too.  RESERVE and PREEMPT need it. */
		iscsi_issue_register(s);
	else if (k == IOP_START)
		iscsi_finish(s, 0);
	else
		iscsi_demote_next(s);
	s->in_begin = false;
	iscsi_sync_watch(s);
	return s->sync_done ? s->sync_rc : CMSD_PENDING;
}

static int iscsi_start(void *inst, struct cmsd_op *op)
{
	return iscsi_begin(inst, op, IOP_START);
}

static int iscsi_stop(void *inst, struct cmsd_op *op)
{
	struct iscsi *s = inst;

	if (!s->started && !s->ctx)
		return 0;
	return iscsi_begin(s, op, IOP_STOP);
}

/* FAILED (not UNKNOWN) while the target is away: a master without its LUN
 * cannot serve, and the agent's failover is what helps.  Each monitor
 * tries to log in again. */
static int iscsi_monitor(void *inst, struct cmsd_op *op)
{
	struct iscsi *s = inst;

	if (!s->started)
		return CMSD_STOPPED;
	return iscsi_begin(s, op, IOP_MONITOR);
}

static int iscsi_promote(void *inst, struct cmsd_op *op, int force)
{
	(void)force; /* one shared copy: nothing is more current */
	return iscsi_begin(inst, op, IOP_PROMOTE);
}

static int iscsi_demote(void *inst, struct cmsd_op *op)
{
	return iscsi_begin(inst, op, IOP_DEMOTE);
}

static void iscsi_cancel(void *inst, struct cmsd_op *op)
{
	struct iscsi *s = inst;

	if (s->op != op)
		return;
	s->op = NULL;
	s->kind = IOP_NONE;
	s->step = ST_IDLE;
	s->base.host->timer_disarm(s->wait);
	if (s->child) {
		s->child_orphan = true;
		s->base.host->child_kill(s->child);
	}
	if (!s->waiting)
		return;
	s->waiting = false;
	/* A SCSI command in flight completes into nothing (s->task no longer
	 * matches) and the session stays: the agent cancels a monitor for
	 * every other op, and a new session would cost the registration.  A
	 * login in flight is abandoned with its session. */
	if (s->task)
		s->task = NULL;
	else
		iscsi_drop(s, "login cancelled");
}

/* From the state the last command saw (no I/O: status must be quick). */
static int iscsi_status(void *inst, struct cmsd_op *op,
			struct cmsd_storage_status *out)
{
	struct iscsi *s = inst;
	char hb[64];

	(void)op;
	out->role = s->primary ? CMSD_ROLE_PRIMARY : CMSD_ROLE_SECONDARY;
	out->peer_role = CMSD_ROLE_UNKNOWN;
	snprintf(out->disk, sizeof(out->disk), "%s",
		 s->up ? "UpToDate" : "Unknown");
	out->peer_disk[0] = '\0';
	snprintf(out->connection, sizeof(out->connection), "%s",
		 s->up ? "Shared" : "Disconnected");
	out->data_usable = s->up;
	out->generation = 0;
	out->sync_percent = -1;
	out->sync_eta_s = -1;
	if (s->reserved)
		snprintf(out->holder, sizeof(out->holder), "0x%016llx%s",
			 (unsigned long long)s->holder,
			 s->holder == iscsi_cur_key(s) ? " (this node)" : "");
	else
		out->holder[0] = '\0';
	snprintf(out->detail, sizeof(out->detail), "key 0x%016llx holder %s",
		 (unsigned long long)iscsi_cur_key(s),
		 iscsi_holder_text(s, hb, sizeof(hb)));
	return 0;
}

/* The peer's key goes with the PREEMPT of promote: the peer is fenced
 * exactly when this node holds the reservation. */
static int iscsi_fence_peer(void *inst, struct cmsd_op *op, const char *peer)
{
	struct iscsi *s = inst;
	char hb[64];

	(void)op;
	if (s->up && s->primary && s->reserved && s->holder == iscsi_cur_key(s))
		return 0;
	s->base.host->log(s->base.host, CMSD_LOG_ERR,
			  "fence_peer %s: this node does not hold the "
			  "reservation (holder %s): promote fences",
			  peer ? peer : "",
			  iscsi_holder_text(s, hb, sizeof(hb)));
	return -EAGAIN;
}

static const struct cmsd_storage_ops iscsi_ops = {
	.size = sizeof(struct cmsd_storage_ops),
	.validate = iscsi_validate,
	.init = iscsi_init,
	.start = iscsi_start,
	.stop = iscsi_stop,
	.monitor = iscsi_monitor,
	.cancel = iscsi_cancel,
	.destroy = iscsi_destroy,
	.promote = iscsi_promote,
	.demote = iscsi_demote,
	.status = iscsi_status,
	.fence_peer = iscsi_fence_peer,
	/* A shared LUN has one copy of the data: nothing to resync. */
	.resync = NULL,
};

static const struct cmsd_plugin iscsi_plugin = {
	.abi_major = CMSD_ABI_MAJOR,
	.abi_minor = CMSD_ABI_MINOR,
	.size = sizeof(struct cmsd_plugin),
	.name = "storage-iscsi",
	.version = "0.2.0",
	.kind = CMSD_KIND_STORAGE,
	.description = "iSCSI LUN with SCSI-3 reservation fencing",
	.ops.storage = &iscsi_ops,
};

CMSD_PLUGIN_DEFINE(iscsi_plugin)
