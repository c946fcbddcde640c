"""/data's versioned migrations (README "Updating the firmware", "Migrations"), run by the
real console program (`mailgw firmware migrate`, as rcS runs it; `mailgw firmware confirm`,
as firmware-confirm does) on a data directory laid out by the product's own tools, with a
boot partition that is a folder (MAILGW_BOOT_DIR) as test_firmware.py has it. Migration 1
is the move of an early first boot's /data/pki to /data/etc/tls: it waits while the slot
is on trial, runs once after the slot confirmed (mailgwd, running as its user on the old
paths, reloads onto the new ones), a run killed before any of its writes is completed by
the next one, and a /data newer than the firmware is refused or warned about, by the
console and by mailgwd."""
import grp
import os
import pwd
import signal
import stat
import subprocess

import pytest

from mgw import binary
from test_firmware import Board

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="root tools write /data; the daemon runs as 'nobody'")

DU = "nobody"
DG = grp.getgrgid(pwd.getpwnam(DU).pw_gid).gr_name
FORMAT = "state/data-format"


def owner(path):
    st = os.lstat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def old_data(d):
    """The data directory of an early first boot: the layout (made by mailgw-layout fix, as
    rcS does at every boot) plus the server key and certificate in a root-only pki/ and
    mailgw.conf's [tls] pointing there. Returns (key, crt) bytes."""
    pki = os.path.join(d.data, "pki")
    os.makedirs(pki, mode=0o700)
    subprocess.run([binary("mailgw-keygen", asan=False), "-k", os.path.join(pki, "server.key"),
                    "-c", os.path.join(pki, "server.crt"), "-n", "localhost"], check=True,
                   capture_output=True)
    d.write_conf("[tls]\ncert = %s/server.crt\nkey = %s/server.key\n"
                 "[smtp]\nlisten = 127.0.0.1:0\n" % (pki, pki))
    subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "fix", d.data], check=True,
                   capture_output=True)
    d.chown_data()  # (chown=False: only lets 'nobody' traverse pytest's folders)
    return (open(os.path.join(pki, "server.key"), "rb").read(),
            open(os.path.join(pki, "server.crt"), "rb").read())


def mailgw(board, d, *args, env=None):
    e = board.env(d.control_path)
    e.update(env or {})
    return subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y"] + list(args),
                          capture_output=True, text=True, timeout=60, env=e)


