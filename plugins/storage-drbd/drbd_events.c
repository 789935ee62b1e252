/*
 * storage-drbd: events2 line buffer, parser and state model; get-gi.  Pure:
 * no I/O, no clock (the caller passes "now").  See drbd_events.h.
 */
#include "drbd_events.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- line buffer ------------------------------------------------------ */

int drbd_lines_feed(struct drbd_lines *lb, const char *data, size_t n,
		    drbd_line_cb cb, void *ctx)
{
	int dropped = 0;

	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (c == '\n') {
			if (lb->skipping) {
				lb->skipping = false;
			} else {
				if (lb->len && lb->buf[lb->len - 1] == '\r')
					lb->len--;
				lb->buf[lb->len] = '\0';
				cb(ctx, lb->buf);
			}
			lb->len = 0;
			continue;
		}
		if (lb->skipping)
			continue;
		if (lb->len == sizeof(lb->buf) - 1) {
			/* A truncated event would be misread: drop it
			 * whole and say so. */
			lb->skipping = true;
			lb->len = 0;
			dropped++;
			continue;
		}
		lb->buf[lb->len++] = c;
	}
	return dropped;
}

int drbd_lines_flush(struct drbd_lines *lb, drbd_line_cb cb, void *ctx)
{
	bool had = lb->len > 0 && !lb->skipping;

	if (had) {
		lb->buf[lb->len] = '\0';
		cb(ctx, lb->buf);
	}
	lb->len = 0;
	lb->skipping = false;
	return had;
}

/* ---- value tables ----------------------------------------------------- */

static const char *const role_names[] = {NULL, "Primary", "Secondary",
					 "Unknown", NULL};
static const char *const disk_names[] = {
	NULL,	    "Diskless",	   "Attaching",	   "Detaching",
	"Failed",   "Negotiating", "Inconsistent", "Outdated",
	"DUnknown", "Consistent",  "UpToDate",	   NULL};
static const char *const conn_names[] = {
	NULL,	    "StandAlone", "Disconnecting",  "Unconnected",
	"Timeout",  "BrokenPipe", "NetworkFailure", "ProtocolError",
	"TearDown", "Connecting", "Connected",	    NULL};
static const char *const repl_names[] = {NULL,
					 "Off",
					 "Established",
					 "StartingSyncS",
					 "StartingSyncT",
					 "WFBitMapS",
					 "WFBitMapT",
					 "WFSyncUUID",
					 "SyncSource",
					 "SyncTarget",
					 "VerifyS",
					 "VerifyT",
					 "PausedSyncS",
					 "PausedSyncT",
					 "Ahead",
					 "Behind",
					 NULL};
static const char *const kind_names[] = {NULL,	     "exists",	"create",
					 "change",   "destroy", "call",
					 "response", "rename",	NULL};
static const char *const obj_names[] = {NULL,	      "-",	"resource",
					"connection", "device", "peer-device",
					"path",	      "helper", NULL};

/* Index of the len-long token in a NULL-terminated table from 1; 0 if none. */
static int lookup(const char *const *tab, const char *s, size_t len)
{
	for (int i = 1; tab[i]; i++)
		if (strlen(tab[i]) == len && memcmp(tab[i], s, len) == 0)
			return i;
	return 0;
}

const char *drbd_role_str(enum drbd_role r)
{
	return r ? role_names[r] : "Unknown";
}

const char *drbd_disk_str(enum drbd_disk d)
{
	return d ? disk_names[d] : "DUnknown";
}

const char *drbd_conn_str(enum drbd_conn c)
{
	return c ? conn_names[c] : "StandAlone";
}

const char *drbd_repl_str(enum drbd_repl r)
{
	return r ? repl_names[r] : "Off";
}

/* ---- events2 lines ---------------------------------------------------- */

static int perr(char *err, size_t errlen, const char *line, const char *at,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int perr(char *err, size_t errlen, const char *line, const char *at,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err && errlen) {
		va_start(ap, fmt);
		n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < errlen)
			snprintf(err + n, errlen - (size_t)n,
				 " (events2 line, column %zu)",
				 (size_t)(at - line) + 1);
	}
	return -EINVAL;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-11-25T05:48:33.104469+00:00" (drbdsetup --timestamps). */
