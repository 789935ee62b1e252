#!/usr/bin/env python3
"""mock_agent.py: a toy cluster agent that speaks cmsd's command line,
config and control-socket contract, to validate the cluster harness itself
(lib.sh, the scenarios, the sampler) before and apart from the real core.
It is NOT the product and proves nothing about cmsd.

    mock_agent.py -f -c CONF -p DIR      run (node or arbiter, from CONF)
    mock_agent.py --check -c CONF ...    exit 0

Use it in place of the agent:  printf '#!/bin/sh\\nexec python3 %s "$@"\\n'
.../mock_agent.py > /tmp/cmsd-mock; chmod +x; CMSD_BIN=/tmp/cmsd-mock.
Environment MOCK_BUG selects a deliberate fault, to show that the scenarios
catch it: "no-stepdown" (a cut-off master keeps serving), "eager" (a slave
takes over without a vote), "epoch-reset" (epochs are not persisted),
"stale-acks" (a cut-off master holds on by its peer's last acks until its
deadtime, racing the peer's takeover).

Simplified rules after agent/fsm.h: heartbeats over UDP on every link; a
master holds an arbiter lease (renewed every interval) or, in ping mode, a
target answering; arbiter mode also holds on while the peer acknowledges
it; two masters that meet keep the lower node id.
"""
import json
import os
import socket
import struct
import sys
import threading
import time
import xml.etree.ElementTree as ET

BUG = os.environ.get("MOCK_BUG", "")
HB_PORT = 7788


def now():
    return time.monotonic()


def ms(text, default):
    if text is None:
        return default
    t = text.strip()
    for suf, mul in (("ms", 1), ("s", 1000), ("m", 60000)):
        if t.endswith(suf) and t[: -len(suf)].isdigit():
            return int(t[: -len(suf)]) * mul
    return int(t)


class Log:
    def __init__(self, path):
        self.f = open(path, "a") if path else sys.stdout
        self.lock = threading.Lock()

    def __call__(self, msg):
        with self.lock:
            self.f.write("%s mock[%d]: %s\n" % (
                time.strftime("%Y-%m-%d %H:%M:%S"), os.getpid(), msg))
            self.f.flush()


def serve_control(path, handler):
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)

    def one(c):
        try:
            c.settimeout(5)
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            req = data.split(b"\n")[0].decode(errors="replace").strip()
            body = handler(req)
            if body is None:
                c.sendall(('ERR unknown command "%s"\n' % req).encode())
            else:
                b = body.encode()
                c.sendall(b"OK %d\n" % len(b) + b)
            c.shutdown(socket.SHUT_WR)
            c.recv(1)
        except OSError:
            pass
        finally:
            c.close()

    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=one, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def icmp_sock():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Arbiter:
    def __init__(self, root, log):
        a = root.find("arbiter")
        host, port = a.findtext("listen").rsplit(":", 1)
        self.addr = (host, int(port))
        paths = root.find("paths")
        self.state = os.path.join(paths.get("state-dir"), "arbiter.last")
        self.lease = 1.0
        self.log = log
        self.holder, self.until = None, 0.0
        self.started = now()
        try:
            self.last = open(self.state).read().strip() or None
        except OSError:
            self.last = None
        self.lock = threading.Lock()

    def answer(self, line):
        parts = line.split()
        if not parts:
            return "NO"
        with self.lock:
            t = now()
            if parts[0] == "PING":
                return "OK"
            node = parts[1] if len(parts) > 1 else ""
            free = self.holder is None or t > self.until
            if parts[0] == "RENEW":
                if self.holder == node or (free and self.last == node):
                    self.holder, self.until = node, t + self.lease
                    return "OK"
                return "NO"
            if parts[0] == "VOTE":
                # After a restart, give the last master time to ask first.
                if (self.last not in (None, node)
                        and t - self.started < 2 * self.lease):
                    return "NO"
                if free or self.holder == node:
                    self.holder, self.until = node, t + self.lease
                    if self.last != node:
                        self.last = node
                        with open(self.state, "w") as f:
                            f.write(node)
                    self.log("granted %s" % node)
                    return "OK"
                return "NO"
        return "NO"

    def run(self, ctl):
        serve_control(ctl, lambda r: "mock arbiter\n" if r in (
            "version", "status") else None)
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(self.addr)
        srv.listen(16)
        while True:
            c, _ = srv.accept()
            try:
                c.settimeout(1)
                line = c.recv(256).decode(errors="replace").strip()
                c.sendall((self.answer(line) + "\n").encode())
            except OSError:
                pass
            c.close()


