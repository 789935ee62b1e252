/* The client of an unconfigured agent's setup channel (see setupc.h). */
#include "setupc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pki.h"
#include "setupproto.h"

#define SETUPC_CONNECT_MS 5000
#define SETUPC_IO_MS	  60000 /* above the agent's 30 s hook limit */

static int setupc_tcp(const char *ip, unsigned port, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	struct timeval tv = {SETUPC_IO_MS / 1000, 0};
	struct pollfd p;
	char ps[8];
	int fd, e = 0;
	socklen_t l = sizeof(e);

	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(ip, ps, &hints, &ai) != 0) {
		snprintf(err, errlen, "\"%s\" is not an IP address", ip);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0) {
		e = errno;
		freeaddrinfo(ai);
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		e = errno;
		goto bad;
	}
	p = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, SETUPC_CONNECT_MS) != 1) {
		e = ETIMEDOUT;
		goto bad;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		e = errno;
	if (e)
		goto bad;
	freeaddrinfo(ai);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
bad:
	freeaddrinfo(ai);
	close(fd);
	snprintf(err, errlen, "cannot connect to %s port %u: %s", ip, port,
		 strerror(e));
	return -e;
}

static int setupc_io(SSL *ssl, void *buf, size_t len, bool wr)
{
	char *p = buf;

	while (len) {
		int n = wr ? SSL_write(ssl, p, (int)len)
			   : SSL_read(ssl, p, (int)len);
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fingerprints as typed: "SHA256:" optional, colons optional, any case. */
static bool setupc_fp_equal(const char *a, const char *b)
{
	if (strncasecmp(a, "SHA256:", 7) == 0)
		a += 7;
	if (strncasecmp(b, "SHA256:", 7) == 0)
		b += 7;
	while (*a || *b) {
		if (*a == ':') {
			a++;
			continue;
		}
		if (*b == ':') {
			b++;
			continue;
		}
		if (toupper((unsigned char)*a) != toupper((unsigned char)*b))
			return false;
		a++;
		b++;
	}
	return true;
}

SSL_CTX *setupc_ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

int setupc_connect(struct setupc *c, SSL_CTX *ctx, const char *who,
		   const char *ip, unsigned port, char *err, size_t errlen)
{
	char why[512];
	X509 *x;
	int rc;

	rc = setupc_tcp(ip, port, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen,
			 "%s: %s; is `cmsd --unconfigured` running there?", who,
			 why);
		return -1;
	}
	c->fd = rc;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		snprintf(err, errlen, "%s: TLS handshake failed: %s", who,
			 e ? ERR_reason_error_string(e) : "closed");
		return -1;
	}
	x = SSL_get1_peer_certificate(c->ssl);
	if (!x || pki_fingerprint(x, c->fp, sizeof(c->fp))) {
		X509_free(x);
		snprintf(err, errlen, "%s: no server certificate", who);
		return -1;
	}
	X509_free(x);
	return 0;
}

int setupc_verify_auth(struct setupc *c, const char *who, const char *ip,
		       const char *pin, const char *pin_arg, const char *auth,
		       const char *secret, const struct setupc_ui *ui,
		       char *err, size_t errlen)
{
	char line[SETUP_MAX_LINE];
	int rc;

	if (pin && !setupc_fp_equal(pin, c->fp)) {
		snprintf(err, errlen,
			 "%s: the setup certificate's fingerprint is %s, not "
			 "the %s given: another host answers, or the "
			 "connection is intercepted",
			 who, c->fp, pin);
		return -1;
	}
	if (!pin) {
		ui->say("%s: setup certificate %s", who, c->fp);
		ui->say("  (`cmsd --unconfigured --show-fingerprint` on %s "
			"prints it)",
			ip);
		if (!ui->confirm("Is that the fingerprint the host shows?")) {
			snprintf(err, errlen,
				 "%s: fingerprint not confirmed: pin it with "
				 "--fingerprint %s",
				 who, pin_arg);
			return -1;
		}
	}
	ui->slog("%s: connected, certificate %s", who, c->fp);
	rc = setupc_call(c, auth, secret, strlen(secret), line, sizeof(line),
			 NULL, 0, NULL);
	if (rc < 0) {
		snprintf(err, errlen,
			 "%s: the connection broke during authentication", who);
		return -1;
	}
	if (rc == 1) {
		snprintf(err, errlen, "%s: authentication refused: %s", who,
			 line);
		return -1;
	}
	ui->say("%s: authenticated", who);
	return 0;
}

