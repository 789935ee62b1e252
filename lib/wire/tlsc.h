/*
 * A framed TLS 1.3 connection over a non-blocking socket, driven by whoever
 * owns the event loop: the agent wraps it in libevent events, the
 * quorum-cmsd plugin in host->watch_* (no libevent type crosses the SDK).
 *
 * Both sides authenticate: the server requires a client certificate, both
 * verify the peer's chain against the cluster CA, and the peer's identity
 * is the certificate's subject CN (the node id, or "arbiter").  TLS 1.3 only.
 *
 * Use:
 *   ctx = tlsc_ctx_new(TLSC_CLIENT, ca, cert, key, err, sizeof(err));
 *   c = tlsc_new(ctx, fd, TLSC_CLIENT, "vms-prod", "arbiter");
 *   on every readiness of fd: mask = tlsc_io(c, readable, writable);
 *     mask < 0: the connection is over (the reason in tlsc_error(c));
 *     else watch fd for mask (TLSC_WANT_READ | TLSC_WANT_WRITE);
 *     then while ((rc = tlsc_recv(c, &msg)) == 1) handle(msg);
 *   tlsc_send(c, frame, len) queues a built frame (see wire.h); call
 *   tlsc_io(c, false, true) or wait for writability to flush it.
 *
 * Errors never abort: garbage, a wrong version, an oversized or malformed
 * frame make tlsc_recv() return a negative errno and the caller closes
 * (after tlsc_send() of a WIRE_T_ERROR frame when it wants to say why).
 */
#ifndef CMSD_TLSC_H
#define CMSD_TLSC_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

typedef struct ssl_ctx_st SSL_CTX;

enum tlsc_side { TLSC_CLIENT, TLSC_SERVER };

#define TLSC_WANT_READ	0x1
#define TLSC_WANT_WRITE 0x2

/*
 * Builds a context: TLS 1.3 only, the CA as the only trust anchor, the
 * certificate and key of this side, peer verification required (server:
 * a client certificate is required too).  NULL and a message naming the
 * file on failure.
 */
SSL_CTX *tlsc_ctx_new(enum tlsc_side side, const char *ca, const char *cert,
		      const char *key, char *err, size_t errlen);
void tlsc_ctx_free(SSL_CTX *ctx);

/*
 * A server serving several clusters selects the context by the client's
 * SNI (the cluster id): pick(sni, arg) returns the context for that name or
 * NULL to refuse the handshake.  Install on the default server context.
 */
void tlsc_ctx_set_sni(SSL_CTX *ctx, SSL_CTX *(*pick)(const char *sni, void *arg),
		      void *arg);

struct tlsc;

/*
 * Wraps a connected (client) or accepted (server) non-blocking socket; the
 * connection owns fd from now on and closes it in tlsc_free().  A client
 * sends `sni` (the cluster id) and, when expect_cn is not NULL, refuses a
 * server whose certificate CN differs.  NULL on out of memory.
 */
struct tlsc *tlsc_new(SSL_CTX *ctx, int fd, enum tlsc_side side,
		      const char *sni, const char *expect_cn);
void tlsc_free(struct tlsc *c);

int tlsc_fd(const struct tlsc *c);

/* Advances the handshake, reads what is available into the receive buffer
 * and writes what is queued.  Returns the readiness to wait for next
 * (possibly 0 when nothing is pending), or a negative errno when the
 * connection failed or was closed by the peer. */
int tlsc_io(struct tlsc *c, bool readable, bool writable);

/* true once the handshake completed and the peer was verified. */
bool tlsc_ready(const struct tlsc *c);

/* The verified peer's certificate CN ("node2", "arbiter"), or NULL before
 * the handshake is done.  For a server: the SNI the client sent, or NULL. */
const char *tlsc_peer_cn(const struct tlsc *c);
const char *tlsc_sni(const struct tlsc *c);

/* Queues one frame built with wire.h (copied).  0, or -ENOBUFS when more
 * than 1 MiB is queued already (the peer does not read: close it). */
int tlsc_send(struct tlsc *c, const void *frame, size_t len);

/*
 * Takes the next complete frame out of the receive buffer.  1 and *out
 * (valid until the next tlsc_recv or tlsc_io), 0 when no complete frame is
 * there, or -EPROTO / -EPROTONOSUPPORT / -EMSGSIZE / -EBADMSG (see
 * wire_frame_len and wire_decode) when the stream is garbage: close it.
 */
int tlsc_recv(struct tlsc *c, struct wire_msg *out);

/* Why the connection failed, in words (certificate, handshake, reset...). */
const char *tlsc_error(const struct tlsc *c);

#endif
