/* The frame codec: every type round-trips with every field; each malformed
 * case and each getter error gives its documented code; a fixed-seed
 * mutation fuzz finds no crash, no overread and no undocumented error. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"
#include "wire.h"

#define FRAME_MAX (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)

static const uint8_t all_types[] = {
	WIRE_T_HELLO,	 WIRE_T_STATE,	    WIRE_T_CMD,	  WIRE_T_CMD_REPLY,
	WIRE_T_VOTE_REQ, WIRE_T_VOTE_REPLY, WIRE_T_ERROR,
};

static const uint16_t u64_tags[] = {
	F_EPOCH,   F_GENERATION, F_ROLE,     F_FLAGS,	F_HB_SEQ,
	F_REQ_ID,  F_CMD,	 F_RC,	     F_KIND,	F_LEASE_MS,
	F_GRANTED, F_RETRY_MS,	 F_LAST_GEN, F_TIME_MS, F_ADMIN_SEQ,
};
static const uint16_t str_tags[] = {
	F_NODE, F_CLUSTER, F_TEXT, F_HOLDER, F_PEER, F_LAST_MASTER, F_SUMMARY,
};
#define N_U64 (sizeof(u64_tags) / sizeof(u64_tags[0]))
#define N_STR (sizeof(str_tags) / sizeof(str_tags[0]))

static uint64_t u64_val(size_t i)
{
	/* Values that use every byte, the edges, and small numbers. */
	static const uint64_t v[] = {0,
				     1,
				     UINT64_MAX,
				     0x0102030405060708ull,
				     0x8000000000000000ull,
				     255,
				     256,
				     0xfffffffful,
				     0x100000000ull,
				     42,
				     7,
				     0xdeadbeefcafebabeull,
				     1000,
				     123456789012345ull};
	return v[i % (sizeof(v) / sizeof(v[0]))];
}

static void str_val(size_t i, char *out, size_t cap)
{
	static const char *const v[] = {"node1",     "vms-prod",
					"",	     "arbiter",
					"node2",     "node-with-a-longer-name",
					"ünïcode ok"};
	snprintf(out, cap, "%s", v[i % (sizeof(v) / sizeof(v[0]))]);
}

/* Appends a raw field (no checks: for building malformed frames). */
static size_t raw_field(uint8_t *p, size_t pos, uint16_t tag, uint16_t len,
			const void *val)
{
	p[pos] = (uint8_t)(tag >> 8);
	p[pos + 1] = (uint8_t)tag;
	p[pos + 2] = (uint8_t)(len >> 8);
	p[pos + 3] = (uint8_t)len;
	if (len)
		memcpy(p + pos + 4, val, len);
	return pos + 4 + len;
}

static size_t raw_header(uint8_t *p, uint8_t version, uint8_t type,
			 uint32_t plen)
{
	p[0] = 'C';
	p[1] = 'M';
	p[2] = version;
	p[3] = type;
	p[4] = (uint8_t)(plen >> 24);
	p[5] = (uint8_t)(plen >> 16);
	p[6] = (uint8_t)(plen >> 8);
	p[7] = (uint8_t)plen;
	return WIRE_HEADER_LEN;
}

/* Sets the payload length from the bytes written. */
static size_t raw_close(uint8_t *p, size_t end)
{
	raw_header(p, p[2], p[3], (uint32_t)(end - WIRE_HEADER_LEN));
	return end;
}

/* Decodes p[0..len) from an exact-size heap copy (so ASan sees any read
 * past the end). */
static int decode_exact(const uint8_t *p, size_t len, struct wire_msg *m)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, len);
	rc = wire_decode(copy, len, m);
	free(copy);
	return rc;
}

