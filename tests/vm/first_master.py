#!/usr/bin/python3
"""vm_first_master: initial sync and the first master, with cmsd driving DRBD.

Intent: on fresh disks cmsd (storage-drbd) makes r0 on both nodes, picks
the first master of the fresh pair, whose promote starts the initial sync
(no data on either side), makes ext4 on the blank device, mounts it and
takes the VIP; the sync completes; the data is replicated (seen on the
other node after a switchover).
  1. three guests boot, cmsd starts at boot (arbiter mode, cvknode3)
  2. storage-drbd wrote /etc/drbd.d/r0.res and brought r0 up on both
  3. one master M, the other S slave; M's log: its promote started the
     initial sync of the fresh pair; ext4 mounted at /var/lib/mysql-share
  4. /proc/drbd and events2: Connected, Primary/Secondary, UpToDate/UpToDate
  5. cmsadm status (both nodes): master/slave Online, quorum, webip,
     Master/Slave Set lines; cmsadm drbd-overview lines on both; only M
     answers ARP for the VIP
  6. 8 MiB written on M (md5); cmsadm switchover: S master, the file there
     with the same md5, DRBD roles swapped, still in sync
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (MNT, VIP, Bed, Cluster, check, first_master,  # noqa: E402
                   md5, overview_has, run_main, status_has, status_two_up,
                   switchover, vip_owners, wait_in_sync, wait_until,
                   write_payload)

OVW_PRIMARY = (r"^0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C "
               rf"r----- {re.escape(MNT)} ext4 \S+ \S+ \S+ \d+%$")
OVW_SECONDARY = r"^0:r0/0 Connected Secondary/Primary UpToDate/UpToDate C r-----$"


def scenario():
    with Bed("first_master") as bed:
        Cluster(bed, mode="arbiter", storage=True, vip=True)
        bed.boot()
        m = first_master(bed, want=None)
        s = "cvknode2" if m == "cvknode1" else "cvknode1"
        M, S = bed[m], bed[s]
        wait_in_sync(bed, m, s, 150)
        for g in (M, S):
            out = wait_until(f"status on {g.host}", lambda g=g: status_two_up(
                g, m, s) and status_has(
                g, "quorum : [controller] cvknode3 (Online)"), 30, 1)
            check(out, f"cmsadm status on {g.host}: reference lines, "
                  f"{m} master, {s} slave, arbiter Online")
        line = wait_until(f"drbd-overview on {m}",
                          lambda: overview_has(M, OVW_PRIMARY), 20, 1)
        check(line, f"cmsadm drbd-overview on {m}: {line}")
        line = wait_until(f"drbd-overview on {s}",
                          lambda: overview_has(S, OVW_SECONDARY), 20, 1)
        check(line, f"cmsadm drbd-overview on {s}: {line}")
        owners = wait_until("one VIP owner", lambda: (
            lambda o: o if o == [m] else None)(vip_owners(bed)), 20)
        check(owners == [m], f"only {m} answers ARP for {VIP}")

        h1 = write_payload(M, "payload")
        switchover(bed, m, s)
        check(True, f"after cmsadm switchover: {s} master, {m} slave, "
              f"{MNT} mounted there")
        check(md5(S, f"{MNT}/payload") == h1,
              f"the file written on {m} has its md5 on {s}")
        check(not re.search(rf" {MNT} ", M.sh("cat /proc/mounts")),
              f"{m} unmounted {MNT}")
        wait_in_sync(bed, s, m)


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 400)))
