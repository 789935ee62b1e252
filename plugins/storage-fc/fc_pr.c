/*
 * fc_pr: SCSI-3 persistent reservations as bytes (SPC-4 6.15, 6.16; the
 * field layouts of SPC-3 are the same) and the sequences storage-fc runs.
 * See fc_pr.h.
 */
#include "fc_pr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tries of one command: unit attentions (a preemption, a reset, a power
 * on) are reported once each, and a few may be queued. */
#define FC_PR_TRIES 3

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* PERSISTENT RESERVE IN: opcode, service action (bits 4-0), reserved 2-6,
 * allocation length 7-8, control 9. */
void fc_pr_in_cdb(uint8_t cdb[FC_PR_CDB_LEN], enum fc_prin_sa sa,
		  uint16_t alloc_len)
{
	memset(cdb, 0, FC_PR_CDB_LEN);
	cdb[0] = FC_PRIN_OP;
	cdb[1] = (uint8_t)(sa & 0x1f);
	put_be16(cdb + 7, alloc_len);
}

/* PERSISTENT RESERVE OUT: opcode, service action (bits 4-0), scope (7-4,
 * LU_SCOPE 0) and type (3-0), reserved 3-4, parameter list length 5-8,
 * control 9. */
void fc_pr_out_cdb(uint8_t cdb[FC_PR_CDB_LEN], enum fc_prout_sa sa,
		   unsigned type)
{
	memset(cdb, 0, FC_PR_CDB_LEN);
	cdb[0] = FC_PROUT_OP;
	cdb[1] = (uint8_t)(sa & 0x1f);
	cdb[2] = (uint8_t)(type & 0x0f);
	put_be32(cdb + 5, FC_PR_PARAM_LEN);
}

/* Reservation key 0-7, service action reservation key 8-15, obsolete
 * 16-19, SPEC_I_PT (bit 3), ALL_TG_PT (bit 2), APTPL (bit 0) in 20,
 * reserved 21, obsolete 22-23. */
void fc_pr_out_params(uint8_t p[FC_PR_PARAM_LEN], uint64_t key, uint64_t sa_key,
		      bool aptpl)
{
	memset(p, 0, FC_PR_PARAM_LEN);
	put_be64(p, key);
	put_be64(p + 8, sa_key);
	p[20] = aptpl ? 0x01 : 0x00;
}

/* PRGENERATION 0-3, ADDITIONAL LENGTH 4-7, then 8 bytes per key. */
int fc_pr_parse_keys(const uint8_t *buf, size_t len, struct fc_pr_keys *out)
{
	uint32_t add;
	size_t have;

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return -EBADMSG;
	out->generation = get_be32(buf);
	add = get_be32(buf + 4);
	if (add % 8)
		return -EBADMSG;
	out->total = add / 8;
	/* The device says how much it has; the buffer holds what fitted. */
	have = (len - 8) / 8;
	if (have > out->total)
		have = out->total;
	if (have > FC_PR_KEYS_MAX)
		have = FC_PR_KEYS_MAX;
	for (size_t i = 0; i < have; i++)
		out->keys[i] = get_be64(buf + 8 + 8 * i);
	out->n = have;
	return 0;
}

/* PRGENERATION 0-3, ADDITIONAL LENGTH 4-7 (0: none, 16: one), then the
 * key 8-15, obsolete 16-19, reserved 20, scope and type 21, obsolete
 * 22-23. */
int fc_pr_parse_resv(const uint8_t *buf, size_t len, struct fc_pr_resv *out)
{
	uint32_t add;

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return -EBADMSG;
	out->generation = get_be32(buf);
	add = get_be32(buf + 4);
	if (add == 0)
		return 0;
	if (add < 16 || len < 24)
		return -EBADMSG;
	out->held = true;
	out->key = get_be64(buf + 8);
	out->scope = buf[21] >> 4;
	out->type = buf[21] & 0x0f;
	return 0;
}

