/*
 * `cmsadm sync-partition add|remove r1`: the local sync partition for
 * templates, a second storage-drbd resource beside the database partition
 * r0 (DESIGN.md §2 row 6, docs/decisions.md "sync partition").
 *
 * The pure parts (syncpart_edit.c): the reference's refusals as functions
 * of what the config says and what each node found (its disk, its mounts,
 * its compute-host hook), the facts' one-line wire form, and the edit of
 * the XML file that adds or removes the <storage> element (libxml2, the
 * rest of the file and its comments kept).
 *
 * The agent's part (syncpart.c): the control requests of cmsadm, the
 * questions to the peer over the control channel (WIRE_CMD_SYNCPART_*),
 * the atomic replace of the config after the same loader has validated it,
 * and the restart of the agent (exec of itself, as setup's commit) that
 * applies it.
 */
#ifndef CMSD_AGENT_SYNCPART_H
#define CMSD_AGENT_SYNCPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ctlproto.h"
#include "wire.h"

#define SYNCPART_NAME	       "r1"
#define SYNCPART_DB	       "r0"
#define SYNCPART_DEFAULT_MOUNT "/vms/sync"
#define SYNCPART_DEFAULT_PORT  7790
/* The platform's answer to "is this host also a compute host?": exit 0
 * no, exit 1 yes (its output says why), anything else: cannot tell.  An
 * absent hook means a host without the platform's compute role.  Same
 * convention as setup's --precheck-hook; cmsd --compute-hook PATH. */
#define SYNCPART_HOOK	 "/usr/lib/cmsd/compute-host-check"
#define SYNCPART_HOOK_MS 30000

/* What the config says (syncpart_scan). */
struct syncpart_view {
	char r1_id[64];	 /* the storage-drbd element with r1, "" none */
	char lun_id[64]; /* the first storage-fc/-iscsi element, "" none */
	char lun_plugin[32];
	char r0_disk[256]; /* this node's disk of r0, "" none */
};

/* What one node found about DEV. */
struct syncpart_facts {
	int present;	      /* 1 a block device, 0 absent, -1 not a block
				 device */
	uint64_t size;	      /* bytes */
	char mounted_on[256]; /* "" when not mounted */
	bool r0;	      /* it is r0's disk on that node */
	int compute;	      /* 0 no, 1 a compute host, -1 cannot tell */
	char why[384];	      /* the hook's words (one line) */
};

/* A new element's values (syncpart_xml_add fills id, and minor and port
 * when port is 0). */
struct syncpart_new {
	char disk[256];
	char mount[256];
	char id[64];
	unsigned minor, port;
};

void syncpart_scan(const struct conf *c, struct syncpart_view *v);

/* The refusals that the config alone decides: the name, "only one", a
 * LUN (add); r1 configured (remove).  0, or -EINVAL with the message. */
int syncpart_check_conf(const struct syncpart_view *v, bool add,
			const char *name, char *msg, size_t len);
/* The refusals of the disks, on this node (l) and its peer (p).  0, or
 * -EINVAL with the message naming the node and what. */
int syncpart_check_facts(const char *dev, const char *node,
			 const struct syncpart_facts *l, const char *peer,
			 const struct syncpart_facts *p, char *msg, size_t len);

/* The facts as one line of key=value words and back (the peer's reply).
 * parse: 0 or -EPROTO. */
void syncpart_facts_format(const struct syncpart_facts *f, char *buf,
			   size_t len);
int syncpart_facts_parse(const char *s, struct syncpart_facts *f);

/* In /proc/self/mountinfo's text: where the device maj:min is mounted
 * (the first mount point), true when it is. */
bool syncpart_mountinfo_find(const char *text, unsigned maj, unsigned min,
			     char *where, size_t len);

/* Reads the XML file in, adds (n: disk and mount given; id, minor and port
 * chosen here and written back) or removes the r1 element, and writes the
 * result to out (a new file).  The other keys of r0's element that are
 * site settings (config-dir, drbd-version, drbdadm...) are copied so that
 * both resources are driven alike.  0 or -errno with the message. */
int syncpart_xml_add(const char *in, const char *out, struct syncpart_new *n,
		     char *err, size_t errlen);
/* removed: the element's keys the wipe needs: drbdadm program and the
 * resource file, "" when absent. */
int syncpart_xml_remove(const char *in, const char *out, char *drbdadm,
			size_t dlen, char *resfile, size_t rlen, char *err,
			size_t errlen);

/* ---- the agent's part (syncpart.c) ---- */

/* main.c: the command line to exec again, and --compute-hook. */
void syncpart_set_argv(char **argv);
void syncpart_set_hook(const char *path);
/* daemon.c: the running config (again after every reload). */
void syncpart_set_conf(const struct conf *c, const char *path,
		       const struct conf_overrides *ov);
/* A "sync-partition ..." request (the words after it in line). */
int syncpart_ctl(const char *line, struct sbuf *reply);
/* cluster.c: a WIRE_T_CMD with a WIRE_CMD_SYNCPART_* and a reply. */
void syncpart_peer_cmd(const struct wire_msg *m);
void syncpart_peer_reply(const struct wire_msg *m);
/* main.c: after daemon_run returned, exec again when asked (does not
 * return then). */
void syncpart_reexec_if_wanted(void);

#endif
