/*
 * fc_pr: SCSI-3 persistent reservations (SPC-3/SPC-4) as bytes, and the
 * sequences storage-fc runs with them, apart from any transport.
 *
 * The encoders and decoders are pure.  The sequences (register, acquire,
 * release, unregister) send their commands through a caller's exec
 * function, SG_IO in the plugin and a scripted target in the unit tests,
 * and report what they did through a caller's note function.
 */
#ifndef CMSD_FC_PR_H
#define CMSD_FC_PR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_PRIN_OP	0x5e
#define FC_PROUT_OP	0x5f
#define FC_PR_CDB_LEN	10
#define FC_PR_PARAM_LEN 24 /* the basic PROUT parameter list */
#define FC_PR_SENSE_MAX 32
#define FC_PR_KEYS_MAX	64 /* keys kept from one READ KEYS */

/* PERSISTENT RESERVE IN service actions. */
enum fc_prin_sa { FC_PRIN_READ_KEYS = 0x00, FC_PRIN_READ_RESERVATION = 0x01 };

/* PERSISTENT RESERVE OUT service actions. */
enum fc_prout_sa {
	FC_PROUT_REGISTER = 0x00,
	FC_PROUT_RESERVE = 0x01,
	FC_PROUT_RELEASE = 0x02,
	FC_PROUT_CLEAR = 0x03,
	FC_PROUT_PREEMPT = 0x04,
	FC_PROUT_PREEMPT_AND_ABORT = 0x05,
	FC_PROUT_REGISTER_IGNORE = 0x06,
};

/* Reservation types (the TYPE field); scope is always LU_SCOPE (0). */
enum fc_pr_type_code {
	FC_PRT_WE = 0x1,
	FC_PRT_EA = 0x3,
	FC_PRT_WE_RO = 0x5,
	FC_PRT_EA_RO = 0x6,
	FC_PRT_WE_AR = 0x7,
	FC_PRT_EA_AR = 0x8,
};

/* SCSI status bytes. */
#define FC_SCSI_GOOD		     0x00
#define FC_SCSI_CHECK_CONDITION	     0x02
#define FC_SCSI_BUSY		     0x08
#define FC_SCSI_RESERVATION_CONFLICT 0x18

/* Sense keys. */
#define FC_SK_NOT_READY	      0x2
#define FC_SK_ILLEGAL_REQUEST 0x5
#define FC_SK_UNIT_ATTENTION  0x6

void fc_pr_in_cdb(uint8_t cdb[FC_PR_CDB_LEN], enum fc_prin_sa sa,
		  uint16_t alloc_len);
void fc_pr_out_cdb(uint8_t cdb[FC_PR_CDB_LEN], enum fc_prout_sa sa,
		   unsigned type);
void fc_pr_out_params(uint8_t p[FC_PR_PARAM_LEN], uint64_t key, uint64_t sa_key,
		      bool aptpl);

struct fc_pr_keys {
	uint32_t generation;
	size_t total; /* keys the device has */
	size_t n;     /* keys in keys[]: fewer when the buffer cut them */
	uint64_t keys[FC_PR_KEYS_MAX];
};

struct fc_pr_resv {
	uint32_t generation;
	bool held;
	uint64_t key; /* the holder's key (0 for the all-registrants types) */
	unsigned scope, type;
};

/* 0, or -EBADMSG for a response too short or inconsistent. */
int fc_pr_parse_keys(const uint8_t *buf, size_t len, struct fc_pr_keys *out);
int fc_pr_parse_resv(const uint8_t *buf, size_t len, struct fc_pr_resv *out);

struct fc_pr_sense {
	bool valid;
	uint8_t key, asc, ascq;
};

/* Fixed (0x70/0x71) or descriptor (0x72/0x73) format.  0, or -EBADMSG. */
int fc_pr_sense_parse(const uint8_t *sb, size_t len, struct fc_pr_sense *out);

/* What one command's answer means for a sequence. */
enum fc_pr_outcome {
	FC_PRO_GOOD,
	FC_PRO_CONFLICT,    /* RESERVATION CONFLICT */
	FC_PRO_UNIT_ATTN,   /* retry once */
	FC_PRO_UNSUPPORTED, /* ILLEGAL REQUEST, invalid opcode: no PR */
	FC_PRO_INVALID,	    /* ILLEGAL REQUEST, invalid field (APTPL, ...) */
	FC_PRO_NOT_READY,
	FC_PRO_ERROR, /* any other status or sense */
};

enum fc_pr_outcome fc_pr_classify(uint8_t status, const uint8_t *sb,
				  size_t sb_len, struct fc_pr_sense *sense);
const char *fc_pr_outcome_name(enum fc_pr_outcome o);
const char *fc_pr_type_name(unsigned type);

/* A non-zero key from a node id (FNV-1a 64), for a section without <key>;
 * 0 when id is NULL or empty. */
uint64_t fc_pr_key_from_node(const char *id);

/* ---- sequences ---- */

enum fc_pr_dir { FC_PR_FROM_DEV, FC_PR_TO_DEV };

struct fc_pr_io {
	/*
	 * Sends one command.  0 with *status and sense[0..*sense_len) set
	 * (and buf filled for FC_PR_FROM_DEV), or -errno when it could not
	 * be sent: -ENOTTY or -EINVAL from a device without SG_IO.
	 */
	int (*exec)(void *arg, const uint8_t *cdb, size_t cdb_len,
		    enum fc_pr_dir dir, uint8_t *buf, size_t len,
		    uint8_t *status, uint8_t *sense, size_t *sense_len);
	void *arg;
	/* A line for the log; level E, W, N or I. */
	void (*note)(void *arg, char level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	void *note_arg;
	const char *dev; /* named in the notes */
	/* Learned from the device, kept across sequences: fall back once. */
	bool no_aptpl;
	bool no_abort;
};

/*
 * Each returns 0 or a negative errno, with a note saying why:
 * -EOPNOTSUPP  the device has no persistent reservations (no SG_IO, or
 *              an invalid opcode)
 * -EBUSY       RESERVATION CONFLICT where none was expected
 * -EIO         any other failure
 */
/* REGISTER AND IGNORE EXISTING KEY with key (APTPL, unless refused). */
int fc_pr_register(struct fc_pr_io *io, uint64_t key);
/* Registers, then reserves type, or preempts another holder (PREEMPT AND
 * ABORT, else PREEMPT) into type.  *preempted: the key taken over, or 0. */
int fc_pr_acquire(struct fc_pr_io *io, uint64_t key, unsigned type,
		  uint64_t *preempted);
/* After fc_pr_acquire (promote and fence_peer): preempts every other
 * registered key, so that no other node keeps write access through a
 * registrants-only type, also after a clean handover where nobody was
 * preempted.  A key gone before its PREEMPT is skipped.  *removed: how
 * many. */
int fc_pr_fence_others(struct fc_pr_io *io, uint64_t key, unsigned type,
		       unsigned *removed);
/* Releases type when key holds it; not holding it, or not registered any
 * more (preempted), is not an error. */
int fc_pr_release(struct fc_pr_io *io, uint64_t key, unsigned type);
/* Removes this path's registration (and with it a reservation it holds). */
int fc_pr_unregister(struct fc_pr_io *io);
/* Reads the reservation. */
int fc_pr_read_resv(struct fc_pr_io *io, struct fc_pr_resv *out);
int fc_pr_read_keys(struct fc_pr_io *io, struct fc_pr_keys *out);

#endif