int fc_pr_sense_parse(const uint8_t *sb, size_t len, struct fc_pr_sense *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return -EBADMSG;
	switch (sb[0] & 0x7f) {
	case 0x70:
	case 0x71:
		/* Fixed: key in 2, ASC/ASCQ in 12-13 when the additional
		 * length (7) reaches them. */
		if (len < 3)
			return -EBADMSG;
		out->key = sb[2] & 0x0f;
		if (len >= 14 && sb[7] >= 6) {
			out->asc = sb[12];
			out->ascq = sb[13];
		}
		break;
	case 0x72:
	case 0x73:
		if (len < 4)
			return -EBADMSG;
		out->key = sb[1] & 0x0f;
		out->asc = sb[2];
		out->ascq = sb[3];
		break;
	default:
		return -EBADMSG;
	}
	out->valid = true;
	return 0;
}

enum fc_pr_outcome fc_pr_classify(uint8_t status, const uint8_t *sb,
				  size_t sb_len, struct fc_pr_sense *sense)
{
	struct fc_pr_sense s;

	memset(&s, 0, sizeof(s));
	if (status == FC_SCSI_CHECK_CONDITION)
		fc_pr_sense_parse(sb, sb_len, &s);
	if (sense)
		*sense = s;
	switch (status) {
	case FC_SCSI_GOOD:
		return FC_PRO_GOOD;
	case FC_SCSI_RESERVATION_CONFLICT:
		return FC_PRO_CONFLICT;
	case FC_SCSI_CHECK_CONDITION:
		break;
	default:
		return FC_PRO_ERROR;
	}
	if (!s.valid)
		return FC_PRO_ERROR;
	switch (s.key) {
	case FC_SK_UNIT_ATTENTION:
		return FC_PRO_UNIT_ATTN;
	case FC_SK_NOT_READY:
		return FC_PRO_NOT_READY;
	case FC_SK_ILLEGAL_REQUEST:
		/* INVALID COMMAND OPERATION CODE: no PR at all.  A PR
		 * command with a service action the device lacks is an
		 * invalid field in the CDB, handled by the caller. */
		if (s.asc == 0x20 && s.ascq == 0x00)
			return FC_PRO_UNSUPPORTED;
		return FC_PRO_INVALID;
	default:
		return FC_PRO_ERROR;
	}
}

const char *fc_pr_outcome_name(enum fc_pr_outcome o)
{
	static const char *const n[] = {
		"GOOD",		 "RESERVATION CONFLICT", "UNIT ATTENTION",
		"not supported", "ILLEGAL REQUEST",	 "NOT READY",
		"error"};

	return (unsigned)o < sizeof(n) / sizeof(n[0]) ? n[o] : "?";
}

const char *fc_pr_type_name(unsigned type)
{
	switch (type) {
	case FC_PRT_WE:
		return "write-exclusive";
	case FC_PRT_EA:
		return "exclusive-access";
	case FC_PRT_WE_RO:
		return "write-exclusive-registrants-only";
	case FC_PRT_EA_RO:
		return "exclusive-access-registrants-only";
	case FC_PRT_WE_AR:
		return "write-exclusive-all-registrants";
	case FC_PRT_EA_AR:
		return "exclusive-access-all-registrants";
	default:
		return "unknown type";
	}
}

uint64_t fc_pr_key_from_node(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (!id || !*id)
		return 0;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	/* Zero means "unregister" in a PROUT parameter list. */
	return h ? h : 1;
}

/* ---- sequences ---- */

/* One command with its unit attentions retried.  0 with *o and *s set, or
 * -EOPNOTSUPP / -EIO when it could not be sent (noted). */
static int pr_cmd(struct fc_pr_io *io, const char *what, const uint8_t *cdb,
		  enum fc_pr_dir dir, uint8_t *buf, size_t len,
		  enum fc_pr_outcome *o, struct fc_pr_sense *s)
{
	uint8_t status, sense[FC_PR_SENSE_MAX];
	size_t slen;
	int rc;

	for (int i = 0; i < FC_PR_TRIES; i++) {
		slen = sizeof(sense);
		status = 0;
		rc = io->exec(io->arg, cdb, FC_PR_CDB_LEN, dir, buf, len,
			      &status, sense, &slen);
		if (rc == -ENOTTY || rc == -EINVAL || rc == -EOPNOTSUPP) {
			io->note(io->note_arg, 'E',
				 "%s does not take SCSI commands (SG_IO: %s): "
				 "no persistent reservations on it",
				 io->dev, strerror(-rc));
			return -EOPNOTSUPP;
		}
		if (rc < 0) {
			io->note(io->note_arg, 'E', "%s on %s: SG_IO: %s", what,
				 io->dev, strerror(-rc));
			return -EIO;
		}
		*o = fc_pr_classify(status, sense, slen, s);
		if (*o != FC_PRO_UNIT_ATTN)
			return 0;
		io->note(io->note_arg, 'I',
			 "%s on %s: unit attention (ASC/ASCQ 0x%02x/0x%02x), "
			 "retrying",
			 what, io->dev, s->asc, s->ascq);
	}
	return 0; /* still a unit attention: the caller's failure */
}

