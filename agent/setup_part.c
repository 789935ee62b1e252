/*
 * PARTITION DISK SIZE_MIB LABEL (setupproto.h): the DRBD database partition
 * that the reference product's setup makes on each node ("DB partition
 * size" of the form), made by the unconfigured agent on its own disk.
 *
 * The steps, each a child of the agent (spawn.c: the loop never waits):
 *   1. sfdisk --dump DISK: the table.  A partition already named LABEL is
 *      reused when it holds SIZE, refused when smaller; two are ambiguous.
 *      A table other than GPT is refused (only GPT names partitions).
 *   2. no table: blkid -p DISK must find nothing at all (no file system,
 *      RAID or LVM signature, no other table); only then is the disk
 *      labelled GPT.
 *   3. sfdisk --append (or a new GPT) with the partition at an explicit
 *      start in free space, aligned to 1 MiB: an existing partition is
 *      never moved, resized or removed (--wipe never too).
 *   4. sfdisk --dump again: the partition's number as written.
 *   5. the kernel must see it: sfdisk tells the kernel when the disk is
 *      free, but on a disk in use (the system disk) the re-read fails and
 *      the kernel keeps its old table; partx --add --nr N adds just the new
 *      one (BLKPG).  A kernel without the GPT parser needs it too.
 *   6. udevadm settle (when udev is there), and the reply names the
 *      /dev/disk/by-partlabel/LABEL link when it points to the partition,
 *      else the kernel's name (/dev/sda3): guests without udev exist.
 * Every step is logged; a refusal names the disk and the figures.
 */
#include "setup_part.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

#define PART_CHILD_MS 60000
/* The GPT type "Linux filesystem data": DRBD's backing device. */
#define PART_TYPE "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

/* Where Debian has them, then where a small guest's image may put them. */
static const char *const part_tools[][4] = {
	{"sfdisk", "/usr/sbin/sfdisk", "/sbin/sfdisk", "/usr/bin/sfdisk"},
	{"blkid", "/usr/sbin/blkid", "/sbin/blkid", "/usr/bin/blkid"},
	{"partx", "/usr/bin/partx", "/usr/sbin/partx", "/sbin/partx"},
	{"udevadm", "/usr/bin/udevadm", "/bin/udevadm", "/sbin/udevadm"},
};
enum { T_SFDISK, T_BLKID, T_PARTX, T_UDEVADM };

enum part_step {
	S_DUMP,
	S_PROBE,
	S_WRITE,
	S_REDUMP,
	S_PARTX,
	S_SETTLE,
};

struct setup_part {
	char who[64];
	char disk[256]; /* as asked */
	char kname[64]; /* the kernel's name of the disk: "sda", "loop3" */
	dev_t rdev;
	char label[40];
	uint64_t size_mib;
	uint64_t bytes;
	unsigned ss; /* logical sector size */
	enum part_step step;
	bool created;
	unsigned number; /* the partition's, once known */
	uint64_t p_start, p_size;
	char script[300];
	char nr[16];
	setup_part_cb done;
	void *arg;
	struct spawn_child *child;
};

/* ------------------------------------------------------------ pure */

static uint64_t num_after(const char *s, const char *key, bool *ok)
{
	const char *p = strstr(s, key);
	char *end;
	uint64_t v;

	if (!p) {
		*ok = false;
		return 0;
	}
	p += strlen(key);
	while (*p == ' ')
		p++;
	v = strtoull(p, &end, 10);
	if (end == p)
		*ok = false;
	return v;
}

