/*
 * storage-iscsi against a real userspace iSCSI target: tgtd on 127.0.0.1,
 * started by each test on a port and a control socket of its own, a
 * file-backed LUN in a temp dir.  Two plugin instances (nodes n1 and n2)
 * run on the agent's loop with libiscsi's asynchronous API; the test checks
 * what they did from the target's side through sessions of its own
 * (libiscsi, synchronous), asserting SCSI status codes.
 *
 * The test's "kernel" sessions stand for the kernel initiator's session of
 * each node, which production registers with the node's key on promote
 * (sg_persist, see storage-iscsi(5)): the writes that fencing must stop.
 *
 * Label storage.  Exits 77 (skipped) only when tgtd cannot run: no tgtd,
 * not root, or it does not come up.  tgtd dies with the forked test
 * (PR_SET_PDEATHSIG) and is shut down by PID in the teardown.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "conf.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "plugtest.h"

#define IQN   "iqn.2026-12.test.cmsd:share"
#define INIT1 "iqn.2026-12.test.cmsd:n1"
#define INIT2 "iqn.2026-12.test.cmsd:n2"
#define FLIP  (1ull << 63)

/* This run's directory: one tPID subdirectory per forked test, holding its
 * tgtd control id; the main process sweeps them at the end (a failed test
 * ends before its teardown). */
static char run_dir[64];
static char *dir, *logpath;
static struct conf *confs[2];
static pid_t tgtd = -1;
static int port, ctrl;
static char url[256];

/* ---- the target ---- */

