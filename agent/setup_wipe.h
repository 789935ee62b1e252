/*
 * WIPE for `cmsadm recover` (setup_wipe.c): the DRBD partition of a
 * replaced node is "formatted" by zeroing its first and last MiB.
 */
#ifndef CMSD_AGENT_SETUP_WIPE_H
#define CMSD_AGENT_SETUP_WIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETUP_WIPE_SPAN (1024u * 1024u)

struct setup_wipe {
	uint64_t size;
	uint64_t tail_block; /* first 4 KiB block of the last MiB */
	/* dd's words */
	char of[4200];
	char tail_seek[40];
	char count[24];
};

/*
 * Checks that config names dev as a storage-drbd <disk>, that nobody holds
 * it, and plans the two dd runs.  0, or -errno with the reason in err.
 */
int setup_wipe_plan(const char *config, const char *dev, struct setup_wipe *w,
		    char *err, size_t errlen);

#endif