static bool parse_ts(const char *s, size_t len, int64_t *us)
{
	int y, mo, d, h, mi, sec, oh, om, n = 0;
	char sign;
	int64_t frac = 0, scale = 1000000;
	const char *p;

	if (len < 25 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
		   &n) != 6 ||
	    n != 19)
		return false;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if ((*p != '+' && *p != '-') || s + len - p != 6 ||
	    sscanf(p, "%c%2d:%2d", &sign, &oh, &om) != 3)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || oh > 23 || om > 59)
		return false;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		    h * 3600 + mi * 60 + sec;
	t -= (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	*us = t * 1000000 + frac;
	return true;
}

static bool parse_int(const char *v, size_t len, long max, int *out)
{
	long n = 0;

	if (!len || len > 9)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
		n = n * 10 + (v[i] - '0');
	}
	if (n > max)
		return false;
	*out = (int)n;
	return true;
}

static bool parse_i64(const char *v, size_t len, int64_t *out)
{
	int64_t n = 0;

	if (!len || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
		n = n * 10 + (v[i] - '0');
	}
	*out = n;
	return true;
}

/* "37.50": digits, optionally a point and digits, 0..100. */
static bool parse_pct(const char *v, size_t len, double *out)
{
	char tmp[16], *end;
	double d;

	if (!len || len >= sizeof(tmp) || !isdigit((unsigned char)v[0]))
		return false;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	d = strtod(tmp, &end);
	if (*end || d < 0 || d > 100)
		return false;
	*out = d;
	return true;
}

static bool copy_name(char *dst, const char *v, size_t len)
{
	if (!len || len >= DRBD_NAME_MAX)
		return false;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return true;
}

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(tok, k, klen) == 0)

/* One key:value token.  Returns 0, or -EINVAL with err filled. */
static int parse_kv(struct drbd_event *ev, const char *line, const char *tok,
		    size_t tlen, char *err, size_t errlen)
{
	const char *colon = memchr(tok, ':', tlen);
	size_t klen, vlen;
	const char *v;
	int i;

	if (!colon)
		return perr(err, errlen, line, tok, "\"%.*s\" is not key:value",
			    (int)tlen, tok);
	klen = (size_t)(colon - tok);
	v = colon + 1;
	vlen = tlen - klen - 1;

#define ENUMVAL(field, tab, what)                                              \
	do {                                                                   \
		i = lookup(tab, v, vlen);                                      \
		if (!i)                                                        \
			return perr(err, errlen, line, tok,                    \
				    "unknown " what " \"%.*s\"", (int)vlen,    \
				    v);                                        \
		ev->field = i;                                                 \
	} while (0)

	if (KEY("name")) {
		if (!copy_name(ev->name, v, vlen))
			goto bad;
	} else if (KEY("new_name")) {
		if (!copy_name(ev->new_name, v, vlen))
			goto bad;
	} else if (KEY("conn-name")) {
		if (!copy_name(ev->conn_name, v, vlen))
			goto bad;
	} else if (KEY("peer-node-id")) {
		if (!parse_int(v, vlen, 31, &ev->peer_node_id))
			goto bad;
	} else if (KEY("volume")) {
		if (!parse_int(v, vlen, 65535, &ev->volume))
			goto bad;
	} else if (KEY("minor")) {
		if (!parse_int(v, vlen, 1048575, &ev->minor))
			goto bad;
	} else if (KEY("role")) {
		ENUMVAL(role, role_names, "role");
	} else if (KEY("disk")) {
		ENUMVAL(disk, disk_names, "disk state");
	} else if (KEY("peer-disk")) {
		ENUMVAL(peer_disk, disk_names, "peer disk state");
	} else if (KEY("connection")) {
		ENUMVAL(conn, conn_names, "connection state");
	} else if (KEY("replication")) {
		ENUMVAL(repl, repl_names, "replication state");
	} else if (KEY("suspended")) {
		/* DRBD 9 may say suspended:user,no-data,...: any is yes. */
		ev->suspended = !(vlen == 2 && memcmp(v, "no", 2) == 0);
	} else if (KEY("done")) {
		if (!parse_pct(v, vlen, &ev->done))
			goto bad;
	} else if (KEY("out-of-sync")) {
		if (!parse_i64(v, vlen, &ev->out_of_sync))
			goto bad;
	} else if (KEY("helper")) {
		if (!vlen || vlen >= sizeof(ev->helper))
			goto bad;
		memcpy(ev->helper, v, vlen);
		ev->helper[vlen] = '\0';
	} else if (KEY("status")) {
		if (!parse_int(v, vlen, 255, &ev->status))
			goto bad;
	}
	/* Anything else (statistics, path addresses, quorum, ...) is not
	 * part of the model. */
	return 0;
bad:
	return perr(err, errlen, line, tok, "bad value in \"%.*s\"", (int)tlen,
		    tok);
#undef ENUMVAL
}

