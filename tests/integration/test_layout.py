"""The /data layout (README "The /data layout"), tested the way the bug was found: the data
directory is prepared only by the admin tools run as root (mailgw-layout, mailgw-passwd),
the daemon runs as its unprivileged user ('nobody' here) and must read what they wrote;
mail to a user added that way arrives and POP3 login works; every file has the owner and
mode the layout names. A file the daemon cannot read is a local fault: it is logged with
its path and SMTP answers 451, never a permanent 550. Root never follows a symlink the
daemon could have planted."""
import grp
import imaplib
import os
import poplib
import pwd
import signal
import smtplib
import stat
import subprocess

import pytest

from gate import client_ctx, tls_conf
from mgw import binary

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the tools run as root and the daemon as 'nobody'")

LAYOUT = binary("mailgw-layout")
PASSWD = binary("mailgw-passwd")
DOMAIN = "example.test"
PW = "joe's layout pw"
DU, DG = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name

# LAYOUT.md's table, written out independently of the C table it is checked against.
EXPECTED = {
    "": ("root", "root", 0o755),
    "etc": ("root", DG, 0o750),
    "etc/mailgw.conf": ("root", DG, 0o640),
    "etc/domains": ("root", DG, 0o750),
    "etc/domains/%s" % DOMAIN: ("root", DG, 0o750),
    "etc/domains/%s/passwd" % DOMAIN: ("root", DG, 0o640),
    "etc/domains/%s/aliases" % DOMAIN: ("root", DG, 0o640),
    "etc/tls": ("root", DG, 0o750),
    "etc/tls/server.crt": ("root", DG, 0o640),
    "etc/tls/ca.crt": ("root", DG, 0o640),
    "etc/tls/crl.pem": ("root", DG, 0o640),
    "etc/tls/server.key": ("root", "root", 0o600),
    "mail": (DU, DG, 0o700),
    "spool": (DU, DG, 0o700),
    "state": ("root", "root", 0o755),
}


def tool(args, stdin=b""):
    r = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, timeout=60)
    return r


def ok(args, stdin=b""):
    r = tool(args, stdin)
    assert r.returncode == 0, r.stderr.decode()
    return r.stderr.decode()


def owner(path):
    st = os.lstat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def prepared(daemon, pki, smtp=True, imaps=False):
    """A daemon whose data directory was made by the tools only, as root."""
    conf = "[smtp]\nlisten = 127.0.0.1:0\n" if smtp else ""
    d = daemon(start=False, chown=False)
    d.write_conf(conf + tls_conf(d, extra="[imaps]\nlisten = 127.0.0.1:0\n" if imaps else ""))
    ok([LAYOUT, "fix", d.data])  # what firstboot / boot run
    for name, src in (("server.crt", pki.server.crt), ("server.key", pki.server.key),
                      ("ca.crt", pki.ca.crt), ("crl.pem", pki.crl_path)):
        with open(src, "rb") as f:
            ok([LAYOUT, "install", d.data, "etc/tls/" + name], f.read())
    ok([PASSWD, "-r", "1000", "set", d.data, "joe@" + DOMAIN], (PW + "\n").encode())
    return d


def send(d, rcpt):
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.ehlo("client.example")
        s.mail("sender@example.net")
        return s.rcpt(rcpt)


