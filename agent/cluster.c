/*
 * The cluster core (see cluster.h): the facts the role state machine
 * decides on are gathered here from heartbeats, the control channel, the
 * quorum provider and the clock, and its actions are carried out here.
 *
 * Quorum, in arbiter mode: the master holds a lease from the arbiter,
 * renewed every heartbeat interval and measured on this node's monotonic
 * clock from the moment the request was sent (the plugin computes
 * expires_ms so).  While the arbiter is unreachable the master may go on
 * only as long as the slave acknowledges it in its heartbeats: the slave
 * stops acknowledging the moment it declares the master dead, and waits an
 * interval and a half more before asking the arbiter, so that a master that
 * still hears the slave has stepped down first.  Two of three, as in any
 * majority: the master needs the arbiter or the peer.
 */
#include "cluster.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "epoch.h"
#include "hb.h"
#include "replica.h"

/* Replicated storages the core follows: r0 and the sync partition r1,
 * with room to spare. */
#define CLUSTER_MAX_REPLICAS 4
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "syncpart.h"
#include "wire.h"

#define CLUSTER_EVENTS 128

struct cluster_event {
	uint64_t wall_ms;
	char text[240];
};

/* The peer as last heard: heartbeats for the role and epoch, the control
 * channel for its group summary. */
struct cluster_peer {
	bool seen;
	uint64_t last_rx_ms;
	struct hb_msg hb;
	char summary[512];
	bool channel_up;
};

struct cluster_failover {
	bool valid;
	char reason[200];
	uint64_t wall_ms;	 /* when the takeover began */
	uint64_t peer_silent_ms; /* peer last heard, ms before detection */
	int64_t detected_ms, granted_ms, serving_ms; /* since began; -1 */
	uint64_t epoch;
};

struct cluster {
	const struct conf *conf;
	const struct conf_node *self, *peer_node;
	const struct cluster_group_ops *ops;
	struct instance *quorum;
	struct fsm fsm;
	enum fsm_quorum_mode mode;
	struct epoch_state es;
	uint8_t key[HB_KEY_MAX];
	size_t keylen;
	struct hb *hb;
	struct peer *ch;
	struct cluster_peer p;
	char reason[256];
	uint64_t start_ms, role_since_ms;

	/* quorum */
	struct cmsd_vote_request vreq;
	struct cmsd_vote vote;
	struct instance_vote_args vargs;
	enum op_kind q_op; /* running quorum op, or OP_START when idle */
	bool q_busy;
	bool want_vote, want_release, want_renew;
	uint64_t lease_expires_ms;
	uint64_t last_q_reply_ms;
	bool q_reachable;
	enum fsm_granted last_granted;
	uint64_t next_vote_ms;
	uint64_t peer_lost_ms;
	uint64_t quorum_since_ms; /* when the quorum became reachable */
	char quorum_line[256];
	char last_vote_reason[160];

	/* timers */
	struct event *hb_timer, *dead_timer, *lease_timer, *eval_timer;

	unsigned ticks;
	/* After a failed group start this node is no candidate for a while
	 * (its flags say "data not usable"), so that the peer takes over
	 * instead of both bouncing the group; doubles up to a minute. */
	uint64_t unfit_until_ms, unfit_backoff_ms;
	/* Replicated storage (DRBD): whether the peer's copy was current at
	 * the last read, when a split-brain reconnect may be tried again, and
	 * the highest generation the arbiter acknowledged for this node (a
	 * grant or a renewal that carried it). */
	bool rep_peer_current[CLUSTER_MAX_REPLICAS];
	/* Since when this node is a candidate (data usable, quorum); 0 not. */
	uint64_t cand_since_ms;
	uint64_t resync_next_ms[CLUSTER_MAX_REPLICAS];
	/* The split-brain heal maintenance holds back (REPLICA_A_HELD_*),
	 * per replica, 0 none: shown in status, taken when it is off. */
	unsigned heal_held[CLUSTER_MAX_REPLICAS];
	uint64_t acked_generation;
	/* A failed stop is retried with a doubling delay. */
	struct event *stop_timer;
	uint64_t stop_backoff_ms;
	bool stop_vip_first;
	bool shutting_down;
	void (*shutdown_done)(void);

	/* The operator's switches (admin.h) and the peer's last seq. */
	struct admin_state adm;
	uint64_t peer_admin_seq;

	struct cluster_failover fo;
	struct cluster_event ev[CLUSTER_EVENTS];
	size_t n_ev, ev_head;
};

static struct cluster *C;

static void cluster_eval(enum fsm_event ev);
static void cluster_admin_adopt(uint64_t flags, uint64_t seq, const char *how);
static void cluster_quorum_next(void);
static void cluster_maint_changed(void);

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- events ---- */

