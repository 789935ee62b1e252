/*
 * The control protocol between cmsadm and cmsd, and the status rendering.
 *
 * Over the unix socket the client sends one request line, at most
 * CTL_REQUEST_MAX bytes with its "\n" (a "\r" before it is ignored):
 *     status | status json | version | role | events | switchover |
 *     stop | start | maintenance on | maintenance off | admin |
 *     drbd-handler HOOK RES | sync-partition WORDS...
 * The server answers with "OK <n>\n" followed by exactly n bytes of body,
 * or "ERR <message>\n", then shuts down its side (EOF ends every reply).
 * The byte count lets the client tell a complete body from one cut short
 * by a daemon that died mid-reply.  The server then waits for the client
 * to hang up (or for its timeout) before it closes, because closing with
 * unread input would reset the connection and could lose the reply.
 *
 * Refusals, each answered with ERR and a close, never a crash:
 *   - a peer whose SO_PEERCRED uid is not 0 ("permission denied: ...");
 *   - more than CTL_REQUEST_MAX bytes without "\n" ("request too long");
 *   - a NUL byte, or anything that is not a known request
 *     ("unknown command \"...\"", at most 64 bytes quoted, unprintable
 *     bytes shown as '?').
 * A client that sends nothing is dropped after 5 s.
 */
#ifndef CMSD_CTLPROTO_H
#define CMSD_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmsd/plugin.h>

#define CTL_REQUEST_MAX	   4096
#define CTL_DEFAULT_SOCKET "/run/cmsd/cmsd.sock"

/* A growable string. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends len raw bytes (NULs included), keeping the string terminated. */
void sbuf_add(struct sbuf *b, const void *data, size_t len);
void sbuf_json_str(struct sbuf *b, const char *s); /* quoted, escaped */
void sbuf_free(struct sbuf *b);

enum ctl_req {
	CTL_REQ_STATUS,
	CTL_REQ_STATUS_JSON,
	CTL_REQ_VERSION,
	CTL_REQ_ROLE,	    /* "node1 master 7 serving": for scripts, cheap */
	CTL_REQ_EVENTS,	    /* recent state changes, one per line */
	CTL_REQ_SWITCHOVER, /* hand mastership to the other node */
	/* The operator's switches (agent/admin.h), on both nodes. */
	CTL_REQ_STOP,	   /* stop HA on the pair */
	CTL_REQ_START,	   /* start it again */
	CTL_REQ_MAINT_ON,  /* "maintenance on" */
	CTL_REQ_MAINT_OFF, /* "maintenance off" */
	CTL_REQ_ADMIN,	   /* one line of key=value: the switches on both
			      nodes, for cmsadm to wait on */
	/* "drbd-handler HOOK RESOURCE": DRBD's handler hook, from cmsadm
	 * drbd-handler; the body starts with drbdadm's exit code, or is
	 * "wait ..." when the answer is not ready (ask again). */
	CTL_REQ_DRBD_HANDLER,
	/* "sync-partition WORDS": cmsadm sync-partition's steps (agent/
	 * syncpart.h); the words, which may hold paths, in args->rest. */
	CTL_REQ_SYNCPART,
};

/* Arguments a request carries, NUL-terminated words ("" when none). */
#define CTL_ARGS_MAX 3
struct ctl_args {
	size_t n;
	char v[CTL_ARGS_MAX][64];
	/* CTL_REQ_SYNCPART: the text after "sync-partition ", printable
	 * ASCII only. */
	char rest[1024];
};

/* Checks a complete reply (the whole stream) and extracts its body, as
 * ctl_client_call() does: 0 OK, 1 ERR, -EPROTO.  *body is malloc'd. */
int ctl_parse_reply(const char *buf, size_t len, char **body);

/* Parses one request line (without "\n", len bytes).  0 and *req (and
 * the request's arguments in *args, when args is not NULL), or -EINVAL
 * with a message in err. */
int ctl_parse_request(const char *line, size_t len, enum ctl_req *req,
		      struct ctl_args *args, char *err, size_t errlen);

struct status_res {
	const char *id;
	const char *element; /* quorum, storage, resource, arbiter */
	const char *plugin, *version;
	const char *state;  /* Started, Stopped, Starting, Stopping, Failed,
			       Configured */
	const char *node;   /* where it runs, or NULL */
	const char *detail; /* e.g. the VIP address, or NULL */
	const char *holder; /* a shared LUN's reservation holder, or NULL */
	/* A replicated storage's last status (DRBD), or NULL. */
	const struct cmsd_storage_status *replica;
	const char *health; /* last monitor: RUNNING, STOPPED, ... or NULL */
	const char *last_error; /* "" when none */
	bool optional;
	uint64_t ops, timeouts, failures, late;
	/* The recovery policy's view (group.h): restarts done, failures
	 * within the restart window, and its last decision ("" none). */
	unsigned restarts, recent_failures;
	const char *recovery;
};

struct status_view {
	const char *version;
	const char *mode; /* node, arbiter */
	const char *cluster_id;
	const char *node_id, *node_name;
	const char *role;	 /* master, slave, startup, arbiter */
	const char *role_reason; /* why, in words */
	const char *master_name; /* NULL: none known */
	const char *slave_name;	 /* NULL: none known */
	const char *slave_state; /* Online, Offline, Unknown; NULL: Unknown */
	/* Two-node clusters: the Master/Slave Set lines' names ("Unknown"
	 * when the slave is offline) and the cluster's own JSON object
	 * (epoch, lease, failover, links, peer), added as "cluster". */
	const char *set_master, *set_slave;
	const char *cluster_json;
	/* The operator's switches: lines printed right after the reference
	 * block ("!! HA STOPPED ...", "" when none) and a JSON object added
	 * as "admin" (NULL: none). */
	const char *admin_text, *admin_json;
	bool standalone;
	const char *quorum; /* the quorum line after "quorum : " */
	const char *config, *plugin_dir;
	uint64_t uptime_s;
	const struct status_res *res;
	size_t n_res;
};

/*
 * Text: the reference `crm status` lines (master, slave, quorum, "-----",
 * one line per resource, "-----"), then the block that explains them: the
 * role and why, node, uptime, config, every instance with its plugin,
 * state, health and op counts, and each instance's last error.
 * JSON: one object with the same facts (see ctl_render_json for the keys).
 */
void ctl_render_text(const struct status_view *v, struct sbuf *out);
void ctl_render_json(const struct status_view *v, struct sbuf *out);

/*
 * Client side: sends `request` to the socket and returns the reply body in
 * *body (malloc'd).  0: OK; 1: the daemon answered ERR (body holds the
 * message); -ECONNREFUSED, -ENOENT, -EACCES...: could not connect;
 * -ETIMEDOUT: no complete reply in timeout_ms; -EPROTO: not a reply, or a
 * body shorter or longer than its byte count.
 */
int ctl_client_call(const char *socket_path, const char *request,
		    int timeout_ms, char **body);

#endif
