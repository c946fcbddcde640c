"""The certificate gate's own checks on top of mbedTLS (README, "mbedTLS security
advisories"): a user certificate can never act as an issuer, chains are exactly office CA
-> user, weak signatures are refused, and an empty subject names nobody. Each case is a
client a user could really build with openssl; each must be refused in the handshake
while a good user still gets in."""
import datetime
import os
import re
import signal
import ssl
import time

import pytest

from pki import Cert, now, run
from test_pop3 import pop, refused, start


def sign(pki, issuer_crt, issuer_key, name, subj, san, ext_text, md="sha256",
         key_opt="ec_paramgen_curve:P-256"):
    """A certificate for a fresh key (P-256, or an RSA key for key_opt
    "rsa_keygen_bits:N"), signed by any key with openssl x509 -req."""
    d = pki.path("hard")
    os.makedirs(d, exist_ok=True)
    key, csr, crt, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt", ".ext"))
    run("openssl", "genpkey", "-algorithm", "RSA" if key_opt.startswith("rsa") else "EC",
        "-pkeyopt", key_opt, "-out", key)
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


def forged_chain(pki, prefix):
    """(mallory, chain): the office CA (mistakenly, or through a malformed
    basicConstraints) gave mallory a certificate that says CA:TRUE; with it mallory signs
    one for joe, and the chain is that one followed by mallory's."""
    mallory = sign(pki, pki.ca.crt, pki.ca.key, prefix + "mallory", "/CN=mallory@example.test",
                   "email:mallory@example.test", CA_EXT)
    forged = sign(pki, mallory.crt, mallory.key, prefix + "forged_joe", "/CN=joe@example.test",
                  "email:joe@example.test", USER_EXT)
    chain = pki.path("hard/%sforged_joe_chain.crt" % prefix)
    with open(chain, "w") as out:
        out.write(open(forged.crt).read() + open(mallory.crt).read())
    return mallory, Cert(prefix + "forged_chain", chain, forged.key)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_user_certificate_cannot_issue_for_another_user(daemon, pki, version):
    # mallory presents the chain of a certificate for joe signed with mallory's CA:TRUE one.
    mallory, chain = forged_chain(pki, "")
    d = start(daemon, pki)
    m = d.mark()
    refused_lax(d, pki, chain, version)
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


# ---- the cache of chain verifications (README "TLS cost") --------------------------------
# The gate verifies the office CA's signature on a client certificate itself and
# remembers a good verdict for that exact certificate (SHA-256 of its DER) in the
# configuration's generation. These are the refusals such a cache could lose: each
# presents the genuine certificate first, so that a verdict is cached, then the case.

def tampered(pki, cert, name):
    """cert with one bit of its signature flipped: same subject, serial, key and
    extensions, only the CA's signature no longer verifies."""
    der = bytearray(ssl.PEM_cert_to_DER_cert(open(cert.crt).read()))
    der[-1] ^= 0x01  # the last octet of the signature value (ECDSA's s)
    path = pki.path("hard/%s.crt" % name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(ssl.DER_cert_to_PEM_cert(bytes(der)))
    assert run("openssl", "x509", "-in", path, "-noout", "-serial") == \
        run("openssl", "x509", "-in", cert.crt, "-noout", "-serial")
    return Cert(name, path, cert.key)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tampered_signature_refused_after_the_genuine_certificate(daemon, pki, version):
    d = start(daemon, pki)
    for _ in range(2):
        pop(d, pki, user="ann", minv=version, maxv=version).quit()
    forged = tampered(pki, pki.user["ann"], "ann_tampered")
    for _ in range(2):
        m = d.mark()
        refused_lax(d, pki, forged, version)
        d.wait_log(r"refused: .*not correctly signed.*CN=ann@example.test", start=m)
    # The genuine certificate still gets in, and the forged one stays out after it.
    pop(d, pki, user="ann", minv=version, maxv=version).quit()
    m = d.mark()
    refused_lax(d, pki, forged, version)
    d.wait_log(r"refused: .*not correctly signed.*CN=ann@example.test", start=m)


def test_tampered_leaf_with_the_office_ca_sent_along_refused(daemon, pki):
    # A client may send the office CA after its certificate (a PKCS#12 bundle does):
    # still accepted, and a tampered leaf in that shape is still refused.
    d = start(daemon, pki)
    for name, cert in (("joe_with_ca", pki.user["joe"]),
                       ("joe_tampered_with_ca", tampered(pki, pki.user["joe"], "joe_tampered"))):
        chain = pki.path("hard/%s.crt" % name)
        with open(chain, "w") as out:
            out.write(open(cert.crt).read() + open(pki.ca.crt).read())
        sent = Cert(name, chain, cert.key)
        if name == "joe_with_ca":
            for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                pop(d, pki, cert=sent, minv=v, maxv=v).quit()
            continue
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            m = d.mark()
            refused_lax(d, pki, sent, v)
            d.wait_log(r"refused: .*not correctly signed.*CN=joe@example.test", start=m)


def test_certificate_accepted_then_revoked_by_a_new_crl_refused(daemon, pki, tmp_path):
    import gate
    d = start(daemon, pki)
    for _ in range(2):
        pop(d, pki, user="sam").quit()
    gate.replace_crl(d, pki.ca.crl(str(tmp_path / "crl2.pem"), revoked=[pki.user["sam"]]))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        m = d.mark()
        err = refused(d, pki, pki.user["sam"], minv=v, maxv=v)
        assert "certificate revoked" in err, err
        d.wait_log(r"refused: .*has been revoked.*CN=sam@example.test", start=m)
    pop(d, pki).quit()


def test_certificate_accepted_then_past_its_notafter_refused(daemon, pki):
    d = start(daemon, pki)
    end = now() + datetime.timedelta(seconds=12)
    brief = pki.ca.issue("brief_bob", "/CN=bob@example.test", "email:bob@example.test", end=end)
    for _ in range(2):
        pop(d, pki, cert=brief, user="bob").quit()
    time.sleep(max(0.0, (end - now()).total_seconds()) + 2)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        m = d.mark()
        err = refused(d, pki, brief, minv=v, maxv=v)
        assert "certificate expired" in err, err
        d.wait_log(r"refused: .*validity has expired.*CN=bob@example.test", start=m)


def s_client(d, pki, cert, version):
    """openssl s_client with cert (None: none), only TLS version ("-tls1_2" or "-tls1_3");
    reads until the server closes. Security level 0, so that OpenSSL sends weak
    certificates too. Returns what the client printed (stdout and stderr)."""
    import subprocess
    host, port = d.addr("pop3s")
    mine = ["-cert", cert.crt, "-key", cert.key] if cert else []
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port), version,
                        "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", pki.ca.crt, *mine, "-ign_eof"],
                       input="", capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