int drbd_ev_parse(const char *line, struct drbd_event *ev, char *err,
		  size_t errlen)
{
	const char *p = line, *tok;
	size_t tlen;
	int field = 0, rc;

	memset(ev, 0, sizeof(*ev));
	ev->peer_node_id = ev->volume = ev->minor = -1;
	ev->suspended = -1;
	ev->done = -1;
	ev->out_of_sync = -1;
	ev->status = -1;
	if (err && errlen)
		err[0] = '\0';

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		tlen = (size_t)(p - tok);

		if (field == 0 && isdigit((unsigned char)tok[0])) {
			if (!parse_ts(tok, tlen, &ev->ts_us))
				return perr(err, errlen, line, tok,
					    "bad timestamp \"%.*s\"", (int)tlen,
					    tok);
			ev->has_ts = true;
			continue;
		}
		if (field == 0) {
			ev->kind = lookup(kind_names, tok, tlen);
			if (!ev->kind)
				return perr(err, errlen, line, tok,
					    "unknown event kind \"%.*s\"",
					    (int)tlen, tok);
		} else if (field == 1) {
			ev->obj = lookup(obj_names, tok, tlen);
			if (!ev->obj)
				return perr(err, errlen, line, tok,
					    "unknown object \"%.*s\"",
					    (int)tlen, tok);
		} else if (tlen == 1 && tok[0] == '*' && !*p) {
			/* drbdsetup(8): a line may end with '*' when the
			 * event continues; the keys so far still hold. */
		} else {
			rc = parse_kv(ev, line, tok, tlen, err, errlen);
			if (rc)
				return rc;
		}
		field++;
	}
	if (field < 2)
		return perr(err, errlen, line, p,
			    field ? "no object after the event kind"
				  : "empty line");
	if (ev->obj == DRBD_OBJ_END)
		return 0;
	if (!ev->name[0])
		return perr(err, errlen, line, line,
			    "%s %s without name:", kind_names[ev->kind],
			    obj_names[ev->obj]);
	if ((ev->obj == DRBD_OBJ_DEVICE || ev->obj == DRBD_OBJ_PEER_DEVICE) &&
	    ev->volume < 0)
		return perr(err, errlen, line, line,
			    "%s without volume:", obj_names[ev->obj]);
	/* 8.4 StandAlone lines have no conn-name but always peer-node-id;
	 * a connection is known by either. */
	if ((ev->obj == DRBD_OBJ_CONNECTION ||
	     ev->obj == DRBD_OBJ_PEER_DEVICE) &&
	    ev->peer_node_id < 0 && !ev->conn_name[0])
		return perr(err, errlen, line, line,
			    "%s without peer-node-id: or conn-name:",
			    obj_names[ev->obj]);
	return 0;
}

/* ---- the state model -------------------------------------------------- */

void drbd_state_init(struct drbd_state *st)
{
	memset(st, 0, sizeof(*st));
}

const struct drbd_res_state *drbd_state_find(const struct drbd_state *st,
					     const char *name)
{
	for (size_t i = 0; i < DRBD_MAX_RES; i++)
		if (st->res[i].present && strcmp(st->res[i].name, name) == 0)
			return &st->res[i];
	return NULL;
}

struct drbd_res_state *drbd_state_res(struct drbd_state *st, const char *name)
{
	return (struct drbd_res_state *)drbd_state_find(st, name);
}

static struct drbd_res_state *res_get(struct drbd_state *st, const char *name)
{
	struct drbd_res_state *r = drbd_state_res(st, name);

	if (r)
		return r;
	for (size_t i = 0; i < DRBD_MAX_RES; i++) {
		r = &st->res[i];
		if (!r->present) {
			memset(r, 0, sizeof(*r));
			r->present = true;
			snprintf(r->name, sizeof(r->name), "%s", name);
			r->last_helper_status = -1;
			return r;
		}
	}
	return NULL;
}

static struct drbd_dev_state *dev_get(struct drbd_res_state *r, int vol)
{
	struct drbd_dev_state *free_slot = NULL;

