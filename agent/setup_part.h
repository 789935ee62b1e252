/*
 * PARTITION for `cmsadm setup` and `cmsadm recover` (setup_part.c): the
 * unconfigured agent makes the DRBD database partition, a GPT partition
 * named LABEL (cmsd-db) in the free space of a disk, with sfdisk(8).
 */
#ifndef CMSD_AGENT_SETUP_PART_H
#define CMSD_AGENT_SETUP_PART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETUP_PART_MAX 16

/* What `sfdisk --dump` says of a disk (pure: tests/unit). */
struct setup_part_table {
	char label[16]; /* "gpt", "dos", ... ("" when none was read) */
	uint64_t first_lba, last_lba;
	unsigned sector_size;
	int n;
	struct {
		unsigned number;
		uint64_t start, size; /* sectors */
		char name[80];
	} p[SETUP_PART_MAX];
};

/* Parses sfdisk's --dump text (stderr lines mixed in are skipped).  0, or
 * -EINVAL when no "label:" line was found. */
int setup_part_parse(const char *text, struct setup_part_table *t);

/*
 * The first gap of the table's usable area, aligned to 1 MiB, that holds
 * need sectors: its start in *start.  *largest_mib: the largest aligned gap
 * in MiB (for the refusal).  true when one holds it.
 */
bool setup_part_fit(const struct setup_part_table *t, uint64_t need,
		    uint64_t *start, uint64_t *largest_mib);

struct setup_part;
/* done(arg, ok, text): ok with text the reply body (key=value lines), or
 * not with text the reason; called once, on the loop, never inside
 * setup_part_start(). */
typedef void (*setup_part_cb)(void *arg, bool ok, const char *text);

/*
 * PARTITION DISK SIZE_MIB LABEL.  Checks the words, then runs the steps in
 * children (never blocking the loop).  0 and *out (done() follows), or
 * -errno with the reason in err (done() not called).
 */
int setup_part_start(const char *who, const char *disk, const char *size_mib,
		     const char *label, setup_part_cb done, void *arg,
		     struct setup_part **out, char *err, size_t errlen);
/* The connection went: the running child is abandoned, done() not called. */
void setup_part_abandon(struct setup_part *p);

#endif