/* The note and errno of an unexpected outcome. */
static int pr_fail(struct fc_pr_io *io, const char *what, enum fc_pr_outcome o,
		   const struct fc_pr_sense *s)
{
	if (o == FC_PRO_UNSUPPORTED) {
		io->note(io->note_arg, 'E',
			 "%s on %s: ILLEGAL REQUEST, invalid operation code: "
			 "the device has no persistent reservations",
			 what, io->dev);
		return -EOPNOTSUPP;
	}
	if (s->valid)
		io->note(io->note_arg, 'E',
			 "%s on %s: %s (sense key 0x%x, ASC/ASCQ "
			 "0x%02x/0x%02x)",
			 what, io->dev, fc_pr_outcome_name(o), s->key, s->asc,
			 s->ascq);
	else
		io->note(io->note_arg, 'E', "%s on %s: %s", what, io->dev,
			 fc_pr_outcome_name(o));
	return o == FC_PRO_CONFLICT ? -EBUSY : -EIO;
}

static int pr_out(struct fc_pr_io *io, const char *what, enum fc_prout_sa sa,
		  unsigned type, uint64_t key, uint64_t sa_key, bool aptpl,
		  enum fc_pr_outcome *o, struct fc_pr_sense *s)
{
	uint8_t cdb[FC_PR_CDB_LEN], p[FC_PR_PARAM_LEN];

	fc_pr_out_cdb(cdb, sa, type);
	fc_pr_out_params(p, key, sa_key, aptpl);
	return pr_cmd(io, what, cdb, FC_PR_TO_DEV, p, sizeof(p), o, s);
}

int fc_pr_read_resv(struct fc_pr_io *io, struct fc_pr_resv *out)
{
	uint8_t cdb[FC_PR_CDB_LEN], buf[24];
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	memset(buf, 0, sizeof(buf));
	fc_pr_in_cdb(cdb, FC_PRIN_READ_RESERVATION, sizeof(buf));
	rc = pr_cmd(io, "READ RESERVATION", cdb, FC_PR_FROM_DEV, buf,
		    sizeof(buf), &o, &s);
	if (rc < 0)
		return rc;
	if (o != FC_PRO_GOOD)
		return pr_fail(io, "READ RESERVATION", o, &s);
	if (fc_pr_parse_resv(buf, sizeof(buf), out) < 0) {
		io->note(io->note_arg, 'E',
			 "READ RESERVATION on %s: malformed answer", io->dev);
		return -EIO;
	}
	return 0;
}

int fc_pr_read_keys(struct fc_pr_io *io, struct fc_pr_keys *out)
{
	uint8_t cdb[FC_PR_CDB_LEN], buf[8 + 8 * FC_PR_KEYS_MAX];
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	memset(buf, 0, sizeof(buf));
	fc_pr_in_cdb(cdb, FC_PRIN_READ_KEYS, sizeof(buf));
	rc = pr_cmd(io, "READ KEYS", cdb, FC_PR_FROM_DEV, buf, sizeof(buf), &o,
		    &s);
	if (rc < 0)
		return rc;
	if (o != FC_PRO_GOOD)
		return pr_fail(io, "READ KEYS", o, &s);
	if (fc_pr_parse_keys(buf, sizeof(buf), out) < 0) {
		io->note(io->note_arg, 'E', "READ KEYS on %s: malformed answer",
			 io->dev);
		return -EIO;
	}
	return 0;
}

