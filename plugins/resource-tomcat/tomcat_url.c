/* See tomcat_url.h. */
#include "tomcat_url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int tomcat_parse_url(const char *u, struct tomcat_url *out)
{
	unsigned char a6[sizeof(struct in6_addr)];
	const char *host, *end, *rest;
	size_t n;

	if (strncmp(u, "http://", 7) != 0 || strpbrk(u, " \t\"<>\\"))
		return -EINVAL;
	host = u + 7;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - host - 1);
		if (n >= sizeof(out->host))
			return -EINVAL;
		memcpy(out->host, host + 1, n);
		out->host[n] = '\0';
		if (inet_pton(AF_INET6, out->host, a6) != 1)
			return -EINVAL;
		rest = end + 1;
	} else {
		end = host + strcspn(host, ":/?#");
		n = (size_t)(end - host);
		if (n == 0 || n >= sizeof(out->host))
			return -EINVAL;
		for (const char *p = host; p < end; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '.')
				return -EINVAL;
		memcpy(out->host, host, n);
		out->host[n] = '\0';
		rest = end;
	}
	out->port = 80;
	if (*rest == ':') {
		unsigned long port = 0;
		const char *p = rest + 1;
		for (; isdigit((unsigned char)*p) && port <= 65535; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p == rest + 1 || port < 1 || port > 65535)
			return -EINVAL;
		out->port = (uint16_t)port;
		rest = p;
	}
	if (*rest && *rest != '/' && *rest != '?' && *rest != '#')
		return -EINVAL;
	/* A fragment is the client's business: never sent. */
	n = strcspn(rest, "#");
	if (n + 2 > sizeof(out->path))
		return -EINVAL;
	snprintf(out->path, sizeof(out->path), "%s%.*s",
		 *rest == '/' ? "" : "/", (int)n, rest);
	return 0;
}
