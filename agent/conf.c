/*
 * Loads cmsd.xml: a safe parse (no DTD, no entities, no network), the
 * agent's own structure check with precise messages, the RelaxNG schema,
 * semantic checks, then each plugin's validate().  Every stage reports all
 * it finds; a stage runs only when the ones before it passed, because its
 * checks assume their shape.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "conf_priv.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "loop.h"

struct conf_doc {
	xmlDoc *doc;
	struct conf_ctx ctx;
};

/* ---- stage 1: parse ---- */

/* The largest cmsd.xml we read: a real one is a few KiB. */
#define CONF_MAX_FILE (4u << 20)

static void conf_line_error(struct conf_ctx *ctx, int line, const char *fmt,
			    ...) __attribute__((format(printf, 3, 4)));
static void conf_line_error(struct conf_ctx *ctx, int line, const char *fmt,
			    ...)
{
	char msg[512], out[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(out, sizeof(out), "%s:%d: %s", ctx->path, line, msg);
	else
		snprintf(out, sizeof(out), "%s: %s", ctx->path, msg);
	ctx->errors++;
	if (ctx->err)
		ctx->err(out, ctx->err_arg);
	else
		fprintf(stderr, "%s\n", out);
}

/* The parser context's structured error handler: libxml2 errors of this
 * load are reported in our format, never printed by libxml2 itself.  It is
 * set on the parser context (sax->serror), not globally, so that two loads
 * (a reload beside the running config) do not share a sink. */
static void conf_xml_error(void *data, xmlErrorPtr e)
{
	xmlParserCtxtPtr pc = e && e->ctxt ? e->ctxt : data;
	struct conf_ctx *ctx = pc ? pc->_private : NULL;
	char msg[512];

	if (!ctx || !e || e->level == XML_ERR_WARNING)
		return;
	/* After a refused DOCTYPE the parser was stopped on purpose: what it
	 * says about the truncated rest is noise. */
	if (ctx->doctype)
		return;
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "error");
	msg[strcspn(msg, "\n")] = '\0';
	if (e->node && ((xmlNode *)e->node)->type == XML_ELEMENT_NODE)
		conf_report(ctx, e->node, "%s", msg);
	else
		conf_line_error(ctx, e->line, "%s", msg);
}

/* SAX internalSubset: called at "<!DOCTYPE name", before the subset is
 * read.  The format has no use for a DTD, and a DTD is where external
 * entities (XXE) and entity expansion bombs come from: refuse it and stop
 * the parser there, so that nothing the DOCTYPE names is ever opened. */
static void conf_sax_doctype(void *data, const xmlChar *name,
			     const xmlChar *external_id,
			     const xmlChar *system_id)
{
	xmlParserCtxtPtr pc = data;
	struct conf_ctx *ctx = pc->_private;

	(void)external_id;
	(void)system_id;
	conf_line_error(ctx, pc->input ? pc->input->line : 0,
			"DOCTYPE <%s> not allowed: cmsd.xml takes no DTD and "
			"no entities",
			name ? (const char *)name : "");
	ctx->doctype = true;
	xmlStopParser(pc);
}

/* Belt and braces: should libxml2 ever ask for an external entity, refuse
 * it rather than let the default resolver open a file or a URL. */
static xmlParserInputPtr conf_sax_resolve(void *data, const xmlChar *public_id,
					  const xmlChar *system_id)
{
	xmlParserCtxtPtr pc = data;
	struct conf_ctx *ctx = pc->_private;

	(void)public_id;
	if (!ctx->doctype)
		conf_line_error(ctx, pc->input ? pc->input->line : 0,
				"external entity \"%s\" refused",
				system_id ? (const char *)system_id : "");
	ctx->doctype = true;
	xmlStopParser(pc);
	return NULL;
}

