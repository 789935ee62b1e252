/*
 * iscsi_writer: stands in for a node's kernel iSCSI session in the cluster
 * tests (the kernel initiator cannot run there).  Production registers the
 * kernel's session with the node's key on promote (storage-iscsi(5)); the
 * writes of that session are what the fence must stop.
 *
 *   iscsi_writer URL INITIATOR KEY
 *	URL is iscsi://ADDR:PORT/IQN/LUN, KEY 0xHEX.  Logs in as INITIATOR,
 *	consumes the unit attentions of a new session, registers KEY with
 *	PERSISTENT RESERVE OUT REGISTER AND IGNORE EXISTING KEY and prints
 *	"READY"; then reads commands from stdin, one a line, and answers
 *	each with one line:
 *	  write   WRITE (10) of block 0: "GOOD", "RESERVATION_CONFLICT",
 *	          "STATUS 0xNN" (another SCSI status) or "ERROR text" (no
 *	          answer: the session is gone)
 *	Exits 0 at end of input, 1 when login or registration fails
 *	("ERROR text"), 2 on a usage error.
 *
 * One session for the process's whole life, never reconnected: tgt ties a
 * registration to the session (I_T nexus), so a new session would not be
 * the one the fence has to stop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static int is_ua(struct scsi_task *t)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION &&
	       t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

/* A unit attention (the preemption of our key is one) is reported once
 * per session; the command is retried after it, as an initiator does. */
static int do_write(struct iscsi_context *c, int lun)
{
	unsigned char buf[512];
	struct scsi_task *t = NULL;
	int st;

	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 3; i++) {
		if (t)
			scsi_free_scsi_task(t);
		t = iscsi_write10_sync(c, lun, 0, buf, sizeof(buf), 512, 0, 0,
				       0, 0, 0);
		if (!is_ua(t))
			break;
	}
	if (!t) {
		printf("ERROR %s\n", iscsi_get_error(c));
		return -1;
	}
	st = t->status;
	scsi_free_scsi_task(t);
	if (st == SCSI_STATUS_GOOD)
		printf("GOOD\n");
	else if (st == SCSI_STATUS_RESERVATION_CONFLICT)
		printf("RESERVATION_CONFLICT\n");
	else
		printf("STATUS 0x%02x\n", st);
	return 0;
}

static int do_register(struct iscsi_context *c, int lun, uint64_t key)
{
	struct scsi_persistent_reserve_out_basic p = {0};
	struct scsi_task *t = NULL;
	int st = -1;

	p.service_action_reservation_key = key;
	for (int i = 0; i < 3; i++) {
		if (t)
			scsi_free_scsi_task(t);
		t = iscsi_persistent_reserve_out_sync(
			c, lun,
			SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY,
			SCSI_PERSISTENT_RESERVE_SCOPE_LU, 0, &p);
		if (!is_ua(t))
			break;
	}
	if (t) {
		st = t->status;
		scsi_free_scsi_task(t);
	}
	return st;
}

int main(int argc, char **argv)
{
	struct iscsi_context *c;
	struct iscsi_url *u;
	char line[256], *end;
	uint64_t key;
	int lun, st;

	if (argc != 4) {
		fprintf(stderr, "usage: iscsi_writer URL INITIATOR KEY\n");
		return 2;
	}
	key = strtoull(argv[3], &end, 16);
	if (*argv[3] == '\0' || *end != '\0' || key == 0) {
		fprintf(stderr, "iscsi_writer: bad key \"%s\"\n", argv[3]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	c = iscsi_create_context(argv[2]);
	if (!c) {
		printf("ERROR no iSCSI context\n");
		return 1;
	}
	u = iscsi_parse_full_url(c, argv[1]);
	if (!u) {
		fprintf(stderr, "iscsi_writer: bad URL \"%s\": %s\n", argv[1],
			iscsi_get_error(c));
		return 2;
	}
	/* An ISID of its own: the agent's session uses the same initiator
	 * name, and the same (name, ISID) would reinstate (end) it. */
	iscsi_set_isid_random(c, (uint32_t)getpid() ^ (uint32_t)time(NULL), 0);
	iscsi_set_targetname(c, u->target);
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_noautoreconnect(c, 1);
	iscsi_set_timeout(c, 5);
	lun = u->lun;
	if (iscsi_full_connect_sync(c, u->portal, lun) != 0) {
		printf("ERROR login to %s as %s: %s\n", u->portal, argv[2],
		       iscsi_get_error(c));
		return 1;
	}
	iscsi_destroy_url(u);
	for (int i = 0; i < 5; i++) { /* the new session's unit attentions */
		struct scsi_task *t = iscsi_testunitready_sync(c, lun);

		st = t ? t->status : -1;
		if (t)
			scsi_free_scsi_task(t);
		if (st == SCSI_STATUS_GOOD)
			break;
	}
	st = do_register(c, lun, key);
	if (st != SCSI_STATUS_GOOD) {
		printf("ERROR register 0x%016" PRIx64 ": status %d %s\n", key,
		       st, st < 0 ? iscsi_get_error(c) : "");
		return 1;
	}
	printf("READY\n");
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "write") == 0)
			do_write(c, lun);
		else if (line[0])
			printf("ERROR unknown command \"%s\"\n", line);
	}
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
	return 0;
}
