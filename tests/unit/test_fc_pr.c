/*
 * storage-fc's persistent reservation bytes (fc_pr.c): CDBs and parameter
 * lists checked byte by byte against the SPC-4 tables (6.15 PERSISTENT
 * RESERVE IN, 6.16 PERSISTENT RESERVE OUT), responses and sense data as a
 * device sends them (also short and malformed), and the register / acquire
 * / release / unregister sequences against a small SPC model of a target
 * shared by two initiators, written here independently of fc_pr.c.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fc_pr.h"
#include "testutil.h"

#define BYTES_EQ(got, ...)                                                     \
	do {                                                                   \
		const uint8_t want_[] = {__VA_ARGS__};                         \
		for (size_t i_ = 0; i_ < sizeof(want_); i_++)                  \
			ck_assert_msg((got)[i_] == want_[i_],                  \
				      "byte %zu: 0x%02x, want 0x%02x", i_,     \
				      (got)[i_], want_[i_]);                   \
	} while (0)

START_TEST(prin_cdbs)
{
	uint8_t c[10];

	memset(c, 0xee, sizeof(c));
	fc_pr_in_cdb(c, FC_PRIN_READ_KEYS, 0x0208);
	BYTES_EQ(c, 0x5e, 0x00, 0, 0, 0, 0, 0, 0x02, 0x08, 0x00);
	memset(c, 0xee, sizeof(c));
	fc_pr_in_cdb(c, FC_PRIN_READ_RESERVATION, 24);
	BYTES_EQ(c, 0x5e, 0x01, 0, 0, 0, 0, 0, 0x00, 0x18, 0x00);
}
END_TEST

START_TEST(prout_cdbs)
{
	uint8_t c[10];

	/* Parameter list length 24 in bytes 5-8; scope 0 in 2's high
	 * nibble, the type in its low one. */
	fc_pr_out_cdb(c, FC_PROUT_REGISTER, 0);
	BYTES_EQ(c, 0x5f, 0x00, 0x00, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_RESERVE, FC_PRT_WE_RO);
	BYTES_EQ(c, 0x5f, 0x01, 0x05, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_RELEASE, FC_PRT_EA);
	BYTES_EQ(c, 0x5f, 0x02, 0x03, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_CLEAR, 0);
	BYTES_EQ(c, 0x5f, 0x03, 0x00, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_PREEMPT, FC_PRT_WE);
	BYTES_EQ(c, 0x5f, 0x04, 0x01, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_PREEMPT_AND_ABORT, FC_PRT_EA_RO);
	BYTES_EQ(c, 0x5f, 0x05, 0x06, 0, 0, 0, 0, 0, 0x18, 0);
	fc_pr_out_cdb(c, FC_PROUT_REGISTER_IGNORE, 0);
	BYTES_EQ(c, 0x5f, 0x06, 0x00, 0, 0, 0, 0, 0, 0x18, 0);
	/* A type out of range does not spill into the scope. */
	fc_pr_out_cdb(c, FC_PROUT_RESERVE, 0x15);
	ck_assert_uint_eq(c[2], 0x05);
}
END_TEST

/* The byte tables keep the SPC layout, a line per field. */
/* clang-format off */
START_TEST(prout_params)
{
	uint8_t p[24];

	memset(p, 0xee, sizeof(p));
	fc_pr_out_params(p, 0x0123456789abcdefull, 0xfedcba9876543210ull, true);
	BYTES_EQ(p, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* key */
		 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, /* SA key */
		 0, 0, 0, 0,	 /* obsolete */
		 0x01,		 /* APTPL, not SPEC_I_PT or ALL_TG_PT */
		 0, 0, 0);
	memset(p, 0xee, sizeof(p));
	fc_pr_out_params(p, 0, 0xa1, false);
	BYTES_EQ(p, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 0, 0, 0,
		 0, 0x00, 0, 0, 0);
}
END_TEST