static int adm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int adm(const char *fmt, ...)
{
	char args[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tu_sh("tgtadm -C %d --lld iscsi %s >>'%s/tgtadm.log' 2>&1", ctrl,
		     args, dir);
}

static bool tgt_start(void)
{
	char portal[64];
	int i;

	snprintf(portal, sizeof(portal), "portal=127.0.0.1:%d", port);
	tgtd = fork();
	ck_assert_int_ge(tgtd, 0);
	if (tgtd == 0) {
		char lp[PATH_MAX], cs[16];
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(lp, sizeof(lp), "%s/tgtd.log", dir);
		snprintf(cs, sizeof(cs), "%d", ctrl);
		fd = open(lp, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("tgtd", "tgtd", "-f", "-C", cs, "--iscsi", portal,
		       (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		if (adm("--op show --mode sys") == 0)
			break;
		if (waitpid(tgtd, NULL, WNOHANG) == tgtd) {
			tgtd = -1;
			return false;
		}
		usleep(100 * 1000);
	}
	if (i == 100)
		return false;
	return adm("--op new --mode target --tid 1 -T %s", IQN) == 0 &&
	       adm("--op new --mode logicalunit --tid 1 --lun 1 -b %s/lun.img",
		   dir) == 0 &&
	       adm("--op bind --mode target --tid 1 -I ALL") == 0;
}

/* tgtd ignores SIGTERM: delete the targets (dropping sessions), then the
 * system; SIGKILL by PID if it lingers. */
static void tgt_stop(void)
{
	if (tgtd <= 0)
		return;
	adm("--op delete --force --mode target --tid 1");
	tu_sh("tgtadm -C %d --op delete --mode system >/dev/null 2>&1", ctrl);
	for (int i = 0; i < 30; i++) {
		if (waitpid(tgtd, NULL, WNOHANG) == tgtd) {
			tgtd = -1;
			return;
		}
		usleep(100 * 1000);
	}
	kill(tgtd, SIGKILL);
	waitpid(tgtd, NULL, 0);
	tgtd = -1;
}

/* ---- the test's own sessions (synchronous libiscsi) ---- */

static struct iscsi_context *sess(const char *initiator)
{
	struct iscsi_context *c = iscsi_create_context(initiator);
	struct iscsi_url *u;

	ck_assert_ptr_nonnull(c);
	u = iscsi_parse_full_url(c, url);
	ck_assert_ptr_nonnull(u);
	iscsi_set_targetname(c, u->target);
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_noautoreconnect(c, 1);
	iscsi_set_timeout(c, 5);
	ck_assert_msg(iscsi_full_connect_sync(c, u->portal, u->lun) == 0,
		      "login as %s: %s", initiator, iscsi_get_error(c));
	iscsi_destroy_url(u);
	for (int i = 0; i < 5; i++) { /* pending unit attentions */
		struct scsi_task *t = iscsi_testunitready_sync(c, 1);
		int st = t ? t->status : -1;
		if (t)
			scsi_free_scsi_task(t);
		if (st == SCSI_STATUS_GOOD)
			break;
	}
	return c;
}

static void unsess(struct iscsi_context *c)
{
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
}

/* The SCSI status of a task, once more after a unit attention. */
static int status_of(struct scsi_task *t, struct scsi_task **keep)
{
	int st = t ? t->status : -1;

	if (keep)
		*keep = t;
	else if (t)
		scsi_free_scsi_task(t);
	return st;
}

static bool is_ua(struct scsi_task *t)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION &&
	       t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

static int write_status(struct iscsi_context *c)
{
	unsigned char buf[512];
	struct scsi_task *t;

	memset(buf, 0x5a, sizeof(buf));
	t = iscsi_write10_sync(c, 1, 0, buf, sizeof(buf), 512, 0, 0, 0, 0, 0);
	if (is_ua(t)) {
		scsi_free_scsi_task(t);
		t = iscsi_write10_sync(c, 1, 0, buf, sizeof(buf), 512, 0, 0, 0,
				       0, 0);
	}
	return status_of(t, NULL);
}

static int register_key(struct iscsi_context *c, uint64_t key)
{
	struct scsi_persistent_reserve_out_basic p = {0};
	struct scsi_task *t;

	p.service_action_reservation_key = key;
	t = iscsi_persistent_reserve_out_sync(
		c, 1, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY,
		SCSI_PERSISTENT_RESERVE_SCOPE_LU, 0, &p);
	return status_of(t, NULL);
}

/* The holder's key and type; key 0 when nobody holds it. */
static void read_res(struct iscsi_context *c, uint64_t *key, int *type)
{
	struct scsi_task *t = iscsi_persistent_reserve_in_sync(
		c, 1, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 8192);
	struct scsi_persistent_reserve_in_read_reservation *rr;

	if (is_ua(t)) {
		scsi_free_scsi_task(t);
		t = iscsi_persistent_reserve_in_sync(
			c, 1, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 8192);
	}
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->status, SCSI_STATUS_GOOD);
	rr = scsi_datain_unmarshall(t);
	ck_assert_ptr_nonnull(rr);
	*key = rr->reserved ? rr->reservation_key : 0;
	*type = rr->reserved ? rr->pr_type : 0;
	scsi_free_scsi_task(t);
}

static bool key_registered(struct iscsi_context *c, uint64_t key)
{
	struct scsi_task *t = iscsi_persistent_reserve_in_sync(
		c, 1, SCSI_PERSISTENT_RESERVE_READ_KEYS, 8192);
	struct scsi_persistent_reserve_in_read_keys *rk;
	bool hit = false;

	if (is_ua(t)) {
		scsi_free_scsi_task(t);
		t = iscsi_persistent_reserve_in_sync(
			c, 1, SCSI_PERSISTENT_RESERVE_READ_KEYS, 8192);
	}
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->status, SCSI_STATUS_GOOD);
	rk = scsi_datain_unmarshall(t);
	ck_assert_ptr_nonnull(rk);
	for (int i = 0; i < rk->num_keys; i++)
		hit = hit || rk->keys[i] == key;
	scsi_free_scsi_task(t);
	return hit;
}

/* ---- the plugin on the agent's loop ---- */

/* CMSD_EV_FAILED events the instances reported outside any op. */
static int failed_events;

static void on_event(struct instance *in, enum cmsd_event ev,
		     const char *detail, void *arg)
{
	(void)in;
	(void)detail;
	(void)arg;
	if (ev == CMSD_EV_FAILED)
		failed_events++;
}

static int call_args(struct instance *in, enum op_kind kind, void *args)
{
	return pt_call(in, kind, 15000, args, 20000);
}

static int call(struct instance *in, enum op_kind kind)
{
	static int no_force;

	return call_args(in, kind, kind == OP_PROMOTE ? &no_force : NULL);
}

/* The node's current key, from its status detail ("key 0x..."). */
static uint64_t key_of(struct instance *in)
{
	struct cmsd_storage_status st = {.size = sizeof(st)};
	unsigned long long k = 0;
	const char *p;

	ck_assert_int_eq(call_args(in, OP_STATUS, &st), 0);
	p = strstr(st.detail, "key 0x");
	ck_assert_msg(p && sscanf(p, "key 0x%llx", &k) == 1, "%s", st.detail);
	return k;
}

static struct instance *make(int node, const char *extra)
{
	char xml[4096], name[32];
	const char *id = node == 1 ? "n1" : "n2";
	/* One single-node configuration per node: the instance API needs
	 * no cluster, and the plugin only needs the node id. */
	struct conf **conf = &confs[node - 1];

	snprintf(xml, sizeof(xml),
		 "<cmsd version=\"1\">\n"
		 "<paths state-dir=\"%s/state%d\"/>\n"
		 "<cluster id=\"t\">"
		 "<node id=\"%s\"><link address=\"127.0.0.1\"/></node>"
		 "</cluster>\n"
		 "<storage id=\"share\" plugin=\"storage-iscsi\">"
		 "<portal>127.0.0.1:%d</portal><iqn>%s</iqn><lun>1</lun>"
		 "<initiator-name node=\"n1\">%s</initiator-name>"
		 "<initiator-name node=\"n2\">%s</initiator-name>"
		 "<mount>%s/mnt</mount><block-device>none</block-device>%s"
		 "</storage>\n"
		 "<group id=\"g\"><resource id=\"d\" "
		 "plugin=\"resource-dummy\"/></group>\n"
		 "</cmsd>\n",
		 dir, node, id, port, IQN, INIT1, INIT2, dir, extra);
	snprintf(name, sizeof(name), "cmsd-%s.xml", id);
	/* pt_instance sets the node id the plugin sees too. */
	return pt_instance(conf, dir, name, xml, "share", on_event);
}

/* ---- fixture (in each forked test) ---- */

static void setup(void)
{
	ck_assert_int_ge(asprintf(&dir, "%s/t%d", run_dir, (int)getpid()), 0);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_ge(asprintf(&logpath, "%s/log", dir), 0);
	SH_OK("truncate -s 64M '%s/lun.img'", dir);
	port = 20000 + (int)(getpid() % 20000);
	ctrl = 1000 + (int)(getpid() % 30000);
	SH_OK("echo %d >'%s/ctrl'", ctrl, dir);
	snprintf(url, sizeof(url), "iscsi://127.0.0.1:%d/%s/1", port, IQN);
	ck_assert_msg(tgt_start(), "tgtd did not come up; see %s/tgtd.log",
		      dir);
	pt_agent_open(logpath);
}

static void teardown(void)
{
	pt_agent_close(confs, 2);
	tgt_stop();
	tu_sh("rm -f /var/run/tgtd/socket.%d /var/run/tgtd/socket.%d.lock",
	      ctrl, ctrl);
	if (getenv("CMSD_TEST_SHOW_LOG"))
		tu_sh("cat '%s'", logpath);
	tu_rmdir(dir);
	free(dir);
	free(logpath);
}

/* ---- the tests ---- */

START_TEST(register_reserve_takeover)
{
	struct instance *n1 = make(1, ""), *n2 = make(2, "");
	struct iscsi_context *obs, *k1, *k2;
	uint64_t key1, key2, holder;
	int type;

	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_STOPPED);
	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n2, OP_START), 0);
	LOG_HAS("share: logged in to 127.0.0.1:%d (%s) LUN 1 as %s", port, IQN,
		INIT1);
	LOG_HAS("share: LUN 1: 131072 blocks of 512 bytes (64 MiB)");
	LOG_HAS("share: the target refuses APTPL");
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(call(n2, OP_MONITOR), CMSD_RUNNING);
	key1 = key_of(n1);
	key2 = key_of(n2);
	ck_assert(key1 != key2);

	/* Both registered, nobody reserved. */
	obs = sess("iqn.2026-12.test.cmsd:observer");
	ck_assert(key_registered(obs, key1));
	ck_assert(key_registered(obs, key2));
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, 0);

	/* The master reserves WRITE EXCLUSIVE - REGISTRANTS ONLY. */
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key1);
	ck_assert_int_eq(
		type,
		SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
	LOG_HAS("share: promote: reserved the LUN with key 0x%016" PRIx64,
		key1);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_RUNNING);
	{
		struct cmsd_storage_status st = {.size = sizeof(st)};
		ck_assert_int_eq(call_args(n1, OP_STATUS, &st), 0);
		ck_assert_int_eq(st.role, CMSD_ROLE_PRIMARY);
		ck_assert_msg(strstr(st.holder, "(this node)"), "%s",
			      st.holder);
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		/* Status tells what the last command saw: the monitor. */
		ck_assert_int_eq(call(n2, OP_MONITOR), CMSD_RUNNING);
		ck_assert_int_eq(call_args(n2, OP_STATUS, &st), 0);
		ck_assert_int_eq(st.role, CMSD_ROLE_SECONDARY);
		ck_assert_msg(strstr(st.detail, "(another node)"), "%s",
			      st.detail);
	}

	/* The nodes' kernel sessions: the master's registered with its key
	 * (what promote does with sg_persist), the slave's not. */
	k1 = sess(INIT1);
	k2 = sess(INIT2);
	ck_assert_int_eq(register_key(k1, key1), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k1), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k2), SCSI_STATUS_RESERVATION_CONFLICT);
	ck_assert_int_eq(write_status(obs), SCSI_STATUS_RESERVATION_CONFLICT);

	/* Takeover: n2 preempts n1's key; n1's writes now conflict. */
	ck_assert_int_eq(call(n2, OP_PROMOTE), 0);
	LOG_HAS("share: promote: the reservation is held by 0x%016" PRIx64
		" (another node): preempting it",
		key1);
	LOG_HAS("share: the target refuses PREEMPT AND ABORT");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key2);
	ck_assert(!key_registered(obs, key1));
	ck_assert(key_registered(obs, key2));
	ck_assert_int_eq(write_status(k1), SCSI_STATUS_RESERVATION_CONFLICT);
	ck_assert_int_eq(register_key(k2, key2), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k2), SCSI_STATUS_GOOD);

	/* The deposed master's monitor sees it was fenced (after the unit
	 * attention of the preemption, retried once). */
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_FAILED);
	LOG_HAS("share: unit attention RESERVATIONS PREEMPTED, retrying once");
	LOG_HAS("share: monitor: this node is master but the reservation "
		"holder is 0x%016" PRIx64 " (another node): fenced",
		key2);
	ck_assert_int_eq(call(n1, OP_DEMOTE), 0);
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key2); /* n1 released nothing */
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	LOG_HAS("share: stop: key 0x%016" PRIx64 " was no longer registered "
		"(preempted)",
		key1);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_STOPPED);

	/* The new master steps down: RELEASE, then unregisters on stop. */
	ck_assert_int_eq(call(n2, OP_DEMOTE), 0);
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, 0);
	ck_assert_int_eq(call(n2, OP_STOP), 0);
	LOG_HAS("share: unregistered key 0x%016" PRIx64, key2);
	unsess(k1);
	unsess(k2);
	unsess(obs);
	instance_free(n1);
	instance_free(n2);
}
END_TEST