static void cluster_event(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void cluster_event(const char *fmt, ...)
{
	struct cluster_event *e = &C->ev[C->ev_head];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	e->wall_ms = wall_ms();
	C->ev_head = (C->ev_head + 1) % CLUSTER_EVENTS;
	if (C->n_ev < CLUSTER_EVENTS)
		C->n_ev++;
	log_info("cluster: %s", e->text);
}

/* ---- epoch ---- */

static void cluster_store_epoch(void)
{
	char err[256];

	if (epoch_store(C->conf->state_dir, &C->es, err, sizeof(err)) < 0)
		log_warnx("%s", err); /* the next store may succeed */
}

static void cluster_adopt_epoch(uint64_t e, const char *from)
{
	if (e <= C->es.epoch)
		return;
	log_info("cluster: epoch %" PRIu64 " -> %" PRIu64 " (from %s)",
		 C->es.epoch, e, from);
	C->es.epoch = e;
	cluster_store_epoch();
}

/* ---- facts ---- */

static bool cluster_peer_alive(void)
{
	return C->p.seen &&
	       loop_now_ms() - C->p.last_rx_ms < C->conf->deadtime_ms;
}

/* `cmsadm maintenance on` on either node: the switches are the same on
 * both once the peers exchanged them, but until then the node that has it
 * must not see the other heal what its operator is looking at. */
static bool cluster_maint_any(void)
{
	return C->adm.maintenance ||
	       (cluster_peer_alive() && (C->p.hb.flags & WIRE_FL_UNMANAGED));
}

static uint64_t cluster_lease_margin(void)
{
	uint64_t m = C->conf->hb_interval_ms;

	return m < C->conf->lease_ms / 4 ? m : C->conf->lease_ms / 4;
}

/* The slave's ack carries a master only while it is clearly fresher than
 * the slave's own deadtime: a master cut off from everything must be down
 * before the slave declares it dead and asks the arbiter. */
static bool cluster_ack_fresh(void)
{
	uint64_t d = C->conf->deadtime_ms, i = C->conf->hb_interval_ms;
	uint64_t window = d > 3 * i ? d - 2 * i : i;

	return C->p.seen && loop_now_ms() - C->p.last_rx_ms < window;
}

static bool cluster_fit(void)
{
	return loop_now_ms() >= C->unfit_until_ms;
}

/* The i-th replicated storage's last status, when there is one. */
static bool cluster_replica(size_t i, struct cmsd_storage_status *st,
			    const char **id)
{
	return i < CLUSTER_MAX_REPLICAS && C->ops->replica &&
	       C->ops->replica(i, st, id);
}

/* May this node's data be promoted?  Not after a failed start (for a
 * while), and with replicated storage only when every local copy is
 * current (DRBD UpToDate): never an Inconsistent or Outdated disk. */
static bool cluster_data_usable(void)
{
	struct cmsd_storage_status st;

	if (!cluster_fit())
		return false;
	for (size_t i = 0; cluster_replica(i, &st, NULL); i++)
		if (!replica_usable(&st))
			return false;
	return true;
}

/* Do the local replicas hold all the master has?  Both disks UpToDate
 * means connected and in sync; without replicated storage the data is
 * shared (or there is none), so yes. */
static bool cluster_replica_current(void)
{
	struct cmsd_storage_status st;

	for (size_t i = 0; cluster_replica(i, &st, NULL); i++)
		if (!replica_current(&st))
			return false;
	return true;
}

static bool cluster_quorum_ok(void)
{
	uint64_t now = loop_now_ms();

	if (C->mode == FSM_Q_PING)
		return C->q_reachable;
	return C->q_reachable ||
	       (C->last_q_reply_ms &&
		now - C->last_q_reply_ms < C->conf->lease_ms * 2);
}

static void cluster_facts(struct fsm_facts *f)
{
	uint64_t now = loop_now_ms();
	bool alive = cluster_peer_alive();

	*f = (struct fsm_facts){
		.mode = C->mode,
		.self_lower_id = strcmp(C->self->id, C->peer_node->id) < 0,
		.epoch = C->es.epoch,
		.generation = C->es.generation,
		.data_usable = cluster_data_usable(),
		.peer_alive = alive,
		.peer_role = alive ? (enum fsm_role)C->p.hb.role : FSM_STARTUP,
		.peer_epoch = C->p.hb.epoch,
		.peer_generation = C->p.hb.generation,
		.peer_data_usable = C->p.hb.flags & WIRE_FL_DATA_USABLE,
		.peer_quorum_ok = C->p.hb.flags & WIRE_FL_QUORUM_OK,
		.peer_acks_me = cluster_ack_fresh() &&
				(C->p.hb.flags & WIRE_FL_ACK_MASTER) &&
				C->p.hb.epoch == C->es.epoch,
		.quorum_ok = cluster_quorum_ok(),
		.lease_valid =
			C->mode == FSM_Q_ARBITER &&
			now + cluster_lease_margin() < C->lease_expires_ms,
		.last_granted = C->last_granted,
		.startup_wait_over =
			now - C->start_ms >=
			C->conf->deadtime_ms + C->conf->hb_interval_ms,
		.vote_retry_ok = now >= C->next_vote_ms && !C->q_busy,
		.admin_stopped = C->adm.stopped,
	};
	for (size_t i = 0; i < CONF_SB_MAX && i < FSM_MAX_CRITERIA; i++)
		f->policy[i] = (enum fsm_criterion)C->conf->split_brain[i];
	/* Arbiter mode: the peer that declared us dead withdrew its ack;
	 * give a master that still hears it time to step down before
	 * asking the arbiter. */
	if (C->mode == FSM_Q_ARBITER && !alive && C->peer_lost_ms &&
	    now < C->peer_lost_ms + C->conf->hb_interval_ms * 3 / 2)
		f->vote_retry_ok = false;
	/* A node whose network just came back (its quorum was gone) gives
	 * the peer its deadtime to be heard before it asks, as at start-up:
	 * the peer may well be master by now. */
	if (!alive && C->fsm.role != FSM_MASTER && C->quorum_since_ms &&
	    now < C->quorum_since_ms + C->conf->deadtime_ms +
			    C->conf->hb_interval_ms)
		f->vote_retry_ok = false;
	/* A node that has just become a candidate (its copy usable, say,
	 * when a fresh DRBD pair connects) gives the peer two heartbeats to
	 * hear it before it takes a non-candidate peer's flags as final: both
	 * became candidates in the same instant, each still read the other's
	 * old flags, and in ping mode (no arbiter to pick one) both took
	 * over (the VM bed's fresh pair). */
	bool cand = f->data_usable && f->quorum_ok;
	if (!cand)
		C->cand_since_ms = 0;
	else if (!C->cand_since_ms)
		C->cand_since_ms = now;
	if (cand && alive && !(f->peer_data_usable && f->peer_quorum_ok) &&
	    now < C->cand_since_ms + 2 * C->conf->hb_interval_ms)
		f->vote_retry_ok = false;
}

static unsigned cluster_flags(void)
{
	unsigned fl = cluster_data_usable() ? WIRE_FL_DATA_USABLE : 0;
	enum fsm_role r = C->fsm.role;

	if (cluster_peer_alive())
		fl |= WIRE_FL_PEER_ALIVE;
	if (cluster_quorum_ok())
		fl |= WIRE_FL_QUORUM_OK;
	/* The ack that lets the master ride out an arbiter outage: only a
	 * slave that hears the master gives it. */
	if (r == FSM_SLAVE && cluster_peer_alive() &&
	    (C->p.hb.role == FSM_MASTER || C->p.hb.role == FSM_TAKING_OVER))
		fl |= WIRE_FL_ACK_MASTER;
	if (C->adm.stopped)
		fl |= WIRE_FL_STOPPED;
	if (C->adm.maintenance)
		fl |= WIRE_FL_UNMANAGED;
	return fl;
}

/* ---- sending ---- */

static void cluster_send_hb(void)
{
	struct hb_msg m = {
		.role = (uint8_t)C->fsm.role,
		.flags = (uint8_t)cluster_flags(),
		.epoch = C->es.epoch,
		.generation = C->es.generation,
	};

	hb_send(C->hb, &m);
}

static void cluster_send_state(void)
{
	uint8_t buf[2048];
	char summary[512] = "";
	struct wire_buf b;

	if (!C->ch || !peer_up(C->ch))
		return;
	if (C->ops->summary)
		C->ops->summary(summary, sizeof(summary));
	wire_begin(&b, buf, sizeof(buf), WIRE_T_STATE);
	wire_put_str(&b, F_NODE, C->self->id);
	wire_put_u64(&b, F_EPOCH, C->es.epoch);
	wire_put_u64(&b, F_GENERATION, C->es.generation);
	wire_put_u64(&b, F_ROLE, C->fsm.role);
	wire_put_u64(&b, F_FLAGS, cluster_flags());
	wire_put_str(&b, F_SUMMARY, summary);
	wire_put_u64(&b, F_ADMIN_SEQ, C->adm.seq);
	int n = wire_end(&b);
	if (n > 0)
		peer_send(C->ch, buf, (size_t)n);
}

static void cluster_send_cmd(enum wire_cmd cmd)
{
	uint8_t buf[256];
	struct wire_buf b;

	if (!C->ch || !peer_up(C->ch)) {
		log_warnx("cluster: cannot send %s: the control channel to %s "
			  "is down",
			  cmd == WIRE_CMD_HANDOVER ? "handover" : "switchover",
			  C->peer_node->id);
		return;
	}
	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD);
	wire_put_str(&b, F_NODE, C->self->id);
	wire_put_u64(&b, F_CMD, cmd);
	wire_put_u64(&b, F_EPOCH, C->es.epoch);
	int n = wire_end(&b);
	if (n > 0)
		peer_send(C->ch, buf, (size_t)n);
}

/* ---- quorum ---- */

static void cluster_vote_request_fill(void)
{
	C->vreq = (struct cmsd_vote_request){
		.size = sizeof(struct cmsd_vote_request),
		.node_id = C->self->id,
		.epoch = C->es.epoch,
		.generation = C->es.generation,
		.data_usable = cluster_data_usable(),
		.peer_alive = cluster_peer_alive(),
		.lease_ms = C->conf->lease_ms,
		.peer_id = C->peer_node->id,
	};
	C->vote = (struct cmsd_vote){.size = sizeof(struct cmsd_vote)};
	C->vargs =
		(struct instance_vote_args){.req = &C->vreq, .out = &C->vote};
}

static void cluster_lease_timer_arm(void)
{
	uint64_t now = loop_now_ms(), m = cluster_lease_margin();

	if (C->lease_expires_ms > now + m)
		loop_timer_add(C->lease_timer, C->lease_expires_ms - m - now);
	else
		loop_timer_add(C->lease_timer, 0);
}

static void cluster_quorum_done(struct instance *in, enum op_kind kind, int rc,
				void *arg)
{
	uint64_t now = loop_now_ms();

	(void)in;
	(void)arg;
	if (!C)
		return; /* cancelled by cluster_stop, delivered after it */
	C->q_busy = false;
	if (rc >= 0 && kind != OP_RELEASE) {
		C->last_q_reply_ms = now;
		if (C->vote.epoch)
			cluster_adopt_epoch(C->vote.epoch, "the quorum");
		if (*C->vote.holder)
			C->last_granted =
				strcmp(C->vote.holder, C->self->id) == 0
					? FSM_G_SELF
				: strcmp(C->vote.holder, C->peer_node->id) == 0
					? FSM_G_PEER
					: C->last_granted;
		snprintf(C->last_vote_reason, sizeof(C->last_vote_reason), "%s",
			 C->vote.reason);
	}
	switch (kind) {
	case OP_REQUEST_VOTE:
		if (rc >= 0 && C->vote.granted &&
		    C->fsm.role != FSM_TAKING_OVER) {
			/* Granted after the machine backed off: give it back
			 * so that the peer need not wait for it to lapse. */
			log_info("cluster: a grant came after this node backed "
				 "off; releasing it");
			if (C->mode == FSM_Q_ARBITER)
				C->want_release = true;
			cluster_quorum_next();
			return;
		}
		if (rc >= 0 && C->vote.granted) {
			C->lease_expires_ms = C->vote.expires_ms;
			C->acked_generation = C->vreq.generation;
			if (C->mode == FSM_Q_ARBITER) {
				C->last_granted = FSM_G_SELF;
				cluster_lease_timer_arm();
			}
			cluster_quorum_next();
			cluster_eval(FSM_EV_VOTE_GRANTED);
		} else {
			/* Ask again after an interval or two, not in a loop. */
			C->next_vote_ms = now + C->conf->hb_interval_ms * 2;
			if (rc < 0)
				snprintf(C->last_vote_reason,
					 sizeof(C->last_vote_reason),
					 "no answer: %s", strerror(-rc));
			cluster_quorum_next();
			cluster_eval(FSM_EV_VOTE_DENIED);
		}
		return;
	case OP_RENEW_LEASE:
		if (rc >= 0 && C->vote.granted) {
			C->lease_expires_ms = C->vote.expires_ms;
			if (C->vreq.generation > C->acked_generation)
				C->acked_generation = C->vreq.generation;
			cluster_lease_timer_arm();
		} else if (rc >= 0) {
			/* Refused: someone else holds it, or the arbiter
			 * forgot us.  The lease is gone now, not later. */
			log_warnx("cluster: lease renewal refused: %s",
				  C->vote.reason);
			C->lease_expires_ms = 0;
			cluster_quorum_next();
			cluster_eval(FSM_EV_TICK);
			return;
		}
		break;
	case OP_RELEASE:
		C->lease_expires_ms = 0;
		break;
	default:
		break;
	}
	cluster_quorum_next();
}

