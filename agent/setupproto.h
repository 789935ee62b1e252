/*
 * The setup channel: `cmsadm setup` <-> an unconfigured cmsd (setup.c),
 * over TLS 1.3 to the agent's self-signed setup certificate, which the
 * client pins by its SHA-256 fingerprint (`cmsd --unconfigured
 * --show-fingerprint` prints it on the host).
 *
 * A message each way is a 4-byte big-endian length (<= SETUP_MAX_MSG)
 * followed by that many bytes: one request or reply line (printable ASCII,
 * words separated by one space, at most SETUP_MAX_LINE bytes), "\n", then
 * an optional body of any bytes.  One reply per request, in order.
 *
 * Requests (only AUTH before the connection is authenticated):
 *   AUTH root  body: the host's root password      -> OK | ERR reason
 *   AUTH token body: the local token file's text     -> OK | ERR reason
 *   FACTS      -> OK, body: key=value lines (see setup.c)
 *   HOOK       -> OK, body: "status=ok|fail|absent\noutput=..."
 *   PROBE ADDR PORT: a TCP connect from the host to ADDR:PORT
 *              -> OK | ERR reason
 *   PUT RELPATH MODE  body: file content; RELPATH under the config
 *              file's directory (letters, digits, . _ - /, no ..), MODE
 *              octal -> OK | ERR reason
 *   WIPE DEVICE: zeroes the first and last MiB of DEVICE, which the
 *              written config must name as a storage-drbd <disk>
 *              (setup_wipe.c; `cmsadm recover`) -> OK | ERR reason
 *   PARTITION DISK SIZE_MIB LABEL: the GPT partition named LABEL of at
 *              least SIZE_MIB MiB on the whole disk DISK (/dev/...), made
 *              in its free space with sfdisk or reused when one exists
 *              (setup_part.c; `cmsadm setup` and `cmsadm recover`, for the
 *              DRBD database partition "cmsd-db")
 *              -> OK, body: "device=PATH\npartition=/dev/KNAME\n
 *              number=N\nsize_mib=N\nstate=created|reused\n" (device:
 *              /dev/disk/by-partlabel/LABEL when udev made it for this
 *              partition, else the kernel's name) | ERR reason
 *   INITIATOR IQN: writes /etc/iscsi/initiatorname.iscsi
 *              ("InitiatorName=IQN") -> OK | ERR reason
 *   CHECK      -> OK | ERR the errors of `cmsd --check` of the config
 *   COMMIT     -> OK | ERR ...; after OK the agent restarts itself in
 *              configured mode (exec of cmsd -c CONFIG)
 * Replies: "OK" or "ERR reason" on the line.
 */
#ifndef CMSD_AGENT_SETUPPROTO_H
#define CMSD_AGENT_SETUPPROTO_H

#include <stdbool.h>
#include <stddef.h>

#define SETUP_PORT     7791
#define SETUP_MAX_MSG  (1u << 20)
#define SETUP_MAX_LINE 512

struct setup_msg {
	char line[SETUP_MAX_LINE + 1]; /* NUL-terminated */
	const char *body;	       /* points into the payload */
	size_t body_len;
};

/* Splits a payload.  0, or -EBADMSG (no "\n" within SETUP_MAX_LINE, or a
 * byte outside printable ASCII on the line). */
int setup_msg_parse(const void *payload, size_t len, struct setup_msg *m);

/* The value of `key` in a body of key=value lines, copied to out (NUL-
 * terminated, truncated).  true when found. */
bool setup_kv_get(const char *body, size_t len, const char *key, char *out,
		  size_t outlen);

/* true when rel is a safe relative path for PUT. */
bool setup_relpath_ok(const char *rel);

/* In a `cmsadm status` text: the first replicated storage that is
 * resyncing ("replica: ID: ... syncing N%"): true, its id and N. */
bool setup_status_syncing(const char *status, char *id, size_t idlen,
			  int *percent);

/* In a `cmsadm status` text: every "replica:" line reads Connected with
 * both disks UpToDate and no resync running (what `cmsadm recover` waits
 * for).  *n: the number of replica lines (0 is vacuously in sync). */
bool setup_status_in_sync(const char *status, int *n);

#endif
