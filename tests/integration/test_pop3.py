"""POP3S behind the certificate gate: RFC 1939/2449/5034 with real clients (poplib, curl,
fetchmail), every refusal of the gate, reloads, resumption and the login throttle."""
import datetime
import os
import poplib
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

import gate
from gate import DOMAIN, PASSWORDS, add_user, client_ctx, deliver, fetchmail, install_tls, message, messages, tls_conf
from pki import now

REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError, poplib.error_proto,
           socket.timeout, OSError)


def start(daemon, pki, users=("joe", "ann", "sub", "noid", "rev", "mia", "sam", "bob", "old"),
          crl=None, server=None, ca=None, extra_tls="", extra_pop3s="", extra="", start=True):
    d = daemon(start=False)
    install_tls(d, pki, crl=crl, server=server, ca=ca)
    for u in users:
        add_user(d, u)
    d.write_conf(tls_conf(d, extra_tls, extra_pop3s, extra))
    if start:
        d.start()
    return d


def pop(d, pki, cert=None, user=None, password=None, login=True, **ctxkw):
    """A poplib session with the user's certificate; logged in unless login=False."""
    cert = cert or pki.user[user or "joe"]
    host, port = d.addr("pop3s")
    p = poplib.POP3_SSL(host, port, context=client_ctx(pki, cert, **ctxkw), timeout=15)
    if login:
        name = "%s@%s" % (user or "joe", DOMAIN)
        p.user(name)
        p.pass_(PASSWORDS[user or "joe"] if password is None else password)
    return p


def refused(d, pki, cert, **ctxkw):
    """Connects and expects no greeting; returns the client-side error text."""
    host, port = d.addr("pop3s")
    try:
        p = poplib.POP3_SSL(host, port, context=client_ctx(pki, cert, **ctxkw), timeout=15)
    except REFUSED as e:
        return str(e)
    raise AssertionError("connection accepted, greeting %r" % p.getwelcome())


# ---- the POP3 commands against RFC 1939's replies -------------------------------------

def test_poplib_every_command(daemon, pki):
    d = start(daemon, pki)
    bodies = [message(1), message(2, 3000), message(3)]
    for b in bodies:
        deliver(d, "joe", b)
    p = pop(d, pki, login=False)
    assert p.getwelcome().startswith(b"+OK ")
    caps = p.capa()
    for c in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"):
        assert c in caps, caps
    assert caps["SASL"] == ["PLAIN"]
    # Not logged in yet: transaction commands are refused.
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        p.stat()
    assert p.user("joe@example.test").startswith(b"+OK")
    assert p.pass_(PASSWORDS["joe"]).startswith(b"+OK")
    assert "USER" not in p.capa()
    total = sum(len(b) for b in bodies)
    assert p.stat() == (3, total)
    resp, lines, _ = p.list()
    assert resp.startswith(b"+OK")
    assert lines == [b"%d %d" % (i + 1, len(b)) for i, b in enumerate(bodies)]
    assert p.list(2) == b"+OK 2 %d" % len(bodies[1])
    with pytest.raises(poplib.error_proto, match=r"-ERR no such message"):
        p.list(4)
    resp, uids, _ = p.uidl()
    assert len(uids) == 3 and len({u.split()[1] for u in uids}) == 3
    assert all(re.match(rb"^\d+ [\x21-\x7e]{1,70}$", u) for u in uids)
    assert p.uidl(1).split()[2] == uids[0].split()[1]
    # RETR: byte-exact once poplib's dot-unstuffing is undone by it (lines without CRLF).
    for i, b in enumerate(bodies):
        resp, lines, octets = p.retr(i + 1)
        assert resp == b"+OK %d octets" % len(b)
        assert b"\r\n".join(lines) + b"\r\n" == b
    # TOP n 0: the header and the blank line; TOP n 1: plus one body line.
    resp, lines, _ = p.top(1, 0)
    assert b"\r\n".join(lines) + b"\r\n" == bodies[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    resp, lines, _ = p.top(1, 2)
    assert lines[-2:] == [b"Hello 1.", b".leading dot"]
    assert p.noop() == b"+OK"
    assert p.dele(2).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match=r"-ERR message 2 already deleted"):
        p.retr(2)
    assert p.stat() == (2, total - len(bodies[1]))
    assert p.rset().startswith(b"+OK")
    assert p.stat() == (3, total)
    assert p.dele(2).startswith(b"+OK")
    # LAST is gone from RFC 1939: a clean -ERR (fetchmail copes).
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        p._shortcmd("LAST")
    with pytest.raises(poplib.error_proto, match=r"-ERR unknown command"):
        p._shortcmd("XTND XMIT")
    assert p.quit().startswith(b"+OK")
    # UPDATE removed message 2 only.
    assert len(messages(d, "joe")) == 2
    p = pop(d, pki)
    assert p.stat() == (2, len(bodies[0]) + len(bodies[2]))
    p.quit()


