/*
 * The running agent: its instances, their start and stop sequences, the
 * monitors, signals, reload and the status it serves.
 *
 * What runs depends on the configuration:
 *   - one node (standalone): this node is master; everything starts in
 *     configuration order and stops in reverse;
 *   - two nodes: the quorum and storage instances start (the "base"), then
 *     the cluster core (cluster.c) decides mastership and asks for the
 *     group (storage promote, resources in order) to start or stop;
 *   - arbiter mode: the arbiter instance starts.
 */
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cluster.h"
#include "conf.h"
#include "ctl.h"
#include "group.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"

/* Indexed by enum group_state. */
static const char *const slot_state_names[] = {
	"Configured", "Starting", "Started", "Stopping", "Stopped", "Failed",
};

/* UNKNOWN monitor results in a row that count as a failure. */
#define DAEMON_UNKNOWN_LIMIT 3

static const char *const health_names[] = {"RUNNING", "STOPPED", "FAILED",
					   "UNKNOWN"};

struct slot {
	struct instance *in;
	struct group_slot sq; /* its state and kind, for the sequences */
	int health;	      /* last monitor result, -1: none yet */
	unsigned unknowns;    /* UNKNOWN monitor results in a row */
	/* A storage's status, read after each monitor: the reservation
	 * holder of a shared LUN, for the status ("" none known). */
	struct cmsd_storage_status sst;
	char holder[64];
	/* Its last status that was read whole (sst is filled while the op
	 * runs): what the cluster core reads of a replicated storage. */
	struct cmsd_storage_status st;
	bool st_known;
	struct event *monitor;
	char *detail; /* shown in brackets: the VIP address */
	/* What went wrong last as the daemon saw it: a failed start or stop,
	 * or a monitor that stopped answering RUNNING.  The instance's own
	 * last error only knows ops that failed, not a STOPPED answer. */
	char error[200];
	/* The recovery policy (group.h) of a resource that runs with the
	 * group: its failures, and the pause before a held restart. */
	struct group_policy gp;
	struct group_member gm;
	struct event *restart_timer;
	unsigned restarts;  /* restarts done, for the status */
	char recovery[224]; /* the policy's last decision, for the status */
	bool fail_pending;  /* a plugin's FAILED report, acted on soon */
	bool held;	    /* waiting on restart_timer to restart */
	bool stop_only;	    /* this restart only stops (an optional member
			       that used up its restarts) */
	/* A started storage whose promote failed or was abandoned: Failed
	 * until a demote undoes it. */
	bool promote_failed;
};

/* PH_RESTARTING: one resource of a running group is being stopped and
 * started again (D.restart). */
enum daemon_phase { PH_IDLE, PH_STARTING, PH_STOPPING, PH_RESTARTING };

struct daemon {
	struct conf *conf;
	/* The tree the running instances point into, when a reload that left
	 * them alone replaced D.conf; freed with them. */
	struct conf *inst_conf;
	struct conf *next_conf; /* a reload waiting for the stop to end */
	const char *path;
	struct conf_overrides ov;
	struct slot *slots;
	size_t n_slots;
	const struct group_slot **sqv; /* each slot's sq, for group.c */
	enum daemon_phase phase;
	struct group_walk walk; /* the sequence that runs (phase) */
	bool stop_pending;	/* a group stop asked for during a start */
	bool stop_pending_vip;
	bool group_stop_failed;
	bool boot_clean;      /* the group stop before joining the cluster */
	struct slot *restart; /* PH_RESTARTING: the resource restarted */
	bool exiting;
	bool group_failed;
	char fail_reason[256]; /* which instance failed to start, and why */
	const char *role;
	char role_reason[256];
	uint64_t started_ms;
	struct ctl *ctl;
	struct event *sig[4];
	char q_line[256];	 /* the quorum plugin's status line */
	enum cmsd_event q_state; /* its last QUORUM_GAINED/LOST, or 0 */
	int exit_code;
};

static struct daemon D;

static void daemon_step(void);

static bool daemon_standalone(const struct conf *c)
{
	return c->mode == CONF_MODE_NODE && c->n_nodes == 1;
}

/* Arbiter mode and standalone clusters run their instances; a two-node
 * cluster waits for the cluster core. */
static bool daemon_runs_instances(const struct conf *c)
{
	return c->mode == CONF_MODE_ARBITER || daemon_standalone(c);
}

static const char *daemon_node_name(void)
{
	const struct conf_node *n = conf_node_by_id(D.conf, D.conf->local_node);

	return n ? n->name : D.conf->local_node;
}

static void daemon_set_role(const char *role, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void daemon_set_role(const char *role, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!D.role || strcmp(D.role, role) != 0)
		log_info("role: %s -> %s: %s", D.role ? D.role : "none", role,
			 reason);
	else if (strcmp(D.role_reason, reason) != 0)
		log_info("role: %s: %s", role, reason);
	D.role = role;
	snprintf(D.role_reason, sizeof(D.role_reason), "%s", reason);
}

/* ---- monitors ---- */

static void daemon_monitor_arm(struct slot *s)
{
	uint64_t ms = instance_conf(s->in)->monitor_interval_ms;

	if (ms && s->monitor)
		loop_timer_add(s->monitor, ms);
}

static bool daemon_recovers(const struct slot *s);
static void daemon_member_failed(struct slot *s, const char *why);
static bool daemon_storage_status(struct slot *s);

static void daemon_monitor_done(struct instance *in, enum op_kind kind, int rc,
				void *arg)
{
	struct slot *s = arg;

	(void)kind;
	if (rc == -ECANCELED)
		return; /* a start/stop took over; it re-arms if needed */
	int h = rc < 0 || rc > CMSD_UNKNOWN ? CMSD_UNKNOWN : rc;
	if (h != s->health) {
		log_info("%s: monitor: %s -> %s%s%s", instance_id(in),
			 s->health < 0 ? "none" : health_names[s->health],
			 health_names[h], rc < 0 ? ": " : "",
			 rc < 0 ? strerror(-rc) : "");
		/* Restart and failover are the group policy's job (a later
		 * issue); here the failure is recorded and shown. */
		if (h != CMSD_RUNNING && s->sq.state == GS_STARTED) {
			if (rc < 0)
				snprintf(s->error, sizeof(s->error), "%s",
					 instance_stats(in)->last_error);
			else
				snprintf(s->error, sizeof(s->error),
					 "monitor: %s while started",
					 health_names[h]);
		}
	}
	s->health = h;
	s->unknowns = h == CMSD_UNKNOWN ? s->unknowns + 1 : 0;
	if (s->sq.state != GS_STARTED)
		return;
	/* UNKNOWN is a check that could not tell (its own timeout, say):
	 * acted on only when it lasts, not at the first slow answer. */
	if (h == CMSD_UNKNOWN && s->unknowns < DAEMON_UNKNOWN_LIMIT) {
		daemon_monitor_arm(s);
		return;
	}
	if (h != CMSD_RUNNING && daemon_recovers(s)) {
		char why[200];
		snprintf(why, sizeof(why), "%s", s->error);
		daemon_member_failed(s, why);
		if (s->sq.state != GS_STARTED)
			return;
	}
	if (!daemon_storage_status(s))
		daemon_monitor_arm(s);
}

static void daemon_status_done(struct instance *in, enum op_kind kind, int rc,
			       void *arg)
{
	struct slot *s = arg;

	(void)in;
	(void)kind;
	if (rc == -ECANCELED)
		return; /* a start/stop took over; it re-arms if needed */
	if (rc == 0) {
		snprintf(s->holder, sizeof(s->holder), "%s", s->sst.holder);
		s->st = s->sst;
		s->st_known = true;
		if (cluster_running())
			cluster_storage_changed();
	}
	if (s->sq.state == GS_STARTED)
		daemon_monitor_arm(s);
}