int setup_part_parse(const char *text, struct setup_part_table *t)
{
	const char *p = text;

	memset(t, 0, sizeof(*t));
	while (p && *p) {
		size_t l = strcspn(p, "\n");
		char ln[512];
		bool ok = true;

		snprintf(ln, sizeof(ln), "%.*s", (int)l, p);
		/* a longer label is none that PARTITION takes */
		if (strncmp(ln, "label: ", 7) == 0 &&
		    snprintf(t->label, sizeof(t->label), "%s", ln + 7) >=
			    (int)sizeof(t->label))
			snprintf(t->label, sizeof(t->label), "(unknown)");
		else if (strncmp(ln, "first-lba: ", 11) == 0)
			t->first_lba = strtoull(ln + 11, NULL, 10);
		else if (strncmp(ln, "last-lba: ", 10) == 0)
			t->last_lba = strtoull(ln + 10, NULL, 10);
		else if (strncmp(ln, "sector-size: ", 13) == 0)
			t->sector_size = (unsigned)strtoul(ln + 13, NULL, 10);
		else if (ln[0] == '/' && strstr(ln, " : start=") &&
			 t->n < SETUP_PART_MAX) {
			/* "/dev/sda3 : start= 2048, size= 40960, ...,
			 * name="cmsd-db"": the number ends the name */
			const char *c = strstr(ln, " : start=");
			const char *d = c, *nm;
			unsigned number = 0, mul = 1;

			while (d > ln && isdigit((unsigned char)d[-1])) {
				number += (unsigned)(d[-1] - '0') * mul;
				mul *= 10;
				d--;
			}
			t->p[t->n].number = number;
			t->p[t->n].start = num_after(c, "start=", &ok);
			t->p[t->n].size = num_after(c, "size=", &ok);
			if ((nm = strstr(c, " name=\""))) {
				size_t k = strcspn(nm + 7, "\"");
				snprintf(t->p[t->n].name, sizeof(t->p[0].name),
					 "%.*s", (int)k, nm + 7);
			}
			if (ok && number)
				t->n++;
		}
		p += l;
		if (*p)
			p++;
	}
	return t->label[0] ? 0 : -EINVAL;
}

static int part_cmp(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

bool setup_part_fit(const struct setup_part_table *t, uint64_t need,
		    uint64_t *start, uint64_t *largest_mib)
{
	uint64_t used[SETUP_PART_MAX][2], a = t->first_lba, best = 0;
	unsigned ss = t->sector_size ? t->sector_size : 512;
	uint64_t align = ss < (1u << 20) ? (1u << 20) / ss : 1;
	bool found = false;
	int n = 0;

	for (int i = 0; i < t->n; i++) {
		used[n][0] = t->p[i].start;
		used[n][1] = t->p[i].start + t->p[i].size; /* past the end */
		n++;
	}
	qsort(used, (size_t)n, sizeof(used[0]), part_cmp);
	for (int i = 0; i <= n; i++) {
		/* the gap [a, b] before partition i (or the end) */
		uint64_t b = i < n ? used[i][0] : t->last_lba + 1;
		uint64_t s = (a + align - 1) / align * align;

		if (b > s) {
			uint64_t avail = b - s;
			if (avail > best)
				best = avail;
			if (!found && avail >= need) {
				*start = s;
				found = true;
			}
		}
		if (i < n && used[i][1] > a)
			a = used[i][1];
	}
	*largest_mib = best * ss >> 20;
	return found;
}

/* ------------------------------------------------------------ steps */

static void part_step_run(struct setup_part *p);

static void part_finish(struct setup_part *p, bool ok, const char *text)
{
	setup_part_cb done = p->done;
	void *arg = p->arg;

	if (!ok)
		log_warnx("setup: %s: PARTITION %s refused: %s", p->who,
			  p->disk, text);
	free(p);
	done(arg, ok, text);
}

static void part_fail(struct setup_part *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void part_fail(struct setup_part *p, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	part_finish(p, false, why);
}

static const char *tool(int t)
{
	for (int i = 1; i < 4; i++)
		if (access(part_tools[t][i], X_OK) == 0)
			return part_tools[t][i];
	return NULL;
}

/* One line of a child's output, for a reason: printable, short. */
static void part_words(const struct cmsd_child_result *res, char *out,
		       size_t len)
{
	if (!spawn_output_line(res, " ", out, len)) {
		if (res->timed_out)
			snprintf(out, len, "did not finish within %d s",
				 PART_CHILD_MS / 1000);
		else if (!res->exited)
			snprintf(out, len, "killed by signal %d", res->signal);
		else
			snprintf(out, len, "exit status %d", res->exit_code);
	}
}

static void part_child_done(const struct cmsd_child_result *res, void *arg);

/* 0, or -errno (nothing reported: the caller does). */
static int part_spawn(struct setup_part *p, const char *const *argv,
		      const char *input)
{
	struct cmsd_spawn req = {
		.size = sizeof(req),
		.argv = argv,
		.stdin_data = input,
		.timeout_ms = PART_CHILD_MS,
		.output_max = 16384,
		.done = part_child_done,
		.arg = p,
	};
	return spawn_start(&req, &p->child);
}

/* The kernel's partition `number` of the disk: its name ("sda3") and
 * device number, from /sys/dev/block/M:m/<part>/partition.  true when the
 * kernel has it. */
static bool part_kernel_has(const struct setup_part *p, char *name, size_t len,
			    uint64_t *start512)
{
	char dir[PATH_MAX], f[PATH_MAX + 300], v[32];
	struct dirent *e;
	DIR *d;
	bool found = false;

	snprintf(dir, sizeof(dir), "/sys/class/block/%s", p->kname);
	if (!(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d))) {
		FILE *fp;
		if (strncmp(e->d_name, p->kname, strlen(p->kname)) != 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s/partition", dir, e->d_name);
		if (!(fp = fopen(f, "re")))
			continue;
		if (fgets(v, sizeof(v), fp) &&
		    strtoul(v, NULL, 10) == p->number) {
			/* a kernel name fits; a longer one is not it */
			found = snprintf(name, len, "%s", e->d_name) < (int)len;
		}
		fclose(fp);
		if (found) {
			snprintf(f, sizeof(f), "%s/%s/start", dir, e->d_name);
			*start512 = 0;
			if ((fp = fopen(f, "re"))) {
				if (fgets(v, sizeof(v), fp))
					*start512 = strtoull(v, NULL, 10);
				fclose(fp);
			}
		}
	}
	closedir(d);
	return found;
}

static void part_answer(struct setup_part *p)
{
	char name[128], dev[200], link[200], real[PATH_MAX], body[700];
	uint64_t start512 = 0;
	struct stat st;

	if (!part_kernel_has(p, name, sizeof(name), &start512)) {
		part_fail(p,
			  "%s: the kernel does not show partition %u after "
			  "partx --add (see the agent's log)",
			  p->disk, p->number);
		return;
	}
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)) {
		part_fail(p,
			  "%s: the kernel has partition %u as %s, but %s is "
			  "not a block device here",
			  p->disk, p->number, name, dev);
		return;
	}
	/* The link when udev made it for this very partition: another disk
	 * with a partition of the same name would take it over. */
	snprintf(link, sizeof(link), "/dev/disk/by-partlabel/%s", p->label);
	{
		struct stat ls;
		if (stat(link, &ls) == 0 && S_ISBLK(ls.st_mode) &&
		    ls.st_rdev == st.st_rdev && realpath(link, real))
			snprintf(dev, sizeof(dev), "%s", link);
		else
			log_info("setup: %s: %s does not point to %s (no udev, "
				 "or another partition of that name): the "
				 "kernel's name is used",
				 p->who, link, name);
	}
	log_info("setup: %s: PARTITION %s: %s partition %u \"%s\" (%" PRIu64
		 " MiB at sector %" PRIu64 ") is %s",
		 p->who, p->disk, p->created ? "made" : "reused", p->number,
		 p->label, p->p_size * p->ss >> 20, p->p_start, dev);
	snprintf(body, sizeof(body),
		 "device=%s\npartition=/dev/%s\nnumber=%u\nsize_mib=%" PRIu64
		 "\nstate=%s\n",
		 dev, name, p->number, p->p_size * p->ss >> 20,
		 p->created ? "created" : "reused");
	part_finish(p, true, body);
}

