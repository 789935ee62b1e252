/*
 * sampler: the cluster scenario tests' witness of who is master.
 *
 *   sampler [-i MS] [-t MS] -o FILE NAME=SOCKET...
 *	Every MS milliseconds (default 20) asks every node "role" over its
 *	control socket, all nodes at once, and appends one line per node:
 *	    T_MS NAME ROLE EPOCH SERVING
 *	T_MS is the wall clock in ms when the round began, the same for
 *	every line of a round (the tests stamp faults with the same clock),
 *	and increasing from round to round (nudged by 1 ms when the clock
 *	stepped back).
 *	ROLE and EPOCH come from the reply; SERVING is "serving" or "idle".
 *	A node that gives no usable answer gets ROLE down (cannot connect),
 *	timeout (no complete reply in -t MS, default 200), err (ERR reply) or
 *	bad (not the expected reply), with EPOCH and SERVING "-".
 *	Runs until SIGTERM or SIGINT; every round is flushed to FILE.
 *
 *   sampler --once SOCKET [REQUEST]
 *	Sends REQUEST (default "role") and prints the reply body.  Exit 0
 *	OK, 1 ERR (message on stderr), 2 no usable reply.
 *
 *   sampler --check FILE [--since T_MS] [--until T_MS] [--expect NAME]
 *		[--allow-dual]
 *	Reads a sample file and prints key=value facts (see smp_report):
 *	rounds with two nodes serving or master, epochs going backwards,
 *	and for each node the first and last times, relative to --since, at
 *	which it was master or serving, and its sequence of roles.  Exit 1
 *	when a round has two nodes serving or two masters (unless
 *	--allow-dual), when a node's epoch went down, or when --expect NAME
 *	never became master; 2 on bad input; 0 otherwise.
 *
 * It is a test tool, compiled with the tests or by tests/cluster/lib.sh
 * with plain cc, so it uses nothing but libc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_NONBLOCK, clock_nanosleep with plain cc */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SMP_MAX_NODES 8
#define SMP_REPLY_MAX 4096
#define SMP_FIELD_MAX 64
#define SMP_ROLES_MAX 512

static volatile sig_atomic_t smp_stop;

static const char *const smp_roles[] = {
	"startup",	 "slave",    "taking_over", "master",
	"stepping_down", "isolated", NULL};

struct smp_node {
	const char *name, *path;
	int fd;
	char buf[SMP_REPLY_MAX + 1];
	size_t len;
	bool done;	/* reply complete, or given up */
	bool connected; /* the request went out */
	bool warned;	/* the node id mismatch was reported */
};

/* The parsed answer of one node in one round. */
struct smp_answer {
	char role[SMP_FIELD_MAX];
	char epoch[SMP_FIELD_MAX];
	char serving[SMP_FIELD_MAX];
	char id[SMP_FIELD_MAX];
	const char *body; /* points into the node's buffer, for --once */
	size_t body_len;
	int kind; /* 0 OK, 1 ERR, 2 nothing usable */
};

static int64_t smp_now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void smp_on_signal(int sig)
{
	(void)sig;
	smp_stop = 1;
}

static bool smp_known_role(const char *r)
{
	for (size_t i = 0; smp_roles[i]; i++)
		if (strcmp(r, smp_roles[i]) == 0)
			return true;
	return false;
}

/* Starts one request: a non-blocking connect and the request line.  A unix
 * socket connects at once or not at all, so there is no EINPROGRESS. */
static int smp_begin(struct smp_node *n, const char *request)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[256];
	int len;

	n->fd = -1;
	n->len = 0;
	n->done = false;
	n->connected = false;
	if (strlen(n->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, n->path);
	n->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		n->done = true;
		return -errno;
	}
	if (connect(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	len = snprintf(line, sizeof(line), "%s\n", request);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		errno = EINVAL;
		goto fail;
	}
	if (send(n->fd, line, (size_t)len, MSG_NOSIGNAL) != len)
		goto fail;
	n->connected = true;
	return 0;
fail:;
	int e = errno;
	close(n->fd);
	n->fd = -1;
	n->done = true;
	return -e;
}