def test_auth_plain_initial_response_and_continuation(daemon, pki):
    import base64
    d = start(daemon, pki)
    deliver(d, "joe", message(1))
    cred = base64.b64encode(b"\0joe@example.test\0" + PASSWORDS["joe"].encode()).decode()
    p = pop(d, pki, login=False)
    assert p._shortcmd("AUTH PLAIN " + cred).startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()
    # Continuation; then a cancel with "*".
    p = pop(d, pki, login=False)
    assert p._shortcmd("AUTH PLAIN") == b"+ "
    with pytest.raises(poplib.error_proto, match=r"-ERR authentication cancelled"):
        p._shortcmd("*")
    assert p._shortcmd("AUTH PLAIN") == b"+ "
    assert p._shortcmd(cred).startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()
    # An authorization identity other than the user is refused.
    p = pop(d, pki, login=False)
    other = base64.b64encode(b"ann@example.test\0joe@example.test\0" + PASSWORDS["joe"].encode())
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p._shortcmd("AUTH PLAIN " + other.decode())
    p.quit()


def test_uidl_stable_across_sessions_and_in_use(daemon, pki):
    d = start(daemon, pki)
    deliver(d, "joe", message(1))
    deliver(d, "joe", message(2))
    p = pop(d, pki)
    first = p.uidl()[1]
    # A second session of the same user while the first holds the maildrop.
    q = pop(d, pki, login=False)
    q.user("joe@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
        q.pass_(PASSWORDS["joe"])
    q.quit()
    p.quit()
    deliver(d, "joe", message(3))
    p = pop(d, pki)
    second = p.uidl()[1]
    assert second[:2] == first
    assert len(second) == 3 and second[2].split()[1] not in [u.split()[1] for u in first]
    p.quit()


def test_uidlist_read_error_is_temporary_and_keeps_uidl(daemon, pki):
    """A uidlist that cannot be read at the moment (here every read fails: the file is
    replaced by a link to /proc/self/mem) gets -ERR [SYS/TEMP], and once it reads again
    the UIDs are those the client saw before (fetchmail's keep fetches nothing twice)."""
    d = start(daemon, pki)
    deliver(d, "joe", message(1))
    deliver(d, "joe", message(2))
    p = pop(d, pki)
    before = p.uidl()[1]
    p.quit()
    path = os.path.join(gate.maildir(d, "joe"), "dovecot-uidlist")
    os.rename(path, path + ".aside")
    os.symlink("/proc/self/mem", path)
    time.sleep(1)  # a recreated list would get another UIDVALIDITY
    p = pop(d, pki, login=False)
    p.user("joe@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\]"):
        p.pass_(PASSWORDS["joe"])
    p.quit()
    assert os.path.islink(path)  # not replaced by a new list
    os.unlink(path)
    os.rename(path + ".aside", path)
    p = pop(d, pki)
    assert p.uidl()[1] == before
    p.quit()


def test_dropped_connection_deletes_nothing(daemon, pki):
    d = start(daemon, pki)
    deliver(d, "joe", message(1))
    p = pop(d, pki)
    p.dele(1)
    m = d.mark()
    p.sock.shutdown(socket.SHUT_RDWR)  # no QUIT: no UPDATE state
    p.sock.close()
    d.wait_log(r"pop3 127\.0\.0\.1:\d+: closed \(peer closed\), joe@example.test", start=m)
    assert len(messages(d, "joe")) == 1
    p = pop(d, pki)
    assert p.stat()[0] == 1
    p.quit()


def test_large_message_streams_byte_exact(daemon, pki):
    d = start(daemon, pki)
    big = message(1, 6 * 1024 * 1024)
    deliver(d, "joe", big)
    p = pop(d, pki)
    resp, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == big
    # Pipelined commands behind a large RETR wait their turn (RFC 2449 PIPELINING).
    p.sock.sendall(b"RETR 1\r\nNOOP\r\nSTAT\r\n")
    assert p._getresp().startswith(b"+OK")
    data = []
    while True:
        line = p.file.readline()
        if line == b".\r\n":
            break
        data.append(line[1:] if line.startswith(b"..") else line)
    assert b"".join(data) == big
    assert p._getresp() == b"+OK"
    assert p._getresp() == b"+OK 1 %d" % len(big)
    p.quit()


def test_line_limits_and_bad_commands(daemon, pki):
    d = start(daemon, pki)
    p = pop(d, pki, login=False)
    with pytest.raises(poplib.error_proto, match=r"-ERR line too long"):
        p._shortcmd("USER " + "x" * 2000)
    for _ in range(9):
        with pytest.raises(poplib.error_proto, match=r"-ERR"):
            p._shortcmd("BOGUS")
    with pytest.raises(poplib.error_proto, match=r"-ERR too many bad commands"):
        p._shortcmd("BOGUS")
    assert p.file.readline() == b""  # closed


def test_prelogin_command_limit(daemon, pki):
    d = start(daemon, pki)
    p = pop(d, pki, login=False)
    with pytest.raises(poplib.error_proto, match=r"-ERR already under TLS"):
        p._shortcmd("STLS")
    with pytest.raises(poplib.error_proto, match=r"-ERR APOP not supported"):
        p._shortcmd("APOP joe 0123456789abcdef0123456789abcdef")
    for _ in range(18):
        p.capa()
    with pytest.raises(poplib.error_proto, match=r"-ERR too many commands without login"):
        p._shortcmd("NOOP")
    assert p.file.readline() == b""
    d.wait_log(r"closed \(pre-login command limit\)")


def test_curl_pop3s(daemon, pki):
    d = start(daemon, pki)
    body = message(7, 5000)
    deliver(d, "joe", body)
    host, port = d.addr("pop3s")
    joe = pki.user["joe"]
    base = ["curl", "-sS", "--cacert", pki.ca.crt, "--cert", joe.crt, "--key", joe.key,
            "--user", "joe@example.test:" + PASSWORDS["joe"]]
    url = "pop3s://localhost:%d/" % port
    r = subprocess.run(base + ["--resolve", "localhost:%d:127.0.0.1" % port, url],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"1 %d\r\n" % len(body)
    r = subprocess.run(base + ["--resolve", "localhost:%d:127.0.0.1" % port, url + "1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == body
    # Without a client certificate curl gets no further than the handshake.
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca.crt, "--user", "joe@example.test:x",
                        "--resolve", "localhost:%d:127.0.0.1" % port, url],
                       capture_output=True, timeout=30)
    assert r.returncode != 0
    d.wait_log(r"refused: no client certificate")



# ---- Maildirs stored with LF line ends (dovecot's form, copied mailboxes) ---------------

def crlf(body):
    """What POP3 must send for a stored message: every lone LF as CRLF, a CRLF kept, and
    a CRLF after a last line that has none (RFC 1939 section 3)."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", body)
    return out + b"\r\n" if out and not out.endswith(b"\r\n") else out


def lf_maildrop(d):
    """joe's maildrop as copied from another server: LF files (one with dovecot's W=
    size in its name, in cur/), a CRLF one, a mixed one, one without a final newline."""
    lf = message(2, 3000).replace(b"\r\n", b"\n")
    bodies = [message(1),
              lf,
              b"From: a@example.org\r\nSubject: mixed\n\r\nline one\nline two\r\n.dot\nend\r\n",
              b"From: a@example.org\nSubject: no final newline\n\n.first\nlast line",
              message(5, 1500).replace(b"\r\n", b"\n")]
    for b in bodies[:4]:
        deliver(d, "joe", b)
    md = gate.maildir(d, "joe")
    w = bodies[4]
    name = "1999999999.M1P1.old,S=%d,W=%d:2,S" % (len(w), len(crlf(w)))
    with open(os.path.join(md, "cur", name), "wb") as f:
        f.write(w)
    gate.chown(d, os.path.join(md, "cur", name))
    return bodies


def raw_retr(p, cmd):
    """Sends RETR/TOP and returns (status line, the octets as sent with the terminator
    removed and dot-stuffing undone), checking every line ends in CRLF."""
    p._putcmd(cmd)
    resp = p._getresp()
    data = []
    while True:
        line = p.file.readline()
        assert line.endswith(b"\r\n"), line
        assert b"\n" not in line[:-2] and b"\r" not in line[:-2], line
        if line == b".\r\n":
            break
        data.append(line[1:] if line.startswith(b".") else line)
    return resp, b"".join(data)


def test_lf_maildir_served_with_crlf_poplib(daemon, pki):
    d = start(daemon, pki)
    bodies = lf_maildrop(d)
    sent = [crlf(b) for b in bodies]
    p = pop(d, pki)
    # Sizes are those of the messages as sent, consistent across STAT, LIST and RETR.
    assert p.stat() == (len(bodies), sum(len(s) for s in sent))
    assert p.list()[1] == [b"%d %d" % (i + 1, len(s)) for i, s in enumerate(sent)]
    for i, want in enumerate(sent):
        assert p.list(i + 1) == b"+OK %d %d" % (i + 1, len(want))
        resp, got = raw_retr(p, "RETR %d" % (i + 1))
        assert resp == b"+OK %d octets" % len(want)
        assert got == want
        resp, got = raw_retr(p, "TOP %d 0" % (i + 1))
        assert got == want.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    resp, got = raw_retr(p, "TOP 4 1")
    assert got == b"From: a@example.org\r\nSubject: no final newline\r\n\r\n.first\r\n"
    p.quit()
    # The cached sizes survive the next session.
    p = pop(d, pki)
    assert p.list()[1] == [b"%d %d" % (i + 1, len(s)) for i, s in enumerate(sent)]
    p.quit()


def test_lf_maildir_served_with_crlf_curl(daemon, pki):
    d = start(daemon, pki)
    bodies = lf_maildrop(d)
    host, port = d.addr("pop3s")
    joe = pki.user["joe"]
    base = ["curl", "-sS", "--max-time", "20", "--cacert", pki.ca.crt, "--cert", joe.crt,
            "--key", joe.key, "--user", "joe@example.test:" + PASSWORDS["joe"],
            "--resolve", "localhost:%d:127.0.0.1" % port]
    url = "pop3s://localhost:%d/" % port
    r = subprocess.run(base + [url], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(b"%d %d\r\n" % (i + 1, len(crlf(b))) for i, b in enumerate(bodies))
    for i, b in enumerate(bodies):
        r = subprocess.run(base + [url + str(i + 1)], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr  # 28 (timeout) when the end is never seen
        assert r.stdout == crlf(b)
        assert len(r.stdout) == len(crlf(b))

# ---- fetchmail with the reference article's rcfile shape --------------------------------

def test_fetchmail_reference_configuration(tmp_path, daemon, pki):
    d = start(daemon, pki)
    bodies = [message(1), message(2, 200000)]
    for b in bodies:
        deliver(d, "joe", b)
    # keep: both arrive, both stay.
    r, got = fetchmail(tmp_path, d, pki, keep=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == 2
    for f, b in zip(got, bodies):
        data = f.read_bytes()
        # fetchmail hands the mda LF line ends and puts its Received: header on top;
        # the message itself follows byte for byte.
        assert data.endswith(b.replace(b"\r\n", b"\n")), data[:300]
    assert len(messages(d, "joe")) == 2
    # keep + UIDL: a second run fetches nothing new.
    r, got = fetchmail(tmp_path, d, pki, keep=True)
    assert r.returncode == 1, r.stdout + r.stderr  # 1: no mail
    assert got == []
    # Without keep (and fetchall, as fetchmail skips what it has seen): fetched and deleted.
    deliver(d, "joe", message(3))
    r, got = fetchmail(tmp_path, d, pki, keep=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == 3
    assert messages(d, "joe") == []
    assert "TOP" in r.stdout or "RETR" in r.stdout


def test_lf_maildir_served_with_crlf_fetchmail(tmp_path, daemon, pki):
    d = start(daemon, pki)
    bodies = lf_maildrop(d)
    r, got = fetchmail(tmp_path, d, pki, keep=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == len(bodies)
    # fetchmail names the sizes LIST gave; a bare LF would have shown as a broken line.
    for i, b in enumerate(bodies):
        assert "message joe@example.test@127.0.0.1:%d of %d (%d octets)" % (
            i + 1, len(bodies), len(crlf(b))) in r.stdout, r.stdout
    for f, b in zip(got, bodies):
        # fetchmail hands the mda LF line ends, its Received: header on top.
        assert f.read_bytes().endswith(crlf(b).replace(b"\r\n", b"\n"))
    assert "size mismatch" not in r.stdout.lower() + r.stderr.lower()


# ---- the gate's refusals ---------------------------------------------------------------

def test_refused_without_certificate(daemon, pki):
    d = start(daemon, pki)
    m = d.mark()
    refused(d, pki, None, minv=ssl.TLSVersion.TLSv1_2, maxv=ssl.TLSVersion.TLSv1_2)
    d.wait_log(r"tls 127\.0\.0\.1:\d+: refused: no client certificate", start=m)
    m = d.mark()
    err = refused(d, pki, None, minv=ssl.TLSVersion.TLSv1_3)
    assert "certificate required" in err, err
    d.wait_log(r"tls 127\.0\.0\.1:\d+: refused: no client certificate", start=m)


def test_refused_foreign_ca(daemon, pki):
    d = start(daemon, pki)
    m = d.mark()
    refused(d, pki, pki.user["foreign"])
    line = d.wait_log(r"refused: .*not correctly signed", start=m)
    assert "subject CN=joe@example.test" in line and "serial" in line


def test_refused_expired_certificate(daemon, pki):
    d = start(daemon, pki)
    m = d.mark()
    refused(d, pki, pki.user["expired"])
    line = d.wait_log(r"refused: .*validity has expired", start=m)
    assert "CN=old@example.test" in line
    assert pki.user["expired"].serial()[-4:] in line.replace(":", "")


def test_refused_not_yet_valid_certificate(daemon, pki):
    d = start(daemon, pki)
    m = d.mark()
    err = refused(d, pki, pki.user["future"])
    assert "certificate expired" in err, err  # the alert TLS has for both cases
    d.wait_log(r"refused: .*validity starts in the future.*CN=new@example.test", start=m)


def test_refused_revoked_certificate_tls12_and_13(daemon, pki, tmp_path):
    crl = pki.ca.crl(str(tmp_path / "crl.pem"), revoked=[pki.user["rev"]])
    d = start(daemon, pki, crl=crl)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        m = d.mark()
        err = refused(d, pki, pki.user["rev"], minv=v, maxv=v)
        line = d.wait_log(r"refused: .*has been revoked", start=m)
        assert "CN=rev@example.test" in line
        # The client is told why, under TLS 1.3 too (not "bad record mac", see README).
        assert "certificate revoked" in err, err
    # Another user's certificate still works under the same CRL.
    pop(d, pki).quit()


def test_expired_crl_refuse(daemon, pki, tmp_path):
    crl = pki.ca.crl(str(tmp_path / "crl.pem"), last=now() - datetime.timedelta(days=10),
                     next=now() - datetime.timedelta(hours=2))
    d = start(daemon, pki, crl=crl)
    assert "expired" in d.log() and "refuse policy" in d.log()
    m = d.mark()
    refused(d, pki, pki.user["joe"])
    d.wait_log(r"refused: .*CRL is expired", start=m)


def test_crl_issued_in_the_future_refuses(daemon, pki, tmp_path):
    """A CRL whose lastUpdate is ahead of the clock (a CA with a wrong clock, or ours
    wrong): warned about at start and every client refused, under TLS 1.2 and 1.3, as
    mbedTLS's own CRL check does (mailgwd checks the CRL's dates itself and its
    signature once per generation: README "TLS cost")."""
    crl = pki.ca.crl(str(tmp_path / "crl.pem"), last=now() + datetime.timedelta(days=2),
                     next=now() + datetime.timedelta(days=30))
    d = start(daemon, pki, crl=crl)
    assert "is issued in the future" in d.log()
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        m = d.mark()
        refused(d, pki, pki.user["joe"], minv=v, maxv=v)
        d.wait_log(r"refused: .*The CRL is from the future.*CN=joe@example\.test",
                   start=m)


def test_expired_crl_grace_accepted_with_warning_then_runs_out(daemon, pki, tmp_path):
    # Expired 2 hours ago, grace 3 hours: accepted, with a warning on every connection.
    crl = pki.ca.crl(str(tmp_path / "crl.pem"), last=now() - datetime.timedelta(days=10),
                     next=now() - datetime.timedelta(hours=2))
    d = start(daemon, pki, crl=crl, extra_tls="crl_expired = grace\ncrl_grace = 3h\n")
    for _ in range(2):
        m = d.mark()
        p = pop(d, pki)
        assert p.stat()[0] == 0
        p.quit()
        d.wait_log(r"CRL EXPIRED at .* accepted under the grace period until .*joe@example", start=m)
    # Grace of 1 hour has run out an hour ago: refused.
    d.write_conf(tls_conf(d, "crl_expired = grace\ncrl_grace = 1h\n"))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    m = d.mark()
    refused(d, pki, pki.user["joe"])
    d.wait_log(r"grace period ended at", start=m)
    d.wait_log(r"refused: .*CRL is expired", start=m)


def test_tls10_and_tls11_refused(daemon, pki):
    d = start(daemon, pki)
    host, port = d.addr("pop3s")
    joe = pki.user["joe"]
    for proto in ("-tls1", "-tls1_1"):
        m = d.mark()
        r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port), proto,
                            "-cipher", "DEFAULT@SECLEVEL=0", "-cert", joe.crt, "-key", joe.key,
                            "-CAfile", pki.ca.crt], input=b"", capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode()
        assert r.returncode != 0
        assert "+OK" not in out
        assert re.search(r"protocol version|unsupported protocol|no protocols available", out), out
        d.wait_log(r"refused: protocol version refused", start=m)


def test_other_users_name_and_password(daemon, pki):
    """A valid certificate (ann's) with joe's correct name and password: refused."""
    d = start(daemon, pki)
    m = d.mark()
    p = pop(d, pki, cert=pki.user["ann"], login=False)
    p.user("joe@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.pass_(PASSWORDS["joe"])
    line = d.wait_log(r"login failed for 'joe@example.test': the certificate belongs to 'ann@example.test'",
                      start=m)
    assert "subject CN=ann@example.test" in line and "serial" in line


def test_certificate_without_identity_field(daemon, pki):
    d = start(daemon, pki)
    m = d.mark()
    p = pop(d, pki, cert=pki.user["noid"], login=False)
    p.user("noid@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.pass_(PASSWORDS["noid"])
    d.wait_log(r"login failed for 'noid@example.test': the certificate has no usable email identity",
               start=m)
    # subject emailAddress counts when there is no subjectAltName.
    p = pop(d, pki, user="sub")
    assert p.stat() == (0, 0)
    p.quit()


def test_identity_cn_and_none(daemon, pki):
    d = start(daemon, pki, extra_tls="identity = cn\n")
    pop(d, pki).quit()  # CN=joe@example.test
    p = pop(d, pki, cert=pki.user["sub"], user="sub", login=False)  # CN=Sub User
    p.user("sub@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.pass_(PASSWORDS["sub"])
    d.wait_log(r"login failed for 'sub@example.test': the certificate has no usable cn identity")
    # identity = none is the explicit opt-out: any valid certificate, any user's password.
    d.write_conf(tls_conf(d, "identity = none\n"))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    pop(d, pki, cert=pki.user["ann"], user="joe").quit()


def test_wrong_password_delay_grows_and_connection_closes(daemon, pki):
    d = start(daemon, pki)
    p = pop(d, pki, login=False)
    delays = []
    for i in range(3):
        p.user("joe@example.test")
        t0 = time.monotonic()
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] authentication failed"):
            p.pass_("wrong")
        delays.append(time.monotonic() - t0)
    assert delays[0] >= 0.4 and delays[1] >= 0.9 and delays[2] >= 1.9, delays
    assert p.file.readline() == b""  # closed after the third failure
    log = d.log()
    assert len(re.findall(r"login failed for 'joe@example.test': wrong password", log)) == 3
    assert "subject CN=joe@example.test" in log
    # The delay is per certificate: a new connection starts where the last one stopped.
    p = pop(d, pki, login=False)
    p.user("joe@example.test")
    t0 = time.monotonic()
    with pytest.raises(poplib.error_proto):
        p.pass_("wrong")
    assert time.monotonic() - t0 >= 3.9
    # The right password still works (and clears the counters).
    p.user("joe@example.test")
    try:
        assert p.pass_(PASSWORDS["joe"]).startswith(b"+OK")
    except poplib.error_proto as e:
        raise AssertionError("%s\n%s" % (e, d.log()))
    p.quit()


# ---- reload, resumption, configuration ---------------------------------------------------

def test_reload_revokes_next_connection_not_the_established_session(daemon, pki, tmp_path):
    d = start(daemon, pki)
    deliver(d, "mia", message(1))
    p = pop(d, pki, user="mia")
    assert p.stat()[0] == 1
    gate.replace_crl(d, pki.ca.crl(str(tmp_path / "crl2.pem"), revoked=[pki.user["mia"]]))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    # The established session goes on with its generation.
    assert p.stat()[0] == 1
    assert p.retr(1)[0].startswith(b"+OK")
    # The next connection of that user is refused in the handshake.
    m = d.mark()
    refused(d, pki, pki.user["mia"])
    d.wait_log(r"refused: .*has been revoked.*CN=mia@example.test", start=m)
    p.quit()
    # Others are not affected.
    pop(d, pki).quit()
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["generation"] == "2"
    assert status["pop3_sessions"] == "0"
    assert re.match(r"CRL next update \d{4}-\d\d-\d\d .* UTC \(in \d+ h\), policy refuse$",
                    status["tls_gate"]), status


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_resumption_and_revoked_session_cannot_resume(daemon, pki, tmp_path, version):
    d = start(daemon, pki)
    host, port = d.addr("pop3s")
    ctx = client_ctx(pki, pki.user["sam"], minv=version, maxv=version)

    def connect(session=None):
        s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10),
                            server_hostname=host, session=session)
        greeting = s.recv(100)
        return s, greeting

    s, greeting = connect()
    assert greeting.startswith(b"+OK")
    sess = s.session
    s.close()
    if sess is not None:
        s2, greeting = connect(sess)
        assert not s2.session_reused  # every handshake is a full one
        s2.close()
    gate.replace_crl(d, pki.ca.crl(str(tmp_path / "crl2.pem"), revoked=[pki.user["sam"]]))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    m = d.mark()
    with pytest.raises(REFUSED):
        s3, greeting = connect(sess)
        assert not greeting.startswith(b"+OK"), greeting
        raise ConnectionResetError("no greeting: %r" % greeting)
    d.wait_log(r"refused: .*has been revoked.*CN=sam@example.test", start=m)


def test_rsa_server_certificate(daemon, pki):
    d = start(daemon, pki, server=pki.server_rsa)
    p = pop(d, pki)
    assert p.stat() == (0, 0)
    assert "ECDHE-RSA" in d.log() or "TLS1-3" in d.log()
    p.quit()


def test_ca_without_crl_is_a_configuration_error(daemon, pki, tmp_path):
    d = start(daemon, pki, start=False)
    t = gate.tls_dir(d)
    d.write_conf(tls_conf(d).replace("crl = %s/crl.pem\n" % t, ""))
    r = subprocess.run([d.prog, "-c", d.conf_path, "-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "given without a CRL" in r.stderr, r.stderr
    # A CRL of another CA does not count either.
    foreign = pki.foreign.crl(str(tmp_path / "foreign-crl.pem"))
    d.write_conf(tls_conf(d))
    gate.replace_crl(d, foreign)
    r = subprocess.run([d.prog, "-c", d.conf_path, "-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "no CRL for CA 'CN=mailgw test office CA'" in r.stderr, r.stderr


def test_bad_crl_at_reload_keeps_running_generation(daemon, pki, tmp_path):
    d = start(daemon, pki)
    gate.replace_crl(d, pki.foreign.crl(str(tmp_path / "foreign-crl.pem")))
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload refused", start=m)
    assert "keeping generation 1" in line and "no CRL for CA" in line
    pop(d, pki).quit()  # still serving with generation 1
    with open(os.path.join(gate.tls_dir(d), "crl.pem"), "w") as f:
        f.write("garbage\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload refused, keeping generation 1", start=m)
    pop(d, pki).quit()


def test_plain_passwords_only_when_allowed(daemon, pki):
    d = start(daemon, pki, users=("ann",), start=False)
    add_user(d, "joe", scheme="PLAIN")
    d.start()
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        pop(d, pki)
    d.wait_log(r"login failed for 'joe@example.test': wrong password or unknown user")
    d.write_conf(tls_conf(d, extra="[auth]\nallow_plain = yes\n"))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    pop(d, pki).quit()


def test_weak_server_key_refused_at_start(daemon, pki):
    weak = pki.ca.issue("server_weak", "/CN=localhost", "DNS:localhost", ext="srv", keyalg=1024)
    d = start(daemon, pki, server=weak, start=False)
    r = subprocess.run([d.prog, "-c", d.conf_path, "-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "RSA key of 1024 bits (at least 2048 needed)" in r.stderr, r.stderr


def test_pop3s_needs_tls(daemon):
    d = daemon(start=False)
    d.write_conf("[pop3s]\nlisten = 127.0.0.1:0\n")
    r = subprocess.run([d.prog, "-c", d.conf_path, "-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "[pop3s] needs [tls] cert, key, ca and crl" in r.stderr


@pytest.mark.parametrize("text,problem", [
    ("[tls]\ncrl_expired = maybe\n", "crl_expired: expected one of: refuse grace"),
    ("[tls]\nidentity = uid\n", "identity: expected one of: email cn none"),
    ("[tls]\ncrl_grace = 31d\n", "crl_grace: out of range (0 to 2592000)"),
    ("[pop3s]\nidle_timeout = 5m\n", "idle_timeout: out of range (600 to 86400)"),
    ("[tls]\ncert = server.crt\n", "cert: must be an absolute path"),
])
def test_tls_and_pop3s_config_errors(tmp_path, text, problem):
    from mgw import Daemon, binary
    d = Daemon(tmp_path, "")
    with open(d.conf_path, "w") as f:
        f.write(text)
    r = subprocess.run([binary("mailgwd"), "-c", d.conf_path, "-t"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == "mailgwd: %s:2: %s" % (d.conf_path, problem), r.stderr


def test_listings_of_a_large_maildrop_stream(daemon, pki):
    """LIST and UIDL of a maildrop larger than the output buffer are sent whole (streamed
    as the output drains), not cut off by the connection's output limit."""
    d = start(daemon, pki)
    md = gate.maildir(d, "joe")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    n = 6000
    body = message(1)
    for i in range(n - 1):
        name = "1700000000.M%dP1Q%d.test,S=%d" % (i, i, len(body))
        with open(os.path.join(md, "new", name), "wb") as f:
            f.write(body)
    deliver(d, "joe", body)  # the last one, and the tree's owner
    p = pop(d, pki)
    assert p.stat() == (n, n * len(body))
    uidl = p.uidl()[1]
    assert len(uidl) == n and len(set(u.split()[1] for u in uidl)) == n
    assert [int(u.split()[0]) for u in uidl] == list(range(1, n + 1))
    listing = p.list()[1]
    assert listing == [b"%d %d" % (i, len(body)) for i in range(1, n + 1)]
    # Pipelined behind the listings, in order (RFC 2449 PIPELINING).
    p.sock.sendall(b"UIDL\r\nLIST\r\nSTAT\r\nLIST 3\r\n")
    for want in (uidl, listing):
        assert p._getresp().startswith(b"+OK")
        got = []
        while True:
            line = p.file.readline().rstrip(b"\r\n")
            if line == b".":
                break
            got.append(line)
        assert got == want
    assert p._getresp() == b"+OK %d %d" % (n, n * len(body))
    assert p._getresp() == b"+OK 3 %d" % len(body)
    p.quit()


def test_pipelining_client_that_reads_late_is_slowed_not_dropped(daemon, pki):
    """A client that pipelines many LISTs before it reads a reply (RFC 2449 allows it)
    gets every reply, in order: the session stops taking commands while its output is
    backed up instead of overflowing the output buffer."""
    import threading
    d = start(daemon, pki)
    for i in range(200):
        deliver(d, "joe", message(i))
    p = pop(d, pki)
    want = p.list()[1]
    n = 2000
    t = threading.Thread(target=p.sock.sendall, args=(b"LIST\r\n" * n + b"STAT\r\n",))
    t.start()
    time.sleep(3)  # the kernel's buffers and the daemon's output fill up meanwhile
    for _ in range(n):
        assert p._getresp().startswith(b"+OK")
        got = []
        while True:
            line = p.file.readline().rstrip(b"\r\n")
            if line == b".":
                break
            got.append(line)
        assert got == want
    assert p._getresp().startswith(b"+OK 200 ")
    t.join()
    p.quit()


def test_connections_per_address_are_limited(daemon, pki):
    """One address cannot hold every connection of the daemon (max_connections is shared
    with SMTP) by opening TCP connections to pop3s that never finish a handshake."""
    d = start(daemon, pki)
    host, port = d.addr("pop3s")
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(16)]
    m = d.mark()
    extra = socket.create_connection((host, port), timeout=10)
    try:
        assert extra.recv(1) == b""  # closed at once
    except ConnectionResetError:
        pass
    d.wait_log(r"pop3s 127\.0\.0\.1:\d+: refused, more than 16 connections from this address",
               start=m)
    for s in idle:
        s.close()
    extra.close()
    time.sleep(0.5)
    p = pop(d, pki)
    assert p.stat()[0] == 0
    p.quit()


