/*
 * The unconfigured agent (`cmsd --unconfigured`): see setup.c.
 */
#ifndef CMSD_AGENT_SETUP_H
#define CMSD_AGENT_SETUP_H

#include <stddef.h>

/* Runs the unconfigured agent with the whole command line (main.c hands it
 * over when --unconfigured is among the arguments).  Returns the exit code;
 * does not return when setup committed (exec of the configured agent). */
int setup_main(int argc, char **argv);

/* "name,name,..." of the plugins (*.so) in dir (NULL: $CMSD_PLUGIN_DIR,
 * else the built-in directory), sorted: the "components" fact, also what
 * `cmsadm recover` compares the peer's with. */
void setup_components(const char *dir, char *out, size_t len);

#endif
