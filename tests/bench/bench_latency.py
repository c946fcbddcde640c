#!/usr/bin/python3
"""bench_latency.py - does SMTP load or a login storm slow down a user's POP3S download?

    python3 tests/bench/bench_latency.py [OUTPUT_DIR]        (make bench)

One mailgwd (host build) with POP3S and SMTP. A logged-in POP3S client (joe, his own
certificate) loops STAT + RETR of a small message and records each pair's round trip;
p50/p99 are printed

  - idle,
  - while smtp-source sends BENCH_MESSAGES (default 2000) 4 KiB messages over
    BENCH_SENDERS (default 50) sessions to another user,
  - during a login storm: 20 clients with valid certificates (ann's) and a wrong password,
    each reconnecting after its refusal ([auth] limits raised so that every attempt
    costs a handshake and a SHA-crypt check); the storm's clients run in a process of
    their own (threads of this one would make the measuring client wait for Python's
    GIL, up to its 5 ms switch interval, which is the storm's own cost, not mailgwd's);
    their rate of attempts is printed,
  - during a handshake storm: the same 20 clients, each closing once it has the greeting
    (as fast as the handshakes go: what the loop would carry if the handshakes ran on it),

the storms for BENCH_STORM_SECONDS (default 5) each,

all on the build host's disk and on a slow one (BENCH_FSYNC_DELAY_MS, default 10: every
flush +N ms, one at a time, see slowfsync.c and smtp_bench; the daemon's files then on an
ext4 of their own, as /data on the board: benchfs.py). Ratios to the idle p99 are
printed. A measurement, not a test: nothing fails on a number.
"""
import os
import pathlib
import poplib
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(TOP, "output")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("MGW_BIN", os.path.join(OUT, "host", "bin"))

import gate  # noqa: E402
from benchfs import own_fs  # noqa: E402
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
N_MSGS = int(os.environ.get("BENCH_MESSAGES", "2000"))
SENDERS = int(os.environ.get("BENCH_SENDERS", "50"))
SLOW_MS = int(os.environ.get("BENCH_FSYNC_DELAY_MS", "10"))
IDLE_N = int(os.environ.get("BENCH_IDLE_PAIRS", "500"))
STORM = 20
STORM_S = float(os.environ.get("BENCH_STORM_SECONDS", "5"))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] * 1000


class Downloader:
    def __init__(self, addr, ctx):
        self.p = poplib.POP3_SSL(*addr, context=ctx, timeout=60)
        self.p.user("joe@" + gate.DOMAIN)
        self.p.pass_(gate.PASSWORDS["joe"])

    def pair(self):
        t0 = time.perf_counter()
        self.p.stat()
        self.p.retr(1)
        return time.perf_counter() - t0

    def while_running(self, busy):
        out = []
        while busy():
            out.append(self.pair())
        return out


def storm(addr, ctx, stop, done, login):
    while not stop.is_set():
        try:
            p = poplib.POP3_SSL(*addr, context=ctx, timeout=30)
            if login:
                p.user("ann@" + gate.DOMAIN)
                try:
                    p.pass_("wrong password")
                except poplib.error_proto:
                    pass
            p.close()
            done.append(1)
        except OSError:
            time.sleep(0.01)


