/* storage-drbd's runtime decisions (drbd_plan.c), pure: each op's command
 * sequence as drbd_next() gives it, step by step, with the outcome of each
 * step fed back the way storage-drbd.c does; the refusals (promote of a
 * disk that is not UpToDate, of a split brain, mkfs over data); and the
 * model facts taken from real DRBD 8.4 events2 output
 * (tests/fixtures/drbd84). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drbd_events.h"
#include "drbd_plan.h"
#include "testutil.h"

#define FIX SOURCE_DIR "/tests/fixtures/drbd84/"

/* Folds the first max lines of a fixture (0: all) into st. */
static void feed(struct drbd_state *st, const char *file, int max)
{
	FILE *f = fopen(file, "r");
	char line[DRBD_LINE_MAX], err[160];
	int n = 0;

	ck_assert_msg(f != NULL, "cannot open %s", file);
	drbd_state_init(st);
	while (fgets(line, sizeof(line), f) && (!max || n < max)) {
		struct drbd_event ev;
		line[strcspn(line, "\n")] = '\0';
		ck_assert_msg(drbd_ev_parse(line, &ev, err, sizeof(err)) == 0,
			      "%s: %s", line, err);
		ck_assert_int_ge(drbd_state_apply(st, &ev, 0), 0);
		n++;
	}
	fclose(f);
}

/* A node whose resource is up, Secondary, connected to a Secondary peer,
 * both UpToDate, not mounted. */
static struct drbd_facts up_facts(void)
{
	struct drbd_facts f;

	drbd_facts_init(&f);
	f.started = true;
	f.res_file = true;
	f.stream_up = true;
	f.res_present = true;
	f.role = DRBD_SECONDARY;
	f.peer_role = DRBD_SECONDARY;
	f.disk = DRBD_UPTODATE;
	f.peer_disk = DRBD_UPTODATE;
	f.conn = DRBD_CONNECTED;
	f.mounted = 0;
	return f;
}

/*
 * Runs op from f, playing each step's outcome as the runtime records it
 * (every command succeeds; the probe finds what blkid_fs says; the model
 * follows the drbdadm commands), and writes the actions, space-separated, into
 * out. Stops at DONE, FAIL or WAIT (written as such).
 */
static const char *run(enum drbd_opk op, struct drbd_facts *f, int blkid_fs,
		       int md)
{
	static char out[512];
	const char *why;

	out[0] = '\0';
	for (int i = 0; i < 30; i++) {
		enum drbd_act a = drbd_next(op, f, &why);
		if (out[0])
			strcat(out, ", ");
		strcat(out, drbd_act_name(a));
		switch (a) {
		case DRBD_A_DONE:
		case DRBD_A_FAIL:
		case DRBD_A_WAIT:
			return out;
		case DRBD_A_WRITE_RES:
			f->wrote_res = f->res_file = true;
			break;
		case DRBD_A_EVENTS:
			f->stream_up = true;
			f->started = true;
			break;
		case DRBD_A_DUMP_MD:
			f->md = md;
			break;
		case DRBD_A_CREATE_MD:
			f->created_md = true;
			f->md = 1;
			f->fresh = true;
			break;
		case DRBD_A_UP:
			f->upped = true;
			f->res_present = true;
			f->role = DRBD_SECONDARY;
			break;
		case DRBD_A_PRIMARY:
			f->primaried = true;
			f->role = DRBD_PRIMARY;
			break;
		case DRBD_A_PROBE:
			f->fs = blkid_fs;
			break;
		case DRBD_A_MKFS:
			f->mkfs_done = true;
			f->fs = 1;
			break;
		case DRBD_A_PREPARE:
			f->found = DRBD_MNT_FREE;
			break;
		case DRBD_A_FSCK:
			f->fsck_done = true;
			break;
		case DRBD_A_MOUNT:
			f->mounted = 1;
			break;
		case DRBD_A_UMOUNT:
			f->mounted = 0;
			break;
		case DRBD_A_SECONDARY:
			f->secondaried = true;
			f->role = DRBD_SECONDARY;
			break;
		case DRBD_A_DISCONNECT:
			f->disconnected = true;
			f->conn = DRBD_STANDALONE;
			break;
		case DRBD_A_CONNECT:
		case DRBD_A_CONNECT_DISCARD:
			f->connected = true;
			f->conn = DRBD_CONNECTING;
			break;
		case DRBD_A_DOWN:
			f->downed = true;
			f->res_present = false;
			break;
		case DRBD_A_STOP_EVENTS:
			f->stream_up = false;
			return out;
		}
	}
	return "no end";
}