START_TEST(read_keys_answers)
{
	struct fc_pr_keys k;
	const uint8_t two[] = {0, 0, 0, 4, 0, 0, 0, 16,
			       0, 0, 0, 0, 0, 0, 0, 0xa1,
			       0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	/* Three keys on the device, the allocation length cut the third. */
	const uint8_t cut[] = {0, 0, 1, 0, 0, 0, 0, 24,
			       0, 0, 0, 0, 0, 0, 0, 1,
			       0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0};
	const uint8_t none[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	const uint8_t odd[] = {0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0,
			       0, 0, 0, 1, 0, 0, 0, 0};

	ck_assert_int_eq(fc_pr_parse_keys(two, sizeof(two), &k), 0);
	ck_assert_uint_eq(k.generation, 4);
	ck_assert_uint_eq(k.total, 2);
	ck_assert_uint_eq(k.n, 2);
	ck_assert_uint_eq(k.keys[0], 0xa1);
	ck_assert_uint_eq(k.keys[1], 0x1122334455667788ull);
	ck_assert_int_eq(fc_pr_parse_keys(cut, sizeof(cut), &k), 0);
	ck_assert_uint_eq(k.generation, 256);
	ck_assert_uint_eq(k.total, 3);
	ck_assert_uint_eq(k.n, 2);
	ck_assert_uint_eq(k.keys[1], 2);
	ck_assert_int_eq(fc_pr_parse_keys(none, sizeof(none), &k), 0);
	ck_assert_uint_eq(k.generation, 0xffffffffu);
	ck_assert_uint_eq(k.total, 0);
	ck_assert_int_eq(fc_pr_parse_keys(two, 7, &k), -EBADMSG);
	ck_assert_int_eq(fc_pr_parse_keys(two, 0, &k), -EBADMSG);
	ck_assert_int_eq(fc_pr_parse_keys(odd, sizeof(odd), &k), -EBADMSG);
}
END_TEST

START_TEST(read_reservation_answers)
{
	struct fc_pr_resv r;
	const uint8_t held[] = {0, 0, 0, 9, 0, 0, 0, 16,
				0, 0, 0, 0, 0, 0, 0, 0xb1,
				0, 0, 0, 0, 0, 0x05, 0, 0};
	const uint8_t none[] = {0, 0, 0, 7, 0, 0, 0, 0};

	ck_assert_int_eq(fc_pr_parse_resv(held, sizeof(held), &r), 0);
	ck_assert(r.held);
	ck_assert_uint_eq(r.generation, 9);
	ck_assert_uint_eq(r.key, 0xb1);
	ck_assert_uint_eq(r.scope, 0);
	ck_assert_uint_eq(r.type, FC_PRT_WE_RO);
	ck_assert_int_eq(fc_pr_parse_resv(none, sizeof(none), &r), 0);
	ck_assert(!r.held);
	ck_assert_uint_eq(r.generation, 7);
	/* Says it holds one, but the descriptor is cut. */
	ck_assert_int_eq(fc_pr_parse_resv(held, 20, &r), -EBADMSG);
	ck_assert_int_eq(fc_pr_parse_resv(held, 4, &r), -EBADMSG);
	/* An additional length too short for a descriptor. */
	uint8_t bad[24];
	memcpy(bad, held, sizeof(bad));
	bad[7] = 8;
	ck_assert_int_eq(fc_pr_parse_resv(bad, sizeof(bad), &r), -EBADMSG);
}
END_TEST

START_TEST(sense_and_status)
{
	struct fc_pr_sense s;
	/* Fixed format, current: UNIT ATTENTION, RESERVATIONS PREEMPTED. */
	const uint8_t ua[18] = {0x70, 0, 0x06, 0, 0, 0, 0, 10,
				0,    0, 0,    0, 0x2a, 0x03};
	/* Descriptor format: ILLEGAL REQUEST, INVALID COMMAND OPERATION
	 * CODE. */
	const uint8_t noop[8] = {0x72, 0x05, 0x20, 0x00, 0, 0, 0, 0};
	const uint8_t field[18] = {0x71, 0, 0x05, 0, 0, 0, 0, 10,
				   0,	 0, 0,	  0, 0x24, 0x00};
	const uint8_t keyonly[8] = {0xf0, 0, 0x02, 0, 0, 0, 0, 0};
	const uint8_t junk[4] = {0x00, 0x05, 0x20, 0x00};

	ck_assert_int_eq(fc_pr_sense_parse(ua, sizeof(ua), &s), 0);
	ck_assert(s.valid);
	ck_assert_uint_eq(s.key, FC_SK_UNIT_ATTENTION);
	ck_assert_uint_eq(s.asc, 0x2a);
	ck_assert_uint_eq(s.ascq, 0x03);
	ck_assert_int_eq(fc_pr_sense_parse(noop, sizeof(noop), &s), 0);
	ck_assert_uint_eq(s.key, FC_SK_ILLEGAL_REQUEST);
	ck_assert_uint_eq(s.asc, 0x20);
	/* Short fixed sense: the key, no ASC. */
	ck_assert_int_eq(fc_pr_sense_parse(keyonly, sizeof(keyonly), &s), 0);
	ck_assert_uint_eq(s.key, FC_SK_NOT_READY);
	ck_assert_uint_eq(s.asc, 0);
	ck_assert_int_eq(fc_pr_sense_parse(junk, sizeof(junk), &s), -EBADMSG);
	ck_assert_int_eq(fc_pr_sense_parse(ua, 2, &s), -EBADMSG);
	ck_assert_int_eq(fc_pr_sense_parse(noop, 3, &s), -EBADMSG);
	ck_assert_int_eq(fc_pr_sense_parse(ua, 0, &s), -EBADMSG);

	ck_assert_int_eq(fc_pr_classify(0x00, NULL, 0, &s), FC_PRO_GOOD);
	ck_assert_int_eq(fc_pr_classify(0x18, NULL, 0, &s), FC_PRO_CONFLICT);
	ck_assert_int_eq(fc_pr_classify(0x02, ua, sizeof(ua), &s),
			 FC_PRO_UNIT_ATTN);
	ck_assert_int_eq(fc_pr_classify(0x02, noop, sizeof(noop), &s),
			 FC_PRO_UNSUPPORTED);
	ck_assert_int_eq(fc_pr_classify(0x02, field, sizeof(field), &s),
			 FC_PRO_INVALID);
	ck_assert_int_eq(fc_pr_classify(0x02, keyonly, sizeof(keyonly), &s),
			 FC_PRO_NOT_READY);
	ck_assert_int_eq(fc_pr_classify(0x02, junk, sizeof(junk), &s),
			 FC_PRO_ERROR);
	ck_assert_int_eq(fc_pr_classify(0x02, NULL, 0, &s), FC_PRO_ERROR);
	ck_assert_int_eq(fc_pr_classify(0x08, NULL, 0, &s), FC_PRO_ERROR);
	/* Sense is read only with CHECK CONDITION. */
	ck_assert_int_eq(fc_pr_classify(0x18, noop, sizeof(noop), &s),
			 FC_PRO_CONFLICT);
}
END_TEST

/* clang-format on */

START_TEST(node_keys)
{
	/* FNV-1a 64 of "a", from the published test vectors. */
	ck_assert_uint_eq(fc_pr_key_from_node("a"), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_ne(fc_pr_key_from_node("node-a"),
			  fc_pr_key_from_node("node-b"));
	ck_assert_uint_ne(fc_pr_key_from_node("node-a"), 0);
	ck_assert_uint_eq(fc_pr_key_from_node(""), 0);
	ck_assert_uint_eq(fc_pr_key_from_node(NULL), 0);
}
END_TEST

/* ---- a target shared by initiators 0 and 1, after SPC-4 5.9 ---- */

struct tgt {
	uint32_t gen;
	uint64_t reg[2]; /* 0: not registered */
	bool aptpl[2];
	bool held;
	int holder;
	unsigned type;
	int ua[2]; /* unit attentions queued */
	bool no_sgio, no_pr, refuse_aptpl, refuse_abort;
	int cmds;
	/* What the other initiator does just before the next PREEMPT:
	 * RACE_UNREGISTER drops its key, RACE_TAKEOVER preempts ours. */
	enum { RACE_NONE, RACE_UNREGISTER, RACE_TAKEOVER } race;
};

/* SPC-4 5.9.1 table: who may WRITE under the model's reservation. */
static bool may_write(const struct tgt *t, int me)
{
	if (!t->held)
		return true;
	switch (t->type) {
	case FC_PRT_WE_RO:
	case FC_PRT_EA_RO:
		return t->reg[me] != 0;
	default:
		return t->holder == me;
	}
}

struct ini {
	struct tgt *t;
	int me;
	char notes[4096];
	uint8_t last_cdb[10];
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int check(uint8_t *status, uint8_t *sense, size_t *slen, uint8_t key,
		 uint8_t asc, uint8_t ascq)
{
	uint8_t s[18] = {0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq};

	*status = 0x02;
	memcpy(sense, s, sizeof(s));
	*slen = sizeof(s);
	return 0;
}

static int t_exec(void *arg, const uint8_t *cdb, size_t cdb_len,
		  enum fc_pr_dir dir, uint8_t *buf, size_t len, uint8_t *status,
		  uint8_t *sense, size_t *slen)
{
	struct ini *in = arg;
	struct tgt *t = in->t;
	int me = in->me, other = !me;
	uint8_t r[64];

	t->cmds++;
	ck_assert_uint_eq(cdb_len, 10);
	memcpy(in->last_cdb, cdb, 10);
	if (t->no_sgio)
		return -ENOTTY;
	if (t->no_pr)
		return check(status, sense, slen, 0x05, 0x20, 0x00);
	if (t->ua[me]) {
		t->ua[me]--;
		return check(status, sense, slen, 0x06, 0x2a, 0x03);
	}
	*status = 0;
	*slen = 0;
	if (cdb[0] == 0x5e) {
		size_t alloc = (size_t)cdb[7] << 8 | cdb[8];
		size_t n = 8;
		ck_assert_int_eq(dir, FC_PR_FROM_DEV);
		memset(r, 0, sizeof(r));
		r[3] = (uint8_t)t->gen;
		if ((cdb[1] & 0x1f) == 0) {
			for (int i = 0; i < 2; i++)
				if (t->reg[i]) {
					put64(r + n, t->reg[i]);
					n += 8;
				}
		} else if (t->held) {
			put64(r + 8, t->reg[t->holder]);
			r[21] = (uint8_t)t->type;
			n = 24;
		}
		r[7] = (uint8_t)(n - 8);
		/* What fits the allocation length and the buffer; the model
		 * never has more than sizeof(r) bytes to say. */
		size_t c = alloc < len ? alloc : len;
		memcpy(buf, r, c < sizeof(r) ? c : sizeof(r));
		return 0;
	}
	ck_assert_uint_eq(cdb[0], 0x5f);
	ck_assert_int_eq(dir, FC_PR_TO_DEV);
	ck_assert_uint_eq(len, 24);
	ck_assert_uint_eq(cdb[5] << 24 | cdb[6] << 16 | cdb[7] << 8 | cdb[8],
			  24);
	uint64_t key = be64(buf), sak = be64(buf + 8);
	bool aptpl = buf[20] & 1;
	unsigned type = cdb[2] & 0x0f;
	switch (cdb[1] & 0x1f) {
	case 0x06: /* REGISTER AND IGNORE EXISTING KEY */
		if (aptpl && t->refuse_aptpl)
			return check(status, sense, slen, 0x05, 0x24, 0x00);
		if (!sak && t->held && t->holder == me)
			t->held = false;
		t->reg[me] = sak;
		t->aptpl[me] = aptpl;
		t->gen++;
		return 0;
	case 0x01: /* RESERVE */
		if (!t->reg[me] || t->reg[me] != key ||
		    (t->held && (t->holder != me || t->type != type)))
			*status = 0x18;
		else
			t->held = true, t->holder = me, t->type = type;
		return 0;
	case 0x02: /* RELEASE */
		if (!t->reg[me] || t->reg[me] != key)
			*status = 0x18;
		else if (t->held && t->holder == me && t->type != type)
			return check(status, sense, slen, 0x05, 0x26, 0x04);
		else if (t->held && t->holder == me)
			t->held = false;
		return 0;
	case 0x05: /* PREEMPT AND ABORT */
		if (t->refuse_abort)
			return check(status, sense, slen, 0x05, 0x24, 0x00);
		/* fall through */
	case 0x04: /* PREEMPT */
		if (t->race == RACE_UNREGISTER) {
			t->reg[other] = 0;
		} else if (t->race == RACE_TAKEOVER) {
			t->reg[me] = 0;
			t->held = true;
			t->holder = other;
		}
		t->race = RACE_NONE;
		if (!t->reg[me] || t->reg[me] != key) {
			*status = 0x18;
			return 0;
		}
		/* A service action key no nexus has: RESERVATION CONFLICT
		 * (SPC-4 5.9.11.4). */
		if (t->reg[0] != sak && t->reg[1] != sak) {
			*status = 0x18;
			return 0;
		}
		if (t->held && t->reg[t->holder] == sak) {
			t->held = true;
			t->holder = me;
			t->type = type;
		}
		if (sak != key && t->reg[other] == sak) {
			t->reg[other] = 0;
			t->ua[other]++;
		}
		t->gen++;
		return 0;
	}
	return check(status, sense, slen, 0x05, 0x24, 0x00);
}

static void t_note(void *arg, char level, const char *fmt, ...)
{
	struct ini *in = arg;
	size_t n = strlen(in->notes);
	va_list ap;

	if (n + 3 >= sizeof(in->notes))
		return;
	in->notes[n++] = level;
	in->notes[n++] = ' ';
	va_start(ap, fmt);
	vsnprintf(in->notes + n, sizeof(in->notes) - n - 1, fmt, ap);
	va_end(ap);
	strcat(in->notes, "\n");
}

static struct tgt t;
static struct ini ia, ib;
static struct fc_pr_io a, b;

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	memset(&ia, 0, sizeof(ia));
	memset(&ib, 0, sizeof(ib));
	ia.t = ib.t = &t;
	ib.me = 1;
	a = (struct fc_pr_io){.exec = t_exec,
			      .arg = &ia,
			      .note = t_note,
			      .note_arg = &ia,
			      .dev = "/dev/sdx"};
	b = (struct fc_pr_io){.exec = t_exec,
			      .arg = &ib,
			      .note = t_note,
			      .note_arg = &ib,
			      .dev = "/dev/sdy"};
}

#define NOTED(in, s)                                                           \
	ck_assert_msg(strstr((in).notes, s), "not noted: %s\nnotes:\n%s", s,   \
		      (in).notes)

START_TEST(takeover)
{
	uint64_t victim = 1;
	struct fc_pr_keys k;
	struct fc_pr_resv r;

	ck_assert_int_eq(fc_pr_register(&b, 0xb1), 0);
	ck_assert(t.aptpl[1]);
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0);
	ck_assert(t.held && t.holder == 0 && t.type == FC_PRT_WE_RO);
	NOTED(ia, "N /dev/sdx: reserved write-exclusive-registrants-only with "
		  "key 0xa1");
	/* Again: nothing changes. */
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	NOTED(ia, "holds the write-exclusive-registrants-only reservation "
		  "already");
	ck_assert_int_eq(fc_pr_read_keys(&b, &k), 0);
	ck_assert_uint_eq(k.n, 2);
	/* The peer takes over: PREEMPT AND ABORT of a's key. */
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0xa1);
	ck_assert_uint_eq(ib.last_cdb[1], 0x05);
	ck_assert(t.held && t.holder == 1 && t.reg[0] == 0);
	NOTED(ib, "preempted key 0xa1");
	/* The deposed node's release: a unit attention, then a conflict,
	 * which only says it is fenced. */
	ck_assert_int_eq(t.ua[0], 1);
	ck_assert_int_eq(fc_pr_release(&a, 0xa1, FC_PRT_WE_RO), 0);
	ck_assert_int_eq(t.ua[0], 0);
	NOTED(ia, "unit attention (ASC/ASCQ 0x2a/0x03), retrying");
	NOTED(ia, "is not registered any more");
	ck_assert(t.held && t.holder == 1);
	ck_assert_int_eq(fc_pr_read_resv(&a, &r), 0);
	ck_assert_uint_eq(r.key, 0xb1);
	/* a comes back and takes it again; then releases, unregisters. */
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0xb1);
	ck_assert_int_eq(fc_pr_release(&a, 0xa1, FC_PRT_WE_RO), 0);
	ck_assert(!t.held);
	ck_assert_int_eq(fc_pr_unregister(&a), 0);
	ck_assert_uint_eq(t.reg[0], 0);
}
END_TEST

