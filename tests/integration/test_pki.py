"""The built-in office CA (firmware/lib/pki) against the openssl CLI and NSS's pk12util:
the CA it creates, the certificates it issues or signs from a CSR, the CRLs it writes
(every field), its PKCS#12 files, a user's bundle on a full USB key, importing an openssl
CA and the reference article's CAcrl-bundle, and a round trip through mailgwd's
certificate gate (issued certificate logs in, revoked one is refused after reload).

The functions are driven through tests/integration/pki_driver.c (one command per call)."""
import datetime
import os
import re
import shutil
import ssl
import stat
import subprocess

import pytest

import gate
from gate import add_user, install_tls, replace_crl, tls_conf
from pki import CA

OUT = os.environ.get("MGW_OUTPUT", os.path.join(os.path.dirname(__file__), "../../output"))
DRIVER = os.path.join(OUT, "asan", "tests", "pki_driver")
DAY = 86400


def drv(*args, ok=True, offset=None):
    env = dict(os.environ)
    if offset is not None:
        env["PKI_TEST_NOW_OFFSET"] = str(offset)
    r = subprocess.run([DRIVER, *map(str, args)], capture_output=True, text=True, env=env)
    if ok:
        assert r.returncode == 0, "pki_driver %s: %s%s" % (" ".join(map(str, args)), r.stdout, r.stderr)
    return r


def kv(r):
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def ossl(*args, ok=True, text=True):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=text)
    if ok:
        assert r.returncode == 0, "openssl %s: %s%s" % (" ".join(map(str, args)), r.stdout, r.stderr)
    return r


def x509_text(path):
    return ossl("x509", "-in", path, "-noout", "-text").stdout


def ext(text, name):
    """The lines of extension `name` in openssl's -text output: (critical, value)."""
    m = re.search(r"^ +%s:( critical)? ?\n +(.*)$" % re.escape(name), text, re.M)
    assert m, "no %s in:\n%s" % (name, text)
    return bool(m.group(1)), m.group(2).strip()


def parse_date(s):
    return datetime.datetime.strptime(s.strip(), "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def crl_fields(crl, ca):
    """Verifies the CRL with openssl and returns its fields."""
    r = ossl("crl", "-in", crl, "-CAfile", ca, "-verify", "-noout", "-text")
    assert "verify OK" in r.stderr + r.stdout
    t = r.stdout
    f = {"text": t,
         "issuer": re.search(r"Issuer: (.*)", t).group(1).strip(),
         "last": parse_date(re.search(r"Last Update: (.*)", t).group(1)),
         "next": parse_date(re.search(r"Next Update: (.*)", t).group(1)),
         "number": int(re.search(r"X509v3 CRL Number: \n\s+(\d+)", t).group(1)),
         "aki": re.search(r"X509v3 Authority Key Identifier: \n\s+(?:keyid:)?([0-9A-F:]+)", t).group(1),
         "version": re.search(r"Version (\d)", t).group(1)}
    f["revoked"] = {}
    for m in re.finditer(r"Serial Number: ([0-9A-F]+)\n\s+Revocation Date: (.*)\n"
                         r"(?:\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+(.*)\n)?", t):
        f["revoked"][m.group(1)] = (parse_date(m.group(2)), (m.group(3) or "").strip())
    return f


def modes(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def ca(tmp_path):
    d = tmp_path / "ca"
    info = kv(drv("ca-create", d, "Example Office CA"))
    return str(d), info


def issue(ca_dir, login, years=1, *bundle):
    return kv(drv("issue", ca_dir, login, years, *bundle))


# ---- the CA -------------------------------------------------------------------------

def test_ca_create_files_modes_and_fields(ca, tmp_path):
    d, info = ca
    assert modes(d) == 0o700
    for f in ("ca.key", "ca.crt", "crl.pem", "index.txt", "serial", "crlnumber"):
        assert modes(os.path.join(d, f)) == 0o600, f
    assert modes(os.path.join(d, "certs")) == 0o700
    assert open(os.path.join(d, "index.txt")).read() == ""
    t = x509_text(os.path.join(d, "ca.crt"))
    assert "Subject: CN = Example Office CA" in t and "Issuer: CN = Example Office CA" in t
    assert "NIST CURVE: P-256" in t and "ecdsa-with-SHA256" in t
    assert ext(t, "X509v3 Basic Constraints") == (True, "CA:TRUE")
    assert ext(t, "X509v3 Key Usage") == (True, "Certificate Sign, CRL Sign")
    ski = ext(t, "X509v3 Subject Key Identifier")[1]
    nb = parse_date(re.search(r"Not Before: (.*)", t).group(1))
    na = parse_date(re.search(r"Not After : (.*)", t).group(1))
    assert abs((na - nb) - (3650 * DAY + 3600)) <= 2
    # self-signed and usable as a trust anchor
    ossl("verify", "-CAfile", os.path.join(d, "ca.crt"), os.path.join(d, "ca.crt"))
    fp = ossl("x509", "-in", os.path.join(d, "ca.crt"), "-noout", "-fingerprint", "-sha256").stdout
    assert fp.strip().split("=", 1)[1] == info["fp"]
    # the initial CRL: empty, number 1, 30 days, AKI = the CA's SKI
    c = crl_fields(os.path.join(d, "crl.pem"), os.path.join(d, "ca.crt"))
    assert c["version"] == "2" and c["issuer"] == "CN = Example Office CA"
    assert c["number"] == 1 and c["revoked"] == {} and "No Revoked Certificates" in c["text"]
    assert c["next"] - c["last"] == 30 * DAY
    assert c["aki"] == ski
    # a second create is refused and changes nothing; with replace it is a new CA
    before = open(os.path.join(d, "ca.key")).read()
    r = drv("ca-create", d, "Other CA", ok=False)
    assert r.returncode == 1 and "a CA exists already" in r.stderr
    assert open(os.path.join(d, "ca.key")).read() == before
    kv(drv("ca-create", d, "CN=Other CA,O=Example Ltd,C=IE", 0, "replace"))
    assert open(os.path.join(d, "ca.key")).read() != before
    assert "Subject: CN = Other CA, O = Example Ltd, C = IE" in x509_text(os.path.join(d, "ca.crt"))


def tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr)
    return path


def fill(fs, leave):
    """Fills the file system at fs, then frees `leave` bytes again."""
    filler = fs / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    os.close(fd)
    os.truncate(filler, max(0, os.path.getsize(filler) - leave))
    return filler


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            if n not in ("filler.bin", ".lock"):
                out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def test_replace_keeps_old_ca_and_full_data_changes_nothing(tmp_path):
    data = tmpfs(tmp_path / "data", "256k")
    try:
        d = data / "ca"
        drv("ca-create", d, "First CA")
        drv("issue", d, "joe@example.test", 1)
        first = snapshot(d)
        # /data full: issuing fails with a clear reason and leaves the database as it was
        filler = fill(data, 0)
        r = drv("issue", d, "ann@example.test", 1, ok=False)
        assert r.returncode == 1 and "no space left on device" in r.stderr, r.stderr
        assert snapshot(d) == first
        r = drv("revoke", d, "joe@example.test", ok=False)
        assert "no space left on device" in r.stderr, r.stderr
        # a replacement that runs out of space half-way puts the old CA back
        os.truncate(filler, max(0, os.path.getsize(filler) - 8192))
        r = drv("ca-create", d, "Second CA", 0, "replace", ok=False)
        assert r.returncode == 1 and "no space left on device" in r.stderr, r.stderr
        assert snapshot(d) == first, "old CA not restored"
        assert [n for n in os.listdir(d) if n.startswith("replaced-")] == []
        assert kv(drv("ca-info", d))["subject"] == "CN=First CA"
        # with room, the replaced CA is kept aside, whole
        os.unlink(filler)
        info = kv(drv("ca-create", d, "Second CA", 0, "replace"))
        old = info["replaced"]
        assert old.startswith(str(d) + "/replaced-") and modes(old) == 0o700
        assert snapshot(old) == first
        assert kv(drv("ca-info", d))["subject"] == "CN=Second CA"
        assert open(d / "index.txt").read() == ""
    finally:
        subprocess.run(["umount", str(data)])


def test_ca_create_bad_names(tmp_path):
    for name in ("", "Office\nCA", "bad;name", "x" * 201):
        r = drv("ca-create", tmp_path / "ca", name, ok=False)
        assert r.returncode == 1 and "CA name" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "ca" / "ca.key")