/* ---- start ---- */

START_TEST(start_fresh_disk_creates_md)
{
	struct drbd_facts f;

	drbd_facts_init(&f);
	f.mounted = 0;
	ck_assert_str_eq(run(DRBD_OP_START, &f, 0, 0),
			 "write-res, events2, dump-md, create-md, up, done");
}
END_TEST

START_TEST(start_with_md_never_creates)
{
	struct drbd_facts f;

	drbd_facts_init(&f);
	ck_assert_str_eq(run(DRBD_OP_START, &f, 0, 1),
			 "write-res, events2, dump-md, up, done");
	ck_assert(!f.created_md);
}
END_TEST

START_TEST(start_already_up)
{
	struct drbd_facts f = up_facts();

	f.wrote_res = false;
	f.stream_up = false;
	ck_assert_str_eq(run(DRBD_OP_START, &f, 0, -1),
			 "write-res, events2, done");
}
END_TEST

/* ---- promote ---- */

START_TEST(promote_uptodate_ext4)
{
	struct drbd_facts f = up_facts();

	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 1, 1),
			 "primary, probe, prepare, fsck, mount, done");
}
END_TEST

START_TEST(promote_xfs_no_fsck)
{
	struct drbd_facts f = up_facts();

	f.xfs = true;
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 1, 1),
			 "primary, probe, prepare, mount, done");
}
END_TEST

START_TEST(promote_not_uptodate_refused_unless_forced)
{
	static const enum drbd_disk bad[] = {DRBD_INCONSISTENT, DRBD_OUTDATED,
					     DRBD_CONSISTENT, DRBD_DUNKNOWN,
					     DRBD_DISKLESS};
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct drbd_facts f = up_facts();
		f.disk = bad[i];
		ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why),
				 DRBD_A_FAIL);
		ck_assert_int_eq(f.err, -EPERM);
		ck_assert_ptr_nonnull(strstr(why, "not UpToDate"));
		f.force = true;
		ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why),
				 DRBD_A_PRIMARY);
	}
}
END_TEST

START_TEST(promote_split_brain_refused)
{
	struct drbd_facts f = up_facts();
	const char *why;

	f.split_brain = true;
	f.conn = DRBD_STANDALONE;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_FAIL);
	ck_assert_int_eq(f.err, -EPERM);
	ck_assert_ptr_nonnull(strstr(why, "split brain"));
}
END_TEST

START_TEST(promote_waits_for_primary_peer)
{
	struct drbd_facts f = up_facts();
	const char *why;

	f.peer_role = DRBD_PRIMARY;
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 1, 1), "wait");
	/* The peer steps down. */
	f.peer_role = DRBD_SECONDARY;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_PRIMARY);
	/* Or the peer is gone (declared dead by the arbiter). */
	f = up_facts();
	f.peer_role = DRBD_PRIMARY;
	f.conn = DRBD_CONNECTING;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_PRIMARY);
}
END_TEST

START_TEST(promote_waits_for_stream_and_needs_resource)
{
	struct drbd_facts f = up_facts();
	const char *why;

	f.stream_up = false;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_WAIT);
	f = up_facts();
	f.res_present = false;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_FAIL);
	ck_assert_int_eq(f.err, -ENODEV);
}
END_TEST

START_TEST(promote_fresh_makes_fs_once)
{
	struct drbd_facts f = up_facts();

	f.fresh = true;
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 0, 1),
			 "primary, probe, mkfs, prepare, fsck, mount, done");
}
END_TEST

START_TEST(promote_never_mkfs_over_data)
{
	struct drbd_facts f = up_facts();
	const char *why;

	/* Not fresh (this node did not create the metadata): a device
	 * without a recognised file system is someone's data. */
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 0, 1),
			 "primary, probe, fail");
	ck_assert_int_eq(f.err, -ENODATA);
	/* Fresh but the probe found one: mount it, no mkfs. */
	f = up_facts();
	f.fresh = true;
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 1, 1),
			 "primary, probe, prepare, fsck, mount, done");
	/* mkfs ran once: not again. */
	f = up_facts();
	f.fresh = true;
	f.primaried = true;
	f.fs = 0;
	f.mkfs_done = true;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_FAIL);
}
END_TEST