/* After a storage's monitor: its status (no I/O for the bundled plugins)
 * for what the status shows; the monitor is armed again after it.  False
 * when the plugin has no status op or it could not be called. */
static bool daemon_storage_status(struct slot *s)
{
	if (instance_conf(s->in)->kind != CMSD_KIND_STORAGE)
		return false;
	s->sst = (struct cmsd_storage_status){.size = sizeof(s->sst)};
	return instance_call(s->in, OP_STATUS,
			     instance_conf(s->in)->monitor_timeout_ms, &s->sst,
			     daemon_status_done, s) == 0;
}

static void daemon_monitor_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;
	int rc;

	(void)fd;
	(void)what;
	if (s->sq.state != GS_STARTED)
		return;
	rc = instance_call(s->in, OP_MONITOR,
			   instance_conf(s->in)->monitor_timeout_ms, NULL,
			   daemon_monitor_done, s);
	if (rc < 0)
		daemon_monitor_arm(s); /* busy: try at the next interval */
}

/* ---- recovery: restart in place, then move the group (group.h) ---- */

static void daemon_group_stop(bool vip_first);
static bool daemon_two_node(void);
static void daemon_slot_error(struct slot *s, int rc);

/* Does the recovery policy look after s now: a resource of the group, on
 * the node that serves it, with no stop of the whole under way. */
static bool daemon_recovers(const struct slot *s)
{
	if (D.exiting || D.next_conf ||
	    instance_conf(s->in)->kind != CMSD_KIND_RESOURCE)
		return false;
	if (daemon_two_node())
		return s->sq.group && cluster_running() &&
		       cluster_role() == FSM_MASTER && !cluster_maintenance();
	return daemon_standalone(D.conf) && !D.group_failed;
}

static void daemon_restart_begin(struct slot *s);

/* Acts on the policy's verdict for s. */
static void daemon_verdict(struct slot *s, struct group_out *o, const char *why)
{
	char msg[256];

	snprintf(s->recovery, sizeof(s->recovery), "%s: %s",
		 group_verdict_name(o->verdict), o->reason);
	log_warnx("%s failed (%s): %s", instance_id(s->in), why, o->reason);
	switch (o->verdict) {
	case GROUP_RESTART:
		daemon_restart_begin(s);
		return;
	case GROUP_GIVE_UP:
		s->stop_only = true;
		daemon_restart_begin(s);
		return;
	case GROUP_MOVE:
		if (cluster_group_must_move(o->reason, msg, sizeof(msg)) == 0) {
			log_info("%s", msg);
			return;
		}
		*o = group_move_refused(&s->gm, &s->gp, msg);
		snprintf(s->recovery, sizeof(s->recovery), "%s: %s",
			 group_verdict_name(o->verdict), o->reason);
		log_warnx("%s: %s", instance_id(s->in), o->reason);
		break;
	case GROUP_HOLD:
		break;
	}
	/* HOLD: what is left of it is stopped with the restart. */
	evtimer_del(s->monitor);
	s->sq.state = GS_FAILED;
	s->sq.cleanup = true;
	s->held = true;
	loop_timer_add(s->restart_timer, o->delay_ms);
}

/* A started member of the group failed: ask the policy. */
static void daemon_member_failed(struct slot *s, const char *why)
{
	const char *peer_why = NULL;

	if (!daemon_recovers(s) || D.phase != PH_IDLE)
		return; /* a sequence runs: the next monitor tells again */
	struct group_facts f = {
		.now_ms = loop_now_ms(),
		.two_node = daemon_two_node(),
	};
	if (f.two_node) {
		f.peer_can_take = cluster_peer_can_take(&peer_why);
		f.peer_why_not = peer_why;
	}
	struct group_out o = group_on_failure(&s->gm, &s->gp, &f);
	daemon_verdict(s, &o, why);
}

static void daemon_restart_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;

	(void)fd;
	(void)what;
	if (s->fail_pending) {
		s->fail_pending = false;
		if (s->sq.state == GS_STARTED) {
			char why[200];
			snprintf(why, sizeof(why), "%s", s->error);
			daemon_member_failed(s, why);
		}
		return;
	}
	if (!s->held)
		return;
	if (!daemon_recovers(s)) {
		s->held = false;
		return;
	}
	if (D.phase != PH_IDLE) {
		loop_timer_add(s->restart_timer, 1000);
		return;
	}
	s->held = false;
	daemon_restart_begin(s);
}

/* A group stop or SIGTERM came while a restart ran: go on with it. */
static bool daemon_restart_interrupted(void)
{
	if (D.phase == PH_STOPPING) {
		daemon_step(); /* SIGTERM of a standalone node */
		return true;
	}
	if (D.stop_pending) {
		D.phase = PH_IDLE;
		daemon_group_stop(D.stop_pending_vip);
		return true;
	}
	return false;
}

static void daemon_restart_started(struct instance *in, enum op_kind kind,
				   int rc, void *arg)
{
	struct slot *s = arg;
	char why[256] = "";

	(void)kind;
	D.restart = NULL;
	if (rc == 0) {
		s->sq.state = GS_STARTED;
		s->sq.cleanup = false;
		s->health = -1;
		s->restarts++;
		group_on_restarted(&s->gm);
		log_info("restarted %s", instance_id(in));
	} else {
		s->sq.state = GS_FAILED;
		s->sq.cleanup = true;
		daemon_slot_error(s, rc);
		snprintf(why, sizeof(why), "restart: %s", s->error);
		log_warnx("%s: restart failed: %s", instance_id(in), s->error);
	}
	if (daemon_restart_interrupted())
		return;
	D.phase = PH_IDLE;
	if (rc == 0)
		daemon_monitor_arm(s);
	else
		daemon_member_failed(s, why);
}

static void daemon_restart_stopped(struct instance *in, enum op_kind kind,
				   int rc, void *arg)
{
	struct slot *s = arg;
	char why[256];

	(void)kind;
	if (rc != 0) {
		D.restart = NULL;
		s->sq.state = GS_FAILED;
		s->sq.cleanup = true;
		s->stop_only = false;
		daemon_slot_error(s, rc);
		snprintf(why, sizeof(why), "stop for the restart: %s",
			 s->error);
		log_warnx("%s: stop for the restart failed: %s",
			  instance_id(in), s->error);
		if (daemon_restart_interrupted())
			return;
		D.phase = PH_IDLE;
		daemon_member_failed(s, why);
		return;
	}
	s->sq.cleanup = false;
	if (s->stop_only) {
		s->stop_only = false;
		D.restart = NULL;
		s->sq.state = GS_FAILED;
		log_info("%s is stopped and stays stopped (optional)",
			 instance_id(in));
		if (!daemon_restart_interrupted())
			D.phase = PH_IDLE;
		return;
	}
	s->sq.state = GS_STOPPED;
	if (D.phase != PH_RESTARTING || D.stop_pending) {
		D.restart = NULL;
		daemon_restart_interrupted();
		return;
	}
	s->sq.state = GS_STARTING;
	log_info("starting %s again", instance_id(in));
	int r = instance_call(in, OP_START, instance_conf(in)->start_timeout_ms,
			      NULL, daemon_restart_started, s);
	if (r < 0)
		daemon_restart_started(in, OP_START, r, s);
}

/* Stops s and starts it again (or only stops it, s->stop_only). */
static void daemon_restart_begin(struct slot *s)
{
	D.phase = PH_RESTARTING;
	D.restart = s;
	D.stop_pending = false;
	D.stop_pending_vip = false;
	evtimer_del(s->monitor);
	s->sq.state = GS_STOPPING;
	log_info("%s %s", s->stop_only ? "stopping" : "restarting",
		 instance_id(s->in));
	int r = instance_call(s->in, OP_STOP,
			      instance_conf(s->in)->stop_timeout_ms, NULL,
			      daemon_restart_stopped, s);
	if (r < 0)
		daemon_restart_stopped(s->in, OP_STOP, r, s);
}

