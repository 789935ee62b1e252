/*
 * Root password check and its rate limit (see auth.h).
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void auth_limit_init(struct auth_limit *l, unsigned max_failures,
		     unsigned lockout_s)
{
	memset(l, 0, sizeof(*l));
	l->max_failures = max_failures ? max_failures : AUTH_MAX_FAILURES;
	l->lockout_s = lockout_s;
}

unsigned auth_locked_for(const struct auth_limit *l, time_t now)
{
	if (l->locked_until <= now)
		return 0;
	return (unsigned)(l->locked_until - now);
}

bool auth_record(struct auth_limit *l, bool ok, time_t now)
{
	if (ok) {
		l->failures = 0;
		l->locked_until = 0;
		return false;
	}
	if (++l->failures < l->max_failures)
		return false;
	/* The counter starts again after the lockout, so that each further
	 * run of failures costs another lockout. */
	l->failures = 0;
	l->locked_until = now + (time_t)l->lockout_s;
	return true;
}

bool auth_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

/* The user's hash from the shadow file into *hash (malloc'd): 0, -ENOENT
 * when the file has no such user, or another -errno when the file cannot
 * be read (a missing /etc/shadow is an error, not a wrong password). */
static int auth_shadow_hash(const char *shadow_path, const char *user,
			    char **hash)
{
	struct spwd sp, *res = NULL;
	char buf[4096];
	int rc = -ENOENT;
	FILE *f = fopen(shadow_path, "re");

	*hash = NULL;
	if (!f)
		return errno == ENOENT ? -ENODATA : -errno;
	for (;;) {
		int e = fgetspent_r(f, &sp, buf, sizeof(buf), &res);
		if (e == ENOENT || !res)
			break;
		if (e) {
			rc = -e;
			break;
		}
		if (strcmp(sp.sp_namp, user) == 0) {
			*hash = strdup(sp.sp_pwdp ? sp.sp_pwdp : "");
			rc = *hash ? 0 : -ENOMEM;
			break;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return rc;
}

int auth_check_password(const char *shadow_path, const char *user,
			const char *password, size_t len, char *err,
			size_t errlen)
{
	struct crypt_data *cd = NULL;
	char *hash, *pw = NULL;
	const char *out;
	int rc = -EACCES;

	if (errlen)
		err[0] = '\0';
	if (memchr(password, '\0', len))
		return -EACCES;
	rc = auth_shadow_hash(shadow_path, user, &hash);
	if (rc == -ENOENT)
		return -EACCES;
	if (rc) {
		if (rc == -ENODATA)
			rc = -ENOENT;
		snprintf(err, errlen, "cannot read %s: %s", shadow_path,
			 strerror(-rc));
		return rc;
	}
	rc = -EACCES;
	/* "!...", "*", "" and the like: no password login for this account;
	 * crypt would fail on them anyway, but say so plainly. */
	if (hash[0] == '\0' || hash[0] == '!' || hash[0] == '*')
		goto out;
	cd = calloc(1, sizeof(*cd));
	pw = malloc(len + 1);
	if (!cd || !pw) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(pw, password, len);
	pw[len] = '\0';
	out = crypt_r(pw, hash, cd);
	/* libxcrypt returns "*0"/"*1" (never equal to a real hash) on
	 * error, or NULL with some settings. */
	if (out && out[0] != '*' &&
	    auth_equal(out, strlen(out), hash, strlen(hash)))
		rc = 0;
out:
	if (pw) {
		explicit_bzero(pw, len);
		free(pw);
	}
	if (cd) {
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	explicit_bzero(hash, strlen(hash));
	free(hash);
	return rc;
}
