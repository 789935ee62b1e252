#!/usr/bin/python3
"""vm_split_brain_maint: as vm_split_brain (ping mode, n12 cut, both
masters, both write), but the operator turns maintenance on on one node
before the link comes back: the split brain is found and one master
remains, but the heal (discard on the loser, reconnect on the winner)
waits, shown on both nodes, until `cmsadm maintenance off` takes it.

Intent: docs/decisions.md "Maintenance and storage": in maintenance the
split-brain heal, the one action that cannot be undone, waits for the
operator (who may be saving what the loser's copy holds), on either
node's switch; maintenance off takes it at once.
  1. as split_brain.py: ping mode, first master cvknode1, in sync, BASE
     written; n12 cut: both master, both Primary, each writes its file
  2. while cut, on cvknode2 only: `cmsadm maintenance on`.  It is not
     refused without the peer: it is set on cvknode2 and "the peer follows
     when it returns"; cvknode1 still has it off.  This order is the
     realistic one: the operator sees the partition (two masters) and
     wants nothing repaired behind their back when the link returns.
     Turned on before the cut it would be on both nodes at once.  Which
     node wins is the policy's call (either, from run to run), so either
     the loser's discard or the winner's reconnect is held on cvknode1,
     which never had the switch typed.  What reaches cvknode1 first after
     the heal: cvknode2's heartbeat flag (peer_maintenance), and within
     the same second its state message, from which cvknode1 adopts the
     switch ("maintenance mode on (state of node2)"); DRBD needs its
     connect interval and handshake before it reports the split brain, so
     in practice cvknode1 holds the heal on the adopted switch too.  On
     the way out the peer's flag is what counts: cvknode2, where `off` is
     typed, still sees cvknode1's flag and takes its heal only when
     cvknode1's heartbeat no longer carries it
  3. n12 healed: DRBD reports the split brain; one master W remains, the
     loser L slave (two masters meeting still become one: L demoted and
     unmounted, only W answers ARP for the VIP); for 20 s more
     (in vm_split_brain r0 was StandAlone 11 s in all on the loser, and
     connected again within 1 s of one master) r0 stays StandAlone on
     both, L's log has no "changes are discarded" line; each node's log
     has one "not healed now" event; both statuses have the exact line
     `!! SPLIT BRAIN on db not healed in maintenance: ...` (L: discard
     its changes and resync from W; W: keep its data and reconnect to
     L); `--json` admin.heal_pending names db and the action
  4. `cmsadm maintenance off` on cvknode2: the heal is taken at once
     (event on both), r0 Connected UpToDate/UpToDate, L's log records
     what it had, the pending lines gone from both statuses
  5. as split_brain.py: on W BASE and W's file, not L's; after a
     switchover L has BASE and W's file, not its own
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sb_steps import (check_loser_discarded, heal_to_one_master,  # noqa: E402
                      make_split_brain)
from vmbed import (Bed, Cluster, TestFailure, check,  # noqa: E402
                   drbd_state, log, mounted, run_main, status, wait_in_sync,
                   vip_owners, wait_master, wait_until)

HOLD_S = 20
LOG = "/var/log/cvm_master.log"
DISCARDED = "changes are discarded.*it had data generation"


def pending_line(node, peer, discard):
    return (f"!! SPLIT BRAIN on db not healed in maintenance: {node} would "
            + ("discard its changes and resync from" if discard else
               "keep its data and reconnect to")
            + f" {peer}; `cmsadm maintenance off` does it")


def admin_json(g):
    rc, out = g.run("cmsadm status --json", 30)
    if rc != 0:
        return None
    try:
        return json.loads(out)["admin"]
    except (ValueError, KeyError):
        return None


def grep(g, regex):
    """The lines of g's agent log that match regex (extended)."""
    rc, out = g.run(f"grep -a -E '{regex}' {LOG}", 10)
    return out.splitlines() if rc == 0 else []