/* Runs the next wanted quorum op: the instance takes one at a time. */
static void cluster_quorum_next(void)
{
	enum op_kind k;
	void *args = &C->vargs;
	uint64_t timeout = C->conf->lease_ms * 2;

	if (C->q_busy || !C->quorum)
		return;
	if (C->want_release) {
		C->want_release = false;
		k = OP_RELEASE;
		args = NULL;
	} else if (C->want_vote) {
		C->want_vote = false;
		k = OP_REQUEST_VOTE;
		/* The arbiter may make us wait for the old lease + margin. */
		timeout = C->conf->lease_ms * 4 + C->conf->deadtime_ms;
	} else if (C->want_renew) {
		C->want_renew = false;
		k = OP_RENEW_LEASE;
		timeout = C->conf->lease_ms;
	} else {
		return;
	}
	if (k != OP_RELEASE)
		cluster_vote_request_fill();
	C->q_busy = true;
	C->q_op = k;
	int rc = instance_call(C->quorum, k, timeout, args, cluster_quorum_done,
			       NULL);
	if (rc < 0) {
		C->q_busy = false;
		if (rc != -EOPNOTSUPP)
			log_warnx("cluster: quorum %s: %s", op_kind_name(k),
				  strerror(-rc));
		if (k == OP_REQUEST_VOTE) {
			C->next_vote_ms =
				loop_now_ms() + C->conf->hb_interval_ms * 2;
			cluster_eval(FSM_EV_VOTE_DENIED);
		}
	}
}

void cluster_quorum_event(enum cmsd_event ev, const char *detail)
{
	if (!C)
		return;
	if (ev == CMSD_EV_STATE_CHANGED && detail)
		snprintf(C->quorum_line, sizeof(C->quorum_line), "%s", detail);
	if (ev == CMSD_EV_QUORUM_LOST || ev == CMSD_EV_QUORUM_GAINED) {
		bool ok = ev == CMSD_EV_QUORUM_GAINED;
		if (ok && !C->q_reachable)
			C->quorum_since_ms = loop_now_ms();
		if (ok != C->q_reachable)
			cluster_event("quorum %s%s%s",
				      ok ? "reachable" : "unreachable",
				      detail ? ": " : "", detail ? detail : "");
		C->q_reachable = ok;
		if (ok)
			loop_timer_add(C->eval_timer,
				       C->conf->deadtime_ms +
					       C->conf->hb_interval_ms + 1);
		cluster_eval(FSM_EV_TICK);
	}
}

/* ---- actions ---- */

static void cluster_failover_begin(const char *why)
{
	uint64_t now = loop_now_ms();

	C->fo = (struct cluster_failover){
		.valid = true,
		.wall_ms = wall_ms(),
		.peer_silent_ms = C->p.seen ? now - C->p.last_rx_ms : 0,
		.detected_ms = 0,
		.granted_ms = -1,
		.serving_ms = -1,
	};
	snprintf(C->fo.reason, sizeof(C->fo.reason), "%.199s", why);
	C->fo.epoch = C->es.epoch;
	/* fo.wall_ms is wall time; timeline offsets from the monotonic clock
	 * at the same moment. */
	C->fo.detected_ms = (int64_t)now;
}

static int64_t cluster_fo_since(void)
{
	return (int64_t)loop_now_ms() - C->fo.detected_ms;
}

static void cluster_split_brain_event(void)
{
	const char *why = "";
	struct fsm_facts f;

	cluster_facts(&f);
	bool win = fsm_split_brain_winner(&f, &why);
	cluster_event("split brain healed: both nodes were master; %s "
		      "(epoch %" PRIu64 ", generation %" PRIu64
		      ") and %s (epoch %" PRIu64 ", generation %" PRIu64
		      "); arbiter last granted %s; %s stays master (%s)",
		      C->self->id, C->es.epoch, C->es.generation,
		      C->peer_node->id, C->p.hb.epoch, C->p.hb.generation,
		      C->last_granted == FSM_G_SELF   ? C->self->id
		      : C->last_granted == FSM_G_PEER ? C->peer_node->id
						      : "unknown",
		      win ? C->self->id : C->peer_node->id, why);
}

static void cluster_act(unsigned a)
{
	if (a & FSM_A_CANCEL_START && C->ops->cancel_start)
		C->ops->cancel_start();
	if (a & FSM_A_STOP_GROUP) {
		if (C->fsm.stop_failed) {
			/* A stop failed: retry later, not in a loop. */
			C->stop_vip_first |= (a & FSM_A_VIP_FIRST) != 0;
			C->stop_backoff_ms = C->stop_backoff_ms
						     ? C->stop_backoff_ms * 2
						     : 1000;
			if (C->stop_backoff_ms > 30000)
				C->stop_backoff_ms = 30000;
			cluster_event("a stop failed: trying again in %" PRIu64
				      " ms; the peer may not take the data "
				      "over meanwhile",
				      C->stop_backoff_ms);
			loop_timer_add(C->stop_timer, C->stop_backoff_ms);
		} else {
			/* Remembered for cluster_serving() too. */
			C->stop_vip_first |= (a & FSM_A_VIP_FIRST) != 0;
			C->ops->stop(a & FSM_A_VIP_FIRST);
		}
	}
	if (a & FSM_A_SPLIT_BRAIN)
		cluster_split_brain_event();
	if (a & FSM_A_RELEASE_LEASE && C->mode == FSM_Q_ARBITER) {
		C->want_release = true;
		C->want_renew = false;
	}
	if (a & FSM_A_SEND_HANDOVER) {
		/* This node released for the peer: it must not ask for the
		 * vote itself before the peer acted on the handover, or the
		 * switchover bounces back. */
		C->next_vote_ms = loop_now_ms() + C->conf->deadtime_ms;
		cluster_send_cmd(WIRE_CMD_HANDOVER);
	}
	if (a & FSM_A_RESYNC) {
		struct cmsd_storage_status st;
		const char *id = NULL;
		if (cluster_replica(0, &st, &id))
			cluster_event(
				"this node lost the split brain: %s is to "
				"be resynced from %s once it is demoted%s",
				id, C->peer_node->id,
				cluster_maint_any()
					? " and maintenance mode is off "
					  "(`cmsadm maintenance off`)"
					: "");
		else
			cluster_event("this node lost the split brain: its "
				      "data is to be resynced from %s (no "
				      "replicated storage is configured: "
				      "nothing to resync)",
				      C->peer_node->id);
	}
	if (a & FSM_A_REQUEST_VOTE) {
		C->want_vote = true;
		if (!C->fo.valid || C->fo.serving_ms >= 0 ||
		    C->fo.granted_ms >= 0)
			cluster_failover_begin(C->reason);
	}
	if (a & FSM_A_RAISE_EPOCH) {
		uint64_t e = C->es.epoch > C->p.hb.epoch ? C->es.epoch
							 : C->p.hb.epoch;
		C->es.epoch = e + 1;
		cluster_store_epoch();
	}
	if (a & FSM_A_START_GROUP) {
		/* Without replicated storage the generation models one: a
		 * new master starts a new generation above every one it
		 * knows. */
		uint64_t g = C->es.generation > C->p.hb.generation
				     ? C->es.generation
				     : C->p.hb.generation;
		C->es.generation = g + 1;
		cluster_store_epoch();
		if (C->fo.valid && C->fo.granted_ms < 0)
			C->fo.granted_ms = cluster_fo_since();
		C->fo.epoch = C->es.epoch;
		C->ops->start();
	}
	if (a & FSM_A_REANNOUNCE && C->ops->reannounce)
		C->ops->reannounce();
	cluster_quorum_next();
}

static void cluster_eval(enum fsm_event ev)
{
	struct fsm_facts f;
	enum fsm_role before = C->fsm.role;

	cluster_facts(&f);
	struct fsm_out out = fsm_step(&C->fsm, &f, ev);
	if (out.reason)
		snprintf(C->reason, sizeof(C->reason), "%s", out.reason);
	if (out.role != before) {
		uint64_t now = loop_now_ms();
		cluster_event(
			"role %s -> %s after %" PRIu64 " ms: %s%s%s",
			fsm_role_name(before), fsm_role_name(out.role),
			now - C->role_since_ms,
			out.reason ? out.reason : fsm_event_name(ev),
			*C->last_vote_reason && (ev == FSM_EV_VOTE_GRANTED ||
						 ev == FSM_EV_VOTE_DENIED)
				? "; quorum: "
				: "",
			*C->last_vote_reason && (ev == FSM_EV_VOTE_GRANTED ||
						 ev == FSM_EV_VOTE_DENIED)
				? C->last_vote_reason
				: "");
		C->role_since_ms = now;
		if (out.role == FSM_MASTER && C->fo.valid &&
		    C->fo.serving_ms < 0)
			C->fo.serving_ms = cluster_fo_since();
	}
	if (out.actions)
		cluster_act(out.actions);
	if (out.role != before) {
		cluster_send_hb();
		cluster_send_state();
	}
	if (C->shutting_down && !C->ops->serving() &&
	    out.role != FSM_TAKING_OVER && out.role != FSM_STEPPING_DOWN &&
	    out.role != FSM_MASTER && C->shutdown_done) {
		void (*done)(void) = C->shutdown_done;
		C->shutdown_done = NULL;
		done();
	}
}