static char *conf_read_file(struct conf_ctx *ctx, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	FILE *f;

	/* stat before open: opening a FIFO or a device could block. */
	if (stat(ctx->path, &st) < 0) {
		conf_line_error(ctx, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_line_error(ctx, 0, "not a regular file");
		return NULL;
	}
	f = fopen(ctx->path, "re");
	if (!f) {
		conf_line_error(ctx, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		conf_line_error(ctx, 0, "not a regular file");
		goto out;
	}
	if ((uintmax_t)st.st_size > CONF_MAX_FILE) {
		conf_line_error(ctx, 0, "too large (%jd bytes, at most %u)",
				(intmax_t)st.st_size, CONF_MAX_FILE);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		conf_line_error(ctx, 0, "out of memory");
		goto out;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		conf_line_error(ctx, 0, "cannot read: %s", strerror(errno));
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[*len] = '\0';
out:
	fclose(f);
	return buf;
}

static xmlDoc *conf_parse(struct conf_ctx *ctx)
{
	/* NONET: never fetch anything.  No NOENT, DTDLOAD, DTDATTR or
	 * DTDVALID: entities are not substituted and no external subset is
	 * read; the DOCTYPE itself is refused by conf_sax_doctype.
	 * BIG_LINES: without it libxml2 caps line numbers at 65535, and a
	 * message would point at the wrong line of a long file. */
	const int opts =
		XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES;
	xmlParserCtxtPtr pc = NULL;
	xmlDoc *doc = NULL;
	size_t len = 0;
	char *buf;

	buf = conf_read_file(ctx, &len);
	if (!buf)
		return NULL;
	if (len > INT_MAX || !(pc = xmlCreateMemoryParserCtxt(buf, (int)len))) {
		conf_line_error(ctx, 0, "out of memory");
		goto out;
	}
	xmlCtxtUseOptions(pc, opts);
	pc->_private = ctx;
	pc->sax->serror = conf_xml_error;
	pc->sax->internalSubset = conf_sax_doctype;
	pc->sax->externalSubset = NULL;
	pc->sax->resolveEntity = conf_sax_resolve;
	pc->vctxt.error = NULL;
	pc->vctxt.warning = NULL;
	xmlParseDocument(pc);
	doc = pc->myDoc;
	pc->myDoc = NULL;
	if (doc && (!pc->wellFormed || ctx->doctype || ctx->errors)) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	if (!doc && !ctx->errors)
		conf_line_error(ctx, 0, "not an XML document");
out:
	if (pc)
		xmlFreeParserCtxt(pc);
	free(buf);
	return doc;
}

/* ---- stage 2: structure (names, counts, order, attribute values) ---- */

/*
 * What may appear where, outside plugin content.  The schema says the same
 * in RelaxNG; this walk exists because libxml2's RelaxNG messages ("Element
 * cmsd has extra content: storage") name neither the real problem nor, often,
 * the right line.  The walk catches what operators get wrong and says it in
 * their terms; the schema stays the reference and the backstop.
 */
struct conf_shape {
	const char *parent;
	const char *const *children;
	const char *const *attrs;
	const char *const *required; /* attributes that must be there */
	const char *const *once;     /* children allowed at most once */
	bool plugin;		     /* children belong to a plugin */
};

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
static const struct conf_shape conf_shapes[] = {
	{"cmsd", L("paths", "cluster", "quorum", "storage", "group", "arbiter"),
	 L("version", "mode", "node"), L("version"),
	 L("paths", "cluster", "quorum", "group", "arbiter"), false},
	{"paths", L(NULL),
	 L("plugin-dir", "state-dir", "log-file", "control-socket"), L(NULL),
	 L(NULL), false},
	{"cluster", L("key-file", "tls", "timers", "split-brain", "node"),
	 L("id"), L("id"), L("key-file", "tls", "timers", "split-brain"),
	 false},
	{"split-brain", L(NULL), L("prefer"), L(NULL), L(NULL), false},
	{"key-file", L(NULL), L(NULL), L(NULL), L(NULL), false},
	{"tls", L(NULL), L("ca", "cert", "key"), L("ca", "cert", "key"),
	 L(NULL), false},
	{"timers", L(NULL), L("heartbeat-interval", "deadtime", "lease"),
	 L(NULL), L(NULL), false},
	{"node", L("link", "control"), L("id", "name"), L("id"), L("control"),
	 false},
	{"link", L(NULL), L("address", "port"), L("address"), L(NULL), false},
	{"control", L(NULL), L("address", "port"), L("address"), L(NULL),
	 false},
	{"group", L("resource"), L("id"), L("id"), L(NULL), false},
	{"quorum", NULL, L("id", "plugin"), L("id", "plugin"), NULL, true},
	{"storage", NULL, L("id", "plugin"), L("id", "plugin"), NULL, true},
	{"arbiter", NULL, L("id", "plugin"), L("id", "plugin"), NULL, true},
	{"resource", NULL,
	 L("id", "plugin", "storage", "optional", "start-timeout",
	   "stop-timeout", "monitor-interval", "monitor-timeout",
	   "max-restarts", "restart-window"),
	 L("id", "plugin"), NULL, true},
};

/* The children of <cmsd> in each mode, in the order the schema wants. */
static const char *const *const conf_root_order[] = {
	[CONF_MODE_NODE] = L("paths", "cluster", "quorum", "storage", "group"),
	[CONF_MODE_ARBITER] = L("paths", "arbiter"),
};
#undef L

/* Types of the agent's attributes, checked in the walk so that a bad value
 * gets its own message instead of the schema's "failed to validate". */
enum conf_attr_type {
	AT_DURATION,
	AT_PORT,
	AT_YESNO,
	AT_COUNT,
	AT_ID,
	AT_PLUGIN,
	AT_PATH,
	AT_VERSION,
	AT_MODE,
};

static const struct {
	const char *name;
	enum conf_attr_type type;
} conf_attr_types[] = {
	{"heartbeat-interval", AT_DURATION},
	{"deadtime", AT_DURATION},
	{"lease", AT_DURATION},
	{"start-timeout", AT_DURATION},
	{"stop-timeout", AT_DURATION},
	{"monitor-interval", AT_DURATION},
	{"monitor-timeout", AT_DURATION},
	{"restart-window", AT_DURATION},
	{"port", AT_PORT},
	{"optional", AT_YESNO},
	{"max-restarts", AT_COUNT},
	{"id", AT_ID},
	{"node", AT_ID},
	{"storage", AT_ID},
	{"plugin", AT_PLUGIN},
	{"plugin-dir", AT_PATH},
	{"state-dir", AT_PATH},
	{"log-file", AT_PATH},
	{"control-socket", AT_PATH},
	{"ca", AT_PATH},
	{"cert", AT_PATH},
	{"key", AT_PATH},
	{"version", AT_VERSION},
	{"mode", AT_MODE},
};

/* [A-Za-z][A-Za-z0-9_-]{0,62}, as the schema's "id". */
static bool conf_is_id(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 63 || !isalpha((unsigned char)v[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return false;
	return true;
}

/* [a-z0-9_-]{1,64}: a plugin name is a file name, never a path. */
static bool conf_is_plugin_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)v[i]) &&
		    !isdigit((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return false;
	return true;
}

static void conf_check_attr_value(struct conf_ctx *ctx, xmlNode *n,
				  const xmlAttr *a)
{
	xmlChar *raw = xmlNodeListGetString(n->doc, a->children, 1);
	const char *v = raw ? (const char *)raw : "";
	const char *name = (const char *)a->name;
	uint64_t u;
	int64_t i;

	for (size_t k = 0;
	     k < sizeof(conf_attr_types) / sizeof(conf_attr_types[0]); k++) {
		if (strcmp(conf_attr_types[k].name, name) != 0)
			continue;
		switch (conf_attr_types[k].type) {
		case AT_DURATION:
			if (conf_parse_duration(v, &u) < 0)
				conf_report(ctx, n,
					    "%s=\"%s\" is not a duration (e.g. "
					    "200ms, 1s, 2m, 1h)",
					    name, v);
			break;
		case AT_PORT:
			if (conf_parse_int(v, &i) < 0 || i < 1 || i > 65535)
				conf_report(
					ctx, n,
					"%s=\"%s\" is not a port (1..65535)",
					name, v);
			break;
		case AT_YESNO:
			if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
				conf_report(ctx, n,
					    "%s=\"%s\" is not yes or no", name,
					    v);
			break;
		case AT_COUNT:
			if (conf_parse_int(v, &i) < 0 || i < 0 || i > 1000)
				conf_report(ctx, n,
					    "%s=\"%s\" is not a number in "
					    "0..1000",
					    name, v);
			break;
		case AT_ID:
			if (!conf_is_id(v))
				conf_report(ctx, n,
					    "%s=\"%s\" is not an id (a letter, "
					    "then letters, digits, '-' or "
					    "'_'; at most 63)",
					    name, v);
			break;
		case AT_PLUGIN:
			if (!conf_is_plugin_name(v))
				conf_report(ctx, n,
					    "%s=\"%s\" is not a plugin name "
					    "(a-z, 0-9, '-' and '_'; no "
					    "path, no \".so\")",
					    name, v);
			break;
		case AT_PATH:
			if (v[0] != '/')
				conf_report(ctx, n,
					    "%s=\"%s\" is not an absolute path",
					    name, v);
			break;
		case AT_VERSION:
			if (strcmp(v, "1") != 0)
				conf_report(ctx, n,
					    "version=\"%s\" is not supported: "
					    "this cmsd reads version=\"1\"",
					    v);
			break;
		case AT_MODE:
			if (strcmp(v, "node") != 0 && strcmp(v, "arbiter") != 0)
				conf_report(ctx, n,
					    "mode=\"%s\" is not \"node\" or "
					    "\"arbiter\"",
					    v);
			break;
		}
	}
	xmlFree(raw);
}

/* Children an element must have (in node mode, for <cmsd>). */
static void conf_check_required(struct conf_ctx *ctx, xmlNode *n,
				enum conf_mode mode)
{
	static const struct {
		const char *parent, *child;
	} req[] = {
		{"cluster", "node"},
		{"node", "link"},
		{"group", "resource"},
	};
	const char *name = (const char *)n->name;

	if (strcmp(name, "cmsd") == 0) {
		bool arb = mode == CONF_MODE_ARBITER;
		const char *need = arb ? "arbiter" : "cluster";
		if (!conf_count_children(n, need))
			conf_report(ctx, n, "missing required <%s>%s", need,
				    arb ? " (mode=\"arbiter\")" : "");
		return;
	}
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (strcmp(name, req[i].parent) == 0 &&
		    !conf_count_children(n, req[i].child))
			conf_report(ctx, n, "missing required <%s>",
				    req[i].child);
}

static const struct conf_shape *conf_shape_of(const xmlNode *n)
{
	for (size_t i = 0; i < sizeof(conf_shapes) / sizeof(conf_shapes[0]);
	     i++)
		if (xmlStrcmp(n->name, BAD_CAST conf_shapes[i].parent) == 0)
			return &conf_shapes[i];
	return NULL;
}

static bool conf_in_list(const xmlChar *name, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (xmlStrcmp(name, BAD_CAST list[i]) == 0)
			return true;
	return false;
}

static ssize_t conf_list_index(const xmlChar *name, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (xmlStrcmp(name, BAD_CAST list[i]) == 0)
			return (ssize_t)i;
	return -1;
}

static enum conf_mode conf_mode_of(const xmlNode *root)
{
	xmlChar *mode = xmlGetProp(root, BAD_CAST "mode");
	bool arb = mode && xmlStrcmp(mode, BAD_CAST "arbiter") == 0;

	xmlFree(mode);
	return arb ? CONF_MODE_ARBITER : CONF_MODE_NODE;
}

/* <cmsd>'s children: which belong to the mode, and their order. */
static bool conf_check_root_child(struct conf_ctx *ctx, const xmlNode *root,
				  xmlNode *k, enum conf_mode mode,
				  const xmlNode **last)
{
	const char *const *order = conf_root_order[mode];
	const char *join = mode == CONF_MODE_ARBITER
				   ? "paths, arbiter"
				   : "paths, cluster, quorum, "
				     "storage, group";
	ssize_t rank = conf_list_index(k->name, order);

	(void)root;
	if (rank < 0) {
		if (mode == CONF_MODE_ARBITER)
			conf_report(ctx, k,
				    "not expected here (in <cmsd "
				    "mode=\"arbiter\">): an arbiter takes only "
				    "<paths> and <arbiter>");
		else
			conf_report(ctx, k,
				    "not expected here (in <cmsd "
				    "mode=\"node\">): <arbiter> needs "
				    "mode=\"arbiter\"");
		return false;
	}
	if (*last && conf_list_index((*last)->name, order) > rank) {
		conf_report(ctx, k,
			    "must come before <%s> (line %ld): the order in "
			    "<cmsd> is %s",
			    (const char *)(*last)->name, xmlGetLineNo(*last),
			    join);
		return true;
	}
	*last = k;
	return true;
}

static void conf_check_shape(struct conf_ctx *ctx, xmlNode *n,
			     enum conf_mode mode)
{
	const struct conf_shape *s = conf_shape_of(n);
	const xmlNode *last = NULL;

	/* The format has no namespaces; a prefixed <y:link> would pass the
	 * name checks below and then confuse the schema's messages. */
	if (n->ns) {
		conf_report(ctx, n,
			    "XML namespaces are not used in cmsd.xml (this "
			    "element is in \"%s\")",
			    n->ns->href ? (const char *)n->ns->href : "");
		return;
	}
	if (!s)
		return;
	for (xmlAttr *a = n->properties; a; a = a->next) {
		if (a->ns) {
			conf_report(ctx, n,
				    "attribute %s:%s: XML namespaces are not "
				    "used in cmsd.xml",
				    a->ns->prefix ? (const char *)a->ns->prefix
						  : "",
				    (const char *)a->name);
			continue;
		}
		if (conf_in_list(a->name, s->attrs)) {
			conf_check_attr_value(ctx, n, a);
			continue;
		}
		const char *hint =
			conf_suggest((const char *)a->name, s->attrs);
		conf_report(ctx, n, "unknown attribute \"%s\"%s%s%s",
			    (const char *)a->name,
			    hint ? "; did you mean \"" : "", hint ? hint : "",
			    hint ? "\"?" : "");
	}
	for (size_t i = 0; s->required[i]; i++)
		if (!xmlHasProp(n, BAD_CAST s->required[i]))
			conf_report(ctx, n, "missing required attribute \"%s\"",
				    s->required[i]);
	if (s->plugin)
		return; /* the plugin checks its keys */
	conf_check_required(ctx, n, mode);
	if (strcmp(s->parent, "key-file") == 0) {
		xmlChar *t = xmlNodeGetContent(n);
		const char *p = t ? (const char *)t : "";
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '/')
			conf_report(ctx, n,
				    "must hold the absolute path of the key "
				    "file, not \"%s\"",
				    p);
		xmlFree(t);
	}
	for (xmlNode *k = n->children; k; k = k->next) {
		if (k->type == XML_TEXT_NODE) {
			if (strcmp(s->parent, "key-file") != 0 &&
			    !xmlIsBlankNode(k))
				conf_report(ctx, n, "unexpected text");
			continue;
		}
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (!conf_in_list(k->name, s->children)) {
			const char *hint = conf_suggest((const char *)k->name,
							s->children);
			conf_report(ctx, k, "not expected here (in <%s>)%s%s%s",
				    (const char *)n->name,
				    hint ? "; did you mean <" : "",
				    hint ? hint : "", hint ? ">?" : "");
			continue;
		}
		if (conf_in_list(k->name, s->once)) {
			xmlNode *first =
				conf_nth_child(n, (const char *)k->name, 0);
			if (first != k) {
				conf_report(ctx, k,
					    "only one <%s> is allowed in <%s> "
					    "(the first is at line %ld)",
					    (const char *)k->name,
					    (const char *)n->name,
					    xmlGetLineNo(first));
				continue;
			}
		}
		if (strcmp(s->parent, "cmsd") == 0 &&
		    !conf_check_root_child(ctx, n, k, mode, &last))
			continue;
		conf_check_shape(ctx, k, mode);
	}
}

/* ---- stage 3: schema ---- */

/*
 * libxml2 reports one bad element several times over and often not where
 * the mistake is: "Invalid sequence in interleave" at the culprit, then
 * "Expecting an element node, got nothing" or "failed to validate content"
 * at each ancestor.  So the messages are collected first, those on an
 * ancestor of another message's element are dropped (the deepest one names
 * the real problem), and the rest are rewritten in the operator's terms,
 * one per element.
 */
#define CONF_RNG_MAX 64

struct conf_rng_err {
	const xmlNode *node;
	int code;
	char str1[64];
	char str2[64];
	char msg[256];
};

struct conf_rng_state {
	struct conf_ctx *ctx;
	struct conf_rng_err errs[CONF_RNG_MAX];
	size_t n;
	size_t dropped; /* beyond CONF_RNG_MAX */
};

static void conf_rng_collect(void *arg, xmlErrorPtr e)
{
	struct conf_rng_state *st = arg;
	struct conf_rng_err *r;

	if (!e || e->level == XML_ERR_WARNING)
		return;
	if (st->n == CONF_RNG_MAX) {
		st->dropped++;
		return;
	}
	r = &st->errs[st->n++];
	r->node = e->node;
	r->code = e->code;
	snprintf(r->str1, sizeof(r->str1), "%s", e->str1 ? e->str1 : "");
	snprintf(r->str2, sizeof(r->str2), "%s", e->str2 ? e->str2 : "");
	snprintf(r->msg, sizeof(r->msg), "%s",
		 e->message ? e->message : "invalid");
	r->msg[strcspn(r->msg, "\n")] = '\0';
}

/* Errors in the built-in schema itself: ours, never libxml2's stderr. */
static void conf_rng_schema_error(void *arg, xmlErrorPtr e)
{
	struct conf_rng_state *st = arg;

	if (!e || e->level == XML_ERR_WARNING)
		return;
	conf_line_error(st->ctx, 0, "internal error: built-in schema: %s",
			e->message ? e->message : "invalid");
}

static bool conf_is_ancestor(const xmlNode *a, const xmlNode *n)
{
	for (n = n ? n->parent : NULL; n; n = n->parent)
		if (n == a)
			return true;
	return false;
}

/* An element whose name its parent allows: the schema refused something
 * else about it (an attribute value, its content or its position). */
static bool conf_allowed_in_parent(const xmlNode *n)
{
	const struct conf_shape *ps;

	if (!n || !n->parent || n->parent->type != XML_ELEMENT_NODE)
		return false;
	ps = conf_shape_of(n->parent);
	return ps && (ps->plugin || conf_in_list(n->name, ps->children));
}

static void conf_rng_report(struct conf_ctx *ctx, const struct conf_rng_err *r)
{
	const xmlNode *n = r->node;
	const xmlNode *p = n && n->parent && n->parent->type == XML_ELEMENT_NODE
				   ? n->parent
				   : NULL;
	const char *parent = p ? (const char *)p->name : "document";
	const struct conf_shape *ps = p ? conf_shape_of(p) : NULL;
	const char *hint = NULL;

	switch (r->code) {
	case XML_RELAXNG_ERR_EXTRACONTENT:
	case XML_RELAXNG_ERR_INTERSEQ:
	case XML_RELAXNG_ERR_INTEREXTRA:
	case XML_RELAXNG_ERR_ELEMWRONG:
	case XML_RELAXNG_ERR_ELEMEXTRANS:
		if (conf_allowed_in_parent(n)) {
			conf_report(ctx, n,
				    "does not match the schema here (in <%s>): "
				    "check its attributes, its content and its "
				    "position",
				    parent);
			break;
		}
		if (ps && n)
			hint = conf_suggest((const char *)n->name,
					    ps->children);
		conf_report(ctx, n, "not expected here (in <%s>)%s%s%s", parent,
			    hint ? "; did you mean <" : "", hint ? hint : "",
			    hint ? ">?" : "");
		break;
	case XML_RELAXNG_ERR_ELEMNAME: {
		/* "Expecting element A, got B", reported on the parent. */
		const xmlNode *got =
			r->str2[0] ? conf_nth_child(n, r->str2, 0) : NULL;
		if (got && r->str1[0])
			conf_report(ctx, got,
				    "not expected here (in <%s>): <%s> "
				    "expected",
				    (const char *)n->name, r->str1);
		else
			conf_report(ctx, n, "does not match the schema: %s",
				    r->msg);
		break;
	}
	case XML_RELAXNG_ERR_NOELEM:
		if (r->str1[0])
			conf_report(ctx, n, "missing required <%s>", r->str1);
		else
			conf_report(ctx, n, "a required element is missing");
		break;
	case XML_RELAXNG_ERR_INVALIDATTR: {
		xmlChar *v = n && r->str1[0] ? xmlGetProp(n, BAD_CAST r->str1)
					     : NULL;
		if (v)
			conf_report(ctx, n,
				    "attribute %s=\"%s\" has a bad value or is "
				    "not allowed here",
				    r->str1, (const char *)v);
		else
			conf_report(ctx, n, "attribute %s= not allowed here",
				    r->str1);
		xmlFree(v);
		break;
	}
	case XML_RELAXNG_ERR_ATTRVALID:
		conf_report(ctx, n,
			    "an attribute is missing or has a bad value");
		break;
	case XML_RELAXNG_ERR_ELEMNOTEMPTY:
	case XML_RELAXNG_ERR_NOTELEM:
	case XML_RELAXNG_ERR_TEXTWRONG:
		conf_report(ctx, n, "unexpected text");
		break;
	default:
		conf_report(ctx, n, "does not match the schema: %s", r->msg);
		break;
	}
}

void conf_check_schema(struct conf_ctx *ctx, xmlDoc *doc)
{
	xmlRelaxNGParserCtxtPtr pc;
	xmlRelaxNGPtr rng = NULL;
	xmlRelaxNGValidCtxtPtr vc = NULL;
	struct conf_rng_state *st;
	int before = ctx->errors;

	st = calloc(1, sizeof(*st));
	if (!st) {
		conf_line_error(ctx, 0, "out of memory");
		return;
	}
	st->ctx = ctx;
	pc = xmlRelaxNGNewMemParserCtxt(conf_schema_rng,
					(int)conf_schema_rng_len);
	if (pc) {
		xmlRelaxNGSetParserStructuredErrors(pc, conf_rng_schema_error,
						    st);
		rng = xmlRelaxNGParse(pc);
	}
	if (!rng) {
		conf_line_error(ctx, 0,
				"internal error: the built-in schema does "
				"not parse");
		goto out;
	}
	vc = xmlRelaxNGNewValidCtxt(rng);
	if (!vc) {
		conf_line_error(ctx, 0, "out of memory");
		goto out;
	}
	xmlRelaxNGSetValidStructuredErrors(vc, conf_rng_collect, st);
	int rc = xmlRelaxNGValidateDoc(vc, doc);
	for (size_t i = 0; i < st->n; i++) {
		const struct conf_rng_err *r = &st->errs[i];
		bool skip = false;
		for (size_t j = 0; j < st->n && !skip; j++)
			skip = conf_is_ancestor(r->node, st->errs[j].node);
		for (size_t j = 0; j < i && !skip; j++)
			skip = st->errs[j].node == r->node;
		if (!skip)
			conf_rng_report(ctx, r);
	}
	if (st->dropped)
		conf_line_error(ctx, 0, "%zu more schema errors not shown",
				st->dropped);
	if (rc != 0 && ctx->errors == before)
		conf_line_error(ctx, 0, "does not match the schema");
out:
	if (vc)
		xmlRelaxNGFreeValidCtxt(vc);
	if (rng)
		xmlRelaxNGFree(rng);
	if (pc)
		xmlRelaxNGFreeParserCtxt(pc);
	free(st);
}

/* ---- stage 4: the model and its semantic checks ---- */

static char *conf_attr_dup(const xmlNode *n, const char *attr)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	char *s;

	if (!v)
		return NULL;
	s = strdup((const char *)v);
	xmlFree(v);
	return s;
}

static char *conf_text_dup(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	const char *p = v ? (const char *)v : "";
	size_t len;
	char *s;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	len = strlen(p);
	while (len && strchr(" \t\r\n", p[len - 1]))
		len--;
	s = strndup(p, len);
	xmlFree(v);
	return s;
}

/* Duration attribute `attr` of n into *out (unchanged when absent). */
static void conf_duration_attr(struct conf_ctx *ctx, const xmlNode *n,
			       const char *attr, uint64_t *out)
{
	char *v = conf_attr_dup(n, attr);

	if (!v)
		return;
	if (conf_parse_duration(v, out) < 0)
		conf_report(ctx, n,
			    "%s=\"%s\" is not a duration (e.g. 200ms, 1s, 2m, "
			    "1h)",
			    attr, v);
	free(v);
}

static int conf_endpoint(struct conf_ctx *ctx, const xmlNode *n,
			 uint16_t def_port, struct conf_endpoint *ep)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char *port = conf_attr_dup(n, "port");

	ep->address = conf_attr_dup(n, "address");
	ep->port = def_port;
	if (!ep->address || (inet_pton(AF_INET, ep->address, buf) != 1 &&
			     inet_pton(AF_INET6, ep->address, buf) != 1))
		conf_report(ctx, n,
			    "address \"%s\" is not an IPv4 or IPv6 address",
			    ep->address ? ep->address : "");
	if (port) {
		int64_t p;
		if (conf_parse_int(port, &p) < 0 || p < 1 || p > 65535)
			conf_report(ctx, n, "port \"%s\" is not in 1..65535",
				    port);
		else
			ep->port = (uint16_t)p;
		free(port);
	}
	return 0;
}

static void conf_nodes(struct conf_ctx *ctx, struct conf *c, const xmlNode *cl)
{
	for (xmlNode *n = cl->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(n->name, BAD_CAST "node") != 0)
			continue;
		if (c->n_nodes == CONF_MAX_NODES) {
			conf_report(ctx, n,
				    "a cluster has at most %d nodes (and an "
				    "arbiter)",
				    CONF_MAX_NODES);
			continue;
		}
		struct conf_node *nd = &c->nodes[c->n_nodes++];
		nd->id = conf_attr_dup(n, "id");
		nd->name = conf_attr_dup(n, "name");
		if (!nd->name)
			nd->name = strdup(nd->id ? nd->id : "");
		nd->line = (int)xmlGetLineNo(n);
		nd->control.port = 7787;
		for (size_t i = 0; i + 1 < c->n_nodes; i++)
			if (nd->id && strcmp(c->nodes[i].id, nd->id) == 0)
				conf_report(
					ctx, n,
					"duplicate node id \"%s\" (first at "
					"line %d)",
					nd->id, c->nodes[i].line);
		for (xmlNode *k = n->children; k; k = k->next) {
			if (k->type != XML_ELEMENT_NODE)
				continue;
			if (xmlStrcmp(k->name, BAD_CAST "control") == 0) {
				conf_endpoint(ctx, k, 7787, &nd->control);
				continue;
			}
			if (nd->n_links == CONF_MAX_LINKS) {
				conf_report(ctx, k, "at most %d links a node",
					    CONF_MAX_LINKS);
				continue;
			}
			conf_endpoint(ctx, k, 7788, &nd->links[nd->n_links++]);
		}
		if (!nd->control.address && nd->n_links)
			nd->control.address = strdup(
				nd->links[0].address ? nd->links[0].address
						     : "");
	}
	if (c->n_nodes == 2 && c->nodes[0].n_links != c->nodes[1].n_links)
		conf_report(ctx, conf_nth_child(cl, "node", 1),
			    "node \"%s\" has %zu link%s and node \"%s\" %zu: "
			    "link N of one node talks to link N of the other, "
			    "so both need the same number",
			    c->nodes[1].id ? c->nodes[1].id : "?",
			    c->nodes[1].n_links,
			    c->nodes[1].n_links == 1 ? "" : "s",
			    c->nodes[0].id ? c->nodes[0].id : "?",
			    c->nodes[0].n_links);
	if (c->n_nodes == 2) {
		for (size_t i = 0; i < c->nodes[0].n_links; i++)
			for (size_t j = 0; j < c->nodes[1].n_links; j++) {
				const char *a = c->nodes[0].links[i].address;
				const char *b = c->nodes[1].links[j].address;
				if (a && b && strcmp(a, b) == 0)
					conf_report(
						ctx,
						conf_nth_child(cl, "node", 1),
						"link address %s is also "
						"node \"%s\"'s",
						b, c->nodes[0].id);
			}
	}
}

