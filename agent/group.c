/*
 * The resource group's recovery policy: see group.h.
 */
#include "group.h"

#include <stdio.h>
#include <string.h>

/* "10 min", "90 s", "250 ms": the window and pauses as an operator
 * reads them. */
static void group_dur(char *buf, size_t len, uint64_t ms)
{
	if (ms >= 60000 && ms % 60000 == 0)
		snprintf(buf, len, "%llu min",
			 (unsigned long long)(ms / 60000));
	else if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
}

/* Drops the failures that fell out of the window ending at now. */
static void group_prune(struct group_member *m, const struct group_policy *p,
			uint64_t now)
{
	unsigned keep = 0;

	for (unsigned i = 0; i < m->n_fails; i++)
		if (m->fails[i] + p->window_ms > now)
			m->fails[keep++] = m->fails[i];
	m->n_fails = keep;
}

void group_member_init(struct group_member *m)
{
	memset(m, 0, sizeof(*m));
}

unsigned group_failures(const struct group_member *m,
			const struct group_policy *p, uint64_t now_ms)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->n_fails; i++)
		n += m->fails[i] + p->window_ms > now_ms;
	return n;
}

static struct group_out group_hold(struct group_member *m, unsigned failures,
				   const char *where)
{
	struct group_out o = {.verdict = GROUP_HOLD, .failures = failures};
	char pause[32];
	uint64_t d = GROUP_HOLD_MIN_MS;

	for (unsigned i = 0; i < m->holds && d < GROUP_HOLD_MAX_MS; i++)
		d *= 2;
	if (d > GROUP_HOLD_MAX_MS)
		d = GROUP_HOLD_MAX_MS;
	m->holds++;
	o.delay_ms = d;
	group_dur(pause, sizeof(pause), d);
	snprintf(o.reason, sizeof(o.reason),
		 "restarts used up and %s: restarting here again in %s", where,
		 pause);
	return o;
}

struct group_out group_on_failure(struct group_member *m,
				  const struct group_policy *p,
				  const struct group_facts *f)
{
	struct group_out o = {0};
	char window[32];
	int max = p->max_restarts < 0 ? 0 : p->max_restarts;

	group_prune(m, p, f->now_ms);
	if (m->n_fails == GROUP_MAX_FAILS) {
		/* More failures than any policy counts: the oldest one
		 * carries no extra meaning. */
		memmove(m->fails, m->fails + 1,
			(GROUP_MAX_FAILS - 1) * sizeof(m->fails[0]));
		m->n_fails--;
	}
	m->fails[m->n_fails++] = f->now_ms;
	o.failures = m->n_fails;
	group_dur(window, sizeof(window), p->window_ms);

	if (m->n_fails <= (unsigned)max) {
		/* Within the policy: the pauses start over. */
		m->holds = 0;
		m->given_up = false;
		o.verdict = GROUP_RESTART;
		snprintf(o.reason, sizeof(o.reason),
			 "restart %u of %d within %s", m->n_fails, max, window);
		return o;
	}
	if (p->optional) {
		m->given_up = true;
		o.verdict = GROUP_GIVE_UP;
		snprintf(o.reason, sizeof(o.reason),
			 "%u failures within %s (at most %d restarts): left "
			 "stopped; an optional resource does not move the "
			 "group",
			 m->n_fails, window, max);
		return o;
	}
	if (f->two_node && f->peer_can_take) {
		o.verdict = GROUP_MOVE;
		snprintf(o.reason, sizeof(o.reason),
			 "%u failures within %s (at most %d restarts): moving "
			 "the group to the peer",
			 m->n_fails, window, max);
		return o;
	}
	char where[120];
	if (!f->two_node)
		snprintf(where, sizeof(where), "no peer to move the group to");
	else
		snprintf(where, sizeof(where), "the peer cannot take over (%s)",
			 f->peer_why_not ? f->peer_why_not : "not ready");
	return group_hold(m, m->n_fails, where);
}