void cluster_group_done(enum fsm_event ev)
{
	uint64_t now = loop_now_ms();

	if (!C)
		return;
	if (ev == FSM_EV_GROUP_START_FAILED) {
		C->unfit_backoff_ms =
			C->unfit_backoff_ms ? C->unfit_backoff_ms * 2 : 5000;
		if (C->unfit_backoff_ms > 60000)
			C->unfit_backoff_ms = 60000;
		C->unfit_until_ms = now + C->unfit_backoff_ms;
		cluster_event("the group failed to start here: no candidate "
			      "for %" PRIu64 " ms, so that %s can take over",
			      C->unfit_backoff_ms, C->peer_node->id);
		loop_timer_add(C->eval_timer, C->unfit_backoff_ms + 1);
	} else if (ev == FSM_EV_GROUP_STARTED) {
		C->unfit_backoff_ms = 0;
	} else if (ev == FSM_EV_GROUP_STOPPED) {
		C->stop_backoff_ms = 0;
		C->stop_vip_first = false;
	}
	cluster_eval(ev);
}

static void cluster_stop_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (C->fsm.role == FSM_STEPPING_DOWN)
		C->ops->stop(C->stop_vip_first);
}

/* ---- timers and input ---- */

static void cluster_hb_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cluster_send_hb();
	/* The group summary changes without role changes (a monitor): the
	 * peer's status is refreshed every few intervals. */
	if (++C->ticks % 5 == 0)
		cluster_send_state();
	enum fsm_role r = C->fsm.role;
	if (C->mode == FSM_Q_ARBITER &&
	    (r == FSM_MASTER || (r == FSM_TAKING_OVER && C->fsm.starting) ||
	     (r == FSM_STEPPING_DOWN && C->fsm.stop_failed)))
		C->want_renew = true;
	cluster_quorum_next();
	cluster_eval(FSM_EV_TICK);
	loop_timer_add(C->hb_timer, C->conf->hb_interval_ms);
}

static void cluster_dead_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (cluster_peer_alive()) {
		loop_timer_add(C->dead_timer, C->p.last_rx_ms +
						      C->conf->deadtime_ms -
						      loop_now_ms());
		return;
	}
	C->peer_lost_ms = loop_now_ms();
	/* No heal without the peer (replica_decide): nothing is pending. */
	memset(C->heal_held, 0, sizeof(C->heal_held));
	if (C->fsm.role == FSM_MASTER) {
		/* What the master writes from now on is not on the peer:
		 * a new generation, which the next renewal tells the
		 * arbiter (DRBD makes a new current UUID the same way). */
		C->es.generation++;
		cluster_store_epoch();
	}
	cluster_event("peer %s silent for %" PRIu64 " ms (deadtime %" PRIu64
		      " ms); it was %s",
		      C->peer_node->id, loop_now_ms() - C->p.last_rx_ms,
		      C->conf->deadtime_ms,
		      fsm_role_name((enum fsm_role)C->p.hb.role));
	cluster_send_hb(); /* the ack is withdrawn now */
	cluster_eval(FSM_EV_TICK);
	/* Re-evaluate once the ack withdrawal had time to reach the peer. */
	loop_timer_add(C->eval_timer, C->conf->hb_interval_ms * 3 / 2 + 1);
}

static void cluster_eval_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cluster_eval(FSM_EV_TICK);
}

static void cluster_lease_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* The lease is within its margin of the end: the machine decides
	 * whether the peer's acknowledgement still carries this node. */
	cluster_eval(FSM_EV_TICK);
}

static void cluster_hb_recv(const struct hb_msg *m, void *arg)
{
	bool was_alive = cluster_peer_alive();
	bool was_maint = cluster_maint_any();
	bool changed = !C->p.seen || m->role != C->p.hb.role ||
		       m->flags != C->p.hb.flags || m->epoch != C->p.hb.epoch;

	(void)arg;
	C->p.hb = *m;
	C->p.seen = true;
	C->p.last_rx_ms = loop_now_ms();
	loop_timer_add(C->dead_timer, C->conf->deadtime_ms);
	if (!was_alive) {
		C->peer_lost_ms = 0;
		cluster_event("peer %s heard (%s, epoch %" PRIu64 ")",
			      C->peer_node->id,
			      fsm_role_name((enum fsm_role)m->role), m->epoch);
	}
	/* A slave follows the master's epoch, and its replica the master's
	 * data generation (a synchronous replica has what the master has;
	 * a DRBD replica only while both disks are UpToDate).
	 * A peer still taking over counts too: it raised its generation when
	 * it began the group start, and what that start wrote (a database
	 * initialised on the shared LUN, say) reached this replica as well;
	 * if the start then fails, this node must not look older than data
	 * it holds, or the arbiter would never let it take over. */
	if (C->fsm.role != FSM_MASTER && C->fsm.role != FSM_TAKING_OVER &&
	    (m->role == FSM_MASTER || m->role == FSM_TAKING_OVER))
		cluster_adopt_epoch(m->epoch, C->peer_node->id);
	if (C->fsm.role == FSM_SLAVE && cluster_replica_current() &&
	    (m->role == FSM_MASTER || (m->role == FSM_TAKING_OVER &&
				       m->generation > C->es.generation)) &&
	    m->epoch >= C->es.epoch && m->generation != C->es.generation) {
		C->es.generation = m->generation;
		cluster_store_epoch();
	}
	if (was_maint != cluster_maint_any())
		cluster_maint_changed();
	if (changed || !was_alive)
		cluster_eval(FSM_EV_TICK);
}

/* ---- control channel ---- */

static void cluster_peer_hello(struct wire_buf *b, void *arg)
{
	(void)arg;
	wire_put_u64(b, F_EPOCH, C->es.epoch);
	wire_put_u64(b, F_GENERATION, C->es.generation);
	wire_put_u64(b, F_ROLE, C->fsm.role);
}

static void cluster_peer_link(const struct wire_msg *hello, void *arg)
{
	(void)arg;
	C->p.channel_up = hello != NULL;
	cluster_event("control channel to %s %s", C->peer_node->id,
		      hello ? "up" : "down");
	if (hello)
		cluster_send_state();
}

static void cluster_peer_msg(const struct wire_msg *m, void *arg)
{
	uint64_t v, seq, fl;

	(void)arg;
	switch (m->type) {
	case WIRE_T_STATE:
		if (wire_get_str(m, F_SUMMARY, C->p.summary,
				 sizeof(C->p.summary)) < 0)
			C->p.summary[0] = '\0';
		if (wire_get_u64(m, F_ADMIN_SEQ, &seq) == 0 &&
		    wire_get_u64(m, F_FLAGS, &v) == 0)
			cluster_admin_adopt(v, seq, "state");
		return;
	case WIRE_T_CMD:
		if (wire_get_u64(m, F_CMD, &v) < 0)
			return;
		if (v == WIRE_CMD_HANDOVER) {
			cluster_event("%s handed mastership over",
				      C->peer_node->id);
			cluster_eval(FSM_EV_HANDOVER);
		} else if (v == WIRE_CMD_SWITCHOVER) {
			cluster_event("%s asked for a switchover",
				      C->peer_node->id);
			cluster_eval(FSM_EV_SWITCHOVER);
		} else if (v >= WIRE_CMD_SYNCPART_FACTS &&
			   v <= WIRE_CMD_SYNCPART_RESTART) {
			syncpart_peer_cmd(m);
		} else if (v >= WIRE_CMD_STOP &&
			   v <= WIRE_CMD_MAINTENANCE_OFF &&
			   wire_get_u64(m, F_ADMIN_SEQ, &seq) == 0 &&
			   wire_get_u64(m, F_FLAGS, &fl) == 0) {
			cluster_admin_adopt(fl, seq, "command");
		}
		return;
	case WIRE_T_CMD_REPLY:
		syncpart_peer_reply(m);
		return;
	default:
		return;
	}
}

bool cluster_peer_channel_up(void)
{
	return C && C->ch && peer_up(C->ch);
}

int cluster_peer_send(const void *frame, size_t len)
{
	if (!cluster_peer_channel_up())
		return -ENOTCONN;
	return peer_send(C->ch, frame, len);
}

/* ---- public ---- */