/* <split-brain prefer="last-granted newer-data lower-id">: the order in
 * which the criteria decide who stays master after a healed partition;
 * lower-id always decides, so it ends the list whether written or not. */
static void conf_split_brain(struct conf_ctx *ctx, struct conf *c,
			     const xmlNode *n)
{
	static const char *const names[] = {NULL, "last-granted", "newer-data",
					    "lower-id"};
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST "prefer") : NULL;
	size_t k = 0;

	memset(c->split_brain, 0, sizeof(c->split_brain));
	if (!v) {
		c->split_brain[0] = CONF_SB_LAST_GRANTED;
		c->split_brain[1] = CONF_SB_NEWER_DATA;
		c->split_brain[2] = CONF_SB_LOWER_ID;
		return;
	}
	char *save = NULL, *copy = strdup((const char *)v);
	for (char *w = copy ? strtok_r(copy, " \t\n,", &save) : NULL; w;
	     w = strtok_r(NULL, " \t\n,", &save)) {
		int found = 0;
		for (int i = 1; i <= CONF_SB_LOWER_ID; i++)
			if (strcmp(w, names[i]) == 0)
				found = i;
		if (!found) {
			conf_report(ctx, n,
				    "prefer: \"%s\" is not a criterion (use "
				    "last-granted, newer-data, lower-id)",
				    w);
			continue;
		}
		for (size_t j = 0; j < k; j++)
			if ((int)c->split_brain[j] == found) {
				conf_report(ctx, n,
					    "prefer: \"%s\" is listed twice",
					    w);
				found = 0;
			}
		if (found && k < CONF_SB_MAX - 1)
			c->split_brain[k++] = (enum conf_sb)found;
	}
	free(copy);
	xmlFree(v);
	bool lower = false;
	for (size_t j = 0; j < k; j++)
		lower |= c->split_brain[j] == CONF_SB_LOWER_ID;
	if (!lower && k < CONF_SB_MAX)
		c->split_brain[k] = CONF_SB_LOWER_ID;
}