START_TEST(round_trip_every_type_every_field)
{
	for (size_t t = 0; t < sizeof(all_types); t++) {
		uint8_t buf[FRAME_MAX];
		struct wire_buf b;
		struct wire_msg m;
		char s[WIRE_MAX_STR + 1], want[64];
		uint64_t v;
		int len;

		wire_begin(&b, buf, sizeof(buf), all_types[t]);
		for (size_t i = 0; i < N_U64; i++)
			wire_put_u64(&b, u64_tags[i], u64_val(i + t));
		for (size_t i = 0; i < N_STR; i++) {
			str_val(i + t, s, sizeof(s));
			wire_put_str(&b, str_tags[i], s);
		}
		len = wire_end(&b);
		ck_assert_int_gt(len, WIRE_HEADER_LEN);
		ck_assert_int_eq(wire_frame_len(buf, (size_t)len, NULL), len);
		/* decode_exact frees its copy: the fields are read from a
		 * decode in place. */
		ck_assert_int_eq(decode_exact(buf, (size_t)len, &m), 0);
		ck_assert_int_eq(wire_decode(buf, (size_t)len, &m), 0);
		ck_assert_uint_eq(m.version, WIRE_VERSION);
		ck_assert_uint_eq(m.type, all_types[t]);
		ck_assert_uint_eq(m.n_fields, N_U64 + N_STR);
		for (size_t i = 0; i < N_U64; i++) {
			ck_assert_int_eq(wire_get_u64(&m, u64_tags[i], &v), 0);
			ck_assert_uint_eq(v, u64_val(i + t));
		}
		for (size_t i = 0; i < N_STR; i++) {
			str_val(i + t, want, sizeof(want));
			ck_assert_int_eq(
				wire_get_str(&m, str_tags[i], s, sizeof(s)), 0);
			ck_assert_str_eq(s, want);
		}
	}
}
END_TEST

START_TEST(round_trip_header_bytes)
{
	uint8_t buf[64];
	struct wire_buf b;
	int len;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_STATE);
	wire_put_u64(&b, F_EPOCH, 0x0102030405060708ull);
	len = wire_end(&b);
	ck_assert_int_eq(len, WIRE_HEADER_LEN + 4 + 8);
	static const uint8_t want[] = {'C', 'M', 1, 2, 0, 0, 0, 12, 0, 3,
				       0,   8,	 1, 2, 3, 4, 5, 6,  7, 8};
	ck_assert_mem_eq(buf, want, sizeof(want));

	/* An empty frame is valid. */
	wire_begin(&b, buf, sizeof(buf), WIRE_T_HELLO);
	ck_assert_int_eq(wire_end(&b), WIRE_HEADER_LEN);
	struct wire_msg m;
	ck_assert_int_eq(wire_decode(buf, WIRE_HEADER_LEN, &m), 0);
	ck_assert_uint_eq(m.n_fields, 0);

	/* The largest string and the largest payload fit exactly. */
	static uint8_t big[FRAME_MAX + 16];
	char s[WIRE_MAX_STR + 1];
	memset(s, 'x', WIRE_MAX_STR);
	s[WIRE_MAX_STR] = '\0';
	wire_begin(&b, big, sizeof(big), WIRE_T_STATE);
	wire_put_str(&b, F_TEXT, s);
	len = wire_end(&b);
	ck_assert_int_eq(len, WIRE_HEADER_LEN + 4 + WIRE_MAX_STR);
	ck_assert_int_eq(wire_decode(big, (size_t)len, &m), 0);
	char out[WIRE_MAX_STR + 1];
	ck_assert_int_eq(wire_get_str(&m, F_TEXT, out, sizeof(out)), 0);
	ck_assert_str_eq(out, s);

	/* Unknown tags fill the payload to exactly WIRE_MAX_PAYLOAD. */
	wire_begin(&b, big, sizeof(big), WIRE_T_STATE);
	size_t left = WIRE_MAX_PAYLOAD;
	uint16_t tag = 1000;
	while (left >= 4 + WIRE_MAX_STR) {
		wire_put_str(&b, tag++, s);
		left -= 4 + WIRE_MAX_STR;
	}
	ck_assert_uint_ge(left, 4);
	s[left - 4] = '\0';
	wire_put_str(&b, tag++, s);
	len = wire_end(&b);
	ck_assert_int_eq(len, FRAME_MAX);
	ck_assert_int_eq(wire_frame_len(big, (size_t)len, NULL), FRAME_MAX);
	ck_assert_int_eq(wire_decode(big, (size_t)len, &m), 0);
	/* Unknown tags are skipped. */
	ck_assert_uint_eq(m.n_fields, 0);
	ck_assert_int_eq(wire_get_str(&m, 1000, out, sizeof(out)), -ENOENT);
}
END_TEST