/* The kernel's view of the partition: as the table says, or added. */
static void part_kernel(struct setup_part *p)
{
	char name[128];
	uint64_t start512 = 0;

	if (part_kernel_has(p, name, sizeof(name), &start512)) {
		if (start512 != p->p_start * (p->ss / 512)) {
			part_fail(
				p,
				"%s: the kernel's partition %u (%s) starts at "
				"sector %" PRIu64 " (512 B), the table says "
				"%" PRIu64 ": the kernel's table is stale; "
				"not used (partx -u %s, or reboot)",
				p->disk, p->number, name, start512,
				p->p_start * (p->ss / 512), p->disk);
			return;
		}
		p->step = S_SETTLE;
		part_step_run(p);
		return;
	}
	log_info("setup: %s: the kernel does not show partition %u of %s "
		 "yet: partx --add --nr %u",
		 p->who, p->number, p->disk, p->number);
	p->step = S_PARTX;
	part_step_run(p);
}

/* Step 1/4: the table read. */
static void part_table(struct setup_part *p, const char *out)
{
	struct setup_part_table t;
	uint64_t need, start = 0, largest = 0;
	int hit = -1;

	if (setup_part_parse(out, &t) < 0) {
		part_fail(p, "%s: sfdisk --dump gave no table: %.200s", p->disk,
			  out);
		return;
	}
	if (strcmp(t.label, "gpt") != 0) {
		part_fail(p,
			  "%s has a %s partition table: the database partition "
			  "is made only on a GPT disk (partition names); give "
			  "another disk",
			  p->disk, t.label);
		return;
	}
	if (t.sector_size)
		p->ss = t.sector_size;
	for (int i = 0; i < t.n; i++) {
		if (strcmp(t.p[i].name, p->label) != 0)
			continue;
		if (hit >= 0) {
			part_fail(p,
				  "%s has two partitions named \"%s\" (%u and "
				  "%u): not touched; which one is meant?",
				  p->disk, p->label, t.p[hit].number,
				  t.p[i].number);
			return;
		}
		hit = i;
	}
	need = p->size_mib * ((1u << 20) / p->ss);
	if (hit >= 0) {
		uint64_t have = t.p[hit].size * p->ss >> 20;
		p->number = t.p[hit].number;
		p->p_start = t.p[hit].start;
		p->p_size = t.p[hit].size;
		if (p->step == S_REDUMP) {
			log_info("setup: %s: %s: partition %u \"%s\" written "
				 "(%" PRIu64 " MiB at sector %" PRIu64 ")",
				 p->who, p->disk, p->number, p->label, have,
				 p->p_start);
			part_kernel(p);
			return;
		}
		if (t.p[hit].size < need) {
			part_fail(p,
				  "%s: partition %u named \"%s\" has %" PRIu64
				  " MiB, less than the %" PRIu64
				  " MiB asked: not changed (remove it, or ask "
				  "for at most %" PRIu64 " MiB)",
				  p->disk, p->number, p->label, have,
				  p->size_mib, have);
			return;
		}
		log_info("setup: %s: %s: partition %u \"%s\" exists with "
			 "%" PRIu64 " MiB (%" PRIu64 " asked): reused, not "
			 "changed",
			 p->who, p->disk, p->number, p->label, have,
			 p->size_mib);
		part_kernel(p);
		return;
	}
	if (p->step == S_REDUMP) {
		part_fail(p,
			  "%s: sfdisk wrote the table but no partition named "
			  "\"%s\" is in it",
			  p->disk, p->label);
		return;
	}
	if (!setup_part_fit(&t, need, &start, &largest)) {
		part_fail(p,
			  "not enough free space on %s: %" PRIu64
			  " MiB free in one piece, %" PRIu64 " MiB needed",
			  p->disk, largest, p->size_mib);
		return;
	}
	log_info("setup: %s: %s: GPT, %d partitions, %" PRIu64
		 " MiB free in one piece: partition \"%s\" of %" PRIu64
		 " MiB at sector %" PRIu64,
		 p->who, p->disk, t.n, largest, p->label, p->size_mib, start);
	snprintf(p->script, sizeof(p->script),
		 "start=%" PRIu64 ", size=%" PRIu64 ", type=%s, name=\"%s\"\n",
		 start, need, PART_TYPE, p->label);
	p->step = S_WRITE;
	part_step_run(p);
}

