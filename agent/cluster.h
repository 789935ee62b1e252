/*
 * The cluster core of a two-node cluster: heartbeats (hb.c), the control
 * channel to the peer (peer.c), the quorum provider instance, the epoch
 * (epoch.c) and the role state machine (fsm.c), tied together on the loop.
 *
 * The daemon owns the instances and runs the group's start and stop
 * sequences; the cluster decides when, through cluster_group_ops, and
 * hears back through cluster_group_done().  Everything the status shows
 * about the cluster (peer, quorum, epoch, lease, failover timeline, events,
 * heartbeat counters) comes from here.
 */
#ifndef CMSD_AGENT_CLUSTER_H
#define CMSD_AGENT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <cmsd/plugin.h>

#include "conf.h"
#include "ctlproto.h"
#include "fsm.h"

struct instance;

/* What the cluster asks of the daemon. */
struct cluster_group_ops {
	/* Promote storage, start resources in order; then
	 * cluster_group_done(FSM_EV_GROUP_STARTED or _START_FAILED). */
	void (*start)(void);
	/* Abandon a start in progress; what it started is stopped by the stop
	 * that follows. */
	void (*cancel_start)(void);
	/* Stop resources in reverse (the VIP first when vip_first), demote
	 * storage; then cluster_group_done(FSM_EV_GROUP_STOPPED or
	 * _STOP_FAILED). */
	void (*stop)(bool vip_first);
	/* Announce the VIP again (gratuitous ARP). */
	void (*reannounce)(void);
	/* true while any group resource is started, starting or stopping. */
	bool (*serving)(void);
	/* "id:State;id:State" of the group, for the peer's status. */
	void (*summary)(char *buf, size_t len);
	/* The i-th replicated storage's last status (a storage with a
	 * resync op: DRBD r0, then r1); false when there is no i-th.  *id
	 * names it. */
	bool (*replica)(size_t i, struct cmsd_storage_status *out,
			const char **id);
	/* Reconnects the i-th replicated storage after a split brain: the
	 * loser discards its own changes.  0 (under way) or -errno. */
	int (*resync)(size_t i, bool discard_local);
};

/* Starts the core.  The quorum instance is started already.  0, or -errno
 * with the reason in err (a key file, a socket that cannot bind, a corrupt
 * state file). */
int cluster_start(const struct conf *c, struct instance *quorum,
		  const struct cluster_group_ops *ops, char *err,
		  size_t errlen);
/* Steps down if master (handing over to the peer when it can take over),
 * then calls done().  For SIGTERM. */
void cluster_shutdown(void (*done)(void));
/* Frees everything (sockets, timers). */
void cluster_stop(void);
bool cluster_running(void);

void cluster_group_done(enum fsm_event ev);
/* The replicated storage's status was read again. */
void cluster_storage_changed(void);
/* DRBD's handler hook (cmsadm drbd-handler HOOK RES): the exit code for
 * drbdadm in *code and why in msg; 0, or -EAGAIN while the answer waits on
 * the arbiter (ask again). */
int cluster_drbd_handler(const char *hook, const char *res, int *code,
			 char *msg, size_t len);
/* A quorum plugin's notify(). */
void cluster_quorum_event(enum cmsd_event ev, const char *detail);

/* Operator commands.  0 and a message, or -errno and why not. */
int cluster_switchover(char *msg, size_t len);

/* Could the peer take the group now (alive, slave, data usable, quorum)?
 * When not, *why (if given) says what is missing. */
bool cluster_peer_can_take(const char **why);
/* A resource used up its restarts: step down and hand the group to the
 * peer.  0 and a message, or -errno and why not (the group stays). */
int cluster_group_must_move(const char *why, char *msg, size_t len);

/* The operator's switches (admin.h), set on both nodes: stop refuses when
 * the peer is not reachable; start and maintenance reach a peer that is
 * away when it returns.  0 and a message, or -errno and why not. */
enum cluster_admin_op {
	CLUSTER_ADMIN_STOP,
	CLUSTER_ADMIN_START,
	CLUSTER_ADMIN_MAINT_ON,
	CLUSTER_ADMIN_MAINT_OFF,
};
int cluster_admin(enum cluster_admin_op op, char *msg, size_t len);
/* Maintenance on (this node's switch): resource failures are not acted
 * on; with the peer's, split-brain heals wait too (docs/decisions.md). */
bool cluster_maintenance(void);
bool cluster_admin_stopped(void);
/* "node=cvknode1 stopped=1 maintenance=0 seq=3 role=slave serving=0
 * peer=cvknode2 peer_alive=1 peer_role=slave peer_stopped=1
 * peer_maintenance=0 peer_channel=1\n" (the "admin" request). */
void cluster_render_admin(struct sbuf *o);
/* "!! HA STOPPED ..." / "!! MAINTENANCE MODE ..." / "!! SPLIT BRAIN on
 * ID not healed in maintenance ..." lines, or nothing. */
void cluster_render_admin_notice(struct sbuf *o);
/* {"stopped":..,"maintenance":..,"seq":..,"master_at_stop":..,
 *  "peer_stopped":..,"peer_maintenance":..,
 *  "heal_pending":[{"storage":ID,"action":"discard-local"|"reconnect"}]} */
void cluster_render_admin_json(struct sbuf *o);

/* Status pieces. */
enum fsm_role cluster_role(void);
const char *cluster_role_reason(void);
/* "node1 master 7 serving\n" */
void cluster_render_role(struct sbuf *o);
/* The same line before the core runs: "node1 startup 0 cleaning" while
 * what a previous run left is being stopped, else "... idle". */
void cluster_render_role_early(struct sbuf *o, const char *node, bool cleaning);
void cluster_render_events(struct sbuf *o);
/* Fills the reference view's cluster fields (master, slave, quorum line,
 * peer's resource states); strings stay valid until the next call. */
void cluster_fill_view(struct status_view *v);
/* The peer's state of a group resource from its last state message
 * ("Started"), in buf, or NULL when unknown. */
const char *cluster_peer_res_state(const char *id, char *buf, size_t len);
const char *cluster_peer_name(void);
/* cmsadm sync-partition (syncpart.c): the control channel to the peer is
 * up; a frame for it (0, -ENOTCONN, -ENOBUFS). */
bool cluster_peer_channel_up(void);
int cluster_peer_send(const void *frame, size_t len);
/* A JSON object (no trailing comma) for status --json: epoch, lease,
 * failover timeline, links, peer, events count. */
void cluster_render_json(struct sbuf *o);

#endif
