#!/usr/bin/env python3
"""An operator at a terminal, for the operations tests: runs COMMAND...
under a pty and answers its prompts in order.

STEPS (environment): one "prompt<TAB>answer" line per prompt, in the order
they come; an answer "@NAME" is the environment variable NAME (a password
stays out of STEPS and off every command line).  Prints what the terminal
showed (the echo included: a password typed with the echo on would be
there) and exits with the command's status, or fails naming the prompt
that did not come.
"""
import os
import pty
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""


def expect(what, timeout=30):
    global out
    end = time.time() + timeout
    while what.encode() not in out:
        if time.time() > end:
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit("operator: no \"%s\" within %d s" % (what, timeout))
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if what.encode() not in out:
        sys.stdout.write(out.decode(errors="replace"))
        sys.exit("operator: the command ended before \"%s\"" % what)


def answer(prompt, text):
    global out
    expect(prompt)
    # cmsadm turns the echo off before it writes a password prompt
    os.write(fd, text.encode() + b"\r")
    sys.stdout.write(out.decode(errors="replace"))
    out = b""


for step in os.environ["STEPS"].splitlines():
    prompt, text = step.split("\t")
    answer(prompt, os.environ[text[1:]] if text.startswith("@") else text)
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
sys.stdout.write(out.decode(errors="replace"))
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
