/*
 * The framed message format of cmsd's TCP channels (node <-> node control
 * channel, node <-> arbiter), shared by the agent and the quorum-cmsd
 * plugin.  Pure code: no I/O, no clock, no allocation beyond the caller's
 * buffers, so the parser can be unit-tested and fuzzed on its own.
 *
 * A frame on the wire (all integers big-endian):
 *
 *   0   2  magic "CM"
 *   2   1  version (WIRE_VERSION)
 *   3   1  type (enum wire_type)
 *   4   4  payload length (<= WIRE_MAX_PAYLOAD)
 *   8   n  payload: a sequence of fields
 *
 * A field:  tag u16, length u16, value.  Integers are stored as 8-byte
 * big-endian values, strings without a terminating NUL (at most
 * WIRE_MAX_STR bytes, no NUL byte inside).  Unknown tags are skipped, so a
 * newer peer may add fields; a frame whose fields overrun the payload, a
 * duplicate tag, an integer field of another length, or a string with a NUL
 * is malformed.
 *
 * The version is checked before anything else: a frame of another version
 * makes the reader answer WIRE_T_ERROR and close.
 */
#ifndef CMSD_WIRE_H
#define CMSD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC0	 'C'
#define WIRE_MAGIC1	 'M'
#define WIRE_VERSION	 1
#define WIRE_HEADER_LEN	 8
#define WIRE_MAX_PAYLOAD 16384
#define WIRE_MAX_FIELDS	 64
#define WIRE_MAX_STR	 1024

enum wire_type {
	/* node <-> node control channel */
	WIRE_T_HELLO = 1,     /* first frame each way after the handshake */
	WIRE_T_STATE = 2,     /* the sender's role and facts, on change */
	WIRE_T_CMD = 3,	      /* a command for the peer (switchover...) */
	WIRE_T_CMD_REPLY = 4, /* the answer to WIRE_T_CMD */
	/* node <-> arbiter */
	WIRE_T_VOTE_REQ = 10,	/* request, renew or release (F_KIND) */
	WIRE_T_VOTE_REPLY = 11, /* the arbiter's answer */
	/* either */
	WIRE_T_ERROR = 20, /* F_TEXT says why; the sender closes next */
};

/* Field tags.  One namespace for all types; a type uses the ones it needs
 * (the comment says which). */
enum wire_tag {
	F_NODE = 1,	   /* str: sender's node id (all) */
	F_CLUSTER = 2,	   /* str: cluster id (HELLO, VOTE_REQ) */
	F_EPOCH = 3,	   /* u64 (HELLO, STATE, VOTE_*) */
	F_GENERATION = 4,  /* u64: data generation (HELLO, STATE, VOTE_REQ) */
	F_ROLE = 5,	   /* u64: enum fsm_role (HELLO, STATE) */
	F_FLAGS = 6,	   /* u64: WIRE_FL_* (STATE, VOTE_REQ) */
	F_HB_SEQ = 7,	   /* u64: the sender's current heartbeat seq (HELLO) */
	F_REQ_ID = 8,	   /* u64: matches a reply to its request */
	F_CMD = 9,	   /* u64: enum wire_cmd (CMD) */
	F_RC = 10,	   /* u64: 0 or errno (CMD_REPLY) */
	F_TEXT = 11,	   /* str: reason or message (CMD_REPLY, ERROR, ...) */
	F_KIND = 12,	   /* u64: enum wire_vote_kind (VOTE_REQ) */
	F_LEASE_MS = 13,   /* u64: lease asked for / granted (VOTE_*) */
	F_GRANTED = 14,	   /* u64: 0/1 (VOTE_REPLY) */
	F_HOLDER = 15,	   /* str: node the arbiter holds as master */
	F_RETRY_MS = 16,   /* u64: ask again after this long (VOTE_REPLY) */
	F_PEER = 17,	   /* str: the other node's id (VOTE_REQ) */
	F_LAST_MASTER = 18, /* str: last master the arbiter granted */
	F_LAST_GEN = 19,   /* u64: its data generation */
	F_SUMMARY = 20,	   /* str: free-text group summary (STATE) */
	F_TIME_MS = 21,	   /* u64: sender's clock, for diagnostics only */
	F_ADMIN_SEQ = 22,  /* u64: the operator switches' sequence number
			      (CMD stop/start/maintenance, STATE): the
			      higher one wins, so that a node that was away
			      catches up (agent/admin.h) */
};

