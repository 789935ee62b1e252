/* storage-drbd's pure parts on real captured DRBD 8.4 output
 * (tests/fixtures/drbd84) and drbd-utils' DRBD 9 regression lines: the
 * events2 line buffer and parser, the state model, drbd-overview lines,
 * get-gi, the resource file text and the sizing formula. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drbd_events.h"
#include "drbd_res.h"
#include "testutil.h"

#define FIX SOURCE_DIR "/tests/fixtures/"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- line buffer ------------------------------------------------------ */

struct collect {
	char lines[200][DRBD_LINE_MAX];
	int n;
};

static void collect_cb(void *ctx, const char *line)
{
	struct collect *c = ctx;

	ck_assert_int_lt(c->n, 200);
	snprintf(c->lines[c->n++], DRBD_LINE_MAX, "%s", line);
}

static struct collect c1, c2;

START_TEST(lines_split_anywhere)
{
	char *text = slurp(FIX "drbd84/events2-live-a.log");
	size_t len = strlen(text);
	struct drbd_lines lb = {0};

	/* One read, then reads of every size from 1 to 97 bytes: the same
	 * lines in the same order. */
	c1.n = 0;
	ck_assert_int_eq(drbd_lines_feed(&lb, text, len, collect_cb, &c1), 0);
	ck_assert_int_eq(drbd_lines_flush(&lb, collect_cb, &c1), 0);
	ck_assert_int_eq(c1.n, 71);
	ck_assert_str_eq(c1.lines[0],
			 "2026-11-25T05:48:33.233241+00:00 exists -");
	for (size_t step = 1; step < 98; step += 6) {
		c2.n = 0;
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;
			drbd_lines_feed(&lb, text + off, n, collect_cb, &c2);
		}
		ck_assert_int_eq(c2.n, c1.n);
		for (int i = 0; i < c1.n; i++)
			ck_assert_str_eq(c2.lines[i], c1.lines[i]);
	}
	free(text);
}
END_TEST

START_TEST(lines_crlf_flush_overlong)
{
	struct drbd_lines lb = {0};
	static char big[DRBD_LINE_MAX + 10];

	c1.n = 0;
	drbd_lines_feed(&lb, "a\r\nb", 4, collect_cb, &c1);
	ck_assert_int_eq(c1.n, 1);
	ck_assert_str_eq(c1.lines[0], "a");
	/* EOF: the unterminated last line still counts. */
	ck_assert_int_eq(drbd_lines_flush(&lb, collect_cb, &c1), 1);
	ck_assert_str_eq(c1.lines[1], "b");
	/* A line that cannot fit is dropped whole, the next one kept. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(
		drbd_lines_feed(&lb, big, strlen(big), collect_cb, &c1), 1);
	ck_assert_int_eq(drbd_lines_feed(&lb, "\nc\n", 3, collect_cb, &c1), 0);
	ck_assert_int_eq(c1.n, 3);
	ck_assert_str_eq(c1.lines[2], "c");
	/* Exactly DRBD_LINE_MAX - 1 characters fit. */
	big[DRBD_LINE_MAX - 1] = '\n';
	ck_assert_int_eq(
		drbd_lines_feed(&lb, big, DRBD_LINE_MAX, collect_cb, &c1), 0);
	ck_assert_int_eq(c1.n, 4);
	ck_assert_uint_eq(strlen(c1.lines[3]), DRBD_LINE_MAX - 1);
}
END_TEST

/* ---- parser ----------------------------------------------------------- */

static struct drbd_event ev;
static char err[256];

static void parse_ok(const char *line)
{
	int rc = drbd_ev_parse(line, &ev, err, sizeof(err));
	ck_assert_msg(rc == 0, "refused \"%s\": %s", line, err);
}

static void parse_bad(const char *line, const char *msg)
{
	ck_assert_msg(drbd_ev_parse(line, &ev, err, sizeof(err)) == -EINVAL,
		      "accepted \"%s\"", line);
	ck_assert_msg(strstr(err, msg), "\"%s\": message \"%s\" lacks \"%s\"",
		      line, err, msg);
}