/* Step 2: a disk without a table; blkid found nothing at all. */
static void part_blank(struct setup_part *p)
{
	struct setup_part_table t = {.sector_size = p->ss};
	uint64_t total = p->bytes / p->ss, need, start = 0, largest = 0;
	/* GPT: the primary header and entries before the first usable
	 * sector, the backup entries and header after the last one. */
	uint64_t entries = 16384 / p->ss;

	t.first_lba = 2 + entries;
	t.last_lba = total > 2 + entries ? total - 2 - entries : 0;
	need = p->size_mib * ((1u << 20) / p->ss);
	if (!setup_part_fit(&t, need, &start, &largest)) {
		part_fail(p,
			  "not enough free space on %s: %" PRIu64
			  " MiB free in one piece, %" PRIu64 " MiB needed",
			  p->disk, largest, p->size_mib);
		return;
	}
	log_info("setup: %s: %s has no partition table and no signature: "
		 "labelled GPT, partition \"%s\" of %" PRIu64
		 " MiB at sector %" PRIu64,
		 p->who, p->disk, p->label, p->size_mib, start);
	snprintf(p->script, sizeof(p->script),
		 "label: gpt\nstart=%" PRIu64 ", size=%" PRIu64
		 ", type=%s, name=\"%s\"\n",
		 start, need, PART_TYPE, p->label);
	p->step = S_WRITE;
	part_step_run(p);
}

