/*
 * cmsadm stop | start | maintenance on|off: the operator's switches of a
 * two-node cluster (agent/admin.h).  The daemon answers at once; stop and
 * start then wait, polling the "admin" request, until both nodes show the
 * outcome (the group down on both, or a master serving), so that a script
 * (ms_resource_stop.sh) may go on when cmsadm returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmsadm.h"

#define OPS_DEFAULT_TIMEOUT_S 180
#define OPS_POLL_MS	      200

/* The "admin" line: key=value words. */
struct ops_admin {
	char node[64], peer[64], role[32], peer_role[32];
	int stopped, maintenance, serving, peer_alive, peer_stopped,
		peer_maintenance;
};

static int ops_parse(const char *line, struct ops_admin *a)
{
	char buf[1024];
	char *save = NULL;
	int seen = 0;

	memset(a, 0, sizeof(*a));
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(w, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		struct {
			const char *k;
			char *s;
			size_t n;
			int *i;
		} keys[] = {
			{"node", a->node, sizeof(a->node), NULL},
			{"peer", a->peer, sizeof(a->peer), NULL},
			{"role", a->role, sizeof(a->role), NULL},
			{"peer_role", a->peer_role, sizeof(a->peer_role), NULL},
			{"stopped", NULL, 0, &a->stopped},
			{"maintenance", NULL, 0, &a->maintenance},
			{"serving", NULL, 0, &a->serving},
			{"peer_alive", NULL, 0, &a->peer_alive},
			{"peer_stopped", NULL, 0, &a->peer_stopped},
			{"peer_maintenance", NULL, 0, &a->peer_maintenance},
		};
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			if (strcmp(w, keys[k].k) != 0)
				continue;
			if (keys[k].s)
				snprintf(keys[k].s, keys[k].n, "%s", eq);
			else
				*keys[k].i = atoi(eq);
			seen++;
		}
	}
	return seen == 10 ? 0 : -EPROTO;
}

static int ops_admin(const char *sock, struct ops_admin *a, char *line,
		     size_t len)
{
	char *body = NULL;

	if (cmsadm_query(sock, "admin", &body) != 0)
		return 1;
	snprintf(line, len, "%s", body);
	line[strcspn(line, "\n")] = '\0';
	free(body);
	if (ops_parse(line, a) < 0) {
		fprintf(stderr,
			"cmsadm: cmsd sent an admin line I cannot "
			"read: \"%s\"\n",
			line);
		return 1;
	}
	return 0;
}

static bool ops_idle_role(const char *r)
{
	return strcmp(r, "slave") == 0 || strcmp(r, "isolated") == 0 ||
	       strcmp(r, "startup") == 0;
}

/* Stop is done when both nodes recorded it and neither runs the group. */
static bool ops_stopped(const struct ops_admin *a)
{
	return a->stopped && a->peer_alive && a->peer_stopped && !a->serving &&
	       ops_idle_role(a->role) && ops_idle_role(a->peer_role);
}

/* Start is done when a master serves and no node is stopped any more
 * (a peer that is away catches up when it returns). */
static bool ops_started(const struct ops_admin *a, const char **master)
{
	if (a->stopped || (a->peer_alive && a->peer_stopped))
		return false;
	if (strcmp(a->role, "master") == 0 && a->serving) {
		*master = a->node;
		return true;
	}
	if (a->peer_alive && strcmp(a->peer_role, "master") == 0) {
		*master = a->peer;
		return true;
	}
	return false;
}

static double ops_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ops_wait(const char *sock, const char *cmd, int timeout_s)
{
	double end = ops_now() + timeout_s;
	struct ops_admin a;
	const char *master = NULL;
	char line[1024];
	bool stop = strcmp(cmd, "stop") == 0;

	for (;;) {
		if (ops_admin(sock, &a, line, sizeof(line)) != 0)
			return 1;
		if (stop && ops_stopped(&a)) {
			printf("HA stopped on %s and %s: the group is down, "
			       "neither node takes over until `cmsadm start`\n",
			       a.node, a.peer);
			return 0;
		}
		if (!stop && ops_started(&a, &master)) {
			printf("HA started: master %s\n", master);
			return 0;
		}
		if (ops_now() >= end)
			break;
		struct timespec p = {.tv_nsec = OPS_POLL_MS * 1000000L};
		nanosleep(&p, NULL);
	}
	fprintf(stderr,
		"cmsadm: %s: not finished within %d s (%s); `cmsadm status` "
		"and `cmsadm events` say why\n",
		cmd, timeout_s, line);
	return 1;
}

bool cmsadm_ops_command(const char *cmd)
{
	return strcmp(cmd, "stop") == 0 || strcmp(cmd, "start") == 0 ||
	       strcmp(cmd, "maintenance") == 0;
}

int cmsadm_ops(const char *sock, int argc, char **argv)
{
	const char *cmd = argv[0];
	int timeout_s = OPS_DEFAULT_TIMEOUT_S;
	bool wait = true;

	if (strcmp(cmd, "maintenance") == 0) {
		if (argc != 2 || (strcmp(argv[1], "on") != 0 &&
				  strcmp(argv[1], "off") != 0)) {
			fprintf(stderr, "cmsadm: maintenance: expected \"on\" "
					"or \"off\"\n");
			return 2;
		}
		return cmsadm_call(sock, strcmp(argv[1], "on") == 0
						 ? "maintenance on"
						 : "maintenance off");
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-wait") == 0) {
			wait = false;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 86400) {
				fprintf(stderr,
					"cmsadm: %s: --timeout \"%s\": "
					"expected seconds, 1 to 86400\n",
					cmd, argv[i]);
				return 2;
			}
			timeout_s = (int)v;
		} else {
			fprintf(stderr,
				"cmsadm: %s: unknown argument \"%s\" "
				"(expected --no-wait or --timeout SECONDS)\n",
				cmd, argv[i]);
			return 2;
		}
	}
	int rc = cmsadm_call(sock, cmd);
	if (rc != 0 || !wait)
		return rc;
	fflush(stdout);
	return ops_wait(sock, cmd, timeout_s);
}