/* true when buf holds a whole reply: "OK <n>\n" and n bytes, or an ERR
 * line.  The daemon closes after a reply, but waiting for that close would
 * make every sample as slow as the daemon's shutdown. */
static bool smp_complete(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	unsigned long n;
	char *end;

	if (!nl)
		return false;
	if (strncmp(buf, "OK ", 3) != 0)
		return true;
	errno = 0;
	n = strtoul(buf + 3, &end, 10);
	if (errno || end != nl)
		return true; /* malformed: nothing more will fix it */
	return len - (size_t)(nl + 1 - buf) >= n;
}

static void smp_read(struct smp_node *n)
{
	for (;;) {
		size_t room = SMP_REPLY_MAX - n->len;
		ssize_t r;

		if (room == 0) {
			n->done = true;
			return;
		}
		r = read(n->fd, n->buf + n->len, room);
		if (r > 0) {
			n->len += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		n->done = true; /* EOF or error */
		return;
	}
	if (smp_complete(n->buf, n->len))
		n->done = true;
}

/* Waits for every started request until done or the deadline. */
static void smp_collect(struct smp_node *nodes, size_t count, int timeout_ms)
{
	int64_t deadline = smp_now_ms(CLOCK_MONOTONIC) + timeout_ms;

	for (;;) {
		struct pollfd pfd[SMP_MAX_NODES];
		size_t map[SMP_MAX_NODES], np = 0;
		int64_t left = deadline - smp_now_ms(CLOCK_MONOTONIC);

		for (size_t i = 0; i < count; i++) {
			if (nodes[i].done || nodes[i].fd < 0)
				continue;
			pfd[np].fd = nodes[i].fd;
			pfd[np].events = POLLIN;
			map[np++] = i;
		}
		if (np == 0 || left <= 0)
			break;
		if (poll(pfd, np, (int)left) < 0 && errno != EINTR)
			break;
		for (size_t k = 0; k < np; k++)
			if (pfd[k].revents)
				smp_read(&nodes[map[k]]);
	}
	for (size_t i = 0; i < count; i++) {
		if (nodes[i].fd >= 0)
			close(nodes[i].fd);
		nodes[i].fd = -1;
	}
}

static void smp_copy(char *dst, const char *src, size_t len)
{
	if (len >= SMP_FIELD_MAX)
		len = SMP_FIELD_MAX - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Splits "<id> <role> <epoch> <serving|idle>\n" into a; false when the
 * body is not exactly that. */
static bool smp_parse_role(const char *body, size_t len, struct smp_answer *a)
{
	char tmp[SMP_REPLY_MAX + 1], *save = NULL, *tok[5];
	size_t nt = 0;

	if (len == 0 || len > SMP_REPLY_MAX || body[len - 1] != '\n' ||
	    memchr(body, '\0', len))
		return false;
	memcpy(tmp, body, len - 1);
	tmp[len - 1] = '\0';
	for (char *t = strtok_r(tmp, " ", &save); t && nt < 5;
	     t = strtok_r(NULL, " ", &save))
		tok[nt++] = t;
	if (nt != 4)
		return false;
	for (size_t i = 0; i < 4; i++)
		if (strlen(tok[i]) >= SMP_FIELD_MAX)
			return false;
	if (!smp_known_role(tok[1]))
		return false;
	if (tok[2][strspn(tok[2], "0123456789")] != '\0')
		return false;
	if (strcmp(tok[3], "serving") != 0 && strcmp(tok[3], "idle") != 0)
		return false;
	smp_copy(a->id, tok[0], strlen(tok[0]));
	smp_copy(a->role, tok[1], strlen(tok[1]));
	smp_copy(a->epoch, tok[2], strlen(tok[2]));
	smp_copy(a->serving, tok[3], strlen(tok[3]));
	return true;
}

static void smp_set(struct smp_answer *a, const char *role)
{
	snprintf(a->role, sizeof(a->role), "%s", role);
	strcpy(a->epoch, "-");
	strcpy(a->serving, "-");
	a->kind = 2;
}

/* Turns a node's buffer into an answer.  parse_role: the body must be a
 * role line (sampling); otherwise any body is fine (--once). */
static void smp_classify(struct smp_node *n, bool parse_role,
			 struct smp_answer *a)
{
	const char *nl;
	unsigned long len;
	size_t have;
	char *end;

	memset(a, 0, sizeof(*a));
	if (!n->connected) {
		smp_set(a, "down");
		return;
	}
	n->buf[n->len] = '\0';
	nl = memchr(n->buf, '\n', n->len);
	if (!nl) {
		/* done means the daemon hung up (or filled the buffer);
		 * otherwise the deadline passed first. */
		if (!n->done)
			smp_set(a, "timeout");
		else
			smp_set(a, n->len ? "bad" : "down");
		return;
	}
	if (strncmp(n->buf, "ERR", 3) == 0) {
		smp_set(a, "err");
		a->kind = 1;
		a->body = n->buf;
		a->body_len = n->len;
		return;
	}
	if (strncmp(n->buf, "OK ", 3) != 0 || n->buf[3] < '0' ||
	    n->buf[3] > '9') {
		smp_set(a, "bad");
		return;
	}
	errno = 0;
	len = strtoul(n->buf + 3, &end, 10);
	if (errno || end != nl) {
		smp_set(a, "bad");
		return;
	}
	have = (size_t)(n->buf + n->len - (nl + 1));
	if (have != len) {
		smp_set(a, have < len && !n->done ? "timeout" : "bad");
		return;
	}
	a->body = nl + 1;
	a->body_len = len;
	a->kind = 0;
	if (parse_role && !smp_parse_role(a->body, len, a))
		smp_set(a, "bad");
}

static int smp_usage(void)
{
	fprintf(stderr,
		"usage: sampler [-i MS] [-t MS] -o FILE NAME=SOCKET...\n"
		"       sampler --once SOCKET [REQUEST]\n"
		"       sampler --check FILE [--since T_MS] [--until T_MS]"
		" [--expect NAME] [--allow-dual]\n");
	return 2;
}

static bool smp_parse_ms(const char *s, int64_t min, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return false;
	*out = v;
	return true;
}

static int smp_once(int argc, char **argv)
{
	struct smp_node n = {.path = argv[0], .name = "once"};
	const char *req = argc > 1 ? argv[1] : "role";
	struct smp_answer a;
	int rc;

	if (argc > 2)
		return smp_usage();
	rc = smp_begin(&n, req);
	if (rc < 0) {
		fprintf(stderr, "sampler: %s: %s\n", n.path, strerror(-rc));
		return 2;
	}
	smp_collect(&n, 1, 5000);
	smp_classify(&n, false, &a);
	if (a.kind == 0) {
		fwrite(a.body, 1, a.body_len, stdout);
		return 0;
	}
	if (a.kind == 1) {
		fwrite(a.body, 1, a.body_len, stderr);
		return 1;
	}
	fprintf(stderr, "sampler: %s: %s reply\n", n.path, a.role);
	return 2;
}

static int smp_sample(int argc, char **argv)
{
	struct smp_node nodes[SMP_MAX_NODES];
	size_t count = 0;
	const char *out_path = NULL;
	int64_t interval = 20, timeout = 200, next;
	struct sigaction sa = {.sa_handler = smp_on_signal};
	FILE *out;
	int c;

	while ((c = getopt(argc, argv, "i:t:o:")) != -1) {
		switch (c) {
		case 'i':
			if (!smp_parse_ms(optarg, 1, &interval))
				return smp_usage();
			break;
		case 't':
			if (!smp_parse_ms(optarg, 1, &timeout) ||
			    timeout > INT_MAX)
				return smp_usage();
			break;
		case 'o':
			out_path = optarg;
			break;
		default:
			return smp_usage();
		}
	}
	if (!out_path || optind >= argc)
		return smp_usage();
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i] || !eq[1] || count == SMP_MAX_NODES) {
			fprintf(stderr,
				"sampler: \"%s\": expected NAME=SOCKET"
				" (at most %d)\n",
				argv[i], SMP_MAX_NODES);
			return 2;
		}
		*eq = '\0';
		memset(&nodes[count], 0, sizeof(nodes[count]));
		nodes[count].name = argv[i];
		nodes[count].path = eq + 1;
		nodes[count].fd = -1;
		count++;
	}
	out = fopen(out_path, "w");
	if (!out) {
		fprintf(stderr, "sampler: %s: %s\n", out_path, strerror(errno));
		return 2;
	}
	/* No SA_RESTART: the signal must cut the sleep short. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	next = smp_now_ms(CLOCK_MONOTONIC);
	int64_t last_t = -1;
	while (!smp_stop) {
		int64_t t = smp_now_ms(CLOCK_REALTIME), now;
		struct timespec ts;

		/* T_MS names one round: kept increasing when the wall clock
		 * steps back (two rounds with one T_MS read as one round with
		 * every node twice, i.e. two masters). */
		if (t <= last_t)
			t = last_t + 1;
		last_t = t;

		for (size_t i = 0; i < count; i++)
			smp_begin(&nodes[i], "role");
		smp_collect(nodes, count, (int)timeout);
		for (size_t i = 0; i < count; i++) {
			struct smp_answer a;

			smp_classify(&nodes[i], true, &a);
			if (a.kind == 0 && strcmp(a.id, nodes[i].name) != 0 &&
			    !nodes[i].warned) {
				fprintf(stderr,
					"sampler: %s answers as node \"%s\"\n",
					nodes[i].name, a.id);
				nodes[i].warned = true;
			}
			fprintf(out, "%" PRId64 " %s %s %s %s\n", t,
				nodes[i].name, a.role, a.epoch, a.serving);
		}
		if (fflush(out) != 0) {
			fprintf(stderr, "sampler: %s: %s\n", out_path,
				strerror(errno));
			fclose(out);
			return 2;
		}
		/* A fixed schedule; a round that overran skips ticks rather
		 * than bunching samples together. */
		now = smp_now_ms(CLOCK_MONOTONIC);
		next += interval;
		if (next <= now)
			next = now + interval - (now - next) % interval;
		ts.tv_sec = next / 1000;
		ts.tv_nsec = (long)(next % 1000) * 1000000;
		while (!smp_stop &&
		       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
	}
	if (fclose(out) != 0) {
		fprintf(stderr, "sampler: %s: %s\n", out_path, strerror(errno));
		return 2;
	}
	return 0;
}

