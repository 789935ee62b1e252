/*
 * Helpers the bundled plugins share: checks of common value shapes, and the
 * runtime ops of plugins whose runtime is not in this build yet.  Linked
 * statically into each plugin; not part of the SDK.
 */
#ifndef CMSD_PLUGIN_UTIL_H
#define CMSD_PLUGIN_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <cmsd/plugin.h>

/* Every bundled plugin's instance starts with this. */
struct pu_base {
	const struct cmsd_host *host;
	unsigned warned;   /* ops already reported as not implemented */
	const char *issue; /* where the runtime is planned, for the log */
};

/* Each returns the number of errors it reported (0 or 1). */
int pu_abs_path(const struct cmsd_host *h, const struct cmsd_conf *c,
		const char *key, bool required, const char **out);
/* ADDR:PORT or [V6]:PORT; default_port 0: the port is required. */
int pu_addr_port(const struct cmsd_host *h, const struct cmsd_conf *c,
		 const char *key, bool required, uint16_t default_port);
/* Splits ADDR[:PORT] / [V6][:PORT] into addr and *port (default_port when
 * absent).  0, -EDESTADDRREQ when the port is missing and default_port is 0,
 * or -EINVAL. */
int pu_split_addr_port(const char *v, char *addr, size_t addr_len,
		       uint16_t *port, uint16_t default_port);
/* Splits a command line on spaces and tabs into a NULL-terminated argv (no
 * shell, no quoting).  One allocation: free() the result.  NULL: ENOMEM. */
char **pu_argv_split(const char *cmd);
/* An IPv4 or IPv6 literal in the text of conf element e (not a key). */
bool pu_is_ip(const char *s);
/* An absolute command line "PATH ARGS..."; a PATH missing on this host is
 * only a warning: the same file is checked where the package is absent. */
int pu_command(const struct cmsd_host *h, const struct cmsd_conf *c,
	       const char *key, bool required);
/* A text that must not hold spaces or '/' (units, interface names). */
int pu_word(const struct cmsd_host *h, const struct cmsd_conf *c,
	    const char *key, bool required, size_t max_len);
/* An iSCSI name: iqn.YYYY-MM.reverse.domain[:anything] */
bool pu_is_iqn(const char *s);

/* <key>: a SCSI-3 reservation key, 0x and 1..16 hex digits, not zero;
 * *key = 0 when absent.  Returns the number of errors reported (0 or 1). */
int pu_pr_key(const struct cmsd_host *h, const struct cmsd_conf *c,
	      uint64_t *key);

/* init for plugins whose instance is only a pu_base. */
int pu_base_init(const struct cmsd_host *h, const char *issue, void **inst);
void pu_base_destroy(void *inst);

/* Runtime ops answering -EOPNOTSUPP, logged once per op. */
int pu_unimpl_start(void *inst, struct cmsd_op *op);
int pu_unimpl_stop(void *inst, struct cmsd_op *op);
int pu_unimpl_monitor(void *inst, struct cmsd_op *op);
int pu_unimpl_promote(void *inst, struct cmsd_op *op, int force);
int pu_unimpl_demote(void *inst, struct cmsd_op *op);
int pu_unimpl_status(void *inst, struct cmsd_op *op,
		     struct cmsd_storage_status *out);
int pu_unimpl_vote(void *inst, struct cmsd_op *op,
		   const struct cmsd_vote_request *req, struct cmsd_vote *out);

#endif
