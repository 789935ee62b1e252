/*
 * cmsadm: the operator's command line, a client of cmsd's control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmsadm.h"
#include "ctlproto.h"
#include "overview.h"

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
		"                    stop HA on both nodes, keeping the pair: the\n"
		"                    master stops its group, neither node takes\n"
		"                    over (also after a restart) until start\n"
		"  start [--no-wait] [--timeout S]\n"
		"                    start HA again (the master of before first)\n"
		"  maintenance on|off\n"
		"                    on: resources keep running, failures are\n"
		"                    shown but not acted on (no restart, no\n"
		"                    failover); off: acted on again\n"
		"  drbd-overview     one line per DRBD volume, read from this\n"
		"                    host (drbdsetup, /proc/drbd, the mounts)\n"
		"  version           the versions of cmsadm and cmsd\n"
		"  help              this text\n"
		"SOCKET defaults to $CMSD_SOCKET, else %s\n",
		CTL_DEFAULT_SOCKET);
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
	if (strcmp(cmd, "version") == 0 && i == argc) {
		printf("cmsadm %s\n", CMSD_VERSION);
		return cmsadm_call(sock, "version");
	}
	fprintf(stderr, "cmsadm: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
