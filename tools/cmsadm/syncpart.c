/*
 * cmsadm sync-partition add r1 --disk DEV [--mount DIR] [--yes] [--no-start]
 *                                 [--timeout S]
 * cmsadm sync-partition remove r1 [--yes] [--no-start] [--timeout S]
 *
 * The steps, each a request to the local agent (agent/syncpart.c), which
 * asks the peer over the control channel:
 *   1. check: the reference's refusals, on both nodes (nothing changed);
 *   2. the operator confirms (unless --yes);
 *   3. `cmsadm stop`: HA stopped on both nodes, the pair kept;
 *   4. write: the config of both nodes, validated, replaced atomically;
 *   5. restart: both agents exec again (a two-node cluster refuses a
 *      reload that changes instances); on remove, r1 goes down and its
 *      metadata is wiped before the exec;
 *   6. `cmsadm start`: the master of before comes back; a new r1 is a new
 *      pair and gets its initial sync.  A pair that was stopped before
 *      stays stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmsadm.h"
#include "ctlproto.h"

#define SP_MOUNT_DEFAULT "/vms/sync"
#define SP_STEP_TIMEOUT	 90 /* s: above the agent's 30 s hook limit */

static double sp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sp_nap(void)
{
	struct timespec p = {.tv_nsec = 200000000L};
	nanosleep(&p, NULL);
}

/* Asks the same request until the answer is not "wait".  0 and the body
 * ("ok ..."), or 1 (the refusal printed). */
static int sp_step(const char *sock, const char *req, char **body)
{
	double end = sp_now() + SP_STEP_TIMEOUT;
	char *b = NULL;

	for (;;) {
		int rc = ctl_client_call(sock, req, 30000, &b);
		if (rc < 0) {
			fprintf(stderr, "cmsadm: failed to connect to cmsd\n");
			free(b);
			return 1;
		}
		if (rc == 1) {
			fprintf(stderr, "cmsadm: %s\n", b ? b : "refused");
			free(b);
			return 1;
		}
		if (strncmp(b, "wait", 4) != 0) {
			*body = b;
			return 0;
		}
		free(b);
		b = NULL;
		if (sp_now() >= end) {
			fprintf(stderr,
				"cmsadm: sync-partition: no answer within %d s "
				"(the peer's agent or the compute-host hook); "
				"nothing was changed by this step\n",
				SP_STEP_TIMEOUT);
			return 1;
		}
		sp_nap();
	}
}

static bool sp_confirm(const char *question)
{
	char line[64];

	printf("%s [yes/no]: ", question);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "yes") == 0;
}

static int sp_born(const char *sock, char *out, size_t len)
{
	char *b = NULL;

	if (ctl_client_call(sock, "sync-partition born", 2000, &b) != 0) {
		free(b);
		return -1;
	}
	snprintf(out, len, "%s", b);
	free(b);
	return 0;
}

/* Both agents are back: this one runs a new process and sees its peer. */
static int sp_wait_restart(const char *sock, const char *before, int tmo)
{
	double end = sp_now() + tmo;
	char now[64], *b = NULL;

	while (sp_now() < end) {
		sp_nap();
		if (sp_born(sock, now, sizeof(now)) < 0 ||
		    strcmp(now, before) == 0)
			continue;
		if (ctl_client_call(sock, "admin", 2000, &b) == 0 &&
		    strstr(b, " peer_alive=1") &&
		    strstr(b, " peer_channel=1")) {
			free(b);
			return 0;
		}
		free(b);
		b = NULL;
	}
	fprintf(stderr,
		"cmsadm: sync-partition: the agents did not come back with "
		"their peer within %d s; the new config is in place on both "
		"nodes: `cmsadm status` and the log say why, `cmsadm start` "
		"when both run\n",
		tmo);
	return 1;
}

/* A new DRBD pair is promoted for its initial sync only once both sides
 * are connected and see each other Inconsistent (storage-drbd): a start
 * before that fails the group on r1 and moves it.  So the start waits
 * until this node's status shows r1 connected. */
