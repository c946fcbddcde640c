#!/usr/bin/python3
"""bench_tls.py - TLS cost on the server: mailgwd (mbedTLS) against Dovecot (OpenSSL), in
one run.

    python3 tests/bench/bench_tls.py [OUTPUT_DIR]       (make bench)

1. Server CPU per full mutual-TLS 1.3 handshake (no resumption; the client certificate
   verified against CA + CRL; the POP3 greeting read, so the server has finished its
   part): ECDSA P-256 and RSA-2048 server keys, X25519 and P-256 key exchange. The same
   client for both servers (Python's ssl, its offered groups restricted through an
   OPENSSL_CONF file, Groups = ..., in a child process), the same certificates, CA, CRL.
   CPU = utime + stime from /proc/PID/stat of every process of the server, plus the
   cutime + cstime of reaped children (Dovecot forks a pop3-login process per
   connection, service_count = 1, and that fork is part of its cost), before and after
   BENCH_TLS_HANDSHAKES handshakes, divided by their number. Medians of BENCH_ROUNDS
   rounds alternating between the servers. The client sends the office CA after its
   certificate (OpenSSL's automatic chain, as fetchmail and curl); BENCH_TLS_CLIENT=leaf
   makes it send its certificate alone. The negotiated group and suite are shown
   from `openssl s_client` for each case.
2. Bulk AEAD rates (16 KiB records): mbedTLS as built here (output/host/tests/
   cipher_speed; AES-GCM is ours, firmware/lib/tls/gcm, and so are ChaCha20 and Poly1305,
   firmware/lib/tls/chacha), the stock mbedTLS with its own (cipher_speed_stock), our
   portable AES-GCM and ChaCha20 paths forced (MAILGW_GCM_PORTABLE=1,
   MAILGW_CHACHA_PORTABLE=1), against `openssl speed -evp` on the same machine, in the
   same run.
3. ChaCha20-Poly1305 of the aarch64 and armhf builds (output/{a64,armhf}/tests/
   cipher_speed and cipher_speed_stock, static) under qemu-aarch64 -cpu cortex-a72 and
   qemu-arm -cpu cortex-a15: ours (its SIMD path, then the portable one forced) against
   the stock mbedTLS. Emulated: only the ratios mean something, and only roughly.
4. Whether the hardware AES code is in the built binaries: AES-NI (x86-64: mbedTLS's
   aesni functions, our GCM's x86 path, aesenc/pclmulqdq instructions) in the host build,
   the Armv8 crypto extension (MBEDTLS_AESCE_C: aesce functions, our GCM's arm64 path,
   aese/pmull instructions) in the board builds found under OUTPUT_DIR/boards (built only
   by `make system-images`).

Dovecot: bench_pop3s.py's throwaway instance (the reference article's configuration,
dovecot -F -c FILE, as root). Without root or Dovecot only mailgwd is measured. Nothing
here fails on a number.
"""
import glob
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_pop3s as bp  # noqa: E402  (sets up sys.path and MGW_BIN)

import gate  # noqa: E402
from mgw import Daemon  # noqa: E402
from pki import PKI  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
N = int(os.environ.get("BENCH_TLS_HANDSHAKES", "150"))
CIPHER_SECS = os.environ.get("BENCH_CIPHER_SECONDS", "2")
TICK = os.sysconf("SC_CLK_TCK")
GROUPS = (("X25519", "X25519"), ("P-256", "P-256"))

# The client loop, in a child so that its OPENSSL_CONF (the offered groups) applies.
CLIENT = r"""
import socket, ssl, sys
host, port, n, ca, crt, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
if ca == "-":
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
else:
    ctx.load_verify_locations(ca)
ctx.load_cert_chain(crt, key)
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
    if not s.recv(100).startswith(b"+OK"):
        sys.exit("no greeting")
    s.close()
"""

OPENSSL_CONF = """openssl_conf = conf
[conf]
ssl_conf = ssl
[ssl]
system_default = sys
[sys]
Groups = {groups}
"""


def cpu_ticks(pid):
    """utime+stime of pid and its live descendants, plus the cutime+cstime of each (the
    children they have reaped, which are no longer in the tree)."""
    total = 0
    for p in bp.tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total


def handshake_cpu_ms(addr, pid, client_args, env):
    """Server CPU ms per handshake over N handshakes."""
    time.sleep(0.3)  # let the previous round's children be reaped
    c0 = cpu_ticks(pid)
    subprocess.run([sys.executable, "-c", CLIENT, addr[0], str(addr[1]), str(N)] + client_args,
                   env=env, check=True, timeout=600)
    time.sleep(0.3)
    return (cpu_ticks(pid) - c0) * 1000.0 / TICK / N


