"""What an attacker can do before logging in (issue 14): the per-certificate login
throttle, floods of connections and unfinished TLS handshakes on port 995 while port 25
must go on serving, a console (stderr) too slow for the log, and a reload that would
leave port 995 listening without its certificate gate. The accept-time limits are the
gate's, for 993 as for 995: the tests of shares, rates and the reload run on both."""
import imaplib
import os
import poplib
import select
import socket
import time

import pytest

import gate
import pki as pkimod
from gate import DOMAIN, PASSWORDS, add_user, client_ctx, install_tls, tls_conf
from smtputil import Raw, add_domains, make_cert, smtp_conf

REFUSED = (OSError, EOFError, poplib.error_proto, imaplib.IMAP4.error)  # ssl.SSLError: OSError
GATED = ("pop3s", "imaps")


class FromSource:
    """A poplib or imaplib client over TLS from a chosen loopback source address
    (127.0.0.0/8 is all ours)."""

    def __init__(self, src, *a, **kw):
        self.src = src
        super().__init__(*a, **kw)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))
        ctx = self.ssl_context if isinstance(self, imaplib.IMAP4) else self.context
        return ctx.wrap_socket(sock, server_hostname=self.host)


class POP3From(FromSource, poplib.POP3_SSL):
    pass


class IMAPFrom(FromSource, imaplib.IMAP4_SSL):
    pass


def pop_from(d, pki, src, cert, user, password=None):
    host, port = d.addr("pop3s")
    p = POP3From(src, host, port, context=client_ctx(pki, cert), timeout=15)
    p.user("%s@%s" % (user, DOMAIN))
    p.pass_(PASSWORDS[user] if password is None else password)
    return p


class Login:
    """A logged-in POP3 or IMAP client of port svc ("pop3s", "imaps") from address src."""

    def __init__(self, d, pki, svc, src, user):
        host, port = d.addr(svc)
        ctx = client_ctx(pki, pki.user[user])
        if svc == "pop3s":
            self.c = pop_from(d, pki, src, pki.user[user], user)
            self.close = self.c.quit
        else:
            self.c = IMAPFrom(src, host, port, ssl_context=ctx, timeout=15)
            self.c.login("%s@%s" % (user, DOMAIN), PASSWORDS[user])
            self.close = self.c.logout


def gated_conf(d, svc, keys=""):
    """Both 995 and 993 listening; keys go into svc's section."""
    return tls_conf(d, extra_pop3s=keys if svc == "pop3s" else "",
                    extra="[imaps]\nlisten = 127.0.0.1:0\n" + (keys if svc == "imaps" else ""))


def pop3s_daemon(daemon, pki, users=("joe", "ann"), crl=None, ca=None, extra=""):
    d = daemon(start=False)
    install_tls(d, pki, crl=crl, ca=ca)
    for u in users:
        add_user(d, u)
    d.write_conf(tls_conf(d) + extra)
    return d


def smtp_greeting(d, src="127.0.0.1"):
    """The greeting line a new SMTP client gets (bounded wait, no timing asserted)."""
    s = socket.create_connection(d.addr("smtp"), timeout=10, source_address=(src, 0))
    f = s.makefile("rb")
    line = f.readline()
    if line.startswith(b"220"):
        s.sendall(b"QUIT\r\n")
        f.readline()
    f.close()
    s.close()
    return line


# ---- item 2: the per-certificate throttle key --------------------------------------------