int fc_pr_register(struct fc_pr_io *io, uint64_t key)
{
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	/* APTPL: the registrations survive a power loss of the array, so a
	 * node that comes back is still fenced. */
	rc = pr_out(io, "REGISTER AND IGNORE EXISTING KEY",
		    FC_PROUT_REGISTER_IGNORE, 0, 0, key, !io->no_aptpl, &o, &s);
	if (rc < 0)
		return rc;
	if (o == FC_PRO_INVALID && !io->no_aptpl) {
		io->no_aptpl = true;
		io->note(io->note_arg, 'W',
			 "%s refuses APTPL (ILLEGAL REQUEST, ASC/ASCQ "
			 "0x%02x/0x%02x): registering without it; "
			 "reservations will not survive a power loss of the "
			 "array",
			 io->dev, s.asc, s.ascq);
		rc = pr_out(io, "REGISTER AND IGNORE EXISTING KEY",
			    FC_PROUT_REGISTER_IGNORE, 0, 0, key, false, &o, &s);
		if (rc < 0)
			return rc;
	}
	if (o != FC_PRO_GOOD)
		return pr_fail(io, "REGISTER AND IGNORE EXISTING KEY", o, &s);
	return 0;
}

static int pr_preempt(struct fc_pr_io *io, uint64_t key, uint64_t victim,
		      unsigned type, enum fc_pr_outcome *o,
		      struct fc_pr_sense *s)
{
	int rc;

	/* AND ABORT: the old holder's commands still queued at the array
	 * are dropped too, not only its later ones. */
	if (!io->no_abort) {
		rc = pr_out(io, "PREEMPT AND ABORT", FC_PROUT_PREEMPT_AND_ABORT,
			    type, key, victim, false, o, s);
		if (rc < 0 || *o != FC_PRO_INVALID)
			return rc;
		io->no_abort = true;
		io->note(io->note_arg, 'W',
			 "%s refuses PREEMPT AND ABORT (ILLEGAL REQUEST, "
			 "ASC/ASCQ 0x%02x/0x%02x): using PREEMPT; commands "
			 "the old holder has queued may still complete",
			 io->dev, s->asc, s->ascq);
	}
	return pr_out(io, "PREEMPT", FC_PROUT_PREEMPT, type, key, victim, false,
		      o, s);
}

int fc_pr_acquire(struct fc_pr_io *io, uint64_t key, unsigned type,
		  uint64_t *preempted)
{
	struct fc_pr_resv r;
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	*preempted = 0;
	/* A node preempted before has lost its registration. */
	rc = fc_pr_register(io, key);
	if (rc < 0)
		return rc;
	/* The holder may change under us (the peer reserving at the same
	 * time): read again after a conflict, a few times. */
	for (int i = 0; i < FC_PR_TRIES; i++) {
		rc = fc_pr_read_resv(io, &r);
		if (rc < 0)
			return rc;
		if (r.held && r.key == key && r.type == type) {
			io->note(io->note_arg, 'I',
				 "%s: key 0x%" PRIx64 " holds the %s "
				 "reservation already",
				 io->dev, key, fc_pr_type_name(type));
			return 0;
		}
		if (r.held && (r.type == FC_PRT_WE_AR ||
			       r.type == FC_PRT_EA_AR || r.key == 0)) {
			io->note(io->note_arg, 'E',
				 "%s has a %s reservation (key 0x%" PRIx64
				 "), not one this plugin makes: clear it by "
				 "hand (sg_persist --out --clear)",
				 io->dev, fc_pr_type_name(r.type), r.key);
			return -EBUSY;
		}
		if (!r.held) {
			rc = pr_out(io, "RESERVE", FC_PROUT_RESERVE, type, key,
				    0, false, &o, &s);
			if (rc < 0)
				return rc;
			if (o == FC_PRO_GOOD) {
				io->note(io->note_arg, 'N',
					 "%s: reserved %s with key 0x%" PRIx64,
					 io->dev, fc_pr_type_name(type), key);
				return 0;
			}
			if (o != FC_PRO_CONFLICT)
				return pr_fail(io, "RESERVE", o, &s);
			continue;
		}
		/* Another holder, or this key with another type: PREEMPT
		 * makes the reservation ours, in our type. */
		rc = pr_preempt(io, key, r.key, type, &o, &s);
		if (rc < 0)
			return rc;
		if (o == FC_PRO_GOOD) {
			if (r.key != key) {
				*preempted = r.key;
				io->note(io->note_arg, 'N',
					 "%s: preempted key 0x%" PRIx64
					 " (%s): key 0x%" PRIx64
					 " holds %s now; the old holder's "
					 "writes get RESERVATION CONFLICT",
					 io->dev, r.key,
					 fc_pr_type_name(r.type), key,
					 fc_pr_type_name(type));
			} else {
				io->note(io->note_arg, 'N',
					 "%s: key 0x%" PRIx64
					 " changed its reservation from %s "
					 "to %s",
					 io->dev, key, fc_pr_type_name(r.type),
					 fc_pr_type_name(type));
			}
			return 0;
		}
		if (o != FC_PRO_CONFLICT)
			return pr_fail(io, "PREEMPT", o, &s);
	}
	io->note(io->note_arg, 'E',
		 "%s: the reservation kept changing under key 0x%" PRIx64
		 " (another node reserving at the same time?)",
		 io->dev, key);
	return -EBUSY;
}

