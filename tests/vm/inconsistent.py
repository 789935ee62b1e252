#!/usr/bin/python3
"""vm_inconsistent_slave: a slave whose data is Inconsistent is never
promoted, even when the master's host is gone.

Intent: DESIGN.md 3.1 ("a node never promotes data that is not the
newest") on real DRBD: while a slave's copy is being rebuilt it is
Inconsistent; when the master dies then, the slave must not take over with
half a disk, whatever the arbiter says; the service waits for the node with
the data.
  1. first master cvknode1, in sync; 8 MiB written on cvknode1 (md5)
  2. cvknode2's DRBD disk replaced by a blank one (powered off, new disk,
     booted): its cmsd makes fresh metadata and r0 resyncs in full from
     cvknode1, throttled to 1 MiB/s (64 MiB: about a minute); cvknode2
     slave, SyncTarget, Inconsistent; cvknode1's status shows the resync
     (`replica: db: SyncSource Primary/Secondary UpToDate/Inconsistent,
     syncing N%`)
  3. cvknode1's QEMU SIGKILLed while cvknode2 is Inconsistent
  4. for 3 x deadtime + 8 s: cvknode2 never master nor serving, r0 still
     Secondary and Inconsistent, nothing mounted; its status says `data
     not usable`; drbd-overview shows Secondary/Unknown Inconsistent
  5. cvknode1 boots again: master again (the only UpToDate copy), the file
     with its md5; the resync resumes (rate raised) and completes
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (DEADTIME_MS, MNT, Bed, Cluster, check,  # noqa: E402
                   drbd_state, first_master, log, md5, never_master,
                   overview_has, proc_drbd, run_main, status, wait_in_sync,
                   wait_master, wait_until, write_payload)


def scenario():
    with Bed("inconsistent", resync_rate="1M") as bed:
        Cluster(bed, mode="arbiter", storage=True, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        first_master(bed)
        # mkfs discards the whole device, which DRBD counts as in sync
        wait_in_sync(bed, "cvknode1", "cvknode2", 150)
        h = write_payload(n1, "payload")

        n2.kill()
        n2.new_drbd_disk()
        log("cvknode2 powered off, its DRBD disk replaced by a blank one")
        n2.start()
        n2.wait_boot()
        st = wait_until("cvknode2 resyncing as SyncTarget", lambda: (
            lambda s: s if s[0] == "SyncTarget" else None)(drbd_state(n2)),
            90, 1)
        oos = int(proc_drbd(n2).get("oos", 0))
        check(st[1:] == ("Secondary/Primary", "Inconsistent/UpToDate")
              and oos > 0, f"cvknode2 (fresh metadata) resyncing in full: "
              f"{st}, oos {oos} KiB")
        wait_master(bed, "cvknode1", "cvknode2", 60)
        line = wait_until("the resync in cvknode1's status", lambda: next((
            ln for ln in (status(n1) or "").splitlines() if re.match(
                r"^replica: db: SyncSource Primary/Secondary "
                r"UpToDate/Inconsistent, syncing \d+%", ln)), None), 20, 1)
        check(line, f"cmsadm status on cvknode1: {line}")

        n1.kill()
        log("cvknode1 powered off during cvknode2's resync")
        st = drbd_state(n2)
        check(st[2].startswith("Inconsistent/"),
              f"cvknode2 Inconsistent when its peer died: {st}")
        never_master(bed, ("cvknode2",), 3 * DEADTIME_MS // 1000 + 8,
                     "its data is Inconsistent")
        st = drbd_state(n2)
        check(st[1].startswith("Secondary/") and
              st[2].startswith("Inconsistent/"),
              f"cvknode2 r0 still Secondary and Inconsistent: {st}")
        check(not re.search(rf" {MNT} ", n2.sh("cat /proc/mounts")),
              "nothing mounted on cvknode2")
        out = status(n2) or ""
        line = next((ln for ln in out.splitlines() if re.match(
            r"^replica: db: \S+ Secondary/\S+ Inconsistent/\S+, .*"
            r"data not usable", ln)), None)
        check(line, f"cmsadm status on cvknode2 says why: {line}")
        line = overview_has(n2, r"^0:r0/0 \S+ Secondary/Unknown "
                            r"Inconsistent/DUnknown")
        check(line, f"cmsadm drbd-overview on cvknode2: {line}")

        n1.start()
        n1.wait_boot()
        t = time.time()
        wait_master(bed, "cvknode1", "cvknode2", 120)
        log(f"cvknode1 master again {time.time() - t:.1f}s after its boot")
        wait_until(f"{MNT} mounted on cvknode1", lambda: re.search(
            rf" {MNT} ext4 ", n1.sh("cat /proc/mounts")), 60)
        check(md5(n1, f"{MNT}/payload") == h,
              "cvknode1 serves the file with its md5")
        for g in (n1, n2):  # the rest of the resync at full speed
            g.run("drbdadm disk-options --c-plan-ahead=0 "
                  "--resync-rate=400M r0", 30)
        wait_in_sync(bed, "cvknode1", "cvknode2", 180)
        check(True, "the resync completed after cvknode1's return")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 560)))
