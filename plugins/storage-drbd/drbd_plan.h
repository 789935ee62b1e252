/*
 * storage-drbd: the runtime's decisions, pure.  Every op (start, stop,
 * promote, demote, resync) is a loop in storage-drbd.c: gather the facts
 * (the events2 model, the mount table, what this op did so far), ask
 * drbd_next() for the one next action, run it (a drbdadm / mount child, or
 * a wait for the model to change), record its result, ask again.  So the
 * command sequences and refusals are unit-tested here without DRBD
 * (tests/unit/test_drbd_plan.c), and the I/O side has no decisions of its
 * own.
 */
#ifndef CMSD_DRBD_PLAN_H
#define CMSD_DRBD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drbd_events.h"

enum drbd_opk {
	DRBD_OP_START,
	DRBD_OP_STOP,
	DRBD_OP_PROMOTE,
	DRBD_OP_DEMOTE,
	DRBD_OP_RESYNC,
};

enum drbd_act {
	DRBD_A_DONE,	   /* the op succeeded */
	DRBD_A_FAIL,	   /* the op fails with facts.err, why says why */
	DRBD_A_WAIT,	   /* ask again when the model changes (or a poll) */
	DRBD_A_WRITE_RES,  /* write <config-dir>/RES.res */
	DRBD_A_EVENTS,	   /* start the events2 stream; ask again once its
			      initial dump is in */
	DRBD_A_DUMP_MD,	   /* drbdadm dump-md: is there metadata? */
	DRBD_A_CREATE_MD,  /* drbdadm create-md (no metadata only) */
	DRBD_A_UP,	   /* drbdadm up */
	DRBD_A_PRIMARY,	   /* drbdadm primary [--force] */
	DRBD_A_PROBE,	   /* read the device's first 68 KiB: a file
			      system or another signature there? */
	DRBD_A_MKFS,	   /* mkfs (fresh resource, no file system only) */
	DRBD_A_PREPARE,	   /* the mount point: adopt a mount there, refuse
			      another file system, is the device in use?
			      (plugins/common/pu_mount, worker thread) */
	DRBD_A_FSCK,	   /* e2fsck -p (ext4, device not in use) */
	DRBD_A_MOUNT,	   /* mount(2), worker thread */
	DRBD_A_UMOUNT,	   /* umount(2), worker thread, never lazy */
	DRBD_A_SECONDARY,  /* drbdadm secondary */
	DRBD_A_DISCONNECT, /* drbdadm disconnect */
	DRBD_A_CONNECT,	   /* drbdadm connect */
	DRBD_A_CONNECT_DISCARD, /* drbdadm connect --discard-my-data */
	DRBD_A_DOWN,		/* drbdadm down */
	DRBD_A_STOP_EVENTS,	/* stop the stream, then done */
};

/* What the runtime knows when it asks.  Tri-state ints: -1 not known yet,
 * 0 no, 1 yes. */
struct drbd_facts {
	/* From the events2 model (valid when stream_up). */
	bool stream_up; /* the child runs and its initial dump is in */
	bool res_present;
	enum drbd_role role, peer_role;
	enum drbd_disk disk, peer_disk;
	enum drbd_conn conn;
	bool split_brain;
	/* The op's arguments. */
	bool force, discard_local;
	bool xfs; /* else ext4: e2fsck before mount */
	/* From the system, refreshed before every question. */
	int mounted;   /* the device on <mount> */
	bool started;  /* start ran (the stream is wanted) */
	bool res_file; /* <config-dir>/RES.res exists */
	/* What this op found or did so far. */
	bool wrote_res;
	int md; /* metadata on the backing disk */
	bool created_md, upped, primaried, secondaried, disconnected, connected,
		downed;
	int fs;	      /* probe: the configured file system on the device */
	bool fresh;   /* this node created the metadata and has never seen a
			 file system on the device since (state_dir marker) */
	bool initial; /* drbd_initial_pair(): a fresh pair, no data on
			 either side: the first promote forces the sync */
	bool mkfs_done, fsck_done;
	int found; /* PREPARE's finding: -1 not yet, DRBD_MNT_* */
	/* Set with DRBD_A_FAIL. */
	int err;
};