def test_consecutive_serials_have_their_own_login_throttle(daemon, pki, tmp_path):
    """openssl ca numbers certificates consecutively; with 20-byte serials (what
    `openssl ca -create_serial` and rand_serial make) two users' serials differ only in
    their last hex digit. Ten wrong passwords for joe must not lock ann out."""
    ca = pkimod.CA(str(tmp_path / "ca20"), "mailgw serial test CA")
    with open(os.path.join(ca.dir, "serial"), "w") as f:
        f.write("5A3C" + "17" * 17 + "A0\n")  # 20 bytes, positive
    joe = ca.issue("joe20", "/CN=joe@example.test", "email:joe@example.test")
    ann = ca.issue("ann20", "/CN=ann@example.test", "email:ann@example.test")
    assert joe.serial()[:-1] == ann.serial()[:-1] and len(joe.serial()) == 40
    d = pop3s_daemon(daemon, pki, crl=ca.crl(str(tmp_path / "crl20.pem")), ca=ca.crt,
                     extra="[auth]\nfail_limit = 3\nfail_delay = 1s\n")
    d.start()
    # joe (from his own address) gets his password wrong until his certificate is locked.
    for _ in range(3):
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
            pop_from(d, pki, "127.0.0.2", joe, "joe", password="wrong")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        pop_from(d, pki, "127.0.0.3", joe, "joe")  # locked: even the right password
    # ann, from yet another address, is not joe.
    try:
        p = pop_from(d, pki, "127.0.0.4", ann, "ann")
    except poplib.error_proto as e:
        raise AssertionError("ann locked out by joe's failures: %s\n%s" % (e, d.log()[-3000:]))
    assert p.stat() == (0, 0)
    p.quit()


def test_equal_serials_of_two_cas_have_their_own_login_throttle(daemon, pki, tmp_path):
    """Two office CAs (both configured) that each number from 1000: joe's and ann's
    certificates have the same serial; joe's failures must not lock ann out."""
    cas = [pkimod.CA(str(tmp_path / n), "mailgw %s CA" % n) for n in ("east", "west")]
    joe = cas[0].issue("joe_east", "/CN=joe@example.test", "email:joe@example.test")
    ann = cas[1].issue("ann_west", "/CN=ann@example.test", "email:ann@example.test")
    assert joe.serial() == ann.serial()
    both_ca, both_crl = str(tmp_path / "cas.pem"), str(tmp_path / "crls.pem")
    with open(both_ca, "w") as f:
        f.write("".join(open(ca.crt).read() for ca in cas))
    with open(both_crl, "w") as f:
        f.write("".join(open(ca.crl(str(tmp_path / ("crl-%d.pem" % i)))).read()
                        for i, ca in enumerate(cas)))
    d = pop3s_daemon(daemon, pki, crl=both_crl, ca=both_ca,
                     extra="[auth]\nfail_limit = 3\nfail_delay = 1s\n")
    d.start()
    for _ in range(3):
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
            pop_from(d, pki, "127.0.0.2", joe, "joe", password="wrong")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        pop_from(d, pki, "127.0.0.3", joe, "joe")
    try:
        p = pop_from(d, pki, "127.0.0.4", ann, "ann")
    except poplib.error_proto as e:
        raise AssertionError("ann locked out by joe's failures: %s\n%s" % (e, d.log()[-2000:]))
    p.quit()


# ---- item 4: pre-login exhaustion ---------------------------------------------------------

PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # a ClientHello that stops


def test_pop3s_flood_leaves_smtp_serving(daemon, pki):
    """17 addresses x 16 connections on 995 that never finish a handshake (more than the
    default max_connections of 256): port 25 still greets with 220, and the silent
    connections are closed long before the login timeout."""
    d = pop3s_daemon(daemon, pki)
    d.write_conf(tls_conf(d, extra_pop3s="login_timeout = 10m\n") + smtp_conf())
    add_domains(d)
    d.start()
    host, port = d.addr("pop3s")
    flood = []
    for a in range(2, 19):
        for i in range(16):
            try:
                s = socket.create_connection((host, port), timeout=5,
                                             source_address=("127.0.0.%d" % a, 0))
            except OSError:
                continue
            if i % 2:
                try:
                    s.sendall(PARTIAL_HELLO)
                except OSError:
                    pass
            flood.append(s)
    greeting = smtp_greeting(d)
    assert greeting.startswith(b"220 "), "port 25 during a 995 flood: %r\n%s" % (
        greeting, d.log()[-1500:])
    # Every flood connection the daemon took is closed by the handshake deadline, not by
    # the 10 minutes of login_timeout (bounded wait).
    deadline = time.time() + 60
    open_ = list(flood)
    while open_ and time.time() < deadline:
        r, _, _ = select.select(open_, [], [], 1)
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                open_.remove(s)
    assert not open_, "%d flood connections still open after 60 s" % len(open_)
    for s in flood:
        s.close()
    d.wait_log(r"TLS handshake timeout")
    # 995 serves again.
    p = pop_from(d, pki, "127.0.0.1", pki.user["joe"], "joe")
    assert p.stat() == (0, 0)
    p.quit()
    assert smtp_greeting(d).startswith(b"220 ")