def test_input_held_inside_tls_is_not_forgotten(daemon, pki):
    """One TLS record larger than the session's input buffer: what the TLS layer holds
    decrypted after the buffer filled is still read although the socket has nothing
    more (here: the rest of an overlong line, skipped, and a command behind it)."""
    d = start(daemon, pki)
    p = pop(d, pki)
    p.sock.sendall(b"x" * 5000 + b"\r\nNOOP\r\n")  # one write, one TLS record
    with pytest.raises(poplib.error_proto, match=r"-ERR line too long"):
        p._getresp()
    assert p._getresp() == b"+OK"
    p.quit()


# ---- the password check runs on a worker thread (issue 11) ----------------------------

def test_commands_pipelined_behind_a_login_wait_for_the_password_check(daemon, pki):
    """USER, PASS, STAT, LIST and QUIT in one write: the session takes nothing while the
    password is checked off the loop, then answers every command, in order, as the
    logged-in user (RFC 2449 PIPELINING)."""
    d = start(daemon, pki)
    body = message(1)
    deliver(d, "joe", body)
    p = pop(d, pki, login=False)
    p.sock.sendall(b"USER joe@%s\r\nPASS %s\r\nSTAT\r\nLIST\r\nQUIT\r\n"
                   % (DOMAIN.encode(), PASSWORDS["joe"].encode()))
    assert p._getresp().startswith(b"+OK")
    assert p._getresp().startswith(b"+OK logged in, 1 messages")
    assert p._getresp() == b"+OK 1 %d" % len(body)
    assert p._getresp().startswith(b"+OK")
    assert p.file.readline() == b"1 %d\r\n" % len(body)
    assert p.file.readline() == b".\r\n"
    assert p._getresp().startswith(b"+OK")
    # A wrong password pipelined the same way: the failure (after its delay) comes
    # before the reply to the command behind it, which is then refused as not logged in.
    p = pop(d, pki, login=False)
    p.sock.sendall(b"USER joe@%s\r\nPASS wrong\r\nSTAT\r\n" % DOMAIN.encode())
    assert p._getresp().startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] authentication failed"):
        p._getresp()
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        p._getresp()
    p.close()
    d.stop()
    d.assert_no_sanitizer_report()


