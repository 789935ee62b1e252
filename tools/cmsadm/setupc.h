/*
 * The client side of the setup channel (agent/setupproto.h) that `cmsadm
 * setup` and `cmsadm recover` open to an unconfigured agent: TCP with
 * deadlines, TLS 1.3 to its self-signed setup certificate, the certificate
 * checked against a pinned fingerprint or confirmed by the operator, then
 * one request after the other.  One copy, so that the two commands check
 * the certificate and frame the messages the same way.
 *
 * Failures are written into err as the whole reason, ready for the
 * command's own "ERROR: ... failed at stage" line; `who` names the agent in
 * them ("node2 (10.0.0.2)", "peer 10.0.0.2").
 */
#ifndef CMSD_CMSADM_SETUPC_H
#define CMSD_CMSADM_SETUPC_H

#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct setupc {
	SSL *ssl;
	int fd;	      /* -1 when not connected */
	char fp[128]; /* the agent's setup certificate, "SHA256:..." */
};

/* What the command shows and asks while the channel is opened. */
struct setupc_ui {
	void (*say)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	void (*slog)(const char *fmt, ...)
		__attribute__((format(printf, 1, 2)));
	/* yes/no of the operator; false when nobody can answer */
	bool (*confirm)(const char *question);
};

/* A TLS 1.3 client context that does not verify a chain: the setup
 * certificates are self-signed and the pinned fingerprint is the check. */
SSL_CTX *setupc_ctx_new(void);

/* Connects to ip:port (5 s) and does the TLS handshake; c->fp is the
 * agent's certificate.  0, or -1 with the reason in err. */
int setupc_connect(struct setupc *c, SSL_CTX *ctx, const char *who,
		   const char *ip, unsigned port, char *err, size_t errlen);

/* Checks c->fp against pin (NULL: shows it and asks ui->confirm; refused,
 * the reason says "pin it with --fingerprint PIN_ARG"), then sends `auth`
 * ("AUTH root", "AUTH token") with the secret.  0, or -1 with the reason
 * in err. */
int setupc_verify_auth(struct setupc *c, const char *who, const char *ip,
		       const char *pin, const char *pin_arg, const char *auth,
		       const char *secret, const struct setupc_ui *ui,
		       char *err, size_t errlen);

/*
 * One request: `line` and an optional body; the reply line into rline and
 * its body into rbody (NUL-terminated, truncated to rlen - 1, its length in
 * *rgot when rgot is not NULL).  0 for OK, 1 for ERR (the reason in rline
 * after "ERR "), -EIO when the channel broke.
 */
int setupc_call(struct setupc *c, const char *line, const void *body,
		size_t blen, char *rline, size_t rllen, char *rbody,
		size_t rlen, size_t *rgot);

/* Closes the channel; again is harmless. */
void setupc_close(struct setupc *c);

/* The command's output.  A log line is "DATE TIME TAG[PID]: TEXT" in log
 * (none when log is NULL), flushed at once: it is what is left to read
 * when the command failed. */
void setupc_vlog(FILE *log, const char *tag, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* What the operator reads on stdout, and the same line in the log. */
void setupc_vsay(FILE *log, const char *tag, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* "ERROR: FAILED at stage "STAGE": TEXT" and where the details are, on
 * stderr after what stdout holds; the log gets the line too.  Returns 1,
 * the commands' exit code. */
int setupc_vfail(FILE *log, const char *tag, const char *failed,
		 const char *stage, const char *log_file, const char *fmt,
		 va_list ap) __attribute__((format(printf, 6, 0)));

/* One line from f into buf without its newline; false at EOF. */
bool setupc_read_line(FILE *f, char *buf, size_t len);

/* A password (the secret for AUTH) at the terminal without echo: "WHAT: ".
 * 0, -ENOTTY without a terminal, -EIO at its end of file. */
int setupc_prompt_password(const char *what, char *buf, size_t len);

#endif