def scenario():
    with Bed("split_brain_maint") as bed:
        Cluster(bed, mode="ping", storage=True, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        base, h = make_split_brain(bed)

        out = n2.sh("cmsadm maintenance on", 30)
        check("maintenance on for cvknode2: " in out and
              "the peer follows when it returns" in out,
              f"cut off, cvknode2 takes `cmsadm maintenance on` for itself: "
              f"{out.strip()}")
        a1 = admin_json(n1)
        check(a1 and a1["maintenance"] is False,
              f"cvknode1 (cut off) still has maintenance off: {a1}")

        W, L, t = heal_to_one_master(bed)
        log(f"one master again {time.time() - t:.1f}s after the heal: {W}; "
            f"{L} slave (policy): cvknode1, where maintenance was not "
            "typed, holds " + ("the loser's discard" if L == "cvknode1"
                               else "the winner's reconnect"))
        w, lo = bed[W], bed[L]
        want = {W: pending_line(W, L, False), L: pending_line(L, W, True)}
        for g in (w, lo):
            st = wait_until(f"{g.host}: status with the pending heal",
                            lambda g=g: (lambda s: s if s and want[g.host] in
                                         s.splitlines() else None)(
                                status(g)), 30, 1)
            check(st, f"{g.host} status: {want[g.host]}")
        aj = {g.host: admin_json(g) for g in (w, lo)}
        for host, action in ((L, "discard-local"), (W, "reconnect")):
            hp = aj[host] and aj[host]["heal_pending"]
            check(hp == [{"storage": "db", "action": action}],
                  f"{host} --json admin.heal_pending: {hp}")
        check(aj["cvknode1"]["peer_maintenance"] is True,
              f"cvknode1 sees cvknode2's maintenance through its "
              f"heartbeat: {aj['cvknode1']}")

        t_hold = time.time()
        while time.time() - t_hold < HOLD_S:
            for g in (w, lo):
                st = drbd_state(g)
                if st[0] != "StandAlone":
                    raise TestFailure(
                        f"{g.host} r0 {st} {time.time() - t_hold:.0f}s into "
                        "the hold: the heal was not held in maintenance")
            r = grep(lo, DISCARDED)
            if r:
                raise TestFailure(f"{L} discarded in maintenance: {r}")
            time.sleep(1)
        check(True, f"for {HOLD_S}s ({time.time() - t:.0f}s after the link "
              f"came back) r0 StandAlone on both, {L} without a "
              "'changes are discarded' line")
        # One master, as without maintenance: only the heal waits.  The
        # loser demoted (DRBD's discard-my-data needs it Secondary).
        wait_master(bed, W, L, 10)
        sw, sl = drbd_state(w), drbd_state(lo)
        check(sw[1].startswith("Primary/") and mounted(w) and
              sl[1].startswith("Secondary/") and not mounted(lo),
              f"{W} Primary and mounted ({sw}), {L} Secondary and "
              f"unmounted ({sl})")
        # steady state by now: a retry only rides out a lost ARP reply
        check(wait_until(f"only {W} answering ARP for the VIP", lambda: (
            vip_owners(bed) == [W]), 15, 1),
            f"only {W} answers ARP for the VIP")
        for g, what in ((lo, "would discard its changes and resync from"),
                        (w, "would keep its data and reconnect to")):
            ev = grep(g, f"split brain on db: maintenance mode is on, so it "
                      f"is not healed now: this node {what} ")
            check(len(ev) == 1, f"{g.host} said once what it holds back: "
                  f"{ev}")
        # cvknode1 took the switch from cvknode2 (cluster-wide); which
        # came first there, the adopted switch or the held heal: logged
        ad = grep(n1, r"maintenance mode on \((state|command) of node2\)")
        check(ad, f"cvknode1 adopted cvknode2's switch: {ad}")
        for ln in grep(n1, "maintenance mode (on|is on)"):
            log(f"cvknode1: {ln.strip()}")

        out = n2.sh("cmsadm maintenance off", 30)
        check("maintenance off for cvknode2 and cvknode1" in out,
              f"`cmsadm maintenance off` on cvknode2: {out.strip()}")
        t_off = time.time()
        wait_in_sync(bed, W, L, 90)
        log(f"healed and in sync {time.time() - t_off:.1f}s after "
            "maintenance off")
        for g in (w, lo):
            ev = grep(g, "maintenance mode is off: the split-brain heal of "
                      "db held back is taken now")
            check(ev, f"{g.host}: {ev[0].strip() if ev else 'no event'}")
        # cvknode2 typed off but still saw cvknode1's flag: it takes its
        # heal on cvknode1's next heartbeat (same clock: one log)
        for ln in grep(n2, "maintenance mode (off|is off)"):
            log(f"cvknode2: {ln.strip()}")
        rec = grep(lo, DISCARDED)
        check(len(rec) == 1, f"{L} recorded what it had: {rec}")
        for g in (w, lo):
            s = wait_until(f"{g.host}: status without the pending heal",
                           lambda g=g: (lambda s: s if s and "!! SPLIT BRAIN"
                                        not in s and "!! MAINTENANCE" not in s
                                        else None)(status(g)), 20, 1)
            check(s, f"{g.host}: no pending heal nor maintenance in status")
            aj = admin_json(g)
            check(aj and aj["heal_pending"] == [] and not aj["maintenance"],
                  f"{g.host} --json admin: {aj}")
        check_loser_discarded(bed, W, L, base, h)


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 500)))