static void conf_timers(struct conf_ctx *ctx, struct conf *c, const xmlNode *t)
{
	char a[32], b[32], d[32];
	uint64_t hb3;

	c->hb_interval_ms = 200;
	c->deadtime_ms = 1000;
	c->lease_ms = 1000;
	if (!t)
		return;
	conf_duration_attr(ctx, t, "heartbeat-interval", &c->hb_interval_ms);
	conf_duration_attr(ctx, t, "deadtime", &c->deadtime_ms);
	conf_duration_attr(ctx, t, "lease", &c->lease_ms);
	if (c->hb_interval_ms < 50)
		conf_report(ctx, t, "heartbeat-interval %s is below 50ms",
			    conf_fmt_duration(c->hb_interval_ms, a, sizeof(a)));
	if (c->deadtime_ms < 150)
		conf_report(ctx, t, "deadtime %s is below 150ms",
			    conf_fmt_duration(c->deadtime_ms, a, sizeof(a)));
	/* Saturated: "99999999999999999ms" must not wrap into a pass. */
	hb3 = c->hb_interval_ms > UINT64_MAX / 3 ? UINT64_MAX
						 : 3 * c->hb_interval_ms;
	if (c->deadtime_ms < hb3)
		conf_report(ctx, t,
			    "deadtime %s is less than 3 x heartbeat-interval "
			    "(3 x %s = %s)",
			    conf_fmt_duration(c->deadtime_ms, a, sizeof(a)),
			    conf_fmt_duration(c->hb_interval_ms, b, sizeof(b)),
			    conf_fmt_duration(hb3, d, sizeof(d)));
	if (c->lease_ms < hb3)
		conf_report(ctx, t,
			    "lease %s is less than 3 x heartbeat-interval "
			    "(3 x %s = %s): the master renews it every "
			    "interval",
			    conf_fmt_duration(c->lease_ms, a, sizeof(a)),
			    conf_fmt_duration(c->hb_interval_ms, b, sizeof(b)),
			    conf_fmt_duration(hb3, d, sizeof(d)));
	if (c->lease_ms > c->deadtime_ms)
		conf_report(ctx, t,
			    "lease %s is longer than deadtime %s: the slave "
			    "could not take over until the lease ran out",
			    conf_fmt_duration(c->lease_ms, a, sizeof(a)),
			    conf_fmt_duration(c->deadtime_ms, b, sizeof(b)));
}