/* ---- start and stop sequences ---- */

/* Records why an op of s failed, in the instance's words when it has some
 * ("start: timed out after 500 ms"). */
static void daemon_slot_error(struct slot *s, int rc)
{
	const char *e = instance_stats(s->in)->last_error;

	if (*e)
		snprintf(s->error, sizeof(s->error), "%s", e);
	else
		snprintf(s->error, sizeof(s->error), "%s",
			 strerror(rc < 0 ? -rc : EIO));
}

static bool daemon_two_node(void)
{
	return D.conf->mode == CONF_MODE_NODE && D.conf->n_nodes == 2;
}

static const enum op_kind daemon_ops[] = {
	[GROUP_OP_START] = OP_START,
	[GROUP_OP_PROMOTE] = OP_PROMOTE,
	[GROUP_OP_STOP] = OP_STOP,
	[GROUP_OP_DEMOTE] = OP_DEMOTE,
};

static enum group_op daemon_group_op(enum op_kind k)
{
	switch (k) {
	case OP_PROMOTE:
		return GROUP_OP_PROMOTE;
	case OP_STOP:
		return GROUP_OP_STOP;
	case OP_DEMOTE:
		return GROUP_OP_DEMOTE;
	default:
		return GROUP_OP_START;
	}
}

/* The op that starts or stops s in the current sequence. */
static enum op_kind daemon_seq_op(const struct slot *s, bool start)
{
	return daemon_ops[group_seq_op(D.walk.seq, &s->sq, start)];
}

/* Something of the group is up (or on its way up or down). */
static bool daemon_serving(void)
{
	for (size_t i = 0; i < D.n_slots; i++) {
		const struct slot *s = &D.slots[i];
		if (s->sq.promoted || s->sq.cleanup)
			return true;
		if (s->sq.group &&
		    (s->sq.state == GS_STARTED || s->sq.state == GS_STARTING ||
		     s->sq.state == GS_STOPPING))
			return true;
	}
	return false;
}

static void daemon_group_stop(bool vip_first);

static void daemon_start_done(struct instance *in, enum op_kind kind, int rc,
			      void *arg)
{
	struct slot *s = arg;

	if (rc == 0) {
		if (kind == OP_PROMOTE) {
			log_info("promoted %s", instance_id(in));
			/* The demote before it stopped the started storage's
			 * monitor (any op cancels one in flight). */
			if (s->sq.state == GS_STARTED)
				daemon_monitor_arm(s);
		} else {
			s->sq.state = GS_STARTED;
			log_info("started %s", instance_id(in));
			daemon_monitor_arm(s);
		}
		/* What the storage looks like now, for the cluster core
		 * (promotable data, the replica), before the next op. */
		daemon_storage_status(s);
		group_started(&D.walk, &s->sq, daemon_group_op(kind), true);
		if (D.stop_pending) {
			D.phase = PH_IDLE;
			daemon_group_stop(D.stop_pending_vip);
			return;
		}
		daemon_step();
		return;
	}
	if (kind == OP_PROMOTE)
		s->sq.promoted = false;
	s->promote_failed = kind == OP_PROMOTE && s->sq.state == GS_STARTED;
	s->sq.state = GS_FAILED;
	daemon_slot_error(s, rc);
	s->sq.cleanup = kind != OP_PROMOTE || rc == -ETIMEDOUT ||
			rc == -ECANCELED || s->sq.sa_promote;
	if (kind == OP_PROMOTE && s->sq.cleanup) {
		s->sq.cleanup = false;
		s->sq.promoted = true; /* half promoted: demote with the stop */
	}
	group_started(&D.walk, &s->sq, daemon_group_op(kind), false);
	if (D.walk.seq == GROUP_SEQ_GROUP) {
		D.phase = PH_IDLE;
		if (D.stop_pending) {
			log_warnx("%s: %s abandoned (%s): stopping the group",
				  instance_id(in), op_kind_name(kind),
				  s->error);
			daemon_group_stop(D.stop_pending_vip);
			return;
		}
		log_warnx("%s: %s failed: %s", instance_id(in),
			  op_kind_name(kind), s->error);
		snprintf(D.fail_reason, sizeof(D.fail_reason), "%s: %s",
			 instance_id(in), s->error);
		cluster_group_done(FSM_EV_GROUP_START_FAILED);
		return;
	}
	log_warnx("%s: start failed: %s; stopping what was started",
		  instance_id(in), s->error);
	D.group_failed = true;
	snprintf(D.fail_reason, sizeof(D.fail_reason), "%s: %s",
		 instance_id(in), s->error);
	if (D.conf->mode == CONF_MODE_ARBITER || D.walk.seq == GROUP_SEQ_BASE) {
		log_warnx("cmsd cannot run without %s: exiting",
			  instance_id(in));
		D.exit_code = 1;
		D.exiting = true;
	}
	D.phase = PH_STOPPING;
	daemon_step();
}

static bool daemon_stop_slot(struct slot *s);

static void daemon_stop_done(struct instance *in, enum op_kind kind, int rc,
			     void *arg)
{
	struct slot *s = arg;

	if (kind == OP_DEMOTE) {
		if (rc == 0) {
			s->sq.promoted = false;
			log_info("demoted %s", instance_id(in));
			/* The demote undid a promote that failed or was
			 * abandoned (a takeover cancelled by the peer's): the
			 * storage is started again, as secondary, and
			 * monitored; Failed for good hid its status. */
			if (s->promote_failed && s->sq.state == GS_FAILED)
				s->sq.state = GS_STARTED;
			s->promote_failed = false;
			/* Still started (a node's storage stays logged in as
			 * slave): its monitor goes on; a stop that follows
			 * (standalone) stops it again. */
			if (s->sq.state == GS_STARTED)
				daemon_monitor_arm(s);
			/* A standalone storage is stopped after its demote. */
			if (D.phase == PH_STOPPING)
				group_stopped(&D.walk, &s->sq, GROUP_OP_DEMOTE,
					      true);
		} else {
			daemon_slot_error(s, rc);
			D.group_stop_failed = true;
			log_warnx("%s: demote failed: %s", instance_id(in),
				  s->error);
		}
	} else if (s->sq.cleanup) {
		/* Still held after a failed stop: the next stop tries again. */
		s->sq.cleanup = rc != 0;
		if (rc == 0 && D.boot_clean)
			log_info("%s is stopped", instance_id(in));
		else if (rc == 0)
			log_info("stopped %s (after its failed start)",
				 instance_id(in));
		else {
			D.group_stop_failed = true;
			log_warnx("%s: stop after the failed start failed: %s",
				  instance_id(in),
				  instance_stats(in)->last_error);
		}
	} else if (rc == 0) {
		s->sq.state = GS_STOPPED;
		log_info("stopped %s", instance_id(in));
	} else {
		/* Logged and kept visible; the sequence goes on so that the
		 * rest of the group is not left running. */
		s->sq.state = GS_FAILED;
		s->sq.cleanup = true;
		D.group_stop_failed = true;
		daemon_slot_error(s, rc);
		log_warnx("%s: stop failed: %s", instance_id(in), s->error);
	}
	daemon_step();
}

static void daemon_apply_reload(void);

