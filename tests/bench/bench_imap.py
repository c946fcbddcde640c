#!/usr/bin/python3
"""bench_imap.py - mailgwd's IMAPS against Dovecot's IMAPS, in one run.

    python3 tests/bench/bench_imap.py [OUTPUT_DIR]       (make bench)

The mailboxes are filled the way the product fills them: SMTP deliveries to mailgwd
(smtplib, a few connections in parallel); Dovecot then gets a copy of the Maildirs mailgwd
wrote (what an admin moving to Dovecot does, README "Moving to dovecot"). Same client for
both (Python's ssl + imaplib, TLS 1.3, the user's certificate), same server certificate
and key, CA + CRL and {SHA512-CRYPT} hashes. Dovecot is bench_pop3s.py's throwaway
instance (the reference article's settings: ssl = required, client certificate verified
against the CA + CRL and required for authentication) serving IMAP instead of POP3.

  - FETCH 1:* (BODY.PEEK[]) of 2,000 messages of 4 KiB (messages/s, and the server's CPU
    time per message, which other load on the machine changes less; its inverse,
    messages per second of server CPU time, is the rate the goal is judged by here),
  - FETCH 1:* (BODY.PEEK[]) of 50 messages of 1 MiB (MB/s, 10^6 octets of the literals,
    i.e. the CRLF form TLS encrypts), also as a ratio to the encryption rate of mbedTLS
    as built here (output/host/tests/cipher_speed, 16 KiB records, AES-GCM of the suite
    mailgwd negotiates with this client, run once per round, median: our AES-GCM,
    firmware/lib/tls/gcm) and to the stock mbedTLS's own AES-GCM (cipher_speed_stock,
    measured the same way). cipher_speed counts its CPU time (one core);
    the FETCH is counted the same way, octets per second of the server's CPU time, and
    also per second of wall time (which on a shared machine says as much about the
    other load: the server's share of a core is printed beside it),
  - SELECT of a 10,000-message INBOX (s): the first one (mailgwd moves new/ to cur/,
    Dovecot builds its index) and the median of the later ones,
  - memory of BENCH_IMAP_IDLE (100) idle logged-in sessions (LOGIN, SELECT INBOX; 10
    users with 10 sessions each, the per-user limit of both servers): the growth of the
    sum of VmRSS (and of Pss) over all processes of the server, per session.

Rates are medians of BENCH_ROUNDS (3) rounds alternating between the servers. Nothing
here fails on a number. Needs root for Dovecot; without it only mailgwd is measured.
"""
import imaplib
import os
import pathlib
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_pop3s as bp  # noqa: E402  (sets up sys.path and MGW_BIN)

import gate  # noqa: E402
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402