START_TEST(builder_limits)
{
	uint8_t buf[FRAME_MAX + 64];
	struct wire_buf b;
	char s[WIRE_MAX_STR + 2];

	/* A string over WIRE_MAX_STR. */
	memset(s, 'y', WIRE_MAX_STR + 1);
	s[WIRE_MAX_STR + 1] = '\0';
	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD);
	wire_put_str(&b, F_TEXT, s);
	ck_assert(b.overflow);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);

	/* A NULL string. */
	wire_begin(&b, buf, sizeof(buf), WIRE_T_CMD);
	wire_put_str(&b, F_TEXT, NULL);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);

	/* The buffer is too small for the header, or for a field. */
	wire_begin(&b, buf, WIRE_HEADER_LEN - 1, WIRE_T_CMD);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);
	wire_begin(&b, buf, WIRE_HEADER_LEN + 11, WIRE_T_CMD);
	wire_put_u64(&b, F_CMD, 1);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);
	wire_begin(&b, buf, WIRE_HEADER_LEN + 12, WIRE_T_CMD);
	wire_put_u64(&b, F_CMD, 1);
	ck_assert_int_eq(wire_end(&b), WIRE_HEADER_LEN + 12);

	/* More than WIRE_MAX_PAYLOAD, even though the buffer is larger. */
	memset(s, 'z', WIRE_MAX_STR);
	s[WIRE_MAX_STR] = '\0';
	wire_begin(&b, buf, sizeof(buf), WIRE_T_STATE);
	for (uint16_t t = 100; t < 100 + 17; t++)
		wire_put_str(&b, t, s);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);

	/* A tag put twice would be refused by every reader. */
	wire_begin(&b, buf, sizeof(buf), WIRE_T_HELLO);
	wire_put_str(&b, F_NODE, "node1");
	wire_put_u64(&b, F_EPOCH, 1);
	wire_put_str(&b, F_NODE, "node2");
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);

	/* Once overflowed, later puts do not write. */
	wire_begin(&b, buf, WIRE_HEADER_LEN + 4, WIRE_T_HELLO);
	wire_put_u64(&b, F_EPOCH, 1);
	wire_put_str(&b, F_NODE, "");
	ck_assert_uint_eq(b.len, WIRE_HEADER_LEN);
	ck_assert_int_eq(wire_end(&b), -EMSGSIZE);
}
END_TEST