static struct conf_instance *conf_add_instance(struct conf_ctx *ctx,
					       struct conf *c, xmlNode *n)
{
	struct conf_instance *in;
	static const struct {
		const char *element;
		enum cmsd_plugin_kind kind;
	} kinds[] = {
		{"quorum", CMSD_KIND_QUORUM},
		{"storage", CMSD_KIND_STORAGE},
		{"resource", CMSD_KIND_RESOURCE},
		{"arbiter", CMSD_KIND_QUORUM},
	};

	in = realloc(c->inst, (c->n_inst + 1) * sizeof(*in));
	if (!in) {
		conf_report(ctx, n, "out of memory");
		return NULL;
	}
	c->inst = in;
	in = &c->inst[c->n_inst++];
	memset(in, 0, sizeof(*in));
	in->id = conf_attr_dup(n, "id");
	in->plugin_name = conf_attr_dup(n, "plugin");
	in->line = (int)xmlGetLineNo(n);
	in->section = conf_wrap(ctx, n);
	if (!in->section || !in->id || !in->plugin_name) {
		/* The schema made id and plugin required: only memory can
		 * be short here.  Drop the entry so later stages need not
		 * check. */
		conf_report(ctx, n, "out of memory");
		free(in->id);
		free(in->plugin_name);
		c->n_inst--;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (xmlStrcmp(n->name, BAD_CAST kinds[i].element) == 0) {
			in->element = kinds[i].element;
			in->kind = kinds[i].kind;
		}
	in->start_timeout_ms = 60000;
	in->stop_timeout_ms = 60000;
	in->monitor_interval_ms = 10000;
	in->monitor_timeout_ms = 20000;
	in->max_restarts = 3;
	in->restart_window_ms = 600000;
	for (size_t i = 0; i + 1 < c->n_inst; i++)
		if (in->id && strcmp(c->inst[i].id, in->id) == 0)
			conf_report(ctx, n,
				    "duplicate id \"%s\" (first used at line "
				    "%d by <%s>)",
				    in->id, c->inst[i].line,
				    c->inst[i].element);
	if (in->kind != CMSD_KIND_RESOURCE)
		return in;

	char *v;
	in->storage_ref = conf_attr_dup(n, "storage");
	if ((v = conf_attr_dup(n, "optional"))) {
		in->optional = strcmp(v, "yes") == 0;
		free(v);
	}
	conf_duration_attr(ctx, n, "start-timeout", &in->start_timeout_ms);
	conf_duration_attr(ctx, n, "stop-timeout", &in->stop_timeout_ms);
	conf_duration_attr(ctx, n, "monitor-interval",
			   &in->monitor_interval_ms);
	conf_duration_attr(ctx, n, "monitor-timeout", &in->monitor_timeout_ms);
	conf_duration_attr(ctx, n, "restart-window", &in->restart_window_ms);
	if ((v = conf_attr_dup(n, "max-restarts"))) {
		int64_t r;
		if (conf_parse_int(v, &r) < 0 || r < 0 || r > 1000)
			conf_report(ctx, n,
				    "max-restarts \"%s\" is not in 0..1000", v);
		else
			in->max_restarts = (int)r;
		free(v);
	}
	if (in->start_timeout_ms == 0 || in->stop_timeout_ms == 0)
		conf_report(ctx, n,
			    "start-timeout and stop-timeout must not "
			    "be 0");
	if (in->monitor_interval_ms && in->monitor_timeout_ms == 0)
		conf_report(ctx, n, "monitor-timeout must not be 0");
	return in;
}

/* The reference's rule for template storage: when both a local sync
 * partition (storage-drbd with resource r1) and a shared LUN (storage-fc,
 * storage-iscsi) are wanted, the sync partition is added first (the
 * reference refuses to add a sync partition once a LUN is attached).  In
 * one file, "first" is document order: a LUN before r1 is refused, naming
 * both and the rule. */
static bool conf_is_sync_partition(const struct conf_instance *in)
{
	xmlNode *r;
	char *text;
	bool yes;

	if (in->kind != CMSD_KIND_STORAGE || !in->plugin_name ||
	    strcmp(in->plugin_name, "storage-drbd") != 0)
		return false;
	r = conf_nth_child(in->section->node, "resource", 0);
	text = r ? conf_text_dup(r) : NULL;
	yes = text && strcmp(text, "r1") == 0;
	free(text);
	return yes;
}

static bool conf_is_shared_lun(const struct conf_instance *in)
{
	return in->kind == CMSD_KIND_STORAGE && in->plugin_name &&
	       (strcmp(in->plugin_name, "storage-fc") == 0 ||
		strcmp(in->plugin_name, "storage-iscsi") == 0);
}

static void conf_sync_partition_first(struct conf_ctx *ctx,
				      const struct conf *c)
{
	for (size_t i = 0; i < c->n_inst; i++) {
		const struct conf_instance *sync = &c->inst[i];
		if (!conf_is_sync_partition(sync))
			continue;
		for (size_t j = 0; j < c->n_inst; j++) {
			const struct conf_instance *lun = &c->inst[j];
			if (!conf_is_shared_lun(lun) || lun->line >= sync->line)
				continue;
			conf_report(ctx, sync->section->node,
				    "the local sync partition <storage "
				    "id=\"%s\" plugin=\"storage-drbd\"> "
				    "(resource r1) comes after the shared LUN "
				    "<storage id=\"%s\" plugin=\"%s\"> at "
				    "line %d: when both a local sync partition "
				    "and a shared LUN are wanted, the sync "
				    "partition is added first; move this "
				    "element above the LUN's",
				    sync->id, lun->id, lun->plugin_name,
				    lun->line);
		}
	}
}

static const char *conf_hostname(char *buf, size_t len)
{
	if (gethostname(buf, len) < 0)
		return "";
	buf[len - 1] = '\0';
	return buf;
}

static void conf_build(struct conf_ctx *ctx, struct conf *c, xmlNode *root,
		       const struct conf_overrides *ov)
{
	char *mode = conf_attr_dup(root, "mode");
	xmlNode *cl = NULL, *paths = NULL, *group = NULL;

	c->mode = mode && strcmp(mode, "arbiter") == 0 ? CONF_MODE_ARBITER
						       : CONF_MODE_NODE;
	free(mode);
	c->local_node = ov && ov->local_node ? strdup(ov->local_node)
					     : conf_attr_dup(root, "node");

	for (xmlNode *n = root->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(n->name, BAD_CAST "paths") == 0)
			paths = n;
		else if (xmlStrcmp(n->name, BAD_CAST "cluster") == 0)
			cl = n;
		else if (xmlStrcmp(n->name, BAD_CAST "group") == 0)
			group = n;
		else
			conf_add_instance(ctx, c,
					  n); /* quorum storage arbiter */
	}
	if (group) {
		c->group_id = conf_attr_dup(group, "id");
		for (xmlNode *n = group->children; n; n = n->next)
			if (n->type == XML_ELEMENT_NODE)
				conf_add_instance(ctx, c, n);
	}

