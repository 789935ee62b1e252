#!/usr/bin/python3
"""vm_cluster_boot: cmsd in the guests, the advanced arbiter on cvknode3.

Intent: the agents run in the guests as on real hosts (started at boot from
/etc/cmsd/cmsd.xml, certificates, cluster key, arbiter over its own links)
and form a cluster with one master, before any DRBD scenario relies on it.
No storage here (the DRBD scenarios add it): the group is resource-vip.
  1. three guests boot; each starts its cmsd at boot
  2. one master serving, one slave idle, the same epoch
  3. `cmsadm status` on both nodes: master/slave Online, the quorum line
     `quorum : [controller] cvknode3 (Online)`, `webip  : [VIP] Started M`
  4. the VIP is on the master's lan only; only the master answers ARP for
     it on the cables from cvknode3
  5. n12 cut (both still see the arbiter): the master keeps its lease and
     stays the only master; healed: the same master, the peer a slave
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmbed import (DEADTIME_MS, VIP, Bed, Cluster, check, log,  # noqa: E402
                   role, run_main, status_has, vip_owners, wait_until)


def has_vip(g):
    return f"inet {VIP}/24" in g.sh("ip -o -4 addr show dev lan")


def scenario():
    with Bed("cluster_boot") as bed:
        Cluster(bed, mode="arbiter", storage=False, vip=True)
        bed.boot()
        n1, n2 = bed["cvknode1"], bed["cvknode2"]

        def one_master():
            r = {g.host: role(g) for g in (n1, n2)}
            if any(v is None for v in r.values()):
                return None
            ms = [h for h, v in r.items() if v["role"] == "master"]
            sl = [h for h, v in r.items() if v["role"] == "slave"]
            if len(ms) == 1 and len(sl) == 1 and r[ms[0]]["serving"]:
                return ms[0], sl[0], r
            return None
        m, s, r = wait_until("one master serving and one slave",
                             one_master, 90, 1)
        check(r[m]["epoch"] == r[s]["epoch"] and not r[s]["serving"],
              f"master {m} serving, slave {s} idle, same epoch: {r}")
        M, S = bed[m], bed[s]
        for g in (M, S):
            wait_until(f"status on {g.host}", lambda g=g: status_has(
                g, f"master : {m} (Online)", f"slave  : {s} (Online)",
                "quorum : [controller] cvknode3 (Online)",
                f"webip  : [{VIP}] Started {m}"), 30, 1)
            check(True, f"cmsadm status on {g.host}: {m} master, {s} slave, "
                  "arbiter cvknode3 Online, webip Started on the master")
        wait_until("the VIP on the master", lambda: has_vip(M), 20)
        check(not has_vip(S), f"the VIP {VIP} is on {m} only")
        check(vip_owners(bed) == [m], f"only {m} answers ARP for the VIP "
              "(arping from cvknode3 on both nodes' cables)")

        epoch = r[m]["epoch"]
        bed.cut("n12")
        t = time.time()
        while time.time() - t < 2 * DEADTIME_S + 4:
            rm, rs = role(M), role(S)
            if rm is None or rm["role"] != "master" or not rm["serving"]:
                check(False, f"{m} stays master while n12 is cut: {rm}")
            if rs is not None and rs["role"] == "master":
                check(False, f"{s} never master while the arbiter holds "
                      f"{m}'s lease: {rs}")
            time.sleep(1)
        check(True, f"n12 cut for {2 * DEADTIME_S + 4}s: {m} the only "
              "master, the arbiter keeps it")
        bed.heal("n12")
        wait_until("the same master after the heal", lambda: (
            lambda a, b: a and b and a["role"] == "master" and
            b["role"] == "slave" and a["epoch"] == epoch)(role(M), role(S)),
            60, 1)
        check(True, f"after the heal: {m} master at epoch {epoch}, "
              f"{s} slave")
        log("cluster up in guests")

DEADTIME_S = DEADTIME_MS // 1000

if __name__ == "__main__":
    run_main(scenario, deadline=int(os.environ.get("CMSD_VM_DEADLINE", 280)))