# ---- certificates -------------------------------------------------------------------

def test_issue_fields_database_and_verify(ca):
    d, _ = ca
    cacrt = os.path.join(d, "ca.crt")
    ski = ext(x509_text(cacrt), "X509v3 Subject Key Identifier")[1]
    serials = set()
    for login, years in (("joe@example.test", 1), ("ann@example.test", 2), ("bob@example.test", 3)):
        i = issue(d, login, years)
        crt = os.path.join(d, "certs", i["serial"] + ".pem")
        assert modes(crt) == 0o600
        t = x509_text(crt)
        assert "Subject: CN = %s" % login in t and "Issuer: CN = Example Office CA" in t
        assert "NIST CURVE: P-256" in t
        assert ext(t, "X509v3 Subject Alternative Name") == (False, "email:" + login)
        assert ext(t, "X509v3 Extended Key Usage") == (False, "TLS Web Client Authentication")
        assert ext(t, "X509v3 Key Usage") == (True, "Digital Signature")
        assert ext(t, "X509v3 Basic Constraints")[1] == "CA:FALSE"
        assert ext(t, "X509v3 Authority Key Identifier")[1].replace("keyid:", "") == ski
        nb = parse_date(re.search(r"Not Before: (.*)", t).group(1))
        na = parse_date(re.search(r"Not After : (.*)", t).group(1))
        assert abs(na - nb - (years * 365 * DAY + 3600)) <= 2
        serial = ossl("x509", "-in", crt, "-noout", "-serial").stdout.strip().split("=")[1]
        assert serial == i["serial"] and len(serial) <= 40 and int(serial[0], 16) < 8
        serials.add(serial)
        ossl("verify", "-CAfile", cacrt, "-purpose", "sslclient", crt)
    assert len(serials) == 3
    # index.txt in openssl ca's format, read back by `cert list`
    lines = open(os.path.join(d, "index.txt")).read().splitlines()
    assert len(lines) == 3
    for line in lines:
        st, exp, rev, serial, fname, subj = line.split("\t")
        assert st == "V" and re.fullmatch(r"\d{12}Z", exp) and rev == "" and fname == "unknown"
        assert serial in serials and re.fullmatch(r"/CN=\w+@example\.test", subj)
    listed = drv("list", d).stdout.splitlines()
    assert [l.split()[:3] for l in listed] == [
        ["V", l.split("\t")[3], l.split("\t")[5][4:]] for l in lines]
    # openssl ca reads the same database
    cnf = os.path.join(os.path.dirname(d), "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = c\n[c]\ndatabase = %s/index.txt\n" % d)
    for serial in serials:
        r = ossl("ca", "-config", cnf, "-status", serial, ok=False)  # exits 1 even when found
        assert "%s=Valid (V)" % serial in r.stdout + r.stderr


