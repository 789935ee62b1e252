#!/usr/bin/python3
"""vm_sync_partition: the local sync partition r1 added and removed on a
running pair, with real DRBD.

Intent: `cmsadm sync-partition add r1 --disk /dev/vdc` on the master stops
HA, writes r1 into both nodes' configs, restarts both agents and starts HA
again: the same master, r0's data intact, r1 a new pair that gets its
initial sync and is mounted at /vms/sync on the master; r1's data follows
a switchover; `remove r1` takes it out again (down, metadata wiped) and the
pair serves on with r0 alone.
  1. three guests, each node with a third disk /dev/vdc (48 MiB); first
     master cvknode1 on r0, in sync; 4 MiB written on r0
  2. refused: r0's own disk (/dev/vda) as the sync partition's
  3. add r1 on cvknode1: exit 0, "done"; cvknode1 master again, r0's file
     intact (md5); both configs name r1; r1 Connected, Primary/Secondary,
     UpToDate/UpToDate after its initial sync; /dev/drbd1 ext4 on
     /vms/sync on cvknode1; drbd-overview's r1 line
  4. 4 MiB written on /vms/sync; cmsadm switchover: cvknode2 master, r1
     mounted there with the file's md5
  5. remove r1 on cvknode2: exit 0, "done"; cvknode2 master; no minor 1
     in /proc/drbd on either node; r1 out of both configs; the agents'
     wipe-md of r1 succeeded; r0 still in sync with its file
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (MNT, Bed, Cluster, check, first_master, md5,  # noqa: E402
                   mounted, overview_has, proc_drbd, run_main, switchover,
                   wait_in_sync, wait_master, wait_until, write_payload)

SYNC = "/vms/sync"
OVW_R1 = (r"^1:r1/0 Connected Primary/Secondary UpToDate/UpToDate C "
          rf"r----- {re.escape(SYNC)} ext4 \S+ \S+ \S+ \d+%$")


def r1_in_sync(master, slave):
    m, s = proc_drbd(master, 1), proc_drbd(slave, 1)
    return ((m.get("cs"), m.get("ro"), m.get("ds")) ==
            ("Connected", "Primary/Secondary", "UpToDate/UpToDate") and
            (s.get("cs"), s.get("ro"), s.get("ds")) ==
            ("Connected", "Secondary/Primary", "UpToDate/UpToDate"))


def scenario():
    with Bed("sync_partition") as bed:
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        disk = n1.add_disk("sync", 48)
        n2.add_disk("sync", 48)
        Cluster(bed, mode="arbiter", storage=True, vip=True)
        bed.boot()
        first_master(bed)
        wait_in_sync(bed, "cvknode1", "cvknode2")
        h0 = write_payload(n1, "before-add", 4)

        rc, out = n1.run("cmsadm sync-partition add r1 --disk /dev/vda "
                         "--yes", 120)
        check(rc == 1 and "cmsadm: sync-partition add r1: /dev/vda on "
              "cvknode1 is the disk of the database partition r0" in out,
              "r0's disk refused as the sync partition's")

        rc, out = n1.run(f"cmsadm sync-partition add r1 --disk {disk} "
                         "--yes --timeout 240", 400)
        check(rc == 0 and "sync-partition add r1: done" in out and
              "HA started: master cvknode1" in out,
              f"cmsadm sync-partition add r1 --disk {disk}: exit {rc}, "
              "done, master cvknode1 again")
        wait_master(bed, "cvknode1", "cvknode2", 120)
        for g in (n1, n2):
            rc, _ = g.run("grep -q '<resource>r1</resource>' "
                          "/etc/cmsd/cmsd.xml", 10)
            check(rc == 0, f"{g.host}'s config names r1")
        wait_until("r1 Connected, Primary/Secondary, UpToDate/UpToDate",
                   lambda: r1_in_sync(n1, n2), 180, 1)
        check(True, "r1 initial sync done: Connected Primary/Secondary "
              "UpToDate/UpToDate")
        m = wait_until(f"/dev/drbd1 on {SYNC} on cvknode1",
                       lambda: mounted(n1, "/dev/drbd1", SYNC), 60)
        check(m, f"cvknode1 mounted r1: {m.group(0)}")
        check(md5(n1, f"{MNT}/before-add") == h0,
              "r0's file written before the add is intact on cvknode1")
        line = wait_until("drbd-overview's r1 line on cvknode1",
                          lambda: overview_has(n1, OVW_R1), 30, 1)
        check(line, f"cmsadm drbd-overview on cvknode1: {line}")

        n1.sh(f"dd if=/dev/urandom of={SYNC}/template bs=1M count=4 "
              "2>/dev/null && sync", 120)
        h1 = md5(n1, f"{SYNC}/template")
        m = switchover(bed, "cvknode1", "cvknode2", "/dev/drbd1", SYNC,
                       timeout=120, mount_timeout=90)
        check(md5(n2, f"{SYNC}/template") == h1,
              "the template written on cvknode1's r1 has its md5 on "
              "cvknode2 after a switchover")

        rc, out = n2.run("cmsadm sync-partition remove r1 --yes "
                         "--timeout 240", 400)
        check(rc == 0 and "sync-partition remove r1: done" in out,
              f"cmsadm sync-partition remove r1: exit {rc}, done")
        wait_master(bed, "cvknode2", "cvknode1", 120)
        for g in (n1, n2):
            check(not re.search(r"^\s*1: ", g.sh("cat /proc/drbd"), re.M),
                  f"{g.host}: no minor 1 in /proc/drbd")
            rc, _ = g.run("grep -q '<resource>r1</resource>' "
                          "/etc/cmsd/cmsd.xml", 10)
            check(rc == 1, f"{g.host}'s config no longer names r1")
            rc, out = g.run("grep -a 'sync-partition: .* down r1: ' "
                            "/var/log/cvm_master.log", 10)
            check(rc == 0 and "wipe-md r1: 0" in out,
                  f"{g.host}: r1's metadata wiped: {out.strip()}")
        wait_in_sync(bed, "cvknode2", "cvknode1", 120)
        check(md5(n2, f"{MNT}/before-add") == h0,
              "r0's file is intact on cvknode2 after the remove")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 880)))