START_TEST(fence_removes_every_other_key)
{
	uint64_t victim;
	unsigned n;

	/* b registered but not holding: with a registrants-only type it may
	 * write, until its key is gone. */
	ck_assert_int_eq(fc_pr_register(&b, 0xb1), 0);
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0);
	ck_assert_int_eq(fc_pr_fence_others(&a, 0xa1, FC_PRT_WE_RO, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(t.reg[1], 0);
	ck_assert_uint_eq(t.reg[0], 0xa1);
	ck_assert(t.held && t.holder == 0);
	NOTED(ia, "removed the registration of key 0xb1");
	ck_assert_int_eq(fc_pr_fence_others(&a, 0xa1, FC_PRT_WE_RO, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* A clean handover: the old master releases, the new one reserves (nobody
 * preempted) and must still remove the old key, which could write under a
 * registrants-only type.  Promote runs fc_pr_acquire then
 * fc_pr_fence_others, as storage-fc does. */
START_TEST(clean_handover_removes_old_key)
{
	uint64_t victim = 1;
	unsigned n = 9;

	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_int_eq(fc_pr_fence_others(&a, 0xa1, FC_PRT_WE_RO, &n), 0);
	ck_assert_int_eq(fc_pr_register(&b, 0xb1), 0);
	ck_assert(may_write(&t, 0));
	ck_assert_int_eq(fc_pr_release(&a, 0xa1, FC_PRT_WE_RO), 0);
	ck_assert(!t.held);
	ck_assert_uint_eq(t.reg[0], 0xa1);
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0);
	NOTED(ib, "reserved write-exclusive-registrants-only with key 0xb1");
	ck_assert(may_write(&t, 0)); /* acquire alone leaves a writing */
	ck_assert_int_eq(fc_pr_fence_others(&b, 0xb1, FC_PRT_WE_RO, &n), 0);
	ck_assert_uint_eq(n, 1);
	NOTED(ib, "removed the registration of key 0xa1");
	ck_assert_uint_eq(ib.last_cdb[1], 0x05); /* PREEMPT AND ABORT */
	ck_assert_uint_eq(t.reg[0], 0);
	ck_assert(t.held && t.holder == 1 && t.type == FC_PRT_WE_RO);
	ck_assert(!may_write(&t, 0));
	ck_assert(may_write(&t, 1));
	ck_assert_int_eq(t.ua[0], 1); /* a learns it on its next command */
}
END_TEST

/* Races between READ KEYS and a PREEMPT: a key that went is skipped; our
 * own key preempted by the peer fails the fence. */
START_TEST(fence_races)
{
	uint64_t victim;
	unsigned n = 9;

	ck_assert_int_eq(fc_pr_register(&a, 0xa1), 0);
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE_RO, &victim), 0);
	t.race = RACE_UNREGISTER;
	ck_assert_int_eq(fc_pr_fence_others(&b, 0xb1, FC_PRT_WE_RO, &n), 0);
	ck_assert_uint_eq(n, 0);
	NOTED(ib, "I /dev/sdy: key 0xa1 went before its PREEMPT");
	ck_assert(t.held && t.holder == 1);

	ck_assert_int_eq(fc_pr_register(&a, 0xa1), 0);
	t.race = RACE_TAKEOVER;
	ck_assert_int_eq(fc_pr_fence_others(&b, 0xb1, FC_PRT_WE_RO, &n),
			 -EBUSY);
	NOTED(ib, "RESERVATION CONFLICT");
	ck_assert(t.held && t.holder == 0);
}
END_TEST

START_TEST(type_change_and_release_of_another_type)
{
	uint64_t victim;

	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE, &victim), 0);
	/* The configuration changed: preempting its own key changes the
	 * type, and is no takeover. */
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_EA, &victim), 0);
	ck_assert_uint_eq(victim, 0);
	ck_assert_uint_eq(t.type, FC_PRT_EA);
	ck_assert_uint_eq(t.reg[0], 0xa1);
	NOTED(ia, "changed its reservation from write-exclusive to "
		  "exclusive-access");
	/* A release of the wrong type is refused; the held one is found. */
	ck_assert_int_eq(fc_pr_release(&a, 0xa1, FC_PRT_WE), 0);
	ck_assert(!t.held);
}
END_TEST