START_TEST(frame_len_header)
{
	uint8_t buf[FRAME_MAX];
	struct wire_buf b;
	uint8_t ver = 0;
	int len;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_HELLO);
	wire_put_str(&b, F_NODE, "node1");
	wire_put_u64(&b, F_EPOCH, 9);
	len = wire_end(&b);
	ck_assert_int_gt(len, 0);
	/* Every prefix needs more, the whole frame is measured, and bytes
	 * after it (the next frame) do not change the answer. */
	for (int i = 0; i < len; i++)
		ck_assert_int_eq(wire_frame_len(buf, (size_t)i, NULL), 0);
	ck_assert_int_eq(wire_frame_len(buf, (size_t)len, NULL), len);
	ck_assert_int_eq(wire_frame_len(buf, (size_t)len + 5, NULL), len);

	/* Bad magic, seen from the first byte. */
	uint8_t g[8] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
	ck_assert_int_eq(wire_frame_len(g, 1, NULL), -EPROTO);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), -EPROTO);
	g[0] = 'C';
	ck_assert_int_eq(wire_frame_len(g, 1, NULL), 0);
	ck_assert_int_eq(wire_frame_len(g, 2, NULL), -EPROTO);
	/* TLS records and an SSH banner are not frames either. */
	static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x00, 0xc8};
	ck_assert_int_eq(wire_frame_len(tls, sizeof(tls), NULL), -EPROTO);

	/* Another version, seen from the third byte, reported. */
	raw_header(g, 2, WIRE_T_HELLO, 0);
	ck_assert_int_eq(wire_frame_len(g, 2, &ver), 0);
	ck_assert_int_eq(wire_frame_len(g, 3, &ver), -EPROTONOSUPPORT);
	ck_assert_uint_eq(ver, 2);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), -EPROTONOSUPPORT);
	raw_header(g, 0, WIRE_T_HELLO, 0);
	ck_assert_int_eq(wire_frame_len(g, 8, &ver), -EPROTONOSUPPORT);
	ck_assert_uint_eq(ver, 0);
	/* The version wins over a bad length. */
	raw_header(g, 255, WIRE_T_HELLO, UINT32_MAX);
	ck_assert_int_eq(wire_frame_len(g, 8, &ver), -EPROTONOSUPPORT);
	ck_assert_uint_eq(ver, 255);

	/* Sizes: the largest is accepted (and needs all its bytes), one more
	 * is refused from the header alone. */
	raw_header(g, WIRE_VERSION, WIRE_T_STATE, WIRE_MAX_PAYLOAD);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), 0);
	raw_header(g, WIRE_VERSION, WIRE_T_STATE, WIRE_MAX_PAYLOAD + 1);
	ck_assert_int_eq(wire_frame_len(g, 7, NULL), 0);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), -EMSGSIZE);
	raw_header(g, WIRE_VERSION, WIRE_T_STATE, UINT32_MAX);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), -EMSGSIZE);
	raw_header(g, WIRE_VERSION, WIRE_T_STATE, 0x80000000u);
	ck_assert_int_eq(wire_frame_len(g, 8, NULL), -EMSGSIZE);

	/* Nothing at all. */
	ck_assert_int_eq(wire_frame_len(g, 0, NULL), 0);
}
END_TEST

