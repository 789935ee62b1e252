/*
 * Root password check for the unconfigured agent (setup.c): a setup client
 * proves it may configure this host by the host's own root password, checked
 * here against /etc/shadow with crypt_r().  Used during setup only; once the
 * host is configured only the cluster certificates count.
 *
 * Guessing is rate-limited for the whole host (not per client address, so
 * that many addresses do not buy more guesses): after `max_failures`
 * consecutive failures every attempt is refused, unchecked, for
 * `lockout_s` seconds.  Nothing here logs or keeps a password.
 */
#ifndef CMSD_AGENT_AUTH_H
#define CMSD_AGENT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define AUTH_SHADOW_PATH  "/etc/shadow"
#define AUTH_MAX_FAILURES 3
#define AUTH_LOCKOUT_S	  60

struct auth_limit {
	unsigned max_failures;
	unsigned lockout_s;
	unsigned failures;   /* consecutive */
	time_t locked_until; /* CLOCK_MONOTONIC seconds, 0: not locked */
};

void auth_limit_init(struct auth_limit *l, unsigned max_failures,
		     unsigned lockout_s);

/* Seconds left of a lockout at `now` (monotonic seconds), 0 when not
 * locked. */
unsigned auth_locked_for(const struct auth_limit *l, time_t now);

/* Records the outcome of a checked attempt at `now`.  Returns true when this
 * failure started a lockout. */
bool auth_record(struct auth_limit *l, bool ok, time_t now);

/*
 * Checks `password` (len bytes, no NUL inside) against user's hash in the
 * shadow file at `shadow_path`.  0 when it matches; -EACCES when it does
 * not, the account has no usable hash (locked "!", "*", empty) or the user
 * is missing; another -errno (the file cannot be read) with the reason in
 * err.  The comparison of the hashes is constant-time.
 */
int auth_check_password(const char *shadow_path, const char *user,
			const char *password, size_t len, char *err,
			size_t errlen);

/* Constant-time equality of two byte strings of possibly different
 * lengths (the lengths themselves are not secret). */
bool auth_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