int cluster_start(const struct conf *c, struct instance *quorum,
		  const struct cluster_group_ops *ops, char *err, size_t errlen)
{
	int rc;

	if (C)
		return -EALREADY;
	C = calloc(1, sizeof(*C));
	if (!C)
		return -ENOMEM;
	C->conf = c;
	C->ops = ops;
	C->quorum = quorum;
	C->self = conf_node_by_id(c, c->local_node);
	for (size_t i = 0; i < c->n_nodes; i++)
		if (&c->nodes[i] != C->self)
			C->peer_node = &c->nodes[i];
	if (!C->self || !C->peer_node) {
		snprintf(err, errlen,
			 "a two-node cluster needs this node and "
			 "its peer in <cluster>");
		rc = -EINVAL;
		goto fail;
	}
	C->mode = quorum && strcmp(instance_plugin(quorum)->name,
				   "quorum-ping") == 0
			  ? FSM_Q_PING
			  : FSM_Q_ARBITER;
	snprintf(C->quorum_line, sizeof(C->quorum_line), "[%s] %s",
		 quorum ? instance_plugin(quorum)->name : "none",
		 quorum ? instance_id(quorum) : "");
	rc = epoch_load(c->state_dir, &C->es, err, errlen);
	if (rc < 0)
		goto fail;
	rc = hb_key_load(c->key_file, C->key, &C->keylen, err, errlen);
	if (rc < 0)
		goto fail;
	rc = admin_load(c->state_dir, &C->adm, err, errlen);
	if (rc < 0)
		goto fail;
	fsm_init(&C->fsm);
	C->start_ms = C->role_since_ms = loop_now_ms();
	C->hb_timer = evtimer_new(loop_base(), cluster_hb_fire, NULL);
	C->dead_timer = evtimer_new(loop_base(), cluster_dead_fire, NULL);
	C->lease_timer = evtimer_new(loop_base(), cluster_lease_fire, NULL);
	C->eval_timer = evtimer_new(loop_base(), cluster_eval_fire, NULL);
	C->stop_timer = evtimer_new(loop_base(), cluster_stop_fire, NULL);
	if (!C->hb_timer || !C->dead_timer || !C->lease_timer ||
	    !C->eval_timer || !C->stop_timer) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = hb_open(c, C->key, C->keylen, cluster_hb_recv, NULL, &C->hb, err,
		     errlen);
	if (rc < 0)
		goto fail;
	static const struct peer_cb cb = {
		.link = cluster_peer_link,
		.msg = cluster_peer_msg,
		.hello = cluster_peer_hello,
	};
	rc = peer_open(c, &cb, &C->ch, err, errlen);
	if (rc < 0)
		goto fail;
	snprintf(C->reason, sizeof(C->reason),
		 "waiting for %s or, after %" PRIu64 " ms, the quorum",
		 C->peer_node->id, c->deadtime_ms + c->hb_interval_ms);
	cluster_event("started: epoch %" PRIu64 ", generation %" PRIu64
		      ", %s mode, heartbeat %" PRIu64 " ms, deadtime %" PRIu64
		      " ms, lease %" PRIu64 " ms",
		      C->es.epoch, C->es.generation,
		      C->mode == FSM_Q_PING ? "ping" : "arbiter",
		      c->hb_interval_ms, c->deadtime_ms, c->lease_ms);
	if (C->adm.stopped)
		cluster_event(
			"HA was stopped by the operator (%s/admin.state): "
			"this node does not become master until `cmsadm "
			"start`",
			c->state_dir);
	if (C->adm.maintenance)
		cluster_event("maintenance mode is on (%s/admin.state): "
			      "resource failures are not acted on",
			      c->state_dir);
	cluster_send_hb();
	loop_timer_add(C->hb_timer, c->hb_interval_ms);
	/* The start-up wait: the peer had its deadtime to show itself. */
	loop_timer_add(C->eval_timer, c->deadtime_ms + c->hb_interval_ms + 1);
	return 0;
fail:
	cluster_stop();
	return rc;
}

bool cluster_running(void)
{
	return C != NULL;
}

void cluster_stop(void)
{
	if (!C)
		return;
	/* A quorum op in flight (a lease release while stepping down, say)
	 * writes into C: it ends now, and the base's stop of the quorum
	 * instance that follows does not find it busy. */
	if (C->q_busy && C->quorum)
		instance_cancel(C->quorum);
	if (C->ch)
		peer_close(C->ch);
	if (C->hb)
		hb_close(C->hb);
	struct event *t[] = {C->hb_timer, C->dead_timer, C->lease_timer,
			     C->eval_timer, C->stop_timer};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i])
			event_free(t[i]);
	memset(C->key, 0, sizeof(C->key));
	free(C);
	C = NULL;
}

void cluster_shutdown(void (*done)(void))
{
	if (!C) {
		done();
		return;
	}
	C->shutting_down = true;
	C->shutdown_done = done;
	if (C->fsm.role == FSM_MASTER) {
		struct fsm_facts f;
		cluster_facts(&f);
		/* Hand over when the peer can take over; else just stop. */
		struct fsm_out o = fsm_step(&C->fsm, &f, FSM_EV_SWITCHOVER);
		if (o.result == 0) {
			cluster_event("shutting down: handing over to %s",
				      C->peer_node->id);
			cluster_act(o.actions);
			return;
		}
		cluster_event("shutting down as master; %s cannot take over "
			      "(%s): stopping the group",
			      C->peer_node->id, o.reason ? o.reason : "?");
		cluster_eval(FSM_EV_LEASE_LOST);
		return;
	}
	cluster_eval(FSM_EV_TICK);
}

/* ---- replicated storage ---- */

static void cluster_replica_changed(size_t i)
{
	struct cmsd_storage_status st;
	const char *id = "storage";
	uint64_t now;

	if (!cluster_replica(i, &st, &id))
		return;
	now = loop_now_ms();
	enum fsm_role r = C->fsm.role;
	enum fsm_role pr = (enum fsm_role)C->p.hb.role;
	struct replica_facts f = {
		.serving = r == FSM_MASTER || r == FSM_TAKING_OVER,
		.slave = r == FSM_SLAVE,
		.peer_alive = cluster_peer_alive(),
		.peer_master = pr == FSM_MASTER,
		.peer_slave = pr == FSM_SLAVE,
		.was_peer_current = C->rep_peer_current[i],
		.resync_due = now >= C->resync_next_ms[i],
		.maintenance = cluster_maint_any(),
	};
	if (f.slave && f.peer_slave && replica_split(&st)) {
		struct fsm_facts x;
		cluster_facts(&x);
		f.policy_winner = fsm_split_brain_winner(&x, NULL);
	}
	unsigned a = replica_decide(&st, &f);
	C->rep_peer_current[i] = replica_peer_current(&st);
	if (a & REPLICA_A_NEW_GENERATION) {
		/* What is written from now on is not on the peer: a new
		 * generation, told to the arbiter at once, so that the peer
		 * can never be granted with the copy it has. */
		C->es.generation++;
		cluster_store_epoch();
		cluster_event(
			"%s: the replica on %s is no longer current (its "
			"disk %s, connection %s): data generation %" PRIu64,
			id, C->peer_node->id,
			*st.peer_disk ? st.peer_disk : "unknown",
			*st.connection ? st.connection : "unknown",
			C->es.generation);
		if (C->mode == FSM_Q_ARBITER) {
			C->want_renew = true;
			cluster_quorum_next();
		}
	}
	/* In maintenance the heal waits, said once when it becomes pending
	 * (or changes: the peer became master meanwhile, say). */
	unsigned held = a & (REPLICA_A_HELD_DISCARD | REPLICA_A_HELD_RECONNECT);
	if (held && held != C->heal_held[i])
		cluster_event(
			"split brain on %s: maintenance mode is on, so it is "
			"not healed now: this node would %s %s (data "
			"generation %" PRIu64 "); `cmsadm maintenance off` "
			"does it",
			id,
			held == REPLICA_A_HELD_DISCARD
				? "discard its changes and resync from"
				: "keep its data and reconnect to",
			C->peer_node->id, C->es.generation);
	C->heal_held[i] = held;
	/* After a split brain DRBD stays StandAlone on both sides: once the
	 * cluster has one master again, the slave discards its changes and
	 * the master reconnects; tried again every few seconds until the
	 * replica is connected. */
	if (a & (REPLICA_A_DISCARD_LOCAL | REPLICA_A_RECONNECT)) {
		int rc;
		if (a & REPLICA_A_DISCARD_LOCAL) {
			cluster_event(
				"split brain on %s: this node's changes are "
				"discarded and resynced from %s; it had "
				"data generation %" PRIu64
				" (storage %016" PRIx64 ")%s%s",
				id, C->peer_node->id, C->es.generation,
				st.generation, *st.detail ? ", " : "",
				st.detail);
			rc = C->ops->resync(i, true);
		} else {
			cluster_event("split brain on %s: this node keeps its "
				      "data and reconnects to %s (data "
				      "generation %" PRIu64 ")%s",
				      id, C->peer_node->id, C->es.generation,
				      f.slave ? "; neither node is master: the "
						"split-brain policy chose this "
						"copy"
					      : "");
			rc = C->ops->resync(i, false);
		}
		C->resync_next_ms[i] = now + 5000;
		if (rc < 0)
			log_warnx("cluster: %s: cannot reconnect: %s", id,
				  strerror(-rc));
	}
}

void cluster_storage_changed(void)
{
	if (!C)
		return;
	for (size_t i = 0; i < CLUSTER_MAX_REPLICAS; i++)
		cluster_replica_changed(i);
	cluster_eval(FSM_EV_TICK);
}

/* Maintenance went on or off on either node: the replicas' last status is
 * decided again, so that a heal becomes pending (and shown) at once, or a
 * pending one is taken now rather than at the storage's next change. */
static void cluster_maint_changed(void)
{
	for (size_t i = 0; i < CLUSTER_MAX_REPLICAS; i++) {
		struct cmsd_storage_status st;
		const char *id = "storage";
		if (C->heal_held[i] && !cluster_maint_any() &&
		    cluster_peer_alive() && cluster_replica(i, &st, &id)) {
			C->resync_next_ms[i] = 0;
			cluster_event(
				"maintenance mode is off: the split-brain "
				"heal of %s held back is taken now",
				id);
		}
		cluster_replica_changed(i);
	}
}

