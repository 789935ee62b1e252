"""The real-DRBD test bed: QEMU (TCG) guests booted from the image that
mkimage.py builds, joined by point-to-point cables, driven over their serial
consoles.

Topology (Bed):
  cvknode1  hb 10.77.12.1/24 (cable n12)   lan 10.77.0.1/24 (cable n13)
  cvknode2  hb 10.77.12.2/24 (cable n12)   lan 10.77.0.2/24 (cable n23)
  cvknode3  to1 (n13), to2 (n23), no address; on lo 10.77.0.3 (arbiter),
            10.77.0.253 and 10.77.0.254 (ping targets); host routes to
            10.77.0.1 over to1 and 10.77.0.2 over to2, no forwarding
hb carries the cluster link and DRBD; lan the arbiter, the ping targets
and the VIP (10.77.0.100).
Each cable (n12, n13, n23) is a pair of UDP sockets on 127.0.0.1 that this
process binds and connects to each other, then hands to both QEMUs
(-netdev dgram,local.type=fd): the ports stay ours for the whole test, so
parallel runs cannot take them, and a guest killed and booted again finds its
cable where it was.  Ports come from CMSD_VM_PORT_BASE (default 17900) up to
CMSD_VM_PORT_BASE + CMSD_VM_PORT_SPAN (default 100); a port in use is skipped.
The nodes reach cvknode3's addresses over their own cable to it (n13, n23),
and cvknode3 does not forward, so cutting n12 separates the nodes while
both still see the arbiter (or the ping targets) and keep the VIP's link.

Each guest has a 64 MiB DRBD backing disk (/dev/vda) and its own ext4 disk
(/dev/vdb) made here with mke2fs -d, holding its config and state across a
reboot.  Everything lives in one temp dir (removed at the end unless
CMSD_VM_KEEP=1); QEMU processes are killed by PID, and die with this process
(PR_SET_PDEATHSIG) if it is killed itself.
"""
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

IMAGE = os.environ.get("CMSD_VM_IMAGE", "")
KEEP = os.environ.get("CMSD_VM_KEEP") == "1"
PORT_BASE = int(os.environ.get("CMSD_VM_PORT_BASE", "17900"))
PORT_SPAN = int(os.environ.get("CMSD_VM_PORT_SPAN", "100"))
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.2f}s] {msg}", flush=True)


class TestFailure(Exception):
    pass


def check(cond, what):
    """An assertion of the scenario: logged when it holds, fatal when not."""
    if not cond:
        raise TestFailure(what)
    log(f"ok: {what}")


