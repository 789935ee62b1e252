/*
 * storage-drbd: /proc/drbd of DRBD 8.4, for the resync progress that 8.4's
 * events2 does not report.  Pure: the caller reads the file.
 */
#include "drbd_events.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int proc_err(char *err, size_t errlen, int lineno, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "/proc/drbd line %d: %s", lineno, what);
	return -EINVAL;
}

/* "A/B" after a "xx:" prefix into two fields. */
static bool pair(const char *tok, const char *key, char out[2][16])
{
	size_t kl = strlen(key);
	const char *v = tok + kl, *slash;

	if (strncmp(tok, key, kl) != 0)
		return false;
	slash = strchr(v, '/');
	if (!slash || slash == v || (size_t)(slash - v) >= 16 ||
	    strlen(slash + 1) >= 16 || !slash[1])
		return false;
	memcpy(out[0], v, (size_t)(slash - v));
	out[0][slash - v] = '\0';
	strcpy(out[1], slash + 1);
	return true;
}

/* " 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----" */
static int dev_line(char *l, struct drbd_proc_dev *d, int lineno, char *err,
		    size_t errlen)
{
	char *save = NULL, *tok;
	int field = 0;

	memset(d, 0, sizeof(*d));
	d->oos = d->eta_s = d->speed_kib_s = -1;
	d->minor = (int)strtol(l, &l, 10);
	l++; /* ':' */
	for (tok = strtok_r(l, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save), field++) {
		if (field == 0) {
			if (strncmp(tok, "cs:", 3) != 0 ||
			    strlen(tok + 3) >= sizeof(d->cs) || !tok[3])
				return proc_err(err, errlen, lineno,
						"no cs: after the minor");
			strcpy(d->cs, tok + 3);
		} else if (field == 1) {
			/* 8.3 and older wrote st: for the roles. */
			if (!pair(tok, "ro:", d->role) &&
			    !pair(tok, "st:", d->role))
				return proc_err(err, errlen, lineno,
						"no ro:LOCAL/PEER");
		} else if (field == 2) {
			if (!pair(tok, "ds:", d->ds))
				return proc_err(err, errlen, lineno,
						"no ds:LOCAL/PEER");
		} else if (strlen(tok) == 1 && strchr("ABC", tok[0]) &&
			   !d->proto && !d->flags[0]) {
			d->proto = tok[0];
		} else if (!d->flags[0] && strlen(tok) < sizeof(d->flags)) {
			strcpy(d->flags, tok);
		} else {
			return proc_err(err, errlen, lineno,
					"unexpected field after the flags");
		}
	}
	if (field == 0)
		return proc_err(err, errlen, lineno, "no cs: after the minor");
	/* "Unconfigured" stops after cs:; a configured device has all. */
	if (field < 3 && strcmp(d->cs, "Unconfigured") != 0)
		return proc_err(err, errlen, lineno, "ro: or ds: missing");
	return 0;
}

/* "1,024" -> 1024 */
static int64_t num_commas(const char *s)
{
	int64_t n = 0;
	bool any = false;

	for (; *s && (isdigit((unsigned char)*s) || *s == ','); s++)
		if (*s != ',') {
			n = n * 10 + (*s - '0');
			any = true;
		}
	return any ? n : -1;
}

int drbd_proc_parse(const char *text, struct drbd_proc_dev *devs, size_t max,
		    char *err, size_t errlen)
{
	char *copy = strdup(text), *save = NULL, *l;
	struct drbd_proc_dev *cur = NULL;
	int n = 0, lineno = 0, rc = 0;

	if (!copy)
		return -ENOMEM;
	for (l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *p = l, *q;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (isdigit((unsigned char)*p) && strchr(p, ':') &&
		    strstr(p, ": cs:")) {
			if ((size_t)n == max) {
				rc = proc_err(err, errlen, lineno,
					      "more devices than expected");
				goto out;
			}
			cur = &devs[n];
			rc = dev_line(p, cur, lineno, err, errlen);
			if (rc)
				goto out;
			n++;
		} else if (!cur) {
			continue; /* version:, srcversion:, GIT-hash: */
		} else if ((q = strstr(p, " oos:")) != NULL) {
			cur->oos = num_commas(q + 5);
		} else if ((q = strstr(p, "sync'ed:")) != NULL) {
			char *end;
			cur->syncing = true;
			cur->synced_pct = strtod(q + 8, &end);
			if (end == q + 8 || *end != '%') {
				rc = proc_err(err, errlen, lineno,
					      "bad sync'ed: percentage");
				goto out;
			}
		} else if (strncmp(p, "finish:", 7) == 0) {
			int h, m, s;
			if (sscanf(p + 7, " %d:%d:%d", &h, &m, &s) == 3)
				cur->eta_s = (int64_t)h * 3600 + m * 60 + s;
			q = strstr(p, "speed:");
			if (q)
				cur->speed_kib_s =
					num_commas(q + 6 + strspn(q + 6, " "));
		}
	}
out:
	free(copy);
	return rc ? rc : n;
}