def test_serial_file_like_openssl_ca(ca):
    """`serial` holds the next serial as openssl ca does; one that is not a positive,
    minimal, unused INTEGER (hand-edited, damaged) is replaced by a random one."""
    d, _ = ca
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("7F\n")
    assert issue(d, "a@example.test")["serial"] == "7F"
    nxt = open(os.path.join(d, "serial")).read().strip()
    assert re.fullmatch(r"[0-7][0-9A-F]{31}", nxt) and nxt != "7F"
    for bad in ("00", "0012", "80", "7F", "zz"):  # zero, leading zero, negative, used, junk
        with open(os.path.join(d, "serial"), "w") as f:
            f.write(bad + "\n")
        s = issue(d, "a@example.test")["serial"]
        assert s != bad and re.fullmatch(r"[1-7][0-9A-F]{31}", s), (bad, s)
        crt = os.path.join(d, "certs", s + ".pem")
        assert ossl("x509", "-in", crt, "-noout", "-serial").stdout.strip() == "serial=" + s


def test_issue_refuses_bad_input(ca):
    d, _ = ca
    for login, years in (("joe@example.test", 0), ("joe@example.test", 4), ("joe", 1),
                         ("Joe@example.test", 1), ("joe@example.test/../x", 1),
                         ("a@b@example.test", 1), ("joe@-bad.test", 1)):
        r = drv("issue", d, login, years, ok=False)
        assert r.returncode == 1 and r.stderr.strip(), (login, r.stderr)
    assert open(os.path.join(d, "index.txt")).read() == ""
    assert os.listdir(os.path.join(d, "certs")) == []


def test_crl_writer_round_trip_every_field(ca):
    d, _ = ca
    cacrt, crl = os.path.join(d, "ca.crt"), os.path.join(d, "crl.pem")
    ski = ext(x509_text(cacrt), "X509v3 Subject Key Identifier")[1]
    users = ["u%d@example.test" % n for n in range(5)]
    s = {u: issue(d, u)["serial"] for u in users}
    expect = {}
    number = 1
    for u, reason, name in ((users[0], "keyCompromise", "Key Compromise"),
                            (users[1], "superseded", "Superseded"),
                            (users[2], None, ""),
                            (users[3], "cessationOfOperation", "Cessation Of Operation"),
                            (users[4], "affiliationChanged", "Affiliation Changed")):
        which = u if reason is None else s[u]  # by login, or by serial
        out = kv(drv("revoke", d, which, *([reason] if reason else [])))
        assert out["revoked"] == "1"
        number += 1
        expect[s[u]] = name
        c = crl_fields(crl, cacrt)
        assert c["number"] == number
        assert c["issuer"] == "CN = Example Office CA" and c["version"] == "2"
        assert c["aki"] == ski
        assert c["next"] - c["last"] == 30 * DAY
        assert {k: v[1] for k, v in c["revoked"].items()} == expect
        for k, (when, _) in c["revoked"].items():
            assert c["last"] - 5 * 60 <= when <= c["last"]
        # the issuer is a byte-exact copy of the CA certificate's subject
        der_crl = ossl("crl", "-in", crl, "-outform", "DER", text=False).stdout
        assert ossl("crl", "-in", crl, "-noout", "-hash").stdout == \
            ossl("x509", "-in", cacrt, "-noout", "-subject_hash").stdout
        assert der_crl
    # what `crl show` reports agrees with openssl
    info = kv(drv("crl-show", crl, cacrt))
    assert info["verified"] == "1" and info["number"] == "%02X" % number
    assert int(info["entries"]) == 5
    got = {}
    for l in drv("crl-show", crl, cacrt).stdout.splitlines():
        if l.startswith("entry="):
            serial, when, reason = l[6:].split()
            got[serial] = reason
    assert got == {s[users[0]]: "keyCompromise", s[users[1]]: "superseded",
                   s[users[2]]: "unspecified", s[users[3]]: "cessationOfOperation",
                   s[users[4]]: "affiliationChanged"}
    # index.txt: R lines with date and reason, openssl's spelling
    lines = {l.split("\t")[3]: l.split("\t") for l in open(os.path.join(d, "index.txt"))}
    assert lines[s[users[0]]][0] == "R" and lines[s[users[0]]][2].endswith(",keyCompromise")
    assert re.fullmatch(r"\d{12}Z", lines[s[users[2]]][2])
    # revoking twice, or an unknown serial, is an error that changes nothing
    r = drv("revoke", d, s[users[0]], ok=False)
    assert r.returncode == 1 and "revoked already" in r.stderr
    r = drv("revoke", d, "0123", ok=False)
    assert "no certificate with serial 0123" in r.stderr
    assert crl_fields(crl, cacrt)["number"] == number


