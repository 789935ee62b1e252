/*
 * cmsadm drbd-overview: one line per DRBD volume in the reference format,
 *   0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r----- \
 *     /var/lib/mysql-share ext4 19G 91M 18G 1%
 * from what the host shows: `drbdsetup events2 --now all`, /proc/drbd
 * (DRBD 8.4's resync progress) and /proc/mounts, with statvfs() of the
 * mount point.  The composition is pure (ovw_render); ovw_gather reads the
 * system.
 */
#ifndef CMSD_CMSADM_OVERVIEW_H
#define CMSD_CMSADM_OVERVIEW_H

#include <stdbool.h>

#include "ctlproto.h"
#include "drbd_events.h"

/* Fills m (size, used, avail) for a mount point; false when it cannot. */
typedef bool (*ovw_statfs_fn)(const char *mount, struct drbd_mount_facts *m,
			      void *arg);

/* events: the events2 --now text; proc: /proc/drbd or NULL; mounts:
 * /proc/mounts or NULL.  Appends the lines to out.  0, or -EINVAL with a
 * message in err (a line drbdsetup printed that is not an event). */
int ovw_render(const char *events, const char *proc, const char *mounts,
	       ovw_statfs_fn fs, void *arg, struct sbuf *out, char *err,
	       size_t errlen);

/* Runs drbdsetup (path from $CMSADM_DRBDSETUP, else /usr/sbin/drbdsetup),
 * reads /proc/drbd and /proc/mounts and renders.  0, 1 when DRBD is not
 * loaded or has no resource (message in err), -errno on failure. */
int ovw_gather(struct sbuf *out, char *err, size_t errlen);

#endif