/* A master cut off from the cluster steps down after the peer took over:
 * its demote, with no monitor in between, finds its key preempted (RELEASE
 * gets RESERVATION CONFLICT) and succeeds, leaving the peer's reservation
 * alone. */
START_TEST(demote_after_preempt)
{
	struct instance *n1 = make(1, ""), *n2 = make(2, "");
	struct iscsi_context *obs;
	uint64_t key2, holder;
	int type;

	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n2, OP_START), 0);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	ck_assert_int_eq(call(n2, OP_PROMOTE), 0);
	key2 = key_of(n2);
	ck_assert_int_eq(call(n1, OP_DEMOTE), 0);
	LOG_HAS("share: demote: key 0x%016" PRIx64 " is no longer registered "
		"(preempted by the peer): nothing to release",
		key_of(n1));
	obs = sess("iqn.2026-12.test.cmsd:observer");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key2);
	unsess(obs);
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	ck_assert_int_eq(call(n2, OP_STOP), 0);
	instance_free(n1);
	instance_free(n2);
}
END_TEST

/* A clean handover: the old master RELEASEs (no one holds the LUN), the
 * new one RESERVEs, which alone would leave the old master's key
 * registered and its kernel session writing under a registrants-only
 * reservation.  Promote preempts every other key: the old one is gone from
 * READ KEYS and its session's WRITE conflicts.  The old master, preempted
 * as a slave, registers again when it is promoted once more. */
