/*
 * The setup channel's message format (see setupproto.h): pure code.
 */
#include "setupproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int setup_msg_parse(const void *payload, size_t len, struct setup_msg *m)
{
	const char *p = payload;
	const char *nl = memchr(
		p, '\n', len < SETUP_MAX_LINE + 1 ? len : SETUP_MAX_LINE + 1);
	size_t n, i;

	if (!nl)
		return -EBADMSG;
	n = (size_t)(nl - p);
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return -EBADMSG;
	memcpy(m->line, p, n);
	m->line[n] = '\0';
	m->body = nl + 1;
	m->body_len = len - n - 1;
	return 0;
}

bool setup_kv_get(const char *body, size_t len, const char *key, char *out,
		  size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t l = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (l > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
			size_t v = l - klen - 1;
			if (outlen) {
				if (v >= outlen)
					v = outlen - 1;
				memcpy(out, p + klen + 1, v);
				out[v] = '\0';
			}
			return true;
		}
		p += l + 1;
	}
	return false;
}

bool setup_relpath_ok(const char *rel)
{
	const char *s;
	size_t n = strlen(rel);

	if (n == 0 || n > 200 || rel[0] == '/' || rel[n - 1] == '/')
		return false;
	for (s = rel; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '/'))
			return false;
		if (c == '/' && s[1] == '/')
			return false;
	}
	/* no "." or ".." component */
	for (s = rel; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if ((s[0] == '.' && (s[1] == '/' || s[1] == '\0')) ||
		    (s[0] == '.' && s[1] == '.' &&
		     (s[2] == '/' || s[2] == '\0')))
			return false;
	}
	return true;
}

bool setup_status_syncing(const char *status, char *id, size_t idlen,
			  int *percent)
{
	const char *p = status;

	while (p && *p) {
		size_t l = strcspn(p, "\n");
		if (strncmp(p, "replica: ", 9) == 0) {
			const char *s = strstr(p, ", syncing ");
			const char *colon = memchr(p + 9, ':', l - 9);
			if (s && s < p + l && colon) {
				size_t n = (size_t)(colon - (p + 9));
				if (idlen) {
					if (n >= idlen)
						n = idlen - 1;
					memcpy(id, p + 9, n);
					id[n] = '\0';
				}
				*percent = atoi(s + 10);
				return true;
			}
		}
		p += l;
		if (*p)
			p++;
	}
	return false;
}

bool setup_status_in_sync(const char *status, int *n)
{
	const char *p = status;

	*n = 0;
	while (p && *p) {
		size_t l = strcspn(p, "\n");
		if (strncmp(p, "replica: ", 9) == 0) {
			char ln[1024];
			const char *c = memchr(p + 9, ':', l - 9);
			snprintf(ln, sizeof(ln), "%.*s", (int)l, p);
			(*n)++;
			/* "replica: ID: Connected ROLE/ROLE UpToDate/UpToDate,
			 * data ..." and no ", syncing N%" */
			if (!c || strncmp(c, ": Connected ", 12) != 0 ||
			    !strstr(ln, " UpToDate/UpToDate,") ||
			    strstr(ln, ", syncing "))
				return false;
		}
		p += l;
		if (*p)
			p++;
	}
	return true;
}