static const char *const sp_connected[] = {
	"Connected",   "SyncSource", "SyncTarget", "PausedSyncS",
	"PausedSyncT", "VerifyS",    "VerifyT",	   NULL};

static int sp_wait_connected(const char *sock, const char *id, int tmo)
{
	double end = sp_now() + tmo;
	char prefix[128], last[128] = "not shown yet";

	snprintf(prefix, sizeof(prefix), "replica: %s: ", id);
	while (sp_now() < end) {
		char *body = NULL;
		if (ctl_client_call(sock, "status", 5000, &body) == 0) {
			const char *l = strstr(body, prefix);
			if (l) {
				l += strlen(prefix);
				snprintf(last, sizeof(last), "%.*s",
					 (int)strcspn(l, "\n"), l);
				for (size_t i = 0; sp_connected[i]; i++) {
					size_t n = strlen(sp_connected[i]);
					if (strncmp(l, sp_connected[i], n) ==
						    0 &&
					    l[n] == ' ') {
						free(body);
						printf("sync-partition add r1: "
						       "%s: %s\n",
						       id, last);
						return 0;
					}
				}
			}
		}
		free(body);
		sp_nap();
	}
	fprintf(stderr,
		"cmsadm: sync-partition add r1: %s did not connect within %d "
		"s (last: %s); HA stays stopped: `cmsadm start` once it is "
		"connected (`cmsadm drbd-overview`), or `cmsadm "
		"sync-partition remove r1`\n",
		id, tmo, last);
	return 1;
}

static void sp_usage(void)
{
	fprintf(stderr,
		"usage: cmsadm sync-partition add r1 --disk DEV [--mount DIR] "
		"[--yes] [--no-start] [--timeout S]\n"
		"       cmsadm sync-partition remove r1 [--yes] [--no-start] "
		"[--timeout S]\n");
}