def wait_until(what, fn, timeout, interval=0.5):
    """Polls fn() until it returns a true value; returns it, or fails
    naming what and the last value seen."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.time() > deadline:
            raise TestFailure(f"timeout after {timeout}s waiting for {what}; "
                              f"last: {last!r}")
        time.sleep(interval)


# ------------------------------------------------------------------ cables
class Cable:
    """A point-to-point UDP link: two connected sockets on loopback."""

    def __init__(self, name):
        self.name = name
        self.socks = self._bind_pair()
        self.ports = [s.getsockname()[1] for s in self.socks]

    @staticmethod
    def _bind_pair():
        for p in range(PORT_BASE, PORT_BASE + PORT_SPAN - 1):
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            except OSError:
                a.close()
                b.close()
                continue
            a.connect(("127.0.0.1", p + 1))
            b.connect(("127.0.0.1", p))
            for s in (a, b):
                os.set_inheritable(s.fileno(), True)
            return [a, b]
        raise RuntimeError(
            f"no two free UDP ports on 127.0.0.1 in {PORT_BASE}.."
            f"{PORT_BASE + PORT_SPAN - 1} (CMSD_VM_PORT_BASE/SPAN)")

    def close(self):
        for s in self.socks:
            s.close()


# ------------------------------------------------------------------- QMP
class QMP:
    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.s.settimeout(30)
        self.f = self.s.makefile("rwb", buffering=0)
        json.loads(self.f.readline())  # greeting
        self.execute("qmp_capabilities")

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                return None  # qemu went away (after quit)
            r = json.loads(line)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"QMP {cmd}: {r['error']}")

    def close(self):
        self.s.close()


def _pdeathsig():
    # the guest dies with the harness, whatever kills the harness
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


# ------------------------------------------------------------------ guests
class Guest:
    def __init__(self, bed, host, nics, mem=384):
        """nics: [(ifname, cable, end, mac, addr/prefix)]."""
        self.bed, self.host, self.nics, self.mem = bed, host, nics, mem
        d = bed.dir
        self.disk = os.path.join(d, f"{host}.drbd.img")
        self.sysdisk = os.path.join(d, f"{host}.sys.img")
        self.staging = os.path.join(d, f"{host}.sys")
        self.serial_path = os.path.join(d, f"{host}.serial")
        self.qmp_path = os.path.join(d, f"{host}.qmp")
        self.log_path = os.path.join(d, f"{host}.console.log")
        self.proc = None
        self._qmp = None
        self.sock = None
        self.buf = ""
        self.cond = threading.Condition()
        self.seq = 0
        self.boots = 0
        self.extra = []  # more disks after vdb: /dev/vdc, ...
        self.db_part_mib = 0  # > 0: the DRBD disk gets a cmsd-db partition
        os.makedirs(os.path.join(self.staging, "etc", "vmbed"), exist_ok=True)
        self.write("etc/vmbed/net.sh", "".join(
            f"nic {mac} {ifn} {addr}\n" for ifn, _, _, mac, addr in nics))

    # files of the guest's own disk, before its first boot
    def write(self, path, text, mode=0o644):
        p = os.path.join(self.staging, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def append(self, path, text):
        with open(os.path.join(self.staging, path), "a") as f:
            f.write(text)

    def new_drbd_disk(self, drbd_mb=64):
        """A blank DRBD backing disk (a replaced disk); guest stopped."""
        if self.running:
            raise RuntimeError(f"{self.host}: new disk while running")
        with open(self.disk, "wb") as f:
            f.truncate(drbd_mb << 20)

    def add_disk(self, name, mb):
        """One more blank disk, /dev/vdc for the first (a sync partition's,
        say), before the guest's first boot."""
        p = os.path.join(self.bed.dir, f"{self.host}.{name}.img")
        with open(p, "wb") as f:
            f.truncate(mb << 20)
        self.extra.append(p)
        return "/dev/vd" + "cdefgh"[len(self.extra) - 1]

    def make_disks(self, drbd_mb=64, sys_mb=32):
        with open(self.disk, "wb") as f:
            f.truncate(drbd_mb << 20)
        if self.db_part_mib:
            # a GPT partition named cmsd-db, as cmsadm setup's PARTITION
            # makes it: /dev/vda1 in the guest
            r = subprocess.run(
                ["sfdisk", "--quiet", self.disk], capture_output=True,
                text=True, input="label: gpt\n"
                f"size={self.db_part_mib}MiB, type=0FC63DAF-8483-4772-"
                "8E79-3D69D8477DE4, name=cmsd-db\n")
            if r.returncode != 0:
                raise RuntimeError(f"sfdisk {self.disk}: {r.stderr}")
        for d in ("etc/cmsd", "etc/drbd.d", "var/lib/cmsd", "var/lib/drbd",
                  "var/log"):
            os.makedirs(os.path.join(self.staging, d), exist_ok=True)
        if os.path.exists(self.sysdisk):
            os.unlink(self.sysdisk)
        r = subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "sys",
                            "-d", self.staging, self.sysdisk, f"{sys_mb}M"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mke2fs -d {self.staging}: {r.stderr}")

    # ------------------------------------------------------------ lifecycle
    def start(self):
        """Boots the guest (its disks as they are) without waiting."""
        for p in (self.serial_path, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        if os.path.exists(self.log_path):  # keep the previous boot's console
            os.replace(self.log_path, self.log_path + f".{self.boots}")
        self.boots += 1
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg", "-m", str(self.mem),
            "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-name", self.host,
            "-kernel", os.path.join(self.bed.image, "vmlinuz"),
            "-initrd", os.path.join(self.bed.image, "initrd.gz"),
            "-append", "console=ttyS0 loglevel=4 edd=off panic=-1 "
                       f"vmbed.host={self.host} "
                       + os.environ.get("CMSD_VM_KAPPEND", ""),
            "-chardev", f"socket,id=ser0,path={self.serial_path},server=on,"
                        f"wait=off,logfile={self.log_path}",
            "-serial", "chardev:ser0",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-drive", f"file={self.disk},if=virtio,format=raw,cache=unsafe",
            "-drive", f"file={self.sysdisk},if=virtio,format=raw,cache=unsafe",
        ]
        for p in self.extra:
            cmd += ["-drive", f"file={p},if=virtio,format=raw,cache=unsafe"]
        fds = []
        for ifn, cable, end, mac, _ in self.nics:
            fd = cable.socks[end].fileno()
            fds.append(fd)
            cmd += ["-netdev", f"dgram,id={ifn},local.type=fd,local.str={fd}",
                    "-device", f"virtio-net-pci,netdev={ifn},mac={mac},romfile="]
        self.t_start = time.time()
        out = open(os.path.join(self.bed.dir, f"{self.host}.qemu.log"), "a")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, pass_fds=fds,
                                     preexec_fn=_pdeathsig)
        out.close()
        self._qmp = None
        self._connect_serial()

    def _connect_serial(self):
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.host}: qemu exited rc="
                                   f"{self.proc.returncode}, see "
                                   f"{self.host}.qemu.log")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.serial_path)
                break
            except OSError:
                s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.02)
        with self.cond:
            self.sock = s
            self.buf = ""
        threading.Thread(target=self._reader, args=(s,), daemon=True).start()

    def _reader(self, sock):
        while True:
            try:
                d = sock.recv(65536)
            except OSError:
                d = b""
            with self.cond:
                if sock is not self.sock:
                    return  # a previous boot's console
                if not d:
                    self.buf += "\n<<EOF>>\n"
                    self.cond.notify_all()
                    return
                self.buf += d.decode("utf-8", "replace").replace("\r", "")
                self.cond.notify_all()

    def wait_for(self, regex, timeout=120, start=0):
        rx = re.compile(regex)
        deadline = time.time() + timeout
        with self.cond:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                if "<<EOF>>" in self.buf[start:]:
                    raise TestFailure(f"{self.host}: console closed while "
                                      f"waiting for {regex!r}")
                left = deadline - time.time()
                if left <= 0:
                    raise TestFailure(f"{self.host}: timeout waiting for "
                                      f"{regex!r}; console tail:\n"
                                      f"{self.buf[-2000:]}")
                self.cond.wait(left)

    def wait_boot(self, timeout=180):
        m = self.wait_for(r"BOOT-DONE[^\n]*\n", timeout)
        secs = time.time() - self.t_start
        log(f"{self.host}: booted in {secs:.1f}s: {m.group(0).strip()}")
        for line in re.findall(r"INIT: [^\n]*", self.buf):
            raise TestFailure(f"{self.host}: {line}")
        # an echo-less shell without prompts: output is the command's only
        self.sock.sendall(b"stty -echo; PS1=''; PS2=''; export PS1 PS2\n")
        self.run("true")
        return secs

    def run(self, cmd, timeout=60):
        """Runs a shell command on the console: (exit status, output)."""
        self.seq += 1
        tag = f"@@END{self.seq}@@"
        with self.cond:
            start = len(self.buf)
        self.sock.sendall(f"{{ {cmd}\n}} 2>&1; echo \"{tag} $?\"\n".encode())
        m = self.wait_for(re.escape(tag) + r" (\d+)\n", timeout, start)
        return int(m.group(1)), self.buf[start:m.start()]

    def sh(self, cmd, timeout=60):
        """Runs cmd, which must succeed; returns its output."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise TestFailure(f"{self.host}$ {cmd}: exit {rc}\n{out}")
        return out

    def interact(self, cmd, answers, timeout=300):
        """Runs cmd on the console as an operator at the terminal would:
        for each (prompt regex, answer) in order, waits for the prompt and
        types the answer (the shell's tty has echo off, and cmsadm reads a
        password with echo off: nothing typed shows in the console log).
        An answer may be a function of the prompt's match.  Returns (exit
        status, output)."""
        self.seq += 1
        tag = f"@@END{self.seq}@@"
        with self.cond:
            start = len(self.buf)
        self.sock.sendall(f"{{ {cmd}\n}} 2>&1; echo \"{tag} $?\"\n".encode())
        deadline = time.time() + timeout
        pos, cuts = start, []
        for rx, ans in answers:
            m = self.wait_for(rx, max(1, deadline - time.time()), pos)
            pos = m.end()
            cuts.append(pos)
            self.sock.sendall(((ans(m) if callable(ans) else ans) +
                               "\n").encode())
        m = self.wait_for(re.escape(tag) + r" (\d+)\n",
                          max(1, deadline - time.time()), pos)
        # the output as the operator's terminal shows it: each answer ends
        # its prompt's line (here echo is off, so the Enter is not seen)
        out, last = "", start
        for c in cuts:
            out += self.buf[last:c] + "\n"
            last = c
        return int(m.group(1)), out + self.buf[last:m.start()]

    def reinstall(self):
        """The host reinstalled (guest stopped): a blank DRBD disk and a
        system disk made again from the staging tree without /etc/cmsd,
        so that nothing of the cluster is left (what the harness writes
        for the bed itself, and a root password in /etc/shadow, stay: an
        installer sets those)."""
        if self.running:
            raise RuntimeError(f"{self.host}: reinstall while running")
        shutil.rmtree(os.path.join(self.staging, "etc", "cmsd"),
                      ignore_errors=True)
        self.db_part_mib = 0  # a blank disk: no partition table either
        self.make_disks()

    def add_vms_disk(self, gib=32):
        """A /vms partition: one more disk (sparse) with ext4 made here,
        mounted by rc.sh; its inode tables and journal are initialised
        lazily, so neither mke2fs nor the guest writes gigabytes."""
        p = os.path.join(self.bed.dir, f"{self.host}.vms.img")
        with open(p, "wb") as f:
            f.truncate(gib << 30)
        r = subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "vms",
                            "-E", "lazy_itable_init=1,lazy_journal_init=1",
                            p], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mke2fs {p}: {r.stderr}")
        self.extra.append(p)
        return "/dev/vd" + "cdefgh"[len(self.extra) - 1]

    @property
    def qmp(self):
        if self._qmp is None:
            self._qmp = QMP(self.qmp_path)
        return self._qmp

    def set_link(self, ifname, up):
        self.qmp.execute("set_link", name=ifname, up=bool(up))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Power loss: SIGKILL of this guest's QEMU, by its PID."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self._qmp:
            self._qmp.close()
        self._qmp = None

    def stop(self):
        if self.running:
            try:
                self.qmp.execute("quit")
                self.proc.wait(10)
            except Exception:
                pass
        self.kill()

    def fetch_logs(self, dest):
        """Copies the guest's /var/log from its own disk (guest stopped)."""
        os.makedirs(dest, exist_ok=True)
        # a copy, its journal replayed: the guest was not shut down cleanly
        copy = dest + ".img"
        shutil.copyfile(self.sysdisk, copy)
        subprocess.run(["e2fsck", "-fy", copy], capture_output=True)
        subprocess.run(["debugfs", "-R", f"rdump /var/log {dest}", copy],
                       capture_output=True)
        os.unlink(copy)