/* Calls the stop op of s; false when it could not be called. */
static bool daemon_stop_slot(struct slot *s)
{
	enum op_kind k = daemon_seq_op(s, false);

	evtimer_del(s->monitor);
	s->held = false;
	s->fail_pending = false;
	evtimer_del(s->restart_timer);
	if (k == OP_DEMOTE)
		log_info("demoting %s", instance_id(s->in));
	else if (D.boot_clean)
		log_info("making sure %s is stopped", instance_id(s->in));
	else if (s->sq.cleanup)
		log_info("stopping %s (after its failed start)",
			 instance_id(s->in));
	else {
		s->sq.state = GS_STOPPING;
		log_info("stopping %s", instance_id(s->in));
	}
	int rc = instance_call(s->in, k, instance_conf(s->in)->stop_timeout_ms,
			       NULL, daemon_stop_done, s);
	if (rc == 0)
		return true;
	log_warnx("%s: cannot %s: %s", instance_id(s->in), op_kind_name(k),
		  strerror(-rc));
	if (k == OP_DEMOTE) {
		D.group_stop_failed = true;
	} else {
		s->sq.state = GS_FAILED;
		s->sq.cleanup = true;
		D.group_stop_failed = true;
	}
	return false;
}

static void daemon_sequence_end(bool started);

/* Runs the next step of the current sequence, or finishes it. */
static void daemon_step(void)
{
	int rc;

	if (D.phase == PH_STARTING) {
		size_t i = group_next_start(&D.walk, D.sqv, D.n_slots);
		if (i == D.n_slots) {
			D.phase = PH_IDLE;
			daemon_sequence_end(true);
			return;
		}
		struct slot *s = &D.slots[i];
		enum op_kind k = daemon_seq_op(s, true);
		static int no_force;
		if (k == OP_PROMOTE) {
			s->sq.promoted = true;
			log_info("promoting %s", instance_id(s->in));
		} else {
			s->sq.state = GS_STARTING;
			log_info("starting %s", instance_id(s->in));
		}
		/* A sequence starts it: a held restart is moot. */
		s->held = false;
		s->fail_pending = false;
		evtimer_del(s->restart_timer);
		rc = instance_call(s->in, k,
				   instance_conf(s->in)->start_timeout_ms,
				   k == OP_PROMOTE ? &no_force : NULL,
				   daemon_start_done, s);
		if (rc < 0) {
			/* -EBUSY cannot happen (instance_call cancels
			 * monitors); -EOPNOTSUPP: a plugin without the op. */
			log_warnx("%s: cannot %s: %s", instance_id(s->in),
				  op_kind_name(k), strerror(-rc));
			daemon_start_done(s->in, k, rc, s);
		}
		return;
	}
	if (D.phase == PH_STOPPING) {
		/* An urgent group stop removes the VIP before anything. */
		size_t i;
		while ((i = group_next_stop(&D.walk, D.sqv, D.n_slots)) <
		       D.n_slots) {
			if (daemon_stop_slot(&D.slots[i]))
				return;
		}
		D.phase = PH_IDLE;
		daemon_sequence_end(false);
	}
}

static void daemon_exit_base(void);
static const struct cluster_group_ops daemon_group_ops;

/* The base is up and the group stopped: the cluster core takes over. */
static void daemon_cluster_begin(void)
{
	char err[512];

	const struct slot *q = NULL;
	for (size_t i = 0; i < D.n_slots; i++)
		if (instance_conf(D.slots[i].in)->kind == CMSD_KIND_QUORUM)
			q = &D.slots[i];
	int rc = cluster_start(D.conf, q ? q->in : NULL, &daemon_group_ops, err,
			       sizeof(err));
	if (rc == 0 && *D.q_line)
		cluster_quorum_event(CMSD_EV_STATE_CHANGED, D.q_line);
	if (rc == 0 && D.q_state)
		cluster_quorum_event(D.q_state, NULL);
	if (rc < 0) {
		log_warnx("cannot start the cluster core: %s", err);
		D.exit_code = 1;
		D.exiting = true;
		group_walk_stop(&D.walk, GROUP_SEQ_BASE, D.n_slots, false);
		D.phase = PH_STOPPING;
		daemon_step();
	}
}

/* A sequence finished: a start when `started`, else a stop. */
static void daemon_sequence_end(bool started)
{
	if (D.walk.seq == GROUP_SEQ_GROUP && D.boot_clean && !D.exiting) {
		D.boot_clean = false;
		if (D.group_stop_failed)
			log_warnx("could not make sure the group is stopped "
				  "before joining the cluster; see the errors "
				  "above");
		D.group_stop_failed = false;
		daemon_cluster_begin();
		return;
	}
	if (D.walk.seq == GROUP_SEQ_GROUP) {
		D.boot_clean = false;
		if (D.exiting && !cluster_running()) {
			if (daemon_serving())
				daemon_group_stop(true);
			else
				daemon_exit_base();
			return;
		}
		if (started) {
			cluster_group_done(FSM_EV_GROUP_STARTED);
		} else {
			bool failed = D.group_stop_failed;
			D.group_stop_failed = false;
			cluster_group_done(failed ? FSM_EV_GROUP_STOP_FAILED
						  : FSM_EV_GROUP_STOPPED);
		}
		return;
	}
	if (D.exiting) {
		event_base_loopbreak(loop_base());
		return;
	}
	if (D.next_conf) {
		daemon_apply_reload();
		return;
	}
	if (D.walk.seq == GROUP_SEQ_BASE) {
		if (D.group_failed)
			return;
		/* Whatever a previous run left (a VIP after a crash) is
		 * stopped before this node joins: stopping something already
		 * stopped succeeds. */
		log_info("making sure the group is stopped before joining the "
			 "cluster");
		for (size_t i = 0; i < D.n_slots; i++) {
			struct slot *s = &D.slots[i];
			if (s->sq.group)
				s->sq.cleanup = true;
			if (s->sq.storage)
				s->sq.promoted = true;
		}
		D.boot_clean = true;
		daemon_group_stop(true);
		return;
	}
	if (started && !D.group_failed) {
		if (D.conf->mode == CONF_MODE_ARBITER)
			daemon_set_role("arbiter",
					"serving the clusters it knows");
		else
			daemon_set_role("master",
					"standalone cluster (one node): this "
					"node runs the group; there is no "
					"failover");
		return;
	}
	if (D.group_failed)
		daemon_set_role("master",
				"standalone cluster (one node), but the "
				"group failed to start (%s); what had "
				"started was stopped in reverse order. "
				"Restarts are not in this build: fix "
				"the cause and restart cmsd",
				D.fail_reason);
}

/* ---- the group, for the cluster core ---- */

static void daemon_group_start(void)
{
	if (D.phase != PH_IDLE) {
		log_warnx("group start asked while a sequence runs; ignored");
		return;
	}
	D.stop_pending = false;
	D.fail_reason[0] = '\0';
	group_walk_start(&D.walk, GROUP_SEQ_GROUP);
	D.phase = PH_STARTING;
	daemon_step();
}

static void daemon_group_cancel_start(void)
{
	if (D.phase != PH_STARTING || D.walk.seq != GROUP_SEQ_GROUP)
		return;
	D.stop_pending = true;
	for (size_t i = 0; i < D.n_slots; i++)
		if (instance_busy(D.slots[i].in) &&
		    (D.slots[i].sq.state == GS_STARTING ||
		     D.slots[i].sq.promoted))
			instance_cancel(D.slots[i].in);
}

static void daemon_group_stop(bool vip_first)
{
	if (D.phase == PH_STARTING && D.walk.seq == GROUP_SEQ_GROUP) {
		/* Finish or abandon the op in flight first. */
		D.stop_pending = true;
		D.stop_pending_vip |= vip_first;
		return;
	}
	if (D.phase == PH_RESTARTING) {
		/* The restart's op ends first; an urgent stop does not wait
		 * for a slow start: it is abandoned (what it did is stopped
		 * with the group). */
		D.stop_pending = true;
		D.stop_pending_vip |= vip_first;
		if (vip_first && D.restart)
			instance_cancel(D.restart->in);
		return;
	}
	if (D.phase == PH_STOPPING)
		return; /* already on its way down */
	D.stop_pending = false;
	D.stop_pending_vip = false;
	D.group_stop_failed = false;
	group_walk_stop(&D.walk, GROUP_SEQ_GROUP, D.n_slots, vip_first);
	D.phase = PH_STOPPING;
	daemon_step();
}

