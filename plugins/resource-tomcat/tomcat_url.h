/*
 * The URL resource-tomcat monitors, parsed without any I/O so that the
 * parser is unit-tested on its own (tests/unit/test_tomcat_url.c).
 */
#ifndef TOMCAT_URL_H
#define TOMCAT_URL_H

#include <stdint.h>

struct tomcat_url {
	char host[256];	 /* a name or an address, without brackets */
	uint16_t port;	 /* 80 when the URL has none */
	char path[1024]; /* what the request line asks for: /PATH[?QUERY] */
};

/* http://HOST[:PORT][/PATH][?QUERY], HOST a name, an IPv4 address or
 * [IPv6].  Only plain HTTP: the monitor talks to the local Tomcat
 * connector.  Spaces, quotes, <, > and \ are refused; a #fragment is
 * dropped (never sent).  0 or -EINVAL. */
int tomcat_parse_url(const char *u, struct tomcat_url *out);

#endif