# The bed's DRBD tuning (what an operator puts into global_common.conf):
# short network timers so that a cut link or a dead peer is noticed in
# seconds, and a fixed resync rate instead of the dynamic controller, which
# crawls under TCG.  Resource files (r0.res) carry the rest.
GLOBAL_COMMON = """global { usage-count no; }
common {
	net {
		timeout 30;
		ping-timeout 10;
		ping-int 2;
		connect-int 2;
	}
	disk {
		c-plan-ahead 0;
		resync-rate 400M;
	}
}
"""


# --------------------------------------------------------------------- bed
class Bed:
    """Three guests as in the module's doc.  Use as a context manager: the
    guests are killed and the temp dir removed on the way out."""

    NODE_ADDR = {"cvknode1": "10.77.12.1", "cvknode2": "10.77.12.2"}
    ARBITER = "10.77.0.3"
    PING_TARGETS = ("10.77.0.254", "10.77.0.253")

    def __init__(self, name, hosts=("cvknode1", "cvknode2", "cvknode3"),
                 resync_rate="400M"):
        self.name = name
        self.image = IMAGE
        for f in ("vmlinuz", "initrd.gz"):
            if not os.path.isfile(os.path.join(self.image, f)):
                raise RuntimeError(f"no {f} in CMSD_VM_IMAGE={self.image!r}: "
                                   "run tests/vm/mkimage.py (ctest runs "
                                   "the vm_image fixture)")
        self.dir = tempfile.mkdtemp(prefix=f"cmsd-vm-{name}.")
        self.cables = {}
        self.guests = {}
        try:
            self._setup(hosts, resync_rate)
        except BaseException:
            self.failed = True
            self.close()
            raise

    def _setup(self, hosts, resync_rate):
        self.cables = {c: Cable(c) for c in ("n12", "n13", "n23")}
        mac = lambda h, c: f"52:54:00:{c[1]}{c[2]}:00:0{h}"  # noqa: E731
        # host: [(NIC name, cable, cable end, address or none)]
        spec = {
            "cvknode1": [("hb", "n12", 0, "10.77.12.1/24"),
                         ("lan", "n13", 0, "10.77.0.1/24")],
            "cvknode2": [("hb", "n12", 1, "10.77.12.2/24"),
                         ("lan", "n23", 0, "10.77.0.2/24")],
            "cvknode3": [("to1", "n13", 1, "none"),
                         ("to2", "n23", 1, "none")],
        }
        self.guests = {}
        for h in hosts:
            n = int(h[-1])
            nics = [(ifn, self.cables[c], end, mac(n, c), a)
                    for ifn, c, end, a in spec[h]]
            g = Guest(self, h, nics, mem=256 if h == "cvknode3" else 384)
            self.guests[h] = g
        for h in ("cvknode1", "cvknode2"):
            if h in self.guests:
                self.guests[h].write(
                    "etc/drbd.d/global_common.conf",
                    GLOBAL_COMMON.replace("resync-rate 400M",
                                          f"resync-rate {resync_rate}"))
        # cvknode3 holds the service addresses on lo and reaches each node
        # by a host route over that node's own cable; it does not forward,
        # so the nodes' only path to each other is n12.
        if "cvknode3" in self.guests:
            self.guests["cvknode3"].append("etc/vmbed/net.sh", "".join(
                f"ip addr add {a}/32 dev lo\n"
                for a in (self.ARBITER,) + self.PING_TARGETS) +
                "ip route add 10.77.0.1/32 dev to1\n"
                "ip route add 10.77.0.2/32 dev to2\n")
        self.failed = False
        log(f"bed {self.name}: {self.dir}, cables " + ", ".join(
            f"{c.name}={c.ports[0]}/{c.ports[1]}"
            for c in self.cables.values()))

    def __getitem__(self, host):
        return self.guests[host]

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        skip = et is SystemExit and getattr(ev, "code", None) == 77
        self.failed = et is not None and not skip
        self.close()
        return False

    def boot(self, *hosts):
        """Makes the disks of hosts never booted yet, boots hosts in
        parallel and waits for their shells."""
        hosts = hosts or tuple(self.guests)
        for h in hosts:
            g = self.guests[h]
            if g.boots == 0:
                g.make_disks()
            g.start()
        for h in hosts:
            self.guests[h].wait_boot()

    def cut(self, cable):
        """Cuts a link at both ends (QMP set_link off)."""
        self._link(cable, False)

    def heal(self, cable):
        self._link(cable, True)

    def _link(self, cable, up):
        for g in self.guests.values():
            for ifn, c, _, _, _ in g.nics:
                if c.name == cable and g.running:
                    g.set_link(ifn, up)
        log(f"link {cable} {'up' if up else 'down'}")

    def close(self):
        keep_logs = self.failed or KEEP
        for g in self.guests.values():
            g.last_log = ""
            if keep_logs and g.running:
                try:  # the agent's log as the guest has it, and onto disk
                    g.last_log = g.run("tail -c 8000 /var/log/cvm_master.log"
                                       "; sync", 20)[1]
                except Exception:
                    pass
            g.stop()
        for c in self.cables.values():
            c.close()
        if keep_logs:
            for g in self.guests.values():
                if g.boots:
                    try:  # never hide the failure behind one of its own
                        g.fetch_logs(os.path.join(self.dir, "logs",
                                                  g.host))
                    except OSError as e:
                        log(f"{g.host}: no logs from its disk: {e}")
            self._dump_failure_logs()
        if KEEP:
            log(f"kept {self.dir} (CMSD_VM_KEEP=1)")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _dump_failure_logs(self):
        if not self.failed:
            return
        for g in self.guests.values():
            print(f"----- {g.host}: console (tail)")
            with g.cond:
                print(g.buf[-3000:])
            if getattr(g, "last_log", ""):
                print(f"----- {g.host}: /var/log/cvm_master.log at the end "
                      "(tail)")
                print(g.last_log)
            logs = os.path.join(self.dir, "logs", g.host)
            for d, _, files in os.walk(logs):
                for f in sorted(files):
                    p = os.path.join(d, f)
                    with open(p, errors="replace") as fh:
                        text = fh.read()
                    print(f"----- {g.host}: {os.path.relpath(p, logs)} (tail)")
                    print(text[-4000:])
        sys.stdout.flush()