def negotiated(addr, groups, pki):
    """(group, suite) of one handshake, as openssl s_client reports them."""
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % addr, "-groups", groups,
                        "-cert", pki.user["joe"].crt, "-key", pki.user["joe"].key,
                        "-CAfile", pki.ca.crt, "-brief"], input=b"", capture_output=True,
                       timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    g = re.search(r"(?:Server Temp Key|Peer Temp Key): ([^\n]+)", out)
    c = re.search(r"Ciphersuite: (\S+)", out)
    group = re.sub(r",? *\d+ bits$", "", g.group(1)).replace(",", "") if g else "?"
    return (group, c.group(1) if c else "?")


def openssl_speed(name):
    r = subprocess.run(["openssl", "speed", "-evp", name, "-bytes", "16384", "-seconds",
                        CIPHER_SECS, "-mr"], capture_output=True, text=True, timeout=120)
    m = re.search(r"^\+F:\d+:[^:]+:([\d.]+)", r.stdout, re.M)
    return float(m.group(1)) if m else 0.0


def count(cmd, pattern):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    except (OSError, subprocess.TimeoutExpired):
        return -1
    return len(re.findall(pattern, out, re.M))


def elf_machine(path):
    """The ELF e_machine of path as a name (little-endian ELF, as all our targets)."""
    with open(path, "rb") as f:
        head = f.read(20)
    machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else -1
    return {62: "x86-64", 183: "aarch64", 40: "arm"}.get(machine, "unknown")


def hw_aes_report(out):
    """One line per built mailgwd: are the hardware AES functions and instructions in?"""
    lines = []
    host = os.path.join(out, "host", "bin", "mailgwd")
    if os.path.exists(host):
        # mbedTLS's AES-NI (its AES, used by our portable GCM path and elsewhere; its
        # gcm_mult stays unused) and our GCM's AES-NI + PCLMULQDQ path
        syms = count(["nm", host], r" T mbedtls_aesni_(crypt_ecb|gcm_mult|has_support)$")
        ours = count(["nm", host], r" [RD] gcm_ops_x86$")
        ins = count(["objdump", "-d", host], r"\s(aesenc|aesenclast)\s")
        pcl = count(["objdump", "-d", host], r"\spclmul\w*\s")
        lines.append("host (x86-64) %s: AES-NI %s (%d aesni functions, our AES-GCM's AES-NI "
                     "path %s, %d aesenc, %d pclmul)"
                     % (host, "compiled in" if syms == 3 and ins and pcl else "MISSING",
                        syms, "in" if ours == 1 else "MISSING", ins, pcl))
    for b in sorted(glob.glob(os.path.join(out, "boards", "*", "target", "bin", "mailgwd"))):
        board = b.split(os.sep)[-4]
        arch = elf_machine(b)
        if arch == "aarch64":
            syms = count(["aarch64-linux-gnu-nm", b],
                         r" T mbedtls_aesce_(crypt_ecb|gcm_mult|has_support\w*)$")
            ours = count(["aarch64-linux-gnu-nm", b], r" [RD] gcm_ops_arm64$")
            ins = count(["aarch64-linux-gnu-objdump", "-d", b], r"\saese\s")
            pm = count(["aarch64-linux-gnu-objdump", "-d", b], r"\spmull2?\s")
            lines.append("%s (aarch64): Armv8 crypto extension (AESCE) %s (%d aesce functions, "
                         "our AES-GCM's AESE/PMULL path %s, %d aese, %d pmull)" % (
                             board, "compiled in" if syms >= 3 and ins and pm else "MISSING",
                             syms, "in" if ours == 1 else "MISSING", ins, pm))
        else:
            lines.append("%s (%s): no hardware AES in mbedTLS for this architecture (software "
                         "AES tables; our AES-GCM's portable path)" % (board, arch))
    return lines


