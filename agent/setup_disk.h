/*
 * The per-node <disk> of a storage-drbd instance in a node's configuration
 * (setup_disk.c): `cmsadm recover` writes the peer's own DRBD partition
 * into the peer's copy of the master's configuration.
 */
#ifndef CMSD_AGENT_SETUP_DISK_H
#define CMSD_AGENT_SETUP_DISK_H

#include <libxml/tree.h>

/*
 * In doc (a node's config), the storage-drbd <storage id="storage_id">:
 * sets the text of its <disk node="node"> to dev, or adds that element
 * after its last <disk> when there is none (a <disk> without node= stays
 * for the other node).  0, 1 when nothing had to change (the element
 * already says dev, or only a <disk> without node= that says dev), or
 * -ENOENT when there is no such storage.
 */
int setup_disk_set(xmlDoc *doc, const char *storage_id, const char *node,
		   const char *dev);

#endif
