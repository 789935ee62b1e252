#!/usr/bin/python3
"""vm_first_master: initial sync and the first master, with cmsd driving DRBD.

Intent: on fresh disks cmsd (storage-drbd) makes r0 on both nodes; nobody
is master while both copies are Inconsistent; once the operator's setup
step picks the initial sync's source (drbdadm primary --force on
cvknode1), cmsd makes cvknode1 master: promote, ext4 on the fresh device,
mount, VIP; the initial sync completes; the data is replicated (seen on
cvknode2 after a switchover).
  1. three guests boot, cmsd starts at boot (arbiter mode, cvknode3)
  2. r0 Connected, Secondary/Secondary, Inconsistent/Inconsistent on both
     (storage-drbd's create-md + up); nobody master for 2 x deadtime
  3. operator step on cvknode1; cvknode1 master, cvknode2 slave; ext4
     mounted at /var/lib/mysql-share
  4. /proc/drbd and events2: Connected, Primary/Secondary, UpToDate/UpToDate
  5. cmsadm status (both nodes): master/slave Online, quorum, webip,
     Master/Slave Set lines; cmsadm drbd-overview lines on both; only
     cvknode1 answers ARP for the VIP
  6. 8 MiB written on cvknode1 (md5); cmsadm switchover: cvknode2 master,
     the file there with the same md5, DRBD roles swapped, still in sync
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (MNT, VIP, Bed, Cluster, check, first_master,  # noqa: E402
                   md5, overview_has, run_main, status_has, status_two_up,
                   vip_owners, wait_in_sync, wait_master, wait_until,
                   write_payload)

OVW_PRIMARY = (r"^0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C "
               rf"r----- {re.escape(MNT)} ext4 \S+ \S+ \S+ \d+%$")
OVW_SECONDARY = r"^0:r0/0 Connected Secondary/Primary UpToDate/UpToDate C r-----$"


def scenario():
    with Bed("first_master") as bed:
        Cluster(bed, mode="arbiter", storage=True, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        first_master(bed)
        wait_in_sync(bed, "cvknode1", "cvknode2")
        for g in (n1, n2):
            out = wait_until(f"status on {g.host}", lambda g=g: status_two_up(
                g, "cvknode1", "cvknode2") and status_has(
                g, "quorum : [controller] cvknode3 (Online)"), 30, 1)
            check(out, f"cmsadm status on {g.host}: reference lines, "
                  "cvknode1 master, cvknode2 slave, arbiter Online")
        line = wait_until("drbd-overview on cvknode1",
                          lambda: overview_has(n1, OVW_PRIMARY), 20, 1)
        check(line, f"cmsadm drbd-overview on cvknode1: {line}")
        line = wait_until("drbd-overview on cvknode2",
                          lambda: overview_has(n2, OVW_SECONDARY), 20, 1)
        check(line, f"cmsadm drbd-overview on cvknode2: {line}")
        owners = wait_until("one VIP owner", lambda: (
            lambda o: o if o == ["cvknode1"] else None)(vip_owners(bed)), 20)
        check(owners == ["cvknode1"], f"only cvknode1 answers ARP for {VIP}")

        h1 = write_payload(n1, "payload")
        n1.sh("cmsadm switchover", 60)
        wait_master(bed, "cvknode2", "cvknode1", 90)
        check(True, "after cmsadm switchover: cvknode2 master, cvknode1 "
              "slave")
        wait_until(f"{MNT} mounted on cvknode2", lambda: re.search(
            rf"^/dev/drbd0 {MNT} ext4 ", n2.sh("cat /proc/mounts"), re.M),
            60)
        check(md5(n2, f"{MNT}/payload") == h1,
              "the file written on cvknode1 has its md5 on cvknode2")
        check(not re.search(rf" {MNT} ", n1.sh("cat /proc/mounts")),
              f"cvknode1 unmounted {MNT}")
        wait_in_sync(bed, "cvknode2", "cvknode1")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 400)))