def test_connection_closed_while_its_password_is_checked(daemon, pki):
    """A client that sends USER and PASS and resets the connection while the password
    is being checked: the result finds the session gone and is dropped, nothing is
    logged in (the mailbox is not left locked: the user logs in afterwards without
    [IN-USE]), and the daemon (ASan build) reports no use of the freed session. joe's
    hash is set with 1,000,000 rounds (the most that verify) by the admin's tool, so the
    check is still running when the reset arrives."""
    import struct
    from mgw import binary
    d = start(daemon, pki, start=False)
    subprocess.run([binary("mailgw-passwd"), "-r", "1000000", "-u", d.user, "set", d.data,
                    "joe@" + DOMAIN], input=PASSWORDS["joe"].encode(), check=True,
                   capture_output=True)
    d.start()
    deliver(d, "joe", message(1))
    m = d.mark()
    p = pop(d, pki, login=False)
    p.sock.sendall(b"USER joe@%s\r\nPASS %s\r\n" % (DOMAIN.encode(), PASSWORDS["joe"].encode()))
    d.wait_log(r"pop3 [\d.:]+: checking the password of 'joe@example\.test' on a worker",
               start=m)
    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    p.file.close()
    p.sock.close()  # SO_LINGER 0: a reset, noticed at once
    d.wait_log(r"pop3 [\d.:]+: closed \(peer ", start=m)
    d.wait_log(r"pop3: the password check of 'joe@example\.test' finished after its "
               r"connection had closed: result dropped", start=m)
    assert not re.search(r"login joe@example\.test", "\n".join(d.lines[m:]))
    p = pop(d, pki)
    assert p.stat()[0] == 1
    p.quit()
    d.stop()
    d.assert_no_sanitizer_report()
