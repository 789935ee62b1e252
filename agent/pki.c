/*
 * Keys and certificates (see pki.h), with OpenSSL 3.
 */
#include "pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

EVP_PKEY *pki_key_new(void)
{
	return EVP_EC_gen("P-256");
}

static int pki_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

X509 *pki_cert_new(EVP_PKEY *key, const char *cn, int days, int ca,
		   X509 *issuer, EVP_PKEY *ikey)
{
	X509 *c = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[300];

	if (!c)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
		goto fail;
	if (!X509_set_version(c, X509_VERSION_3) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) ||
	    !X509_set_pubkey(c, key))
		goto fail;
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0))
		goto fail;
	if (!X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer)
					    : name))
		goto fail;
	if (ca) {
		if (pki_ext(c, issuer, NID_basic_constraints,
			    "critical,CA:TRUE") ||
		    pki_ext(c, issuer, NID_key_usage,
			    "critical,keyCertSign,cRLSign") ||
		    pki_ext(c, issuer, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		if (pki_ext(c, issuer, NID_basic_constraints, "CA:FALSE") ||
		    pki_ext(c, issuer, NID_key_usage,
			    "critical,digitalSignature") ||
		    pki_ext(c, issuer, NID_ext_key_usage,
			    "serverAuth,clientAuth") ||
		    pki_ext(c, issuer, NID_subject_alt_name, san))
			goto fail;
	}
	if (!X509_sign(c, ikey ? ikey : key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return c;
fail:
	BN_free(bn);
	X509_free(c);
	return NULL;
}

static char *pki_bio_text(BIO *b)
{
	char *data, *out = NULL;
	long n = BIO_get_mem_data(b, &data);

	if (n >= 0 && (out = malloc((size_t)n + 1))) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

char *pki_key_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (!b)
		return NULL;
	if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return NULL;
	}
	return pki_bio_text(b);
}

char *pki_cert_pem(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (!b)
		return NULL;
	if (!PEM_write_bio_X509(b, cert)) {
		BIO_free(b);
		return NULL;
	}
	return pki_bio_text(b);
}

int pki_write_file(const char *path, const void *data, size_t len,
		   unsigned mode)
{
	char tmp[4096];
	const char *p = data;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* open() honours the umask; the mode asked for is the mode meant. */
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	while (!rc && len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* The rename itself must survive a power cut: sync the directory. */
	snprintf(tmp, sizeof(tmp), "%s", path);
	char *slash = strrchr(tmp, '/');
	if (slash) {
		*(slash == tmp ? slash + 1 : slash) = '\0';
		fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

int pki_fingerprint(X509 *cert, char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t off;

	if (!X509_digest(cert, EVP_sha256(), md, &n) || len < 7 + n * 3)
		return -EINVAL;
	off = (size_t)snprintf(out, len, "SHA256:");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%02X",
					i ? ":" : "", md[i]);
	return 0;
}

int pki_load_or_make(const char *cert_path, const char *key_path,
		     const char *cn, X509 **cert, EVP_PKEY **key, char *err,
		     size_t errlen)
{
	FILE *f;
	char *pem;
	int rc;

	*cert = NULL;
	*key = NULL;
	if (access(cert_path, F_OK) == 0 || access(key_path, F_OK) == 0) {
		if (!(f = fopen(cert_path, "re")))
			goto io;
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if (!(f = fopen(key_path, "re"))) {
			snprintf(err, errlen, "%s: %s", key_path,
				 strerror(errno));
			goto fail;
		}
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (!*cert || !*key ||
		    X509_check_private_key(*cert, *key) != 1) {
			snprintf(err, errlen,
				 "%s / %s: not a matching PEM certificate "
				 "and key (remove both to make new ones)",
				 cert_path, key_path);
			goto fail;
		}
		return 0;
	}
	*key = pki_key_new();
	*cert = *key ? pki_cert_new(*key, cn, 3650, 0, NULL, NULL) : NULL;
	if (!*cert) {
		snprintf(err, errlen, "cannot make a key and certificate");
		goto fail;
	}
	if (!(pem = pki_key_pem(*key))) {
		snprintf(err, errlen, "cannot encode the key");
		goto fail;
	}
	rc = pki_write_file(key_path, pem, strlen(pem), 0600);
	explicit_bzero(pem, strlen(pem));
	free(pem);
	if (rc) {
		snprintf(err, errlen, "%s: %s", key_path, strerror(-rc));
		goto fail;
	}
	if (!(pem = pki_cert_pem(*cert))) {
		snprintf(err, errlen, "cannot encode the certificate");
		goto fail;
	}
	rc = pki_write_file(cert_path, pem, strlen(pem), 0644);
	free(pem);
	if (rc) {
		snprintf(err, errlen, "%s: %s", cert_path, strerror(-rc));
		goto fail;
	}
	return 0;
io:
	snprintf(err, errlen, "%s: %s", cert_path, strerror(errno));
fail:
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	return -EINVAL;
}
