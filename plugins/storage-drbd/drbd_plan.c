/*
 * storage-drbd: the runtime's decisions (see drbd_plan.h).  Pure.
 */
#include "drbd_plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void drbd_facts_init(struct drbd_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->mounted = -1;
	f->md = -1;
	f->fs = -1;
	f->found = -1;
}

void drbd_facts_from_model(struct drbd_facts *f, bool stream_up,
			   const struct drbd_res_state *r)
{
	const struct drbd_conn_state *c = r ? drbd_res_peer(r) : NULL;
	const struct drbd_dev_state *d = r ? drbd_res_dev(r, 0) : NULL;
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;

	f->stream_up = stream_up;
	f->res_present = r && r->present;
	f->role = r ? r->role : DRBD_ROLE_NONE;
	f->disk = d ? d->disk : DRBD_DISK_NONE;
	f->conn = c ? c->conn
		    : (f->res_present ? DRBD_STANDALONE : DRBD_CONN_NONE);
	f->peer_role = c ? c->peer_role : DRBD_ROLE_NONE;
	f->peer_disk = pd ? pd->peer_disk : DRBD_DISK_NONE;
	f->split_brain = r && r->split_brain;
}

static enum drbd_act fail(struct drbd_facts *f, int err, const char **why,
			  const char *text)
{
	f->err = err;
	*why = text;
	return DRBD_A_FAIL;
}

static enum drbd_act next_start(struct drbd_facts *f, const char **why)
{
	if (!f->wrote_res)
		return DRBD_A_WRITE_RES;
	if (!f->stream_up)
		return DRBD_A_EVENTS;
	if (f->upped)
		return DRBD_A_DONE;
	if (f->res_present) {
		*why = "the resource is up already";
		return DRBD_A_DONE;
	}
	if (f->md < 0)
		return DRBD_A_DUMP_MD;
	if (f->md == 0 && !f->created_md) {
		*why = "no DRBD metadata on the disk: a fresh resource";
		return DRBD_A_CREATE_MD;
	}
	return DRBD_A_UP;
}

static enum drbd_act next_stop(struct drbd_facts *f, const char **why)
{
	if (f->mounted == 1)
		return DRBD_A_UMOUNT;
	if (f->stream_up && f->res_present && f->role == DRBD_PRIMARY &&
	    !f->secondaried)
		return DRBD_A_SECONDARY;
	/* Without the stream the state is not known: down demotes anyway.
	 * Without the file nothing was ever brought up by cmsd. */
	if (!f->downed && f->res_file && (!f->stream_up || f->res_present))
		return DRBD_A_DOWN;
	if (!f->res_file)
		*why = "no resource file: nothing to take down";
	return DRBD_A_STOP_EVENTS;
}

static enum drbd_act next_promote(struct drbd_facts *f, const char **why)
{
	bool primary = f->primaried || f->role == DRBD_PRIMARY;

	if (!f->stream_up) {
		*why = "waiting for the events2 stream";
		return DRBD_A_WAIT;
	}
	if (!f->res_present)
		return fail(f, -ENODEV, why,
			    "the resource is not up (start it first)");
	if (!primary) {
		if (f->initial && !f->force) {
			*why = "a fresh pair with no data on either side: "
			       "this promote starts the initial sync";
			return DRBD_A_PRIMARY;
		}
		if (f->disk != DRBD_UPTODATE && !f->force)
			return fail(f, -EPERM, why,
				    "refused: the local disk is not UpToDate "
				    "(only an operator's forced promote may "
				    "use it)");
		if (f->split_brain && !f->force)
			return fail(f, -EPERM, why,
				    "refused: split brain not resolved yet "
				    "(resync first, or force)");
		/* 8.4 allows one Primary: wait until the peer has stepped
		 * down or is gone (the core's deadline ends the wait). */
		if (f->peer_role == DRBD_PRIMARY && f->conn == DRBD_CONNECTED) {
			*why = "waiting for the peer to become Secondary "
			       "or to disconnect";
			return DRBD_A_WAIT;
		}
		return DRBD_A_PRIMARY;
	}
	if (f->mounted == 1)
		return DRBD_A_DONE;
	if (f->fs < 0)
		return DRBD_A_PROBE;
	if (f->fs == 0) {
		if (f->fresh && !f->mkfs_done) {
			*why = "a fresh resource without a file system: "
			       "first promote makes one";
			return DRBD_A_MKFS;
		}
		return fail(f, -ENODATA, why,
			    "no file system on the device, and the resource "
			    "is not fresh (this node did not create its "
			    "metadata): refusing to make one over data");
	}
	if (f->found < 0)
		return DRBD_A_PREPARE;
	if (f->found == DRBD_MNT_ADOPT) {
		*why = "the device is mounted there already: adopted";
		return DRBD_A_DONE;
	}
	/* Not while this host uses the device elsewhere (e2fsck would
	 * refuse, or worse). */
	if (!f->xfs && f->found == DRBD_MNT_FREE && !f->fsck_done)
		return DRBD_A_FSCK;
	return DRBD_A_MOUNT;
}

