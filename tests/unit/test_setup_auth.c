/* The setup agent's pure parts: the root password check against a shadow
 * file (a test file here; the setup tests bind-mount one over /etc/shadow),
 * the rate limit, the setup channel's message format and PUT paths, and the
 * certificates cmsd makes. */
#include <check.h>
#include <crypt.h>
#include <errno.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "pki.h"
#include "setupproto.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmdir(dir);
	free(dir);
}

/* A shadow file whose root has the hash of pw with the given prefix
 * ("$y$" yescrypt, Debian's default; "$6$" SHA-512). */
static char *shadow_with(const char *prefix, const char *pw)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], text[1024];
	struct crypt_data cd;
	const char *h;

	memset(&cd, 0, sizeof(cd));
	ck_assert_ptr_nonnull(
		crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)));
	h = crypt_r(pw, salt, &cd);
	ck_assert_ptr_nonnull(h);
	ck_assert(h[0] == '$');
	snprintf(text, sizeof(text),
		 "daemon:*:20000:0:99999:7:::\n"
		 "root:%s:20000:0:99999:7:::\n"
		 "locked:!%s:20000:0:99999:7:::\n"
		 "nopw::20000:0:99999:7:::\n",
		 h, h);
	return tu_write(dir, "shadow", text);
}

START_TEST(right_and_wrong_passwords)
{
	static const char *const prefixes[] = {"$y$", "$6$"};
	const char *pw = "S3cret with spaces";
	char err[256];

	for (size_t i = 0; i < 2; i++) {
		char *sh = shadow_with(prefixes[i], pw);
		ck_assert_int_eq(auth_check_password(sh, "root", pw, strlen(pw),
						     err, sizeof(err)),
				 0);
		/* a prefix, a longer one, another case, empty */
		ck_assert_int_eq(auth_check_password(sh, "root", pw, 5, err,
						     sizeof(err)),
				 -EACCES);
		ck_assert_int_eq(auth_check_password(sh, "root",
						     "S3cret with spaces!", 19,
						     err, sizeof(err)),
				 -EACCES);
		ck_assert_int_eq(auth_check_password(sh, "root",
						     "s3cret with spaces", 18,
						     err, sizeof(err)),
				 -EACCES);
		ck_assert_int_eq(auth_check_password(sh, "root", "", 0, err,
						     sizeof(err)),
				 -EACCES);
		/* a NUL inside is never a match (crypt would stop there) */
		ck_assert_int_eq(auth_check_password(sh, "root",
						     "S3cret with spaces\0x",
						     20, err, sizeof(err)),
				 -EACCES);
		free(sh);
	}
}
END_TEST