	c->plugin_dir = paths ? conf_attr_dup(paths, "plugin-dir") : NULL;
	c->state_dir = paths ? conf_attr_dup(paths, "state-dir") : NULL;
	c->log_file = paths ? conf_attr_dup(paths, "log-file") : NULL;
	c->control_socket =
		paths ? conf_attr_dup(paths, "control-socket") : NULL;
	if (!c->state_dir)
		c->state_dir = strdup(CONF_DEFAULT_STATE_DIR);
	if (!c->log_file)
		c->log_file = strdup(CONF_DEFAULT_LOG_FILE);
	if (!c->control_socket)
		c->control_socket = strdup(CONF_DEFAULT_SOCKET);
	const char *env = getenv("CMSD_PLUGIN_DIR");
	if (ov && ov->plugin_dir) {
		free(c->plugin_dir);
		c->plugin_dir = strdup(ov->plugin_dir);
	} else if (env && *env) {
		free(c->plugin_dir);
		c->plugin_dir = strdup(env);
	} else if (!c->plugin_dir) {
		c->plugin_dir = strdup(CONF_DEFAULT_PLUGIN_DIR);
	}

	if (c->mode == CONF_MODE_ARBITER)
		return;

	/* node mode: the schema guarantees one <cluster> */
	c->cluster_id = conf_attr_dup(cl, "id");
	xmlNode *kf = conf_nth_child(cl, "key-file", 0);
	xmlNode *tls = conf_nth_child(cl, "tls", 0);
	if (kf)
		c->key_file = conf_text_dup(kf);
	if (tls) {
		c->tls_ca = conf_attr_dup(tls, "ca");
		c->tls_cert = conf_attr_dup(tls, "cert");
		c->tls_key = conf_attr_dup(tls, "key");
	}
	conf_timers(ctx, c, conf_nth_child(cl, "timers", 0));
	conf_split_brain(ctx, c, conf_nth_child(cl, "split-brain", 0));
	conf_nodes(ctx, c, cl);

