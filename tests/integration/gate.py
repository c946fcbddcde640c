"""gate.py - helpers for tests of the certificate gate and POP3S: install the test PKI
into a daemon's data directory the way an admin would (README "Installing the CA, the
CRL and the server certificate"), add users to a domain's passwd-file, deliver mail
into a Maildir the way the store does, and make client TLS contexts."""
import os
import pwd
import ssl
import subprocess
import time

from mgw import binary, maildir_arrival

DOMAIN = "example.test"
PASSWORDS = {"joe": "joe's secret", "ann": "ann-pw-2", "rev": "rev pw", "mia": "mia pw",
             "sam": "sam pw", "bob": "bob pw", "sub": "sub pw", "noid": "noid pw", "old": "old pw"}


def tls_dir(d):
    return os.path.join(d.data, "etc", "tls")


def layout_install(d, rel, src):
    """Installs the file src as DATA/rel with the product's own tool, as the console and
    crlwatch do (temp file, owner and mode of the layout, fsync, rename)."""
    with open(src, "rb") as f:
        subprocess.run([binary("mailgw-layout"), "-u", d.user, "install", d.data, rel],
                       stdin=f, check=True, capture_output=True)


def install_tls(d, pki, crl=None, server=None, ca=None):
    """Installs server certificate and key, CA and CRL into DATA/etc/tls with
    mailgw-layout install (the layout's owners and modes: the key root-only)."""
    server = server or pki.server
    for rel, src in (("etc/tls/server.crt", server.crt), ("etc/tls/server.key", server.key),
                     ("etc/tls/ca.crt", ca or pki.ca.crt), ("etc/tls/crl.pem", crl or pki.crl_path)):
        layout_install(d, rel, src)


def replace_crl(d, crl):
    """Installs a new CRL as the admin's tools do (mailgw-layout install: root:DG 0640,
    atomically)."""
    layout_install(d, "etc/tls/crl.pem", crl)


def tls_conf(d, extra_tls="", extra_pop3s="", extra=""):
    t = tls_dir(d)
    return ("[tls]\ncert = %s/server.crt\nkey = %s/server.key\nca = %s/ca.crt\ncrl = %s/crl.pem\n%s"
            "[pop3s]\nlisten = 127.0.0.1:0\n%s%s" % (t, t, t, t, extra_tls, extra_pop3s, extra))


def chown(d, path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam(d.user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def add_user(d, user, password=None, domain=DOMAIN, scheme="SHA512-CRYPT"):
    password = PASSWORDS[user] if password is None else password
    if scheme == "PLAIN":
        h = "{PLAIN}" + password
    else:
        h = "{SHA512-CRYPT}" + subprocess.check_output(
            ["openssl", "passwd", "-6", "-stdin"], input=password.encode()).decode().strip()
    ddir = os.path.join(d.data, "etc", "domains", domain)
    os.makedirs(ddir, exist_ok=True)
    with open(os.path.join(ddir, "passwd"), "a") as f:
        f.write("%s:%s::::::\n" % (user, h))


_seq = [0]


def maildir(d, user, domain=DOMAIN):
    return os.path.join(d.data, "mail", domain, user, "Maildir")


def deliver(d, user, body, domain=DOMAIN):
    """Writes a message into new/ as a Maildir delivery does (tmp/ then rename)."""
    md = maildir(d, user, domain)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    _seq[0] += 1
    now = time.time()
    name = "%d.M%dP%dQ%d.test,S=%d" % (int(now), int((now % 1) * 1e6), os.getpid(), _seq[0], len(body))
    tmp = os.path.join(md, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(body)
    os.rename(tmp, os.path.join(md, "new", name))
    # The whole tree must belong to the daemon's user (it drops privileges).
    p = md
    while p != d.data:
        chown(d, p)
        p = os.path.dirname(p)
    for root, dirs, files in os.walk(md):
        for n in dirs + files:
            chown(d, os.path.join(root, n))
    return name


def messages(d, user, domain=DOMAIN):
    md = maildir(d, user, domain)
    out = []
    for sub in ("new", "cur"):
        p = os.path.join(md, sub)
        if os.path.isdir(p):
            out += sorted(os.listdir(p), key=maildir_arrival)
    return out


def client_ctx(pki, cert=None, minv=None, maxv=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca.crt)
    if cert is not None:
        ctx.load_cert_chain(cert.crt, cert.key)
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def message(n, size=0, extra=b""):
    """A CRLF message, with lines starting with '.' to exercise byte-stuffing."""
    body = (b"From: sender@example.org\r\nTo: joe@example.test\r\nSubject: test %d\r\n"
            b"Message-ID: <%d@example.org>\r\n\r\nHello %d.\r\n.leading dot\r\n..two dots\r\n.\r\n"
            % (n, n, n)) + extra
    line = b"x" * 70 + b"\r\n"
    parts, n = [body], len(body)
    while n < size:
        part = line if n % 3 else b"." + line
        parts.append(part)
        n += len(part)
    return b"".join(parts)


# ---- fetchmail with the reference article's rcfile shape --------------------------------

MDA = """#!/usr/bin/python3
import os, sys
out = sys.argv[1]
n = len(os.listdir(out))
with open(os.path.join(out, "%03d" % n), "wb") as f:
    f.write(sys.stdin.buffer.read())
"""


def fetchmail(tmp_path, d, pki, keep, protocol="POP3"):
    """fetchmail with the reference article's rcfile shape against d's pop3s or imaps
    port; returns the run and the messages its mda wrote."""
    host, port = d.addr("pop3s" if protocol == "POP3" else "imaps")
    joe = pki.user["joe"]
    out = tmp_path / ("fm-out-%d" % time.time_ns())
    out.mkdir()
    mda = tmp_path / "mda.py"
    mda.write_text(MDA)
    mda.chmod(0o755)
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        'poll 127.0.0.1 service %d protocol %s\n'
        'user "joe@example.test" password "%s" is root here\n'
        '   ssl sslcertck sslcertfile %s sslcert %s sslkey %s sslcommonname localhost\n'
        '   %s mda "%s %s"\n'
        % (port, protocol, PASSWORDS["joe"], pki.ca.crt, joe.crt, joe.key, "keep" if keep else "nokeep fetchall",
           mda, out))
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "--idfile", str(tmp_path / "fetchids"),
                        "--pidfile", str(tmp_path / "fetchmail.pid"), "-v"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
    return r, sorted(out.iterdir())
