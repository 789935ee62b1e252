/*
 * The frame codec of wire.h.  Every read is bounded by the length the
 * caller gave; nothing here allocates, so the parser can be fuzzed alone.
 */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WIRE_FIELD_HDR 4

enum wire_shape { SHAPE_UNKNOWN, SHAPE_U64, SHAPE_STR };

/* The shape of each known tag; a tag not listed is skipped on decode. */
static const uint8_t wire_shapes[] = {
	[F_NODE] = SHAPE_STR,	  [F_CLUSTER] = SHAPE_STR,
	[F_EPOCH] = SHAPE_U64,	  [F_GENERATION] = SHAPE_U64,
	[F_ROLE] = SHAPE_U64,	  [F_FLAGS] = SHAPE_U64,
	[F_HB_SEQ] = SHAPE_U64,	  [F_REQ_ID] = SHAPE_U64,
	[F_CMD] = SHAPE_U64,	  [F_RC] = SHAPE_U64,
	[F_TEXT] = SHAPE_STR,	  [F_KIND] = SHAPE_U64,
	[F_LEASE_MS] = SHAPE_U64, [F_GRANTED] = SHAPE_U64,
	[F_HOLDER] = SHAPE_STR,	  [F_RETRY_MS] = SHAPE_U64,
	[F_PEER] = SHAPE_STR,	  [F_LAST_MASTER] = SHAPE_STR,
	[F_LAST_GEN] = SHAPE_U64, [F_SUMMARY] = SHAPE_STR,
	[F_TIME_MS] = SHAPE_U64,  [F_ADMIN_SEQ] = SHAPE_U64,
};

static enum wire_shape wire_shape(uint16_t tag)
{
	if (tag >= sizeof(wire_shapes))
		return SHAPE_UNKNOWN;
	return wire_shapes[tag];
}

static uint16_t wire_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t wire_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t wire_rd64(const uint8_t *p)
{
	return (uint64_t)wire_rd32(p) << 32 | wire_rd32(p + 4);
}

static void wire_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wire_wr32(uint8_t *p, uint32_t v)
{
	wire_wr16(p, (uint16_t)(v >> 16));
	wire_wr16(p + 2, (uint16_t)v);
}

static void wire_wr64(uint8_t *p, uint64_t v)
{
	wire_wr32(p, (uint32_t)(v >> 32));
	wire_wr32(p + 4, (uint32_t)v);
}

static bool wire_str_ok(const uint8_t *val, size_t len)
{
	return len <= WIRE_MAX_STR && (len == 0 || !memchr(val, 0, len));
}

void wire_begin(struct wire_buf *b, void *buf, size_t cap, uint8_t type)
{
	b->data = buf;
	b->cap = cap;
	b->len = 0;
	b->overflow = false;
	if (!buf || cap < WIRE_HEADER_LEN) {
		b->overflow = true;
		return;
	}
	b->data[0] = WIRE_MAGIC0;
	b->data[1] = WIRE_MAGIC1;
	b->data[2] = WIRE_VERSION;
	b->data[3] = type;
	wire_wr32(b->data + 4, 0);
	b->len = WIRE_HEADER_LEN;
}

/* A tag put twice would make a frame every reader refuses: the builder
 * fails it here, where the bug is, rather than on the peer. */
static bool wire_built_has(const struct wire_buf *b, uint16_t tag)
{
	size_t pos = WIRE_HEADER_LEN;

	while (pos + WIRE_FIELD_HDR <= b->len) {
		if (wire_rd16(b->data + pos) == tag)
			return true;
		pos += WIRE_FIELD_HDR + wire_rd16(b->data + pos + 2);
	}
	return false;
}

static void wire_put(struct wire_buf *b, uint16_t tag, const void *val,
		     size_t len)
{
	size_t need = WIRE_FIELD_HDR + len;

	if (b->overflow)
		return;
	if (len > UINT16_MAX || need > b->cap - b->len ||
	    b->len - WIRE_HEADER_LEN + need > WIRE_MAX_PAYLOAD ||
	    wire_built_has(b, tag)) {
		b->overflow = true;
		return;
	}
	wire_wr16(b->data + b->len, tag);
	wire_wr16(b->data + b->len + 2, (uint16_t)len);
	if (len)
		memcpy(b->data + b->len + WIRE_FIELD_HDR, val, len);
	b->len += need;
}

void wire_put_u64(struct wire_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t be[8];

	wire_wr64(be, v);
	wire_put(b, tag, be, sizeof(be));
}

void wire_put_str(struct wire_buf *b, uint16_t tag, const char *s)
{
	size_t len;

	if (!s) {
		b->overflow = true;
		return;
	}
	len = strnlen(s, WIRE_MAX_STR + 1);
	if (len > WIRE_MAX_STR) {
		b->overflow = true;
		return;
	}
	wire_put(b, tag, s, len);
}

int wire_end(struct wire_buf *b)
{
	if (b->overflow || !b->data || b->len < WIRE_HEADER_LEN)
		return -EMSGSIZE;
	wire_wr32(b->data + 4, (uint32_t)(b->len - WIRE_HEADER_LEN));
	return (int)b->len;
}

