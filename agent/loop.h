/* The agent's one event loop. */
#ifndef CMSD_LOOP_H
#define CMSD_LOOP_H

#include <stdint.h>

struct event_base;

/* Creates the base with pthread locking enabled (op_done may come from worker
 * threads).  Returns 0 or -errno. */
int loop_init(void);
struct event_base *loop_base(void);
/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);
/* Arms (or re-arms) a timer event to fire in ms milliseconds. */
struct event;
void loop_timer_add(struct event *ev, uint64_t ms);
void loop_free(void);

#endif