int cmsadm_syncpart(const char *sock, int argc, char **argv)
{
	const char *disk = NULL, *mount = SP_MOUNT_DEFAULT, *name;
	char req[1024], token[64], born[64], q[768], new_id[64] = "";
	char *body = NULL;
	bool yes = false, no_start = false, add, was_stopped;
	char tmo[16] = "180";
	char *stop_argv[] = {"stop", "--timeout", tmo, NULL};
	char *start_argv[] = {"start", "--timeout", tmo, NULL};

	if (argc < 3 ||
	    (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0)) {
		sp_usage();
		return 2;
	}
	add = strcmp(argv[1], "add") == 0;
	name = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--yes") == 0)
			yes = true;
		else if (strcmp(argv[i], "--no-start") == 0)
			no_start = true;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 86400) {
				fprintf(stderr,
					"cmsadm: sync-partition: --timeout "
					"\"%s\": expected seconds, 1 to "
					"86400\n",
					argv[i]);
				return 2;
			}
			snprintf(tmo, sizeof(tmo), "%ld", v);
		} else if (add && strcmp(argv[i], "--disk") == 0 &&
			   i + 1 < argc)
			disk = argv[++i];
		else if (add && strcmp(argv[i], "--mount") == 0 && i + 1 < argc)
			mount = argv[++i];
		else {
			fprintf(stderr,
				"cmsadm: sync-partition %s: unknown argument "
				"\"%s\"\n",
				argv[1], argv[i]);
			sp_usage();
			return 2;
		}
	}
	if (add && !disk) {
		fprintf(stderr, "cmsadm: sync-partition add: --disk DEV is "
				"required (the same disk name on both "
				"nodes)\n");
		return 2;
	}
	if (strchr(name, ' ') || (disk && strchr(disk, ' ')) ||
	    strchr(mount, ' ')) {
		fprintf(stderr, "cmsadm: sync-partition: names and paths "
				"without spaces\n");
		return 2;
	}
	snprintf(token, sizeof(token), "%ld-%ld", (long)getpid(),
		 (long)time(NULL));

	/* 1. the refusals */
	if (add)
		snprintf(req, sizeof(req), "sync-partition check %s add %s %s",
			 token, name, disk);
	else
		snprintf(req, sizeof(req), "sync-partition check %s remove %s",
			 token, name);
	if (sp_step(sock, req, &body) != 0)
		return 1;
	printf("sync-partition %s %s: checked: %s", argv[1], name,
	       body + (strncmp(body, "ok ", 3) == 0 ? 3 : 0));
	free(body);

	/* 2. the operator's word */
	if (add)
		snprintf(q, sizeof(q),
			 "Add the local sync partition r1 on %s of both "
			 "nodes, mounted at %s on the master? Everything on "
			 "%s is lost; HA stops on both nodes and both agents "
			 "restart.",
			 disk, mount, disk);
	else
		snprintf(q, sizeof(q),
			 "Delete the local sync partition r1? It is removed "
			 "from both nodes' config and its DRBD metadata is "
			 "wiped; HA stops on both nodes and both agents "
			 "restart.");
	if (!yes && !sp_confirm(q)) {
		printf("sync-partition %s %s: cancelled, nothing changed\n",
		       argv[1], name);
		return 1;
	}

	/* 3. stop (remembering whether the pair was stopped already) */
	if (cmsadm_query(sock, "admin", &body) != 0)
		return 1;
	was_stopped = strstr(body, " stopped=1") != NULL;
	free(body);
	fflush(stdout);
	if (cmsadm_ops(sock, 3, stop_argv) != 0) {
		fprintf(stderr,
			"cmsadm: sync-partition %s: HA did not stop; "
			"nothing was changed\n",
			argv[1]);
		return 1;
	}

	/* 4. the config of both nodes */
	snprintf(token + strlen(token), sizeof(token) - strlen(token), "w");
	if (add)
		snprintf(req, sizeof(req),
			 "sync-partition write %s add %s %s %s", token, name,
			 disk, mount);
	else
		snprintf(req, sizeof(req), "sync-partition write %s remove %s",
			 token, name);
	if (sp_step(sock, req, &body) != 0) {
		fprintf(stderr,
			"cmsadm: sync-partition %s: the config is unchanged; "
			"HA stays stopped until `cmsadm start`\n",
			argv[1]);
		return 1;
	}
	printf("sync-partition %s %s: %s", argv[1], name,
	       body + (strncmp(body, "ok ", 3) == 0 ? 3 : 0));
	{
		const char *q1 = strstr(body, "<storage id=\"");
		if (q1) {
			q1 += strlen("<storage id=\"");
			snprintf(new_id, sizeof(new_id), "%.*s",
				 (int)strcspn(q1, "\""), q1);
		}
	}
	free(body);

	/* 5. restart both agents */
	if (sp_born(sock, born, sizeof(born)) < 0 ||
	    cmsadm_query(sock, "sync-partition restart", &body) != 0) {
		fprintf(stderr,
			"cmsadm: sync-partition %s: the agents were not "
			"restarted: the new config applies at their "
			"next start\n",
			argv[1]);
		return 1;
	}
	printf("sync-partition %s %s: %s", argv[1], name, body);
	free(body);
	fflush(stdout);
	if (sp_wait_restart(sock, born, atoi(tmo)) != 0)
		return 1;
	printf("sync-partition %s %s: both agents run the new config\n",
	       argv[1], name);

	/* 6. start */
	if (was_stopped || no_start) {
		printf("sync-partition %s %s: HA %s: it stays stopped until "
		       "`cmsadm start`\n",
		       argv[1], name,
		       was_stopped ? "was stopped before"
				   : "not started "
				     "(--no-start)");
		return 0;
	}
	if (add && new_id[0] && sp_wait_connected(sock, new_id, atoi(tmo)) != 0)
		return 1;
	fflush(stdout);
	if (cmsadm_ops(sock, 3, start_argv) != 0)
		return 1;
	if (add)
		printf("sync-partition add r1: done: %s replicated as r1, "
		       "mounted at %s on the master; its initial sync runs "
		       "(`cmsadm drbd-overview`)\n",
		       disk, mount);
	else
		printf("sync-partition remove r1: done\n");
	return 0;
}