ROUNDS = bp.ROUNDS
N_SMALL = int(os.environ.get("BENCH_IMAP_SMALL", "2000"))
N_BIG = int(os.environ.get("BENCH_IMAP_BIG", "50"))
N_SELECT = int(os.environ.get("BENCH_IMAP_SELECT", "10000"))
N_IDLE = int(os.environ.get("BENCH_IMAP_IDLE", "100"))
PER_USER = 10  # both servers' logged-in sessions per user (dovecot: mail_max_userip_connections)
SMTP_CONNS = 4
CIPHER_SECS = "1"  # per round, beside the FETCHes
DOMAIN = gate.DOMAIN
# Who holds what: joe 2,000 x 4 KiB, ann 50 x 1 MiB, mia 10,000 x 1 KiB.
BOXES = {"joe": (N_SMALL, 4096), "ann": (N_BIG, 1 << 20), "mia": (N_SELECT, 1024)}
IDLE_USERS = ["idle%d" % i for i in range((N_IDLE + PER_USER - 1) // PER_USER)]

DOVECOT_IMAP = """\
protocol imap {{
  mail_max_userip_connections = {per_user}
}}
"""


def password(user):
    return gate.PASSWORDS.get(user, user + " pw")


def deliver(d, user, n, size):
    """n messages of size octets to user over SMTP, SMTP_CONNS connections at once."""
    host, port = d.addr("smtp")
    errors = []

    def worker(k):
        try:
            with smtplib.SMTP(host, port, timeout=120) as s:
                for i in range(k, n, SMTP_CONNS):
                    s.sendmail("sender@example.org", ["%s@%s" % (user, DOMAIN)],
                               gate.message(i + 1, size))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(SMTP_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def session(addr, ctx, user):
    m = imaplib.IMAP4_SSL(addr[0], addr[1], ssl_context=ctx, timeout=300)
    m.login("%s@%s" % (user, DOMAIN), password(user))
    return m


def cpu_s(pid):
    """CPU seconds of pid, its descendants and all their threads (schedstat, ns)."""
    ns = 0
    for p in bp.tree(pid):
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    ns += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return ns / 1e9


def fetch_all(addr, ctx, user, n, pid):
    """FETCH 1:* (BODY.PEEK[]) in user's INBOX: (messages/s, MB/s, the server's CPU time
    and the client's, as shares of the wall time, and MB per second of the server's CPU
    time). A client share near 1 means the client, not the server, set the pace."""
    m = session(addr, ctx, user)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and int(data[0]) == n, (typ, data)
    c0, p0, t0 = cpu_s(pid), time.process_time(), time.perf_counter()
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    dt = time.perf_counter() - t0
    cpu, client = cpu_s(pid) - c0, time.process_time() - p0
    m.logout()
    bodies = [x[1] for x in data if isinstance(x, tuple)]
    assert typ == "OK" and len(bodies) == n, (typ, len(bodies))
    octets = sum(len(b) for b in bodies)
    return n / dt, octets / dt / 1e6, cpu / dt, client / dt, octets / cpu / 1e6


def select_time(addr, ctx, user, n):
    m = session(addr, ctx, user)
    t0 = time.perf_counter()
    typ, data = m.select("INBOX")
    dt = time.perf_counter() - t0
    m.logout()
    assert typ == "OK" and int(data[0]) == n, (typ, data)
    return dt


def idle_memory(addr, ctxs, pid):
    """(KB of VmRSS, KB of Pss, processes) added per idle logged-in session."""
    for user in IDLE_USERS:  # first logins (folders created) before the baseline
        session(addr, ctxs[user], user).logout()
    time.sleep(1)
    rss0, pss0, np0 = bp.mem_kb(pid)
    held = []
    for i in range(N_IDLE):
        user = IDLE_USERS[i // PER_USER]
        m = session(addr, ctxs[user], user)
        typ, _ = m.select("INBOX")
        assert typ == "OK"
        held.append(m)
    time.sleep(1)
    rss1, pss1, np1 = bp.mem_kb(pid)
    for m in held:
        m.logout()
    return (rss1 - rss0) / N_IDLE, (pss1 - pss0) / N_IDLE, np1 - np0


def login_ok(addr, ctx, user):
    try:
        session(addr, ctx, user).logout()
        return True
    except (OSError, imaplib.IMAP4.error, imaplib.IMAP4.abort):
        return False


def aes_gcm_rate(out, name, secs=CIPHER_SECS, prog="cipher_speed"):
    """mbedTLS's encryption rate of cipher name here, MB per second of CPU time (10^6),
    or 0 if not built. prog cipher_speed_stock: the stock mbedTLS's own AES-GCM."""
    speed = os.path.join(out, "host", "tests", prog)
    if not os.path.exists(speed):
        return 0.0
    for line in subprocess.run([speed, secs, name], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        cipher, rate = line.split()
        if cipher == name:
            return float(rate) / 1e6
    return 0.0


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-imap-"))
    pki = PKI(tmp / "pki")
    for u in IDLE_USERS:
        pki.user[u] = pki.ca.issue(u, "/CN=%s@%s" % (u, DOMAIN), "email:%s@%s" % (u, DOMAIN))
    d = Daemon(tmp / "d", asan=False)
    d.prog = os.path.join(os.environ["MGW_BIN"], "mailgwd")
    gate.install_tls(d, pki, crl=pki.ca.crl(str(tmp / "crl.pem"), revoked=[pki.user["rev"]]))
    for u in list(BOXES) + ["rev"] + IDLE_USERS:
        gate.add_user(d, u, password(u))
    t = gate.tls_dir(d)
    limit = N_IDLE + 40
    d.write_conf("[tls]\ncert = %s/server.crt\nkey = %s/server.key\nca = %s/ca.crt\n"
                 "crl = %s/crl.pem\n[imaps]\nlisten = 127.0.0.1:0\nmax_connections = %d\n"
                 "max_per_address = %d\nrate = 1000000\n[smtp]\nlisten = 127.0.0.1:0\n"
                 "postmaster = joe@%s\ngreeting_delay = 0\nmax_connections = 16\n"
                 "quota = 0\n" % (t, t, t, t, limit, limit, DOMAIN))
    ctxs = {u: gate.client_ctx(pki, pki.user[u]) for u in list(BOXES) + IDLE_USERS}
    d.start()
    dv = None
    try:
        for user, (n, size) in BOXES.items():
            t0 = time.perf_counter()
            deliver(d, user, n, size)
            print("delivered %d x %d octets to %s over SMTP in %.1f s" % (
                n, size, user, time.perf_counter() - t0))
        names = ["mailgwd"]
        if os.geteuid() == 0 and os.path.exists(bp.DOVECOT):
            # The Maildirs as mailgwd wrote them, before any IMAP session touched them.
            dv = bp.Dovecot(tmp / "dovecot", d, proto="imap", limit=2 * N_IDLE + 50,
                            extra=DOVECOT_IMAP.format(per_user=PER_USER))
            dv.start()
            names.append("dovecot")
        else:
            print("Dovecot not measured (needs root and %s: make bench-deps)" % bp.DOVECOT)
        addrs = {"mailgwd": d.addr("imaps")}
        pids = {"mailgwd": d.proc.pid}
        if dv:
            addrs["dovecot"], pids["dovecot"] = ("127.0.0.1", dv.port), dv.proc.pid
        suites = {n: bp.describe(addrs[n], ctxs["joe"]) for n in names}
        # The suite mailgwd negotiated with this client decides which rate is the reference.
        cipher = "aes-128-gcm" if "AES_128_GCM" in suites["mailgwd"] else "aes-256-gcm"
        gcm, gcm_stock = [], []
        for n in names:
            print("%-8s %s on %s:%d, gate check %s" % (n, suites[n], *addrs[n],
                                                       bp.gate_check(addrs[n], pki, login_ok)))
        res = {n: {k: [] for k in ("small", "big", "select", "small_cpu", "small_us",
                                   "small_client", "big_cpu", "big_client", "big_per_cpu")}
               for n in names}
        first = {n: select_time(addrs[n], ctxs["mia"], "mia", N_SELECT) for n in names}
        for r in range(ROUNDS):
            for n in (names if r % 2 == 0 else names[::-1]):
                rate, _, cpu, client, _ = fetch_all(addrs[n], ctxs["joe"], "joe", N_SMALL,
                                                    pids[n])
                res[n]["small"].append(rate)
                res[n]["small_cpu"].append(cpu)
                res[n]["small_us"].append(1e6 * cpu / rate)  # CPU microseconds per message
                res[n]["small_client"].append(client)
                _, rate, cpu, client, per_cpu = fetch_all(addrs[n], ctxs["ann"], "ann", N_BIG,
                                                          pids[n])
                res[n]["big"].append(rate)
                res[n]["big_per_cpu"].append(per_cpu)
                res[n]["big_cpu"].append(cpu)
                res[n]["big_client"].append(client)
                res[n]["select"].append(select_time(addrs[n], ctxs["mia"], "mia", N_SELECT))
            # The reference measured in every round, under the same load as the FETCHes.
            gcm.append(aes_gcm_rate(bp.OUT, cipher))
            gcm_stock.append(aes_gcm_rate(bp.OUT, cipher, prog="cipher_speed_stock"))
        mem = {n: idle_memory(addrs[n], ctxs, pids[n]) for n in names}
    except Exception:
        bp.show_logs(d, dv)
        raise
    finally:
        bp.stop_both(d, dv)
    gcm = statistics.median(gcm)
    gcm_stock = statistics.median(gcm_stock)
    if not gcm or not gcm_stock:
        print("(cipher_speed or cipher_speed_stock not built: make bench builds them)")

    med = {n: {k: statistics.median(v) for k, v in res[n].items()} for n in names}
    other = names[1] if len(names) > 1 else None

    def row(label, a, b, unit, note="mailgwd/dovecot"):
        print("%-44s %10s %10s %8s   (%s; %s)" % (
            label, "%.4g" % a, "%.4g" % b if other else "-", bp.ratio(a, b) if other else "-",
            unit, note))

    print("\nmedians of %d rounds (same client: Python imaplib, TLS 1.3)" % ROUNDS)
    print("%-44s %10s %10s %8s" % ("", "mailgwd", "dovecot", "ratio"))
    get = (lambda k: med[other][k]) if other else (lambda k: 0)
    row("FETCH %d x 4 KiB, BODY.PEEK[]" % N_SMALL, med["mailgwd"]["small"], get("small"),
        "messages/s", "mailgwd/dovecot, goal >= 1.5")
    row("  server CPU / wall time", med["mailgwd"]["small_cpu"], get("small_cpu"), "share")
    # CPU time per message: what the server spends, whatever else ran on the machine.
    row("  server CPU per message", med["mailgwd"]["small_us"], get("small_us"), "us",
        "lower is better")
    row("  messages per server CPU second", 1e6 / med["mailgwd"]["small_us"],
        1e6 / get("small_us") if other else 0, "messages/s of CPU time",
        "mailgwd/dovecot, goal >= 1.5")
    row("  client CPU / wall time", med["mailgwd"]["small_client"], get("small_client"),
        "share", "the Python client")
    row("FETCH %d x 1 MiB, BODY.PEEK[]" % N_BIG, med["mailgwd"]["big"], get("big"), "MB/s")
    row("  server CPU / wall time", med["mailgwd"]["big_cpu"], get("big_cpu"), "share")
    row("  MB per server CPU second", med["mailgwd"]["big_per_cpu"], get("big_per_cpu"),
        "MB/s of CPU time")
    row("  client CPU / wall time", med["mailgwd"]["big_client"], get("big_client"),
        "share", "the Python client")
    row("SELECT of %d messages, first" % N_SELECT, first["mailgwd"],
        first[other] if other else 0, "s", "lower is better")
    row("SELECT of %d messages, later" % N_SELECT, med["mailgwd"]["select"], get("select"), "s",
        "lower is better")
    a, b = mem["mailgwd"], mem[other] if other else (0, 0, 0)
    row("memory per idle logged-in session, RSS", a[0], b[0], "KB, sum of VmRSS",
        "goal <= 64 KiB for mailgwd")
    row("memory per idle logged-in session, PSS", a[1], b[1], "KB, sum of Pss")
    print("processes added for %d idle sessions: mailgwd %d%s" % (
        N_IDLE, a[2], ", dovecot %d" % b[2] if other else ""))
    # The goal's reference, twice: the AES-GCM of mbedTLS as built here (ours,
    # firmware/lib/tls/gcm) and the stock mbedTLS's own, measured beside it.
    for label, rate in (("mbedTLS as built here (our AES-GCM)", gcm),
                        ("stock mbedTLS (its own AES-GCM)", gcm_stock)):
        print("large FETCH against %s %s (%.0f MB per CPU second, one core):"
              " mailgwd %s per CPU second%s   (goal >= 0.8 for mailgwd)" % (
                  label, cipher, rate, bp.ratio(med["mailgwd"]["big_per_cpu"], rate),
                  ", dovecot (OpenSSL) %s" % bp.ratio(get("big_per_cpu"), rate) if other
                  else ""))
        print("  the same in wall-clock MB/s: mailgwd %s with %.2f of a core%s" % (
            bp.ratio(med["mailgwd"]["big"], rate), med["mailgwd"]["big_cpu"],
            ", dovecot %s with %.2f" % (bp.ratio(get("big"), rate), get("big_cpu")) if other
            else ""))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