START_TEST(decode_malformed)
{
	uint8_t p[256];
	struct wire_msg m;
	size_t n;
	uint8_t v8[8] = {0, 0, 0, 0, 0, 0, 0, 1};

	/* A field header cut short by the payload end. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
	n = raw_field(p, n, F_EPOCH, 8, v8);
	p[n++] = 0;
	p[n++] = 3;
	p[n++] = 0;
	n = raw_close(p, n);
	ck_assert_int_eq(wire_frame_len(p, n, NULL), (int)n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	ck_assert_uint_eq(m.n_fields, 0);

	/* A field longer than what is left of the payload. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
	n = raw_field(p, n, F_TEXT, 5, "hello");
	p[n - 6] = 9; /* length 9, 5 bytes there */
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	/* ... also for an unknown tag, which is otherwise skipped. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
	n = raw_field(p, n, 999, 2, "ab");
	p[n - 3] = 3;
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);

	/* Duplicate tags: known, and unknown. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_HELLO, 0);
	n = raw_field(p, n, F_NODE, 5, "node1");
	n = raw_field(p, n, F_EPOCH, 8, v8);
	n = raw_field(p, n, F_NODE, 5, "node2");
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	n = raw_header(p, WIRE_VERSION, WIRE_T_HELLO, 0);
	n = raw_field(p, n, 4242, 1, "a");
	n = raw_field(p, n, 4242, 1, "b");
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);

	/* Integers of another length. */
	for (uint16_t len = 0; len <= 16; len++) {
		uint8_t z[16] = {0};
		if (len == 8)
			continue;
		n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
		n = raw_field(p, n, F_GENERATION, len, z);
		n = raw_close(p, n);
		ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	}

	/* A string with a NUL inside, or at its end. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_HELLO, 0);
	n = raw_field(p, n, F_NODE, 5, "no\0de");
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	n = raw_header(p, WIRE_VERSION, WIRE_T_HELLO, 0);
	n = raw_field(p, n, F_CLUSTER, 4, "vms\0");
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);

	/* A string over WIRE_MAX_STR. */
	static uint8_t big[WIRE_HEADER_LEN + 4 + WIRE_MAX_STR + 1];
	char s[WIRE_MAX_STR + 1];
	memset(s, 's', sizeof(s));
	n = raw_header(big, WIRE_VERSION, WIRE_T_CMD_REPLY, 0);
	n = raw_field(big, n, F_TEXT, WIRE_MAX_STR + 1, s);
	n = raw_close(big, n);
	ck_assert_int_eq(decode_exact(big, n, &m), -EBADMSG);
	/* ... an unknown tag may be longer (a newer peer's business). */
	big[WIRE_HEADER_LEN + 1] = 200;
	ck_assert_int_eq(decode_exact(big, n, &m), 0);

	/* The length given is not the frame's: short, long, or the header
	 * is bad. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
	n = raw_field(p, n, F_EPOCH, 8, v8);
	n = raw_close(p, n);
	ck_assert_int_eq(decode_exact(p, n, &m), 0);
	ck_assert_int_eq(decode_exact(p, n - 1, &m), -EBADMSG);
	ck_assert_int_eq(decode_exact(p, n + 1, &m), -EBADMSG);
	ck_assert_int_eq(decode_exact(p, 0, &m), -EBADMSG);
	ck_assert_int_eq(decode_exact(p, 3, &m), -EBADMSG);
	p[2] = 2;
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	p[2] = WIRE_VERSION;
	p[0] = 'X';
	ck_assert_int_eq(decode_exact(p, n, &m), -EBADMSG);
	ck_assert_int_eq(wire_decode(NULL, 8, &m), -EBADMSG);
}
END_TEST

START_TEST(decode_skips_unknown)
{
	uint8_t p[256];
	struct wire_msg m;
	size_t n;
	uint8_t v8[8] = {0, 0, 0, 0, 0, 0, 0, 7};
	char s[16];
	uint64_t v;

	/* A newer peer's fields around ours, of any length, tag 0 too. */
	n = raw_header(p, WIRE_VERSION, WIRE_T_STATE, 0);
	n = raw_field(p, n, 0, 3, "abc");
	n = raw_field(p, n, F_ROLE, 8, v8);
	n = raw_field(p, n, 999, 0, NULL);
	n = raw_field(p, n, 0xffff, 9, "a\0b\0c\0d\0e");
	n = raw_field(p, n, F_NODE, 0, NULL);
	n = raw_close(p, n);
	ck_assert_int_eq(wire_decode(p, n, &m), 0);
	ck_assert_uint_eq(m.n_fields, 2);
	ck_assert_int_eq(wire_get_u64(&m, F_ROLE, &v), 0);
	ck_assert_uint_eq(v, 7);
	/* An empty string is a string. */
	ck_assert_int_eq(wire_get_str(&m, F_NODE, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(wire_get_u64(&m, 0xffff, &v), -ENOENT);
	ck_assert_int_eq(wire_get_u64(&m, 0, &v), -ENOENT);
	/* Any type number decodes; the reader decides what it accepts. */
	p[3] = 77;
	ck_assert_int_eq(wire_decode(p, n, &m), 0);
	ck_assert_uint_eq(m.type, 77);
}
END_TEST

START_TEST(getters)
{
	uint8_t buf[256];
	struct wire_buf b;
	struct wire_msg m;
	char s[16];
	uint64_t v = 12345;
	int len;

	wire_begin(&b, buf, sizeof(buf), WIRE_T_HELLO);
	wire_put_str(&b, F_NODE, "node1");
	wire_put_u64(&b, F_EPOCH, 0x4141414141414141ull);
	len = wire_end(&b);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(wire_decode(buf, (size_t)len, &m), 0);

	/* Absent. */
	ck_assert_int_eq(wire_get_u64(&m, F_GENERATION, &v), -ENOENT);
	ck_assert_int_eq(wire_get_str(&m, F_CLUSTER, s, sizeof(s)), -ENOENT);
	ck_assert_uint_eq(v, 12345);
	/* Wrong shape: a string read as a number and a number read as a
	 * string (even one made of printable bytes). */
	ck_assert_int_eq(wire_get_u64(&m, F_NODE, &v), -EBADMSG);
	ck_assert_int_eq(wire_get_str(&m, F_EPOCH, s, sizeof(s)), -EBADMSG);
	ck_assert_uint_eq(v, 12345);
	/* Too small a buffer: the NUL must fit too. */
	ck_assert_int_eq(wire_get_str(&m, F_NODE, s, 5), -ENAMETOOLONG);
	ck_assert_int_eq(wire_get_str(&m, F_NODE, s, 0), -ENAMETOOLONG);
	ck_assert_int_eq(wire_get_str(&m, F_NODE, NULL, 0), -ENAMETOOLONG);
	ck_assert_int_eq(wire_get_str(&m, F_NODE, s, 6), 0);
	ck_assert_str_eq(s, "node1");
	ck_assert_int_eq(wire_get_u64(&m, F_EPOCH, &v), 0);
	ck_assert_uint_eq(v, 0x4141414141414141ull);

	/* A message put together by hand (not by wire_decode): the getters
	 * check the shape themselves. */
	static const uint8_t seven[7] = {1, 2, 3, 4, 5, 6, 7};
	static const uint8_t nul[3] = {'a', 0, 'b'};
	struct wire_msg h = {.version = 1, .type = WIRE_T_STATE, .n_fields = 3};
	h.f[0] = (struct wire_field){
		.tag = F_GENERATION, .len = 7, .val = seven};
	h.f[1] = (struct wire_field){.tag = F_TEXT, .len = 3, .val = nul};
	h.f[2] = (struct wire_field){.tag = 500, .len = 7, .val = seven};
	ck_assert_int_eq(wire_get_u64(&h, F_GENERATION, &v), -EBADMSG);
	ck_assert_int_eq(wire_get_str(&h, F_TEXT, s, sizeof(s)), -EBADMSG);
	ck_assert_int_eq(wire_get_u64(&h, 500, &v), -EBADMSG);
	h.n_fields = 1000; /* beyond the array: not read past it */
	ck_assert_int_eq(wire_get_u64(&h, 4242, &v), -ENOENT);
}
END_TEST

START_TEST(type_names)
{
	ck_assert_str_eq(wire_type_name(WIRE_T_HELLO), "HELLO");
	ck_assert_str_eq(wire_type_name(WIRE_T_STATE), "STATE");
	ck_assert_str_eq(wire_type_name(WIRE_T_CMD), "CMD");
	ck_assert_str_eq(wire_type_name(WIRE_T_CMD_REPLY), "CMD_REPLY");
	ck_assert_str_eq(wire_type_name(WIRE_T_VOTE_REQ), "VOTE_REQ");
	ck_assert_str_eq(wire_type_name(WIRE_T_VOTE_REPLY), "VOTE_REPLY");
	ck_assert_str_eq(wire_type_name(WIRE_T_ERROR), "ERROR");
	ck_assert_str_eq(wire_type_name(77), "type 77");
	ck_assert_str_eq(wire_type_name(0), "type 0");
	ck_assert_str_eq(wire_type_name(255), "type 255");
}
END_TEST

/* ---- deterministic mutation fuzz ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, same sequence on every run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng() % n) : 0;
}

/* A valid frame of random type and fields. */
static size_t fuzz_seed_frame(uint8_t *buf, size_t cap)
{
	struct wire_buf b;
	char s[WIRE_MAX_STR + 1];
	int len;

	wire_begin(&b, buf, cap, all_types[rng_below(sizeof(all_types))]);
	for (size_t i = 0; i < N_U64; i++)
		if (rng() & 1)
			wire_put_u64(&b, u64_tags[i], rng());
	for (size_t i = 0; i < N_STR; i++) {
		if (rng() & 1) {
			size_t n = rng_below(rng() & 7 ? 24 : WIRE_MAX_STR + 1);
			for (size_t k = 0; k < n; k++)
				s[k] = (char)(1 + rng_below(255));
			s[n] = '\0';
			wire_put_str(&b, str_tags[i], s);
		}
	}
	if (rng_below(4) == 0)
		wire_put_u64(&b, (uint16_t)(100 + rng_below(60000)), rng());
	len = wire_end(&b);
	if (len < 0) {
		wire_begin(&b, buf, cap, WIRE_T_STATE);
		len = wire_end(&b);
	}
	return (size_t)len;
}

static void fuzz_mutate(uint8_t *buf, size_t *len, size_t cap)
{
	size_t n = 1 + rng_below(4);

	for (size_t k = 0; k < n; k++) {
		switch (rng_below(9)) {
		case 0: /* flip a bit */
			if (*len)
				buf[rng_below(*len)] ^=
					(uint8_t)(1u << rng_below(8));
			break;
		case 1: /* set a byte to something interesting */
			if (*len) {
				static const uint8_t v[] = {
					0, 1, 7, 8, 9, 0x7f, 0x80, 0xff};
				buf[rng_below(*len)] = v[rng_below(sizeof(v))];
			}
			break;
		case 2: /* truncate */
			*len = rng_below(*len + 1);
			break;
		case 3: /* append random bytes */
		{
			size_t add = rng_below(64);
			for (size_t i = 0; i < add && *len < cap; i++)
				buf[(*len)++] = (uint8_t)rng();
			break;
		}
		case 4: /* rewrite a field length (in the first fields) */
			if (*len > WIRE_HEADER_LEN + 4) {
				size_t at =
					WIRE_HEADER_LEN + 2 + 4 * rng_below(4);
				if (at + 1 < *len) {
					buf[at] = (uint8_t)rng_below(3);
					buf[at + 1] = (uint8_t)rng();
				}
			}
			break;
		case 5: /* rewrite the payload length */
			if (*len >= WIRE_HEADER_LEN) {
				uint32_t pl =
					rng_below(3)
						? (uint32_t)rng_below(*len + 8)
						: (uint32_t)rng();
				buf[4] = (uint8_t)(pl >> 24);
				buf[5] = (uint8_t)(pl >> 16);
				buf[6] = (uint8_t)(pl >> 8);
				buf[7] = (uint8_t)pl;
			}
			break;
		case 6: /* duplicate a chunk inside (repeats a field) */
			if (*len > WIRE_HEADER_LEN + 1) {
				size_t from = WIRE_HEADER_LEN +
					      rng_below(*len - WIRE_HEADER_LEN);
				size_t cnt = rng_below(16);
				for (size_t i = 0;
				     i < cnt && *len < cap && from + i < *len;
				     i++)
					buf[(*len)++] = buf[from + i];
			}
			break;
		case 7: /* a field tag changed to another known one */
			if (*len > WIRE_HEADER_LEN + 2) {
				buf[WIRE_HEADER_LEN] = 0;
				buf[WIRE_HEADER_LEN + 1] =
					(uint8_t)(1 + rng_below(22));
			}
			break;
		case 8: /* version byte */
			if (*len > 2)
				buf[2] = (uint8_t)rng_below(4);
			break;
		}
	}
}

/* Runs one input through everything a reader does; asserts only the
 * documented results come out. */
/* Check's ck_assert reports every passed check to the parent process,
 * which makes 200k iterations slow: the fuzz only calls into Check on a
 * failure. */
#define FZ(cond)                                                               \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg("fuzz: %s failed (input %lu)", #cond,     \
				     fuzz_iter);                               \
	} while (0)

