/*
 * storage-drbd: the pure parts, without I/O, so that they are unit-tested on
 * real captured output (tests/fixtures/drbd84/):
 *
 *  - a line buffer for the `drbdsetup events2` stream (reads may split or
 *    join lines);
 *  - the events2 line parser: one grammar for DRBD 9 and for drbd-utils'
 *    8.4 compatibility mode (drbdsetup-84 fakes peer-node-id:0 and
 *    conn-name:peer, and omits conn-name on StandAlone `--now` lines);
 *  - the state model that folds events into the current per-resource state
 *    (role, disk, peer disk, connection, replication, resync progress and
 *    ETA, split-brain and helper calls);
 *  - `drbdsetup get-gi` parsing for the data generation (events2 carries no
 *    UUID, in 8.4 or 9);
 *  - the drbd-overview line and the status "Master/Slave Set" block.
 */
#ifndef CMSD_DRBD_EVENTS_H
#define CMSD_DRBD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRBD_NAME_MAX  64
#define DRBD_LINE_MAX  4096
#define DRBD_MAX_RES   4 /* r0 and r1, with room to spare */
#define DRBD_MAX_VOLS  4
#define DRBD_MAX_CONNS 2 /* a two-node cluster: one peer, one spare */

/* ---- line buffer ------------------------------------------------------ */

struct drbd_lines {
	char buf[DRBD_LINE_MAX];
	size_t len;
	bool skipping; /* inside an over-long line: drop up to its '\n' */
};

typedef void (*drbd_line_cb)(void *ctx, const char *line);

/* Appends n bytes and calls cb for every complete line (without '\n' or a
 * trailing '\r').  A line longer than DRBD_LINE_MAX - 1 is dropped whole;
 * returns how many were dropped (0 normally). */
int drbd_lines_feed(struct drbd_lines *lb, const char *data, size_t n,
		    drbd_line_cb cb, void *ctx);
/* At EOF: a last line without '\n' is passed to cb.  Returns 1 if one was. */
int drbd_lines_flush(struct drbd_lines *lb, drbd_line_cb cb, void *ctx);

/* ---- events2 lines ---------------------------------------------------- */

enum drbd_ev_kind {
	DRBD_EV_EXISTS = 1,
	DRBD_EV_CREATE,
	DRBD_EV_CHANGE,
	DRBD_EV_DESTROY,
	DRBD_EV_CALL,
	DRBD_EV_RESPONSE,
	DRBD_EV_RENAME,
};

enum drbd_ev_obj {
	DRBD_OBJ_END = 1, /* "exists -": end of the initial dump */
	DRBD_OBJ_RESOURCE,
	DRBD_OBJ_CONNECTION,
	DRBD_OBJ_DEVICE,
	DRBD_OBJ_PEER_DEVICE,
	DRBD_OBJ_PATH,
	DRBD_OBJ_HELPER,
};

/* In every enum 0 means "not in this line". */
enum drbd_role {
	DRBD_ROLE_NONE,
	DRBD_PRIMARY,
	DRBD_SECONDARY,
	DRBD_ROLE_UNKNOWN
};

enum drbd_disk {
	DRBD_DISK_NONE,
	DRBD_DISKLESS,
	DRBD_ATTACHING,
	DRBD_DETACHING,
	DRBD_FAILED,
	DRBD_NEGOTIATING,
	DRBD_INCONSISTENT,
	DRBD_OUTDATED,
	DRBD_DUNKNOWN,
	DRBD_CONSISTENT,
	DRBD_UPTODATE,
};

enum drbd_conn {
	DRBD_CONN_NONE,
	DRBD_STANDALONE,
	DRBD_DISCONNECTING,
	DRBD_UNCONNECTED,
	DRBD_TIMEOUT,
	DRBD_BROKENPIPE,
	DRBD_NETWORKFAILURE,
	DRBD_PROTOCOLERROR,
	DRBD_TEARDOWN,
	DRBD_CONNECTING,
	DRBD_CONNECTED,
};

enum drbd_repl {
	DRBD_REPL_NONE,
	DRBD_REPL_OFF,
	DRBD_ESTABLISHED,
	DRBD_STARTINGSYNCS,
	DRBD_STARTINGSYNCT,
	DRBD_WFBITMAPS,
	DRBD_WFBITMAPT,
	DRBD_WFSYNCUUID,
	DRBD_SYNCSOURCE,
	DRBD_SYNCTARGET,
	DRBD_VERIFYS,
	DRBD_VERIFYT,
	DRBD_PAUSEDSYNCS,
	DRBD_PAUSEDSYNCT,
	DRBD_AHEAD,
	DRBD_BEHIND,
};

