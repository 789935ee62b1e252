#include "ctlproto.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 512;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

void sbuf_add(struct sbuf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->cap - b->len <= len) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap - b->len <= len) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, data, len);
	b->len += len;
	b->s[b->len] = '\0';
}

void sbuf_json_str(struct sbuf *b, const char *s)
{
	if (!s) {
		sbuf_printf(b, "null");
		return;
	}
	sbuf_printf(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			sbuf_printf(b, "\\\"");
			break;
		case '\\':
			sbuf_printf(b, "\\\\");
			break;
		case '\n':
			sbuf_printf(b, "\\n");
			break;
		case '\r':
			sbuf_printf(b, "\\r");
			break;
		case '\t':
			sbuf_printf(b, "\\t");
			break;
		default:
			if (*p < 0x20)
				sbuf_printf(b, "\\u%04x", *p);
			else
				sbuf_printf(b, "%c", *p);
		}
	}
	sbuf_printf(b, "\"");
}

void sbuf_free(struct sbuf *b)
{
	free(b->s);
	*b = (struct sbuf){0};
}

/* A word of a request's arguments: [A-Za-z0-9_.-], 1..63 bytes. */
static bool ctl_word_ok(const char *w, size_t n)
{
	if (n == 0 || n >= sizeof(((struct ctl_args *)0)->v[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = w[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* "NAME ARG..." for a request that takes exactly nargs words. */
static int ctl_parse_args(const char *name, const char *line, size_t len,
			  size_t nargs, struct ctl_args *args, char *err,
			  size_t errlen)
{
	size_t nl = strlen(name), i = nl;
	struct ctl_args a = {0};

	while (i < len) {
		if (line[i] != ' ')
			goto bad;
		size_t b = ++i;
		while (i < len && line[i] != ' ')
			i++;
		if (a.n == CTL_ARGS_MAX || !ctl_word_ok(line + b, i - b))
			goto bad;
		memcpy(a.v[a.n], line + b, i - b);
		a.v[a.n++][i - b] = '\0';
	}
	if (a.n != nargs)
		goto bad;
	if (args)
		*args = a;
	return 0;
bad:
	snprintf(err, errlen,
		 "%s takes %zu argument%s (letters, digits, \"_.-\", at most "
		 "63 bytes each)",
		 name, nargs, nargs == 1 ? "" : "s");
	return -EINVAL;
}

int ctl_parse_request(const char *line, size_t len, enum ctl_req *req,
		      struct ctl_args *args, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t nargs;
		enum ctl_req req;
	} with_args[] = {
		{"drbd-handler", 2, CTL_REQ_DRBD_HANDLER},
	};

	static const struct {
		const char *text;
		enum ctl_req req;
	} reqs[] = {
		{"status", CTL_REQ_STATUS},
		{"status json", CTL_REQ_STATUS_JSON},
		{"version", CTL_REQ_VERSION},
		{"role", CTL_REQ_ROLE},
		{"events", CTL_REQ_EVENTS},
		{"switchover", CTL_REQ_SWITCHOVER},
		{"stop", CTL_REQ_STOP},
		{"start", CTL_REQ_START},
		{"maintenance on", CTL_REQ_MAINT_ON},
		{"maintenance off", CTL_REQ_MAINT_OFF},
		{"admin", CTL_REQ_ADMIN},
	};

	/* The limit counts the "\n" too, as the server reads it. */
	if (len >= CTL_REQUEST_MAX) {
		snprintf(err, errlen, "request too long (max %d bytes)",
			 CTL_REQUEST_MAX);
		return -EMSGSIZE;
	}
	if (len && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len)) {
		snprintf(err, errlen, "request contains a NUL byte");
		return -EINVAL;
	}
	if (args)
		*args = (struct ctl_args){0};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (strlen(reqs[i].text) == len &&
		    memcmp(reqs[i].text, line, len) == 0) {
			*req = reqs[i].req;
			return 0;
		}
	/* sync-partition's words carry paths (/dev/sdc, /vms/sync): its own
	 * rule, printable ASCII, checked word by word by agent/syncpart.c. */
	static const char sp[] = "sync-partition ";
	if (len > sizeof(sp) - 1 && memcmp(line, sp, sizeof(sp) - 1) == 0) {
		size_t n = len - (sizeof(sp) - 1);
		const char *r = line + sizeof(sp) - 1;
		bool ok = n < sizeof(((struct ctl_args *)0)->rest);
		for (size_t i = 0; ok && i < n; i++)
			ok = r[i] >= 0x20 && r[i] < 0x7f;
		if (!ok) {
			snprintf(err, errlen,
				 "sync-partition: arguments of printable "
				 "ASCII, at most %zu bytes",
				 sizeof(((struct ctl_args *)0)->rest) - 1);
			return -EINVAL;
		}
		if (args) {
			memcpy(args->rest, r, n);
			args->rest[n] = '\0';
		}
		*req = CTL_REQ_SYNCPART;
		return 0;
	}
	for (size_t i = 0; i < sizeof(with_args) / sizeof(with_args[0]); i++) {
		size_t nl = strlen(with_args[i].name);
		if (len >= nl && memcmp(with_args[i].name, line, nl) == 0 &&
		    (len == nl || line[nl] == ' ')) {
			int rc = ctl_parse_args(with_args[i].name, line, len,
						with_args[i].nargs, args, err,
						errlen);
			if (rc == 0)
				*req = with_args[i].req;
			return rc;
		}
	}
	/* Quote at most 64 printable bytes of what came. */
	char shown[65];
	size_t n = len < 64 ? len : 64;
	for (size_t i = 0; i < n; i++)
		shown[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	shown[n] = '\0';
	snprintf(err, errlen, "unknown command \"%s%s\"", shown,
		 len > 64 ? "..." : "");
	return -EINVAL;
}

/* "3d04h05m06s", without the leading zero units. */
static void ctl_render_uptime(struct sbuf *o, uint64_t s)
{
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d)
		sbuf_printf(o, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", d, h,
			    m);
	else if (h)
		sbuf_printf(o, "%" PRIu64 "h%02" PRIu64 "m", h, m);
	else if (m)
		sbuf_printf(o, "%" PRIu64 "m", m);
	sbuf_printf(o, (d || h || m) ? "%02" PRIu64 "s" : "%" PRIu64 "s",
		    s % 60);
}

static const char *ctl_storage_role(enum cmsd_storage_role r)
{
	return r == CMSD_ROLE_PRIMARY	  ? "Primary"
	       : r == CMSD_ROLE_SECONDARY ? "Secondary"
					  : "Unknown";
}

/* "Connected Primary/Secondary UpToDate/UpToDate, syncing 37% (ETA 53 s),
 * data usable, generation F5682BF1AE45298A; DETAIL" */
static void ctl_render_replica(struct sbuf *o,
			       const struct cmsd_storage_status *st)
{
	sbuf_printf(o, "%s %s/%s %s/%s",
		    *st->connection ? st->connection : "Unknown",
		    ctl_storage_role(st->role), ctl_storage_role(st->peer_role),
		    *st->disk ? st->disk : "DUnknown",
		    *st->peer_disk ? st->peer_disk : "DUnknown");
	if (st->sync_percent >= 0) {
		sbuf_printf(o, ", syncing %d%%", st->sync_percent);
		if (st->sync_eta_s >= 0)
			sbuf_printf(o, " (ETA %d s)", st->sync_eta_s);
	}
	sbuf_printf(o, ", data %s, generation %016" PRIX64,
		    st->data_usable ? "usable" : "not usable", st->generation);
	if (*st->detail)
		sbuf_printf(o, "; %s", st->detail);
}

static bool ctl_is_arbiter(const struct status_view *v)
{
	return v->mode && strcmp(v->mode, "arbiter") == 0;
}

/* "Master/Slave Set: [/var/lib/mysql-share]" and its two lines, for each
 * storage shown with a mount point (two-node clusters). */
static void ctl_render_sets(const struct status_view *v, struct sbuf *o)
{
	for (size_t i = 0; i < v->n_res; i++) {
		const struct status_res *r = &v->res[i];
		if (strcmp(r->element, "storage") != 0 || !r->detail ||
		    !v->set_master)
			continue;
		sbuf_printf(o, "Master/Slave Set: [%s]\n", r->detail);
		sbuf_printf(o, "  Master: [%s]\n", v->set_master);
		sbuf_printf(o, "  Slave  : [%s]\n",
			    v->set_slave ? v->set_slave : "Unknown");
	}
}

/* The reference lines: what an operator of the old product reads. */
static void ctl_render_reference(const struct status_view *v, struct sbuf *o)
{
	if (ctl_is_arbiter(v)) {
		sbuf_printf(o, "arbiter: %s (Online)\n", v->node_name);
	} else {
		if (v->master_name)
			sbuf_printf(o, "%-6s : %s (Online)\n", "master",
				    v->master_name);
		else
			sbuf_printf(o, "%-6s : none\n", "master");
		if (v->standalone)
			sbuf_printf(o, "%-6s : none (standalone)\n", "slave");
		else if (v->slave_name)
			sbuf_printf(
				o, "%-6s : %s (%s)\n", "slave", v->slave_name,
				v->slave_state ? v->slave_state : "Unknown");
		else
			sbuf_printf(o, "%-6s : none\n", "slave");
		sbuf_printf(o, "%-6s : %s\n", "quorum",
			    v->quorum ? v->quorum : "none");
	}
	sbuf_printf(o, "-----\n");
	/* As the reference prints them: the first resource (the VIP), then
	 * each replicated storage as a Master/Slave Set, then the rest. */
	size_t shown = 0;
	for (size_t i = 0; i < v->n_res; i++) {
		const struct status_res *r = &v->res[i];
		if (strcmp(r->element, "resource") != 0 &&
		    strcmp(r->element, "arbiter") != 0)
			continue;
		sbuf_printf(o, "%-6s : ", r->id);
		if (r->detail)
			sbuf_printf(o, "[%s] ", r->detail);
		if (r->node)
			sbuf_printf(o, "%s %s\n", r->state, r->node);
		else
			sbuf_printf(o, "%s\n", r->state);
		if (++shown == 1)
			ctl_render_sets(v, o);
	}
	if (!shown)
		ctl_render_sets(v, o);
	sbuf_printf(o, "-----\n");
}

void ctl_render_text(const struct status_view *v, struct sbuf *o)
{
	ctl_render_reference(v, o);
	if (v->admin_text)
		sbuf_printf(o, "%s", v->admin_text);
	sbuf_printf(o, "role   : %s: %s\n", v->role ? v->role : "unknown",
		    v->role_reason ? v->role_reason : "");
	if (v->node_name) {
		sbuf_printf(o, "node   : ");
		if (v->node_id)
			sbuf_printf(o, "%s (%s)", v->node_id, v->node_name);
		else
			sbuf_printf(o, "%s", v->node_name);
		if (v->cluster_id)
			sbuf_printf(o, ", cluster %s", v->cluster_id);
		sbuf_printf(o, ", %s mode, cmsd %s, up ",
			    v->mode ? v->mode : "node",
			    v->version ? v->version : "?");
		ctl_render_uptime(o, v->uptime_s);
		sbuf_printf(o, "\n");
	}
	if (v->config)
		sbuf_printf(o, "config : %s (plugins from %s)\n", v->config,
			    v->plugin_dir ? v->plugin_dir : "?");
	for (size_t i = 0; i < v->n_res; i++) {
		const struct status_res *r = &v->res[i];
		sbuf_printf(o, "%-6s : %s%s %s %s: %s", r->id, r->element,
			    r->optional ? " (optional)" : "", r->plugin,
			    r->version ? r->version : "?", r->state);
		if (r->node)
			sbuf_printf(o, " on %s", r->node);
		if (r->health)
			sbuf_printf(o, ", monitor %s", r->health);
		sbuf_printf(o, ", %" PRIu64 " op%s", r->ops,
			    r->ops == 1 ? "" : "s");
		if (r->failures)
			sbuf_printf(o, ", %" PRIu64 " failed", r->failures);
		if (r->timeouts)
			sbuf_printf(o, ", %" PRIu64 " timed out", r->timeouts);
		if (r->late)
			sbuf_printf(o, ", %" PRIu64 " late", r->late);
		if (r->restarts)
			sbuf_printf(o, ", restarted %u time%s", r->restarts,
				    r->restarts == 1 ? "" : "s");
		if (r->holder)
			sbuf_printf(o, ", reservation holder %s", r->holder);
		sbuf_printf(o, "\n");
	}
	for (size_t i = 0; i < v->n_res; i++)
		if (v->res[i].replica) {
			sbuf_printf(o, "replica: %s: ", v->res[i].id);
			ctl_render_replica(o, v->res[i].replica);
			sbuf_printf(o, "\n");
		}
	for (size_t i = 0; i < v->n_res; i++)
		if (v->res[i].last_error && *v->res[i].last_error)
			sbuf_printf(o, "error  : %s: %s\n", v->res[i].id,
				    v->res[i].last_error);
	for (size_t i = 0; i < v->n_res; i++)
		if (v->res[i].recovery && *v->res[i].recovery)
			sbuf_printf(o, "recover: %s: %s\n", v->res[i].id,
				    v->res[i].recovery);
}

static void json_kv_str(struct sbuf *o, const char *k, const char *v,
			bool comma)
{
	sbuf_json_str(o, k);
	sbuf_printf(o, ":");
	sbuf_json_str(o, v);
	if (comma)
		sbuf_printf(o, ",");
}

void ctl_render_json(const struct status_view *v, struct sbuf *o)
{
	sbuf_printf(o, "{");
	json_kv_str(o, "version", v->version, true);
	json_kv_str(o, "mode", v->mode, true);
	json_kv_str(o, "cluster", v->cluster_id, true);
	json_kv_str(o, "node", v->node_id, true);
	json_kv_str(o, "node_name", v->node_name, true);
	json_kv_str(o, "role", v->role, true);
	json_kv_str(o, "role_reason", v->role_reason, true);
	json_kv_str(o, "master", v->master_name, true);
	json_kv_str(o, "slave", v->slave_name, true);
	json_kv_str(o, "slave_state",
		    v->slave_name
			    ? (v->slave_state ? v->slave_state : "Unknown")
			    : NULL,
		    true);
	sbuf_printf(o, "\"standalone\":%s,", v->standalone ? "true" : "false");
	json_kv_str(o, "quorum", v->quorum, true);
	json_kv_str(o, "config", v->config, true);
	json_kv_str(o, "plugin_dir", v->plugin_dir, true);
	sbuf_printf(o, "\"uptime_s\":%" PRIu64 ",\"instances\":[", v->uptime_s);
	for (size_t i = 0; i < v->n_res; i++) {
		const struct status_res *r = &v->res[i];
		sbuf_printf(o, "%s{", i ? "," : "");
		json_kv_str(o, "id", r->id, true);
		json_kv_str(o, "element", r->element, true);
		json_kv_str(o, "plugin", r->plugin, true);
		json_kv_str(o, "plugin_version", r->version, true);
		json_kv_str(o, "state", r->state, true);
		json_kv_str(o, "node", r->node, true);
		json_kv_str(o, "detail", r->detail, true);
		json_kv_str(o, "holder", r->holder, true);
		if (r->replica) {
			const struct cmsd_storage_status *st = r->replica;
			char gen[17];
			snprintf(gen, sizeof(gen), "%016" PRIX64,
				 st->generation);
			sbuf_printf(o, "\"replica\":{");
			json_kv_str(o, "connection", st->connection, true);
			json_kv_str(o, "role", ctl_storage_role(st->role),
				    true);
			json_kv_str(o, "peer_role",
				    ctl_storage_role(st->peer_role), true);
			json_kv_str(o, "disk", st->disk, true);
			json_kv_str(o, "peer_disk", st->peer_disk, true);
			json_kv_str(o, "generation", gen, true);
			json_kv_str(o, "detail", st->detail, true);
			sbuf_printf(o,
				    "\"data_usable\":%s,\"sync_percent\":%d,"
				    "\"sync_eta_s\":%d},",
				    st->data_usable ? "true" : "false",
				    st->sync_percent, st->sync_eta_s);
		}
		json_kv_str(o, "health", r->health, true);
		json_kv_str(o, "last_error", r->last_error, true);
		json_kv_str(o, "recovery",
			    r->recovery && *r->recovery ? r->recovery : NULL,
			    true);
		sbuf_printf(o, "\"restarts\":%u,\"recent_failures\":%u,",
			    r->restarts, r->recent_failures);
		sbuf_printf(o,
			    "\"optional\":%s,\"ops\":%" PRIu64
			    ",\"timeouts\":%" PRIu64 ",\"failures\":%" PRIu64
			    ",\"late_completions\":%" PRIu64 "}",
			    r->optional ? "true" : "false", r->ops, r->timeouts,
			    r->failures, r->late);
	}
	sbuf_printf(o, "]");
	if (v->cluster_json)
		sbuf_printf(o, ",\"cluster\":%s", v->cluster_json);
	if (v->admin_json)
		sbuf_printf(o, ",\"admin\":%s", v->admin_json);
	sbuf_printf(o, "}\n");
}

int ctl_parse_reply(const char *buf, size_t len, char **body)
{
	const char *nl = memchr(buf, '\n', len);
	char *end;

	*body = NULL;
	if (!nl)
		return -EPROTO;
	if (len >= 4 && memcmp(buf, "ERR ", 4) == 0) {
		/* The message is the rest of the stream. */
		*body = strndup(buf + 4, len - 4);
		return *body ? 1 : -ENOMEM;
	}
	if (len < 4 || memcmp(buf, "OK ", 3) != 0 || buf[3] < '0' ||
	    buf[3] > '9')
		return -EPROTO;
	errno = 0;
	unsigned long long n = strtoull(buf + 3, &end, 10);
	if (errno || end != nl)
		return -EPROTO;
	size_t got = len - (size_t)(nl + 1 - buf);
	if (n != got)
		return -EPROTO; /* cut short, or trailing bytes */
	*body = strndup(nl + 1, got);
	return *body ? 0 : -ENOMEM;
}

static int64_t ctl_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Connects without blocking past the deadline: a daemon that hangs stops
 * accepting, its backlog fills up, and a blocking connect would then wait
 * for ever. */
static int ctl_client_connect(int fd, const struct sockaddr_un *sa,
			      const struct timespec *deadline)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (ctl_ms_left(deadline) <= 0)
			return -ETIMEDOUT;
		struct timespec pause = {.tv_nsec = 50 * 1000000};
		nanosleep(&pause, NULL);
	}
}

/* Sends the whole request line; -errno when the daemon is gone or refused
 * us early (the caller still reads: the reply may say why). */
static int ctl_client_send(int fd, const char *request,
			   const struct timespec *deadline)
{
	struct sbuf req = {0};
	size_t off = 0;
	int rc = 0;

	sbuf_printf(&req, "%s\n", request);
	if (req.oom)
		return -ENOMEM;
	while (off < req.len) {
		ssize_t n = send(fd, req.s + off, req.len - off, MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			rc = -errno;
			break;
		}
		int64_t left = ctl_ms_left(deadline);
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	sbuf_free(&req);
	return rc;
}

int ctl_client_call(const char *socket_path, const char *request,
		    int timeout_ms, char **body)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sbuf in = {0};
	struct timespec deadline;
	int fd, rc;

	*body = NULL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if ((rc = ctl_client_connect(fd, &sa, &deadline)) < 0)
		goto out;
	int send_err = ctl_client_send(fd, request, &deadline);
	if (send_err == -ETIMEDOUT || send_err == -ENOMEM) {
		rc = send_err;
		goto out;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = ctl_ms_left(&deadline);
		if (left <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? -ETIMEDOUT : -errno;
			goto out;
		}
		char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0 && in.len == 0 && send_err) {
			rc = send_err;
			goto out;
		}
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		/* Raw: a body is counted in bytes, whatever they are. */
		sbuf_add(&in, buf, (size_t)r);
	}
	if (in.oom) {
		rc = -ENOMEM;
		goto out;
	}
	if (in.len == 0 && send_err) {
		rc = send_err;
		goto out;
	}
	rc = ctl_parse_reply(in.s ? in.s : "", in.len, body);
out:
	sbuf_free(&in);
	close(fd);
	return rc;
}
