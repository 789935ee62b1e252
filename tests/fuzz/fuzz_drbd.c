/*
 * libFuzzer target for storage-drbd's text parsers (drbd_events.c,
 * drbd_proc.c): the input is what a drbdsetup events2 pipe, /proc/drbd or
 * get-gi could hand us.  The stream goes through the line buffer in two
 * uneven reads; every line is parsed and folded into one state model, and
 * an overview line is built for every resource.  Only the documented
 * results may come out.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iplugins/storage-drbd \
 *     tests/fuzz/fuzz_drbd.c plugins/storage-drbd/drbd_{events,proc,overview}.c
 * \ -lm -o fuzz_drbd
 *   ./fuzz_drbd -max_len=8192 -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drbd_events.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static struct drbd_state st;
static struct drbd_lines lb;

static void line_cb(void *ctx, const char *line)
{
	struct drbd_event ev;
	char err[256];
	int rc = drbd_ev_parse(line, &ev, err, sizeof(err));

	(void)ctx;
	check(rc == 0 || (rc == -EINVAL && err[0]));
	if (rc)
		return;
	rc = drbd_state_apply(&st, &ev, 0);
	check(rc >= 0 || rc == -ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drbd_proc_dev pd[4];
	char *text = malloc(size + 1), err[256], line[512];
	size_t half = size / 3;
	uint64_t u;
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	drbd_state_init(&st);
	memset(&lb, 0, sizeof(lb));
	check(drbd_lines_feed(&lb, (const char *)data, half, line_cb, NULL) >=
	      0);
	check(drbd_lines_feed(&lb, (const char *)data + half, size - half,
			      line_cb, NULL) >= 0);
	drbd_lines_flush(&lb, line_cb, NULL);
	for (size_t i = 0; i < DRBD_MAX_RES; i++) {
		const struct drbd_res_state *r = &st.res[i];
		double pct;
		int64_t eta;

		if (!r->present)
			continue;
		rc = drbd_overview_line(r, 0, NULL, line, sizeof(line));
		check(rc == -ENOENT || (rc > 0 && (size_t)rc == strlen(line)));
		if (drbd_resync_progress(r, 0, &pct, &eta))
			check(pct >= 0 && pct <= 100.0001);
	}

	rc = drbd_proc_parse(text, pd, 4, err, sizeof(err));
	check((rc >= 0 && rc <= 4) || (rc == -EINVAL && err[0]) ||
	      rc == -ENOMEM);
	rc = drbd_parse_gi(text, &u, err, sizeof(err));
	check(rc == 0 || rc == -EINVAL);
	free(text);
	return 0;
}
