/*
 * storage-drbd: pure text producers: the DRBD resource file cmsd writes
 * (/etc/drbd.d/NAME.res) and the database partition sizing formula.
 */
#ifndef CMSD_DRBD_RES_H
#define CMSD_DRBD_RES_H

#include <stddef.h>
#include <stdint.h>

/* The command DRBD's handlers run: cmsadm drbd-handler HOOK.  drbdadm
 * passes DRBD_RESOURCE, DRBD_MINOR, DRBD_PEER_ADDRESS ... in the
 * environment; cmsadm forwards the hook to the local cmsd, which decides. */
#define DRBD_HANDLER_CMD "/usr/sbin/cmsadm drbd-handler"

enum drbd_version { DRBD_V84, DRBD_V9 };

struct drbd_res_node {
	const char *name; /* the host name drbdadm matches (uname -n) */
	const char *addr; /* IPv4 or IPv6 literal */
	const char *disk; /* backing device */
	int node_id;	  /* DRBD 9 only */
};

struct drbd_res_conf {
	const char *resource;
	unsigned minor;
	uint16_t port;
	enum drbd_version version;
	const char *handler; /* NULL: DRBD_HANDLER_CMD */
	struct drbd_res_node node[2];
};

/* Writes the resource file text into buf.  Returns its length, -ENOSPC, or
 * -EINVAL with err naming the field that cannot go into the file (a name or
 * path with characters drbd.conf would misread). */
int drbd_res_write(const struct drbd_res_conf *c, char *buf, size_t len,
		   char *err, size_t errlen);

/* Sizing (DESIGN.md, requirement 5): the database partition
 *   (hosts x 10 MB + VMs x 15 MB) x 15 / 1024 GB + 10 GB,
 * read as: the MB figure x 15 (days kept) converted to GB by / 1024, plus
 * 10 GB.  Returned in MiB, exact. */
uint64_t drbd_db_size_mib(uint64_t hosts, uint64_t vms);
#define DRBD_VMS_MIN_MIB (30ull * 1024)

/* The /vms check: 0 when vms_mib holds the minimum and the database
 * partition, else -ENOSPC with a message naming the figures in msg. */
int drbd_check_vms(uint64_t vms_mib, uint64_t hosts, uint64_t vms, char *msg,
		   size_t len);

#endif
