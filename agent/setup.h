/*
 * The unconfigured agent (`cmsd --unconfigured`): see setup.c.
 */
#ifndef CMSD_AGENT_SETUP_H
#define CMSD_AGENT_SETUP_H

/* Runs the unconfigured agent with the whole command line (main.c hands it
 * over when --unconfigured is among the arguments).  Returns the exit code;
 * does not return when setup committed (exec of the configured agent). */
int setup_main(int argc, char **argv);

#endif