/* --check: what one node did inside the window. */
struct smp_track {
	char name[SMP_FIELD_MAX];
	long samples, master_samples, serving_samples;
	int64_t first_master, first_serving, first_idle;
	int64_t last_master, last_serving;
	long long epoch_first, epoch_last; /* -1: none seen */
	char last_role[SMP_FIELD_MAX];
	char roles[SMP_ROLES_MAX];
	bool roles_full;
	long round; /* the round of its last sample (smp_check.round_no) */
};

struct smp_check {
	struct smp_track tr[SMP_MAX_NODES];
	size_t n_tr;
	int64_t since, until;
	bool since_set;
	long rounds, samples, dual_serving, dual_master, epoch_regress;
	int64_t first_dual_serving, first_dual_master;
	/* the current round */
	int64_t round_t;
	int round_serving, round_master;
	bool in_round;
	long round_no; /* counts rounds begun, from 1 */
};

static struct smp_track *smp_track_of(struct smp_check *k, const char *name)
{
	struct smp_track *t;

	for (size_t i = 0; i < k->n_tr; i++)
		if (strcmp(k->tr[i].name, name) == 0)
			return &k->tr[i];
	if (k->n_tr == SMP_MAX_NODES)
		return NULL;
	t = &k->tr[k->n_tr++];
	memset(t, 0, sizeof(*t));
	smp_copy(t->name, name, strlen(name));
	t->first_master = t->first_serving = t->first_idle = -1;
	t->last_master = t->last_serving = -1;
	t->epoch_first = t->epoch_last = -1;
	return t;
}

