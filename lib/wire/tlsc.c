/*
 * Framed TLS 1.3 over a non-blocking socket (tlsc.h).  OpenSSL talks to the
 * socket through a BIO of our own that sends with MSG_NOSIGNAL, so a peer
 * that resets never raises SIGPIPE in a process that did not ignore it
 * (a plugin cannot know).  Buffers are bounded: the receive buffer holds
 * one largest frame, the send queue TLSC_SENDQ_MAX bytes.
 */
#include "tlsc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLSC_SENDQ_MAX (1024 * 1024)
#define TLSC_RBUF_LEN  (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)
#define TLSC_NAME_MAX  256
#define TLSC_ERR_MAX   256

struct tlsc {
	SSL *ssl;
	int fd;
	enum tlsc_side side;
	bool hs_done; /* handshake completed and the peer verified */
	bool eof;     /* the peer closed; frames still buffered are read */
	bool read_wants_write;
	int sys_errno; /* of the last failed send/recv in the BIO */
	int failed;    /* 0, or the negative errno tlsc_io returns */
	int garbage;   /* 0, or the negative errno tlsc_recv returns */
	char *expect_cn;

	uint8_t *rbuf; /* TLSC_RBUF_LEN bytes */
	size_t rlen;   /* bytes in rbuf */
	size_t roff;   /* bytes of rbuf handed out by the last tlsc_recv */

	uint8_t *sbuf;
	size_t scap, slen, soff;

	char peer_cn[TLSC_NAME_MAX];
	char sni[TLSC_NAME_MAX];
	bool has_sni;
	char err[TLSC_ERR_MAX];
};

struct tlsc_sni_sel {
	SSL_CTX *(*pick)(const char *sni, void *arg);
	void *arg;
};

static pthread_once_t tlsc_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *tlsc_bio_method;
static int tlsc_sni_idx = -1;

/* ---- the socket BIO ---- */

static int tlsc_bio_write(BIO *bio, const char *buf, int len)
{
	struct tlsc *c = BIO_get_data(bio);
	ssize_t n;

	BIO_clear_retry_flags(bio);
	do
		n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		BIO_set_retry_write(bio);
		return -1;
	}
	c->sys_errno = errno;
	return -1;
}

static int tlsc_bio_read(BIO *bio, char *buf, int len)
{
	struct tlsc *c = BIO_get_data(bio);
	ssize_t n;

	BIO_clear_retry_flags(bio);
	do
		n = recv(c->fd, buf, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return (int)n;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		BIO_set_retry_read(bio);
		return -1;
	}
	c->sys_errno = errno;
	return -1;
}

static long tlsc_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct tlsc *c = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return c && c->eof;
	default:
		return 0;
	}
}