START_TEST(promote_adopts_or_skips_fsck_when_in_use)
{
	struct drbd_facts f = up_facts();
	const char *why;

	f.primaried = true;
	f.role = DRBD_PRIMARY;
	f.fs = 1;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_PREPARE);
	/* Mounted there already (a promote cancelled after its mount, an
	 * agent restarted): adopted, nothing run. */
	f.found = DRBD_MNT_ADOPT;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_DONE);
	ck_assert_ptr_nonnull(strstr(why, "adopted"));
	/* In use elsewhere on this host: no e2fsck on a mounted device. */
	f.found = DRBD_MNT_BUSY;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_MOUNT);
	f.found = DRBD_MNT_FREE;
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_FSCK);
}
END_TEST

START_TEST(promote_already_done)
{
	struct drbd_facts f = up_facts();

	f.role = DRBD_PRIMARY;
	f.mounted = 1;
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 1, 1), "done");
}
END_TEST

/* ---- demote, stop ---- */

START_TEST(demote_sequence)
{
	struct drbd_facts f = up_facts();

	f.role = DRBD_PRIMARY;
	f.mounted = 1;
	ck_assert_str_eq(run(DRBD_OP_DEMOTE, &f, 1, 1),
			 "umount, secondary, done");
	f = up_facts();
	ck_assert_str_eq(run(DRBD_OP_DEMOTE, &f, 1, 1), "done");
	/* Never started (the agent's boot-clean demote): nothing to do. */
	drbd_facts_init(&f);
	f.mounted = 0;
	ck_assert_str_eq(run(DRBD_OP_DEMOTE, &f, 1, 1), "done");
}
END_TEST

START_TEST(stop_sequence)
{
	struct drbd_facts f = up_facts();

	f.role = DRBD_PRIMARY;
	f.mounted = 1;
	ck_assert_str_eq(run(DRBD_OP_STOP, &f, 1, 1),
			 "umount, secondary, down, stop-events2");
	/* Without the stream: down anyway (it demotes). */
	f = up_facts();
	f.stream_up = false;
	ck_assert_str_eq(run(DRBD_OP_STOP, &f, 1, 1), "down, stop-events2");
	/* Never written a file: nothing was brought up by cmsd. */
	drbd_facts_init(&f);
	f.mounted = 0;
	ck_assert_str_eq(run(DRBD_OP_STOP, &f, 1, 1), "stop-events2");
}
END_TEST

/* ---- split brain and resync, on the real 8.4 stream ---- */

/* A new pair, before anyone forced a sync: Inconsistent/Inconsistent,
 * connected, "just created" UUIDs (the live log's first 12 lines). */
START_TEST(initial_pair_from_live_log)
{
	static const char *const fresh_gi =
		"0000000000000004:0000000000000000:0000000000000000:"
		"0000000000000000:0:0:0:0:0:0:0:0";
	struct drbd_state st;
	struct drbd_res_state *r;
	struct drbd_facts f;
	char err[100];
	const char *why;

	feed(&st, FIX "events2-live-a.log", 12);
	r = drbd_state_res(&st, "r0");
	ck_assert(!drbd_data_usable(r));
	/* No generation read yet: not known to be empty. */
	ck_assert(!drbd_initial_pair(r, true));
	ck_assert_int_eq(drbd_res_set_gi(r, fresh_gi, err, sizeof(err)), 0);
	ck_assert(drbd_initial_pair(r, true));
	/* Metadata this node did not create: not ours to force. */
	ck_assert(!drbd_initial_pair(r, false));
	/* The first promote forces the sync, without an operator. */
	drbd_facts_init(&f);
	drbd_facts_from_model(&f, true, r);
	f.started = f.res_file = true;
	f.mounted = 0;
	f.fresh = true;
	f.initial = drbd_initial_pair(r, f.fresh);
	ck_assert_int_eq(drbd_next(DRBD_OP_PROMOTE, &f, &why), DRBD_A_PRIMARY);
	ck_assert_ptr_nonnull(strstr(why, "initial sync"));
	ck_assert_str_eq(run(DRBD_OP_PROMOTE, &f, 0, 1),
			 "primary, probe, mkfs, prepare, fsck, mount, done");
	/* Data somewhere (a UUID of its own): never. */
	ck_assert_int_eq(drbd_res_set_gi(r, "F5682BF1AE45298B:0:0:0:1:1:1:1",
					 err, sizeof(err)),
			 0);
	ck_assert(!drbd_initial_pair(r, true));
	/* Once the sync runs (A UpToDate, line 14): the normal rules. */
	feed(&st, FIX "events2-live-a.log", 14);
	r = drbd_state_res(&st, "r0");
	ck_assert_int_eq(drbd_res_set_gi(r, fresh_gi, err, sizeof(err)), 0);
	ck_assert(!drbd_initial_pair(r, true));
	ck_assert(drbd_data_usable(r));
}
END_TEST