static void daemon_group_reannounce(void)
{
	/* The VIP plugin announces again when started again; a started
	 * resource-vip takes start as "re-announce". */
	for (size_t i = 0; i < D.n_slots; i++) {
		struct slot *s = &D.slots[i];
		if (s->sq.vip && s->sq.state == GS_STARTED &&
		    !instance_busy(s->in))
			instance_call(s->in, OP_START,
				      instance_conf(s->in)->start_timeout_ms,
				      NULL, daemon_monitor_done, s);
	}
}

static void daemon_group_summary(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < D.n_slots && off < len; i++) {
		const struct slot *s = &D.slots[i];
		if (!s->sq.group)
			continue;
		int n = snprintf(buf + off, len - off, "%s%s:%s",
				 off ? ";" : "", instance_id(s->in),
				 slot_state_names[s->sq.state]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* A replicated storage is one that can resync (DRBD); shared LUNs cannot.
 * The first one configured, or NULL. */
static struct slot *daemon_replica_slot(void)
{
	for (size_t i = 0; i < D.n_slots; i++) {
		struct slot *s = &D.slots[i];
		if (instance_conf(s->in)->kind == CMSD_KIND_STORAGE &&
		    instance_has_op(s->in, OP_RESYNC))
			return s;
	}
	return NULL;
}

/* Its last status; until it is started and read, an unknown copy that may
 * not be promoted.  False when no replicated storage is configured. */
static bool daemon_replica(struct cmsd_storage_status *out, const char **id)
{
	const struct slot *s = daemon_replica_slot();

	if (!s)
		return false;
	if (s->st_known && s->sq.state == GS_STARTED) {
		*out = s->st;
	} else {
		*out = (struct cmsd_storage_status){.size = sizeof(*out),
						    .sync_percent = -1,
						    .sync_eta_s = -1};
		snprintf(out->detail, sizeof(out->detail),
			 "not started or not read yet");
	}
	if (id)
		*id = instance_id(s->in);
	return true;
}

static void daemon_resync_done(struct instance *in, enum op_kind kind, int rc,
			       void *arg)
{
	struct slot *s = arg;

	(void)kind;
	if (rc < 0)
		log_warnx("%s: resync: %s", instance_id(in),
			  instance_stats(in)->last_error[0]
				  ? instance_stats(in)->last_error
				  : strerror(-rc));
	else
		log_info("%s: resync under way", instance_id(in));
	daemon_storage_status(s);
}

static int daemon_resync(bool discard_local)
{
	struct slot *s = daemon_replica_slot();
	static int discard;

	if (!s || s->sq.state != GS_STARTED)
		return -ENOENT;
	discard = discard_local;
	return instance_call(s->in, OP_RESYNC,
			     instance_conf(s->in)->start_timeout_ms, &discard,
			     daemon_resync_done, s);
}

static const struct cluster_group_ops daemon_group_ops = {
	.replica = daemon_replica,
	.resync = daemon_resync,
	.start = daemon_group_start,
	.cancel_start = daemon_group_cancel_start,
	.stop = daemon_group_stop,
	.reannounce = daemon_group_reannounce,
	.serving = daemon_serving,
	.summary = daemon_group_summary,
};

/* Two-node exit: the cluster stepped down; stop the base. */
static void daemon_exit_base(void)
{
	cluster_stop();
	group_walk_stop(&D.walk, GROUP_SEQ_BASE, D.n_slots, false);
	D.phase = PH_STOPPING;
	daemon_step();
}

static void daemon_cluster_down(void);

static void daemon_cluster_down_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	daemon_cluster_down();
}

/* From inside the cluster core's callback: act after it returned. */
static void daemon_cluster_down_soon(void)
{
	struct timeval tv = {0, 0};

	event_base_once(loop_base(), -1, EV_TIMEOUT, daemon_cluster_down_fire,
			NULL, &tv);
}

static void daemon_cluster_down(void)
{
	if (D.phase != PH_IDLE) {
		/* A group stop runs; its end calls daemon_exit_base. */
		cluster_stop();
		return;
	}
	if (daemon_serving()) {
		cluster_stop();
		daemon_group_stop(true);
		return;
	}
	daemon_exit_base();
}

/* ---- instances ---- */

static const char *daemon_event_name(enum cmsd_event ev)
{
	switch (ev) {
	case CMSD_EV_STATE_CHANGED:
		return "state changed";
	case CMSD_EV_FAILED:
		return "failed";
	case CMSD_EV_SPLIT_BRAIN:
		return "split brain";
	case CMSD_EV_QUORUM_LOST:
		return "quorum lost";
	case CMSD_EV_QUORUM_GAINED:
		return "quorum gained";
	}
	return "unknown event";
}

/* A plugin's own report.  A failure of a started instance is kept as its
 * last error and handed to the recovery policy (restart, move). */
static void daemon_instance_event(struct instance *in, enum cmsd_event ev,
				  const char *detail, void *arg)
{
	struct slot *s = arg;

	log_info("%s: event: %s%s%s", instance_id(in), daemon_event_name(ev),
		 detail ? ": " : "", detail ? detail : "");
	if (instance_conf(in)->kind == CMSD_KIND_QUORUM &&
	    D.conf->mode == CONF_MODE_NODE) {
		/* Kept for the cluster core, which may start after it. */
		if (ev == CMSD_EV_STATE_CHANGED && detail)
			snprintf(D.q_line, sizeof(D.q_line), "%s", detail);
		if (ev == CMSD_EV_QUORUM_GAINED || ev == CMSD_EV_QUORUM_LOST)
			D.q_state = ev;
		cluster_quorum_event(ev, detail);
	}
	/* A storage that says it changed (a replica lost or back, a split
	 * brain) is read at once, not at its next monitor: the cluster core
	 * decides on it. */
	if ((ev == CMSD_EV_STATE_CHANGED || ev == CMSD_EV_SPLIT_BRAIN) && s &&
	    s->sq.state == GS_STARTED)
		daemon_storage_status(s);
	if (ev == CMSD_EV_FAILED && s && s->sq.state == GS_STARTED) {
		snprintf(s->error, sizeof(s->error), "failed: %s",
			 detail ? detail : "reported by the plugin");
		/* Acted on from the loop, not from inside the plugin's own
		 * code that reported it. */
		if (daemon_recovers(s)) {
			s->fail_pending = true;
			loop_timer_add(s->restart_timer, 0);
		}
	}
}

static char *daemon_detail(const struct conf_instance *ci)
{
	const char *addr = NULL;

	/* A storage shows its mount point (the Master/Slave Set line). */
	if (ci->plugin && ci->kind == CMSD_KIND_STORAGE) {
		if (conf_plugin_ops.get_string(ci->section, "mount", NULL,
					       &addr) != 0 ||
		    !addr)
			return NULL;
		return strdup(addr);
	}
	if (!ci->plugin || strcmp(ci->plugin_name, "resource-vip") != 0)
		return NULL;
	if (conf_plugin_ops.get_string(ci->section, "address", NULL, &addr) !=
		    0 ||
	    !addr)
		return NULL;
	char *d = strdup(addr);
	if (d)
		d[strcspn(d, "/")] = '\0';
	return d;
}

static void daemon_free_slots(void)
{
	for (size_t i = D.n_slots; i-- > 0;) {
		struct slot *s = &D.slots[i];
		if (s->monitor)
			event_free(s->monitor);
		if (s->restart_timer)
			event_free(s->restart_timer);
		instance_free(s->in);
		free(s->detail);
	}
	free(D.slots);
	free(D.sqv);
	D.slots = NULL;
	D.sqv = NULL;
	D.n_slots = 0;
}

/* Creates every instance of conf; all or none. */
static int daemon_make_slots(struct conf *c, struct slot **out, size_t *n_out,
			     const struct group_slot ***sqv_out)
{
	struct slot *slots = calloc(c->n_inst ? c->n_inst : 1, sizeof(*slots));
	const struct group_slot **sqv =
		calloc(c->n_inst ? c->n_inst : 1, sizeof(*sqv));
	int rc = 0;
	size_t i;

	if (!slots || !sqv) {
		free(slots);
		free(sqv);
		return -ENOMEM;
	}
	instance_set_state_root(c->state_dir);
	instance_set_identity(c);
	for (i = 0; i < c->n_inst; i++) {
		struct slot *s = &slots[i];
		rc = instance_new(&c->inst[i], daemon_instance_event, s,
				  &s->in);
		if (rc < 0) {
			log_warnx(
				"%s: cannot create the instance of plugin %s: "
				"%s",
				c->inst[i].id, c->inst[i].plugin_name,
				rc == -EFAULT ? "the plugin crashed"
					      : strerror(-rc));
			break;
		}
		s->health = -1;
		s->monitor = evtimer_new(loop_base(), daemon_monitor_fire, s);
		s->restart_timer =
			evtimer_new(loop_base(), daemon_restart_fire, s);
		s->gp = (struct group_policy){
			.max_restarts = c->inst[i].max_restarts,
			.window_ms = c->inst[i].restart_window_ms,
			.optional = c->inst[i].optional,
		};
		group_member_init(&s->gm);
		if (c->mode == CONF_MODE_NODE && c->n_nodes == 2) {
			s->sq.group = c->inst[i].kind == CMSD_KIND_RESOURCE;
			s->sq.storage = c->inst[i].kind == CMSD_KIND_STORAGE;
		} else if (c->mode == CONF_MODE_NODE) {
			s->sq.sa_promote = c->inst[i].kind == CMSD_KIND_STORAGE;
		}
		s->sq.vip = strcmp(c->inst[i].plugin_name, "resource-vip") == 0;
		s->detail = daemon_detail(&c->inst[i]);
	}
	if (rc < 0) {
		for (size_t j = 0; j <= i && j < c->n_inst; j++)
			if (slots[j].restart_timer)
				event_free(slots[j].restart_timer);
		while (i-- > 0) {
			if (slots[i].monitor)
				event_free(slots[i].monitor);
			instance_free(slots[i].in);
			free(slots[i].detail);
		}
		free(slots);
		free(sqv);
		return rc;
	}
	for (i = 0; i < c->n_inst; i++)
		sqv[i] = &slots[i].sq;
	*out = slots;
	*n_out = c->n_inst;
	if (sqv_out)
		*sqv_out = sqv;
	else
		free(sqv);
	return 0;
}

static void daemon_begin(void)
{
	D.group_failed = false;
	D.fail_reason[0] = '\0';
	if (daemon_two_node()) {
		group_walk_start(&D.walk, GROUP_SEQ_BASE);
		D.phase = PH_STARTING;
		daemon_set_role("startup", "starting the quorum and storage");
		daemon_step();
		return;
	}
	if (daemon_runs_instances(D.conf)) {
		group_walk_start(&D.walk, GROUP_SEQ_ALL);
		D.phase = PH_STARTING;
		daemon_set_role(D.conf->mode == CONF_MODE_ARBITER ? "arbiter"
								  : "master",
				"starting the %s",
				D.conf->mode == CONF_MODE_ARBITER ? "arbiter"
								  : "group");
		daemon_step();
	} else {
		daemon_set_role("startup",
				"cluster core not built yet: waiting "
				"(heartbeats and election decide mastership; "
				"nothing is started)");
	}
}

/* ---- reload ---- */

static void daemon_reload_error(const char *msg, void *arg)
{
	(void)arg;
	log_warnx("reload: %s", msg);
}

static void daemon_apply_reload(void)
{
	struct conf *old = D.conf;
	struct slot *slots;
	const struct group_slot **sqv;
	size_t n;
	int rc;

	D.conf = D.next_conf;
	D.next_conf = NULL;
	rc = daemon_make_slots(D.conf, &slots, &n, &sqv);
	if (rc < 0) {
		/* The new instances could not be made: the old ones were
		 * stopped already, so run the old configuration again. */
		log_warnx("reload: the new configuration's instances could not "
			  "be created; starting the previous configuration "
			  "again");
		conf_free(D.conf);
		D.conf = old;
		daemon_begin();
		return;
	}
	daemon_free_slots();
	conf_free(old);
	conf_free(D.inst_conf);
	D.inst_conf = NULL;
	D.slots = slots;
	D.sqv = sqv;
	D.n_slots = n;
	log_info("reload: applied");
	daemon_begin();
}

static bool daemon_same_instances(const struct conf *a, const struct conf *b)
{
	if (a->n_inst != b->n_inst || a->mode != b->mode ||
	    a->n_nodes != b->n_nodes ||
	    strcmp(a->plugin_dir, b->plugin_dir) != 0 ||
	    strcmp(a->state_dir, b->state_dir) != 0)
		return false;
	for (size_t i = 0; i < a->n_inst; i++)
		if (!conf_instance_equal(&a->inst[i], &b->inst[i]))
			return false;
	return true;
}

/* Logs what a reload changes, instance by instance, so that the log says
 * why the group is restarted. */
static void daemon_log_changes(const struct conf *a, const struct conf *b)
{
	if (a->mode != b->mode || a->n_nodes != b->n_nodes)
		log_info("reload: cluster shape changed (%s, %zu node%s -> %s, "
			 "%zu node%s)",
			 a->mode == CONF_MODE_ARBITER ? "arbiter" : "node",
			 a->n_nodes, a->n_nodes == 1 ? "" : "s",
			 b->mode == CONF_MODE_ARBITER ? "arbiter" : "node",
			 b->n_nodes, b->n_nodes == 1 ? "" : "s");
	if (strcmp(a->plugin_dir, b->plugin_dir) != 0)
		log_info("reload: plugin-dir %s -> %s", a->plugin_dir,
			 b->plugin_dir);
	if (strcmp(a->state_dir, b->state_dir) != 0)
		log_info("reload: state-dir %s -> %s", a->state_dir,
			 b->state_dir);
	for (size_t i = 0; i < a->n_inst; i++) {
		const struct conf_instance *o = &a->inst[i];
		const struct conf_instance *n = conf_instance_by_id(b, o->id);
		if (!n)
			log_info("reload: %s %s removed", o->element, o->id);
		else if (!conf_instance_equal(o, n))
			log_info("reload: %s %s changed", o->element, o->id);
		else if (i >= b->n_inst || &b->inst[i] != n)
			log_info("reload: %s %s moved in the start order",
				 o->element, o->id);
	}
	for (size_t i = 0; i < b->n_inst; i++)
		if (!conf_instance_by_id(a, b->inst[i].id))
			log_info("reload: %s %s added (plugin %s)",
				 b->inst[i].element, b->inst[i].id,
				 b->inst[i].plugin_name);
}

static void daemon_reload(void)
{
	struct conf *c = NULL;
	int n;

	log_info("reload: reading %s", D.path);
	if (D.phase != PH_IDLE || D.next_conf) {
		log_warnx(
			"reload refused: a start or stop sequence is running; "
			"send SIGHUP again when it ends");
		return;
	}
	n = conf_load(D.path, &D.ov, daemon_reload_error, NULL, &c);
	if (n) {
		log_warnx("reload refused: %d error%s; keeping the running "
			  "configuration",
			  n, n == 1 ? "" : "s");
		return;
	}
	if (strcmp(c->control_socket, D.conf->control_socket) != 0)
		log_warnx("reload: control-socket changes take effect at the "
			  "next start");
	if (strcmp(c->log_file, D.conf->log_file) != 0) {
		int rc = log_reopen(c->log_file);
		if (rc < 0)
			log_warnx("reload: cannot open log file %s: %s",
				  c->log_file, strerror(-rc));
		else
			log_info("reload: logging to %s", c->log_file);
	}
	if (daemon_two_node() && (c->hb_interval_ms != D.conf->hb_interval_ms ||
				  c->deadtime_ms != D.conf->deadtime_ms ||
				  c->lease_ms != D.conf->lease_ms))
		log_warnx("reload: cluster timers take effect at the next "
			  "start of cmsd");
	if (daemon_two_node() && !daemon_same_instances(D.conf, c)) {
		log_warnx("reload refused: the instances of a running two-node "
			  "cluster change only with a restart of cmsd (run "
			  "`cmsadm switchover` first on the master); keeping "
			  "the running configuration");
		conf_free(c);
		return;
	}
	if (daemon_same_instances(D.conf, c)) {
		/* The instances keep running and keep pointers into the tree
		 * they were made from: keep that one alive beside the new. */
		if (!D.inst_conf)
			D.inst_conf = D.conf;
		else
			conf_free(D.conf);
		D.conf = c;
		log_info("reload: applied (instances unchanged)");
		return;
	}
	/* Refuse before stopping anything if the new instances cannot be
	 * made: create them once to check, then again after the stop. */
	struct slot *probe;
	size_t np;
	if (daemon_make_slots(c, &probe, &np, NULL) < 0) {
		log_warnx("reload refused: the new instances cannot be "
			  "created; keeping the running configuration");
		conf_free(c);
		instance_set_state_root(D.conf->state_dir);
		instance_set_identity(D.conf);
		return;
	}
	for (size_t i = np; i-- > 0;) {
		event_free(probe[i].monitor);
		event_free(probe[i].restart_timer);
		instance_free(probe[i].in);
		free(probe[i].detail);
	}
	free(probe);
	daemon_log_changes(D.conf, c);
	D.next_conf = c;
	log_info("reload: instances changed: stopping the running ones in "
		 "reverse order, then starting the new configuration");
	D.phase = PH_STOPPING;
	group_walk_stop(&D.walk, D.walk.seq, D.n_slots, false);
	daemon_step();
}

/* ---- signals ---- */

static void daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		daemon_reload();
		return;
	}
	if (D.exiting) {
		log_warnx("%s again: still stopping",
			  sig == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < D.n_slots; i++)
		n += D.slots[i].sq.state == GS_STARTED ||
		     D.slots[i].sq.state == GS_STARTING;
	log_info("%s: shutting down; %zu started instance%s to stop in "
		 "reverse order",
		 sig == SIGINT ? "SIGINT" : "SIGTERM", n, n == 1 ? "" : "s");
	D.exiting = true;
	if (D.next_conf) {
		conf_free(D.next_conf);
		D.next_conf = NULL;
	}
	if (cluster_running()) {
		/* A master hands over to the peer (or stops the group), then
		 * the base stops. */
		cluster_shutdown(daemon_cluster_down_soon);
		return;
	}
	if (D.phase != PH_IDLE) {
		/* An op of a sequence is in flight: it ends (or times out)
		 * first, and its callback goes on with the stop sequence,
		 * which ends in the exit.  Restarting the sequence here would
		 * run two ops at once. */
		if (D.phase == PH_RESTARTING)
			group_walk_stop(&D.walk, D.walk.seq, D.n_slots, false);
		D.phase = PH_STOPPING;
		return;
	}
	D.phase = PH_STOPPING;
	group_walk_stop(&D.walk, D.walk.seq, D.n_slots, false);
	daemon_step();
}

