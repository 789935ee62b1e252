/*
 * storage-drbd: the drbd-overview line and the status "Master/Slave Set"
 * block, from the state model (drbd_events.c) and mount facts gathered by
 * the caller.  Pure: no I/O.
 *
 * The reference line, single-spaced as the product's documentation shows it:
 *   0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r----- \
 *       /var/lib/mysql-share ext4 19G 91M 18G 1%
 * drbd-overview (8.4) splits /proc/drbd into fields; there the protocol
 * letter is blank while no network config exists (StandAlone), so the split
 * line has no "C" field then:
 *   0:r0/0 StandAlone Primary/Unknown UpToDate/DUnknown r----- ...
 */
#include "drbd_events.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* 8.4's single cs: field from DRBD 9's connection + replication pair, as
 * drbdsetup-84 maps them back (Connecting is 8.4's WFConnection; a
 * Connected connection still in the handshake is WFReportParams). */
const char *drbd_overview_cstate(const struct drbd_res_state *r, int volume)
{
	const struct drbd_conn_state *c = drbd_res_peer(r);
	const struct drbd_peer_dev *pd = drbd_res_peer_dev(r, volume);

	if (!c || !c->conn)
		return "StandAlone";
	switch (c->conn) {
	case DRBD_CONNECTING:
		return "WFConnection";
	case DRBD_CONNECTED:
		if (!pd || !pd->repl || pd->repl == DRBD_REPL_OFF)
			return "WFReportParams";
		if (pd->repl == DRBD_ESTABLISHED)
			return "Connected";
		return drbd_repl_str(pd->repl);
	default:
		return drbd_conn_str(c->conn);
	}
}

void drbd_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	/* df rounds up (a size is never shown smaller than it is). */
	if (v < 10) {
		v = ceil(v * 10 - 1e-9) / 10;
		if (v < 10) {
			snprintf(buf, len, "%.1f%c", v, units[u]);
			return;
		}
	}
	v = ceil(v - 1e-9);
	if (v >= 1024 && u < 5) {
		snprintf(buf, len, "%.1f%c", 1.0, units[u + 1]);
		return;
	}
	snprintf(buf, len, "%.0f%c", v, units[u]);
}

void drbd_put(struct drbd_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->pos)
		o->full = true;
	else
		o->pos += (size_t)n;
}

int drbd_overview_line(const struct drbd_res_state *r, int volume,
		       const struct drbd_mount_facts *m, char *buf, size_t len)
{
	const struct drbd_dev_state *d = drbd_res_dev(r, volume);
	const struct drbd_conn_state *c = drbd_res_peer(r);
	const struct drbd_peer_dev *pd = drbd_res_peer_dev(r, volume);
	const char *cs = drbd_overview_cstate(r, volume);
	struct drbd_out o = {buf, len, 0, false};

	if (!len)
		return -ENOSPC;
	if (!d)
		return -ENOENT;
	drbd_put(&o, "%d:%s/%d %s %s/%s %s/%s", d->minor, r->name, volume, cs,
		 drbd_role_str(r->role),
		 c && c->peer_role ? drbd_role_str(c->peer_role) : "Unknown",
		 drbd_disk_str(d->disk),
		 pd && pd->peer_disk ? drbd_disk_str(pd->peer_disk)
				     : "DUnknown");
	/* Every resource cmsd writes uses protocol C (drbd_res.c). */
	if (strcmp(cs, "StandAlone") != 0)
		drbd_put(&o, " C");
	drbd_put(&o, " %c-----", r->suspended ? 's' : 'r');
	if (m && m->mount) {
		char sz[16], us[16], av[16];
		int pct = m->use_pct;

		if (pct < 0) {
			/* df: used / (used + available), rounded up. */
			uint64_t t = m->used + m->avail;
			pct = t ? (int)((m->used * 100 + t - 1) / t) : 0;
		}
		drbd_human_size(m->size, sz, sizeof(sz));
		drbd_human_size(m->used, us, sizeof(us));
		drbd_human_size(m->avail, av, sizeof(av));
		drbd_put(&o, " %s %s %s %s %s %d%%", m->mount,
			 m->fstype ? m->fstype : "-", sz, us, av, pct);
	}
	return o.full ? -ENOSPC : (int)o.pos;
}

int drbd_ms_set_block(const char *mount, const char *master, const char *slave,
		      char *buf, size_t len)
{
	struct drbd_out o = {buf, len, 0, false};

	if (!len)
		return -ENOSPC;
	drbd_put(&o,
		 "Master/Slave Set: [%s]\n  Master: [%s]\n  Slave  : [%s]\n",
		 mount, master ? master : "Unknown", slave ? slave : "Unknown");
	return o.full ? -ENOSPC : (int)o.pos;
}