def test_user_added_by_the_tool_as_root_gets_mail_and_logs_in(daemon, pki):
    d = prepared(daemon, pki)
    d.start()
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        assert s.sendmail("sender@example.net", ["joe@" + DOMAIN],
                          b"Subject: layout\r\n\r\nhello joe\r\n") == {}
    hp, pp = d.addr("pop3s")
    p = poplib.POP3_SSL(hp, pp, context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(PW)
    assert p.stat()[0] == 1
    assert b"hello joe" in b"\r\n".join(p.retr(1)[1])
    p.quit()

    # A reload, run by the daemon after its privilege drop, re-reads the configuration
    # and the TLS files the tools wrote.
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded .*generation 2 replaces 1", start=m)

    # Every path outside the daemon's own mail/ and spool/ is as the layout names it.
    seen = {""}
    for root, dirs, files in os.walk(d.data):
        for n in dirs + files:
            rel = os.path.relpath(os.path.join(root, n), d.data)
            if rel.split("/")[0] in ("mail", "spool") and "/" in rel:
                continue
            seen.add(rel)
    assert seen == set(EXPECTED) - {"etc/domains/%s/aliases" % DOMAIN}
    for rel in seen:
        assert owner(os.path.join(d.data, rel)) == EXPECTED[rel], rel
    # the daemon's own files are its own
    for root, dirs, files in os.walk(os.path.join(d.data, "mail")):
        for n in dirs + files:
            assert owner(os.path.join(root, n))[0] == DU
    assert tool([LAYOUT, "check", d.data]).returncode == 0


def test_mailgw_passwd_corrects_an_old_root_only_layout(daemon, pki):
    """The layout of the bug report: etc/domains and the domain root:root 0750, passwd
    root:root 0640 (mailgw-passwd before the fix). The tool run again corrects them."""
    d = prepared(daemon, pki)
    dom = os.path.join(d.data, "etc", "domains", DOMAIN)
    for p, mode in ((os.path.dirname(dom), 0o750), (dom, 0o750),
                    (os.path.join(dom, "passwd"), 0o640)):
        os.chown(p, 0, 0)  # the fault being simulated: the old tool's result
        os.chmod(p, mode)
    err = ok([PASSWD, "-r", "1000", "set", d.data, "ann@" + DOMAIN], b"ann pw\n")
    assert "etc/domains: 0:0 0750, the layout says 0:%d 0750 -> corrected" % \
        grp.getgrnam(DG).gr_gid in err
    for rel in ("etc/domains", "etc/domains/" + DOMAIN, "etc/domains/%s/passwd" % DOMAIN):
        assert owner(os.path.join(d.data, rel)) == EXPECTED[rel], rel
    d.start()
    assert send(d, "ann@" + DOMAIN)[0] == 250


@pytest.mark.parametrize("fault", ["domains dir", "domain dir", "passwd", "aliases"])
def test_unreadable_file_is_451_and_logged_never_550(daemon, pki, fault):
    d = prepared(daemon, pki)
    dom = os.path.join(d.data, "etc", "domains", DOMAIN)
    ok([LAYOUT, "install", d.data, "etc/domains/%s/aliases" % DOMAIN], b"info: joe\n")
    d.start()
    assert send(d, "info@" + DOMAIN)[0] == 250
    # The fault being simulated: root made a file or directory the daemon cannot read.
    path, rcpt = {
        "domains dir": (os.path.dirname(dom), "joe@" + DOMAIN),
        "domain dir": (dom, "joe@" + DOMAIN),
        "passwd": (os.path.join(dom, "passwd"), "joe@" + DOMAIN),
        "aliases": (os.path.join(dom, "aliases"), "info@" + DOMAIN),
    }[fault]
    os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
    os.chown(path, 0, 0)
    m = d.mark()
    code, text = send(d, rcpt)
    assert (code, text[:5]) == (451, b"4.3.0"), (code, text)
    line = d.wait_log(r": Permission denied", start=m)
    # the path the daemon could not read (the directory itself, or the file below it)
    assert ("%s/passwd: Permission denied" % dom in line if fault == "domain dir" else
            "%s: Permission denied" % (dom if fault == "domains dir" else path) in line), line
    # the boot-time check (or the tools) put it right, and mail flows again
    fixed = ok([LAYOUT, "fix", d.data])
    assert "-> corrected" in fixed
    assert send(d, rcpt)[0] == 250


def test_tls_file_unreadable_at_reload_is_logged_with_its_path(daemon, pki):
    d = prepared(daemon, pki, smtp=False)
    d.start()
    crl = os.path.join(d.data, "etc", "tls", "crl.pem")
    os.chmod(crl, 0o600)  # the fault being simulated
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload refused", start=m)
    assert crl in line, line
    ok([LAYOUT, "fix", d.data])
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded .*generation 2 replaces 1", start=m)


def as_daemon_user(*cmd):
    subprocess.run(cmd, check=True, user=DU, group=DG, timeout=30)


def test_symlinks_planted_by_the_daemon_user_are_never_followed(tmp_path, daemon, pki):
    """The old layout left directories root writes to in the daemon's hands (firstboot
    chowned /data/state to it; the tests chowned the whole tree). A compromised daemon
    plants a symlink at every name root writes; root's tools follow none of them."""
    d = prepared(daemon, pki)
    victims = tmp_path / "victims"
    victims.mkdir()
    os.chmod(victims, 0o755)
    vfile = victims / "shadow"
    vfile.write_text("root:original:\n")
    os.chmod(vfile, 0o600)
    vdir = victims / "dir"
    vdir.mkdir(mode=0o700)
    d.chown_data()  # (chown=False: only lets 'nobody' traverse pytest's folders)
    # the old layout: the daemon owns everything below the data directory
    for root, dirs, files in os.walk(d.data):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pwd.getpwnam(DU).pw_uid, grp.getgrnam(DG).gr_gid)
    dom = os.path.join(d.data, "etc", "domains", DOMAIN)
    planted = {
        os.path.join(dom, "passwd"): vfile,
        os.path.join(d.data, "etc", "tls", "crl.pem"): vfile,
        os.path.join(d.data, "etc", "network.conf"): vfile,
        os.path.join(d.data, "state", "clock"): vfile,
        os.path.join(d.data, "etc", "domains", "evil.test"): vdir,
    }
    for link, target in planted.items():
        as_daemon_user("rm", "-f", link)
        as_daemon_user("ln", "-s", str(target), link)
    # a file to edit that is a link is refused, not read, not written through
    r = tool([PASSWD, "-r", "1000", "set", d.data, "joe@" + DOMAIN], (PW + "\n").encode())
    assert r.returncode == 2
    assert b"example.test/passwd: a symlink (not followed)" in r.stderr
    # a file written whole replaces a link planted at its name, not what it points to
    ca = os.path.join(d.data, "etc", "tls", "ca.crt")
    as_daemon_user("rm", "-f", ca)
    as_daemon_user("ln", "-s", str(vfile), ca)
    with open(pki.ca.crt, "rb") as f:
        ok([LAYOUT, "install", d.data, "etc/tls/ca.crt"], f.read())
    assert not os.path.islink(ca) and open(ca, "rb").read() == open(pki.ca.crt, "rb").read()
    assert vfile.read_text() == "root:original:\n"
    # a symlink where a directory is expected is refused, nothing written behind it
    r = tool([PASSWD, "-r", "1000", "set", d.data, "x@evil.test"], b"pw\n")
    assert r.returncode == 2
    assert b"evil.test: a symlink or not a directory (not followed)" in r.stderr
    # the boot-time fix takes the directories back and removes every planted link
    r = tool([LAYOUT, "fix", d.data])
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    for link in planted:
        assert "%s: a symlink (not followed) -> removed" % link in err
        assert not os.path.lexists(link)
    assert vfile.read_text() == "root:original:\n"
    assert owner(vfile) == ("root", "root", 0o600)
    assert owner(vdir) == ("root", "root", 0o700) and os.listdir(vdir) == []
    assert tool([LAYOUT, "check", d.data]).returncode == 0
    ok([PASSWD, "-r", "1000", "set", d.data, "joe@" + DOMAIN], (PW + "\n").encode())
    with open(pki.crl_path, "rb") as f:
        ok([LAYOUT, "install", d.data, "etc/tls/crl.pem"], f.read())
    assert vfile.read_text() == "root:original:\n"
    d.start()
    assert send(d, "joe@" + DOMAIN)[0] == 250