/* ---- status ---- */

/* cmsadm stop / start / maintenance on|off, and the "admin" line they
 * wait on (cluster_admin). */
static int daemon_ctl_admin(enum ctl_req req, struct sbuf *reply)
{
	static const char *const names[] = {
		[CTL_REQ_STOP] = "stop",
		[CTL_REQ_START] = "start",
		[CTL_REQ_MAINT_ON] = "maintenance on",
		[CTL_REQ_MAINT_OFF] = "maintenance off",
		[CTL_REQ_ADMIN] = "admin",
	};
	enum cluster_admin_op op;
	char msg[512];

	if (!cluster_running()) {
		sbuf_printf(reply, "%s needs a running two-node cluster%s",
			    names[req],
			    daemon_two_node() ? " (the cluster core is not "
						"running yet)"
					      : "");
		return -EINVAL;
	}
	switch (req) {
	case CTL_REQ_ADMIN:
		cluster_render_admin(reply);
		return 0;
	case CTL_REQ_STOP:
		op = CLUSTER_ADMIN_STOP;
		break;
	case CTL_REQ_START:
		op = CLUSTER_ADMIN_START;
		break;
	case CTL_REQ_MAINT_ON:
		op = CLUSTER_ADMIN_MAINT_ON;
		break;
	default:
		op = CLUSTER_ADMIN_MAINT_OFF;
		break;
	}
	int rc = cluster_admin(op, msg, sizeof(msg));
	log_info("control: %s: %s", names[req], msg);
	sbuf_printf(reply, "%s%s", msg, rc < 0 ? "" : "\n");
	return rc;
}

