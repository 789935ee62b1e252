/*
 * The control protocol between cmsadm and cmsd, and the status rendering.
 *
 * Over the unix socket the client sends one request line, at most
 * CTL_REQUEST_MAX bytes with its "\n":
 *     status | status json | version
 * The server answers with "OK\n" followed by the body, or "ERR <message>\n",
 * then closes the connection: the end of the reply is the end of the stream.
 */
#ifndef CMSD_CTLPROTO_H
#define CMSD_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_REQUEST_MAX 4096
#define CTL_DEFAULT_SOCKET "/run/cmsd/cmsd.sock"

/* A growable string. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sbuf_json_str(struct sbuf *b, const char *s); /* quoted, escaped */
void sbuf_free(struct sbuf *b);

enum ctl_req { CTL_REQ_STATUS, CTL_REQ_STATUS_JSON, CTL_REQ_VERSION };

/* Parses one request line (without "\n", len bytes).  0 and *req, or
 * -EINVAL with a message in err. */
int ctl_parse_request(const char *line, size_t len, enum ctl_req *req,
		      char *err, size_t errlen);

struct status_res {
	const char *id;
	const char *element; /* quorum, storage, resource, arbiter */
	const char *plugin, *version;
	const char *state;  /* Started, Stopped, Starting, Stopping, Failed,
			       Configured */
	const char *node;   /* where it runs, or NULL */
	const char *detail; /* e.g. the VIP address, or NULL */
	const char *health; /* last monitor: RUNNING, STOPPED, ... or NULL */
	const char *last_error; /* "" when none */
	bool optional;
	uint64_t ops, timeouts, failures, late;
};

struct status_view {
	const char *version;
	const char *mode; /* node, arbiter */
	const char *cluster_id;
	const char *node_id, *node_name;
	const char *role;        /* master, slave, startup, arbiter */
	const char *role_reason; /* why, in words */
	const char *master_name; /* NULL: none known */
	const char *slave_name;  /* NULL: none known */
	bool slave_online;
	bool standalone;
	const char *quorum; /* the quorum line after "quorum : " */
	const char *config, *plugin_dir;
	uint64_t uptime_s;
	const struct status_res *res;
	size_t n_res;
};

/* The reference `crm status` lines, then what explains them. */
void ctl_render_text(const struct status_view *v, struct sbuf *out);
void ctl_render_json(const struct status_view *v, struct sbuf *out);

/*
 * Client side: sends `request` to the socket and returns the reply body in
 * *body (malloc'd).  0: OK; 1: the daemon answered ERR (body holds the
 * message); -ECONNREFUSED etc.: could not connect; -ETIMEDOUT: no reply in
 * timeout_ms; -EPROTO: not a reply.
 */
int ctl_client_call(const char *socket_path, const char *request,
		    int timeout_ms, char **body);

#endif