static void smp_end_round(struct smp_check *k)
{
	if (!k->in_round)
		return;
	k->rounds++;
	if (k->round_serving > 1) {
		if (!k->dual_serving)
			k->first_dual_serving = k->round_t;
		k->dual_serving++;
	}
	if (k->round_master > 1) {
		if (!k->dual_master)
			k->first_dual_master = k->round_t;
		k->dual_master++;
	}
	k->round_serving = k->round_master = 0;
	k->in_round = false;
}

static void smp_roles_add(struct smp_track *t, const char *role)
{
	size_t used = strlen(t->roles);

	if (strcmp(t->last_role, role) == 0 && used)
		return;
	if (t->roles_full)
		return;
	if (used + strlen(role) + 5 >= sizeof(t->roles)) {
		strcat(t->roles, ">...");
		t->roles_full = true;
		return;
	}
	if (used)
		strcat(t->roles, ">");
	strcat(t->roles, role);
}

/* One sample line; -1 when it is malformed. */
static int smp_check_line(struct smp_check *k, const char *line)
{
	char name[SMP_FIELD_MAX], role[SMP_FIELD_MAX], epoch[SMP_FIELD_MAX],
		serving[SMP_FIELD_MAX], extra[2];
	long long t;
	struct smp_track *tr;
	int64_t rel;
	char *end;

	/* strtoll, not %lld: sscanf's behaviour on overflow is undefined. */
	errno = 0;
	t = strtoll(line, &end, 10);
	if (errno || end == line || t < 0 || (*end != ' ' && *end != '\t'))
		return -1;
	if (sscanf(end, "%63s %63s %63s %63s %1s", name, role, epoch, serving,
		   extra) != 4)
		return -1;
	if (strcmp(serving, "serving") != 0 && strcmp(serving, "idle") != 0 &&
	    strcmp(serving, "-") != 0)
		return -1;
	if (k->since_set && t < k->since)
		return 0;
	if (k->until >= 0 && t > k->until)
		return 0;
	if (!k->since_set) {
		k->since = t;
		k->since_set = true;
	}
	tr = smp_track_of(k, name);
	if (!tr)
		return -1;
	/* A node seen again with the same T_MS is the next round: the wall
	 * clock stepped back by a round's length (files of samplers from
	 * before T_MS was kept increasing). */
	if (!k->in_round || t != k->round_t || tr->round == k->round_no) {
		smp_end_round(k);
		k->in_round = true;
		k->round_t = t;
		k->round_no++;
	}
	tr->round = k->round_no;
	rel = t - k->since;
	k->samples++;
	tr->samples++;
	if (strcmp(serving, "serving") == 0) {
		k->round_serving++;
		tr->serving_samples++;
		if (tr->first_serving < 0)
			tr->first_serving = rel;
		tr->last_serving = rel;
	} else if (tr->first_idle < 0) {
		tr->first_idle = rel;
	}
	if (strcmp(role, "master") == 0) {
		k->round_master++;
		tr->master_samples++;
		if (tr->first_master < 0)
			tr->first_master = rel;
		tr->last_master = rel;
	}
	if (epoch[strspn(epoch, "0123456789")] == '\0' && epoch[0]) {
		long long e = strtoll(epoch, NULL, 10);

		if (tr->epoch_last >= 0 && e < tr->epoch_last) {
			if (!k->epoch_regress)
				fprintf(stderr,
					"VIOLATION: %s epoch went from %lld "
					"to %lld at %lld\n",
					name, tr->epoch_last, e, t);
			k->epoch_regress++;
		}
		if (tr->epoch_first < 0)
			tr->epoch_first = e;
		tr->epoch_last = e;
	}
	smp_roles_add(tr, role);
	smp_copy(tr->last_role, role, strlen(role));
	return 0;
}