# The alerts of RFC 8446 section 6.2 a refused client certificate can get, by number (what
# OpenSSL prints as "SSL alert number N").
ALERTS = {40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
          44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
          48: "unknown_ca", 49: "access_denied", 116: "certificate_required"}


def alert_seen(out):
    """The alert the client received, by name, from openssl s_client's output; None if
    it got none."""
    m = re.findall(r"SSL alert number (\d+)", out)
    assert len(set(m)) <= 1, out
    return ALERTS.get(int(m[0]), m[0]) if m else None


def refusal(d, pki, cert, version):
    """(alert name, log reason) of one refused s_client connection; the reason is the
    log line's text after "refused: " (reason, subject and serial)."""
    m = d.mark()
    out = s_client(d, pki, cert, version)
    assert "+OK" not in out, (version, out)
    line = d.wait_log(r"refused: ", start=m)
    return alert_seen(out), line.split("refused: ", 1)[1]


def fault_cert(pki, fault):
    """The certificate (and the CRL the daemon runs with, None: the PKI's) of each fault
    in REFUSALS. Made with openssl, the way the tests above make them."""
    ca = pki.ca
    if fault == "foreign CA":
        return pki.user["foreign"], None
    if fault == "expired":
        return pki.user["expired"], None
    if fault == "not yet valid":
        return pki.user["future"], None
    if fault == "revoked":
        return pki.user["rev"], ca.crl(pki.path("crl_rev.pem"), revoked=[pki.user["rev"]])
    if fault == "expired and revoked":
        return pki.user["expired"], ca.crl(pki.path("crl_old.pem"), revoked=[pki.user["expired"]])
    if fault == "extendedKeyUsage serverAuth":
        return sign(pki, ca.crt, ca.key, "t_eku", "/CN=mia@example.test", "email:mia@example.test",
                    USER_EXT.replace("clientAuth", "serverAuth")), None
    if fault == "keyUsage keyEncipherment":
        return sign(pki, ca.crt, ca.key, "t_ku", "/CN=mia@example.test", "email:mia@example.test",
                    USER_EXT.replace("digitalSignature", "keyEncipherment")), None
    if fault == "RSA key of 1024 bits":
        return sign(pki, ca.crt, ca.key, "t_rsa", "/CN=mia@example.test", "email:mia@example.test",
                    USER_EXT, key_opt="rsa_keygen_bits:1024"), None
    if fault == "SHA-1 signature":
        return sign(pki, ca.crt, ca.key, "t_sha1", "/CN=joe@example.test",
                    "email:joe@example.test", USER_EXT, md="sha1"), None
    if fault == "empty subject":
        return sign(pki, ca.crt, ca.key, "t_anon", "/", "email:joe@example.test", USER_EXT), None
    if fault == "CA:TRUE":
        return sign(pki, ca.crt, ca.key, "t_catrue", "/CN=mallory@example.test",
                    "email:mallory@example.test", CA_EXT), None
    if fault == "issued by a user's CA:TRUE certificate":
        return forged_chain(pki, "t_")[1], None
    if fault == "tampered signature":
        return tampered(pki, pki.user["ann"], "t_ann_tampered"), None
    if fault == "expired CRL":
        return pki.user["joe"], ca.crl(pki.path("crl_expired.pem"),
                                       last=now() - datetime.timedelta(days=10),
                                       next=now() - datetime.timedelta(hours=2))
    if fault == "CRL from the future":
        return pki.user["joe"], ca.crl(pki.path("crl_future.pem"),
                                       last=now() + datetime.timedelta(days=2),
                                       next=now() + datetime.timedelta(days=30))
    raise KeyError(fault)


