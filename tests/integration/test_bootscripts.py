"""The image's boot scripts run on this machine against a temporary /data (MAILGW_DATA):
`clock` never follows a symlink the daemon could plant and does not trust a saved time
implausibly far ahead of the build time; `firstboot` lays /data out per README's table;
an old /data/pki moves to /data/etc/tls (and mailgw.conf's [tls] paths) by migration 1 as
rcS runs it before firstboot (test_migrate.py has the rest), after which a reload by the
unprivileged daemon re-reads the TLS files."""
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest

from mgw import HOST_BIN, binary

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the scripts run as root and the daemon as 'nobody'")

ROOTFS = os.path.join(os.path.dirname(__file__), "../../rootfs")
LIBEXEC = os.path.join(ROOTFS, "usr/libexec/mailgw")
DU = "nobody"
DG = grp.getgrgid(pwd.getpwnam(DU).pw_gid).gr_name
YEAR = 365 * 86400


def owner(path):
    st = os.lstat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def script(name, args, data, etc=None, extra_env=None):
    env = dict(os.environ)
    env.update({"MAILGW_DATA": str(data), "CLOCK_DRY_RUN": "1",
                "PATH": os.path.abspath(HOST_BIN) + ":" + env["PATH"]})
    if etc is not None:
        env["MAILGW_ETC"] = str(etc)
    env.update(extra_env or {})
    return subprocess.run(["sh", os.path.join(LIBEXEC, name)] + args, env=env,
                          capture_output=True, text=True, timeout=120)


def traversable(path):
    """pytest's temporary folders are 0700: let the daemon's user reach path (the test's
    folders above the data directory, as mgw.Daemon does)."""
    d = str(path)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)


def as_daemon_user(*cmd):
    subprocess.run([str(c) for c in cmd], check=True, user=DU, group=DG, timeout=30)


@pytest.fixture
def box(tmp_path):
    """A /data with the old layout's state/ (owned by the daemon, as the old firstboot
    left it), an /etc/mailgw with the build time, and files root must never write."""
    data = tmp_path / "data"
    (data / "state").mkdir(parents=True)
    os.chmod(data, 0o755)
    traversable(tmp_path)
    os.chown(data / "state", pwd.getpwnam(DU).pw_uid, grp.getgrnam(DG).gr_gid)
    etc = tmp_path / "etc-mailgw"
    etc.mkdir()
    build = int(time.time()) - 30 * 86400
    (etc / "build-time").write_text("%d\n" % build)
    victim = tmp_path / "shadow"
    victim.write_text("root:original:\n")
    os.chmod(victim, 0o600)
    return data, etc, build, victim


def test_clock_follows_no_symlink_planted_by_the_daemon(box):
    data, etc, build, victim = box
    state = data / "state"
    # planted by the daemon's user at every name the script writes
    for name in ("clock", "clock.tmp"):
        as_daemon_user("ln", "-s", victim, state / name)
    r = script("clock", ["save"], data, etc)
    assert r.returncode == 0, r.stdout + r.stderr
    assert victim.read_text() == "root:original:\n"
    assert owner(victim) == ("root", "root", 0o600)
    clock = state / "clock"
    assert not clock.is_symlink()
    assert owner(clock) == ("root", "root", 0o644)
    assert abs(int(clock.read_text()) - time.time()) < 600
    # the directory is root's again once the boot-time check ran
    r = subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "fix", data],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "%s/state/clock.tmp" % data not in r.stderr  # not a table name: left alone
    assert owner(state) == ("root", "root", 0o755)


def test_clock_does_not_trust_a_saved_time_far_ahead_of_the_build(box):
    data, etc, build, victim = box
    far = build + 20 * YEAR
    (data / "state" / "clock").write_text("%d\n" % far)
    r = script("clock", ["restore"], data, etc)
    assert r.returncode == 0, r.stderr
    assert re.search(r"clock: \*\*\* the saved time \S+ \S+ UTC is more than 3650 days after "
                     r"the build time .* not trusted", r.stdout), r.stdout
    assert "would set the time" not in r.stdout  # the host clock is ahead of the build
    # the implausible value is replaced: NTP's or the admin's later time can be saved
    assert abs(int((data / "state" / "clock").read_text()) - time.time()) < 600
    # the bound is the image's (Kconfig CLOCK_MAX_AHEAD_DAYS): within it, it is trusted
    (etc / "clock-max-ahead-days").write_text("%d\n" % (30 * 365))
    (data / "state" / "clock").write_text("%d\n" % far)
    r = script("clock", ["restore"], data, etc)
    assert "would set the time to @%d" % far in r.stdout
    assert "not trusted" not in r.stdout


def test_clock_keeps_ntp_time_earlier_than_the_saved_one(box):
    data, etc, build, victim = box
    later = int(time.time()) + 86400
    (data / "state" / "clock").write_text("%d\n" % later)
    assert script("clock", ["save"], data, etc).returncode == 0
    assert int((data / "state" / "clock").read_text()) == later  # never backwards...
    r = script("clock", ["step"], data, etc)  # ...unless NTP says so (ntpd -S)
    assert r.returncode == 0
    assert "NTP moved the clock back" in r.stdout
    assert abs(int((data / "state" / "clock").read_text()) - time.time()) < 600