static unsigned long fuzz_iter;
/* How often each outcome came out: the fuzz must reach them all. */
static unsigned long fz_more, fz_proto, fz_version, fz_size, fz_bad;

static void fuzz_one(const uint8_t *in, size_t len, unsigned long *n_ok)
{
	uint8_t *p = malloc(len ? len : 1);
	struct wire_msg m;
	uint8_t ver = 0xaa;
	int fl, rc;

	FZ(p);
	memcpy(p, in, len);
	fl = wire_frame_len(p, len, &ver);
	FZ(fl == 0 || fl == -EPROTO || fl == -EPROTONOSUPPORT ||
	   fl == -EMSGSIZE ||
	   (fl >= WIRE_HEADER_LEN && (size_t)fl <= len &&
	    fl <= WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD));
	if (fl == -EPROTONOSUPPORT)
		FZ(ver != WIRE_VERSION);
	fz_more += fl == 0;
	fz_proto += fl == -EPROTO;
	fz_version += fl == -EPROTONOSUPPORT;
	fz_size += fl == -EMSGSIZE;
	if (fl > 0) {
		/* Decode the frame from its own exact-size buffer. */
		uint8_t *f = malloc((size_t)fl);
		FZ(f);
		memcpy(f, p, (size_t)fl);
		rc = wire_decode(f, (size_t)fl, &m);
		FZ(rc == 0 || rc == -EBADMSG);
		fz_bad += rc == -EBADMSG;
		if (rc == 0) {
			(*n_ok)++;
			FZ(m.n_fields <= WIRE_MAX_FIELDS);
			for (size_t i = 0; i < m.n_fields; i++) {
				FZ(m.f[i].val >= f + WIRE_HEADER_LEN);
				FZ(m.f[i].val + m.f[i].len <= f + fl);
				for (size_t j = 0; j < i; j++)
					FZ(m.f[i].tag != m.f[j].tag);
			}
			for (uint16_t tag = 0; tag <= 23; tag++) {
				char s[WIRE_MAX_STR + 1], tiny[4];
				uint64_t v;
				rc = wire_get_u64(&m, tag, &v);
				FZ(rc == 0 || rc == -ENOENT || rc == -EBADMSG);
				rc = wire_get_str(&m, tag, s, sizeof(s));
				FZ(rc == 0 || rc == -ENOENT || rc == -EBADMSG);
				if (rc == 0)
					FZ(strlen(s) <= WIRE_MAX_STR);
				rc = wire_get_str(&m, tag, tiny, sizeof(tiny));
				FZ(rc == 0 || rc == -ENOENT || rc == -EBADMSG ||
				   rc == -ENAMETOOLONG);
			}
		}
		/* The same frame with one byte less is refused. */
		FZ(wire_decode(f, (size_t)fl - 1, &m) == -EBADMSG);
		free(f);
	}
	/* decode is also safe on whatever it is given. */
	rc = wire_decode(p, len, &m);
	FZ(rc == 0 || rc == -EBADMSG);
	if (rc == 0)
		FZ(fl == (int)len);
	free(p);
}