@pytest.mark.parametrize("svc", GATED)
def test_connection_rate_per_address(daemon, pki, svc):
    d = pop3s_daemon(daemon, pki)
    d.write_conf(gated_conf(d, svc, "rate = 5\n"))
    d.start()
    for _ in range(5):
        Login(d, pki, svc, "127.0.0.5", "joe").close()
    m = d.mark()
    with pytest.raises(REFUSED):
        Login(d, pki, svc, "127.0.0.5", "joe")
    d.wait_log(r"%s 127\.0\.0\.5:\d+: refused, more than 5 connections per minute" % svc, start=m)
    # Another address is not limited by that one, nor is the other port.
    Login(d, pki, svc, "127.0.0.6", "joe").close()
    Login(d, pki, GATED[svc == "pop3s"], "127.0.0.5", "joe").close()


def status(d):
    return dict(x.split(": ", 1) for x in d.control("status")[:-1])


@pytest.mark.parametrize("svc", GATED)
def test_each_gated_port_has_its_own_share(daemon, pki, svc):
    """[svc] max_connections = 2: a third connection on that port is refused before TLS
    while the other port serves; a closed session gives its place back."""
    other = GATED[svc == "pop3s"]
    d = pop3s_daemon(daemon, pki, users=("joe", "ann", "mia"))
    d.write_conf(gated_conf(d, svc, "max_connections = 2\n"))
    d.start()
    held = [Login(d, pki, svc, "127.0.0.%d" % (2 + i), u) for i, u in enumerate(("joe", "ann"))]
    assert status(d)["%s_connections" % svc] == "2"
    m = d.mark()
    with pytest.raises(REFUSED):
        Login(d, pki, svc, "127.0.0.4", "mia")
    d.wait_log(r"%s: connection refused: 2 connections \(\[%s\] max_connections 2\)" % (svc, svc),
               start=m)
    o = Login(d, pki, other, "127.0.0.4", "mia")
    assert status(d)["%s_connections" % other] == "1"
    o.close()
    held.pop().close()
    deadline = time.time() + 30  # bounded wait for the server to see the close
    while status(d)["%s_connections" % svc] != "1" and time.time() < deadline:
        time.sleep(0.2)
    Login(d, pki, svc, "127.0.0.4", "mia").close()
    held.pop().close()


def test_handshake_timeout_is_not_the_login_timeout(daemon, pki):
    d = pop3s_daemon(daemon, pki)
    d.write_conf(tls_conf(d, extra_tls="handshake_timeout = 2s\n", extra_pop3s="login_timeout = 10m\n"))
    d.start()
    host, port = d.addr("pop3s")
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(PARTIAL_HELLO)
    assert s.recv(100) == b""  # closed by the daemon (bounded wait of 30 s)
    d.wait_log(r"tls 127\.0\.0\.1:\d+: TLS handshake timeout")
    # A completed handshake gets login_timeout, not the handshake deadline.
    p = pop_from(d, pki, "127.0.0.1", pki.user["joe"], "joe")
    time.sleep(3)
    assert p.noop().startswith(b"+OK")
    p.quit()