static void part_child_done(const struct cmsd_child_result *res, void *arg)
{
	struct setup_part *p = arg;
	char words[400];
	bool ok = res->exited && res->exit_code == 0;

	p->child = NULL;
	part_words(res, words, sizeof(words));
	switch (p->step) {
	case S_DUMP:
	case S_REDUMP:
		if (ok) {
			part_table(p, res->output);
		} else if (p->step == S_DUMP &&
			   strstr(res->output, "does not contain a recognized "
					       "partition table")) {
			log_info("setup: %s: %s has no partition table: "
				 "probing for signatures",
				 p->who, p->disk);
			p->step = S_PROBE;
			part_step_run(p);
		} else {
			part_fail(p, "%s: sfdisk --dump: %s", p->disk, words);
		}
		return;
	case S_PROBE:
		/* blkid -p: 2 is "nothing found" */
		if (res->exited && res->exit_code == 2) {
			part_blank(p);
			return;
		}
		if (ok)
			part_fail(p,
				  "%s has no partition table but carries a "
				  "signature (%s): not labelled; if nothing on "
				  "it is needed, clear it first (wipefs -a %s)",
				  p->disk, words, p->disk);
		else
			part_fail(p, "%s: blkid -p: %s", p->disk, words);
		return;
	case S_WRITE:
		if (!ok) {
			part_fail(p,
				  "%s: sfdisk could not write partition "
				  "\"%s\": %s",
				  p->disk, p->label, words);
			return;
		}
		p->created = true;
		log_info("setup: %s: sfdisk wrote %s: %s", p->who, p->disk,
			 words);
		p->step = S_REDUMP;
		part_step_run(p);
		return;
	case S_PARTX:
		if (!ok)
			log_warnx("setup: %s: partx --add --nr %u %s: %s",
				  p->who, p->number, p->disk, words);
		p->step = S_SETTLE;
		part_step_run(p);
		return;
	case S_SETTLE:
		part_answer(p);
		return;
	}
}

static void part_run(struct setup_part *p, const char *const *argv,
		     const char *input)
{
	int rc = part_spawn(p, argv, input);

	if (rc < 0)
		part_fail(p, "%s: cannot run %s: %s", p->disk, argv[0],
			  strerror(-rc));
}

static void part_step_run(struct setup_part *p)
{
	const char *sf = tool(T_SFDISK), *t;

	switch (p->step) {
	case S_DUMP:
	case S_REDUMP: {
		const char *argv[] = {sf, "--dump", p->disk, NULL};
		part_run(p, argv, NULL);
		return;
	}
	case S_PROBE: {
		const char *argv[] = {tool(T_BLKID), "-p",    "-o",
				      "export",	     p->disk, NULL};
		if (!argv[0]) {
			part_fail(p,
				  "%s has no partition table, and blkid "
				  "(util-linux) is missing to tell whether "
				  "it is empty",
				  p->disk);
			return;
		}
		part_run(p, argv, NULL);
		return;
	}
	case S_WRITE: {
		/* --no-reread: no refusal for a disk in use (the system
		 * disk); the new partition goes to the kernel below.
		 * --wipe never: nothing on the disk is erased.  --lock: the
		 * BSD lock udev takes while it probes the disk, so the two do
		 * not interleave. */
		bool fresh = p->script[0] == 'l';
		const char *argv[] = {sf,
				      "--no-reread",
				      "--wipe",
				      "never",
				      "--wipe-partitions",
				      "never",
				      "--quiet",
				      "--lock",
				      p->disk,
				      fresh ? NULL : "--append",
				      NULL};
		log_info("setup: %s: sfdisk %s %s <<< %s", p->who,
			 fresh ? "(new GPT)" : "--append", p->disk, p->script);
		part_run(p, argv, p->script);
		return;
	}
	case S_PARTX: {
		const char *argv[] = {tool(T_PARTX), "--add", "--nr",
				      p->nr,	     p->disk, NULL};
		snprintf(p->nr, sizeof(p->nr), "%u", p->number);
		if (!argv[0]) {
			part_fail(p,
				  "%s: the kernel does not show partition "
				  "%u and partx (util-linux) is missing",
				  p->disk, p->number);
			return;
		}
		part_run(p, argv, NULL);
		return;
	}
	case S_SETTLE:
		t = tool(T_UDEVADM);
		if (t) {
			const char *argv[] = {t, "settle", "--timeout=10",
					      NULL};
			part_run(p, argv, NULL);
			return;
		}
		part_answer(p);
		return;
	}
}