START_TEST(split_brain_model_from_live_log)
{
	struct drbd_state st;
	struct drbd_facts f;
	const struct drbd_res_state *r;

	/* Up to A's StandAlone after the split-brain helper (line 37). */
	feed(&st, FIX "events2-live-a.log", 37);
	r = drbd_state_find(&st, "r0");
	ck_assert_ptr_nonnull(r);
	ck_assert(r->split_brain);
	ck_assert(!drbd_data_usable(r));
	drbd_facts_init(&f);
	drbd_facts_from_model(&f, true, r);
	ck_assert(f.split_brain);
	ck_assert_int_eq(f.role, DRBD_PRIMARY);
	ck_assert_int_eq(f.disk, DRBD_UPTODATE);
	/* 8.4 destroys the connection on StandAlone: still StandAlone. */
	ck_assert_int_eq(f.conn, DRBD_STANDALONE);
	f.mounted = 1;
	f.started = f.res_file = true;
	/* The loser: no disconnect (StandAlone already). */
	f.discard_local = true;
	ck_assert_str_eq(run(DRBD_OP_RESYNC, &f, 1, 1),
			 "umount, secondary, connect --discard-my-data, done");
	/* The winner reconnects. */
	drbd_facts_init(&f);
	drbd_facts_from_model(&f, true, r);
	f.mounted = 1;
	ck_assert_str_eq(run(DRBD_OP_RESYNC, &f, 1, 1), "connect, done");
}
END_TEST

START_TEST(loser_still_connecting_disconnects_first)
{
	struct drbd_facts f = up_facts();
	const char *why;

	f.conn = DRBD_CONNECTING;
	f.discard_local = true;
	ck_assert_int_eq(drbd_next(DRBD_OP_RESYNC, &f, &why),
			 DRBD_A_DISCONNECT);
	f.disconnected = true; /* the model has not caught up yet */
	ck_assert_int_eq(drbd_next(DRBD_OP_RESYNC, &f, &why), DRBD_A_WAIT);
	f.conn = DRBD_STANDALONE;
	ck_assert_int_eq(drbd_next(DRBD_OP_RESYNC, &f, &why),
			 DRBD_A_CONNECT_DISCARD);
	/* The winner, connected: nothing to do. */
	f = up_facts();
	ck_assert_int_eq(drbd_next(DRBD_OP_RESYNC, &f, &why), DRBD_A_DONE);
}
END_TEST

START_TEST(connected_model_from_fixture)
{
	struct drbd_state st;
	struct drbd_facts f;
	const struct drbd_res_state *r;

	feed(&st, FIX "events2-now-a.txt", 0);
	r = drbd_state_find(&st, "r0");
	ck_assert(st.dump_done);
	ck_assert(drbd_data_usable(r));
	drbd_facts_init(&f);
	drbd_facts_from_model(&f, true, r);
	ck_assert_int_eq(f.role, DRBD_PRIMARY);
	ck_assert_int_eq(f.peer_role, DRBD_SECONDARY);
	ck_assert_int_eq(f.conn, DRBD_CONNECTED);
	ck_assert_int_eq(f.peer_disk, DRBD_UPTODATE);
	/* A current peer cannot be outdated from here. */
	ck_assert_int_eq(drbd_fence_verdict(r), -EOPNOTSUPP);
	ck_assert_int_eq(drbd_fence_verdict(NULL), -EOPNOTSUPP);
}
END_TEST

START_TEST(fence_verdict_outdated_peer)
{
	struct drbd_state st;
	struct drbd_res_state *r;
	struct drbd_peer_dev *pd;

	feed(&st, FIX "events2-now-a.txt", 0);
	r = drbd_state_res(&st, "r0");
	pd = (struct drbd_peer_dev *)drbd_res_peer_dev(r, 0);
	ck_assert_ptr_nonnull(pd);
	pd->peer_disk = DRBD_OUTDATED;
	ck_assert_int_eq(drbd_fence_verdict(r), 0);
	pd->peer_disk = DRBD_INCONSISTENT;
	ck_assert_int_eq(drbd_fence_verdict(r), 0);
	pd->peer_disk = DRBD_DUNKNOWN;
	ck_assert_int_eq(drbd_fence_verdict(r), -EOPNOTSUPP);
}
END_TEST