static enum drbd_act next_demote(struct drbd_facts *f, const char **why)
{
	if (f->mounted == 1)
		return DRBD_A_UMOUNT;
	if (!f->started) {
		*why = "not started: nothing to demote";
		return DRBD_A_DONE;
	}
	if (!f->stream_up) {
		*why = "waiting for the events2 stream";
		return DRBD_A_WAIT;
	}
	if (!f->res_present) {
		*why = "the resource is not up: nothing to demote";
		return DRBD_A_DONE;
	}
	if (!f->secondaried && f->role != DRBD_SECONDARY)
		return DRBD_A_SECONDARY;
	return DRBD_A_DONE;
}

static enum drbd_act next_resync(struct drbd_facts *f, const char **why)
{
	if (!f->stream_up) {
		*why = "waiting for the events2 stream";
		return DRBD_A_WAIT;
	}
	if (!f->res_present)
		return fail(f, -ENODEV, why, "the resource is not up");
	if (!f->discard_local) {
		/* The winner keeps its data and only reconnects. */
		if (f->conn == DRBD_STANDALONE && !f->connected)
			return DRBD_A_CONNECT;
		return DRBD_A_DONE;
	}
	if (f->mounted == 1)
		return DRBD_A_UMOUNT;
	if (f->role == DRBD_PRIMARY && !f->secondaried)
		return DRBD_A_SECONDARY;
	if (f->conn != DRBD_STANDALONE && !f->disconnected && !f->connected)
		return DRBD_A_DISCONNECT;
	if (!f->connected) {
		/* disconnect returns when the connection is StandAlone:
		 * connect before the model shows it would be refused. */
		if (f->conn != DRBD_STANDALONE && f->disconnected) {
			*why = "waiting for StandAlone after disconnect";
			return DRBD_A_WAIT;
		}
		return DRBD_A_CONNECT_DISCARD;
	}
	return DRBD_A_DONE;
}

enum drbd_act drbd_next(enum drbd_opk op, struct drbd_facts *f,
			const char **why)
{
	*why = NULL;
	switch (op) {
	case DRBD_OP_START:
		return next_start(f, why);
	case DRBD_OP_STOP:
		return next_stop(f, why);
	case DRBD_OP_PROMOTE:
		return next_promote(f, why);
	case DRBD_OP_DEMOTE:
		return next_demote(f, why);
	case DRBD_OP_RESYNC:
		return next_resync(f, why);
	}
	return fail(f, -EINVAL, why, "unknown op");
}

const char *drbd_act_name(enum drbd_act a)
{
	static const char *const n[] = {
		[DRBD_A_DONE] = "done",
		[DRBD_A_FAIL] = "fail",
		[DRBD_A_WAIT] = "wait",
		[DRBD_A_WRITE_RES] = "write-res",
		[DRBD_A_EVENTS] = "events2",
		[DRBD_A_DUMP_MD] = "dump-md",
		[DRBD_A_CREATE_MD] = "create-md",
		[DRBD_A_UP] = "up",
		[DRBD_A_PRIMARY] = "primary",
		[DRBD_A_PROBE] = "probe",
		[DRBD_A_MKFS] = "mkfs",
		[DRBD_A_PREPARE] = "prepare",
		[DRBD_A_FSCK] = "fsck",
		[DRBD_A_MOUNT] = "mount",
		[DRBD_A_UMOUNT] = "umount",
		[DRBD_A_SECONDARY] = "secondary",
		[DRBD_A_DISCONNECT] = "disconnect",
		[DRBD_A_CONNECT] = "connect",
		[DRBD_A_CONNECT_DISCARD] = "connect --discard-my-data",
		[DRBD_A_DOWN] = "down",
		[DRBD_A_STOP_EVENTS] = "stop-events2",
	};
	return (unsigned)a < sizeof(n) / sizeof(n[0]) && n[a] ? n[a] : "?";
}

int drbd_md_verdict(int exit_code, const char *output)
{
	const char *o = output ? output : "";

	if (strstr(o, "No valid meta data found"))
		return 0;
	/* Metadata that needs its activity log applied is metadata. */
	if (exit_code == 0 || strstr(o, "unclean"))
		return 1;
	return -EIO;
}

