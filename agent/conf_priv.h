/*
 * Inside the configuration code: the load context and the cmsd_conf handle,
 * which wraps one libxml2 element.  Nothing outside conf*.c includes this.
 */
#ifndef CMSD_CONF_PRIV_H
#define CMSD_CONF_PRIV_H

#include <libxml/tree.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"

/* One load: where errors go and how many there were. */
struct conf_ctx {
	const char *path; /* as given by the operator */
	conf_error_fn err;
	void *err_arg;
	int errors;
	bool live;    /* load finished: errors go to the log */
	bool doctype; /* a DOCTYPE was refused: the parse was stopped */
};

struct cmsd_conf {
	xmlNode *node;
	struct conf_ctx *ctx;
	char *text; /* trimmed content, made on demand */
};

/* The handle of `node`, made on first use and freed with the document. */
struct cmsd_conf *conf_wrap(struct conf_ctx *ctx, xmlNode *node);
void conf_unwrap_all(xmlNode *node);

/* Reports "PATH:LINE: element <name>: message". */
void conf_report(struct conf_ctx *ctx, const xmlNode *node, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));
void conf_vreport(struct conf_ctx *ctx, const xmlNode *node, const char *fmt,
		  va_list ap) __attribute__((format(printf, 3, 0)));

/* Validates doc against the built-in RelaxNG schema, reporting each
 * problem in our format.  conf_load runs it after its own structure walk,
 * which catches the usual mistakes first; the unit tests call it directly
 * to check the rewritten schema messages. */
void conf_check_schema(struct conf_ctx *ctx, xmlDoc *doc);

/* Value parsers: 0 or -EINVAL, nothing reported. */
int conf_parse_duration(const char *s, uint64_t *ms);
int conf_parse_size(const char *s, uint64_t *bytes);
int conf_parse_int(const char *s, int64_t *v);
int conf_parse_bool(const char *s, bool *v);
/* "200ms", "1s", "2m": the shortest exact form, for messages. */
const char *conf_fmt_duration(uint64_t ms, char *buf, size_t len);
/* The name in `known` closest to `name` (edit distance <= 2), or NULL. */
const char *conf_suggest(const char *name, const char *const *known);

/* The element children of `node` named `name` (NULL: any): count, index. */
size_t conf_count_children(const xmlNode *node, const char *name);
xmlNode *conf_nth_child(const xmlNode *node, const char *name, size_t n);

extern const char conf_schema_rng[];
extern const unsigned long conf_schema_rng_len;

#endif