START_TEST(loser_line_names_what_it_had)
{
	struct drbd_state st;
	struct drbd_res_state *r;
	char buf[400], err[100];

	feed(&st, FIX "events2-live-a.log", 37);
	r = drbd_state_res(&st, "r0");
	ck_assert_int_eq(
		drbd_res_set_gi(
			r,
			"F5682BF1AE45298B:A5C2D2D7A4E8B3F6:"
			"0000000000000000:0000000000000000:1:1:1:1:0:0:0",
			err, sizeof(err)),
		0);
	/* 8.4 drops the StandAlone connection from events2: the amount
	 * comes from /proc/drbd's oos: (the same moment's capture). */
	{
		char *txt = NULL;
		size_t cap = 0;
		FILE *pf = fopen(FIX "proc-drbd-split-brain-a.txt", "r");
		struct drbd_proc_dev pdv[2];
		ck_assert_ptr_nonnull(pf);
		ck_assert_int_gt(getdelim(&txt, &cap, '\0', pf), 0);
		fclose(pf);
		ck_assert_int_eq(drbd_proc_parse(txt, pdv, 2, err, sizeof(err)),
				 1);
		free(txt);
		ck_assert_ptr_null(drbd_res_peer_dev(r, 0));
		ck_assert_int_gt(drbd_loser_line(r, pdv[0].oos, 1764049733, buf,
						 sizeof(buf)),
				 0);
		ck_assert_ptr_nonnull(strstr(buf, "out of sync 24 KiB"));
	}
	ck_assert_int_gt(drbd_loser_line(r, -1, 1764049733, buf, sizeof(buf)),
			 0);
	ck_assert_ptr_nonnull(strstr(buf, "out of sync unknown"));
	ck_assert_ptr_nonnull(strstr(buf, "r0"));
	/* The Primary bit masked: the generation both nodes compare. */
	ck_assert_ptr_nonnull(strstr(buf, "generation F5682BF1AE45298A"));
	ck_assert_ptr_nonnull(strstr(buf, "resync started at 1764049733"));
	ck_assert_ptr_null(strstr(buf, "split brain at 0 "));
	ck_assert_int_eq(drbd_loser_line(r, -1, 0, buf, 10), -ENOSPC);
}
END_TEST

/* ---- verdicts on command results ---- */

START_TEST(md_verdict)
{
	ck_assert_int_eq(drbd_md_verdict(0, "# DRBD meta data dump\n"), 1);
	ck_assert_int_eq(drbd_md_verdict(255, "No valid meta data found\n"), 0);
	ck_assert_int_eq(drbd_md_verdict(10, "foo\nNo valid meta data found\n"),
			 0);
	ck_assert_int_eq(
		drbd_md_verdict(255, "Found meta data is \"unclean\", please "
				     "apply-al first\n"),
		1);
	/* Anything else never leads to create-md. */
	ck_assert_int_eq(drbd_md_verdict(20, "open(/dev/vdb) failed: No "
					     "such file or directory\n"),
			 -EIO);
	ck_assert_int_eq(drbd_md_verdict(1, ""), -EIO);
	ck_assert_int_eq(drbd_md_verdict(1, NULL), -EIO);
}
END_TEST

/* Reads what the plugin's dd reads: the first DRBD_PROBE_BYTES of a file
 * the real mkfs made. */
static enum drbd_fs probe_file(const char *path, const char **what)
{
	static unsigned char buf[DRBD_PROBE_BYTES];
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
	return drbd_fs_probe(buf, sizeof(buf), what);
}