/* Every line of every fixture parses. */
START_TEST(parse_all_fixtures)
{
	static const char *const files[] = {
		"drbd84/events2-now-a.txt",
		"drbd84/events2-now-statistics-b.txt",
		"drbd84/events2-now-both-primary-a.txt",
		"drbd84/events2-now-split-brain-a.txt",
		"drbd84/events2-live-a.log",
		"drbd84/events2-live-b-before-power-loss.log",
		"drbd84/events2-live-b-rejoin.log",
		"drbd9/events2-regress.txt",
		NULL};
	int total = 0;

	for (int f = 0; files[f]; f++) {
		char path[512], *text, *save = NULL;

		snprintf(path, sizeof(path), FIX "%s", files[f]);
		text = slurp(path);
		for (char *l = strtok_r(text, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			ck_assert_msg(drbd_ev_parse(l, &ev, err, sizeof(err)) ==
					      0,
				      "%s: \"%s\": %s", files[f], l, err);
			total++;
		}
		free(text);
	}
	ck_assert_int_eq(total, 5 * 4 + 71 + 53 + 22 + 16);
}
END_TEST

START_TEST(parse_fields)
{
	parse_ok("2026-11-25T05:48:33.233241+00:00 exists -");
	ck_assert_int_eq(ev.kind, DRBD_EV_EXISTS);
	ck_assert_int_eq(ev.obj, DRBD_OBJ_END);
	ck_assert(ev.has_ts);
	ck_assert_int_eq(ev.ts_us, 1795585713233241LL);
	/* The same instant in another zone. */
	parse_ok("2026-11-24T21:48:33.233241-08:00 exists -");
	ck_assert_int_eq(ev.ts_us, 1795585713233241LL);

	parse_ok("exists peer-device name:r0 peer-node-id:0 conn-name:peer "
		 "volume:0 replication:Established peer-disk:UpToDate "
		 "resync-suspended:no received:65496 sent:0 out-of-sync:0 "
		 "pending:0 unacked:0");
	ck_assert_int_eq(ev.obj, DRBD_OBJ_PEER_DEVICE);
	ck_assert_str_eq(ev.name, "r0");
	ck_assert_str_eq(ev.conn_name, "peer");
	ck_assert_int_eq(ev.peer_node_id, 0);
	ck_assert_int_eq(ev.volume, 0);
	ck_assert_int_eq(ev.repl, DRBD_ESTABLISHED);
	ck_assert_int_eq(ev.peer_disk, DRBD_UPTODATE);
	ck_assert_int_eq(ev.out_of_sync, 0);
	ck_assert(!ev.has_ts);

	/* 8.4, StandAlone, --now: no conn-name. */
	parse_ok("exists connection name:r0 peer-node-id:0 "
		 "connection:StandAlone role:Unknown");
	ck_assert_str_eq(ev.conn_name, "");
	ck_assert_int_eq(ev.peer_node_id, 0);
	ck_assert_int_eq(ev.conn, DRBD_STANDALONE);
	ck_assert_int_eq(ev.role, DRBD_ROLE_UNKNOWN);

	parse_ok("2026-11-25T05:48:49.782127+00:00 call helper name:r0 "
		 "peer-node-id:0 conn-name:peer volume:0 minor:0 "
		 "helper:split-brain");
	ck_assert_int_eq(ev.kind, DRBD_EV_CALL);
	ck_assert_int_eq(ev.obj, DRBD_OBJ_HELPER);
	ck_assert_str_eq(ev.helper, "split-brain");
	ck_assert_int_eq(ev.status, -1);
	parse_ok("response helper name:r0 peer-node-id:0 conn-name:peer "
		 "volume:0 minor:0 helper:before-resync-target status:1");
	ck_assert_int_eq(ev.status, 1);

	parse_ok("change peer-device name:some-resource peer-node-id:1 "
		 "conn-name:some-peer volume:0 replication:SyncSource "
		 "peer-disk:Inconsistent peer-client:no done:37.50");
	ck_assert(ev.done > 37.49 && ev.done < 37.51);
	ck_assert_int_eq(ev.peer_node_id, 1);

	/* A change with nothing changed (8.4 after NetworkFailure). */
	parse_ok("change connection name:r0 peer-node-id:0 conn-name:peer");
	ck_assert_int_eq(ev.conn, DRBD_CONN_NONE);
	ck_assert_int_eq(ev.role, DRBD_ROLE_NONE);
	/* The '*' continuation mark of drbdsetup(8). */
	parse_ok("change resource name:r0 role:Primary *");
	ck_assert_int_eq(ev.role, DRBD_PRIMARY);
	parse_ok("change resource name:r0 suspended:user,no-data");
	ck_assert_int_eq(ev.suspended, 1);
}
END_TEST

START_TEST(parse_refused)
{
	parse_bad("", "empty line");
	parse_bad("exists", "no object");
	parse_bad("bogus resource name:r0", "unknown event kind \"bogus\"");
	parse_bad("change volume name:r0", "unknown object \"volume\"");
	parse_bad("change device name:r0 volume:0 disk:Fried",
		  "unknown disk state \"Fried\" (events2 line, column 32)");
	parse_bad("change connection name:r0 peer-node-id:0 connection:Up",
		  "unknown connection state \"Up\"");
	parse_bad("change peer-device name:r0 peer-node-id:0 volume:0 "
		  "replication:Sideways",
		  "unknown replication state");
	parse_bad("change resource role:Primary", "without name:");
	parse_bad("change device name:r0 disk:UpToDate", "without volume:");
	parse_bad("change connection name:r0 connection:Connected",
		  "without peer-node-id: or conn-name:");
	parse_bad("change device name:r0 volume:x0",
		  "bad value in \"volume:x0\"");
	parse_bad("change peer-device name:r0 peer-node-id:0 volume:0 "
		  "done:101",
		  "bad value in \"done:101\"");
	parse_bad("change resource name:r0 rolePrimary",
		  "\"rolePrimary\" is not key:value");
	parse_bad("2026-13-25T05:48:33.1+00:00 exists -", "bad timestamp");
	parse_bad("2026-11-25T05:48:33 exists -", "bad timestamp");
}
END_TEST

/* ---- state model ------------------------------------------------------ */

static struct drbd_state st;

static void fold_text(const char *text)
{
	char *copy = strdup(text), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(drbd_ev_parse(l, &ev, err, sizeof(err)) == 0,
			      "%s", err);
		ck_assert_int_ge(drbd_state_apply(&st, &ev, 0), 0);
	}
	free(copy);
}

