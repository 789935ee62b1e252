/*
 * Heartbeats: one UDP datagram every interval on each link to the peer,
 * authenticated with HMAC-SHA256 under the cluster key.
 *
 * A datagram (big-endian):
 *   0   4  magic "CMHB"
 *   4   1  version (HB_VERSION)
 *   5   1  link index the sender sent it on
 *   6   1  role (enum fsm_role)
 *   7   1  flags (WIRE_FL_* of wire.h)
 *   8  32  cluster id, NUL padded
 *  40  32  sender node id, NUL padded
 *  72   8  epoch
 *  80   8  sequence number (one counter per sender, over all links)
 *  88   8  per-link sequence number (loss counting)
 *  96   8  data generation
 * 104  16  HMAC-SHA256 of bytes 0..103 under the key, truncated to 16
 * = 120 bytes.
 *
 * The sequence number starts at the sender's CLOCK_REALTIME in
 * microseconds when it starts and grows by one per datagram, so a restarted
 * sender goes on above its old numbers.  The receiver keeps the highest
 * number seen and a 64-wide window below it (IPsec style): a number seen
 * before is a replay, one below the window is stale; both are dropped and
 * counted.  The control channel's HELLO can reset the window
 * (hb_peer_reset) when a peer's clock went backwards.
 */
#ifndef CMSD_AGENT_HB_H
#define CMSD_AGENT_HB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define HB_VERSION    1
#define HB_PACKET_LEN 120
#define HB_MAC_LEN    16
#define HB_ID_LEN     32 /* ids longer than 31 bytes are refused at open */
#define HB_KEY_MIN    32 /* bytes of key material at least */
#define HB_KEY_MAX    1024

/* What a heartbeat says. */
struct hb_msg {
	uint8_t link;
	uint8_t role;
	uint8_t flags;
	char cluster[HB_ID_LEN];
	char sender[HB_ID_LEN];
	uint64_t epoch;
	uint64_t seq;
	uint64_t link_seq;
	uint64_t generation;
};

/* Pure codec.  hb_encode writes HB_PACKET_LEN bytes.  hb_decode returns 0,
 * -EBADMSG (wrong length, magic or an id without NUL), -EPROTONOSUPPORT
 * (another version) or -EPERM (the MAC does not match). */
void hb_encode(const struct hb_msg *m, const uint8_t *key, size_t keylen,
	       uint8_t out[HB_PACKET_LEN]);
int hb_decode(const uint8_t *buf, size_t len, const uint8_t *key,
	      size_t keylen, struct hb_msg *out);

/* The replay window (pure).  hb_window_accept returns 0 and records seq,
 * -EALREADY for a number already seen, -ESTALE for one below the window. */
struct hb_window {
	uint64_t top;	 /* highest accepted; 0: nothing yet */
	uint64_t bitmap; /* bit i: top - i was seen */
};
int hb_window_accept(struct hb_window *w, uint64_t seq);

/* Per-link counters, for status --json. */
struct hb_link_stats {
	char local[64], remote[64]; /* "addr:port" */
	uint64_t sent, send_errors;
	uint64_t received;	      /* accepted from the peer */
	uint64_t lost;		      /* gaps in the peer's per-link seq */
	uint64_t bad_mac, replayed, stale, malformed, wrong_sender;
	uint64_t last_rx_ms;	      /* loop_now_ms() of the last accepted; 0 */
	bool up;		      /* received within the deadtime */
};

struct hb;

/* Called on the loop for every accepted heartbeat. */
typedef void (*hb_recv_fn)(const struct hb_msg *m, void *arg);

/*
 * Opens one UDP socket per link of the local node (bound to the link's
 * address and port; link i talks to the peer's link i), on the loop.  The
 * key is copied.  0, or -errno with a message naming the link in err.
 */
int hb_open(const struct conf *conf, const uint8_t *key, size_t keylen,
	    hb_recv_fn cb, void *arg, struct hb **out, char *err,
	    size_t errlen);
void hb_close(struct hb *hb);

/* Sends one heartbeat on every link now, with these contents (sender,
 * cluster, seq and link fields are filled in). */
void hb_send(struct hb *hb, const struct hb_msg *m);

/* Forgets the peer's replay window (new peer incarnation proven over TLS):
 * the next accepted number must be above `seq_floor`. */
void hb_peer_reset(struct hb *hb, uint64_t seq_floor);

/* Copies up to n link counters; returns the number of links. */
size_t hb_stats(const struct hb *hb, struct hb_link_stats *out, size_t n);

/* Reads a key file: regular file, not readable by group/other (-EACCES
 * otherwise, with a message), HB_KEY_MIN..HB_KEY_MAX bytes.  0 or -errno
 * with a message naming the file (never its contents). */
int hb_key_load(const char *path, uint8_t *key, size_t *keylen, char *err,
		size_t errlen);

#endif