def assert_migrated(d, key, crt):
    tls = os.path.join(d.data, "etc", "tls")
    assert not os.path.exists(os.path.join(d.data, "pki"))
    assert open(os.path.join(tls, "server.key"), "rb").read() == key
    assert open(os.path.join(tls, "server.crt"), "rb").read() == crt
    assert "cert = %s/server.crt\nkey = %s/server.key\n" % (tls, tls) in open(d.conf_path).read()
    assert open(os.path.join(d.data, FORMAT)).read().splitlines()[1:] == ["format=1", "needs=0"]
    assert owner(os.path.join(d.data, FORMAT)) == ("root", "root", 0o644)
    assert owner(os.path.join(tls, "server.key")) == ("root", "root", 0o600)
    assert owner(os.path.join(tls, "server.crt")) == ("root", DG, 0o640)
    r = subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "check", d.data],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_migration_waits_for_the_confirm_runs_once_and_mailgwd_follows(daemon, tmp_path):
    d = daemon(start=False, chown=False)
    key, crt = old_data(d)
    b = Board(tmp_path / "board")
    # an update to slot b booted on trial (as the boot script leaves the state)
    b.slot("b")
    with open(os.path.join(b.boot, "mgwboot.env"), "w") as f:
        f.write("active=a\ntrying=b\ntries=1\n")

    # rcS: on trial, nothing changes on /data
    r = mailgw(b, d, "firmware", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("data: /data is in format 0, this firmware's is 1: the migrations wait until slot b "
            "confirms") in r.stdout, r.stdout
    assert os.path.exists(os.path.join(d.data, "pki", "server.key"))
    assert not os.path.exists(os.path.join(d.data, FORMAT))
    r = mailgw(b, d, "firmware", "status")
    assert "data format: 0 (this firmware's: 1, migrations pending)" in r.stdout, r.stdout

    # mailgwd runs on the old paths (it reads them as root at start)...
    d.start()
    # ...the slot confirms, and only then migration 1 runs; mailgwd reloads onto etc/tls
    m = d.mark()
    r = mailgw(b, d, "firmware", "confirm")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.index("firmware: slot b (A-test) confirmed") < out.index(
        "data: migration 1 (the server key and certificate move from /data/pki to "
        "/data/etc/tls): running"), out
    assert "moved %s/pki/server.key to %s/etc/tls/server.key" % (d.data, d.data) in out
    assert "data: migration 1 done: /data is now in format 1" in out
    assert "data: mailgwd reloaded its configuration" in out
    d.wait_log(r"reloaded .*generation 2 replaces 1", start=m)
    assert_migrated(d, key, crt)
    # as the unprivileged daemon it can now re-read the certificate at every reload
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded .*generation 3 replaces 2", start=m)

    # the next boots: nothing more runs
    before = open(os.path.join(d.data, FORMAT)).read()
    for args in (("firmware", "migrate"), ("firmware", "confirm")):
        r = mailgw(b, d, *args)
        assert r.returncode == 0 and "migration" not in r.stdout, r.stdout
    assert open(os.path.join(d.data, FORMAT)).read() == before
    r = mailgw(b, d, "firmware", "status")
    assert "data format: 1\n" in r.stdout, r.stdout


def test_no_ab_slots_migrates_at_boot_before_firstboot(daemon, tmp_path):
    """A board without A/B slots (or a slot not on trial): rcS's `firmware migrate` runs
    the migration at once; a fresh /data only gets its format recorded."""
    d = daemon(start=False, chown=False)
    key, crt = old_data(d)
    b = Board(tmp_path / "board")
    b.slot("a")  # active=a, nothing on trial
    r = mailgw(b, d, "firmware", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "data: migration 1 done: /data is now in format 1" in r.stdout, r.stdout
    assert "mailgwd reloaded" not in r.stdout  # (rcS: mailgwd is not running yet)
    assert_migrated(d, key, crt)
    d.start()

    fresh = daemon(start=False, chown=False)
    subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "fix", fresh.data],
                   check=True, capture_output=True)
    r = mailgw(b, fresh, "firmware", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no %s/pki here: nothing to move" % fresh.data in r.stdout, r.stdout
    assert open(os.path.join(fresh.data, FORMAT)).read().splitlines()[1:] == ["format=1", "needs=0"]
    assert owner(os.path.join(fresh.data, FORMAT)) == ("root", "root", 0o644)


def test_a_migration_killed_before_any_write_completes_on_the_next_run(daemon, tmp_path):
    """MAILGW_TEST_MIGRATE_KILL=K kills the process just before its K-th write (a power
    cut between two fsync'd writes): the format is not raised, and the next run finishes."""
    b = Board(tmp_path / "board")
    killed = 0
    for k in range(1, 20):
        d = daemon(start=False, chown=False)
        key, crt = old_data(d)
        r = mailgw(b, d, "firmware", "migrate", env={"MAILGW_TEST_MIGRATE_KILL": str(k)})
        if r.returncode != -signal.SIGKILL:
            assert r.returncode == 0, r.stdout + r.stderr
            break
        killed += 1
        assert not os.path.exists(os.path.join(d.data, FORMAT)), k
        r = mailgw(b, d, "firmware", "migrate")
        assert r.returncode == 0, (k, r.stdout + r.stderr)
        assert "data: migration 1 done: /data is now in format 1" in r.stdout, (k, r.stdout)
        assert_migrated(d, key, crt)
        d.start()  # and mailgwd serves on the result
        assert d.stop() == 0
    # key, certificate, mailgw.conf, the removal of pki/, the format file
    assert killed == 5, killed


def install(d, rel, text):
    subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "install", d.data, rel],
                   input=text.encode(), check=True, capture_output=True)


def test_a_data_format_newer_than_the_firmware(daemon, tmp_path):
    """After a forced downgrade: a newer format whose migrations allow older firmware is
    served with a warning; one that needs a newer firmware is left alone and mailgwd does
    not start."""
    d = daemon(start=False, chown=False)
    old_data(d)
    b = Board(tmp_path / "board")
    install(d, FORMAT, "format=7\nneeds=0\n")
    r = mailgw(b, d, "firmware", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("data: /data is in format 7, newer than this firmware knows (1; a downgrade?): it "
            "runs on it") in r.stdout, r.stdout
    assert os.path.exists(os.path.join(d.data, "pki", "server.key"))  # no migration ran
    assert open(os.path.join(d.data, FORMAT)).read() == "format=7\nneeds=0\n"
    r = mailgw(b, d, "firmware", "status")
    assert "data format: /data is in format 7, newer than this firmware knows" in r.stdout
    d.start()
    d.wait_log(r"state/data-format: /data is in format 7, newer than this firmware knows")
    assert d.stop() == 0

    install(d, FORMAT, "format=7\nneeds=5\n")
    r = mailgw(b, d, "firmware", "migrate")
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("data: *** /data is in format 7 and needs a firmware that knows format 5; this "
            "firmware knows only format 1 (a downgrade?): mailgwd is not started, install "
            "the newer firmware again ***") in r.stdout, r.stdout
    assert open(os.path.join(d.data, FORMAT)).read() == "format=7\nneeds=5\n"
    d.start(wait=False)
    assert d.wait_exit(30) == 3
    assert "needs a firmware that knows format 5" in d.log()

    install(d, FORMAT, "format=x\n")
    r = mailgw(b, d, "firmware", "migrate")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "data: *** %s/%s:1: expected format=N or needs=N: no migration runs ***" % (
        d.data, FORMAT) in r.stdout, r.stdout