static void fold_file(const char *name)
{
	char path[512], *text;

	snprintf(path, sizeof(path), FIX "%s", name);
	text = slurp(path);
	drbd_state_init(&st);
	fold_text(text);
	free(text);
}

static const struct drbd_mount_facts ref_mount = {
	.mount = "/var/lib/mysql-share",
	.fstype = "ext4",
	.size = 19ull * 1024 * 1024 * 1024 - 300ull * 1024 * 1024,
	.used = 91ull * 1024 * 1024 - 4096,
	.avail = 18ull * 1024 * 1024 * 1024 - 900ull * 1024 * 1024,
	.use_pct = -1,
};

static const char *overview(const char *res, const struct drbd_mount_facts *m)
{
	static char line[256];
	const struct drbd_res_state *r = drbd_state_find(&st, res);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_gt(drbd_overview_line(r, 0, m, line, sizeof(line)), 0);
	return line;
}

START_TEST(state_connected_primary)
{
	const struct drbd_res_state *r;

	fold_file("drbd84/events2-now-a.txt");
	ck_assert(st.dump_done);
	r = drbd_state_find(&st, "r0");
	ck_assert_int_eq(r->role, DRBD_PRIMARY);
	ck_assert_int_eq(drbd_res_dev(r, 0)->disk, DRBD_UPTODATE);
	ck_assert_int_eq(drbd_res_dev(r, 0)->minor, 0);
	ck_assert_int_eq(drbd_res_peer(r)->peer_role, DRBD_SECONDARY);
	ck_assert_int_eq(drbd_res_peer(r)->conn, DRBD_CONNECTED);
	ck_assert_int_eq(drbd_res_peer_dev(r, 0)->peer_disk, DRBD_UPTODATE);
	ck_assert(!r->split_brain);
	/* The reference line, byte for byte (DESIGN.md section 2). */
	ck_assert_str_eq(overview("r0", &ref_mount),
			 "0:r0/0 Connected Primary/Secondary "
			 "UpToDate/UpToDate C r----- /var/lib/mysql-share "
			 "ext4 19G 91M 18G 1%");
	ck_assert_str_eq(overview("r0", NULL),
			 "0:r0/0 Connected Primary/Secondary "
			 "UpToDate/UpToDate C r-----");

	fold_file("drbd84/events2-now-statistics-b.txt");
	ck_assert_str_eq(overview("r0", NULL),
			 "0:r0/0 Connected Secondary/Primary "
			 "UpToDate/UpToDate C r-----");
	ck_assert_int_eq(
		drbd_res_peer_dev(drbd_state_find(&st, "r0"), 0)->out_of_sync,
		0);
}
END_TEST

START_TEST(state_split_brain_now)
{
	const struct drbd_res_state *r;

	fold_file("drbd84/events2-now-both-primary-a.txt");
	ck_assert_str_eq(overview("r0", NULL),
			 "0:r0/0 WFConnection Primary/Unknown "
			 "UpToDate/DUnknown C r-----");
	/* StandAlone, no conn-name: the connection is still the one with
	 * peer-node-id 0, and the line has no protocol letter, as
	 * /proc/drbd in the same state (proc-drbd-split-brain-a.txt). */
	fold_file("drbd84/events2-now-split-brain-a.txt");
	r = drbd_state_find(&st, "r0");
	ck_assert_int_eq(drbd_res_peer(r)->conn, DRBD_STANDALONE);
	ck_assert_int_eq(drbd_res_peer(r)->peer_node_id, 0);
	ck_assert_str_eq(overview("r0", &ref_mount),
			 "0:r0/0 StandAlone Primary/Unknown "
			 "UpToDate/DUnknown r----- /var/lib/mysql-share ext4 "
			 "19G 91M 18G 1%");
	char *proc = slurp(FIX "drbd84/proc-drbd-split-brain-a.txt");
	ck_assert_ptr_nonnull(strstr(proc, "cs:StandAlone ro:Primary/Unknown "
					   "ds:UpToDate/DUnknown   r-----"));
	free(proc);
}
END_TEST

/* Folds the whole live stream of node A, one line at a time through the
 * line buffer, and checks the states the scenario went through. */
struct walk {
	char seen[64][160];
	int n;
	int sb_set, sb_cleared;
	int64_t sb_us;
};