START_TEST(clean_handover_fences_old_key)
{
	struct instance *n1 = make(1, ""), *n2 = make(2, "");
	struct iscsi_context *obs, *k1, *k2;
	uint64_t key1, key2, holder;
	int type;

	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n2, OP_START), 0);
	key1 = key_of(n1);
	key2 = key_of(n2);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	obs = sess("iqn.2026-12.test.cmsd:observer");
	/* n1's promote removed the slave's key too. */
	LOG_HAS("share: promote: removed the registration of key 0x%016" PRIx64
		" (another node's)",
		key2);
	ck_assert(key_registered(obs, key1));
	ck_assert(!key_registered(obs, key2));
	k1 = sess(INIT1);
	ck_assert_int_eq(register_key(k1, key1), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k1), SCSI_STATUS_GOOD);

	/* The handover: n1 releases, n2 reserves. */
	ck_assert_int_eq(call(n1, OP_DEMOTE), 0);
	LOG_HAS("share: released the reservation");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, 0);
	ck_assert(key_registered(obs, key1)); /* what the fence must remove */
	ck_assert_int_eq(call(n2, OP_PROMOTE), 0);
	LOG_HAS("share: promote: reserved the LUN with key 0x%016" PRIx64,
		key2);
	LOG_HAS("share: promote: removed the registration of key 0x%016" PRIx64
		" (another node's)",
		key1);
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key2);
	ck_assert_int_eq(
		type,
		SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
	ck_assert(!key_registered(obs, key1));
	ck_assert(key_registered(obs, key2));
	ck_assert_int_eq(write_status(k1), SCSI_STATUS_RESERVATION_CONFLICT);
	k2 = sess(INIT2);
	ck_assert_int_eq(register_key(k2, key2), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k2), SCSI_STATUS_GOOD);
	ck_assert_int_eq(call(n2, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_RUNNING); /* a slave */

	/* And back: n1 registers again and fences n2 (kernel session too). */
	ck_assert_int_eq(call(n2, OP_DEMOTE), 0);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key1);
	ck_assert(!key_registered(obs, key2));
	ck_assert_int_eq(write_status(k2), SCSI_STATUS_RESERVATION_CONFLICT);
	ck_assert_int_eq(register_key(k1, key1), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k1), SCSI_STATUS_GOOD);
	unsess(k1);
	unsess(k2);
	unsess(obs);
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	ck_assert_int_eq(call(n2, OP_STOP), 0);
	instance_free(n1);
	instance_free(n2);
}
END_TEST