	/* Node ids and instance ids share the status namespace. */
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t j = 0; j < c->n_nodes; j++)
			if (c->inst[i].id && c->nodes[j].id &&
			    strcmp(c->inst[i].id, c->nodes[j].id) == 0)
				conf_report(ctx, c->inst[i].section->node,
					    "id \"%s\" is also a node's id",
					    c->inst[i].id);

	if (c->n_nodes == 2) {
		bool has_quorum = false;
		for (size_t i = 0; i < c->n_inst; i++)
			if (c->inst[i].kind == CMSD_KIND_QUORUM)
				has_quorum = true;
		if (!has_quorum)
			conf_report(ctx, root,
				    "a two-node cluster needs a <quorum> "
				    "(quorum-cmsd or quorum-ping): without one "
				    "a partition would make two masters");
		if (!c->key_file)
			conf_report(ctx, cl,
				    "a two-node cluster needs <key-file> (the "
				    "heartbeat key)");
		if (!tls)
			conf_report(
				ctx, cl,
				"a two-node cluster needs <tls ca cert key> "
				"(the control channel)");
	}

	/* Which node is this one. */
	if (c->local_node) {
		if (!conf_node_by_id(c, c->local_node))
			conf_report(ctx, root,
				    "node \"%s\" is not declared in <cluster>",
				    c->local_node);
	} else if (c->n_nodes == 1) {
		c->local_node = strdup(c->nodes[0].id);
	} else {
		char host[256];
		const char *h = conf_hostname(host, sizeof(host));
		for (size_t i = 0; i < c->n_nodes; i++)
			if (strcmp(c->nodes[i].name, h) == 0 ||
			    strcmp(c->nodes[i].id, h) == 0)
				c->local_node = strdup(c->nodes[i].id);
		if (!c->local_node)
			conf_report(ctx, root,
				    "this host (\"%s\") matches no <node>; set "
				    "node=\"ID\" here or run cmsd -n ID",
				    h);
	}

	conf_sync_partition_first(ctx, c);

	/* Resources may name the storage they need. */
	for (size_t i = 0; i < c->n_inst; i++) {
		struct conf_instance *in = &c->inst[i];
		if (!in->storage_ref)
			continue;
		const struct conf_instance *s =
			conf_instance_by_id(c, in->storage_ref);
		if (!s)
			conf_report(ctx, in->section->node,
				    "storage=\"%s\" names no <storage>",
				    in->storage_ref);
		else if (s->kind != CMSD_KIND_STORAGE)
			conf_report(ctx, in->section->node,
				    "storage=\"%s\" names a <%s>, not a "
				    "<storage>",
				    in->storage_ref, s->element);
	}
}

/* ---- stage 5: plugins ---- */

static void conf_validate_log(const struct cmsd_host *h,
			      enum cmsd_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg((int)level, "%s: %s", h->instance_id, buf);
}

struct conf_validate_call {
	const struct cmsd_plugin *desc;
	const struct cmsd_host *host;
	const struct cmsd_conf *section;
};

static int conf_call_validate(void *arg)
{
	struct conf_validate_call *vc = arg;

	return vc->desc->ops.common->validate(vc->host, vc->section);
}

static uint64_t conf_validate_now(const struct cmsd_host *h)
{
	(void)h;
	return loop_now_ms();
}