static void walk_cb(void *ctx, const char *line)
{
	struct walk *w = ctx;
	const struct drbd_res_state *r;
	char l[160];
	int ch;

	ck_assert_msg(drbd_ev_parse(line, &ev, err, sizeof(err)) == 0, "%s",
		      err);
	ch = drbd_state_apply(&st, &ev, 0);
	ck_assert_int_ge(ch, 0);
	r = drbd_state_find(&st, "r0");
	if (ch & DRBD_CH_SPLIT_BRAIN) {
		if (r->split_brain) {
			w->sb_set++;
			w->sb_us = r->split_brain_us;
		} else {
			w->sb_cleared++;
		}
	}
	if (!r || !drbd_res_dev(r, 0) ||
	    drbd_overview_line(r, 0, NULL, l, sizeof(l)) < 0)
		return;
	if (w->n && strcmp(w->seen[w->n - 1], l) == 0)
		return;
	ck_assert_int_lt(w->n, 64);
	strcpy(w->seen[w->n++], l);
}

static struct walk w;

START_TEST(state_live_scenario_a)
{
	char *text = slurp(FIX "drbd84/events2-live-a.log");
	struct drbd_lines lb = {0};
	const struct drbd_res_state *r;
	int i = 0;

	drbd_state_init(&st);
	memset(&w, 0, sizeof(w));
	drbd_lines_feed(&lb, text, strlen(text), walk_cb, &w);
	free(text);

	/* One split-brain (the helper call at 05:48:49.782127), cleared by
	 * the resync after --discard-my-data. */
	ck_assert_int_eq(w.sb_set, 1);
	ck_assert_int_eq(w.sb_cleared, 1);
	ck_assert_int_eq(w.sb_us, 1795585729782127LL);

	/* Landmarks, in order. */
	static const char *const marks[] = {
		"0:r0/0 StandAlone Secondary/Unknown Inconsistent/DUnknown "
		"r-----",
		"0:r0/0 WFConnection Secondary/Unknown Inconsistent/DUnknown "
		"C r-----",
		"0:r0/0 Connected Secondary/Secondary "
		"Inconsistent/Inconsistent "
		"C r-----",
		"0:r0/0 SyncSource Primary/Secondary UpToDate/Inconsistent C "
		"r-----",
		"0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r-----",
		"0:r0/0 Connected Secondary/Primary UpToDate/UpToDate C r-----",
		"0:r0/0 WFConnection Secondary/Unknown UpToDate/DUnknown C "
		"r-----",
		"0:r0/0 WFConnection Primary/Unknown UpToDate/DUnknown C "
		"r-----",
		"0:r0/0 StandAlone Primary/Unknown UpToDate/DUnknown r-----",
		"0:r0/0 StandAlone Secondary/Unknown UpToDate/DUnknown r-----",
		"0:r0/0 SyncTarget Secondary/Primary Inconsistent/UpToDate C "
		"r-----",
		"0:r0/0 Connected Secondary/Primary UpToDate/UpToDate C r-----",
		"0:r0/0 WFConnection Primary/Unknown UpToDate/DUnknown C "
		"r-----",
		"0:r0/0 SyncSource Primary/Secondary UpToDate/Inconsistent C "
		"r-----",
		"0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r-----",
		NULL};
	for (int m = 0; marks[m]; m++) {
		while (i < w.n && strcmp(w.seen[i], marks[m]) != 0)
			i++;
		ck_assert_msg(i < w.n, "never saw (in order) \"%s\"", marks[m]);
	}
	ck_assert_str_eq(w.seen[w.n - 1], marks[14]);
	r = drbd_state_find(&st, "r0");
	ck_assert(!r->split_brain);
	ck_assert_str_eq(r->last_helper, "before-resync-source");
	ck_assert_int_eq(r->last_helper_status, 0);
}
END_TEST

START_TEST(state_rejoin_b)
{
	const struct drbd_res_state *r;

	fold_file("drbd84/events2-live-b-rejoin.log");
	r = drbd_state_find(&st, "r0");
	ck_assert_int_eq(r->role, DRBD_SECONDARY);
	ck_assert_str_eq(overview("r0", NULL),
			 "0:r0/0 Connected Secondary/Primary "
			 "UpToDate/UpToDate C r-----");
	/* B's stream before its power loss ends after the split-brain was
	 * healed from B's side (it was the survivor). */
	fold_file("drbd84/events2-live-b-before-power-loss.log");
	r = drbd_state_find(&st, "r0");
	ck_assert(!r->split_brain);
	ck_assert_int_eq(r->role, DRBD_PRIMARY);
}
END_TEST

