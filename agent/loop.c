#include "loop.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <time.h>

static struct event_base *base;

int loop_init(void)
{
	if (base)
		return 0;
	if (evthread_use_pthreads() != 0)
		return -ENOSYS;
	base = event_base_new();
	if (!base)
		return -ENOMEM;
	return 0;
}

struct event_base *loop_base(void)
{
	return base;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void loop_timer_add(struct event *ev, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

void loop_free(void)
{
	if (base)
		event_base_free(base);
	base = NULL;
}