def test_unreadable_passwd_is_a_temporary_pop3_error_not_a_failed_login(daemon, pki):
    """A local fault is not the user's wrong password: POP3 answers [SYS/TEMP] (RFC 3206),
    logs the file, and counts no failed login against the user's certificate."""
    d = prepared(daemon, pki, smtp=False)
    d.start()
    passwd = os.path.join(d.data, "etc", "domains", DOMAIN, "passwd")
    os.chmod(passwd, 0o600)  # the fault being simulated
    hp, pp = d.addr("pop3s")
    p = poplib.POP3_SSL(hp, pp, context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    m = d.mark()
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(PW)
    assert e.value.args[0].startswith(b"-ERR [SYS/TEMP]"), e.value.args[0]
    d.wait_log(r"%s: Permission denied" % passwd, start=m)
    assert "login failed" not in "".join(d.lines[m:])
    # fixed by the tools, the same session logs in
    ok([LAYOUT, "fix", d.data])
    p.user("joe@" + DOMAIN)
    p.pass_(PW)
    p.quit()


def test_unreadable_passwd_is_a_temporary_imap_error_not_a_failed_login(daemon, pki):
    """As for POP3: IMAP answers NO [UNAVAILABLE] (RFC 5530), logs the file, and counts
    no failed login."""
    d = prepared(daemon, pki, smtp=False, imaps=True)
    d.start()
    passwd = os.path.join(d.data, "etc", "domains", DOMAIN, "passwd")
    os.chmod(passwd, 0o600)  # the fault being simulated
    hi, pi = d.addr("imaps")
    m = imaplib.IMAP4_SSL(hi, pi, ssl_context=client_ctx(pki, pki.user["joe"]), timeout=15)
    mark = d.mark()
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):
        m.login("joe@" + DOMAIN, PW)
    d.wait_log(r"%s: Permission denied" % passwd, start=mark)
    assert "login failed" not in "".join(d.lines[mark:])
    # fixed by the tools, the same session logs in
    ok([LAYOUT, "fix", d.data])
    assert m.login("joe@" + DOMAIN, PW)[0] == "OK"
    m.logout()
