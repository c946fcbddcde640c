#!/usr/bin/python3
"""bench_pop3s.py - measures the certificate gate (host build, not asserted anywhere):
full mutual-TLS handshakes per second (no resumption), login + STAT + QUIT sessions per
second, RETR throughput of a large message, and the daemon's memory per idle TLS
connection. Run: make host && python3 tests/bench/bench_pop3s.py"""
import os
import pathlib
import poplib
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("MGW_BIN", os.path.join(HERE, "..", "..", "output", "host", "bin"))

import gate  # noqa: E402
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-pop3s-"))
    pki = PKI(tmp / "pki")
    d = Daemon(tmp / "d", asan=False)
    d.prog = os.path.join(os.environ["MGW_BIN"], "mailgwd")
    gate.install_tls(d, pki)
    gate.add_user(d, "joe")
    d.write_conf(gate.tls_conf(d))
    d.start()
    big = gate.message(1, 20 * 1024 * 1024)
    gate.deliver(d, "joe", big)
    host, port = d.addr("pop3s")
    joe = pki.user["joe"]
    ctx = gate.client_ctx(pki, joe)

    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
        s.recv(100)
        s.close()
    dt = time.perf_counter() - t0
    print("handshake+greeting: %d in %.2f s = %.1f/s (%.2f ms each, client included)"
          % (n, dt, n / dt, 1000 * dt / n))

    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        p = poplib.POP3_SSL(host, port, context=ctx)
        p.user("joe@example.test")
        p.pass_(gate.PASSWORDS["joe"])
        p.stat()
        p.quit()
    dt = time.perf_counter() - t0
    print("login+STAT+QUIT: %d in %.2f s = %.1f/s" % (n, dt, n / dt))

    p = poplib.POP3_SSL(host, port, context=ctx)
    p.user("joe@example.test")
    p.pass_(gate.PASSWORDS["joe"])
    t0 = time.perf_counter()
    resp, lines, octets = p.retr(1)
    dt = time.perf_counter() - t0
    print("RETR of %d MiB: %.2f s = %.1f MiB/s" % (len(big) >> 20, dt, len(big) / dt / 2**20))
    p.quit()

    base = rss_kb(d.proc.pid)
    conns = []
    for _ in range(100):
        s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
        s.recv(100)
        conns.append(s)
    time.sleep(0.2)
    grown = rss_kb(d.proc.pid) - base
    print("memory: +%d KB RSS for 100 idle TLS 1.3 connections = %.1f KB each"
          % (grown, grown / 100))
    for s in conns:
        s.close()
    d.stop()


if __name__ == "__main__":
    main()