def storm_main(mode, host, port, ca, crt, key):
    """The storm's own process (bench_latency.py --storm login|handshake ...): STORM
    clients until its standard input closes, then prints how many connections were
    made."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(crt, key)
    stop, done = threading.Event(), []
    ts = [threading.Thread(target=storm, args=((host, int(port)), ctx, stop, done,
                                               mode == "login"))
          for _ in range(STORM)]
    for t in ts:
        t.start()
    sys.stdin.read()
    stop.set()
    for t in ts:
        t.join(60)
    print(len(done), flush=True)


def run(tmp, slow):
    pki = PKI(tmp / "pki")
    where, umount = own_fs(str(tmp)) if slow else (str(tmp), None)
    try:
        return run_in(tmp, pathlib.Path(where), slow, pki)
    finally:
        if umount:
            umount()


def run_in(tmp, where, slow, pki):
    d = Daemon(where / "d", asan=False)
    d.prog = os.path.join(os.environ["MGW_BIN"], "mailgwd")
    gate.install_tls(d, pki)
    for u in ("joe", "ann", "sam"):
        gate.add_user(d, u)
    d.write_conf("max_connections = 300\n" + gate.tls_conf(
        d, extra_pop3s="rate = 1000000\nmax_per_address = 100\nmax_connections = 200\n",
        extra="[auth]\nfail_limit = 1000\nfail_delay = 1s\nfail_close = 10\n"
              "[smtp]\nlisten = 127.0.0.1:0\ngreeting_delay = 0\nmax_per_address = %d\n"
              "max_connections = %d\nrate = 100000\nmin_free_space = 0\n"
              % (SENDERS + 5, SENDERS + 5)))
    with open(d.conf_path) as f:  # one line per session at info, not one per command
        text = f.read().replace("log_level = debug", "log_level = info")
    with open(d.conf_path, "w") as f:
        f.write(text)
    gate.deliver(d, "joe", gate.message(1, 2000))
    env_keep = dict(os.environ)
    if slow:
        so = os.path.join(OUT, "bench", "slowfsync.so")
        os.makedirs(os.path.dirname(so), exist_ok=True)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", so,
                        os.path.join(HERE, "slowfsync.c"), "-ldl"], check=True)
        lock = str(tmp / "fsync.lock")
        open(lock, "w").close()
        os.chmod(lock, 0o666)
        os.environ.update(LD_PRELOAD=so, BENCH_FSYNC_DELAY_MS=str(slow), BENCH_FSYNC_LOCK=lock)
    try:
        d.start()
    finally:
        os.environ.clear()
        os.environ.update(env_keep)
    res = {}
    try:
        ctx = gate.client_ctx(pki, pki.user["joe"])
        dl = Downloader(d.addr("pop3s"), ctx)
        res["idle"] = [dl.pair() for _ in range(IDLE_N)]
        host, port = d.addr("smtp")
        src = subprocess.Popen([SMTP_SOURCE, "-d", "-s", str(SENDERS), "-m", str(N_MSGS),
                                "-l", "4096", "-M", "bench.example", "-f", "b@example.net",
                                "-t", "sam@" + gate.DOMAIN, "%s:%d" % (host, port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        res["smtp"] = dl.while_running(lambda: src.poll() is None)
        rate = N_MSGS / (time.time() - t0)
        ann = pki.user["ann"]
        for mode in ("login", "handshake"):
            t0 = time.time()
            st = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--storm", mode,
                                   *map(str, d.addr("pop3s")), pki.ca.crt, ann.crt, ann.key],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            time.sleep(1)
            t_end = time.time() + STORM_S
            res[mode] = dl.while_running(lambda: time.time() < t_end)
            n = int(st.communicate(b"", timeout=120)[0] or 0)
            res[mode + "_rate"] = n / (time.time() - t0)
        dl.p.quit()
    finally:
        d.stop()
    return res, rate


def main():
    if not os.path.exists(SMTP_SOURCE):
        sys.exit("bench_latency: smtp-source missing (make deps installs postfix)")
    print("bench_latency: POP3S STAT+RETR (2 KB message) round trips of one logged-in user; "
          "%d SMTP senders, %d x 4 KiB messages; login storm of %d clients" %
          (SENDERS, N_MSGS, STORM))
    for slow in (0, SLOW_MS):
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-latency-"))
        try:
            res, rate = run(tmp, slow)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        disk = ("slow disk (an ext4 of its own, every flush +%d ms, one at a time)" % slow
                if slow else "host disk")
        base = pct(res["idle"], 99)
        print("%s: SMTP %.0f msg/s during the measurement" % (disk, rate))
        for k, label in (("idle", "idle"), ("smtp", "under SMTP load"),
                         ("login", "during the login storm"),
                         ("handshake", "during the handshake storm")):
            print("  %-26s p50 %6.2f ms  p99 %6.2f ms  (p99 / idle p99 %.2f, %d pairs)"
                  % (label, pct(res[k], 50), pct(res[k], 99), pct(res[k], 99) / base,
                     len(res[k])))
        print("  login storm: %.0f failed logins/s; handshake storm: %.0f handshakes/s"
              % (res["login_rate"], res["handshake_rate"]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--storm"]:
        storm_main(*sys.argv[2:8])
    else:
        main()