# LAYOUT.md's table for the paths firstboot makes
FIRSTBOOT_EXPECTED = {
    "etc": ("root", DG, 0o750),
    "etc/mailgw.conf": ("root", DG, 0o640),
    "etc/domains": ("root", DG, 0o750),
    "etc/tls": ("root", DG, 0o750),
    "etc/tls/server.crt": ("root", DG, 0o640),
    "etc/tls/server.key": ("root", "root", 0o600),
    "mail": (DU, DG, 0o700),
    "spool": (DU, DG, 0o700),
    "state": ("root", "root", 0o755),
}


def firstboot(data, tmp_path, share=None):
    env = {"MAILGW_RUN": str(tmp_path / "run"), "MAILGW_USER": DU}
    if share:
        env["MAILGW_SHARE"] = str(share)
    r = script("firstboot", [], data, extra_env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_firstboot_on_an_empty_data_follows_the_layout(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # the image's defaults with this machine's root prefix and daemon user
    share = tmp_path / "share"
    shutil.copytree(os.path.join(ROOTFS, "usr/share/mailgw"), share)
    for root, dirs, files in os.walk(share):
        for n in files:
            p = os.path.join(root, n)
            text = open(p).read().replace("/data/", str(data) + "/")
            text = text.replace("user = mailgw", "user = " + DU)
            text = re.sub(r"(?m)^(data_dir = )/data$", r"\g<1>" + str(data), text)
            text = re.sub(r"(?m)^watchdog = .*$", "", text)
            open(p, "w").write(text)
    out = firstboot(data, tmp_path, share)
    assert "server certificate SHA256 Fingerprint=" in out
    for rel, want in FIRSTBOOT_EXPECTED.items():
        assert owner(data / rel) == want, rel
    assert owner(data / "etc/network.conf") == ("root", "root", 0o600)
    # the [tls] fragment was accepted (mailgwd -t loaded the key and certificate made
    # before it), so it names etc/tls
    assert "cert = %s/etc/tls/server.crt" % data in (data / "etc/mailgw.conf").read_text()
    assert not (data / "pki").exists()
    r = subprocess.run([binary("mailgw-layout", asan=False), "-u", DU, "check", data],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(tmp_path / "run" / "firstboot")  # work files removed


def test_firstboot_migrates_pki_and_a_reload_rereads_the_tls_files(daemon, tmp_path):
    d = daemon(start=False, chown=False)
    data = d.data
    # the layout of the old first boot: the key and certificate in a root-only /data/pki,
    # mailgw.conf pointing there, state/ mail/ spool/ owned by the daemon
    pki = os.path.join(data, "pki")
    os.makedirs(pki, mode=0o700)
    subprocess.run([binary("mailgw-keygen", asan=False), "-k", os.path.join(pki, "server.key"),
                    "-c", os.path.join(pki, "server.crt"), "-n", "localhost"], check=True,
                   capture_output=True)
    key = open(os.path.join(pki, "server.key"), "rb").read()
    crt = open(os.path.join(pki, "server.crt"), "rb").read()
    d.write_conf("[tls]\ncert = %s/server.crt\nkey = %s/server.key\n"
                 "[smtp]\nlisten = 127.0.0.1:0\n" % (pki, pki))
    for sub in ("mail", "spool", "state"):
        os.makedirs(os.path.join(data, sub))
        os.chown(os.path.join(data, sub), pwd.getpwnam(DU).pw_uid, grp.getgrnam(DG).gr_gid)
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    d.chown_data()  # (chown=False: only lets 'nobody' traverse pytest's folders)
    as_daemon_user("ln", "-s", victim, os.path.join(data, "state", "clock"))

    # that layout: a reload after the privilege drop cannot re-read the certificate
    d.start()
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload refused", start=m)
    assert "pki/server.crt" in line
    assert d.stop() == 0

    # rcS: the migrations (a board not on trial), then firstboot
    r = subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y", "firmware", "migrate"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MAILGW_CMDLINE="/dev/null"))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + firstboot(data, tmp_path)
    assert "data: migration 1 (the server key and certificate move from /data/pki to " \
        "/data/etc/tls): running" in out
    assert "moved %s/server.key to %s/etc/tls/server.key" % (pki, data) in out
    assert "generating the server key" not in out
    assert "%s/state/clock: a symlink (not followed) -> removed" % data in out
    assert not os.path.exists(pki)
    tls = os.path.join(data, "etc", "tls")
    assert open(os.path.join(tls, "server.key"), "rb").read() == key
    assert open(os.path.join(tls, "server.crt"), "rb").read() == crt
    conf = open(d.conf_path).read()
    assert "cert = %s/server.crt\nkey = %s/server.key\n" % (tls, tls) in conf
    assert "[tls] paths in %s now point to %s" % (d.conf_path, tls) in out
    for rel, want in FIRSTBOOT_EXPECTED.items():
        if rel != "etc/domains":
            assert owner(os.path.join(data, rel)) == want, rel
    assert victim.read_text() == "untouched\n"

    m = d.mark()
    d.start(wait=False)
    d.wait_log(r"ready", start=m)
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded .*generation 2 replaces 1", start=m)