START_TEST(state_resync_rate_eta)
{
	const struct drbd_res_state *r;
	double pct;
	int64_t eta;

	drbd_state_init(&st);
	fold_text("exists resource name:r0 role:Secondary suspended:no\n"
		  "exists connection name:r0 peer-node-id:0 conn-name:peer "
		  "connection:Connected role:Primary\n"
		  "exists device name:r0 volume:0 minor:0 disk:Inconsistent\n"
		  "exists peer-device name:r0 peer-node-id:0 conn-name:peer "
		  "volume:0 replication:Established peer-disk:UpToDate "
		  "out-of-sync:65496\n"
		  "exists -\n");
	r = drbd_state_find(&st, "r0");
	ck_assert(!drbd_resync_progress(r, 0, &pct, &eta));
	fold_text("2026-11-25T05:48:38.000000+00:00 change peer-device "
		  "name:r0 peer-node-id:0 volume:0 replication:SyncTarget\n");
	ck_assert(drbd_resync_progress(r, 0, &pct, &eta));
	ck_assert(pct == 0);
	ck_assert_int_eq(eta, -1); /* no rate yet */
	fold_text("2026-11-25T05:48:39.000000+00:00 change peer-device "
		  "name:r0 peer-node-id:0 volume:0 out-of-sync:49122\n"
		  "2026-11-25T05:48:41.000000+00:00 change peer-device "
		  "name:r0 peer-node-id:0 volume:0 out-of-sync:32748\n");
	ck_assert(drbd_resync_progress(r, 0, &pct, &eta));
	ck_assert_msg(pct > 49.99 && pct < 50.01, "pct %f", pct);
	/* 16374 KiB in 2 s: 8187 KiB/s, 32748 KiB left: 4 s. */
	ck_assert(drbd_res_peer_dev(r, 0)->rate_kib_s > 8186.9 &&
		  drbd_res_peer_dev(r, 0)->rate_kib_s < 8187.1);
	ck_assert_int_eq(eta, 4);
	ck_assert_str_eq(overview("r0", NULL),
			 "0:r0/0 SyncTarget Secondary/Primary "
			 "Inconsistent/UpToDate C r-----");
	fold_text("change peer-device name:r0 peer-node-id:0 volume:0 "
		  "replication:Established out-of-sync:0\n"
		  "change device name:r0 volume:0 disk:UpToDate\n");
	ck_assert(!drbd_resync_progress(r, 0, &pct, &eta));

	/* DRBD 9 says done: itself. */
	fold_file("drbd9/events2-regress.txt");
	ck_assert_ptr_null(drbd_state_find(&st, "some-resource"));
	drbd_state_init(&st);
	fold_text("create resource name:s role:Secondary\n"
		  "create device name:s volume:0 minor:1000 disk:UpToDate\n"
		  "create connection name:s peer-node-id:1 conn-name:p "
		  "connection:Connected role:Secondary\n"
		  "change peer-device name:s peer-node-id:1 conn-name:p "
		  "volume:0 replication:SyncSource peer-disk:Inconsistent "
		  "done:37.50\n");
	ck_assert(
		drbd_resync_progress(drbd_state_find(&st, "s"), 0, &pct, &eta));
	ck_assert(pct > 37.49 && pct < 37.51);
	ck_assert_str_eq(overview("s", NULL),
			 "1000:s/0 SyncSource Secondary/Secondary "
			 "UpToDate/Inconsistent C r-----");
}
END_TEST

START_TEST(state_limits_and_destroy)
{
	drbd_state_init(&st);
	for (int i = 0; i < DRBD_MAX_RES; i++) {
		char l[64];
		snprintf(l, sizeof(l),
			 "create resource name:r%d role:Secondary", i);
		parse_ok(l);
		ck_assert_int_ge(drbd_state_apply(&st, &ev, 0), 0);
	}
	parse_ok("create resource name:rx role:Secondary");
	ck_assert_int_eq(drbd_state_apply(&st, &ev, 0), -ENOSPC);
	parse_ok("destroy resource name:r1");
	ck_assert(drbd_state_apply(&st, &ev, 0) & DRBD_CH_GONE);
	ck_assert_ptr_null(drbd_state_find(&st, "r1"));
	parse_ok("create resource name:rx role:Secondary");
	ck_assert_int_ge(drbd_state_apply(&st, &ev, 0), 0);
	ck_assert_ptr_nonnull(drbd_state_find(&st, "rx"));
	/* An overview of a volume that does not exist. */
	char l[64];
	ck_assert_int_eq(drbd_overview_line(drbd_state_find(&st, "rx"), 0, NULL,
					    l, sizeof(l)),
			 -ENOENT);
	/* Too small a buffer. */
	fold_file("drbd84/events2-now-a.txt");
	ck_assert_int_eq(drbd_overview_line(drbd_state_find(&st, "r0"), 0,
					    &ref_mount, l, 20),
			 -ENOSPC);
}
END_TEST

/* ---- get-gi ----------------------------------------------------------- */