/* WRITE EXCLUSIVE: only the holder's session writes, a registered slave
 * too gets RESERVATION CONFLICT. */
START_TEST(write_exclusive_slave_conflicts)
{
	struct instance *n1 =
		make(1, "<reservation>write-exclusive</reservation>");
	struct instance *n2 =
		make(2, "<reservation>write-exclusive</reservation>");
	struct iscsi_context *obs, *k2;
	uint64_t key1, key2, holder;
	int type;

	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n2, OP_START), 0);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	key1 = key_of(n1);
	key2 = key_of(n2);
	obs = sess("iqn.2026-12.test.cmsd:observer");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key1);
	ck_assert_int_eq(type, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE);
	k2 = sess(INIT2);
	ck_assert_int_eq(register_key(k2, key2), SCSI_STATUS_GOOD);
	ck_assert_int_eq(write_status(k2), SCSI_STATUS_RESERVATION_CONFLICT);
	unsess(k2);
	ck_assert_int_eq(call(n2, OP_STOP), 0);
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	LOG_HAS("share: unregistered key 0x%016" PRIx64, key1);
	/* n1's promote removed n2's registration (every other key goes). */
	LOG_HAS("share: stop: key 0x%016" PRIx64 " was no longer registered "
		"(preempted)",
		key2);
	ck_assert(!key_registered(obs, key1));
	unsess(obs);
	instance_free(n1);
	instance_free(n2);
}
END_TEST

/* The agent cancels a running monitor for any other op: the command in
 * flight completes into nothing, the session and its registration stay. */
START_TEST(promote_cancels_monitor)
{
	struct instance *n1 = make(1, "");
	struct iscsi_context *obs;
	struct result r = {0};
	uint64_t key1, holder;
	int type;

	ck_assert_int_eq(call(n1, OP_START), 0);
	key1 = key_of(n1);
	ck_assert_int_eq(instance_call(n1, OP_MONITOR, 5000, NULL, on_done, &r),
			 0);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.rc, -ECANCELED);
	ck_assert_uint_eq(key_of(n1), key1); /* the same session */
	ck_assert(!log_has("lost"));
	obs = sess("iqn.2026-12.test.cmsd:observer");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key1);
	unsess(obs);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_RUNNING);
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	instance_free(n1);
}
END_TEST

/* The I_T nexus number of an initiator's session, from tgtadm. */
static int nexus_of(const char *initiator)
{
	char out[8192], *p;
	int sid = -1;

	tu_sh_out(out, sizeof(out),
		  "tgtadm -C %d --lld iscsi --op show --mode target", ctrl);
	p = strstr(out, initiator);
	ck_assert_msg(p, "no session of %s:\n%s", initiator, out);
	/* The "I_T nexus: N" line before it. */
	for (char *q = out; (q = strstr(q, "I_T nexus: ")) && q < p; q++)
		sid = atoi(q + 11);
	ck_assert_int_ge(sid, 0);
	return sid;
}