START_TEST(mutation_fuzz)
{
	static uint8_t buf[FRAME_MAX + 256];
	unsigned long n_ok = 0, n = 0;

	rng_state = 0x636d7364u; /* "cmsd" */
	for (; n < 220000; n++) {
		size_t len;

		fuzz_iter = n;

		if (n % 10 == 9) {
			/* Plain random bytes, sometimes behind a valid
			 * magic and version. */
			len = rng_below(rng() & 1 ? 32 : 600);
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rng();
			if (len >= 3 && (rng() & 1)) {
				buf[0] = 'C';
				buf[1] = 'M';
				buf[2] = WIRE_VERSION;
			}
		} else {
			len = fuzz_seed_frame(buf, sizeof(buf));
			if (n % 10 != 0) /* one in ten stays valid */
				fuzz_mutate(buf, &len, sizeof(buf));
		}
		fuzz_one(buf, len, &n_ok);
	}
	/* The fuzz reached the field parser, not only the header checks. */
	ck_assert_uint_gt(n_ok, n / 10);
	ck_assert_uint_lt(n_ok, n - n / 10);
	ck_assert_uint_gt(fz_more, 1000);
	ck_assert_uint_gt(fz_proto, 1000);
	ck_assert_uint_gt(fz_version, 1000);
	ck_assert_uint_gt(fz_size, 1000);
	ck_assert_uint_gt(fz_bad, 1000);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, round_trip_every_type_every_field);
	tcase_add_test(tc, round_trip_header_bytes);
	tcase_add_test(tc, builder_limits);
	tcase_add_test(tc, frame_len_header);
	tcase_add_test(tc, decode_malformed);
	tcase_add_test(tc, decode_skips_unknown);
	tcase_add_test(tc, getters);
	tcase_add_test(tc, type_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, mutation_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(wire_suite());
}
