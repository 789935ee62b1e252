/* cmsadm recover (recover.c). */
#ifndef CMSADM_RECOVER_CMD_H
#define CMSADM_RECOVER_CMD_H

/* argv[0] is "recover"; sock this node's control socket. */
int recover_cmd(int argc, char **argv, const char *sock);

#endif
