/*
 * Keys and certificates made by cmsd itself: the unconfigured agent's
 * self-signed setup certificate, and the cluster CA, node and arbiter
 * certificates that `cmsadm setup` makes.  ECDSA P-256, SHA-256
 * signatures; PEM in memory or in files (keys written mode 0600).
 */
#ifndef CMSD_AGENT_PKI_H
#define CMSD_AGENT_PKI_H

#include <stddef.h>

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

EVP_PKEY *pki_key_new(void);

/*
 * A certificate for `cn` valid `days` from now (minus an hour, for clocks
 * a little behind).  issuer/ikey NULL: self-signed by key.  ca: a CA
 * (keyCertSign), else an end entity good for TLS server and client with
 * subjectAltName DNS:cn.  NULL on failure.
 */
X509 *pki_cert_new(EVP_PKEY *key, const char *cn, int days, int ca,
		   X509 *issuer, EVP_PKEY *ikey);

/* PEM text, malloc'd and NUL-terminated; NULL on failure. */
char *pki_key_pem(EVP_PKEY *key);
char *pki_cert_pem(X509 *cert);

/* Writes PEM text to path atomically (temp file, fsync, rename) with mode.
 * 0 or -errno. */
int pki_write_file(const char *path, const void *data, size_t len,
		   unsigned mode);

/* "SHA256:AB:CD:..." of the certificate's DER into out (>= 104 bytes).
 * 0 or -EINVAL. */
int pki_fingerprint(X509 *cert, char *out, size_t len);

/* Loads the certificate and key at cert_path/key_path, or makes and writes
 * a self-signed pair for cn when neither exists.  0 or -errno with err. */
int pki_load_or_make(const char *cert_path, const char *key_path,
		     const char *cn, X509 **cert, EVP_PKEY **key, char *err,
		     size_t errlen);

#endif
