#!/usr/bin/python3
"""vm_setup: `cmsadm setup` makes a pair with an arbiter out of three
fresh hosts, on real DRBD.

Intent: DESIGN.md 2 rows 11 and 12 on real DRBD: three hosts that run the
setup agent (`cmsd --unconfigured`, started at boot because there is no
/etc/cmsd/cmsd.xml) become a running pair with an arbiter through one
`cmsadm setup` at cvknode1's terminal, as an operator runs it: the slave's
and the arbiter's root passwords typed at the prompts (no echo), each
host's setup certificate compared with what that host shows, the
pre-checks named one by one, CONFIRM typed, the progress shown, the
initial sync of r0 in percent; then the pair serves and replicates.

The form: VIP 10.77.0.100/24 (on lan: the NIC of cvknode1's address
towards the slave), slave 10.77.0.2, arbiter 10.77.0.3, 2 hosts and 10
VMs, the database partition made by setup on each node's blank 64 MiB
DRBD disk: --db-on /dev/vda (the guests' agents know no system disk)
--db-size 48M --allow-small-db (the formula asks 13 GB), a
--group-template with storage-drbd r0 (its disk `@DB_DISKS@`: each
node's own) and resource-vip only (the guests have no MariaDB or
Tomcat).  The management addresses 10.77.0.1 and .2 reach each other
over the direct cable (a host route on each node through hb): the bed's
cvknode3 does not forward.

Pre-checks: real where the guest allows: host names, versions and
components, boot mode (both legacy BIOS), clocks (the guests' RTC), the
network (each agent PROBEs the others), /vms (a 32 GiB ext4 disk of its
own, sparse, mounted at /vms by rc.sh), the platform hook (absent).
Overridden (`--facts-override`, reported by setup as such): only `disk`
(sda): the guests' root is an initramfs, which has no system disk.
  1. three guests boot with a root password in /etc/shadow (a hash made
     per run by openssl) and no cmsd configuration: each runs
     `cmsd --unconfigured`; no agent answers `cmsadm role`
  2. `cmsadm setup` on cvknode1 as above; every process's command line
     sampled on the three guests meanwhile
  3. exit 0, the last line exactly `-----CVM Master/Slave Setup
     Success-----`; the pre-check lines (hostname, version, boot-mode,
     clock, network, disk, vms, storage OK), the note naming the
     overridden fact, both peers authenticated, the stage lines, the
     database partition /dev/vda1 (48 MiB, created) on both nodes,
     `initial sync of db: N%` lines (rising) and `... done` when the
     sync lasted long enough to be seen, the status before the success
     line `replica: db: Connected Primary/Secondary UpToDate/UpToDate`;
     the same stages in cvknode1's /var/log/cvm_master_slave.log
  4. no password on any command line, in any log file or console
  5. status on both nodes: `master : cvknode1 (Online)`, `slave  :
     cvknode2 (Online)`, `quorum : [controller] cvknode3 (Online)`,
     `webip  : [10.77.0.100] Started cvknode1`; drbd-overview on cvknode1
     `0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C r-----
     /var/lib/mysql-share ext4 ...`; r0.res written by cmsd on both with
     /dev/vda1 for both nodes; /dev/vda1 a 48 MiB GPT partition named
     cmsd-db on both; the configs node1's and node2's, each with both
     `<disk node=...>/dev/vda1</disk>`, the arbiter's in arbiter mode
  6. 8 MiB written on cvknode1; cmsadm switchover: cvknode2 master with
     the file's md5
  7. the pair setup made, recovered: cvknode1 powered off, reinstalled
     (blank DRBD disk, no configuration, a new root password); on
     cvknode2 `cmsadm recover --peer 10.77.0.1 --db-on /dev/vda`:
     the last line exactly `-----CVM Master/Slave Restore Success-----`,
     cvknode1's partition made again (`cvknode1: database partition
     /dev/vda1 (on /dev/vda, 48 MiB as /dev/vda1 here, created)`), its
     config node1's with its `<disk node="node1">`; in sync, status on
     both master cvknode2 / slave cvknode1 Online; after a switchover
     cvknode1 serves the file (md5)
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (MNT, VIP, Bed, check, drbd_state, guest_texts,  # noqa: E402
                   log, md5,
                   new_password, overview_has, run_main, sampler_start,
                   sampler_stop, set_root_password, status_has, switchover,
                   wait_until, write_payload, write_rc)

SUCCESS = "-----CVM Master/Slave Setup Success-----"
OVW_PRIMARY = (r"^0:r0/0 Connected Primary/Secondary UpToDate/UpToDate C "
               rf"r----- {re.escape(MNT)} ext4 \S+ \S+ \S+ \d+%$")
TEMPLATE = """  <storage id="db" plugin="storage-drbd">
    <resource>r0</resource>
    <minor>0</minor>
    @DB_DISKS@
    <port>7789</port>
    <mount>/var/lib/mysql-share</mount>
    <fstype>ext4</fstype>
    <after-sb>auto</after-sb>
  </storage>
  <group id="vms">
    <resource id="webip" plugin="resource-vip" storage="db" monitor-interval="2s">
      <address>@VIP@/@PREFIX@</address>
      <interface>@INTERFACE@</interface>
    </resource>
  </group>
