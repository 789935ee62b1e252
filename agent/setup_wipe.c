/*
 * The WIPE request of the unconfigured agent (setup.c): what "format the
 * peer's /vms partition" means when `cmsadm recover` re-initialises a
 * replaced node.  The DRBD partition of a storage-drbd instance is not
 * given a file system here: its first and last MiB are zeroed, which
 * removes any file-system signature at the start and DRBD 8.4's internal
 * metadata at the end (superblock in the last 4 KiB block, activity log
 * before it).  storage-drbd's start then finds "No valid meta data found",
 * runs create-md, and the new metadata (no generation) makes DRBD sync the
 * whole disk from the master.
 *
 * Only a device that the written configuration names as the <disk> of a
 * storage-drbd instance is wiped, and only when nobody holds it (open with
 * O_EXCL: mounted or attached to DRBD fails with EBUSY).
 */
#include "setup_wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* true when config names dev as the <disk> of a storage-drbd instance. */
static bool setup_wipe_named(const char *config, const char *dev, char *err,
			     size_t errlen)
{
	xmlDoc *doc = xmlReadFile(config, NULL,
				  XML_PARSE_NONET | XML_PARSE_NOERROR |
					  XML_PARSE_NOWARNING);
	xmlNode *root, *s, *k;
	bool found = false;

	if (!doc) {
		snprintf(err, errlen, "%s: not readable XML", config);
		return false;
	}
	root = xmlDocGetRootElement(doc);
	for (s = root ? root->children : NULL; s && !found; s = s->next) {
		xmlChar *plugin;
		if (s->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)s->name, "storage") != 0)
			continue;
		plugin = xmlGetProp(s, (const xmlChar *)"plugin");
		if (plugin && strcmp((char *)plugin, "storage-drbd") == 0)
			for (k = s->children; k && !found; k = k->next) {
				xmlChar *v;
				if (k->type != XML_ELEMENT_NODE ||
				    strcmp((const char *)k->name, "disk") != 0)
					continue;
				v = xmlNodeGetContent(k);
				found = v && strcmp((char *)v, dev) == 0;
				xmlFree(v);
			}
		xmlFree(plugin);
	}
	xmlFreeDoc(doc);
	if (!found)
		snprintf(err, errlen,
			 "%s is not the <disk> of a storage-drbd instance in "
			 "%s: not wiped",
			 dev, config);
	return found;
}

int setup_wipe_plan(const char *config, const char *dev, struct setup_wipe *w,
		    char *err, size_t errlen)
{
	struct stat st;
	uint64_t size = 0;
	int fd, e;

	if (!setup_wipe_named(config, dev, err, errlen))
		return -EPERM;
	/* O_EXCL on a block device: EBUSY when mounted or held by DRBD. */
	fd = open(dev, O_RDONLY | O_CLOEXEC | O_EXCL);
	if (fd < 0 && errno == EINVAL)
		fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s%s", dev, strerror(e),
			 e == EBUSY ? " (mounted, or attached to DRBD)" : "");
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "%s: %s", dev, strerror(e));
		return -e;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			e = errno;
			close(fd);
			snprintf(err, errlen, "%s: size: %s", dev, strerror(e));
			return -e;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		close(fd);
		snprintf(err, errlen, "%s: not a block device", dev);
		return -ENOTBLK;
	}
	close(fd);
	if (size < 4 * SETUP_WIPE_SPAN) {
		snprintf(err, errlen, "%s: %llu bytes, too small for DRBD", dev,
			 (unsigned long long)size);
		return -EINVAL;
	}
	w->size = size;
	/* 4 KiB blocks: DRBD's superblock sits in the last whole one. */
	w->tail_block = size / 4096 - SETUP_WIPE_SPAN / 4096;
	snprintf(w->tail_seek, sizeof(w->tail_seek), "seek=%llu",
		 (unsigned long long)w->tail_block);
	snprintf(w->count, sizeof(w->count), "count=%u",
		 SETUP_WIPE_SPAN / 4096);
	snprintf(w->of, sizeof(w->of), "of=%s", dev);
	return 0;
}
