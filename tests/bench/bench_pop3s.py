#!/usr/bin/python3
"""bench_pop3s.py - the certificate gate of mailgwd against Dovecot's POP3S, in one run.

    python3 tests/bench/bench_pop3s.py [OUTPUT_DIR]       (make bench)

Measures, for mailgwd (host build, output/host/bin/mailgwd) and for a throwaway Dovecot
instance (Debian's dovecot-core + dovecot-pop3d), with the same client (Python's ssl +
poplib, TLS 1.3, the same user certificate), the same server certificate and key (ECDSA
P-256), the same CA + CRL, the same {SHA512-CRYPT} password hash and the same 20 MiB
message in a Maildir:

  - full mutual-TLS handshakes + greeting per second (no resumption),
  - login (USER/PASS) + STAT + QUIT sessions per second, each on a new TLS connection,
  - RETR throughput of the 20 MiB message,
  - memory per idle TLS connection (handshake done, greeting read, no login), over
    BENCH_IDLE (default 16, mailgwd's per-address limit) connections held at once.

Dovecot is configured the way the reference article does it (implicit TLS POP3,
ssl = required, client certificate verified against the CA + CRL file and required for
authentication; dovecot 2.3 names) and runs with its own base_dir and config file
(dovecot -F -c FILE, tests/integration/dovecot_instance.py) as root dropping to
dovenull/dovecot for the login processes and to nobody for mail access, like mailgwd
drops to nobody. The system's dovecot config and service are never touched.

Memory: mailgwd is one process; its VmRSS growth is counted. Dovecot forks a pop3-login
process per connection (high-security mode, service_count = 1), so the sum of VmRSS of
all processes of the instance is counted (the master and its children), and also the
sum of Pss (proportional set size, shared pages divided among the sharers), which is
fairer to forked processes; both are divided by the number of added idle connections.

The rates are medians of BENCH_ROUNDS (default 3) rounds alternating between the two
servers (the machine may be shared). Nothing here fails on a number. Needs root for
Dovecot; without it only mailgwd is measured.
"""
import os
import pathlib
import poplib
import pwd
import shutil
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(TOP, "output")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("MGW_BIN", os.path.join(OUT, "host", "bin"))

import dovecot_instance  # noqa: E402
import gate  # noqa: E402
from dovecot_instance import DOVECOT  # noqa: E402,F401  (bench_imap.py, bench_tls.py)
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
N_HANDSHAKES = int(os.environ.get("BENCH_HANDSHAKES", "200"))
N_SESSIONS = int(os.environ.get("BENCH_SESSIONS", "50"))
# mailgwd refuses a 17th connection from one address ([pop3s] max_per_address),
# and the client is 127.0.0.1 only: the idle connections are 16 for both servers.
N_IDLE = int(os.environ.get("BENCH_IDLE", "16"))
BIG = 20 * 1024 * 1024
USER = "joe@example.test"

# The reference article's settings in dovecot 2.3 names (ssl_disable = no -> ssl =
# required; ssl_ca_file -> ssl_ca; ssl_require_client_cert -> auth_ssl_require_client_cert).
DOVECOT_CONF = """\
protocols = {proto}
ssl = required
ssl_cert = <{tls}/server.crt
ssl_key = <{tls}/server.key
ssl_ca = <{dir}/ca+crl.pem
ssl_require_crl = yes
ssl_verify_client_cert = yes
auth_ssl_require_client_cert = yes
ssl_min_protocol = TLSv1.3
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = username_format=%n {dir}/domains/%d/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {dir}/domains/%d/passwd
  default_fields = uid={uid} gid={gid} home={dir}/mail/%d/%n
}}
mail_location = maildir:~/Maildir
service {proto}-login {{
  inet_listener {proto} {{
    port = 0
  }}
  inet_listener {proto}s {{
    port = {port}
    ssl = yes
  }}
  service_count = 1
  process_limit = {limit}
}}
service {proto} {{
  process_limit = {limit}
}}
{extra}"""