static void tlsc_sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			  long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void tlsc_init_once(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "cmsd socket");

	if (m && (!BIO_meth_set_write(m, tlsc_bio_write) ||
		  !BIO_meth_set_read(m, tlsc_bio_read) ||
		  !BIO_meth_set_ctrl(m, tlsc_bio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	tlsc_bio_method = m;
	tlsc_sni_idx =
		SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tlsc_sni_free);
}

static bool tlsc_init(void)
{
	pthread_once(&tlsc_once, tlsc_init_once);
	return tlsc_bio_method && tlsc_sni_idx >= 0;
}

/* ---- error text ---- */

/* The first error OpenSSL queued, as its reason ("certificate verify
 * failed"), or `dflt`.  Empties the thread's error queue. */
static const char *tlsc_ssl_reason(char *buf, size_t len, const char *dflt)
{
	unsigned long e = ERR_get_error();
	const char *r;

	ERR_clear_error();
	if (!e) {
		snprintf(buf, len, "%s", dflt);
		return buf;
	}
	r = ERR_reason_error_string(e);
	if (r)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	return buf;
}

/* ---- contexts ---- */

SSL_CTX *tlsc_ctx_new(enum tlsc_side side, const char *ca, const char *cert,
		      const char *key, char *err, size_t errlen)
{
	char why[TLSC_ERR_MAX];
	SSL_CTX *ctx = NULL;
	X509_STORE *st;

	ERR_clear_error();
	if (!tlsc_init()) {
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	if (!ca || !cert || !key) {
		snprintf(err, errlen,
			 "TLS: CA, certificate and key files are "
			 "all required");
		return NULL;
	}
	ctx = SSL_CTX_new(side == TLSC_SERVER ? TLS_server_method()
					      : TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "TLS: %s",
			 tlsc_ssl_reason(why, sizeof(why), "out of memory"));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		snprintf(err, errlen, "TLS: TLS 1.3 unavailable: %s",
			 tlsc_ssl_reason(why, sizeof(why), "unknown"));
		goto fail;
	}
	/* The cluster CA is the only trust anchor: the system's default
	 * paths are never loaded. */
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "TLS: CA file %s: %s", ca,
			 tlsc_ssl_reason(why, sizeof(why),
					 "no certificate found"));
		goto fail;
	}
	st = SSL_CTX_get_cert_store(ctx);
	if (!st || sk_X509_OBJECT_num(X509_STORE_get0_objects(st)) <= 0) {
		snprintf(err, errlen, "TLS: CA file %s: no certificate found",
			 ca);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "TLS: certificate file %s: %s", cert,
			 tlsc_ssl_reason(why, sizeof(why),
					 "no certificate found"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL checks the pair while loading the key already. */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen,
				 "TLS: key file %s does not match certificate "
				 "%s",
				 key, cert);
		else
			snprintf(err, errlen, "TLS: key file %s: %s", key,
				 tlsc_ssl_reason(why, sizeof(why),
						 "no key found"));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
			 "TLS: key file %s does not match certificate %s", key,
			 cert);
		goto fail;
	}
	SSL_CTX_set_verify(ctx,
			   side == TLSC_SERVER
				   ? SSL_VERIFY_PEER |
					     SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				   : SSL_VERIFY_PEER,
			   NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No resumption: every connection shows its certificate. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (side == TLSC_SERVER)
		SSL_CTX_set_num_tickets(ctx, 0);
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

void tlsc_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

static int tlsc_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tlsc_sni_sel *sel = arg;
	struct tlsc *c = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	if (!name) {
		if (c)
			snprintf(c->err, sizeof(c->err),
				 "handshake: the client sent no server name "
				 "(SNI)");
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	ctx = sel ? sel->pick(name, sel->arg) : NULL;
	if (!ctx) {
		if (c)
			snprintf(c->err, sizeof(c->err),
				 "handshake: server name \"%.64s\" is not "
				 "served here",
				 name);
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	/* The new context brings its certificate and its CA store (the
	 * verification of the client uses the store of the SSL's current
	 * context). */
	if (ctx != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, ctx)) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

void tlsc_ctx_set_sni(SSL_CTX *ctx, SSL_CTX *(*pick)(const char *, void *),
		      void *arg)
{
	struct tlsc_sni_sel *sel;

	if (!ctx || !tlsc_init())
		return;
	if (!pick) {
		SSL_CTX_set_tlsext_servername_callback(ctx, NULL);
		SSL_CTX_set_ex_data(ctx, tlsc_sni_idx, NULL);
		return;
	}
	sel = SSL_CTX_get_ex_data(ctx, tlsc_sni_idx);
	if (!sel) {
		sel = calloc(1, sizeof(*sel));
		/* Out of memory: no selection at all would let any name in;
		 * a callback without a selection refuses every name. */
		if (sel && !SSL_CTX_set_ex_data(ctx, tlsc_sni_idx, sel)) {
			free(sel);
			sel = NULL;
		}
	}
	if (sel) {
		sel->pick = pick;
		sel->arg = arg;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, tlsc_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, sel);
}

/* ---- connections ---- */

static int tlsc_verify_cb(int ok, X509_STORE_CTX *st);

struct tlsc *tlsc_new(SSL_CTX *ctx, int fd, enum tlsc_side side,
		      const char *sni, const char *expect_cn)
{
	struct tlsc *c;
	BIO *bio = NULL;

	if (!ctx || fd < 0 || !tlsc_init())
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->side = side;
	c->rbuf = malloc(TLSC_RBUF_LEN);
	c->ssl = SSL_new(ctx);
	bio = BIO_new(tlsc_bio_method);
	if (!c->rbuf || !c->ssl || !bio)
		goto fail;
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio);
	bio = NULL;
	SSL_set_app_data(c->ssl, c);
	if (side == TLSC_CLIENT) {
		SSL_set_connect_state(c->ssl);
		if (sni && SSL_set_tlsext_host_name(c->ssl, sni) != 1)
			goto fail;
		if (expect_cn) {
			c->expect_cn = strdup(expect_cn);
			if (!c->expect_cn)
				goto fail;
			SSL_set_verify(c->ssl, SSL_get_verify_mode(c->ssl),
				       tlsc_verify_cb);
		}
	} else {
		SSL_set_accept_state(c->ssl);
	}
	ERR_clear_error();
	return c;
fail:
	ERR_clear_error();
	BIO_free(bio);
	/* the caller keeps fd when we fail */
	c->fd = -1;
	tlsc_free(c);
	return NULL;
}

void tlsc_free(struct tlsc *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* A close_notify when the handshake is done and the socket
		 * takes it; never waits for the peer's. */
		if (c->hs_done && !c->failed)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->expect_cn);
	free(c->rbuf);
	free(c->sbuf);
	free(c);
}