static void smp_report(const struct smp_check *k)
{
	printf("since=%" PRId64 "\n", k->since);
	printf("rounds=%ld\nsamples=%ld\n", k->rounds, k->samples);
	printf("dual_serving=%ld\ndual_master=%ld\n", k->dual_serving,
	       k->dual_master);
	printf("first_dual_serving=%" PRId64 "\n",
	       k->dual_serving ? k->first_dual_serving - k->since : -1);
	printf("first_dual_master=%" PRId64 "\n",
	       k->dual_master ? k->first_dual_master - k->since : -1);
	printf("epoch_regressions=%ld\n", k->epoch_regress);
	for (size_t i = 0; i < k->n_tr; i++) {
		const struct smp_track *t = &k->tr[i];

		printf("%s.samples=%ld\n", t->name, t->samples);
		printf("%s.master_samples=%ld\n", t->name, t->master_samples);
		printf("%s.serving_samples=%ld\n", t->name, t->serving_samples);
		printf("%s.first_master=%" PRId64 "\n", t->name,
		       t->first_master);
		printf("%s.last_master=%" PRId64 "\n", t->name, t->last_master);
		printf("%s.first_serving=%" PRId64 "\n", t->name,
		       t->first_serving);
		printf("%s.last_serving=%" PRId64 "\n", t->name,
		       t->last_serving);
		printf("%s.first_idle=%" PRId64 "\n", t->name, t->first_idle);
		printf("%s.epoch_first=%lld\n", t->name, t->epoch_first);
		printf("%s.epoch_last=%lld\n", t->name, t->epoch_last);
		printf("%s.roles=%s\n", t->name, t->roles);
		printf("%s.last_role=%s\n", t->name, t->last_role);
	}
}

