/* cmsadm's pieces shared between its files. */
#ifndef CMSD_CMSADM_H
#define CMSD_CMSADM_H

#include <stdbool.h>

/* Sends request and prints the reply body (stdout) or why not (stderr:
 * "cmsadm: failed to connect to cmsd" when no daemon answers).  0 or 1,
 * the exit status. */
int cmsadm_call(const char *sock, const char *request);
/* The same, but the body is returned (malloc'd) instead of printed when
 * the daemon answered OK; errors are printed.  0 or 1. */
int cmsadm_query(const char *sock, const char *request, char **body);

/* stop, start, maintenance (ops.c). */
bool cmsadm_ops_command(const char *cmd);
/* argv[0] is the command; returns the exit status. */
int cmsadm_ops(const char *sock, int argc, char **argv);

/* sync-partition add|remove r1 (syncpart.c); argv[0] is "sync-partition". */
int cmsadm_syncpart(const char *sock, int argc, char **argv);

#endif
