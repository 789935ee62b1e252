/*
 * cmsd: start-up, --check, and the hand-over to the running daemon.
 * cmsd runs in the foreground (systemd starts it as Type=simple); logs go
 * to syslog, to the log file of the configuration and to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "conf.h"
#include "daemon.h"
#include "loader.h"
#include "log.h"
#include "setup.h"
#include "syncpart.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cmsd [-c FILE] [-p PLUGIN_DIR] [-n NODE_ID] [-f] [-d] "
		"[--check]\n"
		"       cmsd --unconfigured-if-missing [-c FILE] [-p DIR] [-d] "
		"[options]\n"
		"       cmsd --unconfigured [-c FILE] [-p DIR] [options]  (see "
		"cmsd --unconfigured -h)\n"
		"       cmsd --version | -h\n"
		"  -c, --config FILE      configuration (default %s)\n"
		"  -p, --plugin-dir DIR   plugin directory (overrides "
		"$CMSD_PLUGIN_DIR and the config)\n"
		"  -n, --node ID          this node's id (overrides node= in "
		"the config)\n"
		"  -f, --foreground       accepted for compatibility: cmsd "
		"always runs\n"
		"                         in the foreground (systemd "
		"Type=simple)\n"
		"  -d, --debug            debug logging\n"
		"      --check            validate the configuration and exit: "
		"0 valid, 1 errors\n"
		"      --unconfigured-if-missing  no FILE at all (ENOENT): run "
		"as\n"
		"                         cmsd --unconfigured -c FILE [-p DIR] "
		"[-d] (the\n"
		"                         systemd unit's mode: one unit before "
		"and after\n"
		"                         cmsadm setup)\n"
		"      --compute-hook PATH  the platform's \"is this host a "
		"compute host\" script\n"
		"                         for cmsadm sync-partition add "
		"(default %s)\n",
		CONF_DEFAULT_PATH, SYNCPART_HOOK);
}

/* arg: non-NULL when starting (not --check), so that the errors also reach
 * syslog: the log file is named by the very configuration that failed. */
static void print_error(const char *msg, void *arg)
{
	fprintf(stderr, "%s\n", msg);
	if (arg)
		syslog(LOG_ERR, "%s", msg);
}

/* --unconfigured-if-missing: true when path does not exist at all.  Only
 * ENOENT counts, and lstat so that a dangling symlink counts as present: a
 * config that exists but cannot be read (permissions, a broken link, a
 * directory, an I/O error) must stop the start as it does without the
 * option, never turn a configured host into one that waits for setup. */
static bool main_config_missing(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 && errno == ENOENT;
}

/* The setup agent with the defaults of `cmsd --unconfigured` and the
 * options both modes share; setup_main does not return on COMMIT (it execs
 * `cmsd -c FILE [-p DIR] [-d]`, which finds the file it just wrote). */