def test_verify_crl_check_refuses_revoked(ca):
    d, _ = ca
    cacrt, crl = os.path.join(d, "ca.crt"), os.path.join(d, "crl.pem")
    good = issue(d, "joe@example.test")["serial"]
    bad = issue(d, "ann@example.test")["serial"]
    drv("revoke", d, "ann@example.test", "keyCompromise")
    ok = ossl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl,
              os.path.join(d, "certs", good + ".pem"))
    assert ": OK" in ok.stdout
    r = ossl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl,
             os.path.join(d, "certs", bad + ".pem"), ok=False)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr
    # revoking by login only touches valid certificates: nothing left for ann
    r = drv("revoke", d, "ann@example.test", ok=False)
    assert "no valid certificate for ann@example.test" in r.stderr


def test_crl_refresh_before_next_update(ca):
    d, _ = ca
    cacrt, crl = os.path.join(d, "ca.crt"), os.path.join(d, "crl.pem")
    assert kv(drv("crl-refresh", d, 29))["resigned"] == "0"
    assert crl_fields(crl, cacrt)["number"] == 1
    # two days later nextUpdate is 28 days away: re-signed, next number, new dates
    assert kv(drv("crl-refresh", d, 29, offset=2 * DAY))["resigned"] == "1"
    c = crl_fields(crl, cacrt)
    assert c["number"] == 2 and c["next"] - c["last"] == 30 * DAY
    assert c["last"] >= datetime.datetime.now().timestamp() + 2 * DAY - 60
    # a missing CRL is re-signed too
    os.unlink(crl)
    assert kv(drv("crl-refresh", d, 1))["resigned"] == "1"
    assert crl_fields(crl, cacrt)["number"] == 3


# ---- CSR ------------------------------------------------------------------------------

def make_csr(tmp_path, name, subj, san=None, extra=()):
    key, csr = tmp_path / (name + ".key"), tmp_path / (name + ".csr")
    args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", subj]
    if san:
        args += ["-addext", "subjectAltName=" + san]
    for e in extra:
        args += ["-addext", e]
    ossl(*args)
    return str(csr), str(key)


def test_sign_csr_identity_is_the_login(ca, tmp_path):
    d, _ = ca
    cacrt = os.path.join(d, "ca.crt")
    csr, key = make_csr(tmp_path, "joe", "/CN=joe@example.test", "email:joe@example.test",
                        ["basicConstraints=CA:TRUE", "keyUsage=keyCertSign"])
    i = kv(drv("sign", d, "joe@example.test", csr, 2))
    assert i["has_key"] == "0"
    crt = os.path.join(d, "certs", i["serial"] + ".pem")
    t = x509_text(crt)
    # what the CSR asked (CA:TRUE, keyCertSign) is ignored; the identity is the login
    assert ext(t, "X509v3 Basic Constraints")[1] == "CA:FALSE"
    assert ext(t, "X509v3 Key Usage") == (True, "Digital Signature")
    assert ext(t, "X509v3 Subject Alternative Name")[1] == "email:joe@example.test"
    assert "Subject: CN = joe@example.test" in t
    ossl("verify", "-CAfile", cacrt, crt)
    # the certificate holds the CSR's key
    assert ossl("x509", "-in", crt, "-noout", "-pubkey").stdout == \
        ossl("pkey", "-in", key, "-pubout").stdout
    # a CSR without any name is signed for the login
    csr2, _ = make_csr(tmp_path, "anon", "/O=Nobody")
    t = x509_text(os.path.join(d, "certs", kv(drv("sign", d, "joe@example.test", csr2, 1))["serial"] + ".pem"))
    assert "Subject: CN = joe@example.test" in t


def test_sign_csr_for_another_identity_refused(ca, tmp_path):
    d, _ = ca
    cases = [make_csr(tmp_path, "a", "/CN=ann@example.test")[0],
             make_csr(tmp_path, "b", "/CN=joe@example.test", "email:ann@example.test")[0],
             make_csr(tmp_path, "c", "/CN=joe@example.test/emailAddress=boss@example.test")[0]]
    for csr in cases:
        r = drv("sign", d, "joe@example.test", csr, 1, ok=False)
        assert r.returncode == 3, r.stderr  # -MGW_EPERM
        assert "not for joe@example.test" in r.stderr, r.stderr
    # a CSR whose signature does not verify
    good, _ = make_csr(tmp_path, "g", "/CN=joe@example.test")
    raw = subprocess.run(["openssl", "req", "-in", good, "-outform", "DER"], capture_output=True).stdout
    bad = tmp_path / "bad.csr"
    bad.write_bytes(raw[:-4] + bytes(b ^ 0x55 for b in raw[-4:]))
    r = drv("sign", d, "joe@example.test", bad, 1, ok=False)
    assert r.returncode == 1 and ("signature does not verify" in r.stderr
                                  or "not a certificate request" in r.stderr), r.stderr
    # a critical extension mbedTLS cannot read: a clear reason, not an mbedTLS code
    crit, _ = make_csr(tmp_path, "crit", "/CN=joe@example.test", None,
                       ["basicConstraints=critical,CA:TRUE"])
    r = drv("sign", d, "joe@example.test", crit, 1, ok=False)
    assert r.returncode == 1 and "critical extension" in r.stderr, r.stderr
    # garbage is refused with the file named
    junk = tmp_path / "junk.csr"
    junk.write_text("hello\n")
    r = drv("sign", d, "joe@example.test", junk, 1, ok=False)
    assert str(junk) in r.stderr
    assert open(os.path.join(d, "index.txt")).read() == ""


# ---- PKCS#12 and the bundle -------------------------------------------------------------

