/*
 * The typed accessors plugins use on their section of cmsd.xml (struct
 * cmsd_conf_ops), and the value parsers the agent's own checks share.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "log.h"

void conf_vreport(struct conf_ctx *ctx, const xmlNode *node, const char *fmt,
		  va_list ap)
{
	char msg[1024];
	char line[1400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(line, sizeof(line), "%s:%ld: element <%s>: %s", ctx->path,
		 node ? (long)xmlGetLineNo(node) : 0L,
		 node && node->name ? (const char *)node->name : "?", msg);
	ctx->errors++;
	if (ctx->live)
		log_warnx("%s", line);
	else if (ctx->err)
		ctx->err(line, ctx->err_arg);
	else
		fprintf(stderr, "%s\n", line);
}

void conf_report(struct conf_ctx *ctx, const xmlNode *node, const char *fmt,
		 ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vreport(ctx, node, fmt, ap);
	va_end(ap);
}

struct cmsd_conf *conf_wrap(struct conf_ctx *ctx, xmlNode *node)
{
	struct cmsd_conf *c;

	if (!node)
		return NULL;
	if (node->_private)
		return node->_private;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->node = node;
	c->ctx = ctx;
	node->_private = c;
	return c;
}

void conf_unwrap_all(xmlNode *node)
{
	for (xmlNode *n = node; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		conf_unwrap_all(n->children);
		struct cmsd_conf *c = n->_private;
		if (c) {
			free(c->text);
			free(c);
			n->_private = NULL;
		}
	}
}

size_t conf_count_children(const xmlNode *node, const char *name)
{
	size_t n = 0;

	for (xmlNode *k = node ? node->children : NULL; k; k = k->next)
		if (k->type == XML_ELEMENT_NODE &&
		    (!name || xmlStrcmp(k->name, BAD_CAST name) == 0))
			n++;
	return n;
}

xmlNode *conf_nth_child(const xmlNode *node, const char *name, size_t n)
{
	for (xmlNode *k = node ? node->children : NULL; k; k = k->next)
		if (k->type == XML_ELEMENT_NODE &&
		    (!name || xmlStrcmp(k->name, BAD_CAST name) == 0) &&
		    n-- == 0)
			return k;
	return NULL;
}

int conf_parse_int(const char *s, int64_t *v)
{
	char *end;
	long long x;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

/* "<digits><unit>" with the unit's multiplier; overflow is an error. */
static int conf_parse_scaled(const char *s, const char *const *units,
			     const uint64_t *mult, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; units[i]; i++) {
		if (strcmp(p, units[i]) != 0)
			continue;
		if (mult[i] && v > UINT64_MAX / mult[i])
			return -EINVAL;
		*out = v * mult[i];
		return 0;
	}
	return -EINVAL;
}

int conf_parse_duration(const char *s, uint64_t *ms)
{
	static const char *const units[] = {"", "ms", "s", "m", "h", NULL};
	static const uint64_t mult[] = {1, 1, 1000, 60000, 3600000};

	return conf_parse_scaled(s, units, mult, ms);
}

int conf_parse_size(const char *s, uint64_t *bytes)
{
	static const char *const units[] = {"", "K", "M", "G", "T", NULL};
	static const uint64_t mult[] = {1, 1ull << 10, 1ull << 20, 1ull << 30,
					1ull << 40};

	return conf_parse_scaled(s, units, mult, bytes);
}

int conf_parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"yes", "true", "on", "1", NULL};
	static const char *const no[] = {"no", "false", "off", "0", NULL};

	for (size_t i = 0; yes[i]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -EINVAL;
}

const char *conf_fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms && ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms && ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	return buf;
}

static size_t conf_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *conf_suggest(const char *name, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; known && known[i]; i++) {
		size_t d = conf_distance(name, known[i]);
		if (d < best_d) {
			best_d = d;
			best = known[i];
		}
	}
	return best;
}

/* ---- struct cmsd_conf_ops ---- */

static const char *ops_name(const struct cmsd_conf *c)
{
	return (const char *)c->node->name;
}

static int ops_line(const struct cmsd_conf *c)
{
	return (int)xmlGetLineNo(c->node);
}

static const char *ops_attr(const struct cmsd_conf *c, const char *attr)
{
	/* Attribute values live in the tree: no copy needed. */
	for (xmlAttr *a = c->node->properties; a; a = a->next)
		if (xmlStrcmp(a->name, BAD_CAST attr) == 0 && a->children &&
		    a->children->content)
			return (const char *)a->children->content;
	for (xmlAttr *a = c->node->properties; a; a = a->next)
		if (xmlStrcmp(a->name, BAD_CAST attr) == 0)
			return "";
	return NULL;
}

static const char *ops_text(const struct cmsd_conf *cc)
{
	struct cmsd_conf *c = (struct cmsd_conf *)cc;

	if (!c->text) {
		xmlChar *raw = xmlNodeGetContent(c->node);
		const char *s = raw ? (const char *)raw : "";
		while (isspace((unsigned char)*s))
			s++;
		size_t n = strlen(s);
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		c->text = strndup(s, n);
		xmlFree(raw);
	}
	return c->text ? c->text : "";
}

static size_t ops_count(const struct cmsd_conf *c, const char *key)
{
	return conf_count_children(c->node, key);
}

static const struct cmsd_conf *ops_child(const struct cmsd_conf *c,
					 const char *key, size_t index)
{
	return conf_wrap(c->ctx, conf_nth_child(c->node, key, index));
}