/* What PREPARE found on <mount> (pu_mount's enum pu_found). */
#define DRBD_MNT_FREE  0 /* nothing of the device's: fsck, then mount */
#define DRBD_MNT_ADOPT 1 /* the device is mounted there already */
#define DRBD_MNT_BUSY  2 /* the host uses the device elsewhere: no fsck */

void drbd_facts_init(struct drbd_facts *f);
/* Fills the model part of f from r (NULL: the resource is not there). */
void drbd_facts_from_model(struct drbd_facts *f, bool stream_up,
			   const struct drbd_res_state *r);

/* The next action of op; *why (static text) says why for the log, or
 * NULL.  Pure. */
enum drbd_act drbd_next(enum drbd_opk op, struct drbd_facts *f,
			const char **why);
const char *drbd_act_name(enum drbd_act a);

/* `drbdadm dump-md RES` (the resource down): 1 metadata present (exit 0,
 * or "unclean" metadata), 0 none ("No valid meta data found"), -EIO for
 * anything else (never a reason to create-md over a disk). */
int drbd_md_verdict(int exit_code, const char *output);

/* What drbd_fs_probe() found at the start of a device. */
enum drbd_fs {
	DRBD_FS_NONE,  /* no signature known here: may be made (if fresh) */
	DRBD_FS_EXT,   /* ext2/3/4 superblock */
	DRBD_FS_XFS,   /* XFS superblock */
	DRBD_FS_OTHER, /* another signature: data, never mkfs over it */
};
#define DRBD_PROBE_BYTES (68u * 1024u)

/* Looks at the first n bytes of a device (DRBD_PROBE_BYTES read with dd:
 * the plugin needs no blkid, which busybox lacks in its util-linux form)
 * for a file system or another signature (LVM, LUKS, swap, btrfs, a
 * partition table); *what names it ("ext4", "LVM2 member", ...).  Too few
 * bytes to tell: DRBD_FS_OTHER (never a reason to mkfs). */
enum drbd_fs drbd_fs_probe(const unsigned char *buf, size_t n,
			   const char **what);

/* The storage status the core sees, from the model: data_usable is
 * "local disk UpToDate and no split brain". */
bool drbd_data_usable(const struct drbd_res_state *r);

/* A new pair with no data on either side, whose first promote starts the
 * initial sync (`primary --force`): this node created the metadata
 * (fresh), its current UUID is still DRBD's "just created" (4, the Primary
 * bit masked), and both disks are Inconsistent while connected (DRBD's
 * handshake found neither side with data: any data would show as
 * UpToDate, Consistent or Outdated).  Reported as usable, so that the core
 * picks a first master without an operator. */
bool drbd_initial_pair(const struct drbd_res_state *r, bool fresh);

/* fence_peer: 0 when the model shows the peer cannot hold data newer than
 * ours (its disk Outdated, Inconsistent, Diskless or Failed while we are
 * connected or were last told so), -EOPNOTSUPP otherwise: DRBD 8.4 cannot
 * outdate a peer from this node (`drbdadm outdate` is local only), so the
 * core's arbiter lease is what keeps the peer off. */
int drbd_fence_verdict(const struct drbd_res_state *r);

/* The one line logged when a split-brain loser discards its data: its
 * generation, the out-of-sync amount (oos_kib: from the model, or 8.4's
 * /proc/drbd oos: when the StandAlone connection is gone from the model;
 * -1 unknown), the split-brain time and now. */
int drbd_loser_line(const struct drbd_res_state *r, int64_t oos_kib,
		    int64_t now_s, char *buf, size_t len);

#endif