def main():
    out = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else bp.OUT
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-tls-"))
    pki = PKI(tmp / "pki")
    joe = pki.user["joe"]
    # OpenSSL sends the chain it can build from its trust store, here the office CA
    # after joe's certificate, as fetchmail and curl do; with BENCH_TLS_CLIENT=leaf the
    # client has no trust store and sends its certificate alone (as NSS-based clients,
    # e.g. Thunderbird, do), and does not verify the server.
    leaf = os.environ.get("BENCH_TLS_CLIENT", "chain") == "leaf"
    print("client sends: %s" % ("its certificate alone" if leaf
                                else "its certificate and the office CA (OpenSSL's chain)"))
    client_args = ["-" if leaf else pki.ca.crt, joe.crt, joe.key]
    envs = {}
    for label, groups in GROUPS:
        path = tmp / ("openssl-%s.cnf" % label)
        path.write_text(OPENSSL_CONF.format(groups=groups))
        envs[label] = dict(os.environ, OPENSSL_CONF=str(path))
    use_dovecot = os.geteuid() == 0 and os.path.exists(bp.DOVECOT)
    if not use_dovecot:
        print("Dovecot not measured (needs root and %s: make bench-deps)" % bp.DOVECOT)
    names = ["mailgwd"] + (["dovecot"] if use_dovecot else [])
    res = {}
    for keyname, server in (("P-256", pki.server), ("RSA-2048", pki.server_rsa)):
        d = Daemon(tmp / ("d-" + keyname), asan=False)
        d.prog = os.path.join(os.environ["MGW_BIN"], "mailgwd")
        gate.install_tls(d, pki, server=server)
        gate.add_user(d, "joe")
        d.write_conf(gate.tls_conf(d, extra_pop3s="rate = 1000000\n"))
        gate.deliver(d, "joe", gate.message(1))
        dv = bp.Dovecot(tmp / ("dovecot-" + keyname), d) if use_dovecot else None
        d.start()
        addrs, pids = {"mailgwd": d.addr("pop3s")}, {"mailgwd": d.proc.pid}
        try:
            if dv:
                dv.start()
                addrs["dovecot"], pids["dovecot"] = ("127.0.0.1", dv.port), dv.proc.pid
            for glabel, groups in GROUPS:
                for n in names:
                    print("%-8s %-8s key, %-6s offered: negotiated %s, %s" % (
                        n, keyname, glabel, *negotiated(addrs[n], groups, pki)))
                for r in range(ROUNDS):
                    for n in (names if r % 2 == 0 else names[::-1]):
                        res.setdefault((keyname, glabel, n), []).append(
                            handshake_cpu_ms(addrs[n], pids[n], client_args, envs[glabel]))
        except Exception:
            bp.show_logs(d, dv)
            raise
        finally:
            bp.stop_both(d, dv)

    print("\nserver CPU per full mutual-TLS 1.3 handshake, ms (median of %d rounds of %d; "
          "Dovecot: all its processes, the per-connection login fork included)" % (ROUNDS, N))
    print("%-28s %10s %10s %8s" % ("server key, key exchange", "mailgwd", "dovecot", "ratio"))
    for keyname in ("P-256", "RSA-2048"):
        for glabel, _ in GROUPS:
            a = statistics.median(res[(keyname, glabel, "mailgwd")])
            b = statistics.median(res[(keyname, glabel, "dovecot")]) if use_dovecot else 0
            print("%-28s %10.2f %10s %8s   (mailgwd/dovecot; lower is better)" % (
                "%s, %s" % (keyname, glabel), a, "%.2f" % b if b else "-", bp.ratio(a, b)))

    print("\nbulk AEAD, 16 KiB records, MB/s (10^6 bytes), one core; mbedTLS as built here "
          "(AES-GCM: ours, firmware/lib/tls/gcm; ChaCha20 and Poly1305: ours, "
          "firmware/lib/tls/chacha, %s path), the stock mbedTLS (its own), OpenSSL %s"
          % (chacha_path(out), openssl_version()))
    print("%-28s %10s %10s %10s %8s %8s" % ("", "mbedTLS", "stock", "OpenSSL", "ratio",
                                            "stock"))
    mine = cipher_rates(out, "cipher_speed")
    stock = cipher_rates(out, "cipher_speed_stock")
    portable = cipher_rates(out, "cipher_speed", "aes-128-gcm", MAILGW_GCM_PORTABLE="1")
    for name in ("aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"):
        a, st, b = mine.get(name, 0.0), stock.get(name, 0.0), openssl_speed(name)
        print("%-28s %10.0f %10.0f %10.0f %8s %8s   (mbedTLS/OpenSSL, stock/OpenSSL)" % (
            name, a / 1e6, st / 1e6, b / 1e6, bp.ratio(a, b), bp.ratio(st, b)))
    a = portable.get("aes-128-gcm", 0.0)
    print("%-28s %10.0f %10s %10s %8s %8s   (our portable path, forced: what a CPU without "
          "AES instructions runs; ours/stock)" % ("aes-128-gcm, portable", a / 1e6, "", "",
                                                   "", bp.ratio(a, stock.get("aes-128-gcm", 0))))
    a = cipher_rates(out, "cipher_speed", "chacha20-poly1305",
                     MAILGW_CHACHA_PORTABLE="1").get("chacha20-poly1305", 0.0)
    print("%-28s %10.0f %10s %10s %8s %8s   (our portable ChaCha20 path, forced: a CPU "
          "without SIMD; ours/stock)" % ("chacha20-poly1305, portable", a / 1e6, "", "", "",
                                         bp.ratio(a, stock.get("chacha20-poly1305", 0))))
    emulated(out)
    print("\nhardware AES in the builds (CPU here: %s)" % cpu_aes())
    for line in hw_aes_report(out):
        print("  " + line)
    shutil.rmtree(tmp, ignore_errors=True)


