/*
 * libFuzzer target for the frame codec (lib/wire/wire.c): the input is a
 * byte stream as a reader sees it.  Each frame wire_frame_len measures is
 * decoded, every getter runs on it, and a frame that decodes is built
 * again from its known fields and must decode to the same values.  Only
 * the documented results may come out.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/wire \
 *     tests/fuzz/fuzz_wire.c lib/wire/wire.c -o fuzz_wire
 *   ./fuzz_wire -max_len=20000 -max_total_time=60
 * (or tests/fuzz/CMakeLists.txt with clang).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define FRAME_MAX (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The tags this version knows and their shape (1: string). */
static const uint8_t is_str[] = {
	[F_NODE] = 1, [F_CLUSTER] = 1,	   [F_TEXT] = 1,    [F_HOLDER] = 1,
	[F_PEER] = 1, [F_LAST_MASTER] = 1, [F_SUMMARY] = 1,
};
#define LAST_TAG F_ADMIN_SEQ

static int tag_is_str(uint16_t tag)
{
	return tag < sizeof(is_str) && is_str[tag];
}

static void rebuild(const struct wire_msg *m)
{
	static uint8_t buf[FRAME_MAX];
	static char s[WIRE_MAX_STR + 1], s2[WIRE_MAX_STR + 1];
	struct wire_msg again;
	struct wire_buf b;
	uint64_t v, v2;
	int len;

	wire_begin(&b, buf, sizeof(buf), m->type);
	for (uint16_t tag = 1; tag <= LAST_TAG; tag++) {
		if (tag_is_str(tag)) {
			if (wire_get_str(m, tag, s, sizeof(s)) == 0)
				wire_put_str(&b, tag, s);
		} else if (wire_get_u64(m, tag, &v) == 0) {
			wire_put_u64(&b, tag, v);
		}
	}
	len = wire_end(&b);
	check(len >= WIRE_HEADER_LEN);
	check(wire_frame_len(buf, (size_t)len, NULL) == len);
	check(wire_decode(buf, (size_t)len, &again) == 0);
	check(again.type == m->type && again.n_fields == m->n_fields);
	for (uint16_t tag = 1; tag <= LAST_TAG; tag++) {
		if (tag_is_str(tag)) {
			int a = wire_get_str(m, tag, s, sizeof(s));
			int c = wire_get_str(&again, tag, s2, sizeof(s2));
			check(a == c && (a != 0 || strcmp(s, s2) == 0));
		} else {
			int a = wire_get_u64(m, tag, &v);
			int c = wire_get_u64(&again, tag, &v2);
			check(a == c && (a != 0 || v == v2));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct wire_msg m;
		uint8_t ver = 0;
		int n = wire_frame_len(data + off, size - off, &ver);

		if (n == 0 || n == -EPROTO || n == -EMSGSIZE)
			break;
		if (n == -EPROTONOSUPPORT) {
			check(ver != WIRE_VERSION);
			break;
		}
		check(n >= WIRE_HEADER_LEN && (size_t)n <= size - off &&
		      n <= FRAME_MAX);
		int rc = wire_decode(data + off, (size_t)n, &m);
		check(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			check(m.n_fields <= WIRE_MAX_FIELDS);
			for (size_t i = 0; i < m.n_fields; i++)
				check(m.f[i].val >= data + off &&
				      m.f[i].val + m.f[i].len <=
					      data + off + (size_t)n);
			for (uint16_t tag = 0; tag <= LAST_TAG + 2; tag++) {
				char tiny[3], s[WIRE_MAX_STR + 1];
				uint64_t v;
				int r = wire_get_u64(&m, tag, &v);
				check(r == 0 || r == -ENOENT || r == -EBADMSG);
				r = wire_get_str(&m, tag, s, sizeof(s));
				check(r == 0 || r == -ENOENT || r == -EBADMSG);
				r = wire_get_str(&m, tag, tiny, sizeof(tiny));
				check(r == 0 || r == -ENOENT || r == -EBADMSG ||
				      r == -ENAMETOOLONG);
			}
			rebuild(&m);
		}
		off += (size_t)n;
	}
	return 0;
}
