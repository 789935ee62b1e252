/*
 * cmsadm drbd-handler: the pure part, the reading of cmsd's reply to a
 * "drbd-handler HOOK RESOURCE" control request, unit-tested in
 * tests/unit/test_cmsadm_handler.c.
 */
#ifndef CMSADM_HANDLER_H
#define CMSADM_HANDLER_H

#include <stdbool.h>

/* The reply body starts with the handler's exit code ("7 the arbiter
 * holds ..."): returns it (0..255); 256 (HANDLER_WAIT) when the body is
 * "wait ..." (cmsd has no answer yet: ask again); -EINVAL for anything
 * else (no decimal first token, a number out of range). */
#define HANDLER_WAIT 256
int handler_reply_code(const char *body);

/* The exit code when cmsd cannot be asked (not running, no answer, a
 * malformed reply): fence-peer 1, "could not fence" (never 4 or 7: the peer
 * must not be taken for fenced when nobody decided); other hooks 0, since
 * DRBD only logs their exit code and a notification lost must not change
 * what DRBD does. */
int handler_unreachable_code(const char *hook);

/* A hook or resource name that can travel as one word of a control
 * request: [A-Za-z0-9_.-], 1 to 63 characters. */
bool handler_word_ok(const char *s);

#endif