START_TEST(gi)
{
	uint64_t u = 0;
	char *log = slurp(FIX "drbd84/proc-drbd-after-recovery-a.txt");
	const char *self = strstr(log, "self ");

	/* The kernel's "self" UUID set, as get-gi prints it. */
	ck_assert_ptr_nonnull(self);
	ck_assert_int_eq(drbd_parse_gi(self + 5, &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(u, 0x4967CBE38226FB26ull);
	free(log);
	ck_assert_int_eq(drbd_parse_gi("F5682BF1AE45298B:0000000000000000:"
				       "7F132228C7FA0EC1:0000000000000004:1:1:"
				       "1:1:0:0:0:0\n",
				       &u, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(u, 0xF5682BF1AE45298Bull);
	ck_assert_int_eq(
		drbd_parse_gi("F5682BF1AE45298\n", &u, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "16-hex-digit current UUID"));
	ck_assert_int_eq(
		drbd_parse_gi("F5682BF1AE45298B0:", &u, err, sizeof(err)),
		-EINVAL);
	ck_assert_int_eq(drbd_parse_gi("No response from the DRBD driver!", &u,
				       err, sizeof(err)),
			 -EINVAL);
}
END_TEST

/* The UUID set after `marker` in a kernel log fixture, into r. */
static uint64_t gi_from_log(const char *file, const char *marker)
{
	char path[512], *log;
	const char *p;
	struct drbd_res_state r = {0};

	snprintf(path, sizeof(path), FIX "drbd84/%s", file);
	log = slurp(path);
	p = strstr(log, marker);
	ck_assert_msg(p != NULL, "%s: no \"%s\"", file, marker);
	ck_assert_int_eq(
		drbd_res_set_gi(&r, p + strlen(marker), err, sizeof(err)), 0);
	ck_assert(r.have_uuid);
	free(log);
	return r.current_uuid;
}

/* The generation compares equal across the Primary bit after the initial
 * sync and differs after the split-brain (each side wrote alone). */
START_TEST(generation)
{
	uint64_t a = gi_from_log("dmesg-split-brain-a.txt", "updated UUIDs ");
	uint64_t b = gi_from_log("dmesg-split-brain-b.txt", "updated UUIDs ");

	ck_assert_uint_eq(a, 0xF5682BF1AE45298Bull);
	ck_assert_uint_eq(b, 0xF5682BF1AE45298Aull);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(drbd_generation(a), drbd_generation(b));
	a = gi_from_log("dmesg-split-brain-a.txt", "new current UUID ");
	b = gi_from_log("dmesg-split-brain-b.txt", "new current UUID ");
	ck_assert_uint_eq(a, 0x4967CBE38226FB27ull);
	ck_assert_uint_eq(b, 0x446FBC3535B64621ull);
	ck_assert_uint_ne(drbd_generation(a), drbd_generation(b));
}
END_TEST

/* ---- /proc/drbd ------------------------------------------------------- */

static struct drbd_proc_dev pd[4];

static int proc_file(const char *name)
{
	char path[512], *text;
	int n;

	snprintf(path, sizeof(path), FIX "drbd84/%s", name);
	text = slurp(path);
	n = drbd_proc_parse(text, pd, 4, err, sizeof(err));
	ck_assert_msg(n >= 0, "%s: %s", name, err);
	free(text);
	return n;
}

START_TEST(proc_drbd)
{
	ck_assert_int_eq(proc_file("proc-drbd-sync-a.txt"), 1);
	ck_assert_int_eq(pd[0].minor, 0);
	ck_assert_str_eq(pd[0].cs, "SyncSource");
	ck_assert_str_eq(pd[0].role[0], "Primary");
	ck_assert_str_eq(pd[0].role[1], "Secondary");
	ck_assert_str_eq(pd[0].ds[0], "UpToDate");
	ck_assert_str_eq(pd[0].ds[1], "Inconsistent");
	ck_assert_int_eq(pd[0].proto, 'C');
	ck_assert_str_eq(pd[0].flags, "r-----");
	ck_assert_int_eq(pd[0].oos, 64472);
	ck_assert(pd[0].syncing);
	ck_assert(pd[0].synced_pct > 6.29 && pd[0].synced_pct < 6.31);
	ck_assert_int_eq(pd[0].eta_s, 53);
	ck_assert_int_eq(pd[0].speed_kib_s, 1024);

	/* Split-brain: the protocol letter is blank. */
	ck_assert_int_eq(proc_file("proc-drbd-split-brain-a.txt"), 1);
	ck_assert_str_eq(pd[0].cs, "StandAlone");
	ck_assert_int_eq(pd[0].proto, 0);
	ck_assert_str_eq(pd[0].flags, "r-----");
	ck_assert_int_eq(pd[0].oos, 24);
	ck_assert(!pd[0].syncing);
	ck_assert_int_eq(pd[0].eta_s, -1);

	/* Followed by kernel log lines, which are not /proc/drbd. */
	ck_assert_int_eq(proc_file("proc-drbd-after-recovery-a.txt"), 1);
	ck_assert_str_eq(pd[0].cs, "Connected");
	ck_assert_str_eq(pd[0].role[0], "Secondary");
	ck_assert_int_eq(pd[0].oos, 0);
	ck_assert(!pd[0].syncing);
	ck_assert_int_eq(proc_file("proc-drbd-partition-a.txt"), 1);
	ck_assert_str_eq(pd[0].cs, "WFConnection");
	ck_assert_str_eq(pd[0].ds[1], "DUnknown");
	ck_assert_int_eq(proc_file("proc-drbd-after-up-a.txt"), 1);
	ck_assert_int_eq(pd[0].oos, 65496);

	ck_assert_int_eq(
		drbd_proc_parse("version: 8.4.11\n"
				" 0: cs:Connected ro:Primary/Secondary "
				"ds:UpToDate/UpToDate C r-----\n"
				" 1: cs:Unconfigured\n",
				pd, 4, err, sizeof(err)),
		2);
	ck_assert_str_eq(pd[1].cs, "Unconfigured");
	ck_assert_int_eq(pd[1].minor, 1);
	ck_assert_int_eq(drbd_proc_parse("version: 8.4.11\n"
					 " 0: cs:Connected ro:Primary\n",
					 pd, 4, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "/proc/drbd line 2: no ro:LOCAL/PEER");
	ck_assert_int_eq(drbd_proc_parse(" 0: cs:Connected "
					 "ro:Primary/Secondary "
					 "ds:UpToDate/UpToDate C r----- junk\n",
					 pd, 4, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "/proc/drbd line 1: unexpected field after "
			      "the flags");
	ck_assert_int_eq(drbd_proc_parse(" 0: cs:StandAlone ro:a/b ds:c/d\n"
					 " 1: cs:StandAlone ro:a/b ds:c/d\n",
					 pd, 1, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "/proc/drbd line 2: more devices than expected");
}
END_TEST

/* 8.4: the state from events2, the progress from /proc/drbd. */
START_TEST(proc_into_state)
{
	struct drbd_res_state *r;
	double pct;
	int64_t eta;

	/* events2 of A up to the start of the initial sync. */
	drbd_state_init(&st);
	fold_text("create resource name:r0 role:Primary suspended:no\n"
		  "create device name:r0 volume:0 minor:0 disk:UpToDate\n"
		  "create connection name:r0 peer-node-id:0 conn-name:peer "
		  "connection:Connected role:Secondary\n"
		  "create peer-device name:r0 peer-node-id:0 conn-name:peer "
		  "volume:0 replication:SyncSource peer-disk:Inconsistent\n");
	r = drbd_state_res(&st, "r0");
	ck_assert_int_eq(proc_file("proc-drbd-sync-a.txt"), 1);
	ck_assert_int_eq(drbd_res_apply_proc(r, &pd[0], 1000000), 0);
	ck_assert(drbd_resync_progress(r, 0, &pct, &eta));
	ck_assert(pct > 6.29 && pct < 6.31);
	ck_assert_int_eq(eta, 53); /* /proc/drbd's finish: */
	/* A second sample 2 s later: our own rate (512 KiB/s) wins. */
	pd[0].oos = 64472 - 1024;
	ck_assert_int_eq(drbd_res_apply_proc(r, &pd[0], 3000000), 0);
	ck_assert(drbd_resync_progress(r, 0, &pct, &eta));
	ck_assert_int_eq(eta, (64472 - 1024 + 511) / 512);
	pd[0].minor = 7;
	ck_assert_int_eq(drbd_res_apply_proc(r, &pd[0], 4000000), -ENOENT);
}
END_TEST

/* ---- formatting ------------------------------------------------------- */

START_TEST(human_sizes)
{
	static const struct {
		uint64_t b;
		const char *s;
	} t[] = {
		{0, "0"},
		{1023, "1023"},
		{1024, "1.0K"},
		{1025, "1.1K"},
		{1536, "1.5K"},
		{10 * 1024 - 1, "10K"},
		{10 * 1024, "10K"},
		{10 * 1024 + 1, "11K"},
		{1024ull * 1024 * 1024 - 1, "1.0G"},
		{91ull << 20, "91M"},
		{(91ull << 20) + 1, "92M"},
		{19ull << 30, "19G"},
		{3ull << 40, "3.0T"},
	};
	char b[16];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		drbd_human_size(t[i].b, b, sizeof(b));
		ck_assert_msg(strcmp(b, t[i].s) == 0, "%llu: %s, not %s",
			      (unsigned long long)t[i].b, b, t[i].s);
	}
}
END_TEST

START_TEST(ms_set_block)
{
	char b[256];

	ck_assert_int_gt(drbd_ms_set_block("/var/lib/mysql-share", "cvknode1",
					   "cvknode2", b, sizeof(b)),
			 0);
	ck_assert_str_eq(b, "Master/Slave Set: [/var/lib/mysql-share]\n"
			    "  Master: [cvknode1]\n"
			    "  Slave  : [cvknode2]\n");
	drbd_ms_set_block("/var/lib/mysql-share", "cvknode2", NULL, b,
			  sizeof(b));
	ck_assert_ptr_nonnull(strstr(b, "  Slave  : [Unknown]\n"));
	ck_assert_int_eq(drbd_ms_set_block("/m", "a", "b", b, 10), -ENOSPC);
}
END_TEST

/* ---- resource file ---------------------------------------------------- */

static const struct drbd_res_conf res84 = {
	.resource = "r0",
	.minor = 0,
	.port = 7789,
	.version = DRBD_V84,
	.node = {{"nodea", "10.77.0.1", "/dev/vdb", 0},
		 {"nodeb", "10.77.0.2", "/dev/vdb", 1}},
};

static void res_expect(const struct drbd_res_conf *c, const char *file)
{
	static char buf[8192];
	char path[512], *want;
	int n = drbd_res_write(c, buf, sizeof(buf), err, sizeof(err));

	ck_assert_msg(n > 0, "%d: %s", n, err);
	ck_assert_uint_eq(strlen(buf), (size_t)n);
	snprintf(path, sizeof(path), FIX "drbd-res/%s", file);
	want = slurp(path);
	ck_assert_str_eq(buf, want);
	free(want);
}

START_TEST(res_text)
{
	struct drbd_res_conf c = res84;
	char small[64];

	res_expect(&c, "r0-84.res");
	c.version = DRBD_V9;
	res_expect(&c, "r0-9.res");
	c = res84;
	c.resource = "r1";
	c.minor = 1;
	c.port = 7790;
	c.node[0].addr = "fd00::1";
	c.node[1].addr = "fd00::2";
	c.node[0].disk = c.node[1].disk = "/dev/sdb4";
	res_expect(&c, "r1-84-ipv6.res");

	ck_assert_int_eq(
		drbd_res_write(&res84, small, sizeof(small), err, sizeof(err)),
		-ENOSPC);
	c = res84;
	c.node[1].disk = "/dev/vdb; disk /dev/sda";
	ck_assert_int_eq(
		drbd_res_write(&c, small, sizeof(small), err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "disk \"/dev/vdb; disk /dev/sda\" cannot go "
			      "into a DRBD resource file (empty, or a blank, "
			      "quote, brace, ';', '#' or '\\')");
	c = res84;
	c.node[0].name = "";
	ck_assert_int_eq(
		drbd_res_write(&c, small, sizeof(small), err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "node name \"\""));
	c = res84;
	c.handler = "/bin/x \"y";
	ck_assert_int_eq(
		drbd_res_write(&c, small, sizeof(small), err, sizeof(err)),
		-EINVAL);
}
END_TEST

/* ---- sizing ----------------------------------------------------------- */

START_TEST(sizing)
{
	char msg[256];

	/* No hosts, no VMs: the 10 GB floor. */
	ck_assert_uint_eq(drbd_db_size_mib(0, 0), 10240);
	/* 1 host, 1 VM: (10 + 15) MB x 15 = 375 MB = 0.37 GB, + 10 GB. */
	ck_assert_uint_eq(drbd_db_size_mib(1, 1), 10240 + 375);
	/* 100 hosts, 1000 VMs: (1000 + 15000) x 15 / 1024 = 234.375 GB. */
	ck_assert_uint_eq(drbd_db_size_mib(100, 1000), 240000 + 10240);
	ck_assert_uint_eq(drbd_db_size_mib(100, 1000) * 1000 / 1024, 244375);

	ck_assert_int_eq(drbd_check_vms(30 * 1024, 10, 50, msg, sizeof(msg)),
			 0);
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(drbd_check_vms(30 * 1024 - 1, 0, 0, msg, sizeof(msg)),
			 -ENOSPC);
	ck_assert_str_eq(msg,
			 "/vms is 29.9 GB, less than the minimum of 30 GB");
	ck_assert_int_eq(drbd_check_vms(20 * 1024, 0, 0, msg, sizeof(msg)),
			 -ENOSPC);
	ck_assert_str_eq(msg,
			 "/vms is 20.0 GB, less than the minimum of 30 GB");
	/* Above 30 GB but below the formula's figure: 254.4 GB named. */
	ck_assert_int_eq(
		drbd_check_vms(100 * 1024, 100, 1000, msg, sizeof(msg)),
		-ENOSPC);
	ck_assert_str_eq(msg, "/vms is 100.0 GB, less than the database "
			      "partition of 244.4 GB needed for 100 hosts and "
			      "1000 VMs ((hosts x 10 MB + VMs x 15 MB) x 15 / "
			      "1024 + 10 GB)");
	ck_assert_int_eq(drbd_check_vms(250240, 100, 1000, msg, sizeof(msg)),
			 0);
	ck_assert_int_eq(drbd_check_vms(250239, 100, 1000, msg, sizeof(msg)),
			 -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drbd");
	TCase *tc = tcase_create("drbd");

	tcase_add_test(tc, lines_split_anywhere);
	tcase_add_test(tc, lines_crlf_flush_overlong);
	tcase_add_test(tc, parse_all_fixtures);
	tcase_add_test(tc, parse_fields);
	tcase_add_test(tc, parse_refused);
	tcase_add_test(tc, state_connected_primary);
	tcase_add_test(tc, state_split_brain_now);
	tcase_add_test(tc, state_live_scenario_a);
	tcase_add_test(tc, state_rejoin_b);
	tcase_add_test(tc, state_resync_rate_eta);
	tcase_add_test(tc, state_limits_and_destroy);
	tcase_add_test(tc, gi);
	tcase_add_test(tc, generation);
	tcase_add_test(tc, proc_drbd);
	tcase_add_test(tc, proc_into_state);
	tcase_add_test(tc, human_sizes);
	tcase_add_test(tc, ms_set_block);
	tcase_add_test(tc, res_text);
	tcase_add_test(tc, sizing);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