def proc_kb(pid, key, name="status"):
    try:
        with open("/proc/%d/%s" % (pid, name)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def mem_kb(pid):
    """(sum of VmRSS, sum of Pss) over pid and its descendants, in KB."""
    pids = tree(pid)
    return (sum(proc_kb(p, "VmRSS") for p in pids),
            sum(proc_kb(p, "Pss", "smaps_rollup") for p in pids), len(pids))


class Dovecot(dovecot_instance.Dovecot):
    def __init__(self, root, d, proto="pop3", limit=N_IDLE * 2 + 50, extra=""):
        """A throwaway instance under root with copies of d's passwd-file and Maildir,
        serving proto ("pop3" or "imap") over implicit TLS; extra is added to the
        configuration. Not started yet (start())."""
        super().__init__(root)
        tls = gate.tls_dir(d)
        with open(os.path.join(self.dir, "ca+crl.pem"), "w") as f:
            for name in ("ca.crt", "crl.pem"):
                with open(os.path.join(tls, name)) as g:
                    f.write(g.read().rstrip("\n") + "\n")
        shutil.copytree(os.path.join(d.data, "etc", "domains"), os.path.join(self.dir, "domains"))
        shutil.copytree(os.path.join(d.data, "mail"), os.path.join(self.dir, "mail"), symlinks=True)
        pw = self.mail_user
        self.configure(DOVECOT_CONF.format(dir=self.dir, tls=tls, port=self.port, uid=pw.pw_uid,
                                           gid=pw.pw_gid, limit=limit, proto=proto, extra=extra))
        # Dovecot's auth process (default_internal_user) reads the copied passwd-files.
        self.own(os.path.join(self.dir, "domains"), pwd.getpwnam("dovecot"))
        self.own(os.path.join(self.dir, "mail"), pw)


def handshakes(addr, ctx, n):
    host, port = addr
    t0 = time.perf_counter()
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
        s.recv(100)
        s.close()
    return n / (time.perf_counter() - t0)


def sessions(addr, ctx, n):
    host, port = addr
    t0 = time.perf_counter()
    for _ in range(n):
        p = poplib.POP3_SSL(host, port, context=ctx)
        p.user(USER)
        p.pass_(gate.PASSWORDS["joe"])
        p.stat()
        p.quit()
    return n / (time.perf_counter() - t0)


def retr(addr, ctx, size):
    host, port = addr
    p = poplib.POP3_SSL(host, port, context=ctx)
    p.user(USER)
    p.pass_(gate.PASSWORDS["joe"])
    t0 = time.perf_counter()
    resp, lines, octets = p.retr(1)
    dt = time.perf_counter() - t0
    p.quit()
    got = b"\r\n".join(lines) + b"\r\n"
    if len(got) != size:
        print("  warning: RETR returned %d octets, expected %d" % (len(got), size))
    return size / dt / 2**20


def idle_memory(addr, ctx, pid, n):
    """KB per added idle TLS connection: (VmRSS sum, Pss sum, processes added)."""
    host, port = addr
    time.sleep(0.5)
    rss0, pss0, np0 = mem_kb(pid)
    conns = []
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
        s.recv(100)
        conns.append(s)
    time.sleep(0.5)
    rss1, pss1, np1 = mem_kb(pid)
    for s in conns:
        s.close()
    return (rss1 - rss0) / n, (pss1 - pss0) / n, np1 - np0


def describe(addr, ctx):
    host, port = addr
    s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    s.recv(100)
    v, c = s.version(), s.cipher()[0]
    s.close()
    return "%s %s" % (v, c)


def login_ok(addr, ctx, user):
    """True if a login with user's password over this context succeeds."""
    host, port = addr
    try:
        p = poplib.POP3_SSL(host, port, context=ctx, timeout=10)
        p.user(user + "@example.test")
        p.pass_(gate.PASSWORDS[user])
        p.quit()
        return True
    except (OSError, poplib.error_proto):
        return False


def gate_check(addr, pki, login=login_ok):
    """Both servers must be the same gate: joe gets in; no certificate, the revoked
    certificate (rev, on the CRL) and a certificate of another CA do not. login(addr,
    ctx, user) says whether a login succeeds (POP3 here, IMAP in bench_imap.py)."""
    got = {"joe": login(addr, gate.client_ctx(pki, pki.user["joe"]), "joe"),
           "no certificate": login(addr, gate.client_ctx(pki), "joe"),
           "revoked": login(addr, gate.client_ctx(pki, pki.user["rev"]), "rev"),
           "foreign CA": login(addr, gate.client_ctx(pki, pki.user["foreign"]), "joe")}
    want = {"joe": True, "no certificate": False, "revoked": False, "foreign CA": False}
    return "ok" if got == want else "NOT THE SAME GATE: %r" % got


def show_logs(d, dv):
    """The ends of both servers' logs, after a failure."""
    print("".join(l if l.endswith("\n") else l + "\n" for l in d.lines[-15:]))
    if dv:
        print(dv.log()[-3000:])


def stop_both(d, dv):
    d.stop()
    if dv:
        dv.stop()


def ratio(a, b):
    return "%.3g" % (a / b) if a and b else "-"


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-pop3s-"))
    pki = PKI(tmp / "pki")
    d = Daemon(tmp / "d", asan=False)
    d.prog = os.path.join(os.environ["MGW_BIN"], "mailgwd")
    gate.install_tls(d, pki, crl=pki.ca.crl(str(tmp / "crl.pem"), revoked=[pki.user["rev"]]))
    gate.add_user(d, "joe")
    gate.add_user(d, "rev")
    d.write_conf(gate.tls_conf(d, extra_pop3s="rate = 1000000\n"))
    big = gate.message(1, BIG)
    gate.deliver(d, "joe", big)
    ctx = gate.client_ctx(pki, pki.user["joe"])

    names = ["mailgwd"]
    dv = None
    if dovecot_instance.available():
        dv = Dovecot(tmp / "dovecot", d)
        names.append("dovecot")
    else:
        print("Dovecot not measured (needs root and %s: make bench-deps)" % DOVECOT)
    d.start()
    addrs = {"mailgwd": d.addr("pop3s")}
    pids = {"mailgwd": d.proc.pid}
    try:
        if dv:
            dv.start()
            addrs["dovecot"] = ("127.0.0.1", dv.port)
            pids["dovecot"] = dv.proc.pid
        for n in names:
            print("%-8s %s on %s:%d, gate check %s" % (n, describe(addrs[n], ctx), *addrs[n],
                                                       gate_check(addrs[n], pki)))
        res = {n: {"hs": [], "sess": [], "retr": []} for n in names}
        for r in range(ROUNDS):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                res[n]["hs"].append(handshakes(addrs[n], ctx, N_HANDSHAKES))
                res[n]["sess"].append(sessions(addrs[n], ctx, N_SESSIONS))
                res[n]["retr"].append(retr(addrs[n], ctx, len(big)))
        mem = {n: idle_memory(addrs[n], ctx, pids[n], N_IDLE) for n in names}
    except Exception:
        show_logs(d, dv)
        raise
    finally:
        stop_both(d, dv)

    med = {n: {k: statistics.median(v) for k, v in res[n].items()} for n in names}
    other = names[1] if len(names) > 1 else None
    print("\nmedians of %d rounds (same client, TLS 1.3, ECDSA P-256 server key)" % ROUNDS)
    print("%-42s %10s %10s %8s" % ("", "mailgwd", "dovecot", "ratio"))
    for key, label, unit in (("hs", "full mutual-TLS handshakes+greeting", "/s"),
                             ("sess", "login+STAT+QUIT sessions (new TLS each)", "/s"),
                             ("retr", "RETR of %d MiB" % (BIG >> 20), "MiB/s")):
        a = med["mailgwd"][key]
        b = med[other][key] if other else 0
        print("%-42s %10.1f %10s %8s   (%s; mailgwd/dovecot)" % (
            label, a, "%.1f" % b if other else "-", ratio(a, b), unit))
    a = mem["mailgwd"]
    b = mem[other] if other else None
    print("%-42s %10.1f %10s %8s   (KB; sum of VmRSS of all processes)" % (
        "memory per idle TLS connection, RSS", a[0], "%.1f" % b[0] if b else "-",
        ratio(a[0], b[0]) if b else "-"))
    print("%-42s %10.1f %10s %8s   (KB; sum of Pss of all processes)" % (
        "memory per idle TLS connection, PSS", a[1], "%.1f" % b[1] if b else "-",
        ratio(a[1], b[1]) if b else "-"))
    print("processes added for %d idle connections: mailgwd %d%s" % (
        N_IDLE, a[2], ", dovecot %d" % b[2] if b else ""))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
