#!/usr/bin/python3
"""vm_kill_master: the master's host dies; the slave takes over with the
data; the old master comes back as slave and resyncs.

Intent: DESIGN.md 2 rows 1 and 18 on real DRBD: a power loss of the master
moves the group with no person involved, nothing written before the loss is
lost (protocol C), and the returning node rejoins as slave by itself.
  1. first master as in vm_first_master (cvknode1), initial sync done
  2. 8 MiB written on cvknode1 (md5 A)
  3. cvknode1's QEMU SIGKILLed (power loss)
  4. cvknode2 master and serving: Primary, ext4 mounted, the file's md5 A,
     the VIP answered by cvknode2 only; status `master : cvknode2 (Online)`,
     `slave  : cvknode1 (Offline)`, `  Slave  : [Unknown]`, webip Started
     cvknode2; drbd-overview `0:r0/0 WFConnection Primary/Unknown
     UpToDate/DUnknown ...`; 4 MiB more written on cvknode2 (md5 B)
  5. cvknode1 boots again on its own disks; its cmsd starts at boot
  6. cvknode1 slave (never master), r0 Secondary, resynced:
     Connected UpToDate/UpToDate on both; status: both Online;
     drbd-overview on cvknode1 `0:r0/0 Connected Secondary/Primary
     UpToDate/UpToDate C r-----`
  7. cmsadm switchover: cvknode1 master with both files (md5 A and B): what
     it had and what it got by the resync
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (MNT, VIP, Bed, Cluster, check, drbd_state,  # noqa: E402
                   first_master, log, md5, overview_has, role, run_main,
                   status_has, status_two_up, switchover, vip_owners,
                   wait_in_sync, wait_master, wait_until, write_payload)


def scenario():
    with Bed("kill_master") as bed:
        Cluster(bed, mode="arbiter", storage=True, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        first_master(bed)
        wait_in_sync(bed, "cvknode1", "cvknode2")
        ha = write_payload(n1, "before-kill")

        n1.kill()
        t = time.time()
        log("cvknode1 powered off (SIGKILL of its QEMU)")
        wait_master(bed, "cvknode2", None, 90)
        log(f"cvknode2 master {time.time() - t:.1f}s after the power loss")
        mnt = wait_until(f"{MNT} mounted on cvknode2", lambda: re.search(
            rf"^/dev/drbd0 {MNT} ext4 ", n2.sh("cat /proc/mounts"), re.M),
            60)
        check(mnt, f"cvknode2 mounted r0: {mnt.group(0)}")
        st = drbd_state(n2)
        check(st[1].startswith("Primary/") and st[2].startswith("UpToDate/"),
              f"cvknode2 r0 Primary and UpToDate without its peer: {st}")
        check(md5(n2, f"{MNT}/before-kill") == ha,
              "the data written before the power loss is intact on "
              "cvknode2 (md5)")
        owners = wait_until("cvknode2 the VIP's owner", lambda: (
            lambda o: o if o == ["cvknode2"] else None)(vip_owners(bed)), 30)
        check(owners, f"only cvknode2 answers ARP for {VIP}")
        out = wait_until("status after the failover", lambda: status_has(
            n2, "master : cvknode2 (Online)", "slave  : cvknode1 (Offline)",
            "  Slave  : [Unknown]", f"webip  : [{VIP}] Started cvknode2",
            "quorum : [controller] cvknode3 (Online)"), 30, 1)
        check(out, "cmsadm status on cvknode2: cvknode2 master, cvknode1 "
              "Offline, Slave [Unknown], webip Started cvknode2")
        line = wait_until("drbd-overview on cvknode2", lambda: overview_has(
            n2, r"^0:r0/0 (WFConnection|StandAlone|Unconnected) "
            r"Primary/Unknown UpToDate/(DUnknown|Outdated) .*"
            rf"{re.escape(MNT)} ext4 "), 30, 1)
        check(line, f"cmsadm drbd-overview on cvknode2: {line}")
        hb = write_payload(n2, "after-failover", 4)

        n1.start()
        n1.wait_boot()
        log("cvknode1 booted again on its own disks")
        t = time.time()
        while time.time() - t < 60:
            r = role(n1)
            if r and r["role"] == "master":
                check(False, f"cvknode1 never master on its return: {r}")
            if r and r["role"] == "slave" and drbd_state(n1)[2] == \
                    "UpToDate/UpToDate":
                break
            time.sleep(1)
        wait_master(bed, "cvknode2", "cvknode1", 60)
        check(True, "cvknode1 rejoined as slave, cvknode2 still master")
        wait_in_sync(bed, "cvknode2", "cvknode1", 120)
        check(drbd_state(n1)[1] == "Secondary/Primary",
              "cvknode1 r0 Secondary after the resync")
        out = wait_until("status with both back", lambda: status_two_up(
            n2, "cvknode2", "cvknode1"), 30, 1)
        check(out, "cmsadm status on cvknode2: both Online, cvknode2 master")
        line = wait_until("drbd-overview on cvknode1", lambda: overview_has(
            n1, r"^0:r0/0 Connected Secondary/Primary UpToDate/UpToDate C "
            r"r-----$"), 20, 1)
        check(line, f"cmsadm drbd-overview on cvknode1 (back): {line}")

        switchover(bed, "cvknode2", "cvknode1")
        check(md5(n1, f"{MNT}/before-kill") == ha and
              md5(n1, f"{MNT}/after-failover") == hb,
              "after a switchover back, cvknode1 has both files with their "
              "md5: the resync brought it what cvknode2 wrote")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 500)))