int cluster_drbd_handler(const char *hook, const char *res, int *code,
			 char *msg, size_t len)
{
	*code = 1;
	if (!C) {
		snprintf(msg, len, "the cluster core is not running");
		return 0;
	}
	if (strcmp(hook, "fence-peer") != 0) {
		/* split-brain, before/after-resync-target and the like:
		 * noted; the storage plugin reads the state itself. */
		cluster_event("DRBD %s: %s", res, hook);
		*code = 0;
		snprintf(msg, len, "noted");
		return 0;
	}
	enum fsm_role r = C->fsm.role;
	if (r != FSM_MASTER && r != FSM_TAKING_OVER) {
		snprintf(msg, len,
			 "this node is %s, not master: it does not fence %s",
			 fsm_role_name(r), C->peer_node->id);
		return 0;
	}
	/* The peer is fenced when it can never be promoted with the data it
	 * has: this node's generation is above the peer's last one, and the
	 * arbiter, which grants every takeover, knows it. */
	if (C->es.generation <= C->p.hb.generation) {
		C->es.generation = C->p.hb.generation + 1;
		cluster_store_epoch();
		cluster_event("DRBD %s: fence-peer: data generation %" PRIu64
			      " (%s has %" PRIu64 ")",
			      res, C->es.generation, C->peer_node->id,
			      C->p.hb.generation);
	}
	if (C->mode == FSM_Q_PING) {
		*code = 7;
		snprintf(msg, len,
			 "ping mode: data generation %" PRIu64
			 " is above %s's %" PRIu64
			 " (no arbiter holds it: see quorum-ping-limits)",
			 C->es.generation, C->peer_node->id,
			 C->p.hb.generation);
		return 0;
	}
	if (C->acked_generation >= C->es.generation) {
		*code = 7;
		snprintf(msg, len,
			 "the arbiter holds data generation %" PRIu64
			 " for %s: %s (generation %" PRIu64
			 ") can no longer be granted",
			 C->acked_generation, C->self->id, C->peer_node->id,
			 C->p.hb.generation);
		return 0;
	}
	C->want_renew = true;
	cluster_quorum_next();
	snprintf(msg, len,
		 "waiting for the arbiter to acknowledge data generation "
		 "%" PRIu64,
		 C->es.generation);
	return -EAGAIN;
}

int cluster_switchover(char *msg, size_t len)
{
	if (!C) {
		snprintf(msg, len, "not a two-node cluster");
		return -EINVAL;
	}
	if (C->fsm.role == FSM_SLAVE && cluster_peer_alive() &&
	    C->p.hb.role == FSM_MASTER) {
		if (!C->ch || !peer_up(C->ch)) {
			snprintf(msg, len,
				 "switchover refused: the control channel to "
				 "%s is down",
				 C->peer_node->id);
			return -ENOTCONN;
		}
		cluster_send_cmd(WIRE_CMD_SWITCHOVER);
		snprintf(msg, len,
			 "switchover asked of %s: it steps down and hands "
			 "over to %s",
			 C->peer_node->id, C->self->id);
		return 0;
	}
	struct fsm_facts f;
	cluster_facts(&f);
	enum fsm_role before = C->fsm.role;
	struct fsm_out o = fsm_step(&C->fsm, &f, FSM_EV_SWITCHOVER);
	if (o.result < 0) {
		snprintf(msg, len, "switchover refused: %s",
			 o.reason ? o.reason : "not possible now");
		return o.result;
	}
	if (o.role != before) {
		cluster_event("role %s -> %s: switchover asked by the operator",
			      fsm_role_name(before), fsm_role_name(o.role));
		C->role_since_ms = loop_now_ms();
	}
	cluster_act(o.actions);
	cluster_send_hb();
	snprintf(msg, len,
		 "switchover: %s stops the group and hands over to %s",
		 C->self->id, C->peer_node->id);
	return 0;
}

bool cluster_peer_can_take(const char **why)
{
	const char *w = NULL;

	if (!C)
		w = "no cluster";
	else if (!cluster_peer_alive())
		w = "peer not alive";
	else if (C->p.hb.role != FSM_SLAVE)
		w = "peer is not slave";
	else if (!(C->p.hb.flags & WIRE_FL_DATA_USABLE))
		w = "peer data not usable";
	else if (!(C->p.hb.flags & WIRE_FL_QUORUM_OK))
		w = "peer has no quorum";
	if (why)
		*why = w;
	return !w;
}

int cluster_group_must_move(const char *why, char *msg, size_t len)
{
	if (!C) {
		snprintf(msg, len, "not a two-node cluster");
		return -EINVAL;
	}
	struct fsm_facts f;
	cluster_facts(&f);
	enum fsm_role before = C->fsm.role;
	struct fsm_out o = fsm_step(&C->fsm, &f, FSM_EV_GROUP_MUST_MOVE);
	if (o.result < 0) {
		snprintf(msg, len, "%s",
			 o.reason ? o.reason : "not possible now");
		return o.result;
	}
	if (o.role != before) {
		cluster_event("role %s -> %s: the group moves to %s: %s",
			      fsm_role_name(before), fsm_role_name(o.role),
			      C->peer_node->id, why);
		C->role_since_ms = loop_now_ms();
	}
	cluster_act(o.actions);
	cluster_send_hb();
	snprintf(msg, len, "%s stops the group and hands over to %s",
		 C->self->id, C->peer_node->id);
	return 0;
}

enum fsm_role cluster_role(void)
{
	return C ? C->fsm.role : FSM_STARTUP;
}

const char *cluster_role_reason(void)
{
	if (!C)
		return "";
	/* A slave that was slave before the stop keeps its old reason in
	 * the machine ("peer is master"); the status must say why now. */
	if (C->adm.stopped &&
	    (C->fsm.role == FSM_SLAVE || C->fsm.role == FSM_ISOLATED ||
	     C->fsm.role == FSM_STARTUP))
		return "HA stopped by the operator";
	return C->reason;
}

/* Whether this node tells that it serves (role line, status view).  A node
 * that decided to step down urgently (lease ran out, quorum lost, split
 * brain lost) removes the VIP first: from that decision on it serves no
 * client, although the rest of its group may take a while to stop (a
 * storage demote waiting for a SAN behind a cut link).  Saying "serving"
 * until the last demote ended showed two nodes serving once the peer took
 * over.  A handover stops the group in order and the peer waits for it: the
 * node serves until its stop is done.  A stop that failed left part of the
 * group running (the lease is kept, the peer waits): serving again, until a
 * retry succeeds.  ops->serving() stays what the core waits for before it
 * ends (something of the group is still up). */
static bool cluster_serving(void)
{
	if (C->fsm.role == FSM_STEPPING_DOWN && C->stop_vip_first &&
	    !C->fsm.stop_failed)
		return false;
	return C->ops->serving();
}

void cluster_render_role(struct sbuf *o)
{
	/* One word per field: "taking over" becomes "taking_over". */
	char role[32];

	snprintf(role, sizeof(role), "%s", fsm_role_name(C->fsm.role));
	for (char *c = role; *c; c++)
		if (*c == ' ')
			*c = '_';
	sbuf_printf(o, "%s %s %" PRIu64 " %s\n", C->self->id, role, C->es.epoch,
		    cluster_serving() ? "serving" : "idle");
}

/* Before the core runs (start-up, the group's clean stop). */
void cluster_render_role_early(struct sbuf *o, const char *node, bool cleaning)
{
	sbuf_printf(o, "%s startup 0 %s\n", node,
		    cleaning ? "cleaning" : "idle");
}

void cluster_render_events(struct sbuf *o)
{
	size_t first = (C->ev_head + CLUSTER_EVENTS - C->n_ev) % CLUSTER_EVENTS;

	for (size_t i = 0; i < C->n_ev; i++) {
		const struct cluster_event *e =
			&C->ev[(first + i) % CLUSTER_EVENTS];
		time_t t = (time_t)(e->wall_ms / 1000);
		struct tm tm;
		char ts[32];
		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		sbuf_printf(o, "%s.%03u %s\n", ts,
			    (unsigned)(e->wall_ms % 1000), e->text);
	}
}

void cluster_fill_view(struct status_view *v)
{
	static char master[128], slave[128];
	const char *self = C->self->name, *peer = C->peer_node->name;
	bool alive = cluster_peer_alive();
	bool self_master =
		C->fsm.role == FSM_MASTER || C->fsm.role == FSM_TAKING_OVER ||
		(C->fsm.role == FSM_STEPPING_DOWN && cluster_serving());
	bool peer_master = alive && (C->p.hb.role == FSM_MASTER ||
				     C->p.hb.role == FSM_TAKING_OVER ||
				     C->p.hb.role == FSM_STEPPING_DOWN);

	v->quorum = C->quorum_line;
	if (self_master) {
		snprintf(master, sizeof(master), "%s", self);
		snprintf(slave, sizeof(slave), "%s", peer);
		v->master_name = master;
		v->slave_name = slave;
		v->slave_state = alive ? "Online" : "Offline";
		v->set_master = master;
		v->set_slave = alive ? slave : "Unknown";
	} else if (peer_master) {
		snprintf(master, sizeof(master), "%s", peer);
		snprintf(slave, sizeof(slave), "%s", self);
		v->master_name = master;
		v->slave_name = slave;
		v->slave_state = "Online";
		v->set_master = master;
		v->set_slave = slave;
	} else {
		v->master_name = NULL;
		v->slave_name = alive ? peer : self;
		v->slave_state = "Online";
		v->set_master = NULL;
	}
}

