/* cmsadm drbd-handler: the reply's reading (see handler.h). */
#include "handler.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

int handler_reply_code(const char *body)
{
	const char *p = body;
	int v = 0, n = 0;

	if (!body)
		return -EINVAL;
	if (strncmp(body, "wait", 4) == 0 &&
	    (body[4] == ' ' || body[4] == '\n' || !body[4]))
		return HANDLER_WAIT;
	for (; isdigit((unsigned char)*p); p++) {
		if (++n > 3)
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	/* One token: the number ends at a blank or the end. */
	if (!n || (*p && *p != ' ' && *p != '\n') || v > 255)
		return -EINVAL;
	return v;
}

int handler_unreachable_code(const char *hook)
{
	return hook && strcmp(hook, "fence-peer") == 0 ? 1 : 0;
}

bool handler_word_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}