static int ops_error(const struct cmsd_conf *c, const char *key,
		     const char *fmt, ...)
{
	va_list ap;
	xmlNode *n = key ? conf_nth_child(c->node, key, 0) : NULL;

	va_start(ap, fmt);
	conf_vreport(c->ctx, n ? n : c->node, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The text of the single child `key`: 0, 1 when absent, -EINVAL when it
 * repeats or holds elements. */
static int ops_value(const struct cmsd_conf *c, const char *key,
		     const char **out, xmlNode **node)
{
	size_t n = conf_count_children(c->node, key);

	*node = NULL;
	if (n == 0)
		return 1;
	*node = conf_nth_child(c->node, key, 0);
	if (n > 1) {
		conf_report(c->ctx, conf_nth_child(c->node, key, 1),
			    "appears %zu times; give it once", n);
		return -EINVAL;
	}
	if (conf_count_children(*node, NULL)) {
		conf_report(c->ctx, *node, "expects a value, not elements");
		return -EINVAL;
	}
	*out = ops_text(conf_wrap(c->ctx, *node));
	return 0;
}

static int ops_get_string(const struct cmsd_conf *c, const char *key,
			  const char *def, const char **out)
{
	xmlNode *n;
	int rc = ops_value(c, key, out, &n);

	if (rc)
		*out = def;
	return rc;
}

static int ops_get_int(const struct cmsd_conf *c, const char *key, int64_t def,
		       int64_t min, int64_t max, int64_t *out)
{
	const char *s;
	xmlNode *n;
	int64_t v;
	int rc = ops_value(c, key, &s, &n);

	*out = def;
	if (rc)
		return rc;
	if (conf_parse_int(s, &v) < 0) {
		conf_report(c->ctx, n, "\"%s\" is not an integer", s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		conf_report(c->ctx, n,
			    "%" PRId64 " is out of range %" PRId64 "..%" PRId64,
			    v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int ops_get_bool(const struct cmsd_conf *c, const char *key, int def,
			int *out)
{
	const char *s;
	xmlNode *n;
	bool v;
	int rc = ops_value(c, key, &s, &n);

	*out = def;
	if (rc)
		return rc;
	if (conf_parse_bool(s, &v) < 0) {
		conf_report(c->ctx, n, "\"%s\" is not yes or no", s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int ops_get_duration_ms(const struct cmsd_conf *c, const char *key,
			       uint64_t def, uint64_t min_ms, uint64_t max_ms,
			       uint64_t *out)
{
	const char *s;
	xmlNode *n;
	uint64_t v;
	char a[32], b[32];
	int rc = ops_value(c, key, &s, &n);

	*out = def;
	if (rc)
		return rc;
	if (conf_parse_duration(s, &v) < 0) {
		conf_report(c->ctx, n,
			    "\"%s\" is not a duration (e.g. 200ms, 1s, 2m, 1h)",
			    s);
		return -EINVAL;
	}
	if (v < min_ms || v > max_ms) {
		conf_report(c->ctx, n, "%s is out of range %s..%s", s,
			    conf_fmt_duration(min_ms, a, sizeof(a)),
			    conf_fmt_duration(max_ms, b, sizeof(b)));
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int ops_get_size(const struct cmsd_conf *c, const char *key,
			uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s;
	xmlNode *n;
	uint64_t v;
	int rc = ops_value(c, key, &s, &n);

	*out = def;
	if (rc)
		return rc;
	if (conf_parse_size(s, &v) < 0) {
		conf_report(
			c->ctx, n,
			"\"%s\" is not a size (e.g. 512, 64K, 10M, 19G, 1T)",
			s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		conf_report(c->ctx, n,
			    "%s is out of range %" PRIu64 "..%" PRIu64 " bytes",
			    s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int ops_get_enum(const struct cmsd_conf *c, const char *key,
			const char *const *choices, int def, int *out)
{
	const char *s;
	xmlNode *n;
	char list[512] = "";
	int rc = ops_value(c, key, &s, &n);

	*out = def;
	if (rc)
		return rc;
	for (int i = 0; choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = i;
			return 0;
		}
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s",
			 i ? ", " : "", choices[i]);
	}
	conf_report(c->ctx, n, "\"%s\" is not one of: %s", s, list);
	return -EINVAL;
}

static int ops_check_keys(const struct cmsd_conf *c, const char *const *known)
{
	int unknown = 0;

	for (xmlNode *k = c->node->children; k; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		bool ok = false;
		for (size_t i = 0; known && known[i]; i++)
			if (xmlStrcmp(k->name, BAD_CAST known[i]) == 0)
				ok = true;
		if (ok)
			continue;
		const char *hint = conf_suggest((const char *)k->name, known);
		if (hint)
			conf_report(c->ctx, k,
				    "unknown key in <%s>; did you mean <%s>?",
				    (const char *)c->node->name, hint);
		else
			conf_report(c->ctx, k, "unknown key in <%s>",
				    (const char *)c->node->name);
		unknown++;
	}
	return unknown;
}

static int ops_require(const struct cmsd_conf *c, const char *key)
{
	conf_report(c->ctx, c->node, "missing required <%s>", key);
	return -EINVAL;
}

const struct cmsd_conf_ops conf_plugin_ops = {
	.size = sizeof(struct cmsd_conf_ops),
	.name = ops_name,
	.line = ops_line,
	.attr = ops_attr,
	.text = ops_text,
	.count = ops_count,
	.child = ops_child,
	.get_string = ops_get_string,
	.get_int = ops_get_int,
	.get_bool = ops_get_bool,
	.get_duration_ms = ops_get_duration_ms,
	.get_size = ops_get_size,
	.get_enum = ops_get_enum,
	.check_keys = ops_check_keys,
	.require = ops_require,
	.error = ops_error,
};