int fc_pr_fence_others(struct fc_pr_io *io, uint64_t key, unsigned type,
		       unsigned *removed)
{
	struct fc_pr_keys *k = malloc(sizeof(*k));
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	*removed = 0;
	if (!k)
		return -ENOMEM;
	rc = fc_pr_read_keys(io, k);
	/* One PREEMPT removes every registration with that key (each of
	 * the peer's paths). */
	for (size_t i = 0; rc == 0 && i < k->n; i++) {
		bool seen = k->keys[i] == key || k->keys[i] == 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = k->keys[j] == k->keys[i];
		if (seen)
			continue;
		rc = pr_preempt(io, key, k->keys[i], type, &o, &s);
		if (rc < 0)
			break;
		if (o == FC_PRO_CONFLICT) {
			/* A key no nexus has any more (its node unregistered
			 * since READ KEYS) conflicts, and so does our own
			 * key preempted by the peer: the reservation tells. */
			struct fc_pr_resv r;
			rc = fc_pr_read_resv(io, &r);
			if (rc < 0)
				break;
			if (r.held && r.key == key) {
				io->note(io->note_arg, 'I',
					 "%s: key 0x%" PRIx64 " went before "
					 "its PREEMPT",
					 io->dev, k->keys[i]);
				continue;
			}
		}
		if (o != FC_PRO_GOOD) {
			rc = pr_fail(io, "PREEMPT", o, &s);
			break;
		}
		io->note(io->note_arg, 'N',
			 "%s: removed the registration of key 0x%" PRIx64,
			 io->dev, k->keys[i]);
		(*removed)++;
	}
	if (rc == 0 && k->total > k->n)
		io->note(io->note_arg, 'W',
			 "%s has %zu registrations; only the first %zu were "
			 "read",
			 io->dev, k->total, k->n);
	free(k);
	return rc;
}

int fc_pr_release(struct fc_pr_io *io, uint64_t key, unsigned type)
{
	struct fc_pr_resv r;
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	rc = pr_out(io, "RELEASE", FC_PROUT_RELEASE, type, key, 0, false, &o,
		    &s);
	if (rc < 0)
		return rc;
	if (o == FC_PRO_GOOD)
		return 0;
	if (o == FC_PRO_CONFLICT) {
		/* Not registered: the peer preempted this node. */
		io->note(io->note_arg, 'N',
			 "%s: key 0x%" PRIx64 " is not registered any more "
			 "(preempted by the peer?): nothing to release",
			 io->dev, key);
		return 0;
	}
	if (o != FC_PRO_INVALID)
		return pr_fail(io, "RELEASE", o, &s);
	/* INVALID RELEASE OF PERSISTENT RESERVATION: held in another type
	 * (the configuration changed since the reserve). */
	rc = fc_pr_read_resv(io, &r);
	if (rc < 0)
		return rc;
	if (!r.held || r.key != key)
		return 0;
	rc = pr_out(io, "RELEASE", FC_PROUT_RELEASE, r.type, key, 0, false, &o,
		    &s);
	if (rc < 0)
		return rc;
	return o == FC_PRO_GOOD ? 0 : pr_fail(io, "RELEASE", o, &s);
}

int fc_pr_unregister(struct fc_pr_io *io)
{
	enum fc_pr_outcome o;
	struct fc_pr_sense s;
	int rc;

	/* A zero service action key unregisters whatever key this path has
	 * (none: nothing happens). */
	rc = pr_out(io, "REGISTER AND IGNORE EXISTING KEY (unregister)",
		    FC_PROUT_REGISTER_IGNORE, 0, 0, 0, false, &o, &s);
	if (rc < 0)
		return rc;
	if (o != FC_PRO_GOOD)
		return pr_fail(io, "unregister", o, &s);
	return 0;
}
