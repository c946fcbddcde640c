"""crlwatch, the CRL watchdog: the one validation and install path (a candidate is
installed as [tls] crl and mailgwd reloads, or refused with its reason and the installed
CRL untouched), and the countdown warnings on the console, the LED and in the
postmaster's Maildir. crlwatch runs as root (as init starts it); mailgwd as 'nobody'."""
import datetime
import email
import fcntl
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import gate
from gate import add_user, deliver, install_tls, message, tls_conf
from mgw import binary, free_port, maildir_arrival
from pki import CA, Cert, now
from test_pop3 import pop, refused

CRLWATCH = binary("crlwatch")
HOOK = os.path.join(os.path.dirname(__file__), "../../rootfs/usr/libexec/mailgw/usb-event")


def watched(daemon, pki, tmp_path, crl=None, smtp=False, extra_crlwatch="", ca=None):
    d = daemon(start=False)
    install_tls(d, pki, crl=crl, ca=ca)
    for u in ("joe", "mia", "rev"):
        add_user(d, u)
    side = tmp_path / "side"
    side.mkdir(exist_ok=True)
    led = side / "led"
    led.write_text("")  # the simulated LED: a regular file the driver rewrites
    cw = ("[crlwatch]\nconsole = %s\nled = %s\nstate = %s\n%s"
          % (side / "console", led, side / "state", extra_crlwatch))
    if smtp:
        cw += ("[smtp]\nlisten = 127.0.0.1:%d\npostmaster = joe@example.test\n"
               "greeting_delay = 0\n" % free_port())
    else:
        cw += "mail = no\n"
    d.write_conf(tls_conf(d) + cw)
    d.start()
    d.side = side
    return d


def crlwatch(d, *args):
    return subprocess.run([CRLWATCH, "-c", d.conf_path, *args], capture_output=True, text=True,
                          timeout=120)


def installed(d):
    with open(os.path.join(gate.tls_dir(d), "crl.pem"), "rb") as f:
        return f.read()


def pem_of(path):
    return subprocess.run(["openssl", "crl", "-in", path, "-outform", "PEM"], check=True,
                          capture_output=True).stdout