int wire_frame_len(const void *buf, size_t len, uint8_t *version)
{
	const uint8_t *p = buf;
	uint32_t plen;

	/* Each byte of the header is judged as soon as it is there, so a
	 * stream of garbage is refused after its first byte. */
	if (len >= 1 && p[0] != WIRE_MAGIC0)
		return -EPROTO;
	if (len >= 2 && p[1] != WIRE_MAGIC1)
		return -EPROTO;
	if (len >= 3 && p[2] != WIRE_VERSION) {
		if (version)
			*version = p[2];
		return -EPROTONOSUPPORT;
	}
	if (len < WIRE_HEADER_LEN)
		return 0;
	plen = wire_rd32(p + 4);
	if (plen > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len - WIRE_HEADER_LEN < plen)
		return 0;
	return (int)(WIRE_HEADER_LEN + plen);
}

int wire_decode(const void *frame, size_t len, struct wire_msg *out)
{
	const uint8_t *p = frame;
	/* One bit per possible tag, so that a duplicate of a tag this
	 * version does not know is refused as a known one would be: a
	 * frame must not become malformed when its reader learns a tag. */
	uint64_t seen[(UINT16_MAX + 1) / 64];
	size_t pos;

	out->n_fields = 0;
	if (!p || len < WIRE_HEADER_LEN ||
	    len > WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD ||
	    wire_frame_len(p, len, NULL) != (int)len)
		return -EBADMSG;
	out->version = p[2];
	out->type = p[3];
	memset(seen, 0, sizeof(seen));
	pos = WIRE_HEADER_LEN;
	while (pos < len) {
		uint16_t tag, flen;
		const uint8_t *val;

		if (len - pos < WIRE_FIELD_HDR)
			goto bad;
		tag = wire_rd16(p + pos);
		flen = wire_rd16(p + pos + 2);
		val = p + pos + WIRE_FIELD_HDR;
		if (len - pos - WIRE_FIELD_HDR < flen)
			goto bad;
		pos += WIRE_FIELD_HDR + (size_t)flen;
		if (seen[tag / 64] & (UINT64_C(1) << (tag % 64)))
			goto bad;
		seen[tag / 64] |= UINT64_C(1) << (tag % 64);
		switch (wire_shape(tag)) {
		case SHAPE_UNKNOWN:
			continue;
		case SHAPE_U64:
			if (flen != 8)
				goto bad;
			break;
		case SHAPE_STR:
			if (!wire_str_ok(val, flen))
				goto bad;
			break;
		}
		/* Known tags are distinct, so this cannot overflow; the
		 * check keeps it so if the table grows. */
		if (out->n_fields >= WIRE_MAX_FIELDS)
			goto bad;
		out->f[out->n_fields].tag = tag;
		out->f[out->n_fields].len = flen;
		out->f[out->n_fields].val = val;
		out->n_fields++;
	}
	return 0;
bad:
	out->n_fields = 0;
	return -EBADMSG;
}

static const struct wire_field *wire_find(const struct wire_msg *m,
					  uint16_t tag)
{
	size_t n =
		m->n_fields < WIRE_MAX_FIELDS ? m->n_fields : WIRE_MAX_FIELDS;

	for (size_t i = 0; i < n; i++)
		if (m->f[i].tag == tag)
			return &m->f[i];
	return NULL;
}

int wire_get_u64(const struct wire_msg *m, uint16_t tag, uint64_t *out)
{
	const struct wire_field *f = wire_find(m, tag);

	if (!f)
		return -ENOENT;
	if (wire_shape(tag) == SHAPE_STR || f->len != 8 || !f->val)
		return -EBADMSG;
	*out = wire_rd64(f->val);
	return 0;
}

int wire_get_str(const struct wire_msg *m, uint16_t tag, char *out, size_t cap)
{
	const struct wire_field *f = wire_find(m, tag);

	if (!f)
		return -ENOENT;
	if (wire_shape(tag) == SHAPE_U64 || (f->len && !f->val) ||
	    !wire_str_ok(f->val, f->len))
		return -EBADMSG;
	if (!out || cap < (size_t)f->len + 1)
		return -ENAMETOOLONG;
	if (f->len)
		memcpy(out, f->val, f->len);
	out[f->len] = '\0';
	return 0;
}

const char *wire_type_name(uint8_t type)
{
	static _Thread_local char other[16];

	switch (type) {
	case WIRE_T_HELLO:
		return "HELLO";
	case WIRE_T_STATE:
		return "STATE";
	case WIRE_T_CMD:
		return "CMD";
	case WIRE_T_CMD_REPLY:
		return "CMD_REPLY";
	case WIRE_T_VOTE_REQ:
		return "VOTE_REQ";
	case WIRE_T_VOTE_REPLY:
		return "VOTE_REPLY";
	case WIRE_T_ERROR:
		return "ERROR";
	}
	snprintf(other, sizeof(other), "type %u", type);
	return other;
}
