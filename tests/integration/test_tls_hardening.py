"""The certificate gate's own checks on top of mbedTLS (README, "mbedTLS security
advisories"): a user certificate can never act as an issuer, chains are exactly office CA
-> user, weak signatures are refused, and an empty subject names nobody. Each case is a
client a user could really build with openssl; each must be refused in the handshake
while a good user still gets in."""
import os
import ssl

import pytest

from pki import Cert, run
from test_pop3 import pop, refused, start


def sign(pki, issuer_crt, issuer_key, name, subj, san, ext_text, md="sha256"):
    """A certificate for a fresh P-256 key, signed by any key with openssl x509 -req."""
    d = pki.path("hard")
    os.makedirs(d, exist_ok=True)
    key, csr, crt, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt", ".ext"))
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    run("openssl", "req", "-new", "-key", key, "-out", csr, "-subj", subj)
    with open(ext, "w") as f:
        f.write(ext_text + ("subjectAltName = %s\n" % san if san else ""))
    run("openssl", "x509", "-req", "-in", csr, "-CA", issuer_crt, "-CAkey", issuer_key,
        "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", ext, "-" + md)
    return Cert(name, crt, key)


USER_EXT = "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
CA_EXT = "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"


def lax(pki, cert, **kw):
    """A client context that will present weak or odd certificates (OpenSSL's own
    security level would otherwise refuse to send them)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    ctx.load_verify_locations(pki.ca.crt)
    ctx.load_cert_chain(cert.crt, cert.key)
    ctx.minimum_version = kw.get("minv") or ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = kw.get("maxv") or ssl.TLSVersion.TLSv1_3
    return ctx


def refused_lax(d, pki, cert, version):
    import poplib
    host, port = d.addr("pop3s")
    ctx = lax(pki, cert, minv=version, maxv=version)  # outside the try: must not fail here
    try:
        p = poplib.POP3_SSL(host, port, context=ctx, timeout=15)
    except (ssl.SSLError, OSError, EOFError, poplib.error_proto) as e:
        return str(e)
    raise AssertionError("accepted: %r" % p.getwelcome())


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_user_certificate_cannot_issue_for_another_user(daemon, pki, version):
    # The office CA (mistakenly, or through a malformed basicConstraints) gave mallory a
    # certificate that says CA:TRUE; mallory signs one for joe and presents the chain.
    mallory = sign(pki, pki.ca.crt, pki.ca.key, "mallory", "/CN=mallory@example.test",
                   "email:mallory@example.test", CA_EXT)
    forged = sign(pki, mallory.crt, mallory.key, "forged_joe", "/CN=joe@example.test",
                  "email:joe@example.test", USER_EXT)
    chain = pki.path("hard/forged_joe_chain.crt")
    with open(chain, "w") as out:
        out.write(open(forged.crt).read() + open(mallory.crt).read())
    d = start(daemon, pki)
    m = d.mark()
    refused_lax(d, pki, Cert("forged_chain", chain, forged.key), version)
    line = d.wait_log(r"refused: ", start=m)
    assert "joe@example.test" in line or "mallory" in line
    # mallory's own CA:TRUE certificate is no user certificate either.
    m = d.mark()
    refused_lax(d, pki, mallory, version)
    d.wait_log(r"refused: .*subject CN=mallory@example.test", start=m)
    # joe himself still gets in.
    p = pop(d, pki)
    assert p.stat()[0] == 0
    p.quit()


def test_sha1_signed_user_certificate_refused(daemon, pki):
    weak = sign(pki, pki.ca.crt, pki.ca.key, "sha1_joe", "/CN=joe@example.test",
                "email:joe@example.test", USER_EXT, md="sha1")
    d = start(daemon, pki)
    m = d.mark()
    err = refused_lax(d, pki, weak, ssl.TLSVersion.TLSv1_2)
    line = d.wait_log(r"refused: ", start=m)
    assert "hash" in line.lower() or "unacceptable" in line.lower() or "md" in line.lower(), line


def test_empty_subject_refused(daemon, pki):
    # An empty subject with the identity in subjectAltName: refused, and the log says so
    # instead of printing whatever was in a stack buffer (CVE-2026-115489).
    anon = sign(pki, pki.ca.crt, pki.ca.key, "anon", "/", "email:joe@example.test", USER_EXT)
    d = start(daemon, pki)
    m = d.mark()
    refused_lax(d, pki, anon, ssl.TLSVersion.TLSv1_3)
    line = d.wait_log(r"refused: ", start=m)
    assert "subject (empty)" in line, line