	for (size_t i = 0; i < DRBD_MAX_VOLS; i++) {
		if (r->dev[i].present && r->dev[i].volume == vol)
			return &r->dev[i];
		if (!r->dev[i].present && !free_slot)
			free_slot = &r->dev[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->present = true;
		free_slot->volume = vol;
		free_slot->minor = -1;
	}
	return free_slot;
}

/* A connection is matched by peer-node-id, falling back on conn-name: the
 * 8.4 StandAlone lines lack conn-name, and a DRBD 9 rename changes it. */
static struct drbd_conn_state *conn_get(struct drbd_res_state *r,
					const struct drbd_event *ev)
{
	struct drbd_conn_state *free_slot = NULL;

	for (size_t i = 0; i < DRBD_MAX_CONNS; i++) {
		struct drbd_conn_state *c = &r->conn[i];
		if (!c->present) {
			if (!free_slot)
				free_slot = c;
			continue;
		}
		if (ev->peer_node_id >= 0
			    ? c->peer_node_id == ev->peer_node_id
			    : strcmp(c->conn_name, ev->conn_name) == 0)
			return c;
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->present = true;
		free_slot->peer_node_id = ev->peer_node_id;
		for (size_t v = 0; v < DRBD_MAX_VOLS; v++)
			free_slot->pd[v].volume = -1;
	}
	return free_slot;
}

static struct drbd_peer_dev *pd_get(struct drbd_conn_state *c, int vol)
{
	struct drbd_peer_dev *free_slot = NULL;