/* ------------------------------------------------------------ start */

int setup_part_start(const char *who, const char *disk, const char *size_mib,
		     const char *label, setup_part_cb done, void *arg,
		     struct setup_part **out, char *err, size_t errlen)
{
	char sys[128], lnk[PATH_MAX], *end;
	unsigned long long mib = strtoull(size_mib, &end, 10);
	struct setup_part *p;
	struct stat st;
	ssize_t n;
	int fd, ss = 512;
	uint64_t bytes = 0;
	size_t ll = strlen(label);

	if (strncmp(disk, "/dev/", 5) != 0 || strlen(disk) > 200 ||
	    strstr(disk, "/../")) {
		snprintf(err, errlen, "PARTITION: \"%s\" is not a /dev path",
			 disk);
		return -EINVAL;
	}
	if (!isdigit((unsigned char)*size_mib) || *end || mib < 1 ||
	    mib > (1ull << 32)) {
		snprintf(err, errlen,
			 "PARTITION: size \"%s\" is not a number of MiB",
			 size_mib);
		return -EINVAL;
	}
	if (!ll || ll > 36 ||
	    strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			  "YZ0123456789._-") != ll) {
		snprintf(err, errlen,
			 "PARTITION: label \"%s\" must be 1 to 36 letters, "
			 "digits, '.', '_' or '-'",
			 label);
		return -EINVAL;
	}
	if (!tool(T_SFDISK)) {
		snprintf(err, errlen,
			 "PARTITION %s: sfdisk is missing on this host "
			 "(Debian package fdisk)",
			 disk);
		return -ENOENT;
	}
	if (stat(disk, &st) < 0) {
		snprintf(err, errlen, "PARTITION: %s: %s", disk,
			 strerror(errno));
		return -errno;
	}
	if (!S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "PARTITION: %s is not a block device",
			 disk);
		return -ENOTBLK;
	}
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/partition",
		 major(st.st_rdev), minor(st.st_rdev));
	if (access(sys, F_OK) == 0) {
		snprintf(err, errlen,
			 "PARTITION: %s is a partition, not a whole disk",
			 disk);
		return -EINVAL;
	}
	sys[strlen(sys) - strlen("/partition")] = '\0';
	n = readlink(sys, lnk, sizeof(lnk) - 1);
	if (n < 0) {
		snprintf(err, errlen, "PARTITION: %s: %s: %s", disk, sys,
			 strerror(errno));
		return -errno;
	}
	lnk[n] = '\0';
	fd = open(disk, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0 ||
	    ioctl(fd, BLKSSZGET, &ss) < 0 || ss < 512 || ss > 65536) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "PARTITION: %s: size: %s", disk,
			 strerror(e));
		return -e;
	}
	close(fd);
	if (!(p = calloc(1, sizeof(*p)))) {
		snprintf(err, errlen, "PARTITION: out of memory");
		return -ENOMEM;
	}
	snprintf(p->who, sizeof(p->who), "%s", who);
	snprintf(p->disk, sizeof(p->disk), "%s", disk);
	{
		const char *b = strrchr(lnk, '/') ? strrchr(lnk, '/') + 1 : lnk;
		/* a kernel disk name is short; a longer one cannot be */
		if (strlen(b) >= sizeof(p->kname)) {
			snprintf(err, errlen,
				 "PARTITION: %s: disk name too long", disk);
			free(p);
			return -EINVAL;
		}
		memcpy(p->kname, b, strlen(b) + 1);
	}
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->rdev = st.st_rdev;
	p->size_mib = mib;
	p->bytes = bytes;
	p->ss = (unsigned)ss;
	p->done = done;
	p->arg = arg;
	p->step = S_DUMP;
	log_info("setup: %s: PARTITION %s (%s, %" PRIu64 " MiB): partition "
		 "\"%s\" of %llu MiB asked",
		 who, disk, p->kname, bytes >> 20, label, mib);
	{
		const char *argv[] = {tool(T_SFDISK), "--dump", p->disk, NULL};
		int rc = part_spawn(p, argv, NULL);
		if (rc < 0) {
			snprintf(err, errlen, "PARTITION %s: cannot run %s: %s",
				 disk, argv[0], strerror(-rc));
			free(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

void setup_part_abandon(struct setup_part *p)
{
	if (!p)
		return;
	if (p->child)
		spawn_abandon(p->child);
	free(p);
}