# --------------------------------------------------------------- DRBD view
def guest_texts(bed, guests):
    """{"HOST:FILE": text} of every log on each guest's own disk (synced,
    then fetched) and {"HOST:console": ...} of its serial console: what a
    scenario searches for a password or a stage line."""
    texts = {}
    for g in guests:
        g.sh("sync")
        dest = os.path.join(bed.dir, "scan", g.host)
        g.fetch_logs(dest)
        for d, _, files in os.walk(dest):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    texts[f"{g.host}:{f}"] = fh.read().decode("utf-8",
                                                              "replace")
        with g.cond:
            texts[f"{g.host}:console"] = g.buf
    return texts


def proc_drbd(g, minor=0):
    """The state line of a minor in /proc/drbd as a dict (cs, ro, ds, ...),
    with 'oos' (out of sync KiB) from the counters line."""
    out = g.sh("cat /proc/drbd")
    m = re.search(rf"^\s*{minor}: (.*)\n(.*)\n", out, re.M)
    if not m:
        return {"raw": out}
    d = dict(re.findall(r"(\w+):(\S+)", m.group(1)))
    d.update(re.findall(r"(\w+):(\d+)", m.group(2)))
    d["raw"] = out
    return d


def events_now(g, res="r0"):
    """`drbdsetup events2 --now RES` as {kind: {key: value}} for the
    resource, device, connection and peer-device lines."""
    out = g.sh(f"drbdsetup events2 --now {res}")
    st = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) >= 2 and w[0] == "exists":
            st[w[1]] = dict(x.split(":", 1) for x in w[2:] if ":" in x)
    return st