/* The peer's state of resource id from its last STATE summary, or NULL. */
const char *cluster_peer_res_state(const char *id, char *buf, size_t len)
{
	if (!C || !cluster_peer_alive() || !*C->p.summary)
		return NULL;
	size_t n = strlen(id);
	for (const char *s = C->p.summary; s && *s;) {
		const char *e = strchr(s, ';');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l > n && strncmp(s, id, n) == 0 && s[n] == ':') {
			snprintf(buf, len, "%.*s", (int)(l - n - 1), s + n + 1);
			return buf;
		}
		s = e ? e + 1 : NULL;
	}
	return NULL;
}

const char *cluster_peer_name(void)
{
	return C ? C->peer_node->name : NULL;
}

void cluster_render_json(struct sbuf *o)
{
	uint64_t now = loop_now_ms();
	struct hb_link_stats ls[CONF_MAX_LINKS];
	size_t nl = hb_stats(C->hb, ls, CONF_MAX_LINKS);
	struct peer_stats ps;

	peer_get_stats(C->ch, &ps);
	sbuf_printf(o, "{\"epoch\":%" PRIu64 ",\"generation\":%" PRIu64 ",",
		    C->es.epoch, C->es.generation);
	sbuf_printf(o, "\"quorum_mode\":\"%s\",\"quorum_reachable\":%s,",
		    C->mode == FSM_Q_PING ? "ping" : "arbiter",
		    cluster_quorum_ok() ? "true" : "false");
	if (C->lease_expires_ms > now)
		sbuf_printf(o, "\"lease_remaining_ms\":%" PRIu64 ",",
			    C->lease_expires_ms - now);
	else
		sbuf_printf(o, "\"lease_remaining_ms\":null,");
	sbuf_printf(o, "\"last_quorum_answer\":");
	sbuf_json_str(o, C->last_vote_reason);
	sbuf_printf(o, ",\"role_since_ms\":%" PRIu64 ",",
		    now - C->role_since_ms);
	sbuf_printf(o, "\"peer\":{\"id\":");
	sbuf_json_str(o, C->peer_node->id);
	sbuf_printf(o, ",\"alive\":%s,\"role\":",
		    cluster_peer_alive() ? "true" : "false");
	sbuf_json_str(o, C->p.seen ? fsm_role_name((enum fsm_role)C->p.hb.role)
				   : NULL);
	sbuf_printf(o,
		    ",\"epoch\":%" PRIu64 ",\"generation\":%" PRIu64
		    ",\"last_heard_ms\":",
		    C->p.hb.epoch, C->p.hb.generation);
	if (C->p.seen)
		sbuf_printf(o, "%" PRIu64, now - C->p.last_rx_ms);
	else
		sbuf_printf(o, "null");
	sbuf_printf(o,
		    ",\"control_channel\":%s,\"channel_rejected\":%" PRIu64
		    ",\"channel_handshake_failures\":%" PRIu64
		    ",\"channel_last_error\":",
		    C->ch && peer_up(C->ch) ? "true" : "false", ps.rejected,
		    ps.handshake_failures);
	sbuf_json_str(o, ps.last_error);
	sbuf_printf(o, "},\"links\":[");
	for (size_t i = 0; i < nl && i < CONF_MAX_LINKS; i++) {
		const struct hb_link_stats *l = &ls[i];
		sbuf_printf(o, "%s{\"local\":", i ? "," : "");
		sbuf_json_str(o, l->local);
		sbuf_printf(o, ",\"remote\":");
		sbuf_json_str(o, l->remote);
		sbuf_printf(o,
			    ",\"up\":%s,\"sent\":%" PRIu64
			    ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
			    ",\"bad_mac\":%" PRIu64 ",\"replayed\":%" PRIu64
			    ",\"stale\":%" PRIu64 ",\"malformed\":%" PRIu64
			    ",\"wrong_sender\":%" PRIu64
			    ",\"send_errors\":%" PRIu64 "}",
			    l->up ? "true" : "false", l->sent, l->received,
			    l->lost, l->bad_mac, l->replayed, l->stale,
			    l->malformed, l->wrong_sender, l->send_errors);
	}
	sbuf_printf(o, "],\"last_failover\":");
	if (C->fo.valid) {
		sbuf_printf(o, "{\"reason\":");
		sbuf_json_str(o, C->fo.reason);
		sbuf_printf(o,
			    ",\"at_unix_ms\":%" PRIu64
			    ",\"peer_silent_before_ms\":%" PRIu64
			    ",\"granted_after_ms\":",
			    C->fo.wall_ms, C->fo.peer_silent_ms);
		if (C->fo.granted_ms >= 0)
			sbuf_printf(o, "%" PRId64, C->fo.granted_ms);
		else
			sbuf_printf(o, "null");
		sbuf_printf(o, ",\"serving_after_ms\":");
		if (C->fo.serving_ms >= 0)
			sbuf_printf(o, "%" PRId64, C->fo.serving_ms);
		else
			sbuf_printf(o, "null");
		sbuf_printf(o, ",\"epoch\":%" PRIu64 "}", C->fo.epoch);
	} else {
		sbuf_printf(o, "null");
	}
	sbuf_printf(o, ",\"events\":%zu}", C->n_ev);
}

/* ---- the operator's switches: stop/start and maintenance (admin.h) ---- */

/* Who runs the group now, as far as this node can tell; NULL: nobody. */
static const char *cluster_master_now(void)
{
	enum fsm_role r = C->fsm.role;
	enum fsm_role pr = (enum fsm_role)C->p.hb.role;

	if (r == FSM_MASTER || r == FSM_TAKING_OVER ||
	    (r == FSM_STEPPING_DOWN && C->ops->serving()))
		return C->self->id;
	if (cluster_peer_alive() &&
	    (pr == FSM_MASTER || pr == FSM_TAKING_OVER ||
	     pr == FSM_STEPPING_DOWN))
		return C->peer_node->id;
	return NULL;
}

/* Makes *next the switches: stored first (a stop that is not on disk would
 * not survive a restart of the agent), then acted on. */
static int cluster_admin_apply(const struct admin_state *next, const char *who,
			       char *err, size_t errlen)
{
	struct admin_state old = C->adm, n = *next;
	bool was_maint = cluster_maint_any();
	int rc;

	if (n.stopped && !old.stopped) {
		const char *m = cluster_master_now();
		if (m)
			snprintf(n.master, sizeof(n.master), "%s", m);
	}
	rc = admin_store(C->conf->state_dir, &n, err, errlen);
	if (rc < 0) {
		log_warnx("cluster: %s", err);
		return rc;
	}
	C->adm = n;
	if (n.stopped && !old.stopped)
		cluster_event("HA stopped by the operator (%s): the group "
			      "stops, neither node takes over until `cmsadm "
			      "start`%s%s",
			      who, *n.master ? "; master was " : "", n.master);
	if (!n.stopped && old.stopped) {
		cluster_event("HA started by the operator (%s)%s%s", who,
			      *n.master ? "; preferring the master of before, "
					: "",
			      n.master);
		/* Both nodes prefer the same one (fsm_preferred): the
		 * master of before, with the data it left. */
		if (strcmp(n.master, C->self->id) == 0)
			C->last_granted = FSM_G_SELF;
		else if (strcmp(n.master, C->peer_node->id) == 0)
			C->last_granted = FSM_G_PEER;
	}
	if (n.maintenance != old.maintenance)
		cluster_event("maintenance mode %s (%s)%s",
			      n.maintenance ? "on" : "off", who,
			      n.maintenance ? ": resource failures are shown, "
					      "not acted on (no restart, no "
					      "failover)"
					    : ": resource failures are acted "
					      "on again");
	cluster_send_hb();
	cluster_send_state();
	if (was_maint != cluster_maint_any())
		cluster_maint_changed();
	cluster_eval(FSM_EV_TICK);
	return 0;
}

/* The peer's switches (a command, or its state message): the higher seq
 * wins, so that a node that missed a change catches up. */
static void cluster_admin_adopt(uint64_t flags, uint64_t seq, const char *how)
{
	struct admin_state next = C->adm;
	char who[128], err[256];

	if (seq > C->peer_admin_seq)
		C->peer_admin_seq = seq;
	next.stopped = flags & WIRE_FL_STOPPED;
	next.maintenance = flags & WIRE_FL_UNMANAGED;
	next.seq = seq;
	if (seq < C->adm.seq)
		return;
	/* The same seq: two operators at once, one on each node.  Both
	 * nodes must end with the same switches: the lower id's win. */
	if (seq == C->adm.seq && ((next.stopped == C->adm.stopped &&
				   next.maintenance == C->adm.maintenance) ||
				  strcmp(C->self->id, C->peer_node->id) < 0))
		return;
	snprintf(who, sizeof(who), "%s of %s", how, C->peer_node->id);
	cluster_admin_apply(&next, who, err, sizeof(err));
}