int setupc_call(struct setupc *c, const char *line, const void *body,
		size_t blen, char *rline, size_t rllen, char *rbody,
		size_t rlen, size_t *rgot)
{
	size_t ll = strlen(line);
	uint32_t n = htonl((uint32_t)(ll + 1 + blen)), rn;
	struct setup_msg m;
	char *buf;
	int rc;

	if (!(buf = malloc(5 + ll + blen)))
		return -ENOMEM;
	memcpy(buf, &n, 4);
	memcpy(buf + 4, line, ll);
	buf[4 + ll] = '\n';
	if (blen)
		memcpy(buf + 5 + ll, body, blen);
	rc = setupc_io(c->ssl, buf, 5 + ll + blen, true);
	/* the body may be a password or a key */
	explicit_bzero(buf, 5 + ll + blen);
	free(buf);
	if (rc || setupc_io(c->ssl, &rn, 4, false))
		return -EIO;
	rn = ntohl(rn);
	if (rn > SETUP_MAX_MSG || !(buf = malloc(rn + 1)))
		return -EIO;
	if (setupc_io(c->ssl, buf, rn, false) || setup_msg_parse(buf, rn, &m)) {
		free(buf);
		return -EIO;
	}
	/* A longer answer line is cut: it is shown, not parsed further. */
	if (snprintf(rline, rllen, "%s",
		     strncmp(m.line, "ERR ", 4) == 0 ? m.line + 4 : m.line) >=
	    (int)rllen)
		rline[rllen - 1] = '\0';
	if (rbody && rlen) {
		size_t k = m.body_len < rlen - 1 ? m.body_len : rlen - 1;
		memcpy(rbody, m.body, k);
		rbody[k] = '\0';
		if (rgot)
			*rgot = k;
	}
	rc = strcmp(m.line, "OK") == 0 ? 0 : 1;
	free(buf);
	return rc;
}

void setupc_close(struct setupc *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

bool setupc_read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (!fgets(buf, (int)len, f))
		return false;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return true;
}

int setupc_prompt_password(const char *what, char *buf, size_t len)
{
	struct termios old, noecho;
	FILE *tty = fopen("/dev/tty", "r+e");
	int rc = 0;

	if (!tty)
		return -ENOTTY;
	if (tcgetattr(fileno(tty), &old) < 0) {
		fclose(tty);
		return -ENOTTY;
	}
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	/* Echo off before the prompt: what is typed after it never shows,
	 * and the flush drops only what was typed before it. */
	tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	fprintf(tty, "%s: ", what);
	fflush(tty);
	if (!setupc_read_line(tty, buf, len))
		rc = -EIO;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fclose(tty);
	return rc;
}

void setupc_vlog(FILE *log, const char *tag, const char *fmt, va_list ap)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;

	if (!log)
		return;
	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(log, "%s %s[%d]: ", ts, tag, (int)getpid());
	vfprintf(log, fmt, ap);
	fputc('\n', log);
	fflush(log);
}

static void setupc_log(FILE *log, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setupc_log(FILE *log, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setupc_vlog(log, tag, fmt, ap);
	va_end(ap);
}

void setupc_vsay(FILE *log, const char *tag, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	printf("%s\n", line);
	fflush(stdout);
	setupc_log(log, tag, "%s", line);
}

int setupc_vfail(FILE *log, const char *tag, const char *failed,
		 const char *stage, const char *log_file, const char *fmt,
		 va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	fflush(stdout);
	fprintf(stderr, "ERROR: %s at stage \"%s\": %s\n", failed, stage, line);
	fprintf(stderr, "ERROR: details in %s\n", log_file);
	setupc_log(log, tag, "ERROR: stage \"%s\": %s", stage, line);
	return 1;
}