struct drbd_event {
	enum drbd_ev_kind kind;
	enum drbd_ev_obj obj;
	bool has_ts;
	int64_t ts_us; /* --timestamps: microseconds since the epoch, UTC */
	char name[DRBD_NAME_MAX];
	char new_name[DRBD_NAME_MAX];  /* rename */
	char conn_name[DRBD_NAME_MAX]; /* "" when absent (8.4 StandAlone) */
	int peer_node_id;	       /* -1 when absent */
	int volume;		       /* -1 when absent */
	int minor;		       /* -1 when absent */
	enum drbd_role role; /* resource: own role; connection: the peer's */
	int suspended;	     /* -1 absent, 0 no, 1 yes */
	enum drbd_disk disk;
	enum drbd_disk peer_disk;
	enum drbd_conn conn;
	enum drbd_repl repl;
	double done;	     /* DRBD 9 resync done:, percent; < 0 absent */
	int64_t out_of_sync; /* --statistics, KiB; -1 absent */
	char helper[32];     /* call/response helper: "split-brain", ... */
	int status;	     /* response helper: exit status; -1 absent */
};

/* Parses one events2 line (with or without --timestamps, 8.4 or 9).
 * Unknown keys are ignored (--statistics, --full and newer drbd-utils add
 * some); an unknown kind, object or state value, a missing name or a bad
 * number is an error: returns -EINVAL with a message naming the token and
 * its column in err.  Returns 0 on success. */
int drbd_ev_parse(const char *line, struct drbd_event *ev, char *err,
		  size_t errlen);

const char *drbd_role_str(enum drbd_role r);
const char *drbd_disk_str(enum drbd_disk d);
const char *drbd_conn_str(enum drbd_conn c);
const char *drbd_repl_str(enum drbd_repl r);

/* ---- the state model -------------------------------------------------- */

struct drbd_peer_dev {
	bool present;
	int volume;
	enum drbd_repl repl;
	enum drbd_disk peer_disk;
	double done;	     /* last done: (DRBD 9), < 0 unknown */
	int64_t out_of_sync; /* KiB, -1 unknown */
	int64_t rs_total;    /* KiB to resync when this resync began */
	int64_t rate_ts_us;  /* the previous out-of-sync sample ... */
	int64_t rate_oos;    /* ... and its value */
	double rate_kib_s;   /* resync rate between the last two samples */
	int64_t proc_eta_s;  /* 8.4 /proc/drbd finish:, -1 unknown */
};

struct drbd_conn_state {
	bool present;
	int peer_node_id;
	char conn_name[DRBD_NAME_MAX];
	enum drbd_conn conn;
	enum drbd_role peer_role;
	struct drbd_peer_dev pd[DRBD_MAX_VOLS];
};

struct drbd_dev_state {
	bool present;
	int volume;
	int minor;
	enum drbd_disk disk;
};

struct drbd_res_state {
	bool present;
	char name[DRBD_NAME_MAX];
	enum drbd_role role;
	bool suspended;
	struct drbd_dev_state dev[DRBD_MAX_VOLS];
	struct drbd_conn_state conn[DRBD_MAX_CONNS];
	/* Split-brain: set by the "split-brain" helper call, cleared when a
	 * later handshake gets to a resync or Established. */
	bool split_brain;
	int64_t split_brain_us;
	bool fence_peer_called; /* a fence-peer helper call seen */
	char last_helper[32];	/* the last helper called */
	int last_helper_status; /* its response, -1 none yet */
	/* The data generation, from `drbdsetup get-gi` (not in events2). */
	bool have_uuid;
	uint64_t current_uuid;
};

struct drbd_state {
	bool dump_done; /* "exists -" seen: the state is complete */
	struct drbd_res_state res[DRBD_MAX_RES];
};

/* What an event changed, for the caller to report to the core. */
#define DRBD_CH_ROLE	    (1u << 0)
#define DRBD_CH_DISK	    (1u << 1)
#define DRBD_CH_PEER	    (1u << 2) /* peer role or peer disk */
#define DRBD_CH_CONN	    (1u << 3) /* connection or replication state */
#define DRBD_CH_RESYNC	    (1u << 4)
#define DRBD_CH_SPLIT_BRAIN (1u << 5)
#define DRBD_CH_HELPER	    (1u << 6)
#define DRBD_CH_DUMP_DONE   (1u << 7)
#define DRBD_CH_GONE	    (1u << 8) /* an object was destroyed */

void drbd_state_init(struct drbd_state *st);
/* Folds one event.  now_us is used when the event has no timestamp.
 * Returns the DRBD_CH_* mask, or -ENOSPC when there are more resources,
 * volumes or connections than the model holds. */
int drbd_state_apply(struct drbd_state *st, const struct drbd_event *ev,
		     int64_t now_us);
struct drbd_res_state *drbd_state_res(struct drbd_state *st, const char *name);
const struct drbd_res_state *drbd_state_find(const struct drbd_state *st,
					     const char *name);
