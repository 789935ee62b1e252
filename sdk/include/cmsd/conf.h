/*
 * Typed access to a plugin's section of cmsd.xml.
 *
 * A plugin's settings are the child elements of the element that names the
 * plugin, each holding its value as text:
 *
 *   <resource id="webip" plugin="resource-vip">
 *     <address>172.16.60.55/24</address>
 *     <interface>eth0</interface>
 *     <garp-count>5</garp-count>
 *   </resource>
 *
 * A key may repeat (a list: several <target> of quorum-ping) and may have
 * children of its own (a section: each <cluster> an arbiter serves).  Such a
 * child is reached as a struct cmsd_conf too.
 *
 * The getters return 0 and store the value, 1 when the key is absent (the
 * default is stored), or -EINVAL when the value is malformed or out of
 * range; in that case they have already reported the error with file, line
 * and element, so validate() only needs to count failures.
 */
#ifndef CMSD_CONF_H
#define CMSD_CONF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cmsd_conf; /* opaque: one element of the configuration */

struct cmsd_conf_ops {
	size_t size;

	/* Element name ("resource", "target", ...) and its source line. */
	const char *(*name)(const struct cmsd_conf *c);
	int (*line)(const struct cmsd_conf *c);
	/* The value of attribute `attr` of this element, or NULL. */
	const char *(*attr)(const struct cmsd_conf *c, const char *attr);
	/* The text of this element, trimmed, or "" (never NULL). */
	const char *(*text)(const struct cmsd_conf *c);

	/* Number of children named key (key NULL: all children). */
	size_t (*count)(const struct cmsd_conf *c, const char *key);
	/* The index-th child named key (key NULL: any name), or NULL. */
	const struct cmsd_conf *(*child)(const struct cmsd_conf *c,
					 const char *key, size_t index);

	/* The text of the (single) child `key`; the string lives as long as
	 * the configuration. */
	int (*get_string)(const struct cmsd_conf *c, const char *key,
			  const char *def, const char **out);
	/* A decimal integer in [min, max]. */
	int (*get_int)(const struct cmsd_conf *c, const char *key, int64_t def,
		       int64_t min, int64_t max, int64_t *out);
	/* yes/no, true/false, on/off, 1/0. */
	int (*get_bool)(const struct cmsd_conf *c, const char *key, int def,
			int *out);
	/* A duration: "200ms", "1s", "2m", "1h" or a bare number of ms, in
	 * [min_ms, max_ms]. */
	int (*get_duration_ms)(const struct cmsd_conf *c, const char *key,
			       uint64_t def, uint64_t min_ms, uint64_t max_ms,
			       uint64_t *out);
	/* A byte size: "512", "64K", "10M", "19G", "1T" (powers of 1024). */
	int (*get_size)(const struct cmsd_conf *c, const char *key,
			uint64_t def, uint64_t min, uint64_t max,
			uint64_t *out);
	/* One of the NULL-terminated `choices`; stores its index. */
	int (*get_enum)(const struct cmsd_conf *c, const char *key,
			const char *const *choices, int def, int *out);

	/* Reports every child whose name is not in the NULL-terminated
	 * `known` list ("unknown key <adress>; did you mean <address>?").
	 * Returns the number of unknown keys. */
	int (*check_keys)(const struct cmsd_conf *c, const char *const *known);
	/* Reports that `key` is required and missing.  Returns -EINVAL. */
	int (*require)(const struct cmsd_conf *c, const char *key);

	/*
	 * Reports an error about element c (or its child `key`, when not NULL)
	 * as "FILE:LINE: element <name>: message".  Returns -EINVAL so that
	 * `return conf->error(...)` reads naturally.
	 */
	int (*error)(const struct cmsd_conf *c, const char *key,
		     const char *fmt, ...)
#if defined(__GNUC__)
		__attribute__((format(printf, 3, 4)))
#endif
		;

	void *reserved[8];
};

#ifdef __cplusplus
}
#endif

#endif /* CMSD_CONF_H */