"""


def scenario():
    # 2 MiB/s: the initial sync of the 64 MiB r0 lasts long enough for
    # setup's percent lines
    with Bed("setup", resync_rate="2M") as bed:
        n1, n2, n3 = bed["cvknode1"], bed["cvknode2"], bed["cvknode3"]
        pws = {h: new_password() for h in bed.guests}
        for h, g in bed.guests.items():
            set_root_password(g, pws[h])
        for g, me, peer in ((n1, "10.77.0.1", "10.77.0.2"),
                            (n2, "10.77.0.2", "10.77.0.1")):
            vms = g.add_vms_disk(32)
            write_rc(g, before=f"mkdir -p /vms && mount -t ext4 -o "
                     f"noinit_itable {vms} /vms\n", facts="disk=sda\n")
            g.append("etc/vmbed/net.sh",
                     f"ip route add {peer}/32 dev hb src {me}\n")
        write_rc(n3)
        n1.write("etc/vmbed/group.xml", TEMPLATE)
        bed.boot()

        fps = {}
        for g in (n1, n2, n3):
            wait_until(f"{g.host}'s setup agent waiting", lambda g=g: g.run(
                "grep -a 'waiting for cmsadm setup' "
                "/var/log/cvm_master_slave.log", 10)[0] == 0, 60, 1)
            rc, out = g.run("cmsadm role", 10)
            check(rc != 0 and "failed to connect to cmsd" in out and
                  g.run("test -e /etc/cmsd/cmsd.xml", 10)[0] != 0,
                  f"{g.host}: no configuration, `cmsd --unconfigured` "
                  "runs (rc.sh)")
            fps[g.host] = g.sh("cmsd --unconfigured --show-fingerprint"
                               ).strip()
        rc, out = n1.run("cat /proc/mounts", 10)
        check(re.search(r"^/dev/vdc /vms ext4 ", out, re.M),
              "cvknode1: /vms is an ext4 partition of its own")

        for g in (n1, n2, n3):
            sampler_start(g)
        shown = {}

        def fp_of(host):
            def ans(m):
                shown[host] = m.group(1)
                return "yes" if m.group(1) == fps[host] else "no"
            return ans
        cmd = ("cmsadm setup --vip 10.77.0.100 --prefix 24 "
               "--slave-ip 10.77.0.2 --quorum arbiter --arbiter-ip 10.77.0.3 "
               "--hosts 2 --vms 10 --db-on /dev/vda --db-size 48M "
               "--allow-small-db "
               "--group-template /persist/etc/vmbed/group.xml --wait 180")
        log(f"cvknode1$ {cmd}")
        rc, out = n1.interact(cmd, [
            (r"Root password of the slave \(10\.77\.0\.2\): ",
             pws["cvknode2"]),
            (r"Root password of the arbiter \(10\.77\.0\.3\): ",
             pws["cvknode3"]),
            (r"node2 \(10\.77\.0\.2\): setup certificate (SHA256:\S+)\n"
             r"[\s\S]*?Is that the fingerprint the host shows\? "
             r"\[yes/no\]: ", fp_of("cvknode2")),
            (r"arbiter \(10\.77\.0\.3\): setup certificate (SHA256:\S+)\n"
             r"[\s\S]*?Is that the fingerprint the host shows\? "
             r"\[yes/no\]: ", fp_of("cvknode3")),
            (r"Type CONFIRM to continue: ", "CONFIRM")], 900)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        log("cmsadm setup said:\n" + "\n".join(lines))
        check(shown == {"cvknode2": fps["cvknode2"],
                        "cvknode3": fps["cvknode3"]},
              "setup showed the slave's and the arbiter's fingerprints, "
              "as the hosts show them")
        check(rc == 0 and lines and lines[-1] == SUCCESS,
              f"cmsadm setup: exit {rc}, last line exactly {SUCCESS}")
        for c in ("hostname", "version", "boot-mode", "clock", "network",
                  "disk", "vms", "storage"):
            ln = f"pre-check {c:<10} OK"
            check(ln in lines, f"setup's output has {ln!r}")
        for ln in ("note: cvknode1 reports facts overridden for tests: disk",
                   "note: cvknode2 reports facts overridden for tests: disk",
                   "node2 (10.77.0.2): authenticated",
                   "arbiter (10.77.0.3): authenticated",
                   "==> all pre-checks passed",
                   "warning: --allow-small-db: the database partition of "
                   "48 MiB is below the 13 GB the formula gives for 2 hosts "
                   "and 10 VMs; for labs and test beds only",
                   "==> creating the DRBD database partition on both nodes",
                   "  cvknode1 (node1): database partition /dev/vda1 (on "
                   "/dev/vda, 48 MiB, created)",
                   "  cvknode2 (node2): database partition /dev/vda1 (on "
                   "/dev/vda, 48 MiB, created)",
                   "==> [4/4] starting the cluster agents"):
            check(ln in lines, f"setup's output has {ln!r}")
        # The initial sync lasted from under a second to a minute in the
        # runs at 1-2 MiB/s (seen: no line at all; [100]; [12, 25, ...,
        # 93]); likely storage-drbd's mke2fs, which discards the fresh
        # device on the first master, and DRBD counts discarded blocks as
        # in sync.  What setup shows must be right either way.
        pct = [int(x) for x in re.findall(r"^  initial sync of db: (\d+)%$",
                                          out, re.M)]
        if pct:
            check(pct == sorted(pct) and "  initial sync of db: done" in
                  lines, f"setup showed the initial sync in percent, "
                  f"rising, then done: {pct}")
        else:
            log("the initial sync was over before setup's first look")
        check(re.search(r"^replica: db: Connected Primary/Secondary "
                        r"UpToDate/UpToDate, data usable", out, re.M),
              "the status setup ends with: r0 Connected, UpToDate/UpToDate")

        for g in (n1, n2, n3):
            n, args, _ = sampler_stop(g)
            check(n >= 10, f"{g.host}: {n} command-line samples during "
                  "setup")
            check(all(p not in args for p in pws.values()),
                  f"{g.host}: no password on any command line in {n} "
                  "samples")

        # the pair, seen from both nodes
        for g in (n1, n2):
            st = wait_until(f"status on {g.host}", lambda g=g: status_has(
                g, "master : cvknode1 (Online)", "slave  : cvknode2 (Online)",
                "quorum : [controller] cvknode3 (Online)",
                f"webip  : [{VIP}] Started cvknode1"), 60, 1)
            check(st, f"cmsadm status on {g.host}: master cvknode1, slave "
                  "cvknode2, quorum [controller] cvknode3, webip Started "
                  "cvknode1")
            rc, _ = g.run("grep -q 'Written by cmsd' /etc/drbd.d/r0.res", 10)
            check(rc == 0, f"{g.host}: /etc/drbd.d/r0.res written by cmsd")
        wait_until("r0 in sync", lambda: drbd_state(n1) == (
            "Connected", "Primary/Secondary", "UpToDate/UpToDate") and
            drbd_state(n2) == ("Connected", "Secondary/Primary",
                               "UpToDate/UpToDate"), 120, 1)
        check(True, "r0 Connected Primary/Secondary UpToDate/UpToDate")
        line = wait_until("drbd-overview on cvknode1",
                          lambda: overview_has(n1, OVW_PRIMARY), 30, 1)
        check(line, f"cmsadm drbd-overview on cvknode1: {line}")
        for g, nid in ((n1, "node1"), (n2, "node2")):
            rc, _ = g.run(f"grep -q 'mode=\"node\" node=\"{nid}\"' "
                          "/etc/cmsd/cmsd.xml && grep -q '<disk node="
                          "\"node1\">/dev/vda1</disk>' /etc/cmsd/cmsd.xml "
                          "&& grep -q '<disk node=\"node2\">/dev/vda1"
                          "</disk>' /etc/cmsd/cmsd.xml", 10)
            check(rc == 0, f"{g.host}'s configuration is {nid}'s, with "
                  "each node's <disk node=...>/dev/vda1</disk>")
            rc, out = g.run("grep PARTNAME /sys/class/block/vda1/uevent; "
                            "cat /sys/class/block/vda1/size; "
                            "grep -c 'disk /dev/vda1;' /etc/drbd.d/r0.res",
                            10)
            check(rc == 0 and "PARTNAME=cmsd-db" in out and
                  str(48 << 11) in out.split() and out.split()[-1] == "2",
                  f"{g.host}: /dev/vda1 a 48 MiB GPT partition cmsd-db, "
                  f"r0's disk on both nodes in r0.res: {out.split()}")
        rc, _ = n3.run("grep -q 'mode=\"arbiter\"' /etc/cmsd/cmsd.xml", 10)
        check(rc == 0, "cvknode3's configuration is the arbiter's")

        # logs and consoles: the stages, and no password anywhere
        dumps = guest_texts(bed, (n1, n2, n3))
        log1 = dumps.get("cvknode1:cvm_master_slave.log", "")
        for s in (["==> pre-checks", "confirmed by the operator",
                  "==> [1/4] generating the cluster CA, node certificates "
                  "and the cluster key",
                  "==> [2/4] writing the configuration to the three hosts",
                  "==> [3/4] checking the configuration on each host",
                  "==> [4/4] starting the cluster agents"] +
                  [f"initial sync of db: {p}%" for p in pct] + [SUCCESS]):
            check(s in log1, f"cvknode1's /var/log/cvm_master_slave.log "
                  f"has {s!r}")
        check("setup: 10.77.0.1 authenticated as root" in
              dumps.get("cvknode2:cvm_master_slave.log", ""),
              "cvknode2's agent logged the authentication")
        leaks = [k for k, v in dumps.items()
                 if any(p in v for p in pws.values())]
        check(not leaks, "no password in any log file or console "
              f"({len(dumps)} files)" + (f"; found in {leaks}" if leaks
                                         else ""))

        h = write_payload(n1, "after-setup")
        switchover(bed, "cvknode1", "cvknode2")
        check(md5(n2, f"{MNT}/after-setup") == h,
              "after a switchover cvknode2 serves the file written on "
              "cvknode1, md5 identical")

        # The pair setup made, recovered: cvknode1 (now slave) is lost and
        # reinstalled, cvknode2 re-initialises it (its config carries each
        # node's <disk node=...>; recover makes cvknode1's partition again)
        n1.kill()
        log("cvknode1 powered off (SIGKILL of its QEMU)")
        wait_until("cvknode2 sees cvknode1 Offline", lambda: status_has(
            n2, "master : cvknode2 (Online)", "slave  : cvknode1 (Offline)"),
            60, 1)
        pws["cvknode1"] = new_password()
        set_root_password(n1, pws["cvknode1"])
        n1.reinstall()
        n1.start()
        n1.wait_boot()
        rc, _ = n1.run("test ! -e /dev/vda1 && test ! -e /etc/cmsd/cmsd.xml",
                       10)
        check(rc == 0, "cvknode1 reinstalled: no configuration, no "
              "partition on /dev/vda")
        wait_until("cvknode1's setup agent waiting", lambda: n1.run(
            "grep -a 'waiting for cmsadm setup' "
            "/var/log/cvm_master_slave.log", 10)[0] == 0, 60, 1)
        fps["cvknode1"] = n1.sh("cmsd --unconfigured --show-fingerprint"
                                ).strip()
        rc, out = n2.interact(
            "cmsadm recover --peer 10.77.0.1 --db-on /dev/vda --wait 180", [
                (r"Root password of the peer \(10\.77\.0\.1\): ",
                 pws["cvknode1"]),
                (r"Please confirm to recovery 10\.77\.0\.1 and format "
                 r"peer's /vms partition \[yes/no\]: ", "yes"),
                (r"setup certificate (SHA256:\S+)\n[\s\S]*?Is that the "
                 r"fingerprint the host shows\? \[yes/no\]: ",
                 fp_of("cvknode1"))], 600)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        log("cmsadm recover said:\n" + "\n".join(lines))
        check(rc == 0 and lines and lines[-1] ==
              "-----CVM Master/Slave Restore Success-----",
              f"cmsadm recover --peer 10.77.0.1 on cvknode2: exit {rc}, "
              "last line exactly -----CVM Master/Slave Restore Success-----")
        for ln in ("==> creating the peer's DRBD database partition",
                   "  cvknode1: database partition /dev/vda1 (on /dev/vda, "
                   "48 MiB as /dev/vda1 here, created)",
                   "  /dev/vda1: DRBD metadata and file-system signatures "
                   "wiped; new metadata at start, then a full resync",
                   "  cvknode1 is slave"):
            check(ln in lines, f"recover's output has the line {ln!r}")
        rc, _ = n1.run("grep -q 'mode=\"node\" node=\"node1\"' "
                       "/etc/cmsd/cmsd.xml && grep -q '<disk node=\"node1\">"
                       "/dev/vda1</disk>' /etc/cmsd/cmsd.xml", 10)
        check(rc == 0, "cvknode1's new configuration is node1's, with its "
              "<disk node=\"node1\">/dev/vda1</disk>")
        wait_until("r0 in sync after the recovery", lambda: drbd_state(
            n2) == ("Connected", "Primary/Secondary", "UpToDate/UpToDate")
            and drbd_state(n1) == ("Connected", "Secondary/Primary",
                                   "UpToDate/UpToDate"), 120, 1)
        for g in (n1, n2):
            st = wait_until(f"status on {g.host}", lambda g=g: status_has(
                g, "master : cvknode2 (Online)", "slave  : cvknode1 (Online)",
                "quorum : [controller] cvknode3 (Online)",
                f"webip  : [{VIP}] Started cvknode2"), 60, 1)
            check(st, f"cmsadm status on {g.host} after the recovery: "
                  "master cvknode2, slave cvknode1, arbiter Online")
        switchover(bed, "cvknode2", "cvknode1")
        check(md5(n1, f"{MNT}/after-setup") == h,
              "after a switchover the recovered cvknode1 serves the file, "
              "md5 identical")


if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 580)))