static int daemon_ctl(enum ctl_req req, const struct ctl_args *args,
		      struct sbuf *reply, void *arg)
{
	struct status_res *res;
	struct status_view v = {0};
	char(*peer_states)[32] = NULL;
	struct sbuf cj = {0}, aj = {0};
	bool arb = D.conf->mode == CONF_MODE_ARBITER;
	char hostname[256] = "arbiter";
	char quorum[256] = "none";

	(void)arg;
	/* An arbiter is no cluster node: it goes by its host name. */
	if (arb && gethostname(hostname, sizeof(hostname)) < 0)
		snprintf(hostname, sizeof(hostname), "arbiter");
	hostname[sizeof(hostname) - 1] = '\0';
	const char *node = arb ? hostname : daemon_node_name();
	if (req == CTL_REQ_VERSION) {
		sbuf_printf(reply, "cmsd %s (plugin ABI %d.%d)\n", CMSD_VERSION,
			    CMSD_ABI_MAJOR, CMSD_ABI_MINOR);
		return 0;
	}
	if (req == CTL_REQ_ROLE) {
		if (cluster_running())
			cluster_render_role(reply);
		else if (daemon_two_node())
			cluster_render_role_early(reply, D.conf->local_node,
						  D.boot_clean);
		else
			sbuf_printf(reply, "%s %s 0 %s\n",
				    arb ? "arbiter" : D.conf->local_node,
				    D.role ? D.role : "startup",
				    daemon_serving() ? "serving" : "idle");
		return 0;
	}
	if (req == CTL_REQ_EVENTS) {
		if (!cluster_running()) {
			sbuf_printf(reply, "no cluster events: %s",
				    arb ? "this is the arbiter"
				    : daemon_two_node()
					    ? "the cluster core is not running"
					    : "a standalone node has no "
					      "failover");
			return -EINVAL;
		}
		cluster_render_events(reply);
		return 0;
	}
	if (req == CTL_REQ_DRBD_HANDLER) {
		char msg[256];
		int code;
		int rc = cluster_drbd_handler(args->v[0], args->v[1], &code,
					      msg, sizeof(msg));
		if (rc == -EAGAIN) {
			sbuf_printf(reply, "wait %s\n", msg);
			return 0;
		}
		log_info("control: drbd-handler %s %s: %d: %s", args->v[0],
			 args->v[1], code, msg);
		sbuf_printf(reply, "%d %s\n", code, msg);
		return 0;
	}
	if (req == CTL_REQ_SWITCHOVER) {
		char msg[256];
		if (!cluster_running()) {
			sbuf_printf(reply, "switchover needs a running "
					   "two-node cluster");
			return -EINVAL;
		}
		int rc = cluster_switchover(msg, sizeof(msg));
		log_info("control: switchover: %s", msg);
		sbuf_printf(reply, "%s%s", msg, rc < 0 ? "" : "\n");
		return rc;
	}
	if (req == CTL_REQ_STOP || req == CTL_REQ_START ||
	    req == CTL_REQ_MAINT_ON || req == CTL_REQ_MAINT_OFF ||
	    req == CTL_REQ_ADMIN)
		return daemon_ctl_admin(req, reply);
	res = calloc(D.n_slots ? D.n_slots : 1, sizeof(*res));
	peer_states = calloc(D.n_slots ? D.n_slots : 1, sizeof(*peer_states));
	if (!res || !peer_states) {
		free(peer_states);
		free(res);
		sbuf_printf(reply, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < D.n_slots; i++) {
		const struct slot *s = &D.slots[i];
		const struct conf_instance *ci = instance_conf(s->in);
		const struct instance_stats *st = instance_stats(s->in);
		const struct cmsd_plugin *p = instance_plugin(s->in);
		res[i] = (struct status_res){
			.id = ci->id,
			.element = ci->element,
			.plugin = p->name,
			.version = p->version,
			.state = slot_state_names[s->sq.state],
			.node = s->sq.state == GS_STARTED ||
						s->sq.state == GS_STARTING ||
						s->sq.state == GS_STOPPING
					? node
					: NULL,
			.detail = s->detail,
			.holder = *s->holder ? s->holder : NULL,
			.replica = s->st_known &&
						   instance_has_op(s->in, OP_RESYNC) &&
						   s->sq.state == GS_STARTED
					   ? &s->st
					   : NULL,
			.health =
				s->health >= 0 ? health_names[s->health] : NULL,
			.last_error = *s->error ? s->error : st->last_error,
			.optional = ci->optional,
			.ops = st->ops,
			.timeouts = st->timeouts,
			.failures = st->failures,
			.late = st->late_completions,
			.restarts = s->restarts,
			.recent_failures =
				group_failures(&s->gm, &s->gp, loop_now_ms()),
			.recovery = s->recovery,
		};
		if (ci->kind == CMSD_KIND_QUORUM &&
		    D.conf->mode == CONF_MODE_NODE)
			snprintf(quorum, sizeof(quorum), "[%s] %s (%s)",
				 p->name, ci->id,
				 slot_state_names[s->sq.state]);
		/* A slave shows the group where it runs: on the master,
		 * as the master's last state message said. */
		if (s->sq.group && cluster_running() && !daemon_serving()) {
			const char *ps = cluster_peer_res_state(
				ci->id, peer_states[i], sizeof(peer_states[i]));
			if (ps && strcmp(ps, "Stopped") != 0 &&
			    strcmp(ps, "Configured") != 0) {
				res[i].state = ps;
				res[i].node = cluster_peer_name();
			} else if (s->sq.state == GS_CONFIGURED) {
				res[i].state = "Stopped";
			}
		}
	}
	const char *peer = NULL;
	for (size_t i = 0; i < D.conf->n_nodes; i++)
		if (strcmp(D.conf->nodes[i].id, D.conf->local_node) != 0)
			peer = D.conf->nodes[i].name;
	v = (struct status_view){
		.version = CMSD_VERSION,
		.mode = arb ? "arbiter" : "node",
		.cluster_id = D.conf->cluster_id,
		.node_id = arb ? NULL : D.conf->local_node,
		.node_name = arb ? hostname : node,
		.role = D.role,
		.role_reason = D.role_reason,
		.master_name =
			!arb && strcmp(D.role, "master") == 0 ? node : NULL,
		.slave_name = peer,
		/* No heartbeats in this build: nothing is known of the peer. */
		.slave_state = "Unknown",
		.standalone = !arb && daemon_standalone(D.conf),
		.quorum = arb ? NULL : quorum,
		.config = D.path,
		.plugin_dir = D.conf->plugin_dir,
		.uptime_s = (loop_now_ms() - D.started_ms) / 1000,
		.res = res,
		.n_res = D.n_slots,
	};
	/* A standalone node that promoted its storage is the master of the
	 * Master/Slave Set; there is no slave. */
	for (size_t i = 0; i < D.n_slots && v.standalone; i++)
		if (D.slots[i].sq.sa_promote && D.slots[i].sq.promoted) {
			v.set_master = node;
			v.set_slave = "none";
		}
	if (cluster_running()) {
		cluster_fill_view(&v);
		v.role = fsm_role_name(cluster_role());
		v.role_reason = cluster_role_reason();
		if (req == CTL_REQ_STATUS_JSON) {
			cluster_render_json(&cj);
			v.cluster_json = cj.oom ? NULL : cj.s;
			cluster_render_admin_json(&aj);
			v.admin_json = aj.oom ? NULL : aj.s;
		} else {
			cluster_render_admin_notice(&aj);
			v.admin_text = aj.oom ? NULL : aj.s;
		}
	}
	if (req == CTL_REQ_STATUS_JSON)
		ctl_render_json(&v, reply);
	else
		ctl_render_text(&v, reply);
	sbuf_free(&cj);
	sbuf_free(&aj);
	free(peer_states);
	free(res);
	return 0;
}

/* ---- run ---- */

int daemon_run(struct conf *conf, const char *path,
	       const struct conf_overrides *ov)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	bool spawn_up = false;
	char err[512];
	int rc;