# Every refusal of a client certificate the gate makes (README "What a refused client
# sees"): the fault, the alert the client gets under TLS 1.2 and 1.3 alike, and words of
# the log line's reason.
REFUSALS = [
    ("foreign CA", "unknown_ca", r"not correctly signed by the trusted CA"),
    ("expired", "certificate_expired", r"validity has expired"),
    ("not yet valid", "certificate_expired", r"validity starts in the future"),
    ("revoked", "certificate_revoked", r"has been revoked"),
    ("expired and revoked", "certificate_expired", r"validity has expired.*has been revoked"),
    ("extendedKeyUsage serverAuth", "unsupported_certificate",
     r"^Usage does not match the extendedKeyUsage extension; subject CN=mia@example.test; "
     r"serial [0-9A-F:]+$"),
    ("keyUsage keyEncipherment", "unsupported_certificate",
     r"^Usage does not match the keyUsage extension; subject CN=mia@example.test; "
     r"serial [0-9A-F:]+$"),
    ("RSA key of 1024 bits", "unsupported_certificate", r"signed with an unacceptable key"),
    ("SHA-1 signature", "certificate_unknown", r"signed with an unacceptable hash"),
    ("empty subject", "access_denied",
     r"^The certificate's subject is empty; subject \(empty\); serial "),
    ("CA:TRUE", "access_denied", r"^The certificate is a CA's \(basicConstraints CA:TRUE\), "
     r"not a user's; subject CN=mallory@example.test; serial "),
    ("issued by a user's CA:TRUE certificate", "unknown_ca", r"not correctly signed"),
    ("tampered signature", "unknown_ca", r"not correctly signed"),
    ("expired CRL", "certificate_unknown", r"CRL is expired"),
    ("CRL from the future", "certificate_unknown", r"CRL is from the future"),
]


@pytest.mark.parametrize("fault, alert, reason", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_alert_same_under_tls12_and_tls13(daemon, pki, fault, alert, reason):
    # What the client is told (the alert on the wire, openssl s_client) and what the
    # admin's log line says: the same for a fault whichever version the client speaks.
    cert, crl = fault_cert(pki, fault)
    d = start(daemon, pki, crl=crl)
    seen = {v: refusal(d, pki, cert, v) for v in ("-tls1_2", "-tls1_3")}
    assert {v: a for v, (a, _) in seen.items()} == {"-tls1_2": alert, "-tls1_3": alert}, seen
    assert seen["-tls1_2"][1] == seen["-tls1_3"][1], seen
    assert re.search(reason, seen["-tls1_3"][1]), seen
    if crl is None:
        # Not a refusal of everyone: the office's good certificate still gets in.
        pop(d, pki).quit()


def test_refusal_alert_without_a_certificate(daemon, pki):
    # No certificate: the one refusal whose alert depends on the version. TLS 1.3 has an
    # alert for it, certificate_required (RFC 8446, section 4.4.2.4); TLS 1.2 has none, and
    # a server that will not continue answers handshake_failure (RFC 5246, section 7.4.6).
    # The log says the same under both.
    d = start(daemon, pki)
    seen = {v: refusal(d, pki, None, v) for v in ("-tls1_2", "-tls1_3")}
    assert {v: a for v, (a, _) in seen.items()} == {
        "-tls1_2": "handshake_failure", "-tls1_3": "certificate_required"}, seen
    assert seen["-tls1_2"][1] == seen["-tls1_3"][1] == "no client certificate; subject -; serial -"


def test_tls12_certificate_request_names_the_office_ca(daemon, pki):
    # Clients holding several certificates (fetchmail and curl through OpenSSL, mutt,
    # Thunderbird) choose by the CA names of a TLS 1.2 CertificateRequest: they must name
    # the office CA although mbedTLS holds no trust anchors (README "TLS cost").
    import subprocess
    d = start(daemon, pki)
    host, port = d.addr("pop3s")
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-tls1_2",
                        "-CAfile", pki.ca.crt, "-cert", pki.user["joe"].crt,
                        "-key", pki.user["joe"].key, "-ign_eof"],
                       input="QUIT\n", capture_output=True, text=True, timeout=30)
    names = r.stdout.split("Acceptable client certificate CA names", 1)[1].split("\n")[1]
    assert names.strip() == "CN = mailgw test office CA", r.stdout
    assert "+OK" in r.stdout, r.stdout
