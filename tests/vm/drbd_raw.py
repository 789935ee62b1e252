#!/usr/bin/python3
"""vm_drbd_raw: the bed itself, with DRBD driven by hand (no cmsd).

Intent: prove that the image, the guests, the cables and the link cut work
with real DRBD 8.4 before any cmsd scenario relies on them.
  1. both nodes boot the Debian kernel; /proc/drbd is 8.4; n12 carries ping
  2. create-md + up on both: Connected, Inconsistent/Inconsistent
  3. primary --force on cvknode1: full sync to UpToDate/UpToDate
     (/proc/drbd and events2 --now agree), the same 32 MiB on both disks
  4. ext4 + 8 MiB of random data on cvknode1 (md5)
  5. n12 cut (QMP set_link at both ends): both lose the connection; writes
     on cvknode1 go out of sync (oos > 0)
  6. n12 healed: the resync brings oos back to 0, UpToDate/UpToDate
  7. switchover by hand to cvknode2: both files' md5 as written on cvknode1
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (Bed, check, events_now, log, md5, proc_drbd,  # noqa: E402
                   run_main, wait_until)

R0 = """resource r0 {
\tnet { protocol C; }
\ton cvknode1 { device /dev/drbd0 minor 0; disk /dev/vda;
\t\tmeta-disk internal; address ipv4 10.77.12.1:7789; }
\ton cvknode2 { device /dev/drbd0 minor 0; disk /dev/vda;
\t\tmeta-disk internal; address ipv4 10.77.12.2:7789; }
}
"""


def state(g):
    d = proc_drbd(g)
    return d.get("cs"), d.get("ro"), d.get("ds")


def scenario():
    with Bed("drbd_raw", hosts=("cvknode1", "cvknode2")) as bed:
        a, b = bed["cvknode1"], bed["cvknode2"]
        for g in (a, b):
            g.write("etc/drbd.d/r0.res", R0)
        bed.boot()

        out = a.sh("cat /proc/drbd")
        check(re.search(r"^version: 8\.4\.", out, re.M),
              "the guest kernel has DRBD 8.4: " + out.splitlines()[0])
        a.sh("ping -c 2 -W 2 10.77.12.2")
        check(True, "cvknode1 pings cvknode2 over n12")

        for g in (a, b):
            g.sh("drbdadm create-md --force r0 </dev/null", 60)
        for g in (a, b):
            g.sh("drbdadm up r0")
        for g in (a, b):
            st = wait_until(f"{g.host} Connected", lambda g=g: (
                state(g) if state(g)[0] == "Connected" else None), 30)
            check(st == ("Connected", "Secondary/Secondary",
                         "Inconsistent/Inconsistent"),
                  f"{g.host} after up: {st}")

        a.sh("drbdadm primary --force r0")
        wait_until("initial sync done on both", lambda: all(
            state(g)[2] == "UpToDate/UpToDate" for g in (a, b)), 120)
        check(state(a) == ("Connected", "Primary/Secondary",
                           "UpToDate/UpToDate"),
              f"cvknode1 after the initial sync: {state(a)}")
        check(state(b) == ("Connected", "Secondary/Primary",
                           "UpToDate/UpToDate"),
              f"cvknode2 after the initial sync: {state(b)}")
        ev = events_now(a)
        check(ev["resource"]["role"] == "Primary"
              and ev["device"]["disk"] == "UpToDate"
              and ev["connection"]["connection"] == "Connected"
              and ev["peer-device"]["peer-disk"] == "UpToDate",
              f"events2 --now on cvknode1 agrees: {ev}")
        blk = "dd if={} bs=1M count=32 2>/dev/null | md5sum"
        check(a.sh(blk.format("/dev/drbd0")).split()[0]
              == b.sh(blk.format("/dev/vda")).split()[0],
              "the first 32 MiB are the same on both disks")

        a.sh("mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 /mnt && "
             "dd if=/dev/urandom of=/mnt/payload bs=1M count=8 2>/dev/null"
             " && sync", 120)
        h1 = md5(a, "/mnt/payload")
        log(f"payload written on cvknode1, md5 {h1}")

        bed.cut("n12")
        for g in (a, b):
            wait_until(f"{g.host} loses the connection", lambda g=g:
                       state(g)[0] in ("WFConnection", "Unconnected"), 30)
        check(True, "both nodes lost the connection after the cut")
        a.sh("dd if=/dev/urandom of=/mnt/payload2 bs=1M count=4 2>/dev/null"
             " && sync")
        h2 = md5(a, "/mnt/payload2")
        oos = int(proc_drbd(a).get("oos", 0))
        check(oos > 0, f"writes while cut are out of sync: oos {oos} KiB")

        bed.heal("n12")
        wait_until("resync after the heal", lambda: all(
            state(g)[0] == "Connected" and state(g)[2] == "UpToDate/UpToDate"
            for g in (a, b)), 60)
        oos = int(proc_drbd(a).get("oos", -1))
        check(oos == 0, f"resynced after the heal: oos {oos}")

        a.sh("umount /mnt && drbdadm secondary r0")
        b.sh("drbdadm primary r0 && mount /dev/drbd0 /mnt")
        check(state(b)[1] == "Primary/Secondary",
              f"cvknode2 Primary after the switchover: {state(b)}")
        check(md5(b, "/mnt/payload") == h1,
              "payload on cvknode2 has the md5 written on cvknode1")
        check(md5(b, "/mnt/payload2") == h2,
              "payload2 (written while cut, then resynced) has its md5")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 240)))
