#!/usr/bin/python3
"""fetch_cpu.py - mailgwd's CPU time per FETCHed octet and per FETCHed message, builds
side by side.

    python3 tests/bench/fetch_cpu.py [MAILGWD ...]      (default: output/host/bin/mailgwd)

For tuning the FETCH output path on a shared machine, where rates move with the load and
CPU time much less: each mailgwd given is started with its own data (the same
deliveries over SMTP: BENCH_IMAP_BIG x 1 MiB, BENCH_IMAP_SMALL x 4 KiB), then
BENCH_FETCH_ROUNDS rounds alternate between the builds, each round one
`FETCH 1:* (BODY.PEEK[])` of each mailbox per build. Measured per FETCH: the daemon's
CPU time (its schedstat run time, nanoseconds), divided by
the octets of the literals received (the CRLF form, what TLS encrypts) or by the
messages. Also the encryption rate of mbedTLS (output/host/tests/cipher_speed, CPU time
of one core, once per round), and the FETCH's octets per second of the daemon's CPU time against it: the
one-core form of bench_imap.py's "large FETCH against mbedTLS" ratio.

BENCH_FETCH_HOLD=SECONDS keeps FETCHing the 1 MiB mailbox of the first build (or the
4 KiB one with BENCH_FETCH_HOLD_SMALL=1) in one session for that long after printing the
daemon's pid, for `perf record -p PID`. Nothing here fails on a number.
"""
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
PROGS = [os.path.abspath(p) for p in sys.argv[1:]]
del sys.argv[1:]  # bench_pop3s.py reads an output folder there
import bench_imap as bi  # noqa: E402
import bench_pop3s as bp  # noqa: E402

import gate  # noqa: E402
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_FETCH_ROUNDS", "10"))
HOLD = float(os.environ.get("BENCH_FETCH_HOLD", "0"))
BOXES = {"joe": (bi.N_SMALL, 4096), "ann": (bi.N_BIG, 1 << 20)}


def cpu(pid):
    """Run time of the daemon, s (schedstat: all its threads, nanoseconds; the user and
    system split of /proc/PID/stat is sampled at the tick, too coarse here: use perf)."""
    run = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            run += int(f.read().split()[0])
    return run / 1e9


def fetch(addr, ctx, user, n, pid):
    """One FETCH 1:* (BODY.PEEK[]): (octets of the literals, the daemon's CPU s)."""
    m = bi.session(addr, ctx, user)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and int(data[0]) == n, (typ, data)
    c0 = cpu(pid)
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    c1 = cpu(pid)
    m.logout()
    bodies = [x[1] for x in data if isinstance(x, tuple)]
    assert typ == "OK" and len(bodies) == n, (typ, len(bodies))
    return sum(len(b) for b in bodies), c1 - c0


def start(tmp, prog, pki):
    d = Daemon(tmp, asan=False)
    d.prog = prog
    gate.install_tls(d, pki, crl=pki.ca.crl(str(tmp) + "-crl.pem"))
    for u in BOXES:
        gate.add_user(d, u, bi.password(u))
    t = gate.tls_dir(d)
    d.write_conf("[tls]\ncert = %s/server.crt\nkey = %s/server.key\nca = %s/ca.crt\n"
                 "crl = %s/crl.pem\n[imaps]\nlisten = 127.0.0.1:0\nrate = 1000000\n"
                 "[smtp]\nlisten = 127.0.0.1:0\npostmaster = joe@%s\ngreeting_delay = 0\n"
                 "max_connections = 16\nquota = 0\n" % (t, t, t, t, gate.DOMAIN))
    d.start()
    for user, (n, size) in BOXES.items():
        bi.deliver(d, user, n, size)
    return d


def main():
    progs = PROGS or [
        os.path.join(os.environ["MGW_BIN"], "mailgwd")]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fetch-cpu-"))
    pki = PKI(tmp / "pki")
    ctxs = {u: gate.client_ctx(pki, pki.user[u]) for u in BOXES}
    ds = []
    try:
        for k, prog in enumerate(progs):
            ds.append(start(tmp / ("d%d" % k), prog, pki))
        if HOLD:
            d = ds[0]
            user = "joe" if os.environ.get("BENCH_FETCH_HOLD_SMALL") else "ann"
            print("pid %d: FETCHing %s's mailbox for %.0f s" % (d.proc.pid, user, HOLD),
                  flush=True)
            # One session: what perf sees is FETCH and nothing else.
            m = bi.session(d.addr("imaps"), ctxs[user], user)
            m.select("INBOX", readonly=True)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < HOLD:
                typ, _ = m.fetch("1:*", "(BODY.PEEK[])")
                assert typ == "OK"
                n += 1
            m.logout()
            print("%d FETCHes" % n)
            return
        res = [{"big": [], "small": []} for _ in ds]
        gcms = []
        for r in range(ROUNDS):
            order = range(len(ds)) if r % 2 == 0 else reversed(range(len(ds)))
            for k in order:
                d = ds[k]
                for key, user in (("big", "ann"), ("small", "joe")):
                    res[k][key].append(fetch(d.addr("imaps"), ctxs[user], user,
                                             BOXES[user][0], d.proc.pid))
            gcms.append(bi.aes_gcm_rate(bp.OUT, "aes-128-gcm", "0.5"))
    finally:
        for d in ds:
            d.stop()
    gcm = statistics.median(gcms)
    print("%d rounds; medians, [min-max] of the run time (schedstat)" % ROUNDS)
    for k, prog in enumerate(progs):
        big, small = res[k]["big"], res[k]["small"]
        octets = big[0][0]
        ns_b = [1e9 * x[1] / x[0] for x in big]
        us_m = [1e6 * x[1] / bi.N_SMALL for x in small]
        print("%s" % prog)
        print("  1 MiB FETCH: %d octets, %.3f ns/octet [%.3f-%.3f] = %.0f MB per CPU s" % (
            octets, statistics.median(ns_b), min(ns_b), max(ns_b),
            1e3 / statistics.median(ns_b)))
        print("  4 KiB FETCH: %.2f us/message [%.2f-%.2f]" % (
            statistics.median(us_m), min(us_m), max(us_m)))
        if gcm:
            print("  against mbedTLS aes-128-gcm (%.0f MB per CPU s): %.2f" % (
                gcm, 1e3 / statistics.median(ns_b) / gcm))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