int tlsc_fd(const struct tlsc *c)
{
	return c->fd;
}

bool tlsc_ready(const struct tlsc *c)
{
	return c->hs_done && !c->failed;
}

const char *tlsc_peer_cn(const struct tlsc *c)
{
	return c->hs_done ? c->peer_cn : NULL;
}

const char *tlsc_sni(const struct tlsc *c)
{
	if (c->side != TLSC_SERVER)
		return NULL;
	if (c->has_sni)
		return c->sni;
	return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *tlsc_error(const struct tlsc *c)
{
	return c->err[0] ? c->err : "no error";
}

static int tlsc_fail(struct tlsc *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int tlsc_fail(struct tlsc *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return c->failed;
	/* A message set earlier by the verify callback is more precise. */
	if (!c->err[0]) {
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
	}
	c->failed = rc;
	return rc;
}

/* The subject CN of a certificate into buf; false when it has none, more
 * than one, or one that is not a plain string. */
static bool tlsc_cert_cn(X509 *x, char *buf, size_t len)
{
	X509_NAME *name = X509_get_subject_name(x);
	unsigned char *utf8 = NULL;
	int i, n;
	bool ok = false;

	if (!name)
		return false;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return false;
	n = ASN1_STRING_to_UTF8(
		&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n > 0 && (size_t)n < len && !memchr(utf8, 0, (size_t)n)) {
		memcpy(buf, utf8, (size_t)n);
		buf[n] = '\0';
		ok = true;
	}
	OPENSSL_free(utf8);
	return ok;
}

/* The client refuses a server whose leaf certificate is not the one it
 * wants, during the handshake, so that the server hears why (an alert). */
static int tlsc_verify_cb(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		st, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tlsc *c = ssl ? SSL_get_app_data(ssl) : NULL;
	char cn[TLSC_NAME_MAX];

	if (!ok || !c || !c->expect_cn ||
	    X509_STORE_CTX_get_error_depth(st) != 0)
		return ok;
	if (!tlsc_cert_cn(X509_STORE_CTX_get_current_cert(st), cn,
			  sizeof(cn))) {
		snprintf(c->err, sizeof(c->err),
			 "handshake: the server's certificate has no usable "
			 "CN (expected \"%s\")",
			 c->expect_cn);
		X509_STORE_CTX_set_error(st, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	if (strcmp(cn, c->expect_cn) != 0) {
		snprintf(
			c->err, sizeof(c->err),
			"handshake: the server's certificate is for \"%.64s\", "
			"not \"%.64s\"",
			cn, c->expect_cn);
		X509_STORE_CTX_set_error(st, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return ok;
}

/* After SSL_* returned rc <= 0: 1 for "wait for read", 2 for "wait for
 * write", or a negative errno with c->err set. */
static int tlsc_ssl_error(struct tlsc *c, int rc, const char *what)
{
	int e = SSL_get_error(c->ssl, rc);
	long vr;
	char why[TLSC_ERR_MAX];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLSC_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLSC_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return tlsc_fail(c, -ECONNRESET,
				 "%s: connection closed by the "
				 "peer",
				 what);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (c->sys_errno)
			return tlsc_fail(c, -c->sys_errno, "%s: %s", what,
					 strerror(c->sys_errno));
		return tlsc_fail(c, -ECONNRESET,
				 "%s: connection closed by the peer", what);
	default:
		break;
	}
	vr = SSL_get_verify_result(c->ssl);
	tlsc_ssl_reason(why, sizeof(why), "protocol error");
	if (!c->hs_done && vr != X509_V_OK)
		return tlsc_fail(c, -EACCES, "%s: %s (certificate: %s)", what,
				 why, X509_verify_cert_error_string(vr));
	if (c->sys_errno)
		return tlsc_fail(c, -c->sys_errno, "%s: %s", what,
				 strerror(c->sys_errno));
	return tlsc_fail(c, c->hs_done ? -EPROTO : -EACCES, "%s: %s", what,
			 why);
}

static int tlsc_handshake(struct tlsc *c)
{
	X509 *peer;
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc != 1)
		return tlsc_ssl_error(c, rc, "handshake");
	peer = SSL_get0_peer_certificate(c->ssl);
	if (!peer || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return tlsc_fail(c, -EACCES,
				 "handshake: the peer's certificate was not "
				 "verified");
	if (!tlsc_cert_cn(peer, c->peer_cn, sizeof(c->peer_cn)))
		return tlsc_fail(c, -EACCES,
				 "handshake: the peer's "
				 "certificate has no usable CN");
	if (c->side == TLSC_SERVER) {
		const char *s =
			SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
		if (s && strlen(s) < sizeof(c->sni)) {
			snprintf(c->sni, sizeof(c->sni), "%s", s);
			c->has_sni = true;
		}
	}
	c->hs_done = true;
	return 0;
}

/* Drops the frame the last tlsc_recv handed out. */
static void tlsc_compact(struct tlsc *c)
{
	if (!c->roff)
		return;
	memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
	c->rlen -= c->roff;
	c->roff = 0;
}

/* Reads decrypted bytes into the free part of rbuf.  0 or a negative
 * errno; a clean close only sets c->eof. */
static int tlsc_fill(struct tlsc *c)
{
	c->read_wants_write = false;
	while (c->rlen < TLSC_RBUF_LEN && !c->eof) {
		int n, rc;

		ERR_clear_error();
		n = SSL_read(c->ssl, c->rbuf + c->rlen,
			     (int)(TLSC_RBUF_LEN - c->rlen));
		if (n > 0) {
			c->rlen += (size_t)n;
			continue;
		}
		if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ||
		    (SSL_get_error(c->ssl, n) == SSL_ERROR_SYSCALL &&
		     !c->sys_errno)) {
			ERR_clear_error();
			c->eof = true;
			break;
		}
		rc = tlsc_ssl_error(c, n, "read");
		if (rc == TLSC_WANT_READ)
			break;
		if (rc == TLSC_WANT_WRITE) {
			c->read_wants_write = true;
			break;
		}
		return rc;
	}
	return 0;
}

/* Writes the queue.  0 when it is empty, TLSC_WANT_* when the socket is
 * full, or a negative errno. */
static int tlsc_flush(struct tlsc *c)
{
	while (c->soff < c->slen) {
		int n;

		ERR_clear_error();
		n = SSL_write(c->ssl, c->sbuf + c->soff,
			      (int)(c->slen - c->soff));
		if (n > 0) {
			c->soff += (size_t)n;
			continue;
		}
		return tlsc_ssl_error(c, n, "write");
	}
	c->soff = c->slen = 0;
	return 0;
}

/* true when the buffer holds a complete frame or bytes that are not one. */
static bool tlsc_has_frame(const struct tlsc *c)
{
	return c->rlen > c->roff &&
	       wire_frame_len(c->rbuf + c->roff, c->rlen - c->roff, NULL) != 0;
}

int tlsc_io(struct tlsc *c, bool readable, bool writable)
{
	int mask = TLSC_WANT_READ;
	int rc;

	(void)readable;
	(void)writable;
	/* Every step is non-blocking and cheap when there is nothing to do,
	 * so each call tries them all: the caller need not know which way
	 * TLS wants to go next. */
	if (c->failed)
		return c->failed;
	tlsc_compact(c);
	if (!c->hs_done) {
		rc = tlsc_handshake(c);
		if (rc != 0)
			return rc;
	}
	rc = tlsc_fill(c);
	if (rc < 0)
		return rc;
	if (c->read_wants_write)
		mask |= TLSC_WANT_WRITE;
	rc = tlsc_flush(c);
	if (rc < 0)
		return rc;
	mask |= rc;
	if (c->eof) {
		/* What the peer sent before it closed is still handed out;
		 * the socket stays readable at EOF, so the caller comes back
		 * and learns of the close once the frames are taken. */
		if (tlsc_has_frame(c))
			return mask;
		return tlsc_fail(c, -ECONNRESET,
				 c->rlen ? "read: connection closed by the "
					   "peer in the middle of a frame"
					 : "read: connection closed by the "
					   "peer");
	}
	return mask;
}

int tlsc_send(struct tlsc *c, const void *frame, size_t len)
{
	size_t queued;

	if (c->failed)
		return -ENOTCONN;
	if (!frame || len == 0 || len > TLSC_RBUF_LEN)
		return -EINVAL;
	queued = c->slen - c->soff;
	if (queued + len > TLSC_SENDQ_MAX)
		return -ENOBUFS;
	if (c->soff && c->slen + len > c->scap) {
		memmove(c->sbuf, c->sbuf + c->soff, queued);
		c->slen = queued;
		c->soff = 0;
	}
	if (c->slen + len > c->scap) {
		size_t cap = c->scap ? c->scap : 4096;
		uint8_t *n;

		while (cap < c->slen + len)
			cap *= 2;
		if (cap > TLSC_SENDQ_MAX)
			cap = TLSC_SENDQ_MAX;
		n = realloc(c->sbuf, cap);
		if (!n)
			return -ENOMEM;
		c->sbuf = n;
		c->scap = cap;
	}
	memcpy(c->sbuf + c->slen, frame, len);
	c->slen += len;
	return 0;
}

int tlsc_recv(struct tlsc *c, struct wire_msg *out)
{
	uint8_t version = 0;
	int n, rc;

	if (c->garbage)
		return c->garbage;
	tlsc_compact(c);
	n = wire_frame_len(c->rbuf, c->rlen, &version);
	if (n == 0 && c->hs_done && !c->failed && !c->eof) {
		/* The frame may sit in OpenSSL's buffer while the socket is
		 * empty (rbuf was full): nobody would wake us for it. */
		rc = tlsc_fill(c);
		if (rc < 0)
			return rc;
		n = wire_frame_len(c->rbuf, c->rlen, &version);
	}
	if (n == 0)
		return 0;
	if (n < 0)
		goto garbage;
	if (wire_decode(c->rbuf, (size_t)n, out) < 0) {
		n = -EBADMSG;
		goto garbage;
	}
	c->roff = (size_t)n;
	return 1;
garbage:
	switch (n) {
	case -EPROTO:
		snprintf(c->err, sizeof(c->err),
			 "read: not a cmsd frame (bad magic)");
		break;
	case -EPROTONOSUPPORT:
		snprintf(c->err, sizeof(c->err),
			 "read: frame of version %u (this node speaks %u)",
			 version, WIRE_VERSION);
		break;
	case -EMSGSIZE:
		snprintf(c->err, sizeof(c->err),
			 "read: frame payload over %u bytes", WIRE_MAX_PAYLOAD);
		break;
	default:
		snprintf(c->err, sizeof(c->err), "read: malformed %s frame",
			 wire_type_name(c->rbuf[3]));
		break;
	}
	c->garbage = n;
	return n;
}
