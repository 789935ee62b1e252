/*
 * The control channel to the other node: TCP + TLS 1.3 with mutual
 * certificate authentication (lib/wire/tlsc.h), framed messages
 * (lib/wire/wire.h), on the agent's loop.
 *
 * Both nodes listen on their <control> endpoint; the node whose id sorts
 * lower connects, the other only accepts (so there is one connection),
 * and reconnects with a backoff from 100 ms to 2 s while the peer is away.
 * An accepted connection whose certificate CN is not the peer's node id,
 * whose SNI is not the cluster id, or whose first frame is not a HELLO of
 * this cluster from the peer is closed and logged.  A second connection
 * replaces the first (a restarted peer).
 *
 * The first frame each way is WIRE_T_HELLO (node, cluster, epoch,
 * generation, role, heartbeat seq).  Then frames flow both ways; the owner
 * gets each decoded frame through the callback.  A frame that is garbage,
 * of another version, oversized or malformed closes the connection, is
 * counted and logged (rate-limited), and never stops the daemon.
 */
#ifndef CMSD_AGENT_PEER_H
#define CMSD_AGENT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "wire.h"

struct peer;

struct peer_cb {
	/* The channel is up (HELLO received; `hello` is it) or down
	 * (hello == NULL). */
	void (*link)(const struct wire_msg *hello, void *arg);
	/* A frame after the HELLO. */
	void (*msg)(const struct wire_msg *m, void *arg);
	/* Builds this node's HELLO fields into b (between wire_begin and
	 * wire_end, which peer.c calls). */
	void (*hello)(struct wire_buf *b, void *arg);
	void *arg;
};

struct peer_stats {
	uint64_t connects, disconnects;
	uint64_t frames_in, frames_out;
	uint64_t rejected; /* garbage, bad version, malformed, wrong peer */
	uint64_t handshake_failures;
	char last_error[160];
};

/* Listens and (lower id) connects, as conf says.  0 or -errno with a
 * message naming the endpoint or the file in err. */
int peer_open(const struct conf *conf, const struct peer_cb *cb,
	      struct peer **out, char *err, size_t errlen);
void peer_close(struct peer *p);

bool peer_up(const struct peer *p);

/* Sends a frame built with wire.h.  0, -ENOTCONN when the channel is down,
 * -ENOBUFS when the peer does not read. */
int peer_send(struct peer *p, const void *frame, size_t len);

void peer_get_stats(const struct peer *p, struct peer_stats *out);

#endif