def cipher_rates(out, prog, only=None, **env):
    """{cipher: bytes per CPU second} from OUT/host/tests/PROG (cipher_speed.c)."""
    speed = os.path.join(out, "host", "tests", prog)
    if not os.path.exists(speed):
        print("(%s not built: make bench builds it)" % speed)
        return {}
    rates = {}
    r = subprocess.run([speed, CIPHER_SECS] + ([only] if only else []), capture_output=True,
                       text=True, check=True, env=dict(os.environ, **env))
    for line in r.stdout.splitlines():
        name, rate = line.split()
        rates[name] = float(rate)
    return rates


# The boards without AES instructions, emulated: (build, qemu-user command line, what it is).
EMULATED = (("a64", ["qemu-aarch64", "-cpu", "cortex-a72"], "aarch64, QEMU's Cortex-A72"),
            ("armhf", ["qemu-arm", "-cpu", "cortex-a15"], "armhf, QEMU's Cortex-A15"))


def emulated(out):
    """ChaCha20-Poly1305 of the aarch64 and armhf builds under qemu-user: ours (the SIMD
    path the emulated CPU has, then the portable one forced) against the stock mbedTLS.
    Emulation: the rates say nothing of the boards' speed, the ratios only roughly how
    much less work ours does."""
    print("\nChaCha20-Poly1305 under emulation (qemu-user, 16 KiB records, MB per second of "
          "qemu's CPU time; only the ratios mean something)")
    print("%-48s %10s %10s %10s %8s %8s" % ("", "ours", "portable", "stock", "ratio",
                                            "portable"))
    for build, qemu, what in EMULATED:
        progs = [os.path.join(out, build, "tests", p) for p in ("cipher_speed",
                                                                 "cipher_speed_stock")]
        if not all(os.path.exists(p) for p in progs) or not shutil.which(qemu[0]):
            print("%-48s (not built or no %s: make bench builds them)" % (what, qemu[0]))
            continue
        rates, paths = [], []
        for prog, env in ((progs[0], {}), (progs[0], {"MAILGW_CHACHA_PORTABLE": "1"}),
                          (progs[1], {})):
            r = subprocess.run(qemu + [prog, CIPHER_SECS, "chacha20-poly1305"],
                               capture_output=True, text=True, check=True,
                               env=dict(os.environ, **env), timeout=300)
            rates.append(float(r.stdout.split()[1]))
            m = re.search(r"ChaCha20: mailgw's, (\S+) path", r.stderr)
            paths.append(m.group(1) if m else "stock")
        print("%-48s %10.0f %10.0f %10.0f %8s %8s   (ours/stock, portable/stock)" % (
            "%s, %s path" % (what, paths[0]), rates[0] / 1e6, rates[1] / 1e6, rates[2] / 1e6,
            bp.ratio(rates[0], rates[2]), bp.ratio(rates[1], rates[2])))


def chacha_path(out):
    """The ChaCha20 path cipher_speed takes on this CPU (it says so on stderr)."""
    speed = os.path.join(out, "host", "tests", "cipher_speed")
    try:
        r = subprocess.run([speed, "0.01", "none"], capture_output=True, text=True, timeout=60)
    except OSError:
        return "?"
    m = re.search(r"ChaCha20: mailgw's, (\S+) path", r.stderr)
    return m.group(1) if m else "?"


def openssl_version():
    return subprocess.run(["openssl", "version"], capture_output=True,
                          text=True).stdout.split()[1]


def cpu_aes():
    with open("/proc/cpuinfo") as f:
        flags = set(re.search(r"^flags\s*:(.*)$", f.read(), re.M).group(1).split())
    return "aes %s, pclmulqdq %s" % ("yes" if "aes" in flags else "no",
                                     "yes" if "pclmulqdq" in flags else "no")


if __name__ == "__main__":
    main()