static int main_run_unconfigured(char *argv0, const char *path,
				 const struct conf_overrides *ov, bool debug)
{
	char *sargv[8];
	int i = 0;

	sargv[i++] = argv0;
	sargv[i++] = "--unconfigured";
	sargv[i++] = "-c";
	sargv[i++] = (char *)path;
	if (ov->plugin_dir) {
		sargv[i++] = "-p";
		sargv[i++] = (char *)ov->plugin_dir;
	}
	if (debug)
		sargv[i++] = "-d";
	sargv[i] = NULL;
	return setup_main(i, sargv);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"plugin-dir", required_argument, NULL, 'p'},
		{"node", required_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'f'},
		{"debug", no_argument, NULL, 'd'},
		{"check", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{"compute-hook", required_argument, NULL, 'H'},
		{"unconfigured-if-missing", no_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	const char *const default_path = CONF_DEFAULT_PATH;
	const char *path = default_path;
	struct conf_overrides ov = {0};
	struct log_options lo = {.ident = "cmsd", .to_stderr = true};
	bool check = false, if_missing = false;
	struct conf *conf = NULL;
	char *abspath = NULL;
	int c, n, rc;

	/* A host without a cluster yet: the setup agent takes the whole
	 * command line (its own options, see setup.c). */
	for (c = 1; c < argc; c++)
		if (strcmp(argv[c], "--unconfigured") == 0)
			return setup_main(argc, argv);
	while ((c = getopt_long(argc, argv, "c:p:n:fdh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			ov.plugin_dir = optarg;
			break;
		case 'n':
			ov.local_node = optarg;
			break;
		case 'f':
			/* Always foreground: systemd supervises the process
			 * (Type=simple), and a fork would only hide the exit
			 * code of a refused start. */
			break;
		case 'd':
			lo.verbosity = 1;
			break;
		case 'C':
			check = true;
			break;
		case 'H':
			syncpart_set_hook(optarg);
			break;
		case 'U':
			if_missing = true;
			break;
		case 'V':
			printf("cmsd %s (plugin ABI %d.%d)\n", CMSD_VERSION,
			       CMSD_ABI_MAJOR, CMSD_ABI_MINOR);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* DESIGN.md writes "cmsd --check FILE": take the file without -c
	 * too, for --check only, and only when -c did not name one. */
	if (check && optind == argc - 1 && path == default_path)
		path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "cmsd: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check && if_missing) {
		/* --check validates a file; waiting for setup is no answer */
		fprintf(stderr, "cmsd: --check and --unconfigured-if-missing "
				"do not go together\n");
		usage(stderr);
		return 2;
	}
	/* Until the config names the log file, only stderr. */
	log_open(&lo);
	if (!check)
		openlog("cmsd", LOG_PID, LOG_DAEMON);
	if (if_missing && main_config_missing(path)) {
		/* One line in the journal that says why this host waits for
		 * setup instead of running a cluster. */
		log_open(&(struct log_options){.ident = "cmsd",
					       .to_stderr = true,
					       .to_syslog = true,
					       .verbosity = lo.verbosity});
		log_info("no configuration at %s (%s): starting unconfigured "
			 "(--unconfigured-if-missing), as cmsd --unconfigured "
			 "-c %s; cmsadm setup on the master configures this "
			 "host",
			 path, strerror(ENOENT), path);
		log_close();
		return main_run_unconfigured(argv[0], path, &ov,
					     lo.verbosity > 0);
	}
	n = conf_load(path, &ov, print_error, check ? NULL : &ov, &conf);
	if (n) {
		/* --check prints the errors and nothing else, one per line,
		 * for scripts and editors that parse FILE:LINE. */
		if (!check) {
			fprintf(stderr,
				"cmsd: %d error%s in %s: not starting\n", n,
				n == 1 ? "" : "s", path);
			syslog(LOG_ERR, "%d error%s in %s: not starting", n,
			       n == 1 ? "" : "s", path);
		}
		loader_shutdown();
		return 1;
	}
	if (check) {
		printf("%s: configuration valid\n", path);
		log_debug("%s mode, %zu instance%s, plugins from %s",
			  conf->mode == CONF_MODE_ARBITER ? "arbiter" : "node",
			  conf->n_inst, conf->n_inst == 1 ? "" : "s",
			  conf->plugin_dir);
		conf_free(conf);
		loader_shutdown();
		return 0;
	}
	/* Reloads read the same file whatever the working directory, and
	 * status shows where it is. */
	abspath = realpath(path, NULL);
	if (abspath)
		path = abspath;
	lo.file = conf->log_file;
	lo.to_syslog = true;
	if ((rc = log_open(&lo)) < 0)
		log_warnx("cannot open log file %s: %s; logging to syslog and "
			  "stderr only",
			  conf->log_file, strerror(-rc));
	syncpart_set_argv(argv);
	rc = daemon_run(conf, path, &ov);
	loader_shutdown();
	/* cmsadm sync-partition: the new config applies by an exec of the
	 * same command line (a two-node cluster refuses a reload that
	 * changes instances). */
	syncpart_reexec_if_wanted();
	log_close();
	free(abspath);
	return rc;
}
