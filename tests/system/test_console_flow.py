"""The admin's whole path on the reference board, through the serial console only
(issue 8), and a CRL on a USB key hot-plugged with no command typed (issue 9).

One board is booted for the file; the tests run in order on it:

1. test_console_flow: from a fresh image, the first login sets the admin password, then
   `domain add`, `user add` (password twice, never echoed), `ca create`, `service pop3s
   on` (a reboot), a USB key plugged in through QEMU's monitor, `cert issue ... to
   /media/usb`, `usb umount`, the key pulled and read on the host with mtools; swaks
   delivers to port 25, fetchmail with the bundle's own .fetchmailrc (adjusted as its
   comments tell a user) fetches the mail byte-exact over POP3S; `cert revoke`; the same
   fetchmail is refused in the TLS handshake; console `reboot`; everything is still there,
   the admin password is asked, and the files on /data have the layout's owners and modes.
2. test_usb_crl_hotplug: the office that runs its own CA (the test PKI, made with the
   openssl CLI on the host) imports it from a USB key (`ca import`), a user fetches with a
   certificate from that CA, then a key with the CA's newer CRL (revoking that user) is
   plugged in and nothing is typed: crlwatch installs it and the user is refused within
   a bounded wait; the console shows what crlwatch did.

The console is used as an admin uses it; the expert shell only reads things back.
"""
import datetime
import hashlib
import os
import re
import subprocess
import sys
import time

import pytest
from vm import Vm, images, smtp_greeting, usb_key, usb_list, usb_read, usb_write

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from pki import CA, now  # noqa: E402

BOARD = "qemu_aarch64_virt"
DOMAIN = "example.test"
JOE = "joe@" + DOMAIN
JOE_PW = "joe's own password 7"
HOSTNAME = "mailgw"  # the image's host name: the CN of its first-boot server certificate

# both tests drive the one board of the module's fixture: one pytest worker runs them
pytestmark = pytest.mark.xdist_group("console_flow")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    if not os.path.exists(os.path.join(images(BOARD), "rootfs.cpio.gz")):
        pytest.fail("no image for %s: run `make test-system` (it builds them)" % BOARD)
    tmp = tmp_path_factory.mktemp("flow")
    v = Vm(BOARD, tmp / "vm")
    v.start()
    state = {"vm": v, "tmp": tmp, "done": set()}
    yield state
    v.stop()


def fetchmail(rcfile, home, timeout=180, idfile=".fetchids"):
    """fetchmail as the user runs it, with their rcfile; (exit status, its output)."""
    r = subprocess.run(["fetchmail", "-f", str(rcfile), "--nosyslog", "-v",
                        "--idfile", str(home / idfile), "--pidfile", str(home / "fm.pid")],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, HOME=str(home)))
    return r.returncode, r.stdout + r.stderr


def user_rcfile(bundle_rc, certdir_on_key, home, certs, port, mda_dir):
    """The bundle's .fetchmailrc, adjusted only as its comments tell a user: the folder
    the files were copied to, the address and port the gateway is reached at (and then
    the server certificate's name), the password for an unattended run, and where to
    deliver (this host has no local mail server: an mda)."""
    rc = bundle_rc.replace(certdir_on_key, str(certs))
    rc = re.sub(r"^poll %s service 995 " % HOSTNAME, "poll 127.0.0.1 service %d " % port, rc,
                flags=re.M)
    rc = rc.replace(" sslcertck ", " sslcertck sslcommonname %s " % HOSTNAME)
    rc = re.sub(r'^user "%s"' % re.escape(JOE), 'user "%s" password "%s"' % (JOE, JOE_PW), rc,
                flags=re.M)
    mda = home / "mda.sh"
    mda.write_text("#!/bin/sh\ncat > \"$1/$(date +%s%N)\"\n")
    mda.chmod(0o755)
    rc = rc.replace("   keep\n", '   keep mda "%s %s"\n' % (mda, mda_dir))
    path = home / ".fetchmailrc"
    path.write_text(rc)
    path.chmod(0o600)
    return path


def arrived(fetched, body):
    """The message as sent is the tail of what fetchmail handed its mda, unchanged
    (fetchmail gives the mda LF line endings)."""
    return fetched.endswith(body.replace("\r\n", "\n").encode())


