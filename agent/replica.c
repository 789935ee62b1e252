/*
 * Replicated storage rules for the cluster core: see replica.h.
 */
#include "replica.h"

#include <string.h>

bool replica_usable(const struct cmsd_storage_status *st)
{
	return st->data_usable != 0;
}

bool replica_peer_current(const struct cmsd_storage_status *st)
{
	return strcmp(st->peer_disk, "UpToDate") == 0;
}

bool replica_current(const struct cmsd_storage_status *st)
{
	return replica_usable(st) && strcmp(st->disk, "UpToDate") == 0 &&
	       replica_peer_current(st);
}

bool replica_split(const struct cmsd_storage_status *st)
{
	return strcmp(st->connection, "StandAlone") == 0;
}

unsigned replica_decide(const struct cmsd_storage_status *st,
			const struct replica_facts *f)
{
	unsigned a = 0;

	if (f->serving && f->was_peer_current && !replica_peer_current(st))
		a |= REPLICA_A_NEW_GENERATION;
	if (replica_split(st) && f->peer_alive) {
		unsigned heal = 0;
		if (f->slave && f->peer_master)
			heal = REPLICA_A_DISCARD_LOCAL;
		else if (f->serving && f->peer_slave)
			heal = REPLICA_A_RECONNECT;
		else if (f->slave && f->peer_slave)
			heal = f->policy_winner ? REPLICA_A_RECONNECT
						: REPLICA_A_DISCARD_LOCAL;
		if (heal && f->maintenance)
			a |= heal == REPLICA_A_DISCARD_LOCAL
				     ? REPLICA_A_HELD_DISCARD
				     : REPLICA_A_HELD_RECONNECT;
		else if (f->resync_due)
			a |= heal;
	}
	return a;
}