static void cluster_admin_send(enum wire_cmd cmd)
{
	uint8_t buf[256];
	struct wire_buf b;

	if (!C->ch || !peer_up(C->ch))
		return; /* the state message after the reconnect carries it */
	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD);
	wire_put_str(&b, F_NODE, C->self->id);
	wire_put_u64(&b, F_CMD, cmd);
	wire_put_u64(&b, F_EPOCH, C->es.epoch);
	wire_put_u64(&b, F_FLAGS, cluster_flags());
	wire_put_u64(&b, F_ADMIN_SEQ, C->adm.seq);
	int n = wire_end(&b);
	if (n > 0)
		peer_send(C->ch, buf, (size_t)n);
}

int cluster_admin(enum cluster_admin_op op, char *msg, size_t len)
{
	static const enum wire_cmd cmds[] = {
		[CLUSTER_ADMIN_STOP] = WIRE_CMD_STOP,
		[CLUSTER_ADMIN_START] = WIRE_CMD_START,
		[CLUSTER_ADMIN_MAINT_ON] = WIRE_CMD_MAINTENANCE_ON,
		[CLUSTER_ADMIN_MAINT_OFF] = WIRE_CMD_MAINTENANCE_OFF,
	};
	struct admin_state next;
	bool channel, reach;
	char err[256];
	int rc;

	if (!C) {
		snprintf(msg, len, "not a two-node cluster");
		return -EINVAL;
	}
	next = C->adm;
	channel = C->ch && peer_up(C->ch);
	reach = channel && cluster_peer_alive();
	switch (op) {
	case CLUSTER_ADMIN_STOP:
		/* A node that missed the stop could come back alone and be
		 * master by itself: both must hear it (docs/decisions.md). */
		if (!reach) {
			snprintf(msg, len,
				 "stop refused: %s is not reachable (%s): both "
				 "nodes must record the stop, or the one that "
				 "missed it could become master alone; bring "
				 "%s back first, or stop cmsd on this node",
				 C->peer_node->name,
				 !cluster_peer_alive()
					 ? "no heartbeat within the deadtime"
					 : "the control channel is down",
				 C->peer_node->name);
			return -ENOTCONN;
		}
		next.stopped = true;
		break;
	case CLUSTER_ADMIN_START:
		next.stopped = false;
		break;
	case CLUSTER_ADMIN_MAINT_ON:
		next.maintenance = true;
		break;
	case CLUSTER_ADMIN_MAINT_OFF:
		next.maintenance = false;
		break;
	default:
		snprintf(msg, len, "unknown operation");
		return -EINVAL;
	}
	next.seq = (C->adm.seq > C->peer_admin_seq ? C->adm.seq
						   : C->peer_admin_seq) +
		   1;
	rc = cluster_admin_apply(&next, "cmsadm", err, sizeof(err));
	if (rc < 0) {
		snprintf(msg, len, "%s", err);
		return rc;
	}
	cluster_admin_send(cmds[op]);
	switch (op) {
	case CLUSTER_ADMIN_STOP:
		snprintf(msg, len,
			 "stopping HA on %s and %s: the master stops its "
			 "group; neither node takes over until `cmsadm start`",
			 C->self->name, C->peer_node->name);
		break;
	case CLUSTER_ADMIN_START:
		snprintf(msg, len, "starting HA on %s%s%s%s", C->self->name,
			 reach ? " and " : "", reach ? C->peer_node->name : "",
			 reach ? ""
			       : " only: the peer is not reachable and "
				 "starts too when it returns");
		break;
	default:
		snprintf(msg, len, "maintenance %s for %s%s%s: %s%s",
			 next.maintenance ? "on" : "off", C->self->name,
			 reach ? " and " : "", reach ? C->peer_node->name : "",
			 next.maintenance ? "resource failures are shown, not "
					    "acted on"
					  : "resource failures are acted on "
					    "again",
			 reach ? "" : " (the peer follows when it returns)");
		break;
	}
	return 0;
}

bool cluster_maintenance(void)
{
	return C && C->adm.maintenance;
}

bool cluster_admin_stopped(void)
{
	return C && C->adm.stopped;
}

/* "stopped=1 maintenance=0 ...": what `cmsadm stop` / `start` wait on. */
void cluster_render_admin(struct sbuf *o)
{
	bool alive = cluster_peer_alive();
	char role[32], prole[32];

	snprintf(role, sizeof(role), "%s", fsm_role_name(C->fsm.role));
	snprintf(prole, sizeof(prole), "%s",
		 alive ? fsm_role_name((enum fsm_role)C->p.hb.role)
		       : "unknown");
	for (char *c = role; *c; c++)
		if (*c == ' ')
			*c = '_';
	for (char *c = prole; *c; c++)
		if (*c == ' ')
			*c = '_';
	sbuf_printf(o,
		    "node=%s stopped=%d maintenance=%d seq=%" PRIu64
		    " role=%s serving=%d peer=%s peer_alive=%d peer_role=%s "
		    "peer_stopped=%d peer_maintenance=%d peer_channel=%d\n",
		    C->self->name, C->adm.stopped, C->adm.maintenance,
		    C->adm.seq, role, C->ops->serving(), C->peer_node->name,
		    alive, prole, alive && (C->p.hb.flags & WIRE_FL_STOPPED),
		    alive && (C->p.hb.flags & WIRE_FL_UNMANAGED),
		    C->ch && peer_up(C->ch));
}

static const char *cluster_peer_switch(unsigned flag, const char *on,
				       const char *off)
{
	if (!cluster_peer_alive())
		return "unknown";
	return C->p.hb.flags & flag ? on : off;
}

/* The lines of the text status an operator cannot miss. */
void cluster_render_admin_notice(struct sbuf *o)
{
	bool pstop = cluster_peer_alive() && (C->p.hb.flags & WIRE_FL_STOPPED);
	bool pmaint =
		cluster_peer_alive() && (C->p.hb.flags & WIRE_FL_UNMANAGED);

	if (C->adm.stopped || pstop)
		sbuf_printf(o,
			    "!! HA STOPPED by the operator (%s: %s, %s: %s): "
			    "the group does not run and no node takes over; "
			    "`cmsadm start` starts it again\n",
			    C->self->name,
			    C->adm.stopped ? "stopped" : "started",
			    C->peer_node->name,
			    cluster_peer_switch(WIRE_FL_STOPPED, "stopped",
						"started"));
	if (C->adm.maintenance || pmaint)
		sbuf_printf(
			o,
			"!! MAINTENANCE MODE (%s: %s, %s: %s): resource "
			"failures are shown, not acted on (no restart, no "
			"failover); `cmsadm maintenance off` ends it\n",
			C->self->name, C->adm.maintenance ? "on" : "off",
			C->peer_node->name,
			cluster_peer_switch(WIRE_FL_UNMANAGED, "on", "off"));
	for (size_t i = 0; i < CLUSTER_MAX_REPLICAS; i++) {
		struct cmsd_storage_status st;
		const char *id = "storage";
		if (!C->heal_held[i] || !cluster_replica(i, &st, &id))
			continue;
		sbuf_printf(o,
			    "!! SPLIT BRAIN on %s not healed in maintenance: "
			    "%s would %s %s; `cmsadm maintenance off` does "
			    "it\n",
			    id, C->self->name,
			    C->heal_held[i] == REPLICA_A_HELD_DISCARD
				    ? "discard its changes and resync from"
				    : "keep its data and reconnect to",
			    C->peer_node->name);
	}
}

void cluster_render_admin_json(struct sbuf *o)
{
	bool alive = cluster_peer_alive();

	sbuf_printf(o,
		    "{\"stopped\":%s,\"maintenance\":%s,\"seq\":%" PRIu64
		    ",\"master_at_stop\":",
		    C->adm.stopped ? "true" : "false",
		    C->adm.maintenance ? "true" : "false", C->adm.seq);
	sbuf_json_str(o, *C->adm.master ? C->adm.master : NULL);
	sbuf_printf(o, ",\"peer_stopped\":%s,\"peer_maintenance\":%s",
		    !alive			      ? "null"
		    : C->p.hb.flags & WIRE_FL_STOPPED ? "true"
						      : "false",
		    !alive				? "null"
		    : C->p.hb.flags & WIRE_FL_UNMANAGED ? "true"
							: "false");
	/* The split-brain heals maintenance holds back on this node. */
	sbuf_printf(o, ",\"heal_pending\":[");
	for (size_t i = 0, n = 0; i < CLUSTER_MAX_REPLICAS; i++) {
		struct cmsd_storage_status st;
		const char *id = "storage";
		if (!C->heal_held[i] || !cluster_replica(i, &st, &id))
			continue;
		sbuf_printf(o, "%s{\"storage\":", n++ ? "," : "");
		sbuf_json_str(o, id);
		sbuf_printf(o, ",\"action\":\"%s\"}",
			    C->heal_held[i] == REPLICA_A_HELD_DISCARD
				    ? "discard-local"
				    : "reconnect");
	}
	sbuf_printf(o, "]}");
}