START_TEST(locked_missing_and_unreadable)
{
	const char *pw = "pw";
	char err[256] = "";
	char *sh = shadow_with("$6$", pw);
	char *missing;

	/* "!hash" (a locked account) and an empty hash never match */
	ck_assert_int_eq(
		auth_check_password(sh, "locked", pw, 2, err, sizeof(err)),
		-EACCES);
	ck_assert_int_eq(
		auth_check_password(sh, "nopw", "", 0, err, sizeof(err)),
		-EACCES);
	ck_assert_int_eq(
		auth_check_password(sh, "daemon", "*", 1, err, sizeof(err)),
		-EACCES);
	ck_assert_int_eq(
		auth_check_password(sh, "nobody-here", pw, 2, err, sizeof(err)),
		-EACCES);
	ck_assert_int_ge(asprintf(&missing, "%s/no-shadow", dir), 0);
	ck_assert_int_eq(
		auth_check_password(missing, "root", pw, 2, err, sizeof(err)),
		-ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no-shadow"));
	free(missing);
	free(sh);
}
END_TEST

START_TEST(rate_limit)
{
	struct auth_limit l;

	auth_limit_init(&l, 3, 60);
	ck_assert_uint_eq(auth_locked_for(&l, 100), 0);
	ck_assert(!auth_record(&l, false, 100));
	ck_assert(!auth_record(&l, false, 101));
	ck_assert_uint_eq(auth_locked_for(&l, 101), 0);
	/* the third failure starts the lockout */
	ck_assert(auth_record(&l, false, 102));
	ck_assert_uint_eq(auth_locked_for(&l, 102), 60);
	ck_assert_uint_eq(auth_locked_for(&l, 161), 1);
	ck_assert_uint_eq(auth_locked_for(&l, 162), 0);
	/* a success clears the count */
	ck_assert(!auth_record(&l, false, 200));
	ck_assert(!auth_record(&l, true, 201));
	ck_assert(!auth_record(&l, false, 202));
	ck_assert(!auth_record(&l, false, 203));
	ck_assert(auth_record(&l, false, 204));
}
END_TEST

START_TEST(equal_is_exact)
{
	ck_assert(auth_equal("abc", 3, "abc", 3));
	ck_assert(!auth_equal("abc", 3, "abd", 3));
	ck_assert(!auth_equal("abc", 3, "abcd", 4));
	ck_assert(auth_equal("", 0, "", 0));
}
END_TEST

START_TEST(message_format)
{
	struct setup_msg m;
	const char ok[] = "PUT tls/ca.pem 644\n\x01\x02"
			  "body";
	char big[SETUP_MAX_LINE + 10];
	char v[64];

	ck_assert_int_eq(setup_msg_parse(ok, sizeof(ok) - 1, &m), 0);
	ck_assert_str_eq(m.line, "PUT tls/ca.pem 644");
	ck_assert_uint_eq(m.body_len, 6);
	ck_assert(memcmp(m.body,
			 "\x01\x02"
			 "body",
			 6) == 0);
	/* no newline, a control byte on the line, a line too long */
	ck_assert_int_eq(setup_msg_parse("FACTS", 5, &m), -EBADMSG);
	ck_assert_int_eq(setup_msg_parse("FA\x01CTS\n", 7, &m), -EBADMSG);
	memset(big, 'A', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	ck_assert_int_eq(setup_msg_parse(big, sizeof(big), &m), -EBADMSG);

	const char body[] = "hostname=cvknode1\nversion=0.1.0\nvms_mib=40960";
	ck_assert(
		setup_kv_get(body, sizeof(body) - 1, "version", v, sizeof(v)));
	ck_assert_str_eq(v, "0.1.0");
	ck_assert(
		setup_kv_get(body, sizeof(body) - 1, "vms_mib", v, sizeof(v)));
	ck_assert_str_eq(v, "40960");
	ck_assert(!setup_kv_get(body, sizeof(body) - 1, "host", v, sizeof(v)));
	ck_assert(!setup_kv_get(body, sizeof(body) - 1, "vms", v, sizeof(v)));
}
END_TEST

START_TEST(put_paths)
{
	ck_assert(setup_relpath_ok("cluster.key"));
	ck_assert(setup_relpath_ok("tls/node.pem"));
	ck_assert(setup_relpath_ok("a/b_c-d.e"));
	ck_assert(!setup_relpath_ok(""));
	ck_assert(!setup_relpath_ok("/etc/shadow"));
	ck_assert(!setup_relpath_ok("../shadow"));
	ck_assert(!setup_relpath_ok("tls/../../shadow"));
	ck_assert(!setup_relpath_ok("tls/.."));
	ck_assert(!setup_relpath_ok("./x"));
	ck_assert(!setup_relpath_ok("tls//x"));
	ck_assert(!setup_relpath_ok("tls/"));
	ck_assert(!setup_relpath_ok("a b"));
	ck_assert(!setup_relpath_ok("a\nb"));
	ck_assert(setup_relpath_ok("..x"));
}
END_TEST

START_TEST(certificates)
{
	EVP_PKEY *cak = pki_key_new(), *k = pki_key_new(), *k2 = NULL;
	X509 *ca, *c, *c2 = NULL;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char fp[128], fp2[128], err[256], *cp, *kp;
	struct stat sb;

	ck_assert_ptr_nonnull(cak);
	ca = pki_cert_new(cak, "cmsd cluster CA", 30, 1, NULL, NULL);
	c = pki_cert_new(k, "node1", 30, 0, ca, cak);
	ck_assert_ptr_nonnull(ca);
	ck_assert_ptr_nonnull(c);
	/* the node certificate verifies against the CA */
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, c, NULL);
	ck_assert_int_eq(X509_verify_cert(ctx), 1);
	ck_assert_int_eq(pki_fingerprint(c, fp, sizeof(fp)), 0);
	ck_assert_uint_eq(strlen(fp), 7 + 32 * 3 - 1);
	ck_assert(strncmp(fp, "SHA256:", 7) == 0);

	/* made once, then loaded: the same fingerprint; the key 0600 */
	ck_assert_int_ge(asprintf(&cp, "%s/s.pem", dir), 0);
	ck_assert_int_ge(asprintf(&kp, "%s/s.key", dir), 0);
	ck_assert_int_eq(
		pki_load_or_make(cp, kp, "h", &c2, &k2, err, sizeof(err)), 0);
	ck_assert_int_eq(pki_fingerprint(c2, fp, sizeof(fp)), 0);
	X509_free(c2);
	EVP_PKEY_free(k2);
	ck_assert_int_eq(stat(kp, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(
		pki_load_or_make(cp, kp, "h", &c2, &k2, err, sizeof(err)), 0);
	ck_assert_int_eq(pki_fingerprint(c2, fp2, sizeof(fp2)), 0);
	ck_assert_str_eq(fp, fp2);
	X509_free(c2);
	EVP_PKEY_free(k2);
	/* a key that does not match: refused, named */
	free(tu_write(dir, "s.key", "garbage\n"));
	ck_assert_int_eq(
		pki_load_or_make(cp, kp, "h", &c2, &k2, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "s.key"));
	free(cp);
	free(kp);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(ca);
	X509_free(c);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(sync_progress_in_status)
{
	const char *syncing =
		"master : cvknode1 (Online)\n-----\n"
		"replica: db: SyncSource Primary/Secondary "
		"UpToDate/Inconsistent"
		", syncing 42% (ETA 310 s), data usable, generation "
		"00000000000000A1\nrole   : master\n";
	const char *synced =
		"replica: db: Connected Primary/Secondary UpToDate/UpToDate, "
		"data usable, generation 00000000000000A1\n";
	char id[16];
	int pct = -1;

	ck_assert(setup_status_syncing(syncing, id, sizeof(id), &pct));
	ck_assert_str_eq(id, "db");
	ck_assert_int_eq(pct, 42);
	ck_assert(!setup_status_syncing(synced, id, sizeof(id), &pct));
	ck_assert(!setup_status_syncing("", id, sizeof(id), &pct));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("setup_auth");
	TCase *tc = tcase_create("setup_auth");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, right_and_wrong_passwords);
	tcase_add_test(tc, locked_missing_and_unreadable);
	tcase_add_test(tc, rate_limit);
	tcase_add_test(tc, equal_is_exact);
	tcase_add_test(tc, message_format);
	tcase_add_test(tc, put_paths);
	tcase_add_test(tc, certificates);
	tcase_add_test(tc, sync_progress_in_status);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