def test_starttls_handshake_has_the_deadline_too(daemon, tmp_path):
    """STARTTLS on port 25: a client that says STARTTLS and never finishes the handshake
    is closed at [tls] handshake_timeout (default 10 s), not after the 5 minutes of
    command_timeout."""
    cert, key = make_cert(str(tmp_path))
    os.chmod(key, 0o600)
    d = daemon("[tls]\ncert = %s\nkey = %s\n" % (cert, key) + smtp_conf(), start=False)
    add_domains(d)
    d.start()
    r = Raw(d.addr("smtp"))
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.text("STARTTLS") == "220 2.0.0 ready to start TLS"
    r.send(PARTIAL_HELLO)
    assert r.closed(timeout=30)  # bounded wait
    d.wait_log(r"tls 127\.0\.0\.1:\d+: TLS handshake timeout")
    r.close()


# ---- item 5: a console slower than the log --------------------------------------------------

def test_unread_stderr_does_not_stall_the_loop(daemon, pki):
    """mailgwd's stderr is the serial console on the board; here it is a pipe (shrunk to
    one page) that nobody reads while a connect/close loop makes log lines."""
    d = pop3s_daemon(daemon, pki)
    d.write_conf(tls_conf(d) + smtp_conf("rate = 1000000\n"))
    add_domains(d)
    d.start(pipe_size=4096)
    d.pause_reading()
    shost, sport = d.addr("smtp")
    phost, pport = d.addr("pop3s")
    made = 0
    for i in range(600):
        try:
            s = socket.create_connection((shost, sport) if i % 2 else (phost, pport), timeout=2)
            s.close()
            made += 1
        except OSError:
            break
    # The loop still serves both ports while nobody reads the log.
    try:
        greeting = smtp_greeting(d, "127.0.0.7")
        assert greeting.startswith(b"220 "), greeting
        p = pop_from(d, pki, "127.0.0.7", pki.user["joe"], "joe")
        assert p.stat() == (0, 0)
        p.quit()
    except (OSError, poplib.error_proto) as e:
        raise AssertionError("not served while stderr is full (%d connects made): %r" % (made, e))
    # Once the console drains, the loss is reported, and repeated lines are summarised.
    d.resume_reading()
    m = d.mark()
    for _ in range(40):
        socket.create_connection((phost, pport), timeout=5).close()
    d.wait_log(r"log lines dropped", timeout=30)
    d.wait_log(r"and \d+ more like this in the last 10 s", timeout=30, start=m)
    st = status(d)
    assert int(st["log_dropped"]) > 0, st


# ---- item 6: reload against the listeners that run ------------------------------------------

@pytest.mark.parametrize("svc", GATED)
def test_reload_cannot_remove_the_gate_of_a_running_listener(daemon, pki, svc):
    d = pop3s_daemon(daemon, pki)
    t = gate.tls_dir(d)
    tls = "[tls]\ncert = %s/server.crt\nkey = %s/server.key\n" % (t, t)
    d.write_conf(tls + "ca = %s/ca.crt\ncrl = %s/crl.pem\n[%s]\nlisten = 127.0.0.1:0\n" % (t, t, svc))
    d.start()
    Login(d, pki, svc, "127.0.0.1", "joe").close()
    # The admin turns the service off and drops the CA; listeners only change at a restart.
    d.write_conf(tls + "[%s]\nlisten = off\n" % svc)
    m = d.mark()
    reply = d.control("reload")
    line = d.wait_log(r"reload refused|replaces", start=m)
    try:
        Login(d, pki, svc, "127.0.0.1", "joe").close()
    except REFUSED as e:
        raise AssertionError("%s after the reload: %r (exit %s)\n%s"
                             % (svc, e, d.proc.poll(), d.log()[-3000:]))
    assert "reload refused, keeping generation 1" in line, line
    assert "[%s] is listening on 127.0.0.1:" % svc in line and "restart" in line, line
    assert reply[-1].startswith("ERR ") and "[%s] is listening" % svc in reply[-1], reply
    # Without [tls] ca the gate would be gone: refused without a certificate, as before.
    host, port = d.addr(svc)
    with pytest.raises(REFUSED):
        if svc == "pop3s":
            poplib.POP3_SSL(host, port, context=client_ctx(pki, None), timeout=10)
        else:
            imaplib.IMAP4_SSL(host, port, ssl_context=client_ctx(pki, None), timeout=10)
