#!/usr/bin/python3
"""vm_split_brain: ping mode, the nodes cut from each other, both write;
on the heal DRBD finds a split brain and cmsd heals it by its policy.

Intent: DESIGN.md 2 row 10 and 3.3 on real DRBD: with simple ping
arbitration a partition makes two masters (documented), both write; when
the link comes back the split brain is detected, one master remains, the
loser's changes are discarded with a record of what it had, the loser is
resynced from the winner, and nobody does anything by hand.
  1. ping mode (targets on cvknode3), first master cvknode1, in sync;
     a file written on cvknode1 (md5 BASE)
  2. n12 cut: both nodes still reach the ping targets; cvknode2 takes over
     too: both master, both Primary and mounted; each writes its own file
  3. n12 healed: DRBD reports the split brain (kernel: "Split-Brain
     detected"; events2: the split-brain helper, r0 StandAlone); drbd-overview,
     sampled in the guest every 0.1 s, shows the StandAlone line when the
     state lasts long enough to be sampled
  4. one master W, the loser L a slave; r0 Connected UpToDate/UpToDate;
     status and drbd-overview lines of one master again; `cmsadm events`
     names the split brain; L's log records what it had
  5. on W: BASE and W's file with their md5, not L's file; a switchover
     to L: L has BASE and W's file (resynced from W), not its own
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sb_steps import (check_loser_discarded, heal_to_one_master,  # noqa: E402
                      make_split_brain, standalone_secs)
from vmbed import (MNT, Bed, Cluster, check, log,  # noqa: E402
                   overview_has, run_main, status_two_up, wait_in_sync,
                   wait_until)


def scenario():
    with Bed("split_brain") as bed:
        Cluster(bed, mode="ping", storage=True, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        base, h = make_split_brain(bed)

        # In-guest samplers, started before the heal: the split brain's
        # StandAlone can last well under a second when cmsd is quick, too
        # short for the console.  events2 records every DRBD transition;
        # drbd-overview is sampled every 0.1 s.
        for g in (n1, n2):
            g.sh("drbdsetup events2 --timestamps r0 >/tmp/ev2.log 2>&1 & "
                 "echo $! >/tmp/ev2.pid; "
                 "( while :; do cmsadm drbd-overview; sleep 0.1; done ) "
                 ">/tmp/ovw.log 2>&1 & echo $! >/tmp/ovw.pid")
        W, L, t = heal_to_one_master(bed)
        log(f"one master again {time.time() - t:.1f}s after the heal: {W}; "
            f"{L} slave")
        wait_in_sync(bed, W, L, 120)
        check(True, f"the loser {L} resynced from {W}")
        # split_brain_maint.py holds r0 StandAlone for longer than this
        log(f"r0 healed and in sync {time.time() - t:.1f}s after the heal")
        ev, ovw = {}, {}
        for g in (n1, n2):
            g.sh("kill $(cat /tmp/ev2.pid) $(cat /tmp/ovw.pid)")
            ev[g.host] = g.sh("cat /tmp/ev2.log")
            ovw[g.host] = g.sh("cat /tmp/ovw.log")
        alone = [h for h in ev if re.search(
            r"call helper name:r0 .*helper:split-brain\b", ev[h]) and
            re.search(r"change connection name:r0 .*connection:StandAlone",
                      ev[h])]
        check(alone, "events2: DRBD's split-brain helper called and r0 "
              "StandAlone on " + (", ".join(alone) or "neither node"))
        log("r0 StandAlone for " + ", ".join(
            f"{h}: {standalone_secs(ev[h])}s" for h in ev) + " (events2)")
        seen = [f"{h}: {m.group(0)}" for h in ovw for m in [re.search(
            r"^0:r0/0 StandAlone \S+/\S+ \S+/\S+ +r-----.*$", ovw[h],
            re.M)] if m]
        if seen:
            check(True, f"cmsadm drbd-overview showed it: {seen[0]}")
        else:
            log("drbd-overview not sampled while StandAlone (under 0.1 s "
                "here); its StandAlone line is unit-tested on captured "
                "output")
        out = wait_until("status with one master", lambda: status_two_up(
            bed[W], W, L), 30, 1)
        check(out, f"cmsadm status on {W}: {W} master, {L} slave, both "
              "Online, webip Started on the winner")
        line = wait_until(f"drbd-overview on {W}", lambda: overview_has(
            bed[W], r"^0:r0/0 Connected Primary/Secondary UpToDate/UpToDate"
            rf" C r----- {re.escape(MNT)} ext4 "), 20, 1)
        check(line, f"cmsadm drbd-overview on {W}: {line}")
        ev = bed[W].sh("cmsadm events") + bed[L].sh("cmsadm events")
        check(re.search(r"split brain", ev),
              "cmsadm events names the split brain")
        rc, rec = bed[L].run("grep -a -m1 -E 'changes are discarded.*it "
                             "had data generation' /var/log/cvm_master.log",
                             10)
        check(rc == 0, f"{L} recorded what it had: {rec.strip()}")

        check_loser_discarded(bed, W, L, base, h)


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 500)))