	for (size_t i = 0; i < DRBD_MAX_VOLS; i++) {
		if (c->pd[i].present && c->pd[i].volume == vol)
			return &c->pd[i];
		if (!c->pd[i].present && !free_slot)
			free_slot = &c->pd[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->present = true;
		free_slot->volume = vol;
		free_slot->done = -1;
		free_slot->out_of_sync = -1;
		free_slot->rs_total = -1;
		free_slot->rate_oos = -1;
		free_slot->proc_eta_s = -1;
	}
	return free_slot;
}

static bool repl_syncing(enum drbd_repl r)
{
	return r == DRBD_SYNCSOURCE || r == DRBD_SYNCTARGET ||
	       r == DRBD_PAUSEDSYNCS || r == DRBD_PAUSEDSYNCT;
}

/* Out-of-sync sample: the resync total is the largest amount seen in this
 * resync; the rate is taken between two samples at different times. */
static void pd_sample(struct drbd_peer_dev *pd, int64_t oos, int64_t t_us)
{
	pd->out_of_sync = oos;
	if (!repl_syncing(pd->repl))
		return;
	if (oos > pd->rs_total)
		pd->rs_total = oos;
	if (pd->rate_oos >= 0 && t_us > pd->rate_ts_us && oos <= pd->rate_oos) {
		double dt = (double)(t_us - pd->rate_ts_us) / 1e6;
		pd->rate_kib_s = (double)(pd->rate_oos - oos) / dt;
	}
	pd->rate_oos = oos;
	pd->rate_ts_us = t_us;
}

static int apply_peer_dev(struct drbd_res_state *r, const struct drbd_event *ev,
			  int64_t t)
{
	struct drbd_conn_state *c = conn_get(r, ev);
	struct drbd_peer_dev *pd;
	int ch = 0;

	if (!c)
		return -ENOSPC;
	if (ev->kind == DRBD_EV_DESTROY) {
		for (size_t i = 0; i < DRBD_MAX_VOLS; i++)
			if (c->pd[i].present && c->pd[i].volume == ev->volume)
				c->pd[i].present = false;
		return DRBD_CH_GONE | DRBD_CH_PEER;
	}
	pd = pd_get(c, ev->volume);
	if (!pd)
		return -ENOSPC;
	if (ev->repl && ev->repl != pd->repl) {
		bool was = repl_syncing(pd->repl);
		pd->repl = ev->repl;
		ch |= DRBD_CH_CONN;
		if (repl_syncing(pd->repl) && !was) {
			/* A new resync: forget the last one's figures. */
			pd->rs_total = pd->out_of_sync;
			pd->rate_oos = -1;
			pd->rate_kib_s = 0;
			pd->done = -1;
			pd->proc_eta_s = -1;
			ch |= DRBD_CH_RESYNC;
		} else if (was && !repl_syncing(pd->repl)) {
			ch |= DRBD_CH_RESYNC;
		}
		/* A handshake that got this far after a split-brain means
		 * the split-brain was resolved (discard-my-data). */
		if (r->split_brain &&
		    (repl_syncing(pd->repl) || pd->repl == DRBD_ESTABLISHED ||
		     pd->repl == DRBD_WFBITMAPS ||
		     pd->repl == DRBD_WFBITMAPT)) {
			r->split_brain = false;
			ch |= DRBD_CH_SPLIT_BRAIN;
		}
	}
	if (ev->peer_disk && ev->peer_disk != pd->peer_disk) {
		pd->peer_disk = ev->peer_disk;
		ch |= DRBD_CH_PEER;
	}
	if (ev->out_of_sync >= 0) {
		pd_sample(pd, ev->out_of_sync, t);
		ch |= DRBD_CH_RESYNC;
	}
	if (ev->done >= 0) {
		pd->done = ev->done;
		ch |= DRBD_CH_RESYNC;
	}
	return ch;
}

static int apply_conn(struct drbd_res_state *r, const struct drbd_event *ev)
{
	struct drbd_conn_state *c = conn_get(r, ev);
	int ch = 0;

	if (!c)
		return -ENOSPC;
	if (ev->kind == DRBD_EV_DESTROY) {
		c->present = false;
		return DRBD_CH_GONE | DRBD_CH_CONN | DRBD_CH_PEER;
	}
	if (ev->conn_name[0])
		snprintf(c->conn_name, sizeof(c->conn_name), "%s",
			 ev->conn_name);
	if (ev->kind == DRBD_EV_RENAME && ev->new_name[0])
		snprintf(c->conn_name, sizeof(c->conn_name), "%s",
			 ev->new_name);
	if (ev->peer_node_id >= 0)
		c->peer_node_id = ev->peer_node_id;
	if (ev->conn && ev->conn != c->conn) {
		c->conn = ev->conn;
		ch |= DRBD_CH_CONN;
	}
	if (ev->role && ev->role != c->peer_role) {
		c->peer_role = ev->role;
		ch |= DRBD_CH_PEER;
	}
	return ch;
}

static int apply_helper(struct drbd_res_state *r, const struct drbd_event *ev,
			int64_t t)
{
	int ch = DRBD_CH_HELPER;

	snprintf(r->last_helper, sizeof(r->last_helper), "%s", ev->helper);
	if (ev->kind == DRBD_EV_RESPONSE) {
		r->last_helper_status = ev->status;
		return ch;
	}
	r->last_helper_status = -1;
	/* "split-brain" is called when DRBD gives up and drops the
	 * connection; "initial-split-brain" comes before the after-sb
	 * policies, so it alone is no split-brain. */
	if (strcmp(ev->helper, "split-brain") == 0) {
		r->split_brain = true;
		r->split_brain_us = t;
		ch |= DRBD_CH_SPLIT_BRAIN;
	} else if (strcmp(ev->helper, "fence-peer") == 0) {
		r->fence_peer_called = true;
	}
	return ch;
}

int drbd_state_apply(struct drbd_state *st, const struct drbd_event *ev,
		     int64_t now_us)
{
	int64_t t = ev->has_ts ? ev->ts_us : now_us;
	struct drbd_res_state *r;
	struct drbd_dev_state *d;
	int ch = 0;

	if (ev->obj == DRBD_OBJ_END) {
		if (st->dump_done)
			return 0;
		st->dump_done = true;
		return DRBD_CH_DUMP_DONE;
	}
	if (ev->obj == DRBD_OBJ_RESOURCE && ev->kind == DRBD_EV_DESTROY) {
		r = drbd_state_res(st, ev->name);
		if (!r)
			return 0;
		memset(r, 0, sizeof(*r));
		return DRBD_CH_GONE | DRBD_CH_ROLE | DRBD_CH_DISK |
		       DRBD_CH_CONN;
	}
	if (ev->obj == DRBD_OBJ_RESOURCE && ev->kind == DRBD_EV_RENAME) {
		r = drbd_state_res(st, ev->name);
		if (r && ev->new_name[0])
			snprintf(r->name, sizeof(r->name), "%s", ev->new_name);
		return 0;
	}
	r = res_get(st, ev->name);
	if (!r)
		return -ENOSPC;

	switch (ev->obj) {
	case DRBD_OBJ_RESOURCE:
		if (ev->role && ev->role != r->role) {
			r->role = ev->role;
			ch |= DRBD_CH_ROLE;
		}
		if (ev->suspended >= 0)
			r->suspended = ev->suspended;
		break;
	case DRBD_OBJ_DEVICE:
		if (ev->kind == DRBD_EV_DESTROY) {
			for (size_t i = 0; i < DRBD_MAX_VOLS; i++)
				if (r->dev[i].present &&
				    r->dev[i].volume == ev->volume)
					r->dev[i].present = false;
			return DRBD_CH_GONE | DRBD_CH_DISK;
		}
		d = dev_get(r, ev->volume);
		if (!d)
			return -ENOSPC;
		if (ev->minor >= 0)
			d->minor = ev->minor;
		if (ev->disk && ev->disk != d->disk) {
			d->disk = ev->disk;
			ch |= DRBD_CH_DISK;
		}
		break;
	case DRBD_OBJ_CONNECTION:
		ch = apply_conn(r, ev);
		break;
	case DRBD_OBJ_PEER_DEVICE:
		ch = apply_peer_dev(r, ev, t);
		break;
	case DRBD_OBJ_HELPER:
		ch = apply_helper(r, ev, t);
		break;
	case DRBD_OBJ_PATH:
	case DRBD_OBJ_END:
		break;
	}
	return ch;
}

const struct drbd_conn_state *drbd_res_peer(const struct drbd_res_state *r)
{
	for (size_t i = 0; i < DRBD_MAX_CONNS; i++)
		if (r->conn[i].present)
			return &r->conn[i];
	return NULL;
}

const struct drbd_dev_state *drbd_res_dev(const struct drbd_res_state *r,
					  int volume)
{
	for (size_t i = 0; i < DRBD_MAX_VOLS; i++)
		if (r->dev[i].present && r->dev[i].volume == volume)
			return &r->dev[i];
	return NULL;
}

const struct drbd_peer_dev *drbd_res_peer_dev(const struct drbd_res_state *r,
					      int volume)
{
	const struct drbd_conn_state *c = drbd_res_peer(r);

	if (!c)
		return NULL;
	for (size_t i = 0; i < DRBD_MAX_VOLS; i++)
		if (c->pd[i].present && c->pd[i].volume == volume)
			return &c->pd[i];
	return NULL;
}

bool drbd_resync_progress(const struct drbd_res_state *r, int volume,
			  double *pct, int64_t *eta_s)
{
	const struct drbd_peer_dev *pd = drbd_res_peer_dev(r, volume);

	*pct = 0;
	*eta_s = -1;
	if (!pd || !repl_syncing(pd->repl))
		return false;
	if (pd->done >= 0)
		*pct = pd->done;
	else if (pd->rs_total > 0 && pd->out_of_sync >= 0)
		*pct = 100.0 * (double)(pd->rs_total - pd->out_of_sync) /
		       (double)pd->rs_total;
	if (pd->rate_kib_s > 0 && pd->out_of_sync >= 0)
		*eta_s =
			(int64_t)ceil((double)pd->out_of_sync / pd->rate_kib_s);
	else
		*eta_s = pd->proc_eta_s;
	return true;
}

/* ---- get-gi ----------------------------------------------------------- */

int drbd_parse_gi(const char *text, uint64_t *uuid, char *err, size_t errlen)
{
	const char *p = text;
	uint64_t v = 0;
	int n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	for (; isxdigit((unsigned char)*p) && n < 17; p++, n++) {
		int c = tolower((unsigned char)*p);
		v = (v << 4) | (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
	}
	if (n != 16 || (*p != ':' && *p != '\0' && *p != '\n')) {
		if (err && errlen)
			snprintf(err, errlen,
				 "get-gi: \"%.40s\" does not start with a "
				 "16-hex-digit current UUID",
				 text);
		return -EINVAL;
	}
	*uuid = v;
	return 0;
}

int drbd_res_set_gi(struct drbd_res_state *r, const char *text, char *err,
		    size_t errlen)
{
	uint64_t u;
	int rc = drbd_parse_gi(text, &u, err, errlen);

	if (rc)
		return rc;
	r->current_uuid = u;
	r->have_uuid = true;
	return 0;
}

int drbd_res_apply_proc(struct drbd_res_state *r, const struct drbd_proc_dev *p,
			int64_t now_us)
{
	const struct drbd_dev_state *d = NULL;
	struct drbd_peer_dev *pd = NULL;

	for (size_t i = 0; i < DRBD_MAX_VOLS && !d; i++)
		if (r->dev[i].present && r->dev[i].minor == p->minor)
			d = &r->dev[i];
	if (d)
		pd = (struct drbd_peer_dev *)drbd_res_peer_dev(r, d->volume);
	if (!pd)
		return -ENOENT;
	if (p->oos >= 0)
		pd_sample(pd, p->oos, now_us);
	if (p->syncing && repl_syncing(pd->repl)) {
		pd->done = p->synced_pct;
		pd->proc_eta_s = p->eta_s;
	}
	return 0;
}
