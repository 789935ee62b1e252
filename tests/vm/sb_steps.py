"""Steps shared by the split-brain scenarios (split_brain.py,
split_brain_maint.py): making the ping-mode split brain, and checking
after the heal that the loser's changes are gone and the winner's kept."""
import re
import time

from vmbed import (MNT, check, drbd_state, first_master, log,
                   md5, mounted, role, switchover, wait_in_sync, wait_master,
                   wait_until, write_payload)


def make_split_brain(bed):
    """On a booted ping-mode bed with storage: first master cvknode1, in
    sync, a file BASE written; n12 cut: both nodes master (the documented
    ping-mode partition), both Primary and mounted, each writes its own
    file only-on-HOST.  Returns (BASE's md5, {host: its file's md5})."""
    n1, n2 = bed["cvknode1"], bed["cvknode2"]
    first_master(bed)
    wait_in_sync(bed, "cvknode1", "cvknode2")
    base = write_payload(n1, "base", 4)

    bed.cut("n12")
    t = time.time()
    wait_until("both nodes master and serving (ping mode, cut)",
               lambda: all((lambda r: r and r["role"] == "master" and
                            r["serving"])(role(g)) for g in (n1, n2)),
               60, 1)
    log(f"both master {time.time() - t:.1f}s after the cut (the "
        "documented ping-mode partition)")
    for g in (n1, n2):
        wait_until(f"{MNT} mounted on {g.host}", lambda g=g: mounted(g), 60)
        st = drbd_state(g)
        check(st[1].startswith("Primary/"),
              f"{g.host} r0 Primary while cut: {st}")
    h = {"cvknode1": write_payload(n1, "only-on-cvknode1", 2),
         "cvknode2": write_payload(n2, "only-on-cvknode2", 2)}
    return base, h


def heal_to_one_master(bed):
    """Heals n12 after make_split_brain(): DRBD must report the split
    brain, then one master W with the other node L its slave.  Returns
    (W, L, the time of the heal)."""
    n1, n2 = bed["cvknode1"], bed["cvknode2"]
    bed.heal("n12")
    t = time.time()
    sb = wait_until("DRBD's split-brain report", lambda: [
        g.host for g in (n1, n2) if g.run(
            "dmesg | grep -q 'Split-Brain detected'", 10)[0] == 0],
        60, 1)
    check(sb, f"DRBD detected the split brain (kernel log on "
          f"{', '.join(sb)})")
    W, _ = wait_master(bed, None, None, 90)
    L = "cvknode2" if W == "cvknode1" else "cvknode1"
    wait_master(bed, W, L, 60)
    return W, L, t


def check_loser_discarded(bed, W, L, base, h):
    """After the heal (W master, L slave, in sync): W has BASE and its own
    file, not L's; after a switchover L has BASE and W's file (resynced
    from W), not its own.  Leaves L master."""
    w, lo = bed[W], bed[L]
    check(md5(w, f"{MNT}/base") == base and
          md5(w, f"{MNT}/only-on-{W}") == h[W],
          f"{W} kept BASE and its own file (md5)")
    check(w.run(f"test -e {MNT}/only-on-{L}")[0] != 0,
          f"{L}'s file written during the split brain is not on {W}")
    switchover(bed, W, L)
    check(md5(lo, f"{MNT}/base") == base and
          md5(lo, f"{MNT}/only-on-{W}") == h[W],
          f"after a switchover {L} has BASE and {W}'s file: resynced")
    check(lo.run(f"test -e {MNT}/only-on-{L}")[0] != 0,
          f"{L}'s own split-brain file is gone: its changes were "
          "discarded")


def standalone_secs(ev2):
    """How long r0 stayed StandAlone in a `drbdsetup events2 --timestamps`
    log: from the first change to StandAlone to the next connection change
    (None when there was none)."""
    t0 = None
    for m in re.finditer(r"^(\S+T\d\d:\d\d:\d\d(?:\.\d+)?)\S* change "
                         r"connection name:r0 .*connection:(\w+)", ev2,
                         re.M):
        hh, mm, ss = m.group(1).split("T")[1].split(":")
        t = int(hh) * 3600 + int(mm) * 60 + float(ss)
        if t0 is None and m.group(2) == "StandAlone":
            t0 = t
        elif t0 is not None and m.group(2) != "StandAlone":
            return t - t0
    return None