static void conf_plugins(struct conf_ctx *ctx, struct conf *c)
{
	char err[1024];

	for (size_t i = 0; i < c->n_inst; i++) {
		struct conf_instance *in = &c->inst[i];
		xmlNode *n = in->section->node;
		int rc = loader_get(c->plugin_dir, in->plugin_name, &in->plugin,
				    err, sizeof(err));
		if (rc < 0) {
			if (rc == -ENOENT)
				conf_report(ctx, n, "unknown plugin \"%s\": %s",
					    in->plugin_name, err);
			else
				conf_report(ctx, n, "plugin \"%s\" refused: %s",
					    in->plugin_name, err);
			continue;
		}
		const struct cmsd_plugin *d = in->plugin->desc;
		if (d->kind != in->kind) {
			conf_report(
				ctx, n,
				"plugin \"%s\" is a %s plugin; <%s> needs a "
				"%s plugin",
				in->plugin_name, loader_kind_name(d->kind),
				in->element, loader_kind_name(in->kind));
			continue;
		}
		/* validate() runs at --check, at start and on reload, before
		 * any instance exists and possibly with no event loop: only
		 * the ABI and size, identity (plugin_name, instance_id), log,
		 * now_ms, conf and state_dir are set.  timer_*, watch_*,
		 * spawn, child_*, op_done and notify are NULL then; a
		 * validate() must not call them (cmsd/host.h says so in its
		 * header comment). */
		struct cmsd_host h = {
			.abi_major = CMSD_ABI_MAJOR,
			.abi_minor = CMSD_ABI_MINOR,
			.size = sizeof(struct cmsd_host),
			.plugin_name = d->name,
			.instance_id = in->id,
			.log = conf_validate_log,
			.now_ms = conf_validate_now,
			.conf = &conf_plugin_ops,
			.state_dir = c->state_dir,
			.node_id = c->mode == CONF_MODE_ARBITER ? "arbiter"
								: c->local_node,
			.cluster_id = c->cluster_id,
			.tls_ca = c->tls_ca,
			.tls_cert = c->tls_cert,
			.tls_key = c->tls_key,
		};
		/* host->cluster_nodes (ABI 1.3): on the stack, it lives as
		 * long as this validate() call. */
		const char *nv[3 * CONF_MAX_NODES + 1];
		size_t nn = 0;
		if (c->mode != CONF_MODE_ARBITER) {
			for (size_t k = 0; k < c->n_nodes; k++) {
				const struct conf_node *nd = &c->nodes[k];
				nv[nn++] = nd->id;
				nv[nn++] = nd->name ? nd->name : nd->id;
				nv[nn++] = nd->n_links && nd->links[0].address
						   ? nd->links[0].address
						   : "";
			}
			nv[nn] = NULL;
			h.cluster_nodes = nv;
		}
		int before = ctx->errors, sig;
		struct conf_validate_call vc = {d, &h, in->section};
		rc = instance_guard_call(conf_call_validate, &vc, &sig);
		if (sig) {
			conf_report(ctx, n,
				    "plugin \"%s\" crashed in validate (%s)",
				    in->plugin_name, instance_sig_name(sig));
			continue;
		}
		if (rc < 0 && ctx->errors == before)
			conf_report(ctx, n,
				    "plugin \"%s\" rejected the section: %s",
				    in->plugin_name, strerror(-rc));
	}
}

/* ---- public ---- */

static char *conf_dump(const struct cmsd_conf *c)
{
	xmlBuffer *buf = xmlBufferCreate();
	char *s = NULL;

	if (!buf)
		return NULL;
	if (xmlNodeDump(buf, c->node->doc, c->node, 0, 0) >= 0)
		s = strdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	return s;
}

bool conf_instance_equal(const struct conf_instance *a,
			 const struct conf_instance *b)
{
	char *da, *db;
	bool same;

	if (strcmp(a->id, b->id) != 0 ||
	    strcmp(a->plugin_name, b->plugin_name) != 0 ||
	    strcmp(a->element, b->element) != 0)
		return false;
	da = conf_dump(a->section);
	db = conf_dump(b->section);
	same = da && db && strcmp(da, db) == 0;
	free(da);
	free(db);
	return same;
}

const struct conf_node *conf_node_by_id(const struct conf *c, const char *id)
{
	for (size_t i = 0; id && i < c->n_nodes; i++)
		if (c->nodes[i].id && strcmp(c->nodes[i].id, id) == 0)
			return &c->nodes[i];
	return NULL;
}

const struct conf_instance *conf_instance_by_id(const struct conf *c,
						const char *id)
{
	for (size_t i = 0; id && i < c->n_inst; i++)
		if (c->inst[i].id && strcmp(c->inst[i].id, id) == 0)
			return &c->inst[i];
	return NULL;
}

int conf_load(const char *path, const struct conf_overrides *ov,
	      conf_error_fn err, void *err_arg, struct conf **out)
{
	struct conf *c = NULL;
	struct conf_doc *cd;
	xmlNode *root;

	*out = NULL;
	cd = calloc(1, sizeof(*cd));
	c = calloc(1, sizeof(*c));
	if (!cd || !c || !(c->path = strdup(path))) {
		free(cd);
		free(c);
		if (err)
			err("out of memory", err_arg);
		return 1;
	}
	c->priv = cd;
	cd->ctx.path = c->path;
	cd->ctx.err = err;
	cd->ctx.err_arg = err_arg;

	cd->doc = conf_parse(&cd->ctx);
	if (!cd->doc)
		goto out;
	root = xmlDocGetRootElement(cd->doc);
	if (!root || xmlStrcmp(root->name, BAD_CAST "cmsd") != 0) {
		conf_report(&cd->ctx, root,
			    "the root element must be <cmsd version=\"1\">");
		goto out;
	}
	conf_check_shape(&cd->ctx, root, conf_mode_of(root));
	if (cd->ctx.errors)
		goto out;
	conf_check_schema(&cd->ctx, cd->doc);
	if (cd->ctx.errors)
		goto out;
	/* The plugins run even when a semantic check failed: the schema
	 * passed, so every section has its shape, and an operator should see
	 * a typo in a plugin key in the same run as a dangling reference. */
	conf_build(&cd->ctx, c, root, ov);
	conf_plugins(&cd->ctx, c);
out:
	if (cd->ctx.errors) {
		int n = cd->ctx.errors;
		conf_free(c);
		return n;
	}
	cd->ctx.live = true;
	*out = c;
	return 0;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_inst; i++) {
		struct conf_instance *in = &c->inst[i];
		free(in->id);
		free(in->plugin_name);
		free(in->storage_ref);
		loader_put(in->plugin);
	}
	free(c->inst);
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct conf_node *n = &c->nodes[i];
		free(n->id);
		free(n->name);
		for (size_t j = 0; j < n->n_links; j++)
			free(n->links[j].address);
		free(n->control.address);
	}
	struct conf_doc *cd = c->priv;
	if (cd) {
		if (cd->doc) {
			conf_unwrap_all(xmlDocGetRootElement(cd->doc));
			xmlFreeDoc(cd->doc);
		}
		free(cd);
	}
	free(c->path);
	free(c->local_node);
	free(c->plugin_dir);
	free(c->state_dir);
	free(c->log_file);
	free(c->control_socket);
	free(c->cluster_id);
	free(c->key_file);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->group_id);
	free(c);
}