enum drbd_fs drbd_fs_probe(const unsigned char *buf, size_t n,
			   const char **what)
{
	static const unsigned char zero[512];

	*what = "too short to tell";
	if (!buf || n < DRBD_PROBE_BYTES)
		return DRBD_FS_OTHER;
	if (memcmp(buf, "XFSB", 4) == 0) {
		*what = "xfs";
		return DRBD_FS_XFS;
	}
	/* ext2/3/4: s_magic 0xEF53 at 1024 + 56, little-endian. */
	if (buf[1080] == 0x53 && buf[1081] == 0xEF) {
		/* s_feature_incompat (1024 + 96) bit 0x40: extents, ext4. */
		*what = buf[1120] & 0x40 ? "ext4" : "ext2/ext3";
		return DRBD_FS_EXT;
	}
	for (size_t off = 0; off < 2048; off += 512)
		if (memcmp(buf + off, "LABELONE", 8) == 0) {
			*what = "LVM2 member";
			return DRBD_FS_OTHER;
		}
	if (memcmp(buf, "LUKS\xba\xbe", 6) == 0) {
		*what = "LUKS";
		return DRBD_FS_OTHER;
	}
	if (memcmp(buf + 65536 + 64, "_BHRfS_M", 8) == 0) {
		*what = "btrfs";
		return DRBD_FS_OTHER;
	}
	for (size_t pg = 4096; pg <= 65536; pg *= 2)
		if (memcmp(buf + pg - 10, "SWAPSPACE2", 10) == 0 ||
		    memcmp(buf + pg - 10, "SWAP-SPACE", 10) == 0) {
			*what = "swap";
			return DRBD_FS_OTHER;
		}
	if (buf[510] == 0x55 && buf[511] == 0xAA) {
		*what = "a partition table or boot sector";
		return DRBD_FS_OTHER;
	}
	/* Not a signature of ours, yet not blank: someone's data. */
	for (size_t off = 0; off < n; off += sizeof(zero))
		if (memcmp(buf + off, zero,
			   n - off < sizeof(zero) ? n - off : sizeof(zero))) {
			*what = "data (no known signature, not blank)";
			return DRBD_FS_OTHER;
		}
	*what = "nothing (blank)";
	return DRBD_FS_NONE;
}

bool drbd_data_usable(const struct drbd_res_state *r)
{
	const struct drbd_dev_state *d = r ? drbd_res_dev(r, 0) : NULL;

	return d && d->disk == DRBD_UPTODATE && !r->split_brain;
}

bool drbd_initial_pair(const struct drbd_res_state *r, bool fresh)
{
	const struct drbd_dev_state *d = r ? drbd_res_dev(r, 0) : NULL;
	const struct drbd_conn_state *c = r ? drbd_res_peer(r) : NULL;
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;

	return fresh && d && c && pd && r->have_uuid &&
	       drbd_generation(r->current_uuid) == 4 &&
	       d->disk == DRBD_INCONSISTENT &&
	       pd->peer_disk == DRBD_INCONSISTENT &&
	       c->conn == DRBD_CONNECTED && !r->split_brain;
}

int drbd_fence_verdict(const struct drbd_res_state *r)
{
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;

	if (!pd)
		return -EOPNOTSUPP;
	switch (pd->peer_disk) {
	case DRBD_OUTDATED:
	case DRBD_INCONSISTENT:
	case DRBD_DISKLESS:
	case DRBD_FAILED:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

int drbd_loser_line(const struct drbd_res_state *r, int64_t oos_kib,
		    int64_t now_s, char *buf, size_t len)
{
	const struct drbd_peer_dev *pd = r ? drbd_res_peer_dev(r, 0) : NULL;
	char gen[24] = "unknown", oos[32] = "unknown";
	int n;

	if (oos_kib < 0 && pd && pd->out_of_sync >= 0)
		oos_kib = pd->out_of_sync;
	if (r && r->have_uuid)
		snprintf(gen, sizeof(gen), "%016" PRIX64,
			 drbd_generation(r->current_uuid));
	if (oos_kib >= 0)
		snprintf(oos, sizeof(oos), "%" PRId64 " KiB", oos_kib);
	n = snprintf(buf, len,
		     "split-brain loser %s discards its changes: generation "
		     "%s, out of sync %s, split brain at %" PRId64
		     " (epoch s), resync started at %" PRId64 " (epoch s)",
		     r ? r->name : "?", gen, oos,
		     r && r->split_brain_us ? r->split_brain_us / 1000000 : 0,
		     now_s);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
