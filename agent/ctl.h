/*
 * The control socket: a unix stream socket, mode 0600, whose every client is
 * checked with SO_PEERCRED (root only).  Requests and replies as described
 * in ctlproto.h.
 */
#ifndef CMSD_CTL_H
#define CMSD_CTL_H

#include "ctlproto.h"

struct ctl;

/* Answers one parsed request (its arguments in *args) into *reply (the
 * body after "OK <n>\n").  Returns 0, or -errno with a message in reply
 * for "ERR". */
typedef int (*ctl_handler_fn)(enum ctl_req req, const struct ctl_args *args,
			      struct sbuf *reply, void *arg);

/*
 * Creates the socket at path.  A stale socket file is replaced; one that a
 * running cmsd answers on is not (-EADDRINUSE, message in err).
 */
int ctl_open(const char *path, ctl_handler_fn fn, void *arg, struct ctl **out,
	     char *err, size_t errlen);
/* Closes the socket, drops the clients and unlinks the file. */
void ctl_close(struct ctl *c);

#endif