def md5(g, path, timeout=60):
    out = g.sh(f"md5sum {path}", timeout)
    return out.split()[0]


def run_main(fn, deadline):
    """Runs a scenario fn() under an overall deadline (s) so that it stops
    by itself, cleans up through the Bed, and exits 0 on success, 1 on a
    failed assertion or an error."""
    if not shutil.which("qemu-system-x86_64"):
        print("SKIP: no qemu-system-x86_64 (scripts/install-deps.sh test)")
        sys.exit(77)

    def alarm(signum, frame):
        raise TestFailure(f"scenario over its own deadline of {deadline}s")
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    signal.alarm(deadline)
    try:
        fn()
    except TestFailure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
    signal.alarm(0)
    log("PASS")
    sys.exit(0)


# ----------------------------------------------------------------- cmsd
TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
NODES = {"node1": "cvknode1", "node2": "cvknode2"}
# Timers for TCG guests on a shared 2-core host: a guest can stall for
# hundreds of ms, so the namespace tests' 200 ms / 1 s would fail over on
# load alone.  deadtime > 3 x interval, lease <= deadtime (cmsd --check).
HB_MS, DEADTIME_MS, LEASE_MS = 500, 4000, 3000
# ping mode: a cut-off master stops serving (timeout) before its peer takes
# over (deadtime) even with one interval of lag
PING_INTERVAL_MS, PING_TIMEOUT_MS = 500, 2500
VIP = "10.77.0.100"