class Node:
    def __init__(self, root, log):
        self.log = log
        self.me = root.get("node")
        cl = root.find("cluster")
        tm = cl.find("timers")
        self.interval = ms(tm.get("heartbeat-interval"), 200) / 1000
        self.deadtime = ms(tm.get("deadtime"), 1000) / 1000
        self.lease = ms(tm.get("lease"), 1000) / 1000
        self.nodes = {}
        for n in cl.findall("node"):
            self.nodes[n.get("id")] = dict(
                name=n.get("name") or n.get("id"),
                links=[l.get("address") for l in n.findall("link")])
        self.peer = [n for n in self.nodes if n != self.me][0]
        q = root.find("quorum")
        self.mode = "arbiter" if q.get("plugin") == "quorum-cmsd" else "ping"
        if self.mode == "arbiter":
            h, p = q.findtext("arbiter").rsplit(":", 1)
            self.arbiter = (h, int(p))
            self.arbiter_name = q.findtext("arbiter-name") or h
        else:
            self.targets = [t.text.strip() for t in q.findall("target")]
            self.ping_timeout = ms(q.findtext("timeout"), 1000) / 1000
        self.res = [(r.get("id"), r.findtext("state-file"))
                    for r in root.find("group").findall("resource")]
        paths = root.find("paths")
        self.epoch_file = os.path.join(paths.get("state-dir"), "epoch")
        try:
            self.epoch = int(open(self.epoch_file).read())
        except (OSError, ValueError):
            self.epoch = 0
        if BUG == "epoch-reset":
            self.epoch = 0
        self.role, self.serving = "startup", False
        self.started = now()
        self.peer_seen, self.peer_role, self.peer_epoch = 0.0, None, 0
        self.peer_acks = False
        self.quorum_seen = 0.0
        self.lease_until = 0.0
        self.next_vote = 0.0
        self.sb_won = False
        self.events = []
        self.lock = threading.RLock()
        # what a killed agent left running is stopped at start
        self.stop_group()

    # -- facts
    def peer_alive(self):
        return now() - self.peer_seen < self.deadtime

    def quorum_ok(self):
        limit = self.lease if self.mode == "arbiter" else self.ping_timeout
        return now() - self.quorum_seen < limit

    def held(self):
        if self.mode == "ping":
            return self.quorum_ok()
        if now() < self.lease_until - self.interval:
            return True
        # Acks count while fresh: held until the peer's deadtime would let
        # it take over, the master would race it.
        if BUG == "stale-acks":
            return self.peer_alive() and self.peer_acks
        fresh = self.deadtime - 2 * self.interval
        return now() - self.peer_seen < fresh and self.peer_acks

    # -- actions
    def set_role(self, r, why):
        if r != self.role:
            self.log("role: %s -> %s: %s" % (self.role, r, why))
            self.role = r

    def start_group(self):
        for _, f in self.res:
            if f:
                open(f, "w").close()
        self.serving = True

    def stop_group(self):
        for _, f in self.res:
            if f and os.path.exists(f):
                os.unlink(f)
        self.serving = False

    def raise_epoch(self):
        self.epoch = max(self.epoch, self.peer_epoch) + 1
        with open(self.epoch_file, "w") as f:
            f.write(str(self.epoch))
            f.flush()
            os.fsync(f.fileno())

    def arbiter_call(self, line):
        try:
            s = socket.create_connection(self.arbiter, timeout=0.3)
            s.settimeout(0.3)
            s.sendall((line + "\n").encode())
            r = s.recv(64).decode().strip()
            s.close()
            return r
        except OSError:
            return None

    def vote(self):
        if self.mode == "ping":
            return True
        t = now()
        r = self.arbiter_call("VOTE %s %d" % (self.me, self.epoch))
        if r == "OK":
            self.lease_until = t + self.lease
        return r == "OK" or BUG == "eager"

    # -- threads
    def hb_loop(self):
        socks = []
        for a in self.nodes[self.me]["links"]:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((a, HB_PORT))
            s.setblocking(False)
            socks.append(s)
        peer_links = self.nodes[self.peer]["links"]
        while True:
            with self.lock:
                msg = json.dumps(dict(
                    id=self.me, role=self.role, epoch=self.epoch,
                    ack=self.role == "slave" and self.peer_role == "master"
                    and self.peer_alive())).encode()
            for s, dst in zip(socks, peer_links):
                try:
                    s.sendto(msg, (dst, HB_PORT))
                except OSError:
                    pass
            end = now() + self.interval
            while now() < end:
                for s in socks:
                    try:
                        while True:
                            d = json.loads(s.recv(2048))
                            with self.lock:
                                self.peer_seen = now()
                                self.peer_role = d["role"]
                                self.peer_epoch = d["epoch"]
                                self.peer_acks = d["ack"]
                    except (OSError, ValueError, KeyError):
                        pass
                time.sleep(0.01)

    def quorum_loop(self):
        if self.mode == "arbiter":
            while True:
                t = now()
                with self.lock:
                    master = self.role == "master"
                r = self.arbiter_call(
                    ("RENEW %s" if master else "PING %s") % self.me)
                with self.lock:
                    if r is not None:
                        self.quorum_seen = t
                    if master and r == "OK":
                        self.lease_until = t + self.lease
                time.sleep(self.interval)
        s = icmp_sock()
        s.setblocking(False)
        ident = os.getpid() & 0xFFFF
        seq = 0
        while True:
            for tgt in self.targets:
                seq = (seq + 1) & 0xFFFF
                h = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
                h = struct.pack("!BBHHH", 8, 0, csum(h), ident, seq)
                try:
                    s.sendto(h, (tgt, 0))
                except OSError:
                    pass
            end = now() + self.interval
            while now() < end:
                try:
                    while True:
                        b, a = s.recvfrom(1500)
                        hl = (b[0] & 15) * 4
                        if (a[0] in self.targets and b[hl] == 0
                                and struct.unpack("!H", b[hl + 4:hl + 6])[0]
                                == ident):
                            with self.lock:
                                self.quorum_seen = now()
                except (OSError, IndexError, struct.error):
                    pass
                time.sleep(0.01)

    def step(self):
        t = now()
        alive, q = self.peer_alive(), self.quorum_ok()
        if self.role == "startup":
            if t - self.started < self.deadtime and not alive:
                return
            self.set_role("slave" if alive or q else "isolated", "start-up over")
        if self.role == "master":
            if alive and self.peer_role == "master":
                if self.me > self.peer:  # the lower id keeps it
                    self.set_role("stepping_down", "split brain: lost")
                    self.events.append("split brain: %s keeps mastership"
                                       % self.peer)
                    self.stop_group()
                    self.set_role("slave", "split brain resolved")
                elif not self.sb_won:
                    self.sb_won = True
                    self.events.append("split brain: %s keeps mastership"
                                       % self.me)
                    self.raise_epoch()
                return
            self.sb_won = False
            if not self.held() and BUG != "no-stepdown":
                self.set_role("stepping_down", "lost quorum")
                self.stop_group()
                self.set_role("slave" if alive or q else "isolated",
                              "stepped down")
            return
        # slave or isolated
        if alive and self.peer_role in ("master", "taking_over",
                                        "stepping_down"):
            self.set_role("slave", "peer is %s" % self.peer_role)
            return
        preferred = not alive or self.me < self.peer
        if (q or BUG == "eager") and preferred and t >= self.next_vote:
            self.set_role("taking_over", "asking for the vote")
            self.lock.release()
            try:
                ok = self.vote()
            finally:
                self.lock.acquire()
            if ok:
                self.raise_epoch()
                self.start_group()
                self.set_role("master", "vote granted")
                return
            self.next_vote = now() + 0.1
        self.set_role("slave" if alive or q else "isolated", "no vote")

    def status(self, as_json=False):
        with self.lock:
            me, peer = self.nodes[self.me]["name"], self.nodes[self.peer]["name"]
            alive = self.peer_alive()
            if self.role == "master":
                master, slave, st = me, peer, "Online" if alive else "Offline"
            elif alive and self.peer_role == "master":
                master, slave, st = peer, me, "Online"
            else:
                master, slave, st = None, peer, "Online" if alive else "Offline"
            if self.mode == "arbiter":
                quorum = "[controller] %s (%s)" % (
                    self.arbiter_name, "Online" if self.quorum_ok() else "Offline")
            else:
                quorum = "[ping] %s (%s)" % (
                    " ".join(self.targets),
                    "Online" if self.quorum_ok() else "Offline")
            if as_json:
                return json.dumps(dict(role=self.role, master=master,
                                       slave=slave, slave_state=st))
            out = ["master : %s" % ("%s (Online)" % master if master else "none"),
                   "slave  : %s (%s)" % (slave, st), "quorum : " + quorum,
                   "-----"]
            where = master or "none"
            for i, (rid, _) in enumerate(self.res):
                out.append("%-6s : %s" % (rid, "Started %s" % where if master
                                          else "Stopped"))
                if i == 0:
                    out += ["Master/Slave Set: [vms]",
                            "  Master: [%s]" % where,
                            "  Slave  : [%s]" % (slave if st == "Online"
                                                 else "Unknown")]
            out.append("-----")
            return "\n".join(out) + "\n"

    def control(self, req):
        if req == "role":
            with self.lock:
                return "%s %s %d %s\n" % (self.me, self.role, self.epoch,
                                          "serving" if self.serving else "idle")
        if req == "status":
            return self.status()
        if req == "status json":
            return self.status(True)
        if req == "version":
            return "mock\n"
        if req == "events":
            return "".join(e + "\n" for e in self.events)
        return None

    def run(self, ctl):
        for f in (self.hb_loop, self.quorum_loop):
            threading.Thread(target=f, daemon=True).start()
        serve_control(ctl, self.control)
        while True:
            with self.lock:
                self.step()
            time.sleep(0.02)


def main(argv):
    conf = None
    check = False
    i = 1
    while i < len(argv):
        if argv[i] == "-c":
            conf = argv[i + 1]
            i += 1
        elif argv[i] in ("-p", "-n"):
            i += 1
        elif argv[i] == "--check":
            check = True
        i += 1
    if not conf:
        sys.stderr.write("usage: mock_agent.py [-f] [--check] -c CONF\n")
        return 2
    root = ET.parse(conf).getroot()
    if check:
        print("configuration valid (mock)")
        return 0
    paths = root.find("paths")
    log = Log(paths.get("log-file"))
    ctl = paths.get("control-socket")
    if root.get("mode") == "arbiter":
        Arbiter(root, log).run(ctl)
    else:
        Node(root, log).run(ctl)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
