/*
 * cmsadm: the operator's command line, a client of cmsd's control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmsadm.h"
#include "ctlproto.h"
#include "handler.h"
#include "overview.h"
#include "recover_cmd.h"
#include "setup_cmd.h"

#define CMSADM_TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cmsadm [-s SOCKET] COMMAND\n"
		"commands:\n"
		"  status [--json]   the cluster, its nodes and resources\n"
		"  switchover        hand mastership to the other node (run "
		"on\n"
		"                    either node; the master stops the group,\n"
		"                    releases its lease, the slave takes "
		"over)\n"
		"  events            recent role changes, with times and "
		"reasons\n"
		"  role              one line: node role epoch serving|idle\n"
		"  stop [--no-wait] [--timeout S]\n"
		"                    stop HA on both nodes, keeping the pair: "
		"the\n"
		"                    master stops its group, neither node "
		"takes\n"
		"                    over (also after a restart) until start\n"
		"  start [--no-wait] [--timeout S]\n"
		"                    start HA again (the master of before "
		"first)\n"
		"  maintenance on|off\n"
		"                    on: resources keep running, failures are\n"
		"                    shown but not acted on (no restart, no\n"
		"                    failover); off: acted on again\n"
		"  sync-partition add r1 --disk DEV [--mount DIR] [--yes]\n"
		"                    the local sync partition for templates\n"
		"                    (DRBD r1, DEV of the same name and size "
		"on\n"
		"                    both nodes, DIR default /vms/sync): "
		"checks,\n"
		"                    stops HA, writes both configs, restarts\n"
		"                    both agents, starts HA\n"
		"  sync-partition remove r1 [--yes]\n"
		"                    the reverse; r1's DRBD metadata is wiped\n"
		"  drbd-overview     one line per DRBD volume, read from this\n"
		"                    host (drbdsetup, /proc/drbd, the mounts)\n"
		"  drbd-handler HOOK [RESOURCE]\n"
		"                    DRBD's handler hook (fence-peer,\n"
		"                    split-brain, ...; RESOURCE defaults to\n"
		"                    $DRBD_RESOURCE): asks cmsd, exits with\n"
		"                    its answer\n"
		"  version           the versions of cmsadm and cmsd\n"
		"  setup OPTIONS     make a hot-standby pair out of three "
		"hosts "
		"running\n"
		"                    `cmsd --unconfigured` (cmsadm setup "
		"--help)\n"
		"  recover --peer ADDR [OPTIONS]\n"
		"                    on the master: re-initialise a replaced\n"
		"                    peer running `cmsd --unconfigured` and\n"
		"                    resync it (cmsadm recover --help)\n"
		"  help              this text\n"
		"SOCKET defaults to $CMSD_SOCKET, else %s\n",
		CTL_DEFAULT_SOCKET);
}

/*
 * DRBD runs `cmsadm drbd-handler HOOK` with DRBD_RESOURCE, DRBD_MINOR,
 * DRBD_PEER_ADDRESS ... in the environment.  The hook goes to the local
 * cmsd, which decides; the exit code is the number its reply starts with.
 * "wait ..." means cmsd has no answer yet (the arbiter must first
 * acknowledge a generation): asked again every 500 ms, for as long as cmsd
 * keeps answering (DRBD keeps I/O frozen meanwhile, which is the point).
 * When cmsd cannot be asked, fence-peer exits 1, never "fenced".
 */
static int cmsadm_drbd_handler(const char *sock, const char *hook,
			       const char *res)
{
	const struct timespec pause = {0, 500 * 1000 * 1000};
	int unreachable = handler_unreachable_code(hook);
	char req[160];
	bool said = false;

	if (!handler_word_ok(hook) || !res || !handler_word_ok(res)) {
		fprintf(stderr,
			"cmsadm: drbd-handler: %s \"%s\" is not a word "
			"(A-Z a-z 0-9 _ . -, at most 63)\n",
			!handler_word_ok(hook) ? "hook" : "resource",
			!handler_word_ok(hook) ? hook
			: res		       ? res
					       : "");
		if (!res)
			fprintf(stderr, "cmsadm: drbd-handler: no resource: "
					"give RESOURCE or set "
					"DRBD_RESOURCE\n");
		return unreachable;
	}
	snprintf(req, sizeof(req), "drbd-handler %s %s", hook, res);
	for (;;) {
		char *body = NULL;
		int rc = ctl_client_call(sock, req, CMSADM_TIMEOUT_MS, &body);
		int code;

		if (rc != 0) {
			fprintf(stderr,
				"cmsadm: drbd-handler %s %s: %s%s: exit %d\n",
				hook, res,
				rc == 1 ? "cmsd refused: "
					: "failed to "
					  "connect to cmsd",
				rc == 1 && body ? body : "", unreachable);
			free(body);
			return unreachable;
		}
		code = handler_reply_code(body);
		if (code == HANDLER_WAIT) {
			if (!said)
				fprintf(stderr,
					"cmsadm: drbd-handler %s %s: "
					"%s",
					hook, res, body);
			said = true;
			free(body);
			nanosleep(&pause, NULL);
			continue;
		}
		if (code < 0) {
			fprintf(stderr,
				"cmsadm: drbd-handler %s %s: unexpected "
				"reply \"%s\": exit %d\n",
				hook, res, body, unreachable);
			free(body);
			return unreachable;
		}
		fputs(body, stdout);
		free(body);
		return code;
	}
}

