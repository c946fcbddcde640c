"""mailgw-keygen: the first-boot server key and self-signed certificate, checked with
openssl as an admin would."""
import os
import subprocess

from mgw import binary


def keygen(*args):
    return subprocess.run([binary("mailgw-keygen"), *args], capture_output=True, text=True, timeout=60)


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_new_key_and_certificate(tmp_path):
    key, crt = str(tmp_path / "server.key"), str(tmp_path / "server.crt")
    r = keygen("-k", key, "-c", crt, "-n", "mailgw.example.org")
    assert r.returncode == 0, r.stderr
    printed = r.stdout.strip().split("=", 1)[1]

    # the fingerprint on the console is the one a client computes
    assert openssl("x509", "-in", crt, "-noout", "-fingerprint", "-sha256").strip().split("=", 1)[1] == printed
    assert "prime256v1" in openssl("pkey", "-in", key, "-noout", "-text")
    assert "CN = mailgw.example.org" in openssl("x509", "-in", crt, "-noout", "-subject")
    assert "DNS:mailgw.example.org" in openssl("x509", "-in", crt, "-noout", "-ext", "subjectAltName")
    # the certificate belongs to the key and verifies against itself
    assert openssl("pkey", "-in", key, "-pubout") == openssl("x509", "-in", crt, "-noout", "-pubkey")
    assert ": OK" in openssl("verify", "-CAfile", crt, crt)
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert not os.path.exists(key + ".tmp") and not os.path.exists(crt + ".tmp")

    # the fingerprint alone, later
    r2 = keygen("-c", crt, "-f")
    assert r2.returncode == 0 and r2.stdout.strip().split("=", 1)[1] == printed


def test_never_replaces_a_key(tmp_path):
    key, crt = str(tmp_path / "server.key"), str(tmp_path / "server.crt")
    assert keygen("-k", key, "-c", crt, "-n", "a.example").returncode == 0
    before = open(key).read()
    r = keygen("-k", key, "-c", crt, "-n", "b.example")
    assert r.returncode == 3 and "exists" in r.stderr
    assert open(key).read() == before


def test_refuses_bad_names(tmp_path):
    r = keygen("-k", str(tmp_path / "k"), "-c", str(tmp_path / "c"), "-n", "bad name/../x")
    assert r.returncode == 1
    assert not os.path.exists(tmp_path / "k")
