"""The server's cipher preference (README "The certificate gate", cipher preference):
AES-GCM first where the CPU has AES instructions, ChaCha20-Poly1305 first where it has
not, whatever order the client lists them in, for TLS 1.3 (where mbedTLS by itself
follows the client's order) and TLS 1.2. The client is openssl s_client offering both;
the no-AES path is forced with the documented test switch MAILGWD_TEST_TLS_NO_AES=1 in
the daemon's environment (the CPU's real hwcaps are not faked)."""
import re
import ssl
import subprocess

import pytest

from gate import deliver, message
from test_pop3 import pop, start

AES13, CHACHA13 = "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"
AES12, CHACHA12 = "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"


def negotiated(d, pki, version, offer):
    """The suite s_client reports after a handshake with joe's certificate, offering the
    suites in offer (client order)."""
    host, port = d.addr("pop3s")
    args = ["-ciphersuites", ":".join(offer), "-tls1_3"] if version == "1.3" else \
        ["-cipher", ":".join(offer), "-tls1_2"]
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-brief",
                        "-cert", pki.user["joe"].crt, "-key", pki.user["joe"].key,
                        "-CAfile", pki.ca.crt, "-ign_eof"] + args, input=b"QUIT\r\n", capture_output=True,
                       timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    m = re.search(r"^Ciphersuite: (\S+)", out, re.M)
    assert m, out
    assert "+OK" in out, out  # the gate let joe in: a real session, not a refusal
    return m.group(1)


def daemon_aes(d):
    """What the daemon says it found at start."""
    line = d.wait_log(r"tls: (AES instructions in use: AES-GCM|no AES instructions in use: "
                      r"ChaCha20-Poly1305) preferred")
    return not line.split("tls: ", 1)[1].startswith("no AES")


CASES = [("1.3", (CHACHA13, AES13)), ("1.3", (AES13, CHACHA13)),
         ("1.2", (CHACHA12, AES12)), ("1.2", (AES12, CHACHA12))]


@pytest.mark.parametrize("version,offer", CASES)
def test_cpu_preference_wins_over_the_client_order(daemon, pki, version, offer):
    """On this machine's CPU: AES-GCM when it has AES instructions (x86-64 build hosts
    do), ChaCha20-Poly1305 otherwise, in both client orders."""
    d = start(daemon, pki)
    want = {"1.3": (AES13, CHACHA13), "1.2": (AES12, CHACHA12)}[version]
    assert negotiated(d, pki, version, offer) == (want[0] if daemon_aes(d) else want[1])


@pytest.mark.parametrize("version,offer", CASES)
def test_without_aes_chacha20_poly1305_is_chosen(daemon, pki, monkeypatch, version, offer):
    """The no-AES path (the Pi 4's Cortex-A72), forced by the test switch: ChaCha20-
    Poly1305 whenever the client offers it, first or second, and the daemon's log names
    the suite."""
    monkeypatch.setenv("MAILGWD_TEST_TLS_NO_AES", "1")
    d = start(daemon, pki)
    assert not daemon_aes(d)
    m = d.mark()
    got = negotiated(d, pki, version, offer)
    assert got == (CHACHA13 if version == "1.3" else CHACHA12)
    d.wait_log(r"tls [\d.:]+: TLSv1\.%s \S*CHACHA20-POLY1305" % version[-1], start=m)


def test_without_aes_a_client_without_chacha_still_gets_aes(daemon, pki, monkeypatch):
    """Preference, not a requirement: a client that offers only AES-GCM gets AES-GCM on
    the no-AES path; among AES suites our order decides (AES-128 before AES-256)."""
    monkeypatch.setenv("MAILGWD_TEST_TLS_NO_AES", "1")
    d = start(daemon, pki)
    assert negotiated(d, pki, "1.3", ("TLS_AES_256_GCM_SHA384",)) == "TLS_AES_256_GCM_SHA384"
    assert negotiated(d, pki, "1.3", ("TLS_AES_256_GCM_SHA384", AES13)) == AES13
    assert negotiated(d, pki, "1.2", ("ECDHE-ECDSA-AES256-GCM-SHA384",)) == \
        "ECDHE-ECDSA-AES256-GCM-SHA384"


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_without_aes_a_large_retr_over_chacha20_poly1305_is_byte_exact(daemon, pki, monkeypatch,
                                                                       version):
    """Whole 16 KiB records of ChaCha20-Poly1305 (our ChaCha20 and Poly1305,
    firmware/lib/tls/chacha, on the SIMD path this CPU has) and the partial ones around
    them: a 3 MiB message by RETR arrives byte for byte, Python's ssl (OpenSSL) checking
    every record's tag, and the commands after it are read."""
    monkeypatch.setenv("MAILGWD_TEST_TLS_NO_AES", "1")
    d = start(daemon, pki)
    big = message(1, 3 * 1024 * 1024 + 1234)
    deliver(d, "joe", big)
    tls = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    p = pop(d, pki, minv=tls, maxv=tls)
    assert p.sock.cipher()[0] in (CHACHA13, CHACHA12)
    resp, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == big
    assert p.stat() == (1, len(big))
    p.quit()
