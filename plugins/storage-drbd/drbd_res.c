/*
 * storage-drbd: the resource file text and the sizing formula.  Pure: the
 * caller writes the file and runs `drbdadm -c FILE -d up` to check it.
 *
 * Policy in the file, and why:
 *  - protocol C: a write completes when both disks have it; the database
 *    must not lose a committed transaction on failover.
 *  - fencing resource-and-stonith: on losing the peer, a Primary freezes I/O
 *    and runs fence-peer; cmsd (through cmsadm drbd-handler fence-peer)
 *    answers only once the arbiter has settled who is master.  8.4 has the
 *    keyword in the disk section, 9 in the net section.
 *  - after-sb-0pri/1pri/2pri disconnect: DRBD never picks a split-brain
 *    loser itself; it calls the split-brain handler and stays StandAlone,
 *    and cmsd's policy picks the loser (connect --discard-my-data).
 */
#include "drbd_res.h"
#include "drbd_events.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* drbd.conf tokens: a name or path must be one word without quotes, braces
 * or semicolons, or drbdadm would read something else than meant. */
static bool word_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 255)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("\"'{};#\\", *p) ||
		    (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int field_err(char *err, size_t errlen, const char *what,
		     const char *val)
{
	if (err && errlen)
		snprintf(err, errlen,
			 "%s \"%s\" cannot go into a DRBD resource file "
			 "(empty, or a blank, quote, brace, ';', '#' or '\\')",
			 what, val ? val : "");
	return -EINVAL;
}

int drbd_res_write(const struct drbd_res_conf *c, char *buf, size_t len,
		   char *err, size_t errlen)
{
	const char *h = c->handler ? c->handler : DRBD_HANDLER_CMD;
	bool v9 = c->version == DRBD_V9;
	struct drbd_out o = {buf, len, 0, false};

	if (!word_ok(c->resource))
		return field_err(err, errlen, "resource", c->resource);
	if (strchr(h, '"') || strchr(h, '\\') || !*h)
		return field_err(err, errlen, "handler", h);
	for (int i = 0; i < 2; i++) {
		const struct drbd_res_node *n = &c->node[i];
		if (!word_ok(n->name))
			return field_err(err, errlen, "node name", n->name);
		if (!word_ok(n->addr))
			return field_err(err, errlen, "node address", n->addr);
		if (!word_ok(n->disk))
			return field_err(err, errlen, "disk", n->disk);
	}
	if (!len)
		return -ENOSPC;

	drbd_put(&o,
		 "# Written by cmsd (storage-drbd) from its configuration: do "
		 "not "
		 "edit,\n# cmsd rewrites it.  DRBD %s syntax.\n",
		 v9 ? "9" : "8.4");
	drbd_put(&o, "resource %s {\n", c->resource);
	drbd_put(&o, "\tnet {\n\t\tprotocol C;\n");
	if (v9)
		drbd_put(&o, "\t\tfencing resource-and-stonith;\n");
	/* cmsd, not DRBD, chooses the split-brain loser. */
	drbd_put(&o, "\t\tafter-sb-0pri disconnect;\n"
		     "\t\tafter-sb-1pri disconnect;\n"
		     "\t\tafter-sb-2pri disconnect;\n\t}\n");
	if (!v9)
		drbd_put(&o,
			 "\tdisk {\n\t\tfencing resource-and-stonith;\n\t}\n");
	drbd_put(&o, "\thandlers {\n");
	drbd_put(&o, "\t\tfence-peer \"%s fence-peer\";\n", h);
	/* 8.4 lifts the fence when a resync ends; 9 has its own hook. */
	if (v9)
		drbd_put(&o, "\t\tunfence-peer \"%s unfence-peer\";\n", h);
	else
		drbd_put(
			&o,
			"\t\tafter-resync-target \"%s after-resync-target\";\n",
			h);
	drbd_put(&o, "\t\tsplit-brain \"%s split-brain\";\n\t}\n", h);
	for (int i = 0; i < 2; i++) {
		const struct drbd_res_node *n = &c->node[i];
		bool v6 = strchr(n->addr, ':') != NULL;

		drbd_put(&o, "\ton %s {\n", n->name);
		if (v9)
			drbd_put(&o, "\t\tnode-id %d;\n", n->node_id);
		drbd_put(&o, "\t\tdevice /dev/drbd%u minor %u;\n", c->minor,
			 c->minor);
		drbd_put(&o, "\t\tdisk %s;\n\t\tmeta-disk internal;\n",
			 n->disk);
		if (v6)
			drbd_put(&o, "\t\taddress ipv6 [%s]:%u;\n", n->addr,
				 (unsigned)c->port);
		else
			drbd_put(&o, "\t\taddress ipv4 %s:%u;\n", n->addr,
				 (unsigned)c->port);
		drbd_put(&o, "\t}\n");
	}
	drbd_put(&o, "}\n");
	return o.full ? -ENOSPC : (int)o.pos;
}

uint64_t drbd_db_size_mib(uint64_t hosts, uint64_t vms)
{
	/* (hosts*10 + vms*15) MB * 15 / 1024 GB = (...) * 15 MiB; + 10 GB. */
	return (hosts * 10 + vms * 15) * 15 + 10 * 1024;
}

/* "12.5 GB": MiB in GB with one decimal.  What is there is rounded down
 * and what is needed up, so that the message never reads "30.0 GB, less
 * than 30 GB". */
static void gb(uint64_t mib, bool up, char *b, size_t n)
{
	uint64_t tenths = (mib * 10 + (up ? 1023 : 0)) / 1024;

	snprintf(b, n, "%llu.%llu GB", (unsigned long long)(tenths / 10),
		 (unsigned long long)(tenths % 10));
}

int drbd_check_vms(uint64_t vms_mib, uint64_t hosts, uint64_t vms, char *msg,
		   size_t len)
{
	uint64_t db = drbd_db_size_mib(hosts, vms);
	char have[32], need[32];

	gb(vms_mib, false, have, sizeof(have));
	if (vms_mib < DRBD_VMS_MIN_MIB) {
		snprintf(msg, len, "/vms is %s, less than the minimum of 30 GB",
			 have);
		return -ENOSPC;
	}
	if (vms_mib < db) {
		gb(db, true, need, sizeof(need));
		snprintf(msg, len,
			 "/vms is %s, less than the database partition of "
			 "%s needed for %llu hosts and %llu VMs "
			 "((hosts x 10 MB + VMs x 15 MB) x 15 / 1024 + 10 GB)",
			 have, need, (unsigned long long)hosts,
			 (unsigned long long)vms);
		return -ENOSPC;
	}
	if (len)
		msg[0] = '\0';
	return 0;
}