START_TEST(fs_probe_real_mkfs)
{
	char *dir = tu_tmpdir(), img[600];
	const char *what;

	snprintf(img, sizeof(img), "%s/dev.img", dir);
	/* Sparse; mkfs.xfs wants 300 MB at least. */
	SH_OK("truncate -s 320M %s", img);
	ck_assert_int_eq(probe_file(img, &what), DRBD_FS_NONE);
	ck_assert_str_eq(what, "nothing (blank)");
	SH_OK("mkfs.ext4 -q -F %s", img);
	ck_assert_int_eq(probe_file(img, &what), DRBD_FS_EXT);
	ck_assert_str_eq(what, "ext4");
	SH_OK("dd if=/dev/zero of=%s bs=1M count=1 conv=notrunc status=none "
	      "&& mkfs.ext2 -q -F %s",
	      img, img);
	ck_assert_int_eq(probe_file(img, &what), DRBD_FS_EXT);
	ck_assert_str_eq(what, "ext2/ext3");
	if (tu_sh("command -v mkfs.xfs >/dev/null") == 0) {
		SH_OK("mkfs.xfs -q -f %s", img);
		ck_assert_int_eq(probe_file(img, &what), DRBD_FS_XFS);
	}
	SH_OK("dd if=/dev/zero of=%s bs=1M count=1 conv=notrunc status=none "
	      "&& mkswap -q %s >/dev/null 2>&1",
	      img, img);
	ck_assert_int_eq(probe_file(img, &what), DRBD_FS_OTHER);
	ck_assert_str_eq(what, "swap");
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(fs_probe_signatures)
{
	static unsigned char b[DRBD_PROBE_BYTES];
	const char *what;

	memset(b, 0, sizeof(b));
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_NONE);
	/* Too little to tell is never "blank". */
	ck_assert_int_eq(drbd_fs_probe(b, 4096, &what), DRBD_FS_OTHER);
	ck_assert_int_eq(drbd_fs_probe(NULL, 0, &what), DRBD_FS_OTHER);
	memcpy(b + 512, "LABELONE", 8);
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_OTHER);
	ck_assert_str_eq(what, "LVM2 member");
	memset(b, 0, sizeof(b));
	memcpy(b, "LUKS\xba\xbe", 6);
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_OTHER);
	ck_assert_str_eq(what, "LUKS");
	memset(b, 0, sizeof(b));
	memcpy(b + 65600, "_BHRfS_M", 8);
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_OTHER);
	ck_assert_str_eq(what, "btrfs");
	memset(b, 0, sizeof(b));
	b[510] = 0x55;
	b[511] = 0xAA;
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_OTHER);
	/* Old data without a signature: not blank, never mkfs'd over. */
	memset(b, 0, sizeof(b));
	b[40000] = 1;
	ck_assert_int_eq(drbd_fs_probe(b, sizeof(b), &what), DRBD_FS_OTHER);
	ck_assert_ptr_nonnull(strstr(what, "not blank"));
}
END_TEST

START_TEST(act_names)
{
	ck_assert_str_eq(drbd_act_name(DRBD_A_CONNECT_DISCARD),
			 "connect --discard-my-data");
	ck_assert_str_eq(drbd_act_name((enum drbd_act)99), "?");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drbd_plan");
	TCase *tc = tcase_create("drbd_plan");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, start_fresh_disk_creates_md);
	tcase_add_test(tc, start_with_md_never_creates);
	tcase_add_test(tc, start_already_up);
	tcase_add_test(tc, promote_uptodate_ext4);
	tcase_add_test(tc, promote_xfs_no_fsck);
	tcase_add_test(tc, promote_not_uptodate_refused_unless_forced);
	tcase_add_test(tc, promote_split_brain_refused);
	tcase_add_test(tc, promote_waits_for_primary_peer);
	tcase_add_test(tc, promote_waits_for_stream_and_needs_resource);
	tcase_add_test(tc, promote_fresh_makes_fs_once);
	tcase_add_test(tc, promote_never_mkfs_over_data);
	tcase_add_test(tc, promote_adopts_or_skips_fsck_when_in_use);
	tcase_add_test(tc, promote_already_done);
	tcase_add_test(tc, demote_sequence);
	tcase_add_test(tc, stop_sequence);
	tcase_add_test(tc, initial_pair_from_live_log);
	tcase_add_test(tc, split_brain_model_from_live_log);
	tcase_add_test(tc, loser_still_connecting_disconnects_first);
	tcase_add_test(tc, connected_model_from_fixture);
	tcase_add_test(tc, fence_verdict_outdated_peer);
	tcase_add_test(tc, loser_line_names_what_it_had);
	tcase_add_test(tc, md_verdict);
	tcase_add_test(tc, fs_probe_real_mkfs);
	tcase_add_test(tc, fs_probe_signatures);
	tcase_add_test(tc, act_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