/* The first connection present, or NULL (two-node cluster). */
const struct drbd_conn_state *drbd_res_peer(const struct drbd_res_state *r);
const struct drbd_dev_state *drbd_res_dev(const struct drbd_res_state *r,
					  int volume);
const struct drbd_peer_dev *drbd_res_peer_dev(const struct drbd_res_state *r,
					      int volume);

/* Resync progress of one volume: true while a resync runs, with *pct (0 to
 * 100) and *eta_s (-1 while no rate is known yet). */
bool drbd_resync_progress(const struct drbd_res_state *r, int volume,
			  double *pct, int64_t *eta_s);

/* `drbdsetup get-gi MINOR` (8.4: `drbdsetup-84 get-gi MINOR`, or
 * `drbdadm get-gi RES`) prints CURRENT:BITMAP:HISTORY1:HISTORY2:flags...;
 * the kernel log prints the same UUID set after "self " / "updated UUIDs ".
 * Parses the leading current UUID (16 hex digits) into *uuid; 0 or
 * -EINVAL with a message. */
int drbd_parse_gi(const char *text, uint64_t *uuid, char *err, size_t errlen);
/* Parses get-gi output into r->current_uuid / r->have_uuid. */
int drbd_res_set_gi(struct drbd_res_state *r, const char *text, char *err,
		    size_t errlen);
/* The data generation to compare between nodes: DRBD sets the lowest bit
 * of the current UUID while the node is Primary (the two nodes of the
 * fixture show F5682BF1AE45298B and ...8A for the same data), so it is
 * masked off. */
static inline uint64_t drbd_generation(uint64_t current_uuid)
{
	return current_uuid & ~(uint64_t)1;
}

/* ---- /proc/drbd (8.4) ------------------------------------------------ */

/* 8.4's events2 carries no resync progress (no done:, and out-of-sync only
 * with --statistics on state changes); /proc/drbd has it: "sync'ed:  6.3%"
 * and "finish: 0:00:53 speed: 1,024 (1,024) K/sec". */
struct drbd_proc_dev {
	int minor;
	char cs[24];	  /* "Connected", "SyncSource", "Unconfigured" */
	char role[2][16]; /* ro: local, peer */
	char ds[2][16];	  /* ds: local, peer */
	char proto;	  /* 'A'..'C', or '\0' when blank (StandAlone) */
	char flags[8];	  /* "r-----" */
	int64_t oos;	  /* KiB, -1 unknown */
	bool syncing;	  /* a sync'ed: line follows */
	double synced_pct;
	int64_t eta_s;	     /* finish:, -1 unknown */
	int64_t speed_kib_s; /* speed:, -1 unknown */
};

/* Parses the whole file text into at most max devices.  Returns how many,
 * or -EINVAL with err naming the line. */
int drbd_proc_parse(const char *text, struct drbd_proc_dev *devs, size_t max,
		    char *err, size_t errlen);

/* Folds one /proc/drbd device into r (matched by minor): its out-of-sync
 * as a rate sample at now_us, sync'ed: as the done percentage and finish:
 * as the ETA when no rate of our own is known.  0, or -ENOENT when r has no
 * device of that minor or no connection. */
int drbd_res_apply_proc(struct drbd_res_state *r, const struct drbd_proc_dev *p,
			int64_t now_us);

/* ---- drbd-overview and status lines ----------------------------------- */

/* Facts about the mounted file system, gathered by the caller (statvfs). */
struct drbd_mount_facts {
	const char *mount; /* NULL: not mounted, the line stops after flags */
	const char *fstype;
	uint64_t size, used, avail; /* bytes */
	int use_pct;		    /* < 0: computed as df does */
};

/* The 8.4 connection-state name drbd-overview and /proc/drbd show, folded
 * from the DRBD 9 connection + replication pair. */
const char *drbd_overview_cstate(const struct drbd_res_state *r, int volume);

/* "0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r----- MOUNT FS
 * SIZE USED AVAIL USE%".  Returns the length, or -ENOSPC / -ENOENT (no such
 * volume). */
int drbd_overview_line(const struct drbd_res_state *r, int volume,
		       const struct drbd_mount_facts *m, char *buf, size_t len);
/* df -h's rendering: 1024-based, rounded up, one decimal below 10. */
void drbd_human_size(uint64_t bytes, char *buf, size_t len);

/* The status block "Master/Slave Set: [MOUNT]\n  Master: [A]\n  Slave  :
 * [B]\n", NULL names print as "Unknown".  Returns the length or -ENOSPC. */
int drbd_ms_set_block(const char *mount, const char *master, const char *slave,
		      char *buf, size_t len);

/* Text appended to a caller's buffer, printf-style; `full` once a piece did
 * not fit (nothing more is appended).  Used by the overview line and the
 * resource-file writer. */
struct drbd_out {
	char *buf;
	size_t len, pos;
	bool full;
};

void drbd_put(struct drbd_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