START_TEST(fallbacks_logged_once)
{
	uint64_t victim;

	t.refuse_aptpl = t.refuse_abort = true;
	ck_assert_int_eq(fc_pr_register(&b, 0xb1), 0);
	ck_assert(b.no_aptpl);
	ck_assert(!t.aptpl[1]);
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_uint_eq(victim, 0xb1);
	ck_assert(a.no_abort && a.no_aptpl);
	ck_assert_uint_eq(ia.last_cdb[1], 0x04);
	NOTED(ia, "W /dev/sdx refuses APTPL");
	NOTED(ia, "W /dev/sdx refuses PREEMPT AND ABORT");
	/* The next takeover goes straight to PREEMPT, without a word. */
	ia.notes[0] = '\0';
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim), 0);
	ck_assert_ptr_null(strstr(ia.notes, "refuses"));
}
END_TEST

START_TEST(no_persistent_reservations)
{
	uint64_t victim;

	t.no_sgio = true;
	ck_assert_int_eq(fc_pr_register(&a, 0xa1), -EOPNOTSUPP);
	NOTED(ia, "E /dev/sdx does not take SCSI commands (SG_IO: "
		  "Inappropriate ioctl for device)");
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE, &victim),
			 -EOPNOTSUPP);
	t.no_sgio = false;
	t.no_pr = true;
	ck_assert_int_eq(fc_pr_acquire(&b, 0xb1, FC_PRT_WE, &victim),
			 -EOPNOTSUPP);
	NOTED(ib, "ILLEGAL REQUEST, invalid operation code: the device has no "
		  "persistent reservations");
	ck_assert_int_eq(fc_pr_unregister(&b), -EOPNOTSUPP);
}
END_TEST