def test_install_revokes_next_connection_established_session_goes_on(daemon, pki, tmp_path):
    d = watched(daemon, pki, tmp_path)
    deliver(d, "mia", message(1))
    p = pop(d, pki, user="mia")
    assert p.stat()[0] == 1
    # The CA's new CRL, in DER as some CAs publish it.
    new = pki.ca.crl(str(tmp_path / "new.pem"), revoked=[pki.user["mia"]], number=2)
    der = str(tmp_path / "new.crl")
    subprocess.run(["openssl", "crl", "-in", new, "-outform", "DER", "-out", der], check=True)
    m = d.mark()
    r = crlwatch(d, "install", der)
    assert r.returncode == 0, r.stderr
    assert "installed" in r.stdout
    assert "mailgwd reloaded" in r.stderr
    d.wait_log(r"generation 2 replaces 1", start=m)
    # Replaced, not appended: exactly the new CRL, as PEM, root:DG 0640.
    assert installed(d) == pem_of(new)
    st = os.stat(os.path.join(gate.tls_dir(d), "crl.pem"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (
        0, pwd.getpwnam(d.user).pw_gid, 0o640)
    assert not [n for n in os.listdir(gate.tls_dir(d)) if n not in
                ("server.crt", "server.key", "ca.crt", "crl.pem")]
    # The established session goes on; the next connection of mia is refused.
    assert p.retr(1)[0].startswith(b"+OK")
    m = d.mark()
    refused(d, pki, pki.user["mia"])
    d.wait_log(r"refused: .*has been revoked.*CN=mia@example.test", start=m)
    p.quit()
    pop(d, pki).quit()
    # The same CRL again: nothing to do, no reload.
    m = d.mark()
    r = crlwatch(d, "install", new)
    assert r.returncode == 0 and "already installed" in r.stdout, r.stderr
    r = crlwatch(d, "status")
    assert "state: OK" in r.stdout
    assert "last_refresh: " in r.stdout and der in r.stdout
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["crlwatch_last_refresh"].endswith(" UTC from " + der), status
    assert "generation 3" not in d.log()


def bad_candidates(pki, tmp_path):
    t = tmp_path
    good = pki.ca.crl(str(t / "good.pem"), revoked=[pki.user["rev"]], number=5)
    text = open(good).read()
    trunc = t / "truncated.pem"
    trunc.write_text(text[: len(text) // 2] + "\n-----END X509 CRL-----\n")
    der = subprocess.run(["openssl", "crl", "-in", good, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    badsig = t / "badsig.crl"
    badsig.write_bytes(der[:-3] + bytes(b ^ 0x55 for b in der[-3:]))
    huge = t / "huge.pem"
    huge.write_text(text + "#" * (2 * 1024 * 1024))
    two = t / "two.pem"
    two.write_text(text + open(pki.ca.crl(str(t / "other.pem"), number=6)).read())
    return {
        "foreign": (pki.foreign.crl(str(t / "foreign.pem"), number=9), "not issued by this CA"),
        "expired": (pki.ca.crl(str(t / "expired.pem"), number=7,
                               last=now() - datetime.timedelta(days=10),
                               next=now() - datetime.timedelta(days=1)), "nextUpdate passed"),
        "future": (pki.ca.crl(str(t / "future.pem"), number=8,
                              last=now() + datetime.timedelta(days=2)), "thisUpdate is"),
        "older": (pki.ca.crl(str(t / "older.pem"), number=1), "rollback refused"),
        "truncated": (str(trunc), "not a valid CRL"),
        "badsig": (str(badsig), "signature does not verify"),
        "huge": (str(huge), "larger than the limit"),
        "two": (str(two), "more than one CRL"),
        "garbage": (str(t / "garbage"), "not a valid CRL"),
        # critical extensions mbedTLS cannot honour: a delta CRL, a private one
        "delta": (pki.ca.crl(str(t / "delta.pem"), number=10,
                             exts=["2.5.29.27 = critical,DER:02:01:05"]), "not a valid CRL"),
        "critical": (pki.ca.crl(str(t / "crit.pem"), number=11,
                                exts=["1.3.6.1.4.1.99999.1 = critical,ASN1:NULL"]),
                     "not a valid CRL"),
        "empty": (str(t / "empty"), "empty"),
    }


def test_bad_candidates_are_refused_installed_crl_stays(daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    (tmp_path / "garbage").write_bytes(b"\x30\x82\x01\x00hello")
    (tmp_path / "empty").write_bytes(b"")
    before = installed(d)
    cands = bad_candidates(pki, tmp_path)
    for name, (path, reason) in cands.items():
        m = d.mark()
        r = crlwatch(d, "install", path)
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        assert reason in r.stderr, (name, r.stderr)
        assert "the installed CRL stays" in r.stderr, (name, r.stderr)
        assert installed(d) == before, name
        assert not [x for x in d.lines[m:] if "generation" in x], name
    # mailgwd kept serving with its CRL; the last refusal is in the status.
    pop(d, pki, user="rev").quit()
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["crlwatch_last_error"].startswith(str(tmp_path / "empty") + ": empty at ")
    r = crlwatch(d, "status")
    assert "last_error: " in r.stdout and "empty" in r.stdout, r.stdout
    # The control: the same unknown extension, not critical, is accepted.
    ok = pki.ca.crl(str(tmp_path / "noncrit.pem"), number=12,
                    exts=["1.3.6.1.4.1.99999.1 = ASN1:NULL"])
    r = crlwatch(d, "install", ok)
    assert r.returncode == 0 and "installed" in r.stdout, r.stderr


def mails(d, user="joe"):
    """The user's new mail in the order it was delivered."""
    out = []
    for p in sorted(glob.glob(os.path.join(gate.maildir(d, user), "new", "*")), key=maildir_arrival):
        with open(p, "rb") as f:
            out.append(email.message_from_bytes(f.read()))
    return out


def test_warnings_reach_console_led_and_postmaster_once_per_state(daemon, pki, tmp_path):
    soon = pki.ca.crl(str(tmp_path / "soon.pem"), number=10,
                      next=now() + datetime.timedelta(days=3))
    d = watched(daemon, pki, tmp_path, crl=soon, smtp=True)
    console, led = d.side / "console", d.side / "led"
    r = crlwatch(d, "check")
    assert r.returncode == 0, r.stderr
    assert "CRL state WARNING" in console.read_text()
    assert led.read_text() == "blink-slow 1\n"
    got = mails(d)
    assert len(got) == 1, r.stderr
    assert "CRL WARNING" in got[0]["Subject"]
    assert "crlwatch install FILE" in got[0].get_payload()
    # `mailgw status` (mailgwd's control socket) shows what crlwatch knows
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert re.match(r"CRL WARNING since \d{4}-\d\d-\d\d ", status["crlwatch"]), status
    # Checked again: no change, no second mail, the LED is not rewritten.
    r = crlwatch(d, "check")
    assert r.returncode == 0, r.stderr
    assert len(mails(d)) == 1
    assert console.read_text().count("CRL state") == 1
    assert led.read_text() == "blink-slow 1\n"
    # `repeat` (6 h) after the last line: said again on the console, still one mail.
    state = d.side / "state"
    state.write_text(re.sub(r"last_announce \d+", "last_announce %d" % (time.time() - 7 * 3600),
                            state.read_text()))
    crlwatch(d, "check")
    assert console.read_text().count("CRL WARNING: nextUpdate") == 1
    assert len(mails(d)) == 1
    # A day left: CRITICAL on every channel, once more.
    crit = pki.ca.crl(str(tmp_path / "crit.pem"), number=11,
                      next=now() + datetime.timedelta(hours=12))
    assert crlwatch(d, "install", crit).returncode == 0
    r = crlwatch(d, "check")
    assert "CRL state CRITICAL (was WARNING)" in console.read_text()
    assert led.read_text() == "blink-fast 1\n"
    got = mails(d)
    assert len(got) == 2 and "CRL CRITICAL" in got[1]["Subject"]
    # A fresh CRL: back to OK, the LED steady, no mail for good news.
    fresh = pki.ca.crl(str(tmp_path / "fresh.pem"), number=12)
    assert crlwatch(d, "install", fresh).returncode == 0
    crlwatch(d, "check")
    assert "CRL state OK (was CRITICAL)" in console.read_text()
    assert led.read_text() == "on 1\n"
    assert len(mails(d)) == 2
    assert "state: OK" in crlwatch(d, "status").stdout


def test_mail_not_delivered_is_tried_again_at_the_next_check(daemon, pki, tmp_path):
    soon = pki.ca.crl(str(tmp_path / "soon.pem"), number=10,
                      next=now() + datetime.timedelta(hours=6))
    d = watched(daemon, pki, tmp_path, crl=soon, smtp=True)
    d.stop()  # mailgwd is down when the CRL turns CRITICAL
    r = crlwatch(d, "check")
    assert "CRL state CRITICAL" in (d.side / "console").read_text()
    assert "not delivered (tried again at the next check)" in r.stderr, r.stderr
    assert mails(d) == []
    m = d.mark()
    d.start(wait=False)
    d.wait_log(r"ready", 20, start=m)  # the new process's line, not the first one's
    r = crlwatch(d, "check")
    got = mails(d)
    assert len(got) == 1 and "CRL CRITICAL" in got[0]["Subject"], r.stderr
    crlwatch(d, "check")
    assert len(mails(d)) == 1
    assert (d.side / "console").read_text().count("CRL state") == 1


def test_bad_crlwatch_values_name_file_and_line(daemon, tmp_path):
    d = daemon(start=False)
    d.write_conf("[crlwatch]\nurl = ftp://ca.example/crl\n")
    r = crlwatch(d, "status")
    assert r.returncode == 2
    assert "%s:" % d.conf_path in r.stderr and "url: expected an http:// or https:// URL" in r.stderr


def test_refused_reload_puts_the_previous_crl_back(daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    before = installed(d)
    # Someone broke the server certificate: mailgwd will refuse the next reload.
    with open(os.path.join(gate.tls_dir(d), "server.crt"), "w") as f:
        f.write("not a certificate\n")
    new = pki.ca.crl(str(tmp_path / "new.pem"), revoked=[pki.user["mia"]], number=4)
    r = crlwatch(d, "install", new)
    assert r.returncode == 1
    assert "mailgwd refused the reload" in r.stderr and "previous CRL is restored" in r.stderr
    assert installed(d) == before
    # mailgwd still runs its first generation: mia still gets in.
    pop(d, pki, user="mia").quit()


class Watchdog:
    """`crlwatch run` as init starts it, stopped at the end of the test."""

    def __init__(self, d, env=None):
        self.proc = subprocess.Popen([CRLWATCH, "-c", d.conf_path, "run"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=env)

    def stop(self):
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        assert "ERROR: AddressSanitizer" not in err and "runtime error:" not in err, err
        return err


def wait_for(pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def usb_key(root, pki, tmp_path):
    """A key as an admin prepares it: mailgw/crl.pem (the CA's new CRL) and, beside it,
    a stray CRL of another CA."""
    os.makedirs(os.path.join(root, "mailgw"), exist_ok=True)
    new = pki.ca.crl(str(tmp_path / "usb-new.pem"), revoked=[pki.user["mia"]], number=4)
    shutil.copy(new, os.path.join(root, "mailgw", "crl.pem"))
    shutil.copy(pki.foreign.crl(str(tmp_path / "stray.pem"), number=9),
                os.path.join(root, "stray.crl"))
    return new


def test_usb_key_directory_simulated_event(daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    spool = tmp_path / "side" / "usb"
    d = watched(daemon, pki, tmp_path, crl=first, extra_crlwatch="usb_spool = %s\n" % spool)
    key = tmp_path / "key"
    new = usb_key(str(key), pki, tmp_path)
    empty = tmp_path / "empty-key"
    empty.mkdir()
    w = Watchdog(d)
    try:
        spool.mkdir(exist_ok=True)
        (spool / "sdb1").write_text("%s\n" % empty)
        console = d.side / "console"
        assert wait_for(lambda: console.exists() and "no CRL on this key" in console.read_text())
        m = d.mark()
        (spool / "sdc1").write_text("%s\n" % key)
        assert wait_for(lambda: "CRL file(s)" in console.read_text()), console.read_text()
        d.wait_log(r"generation 2 replaces 1", start=m)
    finally:
        err = w.stop()
    text = console.read_text()
    assert "USB %s:mailgw/crl.pem: new CRL installed" % key in text
    assert "USB %s:stray.crl: refused: " % key in text and "not issued by this CA" in text
    assert "2 CRL file(s): 1 installed, 0 already installed, 1 refused" in text
    assert installed(d) == pem_of(new)
    assert os.listdir(spool) == []  # each event handled once
    refused(d, pki, pki.user["mia"])
    pop(d, pki, user="joe").quit()


def fs_supported(fs):
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == fs for line in f if line.strip())


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
@pytest.mark.parametrize("fs", ["ext4", "vfat"])
def test_usb_key_image_mounted_read_only(daemon, pki, tmp_path, fs):
    if not fs_supported(fs):
        pytest.skip("this kernel has no %s (/proc/filesystems)" % fs)
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    spool = tmp_path / "side" / "usb"
    d = watched(daemon, pki, tmp_path, crl=first, extra_crlwatch="usb_spool = %s\n" % spool)
    content = tmp_path / "content"
    new = usb_key(str(content), pki, tmp_path)
    img = str(tmp_path / "key.img")
    subprocess.run(["truncate", "-s", "16M", img], check=True)
    if fs == "ext4":
        subprocess.run(["mkfs.ext4", "-q", "-d", str(content), img], check=True)
    else:
        subprocess.run(["mkfs.vfat", img], check=True, capture_output=True)
        subprocess.run(["mcopy", "-s", "-i", img, str(content / "mailgw"), str(content / "stray.crl"),
                        "::"], check=True)
    try:
        dev = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no losetup")
    if dev.returncode != 0:
        pytest.skip("no loop device here: %s" % dev.stderr.strip())
    dev = dev.stdout.strip()
    w = Watchdog(d)
    try:
        # The image's own mdev hook spools the event, as on the board.
        env = dict(os.environ, ACTION="add", MDEV=os.path.basename(dev),
                   MAILGW_USB_SPOOL=str(spool))
        subprocess.run([HOOK], env=env, check=True)
        console = d.side / "console"
        assert wait_for(lambda: console.exists() and "CRL file(s)" in console.read_text())
    finally:
        err = w.stop()
        subprocess.run(["losetup", "-d", dev])
    assert "mounted read-only (%s)" % fs in err and "unmounted; the key can be removed" in err
    assert "USB %s:mailgw/crl.pem: new CRL installed" % dev in console.read_text()
    assert installed(d) == pem_of(new)
    with open("/proc/mounts") as f:
        assert dev not in f.read()
    refused(d, pki, pki.user["mia"])


PKI_DRIVER = os.path.join(os.environ.get("MGW_OUTPUT", os.path.join(os.path.dirname(__file__),
                                                                     "../../output")),
                          "asan", "tests", "pki_driver")


def drv(*args):
    r = subprocess.run([PKI_DRIVER, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)


def crl_text(path):
    return subprocess.run(["openssl", "crl", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout


def test_builtin_ca_resigns_before_next_update_and_installs_revocations(daemon, pki, tmp_path):
    ca = tmp_path / "ca"
    drv("ca-create", ca, "Office CA", 3)  # its first CRL is valid 3 days: WARNING
    out = tmp_path / "bundle"
    out.mkdir()
    drv("issue", ca, "ann@example.test", 1, out, "localhost", pki.server.crt, "/home/ann/.certs")
    # mailgwd's gate uses the built-in CA and its CRL
    d = watched(daemon, pki, tmp_path, crl=str(ca / "crl.pem"), ca=str(ca / "ca.crt"),
                extra_crlwatch="ca_dir = %s\n" % ca)
    assert "state: WARNING" in crlwatch(d, "status").stdout
    m = d.mark()
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert "CRL re-signed for 30 days" in r.stderr and "installed" in r.stdout
    d.wait_log(r"generation 2 replaces 1", start=m)
    assert "state: OK" in crlwatch(d, "status").stdout
    assert installed(d) == open(ca / "crl.pem", "rb").read()
    # Not due again: nothing re-signed, nothing installed.
    r = crlwatch(d, "refresh")
    assert r.returncode == 0 and "nothing new" in r.stdout, r.stderr
    assert "re-signed" not in r.stderr
    # The console revokes ann (lib/pki writes the CA's CRL): the refresh installs it.
    drv("revoke", ca, "ann@example.test", "keyCompromise")
    r = crlwatch(d, "refresh")
    assert r.returncode == 0 and "installed" in r.stdout, r.stderr
    assert "Key Compromise" in crl_text(os.path.join(gate.tls_dir(d), "crl.pem"))
    refused(d, pki, Cert("ann", str(out / "ann.crt"), str(out / "ann.key")))


@pytest.mark.parametrize("how", ["before-build", "jumped-back"])
def test_untrustworthy_clock_installs_nothing(daemon, pki, tmp_path, how):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    before = installed(d)
    new = pki.ca.crl(str(tmp_path / "new.pem"), revoked=[pki.user["mia"]], number=4)
    env = dict(os.environ)
    if how == "before-build":
        etc = tmp_path / "etc-mailgw"
        etc.mkdir()
        (etc / "build-time").write_text("%d\n" % (time.time() + 86400))
        env["MAILGW_ETC"] = str(etc)
        reason = "before the image's build time"
    else:
        # crlwatch ran a day "later" before: the clock has since gone back
        assert crlwatch(d, "status").returncode == 0
        state = d.side / "state"
        state.write_text("last_seen %d\n" % (time.time() + 86400))
        reason = "the clock went back"
    r = subprocess.run([CRLWATCH, "-c", d.conf_path, "install", new], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert reason in r.stderr and "nothing installed" in r.stderr, r.stderr
    assert installed(d) == before


def test_run_without_a_ca_waits_quietly_instead_of_respawning(daemon, tmp_path):
    d = daemon(start=False)  # a fresh gateway: no [tls] ca/crl yet
    p = subprocess.Popen([CRLWATCH, "-c", d.conf_path, "run"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    assert p.poll() is None  # still there: init has nothing to respawn
    p.terminate()
    _, err = p.communicate(timeout=30)
    assert err.count("[tls] ca and crl are not set: no CRL to watch") == 1, err


@pytest.mark.skipif(os.geteuid() != 0, reason="a private /dev needs root")
def test_warning_reaches_syslog(daemon, pki, tmp_path):
    soon = pki.ca.crl(str(tmp_path / "soon.pem"), number=10,
                      next=now() + datetime.timedelta(days=2))
    d = watched(daemon, pki, tmp_path, crl=soon)
    # crlwatch's own configuration, with syslog on (mailgwd's test config has it off)
    conf = str(tmp_path / "crlwatch.conf")
    with open(d.conf_path) as f:
        text = f.read().replace("log_syslog = no", "log_syslog = yes")
    with open(conf, "w") as f:
        f.write(text)
    # A syslog socket of our own as /dev/log, in a private mount namespace.
    sock = str(tmp_path / "log")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock)
    s.settimeout(30)
    script = 'mount -t tmpfs none /dev && touch /dev/log && mount --bind "$1" /dev/log && ' \
             'exec "$2" -c "$3" check'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", sock, CRLWATCH, conf],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "unshare" in r.stderr:
        pytest.skip("no mount namespace here: %s" % r.stderr.strip())
    assert r.returncode == 0, r.stderr
    got = []
    try:
        while True:
            got.append(s.recv(4096).decode())
            if any("CRL state WARNING" in g for g in got):
                break
    except socket.timeout:
        pass
    line = next((g for g in got if "CRL state WARNING" in g), None)
    assert line is not None, got
    # <PRI>: facility mail (2), severity warning (4)
    assert line.startswith("<%d>" % (2 * 8 + 4)) and "crlwatch[" in line, line


def test_installs_wait_for_each_other(daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    before = installed(d)
    new = pki.ca.crl(str(tmp_path / "new.pem"), number=4)
    # Another crlwatch is installing (it holds the lock beside the state file).
    with open(str(d.side / "state") + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = subprocess.Popen([CRLWATCH, "-c", d.conf_path, "install", new],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert p.poll() is None  # waiting, not validating against a CRL being replaced
        assert installed(d) == before
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "installed" in out, err
    assert installed(d) == pem_of(new)


def test_usb_file_names_cannot_forge_state_or_console_lines(daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    key = tmp_path / "key"
    key.mkdir()
    evil = "x\nlast_seen 4102444800\n*** crlwatch: CRL state OK.crl"
    shutil.copy(pki.foreign.crl(str(tmp_path / "f.pem"), number=9), str(key / evil))
    r = crlwatch(d, "usb", str(key))
    assert r.returncode == 0, r.stderr
    state = (d.side / "state").read_text()
    assert "last_seen 4102444800" not in state, state
    console = (d.side / "console").read_text()
    assert "\n*** crlwatch: CRL state OK" not in console, console
    assert "odd file name, not read" in console, console


def test_two_office_cas_each_new_crl_replaces_only_its_own(daemon, pki, tmp_path):
    """[tls] ca holds two CAs (an office moving to a new CA keeps users of the old one):
    [tls] crl then holds one CRL per CA, and a new CRL of either CA replaces its own CA's
    CRL only; the other CA's stays byte for byte, and the countdown follows the CRL that
    ends first."""
    cas = tmp_path / "cas.pem"
    cas.write_bytes(open(pki.ca.crt, "rb").read() + open(pki.foreign.crt, "rb").read())
    old_f = pki.foreign.crl(str(tmp_path / "f1.pem"), number=1)
    crls = tmp_path / "crls.pem"
    crls.write_bytes(pem_of(pki.crl_path) + pem_of(old_f))
    d = watched(daemon, pki, tmp_path, crl=str(crls), ca=str(cas))
    # joe of the second CA logs in, as joe of the first does
    pop(d, pki, cert=pki.user["foreign"]).quit()
    pop(d, pki).quit()

    # the second CA revokes its joe: only its CRL is replaced
    new_f = pki.foreign.crl(str(tmp_path / "f2.pem"), revoked=[pki.user["foreign"]], number=2,
                            next=now() + datetime.timedelta(days=3))
    m = d.mark()
    r = crlwatch(d, "install", new_f)
    assert r.returncode == 0, r.stderr
    assert "installed" in r.stdout
    assert "CN=Some other CA" in r.stderr and "1 other CA's CRL kept" in r.stderr, r.stderr
    d.wait_log(r"generation 2 replaces 1", start=m)
    assert installed(d) == pem_of(pki.crl_path) + pem_of(new_f)
    refused(d, pki, pki.user["foreign"])
    pop(d, pki).quit()
    # the countdown follows the second CA's CRL, which ends in 3 days, and so does the
    # gate's line in mailgwd's status
    r = crlwatch(d, "status")
    assert "state: WARNING" in r.stdout, r.stdout
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert re.match(r"CRL next update \S+ \S+ UTC \(first of 2 CRLs\) \(in (71|72) h\)",
                    status["tls_gate"]), status

    # the first CA revokes mia: the second CA's new CRL stays as it is
    new_c = pki.ca.crl(str(tmp_path / "c2.pem"), revoked=[pki.user["mia"]], number=5)
    m = d.mark()
    r = crlwatch(d, "install", new_c)
    assert r.returncode == 0, r.stderr
    d.wait_log(r"generation 3 replaces 2", start=m)
    assert installed(d) == pem_of(new_c) + pem_of(new_f)
    refused(d, pki, pki.user["mia"])
    refused(d, pki, pki.user["foreign"])
    pop(d, pki).quit()
    # the console shows both, each checked against its own CA
    r = subprocess.run([binary("mailgw"), "-c", d.conf_path, "crl", "show"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "CRL of CN=mailgw test office CA, number 05, signature checked" in r.stdout, r.stdout
    assert "CRL of CN=Some other CA, number 02, signature checked" in r.stdout, r.stdout
    r = subprocess.run([binary("mailgw"), "-c", d.conf_path, "status"],
                       capture_output=True, text=True, timeout=30)
    assert re.search(r"^CRL of CN=Some other CA\n  next update .*, in (2 days 2[23]|3 days 0) hours$",
                     r.stdout, re.M), r.stdout
    assert re.search(r"^CRL of CN=mailgw test office CA\n  next update .*, in (29|30) days",
                     r.stdout, re.M), r.stdout
    # each CA of [tls] ca on its own line (before: the first CA's import check, "holds more
    # than one certificate")
    assert re.search(r"^office CA: CN=mailgw test office CA, valid until \d{4}-", r.stdout,
                     re.M), r.stdout
    assert re.search(r"^office CA: CN=Some other CA, valid until \d{4}-", r.stdout,
                     re.M), r.stdout
    assert "more than one certificate" not in r.stdout

    # the second CA's older CRL is a rollback of its own CRL, whatever the first CA's is
    before = installed(d)
    r = crlwatch(d, "install", old_f)
    assert r.returncode != 0
    assert "CRL number 01 is older than the installed CRL's 02" in r.stderr, r.stderr
    # a third CA's CRL is nobody's
    other = CA(str(tmp_path / "third"), "A third CA")
    r = crlwatch(d, "install", other.crl(str(tmp_path / "t.pem"), number=9))
    assert r.returncode != 0 and "not issued by any configured CA" in r.stderr, r.stderr
    assert installed(d) == before


# Privilege separation (README "crlwatch", privileges): every candidate is read and parsed
# by a child that dropped to nobody; root installs only what that child composed. The
# children are seen in /proc while they are held (CRLWATCH_TEST_HOLD=check makes the
# check's child stop itself after the drop, before it touches the candidate).

def children(pid):
    out = []
    for n in os.listdir("/proc"):
        if n.isdigit():
            try:
                with open("/proc/%s/stat" % n) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(n))
            except (OSError, IndexError, ValueError):
                pass
    return out


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict((k, v.strip()) for k, _, v in (l.partition(":") for l in f))


def held_child(pid, seen=()):
    """The child of pid that stopped itself before it touched its input."""
    found = []

    def stopped():
        for c in children(pid):
            try:
                if c not in seen and proc_status(c)["State"].startswith("T"):
                    found.append(c)
                    return True
            except OSError:
                pass
        return False

    assert wait_for(stopped), "no held child of %d" % pid
    return found[0]


def assert_unprivileged(pid):
    nobody = pwd.getpwnam("nobody")
    st = proc_status(pid)
    assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st
    assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st
    assert st["Groups"] == "", st
    assert st["NoNewPrivs"] == "1", st
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st


def open_files(pid):
    """What the process has open beyond stdio: the pipe back and the file it was given."""
    d = "/proc/%d/fd" % pid
    return sorted(os.readlink(os.path.join(d, n)) for n in os.listdir(d) if int(n) > 2)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")
@pytest.mark.parametrize("how", ["install", "usb"])
def test_candidate_is_read_and_parsed_by_an_unprivileged_process(daemon, pki, tmp_path, how):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    d = watched(daemon, pki, tmp_path, crl=first)
    before = installed(d)
    key = tmp_path / "key"
    new = usb_key(str(key), pki, tmp_path)
    if how == "usb":
        cand = str(key / "mailgw" / "crl.pem")
    else:
        (tmp_path / "private").mkdir()
        cand = shutil.copy(new, str(tmp_path / "private" / "crl.pem"))
    # root's own file in root's own directory: nobody could not open it by its name
    os.chmod(cand, 0o600)
    os.chmod(os.path.dirname(cand), 0o700)
    arg = str(key) if how == "usb" else cand
    p = subprocess.Popen([CRLWATCH, "-c", d.conf_path, "-v", how, arg], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, CRLWATCH_TEST_HOLD="check"))
    c = None
    try:
        c = held_child(p.pid)
        assert_unprivileged(c)
        files = open_files(c)
        # the lock, the data directory, the key's directories: none of them; a key's
        # file only as the fd root opened for it
        assert [f for f in files if not f.startswith("pipe:")] == (
            [cand] if how == "usb" else []), files
        assert installed(d) == before  # nothing is installed before the check answered
    finally:
        if c is not None:
            os.kill(c, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
    nobody = pwd.getpwnam("nobody")
    assert p.returncode == 0, err
    assert ("the CRL check of %s%s: done by process %d as uid %d gid %d with 0 supplementary "
            "groups" % ("USB %s:mailgw/" % key if how == "usb" else "",
                        "crl.pem" if how == "usb" else cand, c, nobody.pw_uid,
                        nobody.pw_gid)) in err, err
    assert installed(d) == pem_of(new)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")
def test_check_process_killed_midway_installs_nothing_and_the_watchdog_goes_on(
        daemon, pki, tmp_path):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    spool = tmp_path / "side" / "usb"
    d = watched(daemon, pki, tmp_path, crl=first, extra_crlwatch="usb_spool = %s\n" % spool)
    before = installed(d)
    key = tmp_path / "key"
    new = usb_key(str(key), pki, tmp_path)
    console = d.side / "console"
    w = Watchdog(d, env=dict(os.environ, CRLWATCH_TEST_HOLD="check"))
    seen = []
    try:
        spool.mkdir(exist_ok=True)
        m = d.mark()
        (spool / "sdc1").write_text("%s\n" % key)
        # A compromised or crashed checker: it dies before it answers.
        seen.append(held_child(w.proc.pid))
        assert_unprivileged(seen[-1])
        os.kill(seen[-1], signal.SIGKILL)
        seen.append(held_child(w.proc.pid, seen))  # stray.crl, checked as usual
        os.kill(seen[-1], signal.SIGCONT)
        assert wait_for(lambda: console.exists() and "CRL file(s)" in console.read_text())
        text = console.read_text()
        assert ("USB %s:mailgw/crl.pem: refused: the CRL check of USB %s:mailgw/crl.pem: the "
                "process died (signal 9, Killed) before it answered" % (key, key)) in text, text
        assert "2 CRL file(s): 0 installed, 0 already installed, 2 refused" in text, text
        assert installed(d) == before
        assert not [x for x in d.lines[m:] if "generation" in x]
        assert w.proc.poll() is None
        # The same key plugged in again, its checks left alone: installed.
        (spool / "sdc1").write_text("%s\n" % key)
        for _ in range(2):
            seen.append(held_child(w.proc.pid, seen))
            os.kill(seen[-1], signal.SIGCONT)
        assert wait_for(lambda: "1 installed" in console.read_text()), console.read_text()
        d.wait_log(r"generation 2 replaces 1", start=m)
    finally:
        err = w.stop()
    assert installed(d) == pem_of(new)
    assert "the process died (signal 9, Killed)" in err


@pytest.mark.parametrize("run", [False, True])
def test_hostile_key_files_named_with_reason_watchdog_stays_up(daemon, pki, tmp_path, run):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    spool = tmp_path / "side" / "usb"
    d = watched(daemon, pki, tmp_path, crl=first, extra_crlwatch="usb_spool = %s\n" % spool)
    before = installed(d)
    good = pki.ca.crl(str(tmp_path / "good.pem"), revoked=[pki.user["mia"]], number=4)
    der = subprocess.run(["openssl", "crl", "-in", good, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    bad = tmp_path / "bad"
    (bad / "mailgw").mkdir(parents=True)
    (bad / "mailgw" / "crl.pem").write_bytes(der[: len(der) // 2])  # truncated DER
    text = open(good).read()
    (bad / "huge.crl").write_text(text + "A" * (2 * 1024 * 1024))  # beyond max_size
    (bad / "pem.crl").write_text("-----BEGIN X509 CRL-----\n" + "QUFB\n" * 100000 +
                                 "-----END X509 CRL-----\n")  # 500 KB of base64 'AAA'
    (bad / "garbage.crl").write_bytes(bytes(range(256)) * 64)
    os.mkfifo(str(bad / "fifo.crl"))  # would block a reader that did not look first
    ok = tmp_path / "ok"
    (ok / "mailgw").mkdir(parents=True)
    shutil.copy(good, str(ok / "mailgw" / "crl.pem"))
    console = d.side / "console"
    w = Watchdog(d) if run else None
    try:
        for k in (bad, ok):
            n = console.read_text().count("CRL file(s)") if console.exists() else 0
            if run:
                spool.mkdir(exist_ok=True)
                (spool / "sdb1").write_text("%s\n" % k)
                assert wait_for(lambda: console.exists() and
                                console.read_text().count("CRL file(s)") > n)
            else:
                r = crlwatch(d, "usb", str(k))
                assert r.returncode == 0, r.stderr
            if k == bad:
                assert installed(d) == before
                assert run is False or w.proc.poll() is None
    finally:
        if w is not None:
            err = w.stop()
    out = console.read_text()
    want = {
        "mailgw/crl.pem": "refused: USB %s:mailgw/crl.pem: not a valid CRL" % bad,
        "huge.crl": "not read (larger than [crlwatch] max_size)",
        "pem.crl": "refused: USB %s:pem.crl: not a valid CRL" % bad,
        "garbage.crl": "refused: USB %s:garbage.crl: not a valid CRL" % bad,
        "fifo.crl": "not read (not a readable regular file)",
    }
    for name, reason in want.items():
        assert "USB %s:%s: %s" % (bad, name, reason) in out, (name, out)
    assert "USB %s: 5 CRL file(s): 0 installed, 0 already installed, 5 refused" % bad in out
    assert "USB %s:mailgw/crl.pem: new CRL installed" % ok in out
    assert installed(d) == pem_of(good)
