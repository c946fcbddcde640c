"""mailgw-passwd: importing the reference article's imap.passwd/imap.shadow pair (hashes
made by the openssl CLI, a locked account, a malformed line), setting and checking
passwords, and hashes that OpenSSL recomputes identically."""
import os
import pwd
import stat
import subprocess

import pytest

from mgw import binary

TOOL = binary("mailgw-passwd")
# The daemon's user the files are made readable for (on the board: DATA/etc/mailgw.conf's
# `user`, and this data directory has no configuration).
U = ["-u", "nobody"]


def run(args, stdin=""):
    return subprocess.run([TOOL] + [str(a) for a in args], input=stdin.encode(),
                          capture_output=True, timeout=60)


def openssl_hash(flag, password, salt=None):
    cmd = ["openssl", "passwd", flag]
    if salt:
        cmd += ["-salt", salt]
    return subprocess.run(cmd + [password], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def pair(tmp_path):
    joe = openssl_hash("-6", "joe's secret")
    ann = openssl_hash("-5", "ann pw")
    eve = openssl_hash("-6", "eve pw")
    passwd = tmp_path / "imap.passwd"
    shadow = tmp_path / "imap.shadow"
    passwd.write_text(
        "joe:x:1000:1000:Joe User,,,:/home/joe:/bin/bash\n"
        "ann:x:1001:1001::/home/ann:/bin/sh\n"
        "eve:x:1002:1002::/home/eve:/bin/sh\n"
        "this line is not a passwd line\n"
        "solo:x:1003:1003::/home/solo:/bin/sh\n")
    shadow.write_text(
        "joe:%s:19700:0:99999:7:::\n"
        "ann:%s:19700:0:99999:7:::\n"
        "eve:!%s:19700:0:99999:7:::\n" % (joe, ann, eve))
    return tmp_path, passwd, shadow, joe, ann


def check(data, addr, password):
    return run(["check", data, addr], password + "\n").returncode


def test_import_reference_pair(pair):
    tmp, passwd, shadow, joe, ann = pair
    data = tmp / "data"
    r = run(U + ["import", data, "example.test", passwd, shadow])
    err = r.stderr.decode()
    assert r.returncode == 0, err
    # every skipped line is named with file:line and why
    assert "%s:3: user 'eve': account locked" % shadow in err
    assert "%s:4: malformed line" % passwd in err
    assert "%s:5: user 'solo': no line in %s" % (passwd, shadow) in err
    assert "imported 2 users into example.test" in err

    f = data / "etc" / "domains" / "example.test" / "passwd"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    if os.geteuid() == 0:
        # root:nobody's group, as README's /data layout says, up to etc/
        gid = pwd.getpwnam("nobody").pw_gid
        for p, mode in ((f, 0o640), (f.parent, 0o750), (f.parent.parent, 0o750),
                        (data / "etc", 0o750)):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, mode), p
    lines = f.read_text().splitlines()
    # the shadow hashes are kept as they are, with their dovecot scheme prefix
    assert lines == ["joe:{SHA512-CRYPT}%s::::::" % joe, "ann:{SHA256-CRYPT}%s::::::" % ann]

    assert check(data, "joe@example.test", "joe's secret") == 0
    assert check(data, "JOE@Example.Test", "joe's secret") == 0
    assert check(data, "ann@example.test", "ann pw") == 0
    assert check(data, "joe@example.test", "ann pw") == 1
    assert check(data, "eve@example.test", "eve pw") == 1
    assert check(data, "solo@example.test", "") == 1
    assert check(data, "joe@other.test", "joe's secret") == 1


def test_import_nothing_leaves_file(pair):
    tmp, passwd, shadow, joe, ann = pair
    data = tmp / "data"
    assert run(U + ["import", data, "example.test", passwd, shadow]).returncode == 0
    before = (data / "etc/domains/example.test/passwd").read_bytes()
    empty = tmp / "empty.shadow"
    empty.write_text("joe:!:19700::::::\n")
    r = run(U + ["import", data, "example.test", passwd, empty])
    assert r.returncode == 1
    assert b"nothing to import" in r.stderr
    assert (data / "etc/domains/example.test/passwd").read_bytes() == before


def test_import_refuses_bad_domain(pair):
    tmp, passwd, shadow, joe, ann = pair
    data = tmp / "data"
    for dom in ["../etc", "a/b", ".x", "Example.test"]:
        r = run(U + ["import", data, dom, passwd, shadow])
        assert r.returncode == 2, dom
    assert not (data / "etc").exists()
    r = run(U + ["import", data, "example.test", tmp / "missing", shadow])
    assert r.returncode == 2
    assert b"missing: cannot read" in r.stderr


def test_set_check_and_openssl_agrees(tmp_path):
    data = tmp_path / "data"
    r = run(U + ["-r", "5000", "set", data, "new@example.test"], "first pw\n")
    assert r.returncode == 0, r.stderr
    assert check(data, "new@example.test", "first pw") == 0
    r = run(U + ["set", data, "new@example.test"], "second pw\r\n")
    assert r.returncode == 0, r.stderr
    assert check(data, "new@example.test", "first pw") == 1
    assert check(data, "new@example.test", "second pw") == 0
    line = (data / "etc/domains/example.test/passwd").read_text()
    assert line.startswith("new:{SHA512-CRYPT}$6$rounds=20000$")
    assert line.count("\n") == 1
    # refused: bad names, empty password
    assert run(U + ["set", data, "../x@example.test"], "pw\n").returncode == 2
    assert run(U + ["set", data, "x@../etc"], "pw\n").returncode == 2
    assert run(U + ["set", data, "x@example.test"], "\n").returncode == 2

    # `hash` prints what OpenSSL computes for the same salt and rounds
    r = run(["hash"], "s3cr3t p4ss\n")
    assert r.returncode == 0
    h = r.stdout.decode().strip()
    assert h.startswith("{SHA512-CRYPT}$6$rounds=20000$")
    crypt = h[len("{SHA512-CRYPT}"):]
    setting = crypt.rsplit("$", 1)[0][len("$6$"):]  # "rounds=20000$<salt>"
    assert openssl_hash("-6", "s3cr3t p4ss", setting) == crypt