static int smp_check_file(int argc, char **argv)
{
	struct smp_check k = {.until = -1};
	const char *path = argv[0], *expect = NULL;
	bool allow_dual = false;
	char line[512];
	long lineno = 0;
	int rc = 0;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-dual") == 0) {
			allow_dual = true;
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (!smp_parse_ms(argv[++i], 0, &k.since))
				return smp_usage();
			k.since_set = true;
		} else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc) {
			if (!smp_parse_ms(argv[++i], 0, &k.until))
				return smp_usage();
		} else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
			expect = argv[++i];
		} else {
			return smp_usage();
		}
	}
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "sampler: %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "sampler: %s:%ld: line too long\n",
				path, lineno);
			fclose(f);
			return 2;
		}
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (smp_check_line(&k, line) < 0) {
			fprintf(stderr,
				"sampler: %s:%ld: not a sample line "
				"(T_MS NAME ROLE EPOCH SERVING, at most %d "
				"nodes): %s",
				path, lineno, SMP_MAX_NODES, line);
			fclose(f);
			return 2;
		}
	}
	fclose(f);
	smp_end_round(&k);
	smp_report(&k);
	if (k.dual_serving && !allow_dual) {
		fprintf(stderr,
			"VIOLATION: %ld round(s) with two nodes serving, the "
			"first at %" PRId64 " (+%" PRId64 " ms)\n",
			k.dual_serving, k.first_dual_serving,
			k.first_dual_serving - k.since);
		rc = 1;
	}
	if (k.dual_master && !allow_dual) {
		fprintf(stderr,
			"VIOLATION: %ld round(s) with two masters, the first "
			"at %" PRId64 " (+%" PRId64 " ms)\n",
			k.dual_master, k.first_dual_master,
			k.first_dual_master - k.since);
		rc = 1;
	}
	if (k.epoch_regress)
		rc = 1;
	if (expect) {
		const struct smp_track *t = NULL;

		for (size_t i = 0; i < k.n_tr; i++)
			if (strcmp(k.tr[i].name, expect) == 0)
				t = &k.tr[i];
		printf("failover_ms=%" PRId64 "\n", t ? t->first_master : -1);
		if (!t || t->first_master < 0) {
			fprintf(stderr, "VIOLATION: %s never master\n", expect);
			rc = 1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--once") == 0)
		return smp_once(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "--check") == 0)
		return smp_check_file(argc - 2, argv + 2);
	if (argc >= 2 && argv[1][0] == '-' && argv[1][1] == '-')
		return smp_usage();
	return smp_sample(argc, argv);
}