int cmsadm_call(const char *sock, const char *request)
{
	char *body = NULL;
	int rc = cmsadm_query(sock, request, &body);

	if (rc == 0)
		fputs(body, stdout);
	free(body);
	return rc;
}

int cmsadm_query(const char *sock, const char *request, char **out)
{
	char *body = NULL;
	int rc = ctl_client_call(sock, request, CMSADM_TIMEOUT_MS, &body);

	*out = NULL;
	switch (rc) {
	case 0:
		*out = body;
		return 0;
	case 1:
		fprintf(stderr, "cmsadm: cmsd: %s", body);
		free(body);
		return 1;
	case -ETIMEDOUT:
		fprintf(stderr,
			"cmsadm: cmsd did not answer within %d s (%s)\n",
			CMSADM_TIMEOUT_MS / 1000, sock);
		return 1;
	case -EPROTO:
		fprintf(stderr, "cmsadm: cmsd sent a malformed reply (%s)\n",
			sock);
		return 1;
	default:
		fprintf(stderr, "cmsadm: failed to connect to cmsd\n");
		if (getenv("CMSADM_DEBUG"))
			fprintf(stderr, "cmsadm: %s: %s\n", sock,
				strerror(-rc));
		return 1;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = getenv("CMSD_SOCKET");
	int c;

	if (!sock || !*sock)
		sock = CTL_DEFAULT_SOCKET;
	/* "+": options end at the command, whose own options follow it. */
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	int i = optind + 1;
	if (strcmp(cmd, "help") == 0 && i == argc) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "setup") == 0)
		return setup_cmd(argc - optind, argv + optind, sock);
	if (strcmp(cmd, "recover") == 0)
		return recover_cmd(argc - optind, argv + optind, sock);
	if (strcmp(cmd, "status") == 0) {
		bool json = false;
		for (; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0) {
				json = true;
				continue;
			}
			fprintf(stderr,
				"cmsadm: status: unknown option \"%s\"\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
		return cmsadm_call(sock, json ? "status json" : "status");
	}
	if (cmsadm_ops_command(cmd))
		return cmsadm_ops(sock, argc - optind, argv + optind);
	if (strcmp(cmd, "sync-partition") == 0)
		return cmsadm_syncpart(sock, argc - optind, argv + optind);
	static const char *const simple[] = {"switchover", "events", "role"};
	for (size_t k = 0; k < sizeof(simple) / sizeof(simple[0]); k++)
		if (strcmp(cmd, simple[k]) == 0) {
			if (i != argc) {
				fprintf(stderr,
					"cmsadm: %s: unexpected argument "
					"\"%s\"\n",
					cmd, argv[i]);
				usage(stderr);
				return 2;
			}
			return cmsadm_call(sock, cmd);
		}
	if (strcmp(cmd, "drbd-overview") == 0) {
		struct sbuf out = {0};
		char err[512] = "";
		if (i != argc) {
			fprintf(stderr,
				"cmsadm: drbd-overview: unexpected argument "
				"\"%s\"\n",
				argv[i]);
			return 2;
		}
		int rc = ovw_gather(&out, err, sizeof(err));
		if (rc == 0)
			fputs(out.s, stdout);
		else if (rc > 0)
			fprintf(stderr, "cmsadm: drbd-overview: %s\n", err);
		else
			fprintf(stderr, "cmsadm: drbd-overview: %s\n",
				*err ? err : strerror(-rc));
		sbuf_free(&out);
		return rc == 0 ? 0 : 1;
	}
	if (strcmp(cmd, "drbd-handler") == 0) {
		const char *res = getenv("DRBD_RESOURCE");
		if (i == argc || argc - i > 2) {
			fprintf(stderr, "cmsadm: drbd-handler: usage: "
					"drbd-handler HOOK [RESOURCE]\n");
			/* DRBD never calls it so; a fence-peer must not
			 * read as fenced all the same. */
			return i < argc ? handler_unreachable_code(argv[i]) : 2;
		}
		if (argc - i == 2)
			res = argv[i + 1];
		return cmsadm_drbd_handler(sock, argv[i], res);
	}
	if (strcmp(cmd, "version") == 0 && i == argc) {
		printf("cmsadm %s\n", CMSD_VERSION);
		return cmsadm_call(sock, "version");
	}
	fprintf(stderr, "cmsadm: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
