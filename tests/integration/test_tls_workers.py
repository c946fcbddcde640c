"""TLS handshakes on worker threads (README "TLS cost"): while handshake steps run, the
event loop goes on serving logged-in users, answers timeouts and reloads; a connection
that goes away in the middle of its step is freed once the step is back; many
concurrent handshakes with real clients all succeed. The shim hshold.c holds handshake
steps in their middle for as long as a test wants (a slow step, as on a board's CPU)."""
import os
import signal
import socket
import ssl
import subprocess
import threading

import pytest

import gate
from gate import DOMAIN, PASSWORDS, client_ctx, deliver, message
from mgw import wait_for
from test_pop3 import pop, refused, start

HSHOLD_C = os.path.join(os.path.dirname(__file__), "hshold.c")
USERS = ("ann", "mia", "sam", "bob")


@pytest.fixture(scope="module")
def hshold_so(tmp_path_factory):
    so = str(tmp_path_factory.mktemp("hshold") / "hshold.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", so, HSHOLD_C, "-ldl"], check=True)
    return so


@pytest.fixture
def held(daemon, pki, tmp_path, hshold_so):
    """start(**kw) -> (daemon, control folder): a POP3S daemon whose handshake steps the
    shim holds while the file 'hold' exists in the control folder."""
    ctl = tmp_path / "hsctl"
    ctl.mkdir()
    os.chmod(ctl, 0o777)

    def make(**kw):
        d = start(daemon, pki, start=False, **kw)
        d.start(env={"LD_PRELOAD": hshold_so, "HSHOLD_DIR": str(ctl),
                     "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:verify_asan_link_order=0"})
        return d, ctl
    return make


def n_held(ctl):
    return len([f for f in os.listdir(ctl) if f.startswith("held.")])


class Login(threading.Thread):
    """A user's whole POP3S login in a thread: handshake, greeting, USER/PASS, STAT."""

    def __init__(self, d, pki, user):
        super().__init__(daemon=True)
        self.d, self.pki, self.user = d, pki, user
        self.greeting = self.stat = self.error = None

    def run(self):
        try:
            p = pop(self.d, self.pki, user=self.user, login=False)
            self.greeting = p.getwelcome()
            p.user("%s@%s" % (self.user, DOMAIN))
            p.pass_(PASSWORDS[self.user])
            self.stat = p.stat()
            p.quit()
        except Exception as e:  # reported by the test
            self.error = e


def test_logged_in_user_is_served_while_handshakes_are_held(held, pki):
    d, ctl = held()
    deliver(d, "joe", message(1, 2000))
    p = pop(d, pki)  # joe, logged in before the storm
    (ctl / "hold").touch()
    logins = [Login(d, pki, u) for u in USERS]
    for t in logins:
        t.start()
    wait_for(lambda: n_held(ctl) >= 1)
    # A handshake step is in its middle: joe's commands are still answered, at once.
    assert p.stat() == (1, len(message(1, 2000)))
    resp, lines, _ = p.retr(1)
    assert resp.startswith(b"+OK")
    assert p.noop() == b"+OK"
    # Two steps run at the same time (two handshake workers), the others wait for one.
    wait_for(lambda: n_held(ctl) == 2)
    assert all(t.greeting is None for t in logins)
    (ctl / "hold").unlink()
    for t in logins:
        t.join(60)
        assert t.error is None, (t.user, t.error)
        assert t.greeting.startswith(b"+OK") and t.stat == (0, 0), (t.user, t.greeting)
    assert n_held(ctl) == 2  # only the steps that began while 'hold' existed were held
    assert p.stat()[0] == 1
    p.quit()


def first_flight(d, pki, user):
    """A client that sends its ClientHello and then waits (non-blocking handshake)."""
    host, port = d.addr("pop3s")
    s = socket.create_connection((host, port), timeout=15)
    t = client_ctx(pki, pki.user[user]).wrap_socket(s, server_hostname=host,
                                                     do_handshake_on_connect=False)
    t.setblocking(False)
    with pytest.raises(ssl.SSLWantReadError):
        t.do_handshake()
    return t


def test_client_gone_and_timeout_during_a_held_step(held, pki):
    d, ctl = held(extra_tls="handshake_timeout = 1s\n")
    (ctl / "hold").touch()
    m = d.mark()
    gone = first_flight(d, pki, "ann")
    slow = first_flight(d, pki, "mia")
    wait_for(lambda: n_held(ctl) == 2)
    # ann's client resets its connection while its step is held; mia's handshake runs
    # past its deadline. The loop notices both while the steps are still held.
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    gone.close()
    d.wait_log(r"TLS handshake timeout \(1000 ms\), closed", start=m)
    assert (ctl / "hold").exists()
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["pop3_sessions"] == "0", status
    (ctl / "hold").unlink()
    # The steps come back to connections that are gone: no reply reaches ann or mia,
    # nothing crashes, and the next users are served.
    slow.setblocking(True)
    slow.settimeout(15)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        slow.do_handshake()
        slow.recv(100)
        raise ConnectionError("handshake completed after its deadline")
    slow.close()
    for u in ("ann", "mia"):
        p = pop(d, pki, user=u)
        assert p.stat() == (0, 0)
        p.quit()


def test_reload_while_handshakes_of_the_old_generation_are_held(held, pki, tmp_path):
    d, ctl = held()
    (ctl / "hold").touch()
    logins = [Login(d, pki, u) for u in ("ann", "mia")]
    for t in logins:
        t.start()
    wait_for(lambda: n_held(ctl) == 2)
    # The CRL changes (sam revoked) while two handshakes of generation 1 are in their
    # middle on the workers: the reload takes effect at once.
    gate.replace_crl(d, pki.ca.crl(str(tmp_path / "crl2.pem"), revoked=[pki.user["sam"]]))
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    assert all(t.greeting is None for t in logins)
    (ctl / "hold").unlink()
    # The held handshakes finish on the generation they began with.
    for t in logins:
        t.join(60)
        assert t.error is None, (t.user, t.error)
        assert t.stat == (0, 0)
    m = d.mark()
    refused(d, pki, pki.user["sam"])
    d.wait_log(r"refused: .*has been revoked.*CN=sam@example.test", start=m)
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["generation"] == "2"


def test_concurrent_handshakes_with_openssl_clients(daemon, pki):
    """Rounds of parallel openssl s_client handshakes (the same users' certificates again
    and again: the chain cache is read and filled by both workers) while a logged-in user
    keeps issuing commands between them."""
    d = start(daemon, pki)
    deliver(d, "joe", message(1))
    p = pop(d, pki)
    host, port = d.addr("pop3s")
    for _ in range(3):
        procs = []
        for i in range(12):
            cert = pki.user[USERS[i % len(USERS)]]
            procs.append(subprocess.Popen(
                ["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-quiet",
                 "-CAfile", pki.ca.crt, "-cert", cert.crt, "-key", cert.key,
                 "-verify_return_error"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        assert p.stat()[0] == 1
        outs = [pr.communicate(b"QUIT\r\n", timeout=60) for pr in procs]
        for pr, (out, err) in zip(procs, outs):
            assert out.startswith(b"+OK") and b"+OK" in out.split(b"\r\n")[1], (out, err)
        assert p.noop() == b"+OK"
    p.quit()