	D = (struct daemon){.conf = conf, .path = path, .exit_code = 1};
	if (ov)
		D.ov = *ov;
	D.started_ms = loop_now_ms();
	signal(SIGPIPE, SIG_IGN);
	if ((rc = loop_init()) < 0 || (rc = spawn_init()) < 0) {
		log_warnx("cannot set up the event loop: %s", strerror(-rc));
		goto out;
	}
	spawn_up = true;
	rc = ctl_open(conf->control_socket, daemon_ctl, NULL, &D.ctl, err,
		      sizeof(err));
	if (rc < 0) {
		log_warnx("%s", err);
		goto out;
	}
	rc = daemon_make_slots(conf, &D.slots, &D.n_slots, &D.sqv);
	if (rc < 0) {
		log_warnx("refusing to start: not every instance could be "
			  "created (cmsd never runs half-configured)");
		goto out;
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		D.sig[i] =
			evsignal_new(loop_base(), sigs[i], daemon_signal, NULL);
		if (!D.sig[i] || evsignal_add(D.sig[i], NULL) < 0) {
			log_warnx("cannot watch signal %d", sigs[i]);
			goto out;
		}
	}
	log_info("cmsd %s running: %s mode, config %s, %zu instance%s",
		 CMSD_VERSION,
		 conf->mode == CONF_MODE_ARBITER ? "arbiter" : "node", path,
		 D.n_slots, D.n_slots == 1 ? "" : "s");
	/* From here the exit code is the run's: 0 unless a start that the
	 * mode cannot live without (the arbiter) sets 1. */
	D.exit_code = 0;
	daemon_begin();
	if (!D.exiting || D.phase != PH_IDLE)
		event_base_dispatch(loop_base());
	log_info("cmsd stopped");
out:
	cluster_stop();
	daemon_free_slots();
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (D.sig[i])
			event_free(D.sig[i]);
	ctl_close(D.ctl);
	if (spawn_up)
		spawn_shutdown();
	conf_free(D.next_conf);
	conf_free(D.conf);
	conf_free(D.inst_conf);
	/* The loop base stays: a plugin's worker thread may still call
	 * op_done() on its way out, which activates the completion event on
	 * it; the process ends right after this. */
	rc = D.exit_code;
	D = (struct daemon){0};
	return rc;
}