/* tgt ties registrations to the session: the master's new session
 * registers its other key and preempts the dead session's one. */
START_TEST(session_drop_reregisters)
{
	struct instance *n1 = make(1, "");
	struct iscsi_context *obs;
	uint64_t key1, key1b, holder;
	int type, rc;

	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n1, OP_PROMOTE), 0);
	key1 = key_of(n1);
	ck_assert_int_eq(adm("--op delete --mode conn --tid 1 --sid %d --cid 0",
			     nexus_of(INIT1)),
			 0);
	run_for(300);
	/* The first monitor may still find the session (then the next
	 * notices it gone); within a few the session is back. */
	for (int i = 0; i < 5; i++) {
		rc = call(n1, OP_MONITOR);
		if (rc == CMSD_RUNNING && log_has("session to 127.0.0.1"))
			break;
		run_for(200);
	}
	ck_assert_int_eq(rc, CMSD_RUNNING);
	LOG_HAS("share: iSCSI session to 127.0.0.1:%d (%s) lost", port, IQN);
	key1b = key_of(n1);
	ck_assert_uint_eq(key1b, key1 ^ FLIP);
	LOG_HAS("share: removing the registration of this node's previous "
		"session (key 0x%016" PRIx64 ")",
		key1);
	obs = sess("iqn.2026-12.test.cmsd:observer");
	read_res(obs, &holder, &type);
	ck_assert_uint_eq(holder, key1b);
	ck_assert(!key_registered(obs, key1));
	ck_assert(key_registered(obs, key1b));
	unsess(obs);
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	instance_free(n1);
}
END_TEST

/* The target goes away: the monitor says FAILED (and keeps trying). */
START_TEST(target_gone_fails_monitor)
{
	struct instance *n1 = make(1, "");

	ck_assert_int_eq(call(n1, OP_START), 0);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_RUNNING);
	failed_events = 0;
	tgt_stop();
	run_for(300);
	/* The loop saw the session end outside any op: an event. */
	ck_assert_int_eq(failed_events, 1);
	LOG_HAS("share: iSCSI session to 127.0.0.1:%d (%s) lost", port, IQN);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_FAILED);
	ck_assert_int_eq(call(n1, OP_MONITOR), CMSD_FAILED);
	LOG_HAS("share: login to 127.0.0.1:%d (%s) as %s failed", port, IQN,
		INIT1);
	ck_assert_int_eq(failed_events, 1); /* the monitor said it */
	ck_assert_int_eq(call(n1, OP_STOP), 0);
	instance_free(n1);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	int rc;

	setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
	if (geteuid() != 0 || tu_sh("command -v tgtd >/dev/null && "
				    "command -v tgtadm >/dev/null") != 0) {
		printf("SKIP: test_storage_iscsi needs root and tgtd/tgtadm "
		       "(package tgt: scripts/install-deps.sh test)\n");
		return 77;
	}
	snprintf(run_dir, sizeof(run_dir), "/tmp/cmsd-iscsi-test.%d",
		 (int)getpid());
	if (mkdir(run_dir, 0700) < 0) {
		perror(run_dir);
		return EXIT_FAILURE;
	}
	s = suite_create("storage_iscsi");
	tc = tcase_create("storage_iscsi");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, register_reserve_takeover);
	tcase_add_test(tc, demote_after_preempt);
	tcase_add_test(tc, clean_handover_fences_old_key);
	tcase_add_test(tc, write_exclusive_slave_conflicts);
	tcase_add_test(tc, promote_cancels_monitor);
	tcase_add_test(tc, session_drop_reregisters);
	tcase_add_test(tc, target_gone_fails_monitor);
	suite_add_tcase(s, tc);
	rc = tu_run(s);
	/* The tests' tgtd died with them (PR_SET_PDEATHSIG); their control
	 * sockets and directories stay behind when a test failed. */
	usleep(200 * 1000);
	tu_sh("for c in '%s'/t*/ctrl; do [ -e \"$c\" ] || continue; "
	      "n=$(cat \"$c\"); rm -f /var/run/tgtd/socket.$n "
	      "/var/run/tgtd/socket.$n.lock; done; rm -rf '%s'",
	      run_dir, run_dir);
	return rc;
}
