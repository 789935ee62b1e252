/* cmsadm setup (setup.c). */
#ifndef CMSADM_SETUP_CMD_H
#define CMSADM_SETUP_CMD_H

/* argv[0] is "setup"; sock the control socket to watch the new pair on. */
int setup_cmd(int argc, char **argv, const char *sock);

#endif
