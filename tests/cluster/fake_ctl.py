#!/usr/bin/env python3
"""fake_ctl.py SOCKET STATEFILE: a stand-in for cmsd's control socket, for
the harness self-test (harness.test.sh) only.

Each connection gets one request line.  A "role" request is answered from
STATEFILE, read afresh each time, so the test scripts a timeline by
rewriting it:
  a body line ("node1 master 3 serving")  ->  OK <n>\\n<body>\\n
  ERR <message>                           ->  ERR <message>\\n
  HANG                                    ->  no answer until the client leaves
  GARBAGE                                 ->  a line that is no reply
  SHORT                                   ->  OK 100 and fewer bytes, then EOF
Any other request ("version") is answered OK with "fake\\n".  Every request
line is appended to STATEFILE.requests.  SIGTERM ends the server.
"""
import os
import signal
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(4097).decode(errors="replace").rstrip("\r\n")
        with open(self.server.state + ".requests", "a") as f:
            f.write(line + "\n")
        if line != "role":
            self.wfile.write(b"OK 5\nfake\n")
            return
        try:
            with open(self.server.state) as f:
                body = f.read().strip()
        except OSError:
            body = "ERR no state"
        if body == "HANG":
            self.rfile.read()  # until the client hangs up
            return
        if body == "GARBAGE":
            self.wfile.write(b"HELLO there\n")
            return
        if body == "SHORT":
            self.wfile.write(b"OK 100\nnode1 master")
            return
        if body.startswith("ERR"):
            self.wfile.write((body + "\n").encode())
            return
        data = (body + "\n").encode()
        self.wfile.write(b"OK %d\n" % len(data) + data)


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: fake_ctl.py SOCKET STATEFILE\n")
        return 2
    sock, state = sys.argv[1], sys.argv[2]
    if os.path.exists(sock):
        os.unlink(sock)
    srv = Server(sock, Handler)
    srv.state = state
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
        os.unlink(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