START_TEST(endless_unit_attentions_fail)
{
	t.ua[0] = 100;
	ck_assert_int_eq(fc_pr_register(&a, 0xa1), -EIO);
	ck_assert_int_eq(t.cmds, 3);
	NOTED(ia, "REGISTER AND IGNORE EXISTING KEY on /dev/sdx: UNIT "
		  "ATTENTION (sense key 0x6, ASC/ASCQ 0x2a/0x03)");
}
END_TEST

START_TEST(conflict_is_ebusy)
{
	uint64_t victim;

	/* An all-registrants reservation is not taken over blindly. */
	t.reg[1] = 0xb1;
	t.held = true;
	t.holder = 1;
	t.type = FC_PRT_WE_AR;
	ck_assert_int_eq(fc_pr_acquire(&a, 0xa1, FC_PRT_WE_RO, &victim),
			 -EBUSY);
	NOTED(ia, "write-exclusive-all-registrants reservation");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fc_pr");
	TCase *tc = tcase_create("bytes");
	TCase *seq = tcase_create("sequences");

	tcase_add_test(tc, prin_cdbs);
	tcase_add_test(tc, prout_cdbs);
	tcase_add_test(tc, prout_params);
	tcase_add_test(tc, read_keys_answers);
	tcase_add_test(tc, read_reservation_answers);
	tcase_add_test(tc, sense_and_status);
	tcase_add_test(tc, node_keys);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(seq, setup, NULL);
	tcase_add_test(seq, takeover);
	tcase_add_test(seq, fence_removes_every_other_key);
	tcase_add_test(seq, clean_handover_removes_old_key);
	tcase_add_test(seq, fence_races);
	tcase_add_test(seq, type_change_and_release_of_another_type);
	tcase_add_test(seq, fallbacks_logged_once);
	tcase_add_test(seq, no_persistent_reservations);
	tcase_add_test(seq, endless_unit_attentions_fail);
	tcase_add_test(seq, conflict_is_ebusy);
	suite_add_tcase(s, seq);
	return tu_run(s);
}