def server_cert(tmp_path, name="mail.example.test", ca_dir=None):
    """A server certificate: self-signed (as at first boot), or issued by the office CA in
    ca_dir (signed with the openssl CLI and the CA's key)."""
    key, crt = tmp_path / "srv.key", tmp_path / "srv.crt"
    san = "subjectAltName=DNS:%s,IP:127.0.0.1" % name
    if ca_dir is None:
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", crt, "-subj", "/CN=" + name, "-days", "30", "-addext", san)
    else:
        csr = tmp_path / "srv.csr"
        ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name, "-addext", san)
        ossl("x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"), "-CAkey",
             os.path.join(ca_dir, "ca.key"), "-out", crt, "-days", "30", "-copy_extensions", "copy")
    os.chmod(key, 0o600)
    return str(crt)


def test_bundle_pkcs12_openssl_and_pk12util(ca, tmp_path):
    d, _ = ca
    usb = tmp_path / "usb"
    usb.mkdir()
    srv = server_cert(tmp_path, ca_dir=d)
    i = issue(d, "joe@example.test", 1, usb, "mail.example.test", srv, "/home/joe/.certs")
    pw = i["passphrase"]
    assert re.fullmatch(r"[2-9a-z]{5}(-[2-9a-z]{5}){3}", pw)
    assert sorted(os.listdir(usb)) == sorted(["joe.p12", "joe.crt", "joe.key", "office-ca.pem",
                                              ".fetchmailrc", "curl-example.sh", "README.txt"])
    assert modes(usb / "joe.p12") == 0o600 and modes(usb / "joe.key") == 0o600
    assert modes(usb / ".fetchmailrc") == 0o600
    p12 = str(usb / "joe.p12")
    info = ossl("pkcs12", "-info", "-in", p12, "-passin", "pass:" + pw, "-noout")
    out = info.stdout + info.stderr
    assert "MAC: sha256, Iteration 10000" in out and "MAC length: 32" in out
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256" in out
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256" in out
    assert out.count("Certificate bag") == 2
    # contents: the key matches the certificate, the certificates are joe's and the CA's
    key = ossl("pkcs12", "-in", p12, "-passin", "pass:" + pw, "-nocerts", "-nodes").stdout
    certs = ossl("pkcs12", "-in", p12, "-passin", "pass:" + pw, "-nokeys").stdout
    clcert = ossl("pkcs12", "-in", p12, "-passin", "pass:" + pw, "-nokeys", "-clcerts").stdout
    cacerts = ossl("pkcs12", "-in", p12, "-passin", "pass:" + pw, "-nokeys", "-cacerts").stdout
    (tmp_path / "k.pem").write_text(key)
    (tmp_path / "c.pem").write_text(clcert)
    (tmp_path / "a.pem").write_text(cacerts)
    assert "friendlyName: joe@example.test" in key and "localKeyID:" in key
    kid = re.search(r"localKeyID: (.*)", key).group(1)
    assert re.search(r"localKeyID: (.*)", clcert).group(1) == kid
    assert ossl("pkey", "-in", tmp_path / "k.pem", "-pubout").stdout == \
        ossl("x509", "-in", tmp_path / "c.pem", "-noout", "-pubkey").stdout
    assert ossl("x509", "-in", tmp_path / "c.pem", "-outform", "DER", text=False).stdout == \
        ossl("x509", "-in", usb / "joe.crt", "-outform", "DER", text=False).stdout
    assert ossl("x509", "-in", tmp_path / "a.pem", "-outform", "DER", text=False).stdout == \
        ossl("x509", "-in", os.path.join(d, "ca.crt"), "-outform", "DER", text=False).stdout
    assert certs.count("BEGIN CERTIFICATE") == 2
    assert ossl("pkey", "-in", tmp_path / "k.pem", "-pubout").stdout == \
        ossl("pkey", "-in", usb / "joe.key", "-pubout").stdout
    # a wrong passphrase fails the MAC
    r = ossl("pkcs12", "-info", "-in", p12, "-passin", "pass:wrong", "-noout", ok=False)
    assert r.returncode != 0 and "Mac verify error" in r.stderr
    # NSS (Thunderbird) imports it into a fresh database: key, user cert, CA
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", "sql:%s" % db, "--empty-password"], check=True)
    r = subprocess.run(["pk12util", "-i", p12, "-d", "sql:%s" % db, "-W", pw],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "PKCS12 IMPORT SUCCESSFUL" in r.stdout, r.stdout + r.stderr
    certs = subprocess.run(["certutil", "-L", "-d", "sql:%s" % db], capture_output=True, text=True).stdout
    assert re.search(r"^joe@example\.test\s+u,u,u$", certs, re.M), certs
    assert re.search(r"^Example Office CA\s", certs, re.M), certs
    keys = subprocess.run(["certutil", "-K", "-d", "sql:%s" % db], capture_output=True, text=True).stdout
    assert re.search(r"ec\s+[0-9a-f]+\s+joe@example\.test", keys), keys
    r = subprocess.run(["pk12util", "-i", p12, "-d", "sql:%s" % db, "-W", "wrong"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    # the text files
    rc = (usb / ".fetchmailrc").read_text()
    assert "poll mail.example.test service 995 protocol POP3\n" in rc
    assert 'user "joe@example.test" is joe here\n' in rc
    assert "   ssl sslcertck sslcertfile /home/joe/.certs/office-ca.pem\n" in rc
    assert "   sslcert /home/joe/.certs/joe.crt sslkey /home/joe/.certs/joe.key\n" in rc
    fp = ossl("x509", "-in", srv, "-noout", "-fingerprint", "-sha256").stdout.strip().split("=")[1]
    readme = (usb / "README.txt").read_text()
    assert fp in readme and "port 995" in readme and "port 993" in readme
    assert i["serial"] in readme and pw not in readme
    assert "private key: keep it private too (chmod 600)" in readme, readme
    curl = (usb / "curl-example.sh").read_text()
    assert "--cert joe.crt --key joe.key" in curl and "pop3s://mail.example.test:995/" in curl
    assert (usb / "office-ca.pem").read_text() == open(os.path.join(d, "ca.crt")).read()


def test_bundle_self_signed_server_goes_along(ca, tmp_path):
    """A first-boot (self-signed) server certificate is not verified by office-ca.pem: the
    bundle carries it as server.pem, and fetchmail/curl trust that."""
    d, _ = ca
    usb = tmp_path / "usb"
    usb.mkdir()
    srv = server_cert(tmp_path)
    i = issue(d, "joe@example.test", 1, usb, "mail.example.test", srv, "/home/joe/.certs")
    assert (usb / "server.pem").read_text() == open(srv).read()
    rc = (usb / ".fetchmailrc").read_text()
    assert "   ssl sslcertck sslcertfile /home/joe/.certs/server.pem\n" in rc
    assert "--cacert server.pem" in (usb / "curl-example.sh").read_text()
    assert "server.pem" in (usb / "README.txt").read_text()
    ossl("verify", "-CAfile", usb / "server.pem", srv)
    r = ossl("verify", "-CAfile", usb / "office-ca.pem", srv, ok=False)
    assert r.returncode != 0
    assert len(os.listdir(usb)) == 8 and i["passphrase"]


@pytest.fixture
def tiny_usb(tmp_path):
    """A 64 KiB tmpfs: a USB key that fills up."""
    mnt = tmp_path / "usb"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr)
    yield mnt
    subprocess.run(["umount", str(mnt)])


def test_bundle_on_full_usb_key_leaves_nothing(ca, tmp_path, tiny_usb):
    d, _ = ca
    # fill the key so that only a few KiB are left: part of the bundle would fit
    filler = tiny_usb / "photos.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"x" * 1024)
    except OSError:
        pass
    os.close(fd)
    os.truncate(filler, os.path.getsize(filler) - 6 * 1024)
    before = sorted(os.listdir(tiny_usb))
    r = drv("issue", d, "joe@example.test", 1, tiny_usb, "mail.example.test", ok=False)
    assert r.returncode == 1
    assert "no space left on the device" in r.stderr and str(tiny_usb) in r.stderr, r.stderr
    assert sorted(os.listdir(tiny_usb)) == before  # no joe.*, no temporary file
    # after making room the same bundle is written whole
    os.unlink(filler)
    i = issue(d, "joe@example.test", 1, tiny_usb, "mail.example.test")
    assert len(os.listdir(tiny_usb)) == 7
    ossl("pkcs12", "-info", "-in", tiny_usb / "joe.p12", "-passin", "pass:" + i["passphrase"], "-noout")


def test_bundle_on_failing_usb_device(ca, tmp_path):
    """A USB key whose device fails under the writes (an ext2 image on a loop device whose
    backing store runs out: the file system thinks it has room, the block device errors,
    as a stick pulled or dying does). The bundle fails with the file named; plugged in
    again, the key has a clean file system and no file of the bundle, whole or partial."""
    back, usb = tmp_path / "back", tmp_path / "usb"
    usb.mkdir()
    tmpfs(back, "2m")
    img = back / "usb.img"
    loop = None
    try:
        with open(img, "wb") as f:
            f.truncate(16 * 1024 * 1024)
        subprocess.run(["mkfs.ext2", "-q", "-F", str(img)], check=True)
        r = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("no loop device here: " + r.stderr)
        loop = r.stdout.strip()
        subprocess.run(["mount", "-t", "ext2", loop, str(usb)], check=True)
        filler = fill(back, 0)
        d, _ = ca
        r = drv("issue", d, "joe@example.test", 1, usb, "mail.example.test", ok=False)
        assert r.returncode == 1, r.stdout
        assert re.search(r"%s/(joe\.(p12|crt|key)|office-ca\.pem|\.fetchmailrc|curl-example\.sh|"
                         r"README\.txt): " % re.escape(str(usb)), r.stderr), r.stderr
        os.unlink(filler)
        subprocess.run(["umount", str(usb)], check=True)
        fsck = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        subprocess.run(["mount", "-t", "ext2", loop, str(usb)], check=True)
        assert sorted(os.listdir(usb)) == ["lost+found"]
    finally:
        subprocess.run(["umount", str(usb)], capture_output=True)
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        subprocess.run(["umount", str(back)], capture_output=True)


def test_bundle_into_missing_folder(ca, tmp_path):
    d, _ = ca
    r = drv("issue", d, "joe@example.test", 1, tmp_path / "gone", "mail.example.test", ok=False)
    assert r.returncode == 1 and str(tmp_path / "gone") in r.stderr


# ---- importing a CA ----------------------------------------------------------------------

@pytest.fixture(params=["ec", 2048], ids=["ecdsa", "rsa2048"])
def office(tmp_path, request):
    """An office CA made with openssl (the pki.py test PKI's way), ECDSA or RSA, and its
    CRL."""
    c = CA(str(tmp_path / "openssl-ca"), "Example Office Root", keyalg=request.param)
    user = c.issue("old", "/CN=old@example.test", "email:old@example.test")
    crl = c.crl(str(tmp_path / "office-crl.pem"), revoked=[user])
    return c, crl, user


def test_import_ca_with_key_issues_verifiable_certs(office, tmp_path):
    c, crl, _ = office
    d = tmp_path / "ca"
    info = kv(drv("ca-inspect", c.crt, c.key))
    assert info["subject"] == "CN=Example Office Root" and info["has_key"] == "1"
    fp = ossl("x509", "-in", c.crt, "-noout", "-fingerprint", "-sha256").stdout.strip().split("=")[1]
    assert info["fp"] == fp
    assert not os.path.exists(d)  # inspect writes nothing
    info = kv(drv("ca-import", d, c.crt, c.key))
    assert info["has_crl"] == "1"  # signed here: the key is on the gateway
    assert modes(d / "ca.key") == 0o600
    i = issue(str(d), "joe@example.test")
    crt = d / "certs" / (i["serial"] + ".pem")
    ossl("verify", "-CAfile", c.crt, crt)
    cr = crl_fields(str(d / "crl.pem"), c.crt)
    assert cr["issuer"] == "CN = Example Office Root"
    drv("revoke", d, "joe@example.test", "keyCompromise")
    r = ossl("verify", "-crl_check", "-CAfile", c.crt, "-CRLfile", d / "crl.pem", crt, ok=False)
    assert "certificate revoked" in r.stdout + r.stderr


def test_import_ca_wrong_key_refused(office, tmp_path):
    c, _, _ = office
    other = CA(str(tmp_path / "other"), "Other")
    d = tmp_path / "ca"
    r = drv("ca-import", d, c.crt, other.key, ok=False)
    assert r.returncode == 1 and "does not belong to the CA certificate" in r.stderr
    assert other.key in r.stderr
    assert not os.path.exists(d / "ca.crt") and not os.path.exists(d / "ca.key")
    r = drv("ca-inspect", c.crt, other.key, ok=False)
    assert "does not belong" in r.stderr
    # a user certificate is no CA
    user = c.issue("u", "/CN=u@example.test")
    r = drv("ca-import", d, user.crt, "-", ok=False)
    assert "not a CA certificate" in r.stderr


def test_import_cacrl_bundle_split(office, tmp_path):
    c, crl, user = office
    bundle = tmp_path / "CAcrl-bundle"
    bundle.write_text(open(c.crt).read() + "\n" + open(crl).read())
    info = kv(drv("ca-inspect", bundle, "-"))
    assert info["has_crl"] == "1" and info["has_key"] == "0"
    d = tmp_path / "ca"
    info = kv(drv("ca-import", d, bundle, "-"))
    assert info["has_crl"] == "1" and info["has_key"] == "0"
    # split: ca.crt is the certificate alone, crl.pem the CRL alone (DER-identical)
    assert "X509 CRL" not in (d / "ca.crt").read_text()
    assert ossl("x509", "-in", d / "ca.crt", "-outform", "DER", text=False).stdout == \
        ossl("x509", "-in", c.crt, "-outform", "DER", text=False).stdout
    assert (d / "crl.pem").read_text().count("BEGIN X509 CRL") == 1
    assert ossl("crl", "-in", d / "crl.pem", "-outform", "DER", text=False).stdout == \
        ossl("crl", "-in", crl, "-outform", "DER", text=False).stdout
    shown = kv(drv("crl-show", d / "crl.pem", d / "ca.crt"))
    assert shown["verified"] == "1" and shown["entries"] == "1"
    # without the key the gateway cannot sign, and says so
    r = drv("issue", d, "joe@example.test", 1, ok=False)
    assert "cannot sign" in r.stderr
    # a newer CRL from the office is imported after checking it
    crl2 = c.crl(str(tmp_path / "crl2.pem"), revoked=[user])
    drv("crl-import", d, crl2)
    # a CRL of another CA is refused, in a bundle as on its own
    other = CA(str(tmp_path / "other"), "Other")
    ocrl = other.crl(str(tmp_path / "other-crl.pem"))
    r = drv("crl-import", d, ocrl, ok=False)
    assert "not issued by this CA" in r.stderr
    bad = tmp_path / "bad-bundle"
    bad.write_text(open(c.crt).read() + open(ocrl).read())
    r = drv("ca-import", tmp_path / "ca2", bad, "-", ok=False)
    assert "not issued by this CA" in r.stderr and str(bad) in r.stderr
    assert not os.path.exists(tmp_path / "ca2" / "ca.crt")


# ---- through mailgwd ----------------------------------------------------------------------

MDA = """#!/usr/bin/python3
import os, sys
out = sys.argv[1]
n = len(os.listdir(out))
with open(os.path.join(out, "%03d" % n), "wb") as f:
    f.write(sys.stdin.buffer.read())
"""


def run_fetchmail(tmp_path, rcfile, password):
    """fetchmail with the bundle's .fetchmailrc as written (the password comes from
    ~/.netrc, as fetchmail allows); delivery to files through an mda."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    netrc = home / ".netrc"
    netrc.write_text("machine localhost login joe@example.test password %s\n" % password)
    netrc.chmod(0o600)
    out = tmp_path / ("fm-%d" % len(list(tmp_path.glob("fm-*"))))
    out.mkdir()
    mda = tmp_path / "mda.py"
    mda.write_text(MDA)
    mda.chmod(0o755)
    r = subprocess.run(["fetchmail", "-f", str(rcfile), "--nosyslog", "-v",
                        "--idfile", str(tmp_path / "fetchids"), "--pidfile", str(tmp_path / "fm.pid"),
                        "--mda", "%s %s" % (mda, out)],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME=str(home)))
    return r, sorted(out.iterdir())


def test_bundle_fetchmail_then_revoked_refused_after_reload(daemon, pki, tmp_path):
    """The whole path of issue 8 on the host: the gateway has a first-boot (self-signed)
    server certificate and the office CA; joe's bundle's .fetchmailrc, used as written,
    fetches his mail through the certificate gate; after `cert revoke` the new CRL is
    installed (atomic replace, as the console does) and mailgwd reloaded: the same
    fetchmail is refused in the handshake, while ann's established session goes on and
    she can log in again."""
    import poplib
    from types import SimpleNamespace
    cad = str(tmp_path / "ca")
    drv("ca-create", cad, "Gateway Office CA")
    srv = server_cert(tmp_path, "localhost")
    d = daemon(start=False)
    install_tls(d, pki, crl=os.path.join(cad, "crl.pem"), ca=os.path.join(cad, "ca.crt"),
                server=SimpleNamespace(crt=srv, key=str(tmp_path / "srv.key")))
    # .netrc passwords are single words: joe gets one without the space of gate.PASSWORDS
    pw = {"joe": "joe-netrc-pw", "ann": gate.PASSWORDS["ann"]}
    for u in ("joe", "ann"):
        add_user(d, u, pw[u])
    d.write_conf(tls_conf(d))
    d.start()
    port = d.addr("pop3s")[1]
    usb = tmp_path / "usb"
    for u in ("joe", "ann"):
        (usb / u).mkdir(parents=True)
    joe = issue(cad, "joe@example.test", 1, usb / "joe", "localhost", srv, usb / "joe", port)
    issue(cad, "ann@example.test", 1, usb / "ann", "localhost", srv, usb / "ann", port)
    body = gate.message(1)
    gate.deliver(d, "joe", body)

    r, got = run_fetchmail(tmp_path, usb / "joe" / ".fetchmailrc", pw["joe"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == 1 and got[0].read_bytes().endswith(body.replace(b"\r\n", b"\n"))

    def login(user):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(usb / user / "server.pem"))
        ctx.load_cert_chain(str(usb / user / (user + ".crt")), str(usb / user / (user + ".key")))
        p = poplib.POP3_SSL("localhost", port, context=ctx, timeout=15)
        p.user("%s@example.test" % user)
        p.pass_(pw[user])
        return p

    p_ann = login("ann")
    drv("revoke", cad, joe["serial"], "keyCompromise")
    replace_crl(d, os.path.join(cad, "crl.pem"))
    m = d.mark()
    d.control("reload")
    d.wait_log(r"reload", start=m)
    m = d.mark()
    r, got = run_fetchmail(tmp_path, usb / "joe" / ".fetchmailrc", pw["joe"])
    assert r.returncode not in (0, 1) and got == [], r.stdout + r.stderr
    assert "revoked" in r.stdout + r.stderr, r.stdout + r.stderr
    line = d.wait_log(r"refused: .*has been revoked", start=m)
    assert "CN=joe@example.test" in line and joe["serial"][-4:] in line.replace(":", "")
    # ann's established session goes on, and she can log in again
    assert p_ann.stat()[0] == 0
    p_ann.quit()
    login("ann").quit()


def der_tlv(b, i):
    """(tag, content start, end) of the DER element at b[i]."""
    tag, n = b[i], b[i + 1]
    if n < 0x80:
        return tag, i + 2, i + 2 + n
    k = n & 0x7f
    ln = int.from_bytes(b[i + 2:i + 2 + k], "big")
    return tag, i + 2 + k, i + 2 + k + ln


def name_der(cert_der, which):
    """The raw issuer or subject Name of a certificate."""
    _, s, _ = der_tlv(cert_der, 0)          # Certificate
    _, i, _ = der_tlv(cert_der, s)          # TBSCertificate content
    fields = []
    while len(fields) < 6:
        tag, cs, e = der_tlv(cert_der, i)
        fields.append(cert_der[i:e])
        i = e
    off = 1 if fields[0][0] == 0xA0 else 0  # [0] version
    return fields[off + (2 if which == "issuer" else 4)]


def test_import_ca_issuer_byte_exact(tmp_path):
    """An openssl CA with a many-part subject (the reference article's kind): the
    certificates and CRLs the gateway signs name it byte for byte."""
    key, crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", crt, "-days", "100",
         "-subj", "/C=IE/ST=Dublin/O=Senderek Web Security/OU=Mail/CN=Senderek RootCA/emailAddress=ca@senderek.ie",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    d = tmp_path / "ca"
    drv("ca-import", d, crt, key)
    i = issue(str(d), "joe@example.test")
    ca_der = ossl("x509", "-in", crt, "-outform", "DER", text=False).stdout
    c_der = ossl("x509", "-in", d / "certs" / (i["serial"] + ".pem"), "-outform", "DER", text=False).stdout
    assert name_der(c_der, "issuer") == name_der(ca_der, "subject")
    crl_der = ossl("crl", "-in", d / "crl.pem", "-outform", "DER", text=False).stdout
    assert name_der(ca_der, "subject") in crl_der
    ossl("verify", "-CAfile", crt, d / "certs" / (i["serial"] + ".pem"))
    crl_fields(str(d / "crl.pem"), str(crt))
