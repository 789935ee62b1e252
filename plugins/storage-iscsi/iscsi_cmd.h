/*
 * iscsi_cmd: the kernel initiator's command lines as storage-iscsi runs them
 * (<block-device>iscsiadm</block-device>), built apart from the plugin so
 * that a unit test checks them word by word: the kernel initiator cannot be
 * loaded where the tests run.  Pure: no I/O.
 */
#ifndef CMSD_ISCSI_CMD_H
#define CMSD_ISCSI_CMD_H

#include <stddef.h>
#include <stdint.h>

/* Debian's locations (open-iscsi, sg3-utils). */
#define ISCSI_CMD_ISCSIADM   "/usr/sbin/iscsiadm"
#define ISCSI_CMD_SG_PERSIST "/usr/bin/sg_persist"
/* The kernel initiator's own name, read by iscsid. */
#define ISCSI_CMD_INITIATORNAME "/etc/iscsi/initiatorname.iscsi"
/* iscsiadm's ISCSI_ERR_SESS_EXISTS: "already logged in", not a failure. */
#define ISCSI_CMD_EXIT_SESS_EXISTS 15

#define ISCSI_CMD_ARGS 10

/* One command line: argv points into buf.  Valid while the struct lives. */
struct iscsi_cmd {
	const char *argv[ISCSI_CMD_ARGS];
	char buf[640];
};

/* The portal as iscsiadm takes it: ADDR:PORT, [V6]:PORT for IPv6. */
void iscsi_cmd_portal(char *out, size_t len, const char *addr, unsigned port);
/* iscsiadm -m discovery -t st -p PORTAL */
void iscsi_cmd_discovery(struct iscsi_cmd *c, const char *addr, unsigned port);
/* iscsiadm -m node -T IQN -p PORTAL --login */
void iscsi_cmd_login(struct iscsi_cmd *c, const char *iqn, const char *addr,
		     unsigned port);
/* sg_persist --out --no-inquiry --register-ignore --param-sark=0xKEY DEV:
 * registers the kernel's session (the block device's I_T nexus) with key,
 * so that it may write under a registrants-only reservation. */
void iscsi_cmd_register(struct iscsi_cmd *c, uint64_t key, const char *dev);
/* udev's link for the LUN of the kernel's session:
 * /dev/disk/by-path/ip-ADDR:PORT-iscsi-IQN-lun-N (an IPv6 ADDR without
 * brackets, as udev writes it). */
void iscsi_cmd_device(char *out, size_t len, const char *addr, unsigned port,
		      const char *iqn, unsigned lun);
/* The name in an initiatorname.iscsi text ("InitiatorName=IQN", comments
 * with '#'), into out; 0, or -ENOENT when the text names none. */
int iscsi_cmd_initiatorname(const char *text, char *out, size_t len);

#endif