/* WIRE_T_STATE / VOTE_REQ flags. */
#define WIRE_FL_DATA_USABLE 0x01 /* local data may be promoted */
#define WIRE_FL_PEER_ALIVE  0x02 /* sender receives the other's heartbeats */
#define WIRE_FL_ACK_MASTER  0x04 /* sender accepts the receiver as master */
#define WIRE_FL_QUORUM_OK   0x08 /* sender reaches its quorum (arbiter/ping) */
#define WIRE_FL_STOPPED	    0x10 /* HA stopped by the operator (cmsadm stop) */
#define WIRE_FL_UNMANAGED   0x20 /* maintenance on: failures not acted on */

enum wire_cmd {
	WIRE_CMD_HANDOVER = 1,	 /* "take over now": sent by a stepping-down
				    master that released its lease */
	WIRE_CMD_SWITCHOVER = 2, /* "please step down for me" (cmsadm on the
				    slave) */
	/* The operator's switches, set on both nodes (F_ADMIN_SEQ). */
	WIRE_CMD_STOP = 3,	      /* cmsadm stop: HA stopped on the pair */
	WIRE_CMD_START = 4,	      /* cmsadm start */
	WIRE_CMD_MAINTENANCE_ON = 5,  /* cmsadm maintenance on */
	WIRE_CMD_MAINTENANCE_OFF = 6, /* cmsadm maintenance off */
	/* cmsadm sync-partition (agent/syncpart.h), each answered with a
	 * WIRE_T_CMD_REPLY of the same F_REQ_ID (F_RC, F_TEXT), but
	 * RESTART, which has no answer: */
	WIRE_CMD_SYNCPART_FACTS = 7,   /* F_TEXT the disk: its size, mounts,
					  and the compute-host hook's
					  verdict (F_TEXT of the reply) */
	WIRE_CMD_SYNCPART_WRITE = 8,   /* F_TEXT "add DISK MOUNT MINOR PORT"
					  or "remove": edit the config */
	WIRE_CMD_SYNCPART_RESTART = 9, /* exec the agent again */
};

enum wire_vote_kind {
	WIRE_VOTE_REQUEST = 1, /* may I become master? */
	WIRE_VOTE_RENEW = 2,   /* extend my lease */
	WIRE_VOTE_RELEASE = 3, /* I step down: drop my lease now */
	WIRE_VOTE_QUERY = 4,   /* read-only: what do you hold? (an idle node
				  checks once a lease that it reaches the
				  arbiter; changes nothing) */
};

/* A decoded field. */
struct wire_field {
	uint16_t tag;
	uint16_t len;
	const uint8_t *val; /* points into the frame */
};

/* A decoded frame; fields point into the caller's buffer. */
struct wire_msg {
	uint8_t version;
	uint8_t type;
	size_t n_fields;
	struct wire_field f[WIRE_MAX_FIELDS];
};

/* A frame being built in a caller-provided buffer. */
struct wire_buf {
	uint8_t *data;
	size_t cap;
	size_t len;
	bool overflow; /* a put did not fit: wire_end() fails */
};

/* Building: begin, put fields, end.  The puts never fail on their own;
 * wire_end() returns the frame length or -EMSGSIZE when anything did not
 * fit (or a string was longer than WIRE_MAX_STR or held a NUL). */
void wire_begin(struct wire_buf *b, void *buf, size_t cap, uint8_t type);
void wire_put_u64(struct wire_buf *b, uint16_t tag, uint64_t v);
void wire_put_str(struct wire_buf *b, uint16_t tag, const char *s);
int wire_end(struct wire_buf *b);

/*
 * Looks at the first `len` bytes of a stream.  Returns the whole frame's
 * length when a complete frame is there, 0 when more bytes are needed, or
 * -EPROTO (bad magic), -EPROTONOSUPPORT (another version: *version is set
 * when non-NULL) or -EMSGSIZE (payload length over WIRE_MAX_PAYLOAD) as soon
 * as the header shows it.
 */
int wire_frame_len(const void *buf, size_t len, uint8_t *version);

/* Decodes one complete frame (as measured by wire_frame_len).  0, or
 * -EBADMSG when the fields are malformed (see the header comment). */
int wire_decode(const void *frame, size_t len, struct wire_msg *out);

/* Field access.  Return 0, -ENOENT when the tag is absent, -EBADMSG when it
 * has the wrong shape.  wire_get_str copies into out (cap bytes with the
 * NUL) and returns -ENAMETOOLONG when it does not fit. */
int wire_get_u64(const struct wire_msg *m, uint16_t tag, uint64_t *out);
int wire_get_str(const struct wire_msg *m, uint16_t tag, char *out,
		 size_t cap);

const char *wire_type_name(uint8_t type); /* "HELLO", ..., "type 77" */

#endif
