#!/usr/bin/python3
"""vm_recover: single-node recovery (`cmsadm recover`) on real DRBD.

Intent: DESIGN.md 2 row 13 on real DRBD: a node that was reinstalled
(nothing of the cluster left, a blank DRBD disk, a new root password) is
re-initialised from the surviving master by `cmsadm recover --peer`, run
at the master's terminal as an operator would (the peer's root password
typed at the prompt without echo, the question answered, the peer's setup
certificate compared with what the peer shows); DRBD resyncs the whole
disk from the master, which serves throughout; the recovered node is
slave and then serves the same data.
  1. as vm_first_master: a configured pair, cvknode1 master, r0
     UpToDate/UpToDate, 8 MiB written on cvknode1 (md5 A); the nodes keep
     the cluster CA key and have r0 on a 48 MiB GPT partition named
     cmsd-db, /dev/vda1 (made here with sfdisk on the disk image), as
     cmsadm setup leaves them
  2. cvknode2 powered off (SIGKILL of its QEMU); cvknode1 sees it Offline
  3. cvknode2 reinstalled: a blank DRBD disk, its own disk made again
     without /etc/cmsd (/var/lib/cmsd, /var/lib/drbd, /var/log empty), a
     new root password in /etc/shadow (a hash made per run by openssl),
     the bed's DRBD tuning as the package's global_common.conf (the bed
     runs at 4 MiB/s so that the 64 MiB resync is seen in percent)
  4. it boots: rc.sh finds no /etc/cmsd/cmsd.xml and starts
     `cmsd --unconfigured`, which waits for cmsadm; no agent answers
     `cmsadm role` there
  5. on cvknode1, at its console: `cmsadm recover --peer 10.77.12.2
     --db-on /dev/vda` (cvknode2's address in the pair's configuration;
     the guest's agent knows no system disk: its root is an initramfs),
     password at the
     prompt, "yes" to the question, the fingerprint shown equal to
     `cmsd --unconfigured --show-fingerprint` on cvknode2; meanwhile both
     guests sample every process's command line and cvknode1's
     `cmsadm role` in the background
  6. exit 0, the last line exactly `-----CVM Master/Slave Restore
     Success-----`, the stage lines, cvknode2's database partition made
     (/dev/vda1 on /dev/vda, 48 MiB as cvknode1's, created) and wiped,
     `resync of db: N%` lines with N < 100, `every replica
     UpToDate/UpToDate`
  7. no command line on either guest held a password; cvknode1 was
     `master ... serving` in every sample; no file of either guest's
     /var/log nor any console holds a password
  8. /proc/drbd and events2: cvknode1 Connected Primary UpToDate/UpToDate,
     cvknode2 Connected Secondary UpToDate/UpToDate; status on both:
     master/slave Online, quorum, webip, Master/Slave Set lines; cvknode2's
     config is node2's with r0 on /dev/vda1, its /dev/vda1 a 48 MiB
     partition named cmsd-db
  9. cmsadm switchover: cvknode2 master, the file with md5 A

Not done here: the compat `ms_recovery.sh PEER_IP PEER_PW`, whose
reference interface puts the password on its own command line (the
sampler would rightly see it); tests/operations/recover.test.sh drives it.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (GLOBAL_COMMON, MNT, Bed, Cluster, check,  # noqa: E402
                   drbd_state, events_now, first_master, guest_texts, log,
                   md5,
                   new_password, role, run_main, sampler_start, sampler_stop,
                   set_root_password, status_has, status_two_up, switchover,
                   wait_in_sync, wait_until, write_payload)

SUCCESS = "-----CVM Master/Slave Restore Success-----"
PEER = "10.77.12.2"


def scenario():
    # 4 MiB/s: the full resync of the 64 MiB r0 lasts long enough for
    # recover's percent lines (set on both nodes: the rate is not the
    # SyncTarget's alone)
    with Bed("recover", resync_rate="4M") as bed:
        n1, n2 = bed["cvknode1"], bed["cvknode2"]
        pws = [new_password() for _ in range(3)]  # node1, node2, node2 new
        set_root_password(n1, pws[0])
        set_root_password(n2, pws[1])
        for g in (n1, n2):
            g.db_part_mib = 48
        Cluster(bed, mode="arbiter", storage=True, vip=True,
                drbd_disk="/dev/vda1")
        bed.boot()
        first_master(bed)
        wait_in_sync(bed, "cvknode1", "cvknode2")
        ha = write_payload(n1, "before-reinstall")

        n2.kill()
        log("cvknode2 powered off (SIGKILL of its QEMU)")
        wait_until("cvknode1 sees cvknode2 Offline", lambda: status_has(
            n1, "master : cvknode1 (Online)", "slave  : cvknode2 (Offline)"),
            60, 1)
        set_root_password(n2, pws[2])
        n2.write("etc/drbd.d/global_common.conf", GLOBAL_COMMON.replace(
            "resync-rate 400M", "resync-rate 4M"))
        n2.reinstall()
        n2.start()
        n2.wait_boot()
        rc, out = n2.run('test -z "$(ls -A /etc/cmsd)" && '
                         'test -z "$(ls -A /var/lib/drbd)" && '
                         'test ! -e /dev/vda1', 10)
        check(rc == 0, "cvknode2 reinstalled: /etc/cmsd and /var/lib/drbd "
              "empty, no partition on /dev/vda")
        wait_until("cvknode2's setup agent waiting", lambda: n2.run(
            "grep -a 'waiting for cmsadm setup' "
            "/var/log/cvm_master_slave.log", 10)[0] == 0, 60, 1)
        rc, out = n2.run("cmsadm role", 10)
        check(rc != 0 and "failed to connect to cmsd" in out,
              "cvknode2 runs `cmsd --unconfigured` (rc.sh: no "
              f"/etc/cmsd/cmsd.xml), no configured agent: {out.strip()}")
        fp = n2.sh("cmsd --unconfigured --show-fingerprint").strip()
        check(fp.startswith("SHA256:"), f"cvknode2's setup certificate: {fp}")

        for g in (n1, n2):
            sampler_start(g)
        shown = []

        def same_fp(m):
            shown.append(m.group(1))
            return "yes" if m.group(1) == fp else "no"
        rc, out = n1.interact(
            f"cmsadm recover --peer {PEER} --db-on /dev/vda --wait 180", [
                (rf"Root password of the peer \({re.escape(PEER)}\): ",
                 pws[2]),
                (rf"Please confirm to recovery {re.escape(PEER)} and "
                 r"format peer's /vms partition \[yes/no\]: ", "yes"),
                (r"setup certificate (SHA256:\S+)\n[\s\S]*?Is that the "
                 r"fingerprint the host shows\? \[yes/no\]: ", same_fp)],
            600)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        log("cmsadm recover said:\n" + "\n".join(lines))
        check(shown == [fp], f"recover showed cvknode2's fingerprint {fp}")
        check(rc == 0 and lines and lines[-1] == SUCCESS,
              f"cmsadm recover: exit {rc}, last line exactly {SUCCESS}")
        for ln in (f"peer {PEER}: authenticated",
                   "==> [1/4] issuing the peer's certificate from the "
                   "cluster CA kept on this node",
                   "==> [2/4] writing the peer's configuration, "
                   "certificate and keys",
                   "==> creating the peer's DRBD database partition",
                   "  cvknode2: database partition /dev/vda1 (on /dev/vda, "
                   "48 MiB as /dev/vda1 here, created)",
                   "==> [3/4] formatting the peer's DRBD partition",
                   "  /dev/vda1: DRBD metadata and file-system signatures "
                   "wiped; new metadata at start, then a full resync",
                   "==> [4/4] checking the configuration and restarting "
                   "the peer's cmsd",
                   "  cvknode2 is slave",
                   "  every replica UpToDate/UpToDate"):
            check(ln in lines, f"recover's output has the line {ln!r}")
        pct = [int(x) for x in re.findall(r"^  resync of db: (\d+)%$", out,
                                          re.M)]
        check(any(p < 100 for p in pct) and pct == sorted(pct),
              f"recover showed the resync in percent, rising: {pct}")

        for g, master in ((n1, True), (n2, False)):
            n, args, roles_seen = sampler_stop(g)
            check(n >= 20, f"{g.host}: {n} command-line samples during "
                  "the recovery")
            check(all(p not in args for p in pws),
                  f"{g.host}: no password on any command line in {n} "
                  "samples")
            if master:
                rl = [ln.split(None, 1)[1] for ln in
                      roles_seen.splitlines() if ln.strip()]
                check(rl and all(re.match(r"node1 master \d+ serving$", r)
                                 for r in rl),
                      f"cvknode1 master and serving in every sample: "
                      f"{roles_seen.split()}")

        wait_in_sync(bed, "cvknode1", "cvknode2", 120)
        ev = events_now(n2)
        check(drbd_state(n2) == ("Connected", "Secondary/Primary",
                                 "UpToDate/UpToDate") and
              ev["resource"]["role"] == "Secondary" and
              ev["device"]["disk"] == "UpToDate" and
              ev["connection"]["connection"] == "Connected" and
              ev["peer-device"]["peer-disk"] == "UpToDate",
              "cvknode2: /proc/drbd and events2 --now: Connected, "
              "Secondary, UpToDate/UpToDate")
        r = role(n2)
        check(r and r["node"] == "node2" and r["role"] == "slave",
              f"cvknode2 is slave: {r}")
        # the pair's <disk> (no node=) names the device the peer's
        # PARTITION reported, so the peer's config keeps it as it is
        rc, _ = n2.run("grep -q 'node=\"node2\"' /etc/cmsd/cmsd.xml && "
                       "grep -q '<disk>/dev/vda1</disk>' /etc/cmsd/cmsd.xml",
                       10)
        check(rc == 0, "cvknode2's new configuration is node2's, r0 on "
              "/dev/vda1")
        rc, out = n2.run("grep PARTNAME /sys/class/block/vda1/uevent; "
                         "cat /sys/class/block/vda1/size", 10)
        check(rc == 0 and "PARTNAME=cmsd-db" in out and
              str(48 << 11) in out.split(),
              f"cvknode2's /dev/vda1 is a 48 MiB GPT partition cmsd-db: "
              f"{out.split()}")
        for g in (n1, n2):
            st = wait_until(f"status on {g.host}", lambda g=g: status_two_up(
                g, "cvknode1", "cvknode2") and status_has(
                g, "quorum : [controller] cvknode3 (Online)"), 30, 1)
            check(st, f"cmsadm status on {g.host}: cvknode1 master, "
                  "cvknode2 slave, both Online, arbiter Online")

        # no password in any log or console
        dumps = guest_texts(bed, (n1, n2))
        check(any(k.endswith(":cvm_master_slave.log") for k in dumps),
              "the logs of both guests read from their disks: "
              + ", ".join(sorted(dumps)))
        leaks = [k for k, v in dumps.items() if any(p in v for p in pws)]
        check(not leaks, "no password in any log file or console "
              f"({len(dumps)} files)" + (f"; found in {leaks}" if leaks
                                         else ""))
        log1 = dumps.get("cvknode1:cvm_master_slave.log", "")
        check("cmsadm recover" in log1 and SUCCESS in log1,
              "cvknode1's /var/log/cvm_master_slave.log records the "
              "recovery and its success")

        switchover(bed, "cvknode1", "cvknode2")
        check(md5(n2, f"{MNT}/before-reinstall") == ha,
              "after a switchover the recovered cvknode2 serves the file "
              "written before its reinstall, md5 identical")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 580)))