def send(port, msg_path):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "ann@example.org",
                        "--to", JOE, "--data", str(msg_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def stat_ln(v, path):
    """`ls -ln`'s mode, uid and gid of path on the board."""
    out = v.check("ls -lnd %s" % path).split()
    return "%s %s:%s" % (out[0], out[2], out[3])


def console_says(v, out, pattern, timeout=60):
    """pattern is in a command's output out, or comes on the console within timeout (a
    line of another program may come before or after the console's prompt)."""
    if not re.search(pattern, out):
        v.expect(pattern, timeout)


def console_reboot(v, line, question):
    """Types a console command that offers a reboot, answers y, waits for the board to
    be back and logs in again; console_login()'s answer (True: the password was set)."""
    v.child.send(line + "\r")
    v.expect(question, 60)
    v.child.send("y\r")
    v.expect(r"rcK: /data saved and unmounted", 120)
    v.wait_ready()
    return v.console_login()


def plug_and_mount(v, key):
    """Plugs the key in (QEMU's monitor), waits until the console's `usb` lists it, and
    mounts it with `usb mount`, as an admin does."""
    v.attach_usb(key)
    deadline = time.monotonic() + 60
    while "/dev/sda" not in v.cli("usb"):
        assert time.monotonic() < deadline, "the USB key never showed up:\n" + v.console_tail()
        time.sleep(1)
    assert "mounted at /media/usb" in v.cli("usb mount")


def test_console_flow(board):
    v, tmp = board["vm"], board["tmp"]
    v.wait_ready()
    assert v.console_login(), "a fresh image must make the admin set the admin password"

    out = v.cli("domain add " + DOMAIN)
    assert "domain %s added" % DOMAIN in out
    out = v.cli("user add " + JOE, [(r"Password: ", JOE_PW), (r"again: ", JOE_PW)])
    assert "user %s added" % JOE in out
    assert JOE_PW not in v.console_tail(200), "the user's password was echoed"
    out = v.cli("ca create Example Office CA")
    assert "office CA created and installed with its CRL" in out, out
    assert "CA: CN=Example Office CA" in out
    # crlwatch is handed the CA's folder to re-sign its CRL, and starts watching within
    # seconds (it was waiting for a CA)
    assert "[crlwatch] ca_dir = /data/ca set" in out, out
    console_says(v, out, r"crlwatch info: watching /data/etc/tls/crl\.pem")
    # POP3S and IMAPS open once the CA is there; mailgwd binds its ports at start: a reboot
    out = v.cli("service imaps on", [(r"Reboot now\? \[y/N\] ", "n")])
    assert "[imaps] listen = 0.0.0.0:993 set" in out, out
    assert not console_reboot(v, "service pop3s on", r"Reboot now\? \[y/N\] "), \
        "the admin password must be asked after a reboot"
    smtp_greeting(v.ports["smtp"], 120)

    # a USB key plugged in while the board runs; the bundle is written to it
    key = usb_key(tmp / "joe-key.img", "JOEKEY")
    plug_and_mount(v, key)
    out = v.cli("cert issue %s to /media/usb" % JOE)
    assert "bundle written to /media/usb" in out, out
    passphrase = re.search(r"passphrase of the \.p12 \(shown only now\): (\S+)", out).group(1)
    assert "can be pulled" in v.cli("usb umount")
    v.detach_usb()

    names = usb_list(key)
    for want in ("joe.p12", "joe.crt", "joe.key", "office-ca.pem", "server.pem", ".fetchmailrc",
                 "curl-example.sh", "README.txt"):
        assert want in names, names
    home = tmp / "joe-home"
    certs = home / "certs"
    certs.mkdir(parents=True)
    for n in ("joe.crt", "joe.key", "office-ca.pem", "server.pem"):
        (certs / n).write_bytes(usb_read(key, n))
    readme = usb_read(key, "README.txt").decode()
    assert "port 995" in readme and "port 993" in readme and "sslcommonname" in readme, readme
    # The key stick is FAT (no modes): the user keeps the key private as README.txt says.
    assert "joe.key is your\nprivate key: keep it private too (chmod 600)" in readme, readme
    (certs / "joe.key").chmod(0o600)
    # the .p12 opens with the passphrase shown once on the console
    (certs / "joe.p12").write_bytes(usb_read(key, "joe.p12"))
    r = subprocess.run(["openssl", "pkcs12", "-in", str(certs / "joe.p12"), "-nokeys",
                        "-passin", "pass:" + passphrase], capture_output=True, text=True)
    assert r.returncode == 0 and "subject=CN = " + JOE in r.stdout, r.stdout + r.stderr

    bundle_rc = usb_read(key, ".fetchmailrc").decode()
    certdir = re.search(r"sslcert (\S+)/joe\.crt", bundle_rc).group(1)
    fetched = home / "fetched"
    fetched.mkdir()
    rcfile = user_rcfile(bundle_rc, certdir, home, certs, v.ports["pop3s"], fetched)

    # swaks delivers to joe on port 25; fetchmail brings it over POP3S, byte-exact
    body = ("From: Ann <ann@example.org>\r\nTo: %s\r\nSubject: first mail\r\n\r\n"
            "Hello Joe,\r\nmail through the console-made gateway %d.\r\n.. a dot line\r\n"
            % (JOE, time.time_ns()))
    msg = tmp / "msg.eml"
    # swaks ends what it sends with CRLF . CRLF itself: the file holds the message without
    # its last line break
    msg.write_bytes(body.encode()[:-2])
    send(v.ports["smtp"], msg)
    rc, log = fetchmail(rcfile, home)
    assert rc == 0, log
    got = [p.read_bytes() for p in fetched.iterdir()]
    assert len(got) == 1, log
    assert arrived(got[0], body), got[0]

    # and over IMAP (README.txt offers it): the same rcfile with IMAPS' port
    imap_rc = home / "imap.fetchmailrc"
    imap_rc.write_text(rcfile.read_text().replace(
        "service %d protocol POP3" % v.ports["pop3s"], "service %d protocol IMAP" % v.ports["imaps"]))
    imap_rc.chmod(0o600)
    imap_out = home / "fetched-imap"
    imap_out.mkdir()
    imap_rc.write_text(imap_rc.read_text().replace(str(fetched), str(imap_out)))
    rc, log = fetchmail(imap_rc, home, idfile=".imapids")
    assert rc == 0, log
    got = [p.read_bytes() for p in imap_out.iterdir()]
    assert len(got) == 1 and arrived(got[0], body), log

    # revoked: the same fetchmail is refused in the TLS handshake
    out = v.cli("cert revoke " + JOE, [(r"\[y/N\] ", "y")])
    assert "1 certificate(s) revoked; the new CRL is installed" in out, out
    rc, log = fetchmail(rcfile, home)
    assert rc != 0, log
    assert re.search(r"SSL connection failed|SSL_connect|handshake|certificate revoked", log, re.I), log
    assert "Server certificate verification" not in log, log
    assert len(list(fetched.iterdir())) == 1
    # and the console tells the admin why
    v.expect(r"refused: The certificate has been revoked \(is on a CRL\); subject CN=%s"
             % re.escape(JOE), 60)

    # console reboot: everything is still there, the admin password is asked
    assert not console_reboot(v, "reboot", r"Reboot the gateway now\? \[y/N\] "), \
        "the admin password must survive the reboot and be asked"
    assert DOMAIN in v.cli("domain list")
    assert JOE in v.cli("user list")
    out = v.cli("cert list")
    assert re.search(r"revoked\s+until \S+\s+%s" % re.escape(JOE), out), out
    assert "CN=Example Office CA" in v.cli("ca show")
    rc, log = fetchmail(rcfile, home)
    assert rc != 0, "the revocation did not survive the reboot:\n" + log

    # the files on /data as the layout names them (uid/gid 100 = mailgw)
    v.shell()
    for path, want in (
            ("/data/etc", "drwxr-x--- 0:100"),
            ("/data/etc/mailgw.conf", "-rw-r----- 0:100"),
            ("/data/etc/console.passwd", "-rw------- 0:0"),
            ("/data/etc/domains", "drwxr-x--- 0:100"),
            ("/data/etc/domains/" + DOMAIN, "drwxr-x--- 0:100"),
            ("/data/etc/domains/%s/passwd" % DOMAIN, "-rw-r----- 0:100"),
            ("/data/etc/tls", "drwxr-x--- 0:100"),
            ("/data/etc/tls/ca.crt", "-rw-r----- 0:100"),
            ("/data/etc/tls/crl.pem", "-rw-r----- 0:100"),
            ("/data/etc/tls/server.key", "-rw------- 0:0"),
            ("/data/ca", "drwx------ 0:0"),
            ("/data/ca/ca.key", "-rw------- 0:0"),
            ("/data/ca/index.txt", "-rw------- 0:0"),
            ("/data/mail", "drwx------ 100:100"),
            ("/data/spool", "drwx------ 100:100")):
        assert stat_ln(v, path) == want, path
    # the mail is still on the gateway (fetchmail kept it), one message, which ends with
    # the message as sent, byte for byte (CRLF)
    maildir = "/data/mail/%s/joe/Maildir" % DOMAIN
    stored = v.check("find %s/new %s/cur -type f" % (maildir, maildir)).split()
    assert len(stored) == 1, stored
    assert v.check("tail -c %d %s | md5sum" % (len(body.encode()), stored[0])).split()[0] == \
        hashlib.md5(body.encode()).hexdigest()
    # the password is stored hashed, never in clear
    assert JOE_PW not in v.check("cat /data/etc/domains/%s/passwd" % DOMAIN)
    v.check("mailgw-layout check /data")
    v.shell_exit()
    board["done"].add("flow")
    board["rcfile"], board["home"] = rcfile, home


def test_usb_crl_hotplug(board):
    if "flow" not in board["done"]:
        pytest.skip("needs the gateway test_console_flow set up")
    v, tmp = board["vm"], board["tmp"]
    # The office's own CA, made on the admin's machine with openssl (the test PKI)
    ca = CA(str(tmp / "office-ca"), "Example Office Own CA")
    joe = ca.issue("joe", "/CN=" + JOE, "email:" + JOE)
    first = ca.crl(str(tmp / "crl-1.pem"), number=1, last=now() - datetime.timedelta(hours=2))
    key = usb_key(tmp / "ca-key.img", "CAKEY", files={
        "office/ca.crt": open(ca.dir + "/ca.crt", "rb").read(),
        "office/ca-crl.pem": open(first, "rb").read()})
    plug_and_mount(v, key)
    # it replaces the built-in CA of the first test: the word is asked
    out = v.cli("ca import /media/usb/office/ca.crt crl /media/usb/office/ca-crl.pem",
                [(r"\[y/N\] ", "y"), (r"Type 'replace' to go on, anything else cancels: ", "replace")])
    assert "office CA imported and installed with its CRL" in out, out
    # no key of the office's CA here: crlwatch stops re-signing and is told by the file
    assert "[crlwatch] ca_dir removed" in out, out
    console_says(v, out, r"crlwatch info: configuration reloaded")
    assert "can be pulled" in v.cli("usb umount")
    v.detach_usb()

    # joe now uses his certificate from the office's CA
    home = board["home"]
    certs = home / "certs"
    (certs / "joe.crt").write_bytes(open(joe.crt, "rb").read())
    (certs / "joe.key").write_bytes(open(joe.key, "rb").read())
    rcfile = board["rcfile"]
    # a fresh id file: the message kept on the gateway is fetched again
    (home / ".fetchids").unlink(missing_ok=True)
    rc, log = fetchmail(rcfile, home)
    assert rc == 0, log

    # the office revokes joe; the new CRL goes on a key as mailgw/crl.pem; the key is
    # plugged in and nothing is typed
    newer = ca.crl(str(tmp / "crl-2.pem"), revoked=[joe], number=2,
                   last=now() - datetime.timedelta(hours=1))
    crl_key = usb_key(tmp / "crl-key.img", "CRLKEY")
    usb_write(crl_key, "mailgw/crl.pem", open(newer, "rb").read())
    v.attach_usb(crl_key)
    t0 = time.monotonic()
    v.expect(r"USB /dev/sda\S*:mailgw/crl\.pem: new CRL installed", 120)
    print("\nCRL from a hot-plugged USB key installed %.1f s after the plug" % (time.monotonic() - t0))
    deadline = time.monotonic() + 60
    while True:
        (home / ".fetchids").unlink(missing_ok=True)
        rc, log = fetchmail(rcfile, home)
        if rc != 0:
            break
        assert time.monotonic() < deadline, "joe still fetches after the new CRL:\n" + log
        time.sleep(1)
    assert re.search(r"SSL connection failed|SSL_connect|handshake|certificate revoked", log, re.I), log
    v.detach_usb()
    # the console's view: the CRL now lists joe's serial
    out = v.cli("crl show")
    assert joe.serial().lower().lstrip("0") in out.lower().replace(":", ""), out