class Cluster:
    """cmsd on the bed: node1 = cvknode1, node2 = cvknode2, and in arbiter
    mode an arbiter-mode cmsd on cvknode3 (in ping mode cvknode3 only answers
    pings).  The configs, certificates and cluster key go onto each guest's
    own disk at the standard paths (/etc/cmsd/cmsd.xml, /etc/cmsd/tls/),
    and /etc/vmbed/rc.sh starts cmsd at every boot, as a host's init would.

    storage: with the storage-drbd instance "db" (r0 on drbd_disk, /dev/vda
    unless told, mounted at /var/lib/mysql-share); vip: with resource-vip
    "webip" (VIP/24 on n12); dummy: with resource-dummy "app" (its state
    file in /run)."""

    def __init__(self, bed, mode="arbiter", storage=True, vip=True,
                 dummy=False, after_sb="auto", drbd_disk="/dev/vda"):
        self.bed, self.mode, self.drbd_disk = bed, mode, drbd_disk
        sec = os.path.join(bed.dir, "secrets")
        r = subprocess.run([os.path.join(TOOLS, "mkcerts.sh"), sec, "node1",
                            "node2", "arbiter"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mkcerts.sh: {r.stderr}")
        for nid, host in NODES.items():
            g = bed[host]
            self._secrets(g, sec, nid, key=True)
            g.write("etc/cmsd/cmsd.xml", self.node_xml(
                nid, storage, vip, dummy, after_sb))
            self._rc(g)
        if mode == "arbiter":
            g = bed["cvknode3"]
            self._secrets(g, sec, "arbiter", key=False)
            g.write("etc/cmsd/cmsd.xml", self.arbiter_xml())
            self._rc(g)

    @staticmethod
    def _secrets(g, sec, name, key):
        for src, dst in (("ca.pem", "ca.pem"), (f"{name}.pem", "node.pem"),
                         (f"{name}.key", "node.key")):
            with open(os.path.join(sec, src), "rb") as f:
                g.write(f"etc/cmsd/tls/{dst}", f.read(), 0o600)
        if key:
            with open(os.path.join(sec, "cluster.key"), "rb") as f:
                g.write("etc/cmsd/cluster.key", f.read(), 0o600)
            # the CA key stays on the nodes, as cmsadm setup leaves it:
            # cmsadm recover issues a replaced peer's certificate with it
            with open(os.path.join(sec, "ca.key"), "rb") as f:
                g.write("etc/cmsd/tls/ca.key", f.read(), 0o600)

    @staticmethod
    def _rc(g):
        write_rc(g)

    def node_xml(self, nid, storage, vip, dummy, after_sb):
        x = [f'<?xml version="1.0"?>\n<cmsd version="1" mode="node" '
             f'node="{nid}">',
             '  <cluster id="vmbed">',
             "    <key-file>/etc/cmsd/cluster.key</key-file>",
             '    <tls ca="/etc/cmsd/tls/ca.pem" cert="/etc/cmsd/tls/node.pem"'
             ' key="/etc/cmsd/tls/node.key"/>',
             f'    <timers heartbeat-interval="{HB_MS}ms" '
             f'deadtime="{DEADTIME_MS}ms" lease="{LEASE_MS}ms"/>']
        for n, host in NODES.items():
            x.append(f'    <node id="{n}" name="{host}"><link address='
                     f'"{Bed.NODE_ADDR[host]}"/></node>')
        x.append("  </cluster>")
        if self.mode == "arbiter":
            x += ['  <quorum id="q" plugin="quorum-cmsd">',
                  f"    <arbiter>{Bed.ARBITER}:7790</arbiter>",
                  "    <arbiter-name>cvknode3</arbiter-name>",
                  "  </quorum>"]
        else:
            x.append('  <quorum id="q" plugin="quorum-ping">')
            x += [f"    <target>{t}</target>" for t in Bed.PING_TARGETS]
            x += [f"    <interval>{PING_INTERVAL_MS}ms</interval>",
                  f"    <timeout>{PING_TIMEOUT_MS}ms</timeout>",
                  "  </quorum>"]
        st = ' storage="db"' if storage else ""
        if storage:
            x += ['  <storage id="db" plugin="storage-drbd">',
                  "    <resource>r0</resource>", "    <minor>0</minor>",
                  f"    <disk>{self.drbd_disk}</disk>",
                  "    <port>7789</port>",
                  "    <mount>/var/lib/mysql-share</mount>",
                  "    <fstype>ext4</fstype>",
                  f"    <after-sb>{after_sb}</after-sb>", "  </storage>"]
        x.append('  <group id="vms">')
        if vip:
            x += [f'    <resource id="webip" plugin="resource-vip"{st} '
                  'monitor-interval="2s">',
                  f"      <address>{VIP}/24</address>",
                  "      <interface>lan</interface>", "    </resource>"]
        if dummy or not vip:
            x += [f'    <resource id="app" plugin="resource-dummy"{st} '
                  'monitor-interval="2s">',
                  "      <state-file>/run/app.running</state-file>",
                  "    </resource>"]
        x += ["  </group>", "</cmsd>", ""]
        return "\n".join(x)

    @staticmethod
    def arbiter_xml():
        return f"""<?xml version="1.0"?>
<cmsd version="1" mode="arbiter">
  <arbiter id="arbiter" plugin="quorum-cmsd">
    <listen>{Bed.ARBITER}:7790</listen>
    <cluster id="vmbed">
      <ca>/etc/cmsd/tls/ca.pem</ca>
      <cert>/etc/cmsd/tls/node.pem</cert>
      <key>/etc/cmsd/tls/node.key</key>
    </cluster>
  </arbiter>
</cmsd>
"""


def write_rc(g, before="", facts=None):
    """/etc/vmbed/rc.sh, run at boot by /init as a packaged host's init
    runs cmsd: `cmsd -c /etc/cmsd/cmsd.xml` when the configuration exists,
    else the setup agent `cmsd --unconfigured`, which waits for cmsadm
    setup or recover and restarts itself configured.  before: shell lines
    run first (a /vms mount); facts: the text of the setup agent's
    --facts-override file (a test setting, for what a guest cannot have)."""
    over = ""
    if facts:
        g.write("etc/vmbed/facts", facts)
        over = "--facts-override /persist/etc/vmbed/facts "
    g.write("etc/vmbed/rc.sh",
            "#!/bin/sh\n# started at boot by /init, as a host's init would "
            "start cmsd\n" + before +
            "if [ -f /etc/cmsd/cmsd.xml ]; then\n"
            "\tsetsid /usr/sbin/cmsd -c /etc/cmsd/cmsd.xml "
            "-p /usr/lib/cmsd/plugins </dev/null >>/var/log/cmsd.out 2>&1 &\n"
            "else\n"
            "\tsetsid /usr/sbin/cmsd --unconfigured -p /usr/lib/cmsd/plugins "
            f"{over}</dev/null >>/var/log/cmsd.out 2>&1 &\n"
            "fi\n", 0o755)


def new_password():
    """A root password made per run: letters, digits, a space and
    symbols, as operators choose them."""
    return f"{secrets.token_urlsafe(9)} ${secrets.token_hex(3)}#!"


def set_root_password(g, pw):
    """g's /etc/shadow (on its own disk; /init links it) with root's
    SHA-512 crypt hash of pw, made by openssl with pw on its stdin."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=pw + "\n",
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("$6$"):
        raise RuntimeError(f"openssl passwd -6: {r.stderr}")
    g.write("etc/shadow", f"root:{r.stdout.strip()}:20000:0:99999:7:::\n",
            0o600)


# in a subshell that exits at once: the loop is no job of the console's
# shell, which would announce its end in some later command's output
SAMPLER = ("(n=0; while [ ! -e /tmp/sample.stop ]; do "
           "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' "
           ">>/tmp/cmdlines; n=$((n + 1)); echo $n >/tmp/sample.n; "
           "cmsadm role >>/tmp/roles 2>&1; sleep 0.3; done "
           "</dev/null >/dev/null 2>&1 &)")


def sampler_start(g):
    """Samples, in the background on g, every process's command line and
    `cmsadm role`, until sampler_stop()."""
    g.sh("rm -f /tmp/sample.stop /tmp/cmdlines /tmp/roles /tmp/sample.n; "
         + SAMPLER)


def sampler_stop(g):
    """Stops g's sampler: (samples taken, the distinct command-line
    arguments seen, the roles seen)."""
    g.sh("touch /tmp/sample.stop; sleep 1")
    m = re.findall(r"^(\d+)$", g.sh("cat /tmp/sample.n 2>/dev/null"), re.M)
    n = int(m[-1]) if m else 0
    args = g.sh("sort -u /tmp/cmdlines 2>/dev/null", 60)
    roles_seen = g.sh("sort /tmp/roles 2>/dev/null | uniq -c", 60)
    return n, args, roles_seen


def role(g):
    """`cmsadm role` on g: {node, role, epoch, serving} or None when the
    agent does not answer (down, or not started yet)."""
    rc, out = g.run("cmsadm role", 30)
    w = out.split()
    if rc != 0 or len(w) < 4:
        return None
    return {"node": w[0], "role": w[1], "epoch": int(w[2]) if
            w[2].isdigit() else w[2], "serving": w[3] == "serving"}


def status(g):
    rc, out = g.run("cmsadm status", 30)
    return out if rc == 0 else None


def status_has(g, *lines):
    """The lines all appear, exactly, in g's `cmsadm status` (or None)."""
    out = status(g)
    if out is None:
        return None
    have = out.splitlines()
    return out if all(ln in have for ln in lines) else None


def vip_owners(bed, vip=VIP):
    """The nodes that answer ARP for vip, seen from cvknode3 on each
    node's cable (a client's view: who would get the VIP's traffic)."""
    owners = []
    for nic, host in (("to1", "cvknode1"), ("to2", "cvknode2")):
        rc, out = bed["cvknode3"].run(
            f"arping -c 1 -w 2 -s {Bed.ARBITER} -I {nic} {vip}", 20)
        m = re.search(r"Received (\d+) resp", out)
        if m and int(m.group(1)) > 0:
            owners.append(host)
    return owners


# ------------------------------------------------- cmsd + DRBD scenarios
MNT = "/var/lib/mysql-share"


def mounted(g, dev="/dev/drbd0", path=MNT):
    """The /proc/mounts line of dev on path (ext4) in g, or None."""
    return re.search(rf"^{dev} {path} ext4 ", g.sh("cat /proc/mounts"), re.M)


def roles(bed):
    """{host: role dict or None} of the running nodes."""
    return {h: role(bed[h]) for h in NODES.values() if bed[h].running}


def wait_master(bed, master=None, slave=None, timeout=90):
    """Until exactly one running node is master and serving (master, when
    given) and, if given, slave is a slave.  Returns (master, roles)."""
    def ok():
        r = roles(bed)
        ms = [h for h, v in r.items() if v and v["role"] == "master"
              and v["serving"]]
        if len(ms) != 1 or (master and ms[0] != master):
            return None
        if slave and not (r.get(slave) and r[slave]["role"] == "slave"):
            return None
        return ms[0], r
    what = f"{master or 'one node'} master and serving" + (
        f", {slave} slave" if slave else "")
    return wait_until(what, ok, timeout, 1)


def switchover(bed, frm, to, dev="/dev/drbd0", path=MNT, timeout=90,
               mount_timeout=60):
    """`cmsadm switchover` on frm, then until to is master and serving with
    frm its slave and dev mounted on path there; returns the mount line."""
    bed[frm].sh("cmsadm switchover", 60)
    wait_master(bed, to, frm, timeout)
    return wait_until(f"{path} mounted on {to}",
                      lambda: mounted(bed[to], dev, path), mount_timeout)


def never_master(bed, hosts, seconds, why):
    """For seconds, every second: no host in hosts is master or serving."""
    t = time.time()
    while time.time() - t < seconds:
        for h in hosts:
            r = role(bed[h])
            if r and (r["role"] == "master" or r["serving"]):
                raise TestFailure(f"{h} became master ({r}): {why}")
        time.sleep(1)
    log(f"ok: for {seconds}s none of {', '.join(hosts)} master: {why}")


def overview(g):
    """`cmsadm drbd-overview` lines on g."""
    rc, out = g.run("cmsadm drbd-overview", 30)
    return [ln for ln in out.splitlines() if ln.strip()] if rc == 0 else []


def overview_has(g, regex):
    return next((ln for ln in overview(g) if re.match(regex, ln)), None)


def require_drbd_runtime(g):
    """Skip (77) when this build's storage-drbd has no runtime ops yet: it
    says so itself in the agent's log ("not implemented in this build")."""
    def said():  # the storage's first word on its start, either way
        rc, out = g.run("grep -a -m1 -E 'db: start: ' "
                        "/var/log/cvm_master.log", 10)
        return out if rc == 0 else None
    wait_until(f"{g.host}'s agent to start its storage", said, 60, 1)
    rc, out = g.run("grep -a -m1 'not implemented in this build' "
                    "/var/log/cvm_master.log", 10)
    if rc == 0:
        print(f"SKIP: storage-drbd in this build has no runtime ops: "
              f"{out.strip()}")
        raise SystemExit(77)


def drbd_state(g):
    d = proc_drbd(g)
    return d.get("cs"), d.get("ro"), d.get("ds")


def first_master(bed, want="cvknode1", timeout=120):
    """On fresh disks: both agents make r0 (storage-drbd writes the
    resource file, create-md, up); cmsd picks the first master of the fresh
    pair, whose promote starts the initial sync, makes ext4 on the blank
    device and mounts it; the sync completes.  Then, when the first master
    is not `want`, a `cmsadm switchover` to it, so that a scenario goes on
    with fixed names.  Returns the first master's host."""
    n1, n2 = bed["cvknode1"], bed["cvknode2"]
    require_drbd_runtime(n1)
    for g in (n1, n2):
        st = wait_until(f"{g.host}: r0 up and connected", lambda g=g: (
            lambda s: s if s[0] not in (None, "StandAlone", "Unconnected",
                                        "WFConnection") else None)(
            drbd_state(g)), 90)
        rc, _ = g.run("grep -q 'Written by cmsd' /etc/drbd.d/r0.res", 10)
        check(rc == 0, f"{g.host}: storage-drbd wrote /etc/drbd.d/r0.res "
              f"and brought r0 up: {st}")
    m, _ = wait_master(bed, None, None, timeout)
    s = "cvknode2" if m == "cvknode1" else "cvknode1"
    wait_master(bed, m, s, 60)
    M = bed[m]
    check(True, f"{m} first master, {s} slave")
    rc, out = M.run("grep -a -m1 'a fresh pair' /var/log/cvm_master.log",
                    10)
    check(rc == 0, f"{m}'s promote started the initial sync of the fresh "
          f"pair: {out.strip()}")
    mnt = wait_until(f"{MNT} mounted on {m}", lambda: mounted(M), 60)
    check(mnt, f"{m} made ext4 on the fresh r0 and mounted it: "
          f"{mnt.group(0)}")
    if want and m != want:
        wait_in_sync(bed, m, s, 150)
        # The slave's agent reads its copy's new state and tells the
        # master in its next heartbeat: the switchover is refused ("peer
        # data not usable") until then.
        st = ""

        def usable():
            nonlocal st
            st = bed[s].sh("cmsadm status")
            return re.search(r"^replica: db: .*, data usable,", st, re.M)
        try:
            wait_until(f"{s} reports its copy usable", usable, 60)
        except TestFailure as e:
            raise TestFailure(f"{e}\n{s}'s status:\n{st}") from None
        switchover(bed, m, want)
        check(True, f"cmsadm switchover: {want} master, as the scenario "
              "expects")
    return m


def wait_in_sync(bed, master, slave, timeout=120):
    M, S = bed[master], bed[slave]
    wait_until(f"{master}/{slave} Connected and UpToDate/UpToDate", lambda: (
        drbd_state(M) == ("Connected", "Primary/Secondary",
                          "UpToDate/UpToDate") and
        drbd_state(S) == ("Connected", "Secondary/Primary",
                          "UpToDate/UpToDate")), timeout, 1)
    ev = events_now(M)
    check(ev["resource"]["role"] == "Primary" and
          ev["device"]["disk"] == "UpToDate" and
          ev["connection"]["connection"] == "Connected" and
          ev["peer-device"]["peer-disk"] == "UpToDate",
          f"{master}: /proc/drbd and events2 --now: Primary, UpToDate, "
          "Connected, peer UpToDate")


def status_two_up(g, master, slave):
    """The reference status lines with both nodes up (DESIGN.md 2)."""
    return status_has(
        g, f"master : {master} (Online)", f"slave  : {slave} (Online)",
        f"webip  : [{VIP}] Started {master}",
        f"Master/Slave Set: [{MNT}]", f"  Master: [{master}]",
        f"  Slave  : [{slave}]")


def write_payload(g, name, mib=8):
    g.sh(f"dd if=/dev/urandom of={MNT}/{name} bs=1M count={mib} "
         "2>/dev/null && sync", 120)
    h = md5(g, f"{MNT}/{name}")
    log(f"{g.host}: wrote {MNT}/{name} ({mib} MiB), md5 {h}")
    return h