struct group_out group_move_refused(struct group_member *m,
				    const struct group_policy *p,
				    const char *why)
{
	char where[120];

	(void)p;
	snprintf(where, sizeof(where), "the move was refused (%s)",
		 why ? why : "no reason given");
	return group_hold(m, m->n_fails, where);
}

void group_on_restarted(struct group_member *m)
{
	m->given_up = false;
}

const char *group_verdict_name(enum group_verdict v)
{
	switch (v) {
	case GROUP_RESTART:
		return "restart";
	case GROUP_MOVE:
		return "move";
	case GROUP_GIVE_UP:
		return "give up";
	case GROUP_HOLD:
		return "hold";
	}
	return "unknown";
}

/* ---- sequences ---- */

bool group_in_seq(enum group_seq seq, const struct group_slot *s)
{
	switch (seq) {
	case GROUP_SEQ_BASE:
		return !s->group;
	case GROUP_SEQ_GROUP:
		return s->group || s->storage;
	default:
		return true;
	}
}

enum group_op group_seq_op(enum group_seq seq, const struct group_slot *s,
			   bool start)
{
	if (seq == GROUP_SEQ_GROUP && s->storage)
		return start ? GROUP_OP_PROMOTE : GROUP_OP_DEMOTE;
	if (seq == GROUP_SEQ_ALL && s->sa_promote) {
		if (start)
			return s->state == GS_STARTED ? GROUP_OP_PROMOTE
						      : GROUP_OP_START;
		return s->promoted ? GROUP_OP_DEMOTE : GROUP_OP_STOP;
	}
	return start ? GROUP_OP_START : GROUP_OP_STOP;
}

bool group_needs_stop(enum group_seq seq, const struct group_slot *s)
{
	if (!group_in_seq(seq, s))
		return false;
	if (seq == GROUP_SEQ_GROUP && s->storage)
		return s->promoted;
	return s->state == GS_STARTED || s->cleanup;
}

void group_walk_start(struct group_walk *w, enum group_seq seq)
{
	*w = (struct group_walk){.seq = seq};
}

void group_walk_stop(struct group_walk *w, enum group_seq seq, size_t n,
		     bool vip_first)
{
	*w = (struct group_walk){
		.seq = seq, .cursor = n, .vip_cursor = vip_first ? n : 0};
}

size_t group_next_start(struct group_walk *w, const struct group_slot *const *v,
			size_t n)
{
	while (w->cursor < n && !group_in_seq(w->seq, v[w->cursor]))
		w->cursor++;
	return w->cursor < n ? w->cursor : n;
}

void group_started(struct group_walk *w, const struct group_slot *s,
		   enum group_op op, bool ok)
{
	/* A standalone storage is promoted next, in the same slot. */
	if (ok && op == GROUP_OP_START && s->sa_promote &&
	    w->seq == GROUP_SEQ_ALL)
		return;
	w->cursor++;
}

size_t group_next_stop(struct group_walk *w, const struct group_slot *const *v,
		       size_t n)
{
	/* Each VIP is tried once before the reverse walk (which tries again
	 * one whose stop failed, in its turn). */
	while (w->vip_cursor > 0) {
		const struct group_slot *s = v[--w->vip_cursor];
		if (s->vip && s->state != GS_STOPPING &&
		    group_needs_stop(w->seq, s))
			return w->vip_cursor;
	}
	while (w->cursor > 0) {
		w->cursor--;
		if (group_needs_stop(w->seq, v[w->cursor]))
			return w->cursor;
	}
	return n;
}

void group_stopped(struct group_walk *w, const struct group_slot *s,
		   enum group_op op, bool ok)
{
	if (ok && op == GROUP_OP_DEMOTE && s->sa_promote &&
	    w->seq == GROUP_SEQ_ALL)
		w->cursor++;
}

const char *group_op_name(enum group_op op)
{
	static const char *const names[] = {"start", "promote", "stop",
					    "demote"};

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op]
							       : "?";
}
